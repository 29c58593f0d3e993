"""Full-batch heavy-ball gradient descent in NumPy float64, with a pluggable gradient.

:func:`heavy_ball_descent` is the one training loop: the same update as
``torch.optim.SGD(lr, momentum)`` (v <- mu v + g; W <- W - lr v) driven by a gradient function
``gradient(weights, need_loss) -> (loss or None, grads)``. Two gradients plug into it:
hand-written backpropagation through a chain with an elementwise activation
(:func:`train_chain_gradient_descent`) and the closed-form DLN gradient P_l^T (W Sigma - C) Q_l^T
(:func:`dlnkit.numerics.dln_hessian.train_dln_gradient_descent`). The loop runs on the CPU
without per-op dispatch overhead: runs of 1e5 steps take seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm  # plain tqdm: tqdm.auto warns in a Jupyter kernel without ipywidgets

from dlnkit.arguments import checked
from dlnkit.numerics.chains import chain_loss_and_gradients_numpy, resolve_activation
from dlnkit.numerics.validation import DlnkitInputError, TrainingDivergedError

if TYPE_CHECKING:
    import numpy as np

#: ``gradient(weights, need_loss)``: the loss (``None`` allowed when not needed) and the gradients
GradientFn = Callable[[list["np.ndarray"], bool], tuple["float | None", list["np.ndarray"]]]


@dataclass
class TrainingRecord:
    """What a training run kept.

    Attributes
    ----------
    steps, losses
        The steps at which the loss was evaluated, and its values.
    records
        What ``record_fn`` returned at the recorded steps.
    final_step, final_loss
        Where the run stopped.
    converged
        Whether it stopped on the loss (or gradient) tolerance rather than the step budget.
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    final_step: int = 0
    final_loss: float = float("nan")
    converged: bool = False


def heavy_ball_update(
    weights: Sequence[np.ndarray],
    velocities: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    lr: float,
    momentum: float,
) -> None:
    """In place, torch.optim.SGD's rule: v <- momentum v + g; W <- W - lr v (NumPy arrays)."""
    for W, v, g in zip(weights, velocities, grads):
        v *= momentum
        v += g
        W -= lr * v


