r"""Spectral Newton against AdamW and SGD on the census's vision tasks (arXiv:2606.02596's last sentence).

Protocol (the same for every optimiser, fixed before any run):

* model: the census's plain CNN (the family whose convolutions the census puts at alpha ~ 2) on each
  vision data set (digits, MNIST-1D), float32, the census's batch size and epochs;
* tuning: each optimiser's learning rate is chosen from its own grid of ``len(grid)`` values (the same
  budget for all three: a factor-of-~3 grid around its usual default) by validation accuracy with seed 0;
  the test set is never seen during tuning;
* evaluation: five seeds at the chosen rate; mean test accuracy with a 95% t-interval, and mean wall
  time per run (Spectral Newton's SVDs included);
* verdict: Spectral Newton is said to beat an optimiser only when its interval lies entirely above
  that optimiser's interval; otherwise "no separation".

Spectral Newton: :class:`dlnkit.numerics.preconditioners.SpectralNewton` with alpha = 2 (the census's
convolution value), relative damping 1e-2, momentum 0.9.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch

from dlnkit.engines.census_zoo import CensusModelSpec, accuracy, build, train
from dlnkit.numerics.census_data import load_census_data
from dlnkit.numerics.preconditioners import SpectralNewton
from dlnkit.numerics.validation import TrainingDivergedError

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.

GRIDS = {
    "spectral_newton": (0.005, 0.02, 0.05),
    "adamw": (1e-3, 3e-3, 1e-2),
    "sgd": (0.01, 0.03, 0.1),
}


@dataclass(frozen=True)
class OptimiserPlan:
    data: tuple[str, ...] = ("digits", "mnist1d")
    width: int = 32
    epochs: int = 6
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    tune_seed: int = 0


def make_optimiser(name: str, params: Any, lr: float) -> torch.optim.Optimizer:
    if name == "spectral_newton":
        return SpectralNewton(params, lr=lr, alpha=2.0, damping=1e-2, momentum=0.9)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """mean and its 95% t-interval (half-width 0 for a single value)."""
    from scipy.stats import t as student_t

    m = statistics.mean(values)
    if len(values) < 2:
        return m, m, m
    half = float(student_t.ppf(0.975, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def _one_run(data_name: str, opt_name: str, lr: float, seed: int, plan: OptimiserPlan) -> dict[str, Any]:
    data = load_census_data(data_name)
    spec = CensusModelSpec("cnn", data_name, plan.width, 1, plan.epochs, lr, seed=seed)
    model = build(spec, data)
    t0 = time.perf_counter()
    try:
        train(
            model,
            data,
            epochs=plan.epochs,
            lr=lr,
            batch_size=spec.batch_size,
            seed=seed,
            optimizer=make_optimiser(opt_name, model.parameters(), lr),
        )
        val, test = accuracy(model, data.X_val, data.y_val), accuracy(model, data.X_test, data.y_test)
    except TrainingDivergedError:
        val = test = 0.0
    return {"val_accuracy": val, "test_accuracy": test, "seconds": time.perf_counter() - t0}


def compare_optimisers(
    plan: OptimiserPlan, *, cached: dict[str, Any] | None = None, save: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Tune, then evaluate over seeds; ``cached``/``save`` make it resumable run by run."""
    runs: dict[str, Any] = dict(cached or {})

    def run(key: str, *args: Any) -> dict[str, Any]:
        if key not in runs:
            runs[key] = _one_run(*args)
            if save is not None:
                save(runs)
        return runs[key]

    tasks = {}
    for data_name in plan.data:
        summary = {}
        for opt in GRIDS:
            tuning = {
                lr: run(f"{data_name}|{opt}|{lr}|tune", data_name, opt, lr, plan.tune_seed, plan) for lr in GRIDS[opt]
            }
            best = max(GRIDS[opt], key=lambda lr: tuning[lr]["val_accuracy"])
            evals = [run(f"{data_name}|{opt}|{best}|{s}", data_name, opt, best, s, plan) for s in plan.seeds]
            acc = [e["test_accuracy"] for e in evals]
            m, lo, hi = t_interval(acc)
            summary[opt] = {
                "lr_grid": list(GRIDS[opt]),
                "val_accuracy_by_lr": {str(lr): tuning[lr]["val_accuracy"] for lr in GRIDS[opt]},
                "lr": best,
                "test_accuracy_mean": m,
                "ci95": [lo, hi],
                "seconds_mean": statistics.mean(e["seconds"] for e in evals),
                "n": len(acc),
            }
        sn = summary["spectral_newton"]
        beats = {o: sn["ci95"][0] > summary[o]["ci95"][1] for o in ("adamw", "sgd")}
        loses = {o: sn["ci95"][1] < summary[o]["ci95"][0] for o in ("adamw", "sgd")}
        verdict = "; ".join(
            f"vs {o}: "
            + (
                "Spectral Newton better (intervals separate)"
                if beats[o]
                else "Spectral Newton worse (intervals separate)"
                if loses[o]
                else "no separation"
            )
            for o in ("adamw", "sgd")
        )
        tasks[data_name] = {"summary": summary, "beats": beats, "verdict": verdict}
    return {"plan": asdict(plan), "grids": {k: list(v) for k, v in GRIDS.items()}, "tasks": tasks, "runs": runs}
