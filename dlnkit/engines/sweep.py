"""The sweep engine: many (claim, configuration) cases, resumable, on a process pool or Dask.

A sweep file (JSON, or TOML on Python >= 3.11) names claims and how to get configurations::

    {"claims": ["B1-ratio"],
     "grid": {"dims": [[4, 6, 3], [5, 5, 5, 2]], "seed": [0, 1]},   # cartesian product
     "fixed": {"t": [2.0, 1.0]},                                    # added to every grid point
     "configs": [{"dims": [3, 3], "seed": 7}],                      # explicit extra cases
     "draw": {"examples": 20, "seed": 0, "drop": []}}                # Hypothesis-drawn, per claim

Every case gets a key (a hash of the claim id and the canonical JSON of its configuration).
Its result (``ClaimResult.to_json()``, or an ERROR record with the exception) is written
atomically to ``OUT/cases/<key>.json`` as soon as it finishes, so an interrupted sweep loses
at most the cases in flight and a restart skips every case already on disk. ``OUT/summary.json``
is rewritten (atomically) at the end.

Executors: ``serial`` (in this process), ``process`` (``concurrent.futures`` process pool,
the default) and ``dask`` (a ``distributed.LocalCluster`` unless a scheduler address is given).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from dlnkit.numerics.device import resolve_device
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.

EXECUTORS = ("process", "dask", "serial")
_KNOWN_KEYS = {"claims", "grid", "fixed", "configs", "draw", "device", "name"}


@dataclass(frozen=True)
class SweepCase:
    claim_id: str
    config: dict

    @property
    def key(self) -> str:
        """A stable name for the case: the same claim and configuration always give the same key.

        >>> SweepCase("B1", {"seed": 0, "dims": [2, 2]}).key == SweepCase("B1", {"dims": [2, 2], "seed": 0}).key
        True
        """
        blob = json.dumps([self.claim_id, self.config], sort_keys=True, separators=(",", ":"))
        return f"{_safe(self.claim_id)}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


# ----- configuration ---------------------------------------------------------------------


def load_sweep_config(path: str | os.PathLike) -> dict:
    """Read a sweep file: ``.json``, or ``.toml`` (needs Python >= 3.11's tomllib or ``tomli``),
    through :mod:`dlnkit.records.input_files` (a bounded regular UTF-8 file; plain values only)."""
    from dlnkit.records.input_files import load_structured_file

    cfg = load_structured_file(path, f"sweep file {str(path)!r}", max_bytes=SWEEP_FILE_MAX_BYTES)
    return validate_sweep_config(cfg, where=str(path))


#: a sweep file names claims and value lists: far below this
SWEEP_FILE_MAX_BYTES = 16 * 2**20


def validate_sweep_config(cfg: Any, where: str = "sweep config") -> dict:
    if not isinstance(cfg, Mapping):
        raise DlnkitInputError(f"{where}: the top level must be an object with 'claims' and 'grid'/'configs'/'draw'")
    unknown = set(cfg) - _KNOWN_KEYS
    if unknown:
        raise DlnkitInputError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    claims = cfg.get("claims")
    if not isinstance(claims, list) or not claims or not all(isinstance(c, str) for c in claims):
        raise DlnkitInputError(f"{where}: 'claims' must be a non-empty list of claim ids")
    if not any(k in cfg for k in ("grid", "configs", "draw")):
        raise DlnkitInputError(f"{where}: give at least one of 'grid', 'configs' or 'draw'")
    grid = cfg.get("grid", {})
    if not isinstance(grid, Mapping) or not all(isinstance(v, list) and v for v in grid.values()):
        raise DlnkitInputError(f"{where}: 'grid' must map each parameter to a non-empty list of values")
    if not isinstance(cfg.get("fixed", {}), Mapping):
        raise DlnkitInputError(f"{where}: 'fixed' must be an object")
    configs = cfg.get("configs", [])
    if not isinstance(configs, list) or not all(isinstance(c, Mapping) for c in configs):
        raise DlnkitInputError(f"{where}: 'configs' must be a list of objects")
    draw = cfg.get("draw")
    if draw is not None:
        if not isinstance(draw, Mapping) or not isinstance(draw.get("examples"), int) or draw["examples"] < 0:
            raise DlnkitInputError(f"{where}: 'draw' must be an object with a non-negative integer 'examples'")
        if not isinstance(draw.get("seed", 0), int) or not isinstance(draw.get("drop", []), list):
            raise DlnkitInputError(f"{where}: draw.seed must be an integer and draw.drop a list of assumption names")
    return dict(cfg)


def expand_cases(cfg: Mapping, claims: Mapping[str, Any] | None = None) -> list[SweepCase]:
    """All cases of a sweep, in a deterministic order, without duplicates.

    ``claims`` maps ids to Claim objects (default: the registry); it is needed for ``draw``.

    >>> cases = expand_cases({"claims": ["B1"], "grid": {"seed": [0, 1], "dims": [[2, 3, 2]]}, "fixed": {"t": [1.0]}})
    >>> [c.config for c in cases]
    [{'t': [1.0], 'seed': 0, 'dims': [2, 3, 2]}, {'t': [1.0], 'seed': 1, 'dims': [2, 3, 2]}]
    """
    cfg = validate_sweep_config(cfg)
    fixed = dict(cfg.get("fixed", {}))
    grid = cfg.get("grid", {})
    names = list(grid)
    check_sweep_size(cfg)  # before a single case is built: a 400^3 grid is refused, not expanded
    base: list[dict] = []
    if grid:
        for values in itertools.product(*(grid[n] for n in names)):
            base.append({**fixed, **dict(zip(names, values))})
    base += [{**fixed, **dict(c)} for c in cfg.get("configs", [])]
    cases: list[SweepCase] = []
    seen: set[str] = set()

    def add(case: SweepCase):
        if case.key not in seen:
            seen.add(case.key)
            cases.append(case)

    for cid in cfg["claims"]:
        if base or fixed:  # 'fixed' alone (with 'draw') is added to every drawn case: checked too
            from dlnkit.claims import get_claim

            claim = (claims or {}).get(cid) or get_claim(cid)
            check_config_keys(claim, {k for c in base for k in c} | set(fixed))
        for c in base:
            add(SweepCase(cid, json.loads(json.dumps(c))))
        draw = cfg.get("draw")
        if draw and draw["examples"] > 0:
            from dlnkit.claims import draw_configs, get_claim

            claim = (claims or {}).get(cid) or get_claim(cid)
            strategy = claim.config_strategy(claim.check_drop(draw.get("drop", [])))
            for c in draw_configs(strategy, draw["examples"], seed=draw.get("seed", 0)):
                add(SweepCase(cid, json.loads(json.dumps({**fixed, **c}))))
    return cases


def check_config_keys(claim: Any, keys: set[str]) -> None:
    """Refuse every configuration key the claim does not read (``dimz`` for ``dims``, ``depht``,
    ``learning_rate``): it would be ignored and the case would pass on the claim's defaults. The
    keys it reads are :func:`~dlnkit.engines.config_checks.known_config_keys` (its configurations'
    keys, its declared ``optional_config_keys``, ``seed``); a close known key is suggested."""
    import difflib

    from dlnkit.configs.knobs import KNOB_ALIASES
    from dlnkit.engines.config_checks import known_config_keys

    known = known_config_keys(claim)
    unknown = sorted(k for k in keys if KNOB_ALIASES.get(k, k) not in known)  # an old knob name still reads
    if not known or not unknown:
        return
    named = []
    for k in unknown:
        close = difflib.get_close_matches(k, sorted(known), 1, 0.6)
        named.append(f"{k!r} (did you mean {close[0]!r}?)" if close else repr(k))
    raise DlnkitInputError(
        f"claim {claim.id} does not read the configuration key(s) {', '.join(named)}; "
        f"the keys it reads: {', '.join(sorted(known))}"
        + ("" if claim.origin is None else " (declare keys read with a default in optional_config_keys)")
    )


#: bytes one case holds while a sweep is planned and run (its SweepCase, key, config copies, the
#: result record kept for the summary), beyond 8 bytes per character of its configuration's
#: JSON; measured about 0.8 KB for planning alone with ``ru_maxrss`` (tests/test_hostile_memory.py
#: checks the estimate is not below the measured peak)
CASE_BYTES = 4096


def sweep_case_count(cfg: Mapping) -> int:
    """How many cases ``cfg`` describes at most (before de-duplication), without building any."""
    n_grid = math.prod(len(v) for v in cfg.get("grid", {}).values()) if cfg.get("grid") else 0
    draw = cfg.get("draw") or {}
    per_claim = n_grid + len(cfg.get("configs", [])) + int(draw.get("examples", 0) or 0)
    return per_claim * len(cfg["claims"])


def sweep_plan_bytes(cfg: Mapping) -> int:
    """The memory estimate of planning and running ``cfg``: :data:`CASE_BYTES` plus 8 bytes per
    character of the largest configuration's JSON, per case."""
    widest = sum(
        len(json.dumps(v[-1] if isinstance(v, list) and v else v)) + len(k) for k, v in cfg.get("grid", {}).items()
    )
    widest += len(json.dumps(cfg.get("fixed", {})))
    widest += max((len(json.dumps(c)) for c in cfg.get("configs", [])), default=0)
    return sweep_case_count(cfg) * (CASE_BYTES + 8 * widest)


def check_sweep_size(cfg: Mapping) -> None:
    """Refuse, before expanding, a sweep whose cases would not fit in memory (or are absurdly many)."""
    from dlnkit.numerics.memory import check_allocation

    n = sweep_case_count(cfg)
    if n > MAX_CASES:
        raise DlnkitInputError(
            f"the sweep describes {n:,} cases (the product of its grid lists), more than {MAX_CASES:,}; "
            "split it into several sweeps or use 'draw'"
        )
    check_allocation(sweep_plan_bytes(cfg), f"planning {n:,} sweep cases", "cpu")


#: more cases than any sweep of one folder can hold (one file per case)
MAX_CASES = 10_000_000


# ----- running one case --------------------------------------------------------------------


def run_case(claim, config: dict, device: str = "cpu") -> dict:
    """Check one configuration with ``claim.check`` (the one runner: a raising claim is an ERROR
    row); a claim id that does not resolve or a device that does not exist is an ERROR row too,
    so one bad case never ends a long sweep.

    ``claim`` is a Claim object or a registered id (workers resolve ids from their own registry).
    """
    from dlnkit.claims.base import ClaimResult

    t0 = time.perf_counter()
    claim_id = claim if isinstance(claim, str) else getattr(claim, "id", "?")
    try:
        if isinstance(claim, str):
            from dlnkit.claims import get_claim

            claim = get_claim(claim)
        return claim.check(config, device=device).to_json()
    except Exception as exc:  # noqa: BLE001 - the case's setup failed: recorded, not raised
        seed = config.get("seed") if isinstance(config, dict) else None
        row = ClaimResult.error_row(
            claim_id,
            config if isinstance(config, dict) else {},
            f"{type(exc).__name__}: {exc}",
            kind=getattr(claim, "kind", ""),
            device=str(device),
            seed=seed,
            seconds=time.perf_counter() - t0,
            traceback_text=traceback.format_exc(limit=8),
        )
        return row.to_json()


def _run_case_with_key(key: str, claim, config: dict, device: str) -> tuple[str, dict]:
    return key, run_case(claim, config, device)


# ----- the sweep --------------------------------------------------------------------------


@dataclass
class SweepSummary:
    out_dir: Path
    total: int
    skipped: int  # already on disk from an earlier run
    ran: int
    passed: int
    failed: int
    errors: int
    seconds: float
    results: list = field(default_factory=list)  # every case's record (old and new), in case order

    def to_json(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "total": self.total,
            "skipped": self.skipped,
            "ran": self.ran,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "seconds": self.seconds,
        }


def device_tag(device: str) -> str:
    """The device part of a case file name: ``cpu``, ``cuda``, ``cuda_1``."""
    return _safe(str(device))


def case_path(out_dir: Path, case: SweepCase, device: str = "cpu") -> Path:
    """``OUT/cases/<key>@<device>.json``: the device is part of a case's identity, so results
    measured on one device are never reused for another."""
    return Path(out_dir) / "cases" / f"{case.key}@{device_tag(device)}.json"


_STATUSES = ("PASS", "FAIL", "ERROR")


def _read_done(path: Path, case: SweepCase | None = None) -> dict | None:
    """A finished case's record, or None when the file is missing, torn, not JSON, of the wrong
    shape or about another case (then the case runs again and the file is replaced)."""
    from dlnkit.records.input_files import peek_json_file

    rec = peek_json_file(path)
    if not isinstance(rec, dict) or not isinstance(rec.get("result"), dict):
        return None
    if rec["result"].get("status") not in _STATUSES:
        return None
    if case is not None and (
        rec.get("key") != case.key or rec.get("claim_id") != case.claim_id or rec.get("config") != case.config
    ):
        return None
    return rec


def run_sweep(
    cases: Sequence[SweepCase],
    out_dir: str | os.PathLike,
    *,
    executor: str = "process",
    workers: int | None = None,
    device: str = "cpu",
    scheduler: str | None = None,
    claims: Mapping[str, Any] | None = None,
    rerun: bool = False,
    progress: bool = True,
    dask_processes: bool = True,
    mp_start_method: str = "spawn",
    retry_errors: bool = False,
    worker_memory_bytes: int | None = None,
    force: bool = False,
) -> SweepSummary:
    """Run every case not already finished in ``out_dir``; return the counts and all records.

    ``claims`` maps ids to Claim objects to send to workers (default: registered ids, resolved
    in each worker). ``rerun`` ignores finished cases, ``retry_errors`` runs ERROR cases again.
    ``dask_processes=False`` makes the local Dask cluster use threads (handy for tests); a
    ``scheduler`` address uses a running cluster. ``worker_memory_bytes`` caps each process
    worker's extra address space. ``summary.json`` is replaced only when it is a sweep's own
    summary (or with ``force``); a concurrent sweep into the same folder is refused.

    Faults: every finished case is on disk the moment it finishes; Ctrl-C stops the workers at
    once (pending cases are not started), writes the summary with ``"interrupted": true`` and
    re-raises; a worker killed by a signal (the OOM killer) becomes an ERROR row for its case
    and the sweep goes on; a case file of the wrong shape is run again.
    """
    from dlnkit.records.outputs import atomic_write_json, check_output_dir, claim_output, release_lock
    from dlnkit.records.report import write_json_atomic
    from dlnkit.records.stop_signals import finishing

    if executor not in EXECUTORS:
        raise DlnkitInputError(f"unknown executor {executor!r}; use one of {', '.join(EXECUTORS)}")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise DlnkitInputError(f"workers must be >= 1, got {workers}")
    if scheduler is not None and executor != "dask":
        raise DlnkitInputError("--scheduler needs --executor dask")
    if scheduler is not None:
        _check_scheduler_address(scheduler)
    # a device that does not exist is refused here, before any case runs or is cached
    dev = str(resolve_device(device)) if scheduler is None else str(device)
    out_dir = check_output_dir(out_dir, what="sweep folder")
    # summary.json is replaced only when it is a sweep's own summary; a second sweep into the same
    # folder while this one runs is refused (its lock)
    claim_output(out_dir / "summary.json", overwrite=force, what="sweep summary", ours=is_sweep_summary)
    (out_dir / "cases").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    records: dict[str, dict] = {}
    todo: list[SweepCase] = []
    for case in cases:
        rec = None if rerun else _read_done(case_path(out_dir, case, dev), case)
        if rec is not None and retry_errors and rec["result"].get("status") == "ERROR":
            rec = None
        if rec is not None:
            records[case.key] = rec
        else:
            todo.append(case)
    skipped = len(records)
    claim_of = lambda cid: (claims or {}).get(cid, cid)
    by_key = {c.key: c for c in todo}
    bar = tqdm(total=len(todo), desc="sweep", disable=not progress, leave=False)

    def finish(key: str, result: dict):
        case = by_key[key]
        rec = {"key": key, "claim_id": case.claim_id, "config": case.config, "device": dev, "result": result}
        # cases/ belongs to the sweep: a case file run again (--rerun, an ERROR retried, a damaged
        # record) is the sweep's own file
        atomic_write_json(case_path(out_dir, case, dev), rec, overwrite=True)
        records[key] = rec
        bar.update(1)

    def lost(key: str, why: str):
        from dlnkit.claims.base import ClaimResult

        case = by_key[key]
        row = ClaimResult.error_row(case.claim_id, case.config, why, device=dev, seed=case.config.get("seed"))
        finish(key, row.to_json())

    interrupted = False
    try:
        if not todo:
            pass
        elif executor == "serial":
            for case in todo:
                finish(case.key, run_case(claim_of(case.claim_id), case.config, dev))
        elif executor == "process":
            from dlnkit.engines.worker_pool import ResilientPool

            n = int(workers or max(1, min(len(todo), os.cpu_count() or 1)))
            pool = ResilientPool(n, run_case, start_method=mp_start_method, memory_limit_bytes=worker_memory_bytes)
            pool.run([(c.key, (claim_of(c.claim_id), c.config, dev)) for c in todo], finish, lost)
        else:
            _run_dask(todo, finish, claim_of, dev, workers, scheduler, dask_processes)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        with finishing("the sweep's summary"):  # a Ctrl-C now is held until it is written
            bar.close()
            ordered = [records[c.key] for c in cases if c.key in records]
            status = [r["result"].get("status") for r in ordered]
            summary = SweepSummary(
                out_dir,
                len(cases),
                skipped,
                len(records) - skipped,
                status.count("PASS"),
                status.count("FAIL"),
                status.count("ERROR"),
                time.perf_counter() - t0,
                ordered,
            )
            write_json_atomic(
                out_dir / "summary.json",
                {
                    "format": SUMMARY_FORMAT,
                    **summary.to_json(),
                    "executor": executor,
                    "device": dev,
                    "interrupted": interrupted,
                    "not_run": len(cases) - len(records),
                    "cases": [
                        {"key": r["key"], "claim_id": r["claim_id"], "status": r["result"].get("status")}
                        for r in ordered
                    ],
                },
            )
            release_lock(out_dir / "summary.json")
    return summary


SUMMARY_FORMAT = "dlnkit-sweep-summary/1"


def is_sweep_summary(path: Path) -> bool:
    """Is the file at ``path`` a summary a sweep wrote (one a later sweep may replace)?"""
    from dlnkit.records.input_files import peek_json_file

    doc = peek_json_file(path)
    if not isinstance(doc, dict):
        return False
    legacy = {"out_dir", "total", "executor", "cases", "interrupted"} <= set(doc)  # before the format key
    return doc.get("format") == SUMMARY_FORMAT or legacy


def _check_scheduler_address(address: str) -> None:
    if not isinstance(address, str) or not re.fullmatch(
        r"(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+(:\d{1,5})?/?", address.strip()
    ):
        raise DlnkitInputError(f"--scheduler must look like tcp://host:8786, got {address!r}")


def _run_dask(todo, finish, claim_of, device, workers, scheduler, processes):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise DlnkitInputError(
            "--executor dask needs dask.distributed: pip install 'dask[distributed]' (or pip install -e '.[dev]')"
        ) from None
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise DlnkitInputError(
                f"cannot reach the Dask scheduler {scheduler!r}: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}"
            ) from None
    else:
        n = int(workers or max(1, min(len(todo), os.cpu_count() or 1)))
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=None)
        client = Client(cluster)
    try:
        futs = [
            client.submit(_run_case_with_key, c.key, claim_of(c.claim_id), c.config, device, pure=False) for c in todo
        ]
        try:
            for fut in as_completed(futs):
                finish(*fut.result())
        except KeyboardInterrupt:  # pending cases are cancelled, not left running on the cluster
            client.cancel(futs, force=True)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = [
    "SweepCase",
    "SweepSummary",
    "EXECUTORS",
    "load_sweep_config",
    "validate_sweep_config",
    "expand_cases",
    "run_case",
    "run_sweep",
    "case_path",
    "device_tag",
]
