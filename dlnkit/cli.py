"""The ``dlnkit`` command line.

Subcommands live in :mod:`dlnkit.commands`: every module there with a
``register(subparsers)`` function is added automatically. Bad input (unknown claim, bad dims,
depth < 1, rank too large, non-finite values) prints one line on stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import errno
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
    """Run one command; ``argv=None`` (the ``dlnkit`` program itself) reads ``sys.argv`` and, when
    user code left threads running, ends the process without waiting for them."""
    rc = _main(argv)
    if argv is None:
        _leave_stray_threads(rc)
    return rc


def _leave_stray_threads(rc: int) -> None:
    """The process would wait for every non-daemon thread before exiting: one that a user's
    claim or model left running (a sleeping loop, a server) would hold ``dlnkit`` forever after
    its work is done. Say so and end with the command's status."""
    import os

    from dlnkit.claims.boundary import stray_threads

    threads = stray_threads()
    if not threads:
        return
    names = ", ".join(t.name for t in threads[:3]) + (", ..." if len(threads) > 3 else "")
    print(
        f"dlnkit: note: user code left {len(threads)} thread(s) running ({names}); not waiting for them",
        file=sys.stderr,
    )
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(rc)


def _main(argv) -> int:
    from dlnkit.claims.boundary import UserCodeExit, exit_guard
    from dlnkit.numerics.validation import DlnkitComputationError, DlnkitInputError
    from dlnkit.records import outputs
    from dlnkit.records.stop_signals import StopSignals

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a bad argument (2, its line already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _absolute_output_paths(args)
    _let_file_size_limits_be_errors()
    outputs.begin_run()
    stop = StopSignals()
    try:
        _note_input_files(parser, args)
        with stop, exit_guard():  # os._exit in user code (a model's forward) may not end dlnkit with status 0
            return stop.status(int(args.func(args) or 0))
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
        print(f"dlnkit: interrupted{stop.by()}", file=sys.stderr)
        return stop.status(EXIT_INTERRUPTED)
    except BrokenPipeError:  # `dlnkit list | head`: the reader left, nothing to report
        return EXIT_OK
    except OSError as exc:
        if exc.errno in MACHINE_ERRNOS:  # the machine's state (disk full, a limit): not a bug
            print(f"dlnkit: {_os_error_line(exc)}", file=sys.stderr)
            return EXIT_COMPUTATION
        return _user_or_internal(exc)
    except RecursionError as exc:  # e.g. a deeply nested input handed to a parser: the input's size
        print(f"dlnkit: error: input nested too deeply to process ({_one_line(exc)})", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as exc:  # user code (a claim file, a model factory) called sys.exit inside a command
        how = exc if isinstance(exc, UserCodeExit) else f"sys.exit({exc.code!r})"
        print(
            f"dlnkit: error: user code called {how} inside `dlnkit {args.command}`; nothing was completed",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except Exception as exc:  # a bug: one line by default, the traceback on request
        return _user_or_internal(exc)
    except BaseException as exc:  # noqa: BLE001 - a BaseException subclass raised by user code
        print(f"dlnkit: error: user code raised {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        outputs.end_run()


def _user_or_internal(exc: BaseException) -> int:
    """An unexpected exception raised inside a user's file (a model's forward, a function of a
    claims file that replaced one of dlnkit's) is the user's code failing, not a bug in dlnkit:
    one line with where it was raised, exit 2."""
    from dlnkit.claims.boundary import user_frame

    where = user_frame(exc)
    if where is None:
        return _internal(exc)
    print(f"dlnkit: error: user code raised {type(exc).__name__} at {where}: {_one_line(exc)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _internal(exc: BaseException) -> int:
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


#: OSError numbers that describe the machine, not dlnkit: exit 3 with one line
MACHINE_ERRNOS = frozenset(
    getattr(errno, n)
    for n in ("ENOSPC", "EDQUOT", "EFBIG", "ENAMETOOLONG", "EROFS", "ENOMEM", "EMFILE", "ENFILE")
    if hasattr(errno, n)
)


def _os_error_line(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"the machine refused: {exc.strerror or exc}{where}"


#: argument names that are output paths: made absolute at parse time, so code that changes the
#: working folder (a ``--from`` file calling os.chdir) cannot move where results land
OUTPUT_ARGS = ("json", "plot", "out", "emit_test")


def _absolute_output_paths(args) -> None:
    from dlnkit.records.outputs import absolute_path

    for name in OUTPUT_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str) and value.strip() and "\x00" not in value:
            setattr(args, name, absolute_path(value))


def _note_input_files(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Tell the output registry which existing files this command's arguments name (``--from``,
    a sweep file, a record, ``--model FILE.py:factory``, ``--weights``, ``--data``): no output of
    the run may replace one of them, whatever its name and even with ``--force``. Every argument
    that is not an output path and names a regular file counts, so a new option is covered
    without being listed."""
    from dlnkit.records.outputs import note_input

    flags = {a.dest: (a.option_strings or [a.dest])[0] for p in _parsers(parser) for a in p._actions}
    for dest, value in vars(args).items():
        if dest in OUTPUT_ARGS or dest == "func":
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(item, str) or not item.strip() or "\x00" in item:
                continue
            for candidate in dict.fromkeys([item, item.rpartition(":")[0]]):  # FILE.py:factory
                if candidate and note_input(candidate, f"the file {flags.get(dest, dest)} reads"):
                    break


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and every subcommand parser under it."""
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _parsers(sub)
    return out


def _let_file_size_limits_be_errors() -> None:
    """Under ``ulimit -f`` the kernel kills a writer with SIGXFSZ; ignoring it turns the write
    into an EFBIG OSError, which becomes one line and exit 3."""
    import signal

    if hasattr(signal, "SIGXFSZ"):
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread (an embedding application): leave it
            pass


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
