"""``dlnkit verify``: predicted vs measured for every claim.

By default one line per claim (rows, passed rows, worst error against its bound, a one-word verdict),
the rows that did not pass in full below, a summary line last, within 100 columns; ``-v`` prints every
row. Colour only on a terminal (never with ``NO_COLOR``).

Exit status: 0 when every exact claim passes, 1 when an exact claim fails inside its assumptions
(with ``--strict``, also when an approximate claim misses its stated band), 2 on bad input.
Approximate claims (no theorem behind them, e.g. B3) are always shown, marked "(approx)".
"""

from __future__ import annotations

import sys

from tqdm import tqdm

from dlnkit.commands._common import add_device_arg, nonnegative_int, seed_arg
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def run(args) -> int:
    from dlnkit.claims import all_claims, draw_configs, get_claim, load_claims_from_file
    from dlnkit.claims.base import check_draw_size
    from dlnkit.claims.boundary import user_code
    from dlnkit.records.outputs import check_output_file

    check_draw_size(args.examples)  # per claim, before any claim runs (the draw would only make it an ERROR row)
    if args.json:  # before any work: a bad path must not cost the results
        args.json = check_output_file(args.json, overwrite=args.force, what="--json")
    loaded = [c for path in (args.from_files or []) for c in load_claims_from_file(path)]
    if args.claims:
        claims = [get_claim(c) for c in args.claims]
    else:  # with --from and no ids: the file's claims; otherwise every claim
        claims = loaded or list(all_claims().values())
    if args.exact:
        from dlnkit.engines.exact_mode import exact_results

        results, notes = [], []
        for n_done, claim in enumerate(claims):  # a claim whose exact route raises is an ERROR row
            try:
                rows, claim_notes = exact_results(
                    [claim], examples=args.examples, seed=args.seed, defaults=not args.no_defaults
                )
            except KeyboardInterrupt:
                return _finish(results, args, interrupted=len(claims) - n_done)
            except BaseException as exc:  # noqa: BLE001 - a user's claim (also sys.exit): recorded, not raised
                rows, claim_notes = [_error_row(claim, exc, "exact route", args)], []
            results += rows
            notes += claim_notes
        for note in notes:
            print(f"dlnkit verify --exact: {note}", file=sys.stderr)
        if not results:
            raise DlnkitInputError(
                "verify --exact checked nothing: no claim here has an exact route with a "
                "configuration small enough (see the notes above)"
            )
        return _finish(results, args)
    jobs, results = [], []
    full = getattr(args, "full", False)
    for claim in claims:
        try:
            with user_code(f"claim {claim.id}", source=claim.origin):  # its configurations are its own code
                configs = [] if args.no_defaults else list(claim.full_configs() if full else claim.default_configs())
                # a slow claim (it trains a network per configuration) gets drawn examples only with --full
                drawn = args.examples if full or not claim.slow else 0
                configs += draw_configs(claim.config_strategy(), drawn, seed=args.seed)
        except KeyboardInterrupt:
            return _finish(results, args, interrupted=len(claims))
        except BaseException as exc:  # noqa: BLE001 - its configurations could not be made: an ERROR row
            results.append(_error_row(claim, exc, "configurations", args))
            continue
        jobs += [(claim, cfg) for cfg in configs]
    if not jobs and not results:
        raise DlnkitInputError("nothing to check: no configurations (drop --no-defaults or give --examples N)")
    try:  # Ctrl-C (or a claim raising KeyboardInterrupt) stops the run; the finished rows are kept
        for claim, cfg in tqdm(jobs, desc="verify", disable=not sys.stderr.isatty() or args.quiet, leave=False):
            results.append(claim.check(cfg, device=args.device, seed=args.seed))
    except KeyboardInterrupt:
        return _finish(results, args, interrupted=len(jobs) - len(results))
    return _finish(results, args)


def _error_row(claim, exc: BaseException, stage: str, args):
    from dlnkit.claims.base import ClaimResult

    return ClaimResult.error_row(
        claim.id,
        {},
        f"{stage}: {type(exc).__name__}: {' '.join(str(exc).split())}",
        kind=getattr(claim, "kind", ""),
        device=str(args.device),
        seed=args.seed,
    )


