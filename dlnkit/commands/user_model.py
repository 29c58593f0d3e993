"""The CLI on a user's own model: ``--model package.module:factory --weights FILE --data FILE [--loss ...]``.

* ``--model``: ``package.module:factory`` (importable, the current folder first on the path) or
  ``path/to/file.py:factory``; ``factory()`` returns the ``nn.Module``. The model is put in eval
  mode (BatchNorm uses its running statistics, dropout is off): curvature of a fixed function.
* ``--weights``: a ``torch.save``-d state dict (or ``{"state_dict": ...}``), loaded with
  ``weights_only=True`` and ``strict`` key matching; optional (the factory's own weights otherwise).
* ``--data``: ``.pt`` (a dict with ``inputs``/``targets`` or ``X``/``y``, or a pair) or ``.npz``
  (arrays ``inputs``/``targets`` or ``X``/``y``). Floating arrays take the model's dtype, integer
  targets become class labels (int64).
* ``--loss``: ``cross_entropy``, ``mse``, ``bce`` (BCEWithLogits), ``huber`` (torch modules), with
  ``--reduction mean|sum``; default cross_entropy for integer targets, mse otherwise.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dlnkit.claims.boundary import UserCodeExit, register_user_file, user_code
from dlnkit.numerics.device import resolve_device
from dlnkit.numerics.validation import DlnkitInputError

LOSS_NAMES = ("cross_entropy", "mse", "bce", "huber")


def is_user_model(spec: str | None) -> bool:
    """``package.module:factory`` or ``file.py:factory`` (zoo names have no colon)."""
    return bool(spec) and ":" in str(spec)


def load_factory(spec: str):
    """The ``nn.Module`` returned by the factory named in ``spec``."""
    mod_name, _, attr = str(spec).rpartition(":")
    if not mod_name or not attr:
        raise DlnkitInputError(f"--model {spec!r}: give package.module:factory or path/to/file.py:factory")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise DlnkitInputError(f"--model: no file {mod_name!r}")
            sp = importlib.util.spec_from_file_location(f"dlnkit_user_model_{path.stem}", path)
            if sp is None or sp.loader is None:
                raise DlnkitInputError(f"--model: cannot import {mod_name!r}")
            module = importlib.util.module_from_spec(sp)
            register_user_file(path)
            # the boundary: its exits and chdir stay its own; what its import sets up, its factory gets
            with user_code(f"--model {spec}", source=mod_name, setup=True):
                sp.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            with user_code(f"--model {spec}", source=mod_name, setup=True):
                module = importlib.import_module(mod_name)
            register_user_file(getattr(module, "__file__", None))
    except DlnkitInputError:
        raise
    except SystemExit as exc:
        how = exc if isinstance(exc, UserCodeExit) else f"sys.exit({exc.code!r})"
        raise DlnkitInputError(f"--model: importing {mod_name!r} called {how}") from None
    except Exception as exc:  # the user's module: any import error becomes one line
        raise DlnkitInputError(f"--model: cannot import {mod_name!r}: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        raise DlnkitInputError(f"--model: {mod_name!r} has no callable {attr!r}")
    try:
        with user_code(f"--model {spec}", source=mod_name):
            model = factory()
    except SystemExit as exc:
        how = exc if isinstance(exc, UserCodeExit) else f"sys.exit({exc.code!r})"
        raise DlnkitInputError(f"--model: {spec}() called {how}") from None
    except Exception as exc:
        raise DlnkitInputError(f"--model: {spec}() raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise DlnkitInputError(f"--model: {spec}() returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_weights(model, path: str | None) -> None:
    if not path:
        return
    p = Path(path)
    if not p.is_file():
        raise DlnkitInputError(f"--weights: no file {path!r}")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DlnkitInputError(f"--weights {path!r} is not a readable torch state dict: {type(exc).__name__}") from None
    if isinstance(blob, dict) and "state_dict" in blob and isinstance(blob["state_dict"], dict):
        blob = blob["state_dict"]
    if not isinstance(blob, dict):
        raise DlnkitInputError(f"--weights {path!r} holds {type(blob).__name__}, not a state dict")
    try:
        model.load_state_dict(blob, strict=True)
    except Exception as exc:
        msg = str(exc).replace("\n", " ")[:300]
        raise DlnkitInputError(f"--weights {path!r} does not fit the model: {msg}") from None


def load_data(path: str | None, dtype) -> tuple[Any, Any]:
    """(inputs, targets) tensors from a .pt or .npz file."""
    if not path:
        raise DlnkitInputError("--data FILE (.pt or .npz of inputs and targets) is needed with a user model")
    p = Path(path)
    if not p.is_file():
        raise DlnkitInputError(f"--data: no file {path!r}")
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                blob: Any = {k: z[k] for k in z.files}
        elif p.suffix in (".pt", ".pth"):
            blob = torch.load(p, map_location="cpu", weights_only=True)
        else:
            raise DlnkitInputError(f"--data {path!r}: use a .pt or .npz file")
    except DlnkitInputError:
        raise
    except Exception as exc:
        raise DlnkitInputError(f"--data {path!r} cannot be read: {type(exc).__name__}") from None
    if isinstance(blob, dict):
        pair = next(
            ((blob[a], blob[b]) for a, b in (("inputs", "targets"), ("X", "y")) if a in blob and b in blob), None
        )
        if pair is None:
            raise DlnkitInputError(f"--data {path!r} needs keys inputs/targets (or X/y), has {sorted(blob)[:6]}")
    elif isinstance(blob, (tuple, list)) and len(blob) == 2:
        pair = (blob[0], blob[1])
    else:
        raise DlnkitInputError(f"--data {path!r} must hold inputs and targets")
    for name, t in zip(("inputs", "targets"), pair):
        if not isinstance(t, torch.Tensor) and np.asarray(t).dtype.kind not in "biuf":
            raise DlnkitInputError(
                f"--data {path!r}: the {name} are {np.asarray(t).dtype} values, not numbers (bool, int or float)"
            )
    X, y = (torch.as_tensor(np.asarray(t)) if not isinstance(t, torch.Tensor) else t for t in pair)
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise DlnkitInputError(
            f"--data {path!r}: inputs {tuple(X.shape)} and targets {tuple(y.shape)} must share a "
            "non-empty leading sample dimension"
        )
    if X.is_floating_point():
        X = X.to(dtype)
    y = y.to(dtype) if y.is_floating_point() else y.long()
    for name, t in (("inputs", X), ("targets", y)):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise DlnkitInputError(f"--data {path!r}: non-finite values in the {name}")
    return X, y


def make_loss(name: str | None, reduction: str, targets) -> Any:
    if reduction not in ("mean", "sum"):
        raise DlnkitInputError(f"--reduction must be mean or sum, got {reduction!r}")
    if name is None:
        name = "mse" if targets.is_floating_point() else "cross_entropy"
    table = {
        "cross_entropy": nn.CrossEntropyLoss,
        "mse": nn.MSELoss,
        "bce": nn.BCEWithLogitsLoss,
        "huber": nn.HuberLoss,
    }
    if name not in table:
        raise DlnkitInputError(f"--loss {name!r}: use one of {', '.join(LOSS_NAMES)}")
    if name == "cross_entropy" and targets.is_floating_point() and targets.ndim == 1:
        raise DlnkitInputError("--loss cross_entropy needs integer class labels as targets")
    return table[name](reduction=reduction)


def load_user_problem(args) -> tuple[Any, Any, Any, Any]:
    """(model, X, y, loss) for ``args.model`` / ``--weights`` / ``--data`` / ``--loss``."""
    model = load_factory(args.model)
    load_weights(model, getattr(args, "weights", None))
    model.eval()
    params = list(model.parameters())
    dtype = params[0].dtype if params else torch.float64
    X, y = load_data(getattr(args, "data", None), dtype)
    loss = make_loss(getattr(args, "loss", None), getattr(args, "reduction", "mean") or "mean", y)
    with torch.no_grad():
        try:
            out = model(X[:2])
        except Exception as exc:
            raise DlnkitInputError(
                f"the model cannot run on the --data inputs {tuple(X.shape)}: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        if not isinstance(out, torch.Tensor):
            raise DlnkitInputError(
                f"the model returns a {type(out).__name__}, not a tensor; dlnkit needs forward() to return the "
                "outputs the loss compares (wrap the model to pick one)"
            )
        if not y.is_floating_point() and out.ndim >= 1 and type(loss).__name__ == "CrossEntropyLoss":
            classes = out.shape[1] if out.ndim > 1 else out.shape[0]
            lo, hi = int(y.min()), int(y.max())  # every label, not only the samples run above
            if lo < 0 or hi >= classes:
                raise DlnkitInputError(
                    f"--data labels must lie in 0..{classes - 1} (the model has {classes} outputs), "
                    f"found {lo if lo < 0 else hi}"
                )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # torch only warns when MSE broadcasts mismatched shapes
                loss(out, y[:2])
        except Exception as exc:
            raise DlnkitInputError(
                f"{type(loss).__name__} cannot compare outputs {tuple(out.shape)} with targets "
                f"{tuple(y[:2].shape)} (first two samples): {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]}"
            ) from None
    return model, X, y, loss


def resolve_analysis_device(name: str | None):
    """``--device``: auto (CUDA when available), cpu, cuda or cuda:N; CUDA asked for but absent is bad input."""
    return resolve_device(name or "auto")


def add_analysis_args(p, *, device: bool) -> None:
    """--dtype (and --device) for the analyses of a user's model."""
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="analysis dtype: a copy of the model in this dtype is analysed (default float64, also for a "
        "float32 model); every rank/positivity cut-off is relative to its precision",
    )
    if device:
        p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")


def add_user_model_args(p, *, with_data: bool) -> None:
    """--weights, --loss, --reduction (and --data when the command has none)."""
    p.add_argument(
        "--weights", metavar="FILE", help="state dict (.pt) for a user model given as package.module:factory"
    )
    if with_data:
        p.add_argument("--data", metavar="FILE", help="user model: .pt or .npz of inputs and targets")
    p.add_argument(
        "--loss",
        choices=LOSS_NAMES,
        default=None,
        help="user model: the torch loss module (default cross_entropy for integer targets, else mse)",
    )
    p.add_argument("--reduction", choices=["mean", "sum"], default="mean", help="user model: the loss's reduction")
