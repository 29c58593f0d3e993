r"""Exact mode: claims checked in rational arithmetic, and the float64 route checked against it.

A configuration describes a point; :func:`exact_point` builds a *rational* version of it (same
dims, rank and kind of point; rational orthogonal bases by the Cayley transform, per-layer
singular values rounded to small fractions, rational balance / misalignment / offset /
anisotropy), so every Hessian entry is an exact rational (:mod:`dlnkit.theory.exact_hessian`).
Zero counts, ranks and eigenvalue multiplicities are then exact integers, and predictions are
compared with **zero tolerance**. The float64 route (closed form and torch.func) is evaluated at
the same rational point, converted to float64, and compared with the exact Hessian.

Exact routes exist for the built-in claims B0, B1 and B1-ratio and for every user claim given an
``exact_measure`` (:func:`dlnkit.define_claim`). Sizes are limited to ``EXACT_MAX_PARAMS``
parameters (exact elimination grows quickly); larger configurations are skipped.

``dlnkit verify --exact`` runs :func:`exact_results`.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from fractions import Fraction
from typing import Callable, Mapping

import sympy as sp

from dlnkit.claims.base import Claim, ClaimResult
from dlnkit.theory.exact_hessian import (
    end_to_end_exact,
    exact_dln_hessian,
    exact_dln_hessian_by_differentiation,
    exact_eigenvalue_multiplicity,
    exact_nullity,
    exact_rank,
    rational_balanced_minimum,
    rational_orthogonal,
    to_rational_matrix,
)

#: the largest parameter count checked in exact arithmetic (a rank of a 60 x 60 rational matrix
#: takes ~0.1 s; the B1 check needs one per distinct eigenvalue)
EXACT_MAX_PARAMS = 60
#: the Taylor-coefficient route (independent of the closed form) is used up to this size
DIFFERENTIATION_MAX_PARAMS = 40
#: float64 vs exact: both float routes are exact up to rounding; entries are sums of O(P) products
#: of O(1) numbers, so ~1e-15 relative; 1e-12 relative to max |H| leaves room
FLOAT_VS_EXACT_RTOL = 1e-12


def rational(x, max_denominator: int = 16) -> sp.Rational:
    """A small fraction close to ``x`` (exact values pass through).

    >>> rational(0.5), rational("2/3"), rational(1.4142135)
    (1/2, 2/3, 17/12)
    """
    if isinstance(x, sp.Rational):
        return x
    f = Fraction(x) if isinstance(x, (str, int, Fraction)) else Fraction(float(x)).limit_denominator(max_denominator)
    return sp.Rational(f.numerator, f.denominator)


def num_params(config: Mapping) -> int | None:
    """P for a configuration with ``dims`` (or ``weights``), else None."""
    if "weights" in config:
        return sum(len(W) * len(W[0]) for W in config["weights"])
    d = config.get("dims")
    if d is None:
        return None
    return sum(int(d[k]) * int(d[k + 1]) for k in range(len(d) - 1))


def exact_point(config: Mapping) -> dict:
    """The rational point of a configuration (mirrors :func:`dlnkit.build_point`):

    * ``weights`` given: those (fractions or ``"p/q"`` strings), ``sigma`` (default I), ``target`` (0);
    * ``t`` given: a balanced aligned global minimum with per-layer singular values
      s_i = rational(t_i^(1/L)) (so the exact target values are t'_i = s_i^L, returned as
      ``t_exact``), hidden widths below r realising the best rank-h map as in the float route,
      then ``balance`` c (W_1 -> c W_1, W_2 -> W_2/c), ``misalignment`` e (W_1 -> A W_1,
      W_2 -> W_2 A^-1, A = I + e K), ``offset`` e (W_L -> (1+e) W_L), ``anisotropy`` k
      (sigma = R diag(rational k^(u - 1/2)) R^T) -- all rationalised;
    * otherwise ``dims``, ``seed``: rational weights with entries n/4, |n| <= 4, scaled by
      ``scale``, and a rational target.

    Returns a dict with ``weights``, ``sigma``, ``cross`` = target sigma, ``target``, ``dims``.

    >>> pt = exact_point({"dims": [2, 3, 2], "t": [2.0], "seed": 0})
    >>> end_to_end_exact(pt["weights"]) == pt["target"]
    True
    """
    import random

    from dlnkit.numerics.validation import DlnkitInputError, check_dims

    if "weights" in config:
        Ws = [to_rational_matrix(W) for W in config["weights"]]
        dims = [Ws[0].shape[1]] + [W.shape[0] for W in Ws]
        sigma = to_rational_matrix(config["sigma"]) if config.get("sigma") is not None else sp.eye(dims[0])
        target = to_rational_matrix(config["target"]) if config.get("target") is not None else sp.zeros(dims[-1], dims[0])
        return {"weights": Ws, "sigma": sigma, "target": target, "cross": target * sigma, "dims": dims}
    dims = check_dims(config["dims"])
    seed = int(config.get("seed", 0))
    depth, d_in, d_out = len(dims) - 1, dims[0], dims[-1]
    rng = random.Random(seed * 1009 + 17)
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
        t_exact = [x ** depth for x in s]
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
        k = float(config.get("anisotropy", 1.0))
        if k == 1.0:
            sigma = sp.eye(d_in)
        else:
            Rs = rational_orthogonal(d_in, seed + 7)
            ev = [rational(k ** ((i / max(d_in - 1, 1)) - 0.5)) for i in range(d_in)]
            sigma = Rs * sp.diag(*ev) * Rs.T
        return {"weights": Ws, "sigma": sigma, "target": target, "cross": target * sigma, "dims": dims,
                "t_exact": t_exact}
    scale = rational(config.get("scale", 1.0))
    Ws = [sp.Matrix(dims[l + 1], dims[l], lambda a, b: scale * sp.Rational(rng.randint(-4, 4), 4))
          for l in range(depth)]
    target = sp.Matrix(d_out, d_in, lambda a, b: sp.Rational(rng.randint(-4, 4), 4))
    k = float(config.get("anisotropy", 1.0))
    sigma = sp.eye(d_in) if k == 1.0 else sp.diag(*[rational(k ** ((i / max(d_in - 1, 1)) - 0.5)) for i in range(d_in)])
    return {"weights": Ws, "sigma": sigma, "target": target, "cross": target * sigma, "dims": dims}


def exact_hessian(point: Mapping, *, parts: bool = False):
    """The exact Hessian (SymPy rational matrix) at an :func:`exact_point`."""
    return exact_dln_hessian(point["weights"], point["sigma"], point["cross"], parts=parts)


def float_point(point: Mapping, device="cpu"):
    """The float64 :class:`dlnkit.api.Point` of a rational point (same numbers, rounded once)."""
    import torch

    from dlnkit.api import Point

    f = lambda M: torch.tensor([[float(x) for x in row] for row in M.tolist()], dtype=torch.float64, device=device)
    return Point([f(W) for W in point["weights"]], f(point["sigma"]), f(point["cross"]), f(point["target"]),
                 dims=list(point["dims"]))


def float_vs_exact_hessian(point: Mapping, H_exact: sp.Matrix | None = None) -> dict:
    """Max |H_float - H_exact| / max |H_exact| for the closed form and for torch.func."""
    import torch

    from dlnkit.api import autograd_hessian, hessian

    H_exact = exact_hessian(point) if H_exact is None else H_exact
    fp = float_point(point)
    He = torch.tensor([[float(x) for x in row] for row in H_exact.tolist()], dtype=torch.float64)
    scale = max(float(He.abs().max()), 1e-300)
    out = {}
    for name, H in (("closed_form", hessian(fp)), ("torch_func", autograd_hessian(fp))):
        out[name] = float((H.cpu() - He).abs().max()) / scale
    return out


# ----- exact routes of the built-in claims ----------------------------------------------------

def _exact_b0(config):
    """B0 in exact arithmetic: the closed-form blocks equal the loss polynomial's quadratic
    Taylor coefficients (an independent route), entry by entry; the residual part has zero
    diagonal blocks; and both float64 routes sit within FLOAT_VS_EXACT_RTOL of the exact matrix."""
    pt = exact_point(config)
    if config.get("activation", "linear") != "linear":
        raise NotImplementedError("no exact route for nonlinear networks")
    H, gn, res = exact_hessian(pt, parts=True)
    P = H.shape[0]
    mismatches = 0
    checked = "closed form only"
    if P <= DIFFERENTIATION_MAX_PARAMS:
        Hd = exact_dln_hessian_by_differentiation(pt["weights"], pt["sigma"], pt["cross"])
        mismatches = sum(1 for a, b in zip(H, Hd) if a != b)
        checked = "= Taylor coefficients"
    off = [0]
    for W in pt["weights"]:
        off.append(off[-1] + W.shape[0] * W.shape[1])
    diag_res = sum(1 for l in range(len(off) - 1) for i in range(off[l], off[l + 1]) for j in range(off[l], off[l + 1])
                   if res[i, j] != 0)
    fl = float_vs_exact_hessian(pt, H)
    exact_err = mismatches + diag_res
    return {"exact_predicted": 0, "exact_measured": exact_err, "float": fl,
            "predicted": f"exact H ({P}x{P}) {checked}",
            "measured": f"{mismatches} entries differ, {diag_res} nonzero res-diag",
            "details": {"num_params": P, "differentiation_route": P <= DIFFERENTIATION_MAX_PARAMS}}


def _b1_exact_groups(dims, t_exact) -> Counter:
    """Predicted eigenvalue -> multiplicity from B1's groups, in exact arithmetic."""
    from dlnkit.theory import balanced_minimum_spectrum
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
    P = sum(dims[k] * dims[k + 1] for k in range(depth))
    counts[sp.Integer(0)] += P - n_in * n_out
    return Counter({k: v for k, v in counts.items() if v})


