"""Shared pieces of the classic-result claims (C1-C5): the base class with the claim-protocol
hooks (group, slow, violated_assumptions, explain, exact route), data builders and the
assumption-driven strategy helpers. Not registered itself (leading underscore)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from hypothesis import strategies as st

from dlnkit.claims.base import Assumption, Claim, Comparison
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
WHITENED = Assumption("whitened", "inputs are whitened: (1/B) X^T X = I")
LINEAR = Assumption("linear", "no activation: f(x) = W_L ... W_1 x")
SQUARED = Assumption("squared_loss", "the loss is the squared loss (tested: is it needed?)")
BALANCED = Assumption("balanced", "W_{l+1}^T W_{l+1} = W_l W_l^T for every l")
ALIGNED = Assumption("aligned", "the point's singular bases are the target's (no GL twist of a hidden layer)")
PLAIN_GD = Assumption("plain_gd", "plain gradient descent (no momentum)")
MINIMUM = Assumption("global_minimum", "the point is a global minimum (zero residual)")


class ClassicClaim(Claim):
    """A claim about a classic result. Subclasses say which configuration key breaks which
    assumption in :attr:`violations` (name -> predicate on the config)."""

    group = GROUP
    slow = False
    #: assumption name -> predicate(config) that is True when the config violates it
    violations: Mapping[str, Any] = {}
    #: assumption name -> why dropping it breaks (or does not break) the claim
    explanations: Mapping[str, str] = {}

    def check(self, config, device: str = "cpu", seed: int | None = None, *, exact: bool = False):
        """The base runner, always on the CPU: these claims work with matrices of size <= ~6 (and
        NumPy loops for trainings), so a GPU would only add transfers. The row says "cpu" whatever
        device was asked for, rather than claiming a device that did no work."""
        return super().check(config, "cpu", seed, exact=exact)

    def violated_assumptions(self, config) -> frozenset:
        return frozenset(n for n, pred in self.violations.items() if n in self.assumption_names and pred(config))

    def explain(self, dropped: Iterable[str], config) -> str:
        parts = [self.explanations[n] for n in sorted(dropped) if n in self.explanations]
        return " ".join(parts) or f"Dropping {', '.join(sorted(dropped))} lets the search reach this configuration."

    def full_configs(self) -> list:
        return self.default_configs()

    # exact route: subclasses with one set has_exact_route = True and implement both
    has_exact_route = False

    def exact_predict(self, config):
        raise NotImplementedError(f"{self.id} has no exact route")

    def exact_measure(self, config):
        raise NotImplementedError(f"{self.id} has no exact route")

    def exact_check(self, config) -> Comparison:
        """Exact prediction vs exact measurement with zero tolerance (SymPy rationals)."""
        import sympy as sp

        pred, meas = self.exact_predict(config), self.exact_measure(config)
        value = meas["value"] if isinstance(meas, Mapping) else meas
        if isinstance(pred, sp.MatrixBase) or isinstance(value, sp.MatrixBase):
            err = float(max(abs(x - y) for x, y in zip(sp.Matrix(pred), sp.Matrix(value))))
        else:
            err = float(abs(sp.sympify(value) - sp.sympify(pred)))
        details = {k: (str(v) if k == "value" else v) for k, v in meas.items()} if isinstance(meas, Mapping) else {}
        return Comparison(pred, value, err, 0.0, self.exact_display(pred), self.exact_display(value), details=details)

    def exact_display(self, value) -> str:
        """How an exact prediction or measurement is shown in the table."""
        return str(value)


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
