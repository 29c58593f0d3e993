"""The claim registry. Every module in this package that defines ``CLAIMS`` (a list of
:class:`~dlnkit.claims.base.Claim` instances) is registered automatically, in module order;
installed packages add theirs through the ``dlnkit.claims`` entry-point group.
"""
from __future__ import annotations

import importlib
import pkgutil

from dlnkit.claims.base import Assumption, Claim, ClaimResult, Comparison, Tolerance, draw_configs

_REGISTRY: dict[str, Claim] = {}
_LOADED = False


def register(claim: Claim, *, replace: bool = False) -> Claim:
    """Add a claim to the registry (its id must be new unless ``replace``)."""
    from dlnkit.numerics.validation import DlnkitInputError

    if not claim.id:
        raise DlnkitInputError(f"claim {claim!r} has no id")
    if claim.id in _REGISTRY and not replace and _REGISTRY[claim.id] is not claim:
        raise DlnkitInputError(f"a claim with id {claim.id!r} is already registered")
    _REGISTRY[claim.id] = claim
    return claim


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        for claim in getattr(mod, "CLAIMS", []):
            register(claim, replace=True)


def all_claims() -> dict[str, Claim]:
    """Every registered claim by id (built-ins loaded on first use)."""
    _load_builtin()
    return dict(_REGISTRY)


def get_claim(claim_id: str) -> Claim:
    from dlnkit.numerics.validation import DlnkitInputError

    claims = all_claims()
    if claim_id not in claims:
        raise DlnkitInputError(f"unknown claim {claim_id!r}; known claims: {', '.join(claims)}")
    return claims[claim_id]


__all__ = ["Assumption", "Claim", "ClaimResult", "Comparison", "Tolerance", "draw_configs", "register",
           "all_claims", "get_claim"]
