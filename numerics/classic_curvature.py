r"""Measurements for the classic curvature results: the Hessian at the origin and at the saddles
of partial solutions (C4), sharpness of minima and the 2/eta threshold of gradient descent (C5).

Exact Hessians come from the closed form (:func:`dlnkit.numerics.dln_hessian.dln_hessian_closed_form`,
checked against torch.func by claim B0) or, for nonlinear networks, from torch.func directly.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from dlnkit.arguments import checked
from dlnkit.numerics.dln import DeepLinearNetwork, random_orthonormal, teacher_map
from dlnkit.numerics.dln_hessian import dln_hessian_closed_form, train_dln_gradient_descent
from dlnkit.numerics.validation import DlnkitInputError, TrainingDivergedError, check_dims

Weights = Sequence[torch.Tensor]


@checked
def inertia(eigenvalues: torch.Tensor, rtol: float = 1e-9) -> dict[str, int]:
    """(negative, zero, positive) counts, with |lambda| <= rtol * max(1, max|lambda|) counted as zero."""
    ev = torch.as_tensor(eigenvalues, dtype=torch.float64)
    tol = rtol * max(1.0, float(ev.abs().max()) if ev.numel() else 1.0)
    return {"index": int((ev < -tol).sum()), "nullity": int((ev.abs() <= tol).sum()), "positive": int((ev > tol).sum())}


@checked
def zero_weights(
    dims: Sequence[int], dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> list[torch.Tensor]:
    dims = check_dims(dims)
    return [torch.zeros(dims[k + 1], dims[k], dtype=dtype, device=device) for k in range(len(dims) - 1)]


@checked
def partial_solution(
    dims: Sequence[int], t: Sequence[float], kept: Sequence[int], *, seed: int = 0, device: str | torch.device = "cpu"
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Weights realising the kept modes of the target U diag(t) V^T exactly, balanced and aligned
    (per-layer values t_i^(1/L)); zero weights when nothing is kept. Returns (weights, target)."""
    dims = check_dims(dims)
    L = len(dims) - 1
    kept = sorted(set(int(i) for i in kept))
    M, U, V = teacher_map(dims[-1], dims[0], t, seed=seed)
    if any(i < 0 or i >= len(t) for i in kept):
        raise DlnkitInputError(f"kept modes {kept} outside 0..{len(t) - 1}")
    if not kept:
        return zero_weights(dims, device=device), M.to(device)
    if L >= 2 and len(kept) > min(dims[1:-1]):
        raise DlnkitInputError(f"{len(kept)} kept modes need hidden widths >= {len(kept)}, got {dims}")
    net = DeepLinearNetwork.balanced_aligned(
        dims, U[:, kept], V[:, kept], [t[i] ** (1.0 / L) for i in kept], seed=seed + 1, device=device
    )
    return [W.detach() for W in net.weights], M.to(device)


@checked
def rescale_first_layers(weights: Weights, c: float) -> list[torch.Tensor]:
    """W_1 -> c W_1, W_2 -> W_2 / c: same end-to-end map, imbalance D_1 = (c^-2 - 1) W_2^T W_2-type."""
    if len(weights) < 2:
        raise DlnkitInputError("rescaling needs depth >= 2")
    Ws = [W.clone() for W in weights]
    Ws[0], Ws[1] = Ws[0] * c, Ws[1] / c
    return Ws


@checked
def twist_first_hidden(weights: Weights, strength: float, seed: int = 0) -> list[torch.Tensor]:
    """W_1 -> A W_1, W_2 -> W_2 A^-1 with A = I + strength K / ||K||_2 (K Gaussian): another global
    minimum with the same end-to-end map, neither balanced nor aligned (strength < 1 keeps A invertible)."""
    Ws = [W.clone() for W in weights]
    d = Ws[0].shape[0]
    g = torch.Generator().manual_seed(int(seed))
    K = torch.randn(d, d, generator=g, dtype=torch.float64).to(Ws[0])
    A = torch.eye(d, dtype=Ws[0].dtype, device=Ws[0].device) + strength * K / torch.linalg.matrix_norm(K, 2)
    Ws[0], Ws[1] = A @ Ws[0], Ws[1] @ torch.linalg.inv(A)
    return Ws


