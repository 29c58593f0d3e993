"""Output files: checked before the work, written atomically, never clobbering what dlnkit did not write.

Every command that writes a file calls :func:`check_output_file` (or :func:`check_output_dir`)
*before* computing anything, so a bad path is one clear line and no lost result, and then
writes through :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_write_json`
or :func:`atomic_output` (for writers that want a path, e.g. ``savefig``, ``torch.save``): the
bytes go to a temporary file in the same folder, are flushed to disk and renamed into place,
so a reader (or a crash, or SIGKILL) sees the old file or the new one, never half of one.

An existing file is replaced only when dlnkit wrote it earlier in the same run or the caller
allows it explicitly (``overwrite=True``, the CLI's ``--force``).

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = check_output_file(os.path.join(d, "a.json"))
>>> _ = atomic_write_json(p, {"x": 1}); open(p).read()
'{\\n  "x": 1\\n}'
>>> _ = check_output_file(p)  # written by us in this run: may be replaced
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dlnkit.numerics.validation import DlnkitInputError

#: resolved paths this process wrote (they may be replaced again in the same run)
_WRITTEN: set[str] = set()


def _key(path: Path) -> str:
    return str(path.expanduser().resolve())


def written_in_this_run(path: str | os.PathLike) -> bool:
    return _key(Path(path)) in _WRITTEN


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


def check_output_file(path: str | os.PathLike, *, overwrite: bool = False, what: str = "output file") -> Path:
    """Check that ``path`` can be written as a file, before any work; return it as a Path.

    Refuses (one-line :class:`DlnkitInputError`): an empty path, a folder at ``path``, a parent
    that is a file or not writable, and an existing file dlnkit did not write in this run
    unless ``overwrite``. A missing parent folder is fine (created when writing).
    """
    if path is None or str(path).strip() == "":
        raise DlnkitInputError(f"{what}: empty path")
    p = Path(path).expanduser()
    if p.is_dir():
        raise DlnkitInputError(f"{what} {str(p)!r} is a folder; give a file name")
    if p.exists() or p.is_symlink():
        if not p.is_file():
            raise DlnkitInputError(f"{what} {str(p)!r} exists and is not a regular file")
        if not overwrite and not written_in_this_run(p):
            raise DlnkitInputError(
                f"{what} {str(p)!r} already exists; dlnkit does not replace files it did not "
                "write in this run (pass --force, or choose another name)"
            )
    _check_writable_dir(_nearest_existing(p.parent), what, p)
    return p


def check_output_dir(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Check that ``path`` is (or can be created as) a writable folder; return it as a Path."""
    if path is None or str(path).strip() == "":
        raise DlnkitInputError(f"{what}: empty path")
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise DlnkitInputError(f"{what} {str(p)!r} exists and is not a folder")
    _check_writable_dir(_nearest_existing(p), what, p)
    return p


def check_plot_file(path: str | os.PathLike, *, overwrite: bool = False, what: str = "plot file") -> Path:
    """:func:`check_output_file` plus a file type matplotlib can write (from the extension)."""
    p = check_output_file(path, overwrite=overwrite, what=what)
    from matplotlib.figure import Figure

    kinds = Figure().canvas.get_supported_filetypes()
    ext = p.suffix.lower().lstrip(".")
    if ext not in kinds:
        raise DlnkitInputError(
            f"{what} {str(p)!r}: unknown image type {p.suffix or '(none)'!r}; "
            f"use one of {', '.join('.' + k for k in sorted(kinds))}"
        )
    return p


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    On any exception (also KeyboardInterrupt) the temporary file is removed and ``path`` is left
    as it was. ``suffix`` (default: the target's) keeps writers that look at the extension happy.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.tmp-", suffix=target.suffix if suffix is None else suffix
    )
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of any new file, not mkstemp's private 0600
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _WRITTEN.add(_key(target))
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    target = Path(path).expanduser()
    with atomic_output(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str))


__all__ = [
    "check_output_file",
    "check_plot_file",
    "check_output_dir",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "written_in_this_run",
]