def _exact_b1(config, ratio: bool = False):
    """B1 in exact arithmetic at the rational balanced minimum: for every predicted eigenvalue
    lambda (exact rational, since t'_i = s_i^L), nullity(H - lambda I) equals its predicted
    multiplicity, and the multiplicities add up to P -- the whole spectrum, exactly. The float64
    eigenvalues of the same point are compared with the exact prediction."""
    import numpy as np
    import torch

    from dlnkit.api import hessian

    pt = exact_point(config)
    dims = pt["dims"]
    H = exact_hessian(pt)
    P = H.shape[0]
    groups = _b1_exact_groups(dims, pt["t_exact"])
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
    ev = torch.linalg.eigvalsh(hessian(float_point(pt))).flip(0).numpy()
    float_err = float(np.max(np.abs(ev - predicted_all))) / max(float(np.max(np.abs(predicted_all))), 1e-300)
    out = {"exact_predicted": 0, "exact_measured": wrong, "float": {"eigenvalues_vs_exact": float_err},
           "predicted": f"{len(groups)} exact eigenvalues, zeros x{groups.get(sp.Integer(0), 0)}",
           "measured": f"{sum(found.values())}/{P} exact multiplicities" + ("" if wrong == 0 else f", {wrong} off"),
           "details": {"t_exact": [str(x) for x in pt["t_exact"]], "multiplicities": found,
                       "predicted_multiplicities": {str(k): v for k, v in groups.items()}, "num_params": P}}
    if ratio:
        depth, r = len(dims) - 1, len(pt["t_exact"])
        from dlnkit.theory import balanced_minimum_spectrum
        from dlnkit.theory.symbols import t_i, t_j

        g = {x.name: x for x in balanced_minimum_spectrum(r, dims[0], dims[-1], depth)}
        a = pt["t_exact"][0]
        dom = sp.nsimplify(sp.simplify(g["dominant"].value.subs({t_i: a, t_j: a})))
        bulk = sp.nsimplify(sp.simplify(g["bulk_first_layer"].value.subs(t_i, a)))
        # the means equal the values once the multiplicities are verified exactly (all t'_i equal)
        if len(set(pt["t_exact"])) != 1:
            raise NotImplementedError("B1-ratio's exact route needs equal target singular values")
        ratio_value = dom / bulk
        out["exact_predicted"] = sp.Integer(depth)
        out["exact_measured"] = ratio_value if wrong == 0 else sp.nan
        out["predicted"] = f"L = {depth}"
        out["measured"] = f"{ratio_value} (multiplicities {'exact' if wrong == 0 else 'WRONG'})"
    return out


