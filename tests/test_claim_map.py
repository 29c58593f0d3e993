"""The claim map (``dlnkit list -v``): generated from the code, so every field is checked against
the files it points to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dlnkit.claims import all_claims, get_claim
from dlnkit.records.claim_map import claim_map, claim_map_entry, docs_anchor

ROOT = Path(__file__).resolve().parent.parent


def test_every_built_in_claim_is_mapped_to_real_files():
    builtins = [c for c in all_claims().values() if c.origin is None]
    anchors_text = (ROOT / "docs" / "claims.md").read_text()
    for e in claim_map(builtins):
        claim = get_claim(e.claim_id)
        assert e.module == type(claim).__module__ and e.module.startswith("dlnkit.claims.")
        if e.docs_anchor:  # a claim without a section shows "(none)" (the census sentences today)
            assert f'<a id="{e.docs_anchor.partition("#")[2]}"></a>' in anchors_text
        assert e.theory or e.numerics, f"{e.claim_id} uses no theory or numerics function?"
        for f in e.tests + e.notebooks:
            assert e.claim_id in (ROOT / f).read_text()


def test_b1_map_names_its_derivation_measurement_and_tests():
    e = claim_map_entry(get_claim("B1"))
    assert "dlnkit.theory.dln_spectrum.balanced_minimum_spectrum" in e.theory
    assert "dlnkit.numerics.dln_hessian_fast.dln_hessian_assembled" in e.numerics
    assert "tests/test_exact.py" in e.tests and e.docs_anchor == "docs/claims.md#b1"
    assert "proofs_notebooks/02_depth_not_data.py" in e.notebooks
    # ids are whole words: B1's tests are not B1-ratio's by accident
    ratio = claim_map_entry(get_claim("B1-ratio"))
    assert set(ratio.tests) != set(e.tests)


def test_the_papers_and_classic_families_have_docs_sections():
    for cid in ("B0", "B1-ratio", "B2-paper-decay", "A2-dln-closed-form", "A5-zeta", "C3-mode-ODE", "C5-top"):
        assert claim_map_entry(get_claim(cid)).docs_anchor.startswith("docs/claims.md#")


def test_docs_anchor_falls_back_to_the_family():
    anchors = {"b1", "b2-paper", "a2", "a-zoo"}
    assert docs_anchor("B1-ratio", anchors) == "b1"
    assert docs_anchor("B2-paper-decay", anchors) == "b2-paper"
    assert docs_anchor("A-zoo-decomposition", anchors) == "a-zoo"
    assert docs_anchor("Z9", anchors) == ""


def test_list_verbose_prints_the_map():
    out = subprocess.run(
        [sys.executable, "-m", "dlnkit", "list", "-v"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "module: dlnkit.claims.depth" in out.stdout and "docs: docs/claims.md#b1" in out.stdout
    assert out.stdout.count("notebooks: ") == len([c for c in all_claims().values() if c.origin is None])
