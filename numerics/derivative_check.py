r"""Refuse a model whose autograd derivatives are not the derivatives of its loss.

Every curvature route differentiates the model with autograd. Autograd differentiates the *graph
the forward pass recorded*, which is not always the function the forward pass computes:

* ``.detach()``, ``torch.no_grad()`` or a round trip through NumPy inside ``forward`` (a
  straight-through estimator ``h + (f(h) - h).detach()``) cut or replace a path: the gradient is
  not the gradient of the loss;
* a custom ``torch.autograd.Function`` whose ``backward`` is not the derivative of its
  ``forward``, detaches what it saved, or is ``@once_differentiable``: the gradient may be right and
  its derivative (every Hessian-vector product) silently wrong;
* arithmetic in a lower precision inside ``forward`` (a cast to bfloat16 and back): the loss is
  a step function at that precision and its curvature is not what autograd reports.

:func:`check_autograd_derivatives` compares, on a few samples and along a random direction
:math:`v` scaled like the parameters, autograd's directional derivative :math:`g^\top v` with the
central differences of the loss, and autograd's Hessian-vector product :math:`Hv` (double
backward) with the central differences of autograd's gradient,

.. math:: D(h) = \frac{\phi(\theta + hv) - \phi(\theta - hv)}{2h},\qquad
          R = \frac{4D(h/2) - D(h)}{3}\quad\text{(Richardson)},

with :math:`h = \varepsilon^{1/3}` (:math:`\varepsilon` the dtype's precision: it balances the
:math:`h^2` truncation error against the :math:`\varepsilon/h` rounding error). A derivative
fails when :math:`|a - R| > 8|D(h) - D(h/2)| + 64\,\varepsilon\,s/h + \sqrt\varepsilon\,\max(|a|,|R|)`:
:math:`|D(h) - D(h/2)|` estimates the difference's own error (truncation, and a ReLU kink crossed
inside the step, which makes it large), :math:`64\varepsilon s/h` bounds the rounding of the
differences of values of size :math:`s`, and :math:`\sqrt\varepsilon` is relative slack for the
autograd side. The model is refused only when two independent directions both fail (a kink can
spoil one difference; a cut path fails every direction); the second direction is tried on the next
samples when the batch has them (a kink belongs to one sample). A float32 model is checked on a
float64 copy (up to :data:`TWIN_BYTES`). The errors found by the cases above are of
order one (relative), far above these bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError


class AutogradMismatchError(DlnkitInputError):
    """The model's autograd gradient or Hessian-vector product is not the derivative of its loss."""


def _split_inputs(X: Any, a: int, b: int) -> Any:
    if isinstance(X, (tuple, list)):
        return type(X)(t[a:b] for t in X)
    return X[a:b]


def _to_float64(X: Any) -> Any:
    if isinstance(X, (tuple, list)):
        return type(X)(_to_float64(t) for t in X)
    return X.to(torch.float64) if isinstance(X, torch.Tensor) and X.is_floating_point() else X


#: a float32 model is checked on a float64 copy up to this size (its step h is then 6e-6, not 5e-3,
#: relative: a ReLU kink inside the step becomes a thousand times rarer)
TWIN_BYTES = 2**28


def _flat(ts: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in ts])


def _known_cause(model: nn.Module) -> str:
    """A named cause this module has measured: torch's weight norm (``parametrizations.weight_norm``
    and the older ``utils.weight_norm``, one fused ``_weight_norm`` op) has a wrong second derivative
    (a Hessian 22% off, relative, on a 4-5-3 tanh network in torch 2.13)."""
    names = [
        n or "(root)"
        for n, m in model.named_modules()
        if any(type(p).__name__ == "_WeightNorm" for ps in getattr(m, "parametrizations", {}).values() for p in ps)
        or (hasattr(m, "weight_g") and hasattr(m, "weight_v"))
    ]
    if not names:
        return ""
    return (
        f" (weight norm on {', '.join(names[:3])}: torch's fused weight-norm op has a wrong second derivative; "
        "write w = g * v / v.norm(dim=1, keepdim=True) in forward instead)"
    )


