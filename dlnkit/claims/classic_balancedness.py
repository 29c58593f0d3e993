"""C1: conservation of balancedness (Arora, Cohen, Hazan arXiv:1802.06509; Du, Hu, Lee
arXiv:1806.00900).

* ``C1-flow``: dD_l/dt = 0 under gradient flow, at any point, for any loss of the outputs.
* ``C1-relu-diagonal``: with a positively homogeneous activation (ReLU) only diag(dD_l/dt) = 0.
* ``C1-step``: one gradient step changes D_l by exactly eta^2 (g_{l+1}^T g_{l+1} - g_l g_l^T).
* ``C1-drift-order``: over a fixed time horizon the accumulated imbalance is first order in eta.

Configurations: ``dims``, ``seed``, ``scale`` (Gaussian weights N(0, scale^2/d)), ``loss``,
``activation``, ``anisotropy`` (input covariance condition number; 1 = whitened), ``lr``,
``momentum``. Derivations: :mod:`dlnkit.theory.classic_balancedness`.
"""

from __future__ import annotations

import math

import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims._classic import (
    ARORA,
    LINEAR,
    PLAIN_GD,
    SQUARED,
    WHITENED,
    batch_data,
    keep_or_break,
    moments,
    small_dims,
)
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.configs import strategies as dst
from dlnkit.numerics.classic_dynamics import (
    accumulated_imbalance,
    gd_imbalance_change,
    gd_step,
    imbalance_flow_rate,
    layer_gradients,
)
from dlnkit.numerics.dln import DeepLinearNetwork
from dlnkit.theory.classic_balancedness import flow_derivative_matrix_form, step_change_matrix_form
from dlnkit.theory.exact_hessian import end_to_end_exact, partial_products_exact

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.

HOMOGENEOUS = ASSUMPTIONS["homogeneous_activation"]

_EXPLAIN = {
    "linear": "With an activation between layers the layer gradients are no longer P_l^T nabla Q_l^T, so the "
    "identity W_{l+1}^T g_{l+1} = g_l W_l^T behind the cancellation fails; a positively homogeneous "
    "activation (ReLU) keeps only its diagonal (one hidden unit at a time), tanh not even that.",
    "homogeneous_activation": "For one hidden unit, d/dt(|w_in|^2 - |w_out|^2) = 2 sum r v (sigma(z) - z sigma'(z)) "
    "(SymPy, dlnkit.theory.classic_balancedness.neuron_balance_rate): zero iff sigma(z) = z sigma'(z); "
    "tanh(z) != z tanh'(z) for z != 0.",
    "plain_gd": "With momentum the step is -eta v with v = mu v_prev + g: the cross terms W^T v no longer cancel "
    "(v_prev was computed at another point), so the change of D_l has a first-order part in eta.",
    "squared_loss": "Not needed: the cancellation uses only that every g_l is P_l^T nabla Q_l^T for the same "
    "end-to-end "
    "gradient nabla, whatever the loss (the search finds nothing).",
    "whitened": "Not needed: the data enter only through nabla (the search finds nothing).",
}

_VIOLATIONS = {
    "linear": lambda c: c.get("activation", "linear") != "linear",
    "homogeneous_activation": lambda c: c.get("activation", "linear") not in ("linear", "relu"),
    "squared_loss": lambda c: c.get("loss", "squared") != "squared",
    "whitened": lambda c: float(c.get("anisotropy", 1.0)) != 1.0,
    "plain_gd": lambda c: float(c.get("momentum", 0.0)) != 0.0,
}


def _point(config):
    dims = [int(d) for d in config["dims"]]
    seed = int(config.get("seed", 0))
    Ws = [
        W.detach()
        for W in DeepLinearNetwork.random(dims, scale=float(config.get("scale", 1.0)), seed=seed, device="cpu").weights
    ]
    X, Y = batch_data(
        dims[0],
        dims[-1],
        seed=seed,
        anisotropy=float(config.get("anisotropy", 1.0)),
        loss=config.get("loss", "squared"),
    )
    return Ws, X, Y


def _base_strategy(drop, *, activations=("relu", "tanh"), min_depth=2, extra=None):
    losses = st.sampled_from(["logistic", "cross_entropy"])
    fields = {
        "dims": small_dims(min_depth=min_depth, max_depth=4, max_width=4, min_width=2),
        "seed": dst.seeds,
        "scale": st.sampled_from([1.0, 0.5, 2.0]),
        "loss": keep_or_break("squared_loss", drop, "squared", losses),
        "activation": keep_or_break("linear", drop, "linear", st.sampled_from(list(activations))),
        "anisotropy": keep_or_break("whitened", drop, 1.0, dst.anisotropy_factors),
    }
    fields.update(extra or {})
    return st.fixed_dictionaries(fields)


