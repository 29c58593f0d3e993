"""Hostile suite, memory: the guards' estimates are not below the measured peaks.

Each route runs in a forked child whose peak resident memory (``ru_maxrss``) above its starting
point is compared with the estimate the guard uses for that route; the guard must never
promise that something fits when it needs more than estimated.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from dlnkit.numerics.memory import COPIES_EIGVALSH, F64, dense_spectrum_bytes

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import record  # noqa: E402


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _peak_child(route: str, width: int, conn) -> None:
    import resource

    torch.set_num_threads(1)
    from dlnkit.numerics.chains import ChainLoss
    from dlnkit.numerics.dln import DeepLinearNetwork, whitened_inputs
    from dlnkit.numerics.dln_hessian import dln_hessian_closed_form, dln_loss
    from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled
    from dlnkit.numerics.hessian import dense_hessian, plan_hessian

    dims = [width, width, width]
    Ws = DeepLinearNetwork.random(dims, seed=0, device="cpu").weight_list()
    Ws = [W.detach() for W in Ws]
    X = whitened_inputs(2 * width, width)
    Y = torch.randn(2 * width, width, dtype=torch.float64)
    torch.linalg.eigvalsh(torch.eye(3, dtype=torch.float64))  # load LAPACK before the baseline
    base = max(_rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    planned = 0
    if route == "assembled":
        H = dln_hessian_assembled(Ws, X=X, Y=Y, check_memory=False)
    elif route == "blockwise":
        H = dln_hessian_closed_form(Ws, X=X, Y=Y, check_memory=False)
    else:
        # the dispatcher's own estimate for its route: torch.func on the chain, double backward on
        # the same loss as an opaque callable (its intermediates counted on one forward pass)
        loss = ChainLoss(X, Y) if route == "torch_func" else (lambda *w: dln_loss(w, X, Y))
        planned = plan_hessian(loss, Ws, route=route, budget_bytes=2**40).estimate_bytes
        base = max(base, _rss())  # the plan's forward pass is not the route's
        H = dense_hessian(loss, Ws, route=route)
    torch.linalg.eigvalsh(H)
    conn.send((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base, planned))


@pytest.mark.parametrize("route", ["assembled", "blockwise", "torch_func", "double_backward"])
@pytest.mark.parametrize("width", [30])
def test_guard_estimate_is_not_below_the_measured_peak(route, width):
    P = 2 * width * width
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_peak_child, args=(route, width, child))
    proc.start()
    measured, planned = parent.recv()
    if route in ("torch_func", "double_backward"):
        assert planned > 0
        estimate = planned + int(COPIES_EIGVALSH * F64 * P * P)
    else:
        estimate = dense_spectrum_bytes(P, route=route)
    proc.join(timeout=60)
    record("memory guards", inputs_tried=1, worked=1, wrong_results=int(measured > estimate))
    assert measured <= estimate, (
        f"{route}, P = {P}: measured peak {measured / 2**20:.1f} MiB above the guard's "
        f"estimate {estimate / 2**20:.1f} MiB"
    )


# ----- the alignment analysis of a user's model ---------------------------------------------

ALIGNMENT_CHILD = textwrap.dedent("""
    import json, resource, sys
    import torch
    from torch import nn
    torch.set_num_threads(1)
    from dlnkit.numerics.layer_views import model_layers
    from dlnkit.numerics.memory import alignment_layer_bytes, alignment_plan_bytes
    from dlnkit.numerics.model_alignment import analyse_model_layers
    torch.manual_seed(0)
    if sys.argv[1] == "mlp":
        model = nn.Sequential(nn.Linear(300, 500), nn.ReLU(), nn.Linear(500, 400), nn.ReLU(), nn.Linear(400, 5))
        X, y = torch.randn(24, 300), torch.randint(0, 5, (24,))
    else:
        model = nn.Sequential(nn.Conv2d(3, 48, 3), nn.ReLU(), nn.Conv2d(48, 48, 3), nn.ReLU(), nn.Flatten(),
                              nn.Linear(48 * 6 * 6, 10))
        X, y = torch.randn(8, 3, 10, 10), torch.randint(0, 10, (8,))
    views = model_layers(model)
    torch.linalg.eigh(torch.eye(3, dtype=torch.float64))  # LAPACK loaded before the baseline
    with open("/proc/self/statm") as fh:
        base = int(fh.read().split()[1]) * 4096
    base = max(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    res = analyse_model_layers(model, (X, y), "cross_entropy", k=int(sys.argv[2]), eigen=False, check=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    layers = [(v.shape[0], v.shape[1], v.factors_possible) for v in views]
    keeps = {n: int(r.sigma.size) for n, r in res.reports.items()}
    kept = alignment_plan_bytes(layers, 0) - max(alignment_layer_bytes(m, n, 0, f) for m, n, f in layers)
    est = kept + max(alignment_layer_bytes(v.shape[0], v.shape[1], keeps[v.name], v.factors_possible) for v in views)
    print(json.dumps({"peak": peak, "estimate": est, "errors": [r["error"] for r in res.rows if "error" in r]}))
""")


@pytest.mark.parametrize("model,k", [("mlp", 20), ("conv", 30)])
def test_alignment_estimate_is_not_below_the_measured_peak(model, k):
    """The per-layer alignment of a user's model (gradients, Kronecker factors, the gradient's
    SVD, the directions' HVPs, eigh of the factors) peaks below what its guards estimate: what the
    run keeps plus the largest layer with the directions it actually kept."""
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", ALIGNMENT_CHILD, model, str(k)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    record("memory guards", inputs_tried=1, worked=1, wrong_results=int(out["peak"] > out["estimate"]))
    assert not out["errors"], out["errors"]
    assert out["peak"] <= out["estimate"], (
        f"{model}: measured peak {out['peak'] / 2**20:.1f} MiB above the estimate {out['estimate'] / 2**20:.1f} MiB"
    )


REFUSAL_CHILD = textwrap.dedent("""
    import json, resource, sys
    import torch
    from torch import nn
    torch.set_num_threads(1)
    from dlnkit.numerics.memory import vm_size
    from dlnkit.numerics.model_alignment import analyse_model_layers
    from dlnkit.numerics.validation import DlnkitInputError
    torch.manual_seed(0)
    # the process may grow by 1.5 GiB; each model below needs far more than that
    limit = vm_size() + 3 * 2**29
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = {}
    cases = {
        # a 30000-wide hidden layer: its output factor is 30000^2 numbers (7.2 GB)
        "factors": (nn.Sequential(nn.Linear(4, 30000), nn.ReLU(), nn.Linear(30000, 2)),
                    torch.randn(16, 4), torch.randint(0, 2, (16,)), 20),
        # a 50000 x 64 embedding, 64 directions asked: the directions' products are 36 x 3.2e6 x 6 numbers
        "directions": (nn.Sequential(nn.Embedding(50000, 64), nn.Flatten(), nn.Linear(256, 10)),
                       torch.randint(0, 50000, (16, 4)), torch.randint(0, 10, (16,)), 64),
    }
    for name, (model, X, y, k) in cases.items():
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        try:
            res = analyse_model_layers(model, (X, y), "cross_entropy", k=k, eigen=False, check=False)
            msg = " | ".join(r.get("error", "") for r in res.rows)
        except DlnkitInputError as exc:
            msg = str(exc)
        except BaseException as exc:
            msg = f"RAW {type(exc).__name__}: {exc}"
        out[name] = [msg, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base]
    print(json.dumps(out))
""")


def test_alignment_refuses_a_large_layer_from_its_estimate_before_allocating():
    """Before: the 30000-wide layer's factors were allocated in the gradient pass and the
    allocator's failure was reported as 'the model raised RuntimeError'; the embedding's 64
    directions grew the process by gigabytes before the Lanczos guard refused its eigenvalues.
    Now both are refused from the estimate (one line, 'needs about ... of memory') before the
    allocation, the embedding as that layer's row (the other layers still come out)."""
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", REFUSAL_CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (msg, grown) in out.items():
        ok = "needs about" in msg and "\n" not in msg and grown < 2**29
        record("memory guards", inputs_tried=1, clear_errors=int(ok), wrong_results=int(not ok))
        assert "needs about" in msg and "RAW" not in msg, f"{name}: {msg}"
        assert grown < 2**29, f"{name}: grew by {grown / 2**20:.0f} MiB before refusing"


# ----- SLQ (the API's density and `spectrum --model --probes`) --------------------------------


def _slq_peak(n: int, probes: int, steps: int, conn) -> None:
    import resource

    torch.set_num_threads(1)
    from dlnkit.numerics.slq import slq

    d = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    torch.linalg.eigh(torch.eye(3, dtype=torch.float64))  # LAPACK loaded before the baseline
    base = max(_rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    slq(lambda V: d[:, None] * V, n, num_probes=probes, num_steps=steps, seed=0)
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)


def test_slq_estimate_is_not_below_the_measured_peak():
    from dlnkit.numerics.slq import slq_bytes

    n, probes, steps = 40_000, 8, 30
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_slq_peak, args=(n, probes, steps, child))
    proc.start()
    measured = parent.recv()
    proc.join(timeout=60)
    estimate = slq_bytes(n, probes, steps)
    record("memory guards", inputs_tried=1, worked=1, wrong_results=int(measured > estimate))
    assert measured <= estimate, (measured, estimate)


def test_slq_refuses_a_probe_count_before_allocating():
    """Before: ``ModelCurvature.density(num_probes=10**9)`` (and ``slq``) built the Rademacher start
    block before the kernel's basis check and failed in torch's allocator with a raw RuntimeError
    ('can't allocate memory: you tried to allocate 5784000000000 bytes'). Now the route's estimate
    (start block, basis, nodes) is refused first, with the guard's one-line error."""
    from dlnkit.numerics.memory import AllocationTooLargeError
    from dlnkit.numerics.slq import slq

    try:
        slq(torch.eye(50, dtype=torch.float64), num_probes=10**12, num_steps=3)
        outcome = "ran"
    except AllocationTooLargeError as exc:
        outcome = str(exc)
    except Exception as exc:  # noqa: BLE001 - what escaped before the guard
        outcome = f"RAW {type(exc).__name__}: {exc}"
    ok = outcome.startswith("SLQ with") and "needs about" in outcome
    record("memory guards", inputs_tried=1, clear_errors=int(ok), tracebacks=int(not ok))
    assert ok, outcome
