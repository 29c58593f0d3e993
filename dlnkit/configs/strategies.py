"""Hypothesis strategies for deep linear networks: the ones the built-in claims use, public.

Two kinds:

* **configuration strategies** draw JSON-able dicts (ints, floats, strings, lists) that
  :func:`dlnkit.build_point` turns into a float64 point and :func:`dlnkit.exact.exact_point` into
  a rational one; a drawn configuration can be stored, replayed and shrunk:
  :func:`dims`, :func:`target_spectra`, :func:`depth_point_configs`, :func:`global_minima`,
  :func:`balanced_aligned_points`, :func:`near_minimum_points`, :func:`generic_points`,
  :func:`rational_points`, :func:`small_enough`;
* **array strategies** draw NumPy arrays with a promised property, for property tests of your own:
  :func:`orthogonal_matrices`, :func:`whitened_data`, :func:`anisotropic_data`,
  :func:`rational_weights`.

They compose the usual Hypothesis way (``.map``, ``.filter``, ``st.fixed_dictionaries``, ``|``,
``flatmap``) -- e.g. a balanced minimum with a drawn offset::

    st.tuples(balanced_aligned_points(), st.sampled_from([0.1, 0.2])).map(
        lambda c_e: {**c_e[0], "offset": c_e[1]})

Randomness inside arrays comes from a drawn seed, so examples shrink toward seed 0 and small sizes.

>>> from hypothesis import given
>>> dims(min_depth=2, max_depth=2, max_width=4).example()  # doctest: +SKIP
[3, 4, 2]
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from dlnkit.arguments import checked
from dlnkit.numerics.point import num_params
from dlnkit.numerics.validation import DlnkitInputError

seeds = st.integers(min_value=0, max_value=2**16)


# ----- arguments are checked when a strategy is built, not when it is first drawn -----------


def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DlnkitInputError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise DlnkitInputError(f"{name} must be >= {low}, got {value}")
    return value


def _depth_bounds(min_depth=1, max_depth=4, max_width=6, min_width=1) -> None:
    _int_at_least("min_depth", min_depth, 1)
    _int_at_least("max_depth", max_depth, min_depth)
    _int_at_least("min_width", min_width, 1)
    _int_at_least("max_width", max_width, min_width)


def _value_bounds(min_value, max_value) -> None:
    for name, v in (("min_value", min_value), ("max_value", max_value)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DlnkitInputError(f"{name} must be a finite number, got {v!r}")
    if round(min_value * 4) < 1 or max_value < min_value:
        raise DlnkitInputError(
            f"singular values need 0.125 <= min_value <= max_value (a grid of quarters), got {min_value}, {max_value}"
        )


def _checked(check):
    """Run ``check(*args, **kwargs)`` when the strategy is built (a bad bound fails at once,
    with a :class:`DlnkitInputError`, instead of at the first draw)."""

    def wrap(build):
        @functools.wraps(build)
        def strategy(*args, **kwargs):
            check(*args, **kwargs)
            return build(*args, **kwargs)

        return strategy

    return wrap


def _check_dims(*, min_depth=1, max_depth=4, min_width=1, max_width=6, min_hidden=None) -> None:
    _depth_bounds(min_depth, max_depth, max_width, min_width)
    if min_hidden is not None:
        _int_at_least("min_hidden", min_hidden, 1)


def _check_spectra(rank, *, equal=None, min_value=0.5, max_value=3.0) -> None:
    _int_at_least("rank", rank, 2 if equal is False else 1)
    _value_bounds(min_value, max_value)


def _check_configs(*, min_depth=1, max_depth=4, max_width=6, **_ignored) -> None:
    _depth_bounds(min_depth, max_depth, max_width)


def _check_near(*, max_offset=0.25, **kwargs) -> None:
    if isinstance(max_offset, bool) or not isinstance(max_offset, (int, float)) or not 0 < max_offset < 1:
        raise DlnkitInputError(f"max_offset must be in (0, 1) (1 would zero W_L), got {max_offset!r}")
    _check_configs(**kwargs)


def _check_rational_weights(layer_dims, *, max_numerator=4, max_denominator=4) -> None:
    if not isinstance(layer_dims, (list, tuple)) or len(layer_dims) < 2:
        raise DlnkitInputError(f"layer_dims must list at least two widths, got {layer_dims!r}")
    for d in layer_dims:
        _int_at_least("every width in layer_dims", d, 1)
    _int_at_least("max_numerator", max_numerator, 0)
    _int_at_least("max_denominator", max_denominator, 1)


def _check_rational_points(
    *, min_depth=1, max_depth=3, max_width=3, with_target=True, max_numerator=4, max_denominator=4
) -> None:
    _depth_bounds(min_depth, max_depth, max_width)
    _int_at_least("max_numerator", max_numerator, 0)
    _int_at_least("max_denominator", max_denominator, 1)


def _check_data(d_in, batch=None, **_ignored) -> None:
    _int_at_least("d_in", d_in, 1)
    if batch is not None:
        _int_at_least("batch", batch, d_in)


@checked
@_checked(_check_dims)
@st.composite
def dims(
    draw,
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    min_width: int = 1,
    max_width: int = 6,
    min_hidden: int | None = None,
):
    """Layer widths [d_in, d_1, ..., d_out] with depth in [min_depth, max_depth]."""
    depth = draw(st.integers(min_depth, max_depth))
    lo_h = min_width if min_hidden is None else min_hidden
    d_in = draw(st.integers(min_width, max_width))
    d_out = draw(st.integers(min_width, max_width))
    hidden = [draw(st.integers(lo_h, max(lo_h, max_width))) for _ in range(depth - 1)]
    return [d_in, *hidden, d_out]


@checked
def singular_values(min_value: float = 0.3, max_value: float = 3.0):
    """One positive target singular value on a grid of quarters (distinct values shrink cleanly)."""
    _value_bounds(min_value, max_value)
    lo, hi = int(round(min_value * 4)), int(round(max_value * 4))
    return st.integers(lo, hi).map(lambda k: k / 4)


@checked
@_checked(_check_spectra)
@st.composite
def target_spectra(draw, rank: int, *, equal: bool | None = None, min_value: float = 0.5, max_value: float = 3.0):
    """A list of ``rank`` target singular values, all equal (``equal=True``), with at least two
    distinct (``equal=False``; needs rank >= 2), or either (``None``)."""
    if equal is True or rank == 1 and equal is None:
        v = draw(singular_values(min_value, max_value))
        return [v] * rank
    vals = draw(st.lists(singular_values(min_value, max_value), min_size=rank, max_size=rank))
    if equal is False:
        if rank < 2:
            raise ValueError("unequal target singular values need rank >= 2")
        if len(set(vals)) == 1:
            vals[0] = vals[0] + 0.5
    return sorted(vals, reverse=True)


@checked
@_checked(_check_configs)
@st.composite
def depth_point_configs(
    draw,
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    max_width: int = 6,
    equal_targets: bool | None = None,
    rank_below_dims: bool = True,
    hidden_at_least_rank: bool = True,
):
    """Configurations {dims, t, seed} for a balanced aligned global minimum (docs/claims.md#b1).

    ``rank_below_dims`` keeps r < max(d_in, d_out) so the bulk is not empty;
    ``hidden_at_least_rank`` keeps every hidden width >= r so the target is realisable.
    """
    d = draw(dims(min_depth=min_depth, max_depth=max_depth, min_width=1, max_width=max_width))
    max_rank = min(d[0], d[-1])
    if hidden_at_least_rank and len(d) > 2:
        max_rank = min(max_rank, min(d[1:-1]))
    if rank_below_dims:
        if max(d[0], d[-1]) <= 1:
            d[0] += 1
        max_rank = min(max_rank, max(d[0], d[-1]) - 1)
    max_rank = max(1, max_rank)
    r = draw(st.integers(1, max_rank))
    if equal_targets is False and r < 2:
        r = 2
        d = [max(x, 3) for x in d]
    t = draw(target_spectra(r, equal=equal_targets))
    return {"dims": d, "t": t, "seed": draw(seeds)}


# ----- points described by configurations -----------------------------------------------------

#: values that break "whitened" (condition number of the input covariance)
anisotropy_factors = st.sampled_from([2.0, 4.0, 10.0])


@checked
@_checked(_check_configs)
@st.composite
def global_minima(
    draw,
    *,
    min_depth: int = 1,
    max_depth: int = 4,
    max_width: int = 6,
    balanced: bool | None = True,
    aligned: bool | None = True,
    whitened: bool | None = True,
    equal_targets: bool | None = None,
):
    """Configurations of global minima (zero residual) for a rank-r target.

    ``balanced=False`` rescales W_1 -> c W_1, W_2 -> W_2 / c (c != 1, still a minimum);
    ``aligned=False`` twists the first hidden layer by an invertible A (still a minimum);
    ``whitened=False`` makes the input covariance anisotropic (the target map is still fitted
    exactly); ``None`` lets Hypothesis choose. Balanced or aligned False needs depth >= 2.

    >>> from dlnkit.api import build_point
    >>> cfg = {"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0, "balance": 2.0}
    >>> p = build_point(cfg)
    >>> bool(((p.weights[1] @ p.weights[0]) - p.target).abs().max() < 1e-12)
    True
    """
    needs2 = balanced is False or aligned is False
    cfg = draw(
        depth_point_configs(
            min_depth=max(min_depth, 2 if needs2 else 1),
            max_depth=max(max_depth, 2 if needs2 else 1),
            max_width=max_width,
            equal_targets=equal_targets,
        )
    )
    depth = len(cfg["dims"]) - 1
    if balanced is None:
        balanced = draw(st.booleans())
    if aligned is None:
        aligned = draw(st.booleans())
    if whitened is None:
        whitened = draw(st.booleans())
    if balanced is False and depth >= 2:
        cfg["balance"] = draw(st.sampled_from([0.5, 2.0, 1.5, 0.25]))
    if aligned is False and depth >= 2:
        cfg["misalignment"] = draw(st.sampled_from([0.3, 0.6, 0.1]))
    if whitened is False:
        cfg["anisotropy"] = draw(anisotropy_factors)
    return cfg


@checked
def balanced_aligned_points(**kwargs):
    """Balanced (W_{l+1}^T W_{l+1} = W_l W_l^T), aligned global minima: B1's points (docs/claims.md#b1).

    Keyword arguments as for :func:`global_minima` (``min_depth``, ``max_depth``,
    ``max_width``, ``whitened``, ``equal_targets``).
    """
    return global_minima(balanced=True, aligned=True, **kwargs)


@checked
@_checked(_check_near)
@st.composite
def near_minimum_points(draw, *, max_offset: float = 0.25, **kwargs):
    """A global minimum moved off by W_L -> (1 + e) W_L with 0 < |e| <= max_offset: the residual
    W - M = e M is nonzero but small, and the Hessian's residual part appears.

    Keyword arguments as for :func:`global_minima`.
    """
    cfg = draw(global_minima(**kwargs))
    k = draw(st.integers(1, 8))
    sign = draw(st.sampled_from([1, -1]))
    cfg["offset"] = sign * max_offset * k / 8
    return cfg


@checked
@_checked(_check_configs)
@st.composite
def generic_points(draw, *, min_depth: int = 1, max_depth: int = 4, max_width: int = 5, whitened: bool | None = True):
    """Any point: Gaussian weights (N(0, scale^2/d_{l-1})) and a Gaussian target map, with
    whitened data (``whitened=False``: anisotropic, ``None``: either).

    Configuration keys: ``dims``, ``seed``, ``scale``, ``anisotropy``.
    """
    d = draw(dims(min_depth=min_depth, max_depth=max_depth, max_width=max_width))
    if whitened is None:
        whitened = draw(st.booleans())
    return {
        "dims": d,
        "seed": draw(seeds),
        "scale": draw(st.sampled_from([1.0, 0.5, 2.0])),
        "anisotropy": 1.0 if whitened else draw(anisotropy_factors),
    }


def _fraction_strings(max_numerator: int, max_denominator: int):
    return st.builds(
        lambda n, q: str(Fraction(n, q)), st.integers(-max_numerator, max_numerator), st.integers(1, max_denominator)
    )


@checked
@_checked(_check_rational_weights)
@st.composite
def rational_weights(draw, layer_dims, *, max_numerator: int = 4, max_denominator: int = 4):
    """Weights [W_1, ..., W_L] for ``layer_dims`` (W_l is d_l x d_{l-1}) as nested lists of
    exact fractions written ``"p/q"`` (JSON-able; :func:`fractions.Fraction` reads them).

    >>> from hypothesis import find
    >>> find(rational_weights([2, 1]), lambda W: True)
    [[['0', '0']]]
    """
    layer_dims = [int(x) for x in layer_dims]
    entry = _fraction_strings(max_numerator, max_denominator)
    return [
        [[draw(entry) for _ in range(layer_dims[k])] for _ in range(layer_dims[k + 1])]
        for k in range(len(layer_dims) - 1)
    ]


@checked
@_checked(_check_rational_points)
@st.composite
def rational_points(
    draw,
    *,
    min_depth: int = 1,
    max_depth: int = 3,
    max_width: int = 3,
    with_target: bool = True,
    max_numerator: int = 4,
    max_denominator: int = 4,
):
    """Configurations ``{"weights", "target"}`` with exact rational entries (whitened data):
    the same point in float64 (:func:`dlnkit.build_point`) and in exact arithmetic
    (:func:`dlnkit.exact.exact_point`)."""
    d = draw(dims(min_depth=min_depth, max_depth=max_depth, max_width=max_width))
    cfg = {"weights": draw(rational_weights(d, max_numerator=max_numerator, max_denominator=max_denominator))}
    if with_target:
        cfg["target"] = draw(
            rational_weights([d[0], d[-1]], max_numerator=max_numerator, max_denominator=max_denominator)
        )[0]
    return cfg


@checked
def small_enough(strategy: st.SearchStrategy, max_params: int = 60):
    """Keep configurations with at most ``max_params`` parameters (e.g. for the exact mode)."""
    _int_at_least("max_params", max_params, 1)

    def count(cfg):
        if "weights" in cfg:
            return sum(len(W) * len(W[0]) for W in cfg["weights"])

        return num_params(cfg["dims"])

    return strategy.filter(lambda c: count(c) <= max_params)


# ----- arrays with a promised property ---------------------------------------------------


def _rng(seed):
    return np.random.default_rng(int(seed))


@checked
def orthogonal_matrices(n: int, k: int | None = None):
    """n x k NumPy arrays with orthonormal columns (Q^T Q = I; k = n: orthogonal), Haar
    distributed (QR of a Gaussian matrix with the sign fix), from a drawn seed.

    >>> import numpy as np
    >>> from hypothesis import find
    >>> Q = find(orthogonal_matrices(4, 2), lambda Q: True)
    >>> bool(np.allclose(Q.T @ Q, np.eye(2)))
    True
    """
    _int_at_least("n", n, 1)
    k = n if k is None else _int_at_least("k", k, 0)
    if k > n:
        raise DlnkitInputError(f"need 0 <= k <= n, got n={n}, k={k}")

    def build(seed):
        a = _rng(seed).standard_normal((n, max(k, 1)))
        q, r = np.linalg.qr(a)
        d = np.sign(np.diag(r))
        d[d == 0] = 1.0
        return (q * d)[:, :k]

    return seeds.map(build)


@checked
@_checked(_check_data)
@st.composite
def whitened_data(draw, d_in: int, batch: int | None = None):
    """A batch X (B x d_in, B >= d_in, default drawn in [d_in, 4 d_in]) with (1/B) X^T X = I
    to rounding: a Gaussian batch whitened by the inverse square root of its second moment."""
    B = draw(st.integers(max(d_in, 1), max(4 * d_in, 2))) if batch is None else int(batch)
    if B < d_in:
        raise ValueError(f"whitening needs batch >= d_in, got {B} < {d_in}")
    seed = draw(seeds)
    rng = _rng(seed)
    while True:
        X = rng.standard_normal((B, d_in))
        S = X.T @ X / B
        w, V = np.linalg.eigh(S)
        if w.min() > 1e-8 * w.max():
            return X @ (V / np.sqrt(w)) @ V.T


@checked
@_checked(_check_data)
@st.composite
def anisotropic_data(draw, d_in: int, batch: int | None = None, *, condition: float | None = None):
    """A batch X whose covariance (1/B) X^T X has eigenvalues spread geometrically over
    [1/sqrt(k), sqrt(k)] (condition number k, determinant 1) in a random basis; ``condition``
    k is drawn from :data:`anisotropy_factors` unless given. Returns (X, k); with d_in = 1 the
    covariance is 1 and k is returned as 1.0."""
    k = draw(anisotropy_factors) if condition is None else float(condition)
    Z = draw(whitened_data(d_in, batch))
    Q = draw(orthogonal_matrices(d_in))
    if d_in == 1:
        k = 1.0
    ev = np.logspace(-0.5 * np.log10(k), 0.5 * np.log10(k), d_in) if d_in > 1 else np.ones(1)
    return Z @ (Q * np.sqrt(ev)) @ Q.T, k
