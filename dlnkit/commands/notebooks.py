"""``dlnkit notebooks --out DIR [NAMES...]``: execute the teaching notebooks in ``proofs_notebooks/``
and write each as an executed ``.ipynb`` and a standalone HTML page (see :mod:`dlnkit.engines.notebooks`)."""

from __future__ import annotations

import sys

from dlnkit.commands._common import positive_int

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def run(args) -> int:
    from dlnkit.engines.notebooks import notebook_sources, render_notebooks

    if args.list:
        for path in notebook_sources(args.src):
            print(path.stem)
        return 0
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    try:
        from nbclient.exceptions import CellExecutionError
    except ImportError:  # render_notebooks raises the install hint
        CellExecutionError = RuntimeError
    try:
        done = render_notebooks(
            args.out, args.names, src=args.src, html=not args.no_html, timeout=args.timeout, log=log, force=args.force
        )
    except CellExecutionError as exc:
        print(f"dlnkit: a notebook cell failed:\n{exc}", file=sys.stderr)
        return 1
    for nb in done:
        print(f"{nb.name}\t{nb.seconds:.1f} s\t{nb.ipynb}" + (f"\t{nb.html}" if nb.html else ""))
    return 0


def register(sub) -> None:
    p = sub.add_parser("notebooks", help="execute the teaching notebooks and write .ipynb and HTML")
    p.add_argument("names", nargs="*", help="notebooks to render, by name or number (default: all; see --list)")
    p.add_argument("--out", metavar="DIR", default="notebooks_out", help="output folder (default: notebooks_out)")
    p.add_argument(
        "--src",
        metavar="DIR",
        default=None,
        help="folder of NN_topic.py sources (default: proofs_notebooks/ of the source checkout, else "
        "the copy installed in the package)",
    )
    p.add_argument("--force", action="store_true", help="replace existing files in --out (e.g. edited notebooks)")
    p.add_argument("--no-html", action="store_true", help="write only the executed .ipynb files")
    p.add_argument("--timeout", type=positive_int, default=300, help="seconds one cell may run (default 300)")
    p.add_argument("--list", action="store_true", help="list the notebooks and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)
