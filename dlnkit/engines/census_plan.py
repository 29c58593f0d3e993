"""What the census trains and measures: the quick set (tests, the default run) and the full set (``--full``).

Recipes (float32, AdamW, weight decay 0.01, batch 64, gradient clipping at 1, seed 0; see
:mod:`dlnkit.engines.census_zoo`): learning rate 2e-3 for the MLPs and convolutional nets, 1e-3 for the
transformers; epochs as listed. Analysis sample counts per family are set by the cost of one
Hessian-vector product on a loaded 2-core machine: an HVP through a convolution at 64 (8x8) or 40
positions per image costs about as much as one through an MLP at 64 times the samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlnkit.engines.census_analysis import AnalysisPlan
from dlnkit.engines.census_optimisers import OptimiserPlan
from dlnkit.engines.census_zoo import CensusModelSpec

ROBUST_ROLES = ("conv", "attention", "mlp_up", "head")


@dataclass(frozen=True)
class CensusPlan:
    name: str
    models: tuple[tuple[CensusModelSpec, AnalysisPlan], ...]
    optimisers: OptimiserPlan


def _full() -> CensusPlan:
    S = CensusModelSpec
    conv = AnalysisPlan(samples=16, k=10, robust_samples=(8, 64))
    mlp = AnalysisPlan(samples=256, k=10, robust_samples=(128, 1024))
    vit = AnalysisPlan(samples=32, k=10, robust_samples=(16, 128))
    gpt = AnalysisPlan(samples=64, k=10, robust_samples=(32, 256))
    models = (
        (S("mlp", "digits", 256, 3, 20, 2e-3), mlp),
        (S("mlp", "mnist1d", 256, 3, 20, 2e-3), mlp),
        (S("cnn", "digits", 64, 1, 15, 2e-3), conv),
        (S("cnn", "mnist1d", 64, 1, 10, 2e-3), conv),
        (S("resnet", "digits", 64, 1, 15, 2e-3), conv),
        (S("resnet", "mnist1d", 64, 1, 10, 2e-3), conv),
        (S("vit", "digits", 64, 2, 30, 1e-3), vit),
        (S("vit", "mnist1d", 64, 2, 20, 1e-3), vit),
        (S("gpt", "recall", 64, 3, 30, 1e-3), gpt),
    )
    return CensusPlan("full", models, OptimiserPlan(data=("digits", "mnist1d"), width=32, epochs=6))


def _quick() -> CensusPlan:
    S = CensusModelSpec
    small = AnalysisPlan(samples=32, k=8, robust_samples=(16, 64))
    conv = AnalysisPlan(samples=8, k=8, robust_samples=(4, 16))
    models = (
        (S("mlp", "digits", 96, 1, 4, 2e-3), small),
        (S("cnn", "digits", 8, 1, 3, 2e-3), conv),
        (S("gpt", "recall", 16, 1, 3, 1e-3), small),
    )
    return CensusPlan("quick", models, OptimiserPlan(data=("digits",), width=4, epochs=1, seeds=(0, 1, 2)))


def census_plan(full: bool) -> CensusPlan:
    return _full() if full else _quick()
