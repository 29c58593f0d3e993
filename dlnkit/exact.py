"""Exact mode, the public names in one place (``dlnkit.exact``): the rational points and helpers
(:mod:`dlnkit.configs.exact_points`), the rows of exact routes (:mod:`dlnkit.claims.exact_comparisons`)
and ``dlnkit verify --exact`` (:mod:`dlnkit.engines.exact_mode`). Re-exports only."""

from __future__ import annotations

from dlnkit.claims.exact_comparisons import route_comparison, value_comparison
from dlnkit.configs.exact_points import (
    DIFFERENTIATION_MAX_PARAMS,
    EXACT_MAX_PARAMS,
    FLOAT_VS_EXACT_RTOL,
    exact_equal,
    exact_hessian,
    exact_point,
    float_point,
    float_vs_exact_hessian,
    num_params,
    rational,
)
from dlnkit.engines.exact_mode import check_exact, exact_configs, exact_results, has_exact_route
from dlnkit.theory.exact_hessian import end_to_end_exact

__all__ = [
    "EXACT_MAX_PARAMS",
    "DIFFERENTIATION_MAX_PARAMS",
    "FLOAT_VS_EXACT_RTOL",
    "rational",
    "num_params",
    "exact_point",
    "end_to_end_exact",
    "exact_hessian",
    "float_point",
    "float_vs_exact_hessian",
    "exact_equal",
    "route_comparison",
    "value_comparison",
    "has_exact_route",
    "check_exact",
    "exact_configs",
    "exact_results",
]
