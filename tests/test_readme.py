"""The README's Python example runs as written and its printed numbers mean what the comments say."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_as_written(tmp_path):
    text = README.read_text()
    block = re.search(r"## A first look, in Python.*?```python\n(.*?)```", text, re.S).group(1)
    script = tmp_path / "example.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert float(first) < 1e-9  # eigenvalues match the SymPy spectrum
    ratio, symbolic = second.split()
    assert abs(float(ratio) - 3) < 1e-9 and symbolic == "L"


def test_readme_opens_with_the_two_commands_ci_runs():
    text = README.read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert blocks[0].strip() == "bash scripts/install.sh && dlnkit verify"
    test_cmd = blocks[1].strip()
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_cmd in ci
