"""The notebook runner stops its kernels, and the package's imports publish no tqdm warning in one."""

import os
import time

import pytest

pytest.importorskip("ipykernel")
nbformat = pytest.importorskip("nbformat")

from dlnkit.engines.notebooks import execute_notebook  # noqa: E402


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_no_kernel_is_left_after_a_notebook_and_no_tqdm_warning(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nprint(os.getpid())"),
        # what notebooks 1, 4 and 6 import: it used to print tqdm's IProgress warning with a path
        nbformat.v4.new_code_cell(
            "import dlnkit.numerics.training\nimport dlnkit.engines.sweep\nimport dlnkit.engines.counterexample"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    execute_notebook(nb, cwd=tmp_path, timeout=120)
    pid = int(nb.cells[0].outputs[0]["text"].strip())
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(pid), f"kernel {pid} is still running after execute_notebook returned"
    texts = [o.get("text", "") for c in nb.cells for o in c.outputs]
    assert not any("Tqdm" in t or "IProgress" in t for t in texts), texts


def test_missing_nbconvert_templates_are_the_machines_state_not_a_bug(monkeypatch, tmp_path):
    """An installation whose nbconvert lacks its HTML templates (seen in a nested venv: 'No template
    sub-directory with name 'lab'') was exit 70 "a bug in dlnkit"; it is one line and exit 3."""
    pytest.importorskip("nbconvert")
    import nbconvert

    from dlnkit.engines import notebooks
    from dlnkit.numerics.validation import DlnkitComputationError

    class NoTemplates:
        def from_notebook_node(self, nb):
            raise ValueError("No template sub-directory with name 'lab' found in the following paths: /x")

    monkeypatch.setattr(nbconvert, "HTMLExporter", NoTemplates)
    with pytest.raises(DlnkitComputationError, match="template") as info:
        notebooks.write_html(nbformat.v4.new_notebook(), tmp_path / "page.html")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "page.html").exists()
