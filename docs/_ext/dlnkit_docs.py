"""Sphinx extension: the pages of the dlnkit site that are generated from what the project holds.

At ``config-inited`` (before Sphinx reads any source) it writes into ``docs/_generated/``:

- ``getting_started.md``: the README's two commands and its Python example, copied from the README;
- ``claims_catalogue.md``: every claim in the registry (built-ins, entry-point plugins) with its
  statement, source, group, assumptions, tolerance and reason, and its latest verdict from
  ``docs/verify-results.json`` when that file exists;
- ``notebooks/NN_topic.ipynb`` + ``notebooks.md``: every ``proofs_notebooks/NN_topic.py`` jupytext
  source, executed (see :func:`executed_notebook` for the cache);
- ``gallery.md``: the counterexample gallery from ``counterexamples/*.json`` and its README;
- ``benchmarks.md``: the tables of every ``benchmarks/results/*.json`` run;
- ``more.md``: a table of contents of the other Markdown documents in ``docs/`` (e.g. ``claims.md``).

Nothing here names a claim, a notebook or a result file: new ones are picked up from the registry
and the folders. A file is rewritten only when its content changes, so incremental builds stay
incremental.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"
#: documents in docs/ that the site's own table of contents already lists
OWN_PAGES = {"index", "own_theorem", "report", "api"}
#: where the docs build keeps executed notebooks between local builds
LOCAL_NOTEBOOK_CACHE = DOCS / "_build" / ".notebook_cache"
NOTEBOOK_CACHE_ENV = "DLNKIT_NOTEBOOK_CACHE"  # = dlnkit.engines.notebooks.EXECUTED_CACHE_ENV
#: a folder of already executed ``NN_topic.ipynb`` used as they are (for previewing the site while
#: the code is being edited; the CI build never sets it)
PREVIEW_NOTEBOOKS_ENV = "DLNKIT_DOCS_NOTEBOOKS"


# ----- small helpers --------------------------------------------------------------------------


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (atomically) unless the file already holds exactly that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return path
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|$#{}])")


def md_escape(text: Any) -> str:
    """Plain text that Markdown shows literally (CommonMark backslash escapes, one line)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def md_code(text: Any) -> str:
    """Inline code that survives any backticks inside it."""
    s = " ".join(str(text).split())
    fence = "``" if "`" in s else "`"
    return f"{fence} {s} {fence}" if fence == "``" else f"`{s}`"


_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


