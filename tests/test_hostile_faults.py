"""Hostile suite, faults: sweeps under SIGINT, SIGTERM, SIGHUP, SIGKILL of the driver and of a worker, a worker
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
    # case 5's os._exit(3): the user-code boundary names the call; a worker that exits anyway, its status
    assert "SIGKILL" in msgs[2] and "MemoryError" in msgs[4] and ("os._exit(3)" in msgs[5] or "status 3" in msgs[5])
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


#: drivers started by the current test, with their workers: stopped at its teardown whatever the
#: test's outcome (a failed assertion used to leave a driver and its hour-long workers running)
_STARTED: list[tuple[subprocess.Popen, dict[int, int | None]]] = []


@pytest.fixture(autouse=True)
def _no_driver_outlives_its_test():
    yield
    while _STARTED:
        proc, workers = _STARTED.pop()
        for pid, start in workers.items():
            if same_process_alive(pid, start):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


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
    _STARTED.append((proc, workers))
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


# ----- SIGTERM and SIGHUP: stopped like Ctrl-C --------------------------------------------------

STOP_CLAIM = textwrap.dedent("""
    import os, time
    import dlnkit as dk

    def measure(cfg, device):
        with open(os.environ["HOSTILE_MARK"], "a") as fh:  # say which case started
            fh.write(f"{cfg['x']}\\n")
        if cfg["x"] >= 2:
            time.sleep(3600)
        return cfg["x"]

    dk.define_claim(id="hostile-stop", title="sleeps from x = 2 on", predict=lambda cfg: cfg["x"],
                    measure=measure, default_configs=[{"x": i} for i in range(5)],
                    tolerance=dk.Tolerance(atol=0.0, reason="integers: exact"))
""")

STOP_DRIVER = textwrap.dedent("""
    import sys
    from dlnkit.claims import load_claims_from_file
    from dlnkit.cli import main
    load_claims_from_file(sys.argv[1])  # `sweep` takes registered claims only
    sys.exit(main(sys.argv[2:]))
""")


def _default_stop_signals() -> None:
    """``preexec_fn``: SIGINT, SIGTERM and SIGHUP at their default action, as in a terminal (a test
    run under ``nohup`` or in the background would otherwise hand the child ignored signals)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _run_until_third_case(tmp_path: Path, argv: list[str]) -> subprocess.Popen:
    claim = tmp_path / "stop_claim.py"
    claim.write_text(STOP_CLAIM)
    driver = tmp_path / "stop_driver.py"
    driver.write_text(STOP_DRIVER)
    mark = tmp_path / "started.txt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HOSTILE_MARK": str(mark)}
    proc = subprocess.Popen(
        [sys.executable, str(driver), str(claim), *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_stop_signals,
    )
    deadline = time.monotonic() + START_BOUND_S
    while time.monotonic() < deadline:  # cases 0 and 1 finished, case 2 sleeping
        if mark.exists() and "2" in mark.read_text().split():
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be stopped: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the run did not reach its slow case in time")


def _stopped(proc: subprocess.Popen, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"not stopped within {STOP_BOUND_S} s of {signal.Signals(sig).name}") from None
    return rc, proc.stderr.read()


def test_sigterm_stops_verify_like_ctrl_c_and_keeps_its_rows(tmp_path):
    """`kill` or `timeout` during `verify --json` killed it outright: every finished row lost, no
    --json, and its lock left in the folder (SIGHUP, a closed terminal, the same). Now: the
    finished rows in --json marked interrupted, exit 128 + signal, nothing else left behind."""
    sig = signal.SIGTERM
    out = tmp_path / "out" / "r.json"
    (tmp_path / "out").mkdir()
    proc = _run_until_third_case(tmp_path, ["verify", "hostile-stop", "--examples", "0", "-q", "--json", str(out)])
    rc, err = _stopped(proc, sig)
    assert rc == 128 + sig, err
    assert "Traceback" not in err
    rec = json.loads(out.read_text())
    assert rec["interrupted"] is True and rec["not_run"] == 3
    assert [(r["config"]["x"], r["status"]) for r in rec["results"]] == [(0, "PASS"), (1, "PASS")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.json"], "a lock or temporary was left"
    record("stop signals", faults_injected=1, faults_survived=1, files_lost=0)


def test_sighup_stops_a_cli_sweep_and_keeps_its_finished_cases(tmp_path):
    """A closed terminal (SIGHUP) or a SIGTERM killed `dlnkit sweep` without its summary.json and
    left its lock; now the summary is written, marked interrupted, beside the finished cases."""
    cfg = tmp_path / "stop.json"
    cfg.write_text(json.dumps({"claims": ["hostile-stop"], "configs": [{"x": i} for i in range(5)]}))
    out = tmp_path / "sweep-out"
    proc = _run_until_third_case(tmp_path, ["sweep", str(cfg), "--out", str(out), "--executor", "serial", "-q"])
    rc, err = _stopped(proc, signal.SIGHUP)
    assert rc == 128 + signal.SIGHUP, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["passed"] == 2
    assert not [p for p in out.rglob(".*")], "a lock or temporary was left"
    record("stop signals", faults_injected=1, faults_survived=1, files_lost=0)


def test_an_ignored_sighup_stays_ignored(monkeypatch):
    """`nohup dlnkit sweep ... &` must outlive its terminal: a SIGHUP that was ignored when dlnkit
    started is not turned into a stop (nor is a handler an embedding application installed)."""
    from dlnkit.records.stop_signals import StopSignals

    own = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with StopSignals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    finally:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, own)
    record("stop signals", inputs_tried=1, worked=1)


def test_a_sigterm_to_the_whole_process_group_does_not_turn_running_cases_into_errors(tmp_path):
    """`timeout` and batch systems send SIGTERM to the whole process group: the workers died of it
    and their cases became ERROR rows ("killed by SIGTERM") that a resumed sweep kept as finished.
    The driver decides, as for Ctrl-C: workers ignore it."""
    proc, out, workers = _start_driver(tmp_path)
    assert len(workers) >= 2
    for w in workers:
        os.kill(w, signal.SIGTERM)
    deadline = time.monotonic() + 2.0  # the slow cases sleep an hour: alive now means they ignored it
    while time.monotonic() < deadline:
        assert all(same_process_alive(w, t) for w, t in workers.items()), "a worker died of SIGTERM"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the driver did not stop within {STOP_BOUND_S} s of SIGINT") from None
    assert rc == 130
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == 0 and summary["passed"] == 2 and summary["not_run"] == 4
    record("stop signals", faults_injected=1, faults_survived=1)


def test_the_model_cache_never_reuses_or_removes_a_file_already_there(tiny_zoo, tmp_path):
    """Saving a checkpoint wrote ``.NAME.tmpPID`` and probing the cache wrote ``.probePID``, both
    fixed names opened for writing and then removed: a file already there under that name (a
    user's, another run's) was truncated and deleted. The temporaries are now fresh names."""
    zoo = tiny_zoo
    path = tmp_path / "zoo" / f"mlp-{zoo.spec_hash(zoo.SPECS['mlp'], 0)}.pt"
    path.parent.mkdir(parents=True)
    theirs = [path.with_name(f".{path.name}.tmp{os.getpid()}"), path.parent / f".probe{os.getpid()}"]
    for f in theirs:
        f.write_text("not dlnkit's")
    before = snapshot(path.parent)
    trained = zoo.get_trained("mlp")
    assert trained.path == path and path.exists() and not trained.from_cache
    assert_kept("checkpoints", before, path.parent)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, *(f.name for f in theirs)])
    record("checkpoints", inputs_tried=1, worked=1)


