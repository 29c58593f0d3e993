r"""The aligned DLN layer shared by the alignment claims of arXiv:2606.02596 (spectral alignment
decomposition, transfer identity, zeta bound, preconditioner family), made exact on deep linear
networks and measured on trained models.

What the formulas say (derived in :mod:`dlnkit.theory.alignment`, checked by ``A2-dln-closed-form``):
at a balanced aligned DLN point with whitened data and a target sharing the bases, layer l has
:math:`\sigma_k = s_k^{L-1}|s_k^L-t_k|` and :math:`h_k = s_k^{2(L-1)}`, so
:math:`\alpha = 2 - 2\,\widehat{slope}(\log|e_k|\ \text{on}\ \log\sigma_k)` with :math:`e_k = s_k^L-t_k`.
**α = 2 only when the residual magnitude is the same for every direction**; with equal relative
progress (:math:`s_k^L = c\,t_k`) it is :math:`2(L-1)/(2L-1)`. The empirical factors give
:math:`\Lambda_k = \sigma_k^2` and :math:`\chi_k = 1/e_k^2`, the Gauss-Newton ones
:math:`\Lambda_k = h_k`, :math:`\chi_k = 1`; the paper's canonical form :math:`\Lambda_k = \sigma_k^2/\chi_k`
holds only where :math:`e_k^2 = 1`.

DLN configuration keys (the point is :func:`dlnkit.numerics.point.aligned_layer_point`, captured
at layer ``layer`` by :func:`capture_aligned_layer`): ``dims``, ``s`` (per-layer singular values),
``t`` (target singular values), ``layer`` (1-based), ``seed``, and the knobs that break an
assumption when moved from their defaults, meaning what they mean for every point:
``balance`` (1.0; W_1 -> cW_1, W_2 -> W_2/c), ``teacher_rotation`` (0.0; the target's singular
bases are rotated away from the network's), ``anisotropy`` (1.0; input covariance eigenvalues
spread geometrically over [1/sqrt k, sqrt k]).

This module holds no claim: the claims are in ``alignment_kronecker``, ``alignment_modes``,
``alignment_transfer``, ``alignment_preconditioners`` and ``alignment_zoo``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from dlnkit.numerics.alignment import LayerCapture, analyse_capture, capture_layer, linear_chain
from dlnkit.numerics.fits import fit_alpha
from dlnkit.numerics.point import aligned_layer_point
from dlnkit.numerics.validation import DlnkitInputError, check_dims
from dlnkit.theory.alignment import aligned_mode_closed_forms, s_sym, t_sym
from dlnkit.theory.symbols import L as L_sym, l as l_sym

ARXIV_A = "arXiv:2606.02596"
REL_FLOOR = 1e-300


# ----- the DLN point -------------------------------------------------------------------------
def capture_aligned_layer(config: dict, device="cpu") -> LayerCapture:
    """The balanced aligned DLN point of ``config`` (:func:`dlnkit.numerics.point.aligned_layer_point`,
    with its knobs) and the capture of its layer ``layer`` (MSE loss, so C_delta^GN = P_l^T P_l)."""
    dims = check_dims(config["dims"])
    layer = int(config["layer"])
    if not 1 <= layer <= len(dims) - 1:
        raise DlnkitInputError(f"layer must be in 1..{len(dims) - 1}, got {layer}")
    pt = aligned_layer_point(config, device)
    return capture_layer(linear_chain(pt.weights), str(layer - 1), pt.X, pt.Y, loss="mse", gauss_newton=True)


@cache
def _mode_functions() -> dict[str, Callable[..., Any]]:
    forms = aligned_mode_closed_forms(s_sym, t_sym, L_sym, l_sym)
    keys = ("sigma", "h", "lam_delta_emp", "lam_A", "lam_delta_gn", "Lambda_emp", "Lambda_gn", "chi_emp", "chi_gn")
    return {k: sp.lambdify((s_sym, t_sym, L_sym, l_sym), forms[k], "numpy") for k in keys}


def _index_phi(lam_mode: np.ndarray, order: np.ndarray, pad_value: float, pad_count: int) -> np.ndarray:
    """rho_k under the paper's index pairing: the k-th direction's quadratic form (its own mode's
    eigenvalue) over the k-th largest eigenvalue of the factor's full spectrum."""
    full = np.sort(np.concatenate([lam_mode, np.full(pad_count, pad_value)]))[::-1]
    return lam_mode[order] / full[: len(order)]


