r"""Kronecker quadratic forms in the row-major convention, and the additivity of least-squares slopes.

Row-major vec (torch's ``reshape(-1)``): :math:`\operatorname{vec}_r(X)_{(i,j)} = X_{ij}` with index
:math:`(i,j)\mapsto i\,n + j`. Then :math:`\operatorname{vec}_r(uv^\top) = u\otimes v` and
:math:`\operatorname{vec}_r(AXB) = (A\otimes B^\top)\operatorname{vec}_r(X)`, so

.. math:: \operatorname{vec}_r(uv^\top)^\top (C\otimes D)\operatorname{vec}_r(uv^\top)
          = (u\otimes v)^\top(C\otimes D)(u\otimes v) = (u^\top C u)(v^\top D v),

with C acting on the output (row) index and D on the input (column) index. The functions here
prove it on fully symbolic matrices of given sizes (every entry a free symbol), not on numbers.

Second fact used by claim ``A2-decomposition``: the ordinary least-squares slope of y on x,
:math:`\hat b(x, y) = \sum_i (x_i-\bar x)(y_i-\bar y)/\sum_i (x_i-\bar x)^2`, is linear in y. So if
:math:`\log h_k = \log\chi_k + \log\Phi_k + \log\Lambda_k` on one index set, the fitted slopes on
:math:`\log\sigma_k` add *exactly*: :math:`\hat\alpha = \hat b_\Lambda + \hat b_\Phi + \hat b_\chi`.
On different index sets (e.g. dropping the directions where one factor is not positive) they
need not.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from dlnkit.arguments import DlnkitInputError


def vec_row_major(X: sp.Matrix) -> sp.Matrix:
    """Stack the rows of X into a column (torch's flattening).

    >>> vec_row_major(sp.Matrix([[1, 2], [3, 4]])).T
    Matrix([[1, 2, 3, 4]])
    """
    return sp.Matrix([X[i, j] for i in range(X.rows) for j in range(X.cols)])


def kron(A: sp.Matrix, B: sp.Matrix) -> sp.Matrix:
    """Kronecker product with the standard (row-block) layout."""
    from sympy.physics.quantum import TensorProduct

    return sp.Matrix(TensorProduct(A, B))


def symbolic_matrix(name: str, rows: int, cols: int, symmetric: bool = False) -> sp.Matrix:
    """A matrix of free real symbols ``name_ij`` (symmetric: name_ij = name_ji)."""

    def entry(i: int, j: int) -> sp.Symbol:
        if symmetric and j < i:
            i, j = j, i
        return sp.Symbol(f"{name}_{i}{j}", real=True)

    return sp.Matrix(rows, cols, lambda i, j: entry(i, j))


def kronecker_quadratic_form_gap(m: int, n: int, order: str = "output_first") -> sp.Expr:
    r"""vec_r(uv^T)^T (C (x) D) vec_r(uv^T) - (u^T C u)(v^T D v), expanded, for symbolic
    u (m), v (n), symmetric C (m x m), D (n x n).

    ``order="input_first"`` puts the factors the other way round, (D (x) C) -- the column-major
    habit -- which is *not* the row-major quadratic form in general.

    >>> kronecker_quadratic_form_gap(2, 3)
    0
    >>> kronecker_quadratic_form_gap(2, 2, order="input_first") == 0
    False
    """
    u = symbolic_matrix("u", m, 1)
    v = symbolic_matrix("v", n, 1)
    C = symbolic_matrix("C", m, m, symmetric=True)
    D = symbolic_matrix("D", n, n, symmetric=True)
    x = vec_row_major(u * v.T)
    K = kron(C, D) if order == "output_first" else kron(D, C)
    if K.shape[0] != x.shape[0]:
        raise DlnkitInputError("factor sizes do not match the vec length")
    lhs = (x.T * K * x)[0, 0]
    rhs = (u.T * C * u)[0, 0] * (v.T * D * v)[0, 0]
    return sp.expand(lhs - rhs)


def row_major_vec_identity_gap(m: int, n: int, p: int, q: int) -> sp.Matrix:
    """vec_r(A X B) - (A (x) B^T) vec_r(X) for symbolic A (p x m), X (m x n), B (n x q); zero.

    >>> row_major_vec_identity_gap(2, 2, 1, 2).is_zero_matrix
    True
    """
    A = symbolic_matrix("A", p, m)
    X = symbolic_matrix("X", m, n)
    B = symbolic_matrix("B", n, q)
    return sp.expand(vec_row_major(A * X * B) - kron(A, B.T) * vec_row_major(X))


def ls_slope(x: Sequence[sp.Expr], y: Sequence[sp.Expr]) -> sp.Expr:
    """Ordinary least-squares slope of y on x (sequences of SymPy expressions)."""
    N = len(x)
    xb = sum(x) / N
    yb = sum(y) / N
    return sum((xi - xb) * (yi - yb) for xi, yi in zip(x, y)) / sum((xi - xb) ** 2 for xi in x)


def slope_additivity_gap(N: int, parts: int = 3) -> sp.Expr:
    r"""slope(x, sum_p y_p) - sum_p slope(x, y_p) for N symbolic points and ``parts`` responses.

    This is the exact decomposition :math:`\hat\alpha = \hat b_\Lambda+\hat b_\Phi+\hat b_\chi`.

    >>> slope_additivity_gap(4)
    0
    """
    x = sp.symbols(f"x0:{N}", real=True)
    ys = [sp.symbols(f"y{p}_0:{N}", real=True) for p in range(parts)]
    total = [sum(y[i] for y in ys) for i in range(N)]
    return sp.cancel(sp.together(ls_slope(x, total) - sum(ls_slope(x, y) for y in ys)))


def kron_quadratic_form_expr() -> tuple[tuple[sp.Symbol, sp.Symbol], sp.Expr]:
    """(symbols, expression) of the identity's right side for lambdify: (uCu, vDv) -> product."""
    a, b = sp.symbols("uCu vDv", real=True)
    return (a, b), a * b
