"""The exact-rational routes of the depth claims B0, B1 and B1-ratio (``dlnkit verify --exact``).

Each route builds the rational point of a configuration (:func:`dlnkit.theory.exact_point.exact_point`)
and computes the claim's quantity with no rounding at all: the exact measurement (``exact_measure``
of the claim), a dict with the exact ``value``, the float64 route's errors against the exact values
at the same rational point (``float_errors``, within ``float_bound``), the displays and details. The
claims compare it with their exact prediction at zero tolerance by
:func:`dlnkit.claims.exact_comparisons.route_comparison_of`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp
import torch

from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.


def exact_b0(config: Mapping[str, Any]) -> dict:
    """B0 in exact arithmetic: the closed-form blocks equal the loss polynomial's quadratic
    Taylor coefficients (an independent route), entry by entry; the residual part has zero
    diagonal blocks; and both float64 routes sit within FLOAT_VS_EXACT_RTOL of the exact matrix."""
    from dlnkit.configs.exact_points import (
        DIFFERENTIATION_MAX_PARAMS,
        FLOAT_VS_EXACT_RTOL,
        exact_hessian,
        float_vs_exact_hessian,
    )
    from dlnkit.theory.exact_hessian import exact_dln_hessian_by_differentiation
    from dlnkit.theory.exact_point import exact_layer_offsets, exact_point

    if config.get("activation", "linear") != "linear":
        raise NotImplementedError("no exact route for nonlinear networks")
    pt = exact_point(config)
    H, gn, res = exact_hessian(pt, parts=True)
    P = H.shape[0]
    mismatches = 0
    checked = "closed form only"
    if P <= DIFFERENTIATION_MAX_PARAMS:
        Hd = exact_dln_hessian_by_differentiation(pt["weights"], pt["sigma"], pt["cross"])
        mismatches = sum(1 for a, b in zip(H, Hd) if a != b)
        checked = "= Taylor coefficients"
    off = exact_layer_offsets(pt["dims"])
    diag_res = sum(
        1
        for l in range(len(off) - 1)
        for i in range(off[l], off[l + 1])
        for j in range(off[l], off[l + 1])
        if res[i, j] != 0
    )
    return _measurement(
        value=mismatches + diag_res,
        float_errors=float_vs_exact_hessian(pt, H),
        float_bound=FLOAT_VS_EXACT_RTOL,
        predicted_display=f"exact H ({P}x{P}) {checked}",
        measured_display=f"{mismatches} entries differ, {diag_res} nonzero res-diag",
        details={"num_params": P, "differentiation_route": P <= DIFFERENTIATION_MAX_PARAMS},
    )


def b1_exact_groups(dims: list[int], t_exact: list[Any]) -> Counter:
    """Predicted eigenvalue -> multiplicity from B1's groups, in exact arithmetic."""
    from dlnkit.theory import balanced_minimum_spectrum
    from dlnkit.theory.exact_point import exact_num_params
    from dlnkit.theory.symbols import t_i, t_j

    depth, n_in, n_out = len(dims) - 1, dims[0], dims[-1]
    r = len(t_exact)
    counts: Counter = Counter()
    for g in balanced_minimum_spectrum(r, n_in, n_out, depth):
        if g.indices == "i,j":
            for a in t_exact:
                for b in t_exact:
                    counts[sp.nsimplify(sp.simplify(g.value.subs({t_i: a, t_j: b})))] += int(g.multiplicity)
        elif g.indices == "i":
            for a in t_exact:
                counts[sp.nsimplify(sp.simplify(g.value.subs(t_i, a)))] += int(g.multiplicity)
        else:
            counts[sp.nsimplify(sp.simplify(g.value))] += int(g.multiplicity)
    counts[sp.Integer(0)] += exact_num_params(dims) - n_in * n_out
    return Counter({k: v for k, v in counts.items() if v})


