"""Benchmark measurements. Each ``measure_<case>(spec)`` builds its inputs (untimed) and returns
``(fn, info)``: ``fn()`` is the timed call, returning a dict of values to compare across
methods (eigenvalues, h_k, ...); ``info`` holds the parameter count and a FLOP estimate.

Every (case, method, size) runs in its own subprocess (see ``benchmarks.__main__``), so a
baseline that runs out of time is killed without losing the rest, and the peak memory of
each measurement is its own process's.
"""

from __future__ import annotations

import math
import time

import torch

from dlnkit.numerics.chains import ChainLoss
from dlnkit.numerics.hessian import HessianOperator, dense_hessian, hvp, hvp_batched


def _dtype(spec):
    return {"float64": torch.float64, "float32": torch.float32}[spec.get("dtype", "float64")]


# ----- case 1: closed-form DLN Hessian vs torch.func.hessian ---------------------------------


def assembly_dims(h: int) -> list[int]:
    """[16, h, h, 10]: P = h^2 + 26 h."""
    return [16, h, h, 10]


def measure_assembly(spec):
    from dlnkit.numerics.dln import DeepLinearNetwork, whitened_inputs
    from dlnkit.numerics.dln_hessian import dln_hessian_closed_form
    from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled

    dt, dev = _dtype(spec), spec["device"]
    dims = assembly_dims(spec["h"])
    B = spec.get("batch", 256)
    Ws = [W.detach() for W in DeepLinearNetwork.random(dims, seed=0, dtype=dt, device=dev).weight_list()]
    X = whitened_inputs(B, dims[0], seed=1, dtype=dt, device=dev)
    Y = torch.randn(B, dims[-1], generator=torch.Generator().manual_seed(2), dtype=torch.float64).to(dt).to(dev)
    P = sum(W.numel() for W in Ws)
    method = spec["method"]
    sample = torch.randint(0, P, (2, 64), generator=torch.Generator().manual_seed(3)).to(dev)

    def probe(H):  # 64 entries, compared across methods by the runner
        return {"entries": H[sample[0], sample[1]].double().cpu().tolist()}

    if method == "assembled":
        fn = lambda: probe(dln_hessian_assembled(Ws, X=X, Y=Y, check_memory=False))
    elif method == "closed_form":
        fn = lambda: probe(dln_hessian_closed_form(Ws, X=X, Y=Y, check_memory=False))
    elif method == "torch_func":
        small = [W[:2, :2].clone() for W in Ws[:1]]  # one-time functorch start-up, outside the timing
        dense_hessian(lambda w: (w**2).sum(), small, route="torch_func")
        fn = lambda: probe(dense_hessian(ChainLoss(X, Y), Ws, route="torch_func"))
    elif method == "write_P2":
        fn = lambda: {"entries": None, "sum": float(torch.empty(P, P, dtype=dt, device=dev).fill_(1.0)[0, 0])}
    else:
        raise ValueError(method)
    item = torch.empty((), dtype=dt).element_size()
    return fn, {"P": P, "dims": dims, "batch": B, "bytes_written": P * P * item}


def assembly_memory_estimate(h: int, method: str, batch: int = 256, item: int = 8) -> int:
    """Rough peak bytes, used to skip runs that cannot fit (stated in the results)."""
    dims = assembly_dims(h)
    P = h * h + 26 * h
    if method == "assembled" or method == "write_P2":
        return P * P * item
    if method == "closed_form":
        return 3 * P * P * item
    # torch.func: jacfwd over P tangents of every activation, plus the result and its blocks
    return 3 * P * P * item + 2 * P * batch * sum(dims[1:]) * item


# ----- case 2: nonzero spectrum, structured J J^T vs dense eigh -----------------------------


def spectrum_net(h: int, dt, dev):
    from dlnkit.numerics.dln import DeepLinearNetwork

    dims = [16, h, h, 16]
    net, M = DeepLinearNetwork.balanced_minimum(dims, [3.0, 2.0, 1.5, 1.0], seed=0, dtype=dt, device=dev)
    return [W.detach() for W in net.weight_list()], M, dims


