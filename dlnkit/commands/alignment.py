"""``dlnkit alignment``: the per-layer alignment table of a trained zoo model (arXiv:2606.02596 A1-A5).

For each chosen Linear/Conv2d layer: alpha (log h on log sigma), gamma, s_dir, s_eig with their
R^2, alpha*gamma, the participation ratio of the h_k with the zeta bound at alpha*gamma, and the
decomposition slopes of Lambda, Phi, chi. ``--plot DIR`` saves log-log plots of h_k against
sigma_k with the fitted line. Models train once and are cached (``$DLNKIT_CACHE``).
"""

from __future__ import annotations

import sys

import torch

from dlnkit.commands._common import (
    int_arg,
    nonnegative_int,
    positive_int,
    refuse_flags_outside,
    remember_defaults,
    seed_arg,
)
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.records.alignment_tables import format_rows, plot_name, save_plots
from dlnkit.records.outputs import check_output_dir, check_output_file

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.

#: the paper's reported alpha ranges by layer type (display only, never an expected value)
REPORTED_ALPHA = {
    "conv": "~2",
    "mlp": "~2",
    "attention": "~1-1.5",
    "up_ln_residual": "<1 (some)",
    "softmax_head": ">2",
}


def layer_type(model_name: str, layer: str, kind: str, is_last: bool) -> str:
    """A coarse layer type used to look up the paper's reported alpha."""
    if is_last:
        return "softmax_head"
    if kind == "conv2d":
        return "conv"
    if model_name == "transformer":
        if layer.startswith("attn."):
            return "attention"
        if layer == "mlp.up":
            return "up_ln_residual"
        return "mlp"
    return "mlp"


def alignment_table(
    model_name: str,
    *,
    layers=None,
    k: int = 20,
    factors: str = "empirical",
    pairing: str = "index",
    samples: int = 256,
    eigen: bool = True,
    seed: int = 0,
    cache=None,
    progress=None,
):
    """Rows (dicts) of the per-layer table, and the reports, for a trained zoo model."""
    from dlnkit.numerics.alignment import analyse_layer, matrix_layers
    from dlnkit.numerics.zoo import analysis_batch, get_trained

    tm = get_trained(model_name, seed=seed, cache=cache)
    X, y = analysis_batch(tm, samples)
    names = list(matrix_layers(tm.model))
    chosen = names if not layers else list(layers)
    for name in chosen:
        if name not in names:
            raise DlnkitInputError(f"model {model_name!r} has no layer {name!r}; layers: {', '.join(names)}")
    rows, reports = [], []
    for name in chosen:
        if progress:
            progress(name)
        rep = analyse_layer(tm.model, name, X, y, k=k, factors=factors, pairing=pairing, eigen=eigen)
        row = rep.summary()
        ltype = layer_type(model_name, name, rep.kind, name == names[-1])
        row.update({"type": ltype, "reported_alpha": REPORTED_ALPHA[ltype] + " (reported)", "model": model_name})
        rows.append(row)
        reports.append(rep)
    return rows, reports, tm


