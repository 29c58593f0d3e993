"""``dlnkit alignment --model package.module:factory --weights FILE --data FILE``: the per-layer
alignment table of a user's model on the user's data, in the zoo's format. There is no paper
value for a user's network, so the "reported" column says so.

The analysis runs on a copy of the model in ``--dtype`` (float64 by default) on ``--device``, over
``--samples`` rows drawn with ``--seed`` from the data file and streamed in batches of
``--batch-size`` (:func:`dlnkit.numerics.model_alignment.analyse_model_layers`). A layer that cannot
be analysed is a row with the reason; batch-coupled models are refused (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def draw_samples(n_total: int, samples: int, seed: int):
    """Indices of ``samples`` rows out of ``n_total`` drawn without replacement with ``seed`` (all rows,
    in order, when ``samples >= n_total``)."""
    if samples >= n_total:
        return torch.arange(n_total)
    g = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n_total, generator=g)[:samples].sort().values


def run_user_alignment(args, json_path: Path | None, plot_dir: Path | None) -> int:
    """``dlnkit alignment --model pkg.mod:factory``; the options and the output paths (``json_path``,
    ``plot_dir``) were checked by :func:`dlnkit.commands.alignment.run` before this is called."""
    from dlnkit.commands.user_model import load_user_problem, resolve_analysis_device
    from dlnkit.numerics.layer_views import model_layers, parse_layer_types
    from dlnkit.numerics.model_alignment import analyse_model_layers
    from dlnkit.records.alignment_tables import format_rows, plot_name, save_plots
    from dlnkit.records.outputs import atomic_write_json, check_output_file

    dtype = getattr(args, "dtype", "float64") or "float64"
    device = resolve_analysis_device(getattr(args, "device", "cpu"))
    bs = int(getattr(args, "batch_size", 256) or 256)
    if bs < 1:
        raise DlnkitInputError(f"--batch-size must be >= 1, got {bs}")
    types = parse_layer_types(getattr(args, "layer_types", "") or "")
    model, X, y, loss = load_user_problem(args)
    tag = args.model.rpartition(":")[2] or "model"
    known = [v.name for v in model_layers(model)]
    if not known:
        raise DlnkitInputError(f"--model {args.model}: no matrix layer (Linear, Conv1d/2d/3d, attention, Embedding)")
    names = [x for x in args.layers.split(",") if x] if args.layers else known
    for name in names:
        if name not in known:
            raise DlnkitInputError(f"the model has no matrix layer {name!r}; layers: {', '.join(known)}")
        if plot_dir is not None:
            check_output_file(plot_dir / plot_name(tag, name), overwrite=args.force, what="--plot file")
    if args.threads:
        torch.set_num_threads(args.threads)
    idx = draw_samples(int(X.shape[0]), int(args.samples), args.seed)
    Xs, ys = X[idx], y[idx]
    loader = [(Xs[i : i + bs], ys[i : i + bs]) for i in range(0, int(Xs.shape[0]), bs)]
    say = (lambda n: print(f"analysing {n} ...", file=sys.stderr)) if not args.quiet else None
    res = analyse_model_layers(
        model,
        loader,
        loss,
        layers=names,
        layer_types=types,
        k=args.k,
        factors=args.factors,
        pairing=args.pairing,
        eigen=not args.no_eigen,
        dtype=dtype,
        device=device,
        seed=args.seed,
        progress=say,
    )
    for row in res.rows:
        row.update({"reported_alpha": "- (user model)", "model": args.model})
    n = len(idx)
    print(
        f"model {args.model} on {args.data}: {n} of {int(X.shape[0])} samples (seed {args.seed}) in "
        f"{len(loader)} batches of <= {bs}; loss {type(loss).__name__}({loss.reduction}); analysis dtype "
        f"{res.meta['dtype']} on {res.meta['device']}; factors={args.factors}, pairing={args.pairing}; "
        "intervals: 95% pairs bootstrap over each fit window"
    )
    print(format_rows(res.rows))
    for row in res.rows:
        if "error" in row:
            print(f"  {row['layer']}: not analysed: {row['error']}")
        elif row.get("factor_note"):
            print(f"  {row['layer']}: {row['factor_note']}")
    for pname, why in res.skipped:
        print(f"  parameter {pname}: not analysed: {why}")
    if json_path is not None:
        atomic_write_json(
            json_path,
            {
                "model": args.model,
                "data": args.data,
                "samples": n,
                "seed": args.seed,
                "batch_size": bs,
                **res.to_dict(),
            },
        )
    if plot_dir is not None:
        for p in save_plots(list(res.reports.values()), plot_dir, tag):
            print(f"saved {p}")
    return 0
