"""Print the README's claims table (markdown) from a ``dlnkit verify --json`` record.

    python3 scripts/claims_table.py docs/verify-results.json

One row per claim, in the record's order: kind, source, title, rows, passes, and the row whose
error is largest relative to its bound (error / bound). Nothing is computed here; the numbers
are the record's.
"""

from __future__ import annotations

import json
import sys


def claims_table(record: dict) -> str:
    claims = record.get("claims", {})
    by_claim: dict[str, list[dict]] = {}
    for row in record["results"]:
        by_claim.setdefault(row["claim_id"], []).append(row)
    lines = [
        "| claim | kind | source | what is checked | rows | pass | largest error / its bound |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for cid, rows in by_claim.items():
        meta = claims.get(cid, {})
        passed = sum(r["status"] == "PASS" for r in rows)
        errors = sum(r["status"] == "ERROR" for r in rows)

        def _rel(r: dict) -> float:
            b = r.get("bound") or 0.0
            e = r.get("error")
            if e is None or e != e:
                return float("inf")
            return e / b if b > 0 else (0.0 if e == 0 else float("inf"))

        worst = max(rows, key=_rel)
        worst_s = f"{worst['error']:.2e} / {worst['bound']:.2e}"
        extra = f" ({errors} ERROR)" if errors else ""
        lines.append(
            f"| {cid} | {meta.get('kind', rows[0].get('kind', ''))} | {meta.get('source', '')} | "
            f"{meta.get('title', '')} | {len(rows)} | {passed}{extra} | {worst_s} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 scripts/claims_table.py RECORD.json")
    with open(sys.argv[1], encoding="utf-8") as fh:
        print(claims_table(json.load(fh)))