def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path):
    """Under `ulimit -f 0` (or a full disk) the lock was created and its pid could not be written:
    exit 3, but an empty `.r.json.dlnkit-lock` stayed, which is not recognisably dlnkit's, so every
    later run on that name was refused until the user deleted it by hand."""
    out = tmp_path / "r.json"
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0)); "
        "from dlnkit.cli import main; "
        f"sys.exit(main(['verify', 'B0', '--examples', '0', '-q', '--json', {str(out)!r}]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=STOP_BOUND_S,
    )
    assert run.returncode == 3 and "Traceback" not in run.stderr, run.stderr
    assert os.listdir(tmp_path) == [], "a lock or temporary was left by the run the machine stopped"
    from dlnkit.cli import main

    assert main(["verify", "B0", "--examples", "0", "-q", "--json", str(out)]) == 0  # the next run works
    assert json.loads(out.read_text())["results"]
    record("stop signals", faults_injected=1, faults_survived=1)


SLOW_FINISH_DRIVER = textwrap.dedent("""
    import os, sys, time
    from dlnkit.records import run_record
    real = run_record.claims_metadata

    def slow_metadata(claims):  # what gathering every claim's metadata costs (seconds for all claims)
        with open(os.environ["HOSTILE_MARK"], "a") as fh:
            fh.write("finishing\\n")
        time.sleep(3)
        return real(claims)

    run_record.claims_metadata = slow_metadata
    from dlnkit.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_second_ctrl_c_while_verify_writes_its_rows_does_not_lose_them(tmp_path):
    """Ctrl-C, then Ctrl-C again while verify gathers the claims' metadata for --json (seconds for
    every claim): the second interrupt escaped the save and every finished row was lost. A stop
    signal during the write is held until the record is written (a third would abandon it)."""
    claim = tmp_path / "stop_claim.py"
    claim.write_text(STOP_CLAIM)
    driver = tmp_path / "slow_finish.py"
    driver.write_text(SLOW_FINISH_DRIVER)
    mark = tmp_path / "started.txt"
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, str(driver), "verify", "hostile-stop", "--from", str(claim), "--examples", "0", "-q"]
        + ["--json", str(out)],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HOSTILE_MARK": str(mark)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_stop_signals,
    )

    def wait_for(word: str) -> None:
        deadline = time.monotonic() + START_BOUND_S
        while time.monotonic() < deadline:
            if mark.exists() and word in mark.read_text().split():
                return
            if proc.poll() is not None:
                raise AssertionError(f"verify ended early: {proc.stderr.read()}")
            time.sleep(0.05)
        proc.kill()
        raise AssertionError(f"verify never reached {word!r}")

    wait_for("2")  # rows 0 and 1 done, case 2 sleeping
    proc.send_signal(signal.SIGINT)
    wait_for("finishing")  # now writing what finished
    rc, err = _stopped(proc, signal.SIGINT)
    assert rc == 130 and "Traceback" not in err, err
    rec = json.loads(out.read_text())
    assert rec["interrupted"] is True and [r["config"]["x"] for r in rec["results"]] == [0, 1]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    record("stop signals", faults_injected=2, faults_survived=2, files_lost=0)
