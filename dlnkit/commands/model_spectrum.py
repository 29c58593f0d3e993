"""``dlnkit spectrum --model ...``: top eigenvalues, trace and spectral density (SLQ) of the Hessian
(or GGN) of a zoo model on its training set or of a user model on ``--data``, over the whole data
set in batches of ``--batch-size``; per-layer blocks with ``--per-layer``."""

from __future__ import annotations

import sys
import time
from typing import Any

from torch import nn

from dlnkit.commands._common import positive_int
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: the functions below import their engines, torch and matplotlib when the
# subcommand runs, so that `dlnkit --help` and the other subcommands do not load them.


def model_problem(args) -> tuple[Any, Any, Any, Any, str]:
    """(model, X, y, loss, description) for a zoo name or a user model."""
    from dlnkit.commands.user_model import is_user_model, load_user_problem

    if is_user_model(args.model):
        model, X, y, loss = load_user_problem(args)
        return model, X, y, loss, args.model

    from dlnkit.numerics.zoo import check_model_data, get_trained

    check_model_data(args.model, args.data)
    tm = get_trained(args.model)
    tm.model.eval()
    return tm.model, tm.data.X_train, tm.data.y_train, nn.CrossEntropyLoss(), f"zoo {args.model} on {tm.data.name}"


def spectrum_report(curv, *, top: int, probes: int, steps: int, kind: str, trace_products: int, seed: int = 0) -> dict:
    t0 = time.perf_counter()
    res = curv.top_eigenvalues(top, kind, tol=1e-8, max_iters=min(300, curv.num_params), seed=seed)
    t1 = time.perf_counter()
    tr = curv.trace(kind, method="hutchpp", num_matvecs=trace_products, seed=seed)
    t2 = time.perf_counter()
    dens = curv.density(kind, num_probes=probes, num_steps=steps, seed=seed)
    t3 = time.perf_counter()
    x, w = dens.atoms()
    return {
        "top": [float(v) for v in res.eigenvalues],
        "top_residuals": [float(v) for v in res.residuals],
        "top_converged": bool(res.converged),
        "top_multiplicities": list(res.multiplicities),
        "top_products": res.num_hvps,
        "top_s": t1 - t0,
        "trace": tr.trace,
        "trace_products": tr.num_matvecs,
        "trace_s": t2 - t1,
        "slq_nodes": dens.nodes.tolist(),
        "slq_weights": dens.weights.tolist(),
        "slq_products": dens.num_matvecs,
        "slq_s": t3 - t2,
        "negative_mass": float(w[x < -1e-3 * abs(x).max()].sum()),
        "near_zero_mass": float(w[abs(x) <= 1e-3 * abs(x).max()].sum()),
        "slq_min": float(x.min()),
        "slq_max": float(x.max()),
        "_density": dens,
    }


