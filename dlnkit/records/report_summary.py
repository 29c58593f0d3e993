"""The part of ``dlnkit report`` that answers first: which claims hold, which fail, where ours differs
from a paper.

- :func:`claim_verdicts`: one verdict per claim, FAIL and ERROR first. An approximate claim (no
  theorem behind it) outside its stated band is a MISS: shown, but it does not change ``dlnkit
  verify``'s exit status unless ``--strict``.
- :func:`ours_and_reported`: for a row that carries a paper's number (``reported``), our comparable
  number and the difference ours - reported. Our number comes from the row's structured details
  (a ratio, or the count split's ratio) before any text; the paper's is the number written in
  ``reported`` when that is one number (a reported statement stays text). It is a comparison to read,
  never a test: reported numbers are not expected values.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from typing import Any

#: verdict words in the order the summary lists them (what needs attention first)
VERDICT_ORDER = ("ERROR", "FAIL", "MISS", "MEASURED", "PASS")


@dataclass(frozen=True)
class ClaimVerdict:
    """One claim of a record: its rows, how many passed, its worst row and a one-word verdict."""

    claim_id: str
    kind: str
    rows: int
    passed: int
    worst_error: float
    worst_bound: float
    verdict: str
    failed_rows: int


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _excess(r: dict) -> float:
    e, b = _num(r.get("error")), _num(r.get("bound"))
    if r.get("status") == "ERROR" or e != e:
        return math.inf
    if b > 0:
        return e / b
    return 0.0 if e == 0 else math.inf


def row_kind(r: dict, info: dict | None = None) -> str:
    return str(r.get("kind") or (info or {}).get("kind") or "exact")


def claim_verdicts(rows: list[dict], infos: dict[str, dict] | None = None) -> list[ClaimVerdict]:
    """One :class:`ClaimVerdict` per claim, sorted ERROR, FAIL, MISS, MEASURED, PASS (then as recorded)."""
    infos = infos or {}
    by_claim: dict[str, list[dict]] = {}
    for r in rows:
        by_claim.setdefault(str(r["claim_id"]), []).append(r)
    out = []
    for cid, crows in by_claim.items():
        kind = row_kind(crows[0], infos.get(cid))
        statuses = [str(r.get("status")) for r in crows]
        bad = [r for r in crows if r.get("status") in ("FAIL", "ERROR")]
        if "ERROR" in statuses:
            verdict = "ERROR"
        elif bad and kind == "exact":
            verdict = "FAIL"
        elif bad:
            verdict = "MISS"
        elif all(s == "MEASURED" for s in statuses):
            verdict = "MEASURED"
        else:
            verdict = "PASS"
        worst = max(crows, key=_excess)
        out.append(
            ClaimVerdict(
                cid,
                kind,
                len(crows),
                sum(s == "PASS" for s in statuses),
                _num(worst.get("error")),
                _num(worst.get("bound")),
                verdict,
                len(bad),
            )
        )
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return sorted(out, key=lambda v: rank.get(v.verdict, len(rank)))


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _first_number(text: Any) -> float | None:
    m = _NUMBER.search(str(text or ""))
    return float(m.group(0)) if m else None


def ours_value(r: dict) -> float | None:
    """Our number comparable with the paper's: ``details["ratio"]``, else the count split's ratio
    ``details["splits"]["count"]["ratio"]``, else the number after "count" in ``measured``, else
    the first number of ``measured``."""
    details = r.get("details") if isinstance(r.get("details"), dict) else {}
    ratio = _num(details.get("ratio"))
    if math.isfinite(ratio):
        return ratio
    splits = details.get("splits")
    if isinstance(splits, dict) and isinstance(splits.get("count"), dict):
        ratio = _num(splits["count"].get("ratio"))
        if math.isfinite(ratio):
            return ratio
    measured = str(r.get("measured", ""))
    m = re.search(r"\bcount\s+([-+]?\d+\.?\d*(?:[eE][-+]?\d+)?)", measured)
    if m:
        return float(m.group(1))
    return _first_number(measured)


#: a reported value that is one number of the same quantity as ours ("2.99 (reported)"); a reported
#: statement ("alpha~2 (reported: conv/MLP)", "5/2 at s=2 (paper)") is shown as text only
_REPORTED_NUMBER = re.compile(r"^\s*([-+]?\d+\.?\d*(?:[eE][-+]?\d+)?)\s*\(reported\)\s*$")


def ours_and_reported(r: dict) -> tuple[float, float, float] | None:
    """(ours, reported, ours - reported) for a row whose ``reported`` is one number of the quantity
    it measures (``"2.99 (reported)"``), else None."""
    m = _REPORTED_NUMBER.match(str(r.get("reported") or ""))
    ours = ours_value(r) if m else None
    if m is None or ours is None:
        return None
    rep = float(m.group(1))
    return ours, rep, ours - rep


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _g(x: float) -> str:
    if x != x:
        return "-"
    return f"{x:.3g}" if (1e-3 <= abs(x) < 1e4 or x == 0) else f"{x:.2e}"


def ours_vs_reported_cell(r: dict) -> str:
    """The verdict table's "ours vs reported" cell (HTML): ours, the paper's number, the difference."""
    c = ours_and_reported(r)
    if c is None:
        return ""
    ours, rep, diff = c
    rel = f" ({diff / rep:+.1%})" if rep else ""
    return f"{ours:.4g} vs {rep:.4g} reported: <b>{diff:+.3g}</b>{rel}"


def summary_html(rows: list[dict], infos: dict[str, dict] | None = None) -> str:
    """The report's opening: a sentence of counts, the claims table (FAIL and ERROR first), and
    where ours differs from a paper's reported numbers."""
    verdicts = claim_verdicts(rows, infos)
    count = {w: sum(v.verdict == w for v in verdicts) for w in VERDICT_ORDER}
    parts = [f"{n} {w}" for w, n in count.items() if n]
    misses = [v for v in verdicts if v.verdict == "MISS"]
    sentence = f"{len(verdicts)} claims, {len(rows)} rows: " + ", ".join(parts) + "."
    if misses:
        sentence += (
            " MISS: an approximate claim (no theorem behind it) outside its stated band in "
            + ", ".join(f"{_e(v.claim_id)} ({v.failed_rows} of {v.rows} rows)" for v in misses)
            + "; it does not change <code>dlnkit verify</code>'s exit status unless <code>--strict</code>."
        )
    body = []
    for v in verdicts:
        worst = "raised" if v.verdict == "ERROR" else f"{_g(v.worst_error)} / {_g(v.worst_bound)}"
        note = " (approximate: exit status unchanged without --strict)" if v.verdict == "MISS" else ""
        body.append(
            f"<tr class='claimrow'><td><a href='#claim-{_e(v.claim_id)}'>{_e(v.claim_id)}</a></td>"
            f"<td>{_e(v.kind)}</td><td class='num'>{v.rows}</td><td class='num'>{v.passed}</td>"
            f"<td class='num'>{_e(worst)}</td><td><span class='badge {_e(v.verdict)}'>{_e(v.verdict)}</span>"
            f"<span class='note'>{_e(note)}</span></td></tr>"
        )
    table = (
        "<table id='claim-summary'><thead><tr><th>claim</th><th>kind</th><th>rows</th><th>pass</th>"
        "<th>worst error / bound</th><th>verdict</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>"
    )
    compared = [(r, c) for r in rows if (c := ours_and_reported(r)) is not None]
    if compared:
        worst_r, (o, p, d) = max(compared, key=lambda rc: abs(rc[1][2]))
        differs = (
            f"<p>{len(compared)} row(s) carry a paper's number (column <i>ours vs reported</i>); the largest "
            f"difference is {d:+.3g} ({_e(worst_r['claim_id'])}, {_e(_cfg(worst_r.get('config')))}: ours "
            f"{o:.4g}, reported {p:.4g}). A reported number is shown beside ours, never used as an expected value; "
            "a run of a different setup than the paper's is labelled so in its claim.</p>"
        )
    else:
        differs = "<p class='note'>No row of this record carries a paper's reported number.</p>"
    return f"<p class='headline'>{sentence}</p>{table}{differs}"


def _cfg(cfg: Any) -> str:
    if not isinstance(cfg, dict):
        return str(cfg)
    return ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in cfg.items())
