r"""Per-layer curvature along the gradient's singular directions (arXiv:2606.02596; docs/claims.md#a-setup, A1-A5).

Conventions, stated once:

* **Layer view.** A ``nn.Linear`` weight is used as is, W (m x n) = (out, in). A ``nn.Conv2d``
  weight (C_out, C_in, kh, kw) is viewed as the matrix (C_out, C_in*kh*kw) (its row-major
  reshape), with inputs unfolded by im2col (:func:`torch.nn.functional.unfold`): every
  (sample, output position) pair is one row of A. Biases are not part of the block.
* **Batch normalisation.** The loss is a *mean* over the B samples. ``delta`` holds the
  per-row derivatives of the mean loss with respect to the layer's output, multiplied by B
  (so for a Linear layer, row i is the gradient of sample i's own loss). Then
  :math:`G = \frac1B\,\delta^\top A` is exactly the weight gradient (also for convolutions,
  where the sum runs over all B*T rows). For a torch loss module with ``reduction="sum"`` the
  factor is 1 instead of B (:math:`\delta = \partial L/\partial z`, :math:`G = \delta^\top A`,
  :math:`C_\delta = \delta^\top\delta`), which is curvlinops' KFAC convention for sums; for
  ``nn.MSELoss()`` (mean over B*C entries) row i is the gradient of sample i's mean over its C
  entries.
* **Kronecker factors.** :math:`C_\delta = \frac1B\delta^\top\delta` and
  :math:`C_A = \frac1{BT}A^\top A` (T = output positions per sample; T = 1 for Linear), the
  KFC convention, so that :math:`C_\delta\otimes C_A` approximates the per-layer block.
  "empirical" uses the gradients; "gn" replaces :math:`\delta\delta^\top` by the Gauss-Newton
  output term :math:`J^\top H_{out} J` (per sample, through the square-root of the output
  Hessian: CE :math:`\operatorname{diag}(p)-pp^\top`, MSE the identity).
* **Layout.** Row-major vec: :math:`\operatorname{vec}_r(uv^\top) = u\otimes v`, the block is
  approximated by :math:`C_\delta\otimes C_A` (output factor first) and
  :math:`\operatorname{vec}_r(uv^\top)^\top(C_\delta\otimes C_A)\operatorname{vec}_r(uv^\top)
  = (u^\top C_\delta u)(v^\top C_A v)`.
* **Curvature.** :math:`h_k = \operatorname{vec}_r(u_kv_k^\top)^\top H_{ll}\operatorname{vec}_r(u_kv_k^\top)`
  by exact Hessian-vector products (forward-over-reverse, batched with ``vmap``) of the loss as
  a function of this layer's weight only; eigenvalues of :math:`H_{ll}` densely (HVPs against
  the identity) when small, by block Lanczos on the HVP operator otherwise.
* **Pairing.** ``"index"`` (the paper's): direction k with the k-th largest factor eigenvalue;
  ``"overlap"``: with the factor eigenvector that has the largest overlap with u_k (v_k).
  :math:`\rho^\delta_k = u_k^\top C_\delta u_k/\lambda_{\pi(k)}(C_\delta)`,
  :math:`\rho^A_k` alike, :math:`\Phi_k = \rho^\delta_k\rho^A_k`,
  :math:`\Lambda_k = \lambda_{\pi(k)}(C_\delta)\lambda_{\pi(k)}(C_A)`,
  :math:`h^{Kron}_k = \Phi_k\Lambda_k` and :math:`\chi_k = h_k/h^{Kron}_k`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from dlnkit.arguments import checked
from dlnkit.numerics.chains import output_loss
from dlnkit.numerics.fits import (
    PowerLawFit,
    fit_alpha,
    fit_decay,
    fit_gamma,
    loglog_fit,
    participation_ratio,
    zeta_bound,
)
from dlnkit.numerics.hessian import hvp_batched
from dlnkit.numerics.validation import DlnkitInputError, check_vectors

LOSSES = ("cross_entropy", "mse")
#: a loss by name (LOSSES), a torch loss module, or a callable (output, target) -> scalar
LossArg: TypeAlias = str | Callable[..., torch.Tensor]


def model_loss(output: torch.Tensor, target: torch.Tensor, loss: LossArg) -> torch.Tensor:
    """Loss of the batch: ``cross_entropy`` (integer labels), ``mse`` (1/2 ||f - y||^2 per sample, batch
    mean), or a torch loss module / callable (:func:`dlnkit.numerics.losses.resolve_loss`, written with
    primitive ops so that every HVP route works on it)."""
    if loss == "cross_entropy":
        return F.cross_entropy(output, target)
    if loss == "mse":
        return output_loss(output, target, "squared")  # 1/2 sum over all entries / B
    if isinstance(loss, str):
        raise DlnkitInputError(
            f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}, a torch loss module or a callable"
        )
    from dlnkit.numerics.losses import resolve_loss

    return resolve_loss(loss).batch_value(output, target)


def _delta_scale(loss: LossArg, batch: int) -> float:
    """s with delta = s * dL/dz: B for a batch-mean loss, 1 for a sum (so G = delta^T A / s)."""
    if isinstance(loss, str):
        return float(batch)
    from dlnkit.numerics.losses import resolve_loss

    return float(batch) if resolve_loss(loss).reduction == "mean" else 1.0


def matrix_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The model's ``nn.Linear`` and ``nn.Conv2d`` submodules by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


@dataclass
class LayerCapture:
    """Everything captured for one layer (see the module docstring for conventions).

    The single-batch route (:func:`capture_layer`) keeps the rows A and delta; the streamed route
    (:func:`dlnkit.numerics.layer_capture.capture_layers`, used for user models) keeps only the
    factors ``C_delta``/``C_A`` (None when undefined, ``factor_note`` says why) and applies the
    layer's Hessian block through ``matmat`` (V (m*n, k) -> H_ll V)."""

    name: str
    kind: str  # "linear", "conv1d/2d/3d", "embedding", "attention_in"
    weight_shape: tuple[int, ...]
    W: torch.Tensor  # m x n view
    A: torch.Tensor | None  # rows x n (single-batch route)
    delta: torch.Tensor | None  # rows x m, s-scaled (single-batch route)
    batch: int
    positions: int  # rows per sample (T)
    G: torch.Tensor  # the gradient, m x n
    autograd_grad: torch.Tensor  # the weight's .grad from autograd, m x n (consistency check)
    loss_of_weight: Callable[[torch.Tensor], torch.Tensor] | None = field(repr=False)
    gn_output_factor: torch.Tensor | None = None  # m x m, Gauss-Newton C_delta
    delta_scale: float | None = None  # s in delta = s * dL/dz (B for mean losses, 1 for sums); None: batch
    C_delta: torch.Tensor | None = None  # streamed route: empirical C_delta
    C_A: torch.Tensor | None = None  # streamed route: C_A
    matmat: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)
    layer_type: str = ""
    note: str = ""
    factor_note: str = ""


