r"""Power-law fits with their :math:`R^2`, participation ratios and the zeta bound (numbers only).

Conventions (arXiv:2606.02596; docs/claims.md#a1, #a4, #a5), every fit an ordinary least-squares line in
log-log coordinates over the entries where both coordinates are positive:

* :math:`\alpha`: slope of :math:`\log h_k` on :math:`\log \sigma_k` (curvature exponent);
* :math:`\gamma`: minus the slope of :math:`\log \sigma_k` on :math:`\log k`, so :math:`\sigma_k\propto k^{-\gamma}`;
* :math:`s`: minus the slope of :math:`\log v_{(k)}` on :math:`\log k` for a sequence sorted in
  decreasing order (``s_dir`` on the directional curvatures, ``s_eig`` on true eigenvalues);
* :math:`PR = (\sum v_k)^2 / \sum v_k^2` and the bound :math:`\zeta(s)^2/\zeta(2s)` for
  :math:`s > 1` (infinite otherwise).

The least-squares slope is linear in the response, so for positive sequences with
:math:`h = \chi\Phi\Lambda` the fitted slopes add exactly over a common index set (used by
claim ``A2-decomposition``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import zeta

from dlnkit.numerics.validation import DlnkitInputError


@dataclass(frozen=True)
class PowerLawFit:
    """A least-squares line y = slope * x + intercept in log-log coordinates.

    ``exponent`` is the slope with the sign convention of the quantity (alpha: +slope;
    gamma, s: -slope); ``r2`` the coefficient of determination; ``n`` the points used.
    """

    exponent: float
    slope: float
    intercept: float
    r2: float
    n: int


def _as_1d(x: npt.ArrayLike, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        raise DlnkitInputError(f"{what} must be finite")
    return a


def ls_line(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, float, float]:
    """Slope, intercept and R^2 of the ordinary least-squares line through (x, y).

    >>> ls_line([0.0, 1.0, 2.0], [1.0, 3.0, 5.0])
    (2.0, 1.0, 1.0)
    """
    x = _as_1d(x, "x")
    y = _as_1d(y, "y")
    if x.size != y.size:
        raise DlnkitInputError(f"x and y need equal lengths, got {x.size} and {y.size}")
    if x.size < 2:
        raise DlnkitInputError("a line needs at least two points")
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx == 0.0:
        raise DlnkitInputError("all x values are equal: the slope is undefined")
    slope = float(xc @ (y - y.mean())) / sxx
    intercept = float(y.mean() - slope * x.mean())
    resid = y - (slope * x + intercept)
    syy = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / syy if syy > 0 else 1.0
    return slope, intercept, r2


def loglog_fit(x: npt.ArrayLike, y: npt.ArrayLike, *, sign: float = 1.0) -> PowerLawFit:
    """Fit log y on log x over entries with x > 0 and y > 0; ``exponent = sign * slope``."""
    x = _as_1d(x, "x")
    y = _as_1d(y, "y")
    keep = (x > 0) & (y > 0)
    if keep.sum() < 2:
        raise DlnkitInputError(f"need at least two positive points for a log-log fit, got {int(keep.sum())}")
    slope, intercept, r2 = ls_line(np.log(x[keep]), np.log(y[keep]))
    return PowerLawFit(sign * slope, slope, intercept, r2, int(keep.sum()))


def fit_alpha(sigma: npt.ArrayLike, h: npt.ArrayLike) -> PowerLawFit:
    """Curvature exponent: h_k ~ c sigma_k^alpha.

    >>> s = np.array([4.0, 2.0, 1.0]); round(fit_alpha(s, 3 * s ** 1.5).exponent, 12)
    1.5
    """
    return loglog_fit(sigma, h, sign=1.0)


def fit_gamma(sigma: npt.ArrayLike) -> PowerLawFit:
    """Spectral decay of the gradient: sigma_k ~ k^(-gamma), k = 1, 2, ... in the given order."""
    sigma = _as_1d(sigma, "sigma")
    return loglog_fit(np.arange(1, sigma.size + 1, dtype=np.float64), sigma, sign=-1.0)


def fit_decay(values: npt.ArrayLike) -> PowerLawFit:
    """Rank-ordered decay: sort decreasing, fit v_(k) ~ k^(-s) (s_dir, s_eig).

    >>> round(fit_decay([1 / 9, 1.0, 1 / 4]).exponent, 12)
    2.0
    """
    v = np.sort(_as_1d(values, "values"))[::-1]
    return loglog_fit(np.arange(1, v.size + 1, dtype=np.float64), v, sign=-1.0)


def participation_ratio(values: npt.ArrayLike) -> float:
    """(sum v)^2 / sum v^2 (between 1 and the number of nonzero entries for v >= 0).

    >>> participation_ratio([1.0, 1.0, 1.0, 1.0])
    4.0
    """
    v = _as_1d(values, "values")
    den = float((v * v).sum())
    if den == 0.0:
        raise DlnkitInputError("participation ratio of an all-zero sequence is undefined")
    return float(v.sum()) ** 2 / den


def zeta_bound(s: float) -> float:
    """zeta(s)^2 / zeta(2s): the PR of the infinite power law k^(-s); +inf for s <= 1.

    >>> round(zeta_bound(2.0), 12)
    2.5
    """
    s = float(s)
    if not np.isfinite(s):
        raise DlnkitInputError("the exponent must be finite")
    if s <= 1.0:
        return float("inf")
    return float(zeta(s) ** 2 / zeta(2 * s))


def power_law_window(s: float, size: int, start: int = 1) -> np.ndarray:
    """k^(-s) for k = start, ..., start + size - 1."""
    if size < 1 or start < 1:
        raise DlnkitInputError(f"need size >= 1 and start >= 1, got size={size}, start={start}")
    k = np.arange(start, start + size, dtype=np.float64)
    return k ** (-float(s))


def power_law_window_pr(s: float, size: int, start: int = 1) -> float:
    """PR of the window k^(-s), k = start..start+size-1 (exact finite sums)."""
    return participation_ratio(power_law_window(s, size, start))
