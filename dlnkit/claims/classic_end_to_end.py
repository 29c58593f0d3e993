"""C2: end-to-end dynamics of balanced deep linear networks (Arora, Cohen, Hazan arXiv:1802.06509).

* ``C2-balanced``: at a balanced point the end-to-end velocity under gradient flow on the layers
  (product rule on autograd layer gradients) equals
  -sum_j (W W^T)^{(j-1)/L} nabla (W^T W)^{(L-j)/L} with fractional PSD powers (nabla = dl/dW by autograd).
* ``C2-off-balance``: at W_1 -> c W_1, W_2 -> W_2 / c of a balanced point the error of that formula
  is exactly (c^-2 - 1) T_1 + (c^2 - 1) T_2 (derived in :mod:`dlnkit.theory.classic_end_to_end`).

Configurations: ``dims``, ``s`` (per-layer singular values, length r), ``seed``, ``loss``,
``anisotropy``, ``balance`` c, ``misalignment`` (strength of a GL twist of the first hidden layer).
"""

from __future__ import annotations

import functools

import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims._classic import (
    ARORA,
    BALANCED,
    SQUARED,
    WHITENED,
    batch_data,
    keep_or_break,
    small_dims,
)
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.configs import strategies as dst
from dlnkit.numerics.classic_curvature import rescale_first_layers, twist_first_hidden
from dlnkit.numerics.classic_dynamics import (
    end_to_end,
    end_to_end_gradient,
    end_to_end_velocity,
    layer_gradients,
    rescaled_velocity_terms,
    velocity_formula,
)
from dlnkit.numerics.dln import DeepLinearNetwork, random_orthonormal
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.theory.classic_end_to_end import balance_factor, rescaled_velocity_relative_error

ORBIT = ASSUMPTIONS["rescaling_orbit"]

_EXPLAIN = {
    "balanced": "Off balance P_jP_j^T and Q_j^TQ_j are no longer fractional powers of W W^T and W^T W: with "
    "W_1 -> c W_1, W_2 -> W_2/c the first two terms of the sum are scaled by c^-2 and c^2, so the "
    "velocity differs from the formula by (c^-2 - 1) T_1 + (c^2 - 1) T_2 (SymPy); on one aligned mode "
    "the relative error is (c - 1/c)^2 / L.",
    "rescaling_orbit": "A GL twist A of a hidden layer (W_1 -> A W_1, W_2 -> W_2 A^-1) changes P_1P_1^T and "
    "Q_2^TQ_2 by congruences, not by the scalars c^-2, c^2, so the two-term correction no longer "
    "describes the error.",
    "squared_loss": "Not needed: the velocity formula holds for any loss, nabla = dl/dW enters linearly.",
    "whitened": "Not needed: the data enter only through nabla.",
}


def _point(config):
    dims = [int(d) for d in config["dims"]]
    seed = int(config.get("seed", 0))
    s = [float(x) for x in config["s"]]
    r = len(s)
    if r > min(dims):
        raise DlnkitInputError(f"{r} singular values need every width >= {r}, got {dims}")
    g = torch.Generator().manual_seed(seed)
    U = random_orthonormal(dims[-1], r, generator=g)
    V = random_orthonormal(dims[0], r, generator=g)
    Ws = [W.detach() for W in DeepLinearNetwork.balanced_aligned(dims, U, V, s, seed=seed + 1, device="cpu").weights]
    c = float(config.get("balance", 1.0))
    if c != 1.0:
        Ws = rescale_first_layers(Ws, c)
    if float(config.get("misalignment", 0.0)) != 0.0:
        Ws = twist_first_hidden(Ws, float(config["misalignment"]), seed=seed + 3)
    X, Y = batch_data(
        dims[0],
        dims[-1],
        seed=seed,
        anisotropy=float(config.get("anisotropy", 1.0)),
        loss=config.get("loss", "squared"),
    )
    return Ws, X, Y


@st.composite
def _configs(draw, drop, *, need_depth2=False):
    d = draw(small_dims(min_depth=2 if need_depth2 or "balanced" in drop else 1, max_depth=4, max_width=4))
    r = draw(st.integers(1, min(d)))
    cfg = {
        "dims": d,
        "s": draw(st.lists(dst.singular_values(0.5, 2.0), min_size=r, max_size=r)),
        "seed": draw(dst.seeds),
        "loss": draw(keep_or_break("squared_loss", drop, "squared", st.sampled_from(["logistic", "cross_entropy"]))),
        "anisotropy": draw(keep_or_break("whitened", drop, 1.0, dst.anisotropy_factors)),
    }
    if cfg["loss"] == "cross_entropy" and d[-1] < 2:
        cfg["loss"] = "logistic"
    return cfg


@functools.cache
def _scalar_error(depth: int):
    """(c - 1/c)^2 / L from SymPy, lambdified once per depth."""
    return sp.lambdify(balance_factor, rescaled_velocity_relative_error(depth))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.norm(a - b)) / max(float(torch.linalg.norm(b)), 1e-300)


