"""Tables and atomic JSON output for claim results."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dlnkit.claims.base import ClaimResult


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """Write JSON to a temporary file beside ``path`` and rename it into place: a reader sees
    the old file or the new one, never half of one (see :mod:`dlnkit.records.outputs`)."""
    from dlnkit.records.outputs import atomic_write_json

    return atomic_write_json(path, obj)


def _short_config(cfg: dict, width: int = 38) -> str:
    parts = []
    for k, v in cfg.items():
        if isinstance(v, (list, tuple)):
            v = ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
        elif isinstance(v, float):
            v = f"{v:g}"
        parts.append(f"{k}={v}")
    s = " ".join(parts)
    return s if len(s) <= width else s[: width - 1] + "…"


def format_table(results: Sequence[ClaimResult], *, config_width: int = 38) -> str:
    """A plain-text table: claim, configuration, predicted, measured, error, bound, status."""
    header = ["claim", "config", "predicted", "measured", "reported", "error", "bound", "status"]
    rows = []
    for r in results:
        rows.append(
            [
                r.claim_id,
                _short_config(r.config, config_width),
                r.predicted,
                r.measured,
                r.reported or "",
                f"{r.error:.2e}",
                f"{r.bound:.2e}",
                r.status + ("" if r.kind == "exact" else " (approx)"),
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(header), line(["-" * w for w in widths])] + [line(row) for row in rows]
    n_pass = sum(r.passed for r in results)
    out.append("")
    out.append(f"{n_pass} passed, {len(results) - n_pass} failed")
    return "\n".join(out)
