"""The one boundary between dlnkit and user code (a claim's functions, a ``--from`` file, a model
factory): whatever the user's code does to the process, dlnkit's own code after it runs as before.

:func:`user_code` wraps every call into user code. Around the call it

* **keeps the process**: ``os._exit`` called inside raises :class:`UserCodeExit` (a
  ``SystemExit``, so the claim's check turns it into an ERROR row and a model factory into one
  line and exit 2) instead of ending dlnkit with status 0 and no output; a process the user's
  code forked that comes back through the boundary ends there (``os._exit``), so a copy of
  dlnkit never goes on to run the rest of the claims and write the same files;
* **restores the process state** dlnkit relies on, the same for every route: the working folder,
  the handlers of SIGINT / SIGTERM / SIGHUP (Ctrl-C must still stop the run), ``sys.stdout`` /
  ``sys.stderr`` (reopened on their descriptors if the user's code closed them), the warning
  filters, the recursion limit, NumPy's floating-point error modes and torch's global switches
  (default dtype, grad mode, threads, deterministic algorithms, anomaly mode). A setting the
  user's code changes is put back (one note per setting and source on stderr), so it cannot turn
  a later built-in claim into an ERROR row (``torch.set_grad_enabled(False)`` did) or move where
  a relative ``--data`` path points (``os.chdir`` in a factory did);
* **lets a file keep its own set-up**: what a ``--from`` file sets while it is imported
  (``torch.set_default_dtype(torch.float64)`` at the top of a script is common) is recorded for
  that file and applied again around its own claims' calls, and only there;
* **notes stray threads**: a non-daemon thread the user's code leaves running is recorded;
  :func:`stray_threads` lists the live ones so that the command line does not wait for them
  forever when it exits.

Exceptions are not caught here: the callers decide what a failure becomes (an ERROR row, one
line and exit 2). :func:`user_frame` tells whether an exception was raised in a user's file.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Deferred imports: torch and NumPy are imported inside the functions that read their settings,
# and only when the process has imported them already (the boundary never loads them itself).


class UserCodeExit(SystemExit):
    """``os._exit(code)`` called by user code inside dlnkit's process (kept from ending it)."""

    def __str__(self) -> str:
        return f"os._exit({self.code!r})"


@dataclass(frozen=True)
class Setting:
    """One piece of process state: how to read it, how to set it, whether a file's import-time
    value of it is applied again around that file's own calls (``per_source``)."""

    name: str
    get: Callable[[], Any]
    set: Callable[[Any], None]
    per_source: bool


def _torch_settings() -> list[Setting]:
    if "torch" not in sys.modules:  # never import torch just to look at it
        return []
    import torch

    return [
        Setting("torch's default dtype", torch.get_default_dtype, torch.set_default_dtype, True),
        Setting("torch's grad mode", torch.is_grad_enabled, torch.set_grad_enabled, True),
        Setting("torch's thread count", torch.get_num_threads, torch.set_num_threads, True),
        Setting(
            "torch's deterministic-algorithms switch",
            lambda: (
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
            ),
            lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1]),
            True,
        ),
        Setting("torch's anomaly mode", torch.is_anomaly_enabled, torch.set_anomaly_enabled, True),
    ]


def _numpy_settings() -> list[Setting]:
    if "numpy" not in sys.modules:
        return []
    import numpy as np

    return [Setting("NumPy's floating-point error modes", np.geterr, lambda v: np.seterr(**v), True)]


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # the folder was removed under us: nothing to compare with
        return None


def _set_cwd(path: str | None) -> None:
    if path is not None:
        os.chdir(path)


_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _handlers() -> tuple[Any, ...]:
    return tuple(signal.getsignal(s) for s in _SIGNALS)


