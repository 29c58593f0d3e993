"""C4: the origin and the saddles of partial solutions (Kawaguchi arXiv:1605.07110).

* ``C4-origin``: at W_1 = ... = W_L = 0 the Hessian has eigenvalues +-sigma_i(C) (C = Y^T X / B),
  each d_1 times, and zeros, for L = 2; it is exactly zero for L >= 3. Measured with torch.func
  on the network itself (linear or tanh).
* ``C4-saddles``: at the balanced realisation of a subset S of the target's modes (whitened data,
  distinct target singular values) the index is inv(S) + [L = 2](d_1 - k)(r - k) and the nullity
  P - k(d_in + d_out) + k^2 - [L = 2] 2 (d_1 - k)(r - k) (:mod:`dlnkit.theory.classic_origin`).

Which assumptions matter: at the origin neither whitening nor linearity (tanh) is needed -- the
searches come back empty; leaving the origin breaks it. For the saddles whitening and distinct
targets both matter.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims._classic import (
    KAWAGUCHI,
    LINEAR,
    WHITENED,
    batch_data,
    input_covariance,
    keep_or_break,
    moments,
)
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.configs import strategies as dst
from dlnkit.numerics.chains import ChainLoss
from dlnkit.numerics.classic_curvature import hessian_eigenvalues, inertia, partial_solution
from dlnkit.numerics.dims import num_params
from dlnkit.numerics.dln import DeepLinearNetwork
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.theory.classic_origin import descartes_inertia, origin_spectrum, partial_solution_counts
from dlnkit.theory.exact_hessian import exact_dln_hessian, rational_orthogonal

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.

AT_ORIGIN = ASSUMPTIONS["at_origin"]
DISTINCT = ASSUMPTIONS["distinct_targets"]

_EXPLAIN = {
    "whitened": "Not needed: at W = 0 every Gauss-Newton block contains a zero layer, and Sigma enters only those; "
    "the remaining residual part is the bilinear form -tr(dW_2 dW_1 C^T) with C = Y^T X / B. (For the "
    "saddles it is needed: with Sigma != I the realised partial map is no longer a critical point.)",
    "linear": "Not needed at the origin: tanh(0) = 0, tanh'(0) = 1 and tanh''(0) = 0, so the tanh network's loss "
    "agrees "
    "with the linear network's to second order at W = 0 (the search finds nothing).",
    "at_origin": "Away from 0 the Jacobian no longer vanishes: a Gauss-Newton part J^T J appears and the residual part "
    "depends on the weights, so the spectrum is neither +-sigma_i(C) (L = 2) nor zero (L >= 3).",
    "distinct_targets": "With a tie t_i = t_j between a kept and a dropped mode the pair's eigenvalues "
    "t_i^{(L-2)/L}(t_i - t_j) vanish: the pair adds to the nullity instead of to the positives, "
    "which the count for distinct values does not include.",
}


@st.composite
def _origin_configs(draw, drop):
    cfg = {
        "dims": draw(dst.dims(min_depth=2, max_depth=4, min_width=1, max_width=4)),
        "seed": draw(dst.seeds),
        "anisotropy": draw(keep_or_break("whitened", drop, 1.0, dst.anisotropy_factors)),
        "activation": draw(keep_or_break("linear", drop, "linear", st.just("tanh"))),
        "offset": draw(keep_or_break("at_origin", drop, 0.0, st.sampled_from([0.1, 0.3, 1.0]))),
    }
    if cfg["anisotropy"] != 1.0 and cfg["dims"][0] == 1:
        cfg["dims"][0] = 2
    return cfg


class OriginClaim(Claim):
    id = "C4-origin"
    title = "Hessian at W = 0: +-sigma_i(C) x d_1 and zeros (L = 2); exactly 0 (L >= 3)"
    source = f"{KAWAGUCHI} (C4)"
    assumptions = (AT_ORIGIN, WHITENED, LINEAR)
    tolerance = Tolerance(
        rtol=1e-10,
        reason="the L = 2 Hessian's entries are entries of C (one rounding each); "
        "eigvalsh is backward stable (~P eps |H|): 1e-10 of max(1, sigma_1) leaves margin",
    )
    cpu_only = True
    violations = {
        "at_origin": lambda c: float(c.get("offset", 0.0)) != 0.0,
        "whitened": lambda c: float(c.get("anisotropy", 1.0)) != 1.0,
        "linear": lambda c: c.get("activation", "linear") != "linear",
    }
    explanations = _EXPLAIN

    def statement_latex(self) -> str:
        return (
            r"\operatorname{spec}\nabla^2\ell(0) = \{\pm\sigma_i(C)\}^{\times d_1}\cup\{0\}\ (L=2),"
            r"\quad \nabla^2\ell(0) = 0\ (L\ge3)"
        )

    def config_strategy(self, drop=()):
        return _origin_configs(self.check_drop(drop))

    def default_configs(self):
        return [
            {"dims": [4, 3, 3], "seed": 0, "anisotropy": 1.0, "activation": "linear", "offset": 0.0},
            {"dims": [3, 5, 2], "seed": 1, "anisotropy": 10.0, "activation": "linear", "offset": 0.0},
            {"dims": [3, 4, 4, 2], "seed": 2, "anisotropy": 1.0, "activation": "linear", "offset": 0.0},
        ]

    def _point(self, config):
        dims, seed = [int(d) for d in config["dims"]], int(config.get("seed", 0))
        X, Y = batch_data(dims[0], dims[-1], seed=seed, anisotropy=float(config.get("anisotropy", 1.0)))
        Ws = [
            W.detach() * float(config.get("offset", 0.0))
            for W in DeepLinearNetwork.random(dims, seed=seed + 5, device="cpu").weights
        ]
        return dims, Ws, X, Y

    def predict(self, config):
        dims, _, X, Y = self._point(config)
        _, C = moments(X, Y)
        sv = torch.linalg.svdvals(C).tolist()
        P = num_params(dims)
        spec = origin_spectrum(len(dims) - 1, dims[1], sv, P)
        return np.sort(np.array([float(v) for v, m in spec.items() for _ in range(int(m))]))

    def measure(self, config, device="cpu"):
        _, Ws, X, Y = self._point(config)
        act = config.get("activation", "linear")
        H = dense_hessian(ChainLoss(X, Y, act), Ws, route="autograd")
        return torch.linalg.eigvalsh(H).numpy()

    def compare(self, predicted, measured, config):
        scale = max(1.0, float(np.abs(predicted).max()) if len(predicted) else 1.0)
        err = float(np.abs(measured - predicted).max()) / scale
        fmt = lambda a: f"[{a.min():.4g} .. {a.max():.4g}], {int((np.abs(a) <= 1e-9 * scale).sum())} zeros"
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.rtol,
            fmt(predicted),
            fmt(measured),
            details={"max_abs_error": err * scale},
        )

    def exact_predict(self, config):
        return sp.Integer(0)

    def exact_measure(self, config):
        """Rational C and Sigma, weights exactly 0: L >= 3 -> max |H_ij|; L = 2 -> the largest
        coefficient difference between charpoly(H)(x) and x^(P - 2 d_1 m) charpoly(C C^T)(x^2)^d_1."""
        from dlnkit.configs.exact_points import exact_point

        if config.get("activation", "linear") != "linear" or float(config.get("offset", 0.0)) != 0.0:
            raise NotImplementedError("the exact route covers the linear network at the origin")
        pt = exact_point(
            {"dims": config["dims"], "seed": config.get("seed", 0), "anisotropy": config.get("anisotropy", 1.0)}
        )
        dims = pt["dims"]
        zeros = [sp.zeros(dims[k + 1], dims[k]) for k in range(len(dims) - 1)]
        H = exact_dln_hessian(zeros, pt["sigma"], pt["cross"])
        if len(dims) - 1 >= 3:
            return {"value": max(abs(x) for x in H), "route": "exact Hessian at 0"}
        x = sp.Symbol("x")
        C = pt["cross"]
        G = C * C.T if C.shape[0] <= C.shape[1] else C.T * C
        m, P, d1 = G.shape[0], H.shape[0], dims[1]
        lhs = H.charpoly(x).as_expr()
        rhs = x ** (P - 2 * d1 * m) * G.charpoly(x).as_expr().subs(x, x**2) ** d1
        diff = sp.Poly(sp.expand(lhs - rhs), x)
        return {
            "value": max([abs(c) for c in diff.all_coeffs()] + [sp.Integer(0)]),
            "route": "charpoly(H) = x^(P-2 d_1 m) charpoly(CC^T)(x^2)^d_1 in rationals",
        }


@st.composite
def _saddle_configs(draw, drop):
    depth = draw(st.integers(2, 4))
    distinct = "distinct_targets" not in drop
    lo = 2 if not distinct else 1
    d_in, d_out = draw(st.integers(lo, 4)), draw(st.integers(lo, 4))
    r = draw(st.integers(lo, min(d_in, d_out)))
    if distinct:
        t = sorted(draw(st.lists(st.integers(2, 12), min_size=r, max_size=r, unique=True)), reverse=True)
        t = [x / 4 for x in t]
    else:
        v = draw(st.integers(2, 12)) / 4
        t = [v] * r
    k = draw(st.integers(1 if not distinct else 0, r - 1 if not distinct else r))
    kept = sorted(draw(st.lists(st.integers(0, r - 1), min_size=k, max_size=k, unique=True)))
    hidden = [draw(st.integers(max(k, 1), 4)) for _ in range(depth - 1)]
    return {
        "dims": [d_in, *hidden, d_out],
        "t": t,
        "kept": kept,
        "seed": draw(dst.seeds),
        "anisotropy": draw(keep_or_break("whitened", drop, 1.0, dst.anisotropy_factors)),
    }


class SaddleClaim(Claim):
    id = "C4-saddles"
    title = (
        "partial solutions: index = inv(S) + [L=2](d_1-k)(r-k), nullity = P - k(d_in+d_out) + k^2 - [L=2]2(d_1-k)(r-k)"
    )
    source = f"{KAWAGUCHI} (C4, partial solutions: dlnkit)"
    assumptions = (WHITENED, DISTINCT)
    tolerance = Tolerance(
        atol=0.5,
        reason="integer counts; the zero threshold 1e-9 max(1, |lambda|) separates rounding "
        "(~1e-15) from the smallest nonzero eigenvalue (>= ~0.05 on the drawn quarter grid)",
    )
    cpu_only = True
    violations = {
        "whitened": lambda c: float(c.get("anisotropy", 1.0)) != 1.0,
        "distinct_targets": lambda c: len(set(float(x) for x in c["t"])) < len(c["t"]),
    }
    explanations = {
        "whitened": "Needed here: with input covariance Sigma the gradient at the realised partial map is "
        "P_l^T (W - M) Sigma Q_l^T, which vanishes only if Sigma maps the kept input directions into themselves; "
        "otherwise the point is not critical and the counts of the closed form describe another point.",
        "distinct_targets": _EXPLAIN["distinct_targets"],
    }

    def statement_latex(self) -> str:
        return (
            r"\operatorname{ind} = \operatorname{inv}(S) + [L=2](d_1-k)(r-k),\ "
            r"\operatorname{null} = P - k(d_{in}+d_{out}) + k^2 - [L=2]\,2(d_1-k)(r-k)"
        )

    def config_strategy(self, drop=()):
        return _saddle_configs(self.check_drop(drop))

    def default_configs(self):
        return [
            {"dims": [3, 3, 3], "t": [3.0, 2.0, 1.0], "kept": [1], "seed": 0},
            {"dims": [3, 4, 3], "t": [3.0, 2.0, 1.0], "kept": [], "seed": 1},
            {"dims": [3, 4, 4, 3], "t": [3.0, 2.0, 1.0], "kept": [1, 2], "seed": 2},
            {"dims": [4, 3, 3, 3, 2], "t": [2.0, 0.5], "kept": [1], "seed": 3},
        ]

    def predict(self, config):
        return partial_solution_counts(config["dims"], [float(x) for x in config["t"]], config["kept"])

    def measure(self, config, device="cpu"):
        dims, seed = [int(d) for d in config["dims"]], int(config.get("seed", 0))
        Ws, M = partial_solution(dims, [float(x) for x in config["t"]], config["kept"], seed=seed)
        sigma = input_covariance(dims[0], float(config.get("anisotropy", 1.0)), seed)
        ev = hessian_eigenvalues(Ws, sigma, M @ sigma)
        return inertia(ev, rtol=1e-9)

    def compare(self, predicted, measured, config):
        err = float(abs(predicted["index"] - measured["index"]) + abs(predicted["nullity"] - measured["nullity"]))
        fmt = lambda d: f"index {d['index']}, nullity {d['nullity']}, positive {d['positive']}"
        return Comparison(predicted, measured, err, self.tolerance.atol, fmt(predicted), fmt(measured))

    def exact_display(self, value) -> str:
        return f"index {value[0]}, nullity {value[1]}" if isinstance(value, sp.MatrixBase) else str(value)

    @staticmethod
    def _exact_layer_values(config) -> list:
        from dlnkit.configs.exact_points import rational

        L = len(config["dims"]) - 1
        return [rational(float(x) ** (1.0 / L), 64) for x in config["t"]]

    def exact_predict(self, config):
        L = len(config["dims"]) - 1
        t_exact = [x**L for x in self._exact_layer_values(config)]
        p = partial_solution_counts(config["dims"], t_exact, config["kept"])
        return sp.Matrix([p["index"], p["nullity"]])

    def exact_measure(self, config):
        """Rational per-layer values s_i = rational(t_i^(1/L)) (t'_i = s_i^L exactly), rational
        orthogonal bases, exact Hessian; index by Descartes' rule on its characteristic polynomial."""
        if float(config.get("anisotropy", 1.0)) != 1.0:
            raise NotImplementedError("the exact route covers whitened data")
        dims = [int(d) for d in config["dims"]]
        L, seed = len(dims) - 1, int(config.get("seed", 0))
        s = self._exact_layer_values(config)
        kept = sorted(int(i) for i in config["kept"])
        bases = [rational_orthogonal(d, seed + 13 * k) for k, d in enumerate(dims)]
        r = len(s)
        M = bases[-1][:, :r] * sp.diag(*[x**L for x in s]) * bases[0][:, :r].T
        if kept:
            R = [bases[0][:, kept]] + [b[:, : len(kept)] for b in bases[1:-1]] + [bases[-1][:, kept]]
            S = sp.diag(*[s[i] for i in kept])
            Ws = [R[k + 1] * S * R[k].T for k in range(L)]
        else:
            Ws = [sp.zeros(dims[k + 1], dims[k]) for k in range(L)]
        H = exact_dln_hessian(Ws, sp.eye(dims[0]), M)
        got = descartes_inertia(H)
        return {
            "value": sp.Matrix([got["index"], got["nullity"]]),
            "positive": got["positive"],
            "t_exact": [str(x**L) for x in s],
        }


CLAIMS = [OriginClaim(), SaddleClaim()]
