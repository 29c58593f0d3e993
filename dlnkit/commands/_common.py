"""Argument parsing helpers shared by subcommands."""

from __future__ import annotations

import argparse
import math

from dlnkit.numerics.validation import DlnkitInputError, check_dims


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
