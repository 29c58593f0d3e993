"""What a run record states about the run itself, so that it can be reproduced and reported:
the machine, the versions, the seeds and the command (:func:`run_environment`), and what each
claim in it is (:func:`claims_metadata`). ``dlnkit verify --json`` writes both beside its rows;
``dlnkit report`` shows them."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlnkit import __version__

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "not installed"


def _git_commit() -> str:
    """The commit of a source checkout dlnkit runs from (empty for an installed copy)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]  # dlnkit/records/run_record.py -> the checkout
    if not (root / ".git").exists():
        return ""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if out.returncode != 0:
        return ""
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def run_environment(
    *, seed: int | None = None, device: str | None = None, argv: list[str] | None = None, **settings: Any
) -> dict[str, Any]:
    """Machine, versions, seeds and command of the current run, as plain JSON values.

    Parameters
    ----------
    seed
        The run's seed (e.g. ``dlnkit verify --seed``); each row also records its own.
    device
        The device the run asked for (``auto``, ``cpu``, ``cuda``).
    argv
        The command line (default: ``sys.argv``).
    **settings
        Other settings of the run worth recording (``examples``, ``full``, ...).

    Returns
    -------
    dict
        ``created_utc``, ``command``, ``seed``, ``device``, ``settings``, ``versions`` (dlnkit,
        python, torch, numpy, sympy, hypothesis, scipy), ``machine`` (platform, processor, CPU count,
        torch threads, CUDA device when available) and ``git_commit`` for a source checkout.
    """
    import torch

    machine: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": bool(torch.cuda.is_available()),
    }
    if torch.cuda.is_available():
        machine["cuda_device"] = torch.cuda.get_device_name(0)
        machine["cuda_version"] = torch.version.cuda
    return {
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["dlnkit"] + list(sys.argv[1:] if argv is None else argv)),
        "seed": seed,
        "device": device,
        "settings": {k: v for k, v in settings.items() if isinstance(v, (str, int, float, bool, type(None), list))},
        "versions": {
            "dlnkit": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            **{m: _version(m) for m in ("numpy", "scipy", "sympy", "hypothesis")},
        },
        "machine": machine,
        "git_commit": _git_commit(),
    }


def claims_metadata(claims: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """For each claim: title, source, group, kind, tolerance (rtol, atol, reason), its assumptions."""
    out: dict[str, dict[str, Any]] = {}
    for c in claims:
        tol = getattr(c, "tolerance", None)
        out[str(c.id)] = {
            "title": str(getattr(c, "title", "")),
            "source": str(getattr(c, "source", "")),
            "group": str(getattr(c, "group", "") or ""),
            "kind": str(getattr(c, "kind", "")),
            "tolerance": {
                "rtol": getattr(tol, "rtol", None),
                "atol": getattr(tol, "atol", None),
                "reason": str(getattr(tol, "reason", "")),
            },
            "assumptions": {a.name: a.statement for a in getattr(c, "assumptions", ())},
            "origin": getattr(c, "origin", None),
        }
    return out
