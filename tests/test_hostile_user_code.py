"""Hostile suite, what user code does to dlnkit's process (dlnkit.claims.boundary).

A claim, a ``--from`` file or a model factory that calls ``os._exit``, forks, changes the working
folder, turns off autograd, makes warnings errors, lowers the recursion limit, ignores Ctrl-C,
closes stdout, leaves a thread running, or hands back values JSON cannot hold: an ERROR row or
one line and exit 2, never exit 0 with nothing, never a hang, never a later claim's verdict
changed, never the record lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from dlnkit.claims.base import Assumption, Claim, Tolerance

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import default_sigint, one_line_error, record  # noqa: E402
from test_hostile_outputs import run_cli  # noqa: E402

SECTION = "user-code boundary"
EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))


# ----- process state ------------------------------------------------------------------------


def exit_if_guarded(code: int = 0) -> None:
    """``os._exit(code)``, but only when dlnkit guards it: an unguarded call would end the test
    run itself with status 0 (a regression must fail a test, never look like a passing run)."""
    if getattr(os._exit, "__module__", "posix") in ("posix", "nt"):
        raise RuntimeError("os._exit is not guarded; not calling it inside the test process")
    os._exit(code)


#: ``exit_if_guarded`` as source, for the user files below
EXIT_IF_GUARDED = textwrap.dedent("""
    def exit_if_guarded(code=0):
        if getattr(os._exit, "__module__", "posix") in ("posix", "nt"):
            raise RuntimeError("os._exit is not guarded; not calling it inside the test process")
        os._exit(code)
""")


def _depth() -> int:
    frame, n = sys._getframe(), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


#: what a hostile claim can do to the process; each leaves something a later row would notice
ACTIONS = {
    "chdir": lambda: os.chdir("/"),
    "no_grad": lambda: torch.set_grad_enabled(False),
    "default_dtype": lambda: torch.set_default_dtype(torch.float64),
    "threads": lambda: torch.set_num_threads(torch.get_num_threads() + 1),
    "deterministic": lambda: torch.use_deterministic_algorithms(True),
    "anomaly": lambda: torch.set_anomaly_enabled(True),
    "warnings_error": lambda: warnings.simplefilter("error"),
    "recursion": lambda: sys.setrecursionlimit(_depth() + 40),  # barely room for dlnkit's next call
    "numpy_raise": lambda: np.seterr(all="raise"),
    "ignore_ctrl_c": lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    "os_exit": exit_if_guarded,
    "sys_exit": lambda: sys.exit("bye"),
}


def process_state() -> dict:
    return {
        "cwd": os.getcwd(),
        "grad": torch.is_grad_enabled(),
        "dtype": torch.get_default_dtype(),
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "anomaly": torch.is_anomaly_enabled(),
        "warnings": list(warnings.filters),
        "recursion": sys.getrecursionlimit(),
        "numpy": np.geterr(),
        "sigint": signal.getsignal(signal.SIGINT),
        "os_exit": os._exit,
    }


def restore_state(state: dict) -> None:
    """The test's own safety net (so that a regression fails this test, not the whole run)."""
    os.chdir(state["cwd"])
    torch.set_grad_enabled(state["grad"])
    torch.set_default_dtype(state["dtype"])
    torch.set_num_threads(state["threads"])
    torch.use_deterministic_algorithms(state["deterministic"])
    torch.set_anomaly_enabled(state["anomaly"])
    warnings.filters[:] = state["warnings"]
    sys.setrecursionlimit(state["recursion"])
    np.seterr(**state["numpy"])
    signal.signal(signal.SIGINT, state["sigint"])


@pytest.fixture(autouse=True)
def _keep_process_state():
    """Each test starts from the same process state, whatever the code under test leaked."""
    before = process_state()
    yield
    restore_state(before)


