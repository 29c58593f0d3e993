r"""Losses for the real-network curvature tools: torch loss modules, callables, and their conventions.

A loss is turned into a :class:`LossSpec`, which knows

* ``elementwise(output, target)``: the loss terms before reduction, written with primitive torch
  ops only, so that *every* autodiff route works on it (reverse-over-reverse, forward-over-reverse,
  ``vmap``). This is the root fix for ``nn.MSELoss`` and ``nn.HuberLoss`` breaking the
  ``jvp``-over-``grad`` HVP: the forward-mode formula of ``mse_loss_backward`` writes into the
  target's zero tangent ("ZeroTensors are immutable") and ``huber_loss_backward`` has no
  forward-mode formula at all (torch 2.x). The elementwise form has neither problem.
* ``reduction``: ``"mean"`` or ``"sum"``, read from the module.

Data-set convention (the same as curvlinops'). With samples :math:`n = 1..N`, per-sample terms
:math:`\ell_n` (the sum of the sample's :math:`E` elementwise terms; :math:`E = C` for MSE, BCE and
Huber on C outputs, :math:`E = 1` for cross-entropy on class logits),

.. math:: \mathcal L_{\text{mean}} = \frac{1}{N E}\sum_n \ell_n, \qquad
          \mathcal L_{\text{sum}} = \sum_n \ell_n .

A mini-batch b of size :math:`B_b` contributes ``batch_weight(B_b, N) * batch_value`` with the
module's own batch value and weight :math:`B_b/N` (mean) or 1 (sum), so the total is the data-set
loss whatever the batch sizes (a ragged last batch included). curvlinops calls this the
normalisation factor (``_get_normalization_factor``: ``{"sum": 1, "mean": B/N}``), so our
Hessian, GGN and empirical Fisher are curvlinops' operators with the same loss module.

A callable ``loss(output, target) -> scalar`` is taken as a *mean over the batch's samples*
unless ``reduction="sum"`` is given; its per-sample terms (needed for the empirical Fisher) are
the callable on one-sample slices.

>>> spec = resolve_loss(torch.nn.MSELoss())
>>> out, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]])
>>> spec.reduction, float(spec.batch_value(out, y)), float(torch.nn.MSELoss()(out, y))
('mean', 2.5, 2.5)
>>> spec.batch_weight(3, 12)
0.25
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError, returns_scalar

SUPPORTED_MODULES = ("CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss", "HuberLoss", "SmoothL1Loss")
LossLike = Any  # a torch loss module, a name ("cross_entropy", "mse") or a callable


@dataclass
class LossSpec:
    """A loss with its reduction and, for modules, its elementwise (unreduced) form."""

    name: str
    reduction: str  # "mean" or "sum"
    elementwise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None
    callable_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    ignore_index: int | None = None

    def check_shapes(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """Refuse float targets of another shape than the outputs: an elementwise loss would
        broadcast (B, 1) against (B,) into a (B, B) matrix of wrong terms (the CLI refuses it too)."""
        if self.elementwise is not None and target.is_floating_point() and output.shape != target.shape:
            raise DlnkitInputError(
                f"{self.name}: outputs of shape {tuple(output.shape)} and targets of shape {tuple(target.shape)} "
                "would broadcast; reshape the targets (or the model's output) to the same shape"
            )

    def per_sample(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        r"""The per-sample terms :math:`\ell_n` (length B): elementwise terms summed over non-batch dims,
        or for a callable its value on each one-sample slice (times 1 for mean, as one sample)."""
        self.check_shapes(output, target)
        if self.elementwise is not None:
            e = self.elementwise(output, target)
            return e.reshape(e.shape[0], -1).sum(1)
        assert self.callable_loss is not None
        fn = self.callable_loss
        return torch.stack([fn(output[i : i + 1], target[i : i + 1]) for i in range(output.shape[0])])

    def elements_per_sample(self, output: torch.Tensor, target: torch.Tensor) -> int:
        """E: elementwise terms per sample (1 for a callable, whose one-sample value is already reduced)."""
        if self.elementwise is None:
            return 1
        e = self.elementwise(output.detach(), target)
        return max(1, e.numel() // max(1, e.shape[0]))

    def batch_value(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of one batch with the module's own reduction (equal to calling the module)."""
        self.check_shapes(output, target)
        if self.elementwise is None:
            assert self.callable_loss is not None
            return self.callable_loss(output, target)
        e = self.elementwise(output, target)
        return e.mean() if self.reduction == "mean" else e.sum()

    def batch_weight(self, batch_size: int, num_samples: int) -> float:
        """The factor of one batch's value in the data-set loss: B/N for mean, 1 for sum."""
        return float(batch_size) / float(num_samples) if self.reduction == "mean" else 1.0

    def check_targets(self, target: torch.Tensor) -> None:
        """Refuse targets the batch weighting cannot handle (ignored labels under mean reduction)."""
        if self.ignore_index is not None and self.reduction == "mean" and not target.is_floating_point():
            if bool((target == self.ignore_index).any()):
                raise DlnkitInputError(
                    f"targets contain ignore_index={self.ignore_index} with reduction='mean': torch then divides by "
                    "the number of kept labels per batch, which no batch weighting reproduces; drop those samples "
                    "or use reduction='sum'"
                )


