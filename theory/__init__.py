"""dlnkit.theory: closed forms and symbolic derivations in SymPy (never imports torch).

Every public function returns SymPy expressions (or small structures of them); numbers come
from :func:`sympy.lambdify`, so the numeric side never re-types a formula.
"""

from dlnkit.theory.dln_spectrum import (
    SpectrumGroup,
    aligned_minimum_weights,
    balanced_minimum_spectrum,
    balanced_minimum_spectrum_numeric,
    derive_jjt_aligned,
    dominant_eigenvalue,
    dominant_eigenvalue_closed_form,
    equal_targets_mean_ratio,
    read_off_spectrum,
)
from dlnkit.theory.symbols import L, d_in, d_out, l, m, r, target_symbols

__all__ = [
    "L",
    "l",
    "r",
    "d_in",
    "d_out",
    "m",
    "target_symbols",
    "SpectrumGroup",
    "aligned_minimum_weights",
    "derive_jjt_aligned",
    "read_off_spectrum",
    "dominant_eigenvalue",
    "dominant_eigenvalue_closed_form",
    "balanced_minimum_spectrum",
    "balanced_minimum_spectrum_numeric",
    "equal_targets_mean_ratio",
]