class ActingClaim(Claim):
    """predict = measure = x; measure first does ``config["actions"]`` (names of ACTIONS)."""

    id = "hostile-acting"
    title = "a claim that changes the process"
    assumptions = (Assumption("calm", "no actions"),)
    tolerance = Tolerance(atol=0.0, reason="integers: exact")
    origin = None

    def predict(self, config):
        return config["x"]

    def measure(self, config, device="cpu"):
        for name in config["actions"]:
            ACTIONS[name]()
        return config["x"]

    def config_strategy(self, drop=()):
        return st.fixed_dictionaries({"x": st.integers(0, 9)})


def _gradient_ok() -> bool:
    """An independent route that dlnkit's own measurements rely on: d(x^2)/dx = 2x."""
    x = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(x * x, x)
    return float(g) == 6.0


@settings(max_examples=max(5, EXAMPLES // 4), deadline=None, suppress_health_check=list(HealthCheck))
@given(actions=st.lists(st.sampled_from(sorted(ACTIONS)), max_size=4))
def test_a_claim_leaves_the_process_as_it_found_it(actions):
    before = process_state()
    try:
        row = ActingClaim().check({"x": 2, "actions": actions})
        after = process_state()
        grad_ok = _gradient_ok()
    finally:
        restore_state(before)
    # the first exit ends the check: an ERROR row that names it; otherwise the row passes
    first_exit = next((a for a in actions if a.endswith("exit")), None)
    expected = "ERROR" if first_exit else "PASS"
    ok = after == before and grad_ok and row.status == expected
    record(SECTION, inputs_tried=1, worked=int(ok), wrong_results=int(not ok))
    changed = sorted(k for k in before if before[k] != after[k])
    assert not changed, f"{actions}: the claim left {changed} changed"
    assert grad_ok and row.status == expected, (actions, row.status, row.message)
    if first_exit == "os_exit":
        assert "os._exit(0)" in row.message
    assert json.loads(json.dumps(row.to_json()))["status"] == expected


CLAIMS = (
    textwrap.dedent("""
    import os, sys, warnings, torch
    import dlnkit as dk
    TOL = dk.Tolerance(atol=0.0, reason="integers: exact")
""")
    + EXIT_IF_GUARDED
    + textwrap.dedent("""

    def leaky(cfg, device):
        torch.set_grad_enabled(False)
        warnings.simplefilter("error")
        sys.setrecursionlimit(60)
        os.chdir("/")
        return cfg["x"]

    def exits(cfg, device):
        if cfg["x"] == 2:
            exit_if_guarded(0)
        return cfg["x"]

    class Odd:
        def __str__(self):
            raise RuntimeError("no text for you")

    def cyclic():
        d = {"x": 1, (1, 2): "a tuple key", "odd": Odd()}
        d["me"] = d
        return d

    dk.define_claim(id="user-leaky", title="x is x, and the process is changed", predict=lambda cfg: cfg["x"],
                    measure=leaky, default_configs=[{"x": 1}], tolerance=TOL)
    dk.define_claim(id="user-os-exit", title="x is x, unless os._exit", predict=lambda cfg: cfg["x"],
                    measure=exits, default_configs=[{"x": 1}, {"x": 2}, {"x": 3}], tolerance=TOL)
    dk.define_claim(id="user-cyclic", title="a configuration JSON cannot hold", predict=lambda cfg: cfg["x"],
                    measure=lambda cfg, device: cfg["x"], default_configs=[cyclic()], tolerance=TOL)
""")
)


@pytest.fixture(scope="module")
def claims_file(tmp_path_factory) -> Path:
    """One file for the module: a claim id can be registered from one file per process."""
    f = tmp_path_factory.mktemp("usercode") / "user_code_claims.py"
    f.write_text(CLAIMS)
    return f


def _verify(claims_file: Path, claim: str, out: Path) -> tuple[int, str, str]:
    return run_cli(["verify", claim, "--from", str(claims_file), "--examples", "0", "-q", "--json", str(out)])


def _rows(path: Path) -> list[tuple[str, str]]:
    return [(r["claim_id"], r["status"]) for r in json.loads(path.read_text())["results"]]


def test_a_claim_that_turns_off_autograd_does_not_change_a_builtin_verdict(claims_file, tmp_path):
    # before the boundary: C1-step (an autograd measurement) after user-leaky was an ERROR row
    out = tmp_path / "r.json"
    cwd = os.getcwd()
    rc, so, err = run_cli(
        ["verify", "user-leaky", "C1-step", "--from", str(claims_file), "--examples", "0", "-q", "--json", str(out)]
    )
    rows = _rows(out) if out.exists() else []
    ok = rc == 0 and rows and all(s == "PASS" for _, s in rows)
    record(SECTION, inputs_tried=1, worked=int(ok), wrong_results=int(not ok), files_lost=int(not out.exists()))
    assert rc == 0, (rc, err, rows)
    assert {c for c, _ in rows} == {"user-leaky", "C1-step"} and all(s == "PASS" for _, s in rows)
    assert os.getcwd() == cwd and torch.is_grad_enabled() and sys.getrecursionlimit() > 60
    assert "user-leaky changed" in err  # said, not silent


def test_os_exit_in_a_claim_is_an_error_row_and_the_other_rows_stay(claims_file, tmp_path):
    # before: os._exit(0) ended dlnkit with status 0, no table, no --json
    out = tmp_path / "r.json"
    rc, so, err = _verify(claims_file, "user-os-exit", out)
    ok = rc == 1 and out.exists() and [s for _, s in _rows(out)] == ["PASS", "ERROR", "PASS"]
    record(SECTION, inputs_tried=1, worked=int(ok), files_lost=int(not out.exists()))
    assert rc == 1, (rc, err)
    assert [s for _, s in _rows(out)] == ["PASS", "ERROR", "PASS"]
    assert "os._exit(0)" in json.loads(out.read_text())["results"][1]["message"]


def test_a_configuration_json_cannot_hold_keeps_the_record(claims_file, tmp_path):
    # before: a cyclic configuration made the --json writer raise: exit 70 and no record
    out = tmp_path / "r.json"
    rc, so, err = _verify(claims_file, "user-cyclic", out)
    record(SECTION, inputs_tried=1, worked=int(rc == 0 and out.exists()), files_lost=int(not out.exists()))
    assert rc == 0, (rc, err)
    (row,) = json.loads(out.read_text())["results"]
    # the row holds a copy of the configuration; its "me" is the user's dict, whose "me" is itself
    assert row["status"] == "PASS" and row["config"]["me"]["me"] == "<cycle>"
    assert row["config"]["(1, 2)"] == "a tuple key" and row["config"]["odd"] == "<Odd object>"


def test_a_from_file_keeps_its_import_time_setup_for_its_own_claims_only(tmp_path):
    f = tmp_path / "float64_claims.py"
    f.write_text(
        textwrap.dedent("""
        import torch
        import dlnkit as dk
        torch.set_default_dtype(torch.float64)  # script-style set-up at the top of the file
        dk.define_claim(id="user-float64-setup", title="torch.zeros is float64 here", predict=lambda cfg: 64,
                        measure=lambda cfg, device: torch.zeros(1).element_size() * 8,
                        default_configs=[{"x": 1}], tolerance=dk.Tolerance(atol=0.0, reason="bit counts: exact"))
        """)
    )
    before = torch.get_default_dtype()
    rc, so, err = run_cli(["verify", "--from", str(f), "--examples", "0", "-q"])
    ok = rc == 0 and torch.get_default_dtype() == before
    record(SECTION, inputs_tried=1, worked=int(ok), wrong_results=int(not ok))
    assert rc == 0, (rc, so, err)  # its own claim saw its float64 set-up
    assert torch.get_default_dtype() == before  # and nobody else does


def test_an_exception_from_a_users_patch_of_dlnkit_names_the_users_file(tmp_path):
    # before: exit 70 "a bug in dlnkit" for an exception raised in the user's own file
    import dlnkit.records.report as report

    f = tmp_path / "patching_claims.py"
    f.write_text(
        textwrap.dedent("""
        import dlnkit as dk
        import dlnkit.records.report as report
        def broken_summary(*args, **kwargs):
            raise ValueError("the user's replacement of format_summary")
        report.format_summary = broken_summary
        dk.define_claim(id="user-patcher", title="x is x", predict=lambda cfg: cfg["x"],
                        measure=lambda cfg, device: cfg["x"], default_configs=[{"x": 1}],
                        tolerance=dk.Tolerance(atol=0.0, reason="exact"))
        """)
    )
    original = report.format_summary
    try:
        rc, so, err = run_cli(["verify", "--from", str(f), "--examples", "0", "-q"])
    finally:
        report.format_summary = original
    clear = rc == 2 and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(rc == 70))
    assert clear, (rc, err)
    assert "patching_claims.py:5" in err and "ValueError" in err


# ----- model factories ----------------------------------------------------------------------

MODEL = (
    textwrap.dedent("""
    import os
    import torch
    from torch import nn
""")
    + EXIT_IF_GUARDED
    + textwrap.dedent("""

    def net():
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))

    def moves():
        os.chdir("/")
        return net()

    def exits():
        exit_if_guarded(0)

    class ExitsInForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)

        def forward(self, x):
            if torch.is_grad_enabled():  # past dlnkit's checks, in the analysis itself
                exit_if_guarded(0)
            return self.lin(x)
""")
)


@pytest.fixture()
def model_folder(tmp_path, monkeypatch) -> Path:
    (tmp_path / "hostile_model.py").write_text(MODEL)
    torch.save({"inputs": torch.randn(6, 3), "targets": torch.randint(0, 2, (6,))}, tmp_path / "d.pt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _spectrum(factory: str) -> tuple[int, str, str]:
    return run_cli(["spectrum", "--model", f"hostile_model.py:{factory}", "--data", "d.pt", "--top", "1"])


def test_a_factory_that_changes_folder_does_not_move_the_data_path(model_folder):
    # before: "--data: no file 'd.pt'" (relative to the folder the factory moved to), exit 2
    rc, so, err = _spectrum("moves")
    record(SECTION, inputs_tried=1, worked=int(rc == 0), wrong_results=int(rc != 0))
    assert rc == 0, (rc, err)
    assert os.getcwd() == str(model_folder) and "lambda_max" in so.replace("λ", "lambda_")


@pytest.mark.parametrize("factory", ["exits", "ExitsInForward"])
def test_os_exit_in_a_factory_or_a_forward_is_one_line_not_success(model_folder, factory):
    # before: os._exit(0) ended dlnkit with status 0 and no output
    rc, so, err = _spectrum(factory)
    clear = rc == 2 and one_line_error(err) and "os._exit(0)" in err
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(not clear))
    assert clear, (rc, err)


# ----- a fresh process: forks, threads, a closed stdout ----------------------------------------

PROCESS_CLAIMS = textwrap.dedent("""
    import os, sys, threading, time
    import dlnkit as dk
    TOL = dk.Tolerance(atol=0.0, reason="integers: exact")

    def measure(cfg, device):
        if cfg["how"] == "fork":
            os.fork()  # the child returns too, into dlnkit's loop
        elif cfg["how"] == "thread":
            threading.Thread(target=time.sleep, args=(600,), name="users-sleeper").start()
        elif cfg["how"] == "close":
            sys.stdout.close()
        return cfg["x"]

    dk.define_claim(id="user-process", title="x is x, after the process is abused", predict=lambda cfg: cfg["x"],
                    measure=measure, tolerance=TOL,
                    default_configs=[{"x": 1, "how": "fork"}, {"x": 2, "how": "thread"}, {"x": 3, "how": "close"}])
""")


def test_a_fork_a_stray_thread_and_a_closed_stdout_neither_hang_nor_duplicate_nor_lose(tmp_path):
    # before: the forked copy ran the rest of verify and raced the parent for --json, the thread
    # held the finished command for its 600 s, and the closed stdout made the table exit 70
    f = tmp_path / "process_claims.py"
    f.write_text(PROCESS_CLAIMS)
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dlnkit", "verify", "--from", str(f), "--examples", "0", "-q", "--json", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=default_sigint,
        start_new_session=True,  # its forked copy too can be ended at once below
    )
    try:
        so, se = proc.communicate(timeout=180)  # the thread sleeps 600 s: waiting for it would time out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        so, se = proc.communicate()
        record(SECTION, inputs_tried=1, wrong_results=1)
        raise AssertionError(f"verify waited for the claim's thread: {se}") from None
    ok = proc.returncode == 0 and out.exists() and "appeared while" not in se
    lost = int(not out.exists())
    record(SECTION, inputs_tried=1, worked=int(ok), files_lost=lost, tracebacks=int(proc.returncode == 70))
    assert proc.returncode == 0, se
    assert [s for _, s in _rows(out)] == ["PASS", "PASS", "PASS"]
    assert "1 claim: 1 PASS" in so  # the table after the claim closed stdout
    assert so.count("1 claim:") == 1 and "appeared while" not in se and "not written by" not in se  # one run
    assert "users-sleeper" in se


