"""What the generated site pages give a reader (docs/_ext/dlnkit_docs.py): the catalogue's entries
lead with the verdict and link out, configurations are rounded, each counterexample has its own
heading, the benchmarks are tables without the builder's paths, the project documents are pages."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("dlnkit_docs_pages", ROOT / "docs" / "_ext" / "dlnkit_docs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_configs_are_rounded():
    gen = _generator()
    text = gen.fmt_config({"t": [1.2100000000000002, 0.1 + 0.2], "lr": 0.010000000000000002, "L": 3}).replace("\\", "")
    assert "1.2100000000000002" not in text and "0.30000000000000004" not in text
    assert "t=[1.21, 0.3]" in text and "lr=0.01" in text and "L=3" in text


def test_catalogue_entry_starts_with_the_verdict_and_links_its_derivation_notebook_counterexamples(tmp_path):
    from dlnkit.claims import all_claims

    gen = _generator()
    gen.GENERATED = tmp_path  # the entry's figure goes here, not into the checkout
    record = json.loads((ROOT / "docs" / "verify-results.json").read_text())
    rows = [r for r in record["results"] if r["claim_id"] == "B1-ratio"]
    section = gen.claim_section(all_claims()["B1-ratio"], rows)
    body = [line for line in section[2:] if line]
    assert body[0].startswith("**PASS**")  # the verdict is the first thing under the heading
    text = "\n".join(section)
    assert 'href="../claims.html#b1"' in text
    assert "{doc}`notebooks/" in text
    assert "gallery.md#cx-b1-ratio-drop-balanced" in text
    assert "$$" in text  # the statement, typeset
    assert "(img/claim-b1-ratio.png)" in text and (tmp_path / "img" / "claim-b1-ratio.png").stat().st_size > 1000
    table = [line for line in section if line.startswith("| status | config")]
    assert table, "the rows' table puts status first"
    b3 = [r for r in record["results"] if r["claim_id"] == "B3-paper"]
    approx = [dict(r, passed=False, status="FAIL", kind="approximate") for r in b3[:1]] + b3[1:]
    miss = [line for line in gen.claim_section(all_claims()["B3-paper"], approx)[2:] if line]
    assert miss[0].startswith("**MISS**") and "--strict" in miss[0]


def test_each_counterexample_has_its_own_heading():
    gen = _generator()
    page = gen.gallery_page()
    records = [p for p in (ROOT / "counterexamples").glob("*.json") if "claim" in json.loads(p.read_text())]
    headings = re.findall(r"^### (.+) without (.+)$", page, re.M)
    assert len(headings) == len(records)
    assert not re.search(r"^####", page, re.M)  # nothing nested below one heading


def test_benchmarks_page_is_tables_with_targets_and_no_builder_paths():
    gen = _generator()
    page = gen.benchmarks_page()
    assert "## Targets and results" in page and "Target" in page
    assert "/work/" not in page and "/tmp/" not in page and "/root/" not in page
    assert "```json" not in page
    assert re.search(r"^\| case \| command \| status \| wall s", page, re.M)
    assert gen.clean_paths("dlnkit verify --json /a/b/benchmarks/results/x.json") == (
        "dlnkit verify --json benchmarks/results/x.json"
    )


def test_contributing_and_changelog_are_pages_and_notebooks_have_downloads():
    gen = _generator()
    page = gen.project_page("CONTRIBUTING.md")
    assert "](docs/" not in page and "# Contributing" in page
    index = (ROOT / "docs" / "index.md").read_text()
    assert "_generated/contributing" in index and "_generated/changelog" in index
    line = gen.download_line("01_dln_hessian")
    assert "{download}`01_dln_hessian.ipynb <01_dln_hessian.ipynb>`" in line
    assert "{download}`01_dln_hessian.py <src/01_dln_hessian.py>`" in line
