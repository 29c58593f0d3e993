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

A fourth is checked by :func:`check_sample_independence`:

* **A batch-coupled forward** (``BatchNorm(track_running_stats=False)``, which uses batch statistics
  even in eval mode; a forward that subtracts the batch mean; attention across the batch): the same
  samples in two batchings must give the same outputs, data-set gradient and Hessian-vector product.

Before any of these, :func:`check_model_tensors` refuses a model whose tensors cannot be analysed
at all: parameters or buffers on the ``meta`` device (no values), complex parameters or buffers
(a real Hessian of a complex parametrisation is not defined here, and a cast to a real dtype would
drop the imaginary parts), and, where the analysis runs in the model's own dtype (the Python API),
float16/bfloat16 parameters (second derivatives at 3 significant digits). After them,
:func:`~dlnkit.numerics.derivative_check.check_autograd_derivatives` refuses a model whose autograd
derivatives are not the derivatives of its loss (``.detach()``/``no_grad`` in forward, custom
``autograd.Function`` s). :func:`check_real_model` runs them all, in that order: the one gate every
real-network route goes through.

In-place activations, a module called more than once in one forward pass (shared weights) and
frozen parameters are *handled* by the functional routes (``torch.func.functional_call``): the
parameter enters the function wherever the module is called, and frozen parameters are constants
unless named explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from dlnkit.arguments import checked
from dlnkit.numerics.losses import LossSpec
from dlnkit.numerics.validation import DlnkitInputError


@checked
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


LOW_PRECISION = (torch.float16, torch.bfloat16)


@checked
def check_model_tensors(model: nn.Module, *, low_precision_ok: bool = False, sparse_ok: bool = False) -> None:
    """Refuse meta, complex and (unless ``low_precision_ok``: the caller analyses a float64/float32
    copy) float16/bfloat16 floating tensors, and (unless ``sparse_ok``: the caller's copy turns them
    dense) embeddings with sparse gradients, naming the first offender.

    >>> try:
    ...     check_model_tensors(nn.Linear(2, 2).to("meta"))
    ... except DlnkitInputError as exc:
    ...     print(str(exc)[:44])
    parameter weight is on the 'meta' device (sh
    """
    if not isinstance(model, nn.Module):
        raise DlnkitInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not sparse_ok:
        for name, m in model.named_modules():
            if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse:
                raise DlnkitInputError(
                    f"module {name or '(root)'} is an embedding with sparse=True: its sparse gradients have no "
                    "second derivatives here; analyse a copy with sparse=False (the same function)"
                )
    tensors: list[tuple[str, str, torch.Tensor]] = [("parameter", n, t) for n, t in model.named_parameters()]
    tensors += [("buffer", n, t) for n, t in model.named_buffers()]
    for what, name, t in tensors:
        if t.device.type == "meta":
            raise DlnkitInputError(
                f"{what} {name} is on the 'meta' device (shapes only, no values): materialise the model first "
                '(model.to_empty(device="cpu") and load its weights)'
            )
        if t.is_complex():
            raise DlnkitInputError(
                f"{what} {name} is complex ({str(t.dtype)[6:]}): the curvature routes take real parameters "
                "(write it as two real parameters, real and imaginary parts)"
            )
        if what == "parameter" and t.dtype in LOW_PRECISION and not low_precision_ok:
            raise DlnkitInputError(
                f"parameter {name} is {str(t.dtype)[6:]}: second derivatives in that precision have relative "
                f"errors near {float(torch.finfo(t.dtype).eps):.0e}; analyse a float64 copy "
                "(copy.deepcopy(model).double(), with float64 inputs)"
            )


def _inputs_snapshot(X: Any) -> list[torch.Tensor]:
    items = X if isinstance(X, (tuple, list)) else (X,)
    return [t.detach().clone() for t in items if isinstance(t, torch.Tensor)]


