"""Hostile suite, command line: Hypothesis draws argument lists for every cheap command (in
process: ``dlnkit.cli.main([...])``), plus a few real subprocesses. Every input either works or
ends with exit status 2 (bad input) / 3 (computation failed) and exactly one line on stderr;
never a traceback (an uncaught exception, or the CLI's exit 70 "internal error"). Runs that
work are checked against their own claims (spectrum: measured vs predicted eigenvalues), and
the folder the command runs in must hold the same files afterwards, apart from its outputs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dlnkit.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import assert_kept, one_line_error, record, snapshot  # noqa: E402

EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))
SECTION = "command line"


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    import contextlib
    import io

    out_buf, err_buf = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out_buf), contextlib.redirect_stderr(err_buf):
            rc = main(argv)
    except SystemExit as exc:  # argparse (bad flags, --help)
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is a traceback for the user
        record(SECTION, inputs_tried=1, tracebacks=1)
        raise AssertionError(f"dlnkit {' '.join(argv)} raised {type(exc).__name__}: {exc}") from exc
    return int(rc), out_buf.getvalue(), err_buf.getvalue()


def judge(argv, rc, out, err, *, allowed_ok=(0,), check=None) -> str:
    """Classify one run and count it; fail on a traceback / unclear error / wrong result."""
    if rc in allowed_ok:
        wrong = check is not None and not check(out)
        record(SECTION, inputs_tried=1, worked=1, wrong_results=int(wrong))
        assert not wrong, f"dlnkit {' '.join(argv)} worked but its output is wrong:\n{out}"
        return "worked"
    clear = rc in (2, 3) and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(not clear))
    assert clear, f"dlnkit {' '.join(argv)}: exit {rc}, stderr:\n{err}"
    return "error"


# ----- hostile text -------------------------------------------------------------------------

INTS = [
    "0",
    "1",
    "2",
    "3",
    "5",
    "-1",
    "-5",
    "1000000",
    "99999999999999999999",
    "2.5",
    "1e3",
    "nan",
    "",
    " ",
    "x",
    "0x10",
    "٣",
]
FLOATS = ["1", "0.5", "2", "0", "-1", "1e-300", "1e300", "nan", "inf", "-inf", "1e-320", "abc", "", "1,2", "3.0e2"]
DIMS = [
    "3,4,2",
    "2,2",
    "1,1",
    "4,,5,3,",
    "3,4,2,",
    ",3,4",
    "0,2",
    "-1,2",
    "3",
    "",
    "a,b",
    "2.5,3",
    "1000000,1000000",
    "60,60,60",
    "2,2,2,2,2,2,2,2",
    "3, 4, 2",
    "3;4",
    "99999999999999999999,2",
    "5,6,6,4",
]


def _opt(flag: str, values: list[str]):
    return st.one_of(st.just([]), st.sampled_from(values).map(lambda v: [flag, v]))


def _max_eig_error(out: str) -> bool:
    m = re.search(r"max \|measured - predicted\| eigenvalue = (\S+)", out)
    pred = re.search(r"mean \(predicted\)\s*\n(.*)", out)
    return m is not None and pred is not None and float(m.group(1)) <= 1e-6 * max(1.0, _largest_number(out))


def _largest_number(out: str) -> float:
    nums = [abs(float(x)) for x in re.findall(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?", out)]
    finite = [x for x in nums if x == x and x != float("inf")]
    return max(finite) if finite else 1.0


@settings(max_examples=EXAMPLES)
@given(
    st.sampled_from(DIMS),
    _opt("--rank", INTS),
    _opt("--t", FLOATS + ["2,1", "1,1,1,1"]),
    _opt("--m", FLOATS),
    _opt("--seed", INTS),
    _opt("--device", ["cpu", "cuda", "tpu", "auto", ""]),
    st.booleans(),
)
def test_spectrum_arguments(tmp_path_factory, dims, rank, t, m, seed, device, plot):
    work = tmp_path_factory.mktemp("spectrum")
    (work / "keep.txt").write_text("someone else's file")
    before = snapshot(work)
    argv = ["spectrum", "--dims", dims, *rank, *t, *m, *seed, *device]
    if plot:
        argv += ["--plot", str(work / "keep.txt") if len(argv) % 2 else str(work / "s.png")]
    rc, out, err = run_cli(argv)
    judge(argv, rc, out, err, check=_max_eig_error)
    assert_kept(SECTION, before, work)


@settings(max_examples=EXAMPLES)
@given(
    st.sampled_from(["mlp", "cnn", "tanh", "transformer", "resnet", "", "MLP"]),
    _opt("--samples", INTS),
    _opt("--threads", INTS),
    _opt("--k", INTS),
    _opt("--data", ["digits", "tokens", "x"]),
    _opt("--layers", ["fcs.0", "nope", "", ",", "fcs.0,fcs.0"]),
    _opt("--factors", ["empirical", "gn", "z"]),
    st.sampled_from([[], ["--json", "DIR"], ["--json", "FILE"], ["--plot", "FILE"], ["--json", "/proc/x.json"]]),
)
def test_alignment_arguments_are_checked_before_training(
    tmp_path_factory, model, samples, threads, k, data, layers, factors, outs
):
    """Only inputs that must be refused reach the command (valid ones would train): the zoo's
    trainer is replaced by one that fails the test if called."""
    from dlnkit.numerics import zoo

    work = tmp_path_factory.mktemp("alignment")
    (work / "FILE").write_text("not ours")
    before = snapshot(work)
    outs = [str(work / o) if o in ("DIR", "FILE") else o for o in outs]
    if outs and outs[1].endswith("DIR"):
        outs[1] = str(work)
    argv = ["alignment", "--model", model, *samples, *threads, *k, *data, *layers, *factors, *outs]
    trained = []

    def no_training(*a, **kw):
        trained.append(1)
        raise KeyboardInterrupt  # stops the command right there (exit 130), nothing trained

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zoo, "train_model", no_training)
        mp.setenv("DLNKIT_CACHE", str(work / "cache"))
        rc, out, err = run_cli(argv)
    if trained:  # a valid request: it got as far as training, which is the point where bad input was checked
        record(SECTION, inputs_tried=1, worked=1)
        return
    judge(argv, rc, out, err)
    assert_kept(SECTION, before, work)


@pytest.mark.parametrize(
    "argv",
    [
        ["--cases", "nosuch"],
        ["--cases"],
        ["--repeats", "0"],
        ["--repeats", "x"],
        ["--timeout", "nan"],
        ["--out", "/"],
        ["--out", "/proc/none/x.json"],
        ["--device", "tpu"],
        ["--threads", "-1"],
        ["--min-time", "-1"],
    ],
)
def test_bench_arguments_refused_before_measuring(argv):
    """``dlnkit bench ARGS`` runs ``python -m benchmarks ARGS`` as a child; its argument checks run here in process."""
    import contextlib
    import io

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.__main__ import main as bench_main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = bench_main(argv)
        except SystemExit as exc:
            rc = exc.code
    judge(["bench", *argv], rc, "", err.getvalue(), allowed_ok=())


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--nosuch"],
        ["nosuch"],
        ["spectrum"],
        ["sweep"],
        ["sweep", "/nonexistent.json"],
        ["spectrum", "--dims", "3,3", "--rank", "1", "--plot", "/tmp/x.unknownext"],
        ["spectrum", "--dims", "3,3", "--rank", "1", "--plot", "/"],
    ],
)
def test_fixed_bad_invocations(argv):
    rc, out, err = run_cli(argv)
    judge(argv, rc, out, err, allowed_ok=())


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 9)
    | st.sampled_from([0.5, 1e308, -1.0])
    | st.sampled_from(["B0", "nosuch", "dims", "", "x"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["claims", "grid", "fixed", "configs", "draw", "device", "dims", "examples", "seed", "t", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=EXAMPLES)
@given(
    st.one_of(
        JSONISH,
        st.fixed_dictionaries(
            {
                "claims": st.just(["B0"]),
                "configs": st.lists(
                    st.fixed_dictionaries(
                        {
                            "dims": st.sampled_from([[2, 2], [2, 3, 2], [0, 2], [-1], "2,2", [2, 2, 2, 2]]),
                            "seed": st.sampled_from([0, -1, "a", 1.5]),
                        }
                    ),
                    max_size=2,
                ),
            }
        ),
    ),
    st.sampled_from([".json", ".toml", ".txt"]),
)
def test_sweep_config_files(tmp_path_factory, cfg, suffix):
    work = tmp_path_factory.mktemp("sweep")
    path = work / f"s{suffix}"
    path.write_text(json.dumps(cfg))
    before = snapshot(work)
    argv = ["sweep", str(path), "--out", str(work / "out"), "--executor", "serial", "-q"]
    rc, out, err = run_cli(argv)
    judge(argv, rc, out, err, allowed_ok=(0, 1))  # 1: some case failed or errored (recorded as rows)
    assert_kept(SECTION, before, work)


@pytest.mark.parametrize(
    "argv,code",
    [  # the same inputs run in process above; here the real exit status
        (["spectrum", "--dims", "1000000,1000000", "--rank", "1"], 2),
        (["alignment", "--model", "mlp", "--samples", "0"], 2),
    ],
)
def test_real_subprocess_gives_one_line(argv, code, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DLNKIT_CACHE": str(tmp_path)}
    p = subprocess.run(
        [sys.executable, "-m", "dlnkit", *argv], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    judge(argv, p.returncode, p.stdout, p.stderr, allowed_ok=())
    assert p.returncode == code


def test_address_space_limit_is_respected(tmp_path):
    """``ulimit -v 1500000`` (1.4 GiB): the 60,60,60 spectrum is refused by the guard, not by eigvalsh."""
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1500000 * 1024, 1500000 * 1024)); "
        "from dlnkit.cli import main; sys.exit(main(['spectrum', '--dims', '60,60,60', '--rank', '1']))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    judge(["spectrum", "(ulimit -v)"], p.returncode, p.stdout, p.stderr, allowed_ok=())
    assert p.returncode == 2 and "ulimit -v" in p.stderr
    record("memory guards", faults_injected=1, faults_survived=1)


SMALL_INTS = ["0", "1", "2", "-1", "x", "2.5", ""]


@settings(max_examples=max(5, EXAMPLES // 3), suppress_health_check=[HealthCheck.nested_given])
@given(
    st.lists(st.sampled_from(["B0", "B77", "", "b0", "B0,B1", "A2-kron-identity"]), min_size=0, max_size=2),
    _opt("--examples", SMALL_INTS),
    _opt("--seed", INTS),
    _opt("--device", ["cpu", "cuda", "gpu"]),
    st.sampled_from([[], ["--no-defaults"], ["--exact"], ["--strict"], ["--full"]]),
    st.booleans(),
)
def test_verify_arguments(tmp_path_factory, claims, examples, seed, device, flags, to_json):
    work = tmp_path_factory.mktemp("verify")
    (work / "taken.json").write_text("someone else's")
    before = snapshot(work)
    if "--full" in flags and not claims:
        claims = ["B0"]  # the full default run is the lead's, not a fuzz input
    argv = ["verify", *claims, *examples, *seed, *device, *flags, "-q"]
    if to_json:
        argv += ["--json", str(work / ("taken.json" if len(argv) % 2 else "new.json"))]
    if not claims:
        argv = ["verify", "B0", *argv[1:]]
    rc, out, err = run_cli(argv)
    judge(argv, rc, out, err, allowed_ok=(0, 1))
    assert_kept(SECTION, before, work)


@settings(max_examples=max(5, EXAMPLES // 3), suppress_health_check=[HealthCheck.nested_given])
@given(
    st.sampled_from(["B0", "B1", "B77", "B2-limit", ""]),
    st.lists(st.sampled_from(["linear", "nosuch", "", "whitened"]), max_size=2),
    _opt("--max-examples", SMALL_INTS),
    _opt("--max-shrink-calls", SMALL_INTS),
    _opt("--seed", INTS),
    st.booleans(),
)
def test_counterexample_arguments(tmp_path_factory, claim, drops, max_examples, shrink, seed, out):
    work = tmp_path_factory.mktemp("counterexample")
    (work / "B0--drop-linear.json").write_text("not a record")
    before = snapshot(work)
    argv = ["counterexample", claim, *[x for d in drops for x in ("--drop", d)], *max_examples, *shrink, *seed, "-q"]
    if not max_examples:
        argv += ["--max-examples", "3"]  # a valid search stays short
    if out:
        argv += ["--out", str(work)]
    rc, o, err = run_cli(argv)
    judge(argv, rc, o, err, allowed_ok=(0, 1))  # 1: a counterexample was found
    assert_kept(SECTION, before, work)


REPLAY_EDITS = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(["claim", "config", "dropped", "outcome", "format", "error_hex"])),
    st.tuples(
        st.just("set"),
        st.sampled_from(["claim", "config", "dropped", "outcome", "error_hex", "exception"]),
        st.sampled_from(
            [
                None,
                0,
                -1,
                1e308,
                "",
                "B77",
                [],
                {},
                ["x"],
                {"dims": [0, 1]},
                {"dims": "2,2"},
                {"dims": [2, 2], "seed": "a"},
                {"dims": [1000000, 1000000]},
                "nan",
            ]
        ),
    ),
)


@settings(max_examples=EXAMPLES)
@given(st.lists(REPLAY_EDITS, max_size=3))
def test_replay_of_mutated_records(tmp_path_factory, edits):
    work = tmp_path_factory.mktemp("replay")
    rec = json.loads(
        next((Path(__file__).resolve().parents[1] / "counterexamples").glob("B0--drop-*.json")).read_text()
    )
    for edit in edits:
        if edit[0] == "drop":
            rec.pop(edit[1], None)
        else:
            rec[edit[1]] = edit[2]
    path = work / "r.json"
    path.write_text(json.dumps(rec))
    argv = ["replay", str(path)]
    rc, out, err = run_cli(argv)
    judge(argv, rc, out, err, allowed_ok=(0, 1))  # 0 reproduces, 1 differs / passes now; 2, 3: one line


# ----- every numeric flag through one bounded type ------------------------------------------


def _numeric_flags():
    """(command, option string, argparse action) of every flag of every command that takes a number."""
    import argparse

    from dlnkit.cli import build_parser

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*prefix, name])
            elif action.option_strings and action.type is not None and action.type is not str:
                yield " ".join(prefix), action.option_strings[-1], action

    return list(walk(build_parser(), []))


def test_no_flag_takes_a_bare_int_or_float():
    """``type=int`` lets ``--rank 99999999999999999999999`` through to ``[x] * rank`` (exit 70,
    OverflowError); ``type=float`` lets nan and 1e400 through. Every numeric flag names its range."""
    bare = [f"{cmd} {opt}" for cmd, opt, a in _numeric_flags() if a.type in (int, float)]
    record(SECTION, inputs_tried=1, worked=int(not bare), wrong_results=int(bool(bare)))
    assert not bare, f"flags parsed with a bare int/float (no range): {bare}"


ODD_NUMBERS = [
    "0",
    "-1",
    "-0",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "",
    " ",
    "\u00e9",
    "\u0663",
    "99999999999999999999999",
    "-99999999999999999999999",
    "9" * 5000,
    "2147483648",
    "4294967296",
    "1_000",
    "0x10",
    "1e3",
    "2.5",
    "3",
]


@settings(max_examples=max(20, 3 * EXAMPLES), deadline=None)
@given(st.data())
def test_numeric_flags_parse_in_range_or_refuse_in_one_line(data):
    """Any odd text for any numeric flag: parsed to a finite number within the range the flag
    names, or one line and exit 2 from argparse (never an exception, never an unbounded value)."""
    import contextlib
    import io
    import math

    from dlnkit.commands._common import MAX_COUNT, MAX_SEED

    cmd, opt, action = data.draw(st.sampled_from(_numeric_flags()), label="flag")
    text = data.draw(st.sampled_from(ODD_NUMBERS) | st.text(max_size=12), label="value")
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            value = action.type(text)
    except Exception as exc:  # noqa: BLE001 - argparse turns ArgumentTypeError/ValueError/TypeError into its error
        ok = isinstance(exc, (argparse_errors()))
        record(SECTION, inputs_tried=1, clear_errors=int(ok), tracebacks=int(not ok))
        assert ok, f"{cmd} {opt} {text!r}: {type(exc).__name__}: {exc}"
        return
    if isinstance(value, float):  # a float flag: finite (its range is the command's to check)
        bounded = math.isfinite(value)
    else:  # an integer flag: a count or a seed, within the larger of their ranges
        bounded = isinstance(value, int) and abs(value) <= max(MAX_COUNT, MAX_SEED)
    record(SECTION, inputs_tried=1, worked=int(bounded), wrong_results=int(not bounded))
    assert bounded, f"{cmd} {opt} {text!r} parsed to {value!r}"


def argparse_errors():
    import argparse

    return (argparse.ArgumentTypeError, ValueError, TypeError)


@pytest.mark.parametrize(
    "argv",
    [
        ["spectrum", "--dims", "3,3", "--rank", "99999999999999999999999"],
        ["spectrum", "--dims", "3,3", "--rank", "1", "--seed", "99999999999999999999999"],
        ["experiment", "spectral-newton", "--seeds", "99999999999999999999999", "-q"],
        ["counterexample", "B0", "--max-examples", "99999999999999999999999", "-q"],
        ["verify", "B0", "--seed", "99999999999999999999999", "-q"],
    ],
)
def test_huge_counts_are_one_line_not_an_overflow(argv, tmp_path):
    """Seen before: ``spectrum --rank 10**23`` and ``experiment spectral-newton --seeds 10**23``
    ended with exit 70 (OverflowError: an internal error for a user's typo)."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        rc, out, err = run_cli(argv)
    finally:
        os.chdir(cwd)
    judge(argv, rc, out, err, allowed_ok=())
    assert rc == 2


# ----- sweep files: every key the claim does not read is refused ----------------------------

KEY_TEXT = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz_0123456789"), min_size=1, max_size=14)


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None, suppress_health_check=list(HealthCheck))
@given(key=KEY_TEXT | st.sampled_from(["learning_rate", "depht", "width", "Dims", "dims ", "batch", "twist", "t"]))
def test_every_unknown_sweep_key_is_refused(tmp_path_factory, key):
    """Before: a key was refused only when close to a known one (``dimz``); ``learning_rate`` or
    ``depht`` were ignored and the case passed on the claim's defaults. Now every key that B1
    does not read is one line naming the keys it reads; its own keys (``batch``, an optional
    knob; ``twist``, the old name of ``misalignment``) still run."""
    from dlnkit.claims import get_claim
    from dlnkit.configs.knobs import KNOB_ALIASES
    from dlnkit.engines.config_checks import known_config_keys

    work = tmp_path_factory.mktemp("sweepkey")
    known = known_config_keys(get_claim("B1"))
    value = {"batch": 12, "t": [1.0], "seed": 3, "twist": 0.0}.get(key, 0.5)
    cfg = {"claims": ["B1"], "configs": [{"dims": [2, 2], "t": [1.0], key: value}]}
    (work / "s.json").write_text(json.dumps(cfg))
    argv = ["sweep", str(work / "s.json"), "--out", str(work / "out"), "--executor", "serial", "-q"]
    rc, out, err = run_cli(argv)
    readable = KNOB_ALIASES.get(key, key) in known
    judge(argv, rc, out, err, allowed_ok=(0,) if readable else ())
    if not readable:
        assert rc == 2 and "dims" in err and repr(key) in err, err
        assert not (work / "out" / "cases").exists()


