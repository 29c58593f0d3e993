"""Shared pieces of the hostile suite (tests/test_hostile_*.py): a claim that misbehaves on
demand (sleeps, raises, kills its own process, runs out of memory, exits), folder snapshots, and
the tally that becomes docs/reliability.json.

Module-level so that spawned sweep workers can unpickle :class:`FaultClaim`.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from pathlib import Path

from hypothesis import strategies as st

from dlnkit.claims.base import Assumption, Claim, Tolerance


class FaultClaim(Claim):
    """predict = measure = x, unless ``mode`` says otherwise:

    ``sleep`` (``s`` seconds; appends ``x`` to the file ``mark`` first, if given), ``raise``
    (ValueError), ``kill`` (SIGKILL to its own process, as the OOM killer would), ``oom``
    (allocates ``gib`` GiB: a MemoryError under a worker memory cap), ``exit`` (``os._exit(3)``
    from inside the check), ``fail`` (measure x + 1: a FAIL row).
    """

    id = "hostile-fault"
    title = "a claim that misbehaves on demand"
    assumptions = (Assumption("calm", "mode is ok"),)
    tolerance = Tolerance(atol=0.0, reason="integers: exact")

    def predict(self, config):
        return config["x"]

    def measure(self, config, device="cpu"):
        mode = config.get("mode", "ok")
        if mode == "sleep":
            if config.get("mark"):  # say that this case started (tests wait on files, not on time)
                with open(config["mark"], "a") as fh:
                    fh.write(f"{config['x']}\n")
            time.sleep(float(config.get("s", 1.0)))
        elif mode == "raise":
            raise ValueError("measure raised on purpose")
        elif mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif mode == "oom":
            block = bytearray(int(float(config.get("gib", 64)) * 2**30))
            return len(block)
        elif mode == "exit":
            os._exit(3)
        elif mode == "fail":
            return config["x"] + 1
        return config["x"]

    def config_strategy(self, drop=()):
        return st.fixed_dictionaries({"x": st.integers(0, 9)})


FAULT = FaultClaim()


# ----- subprocesses that are sent Ctrl-C ----------------------------------------------------


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts: SIGINT back to its default action.

    A test run started in the background (``cmd &`` without job control, ``nohup``, some CI
    runners) inherits SIGINT *ignored*; a child inherits that too, and Python then installs no
    KeyboardInterrupt handler, so the test's SIGINT would do nothing at all. That is Unix's
    rule for background jobs (dlnkit keeps it), not a hang of the program under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), to tell it from a later process that
    reuses the same pid; None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def same_process_alive(pid: int, start_time: int | None) -> bool:
    """``pid`` is still the process that started at ``start_time`` and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] != "Z" and int(fields[19]) == start_time


# ----- folder snapshots ---------------------------------------------------------------------


def snapshot(root: str | os.PathLike) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root`` (hidden temporary files included)."""
    out: dict[str, str] = {}
    root = Path(root)
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def lost_files(before: dict[str, str], after: dict[str, str], allowed: set[str] | None = None) -> list[str]:
    """Files of ``before`` that are gone or changed in ``after``, except the ``allowed`` ones."""
    allowed = allowed or set()
    return sorted(k for k, h in before.items() if k not in allowed and after.get(k) != h)


def assert_kept(section: str, before: dict[str, str], root: str | os.PathLike, allowed: set[str] | None = None) -> None:
    """Every file of ``before`` is still in ``root`` with the same bytes; the count goes to the tally."""
    lost = lost_files(before, snapshot(root), allowed)
    record(section, files_lost=len(lost))
    assert not lost, f"files changed or removed that the command did not write: {lost}"


# ----- the tally ----------------------------------------------------------------------------

TALLY_KEYS = (
    "inputs_tried",
    "clear_errors",
    "worked",
    "tracebacks",
    "wrong_results",
    "files_lost",
    "faults_injected",
    "faults_survived",
)
_LOCK = threading.Lock()


def tally_path() -> Path | None:
    """Where the hostile tests add up their counts: ``$DLNKIT_RELIABILITY_TALLY`` (a JSON file),
    set by ``scripts/reliability.py``; None (no counting) in ordinary test runs."""
    p = os.environ.get("DLNKIT_RELIABILITY_TALLY")
    return Path(p) if p else None


def record(section: str, **counts: int) -> None:
    """Add ``counts`` to ``section`` of the tally file (no-op without a tally file)."""
    path = tally_path()
    if path is None:
        return
    with _LOCK:
        data = json.loads(path.read_text()) if path.exists() else {}
        sec = data.setdefault(section, {k: 0 for k in TALLY_KEYS})
        for k, v in counts.items():
            sec[k] = sec.get(k, 0) + int(v)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)


def one_line_error(stderr: str) -> bool:
    """A clear error: exactly one non-empty line on stderr, no traceback."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    return len(lines) == 1 and "Traceback" not in stderr
