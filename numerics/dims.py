"""Counts and offsets of a deep linear network's parameters from its widths (pure Python, imported
by every module that needs them, from the memory guards up to :mod:`dlnkit.numerics.point`).

dims = [d_0 = d_in, d_1, ..., d_L = d_out]; W_l has shape (d_l, d_{l-1}) and the parameter vector
is the concatenation of the row-major flattened W_l, so P = sum_l d_l d_{l-1}.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlnkit.arguments import DlnkitInputError, checked


@checked
def num_params(dims: Sequence[int]) -> int:
    """P = sum_l d_l d_{l-1} for widths [d_0, ..., d_L].

    >>> num_params([3, 4, 2])
    20
    """
    return sum(int(a) * int(b) for a, b in zip(dims[:-1], dims[1:]))


@checked
def dims_of(weights: Sequence[Any]) -> list[int]:
    """[d_0, ..., d_L] of a chain of weight matrices W_l (d_l x d_{l-1}); anything with ``.shape``.

    >>> import numpy as np
    >>> dims_of([np.zeros((4, 3)), np.zeros((2, 4))])
    [3, 4, 2]
    """
    shapes = [tuple(getattr(W, "shape", ())) for W in weights]
    if not shapes or any(len(sh) != 2 for sh in shapes):
        raise DlnkitInputError(f"weights must be a non-empty list of matrices, got shapes {shapes}")
    return [int(shapes[0][1])] + [int(sh[0]) for sh in shapes]


@checked
def layer_offsets(dims: Sequence[int]) -> list[int]:
    """Where each W_l starts in the flat (row-major) parameter vector, plus P at the end.

    >>> layer_offsets([3, 4, 2])
    [0, 12, 20]
    """
    out = [0]
    for a, b in zip(dims[:-1], dims[1:]):
        out.append(out[-1] + int(a) * int(b))
    return out


__all__ = ["num_params", "layer_offsets"]