def _check_layer(model: nn.Module, layer: str) -> nn.Linear | nn.Conv2d:
    layers = matrix_layers(model)
    if layer not in layers:
        raise DlnkitInputError(f"no Linear/Conv2d layer named {layer!r}; layers: {', '.join(layers) or '(none)'}")
    mod = layers[layer]
    assert isinstance(mod, (nn.Linear, nn.Conv2d))  # matrix_layers keeps only these
    if isinstance(mod, nn.Conv2d) and mod.groups != 1:
        raise DlnkitInputError(f"layer {layer!r} is a grouped convolution; only groups=1 is supported")
    if isinstance(mod, nn.Conv2d) and not isinstance(mod.padding, (tuple, int)):
        raise DlnkitInputError(f"layer {layer!r} uses string padding; give explicit integer padding")
    return mod


@checked
def capture_layer(
    model: nn.Module,
    layer: str,
    inputs: torch.Tensor | Iterable[Any],
    targets: torch.Tensor | None,
    *,
    loss: LossArg = "cross_entropy",
    gauss_newton: bool = True,
) -> LayerCapture:
    """Run one forward/backward pass and collect A, delta, G (and the GN output factor) for ``layer``.

    The model must treat samples independently: train-mode BatchNorm, forwards that change buffers
    and random forwards (dropout in training mode) are refused, and so is a layer called more than
    once per forward pass. In-place ops after the layer are handled (the network continues on a copy
    of the layer's output), and a frozen weight is analysed (grad enabled for the capture only).
    ``loss``: a name, a torch loss module (mean or sum reduction) or a callable; with ``targets=None``,
    ``inputs`` may be a DataLoader or an iterable of batches (concatenated into one batch).
    """
    from dlnkit.numerics.model_checks import check_model_for_curvature

    mod = _check_layer(model, layer)
    inputs, targets = _as_one_batch(inputs, targets)
    B = int(inputs.shape[0])
    s_delta = _delta_scale(loss, B)
    check_model_for_curvature(model, model, inputs)  # train-mode BatchNorm, buffer updates, dropout: refused
    store: dict[str, Any] = {"calls": 0}

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> torch.Tensor:
        store["calls"] += 1
        store["x"] = inp[0].detach()
        out.retain_grad()
        store["z"] = out
        # the rest of the network gets a copy: an in-place op after this layer (ReLU(inplace=True))
        # then modifies the copy, and out.grad stays the gradient at the layer's own output
        return out.clone()

    handle = mod.register_forward_hook(hook)
    frozen = not mod.weight.requires_grad
    try:
        if frozen:  # a frozen weight is analysed as it is: the loss's curvature in it is still defined
            mod.weight.requires_grad_(True)
        for p in model.parameters():
            p.grad = None
        out = model(inputs)
        if store["calls"] != 1:
            raise DlnkitInputError(
                f"layer {layer!r} is called {store['calls']} times in one forward pass (a shared module): its "
                "gradient is a sum over the calls and A, delta are not one matrix each; analyse the full "
                "Hessian with dlnkit.numerics.curvature.ModelCurvature instead"
            )
        lval = model_loss(out, targets, loss)
        lval.backward(retain_graph=gauss_newton)
        if mod.weight.grad is None or store["z"].grad is None:
            raise DlnkitInputError(
                f"the loss does not depend on layer {layer!r} (no gradient reaches it, e.g. its "
                "output is detached): its curvature is zero and there are no directions to analyse"
            )
        wgrad = mod.weight.grad.detach().clone()
    finally:
        handle.remove()
        if frozen:
            mod.weight.requires_grad_(False)
            mod.weight.grad = None
    z = store["z"]
    x = store["x"]
    dz = z.grad.detach() * s_delta
    W4 = mod.weight.detach()
    m = W4.shape[0]
    if isinstance(mod, nn.Conv2d):
        pad = mod.padding
        assert not isinstance(pad, str)  # refused by _check_layer
        cols = F.unfold(x, mod.kernel_size, dilation=mod.dilation, padding=pad, stride=mod.stride)
        T = cols.shape[-1]
        A = cols.transpose(1, 2).reshape(B * T, -1)
        delta = dz.reshape(B, m, -1).transpose(1, 2).reshape(B * T, m)
        kind = "conv2d"
    else:
        A = x.reshape(-1, x.shape[-1])
        delta = dz.reshape(-1, m)
        T = A.shape[0] // B
        kind = "linear"
    G = delta.T @ A / s_delta
    gn = None
    if gauss_newton:
        if isinstance(loss, str):
            gn = _gauss_newton_output_factor(out, z, loss, B, T, m)
        else:
            gn = _gauss_newton_output_factor_autodiff(out, z, lval, B, m)
    wname = f"{layer}.weight" if layer else "weight"
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss_of_weight(Wl: torch.Tensor) -> torch.Tensor:
        state = {**params, **buffers, wname: Wl}
        return model_loss(functional_call(model, state, (inputs,)), targets, loss)

    return LayerCapture(
        layer,
        kind,
        tuple(W4.shape),
        W4.reshape(m, -1),
        A.detach(),
        delta.detach(),
        B,
        T,
        G,
        wgrad.reshape(m, -1),
        loss_of_weight,
        gn,
        s_delta,
    )


