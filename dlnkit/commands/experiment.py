"""``dlnkit experiment spectral-newton --out FILE``: SpectralNewton vs AdamW vs SGD on the CNN/digits."""

from __future__ import annotations

import sys

from dlnkit.commands._common import positive_int

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def run_spectral_newton(args) -> int:
    from dlnkit.engines.spectral_newton_experiment import run_spectral_newton_experiment
    from dlnkit.numerics.validation import DlnkitInputError
    from dlnkit.records.report import write_json_atomic

    if args.seeds < 1 or args.epochs < 1:
        raise DlnkitInputError("--seeds and --epochs must be >= 1")
    from dlnkit.records.outputs import check_output_file

    args.out = check_output_file(args.out, overwrite=args.force, what="--out")  # before the training
    say = (
        None
        if args.quiet
        else (
            lambda r: print(
                f"{r['optimizer']:<16} seed {r['seed']}: test acc {r['test_accuracy']:.4f} in {r['seconds']:.1f}s",
                file=sys.stderr,
            )
        )
    )
    rep = run_spectral_newton_experiment(seeds=range(args.seeds), epochs=args.epochs, progress=say)
    for name, s in rep["summary"].items():
        print(
            f"{name:<16} test accuracy {s['test_accuracy_mean']:.4f} +- {s['test_accuracy_std']:.4f}   "
            f"wall {s['seconds_mean']:.2f} +- {s['seconds_std']:.2f} s   (n={s['n']})"
        )
    print(rep["verdict"])
    write_json_atomic(args.out, rep)
    print(f"wrote {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("experiment", help="small experiments (spectral-newton)")
    esub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    q = esub.add_parser("spectral-newton", help="SpectralNewton vs AdamW vs SGD on the CNN on digits")
    q.add_argument("--out", required=True, help="JSON report path")
    q.add_argument("--seeds", type=positive_int, default=5)
    q.add_argument("--epochs", type=positive_int, default=8)
    q.add_argument("-q", "--quiet", action="store_true")
    q.add_argument("--force", action="store_true", help="replace an existing --out file")
    q.set_defaults(func=run_spectral_newton)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
