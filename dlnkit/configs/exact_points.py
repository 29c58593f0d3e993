r"""Exact mode: claims checked in rational arithmetic, and the float64 route checked against it.

A configuration describes a point; :func:`exact_point` builds a *rational* version of it (same
dims, rank and kind of point; rational orthogonal bases by the Cayley transform, per-layer
singular values rounded to small fractions, rational balance / misalignment / offset /
anisotropy), so every Hessian entry is an exact rational (:mod:`dlnkit.theory.exact_hessian`).
Zero counts, ranks and eigenvalue multiplicities are then exact integers, and predictions are
compared with **zero tolerance**. The float64 route (closed form and torch.func) is evaluated at
the same rational point, converted to float64, and compared with the exact Hessian.

This module holds the exact helpers that claims build their exact routes from (it sits below the
claims): the rational point, its exact Hessian, its float64 copy and exact equality. A claim has an
exact route when it implements :meth:`~dlnkit.claims.base.Claim.exact_measure` (the depth claims:
:mod:`dlnkit.claims.depth_exact`; a user claim: ``exact_measure`` in :func:`dlnkit.define_claim`);
:mod:`dlnkit.engines.exact_mode` runs them (``dlnkit verify --exact``). Sizes are limited to
``EXACT_MAX_PARAMS`` parameters (exact elimination grows quickly); larger configurations are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sympy as sp

from dlnkit.arguments import DlnkitInputError, checked
from dlnkit.theory.exact_hessian import exact_dln_hessian
from dlnkit.theory.exact_point import exact_num_params, exact_point as theory_exact_point, rational

if TYPE_CHECKING:
    from dlnkit.numerics.point import Point

# Deferred imports: torch, SymPy and the float64 Hessian routes load only in the routine that
# needs them (an exact point needs no torch until it is converted to float64).

#: the largest parameter count checked in exact arithmetic (a rank of a 60 x 60 rational matrix
#: takes ~0.1 s; the B1 check needs one per distinct eigenvalue)
EXACT_MAX_PARAMS = 60
#: the Taylor-coefficient route (independent of the closed form) is used up to this size
DIFFERENTIATION_MAX_PARAMS = 40
#: float64 vs exact: both float routes are exact up to rounding; entries are sums of O(P) products
#: of O(1) numbers, so ~1e-15 relative; 1e-12 relative to max |H| leaves room
FLOAT_VS_EXACT_RTOL = 1e-12


#: exact points above this many rational numbers (weights + d_in^2 + d_out d_in) are refused up
#: front: SymPy's rational products grow like d^3 and a 3000 x 3000 point takes many minutes
EXACT_POINT_MAX_NUMBERS = 20_000


@checked
def num_params(config: Mapping) -> int | None:
    """P for a configuration with ``dims`` (or ``weights``), else None."""
    if "weights" in config:
        return sum(len(W) * len(W[0]) for W in config["weights"])
    d = config.get("dims")
    if d is None:
        return None
    return exact_num_params(d)


@checked
def exact_point(config: Mapping) -> dict:
    """The rational point of a configuration (see :func:`dlnkit.theory.exact_point.exact_point`);
    bad input raises :class:`~dlnkit.numerics.validation.DlnkitInputError`.

    Parameters
    ----------
    config
        A configuration dict (``dims``, ``t``, ``seed`` and the perturbation keys).

    Returns
    -------
    dict
        ``weights`` (SymPy rational matrices), ``sigma``, ``cross``, ``target``, ``dims`` and
        ``t_exact`` (the rational target singular values).

    Raises
    ------
    DlnkitInputError
        A configuration that cannot be made exact (bad sizes, non-finite values, too large).

    Examples
    --------
    >>> from dlnkit.theory.exact_hessian import end_to_end_exact
    >>> pt = exact_point({"dims": [2, 3, 2], "t": [2.0], "seed": 0})
    >>> end_to_end_exact(pt["weights"]) == pt["target"]
    True
    """
    from dlnkit.numerics.validation import DlnkitInputError

    if not isinstance(config, Mapping):
        raise DlnkitInputError(f"a configuration must be a dict, got {type(config).__name__}")
    try:
        size = num_params(config) or 0
        d = config.get("dims") or []
        size += (int(d[0]) ** 2 + int(d[0]) * int(d[-1])) if len(d) >= 2 else 0
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):
        size = 0  # malformed: the point builder below gives the precise error
    if size > EXACT_POINT_MAX_NUMBERS:
        raise DlnkitInputError(
            f"configuration too large for exact rational arithmetic ({size} rational numbers in "
            f"weights, covariance and target; at most {EXACT_POINT_MAX_NUMBERS}): use the float64 "
            "routes (dlnkit.build_point) instead"
        )
    try:
        return theory_exact_point(config)
    except DlnkitInputError:
        raise
    except ValueError as exc:
        raise DlnkitInputError(str(exc)) from None


@checked
def exact_hessian(point: Mapping, *, parts: bool = False) -> sp.Matrix | tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    """The exact Hessian (SymPy rational matrix) at an :func:`exact_point`.

    Parameters
    ----------
    point
        What :func:`exact_point` returns.
    parts
        Also return the Gauss-Newton and residual parts.

    Returns
    -------
    sympy.Matrix or tuple
        The P x P rational Hessian, or ``(H, H_GN, H_res)`` with ``parts``.
    """
    return exact_dln_hessian(point["weights"], point["sigma"], point["cross"], parts=parts)


@checked
def float_point(point: Mapping, device: str = "cpu") -> Point:
    """The float64 :class:`dlnkit.api.Point` of a rational point (same numbers, rounded once)."""
    import torch

    from dlnkit.numerics.point import Point

    f = lambda M: torch.tensor([[float(x) for x in row] for row in M.tolist()], dtype=torch.float64, device=device)
    return Point(
        [f(W) for W in point["weights"]],
        f(point["sigma"]),
        f(point["cross"]),
        f(point["target"]),
        dims=list(point["dims"]),
    )


@checked
def float_vs_exact_hessian(point: Mapping, H_exact: sp.Matrix | None = None) -> dict:
    """Max |H_float - H_exact| / max |H_exact| for the closed form and for torch.func."""
    import torch

    from dlnkit.configs.point_hessians import autograd_hessian, hessian

    H_exact = exact_hessian(point) if H_exact is None else H_exact
    fp = float_point(point)
    He = torch.tensor([[float(x) for x in row] for row in H_exact.tolist()], dtype=torch.float64)
    scale = max(float(He.abs().max()), 1e-300)
    out = {}
    for name, H in (("closed_form", hessian(fp)), ("torch_func", autograd_hessian(fp))):
        out[name] = float((H.cpu() - He).abs().max()) / scale
    return out


# ----- comparing exact values ---------------------------------------------------------------------


@checked
def exact_value(x: Any, what: str = "an exact value") -> Any:
    """``x`` as SymPy: a number (int, Fraction, float, SymPy), a SymPy matrix, or a list/tuple of
    them; anything else (None, a bool, a string, a tensor) is a :class:`DlnkitInputError`."""
    if isinstance(x, sp.MatrixBase):
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(exact_value(e, what) for e in x)
    if isinstance(x, (bool, str, bytes)) or x is None:
        raise DlnkitInputError(f"{what} must be a number, a SymPy matrix or a list of them, got {type(x).__name__}")
    try:
        value = sp.sympify(x, strict=True)
    except (sp.SympifyError, TypeError, ValueError):
        value = None
    if not isinstance(value, (sp.Expr, sp.MatrixBase)):  # a dict, a set, a boolean: no number
        raise DlnkitInputError(f"{what} must be a number, a SymPy matrix or a list of them, got {type(x).__name__}")
    return value


@checked
def exact_equal(a: Any, b: Any) -> bool:
    """Exact equality of SymPy numbers, matrices or lists of them (different structures: False)."""
    a, b = exact_value(a), exact_value(b)
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        if not (isinstance(a, (sp.MatrixBase, list, tuple)) and isinstance(b, (sp.MatrixBase, list, tuple))):
            return False
        try:
            A, B = sp.Matrix(a), sp.Matrix(b)
        except (ValueError, TypeError, sp.SympifyError):
            return False
        return A.shape == B.shape and all(sp.simplify(x - y) == 0 for x, y in zip(A, B))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
            return False
        return len(a) == len(b) and all(exact_equal(x, y) for x, y in zip(a, b))
    d = sp.simplify(a - b)
    return bool(d == 0)


def display_exact(x) -> str:
    s = str(x)
    return s if len(s) <= 40 else s[:39] + "…"


def exact_error(a, b) -> float:
    try:
        if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
            return float(max(abs(x - y) for x, y in zip(sp.Matrix(a), sp.Matrix(b))))
        return float(abs(sp.sympify(a) - sp.sympify(b)))
    except (TypeError, ValueError, sp.SympifyError):
        return math.inf


__all__ = [
    "EXACT_MAX_PARAMS",
    "DIFFERENTIATION_MAX_PARAMS",
    "FLOAT_VS_EXACT_RTOL",
    "EXACT_POINT_MAX_NUMBERS",
    "rational",
    "num_params",
    "exact_point",
    "exact_hessian",
    "float_point",
    "float_vs_exact_hessian",
    "exact_equal",
    "display_exact",
    "exact_error",
]
