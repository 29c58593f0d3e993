r"""Refuse models whose curvature over a data set would be silently wrong.

The data-set Hessian :math:`\nabla^2 \sum_b w_b\,\ell_b(\theta)` is a sum over batches only when
each batch's loss depends on that batch's samples and on :math:`\theta`, nothing else. Three
things break this, and each is refused with a :class:`DlnkitInputError` naming the module:

* **BatchNorm in training mode**: it normalises with the batch's own statistics (samples are
  coupled, so the "data-set Hessian" depends on how the data are batched) and it moves its
  running statistics on every forward pass (every HVP would change the model).
* **A forward pass that changes any buffer** (the general form of the above).
* **A non-deterministic forward pass** (dropout in training mode): two passes on the same batch
  differ, so an HVP is not a fixed linear map.

In-place activations, a module called more than once in one forward pass (shared weights) and
frozen parameters are *handled* by the functional routes (``torch.func.functional_call``): the
parameter enters the function wherever the module is called, and frozen parameters are constants
unless named explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dlnkit.numerics.validation import DlnkitInputError


def train_mode_normalisation(model: nn.Module) -> list[str]:
    """Names of BatchNorm / InstanceNorm-with-running-stats modules in training mode.

    >>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    >>> train_mode_normalisation(net), train_mode_normalisation(net.eval())
    (['1'], [])
    """
    out = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training:
            out.append(name)
        elif isinstance(m, nn.modules.instancenorm._InstanceNorm) and m.training and m.track_running_stats:
            out.append(name)
    return out


def check_model_for_curvature(model: nn.Module, forward: Callable[[Any], torch.Tensor], first_inputs: Any) -> None:
    """Raise :class:`DlnkitInputError` for train-mode normalisation, buffer-changing or random forwards.

    ``forward(X)`` must be the functional forward the operators use. Buffers are restored if a
    probe forward changed them.
    """
    bad = train_mode_normalisation(model)
    if bad:
        raise DlnkitInputError(
            f"module(s) {', '.join(bad) or '(root)'} normalise with batch statistics in training mode: the curvature "
            "would depend on the batching and every pass would move the running statistics; call model.eval() first"
        )
    before = {k: v.detach().clone() for k, v in model.named_buffers()}
    with torch.no_grad():
        out1 = forward(first_inputs)
        out2 = forward(first_inputs)
    changed = [k for k, v in model.named_buffers() if k in before and not torch.equal(before[k], v.detach())]
    if changed:
        with torch.no_grad():
            for k, v in model.named_buffers():
                if k in before:
                    v.copy_(before[k])
        raise DlnkitInputError(
            f"the forward pass changes buffer(s) {', '.join(changed[:5])}: curvature needs a fixed "
            "function of the parameters (call model.eval(); buffers restored)"
        )
    if isinstance(out1, torch.Tensor) and isinstance(out2, torch.Tensor) and not torch.equal(out1, out2):
        drop = [
            n or "(root)"
            for n, m in model.named_modules()
            if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0
        ]
        hint = f" (dropout in training mode: {', '.join(drop)})" if drop else ""
        raise DlnkitInputError(
            f"two forward passes on the same batch differ{hint}: an HVP would not be a fixed linear "
            "map; call model.eval() or remove the randomness"
        )
    if not isinstance(out1, torch.Tensor):
        raise DlnkitInputError(f"the model must return one tensor of outputs, got {type(out1).__name__}")


__all__ = ["train_mode_normalisation", "check_model_for_curvature"]
