r"""Dense Hessians within a memory budget: column blocks of exact HVPs.

``torch.func.hessian`` (forward-over-reverse over all P tangents at once) holds P copies of
every intermediate of the loss, so it runs out of memory long before the P x P result does.
Here the Hessian is built ``chunk`` columns at a time,

.. math:: H[:, j{:}j{+}c] = H\,[e_j, \dots, e_{j+c-1}] ,

each block by one vmapped HVP (:func:`~dlnkit.numerics.hessian.hvp_batched`), so the peak
memory is the result plus the working space of one block:

.. math:: \text{bytes} \approx s\,\bigl(P^2 + c\,(k P + a)\bigr)

with ``s`` the item size, ``k`` = :data:`HVP_VECTOR_COPIES` P-vectors per column (identity
column, tangent, gradient dual, result) and ``a`` the loss's own per-column working space in
numbers (its activations and their tangents; ``per_column_numbers``, 0 unless the caller
knows it). The guard is the one of :func:`~dlnkit.numerics.hessian.check_dense_fits`: the
estimate is expressed there as a number of P x P ``copies``, so both routes refuse the same
way and for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.autodiff import HessianTooLargeError, LossFn, check_dense_fits, dense_hessian_bytes, hvp_batched
from dlnkit.numerics.validation import DlnkitInputError

HVP_VECTOR_COPIES = 4
"""P-vectors alive per HVP column: the identity column, its tangent, the gradient's dual, the result."""


@checked
def chunked_hessian_copies(num_params: int, chunk_size: int, *, per_column_numbers: int = 0) -> float:
    """The chunked route's memory as a number of dense P x P matrices (for ``check_dense_fits``).

    >>> chunked_hessian_copies(100, 10)  # 1 result + 10 columns * 4 vectors of 100 / 100^2
    1.4
    """
    P = int(num_params)
    return 1.0 + chunk_size * (HVP_VECTOR_COPIES * P + int(per_column_numbers)) / float(P * P)


@checked
def chunked_hessian_bytes(
    num_params: int, chunk_size: int, dtype: torch.dtype = torch.float64, *, per_column_numbers: int = 0
) -> int:
    """Estimated peak bytes of :func:`dense_hessian_chunked` (result + one block's working space).

    >>> chunked_hessian_bytes(10_000, 100)  # 8e8 for H + 100 * 4 * 1e4 * 8 for the block
    832000000
    """
    return dense_hessian_bytes(
        num_params, dtype, chunked_hessian_copies(num_params, chunk_size, per_column_numbers=per_column_numbers)
    )


@checked
def choose_chunk_size(
    num_params: int,
    memory_budget_bytes: int,
    dtype: torch.dtype = torch.float64,
    *,
    per_column_numbers: int = 0,
    max_chunk: int = 256,
) -> int:
    """The largest chunk (<= ``max_chunk``) whose estimate fits the budget; raises
    :class:`HessianTooLargeError` when not even one column fits beside the P x P result.

    >>> choose_chunk_size(1000, 10 * 2**20)  # 8 MB result, 32 kB per column
    64
    """
    P = int(num_params)
    item = torch.empty((), dtype=dtype).element_size()
    spare = int(memory_budget_bytes) - P * P * item
    per_col = item * (HVP_VECTOR_COPIES * P + int(per_column_numbers))
    if spare < per_col:
        need = chunked_hessian_bytes(P, 1, dtype, per_column_numbers=per_column_numbers)
        raise HessianTooLargeError(
            f"a dense {P} x {P} Hessian ({dtype}) built one HVP column at a time needs about "
            f"{need / 2**30:.2f} GiB, more than the budget of {memory_budget_bytes / 2**30:.2f} GiB; "
            "use HessianOperator (HVPs, Lanczos) or a structured form instead"
        )
    c = min(int(max_chunk), spare // per_col, P)
    # a power of two keeps vmap's batch shapes few and regular
    return max(1, int(2 ** int(math.floor(math.log2(c)))))


@checked
def dense_hessian_chunked(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    *,
    memory_budget_bytes: int,
    chunk_size: int | None = None,
    per_column_numbers: int = 0,
) -> torch.Tensor:
    """The exact P x P Hessian of ``loss_fn(*params)``, ``chunk_size`` columns per vmapped HVP.

    The memory estimate (:func:`chunked_hessian_bytes`) is checked against
    ``memory_budget_bytes`` *before* anything is allocated; without ``chunk_size`` the largest
    power of two that fits (at most 256) is used. Columns are exact HVPs, so H equals
    ``dense_hessian`` up to rounding (it is not symmetrised).

    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> dense_hessian_chunked(lambda w: 0.5 * w @ A @ w, [torch.zeros(2, dtype=torch.float64)],
    ...                       memory_budget_bytes=2**20, chunk_size=1).tolist()
    [[2.0, 1.0], [1.0, 3.0]]
    """
    params = tuple(p.detach() for p in params)
    if not params:
        raise DlnkitInputError("dense_hessian_chunked needs at least one parameter tensor")
    dtype, device = params[0].dtype, params[0].device
    P = sum(p.numel() for p in params)
    if memory_budget_bytes is None or int(memory_budget_bytes) <= 0:
        raise DlnkitInputError(f"memory_budget_bytes must be a positive number of bytes, got {memory_budget_bytes!r}")
    if chunk_size is None:
        chunk_size = choose_chunk_size(P, memory_budget_bytes, dtype, per_column_numbers=per_column_numbers)
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise DlnkitInputError(f"chunk_size must be >= 1, got {chunk_size}")
    chunk_size = min(chunk_size, P)
    check_dense_fits(
        P,
        dtype,
        device,
        copies=chunked_hessian_copies(P, chunk_size, per_column_numbers=per_column_numbers),
        budget_bytes=int(memory_budget_bytes),
    )
    H = torch.empty(P, P, dtype=dtype, device=device)
    for j in range(0, P, chunk_size):
        c = min(chunk_size, P - j)
        E = torch.zeros(P, c, dtype=dtype, device=device)
        E[torch.arange(j, j + c, device=device), torch.arange(c, device=device)] = 1.0
        H[:, j : j + c] = hvp_batched(loss_fn, params, E)
        del E
    return H


__all__ = [
    "HVP_VECTOR_COPIES",
    "chunked_hessian_copies",
    "chunked_hessian_bytes",
    "choose_chunk_size",
    "dense_hessian_chunked",
]
