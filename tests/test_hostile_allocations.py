"""Hostile suite, allocations a user's number sets: each is estimated and refused before it
happens (one line, exit 2), and the estimates are not below what is measured.

Every refused input runs ``dlnkit.cli.main`` in a forked child whose peak resident memory above
its start (``ru_maxrss``) must stay small: a refusal that comes after the allocation (or a crash
on the way) fails here.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import one_line_error, record  # noqa: E402

SECTION = "allocation guards"
EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))
#: a refusal before the work grows the process by far less than this (imports included)
REFUSAL_PEAK_BYTES = 400 * 2**20


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


CHILD = textwrap.dedent("""
    import contextlib, io, json, os, resource, signal, sys
    import torch  # loaded before the baselines: not the commands' allocations
    import dlnkit.cli
    class StillRunning(BaseException):
        pass
    def stop(signum, frame):
        raise StillRunning()
    signal.signal(signal.SIGALRM, stop)
    def rss():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096
    out = []
    for argv in json.loads(sys.argv[1]):
        base = max(rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        err = io.StringIO()
        # a refusal takes seconds; a command still working after this long did not refuse (code
        # that allocates instead of refusing can run for hours: each input is judged on its own)
        signal.alarm(COMMAND_SECONDS)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = dlnkit.cli.main(argv)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 2
        except StillRunning:
            rc, err = 98, io.StringIO(f"still running after {COMMAND_SECONDS} s: it did not refuse")
        except BaseException as exc:
            rc, err = 99, io.StringIO(f"{type(exc).__name__}: {exc}")
        finally:
            signal.alarm(0)
        out.append([rc, err.getvalue(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base])
    sys.__stdout__.write(json.dumps(out))
""")


def _run_child(argvs: list[list[str]], cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", CHILD.replace("COMMAND_SECONDS", "90"), json.dumps(argvs)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def run_measured(argvs: list[list[str]], cwd) -> list[tuple[int, str, int]]:
    """Each ``dlnkit.cli.main(argv)`` in turn in one fresh interpreter (a fork of the test process
    can deadlock in torch's thread pools; one interpreter keeps the imports to one): exit status,
    stderr and the growth of the peak resident size (``ru_maxrss``) during that command. The peak
    only grows, so a command that allocates before refusing shows up whatever ran before it.

    If a command crashes that interpreter (a segfault: ``--threads 1000000`` did), each command is
    run again in an interpreter of its own, so the crash is that input's result and the others are
    still judged one by one."""
    proc = _run_child(argvs, cwd)
    if proc.returncode == 0:
        return [tuple(r) for r in json.loads(proc.stdout.strip().splitlines()[-1])]
    results: list[tuple[int, str, int]] = []
    for argv in argvs:
        alone = _run_child([argv], cwd)
        if alone.returncode == 0:
            results.append(tuple(json.loads(alone.stdout.strip().splitlines()[-1])[0]))
        else:  # 97: not an exit status of dlnkit's; the test reports the crash with its stderr
            results.append((97, f"the command crashed the process (exit {alone.returncode}): {alone.stderr[-500:]}", 0))
    return results


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("alloc")
    (d / "grid.json").write_text(json.dumps({"claims": ["B0"], "grid": {k: list(range(400)) for k in "abc"}}))
    (d / "big.py").write_text(
        textwrap.dedent("""
        import torch
        def model():
            return torch.nn.Sequential(torch.nn.Linear(2000, 2000), torch.nn.Linear(2000, 10))
        """)
    )
    import torch

    torch.save({"inputs": torch.randn(8, 2000), "targets": torch.randint(0, 10, (8,))}, d / "data.pt")
    return d


DEEP = ",".join(["3"] * 41)
#: (id, argv); the 4M-parameter model last: it loads the model itself (float32 + float64 copies,
#: its gradient, the products' workspace: about 100 bytes per parameter) before the Lanczos basis
#: (9.7 GiB) is refused, so its bound is larger
CASES = [
    ("probes", ["spectrum", "--model", "mlp", "--probes", "1000000000"]),
    ("trace-products", ["spectrum", "--model", "mlp", "--trace-products", "1000000000"]),
    ("grid-400^3", ["sweep", "grid.json", "--out", "sw", "-q"]),
    ("steps-1e12", ["reproduce", "2602.00545", "--steps", "1000000000000", "--out", "r1"]),
    (
        "seed-1e11",
        ["reproduce", "2602.00545", "--seeds", "99999999999", "--depths", "2", "--steps", "1", "--out", "r2"],
    ),
    ("dev-zero", ["replay", "/dev/zero"]),
    ("threads", ["alignment", "--model", "mlp", "--threads", "1000000", "--no-eigen"]),
    ("m^40", ["spectrum", "--dims", DEEP, "--rank", "1", "--m", "1e10"]),
    ("4M-model", ["spectrum", "--model", "big.py:model", "--data", "data.pt"]),
]
LIMITS = {"4M-model": 1536 * 2**20}


@pytest.fixture(scope="module")
def measured(files) -> dict:
    return dict(zip((name for name, _ in CASES), run_measured([argv for _, argv in CASES], files)))


@pytest.mark.parametrize("name", [name for name, _ in CASES])
def test_a_users_number_is_refused_before_it_allocates(measured, name):
    argv = dict(CASES)[name]
    rc, err, peak = measured[name]
    clear = rc in (2, 3) and one_line_error(err)
    early = peak < LIMITS.get(name, REFUSAL_PEAK_BYTES)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(not clear), wrong_results=int(not early))
    assert clear, f"dlnkit {' '.join(argv)}: exit {rc}\n{err}"
    assert early, f"dlnkit {' '.join(argv)}: grew by {peak / 2**20:.0f} MiB before refusing"


@settings(max_examples=max(10, EXAMPLES), deadline=None, suppress_health_check=list(HealthCheck))
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4), configs=st.integers(0, 3))
def test_sweep_case_count_bounds_the_expansion(lengths, configs):
    from dlnkit.engines.sweep import expand_cases, sweep_case_count

    cfg = {
        "claims": ["B0"],
        # keys B0 reads (a sweep refuses any other): the values only count here
        "grid": {k: list(range(n)) for k, n in zip(("seed", "scale", "anisotropy", "batch"), lengths)},
        "configs": [{"seed": 100 + j} for j in range(configs)],
    }
    n = sweep_case_count(cfg)
    got = len(expand_cases(cfg))
    record(SECTION, inputs_tried=1, worked=1, wrong_results=int(got > n))
    assert got <= n


def _sweep_peak(cfg, conn) -> None:
    import resource

    from dlnkit.engines.sweep import expand_cases

    base = max(_rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    cases = expand_cases(cfg)
    conn.send((len(cases), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base))


def test_sweep_plan_estimate_is_not_below_the_measured_peak():
    from dlnkit.engines.sweep import sweep_plan_bytes

    cfg = {"claims": ["B0"], "grid": {"seed": list(range(200)), "batch": list(range(100)), "dims": [[4, 6, 3]]}}
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_sweep_peak, args=(cfg, child))
    proc.start()
    n, measured = parent.recv()
    proc.join(timeout=60)
    estimate = sweep_plan_bytes(cfg)
    record(SECTION, inputs_tried=1, worked=1, wrong_results=int(measured > estimate))
    assert n == 20_000 and measured <= estimate, (measured, estimate)


def _record_peak(steps, conn) -> None:
    """The loss record's bookkeeping as the paper run keeps it (every 1000th step: the set of
    recorded steps, the losses, the (step, loss) pairs and their JSON)."""
    import resource

    base = max(_rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    losses_at = set(range(0, steps, 1000))
    loss_steps = sorted(losses_at)
    losses = [float(k) * 1e-3 + 0.1 for k in loss_steps]
    text = json.dumps({"losses": list(zip(loss_steps, losses))})
    conn.send((len(text), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base))


def test_training_record_estimate_is_not_below_the_measured_peak():
    from dlnkit.commands.reproduce import RECORDED_STEP_BYTES

    steps = 500_000_000  # 500,000 recorded losses
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_record_peak, args=(steps, child))
    proc.start()
    _, measured = parent.recv()
    proc.join(timeout=60)
    estimate = RECORDED_STEP_BYTES * (steps // 1000 + 2)
    record(SECTION, inputs_tried=1, worked=1, wrong_results=int(measured > estimate))
    assert measured <= estimate, (measured, estimate)


# ----- symbolic routes whose cost explodes with a user's number -----------------------------

SYMBOLIC_CHILD = textwrap.dedent("""
    import json
    from dlnkit.engines.sweep import run_case
    from dlnkit.claims import get_claim
    from dlnkit.theory import balanced_minimum_spectrum_numeric, derive_jjt_aligned
    from dlnkit.theory.classic_learning_curves import half_time, implicit_time
    from dlnkit.theory.classic_origin import partial_solution_pair_eigenvalues
    calls = {
        "implicit_time(200)": lambda: implicit_time(200),
        "half_time(16)": lambda: half_time(16),
        "partial_solution_pair_eigenvalues(200)": lambda: partial_solution_pair_eigenvalues(200),
        "derive_jjt_aligned([400, 400, 400])": lambda: derive_jjt_aligned([400, 400, 400]),
        "balanced_minimum_spectrum_numeric(widths 1e5)": lambda: balanced_minimum_spectrum_numeric([10**5] * 3, [1.0]),
    }
    out = {}
    for name, call in calls.items():
        try:
            call()
            out[name] = "finished"
        except ValueError as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    # a sweep case of depth 20 for the learning-curve claim (its implicit solution): an ERROR row
    row = run_case(get_claim("C3-learning-curve"), {"dims": [2] * 21, "t": [2.0, 1.0], "a": [0.25, 0.5], "seed": 0})
    out["sweep case, depth 20"] = f"{row['status']}: {row['message']}"
    print(json.dumps(out))
""")


def test_symbolic_routes_refuse_an_exploding_size_before_they_start():
    """Before: implicit_time(200), a depth-200 partial-solution Hessian and J J^T at widths 400
    ran for hours (a sweep case of depth 20 for C3-learning-curve hung its worker), and the
    numeric spectrum at widths 1e5 reached for 2e10-long arrays. Now each is refused at once by
    its bound (dlnkit.theory.cost_limits, one line naming it); the sweep case is an ERROR row.
    The child's timeout is what turns the old hang into a failure."""
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", SYMBOLIC_CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, what in out.items():
        ok = "SymbolicCostError" in what and "is above" in what and "\n" not in what
        record(SECTION, inputs_tried=1, clear_errors=int(ok), wrong_results=int(not ok))
        assert ok, f"{name}: {what}"
    assert out["sweep case, depth 20"].startswith("ERROR")


EXPERIMENT_CHILD = textwrap.dedent("""
    import os, resource, sys
    import dlnkit.cli
    import dlnkit.engines.spectral_newton_experiment as exp
    from dlnkit.numerics.memory import vm_size
    limit = vm_size() + 2**30  # a tuple of 1e9 seeds (36 GB) cannot hide under this
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    def reached(*, seeds, **kw):  # the trainings themselves are not the point: stop at their door
        print(f"REACHED {type(seeds).__name__} {len(seeds)}", flush=True)
        os._exit(0)
    exp.run_spectral_newton_experiment = reached
    sys.exit(dlnkit.cli.main(["experiment", "spectral-newton", "--out", sys.argv[1], "--seeds", "1000000000", "-q"]))
""")


def test_experiment_seed_count_allocates_nothing_before_the_trainings(tmp_path):
    """Before: ``experiment spectral-newton --seeds 1000000000`` built a tuple of 1e9 seeds before
    its first training (exit 3 under a limit, 36 GB without one). Now the seeds are a range: the
    trainings start at once, each seed costs a training (the user's choice), never a block of memory."""
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", EXPERIMENT_CHILD, str(tmp_path / "e.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    ok = "REACHED range 1000000000" in proc.stdout
    record(SECTION, inputs_tried=1, worked=int(ok), wrong_results=int(not ok))
    assert ok, (proc.returncode, proc.stdout[-500:], proc.stderr[-1000:])


def test_verify_refuses_an_example_count_that_cannot_be_held_before_drawing():
    """Before: ``verify B0 --examples 2000000000`` drew configurations (about 75 a second,
    each held until checked) for days. Now the draw is refused from its estimate (8 KB per
    configuration) before the first one: one line, exit 2. The child's timeout turns the old
    endless draw into a failure."""
    import subprocess

    code = "import sys, dlnkit.cli; sys.exit(dlnkit.cli.main(['verify', 'B0', '--examples', '2000000000', '-q']))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, "still drawing after 120 s"
    clear = rc == 2 and one_line_error(err) and "drawing" in err
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(not clear))
    assert clear, f"exit {rc}: {err[-1000:]}"
