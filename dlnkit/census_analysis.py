r"""One census model, every matrix layer: the per-layer curvature quantities of arXiv:2606.02596.

For a layer with gradient :math:`G = \sum_k \sigma_k u_k v_k^\top` (the top ``k`` directions) and
per-layer Hessian block :math:`H_{ll}` on the analysis batch (the first ``samples`` training
examples, float64 copy of the float32 model, eval mode, attention by the math SDPA kernel):

* :math:`h_k = \operatorname{vec}(u_kv_k^\top)^\top H_{ll}\operatorname{vec}(u_kv_k^\top)` (exact HVPs);
  :math:`\alpha` = slope of :math:`\log h_k` on :math:`\log\sigma_k`, :math:`\gamma` from
  :math:`\sigma_k\propto k^{-\gamma}`, :math:`s_{dir}` from the sorted :math:`h_k\propto k^{-s}`;
* :math:`s_{eig}` from the top ``eig_k`` eigenvalues of :math:`H_{ll}` (Lanczos on HVPs, its
  convergence and HVP count recorded);
* PR of the top eigenvalues (and of :math:`h`) beside the bound :math:`\zeta(s)^2/\zeta(2s)` at
  :math:`s = \alpha\gamma`; the relative errors :math:`|s - \alpha\gamma|/s` for both s;
* the decomposition slopes of :math:`\log\Lambda, \log\Phi, \log\chi` on :math:`\log\sigma` with
  empirical and Gauss-Newton factors and index and overlap pairing (:mod:`dlnkit.numerics.alignment`);
* every fitted exponent with its least-squares 95% interval (t quantile, n - 2 degrees of freedom,
  on the log-log points: the interval of the *fit*, not of the network's population value) and n;
* robustness (on the layers asked for): alpha at other sample counts, over a window away from
  k = 1 (k >= ``window_start``), at the early checkpoint, and in float32 analysis.

A layer the current alignment routines cannot capture is kept as a row with ``skipped`` = reason.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dlnkit.numerics.validation import DlnkitInputError


@dataclass(frozen=True)
class AnalysisPlan:
    """How much of each layer is measured (recorded with every run)."""

    samples: int
    k: int = 12
    eig_k: int = 12
    robust_samples: tuple[int, ...] = ()
    window_start: int = 3
    eig_tol: float = 1e-6  # Lanczos residual / |theta_max|: eigenvalue errors ~ residual^2 / gap << fit noise
    eig_max_iters: int = 120

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ls_fit_ci(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """OLS line of y on x: slope, intercept, R^2, n and the slope's 95% t-interval (nan for n < 3).

    >>> f = ls_fit_ci(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 2.0, 4.0, 6.0]))
    >>> f["slope"], f["lo"], f["hi"], f["n"]
    (2.0, 2.0, 2.0, 4)
    """
    from scipy.stats import t as student_t

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = int(x.size)
    xc = x - x.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ (y - y.mean())) / sxx
    icpt = float(y.mean() - slope * x.mean())
    res = y - (slope * x + icpt)
    syy = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(res @ res) / syy if syy > 0 else 1.0
    if n < 3:
        lo = hi = math.nan
    else:
        se = math.sqrt(float(res @ res) / (n - 2) / sxx)
        q = float(student_t.ppf(0.975, n - 2))
        lo, hi = slope - q * se, slope + q * se
    return {"slope": slope, "intercept": icpt, "r2": r2, "n": n, "lo": lo, "hi": hi}


def exponent_fit(x: np.ndarray, y: np.ndarray, sign: float) -> dict[str, float]:
    """A log-log fit over the positive pairs as an exponent (sign * slope) with its interval."""
    keep = (x > 0) & (y > 0)
    if keep.sum() < 2:
        return {"value": math.nan, "lo": math.nan, "hi": math.nan, "n": int(keep.sum()), "r2": math.nan}
    f = ls_fit_ci(np.log(x[keep]), np.log(y[keep]))
    lo, hi = sorted((sign * f["lo"], sign * f["hi"]))
    return {"value": sign * f["slope"], "lo": lo, "hi": hi, "n": f["n"], "r2": f["r2"]}


def decay_fit(values: np.ndarray) -> dict[str, float]:
    v = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    return exponent_fit(np.arange(1, v.size + 1, dtype=np.float64), v, -1.0)


@contextlib.contextmanager
def math_attention() -> Iterator[None]:
    """Attention through the math SDPA kernel: the fused CPU kernels have no double backward."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch < 2.3: the math kernel is the CPU default for double backward
        yield
        return
    with sdpa_kernel(SDPBackend.MATH):
        yield


