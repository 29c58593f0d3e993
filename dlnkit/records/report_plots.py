"""Plots of a verify / reproduce record, drawn only from what the record's rows hold.

Each ``plot_*`` function takes the rows of one claim (plain dicts as written by
``dlnkit verify --json``) and returns a :class:`Plot` (a PNG, base64-encoded, ready to embed) or
``None`` when the rows lack the data it needs; it never fills a gap with a value the record does
not contain. What each one reads:

- :func:`plot_errors_vs_bounds`: ``error`` and ``bound`` of every row (any claim);
- :func:`plot_ratio_vs_depth`: the network depth (``config["depth"]``, or ``len(config["dims"]) - 1``)
  and a measured ratio (``details["ratio"]``, or ``measured`` when the prediction reads ``L = n``),
  the prediction, and the paper's number from ``reported`` (drawn as "reported");
- :func:`plot_trajectories`: ``details["trajectory"]``, a list of ``[step, value]`` pairs;
- :func:`plot_spectra`: ``details["spectrum"] = {"predicted": [...], "measured": [...]}``;
- :func:`plot_fit`: ``details["sigma"]`` and ``details["h"]`` (same length), with the fitted exponent
  ``details["alpha"]`` (and intercept ``details["log_c"]``) when present.

A claim can add its own figures through ``Claim.plot(rows)`` (see :func:`claim_hook_plots`).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.

Row = dict

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Plot:
    """One embedded figure: its title, the PNG as base64 and a caption saying what it shows."""

    title: str
    png_base64: str
    caption: str


def first_number(text: Any) -> float | None:
    """The first number written in ``text`` (``"2.00 (reported)"`` -> 2.0), or None."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    m = _NUMBER.search(str(text or ""))
    return float(m.group(0)) if m else None


def as_float(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def row_depth(row: Row) -> int | None:
    cfg = row.get("config") or {}
    if isinstance(cfg.get("depth"), int):
        return int(cfg["depth"])
    dims = cfg.get("dims")
    if isinstance(dims, list) and len(dims) >= 2:
        return len(dims) - 1
    return None


def _figure(width: float = 5.2, height: float = 3.2):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90)
    return fig, fig.add_subplot(1, 1, 1)


def figure_to_base64(fig) -> str:
    """A matplotlib figure as a base64 PNG (Agg canvas; no global backend is touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


_STATUS_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "ERROR": "#9a6700"}


def plot_errors_vs_bounds(claim_id: str, rows: Sequence[Row]) -> Plot | None:
    """error / bound of each row on a log scale, with the line error = bound."""
    pts = []
    for i, r in enumerate(rows):
        e, b = as_float(r.get("error")), as_float(r.get("bound"))
        if e is None or b is None or b <= 0:
            continue
        pts.append((i, max(e / b, 1e-18), str(r.get("status", ""))))
    if not pts:
        return None
    fig, ax = _figure(5.2, 2.8)
    for status, colour in _STATUS_COLOURS.items():
        sel = [(i, v) for i, v, s in pts if s == status]
        if sel:
            ax.scatter([i for i, _ in sel], [v for _, v in sel], color=colour, label=status, s=22, zorder=3)
    ax.axhline(1.0, color="#555", lw=1, ls="--", label="error = bound")
    ax.set_yscale("log")
    ax.set_xlabel("row")
    ax.set_ylabel("error / bound")
    ax.legend(fontsize=7, loc="best")
    skipped = len(rows) - len(pts)
    caption = f"{len(pts)} row(s); below the dashed line the measurement is within the claim's tolerance"
    zeros = sum(1 for _, v, _ in pts if v <= 1e-18)
    caption += f"; {zeros} row(s) with error 0 drawn at 1e-18." if zeros else "."
    if skipped:
        caption += f" {skipped} row(s) have no finite error and bound (ERROR rows or NaN) and are not drawn."
    return Plot(f"{claim_id}: error against bound", figure_to_base64(fig), caption)


def _ratio_of(row: Row) -> float | None:
    """A row's measured ratio: ``details["ratio"]``, the count split's ratio
    (``details["splits"]["count"]["ratio"]``, as B2-paper and B3-paper record it), or ``measured``
    when the prediction reads ``L = n`` and ``measured`` is a bare number."""
    details = row.get("details") or {}
    if as_float(details.get("ratio")) is not None:
        return as_float(details["ratio"])
    splits = details.get("splits") if isinstance(details, dict) else None
    if isinstance(splits, dict) and isinstance(splits.get("count"), dict):
        ratio = as_float(splits["count"].get("ratio"))
        if ratio is not None:
            return ratio
    if re.match(r"^\s*L\s*=", str(row.get("predicted", ""))):
        return as_float(row.get("measured"))
    return None


def plot_ratio_vs_depth(claim_id: str, rows: Sequence[Row]) -> Plot | None:
    """Measured ratio against depth L, the prediction, and the paper's numbers labelled "reported"."""
    ours, predicted, reported = [], [], []
    for r in rows:
        L, ratio = row_depth(r), _ratio_of(r)
        if L is None or ratio is None:
            continue
        ours.append((L, ratio))
        p = first_number(r.get("predicted"))
        if p is not None:
            predicted.append((L, p))
        rep = first_number(r.get("reported")) if r.get("reported") else None
        if rep is not None:
            reported.append((L, rep))
    depths = sorted({L for L, _ in ours})
    if len(depths) < 2:  # one depth is a point, not a curve: the verdict table already holds it
        return None
    fig, ax = _figure()
    ax.plot(depths, depths, color="#bbb", lw=1, ls=":", label="y = L")
    if predicted:
        ps = sorted(set(predicted))
        ax.plot([p[0] for p in ps], [p[1] for p in ps], "s", mfc="none", color="#0969da", ms=8, label="predicted")
    ax.plot([o[0] for o in ours], [o[1] for o in ours], "o", color="#1a7f37", ms=5, label="measured (dlnkit)")
    if reported:
        rs = sorted(set(reported))
        ax.plot([x[0] for x in rs], [x[1] for x in rs], "x", color="#cf222e", ms=8, mew=2, label="reported (paper)")
    ax.set_xlabel("depth L")
    ax.set_ylabel("mean(dominant) / mean(bulk)")
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.legend(fontsize=7, loc="best")
    caption = f"{len(ours)} row(s) with a depth and a measured ratio"
    caption += (
        f"; {len(reported)} with the paper's reported value (red crosses, labelled reported)."
        if reported
        else "; the record holds no reported values for them."
    )
    return Plot(f"{claim_id}: ratio against depth", figure_to_base64(fig), caption)


