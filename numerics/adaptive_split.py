r"""The "adaptive_threshold" split of arXiv:2602.00545's public code, restated in our own code.

Rule (eigenvalues sorted in decreasing order):

1. keep the eigenvalues above ``fraction`` (1 %) of the largest one;
2. the dominant cluster ends at the largest gap between consecutive kept eigenvalues
   (the first one when several gaps are equal);
3. the bulk starts right after it and ends at the largest gap *after* that one; when the
   largest gap is the last one, the bulk is the last kept eigenvalue alone;
4. everything else (kept eigenvalues after the bulk's closing gap, and those below the
   threshold) belongs to neither cluster.

Gaps are absolute differences, not ratios. The figure's ratio is then mean(dominant) /
mean(bulk); the routine the paper used for that last step is not in its public code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dlnkit.numerics.spectra import ClusterSplit, _as_sorted

PAPER_THRESHOLD_FRACTION = 0.01


@dataclass
class AdaptiveSplit:
    """The clusters of the adaptive rule and where its cuts fell (indices into the sorted spectrum)."""

    split: ClusterSplit
    threshold: float
    kept: int
    dominant_end: int
    bulk_end: int

    @property
    def ratio(self) -> float:
        return self.split.ratio

    def summary(self) -> dict[str, object]:
        return {
            **self.split.summary(),
            "threshold": self.threshold,
            "kept": self.kept,
            "dominant_end": self.dominant_end,
            "bulk_end": self.bulk_end,
        }


def split_adaptive_threshold(eigs: Any, fraction: float = PAPER_THRESHOLD_FRACTION) -> AdaptiveSplit:
    """Cut a spectrum with the adaptive-threshold rule (module doc).

    >>> s = split_adaptive_threshold([7.0, 7.0, 1.2, 1.1, 1.0, 1.0, 0.3, 1e-5, 0.0])
    >>> s.split.counts["dominant"], s.split.counts["bulk"], s.kept
    (2, 4, 7)
    >>> round(s.ratio, 6)
    6.511628
    """
    ev = _as_sorted(eigs)
    if len(ev) == 0:
        empty = np.zeros(0)
        return AdaptiveSplit(ClusterSplit(empty, empty, empty, method="adaptive-threshold"), 0.0, 0, 0, 0)
    threshold = float(ev[0]) * float(fraction)
    kept = ev[ev > threshold]
    n = len(kept)
    if n <= 1:
        return AdaptiveSplit(ClusterSplit(kept, np.zeros(0), ev[n:], method="adaptive-threshold"), threshold, n, n, n)
    gaps = kept[:-1] - kept[1:]
    first = int(np.argmax(gaps))
    dominant_end = first + 1
    if first + 1 < len(gaps):
        second = int(np.argmax(gaps[first + 1 :])) + first + 1
        bulk_end = second + 1
    else:
        bulk_end = n
    split = ClusterSplit(kept[:dominant_end], kept[dominant_end:bulk_end], ev[bulk_end:], method="adaptive-threshold")
    return AdaptiveSplit(split, threshold, n, dominant_end, bulk_end)
