"""Run the hostile suite (tests/test_hostile_*.py) and write its figures to docs/reliability.json.

    python scripts/reliability.py            # writes docs/reliability.json
    python scripts/reliability.py --out F    # elsewhere

Each hostile test adds what it tried to a tally file (``DLNKIT_RELIABILITY_TALLY``): inputs
tried, clear errors (exit 2/3 or DlnkitInputError, one line), runs that worked, tracebacks,
wrong results, files lost, faults injected and survived. This script sums the sections, adds
pytest's own pass/fail counts and wall time, and writes the JSON the README's "Reliability"
section quotes. It exits non-zero when any test failed or any traceback / wrong result / lost
file was counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = (
    "inputs_tried",
    "clear_errors",
    "worked",
    "tracebacks",
    "wrong_results",
    "files_lost",
    "faults_injected",
    "faults_survived",
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "reliability.json"))
    p.add_argument("--examples", type=int, default=None, help="Hypothesis examples per fuzz test (default: the tests')")
    p.add_argument(
        "--update-readme", action="store_true", help="also rewrite the figures of the README's Reliability table"
    )
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tally = Path(tmp) / "tally.json"
        env = {**os.environ, "DLNKIT_RELIABILITY_TALLY": str(tally), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        if args.examples:
            env["DLNKIT_HOSTILE_EXAMPLES"] = str(args.examples)
        tests = sorted(str(t.relative_to(ROOT)) for t in (ROOT / "tests").glob("test_hostile_*.py"))
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        sections = json.loads(tally.read_text()) if tally.exists() else {}
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|error|errors|skipped)", last)}
    totals = {k: sum(sec.get(k, 0) for sec in sections.values()) for k in KEYS}
    doc = {
        "what": "figures of dlnkit's hostile test suite (tests/test_hostile_*.py), written by scripts/reliability.py",
        "generated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "pytest": {
            "passed": counts.get("passed", 0),
            "failed": counts.get("failed", 0),
            "errors": counts.get("error", 0) + counts.get("errors", 0),
            "skipped": counts.get("skipped", 0),
            "seconds": round(wall, 1),
            "files": tests,
        },
        "totals": totals,
        "sections": sections,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    os.replace(tmp_out, out)
    print(json.dumps({"pytest": doc["pytest"], "totals": totals}, indent=1))
    if args.update_readme:
        update_readme(ROOT / "README.md", totals)
    bad = proc.returncode != 0 or totals["tracebacks"] or totals["wrong_results"] or totals["files_lost"]
    if proc.returncode != 0:
        print(proc.stdout[-4000:], file=sys.stderr)
    return 1 if bad else 0


#: README table labels (their beginnings) -> totals keys
README_ROWS = {
    "inputs tried": "inputs_tried",
    "clear errors": "clear_errors",
    "inputs that worked": "worked",
    "tracebacks": "tracebacks",
    "wrong results": "wrong_results",
    "files lost": "files_lost",
    "faults injected": "faults_injected",
    "faults survived": "faults_survived",
}


def update_readme(path: Path, totals: dict) -> None:
    """Rewrite the counts of the Reliability table (rows ``| label | N |``) from ``totals``."""
    head, sep, rest = path.read_text().partition("## Reliability")
    if not sep:
        raise SystemExit("README.md has no '## Reliability' section")
    section, nxt, tail = rest.partition("\n## ")
    lines = []
    for line in section.splitlines():
        m = re.match(r"\| ([^|]+?) \| (\d+) \|$", line.strip())
        key = next((v for k, v in README_ROWS.items() if m and m.group(1).startswith(k)), None)
        lines.append(f"| {m.group(1)} | {totals[key]} |" if key else line)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(head + sep + "\n".join(lines) + ("\n" if section.endswith("\n") else "") + nxt + tail)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
