"""Argument parsing helpers shared by subcommands."""

from __future__ import annotations

import argparse
import math

from dlnkit.numerics.validation import DlnkitInputError, check_dims

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def parse_int_list(text: str, what: str = "dims") -> list[int]:
    """``"16,32,10"`` -> [16, 32, 10], with a clear error otherwise."""
    parts = str(text).replace(" ", "").split(",")
    if any(x == "" for x in parts):
        raise DlnkitInputError(f"{what} must be comma-separated integers without empty entries, got {text!r}")
    try:
        vals = [int(x) for x in parts]
    except ValueError:
        raise DlnkitInputError(f"{what} must be comma-separated integers, got {text!r}") from None
    return check_dims(vals) if what == "dims" else vals


def parse_float_list(text: str, what: str) -> list[float]:
    parts = str(text).replace(" ", "").split(",")
    if any(x == "" for x in parts):
        raise DlnkitInputError(f"{what} must be comma-separated numbers without empty entries, got {text!r}")
    try:
        vals = [float(x) for x in parts]
    except ValueError:
        raise DlnkitInputError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise DlnkitInputError(f"{what} must be finite, got {text!r}")
    return vals


def add_device_arg(p) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (one-line error otherwise)."""
    return _bounded_int(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0 (one-line error otherwise)."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, low: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {v}")
    return v


def max_threads() -> int:
    """The most compute threads a command accepts: 4x the CPUs this process may use (at least 8).
    torch.set_num_threads(10**6) tries to start that many threads and crashes the process."""
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(8, 4 * cpus)


def check_threads(n: int, what: str = "--threads") -> int:
    """``n`` threads (0: leave torch's default) within :func:`max_threads`, else one clear line."""
    if n < 0 or n > max_threads():
        raise DlnkitInputError(
            f"{what} must be between 0 (torch's default) and {max_threads()} on this machine, got {n}"
        )
    return n


#: seeds go to NumPy's legacy generator (0 .. 2**32 - 1) and torch's (64 bits): the smaller range
MAX_SEED = 2**32 - 1


def check_seeds(seeds: list[int], what: str = "--seeds") -> list[int]:
    """Every seed in 0 .. :data:`MAX_SEED` (NumPy refuses others deep inside a run)."""
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise DlnkitInputError(f"{what} must be integers in 0..{MAX_SEED}, got {bad[0]}")
    return seeds
