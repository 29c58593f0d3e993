"""``dlnkit report``: one self-contained HTML file from a verify or reproduce record.

The page needs no network: the CSS and the small filter script are inline and every plot is a PNG
embedded as a ``data:`` URI (see :mod:`dlnkit.records.report_plots`). It holds the verdict table (status,
error against bound, filters by source group and status), each claim's plots, the counterexamples
with their replay commands, and the machine, versions and seeds the record states.

Python use::

    from dlnkit.records.report_html import load_record, render_report
    html = render_report(load_record("verify.json"))
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlnkit import __version__
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.records.report_plots import claim_plots
from dlnkit.records.report_summary import ours_vs_reported_cell, summary_html

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.

#: written into every report's <head>; an existing file with it is a report dlnkit wrote
GENERATOR = "dlnkit report"
#: keys of a record that hold the rows, in the order they are looked for
ROW_KEYS = ("results", "rows")
#: keys of a record that describe the run (machine, versions, seeds, command)
META_KEYS = ("environment", "machine", "meta", "settings", "run")


@dataclass
class Record:
    """A verify or reproduce record, read into rows (one dict per verdict) and what describes the run."""

    rows: list[dict]
    meta: dict
    path: str = ""
    counterexamples: list[dict] = field(default_factory=list)
    #: what the record says about each claim (title, source, group, kind, tolerance), by id
    claims: dict = field(default_factory=dict)


def _row_ok(r: Any) -> bool:
    return isinstance(r, dict) and ("claim_id" in r or "claim" in r) and "status" in r


def load_record(path: str | os.PathLike) -> Record:
    """Read a ``dlnkit verify --json`` or ``dlnkit reproduce`` record.

    Parameters
    ----------
    path
        The JSON file. Its rows are under ``results`` (verify) or ``rows``; a bare list of rows is
        accepted too. Every row needs ``claim_id`` (or ``claim``) and ``status``.

    Returns
    -------
    Record
        The rows, the record's other top-level entries (machine, versions, seeds) and any
        ``counterexamples`` it lists.

    Raises
    ------
    DlnkitInputError
        The file is missing, not UTF-8 JSON, or holds no rows of the expected shape.
    """
    from dlnkit.records.input_files import load_json_file

    p = Path(path)
    data = load_json_file(p, f"record {str(p)!r}")  # bounded size and depth; one line on any problem
    rows: Any = data if isinstance(data, list) else None
    if isinstance(data, dict):
        rows = next((data[k] for k in ROW_KEYS if isinstance(data.get(k), list)), None)
    if rows and isinstance(data, dict) and all(isinstance(r, dict) and "linear_count" in r for r in rows):
        rows = reproduce_rows(data)
    if isinstance(data, dict) and data.get("kind") == "census-2606.02596":  # dlnkit reproduce 2606.02596
        from dlnkit.claims.census_verdicts import report_rows

        rows = report_rows(data)
    if not rows or not all(_row_ok(r) for r in rows):
        raise DlnkitInputError(
            f"{p} is not a dlnkit verify/reproduce record (no list of rows with claim_id and status)"
        )
    rows = [dict(r, claim_id=str(r.get("claim_id", r.get("claim")))) for r in rows]
    meta = (
        {k: v for k, v in data.items() if k not in ROW_KEYS and k not in ("counterexamples", "claims")}
        if isinstance(data, dict)
        else {}
    )
    cex = data.get("counterexamples", []) if isinstance(data, dict) else []
    claims = data.get("claims", {}) if isinstance(data, dict) else {}
    return Record(
        rows, meta, str(p), [c for c in cex if isinstance(c, dict)], claims if isinstance(claims, dict) else {}
    )


def reproduce_rows(record: dict) -> list[dict]:
    """Report rows of a ``dlnkit reproduce`` record (one per depth and seed for the linear run, one
    for the tanh run). The record states no verdicts: the linear row compares the count-split ratio
    with the Gauss-Newton formula's ratio at the measured mode sizes against the recorded Weyl bound
    (PASS/FAIL is that comparison; ``dlnkit verify B2-paper`` is the claim that makes it); the tanh
    row has no theorem, so it is MEASURED. The paper's numbers go to ``reported``."""

    def num(x: Any) -> float:
        try:
            return float(x)
        except (TypeError, ValueError):
            return math.nan

    paper = str(record.get("paper", ""))
    out = []
    for r in record.get("rows", []):
        cfg = {k: r.get(k) for k in ("depth", "seed", "dtype", "steps") if k in r}
        L = r.get("depth")
        count, formula, weyl = num(r.get("linear_count")), num(r.get("linear_formula_count")), num(r.get("weyl_delta"))
        err = abs(count - formula)
        rep_lin, rep_tanh = r.get("reported_linear"), r.get("reported_tanh")
        out.append(
            {
                "claim_id": "reproduce: linear",
                "group": paper or "reproduce",
                "config": cfg,
                "predicted": f"formula {formula:.4f} (L = {L})",
                "kind": "exact",
                "seed": r.get("seed"),
                "measured": f"count {count:.4f} | adaptive {num(r.get('linear_adaptive')):.4f}",
                "reported": f"{rep_lin} (reported)" if rep_lin is not None else "",
                "error": err,
                "bound": weyl,
                "status": "PASS" if err <= weyl else "FAIL",
                "details": {"ratio": count, "adaptive": r.get("linear_adaptive"), "flags": r.get("linear_flags")},
            }
        )
        out.append(
            {
                "claim_id": "reproduce: tanh",
                "group": paper or "reproduce",
                "config": cfg,
                "predicted": f"L = {L} (linear theory)",
                "kind": "approximate",
                "seed": r.get("seed"),
                "measured": f"count {num(r.get('tanh_count')):.4f} | adaptive {num(r.get('tanh_adaptive')):.4f}",
                "reported": f"{rep_tanh} (reported)" if rep_tanh is not None else "",
                "error": math.nan,
                "bound": math.nan,
                "status": "MEASURED",
                "details": {
                    "ratio": num(r.get("tanh_count")),
                    "adaptive": r.get("tanh_adaptive"),
                    "flags": r.get("tanh_flags"),
                },
            }
        )
    return out


