"""C5: sharpness of deep-linear-network minima and the 2/eta stability threshold.

* ``C5-top``: at a balanced aligned global minimum (whitened) the top Hessian eigenvalue is
  L t_1^{2(L-1)/L}; measured by Lanczos on exact Hessian-vector products (torch.func), not the closed form.
* ``C5-orbit``: along the rescaling orbit W_1 -> c W_1, W_2 -> W_2/c it is t_1^{2(L-1)/L}(L - 2 + c^2 + c^-2).
* ``C5-flattest``: every global minimum with the same end-to-end map (rescalings and GL twists of the
  hidden layers) has top eigenvalue >= the balanced one (Mulayoff & Michaeli, ICML 2020).
* ``C5-stability``: gradient descent with step eta from a random initialisation either diverges or
  ends at a minimum with top eigenvalue <= 2/eta.

Configurations: ``dims``, ``t``, ``seed``, ``balance`` c, ``misalignment``, ``anisotropy``, ``offset``
(W_L -> (1 + e) W_L); for C5-stability ``init_scale``, ``q`` (eta = q * 2 / (L t_1^{2(L-1)/L}),
so q > 1 makes every minimum unstable), ``momentum``, ``max_steps``.
"""

from __future__ import annotations

import functools

import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims._classic import (
    ALIGNED,
    BALANCED,
    MINIMUM,
    MULAYOFF,
    PLAIN_GD,
    WHITENED,
    batch_data,
    keep_or_break,
)
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.configs import strategies as dst
from dlnkit.numerics.chains import ChainLoss
from dlnkit.numerics.classic_curvature import (
    max_relative_imbalance,
    random_init,
    rescale_first_layers,
    top_eigenvalue,
    train_to_minimum,
    twist_first_hidden,
    twist_hidden_layers,
)
from dlnkit.numerics.dln import DeepLinearNetwork, teacher_map
from dlnkit.numerics.hessian import HessianOperator
from dlnkit.numerics.top_eigenvalues import top_eigenvalues
from dlnkit.theory import classic_sharpness as th

ORBIT = ASSUMPTIONS["rescaling_orbit"]

_EXPLAIN = {
    "whitened": "With input covariance Sigma the Gauss-Newton factors carry Sigma (Q_l Sigma Q_l^T), so the top "
    "eigenvalue is no longer a function of t_1 and L alone; an anisotropic Sigma can lower or raise it.",
    "balanced": "Rescaling W_1 -> c W_1, W_2 -> W_2/c keeps the minimum but multiplies two of the L layer terms of the "
    "top eigenvalue by c^-2 and c^2: lambda_max = t_1^{2(L-1)/L}(L - 2 + c^2 + c^-2) (SymPy), larger by "
    "t_1^{2(L-1)/L}(c - 1/c)^2.",
    "aligned": "A GL twist of a hidden layer keeps the minimum but congruence-transforms P_1P_1^T and Q_2^TQ_2; "
    "balanced "
    "weights are always aligned, so a twisted minimum is also unbalanced and sharper.",
    "global_minimum": "Off the minimum (W_L -> (1 + e) W_L) the residual part of the Hessian appears and the layer "
    "products change: the top eigenvalue moves with e (down for e < 0), so 'flattest' is a statement "
    "about minima only.",
    "rescaling_orbit": "A GL twist is not a rescaling: the two-term formula in c no longer describes the change.",
    "plain_gd": "Heavy-ball momentum mu moves the stability threshold to 2(1 + mu)/eta (SymPy: characteristic root at "
    "z = -1), so momentum gradient descent can settle at minima with 2/eta < lambda_max <= 2(1 + mu)/eta.",
}


@functools.cache
def _balanced_top(depth: int):
    return sp.lambdify(th.t1, th.top_eigenvalue_balanced(depth), "math")


@functools.cache
def _rescaled_top(depth: int):
    return sp.lambdify((th.t1, th.c), th.top_eigenvalue_rescaled(depth), "math")


