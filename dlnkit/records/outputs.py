"""Output files: one registry per run that every writer goes through.

A *run* is one ``dlnkit`` command (:func:`dlnkit.cli.main` opens and closes it with
:func:`begin_run` / :func:`end_run`); library use shares one process-wide run. Every command
*claims* each file it will write (:func:`check_output_file`, :func:`check_plot_file`,
:func:`claim_output`) or folder (:func:`check_output_dir`) **before computing anything**, and
then writes through :func:`atomic_output` / :func:`atomic_write_bytes` / :func:`atomic_write_text`
/ :func:`atomic_write_json`. The registry enforces:

* **never replace what this run did not write.** An existing file is replaced only when this run
  wrote it, when the claim allowed it (``overwrite=True``, the CLI's ``--force``), or when the
  claim's ``ours`` test recognises it as a dlnkit artefact of that kind that the command
  regenerates (a gallery README, a counterexample record of the same claim). The check runs at
  claim time *and* again at write time, so a writer that forgot to claim still cannot clobber.
* **one path, one output.** Two outputs of one run claiming the same file (``--json x --plot x``)
  are refused at the second claim, before the work.
* **concurrent runs.** Claiming a file takes a lock ``.NAME.dlnkit-lock`` created with
  ``O_EXCL`` and holding the owner's pid; a second run claiming the same file while the first is
  alive is refused before its work (exit 2, naming the other pid), so two concurrent
  ``verify --json same.json`` never silently lose one run's rows. A lock whose pid is dead
  (SIGKILL) is stale and taken over. Locks are released by :func:`end_run` (and at exit).
* **atomic, unique temporaries.** Bytes go to ``.NAME.dlnkit-tmp-PID-RANDOM`` in the target's
  folder (created with ``O_EXCL``: a user's file is never reused or removed), are fsynced and
  renamed into place. A target that did not exist when claimed is put in place with a
  no-replace link, so a file that appeared meanwhile is never replaced. A temporary left by a
  killed run is removed by a later claim of the same target only when its name carries the
  dlnkit prefix *and* the pid in it is not alive.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = check_output_file(os.path.join(d, "a.json"))
>>> _ = atomic_write_json(p, {"x": 1}); open(p).read()
'{\\n  "x": 1\\n}'
>>> _ = check_output_file(p)  # written by us in this run: may be replaced
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.records.output_paths import (
    _check_lengths,
    _check_reachable,
    _check_writable_dir,
    _identity,
    _key,
    _names_a_folder,
    _nearest_existing,
    absolute_path,
)

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.

TMP_TAG = "dlnkit-tmp"
LOCK_TAG = "dlnkit-lock"


@dataclass
class _Claim:
    what: str
    overwrite: bool
    existed: bool
    ours: Callable[[Path], bool] | None = None
    identity: tuple[int, int] | None = None  # (device, inode) of the file when claimed, if it existed


@dataclass
class OutputRegistry:
    """The outputs of one run: what was claimed (by which option), what was written, the locks held."""

    claimed: dict[str, _Claim] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)
    locks: dict[str, int] = field(default_factory=dict)  # lock path -> inode of our lock file
    inputs: dict[tuple[int, int], str] = field(default_factory=dict)  # (device, inode) -> what reads it

    def release(self) -> None:
        for lock, ino in list(self.locks.items()):
            with contextlib.suppress(OSError):
                if os.stat(lock).st_ino == ino:
                    os.unlink(lock)
        self.locks.clear()


_RUN = OutputRegistry()


def current_run() -> OutputRegistry:
    return _RUN


def begin_run() -> OutputRegistry:
    """Start a fresh registry (one per CLI command); releases the previous run's locks."""
    global _RUN
    _RUN.release()
    _RUN = OutputRegistry()
    return _RUN


def end_run() -> None:
    """Release this run's locks (files written stay recorded until the next :func:`begin_run`)."""
    _RUN.release()


atexit.register(end_run)


def release_lock(path: str | os.PathLike) -> None:
    """Release this run's lock on ``path`` now (library callers whose work on it is done)."""
    lock = str(_lock_path(Path(_key(path))))
    ino = _RUN.locks.pop(lock, None)
    if ino is not None:
        with contextlib.suppress(OSError):
            if os.stat(lock).st_ino == ino:
                os.unlink(lock)


