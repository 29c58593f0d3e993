r"""The spectral preconditioner family T(sigma; alpha) = sigma / (sigma^alpha + d) (docs/claims.md#a6).

For a gradient matrix :math:`G = U\operatorname{diag}(\sigma)V^\top` the preconditioned step is
:math:`U\operatorname{diag}(T(\sigma_k;\alpha))V^\top`. Special cases (derived in
:mod:`dlnkit.theory.preconditioners`, checked in the tests):

* :math:`\alpha = 2`: :math:`G(G^\top G + dI)^{-1}` ("spectral Newton");
* :math:`\alpha = 1,\ d \to 0`: :math:`UV^\top`, the polar factor (Muon's direction);
* the damped Newton step :math:`(C_\delta\otimes C_A + dI)^{-1}\operatorname{vec}(G)` on a Kronecker
  block whose factor eigenbases are the singular bases of G and whose directional curvatures
  are :math:`c\,\sigma_k^\alpha` equals :math:`T(\sigma_k;\alpha, d/c)/c` along each direction.

:class:`SpectralNewton` applies this to every weight matrix (convolution kernels through their
``(C_out, C_in*kh*kw)`` view) and plain heavy-ball SGD to other parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from dlnkit.numerics.validation import DlnkitInputError


def spectral_transfer(sigma: torch.Tensor, alpha: float, damping: float) -> torch.Tensor:
    """T(sigma; alpha) = sigma / (sigma^alpha + d), elementwise.

    >>> spectral_transfer(torch.tensor([1.0, 2.0]), 2.0, 0.0).tolist()
    [1.0, 0.5]
    """
    if damping < 0:
        raise DlnkitInputError(f"damping must be >= 0, got {damping}")
    return sigma / (sigma**alpha + damping)


def spectral_precondition(G: torch.Tensor, alpha: float, damping: float) -> torch.Tensor:
    """U diag(T(sigma_k; alpha, d)) V^T for a 2-D G (thin SVD; zero singular values map to 0)."""
    if G.ndim != 2:
        raise DlnkitInputError(f"spectral_precondition needs a matrix, got shape {tuple(G.shape)}")
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    T = torch.where(S > 0, spectral_transfer(S, alpha, damping), torch.zeros_like(S))
    step: torch.Tensor = (U * T) @ Vh
    return step


def polar_factor(G: torch.Tensor) -> torch.Tensor:
    """U V^T from the thin SVD of G."""
    U, _S, Vh = torch.linalg.svd(G, full_matrices=False)
    polar: torch.Tensor = U @ Vh
    return polar


class SpectralNewton(torch.optim.Optimizer):
    r"""Steps :math:`W \leftarrow W - \eta\, U\operatorname{diag}(T(\sigma_k;\alpha,d))V^\top / \max_k T`.

    Parameters
    ----------
    lr : step size :math:`\eta`.
    alpha : exponent (per parameter group; measured per layer with
        :func:`dlnkit.numerics.alignment.measure_layer_alphas` or given).
    damping : :math:`d`; with ``relative_damping`` (default) it is ``damping * sigma_1^alpha``, so
        it is invariant to the gradient's scale.
    normalize : divide by :math:`\max_k T(\sigma_k)` so the step's spectral norm is ``lr``
        (for alpha = 1, d = 0 this is exactly Muon's orthogonalised step).
    momentum : heavy-ball momentum applied to the gradient before the spectral map.
    weight_decay : decoupled, ``W <- W (1 - lr * wd)``.
    other_lr : step for non-matrix parameters (biases, norms), plain momentum SGD; default ``lr``.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.02,
        alpha: float = 2.0,
        damping: float = 1e-2,
        *,
        relative_damping: bool = True,
        normalize: bool = True,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        other_lr: float | None = None,
    ) -> None:
        if lr <= 0 or damping < 0 or not (0 <= momentum < 1) or weight_decay < 0:
            raise DlnkitInputError(
                f"need lr > 0, damping >= 0, 0 <= momentum < 1, weight_decay >= 0; got lr={lr}, "
                f"damping={damping}, momentum={momentum}, weight_decay={weight_decay}"
            )
        if not (alpha > 0):
            raise DlnkitInputError(f"alpha must be > 0, got {alpha}")
        defaults = dict(
            lr=lr,
            alpha=float(alpha),
            damping=float(damping),
            relative_damping=relative_damping,
            normalize=normalize,
            momentum=momentum,
            weight_decay=weight_decay,
            other_lr=lr if other_lr is None else other_lr,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if group["momentum"] > 0:
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = g.detach().clone()
                    else:
                        buf.mul_(group["momentum"]).add_(g)
                    g = buf
                if p.ndim < 2:
                    p.add_(g, alpha=-group["other_lr"])
                    continue
                G = g.reshape(p.shape[0], -1)
                U, S, Vh = torch.linalg.svd(G, full_matrices=False)
                smax = S.max()
                if not torch.isfinite(smax) or smax == 0:
                    continue
                d = group["damping"] * (smax ** group["alpha"] if group["relative_damping"] else 1.0)
                T = torch.where(S > 0, S / (S ** group["alpha"] + d), torch.zeros_like(S))
                if group["normalize"]:
                    T = T / T.max()
                if group["weight_decay"] > 0:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(((U * T) @ Vh).reshape(p.shape), alpha=-group["lr"])
        return loss
