"""``dlnkit verify --exact``: exact rows for every claim with an exact route (the rational points
and helpers are in :mod:`dlnkit.configs.exact_points`; the rows a claim returns in
:mod:`dlnkit.claims.exact_comparisons`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dlnkit.arguments import checked
from dlnkit.claims.base import Claim, ClaimResult, draw_configs
from dlnkit.configs.exact_points import EXACT_MAX_PARAMS, num_params


@checked
def has_exact_route(claim: Claim) -> bool:
    return bool(claim.has_exact_route)


@checked
def check_exact(claim: Claim, config: Mapping) -> ClaimResult:
    """One exact row: ``claim.check(config, exact=True)`` (kept for callers of the earlier API)."""
    return claim.check(dict(config), exact=True)


@checked
def exact_configs(
    claim: Claim, examples: int, seed: int = 0, *, defaults: bool = True, max_params: int = EXACT_MAX_PARAMS
) -> tuple[list[dict], int]:
    """The claim's default and drawn configurations small enough for exact arithmetic, and how
    many were skipped as too large."""
    configs = claim.default_configs() if defaults else []
    small = lambda c: (num_params(c) or 0) <= max_params
    kept = [c for c in configs if small(c)]
    skipped = len(configs) - len(kept)
    if examples > 0:
        strat = claim.config_strategy()
        kept += draw_configs(strat.filter(small), examples, seed=seed)
    return kept, skipped


@checked
def exact_results(
    claims: Iterable[Claim],
    *,
    examples: int = 3,
    seed: int = 0,
    defaults: bool = True,
    max_params: int = EXACT_MAX_PARAMS,
) -> tuple[list[ClaimResult], list[str]]:
    """``dlnkit verify --exact``: exact rows for every claim with an exact route. Returns the
    results and notes (claims without a route, configurations skipped as too large)."""
    results, notes = [], []
    for claim in claims:
        if not has_exact_route(claim):
            notes.append(f"{claim.id}: no exact route (skipped)")
            continue
        configs, skipped = exact_configs(claim, examples, seed, defaults=defaults, max_params=max_params)
        if skipped:
            notes.append(f"{claim.id}: {skipped} default configuration(s) above {max_params} parameters skipped")
        results += [claim.check(c, exact=True) for c in configs]
    return results, notes