def _as_dtype(X: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return X.to(dtype) if X.is_floating_point() else X


def _directions(model: nn.Module, name: str, X: torch.Tensor, y: torch.Tensor, k: int) -> dict[str, Any]:
    """sigma, h for the top-k gradient directions of one layer (no factors, no eigenvalues)."""
    from dlnkit.numerics.alignment import analyse_capture, capture_layer

    cap = capture_layer(model, name, X, y, gauss_newton=False)
    rep = analyse_capture(cap, k=k, eigen=False)
    return {"sigma": rep.sigma, "h": rep.h}


def _top_eigenvalues(cap: Any, plan: AnalysisPlan) -> dict[str, Any]:
    from dlnkit.numerics.hessian import HessianOperator
    from dlnkit.numerics.lanczos import lanczos_top_eigenvalues

    W = cap.W.reshape(cap.weight_shape)
    n = W.numel()
    kk = min(plan.eig_k, n)
    op = HessianOperator(cap.loss_of_weight, [W], chunk_size=None)
    res = lanczos_top_eigenvalues(op, kk, tol=plan.eig_tol, max_iters=min(plan.eig_max_iters, n), seed=0)
    ev = res.eigenvalues.detach().cpu().numpy().astype(np.float64)
    return {
        "eigenvalues": ev.tolist(),
        "eig_converged": bool(res.converged),
        "eig_hvps": int(res.num_hvps),
        "eig_max_residual": float(res.residuals.max()) if res.residuals.numel() else 0.0,
    }


def _alpha(sigma: np.ndarray, h: np.ndarray, start: int = 1) -> dict[str, float]:
    return exponent_fit(np.asarray(sigma)[start - 1 :], np.asarray(h)[start - 1 :], 1.0)


def analyse_layer_row(
    model64: nn.Module,
    name: str,
    X: torch.Tensor,
    y: torch.Tensor,
    plan: AnalysisPlan,
) -> dict[str, Any]:
    """Every census quantity of one layer (float64 model, analysis batch X, y)."""
    from dlnkit.numerics.alignment import analyse_capture, capture_layer
    from dlnkit.numerics.fits import participation_ratio, zeta_bound

    cap = capture_layer(model64, name, X, y, gauss_newton=True)
    rep = analyse_capture(cap, k=plan.k, eigen=False)
    sigma, h = rep.sigma, rep.h
    row: dict[str, Any] = {"shape": list(cap.weight_shape), "numel": int(cap.W.numel()), "K": int(len(sigma))}
    row["sigma"], row["h"] = sigma.tolist(), h.tolist()
    a = _alpha(sigma, h)
    g = exponent_fit(np.arange(1, len(sigma) + 1, dtype=np.float64), sigma, -1.0)
    sd = decay_fit(h[h > 0])
    row.update(alpha=a, gamma=g, s_dir=sd)
    ag = a["value"] * g["value"]
    prods = [p * q for p in (a["lo"], a["hi"]) for q in (g["lo"], g["hi"])]
    row["alpha_gamma"] = {"value": ag, "lo": min(prods), "hi": max(prods)}
    row["zeta_bound"] = zeta_bound(ag) if math.isfinite(ag) else math.nan
    row["PR_dir"] = participation_ratio(h[h > 0]) if (h > 0).sum() else math.nan
    row["err_dir"] = abs(sd["value"] - ag) / abs(sd["value"]) if sd["value"] else math.nan
    for factors in ("empirical", "gn"):
        for pairing in ("index", "overlap"):
            r = analyse_capture(cap, k=plan.k, factors=factors, pairing=pairing, eigen=False, h=h)
            f = r.fits
            row[f"slopes_{factors}_{pairing}"] = {
                key: f.get(f"slope_{key}", math.nan) for key in ("Lambda", "Phi", "chi")
            } | {"alpha_common": f.get("alpha_common", math.nan)}
    eig = _top_eigenvalues(cap, plan)
    row.update(eig)
    ev = np.asarray(eig["eigenvalues"])
    se = decay_fit(ev[ev > 0])
    row["s_eig"] = se
    row["PR_eig"] = participation_ratio(np.clip(ev, 0, None)) if (ev > 0).any() else math.nan
    row["err_eig"] = abs(se["value"] - ag) / abs(se["value"]) if se["value"] else math.nan
    row["alpha_window"] = _alpha(sigma, h, plan.window_start)
    return row


def _robustness(
    trained: Any, model64: nn.Module, name: str, X: torch.Tensor, y: torch.Tensor, plan: AnalysisPlan
) -> dict[str, Any]:
    """alpha of one layer at other sample counts, the early checkpoint, and float32 analysis."""
    out: dict[str, Any] = {}
    Xall, yall = trained.data.X_train, trained.data.y_train
    for n in plan.robust_samples:
        if n > len(yall):
            continue
        d = _directions(model64, name, _as_dtype(Xall[:n], torch.float64), yall[:n], plan.k)
        out[f"samples_{n}"] = _alpha(d["sigma"], d["h"])["value"]
    early64 = copy.deepcopy(trained.early).double().eval()
    d = _directions(early64, name, X, y, plan.k)
    out["early"] = _alpha(d["sigma"], d["h"])["value"]
    m32 = copy.deepcopy(trained.model).float().eval()
    d = _directions(m32, name, _as_dtype(X, torch.float32), y, plan.k)
    out["float32"] = _alpha(d["sigma"], d["h"])["value"]
    return out


def analyse_census_model(
    trained: Any, plan: AnalysisPlan, *, robust_roles: tuple[str, ...] = (), progress: Any = None
) -> list[dict[str, Any]]:
    """A row per matrix layer of ``trained`` (a :class:`dlnkit.census_zoo.CensusTrained`).

    Robustness is measured on the first layer of every role in ``robust_roles`` (one per role and
    model keeps the run's time bounded; which layer that is stays fixed, so reruns compare)."""
    from dlnkit.numerics.census_models import layer_roles

    if plan.samples > len(trained.data.y_train):
        raise DlnkitInputError(f"{plan.samples} analysis samples asked, {len(trained.data.y_train)} available")
    model64 = copy.deepcopy(trained.model).double().eval()
    X = _as_dtype(trained.data.X_train[: plan.samples], torch.float64)
    y = trained.data.y_train[: plan.samples]
    roles = layer_roles(model64)
    seen: set[str] = set()
    rows = []
    for name, role in roles.items():
        row: dict[str, Any] = {"model": trained.spec.name, "family": trained.spec.family, "data": trained.spec.data}
        row.update(layer=name, role=role)
        t0 = time.perf_counter()
        try:
            with math_attention():
                row.update(analyse_layer_row(model64, name, X, y, plan))
                if role in robust_roles and role not in seen:
                    seen.add(role)
                    row["robustness"] = _robustness(trained, model64, name, X, y, plan)
        except (DlnkitInputError, ValueError, NotImplementedError) as exc:
            # a layer type the alignment routines do not capture yet (nn.MultiheadAttention's packed
            # in_proj, a head tied to an embedding): kept as a row, excluded from every statistic
            row["skipped"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows
