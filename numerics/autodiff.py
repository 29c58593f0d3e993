r"""Exact second derivatives by automatic differentiation: the flat parameter layout, Hessian-vector
products and the two autodiff routes to a dense Hessian, with the dense-size guard.

Which autodiff composition is used, and why:

* **double backward** (reverse-over-reverse): differentiate the gradient's graph again. It needs
  only the double-backward formulas every differentiable torch op has, and it is right where
  torch.func's ``hessian`` (forward-over-reverse over ``jacrev``) is not: on a network with
  parameters *before* a LayerNorm, torch 2.13's ``torch.func.hessian`` and ``jacrev(jacrev(f))``
  get the (LayerNorm weight, upstream weight) block wrong by O(0.1-1) while double backward,
  ``vjp`` of ``grad`` and central finite differences agree to 1e-8
  (``tests/test_hessian_routes.py``). It is the default for every loss dlnkit knows nothing about.
* **forward-over-reverse** (``jvp`` of ``grad``) and **torch.func's hessian**: faster, and used
  only for the chains of :mod:`dlnkit.numerics.chains` (``ChainLoss``, ``MomentLoss``: matrix
  products and tanh/relu), on which the tests check them against double backward and the closed
  form; or when a caller asks for them by name.

The choice among these and the closed form, with one memory estimate per route, is made in one
place: :func:`dlnkit.numerics.hessian.dense_hessian`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.func import grad, hessian, jvp, vjp, vmap

from dlnkit.arguments import checked
from dlnkit.numerics.chains import is_checked_chain
from dlnkit.numerics.memory import AllocationTooLargeError, memory_budget_bytes
from dlnkit.numerics.validation import DlnkitInputError, returns_scalar

LossFn = Callable[..., torch.Tensor]
#: HVP compositions: "reverse" (vjp of grad: double backward) and "forward" (jvp of grad)
HVP_MODES = ("reverse", "forward")


class HessianTooLargeError(AllocationTooLargeError):
    """A dense Hessian was requested that would not fit in the available memory."""


@checked
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


@checked
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
    total = sum(p.numel() for p in params)
    if vec.ndim < 1 or vec.shape[-1] != total or not vec.is_floating_point():
        raise DlnkitInputError(
            f"vec must be a real floating tensor whose last dimension is the {total} parameters, "
            f"got {vec.dtype} of shape {tuple(vec.shape)}"
        )
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


@checked
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


@checked
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
    if not 0 < fraction <= 1 or copies != copies or copies < 0:
        raise DlnkitInputError(f"need 0 < fraction <= 1 and copies >= 0, got fraction={fraction!r}, copies={copies!r}")
    budget = int(fraction * available_memory_bytes(device)) if budget_bytes is None else int(budget_bytes)
    if need > budget:
        raise HessianTooLargeError(
            f"a dense {num_params} x {num_params} Hessian ({dtype}) needs about {need / 2**30:.2f} GiB "
            f"with working space, more than the {budget / 2**30:.2f} GiB budget on {torch.device(device)}; "
            "use HessianOperator (HVPs, numerics.top_eigenvalues) or the structured forms "
            "(dln_gauss_newton_nonzero_spectrum, per-layer Kronecker blocks) instead"
        )
    return need


@checked
def checked_params(params: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
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


def scalar_loss(loss_fn: LossFn) -> LossFn:
    """``loss_fn`` checked at the boundary (:func:`~dlnkit.numerics.validation.returns_scalar`): a
    call returning anything but a real scalar tensor is one :class:`DlnkitInputError`. The checked
    chains (:class:`ChainLoss`, :class:`MomentLoss`) pass through (scalars by construction)."""
    return loss_fn if is_checked_chain(loss_fn) else returns_scalar(loss_fn, "loss_fn(*params)")


@checked
def saved_numbers(fn: Callable[..., torch.Tensor], *args: torch.Tensor) -> int:
    """How many numbers one evaluation ``fn(*args)`` saves for backward, with every tensor argument
    made a leaf that requires grad (counted by a saved-tensor hook): the size of its autograd graph,
    which every autodiff Hessian route holds copies of.

    >>> saved_numbers(lambda w: (torch.tanh(w) ** 2).sum(), torch.zeros(5, dtype=torch.float64))
    10
    """
    count = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += int(t.numel())
        return t

    leaves = [a.detach().clone().requires_grad_(True) if a.is_floating_point() else a for a in args]
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*leaves)
    return count


@checked
def hvp_mode(loss_fn: LossFn) -> str:
    """The HVP composition for a loss: "forward" (jvp of grad) for the checked chains of
    :mod:`dlnkit.numerics.chains`, "reverse" (vjp of grad, double backward) for anything else.

    >>> from dlnkit.numerics.chains import ChainLoss
    >>> hvp_mode(ChainLoss(None, torch.zeros(2, 1))), hvp_mode(lambda w: (w ** 2).sum())
    ('forward', 'reverse')
    """
    return "forward" if is_checked_chain(loss_fn) else "reverse"


@checked
def hvp(loss_fn: LossFn, params: Sequence[torch.Tensor], vec: torch.Tensor, *, mode: str | None = None) -> torch.Tensor:
    """Exact Hessian-vector product H v for a flat vector v (no finite differences).

    Parameters
    ----------
    loss_fn
        ``loss_fn(*params)`` returns a scalar tensor.
    params
        The point.
    vec
        A flat vector of length P (the parameters' row-major layout).
    mode
        "reverse" (``vjp`` of ``grad``: double backward, right for every op with a second
        derivative) or "forward" (``jvp`` of ``grad``); default :func:`hvp_mode`.

    Returns
    -------
    torch.Tensor
        H v, flat, length P.

    Examples
    --------
    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> v = torch.tensor([1.0, 0.0], dtype=torch.float64)
    >>> hvp(lambda w: 0.5 * w @ A @ w, [torch.zeros(2, dtype=torch.float64)], v).tolist()
    [2.0, 1.0]
    """
    mode = hvp_mode(loss_fn) if mode is None else mode
    if mode not in HVP_MODES:
        raise DlnkitInputError(f"mode must be one of {HVP_MODES}, got {mode!r}")
    params = checked_params(params)
    tangents = unflatten_like(vec.to(params[0].dtype) if vec.is_floating_point() else vec, params)
    loss_fn = scalar_loss(loss_fn)
    argnums = tuple(range(len(params)))
    if mode == "forward":
        # torch's stubs type jvp/vjp as 3-tuples (the has_aux form); without aux they return 2 items
        out = jvp(lambda *ps: grad(loss_fn, argnums=argnums)(*ps), params, tangents)[1]
    else:
        out = vjp(grad(loss_fn, argnums=argnums), *params)[1](tangents)
    return flatten_params(out)


@checked
def hvp_batched(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    vecs: torch.Tensor,
    *,
    chunk_size: int | None = None,
    mode: str | None = None,
) -> torch.Tensor:
    """H V for a matrix of vectors V (P x k), by ``vmap`` over :func:`hvp` in chunks of columns."""
    params = checked_params(params)
    P = sum(p.numel() for p in params)
    if vecs.ndim != 2 or vecs.shape[0] != P or not vecs.is_floating_point():
        raise DlnkitInputError(f"vecs must be a real floating ({P}, k) matrix, got {vecs.dtype} {tuple(vecs.shape)}")
    f = vmap(lambda v: hvp(loss_fn, params, v, mode=mode), chunk_size=chunk_size)
    return f(vecs.T).T


def _blocks_to_matrix(blocks: Sequence[Sequence[torch.Tensor]], params: Sequence[torch.Tensor]) -> torch.Tensor:
    rows = []
    for i, pi in enumerate(params):
        rows.append(torch.cat([blocks[i][j].reshape(pi.numel(), pj.numel()) for j, pj in enumerate(params)], dim=1))
    return torch.cat(rows, dim=0)


@checked
def torch_func_hessian(loss_fn: LossFn, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """The P x P Hessian by ``torch.func.hessian`` (forward-over-reverse over all P tangents at
    once: fast, memory-hungry, wrong upstream of a LayerNorm in torch 2.13). No memory guard here:
    :func:`dlnkit.numerics.hessian.dense_hessian` checks the route's estimate first.

    >>> f = lambda a, b: (a ** 2).sum() * b.sum()
    >>> torch_func_hessian(f, [torch.ones(2, dtype=torch.float64), torch.ones(1, dtype=torch.float64)]).tolist()
    [[2.0, 0.0, 2.0], [0.0, 2.0, 2.0], [2.0, 2.0, 0.0]]
    """
    ps = checked_params(params)
    blocks = hessian(scalar_loss(loss_fn), argnums=tuple(range(len(ps))))(*ps)
    return _blocks_to_matrix(blocks, ps)


@checked
def double_backward_hessian(loss_fn: LossFn, params: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""The P x P Hessian by plain double backward: the gradient g with its graph, then row i as
    :math:`\partial g_i/\partial\theta` (one backward pass per row, written into one P x P buffer;
    no ``vmap``, no forward mode). No memory guard here (see :func:`torch_func_hessian`).

    >>> f = lambda a, b: (a ** 2).sum() * b.sum()
    >>> double_backward_hessian(f, [torch.ones(2, dtype=torch.float64), torch.ones(1, dtype=torch.float64)]).tolist()
    [[2.0, 0.0, 2.0], [0.0, 2.0, 2.0], [2.0, 2.0, 0.0]]
    """
    ps = checked_params(params)
    P = sum(p.numel() for p in ps)
    H = torch.zeros(P, P, dtype=ps[0].dtype, device=ps[0].device)
    with torch.enable_grad():
        qs = [p.clone().requires_grad_(True) for p in ps]
        parts = torch.autograd.grad(scalar_loss(loss_fn)(*qs), qs, create_graph=True, allow_unused=True)
        live = [
            g.reshape(-1) if g is not None else torch.zeros(q.numel(), dtype=q.dtype, device=q.device)
            for g, q in zip(parts, qs)
        ]
        g = torch.cat(live)
        if not g.requires_grad:  # the loss is at most linear in the parameters: H = 0
            return H
        for i in range(P):
            row = torch.autograd.grad(g[i], qs, retain_graph=i < P - 1, allow_unused=True)
            j = 0
            for q, r in zip(qs, row):
                if r is not None:
                    H[i, j : j + q.numel()] = r.reshape(-1)
                j += q.numel()
    return H


__all__ = [
    "HVP_MODES",
    "HessianTooLargeError",
    "LossFn",
    "available_memory_bytes",
    "check_dense_fits",
    "checked_params",
    "dense_hessian_bytes",
    "double_backward_hessian",
    "flatten_params",
    "hvp",
    "hvp_batched",
    "hvp_mode",
    "saved_numbers",
    "torch_func_hessian",
    "unflatten_like",
]
