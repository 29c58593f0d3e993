"""``dlnkit spectrum``: the Hessian spectrum at a balanced aligned global minimum, measured and
predicted, split into dominant / bulk / zero clusters; optionally plotted."""

from __future__ import annotations

import math

import numpy as np

from dlnkit.commands._common import (
    add_device_arg,
    float_arg,
    parse_float_list,
    parse_int_list,
    positive_int,
    refuse_flags_outside,
    remember_defaults,
    seed_arg,
)
from dlnkit.numerics.device import resolve_device
from dlnkit.numerics.dims import num_params
from dlnkit.numerics.memory import check_allocation, dense_spectrum_bytes, dln_point_bytes
from dlnkit.numerics.spectra import split_by_counts, split_by_gaps
from dlnkit.numerics.validation import DlnkitInputError, check_rank, check_target_scale
from dlnkit.records.outputs import atomic_output, check_plot_file

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def run(args) -> int:
    from dlnkit.claims import get_claim

    if getattr(args, "model", None):  # a zoo or user model over its data set (dlnkit.commands.model_spectrum)
        if args.dims:
            raise DlnkitInputError("give either --dims (a DLN minimum) or --model (a network on its data), not both")
        from dlnkit.commands.user_model import is_user_model

        refuse_flags_outside(args, "dln", "with --model (they set the DLN minimum of --dims)")
        if not is_user_model(args.model):
            refuse_flags_outside(args, "user", f"with the zoo model {args.model!r} (they are for a user model)")
        from dlnkit.commands.model_spectrum import run_model_spectrum

        return run_model_spectrum(args)
    if not args.dims:
        raise DlnkitInputError("give --dims (a DLN minimum) or --model (a zoo model or package.module:factory)")
    refuse_flags_outside(args, "model", "without --model (the DLN minimum of --dims has its own spectrum)")
    dims = parse_int_list(args.dims, "dims")
    if args.t is not None:
        t = parse_float_list(args.t, "--t")
        if args.rank is not None and args.rank != len(t):
            raise DlnkitInputError(f"--rank {args.rank} disagrees with the {len(t)} values given in --t")
    else:
        if args.rank is None:
            raise DlnkitInputError("give --rank or the target singular values --t")
        m, L = float(args.m), len(dims) - 1
        if not (math.isfinite(m) and m > 0):
            raise DlnkitInputError(f"--m must be a positive finite number, got {args.m}")
        if L * math.log10(m) > 150:  # m^L, and the Hessian's eigenvalues ~ m^(2L), must stay within float64
            raise DlnkitInputError(
                f"--m {args.m} at depth {L}: the target singular values m^L = 10^{L * math.log10(m):.0f} "
                "overflow float64 arithmetic; lower --m or the depth"
            )
        t = [m**L] * int(args.rank)
    if any(x <= 0 for x in t):
        raise DlnkitInputError(f"target singular values must be positive, got {t}")
    t = check_target_scale(t, len(dims) - 1)
    r = check_rank(len(t), dims)
    plot_path = check_plot_file(args.plot, overwrite=args.force, what="--plot") if args.plot else None
    n_params = num_params(dims)
    # the whole plan before anything is built: the point, the P x P Hessian and eigvalsh's copy
    check_allocation(
        dense_spectrum_bytes(n_params) + dln_point_bytes(dims, max(2 * dims[0], 8), r),
        f"the dense spectrum of a network with P = {n_params} weights",
        resolve_device(args.device),
        hint="use smaller --dims (the dominant/bulk clusters need only the Kronecker forms: "
        "dlnkit.numerics.dln_gauss_newton_nonzero_spectrum)",
    )
    # claim B1 is both sides: the prediction (SymPy groups) and the measurement (exact Hessian spectrum)
    result = get_claim("B1").check({"dims": dims, "t": t, "seed": args.seed}, device=args.device)
    if result.status == "ERROR":
        raise DlnkitInputError(f"cannot compute the spectrum: {result.message}")
    pred, measured = result.values
    n_dom, n_bulk = pred["counts"]["dominant"], pred["counts"]["bulk"]
    by_counts = split_by_counts(measured, n_dom, n_bulk)
    by_gaps = split_by_gaps(measured)
    err = float(np.max(np.abs(measured - pred["all"])))
    print(f"dims {dims}  depth L = {len(dims) - 1}  rank r = {r}  P = {len(measured)}  device {result.device}")
    print(f"target singular values t = {', '.join(f'{x:g}' for x in t)}")
    print(f"{'cluster':<10}{'count':>7}{'mean (measured)':>18}{'mean (predicted)':>18}")
    pred_split = split_by_counts(pred["all"], n_dom, n_bulk)
    for name, meas_c, pred_c in (
        ("dominant", by_counts.dominant, pred_split.dominant),
        ("bulk", by_counts.bulk, pred_split.bulk),
        ("zero", by_counts.zero, pred_split.zero),
    ):
        mm = np.mean(meas_c) if len(meas_c) else float("nan")
        pm = np.mean(pred_c) if len(pred_c) else float("nan")
        print(f"{name:<10}{len(meas_c):>7}{mm:>18.10g}{pm:>18.10g}")
    print(f"ratio mean(dominant)/mean(bulk): measured {by_counts.ratio:.10g}, predicted {pred_split.ratio:.10g}")
    print(f"gap-based split (no theory): {by_gaps.counts}, ratio {by_gaps.ratio:.6g}")
    print(
        f"max |measured - predicted| eigenvalue = {err:.3e} (claim B1: {result.status}, relative error "
        f"{result.error:.2e}, bound {result.bound:.0e})"
    )
    if plot_path is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        k = np.arange(1, len(measured) + 1)
        floor = 1e-16 * max(1.0, float(np.max(np.abs(measured))))
        ax.semilogy(k, np.maximum(np.abs(measured), floor), "o", ms=3, label="measured |eigenvalue| (exact Hessian)")
        ax.semilogy(k, np.maximum(pred["all"], floor), "-", lw=1.2, label="predicted (SymPy, B1)")
        ax.axvline(n_dom + 0.5, color="gray", ls=":", lw=1)
        ax.axvline(n_dom + n_bulk + 0.5, color="gray", ls=":", lw=1)
        ax.set_xlabel("eigenvalue index (descending)")
        ax.set_ylabel("eigenvalue")
        ax.set_title(f"Hessian spectrum at a balanced aligned minimum, dims {dims}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_output(plot_path) as tmp:
            fig.savefig(tmp, dpi=120, format=plot_path.suffix.lower().lstrip("."))
        plt.close(fig)
        print(f"plot written to {plot_path}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("spectrum", help="Hessian spectrum at a balanced aligned minimum vs the B1 prediction")
    p.add_argument("--dims", help="widths d_in,d_1,...,d_out, e.g. 16,32,32,10")
    p.add_argument("--rank", type=positive_int, help="target rank r (target singular values all m^L)")
    p.add_argument("--m", type=float_arg(), default=1.0, help="per-layer singular value when --t is not given")
    p.add_argument("--t", help="target singular values, comma-separated (sets the rank)")
    p.add_argument("--seed", type=seed_arg, default=0)
    p.add_argument("--plot", metavar="PNG", help="save a plot of measured vs predicted eigenvalues")
    p.add_argument("--force", action="store_true", help="replace an existing --plot file")
    add_device_arg(p)
    from dlnkit.commands.model_spectrum import add_model_spectrum_args
    from dlnkit.commands.user_model import add_user_model_args

    add_model_spectrum_args(p)
    add_user_model_args(p, with_data=False)
    p.set_defaults(func=run)
    remember_defaults(p, "dln", ("rank", "m", "t"))
    remember_defaults(p, "user", ("weights", "loss", "reduction"))
    remember_defaults(
        p,
        "model",
        ("data", "kind", "top", "probes", "steps", "trace_products", "batch_size", "per_layer", "json", "dtype")
        + ("weights", "loss", "reduction"),
    )
