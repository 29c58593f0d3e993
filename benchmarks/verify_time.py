"""``python -m benchmarks.verify_time``: wall time of ``dlnkit verify`` (default and ``--full``) and of
``dlnkit reproduce 2602.00545``, each in its own subprocess, written as JSON.

Cases (each a command line; ``--cases`` picks some):

* ``verify-default``: ``dlnkit verify -q`` (every claim, default configurations; the README's first
  command, which must finish in about a minute on the project's 2-core machine);
* ``verify-2602-default``: the arXiv:2602.00545 finite-run claims with their default (quick) configs;
* ``verify-2602-full``: the same claims with ``--full`` (paper scale: L = 2..7, float64 and float32);
* ``reproduce``: ``dlnkit reproduce 2602.00545`` (linear + tanh, L = 2..7, 10,000 steps).

Ratios: every case against the named baseline ``verify-2602-default`` measured in the same run
(so a loaded machine slows numerator and denominator alike). The machine's load average at the
start and end is recorded: on a shared 2-core machine it changes wall times by integer factors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.records.outputs import atomic_write_text, check_output_file

HERE = Path(__file__).resolve().parent
PAPER_CLAIMS = ["B2-limit", "B2-paper", "B2-paper-decay", "B3-paper"]
BASELINE = "verify-2602-default"


def commands(tmp: str, rows: Path) -> dict[str, list[str]]:
    """The command of each case; verify cases also write their rows to ``rows``-<case>.json."""
    dl = [sys.executable, "-m", "dlnkit"]
    js = lambda case: ["--json", f"{rows}-{case}.json"]
    return {
        "verify-2602-default": dl + ["verify", "-q", *PAPER_CLAIMS, *js("verify-2602-default")],
        "verify-default": dl + ["verify", "-q", *js("verify-default")],
        "verify-2602-full": dl + ["verify", "-q", "--full", *PAPER_CLAIMS, *js("verify-2602-full")],
        "reproduce": dl + ["reproduce", "2602.00545", "-q", "--out", os.path.join(tmp, "reproduce")],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.verify_time", description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="*", default=None, help="cases to run (default: all, baseline first)")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/verify-time-<UTC>.json)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per case")
    args = p.parse_args(argv)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else HERE / "results" / f"verify-time-{stamp}.json"
    try:  # claimed before the work: an existing file is never replaced
        out = check_output_file(out, what="--out")
    except DlnkitInputError as exc:
        print(f"benchmarks.verify_time: {exc}", file=sys.stderr)
        return 2
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS", "1"),
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cmds = commands(tmp, out.with_suffix(""))
        names = args.cases or list(cmds)
        unknown = [n for n in names if n not in cmds]
        if unknown:
            print(f"benchmarks.verify_time: unknown case(s) {unknown}; known: {list(cmds)}", file=sys.stderr)
            return 2
        for name in names:
            load0 = os.getloadavg()
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(cmds[name], capture_output=True, text=True, timeout=args.timeout, env=env)
                status, rc, tail = "ok", proc.returncode, (proc.stdout + proc.stderr)[-3000:]
            except subprocess.TimeoutExpired:
                status, rc, tail = "timeout", None, ""
            wall = time.perf_counter() - t0
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            # CPU seconds of the (single-threaded) subprocess: about its wall time on an idle machine
            results[name] = {
                "command": " ".join(cmds[name][2:]),
                "status": status,
                "returncode": rc,
                "wall_s": wall,
                "cpu_s": cpu,
                "loadavg_start": load0,
                "loadavg_end": os.getloadavg(),
                "output_tail": tail,
            }
            print(f"{name:<22} {status:<8} rc={rc} {wall:8.1f} s wall {cpu:8.1f} s CPU", flush=True)
    base = results.get(BASELINE, {}).get("wall_s")
    for r in results.values():
        r["ratio_vs_baseline"] = r["wall_s"] / base if base else None
        cbase = results.get(BASELINE, {}).get("cpu_s")
        r["cpu_ratio_vs_baseline"] = r["cpu_s"] / cbase if cbase else None
    record = {
        "machine": {
            "host": platform.node(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "threads": env["OMP_NUM_THREADS"],
        },
        "started_utc": stamp,
        "baseline": BASELINE,
        "results": results,
    }
    atomic_write_text(out, json.dumps(record, indent=1))  # a fresh temporary, fsync, rename
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
