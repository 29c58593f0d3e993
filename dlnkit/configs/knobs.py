"""One name per configuration knob.

A knob that several claim families share has one name everywhere: ``misalignment`` e is the GL
twist W_1 -> A W_1, W_2 -> W_2 A^-1 with A = I + e K / ||K||_2 of the first hidden layer (the
depth claims' point, :mod:`dlnkit.numerics.point`, and the classic claims alike) and
``misalignment_all`` the same twist of every hidden layer. The classic claims called them
``twist`` / ``twist_all``; stored records and gallery files that use the old names still replay,
because every claim reads its configuration through :func:`canonical_config`.

``teacher_rotation`` (the alignment claims) is a different operation -- it rotates the target's
singular bases away from the network's instead of twisting a hidden layer -- so it keeps its own
name; both break the one assumption ``aligned`` (:mod:`dlnkit.claims.assumptions`).
"""

from __future__ import annotations

from collections.abc import Mapping

from dlnkit.numerics.validation import DlnkitInputError

#: old knob name -> its one name (old names stay readable in stored records)
KNOB_ALIASES = {"twist": "misalignment", "twist_all": "misalignment_all"}


def canonical_config(config: Mapping) -> dict:
    """A copy of ``config`` with every old knob name replaced by its one name.

    Raises
    ------
    DlnkitInputError
        The configuration gives a knob under both names with different values.
    """
    out = dict(config)
    for old, new in KNOB_ALIASES.items():
        if old in out:
            value = out.pop(old)
            if new in out and out[new] != value:
                raise DlnkitInputError(f"configuration gives {new}={out[new]!r} and its old name {old}={value!r}")
            out[new] = value
    return out