def run(args) -> int:
    from dlnkit.commands.user_model import is_user_model
    from dlnkit.numerics.zoo import check_model_data
    from dlnkit.records.report import write_json_atomic

    # the options and output paths are checked before any model is built or trained (zoo or user)
    if args.k < 2:
        raise DlnkitInputError(f"--k must be >= 2, got {args.k}")
    if args.samples < 1:
        raise DlnkitInputError(f"--samples must be >= 1, got {args.samples}")
    from dlnkit.commands._common import check_threads

    check_threads(args.threads)  # a bound from the CPUs: torch.set_num_threads(10**6) crashes
    json_path = check_output_file(args.json, overwrite=args.force, what="--json") if args.json else None
    plot_dir = check_output_dir(args.plot, what="--plot") if args.plot else None
    if is_user_model(args.model):  # package.module:factory with --weights/--data/--loss
        from dlnkit.commands.user_alignment import run_user_alignment

        return run_user_alignment(args, json_path, plot_dir)
    refuse_flags_outside(args, "user", f"with the zoo model {args.model!r} (they are for a user model)")
    check_model_data(args.model, args.data)
    from dlnkit.numerics.alignment import matrix_layers
    from dlnkit.numerics.zoo import build_model

    known = list(matrix_layers(build_model(args.model)))  # an untrained copy: names only, before any training
    names = [x for x in args.layers.split(",") if x] if args.layers else known
    for name in names:
        if name not in known:
            raise DlnkitInputError(f"model {args.model!r} has no layer {name!r}; layers: {', '.join(known)}")
        if plot_dir is not None:
            check_output_file(plot_dir / plot_name(args.model, name), overwrite=args.force, what="--plot file")
    if args.threads:
        torch.set_num_threads(args.threads)
    layers = [x for x in args.layers.split(",") if x] if args.layers else None
    say = (lambda n: print(f"analysing {n} ...", file=sys.stderr)) if not args.quiet else None
    rows, reports, tm = alignment_table(
        args.model,
        layers=layers,
        k=args.k,
        factors=args.factors,
        pairing=args.pairing,
        samples=args.samples,
        eigen=not args.no_eigen,
        seed=args.seed,
        progress=say,
    )
    print(
        f"model {args.model} on {tm.data.name}: test accuracy {tm.info.get('test_accuracy', float('nan')):.3f} "
        f"({'cached' if tm.from_cache else 'trained now'}; {args.samples} samples; factors={args.factors}, "
        f"pairing={args.pairing})"
    )
    print(format_rows(rows))
    if json_path is not None:  # the numbers first: a plotting failure must not lose them
        write_json_atomic(json_path, {"model": args.model, "info": tm.info, "rows": rows})
    if plot_dir is not None:
        for p in save_plots(reports, plot_dir, args.model):
            print(f"saved {p}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("alignment", help="per-layer alignment table (alpha, gamma, s_dir, s_eig, PR) of a zoo model")
    p.add_argument("--model", required=True, help="mlp, cnn, tanh or transformer, or package.module:factory")
    p.add_argument(
        "--data",
        default=None,
        help="digits (mlp, cnn, tanh) or tokens (transformer); default: the "
        "model's; for a user model a .pt/.npz file of inputs and targets",
    )
    p.add_argument("--layers", default="", help="comma-separated layer names (default: every Linear/Conv2d)")
    p.add_argument("--k", type=int_arg(2), default=20, help="top-k gradient directions (default 20)")
    p.add_argument("--factors", choices=["empirical", "gn"], default="empirical")
    p.add_argument("--pairing", choices=["index", "overlap"], default="index")
    p.add_argument(
        "--samples",
        type=positive_int,
        default=256,
        help="examples the curvature is measured on (a user model: drawn from --data with --seed)",
    )
    p.add_argument("--batch-size", type=positive_int, default=256, help="user model: batch size of the streamed passes")
    p.add_argument(
        "--layer-types",
        default="",
        help="user model: name=type,... overriding the inferred layer types (attention_q/k/v/o, attention_qkv, "
        "mlp_up, mlp_down, conv, head, embedding, linear)",
    )
    p.add_argument("--no-eigen", action="store_true", help="skip the true eigenvalues (s_eig)")
    p.add_argument("--plot", metavar="DIR", help="save log-log plots of h_k vs sigma_k here")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument("--seed", type=seed_arg, default=0, help="training seed of the zoo model; a user model: sample draw")
    p.add_argument("--threads", type=nonnegative_int, default=0, help="torch threads (0: leave as is)")
    p.add_argument("--force", action="store_true", help="replace existing --json / --plot files")
    p.add_argument("-q", "--quiet", action="store_true")
    from dlnkit.commands.user_model import add_analysis_args, add_user_model_args

    add_user_model_args(p, with_data=False)
    add_analysis_args(p, device=True)
    remember_defaults(p, "user", ("batch_size", "layer_types", "weights", "loss", "reduction", "dtype", "device"))
    p.set_defaults(func=run)
