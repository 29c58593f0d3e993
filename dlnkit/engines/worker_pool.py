"""A process pool for sweeps that survives its workers and never outlives its driver.

:class:`concurrent.futures.ProcessPoolExecutor` turns one killed worker (what the kernel's OOM
killer does) into ``BrokenProcessPool`` for *every* pending task, keeps running after Ctrl-C
until its queue drains, and leaves its workers running when the driver is SIGKILLed. This pool:

* hands each worker one task at a time over its own pipe, so when a worker dies only its
  current task is lost: ``on_lost(tag, why)`` reports it and a fresh worker takes its place;
* on Ctrl-C (or any exception in the driver) kills every worker at once and re-raises, so
  nothing pending runs on and everything finished before has already been reported;
* makes workers ignore SIGINT, SIGTERM and SIGHUP (the driver decides), ask the kernel for SIGKILL when the driver
  dies (``PR_SET_PDEATHSIG`` on Linux) and, as a fallback, watch their parent's pid;
* optionally caps each worker's address space (``memory_limit_bytes`` beyond what it holds after
  start-up), so a runaway case fails inside its worker instead of taking the machine.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.

#: seconds between checks of a worker's parent
PARENT_POLL_S = 0.5


def _ask_for_death_with_parent() -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the watcher thread below still ends us
        pass


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(PARENT_POLL_S)


def _worker_main(conn, parent_pid: int, task_fn: Callable[..., Any], memory_limit_bytes: int | None) -> None:
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # sent to the whole process group: the driver decides
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    _ask_for_death_with_parent()
    if os.getppid() != parent_pid:  # the driver died before we got here
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if memory_limit_bytes:
        import resource

        from dlnkit.numerics.memory import vm_size

        cap = vm_size() + int(memory_limit_bytes)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg is None:
            break
        tag, args = msg
        try:
            out = ("ok", task_fn(*args))
        except MemoryError as exc:
            out = ("raised", f"MemoryError: {exc}")
        except BaseException as exc:  # noqa: BLE001 - reported to the driver, the worker stays up
            out = ("raised", f"{type(exc).__name__}: {exc}")
        try:
            conn.send((tag, out))
        except (OSError, ValueError, TypeError) as exc:  # driver gone, or a result that cannot be pickled
            try:
                conn.send((tag, ("raised", f"result could not be sent back: {type(exc).__name__}: {exc}")))
            except (OSError, ValueError):
                break


def describe_exit(exitcode: int | None) -> str:
    """Why a worker process ended, in words (negative exit codes are signals)."""
    if exitcode is None:
        return "the worker stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        extra = " (the kernel's OOM killer sends SIGKILL when memory runs out)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{extra}"
    return f"the worker process exited with status {exitcode}"


class _Worker:
    def __init__(self, ctx, task_fn, memory_limit_bytes):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main, args=(child, os.getpid(), task_fn, memory_limit_bytes), daemon=True
        )
        self.proc.start()
        child.close()
        self.tag: Any = None


class ResilientPool:
    """``n`` worker processes running ``task_fn(*args)``; see the module doc.

    >>> pool = ResilientPool(1, abs, start_method="fork")
    >>> got = []
    >>> pool.run([("a", (-2,)), ("b", (3,))], lambda tag, r: got.append((tag, r)), lambda tag, why: None)
    >>> sorted(got)
    [('a', 2), ('b', 3)]
    """

    def __init__(
        self, n: int, task_fn: Callable[..., Any], *, start_method: str = "spawn", memory_limit_bytes: int | None = None
    ):
        import multiprocessing as mp

        self.n = max(1, int(n))
        self.task_fn = task_fn
        self.ctx = mp.get_context(start_method)
        self.memory_limit_bytes = memory_limit_bytes
        self.workers: list[_Worker] = []

    def _spawn(self) -> _Worker:
        w = _Worker(self.ctx, self.task_fn, self.memory_limit_bytes)
        self.workers.append(w)
        return w

    def run(
        self,
        tasks: Iterable[tuple[Any, tuple]],
        on_result: Callable[[Any, Any], None],
        on_lost: Callable[[Any, str], None],
    ) -> None:
        """Run every task; ``on_result(tag, value)`` for each answer, ``on_lost(tag, why)`` when a
        worker died on a task or the task raised in a way the task function did not catch."""
        from multiprocessing.connection import wait

        pending = deque(tasks)
        try:
            for _ in range(min(self.n, len(pending))):
                self._spawn()
            while True:
                for w in list(self.workers):
                    if w.tag is None and pending:
                        tag, args = pending.popleft()
                        try:
                            w.conn.send((tag, args))
                            w.tag = tag
                        except (OSError, ValueError):  # died while idle: replace it, retry the task
                            pending.appendleft((tag, args))
                            self._retire(w)
                            self._spawn()
                busy = [w for w in self.workers if w.tag is not None]
                if not busy:
                    break
                ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=PARENT_POLL_S)
                for w in busy:
                    if w.conn in ready or w.proc.sentinel in ready:
                        self._collect(w, on_result, on_lost, pending)
        except BaseException:
            self.close(kill=True)
            raise
        self.close()

    def _collect(self, w: _Worker, on_result, on_lost, pending) -> None:
        tag = w.tag
        try:
            if w.conn.poll():
                got_tag, (kind, value) = w.conn.recv()
                w.tag = None
                if kind == "ok":
                    on_result(got_tag, value)
                else:
                    on_lost(got_tag, value)
                return
        except (EOFError, OSError):
            pass
        if w.proc.is_alive():
            return
        w.proc.join(timeout=1)
        w.tag = None
        self._retire(w)
        on_lost(tag, describe_exit(w.proc.exitcode))
        if pending:
            self._spawn()

    def _retire(self, w: _Worker) -> None:
        if w in self.workers:
            self.workers.remove(w)
        try:
            w.conn.close()
        except OSError:
            pass

    def close(self, kill: bool = False) -> None:
        """Stop every worker: politely (an empty message) or, with ``kill``, by SIGKILL at once."""
        for w in self.workers:
            if kill:
                w.proc.kill()
            else:
                try:
                    w.conn.send(None)
                except (OSError, ValueError):
                    w.proc.kill()
        deadline = time.monotonic() + (1.0 if kill else 5.0)
        for w in self.workers:
            w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=1.0)
            try:
                w.conn.close()
            except OSError:
                pass
        self.workers = []


__all__ = ["ResilientPool", "describe_exit"]