BUILTIN_EXACT_ROUTES: dict[str, Callable[[Mapping], dict]] = {
    "B0": _exact_b0,
    "B1": _exact_b1,
    "B1-ratio": lambda cfg: _exact_b1(cfg, ratio=True),
}


def has_exact_route(claim: Claim) -> bool:
    return claim.id in BUILTIN_EXACT_ROUTES or bool(getattr(claim, "has_exact_route", False))


def _exact_equal(a, b) -> bool:
    if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
        A, B = sp.Matrix(a), sp.Matrix(b)
        return A.shape == B.shape and all(sp.simplify(x - y) == 0 for x, y in zip(A, B))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_exact_equal(x, y) for x, y in zip(a, b))
    d = sp.simplify(sp.sympify(a) - sp.sympify(b))
    return d == 0


def check_exact(claim: Claim, config: Mapping) -> ClaimResult:
    """One exact row: exact prediction vs exact measurement with zero tolerance; for the built-in
    routes the float64 route must also sit within FLOAT_VS_EXACT_RTOL (resp. the claim's own
    tolerance for eigenvalues) of the exact values."""
    t0 = time.perf_counter()
    cfg = dict(config)
    details: dict = {"route": "exact-rational"}
    try:
        if claim.id in BUILTIN_EXACT_ROUTES:
            out = BUILTIN_EXACT_ROUTES[claim.id](cfg)
            pred, meas = out["exact_predicted"], out["exact_measured"]
            ok = _exact_equal(pred, meas)
            fl = out.get("float", {})
            fbound = claim.tolerance.rtol if claim.id.startswith("B1") else FLOAT_VS_EXACT_RTOL
            float_ok = all(v <= fbound for v in fl.values())
            details.update(out.get("details", {}), float_vs_exact=fl, float_bound=fbound)
            pd, md = out["predicted"], out["measured"] + ("" if float_ok else " (float64 route off)")
            ok = ok and float_ok
            err = 0.0 if ok else (math.inf if not float_ok else 1.0)
        else:
            pred = claim.exact_predict(cfg)
            meas = claim.exact_measure(cfg)
            if isinstance(meas, Mapping):
                details.update({k: v for k, v in meas.items() if k != "value"})
                meas = meas["value"]
            ok = _exact_equal(pred, meas)
            pd, md = _display_exact(pred), _display_exact(meas)
            err = 0.0 if ok else _exact_error(pred, meas)
        status = "PASS" if ok else "FAIL"
        message = ""
    except NotImplementedError as exc:
        ok, status, err, pd, md, message = False, "ERROR", math.nan, "-", "-", f"no exact route: {exc}"
    seconds = time.perf_counter() - t0
    return ClaimResult(claim_id=claim.id, config={**cfg, "exact": True}, predicted=pd, measured=md, error=err,
                       bound=0.0, passed=bool(ok), status=status, kind="exact", seed=cfg.get("seed"),
                       device="cpu (sympy)", seconds=seconds, details=details, message=message)


