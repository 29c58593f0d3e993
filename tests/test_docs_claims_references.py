"""The project stands alone: claims are cited from docs/claims.md (whose anchors exist), never from a
specification file outside the repository."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLAIMS_DOC = ROOT / "docs" / "claims.md"
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".json", ".txt", ".cfg", ".ini", ".rst"}


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [ROOT / p for p in out.splitlines() if Path(p).suffix in TEXT_SUFFIXES and (ROOT / p).is_file()]


def _anchors() -> set[str]:
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', CLAIMS_DOC.read_text(encoding="utf-8")))


def test_claims_doc_has_the_stable_anchors_of_every_family():
    want = {
        "notation",
        "conventions",
        "b0",
        "b1",
        "b1-breaks",
        "b2",
        "b2-limit",
        "b2-paper",
        "paper-setup-2602",
        "b3",
        "a-setup",
        "a1",
        "a2",
        "a3",
        "a4",
        "a5",
        "a6",
        "a-zoo",
        "a-dln",
        "c1",
        "c2",
        "c3",
        "c4",
        "c5",
        "claim-ids",
    }
    assert want <= _anchors()


def test_every_reference_to_the_claims_doc_names_an_existing_anchor():
    anchors = _anchors()
    missing = []
    for path in _tracked_text_files():
        for anchor in re.findall(r"claims\.md#([A-Za-z0-9-]+)", path.read_text(encoding="utf-8", errors="replace")):
            if anchor not in anchors:
                missing.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert not missing, missing


def test_no_file_cites_a_specification_outside_the_repository():
    pattern = re.compile(r"\bSPEC(\.md\b|'s\b| [ABC]\d| \(|\))")
    hits = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in _tracked_text_files()
        if p.name != Path(__file__).name
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, hits