def _as_one_batch(
    inputs: torch.Tensor | Iterable[Any], targets: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) tensors as given, or, with ``targets=None``, a DataLoader / iterable of batches
    concatenated into one batch (the alignment analysis keeps A and delta of every sample anyway)."""
    if targets is not None:
        if not isinstance(inputs, torch.Tensor):
            raise DlnkitInputError(
                "with targets given, the inputs must be one tensor (or give a DataLoader and no targets)"
            )
        return _paired_batch(inputs, targets)
    from dlnkit.numerics.batches import as_batches

    b = as_batches(inputs)
    Xs, ys = zip(*b.iterate())
    if not all(isinstance(x, torch.Tensor) for x in Xs):
        raise DlnkitInputError("the alignment analysis needs tensor inputs")
    return _paired_batch(torch.cat(Xs), torch.cat(ys))


def _paired_batch(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample per row of both: the same (non-zero) number of inputs and targets."""
    if not isinstance(y, torch.Tensor):
        raise DlnkitInputError(f"targets must be a tensor, got {type(y).__name__}")
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise DlnkitInputError(
            f"inputs {tuple(X.shape)} and targets {tuple(y.shape)} must hold the same number (>= 1) of samples "
            "along their first dimension"
        )
    return X, y


def _gauss_newton_output_factor_autodiff(
    out: torch.Tensor, z: torch.Tensor, lval: torch.Tensor, B: int, m: int
) -> torch.Tensor:
    r"""Sum over rows of :math:`J_i^\top (\partial^2 L/\partial f_i^2) J_i` for any loss, with the output
    Hessian by double backward: :math:`\sum_c (J^\top H e_c)(J^\top e_c)^\top` (using
    :math:`\sum_c e_ce_c^\top = I`; the loss is separable over samples, so H is block diagonal).
    For a batch-mean loss this is (1/B) sum_i J_i^T H_{l_i} J_i, the string losses' convention."""
    out2 = out.reshape(B, -1)
    (g,) = torch.autograd.grad(lval, out, create_graph=True)
    g2 = g.reshape(B, -1)
    acc = torch.zeros(m, m, dtype=z.dtype, device=z.device)
    for c in range(out2.shape[1]):
        e = torch.zeros_like(out2)
        e[:, c] = 1.0
        (He,) = torch.autograd.grad(g2, out, grad_outputs=e, retain_graph=True)
        (qh,) = torch.autograd.grad(out2, z, grad_outputs=He.reshape(B, -1), retain_graph=True)
        (qe,) = torch.autograd.grad(out2, z, grad_outputs=e, retain_graph=True)
        if z.ndim == 4:
            qh = qh.reshape(B, m, -1).transpose(1, 2).reshape(-1, m)
            qe = qe.reshape(B, m, -1).transpose(1, 2).reshape(-1, m)
        else:
            qh, qe = qh.reshape(-1, m), qe.reshape(-1, m)
        acc += qh.T @ qe
    return 0.5 * (acc + acc.T)


