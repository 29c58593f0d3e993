"""C3: exact learning dynamics of deep linear networks (Saxe, McClelland, Ganguli arXiv:1312.6120).

* ``C3-mode-ODE``: at a balanced point aligned with the target (whitened data) the end-to-end
  velocity is U diag(L u_i^{2-2/L}(t_i - u_i)) V^T exactly: the modes decouple and follow the ODE.
* ``C3-learning-curve``: the gradient flow of the layers (RK4 on the weight matrices) follows the
  SymPy solution: the logistic for L = 2, the inverted implicit solution t(u) for L >= 3.
* ``C3-gd-vs-flow``: gradient descent with step eta is Euler on the per-layer mode value; its
  deviation from the flow is eta * L a^{L-1} E(t) + O(eta^2), E from the derived variational ODE.

Configurations: ``dims``, ``t`` (target singular values), ``a`` (per-layer initial values, one per
mode: u_0 = a^L), ``seed``, ``anisotropy``, ``balance`` (W_1 -> c W_1, W_2 -> W_2/c), ``misalignment``
(GL twist of the first hidden layer), ``lr`` for GD. Time is in units of tau = 1 (flow dW_l/dt = -g_l).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims._classic import ALIGNED, BALANCED, SAXE, WHITENED, keep_or_break
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.configs import strategies as dst
from dlnkit.numerics.classic_curvature import rescale_first_layers, twist_first_hidden
from dlnkit.numerics.classic_dynamics import (
    end_to_end_velocity,
    flow_mode_curve,
    gd_mode_curve,
    layer_gradients,
    rk4_small,
)
from dlnkit.numerics.dln import DeepLinearNetwork, teacher_map, whitened_inputs
from dlnkit.numerics.point import input_covariance
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.theory import classic_learning_curves as th
from dlnkit.theory.exact_hessian import partial_products_exact, rational_orthogonal

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.

_EXPLAIN = {
    "whitened": "With input covariance Sigma the end-to-end gradient is W Sigma - M Sigma: unless Sigma shares the "
    "target's right singular basis, the modes couple and the per-mode ODE no longer holds.",
    "balanced": "Off balance the layers of a mode differ (c a, a/c, a, ...): du/dt = (L - 2 + c^2 + c^-2) a^{2(L-1)} "
    "(s - u), i.e. the ODE's rate times (L - 2 + c^2 + c^-2)/L (SymPy, dlnkit.theory.classic_end_to_end).",
    "aligned": "A GL twist A of a hidden layer (W_1 -> A W_1, W_2 -> W_2 A^-1) mixes the modes inside the network "
    "(P_jP_j^T, Q_j^TQ_j are no longer diagonal in the target's bases), so the velocity leaves the diagonal and the "
    "modes couple. A twist always unbalances too (balanced weights are aligned); in a width-1 hidden layer it is "
    "just a rescaling, which changes the rate by (L - 2 + c^2 + c^-2)/L.",
}
_VIOLATIONS = {
    "whitened": lambda c: float(c.get("anisotropy", 1.0)) != 1.0,
    "balanced": lambda c: float(c.get("balance", 1.0)) != 1.0 or float(c.get("misalignment", 0.0)) != 0.0,
    "aligned": lambda c: float(c.get("misalignment", 0.0)) != 0.0,
}


@functools.cache
def _rhs(depth: int):
    return sp.lambdify((th.u, th.s), th.mode_ode_rhs(depth), "math")


@functools.cache
def _implicit(depth: int):
    if depth == 2:
        return None
    return sp.lambdify((th.u, th.s, th.u0), th.implicit_time(depth), "numpy")


@functools.cache
def _logistic():
    return sp.lambdify((th.t, th.s, th.u0), th.logistic_solution(), "math")


@functools.cache
def _euler(depth: int):
    f, df, _ = th.euler_error_forcing(depth)
    return sp.lambdify((th.a, th.s), f, "math"), sp.lambdify((th.a, th.s), df, "math")


def flow_solution(depth: int, s: float, u0: float, times) -> list[float]:
    """u(t) from the SymPy solution: the logistic (L = 2) or the implicit t(u) inverted by bisection."""
    if depth == 1:  # du/dt = s - u
        return [s + (u0 - s) * math.exp(-tt) for tt in times]
    if depth == 2:
        f = _logistic()
        return [f(tt, s, u0) for tt in times]
    T = _implicit(depth)
    tt = np.asarray(list(times), dtype=float)
    lo, hi = np.full_like(tt, u0), np.full_like(tt, s)
    for _ in range(80):  # 2^-80 of the bracket: below float64 resolution
        mid = 0.5 * (lo + hi)
        with np.errstate(divide="ignore"):  # t(s) = inf (log 0) at the bracket's end is fine
            below = T(mid, s, u0) < tt
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return np.where(tt <= 0, u0, 0.5 * (lo + hi)).tolist()


def _learn_time(depth: int, s: float, u0: float, frac: float = 0.95) -> float:
    """Flow time from u0 to frac * s (from the implicit solution)."""
    if depth == 1:
        return math.log((s - u0) / (s - frac * s))
    if depth == 2:
        return math.log(frac * s * (s - u0) / (u0 * (s - frac * s))) / (2 * s)
    return float(_implicit(depth)(frac * s, s, u0))


def build_point(config):
    """Weights, sigma, cross, U, V of an aligned (possibly unbalanced / twisted) initialisation."""
    dims = [int(d) for d in config["dims"]]
    seed = int(config.get("seed", 0))
    t, a = [float(x) for x in config["t"]], [float(x) for x in config["a"]]
    if len(a) != len(t):
        raise DlnkitInputError(f"need one initial value per mode: t has {len(t)}, a has {len(a)}")
    M, U, V = teacher_map(dims[-1], dims[0], t, seed=seed)
    Ws = [W.detach() for W in DeepLinearNetwork.balanced_aligned(dims, U, V, a, seed=seed + 1, device="cpu").weights]
    if float(config.get("balance", 1.0)) != 1.0:
        Ws = rescale_first_layers(Ws, float(config["balance"]))
    if float(config.get("misalignment", 0.0)) != 0.0:
        Ws = twist_first_hidden(Ws, float(config["misalignment"]), seed=seed + 3)
    sigma = input_covariance(dims[0], float(config.get("anisotropy", 1.0)), seed)
    return Ws, sigma, M @ sigma, M, U, V


@st.composite
def _configs(draw, drop, *, max_depth=4, max_rank=2, a_values=(0.25, 0.5, 0.75, 1.0)):
    depth = draw(st.integers(2 if ({"balanced", "aligned"} & drop) else 1, max_depth))
    d_in, d_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    r = draw(st.integers(1, min(max_rank, d_in, d_out)))
    hidden = [draw(st.integers(r, 4)) for _ in range(depth - 1)]
    t = sorted(draw(st.lists(dst.singular_values(0.5, 2.0), min_size=r, max_size=r)), reverse=True)
    cfg = {
        "dims": [d_in, *hidden, d_out],
        "t": t,
        "a": draw(st.lists(st.sampled_from(list(a_values)), min_size=r, max_size=r)),
        "seed": draw(dst.seeds),
        "anisotropy": draw(keep_or_break("whitened", drop, 1.0, dst.anisotropy_factors)),
    }
    if "balanced" in drop:
        cfg["balance"] = draw(st.sampled_from([2.0, 0.5, 1.5]))
    if "aligned" in drop:
        cfg["misalignment"] = draw(st.sampled_from([0.3, 0.6]))
    if "whitened" in drop and d_in == 1:
        cfg["dims"][0] = 2
    return cfg


class ModeODEClaim(Claim):
    id = "C3-mode-ODE"
    title = "balanced aligned point, whitened: dW/dt = U diag(L u^(2-2/L) (s - u)) V^T (modes decouple)"
    source = f"{SAXE} (C3)"
    assumptions = (WHITENED, BALANCED, ALIGNED)
    tolerance = Tolerance(
        rtol=1e-10,
        reason="a few products of matrices of size <= 4 in float64: rounding ~1e-15 of "
        "the scale sum_i L a_i^(2L-2) (t_i + a_i^L) of the terms that cancel; 1e-10 leaves margin",
    )
    cpu_only = True
    violations = _VIOLATIONS
    explanations = _EXPLAIN

    def statement_latex(self) -> str:
        return r"\dot u = " + sp.latex(th.mode_ode_rhs())

    def config_strategy(self, drop=()):
        return _configs(self.check_drop(drop))

    def default_configs(self):
        return [
            {"dims": [3, 4, 2], "t": [2.0, 0.5], "a": [0.5, 1.0], "seed": 0},
            {"dims": [4, 4, 4, 3], "t": [1.5, 1.0, 0.75], "a": [0.25, 1.0, 0.75], "seed": 1},
            {"dims": [2, 3, 3, 3, 2], "t": [1.0], "a": [0.75], "seed": 2},
        ]

    def predict(self, config):
        depth = len(config["dims"]) - 1
        f = _rhs(depth)
        return [f(float(x) ** depth, float(s)) for x, s in zip(config["a"], config["t"])]

    def measure(self, config, device="cpu"):
        Ws, sigma, cross, M, U, V = build_point(config)
        ev, vec = torch.linalg.eigh(sigma)
        X = whitened_inputs(max(2 * sigma.shape[0], 8), sigma.shape[0], seed=int(config.get("seed", 0)) + 11)
        X = X @ (vec * ev.sqrt()) @ vec.T
        vel = end_to_end_velocity(Ws, layer_gradients(Ws, X, X @ M.T))
        return {"velocity": vel, "U": U, "V": V}

    def compare(self, predicted, measured, config):
        U, V, vel = measured["U"], measured["V"], measured["velocity"]
        pred = U @ torch.diag(torch.tensor(predicted, dtype=torch.float64)) @ V.T
        depth = len(config["dims"]) - 1
        # the rate is a difference of the terms L a^{2(L-1)} s and L a^{2(L-1)} u: their size is the
        # scale of the rounding (a mode at its fixed point has rate 0 but not zero rounding)
        scale = sum(
            depth * float(x) ** (2 * depth - 2) * (float(s) + float(x) ** depth)
            for x, s in zip(config["a"], config["t"])
        )
        err = float(torch.linalg.norm(vel - pred)) / max(scale, 1e-300)
        modes = torch.diagonal(U.T @ vel @ V).tolist()
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.rtol,
            "du/dt = " + ", ".join(f"{x:.4g}" for x in predicted),
            "du/dt = " + ", ".join(f"{x:.4g}" for x in modes) + f" (off-mode rel. {err:.1e})",
            details={"measured_mode_rates": modes},
        )

    def exact_predict(self, config):
        return sp.Integer(0)

    def exact_measure(self, config):
        """Rational orthogonal bases (Cayley), rational a_i and t_i: the velocity minus
        U diag(L a^{2L-2} (t - a^L)) V^T, exactly (whitened)."""
        from dlnkit.configs.exact_points import rational

        if (
            float(config.get("anisotropy", 1.0)) != 1.0
            or float(config.get("balance", 1.0)) != 1.0
            or float(config.get("misalignment", 0.0)) != 0.0
        ):
            raise NotImplementedError("the exact route covers the balanced aligned whitened case")
        dims = [int(d) for d in config["dims"]]
        L, seed = len(dims) - 1, int(config.get("seed", 0))
        a = [rational(x) for x in config["a"]]
        t = [rational(x) for x in config["t"]]
        r = len(a)
        bases = [rational_orthogonal(d, seed + 13 * k)[:, :r] for k, d in enumerate(dims)]
        Ws = [bases[k + 1] * sp.diag(*a) * bases[k].T for k in range(L)]
        M = bases[-1] * sp.diag(*t) * bases[0].T
        P, Q = partial_products_exact(Ws)
        G = P[0] * Ws[0] - M
        vel = sp.zeros(dims[-1], dims[0])
        for j in range(L):
            vel -= P[j] * P[j].T * G * Q[j].T * Q[j]
        pred = bases[-1] * sp.diag(*[L * x ** (2 * L - 2) * (s - x**L) for x, s in zip(a, t)]) * bases[0].T
        return {"value": max(abs(x) for x in (vel - pred)), "route": "rational bases (Cayley), exact velocity"}


class LearningCurveClaim(Claim):
    id = "C3-learning-curve"
    title = "gradient flow (RK4 on the weights) = logistic (L=2) / inverted implicit solution t(u) (L>=3)"
    source = f"{SAXE} (C3)"
    assumptions = (WHITENED, BALANCED, ALIGNED)
    tolerance = Tolerance(
        atol=1e-7,
        reason="RK4 global error O(dt^4) with lambda dt <= 0.05 (lambda = L t^{2(L-1)/L}, "
        ">= 300 steps to 95% of the target): <= 1e-9 measured; the bisection of t(u) converges to "
        "1e-15; 1e-7 absolute (u <= 2) leaves margin",
    )
    cpu_only = True
    violations = _VIOLATIONS
    explanations = _EXPLAIN
    steps = 300

    def statement_latex(self) -> str:
        return r"u(t) = " + sp.latex(th.logistic_solution()) + r"\ (L=2),\quad t(u) = \int \frac{dv}{v^{L-1}(s-v^L)}"

    def config_strategy(self, drop=()):
        return _configs(self.check_drop(drop), max_depth=4, a_values=(0.5, 0.75, 1.0))

    def default_configs(self):
        return [
            {"dims": [2, 3, 2], "t": [2.0, 1.0], "a": [0.25, 0.5], "seed": 0},
            {"dims": [3, 3, 3, 2], "t": [1.5, 0.5], "a": [0.5, 0.75], "seed": 1},
        ]

    def _horizon(self, config) -> float:
        """Flow time until every mode is within 5% of its target (1 when all already are)."""
        depth = len(config["dims"]) - 1
        times = [
            _learn_time(depth, float(s), float(x) ** depth)
            for s, x in zip(config["t"], config["a"])
            if float(x) ** depth < 0.95 * float(s)
        ]
        return max(times) if times else 1.0

    def _steps(self, config) -> int:
        """At least ``steps``, and enough that lambda dt <= 0.05 for the stiffest mode, where
        lambda = L t^{2(L-1)/L} is the flow's rate of approach at u = t."""
        depth = len(config["dims"]) - 1
        lam = max(depth * float(x) ** (2 * (depth - 1) / depth) for x in config["t"])
        return max(self.steps, int(math.ceil(self._horizon(config) * lam / 0.05)))

    def predict(self, config):
        depth = len(config["dims"]) - 1
        T, n = self._horizon(config), self._steps(config)
        times = [T * k / n for k in range(n + 1)]
        return [flow_solution(depth, float(s), float(x) ** depth, times) for s, x in zip(config["t"], config["a"])]

    def measure(self, config, device="cpu"):
        Ws, sigma, cross, M, U, V = build_point(config)
        T, n = self._horizon(config), self._steps(config)
        return flow_mode_curve(Ws, sigma, cross, U, V, T / n, n)

    def compare(self, predicted, measured, config):
        pred = torch.tensor(predicted, dtype=torch.float64).T
        err = float((measured - pred).abs().max())
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.atol,
            "u(T) = " + ", ".join(f"{x:.6g}" for x in pred[-1].tolist()),
            "u(T) = " + ", ".join(f"{x:.6g}" for x in measured[-1].tolist()) + f" (max diff {err:.1e})",
            details={"horizon": self._horizon(config)},
        )