def load_counterexamples(folder: str | os.PathLike) -> list[dict]:
    """The counterexample records (``*.json`` written by ``dlnkit counterexample``) in ``folder``,
    each with its ``file`` path added; unreadable files are listed with their error."""
    d = Path(folder)
    if not d.is_dir():
        raise DlnkitInputError(f"no such counterexample folder: {d}")
    out = []
    from dlnkit.records.input_files import load_json_file

    for f in sorted(d.glob("*.json")):
        try:  # the one input layer: a FIFO or /dev/zero link named *.json is refused, never read
            rec = load_json_file(f, "counterexample record")
        except DlnkitInputError as exc:
            out.append({"file": str(f), "unreadable": str(exc)})
            continue
        if isinstance(rec, dict) and "claim" in rec:
            out.append(dict(rec, file=str(f)))
    return out


# ----- output path ----------------------------------------------------------------------------


def check_report_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output path that cannot be written or would destroy a file.

    The checks of :func:`dlnkit.records.outputs.check_output_file` (a folder, an unwritable parent, an
    existing file without ``overwrite``), and in addition an existing file is replaced only when it
    is a report dlnkit wrote (its ``<head>`` names the generator), even with ``overwrite``.
    """
    from dlnkit.records.outputs import check_output_file

    p = check_output_file(path, overwrite=overwrite, what="report file")
    if p.is_file():
        from dlnkit.records.input_files import peek_file_head

        head = (peek_file_head(p, 4096) or b"").decode("utf-8", errors="replace")
        if GENERATOR not in head:
            raise DlnkitInputError(f"report file {str(p)!r} exists and is not a dlnkit report; choose another --out")
    return p


def write_text_atomic(path: Path, text: str) -> Path:
    """Write through :func:`dlnkit.records.outputs.atomic_write_text` (temporary file, fsync, rename)."""
    from dlnkit.records.outputs import atomic_write_text

    return atomic_write_text(path, text)


# ----- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#fff}
header{background:#0d1117;color:#f0f6fc;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#9da7b3;font-size:13px}main{padding:16px 28px;max-width:1300px}
h2{border-bottom:1px solid #d0d7de;padding-bottom:4px;margin-top:28px}
.summary span{display:inline-block;margin-right:14px;font-weight:600}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;color:#fff}
.PASS{background:#1a7f37}.FAIL{background:#cf222e}.ERROR{background:#9a6700}.MEASURED{background:#57606a}.approx{opacity:.75}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f6f8fa;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.cfg{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:11.5px}
td.cfg{max-width:340px;overflow-wrap:anywhere}.scroll{overflow-x:auto;max-height:min(60vh,640px);overflow-y:auto}
.filters{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:10px 0}
.filters label{margin-right:16px}.claim{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;margin:14px 0}
.claim h3{margin:0 0 6px}.plots{display:flex;flex-wrap:wrap;gap:14px}.plots figure{margin:0;max-width:100%}
figure img{max-width:100%;border:1px solid #eaeef2}figcaption{font-size:12px;color:#59636e}
.note{font-size:12px;color:#59636e;margin:3px 0}.headline{font-size:15px}
.MISS{background:#bc4c00}#claim-summary{width:auto;margin-bottom:10px}.over{color:#cf222e;font-weight:600}
pre{background:#f6f8fa;padding:6px 10px;border-radius:4px;overflow-x:auto;font-size:11.5px}
"""

