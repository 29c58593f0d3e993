"""Checks of a configuration against what a claim reads, shared by the engines that take
configurations from files (sweep files, counterexample records).

A claim does not declare a schema; its examples do: the fixed configurations
(``default_configs`` / ``full_configs``) and a few drawn from its strategy with each assumption
kept and dropped. From them, :func:`config_examples` / :func:`known_config_keys` give the keys it
reads and :func:`check_config_types` the kind of value each key holds (a ``bool`` where the
claim uses integers, ``inf``, a string seed: refused, never evaluated as if meaningful).
"""

from __future__ import annotations

import math
from typing import Any

from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.


def config_examples(claim: Any, draws: int = 3) -> list[dict]:
    """The fixed configurations of ``claim`` and ``draws`` drawn ones per kept/dropped assumption;
    empty when they cannot be made."""
    from dlnkit.claims import draw_configs

    out: list[dict] = []
    try:
        out += [dict(c) for c in list(claim.default_configs()) + list(claim.full_configs())]
        for drop in [[]] + [[n] for n in claim.assumption_names]:
            out += [dict(c) for c in draw_configs(claim.config_strategy(claim.check_drop(drop)), draws, seed=0)]
    except Exception:  # noqa: BLE001 - a claim whose configurations cannot be drawn: nothing to check against
        return []
    return out


def known_config_keys(claim: Any) -> set[str]:
    """The configuration keys ``claim`` reads: those of :func:`config_examples`, its declared
    ``optional_config_keys`` and ``seed``; empty when no configuration can be made (then nothing
    is known to check against)."""
    keys = {k for c in config_examples(claim) for k in c}
    if not keys:
        return keys
    return keys | {"seed"} | {str(k) for k in getattr(claim, "optional_config_keys", ())}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        inner = sorted({_kind(v) for v in value})
        return f"list[{'|'.join(inner)}]"
    if isinstance(value, dict):
        return "dict"
    return "none" if value is None else type(value).__name__


def _fits(kind: str, allowed: set[str]) -> bool:
    if kind in allowed:
        return True
    widened = kind.replace("int", "float")  # an integer where the claim uses floats is the same number
    return widened in allowed or (
        kind.startswith("list[") and kind == "list[]" and any(a.startswith("list") for a in allowed)
    )


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    return False


def check_config_types(claim: Any, config: dict, where: str) -> None:
    """Refuse non-finite numbers anywhere in ``config`` and a value whose kind (bool, int, float,
    str, list of ...) the claim never uses for that key (``dims: [true, 2]``, ``seed: "0"``)."""
    bad = sorted(k for k, v in config.items() if _non_finite(v))
    if bad:
        raise DlnkitInputError(f"{where}: {', '.join(bad)} holds a non-finite number (inf or nan)")
    kinds: dict[str, set[str]] = {}
    for c in config_examples(claim):
        for k, v in c.items():
            kinds.setdefault(k, set()).add(_kind(v))
    kinds.setdefault("seed", set()).add("int")
    for k, v in config.items():
        if k in kinds and not _fits(_kind(v), kinds[k]):
            raise DlnkitInputError(
                f"{where}: {k} = {v!r} is a {_kind(v)}; claim {claim.id} uses {' or '.join(sorted(kinds[k]))} there"
            )


__all__ = ["config_examples", "known_config_keys", "check_config_types"]
