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


#: project files the site carries as pages: repository path -> page name in docs/_generated/
PROJECT_PAGES = {"CONTRIBUTING.md": "contributing", "CHANGELOG.md": "changelog"}


def site_links(text: str) -> str:
    """Links of a repository Markdown file (README, CONTRIBUTING, CHANGELOG) made to work on a page of
    ``docs/_generated/``: ``docs/X.md#a`` -> that page of the site, ``CHANGELOG.md`` -> its copy;
    web links stay; any other relative link becomes its text plus the path as code."""

    def repl(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        path, _, anchor = target.partition("#")
        suffix = f"#{anchor}" if anchor else ""
        if path.startswith("docs/") and path.endswith(".md") and (ROOT / path).is_file():
            return page_link(label, path[len("docs/") : -len(".md")], anchor, up="../")
        if path in PROJECT_PAGES:
            return f"[{label}]({PROJECT_PAGES[path]}.md{suffix})"
        return defang_links(m.group(0))

    return _LINK.sub(repl, text)


def page_link(label: str, page: str, anchor: str = "", up: str = "") -> str:
    """A link from a page of ``docs/_generated/`` to ``docs/<page>.md``: a MyST link, or raw HTML when it
    names an anchor (``docs/claims.md`` marks its sections with ``<a id>``, which MyST cannot see;
    ``scripts/check_site.py`` checks that the anchor exists in the built page)."""
    if not anchor:
        return f"[{label}]({up}{page}.md)"
    text = label.replace("`", "")
    return f'<a href="{up}{page}.html#{anchor}">{text}</a>'


def project_page(name: str) -> str:
    """A repository Markdown file (e.g. CONTRIBUTING.md) as a page of the site."""
    text = (ROOT / name).read_text(encoding="utf-8")
    return f"<!-- copied from {name} at build time -->\n\n" + site_links(text)


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
    """The claim class's own docstring (not one inherited from the claim base class), with NumPy
    section headings ("Attributes" over dashes) turned into rubrics: inside a page, a heading per
    claim would repeat the same section ids."""
    import inspect

    own = type(obj).__dict__.get("__doc__")
    doc = inspect.cleandoc(own) if isinstance(own, str) else ""
    lines, out, i = doc.splitlines(), [], 0
    while i < len(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if lines[i].strip() and re.fullmatch(r"\s*([-=~^])\1{2,}\s*", nxt):
            out += [f".. rubric:: {lines[i].strip()}", ""]
            i += 2
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out).strip()


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


def fmt_config(cfg: Any) -> str:
    """A configuration as ``key=value`` pairs with floats rounded to 6 significant digits (no float
    noise such as ``1.2100000000000002``), lists comma-separated; wraps in a table cell."""
    if not isinstance(cfg, dict):
        return md_escape(cfg)

    def one(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return str(v)
        if isinstance(v, float):
            return f"{v:.6g}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(one(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k}: {one(x)}" for k, x in v.items()) + "}"
        return str(v)

    return md_escape(" · ".join(f"{k}={one(v)}" for k, v in cfg.items()))


def claim_status(rows: list[dict]) -> str:
    """One word for a claim's rows in the record, as ``dlnkit verify`` prints it: ERROR, FAIL (an
    exact row outside its bound), MISS (an approximate claim outside its band: not counted in the
    exit status without --strict), PASS."""
    if any(r.get("status") == "ERROR" for r in rows):
        return "ERROR"
    if any(not r.get("passed") and r.get("kind", "exact") == "exact" for r in rows):
        return "FAIL"
    if any(not r.get("passed") for r in rows):
        return "MISS"
    return "PASS"


def claims_doc_anchor(c: Any) -> str | None:
    """The anchor of ``docs/claims.md`` that derives claim ``c``: its id's slug or a prefix of it
    (``b2-paper-decay`` -> ``b2-paper``), else the family named in its source (``... A2`` -> ``a2``)."""
    path = DOCS / "claims.md"
    if not path.is_file():
        return None
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', path.read_text(encoding="utf-8")))
    parts = slug(c.id).split("-")
    for k in range(len(parts), 0, -1):
        if "-".join(parts[:k]) in anchors:
            return "-".join(parts[:k])
    for fam in re.findall(r"\b([ABC]\d)\b", str(getattr(c, "source", ""))):
        if fam.lower() in anchors:
            return fam.lower()
    return None


def notebook_mentions(claim_id: str) -> list[tuple[str, str]]:
    """(notebook stem, the heading of the section) of the first place each teaching notebook names
    ``claim_id``."""
    out = []
    pattern = re.compile(rf"(?<![\w-]){re.escape(claim_id)}(?![\w-])")
    for source in sorted(notebook_source_dir().glob("[0-9][0-9]_*.py")):
        heading = ""
        for line in source.read_text(encoding="utf-8").splitlines():
            m = re.match(r"^# (#{2,3}) (.+)", line)  # a section; the notebook's title (one #) is its link
            if m:
                heading = m.group(2).strip()
            if pattern.search(line):
                out.append((source.stem, heading))
                break
    return out


def counterexamples_of(claim_id: str) -> list[tuple[str, str]]:
    """(dropped assumptions, gallery anchor) of every counterexample record of ``claim_id``."""
    out = []
    for f in sorted((ROOT / "counterexamples").glob("*.json")):
        try:
            rec = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(rec, dict) and rec.get("claim") == claim_id:
            out.append((", ".join(rec.get("dropped", [])) or "nothing", f"cx-{slug(f.stem)}"))
    return out


def claim_plot(claim_id: str, rows: list[dict]) -> tuple[str, str] | None:
    """The first figure ``dlnkit report`` draws for these rows, written to
    ``docs/_generated/img/claim-<id>.png``: (path relative to the catalogue, caption)."""
    import base64

    try:
        from dlnkit.records.report_plots import claim_plots

        plots, _ = claim_plots(claim_id, rows)
    except Exception:  # noqa: BLE001 - a figure that cannot be drawn leaves the entry without one
        return None
    if not plots:
        return None
    data = base64.b64decode(plots[0].png_base64)
    target = GENERATED / "img" / f"claim-{slug(claim_id)}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != data:
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return f"img/{target.name}", f"{plots[0].title}. {plots[0].caption}"


def claim_map_facts(c: Any) -> list[tuple[str, str]]:
    """The claim map rows (module, theory and numerics functions, tests) of a claim, from
    :func:`dlnkit.records.claim_map.claim_map_entry` (the same map ``dlnkit list -v`` prints; the
    derivation and notebook links are above)."""
    from dlnkit.records.claim_map import claim_map_entry

    e = claim_map_entry(c)
    listed = lambda items: ", ".join(md_code(x) for x in items) or "(none)"
    return [
        ("module", md_code(e.module)),
        ("theory", listed(e.theory)),
        ("numerics", listed(e.numerics)),
        ("tests", listed(e.tests)),
    ]


def claim_section(c: Any, rows: list[dict]) -> list[str]:
    out = [f"(claim-{slug(c.id)})=", f"### {md_escape(c.id)}: {md_escape(c.title)}", ""]
    if rows:  # the verdict first
        word = claim_status(rows)
        note = " (approximate: not counted in the exit status without `--strict`)" if word == "MISS" else ""
        out += [f"**{word}**{note}: {md_escape(verdict_line(rows))} (committed record).", ""]
    else:
        out += ["**not in the committed record**", ""]
    latex = ""
    try:
        latex = c.statement_latex()
    except Exception:  # a claim whose statement cannot be printed still gets its page
        latex = ""
    if latex and latex != c.title:
        out += ["$$", latex.strip(), "$$", ""]
    links = []
    anchor = claims_doc_anchor(c)
    if anchor:
        links.append("derivation: " + page_link(f"docs/claims.md#{anchor}", "claims", anchor, up="../"))
    for stem, heading in notebook_mentions(c.id):
        where = f', section "{md_escape(heading)}"' if heading else ""
        links.append(f"notebook: {{doc}}`notebooks/{stem}`{where}")
    cx = counterexamples_of(c.id)
    if cx:
        links.append("counterexamples: " + ", ".join(f"[without {md_escape(d)}](gallery.md#{a})" for d, a in cx))
    plot = claim_plot(c.id, rows) if rows else None
    if plot:
        links.append(f"[plot](#claim-{slug(c.id)}-plot)")
    if links:
        out += ["- " + "\n- ".join(links), ""]
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
    facts += claim_map_facts(c)
    out += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in facts] + [""]
    if c.assumptions:
        out += ["Assumptions:", ""]
        out += [f"- {md_code(a.name)}: {md_escape(a.statement)}" for a in c.assumptions]
        out.append("")
    else:
        out += ["Assumptions: none stated.", ""]
    if plot:
        out += [f"(claim-{slug(c.id)}-plot)=", f"![{md_escape(plot[1])}]({plot[0]})", "", md_escape(plot[1]), ""]
    if rows:
        out += [
            "| status | config | predicted | measured | reported | error | bound |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            status = str(r.get("status", "")) + ("" if r.get("kind", "exact") == "exact" else " (approx)")
            out.append(
                f"| {md_escape(status)} | {fmt_config(r.get('config', {}))} | {md_escape(r.get('predicted', ''))} "
                f"| {md_escape(r.get('measured', ''))} | {md_escape(r.get('reported', ''))} "
                f"| {fmt_num(r.get('error'))} | {fmt_num(r.get('bound'))} |"
            )
        out.append("")
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
        # the page offers the notebook (executed .ipynb) and its jupytext source for download
        write_if_changed(out_dir / "src" / source.name, source.read_text(encoding="utf-8"))
        nb.cells.insert(min(1, len(nb.cells)), nbformat.v4.new_markdown_cell(download_line(source.stem)))
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
    page += ["| notebook | download |", "|---|---|"]
    for stem in stems:
        page.append(
            f"| {{doc}}`notebooks/{stem}` | {{download}}`{stem}.ipynb <notebooks/{stem}.ipynb>` (executed), "
            f"{{download}}`{stem}.py <notebooks/src/{stem}.py>` (jupytext source) |"
        )
    page += ["", "```{toctree}", ":maxdepth: 1", ":hidden:", ""] + [f"notebooks/{s}" for s in stems] + ["```", ""]
    return page


def download_line(stem: str) -> str:
    """The Markdown cell put under a notebook's title: its two downloads."""
    return (
        f"Download this notebook: {{download}}`{stem}.ipynb <{stem}.ipynb>` (executed) or its jupytext "
        f"source {{download}}`{stem}.py <src/{stem}.py>` (`jupytext --to ipynb {stem}.py`)."
    )


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
    explanations: dict[str, str] = {}  # file name -> the README's "why it breaks" text for it
    if readme.is_file():
        sections = readme_sections(readme.read_text(encoding="utf-8"))
        for key, body in sections.items():
            if not key or body.lstrip().startswith("|"):
                continue
            if "### " in body:  # one ### subsection per record: each goes under its own record's heading
                for chunk in re.split(r"^### ", body, flags=re.M)[1:]:
                    title, _, text = chunk.partition("\n")
                    named = re.search(r"\(([^()\s]+\.json)\)", title)
                    if named:
                        explanations[named.group(1)] = text.strip()
                continue
            out += [f"## {key}", "", defang_links(body.replace("\n## ", "\n### ")), ""]
    if files:
        out += [
            "## The counterexamples, one by one",
            "",
            "Each record with its replay command, why the claim breaks without the dropped assumption, "
            "and the stored numbers.",
            "",
        ]
        for f, rec in records:
            dropped = ", ".join(rec.get("dropped", [])) or "nothing"
            out += [
                f"({anchors[f.name]})=",
                f"### {md_escape(rec.get('claim', '?'))} without {md_escape(dropped)}",
                "",
                f"File {md_code('counterexamples/' + f.name)}; recompute it with:",
                "",
                "```bash",
                f"dlnkit replay counterexamples/{f.name}",
                "```",
                "",
            ]
            why = explanations.get(f.name)
            if why:
                out += [escape_emphasis(defang_links(why)), ""]
            elif rec.get("explanation"):
                out += [md_escape(rec["explanation"]), ""]
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
            body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(rounded(v))}" for k, v in keep.items())
            out += ["```json", "{\n" + body + "\n}", "```", ""]
    return "\n".join(out)