def defang_links(text: str, known: Iterable[str] = ()) -> str:
    """Relative links of a Markdown file copied into the site point nowhere there: keep web links
    and links to ``known`` in-page anchors, turn the others into their text plus the path as code."""
    known = set(known)

    def repl(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
            return m.group(0)
        if target.lstrip("#") in known:
            return f"[{label}](#{target.lstrip('#')})"
        if target.startswith("#"):  # a section of the copied file that the site does not have
            return label
        if label.strip("`") == target:
            return f"`{target}`"
        return f"{label} (`{target}`)"

    return _LINK.sub(repl, text)


def fmt_num(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v != v:
        return "nan"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.2e}"


# ----- getting started ------------------------------------------------------------------------


def readme_sections(readme: str) -> dict[str, str]:
    """The README split at its ``## `` headings: {heading: body}; the text before the first heading
    is under the key ``""``."""
    out: dict[str, str] = {}
    key, buf = "", []
    for line in readme.splitlines():
        if line.startswith("## "):
            out[key] = "\n".join(buf).strip()
            key, buf = line[3:].strip(), []
        else:
            buf.append(line)
    out[key] = "\n".join(buf).strip()
    return out


def getting_started_page() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = readme_sections(readme)
    intro = sections.get("", "")
    # the intro after the project title: prose, the two commands and what they do
    intro = re.sub(r"^# .*\n", "", intro).strip()
    python_key = next((k for k in sections if "python" in k.lower()), None)
    parts = [
        "# Getting started",
        "",
        "Copied from the project's `README.md` at build time.",
        "",
        defang_links(intro),
        "",
    ]
    if python_key:
        parts += [f"## {python_key}", "", defang_links(sections[python_key]), ""]
    parts += [
        "## Next",
        "",
        "- {doc}`claims_catalogue`: every claim, its assumptions, tolerance and latest verdict;",
        "- {doc}`notebooks`: the teaching notebooks, executed;",
        "- {doc}`/own_theorem`: state and check your own claim;",
        "- {doc}`/report`: the HTML referee report of a verify run.",
        "",
    ]
    return "\n".join(parts)


# ----- claims catalogue -----------------------------------------------------------------------


def latest_verdicts(path: Path) -> tuple[dict[str, list[dict]], dict]:
    """Rows of a ``dlnkit verify --json`` record grouped by claim id, and the record's metadata."""
    if not path.is_file():
        return {}, {}
    record = json.loads(path.read_text(encoding="utf-8"))
    rows: dict[str, list[dict]] = {}
    for r in record.get("results", []):
        rows.setdefault(str(r.get("claim_id")), []).append(r)
    meta = {k: v for k, v in record.items() if k != "results"}
    return rows, meta


def verdict_line(rows: list[dict]) -> str:
    counts = {s: sum(r.get("status") == s for r in rows) for s in ("PASS", "FAIL", "ERROR")}
    parts = [f"{n} {s}" for s, n in counts.items() if n]

    def worst_key(r: dict) -> float:
        try:
            e, b = float(r.get("error")), float(r.get("bound"))
        except (TypeError, ValueError):
            return float("inf")
        return float("inf") if e != e else (e / b if b > 0 else (0.0 if e == 0 else float("inf")))

    worst = max(rows, key=worst_key)
    return (
        f"{len(rows)} rows: {', '.join(parts)}; largest error {fmt_num(worst.get('error'))} "
        f"against its bound {fmt_num(worst.get('bound'))}"
    )


def _docstring(obj: Any) -> str:
    import inspect

    doc = inspect.getdoc(type(obj)) or ""
    return doc.strip()


def claims_catalogue_page() -> str:
    from dlnkit.claims import all_claims

    rows, meta = latest_verdicts(DOCS / "verify-results.json")
    claims = list(all_claims().values())

    def group_of(c: Any) -> str:
        g = getattr(c, "group", None)
        return str(g) if g else str(getattr(c, "source", "dlnkit")).split()[0]

    groups: dict[str, list[Any]] = {}
    for c in claims:
        groups.setdefault(group_of(c), []).append(c)
    out = [
        "# Claims catalogue",
        "",
        f"Generated at build time from the claim registry ({len(claims)} claims). "
        "`dlnkit list -v` prints the same information; `dlnkit verify ID` checks a claim. "
        "Verdicts are those of the committed record `docs/verify-results.json`"
        + (
            " (a verify run on the project's CPU machine)."
            if rows
            else " (no record found at build time: run `dlnkit verify --json docs/verify-results.json`)."
        ),
        "",
    ]
    if (DOCS / "claims.md").is_file():
        out += [
            "Each claim family is written out in words, with its notation and the setups that make it "
            "exact, in {doc}`/claims`.",
            "",
        ]
    env = meta.get("environment") if isinstance(meta.get("environment"), dict) else meta
    if env:
        flat = {**env, **(env.get("versions") or {}), **(env.get("machine") or {})}
        keys = (
            "created_utc",
            "command",
            "git_commit",
            "dlnkit",
            "torch",
            "python",
            "platform",
            "cpu_count",
            "cuda_device",
        )
        bits = [f"{k}: {md_escape(flat[k])}" for k in keys if flat.get(k) not in (None, "")]
        if bits:
            out += ["Record: " + "; ".join(bits) + ".", ""]
    out += ["| claim | group | kind | latest verdict |", "|---|---|---|---|"]
    for g in sorted(groups):
        for c in groups[g]:
            v = verdict_line(rows[c.id]) if c.id in rows else "not in the record"
            out.append(
                f"| [{md_escape(c.id)}](#claim-{slug(c.id)}) | {md_escape(g)} | {md_escape(c.kind)} | {md_escape(v)} |"
            )
    out.append("")
    gone = [cid for cid in rows if cid not in {c.id for c in claims}]
    if gone:
        out += [
            "The record also holds rows of claims that are no longer registered (renamed or replaced "
            "since that run): "
            + "; ".join(f"{md_escape(cid)} ({md_escape(verdict_line(rows[cid]))})" for cid in gone)
            + ".",
            "",
        ]
    for g in sorted(groups):
        out += [f"## {md_escape(g)}", ""]
        for c in groups[g]:
            out += claim_section(c, rows.get(c.id, []))
    return "\n".join(out)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def claim_section(c: Any, rows: list[dict]) -> list[str]:
    out = [f"(claim-{slug(c.id)})=", f"### {md_escape(c.id)}: {md_escape(c.title)}", ""]
    latex = ""
    try:
        latex = c.statement_latex()
    except Exception:  # a claim whose statement cannot be printed still gets its page
        latex = ""
    if latex and latex != c.title:
        out += ["$$", latex.strip(), "$$", ""]
    doc = _docstring(c)
    if doc:
        out += ["```{eval-rst}", escape_bars("\n".join(doc.splitlines())), "```", ""]
    tol = c.tolerance
    facts = [
        ("source", md_escape(c.source)),
        ("group", md_escape(getattr(c, "group", "") or "")),
        ("kind", md_escape(c.kind)),
        ("tolerance", f"rtol = {fmt_num(tol.rtol)}, atol = {fmt_num(tol.atol)}"),
        ("reason", md_escape(tol.reason or "(none stated)")),
    ]
    if getattr(c, "slow", False):
        facts.append(("slow", "yes: one check trains a network or takes seconds or more"))
    if getattr(c, "has_exact_route", False):
        facts.append(("exact route", "yes (`dlnkit verify --exact`)"))
    origin = getattr(c, "origin", None)
    if origin:
        facts.append(("origin", md_escape(origin)))
    out += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts] + [""]
    if c.assumptions:
        out += ["Assumptions:", ""]
        out += [f"- {md_code(a.name)}: {md_escape(a.statement)}" for a in c.assumptions]
        out.append("")
    else:
        out += ["Assumptions: none stated.", ""]
    if rows:
        out += [f"Latest verdict: {md_escape(verdict_line(rows))}.", ""]
        out += [
            "| config | predicted | measured | reported | error | bound | status |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            cfg = json.dumps(r.get("config", {}), separators=(",", ":"))
            status = str(r.get("status", "")) + ("" if r.get("kind", "exact") == "exact" else " (approx)")
            out.append(
                f"| {md_code(cfg)} | {md_escape(r.get('predicted', ''))} | {md_escape(r.get('measured', ''))} "
                f"| {md_escape(r.get('reported', ''))} | {fmt_num(r.get('error'))} | {fmt_num(r.get('bound'))} "
                f"| {md_escape(status)} |"
            )
        out.append("")
    else:
        out += ["Latest verdict: not in the committed record.", ""]
    return out


# ----- notebooks ------------------------------------------------------------------------------


def executed_notebook(source: Path, fingerprint: str, log) -> Any:
    """The executed notebook of ``source``: reused from ``$DLNKIT_NOTEBOOK_CACHE`` (written by the
    test run, see ``tests/test_notebooks.py``) or from the local cache ``docs/_build/.notebook_cache``
    when the source and the package code are unchanged, otherwise executed now and cached."""
    import nbformat

    from dlnkit.engines.notebooks import execute_notebook, executed_copy_name, read_notebook, save_executed_copy

    preview = os.environ.get(PREVIEW_NOTEBOOKS_ENV)
    if preview and (Path(preview) / f"{source.stem}.ipynb").is_file():  # previews only, never in CI
        log(f"dlnkit_docs: using {source.stem}.ipynb from {preview} as is ({PREVIEW_NOTEBOOKS_ENV})")
        return nbformat.read(str(Path(preview) / f"{source.stem}.ipynb"), as_version=4)
    name = executed_copy_name(source, fingerprint)
    caches = [Path(os.environ[NOTEBOOK_CACHE_ENV])] if os.environ.get(NOTEBOOK_CACHE_ENV) else []
    caches.append(LOCAL_NOTEBOOK_CACHE)
    for folder in caches:
        if (folder / name).is_file():
            log(f"dlnkit_docs: reusing executed {source.name} from {folder}")
            return nbformat.read(str(folder / name), as_version=4)
    log(f"dlnkit_docs: executing {source.name} ...")
    nb = read_notebook(source)
    try:
        execute_notebook(nb, cwd=source.parent, timeout=600)
    except Exception as exc:  # name the notebook and the error, not nbclient's whole traceback
        from sphinx.errors import ExtensionError

        last = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1:] or [""]
        raise ExtensionError(f"notebook {source.name} failed to execute: {type(exc).__name__}: {last[0]}") from None
    save_executed_copy(nb, source, LOCAL_NOTEBOOK_CACHE, fingerprint)
    return nb