# ----- plugins and the counterexample search ----------------------------------------------------

PLUGINS = {
    "exits": "import sys\nsys.exit(0)\n",
    "os_exits": "import os\n" + EXIT_IF_GUARDED + "exit_if_guarded(0)\n",
    "stops": "class Stop(BaseException):\n    pass\nraise Stop('a BaseException from a plugin')\n",
    "moves": "import os\nos.chdir('/')\nCLAIMS = []\n",
}


def test_a_plugin_that_exits_or_raises_a_base_exception_is_skipped_not_the_end_of_dlnkit(tmp_path, monkeypatch):
    # before: sys.exit / os._exit / a BaseException in an installed plugin ended every dlnkit
    # command (plugins load with the built-ins), the last one with status 0 and no output
    from dlnkit.claims import load_entry_point_claims

    dist = tmp_path / "dlnkit_hostile_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dlnkit-hostile-plugins\nVersion: 0.1\n")
    lines = ["[dlnkit.claims]"]
    for name, source in PLUGINS.items():
        (tmp_path / f"dlnkit_hostile_plugin_{name}.py").write_text(source)
        lines.append(f"{name} = dlnkit_hostile_plugin_{name}")
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cwd = os.getcwd()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_entry_point_claims()
    said = " ".join(str(w.message) for w in caught)
    skipped = [n for n in ("exits", "os_exits", "stops") if f"entry point {n!r}" in said]
    ok = len(skipped) == 3 and os.getcwd() == cwd
    record(SECTION, inputs_tried=len(PLUGINS), clear_errors=len(skipped), worked=int(os.getcwd() == cwd))
    assert ok, (skipped, said, os.getcwd())
    assert "sys.exit(0)" in said and "os._exit(0)" in said and "Stop: a BaseException from a plugin" in said


