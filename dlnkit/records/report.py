"""Tables and atomic JSON output for claim results."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

from dlnkit.claims.base import ClaimResult

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.


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


#: verdict words of the summary (one per claim) and their terminal colours (ANSI SGR codes)
_VERDICT_COLOURS = {"PASS": "32", "FAIL": "31;1", "ERROR": "35;1", "MISS": "33"}


def use_colour(stream) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (https://no-color.org) or
    ``TERM=dumb``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _counts_against(r: ClaimResult, strict: bool) -> bool:
    """Whether a row that did not pass counts in the exit status: exact claims and ERROR rows
    always, approximate misses only with ``--strict``."""
    return not r.passed and (strict or r.kind == "exact" or r.status == "ERROR")


def _excess(r: ClaimResult) -> float:
    """error / bound, the measure of the worst row (inf for an ERROR row or a NaN error)."""
    if r.status == "ERROR" or r.error != r.error:
        return math.inf
    if r.bound > 0:
        return r.error / r.bound
    return 0.0 if r.error == 0 else math.inf


def claim_verdict(rows: Sequence[ClaimResult], *, strict: bool = False) -> str:
    """One word for a claim's rows: ERROR (a check raised), FAIL (a row outside its bound that
    counts in the exit status), MISS (an approximate claim outside its stated band: reported, not
    counted without ``--strict``), PASS."""
    if any(r.status == "ERROR" for r in rows):
        return "ERROR"
    if any(_counts_against(r, strict) for r in rows):
        return "FAIL"
    if any(not r.passed for r in rows):
        return "MISS"
    return "PASS"


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_summary(
    results: Sequence[ClaimResult], *, strict: bool = False, colour: bool = False, width: int = 100
) -> str:
    """``dlnkit verify``'s default screen: one line per claim (id, kind, rows, passed rows, the
    worst row's error against its bound, a one-word verdict), then every row that did not pass in
    full, then one summary line; no line is wider than ``width`` columns."""
    claims: dict[str, list[ClaimResult]] = {}
    for r in results:
        claims.setdefault(r.claim_id, []).append(r)
    id_w = min(28, max([len("claim")] + [len(c) for c in claims]))
    paint = (lambda word: f"\x1b[{_VERDICT_COLOURS[word]}m{word}\x1b[0m") if colour else (lambda word: word)
    header = f"{'claim':<{id_w}}  {'kind':<6}  {'rows':>4}  {'pass':>4}  {'worst error / bound':<21}  verdict"
    out = [header, "-" * len(header)]
    verdicts: dict[str, str] = {}
    for cid, rows in claims.items():
        verdicts[cid] = v = claim_verdict(rows, strict=strict)
        worst = max(rows, key=_excess)
        worst_s = "(raised)" if worst.status == "ERROR" else f"{worst.error:.2e} / {worst.bound:.2e}"
        kind = "exact" if rows[0].kind == "exact" else "approx"
        n_pass = sum(r.passed for r in rows)
        out.append(f"{_fit(cid, id_w):<{id_w}}  {kind:<6}  {len(rows):>4}  {n_pass:>4}  {worst_s:<21}  {paint(v)}")
    bad = [r for r in results if not r.passed]
    if bad:
        out += ["", "Rows that did not pass:"]
        for r in bad:
            word = "ERROR" if r.status == "ERROR" else ("FAIL" if _counts_against(r, strict) else "MISS")
            out.append("")
            head = _fit(f"{word} {r.claim_id} ({r.kind})", width)
            out.append(paint(word) + head[len(word) :])
            fields = [("config", _short_config(r.config, 10_000))]
            if r.status == "ERROR":
                fields.append(("message", r.message))
            else:
                fields += [("predicted", r.predicted), ("measured", r.measured)]
                if r.reported:
                    fields.append(("reported", r.reported))
                fields.append(("error", f"{r.error:.3e} (bound {r.bound:.3e})"))
            for name, value in fields:
                out += textwrap.wrap(
                    str(value),
                    width=width,
                    initial_indent=f"  {name + ':':<11}",
                    subsequent_indent=" " * 13,
                    break_long_words=True,
                    break_on_hyphens=False,
                ) or [f"  {name}:"]
    n_pass = sum(r.passed for r in results)
    counts = {w: sum(v == w for v in verdicts.values()) for w in ("PASS", "FAIL", "MISS", "ERROR")}
    out.append("")
    if counts["MISS"]:
        out.append("MISS: an approximate claim outside its stated band (not counted in the exit status; --strict)")
    if len(results) > len(claims):
        out.append("dlnkit verify -v prints every row; --json PATH writes them all")
    plural = lambda n, word: f"{n} {word}" + ("" if n == 1 else "s")
    summary = f"{plural(len(claims), 'claim')}: {', '.join(f'{n} {w}' for w, n in counts.items() if n)}; "
    summary += f"{plural(len(results), 'row')}: {n_pass} passed, {len(results) - n_pass} failed"
    out.append(summary)
    return "\n".join(line.rstrip() for line in out)
