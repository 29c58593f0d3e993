"""Every teaching notebook in proofs_notebooks/ executes without error (its cells assert its key
numbers). Parametrized by file, so a failure names the notebook. No duration is asserted (speed
belongs in benchmarks/, and CI runs on a loaded machine); a cell timeout only guards against a hang.

Skipped cleanly when the dev extra (jupytext, nbclient, nbformat, nbconvert, ipykernel) is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dlnkit.engines.notebooks import notebook_sources

pytest.importorskip("jupytext")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

SOURCE_DIR = Path(__file__).resolve().parent.parent / "proofs_notebooks"
#: seconds one cell may run before it counts as hung (a hang guard, not a speed target: the notebooks
#: take 10-60 s each on a quiet 2-core machine, 150 s has been seen under load)
CELL_HANG_TIMEOUT = 900
SOURCES = notebook_sources(SOURCE_DIR)


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes(source, tmp_path):
    from nbclient.exceptions import CellExecutionError

    from dlnkit.engines.notebooks import execute_notebook, read_notebook

    nb = read_notebook(source)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    assert n_code > 0, f"{source.name} has no code cells"
    # a notebook that runs but checks nothing is not done
    assert any("assert " in c.source for c in nb.cells if c.cell_type == "code"), f"{source.name} asserts nothing"
    try:
        execute_notebook(nb, cwd=source.parent, timeout=CELL_HANG_TIMEOUT)
    except CellExecutionError as exc:  # show the failing cell and error, not nbclient's internals
        pytest.fail(f"{source.name}: {exc}", pytrace=False)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert not errors
    # CI keeps the executed notebook for the documentation build (docs/building.md), which then
    # renders it instead of executing it a second time
    import os

    from dlnkit.engines.notebooks import EXECUTED_CACHE_ENV, save_executed_copy

    if os.environ.get(EXECUTED_CACHE_ENV):
        save_executed_copy(nb, source, os.environ[EXECUTED_CACHE_ENV])


def test_sources_are_percent_format_and_roundtrip():
    """Each source is a jupytext percent-format script whose cells survive a round trip."""
    import jupytext

    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        assert "# %%" in text, f"{source.name} is not in percent format"
        nb = jupytext.reads(text, fmt="py:percent")
        again = jupytext.reads(jupytext.writes(nb, fmt="py:percent"), fmt="py:percent")
        assert [c.source for c in again.cells] == [c.source for c in nb.cells]
        assert any(c.cell_type == "markdown" for c in nb.cells), f"{source.name} has no prose"


def test_render_command_writes_ipynb_and_html(tmp_path, monkeypatch):
    """``dlnkit notebooks`` renders a (tiny) notebook folder to executed .ipynb and HTML."""
    import nbformat

    from dlnkit.cli import main

    src = tmp_path / "src"
    src.mkdir()
    (src / "01_tiny.py").write_text(
        "# %% [markdown]\n# # Tiny\n\n# %%\nx = 6 * 7\nassert x == 42\nprint(x)\n", encoding="utf-8"
    )
    (src / "02_broken.py").write_text("# %%\nassert 1 == 2, 'broken on purpose'\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["notebooks", "--out", str(out), "--src", str(src), "-q", "tiny"]) == 0
    nb = nbformat.read(str(out / "01_tiny.ipynb"), as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("42" in o.get("text", "") for o in outputs)
    assert "Tiny" in (out / "01_tiny.html").read_text(encoding="utf-8")
    # a failing cell: exit status 1 and no notebook written for it
    assert main(["notebooks", "--out", str(out), "--src", str(src), "-q", "02"]) == 1
    assert not (out / "02_broken.ipynb").exists()
    # an unknown name is a clean input error (exit 2)
    assert main(["notebooks", "--out", str(out), "--src", str(src), "nope"]) == 2
