r"""Measurements for the classic dynamics results (C1 balancedness, C2 end-to-end velocity,
C3 learning curves) in PyTorch float64.

Conventions as everywhere in dlnkit: W_l is d_l x d_{l-1}, W = W_L ... W_1,
:math:`D_l = W_{l+1}^\top W_{l+1} - W_lW_l^\top`, per-layer gradients :math:`g_l = \partial\ell/\partial W_l`
(from autograd unless a function says "closed form"). Networks may carry an activation between
layers (``"linear"``, ``"relu"``, ``"tanh"``) and one of three losses of the outputs:
``"squared"`` :math:`\tfrac1{2B}\|f - Y\|^2`, ``"logistic"`` (mean softplus(-Y f), Y in {-1, 1}),
``"cross_entropy"`` (softmax, labels = argmax of Y). The forward pass and the losses are the
shared ones of :mod:`dlnkit.numerics.chains` (``chain_forward``, ``output_loss``, re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from dlnkit.numerics.chains import chain_forward, output_loss
from dlnkit.numerics.dln import product
from dlnkit.numerics.validation import DlnkitInputError, TrainingDivergedError

Weights = Sequence[torch.Tensor]


def layer_gradients(
    weights: Weights, X: torch.Tensor, Y: torch.Tensor, *, activation: str = "linear", loss: str = "squared"
) -> list[torch.Tensor]:
    """dl/dW_l for every layer by autograd (independent of the closed forms)."""
    Ws = [W.detach().clone().requires_grad_(True) for W in weights]
    value = output_loss(chain_forward(Ws, X, activation), Y, loss)
    return [g.detach() for g in torch.autograd.grad(value, Ws)]


def end_to_end(weights: Weights) -> torch.Tensor:
    """W = W_L ... W_1 (:func:`dlnkit.numerics.dln.product`)."""
    return product(weights, int(weights[0].shape[1]))


def end_to_end_gradient(weights: Weights, X: torch.Tensor, Y: torch.Tensor, loss: str = "squared") -> torch.Tensor:
    """dl/dW for the loss of the linear network seen as a function of its end-to-end map (autograd)."""
    W = end_to_end([w.detach() for w in weights]).clone().requires_grad_(True)
    value = output_loss(X @ W.T, Y, loss)
    return torch.autograd.grad(value, W)[0].detach()


def imbalances(weights: Weights) -> list[torch.Tensor]:
    """[D_1, ..., D_{L-1}] with D_l = W_{l+1}^T W_{l+1} - W_l W_l^T."""
    return [weights[k + 1].T @ weights[k + 1] - weights[k] @ weights[k].T for k in range(len(weights) - 1)]


def imbalance_flow_rate(weights: Weights, grads: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    r"""dD_l/dt under gradient flow dW_l/dt = -g_l:
    :math:`-(g_{l+1}^\top W_{l+1} + W_{l+1}^\top g_{l+1}) + g_lW_l^\top + W_lg_l^\top`."""
    out = []
    for k in range(len(weights) - 1):
        Wn, gn, W, g = weights[k + 1], grads[k + 1], weights[k], grads[k]
        out.append(-(gn.T @ Wn + Wn.T @ gn) + g @ W.T + W @ g.T)
    return out


def step_identity(grads: Sequence[torch.Tensor], lr: float) -> list[torch.Tensor]:
    r""":math:`\eta^2(g_{l+1}^\top g_{l+1} - g_lg_l^\top)` for every l."""
    return [lr**2 * (grads[k + 1].T @ grads[k + 1] - grads[k] @ grads[k].T) for k in range(len(grads) - 1)]


def gd_step(
    weights: Weights,
    grads: Sequence[torch.Tensor],
    lr: float,
    momentum: float = 0.0,
    velocity: Sequence[torch.Tensor] | None = None,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """torch.optim.SGD's rule: v <- momentum v + g, W <- W - lr v. Returns (new weights, new velocity)."""
    vel = [torch.zeros_like(g) for g in grads] if velocity is None else list(velocity)
    vel = [momentum * v + g for v, g in zip(vel, grads)]
    return [W - lr * v for W, v in zip(weights, vel)], vel


