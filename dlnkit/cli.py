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

#: exit statuses: 0 success, 1 a claim failed / checked nothing, 2 bad input, 3 a computation failed
#: on valid input (training diverged, out of memory), 70 an internal error (a bug: please report), 130 Ctrl-C
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_COMPUTATION, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 70, 130


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (usage stays behind --help), exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    from dlnkit import __version__, commands

    parser = OneLineArgumentParser(prog="dlnkit", description="Derive, measure and stress claims about loss curvature.")
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
    from dlnkit.numerics.validation import DlnkitComputationError, DlnkitInputError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except DlnkitInputError as exc:
        print(f"dlnkit: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DlnkitComputationError as exc:
        print(f"dlnkit: computation failed: {_one_line(exc)}", file=sys.stderr)
        return EXIT_COMPUTATION
    except MemoryError as exc:
        print(f"dlnkit: out of memory: {_one_line(exc) or 'an allocation failed'}", file=sys.stderr)
        return EXIT_COMPUTATION
    except KeyboardInterrupt:
        print("dlnkit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `dlnkit list | head`: the reader left, nothing to report
        return EXIT_OK
    except Exception as exc:  # a bug: one line by default, the traceback on request
        import os
        import traceback

        if os.environ.get("DLNKIT_DEBUG"):
            traceback.print_exc()
        print(
            f"dlnkit: internal error: {type(exc).__name__}: {_one_line(exc)} (a bug in dlnkit; "
            "DLNKIT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