def rounded(v: Any) -> Any:
    """Floats to 6 significant digits, inside lists and dicts too (no ``0.9374999999999998``)."""
    if isinstance(v, float):
        return float(f"{v:.6g}")
    if isinstance(v, list):
        return [rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: rounded(x) for k, x in v.items()}
    return v


def escape_emphasis(text: str) -> str:
    """Plain-text math (``c**2``, ``W_1 ... P_1``) outside code spans: escape ``*`` and ``_`` so that
    Markdown does not read them as emphasis."""
    parts = re.split(r"(`[^`]*`|\[[^\]]*\]\([^)]*\))", text)
    return "".join(p if i % 2 else p.replace("*", "\\*").replace("_", "\\_") for i, p in enumerate(parts))


# ----- benchmarks -----------------------------------------------------------------------------


_ABS_RESULT = re.compile(r"(?:/[\w.+-]+)+/(benchmarks/results/[\w.+-]+)")
_TMP_PATH = re.compile(r"/tmp/[\w.+/-]+")


def clean_paths(text: Any) -> str:
    """A machine's absolute paths out of a recorded command: ``/x/y/benchmarks/results/f.json`` ->
    ``benchmarks/results/f.json``, a temporary folder -> ``OUT``."""
    return _TMP_PATH.sub("OUT", _ABS_RESULT.sub(r"\1", str(text)))