def measure_spectrum(spec):
    from dlnkit.numerics.dln_hessian import dln_gauss_newton_nonzero_spectrum
    from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled

    dt, dev = _dtype(spec), spec["device"]
    Ws, M, dims = spectrum_net(spec["h"], dt, dev)
    P = sum(W.numel() for W in Ws)
    if spec["method"] == "structured":

        def fn():
            ev = dln_gauss_newton_nonzero_spectrum(Ws)
            return {"top": ev[:20].double().cpu().tolist(), "count": int(ev.numel())}

        flops = 2 * sum(W.numel() * dims[0] for W in Ws) + 10 * 256**3
    else:

        def fn():
            H = dln_hessian_assembled(Ws, target=M, check_memory=False)
            ev = torch.linalg.eigvalsh(H).flip(0)
            ev = ev[ev > 1e-10 * ev.abs().max()]
            return {"top": ev[:20].double().cpu().tolist(), "count": int(ev.numel())}

        flops = int(4 / 3 * P**3)  # Householder tridiagonalisation dominates
    return fn, {"P": P, "dims": dims, "flops": flops}


# ----- cases 3, 4 and the chunked dense Hessian: tanh MLPs on the 8x8 digits ---------------


def digits_batch(n: int, dt, dev):
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.data[:n] / 16.0, dtype=dt, device=dev)
    y = torch.tensor(d.target[:n], dtype=torch.long, device=dev)
    return X, y


def mlp_params(widths, seed, dt, dev):
    g = torch.Generator().manual_seed(seed)
    ps = []
    for a, b in zip(widths[:-1], widths[1:]):
        ps += [
            (torch.randn(b, a, generator=g, dtype=torch.float64) / math.sqrt(a)).to(dt).to(dev),
            torch.zeros(b, dtype=dt, device=dev),
        ]
    return ps


def mlp_loss_fn(X, y, n_params):
    def loss(*ps):
        h = X
        for i in range(0, n_params, 2):
            h = h @ ps[i].T + ps[i + 1]
            if i + 2 < n_params:
                h = torch.tanh(h)
        return torch.nn.functional.cross_entropy(h, y)

    return loss


