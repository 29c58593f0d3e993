r"""One curvature-operator protocol that every spectral algorithm takes.

A *curvature operator* is a symmetric linear map :math:`A:\mathbb R^n\to\mathbb R^n` known only
through products: it has a ``size`` n, the torch ``dtype`` and ``device`` its products run in, a
``matvec`` (an n vector to :math:`Av`) and a batched ``matmat`` (an (n, k) block to :math:`AV`,
ideally one pass over the data for all k columns), and ``symmetric`` (True for every Hessian,
Gauss-Newton and Fisher matrix; the Lanczos kernel refuses an operator that says otherwise).

Implementations: :class:`~dlnkit.numerics.hessian.HessianOperator` (exact HVPs of a loss
function), :class:`~dlnkit.numerics.curvature.ModelCurvature` (Hessian of a model over a data
set; :meth:`~dlnkit.numerics.curvature.ModelCurvature.operator` for the GGN and empirical Fisher),
:class:`DenseOperator` (an explicit matrix, e.g. a closed-form DLN Hessian from
:mod:`dlnkit.numerics.dln_hessian`) and :class:`MatmatOperator` (any torch function).
:func:`as_operator` turns each of these, a square tensor or a callable with its size into one.

The algorithms (:mod:`dlnkit.numerics.lanczos`, :mod:`dlnkit.numerics.slq`,
:mod:`dlnkit.numerics.trace_estimators`) do their own arithmetic in float64 on the operator's
device and hand the operator its own dtype.

>>> A = torch.diag(torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64))
>>> op = as_operator(A)
>>> op.size, op.dtype, isinstance(op, CurvatureOperator)
(3, torch.float64, True)
>>> op.matmat(torch.eye(3, dtype=torch.float64)).diagonal().tolist()
[3.0, 1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError

Matmat = Callable[[torch.Tensor], torch.Tensor]


@runtime_checkable
class CurvatureOperator(Protocol):
    """A symmetric n x n matrix known through products (see the module docstring)."""

    @property
    def size(self) -> int: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def symmetric(self) -> bool: ...

    def matvec(self, v: torch.Tensor) -> torch.Tensor: ...

    def matmat(self, V: torch.Tensor) -> torch.Tensor: ...


class MatmatOperator:
    """An operator from a torch function of an (n, k) block (``batched=True``) or of an n vector
    (``batched=False``: the block is applied column by column)."""

    @checked
    def __init__(
        self,
        fn: Matmat,
        size: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
        batched: bool = True,
        symmetric: bool = True,
    ):
        if int(size) < 1:
            raise DlnkitInputError(f"an operator needs a size >= 1, got {size}")
        self._fn, self._size, self._batched, self._symmetric = fn, int(size), batched, symmetric
        self._dtype, self._device = dtype, torch.device(device)

    @property
    def size(self) -> int:
        return self._size

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def symmetric(self) -> bool:
        return self._symmetric

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matmat(v.reshape(self._size, 1)).reshape(self._size)

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        V = V.reshape(self._size, -1).to(dtype=self._dtype, device=self._device)
        if self._batched:
            return self._fn(V).reshape(self._size, -1)
        return torch.stack([self._fn(V[:, j]).reshape(self._size) for j in range(V.shape[1])], dim=1)


class DenseOperator:
    """An explicit symmetric matrix (a closed-form Hessian, a test matrix) as an operator."""

    @checked
    def __init__(self, matrix: torch.Tensor, *, symmetric: bool = True):
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
            raise DlnkitInputError(f"a dense operator needs a non-empty square matrix, got shape {tuple(matrix.shape)}")
        if not matrix.is_floating_point():
            raise DlnkitInputError(f"a dense operator needs a floating-point matrix, got {matrix.dtype}")
        self.matrix, self._symmetric = matrix, symmetric

    @property
    def size(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    @property
    def symmetric(self) -> bool:
        return self._symmetric

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matrix @ v.reshape(-1).to(dtype=self.dtype, device=self.device)

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.matrix @ V.reshape(self.size, -1).to(dtype=self.dtype, device=self.device)


@checked
def as_operator(obj: object, n: int | None = None, *, batched: bool = True) -> CurvatureOperator:
    """``obj`` as a :class:`CurvatureOperator`: an operator itself, a square torch tensor, or a torch
    callable together with its size ``n`` (a block function, or a vector function with
    ``batched=False``)."""
    if isinstance(obj, torch.Tensor):
        return DenseOperator(obj)
    if isinstance(obj, CurvatureOperator) and isinstance(getattr(obj, "dtype", None), torch.dtype):
        return obj
    if callable(obj):
        if n is None:
            raise DlnkitInputError("a callable operator needs its dimension n=")
        return MatmatOperator(obj, int(n), batched=batched)
    raise DlnkitInputError(
        f"expected a curvature operator (size, dtype, device, matvec, matmat), a square tensor or a "
        f"callable with n=, got {type(obj).__name__}"
    )


__all__ = ["CurvatureOperator", "DenseOperator", "MatmatOperator", "Matmat", "as_operator"]