def note_input(path: str | os.PathLike, what: str = "an input") -> bool:
    """Record that this run reads the existing file ``path`` (``what`` names it in messages): no
    output of this run may then be that file, under any name and even with ``--force``
    (``verify --from mine.py --json mine.py --force`` replaced the user's claim file with JSON).
    Refuses at once if an output already claimed is that file. Returns whether it was a file."""
    try:
        st = os.stat(_key(path))  # an input is read through a link: the file it points at
    except (OSError, ValueError):
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    ident = (st.st_dev, st.st_ino)
    for k, c in _RUN.claimed.items():
        if c.identity == ident:
            raise DlnkitInputError(
                f"{c.what} {k!r} is also {what}, an input of this run; dlnkit never replaces an "
                "input (not even with --force): choose another name"
            )
    _RUN.inputs.setdefault(ident, what)
    return True


def written_in_this_run(path: str | os.PathLike) -> bool:
    return _key(path) in _RUN.written


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_path(p: Path) -> Path:
    return p.with_name(f".{p.name}.{LOCK_TAG}")


_MACHINE_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, n))
_NO_HARD_LINKS = frozenset(
    getattr(errno, n) for n in ("EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "EMLINK") if hasattr(errno, n)
)


def _create_lock(lock: Path) -> None:
    """Create ``lock`` holding this run's pid, whole or not at all (``FileExistsError`` if it is
    there). The pid is written to a temporary first and linked into place: a lock created with
    ``O_EXCL`` and then written was left *empty* when the write failed (a full disk, ``ulimit
    -f``), and an empty lock is not recognisably dlnkit's, so every later run was refused."""
    content = f"{LOCK_TAG} pid {os.getpid()}\n".encode()
    clean_stale_temporaries(lock)
    tmp = _new_temporary(lock, "")
    try:
        with open(tmp, "wb") as fh:
            fh.write(content)
        try:
            os.link(tmp, lock)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # no hard links here
            try:
                os.write(fd, content)
            except BaseException:
                os.close(fd)
                os.unlink(lock)
                raise
            os.close(fd)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _take_lock(p: Path, what: str) -> None:
    lock = _lock_path(p)
    if str(lock) in _RUN.locks:
        return
    for _ in range(3):
        try:
            _create_lock(lock)
        except FileExistsError:
            try:
                pid = int(lock.read_text().split()[-1])
            except (OSError, ValueError, IndexError):
                pid = -1
            if pid == os.getpid():  # an earlier run in this same process did not release it
                with contextlib.suppress(OSError):
                    lock.unlink()
                continue
            if pid > 0 and _pid_alive(pid):
                raise DlnkitInputError(
                    f"{what} {str(p)!r} is being written by another dlnkit run (pid {pid}); "
                    "wait for it or choose another name"
                ) from None
            if pid < 0:  # not our format: someone else's file with our name; leave it alone
                raise DlnkitInputError(
                    f"{what} {str(p)!r}: {str(lock)!r} exists and is not a dlnkit lock; "
                    "remove it or choose another name"
                ) from None
            with contextlib.suppress(OSError):  # stale: its run was killed
                lock.unlink()
            continue
        except OSError as exc:
            if exc.errno in _MACHINE_ERRNOS:  # the disk is full, a file-size limit: the machine (exit 3)
                raise
            raise DlnkitInputError(f"cannot write {what} {str(p)!r}: {exc.strerror or exc}") from None
        _RUN.locks[str(lock)] = os.stat(lock).st_ino
        return
    raise DlnkitInputError(f"{what} {str(p)!r}: could not take its lock {str(lock)!r}")


_TMP_RE = re.compile(r"\.(?P<name>.+)\." + TMP_TAG + r"-(?P<pid>\d+)-[0-9a-f]{8}(?:\.[A-Za-z0-9]{1,8})?", re.DOTALL)


def clean_stale_temporaries(p: Path) -> list[Path]:
    """Remove temporaries of target ``p`` left by killed dlnkit runs (dlnkit's name pattern and a
    pid that is no longer alive); anything else is left alone. Returns what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(p.parent):
            m = _TMP_RE.fullmatch(entry.name)
            if m and m.group("name") == p.name and entry.is_file(follow_symlinks=False):
                pid = int(m.group("pid"))
                if pid != os.getpid() and not _pid_alive(pid):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
    return removed


def read_own_json(path: str | os.PathLike, writer: str) -> dict[str, Any] | None:
    """The JSON object at ``path`` if a run of ``writer`` wrote it (its ``written_by`` field), else None
    (absent, unreadable, not JSON, or someone else's): how a resumable command knows its own files."""
    from dlnkit.records.input_files import peek_json_file

    data = peek_json_file(path)
    return data if isinstance(data, dict) and data.get("written_by") == writer else None


def _replaceable(k: str, p: Path, overwrite: bool, ours: Callable[[Path], bool] | None) -> bool:
    if overwrite or k in _RUN.written:
        return True
    if ours is not None:
        try:
            return bool(ours(p))
        except (OSError, ValueError):
            return False
    return False


def claim_output(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    what: str = "output file",
    ours: Callable[[Path], bool] | None = None,
    lock: bool = True,
) -> Path:
    """Claim ``path`` as one output file of this run, before any work; return it (absolute).

    Refuses (one-line :class:`DlnkitInputError`): an empty path, a folder at ``path``, a parent
    that is a file or not writable, a name too long for the file system, a path another output
    of this run already claimed, a file another live dlnkit run is writing, and an existing
    file this run did not write unless ``overwrite`` or ``ours(path)`` says it is a dlnkit
    artefact the command regenerates. A missing parent folder is fine (created when writing).
    """
    if path is None or str(path).strip() == "":
        raise DlnkitInputError(f"{what}: empty path")
    if "\x00" in os.fspath(path):
        raise DlnkitInputError(f"{what}: the path contains a NUL byte")
    if _names_a_folder(path):  # `--json results/` wrote a *file* named results
        raise DlnkitInputError(f"{what} {os.fspath(path)!r} names a folder (it ends with '/'); give a file name")
    p = Path(_key(path))
    k = str(p)
    _check_lengths(p, what)
    _check_reachable(p, what)
    prior = _RUN.claimed.get(k)
    if prior is None:  # the same file under another name: a hard link, a case-insensitive file system
        ident = _identity(p)
        prior = next((c for c in _RUN.claimed.values() if ident is not None and c.identity == ident), None)
    if prior is not None and prior.what != what:
        raise DlnkitInputError(f"{what} and {prior.what} are the same file {k!r}; give each its own path")
    read_as = _RUN.inputs.get(_identity(p) or (-1, -1))
    if read_as is not None:
        raise DlnkitInputError(
            f"{what} {k!r} is also {read_as}, an input of this run; dlnkit never replaces an "
            "input (not even with --force): choose another name"
        )
    if p.is_dir():
        raise DlnkitInputError(f"{what} {k!r} is a folder; give a file name")
    existed = p.exists() or p.is_symlink()
    if existed:
        if not p.is_file():
            raise DlnkitInputError(f"{what} {k!r} exists and is not a regular file")
        if not _replaceable(k, p, overwrite, ours):
            raise DlnkitInputError(
                f"{what} {k!r} already exists; dlnkit does not replace files it did not "
                "write in this run (pass --force, or choose another name)"
            )
    _check_writable_dir(_nearest_existing(p.parent), what, p)
    if p.parent.is_dir():
        if lock:
            _take_lock(p, what)
        clean_stale_temporaries(p)
    if k not in _RUN.claimed:
        _RUN.claimed[k] = _Claim(what, overwrite, existed and k not in _RUN.written, ours, _identity(p))
    return p


def check_output_file(path: str | os.PathLike, *, overwrite: bool = False, what: str = "output file") -> Path:
    """:func:`claim_output` (kept under its old name: every writer of a single file calls it)."""
    return claim_output(path, overwrite=overwrite, what=what)


def check_output_dir(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Check that ``path`` is (or can be created as) a writable folder; return it (absolute).

    The files written inside are claimed one by one (:func:`claim_output`)."""
    if path is None or str(path).strip() == "":
        raise DlnkitInputError(f"{what}: empty path")
    p = Path(_key(path))
    _check_lengths(p, what, folder=True)
    _check_reachable(p, what)
    if p.exists() and not p.is_dir():
        raise DlnkitInputError(f"{what} {str(p)!r} exists and is not a folder")
    k = str(p)
    if k in _RUN.claimed:
        raise DlnkitInputError(f"{what} {k!r} is already the file {_RUN.claimed[k].what} of this run")
    _check_writable_dir(_nearest_existing(p), what, p)
    return p


def check_plot_file(path: str | os.PathLike, *, overwrite: bool = False, what: str = "plot file") -> Path:
    """:func:`check_output_file` plus a file type matplotlib can write (from the extension)."""
    p = Path(_key(path)) if path is not None and str(path).strip() else None
    if p is not None:
        from matplotlib.figure import Figure

        kinds = Figure().canvas.get_supported_filetypes()
        ext = p.suffix.lower().lstrip(".")
        if ext not in kinds:
            raise DlnkitInputError(
                f"{what} {str(p)!r}: unknown image type {p.suffix or '(none)'!r}; "
                f"use one of {', '.join('.' + k for k in sorted(kinds))}"
            )
    return check_output_file(path, overwrite=overwrite, what=what)


def _new_temporary(target: Path, suffix: str) -> Path:
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{TMP_TAG}-{os.getpid()}-{secrets.token_hex(4)}")
        if suffix:
            tmp = tmp.with_name(tmp.name + suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise OSError(errno.EEXIST, "could not create a unique temporary file", str(target.parent))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, suffix: str | None = None, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    On any exception (also KeyboardInterrupt) the temporary file is removed and ``path`` is left
    as it was. ``suffix`` (default: none; matplotlib writers pass ``format=``) is appended to the
    temporary's name. An existing ``path`` that this run did not write and did not claim with
    permission to replace is refused (:class:`DlnkitInputError`), also when it appeared after the
    claim.
    """
    target = Path(_key(path))
    k = str(target)
    claim = _RUN.claimed.get(k)
    allowed = overwrite or k in _RUN.written or (claim is not None and (claim.overwrite or claim.existed))
    if not allowed and (target.exists() or target.is_symlink()):
        ours = claim.ours if claim is not None else None
        if not _replaceable(k, target, False, ours):
            raise DlnkitInputError(
                f"{k!r} exists and was not written by this dlnkit run; not replaced "
                "(pass --force, or choose another name)"
            )
        allowed = True
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(target, suffix or "")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if allowed or target.exists():
            if not allowed:
                raise DlnkitInputError(f"{k!r} appeared while dlnkit ran; not replaced")
            os.replace(tmp, target)
        else:
            try:  # no-replace: a file that appeared since the check is never clobbered
                os.link(tmp, target)
            except FileExistsError:
                raise DlnkitInputError(
                    f"{k!r} appeared while dlnkit ran (another program wrote it); not replaced"
                ) from None
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                if target.exists():
                    raise DlnkitInputError(f"{k!r} appeared while dlnkit ran; not replaced") from None
                os.replace(tmp, target)
        _RUN.written.add(k)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    target = Path(_key(path))
    with atomic_output(target, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return target


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = False) -> Path:
    """UTF-8; a character that has no UTF-8 form (a file name in another encoding reaches Python as
    lone surrogates, ``\\udcff``) is written as its backslash escape, never an encoding error
    after the work (``report`` of a record named ``\\xff.json`` was exit 70)."""
    return atomic_write_bytes(path, text.encode("utf-8", errors="backslashreplace"), overwrite=overwrite)


def atomic_write_json(path: str | os.PathLike, obj: Any, *, overwrite: bool = False) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str), overwrite=overwrite)


__all__ = [
    "OutputRegistry",
    "absolute_path",
    "begin_run",
    "end_run",
    "current_run",
    "claim_output",
    "check_output_file",
    "check_plot_file",
    "check_output_dir",
    "clean_stale_temporaries",
    "release_lock",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "written_in_this_run",
    "note_input",
]
