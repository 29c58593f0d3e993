"""``dlnkit.strategies``: the public Hypothesis strategies for deep linear networks (defined in
:mod:`dlnkit.configs.strategies`, below the claims that use them). Re-exports only."""

from __future__ import annotations

from dlnkit.configs.strategies import (
    anisotropic_data,
    anisotropy_factors,
    balanced_aligned_points,
    depth_point_configs,
    dims,
    generic_points,
    global_minima,
    near_minimum_points,
    orthogonal_matrices,
    rational_points,
    rational_weights,
    seeds,
    singular_values,
    small_enough,
    target_spectra,
    whitened_data,
)

__all__ = [
    "anisotropic_data",
    "anisotropy_factors",
    "balanced_aligned_points",
    "depth_point_configs",
    "dims",
    "generic_points",
    "global_minima",
    "near_minimum_points",
    "orthogonal_matrices",
    "rational_points",
    "rational_weights",
    "seeds",
    "singular_values",
    "small_enough",
    "target_spectra",
    "whitened_data",
]
