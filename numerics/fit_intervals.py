r"""Confidence intervals of the log-log exponents (alpha, gamma, s) by a pairs bootstrap over the fit window.

The exponents of :mod:`dlnkit.numerics.fits` are least-squares slopes through n points
:math:`(\log x_k, \log y_k)` of one fit window (the k retained gradient directions, or the positive
top eigenvalues). :func:`bootstrap_interval` resamples those n points with replacement
(``n_boot`` times, a fixed seed), refits, and reports the percentile interval of the exponent. It
measures how much the exponent depends on which directions of the window carry it (scatter about
the line); it is **not** a resampling of the data set, which would need a new capture per resample.
With fewer than :data:`MIN_FIT_POINTS` points no interval is given (a line through 2-4 points says
little, whatever its R^2), and the fit is flagged ``few_points``.

>>> x = np.arange(1.0, 11.0); lo, hi = bootstrap_interval(x, 3 * x**-1.5, sign=-1.0)
>>> round(lo, 10), round(hi, 10)
(1.5, 1.5)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError, check_vectors

#: fewer points than this: no interval, and the fit is flagged few_points
MIN_FIT_POINTS = 5
METHOD = "pairs bootstrap over the fit window's points (not over data resamples)"


@checked
def bootstrap_interval(
    x: npt.ArrayLike, y: npt.ArrayLike, *, sign: float = 1.0, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of ``sign * slope`` of log y on log x (positive entries), or (nan, nan)
    with fewer than MIN_FIT_POINTS points."""
    xa, ya = check_vectors(
        "bootstrap_interval", x=np.ravel(np.asarray(x, dtype=object)), y=np.ravel(np.asarray(y, dtype=object))
    )
    if n_boot < 1 or not 0 < level < 1:
        raise DlnkitInputError(f"bootstrap_interval(): need n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    keep = (xa > 0) & (ya > 0) & np.isfinite(xa) & np.isfinite(ya)
    lx, ly = np.log(xa[keep]), np.log(ya[keep])
    n = lx.size
    if n < MIN_FIT_POINTS:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    X, Y = lx[idx], ly[idx]
    Xc = X - X.mean(1, keepdims=True)
    sxx = (Xc * Xc).sum(1)
    ok = sxx > 0  # a resample of one repeated point has no slope
    slopes = (Xc * (Y - Y.mean(1, keepdims=True))).sum(1)[ok] / sxx[ok]
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(sign * slopes, [a, 1.0 - a])
    return float(lo), float(hi)


__all__ = ["METHOD", "MIN_FIT_POINTS", "bootstrap_interval"]
