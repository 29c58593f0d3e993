"""scripts/hostile_before_after.py: how it tells a test that failed on old code from one whose API
did not exist yet, how it maps package folders and moved modules, and that every class of issue
22 has tests in the hostile suite. (The script itself runs the suite twice: far too slow here.)"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("hostile_before_after", ROOT / "scripts" / "hostile_before_after.py")
assert spec and spec.loader
ba = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ba)

NODE = "tests/test_hostile_x.py::test_y"


def report(**kw):
    return {"outcome": "failed", "when": "call", "exc_type": None, "exc_text": None, "text": "", **kw}


@pytest.mark.parametrize(
    "before,category",
    [
        ({"outcome": "passed"}, "passes both"),
        (report(exc_type="AssertionError", text="E   assert 70 == 2"), "fails before"),
        (report(exc_type="ModuleNotFoundError", exc_text="No module named 'dlnkit.records'"), "new API"),
        (report(exc_type="ImportError", exc_text="cannot import name 'f' from 'dlnkit.x' (/a/x.py)"), "new API"),
        (report(exc_type="AttributeError", exc_text="module 'dlnkit.api' has no attribute 'g'"), "new API"),
        (report(exc_type="ModuleNotFoundError", exc_text="No module named 'scipy'"), "fails before"),
        # an AttributeError inside dlnkit's own code is a failure of the old code, not missing API
        (report(exc_type="AttributeError", exc_text="'NoneType' object has no attribute 'shape'"), "fails before"),
        (report(outcome="error", when="setup", exc_type="TypeError", exc_text="bad fixture"), "fails before"),
        ({"outcome": "hang", "when": "call"}, "fails before"),
        (report(exc_type="TestTimedOut", exc_text="still running after 180 s"), "fails before"),
        # the same hang, when the child process the test waits on died of a keyword the old API lacked
        (
            report(
                exc_type="TestTimedOut",
                text="Captured stderr call\nTypeError: dln_hessian_assembled() got an unexpected keyword argument "
                "'check_memory'",
            ),
            "new API",
        ),
    ],
)
def test_verdict_separates_new_api_from_failures(before, category):
    got, reason = ba.verdict(NODE, {NODE: before}, {NODE: {"outcome": "passed"}})
    assert got == category
    if category == "new API":
        assert "did not exist" in reason


def test_a_collection_error_decides_for_every_test_of_its_file():
    after = {NODE: {"outcome": "passed"}}
    missing = {
        "__collect__": {
            "errors": [
                {
                    "nodeid": "tests/test_hostile_x.py",
                    "text": ("E   ModuleNotFoundError: No module named 'dlnkit.engines'"),
                }
            ]
        }
    }
    broken = {"__collect__": {"errors": [{"nodeid": "tests/test_hostile_x.py", "text": "E   SyntaxError: bad"}]}}
    assert ba.verdict(NODE, missing, after) == ("new API", "collection: dlnkit.engines did not exist")
    assert ba.verdict(NODE, broken, after)[0] == "fails before"


def test_a_test_that_fails_after_is_never_counted_as_evidence():
    got, _ = ba.verdict(NODE, {NODE: report(exc_type="AssertionError")}, {NODE: report(exc_type="AssertionError")})
    assert got == "fails after"


def test_module_names_follow_the_package_dir_map():
    dirs = {"dlnkit": "dlnkit", "dlnkit.theory": "theory", "dlnkit.claims": "dlnkit/claims"}
    assert ba.module_name("theory/dln.py", dirs) == "dlnkit.theory.dln"
    assert ba.module_name("dlnkit/claims/__init__.py", dirs) == "dlnkit.claims"
    assert ba.module_name("dlnkit/engines/sweep.py", dirs) == "dlnkit.engines.sweep"
    assert ba.module_name("scripts/x.py", dirs) is None
    assert ba.module_name("dlnkit/py.typed", dirs) is None


def test_package_layout_and_moved_modules_import_from_the_tree_alone(tmp_path):
    """A tree laid out by the script imports its own modules (never an installed dlnkit's), and a
    module that moved is importable under its new name, in a fresh process."""
    tree = tmp_path / "tree"
    (tree / "pkgx").mkdir(parents=True)
    (tree / "pkgx" / "__init__.py").write_text("")
    (tree / "pkgx" / "old.py").write_text("VALUE = 7\n")
    (tree / "theo").mkdir()
    (tree / "theo" / "__init__.py").write_text("WHO = 'theo'\n")
    (tree / "pyproject.toml").write_text('[tool.setuptools]\npackage-dir = {"pkgx" = "pkgx", "pkgx.theory" = "theo"}\n')
    ba.lay_out_packages(tree)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(ba.SITECUSTOMIZE.format(aliases={"pkgx.engines.new": "pkgx.old"}))
    code = "import pkgx.theory, pkgx.engines.new as n, dlnkit; print(pkgx.theory.WHO, n.VALUE, dlnkit.__file__)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(tree)])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    # dlnkit is not in this tree: with the editable install's finder removed, it is not found at all
    assert "No module named 'dlnkit'" in out.stderr, out.stderr
    code = "import pkgx.theory, pkgx.engines.new as n; print(pkgx.theory.WHO, n.VALUE)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["theo", "7"], out.stderr


def hostile_test_ids() -> list[str]:
    ids = []
    for f in sorted((ROOT / "tests").glob("test_hostile_*.py")):
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                ids.append(f"tests/{f.name}::{node.name}")
    return ids


def test_every_class_of_issue_22_has_tests_in_the_hostile_suite():
    found = {ba.class_of(nid) for nid in hostile_test_ids()}
    assert set(ba.CLASSES) <= found, sorted(set(ba.CLASSES) - found)


def test_update_keeps_the_rows_of_files_not_run_again(monkeypatch):
    """``--update`` reads the rows back from the report: the round trip loses nothing."""
    monkeypatch.setattr(ba, "git", lambda *a, **k: "2026-01-01T00:00:00+00:00")
    rows = [
        {"test": "tests/test_hostile_a.py::test_x", "class": "exit 70", "category": "fails before", "reason": "E"},
        {"test": "tests/test_hostile_b.py::test_y", "class": ba.OTHER, "category": "new API", "reason": "dlnkit.q"},
        {"test": "tests/test_hostile_c.py::test_z", "class": "memory guards", "category": "passes both", "reason": ""},
    ]
    rows = [{**r, "after": "abc1234"} for r in rows]
    doc = ba.build_report("5f99fd4", "abc1234", rows, [], None)
    key = lambda r: r["test"]  # noqa: E731
    assert sorted(ba.rows_of(doc), key=key) == sorted(rows, key=key)
    assert doc["summary"]["totals"]["fails before"] == 1 and doc["summary"]["totals"]["tests"] == 3


def test_readme_before_after_figures_are_the_reports():
    """The README's before/after sentence quotes docs/reliability-before-after.json."""
    import json
    import re

    doc = json.loads((ROOT / "docs" / "reliability-before-after.json").read_text())
    totals = doc["summary"]["totals"]
    section = (ROOT / "README.md").read_text().split("## Reliability", 1)[1].split("\n## ", 1)[0]
    m = re.search(
        r"Of its (\d+) tests, (\d+) fail on `(\w+)` and pass today, (\d+) are new API and (\d+) pass on both", section
    )
    assert m, "the README's Reliability section has no before/after sentence"
    tests, fails, commit, new_api, both = m.groups()
    assert (int(tests), int(fails), int(new_api), int(both)) == (
        totals["tests"],
        totals["fails before"],
        totals["new API"],
        totals["passes both"],
    )
    assert commit == doc["before"]["commit"]
    assert totals["fails after"] == 0
    # every class of issue 22 has evidence: at least one test that fails before and passes after
    for name in ba.CLASSES:
        if name != "flaky Ctrl-C":  # a fault of the test: its evidence is the old test against the new
            assert doc["summary"]["classes"][name].get("fails before", 0) > 0, name
    flaky = doc["summary"]["flaky Ctrl-C check"]
    assert flaky and not flaky["old test"]["passed"] and flaky["new test"]["passed"]
