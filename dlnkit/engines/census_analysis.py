r"""One census model, every matrix layer: the per-layer curvature quantities of arXiv:2606.02596.

For a layer with gradient :math:`G = \sum_k \sigma_k u_k v_k^\top` (the top ``k`` directions) and
per-layer Hessian block :math:`H_{ll}` on the analysis batch (the first ``samples`` training
examples, float64 copy of the float32 model, eval mode):

* :math:`h_k = \operatorname{vec}(u_kv_k^\top)^\top H_{ll}\operatorname{vec}(u_kv_k^\top)`;
  :math:`\alpha` = slope of :math:`\log h_k` on :math:`\log\sigma_k`, :math:`\gamma` from
  :math:`\sigma_k\propto k^{-\gamma}`, :math:`s_{dir}` from the sorted :math:`h_k\propto k^{-s}`;
* :math:`s_{eig}` from the top ``k`` eigenvalues of :math:`H_{ll}` (block Lanczos, convergence,
  residuals and product count recorded);
* PR of the top eigenvalues (and of :math:`h`) beside :math:`\zeta(s)^2/\zeta(2s)` at
  :math:`s = \alpha\gamma`; the relative errors :math:`|s - \alpha\gamma|/s` for both s;
* the decomposition slopes of :math:`\log\Lambda, \log\Phi, \log\chi` on :math:`\log\sigma`;
* every exponent with its fit count and 95% pairs-bootstrap interval over the fit window
  (:mod:`dlnkit.numerics.fit_intervals`: the interval of the *fit*, not of a data resample);
* robustness (one layer per role and model): alpha at other sample counts, over a window away from
  k = 1 (k >= ``window_start``, every layer), at the early checkpoint, in float32 analysis; the
  decomposition slopes with Gauss-Newton factors and with overlap pairing (alpha itself does not
  depend on either).

Every layer goes through :func:`dlnkit.numerics.model_alignment.analyse_model_layers` (the
real-network alignment route: every layer type, float64 copy, streamed double-backward HVPs, block
Lanczos for the eigenvalues). A layer it cannot analyse is kept as a row with ``skipped`` = its
reason and excluded from every statistic.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.


@dataclass(frozen=True)
class AnalysisPlan:
    """How much of each layer is measured (recorded with every run)."""

    samples: int
    k: int = 12  # gradient directions, and top eigenvalues of the block
    robust_samples: tuple[int, ...] = ()
    window_start: int = 3

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


def _stat(row: dict[str, Any], key: str) -> dict[str, float]:
    """An exponent of a :func:`dlnkit.numerics.model_alignment.analyse_model_layers` row with its
    bootstrap interval and fit count (nan when the fit was not possible)."""
    ci = row.get(f"{key}_ci") or [math.nan, math.nan]
    return {
        "value": float(row.get(key, math.nan)),
        "lo": float(ci[0]),
        "hi": float(ci[1]),
        "n": int(row.get(f"{key}_n", 0)),
        "r2": float(row.get(f"{key}_r2", math.nan)),
    }


def _census_row(summary: dict[str, Any], detail: dict[str, Any], plan: AnalysisPlan) -> dict[str, Any]:
    """The census's fields of one analysed layer (``summary``/``detail``: the analysis's row and report)."""
    from dlnkit.numerics.fits import zeta_bound

    a, g = _stat(summary, "alpha"), _stat(summary, "gamma")
    sd, se = _stat(summary, "s_dir"), _stat(summary, "s_eig")
    ag = a["value"] * g["value"]
    prods = [p * q for p in (a["lo"], a["hi"]) for q in (g["lo"], g["hi"])]
    sigma, h = np.asarray(detail["sigma"]), np.asarray(detail["h"])
    eig = np.asarray(detail.get("eigenvalues") or [], dtype=np.float64)
    res = np.asarray(detail.get("eig_residuals") or [0.0], dtype=np.float64)
    return {
        "shape": [int(x) for x in str(summary["shape"]).split("x")],
        "type": summary.get("type", ""),
        "K": int(summary["K"]),
        "alpha": a,
        "gamma": g,
        "s_dir": sd,
        "s_eig": se,
        "alpha_gamma": {"value": ag, "lo": min(prods), "hi": max(prods)},
        "zeta_bound": zeta_bound(ag) if math.isfinite(ag) else math.nan,
        "PR_dir": float(summary.get("PR", math.nan)),
        "PR_eig": float(summary.get("PR_eig", math.nan)),
        "err_dir": abs(sd["value"] - ag) / abs(sd["value"]) if sd["value"] else math.nan,
        "err_eig": abs(se["value"] - ag) / abs(se["value"]) if se["value"] else math.nan,
        "slopes_empirical_index": _slopes(summary),
        "alpha_window": _alpha(sigma, h, plan.window_start),
        "sigma": sigma.tolist(),
        "h": h.tolist(),
        "eigenvalues": eig.tolist(),
        "eig_method": detail.get("eig_method", ""),
        "eig_converged": bool(summary.get("eig_converged", False)),
        "eig_hvps": int(detail.get("eig_hvps", 0)),
        "eig_max_residual": float(res.max()) if res.size else 0.0,
        "hvps": int(summary.get("hvps", 0)),
        "interval_method": detail.get("interval_method", ""),
        "note": summary.get("note", ""),
    }


def _slopes(summary: dict[str, Any]) -> dict[str, float]:
    return {k: float(summary.get(f"slope_{k}", math.nan)) for k in ("Lambda", "Phi", "chi")} | {
        "alpha_common": float(summary.get("alpha_common", math.nan))
    }


def _alpha(sigma: np.ndarray, h: np.ndarray, start: int = 1) -> dict[str, float]:
    return exponent_fit(np.asarray(sigma)[start - 1 :], np.asarray(h)[start - 1 :], 1.0)


def _variant_rows(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, names: list[str], k: int, **kw: Any
) -> dict[str, Any]:
    """alpha-only analysis of ``names`` (no eigenvalues, no model checks: the main pass made them)."""
    from dlnkit.numerics.model_alignment import analyse_model_layers

    res = analyse_model_layers(model, (X, y), "cross_entropy", layers=names, k=k, eigen=False, check=False, **kw)
    return {r["layer"]: r for r in res.rows}


def _robustness(
    trained: Any, names: list[str], X: torch.Tensor, y: torch.Tensor, plan: AnalysisPlan
) -> dict[str, dict[str, Any]]:
    """Per robust layer: alpha at other sample counts, at the early checkpoint and in float32; the
    decomposition slopes with Gauss-Newton factors and with overlap pairing."""
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    if not names:
        return out

    def put(key: str, rows: dict[str, Any], what: str = "alpha") -> None:
        for n in names:
            r = rows.get(n, {})
            out[n][key] = _slopes(r) if what == "slopes" else float(r.get("alpha", math.nan))

    put("slopes_gn_index", _variant_rows(trained.model, X, y, names, plan.k, factors="gn"), "slopes")
    put("slopes_empirical_overlap", _variant_rows(trained.model, X, y, names, plan.k, pairing="overlap"), "slopes")
    Xall, yall = trained.data.X_train, trained.data.y_train
    for n in plan.robust_samples:
        if n <= len(yall):
            put(f"samples_{n}", _variant_rows(trained.model, Xall[:n], yall[:n], names, plan.k))
    put("early", _variant_rows(trained.early, X, y, names, plan.k))
    put("float32", _variant_rows(trained.model, X, y, names, plan.k, dtype=torch.float32))
    return out


def analyse_census_model(
    trained: Any, plan: AnalysisPlan, *, robust_roles: tuple[str, ...] = (), progress: Any = None
) -> list[dict[str, Any]]:
    """A row per matrix layer of ``trained`` (a :class:`dlnkit.engines.census_zoo.CensusTrained`), by
    :func:`dlnkit.numerics.model_alignment.analyse_model_layers` (float64 copy, packed q/k/v, tied
    parameters once, math attention, model checks).

    Robustness is measured on the first layer of every role in ``robust_roles`` (one per role and
    model keeps the run's time bounded; which layer that is stays fixed, so reruns compare)."""
    from dlnkit.numerics.census_models import layer_roles
    from dlnkit.numerics.model_alignment import analyse_model_layers

    if plan.samples > len(trained.data.y_train):
        raise DlnkitInputError(f"{plan.samples} analysis samples asked, {len(trained.data.y_train)} available")
    X = trained.data.X_train[: plan.samples]
    y = trained.data.y_train[: plan.samples]
    roles = layer_roles(trained.model)
    t0 = time.perf_counter()
    res = analyse_model_layers(
        trained.model, (X, y), "cross_entropy", k=plan.k, eigen=True, dtype=torch.float64, seed=0, progress=progress
    )
    t_main = time.perf_counter() - t0
    robust: list[str] = []
    for role in robust_roles:
        first = next((n for n, r in roles.items() if r == role and n in res.reports), None)
        if first is not None:
            robust.append(first)
    t1 = time.perf_counter()
    rb = _robustness(trained, robust, X, y, plan)
    t_rob = time.perf_counter() - t1
    rows = []
    for summary in res.rows:
        name = summary["layer"]
        row: dict[str, Any] = {"model": trained.spec.name, "family": trained.spec.family, "data": trained.spec.data}
        row.update(layer=name, role=roles.get(name, "other"))
        if "error" in summary or name not in res.reports:
            row["skipped"] = str(summary.get("error", "not analysed"))
        else:
            row.update(_census_row(summary, res.reports[name].to_dict(), plan))
            if name in rb:
                rob = rb[name]
                row["slopes_gn_index"] = rob.pop("slopes_gn_index")
                row["slopes_empirical_overlap"] = rob.pop("slopes_empirical_overlap")
                row["robustness"] = rob
        rows.append(row)
    if rows:
        rows[0]["timing"] = {"main_seconds": t_main, "robustness_seconds": t_rob, "analysis": res.meta}
    return rows
