"""Print the README's census tables (markdown) from a `dlnkit reproduce 2606.02596` record.

python scripts/census_table.py docs/reproduce-2606.02596/record.json
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np


def f(x: object, d: int = 2) -> str:
    return f"{x:.{d}f}" if isinstance(x, (int, float)) and math.isfinite(x) else "-"


def main(path: str) -> None:
    from dlnkit.claims.census_verdicts import measured

    rec = json.loads(open(path).read())
    rows = measured(rec["rows"])
    print(f"_{rec['label']}_\n")
    print("| model | test acc. | layers | train s | analysis s |\n|---|---|---|---|---|")
    for m in rec["models"]:
        s = m["spec"]
        n = sum(1 for r in rec["rows"] if r["model"].startswith(f"{s['family']}{s['width']}x{s['depth']}-{s['data']}"))
        print(
            f"| {s['family']} w{s['width']} d{s['depth']} on {s['data']} ({s['epochs']} ep.) | "
            f"{f(m['training']['test_accuracy'], 3)} | {n} | {f(m['training']['train_seconds'], 0)} | "
            f"{f(m['analysis_seconds'], 0)} |"
        )
    print("\n| layer type | layers | median α | range | median γ | median s_eig | median αγ |")
    print("|---|---|---|---|---|---|---|")
    for role in ("conv", "conv_shortcut", "attention", "mlp_up", "mlp_hidden", "mlp_down", "head"):
        sel = [r for r in rows if r["role"] == role]
        if not sel:
            continue
        a = [r["alpha"]["value"] for r in sel]
        print(
            f"| {role} | {len(sel)} | {f(float(np.median(a)))} | {f(min(a))}–{f(max(a))} | "
            f"{f(float(np.median([r['gamma']['value'] for r in sel])))} | "
            f"{f(float(np.nanmedian([r['s_eig']['value'] for r in sel])))} | "
            f"{f(float(np.median([r['alpha_gamma']['value'] for r in sel])))} |"
        )
    print("\n| sentence of the abstract | ours | band (fixed before the run) | verdict | robustness | reported |")
    print("|---|---|---|---|---|---|")
    for v in rec["verdicts"]:
        val = v["value"]
        ours = f(val, 3) if isinstance(val, float) else "; ".join(f"{k}: {x}" for k, x in val.items())
        ci = v.get("ci95") or []
        if len(ci) == 2 and all(isinstance(x, float) and math.isfinite(x) for x in ci):
            ours += f" (CI {f(ci[0])}–{f(ci[1])}, n = {v['layers']})"
        rob = v.get("robustness")
        rs = (
            "-"
            if rob is None
            else ("survives every variant" if rob["robust"] else "flips under " + ", ".join(rob["flipped_by"]))
        )
        print(f"| {v['sentence']} | {ours} | {v['band']} | {v['status']} | {rs} | {v['reported']} (reported) |")
    opt = rec.get("optimisers", {}).get("tasks", {})
    if opt:
        print("\n| task | optimiser | tuned lr | test accuracy, mean (95% CI) | s per run |\n|---|---|---|---|---|")
        for task, t in opt.items():
            for o, s in t["summary"].items():
                print(
                    f"| {task} | {o} | {s['lr']:g} | {f(s['test_accuracy_mean'], 3)} "
                    f"({f(s['ci95'][0], 3)}–{f(s['ci95'][1], 3)}) | {f(s['seconds_mean'], 1)} |"
                )
    print(f"\ncensus {rec['seconds']['census']:.0f} s, optimisers {rec['seconds']['optimisers']:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1])