def _bcell(v: Any, width: int = 80) -> str:
    if isinstance(v, float):
        return fmt_num(v)
    if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) and len(v) <= 8:
        return ", ".join(fmt_num(x) if isinstance(x, float) else str(x) for x in v)
    return _cell(clean_paths(v if isinstance(v, str) else json.dumps(v, default=str)), width)


def _machine_line(machine: dict) -> list[str]:
    keys = ("cpu", "cpu_count", "threads", "mem_total_gib", "torch", "python", "device", "cuda_available")
    bits = [f"{k} {md_escape(machine[k])}" for k in keys if machine.get(k) not in (None, "")]
    load = machine.get("loadavg_start")
    if isinstance(load, list) and load:
        bits.append(f"load average at the start {fmt_num(load[0])}")
    return ["Machine: " + "; ".join(bits) + ".", ""] if bits else []


def _table(rows: list[dict], cols: list[str] | None = None) -> list[str]:
    if cols is None:
        cols = []
        for r in rows:
            cols += [k for k in r if k not in cols and not isinstance(r[k], (dict, list)) or k in ("top5",)]
        cols = [c for c in cols if any(str(r.get(c, "")) != "" for r in rows)][:10]
    out = ["| " + " | ".join(md_escape(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_bcell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return out + [""]


def _bench_cases(rec: dict) -> list[str]:
    """A ``python -m benchmarks`` run: its table, one per case, ratios against the same run's baseline."""
    out: list[str] = []
    by_case: dict[str, list[dict]] = {}
    for row in rec.get("table") or []:
        by_case.setdefault(str(row.get("case", "?")), []).append(row)
    for case, rows in by_case.items():
        cols = [k for k in rows[0] if k != "case" and any(str(r.get(k, "")) != "" for r in rows)]
        out += [f"**{md_escape(case)}**", ""] + _table(rows, cols)
    checks = rec.get("checks") or []
    if checks:
        out += ["Agreement checks between the routes:", ""] + [f"- {md_escape(clean_paths(c))}" for c in checks] + [""]
    if rec.get("gpu_case"):
        out += [f"GPU case: {md_escape(rec['gpu_case'])}.", ""]
    return out


def _verify_time(rec: dict) -> list[str]:
    """A ``python -m benchmarks.verify_time`` run: each command's wall and CPU time and its ratio
    against the baseline measured in the same run."""
    results = rec.get("results") or {}
    base = results.get(rec.get("baseline"), {}) if isinstance(results, dict) else {}
    base_wall = base.get("wall_s")
    rows = []
    for case, r in results.items():
        wall = r.get("wall_s")
        ratio = wall / base_wall if isinstance(wall, (int, float)) and isinstance(base_wall, (int, float)) else None
        rows.append(
            {
                "case": case + (" (baseline)" if case == rec.get("baseline") else ""),
                "command": clean_paths(r.get("command", "")),
                "status": r.get("status", ""),
                "wall s": wall,
                "CPU s": r.get("cpu_s", ""),
                "wall vs baseline": "" if ratio is None else f"{ratio:.2f}",
            }
        )
    return _table(rows, ["case", "command", "status", "wall s", "CPU s", "wall vs baseline"])


def _nested_tables(rec: dict) -> list[str]:
    """Any other result file: its scalars in one line, each section's scalars in a two-column table
    and each list of rows as a table (no raw JSON)."""
    out: list[str] = []
    scalars = [(k, v) for k, v in rec.items() if not isinstance(v, (dict, list))]
    if scalars:
        out += ["; ".join(f"{md_escape(k)} = {_bcell(v)}" for k, v in scalars) + ".", ""]
    for key, value in rec.items():
        if key == "machine":
            continue
        if isinstance(value, dict) and value:
            out += [f"**{md_escape(key)}**", ""]
            flat = [(k, v) for k, v in value.items() if not isinstance(v, dict)]
            flat = [(k, v) for k, v in flat if not (isinstance(v, list) and v and isinstance(v[0], dict))]
            if flat:
                out += ["| | |", "|---|---|"] + [f"| {md_escape(k)} | {_bcell(v)} |" for k, v in flat] + [""]
            for k, v in value.items():
                if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                    out += [f"{md_escape(key)}: {md_escape(k)}", ""] + _table(v)
                elif isinstance(v, dict) and v:
                    inner = [(a, b) for a, b in v.items() if not isinstance(b, dict)]
                    out += [f"{md_escape(key)}: {md_escape(k)}", "", "| | |", "|---|---|"]
                    out += [f"| {md_escape(a)} | {_bcell(b)} |" for a, b in inner] + [""]
        elif isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            out += [f"**{md_escape(key)}**", ""] + _table(value)
    return out


def benchmarks_page() -> str:
    """The README's Benchmarks section (what is measured, each target and whether it was met), then
    every run in ``benchmarks/results/*.json`` as tables."""
    folder = ROOT / "benchmarks" / "results"
    runs = sorted(folder.glob("*.json")) if folder.is_dir() else []
    out = [
        "# Benchmarks",
        "",
        "What each benchmark measures, its target and whether it was met (copied from the README at "
        "build time), then every committed run in `benchmarks/results/` as tables. Ratios are against "
        "the baseline measured in the same run, never across machines or runs.",
        "",
    ]
    readme = ROOT / "README.md"
    if readme.is_file():
        sections = readme_sections(readme.read_text(encoding="utf-8"))
        body = next((v for k, v in sections.items() if k.lower().startswith("benchmarks")), "")
        if body:
            out += ["## Targets and results", "", defang_links(body), ""]
    out += ["## The committed runs", ""]
    verify_records = []
    for path in reversed(runs):  # newest first (names carry the UTC time)
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            out += [f"### {md_escape(path.name)}", "", f"Unreadable: {md_escape(exc)}", ""]
            continue
        if not isinstance(rec, dict):
            continue
        if "environment" in rec and isinstance(rec.get("results"), list):  # the rows of a timed verify run
            verify_records.append((path, rec))
            continue
        out += [f"### {md_escape(path.name)}", ""]
        out += _machine_line(rec.get("machine") or {})
        if isinstance(rec.get("seconds"), (int, float)):
            out += [f"Whole run: {fmt_num(rec['seconds'])} s, started {md_escape(rec.get('started_utc', '?'))}.", ""]
        if rec.get("table"):
            out += _bench_cases(rec)
        elif "baseline" in rec and isinstance(rec.get("results"), dict):
            out += _verify_time(rec)
        else:
            out += _nested_tables(rec)
    if verify_records:
        out += [
            "### The rows of the timed verify runs",
            "",
            "Each timed `dlnkit verify` run wrote its rows beside the timing file:",
            "",
            "| file | command | rows | passed |",
            "|---|---|---:|---:|",
        ]
        for path, rec in verify_records:
            env = rec.get("environment") or {}
            rows = rec["results"]
            out.append(
                f"| {md_code(path.name)} | {md_code(clean_paths(env.get('command', '')))} | {len(rows)} "
                f"| {sum(bool(r.get('passed')) for r in rows)} |"
            )
        out.append("")
    if not runs:
        out += ["No benchmark run is committed yet.", ""]
    return "\n".join(out)


def _cell(v: Any, width: int = 80) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return md_escape(text if len(text) <= width else text[: width - 1] + "…")


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
    for source, page in PROJECT_PAGES.items():
        if (ROOT / source).is_file():
            write_if_changed(GENERATED / f"{page}.md", project_page(source))
    write_if_changed(GENERATED / "api.md", api_page(log))


def setup(app: Any) -> dict:
    app.connect("config-inited", generate_all)
    app.connect("autodoc-process-docstring", process_docstring)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


# ----- API reference --------------------------------------------------------------------------

#: the API reference's sections, by task: (title, what it holds, prefixes of the defining modules).
#: An object goes to the section whose prefix matches the module that defines it (the longest), so a function
#: that moves between modules of the same layer keeps its place without editing this list.
API_GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "Claims and your own theorems",
        "The claim protocol (predict, measure, compare under a stated tolerance and assumptions), the "
        "registry, and `define_claim` for a theorem of your own (see {doc}`/own_theorem`).",
        ("dlnkit.claims", "dlnkit.configs.prediction_values", "dlnkit.user_claim", "dlnkit.api"),
    ),
    (
        "Points and their exact Hessians",
        "A point (weights, data, loss) and its Hessian by every route: closed form, autograd, exact rationals.",
        ("dlnkit.numerics.point", "dlnkit.configs", "dlnkit.exact", "dlnkit.engines.exact", "dlnkit.theory.exact"),
    ),
    (
        "Deep linear networks: Hessians, spectra, training",
        "Closed-form Hessians of deep linear networks (Gauss-Newton and residual parts, Kronecker "
        "blocks), their nonzero spectra from the small J J^T, the paper setups' training loops and the "
        "splits of a spectrum into dominant and bulk parts.",
        (
            "dlnkit.numerics.dln",
            "dlnkit.numerics.training",
            "dlnkit.numerics.paper_setup",
            "dlnkit.numerics.adaptive_split",
            "dlnkit.numerics.spectra",
            "dlnkit.numerics.classic",
            "dlnkit.numerics.dims",
        ),
    ),
    (
        "Real-network curvature",
        "Your model, loss and data: exact Hessian-vector products, dense Hessians within a memory "
        "budget, the checks that refuse what a route cannot handle, and the model zoo.",
        (
            "dlnkit.numerics.curvature",
            "dlnkit.numerics.hessian",
            "dlnkit.numerics.autodiff",
            "dlnkit.numerics.chains",
            "dlnkit.numerics.losses",
            "dlnkit.numerics.model_checks",
            "dlnkit.numerics.batches",
            "dlnkit.numerics.memory",
            "dlnkit.numerics.zoo",
        ),
    ),
    (
        "Alignment",
        "The spectral-alignment decomposition of arXiv:2606.02596 on a layer: gradient singular "
        "directions, directional curvatures h_k, the three slopes, s_dir and s_eig, preconditioners.",
        ("dlnkit.numerics.alignment", "dlnkit.numerics.preconditioners", "dlnkit.numerics.fits"),
    ),
    (
        "Estimators: eigenvalues, densities, traces",
        "One curvature-operator protocol and the algorithms that take it: block Lanczos (top "
        "eigenvalues with multiplicities), stochastic Lanczos quadrature, Hutchinson and Hutch++.",
        (
            "dlnkit.numerics.operators",
            "dlnkit.numerics.lanczos",
            "dlnkit.numerics.top_eigenvalues",
            "dlnkit.numerics.slq",
            "dlnkit.numerics.trace_estimators",
        ),
    ),
    (
        "Counterexamples",
        "Drop an assumption and let Hypothesis shrink a failure to a minimal configuration; save, "
        "replay and turn a record into a regression test.",
        ("dlnkit.engines.counterexample", "dlnkit.engines.gallery", "dlnkit.counterexample"),
    ),
    (
        "Reports and records",
        "Read a `dlnkit verify --json` or `dlnkit reproduce` record and render the HTML referee "
        "report; the verify screen; plots of spectral densities.",
        ("dlnkit.records", "dlnkit.report", "dlnkit.run_record", "dlnkit.spectral_plots", "dlnkit.outputs"),
    ),
    (
        "Sweeps",
        "Grids and drawn configurations of claims on a process pool or Dask, restartable case by case.",
        ("dlnkit.engines.sweep", "dlnkit.engines.worker_pool", "dlnkit.sweep"),
    ),
    (
        "Theory (SymPy derivations)",
        "`dlnkit.theory` never imports torch: the spectra, Kronecker forms, closed forms and classic "
        "results derived symbolically.",
        ("dlnkit.theory",),
    ),
    (
        "Hypothesis strategies",
        "The configurations Hypothesis draws (depths, widths, spectra, data, points).",
        ("dlnkit.strategies", "dlnkit.configs.strategies"),
    ),
    (
        "Validation and devices",
        "Bad input is one clear error: the checks every routine uses, and the device choice.",
        ("dlnkit.numerics.validation", "dlnkit.numerics.device"),
    ),
    (
        "Other numerics",
        "The rest of `dlnkit.numerics`.",
        ("dlnkit.numerics",),
    ),
]

#: objects documented besides every ``__all__``: the public functions of modules that declare none
#: (looked up by name wherever they are defined, so a move does not break the page)
API_EXTRA_NAMES = (
    "ModelCurvature",
    "AlignmentReport",
    "LayerCapture",
    "capture_layer",
    "analyse_capture",
    "analyse_layer",
    "measure_layer_alphas",
    "fit_report",
    "linear_chain",
    "directional_curvatures",
    "layer_block_eigenvalues",
    "find_counterexample",
    "SearchResult",
    "Evaluation",
    "evaluate",
    "violated_assumptions",
    "save_counterexample",
    "load_counterexample",
    "replay",
    "replay_record",
    "ReplayResult",
    "regression_test_source",
    "generate_gallery",
    "render_report",
    "write_report",
    "load_record",
    "Record",
    "format_summary",
    "format_table",
    "plot_density",
    "dln_hessian_assembled",
    "dense_hessian_chunked",
)

#: modules never documented (the command line, entry points)
_API_SKIP = ("dlnkit.commands", "dlnkit.cli", "dlnkit.__main__")
_PUBLIC_ROOTS = ("dlnkit", "dlnkit.numerics", "dlnkit.theory", "dlnkit.strategies")


def _walk_modules(log=None) -> list[Any]:
    """Every importable module of dlnkit, dlnkit.numerics and dlnkit.theory (not the commands)."""
    import importlib
    import pkgutil

    mods = []
    for root in ("dlnkit", "dlnkit.numerics", "dlnkit.theory"):
        pkg = importlib.import_module(root)
        mods.append(pkg)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=root + "."):
            if info.name.startswith(_API_SKIP) or info.name.split(".")[-1].startswith("_"):
                continue
            try:
                mods.append(importlib.import_module(info.name))
            except Exception as exc:  # noqa: BLE001 - an optional dependency missing: not documented
                if log:
                    log(f"dlnkit_docs: API reference skips {info.name} ({type(exc).__name__}: {exc})")
    return mods


