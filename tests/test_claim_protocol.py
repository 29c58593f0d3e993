"""The claim protocol: every engine goes through the claim's own hooks and Claim.check, and the
bugs the restructuring exposed stay fixed (wrong-order partial products in the SymPy explanation,
'anisotropy' meaning two different covariances)."""

from pathlib import Path

import pytest
import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims import all_claims, get_claim
from dlnkit.claims.base import Claim, Tolerance
from dlnkit.claims.depth_explanations import jjt_spectrum_symbolic
from dlnkit.engines.counterexample import find_counterexample
from dlnkit.numerics.dln_hessian import dln_jjt
from dlnkit.numerics.point import aligned_layer_point, aligned_minimum_point, input_covariance
from dlnkit.numerics.validation import DlnkitInputError

ROOT = Path(__file__).resolve().parent.parent


def _rational_weights(dims, seed):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randint(-3, 4, (dims[k + 1], dims[k]), generator=g).to(torch.float64) / 2 for k in range(len(dims) - 1)
    ]


@pytest.mark.parametrize("dims", [[3, 4, 5, 2], [2, 3, 1, 4, 2]])
def test_symbolic_jjt_spectrum_matches_float_jjt_at_unequal_widths(dims):
    # regression: the SymPy explanation multiplied W_{l+1} ... W_L in the wrong order, which raised
    # ShapeError at depth >= 3 with unequal widths (hidden as "(explanation failed ...)")
    Ws = _rational_weights(dims, seed=len(dims))
    exact = jjt_spectrum_symbolic(
        [sp.Matrix([[sp.Rational(str(float(x))) for x in row] for row in W.tolist()]) for W in Ws]
    )
    # roots of cubics come in casus-irreducibilis form: take the real part of the numeric value
    predicted = sorted(float(sp.re(sp.N(k, 30))) for k, v in exact.items() for _ in range(v))
    measured = torch.linalg.eigvalsh(dln_jjt(Ws)).tolist()
    # eigvalsh of an exact-integer-valued small matrix: backward error ~ n eps ||JJ^T||
    scale = max(abs(x) for x in measured)
    torch.testing.assert_close(torch.tensor(measured), torch.tensor(predicted), rtol=0, atol=1e-10 * scale)


def test_balanced_explanation_at_depth_three_unequal_widths():
    cfg = {"dims": [3, 4, 5, 2], "t": [2.0], "seed": 0, "balance": 2.0}
    text = get_claim("B1-ratio").explain(["balanced"], cfg)
    assert "at c = 2 it is" in text and "failed" not in text


def test_anisotropy_means_one_covariance_for_every_point():
    # regression: the alignment points scaled the axes by k^(-1/2)..k^(1/2), a covariance with
    # eigenvalues over [1/k, k], while the depth points (and the docs) use [1/sqrt k, sqrt k]
    k = 4.0
    want = torch.linalg.eigvalsh(input_covariance(3, k, seed=0))
    for pt in (
        aligned_minimum_point({"dims": [3, 4, 2], "t": [1.0, 0.5], "seed": 0, "anisotropy": k}),
        aligned_layer_point({"dims": [3, 4, 2], "s": [1.2, 0.7], "t": [1.0, 0.5], "seed": 0, "anisotropy": k}),
    ):
        got = torch.linalg.eigvalsh(pt.X.T @ pt.X / pt.X.shape[0])
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0)  # exact up to float64 rounding


class _Raising(Claim):
    id = "test-raising"
    assumptions = ()
    tolerance = Tolerance(atol=0.0, reason="test")

    def predict(self, config):
        return 1.0

    def measure(self, config, device="cpu"):
        raise RuntimeError("boom")

    def config_strategy(self, drop=()):
        return st.just({"x": 1})


