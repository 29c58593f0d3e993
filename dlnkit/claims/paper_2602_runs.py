r"""arXiv:2602.00545's finite runs, measured and predicted (where theory and numerics meet).

* :func:`linear_run` / :func:`tanh_run`: the paper's setup (:mod:`dlnkit.numerics.paper_setup`)
  trained for the paper's step count, the exact Hessian's spectrum, both splits (counts and the
  paper's adaptive threshold), and for the linear network the per-layer mode sizes, the
  Gauss-Newton formula of :mod:`dlnkit.theory.finite_training` at those sizes and ||H_res||_2.
  Results are cached in-process per (depth, steps, dtype, seed), so claims that share a run train it once.
* :func:`decay_prediction`: the gradient-flow decay law of the extra modes (heavy-ball time) and
  the exact scalar heavy-ball recursion the network's modes follow, from the init alone.
* :func:`steps_needed`: heavy-ball steps until the count-split ratio comes within eps of L.

Reported values of the paper (its figure) are kept here for display, always labelled "reported".
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch

from dlnkit.numerics.adaptive_split import split_adaptive_threshold
from dlnkit.numerics.dln_hessian import dln_gauss_newton_nonzero_spectrum
from dlnkit.numerics.paper_setup import (
    PAPER_LR,
    PAPER_MOMENTUM,
    PAPER_RANK,
    PAPER_SEED,
    PAPER_STEPS,
    layer_mode_sizes,
    paper_hessian,
    paper_residual_norm,
    paper_setup,
    paper_updates,
    train_paper,
)
from dlnkit.numerics.spectra import split_by_counts
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.theory.finite_training import (
    numeric_decay_law,
    numeric_heavy_ball_time,
    numeric_pair_eigenvalue,
    numeric_ratios,
)

#: the paper's figure (mean dominant / mean bulk after its 10,000-step runs), for display only
REPORTED_RATIO_LINEAR = {2: 2.00, 3: 2.99, 4: 3.95, 5: 4.88, 6: 5.78, 7: 6.66}
REPORTED_RATIO_TANH = {2: 1.89, 3: 2.85, 4: 3.81, 5: 4.60, 6: 5.67, 7: 6.98}


def counts(depth: int) -> tuple[int, int]:
    """(r^2, (d_in + d_out - 2r) r) for the paper's dims: (25, 80)."""
    r = PAPER_RANK
    return r * r, (16 + 10 - 2 * r) * r


def _splits(ev: np.ndarray, depth: int) -> dict[str, Any]:
    n_dom, n_bulk = counts(depth)
    c = split_by_counts(ev, n_dom, n_bulk)
    a = split_adaptive_threshold(ev)
    flags = []
    if a.split.counts["dominant"] != n_dom or a.split.counts["bulk"] != n_bulk:
        flags.append(
            f"adaptive clusters {a.split.counts['dominant']}/{a.split.counts['bulk']} "
            f"do not recover the counts {n_dom}/{n_bulk}"
        )
    return {"count": c.summary(), "adaptive": a.summary(), "flags": flags}


def _check(depth: int, steps: int, dtype: str) -> None:
    if not 1 <= int(depth) <= 12:
        raise DlnkitInputError(f"depth must be in 1..12, got {depth}")
    if int(steps) < 0:
        raise DlnkitInputError(f"steps must be >= 0, got {steps}")
    if dtype not in ("float64", "float32"):
        raise DlnkitInputError(f"dtype must be float64 or float32, got {dtype!r}")


def formula_spectrum(depth: int, out_sizes: np.ndarray, in_sizes: np.ndarray, num_params: int) -> np.ndarray:
    """The Gauss-Newton spectrum at a balanced aligned point: lambda_ij = f(s_i, s_j) for every
    output mode i and input mode j (null directions at size 0), padded with zeros to P, descending."""
    f = numeric_pair_eigenvalue(int(depth))
    lam = np.array([[float(f(si, sj)) for sj in in_sizes] for si in out_sizes]).ravel()
    return np.sort(np.concatenate([lam, np.zeros(num_params - lam.size)]))[::-1]


