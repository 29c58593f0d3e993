"""``dlnkit reproduce 2602.00545``: the paper's experiments as its public code runs them.

For each depth (default L = 2..7) and seed it trains the linear and the tanh network of the
paper's setup (:mod:`dlnkit.numerics.paper_setup`) for ``--steps`` steps, takes the exact
Hessian, splits it by counts and by the paper's adaptive threshold, evaluates the Gauss-Newton
formula at the measured mode sizes and the decay-law prediction from the init, and writes

* ``OUT/runs/L<depth>_seed<seed>_<dtype>_steps<steps>.json``: one file per depth and seed,
  written atomically as soon as that depth is done; a rerun with the same options reuses them
  (resumable: Ctrl-C keeps every finished depth);
* ``OUT/record.json``: every row, the paper's reported values (labelled), the steps-needed table;
* ``OUT/ratio_vs_depth.png``: ratio against depth (ours with both splits, the reported points,
  the finite-training prediction curve and y = L).

Output paths are checked before any training; files dlnkit did not write are never replaced.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm  # plain tqdm: tqdm.auto warns in a Jupyter kernel without ipywidgets

from dlnkit.commands._common import check_seeds, nonnegative_int, parse_int_list
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.records.outputs import read_own_json

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.

PAPERS = ("2602.00545", "2606.02596")
WRITER = "dlnkit reproduce 2602.00545"
RECORD_NAME, FIGURE_NAME, RUNS_DIR = "record.json", "ratio_vs_depth.png", "runs"


def _ours(path: Path) -> dict[str, Any] | None:
    return read_own_json(path, WRITER)


def _check_paths(out: Path, run_files: list[Path], force: bool) -> None:
    """Before any work: claim every file we would write (:mod:`dlnkit.records.outputs`); each is absent,
    or ours (a previous run of this command), or replaced with --force."""
    from dlnkit.records.outputs import check_output_dir, claim_output

    check_output_dir(out, what="--out folder")
    for p in run_files + [out / RECORD_NAME]:
        claim_output(p, overwrite=force, what=f"{WRITER} file", ours=lambda q: _ours(q) is not None, lock=False)

    def figure_is_ours(fig: Path) -> bool:
        rec = _ours(out / RECORD_NAME) if (out / RECORD_NAME).exists() else None
        return rec is not None and rec.get("figure") == FIGURE_NAME

    claim_output(out / FIGURE_NAME, overwrite=force, what=f"{WRITER} figure", ours=figure_is_ours)


#: bytes one recorded loss (every 1000th update) costs while a run trains and is written: the
#: set of recorded steps, the (step, loss) lists and their JSON (measured about 0.3 KB with
#: ``ru_maxrss``; tests/test_hostile_memory.py checks this is not below the measured peak)
RECORDED_STEP_BYTES = 1024


def check_training_record(steps: int, runs: int = 1) -> int:
    """Refuse ``--steps`` whose loss record (one entry per 1000 updates, ``runs`` runs kept at
    once) would not fit in memory, before any training."""
    from dlnkit.numerics.memory import check_allocation

    return check_allocation(
        runs * RECORDED_STEP_BYTES * (int(steps) // 1000 + 2),
        f"the loss record of {steps:,} training steps",
        "cpu",
        hint="lower --steps (the paper trains 10,000)",
    )


def _run_one(depth: int, seed: int, dtype: str, steps: int) -> dict[str, Any]:
    from dlnkit.claims.paper_2602_runs import decay_prediction, linear_run, tanh_run

    t0 = time.perf_counter()
    lin = dict(linear_run(depth, steps, dtype, seed))
    t1 = time.perf_counter()
    tanh = dict(tanh_run(depth, steps, dtype, seed))
    t2 = time.perf_counter()
    decay = decay_prediction(depth, steps, seed)
    lin["seconds"], tanh["seconds"] = t1 - t0, t2 - t1
    return {
        "written_by": WRITER,
        "depth": depth,
        "seed": seed,
        "dtype": dtype,
        "steps": steps,
        "linear": lin,
        "tanh": tanh,
        "decay": decay,
    }


def _summary_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from dlnkit.claims.paper_2602_runs import REPORTED_RATIO_LINEAR, REPORTED_RATIO_TANH

    rows = []
    for r in runs:
        L, lin, tanh = r["depth"], r["linear"], r["tanh"]
        rows.append(
            {
                "depth": L,
                "seed": r["seed"],
                "dtype": r["dtype"],
                "steps": r["steps"],
                "linear_count": lin["splits"]["count"]["ratio"],
                "linear_adaptive": lin["splits"]["adaptive"]["ratio"],
                "linear_adaptive_clusters": [
                    lin["splits"]["adaptive"]["counts"]["dominant"],
                    lin["splits"]["adaptive"]["counts"]["bulk"],
                ],
                "linear_flags": lin["splits"]["flags"],
                "linear_formula_count": lin["formula_splits"]["count"]["ratio"],
                "weyl_delta": lin["res_norm"] + lin["gn_formula_deviation"] + lin["eig_rounding"],
                "linear_flow_prediction_count": r["decay"]["count_ratio_flow"],
                "extra_mode_sizes": lin["mode_sizes"][5:],
                "extra_mode_sizes_flow": r["decay"]["flow"],
                "tanh_count": tanh["splits"]["count"]["ratio"],
                "tanh_adaptive": tanh["splits"]["adaptive"]["ratio"],
                "tanh_adaptive_clusters": [
                    tanh["splits"]["adaptive"]["counts"]["dominant"],
                    tanh["splits"]["adaptive"]["counts"]["bulk"],
                ],
                "tanh_flags": tanh["splits"]["flags"],
                "linear_final_loss": lin["final_loss"],
                "tanh_final_loss": tanh["final_loss"],
                "reported_linear": REPORTED_RATIO_LINEAR.get(L),
                "reported_tanh": REPORTED_RATIO_TANH.get(L),
            }
        )
    return rows


def steps_needed_table(depths: list[int], seed: int, steps: int) -> list[dict[str, Any]]:
    """For each depth: heavy-ball steps (decay law from the init; count split, and the adaptive rule
    applied to the formula's spectrum) to reach the paper's reported linear value (the lower end of
    its two-decimal rounding), and (count split) to come within 1 % of L."""
    from dlnkit.claims.paper_2602_runs import REPORTED_RATIO_LINEAR, decay_prediction, steps_needed

    out = []
    for L in depths:
        rep = REPORTED_RATIO_LINEAR.get(L)
        need_rep = steps_needed(L, rep - 0.005, seed) if rep is not None else math.nan
        need_rep_adaptive = steps_needed(L, rep - 0.005, seed, split="adaptive") if rep is not None else math.nan
        need_1pc = steps_needed(L, 0.99 * L, seed)
        out.append(
            {
                "depth": L,
                "reported_linear": rep,
                "predicted_at_steps": decay_prediction(L, steps, seed)["count_ratio_flow"],
                "steps_to_reported": need_rep,
                "steps_to_reported_adaptive_split": need_rep_adaptive,
                "reported_reachable_at_steps": bool(need_rep <= steps + 1) if rep is not None else None,
                "steps_to_within_1pc_of_L": need_1pc,
            }
        )
    return out


def _figure(path: Path, rows: list[dict[str, Any]], depths: list[int], steps: int, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlnkit.claims.paper_2602_runs import REPORTED_RATIO_LINEAR, REPORTED_RATIO_TANH, decay_prediction
    from dlnkit.records.outputs import atomic_output

    fig, ax = plt.subplots(figsize=(10, 5))
    grid = np.arange(2, max(depths) + 1) if depths else np.arange(2, 8)
    ax.plot(grid, grid, "k-", lw=1, label="y = L (limit of training)")
    curve = [decay_prediction(int(L), steps, seed)["count_ratio_flow"] for L in grid]
    ax.plot(grid, curve, "C0--", lw=1.5, label=f"prediction at {steps} steps (decay law, counts)")

    def pts(key: str) -> tuple[list[int], list[float]]:
        sel = [r for r in rows if math.isfinite(r[key])]
        return [r["depth"] for r in sel], [r[key] for r in sel]

    top = max([max(grid)] + [v for r in rows for v in (r["linear_count"], r["tanh_count"]) if math.isfinite(v)])
    ceiling = top * 1.15
    for key, style, label in (
        ("linear_count", "C0o", "linear, count split (ours)"),
        ("linear_adaptive", "C0^", "linear, adaptive split (ours)"),
        ("tanh_count", "C3o", "tanh, count split (ours)"),
        ("tanh_adaptive", "C3^", "tanh, adaptive split (ours)"),
    ):
        x, y = pts(key)
        shown = [min(v, ceiling * 0.97) for v in y]  # off-scale values sit at the top, labelled
        ax.plot(x, shown, style, mfc="none" if "adaptive" in key else None, ms=7, ls="none", label=label)
        for xi, v in zip(x, y):
            if v > ceiling * 0.97:
                ax.annotate(f"{v:.1f}", (xi, ceiling * 0.97), textcoords="offset points", xytext=(6, -4), fontsize=7)
    ax.plot(
        list(REPORTED_RATIO_LINEAR),
        list(REPORTED_RATIO_LINEAR.values()),
        "C0x",
        ms=9,
        ls="none",
        label="linear (reported)",
    )
    ax.plot(
        list(REPORTED_RATIO_TANH), list(REPORTED_RATIO_TANH.values()), "C3x", ms=9, ls="none", label="tanh (reported)"
    )
    ax.set_ylim(0, ceiling)
    ax.set_xlabel("depth L")
    ax.set_ylabel("mean(dominant) / mean(bulk)")
    ax.set_title(f"arXiv:2602.00545 setup as its code runs it, {steps} steps")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    ax.grid(alpha=0.3)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def run(args) -> int:
    from dlnkit.claims.paper_2602_runs import REPORTED_RATIO_LINEAR, REPORTED_RATIO_TANH
    from dlnkit.records.outputs import atomic_write_json

    if args.paper not in PAPERS:
        raise DlnkitInputError(f"no reproduction for {args.paper!r}; known: {', '.join(PAPERS)}")
    if args.paper == "2606.02596":  # the curvature census: dlnkit.engines.census_reproduce
        from dlnkit.engines.census_reproduce import run as run_census

        return int(run_census(args))
    depths = parse_int_list(args.depths, "--depths")
    if not depths or any(not 2 <= L <= 7 for L in depths):
        raise DlnkitInputError(f"--depths must be integers in 2..7 (the paper's range), got {args.depths!r}")
    seeds = parse_int_list(args.seeds, "--seeds")
    if not seeds or any(s < 0 for s in seeds):
        raise DlnkitInputError(f"--seeds must be non-negative integers, got {args.seeds!r}")
    check_seeds(seeds)
    if args.steps < 0:
        raise DlnkitInputError(f"--steps must be >= 0, got {args.steps}")
    check_training_record(args.steps, runs=2)  # the loss record grows with --steps: refused before training
    out = Path(args.out or "reproduce-2602.00545").expanduser()
    jobs = [(L, s) for s in seeds for L in depths]
    run_files = [out / RUNS_DIR / f"L{L}_seed{s}_{args.dtype}_steps{args.steps}.json" for L, s in jobs]
    _check_paths(out, run_files, args.force)

    runs = []
    bar = tqdm(jobs, desc="reproduce 2602.00545", disable=args.quiet, file=sys.stderr)
    for (L, s), path in zip(bar, run_files):
        bar.set_postfix(depth=L, seed=s)
        old = _ours(path) if path.exists() else None
        if old is not None and (old.get("depth"), old.get("seed"), old.get("dtype"), old.get("steps")) == (
            L,
            s,
            args.dtype,
            args.steps,
        ):
            runs.append(old)  # resumed: finished in an earlier run
            continue
        rec = _run_one(L, s, args.dtype, args.steps)
        atomic_write_json(path, rec)
        runs.append(rec)
    bar.close()

    rows = _summary_rows(runs)
    table = steps_needed_table(depths, seeds[0], args.steps)
    record = {
        "written_by": WRITER,
        "paper": "arXiv:2602.00545",
        "figure": FIGURE_NAME,
        "options": {"depths": depths, "steps": args.steps, "dtype": args.dtype, "seeds": seeds},
        "setup": "X = I16, dims 16-32..-10, loss 0.5*sum, balanced rank-10 init from A = 0.1 randn(10,16) "
        "(NumPy seed), target U[:, :5] V[:, :5]^T, tanh after every layer (tanh runs), SGD lr 0.01 "
        "momentum 0.9, steps + 1 updates before the recorded Hessian, exact Hessian",
        "reported": {
            "linear": REPORTED_RATIO_LINEAR,
            "tanh": REPORTED_RATIO_TANH,
            "note": "the paper's figure values, shown beside ours; never expected values",
        },
        "rows": rows,
        "steps_needed": table,
        "runs": [str(p.relative_to(out)) for p in run_files],
    }
    atomic_write_json(out / RECORD_NAME, record)
    _figure(out / FIGURE_NAME, rows, depths, args.steps, seeds[0])
    print(
        f"{'L':>2} {'seed':>6} {'lin count':>10} {'lin adapt':>10} {'(dom/bulk)':>10} {'predicted':>10} "
        f"{'reported':>9} | {'tanh count':>10} {'tanh adapt':>10} {'reported':>9}"
    )
    for r in rows:
        fmt = lambda v: f"{v:.4f}" if v is not None and math.isfinite(v) else "-"
        print(
            f"{r['depth']:>2} {r['seed']:>6} {fmt(r['linear_count']):>10} {fmt(r['linear_adaptive']):>10} "
            f"{str(tuple(r['linear_adaptive_clusters'])):>10} {fmt(r['linear_formula_count']):>10} "
            f"{fmt(r['reported_linear']):>9} | {fmt(r['tanh_count']):>10} {fmt(r['tanh_adaptive']):>10} "
            f"{fmt(r['reported_tanh']):>9}"
        )
    print("steps needed (decay law; count split) to reach the reported linear value:")
    for t in table:
        print(
            f"  L = {t['depth']}: reported {t['reported_linear']}, {t['steps_to_reported']:.3g} steps "
            f"(adaptive split {t['steps_to_reported_adaptive_split']:.3g}; "
            f"{'reachable' if t['reported_reachable_at_steps'] else 'not reachable'} at {args.steps})"
        )
    print(f"wrote {out / RECORD_NAME} and {out / FIGURE_NAME}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run a paper's experiments: 2602.00545 in its own setup; 2606.02596 as our own census (different setup)",
    )
    p.add_argument("paper", help="arXiv id: 2602.00545 or 2606.02596")
    p.add_argument("--depths", default="2,3,4,5,6,7", help="depths L, comma-separated (2..7; default all)")
    p.add_argument(
        "--steps",
        type=nonnegative_int,
        default=10_000,
        help="the paper's step index of the recorded Hessian (default 10000; its loop updates steps + 1 times)",
    )
    p.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="training and Hessian precision (the paper's code uses float32)",
    )
    p.add_argument("--seeds", default="12138", help="NumPy seeds of the init, comma-separated (12138 is the paper's)")
    p.add_argument("--out", default=None, help="output folder (default reproduce-<paper id>)")
    p.add_argument(
        "--full",
        action="store_true",
        help="2606.02596: the whole census (9 models, five families, three data sets) instead of the quick set",
    )
    p.add_argument("--force", action="store_true", help="replace files in --out that dlnkit did not write")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
