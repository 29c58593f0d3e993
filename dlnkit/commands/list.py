"""``dlnkit list``: every registered claim with its source, kind and assumptions, grouped by where
the claims come from: the two papers (arXiv:2602.00545, arXiv:2606.02596), the classic results
about deep linear networks, and the user's own claims (``--from FILE`` or installed plugins)."""

from __future__ import annotations

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.

#: group order and headings
GROUP_TITLES = {
    "arXiv:2602.00545": "arXiv:2602.00545 (depth, not data)",
    "arXiv:2606.02596": "arXiv:2606.02596 (spectral alignment)",
    "classic": "classic results about deep linear networks",
    "user": "your own claims",
}


def claim_group(claim) -> str:
    """The claim's ``group`` (the claim protocol's hook, :attr:`dlnkit.claims.base.Claim.group`)."""
    return str(claim.group)


def grouped(claims) -> list[tuple[str, list]]:
    """[(group, claims)] in the order of :data:`GROUP_TITLES` (unknown groups last, by name),
    claims in registration order within a group; empty groups are left out."""
    by: dict[str, list] = {}
    for claim in claims:
        by.setdefault(claim_group(claim), []).append(claim)
    order = [g for g in GROUP_TITLES if g in by] + sorted(g for g in by if g not in GROUP_TITLES)
    return [(g, by[g]) for g in order]


def run(args) -> int:
    from dlnkit.claims import all_claims, load_claims_from_file
    from dlnkit.records.claim_map import claim_map_entry, claim_map_lines

    for path in getattr(args, "from_files", None) or []:
        load_claims_from_file(path)
    first = True
    for group, claims in grouped(all_claims().values()):
        if not first:
            print()
        first = False
        print(f"== {GROUP_TITLES.get(group, group)} ({len(claims)} claims)")
        for claim in claims:
            print(f"{claim.id:<18} {claim.kind:<11} {claim.source:<26} {claim.title}")
            if args.verbose:
                for a in claim.assumptions:
                    print(f"{'':<18}   assumes {a.name}: {a.statement}")
                print(
                    f"{'':<18}   tolerance: rtol={claim.tolerance.rtol:g} atol={claim.tolerance.atol:g} "
                    f"({claim.tolerance.reason})"
                )
                for line in claim_map_lines(claim_map_entry(claim)):
                    print(f"{'':<18}   {line}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("list", help="list the claims, grouped by source (papers, classic results, your own)")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show assumptions, tolerances and the claim map (module, theory and numerics functions, tests, "
        "docs anchor, notebooks)",
    )
    p.add_argument(
        "--from",
        dest="from_files",
        action="append",
        metavar="FILE",
        help="also load claims from a Python file (repeatable), as `dlnkit verify --from`",
    )
    p.set_defaults(func=run)
