"""The ``dlnkit`` command line.

Subcommands live in :mod:`dlnkit.commands`: every module there with a
``register(subparsers)`` function is added automatically. Bad input (unknown claim, bad dims,
depth < 1, rank too large, non-finite values) prints one line on stderr and exits with 2.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def build_parser() -> argparse.ArgumentParser:
    from dlnkit import __version__, commands

    parser = argparse.ArgumentParser(prog="dlnkit", description="Derive, measure and stress claims about loss curvature.")
    parser.add_argument("--version", action="version", version=f"dlnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"dlnkit.commands.{info.name}")
        if hasattr(mod, "register"):
            mod.register(sub)
    return parser


def main(argv=None) -> int:
    from dlnkit.numerics.validation import DlnkitInputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DlnkitInputError as exc:
        print(f"dlnkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlnkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