_JS = """
function dlnkitFilter(){
  var g=document.getElementById('f-group').value, s=document.getElementById('f-status').value, n=0;
  document.querySelectorAll('tr.row').forEach(function(tr){
    var ok=(g==='all'||tr.dataset.group===g)&&(s==='all'||tr.dataset.status===s);
    tr.style.display=ok?'':'none'; if(ok){n++;}
  });
  document.querySelectorAll('section.claim').forEach(function(sec){
    var ok=(g==='all'||sec.dataset.group===g)&&(s==='all'||(' '+sec.dataset.statuses+' ').indexOf(' '+s+' ')>=0);
    sec.style.display=ok?'':'none';
  });
  document.getElementById('f-count').textContent=n+' row(s) shown';
}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if v != v:
        return "nan"
    return f"{v:.3g}" if (1e-3 <= abs(v) < 1e4 or v == 0) else f"{v:.2e}"


def claim_info(claim_id: str) -> dict:
    """Group, source, title and kind of a registered claim (empty for a claim not registered here)."""
    try:
        from dlnkit.claims import all_claims

        c = all_claims().get(claim_id)
    except Exception:
        return {}
    if c is None:
        return {}
    return {
        "group": str(getattr(c, "group", "") or ""),
        "source": str(c.source),
        "title": str(c.title),
        "kind": str(c.kind),
        "reason": str(c.tolerance.reason),
    }


def _recorded_info(entry: Any) -> dict:
    """The record's own description of a claim (written by ``verify --json``), as :func:`claim_info`."""
    if not isinstance(entry, dict):
        return {}
    tol = entry.get("tolerance") if isinstance(entry.get("tolerance"), dict) else {}
    info = {k: str(entry[k]) for k in ("group", "source", "title", "kind") if entry.get(k)}
    if tol.get("reason"):
        info["reason"] = str(tol["reason"])
    return info


def _group_of(row: dict, info: dict) -> str:
    if row.get("group"):
        return str(row["group"])
    if info.get("group"):
        return info["group"]
    src = row.get("source") or info.get("source")
    return str(src).split()[0] if src else "unregistered"


def _meta_table(meta: dict) -> str:
    if not meta:
        return "<p class='note'>The record states no machine, versions or seeds (older records do not).</p>"
    items = []

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict) and v:
            for k, sub in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), sub)
        else:
            items.append((prefix, v if isinstance(v, str) else json.dumps(v)))

    walk("", meta)
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in items) + "</table>"


