"""The public claim API: define_claim, user files (--from), the dlnkit.claims entry-point group,
assumption strategies and drop, and a deliberately false claim shrunk to a small counterexample."""

import contextlib
import io
import textwrap
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, find, settings, strategies as st

import dlnkit as dk
from dlnkit.claims import all_claims, draw_configs, get_claim, load_claims_from_file, load_entry_point_claims
from dlnkit.cli import main
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.theory.symmetry import symmetry_nullity_gap

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "symmetry_claims.py"
FALSE_CLAIM = Path(__file__).resolve().parent / "fixtures" / "false_claim.py"
EXAMPLE_IDS = ["sym-orbit-null", "sym-nullity-gap", "gn-at-minimum", "gn-trace-whitened"]


def one(strategy):
    return draw_configs(strategy, 1, seed=0)[0]


def run_cli(argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


def test_define_claim_checks_and_needs_a_reason():
    c = dk.define_claim(
        id="t-depth",
        title="depth",
        predict=sp.Symbol("L") + 1,
        measure=lambda cfg, device: len(cfg["dims"]),
        strategy=st.just({"dims": [2, 3, 1]}),
        tolerance=dk.Tolerance(atol=0, reason="integer"),
        register=False,
    )
    assert c.check({"dims": [2, 3, 3, 1]}).status == "PASS"
    assert c.check({"dims": [2, 3, 3, 1]}).error == 0.0
    wrong = dk.define_claim(
        id="t-depth-wrong",
        title="depth",
        predict=sp.Symbol("L"),
        measure=lambda cfg, device: len(cfg["dims"]),
        strategy=st.just({"dims": [2, 1]}),
        tolerance=dk.Tolerance(atol=0, reason="integer"),
        register=False,
    )
    assert wrong.check({"dims": [2, 1]}).status == "FAIL"
    with pytest.raises(DlnkitInputError, match="reason"):
        dk.define_claim(
            id="t-noreason",
            title="x",
            predict=0,
            measure=lambda c, d: 0,
            tolerance=dk.Tolerance(atol=1.0),
            register=False,
        )
    with pytest.raises(DlnkitInputError, match="symbols"):
        c2 = dk.define_claim(
            id="t-sym",
            title="x",
            predict=sp.Symbol("nope"),
            measure=lambda c, d: 0,
            tolerance=dk.Tolerance(atol=0, reason="r"),
            register=False,
        )
        c2.predict({"dims": [2, 1]})


def test_assumption_parts_merge_and_drop_draws_the_violating_side():
    c = dk.define_claim(
        id="t-parts",
        title="x",
        predict=0,
        measure=lambda cfg, d: 0,
        strategy=st.fixed_dictionaries({"dims": st.just([2, 2])}),
        assumptions={
            "a": ("a holds", {"a": 0}, st.just({"a": 1})),
            "b": ("b holds", None, lambda cfg: {"b": cfg["a"] + 10}),
            "c": "no violating side",
        },
        tolerance=dk.Tolerance(atol=0, reason="r"),
        register=False,
    )
    assert c.assumption_names == ("a", "b", "c")
    assert one(c.config_strategy()) == {"dims": [2, 2], "a": 0}
    assert one(c.config_strategy(["a", "b"])) == {"dims": [2, 2], "a": 1, "b": 11}
    with pytest.raises(DlnkitInputError, match="no violating"):
        c.config_strategy(["c"])
    with pytest.raises(DlnkitInputError, match="no assumption"):
        c.config_strategy(["zzz"])


def test_user_file_loads_and_the_three_example_claims_pass_their_defaults():
    claims = load_claims_from_file(EXAMPLES)
    assert [c.id for c in claims] == EXAMPLE_IDS
    assert set(EXAMPLE_IDS) <= set(all_claims())
    assert load_claims_from_file(EXAMPLES)[0] is get_claim("sym-orbit-null")  # reloading replaces
    for c in claims:
        for cfg in c.default_configs():
            r = c.check(cfg)
            assert r.passed, (c.id, cfg, r.predicted, r.measured)
    r = get_claim("sym-orbit-null").check({"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0})
    d = r.details
    # B1's zero count: 25 = 16 orbit directions + (d_1 - r)(d_in + d_out - 2r) = 9 others
    assert d["b1_zero_count"] == d["hessian_zero_count"]
    assert d["zeros_not_from_symmetry"] == int(symmetry_nullity_gap([4, 5, 3], 2)) > 0


def test_dropping_global_minimum_breaks_the_orbit_claim():
    c = load_claims_from_file(EXAMPLES)[0]
    cfg = {"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0}
    assert one(c.config_strategy(["global_minimum"]))["offset"] != 0
    off = c.check({**cfg, "offset": 0.2})
    assert not off.passed and int(off.measured) < int(off.predicted)


def test_verify_from_file_shows_the_claims(tmp_path):
    rc, out = run_cli(
        [
            "verify",
            "--from",
            str(EXAMPLES),
            "gn-trace-whitened",
            "--examples",
            "1",
            "-q",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert rc == 0
    assert "gn-trace-whitened" in out and "PASS" in out and "FAIL" not in out.split("\n", 2)[2]
    rc, _ = run_cli(["verify", "--from", str(tmp_path / "missing.py")])
    assert rc == 2


def test_a_clashing_id_is_refused(tmp_path):
    f = tmp_path / "clash.py"
    f.write_text(
        textwrap.dedent("""
        import dlnkit as dk
        dk.define_claim(id="B1", title="x", predict=0, measure=lambda c, d: 0,
                        tolerance=dk.Tolerance(atol=0, reason="r"))
    """)
    )
    with pytest.raises(DlnkitInputError, match="already used"):
        load_claims_from_file(f)
    assert get_claim("B1").source.startswith("arXiv")


def test_false_claim_fails_and_shrinks_to_a_small_counterexample():
    rc, out = run_cli(["verify", "--from", str(FALSE_CLAIM), "--examples", "4", "--seed", "1", "-q"])
    assert rc == 1 and "FAIL" in out
    (claim,) = load_claims_from_file(FALSE_CLAIM)
    shrunk = find(
        claim.config_strategy(),
        lambda cfg: not claim.check(cfg).passed,
        settings=settings(database=None, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck)),
    )
    result = claim.check(shrunk)
    assert not result.passed
    dims, r = shrunk["dims"], len(shrunk["t"])
    assert sum(a * b for a, b in zip(dims, dims[1:])) <= 6  # e.g. [2, 2, 1] or [1, 2, 2]
    # the theory says why: zeros that the symmetry does not explain
    assert int(symmetry_nullity_gap(dims, r)) == int(result.measured) - int(result.predicted) > 0


def test_false_claim_through_the_counterexample_engine():
    ce = pytest.importorskip("dlnkit.engines.counterexample")
    if not hasattr(ce, "find_counterexample"):
        pytest.skip("counterexample engine not available")
    (claim,) = load_claims_from_file(FALSE_CLAIM)
    res = ce.find_counterexample(claim, max_examples=30, seed=0)
    assert res.found
    assert ce.config_size(res.counterexample.config) <= 6


def test_entry_point_group_loads_installed_claims(tmp_path, monkeypatch):
    pkg = tmp_path / "dlnkit_ep_demo.py"
    pkg.write_text(
        textwrap.dedent("""
        import sympy as sp
        import dlnkit as dk
        from hypothesis import strategies as st
        dk.define_claim(id="ep-params", title="P = sum d_l d_(l-1)", predict=sp.Symbol("P"),
                        measure=lambda cfg, device: sum(W.numel() for W in dk.build_point(cfg, device).weights),
                        strategy=st.just({"dims": [3, 4, 2], "seed": 0}),
                        tolerance=dk.Tolerance(atol=0, reason="integer count"))
    """)
    )
    broken = tmp_path / "dlnkit_ep_broken.py"
    broken.write_text("raise RuntimeError('broken plugin')\n")
    dist = tmp_path / "dlnkit_ep_demo-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dlnkit-ep-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[dlnkit.claims]\ndemo = dlnkit_ep_demo\nbroken = dlnkit_ep_broken\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match="broken"):
        loaded = load_entry_point_claims()
    assert "ep-params" in [c.id for c in loaded]
    claim = get_claim("ep-params")
    assert claim.origin.startswith("entry-point:demo")
    assert claim.check(one(claim.config_strategy())).passed
    rc, out = run_cli(["verify", "ep-params", "--examples", "1", "-q"])
    assert rc == 0 and "ep-params" in out