@functools.lru_cache(maxsize=32)
def linear_run(depth: int, steps: int = PAPER_STEPS, dtype: str = "float64", seed: int = PAPER_SEED) -> dict[str, Any]:
    """The linear network after the paper's run: spectrum, both splits, the formula at the measured
    mode sizes, ||H_res||_2, the Gauss-Newton formula's deviation and the eigensolver's rounding."""
    _check(depth, steps, dtype)
    s = paper_setup(int(depth), int(seed))
    run = train_paper(s, activation="linear", updates=paper_updates(steps), dtype=dtype)
    H = paper_hessian(run.weights, s.target, "linear")
    ev = torch.linalg.eigvalsh(H).flip(0).double().numpy()
    h_norm = float(np.max(np.abs(ev)))
    P = H.shape[0]
    del H
    W64 = [W.double() for W in run.weights]
    res_norm = paper_residual_norm(W64, s.target)
    sizes, off = layer_mode_sizes(W64, s)
    mode = sizes.mean(axis=0)
    out_sizes = mode  # d_out = 10 = every output direction is a mode
    in_sizes = np.concatenate([mode, np.zeros(s.dims[0] - s.modes)])
    formula = formula_spectrum(depth, out_sizes, in_sizes, P)

    gn = dln_gauss_newton_nonzero_spectrum(W64, sigma=torch.eye(s.dims[0], dtype=torch.float64), rtol=0.0)
    gn = np.sort(gn.numpy())[::-1]
    k = len(gn)
    gn_dev = float(np.max(np.abs(gn - formula[:k])))
    eps = float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)
    out = {
        "depth": int(depth),
        "steps": int(steps),
        "updates": paper_updates(steps),
        "dtype": dtype,
        "seed": int(seed),
        "final_loss": run.final_loss,
        "num_params": P,
        "spectrum_top": ev[:120].tolist(),
        "splits": _splits(ev, depth),
        "formula_splits": _splits(formula, depth),
        "mode_sizes": mode.tolist(),
        "layer_size_spread": float(np.max(np.ptp(sizes, axis=0))),
        "off_structure": off,
        "res_norm": res_norm,
        "gn_formula_deviation": gn_dev,
        "eig_rounding": P * eps * h_norm,
        "losses": list(zip(run.loss_steps, run.losses)),
    }
    return out


@functools.lru_cache(maxsize=32)
def tanh_run(depth: int, steps: int = PAPER_STEPS, dtype: str = "float64", seed: int = PAPER_SEED) -> dict[str, Any]:
    """The tanh network (tanh after every layer) after the paper's run: spectrum and both splits."""
    _check(depth, steps, dtype)
    s = paper_setup(int(depth), int(seed))
    run = train_paper(s, activation="tanh", updates=paper_updates(steps), dtype=dtype)
    H = paper_hessian(run.weights, s.target, "tanh")
    ev = torch.linalg.eigvalsh(H).flip(0).double().numpy()
    del H
    return {
        "depth": int(depth),
        "steps": int(steps),
        "updates": paper_updates(steps),
        "dtype": dtype,
        "seed": int(seed),
        "final_loss": run.final_loss,
        "num_params": len(ev),
        "spectrum_top": ev[:120].tolist(),
        "splits": _splits(ev, depth),
        "negative_eigenvalues": int((ev < -1e-6 * ev[0]).sum()),
        "losses": list(zip(run.loss_steps, run.losses)),
    }