def _set_handlers(handlers: tuple[Any, ...]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (and only it could have changed them)
    for s, h in zip(_SIGNALS, handlers):
        if h is not None:  # a handler not installed from Python: leave it
            signal.signal(s, h)


def _warning_filters() -> list[Any]:
    return list(warnings.filters)


def _set_warning_filters(filters: list[Any]) -> None:
    warnings.filters[:] = filters
    mutated = getattr(warnings, "_filters_mutated", None)  # warn() caches what the filters say
    if callable(mutated):
        mutated()


def _settings() -> list[Setting]:
    return [
        Setting("the working folder", _cwd, _set_cwd, False),
        Setting("the signal handlers (SIGINT, SIGTERM, SIGHUP)", _handlers, _set_handlers, False),
        Setting("the warning filters", _warning_filters, _set_warning_filters, False),
        Setting("the recursion limit", sys.getrecursionlimit, sys.setrecursionlimit, True),
        *_numpy_settings(),
        *_torch_settings(),
    ]


# ----- stdout / stderr ----------------------------------------------------------------------


def _usable_stream(saved: Any, fd: int) -> Any:
    """``saved`` (the stream before the user's code), or, if the user's code closed it and it is
    the process's own stream, a new one on the same descriptor (``closefd=False`` streams leave
    the descriptor open when closed)."""
    if not getattr(saved, "closed", False):
        return saved
    if saved is not (sys.__stdout__ if fd == 1 else sys.__stderr__):
        return saved  # someone else's stream (a capture): not ours to reopen
    try:
        os.fstat(fd)
        fresh = open(fd, "w", encoding=getattr(saved, "encoding", None) or "utf-8", closefd=False, errors="replace")
    except (OSError, ValueError):
        return io.StringIO()  # the descriptor is gone too: keep dlnkit's prints from raising
    if fd == 1:
        sys.__stdout__ = fresh
    else:
        sys.__stderr__ = fresh
    return fresh


# ----- os._exit -----------------------------------------------------------------------------

_REAL_OS_EXIT = os._exit
_GUARD_DEPTH = 0
_GUARD_PID = 0


def _guarded_os_exit(code: int = 0) -> None:
    if os.getpid() != _GUARD_PID or threading.current_thread() is not threading.main_thread():
        _REAL_OS_EXIT(code)  # a forked child or a worker thread: the real exit
    raise UserCodeExit(code)


@contextlib.contextmanager
def exit_guard() -> Iterator[None]:
    """While active, ``os._exit`` from dlnkit's main thread raises :class:`UserCodeExit`
    (dlnkit itself never calls it in that thread; forked children still exit for real)."""
    global _GUARD_DEPTH, _GUARD_PID
    if _GUARD_DEPTH == 0:
        _GUARD_PID = os.getpid()
        os._exit = _guarded_os_exit
    _GUARD_DEPTH += 1
    try:
        yield
    finally:
        _GUARD_DEPTH -= 1
        if _GUARD_DEPTH == 0:
            os._exit = _REAL_OS_EXIT


# ----- the boundary -------------------------------------------------------------------------

#: per source (a file's path): the settings its import left different from dlnkit's
_SOURCE_SETUP: dict[str, dict[str, Any]] = {}
#: files of user code (claims files, model modules): an exception raised there is the user's
_USER_FILES: set[str] = set()
#: non-daemon threads started by user code
_THREADS: list[threading.Thread] = []
_NOTED: set[tuple[str, str]] = set()


def register_user_file(path: str | os.PathLike[str] | None) -> None:
    """Count ``path`` as user code (see :func:`user_frame`)."""
    if path:
        _USER_FILES.add(os.path.realpath(os.fspath(path)))


def user_frame(exc: BaseException) -> str | None:
    """``"file:line"`` of the innermost frame of ``exc``'s traceback that lies in a user's file
    (a claims file, a model module), or None when the exception never passed through one."""
    hit = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and os.path.realpath(frame.filename) in _USER_FILES:
            hit = f"{frame.filename}:{frame.lineno}"
    return hit


def stray_threads() -> list[threading.Thread]:
    """Non-daemon threads started by user code that are still running."""
    return [t for t in _THREADS if t.is_alive()]


def _note(who: str, what: str) -> None:
    if (who, what) not in _NOTED:
        _NOTED.add((who, what))
        print(f"dlnkit: note: {who} changed {what}; restored after the call", file=sys.stderr)


@contextlib.contextmanager
def user_code(who: str, *, source: str | None = None, setup: bool = False) -> Iterator[None]:
    """Run the body as user code (see the module's docstring).

    Parameters
    ----------
    who
        What runs, for the notes (``"claim my-claim"``, ``"--model file.py:net"``).
    source
        The file the code comes from: its recorded set-up is applied around the body.
    setup
        The body imports ``source``: record the settings it changes as that file's set-up
        instead of noting them.
    """
    pid = os.getpid()
    settings = _settings()
    before = {s.name: s.get() for s in settings}
    streams = (sys.stdout, sys.stderr)
    threads = set(threading.enumerate())
    own = _SOURCE_SETUP.get(source or "", {})
    for s in settings:
        if s.name in own:
            with contextlib.suppress(Exception):
                s.set(own[s.name])
    failed = True
    try:
        with exit_guard():
            yield
        failed = False
    finally:
        if os.getpid() != pid:  # a process forked by the user's code came back here: it ends now
            _REAL_OS_EXIT(1 if failed else 0)
        # first of all, room to run the rest: the user's code may have lowered the recursion limit
        observed = {"the recursion limit": sys.getrecursionlimit()}
        sys.setrecursionlimit(max(observed["the recursion limit"], before["the recursion limit"]))
        if (sys.stdout, sys.stderr) != streams or any(getattr(s, "closed", False) for s in streams):
            sys.stdout = _usable_stream(streams[0], 1)
            sys.stderr = _usable_stream(streams[1], 2)
            _note(who, "sys.stdout / sys.stderr")
        settings = _settings()  # torch / NumPy may have been imported by the body
        changed: dict[str, Any] = {}
        for s in settings:
            if s.name not in before:
                continue
            try:
                now = observed[s.name] if s.name in observed else s.get()
                if now != before[s.name]:
                    changed[s.name] = now
                    s.set(before[s.name])
            except Exception:  # noqa: BLE001 - a setting we cannot read back is left as it is
                continue
        if setup and source is not None:
            own_kind = {s.name for s in settings if s.per_source}
            _SOURCE_SETUP[source] = {n: v for n, v in changed.items() if n in own_kind}
        for name, value in changed.items():
            if not (setup and name in _SOURCE_SETUP.get(source or "", {})) and own.get(name, object()) != value:
                _note(who, name)
        _THREADS.extend(t for t in threading.enumerate() if t not in threads and not t.daemon)


__all__ = [
    "UserCodeExit",
    "exit_guard",
    "register_user_file",
    "stray_threads",
    "user_code",
    "user_frame",
]