@checked
def twist_hidden_layers(weights: Weights, strength: float, seed: int = 0) -> list[torch.Tensor]:
    """Every hidden layer l twisted by its own A_l = I + strength K_l / ||K_l||_2:
    W_l -> A_l W_l, W_{l+1} -> W_{l+1} A_l^-1 (all global minima with the same end-to-end map)."""
    Ws = [W.clone() for W in weights]
    for k in range(len(Ws) - 1):
        d = Ws[k].shape[0]
        g = torch.Generator().manual_seed(int(seed) + 101 * k)
        K = torch.randn(d, d, generator=g, dtype=torch.float64).to(Ws[0])
        A = torch.eye(d, dtype=Ws[0].dtype, device=Ws[0].device) + strength * K / torch.linalg.matrix_norm(K, 2)
        Ws[k], Ws[k + 1] = A @ Ws[k], Ws[k + 1] @ torch.linalg.inv(A)
    return Ws


@checked
def hessian_eigenvalues(weights: Weights, sigma: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    """All eigenvalues (ascending) of the exact closed-form Hessian."""
    ev: torch.Tensor = torch.linalg.eigvalsh(dln_hessian_closed_form(list(weights), sigma=sigma, cross=cross))
    return ev


@checked
def top_eigenvalue(weights: Weights, sigma: torch.Tensor, cross: torch.Tensor) -> float:
    """The largest Hessian eigenvalue (sharpness)."""
    return float(hessian_eigenvalues(weights, sigma, cross)[-1])


@checked
def random_init(dims: Sequence[int], scale: float, seed: int) -> list[torch.Tensor]:
    """Gaussian weights N(0, scale^2 / d_{l-1})."""
    return [W.detach() for W in DeepLinearNetwork.random(dims, scale=scale, seed=seed, device="cpu").weights]


@checked
def train_to_minimum(
    weights: Weights,
    sigma: torch.Tensor,
    cross: torch.Tensor,
    target: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.0,
    max_steps: int = 20000,
    loss_tol: float = 1e-13,
) -> dict[str, Any]:
    """Full-batch (heavy-ball) gradient descent on the squared loss to a global minimum of a
    realisable target (loss <= loss_tol), or divergence. Returns weights, steps, converged, diverged."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # a diverging run overflows before it is caught
            warnings.simplefilter("ignore", RuntimeWarning)
            Ws, rec = train_dln_gradient_descent(
                list(weights),
                lr=lr,
                momentum=momentum,
                max_steps=max_steps,
                loss_tol=loss_tol,
                sigma=sigma,
                cross=cross,
                target=target,
                loss_every=20,
            )
    except TrainingDivergedError:
        return {"weights": None, "steps": None, "converged": False, "diverged": True, "final_loss": float("inf")}
    return {
        "weights": Ws,
        "steps": rec.final_step,
        "converged": bool(rec.converged),
        "diverged": False,
        "final_loss": rec.final_loss,
    }


@checked
def max_relative_imbalance(weights: Weights) -> float:
    """max_l ||D_l||_F / ||W_l W_l^T||_F (0 at balanced points)."""
    vals = []
    for k in range(len(weights) - 1):
        D = weights[k + 1].T @ weights[k + 1] - weights[k] @ weights[k].T
        vals.append(float(torch.linalg.norm(D)) / max(float(torch.linalg.norm(weights[k] @ weights[k].T)), 1e-300))
    return max(vals) if vals else 0.0


__all__ = [
    "inertia",
    "zero_weights",
    "partial_solution",
    "rescale_first_layers",
    "twist_first_hidden",
    "twist_hidden_layers",
    "hessian_eigenvalues",
    "top_eigenvalue",
    "random_init",
    "train_to_minimum",
    "max_relative_imbalance",
    "random_orthonormal",
]
