"""Split a Hessian spectrum into dominant / bulk / zero clusters (docs/claims.md#b1)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError


def _as_sorted(eigs: npt.ArrayLike) -> np.ndarray:
    try:
        import torch

        if isinstance(eigs, torch.Tensor):
            eigs = eigs.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    ev = np.sort(np.asarray(eigs, dtype=np.float64).reshape(-1))[::-1]
    if not np.all(np.isfinite(ev)):
        raise DlnkitInputError("spectrum contains non-finite values")
    return ev


@dataclass
class ClusterSplit:
    """A spectrum cut into clusters. ``ratio`` = mean(dominant) / mean(bulk) (nan when a cluster is empty).

    Attributes
    ----------
    dominant, bulk, zero, negative
        The eigenvalues of each cluster (NumPy arrays).
    method
        How the split was made (``"counts"`` or ``"gaps"``).
    """

    dominant: np.ndarray
    bulk: np.ndarray
    zero: np.ndarray
    negative: np.ndarray = field(default_factory=lambda: np.zeros(0))
    method: str = ""

    @property
    def counts(self) -> dict[str, int]:
        return {
            "dominant": len(self.dominant),
            "bulk": len(self.bulk),
            "zero": len(self.zero),
            "negative": len(self.negative),
        }

    @property
    def dominant_mean(self) -> float:
        return float(np.mean(self.dominant)) if len(self.dominant) else float("nan")

    @property
    def bulk_mean(self) -> float:
        return float(np.mean(self.bulk)) if len(self.bulk) else float("nan")

    @property
    def ratio(self) -> float:
        if not (len(self.bulk) and len(self.dominant)) or self.bulk_mean == 0.0:
            return float("nan")  # no bulk, or a bulk that underflowed to zero: no ratio to report
        return self.dominant_mean / self.bulk_mean

    def summary(self) -> dict[str, object]:
        return {
            "counts": self.counts,
            "dominant_mean": self.dominant_mean,
            "bulk_mean": self.bulk_mean,
            "ratio": self.ratio,
            "method": self.method,
        }


@checked
def split_by_counts(eigs: npt.ArrayLike, n_dominant: int, n_bulk: int) -> ClusterSplit:
    """Top ``n_dominant`` eigenvalues are dominant, the next ``n_bulk`` bulk, the rest zero.

    Parameters
    ----------
    eigs
        Eigenvalues in any order.
    n_dominant, n_bulk
        Sizes of the top two clusters.

    Returns
    -------
    ClusterSplit

    Raises
    ------
    DlnkitInputError
        The counts exceed the number of eigenvalues or are negative.

    Examples
    --------
    >>> s = split_by_counts([6.0, 0.0, 2.0, 6.0, 2.0], 2, 2)
    >>> s.counts["zero"], s.ratio
    (1, 3.0)
    """
    ev = _as_sorted(eigs)
    if n_dominant < 0 or n_bulk < 0 or n_dominant + n_bulk > len(ev):
        raise DlnkitInputError(f"cannot take {n_dominant} dominant + {n_bulk} bulk from {len(ev)} eigenvalues")
    return ClusterSplit(
        ev[:n_dominant], ev[n_dominant : n_dominant + n_bulk], ev[n_dominant + n_bulk :], method="counts"
    )


@checked
def split_by_gaps(eigs: npt.ArrayLike, *, zero_rtol: float = 1e-8) -> ClusterSplit:
    """Data-driven split: |lambda| <= zero_rtol * max|lambda| is zero, negatives apart, and the
    positive rest is cut at its largest gap in log scale (dominant above, bulk below).

    Parameters
    ----------
    eigs
        Eigenvalues in any order.
    zero_rtol
        Relative threshold of the zero cluster.

    Returns
    -------
    ClusterSplit
        With ``method = "gaps"``; a single positive eigenvalue is all dominant.

    Examples
    --------
    >>> s = split_by_gaps([9.0, 8.5, 1.1, 1.0, 1e-14, -0.2])
    >>> s.counts
    {'dominant': 2, 'bulk': 2, 'zero': 1, 'negative': 1}
    """
    ev = _as_sorted(eigs)
    scale = np.max(np.abs(ev)) if len(ev) else 0.0
    tol = zero_rtol * scale
    pos, zero, neg = ev[ev > tol], ev[np.abs(ev) <= tol], ev[ev < -tol]
    if len(pos) <= 1:
        return ClusterSplit(pos, np.zeros(0), zero, neg, method="gaps")
    logs = np.log(pos)
    cut = int(np.argmax(logs[:-1] - logs[1:])) + 1
    return ClusterSplit(pos[:cut], pos[cut:], zero, neg, method="gaps")
