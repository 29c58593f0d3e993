"""Input checks at the boundary: clear errors instead of deep torch tracebacks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# the input error is defined with the one argument check of the public API (torch- and SymPy-free)
from dlnkit.arguments import DlnkitInputError as DlnkitInputError, checked as checked


def check_dims(dims: Sequence[int]) -> list[int]:
    """Validate a layer-width list ``[d_in, d_1, ..., d_out]`` (depth = len(dims) - 1 >= 1).

    Parameters
    ----------
    dims
        Layer widths ``[d_in, d_1, ..., d_out]``; each a positive integer.

    Returns
    -------
    list of int
        The widths as plain ints.

    Raises
    ------
    DlnkitInputError
        Fewer than two entries, a non-integer or a width below 1.

    Examples
    --------
    >>> check_dims([3, 4, 2])
    [3, 4, 2]
    >>> check_dims([3])
    Traceback (most recent call last):
    ...
    dlnkit.arguments.DlnkitInputError: dims must list at least d_in and d_out (depth >= 1), got [3]
    """
    try:
        out = [int(d) for d in dims]
    except (TypeError, ValueError):
        raise DlnkitInputError(f"dims must be a list of positive integers, got {dims!r}") from None
    if any(o != d for o, d in zip(out, dims)):
        raise DlnkitInputError(f"dims must be integers, got {list(dims)!r}")
    if len(out) < 2:
        raise DlnkitInputError(f"dims must list at least d_in and d_out (depth >= 1), got {out}")
    if any(d < 1 for d in out):
        raise DlnkitInputError(f"every width in dims must be >= 1, got {out}")
    return out


def check_rank(rank: int, dims: Sequence[int], *, need_hidden: bool = True) -> int:
    """A target rank must satisfy 1 <= r <= min(d_in, d_out) (and <= every hidden width
    when the network must realise it)."""
    r = int(rank)
    d_in, d_out = dims[0], dims[-1]
    if r < 1 or r > min(d_in, d_out):
        raise DlnkitInputError(f"rank must be between 1 and min(d_in, d_out) = {min(d_in, d_out)}, got {r}")
    if need_hidden and any(r > d for d in dims[1:-1]):
        raise DlnkitInputError(
            f"rank {r} exceeds a hidden width in {list(dims)}: a balanced aligned point needs every width >= rank"
        )
    return r


@checked
def check_finite(tensors: Iterable[object], what: str = "weights") -> None:
    """Raise if any tensor or number holds NaN or inf.

    Parameters
    ----------
    tensors
        Tensors, arrays or numbers to check.
    what
        What they are, for the error message.

    Raises
    ------
    DlnkitInputError
        One of them holds NaN or inf.
    """
    import torch

    for i, t in enumerate(tensors):
        if isinstance(t, torch.Tensor):
            if t.device.type == "meta":
                raise DlnkitInputError(f"{what} (entry {i}) is on the 'meta' device: shapes only, no values")
            ok = bool(torch.isfinite(t).all())
        else:
            ok = all(math.isfinite(float(x)) for x in (t if hasattr(t, "__iter__") else [t]))
        if not ok:
            raise DlnkitInputError(f"non-finite values in {what} (entry {i})")


#: largest |log10| of a number a float64 route may square and multiply a few times over
LOG10_SAFE = 100.0


def check_target_scale(singular_values: Sequence[float], depth: int) -> list[float]:
    """Target singular values t whose Hessian at a balanced minimum stays well inside float64.

    The Hessian's entries there scale like t^(2(L-1)/L) and products of L per-layer values
    t^(1/L) appear on the way; 10^(+-100) leaves room for those products (float64 ends near
    10^(+-308)), so nothing overflows to inf or underflows to 0 silently.

    >>> check_target_scale([2.0, 1e-3], 3)
    [2.0, 0.001]
    >>> check_target_scale([1e300], 8)
    Traceback (most recent call last):
    ...
    dlnkit.arguments.DlnkitInputError: target singular value 1e+300 is outside the range float64 handles ...
    """
    out = []
    L = int(depth)
    for x in singular_values:
        v = float(x)
        if not math.isfinite(v) or v <= 0:
            raise DlnkitInputError(f"target singular values must be positive and finite, got {v!r}")
        lg = math.log10(v)
        scaled = lg * max(1.0, 2.0 * (L - 1) / L)
        if abs(lg) > LOG10_SAFE or abs(scaled) > LOG10_SAFE:
            raise DlnkitInputError(
                f"target singular value {v:g} is outside the range float64 handles at depth {L} "
                f"(1e-100 ... 1e+100 after scaling by t^(2(L-1)/L)); rescale the targets"
            )
        out.append(v)
    return out


class DlnkitComputationError(RuntimeError):
    """A computation failed although its input was valid (training diverged, a solver did not
    converge). The CLI prints one line and exits with 3, apart from bad input (2)."""


class TrainingDivergedError(DlnkitComputationError, FloatingPointError):
    """Training produced a non-finite loss: lower the learning rate (not an input error)."""


def check_vectors(owner: str, **arrays: object) -> list[npt.NDArray[np.float64]]:
    """The named arguments as 1-D float64 NumPy arrays of one common length (a fit's paired samples).

    >>> [a.tolist() for a in check_vectors("fit", x=[1, 2], y=(3.0, 4.0))]
    [[1.0, 2.0], [3.0, 4.0]]
    >>> check_vectors("fit", x=[1, 2], y=[3.0])
    Traceback (most recent call last):
    ...
    dlnkit.arguments.DlnkitInputError: fit(): x and y must have one length, got 2 and 1
    """
    import numpy as np

    out = []
    for name, value in arrays.items():
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise DlnkitInputError(f"{owner}(): {name} must be a list or 1-D array of numbers") from None
        if a.ndim != 1:
            raise DlnkitInputError(f"{owner}(): {name} must be 1-D, got shape {a.shape}")
        out.append(a)
    lengths = [len(a) for a in out]
    if len(set(lengths)) > 1:
        raise DlnkitInputError(
            f"{owner}(): {' and '.join(arrays)} must have one length, got {' and '.join(map(str, lengths))}"
        )
    return out


def returns_scalar(fn: Callable[..., Any], what: str) -> Callable[..., Any]:
    """``fn`` checked at the boundary with user code: each call must return one real floating-point
    number as a tensor (shape () or (1,)); None, a tuple, a vector, an integer or complex tensor
    is a :class:`DlnkitInputError` naming ``what`` and what came back (instead of an error from
    inside ``torch.func`` or autograd). The result is reshaped to ().

    >>> import torch
    >>> returns_scalar(lambda x: x.sum(), "f(x)")(torch.ones(2))
    tensor(2.)
    >>> returns_scalar(lambda x: x, "f(x)")(torch.ones(2))
    Traceback (most recent call last):
    ...
    dlnkit.arguments.DlnkitInputError: f(x) must return a real scalar tensor, got a torch.float32 tensor of shape (2,)
    """
    import torch

    if getattr(fn, "_dlnkit_returns_scalar", False):
        return fn

    def scalar_fn(*args: Any) -> Any:
        out = fn(*args)
        if not isinstance(out, torch.Tensor) or out.numel() != 1 or not out.is_floating_point():
            got = type(out).__name__
            if isinstance(out, torch.Tensor):
                got = f"a {out.dtype} tensor of shape {tuple(out.shape)}"
            raise DlnkitInputError(f"{what} must return a real scalar tensor, got {got}")
        return out.reshape(())

    scalar_fn._dlnkit_returns_scalar = True  # type: ignore[attr-defined]
    return scalar_fn