def _defined_here(obj: Any, mod: Any) -> bool:
    return getattr(obj, "__module__", None) == mod.__name__


def api_name_index(mods: list[Any]) -> dict[str, list[Any]]:
    """name -> the distinct dlnkit objects defined under that name at module level."""
    import inspect

    index: dict[str, list[Any]] = {}
    for mod in mods:
        for name, obj in vars(mod).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if _defined_here(obj, mod) and getattr(obj, "__name__", "") == name:
                bucket = index.setdefault(name, [])
                if not any(o is obj for o in bucket):
                    bucket.append(obj)
    return index


def readme_object_names(readme: str) -> list[str]:
    """Identifiers the README writes as code (`` `name` ``, `` `name()` ``, `` `a.b.name` ``)."""
    return list(dict.fromkeys(re.findall(r"`((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?:\(\))?`", readme)))


def resolve_readme_objects(readme: str, mods: list[Any] | None = None) -> dict[str, Any]:
    """The public dlnkit objects (functions and classes) the README names: a dotted ``dlnkit.``
    path that resolves, or a bare name that is exported by ``dlnkit``, ``dlnkit.numerics``,
    ``dlnkit.theory``, ``dlnkit.strategies`` or defined (once) at module level somewhere in dlnkit."""
    import importlib
    import inspect

    mods = mods if mods is not None else _walk_modules()
    index = api_name_index(mods)
    roots = [importlib.import_module(m) for m in _PUBLIC_ROOTS]
    out: dict[str, Any] = {}
    for name in readme_object_names(readme):
        obj: Any = None
        if name.startswith("dlnkit."):
            mod_name, _, attr = name.rpartition(".")
            try:
                obj = getattr(importlib.import_module(mod_name), attr)
            except (ImportError, AttributeError):
                obj = None
        else:
            last = name.split(".")[-1]
            for root in roots:
                if not last.startswith("_") and last in (getattr(root, "__all__", None) or dir(root)):
                    obj = getattr(root, last, None)
                    break
            if obj is None and len(index.get(last, [])) == 1:
                obj = index[last][0]
        if obj is not None and (inspect.isfunction(obj) or inspect.isclass(obj)):
            if str(getattr(obj, "__module__", "")).startswith("dlnkit"):
                out[name] = obj
    return out