def spectrum_plan_bytes(num_params: int, *, probes: int, steps: int, trace_products: int, top: int) -> int:
    """Peak bytes of :func:`spectrum_report`'s routes whose size the user sets, the largest of:
    SLQ (the Rademacher start, built as int64 and converted: 3 x 8 bytes per entry, plus the
    kernel's Lanczos basis of ``probes`` groups x (``steps`` + 1) vectors), Hutch++ (its sketch,
    products and basis: about 2 x ``trace_products`` vectors) and the top-``top`` block Lanczos."""
    from dlnkit.numerics.lanczos import lanczos_basis_bytes
    from dlnkit.numerics.slq import slq_bytes

    P = int(num_params)
    slq = slq_bytes(P, probes, steps)
    hutchpp = 2 * 8 * P * trace_products
    top_k = lanczos_basis_bytes(P, 1, min(top, P), max(1, min(300, P) // max(1, min(top, P))))
    return max(slq, hutchpp, top_k)


def check_spectrum_plan(num_params: int, args, device) -> int:
    from dlnkit.numerics.memory import check_allocation

    return check_allocation(
        spectrum_plan_bytes(
            num_params, probes=args.probes, steps=args.steps, trace_products=args.trace_products, top=args.top
        ),
        f"the spectrum of a model with P = {num_params} parameters ({args.probes} probes x {args.steps} steps, "
        f"{args.trace_products} trace products, top {args.top})",
        device,
        hint="lower --probes, --steps, --trace-products or --top",
    )


def run_model_spectrum(args) -> int:

    from dlnkit.numerics.curvature import ModelCurvature
    from dlnkit.records.outputs import atomic_write_json, check_output_file, check_plot_file

    for name in ("top", "probes", "steps", "batch_size", "trace_products"):
        if getattr(args, name) < 1:
            raise DlnkitInputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    force = getattr(args, "force", False)
    plot = check_plot_file(args.plot, overwrite=force, what="--plot") if args.plot else None
    json_path = check_output_file(args.json, overwrite=force, what="--json") if getattr(args, "json", None) else None
    from dlnkit.commands.user_model import resolve_analysis_device
    from dlnkit.numerics.model_alignment import DTYPES, analysis_copy

    dev = resolve_analysis_device(args.device)
    dtype = DTYPES[getattr(args, "dtype", "float64") or "float64"]
    model, X, y, loss, desc = model_problem(args)
    model = analysis_copy(model, dtype, dev)  # a copy in the analysis dtype (float64 default) on the device
    bs = int(args.batch_size)
    loader = [(X[i : i + bs], y[i : i + bs]) for i in range(0, X.shape[0], bs)]
    curv = ModelCurvature(model, loss, loader, progress=not args.quiet and sys.stderr.isatty())
    lval, g = curv.loss_and_gradient()
    print(
        f"{desc}: P = {curv.num_params} parameters, N = {curv.num_samples} samples in {len(loader)} batches "
        f"(<= {bs}), loss {curv.loss.name}({curv.loss.reduction}) = {lval:.6g}, |grad| = {float(g.norm()):.3e}, "
        f"device {dev}, analysis dtype {str(dtype)[6:]}"
    )
    check_spectrum_plan(curv.num_params, args, dev)  # every buffer a user's number sizes, before any
    rep = spectrum_report(
        curv, top=args.top, probes=args.probes, steps=args.steps, kind=args.kind, trace_products=args.trace_products
    )
    dens = rep.pop("_density")
    print(
        f"top-{args.top} {args.kind} eigenvalues (Lanczos, {rep['top_products']} products, "
        f"{'converged' if rep['top_converged'] else 'NOT converged'}): " + ", ".join(f"{v:.6g}" for v in rep["top"])
    )
    print(f"trace (Hutch++, {rep['trace_products']} products): {rep['trace']:.6g}")
    print(
        f"density (SLQ, {args.probes} probes x {args.steps} steps): support [{rep['slq_min']:.4g}, "
        f"{rep['slq_max']:.4g}], mass below -1e-3 lambda_max {rep['negative_mass']:.3f}, within "
        f"+-1e-3 lambda_max of 0 {rep['near_zero_mass']:.3f}"
    )
    layers = {}
    if args.per_layer:
        print(f"{'layer':<16}{'params':>8}  top-3 block eigenvalues")
        for name in curv.layer_names():
            sub = curv.restricted([name] if name else [n for n in curv.names if "." not in n])
            k = min(3, sub.num_params)
            sub_res = sub.top_eigenvalues(k, args.kind, tol=1e-8, max_iters=min(200, sub.num_params))
            ev = sub_res.eigenvalues
            layers[name or "(root)"] = {
                "params": sub.num_params,
                "top": [float(v) for v in ev],
                "multiplicities": list(sub_res.multiplicities),
                "converged": bool(sub_res.converged),
            }
            print(f"{name or '(root)':<16}{sub.num_params:>8}  " + ", ".join(f"{v:.5g}" for v in ev))
    if json_path is not None:
        atomic_write_json(
            json_path,
            {
                "model": desc,
                "dtype": str(dtype)[6:],
                "device": str(dev),
                "num_params": curv.num_params,
                "num_samples": curv.num_samples,
                "loss": lval,
                "kind": args.kind,
                **rep,
                "layers": layers,
            },
        )
        print(f"wrote {json_path}")
    if plot is not None:
        from dlnkit.records.spectral_plots import plot_density

        plot_density(dens, plot, top=rep["top"], title=f"{args.kind} spectral density: {desc}")
        print(f"plot written to {plot}")
    return 0


def add_model_spectrum_args(p) -> None:
    p.add_argument(
        "--model",
        default=None,
        help="a zoo model (mlp, cnn, tanh, transformer) or package.module:factory: its Hessian spectrum "
        "over the data set instead of a DLN minimum",
    )
    p.add_argument("--data", default=None, help="with --model: a .pt/.npz file (user model) or the zoo data name")
    p.add_argument("--kind", choices=["hessian", "ggn", "ef"], default="hessian", help="with --model: the matrix")
    p.add_argument("--top", type=positive_int, default=5, help="with --model: top eigenvalues (Lanczos)")
    p.add_argument("--probes", type=positive_int, default=8, help="with --model: SLQ probe vectors")
    p.add_argument("--steps", type=positive_int, default=60, help="with --model: Lanczos steps per SLQ probe")
    p.add_argument(
        "--trace-products", type=positive_int, default=60, help="with --model: Hutch++ products for the trace"
    )
    p.add_argument(
        "--batch-size", type=positive_int, default=256, help="with --model: batch size of the data-set passes"
    )
    p.add_argument("--per-layer", action="store_true", help="with --model: top eigenvalues of each layer's block")
    p.add_argument("--json", metavar="PATH", help="with --model: write the numbers as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    from dlnkit.commands.user_model import add_analysis_args

    add_analysis_args(p, device=False)