def _gauss_newton_output_factor(out: torch.Tensor, z: torch.Tensor, loss: str, B: int, T: int, m: int) -> torch.Tensor:
    """(1/B) sum_i sum_c q_ic q_ic^T with q_ic = J_i^T s_ic and s_ic the columns of H_out,i^(1/2)."""
    C = out.shape[-1]
    out2 = out.reshape(-1, C)
    if loss == "cross_entropy":
        p = torch.softmax(out2.detach(), dim=-1)
        sq = p.sqrt()
    acc = torch.zeros(m, m, dtype=z.dtype, device=z.device)
    eye = torch.eye(C, dtype=out.dtype, device=out.device)
    for c in range(C):
        if loss == "cross_entropy":
            S = sq[:, c : c + 1] * (eye[c] - p)  # column c of diag(sqrt p) - p sqrt(p)^T, per sample
        else:
            S = eye[c].expand_as(out2)
        (q,) = torch.autograd.grad(out2, z, grad_outputs=S, retain_graph=True)
        if z.ndim == 4:
            q = q.reshape(B, m, -1).transpose(1, 2).reshape(-1, m)
        else:
            q = q.reshape(-1, m)
        acc += q.T @ q
    return acc / B


def weight_directions(U: torch.Tensor, V: torch.Tensor, weight_shape: Sequence[int]) -> torch.Tensor:
    """Flat row-major vec(u_k v_k^T) as the columns of a (numel x K) matrix."""
    K = U.shape[1]
    D = torch.einsum("ik,jk->kij", U, V).reshape(K, -1)
    return D.T.reshape(int(np.prod(weight_shape)), K)


def _block_matmat(cap: LayerCapture) -> Callable[[torch.Tensor], torch.Tensor]:
    """V (m*n, k) -> H_ll V: the streamed operator, or HVPs of ``loss_of_weight`` (single batch)."""
    if cap.matmat is not None:
        return cap.matmat
    fn = cap.loss_of_weight
    if fn is None:
        raise DlnkitInputError(f"layer {cap.name}: the capture has no Hessian-vector products")
    W = cap.W.reshape(cap.weight_shape)
    return lambda V: hvp_batched(fn, [W], V.reshape(W.numel(), -1), chunk_size=16).reshape(V.shape)


@checked
def directional_curvatures(
    cap: LayerCapture, U: torch.Tensor, V: torch.Tensor, *, chunk_size: int | None = 16
) -> torch.Tensor:
    """h_k = vec(u_k v_k^T)^T H_ll vec(u_k v_k^T), exact HVPs (one per direction)."""
    m, n = cap.weight_shape[0], int(math.prod(cap.weight_shape[1:]))
    if U.ndim != 2 or V.ndim != 2 or U.shape[0] != m or V.shape[0] != n or U.shape[1] != V.shape[1]:
        raise DlnkitInputError(
            f"U must be ({m}, k) and V ({n}, k) for this layer, got {tuple(U.shape)} and {tuple(V.shape)}"
        )
    if U.dtype != cap.W.dtype or V.dtype != cap.W.dtype:
        raise DlnkitInputError(f"U and V must be {cap.W.dtype} like the layer, got {U.dtype} and {V.dtype}")
    D = weight_directions(U, V, cap.weight_shape)
    HD = _block_matmat(cap)(D)
    return (D * HD).sum(0)


#: c in the positivity cut-off c * eps * sqrt(n) * max|x| (see :func:`positivity_cutoff`)
POSITIVITY_C = 10.0
#: c in the rank cut-off c * eps * max(m, n) * sigma_1 (see :func:`rank_cutoff`)
RANK_C = 10.0


def rank_cutoff(sigma_1: float, m: int, n: int, dtype: torch.dtype) -> float:
    r"""Singular values of G at or below :math:`c\,\varepsilon\,\max(m,n)\,\sigma_1` are rounding.

    The reason: G and its SVD are computed in ``dtype``; the singular values of an m x n matrix
    are perturbed by about :math:`\varepsilon\max(m,n)\sigma_1` (the rule of ``numpy.linalg.matrix_rank``),
    c = 10 for the sums that formed G. A 10-class head's gradient has rank <= 9 exactly; in float32
    its 10th singular value is ~1e-7 sigma_1 of noise, which a fixed 1e-10 cut kept.
    """
    return RANK_C * float(torch.finfo(dtype).eps) * max(m, n) * sigma_1


def positivity_cutoff(scale: float, n: int, dtype: torch.dtype) -> float:
    r"""Curvatures h_k (and eigenvalues) at or below :math:`c\,\varepsilon\sqrt n\,\text{scale}` are not
    counted as positive: an HVP in ``dtype`` over n weights carries an error of about
    :math:`\varepsilon\sqrt n\,\|H\|`, and scale = max|h_k| (max|lambda|) is a lower bound on
    :math:`\|H\|` (c = 10)."""
    return POSITIVITY_C * float(torch.finfo(dtype).eps) * math.sqrt(max(n, 1)) * float(scale)


