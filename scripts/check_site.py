"""Check a built documentation site: it works offline and its commands can be pasted.

    python3 scripts/check_site.py docs/_build/html

Fails (exit 1, one line per problem) when a page loads a script or a stylesheet from the network
(math and pages must render on a machine without one), when a command in a code block, or an
option in the text, carries an en dash where the source has ``--`` (what Sphinx's smartquotes did),
or when a link points at an anchor that its page does not have.
``scripts/build_docs.sh`` runs it after every build.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

REMOTE = re.compile(r"^(https?:)?//", re.I)
#: an en or em dash where an option's "--" was: " –full", "–json"
DASHED_OPTION = re.compile(r"(^|[\s(\[`])[\u2013\u2014][A-Za-z]")


class PageScan(HTMLParser):
    """Collects the remote scripts and stylesheets of one page, the text of its code blocks and
    inline code, and its prose."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.remote: list[str] = []
        self.code: list[str] = []
        self.prose: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self._code_depth = 0
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and "#" in a.get("href", "") and not REMOTE.match(a["href"]) and ":" not in a["href"]:
            self.links.append(a["href"])
        if tag == "script" and REMOTE.match(a.get("src", "")):
            self.remote.append(f"<script src={a['src']}>")
        if tag == "link" and "stylesheet" in a.get("rel", "") and REMOTE.match(a.get("href", "")):
            self.remote.append(f"<link href={a['href']}>")
        if tag in ("pre", "code"):
            self._code_depth += 1
            self.code.append("")
        if tag in ("script", "style"):
            self._skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "code") and self._code_depth:
            self._code_depth -= 1
        if tag in ("script", "style") and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._code_depth:
            self.code[-1] += data
        else:
            self.prose.append(data)


def page_problems(html: str) -> list[str]:
    """What is wrong with one built page (empty when nothing)."""
    return _problems(_scan(html))


def _scan(html: str) -> PageScan:
    scan = PageScan()
    scan.feed(html)
    return scan


def _problems(scan: PageScan) -> list[str]:
    problems = [f"loads a remote resource: {r}" for r in scan.remote]
    for block in scan.code:
        for line in block.splitlines():
            if "\u2013" in line and re.search(r"(^|\s)(dlnkit|python3?|pip|bash|\$)\s", line + " "):
                problems.append(f"a command with an en dash: {line.strip()[:100]!r}")
    for text in scan.prose:
        m = DASHED_OPTION.search(text)
        if m:
            problems.append(f"an option with an en dash in the text: {text[max(0, m.start() - 30) : m.end() + 30]!r}")
    return problems


def site_problems(root: str | Path) -> list[str]:
    root = Path(root)
    pages = sorted(root.rglob("*.html"))
    if not pages:
        return [f"{root}: no HTML pages (build the site first)"]
    scans = {page.resolve(): _scan(page.read_text(encoding="utf-8")) for page in pages}
    out = []
    for page, scan in scans.items():
        rel = page.relative_to(root.resolve())
        if "_sources" not in rel.parts and "_modules" not in rel.parts:
            out += [f"{rel}: {p}" for p in _problems(scan)]
        for href in scan.links:  # a link to an anchor that does not exist on its page
            target, _, anchor = href.partition("#")
            dest = (page.parent / target).resolve() if target else page
            if dest in scans and anchor and anchor not in scans[dest].ids:
                out.append(f"{rel}: a link to a missing anchor: {href}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 scripts/check_site.py BUILT_HTML_DIR", file=sys.stderr)
        return 2
    problems = site_problems(argv[0])
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
