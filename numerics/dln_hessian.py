r"""Closed-form Hessian of a deep linear network's squared loss at any point (docs/claims.md#b0).

Loss: :math:`\ell = \frac{1}{2B}\|X W^\top - Y\|_F^2`, which equals
:math:`\tfrac12\operatorname{tr}(W\Sigma W^\top) - \operatorname{tr}(W C^\top) + \text{const}`
with :math:`W = W_L\cdots W_1`, :math:`\Sigma = X^\top X/B` and :math:`C = Y^\top X/B`. Only
:math:`\Sigma` and the end-to-end gradient :math:`G = W\Sigma - C` enter the Hessian.

With :math:`P_l = W_L\cdots W_{l+1}` and :math:`Q_l = W_{l-1}\cdots W_1` and the row-major
parameter layout (torch's), the blocks are

* Gauss-Newton: :math:`H^{GN}_{lm} = (P_l^\top P_m) \otimes (Q_l \Sigma Q_m^\top)`;
* residual (:math:`l < m`): :math:`H^{res}_{m l}[(a,b),(c,d)] = K_{ad} M_{bc}` with
  :math:`K = P_m^\top G Q_l^\top`, :math:`M = W_{m-1}\cdots W_{l+1}`; zero on the diagonal.

The nonzero spectrum of :math:`H^{GN}` is that of the :math:`d_{out}d_{in}` square matrix
:math:`\sum_l (P_l P_l^\top) \otimes (\Sigma^{1/2} Q_l^\top Q_l \Sigma^{1/2})`, whatever P is.
Everything here costs small matrix products; nothing is differentiated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy.typing as npt
import torch

from dlnkit.arguments import checked
from dlnkit.numerics.autodiff import check_dense_fits
from dlnkit.numerics.chains import chain_loss
from dlnkit.numerics.dims import dims_of, layer_offsets
from dlnkit.numerics.memory import COPIES_BLOCKWISE
from dlnkit.numerics.validation import DlnkitInputError, check_finite

if TYPE_CHECKING:
    from dlnkit.numerics.training import TrainingRecord

Weights = Sequence[torch.Tensor]
#: data given as a tensor or anything torch.as_tensor takes (NumPy arrays, nested lists)
TensorLike: TypeAlias = torch.Tensor | npt.ArrayLike


def check_chain(weights: Weights, detach: bool = False) -> list[torch.Tensor]:
    # the closed forms detach (they need no autograd graph); dln_loss and partial_products must not,
    # since torch.func differentiates through them
    try:
        Ws = [torch.as_tensor(W).detach() if detach else W for W in weights]
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DlnkitInputError(f"weights must be a list of 2-D tensors: {exc}") from None
    if len(Ws) < 1:
        raise DlnkitInputError("a deep linear network needs depth >= 1 (at least one weight matrix)")
    for l, W in enumerate(Ws):
        if not isinstance(W, torch.Tensor) or W.ndim != 2:
            shape = tuple(W.shape) if isinstance(W, torch.Tensor) else type(W).__name__
            raise DlnkitInputError(f"weight {l + 1} must be a 2-D matrix (d_l x d_(l-1)), got {shape}")
        if not W.is_floating_point():
            raise DlnkitInputError(f"weight {l + 1} must hold floating-point numbers, got {W.dtype}")
        if W.numel() == 0:
            raise DlnkitInputError(f"weight {l + 1} is empty (shape {tuple(W.shape)}); every width must be >= 1")
        if W.dtype != Ws[0].dtype or W.device != Ws[0].device:
            raise DlnkitInputError(
                f"all weights must share one dtype and device: weight 1 is {Ws[0].dtype} on "
                f"{Ws[0].device}, weight {l + 1} is {W.dtype} on {W.device}"
            )
    for l in range(1, len(Ws)):
        if Ws[l].shape[1] != Ws[l - 1].shape[0]:
            raise DlnkitInputError(
                f"weight {l + 1} has shape {tuple(Ws[l].shape)} but weight {l} outputs {Ws[l - 1].shape[0]} features"
            )
    check_finite(Ws, "weights")
    return Ws


def data_moments(
    weights: Weights,
    X: TensorLike | None = None,
    Y: TensorLike | None = None,
    sigma: TensorLike | None = None,
    cross: TensorLike | None = None,
    target: TensorLike | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (Sigma, C) from a batch (X, Y), or (Sigma, C) directly, or a target map with Sigma."""
    W1 = weights[0]
    d_in, d_out = W1.shape[1], weights[-1].shape[0]
    kw: dict[str, Any] = dict(dtype=W1.dtype, device=W1.device)
    named = (("X", X), ("Y", Y), ("input covariance", sigma), ("cross moment", cross), ("target map", target))
    for name, value in named:
        if value is not None:
            _check_finite_data(value, name)
    if X is not None:
        Xt = torch.as_tensor(X, **kw)
        if Xt.ndim != 2 or Xt.shape[1] != d_in:
            raise DlnkitInputError(f"X must be B x d_in = B x {d_in}, got {tuple(Xt.shape)}")
        B = Xt.shape[0]
        sigma = Xt.T @ Xt / B
        if Y is not None:
            Yt = torch.as_tensor(Y, **kw)
            if tuple(Yt.shape) != (B, d_out):
                raise DlnkitInputError(f"Y must be B x d_out = {(B, d_out)}, got {tuple(Yt.shape)}")
            cross = Yt.T @ Xt / B
    sig = torch.eye(d_in, **kw) if sigma is None else torch.as_tensor(sigma, **kw)
    if tuple(sig.shape) != (d_in, d_in):
        raise DlnkitInputError(f"input covariance must be {d_in} x {d_in}, got {tuple(sig.shape)}")
    if cross is None:
        if target is None:
            raise DlnkitInputError("give the targets: Y with X, the cross moment C = Y^T X / B, or a target map M")
        M = torch.as_tensor(target, **kw)
        if tuple(M.shape) != (d_out, d_in):
            raise DlnkitInputError(f"target map must be d_out x d_in = {(d_out, d_in)}, got {tuple(M.shape)}")
        cross = M @ sig
    crs = torch.as_tensor(cross, **kw)
    if tuple(crs.shape) != (d_out, d_in):
        raise DlnkitInputError(f"cross moment must be {(d_out, d_in)}, got {tuple(crs.shape)}")
    return sig, crs


