"""Hostile suite, faults: sweeps under SIGINT, SIGKILL of the driver and of a worker, a worker
that runs out of memory, corrupted case files and zoo checkpoints.

Workers are forked here (start-up in milliseconds); production sweeps spawn them, which the
pool handles the same way (tests/test_sweep.py runs the spawn path).
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
import torch

from dlnkit.engines.sweep import SweepCase, case_path, run_sweep
from dlnkit.numerics.validation import DlnkitInputError

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import (  # noqa: E402
    FAULT,
    assert_kept,
    default_sigint,
    process_start_time,
    record,
    same_process_alive,
    snapshot,
)

CLAIMS = {"hostile-fault": FAULT}
TESTS = Path(__file__).parent


def _case(x, **kw):
    return SweepCase("hostile-fault", {"x": x, **kw})


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def test_killed_and_oom_workers_become_error_rows_and_the_sweep_goes_on(tmp_path):
    cases = [
        _case(1),
        _case(2, mode="kill"),
        _case(3, mode="raise"),
        _case(4, mode="oom", gib=64),
        _case(5, mode="exit"),
        _case(6),
        _case(7, mode="fail"),
    ]
    s = run_sweep(
        cases,
        tmp_path,
        executor="process",
        workers=2,
        claims=CLAIMS,
        progress=False,
        mp_start_method="fork",
        worker_memory_bytes=2**30,
    )
    status = {r["config"]["x"]: r["result"]["status"] for r in s.results}
    assert status == {1: "PASS", 2: "ERROR", 3: "ERROR", 4: "ERROR", 5: "ERROR", 6: "PASS", 7: "FAIL"}
    msgs = {r["config"]["x"]: r["result"]["message"] for r in s.results}
    assert "SIGKILL" in msgs[2] and "MemoryError" in msgs[4] and "status 3" in msgs[5]
    for c in cases:  # every case is on disk, also the ones whose worker died
        assert json.loads(case_path(tmp_path, c).read_text())["key"] == c.key
    again = run_sweep(
        cases, tmp_path, executor="process", workers=2, claims=CLAIMS, progress=False, mp_start_method="fork"
    )
    assert again.skipped == len(cases) and again.ran == 0  # the resume does not die on them
    record("sweep faults", faults_injected=4, faults_survived=4, inputs_tried=len(cases), wrong_results=0)


def test_retry_errors_runs_only_error_cases(tmp_path):
    cases = [_case(1), _case(3, mode="raise")]
    run_sweep(cases, tmp_path, executor="serial", claims=CLAIMS, progress=False)
    s = run_sweep(cases, tmp_path, executor="serial", claims=CLAIMS, progress=False, retry_errors=True)
    assert s.skipped == 1 and s.ran == 1


@pytest.mark.parametrize(
    "garbage",
    [
        b'{"result": 5}',
        b"[1, 2]",
        b'{"result": {"status": "MAYBE"}}',
        b'{"key": "torn',
        b"\xff\xfe not utf-8",
        b"",
        b"[" * 100000,
    ],
)
def test_case_files_of_the_wrong_shape_are_run_again(tmp_path, garbage):
    cases = [_case(1), _case(2)]
    run_sweep(cases, tmp_path, executor="serial", claims=CLAIMS, progress=False)
    case_path(tmp_path, cases[1]).write_bytes(garbage)
    s = run_sweep(cases, tmp_path, executor="serial", claims=CLAIMS, progress=False)
    assert s.skipped == 1 and s.ran == 1 and s.passed == 2
    record("sweep faults", faults_injected=1, faults_survived=1)


def test_a_record_for_another_case_is_not_reused(tmp_path):
    a, b = _case(1), _case(2)
    run_sweep([a], tmp_path, executor="serial", claims=CLAIMS, progress=False)
    case_path(tmp_path, b).write_text(case_path(tmp_path, a).read_text())  # b's file holds a's record
    s = run_sweep([b], tmp_path, executor="serial", claims=CLAIMS, progress=False)
    assert s.ran == 1 and s.results[0]["config"] == b.config


def test_device_is_part_of_the_case_and_a_missing_device_is_refused_first(tmp_path):
    c = _case(1)
    run_sweep([c], tmp_path, executor="serial", claims=CLAIMS, progress=False, device="cpu")
    assert case_path(tmp_path, c, "cpu").exists() and not case_path(tmp_path, c, "cuda").exists()
    if not torch.cuda.is_available():
        before = snapshot(tmp_path)
        with pytest.raises(DlnkitInputError, match="CUDA"):
            run_sweep([c], tmp_path, executor="serial", claims=CLAIMS, progress=False, device="cuda")
        assert snapshot(tmp_path) == before  # nothing cached for a device that does not exist
        record("sweep faults", inputs_tried=1, clear_errors=1)


DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from hostile_support import FAULT
    from dlnkit.engines.sweep import SweepCase, run_sweep
    if __name__ == "__main__":
        mark = sys.argv[2]
        cases = [SweepCase("hostile-fault", {{"x": i, "mode": "sleep", "s": 0.05 if i < 2 else 3600, "mark": mark}})
                 for i in range(6)]
        try:
            run_sweep(cases, sys.argv[1], executor="process", workers=2, claims={{"hostile-fault": FAULT}},
                      progress=False, mp_start_method="fork")
        except KeyboardInterrupt:
            sys.exit(130)
""")