def predict_aligned_modes(config: dict) -> dict:
    """Closed forms (lambdified SymPy) for every direction, sorted by sigma descending."""
    dims = check_dims(config["dims"])
    L, l = len(dims) - 1, int(config["layer"])
    s = np.asarray(config["s"], dtype=np.float64)
    t = np.asarray(config["t"], dtype=np.float64)
    f = _mode_functions()
    vals = {k: np.broadcast_to(np.asarray(fn(s, t, L, l), dtype=np.float64), s.shape).copy() for k, fn in f.items()}
    order = np.argsort(-vals["sigma"], kind="stable")
    out = {k: v[order] for k, v in vals.items()}
    r = len(s)
    d_out_l, d_in_l = dims[l], dims[l - 1]
    # factor spectra beyond the r modes: the identity factor (exponent 0) pads with ones, others with zeros
    pad_A = 1.0 if l == 1 else 0.0
    pad_gn = 1.0 if l == L else 0.0
    rho_A = _index_phi(vals["lam_A"], order, pad_A, d_in_l - r)
    out["Phi_index_emp"] = _index_phi(vals["lam_delta_emp"], order, 0.0, d_out_l - r) * rho_A
    out["Phi_index_gn"] = _index_phi(vals["lam_delta_gn"], order, pad_gn, d_out_l - r) * rho_A
    out["alpha"] = fit_alpha(out["sigma"], out["h"]).exponent
    out["factor_eigs"] = {"A": (vals["lam_A"], pad_A, d_in_l - r), "gn": (vals["lam_delta_gn"], pad_gn, d_out_l - r)}
    return out


def measure_aligned_modes(config: dict, device="cpu") -> dict:
    cap = capture_aligned_layer(config, device)
    r = len(config["s"])
    emp_o = analyse_capture(cap, k=max(r, 2), factors="empirical", pairing="overlap", eigen=False)
    h = emp_o.h
    gn_o = analyse_capture(cap, k=max(r, 2), factors="gn", pairing="overlap", eigen=False, h=h)
    emp_i = analyse_capture(cap, k=max(r, 2), factors="empirical", pairing="index", eigen=False, h=h)
    gn_i = analyse_capture(cap, k=max(r, 2), factors="gn", pairing="index", eigen=False, h=h)
    return {
        "sigma": emp_o.sigma,
        "h": emp_o.h,
        "Lambda_emp": emp_o.Lambda,
        "chi_emp": emp_o.chi,
        "Lambda_gn": gn_o.Lambda,
        "chi_gn": gn_o.chi,
        "Phi_overlap_emp": emp_o.Phi,
        "Phi_overlap_gn": gn_o.Phi,
        "Phi_index_emp": emp_i.Phi,
        "Phi_index_gn": gn_i.Phi,
        "alpha": fit_alpha(emp_o.sigma, emp_o.h).exponent,
        "fits": emp_i.fits,
        "capture": cap,
    }


def max_rel(pred, meas) -> float:
    pred = np.asarray(pred, dtype=np.float64)
    meas = np.asarray(meas, dtype=np.float64)
    if pred.shape != meas.shape:
        return float("inf")
    return float(np.max(np.abs(meas - pred) / np.maximum(np.abs(pred), REL_FLOOR))) if pred.size else 0.0