def test_a_raising_violated_function_in_the_counterexample_search_names_the_users_file(tmp_path):
    # before: exit 70 "a bug in dlnkit" for the user's violated() raising outside the check
    f = tmp_path / "violated_claims.py"
    f.write_text(
        textwrap.dedent("""
        import dlnkit as dk
        from hypothesis import strategies as st
        def violated(cfg):
            raise ValueError("the user's violated() is broken")
        dk.define_claim(id="user-violated-raises", title="x is x", predict=lambda cfg: cfg["x"],
                        measure=lambda cfg, device: cfg["x"] + cfg.get("shift", 0),
                        strategy=st.fixed_dictionaries({"x": st.integers(0, 3)}),
                        assumptions={"no_shift": ("shift is 0", {"shift": 0},
                                                  st.fixed_dictionaries({"shift": st.integers(1, 2)}))},
                        violated=violated, tolerance=dk.Tolerance(atol=0.0, reason="integers: exact"))
        """)
    )
    rc, so, err = run_cli(
        ["counterexample", "user-violated-raises", "--from", str(f), "--drop", "no_shift", "--max-examples", "10"]
        + ["-q", "--out", str(tmp_path / "out")]
    )
    clear = rc == 2 and one_line_error(err) and "violated_claims.py:5" in err
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(rc == 70))
    assert clear, (rc, err)


