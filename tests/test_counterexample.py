"""The counterexample engine: dropped assumptions break the claim (and the shrunk example really
violates them), kept assumptions give an empty search, shrinking stays small, replay is exact."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import strategies as st

from dlnkit.claims import get_claim
from dlnkit.claims.base import Claim, Tolerance
from dlnkit.engines.counterexample import (
    config_size,
    evaluate,
    find_counterexample,
    load_counterexample,
    regression_test_source,
    replay,
    replay_record,
    save_counterexample,
)

BUDGET = 30  # examples per search: every search here finds its counterexample in far fewer
SHRINK = 80  # evaluations spent shrinking
#: stated bound on a shrunk configuration: at most this many weights and depth at most 3
MAX_SHRUNK_WEIGHTS, MAX_SHRUNK_DEPTH = 16, 3

GALLERY = Path(__file__).resolve().parent.parent / "counterexamples"

# every depth assumption of the issue is an assumption of B1-ratio; linearity also of B0
DROPS = [("B1-ratio", a) for a in get_claim("B1-ratio").assumption_names] + [("B0", "linear")]


@pytest.fixture(scope="module")
def searches():
    return {}


def _search(searches, cid, name):
    key = (cid, name)
    if key not in searches:
        searches[key] = find_counterexample(
            get_claim(cid), [name] if name else [], max_examples=BUDGET, seed=0, max_shrink_calls=SHRINK
        )
    return searches[key]


@pytest.mark.parametrize("cid,name", DROPS)
def test_dropping_an_assumption_finds_a_small_counterexample_that_violates_it(searches, cid, name):
    res = _search(searches, cid, name)
    assert res.found, res.summary()
    ce = res.counterexample
    assert name in res.violated, res.summary()  # shrinking did not land on a configuration satisfying it
    assert config_size(ce.config) <= MAX_SHRUNK_WEIGHTS, res.summary()
    assert len(ce.config["dims"]) - 1 <= MAX_SHRUNK_DEPTH, res.summary()
    # the reported failure is real: an exception, or an error beyond the bound on re-evaluation
    again = evaluate(get_claim(cid), ce.config)
    assert again.failed
    if ce.outcome == "miss":
        assert not (again.error <= again.bound)


@pytest.mark.parametrize("cid", ["B1-ratio", "B0"])
def test_keeping_every_assumption_gives_an_empty_search(cid):
    res = find_counterexample(get_claim(cid), [], max_examples=BUDGET, seed=0)
    assert not res.found, res.summary()
    assert res.calls >= BUDGET // 2  # Hypothesis may skip duplicates
    assert "no counterexample in" in res.summary()


def test_b1_prediction_at_a_narrow_bottleneck():
    # satisfies every B1 assumption (hidden width 1 >= rank 1, balanced aligned minimum, whitened);
    # found by this engine: the prediction used to pad with P - d_in*d_out zeros, negative when P < d_in*d_out
    ev = evaluate(get_claim("B1"), {"dims": [2, 1, 3], "t": [0.5], "seed": 0})
    assert ev.outcome == "pass", ev.exception


@pytest.mark.parametrize("n,c", [(2, 0.5), (3, 2.0)])
def test_ratio_survives_imbalance_at_depth_two_with_square_ends(n, c):
    # SymPy side (gallery README): at L = 2, d_in = d_out, the c^-2 and c^2 bulks average to the dominant
    # cluster's factor, so the ratio stays 2 although the point is unbalanced
    cfg = {"dims": [n, n, n], "t": [1.0], "seed": 1, "balance": c}
    assert evaluate(get_claim("B1-ratio"), cfg).outcome == "pass"
    assert evaluate(get_claim("B1-ratio"), {**cfg, "dims": [n, n, n + 1]}).outcome == "miss"


def test_replay_is_bit_for_bit_on_cpu_and_emits_a_regression_test(searches, tmp_path):
    res = _search(searches, "B1-ratio", "balanced")
    path = save_counterexample(res, tmp_path / "ce.json")
    rec = load_counterexample(path)
    assert float.fromhex(rec["error_hex"]) == res.counterexample.error
    r = replay(path)
    assert r.exact, r.summary()
    assert r.still_fails
    assert float.hex(r.now.error) == rec["error_hex"]
    # a tampered record is noticed
    bad = dict(rec, error_hex=float.hex(float.fromhex(rec["error_hex"]) * (1 + 2**-40)))
    assert not replay_record(bad).exact
    # the emitted regression module runs and passes
    ns = {}
    exec(compile(regression_test_source(path), "regression", "exec"), ns)
    tests = [f for k, f in ns.items() if k.startswith("test_")]
    assert len(tests) == 2
    for f in tests:
        f()


def test_ctrl_c_keeps_the_best_failure_found_so_far():
    class Toy(Claim):
        id = "toy"
        tolerance = Tolerance(atol=5.0, reason="test")
        calls = 0

        def config_strategy(self, drop=()):
            return st.fixed_dictionaries({"x": st.integers(0, 1000)})

        def predict(self, config):
            return 0.0

        def measure(self, config, device="cpu"):
            Toy.calls += 1
            if Toy.failing and config["x"] <= 5:
                raise KeyboardInterrupt  # the user presses Ctrl-C while shrinking
            return float(config["x"])

    Toy.failing = False
    claim = Toy()
    orig = claim.compare

    def compare(p, m, c):
        out = orig(p, m, c)
        Toy.failing = Toy.failing or not out.passed
        return out

    claim.compare = compare
    res = find_counterexample(claim, [], max_examples=200, seed=0)
    assert res.interrupted
    assert res.found and res.counterexample.config["x"] > 5


def test_cli_counterexample_and_replay(tmp_path, capsys):
    from dlnkit.cli import main

    assert (
        main(["counterexample", "B1", "--drop", "whitened", "--max-examples", "10", "-q", "--out", str(tmp_path)]) == 1
    )
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["violated"] == ["whitened"]
    assert main(["replay", str(files[0])]) == 0
    assert "bit-for-bit" in capsys.readouterr().out
    test_file = tmp_path / "test_reg.py"
    assert main(["replay", str(files[0]), "--emit-test", str(test_file)]) == 0
    assert "def test_" in test_file.read_text()
    assert main(["counterexample", "B1", "--drop", "no_such_assumption"]) == 2
    assert main(["counterexample", "B2-limit"]) == 2  # training claims are refused: too slow to search


@pytest.mark.parametrize(
    "path", sorted(p for p in GALLERY.glob("*.json") if p.name != "gallery-index.json"), ids=lambda p: p.stem
)
def test_gallery_entries_still_break_and_replay(path):
    rec = load_counterexample(path)
    assert set(rec["dropped"]) & set(rec["violated"])
    assert rec["size"] <= MAX_SHRUNK_WEIGHTS
    r = replay(path)
    assert r.still_fails, r.summary()
    assert r.now.outcome == rec["outcome"]
    if rec["outcome"] == "miss" and math.isfinite(float.fromhex(rec["error_hex"])):
        # exact on the machine that made them; elsewhere BLAS may round differently
        assert r.now.error == pytest.approx(float.fromhex(rec["error_hex"]), rel=1e-6)