def notebook_source_dir() -> Path:
    try:
        from dlnkit.engines.notebooks import default_source_dir

        folder = Path(default_source_dir())
        if folder.is_dir():
            return folder
    except Exception:
        pass
    return ROOT / "proofs_notebooks"


def notebooks_pages(log) -> list[str]:
    import nbformat

    from dlnkit.engines.notebooks import code_fingerprint, notebook_sources

    src = notebook_source_dir()
    sources = notebook_sources(src)
    fingerprint = code_fingerprint()
    out_dir = GENERATED / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = []
    for source in sources:
        nb = executed_notebook(source, fingerprint, log)
        text = nbformat.writes(nb)
        write_if_changed(out_dir / f"{source.stem}.ipynb", text + ("" if text.endswith("\n") else "\n"))
        stems.append(source.stem)
    for stale in out_dir.glob("*.ipynb"):  # a notebook removed from the sources leaves the site
        if stale.stem not in stems:
            stale.unlink()
    readme = src / "README.md"
    intro = ""
    if readme.is_file():
        body = readme.read_text(encoding="utf-8")
        intro = defang_links(re.sub(r"^# .*\n", "", body).strip())
    page = [
        "# Teaching notebooks",
        "",
        "Each lecture derives a result with SymPy and checks it against exact Hessians in the same cell. "
        "The pages below are the jupytext sources in `proofs_notebooks/`, executed when the site was built "
        "(every assertion in them held). `dlnkit notebooks --out DIR` writes the same notebooks as "
        "`.ipynb` and standalone HTML.",
        "",
    ]
    if intro:
        page += ["::::{admonition} From proofs_notebooks/README.md", ":class: note", "", intro, "::::", ""]
    page += ["```{toctree}", ":maxdepth: 1", ""] + [f"notebooks/{s}" for s in stems] + ["```", ""]
    return page


