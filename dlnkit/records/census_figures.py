"""The census's figures, each written atomically as PNG; every title carries the different-setup label.

* ``alpha_by_role.png``: alpha of every measured layer by layer type (points with their fit intervals),
  the paper's stated value per type as a band marker labelled "reported";
* ``s_vs_alpha_gamma.png``: s against alpha*gamma, directional (s_dir) and eigen (s_eig), with y = x;
* ``pr_vs_bound.png``: the top-eigenvalue participation ratio against zeta(s)^2/zeta(2s) at s = alpha*gamma;
* ``robustness.png``: per layer type, the median alpha under each robustness variant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dlnkit.claims.census_verdicts import SENTENCES
from dlnkit.records.outputs import atomic_output

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.

ROLE_ORDER = ("conv", "conv_shortcut", "attention", "mlp_up", "mlp_hidden", "mlp_down", "embed", "head")
#: the paper's statements per layer type, drawn as (lo, hi) markers labelled "reported"
REPORTED_ALPHA = {"conv": (2.0, 2.0), "attention": (1.0, 1.0), "mlp_up": (None, 1.0), "head": (2.0, None)}
FIGURES = ("alpha_by_role.png", "s_vs_alpha_gamma.png", "pr_vs_bound.png", "robustness.png")
SHORT_LABEL = "different setup (the paper's architectures, widths, data, training are not published)"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    _plt().close(fig)


def _fin(*vals: float) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals)


def alpha_by_role(rows: list[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    roles = [r for r in ROLE_ORDER if any(x["role"] == r for x in rows)]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    fams = sorted({x["family"] for x in rows})
    for i, role in enumerate(roles):
        sel = [x for x in rows if x["role"] == role]
        for j, x in enumerate(sel):
            a = x["alpha"]
            off = (j - len(sel) / 2) * min(0.6 / max(len(sel), 1), 0.06)
            c = f"C{fams.index(x['family']) % 10}"
            if _fin(a["lo"], a["hi"]):
                ax.plot([i + off, i + off], [a["lo"], a["hi"]], color=c, lw=0.6, alpha=0.5)
            ax.plot(i + off, a["value"], "o", color=c, ms=3.5)
        lo, hi = REPORTED_ALPHA.get(role, (None, None))
        if lo is not None or hi is not None:
            y = lo if lo is not None else hi
            ax.plot([i - 0.4, i + 0.4], [y, y], "k-", lw=2.5)
            txt = "reported ~" if lo == hi else ("reported >" if hi is None else "reported <")
            ax.annotate(f"{txt}{y:g}", (i, y), textcoords="offset points", xytext=(0, 4), fontsize=7, ha="center")
    for f in fams:
        ax.plot([], [], "o", color=f"C{fams.index(f) % 10}", label=f)
    ax.set_xticks(range(len(roles)), roles)
    ax.set_ylabel("alpha (fit and 95% fit interval)")
    ax.set_title(f"alpha by layer type; {SHORT_LABEL}", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)


def s_vs_alpha_gamma(rows: list[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, key, what in ((axes[0], "s_dir", "directional curvatures"), (axes[1], "s_eig", "Hessian eigenvalues")):
        pts = [
            (x["alpha_gamma"]["value"], x[key]["value"], x["role"])
            for x in rows
            if _fin(x["alpha_gamma"]["value"], x[key]["value"])
        ]
        roles = [r for r in ROLE_ORDER if any(p[2] == r for p in pts)]
        for i, role in enumerate(roles):
            sel = [p for p in pts if p[2] == role]
            ax.plot([p[0] for p in sel], [p[1] for p in sel], "o", ms=4, color=f"C{i}", label=role)
        if pts:
            lo = min(min(p[0], p[1]) for p in pts)
            hi = max(max(p[0], p[1]) for p in pts)
            ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="s = alpha*gamma")
        ax.set_xlabel("alpha * gamma")
        ax.set_ylabel(key)
        ax.set_title(f"{key} from {what}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(SHORT_LABEL, fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def pr_vs_bound(rows: list[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    pts = [(x["zeta_bound"], x["PR_eig"], x["role"]) for x in rows if _fin(x["zeta_bound"], x["PR_eig"])]
    inf = [x for x in rows if _fin(x["PR_eig"]) and not _fin(x["zeta_bound"])]
    roles = [r for r in ROLE_ORDER if any(p[2] == r for p in pts)]
    for i, role in enumerate(roles):
        sel = [p for p in pts if p[2] == role]
        ax.plot([p[0] for p in sel], [p[1] for p in sel], "o", ms=4, color=f"C{i}", label=role)
    if pts:
        hi = max(max(p[0], p[1]) for p in pts)
        ax.plot([1, hi], [1, hi], "k--", lw=1, label="PR = bound")
    ax.set_xlabel("zeta(s)^2 / zeta(2s) at s = alpha*gamma")
    ax.set_ylabel("participation ratio of the top eigenvalues")
    ax.set_title(
        f"PR against the bound ({len(inf)} layers with s <= 1: unbounded, not shown)\n{SHORT_LABEL}", fontsize=7
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def robustness(verdicts: list[dict[str, Any]], path: Path) -> None:
    plt = _plt()
    rows = [v for v in verdicts if "robustness" in v]
    fig, axes = plt.subplots(1, max(len(rows), 1), figsize=(3.2 * max(len(rows), 1), 4), squeeze=False)
    for ax, v in zip(axes[0], rows):
        rb = {k: x for k, x in v["robustness"].items() if isinstance(x, dict)}
        labels = list(rb)
        ax.barh(range(len(labels)), [rb[k]["median"] for k in labels], color="C1", alpha=0.7, label="variant")
        ax.plot([rb[k]["baseline_median"] for k in labels], range(len(labels)), "k|", ms=12, label="baseline")
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
        band = next((x.band for x in SENTENCES if x.id == v["id"]), None)
        if band is not None:
            top = max([rb[k]["median"] for k in labels] + [rb[k]["baseline_median"] for k in labels] + [2.5])
            lo = band.lo if math.isfinite(band.lo) else 0.0
            hi = band.hi if math.isfinite(band.hi) else top * 1.1
            ax.axvspan(lo, hi, color="C2", alpha=0.15, label="band")
        ax.set_title(f"{v['id']}: band {v['band']}", fontsize=8)
        ax.set_xlabel("median alpha", fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"robustness of the alpha verdicts; {SHORT_LABEL}", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def write_figures(out: Path, rows: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> list[str]:
    ok = [r for r in rows if "skipped" not in r]
    alpha_by_role(ok, out / FIGURES[0])
    s_vs_alpha_gamma(ok, out / FIGURES[1])
    pr_vs_bound(ok, out / FIGURES[2])
    robustness(verdicts, out / FIGURES[3])
    return list(FIGURES)