@dataclass(frozen=True)
class BlockEigenvalues:
    """Top eigenvalues of a layer block with how they were found."""

    values: np.ndarray  # descending
    method: str  # "dense" or "lanczos"
    residuals: np.ndarray  # |H x - theta x| per value (0 for dense)
    converged: bool
    num_hvps: int


def layer_block_eigen(
    cap: LayerCapture, k: int, *, dense_max: int = 100, seed: int = 0, tol: float | None = None
) -> BlockEigenvalues:
    r"""The top-k eigenvalues of the exact per-layer block :math:`H_{ll}` (descending), with residuals.

    Dense (HVPs against the identity, then ``eigvalsh``) when the layer has at most ``dense_max``
    weights, else block Lanczos (:func:`dlnkit.numerics.top_eigenvalues.top_eigenvalues`, block size k:
    one pass over the data per block step, multiplicities resolved) on the block's HVPs, stopped when
    every residual is below ``tol`` x ||H_ll|| (default :math:`\max(10^{-4}, 100\varepsilon)` of the
    analysis dtype). The reason for 1e-4: a Ritz value lies within its residual of an eigenvalue (in
    practice within residual^2/gap), so the top-k values carry relative errors of at most
    1e-4 lambda_1/lambda_k, far below what moves a log-log slope of the spectrum (s_eig); the
    residuals are kept in the report. Precisely: s_eig is the least-squares slope of
    :math:`\log\lambda_k` on :math:`x_k = \log k`, so with residuals :math:`r_k`
    :math:`|\delta s| \le \sum_k |w_k|\, r_k/\lambda_k`, :math:`w_k = (x_k-\bar x)/\sum_j (x_j-\bar x)^2`
    (:math:`\sum_k|w_k| \approx 1` for k = 20); on the MLP 40-256-256-10 of the alignment benchmark this
    bound is at most 2.4e-5 at 1e-4 (1.3e-4 at 1e-3), against bootstrap intervals 0.09-0.36 wide, and a
    looser tolerance saves little (1e-3: 9-14% fewer products, 1e-2: about 30%), since the products
    are set by the Krylov dimension that separates k eigenvalues. Re-orthogonalising against the whole
    basis costs O(n m^2) for a Krylov dimension m, which is what a loose tolerance saves on wide layers."""
    W = cap.W.reshape(cap.weight_shape)
    n = W.numel()
    k = int(min(k, n))
    mm = _block_matmat(cap)
    if n <= dense_max:
        I = torch.eye(n, dtype=W.dtype, device=W.device)
        H = mm(I)
        H = 0.5 * (H + H.T)
        ev = torch.linalg.eigvalsh(H).flip(0)[:k]
        return BlockEigenvalues(ev.cpu().double().numpy(), "dense", np.zeros(k), True, n)
    from dlnkit.numerics.operators import MatmatOperator
    from dlnkit.numerics.top_eigenvalues import top_eigenvalues

    if tol is None:
        tol = max(1e-4, 100 * float(torch.finfo(W.dtype).eps))
    op = MatmatOperator(mm, n, dtype=W.dtype, device=W.device)
    res = top_eigenvalues(op, k, tol=tol, max_iters=min(n, max(300, 10 * k)), seed=seed)
    return BlockEigenvalues(
        res.eigenvalues.cpu().double().numpy().copy(),
        "lanczos" if res.converged else "lanczos (not converged)",
        res.residuals.cpu().double().numpy().copy(),
        bool(res.converged),
        int(res.num_products),
    )


@checked
def layer_block_eigenvalues(
    cap: LayerCapture, k: int, *, dense_max: int = 100, chunk_size: int = 64, seed: int = 0
) -> tuple[np.ndarray, str]:
    """The top-k eigenvalues (descending, with multiplicity) of the exact per-layer block, and the
    method (:func:`layer_block_eigen` at tolerance 1e-10, without the convergence record); the method
    reads ``"lanczos (not converged)"`` when the product budget ran out first."""
    be = layer_block_eigen(cap, k, dense_max=dense_max, seed=seed, tol=1e-10)
    return be.values, be.method


def _pairing(vecs: torch.Tensor, evecs: torch.Tensor, pairing: str) -> np.ndarray:
    K = vecs.shape[1]
    if pairing == "index":
        return np.arange(K)
    if pairing == "overlap":
        ov = (evecs.T @ vecs) ** 2  # (n_eig, K)
        return ov.argmax(0).cpu().numpy()
    raise DlnkitInputError(f"unknown pairing {pairing!r}; use 'index' or 'overlap'")