# ----- counterexample gallery -----------------------------------------------------------------


def gallery_page() -> str:
    folder = ROOT / "counterexamples"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    anchors = {f.name: f"cx-{slug(f.stem)}" for f in files}
    out = [
        "# Counterexample gallery",
        "",
        "Generated at build time from the counterexample records in `counterexamples/` "
        "(written by `dlnkit counterexample --gallery`). Each is the smallest configuration Hypothesis "
        "found that breaks a claim once one of its assumptions is dropped; `dlnkit replay FILE` "
        "recomputes it.",
        "",
    ]
    if files:
        out += [
            "| claim | dropped | violates | outcome | weights | error / bound | file |",
            "|---|---|---|---|---|---|---|",
        ]
        records = []
        for f in files:
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                out.append(f"| ? | ? | ? | unreadable: {md_escape(exc)} | | | {md_code(f.name)} |")
                continue
            if not isinstance(rec, dict) or "claim" not in rec:  # e.g. gallery-index.json: not a record
                continue
            records.append((f, rec))
            err = "exception" if rec.get("exception") else f"{fmt_num(rec.get('error'))} / {fmt_num(rec.get('bound'))}"
            out.append(
                f"| {md_escape(rec.get('claim', '?'))} | {md_escape(', '.join(rec.get('dropped', [])) or '-')} "
                f"| {md_escape(', '.join(rec.get('violated', [])) or '-')} | {md_escape(rec.get('outcome', ''))} "
                f"| {md_escape(rec.get('size', ''))} | {md_escape(err)} | [{md_escape(f.name)}](#{anchors[f.name]}) |"
            )
        out.append("")
    readme = folder / "README.md"
    if readme.is_file():
        sections = readme_sections(readme.read_text(encoding="utf-8"))
        for key, body in sections.items():
            if not key or body.lstrip().startswith("|"):
                continue
            out += [f"## {key}", "", defang_links(body.replace("\n### ", "\n#### ").replace("\n## ", "\n### ")), ""]
    if files:
        out += ["## The files", ""]
        for f, rec in records:
            out += [
                f"({anchors[f.name]})=",
                f"### {md_escape(f.name)}",
                "",
                "```bash",
                f"dlnkit replay counterexamples/{f.name}",
                "```",
                "",
            ]
            keep = {
                k: rec.get(k)
                for k in (
                    "claim",
                    "dropped",
                    "violated",
                    "config",
                    "predicted",
                    "measured",
                    "error",
                    "bound",
                    "exception",
                    "torch",
                    "dlnkit",
                    "device",
                )
                if k in rec
            }
            out += ["```json", json.dumps(keep, indent=1), "```", ""]
            if rec.get("explanation"):
                out += [md_escape(rec["explanation"]), ""]
    return "\n".join(out)


