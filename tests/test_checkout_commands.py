"""`dlnkit bench` is a source-checkout command that says so when there is no checkout;
`dlnkit notebooks` says clearly when its source folder is missing; neither edits sys.path."""

import argparse
from pathlib import Path

import pytest

from dlnkit.commands import bench
from dlnkit.engines.notebooks import notebook_sources
from dlnkit.numerics.validation import DlnkitInputError

ROOT = Path(__file__).resolve().parent.parent


def test_bench_finds_this_checkout():
    assert bench.checkout_root() == ROOT


def test_bench_refuses_clearly_without_a_checkout(monkeypatch):
    monkeypatch.setattr(bench, "checkout_root", lambda: None)
    with pytest.raises(DlnkitInputError, match="source-checkout command"):
        bench.run(argparse.Namespace(bench_args=["--help"]))


def test_notebooks_refuse_clearly_without_sources(tmp_path):
    with pytest.raises(DlnkitInputError, match="does not exist"):
        notebook_sources(tmp_path / "missing")


@pytest.mark.parametrize(
    "module", ["dlnkit/commands/bench.py", "dlnkit/commands/notebooks.py", "dlnkit/engines/notebooks.py"]
)
def test_no_sys_path_edits(module):
    code = (ROOT / module).read_text()
    assert "sys.path.insert" not in code and "sys.path.append" not in code and "sys.path[" not in code
