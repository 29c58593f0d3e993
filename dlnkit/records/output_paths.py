"""Output paths: the one name of an output file, and what the file system allows, checked before
any work (:mod:`dlnkit.records.outputs` claims files through these).

* :func:`_key`: absolute, the folder resolved through symbolic links, the last component as given,
  so ``d2/x.json`` with ``d2 -> d1`` and ``d1/x.json`` are one output; :func:`_identity` tells an
  existing file under another name (a hard link, a case-insensitive file system) by its inode.
* :func:`_names_a_folder`: ``out/``, ``out/.``, ``..``: the user named a folder.
* :func:`_check_lengths`: every component within ``NAME_MAX`` (a file's name with room for
  dlnkit's files beside it), the whole path within ``PATH_MAX``.
* :func:`_check_writable_dir`: a real probe, not ``os.access`` (root on a read-only file system).

>>> _names_a_folder("results/"), _names_a_folder("results/r.json")
(True, False)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dlnkit.numerics.validation import DlnkitInputError


def _key(path: str | os.PathLike) -> str:
    """The one name of an output file: absolute, its *folder* resolved through symbolic links
    (``d2/x.json`` with ``d2 -> d1`` is ``d1/x.json``; ``link/../x`` is where the kernel puts it),
    its last component kept as given (a link there is replaced, never written through)."""
    raw = os.path.join(os.getcwd(), os.path.expanduser(os.fspath(path)))
    head, name = os.path.split(raw)
    if name in ("", ".", ".."):  # "out/", "." or "..": a folder, named by its resolved path
        return os.path.realpath(raw)
    try:
        return os.path.join(os.path.realpath(head), name)
    except (OSError, ValueError):  # a path too long to resolve: refused by the length check
        return os.path.abspath(raw)


def _names_a_folder(path: str | os.PathLike) -> bool:
    """``out/``, ``out/.``, ``.`` or ``..``: the user named a folder, whatever exists there."""
    raw = os.fspath(path)
    seps = (os.sep, os.altsep) if os.altsep else (os.sep,)
    last = raw.rstrip("".join(seps)) if raw.rstrip("".join(seps)) else raw
    return raw.endswith(seps) or os.path.basename(last) in (".", "..") or raw in (".", "..")


def absolute_path(path: str | os.PathLike) -> str:
    """``path`` made absolute against the current folder *now* (the CLI does this at parse time,
    so a ``--from`` file that changes directory does not move the outputs); a trailing ``/``
    (the user named a folder) is kept, for the claim to see."""
    return _key(path) + (os.sep if _names_a_folder(path) and _key(path) != os.sep else "")


def _identity(p: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file at ``p`` (not following a link there), else None."""
    try:
        st = os.lstat(p)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _check_reachable(path: Path, what: str) -> None:
    """Refuse a path through a symbolic link that leads nowhere the kernel can follow (a loop:
    ``a -> b -> a``): creating the folders failed only when writing, after the work (exit 70).
    A link to a folder that does not exist yet is fine: the folder is made at its target."""
    p = path
    while True:
        if os.path.islink(p) and not os.path.exists(p):
            try:
                os.stat(p)
            except FileNotFoundError:  # a missing target: made when writing
                pass
            except OSError as exc:
                raise DlnkitInputError(
                    f"cannot write {what} {str(path)!r}: {str(p)!r} is a symbolic link that cannot be "
                    f"followed ({exc.strerror or exc})"
                ) from None
        if p.parent == p:
            return
        p = p.parent


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_writable_dir(d: Path, what: str, original: Path) -> None:
    if not d.is_dir():
        raise DlnkitInputError(f"cannot write {what} {str(original)!r}: {str(d)!r} is not a folder")
    try:  # a real probe: os.access says yes to root even on a read-only file system
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as exc:
        raise DlnkitInputError(
            f"cannot write {what} {str(original)!r}: folder {str(d)!r} is not writable ({exc.strerror or exc})"
        ) from None


#: bytes dlnkit's own files beside NAME add to its length: the lock ".NAME.dlnkit-lock"'s temporary
#: "..NAME.dlnkit-lock.dlnkit-tmp-PID-RANDOM" adds 41 (a pid of up to 7 digits), a temporary with a
#: format suffix ".NAME.dlnkit-tmp-PID-RANDOM.jpeg" 34
_NAME_ROOM = 48


def _check_lengths(p: Path, what: str, *, folder: bool = False) -> None:
    """Refuse, before any work or any folder is made, a path the file system would refuse when
    writing: any component longer than ``NAME_MAX`` (the file's own name with room for its
    temporary's), or the whole path longer than ``PATH_MAX`` (a folder's with room for the files
    dlnkit writes in it). Without it a long name in a missing folder failed only after the
    work, leaving the folders above it behind."""
    base = Path(p.anchor or "/")
    try:
        name_max = os.pathconf(base, "PC_NAME_MAX")
        path_max = os.pathconf(base, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    room = _NAME_ROOM * (2 if folder else 1)
    if len(os.fsencode(str(p))) + room > path_max:
        raise DlnkitInputError(
            f"{what}: path too long for the file system ({len(os.fsencode(str(p)))} bytes; at most {path_max - room})"
        )
    parts = p.parts[1:]
    for i, part in enumerate(parts):
        own_file = i == len(parts) - 1 and not folder  # only a file's own name gets temporaries beside it
        room = _NAME_ROOM if own_file else 0
        if len(os.fsencode(part)) + room > name_max:
            kind = "file name" if own_file else "folder name"
            raise DlnkitInputError(
                f"{what}: {kind} too long ({len(os.fsencode(part))} bytes; at most {name_max - room}): {part[:40]!r}..."
            )
