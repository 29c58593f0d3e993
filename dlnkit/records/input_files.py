"""Input files: one validation layer for every file the command line reads.

Every record, sweep file or JSON/TOML input goes through :func:`read_input_text` (a regular
file, at most ``max_bytes``, checked *before* reading, so ``/dev/zero`` or a 10 GB file is one
clear line instead of an allocation; UTF-8 text) and :func:`load_json_file` /
:func:`load_structured_file` (JSON or TOML; nesting at most :data:`MAX_DEPTH` levels, checked
without recursion; only JSON's value types: a TOML date/time is refused). Any problem is one
:class:`~dlnkit.numerics.validation.DlnkitInputError` line (exit 2).

>>> import tempfile, os
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.json")
>>> _ = open(p, "w").write('{"a": [1, 2]}')
>>> load_json_file(p, "record")
{'a': [1, 2]}
"""

from __future__ import annotations

import codecs
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: matplotlib, torch and the claim registry are imported by the routine that
# needs them, so that reading or writing a record does not load them.

#: the largest input file read by default (records, sweep files): far above any real one
MAX_INPUT_BYTES = 64 * 2**20
#: the deepest nesting of lists/objects accepted (records nest a handful of levels)
MAX_DEPTH = 64


def read_input_bytes(path: str | os.PathLike, what: str, *, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of ``path``: a regular file of at most ``max_bytes`` (checked before reading).

    The file is opened without blocking (``O_NONBLOCK``: opening a FIFO for reading waits for a
    writer otherwise) and checked again on the open descriptor (``fstat``), so a file swapped for
    a pipe or device between the check and the open is refused, never read or waited on."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise DlnkitInputError(f"{what}: no such file {str(p)!r}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise DlnkitInputError(f"{what}: cannot read {str(p)!r}: {_reason(exc)}") from None
    _check_regular(st, p, what, max_bytes)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise DlnkitInputError(f"{what}: cannot read {str(p)!r}: {_reason(exc)}") from None
    try:
        _check_regular(os.fstat(fd), p, what, max_bytes)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)  # bounded even if the file grows meanwhile
    except OSError as exc:
        raise DlnkitInputError(f"{what}: cannot read {str(p)!r}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise DlnkitInputError(f"{what}: {str(p)!r} grew beyond {max_bytes / 2**20:.0f} MiB while being read")
    return data


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


def _check_regular(st: os.stat_result, p: Path, what: str, max_bytes: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise DlnkitInputError(f"{what}: {str(p)!r} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise DlnkitInputError(f"{what}: {str(p)!r} is not a regular file (a device, pipe or socket)")
    if st.st_size > max_bytes:
        raise DlnkitInputError(
            f"{what}: {str(p)!r} is {st.st_size / 2**20:.1f} MiB, more than the {max_bytes / 2**20:.0f} MiB "
            "an input file of this kind may have"
        )


#: byte-order marks that name a text file's encoding unambiguously (UTF-32 before UTF-16: its
#: little-endian mark begins with UTF-16's)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, what: str, path: str | os.PathLike = "") -> str:
    """``data`` as text: UTF-8, or the encoding its byte-order mark names (a UTF-8 BOM as editors
    on Windows write it, UTF-16/32 with a BOM); anything else (Latin-1, binary) is one clear line.

    >>> decode_text(b"\\xef\\xbb\\xbf{}", "f"), decode_text("{}".encode("utf-16"), "f")
    ('{}', '{}')
    """
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8")
    name = f" {str(path)!r}" if path else ""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DlnkitInputError(
            f"{what}:{name} is not {encoding.upper().replace('-SIG', '')} text (byte {exc.start}: "
            f"{data[exc.start : exc.start + 1]!r}); save it as UTF-8"
        ) from None
    if "\x00" in text:  # a binary file that happens to decode (NUL bytes: no text format holds them)
        raise DlnkitInputError(f"{what}:{name} holds NUL bytes: a binary file, not text")
    return text


def read_input_text(path: str | os.PathLike, what: str, *, max_bytes: int = MAX_INPUT_BYTES) -> str:
    """:func:`read_input_bytes` decoded by :func:`decode_text` (a Latin-1 or binary file is one clear line)."""
    return decode_text(read_input_bytes(path, what, max_bytes=max_bytes), what, path)


def check_plain_data(obj: Any, what: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Refuse values JSON cannot hold (a TOML date/time, ...), non-finite floats and nesting deeper
    than ``max_depth``; an iterative walk, so a deep input cannot exhaust the stack here."""
    stack: list[tuple[Any, int, str]] = [(obj, 0, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > max_depth:
            raise DlnkitInputError(f"{what}: nested more than {max_depth} levels deep (at {where or 'the top'})")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise DlnkitInputError(f"{what}: key {k!r} at {where or 'the top'} is not a string")
                stack.append((v, depth + 1, f"{where}.{k}" if where else k))
        elif isinstance(value, list):
            stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(value))
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise DlnkitInputError(f"{what}: {where or 'the value'} is {value!r}; give a finite number")
        elif value is not None and not isinstance(value, (str, int, bool)):
            raise DlnkitInputError(
                f"{what}: {where or 'the value'} is a {type(value).__name__} ({value!r}); "
                "only strings, numbers, booleans, lists and tables are allowed"
            )
    return obj


def _json_depth_ok(text: str, max_depth: int) -> bool:
    """A cheap pre-scan (brackets outside strings) so json.loads never recurses too deep."""
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def parse_json_text(text: str, what: str, *, max_depth: int = MAX_DEPTH, finite: bool = False) -> Any:
    """``json.loads`` with the nesting bound checked first; with ``finite``, NaN/Infinity refused."""
    if not _json_depth_ok(text, max_depth):
        raise DlnkitInputError(f"{what}: nested more than {max_depth} levels deep")
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DlnkitInputError(f"{what}: not valid JSON: {' '.join(str(exc).split())}") from None
    return check_plain_data(obj, what, max_depth=max_depth) if finite else obj


def load_json_file(
    path: str | os.PathLike, what: str, *, max_bytes: int = MAX_INPUT_BYTES, max_depth: int = MAX_DEPTH
) -> Any:
    """A JSON file through :func:`read_input_text` and :func:`parse_json_text`."""
    return parse_json_text(read_input_text(path, what, max_bytes=max_bytes), what, max_depth=max_depth)


def load_structured_file(path: str | os.PathLike, what: str, *, max_bytes: int = MAX_INPUT_BYTES) -> Any:
    """A ``.toml`` or JSON file as plain data (:func:`check_plain_data`: JSON's value types only)."""
    p = Path(path)
    text = read_input_text(p, what, max_bytes=max_bytes)
    if p.suffix.lower() != ".toml":
        return parse_json_text(text, what, finite=True)
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise DlnkitInputError("TOML files need Python >= 3.11 (or the tomli package); use JSON") from None
    try:
        obj = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise DlnkitInputError(f"{what}: not valid TOML: {' '.join(str(exc).split())}") from None
    return check_plain_data(obj, what)


def peek_json_file(path: str | os.PathLike, *, max_bytes: int = MAX_INPUT_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``path``, or None when it is not a readable, bounded, UTF-8 JSON file of
    bounded depth: how a command asks "is this a file I wrote earlier?" of whatever sits at an
    output path. Goes through :func:`read_input_bytes`, so a FIFO there is never waited on, a
    link to ``/dev/zero`` never read, a deep nesting never recursed into."""
    try:
        return load_json_file(path, "file", max_bytes=max_bytes, max_depth=max_depth)
    except DlnkitInputError:
        return None


def peek_file_head(path: str | os.PathLike, n: int) -> bytes | None:
    """The first ``n`` bytes of ``path`` if it is a regular file, else None (a FIFO, device or
    folder is never opened for reading, so nothing waits on it)."""
    p = Path(path)
    try:
        if not stat.S_ISREG(p.stat().st_mode):
            return None
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError):
        return None
    try:
        return os.read(fd, n) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)


__all__ = [
    "MAX_INPUT_BYTES",
    "MAX_DEPTH",
    "read_input_bytes",
    "read_input_text",
    "check_plain_data",
    "parse_json_text",
    "load_json_file",
    "load_structured_file",
    "decode_text",
    "peek_json_file",
    "peek_file_head",
]