def build_minimum(config):
    """Weights, X, Y of the (modified) balanced aligned minimum of a configuration."""
    dims, seed = [int(d) for d in config["dims"]], int(config.get("seed", 0))
    t = [float(x) for x in config["t"]]
    net, M = DeepLinearNetwork.balanced_minimum(dims, t, seed=seed, device="cpu")
    Ws = [W.detach() for W in net.weights]
    if float(config.get("balance", 1.0)) != 1.0:
        Ws = rescale_first_layers(Ws, float(config["balance"]))
    if float(config.get("misalignment", 0.0)) != 0.0:
        Ws = twist_first_hidden(Ws, float(config["misalignment"]), seed=seed + 3)
    if float(config.get("misalignment_all", 0.0)) != 0.0:
        Ws = twist_hidden_layers(Ws, float(config["misalignment_all"]), seed=seed + 5)
    Ws[-1] = Ws[-1] * (1.0 + float(config.get("offset", 0.0)))
    X, Y = batch_data(dims[0], dims[-1], seed=seed, anisotropy=float(config.get("anisotropy", 1.0)), target=M)
    return Ws, X, Y


def lanczos_sharpness(Ws, X, Y) -> float:
    """Top Hessian eigenvalue of the squared loss at Ws by Lanczos on exact HVPs (torch.func)."""
    op = HessianOperator(ChainLoss(X, Y), Ws)
    return float(top_eigenvalues(op, 1, tol=1e-12, max_iters=op.size).eigenvalues[0])


@st.composite
def _minimum_configs(draw, drop, *, min_depth=1):
    need2 = bool({"balanced", "aligned", "rescaling_orbit"} & drop) or min_depth >= 2
    d = draw(dst.dims(min_depth=2 if need2 else 1, max_depth=4, min_width=1, max_width=4))
    r = draw(st.integers(1, min(d)))
    t = sorted(draw(st.lists(dst.singular_values(0.5, 2.5), min_size=r, max_size=r)), reverse=True)
    cfg = {
        "dims": d,
        "t": t,
        "seed": draw(dst.seeds),
        "anisotropy": draw(keep_or_break("whitened", drop, 1.0, dst.anisotropy_factors)),
    }
    if "whitened" in drop and d[0] == 1:
        cfg["dims"][0] = 2
    if "balanced" in drop:
        cfg["balance"] = draw(st.sampled_from([2.0, 0.5, 1.5]))
    if {"aligned", "rescaling_orbit"} & drop:
        cfg["misalignment"] = draw(st.sampled_from([0.3, 0.6]))
    if "global_minimum" in drop:
        cfg["offset"] = draw(st.sampled_from([-0.2, -0.1, 0.1]))
    return cfg


_VIOL = {
    "whitened": lambda c: float(c.get("anisotropy", 1.0)) != 1.0,
    "balanced": lambda c: float(c.get("balance", 1.0)) != 1.0 or float(c.get("misalignment", 0.0)) != 0.0,
    "aligned": lambda c: float(c.get("misalignment", 0.0)) != 0.0,
    "rescaling_orbit": lambda c: float(c.get("misalignment", 0.0)) != 0.0,
    "global_minimum": lambda c: float(c.get("offset", 0.0)) != 0.0,
    "plain_gd": lambda c: float(c.get("momentum", 0.0)) != 0.0,
}


