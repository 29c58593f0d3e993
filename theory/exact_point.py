r"""The rational point of a configuration: the exact counterpart of :mod:`dlnkit.numerics.point`.

Same option names and meanings as the float builders (``dims``, ``t``, ``seed``, ``balance``,
``misalignment``, ``offset``, ``anisotropy``, ``scale``, ``weights``/``sigma``/``target``), with
every number rationalised so that every Hessian entry is an exact rational
(:mod:`dlnkit.theory.exact_hessian`): orthogonal bases by the Cayley transform, per-layer
singular values rounded to small fractions.

>>> pt = exact_point({"dims": [2, 3, 2], "t": [2.0], "seed": 0})
>>> end_to_end_exact(pt["weights"]) == pt["target"]
True
>>> exact_num_params([3, 4, 2]), exact_layer_offsets([3, 4, 2])
(20, [0, 12, 20])
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import sympy as sp

from dlnkit.arguments import DlnkitInputError, checked
from dlnkit.theory.exact_hessian import (
    end_to_end_exact,
    exact_layer_offsets,
    exact_num_params,
    rational_orthogonal,
    to_rational_matrix,
)


@checked
def rational(x: numbers.Real | str | sp.Rational, max_denominator: int = 16) -> sp.Rational:
    """A small fraction close to ``x`` (exact values pass through).

    >>> rational(0.5), rational("2/3"), rational(1.4142135)
    (1/2, 2/3, 17/12)
    """
    if isinstance(x, sp.Rational):
        return x
    if max_denominator < 1:
        raise DlnkitInputError(f"rational(): max_denominator must be >= 1, got {max_denominator}")
    try:
        f = (
            Fraction(x)
            if isinstance(x, (str, int, Fraction))
            else Fraction(float(x)).limit_denominator(max_denominator)
        )
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        raise DlnkitInputError(
            f"rational(): x must be a finite number or a fraction like '2/3', got {type(x).__name__} {x!r}"
        ) from None
    return sp.Rational(f.numerator, f.denominator)


def _dims(config: Mapping[str, Any]) -> list[int]:
    dims = config["dims"]
    ok = isinstance(dims, (list, tuple)) and len(dims) >= 2
    ok = ok and all(not isinstance(d, (bool, float)) and int(d) == d and int(d) >= 1 for d in dims)
    if not ok:
        raise DlnkitInputError(f"dims must be a list of at least two positive integers, got {dims!r}")
    return [int(d) for d in dims]


def _covariance(d_in: int, anisotropy: float, rotation: sp.Matrix | None) -> sp.Matrix:
    """Rational Sigma with eigenvalues rational(k^(u - 1/2)), u = 0 .. 1 (rotated when a basis is given)."""
    if anisotropy == 1.0:
        return sp.eye(d_in)
    ev = [rational(anisotropy ** ((i / max(d_in - 1, 1)) - 0.5)) for i in range(d_in)]
    if rotation is None:
        return sp.diag(*ev)
    return rotation * sp.diag(*ev) * rotation.T


@checked
def exact_point(config: Mapping[str, Any]) -> dict[str, Any]:
    """The rational point of a configuration (mirrors :func:`dlnkit.numerics.point.build_point`):

    * ``weights`` given: those (fractions or ``"p/q"`` strings), ``sigma`` (default I), ``target`` (0);
    * ``t`` given: a balanced aligned global minimum with per-layer singular values
      s_i = rational(t_i^(1/L)) (so the exact target values are t'_i = s_i^L, returned as
      ``t_exact``), hidden widths below r realising the best rank-h map as in the float route,
      then ``balance`` c (W_1 -> c W_1, W_2 -> W_2/c), ``misalignment`` e (W_1 -> A W_1,
      W_2 -> W_2 A^-1, A = I + e K), ``offset`` e (W_L -> (1+e) W_L), ``anisotropy`` k
      (sigma = R diag(rational k^(u - 1/2)) R^T) -- all rationalised;
    * otherwise ``dims``, ``seed``: rational weights with entries n/4, |n| <= 4, scaled by
      ``scale``, and a rational target.

    Returns a dict with ``weights``, ``sigma``, ``cross`` = target sigma, ``target``, ``dims``
    (and ``t_exact`` for a minimum). Bad input raises ``DlnkitInputError`` (a ``ValueError``).
    """
    if "weights" in config:
        Ws = [to_rational_matrix(W) for W in config["weights"]]
        dims = [Ws[0].shape[1]] + [W.shape[0] for W in Ws]
        sigma = to_rational_matrix(config["sigma"]) if config.get("sigma") is not None else sp.eye(dims[0])
        target = (
            to_rational_matrix(config["target"]) if config.get("target") is not None else sp.zeros(dims[-1], dims[0])
        )
        return {"weights": Ws, "sigma": sigma, "target": target, "cross": target * sigma, "dims": dims}
    dims = _dims(config)
    seed = int(config.get("seed", 0))
    depth, d_in, d_out = len(dims) - 1, dims[0], dims[-1]
    rng = random.Random(seed * 1009 + 17)
    anisotropy = float(config.get("anisotropy", 1.0))
    if not anisotropy > 0 or not math.isfinite(anisotropy):
        raise DlnkitInputError(f"anisotropy must be a positive finite number, got {anisotropy}")
    if "t" in config:
        t = [float(x) for x in config["t"]]
        if not t or len(t) > min(d_in, d_out) or not all(math.isfinite(x) and x > 0 for x in t):
            raise DlnkitInputError(f"need 1 <= len(t) <= min(d_in, d_out) positive values, got {t}")
        s = [rational(x ** (1.0 / depth), 8) for x in t]
        s = [x if x > 0 else sp.Rational(1, 8) for x in s]
        r = len(s)
        h = min([r] + dims[1:-1])
        bases = [rational_orthogonal(d, seed + 13 * k) for k, d in enumerate(dims)]
        U, V = bases[-1][:, :r], bases[0][:, :r]
        R = [V[:, :h]] + [b[:, :h] for b in bases[1:-1]] + [U[:, :h]]
        S = sp.diag(*s[:h])
        Ws = [R[l + 1] * S * R[l].T for l in range(depth)]
        t_exact = [x**depth for x in s]
        target = U * sp.diag(*t_exact) * V.T
        if depth >= 2:
            c = rational(config.get("balance", 1.0))
            if c <= 0:
                raise DlnkitInputError(f"balance must be positive, got {c}")
            Ws[0], Ws[1] = Ws[0] * c, Ws[1] / c
            e = rational(config.get("misalignment", 0.0))
            if e != 0:
                K = sp.Matrix(dims[1], dims[1], lambda a, b: sp.Rational(rng.randint(-2, 2), 2))
                A = sp.eye(dims[1]) + e * K
                if A.det() == 0:
                    A = sp.eye(dims[1]) + e * K / 3
                Ws[0], Ws[1] = A * Ws[0], Ws[1] * A.inv()
        Ws[-1] = Ws[-1] * (1 + rational(config.get("offset", 0.0)))
        sigma = _covariance(d_in, anisotropy, None if anisotropy == 1.0 else rational_orthogonal(d_in, seed + 7))
        return {
            "weights": Ws,
            "sigma": sigma,
            "target": target,
            "cross": target * sigma,
            "dims": dims,
            "t_exact": t_exact,
        }
    scale = rational(config.get("scale", 1.0))
    Ws = [
        sp.Matrix(dims[l + 1], dims[l], lambda a, b: scale * sp.Rational(rng.randint(-4, 4), 4)) for l in range(depth)
    ]
    target = sp.Matrix(d_out, d_in, lambda a, b: sp.Rational(rng.randint(-4, 4), 4))
    sigma = _covariance(d_in, anisotropy, None)
    return {"weights": Ws, "sigma": sigma, "target": target, "cross": target * sigma, "dims": dims}


__all__ = ["exact_point", "rational", "exact_num_params", "exact_layer_offsets", "end_to_end_exact"]
