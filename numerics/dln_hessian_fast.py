r"""The closed-form DLN Hessian (docs/claims.md#b0) written straight into one P x P buffer.

Same mathematics as :func:`~dlnkit.numerics.dln_hessian.dln_hessian_closed_form` (which stays
the readable reference): with :math:`A = P_l^\top P_m`, :math:`B = Q_l\Sigma Q_m^\top`, the
upper block :math:`(l, m)`, :math:`l \le m`, is viewed as a 4-index array
:math:`H[(a,b),(c,d)]` (``a`` < d_l, ``b`` < d_{l-1}, ``c`` < d_m, ``d`` < d_{m-1}) and filled in place:

.. math:: H_{lm}[(a,b),(c,d)] = A_{ac} B_{bd} + K_{cb} M_{da},
   \qquad K = P_m^\top G Q_l^\top,\; M = W_{m-1}\cdots W_{l+1}

(the second term only for :math:`l < m`), then mirrored into block :math:`(m, l)`. No
Kronecker products or second P x P matrix are allocated, so the cost is about two passes of
writing P² numbers plus the small products, and the peak memory is one P x P matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.autodiff import check_dense_fits
from dlnkit.numerics.dims import dims_of, layer_offsets
from dlnkit.numerics.dln_hessian import TensorLike, check_chain, check_result_finite, data_moments, partial_products
from dlnkit.numerics.memory import COPIES_ASSEMBLED


@checked
def dln_hessian_assembled(
    weights: Sequence[torch.Tensor],
    *,
    X: TensorLike | None = None,
    Y: TensorLike | None = None,
    sigma: TensorLike | None = None,
    cross: TensorLike | None = None,
    target: TensorLike | None = None,
    check_memory: bool = True,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The exact P x P DLN loss Hessian at any point, assembled in place (one buffer).

    Data as in :func:`~dlnkit.numerics.dln_hessian.dln_hessian_closed_form`. ``out`` (P x P,
    same dtype and device) is overwritten and returned when given.

    >>> from dlnkit.numerics.dln import DeepLinearNetwork, whitened_inputs
    >>> from dlnkit.numerics.dln_hessian import dln_hessian_closed_form
    >>> net = DeepLinearNetwork.random([3, 4, 5, 2], seed=1, device="cpu")
    >>> X = whitened_inputs(8, 3); Y = torch.randn(8, 2, dtype=torch.float64)
    >>> H = dln_hessian_assembled(net.weight_list(), X=X, Y=Y)
    >>> bool(torch.allclose(H, dln_hessian_closed_form(net.weight_list(), X=X, Y=Y), rtol=1e-13, atol=1e-13))
    True
    """
    Ws = [W.detach() for W in check_chain(weights)]
    L = len(Ws)
    dims = dims_of(Ws)
    off = layer_offsets(dims)
    n = off[-1]
    kw: dict[str, Any] = dict(dtype=Ws[0].dtype, device=Ws[0].device)
    if out is None and check_memory:  # measured peak 1.28-1.36 P x P (buffer + block temporaries)
        check_dense_fits(n, Ws[0].dtype, Ws[0].device, copies=COPIES_ASSEMBLED)
    sig, crs = data_moments(Ws, X=X, Y=Y, sigma=sigma, cross=cross, target=target)
    if out is None:
        H = torch.empty(n, n, **kw)
    else:
        if tuple(out.shape) != (n, n) or out.dtype != Ws[0].dtype or out.device != Ws[0].device:
            from dlnkit.numerics.validation import DlnkitInputError

            raise DlnkitInputError(f"out must be a {n} x {n} {Ws[0].dtype} tensor on {Ws[0].device}")
        H = out
    P, Q = partial_products(Ws)
    W_end = P[0] @ Ws[0]
    G = W_end @ sig - crs
    QS = [q @ sig for q in Q]
    for l in range(L):
        dl, dl1 = dims[l + 1], dims[l]
        mid = torch.eye(dims[l + 1], **kw)  # W_{m-1} ... W_{l+1} (the identity while m <= l + 1)
        for m in range(l, L):
            dm, dm1 = dims[m + 1], dims[m]
            if m > l + 1:
                mid = Ws[m - 1] @ mid
            A = P[l].T @ P[m]  # d_l x d_m
            B = QS[l] @ Q[m].T  # d_{l-1} x d_{m-1}
            blk = (
                H[off[l] : off[l + 1], off[m] : off[m + 1]].view(dl, dl1, dm, dm1) if _viewable(H, off, l, m) else None
            )
            if blk is None:  # pragma: no cover - only for exotic strides of a user-given out
                tmp = torch.empty(dl, dl1, dm, dm1, **kw)
            else:
                tmp = blk
            torch.mul(A[:, None, :, None], B[None, :, None, :], out=tmp)
            if m > l:
                K = P[m].T @ G @ Q[l].T  # d_m x d_{l-1}, entry (c, b)
                tmp.add_(K.T[None, :, :, None] * mid.T[:, None, None, :])
            if blk is None:  # pragma: no cover
                H[off[l] : off[l + 1], off[m] : off[m + 1]] = tmp.reshape(dl * dl1, dm * dm1)
            if m > l:  # the mirror block, written contiguously: [c, d, a, b] = A_ac B_bd + K_cb M_da
                low = H[off[m] : off[m + 1], off[l] : off[l + 1]].view(dm, dm1, dl, dl1)
                torch.mul(A.T[:, None, :, None], B.T[None, :, None, :], out=low)
                low.add_(K[:, None, None, :] * mid[None, :, :, None])
    check_result_finite(H, "the assembled Hessian")
    return H


def _viewable(H: torch.Tensor, off: Sequence[int], l: int, m: int) -> bool:
    return H.stride(1) == 1


__all__ = ["dln_hessian_assembled"]