@checked
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
    # in-place changes of a parameter bump its version counter (no copy of the parameters needed)
    versions = {k: p._version for k, p in model.named_parameters()}
    inputs_before = _inputs_snapshot(first_inputs)
    with torch.no_grad():
        out1 = forward(first_inputs)
        inputs_after = _inputs_snapshot(first_inputs)
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
    moved = [k for k, p in model.named_parameters() if k in versions and p._version != versions[k]]
    if moved:
        raise DlnkitInputError(
            f"the forward pass changes parameter(s) {', '.join(moved[:5])} in place (clamp_, mul_, copy_ under "
            "no_grad, weight normalisation by assignment): the curvature is not of a fixed function of the "
            "parameters (the two probe passes changed them, as every call of this forward does); move that update "
            "out of forward"
        )
    if len(inputs_after) != len(inputs_before) or not all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(inputs_before, inputs_after)
    ):
        raise DlnkitInputError(
            "the forward pass changes its input tensor in place (x.mul_(...), x += ..., x[...] = ...): every pass "
            "would see different data; copy the input first (x = x.clone()) or use out-of-place operations"
        )
    if isinstance(out1, torch.Tensor) and isinstance(out2, torch.Tensor) and not torch.equal(out1, out2):
        drop = [
            n or "(root)"
            for n, m in model.named_modules()
            if m.training
            and (
                (isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0)
                or (isinstance(m, nn.MultiheadAttention) and m.dropout > 0)
            )
        ]
        hint = f" (dropout in training mode: {', '.join(drop)})" if drop else ""
        raise DlnkitInputError(
            f"two forward passes on the same batch differ{hint}: an HVP would not be a fixed linear "
            "map; call model.eval() or remove the randomness (random numbers, or state that forward changes)"
        )
    if not isinstance(out1, torch.Tensor):
        raise DlnkitInputError(f"the model must return one tensor of outputs, got {type(out1).__name__}")


class BatchCoupledModelError(DlnkitInputError):
    """The model's outputs or derivatives for a sample depend on the other samples of its batch."""


def _split_inputs(X: Any, a: int, b: int) -> Any:
    if isinstance(X, (tuple, list)):
        return type(X)(t[a:b] for t in X)
    return X[a:b]


