r"""The alignment decomposition of arXiv:2606.02596 on deep linear networks, in closed form.

**The per-layer block.** For :math:`f(x) = W_L\cdots W_1x`, whitened data
(:math:`\frac1B X^\top X = I`) and :math:`\ell = \frac1{2B}\|XW^\top - Y\|_F^2 = \frac12\|W-M\|_F^2 + c`,
write :math:`W = P_lW_lQ_l`. As a function of :math:`W_l` alone the loss is quadratic, so its
Hessian is constant: :math:`\tfrac12\|P_l\,\Delta\,Q_l\|_F^2 = \tfrac12\operatorname{vec}_r(\Delta)^\top
\big((P_l^\top P_l)\otimes(Q_lQ_l^\top)\big)\operatorname{vec}_r(\Delta)` by
:math:`\operatorname{vec}_r(A X B) = (A\otimes B^\top)\operatorname{vec}_r(X)`. Hence, exactly and at
*any* point (the residual never enters a diagonal block),

.. math:: H_{ll} = (P_l^\top P_l)\otimes(Q_lQ_l^\top)\quad\text{(row-major, output factor first)},

which is :math:`(Q_lQ_l^\top)\otimes(P_l^\top P_l)` in the column-major order (docs/claims.md#conventions).
:func:`derive_dln_layer_block` derives it from the loss with symbolic matrices.

**Balanced aligned points with a target sharing the bases.** :math:`M = U\,\mathrm{diag}(t)V^\top`,
:math:`W_1 = R_1SV^\top`, :math:`W_l = R_lSR_{l-1}^\top`, :math:`W_L = USR_{L-1}^\top`,
:math:`S=\mathrm{diag}(s)`. Then :math:`P_l = US^{L-l}R_l^\top`, :math:`Q_l = R_{l-1}S^{l-1}V^\top`,
:math:`E = W - M = U\,\mathrm{diag}(e)V^\top` with :math:`e_k = s_k^L - t_k`, and the layer gradient is

.. math:: G_l = P_l^\top E Q_l^\top = R_l\,\mathrm{diag}\big(s_k^{L-1}e_k\big)R_{l-1}^\top .

So, mode by mode (k = 1..r; R_l e_k and R_{l-1} e_k are the singular vectors):

* :math:`\sigma_k = s_k^{L-1}|s_k^L - t_k|`, :math:`h_k = s_k^{2(L-l)}s_k^{2(l-1)} = s_k^{2(L-1)}`
  (independent of l and t);
* empirical factors :math:`C_\delta = P_l^\top EE^\top P_l`, :math:`C_A = Q_lQ_l^\top`: eigenvalues
  :math:`s_k^{2(L-l)}e_k^2` and :math:`s_k^{2(l-1)}`, so :math:`\Lambda_k = \sigma_k^2`,
  :math:`\Phi_k = 1` (mode pairing), :math:`\chi_k = 1/e_k^2`;
* Gauss-Newton factors :math:`C_\delta = P_l^\top P_l`: :math:`\Lambda_k = s_k^{2(L-1)} = h_k`,
  :math:`\Phi_k = 1`, :math:`\chi_k = 1` (the Kronecker form is exact).

**Answers read off the formulas.**

* :math:`\log h_k = 2\log\sigma_k - 2\log|e_k|`, so the least-squares :math:`\alpha` over a window is
  :math:`2 - 2\,\widehat{\mathrm{slope}}(\log|e_k|\text{ on }\log\sigma_k)`. **α = 2 exactly iff the
  residual magnitude** :math:`|s_k^L - t_k|` **is the same for every direction in the window** (in
  particular L = 1 gives h_k = 1, α = 0 unless the residual is flat).
* When every mode has made the same relative progress, :math:`s_k^L = c\,t_k`:
  :math:`\sigma_k\propto t_k^{(2L-1)/L}`, :math:`h_k\propto t_k^{2(L-1)/L}`, so
  :math:`\alpha = 2(L-1)/(2L-1)` (2/3 at L = 2, tending to 1 with depth) -- far from 2.
* The paper's canonical form :math:`\Lambda_k = \sigma_k^2/\chi_k` holds (either factor convention)
  iff :math:`e_k^2 = 1`; in general the empirical factors give :math:`\Lambda_k = \sigma_k^2` (no
  :math:`\chi`) and the GN factors :math:`\Lambda_k = \sigma_k^2/e_k^2`. Its consequence
  :math:`\alpha = 2 + d\log\Phi/d\log\sigma` holds iff the residual is flat over the window.
* With the paper's index pairing :math:`\Phi_k` can differ from 1 even though every basis is
  aligned: the order of the :math:`\sigma_k` need not be the order of the factor eigenvalues.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from dlnkit.arguments import DlnkitInputError, checked
from dlnkit.theory.cost_limits import LAYER_BLOCK_MAX_SIZE, check_symbolic_size
from dlnkit.theory.exact_hessian import partial_products_exact
from dlnkit.theory.kronecker import kron, symbolic_matrix, vec_row_major
from dlnkit.theory.symbols import L as L_sym, l as l_sym

s_sym = sp.Symbol("s", positive=True)
t_sym = sp.Symbol("t", positive=True)
c_sym = sp.Symbol("c", positive=True)


@checked
def derive_dln_layer_block(m: int, n: int, p: int, q: int) -> tuple[sp.Matrix, sp.Matrix]:
    r"""(Hessian of the loss in W_l, (P^T P) (x) (Q Q^T)) for symbolic P (p x m), W_l (m x n), Q (n x q).

    Loss :math:`\frac12\|PW_lQ - M\|_F^2` (whitened data), Hessian taken symbolically with
    respect to the entries of :math:`W_l` in row-major order.

    >>> H, K = derive_dln_layer_block(2, 2, 2, 1)
    >>> sp.expand(H - K).is_zero_matrix
    True
    """
    if min(m, n, p, q) < 1:
        raise DlnkitInputError(f"derive_dln_layer_block(): m, n, p, q must be >= 1, got {(m, n, p, q)}")
    check_symbolic_size("the largest of m, n, p, q", max(m, n, p, q), LAYER_BLOCK_MAX_SIZE, "derive_dln_layer_block")
    P = symbolic_matrix("P", p, m)
    Q = symbolic_matrix("Q", n, q)
    Mt = symbolic_matrix("M", p, q)
    W = symbolic_matrix("W", m, n)
    E = P * W * Q - Mt
    loss = sp.Rational(1, 2) * sum(x**2 for x in E)
    w = list(vec_row_major(W))
    H = sp.hessian(loss, w)
    return sp.expand(H), sp.expand(kron(P.T * P, Q * Q.T))


def aligned_mode_closed_forms(
    s: sp.Expr = s_sym, t: sp.Expr = t_sym, depth: sp.Expr = L_sym, layer: sp.Expr = l_sym
) -> dict[str, sp.Expr]:
    """Per-mode closed forms at a balanced aligned point with a target sharing the bases.

    Keys: e, sigma, h, lam_delta_emp, lam_A, lam_delta_gn, Lambda_emp, Lambda_gn, chi_emp,
    chi_gn, Phi_mode (mode pairing), h_kron_emp, h_kron_gn.

    >>> f = aligned_mode_closed_forms(depth=2, layer=1)
    >>> f["h"], sp.simplify(f["Lambda_emp"] - f["sigma"] ** 2)
    (s**2, 0)
    """
    e = s**depth - t
    sigma = s ** (depth - 1) * sp.Abs(e)
    lam_d_emp = s ** (2 * (depth - layer)) * e**2
    lam_a = s ** (2 * (layer - 1))
    lam_d_gn = s ** (2 * (depth - layer))
    h = sp.powsimp(lam_d_gn * lam_a)
    Lambda_emp = sp.powsimp(lam_d_emp * lam_a)
    Lambda_gn = h
    return {
        "e": e,
        "sigma": sigma,
        "h": h,
        "lam_delta_emp": lam_d_emp,
        "lam_A": lam_a,
        "lam_delta_gn": lam_d_gn,
        "Lambda_emp": Lambda_emp,
        "Lambda_gn": Lambda_gn,
        "chi_emp": sp.simplify(h / Lambda_emp),
        "chi_gn": sp.Integer(1),
        "Phi_mode": sp.Integer(1),
        "h_kron_emp": Lambda_emp,
        "h_kron_gn": Lambda_gn,
    }


def derive_aligned_layer_quantities(depth: int, layer: int, rank: int) -> dict[str, list[sp.Expr]]:
    """Build the aligned point in its singular bases (all W diagonal) for concrete L, l, r and
    symbolic s_k, t_k; compute G, the Kronecker factors and h_k from the matrices themselves.

    Returns per-mode lists: G_diag (signed singular values), h, lam_delta_emp, lam_A, lam_delta_gn.
    Used to check :func:`aligned_mode_closed_forms` independently of its algebra.
    """
    s = sp.symbols(f"s_1:{rank + 1}", positive=True)
    t = sp.symbols(f"t_1:{rank + 1}", positive=True)
    S = sp.diag(*s)
    T = sp.diag(*t)
    Ps, Qs = partial_products_exact([S] * depth)
    P, Q = Ps[layer - 1], Qs[layer - 1]  # W_L ... W_{l+1} and W_{l-1} ... W_1
    E = S**depth - T
    G = P.T * E * Q.T
    Cd_emp = P.T * E * E.T * P
    Cd_gn = P.T * P
    CA = Q * Q.T
    H = kron(Cd_gn, CA)  # exact block (derive_dln_layer_block)
    out: dict[str, list[sp.Expr]] = {"G_diag": [], "h": [], "lam_delta_emp": [], "lam_A": [], "lam_delta_gn": []}
    for k in range(rank):
        ek = sp.zeros(rank, 1)
        ek[k] = 1
        x = vec_row_major(ek * ek.T)
        out["G_diag"].append(sp.expand(G[k, k]))
        out["h"].append(sp.expand((x.T * H * x)[0, 0]))
        out["lam_delta_emp"].append(sp.expand(Cd_emp[k, k]))
        out["lam_A"].append(sp.expand(CA[k, k]))
        out["lam_delta_gn"].append(sp.expand(Cd_gn[k, k]))
    return out


def local_alpha(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""d log h / d log sigma along a family s(tau), written with g = d log|e| / d log s:
    :math:`\alpha = 2(L-1)/((L-1) + g)` (g = 0: flat residual, alpha = 2).

    >>> local_alpha(3)
    4/(g + 2)
    """
    g = sp.Symbol("g", real=True)
    return sp.simplify(2 * (depth - 1) / ((depth - 1) + g))