def _scale(Ws, grads) -> float:
    return max(
        float(torch.linalg.norm(grads[k + 1])) * float(torch.linalg.norm(Ws[k + 1]))
        + float(torch.linalg.norm(grads[k])) * float(torch.linalg.norm(Ws[k]))
        for k in range(len(Ws) - 1)
    )


class BalancednessFlowClaim(Claim):
    """dD_l/dt = 0 under gradient flow (proved on matrix symbols, measured with autograd gradients)."""

    id = "C1-flow"
    title = "gradient flow conserves D_l = W_{l+1}^T W_{l+1} - W_l W_l^T (any loss)"
    source = f"{ARORA} (C1)"
    assumptions = (LINEAR, SQUARED, WHITENED)
    tolerance = Tolerance(
        rtol=1e-12,
        reason="dD/dt is a difference of products of size <= 6 computed in float64: "
        "rounding <= ~4 d eps (|g_{l+1}||W_{l+1}| + |g_l||W_l|) < 1e-14 of that scale; 1e-12 leaves margin",
    )
    cpu_only = True
    violations = _VIOLATIONS
    explanations = _EXPLAIN

    def statement_latex(self) -> str:
        return (
            r"\dot D_l = "
            + sp.latex(sp.simplify(flow_derivative_matrix_form().doit().expand()))
            + r"\ \text{(any loss)}"
        )

    def config_strategy(self, drop=()):
        return _base_strategy(self.check_drop(drop))

    def default_configs(self):
        return [
            {"dims": [3, 4, 2], "seed": 0, "scale": 1.0, "loss": "squared", "activation": "linear", "anisotropy": 1.0},
            {
                "dims": [4, 3, 3, 2],
                "seed": 1,
                "scale": 1.0,
                "loss": "cross_entropy",
                "activation": "linear",
                "anisotropy": 4.0,
            },
            {
                "dims": [2, 3, 3, 3, 2],
                "seed": 2,
                "scale": 2.0,
                "loss": "logistic",
                "activation": "linear",
                "anisotropy": 1.0,
            },
        ]

    def predict(self, config):
        return 0.0

    def _rates(self, config):
        Ws, X, Y = _point(config)
        g = layer_gradients(Ws, X, Y, activation=config.get("activation", "linear"), loss=config.get("loss", "squared"))
        return Ws, g, imbalance_flow_rate(Ws, g)

    def measure(self, config, device="cpu"):
        Ws, g, rates = self._rates(config)
        return {"value": max(float(torch.linalg.norm(R)) for R in rates), "scale": _scale(Ws, g)}

    def compare(self, predicted, measured, config):
        bound = self.tolerance.rtol * measured["scale"]
        return Comparison(
            predicted,
            measured,
            measured["value"],
            bound,
            "0",
            f"{measured['value']:.3g}",
            details={"scale": measured["scale"]},
        )

    def exact_predict(self, config):
        return sp.Integer(0)

    def exact_measure(self, config):
        from dlnkit.configs.exact_points import exact_point

        if config.get("activation", "linear") != "linear":
            raise NotImplementedError("the exact route covers linear networks")
        # any loss enters only through nabla = dl/dW; a rational nabla (the squared loss's W Sigma - C
        # at the rational point) stands in for it, so every loss is covered by the same exact identity
        pt = exact_point(
            {"dims": config["dims"], "seed": config.get("seed", 0), "anisotropy": config.get("anisotropy", 1.0)}
        )
        Ws = pt["weights"]
        P, Q = partial_products_exact(Ws)
        G = end_to_end_exact(Ws) * pt["sigma"] - pt["cross"]
        g = [P[k].T * G * Q[k].T for k in range(len(Ws))]
        rates = [
            -(g[k + 1].T * Ws[k + 1] + Ws[k + 1].T * g[k + 1]) + g[k] * Ws[k].T + Ws[k] * g[k].T
            for k in range(len(Ws) - 1)
        ]
        return {
            "value": max(abs(x) for R in rates for x in R),
            "route": "rational weights, rational nabla (stands in for any loss's), exact gradients",
        }