def test_check_turns_an_exception_into_an_error_row():
    r = _Raising().check({"x": 1})
    assert r.status == "ERROR" and not r.passed and "RuntimeError: boom" in r.message
    assert "traceback" in r.details and r.to_json()["status"] == "ERROR"
    e = _Raising().check({"x": 1}, exact=True)
    assert e.status == "ERROR" and e.message.startswith("no exact route")


def test_bad_device_is_input_error_not_error_row():
    with pytest.raises(DlnkitInputError):
        _Raising().check({"x": 1}, device="tpu")


def test_hook_defaults_and_groups():
    c = _Raising()
    assert c.violated_assumptions({}) is None and not c.has_exact_route and not c.slow
    assert c.full_configs() == c.default_configs() and "No symbolic explanation" in c.explain([], {})
    assert c.group == "classic"
    claims = all_claims()
    assert claims["B1"].group == "arXiv:2602.00545" and claims["A5-zeta"].group == "arXiv:2606.02596"
    assert claims["B0"].has_exact_route and claims["B1-ratio"].has_exact_route


def test_exact_row_through_check():
    r = get_claim("B1").check({"dims": [2, 3, 2], "t": [2.0], "seed": 0}, exact=True)
    assert r.status == "PASS" and r.kind == "exact" and r.config["exact"] is True and r.bound == 0.0


def test_slow_claims_are_refused_by_the_search():
    class Slow(_Raising):
        id = "test-slow"
        slow = True

    with pytest.raises(DlnkitInputError, match="slow"):
        find_counterexample(Slow(), ())


def test_violated_assumptions_come_from_the_claim():
    b1 = get_claim("B1")
    assert b1.violated_assumptions({"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0, "balance": 2.0}) == frozenset(
        {"balanced"}
    )
    assert b1.violated_assumptions({"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0}) == frozenset()


FULL_CLAIM_FILE = """
from hypothesis import strategies as st
from dlnkit.claims.base import Claim, Tolerance


class Slow(Claim):
    id = "test-full-configs"
    slow = True
    tolerance = Tolerance(atol=0.0, reason="integers")

    def predict(self, config):
        return float(config["x"])

    def measure(self, config, device="cpu"):
        return float(config["x"])

    def config_strategy(self, drop=()):
        return st.fixed_dictionaries({"x": st.integers(10, 20)})

    def default_configs(self):
        return [{"x": 1}]

    def full_configs(self):
        return [{"x": 1}, {"x": 2}, {"x": 3}]


CLAIMS = [Slow()]
"""


def test_verify_runs_default_configs_and_full_configs_with_full(tmp_path, capsys):
    from dlnkit.cli import main

    path = tmp_path / "slow_claim.py"
    path.write_text(FULL_CLAIM_FILE)
    # the quick run: default configurations only, and no drawn examples for a slow claim
    assert main(["verify", "--from", str(path), "--examples", "2", "-q"]) == 0
    quick = capsys.readouterr().out
    # --full: the full configurations plus the drawn examples
    assert main(["verify", "--from", str(path), "--examples", "2", "--full", "-q"]) == 0
    full = capsys.readouterr().out
    # one summary line per claim: id, kind, rows, pass, ...
    rows = lambda out: [int(line.split()[2]) for line in out.splitlines() if line.startswith("test-full-configs")]
    assert rows(quick) == [1] and rows(full) == [3 + 2]


def test_loading_a_claims_file_twice_gives_its_claims_once(tmp_path):
    # regression: the second load returned the stale instance of the first load beside the new one
    # (a CLAIMS-list claim is still registered from the first load while the file runs again)
    from dlnkit.claims import get_claim, load_claims_from_file

    path = tmp_path / "twice.py"
    path.write_text(FULL_CLAIM_FILE.replace("test-full-configs", "test-loaded-twice"))
    first = load_claims_from_file(path)
    second = load_claims_from_file(path)
    assert [c.id for c in first] == [c.id for c in second] == ["test-loaded-twice"]
    assert get_claim("test-loaded-twice") is second[0]