def _finish(results, args, interrupted: int = 0) -> int:
    """Print the table and write ``--json``; ``interrupted`` (the number of checks not run after
    Ctrl-C) marks the record ``"interrupted": true`` and makes the exit status 130. A Ctrl-C
    meanwhile is held until the record is written (:func:`dlnkit.records.outputs.finishing`)."""
    from dlnkit.records.stop_signals import finishing

    with finishing("the finished rows"):
        return _write_results(results, args, interrupted)


def _write_results(results, args, interrupted: int) -> int:
    from dlnkit.records.report import format_summary, format_table, use_colour, write_json_atomic

    if getattr(args, "verbose", False):  # every row, as one table
        print(format_table(results))
    else:  # one line per claim, the rows that did not pass in full, a summary line last
        print(format_summary(results, strict=args.strict, colour=use_colour(sys.stdout)))
    if args.json:
        from dlnkit.claims import all_claims
        from dlnkit.records.run_record import claims_metadata, run_environment

        registry = all_claims()
        ids = dict.fromkeys(r.claim_id for r in results)
        environment = run_environment(
            seed=args.seed,
            device=args.device,
            examples=args.examples,
            full=getattr(args, "full", False),
            exact=args.exact,
            strict=args.strict,
        )
        write_json_atomic(
            args.json,
            {
                "environment": environment,
                "claims": claims_metadata(registry[i] for i in ids if i in registry),
                "results": [r.to_json() for r in results],
                "interrupted": bool(interrupted),
                "not_run": int(interrupted),
            },
        )
    if interrupted:
        print(
            f"dlnkit verify: interrupted (Ctrl-C or a stop signal): {len(results)} row(s) kept, "
            f"{interrupted} check(s) not run" + (f"; written to {args.json}" if args.json else ""),
            file=sys.stderr,
        )
        return 130
    failed = [r for r in results if not r.passed and (args.strict or r.kind == "exact" or r.status == "ERROR")]
    errors = [r for r in results if r.status == "ERROR"]
    if errors:
        print(
            f"dlnkit verify: {len(errors)} ERROR row(s) (a claim raised; its message is in the table/JSON)",
            file=sys.stderr,
        )
    approx_missed = [r for r in results if not r.passed and r.kind != "exact"]
    if approx_missed and not args.strict:
        print(
            f"note: {len(approx_missed)} approximate row(s) outside their stated band "
            "(reported, not counted in the exit status; use --strict to count them)",
            file=sys.stderr,
        )
    return 1 if failed else 0


def register(sub) -> None:
    p = sub.add_parser("verify", help="check claims: predicted vs measured, PASS/FAIL")
    p.add_argument("claims", nargs="*", help="claim ids (default: all; see `dlnkit list`)")
    p.add_argument(
        "--examples", type=nonnegative_int, default=3, help="configurations drawn per claim besides its defaults"
    )
    p.add_argument("--seed", type=seed_arg, default=0, help="seed for the drawn configurations")
    p.add_argument("--no-defaults", action="store_true", help="skip each claim's fixed configurations")
    p.add_argument(
        "--full",
        action="store_true",
        help="the paper-scale configurations (each claim's full_configs; slow claims also get drawn "
        "examples); the default is the quick set of about a minute",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON (atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing --json file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print every row (configuration, predicted, measured, reported, error, bound) instead of "
        "one line per claim",
    )
    p.add_argument(
        "--from",
        dest="from_files",
        action="append",
        metavar="FILE",
        help="load claims from a Python file (repeatable); with no claim ids, verify those claims",
    )
    p.add_argument(
        "--exact",
        action="store_true",
        help="check in exact rational arithmetic (zero tolerance; small sizes; claims with an exact route)",
    )
    p.add_argument("--strict", action="store_true", help="approximate claims outside their band also fail the run")
    add_device_arg(p)
    p.set_defaults(func=run)