def exact_b1(config: Mapping[str, Any], *, float_bound: float, ratio: bool = False) -> dict:
    """B1 in exact arithmetic at the rational balanced minimum: for every predicted eigenvalue
    lambda (exact rational, since t'_i = s_i^L), nullity(H - lambda I) equals its predicted
    multiplicity, and the multiplicities add up to P -- the whole spectrum, exactly. The float64
    eigenvalues of the same point are compared with the exact prediction (within ``float_bound``,
    relative to the top eigenvalue). With ``ratio`` (B1-ratio): the exact ratio of the group means."""
    from dlnkit.configs.exact_points import exact_hessian, float_point
    from dlnkit.theory.exact_hessian import exact_eigenvalue_multiplicity
    from dlnkit.theory.exact_point import exact_point

    pt = exact_point(config)
    dims = pt["dims"]
    H = exact_hessian(pt)
    P = H.shape[0]
    groups = b1_exact_groups(dims, pt["t_exact"])
    if any(not v.is_Rational for v in groups):
        raise NotImplementedError(f"B1's eigenvalues are not rational here: {list(groups)}")
    wrong = 0
    found = {}
    for lam, mult in groups.items():
        got = exact_eigenvalue_multiplicity(H, lam)
        found[str(lam)] = got
        wrong += abs(got - mult)
    wrong += abs(sum(groups.values()) - P)
    predicted_all = np.sort(np.concatenate([[float(k)] * v for k, v in groups.items()]))[::-1]
    fp = float_point(pt)
    ev = torch.linalg.eigvalsh(dln_hessian_assembled(fp.weights, sigma=fp.sigma, cross=fp.cross)).flip(0).numpy()
    float_err = float(np.max(np.abs(ev - predicted_all))) / max(float(np.max(np.abs(predicted_all))), 1e-300)
    details = {
        "t_exact": [str(x) for x in pt["t_exact"]],
        "multiplicities": found,
        "predicted_multiplicities": {str(k): v for k, v in groups.items()},
        "num_params": P,
    }
    if not ratio:
        return _measurement(
            value=wrong,
            float_errors={"eigenvalues_vs_exact": float_err},
            float_bound=float_bound,
            predicted_display=f"{len(groups)} exact eigenvalues, zeros x{groups.get(sp.Integer(0), 0)}",
            measured_display=f"{sum(found.values())}/{P} exact multiplicities"
            + ("" if wrong == 0 else f", {wrong} off"),
            details=details,
        )
    from dlnkit.theory import balanced_minimum_spectrum
    from dlnkit.theory.symbols import t_i, t_j

    depth, r = len(dims) - 1, len(pt["t_exact"])
    if len(set(pt["t_exact"])) != 1:
        raise NotImplementedError("B1-ratio's exact route needs equal target singular values")
    g = {x.name: x for x in balanced_minimum_spectrum(r, dims[0], dims[-1], depth)}
    a = pt["t_exact"][0]
    dom = sp.nsimplify(sp.simplify(g["dominant"].value.subs({t_i: a, t_j: a})))
    bulk = sp.nsimplify(sp.simplify(g["bulk_first_layer"].value.subs(t_i, a)))
    # the means equal the values once the multiplicities are verified exactly (all t'_i equal)
    ratio_value = dom / bulk
    return _measurement(
        value=ratio_value if wrong == 0 else sp.nan,
        float_errors={"eigenvalues_vs_exact": float_err},
        float_bound=float_bound,
        predicted_display=f"L = {depth}",
        measured_display=f"{ratio_value} (multiplicities {'exact' if wrong == 0 else 'WRONG'})",
        details=details,
    )


def _measurement(
    *,
    value,
    float_errors: Mapping[str, float],
    float_bound: float,
    predicted_display: str,
    measured_display: str,
    details,
) -> dict:
    return {
        "value": value,
        "float_errors": dict(float_errors),
        "float_bound": float_bound,
        "predicted_display": predicted_display,
        "measured_display": measured_display,
        "details": dict(details),
    }
