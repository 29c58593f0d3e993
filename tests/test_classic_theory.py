"""SymPy derivations of the classic results (C1-C5) against independent routes: explicit symbolic
matrices, direct differentiation, numerical quadrature (mpmath), exact rational Hessians."""

from __future__ import annotations

import itertools

import mpmath
import pytest
import sympy as sp
import torch

from dlnkit.theory import (
    classic_balancedness as c1,
    classic_end_to_end as c2,
    classic_learning_curves as c3,
    classic_origin as c4,
    classic_sharpness as c5,
)
from dlnkit.theory.symbols import L


# ----- C1 ---------------------------------------------------------------------------------------
def _is_zero(expr) -> bool:
    e = sp.simplify(sp.sympify(expr).doit().expand())
    return e == 0 or isinstance(e, sp.ZeroMatrix)


def test_flow_invariance_matrix_symbols_any_size():
    assert _is_zero(c1.flow_derivative_matrix_form())


def test_step_identity_matrix_symbols_any_size():
    change, claimed = c1.step_change_matrix_form()
    assert _is_zero(change - claimed)
    # and the change is really second order: without the eta^2 term it is not zero
    assert not _is_zero(change)


@pytest.mark.parametrize("dims", [[1, 2, 1], [2, 1, 3, 2], [1, 1, 1, 1, 1]])
def test_flow_and_step_on_explicit_matrices(dims):
    assert all(M == sp.zeros(*M.shape) for M in c1.flow_derivative_explicit(dims))
    assert all(M == sp.zeros(*M.shape) for M in c1.step_change_explicit(dims))


def test_neuron_balance_relu_kept_tanh_broken():
    assert c1.neuron_balance_rate("relu") == 0
    assert c1.neuron_balance_rate("linear") == 0
    rate = c1.neuron_balance_rate("tanh")
    vals = {s: sp.Rational(k + 1, 3) for k, s in enumerate(sorted(rate.free_symbols, key=str))}
    assert abs(float(rate.subs(vals))) > 1e-3


# ----- C2 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_balanced_velocity_formula_diagonal(depth):
    assert c2.balanced_velocity_difference(depth, 2) == sp.zeros(2, 2)


@pytest.mark.parametrize("depth", [2, 3])
def test_off_balance_two_term_decomposition(depth):
    assert c2.rescaled_velocity_difference(depth, 2) == sp.zeros(2, 2)


def test_scalar_chain_factor_concrete_vs_symbolic_depth():
    for d in range(2, 7):
        assert sp.simplify(c2.rescaled_velocity_factor(d) - c2.rescaled_velocity_factor().subs(L, d)) == 0
    c = c2.balance_factor
    err = c2.rescaled_velocity_relative_error()
    assert err.subs(c, 1) == 0 and sp.diff(err, c).subs(c, 1) == 0  # second order at balance


# ----- C3 ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_mode_ode_from_layer_flow(depth):
    assert sp.simplify(c3.mode_ode_rhs(depth) - c3.stated_mode_ode(depth)) == 0


def test_logistic_solves_the_depth2_ode():
    sol = c3.logistic_solution()
    assert sp.simplify(sp.diff(sol, c3.t) - c3.stated_mode_ode(2).subs(c3.u, sol)) == 0
    assert sp.simplify(sol.subs(c3.t, 0) - c3.u0) == 0


@pytest.mark.parametrize("depth", [3, 4])
def test_implicit_time_against_quadrature_and_derivative(depth):
    T = c3.implicit_time(depth)
    vals = {c3.s: 1.5, c3.u0: 0.03, c3.u: 0.9}
    f = lambda v: 1 / (v ** (depth - 1) * (1.5 - v**depth))
    quad = mpmath.quad(f, [0.03 ** (1 / depth), 0.9 ** (1 / depth)])
    # the reference is numerical quadrature of the defining integral (tolerance: mpmath's default ~1e-15)
    assert abs(float(T.subs(vals)) - float(quad)) < 1e-10
    dT = sp.diff(T, c3.u).subs(vals)
    assert abs(float(dT) - 1 / float(c3.stated_mode_ode(depth).subs(vals))) < 1e-10


@pytest.mark.parametrize("depth", [3, 4])
def test_hypergeometric_antiderivative(depth):
    F = c3.implicit_time_antiderivative(depth)
    fn = sp.lambdify((c3.v, c3.s), F, "mpmath")
    a, b = 0.2, 0.8
    quad = mpmath.quad(lambda v: 1 / (v ** (depth - 1) * (1.2 - v**depth)), [a, b])
    assert abs(float(fn(b, 1.2) - fn(a, 1.2)) - float(quad)) < 1e-10


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_small_init_learning_time_is_the_leading_term(depth):
    exact = c3.half_time(depth)
    lead = c3.learning_time_small_init(depth)
    ratios = [float((exact / lead).subs({c3.s: 1.0, c3.u0: x})) for x in (1e-4, 1e-8)]
    assert abs(ratios[1] - 1) < abs(ratios[0] - 1) + 1e-12  # converges as u0 -> 0
    assert abs(ratios[1] - 1) < 0.1