def gd_imbalance_change(
    weights: Weights,
    X: torch.Tensor,
    Y: torch.Tensor,
    lr: float,
    *,
    momentum: float = 0.0,
    velocity: Sequence[torch.Tensor] | None = None,
    activation: str = "linear",
    loss: str = "squared",
) -> dict[str, Any]:
    """One (heavy-ball) gradient step: the measured change of every D_l and the identity's value."""
    grads = layer_gradients(weights, X, Y, activation=activation, loss=loss)
    new, _ = gd_step(weights, grads, lr, momentum, velocity)
    measured = [a - b for a, b in zip(imbalances(new), imbalances(weights))]
    return {"measured": measured, "identity": step_identity(grads, lr), "grads": grads, "new_weights": new}


def closed_form_gradients(weights: Weights, sigma: torch.Tensor, cross: torch.Tensor) -> list[torch.Tensor]:
    """Squared loss of a linear network: g_l = P_l^T (W Sigma - C) Q_l^T (no autograd; for long runs)."""
    L = len(weights)
    Q = [torch.eye(weights[0].shape[1], dtype=weights[0].dtype, device=weights[0].device)]
    for k in range(1, L):
        Q.append(weights[k - 1] @ Q[-1])
    P = [torch.eye(weights[-1].shape[0], dtype=weights[0].dtype, device=weights[0].device)]
    for k in range(L - 2, -1, -1):
        P.insert(0, P[0] @ weights[k + 1])
    G = P[0] @ weights[0] @ sigma - cross
    return [P[k].T @ G @ Q[k].T for k in range(L)]


def accumulated_imbalance(
    weights: Weights, sigma: torch.Tensor, cross: torch.Tensor, lr: float, horizon: float, momentum: float = 0.0
) -> dict[str, Any]:
    r"""Gradient descent (squared loss, linear network; heavy ball with ``momentum``) for
    round(horizon / lr) steps: the total drift :math:`\max_l\|D_l(T) - D_l(0)\|_F` and the same
    quantity summed from the per-step identity (equal to rounding for plain GD), plus the final weights."""
    if lr <= 0 or horizon <= 0:
        raise DlnkitInputError(f"need lr > 0 and horizon > 0, got {lr}, {horizon}")
    steps = max(1, int(round(horizon / lr)))
    Ws = [W.detach().clone() for W in weights]
    D0 = imbalances(Ws)
    summed = [torch.zeros_like(D) for D in D0]
    vel = [torch.zeros_like(W) for W in Ws]
    for _ in range(steps):
        g = closed_form_gradients(Ws, sigma, cross)
        summed = [a + b for a, b in zip(summed, step_identity(g, lr))]
        Ws, vel = gd_step(Ws, g, lr, momentum, vel)
        if not all(torch.isfinite(W).all() for W in Ws):
            raise TrainingDivergedError(f"gradient descent diverged at lr={lr}")
    drift = [a - b for a, b in zip(imbalances(Ws), D0)]
    return {
        "steps": steps,
        "drift": max(float(torch.linalg.norm(d)) for d in drift),
        "identity_sum": max(float(torch.linalg.norm(d)) for d in summed),
        "identity_mismatch": max(float(torch.linalg.norm(a - b)) for a, b in zip(drift, summed)),
        "weights": Ws,
    }


# ----- C2: end-to-end velocity ------------------------------------------------------------------


