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
  (its arrays hold about five P-long float64 copies: 426 MiB measured at P = 1.8e7).

>>> try:
...     check_symbolic_size("depth L", 200, 14, "implicit_time")
... except SymbolicCostError as exc:
...     print(str(exc)[:45])
implicit_time: depth L = 200 is above 14, the
"""

from __future__ import annotations

IMPLICIT_TIME_MAX_DEPTH = 14
PAIR_EIGENVALUES_MAX_DEPTH = 5
JJT_MAX_ENTRIES = 2_000_000
NUMERIC_SPECTRUM_MAX_PARAMS = 50_000_000


class SymbolicCostError(ValueError):
    """A derivation asked at a size whose cost explodes, refused before it starts."""


#: why a bound is where it is, by default
WITHIN_30_S = "the largest this symbolic route finishes in about 30 s"


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
    "SymbolicCostError",
    "check_symbolic_size",
]
