"""Shared pieces of the classic-result claims (C1-C5): data builders and the assumption-driven
strategy helpers (the claims subclass :class:`~dlnkit.claims.base.Claim` directly, with
``cpu_only``, ``violations`` and ``explanations`` as data). Not registered itself (leading underscore)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from hypothesis import strategies as st

from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.configs import strategies as dst
from dlnkit.numerics.dln import teacher_map
from dlnkit.numerics.point import input_covariance, inputs_with_covariance
from dlnkit.numerics.validation import DlnkitInputError

GROUP = "classic"
ARORA = "classic: Arora et al. arXiv:1802.06509"
SAXE = "classic: Saxe et al. arXiv:1312.6120"
KAWAGUCHI = "classic: Kawaguchi arXiv:1605.07110"
MULAYOFF = "classic: Mulayoff & Michaeli ICML 2020"

# assumptions shared by several families
WHITENED = ASSUMPTIONS["whitened"]
LINEAR = ASSUMPTIONS["linear"]
SQUARED = ASSUMPTIONS["squared_loss"]
BALANCED = ASSUMPTIONS["balanced"]
ALIGNED = ASSUMPTIONS["aligned"]
PLAIN_GD = ASSUMPTIONS["plain_gd"]
MINIMUM = ASSUMPTIONS["global_minimum"]


# ----- data ---------------------------------------------------------------------------------------


def batch_data(
    d_in: int,
    d_out: int,
    *,
    seed: int,
    anisotropy: float = 1.0,
    loss: str = "squared",
    target: torch.Tensor | None = None,
    batch: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, Y): X with (1/B) X^T X = Sigma exactly; Y = X M^T for a target M, else random targets
    fitting the loss (Gaussian, signs, or one-hot rows)."""
    B = int(batch or max(2 * d_in, 8))
    X = inputs_with_covariance(B, input_covariance(d_in, anisotropy, seed), seed + 11)
    if target is not None:
        return X, X @ target.T
    g = torch.Generator().manual_seed(int(seed) + 29)
    R = torch.randn(B, d_out, generator=g, dtype=torch.float64)
    if loss == "logistic":
        return X, torch.sign(R) + (R == 0).double()
    if loss == "cross_entropy":
        return X, torch.nn.functional.one_hot(R.argmax(dim=1), d_out).double()
    return X, R


def moments(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(Sigma, C) = (X^T X / B, Y^T X / B)."""
    return X.T @ X / X.shape[0], Y.T @ X / X.shape[0]


def target(dims, t, seed) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return teacher_map(int(dims[-1]), int(dims[0]), [float(x) for x in t], seed=int(seed))


def rel(x: float, scale: float) -> float:
    return x / scale if scale > 0 else (0.0 if x == 0 else math.inf)


# ----- strategy helpers ---------------------------------------------------------------------------


def keep_or_break(name: str, drop, keep: Any, broken: st.SearchStrategy) -> st.SearchStrategy:
    """The kept value while the assumption holds, values that break it once dropped."""
    return broken if name in drop else st.just(keep)


def small_dims(min_depth: int = 2, max_depth: int = 4, max_width: int = 4, min_width: int = 1):
    return dst.dims(min_depth=min_depth, max_depth=max_depth, min_width=min_width, max_width=max_width)


def check_known(config: Mapping, key: str, allowed) -> Any:
    v = config.get(key)
    if v not in allowed:
        raise DlnkitInputError(f"{key} must be one of {allowed}, got {v!r}")
    return v
