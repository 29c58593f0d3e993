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


#: the largest count any flag takes (examples, steps, probes, ...): far above every real run, and
#: small enough that no list, tensor size or C integer built from it overflows (``[x] * 10**23``
#: is an OverflowError, a C ``int`` holds 2**31 - 1); memory guards bound the real cost below it
MAX_COUNT = 2**31 - 1


def int_arg(low: int, high: int = MAX_COUNT):
    """argparse type: an integer in ``low .. high`` (one line and exit 2 otherwise). Every integer
    flag of every command takes one of these (tests/test_hostile_cli.py checks the parsers), so
    no bare ``int`` lets ``10**23`` or ``-5`` reach the work.

    >>> int_arg(1)("7"), int_arg(0, 9).__name__
    (7, 'integer in 0..9')
    """

    def parse(text: str) -> int:
        return _bounded_int(text, low, high)

    parse.__name__ = f"integer in {low}..{high}"  # argparse names the type in its messages
    return parse


def float_arg(low: float = -math.inf, high: float = math.inf, *, open_low: bool = False):
    """argparse type: a finite number in ``low .. high`` (``open_low``: strictly above ``low``);
    nan, inf, 1e400 and text are one line and exit 2."""

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if v < low or (open_low and v == low) or v > high:
            bounds = f"{'>' if open_low else '>='} {low:g}" + (f" and <= {high:g}" if math.isfinite(high) else "")
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text!r}")
        return v

    parse.__name__ = "finite number"
    return parse


def positive_int(text: str) -> int:
    """argparse type: an integer in 1 .. :data:`MAX_COUNT` (one-line error otherwise)."""
    return _bounded_int(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer in 0 .. :data:`MAX_COUNT` (one-line error otherwise)."""
    return _bounded_int(text, 0)


def _bounded_int(text: str, low: int, high: int = MAX_COUNT) -> int:
    try:
        v = int(text)
    except ValueError:  # also a number of more than 4300 digits (Python's int-string limit)
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
    if v < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {v}")
    if v > high:
        shown = str(v) if v < 10**30 else f"a {len(str(v))}-digit number"
        raise argparse.ArgumentTypeError(f"must be <= {high}, got {shown}")
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


def seed_arg(text: str) -> int:
    """argparse type: a seed, an integer in 0 .. :data:`MAX_SEED`."""
    return _bounded_int(text, 0, MAX_SEED)


def check_seeds(seeds: list[int], what: str = "--seeds") -> list[int]:
    """Every seed in 0 .. :data:`MAX_SEED` (NumPy refuses others deep inside a run)."""
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise DlnkitInputError(f"{what} must be integers in 0..{MAX_SEED}, got {bad[0]}")
    return seeds


def remember_defaults(parser, group: str, dests: tuple[str, ...]) -> None:
    """Store the defaults of ``dests`` on ``parser`` under ``group`` for :func:`refuse_flags_outside`."""
    parser.set_defaults(**{f"_defaults_{group}": {d: parser.get_default(d) for d in dests}})


def refuse_flags_outside(args, group: str, mode: str) -> None:
    """Refuse the flags of ``group`` (see :func:`remember_defaults`) given with a value other than
    their default when the command runs in a ``mode`` that does not read them: a flag that is
    silently ignored (``spectrum --dims 3,3 --json out.json`` wrote no JSON and exited 0;
    ``alignment --model mlp --weights mine.pt`` analysed the zoo's weights) is a wrong result."""
    defaults = getattr(args, f"_defaults_{group}", {})
    given = ["--" + d.replace("_", "-") for d, v in defaults.items() if getattr(args, d, v) != v]
    if given:
        raise DlnkitInputError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} nothing {mode}; drop "
            f"{'it' if len(given) == 1 else 'them'} (see --help for which flags go together)"
        )