def public_path(obj: Any, name: str, found_in: str = "") -> str:
    """Where a reader imports ``obj`` from: ``dlnkit.X``, ``dlnkit.numerics.X``, ``dlnkit.theory.X``
    or ``dlnkit.strategies.X`` when that package exports it, else its defining module."""
    import importlib

    for root in _PUBLIC_ROOTS:
        mod = importlib.import_module(root)
        exported = getattr(mod, "__all__", None)
        if (exported is None or name in exported) and getattr(mod, name, None) is obj:
            return f"{root}.{name}"
    home = getattr(obj, "__module__", None)
    return f"{home if isinstance(home, str) and home.startswith('dlnkit') else found_in}.{name}"


def defining_path(obj: Any, name: str, found_in: str) -> str:
    """Where ``obj`` is defined (functions and classes), or where it was found (constants).

    The reference documents each object under its defining module: Sphinx's source view links each
    function back to the page under one module prefix per source file, so documenting some objects
    of a file as ``dlnkit.X`` and others as ``dlnkit.numerics.point.Y`` would break those links. The
    shorter import path (:func:`public_path`) is written under the object."""
    home = getattr(obj, "__module__", None)
    if isinstance(home, str) and home.startswith("dlnkit") and getattr(obj, "__name__", None) == name:
        return f"{home}.{name}"
    return f"{found_in}.{name}"


