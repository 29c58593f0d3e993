"""The documentation site's generated pages (docs/_ext/dlnkit_docs.py) follow the registry and the
folders: every registered claim has its catalogue section, every counterexample record its gallery
entry, every notebook source its page. (CI builds the whole site with ``-W``; these are the fast
checks of what the generator writes.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("dlnkit_docs_under_test", ROOT / "docs" / "_ext" / "dlnkit_docs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_catalogue_has_every_registered_claim_with_its_tolerance_reason():
    from dlnkit.claims import all_claims

    gen = _generator()
    page = gen.claims_catalogue_page()
    for claim in all_claims().values():
        assert f"(claim-{gen.slug(claim.id)})=" in page, claim.id
        assert gen.md_escape(claim.tolerance.reason or "(none stated)") in page, claim.id


def test_gallery_lists_every_record_and_its_replay_command():
    gen = _generator()
    page = gen.gallery_page()
    records = [p for p in (ROOT / "counterexamples").glob("*.json") if "claim" in json.loads(p.read_text())]
    assert records
    for p in records:
        assert f"dlnkit replay counterexamples/{p.name}" in page


def test_escape_bars_keeps_math_and_code():
    gen = _generator()
    assert gen.escape_bars("|a - b| <= c") == "\\|a - b\\| <= c"
    assert gen.escape_bars(":math:`|x|` and ``|y|``") == ":math:`|x|` and ``|y|``"


def test_defang_links_keeps_web_links_only():
    gen = _generator()
    text = "[paper](https://arxiv.org/abs/2602.00545) and [file](B1.json) and [x](#a)"
    out = gen.defang_links(text, known={"a"})
    assert "[paper](https://arxiv.org/abs/2602.00545)" in out
    assert "file (`B1.json`)" in out and "[x](#a)" in out


def test_getting_started_copies_the_readme_commands():
    gen = _generator()
    page = gen.getting_started_page()
    assert "bash scripts/install.sh && dlnkit verify" in page
    assert "```python" in page