@checked
def check_sample_independence(
    model: nn.Module, loss: LossSpec, X: Any, y: torch.Tensor, *, max_samples: int = 8, seed: int = 0
) -> dict[str, float]:
    r"""Refuse a batch-coupled model: the same ``max_samples`` samples as one batch and as two
    (uneven) batches must give the same outputs, data-set gradient and one Hessian-vector product
    (random direction, double backward, math attention).

    ``loss``: a :class:`~dlnkit.numerics.losses.LossSpec`. Returns the relative differences found.
    Tolerance: :math:`\sqrt{\varepsilon}` of the dtype, relative. Re-batching only reorders sums
    (differences of a few :math:`\varepsilon` times the batch size), while a coupling through batch
    statistics changes the numbers at order 1/B, far above :math:`\sqrt\varepsilon` for any batch
    a model is run with.
    """
    from torch.func import functional_call

    from dlnkit.numerics.exact_attention import exact_attention

    if max_samples < 2:
        raise DlnkitInputError(f"max_samples must be >= 2 (two batches of samples are compared), got {max_samples}")
    B = int(y.shape[0]) if y.ndim else 0
    if B < 2:
        return {}
    n = min(B, max_samples)
    X, y = _split_inputs(X, 0, n), y[:n]
    cut = max(1, n // 3)
    named = {k: p for k, p in model.named_parameters() if p.is_floating_point()}
    if not named:
        return {}
    names = list(named)
    dtype = next(iter(named.values())).dtype
    tol = float(torch.finfo(dtype).eps) ** 0.5
    g = torch.Generator().manual_seed(seed)
    vs = [torch.randn(p.shape, generator=g, dtype=torch.float64).to(p) for p in named.values()]

    def run(parts: list[tuple[int, int]]) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        outs: list[torch.Tensor] = []
        gsum = [torch.zeros_like(p) for p in named.values()]
        hsum = [torch.zeros_like(p) for p in named.values()]
        for a, b in parts:
            qs = [p.detach().clone().requires_grad_(True) for p in named.values()]
            Xb = _split_inputs(X, a, b)
            args = tuple(Xb) if isinstance(Xb, (tuple, list)) else (Xb,)
            with exact_attention(), torch.enable_grad():
                out = functional_call(model, dict(zip(names, qs)), args)
                val = loss.batch_weight(b - a, n) * loss.batch_value(out, y[a:b])
                gs = torch.autograd.grad(val, qs, create_graph=True, allow_unused=True)
                live = [(i, gi) for i, gi in enumerate(gs) if gi is not None]
                dot = sum((gi * vs[i]).sum() for i, gi in live)
                hs = (
                    torch.autograd.grad(dot, qs, allow_unused=True)
                    if isinstance(dot, torch.Tensor) and dot.requires_grad
                    else [None] * len(qs)
                )
            outs.append(out.detach())
            for i, gi in live:
                gsum[i] += gi.detach()
            for i, hi in enumerate(hs):
                if hi is not None:
                    hsum[i] += hi
        return torch.cat(outs), gsum, hsum

    o1, g1, h1 = run([(0, n)])
    o2, g2, h2 = run([(0, cut), (cut, n)])

    def flat(a: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in a]) if isinstance(a, list) else a.reshape(-1)

    def rel(a: list[torch.Tensor] | torch.Tensor, b: list[torch.Tensor] | torch.Tensor, floor: float = 0.0) -> float:
        fa, fb = flat(a), flat(b)
        scale = max(float(fa.norm()), float(fb.norm()), floor)
        return float((fa - fb).norm()) / scale if scale > 0 else 0.0

    # at a minimum the gradient is rounding noise (two noises differ at order 1 relative to each other), so
    # its scale has a floor: the gradient of a displacement as large as the parameters, |Hv|/|v| |theta|
    theta = float(flat([p.detach() for p in named.values()]).norm())
    g_floor = float(flat(h1).norm()) / max(float(flat(vs).norm()), 1e-300) * theta
    diffs = {"outputs": rel(o1, o2), "gradient": rel(g1, g2, g_floor), "hvp": rel(h1, h2)}
    bad = {k: v for k, v in diffs.items() if not v <= tol}
    if bad:
        coupled = [
            nm or "(root)"
            for nm, m in model.named_modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.track_running_stats
        ]
        hint = f" (BatchNorm without running statistics: {', '.join(coupled)})" if coupled else ""
        what = ", ".join(f"{k} differ by {v:.2g} (relative)" for k, v in bad.items())
        raise BatchCoupledModelError(
            f"the model is batch-coupled{hint}: the same {n} samples in one batch and in two batches give different "
            f"results ({what}; rounding allows {tol:.1g}); a sample's loss depends on the other samples of its "
            "batch, so the curvature depends on the batching. Use per-sample layers (BatchNorm with running "
            "statistics in eval mode, LayerNorm/GroupNorm) or analyse one fixed batch as the whole data set"
        )
    return diffs


@checked
def check_real_model(
    model: nn.Module,
    forward: Callable[[Any], torch.Tensor],
    loss: Any,
    X: Any,
    y: torch.Tensor,
    *,
    params: Sequence[str] | None = None,
    low_precision_ok: bool = False,
) -> dict[str, Any]:
    """The one gate of the real-network routes: :func:`check_model_tensors`,
    :func:`check_model_for_curvature` (``forward`` as there), :func:`check_sample_independence` and
    :func:`~dlnkit.numerics.derivative_check.check_autograd_derivatives` in ``params`` (default all
    floating parameters), on the first batch ``(X, y)``. Returns what the last two measured."""
    from dlnkit.numerics.derivative_check import check_autograd_derivatives

    check_model_tensors(model, low_precision_ok=low_precision_ok)
    check_model_for_curvature(model, forward, X)
    return {
        "sample_independence": check_sample_independence(model, loss, X, y),
        "autograd_derivatives": check_autograd_derivatives(model, loss, X, y, params=params),
    }


__all__ = [
    "BatchCoupledModelError",
    "check_model_tensors",
    "check_real_model",
    "check_model_for_curvature",
    "check_sample_independence",
    "train_mode_normalisation",
]
