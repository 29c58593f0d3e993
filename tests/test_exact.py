"""Exact (rational) mode: two independent exact Hessian routes agree entry by entry, the float64
routes agree with them to rounding, exact zeros appear exactly where the theory puts them, and an
exact check fails when its assumption is broken."""

import contextlib
import io
from pathlib import Path

import pytest
import sympy as sp
import torch
from hypothesis import given, settings

from dlnkit import strategies as ds
from dlnkit.claims import get_claim
from dlnkit.cli import main
from dlnkit.exact import FLOAT_VS_EXACT_RTOL, check_exact, exact_point, float_point, float_vs_exact_hessian
from dlnkit.theory.exact_hessian import (
    end_to_end_exact,
    exact_dln_hessian,
    exact_dln_hessian_by_differentiation,
    exact_eigenvalue_multiplicity,
    exact_nullity,
    exact_rank,
    rational_balanced_minimum,
    rational_orthogonal,
)
from dlnkit.theory.symmetry import (
    balanced_minimum_zero_count,
    rescaling_orbit_dimension,
    rescaling_tangent_vectors_exact,
    stabiliser_dimension_exact,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "symmetry_claims.py"


@settings(max_examples=8)
@given(ds.rational_points(max_depth=3, max_width=3))
def test_exact_routes_agree_and_float64_is_within_rounding(cfg):
    pt = exact_point(cfg)
    H = exact_dln_hessian(pt["weights"], pt["sigma"], pt["cross"])
    assert H == exact_dln_hessian_by_differentiation(pt["weights"], pt["sigma"], pt["cross"])
    assert H.is_symmetric()
    errs = float_vs_exact_hessian(pt, H)
    assert errs["closed_form"] <= FLOAT_VS_EXACT_RTOL and errs["torch_func"] <= FLOAT_VS_EXACT_RTOL


def test_exact_route_with_anisotropic_data_and_residual():
    cfg = {"dims": [3, 2, 2, 2], "t": [2.0, 1.0], "seed": 4, "offset": 0.25, "anisotropy": 4.0, "balance": 2.0}
    pt = exact_point(cfg)
    assert pt["sigma"] != sp.eye(3)
    H, gn, res = exact_dln_hessian(pt["weights"], pt["sigma"], pt["cross"], parts=True)
    assert H == exact_dln_hessian_by_differentiation(pt["weights"], pt["sigma"], pt["cross"])
    assert not res.is_zero_matrix  # off the minimum the residual part is there ...
    assert all(res[i, j] == 0 for i in range(6) for j in range(6))  # ... but not in a diagonal block
    assert max(float_vs_exact_hessian(pt, H).values()) <= FLOAT_VS_EXACT_RTOL


def test_rational_orthogonal_and_balanced_minimum_are_exact():
    Q = rational_orthogonal(4, seed=3)
    assert Q.T * Q == sp.eye(4) and any(x.q > 1 for x in Q)
    Ws, M = rational_balanced_minimum([3, 4, 4, 2], [sp.Rational(3, 2), sp.Rational(1, 2)], seed=1)
    assert end_to_end_exact(Ws) == M
    for a, b in zip(Ws, Ws[1:]):
        assert b.T * b == a * a.T  # balanced, exactly


@pytest.mark.parametrize("dims,s", [([3, 4, 2], ["3/2", "1/2"]), ([2, 3, 3, 2], ["2"]), ([3, 3, 3], ["1", "1/2", "2"])])
def test_exact_zero_count_matches_b1_and_the_orbit_is_killed_exactly(dims, s):
    Ws, M = rational_balanced_minimum(dims, [sp.Rational(x) for x in s], seed=0)
    H = exact_dln_hessian(Ws, sp.eye(dims[0]), M)
    r = len(s)
    assert exact_nullity(H) == balanced_minimum_zero_count(dims, r)
    T = rescaling_tangent_vectors_exact(Ws)
    assert (H * T).is_zero_matrix  # every orbit direction, exactly
    assert exact_rank(T) == rescaling_orbit_dimension(dims, r)
    assert stabiliser_dimension_exact(Ws) == sum((d - r) ** 2 for d in dims[1:-1])
    if len(dims) == 3 and len(s) == 2:
        # L = 2: the dominant value for the pair (i, j) is t_i + t_j (t = s^2), once for (1, 2) and
        # once for (2, 1), and nothing else takes that value here
        t1, t2 = (sp.Rational(x) ** 2 for x in s)
        assert exact_eigenvalue_multiplicity(H, t1 + t2) == 2
        assert exact_eigenvalue_multiplicity(H, 2 * t1) == 1


def test_builtin_exact_routes_pass_and_fail_when_they_should():
    for cid, cfg in [
        ("B0", {"dims": [2, 3, 2], "seed": 0, "scale": 1.0, "anisotropy": 4.0}),
        ("B1", {"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0}),
        ("B1-ratio", {"dims": [3, 3, 3, 2], "t": [1.331, 1.331], "seed": 1}),
    ]:
        r = check_exact(get_claim(cid), cfg)
        assert r.status == "PASS", (cid, r.predicted, r.measured, r.details)
        assert r.bound == 0.0 and r.error == 0.0
    bad = check_exact(get_claim("B1"), {"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0, "balance": 2.0})
    assert bad.status == "FAIL"  # unbalanced: same zeros, other nonzero eigenvalues


def test_exact_user_claims_and_the_cli():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["verify", "--from", str(EXAMPLES), "--exact", "--examples", "1", "--no-defaults", "-q", "-v"])
    text = out.getvalue()
    assert rc == 0, text
    for cid in ("sym-orbit-null", "sym-nullity-gap", "gn-at-minimum", "gn-trace-whitened"):
        assert cid in text
    assert "exact=True" in text and "FAIL" not in text.split("\n", 2)[2]


def test_exact_and_float_points_are_the_same_numbers():
    cfg = {"weights": [[["1/2", "-3/4"], ["2", "0"]], [["1/3", "1"]]], "target": [["1", "1/2"]]}
    pt = exact_point(cfg)
    fp = float_point(pt)
    from dlnkit import build_point

    bp = build_point(cfg)
    for a, b in zip(fp.weights, bp.weights):
        assert torch.equal(a, b)
    assert torch.equal(fp.cross, bp.cross)
