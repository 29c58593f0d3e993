r"""The public API for stating your own claim about deep linear networks.

A claim is four things: a **prediction** (a SymPy expression, or a function of a configuration
returning one or a number), a **measurement** (a function of a configuration and a device), the
**assumptions** under which the prediction must hold, each with a Hypothesis strategy that makes
it true and one that breaks it, and a **tolerance** with its reason. :func:`define_claim` turns
these into a :class:`~dlnkit.claims.base.Claim` and registers it, so ``dlnkit verify``,
``dlnkit list`` and ``dlnkit counterexample`` treat it like a built-in one::

    import sympy as sp
    import dlnkit as dk
    from dlnkit import strategies as ds

    L = sp.Symbol("L")
    dk.define_claim(
        id="my-depth", title="the number of weight matrices is L",
        predict=L,                                   # symbols named after config values
        measure=lambda cfg, device: len(dk.build_point(cfg, device).weights),
        strategy=ds.global_minima(),
        tolerance=dk.Tolerance(atol=0, reason="an integer count"))

and ``dlnkit verify --from that_file.py``. Configurations are JSON-able dicts; the points they
describe are built by :func:`build_point` (float64, torch) and, for the exact mode, by
:func:`dlnkit.exact.exact_point` (rationals, SymPy).

Symbols in a prediction are filled from the configuration: every number-valued key by its name,
plus ``L`` (depth), ``d_in``, ``d_out``, ``d_0``..``d_L``, ``P`` (parameter count) and ``r``
(number of target singular values) when ``dims`` (and ``t``) are present.

Assumptions are ``{name: (statement, satisfying, violating)}``. ``satisfying`` / ``violating``
may be ``None`` (nothing to add), a dict merged into the configuration, a strategy of such
dicts, or a function of the configuration drawn so far returning either. Verification draws the
base strategy and merges every satisfying part; the counterexample search, asked to drop an
assumption, merges its violating part instead.
"""

from __future__ import annotations

from dlnkit.claims import (
    Assumption,
    Claim,
    ClaimResult,
    Comparison,
    Tolerance,
    all_claims,
    draw_configs,
    get_claim,
    load_claims_from_file,
    load_entry_point_claims,
    register,
)
from dlnkit.claims.user_claim import UserClaim, define_claim
from dlnkit.configs.point_hessians import autograd_hessian, gauss_newton_hessian, hessian, residual_hessian
from dlnkit.configs.prediction_values import config_values, evaluate_prediction
from dlnkit.numerics.point import Point, build_point

__all__ = [
    "define_claim",
    "UserClaim",
    "Point",
    "build_point",
    "hessian",
    "autograd_hessian",
    "gauss_newton_hessian",
    "residual_hessian",
    "config_values",
    "evaluate_prediction",
    "Assumption",
    "Claim",
    "ClaimResult",
    "Comparison",
    "Tolerance",
    "all_claims",
    "draw_configs",
    "get_claim",
    "register",
    "load_claims_from_file",
    "load_entry_point_claims",
]