def psd_power(S: torch.Tensor, p: float, rtol: float = 1e-10) -> torch.Tensor:
    """S^p for a symmetric PSD matrix; p = 0 gives the identity. Eigenvalues below
    ``rtol * max`` are set to 0 first: they are rounding noise of exact zeros (rank-deficient
    W W^T), and x^p with small p would amplify 1e-17 to ~1e-4."""
    if p == 0:
        return torch.eye(S.shape[0], dtype=S.dtype, device=S.device)
    ev, vec = torch.linalg.eigh(0.5 * (S + S.T))
    top = float(ev.abs().max()) if ev.numel() else 0.0
    ev = torch.where(ev > rtol * top, ev, torch.zeros_like(ev))
    out: torch.Tensor = (vec * ev**p) @ vec.T
    return out


def end_to_end_velocity(weights: Weights, grads: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""dW/dt under the layer flow dW_j/dt = -g_j, by the product rule: :math:`-\sum_j P_j g_j Q_j`."""
    L = len(weights)
    out = torch.zeros(weights[-1].shape[0], weights[0].shape[1], dtype=weights[0].dtype, device=weights[0].device)
    for j in range(L):
        term = grads[j]
        for W in weights[j + 1 :]:
            term = W @ term
        for W in reversed(weights[:j]):
            term = term @ W
        out = out - term
    return out


def velocity_formula(W: torch.Tensor, nabla: torch.Tensor, depth: int) -> torch.Tensor:
    r""":math:`-\sum_{j=1}^{L}(WW^\top)^{(j-1)/L}\,\nabla\,(W^\top W)^{(L-j)/L}` (fractional PSD powers)."""
    left, right = W @ W.T, W.T @ W
    out = torch.zeros_like(nabla)
    for j in range(1, depth + 1):
        out = out - psd_power(left, (j - 1) / depth) @ nabla @ psd_power(right, (depth - j) / depth)
    return out


def rescaled_velocity_terms(W: torch.Tensor, nabla: torch.Tensor, depth: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""(T_1, T_2) = :math:`(-(WW^\top)^{(L-1)/L}\nabla,\ -(WW^\top)^{(L-2)/L}\nabla(W^\top W)^{1/L})`."""
    T1 = -psd_power(W @ W.T, (depth - 1) / depth) @ nabla
    T2 = -psd_power(W @ W.T, (depth - 2) / depth) @ nabla @ psd_power(W.T @ W, 1 / depth)
    return T1, T2


# ----- C3: learning curves ----------------------------------------------------------------------


def mode_strengths(W: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """u_i = U_i^T W V_i for the target's singular vectors (columns of U, V)."""
    return torch.einsum("oi,oj,ji->i", U, W, V)


def gd_mode_curve(
    weights: Weights, sigma: torch.Tensor, cross: torch.Tensor, U: torch.Tensor, V: torch.Tensor, lr: float, steps: int
) -> torch.Tensor:
    """Plain gradient descent (squared loss, closed-form gradients): mode strengths u_i at every
    step, shape (steps + 1, r). NumPy float64 loop (see :func:`flow_mode_curve`)."""
    to = _to_numpy
    Ws, S, C, Un, Vn = [to(W) for W in weights], to(sigma), to(cross), to(U), to(V)
    out = [_np_modes(Ws, Un, Vn)]
    for _ in range(int(steps)):
        g = _np_gradients(Ws, S, C)
        Ws = [W - lr * gk for W, gk in zip(Ws, g)]
        out.append(_np_modes(Ws, Un, Vn))
    return torch.as_tensor(np.stack(out), dtype=torch.float64)


def rk4(rhs: Callable[[torch.Tensor], torch.Tensor], y0: torch.Tensor, dt: float, steps: int) -> torch.Tensor:
    """Classical Runge-Kutta for an autonomous system y' = rhs(y); all states, shape (steps + 1, ...)."""
    y = y0.clone()
    out = [y]
    for _ in range(int(steps)):
        k1 = rhs(y)
        k2 = rhs(y + 0.5 * dt * k1)
        k3 = rhs(y + 0.5 * dt * k2)
        k4 = rhs(y + dt * k3)
        y = y + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y)
    return torch.stack(out)


def rk4_small(
    rhs: Callable[[list[float]], list[float]], y0: Sequence[float], dt: float, steps: int, every: int = 1
) -> list[list[float]]:
    """RK4 for a small system on plain Python floats (a few scalars: no tensor overhead);
    returns every ``every``-th state including the first."""
    y = [float(v) for v in y0]
    out = [list(y)]
    for k in range(1, int(steps) + 1):
        k1 = rhs(y)
        k2 = rhs([a + 0.5 * dt * b for a, b in zip(y, k1)])
        k3 = rhs([a + 0.5 * dt * b for a, b in zip(y, k2)])
        k4 = rhs([a + dt * b for a, b in zip(y, k3)])
        y = [a + dt / 6.0 * (p + 2 * q + 2 * r + w) for a, p, q, r, w in zip(y, k1, k2, k3, k4)]
        if k % every == 0:
            out.append(list(y))
    return out


def invert_increasing(
    fn: Callable[[torch.Tensor], torch.Tensor], targets: torch.Tensor, lo: float, hi: float, iters: int = 200
) -> torch.Tensor:
    """x with fn(x) = target for an increasing fn on (lo, hi), elementwise by bisection."""
    a = torch.full_like(targets, lo)
    b = torch.full_like(targets, hi)
    for _ in range(iters):
        m = 0.5 * (a + b)
        below = fn(m) < targets
        a = torch.where(below, m, a)
        b = torch.where(below, b, m)
    return 0.5 * (a + b)


Array = np.ndarray[Any, np.dtype[np.float64]]


def _np_gradients(Ws: list[Array], sigma: Array, cross: Array) -> list[Array]:
    L = len(Ws)
    Q: list[Array] = [np.eye(Ws[0].shape[1])]
    for k in range(1, L):
        Q.append(Ws[k - 1] @ Q[k - 1])
    P: list[Array] = [np.eye(Ws[-1].shape[0])]
    for k in range(L - 2, -1, -1):
        P.insert(0, P[0] @ Ws[k + 1])
    G = P[0] @ Ws[0] @ sigma - cross
    return [P[k].T @ G @ Q[k].T for k in range(L)]


def _np_modes(Ws: list[Array], U: Array, V: Array) -> Array:
    W = Ws[0]
    for M in Ws[1:]:
        W = M @ W
    modes: Array = np.einsum("oi,oj,ji->i", U, W, V)
    return modes


def _to_numpy(x: torch.Tensor) -> Array:
    arr: Array = x.detach().cpu().double().numpy()
    return arr


def flow_mode_curve(
    weights: Weights, sigma: torch.Tensor, cross: torch.Tensor, U: torch.Tensor, V: torch.Tensor, dt: float, steps: int
) -> torch.Tensor:
    """Gradient flow of the layers (squared loss) integrated by classical RK4 on the weight
    matrices themselves (no reduction to modes): mode strengths at every step, (steps + 1, r).
    The loop runs in NumPy float64 (small matrices: per-op dispatch would dominate in torch)."""
    to = _to_numpy
    Ws, S, C, Un, Vn = [to(W) for W in weights], to(sigma), to(cross), to(U), to(V)
    out = [_np_modes(Ws, Un, Vn)]
    for _ in range(int(steps)):
        k1 = _np_gradients(Ws, S, C)
        k2 = _np_gradients([W - 0.5 * dt * k for W, k in zip(Ws, k1)], S, C)
        k3 = _np_gradients([W - 0.5 * dt * k for W, k in zip(Ws, k2)], S, C)
        k4 = _np_gradients([W - dt * k for W, k in zip(Ws, k3)], S, C)
        Ws = [W - dt / 6.0 * (a + 2 * b + 2 * c + d) for W, a, b, c, d in zip(Ws, k1, k2, k3, k4)]
        out.append(_np_modes(Ws, Un, Vn))
    return torch.as_tensor(np.stack(out), dtype=torch.float64)