class BalancedVelocityClaim(Claim):
    id = "C2-balanced"
    optional_config_keys = ("misalignment",)  # read with a default; never drawn
    title = "balanced point: dW/dt = -sum_j (WW^T)^((j-1)/L) nabla (W^TW)^((L-j)/L)"
    source = f"{ARORA} (C2)"
    assumptions = (BALANCED, SQUARED, WHITENED)
    tolerance = Tolerance(
        rtol=1e-9,
        reason="fractional powers from eigh (backward stable, eigenvalues below 1e-10 "
        "of the largest set to 0 as rounding of exact zeros): relative error ~1e-14 measured; "
        "1e-9 allows for clustered singular values",
    )
    cpu_only = True
    violations = {
        "balanced": lambda c: float(c.get("balance", 1.0)) != 1.0 or float(c.get("misalignment", 0.0)) != 0.0,
        "squared_loss": lambda c: c.get("loss", "squared") != "squared",
        "whitened": lambda c: float(c.get("anisotropy", 1.0)) != 1.0,
    }
    explanations = _EXPLAIN

    def statement_latex(self) -> str:
        return r"\dot W = -\sum_{j=1}^{L} (WW^\top)^{\frac{j-1}{L}}\,\nabla\ell(W)\,(W^\top W)^{\frac{L-j}{L}}"

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        base = _configs(drop)
        if "balanced" in drop:
            return st.tuples(base, st.sampled_from([2.0, 0.5, 1.5])).map(lambda p: {**p[0], "balance": p[1]})
        return base

    def default_configs(self):
        return [
            {"dims": [3, 4, 2], "s": [1.5, 0.75], "seed": 0, "loss": "squared", "anisotropy": 1.0},
            {"dims": [4, 5, 5, 3], "s": [1.25, 1.0, 0.5], "seed": 1, "loss": "cross_entropy", "anisotropy": 4.0},
            {"dims": [3, 3, 3, 3, 3], "s": [2.0, 1.0, 0.5], "seed": 2, "loss": "squared", "anisotropy": 1.0},
        ]

    def _velocities(self, config):
        Ws, X, Y = _point(config)
        loss = config.get("loss", "squared")
        nabla = end_to_end_gradient(Ws, X, Y, loss)
        measured = end_to_end_velocity(Ws, layer_gradients(Ws, X, Y, loss=loss))
        return Ws, nabla, measured

    def predict(self, config):
        Ws, nabla, _ = self._velocities(config)
        return velocity_formula(end_to_end(Ws), nabla, len(Ws))

    def measure(self, config, device="cpu"):
        return self._velocities(config)[2]

    def compare(self, predicted, measured, config):
        err = _rel(measured, predicted)
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.rtol,
            f"formula |dW/dt| {float(torch.linalg.norm(predicted)):.4g}",
            f"product rule, rel. diff {err:.2e}",
        )


class OffBalanceVelocityClaim(BalancedVelocityClaim):
    id = "C2-off-balance"
    title = "rescaled point (c): dW/dt = formula + (c^-2 - 1) T_1 + (c^2 - 1) T_2 exactly"
    source = f"{ARORA} (C2, off balance: dlnkit)"
    assumptions = (ORBIT, SQUARED, WHITENED)
    violations = {
        "rescaling_orbit": lambda c: float(c.get("misalignment", 0.0)) != 0.0,
        "squared_loss": lambda c: c.get("loss", "squared") != "squared",
        "whitened": lambda c: float(c.get("anisotropy", 1.0)) != 1.0,
    }

    def statement_latex(self) -> str:
        return r"\dot W_c - \dot W_{\mathrm{formula}} = (c^{-2}-1)T_1 + (c^2-1)T_2,\ \text{scalar chain: }" + sp.latex(
            rescaled_velocity_relative_error()
        )

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        base = _configs(drop, need_depth2=True)
        c = st.sampled_from([2.0, 0.5, 1.5, 0.8, 1.1])
        if "rescaling_orbit" in drop:
            return st.tuples(base, c, st.sampled_from([0.3, 0.6])).map(
                lambda p: {**p[0], "balance": p[1], "misalignment": p[2]}
            )
        return st.tuples(base, c).map(lambda p: {**p[0], "balance": p[1]})

    def default_configs(self):
        return [
            {"dims": [3, 4, 2], "s": [1.5, 0.75], "seed": 0, "loss": "squared", "anisotropy": 1.0, "balance": 2.0},
            {
                "dims": [4, 5, 5, 3],
                "s": [1.25, 1.0, 0.5],
                "seed": 1,
                "loss": "squared",
                "anisotropy": 1.0,
                "balance": 1.1,
            },
        ]

    def predict(self, config):
        Ws, nabla, _ = self._velocities(config)
        W, L, c = end_to_end(Ws), len(Ws), float(config.get("balance", 1.0))
        T1, T2 = rescaled_velocity_terms(W, nabla, L)
        formula = velocity_formula(W, nabla, L)
        return {
            "velocity": formula + (c**-2 - 1) * T1 + (c**2 - 1) * T2,
            "formula": formula,
            "scalar_relative_error": float(_scalar_error(L)(c)),
        }

    def measure(self, config, device="cpu"):
        return self._velocities(config)[2]

    def compare(self, predicted, measured, config):
        err = _rel(measured, predicted["velocity"])
        off = _rel(measured, predicted["formula"])
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.rtol,
            f"formula + two-term correction (formula alone off by {off:.3g})",
            f"rel. diff {err:.2e}",
            details={
                "balanced_formula_relative_error": off,
                "scalar_chain_relative_error": predicted["scalar_relative_error"],
            },
        )


CLAIMS = [BalancedVelocityClaim(), OffBalanceVelocityClaim()]