# ----- benchmarks -----------------------------------------------------------------------------


def benchmarks_page() -> str:
    folder = ROOT / "benchmarks" / "results"
    runs = sorted(folder.glob("*.json")) if folder.is_dir() else []
    out = [
        "# Benchmarks",
        "",
        "Generated at build time from every run in `benchmarks/results/*.json` (written by "
        "`python -m benchmarks` / `dlnkit bench`). Ratios are against the baseline measured in the same "
        "run; the README's Benchmarks section discusses the targets and why each was met or missed.",
        "",
    ]
    for path in reversed(runs):  # newest first (names carry the UTC time)
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            out += [f"## {md_escape(path.name)}", "", f"Unreadable: {md_escape(exc)}", ""]
            continue
        out += [f"## {md_escape(path.name)}", ""]
        machine = rec.get("machine", {})
        if machine:
            out += ["Machine: " + "; ".join(f"{md_escape(k)} = {md_escape(v)}" for k, v in machine.items()) + ".", ""]
        if rec.get("seconds") is not None:
            out += [f"Whole run: {fmt_num(rec['seconds'])} s, started {md_escape(rec.get('started_utc', '?'))}.", ""]
        table = rec.get("table") or []
        by_case: dict[str, list[dict]] = {}
        for row in table:
            by_case.setdefault(str(row.get("case", "?")), []).append(row)
        for case, rows in by_case.items():
            cols = [k for k in rows[0] if k not in ("case",) and any(str(r.get(k, "")) != "" for r in rows)]
            out += [
                f"### {md_escape(case)}",
                "",
                "| " + " | ".join(md_escape(c) for c in cols) + " |",
                "|" + "---|" * len(cols),
            ]
            out += ["| " + " | ".join(md_escape(r.get(c, "")) for c in cols) + " |" for r in rows]
            out.append("")
        if not table:
            out += generic_json_tables(rec)
        checks = rec.get("checks") or []
        if checks:
            out += ["Agreement checks between the routes:", ""] + [f"- {md_escape(c)}" for c in checks] + [""]
    if not runs:
        out += ["No benchmark run is committed yet.", ""]
    return "\n".join(out)


def _cell(v: Any, width: int = 80) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return md_escape(text if len(text) <= width else text[: width - 1] + "…")


def generic_json_tables(rec: dict) -> list[str]:
    """A result file of another shape, shown as it is: scalars as a list, each dict as a two-column
    table, each list of dicts as a table of its keys (nested values as JSON, cut at 80 characters)."""
    out: list[str] = []
    scalars = [(k, v) for k, v in rec.items() if not isinstance(v, (dict, list))]
    if scalars:
        out += ["; ".join(f"{md_escape(k)} = {_cell(v)}" for k, v in scalars) + ".", ""]
    for key, value in rec.items():
        if key == "machine":
            continue
        if isinstance(value, dict) and value:
            out += [f"### {md_escape(key)}", "", "| | |", "|---|---|"]
            out += [f"| {md_escape(k)} | {_cell(v)} |" for k, v in value.items()] + [""]
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            cols: list[str] = []
            for row in value:
                cols += [k for k in row if k not in cols]
            cols = cols[:10]
            out += [
                f"### {md_escape(key)}",
                "",
                "| " + " | ".join(md_escape(c) for c in cols) + " |",
                "|" + "---|" * len(cols),
            ]
            out += ["| " + " | ".join(_cell(row.get(c, "")) for c in cols) + " |" for row in value] + [""]
    return out


# ----- other documents ------------------------------------------------------------------------


