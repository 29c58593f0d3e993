"""Hostile suite, the boundary between dlnkit and user code: exits and signals become rows.

A claim that raises ``KeyboardInterrupt``, another ``BaseException`` or calls ``sys.exit(0)``,
a model factory that calls ``sys.exit(0)``, and a real Ctrl-C in the middle of ``verify``:
never exit 0 with no output, never a raw traceback; a claim's exit is an ERROR row, and Ctrl-C
stops the run, keeps the finished rows and writes ``--json`` marked ``"interrupted"`` (exit 130).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import default_sigint, one_line_error, record  # noqa: E402
from test_hostile_outputs import run_cli  # noqa: E402

SECTION = "user-code boundary"

CLAIMS = textwrap.dedent("""
    import os, sys, time
    import dlnkit as dk

    class Stop(BaseException):
        pass

    def measure(cfg, device):
        how = cfg.get("how", "ok")
        if how == "interrupt":
            raise KeyboardInterrupt
        if how == "base":
            raise Stop("a BaseException from user code")
        if how == "exit0":
            sys.exit(0)
        if how == "wait":
            open(os.environ["HOSTILE_STARTED"], "a").close()
            time.sleep(120)
        return cfg["x"]

    for name, how in [("interrupt", "interrupt"), ("base", "base"), ("exit0", "exit0"), ("wait", "wait")]:
        dk.define_claim(
            id=f"boundary-{name}", title="x is x, unless", predict=lambda cfg: cfg["x"], measure=measure,
            default_configs=[{"x": 1}, {"x": 2, "how": how}, {"x": 3}],
            tolerance=dk.Tolerance(atol=0.0, reason="integers: exact"),
        )
""")


@pytest.fixture(scope="module")
def claims_file(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("boundary") / "boundary_claims.py"
    f.write_text(CLAIMS)
    return f


def _verify(claims_file: Path, claim: str, out: Path) -> tuple[int, str, str]:
    return run_cli(["verify", claim, "--from", str(claims_file), "--examples", "0", "-q", "--json", str(out)])


@pytest.mark.parametrize("claim", ["boundary-base", "boundary-exit0"])
def test_a_claim_that_exits_or_raises_a_base_exception_is_an_error_row(claims_file, tmp_path, claim):
    out = tmp_path / "r.json"
    rc, so, err = _verify(claims_file, claim, out)
    ok = rc == 1 and out.exists()
    record(SECTION, inputs_tried=1, worked=int(ok), files_lost=int(not out.exists()), tracebacks=int(rc == 70))
    assert rc == 1, (rc, err)
    rows = json.loads(out.read_text())["results"]
    assert [r["status"] for r in rows] == ["PASS", "ERROR", "PASS"]
    assert "Traceback" not in err


def test_a_claim_raising_keyboardinterrupt_stops_the_run_and_keeps_the_finished_rows(claims_file, tmp_path):
    out = tmp_path / "r.json"
    rc, so, err = _verify(claims_file, "boundary-interrupt", out)
    record(SECTION, inputs_tried=1, worked=int(rc == 130), files_lost=int(not out.exists()))
    assert rc == 130, (rc, err)
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    assert [r["status"] for r in doc["results"]] == ["PASS"]  # the finished row, nothing invented


def test_ctrl_c_during_verify_keeps_the_finished_rows_and_writes_the_json(claims_file, tmp_path):
    out = tmp_path / "r.json"
    started = tmp_path / "started"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlnkit", "verify", "boundary-wait", "--from", str(claims_file), "--examples", "0"]
        + ["-q", "--json", str(out)],
        env={**os.environ, "OMP_NUM_THREADS": "1", "HOSTILE_STARTED": str(started)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,  # a test run in the background inherits SIGINT ignored
    )
    deadline = time.monotonic() + 180
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert started.exists(), "verify never reached the slow check"
    proc.send_signal(signal.SIGINT)
    so, se = proc.communicate(timeout=120)
    record(SECTION, faults_injected=1, faults_survived=int(proc.returncode == 130 and out.exists()))
    assert proc.returncode == 130, se
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True and [r["status"] for r in doc["results"]] == ["PASS"]


MODEL = textwrap.dedent("""
    import sys
    def exits():
        sys.exit(0)
    class Stop(BaseException):
        pass
    def raises():
        raise Stop("from the factory")
""")


@pytest.mark.parametrize("factory", ["exits", "raises"])
def test_a_model_factory_that_exits_is_one_line_and_not_success(tmp_path, factory):
    f = tmp_path / "hostile_factory.py"
    f.write_text(MODEL)
    data = tmp_path / "d.pt"
    import torch

    torch.save({"inputs": torch.zeros(4, 3), "targets": torch.zeros(4, dtype=torch.long)}, data)
    rc, so, err = run_cli(["spectrum", "--model", f"{f}:{factory}", "--data", str(data), "--top", "1"])
    clear = rc == 2 and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(not clear))
    assert clear, (rc, err)


def test_a_killed_gallerys_temporary_is_cleaned_by_the_next_run(tmp_path):
    from dlnkit.engines.gallery import generate_gallery

    d = tmp_path / "g"
    d.mkdir()
    stale = d / ".README.md.dlnkit-tmp-999999999-00ff00ff"  # what SIGKILL mid-write leaves
    stale.write_text("# half a README")
    keep = d / ".README.md.tmp-users-own"
    keep.write_text("not dlnkit's")
    generate_gallery(d, max_examples=5, claim_ids=["hostile-gallery"])
    record(SECTION, faults_injected=1, faults_survived=int(not stale.exists() and keep.exists()))
    assert not stale.exists() and keep.read_text() == "not dlnkit's"
