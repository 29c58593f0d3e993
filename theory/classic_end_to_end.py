r"""C2: the end-to-end dynamics of a balanced deep linear network (arXiv:1802.06509).

Under gradient flow on the layers, :math:`\dot W_j = -g_j = -P_j^\top\nabla Q_j^\top`, the
end-to-end map moves with velocity (product rule)

.. math:: \dot W = \sum_j P_j\dot W_jQ_j = -\sum_{j=1}^{L} (P_jP_j^\top)\,\nabla\,(Q_j^\top Q_j).

At a balanced point (:math:`D_l = 0` for all l) the Gram matrices of the partial products are
fractional powers of the end-to-end ones: :math:`P_jP_j^\top = (WW^\top)^{(L-j)/L}` and
:math:`Q_j^\top Q_j = (W^\top W)^{(j-1)/L}`, so

.. math:: \dot W = -\sum_{j=1}^{L} (WW^\top)^{(j-1)/L}\,\nabla\,(W^\top W)^{(L-j)/L}

(the two index orders give the same sum). Depth acts as a preconditioner that depends on W
only. Balanced weights share singular bases, so after orthogonal changes of basis every layer
is diagonal; :func:`balanced_velocity_difference` checks the identity there with a free
gradient matrix, which proves it for all balanced points of those sizes.

Off balance: rescale a balanced point by :math:`W_1 \to cW_1`, :math:`W_2 \to W_2/c` (same
end-to-end map). Only the first two terms of the sum change:
:math:`P_1P_1^\top \to c^{-2}P_1P_1^\top`, :math:`Q_2^\top Q_2 \to c^2 Q_2^\top Q_2`, so

.. math:: \dot W_c - \dot W_{formula} = (c^{-2} - 1)\,T_1 + (c^2 - 1)\,T_2,\quad
   T_1 = -(WW^\top)^{\frac{L-1}{L}}\nabla,\ T_2 = -(WW^\top)^{\frac{L-2}{L}}\nabla(W^\top W)^{\frac1L}.

For a scalar chain (or one aligned mode with an aligned gradient) the velocity is multiplied
by :math:`(L - 2 + c^2 + c^{-2})/L`, a relative error of :math:`(c - c^{-1})^2/L`
(:func:`rescaled_velocity_relative_error`): second order in :math:`\log c` near balance, and
quadratic in the imbalance :math:`\|D_1\| \propto |c^2 - c^{-2}|`, because there :math:`T_1 = T_2`
and the first-order parts cancel. For a generic gradient :math:`T_1 \ne T_2` and the error is
first order: :math:`\approx 2\log c\,(T_2 - T_1)`.
"""

from __future__ import annotations

import sympy as sp

from dlnkit.arguments import DlnkitInputError, checked
from dlnkit.theory.cost_limits import VELOCITY_MAX_SIZE, check_symbolic_size
from dlnkit.theory.exact_hessian import partial_products_exact

__all__ = [
    "balance_factor",
    "balanced_velocity_difference",
    "rescaled_velocity_difference",
    "rescaled_velocity_factor",
    "rescaled_velocity_relative_error",
]

#: the rescaling W_1 -> c W_1, W_2 -> W_2 / c
balance_factor = sp.Symbol("c", positive=True)


def _diag_chain(
    depth: int, n: int, c: sp.Expr | None = None
) -> tuple[tuple[sp.Symbol, ...], list[sp.Matrix], sp.Matrix]:
    c = sp.Integer(1) if c is None else c
    a = sp.symbols(f"a_1:{n + 1}", positive=True)
    S = sp.diag(*a)
    Ws = [S for _ in range(depth)]
    if depth >= 2:
        Ws[0], Ws[1] = c * Ws[0], Ws[1] / c
    N = sp.Matrix(n, n, lambda i, k: sp.Symbol(f"G_{i}{k}"))
    return a, Ws, N


def _true_velocity(Ws: list[sp.Matrix], N: sp.Matrix) -> sp.Matrix:
    n = N.shape[0]
    out = sp.zeros(n, n)
    for P, Q in zip(*partial_products_exact(Ws)):
        out -= P * P.T * N * Q.T * Q
    return out


