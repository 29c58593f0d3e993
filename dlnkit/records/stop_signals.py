"""Stop signals: Ctrl-C, SIGTERM and SIGHUP end a command the same way, and never while it writes
what it has finished.

* :class:`StopSignals` (entered by :func:`dlnkit.cli.main` for each command): SIGTERM (``kill``,
  ``timeout``, a batch system) and SIGHUP (the terminal closed) raise :class:`Terminated`, a
  ``KeyboardInterrupt``, where the main thread is, so every command's Ctrl-C path runs; the exit
  status is then ``128 + signal``.
* :func:`finishing`: the block where a command writes its finished rows / summary / index; a
  stop signal that arrives there is held until the block ends, then delivered again.

A signal that is ignored when dlnkit starts (``nohup``) or has an embedding application's
handler is left as it is; outside the main thread nothing is installed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

#: the exit status of a command that Ctrl-C stopped (and kept what it had finished)
EXIT_INTERRUPTED = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP as a Ctrl-C: raised by :class:`StopSignals` in the main thread."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopSignals:
    """For one command, SIGTERM and SIGHUP stop the run the way Ctrl-C does (:class:`Terminated`
    raised where the main thread is: verify keeps its finished rows and writes ``--json`` marked
    interrupted, a sweep stops its workers and writes its summary, temporaries are removed and
    locks released). A repeat of the signal while that cleanup runs is ignored (it would lose
    the record being written); SIGKILL still ends it. Only a signal at its default action is
    taken over. The previous handlers are restored on exit (library callers of ``main``)."""

    SIGNALS = ("SIGTERM", "SIGHUP")

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
            raise Terminated(signum)

    def __enter__(self) -> StopSignals:
        for name in self.SIGNALS:
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            try:
                if signal.getsignal(signum) is not signal.SIG_DFL:
                    continue  # ignored (``nohup``: the run outlives the terminal) or an application's own
                self._previous[signum] = signal.signal(signum, self._handler)
            except (ValueError, OSError):  # not the main thread (an embedding application): leave it
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def by(self) -> str:
        """`` (SIGTERM)`` when a stop signal ended the run, else empty."""
        return f" ({signal.Signals(self.received).name})" if self.received is not None else ""

    def status(self, code: int) -> int:
        """``code``, or ``128 + signal`` when a stop signal ended the run (a command that kept
        its rows returns 130 for "interrupted")."""
        return 128 + self.received if self.received is not None and code == EXIT_INTERRUPTED else code


@contextlib.contextmanager
def finishing(what: str = "the finished results") -> Iterator[None]:
    """The phase where a command writes what it has finished (verify's rows, a sweep's summary,
    a gallery's index): a Ctrl-C (or SIGTERM/SIGHUP) that arrives now is *held* until the block
    ends and then delivered again, so an impatient second Ctrl-C after the first no longer loses
    every row (verify spent seconds gathering the claims' metadata before writing); pressing it
    once more abandons the write. A signal that is ignored stays ignored; outside the main
    thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: object) -> None:
        if held:
            raise KeyboardInterrupt  # asked twice while writing: abandon
        held.append(signum)
        print(f"dlnkit: writing {what} first (press Ctrl-C again to abandon them)", file=sys.stderr)

    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None or signal.getsignal(signum) in (signal.SIG_IGN, None):
            continue
        with contextlib.suppress(ValueError, OSError):
            previous[signum] = signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, handler)
    if held:  # the write is done: the signal now does what it would have done
        os.kill(os.getpid(), held[0])