def _huber(d: torch.Tensor, delta: float) -> torch.Tensor:
    a = d.abs()
    return torch.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))


@checked
def resolve_loss(loss: LossLike, *, reduction: str | None = None) -> LossSpec:
    """A :class:`LossSpec` for a torch loss module, a name or a callable.

    Names: ``"cross_entropy"`` (= ``nn.CrossEntropyLoss()``) and ``"mse"`` (dlnkit's zoo convention
    ½‖f − y‖² per sample, averaged over the batch: ``0.5 * sum`` over outputs, mean over samples).

    >>> resolve_loss(torch.nn.CrossEntropyLoss(reduction="sum")).reduction
    'sum'
    >>> resolve_loss(torch.nn.L1Loss())
    Traceback (most recent call last):
    ...
    dlnkit.arguments.DlnkitInputError: unsupported loss module L1Loss; supported: ...
    """
    if isinstance(loss, LossSpec):
        return loss
    if isinstance(loss, str):
        if loss == "cross_entropy":
            return resolve_loss(nn.CrossEntropyLoss())
        if loss == "mse":
            # 0.5 * ||f - y||^2 per sample, mean over samples: the "sum" of 0.5 d^2 over outputs, batch mean
            return LossSpec(
                "mse (0.5*||f-y||^2, batch mean)",
                "mean",
                lambda o, t: 0.5 * ((o - t) ** 2).reshape(o.shape[0], -1).sum(1),
            )
        raise DlnkitInputError(f"unknown loss {loss!r}; use 'cross_entropy', 'mse', a torch loss module or a callable")
    if isinstance(loss, nn.Module):
        kind = type(loss).__name__
        red = getattr(loss, "reduction", None)
        if red not in ("mean", "sum"):
            raise DlnkitInputError(f"{kind}(reduction={red!r}) is not supported: use reduction='mean' or 'sum'")
        if isinstance(loss, nn.CrossEntropyLoss):
            if loss.weight is not None and red == "mean":
                raise DlnkitInputError(
                    "CrossEntropyLoss(weight=..., reduction='mean') divides by the summed class "
                    "weights of each batch, which is not a per-sample mean; use reduction='sum'"
                )
            w, ls, ii = loss.weight, float(loss.label_smoothing), int(loss.ignore_index)
            return LossSpec(
                kind,
                red,
                lambda o, t: F.cross_entropy(o, t, weight=w, ignore_index=ii, reduction="none", label_smoothing=ls),
                ignore_index=ii,
            )
        if isinstance(loss, nn.MSELoss):
            return LossSpec(kind, red, lambda o, t: (o - t) ** 2)
        if isinstance(loss, nn.BCEWithLogitsLoss):
            w, pw = loss.weight, loss.pos_weight
            return LossSpec(
                kind,
                red,
                lambda o, t: F.binary_cross_entropy_with_logits(o, t, weight=w, pos_weight=pw, reduction="none"),
            )
        if isinstance(loss, nn.HuberLoss):
            delta = float(loss.delta)
            return LossSpec(kind, red, lambda o, t: _huber(o - t, delta))
        if isinstance(loss, nn.SmoothL1Loss):
            beta = float(loss.beta)
            if beta <= 0:
                return LossSpec(kind, red, lambda o, t: (o - t).abs())
            return LossSpec(kind, red, lambda o, t: _huber(o - t, beta) / beta)
        raise DlnkitInputError(
            f"unsupported loss module {kind}; supported: {', '.join(SUPPORTED_MODULES)}, "
            "or pass a callable loss(output, target)"
        )
    if callable(loss):
        red = reduction or "mean"
        if red not in ("mean", "sum"):
            raise DlnkitInputError(f"reduction must be 'mean' or 'sum', got {red!r}")
        name = getattr(loss, "__name__", type(loss).__name__)
        return LossSpec(f"callable {name}", red, None, callable_loss=returns_scalar(loss, "loss(output, target)"))
    raise DlnkitInputError(f"loss must be a torch loss module, a name or a callable, got {type(loss).__name__}")


__all__ = ["LossSpec", "resolve_loss", "SUPPORTED_MODULES"]
