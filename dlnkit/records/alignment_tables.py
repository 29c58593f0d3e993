"""The per-layer alignment table and its log-log plots (``dlnkit alignment``, zoo and user models)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dlnkit.records.outputs import atomic_output

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.

COLUMNS = [
    ("layer", "{}"),
    ("type", "{}"),
    ("shape", "{}"),
    ("K", "{}"),
    ("alpha", "{:.2f}"),
    ("alpha_ci", "{}"),
    ("alpha_r2", "{:.2f}"),
    ("gamma", "{:.2f}"),
    ("gamma_r2", "{:.2f}"),
    ("s_dir", "{:.2f}"),
    ("s_dir_r2", "{:.2f}"),
    ("s_eig", "{:.2f}"),
    ("s_eig_r2", "{:.2f}"),
    ("alpha_gamma", "{:.2f}"),
    ("PR", "{:.2f}"),
    ("zeta_bound", "{:.2f}"),
    ("slope_Lambda", "{:.2f}"),
    ("slope_Phi", "{:.2f}"),
    ("slope_chi", "{:.2f}"),
    ("reported_alpha", "{}"),
]


def format_rows(rows) -> str:
    """The table. A fit over fewer than 5 points shows its count, e.g. ``1.00(n=2)``; an interval
    is ``[lo,hi]``; a row with an ``error`` shows "not analysed" (the reason is printed below it)."""
    head = [c for c, _ in COLUMNS]
    body = []
    for r in rows:
        cells = []
        for c, fmt in COLUMNS:
            v = r.get(c, "")
            if "error" in r and c == "alpha":
                cells.append("not analysed")
                continue
            base = c[:-3] if c.endswith("_r2") else c
            if isinstance(v, float) and r.get(f"{base}_few") and not math.isnan(v):
                cells.append(f"{fmt.format(v)}(n={r.get(f'{base}_n')})")
                continue
            if isinstance(v, (list, tuple)) and len(v) == 2:
                cells.append(f"[{v[0]:.2f},{v[1]:.2f}]")
                continue
            if isinstance(v, float):
                cells.append("nan" if math.isnan(v) else ("inf" if math.isinf(v) else fmt.format(v)))
            else:
                cells.append(str(v))
        body.append(cells)
    w = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = lambda cs: "  ".join(c.ljust(x) for c, x in zip(cs, w)).rstrip()
    return "\n".join([line(head), line(["-" * x for x in w])] + [line(b) for b in body])


def plot_name(model_name: str, layer: str) -> str:
    """File name of one layer's plot inside the --plot folder."""
    return f"{model_name}-{layer.replace('.', '_')}.png"


def save_plots(reports, out_dir, model_name: str) -> list:
    """One log-log plot per layer: h_k against sigma_k with the fitted power law."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for rep in reports:
        fig, ax = plt.subplots(figsize=(4, 3.2))
        pos = rep.h > 0
        ax.loglog(rep.sigma[pos], rep.h[pos], "o", ms=4, label="h_k (exact HVP)")
        if "alpha" in rep.fits:
            f = rep.fits["alpha"]
            xs = np.geomspace(rep.sigma[pos].min(), rep.sigma[pos].max(), 50)
            ax.loglog(xs, np.exp(f.intercept) * xs**f.slope, "-", label=f"fit alpha={f.exponent:.2f}, R2={f.r2:.2f}")
        ax.set_xlabel("sigma_k (gradient singular value)")
        ax.set_ylabel("h_k")
        ax.set_title(f"{model_name} {rep.layer}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = out / plot_name(model_name, rep.layer)
        with atomic_output(p) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
        plt.close(fig)
        paths.append(str(p))
    return paths