def _check_finite_data(value: TensorLike, name: str) -> None:
    try:
        t = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise DlnkitInputError(f"{name} must be a numeric matrix: {exc}") from None
    if t.device.type == "meta":
        raise DlnkitInputError(f"{name} is on the 'meta' device: shapes only, no values")
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise DlnkitInputError(f"{name} must hold real numbers, got {t.dtype}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise DlnkitInputError(f"non-finite values (NaN or inf) in {name}")


def check_result_finite(H: torch.Tensor, what: str) -> None:
    """Finite inputs whose result overflowed (or cancelled to NaN) are refused, never returned."""
    if not bool(torch.isfinite(H).all()):
        raise DlnkitInputError(
            f"{what} overflowed {H.dtype} (finite inputs, non-finite result): rescale the weights or data"
        )


@checked
def partial_products(weights: Weights) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Lists (P, Q) with P[l] = W_L...W_{l+1} and Q[l] = W_{l-1}...W_1 (0-indexed l), identities at the ends.

    Parameters
    ----------
    weights
        W_1, ..., W_L.

    Returns
    -------
    tuple of two lists of torch.Tensor
        ``P`` (P[l] of shape d_out x d_{l+1}) and ``Q`` (Q[l] of shape d_l x d_in), 0-indexed.
    """
    Ws = check_chain(weights)
    L = len(Ws)
    kw: dict[str, Any] = dict(dtype=Ws[0].dtype, device=Ws[0].device)
    Q = [torch.eye(Ws[0].shape[1], **kw)]
    for l in range(1, L):
        Q.append(Ws[l - 1] @ Q[-1])
    P = [torch.eye(Ws[-1].shape[0], **kw)]
    for l in range(L - 2, -1, -1):
        P.insert(0, P[0] @ Ws[l + 1])
    return P, Q


@checked
def dln_loss(weights: Weights, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """(1/2B) ||X W^T - Y||_F^2.

    Parameters
    ----------
    weights
        W_1, ..., W_L.
    X, Y
        Inputs B x d_in and targets B x d_out.

    Returns
    -------
    torch.Tensor
        The scalar loss, differentiable in the weights (the linear chain's
        :func:`dlnkit.numerics.chains.chain_loss`: the layers applied to X one after another).
    """
    return chain_loss(check_chain(weights), X, Y)


@checked
def dln_end_to_end_gradient(weights: Weights, **data: TensorLike | None) -> torch.Tensor:
    """G = W Sigma - C, the gradient of the loss with respect to the end-to-end map.

    Parameters
    ----------
    weights
        W_1, ..., W_L.
    **data
        The data as in :func:`dln_hessian_closed_form`.

    Returns
    -------
    torch.Tensor
        G, d_out x d_in.

    Raises
    ------
    DlnkitInputError
        Inconsistent shapes, missing data or non-finite values.
    """
    sigma, cross = data_moments(weights, **data)
    P, Q = partial_products(weights)
    return P[0] @ weights[0] @ sigma - cross


def _offsets(weights: Weights) -> list[int]:
    return layer_offsets(dims_of(weights))


@checked
def dln_gauss_newton_closed_form(
    weights: Weights, *, X: TensorLike | None = None, sigma: TensorLike | None = None, check_memory: bool = True
) -> torch.Tensor:
    """Dense Gauss-Newton part J^T (I (x) Sigma) J, assembled from Kronecker blocks.

    Parameters
    ----------
    weights
        W_1, ..., W_L.
    X, sigma
        The inputs (B x d_in) or their covariance Sigma; whitened (Sigma = I) when neither is given.
    check_memory
        Refuse before allocating a matrix that cannot fit.

    Returns
    -------
    torch.Tensor
        The P x P Gauss-Newton matrix.

    Raises
    ------
    DlnkitInputError
        Inconsistent shapes, non-finite values, or too large for memory.
    """
    Ws = check_chain(weights, detach=True)
    d_in = Ws[0].shape[1]
    off = _offsets(Ws)
    if check_memory:
        check_dense_fits(off[-1], Ws[0].dtype, Ws[0].device, copies=2.0)
    if X is not None:
        _check_finite_data(X, "X")
        Xt = torch.as_tensor(X, dtype=Ws[0].dtype, device=Ws[0].device)
        if Xt.ndim != 2 or Xt.shape[1] != d_in:
            raise DlnkitInputError(f"X must be B x d_in = B x {d_in}, got {tuple(Xt.shape)}")
        sigma = Xt.T @ Xt / Xt.shape[0]
    if sigma is None:
        sig = torch.eye(d_in, dtype=Ws[0].dtype, device=Ws[0].device)
    else:
        _check_finite_data(sigma, "input covariance")
        sig = torch.as_tensor(sigma, dtype=Ws[0].dtype, device=Ws[0].device)
        if tuple(sig.shape) != (d_in, d_in):
            raise DlnkitInputError(f"input covariance must be {d_in} x {d_in}, got {tuple(sig.shape)}")
    P, Q = partial_products(Ws)
    H = torch.zeros(off[-1], off[-1], dtype=Ws[0].dtype, device=Ws[0].device)
    QS = [q @ sig for q in Q]
    for l in range(len(Ws)):
        for m in range(l, len(Ws)):
            blk = torch.kron(P[l].T @ P[m], QS[l] @ Q[m].T)
            H[off[l] : off[l + 1], off[m] : off[m + 1]] = blk
            if m != l:
                H[off[m] : off[m + 1], off[l] : off[l + 1]] = blk.T
    return H


@checked
def dln_residual_hessian_closed_form(
    weights: Weights, *, check_memory: bool = True, **data: TensorLike | None
) -> torch.Tensor:
    """Dense residual part sum_ij G_ij d^2 W_ij / d theta^2: bilinear in G, zero diagonal blocks.

    Parameters
    ----------
    weights
        W_1, ..., W_L.
    check_memory
        Refuse before allocating a matrix that cannot fit.
    **data
        The data as in :func:`dln_hessian_closed_form` (``X, Y`` or ``sigma, cross`` or ``target``).

    Returns
    -------
    torch.Tensor
        The P x P residual part (zero at a global minimum).

    Raises
    ------
    DlnkitInputError
        Inconsistent shapes, missing data, non-finite values, or too large for memory.
    """
    Ws = check_chain(weights, detach=True)
    off = _offsets(Ws)
    if check_memory:
        check_dense_fits(off[-1], Ws[0].dtype, Ws[0].device, copies=2.0)
    G = dln_end_to_end_gradient(Ws, **data)
    P, Q = partial_products(Ws)
    H = torch.zeros(off[-1], off[-1], dtype=Ws[0].dtype, device=Ws[0].device)
    L = len(Ws)
    for l in range(L):
        mid = torch.eye(Ws[l].shape[0], dtype=Ws[0].dtype, device=Ws[0].device)  # W_{m-1}...W_{l+1}
        for m in range(l + 1, L):
            if m > l + 1:
                mid = Ws[m - 1] @ mid
            K = P[m].T @ G @ Q[l].T
            blk = torch.einsum("ad,bc->abcd", K, mid).reshape(Ws[m].numel(), Ws[l].numel())
            H[off[m] : off[m + 1], off[l] : off[l + 1]] = blk
            H[off[l] : off[l + 1], off[m] : off[m + 1]] = blk.T
    return H


@checked
def dln_hessian_closed_form(
    weights: Weights,
    *,
    X: TensorLike | None = None,
    Y: TensorLike | None = None,
    sigma: TensorLike | None = None,
    cross: TensorLike | None = None,
    target: TensorLike | None = None,
    check_memory: bool = True,
) -> torch.Tensor:
    """The exact P x P loss Hessian of a deep linear network at any point, from small matrix products.

    Give the data as a batch (X, Y), as moments (sigma, cross) or as a target map (with sigma,
    default identity = whitened data).

    Parameters
    ----------
    weights
        W_1, ..., W_L (W_l of shape d_l x d_{l-1}), or a :class:`DeepLinearNetwork`.
    X, Y
        A batch: inputs B x d_in and targets B x d_out (the loss is (1/2B) ||X W^T - Y||_F^2).
    sigma, cross
        Or the moments Sigma = X^T X / B (d_in x d_in) and C = Y^T X / B (d_out x d_in).
    target
        Or a target map M (d_out x d_in), with C = M Sigma.
    check_memory
        Refuse before allocating a Hessian that cannot fit.

    Returns
    -------
    torch.Tensor
        The P x P Hessian (Gauss-Newton part plus residual part), row-major parameter layout.

    Raises
    ------
    DlnkitInputError
        Inconsistent shapes, missing data, non-finite values, or a Hessian too large for memory.

    Examples
    --------
    >>> from dlnkit.numerics.dln import DeepLinearNetwork, whitened_inputs
    >>> from dlnkit.numerics.hessian import dense_hessian
    >>> net = DeepLinearNetwork.random([3, 4, 2], seed=1, device="cpu")
    >>> X = whitened_inputs(8, 3); Y = torch.randn(8, 2, dtype=torch.float64)
    >>> H = dln_hessian_closed_form(net.weight_list(), X=X, Y=Y)
    >>> H_ref = dense_hessian(lambda *w: dln_loss(w, X, Y), net.weight_list())
    >>> bool(torch.allclose(H, H_ref, rtol=1e-12, atol=1e-12))
    True
    """
    data = dict(X=X, Y=Y, sigma=sigma, cross=cross, target=target)
    Ws = check_chain(weights, detach=True)
    if check_memory:  # Gauss-Newton + residual + their sum + Kronecker blocks (measured 3.3-3.4 P x P)
        check_dense_fits(sum(W.numel() for W in Ws), Ws[0].dtype, Ws[0].device, copies=COPIES_BLOCKWISE)
    sig, crs = data_moments(Ws, **data)
    H = dln_gauss_newton_closed_form(Ws, sigma=sig, check_memory=False) + dln_residual_hessian_closed_form(
        Ws, sigma=sig, cross=crs, check_memory=False
    )
    check_result_finite(H, "the closed-form Hessian")
    return H


def _sym_sqrt(S: torch.Tensor) -> torch.Tensor:
    evals, evecs = torch.linalg.eigh(S)
    root: torch.Tensor = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
    return root


@checked
def dln_jjt(weights: Weights, *, sigma: TensorLike | None = None, X: TensorLike | None = None) -> torch.Tensor:
    """The d_out d_in square matrix sum_l (P_l P_l^T) (x) (S^{1/2} Q_l^T Q_l S^{1/2}) (S = input covariance).

    Parameters
    ----------
    weights
        W_1, ..., W_L.
    sigma, X
        The input covariance or the inputs; whitened when neither is given.

    Returns
    -------
    torch.Tensor
        (d_out d_in) x (d_out d_in); its eigenvalues are the nonzero Gauss-Newton eigenvalues.

    Raises
    ------
    DlnkitInputError
        Inconsistent shapes or non-finite values.
    """
    Ws = check_chain(weights, detach=True)
    from dlnkit.numerics.memory import F64, check_allocation

    n = Ws[0].shape[1] * Ws[-1].shape[0]
    check_allocation(3 * F64 * n * n, f"the {n} x {n} matrix J J^T", Ws[0].device)
    if X is not None:
        _check_finite_data(X, "X")
        Xt = torch.as_tensor(X, dtype=Ws[0].dtype, device=Ws[0].device)
        if Xt.ndim != 2 or Xt.shape[1] != Ws[0].shape[1]:
            raise DlnkitInputError(f"X must be B x d_in = B x {Ws[0].shape[1]}, got {tuple(Xt.shape)}")
        sigma = Xt.T @ Xt / Xt.shape[0]
    elif sigma is not None:
        _check_finite_data(sigma, "input covariance")
        d_in = Ws[0].shape[1]
        if tuple(torch.as_tensor(sigma).shape) != (d_in, d_in):
            shape = tuple(torch.as_tensor(sigma).shape)
            raise DlnkitInputError(f"input covariance must be {d_in} x {d_in}, got {shape}")
    P, Q = partial_products(Ws)
    root = None if sigma is None else _sym_sqrt(torch.as_tensor(sigma, dtype=Ws[0].dtype, device=Ws[0].device))
    out = torch.zeros(n, n, dtype=Ws[0].dtype, device=Ws[0].device)
    for l in range(len(Ws)):
        right = Q[l].T @ Q[l]
        if root is not None:
            right = root @ right @ root
        out = out + torch.kron(P[l] @ P[l].T, right)
    return out


@checked
def dln_gauss_newton_nonzero_spectrum(
    weights: Weights, *, sigma: TensorLike | None = None, X: TensorLike | None = None, rtol: float = 1e-10
) -> torch.Tensor:
    """Eigenvalues of J J^T (descending): the Gauss-Newton spectrum without the P - d_out d_in
    structural zeros. Entries below ``rtol * max`` are dropped as numerical zeros.

    Parameters
    ----------
    weights
        W_1, ..., W_L.
    sigma, X
        The input covariance or the inputs; whitened when neither is given.
    rtol
        Relative threshold below which an eigenvalue counts as zero.

    Returns
    -------
    torch.Tensor
        The nonzero eigenvalues, descending.

    Raises
    ------
    DlnkitInputError
        Inconsistent shapes or non-finite values.
    """
    ev: torch.Tensor = torch.linalg.eigvalsh(dln_jjt(weights, sigma=sigma, X=X)).flip(0)
    return ev[ev > rtol * ev.abs().max()]


@checked
def dln_gradient_closed_form(weights: Weights, **data: TensorLike | None) -> list[torch.Tensor]:
    """Exact loss gradients dl/dW_l = P_l^T (W Sigma - C) Q_l^T for every layer (no autograd).

    Parameters
    ----------
    weights
        W_1, ..., W_L.
    **data
        The data as in :func:`dln_hessian_closed_form`.

    Returns
    -------
    list of torch.Tensor
        dl/dW_1, ..., dl/dW_L, shaped like the weights.

    Raises
    ------
    DlnkitInputError
        Inconsistent shapes, missing data or non-finite values.
    """
    Ws = check_chain(weights, detach=True)
    G = dln_end_to_end_gradient(Ws, **data)
    P, Q = partial_products(Ws)
    return [P[l].T @ G @ Q[l].T for l in range(len(Ws))]


@checked
def train_dln_gradient_descent(
    weights: Weights,
    *,
    lr: float,
    momentum: float = 0.0,
    max_steps: int,
    loss_tol: float = 0.0,
    record_steps: Sequence[int] = (),
    record_fn: Callable[[list[torch.Tensor], int], Any] | None = None,
    progress: bool = False,
    loss_every: int = 50,
    **data: TensorLike | None,
) -> tuple[list[torch.Tensor], TrainingRecord]:
    """Full-batch heavy-ball gradient descent on a DLN with closed-form gradients (the closed-form
    gradient plugged into :func:`dlnkit.numerics.training.heavy_ball_descent`).

    Same update as ``torch.optim.SGD(lr, momentum)`` (v <- mu v + g; W <- W - lr v) on the exact
    full-batch gradient P_l^T (W Sigma - C) Q_l^T. The loop runs in NumPy float64 on the CPU:
    the escape from a small initialisation at depth takes about 2e5 steps at L = 7 (init 0.1,
    lr 0.01, momentum 0.9), where per-op dispatch overhead, not arithmetic, dominates.
    The loss is checked every ``loss_every`` steps (and at recorded steps) for the stopping rule.
    ``record_fn(weights, step)`` receives torch tensors on the input device.
    Returns (weights as torch tensors, TrainingRecord).

    Parameters
    ----------
    weights
        The initial W_1, ..., W_L (not modified).
    lr, momentum
        Step size and heavy-ball momentum.
    max_steps
        Step budget.
    loss_tol
        Stop once the loss is at most this.
    record_steps, record_fn
        At these steps call ``record_fn(weights, step)`` and keep what it returns.
    progress
        Show a progress bar.
    loss_every
        Evaluate the loss every this many steps (it is also evaluated at recorded steps and at the end).
    **data
        The data as in :func:`dln_hessian_closed_form`.

    Returns
    -------
    tuple
        The final weights (torch tensors) and a :class:`TrainingRecord`.

    Raises
    ------
    TrainingDivergedError
        The loss or the weights became non-finite.
    DlnkitInputError
        Bad step size, momentum, step budget or data.
    """
    import numpy as np

    from dlnkit.numerics.training import heavy_ball_descent

    Ws_t = check_chain(weights)
    sigma_t, cross_t = data_moments(Ws_t, **data)
    sigma = sigma_t.detach().cpu().double().numpy()
    cross = cross_t.detach().cpu().double().numpy()
    const = 0.0
    Xn = Yn = None
    if data.get("Y") is not None and data.get("X") is not None:
        # the loss is evaluated on the batch itself: the moment form cancels catastrophically near 0
        Xn = torch.as_tensor(data["X"]).detach().cpu().double().numpy()
        Yn = torch.as_tensor(data["Y"]).detach().cpu().double().numpy()
    elif data.get("target") is not None:
        M = torch.as_tensor(data["target"]).detach().cpu().double().numpy()
        const = 0.5 * float(np.sum((M @ sigma) * M))
    L = len(Ws_t)

    def closed_form_gradient(Ws: list[np.ndarray], need_loss: bool) -> tuple[float | None, list[np.ndarray]]:
        Q: list[np.ndarray] = [np.eye(Ws[0].shape[1])] * L
        for k in range(1, L):
            Q[k] = Ws[k - 1] @ Q[k - 1] if k > 1 else Ws[0]
        P: list[np.ndarray] = [np.eye(Ws[-1].shape[0])] * L
        for k in range(L - 2, -1, -1):
            P[k] = P[k + 1] @ Ws[k + 1] if k < L - 2 else Ws[L - 1]
        W = P[0] @ Ws[0]
        G = W @ sigma - cross
        loss = None
        if need_loss:
            if Xn is not None and Yn is not None:
                loss = 0.5 * float(np.sum((Xn @ W.T - Yn) ** 2)) / Xn.shape[0]
            else:
                loss = 0.5 * float(np.sum((W @ sigma) * W)) - float(np.sum(W * cross)) + const
        return loss, [P[k].T @ G @ Q[k].T for k in range(L)]

    return heavy_ball_descent(
        Ws_t,
        closed_form_gradient,
        lr=lr,
        momentum=momentum,
        max_steps=max_steps,
        loss_tol=loss_tol,
        loss_every=loss_every,
        record_steps=record_steps,
        record_fn=record_fn,
        progress=progress,
    )
