r"""C4: the Hessian at the origin and at the saddles of partial solutions (Kawaguchi,
arXiv:1605.07110; Baldi & Hornik for L = 2).

Loss :math:`\ell = \tfrac12\operatorname{tr}(W\Sigma W^\top) - \operatorname{tr}(WC^\top)` with
:math:`C = Y^\top X/B`. At :math:`W_1 = \dots = W_L = 0`:

* L = 2: the Gauss-Newton part vanishes (every Jacobian factor contains a zero layer) and the
  residual part is the bilinear form :math:`-\operatorname{tr}(\delta W_2\,\delta W_1\,C^\top)`:
  :math:`H = \begin{pmatrix}0 & K^\top\\ K & 0\end{pmatrix}` with K a copy of :math:`-C` for each
  of the :math:`d_1` hidden units, so the eigenvalues are :math:`\pm\sigma_i(C)`, each
  :math:`d_1` times, and zeros. :math:`\Sigma` never enters: **whitening is not needed** once the
  statement is written with C (with whitened data C = M, the target).
* L >= 3: every second derivative of :math:`W_L\cdots W_1` at 0 still contains a zero layer, so
  :math:`H = 0` exactly, for any loss of the end-to-end map.

For any differentiable loss :math:`\ell(W)` the same holds with C replaced by
:math:`-\nabla\ell(0)`; an activation with :math:`\sigma(0) = 0`, :math:`\sigma'(0) = 1`,
:math:`\sigma''(0) = 0` (tanh) gives the same Hessian at 0 as the linear network.

Partial solutions. With whitened data and target :math:`M = U\operatorname{diag}(t)V^\top`
(distinct :math:`t_i > 0`, rank r), keep a subset S of the modes (k = |S|) and realise
:math:`U_S\operatorname{diag}(t_S)V_S^\top` balanced and aligned. It is a critical point. In the
aligned bases the Hessian splits into: B1's k(d_in + d_out) - k^2 positive eigenvalues of the
rank-k minimum, except that each pair (kept i, dropped j) turns two of them into
:math:`t_i^{(L-2)/L}(t_i \pm t_j)` (:func:`partial_solution_pair_eigenvalues` derives this); and
for L = 2 only, each of the :math:`d_1 - k` unused hidden units sees the dropped residual like the
origin: :math:`\pm t_j` for every dropped j. Hence, with inv(S) = #{(i in S, j not in S): t_j > t_i},

.. math:: \text{index} = \operatorname{inv}(S) + [L = 2](d_1 - k)(r - k),\qquad
          \text{nullity} = P - k(d_{in} + d_{out}) + k^2 - [L = 2]\,2(d_1 - k)(r - k).

The only local minimum among them is S = the top-k modes with k = r (every local minimum is
global); the origin is S = {}.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import sympy as sp

from dlnkit.arguments import DlnkitInputError, checked
from dlnkit.theory.cost_limits import PAIR_EIGENVALUES_MAX_DEPTH, check_symbolic_size

__all__ = [
    "origin_hessian",
    "origin_spectrum",
    "partial_solution_pair_eigenvalues",
    "partial_solution_counts",
    "inversions",
    "descartes_inertia",
]


def _symbolic_loss(dims: Sequence[int], sigma_free: bool) -> tuple[sp.Expr, list[sp.Symbol], sp.Matrix, sp.Matrix]:
    dims = [int(d) for d in dims]
    Ws = [
        sp.Matrix(dims[k + 1], dims[k], lambda a, b, k=k: sp.Symbol(f"w{k + 1}_{a}{b}")) for k in range(len(dims) - 1)
    ]
    W = Ws[0]
    for M in Ws[1:]:
        W = M * W
    C = sp.Matrix(dims[-1], dims[0], lambda a, b: sp.Symbol(f"C_{a}{b}"))
    if sigma_free:
        S = sp.Matrix(dims[0], dims[0], lambda a, b: sp.Symbol(f"S_{min(a, b)}{max(a, b)}"))
    else:
        S = sp.eye(dims[0])
    loss = (W * S * W.T).trace() / 2 - (W * C.T).trace()
    return loss, [x for M in Ws for x in M], C, S


@checked
def origin_hessian(dims: Sequence[int], *, sigma_free: bool = True) -> sp.Matrix:
    r"""The Hessian at W = 0 of the loss with a free cross moment C and (``sigma_free``) a free
    symmetric input covariance :math:`\Sigma`. Its entries involve C only, never :math:`\Sigma`.

    >>> H = origin_hessian([2, 1, 1])
    >>> H
    Matrix([
    [    0,     0, -C_00],
    [    0,     0, -C_01],
    [-C_00, -C_01,     0]])
    >>> origin_hessian([1, 1, 1, 1]) == sp.zeros(3, 3)
    True
    """
    loss, params, C, S = _symbolic_loss(dims, sigma_free)
    return sp.hessian(loss, params).subs({p: 0 for p in params})


@checked
def origin_spectrum(
    depth: int, hidden_width: int, singular_values_C: Sequence[Any], num_params: int
) -> Counter[sp.Expr]:
    r"""Predicted eigenvalues (value -> multiplicity) at the origin: L = 2: :math:`\pm\sigma_i(C)`
    with multiplicity :math:`d_1` each, zeros for the rest; L >= 3 (or L = 1: the loss is
    quadratic, not this statement): all zero for L >= 3.

    >>> sorted(origin_spectrum(2, 3, [2, 1], 15).items())
    [(-2, 3), (-1, 3), (0, 3), (1, 3), (2, 3)]
    """
    depth, hidden_width, P = int(depth), int(hidden_width), int(num_params)
    out: Counter[sp.Expr] = Counter()
    if depth >= 3:
        out[sp.Integer(0)] = P
        return out
    if depth != 2:
        raise DlnkitInputError("the origin statement is about depth L >= 2")
    nz = [sp.sympify(x) for x in singular_values_C if x != 0]
    for x in nz:
        out[x] += hidden_width
        out[-x] += hidden_width
    out[sp.Integer(0)] = P - 2 * hidden_width * len(nz)
    return out


@checked
def partial_solution_pair_eigenvalues(depth: int) -> dict[sp.Expr, int]:
    r"""Exact eigenvalues at a partial solution of the smallest case: dims [2] * (L + 1), kept mode
    with per-layer value b (t_i = b^L), dropped mode with target t_j; derived from the Hessian of
    the loss with symbolic entries.

    >>> ev = partial_solution_pair_eigenvalues(3)
    >>> b, tj = sp.symbols("b t_j", positive=True)
    >>> ev[sp.factor(b * (b**3 - tj))], ev[3 * b**4], ev[0]
    (1, 1, 9)
    """
    depth = int(depth)
    check_symbolic_size(
        "depth L",
        depth,
        PAIR_EIGENVALUES_MAX_DEPTH,
        "partial_solution_pair_eigenvalues",
        "the closed form in the module docstring gives every depth",
    )
    b, tj = sp.symbols("b t_j", positive=True)
    Ws = [sp.Matrix(2, 2, lambda a, c, k=k: sp.Symbol(f"w{k}{a}{c}")) for k in range(depth)]
    W = Ws[0]
    for M in Ws[1:]:
        W = M * W
    T = sp.diag(b**depth, tj)
    loss = ((W - T).T * (W - T)).trace() / 2
    params = [x for M in Ws for x in M]
    point = {x: 0 for x in params}
    for M in Ws:
        point[M[0, 0]] = b
    H = sp.hessian(loss, params).subs(point)
    return {sp.factor(k): v for k, v in H.eigenvals().items()}


@checked
def descartes_inertia(H: sp.Matrix) -> dict[str, int]:
    r"""Exact (index, nullity, positive) of a rational symmetric matrix: its characteristic
    polynomial has only real roots, so Descartes' rule of signs counts the positive roots exactly
    (sign changes of p(x)) and the negative ones (sign changes of p(-x)); zeros = the power of x.

    >>> descartes_inertia(sp.Matrix([[0, 1], [1, 0]]))
    {'index': 1, 'nullity': 0, 'positive': 1}
    """
    from sympy.polys.domains import QQ
    from sympy.polys.matrices import DomainMatrix

    n = H.shape[0]
    coeffs = DomainMatrix.from_Matrix(sp.Matrix(H)).convert_to(QQ).charpoly()  # highest degree first
    zeros = 0
    while zeros < n and coeffs[n - zeros] == 0:
        zeros += 1
    core = coeffs[: n + 1 - zeros]

    def changes(cs: Sequence[Any]) -> int:
        signs = [1 if c > 0 else -1 for c in cs if c != 0]
        return sum(1 for x, y in zip(signs, signs[1:]) if x != y)

    deg = len(core) - 1
    neg = changes([c * (-1) ** (deg - k) for k, c in enumerate(core)])
    return {"index": neg, "nullity": zeros, "positive": changes(core)}


def _check_modes(t: Sequence[Any], kept: Sequence[int]) -> None:
    """Target singular values are real numbers; kept modes are distinct indices 0 .. len(t) - 1."""
    if not all(isinstance(x, (int, float, sp.Expr)) and not isinstance(x, bool) and sp.sympify(x).is_real for x in t):
        raise DlnkitInputError(f"t must be real numbers (the target's singular values), got {list(t)!r}")
    if len(set(kept)) != len(kept) or not all(0 <= int(i) < len(t) for i in kept):
        raise DlnkitInputError(f"kept must be distinct mode indices 0 .. {len(t) - 1}, got {list(kept)!r}")


@checked
def inversions(t: Sequence[Any], kept: Sequence[int]) -> int:
    """#{(i kept, j dropped): t_j > t_i} (j ranges over the target's nonzero modes).

    >>> inversions([3, 2, 1], [1, 2])
    2
    """
    _check_modes(t, kept)
    S = set(int(i) for i in kept)
    return sum(1 for i in S for j in range(len(t)) if j not in S and t[j] > t[i])


@checked
def partial_solution_counts(dims: Sequence[int], t: Sequence[Any], kept: Sequence[int]) -> dict[str, int]:
    r"""Index (negative eigenvalues), nullity and positive count at the partial solution keeping
    modes ``kept`` of the target with singular values ``t`` (whitened data, distinct t).

    >>> partial_solution_counts([3, 3, 3], [3, 2, 1], [1])
    {'index': 5, 'nullity': 5, 'positive': 8, 'num_params': 18}
    >>> partial_solution_counts([3, 3, 3, 3], [3, 2, 1], [1])
    {'index': 1, 'nullity': 22, 'positive': 4, 'num_params': 27}
    """
    _check_modes(t, kept)
    dims = [int(d) for d in dims]
    L, P = len(dims) - 1, sum(dims[q] * dims[q + 1] for q in range(len(dims) - 1))
    r = sum(1 for x in t if x != 0)
    k = len(set(int(i) for i in kept))
    inv = inversions(t, kept)
    free = (dims[1] - k) * (r - k) if L == 2 else 0
    index = inv + free
    positive = k * (dims[0] + dims[-1]) - k * k - inv + free
    return {"index": index, "nullity": P - index - positive, "positive": positive, "num_params": P}