class ReluDiagonalClaim(BalancednessFlowClaim):
    """Positively homogeneous activations: diag(dD_l/dt) = 0 (per hidden unit), the full matrix not."""

    id = "C1-relu-diagonal"
    title = "ReLU networks: gradient flow conserves diag(D_l) (per-neuron balance), any loss"
    source = "classic: Du, Hu, Lee arXiv:1806.00900 (C1)"
    assumptions = (HOMOGENEOUS, SQUARED, WHITENED)
    exact_measure = Claim.exact_measure  # no exact route: the inherited one covers linear networks only

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        act = st.just("tanh") if "homogeneous_activation" in drop else st.sampled_from(["relu", "linear"])
        s = _base_strategy(drop - {"homogeneous_activation"})
        return st.tuples(s, act).map(lambda p: {**p[0], "activation": p[1]})

    def default_configs(self):
        return [
            {"dims": [3, 5, 2], "seed": 0, "scale": 1.0, "loss": "squared", "activation": "relu", "anisotropy": 1.0},
            {
                "dims": [4, 4, 3, 2],
                "seed": 3,
                "scale": 1.0,
                "loss": "cross_entropy",
                "activation": "relu",
                "anisotropy": 1.0,
            },
        ]

    def measure(self, config, device="cpu"):
        Ws, g, rates = self._rates(config)
        diag = max(float(torch.linalg.norm(torch.diagonal(R))) for R in rates)
        full = max(float(torch.linalg.norm(R)) for R in rates)
        return {"value": diag, "scale": _scale(Ws, g), "full_matrix": full}

    def compare(self, predicted, measured, config):
        cmp = super().compare(predicted, measured, config)
        cmp.measured_display += f" (full D: {measured['full_matrix']:.3g})"
        cmp.details["full_matrix_rate"] = measured["full_matrix"]
        return cmp


class BalancednessStepClaim(Claim):
    """One GD step: D_l^+ - D_l = eta^2 (g_{l+1}^T g_{l+1} - g_l g_l^T), exactly."""

    id = "C1-step"
    title = "one GD step changes D_l by exactly eta^2 (g_{l+1}^T g_{l+1} - g_l g_l^T)"
    source = f"{ARORA} (C1)"
    assumptions = (LINEAR, PLAIN_GD, SQUARED, WHITENED)
    tolerance = Tolerance(
        rtol=1e-12,
        reason="D_l^+ - D_l is a difference of Gram matrices of size <= 4 with entries "
        "~|W|^2: float64 rounding ~ d eps max(|W|^2, |W^+|^2); 1e-12 of that scale leaves margin",
    )
    cpu_only = True
    violations = _VIOLATIONS
    explanations = _EXPLAIN

    def statement_latex(self) -> str:
        change, claimed = step_change_matrix_form()
        return r"D_l^{+} - D_l = " + sp.latex(claimed)

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        return _base_strategy(
            drop,
            extra={
                "lr": st.sampled_from([0.1, 0.01, 0.3, 0.05]),
                "momentum": keep_or_break("plain_gd", drop, 0.0, st.sampled_from([0.9, 0.5])),
            },
        )

    def default_configs(self):
        return [
            {
                "dims": [3, 4, 2],
                "seed": 0,
                "scale": 1.0,
                "loss": "squared",
                "activation": "linear",
                "anisotropy": 1.0,
                "lr": 0.1,
                "momentum": 0.0,
            },
            {
                "dims": [2, 3, 4, 3, 2],
                "seed": 5,
                "scale": 1.0,
                "loss": "logistic",
                "activation": "linear",
                "anisotropy": 10.0,
                "lr": 0.3,
                "momentum": 0.0,
            },
        ]

    def predict(self, config):
        return 0.0

    def measure(self, config, device="cpu"):
        Ws, X, Y = _point(config)
        kw = dict(activation=config.get("activation", "linear"), loss=config.get("loss", "squared"))
        lr, mom = float(config["lr"]), float(config.get("momentum", 0.0))
        velocity = None
        if mom != 0.0:  # heavy ball needs a history: one plain step from a previous point
            prev = [W + lr * g for W, g in zip(Ws, layer_gradients(Ws, X, Y, **kw))]
            _, velocity = gd_step(prev, layer_gradients(prev, X, Y, **kw), lr)
        out = gd_imbalance_change(Ws, X, Y, lr, momentum=mom, velocity=velocity, **kw)
        miss = max(float(torch.linalg.norm(a - b)) for a, b in zip(out["measured"], out["identity"]))
        scale = max(float(torch.linalg.norm(W)) ** 2 for W in Ws + out["new_weights"])
        size = max(float(torch.linalg.norm(a)) for a in out["identity"])
        return {"value": miss, "scale": scale, "identity_size": size}

    def compare(self, predicted, measured, config):
        bound = self.tolerance.rtol * measured["scale"]
        return Comparison(
            predicted,
            measured,
            measured["value"],
            bound,
            f"0 (|identity| {measured['identity_size']:.3g})",
            f"{measured['value']:.3g}",
            details=dict(measured),
        )

    def exact_predict(self, config):
        return sp.Integer(0)

    def exact_measure(self, config):
        from dlnkit.configs.exact_points import exact_point, rational

        if config.get("activation", "linear") != "linear":
            raise NotImplementedError("the exact route covers linear networks")
        if float(config.get("momentum", 0.0)) != 0.0:
            raise NotImplementedError("the exact route covers plain gradient descent")
        pt = exact_point(
            {"dims": config["dims"], "seed": config.get("seed", 0), "anisotropy": config.get("anisotropy", 1.0)}
        )
        eta = rational(config["lr"])

        def grads(Ws):
            P, Q = partial_products_exact(Ws)
            G = end_to_end_exact(Ws) * pt["sigma"] - pt["cross"]
            return [P[k].T * G * Q[k].T for k in range(len(Ws))]

        Ws = pt["weights"]
        g = grads(Ws)
        new = [W - eta * gk for W, gk in zip(Ws, g)]
        D = lambda V, k: V[k + 1].T * V[k + 1] - V[k] * V[k].T
        miss = [D(new, k) - D(Ws, k) - eta**2 * (g[k + 1].T * g[k + 1] - g[k] * g[k].T) for k in range(len(Ws) - 1)]
        return {
            "value": max(abs(x) for M in miss for x in M),
            "route": "rational weights, step and nabla (any loss enters through nabla only)",
        }