# ----- strategies --------------------------------------------------------------------------------
def _knobs(draw: Callable[[st.SearchStrategy], Any], drop: frozenset[str], L: int) -> dict[str, float]:
    out = {"balance": 1.0, "teacher_rotation": 0.0, "anisotropy": 1.0}
    if "balanced" in drop and L >= 2:
        out["balance"] = draw(st.sampled_from([1.0, 0.5, 2.0]))
    if "aligned" in drop:
        out["teacher_rotation"] = draw(st.sampled_from([0.0, 0.3, 1.0]))
    if "whitened" in drop:
        out["anisotropy"] = draw(st.sampled_from([1.0, 4.0, 10.0]))
    return out


def _separated(values, rel_gap) -> bool:
    v = np.sort(np.abs(np.asarray(values, dtype=np.float64)))
    return bool(np.all(v > 0)) and bool(np.all(np.diff(v) >= rel_gap * v[1:]))


@st.composite
def aligned_dln_configs(
    draw, drop=frozenset(), *, min_depth=1, max_depth=4, min_rank=2, max_rank=4, flat_residual=False
):
    """Balanced aligned DLN layer configurations; with ``flat_residual`` every |s_k^L - t_k| is equal."""
    L = draw(st.integers(max(min_depth, 2 if flat_residual else 1), max_depth))
    r = draw(st.integers(min_rank, max_rank))
    dims = [draw(st.integers(r, r + 2)) for _ in range(L + 1)]
    layer = draw(st.integers(1, L))
    s = draw(st.lists(st.integers(10, 32), min_size=r, max_size=r, unique=True).map(lambda v: [x / 20 for x in v]))
    if not _separated(s, 0.04):
        s = [1.6 - 0.15 * i for i in range(r)]
    if flat_residual:
        eps = draw(st.sampled_from([0.1, 0.3, 0.5, 1.0]))
        signs = draw(st.lists(st.sampled_from([1, -1]), min_size=r, max_size=r))
        t = [x**L + (sg * eps if x**L - eps > 0.05 else eps) for x, sg in zip(s, signs)]
    else:
        t = draw(st.lists(st.integers(2, 30), min_size=r, max_size=r).map(lambda v: [x / 10 for x in v]))
    e = [x**L - y for x, y in zip(s, t)]
    sig = [x ** (L - 1) * abs(y) for x, y in zip(s, e)]
    if min(abs(y) for y in e) < 0.05 or not _separated(sig, 0.03):
        # fall back to a point with separated directions (keeps the strategy total, shrinks well)
        t = [x**L + 0.2 * (i + 1) for i, x in enumerate(s)]
        if flat_residual:
            t = [x**L + 0.3 for x in s]
    cfg = {
        "dims": dims,
        "s": s,
        "t": [round(float(x), 12) for x in t],
        "layer": layer,
        "seed": draw(st.integers(0, 2**10)),
    }
    cfg.update(_knobs(draw, drop, L))
    return cfg


def fmt_values(a: Any, n: int = 3) -> str:
    """The first ``n`` numbers of ``a``, short (for result rows)."""
    a = list(np.asarray(a, dtype=float))
    return "[" + ",".join(f"{x:.3g}" for x in a[:n]) + (",…]" if len(a) > n else "]")


def power_law_dln(config) -> dict:
    """A flat-residual aligned DLN whose layer singular values are k^-p: sigma_k ~ k^{-p(L-1)},
    h_k = k^{-2p(L-1)}; with ``noise`` the s_k are perturbed (no longer a power law)."""
    L, r, p = int(config["depth"]), int(config["rank"]), float(config["p"])
    noise = float(config.get("noise", 0.0))
    g = np.random.default_rng(int(config.get("seed", 0)))
    k = np.arange(1, r + 1, dtype=np.float64)
    s = 1.2 * k ** (-p) * (1 + noise * g.uniform(-1, 1, r))
    s = np.sort(s)[::-1]
    eps = float(config.get("residual", 0.5))
    t = s**L + eps
    dims = [r + 1] * (L + 1)
    return {
        "dims": dims,
        "s": [float(x) for x in s],
        "t": [float(x) for x in t],
        "layer": int(config["layer"]),
        "seed": int(config.get("seed", 0)),
    }
