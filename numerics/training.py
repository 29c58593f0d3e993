"""Full-batch gradient descent (with momentum) that records chosen quantities along the way."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from dlnkit.numerics.validation import DlnkitInputError, TrainingDivergedError

if TYPE_CHECKING:
    import numpy as np

#: elementwise activation a = s(z) and its derivative written through (z, a)
Activation = tuple[Callable[["np.ndarray"], "np.ndarray"], Callable[["np.ndarray", "np.ndarray"], "np.ndarray"]]


@dataclass
class TrainingRecord:
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    final_step: int = 0
    final_loss: float = float("nan")
    converged: bool = False


def train_full_batch(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module], torch.Tensor], *,
                     lr: float = 0.01, momentum: float = 0.9, max_steps: int = 10_000, loss_tol: float = 0.0,
                     record_steps: Iterable[int] = (), record_fn: Callable[[torch.nn.Module, int], Any] | None = None,
                     progress: bool = False, desc: str = "training") -> TrainingRecord:
    """Run full-batch SGD (heavy-ball momentum) on ``loss_fn(model)``.

    Stops after ``max_steps`` or once the loss is <= ``loss_tol``. At each step in ``record_steps``
    (and at the final step) ``record_fn(model, step)`` is stored, e.g. a Hessian spectrum.
    Diverging runs (non-finite loss) raise a clear error.
    """
    if lr <= 0 or not (0 <= momentum < 1):
        raise DlnkitInputError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    want = set(int(s) for s in record_steps)
    rec = TrainingRecord()
    bar = tqdm(total=max_steps, desc=desc, disable=not progress, leave=False)
    step = 0
    loss_val = float("nan")
    while True:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model)
        loss_val = float(loss.detach())
        if loss_val != loss_val or loss_val in (float("inf"), float("-inf")):
            raise TrainingDivergedError(f"training diverged at step {step} (loss {loss_val}); lower the learning rate")
        done = step >= max_steps or loss_val <= loss_tol
        if step in want or done:
            rec.steps.append(step)
            rec.losses.append(loss_val)
            if record_fn is not None:
                with torch.no_grad():
                    rec.records.append(record_fn(model, step))
        if done:
            break
        loss.backward()
        opt.step()
        step += 1
        if step % 1000 == 0:
            bar.update(1000)
            bar.set_postfix(loss=f"{loss_val:.2e}")
    bar.close()
    rec.final_step, rec.final_loss, rec.converged = step, loss_val, loss_val <= loss_tol
    return rec


def heavy_ball_update(weights: Sequence[np.ndarray], velocities: Sequence[np.ndarray], grads: Sequence[np.ndarray],
                      lr: float, momentum: float) -> None:
    """In place, torch.optim.SGD's rule: v <- momentum v + g; W <- W - lr v (NumPy arrays)."""
    for W, v, g in zip(weights, velocities, grads):
        v *= momentum
        v += g
        W -= lr * v


def _activation(name: str) -> Activation:
    import numpy as np

    if name == "linear":
        return (lambda z: z), (lambda z, a: np.ones_like(z))
    if name == "tanh":
        return np.tanh, (lambda z, a: 1.0 - a * a)
    raise DlnkitInputError(f"activation must be 'linear' or 'tanh', got {name!r}")


def train_chain_gradient_descent(weights: Sequence[torch.Tensor], X: torch.Tensor, Y: torch.Tensor, *,
                                 activation: str = "tanh", lr: float = 0.01,
                                 momentum: float = 0.9, max_steps: int = 10_000, grad_tol: float = 0.0,
                                 loss_tol: float = 0.0, progress: bool = False,
                                 ) -> tuple[list[torch.Tensor], TrainingRecord]:
    """Full-batch heavy-ball GD on f(x) = W_L s(W_{L-1} ... s(W_1 x)) with loss (1/2B)||f(X) - Y||^2.

    The activation s ("tanh" or "linear") follows every layer but the last. Hand-written
    backpropagation in NumPy float64 on the CPU, the same update as ``torch.optim.SGD(lr, momentum)``
    (tests check the trajectories agree), without per-op dispatch overhead: long runs (1e5 steps)
    take seconds. Stops at ``max_steps``, when the loss <= ``loss_tol``, or when the gradient's
    Frobenius norm <= ``grad_tol``. Returns (weights as torch tensors like the input, TrainingRecord).
    """
    import numpy as np

    Ws_t = list(weights)
    if lr <= 0 or not (0 <= momentum < 1):
        raise DlnkitInputError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
    dtype, device = Ws_t[0].dtype, Ws_t[0].device
    Ws = [W.detach().cpu().double().numpy().copy() for W in Ws_t]
    Xn = torch.as_tensor(X).detach().cpu().double().numpy()
    Yn = torch.as_tensor(Y).detach().cpu().double().numpy()
    B = Xn.shape[0]
    act, dact = _activation(activation)
    vel = [np.zeros_like(W) for W in Ws]
    rec = TrainingRecord()
    bar = tqdm(total=max_steps, desc="gradient descent", disable=not progress, leave=False)
    step = 0
    while True:
        hs, zs = [Xn], []
        for k, W in enumerate(Ws):
            z = hs[-1] @ W.T
            zs.append(z)
            hs.append(act(z) if k < len(Ws) - 1 else z)
        r = hs[-1] - Yn
        loss = 0.5 * float(np.sum(r * r)) / B
        if not np.isfinite(loss):
            raise TrainingDivergedError(f"gradient descent diverged at step {step}; lower the learning rate")
        delta = r / B
        grads: list[np.ndarray] = [np.zeros(0)] * len(Ws)
        for k in range(len(Ws) - 1, -1, -1):
            grads[k] = delta.T @ hs[k]
            if k > 0:
                delta = (delta @ Ws[k]) * dact(zs[k - 1], hs[k])
        gnorm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        done = step >= max_steps or loss <= loss_tol or gnorm <= grad_tol
        if done:
            rec.steps.append(step)
            rec.losses.append(loss)
            break
        heavy_ball_update(Ws, vel, grads, lr, momentum)
        step += 1
        if step % 5000 == 0:
            bar.update(5000)
    bar.close()
    rec.final_step, rec.final_loss = step, loss
    rec.converged = loss <= loss_tol or gnorm <= grad_tol
    return [torch.as_tensor(W, dtype=dtype, device=device) for W in Ws], rec