@dataclass
class AlignmentReport:
    """Per-direction quantities (length K arrays, sigma descending) and the fits.

    Factor quantities (rho, Phi, Lambda, chi, lambda_delta/A) are NaN / empty when the layer has no
    Kronecker factors (``factor_note`` says why). ``fits`` holds :class:`PowerLawFit` objects (each
    with its number of points ``n``) and scalars; ``intervals`` the bootstrap intervals of alpha,
    gamma, s_dir, s_eig (:mod:`dlnkit.numerics.fit_intervals`); ``cutoffs`` the rank and positivity
    cut-offs used, with the dtype they are relative to."""

    layer: str
    kind: str
    shape: tuple[int, ...]
    factors: str
    pairing: str
    sigma: np.ndarray
    h: np.ndarray
    rho_delta: np.ndarray
    rho_A: np.ndarray
    Phi: np.ndarray
    Lambda: np.ndarray
    h_kron: np.ndarray
    chi: np.ndarray
    lambda_delta: np.ndarray  # factor eigenvalues, descending (full)
    lambda_A: np.ndarray
    eigenvalues: np.ndarray | None = None
    eig_method: str = ""
    fits: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    layer_type: str = ""
    dtype: str = ""
    note: str = ""
    factor_note: str = ""
    rank: int = 0  # singular values of G above the rank cut-off
    cutoffs: dict[str, Any] = field(default_factory=dict)
    eig_residuals: np.ndarray | None = None
    eig_converged: bool | None = None
    eig_hvps: int = 0

    def summary(self) -> dict[str, Any]:
        """Flat dict of the fits: each exponent with its R^2, point count ``<key>_n``, ``<key>_few``
        (fewer than MIN_FIT_POINTS points) and bootstrap interval ``<key>_ci``; PR, zeta bound,
        slope parts."""
        from dlnkit.numerics.fit_intervals import MIN_FIT_POINTS

        out: dict[str, Any] = {
            "layer": self.layer,
            "kind": self.kind,
            "shape": "x".join(map(str, self.shape)),
            "K": len(self.sigma),
            "rank": self.rank,
        }
        if self.dtype:
            out["dtype"] = self.dtype
        for key, fit in self.fits.items():
            if isinstance(fit, PowerLawFit):
                out[key] = fit.exponent
                out[f"{key}_r2"] = fit.r2
                out[f"{key}_n"] = fit.n
                out[f"{key}_few"] = fit.n < MIN_FIT_POINTS
                if key in self.intervals:
                    out[f"{key}_ci"] = list(self.intervals[key])
            else:
                out[key] = fit
        if self.factor_note:
            out["factor_note"] = self.factor_note
        if self.note:
            out["note"] = self.note
        if self.eig_converged is not None:
            out["eig_converged"] = self.eig_converged
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: the summary plus per-direction sigma_k, h_k, rho, Phi, Lambda, chi,
        the block's top eigenvalues (with residuals), the cut-offs and the interval method."""
        from dlnkit.numerics.fit_intervals import METHOD

        def lst(a: np.ndarray | None) -> list[float] | None:
            return None if a is None else [float(x) for x in np.asarray(a).reshape(-1)]

        d = self.summary()
        d.update(
            {
                "layer_type": self.layer_type,
                "factors": self.factors,
                "pairing": self.pairing,
                "sigma": lst(self.sigma),
                "h": lst(self.h),
                "rho_delta": lst(self.rho_delta),
                "rho_A": lst(self.rho_A),
                "Phi": lst(self.Phi),
                "Lambda": lst(self.Lambda),
                "chi": lst(self.chi),
                "eigenvalues": lst(self.eigenvalues),
                "eig_method": self.eig_method,
                "eig_residuals": lst(self.eig_residuals),
                "eig_hvps": self.eig_hvps,
                "cutoffs": self.cutoffs,
                "interval_method": METHOD,
            }
        )
        return d


