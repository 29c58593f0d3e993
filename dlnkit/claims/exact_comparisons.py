"""The :class:`~dlnkit.claims.base.Comparison` rows of exact routes: an exact prediction against an
exact measurement (zero tolerance), and an exact route that also checks the float64 route."""

from __future__ import annotations

import math
from collections.abc import Mapping

from dlnkit.arguments import DlnkitInputError, checked
from dlnkit.claims.base import Comparison
from dlnkit.configs.exact_points import display_exact, exact_equal, exact_error


@checked
def route_comparison(
    *,
    exact_predicted,
    exact_measured,
    float_errors: Mapping[str, float],
    float_bound: float,
    predicted: str,
    measured: str,
    details: Mapping | None = None,
) -> Comparison:
    """The :class:`Comparison` of an exact route that also checks the float64 route: it passes when
    the exact values are equal and every float64-vs-exact error is within ``float_bound``
    (error 0; 1 for an exact mismatch; inf when the float64 route is off), bound 0."""
    ok = exact_equal(exact_predicted, exact_measured)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in float_errors.values()):
        raise DlnkitInputError(f"float_errors must map route names to numbers, got {dict(float_errors)!r}")
    float_ok = all(v <= float_bound for v in float_errors.values())
    err = 0.0 if ok and float_ok else (math.inf if not float_ok else 1.0)
    return Comparison(
        exact_predicted,
        exact_measured,
        err,
        0.0,
        predicted,
        measured + ("" if float_ok else " (float64 route off)"),
        details={**(details or {}), "float_vs_exact": dict(float_errors), "float_bound": float_bound},
    )


@checked
def value_comparison(predicted, measured, details: Mapping | None = None) -> Comparison:
    """The :class:`Comparison` of an exact prediction with an exact measurement (zero tolerance)."""
    ok = exact_equal(predicted, measured)
    return Comparison(
        predicted,
        measured,
        0.0 if ok else exact_error(predicted, measured),
        0.0,
        display_exact(predicted),
        display_exact(measured),
        details=dict(details or {}),
    )


def route_comparison_of(predicted, measurement: Mapping) -> Comparison:
    """:func:`route_comparison` of an exact prediction with an exact measurement dict (``value``,
    ``float_errors``, ``float_bound``, ``predicted_display``, ``measured_display``, ``details``:
    what the depth claims' ``exact_measure`` returns)."""
    return route_comparison(
        exact_predicted=predicted,
        exact_measured=measurement["value"],
        float_errors=measurement["float_errors"],
        float_bound=measurement["float_bound"],
        predicted=measurement["predicted_display"],
        measured=measurement["measured_display"],
        details=measurement.get("details"),
    )
