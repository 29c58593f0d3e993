"""Hypothesis strategies for deep-linear-network configurations.

Each strategy produces JSON-able values (ints, floats, lists), so a drawn configuration can be
stored, replayed and shrunk. They compose: ``depth_point_configs`` is built from ``dims``,
``target_spectra`` and ``seeds``.

>>> from hypothesis import given
>>> dims(min_depth=2, max_depth=2, max_width=4).example()  # doctest: +SKIP
[3, 4, 2]
"""
from __future__ import annotations

from hypothesis import strategies as st

seeds = st.integers(min_value=0, max_value=2**16)


@st.composite
def dims(draw, *, min_depth: int = 1, max_depth: int = 4, min_width: int = 1, max_width: int = 6,
         min_hidden: int | None = None):
    """Layer widths [d_in, d_1, ..., d_out] with depth in [min_depth, max_depth]."""
    depth = draw(st.integers(min_depth, max_depth))
    lo_h = min_width if min_hidden is None else min_hidden
    d_in = draw(st.integers(min_width, max_width))
    d_out = draw(st.integers(min_width, max_width))
    hidden = [draw(st.integers(lo_h, max(lo_h, max_width))) for _ in range(depth - 1)]
    return [d_in, *hidden, d_out]


def singular_values(min_value: float = 0.3, max_value: float = 3.0):
    """One positive target singular value on a grid of quarters (distinct values shrink cleanly)."""
    lo, hi = int(round(min_value * 4)), int(round(max_value * 4))
    return st.integers(lo, hi).map(lambda k: k / 4)


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


@st.composite
def depth_point_configs(draw, *, min_depth: int = 1, max_depth: int = 4, max_width: int = 6,
                        equal_targets: bool | None = None, rank_below_dims: bool = True,
                        hidden_at_least_rank: bool = True):
    """Configurations {dims, t, seed} for a balanced aligned global minimum (SPEC B1).

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