def api_entries(log=None) -> list[tuple[str, str, Any]]:
    """(section title, documented path, object) for every object of the API reference, each once."""
    import importlib
    import inspect

    mods = _walk_modules(log)
    index = api_name_index(mods)
    picked: list[tuple[str, Any, str]] = []

    def add(name: str, obj: Any, found_in: str) -> None:
        if inspect.ismodule(obj) or any(o is obj for _, o, _ in picked):
            return
        picked.append((name, obj, found_in))

    top = importlib.import_module("dlnkit")
    for n in sorted(n for n in dir(top) if not n.startswith("_")):
        add(n, getattr(top, n), "dlnkit")
    for mod in mods:
        for n in getattr(mod, "__all__", None) or []:
            if hasattr(mod, n):
                add(n, getattr(mod, n), mod.__name__)
    for n in API_EXTRA_NAMES:
        hits = index.get(n, [])
        if len(hits) == 1:
            add(n, hits[0], hits[0].__module__)
        elif log:
            log(f"dlnkit_docs: API reference: {n!r} is defined {len(hits)} times in dlnkit; not added")
    readme = ROOT / "README.md"
    if readme.is_file():
        for name, obj in resolve_readme_objects(readme.read_text(encoding="utf-8"), mods).items():
            add(getattr(obj, "__name__", name.split(".")[-1]), obj, obj.__module__)

    out = []
    seen_paths: set[str] = set()
    for name, obj, found_in in picked:
        path = defining_path(obj, name, found_in)
        if path in seen_paths:
            continue
        seen_paths.add(path)
        home = str(getattr(obj, "__module__", "") or "")
        if not home.startswith("dlnkit"):  # a constant or a SymPy symbol: where it is exported
            home = path.rpartition(".")[0]
        # the section of the longest matching module prefix ("dlnkit.configs.strategies" beats "dlnkit.configs")
        matches = [(len(p), t) for t, _, prefixes in API_GROUPS for p in prefixes if home.startswith(p)]
        title = max(matches)[1] if matches else "Other"
        out.append((title, path, obj))
    return out


