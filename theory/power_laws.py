r"""Power laws: the transfer identity s = alpha*gamma and the participation-ratio bound (docs/claims.md#a4, #a5).

* If :math:`\sigma_k = b\,k^{-\gamma}` and :math:`h_k = c\,\sigma_k^{\alpha}` then
  :math:`h_k = c\,b^{\alpha}k^{-\alpha\gamma}`: the *directional* curvatures, in the order of the
  :math:`\sigma_k` (which is also their sorted order when :math:`\alpha\gamma>0`), decay with
  exponent :math:`s = \alpha\gamma`. Nothing here says anything about the eigenvalues of the block.
* For :math:`h_k = k^{-s}`, :math:`k = 1, 2, \dots`:
  :math:`PR = (\sum_k k^{-s})^2/\sum_k k^{-2s} = \zeta(s)^2/\zeta(2s)` when :math:`s > 1`
  (:math:`\zeta(2)^2/\zeta(4) = 5/2` exactly); for :math:`s\le 1` the numerator diverges.
* Finite windows :math:`k = k_0..k_0+K-1`: :math:`PR_K = H_K(s)^2/H_K(2s)` with generalised harmonic
  sums. Anchored at :math:`k_0 = 1` it stays below the infinite value (checked numerically, see the
  tests); a window that starts further down the tail is flatter and its PR can exceed
  :math:`\zeta(s)^2/\zeta(2s)` (up to K), and for :math:`s\le1` the window's PR grows without bound in K.
"""

from __future__ import annotations

import sympy as sp

alpha, gamma, b, c = sp.symbols("alpha gamma b c", positive=True)
k = sp.Symbol("k", integer=True, positive=True)
s = sp.Symbol("s", positive=True)


def transfer_identity() -> tuple[sp.Expr, sp.Expr]:
    """(h_k written through sigma_k = b k^-gamma, c b^alpha k^(-alpha gamma)); their difference simplifies to 0.

    >>> lhs, rhs = transfer_identity(); sp.simplify(lhs - rhs)
    0
    """
    sigma_k = b * k ** (-gamma)
    lhs = c * sigma_k**alpha
    rhs = c * b**alpha * k ** (-alpha * gamma)
    return sp.powsimp(sp.expand_power_base(lhs, force=True), force=True), rhs


def transfer_exponent() -> sp.Expr:
    """-d log h_k / d log k for the power-law pair: alpha*gamma.

    >>> transfer_exponent()
    alpha*gamma
    """
    lhs, _ = transfer_identity()
    x = sp.Symbol("x", real=True)  # x = log k
    logh = sp.expand_log(sp.log(lhs.subs(k, sp.exp(x))), force=True)
    return sp.simplify(-sp.diff(logh, x))


def pr_infinite(exponent: sp.Expr = s) -> sp.Expr:
    """zeta(s)^2 / zeta(2s): the PR of k^-s over k >= 1 (s > 1).

    >>> pr_infinite(2)
    5/2
    """
    return (
        sp.nsimplify(sp.zeta(exponent) ** 2 / sp.zeta(2 * exponent))
        if sp.sympify(exponent).is_number
        else sp.zeta(exponent) ** 2 / sp.zeta(2 * exponent)
    )


def pr_infinite_from_sums(exponent: sp.Expr | float) -> sp.Expr:
    """The same limit computed from the two series by :func:`sympy.summation` (independent route).

    >>> pr_infinite_from_sums(2)
    5/2
    """
    num = sp.summation(k ** (-sp.sympify(exponent)), (k, 1, sp.oo))
    den = sp.summation(k ** (-2 * sp.sympify(exponent)), (k, 1, sp.oo))
    return sp.simplify(num**2 / den)


def pr_window(exponent: sp.Expr | float, size: int, start: int = 1) -> sp.Expr:
    """Exact (rational for integer s) PR of k^-s over k = start..start+size-1.

    >>> pr_window(2, 1)
    1
    """
    terms = [sp.Integer(j) ** (-sp.sympify(exponent)) for j in range(start, start + size)]
    return sp.nsimplify(sum(terms) ** 2 / sum(t**2 for t in terms))


def pr_expr(exponent: sp.Expr = s) -> tuple[tuple[sp.Symbol], sp.Expr]:
    """(symbols, expression) for lambdify: s -> zeta(s)^2/zeta(2s)."""
    return (s,), sp.zeta(s) ** 2 / sp.zeta(2 * s)