#: generous bounds for a loaded machine: the slow cases sleep an hour, so any bound far below
#: that still tells "stopped by the signal" from "ran its cases to the end"
START_BOUND_S, STOP_BOUND_S = 240, 240


def _start_driver(tmp_path: Path) -> tuple[subprocess.Popen, Path, dict[int, int | None]]:
    """Start a sweep driver and wait (on files, not on time) until both workers are inside a
    slow case; return it, its folder and its workers' {pid: start time}."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(TESTS)))
    out, mark = tmp_path / "out", tmp_path / "started.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out), str(mark)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + START_BOUND_S
    while time.monotonic() < deadline:  # both quick cases on disk, both workers in a slow case
        started = {int(x) for x in mark.read_text().split()} if mark.exists() else set()
        done = list((out / "cases").glob("*.json")) if (out / "cases").exists() else []
        if len(done) >= 2 and len(started - {0, 1}) >= 2:
            break
        if proc.poll() is not None:
            raise AssertionError(f"driver ended early: {proc.stderr.read()}")
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("the sweep did not start its slow cases in time")
    workers = {pid: process_start_time(pid) for pid in _children(proc.pid)}
    return proc, out, workers


def test_ctrl_c_stops_the_sweep_promptly_and_keeps_what_finished(tmp_path):
    proc, out, workers = _start_driver(tmp_path)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGINT)
    # promptly: the slow cases sleep an hour; the driver must end long before (no tight timing)
    try:
        rc = proc.wait(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the driver did not stop within {STOP_BOUND_S} s of SIGINT") from None
    assert rc == 130
    assert not [w for w, t in workers.items() if same_process_alive(w, t)], "workers outlived the Ctrl-C"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["passed"] == 2 and summary["not_run"] == 4
    record("sweep faults", faults_injected=1, faults_survived=1)


def test_sigkill_of_the_driver_leaves_no_orphan_workers(tmp_path):
    proc, out, workers = _start_driver(tmp_path)
    assert workers
    proc.kill()
    proc.wait(timeout=STOP_BOUND_S)
    deadline = time.monotonic() + STOP_BOUND_S
    while time.monotonic() < deadline and [w for w, t in workers.items() if same_process_alive(w, t)]:
        time.sleep(0.1)
    assert not [w for w, t in workers.items() if same_process_alive(w, t)], "workers outlived their driver"
    for f in (out / "cases").glob("*.json"):  # what finished is intact
        assert json.loads(f.read_text())["result"]["status"] == "PASS"
    record("sweep faults", faults_injected=1, faults_survived=1, files_lost=0)


# ----- zoo checkpoints ----------------------------------------------------------------------


@pytest.fixture
def tiny_zoo(monkeypatch, tmp_path):
    import dataclasses

    from dlnkit.numerics import zoo

    monkeypatch.setenv("DLNKIT_CACHE", str(tmp_path))
    fast = {k: dataclasses.replace(v, epochs=1, batch_size=100) for k, v in zoo.SPECS.items()}
    monkeypatch.setattr(zoo, "SPECS", fast)
    real = zoo.load_data
    monkeypatch.setattr(
        zoo,
        "load_data",
        lambda name: dataclasses.replace(
            real(name), X_train=real(name).X_train[:200], y_train=real(name).y_train[:200]
        ),
    )
    return zoo


@pytest.mark.parametrize("damage", ["flip_middle", "truncate", "zero_tail", "no_digest"])
def test_damaged_checkpoint_is_never_loaded_silently(tiny_zoo, damage):
    zoo = tiny_zoo
    first = zoo.get_trained("mlp")
    blob = bytearray(first.path.read_bytes())
    if damage == "flip_middle":
        for i in range(len(blob) // 2, len(blob) // 2 + 32):
            blob[i] ^= 0x5A
    elif damage == "truncate":
        blob = blob[: len(blob) // 3]
    elif damage == "zero_tail":
        blob[-2000:-1000] = bytes(1000)
    else:
        torch.save({"state_dict": first.model.state_dict(), "info": "{}"}, first.path)
        blob = bytearray(first.path.read_bytes())
    first.path.write_bytes(bytes(blob))
    with pytest.raises(zoo.CorruptCheckpointError):
        zoo.get_trained("mlp", on_corrupt="refuse")
    again = zoo.get_trained("mlp")  # retrained, replaced atomically
    assert not again.from_cache
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert zoo.get_trained("mlp").from_cache
    record("checkpoints", faults_injected=1, faults_survived=1, wrong_results=0)


def test_read_only_cache_is_refused_before_training(tiny_zoo, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "zoo").write_text("a file where the cache folder should be")
    monkeypatch.setenv("DLNKIT_CACHE", str(ro))
    before = snapshot(ro)
    with pytest.raises(DlnkitInputError, match="not writable"):
        tiny_zoo.get_trained("mlp")
    assert_kept("checkpoints", before, ro)
    record("checkpoints", inputs_tried=1, clear_errors=1)
