"""``dlnkit report RECORD``: a self-contained HTML referee report from a ``dlnkit verify --json`` or
``dlnkit reproduce`` record (verdict table with filters, each claim's plots, counterexamples with
their replay commands, machine / versions / seeds). See :mod:`dlnkit.records.report_html`."""

from __future__ import annotations

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def run(args) -> int:
    from dlnkit.records.report_html import write_report

    path = write_report(
        args.record, args.out, overwrite=args.overwrite, counterexample_dir=args.counterexamples, title=args.title
    )
    print(f"wrote {path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report of a verify or reproduce record")
    p.add_argument("record", help="JSON record from `dlnkit verify --json PATH` or `dlnkit reproduce`")
    p.add_argument("--out", default="dlnkit-report.html", help="HTML file to write (default: dlnkit-report.html)")
    p.add_argument(
        "--force",
        "--overwrite",
        dest="overwrite",
        action="store_true",
        help="replace OUT if it is an earlier dlnkit report (any other file is never replaced)",
    )
    p.add_argument(
        "--counterexamples",
        metavar="DIR",
        default=None,
        help="also list the counterexample records in DIR (e.g. counterexamples/) with replay commands",
    )
    p.add_argument("--title", default="dlnkit referee report", help="the page's heading")
    p.set_defaults(func=run)