class _ReadKeys(dict):
    """A configuration that notes every key looked up in it."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.read: set = set()

    def __getitem__(self, k):
        self.read.add(k)
        return super().__getitem__(k)

    def get(self, k, default=None):
        self.read.add(k)
        return super().get(k, default)

    def __contains__(self, k):
        self.read.add(k)
        return super().__contains__(k)


def test_declared_optional_keys_are_read():
    """Each built-in claim's ``optional_config_keys`` are keys its predict/measure do look up
    (a declaration that rots would let a key through that nothing reads)."""
    from dlnkit.claims import all_claims, get_claim

    claims = [get_claim(c) for c in all_claims()]
    declared = [c for c in claims if "optional_config_keys" in type(c).__dict__]  # not inherited ones
    assert {c.id for c in declared} >= {"B0", "B1", "C2-balanced", "C5-top", "A4-seig"}
    for claim in declared:
        cfg = _ReadKeys(claim.default_configs()[0])
        claim.measure(cfg)
        if set(claim.optional_config_keys) - cfg.read:
            claim.predict(cfg)
        unread = set(claim.optional_config_keys) - cfg.read
        record(SECTION, inputs_tried=1, worked=int(not unread), wrong_results=int(bool(unread)))
        assert not unread, f"{claim.id} declares {sorted(unread)} but never reads them"


# ----- what a command finds by default in a source checkout ---------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_notebooks_list_finds_the_checkout_sources():
    """``dlnkit notebooks --list`` with no --src looked for ``dlnkit/proofs_notebooks`` beside
    ``dlnkit/engines`` (one folder too deep since the engines moved) and refused in every checkout."""
    rc, out, err = run_cli(["notebooks", "--list"])
    expected = sorted(p.stem for p in (REPO / "proofs_notebooks").glob("[0-9][0-9]_*.py"))
    judge(["notebooks", "--list"], rc, out, err, check=lambda o: all(s in o for s in expected))
    assert rc == 0 and expected


def test_run_records_name_the_commit_of_a_checkout():
    """Records said ``git_commit: ""`` in every checkout (the lookup started one folder too deep):
    a record that cannot say which code made it is not reproducible."""
    from dlnkit.records.run_record import _git_commit

    commit = _git_commit()
    in_checkout = (REPO / ".git").exists()
    wrong = bool(re.fullmatch(r"[0-9a-f]{40}( \(with uncommitted changes\))?", commit)) != in_checkout
    record(SECTION, inputs_tried=1, worked=int(not wrong), wrong_results=int(wrong))
    assert not wrong, (commit, in_checkout)


# ----- flags that the chosen mode would silently ignore --------------------------------------

MODEL_ONLY = [
    ["--json", "OUT"],
    ["--kind", "ggn"],
    ["--top", "3"],
    ["--probes", "2"],
    ["--steps", "5"],
    ["--trace-products", "4"],
    ["--batch-size", "7"],
    ["--per-layer"],
    ["--dtype", "float32"],
    ["--data", "digits"],
    ["--weights", "w.pt"],
    ["--loss", "mse"],
    ["--reduction", "sum"],
]
USER_ONLY_ALIGNMENT = [
    ["--weights", "w.pt"],
    ["--loss", "mse"],
    ["--reduction", "sum"],
    ["--dtype", "float32"],
    ["--device", "cpu"],
    ["--batch-size", "7"],
    ["--layer-types", "fcs.0=linear"],
]


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    case=st.one_of(
        st.tuples(st.just("dln"), st.lists(st.sampled_from(MODEL_ONLY), min_size=1, max_size=3)),
        st.tuples(
            st.just("zoo-spectrum"),
            st.lists(
                st.sampled_from([["--rank", "2"], ["--m", "2"], ["--t", "1,1"]] + MODEL_ONLY[-3:-1]),
                min_size=1,
                max_size=2,
            ),
        ),
        st.tuples(st.just("zoo-alignment"), st.lists(st.sampled_from(USER_ONLY_ALIGNMENT), min_size=1, max_size=3)),
    )
)
def test_flags_the_mode_ignores_are_refused(tmp_path_factory, case):
    """Seen before: ``spectrum --dims 3,3 --rank 1 --json out.json`` exited 0 and wrote no JSON;
    ``--kind ggn`` there printed the Hessian's spectrum; ``alignment --model mlp --weights
    mine.pt --dtype float32`` analysed the zoo's float64 weights. A flag the chosen mode does not
    read is one line and exit 2, before any training (the zoo trainer fails the test if called)."""
    from dlnkit.numerics import zoo

    mode, flags = case
    work = tmp_path_factory.mktemp("ignored")
    extra = [str(work / x) if x in ("OUT",) else x for f in flags for x in f]
    if mode == "dln":
        argv = ["spectrum", "--dims", "3,3", "--rank", "1", *extra]
    elif mode == "zoo-spectrum":
        argv = ["spectrum", "--model", "mlp", "-q", *extra]
    else:
        argv = ["alignment", "--model", "mlp", "-q", *extra]
    trained = []

    def no_training(*a, **kw):
        trained.append(1)
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zoo, "train_model", no_training)
        mp.setenv("DLNKIT_CACHE", str(work / "cache"))
        rc, out, err = run_cli(argv)
    judge(argv, rc, out, err, allowed_ok=())
    assert rc == 2 and not trained and not (work / "OUT").exists(), (rc, err)
