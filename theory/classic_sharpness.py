r"""C5: sharpness of deep-linear-network minima and the step-size stability threshold.

* At a balanced aligned global minimum with whitened data the top Hessian eigenvalue is the
  i = j = 1 dominant eigenvalue of B1: :math:`\sum_l t_1^{2(L-l)/L}t_1^{2(l-1)/L} = L\,t_1^{2(L-1)/L}`
  (every other B1 eigenvalue is a sum of terms no larger than these).
* Along the rescaling orbit :math:`W_1 \to cW_1,\ W_2 \to W_2/c` (all global minima, same
  end-to-end map) only the first two layer terms change, by :math:`c^{-2}` and :math:`c^2`:
  :math:`\lambda_{max}(c) = t_1^{2(L-1)/L}\,(L - 2 + c^2 + c^{-2})`, i.e.
  :math:`\lambda_{max}(c) - \lambda_{max}(1) = t_1^{2(L-1)/L}(c - c^{-1})^2 \ge 0`: smallest at
  balance (Mulayoff & Michaeli, ICML 2020, for all minima with the same end-to-end map).
* Gradient descent near a minimum is :math:`\delta_{k+1} = (I - \eta H)\delta_k`, stable iff
  :math:`|1 - \eta\lambda| \le 1` for every eigenvalue: :math:`\lambda_{max} \le 2/\eta`. With
  heavy-ball momentum :math:`\mu` the threshold is :math:`2(1 + \mu)/\eta`.
"""

from __future__ import annotations

import sympy as sp

from dlnkit.arguments import checked
from dlnkit.theory.dln_spectrum import dominant_eigenvalue
from dlnkit.theory.symbols import L as L_sym

__all__ = [
    "t1",
    "c",
    "eta",
    "lam",
    "mu",
    "top_eigenvalue_balanced",
    "top_eigenvalue_rescaled",
    "sharpness_excess",
    "stability_threshold",
    "momentum_stability_threshold",
]

t1 = sp.Symbol("t_1", positive=True)
c = sp.Symbol("c", positive=True)
eta, lam = sp.symbols("eta lambda", positive=True)
mu = sp.Symbol("mu", nonnegative=True)


@checked
def top_eigenvalue_balanced(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""The i = j = 1 dominant eigenvalue of B1, summed over layers: :math:`L t_1^{2(L-1)/L}`.

    >>> top_eigenvalue_balanced()
    L*t_1**(2 - 2/L)
    >>> top_eigenvalue_balanced(3)
    3*t_1**(4/3)
    """
    return sp.powsimp(sp.simplify(dominant_eigenvalue(t1, t1, depth).doit()), force=True)


@checked
def top_eigenvalue_rescaled(depth: int | sp.Expr = L_sym) -> sp.Expr:
    r"""Top eigenvalue at the rescaled minimum (W_1 -> c W_1, W_2 -> W_2 / c), depth >= 2: the layer
    sum with the first term scaled by c^-2 and the second by c^2.

    >>> sp.factor(top_eigenvalue_rescaled(2))
    t_1*(c**4 + 1)/c**2
    """
    depth = sp.sympify(depth)
    m = t1 ** (1 / depth)  # per-layer singular value
    if depth.is_Integer:
        w = [c * m, m / c] + [m] * (int(depth) - 2)
        total = sum(sp.Mul(*[w[k] ** 2 for k in range(int(depth)) if k != j]) for j in range(int(depth)))
        return sp.simplify(total)
    return sp.simplify(m ** (2 * (depth - 1)) * (depth - 2 + c**2 + c**-2))


@checked
def sharpness_excess(depth: int | sp.Expr = L_sym) -> sp.Expr:
    r""":math:`\lambda_{max}(c) - \lambda_{max}(1) = t_1^{2(L-1)/L}(c - 1/c)^2`.

    >>> sp.factor(sharpness_excess(3))
    t_1**(4/3)*(c - 1)**2*(c + 1)**2/c**2
    """
    return sp.factor(sp.simplify(top_eigenvalue_rescaled(depth) - top_eigenvalue_rescaled(depth).subs(c, 1)))


@checked
def stability_threshold() -> sp.Expr:
    r"""Largest curvature at which GD with step eta is (marginally) stable: solve |1 - eta lambda| <= 1.

    >>> stability_threshold()
    2/eta
    """
    sol = sp.solve_univariate_inequality(sp.Abs(1 - eta * lam) <= 1, lam, relational=False)
    return sp.simplify(sol.sup)


@checked
def momentum_stability_threshold() -> sp.Expr:
    r"""Heavy ball x_{k+1} = x_k - eta lambda x_k + mu (x_k - x_{k-1}): the characteristic root
    leaves the unit disk through z = -1 at :math:`\lambda = 2(1 + \mu)/\eta`.

    >>> momentum_stability_threshold()
    2*(mu + 1)/eta
    """
    z = sp.Symbol("z")
    char = z**2 - (1 + mu - eta * lam) * z + mu
    return sp.factor(sp.solve(char.subs(z, -1), lam)[0])
