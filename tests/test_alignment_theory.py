"""SymPy side of the alignment claims: Kronecker identity, slope additivity, DLN closed forms,
s = alpha*gamma, PR/zeta, T(sigma; alpha)."""

import numpy as np
import pytest
import sympy as sp

from dlnkit.theory import alignment as ta, kronecker as tk, power_laws as tp, preconditioners as tpc
from dlnkit.theory.symbols import L as L_sym


@pytest.mark.parametrize("m,n", [(1, 1), (1, 3), (2, 2), (3, 2)])
def test_kronecker_quadratic_form_identity_symbolic(m, n):
    assert tk.kronecker_quadratic_form_gap(m, n) == 0


def test_input_first_order_is_not_the_row_major_form():
    assert tk.kronecker_quadratic_form_gap(2, 2, order="input_first") != 0


def test_row_major_vec_identity():
    assert tk.row_major_vec_identity_gap(2, 3, 2, 2).is_zero_matrix


@pytest.mark.parametrize("N", [2, 3, 5])
def test_ls_slopes_add_over_one_index_set(N):
    assert tk.slope_additivity_gap(N) == 0


def test_dln_layer_block_is_kronecker_of_PtP_and_QQt():
    H, K = ta.derive_dln_layer_block(2, 2, 3, 2)
    assert sp.expand(H - K).is_zero_matrix


@pytest.mark.parametrize("depth,layer", [(1, 1), (2, 1), (2, 2), (3, 2), (4, 1), (4, 4)])
def test_closed_forms_match_the_matrix_derivation(depth, layer):
    d = ta.derive_aligned_layer_quantities(depth, layer, 2)
    s = sp.symbols("s_1:3", positive=True)
    t = sp.symbols("t_1:3", positive=True)
    for k in range(2):
        f = ta.aligned_mode_closed_forms(s[k], t[k], depth, layer)
        assert sp.simplify(d["G_diag"][k] ** 2 - f["sigma"] ** 2) == 0
        assert sp.simplify(d["h"][k] - f["h"]) == 0
        assert sp.simplify(d["lam_delta_emp"][k] - f["lam_delta_emp"]) == 0
        assert sp.simplify(d["lam_A"][k] - f["lam_A"]) == 0
        assert sp.simplify(d["lam_delta_gn"][k] - f["lam_delta_gn"]) == 0
        assert sp.simplify(f["Lambda_emp"] - f["sigma"] ** 2) == 0
        assert sp.simplify(f["chi_emp"] * f["e"] ** 2 - 1) == 0


def test_alpha_equal_progress_formula_and_numbers():
    assert sp.simplify(ta.alpha_proportional_progress(L_sym) - 2 * (L_sym - 1) / (2 * L_sym - 1)) == 0
    # independent numeric route: closed forms at s^L = c t, LS slope of log h on log sigma
    for L in (2, 3, 5):
        t = np.array([3.0, 2.0, 1.3, 0.7])
        s = (0.6 * t) ** (1 / L)
        sigma = s ** (L - 1) * np.abs(s**L - t)
        h = s ** (2 * (L - 1))
        slope = np.polyfit(np.log(sigma), np.log(h), 1)[0]
        assert slope == pytest.approx(2 * (L - 1) / (2 * L - 1), rel=1e-12)


def test_alpha_is_two_exactly_for_a_flat_residual():
    s = np.array([1.3, 1.0, 0.8, 0.5])
    for L in (2, 3):
        t = s**L + 0.4
        sigma = s ** (L - 1) * np.abs(s**L - t)
        h = s ** (2 * (L - 1))
        assert np.polyfit(np.log(sigma), np.log(h), 1)[0] == pytest.approx(2.0, abs=1e-12)
    assert ta.local_alpha(3).subs(sp.Symbol("g", real=True), 0) == 2


def test_canonical_form_holds_only_at_unit_residual():
    gap = ta.canonical_form_gap("empirical")
    assert sp.simplify(gap.subs(ta.t_sym, ta.s_sym**L_sym - 1)) == 0
    assert sp.simplify(gap.subs({ta.t_sym: ta.s_sym**2 - sp.Rational(1, 2), L_sym: 2})) != 0
    gap_gn = ta.canonical_form_gap("gn", 3, 2)
    assert sp.simplify(gap_gn.subs(ta.t_sym, ta.s_sym**3 + 1)) == 0


def test_transfer_exponent_and_zeta_values():
    assert sp.simplify(tp.transfer_exponent() - tp.alpha * tp.gamma) == 0
    assert tp.pr_infinite(2) == sp.Rational(5, 2)
    assert tp.pr_infinite_from_sums(2) == sp.Rational(5, 2)


def test_finite_windows_below_limit_when_anchored_and_above_when_shifted():
    limit = 2.5
    prev = 0.0
    for K in (1, 2, 3, 5, 8, 13):
        pr = float(tp.pr_window(2, K))
        assert pr <= limit and pr >= prev
        prev = pr
    assert float(tp.pr_window(2, 12, start=10)) > limit


def test_transfer_function_identities():
    assert tpc.newton_alpha2_gap(3, 2).is_zero_matrix
    assert tpc.newton_alpha2_gap(2, 3).is_zero_matrix
    assert tpc.polar_limit() == 1
    assert tpc.kronecker_newton_gap(2).is_zero_matrix