def _verdict_table(rows: list[dict], infos: dict[str, dict]) -> str:
    head = (
        "<tr><th>claim</th><th>group</th><th>config</th><th>predicted</th><th>measured</th><th>reported</th>"
        "<th>ours vs reported</th><th>error</th><th>bound</th><th>error / bound</th><th>status</th></tr>"
    )
    body = []
    for r in rows:
        info = infos.get(r["claim_id"], {})
        status = str(r.get("status", "?"))
        approx = r.get("kind", info.get("kind", "exact")) != "exact"
        ratio = ""
        try:
            e, b = float(r.get("error")), float(r.get("bound"))
            if b > 0 and e == e:
                ratio = f"<span class='{'over' if e > b else ''}'>{e / b:.2g}</span>"
        except (TypeError, ValueError):
            pass
        msg = f"<div class='note'>{_e(r.get('message'))}</div>" if r.get("message") else ""
        body.append(
            f"<tr class='row' data-group='{_e(_group_of(r, info))}' data-status='{_e(status)}'>"
            f"<td><a href='#claim-{_e(r['claim_id'])}'>{_e(r['claim_id'])}</a></td><td>{_e(_group_of(r, info))}</td>"
            f"<td class='cfg'>{_e(json.dumps(r.get('config', {})))}</td>"
            f"<td>{_e(r.get('predicted', ''))}</td><td>{_e(r.get('measured', ''))}{msg}</td>"
            f"<td>{_e(r.get('reported', ''))}</td><td>{ours_vs_reported_cell(r)}</td>"
            f"<td class='num'>{_fmt(r.get('error'))}</td>"
            f"<td class='num'>{_fmt(r.get('bound'))}</td><td class='num'>{ratio}</td>"
            f"<td><span class='badge {_e(status)}{' approx' if approx else ''}'>{_e(status)}</span>"
            f"{' (approx)' if approx else ''}</td></tr>"
        )
    return f"<table id='verdicts'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"


def _claim_sections(rows: list[dict], infos: dict[str, dict]) -> str:
    order: dict[str, list[dict]] = {}
    for r in rows:
        order.setdefault(r["claim_id"], []).append(r)
    out = []
    for cid, crows in order.items():
        info = infos.get(cid, {})
        statuses = sorted({str(r.get("status")) for r in crows})
        counts = ", ".join(f"{sum(r.get('status') == s for r in crows)} {s}" for s in statuses)
        plots, missing = claim_plots(cid, crows)
        figs = "".join(
            f"<figure><img alt='{_e(p.title)}' src='data:image/png;base64,{p.png_base64}'>"
            f"<figcaption><b>{_e(p.title)}</b>. {_e(p.caption)}</figcaption></figure>"
            for p in plots
        )
        notes = (
            (
                "<p class='note'>Not drawn, because no row of this claim records the data: "
                + "; ".join(_e(m) for m in missing)
                + ".</p>"
            )
            if missing
            else ""
        )
        seeds = sorted({str(r.get("seed")) for r in crows if r.get("seed") is not None})
        reason = f"<p class='note'>Tolerance: {_e(info['reason'])}</p>" if info.get("reason") else ""
        out.append(
            f"<section class='claim' id='claim-{_e(cid)}' data-group='{_e(_group_of(crows[0], info))}' "
            f"data-statuses='{_e(' '.join(statuses))}'><h3>{_e(cid)}"
            f"{': ' + _e(info['title']) if info.get('title') else ''}</h3>"
            f"<p class='note'>{_e(info.get('source', 'not a registered claim here'))} &middot; {len(crows)} row(s): "
            f"{_e(counts)} &middot; seeds {_e(', '.join(seeds) or 'not recorded')}</p>{reason}"
            f"<div class='plots'>{figs}</div>{notes}</section>"
        )
    return "".join(out)


def _counterexamples(cex: list[dict]) -> str:
    if not cex:
        return (
            "<p class='note'>No counterexamples in this report (a verify record holds none; pass "
            "<code>--counterexamples DIR</code>, e.g. the committed <code>counterexamples/</code>).</p>"
        )
    rows = []
    for c in cex:
        f = c.get("file", "")
        if c.get("unreadable"):
            rows.append(f"<tr><td colspan='5'><code>{_e(f)}</code>: unreadable ({_e(c['unreadable'])})</td></tr>")
            continue
        err = (
            "exception: " + str(c["exception"])
            if c.get("exception")
            else f"{_fmt(c.get('error'))} / {_fmt(c.get('bound'))}"
        )
        rows.append(
            f"<tr><td>{_e(c.get('claim'))}</td><td>{_e(', '.join(c.get('dropped', [])) or '-')}</td>"
            f"<td class='cfg'>{_e(json.dumps(c.get('config', {}), separators=(',', ':')))}</td><td>{_e(err)}</td>"
            f"<td><code>dlnkit replay {_e(f)}</code></td></tr>"
        )
    return (
        "<table><tr><th>claim</th><th>dropped</th><th>shrunk configuration</th><th>error / bound</th>"
        "<th>replay</th></tr>" + "".join(rows) + "</table>"
    )


