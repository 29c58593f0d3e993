"""``dlnkit counterexample`` (search and shrink), ``dlnkit replay`` (recompute a saved one) and
``dlnkit counterexample --gallery`` (regenerate ``counterexamples/``)."""

from __future__ import annotations

import sys

from dlnkit.commands._common import add_device_arg, nonnegative_int, positive_int, seed_arg
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def run_counterexample(args) -> int:
    from dlnkit.claims import get_claim, load_claims_from_file

    for path in getattr(args, "from_files", None) or []:
        load_claims_from_file(path)
    from dlnkit.engines.counterexample import find_counterexample
    from dlnkit.engines.counterexample_records import is_record_of, save_counterexample
    from dlnkit.engines.gallery import generate_gallery, slug
    from dlnkit.records.outputs import check_output_dir, claim_output

    progress = not args.quiet and sys.stderr.isatty()
    if args.max_examples < 1 or args.max_shrink_calls < 0:
        raise DlnkitInputError("--max-examples must be >= 1 and --max-shrink-calls >= 0")
    if args.gallery:
        generate_gallery(
            args.out or "counterexamples",
            max_examples=args.max_examples,
            seed=args.seed,
            claim_ids=[args.claim] if args.claim else None,
            progress=progress,
            log=lambda s: print(s, flush=True),
            force=args.force,
        )
        print(f"gallery written to {args.out or 'counterexamples'}/")
        return 0
    if not args.claim:
        raise DlnkitInputError(
            "name a claim (see `dlnkit list -v` for claims and their assumptions), or pass --gallery"
        )
    claim = get_claim(args.claim)
    record_path = None
    if args.out:  # checked before the search: a bad folder or a foreign file must not cost the result
        name = slug(claim.id, sorted(claim.check_drop(args.drop or ())))
        record_path = claim_output(
            check_output_dir(args.out, what="--out") / f"{name}.json",
            overwrite=args.force,
            what="counterexample record",
            ours=lambda p: is_record_of(p, claim.id),
        )
    res = find_counterexample(
        claim,
        args.drop or (),
        max_examples=args.max_examples,
        seed=args.seed,
        device=args.device,
        progress=progress,
        max_shrink_calls=args.max_shrink_calls,
    )
    print(res.summary())
    if res.found and record_path is not None:
        path = record_path
        save_counterexample(res, path)  # kept even if the explanation below fails
        save_counterexample(res, path, claim.explain(res.dropped, res.counterexample.config))
        print(f"saved {path}  (reproduce: dlnkit replay {path})")
    if res.interrupted:
        return 130
    return 1 if res.found else 0


def run_replay(args) -> int:
    from dlnkit.engines.counterexample_records import regression_test_source, replay
    from dlnkit.records.outputs import atomic_write_text, check_output_file

    if args.emit_test:
        out = check_output_file(args.emit_test, overwrite=args.force, what="--emit-test")
        source = regression_test_source(args.file)
        atomic_write_text(out, source)
        print(f"wrote {out}")
        return 0
    r = replay(args.file, device=args.device)
    print(r.summary())
    if r.verdict == "invalid record":
        print(
            f"dlnkit: error: {args.file}: the stored configuration is refused now: {r.now.exception}", file=sys.stderr
        )
    elif r.verdict == "error":
        print(f"dlnkit: ERROR: {args.file} could not be recomputed here: {r.now.exception}", file=sys.stderr)
    return r.exit_status


def register(sub) -> None:
    p = sub.add_parser(
        "counterexample",
        help="drop assumptions of a claim and search for the smallest configuration "
        "that breaks it (Hypothesis search + shrink)",
    )
    p.add_argument("claim", nargs="?", help="claim id (see `dlnkit list -v`)")
    p.add_argument(
        "--drop",
        action="append",
        metavar="ASSUMPTION",
        help="assumption to drop (repeatable); none: the search verifies the claim",
    )
    p.add_argument(
        "--max-examples", type=positive_int, default=100, help="configurations to try before giving up (default 100)"
    )
    p.add_argument(
        "--max-shrink-calls", type=nonnegative_int, default=300, help="evaluations spent shrinking (default 300)"
    )
    p.add_argument("--seed", type=seed_arg, default=0, help="search seed (same seed, same search)")
    p.add_argument(
        "--out",
        metavar="DIR",
        help="save the shrunk counterexample as JSON in DIR "
        "(with --gallery: the gallery folder, default counterexamples)",
    )
    p.add_argument("--gallery", action="store_true", help="regenerate the gallery: every (claim, assumption) pair")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a file at the record's path even if it is not a record of this claim",
    )
    p.add_argument(
        "--from",
        dest="from_files",
        action="append",
        metavar="FILE",
        help="load claims from a Python file first (repeatable), as `dlnkit verify --from`",
    )
    add_device_arg(p)
    p.set_defaults(func=run_counterexample)

    r = sub.add_parser("replay", help="recompute a saved counterexample and compare bit-for-bit")
    r.add_argument("file", help="a counterexample JSON file")
    r.add_argument("--emit-test", metavar="PATH", help="write a pytest regression module for it instead")
    r.add_argument("--device", default="cpu", help="cpu (default, bit-for-bit) or cuda / auto")
    r.add_argument("--force", action="store_true", help="replace an existing --emit-test file")
    r.set_defaults(func=run_replay)
