"""``python -m benchmarks.real_networks``: data-set-level curvature of a real network, dlnkit vs PyHessian,
SLQ accuracy on DLNs against the exact spectrum, and Hutch++ vs Hutchinson at equal budget.

Writes ``benchmarks/results/real-networks-<device>-<UTC stamp>.json`` (and prints a summary):

1. ``slq_dln``: SLQ on the Hessian of a DLN at a balanced minimum (dims 16,32,32,10, t = 3,2,1.5,1,0.5;
   P = 1856) against its exact spectrum with multiplicities (SymPy's B1 groups): W1 distance over
   lambda_max and the top node's relative error, for Lanczos steps x probes.
2. ``pyhessian``: the zoo MLP (P = 3466) on all 1,497 digits training images through a DataLoader of
   batch 256 (ragged last batch of 217). Reference: the dense data-set Hessian (dlnkit, checked
   against curvlinops in tests) and its eigvalsh. Top-5 eigenvalues: dlnkit Lanczos (full
   re-orthogonalisation, residual tol) vs PyHessian's power iteration with deflation (tol); density:
   dlnkit SLQ vs PyHessian SLQ with the same probes x steps; accuracy, data-set HVP count and time.
   Both in float64 (PyHessian draws in the default dtype, set to float64).
3. ``trace``: Hutch++ vs Hutchinson on the same MLP Hessian at budgets of 30, 60, 120 products,
   40 seeds each: bias, standard deviation, mean relative error (the dense H applies the products;
   the estimators' variance depends on H only).

4. ``alignment_cost`` and 5. ``large_model``: see :mod:`benchmarks.real_network_sections` (alignment vs the
   bare double-backward loop, s_eig cost, streaming memory; a 10^6-parameter MLP vs PyHessian and
   curvlinops). ``--part`` runs one section (``slq``, ``pyhessian``, ``alignment``, ``large``).

Timings are wall-clock on the machine named in ``machine``; compare ratios within one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from dlnkit.records.outputs import atomic_write_text, check_output_file

HERE = Path(__file__).resolve().parent


def slq_dln(quick: bool) -> dict:
    from dlnkit.numerics.dln import DeepLinearNetwork
    from dlnkit.numerics.dln_hessian import dln_hessian_closed_form
    from dlnkit.numerics.slq import slq
    from dlnkit.theory import balanced_minimum_spectrum_numeric

    dims, t = [16, 32, 32, 10], [3.0, 2.0, 1.5, 1.0, 0.5]
    net, M = DeepLinearNetwork.balanced_minimum(dims, t, dtype=torch.float64, device="cpu")
    H = dln_hessian_closed_form([W.detach() for W in net.weight_list()], target=M)
    exact = np.sort(balanced_minimum_spectrum_numeric(dims, t)["all"])
    measured = torch.linalg.eigvalsh(H).numpy()
    lam = float(exact[-1])
    rows = []
    for steps in [10, 20, 40] if quick else [10, 20, 40, 80]:
        for probes in [1, 4] if quick else [1, 4, 16]:
            w1s, tops = [], []
            for seed in range(3 if quick else 5):
                res = slq(lambda V: H @ V, H.shape[0], num_probes=probes, num_steps=steps, seed=seed)
                w1s.append(res.wasserstein_to(exact) / lam)
                tops.append(abs(res.top() - lam) / lam)
            rows.append(
                {
                    "steps": steps,
                    "probes": probes,
                    "matvecs": steps * probes,
                    "w1_over_lambda_max_mean": float(np.mean(w1s)),
                    "w1_over_lambda_max_max": float(np.max(w1s)),
                    "top_rel_error_max": float(np.max(tops)),
                }
            )
    return {
        "dims": dims,
        "t": t,
        "P": int(H.shape[0]),
        "lambda_max": lam,
        "closed_form_vs_B1_max_abs": float(np.abs(np.sort(measured) - exact).max()),
        "rows": rows,
    }


def digits_mlp():
    from dlnkit.numerics.zoo import get_trained

    tm = get_trained("mlp")
    model = tm.model.eval()
    X, y = tm.data.X_train, tm.data.y_train
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=256)
    return model, loader, X, y


def pyhessian_comparison(quick: bool) -> tuple[dict, torch.Tensor]:
    from dlnkit.numerics.curvature import ModelCurvature

    model, loader, X, y = digits_mlp()
    loss = torch.nn.CrossEntropyLoss()
    curv = ModelCurvature(model, loss, loader)
    t0 = time.perf_counter()
    H = curv.dense(chunk_size=128)
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T)).flip(0).numpy()
    t_dense = time.perf_counter() - t0
    out: dict = {
        "model": "zoo mlp 64-32-32-10 (ReLU)",
        "P": curv.num_params,
        "N": curv.num_samples,
        "batches": len(loader),
        "batch_size": 256,
        "reference": {"top5": ev[:5].tolist(), "seconds": t_dense, "trace": float(np.sum(ev))},
    }
    steps, probes = (40, 2) if quick else (80, 4)
    # dlnkit: top-5 by Lanczos, density by SLQ
    curv.num_products = 0
    t0 = time.perf_counter()
    res = curv.top_eigenvalues(5, tol=1e-6, max_iters=300, seed=0)
    t1 = time.perf_counter()
    dens = curv.density(num_probes=probes, num_steps=steps, seed=0)
    t2 = time.perf_counter()
    out["dlnkit"] = {
        "top5": res.eigenvalues.tolist(),
        "top5_rel_error_max": float(np.max(np.abs(res.eigenvalues.numpy() - ev[:5]) / ev[0])),
        "top5_hvps": res.num_hvps,
        "top5_seconds": t1 - t0,
        "density_w1_over_lambda_max": dens.wasserstein_to(ev) / ev[0],
        "density_hvps": dens.num_matvecs,
        "density_seconds": t2 - t1,
        "converged": bool(res.converged),
    }
    try:
        import pyhessian
    except ImportError:
        out["pyhessian"] = {"status": "not installed (pip install --no-deps pyhessian==0.1)"}
        return out, H
    from benchmarks.pyhessian_baseline import counted_pyhessian, torch_eig_for_pyhessian

    torch.set_default_dtype(torch.float64)
    comp, counter = counted_pyhessian(model, loss, loader)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    vals, _ = comp.eigenvalues(maxIter=100 if quick else 1000, tol=1e-6, top_n=5)
    t1 = time.perf_counter()
    n_eig = counter["n"]
    torch.manual_seed(0)
    with torch_eig_for_pyhessian():
        eig_full, w_full = comp.density(iter=steps, n_v=probes)
    t2 = time.perf_counter()
    from scipy.stats import wasserstein_distance

    nodes, weights = np.asarray(eig_full).ravel(), np.asarray(w_full).ravel() / probes
    ph_vals = np.sort(np.asarray(vals, dtype=np.float64))[::-1]
    out["pyhessian"] = {
        "version": getattr(pyhessian, "__version__", "0.1"),
        "top5": ph_vals.tolist(),
        "top5_rel_error_max": float(np.max(np.abs(ph_vals - ev[:5]) / ev[0])),
        "top5_hvps": n_eig,
        "top5_seconds": t1 - t0,
        "density_w1_over_lambda_max": float(wasserstein_distance(nodes, ev, u_weights=weights)) / ev[0],
        "density_hvps": counter["n"] - n_eig,
        "density_seconds": t2 - t1,
    }
    out["density_budget"] = {"steps": steps, "probes": probes}
    out["pyhessian"]["note"] = (
        "PyHessian 0.1's density calls torch.eig, removed in torch 1.9: the run substitutes "
        "torch.linalg.eigh for it (T is symmetric); nothing else is changed"
    )
    return out, H


def trace_comparison(H: torch.Tensor, quick: bool) -> dict:
    from dlnkit.numerics.trace_estimators import hutchinson, hutchpp

    tr = float(torch.trace(H))
    mv = lambda V: H @ V
    rows = []
    for m in [30, 60] if quick else [30, 60, 120]:
        for name, fn in (("hutchinson", hutchinson), ("hutchpp", hutchpp)):
            est = np.array([fn(mv, H.shape[0], m, seed=s).trace for s in range(20 if quick else 40)])
            rows.append(
                {
                    "method": name,
                    "matvecs": m,
                    "seeds": len(est),
                    "bias_rel": float((est.mean() - tr) / tr),
                    "std_rel": float(est.std(ddof=1) / abs(tr)),
                    "mean_abs_rel_error": float(np.mean(np.abs(est - tr)) / abs(tr)),
                }
            )
    return {"trace": tr, "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/real-networks-cpu-STAMP.json)")
    ap.add_argument("--part", choices=["all", "slq", "pyhessian", "alignment", "large"], default="all")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    tag = "" if args.part == "all" else f"-{args.part}"
    path = Path(args.out) if args.out else HERE / "results" / f"real-networks-cpu-{stamp}{tag}.json"
    # claimed before the work (an existing file is never replaced); written atomically through a
    # fresh temporary (a fixed NAME.tmp overwrote and then removed a file of that name)
    path = check_output_file(path, what="--out")
    rec: dict = {
        "stamp": stamp,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": {"cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg()},
        "quick": args.quick,
    }
    rec["part"] = args.part
    if args.part in ("all", "slq"):
        rec["slq_dln"] = slq_dln(args.quick)
        print(f"SLQ on a DLN minimum (P = {rec['slq_dln']['P']:d}):")
        for r in rec["slq_dln"]["rows"]:
            print(
                f"  steps {r['steps']:>3} probes {r['probes']:>2}: W1/lmax {r['w1_over_lambda_max_mean']:.2e} "
                f"(max {r['w1_over_lambda_max_max']:.2e}), top rel err {r['top_rel_error_max']:.1e}"
            )
    if args.part in ("all", "pyhessian"):
        ph, H = pyhessian_comparison(args.quick)
        rec["pyhessian"] = ph
        print(json.dumps({k: v for k, v in ph.items()}, indent=1, default=float)[:3000])
        rec["trace"] = trace_comparison(H, args.quick)
        for r in rec["trace"]["rows"]:
            print(f"  {r['method']:<10} m={r['matvecs']:>4}: bias {r['bias_rel']:+.2e} std {r['std_rel']:.2e}")
    if args.part in ("all", "alignment"):
        from benchmarks.real_network_sections import alignment_cost

        rec["alignment_cost"] = alignment_cost(args.quick)
        print(json.dumps(rec["alignment_cost"]["ratios"], indent=1))
        print(json.dumps({k: v for k, v in rec["alignment_cost"]["streaming"].items() if k != "rows"}, indent=1))
    if args.part in ("all", "large"):
        from benchmarks.real_network_sections import large_model

        rec["large_model"] = large_model(args.quick)
        print(json.dumps(rec["large_model"], indent=1, default=float)[:4000])
    rec["machine"]["loadavg_end"] = os.getloadavg()
    atomic_write_text(path, json.dumps(rec, indent=1, default=float))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
