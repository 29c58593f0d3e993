"""The site's settings make math render offline and keep commands pasteable: a small site built with
docs/conf.py's settings loads no remote script, keeps ``--`` as typed, and scripts/check_site.py
catches a page that does either."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("sphinx")
pytest.importorskip("myst_parser")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


check_site = _load("check_site_under_test", ROOT / "scripts" / "check_site.py")


def test_the_vendored_mathjax_is_complete_and_licensed():
    conf = _load("docs_conf_under_test", ROOT / "docs" / "conf.py")
    static = ROOT / "docs" / conf.html_static_path[0]
    script = static / conf.mathjax_path
    assert not check_site.REMOTE.match(conf.mathjax_path) and script.is_file()
    assert conf.smartquotes is False
    mj = script.parent
    assert "Apache License" in (mj / "LICENSE").read_text()
    fonts = list((mj / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) >= 20  # the CommonHTML TeX fonts (main, math, AMS, size variants, ...)
    assert (mj / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()
    total = sum(p.stat().st_size for p in mj.rglob("*") if p.is_file())
    assert total < 4_000_000  # trimmed (the full package is about 6 MB packed, 20+ MB unpacked)


def test_a_site_built_with_the_docs_settings_is_offline_and_pasteable(tmp_path):
    from sphinx.application import Sphinx

    conf = _load("docs_conf_under_test2", ROOT / "docs" / "conf.py")
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text(
        "extensions = ['myst_parser', 'sphinx.ext.mathjax']\n"
        f"html_static_path = [{str(ROOT / 'docs' / conf.html_static_path[0])!r}]\n"
        f"mathjax_path = {conf.mathjax_path!r}\n"
        f"smartquotes = {conf.smartquotes!r}\n"
        "myst_enable_extensions = ['dollarmath']\n"
    )
    (src / "index.md").write_text(
        "# Page\n\nRun dlnkit verify --full --json out.json, and see $\\lambda_{\\max} = L t^{2(L-1)/L}$.\n\n"
        "```bash\ndlnkit verify --full --json out.json\n```\n"
    )
    out = tmp_path / "html"
    app = Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), "html", status=None, warning=None)
    app.build()
    page = (out / "index.html").read_text()
    assert check_site.site_problems(out) == []
    assert "verify --full --json" in page and "\u2013" not in page
    assert re.search(r'<script[^>]+src="_static/mathjax/tex-mml-chtml.js', page)
    assert (out / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_the_checker_catches_a_remote_script_and_a_dashed_option():
    bad = (
        '<html><head><script src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js"></script></head>'
        "<body><p>dlnkit verify \u2013full</p><pre>dlnkit verify \u2013json x.json</pre></body></html>"
    )
    problems = check_site.page_problems(bad)
    assert len(problems) == 3, problems
    assert check_site.page_problems('<script src="_static/mathjax/tex-mml-chtml.js"></script><p>2–3 s</p>') == []


def test_the_checker_catches_a_link_to_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<p id="here">x</p><a href="b.html#there">b</a><a href="#here">a</a>')
    (tmp_path / "b.html").write_text('<p id="elsewhere">y</p><a href="a.html#here">a</a>')
    assert check_site.site_problems(tmp_path) == ["a.html: a link to a missing anchor: b.html#there"]
