r"""Exact (rational) Hessians of deep linear networks, in SymPy only.

For a DLN with rational weights, rational input covariance :math:`\Sigma` and cross moment
:math:`C`, the loss :math:`\ell = \tfrac12\operatorname{tr}(W\Sigma W^\top) - \operatorname{tr}(WC^\top)`
(+ a constant) is a polynomial with rational coefficients, so its Hessian is a rational matrix and
its rank, null space and the multiplicity of any rational eigenvalue can be computed with no
rounding at all. Two independent routes:

* :func:`exact_dln_hessian` -- from the definition of the second derivative of the loss.
  A parameter :math:`\theta_i = (W_l)_{ab}` moves the end-to-end map along the rank-one matrix
  :math:`\partial_i W = P_l e_a e_b^\top Q_l`, and
  :math:`H_{ij} = \langle \partial_i W\,\Sigma, \partial_j W\rangle + \langle G, \partial_i\partial_j W\rangle`
  with :math:`G = W\Sigma - C`; for :math:`i \in` layer l, :math:`j = (W_m)_{a'b'}`, l < m,
  :math:`\partial_i\partial_j W = (W_{m-1}\cdots W_{l+1})_{b'a}\, P_m e_{a'} e_b^\top Q_l`.
  Sizes up to P of a few hundred take well under a second.
* :func:`exact_dln_hessian_by_differentiation` -- the quadratic Taylor coefficients of the loss
  polynomial at the point (exact polynomial arithmetic over QQ). Slower, but it shares nothing
  with the first route except the loss.

Parameters are ordered as in the numerics: layers in order, each W_l flattened row-major.
Matrices are returned as :class:`sympy.Matrix` with :class:`sympy.Rational` entries; exact
ranks use :class:`sympy.polys.matrices.DomainMatrix` over QQ (fraction-free, exact).

>>> import sympy as sp
>>> Ws = [sp.Matrix([[1, 2]]), sp.Matrix([[sp.Rational(1, 2)]])]   # dims [2, 1, 1]
>>> H = exact_dln_hessian(Ws, sigma=sp.eye(2), cross=sp.Matrix([[1, 1]]))
>>> H == exact_dln_hessian_by_differentiation(Ws, sigma=sp.eye(2), cross=sp.Matrix([[1, 1]]))
True
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Literal, TypeAlias, overload

import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.matrices import DomainMatrix

from dlnkit.arguments import DlnkitInputError, checked

#: an exact number: int, Fraction, "p/q" string or SymPy Rational (never a float)
RationalLike: TypeAlias = int | str | Fraction | sp.Rational
#: a matrix given exactly: a SymPy matrix or nested rows of RationalLike
MatrixLike: TypeAlias = sp.MatrixBase | Sequence[Sequence[RationalLike]]


def to_rational_matrix(a: MatrixLike) -> sp.Matrix:
    """A SymPy matrix of exact rationals from nested lists of ints, Fractions, ``"p/q"`` strings or
    Rationals (floats are refused: they are not exact).

    >>> to_rational_matrix([["1/2", 3], [Fraction(2, 3), 0]])
    Matrix([
    [1/2, 3],
    [2/3, 0]])
    """
    if isinstance(a, sp.MatrixBase):
        rows = a.tolist()
    else:
        rows = [list(r) for r in a]

    def conv(x: RationalLike) -> sp.Rational:
        if isinstance(x, float):
            raise DlnkitInputError(f"exact mode needs rationals, got the float {x!r}; write it as a fraction")
        if isinstance(x, Fraction):
            return sp.Rational(x.numerator, x.denominator)
        v = sp.Rational(x) if isinstance(x, (int, str)) else sp.nsimplify(x)
        if not v.is_Rational:
            raise DlnkitInputError(f"exact mode needs rationals, got {x!r}")
        return v

    return sp.Matrix([[conv(x) for x in r] for r in rows])


@checked
def exact_num_params(dims: Sequence[Any]) -> Any:
    """P = sum_l d_l d_{l-1} for integer or symbolic widths.

    >>> d0, d1, d2 = sp.symbols("d_0:3")
    >>> exact_num_params([d0, d1, d2])
    d_0*d_1 + d_1*d_2
    """
    return sum(
        (a * b for a, b in zip(dims[:-1], dims[1:])), sp.Integer(0) if any(isinstance(d, sp.Basic) for d in dims) else 0
    )


@checked
def exact_layer_offsets(dims: Sequence[int]) -> list[int]:
    """Where each W_l starts in the flat (row-major) parameter vector, plus P at the end."""
    out = [0]
    for a, b in zip(dims[:-1], dims[1:]):
        out.append(out[-1] + int(a) * int(b))
    return out


@checked
def partial_products_exact(weights: Sequence[sp.Matrix]) -> tuple[list[sp.Matrix], list[sp.Matrix]]:
    """(P, Q) with P[l] = W_L...W_{l+1}, Q[l] = W_{l-1}...W_1 (0-indexed l), identities at the ends."""
    Ws = list(weights)
    L = len(Ws)
    Q = [sp.eye(Ws[0].shape[1])]
    for l in range(1, L):
        Q.append(Ws[l - 1] * Q[-1])
    P = [sp.eye(Ws[-1].shape[0])]
    for l in range(L - 2, -1, -1):
        P.insert(0, P[0] * Ws[l + 1])
    return P, Q


@checked
def end_to_end_exact(weights: Sequence[sp.Matrix]) -> sp.Matrix:
    """W = W_L ... W_1."""
    out = weights[0]
    for W in weights[1:]:
        out = W * out
    return out


def _check(
    weights: Sequence[MatrixLike], sigma: MatrixLike | None, cross: MatrixLike | None
) -> tuple[list[sp.Matrix], sp.Matrix, sp.Matrix]:
    Ws = [sp.Matrix(W) for W in weights]
    if not Ws:
        raise DlnkitInputError("need at least one weight matrix")
    for l in range(1, len(Ws)):
        if Ws[l].shape[1] != Ws[l - 1].shape[0]:
            raise DlnkitInputError(f"weight {l + 1} has shape {Ws[l].shape}, weight {l} outputs {Ws[l - 1].shape[0]}")
    d_in, d_out = Ws[0].shape[1], Ws[-1].shape[0]
    sigma_m = sp.eye(d_in) if sigma is None else sp.Matrix(sigma)
    if sigma_m.shape != (d_in, d_in):
        raise DlnkitInputError(f"sigma must be {d_in} x {d_in}, got {sigma_m.shape}")
    cross_m = sp.zeros(d_out, d_in) if cross is None else sp.Matrix(cross)
    if cross_m.shape != (d_out, d_in):
        raise DlnkitInputError(f"cross moment must be {(d_out, d_in)}, got {cross_m.shape}")
    return Ws, sigma_m, cross_m


def exact_dln_loss(
    weights: Sequence[MatrixLike], sigma: MatrixLike | None = None, cross: MatrixLike | None = None
) -> sp.Expr:
    """1/2 tr(W Sigma W^T) - tr(W C^T) (the squared loss up to the constant 1/2 tr(Y^T Y)/B)."""
    Ws, sigma_m, cross_m = _check(weights, sigma, cross)
    W = end_to_end_exact(Ws)
    return sp.Rational(1, 2) * (W * sigma_m * W.T).trace() - (W * cross_m.T).trace()


@overload
def exact_dln_hessian(
    weights: Sequence[MatrixLike],
    sigma: MatrixLike | None = None,
    cross: MatrixLike | None = None,
    *,
    parts: Literal[False] = False,
) -> sp.Matrix: ...
@overload
def exact_dln_hessian(
    weights: Sequence[MatrixLike],
    sigma: MatrixLike | None = None,
    cross: MatrixLike | None = None,
    *,
    parts: Literal[True],
) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]: ...
@overload
def exact_dln_hessian(
    weights: Sequence[MatrixLike], sigma: MatrixLike | None = None, cross: MatrixLike | None = None, *, parts: bool
) -> sp.Matrix | tuple[sp.Matrix, sp.Matrix, sp.Matrix]: ...
def exact_dln_hessian(
    weights: Sequence[MatrixLike],
    sigma: MatrixLike | None = None,
    cross: MatrixLike | None = None,
    *,
    parts: bool = False,
) -> sp.Matrix | tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """The exact P x P Hessian (see the module doc for the formula). ``sigma`` defaults to the
    identity (whitened data), ``cross`` to zero. With ``parts=True`` returns (H, H_GN, H_res).
    """
    Ws, sigma_m, cross_m = _check(weights, sigma, cross)
    P, Q = partial_products_exact(Ws)
    G = end_to_end_exact(Ws) * sigma_m - cross_m
    L = len(Ws)
    off = exact_layer_offsets([Ws[0].shape[1]] + [W.shape[0] for W in Ws])
    n = off[-1]
    gn = [[QQ(0)] * n for _ in range(n)]
    res = [[QQ(0)] * n for _ in range(n)]

    def q(x: sp.Rational) -> Any:  # an element of the domain QQ
        return QQ(int(x.p), int(x.q))

    for l in range(L):
        rows_l, cols_l = Ws[l].shape
        for m in range(l, L):
            rows_m, cols_m = Ws[m].shape
            A = (P[l].T * P[m]).applyfunc(lambda x: x)  # <P_l e_a, P_m e_a'>
            B = Q[l] * sigma_m * Q[m].T  # <e_b^T Q_l Sigma, e_b'^T Q_m>
            A = [[q(x) for x in r] for r in A.tolist()]
            B = [[q(x) for x in r] for r in B.tolist()]
            for a in range(rows_l):
                for b in range(cols_l):
                    i = off[l] + a * cols_l + b
                    for a2 in range(rows_m):
                        Aa = A[a][a2]
                        for b2 in range(cols_m):
                            j = off[m] + a2 * cols_m + b2
                            v = Aa * B[b][b2]
                            gn[i][j] = v
                            gn[j][i] = v
            if m > l:
                mid = sp.eye(rows_l)
                for k in range(l + 1, m):
                    mid = Ws[k] * mid  # W_{m-1} ... W_{l+1}: d_{l+1} -> d_m
                K = P[m].T * G * Q[l].T  # rows_m x cols_l
                K = [[q(x) for x in r] for r in K.tolist()]
                Mid = [[q(x) for x in r] for r in mid.tolist()]
                for a in range(rows_l):
                    for b in range(cols_l):
                        i = off[l] + a * cols_l + b
                        for a2 in range(rows_m):
                            for b2 in range(cols_m):
                                j = off[m] + a2 * cols_m + b2
                                v = Mid[b2][a] * K[a2][b]
                                res[i][j] = v
                                res[j][i] = v
    dm_gn = DomainMatrix(gn, (n, n), QQ)
    dm_res = DomainMatrix(res, (n, n), QQ)
    H = (dm_gn + dm_res).to_Matrix()
    if parts:
        return H, dm_gn.to_Matrix(), dm_res.to_Matrix()
    return H


def exact_dln_hessian_by_differentiation(
    weights: Sequence[MatrixLike], sigma: MatrixLike | None = None, cross: MatrixLike | None = None
) -> sp.Matrix:
    """The Hessian read off the loss polynomial itself: substitute theta = theta_0 + delta with
    one polynomial generator per parameter (SymPy's sparse polynomial ring over QQ), multiply
    the layers out keeping terms of degree <= 2 in delta, and take the quadratic coefficients
    (H_ij = coefficient of delta_i delta_j for i != j, twice that of delta_i^2 on the diagonal).
    Shares nothing with :func:`exact_dln_hessian` but the loss; fine up to P of a few dozen."""
    from sympy.polys.rings import PolyRing

    Ws, sigma_m, cross_m = _check(weights, sigma, cross)
    n = sum(W.shape[0] * W.shape[1] for W in Ws)
    R = PolyRing([f"d{k}" for k in range(n)], QQ)
    gens = list(R.gens)

    def trunc(p: Any) -> Any:  # PolyElement -> PolyElement of degree <= 2
        return R({mon: c for mon, c in p.items() if sum(mon) <= 2})

    def matmul(A: list[list[Any]], B: list[list[Any]]) -> list[list[Any]]:
        return [
            [trunc(sum((A[i][k] * B[k][j] for k in range(len(B))), R.zero)) for j in range(len(B[0]))]
            for i in range(len(A))
        ]

    def q(x: sp.Rational) -> Any:  # the constant polynomial x
        return R(QQ(int(x.p), int(x.q)))

    mats, k = [], 0
    for W in Ws:
        rows = []
        for a in range(W.shape[0]):
            row = []
            for b in range(W.shape[1]):
                row.append(q(W[a, b]) + gens[k])
                k += 1
            rows.append(row)
        mats.append(rows)
    E = mats[0]
    for M in mats[1:]:
        E = matmul(M, E)
    S = [[q(x) for x in r] for r in sigma_m.tolist()]
    C = [[q(x) for x in r] for r in cross_m.tolist()]
    ES = matmul(E, S)
    d_out, d_in = len(E), len(E[0])
    loss = R.zero
    for i in range(d_out):
        for j in range(d_in):
            loss += trunc(ES[i][j] * E[i][j]) * QQ(1, 2) - E[i][j] * C[i][j]
    H = sp.zeros(n, n)
    for mon, c in trunc(loss).items():
        if sum(mon) != 2:
            continue
        idx = [i for i, e in enumerate(mon) for _ in range(e)]
        val = sp.Rational(int(c.numerator), int(c.denominator))
        if idx[0] == idx[1]:
            H[idx[0], idx[0]] = 2 * val
        else:
            H[idx[0], idx[1]] = val
            H[idx[1], idx[0]] = val
    return H


# ----- exact linear algebra ---------------------------------------------------------------


def exact_rank(M: sp.Matrix) -> int:
    """Rank over the rationals (exact): the denominators are cleared and the integer matrix is
    reduced fraction-free over ZZ (faster than rational elimination, same rank)."""
    from sympy.polys.domains import ZZ

    M = sp.Matrix(M)
    if M.shape[0] == 0 or M.shape[1] == 0:
        return 0
    den = sp.ilcm(*[sp.Rational(x).q for x in M]) if len(M) else 1
    return int(DomainMatrix.from_Matrix(M * den).convert_to(ZZ).rank())


def exact_nullity(M: sp.Matrix) -> int:
    """dim ker M over the rationals: columns minus exact rank.

    >>> exact_nullity(sp.Matrix([[1, 2], [2, 4]]))
    1
    """
    return M.shape[1] - exact_rank(M)


def exact_eigenvalue_multiplicity(H: sp.Matrix, value: RationalLike) -> int:
    """Geometric multiplicity of ``value`` as an eigenvalue of the rational symmetric matrix H
    (for symmetric H it equals the algebraic one): nullity(H - value I), exactly."""
    return exact_nullity(sp.Matrix(H) - sp.Rational(value) * sp.eye(H.shape[0]))


# ----- rational special points ------------------------------------------------------------


def rational_orthogonal(n: int, seed: int = 0, *, max_entry: int = 2) -> sp.Matrix:
    """An n x n orthogonal matrix with rational entries: the Cayley transform
    (I - K)(I + K)^{-1} of a random rational skew-symmetric K (I + K is always invertible).

    >>> Q = rational_orthogonal(3, seed=1)
    >>> Q.T * Q == sp.eye(3)
    True
    """
    rng = random.Random(int(seed) * 7919 + n)
    K = sp.zeros(n, n)
    for a in range(n):
        for b in range(a + 1, n):
            v = sp.Rational(rng.randint(-max_entry, max_entry), rng.randint(1, 3))
            K[a, b], K[b, a] = v, -v
    return (sp.eye(n) - K) * (sp.eye(n) + K).inv()


def rational_balanced_minimum(
    dims: Sequence[int], layer_values: Sequence[RationalLike], seed: int = 0
) -> tuple[list[sp.Matrix], sp.Matrix]:
    """A balanced aligned global minimum with rational weights (B1 exactly, docs/claims.md#b1).

    ``layer_values`` s_1..s_r are the per-layer singular values (rationals); the target has
    singular values t_i = s_i^L. Bases are rational orthogonal (Cayley), so the point is exact:
    W_1 = R_1 S V^T, W_l = R_l S R_{l-1}^T, W_L = U S R_{L-1}^T. Returns (weights, M).

    >>> Ws, M = rational_balanced_minimum([3, 4, 2], [sp.Rational(3, 2)], seed=0)
    >>> end_to_end_exact(Ws) == M, Ws[1].T * Ws[1] == Ws[0] * Ws[0].T
    (True, True)
    """
    dims = [int(d) for d in dims]
    s = [
        sp.Rational(x) if not isinstance(x, Fraction) else sp.Rational(x.numerator, x.denominator) for x in layer_values
    ]
    r, L = len(s), len(dims) - 1
    if r > min(dims):
        raise DlnkitInputError(f"rank {r} exceeds a width in {dims}")
    bases = [rational_orthogonal(d, seed + 13 * k)[:, :r] for k, d in enumerate(dims)]
    S = sp.diag(*s)
    Ws = [bases[l + 1] * S * bases[l].T for l in range(L)]
    M = bases[-1] * sp.diag(*[x**L for x in s]) * bases[0].T
    return Ws, M