@checked
def check_autograd_derivatives(
    model: nn.Module,
    loss: Any,
    X: Any,
    y: torch.Tensor,
    *,
    params: Sequence[str] | None = None,
    max_samples: int = 4,
    seed: int = 0,
) -> dict[str, float]:
    r"""Raise :class:`AutogradMismatchError` when autograd's gradient or HVP disagrees with finite
    differences of the loss of the first ``max_samples`` samples (see the module docstring).

    ``loss``: a :class:`~dlnkit.numerics.losses.LossSpec`; ``params``: the parameter names that
    the curvature is taken in (default every floating-point parameter). Returns the worst relative
    discrepancies found and their ratios to the bounds (below 1: passed), ``{"gradient": ...,
    "hvp": ..., "gradient_over_bound": ..., "hvp_over_bound": ...}``.
    """
    from torch.func import functional_call

    from dlnkit.numerics.exact_attention import exact_attention

    named_all = dict(model.named_parameters())
    unknown = [n for n in (params or ()) if n not in named_all]
    if unknown:
        raise DlnkitInputError(f"no parameter named {unknown[0]!r}; parameters: {', '.join(list(named_all)[:12])}")
    inputs = X if isinstance(X, (tuple, list)) else (X,)
    if not all(isinstance(t, torch.Tensor) and t.ndim >= 1 for t in inputs) or y.ndim == 0:
        raise DlnkitInputError("X must be a tensor (or a tuple of tensors) and y a tensor, with samples along dim 0")
    names = [n for n in (params if params is not None else named_all) if named_all[n].is_floating_point()]
    if not names:
        return {}
    theta = [named_all[k].detach() for k in names]
    dtype = theta[0].dtype
    size = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    if dtype != torch.float64 and 8 * size <= TWIN_BYTES:
        import copy

        try:
            twin = copy.deepcopy(model).to(torch.float64)
        except Exception:  # a model that cannot be copied is checked in its own dtype
            twin = None
        if twin is not None:
            return check_autograd_derivatives(
                twin, loss, _to_float64(X), _to_float64(y), params=names, max_samples=max_samples, seed=seed
            )
    B = int(y.shape[0])
    n = min(B, max_samples)
    eps = float(torch.finfo(dtype).eps)
    h = eps ** (1.0 / 3.0)

    def value(qs: Sequence[torch.Tensor]) -> torch.Tensor:
        with exact_attention():
            out = functional_call(model, dict(zip(names, qs)), args)
        val: torch.Tensor = loss.batch_value(out, ys)
        return val

    def gradient(
        qs: Sequence[torch.Tensor], create_graph: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(value, gradient (zeros where unused), the leaves it was taken at)."""
        leaves = [q.detach().clone().requires_grad_(True) for q in qs]
        with torch.enable_grad():
            val = value(leaves)
            gs: Sequence[torch.Tensor | None] = (
                torch.autograd.grad(val, leaves, create_graph=create_graph, allow_unused=True)
                if val.requires_grad
                else [None] * len(leaves)
            )
        return val, [torch.zeros_like(q) if gi is None else gi for q, gi in zip(leaves, gs)], leaves

    def shifted(v: list[torch.Tensor], t: float) -> list[torch.Tensor]:
        return [p + t * vi for p, vi in zip(theta, v)]

    gen = torch.Generator().manual_seed(seed)
    rms_all = float(_flat(theta).double().pow(2).mean().sqrt()) or 1.0
    worst = {"gradient": 0.0, "hvp": 0.0, "gradient_over_bound": 0.0, "hvp_over_bound": 0.0}
    failures: list[str] = []
    for attempt in range(2):
        # the second attempt on the next samples where there are enough: a kink (ReLU) belongs to one sample
        start = n if attempt == 1 and B >= 2 * n else 0
        Xs, ys = _split_inputs(X, start, start + n), y[start : start + n]
        args = tuple(Xs) if isinstance(Xs, (tuple, list)) else (Xs,)
        # a direction as large as the parameters, tensor by tensor (a zero bias moves like the rest)
        v = [
            torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p)
            * max(float(p.double().pow(2).mean().sqrt()) if p.numel() else 0.0, rms_all)
            for p in theta
        ]
        val, g, leaves = gradient(theta, create_graph=True)
        a = float(sum((gi.detach() * vi).sum() for gi, vi in zip(g, v)))
        live = [i for i, gi in enumerate(g) if gi.requires_grad]
        if live:
            hv_parts = torch.autograd.grad(
                [g[i] for i in live], leaves, grad_outputs=[v[i] for i in live], allow_unused=True
            )
            hv = _flat([torch.zeros_like(p) if t is None else t for p, t in zip(theta, hv_parts)]).detach()
        else:
            hv = torch.zeros(sum(p.numel() for p in theta), dtype=dtype, device=theta[0].device)
        with torch.no_grad():
            fp, fm = float(value(shifted(v, h))), float(value(shifted(v, -h)))
            fp2, fm2 = float(value(shifted(v, h / 2))), float(value(shifted(v, -h / 2)))
        d1, d2 = (fp - fm) / (2 * h), (fp2 - fm2) / h
        r = (4 * d2 - d1) / 3
        s = max(abs(fp), abs(fm), abs(float(val.detach())))
        bound = 8 * abs(d1 - d2) + 64 * eps * s / h + eps**0.5 * max(abs(a), abs(r))
        g_bad = not abs(a - r) <= bound
        worst["gradient"] = max(worst["gradient"], abs(a - r) / max(abs(a), abs(r), 1e-300))
        worst["gradient_over_bound"] = max(worst["gradient_over_bound"], abs(a - r) / max(bound, 1e-300))

        gp, gm = _flat(gradient(shifted(v, h))[1]), _flat(gradient(shifted(v, -h))[1])
        gp2, gm2 = _flat(gradient(shifted(v, h / 2))[1]), _flat(gradient(shifted(v, -h / 2))[1])
        D1, D2 = (gp - gm) / (2 * h), (gp2 - gm2) / h
        R = (4 * D2 - D1) / 3
        gs = max(float(gp.norm()), float(gm.norm()), float(hv.norm()))
        hbound = 8 * float((D1 - D2).norm()) + 64 * eps * gs / h + eps**0.5 * max(float(hv.norm()), float(R.norm()))
        err = float((hv - R).norm())
        h_bad = not err <= hbound
        worst["hvp"] = max(worst["hvp"], err / max(float(hv.norm()), float(R.norm()), 1e-300))
        worst["hvp_over_bound"] = max(worst["hvp_over_bound"], err / max(hbound, 1e-300))
        if not (g_bad or h_bad):
            return worst
        failures.append(
            ("the gradient" if g_bad else "")
            + (" and " if g_bad and h_bad else "")
            + ("the Hessian-vector product" if h_bad else "")
        )
    raise AutogradMismatchError(
        f"the model's autograd derivatives are not the derivatives of its loss{_known_cause(model)}: {failures[0]} "
        f"differ{'s' if ' and ' not in failures[0] else ''} from finite differences (of the loss, of the "
        f"gradient; relative {max(worst['gradient'], worst['hvp']):.2g}, two random directions); the curvature "
        "would be silently "
        "wrong. Look for "
        ".detach(), torch.no_grad() or NumPy inside forward, a custom autograd.Function whose backward is not "
        "the (twice-differentiable) derivative of its forward, or a cast to a lower precision inside forward"
    )


__all__ = ["AutogradMismatchError", "check_autograd_derivatives"]