def plot_trajectories(claim_id: str, rows: Sequence[Row]) -> Plot | None:
    """Each row's recorded trajectory (value against step), with its prediction as a dashed line."""
    series = []
    for r in rows:
        traj = (r.get("details") or {}).get("trajectory")
        if not isinstance(traj, list) or not traj:
            continue
        pts = [(as_float(p[0]), as_float(p[1])) for p in traj if isinstance(p, (list, tuple)) and len(p) >= 2]
        pts = [(s, v) for s, v in pts if s is not None and v is not None]
        if pts:
            series.append((r, pts))
    if not series:
        return None
    fig, ax = _figure()
    cmap = fig.colormaps["viridis"] if hasattr(fig, "colormaps") else None
    for k, (r, pts) in enumerate(series):
        colour = cmap(k / max(len(series) - 1, 1)) if cmap else None
        L = row_depth(r)
        ax.plot(
            [max(s, 0.5) for s, _ in pts],
            [v for _, v in pts],
            "-o",
            ms=3,
            lw=1,
            color=colour,
            label=f"L = {L}" if L is not None else f"row {k}",
        )
        p = first_number(r.get("predicted"))
        if p is not None:
            ax.axhline(p, color=colour, lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("training step (step 0 drawn at 0.5)")
    ax.set_ylabel("recorded value")
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.legend(fontsize=6, ncol=2, loc="best")
    return Plot(
        f"{claim_id}: along training",
        figure_to_base64(fig),
        f"{len(series)} recorded trajectories; dashed lines: each row's prediction.",
    )


def plot_spectra(claim_id: str, rows: Sequence[Row], max_panels: int = 4) -> Plot | None:
    """Predicted and measured eigenvalues (sorted) of up to ``max_panels`` rows."""
    found = []
    for r in rows:
        spec = (r.get("details") or {}).get("spectrum")
        if (
            isinstance(spec, dict)
            and isinstance(spec.get("predicted"), list)
            and isinstance(spec.get("measured"), list)
        ):
            found.append((r, spec))
    if not found:
        return None
    from matplotlib.figure import Figure

    shown = found[:max_panels]
    fig = Figure(figsize=(2.7 * len(shown) + 0.6, 3.0), dpi=90)
    for k, (r, spec) in enumerate(shown):
        ax = fig.add_subplot(1, len(shown), k + 1)
        pred = sorted((v for v in (as_float(x) for x in spec["predicted"]) if v is not None), reverse=True)
        meas = sorted((v for v in (as_float(x) for x in spec["measured"]) if v is not None), reverse=True)
        ax.plot(range(len(pred)), pred, "-", color="#0969da", lw=1.5, label="predicted")
        ax.plot(range(len(meas)), meas, ".", color="#1a7f37", ms=4, label="measured")
        ax.set_title(", ".join(f"{k2}={v}" for k2, v in list((r.get("config") or {}).items())[:2]), fontsize=7)
        ax.set_xlabel("index")
        ax.ticklabel_format(axis="y", useOffset=False)
        if k == 0:
            ax.set_ylabel("eigenvalue")
            ax.legend(fontsize=7)
    caption = f"Spectra of {len(shown)} of {len(found)} row(s) that record them."
    return Plot(f"{claim_id}: spectrum against prediction", figure_to_base64(fig), caption)


def plot_fit(claim_id: str, rows: Sequence[Row]) -> Plot | None:
    """h_k against sigma_k (log-log) with the recorded fit (slope alpha)."""
    for r in rows:
        d = r.get("details") or {}
        sig, h = d.get("sigma"), d.get("h")
        if not (isinstance(sig, list) and isinstance(h, list) and len(sig) == len(h) and len(sig) >= 2):
            continue
        pts = [(as_float(s), as_float(v)) for s, v in zip(sig, h)]
        pts = [(s, v) for s, v in pts if s and v and s > 0 and v > 0]
        if len(pts) < 2:
            continue
        fig, ax = _figure()
        ax.loglog([s for s, _ in pts], [v for _, v in pts], "o", color="#1a7f37", ms=4, label="h_k (measured)")
        alpha = as_float(d.get("alpha"))
        caption = f"{len(pts)} directions of one row"
        if alpha is not None:
            log_c = as_float(d.get("log_c"))
            if log_c is None:  # the recorded slope through the centre of mass of the points (no intercept recorded)
                log_c = sum(math.log(v) - alpha * math.log(s) for s, v in pts) / len(pts)
                caption += (
                    "; the line has the recorded slope alpha, placed through the points' centre (no intercept recorded)"
                )
            xs = sorted(s for s, _ in pts)
            ax.loglog(
                xs, [math.exp(log_c) * s**alpha for s in xs], "-", color="#0969da", label=f"fit, alpha = {alpha:.3g}"
            )
        else:
            caption += "; the row records no fitted exponent, so no line is drawn"
        ax.set_xlabel("sigma_k")
        ax.set_ylabel("h_k")
        ax.legend(fontsize=7)
        return Plot(f"{claim_id}: h_k against sigma_k", figure_to_base64(fig), caption + ".")
    return None


#: the derived plots, in the order they appear, with what each needs (for the "not drawn" notes)
DERIVED_PLOTS: tuple[tuple[str, Callable[[str, Sequence[Row]], Plot | None], str], ...] = (
    ("spectrum against prediction", plot_spectra, 'details["spectrum"] with predicted and measured eigenvalues'),
    ("ratio against depth", plot_ratio_vs_depth, "a measured ratio at two depths or more"),
    ("along training", plot_trajectories, 'details["trajectory"]'),
    ("h_k against sigma_k", plot_fit, 'details["sigma"] and details["h"]'),
    ("error against bound", plot_errors_vs_bounds, "a finite error and bound"),
)


def claim_hook_plots(claim_id: str, rows: Sequence[Row]) -> tuple[list[Plot], str]:
    """Figures from the registered claim's own ``plot(rows)`` hook, if it has one that returns any.

    The hook returns None, a matplotlib Figure, or a list of Figures or ``(title, Figure)`` pairs.
    Returns the plots and a note (empty, or why the hook gave nothing)."""
    try:
        from dlnkit.claims import all_claims

        claim = all_claims().get(claim_id)
    except Exception as exc:  # the report must come out even when the registry does not load
        return [], f"claim registry unavailable ({type(exc).__name__})"
    hook = getattr(claim, "plot", None) if claim is not None else None
    if hook is None or not callable(hook):
        return [], ""
    try:
        result = hook(list(rows))
    except Exception as exc:
        return [], f"the claim's plot hook raised {type(exc).__name__}: {exc}"
    if result is None:
        return [], ""
    items = result if isinstance(result, (list, tuple)) else [result]
    plots = []
    for k, item in enumerate(items):
        title, fig = item if isinstance(item, tuple) else (f"{claim_id}: figure {k + 1}", item)
        if hasattr(fig, "savefig"):
            plots.append(Plot(str(title), figure_to_base64(fig), "Drawn by the claim's own plot hook."))
    return plots, ""


def claim_plots(claim_id: str, rows: Sequence[Row]) -> tuple[list[Plot], list[str]]:
    """Every plot the rows of one claim support, and notes on the derived plots they do not."""
    plots, missing = [], []
    for name, fn, needs in DERIVED_PLOTS:
        try:
            p = fn(claim_id, rows)
        except Exception as exc:  # one bad row must not cost the report
            missing.append(f"{name}: could not be drawn ({type(exc).__name__}: {exc})")
            continue
        if p is None:
            missing.append(f"{name} (needs {needs})")
        else:
            plots.append(p)
    hooked, note = claim_hook_plots(claim_id, rows)
    plots = hooked + plots
    if note:
        missing.append(note)
    return plots, missing
