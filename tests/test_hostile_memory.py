"""Hostile suite, memory: the guards' estimates are not below the measured peaks.

Each route runs in a forked child whose peak resident memory (``ru_maxrss``) above its starting
point is compared with the estimate the guard uses for that route; the guard must never
promise that something fits when it needs more than estimated.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
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