@checked
def heavy_ball_descent(
    weights: Sequence[torch.Tensor],
    gradient: GradientFn,
    *,
    lr: float,
    momentum: float,
    max_steps: int,
    loss_tol: float = 0.0,
    grad_tol: float | None = None,
    loss_every: int = 1,
    record_steps: Iterable[int] = (),
    record_fn: Callable[[list[torch.Tensor], int], Any] | None = None,
    progress: bool = False,
) -> tuple[list[torch.Tensor], TrainingRecord]:
    """THE training loop: full-batch heavy-ball GD on NumPy float64 copies of ``weights``.

    ``gradient(Ws, need_loss)`` returns (loss, grads) for the current NumPy weights; the loss is
    needed every ``loss_every`` steps, at recorded steps and at ``max_steps`` (the stopping rule
    loss <= ``loss_tol`` is checked there). With ``grad_tol`` the run also stops once the
    gradient's Frobenius norm is <= ``grad_tol``. At each step in ``record_steps`` and at the
    last, ``record_fn(weights, step)`` receives torch tensors like the input. A non-finite loss
    raises :class:`TrainingDivergedError`. Returns (weights as torch tensors, TrainingRecord).

    Parameters
    ----------
    weights
        The initial weights (copied to NumPy float64).
    gradient
        ``gradient(Ws, need_loss) -> (loss, grads)``.
    lr, momentum
        Step size and heavy-ball momentum.
    max_steps
        Step budget.
    loss_tol, grad_tol
        Stop once the loss (or the gradient norm) is at most this.
    loss_every
        Evaluate the loss every this many steps.
    record_steps, record_fn
        At these steps call ``record_fn(weights, step)`` and keep what it returns.
    progress
        Show a progress bar.

    Returns
    -------
    tuple
        The final weights (torch tensors) and a :class:`TrainingRecord`.

    Raises
    ------
    TrainingDivergedError
        The loss or the weights became non-finite.
    DlnkitInputError
        ``lr <= 0`` or a momentum outside [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> quad = lambda Ws, need: (0.5 * float(np.sum(Ws[0] ** 2)), [Ws[0].copy()])  # grad of |w|^2/2
    >>> Ws, rec = heavy_ball_descent([torch.ones(1, 2, dtype=torch.float64)], quad, lr=0.5, momentum=0.0,
    ...                              max_steps=3)
    >>> Ws[0].tolist(), rec.final_step                                   # w <- w/2 three times
    ([[0.125, 0.125]], 3)
    """
    dtype, device = weights[0].dtype, weights[0].device
    Ws = [W.detach().cpu().double().numpy().copy() for W in weights]

    def to_torch(arrs: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [torch.as_tensor(a, dtype=dtype, device=device) for a in arrs]

    bar = tqdm(total=max_steps, desc="gradient descent", disable=not progress, leave=False)
    try:
        rec = heavy_ball_loop(
            Ws,
            gradient,
            lr=lr,
            momentum=momentum,
            max_steps=max_steps,
            loss_tol=loss_tol,
            grad_tol=grad_tol,
            loss_every=loss_every,
            record_steps=record_steps,
            on_record=None if record_fn is None else (lambda W, k: record_fn(to_torch(W), k)),
            on_progress=bar.update,
        )
    finally:
        bar.close()
    return to_torch(Ws), rec


@checked
def heavy_ball_loop(
    Ws: list[np.ndarray],
    gradient: GradientFn,
    *,
    lr: float,
    momentum: float,
    max_steps: int,
    loss_tol: float | None = 0.0,
    grad_tol: float | None = None,
    loss_every: int = 1,
    record_steps: Iterable[int] = (),
    on_record: Callable[[list[np.ndarray], int], Any] | None = None,
    on_progress: Callable[[int], Any] | None = None,
    progress_every: int = 5000,
) -> TrainingRecord:
    """The loop itself, on NumPy arrays updated in place in their own dtype (float32 stays float32).

    Step k evaluates ``gradient(Ws, need_loss)`` at the weights after k updates, records (loss,
    ``on_record(Ws, k)``) when k is in ``record_steps`` or the run stops, then applies update k+1
    (:func:`heavy_ball_update`). It stops at k = ``max_steps``, once the loss is <= ``loss_tol``
    (never with ``loss_tol=None``) or the gradient norm <= ``grad_tol``. ``on_progress(n)`` is
    called every ``progress_every`` updates (a progress bar's ``update``). A non-finite loss raises
    :class:`TrainingDivergedError`.
    """
    import numpy as np

    if lr <= 0 or not (0 <= momentum < 1):
        raise DlnkitInputError(f"need lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
    vel = [np.zeros_like(W) for W in Ws]
    want = {int(s) for s in record_steps}
    rec = TrainingRecord()
    step, loss, gnorm = 0, float("nan"), float("inf")
    every = max(int(loss_every), 1)
    while True:
        need_loss = step in want or step >= max_steps or step % every == 0
        value, grads = gradient(Ws, need_loss)
        if need_loss:
            if value is None or not np.isfinite(value):
                raise TrainingDivergedError(f"gradient descent diverged at step {step}; lower the learning rate")
            loss = float(value)
        if grad_tol is not None:
            gnorm = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        converged = (loss_tol is not None and need_loss and loss <= loss_tol) or (
            grad_tol is not None and gnorm <= grad_tol
        )
        done = step >= max_steps or converged
        if step in want or done:
            rec.steps.append(step)
            rec.losses.append(loss)
            if on_record is not None:
                rec.records.append(on_record(Ws, step))
        if done:
            break
        heavy_ball_update(Ws, vel, grads, lr, momentum)
        step += 1
        if on_progress is not None and step % progress_every == 0:
            on_progress(progress_every)
    rec.final_step, rec.final_loss = step, loss
    rec.converged = (loss_tol is not None and loss <= loss_tol) or (grad_tol is not None and gnorm <= grad_tol)
    return rec


def train_chain_gradient_descent(
    weights: Sequence[torch.Tensor],
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    activation: str = "tanh",
    lr: float = 0.01,
    momentum: float = 0.9,
    max_steps: int = 10_000,
    grad_tol: float = 0.0,
    loss_tol: float = 0.0,
    progress: bool = False,
) -> tuple[list[torch.Tensor], TrainingRecord]:
    """Full-batch heavy-ball GD on f(x) = W_L s(W_{L-1} ... s(W_1 x)) with loss (1/2B)||f(X) - Y||^2.

    The activation s ("tanh" or "linear") follows every layer but the last. Hand-written
    backpropagation in NumPy float64 on the CPU, the same update as ``torch.optim.SGD(lr, momentum)``
    (tests check the trajectories agree), without per-op dispatch overhead: long runs (1e5 steps)
    take seconds. Stops at ``max_steps``, when the loss <= ``loss_tol``, or when the gradient's
    Frobenius norm <= ``grad_tol``. Returns (weights as torch tensors like the input, TrainingRecord).
    """
    import numpy as np

    Xn = torch.as_tensor(X).detach().cpu().double().numpy()
    Yn = torch.as_tensor(Y).detach().cpu().double().numpy()
    resolve_activation(activation, ("linear", "tanh"))
    # columns are the samples in the shared NumPy backpropagation (numerics.chains)
    Xc, Yc = np.ascontiguousarray(Xn.T), np.ascontiguousarray(Yn.T)

    def backprop(Ws: list[np.ndarray], need_loss: bool) -> tuple[float, list[np.ndarray]]:
        return chain_loss_and_gradients_numpy(Ws, Xc, Yc, activation)

    return heavy_ball_descent(
        list(weights),
        backprop,
        lr=lr,
        momentum=momentum,
        max_steps=max_steps,
        loss_tol=loss_tol,
        grad_tol=grad_tol,
        progress=progress,
    )
