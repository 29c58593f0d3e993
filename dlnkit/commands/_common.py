"""Argument parsing helpers shared by subcommands."""
from __future__ import annotations

from dlnkit.numerics.validation import DlnkitInputError, check_dims


def parse_int_list(text: str, what: str = "dims") -> list[int]:
    """``"16,32,10"`` -> [16, 32, 10], with a clear error otherwise."""
    try:
        vals = [int(x) for x in str(text).replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise DlnkitInputError(f"{what} must be comma-separated integers, got {text!r}") from None
    return check_dims(vals) if what == "dims" else vals


def parse_float_list(text: str, what: str) -> list[float]:
    import math

    try:
        vals = [float(x) for x in str(text).replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise DlnkitInputError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise DlnkitInputError(f"{what} must be finite, got {text!r}")
    return vals


def add_device_arg(p) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