# ----- C4 ---------------------------------------------------------------------------------------
def test_origin_hessian_independent_of_sigma_and_zero_for_depth3():
    H = c4.origin_hessian([2, 2, 2])
    assert not any(str(s).startswith("S_") for s in H.free_symbols)
    H3 = c4.origin_hessian([2, 1, 1, 2])
    assert H3.shape == (5, 5) and H3.is_zero_matrix


def test_origin_spectrum_depth2_matches_symbolic_hessian():
    C = sp.Matrix([[3, 0], [0, 1]])
    H = c4.origin_hessian([2, 3, 2], sigma_free=False)
    H = H.subs({sp.Symbol(f"C_{a}{b}"): C[a, b] for a in range(2) for b in range(2)})
    got = {k: v for k, v in H.eigenvals().items()}
    want = c4.origin_spectrum(2, 3, [3, 1], 12)
    assert got == {k: v for k, v in want.items() if v}


@pytest.mark.parametrize("depth", [2, 3])
def test_pair_eigenvalues(depth):
    b, tj = sp.symbols("b t_j", positive=True)
    ev = c4.partial_solution_pair_eigenvalues(depth)
    assert ev[sp.factor(b ** (depth - 2) * (b**depth - tj))] == 1
    assert ev[sp.factor(b ** (depth - 2) * (b**depth + tj))] == 1


def test_descartes_inertia_matches_eigvalsh():
    rng = torch.Generator().manual_seed(0)
    for _ in range(5):
        A = torch.randint(-3, 4, (5, 3), generator=rng).double()
        H = A @ A.T - 2 * torch.eye(5, dtype=torch.float64)
        got = c4.descartes_inertia(sp.Matrix(H.long().tolist()))
        ev = torch.linalg.eigvalsh(H)
        assert got == {
            "index": int((ev < -1e-9).sum()),
            "nullity": int((ev.abs() <= 1e-9).sum()),
            "positive": int((ev > 1e-9).sum()),
        }


def test_partial_solution_counts_exact_hessian_small():
    """Closed-form counts vs the exact rational Hessian on aligned diagonal points (no rounding)."""
    from dlnkit.theory.exact_hessian import exact_dln_hessian

    for dims, t in (([3, 3, 3], [3, 2, 1]), ([2, 3, 2, 2], [4, 1])):
        Lr = len(dims) - 1
        r = len(t)
        for k in range(r + 1):
            for S in itertools.combinations(range(r), k):
                if k > min(dims[1:-1]):
                    continue
                # per-layer values v_i = t[i] (integers), target singular values v_i^L: all exact
                v = {i: sp.Integer(t[i]) for i in range(r)}
                Ws = []
                for q in range(Lr):
                    W = sp.zeros(dims[q + 1], dims[q])
                    for pos, i in enumerate(S):
                        row = pos if q < Lr - 1 else i
                        col = pos if q > 0 else i
                        W[row, col] = v[i]
                    Ws.append(W)
                M = sp.zeros(dims[-1], dims[0])
                for i in range(r):
                    M[i, i] = v[i] ** Lr
                got = c4.descartes_inertia(exact_dln_hessian(Ws, sp.eye(dims[0]), M))
                want = c4.partial_solution_counts(dims, [x**Lr for x in t], S)
                assert (got["index"], got["nullity"]) == (want["index"], want["nullity"]), (dims, S)


# ----- C5 ---------------------------------------------------------------------------------------
def test_top_eigenvalue_matches_b1_numeric():
    from dlnkit.theory import balanced_minimum_spectrum_numeric

    for dims, t in (([3, 4, 2], [2.0, 1.0]), ([2, 3, 3, 3, 2], [1.5, 0.5])):
        top = float(c5.top_eigenvalue_balanced(len(dims) - 1).subs(c5.t1, t[0]))
        assert abs(top - float(balanced_minimum_spectrum_numeric(dims, t)["all"].max())) < 1e-12


def test_orbit_sharpness_minimal_at_balance():
    for d in (2, 3, 5):
        ex = c5.sharpness_excess(d)
        assert ex.subs(c5.c, 1) == 0
        assert all(float(ex.subs({c5.c: x, c5.t1: 1.3})) > 0 for x in (0.5, 0.9, 1.1, 2.0))
        assert sp.simplify(c5.top_eigenvalue_rescaled(d) - c5.top_eigenvalue_rescaled(L).subs(L, d)) == 0


def test_stability_thresholds():
    assert c5.stability_threshold() == 2 / c5.eta
    assert sp.simplify(c5.momentum_stability_threshold().subs(c5.mu, 0) - 2 / c5.eta) == 0