def more_page() -> str:
    extra = sorted(p.stem for p in DOCS.glob("*.md") if p.stem not in OWN_PAGES and p.name != "README.md")
    out = [
        "# More documents",
        "",
        "The other documents in `docs/` (for example `claims.md`, the claims written out in words).",
        "",
    ]
    if extra:
        out += ["```{toctree}", ":maxdepth: 1", ""] + [f"/{s}" for s in extra] + ["```", ""]
    else:
        out += ["None yet.", ""]
    return "\n".join(out)


# ----- docstrings ----------------------------------------------------------------------------

_CODE_SPAN = re.compile(r"(:[a-z:]+:`[^`]*`|``.*?``|`[^`]*`)")


def escape_bars(text: str) -> str:
    """Docstrings write absolute values and norms as ``|x|`` in plain text, which reStructuredText
    reads as a substitution reference: escape every ``|`` outside code and roles (``:math:`|x|```
    stays as it is)."""
    out = []
    for line in text.split("\n"):
        if line.lstrip().startswith(("+-", "| ")) and line.rstrip().endswith(("|", "+")):
            out.append(line)  # a table or line block: leave it
            continue
        parts = _CODE_SPAN.split(line)
        out.append("".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts)))
    return "\n".join(out)


def process_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    """autodoc hook: make the project's plain-text notation render (see :func:`escape_bars`)."""
    lines[:] = escape_bars("\n".join(lines)).split("\n")


# ----- Sphinx hook ----------------------------------------------------------------------------


def generate_all(app: Any = None, config: Any = None) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    log = logger.info
    write_if_changed(GENERATED / "getting_started.md", getting_started_page())
    write_if_changed(GENERATED / "claims_catalogue.md", claims_catalogue_page())
    write_if_changed(GENERATED / "notebooks.md", "\n".join(notebooks_pages(log)))
    write_if_changed(GENERATED / "gallery.md", gallery_page())
    write_if_changed(GENERATED / "benchmarks.md", benchmarks_page())
    write_if_changed(GENERATED / "more.md", more_page())
    write_if_changed(GENERATED / "api.md", api_page())


def setup(app: Any) -> dict:
    app.connect("config-inited", generate_all)
    app.connect("autodoc-process-docstring", process_docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


# ----- API reference --------------------------------------------------------------------------


def api_page() -> str:
    """The API reference: the names ``dlnkit`` exports (each documented under ``dlnkit.``), then the
    public APIs of :mod:`dlnkit.strategies`, :mod:`dlnkit.theory` and :mod:`dlnkit.numerics` (their
    ``__all__``)."""
    import inspect

    import dlnkit

    names = sorted(n for n in dir(dlnkit) if not n.startswith("_") and not inspect.ismodule(getattr(dlnkit, n, None)))
    out = [
        "# API reference",
        "",
        "Generated from the docstrings. `import dlnkit` exports the names below (loaded lazily); "
        "`dlnkit.theory` is SymPy only, `dlnkit.numerics` is torch only.",
        "",
        "## dlnkit",
        "",
        "```{eval-rst}",
        ".. module:: dlnkit",
        "",
    ]
    import importlib

    # an object that dlnkit re-exports from dlnkit.theory / dlnkit.numerics is documented in full
    # there; here it gets the same text without a second index entry (no duplicate descriptions)
    elsewhere = {
        id(getattr(m, a))
        for m in (importlib.import_module("dlnkit.theory"), importlib.import_module("dlnkit.numerics"))
        for a in getattr(m, "__all__", [])
    }
    for n in names:
        obj = getattr(dlnkit, n)
        opts = ["   :no-index:"] if id(obj) in elsewhere else []
        if inspect.isclass(obj):
            out += [f".. autoclass:: dlnkit.{n}", "   :members:", *opts, ""]
        elif callable(obj):
            out += [f".. autofunction:: dlnkit.{n}", *opts, ""]
        else:
            out += [f".. autodata:: dlnkit.{n}", *opts, ""]
    out += ["```", ""]
    for mod in ("dlnkit.strategies", "dlnkit.theory", "dlnkit.numerics"):
        out += [f"## {mod}", "", "```{eval-rst}", f".. automodule:: {mod}", "   :members:", "```", ""]
    return "\n".join(out)