def _display_exact(x) -> str:
    s = str(x)
    return s if len(s) <= 40 else s[:39] + "…"


def _exact_error(a, b) -> float:
    try:
        if isinstance(a, sp.MatrixBase) or isinstance(b, sp.MatrixBase):
            return float(max(abs(x - y) for x, y in zip(sp.Matrix(a), sp.Matrix(b))))
        return float(abs(sp.sympify(a) - sp.sympify(b)))
    except (TypeError, ValueError):
        return math.inf


def exact_configs(claim: Claim, examples: int, seed: int = 0, *, defaults: bool = True,
                  max_params: int = EXACT_MAX_PARAMS) -> tuple[list[dict], int]:
    """The claim's default and drawn configurations small enough for exact arithmetic, and how
    many were skipped as too large."""
    from hypothesis import strategies as st

    from dlnkit.claims.base import draw_configs

    configs = claim.default_configs() if defaults else []
    small = lambda c: (num_params(c) or 0) <= max_params
    kept = [c for c in configs if small(c)]
    skipped = len(configs) - len(kept)
    if examples > 0:
        strat = claim.config_strategy()
        kept += draw_configs(strat.filter(small), examples, seed=seed)
    return kept, skipped


def exact_results(claims, *, examples: int = 3, seed: int = 0, defaults: bool = True,
                  max_params: int = EXACT_MAX_PARAMS) -> tuple[list[ClaimResult], list[str]]:
    """``dlnkit verify --exact``: exact rows for every claim with an exact route. Returns the
    results and notes (claims without a route, configurations skipped as too large)."""
    results, notes = [], []
    for claim in claims:
        if not has_exact_route(claim):
            notes.append(f"{claim.id}: no exact route (skipped)")
            continue
        configs, skipped = exact_configs(claim, examples, seed, defaults=defaults, max_params=max_params)
        if skipped:
            notes.append(f"{claim.id}: {skipped} default configuration(s) above {max_params} parameters skipped")
        results += [check_exact(claim, c) for c in configs]
    return results, notes