def render_report(
    record: Record, *, title: str = "dlnkit referee report", counterexamples: list[dict] | None = None
) -> str:
    """The whole report as one HTML string (no external resource).

    Parameters
    ----------
    record
        What :func:`load_record` read.
    title
        The page's heading.
    counterexamples
        Counterexample records to list (e.g. from :func:`load_counterexamples`), added to the
        record's own.

    Returns
    -------
    str
        A complete HTML document.
    """
    rows = record.rows
    infos = {
        cid: _recorded_info(record.claims.get(cid)) or claim_info(cid)
        for cid in dict.fromkeys(r["claim_id"] for r in rows)
    }
    groups = sorted({_group_of(r, infos.get(r["claim_id"], {})) for r in rows})
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("PASS", "FAIL", "ERROR")}
    statuses = ["PASS", "FAIL", "ERROR"] + sorted({str(r.get("status")) for r in rows} - {"PASS", "FAIL", "ERROR"})
    status_options = "".join(f"<option>{_e(x)}</option>" for x in statuses)
    other = len(rows) - sum(counts.values())
    reported = sum(1 for r in rows if str(r.get("reported") or "").strip())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    options = "".join(f"<option value='{_e(g)}'>{_e(g)}</option>" for g in groups)
    summary = "".join(f"<span><span class='badge {s}'>{s}</span> {n}</span>" for s, n in counts.items())
    if other:
        summary += f"<span>other {other}</span>"
    cex = list(record.counterexamples) + list(counterexamples or [])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="generator" content="{GENERATOR} {_e(__version__)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style><script>{_JS}</script></head>
<body onload="dlnkitFilter()">
<header><h1>{_e(title)}</h1>
<p>record <code>{_e(record.path or "(in memory)")}</code> &middot; {len(rows)} rows, {len(infos)} claims &middot;
written {now} by dlnkit {_e(__version__)}</p></header>
<main>
<h2 id="summary-h">Does it hold?</h2>
{summary_html(rows, infos)}
<div class="summary">rows: {summary}</div>
<p class="note">Error and bound are in each claim's own units; a row passes when error &le; bound. "(approx)" marks
approximate claims (no theorem behind them). Numbers from a paper appear only in the "reported" column and in plots
labelled "reported" ({reported} row(s) carry one).</p>
<h2 id="verdicts-h">Verdicts</h2>
<div class="filters"><label>source group
<select id="f-group" onchange="dlnkitFilter()"><option value="all">all</option>{options}</select></label>
<label>status <select id="f-status" onchange="dlnkitFilter()"><option value="all">all</option>
{status_options}</select></label>
<span id="f-count" class="note"></span></div>
<div class='scroll'>{_verdict_table(rows, infos)}</div>
<h2 id="claims-h">Claims and their plots</h2>
{_claim_sections(rows, infos)}
<h2 id="counterexamples-h">Counterexamples</h2>
{_counterexamples(cex)}
<h2 id="environment-h">Machine, versions and seeds</h2>
{_meta_table(record.meta)}
</main></body></html>
"""


def write_report(
    record_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    counterexample_dir: str | os.PathLike | None = None,
    title: str = "dlnkit referee report",
) -> Path:
    """Check ``out``, read the record, render and write the report atomically.

    Parameters
    ----------
    record_path
        A ``dlnkit verify --json`` or ``dlnkit reproduce`` record.
    out
        The HTML file to write.
    overwrite
        Replace ``out`` if it is an earlier dlnkit report (never any other file).
    counterexample_dir
        A folder of counterexample records to list with their replay commands.
    title
        The page's heading.

    Returns
    -------
    Path
        Where the report went.

    Raises
    ------
    DlnkitInputError
        Bad output path (checked first), unreadable record or counterexample folder.
    """
    target = check_report_path(out, overwrite=overwrite)
    record = load_record(record_path)
    cex = load_counterexamples(counterexample_dir) if counterexample_dir else None
    return write_text_atomic(target, render_report(record, title=title, counterexamples=cex))