class GradientDescentVsFlowClaim(Claim):
    id = "C3-gd-vs-flow"
    kind = "approximate"
    title = "GD with step eta: u_GD - u_flow = eta L a^(L-1) E(t) + O(eta^2) (first-order constant predicted)"
    source = f"{SAXE} (C3, GD vs flow: dlnkit)"
    assumptions = (WHITENED, BALANCED, ALIGNED)
    tolerance = Tolerance(
        atol=0.1,
        reason="the first-order term only: the O(eta^2) remainder, relative to the "
        "first-order deviation, is O(eta) (measured ~0.5 eta to 3 eta here, eta <= 0.02); we accept 0.1",
    )
    cpu_only = True
    violations = _VIOLATIONS
    explanations = _EXPLAIN

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        base = _configs(drop, max_depth=3, max_rank=1, a_values=(0.5, 0.75))
        return st.tuples(base, st.sampled_from([0.01, 0.02])).map(lambda p: {**p[0], "lr": p[1]})

    def default_configs(self):
        return [
            {"dims": [2, 3, 2], "t": [2.0], "a": [0.25], "seed": 0, "lr": 0.01},
            {"dims": [2, 2, 2, 2], "t": [1.0], "a": [0.5], "seed": 1, "lr": 0.01},
        ]

    def full_configs(self):
        """The step sizes of the README: the first-order constant as eta halves (L = 2 and 3)."""
        return [
            {"dims": d, "t": [2.0], "a": [0.25], "seed": 0, "lr": lr}
            for d in ([2, 3, 2], [2, 3, 3, 2])
            for lr in (0.04, 0.02, 0.01, 0.005)
        ]

    def _times(self, config):
        depth = len(config["dims"]) - 1
        lr = float(config["lr"])
        s, a0 = float(config["t"][0]), float(config["a"][0])
        T = _learn_time(depth, s, a0**depth) if a0**depth < 0.95 * s else 1.0
        return depth, lr, s, a0, max(1, int(round(T / lr)))

    def predict(self, config):
        depth, lr, s, a0, K = self._times(config)
        times = [k * lr for k in range(K + 1)]
        flow = flow_solution(depth, s, a0**depth, times)
        f, df = _euler(depth)
        sub = 8  # RK4 on (a, E) with dt = lr / sub, sampled every sub steps

        def rhs(y):
            fa, dfa = f(y[0], s), df(y[0], s)
            return [fa, dfa * y[1] - 0.5 * dfa * fa]

        traj = rk4_small(rhs, [a0, 0.0], lr / sub, K * sub, every=sub)
        coef = [depth * y[0] ** (depth - 1) * y[1] for y in traj]
        return {"flow": flow, "first_order": coef}

    def measure(self, config, device="cpu"):
        Ws, sigma, cross, M, U, V = build_point(config)
        depth, lr, s, a0, K = self._times(config)
        return gd_mode_curve(Ws, sigma, cross, U[:, :1], V[:, :1], lr, K)[:, 0]

    def compare(self, predicted, measured, config):
        lr = float(config["lr"])
        flow = torch.tensor(predicted["flow"], dtype=torch.float64)
        coef = torch.tensor(predicted["first_order"], dtype=torch.float64)
        dev = (measured - flow) / lr
        scale = float(coef.abs().max())
        # relative to the first-order constant; at a fixed point (constant 0) the absolute deviation
        err = float((dev - coef).abs().max()) / (scale if scale > 1e-9 else 1.0)
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.atol,
            f"max (u_GD - u_flow)/eta = {scale:.4g} (first-order constant)",
            f"{float(dev.abs().max()):.4g} (rel. diff {err:.3g})",
            details={
                "max_first_order_constant": scale,
                "max_measured_constant": float(dev.abs().max()),
                "max_abs_deviation": float((measured - flow).abs().max()),
            },
        )


CLAIMS = [ModeODEClaim(), LearningCurveClaim(), GradientDescentVsFlowClaim()]