class DriftOrderClaim(Claim):
    """Over a fixed time horizon T the accumulated imbalance is eta * K + O(eta^2): the log-log
    slope of drift against eta, measured between eta and 2 eta, is 1."""

    id = "C1-drift-order"
    kind = "approximate"
    title = "GD to time T: accumulated |D_l(T) - D_l(0)| is first order in eta (log-log slope 1)"
    source = f"{ARORA} (C1)"
    assumptions = (PLAIN_GD,)
    tolerance = Tolerance(
        rtol=10.0,
        reason="drift = eta * integral of (g^T g - g g^T) dt + O(eta^2): the slope "
        "between eta and 2 eta is 1 + c eta (c up to ~7 measured on drawn networks, T = 1); the "
        "bound is 10 eta",
    )
    cpu_only = True
    violations = _VIOLATIONS
    explanations = _EXPLAIN

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        return st.fixed_dictionaries(
            {
                "dims": small_dims(2, 3, 4, 2),
                "seed": dst.seeds,
                "scale": st.sampled_from([0.5, 1.0]),
                "lr": st.sampled_from([0.01, 0.02]),
                "horizon": st.just(1.0),
                "momentum": keep_or_break("plain_gd", drop, 0.0, st.sampled_from([0.9, 0.5])),
            }
        )

    def default_configs(self):
        return [
            {"dims": [3, 4, 2], "seed": 0, "scale": 1.0, "lr": 0.01, "horizon": 1.0},
            {"dims": [3, 3, 3, 3], "seed": 1, "scale": 1.0, "lr": 0.01, "horizon": 1.0},
        ]

    def full_configs(self):
        """Smaller steps: the slope tends to 1 as eta -> 0."""
        return [
            {"dims": d, "seed": s, "scale": 1.0, "lr": lr, "horizon": 1.0}
            for d, s in (([3, 4, 2], 0), ([3, 3, 3, 3], 1))
            for lr in (0.02, 0.01, 0.005, 0.0025)
        ]

    def predict(self, config):
        return 1.0

    def measure(self, config, device="cpu"):
        dims, seed = [int(d) for d in config["dims"]], int(config.get("seed", 0))
        Ws = [
            W.detach()
            for W in DeepLinearNetwork.random(
                dims, scale=float(config.get("scale", 1.0)), seed=seed, device="cpu"
            ).weights
        ]
        X, Y = batch_data(dims[0], dims[-1], seed=seed)
        sigma, cross = moments(X, Y)
        lr, T = float(config["lr"]), float(config.get("horizon", 1.0))
        mom = float(config.get("momentum", 0.0))
        small = accumulated_imbalance(Ws, sigma, cross, lr, T, momentum=mom)
        big = accumulated_imbalance(Ws, sigma, cross, 2 * lr, T, momentum=mom)
        slope = math.log(big["drift"] / small["drift"]) / math.log(2.0)
        return {
            "slope": slope,
            "drift": small["drift"],
            "drift_2eta": big["drift"],
            "constant": small["drift"] / lr,
            "identity_mismatch": max(small["identity_mismatch"], big["identity_mismatch"]),
        }

    def compare(self, predicted, measured, config):
        err = abs(measured["slope"] - predicted)
        bound = self.tolerance.rtol * float(config["lr"])
        return Comparison(
            predicted,
            measured,
            err,
            bound,
            "slope 1",
            f"{measured['slope']:.4f} (drift/eta = {measured['constant']:.4g})",
            details=measured,
        )


CLAIMS = [BalancednessFlowClaim(), ReluDiagonalClaim(), BalancednessStepClaim(), DriftOrderClaim()]