def _formula_velocity(a: tuple[sp.Symbol, ...], depth: int, N: sp.Matrix) -> sp.Matrix:
    # W = diag(a^L): (W W^T)^p = diag(a^(2 L p)) with a > 0
    n = N.shape[0]
    out = sp.zeros(n, n)
    for j in range(1, depth + 1):
        left = sp.diag(*[x ** (2 * depth * sp.Rational(j - 1, depth)) for x in a])
        right = sp.diag(*[x ** (2 * depth * sp.Rational(depth - j, depth)) for x in a])
        out -= left * N * right
    return out


def _check_velocity_sizes(route: str, depth: int, n: int) -> None:
    if min(depth, n) < 1:
        raise DlnkitInputError(f"{route}(): depth and n must be >= 1, got {depth} and {n}")
    check_symbolic_size("the larger of depth and n", max(depth, n), VELOCITY_MAX_SIZE, route)


@checked
def balanced_velocity_difference(depth: int, n: int = 2) -> sp.Matrix:
    r"""True velocity minus the fractional-power formula at a balanced point (diagonal layers
    diag(a), free gradient matrix): the zero matrix.

    >>> balanced_velocity_difference(3, 2) == sp.zeros(2, 2)
    True
    """
    _check_velocity_sizes("balanced_velocity_difference", depth, n)
    a, Ws, N = _diag_chain(int(depth), int(n))
    return sp.simplify(_true_velocity(Ws, N) - _formula_velocity(a, int(depth), N))


@checked
def rescaled_velocity_difference(depth: int, n: int = 2) -> sp.Matrix:
    r"""At the rescaled point (c != 1): true velocity - formula - [(c^-2 - 1) T_1 + (c^2 - 1) T_2]:
    the zero matrix (the decomposition of the error is exact).

    >>> rescaled_velocity_difference(3, 2) == sp.zeros(2, 2)
    True
    """
    _check_velocity_sizes("rescaled_velocity_difference", depth, n)
    depth, n = int(depth), int(n)
    c = balance_factor
    a, Ws, N = _diag_chain(depth, n, c)
    L = depth

    def pw(p: sp.Expr) -> sp.Matrix:  # (W W^T)^p = (W^T W)^p here
        return sp.diag(*[x ** (2 * L * p) for x in a])

    T1 = -pw(sp.Rational(L - 1, L)) * N
    T2 = -pw(sp.Rational(L - 2, L)) * N * pw(sp.Rational(1, L))
    diff = _true_velocity(Ws, N) - _formula_velocity(a, L, N) - (c**-2 - 1) * T1 - (c**2 - 1) * T2
    return sp.simplify(diff)


@checked
def rescaled_velocity_factor(depth: sp.Expr | int | None = None) -> sp.Expr:
    r"""Velocity at the rescaled point / balanced formula, for a scalar chain of depth L >= 2:
    :math:`(L - 2 + c^2 + c^{-2})/L`. For a concrete depth it is computed from the chain itself.

    >>> rescaled_velocity_factor(4)
    (c**2 + 1)**2/(4*c**2)
    """
    c = balance_factor
    if depth is None:
        from dlnkit.theory.symbols import L

        return (L - 2 + c**2 + c**-2) / L
    a = sp.Symbol("a", positive=True)
    depth = int(depth)
    w = [c * a, a / c] + [a] * (depth - 2)
    true = sum(sp.Mul(*[w[k] ** 2 for k in range(depth) if k != j]) for j in range(depth))
    return sp.factor(sp.simplify(true / (depth * a ** (2 * (depth - 1)))))


@checked
def rescaled_velocity_relative_error(depth: sp.Expr | int | None = None) -> sp.Expr:
    r"""|velocity - formula| / |formula| on a scalar chain: :math:`(c - 1/c)^2/L`.

    >>> rescaled_velocity_relative_error(2)
    (c - 1)**2*(c + 1)**2/(2*c**2)
    """
    return sp.factor(sp.simplify(rescaled_velocity_factor(depth) - 1))
