"""Device and dtype selection. Verification runs in float64 unless told otherwise."""

from __future__ import annotations

from typing import TypeAlias

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError

DEFAULT_DTYPE = torch.float64
#: what every ``device=`` argument accepts: "auto", "cpu", "cuda[:n]", a torch.device, or None (= "auto")
DeviceLike: TypeAlias = str | torch.device | None


@checked
def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; ``"cuda"`` without CUDA is an error.

    Parameters
    ----------
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.

    Returns
    -------
    torch.device

    Raises
    ------
    DlnkitInputError
        CUDA asked for but not available, or an unknown device string.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda"):
        if not torch.cuda.is_available():
            raise DlnkitInputError("device 'cuda' requested but CUDA is not available; use --device cpu or auto")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise DlnkitInputError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'")
