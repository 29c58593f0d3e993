"""The README's reliability figures are the ones scripts/reliability.py wrote to docs/reliability.json."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = {
    "inputs tried": "inputs_tried",
    "clear errors": "clear_errors",
    "inputs that worked": "worked",
    "tracebacks": "tracebacks",
    "wrong results": "wrong_results",
    "files lost": "files_lost",
    "faults injected": "faults_injected",
    "faults survived": "faults_survived",
}


def test_readme_reliability_table_matches_the_suite_output():
    totals = json.loads((ROOT / "docs" / "reliability.json").read_text())["totals"]
    section = (ROOT / "README.md").read_text().split("## Reliability", 1)[1].split("\n## ", 1)[0]
    seen = {}
    for line in section.splitlines():
        m = re.match(r"\| ([^|]+?) \| (\d+) \|$", line.strip())
        if m:
            label = next((k for k in ROWS if m.group(1).startswith(k)), None)
            if label:
                seen[ROWS[label]] = int(m.group(2))
    assert seen == {k: totals[k] for k in ROWS.values()}
    assert totals["tracebacks"] == 0 and totals["wrong_results"] == 0 and totals["files_lost"] == 0
