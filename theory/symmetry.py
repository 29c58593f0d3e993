r"""The rescaling symmetry of a deep linear network and the Hessian null directions it forces.

For each hidden layer l (1 <= l <= L-1) and invertible A (d_l x d_l), the map
:math:`W_{l+1} \to W_{l+1}A^{-1},\ W_l \to A W_l` leaves the end-to-end map, hence the loss,
unchanged. Its Lie algebra :math:`\bigoplus_l \mathfrak{gl}(d_l)` moves a point along

.. math:: \xi(A)_l = A_l W_l - W_l A_{l-1}\qquad (A_0 = 0,\ A_L = 0),

so the orbit through the point has dimension :math:`\sum_l d_l^2 - \dim\mathfrak{s}` with
:math:`\mathfrak{s} = \{A : A_l W_l = W_l A_{l-1}\ \forall l\}` the stabiliser algebra.

Derivation at a balanced aligned global minimum of rank r (every hidden width >= r). Split each
hidden space into the r-dimensional range of :math:`W_l` and its complement; in these bases
:math:`W_l = \begin{pmatrix} S & 0\\ 0 & 0\end{pmatrix}` with S invertible (S = diag(t^{1/L})).
Writing :math:`A_l = \begin{pmatrix} a_l & b_l\\ c_l & e_l\end{pmatrix}`, the condition
:math:`A_l W_l = W_l A_{l-1}` reads :math:`a_l S = S a_{l-1}`, :math:`c_l S = 0`,
:math:`S b_{l-1} = 0`. With :math:`a_0 = 0` (no input-side freedom) the first gives
:math:`a_l = 0` for all l; the others force :math:`b_l = c_l = 0`. Only the complement blocks
:math:`e_l` are free, so :math:`\dim\mathfrak{s} = \sum_l (d_l - r)^2` and

.. math:: \dim(\text{orbit}) = \sum_{l=1}^{L-1} \big(d_l^2 - (d_l - r)^2\big) = \sum_{l=1}^{L-1} r(2d_l - r).

The loss is constant on the orbit, its gradient vanishes at a minimum, so differentiating
:math:`\nabla\ell(g\cdot\theta) = 0` along the orbit gives :math:`H\xi = 0`: every orbit
direction is a Hessian null direction and nullity(H) >= dim(orbit). B1 (docs/claims.md#b1) counts the zero
eigenvalues exactly; :func:`symmetry_nullity_gap` is the difference. For every depth L >= 2
it simplifies to

.. math:: \text{nullity}(H) - \dim(\text{orbit}) = \sum_{l=1}^{L} (d_l - r)(d_{l-1} - r),

(checked symbolically by :func:`nullity_gap_matches_complement_blocks` for L = 2..6), the number
of entries of the layers that map the complement of the range to the complement: moving them
changes nothing to first order (W_{l+1} kills their output, W_{l-1} feeds them nothing) and is
not a rescaling. So the symmetry explains every zero exactly when each product
(d_l - r)(d_{l-1} - r) vanishes -- e.g. all hidden widths equal r; for L = 2 the gap is
:math:`(d_1 - r)(d_{in} + d_{out} - 2r)`.

:func:`stabiliser_dimension_exact` checks the block argument on concrete rational points.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from dlnkit.theory.dln_spectrum import balanced_minimum_spectrum
from dlnkit.theory.exact_point import exact_layer_offsets, exact_num_params


def width_symbols(depth: int) -> tuple[sp.Symbol, ...]:
    """Symbols d_0 .. d_L (positive integers) for a network of the given depth.

    >>> width_symbols(2)
    (d_0, d_1, d_2)
    """
    return sp.symbols(f"d_0:{int(depth) + 1}", integer=True, positive=True)


def rescaling_orbit_dimension(dims: Sequence[int | sp.Expr], rank: int | sp.Expr) -> sp.Expr:
    r"""dim of the GL-rescaling orbit through a balanced aligned minimum of rank r:
    :math:`\sum_{l=1}^{L-1} r(2d_l - r)` (entries of ``dims`` may be symbols).

    >>> rescaling_orbit_dimension([4, 5, 3], 2)
    16
    >>> d = width_symbols(2); r = sp.Symbol("r")
    >>> sp.expand(rescaling_orbit_dimension(d, r) - r * (2 * d[1] - r))
    0
    """
    dims = list(dims)
    rank = sp.sympify(rank)
    return sp.expand(sum((sp.sympify(d) ** 2 - (sp.sympify(d) - rank) ** 2 for d in dims[1:-1]), sp.Integer(0)))


def balanced_minimum_zero_count(dims: Sequence[int | sp.Expr], rank: int | sp.Expr) -> sp.Expr:
    """Number of zero Hessian eigenvalues at a balanced aligned minimum, read from B1's groups
    (:func:`~dlnkit.theory.dln_spectrum.balanced_minimum_spectrum`): P minus the multiplicities of
    the groups whose value is not zero.

    >>> balanced_minimum_zero_count([4, 5, 3], 2)   # P = 35, nonzero: 2^2 dominant + 2(4 + 3 - 4) bulk
    25
    """
    dims = [sp.sympify(d) for d in dims]
    depth = len(dims) - 1
    rank = sp.sympify(rank)
    n_params = exact_num_params(dims)
    nonzero = sp.Integer(0)
    for g in balanced_minimum_spectrum(rank, dims[0], dims[-1], depth):
        per_index = {"i,j": rank**2, "i": rank, "": sp.Integer(1)}[g.indices]
        value = sp.simplify(g.value)
        if value.is_zero:
            continue
        if value.is_zero is None and value.free_symbols - set(sp.symbols("t_i t_j", positive=True)):
            raise ValueError(f"cannot decide whether group {g.name} ({value}) is zero")
        nonzero += g.multiplicity * per_index
    return sp.expand(n_params - nonzero)


def symmetry_nullity_gap(dims: Sequence[int | sp.Expr], rank: int | sp.Expr) -> sp.Expr:
    """Zero eigenvalues of B1 not explained by the rescaling symmetry (>= 0), factored.

    >>> d = width_symbols(2); r = sp.Symbol("r", positive=True, integer=True)
    >>> sp.expand(symmetry_nullity_gap(d, r) - (d[1] - r) * (d[0] + d[2] - 2 * r))
    0
    """
    return sp.factor(balanced_minimum_zero_count(dims, rank) - rescaling_orbit_dimension(dims, rank))


def rescaling_tangent_vectors_exact(weights: Sequence[sp.Matrix]) -> sp.Matrix:
    """Columns xi(E_ab^(l)) for the basis E_ab of every gl(d_l), l = 1..L-1: the P x sum_l d_l^2
    matrix whose column space is the orbit's tangent space (row-major parameter layout)."""
    Ws = [sp.Matrix(W) for W in weights]
    L = len(Ws)
    off = exact_layer_offsets([Ws[0].shape[1]] + [W.shape[0] for W in Ws])
    cols = []
    for l in range(1, L):  # hidden layer l sits between W_l (index l-1) and W_{l+1} (index l)
        d = Ws[l - 1].shape[0]
        for a in range(d):
            for b in range(d):
                E = sp.zeros(d, d)
                E[a, b] = 1
                v = sp.zeros(off[-1], 1)
                dl = E * Ws[l - 1]  # A W_l
                dn = -Ws[l] * E  # -W_{l+1} A
                for k, D in ((l - 1, dl), (l, dn)):
                    v[off[k] : off[k + 1], 0] = D.reshape(D.shape[0] * D.shape[1], 1)
                cols.append(v)
    if not cols:
        return sp.zeros(off[-1], 0)
    return sp.Matrix.hstack(*cols)


def stabiliser_dimension_exact(weights: Sequence[sp.Matrix]) -> int:
    """dim of the stabiliser algebra at a rational point: sum_l d_l^2 minus the exact rank of
    :func:`rescaling_tangent_vectors_exact`."""
    from dlnkit.theory.exact_hessian import exact_rank

    T = rescaling_tangent_vectors_exact(weights)
    return T.shape[1] - exact_rank(T)


def nullity_gap_matches_complement_blocks(depth: int) -> bool:
    """Whether :func:`symmetry_nullity_gap` equals sum_{l=1}^{L} (d_l - r)(d_{l-1} - r) for
    symbolic widths and rank at this depth (>= 2).

    >>> all(nullity_gap_matches_complement_blocks(L) for L in range(2, 7))
    True
    """
    d = width_symbols(depth)
    r = sp.Symbol("r", positive=True, integer=True)
    blocks = sum((d[l] - r) * (d[l - 1] - r) for l in range(1, int(depth) + 1))
    return sp.expand(symmetry_nullity_gap(d, r) - blocks) == 0
