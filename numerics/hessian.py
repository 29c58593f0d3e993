"""Exact Hessians of arbitrary torch losses: dense (torch.func), HVPs, and a curvature operator.

The dense route is the independent reference against which every closed form is tested. A
memory guard refuses dense Hessians that would not fit *before* allocating anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch.func import grad, hessian, jacrev, jvp, vjp, vmap

from dlnkit.numerics.memory import AllocationTooLargeError, memory_budget_bytes
from dlnkit.numerics.validation import DlnkitInputError

LossFn = Callable[..., torch.Tensor]


class HessianTooLargeError(AllocationTooLargeError):
    """A dense Hessian was requested that would not fit in the available memory."""


def flatten_params(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate row-major flattened tensors: torch's own parameter layout.

    Parameters
    ----------
    params
        Tensors of any shapes (same dtype and device).

    Returns
    -------
    torch.Tensor
        One flat vector of length P = sum of their sizes.
    """
    return torch.cat([p.reshape(-1) for p in params])


def unflatten_like(vec: torch.Tensor, params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Split a flat vector into tensors shaped like ``params`` (the inverse of :func:`flatten_params`).

    Parameters
    ----------
    vec
        A flat vector of length P.
    params
        Tensors giving the shapes.

    Returns
    -------
    tuple of torch.Tensor
        Views of ``vec`` with the shapes of ``params`` (leading batch dimensions of ``vec`` are kept).
    """
    out, i = [], 0
    for p in params:
        n = p.numel()
        out.append(vec[..., i : i + n].reshape(*vec.shape[:-1], *p.shape))
        i += n
    return tuple(out)


def available_memory_bytes(device: torch.device | str = "cpu") -> int:
    """Memory this process may still allocate on the device: free memory, ``ulimit -v`` and
    cgroup limits (see :func:`dlnkit.numerics.memory.memory_budget_bytes`)."""
    return memory_budget_bytes(device)


def dense_hessian_bytes(num_params: int, dtype: torch.dtype = torch.float64, copies: float = 1.0) -> int:
    """Bytes for ``copies`` dense P x P matrices of ``dtype``.

    Parameters
    ----------
    num_params
        P.
    dtype
        Element type.
    copies
        How many P x P matrices.

    Returns
    -------
    int
        Bytes.

    Examples
    --------
    >>> dense_hessian_bytes(10_000)  # 10^8 float64 numbers
    800000000
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    return int(math.ceil(copies * num_params * num_params * itemsize))


def check_dense_fits(
    num_params: int,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    *,
    copies: float = 3.0,
    budget_bytes: int | None = None,
    fraction: float = 0.8,
) -> int:
    """Raise :class:`HessianTooLargeError` if ``copies`` dense P x P matrices exceed the budget.

    The budget is ``fraction`` of the free memory unless given. Returns the estimated bytes.
    ``copies`` covers the working space of the route (assembly buffers, eigensolver copies).

    Parameters
    ----------
    num_params
        P.
    dtype, device
        Of the matrices.
    copies
        How many P x P matrices the route holds at its peak.
    budget_bytes
        The budget; default: ``fraction`` of the device's free memory.
    fraction
        Share of the free memory used when no budget is given.

    Returns
    -------
    int
        The estimated bytes.

    Raises
    ------
    HessianTooLargeError
        The estimate exceeds the budget.
    """
    need = dense_hessian_bytes(num_params, dtype, copies)
    budget = int(fraction * available_memory_bytes(device)) if budget_bytes is None else int(budget_bytes)
    if need > budget:
        raise HessianTooLargeError(
            f"a dense {num_params} x {num_params} Hessian ({dtype}) needs about {need / 2**30:.2f} GiB "
            f"with working space, more than the {budget / 2**30:.2f} GiB budget on {torch.device(device)}; "
            "use HessianOperator (HVPs, numerics.top_eigenvalues) or the structured forms "
            "(dln_gauss_newton_nonzero_spectrum, per-layer Kronecker blocks) instead"
        )
    return need


def _checked_params(params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """Detached parameters, refusing an empty list, non-tensors, mixed dtypes/devices and NaN/inf."""
    try:
        out = tuple(p.detach() for p in params)
    except (AttributeError, TypeError):
        raise DlnkitInputError("parameters must be a list of torch tensors") from None
    if not out:
        raise DlnkitInputError("the parameter list is empty: nothing to differentiate")
    for i, p in enumerate(out):
        if not p.is_floating_point():
            raise DlnkitInputError(f"parameter {i} must be floating point, got {p.dtype}")
        if p.numel() == 0:
            raise DlnkitInputError(f"parameter {i} is empty (shape {tuple(p.shape)})")
        if p.dtype != out[0].dtype or p.device != out[0].device:
            raise DlnkitInputError(
                f"all parameters must share one dtype and device: parameter 0 is {out[0].dtype} "
                f"on {out[0].device}, parameter {i} is {p.dtype} on {p.device}"
            )
        if not bool(torch.isfinite(p).all()):
            raise DlnkitInputError(f"non-finite values (NaN or inf) in parameter {i}")
    return out


def dense_hessian(
    loss_fn: LossFn, params: Sequence[torch.Tensor], *, check_memory: bool = True, budget_bytes: int | None = None
) -> torch.Tensor:
    """The exact P x P Hessian of ``loss_fn(*params)`` by torch.func (forward-over-reverse).

    Rows and columns follow the concatenated row-major parameter layout. When the one-shot route's
    working space (~4 P x P copies) exceeds the memory budget, the Hessian is built in column
    blocks of HVPs (:func:`dlnkit.numerics.hessian_chunked.dense_hessian_chunked`, ~1 copy).

    Parameters
    ----------
    loss_fn
        ``loss_fn(*params)`` returns a scalar tensor; it must be a pure function of ``params``.
    params
        The tensors to differentiate with respect to.
    check_memory
        Refuse (before allocating) when the Hessian cannot fit in the memory budget.
    budget_bytes
        The budget; default: a fraction of the free memory of the parameters' device.

    Returns
    -------
    torch.Tensor
        P x P, symmetric up to rounding, on the parameters' device and dtype.

    Raises
    ------
    HessianTooLargeError
        The Hessian does not fit (a :class:`DlnkitInputError`).
    DlnkitInputError
        An empty parameter list, non-float, mixed dtype/device or non-finite parameters.

    Examples
    --------
    >>> f = lambda a, b: (a ** 2).sum() * b.sum()
    >>> H = dense_hessian(f, [torch.ones(2, dtype=torch.float64), torch.ones(1, dtype=torch.float64)])
    >>> H.tolist()
    [[2.0, 0.0, 2.0], [0.0, 2.0, 2.0], [2.0, 2.0, 0.0]]
    """
    params = _checked_params(params)
    n = sum(p.numel() for p in params)
    if check_memory:
        try:
            check_dense_fits(n, params[0].dtype, params[0].device, copies=4.0, budget_bytes=budget_bytes)
        except HessianTooLargeError:
            # the one-shot torch.func Hessian holds ~4 P x P copies; column blocks of exact HVPs need
            # one P x P result plus a block, so that route builds it when it fits (and refuses, with
            # its own estimate, when even that does not)
            from dlnkit.numerics.hessian_chunked import dense_hessian_chunked

            device = params[0].device
            budget = int(0.8 * available_memory_bytes(device)) if budget_bytes is None else int(budget_bytes)
            return dense_hessian_chunked(loss_fn, params, memory_budget_bytes=budget)
    argnums = tuple(range(len(params)))
    try:
        blocks = hessian(loss_fn, argnums=argnums)(*params)
    except (RuntimeError, NotImplementedError) as exc:
        if not _forward_ad_unsupported(exc):
            raise
        blocks = jacrev(jacrev(loss_fn, argnums=argnums), argnums=argnums)(*params)
    rows = []
    for i, pi in enumerate(params):
        rows.append(torch.cat([blocks[i][j].reshape(pi.numel(), pj.numel()) for j, pj in enumerate(params)], dim=1))
    return torch.cat(rows, dim=0)


def hvp(loss_fn: LossFn, params: Sequence[torch.Tensor], vec: torch.Tensor) -> torch.Tensor:
    """Exact Hessian-vector product H v for a flat vector v (forward-over-reverse, no finite differences).

    Parameters
    ----------
    loss_fn
        ``loss_fn(*params)`` returns a scalar tensor.
    params
        The point.
    vec
        A flat vector of length P (the parameters' row-major layout).

    Returns
    -------
    torch.Tensor
        H v, flat, length P.
    """
    params = tuple(p.detach() for p in params)
    tangents = unflatten_like(vec, params)
    argnums = tuple(range(len(params)))
    try:
        # torch's stubs type jvp/vjp as 3-tuples (the has_aux form); without aux they return 2 items
        out = jvp(lambda *ps: grad(loss_fn, argnums=argnums)(*ps), params, tangents)[1]
    except (RuntimeError, NotImplementedError) as exc:
        if not _forward_ad_unsupported(exc):
            raise
        # some torch losses have no usable forward-mode formula for their backward (MSELoss writes
        # into a ZeroTensor tangent, HuberLoss has none): reverse-over-reverse needs only double backward
        pull = vjp(grad(loss_fn, argnums=argnums), *params)[1]
        out = pull(tangents)
    return flatten_params(out)


def _forward_ad_unsupported(exc: BaseException) -> bool:
    msg = str(exc)
    return "forward AD" in msg or "ZeroTensors are immutable" in msg or "forward-mode" in msg


def hvp_batched(
    loss_fn: LossFn, params: Sequence[torch.Tensor], vecs: torch.Tensor, *, chunk_size: int | None = None
) -> torch.Tensor:
    """H V for a matrix of vectors V (P x k), by ``vmap`` over :func:`hvp` in chunks of columns."""
    params = tuple(p.detach() for p in params)
    f = vmap(lambda v: hvp(loss_fn, params, v), chunk_size=chunk_size)
    return f(vecs.T).T


class HessianOperator:
    """The Hessian of a loss as a curvature operator (:mod:`dlnkit.numerics.operators`): ``matvec`` is
    one exact HVP, ``matmat`` a ``vmap`` of them; products run on the parameters' device and dtype.

    :meth:`to_scipy` gives a ``scipy.sparse.linalg.LinearOperator`` (numpy float64 at the boundary)
    for ``eigsh``, ``cg`` and the like.

    Parameters
    ----------
    loss_fn
        ``loss_fn(*params)`` returns a scalar tensor.
    params
        The point.
    chunk_size
        How many HVPs ``matmat`` batches at once (``None``: all columns at once).

    Examples
    --------
    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> op = HessianOperator(lambda w: 0.5 * w @ A @ w, [torch.zeros(2, dtype=torch.float64)])
    >>> op.size, bool(torch.allclose(op.matmat(torch.eye(2, dtype=torch.float64)), A))
    (2, True)
    >>> np.allclose(op.to_scipy() @ np.eye(2), A.numpy()), op.num_hvps
    (True, 4)
    """

    symmetric = True  # Hessians are symmetric

    def __init__(self, loss_fn: LossFn, params: Sequence[torch.Tensor], *, chunk_size: int | None = 64):
        self.loss_fn = loss_fn
        self.params = _checked_params(params)
        self.num_params = sum(p.numel() for p in self.params)
        self.chunk_size = chunk_size
        self.num_hvps = 0
        ref = self.params[0]
        self._dtype, self._device = ref.dtype, ref.device

    @property
    def size(self) -> int:
        """The number of parameters (the operator is size x size)."""
        return self.num_params

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_params, self.num_params)

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' torch dtype (every HVP runs in it)."""
        return self._dtype

    @property
    def device(self) -> torch.device:
        """The parameters' device (where every HVP runs)."""
        return self._device

    param_dtype = dtype
    param_device = device

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H v for a flat vector (one HVP)."""
        self.num_hvps += 1
        return hvp(self.loss_fn, self.params, v.reshape(-1).to(dtype=self._dtype, device=self._device)).detach()

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H V for a (P, k) block (k HVPs, ``chunk_size`` at a time)."""
        V = V.reshape(self.num_params, -1).to(dtype=self._dtype, device=self._device)
        self.num_hvps += V.shape[1]
        return hvp_batched(self.loss_fn, self.params, V, chunk_size=self.chunk_size).detach()

    def to_scipy(self) -> LinearOperator:
        """This Hessian as a ``scipy.sparse.linalg.LinearOperator`` (float64 numpy in and out)."""
        n = self.num_params

        def mm(X: np.ndarray) -> np.ndarray:
            V = torch.as_tensor(np.ascontiguousarray(X), dtype=self._dtype, device=self._device)
            out = self.matmat(V.reshape(n, -1)).cpu().numpy().astype(np.float64)
            return out.reshape(X.shape)

        return LinearOperator((n, n), matvec=mm, matmat=mm, rmatvec=mm, rmatmat=mm, dtype=np.float64)
