r"""Bounds on the symbolic derivations whose cost explodes with a number the caller gives.

SymPy's cost on these routes grows far faster than the size of the answer (partial fractions of
:math:`1/(w^{L-1}(1-w^L))` follow the factorisation of :math:`w^L - 1`; a symbolic Hessian's
eigenvalues need a characteristic polynomial of degree 4L), so a depth of 200 or widths of 400
would not finish in hours. Each route checks its size against the bound below *before* it
starts and raises :class:`SymbolicCostError` (a ``ValueError``, one line) naming the bound and
what to use instead. The bounds are measured on one core (SymPy 1.13/1.14, times with the
import subtracted) and leave the largest case that was seen to finish within about 30 s:

* :func:`~dlnkit.theory.classic_learning_curves.implicit_time`: L <= 14 (L = 10: 21 s, L = 13:
  10 s, L = 14: 3.5 s; L = 16 over 45 s, L = 20: 38 s, L = 200 did not finish);
* :func:`~dlnkit.theory.classic_origin.partial_solution_pair_eigenvalues`: L <= 5 (L = 4: 6.5 s,
  L = 5: 25 s, L = 6 over 45 s);
* :func:`~dlnkit.theory.dln_spectrum.derive_jjt_aligned`: L (d_out d_in)^2 <= 2e6 symbolic
  entries built (1.6e6: 4 s; widths 400 would be 5e10);
* :func:`~dlnkit.theory.dln_spectrum.balanced_minimum_spectrum_numeric`: P <= 5e7 parameters
  (its arrays hold about five P-long float64 copies: 426 MiB measured at P = 1.8e7);
* :func:`~dlnkit.theory.alignment.derive_dln_layer_block`: m, n, p, q <= 4 (with the import, on a
  loaded machine: (3, 3, 3, 3) 19 s, (4, 4, 4, 4) 45 s, (6, 6, 6, 6) over 60 s);
* the explicit velocity comparisons of :mod:`~dlnkit.theory.classic_end_to_end`: depth and n <= 8
  (with the import, loaded: balanced (8, 8) 11 s, rescaled (8, 8) 32 s).

>>> try:
...     check_symbolic_size("depth L", 200, 14, "implicit_time")
... except SymbolicCostError as exc:
...     print(str(exc)[:45])
implicit_time: depth L = 200 is above 14, the
"""

from __future__ import annotations

from dlnkit.arguments import DlnkitInputError, checked

IMPLICIT_TIME_MAX_DEPTH = 14
PAIR_EIGENVALUES_MAX_DEPTH = 5
JJT_MAX_ENTRIES = 2_000_000
NUMERIC_SPECTRUM_MAX_PARAMS = 50_000_000
LAYER_BLOCK_MAX_SIZE = 4
VELOCITY_MAX_SIZE = 8


class SymbolicCostError(DlnkitInputError):
    """A derivation asked at a size whose cost explodes, refused before it starts (a
    :class:`~dlnkit.arguments.DlnkitInputError`, so a ``ValueError``: the API's and the CLI's one
    input error, exit 2)."""


#: why a bound is where it is, by default
WITHIN_30_S = "the largest this symbolic route finishes in about 30 s"


@checked
def check_symbolic_size(
    what: str, value: int, limit: int, route: str, instead: str = "", *, why: str = WITHIN_30_S
) -> None:
    """Raise :class:`SymbolicCostError` when ``value`` (the ``what`` of ``route``) exceeds ``limit``."""
    if int(value) > int(limit):
        raise SymbolicCostError(
            f"{route}: {what} = {value} is above {limit}, {why}" + (f"; {instead}" if instead else "")
        )


__all__ = [
    "IMPLICIT_TIME_MAX_DEPTH",
    "PAIR_EIGENVALUES_MAX_DEPTH",
    "JJT_MAX_ENTRIES",
    "NUMERIC_SPECTRUM_MAX_PARAMS",
    "LAYER_BLOCK_MAX_SIZE",
    "VELOCITY_MAX_SIZE",
    "SymbolicCostError",
    "check_symbolic_size",
]