def alpha_proportional_progress(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""alpha when every mode sits at s_k^L = c t_k (same relative progress): 2(L-1)/(2L-1).

    Derived: sigma_k = (c t)^{(L-1)/L} |c - 1| t, h_k = (c t)^{2(L-1)/L}; take the log-log slope in t.

    >>> alpha_proportional_progress(2)
    2/3
    """
    s_of_t = (c_sym * t_sym) ** (1 / sp.sympify(depth))
    f = aligned_mode_closed_forms(s_of_t, t_sym, depth, 1)
    sigma = (c_sym * t_sym) ** ((depth - 1) / sp.sympify(depth)) * (1 - c_sym) * t_sym  # c < 1 branch
    logh = sp.expand_log(sp.log(sp.powsimp(f["h"], force=True)), force=True)
    logs = sp.expand_log(sp.log(sigma), force=True)
    return sp.simplify(sp.diff(logh, t_sym) / sp.diff(logs, t_sym))


def ls_alpha_from_residuals(sigmas: Sequence[sp.Expr], residuals: Sequence[sp.Expr]) -> sp.Expr:
    r"""Least-squares alpha on aligned DLN modes: :math:`2 - 2\,\widehat{slope}(\log|e|, \log\sigma)`."""
    from dlnkit.theory.kronecker import ls_slope

    x = [sp.log(v) for v in sigmas]
    return 2 - 2 * ls_slope(x, [sp.log(sp.Abs(e)) for e in residuals])


def canonical_form_gap(factors: str = "empirical", depth: sp.Expr = L_sym, layer: sp.Expr = l_sym) -> sp.Expr:
    r"""Lambda_k - sigma_k^2 / chi_k (the paper's canonical form) at the aligned point.

    >>> sp.factor(canonical_form_gap("empirical", 2, 1))
    -s**2*(s**2 - t)**2*(s**2 - t - 1)*(s**2 - t + 1)
    """
    f = aligned_mode_closed_forms(s_sym, t_sym, depth, layer)
    key = "emp" if factors == "empirical" else "gn"
    return sp.simplify(f[f"Lambda_{key}"] - f["sigma"] ** 2 / f[f"chi_{key}"])
