"""Full-batch gradient descent (with momentum) that records chosen quantities along the way."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from dlnkit.numerics.validation import DlnkitInputError


@dataclass
class TrainingRecord:
    steps: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    records: list = field(default_factory=list)
    final_step: int = 0
    final_loss: float = float("nan")
    converged: bool = False


def train_full_batch(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module], torch.Tensor], *,
                     lr: float = 0.01, momentum: float = 0.9, max_steps: int = 10_000, loss_tol: float = 0.0,
                     record_steps: Iterable[int] = (), record_fn: Callable[[torch.nn.Module, int], dict] | None = None,
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
            raise DlnkitInputError(f"training diverged at step {step} (loss {loss_val}); lower the learning rate")
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
