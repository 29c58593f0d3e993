"""Cost of the per-layer alignment analysis against the bare floor, each case in a fresh process.

``python -m benchmarks.alignment_cost --case CASE --model NAME --samples N`` runs one case and prints
one JSON line: wall seconds of the second of two runs (the first, with its one-time costs, is
reported too) and peak resident memory above the set-up (``VmHWM`` reset through
``/proc/self/clear_refs`` after the model and data are built, so only the measured part counts).

Cases, on the same model, data (``--samples`` rows, batches of ``--batch-size``) and k:

* ``bare``: the floor: a float64 copy; one pass for every layer's gradient; per layer the SVD of
  its gradient and k double-backward HVPs along the top-k directions vec(u_k v_k^T) (per batch: the
  gradient's graph once, k backward passes), h_k = d^T H d. Nothing else (no checks, no factors,
  no fits).
* ``no_eigen``: :func:`dlnkit.numerics.model_alignment.analyse_model_layers` with ``eigen=False``
  (checks, factors, fits and intervals included);
* ``eigen``: the same with the block's top-k eigenvalues (s_eig), the default run.

Models: ``mlp`` (float32 MLP 40-256-256-10 on MNIST-1D), ``vit`` and ``gpt`` from
``examples/real_networks.py`` (random images / tokens).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _examples():
    spec = importlib.util.spec_from_file_location(
        "dlnkit_examples_real_networks", ROOT / "examples" / "real_networks.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> int:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status("VmRSS")


def problem(model: str, samples: int):
    ex = _examples()
    net = getattr(ex, model)().eval()
    g = torch.Generator().manual_seed(0)
    if model in ("mlp", "conv1d"):
        try:
            from mnist1d.data import get_dataset_args, make_dataset

            a = get_dataset_args()
            a.num_samples = max(samples * 5 // 4, 200)
            d = make_dataset(a)
            X, y = torch.tensor(d["x"][:samples], dtype=torch.float32), torch.tensor(d["y"][:samples]).long()
        except ImportError:
            X, y = torch.randn(samples, 40, generator=g), torch.randint(0, 10, (samples,), generator=g)
    elif model == "gpt":
        idx = torch.randint(0, ex.VOCAB, (samples, ex.CONTEXT + 1), generator=g)
        X, y = idx[:, :-1].clone(), idx[:, 1:].clone()
    else:
        X, y = torch.randn(samples, 1, 16, 16, generator=g), torch.randint(0, 10, (samples,), generator=g)
    return net, X, y


def bare_loop(net, batches, k: int) -> dict:
    """The floor (see the module docstring)."""
    from torch.func import functional_call

    from dlnkit.numerics.exact_attention import exact_attention
    from dlnkit.numerics.layer_views import model_layers

    work = net.to(torch.float64)
    N = sum(int(y.shape[0]) for _, y in batches)
    views = model_layers(work)
    params = dict(work.named_parameters())
    names = list(dict.fromkeys(v.param for v in views))
    grads = {n: torch.zeros_like(params[n]) for n in names}
    hvps = 0
    with exact_attention():
        for X, y in batches:
            X = X.double() if X.is_floating_point() else X
            val = torch.nn.functional.cross_entropy(work(X), y) * (y.shape[0] / N)
            for n, g in zip(names, torch.autograd.grad(val, [params[n] for n in names])):
                grads[n] += g
        out = {}
        for v in views:
            G = grads[v.param]
            G = (G[v.rows[0] : v.rows[1]] if v.rows else G).reshape(v.shape)
            U, S, Vh = torch.linalg.svd(G, full_matrices=False)
            kk = min(k, int((S > 1e-10 * S[0]).sum()))
            D = [torch.outer(U[:, j], Vh[j]) for j in range(kk)]
            h = torch.zeros(kk, dtype=torch.float64)
            for X, y in batches:
                X = X.double() if X.is_floating_point() else X
                q = params[v.param].detach().clone().requires_grad_(True)
                val = torch.nn.functional.cross_entropy(functional_call(work, {v.param: q}, (X,)), y) * (y.shape[0] / N)
                (g,) = torch.autograd.grad(val, q, create_graph=True)
                gb = (g[v.rows[0] : v.rows[1]] if v.rows else g).reshape(v.shape)
                for j in range(kk):
                    (hv,) = torch.autograd.grad(gb, q, grad_outputs=D[j], retain_graph=j < kk - 1)
                    hb = (hv[v.rows[0] : v.rows[1]] if v.rows else hv).reshape(v.shape)
                    h[j] += float((hb * D[j]).sum())
                    hvps += 1
            out[v.name] = h.tolist()
    return {"h": out, "hvps": hvps}


def run_case(case: str, model: str, samples: int, batch_size: int, k: int) -> dict:
    torch.manual_seed(0)
    net, X, y = problem(model, samples)
    batches = [(X[i : i + batch_size], y[i : i + batch_size]) for i in range(0, samples, batch_size)]
    # imports are set-up, not the measured work (both cases import what they use first)
    import dlnkit.numerics.fit_intervals
    import dlnkit.numerics.fits
    import dlnkit.numerics.model_alignment
    import dlnkit.numerics.top_eigenvalues  # noqa: F401

    base = _reset_peak()
    walls = []
    for _ in range(2):  # the first run pays one-time costs (lazy imports, first LAPACK calls); the second is timed
        t0 = time.perf_counter()
        if case == "bare":
            res = bare_loop(copy.deepcopy(net), batches, k)
            extra = {"hvps": res["hvps"]}
        else:
            from dlnkit.numerics.model_alignment import analyse_model_layers

            r = analyse_model_layers(net, batches, torch.nn.CrossEntropyLoss(), k=k, eigen=case == "eigen")
            extra = {
                "hvps": sum(int(row.get("hvps", 0)) for row in r.rows),
                "layers": len(r.rows),
                "errors": [row["layer"] for row in r.rows if "error" in row],
            }
        walls.append(time.perf_counter() - t0)
    wall, wall_first = walls[-1], walls[0]
    return {
        "case": case,
        "model": model,
        "samples": samples,
        "batch_size": batch_size,
        "k": k,
        "wall_s": wall,
        "wall_first_run_s": wall_first,
        "peak_rss_above_setup_bytes": max(_status("VmHWM") - base, 0),
        **extra,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=["bare", "no_eigen", "eigen"], required=True)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--k", type=int, default=20)
    a = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS") or 1))
    print(json.dumps(run_case(a.case, a.model, a.samples, a.batch_size, a.k)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
