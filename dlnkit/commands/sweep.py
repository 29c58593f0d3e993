"""``dlnkit sweep CONFIG``: a grid or Hypothesis-drawn set of (claim, configuration) cases,
resumable, on a local process pool (default) or Dask. See :mod:`dlnkit.engines.sweep` for the file format."""

from __future__ import annotations

import sys
from pathlib import Path

from dlnkit.commands._common import add_device_arg, positive_int
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def run(args) -> int:
    from dlnkit.claims import ClaimResult, get_claim
    from dlnkit.engines.sweep import expand_cases, load_sweep_config, run_sweep
    from dlnkit.records.report import format_table

    cfg = load_sweep_config(args.config)
    claims = {cid: get_claim(cid) for cid in cfg["claims"]}  # unknown ids fail here, listing the known ones
    cases = expand_cases(cfg, claims)
    if not cases:  # a run that checks nothing must not look like a success
        raise DlnkitInputError(f"{args.config} describes no cases (empty grid/configs and no draw examples)")
    out = Path(args.out) if args.out else Path("sweeps").absolute() / Path(args.config).stem
    device = args.device if args.device != "auto" or "device" not in cfg else cfg["device"]
    if not args.quiet:
        print(f"sweep: {len(cases)} cases -> {out} (executor {args.executor})", file=sys.stderr)
    summary = run_sweep(
        cases,
        out,
        executor=args.executor,
        workers=args.workers,
        device=device,
        scheduler=args.scheduler,
        rerun=args.rerun,
        claims=claims,
        retry_errors=args.retry_errors,
        force=args.force,
        progress=sys.stderr.isatty() and not args.quiet,
    )
    rows = []
    for rec in summary.results:
        r = dict(rec["result"])
        r.pop("traceback", None)
        rows.append(ClaimResult(**{k: r.get(k) for k in ClaimResult.__dataclass_fields__ if k in r}))
    if not args.quiet:
        print(format_table(rows))
    print(
        f"sweep: {summary.total} cases, {summary.skipped} already done, {summary.ran} run; "
        f"{summary.passed} passed, {summary.failed} failed, {summary.errors} errors; results in {out}"
    )
    for rec in summary.results:
        if rec["result"].get("status") == "ERROR":
            print(f"  ERROR {rec['claim_id']} {rec['config']}: {rec['result'].get('message')}", file=sys.stderr)
    return 0 if summary.failed == 0 and summary.errors == 0 else 1


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a resumable grid / drawn sweep of claim checks (process pool or Dask)")
    p.add_argument("config", help="sweep file (.json, or .toml on Python >= 3.11)")
    p.add_argument(
        "--out", metavar="DIR", help="results folder (default: sweeps/<config name>); finished cases are skipped"
    )
    p.add_argument(
        "--executor",
        choices=("process", "dask", "serial"),
        default="process",
        help="process pool (default), Dask (LocalCluster or --scheduler), or serial in this process",
    )
    p.add_argument(
        "--workers", type=positive_int, default=None, help="workers (default: CPU count, at most the case count)"
    )
    p.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler (tcp://host:8786) instead of a LocalCluster"
    )
    p.add_argument(
        "--force", action="store_true", help="replace a summary.json in --out that is not a sweep's own summary"
    )
    p.add_argument("--rerun", action="store_true", help="run every case again, ignoring finished ones")
    p.add_argument(
        "--retry-errors",
        action="store_true",
        help="run ERROR cases again (e.g. those whose worker was killed), keep PASS/FAIL ones",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no table, only the summary line")
    add_device_arg(p)
    p.set_defaults(func=run)
