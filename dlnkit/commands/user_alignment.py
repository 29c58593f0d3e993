"""``dlnkit alignment --model package.module:factory --weights FILE --data FILE``: the per-layer
alignment table of a user's model on the user's data, in the zoo's format. There is no paper
value for a user's network, so the "reported" column says so."""

from __future__ import annotations

import sys
from pathlib import Path

from dlnkit.numerics.validation import DlnkitInputError


def run_user_alignment(args, json_path: Path | None, plot_dir: Path | None) -> int:
    """``dlnkit alignment --model pkg.mod:factory``; the options and the output paths (``json_path``,
    ``plot_dir``) were checked by :func:`dlnkit.commands.alignment.run` before this is called."""
    import torch

    from dlnkit.commands.user_model import load_user_problem
    from dlnkit.numerics.alignment import analyse_layer, matrix_layers
    from dlnkit.records.alignment_tables import format_rows, plot_name, save_plots
    from dlnkit.records.outputs import atomic_write_json, check_output_file

    model, X, y, loss = load_user_problem(args)
    tag = args.model.rpartition(":")[2] or "model"
    known = list(matrix_layers(model))
    if not known:
        raise DlnkitInputError(f"--model {args.model}: no nn.Linear / nn.Conv2d layer to analyse")
    names = [x for x in args.layers.split(",") if x] if args.layers else known
    for name in names:
        if name not in known:
            raise DlnkitInputError(f"the model has no Linear/Conv2d layer {name!r}; layers: {', '.join(known)}")
        if plot_dir is not None:
            check_output_file(plot_dir / plot_name(tag, name), overwrite=args.force, what="--plot file")
    if args.threads:
        torch.set_num_threads(args.threads)
    n = min(int(args.samples), int(X.shape[0]))
    rows, reports = [], []
    for name in names:
        if not args.quiet:
            print(f"analysing {name} ...", file=sys.stderr)
        rep = analyse_layer(
            model,
            name,
            X[:n],
            y[:n],
            loss=loss,
            k=args.k,
            factors=args.factors,
            pairing=args.pairing,
            eigen=not args.no_eigen,
        )
        row = rep.summary()
        kind = "conv" if rep.kind == "conv2d" else ("head" if name == known[-1] else "linear")
        row.update({"type": kind, "reported_alpha": "- (user model)", "model": args.model})
        rows.append(row)
        reports.append(rep)
    print(
        f"model {args.model} on {args.data}: {n} samples; loss {type(loss).__name__}({loss.reduction}); "
        f"factors={args.factors}, pairing={args.pairing}"
    )
    print(format_rows(rows))
    if json_path is not None:
        atomic_write_json(json_path, {"model": args.model, "data": args.data, "samples": n, "rows": rows})
    if plot_dir is not None:
        for p in save_plots(reports, plot_dir, tag):
            print(f"saved {p}")
    return 0
