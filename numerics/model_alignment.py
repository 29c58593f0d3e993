r"""The alignment analysis of every matrix layer of a user's model over a data set (arXiv:2606.02596).

:func:`analyse_model_layers` is the stable entry point (``dlnkit alignment --model file.py:factory``
and the per-layer census call it):

1. **Analysis dtype.** The model is deep-copied to ``dtype`` (float64 by default: a float32 model is
   analysed in float64) and ``device``; the data are cast as they stream. Every rank and positivity
   cut-off is relative to that dtype's eps (:func:`~dlnkit.numerics.alignment.rank_cutoff`,
   :func:`~dlnkit.numerics.alignment.positivity_cutoff`); the dtype is in every row.
2. **Refusals** (exit 2 on the CLI), before any layer, by the one gate
   :func:`~dlnkit.numerics.model_checks.check_real_model`: meta or complex tensors; train-mode
   normalisation, buffer-changing, input-changing or random forwards; a batch-coupled model; autograd
   derivatives (of the analysed layers' parameters) that are not the derivatives of the loss
   (``.detach()``/``no_grad`` in forward, custom ``autograd.Function`` s); a loader whose passes differ
   (:class:`~dlnkit.numerics.batches.Batches`).
3. **Layers**: :func:`~dlnkit.numerics.layer_views.model_layers` (Linear, Conv1d/2d/3d, packed
   q/k/v, out_proj, embeddings, tied parameters once), types inferred or given.
4. **One pass** for all gradients and Kronecker factors
   (:func:`~dlnkit.numerics.layer_capture.capture_layers`), then per layer the directional curvatures
   and the block's top eigenvalues from streamed double-backward HVPs
   (:class:`~dlnkit.numerics.layer_capture.LayerHVP`).
5. A layer that cannot be analysed becomes a row with ``error`` (the reason); the others still come
   out. Parameters with two or more dimensions that are not a matrix layer are listed in ``skipped``
   with the reason.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from dlnkit.arguments import checked
from dlnkit.numerics.alignment import AlignmentReport, LayerCapture, analyse_capture
from dlnkit.numerics.batches import as_batches
from dlnkit.numerics.layer_capture import LayerHVP, capture_layers
from dlnkit.numerics.layer_views import LayerView, apply_layer_types, model_layers
from dlnkit.numerics.losses import resolve_loss
from dlnkit.numerics.model_checks import check_model_tensors, check_real_model
from dlnkit.numerics.validation import DlnkitInputError

DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass
class ModelAlignment:
    """Result of :func:`analyse_model_layers`: one row per layer (a report's summary, or an error)."""

    rows: list[dict[str, Any]]
    reports: dict[str, AlignmentReport]
    skipped: list[tuple[str, str]]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: meta, rows, per-layer details (per-direction arrays), skipped parameters."""
        return {
            **self.meta,
            "rows": self.rows,
            "layers": {n: r.to_dict() for n, r in self.reports.items()},
            "skipped": [{"parameter": p, "reason": r} for p, r in self.skipped],
        }


@checked
def analysis_copy(model: nn.Module, dtype: torch.dtype, device: torch.device | str) -> nn.Module:
    """A deep copy of ``model`` with floating parameters and buffers in ``dtype`` on ``device``
    (tied parameters stay tied; embeddings with ``sparse=True`` get dense gradients; the user's model
    is untouched). Meta and complex tensors are refused
    first (:func:`~dlnkit.numerics.model_checks.check_model_tensors`): ``Module.to`` would fail on the
    former and silently drop the imaginary part of the latter; float16/bfloat16 models are welcome
    (the copy is in ``dtype``)."""
    check_model_tensors(model, low_precision_ok=True, sparse_ok=True)
    work = copy.deepcopy(model).to(device=device, dtype=dtype)
    for m in work.modules():
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
            m.sparse = False  # the same function with dense gradients, which have second derivatives
    return work


@contextlib.contextmanager
def _user_code(stage: str) -> Iterator[None]:
    """A user's model that raises inside ``stage`` is bad input (exit 2 on the CLI), not a dlnkit bug."""
    try:
        yield
    except DlnkitInputError:
        raise
    except (RuntimeError, NotImplementedError, ValueError, TypeError, IndexError, KeyError) as exc:
        msg = str(exc).splitlines()[0][:240] if str(exc) else ""
        raise DlnkitInputError(f"the model raised {type(exc).__name__} during {stage}: {msg}") from exc


def _skipped(model: nn.Module, views: Sequence[LayerView]) -> list[tuple[str, str]]:
    covered = {v.param for v in views}
    out = []
    for name, p in model.named_parameters():
        if name in covered or p.ndim < 2:
            continue
        out.append((name, f"a {p.ndim}-d parameter {tuple(p.shape)} that is not the weight of a matrix layer"))
    return out


@checked
def analyse_model_layers(
    model: nn.Module,
    data: Any,
    loss: Any,
    *,
    layers: Sequence[str] | None = None,
    layer_types: Mapping[str, str] | None = None,
    k: int = 20,
    factors: str = "empirical",
    pairing: str = "index",
    eigen: bool = True,
    dtype: torch.dtype | str = torch.float64,
    device: torch.device | str = "cpu",
    seed: int = 0,
    check: bool = True,
    progress: Callable[[str], Any] | None = None,
    hvp_mode: str = "loop",
) -> ModelAlignment:
    """Per-layer alignment (alpha, gamma, s_dir, s_eig with intervals, factors) of ``model`` over ``data``.

    ``data``: (X, y), a list of batches or a DataLoader (streamed; memory of one batch).
    ``loss``: a torch loss module, "cross_entropy"/"mse" or a callable. ``layers``: names from
    :func:`~dlnkit.numerics.layer_views.model_layers` (default all). ``layer_types``: overrides by
    name; a ``dlnkit_layer_types`` dict attribute on the model is used too. ``progress(name)`` is
    called before each layer. ``hvp_mode``: ``"loop"`` (default), ``"batched"`` or ``"auto"``
    (:class:`~dlnkit.numerics.layer_capture.LayerHVP`). The model itself is not modified (a copy in
    ``dtype`` is analysed).
    """
    dt = DTYPES.get(dtype, None) if isinstance(dtype, str) else dtype
    if dt not in (torch.float64, torch.float32):
        raise DlnkitInputError(f"dtype must be float64 or float32, got {dtype!r}")
    dev = torch.device(device)
    spec = resolve_loss(loss)
    work = analysis_copy(model, dt, dev)
    batches = as_batches(data)
    X0, y0 = next(batches.iterate(device=dev, dtype=dt, check=False))
    views = all_views = model_layers(work)
    types = dict(getattr(model, "dlnkit_layer_types", None) or {})
    types.update(layer_types or {})
    if types:
        views = apply_layer_types(views, types)
    if layers:
        by = {v.name: v for v in views}
        missing = [n for n in layers if n not in by]
        if missing:
            raise DlnkitInputError(f"no matrix layer named {missing[0]!r}; layers: {', '.join(by)}")
        views = [by[n] for n in layers]
    checks: dict[str, Any] = {}
    if check and views:
        with _user_code("the refusal checks (two forward passes, a gradient and an HVP on a few samples)"):
            checks = check_real_model(
                work,
                lambda X: work(*X) if isinstance(X, (tuple, list)) else work(X),
                spec,
                X0,
                y0,
                params=list(dict.fromkeys(v.param for v in views)),
            )
    if not views:
        raise DlnkitInputError("the model has no matrix layer (Linear, Conv1d/2d/3d, attention, Embedding)")
    from dlnkit.numerics.memory import alignment_plan_bytes, check_allocation

    largest = max(views, key=lambda v: v.shape[0] * v.shape[1])
    check_allocation(  # every layer's gradient and Kronecker factors, before the pass that fills them
        alignment_plan_bytes(
            [(v.shape[0], v.shape[1], v.factors_possible) for v in views],
            itemsize=torch.finfo(dt).bits // 8,
            gauss_newton=factors == "gn",
        ),
        f"the alignment analysis of {len(views)} layer(s) (the largest {largest.name!r}, "
        f"{largest.shape[0]} x {largest.shape[1]})",
        dev,
        hint="analyse fewer or smaller --layers",
    )
    t0 = time.perf_counter()
    with _user_code("the gradient pass"):
        caps = capture_layers(work, views, batches, spec, device=dev, dtype=dt, gauss_newton=factors == "gn")
    rows: list[dict[str, Any]] = []
    reports: dict[str, AlignmentReport] = {}
    for v in views:
        if progress:
            progress(v.name)
        st = caps[v.name]
        op = LayerHVP(work, v, batches, spec, device=dev, dtype=dt, mode=hvp_mode)
        cap = LayerCapture(
            v.name,
            v.kind,
            v.shape,
            st.W,
            None,
            None,
            batches.num_samples,
            st.positions,
            st.G,
            st.G,
            None,
            gn_output_factor=st.gn_factor,
            C_delta=st.C_delta,
            C_A=st.C_A,
            matmat=op.matmat,
            layer_type=v.layer_type,
            note=v.note,
            factor_note=st.factor_note,
        )
        base = {"layer": v.name, "type": v.layer_type, "shape": f"{v.shape[0]}x{v.shape[1]}", "dtype": str(dt)[6:]}
        try:
            rep = analyse_capture(cap, k=k, factors=factors, pairing=pairing, eigen=eigen, seed=seed)
        except DlnkitInputError as exc:
            rows.append({**base, "error": str(exc)})
            continue
        except (RuntimeError, NotImplementedError, ValueError) as exc:  # the user's model met an op we cannot use
            rows.append({**base, "error": f"cannot analyse: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
            continue
        finally:
            op.close()
        row = rep.summary()
        row.update({"type": v.layer_type, "hvps": op.num_hvps})
        rows.append(row)
        reports[v.name] = rep
    meta = {
        "dtype": str(dt)[6:],
        "device": str(dev),
        "samples": batches.num_samples,
        "batches": len(batches),
        "loss": f"{spec.name}({spec.reduction})",
        "checks": checks,
        "seconds": time.perf_counter() - t0,
    }
    return ModelAlignment(rows, reports, _skipped(work, all_views), meta)


__all__ = ["DTYPES", "ModelAlignment", "analyse_model_layers", "analysis_copy"]