def scalar_recursion(
    depth: int, start: np.ndarray, updates: int, lr: float = PAPER_LR, momentum: float = PAPER_MOMENTUM
) -> np.ndarray:
    """The heavy-ball recursion of zero-target modes of per-layer size a (all layers equal):
    v <- momentum v + a^(2L-1), a <- a - lr v; what each extra mode of the network follows exactly
    (in exact arithmetic) because every layer sees the same diagonal update."""
    a = np.array(start, dtype=np.float64)
    v = np.zeros_like(a)
    p = 2 * int(depth) - 1
    for _ in range(int(updates)):
        v = momentum * v + a**p
        a = a - lr * v
    return a


def decay_prediction(
    depth: int, steps: int = PAPER_STEPS, seed: int = PAPER_SEED, lr: float = PAPER_LR, momentum: float = PAPER_MOMENTUM
) -> dict[str, Any]:
    """Extra-mode sizes after the paper's run from the init alone: the flow law at the heavy-ball
    time, and the scalar recursion (whose distance from the flow is the law's discretisation error)."""
    s = paper_setup(int(depth), int(seed))
    a0 = s.initial_layer_sizes()[PAPER_RANK:]
    K = paper_updates(steps)
    t_K = float(numeric_heavy_ball_time()(lr, momentum, K))
    flow = np.asarray(numeric_decay_law(int(depth))(a0, t_K), dtype=np.float64)
    rec = scalar_recursion(depth, a0, K, lr, momentum)
    _, adaptive_ratio, _ = numeric_ratios(int(depth))
    rms = float(np.sqrt(np.mean(flow**2)))
    return {
        "initial": a0.tolist(),
        "flow_time": t_K,
        "flow": flow.tolist(),
        "recursion": rec.tolist(),
        "flow_vs_recursion": float(np.max(np.abs(flow / rec - 1))),
        "count_ratio_flow": predicted_count_ratio(depth, flow) if depth > 1 else float("nan"),
        "adaptive_ratio_flow": float(adaptive_ratio(rms)) if depth > 1 else float("nan"),
    }


def predicted_count_ratio(depth: int, sizes: np.ndarray, split: str = "count") -> float:
    """Ratio of the Gauss-Newton formula with target modes at 1 and the given extra sizes, split by
    counts or by the adaptive-threshold rule (applied to the formula's spectrum)."""
    n_dom, n_bulk = counts(depth)
    mode = np.concatenate([np.ones(PAPER_RANK), np.asarray(sizes, dtype=np.float64)])
    spec = formula_spectrum(depth, mode, np.concatenate([mode, np.zeros(6)]), 10 * 16 + 1)
    if split == "adaptive":
        return split_adaptive_threshold(spec).ratio
    return float(np.mean(spec[:n_dom]) / np.mean(spec[n_dom : n_dom + n_bulk]))


def steps_needed(
    depth: int,
    target_ratio: float,
    seed: int = PAPER_SEED,
    lr: float = PAPER_LR,
    momentum: float = PAPER_MOMENTUM,
    max_steps: float = 1e15,
    split: str = "count",
) -> float:
    """Heavy-ball steps until the formula's ratio (``split``: "count" or "adaptive"), with the extra
    modes on the flow law from the paper's init, reaches ``target_ratio`` (inf when it never does,
    e.g. >= L). Bisection on K; the ratio increases as the modes decay."""
    if depth < 2 or target_ratio >= depth:
        return math.inf
    s = paper_setup(int(depth), int(seed))
    a0 = s.initial_layer_sizes()[PAPER_RANK:]
    law = numeric_decay_law(int(depth))
    time = numeric_heavy_ball_time()

    def ratio_at(K: float) -> float:
        return predicted_count_ratio(depth, np.asarray(law(a0, float(time(lr, momentum, K)))), split)

    if ratio_at(1.0) >= target_ratio:
        return 1.0
    lo, hi = 1.0, 2.0
    while ratio_at(hi) < target_ratio:
        lo, hi = hi, hi * 2
        if hi > max_steps:
            return math.inf
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if ratio_at(mid) < target_ratio:
            lo = mid
        else:
            hi = mid
        if hi - lo < 0.5:
            break
    return float(math.ceil(hi))