class TopEigenvalueClaim(Claim):
    id = "C5-top"
    optional_config_keys = ("misalignment_all",)  # read with a default; never drawn
    title = "balanced aligned minimum: lambda_max = L t_1^(2(L-1)/L) (Lanczos on exact HVPs)"
    source = f"{MULAYOFF} (C5)"
    assumptions = (WHITENED, BALANCED, ALIGNED, MINIMUM)
    tolerance = Tolerance(
        rtol=1e-8,
        reason="Lanczos with full re-orthogonalisation stopped at residual 1e-12 of the "
        "spectral scale (Ritz value error <= residual, and ~residual^2/gap); HVPs exact to rounding",
    )
    cpu_only = True
    violations = _VIOL
    explanations = _EXPLAIN

    def statement_latex(self) -> str:
        return r"\lambda_{\max} = " + sp.latex(th.top_eigenvalue_balanced())

    def config_strategy(self, drop=()):
        return _minimum_configs(self.check_drop(drop))

    def default_configs(self):
        return [
            {"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0},
            {"dims": [3, 4, 4, 4, 3], "t": [1.5, 1.5, 0.5], "seed": 1},
            {"dims": [3, 2], "t": [2.5], "seed": 2},
        ]

    def predict(self, config):
        return _balanced_top(len(config["dims"]) - 1)(float(config["t"][0]))

    def measure(self, config, device="cpu"):
        return lanczos_sharpness(*build_minimum(config))

    def compare(self, predicted, measured, config):
        err = abs(measured - predicted)
        return Comparison(
            predicted, measured, err, self.tolerance.bound(predicted), f"{predicted:.10g}", f"{measured:.10g}"
        )


class OrbitClaim(TopEigenvalueClaim):
    id = "C5-orbit"
    optional_config_keys = ("misalignment_all", "offset")  # read with a default; never drawn
    title = "rescaled minimum: lambda_max = t_1^(2(L-1)/L) (L - 2 + c^2 + c^-2), smallest at c = 1"
    source = f"{MULAYOFF} (C5, rescaling orbit: dlnkit)"
    assumptions = (WHITENED, ORBIT)

    def statement_latex(self) -> str:
        return r"\lambda_{\max}(c) = " + sp.latex(th.top_eigenvalue_rescaled())

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        return st.tuples(_minimum_configs(drop, min_depth=2), st.sampled_from([2.0, 0.5, 1.5, 0.75, 1.0])).map(
            lambda p: {**p[0], "balance": p[1]}
        )

    def default_configs(self):
        return [
            {"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0, "balance": 2.0},
            {"dims": [3, 4, 4, 3], "t": [1.5, 0.5], "seed": 1, "balance": 0.75},
        ]

    def predict(self, config):
        return _rescaled_top(len(config["dims"]) - 1)(float(config["t"][0]), float(config.get("balance", 1.0)))


class FlattestClaim(TopEigenvalueClaim):
    id = "C5-flattest"
    title = "every minimum with the same end-to-end map has lambda_max >= L t_1^(2(L-1)/L) (balanced is flattest)"
    source = f"{MULAYOFF} (C5)"
    assumptions = (WHITENED, MINIMUM)
    tolerance = Tolerance(
        rtol=1e-8, reason="one-sided: measured may exceed the bound freely; Lanczos accuracy as C5-top"
    )

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        return st.tuples(
            _minimum_configs(drop, min_depth=2),
            st.sampled_from([1.0, 2.0, 0.5, 0.8]),
            st.sampled_from([0.0, 0.3, 0.6]),
            st.sampled_from([0.0, 0.2, 0.5, 0.9]),
        ).map(lambda p: {**p[0], "balance": p[1], "misalignment": p[2], "misalignment_all": p[3]})

    def default_configs(self):
        return [
            {"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0, "balance": 1.5, "misalignment": 0.6},
            {"dims": [3, 4, 4, 3], "t": [1.5, 0.5], "seed": 1, "balance": 0.8, "misalignment": 0.3},
            {
                "dims": [3, 4, 4, 4, 3],
                "t": [1.5, 1.0],
                "seed": 2,
                "balance": 1.0,
                "misalignment": 0.0,
                "misalignment_all": 0.9,
            },
        ]

    def compare(self, predicted, measured, config):
        err = max(0.0, predicted - measured)
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.bound(predicted),
            f">= {predicted:.10g}",
            f"{measured:.10g} (excess {measured - predicted:.3g})",
        )


class StabilityClaim(Claim):
    id = "C5-stability"
    title = "GD with step eta from random init: diverges, or ends at a minimum with lambda_max <= 2/eta"
    source = "classic: linear stability of gradient descent (C5)"
    assumptions = (PLAIN_GD,)
    tolerance = Tolerance(
        rtol=1e-6,
        reason="one-sided; the run stops at loss <= 1e-13, within ~3e-7 (sqrt of the loss) "
        "of a minimum, where lambda_max is Lipschitz: 1e-6 of 2/eta",
    )
    cpu_only = True
    violations = _VIOL
    explanations = _EXPLAIN

    def statement_latex(self) -> str:
        return r"\lambda_{\max}(\theta_\infty) \le " + sp.latex(th.stability_threshold())

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        return st.fixed_dictionaries(
            {
                "dims": dst.dims(min_depth=2, max_depth=3, min_width=1, max_width=3),
                "seed": dst.seeds,
                "t_scale": st.sampled_from([1.0, 1.5]),
                "init_scale": st.sampled_from([0.5, 1.0]),
                "q": st.sampled_from([0.5, 0.9, 1.2, 1.6]),
                "momentum": keep_or_break("plain_gd", drop, 0.0, st.just(0.9)),
                "max_steps": st.just(4000),
            }
        )

    def default_configs(self):
        return [
            {
                "dims": [2, 3, 2],
                "seed": 0,
                "t_scale": 1.5,
                "init_scale": 1.0,
                "q": 0.9,
                "momentum": 0.0,
                "max_steps": 4000,
            },
            {
                "dims": [2, 2, 2, 2],
                "seed": 1,
                "t_scale": 1.0,
                "init_scale": 1.0,
                "q": 1.6,
                "momentum": 0.0,
                "max_steps": 4000,
            },
        ]

    def full_configs(self):
        """The sweep of the README and notebook 7: eta = q 2 / lambda_bal for q = 0.2 .. 1.4, four
        random initialisations, depths 2 and 3 (about 60 short trainings)."""
        return [
            {
                "dims": d,
                "seed": seed,
                "t_scale": 1.5,
                "init_scale": 1.0,
                "q": round(q, 2),
                "momentum": 0.0,
                "max_steps": 4000,
            }
            for d in ([3, 4, 3], [3, 4, 4, 3])
            for q in (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4)
            for seed in range(4)
        ]

    @staticmethod
    def _setup(config):
        dims, seed = [int(d) for d in config["dims"]], int(config.get("seed", 0))
        r = min(dims)
        t = [float(config.get("t_scale", 1.0)) * (1.0 - 0.25 * k) for k in range(r)]
        M, U, V = teacher_map(dims[-1], dims[0], t, seed=seed)
        sigma = torch.eye(dims[0], dtype=torch.float64)
        lr = float(config["q"]) * 2.0 / _balanced_top(len(dims) - 1)(t[0])
        return dims, seed, t, M, sigma, lr

    def predict(self, config):
        return 2.0 / self._setup(config)[5]

    def measure(self, config, device="cpu"):
        dims, seed, t, M, sigma, lr = self._setup(config)
        W0 = random_init(dims, float(config.get("init_scale", 1.0)), seed + 1)
        run = train_to_minimum(
            W0,
            sigma,
            M,
            M,
            lr=lr,
            momentum=float(config.get("momentum", 0.0)),
            max_steps=int(config.get("max_steps", 4000)),
        )
        out = {
            "outcome": "diverged" if run["diverged"] else ("converged" if run["converged"] else "no limit yet"),
            "lr": lr,
            "steps": run["steps"],
            "sharpness": float("nan"),
            "imbalance": float("nan"),
            "balanced_sharpness": _balanced_top(len(dims) - 1)(t[0]),
        }
        if run["converged"]:
            out["sharpness"] = top_eigenvalue(run["weights"], sigma, M)
            out["imbalance"] = max_relative_imbalance(run["weights"])
        return out

    def compare(self, predicted, measured, config):
        if measured["outcome"] != "converged":
            err, disp = 0.0, measured["outcome"]
        else:
            err = max(0.0, measured["sharpness"] - predicted)
            disp = (
                f"{measured['sharpness']:.6g} = {measured['sharpness'] / predicted:.3f} x 2/eta "
                f"(imbalance {measured['imbalance']:.2g})"
            )
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.bound(predicted),
            f"<= 2/eta = {predicted:.6g}",
            disp,
            details=measured,
        )


CLAIMS = [TopEigenvalueClaim(), OrbitClaim(), FlattestClaim(), StabilityClaim()]
