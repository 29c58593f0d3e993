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

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

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
from dlnkit.numerics.hessian import HessianOperator, hvp_batched
from dlnkit.numerics.validation import DlnkitInputError

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
    """Everything captured for one layer at one batch (see the module docstring for conventions)."""

    name: str
    kind: str  # "linear" or "conv2d"
    weight_shape: tuple[int, ...]
    W: torch.Tensor  # m x n view
    A: torch.Tensor  # rows x n
    delta: torch.Tensor  # rows x m, B-scaled
    batch: int
    positions: int  # rows per sample (T)
    G: torch.Tensor  # (1/B) delta^T A
    autograd_grad: torch.Tensor  # the weight's .grad from autograd, m x n (consistency check)
    loss_of_weight: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)
    gn_output_factor: torch.Tensor | None = None  # m x m, Gauss-Newton C_delta
    delta_scale: float | None = None  # s in delta = s * dL/dz (B for mean losses, 1 for sums); None: batch


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
        return inputs, targets
    from dlnkit.numerics.batches import as_batches

    b = as_batches(inputs)
    Xs, ys = zip(*b.iterate())
    if not all(isinstance(x, torch.Tensor) for x in Xs):
        raise DlnkitInputError("the alignment analysis needs tensor inputs")
    return torch.cat(Xs), torch.cat(ys)


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


def directional_curvatures(
    cap: LayerCapture, U: torch.Tensor, V: torch.Tensor, *, chunk_size: int | None = 16
) -> torch.Tensor:
    """h_k = vec(u_k v_k^T)^T H_ll vec(u_k v_k^T), exact HVPs batched by vmap."""
    D = weight_directions(U, V, cap.weight_shape)
    W = cap.W.reshape(cap.weight_shape)
    HD = hvp_batched(cap.loss_of_weight, [W], D, chunk_size=chunk_size)
    return (D * HD).sum(0)


def layer_block_eigenvalues(
    cap: LayerCapture, k: int, *, dense_max: int = 100, chunk_size: int = 64, seed: int = 0
) -> tuple[np.ndarray, str]:
    """The top-k eigenvalues (descending, with multiplicity) of the exact per-layer block, and the method.

    Dense (HVPs against the identity, then ``eigvalsh``) when the layer has at most ``dense_max``
    weights, else block Lanczos (:func:`dlnkit.numerics.top_eigenvalues.top_eigenvalues`, block size
    k so repeated eigenvalues appear with their multiplicity, default relative residual tolerance); the method
    reads ``"lanczos (not converged)"`` when the product budget ran out first.
    """
    from dlnkit.numerics.top_eigenvalues import top_eigenvalues

    W = cap.W.reshape(cap.weight_shape)
    n = W.numel()
    k = int(min(k, n))
    if n <= dense_max:
        I = torch.eye(n, dtype=W.dtype, device=W.device)
        H = hvp_batched(cap.loss_of_weight, [W], I, chunk_size=chunk_size)
        H = 0.5 * (H + H.T)
        ev = torch.linalg.eigvalsh(H).flip(0)[:k]
        return ev.cpu().numpy(), "dense"
    op = HessianOperator(cap.loss_of_weight, [W], chunk_size=chunk_size)
    res = top_eigenvalues(op, k, max_iters=max(300, 4 * k), seed=seed)  # default tol: 1e-10 in float64
    return res.eigenvalues.numpy().copy(), "lanczos" if res.converged else "lanczos (not converged)"


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
    """Per-direction quantities (length K arrays, sigma descending) and the fits."""

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

    def summary(self) -> dict[str, Any]:
        """Flat dict of the fits: alpha, gamma, s_dir, s_eig (with R^2), PR, zeta bound, slope parts."""
        out = {"layer": self.layer, "kind": self.kind, "shape": "x".join(map(str, self.shape)), "K": len(self.sigma)}
        for key, fit in self.fits.items():
            if isinstance(fit, PowerLawFit):
                out[key] = fit.exponent
                out[f"{key}_r2"] = fit.r2
            else:
                out[key] = fit
        return out


def analyse_capture(
    cap: LayerCapture,
    *,
    k: int = 20,
    factors: str = "empirical",
    pairing: str = "index",
    eigen: bool = True,
    rel_cut: float = 1e-10,
    dense_max: int = 100,
    h: torch.Tensor | np.ndarray | None = None,
) -> AlignmentReport:
    """Compute h_k, the factors, rho/Phi/Lambda/chi and the fits for the top-k directions of G.

    ``h`` may pass the directional curvatures of an earlier call on the same capture and k
    (they do not depend on the factors or the pairing)."""
    if factors not in ("empirical", "gn"):
        raise DlnkitInputError(f"factors must be 'empirical' or 'gn', got {factors!r}")
    if k < 2:
        raise DlnkitInputError(f"k must be >= 2 for a fit, got {k}")
    U, S, Vh = torch.linalg.svd(cap.G, full_matrices=False)
    keep = int(min(k, int((S > rel_cut * S[0]).sum()))) if S[0] > 0 else 0
    if keep < 2:
        raise DlnkitInputError(f"layer {cap.name}: the gradient has fewer than two nonzero singular values")
    U, S, V = U[:, :keep], S[:keep], Vh[:keep].T
    h = directional_curvatures(cap, U, V) if h is None else torch.as_tensor(h, dtype=S.dtype, device=S.device)
    if factors == "empirical":
        Cd = cap.delta.T @ cap.delta / (cap.batch if cap.delta_scale is None else cap.delta_scale)
    else:
        if cap.gn_output_factor is None:
            raise DlnkitInputError("the capture has no Gauss-Newton factor (capture with gauss_newton=True)")
        Cd = cap.gn_output_factor
    CA = cap.A.T @ cap.A / (cap.batch * cap.positions)
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
    )
    rep.fits = fit_report(rep.sigma, rep.h, Lam=rep.Lambda, Phi=rep.Phi, chi=rep.chi)
    if eigen:
        ev, method = layer_block_eigenvalues(cap, keep, dense_max=dense_max)
        rep.eigenvalues, rep.eig_method = ev, method
        pos = ev[ev > 0]
        if pos.size >= 2:
            rep.fits["s_eig"] = fit_decay(pos)
        rep.fits["PR_eig"] = participation_ratio(np.clip(ev, 0, None)) if (ev > 0).any() else float("nan")
    return rep


def fit_report(
    sigma: npt.ArrayLike,
    h: npt.ArrayLike,
    *,
    Lam: npt.ArrayLike | None = None,
    Phi: npt.ArrayLike | None = None,
    chi: npt.ArrayLike | None = None,
) -> dict[str, Any]:
    """alpha, gamma, s_dir (with R^2), alpha*gamma, PR of h and the zeta bound at alpha*gamma;
    with Lam/Phi/chi also their log-log slopes on log sigma over the common positive index set."""
    sigma = np.asarray(sigma, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    fits: dict[str, Any] = {}
    pos = h > 0
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
        common = pos & (np.asarray(Lam) > 0) & (np.asarray(Phi) > 0) & (np.asarray(chi) > 0)
        if common.sum() >= 2:
            fits["alpha_common"] = fit_alpha(sigma[common], h[common]).exponent
            fits["slope_Lambda"] = loglog_fit(sigma[common], np.asarray(Lam)[common]).slope
            fits["slope_Phi"] = loglog_fit(sigma[common], np.asarray(Phi)[common]).slope
            fits["slope_chi"] = loglog_fit(sigma[common], np.asarray(chi)[common]).slope
    return fits


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