def api_page(log=None) -> str:
    """The API reference, grouped by task (:data:`API_GROUPS`): every name ``dlnkit`` exports, every
    module's ``__all__``, :data:`API_EXTRA_NAMES` and every object the README names, each documented
    once, under the path a reader imports it from."""
    import inspect

    entries = api_entries(log)
    out = [
        "# API reference",
        "",
        "Generated from the docstrings at build time, grouped by task. Each object is documented once, "
        "under the module that defines it; where a package re-exports it (`dlnkit`, `dlnkit.numerics`, "
        "`dlnkit.theory`, `dlnkit.strategies`), the shorter import is written under it. `dlnkit.theory` "
        "is SymPy only, `dlnkit.numerics` is torch only.",
        "",
    ]
    titles = [t for t, _, _ in API_GROUPS] + ["Other"]
    descriptions = {t: d for t, d, _ in API_GROUPS}
    out += ["| section | objects |", "|---|---|"]
    for t in titles:
        n = sum(e[0] == t for e in entries)
        if n:
            out.append(f"| [{t}](#api-{slug(t)}) | {n} |")
    out.append("")
    for t in titles:
        items = [(p, o) for g, p, o in entries if g == t]
        if not items:
            continue
        out += [f"(api-{slug(t)})=", f"## {t}", ""]
        if t in descriptions:
            out += [descriptions[t], ""]
        out += ["```{eval-rst}"]
        for path, obj in items:
            name = path.rsplit(".", 1)[-1]
            short = public_path(obj, name, path.rsplit(".", 1)[0])
            also = [f"   Import it as ``{short}``.", ""] if short != path else []
            if inspect.isclass(obj):
                out += [f".. autoclass:: {path}", "   :members:", "", *also]
            elif callable(obj) and not type(obj).__module__.startswith("sympy"):
                out += [f".. autofunction:: {path}", "", *also]
            else:  # a constant or a SymPy symbol: its value, not its type's docstring
                value = " ".join(repr(obj).split())
                out += [f".. py:data:: {path}", f"   :value: {value[:60]}", ""]
        out += ["```", ""]
    return "\n".join(out)
