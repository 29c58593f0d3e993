"""``dlnkit list``: every registered claim with its source, kind and assumptions."""
from __future__ import annotations


def run(args) -> int:
    from dlnkit.claims import all_claims

    for claim in all_claims().values():
        print(f"{claim.id:<18} {claim.kind:<11} {claim.source:<26} {claim.title}")
        if args.verbose:
            for a in claim.assumptions:
                print(f"{'':<18}   assumes {a.name}: {a.statement}")
            print(f"{'':<18}   tolerance: rtol={claim.tolerance.rtol:g} atol={claim.tolerance.atol:g} "
                  f"({claim.tolerance.reason})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("list", help="list the claims")
    p.add_argument("-v", "--verbose", action="store_true", help="show assumptions and tolerances")
    p.set_defaults(func=run)