def trained_mlp(widths, n, steps, dt, dev, seed=0):
    """A tanh MLP trained with Adam for ``steps`` full-batch steps on the first n digits."""
    X, y = digits_batch(n, dt, dev)
    ps = [p.requires_grad_() for p in mlp_params(widths, seed, dt, dev)]
    loss = mlp_loss_fn(X, y, len(ps))
    opt = torch.optim.Adam(ps, lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss(*ps).backward()
        opt.step()
    return [p.detach() for p in ps], X, y, loss


def hvp_flops(widths, batch):
    """~ 4 passes (forward, backward and their tangents) of 2 B m n multiply-adds per weight (estimate)."""
    return 4 * 3 * 2 * batch * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def measure_hk(spec):
    dt, dev = _dtype(spec), spec["device"]
    widths, k = spec["widths"], spec.get("k", 20)
    ps, X, y, _ = trained_mlp(widths, spec.get("batch", 512), 50, dt, dev)
    full = mlp_loss_fn(X, y, len(ps))
    layers = []
    for i in range(0, len(ps), 2):
        # the layer's loss as a function of its weight alone (the others fixed): H_ll exactly
        def layer_loss(W, i=i):
            qs = list(ps)
            qs[i] = W
            return full(*qs)

        Wg = torch.func.grad(layer_loss)(ps[i])
        U, S, Vh = torch.linalg.svd(Wg, full_matrices=False)
        kk = min(k, S.numel())
        D = torch.einsum("ik,kj->kij", U[:, :kk], Vh[:kk]).reshape(kk, -1)  # vec(u_k v_k^T), unit norm
        layers.append((layer_loss, ps[i], D))
    if spec["method"] == "vmap":

        def fn():
            out = []
            for layer_loss, W, D in layers:
                HD = hvp_batched(layer_loss, [W], D.T)
                out.append((D.T * HD).sum(0).double().cpu().tolist())
            return {"h": out}
    else:

        def fn():
            out = []
            for layer_loss, W, D in layers:
                out.append([float(torch.dot(d, hvp(layer_loss, [W], d))) for d in D])
            return {"h": out}

    n_hvps = sum(D.shape[0] for *_, D in layers)
    P = sum(p.numel() for p in ps)
    return fn, {"P": P, "widths": widths, "hvps": n_hvps, "flops": n_hvps * hvp_flops(widths, X.shape[0])}


def measure_topeig(spec):
    from scipy.sparse.linalg import eigsh

    from dlnkit.numerics.top_eigenvalues import top_eigenvalues
    from dlnkit.numerics.trace_estimators import hutchinson

    dt, dev = _dtype(spec), spec["device"]
    widths, n = spec["widths"], spec.get("batch", 512)
    ps, X, y, loss = trained_mlp(widths, n, 200, dt, dev)
    P = sum(p.numel() for p in ps)
    method = spec["method"]
    k, trace_samples = 5, spec.get("trace_samples", 100)
    if method == "lanczos":
        op = HessianOperator(loss, ps)

        def fn():
            t0 = time.perf_counter()
            res = top_eigenvalues(op, k, tol=spec.get("tol", 1e-10), max_iters=500)
            t1 = time.perf_counter()
            tr = hutchinson(lambda V: hvp_batched(loss, ps, V), P, trace_samples, seed=0, batch=25)
            return {
                "top": res.eigenvalues.tolist(),
                "hvps_eig": res.num_hvps,
                "trace": tr.trace,
                "trace_stderr": tr.stderr,
                "hvps_trace": tr.num_matvecs,
                "converged": res.converged,
                "eig_s": t1 - t0,
                "trace_s": time.perf_counter() - t1,
            }
    elif method == "scipy_eigsh":
        op = HessianOperator(loss, ps)

        def fn():
            op.num_hvps = 0
            vals = eigsh(op.to_scipy(), k=k, which="LA", tol=1e-10, return_eigenvectors=False)
            return {"top": sorted(vals.tolist(), reverse=True), "hvps_eig": op.num_hvps}
    elif method == "dense_eigh":

        def fn():
            H = dense_hessian(loss, ps)
            ev = torch.linalg.eigvalsh(H).flip(0)
            return {"top": ev[:k].double().cpu().tolist(), "trace": float(torch.trace(H))}
    elif method == "pyhessian":
        import sys

        import pyhessian
        import pyhessian.hessian  # noqa: F401  (the package re-exports the class under the same name)

        ph = sys.modules["pyhessian.hessian"]

        torch.set_default_dtype(dt)  # PyHessian draws its probe vectors in the default dtype
        model = torch.nn.Sequential()
        for i in range(0, len(ps), 2):
            lin = torch.nn.Linear(widths[i // 2], widths[i // 2 + 1]).to(dtype=dt, device=dev)
            with torch.no_grad():
                lin.weight.copy_(ps[i])
                lin.bias.copy_(ps[i + 1])
            model.append(lin)
            if i + 2 < len(ps):
                model.append(torch.nn.Tanh())
        counter = {"n": 0}
        original = ph.hessian_vector_product

        def counted(gradsH, params, v):
            counter["n"] += 1
            return original(gradsH, params, v)

        ph.hessian_vector_product = counted

        def fn():
            counter["n"] = 0
            torch.manual_seed(0)
            t0 = time.perf_counter()
            comp = ph.hessian(model, torch.nn.CrossEntropyLoss(), data=(X, y), cuda=dev.startswith("cuda"))
            vals, _ = comp.eigenvalues(maxIter=spec.get("max_iter", 1000), tol=spec.get("tol", 1e-8), top_n=k)
            n_eig = counter["n"]
            t1 = time.perf_counter()
            trs = comp.trace(maxIter=trace_samples, tol=1e-3)
            return {
                "top": [float(v) for v in vals],
                "hvps_eig": n_eig,
                "trace": float(sum(trs) / len(trs)),
                "hvps_trace": counter["n"] - n_eig,
                "version": getattr(pyhessian, "__version__", "0.1"),
                "eig_s": t1 - t0,
                "trace_s": time.perf_counter() - t1,
            }
    else:
        raise ValueError(method)
    return fn, {"P": P, "widths": widths, "batch": n, "flops_per_hvp": hvp_flops(widths, n)}


def measure_chunked(spec):
    from dlnkit.numerics.hessian_chunked import choose_chunk_size, chunked_hessian_bytes, dense_hessian_chunked

    dt, dev = _dtype(spec), spec["device"]
    widths, n = spec["widths"], spec.get("batch", 256)
    X, y = digits_batch(n, dt, dev)
    ps = mlp_params(widths, 0, dt, dev)
    loss = mlp_loss_fn(X, y, len(ps))
    P = sum(p.numel() for p in ps)
    budget = int(spec["budget_gib"] * 2**30)
    # the loss's own working space per HVP column: activations and their tangents (estimate)
    per_col = 6 * n * sum(widths[1:])
    idx = torch.randint(0, P, (2, 64), generator=torch.Generator().manual_seed(3)).to(dev)
    if spec["method"] == "chunked":
        chunk = choose_chunk_size(P, budget, dt, per_column_numbers=per_col)
        est = chunked_hessian_bytes(P, chunk, dt, per_column_numbers=per_col)

        def fn():
            H = dense_hessian_chunked(loss, ps, memory_budget_bytes=budget, per_column_numbers=per_col)
            return {"entries": H[idx[0], idx[1]].double().cpu().tolist()}

        extra = {"chunk": chunk, "estimate_bytes": est, "budget_bytes": budget}
    else:
        small = [torch.ones(2, dtype=dt, device=dev)]
        dense_hessian(lambda w: (w**2).sum(), small, route="torch_func")

        def fn():
            H = dense_hessian(loss, ps, route="torch_func")
            return {"entries": H[idx[0], idx[1]].double().cpu().tolist()}

        extra = {}
    return fn, {"P": P, "widths": widths, "batch": n, "flops": P * hvp_flops(widths, n), **extra}


def measure_matmul(spec):
    """Calibration: an n x n matmul, the best FLOP/s this device reaches in this dtype."""
    dt, dev = _dtype(spec), spec["device"]
    n = spec.get("n", 2048)
    A = torch.randn(n, n, dtype=dt, device=dev)
    B = torch.randn(n, n, dtype=dt, device=dev)
    return (lambda: {"sum": float((A @ B)[0, 0])}), {"P": 0, "flops": 2 * n**3}


def measure_dataset_topeig(spec):
    """Top-5 Hessian eigenvalues of the zoo MLP over all 1,497 digits training images through a DataLoader
    (batch 256, ragged last batch): dlnkit's ModelCurvature + Lanczos vs PyHessian's dataloader mode."""
    from dlnkit.numerics.zoo import get_trained

    tm = get_trained("mlp")
    model = tm.model.eval()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(tm.data.X_train, tm.data.y_train), batch_size=spec.get("batch", 256)
    )
    loss = torch.nn.CrossEntropyLoss()
    P = sum(p.numel() for p in model.parameters())
    if spec["method"] == "dlnkit_lanczos":
        from dlnkit.numerics.curvature import ModelCurvature

        def fn():
            curv = ModelCurvature(model, loss, loader)
            res = curv.top_eigenvalues(5, tol=1e-6, max_iters=300)
            return {"top": res.eigenvalues.tolist(), "hvps_eig": res.num_hvps}
    elif spec["method"] == "pyhessian":
        from pyhessian import hessian as PyHessian

        torch.set_default_dtype(torch.float64)

        def fn():
            comp = PyHessian(model, loss, dataloader=loader, cuda=False)
            counter = {"n": 0}
            original = comp.dataloader_hv_product

            def counted(v):
                counter["n"] += 1
                return original(v)

            comp.dataloader_hv_product = counted
            torch.manual_seed(0)
            vals, _ = comp.eigenvalues(maxIter=1000, tol=1e-6, top_n=5)
            return {"top": sorted((float(v) for v in vals), reverse=True), "hvps_eig": counter["n"]}
    else:
        raise ValueError(spec["method"])
    return fn, {"P": P, "N": int(tm.data.X_train.shape[0])}


MEASURES = {
    "assembly": measure_assembly,
    "spectrum": measure_spectrum,
    "hk": measure_hk,
    "topeig": measure_topeig,
    "chunked": measure_chunked,
    "matmul": measure_matmul,
    "dataset_topeig": measure_dataset_topeig,
}

# Peak dense FLOP/s by card (vendor datasheets, non-tensor-core, SXM where there are variants).
GPU_PEAK_FLOPS = {
    "H100": {"float64": 34e12, "float32": 67e12},
    "H200": {"float64": 34e12, "float32": 67e12},
    "A100": {"float64": 9.7e12, "float32": 19.5e12},
    "V100": {"float64": 7.8e12, "float32": 15.7e12},
    "L4": {"float64": 0.49e12, "float32": 30.3e12},
    "T4": {"float64": 0.25e12, "float32": 8.1e12},
}


def gpu_peak(name: str, dtype: str):
    for key, peaks in GPU_PEAK_FLOPS.items():
        if key in name:
            return peaks.get(dtype)
    return None
