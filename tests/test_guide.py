"""docs/own_theorem.md, tested as written: its Python block, saved as a user's file, appears in
the ``dlnkit verify`` table with PASS (in a fresh process, as a new user would run it)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "own_theorem.md"


def guide_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert blocks, "the guide has no python block"
    return blocks[0]


def test_guide_is_at_most_30_lines():
    assert len(guide_code().strip().splitlines()) <= 30


def test_guide_claim_appears_in_the_verify_table(tmp_path):
    f = tmp_path / "my_claims.py"
    f.write_text(guide_code())
    proc = subprocess.run(
        [sys.executable, "-m", "dlnkit", "verify", "--from", str(f), "--examples", "3", "-q", "-v"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("my-top-eigenvalue")]
    assert len(rows) == 3 and all(line.rstrip().endswith("PASS") for line in rows), proc.stdout
