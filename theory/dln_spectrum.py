r"""The Hessian spectrum of a deep linear network at a balanced, aligned global minimum (docs/claims.md#b1).

Derivation. At a global minimum with whitened data the residual vanishes, so the Hessian is
its Gauss-Newton part :math:`J^\top J`, whose nonzero spectrum is that of
:math:`JJ^\top = \sum_l (P_lP_l^\top)\otimes(Q_l^\top Q_l)` (:math:`d_{out}d_{in}` square). The
spectrum is invariant under orthogonal changes of the input, output and hidden bases, so we may
take every singular basis to be the standard one: each :math:`W_l` is a zero matrix with
:math:`\operatorname{diag}(t^{1/L})` in its top-left corner. Then every factor is diagonal and
so is :math:`JJ^\top`; its diagonal, read off and grouped, is the spectrum.

:func:`derive_jjt_aligned` does exactly this on concrete sizes with symbolic :math:`t_i`;
:func:`balanced_minimum_spectrum` states the result for symbolic :math:`L` (the sum over layers
done by :func:`sympy.summation`), and the tests check one against the other.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from dlnkit.arguments import DlnkitInputError, checked
from dlnkit.theory.cost_limits import JJT_MAX_ENTRIES, NUMERIC_SPECTRUM_MAX_PARAMS, check_symbolic_size
from dlnkit.theory.exact_hessian import partial_products_exact
from dlnkit.theory.exact_point import exact_num_params
from dlnkit.theory.symbols import L as L_sym, l as l_sym, m as m_sym, t_i, t_j, target_symbols


@dataclass(frozen=True)
class SpectrumGroup:
    """A family of eigenvalues: ``value`` (may depend on indices i, j) repeated ``multiplicity`` times
    for each index in ``indices``.

    Attributes
    ----------
    name
        ``"dominant"``, ``"bulk_first"``, ``"bulk_last"`` or ``"zero"``.
    value
        The eigenvalue as a SymPy expression (in ``t_i``, ``t_j`` and the depth ``L``).
    multiplicity
        How many times it occurs for each index in ``indices``.
    indices
        Which target indices it ranges over, in words.
    """

    name: str
    value: sp.Expr
    multiplicity: sp.Expr
    indices: str  # "i,j" (pairs), "i" (one target index), or "" (a single value)


def _corner_diag(rows: int, cols: int, diag: Sequence[sp.Expr]) -> sp.Matrix:
    A = sp.zeros(rows, cols)
    for k, v in enumerate(diag):
        A[k, k] = v
    return A


@checked
def aligned_minimum_weights(dims: Sequence[int], t: Sequence[sp.Expr]) -> list[sp.Matrix]:
    """Weights of the balanced aligned minimum in the singular bases: W_l = corner(diag(t^(1/L))).

    Parameters
    ----------
    dims
        Widths ``[d_in, d_1, ..., d_out]`` (concrete integers).
    t
        The target's singular values t_1 >= ... >= t_r (SymPy expressions or numbers), r <= min(dims).

    Returns
    -------
    list of sympy.Matrix
        W_1, ..., W_L, each d_l x d_{l-1}, with diag(t^(1/L)) in the top-left corner.

    Examples
    --------
    >>> from dlnkit.theory.symbols import target_symbols
    >>> W = aligned_minimum_weights([2, 3, 2], target_symbols(1))
    >>> W[1] * W[0]
    Matrix([
    [t_1, 0],
    [  0, 0]])
    """
    depth = len(dims) - 1
    s = [sp.Pow(tk, sp.Rational(1, depth)) for tk in t]
    return [_corner_diag(dims[k + 1], dims[k], s) for k in range(depth)]


@checked
def derive_jjt_aligned(dims: Sequence[int], t: Sequence[sp.Expr] | None = None) -> sp.Matrix:
    """Build J J^T = sum_l (P_l P_l^T) (x) (Q_l^T Q_l) symbolically at the aligned minimum.

    ``dims`` are concrete integers; ``t`` defaults to symbols t_1..t_r with r = min(dims).

    Parameters
    ----------
    dims
        Widths ``[d_in, d_1, ..., d_out]`` (concrete integers).
    t
        Target singular values; default: the symbols t_1..t_r with r = min(dims).

    Returns
    -------
    sympy.Matrix
        The (d_out d_in) x (d_out d_in) matrix J J^T, diagonal in the singular bases.

    Examples
    --------
    >>> J = derive_jjt_aligned([2, 2], target_symbols(1))
    >>> J.is_diagonal(), J.shape
    (True, (4, 4))
    """
    dims = [int(d) for d in dims]
    check_symbolic_size(
        "L (d_out d_in)^2, the symbolic entries built",
        (len(dims) - 1) * (dims[-1] * dims[0]) ** 2,
        JJT_MAX_ENTRIES,
        "derive_jjt_aligned",
        "balanced_minimum_spectrum gives the spectrum at any widths",
    )
    if t is None:
        t = target_symbols(min(dims))
    Ws = aligned_minimum_weights(dims, t)
    out = sp.zeros(dims[-1] * dims[0], dims[-1] * dims[0])
    Ps, Qs = partial_products_exact(Ws)  # P_k = W_L ... W_{k+1}, Q_k = W_{k-1} ... W_1
    for P, Q in zip(Ps, Qs):
        out += sp.kronecker_product(P * P.T, Q.T * Q)
    return out.applyfunc(sp.powsimp)


@checked
def read_off_spectrum(jjt: sp.Matrix, num_params: int | None = None) -> Counter[sp.Expr]:
    """Eigenvalues with multiplicities of a diagonal J J^T; ``num_params`` adds the structural zeros.

    Parameters
    ----------
    jjt
        A diagonal SymPy matrix (as :func:`derive_jjt_aligned` returns).
    num_params
        The number of parameters P; when given, P - (size of ``jjt``) structural zeros are added.

    Returns
    -------
    collections.Counter
        Eigenvalue (simplified SymPy expression) -> multiplicity.

    Raises
    ------
    ValueError
        ``jjt`` is not diagonal.

    Examples
    --------
    >>> read_off_spectrum(sp.diag(2, 1, 1, 0), num_params=6)
    Counter({0: 3, 1: 2, 2: 1})
    """
    if not jjt.is_diagonal():
        raise DlnkitInputError("J J^T is not diagonal: the point is not aligned in these bases")
    counts = Counter(sp.simplify(jjt[k, k]) for k in range(jjt.shape[0]))
    if num_params is not None:
        counts[sp.Integer(0)] += int(num_params) - jjt.shape[0]
    return counts


@checked
def dominant_eigenvalue(a: sp.Expr = t_i, b: sp.Expr = t_j, depth: sp.Expr = L_sym) -> sp.Expr:
    r"""The dominant eigenvalue for target pair (i, j) as the layer sum
    :math:`\sum_{l=1}^{L} t_i^{2(L-l)/L} t_j^{2(l-1)/L}` (unevaluated).

    Parameters
    ----------
    a, b
        The target singular values t_i and t_j (symbols by default).
    depth
        The depth L (a symbol by default, or an integer).

    Returns
    -------
    sympy.Expr
        An unevaluated ``Sum`` over the layers; ``.doit()`` evaluates it.

    Examples
    --------
    >>> dominant_eigenvalue(depth=2).doit()
    t_i + t_j
    """
    depth = sp.sympify(depth)
    return sp.Sum(a ** (2 * (depth - l_sym) / depth) * b ** (2 * (l_sym - 1) / depth), (l_sym, 1, depth))


@checked
def dominant_eigenvalue_closed_form(a: sp.Expr = t_i, b: sp.Expr = t_j, depth: sp.Expr = L_sym) -> sp.Expr:
    r"""The geometric-sum closed form :math:`(t_i^2 - t_j^2)/(t_i^{2/L} - t_j^{2/L})` for
    :math:`t_i \ne t_j`, and :math:`L\,t^{2(L-1)/L}` when they are equal.

    Parameters
    ----------
    a, b
        The target singular values t_i and t_j (symbols by default).
    depth
        The depth L (a symbol by default, or an integer).

    Returns
    -------
    sympy.Expr
        The closed form (a ``Piecewise`` when equality of ``a`` and ``b`` is undecided).

    Examples
    --------
    >>> dominant_eigenvalue_closed_form(t_i, t_i, 3)
    3*t_i**(4/3)
    """
    depth = sp.sympify(depth)
    if sp.simplify(a - b) == 0:
        return sp.simplify(depth * a ** (2 * (depth - 1) / depth))
    return sp.Piecewise(
        (depth * a ** (2 * (depth - 1) / depth), sp.Eq(a, b)),
        ((a**2 - b**2) / (a ** (2 / depth) - b ** (2 / depth)), True),
    )


@checked
def balanced_minimum_spectrum(
    rank: int | sp.Expr = None, n_in: sp.Expr = None, n_out: sp.Expr = None, depth: sp.Expr = L_sym
) -> list[SpectrumGroup]:
    r"""The nonzero-and-zero spectrum of J J^T at the balanced aligned minimum, for symbolic depth.

    Groups (in the singular bases, output index i, input index j):

    * dominant (i, j <= r): :math:`\sum_l t_i^{2(L-l)/L} t_j^{2(l-1)/L}`, once per pair;
    * bulk, first layer (i <= r, j > r): :math:`t_i^{2(L-1)/L}`, ``d_in - r`` times per i;
    * bulk, last layer (i > r, j <= r): :math:`t_j^{2(L-1)/L}`, ``d_out - r`` times per j;
    * complement (i, j > r): 1 if L = 1 else 0, ``(d_in - r)(d_out - r)`` times.

    Each value comes out of :func:`sympy.summation` over l of the product of the factor diagonals,
    with the indicator [l = L] (resp. [l = 1]) for a complement direction of P_l P_l^T (Q_l^T Q_l).

    Parameters
    ----------
    rank
        The target rank r (symbol ``r`` by default).
    n_in, n_out
        The input and output widths d_in, d_out (symbols by default).
    depth
        The depth L (symbol by default).

    Returns
    -------
    list of SpectrumGroup
        The dominant, the two bulk and the zero groups, each with its value and multiplicity.
    """
    from dlnkit.theory.symbols import d_in as din_sym, d_out as dout_sym, r as r_sym

    depth = sp.sympify(depth)
    rank = r_sym if rank is None else rank
    n_in = din_sym if n_in is None else n_in
    n_out = dout_sym if n_out is None else n_out
    # factor diagonals: range direction -> t^(power), complement direction -> indicator
    out_range = t_i ** (2 * (depth - l_sym) / depth)
    in_range = t_j ** (2 * (l_sym - 1) / depth)
    out_comp = sp.KroneckerDelta(l_sym, depth)
    in_comp = sp.KroneckerDelta(l_sym, 1)

    def layer_sum(expr: sp.Expr) -> sp.Expr:
        val = sp.summation(expr, (l_sym, 1, depth))
        return sp.piecewise_fold(sp.simplify(val))

    dominant = layer_sum(out_range * in_range)
    bulk_in = layer_sum(out_range * in_comp)  # i <= r, j > r: only layer 1 survives
    bulk_out = layer_sum(out_comp * in_range)  # i > r, j <= r: only layer L survives
    complement = layer_sum(out_comp * in_comp).rewrite(sp.Piecewise)  # = [L = 1]
    return [
        SpectrumGroup("dominant", dominant, sp.Integer(1), "i,j"),
        SpectrumGroup("bulk_first_layer", bulk_in, n_in - rank, "i"),
        # bulk_out depends on the input-side index j only; rename it i so both bulk groups read alike
        SpectrumGroup("bulk_last_layer", bulk_out.subs(t_j, t_i), n_out - rank, "i"),
        SpectrumGroup("complement", complement, (n_in - rank) * (n_out - rank), ""),
    ]


@checked
def balanced_minimum_spectrum_numeric(dims: Sequence[int], t_values: Sequence[float]) -> dict[str, Any]:
    """Numbers from :func:`balanced_minimum_spectrum` by ``lambdify``: the full P-long spectrum
    (descending) and the eigenvalues of each group.

    Parameters
    ----------
    dims
        Widths ``[d_in, d_1, ..., d_out]``.
    t_values
        The target singular values t_1, ..., t_r (positive floats, r <= min(dims)).

    Returns
    -------
    dict
        ``"all"`` (the P eigenvalues, descending, as a NumPy array), ``"dominant"``, ``"bulk"`` and
        ``"complement"`` (each group's eigenvalues), ``"num_params"`` (P) and ``"counts"``
        (``dominant``, ``bulk``, ``zero``).

    Raises
    ------
    ValueError
        A hidden width below the rank: more nonzero eigenvalues than parameters.

    Examples
    --------
    >>> out = balanced_minimum_spectrum_numeric([3, 4, 2], [1.0])
    >>> out["dominant"].tolist(), out["bulk"].tolist(), len(out["all"])
    ([2.0], [1.0, 1.0, 1.0], 20)
    """
    dims = [int(d) for d in dims]
    check_symbolic_size(
        "the parameter count P",
        int(exact_num_params(dims)),
        NUMERIC_SPECTRUM_MAX_PARAMS,
        "balanced_minimum_spectrum_numeric",
        "balanced_minimum_spectrum gives the groups and their counts without P-long arrays",
        why="the largest whose P-long arrays stay near 2 GiB",
    )
    depth, n_in, n_out = len(dims) - 1, dims[0], dims[-1]
    t = np.asarray(t_values, dtype=np.float64)
    rank = len(t)
    groups = {g.name: g for g in balanced_minimum_spectrum(rank, n_in, n_out, depth)}
    f_dom = sp.lambdify((t_i, t_j), groups["dominant"].value, "numpy")
    f_bin = sp.lambdify((t_i,), groups["bulk_first_layer"].value, "numpy")
    f_bout = sp.lambdify((t_i,), groups["bulk_last_layer"].value, "numpy")
    dominant = np.array([f_dom(a, b) for a in t for b in t], dtype=np.float64)
    bulk = np.concatenate(
        [np.repeat([float(f_bin(a)) for a in t], n_in - rank), np.repeat([float(f_bout(b)) for b in t], n_out - rank)]
    )
    comp_val = float(groups["complement"].value)
    n_comp = (n_in - rank) * (n_out - rank)
    num_params = exact_num_params(dims)
    # the Hessian's nonzero eigenvalues are J J^T's; every other one of the P is zero. (P can be
    # smaller than d_out d_in when a hidden layer is a bottleneck, so pad to P, never by P - d_out d_in.)
    nonzero = np.concatenate([dominant, bulk, np.full(n_comp if comp_val != 0 else 0, comp_val)])
    if len(nonzero) > num_params:
        raise DlnkitInputError(
            f"{len(nonzero)} nonzero eigenvalues cannot fit in P = {num_params} parameters: "
            "a hidden width is below the rank"
        )
    everything = np.concatenate([nonzero, np.zeros(num_params - len(nonzero))])
    return {
        "all": np.sort(everything)[::-1],
        "dominant": np.sort(dominant)[::-1],
        "bulk": np.sort(bulk)[::-1],
        "complement": np.full(n_comp, comp_val),
        "num_params": num_params,
        "counts": {
            "dominant": rank * rank,
            "bulk": rank * (n_in + n_out - 2 * rank),
            "zero": num_params - len(nonzero),
        },
    }


@checked
@functools.cache  # pure function of a hashable SymPy depth; summation is slow
def equal_targets_mean_ratio(depth: sp.Expr = L_sym) -> sp.Expr:
    """mean(dominant) / mean(bulk) when every t_i = m**L, simplified: returns exactly ``L``.

    >>> equal_targets_mean_ratio()
    L
    """
    groups = {g.name: g for g in balanced_minimum_spectrum(depth=depth)}
    t_equal = m_sym**depth
    dom = groups["dominant"].value.subs({t_i: t_equal, t_j: t_equal})
    bulk = groups["bulk_first_layer"].value.subs(t_i, t_equal)
    # every dominant entry is equal and so is every bulk entry: the means are the values
    return sp.simplify(sp.powsimp(sp.piecewise_fold(dom) / bulk, force=True))