@checked
def analyse_capture(
    cap: LayerCapture,
    *,
    k: int = 20,
    factors: str = "empirical",
    pairing: str = "index",
    eigen: bool = True,
    rel_cut: float | None = None,
    dense_max: int = 100,
    h: torch.Tensor | np.ndarray | None = None,
    seed: int = 0,
) -> AlignmentReport:
    """Compute h_k, the factors, rho/Phi/Lambda/chi and the fits for the top-k directions of G.

    Directions: singular values above :func:`rank_cutoff` (relative to the capture's dtype), or
    above ``rel_cut * sigma_1`` when given. ``h`` may pass the directional curvatures of an earlier
    call on the same capture and k (they do not depend on the factors or the pairing)."""
    if factors not in ("empirical", "gn"):
        raise DlnkitInputError(f"factors must be 'empirical' or 'gn', got {factors!r}")
    if k < 2:
        raise DlnkitInputError(f"k must be >= 2 for a fit, got {k}")
    dtype = cap.G.dtype
    m, n = int(cap.G.shape[0]), int(cap.G.shape[1])
    U, S, Vh = torch.linalg.svd(cap.G, full_matrices=False)
    s1 = float(S[0]) if S.numel() else 0.0
    cut = rank_cutoff(s1, m, n, dtype) if rel_cut is None else rel_cut * s1
    rank = int((S > cut).sum()) if s1 > 0 else 0
    keep = int(min(k, rank))
    if keep < 2:
        raise DlnkitInputError(
            f"layer {cap.name}: the gradient has {rank} singular value(s) above the {dtype} rounding cut-off "
            f"{cut:.3g}; a fit needs two"
        )
    if h is None:  # the directions' products are the layer's largest buffers: refused before them
        from dlnkit.numerics.memory import alignment_layer_bytes, check_allocation

        check_allocation(
            alignment_layer_bytes(m, n, keep, cap.C_A is not None or cap.A is not None, itemsize=S.element_size()),
            f"layer {cap.name}: {keep} gradient directions of a {m} x {n} matrix",
            S.device,
            hint="lower --k (k) or analyse fewer/smaller layers",
        )
    U, S, V = U[:, :keep], S[:keep], Vh[:keep].T
    h = directional_curvatures(cap, U, V) if h is None else torch.as_tensor(h, dtype=S.dtype, device=S.device)
    Cd: torch.Tensor | None
    CA: torch.Tensor | None
    factor_note = cap.factor_note
    if factors == "gn":
        Cd = cap.gn_output_factor
        if Cd is None and not factor_note:
            factor_note = "no Gauss-Newton factor for this layer"
    elif cap.delta is not None:
        Cd = cap.delta.T @ cap.delta / (cap.batch if cap.delta_scale is None else cap.delta_scale)
    else:
        Cd = cap.C_delta
    if cap.A is not None:
        CA = cap.A.T @ cap.A / (cap.batch * cap.positions)
    else:
        CA = cap.C_A
    nan = torch.full((keep,), float("nan"), dtype=S.dtype, device=S.device)
    if Cd is not None and CA is not None:
        ld, Ed = torch.linalg.eigh(0.5 * (Cd + Cd.T))
        la, Ea = torch.linalg.eigh(0.5 * (CA + CA.T))
        ld, Ed, la, Ea = ld.flip(0), Ed.flip(1), la.flip(0), Ea.flip(1)
        qd = (U * (Cd @ U)).sum(0)
        qa = (V * (CA @ V)).sum(0)
        pd = _pairing(U, Ed, pairing)
        pa = _pairing(V, Ea, pairing)
        if pairing == "index" and (keep > ld.numel() or keep > la.numel()):
            raise DlnkitInputError("more directions than factor eigenvalues")
        lam_d = ld[torch.as_tensor(pd)]
        lam_a = la[torch.as_tensor(pa)]
        rho_d = qd / lam_d
        rho_a = qa / lam_a
        Phi = rho_d * rho_a
        Lam = lam_d * lam_a
        h_kron = qd * qa
        chi = h / h_kron
    else:
        ld = la = torch.zeros(0, dtype=S.dtype)
        rho_d = rho_a = Phi = Lam = h_kron = chi = nan

    def npy(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float64)

    rep = AlignmentReport(
        cap.name,
        cap.kind,
        cap.weight_shape,
        factors,
        pairing,
        npy(S),
        npy(h),
        npy(rho_d),
        npy(rho_a),
        npy(Phi),
        npy(Lam),
        npy(h_kron),
        npy(chi),
        npy(ld),
        npy(la),
        layer_type=cap.layer_type or cap.kind,
        dtype=str(dtype).replace("torch.", ""),
        note=cap.note,
        factor_note=factor_note,
        rank=rank,
    )
    h_cut = positivity_cutoff(float(np.abs(rep.h).max()), m * n, dtype)
    rep.cutoffs = {
        "dtype": rep.dtype,
        "eps": float(torch.finfo(dtype).eps),
        "rank": cut,
        "rank_rule": f"sigma_k > {RANK_C:g} * eps * max(m, n) * sigma_1"
        if rel_cut is None
        else f"sigma_k > {rel_cut:g} * sigma_1",
        "h_positive": h_cut,
        "positive_rule": f"x > {POSITIVITY_C:g} * eps * sqrt(m n) * max|x|",
    }
    rep.fits = fit_report(rep.sigma, rep.h, Lam=rep.Lambda, Phi=rep.Phi, chi=rep.chi, positive_cut=h_cut)
    if eigen:
        be = layer_block_eigen(cap, keep, dense_max=dense_max, seed=seed)
        ev = be.values
        rep.eigenvalues, rep.eig_method = ev, be.method
        rep.eig_residuals, rep.eig_converged, rep.eig_hvps = be.residuals, be.converged, be.num_hvps
        ev_cut = positivity_cutoff(float(np.abs(ev).max()), m * n, dtype)
        rep.cutoffs["eig_positive"] = ev_cut
        pos = ev[ev > ev_cut]
        if pos.size >= 2:
            rep.fits["s_eig"] = fit_decay(pos)
        rep.fits["PR_eig"] = participation_ratio(np.clip(ev, 0, None)) if (ev > ev_cut).any() else float("nan")
    rep.intervals = _intervals(rep, h_cut)
    return rep


def _intervals(rep: AlignmentReport, h_cut: float) -> dict[str, tuple[float, float]]:
    from dlnkit.numerics.fit_intervals import MIN_FIT_POINTS, bootstrap_interval

    out: dict[str, tuple[float, float]] = {}
    pos = rep.h > h_cut
    k = np.arange(1, rep.sigma.size + 1, dtype=np.float64)
    pairs = {"alpha": (rep.sigma[pos], rep.h[pos], 1.0), "gamma": (k, rep.sigma, -1.0)}
    hs = np.sort(rep.h[pos])[::-1]
    pairs["s_dir"] = (np.arange(1.0, hs.size + 1), hs, -1.0)
    if rep.eigenvalues is not None and "s_eig" in rep.fits:
        ev = np.sort(rep.eigenvalues[rep.eigenvalues > rep.cutoffs.get("eig_positive", 0.0)])[::-1]
        pairs["s_eig"] = (np.arange(1.0, ev.size + 1), ev, -1.0)
    for key, (x, y, sign) in pairs.items():
        if key in rep.fits and x.size >= MIN_FIT_POINTS:
            out[key] = bootstrap_interval(x, y, sign=sign)
    return out