class EditingClaim(Claim):
    """predict and measure both count ``dims``; predict first appends to it (a user's edit)."""

    id = "hostile-editing"
    title = "a claim that edits its configuration"
    assumptions = (Assumption("calm", "no edits"),)
    tolerance = Tolerance(atol=0.0, reason="integers: exact")
    origin = None

    def predict(self, config):
        n = len(config["dims"])
        config["dims"].append(9)
        config["extra"] = "added by predict"
        return n

    def measure(self, config, device="cpu"):
        n = len(config["dims"])
        config["dims"].clear()
        return n

    def config_strategy(self, drop=()):
        return st.fixed_dictionaries({"dims": st.lists(st.integers(1, 5), min_size=1, max_size=4)})


@settings(max_examples=max(5, EXAMPLES // 4), deadline=None)
@given(dims=st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_a_claim_that_edits_its_configuration_changes_neither_the_record_nor_the_callers(dims):
    # before: predict's append reached measure (a FAIL of a true claim), the row recorded the
    # edited dims (a replay would check another configuration) and the caller's dict changed
    given_config = {"dims": list(dims)}
    row = EditingClaim().check(given_config)
    ok = row.status == "PASS" and row.config == {"dims": dims} and given_config == {"dims": dims}
    record(SECTION, inputs_tried=1, worked=int(ok), wrong_results=int(not ok))
    assert row.status == "PASS", row
    assert row.config == {"dims": dims} and given_config == {"dims": dims}


VALUES: dict = {}


class ValueClaim(Claim):
    """predict and measure return whatever the test put in VALUES."""

    id = "hostile-values"
    title = "a claim that returns odd values"
    assumptions = (Assumption("calm", "plain numbers"),)
    tolerance = Tolerance(atol=1e-9, reason="the test's own band")
    origin = None

    def predict(self, config):
        return VALUES["predicted"]

    def measure(self, config, device="cpu"):
        return VALUES["measured"]

    def config_strategy(self, drop=()):
        return st.just({})


_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**30), 10**30),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.complex_numbers(),
    st.binary(max_size=2),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.lists(st.lists(st.floats(), max_size=2), max_size=2),  # ragged
    st.dictionaries(st.text(max_size=2), _SCALARS, max_size=2),
    st.lists(st.floats(allow_nan=True), max_size=3).map(np.array),
    st.lists(st.floats(allow_nan=True, width=32), min_size=1, max_size=3).map(
        lambda x: torch.tensor(x, requires_grad=True)
    ),
)


def _finite_array(x) -> np.ndarray | None:
    try:
        a = np.asarray(x.detach() if isinstance(x, torch.Tensor) else x, dtype=float)
    except (TypeError, ValueError):
        return None
    return a if a.size and np.isfinite(a).all() else None


@settings(max_examples=max(10, EXAMPLES), deadline=None, suppress_health_check=list(HealthCheck))
@given(predicted=_VALUES, measured=_VALUES)
def test_whatever_a_claim_returns_the_row_is_honest_and_its_json_is_written(predicted, measured):
    VALUES.update(predicted=predicted, measured=measured)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about float() of a tensor that requires grad
        row = ValueClaim().check({})
    text = json.dumps(row.to_json())
    p, m = _finite_array(predicted), _finite_array(measured)
    honest = row.status in ("PASS", "FAIL", "ERROR") and (
        row.status != "PASS" or (p is not None and m is not None and np.allclose(p, m, rtol=0, atol=1e-9))
    )
    record(SECTION, inputs_tried=1, worked=int(honest), wrong_results=int(not honest))
    assert honest, (predicted, measured, row)  # a PASS only for finite numbers within the band
    assert json.loads(text)["status"] == row.status
