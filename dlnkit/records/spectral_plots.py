"""Plots of spectral densities (matplotlib, Agg): the SLQ density with the top eigenvalues, and
optionally the exact eigenvalues as a histogram for comparison."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.


def density_grid(result: Any, *, exact: Sequence[float] | None = None, num: int = 800, pad: float = 0.05) -> np.ndarray:
    """A grid covering the SLQ nodes (and the exact eigenvalues), padded by ``pad`` of the range."""
    x, _ = result.atoms()
    lo, hi = float(x.min()), float(x.max())
    if exact is not None and len(exact):
        lo, hi = min(lo, float(np.min(exact))), max(hi, float(np.max(exact)))
    span = max(hi - lo, 1e-12)
    return np.linspace(lo - pad * span, hi + pad * span, num)


def plot_density(
    result: Any,
    path: str | Path | None = None,
    *,
    ax: Any = None,
    exact: Sequence[float] | None = None,
    top: Sequence[float] | None = None,
    sigma: float | None = None,
    title: str = "",
    label: str = "SLQ density",
) -> Any:
    """Draw the smoothed SLQ density (log scale); ``exact`` eigenvalues as a normalised histogram,
    ``top`` eigenvalues as vertical lines. Saves to ``path`` atomically when given; returns the axes."""
    # no matplotlib.use(...): switching the backend here would close the figures of a notebook or
    # a script that called this (a notebook's second figure vanished); a figure saved to a file is
    # a bare Figure, which needs no backend, and one drawn on the caller's axes uses theirs
    own = ax is None
    if own and path is not None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 3.8))
        ax = fig.subplots()
    elif own:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    grid = density_grid(result, exact=exact)
    dens = result.density(grid, sigma=sigma)
    floor = 1e-6 * max(float(dens.max()), 1e-300)
    ax.semilogy(grid, np.maximum(dens, floor), "-", lw=1.4, label=label)
    if exact is not None and len(exact):
        ev = np.asarray(exact, dtype=np.float64)
        ax.hist(ev, bins=80, density=True, alpha=0.35, color="gray", label=f"exact eigenvalues ({len(ev)})")
    for i, t in enumerate(top or []):
        ax.axvline(float(t), color="C3", lw=0.8, ls=":", label="top eigenvalues (Lanczos)" if i == 0 else None)
    ax.set_ylim(bottom=floor)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    if own and path is not None:
        from dlnkit.records.outputs import atomic_output

        fig.tight_layout()
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    return ax