@checked
def fit_report(
    sigma: npt.ArrayLike,
    h: npt.ArrayLike,
    *,
    Lam: npt.ArrayLike | None = None,
    Phi: npt.ArrayLike | None = None,
    chi: npt.ArrayLike | None = None,
    positive_cut: float = 0.0,
) -> dict[str, Any]:
    """alpha, gamma, s_dir (with R^2), alpha*gamma, PR of h and the zeta bound at alpha*gamma;
    with Lam/Phi/chi also their log-log slopes on log sigma over the common positive index set.
    h_k counts as positive above ``positive_cut`` (:func:`positivity_cutoff`)."""
    extra = {k: v for k, v in (("Lam", Lam), ("Phi", Phi), ("chi", chi)) if v is not None}
    if extra and len(extra) < 3:
        raise DlnkitInputError("fit_report(): pass Lam, Phi and chi together (or none of them)")
    sigma, h, *rest = check_vectors("fit_report", sigma=sigma, h=h, **extra)
    if rest:
        Lam, Phi, chi = rest
    fits: dict[str, Any] = {}
    pos = h > positive_cut
    fits["n_pos"] = int(pos.sum())
    if pos.sum() >= 2:
        fits["alpha"] = fit_alpha(sigma[pos], h[pos])
        fits["s_dir"] = fit_decay(h[pos])
        fits["PR"] = participation_ratio(h[pos])
    fits["gamma"] = fit_gamma(sigma)
    if "alpha" in fits:
        ag = fits["alpha"].exponent * fits["gamma"].exponent
        fits["alpha_gamma"] = ag
        fits["zeta_bound"] = zeta_bound(ag)
    if Lam is not None:
        with np.errstate(invalid="ignore"):
            common = pos & (np.asarray(Lam) > 0) & (np.asarray(Phi) > 0) & (np.asarray(chi) > 0)
        if common.sum() >= 2:
            fits["alpha_common"] = fit_alpha(sigma[common], h[common]).exponent
            fits["slope_Lambda"] = loglog_fit(sigma[common], np.asarray(Lam)[common]).slope
            fits["slope_Phi"] = loglog_fit(sigma[common], np.asarray(Phi)[common]).slope
            fits["slope_chi"] = loglog_fit(sigma[common], np.asarray(chi)[common]).slope
    return fits


@checked
def analyse_layer(
    model: nn.Module,
    layer: str,
    inputs: torch.Tensor | Iterable[Any],
    targets: torch.Tensor | None,
    *,
    loss: LossArg = "cross_entropy",
    k: int = 20,
    factors: str = "empirical",
    pairing: str = "index",
    eigen: bool = True,
    dense_max: int = 100,
) -> AlignmentReport:
    """:func:`capture_layer` then :func:`analyse_capture`."""
    cap = capture_layer(model, layer, inputs, targets, loss=loss, gauss_newton=(factors == "gn"))
    return analyse_capture(cap, k=k, factors=factors, pairing=pairing, eigen=eigen, dense_max=dense_max)


@checked
def measure_layer_alphas(
    model: nn.Module,
    inputs: torch.Tensor | Iterable[Any],
    targets: torch.Tensor | None,
    *,
    loss: LossArg = "cross_entropy",
    k: int = 20,
    layers: Iterable[str] | None = None,
) -> dict[str, float]:
    """Fitted alpha per matrix layer (for :class:`~dlnkit.numerics.preconditioners.SpectralNewton` groups)."""
    names = list(matrix_layers(model)) if layers is None else list(layers)
    out = {}
    for name in names:
        rep = analyse_layer(model, name, inputs, targets, loss=loss, k=k, eigen=False)
        out[name] = rep.fits["alpha"].exponent if "alpha" in rep.fits else float("nan")
    return out


@checked
def linear_chain(weights: Sequence[torch.Tensor], *, dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """A deep linear network as ``nn.Sequential`` of bias-free ``nn.Linear`` layers named "0", "1", ...

    >>> net = linear_chain([torch.ones(3, 2), torch.ones(1, 3)])
    >>> list(matrix_layers(net)), tuple(net(torch.ones(4, 2, dtype=torch.float64)).shape)
    (['0', '1'], (4, 1))
    """
    layers = []
    for W in weights:
        lin = nn.Linear(W.shape[1], W.shape[0], bias=False, dtype=dtype, device=W.device)
        with torch.no_grad():
            lin.weight.copy_(W.detach().to(dtype))
        layers.append(lin)
    return nn.Sequential(*layers)
