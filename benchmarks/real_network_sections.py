"""Sections of ``python -m benchmarks.real_networks`` for real networks (issue 20):

* :func:`alignment_cost`: ``dlnkit alignment`` (``analyse_model_layers``) with and without s_eig against
  the bare double-backward loop (:mod:`benchmarks.alignment_cost`, each case in a fresh process, same
  model, samples and k), and peak memory from 256 to 4,096 samples when streaming in batches of 256;
* :func:`large_model`: data-set-level top-5 eigenvalues, trace and spectral density of an MLP with about
  10^6 parameters on MNIST-1D, dlnkit against PyHessian and curvlinops (when installed): products
  (HVPs) and wall time, with the accuracy each reached against a tight dlnkit reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _case(case: str, model: str, samples: int, batch_size: int = 256, k: int = 20) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", BENCH_THREADS="1")
    cmd = [sys.executable, "-m", "benchmarks.alignment_cost", "--case", case, "--model", model]
    cmd += ["--samples", str(samples), "--batch-size", str(batch_size), "--k", str(k)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800)
    if out.returncode != 0:
        return {"case": case, "model": model, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def alignment_cost(quick: bool) -> dict:
    rows = []
    ratios = []
    for model in ["mlp"] if quick else ["mlp", "vit"]:
        r = {c: _case(c, model, 256) for c in ("bare", "no_eigen", "eigen")}
        rows += list(r.values())
        if all("wall_s" in x for x in r.values()):
            ratios.append(
                {
                    "model": model,
                    "baseline": "bare double-backward loop (gradient, SVD, k HVPs per layer)",
                    "no_eigen_wall_over_bare": r["no_eigen"]["wall_s"] / r["bare"]["wall_s"],
                    "no_eigen_peak_over_bare": r["no_eigen"]["peak_rss_above_setup_bytes"]
                    / max(r["bare"]["peak_rss_above_setup_bytes"], 1),
                    "eigen_wall_over_no_eigen": r["eigen"]["wall_s"] / r["no_eigen"]["wall_s"],
                    "targets": {"no_eigen_wall": 1.2, "no_eigen_peak": 1.5, "eigen_wall": 3.0},
                }
            )
    stream = [_case("no_eigen", "mlp", n) for n in ([256, 1024] if quick else [256, 1024, 4096])]
    peaks = [s.get("peak_rss_above_setup_bytes", 0) for s in stream]
    return {
        "rows": rows,
        "ratios": ratios,
        "streaming": {
            "model": "mlp",
            "batch_size": 256,
            "rows": stream,
            "peak_largest_over_smallest": peaks[-1] / max(peaks[0], 1),
            "target": 1.3,
        },
    }


def _mnist1d(n: int):
    from mnist1d.data import get_dataset_args, make_dataset

    a = get_dataset_args()
    a.num_samples = max(n * 5 // 4, 200)
    d = make_dataset(a)
    return torch.tensor(d["x"][:n], dtype=torch.float64), torch.tensor(d["y"][:n]).long()


def large_model(quick: bool) -> dict:
    """~10^6 parameters: MLP 40-1000-960-10 (1.0M), float64, N samples in batches of 256."""
    from dlnkit.numerics.curvature import ModelCurvature

    torch.manual_seed(0)
    N = 256 if quick else 512
    X, y = _mnist1d(N)
    model = torch.nn.Sequential(
        torch.nn.Linear(40, 1000),
        torch.nn.ReLU(),
        torch.nn.Linear(1000, 960),
        torch.nn.ReLU(),
        torch.nn.Linear(960, 10),
    ).double()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=256)
    loss = torch.nn.CrossEntropyLoss()
    P = sum(p.numel() for p in model.parameters())
    out: dict = {"model": "MLP 40-1000-960-10 (ReLU), float64", "P": P, "N": N, "batch_size": 256}
    curv = ModelCurvature(model, loss, loader)
    t0 = time.perf_counter()
    ref = curv.top_eigenvalues(5, tol=1e-10, max_iters=400, seed=1)
    out["reference"] = {
        "top5": ref.eigenvalues.tolist(),
        "products": ref.num_hvps,
        "seconds": time.perf_counter() - t0,
        "converged": bool(ref.converged),
        "how": "dlnkit block Lanczos at tol 1e-10 (other seed)",
    }
    lam = ref.eigenvalues.numpy()
    t0 = time.perf_counter()
    res = curv.top_eigenvalues(5, tol=1e-4, max_iters=300, seed=0)
    t1 = time.perf_counter()
    tr = curv.trace(method="hutchpp", num_matvecs=30 if quick else 60, seed=0)
    t2 = time.perf_counter()
    steps, probes = (20, 1) if quick else (40, 2)
    dens = curv.density(num_probes=probes, num_steps=steps, seed=0)
    t3 = time.perf_counter()
    out["dlnkit"] = {
        "top5": res.eigenvalues.tolist(),
        "top5_rel_error_max": float(np.max(np.abs(res.eigenvalues.numpy() - lam) / lam[0])),
        "top5_products": res.num_hvps,
        "top5_seconds": t1 - t0,
        "trace": tr.trace,
        "trace_products": tr.num_matvecs,
        "trace_seconds": t2 - t1,
        "density_products": dens.num_matvecs,
        "density_seconds": t3 - t2,
        "density_top_node": float(dens.nodes.max()),
    }
    try:
        import pyhessian  # noqa: F401  (present or not: the baseline is optional)
    except ImportError:
        out["pyhessian"] = {"status": "not installed (pip install --no-deps pyhessian==0.1)"}
    else:
        from benchmarks.pyhessian_baseline import counted_pyhessian, torch_eig_for_pyhessian

        torch.set_default_dtype(torch.float64)
        comp, counter = counted_pyhessian(model, loss, loader)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        vals, _ = comp.eigenvalues(maxIter=100, tol=1e-4, top_n=5)
        t1 = time.perf_counter()
        n_eig = counter["n"]
        trace_vals = comp.trace(maxIter=30 if quick else 60, tol=1e-3)
        t2 = time.perf_counter()
        n_tr = counter["n"] - n_eig
        with torch_eig_for_pyhessian():
            eig_full, _w = comp.density(iter=steps, n_v=probes)
        t3 = time.perf_counter()
        torch.set_default_dtype(torch.float32)
        ph = np.sort(np.asarray(vals, dtype=np.float64))[::-1]
        out["pyhessian"] = {
            "top5": ph.tolist(),
            "top5_rel_error_max": float(np.max(np.abs(ph - lam) / lam[0])),
            "top5_products": n_eig,
            "top5_seconds": t1 - t0,
            "trace": float(np.mean(trace_vals)),
            "trace_products": n_tr,
            "trace_seconds": t2 - t1,
            "density_products": counter["n"] - n_eig - n_tr,
            "density_seconds": t3 - t2,
            "density_top_node": float(np.max(np.asarray(eig_full))),
            "settings": "eigenvalues(maxIter=100, tol=1e-4, top_n=5): power iteration with deflation; "
            "trace: Hutchinson",
        }
    try:
        from curvlinops import HessianLinearOperator
    except ImportError:
        out["curvlinops"] = {"status": "not installed (see docs/real-networks.md)"}
    else:
        from scipy.sparse.linalg import eigsh

        params = [p for p in model.parameters() if p.requires_grad]
        H = HessianLinearOperator(model, loss, params, [(X[i : i + 256], y[i : i + 256]) for i in range(0, N, 256)])
        count = {"n": 0}
        sp = H.to_scipy() if hasattr(H, "to_scipy") else H

        class Counted:
            shape, dtype = sp.shape, np.float64

            def matvec(self, v):
                count["n"] += 1
                return sp @ v

        from scipy.sparse.linalg import LinearOperator

        op = LinearOperator(sp.shape, matvec=Counted().matvec, dtype=np.float64)
        t0 = time.perf_counter()
        try:
            vals = eigsh(op, k=5, which="LA", tol=1e-4, v0=np.random.default_rng(0).standard_normal(sp.shape[0]))[0]
            cl = np.sort(vals)[::-1]
            out["curvlinops"] = {
                "top5": cl.tolist(),
                "top5_rel_error_max": float(np.max(np.abs(cl - lam) / lam[0])),
                "top5_products": count["n"],
                "top5_seconds": time.perf_counter() - t0,
                "settings": "scipy eigsh (ARPACK, tol 1e-4) on curvlinops' HessianLinearOperator",
            }
        except Exception as exc:  # an optional oracle: record, do not stop the benchmark
            out["curvlinops"] = {"status": f"failed: {type(exc).__name__}: {exc}"[:300]}
    return out
