"""Claims of arXiv:2602.00545 (depth, not data): B0 Hessian structure, B1 spectrum at balanced
aligned minima, B1-ratio (= L), B2-limit (B1 reached along a training trajectory). The paper's
own finite runs (B2-paper, B3-paper) live in :mod:`dlnkit.claims.paper_2602`.

Configurations are JSON-able dicts. The point a configuration describes is built by
:func:`dlnkit.numerics.point.aligned_minimum_point` (B1, B1-ratio) or
:func:`dlnkit.numerics.point.random_batch_point` (B0); keys and their defaults:

* ``dims`` (list), ``t`` (target singular values), ``seed``;
* ``balance`` c (1.0): W_1 -> c W_1, W_2 -> W_2 / c (still a global minimum, no longer balanced);
* ``misalignment`` e (0.0): W_1 -> (I + e K) W_1, W_2 -> W_2 (I + e K)^-1 with a random K
  (still a global minimum; neither balanced nor aligned);
* ``offset`` e (0.0): W_L -> (1 + e) W_L (leaves the minimum; the residual part appears);
* ``anisotropy`` k (1.0): input covariance with eigenvalues spread geometrically over [1/sqrt k, sqrt k];
* ``activation`` ("linear" | "tanh"): tanh between layers at the same weights.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.claims.depth_exact import exact_b0, exact_b1
from dlnkit.claims.depth_explanations import explain_linear_closed_form, explain_minimum_claim
from dlnkit.claims.exact_comparisons import route_comparison_of
from dlnkit.configs import strategies as dst
from dlnkit.numerics.chains import ChainLoss
from dlnkit.numerics.dln import DeepLinearNetwork, product, teacher_map, whitened_inputs
from dlnkit.numerics.dln_hessian import (
    dln_gauss_newton_nonzero_spectrum,
    dln_hessian_closed_form,
    dln_residual_hessian_closed_form,
    train_dln_gradient_descent,
)
from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.numerics.point import Point, aligned_minimum_point, random_batch_point
from dlnkit.numerics.spectra import split_by_counts
from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.theory import balanced_minimum_spectrum, balanced_minimum_spectrum_numeric, equal_targets_mean_ratio
from dlnkit.theory.symbols import L as L_sym

ARXIV_B = "arXiv:2602.00545"
#: above this many parameters the autograd reference is replaced by the closed form (equal to it by B0)
AUTOGRAD_MAX_PARAMS = 2500


def measured_hessian(point: Point) -> torch.Tensor:
    """Exact Hessian at a point by the Hessian dispatcher: an autograd route (independent of our
    closed form) when small or nonlinear, else its choice, the in-place closed-form assembly (equal
    to the reference closed form, which claim B0 checks against autograd)."""
    P = sum(W.numel() for W in point.weights)
    loss = ChainLoss(point.X, point.Y, point.activation)
    return dense_hessian(loss, point.weights, route="autograd" if P <= AUTOGRAD_MAX_PARAMS else "auto")


def measured_spectrum(point: Point) -> np.ndarray:
    H = measured_hessian(point)
    return torch.linalg.eigvalsh(H).flip(0).cpu().numpy()


def _describe_spectrum(ev: np.ndarray, n_dom: int, n_bulk: int) -> str:
    s = split_by_counts(ev, n_dom, n_bulk)
    fmt = lambda a: (
        (f"{a.max():.4g}" if np.ptp(a) < 1e-9 * max(1.0, abs(a.max())) else f"{a.min():.3g}..{a.max():.3g}")
        if len(a)
        else "-"
    )
    return f"dom {n_dom}x{fmt(s.dominant)} bulk {n_bulk}x{fmt(s.bulk)} rest {len(s.zero)}x{fmt(s.zero)}"


# ----------------------------------------------------------------------------------------
ASSUME_WHITENED = ASSUMPTIONS["whitened"]
ASSUME_BALANCED = ASSUMPTIONS["balanced"]
ASSUME_ALIGNED = ASSUMPTIONS["aligned"]
ASSUME_MINIMUM = ASSUMPTIONS["global_minimum"]
ASSUME_LINEAR = ASSUMPTIONS["linear"]
ASSUME_WIDTH = ASSUMPTIONS["hidden_width_ge_rank"]
ASSUME_EQUAL = ASSUMPTIONS["equal_target_singular_values"]
ASSUME_RANK = ASSUMPTIONS["rank_below_dims"]

#: values that violate each assumption, drawn when it is dropped
VIOLATIONS = {
    "whitened": ("anisotropy", st.sampled_from([2.0, 4.0, 10.0])),
    "balanced": ("balance", st.sampled_from([0.5, 2.0, 1.5])),
    "aligned": ("misalignment", st.sampled_from([0.3, 0.6, 0.1])),
    "global_minimum": ("offset", st.sampled_from([0.1, 0.3, 0.02])),
    "linear": ("activation", st.just("tanh")),
}


@st.composite
def _depth_configs(draw, drop: frozenset, *, equal_targets=None, max_depth=4, max_width=6, min_depth=1):
    needs_depth2 = bool(drop & {"balanced", "aligned", "linear"})
    cfg = draw(
        dst.depth_point_configs(
            min_depth=max(min_depth, 2 if needs_depth2 else 1),
            max_depth=max(max_depth, 2),
            max_width=max_width,
            equal_targets=(None if "equal_target_singular_values" in drop else equal_targets),
            rank_below_dims="rank_below_dims" not in drop,
            hidden_at_least_rank="hidden_width_ge_rank" not in drop,
        )
    )
    for name in sorted(drop):
        if name in VIOLATIONS:
            key, strat = VIOLATIONS[name]
            cfg[key] = draw(strat)
        elif name == "hidden_width_ge_rank" and len(cfg["dims"]) > 2:
            r = len(cfg["t"])
            if r >= 2:
                k = draw(st.integers(1, len(cfg["dims"]) - 2))
                cfg["dims"][k] = draw(st.integers(1, r - 1))
        elif name == "rank_below_dims":
            r = draw(st.integers(1, 3))
            cfg["dims"] = [r] + [max(r, d) for d in cfg["dims"][1:-1]] + [r]
            cfg["t"] = draw(
                dst.target_spectra(r, equal=equal_targets if "equal_target_singular_values" not in drop else None)
            )
    return cfg


def depth_point_violations(assumption_names, config: dict) -> frozenset[str]:
    """Assumptions of a depth-point claim (B1, B1-ratio) that ``config`` violates, checked on the
    built point where that is a number (covariance, imbalance, residual) and on the config otherwise.
    A configuration whose point cannot be built (bad input) violates only what the config shows."""
    names = set(assumption_names)
    out: set[str] = set()
    if "linear" in names and config.get("activation", "linear") != "linear":
        out.add("linear")
    dims, t = list(config["dims"]), [float(x) for x in config["t"]]
    r = len(t)
    try:
        pt = aligned_minimum_point(config, "cpu")
    except DlnkitInputError:
        pt = None
    if pt is not None:
        Ws = pt.weights
        eye = torch.eye(dims[0], dtype=torch.float64)
        if "whitened" in names and float(torch.linalg.norm(pt.sigma - eye)) > 1e-12:
            out.add("whitened")
        if "balanced" in names:
            imb = max(
                [
                    float(torch.linalg.norm(Ws[k + 1].T @ Ws[k + 1] - Ws[k] @ Ws[k].T))
                    / max(float(torch.linalg.norm(Ws[k] @ Ws[k].T)), 1e-300)
                    for k in range(len(Ws) - 1)
                ]
                or [0.0]
            )
            if imb > 1e-10:
                out.add("balanced")
        if "aligned" in names and float(config.get("misalignment", 0.0)) != 0.0 and len(dims) > 2:
            out.add("aligned")
        if "global_minimum" in names:
            res = float(torch.linalg.norm(pt.end_to_end - pt.target)) / max(float(torch.linalg.norm(pt.target)), 1e-300)
            if res > 1e-10:
                out.add("global_minimum")
    if "hidden_width_ge_rank" in names and len(dims) > 2 and min(dims[1:-1]) < r:
        out.add("hidden_width_ge_rank")
    if "equal_target_singular_values" in names and len(set(t)) > 1:
        out.add("equal_target_singular_values")
    if "rank_below_dims" in names and r >= max(dims[0], dims[-1]):
        out.add("rank_below_dims")
    return frozenset(out)


class HessianClosedFormClaim(Claim):
    """B0: the closed-form DLN Hessian (Gauss-Newton Kronecker blocks + residual blocks) equals the
    torch.func Hessian at any point, for whitened or anisotropic data."""

    id = "B0"
    optional_config_keys = ("batch",)  # read with a default; never drawn
    title = "closed-form DLN Hessian = autograd Hessian at any point (GN + residual blocks)"
    source = f"{ARXIV_B} B0"
    assumptions = (ASSUME_LINEAR,)
    tolerance = Tolerance(
        rtol=1e-10,
        reason="both routes are exact; float64 rounding over O(L) products of "
        "O(1) matrices gives ~1e-15 relative, 1e-10 leaves room for conditioning",
    )

    def statement_latex(self) -> str:
        return (
            r"\nabla^2\ell = \big[(P_l^\top P_m)\otimes(Q_l\Sigma Q_m^\top)\big]_{lm} + H_{\mathrm{res}}(W\Sigma - C)"
        )

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)

        @st.composite
        def configs(draw):
            d = draw(dst.dims(min_depth=1, max_depth=4, max_width=5))
            return {
                "dims": d,
                "seed": draw(dst.seeds),
                "scale": draw(st.sampled_from([0.5, 1.0, 2.0])),
                "anisotropy": draw(st.sampled_from([1.0, 10.0])),
                "activation": "tanh" if "linear" in drop else "linear",
            }

        return configs()

    def default_configs(self):
        return [
            {"dims": [3, 4, 2], "seed": 0, "scale": 1.0, "anisotropy": 1.0, "activation": "linear"},
            {"dims": [5, 3, 4, 6, 2], "seed": 1, "scale": 1.0, "anisotropy": 10.0, "activation": "linear"},
        ]

    def predict(self, config):
        pt = random_batch_point(config, "cpu")
        return dln_hessian_closed_form(pt.weights, X=pt.X, Y=pt.Y).cpu()

    def measure(self, config, device="cpu"):
        pt = random_batch_point(config, device)
        return dense_hessian(ChainLoss(pt.X, pt.Y, pt.activation), pt.weights, route="autograd").cpu()

    def violated_assumptions(self, config):
        return frozenset({"linear"}) if config.get("activation", "linear") != "linear" else frozenset()

    def explain(self, dropped, config):
        if set(dropped) == {"linear"}:
            return explain_linear_closed_form()
        return super().explain(dropped, config)

    def exact_predict(self, config):
        return 0  # entries where the closed form and the Taylor coefficients differ, plus nonzero res-diag

    def exact_measure(self, config):
        return exact_b0(config)

    def exact_compare(self, predicted, measured, config):
        return route_comparison_of(predicted, measured)

    def compare(self, predicted, measured, config):
        err = float(torch.linalg.norm(predicted - measured) / max(float(torch.linalg.norm(measured)), 1e-300))
        P = predicted.shape[0]
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.rtol,
            f"closed form {P}x{P}",
            "torch.func",
            details={"relative_frobenius_error": err},
        )


class BalancedMinimumSpectrumClaim(Claim):
    """B1: at a balanced aligned global minimum with whitened data the Hessian spectrum is exactly
    the dominant / bulk / zero groups derived in :mod:`dlnkit.theory.dln_spectrum`, for any t_i."""

    id = "B1"
    optional_config_keys = ("batch",)  # read with a default; never drawn
    title = "full Hessian spectrum with multiplicities at balanced aligned minima (any t_i)"
    source = f"{ARXIV_B} B1"
    assumptions = (ASSUME_WHITENED, ASSUME_BALANCED, ASSUME_ALIGNED, ASSUME_MINIMUM, ASSUME_LINEAR, ASSUME_WIDTH)
    tolerance = Tolerance(
        rtol=1e-9,
        reason="symmetric eigvalsh is backward stable: |dlambda| <~ P eps ||H|| "
        "<= 3e-13 ||H|| for P <= 3000; 1e-9 relative to the top eigenvalue leaves margin",
    )

    def statement_latex(self) -> str:
        g = {x.name: x for x in balanced_minimum_spectrum()}
        return (
            r"\lambda_{ij} = "
            + sp.latex(g["dominant"].value)
            + r",\ \ \text{bulk } "
            + sp.latex(g["bulk_first_layer"].value)
            + r"\ \times r(d_{in}+d_{out}-2r)"
        )

    def config_strategy(self, drop=()):
        return _depth_configs(self.check_drop(drop))

    def default_configs(self):
        return [
            {"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0},
            {"dims": [6, 7, 7, 5], "t": [3.0, 1.5, 0.5], "seed": 1},
            {"dims": [3, 3], "t": [2.0, 1.0], "seed": 2},
        ]

    def predict(self, config):
        return balanced_minimum_spectrum_numeric(config["dims"], config["t"])

    def measure(self, config, device="cpu"):
        return measured_spectrum(aligned_minimum_point(config, device))

    def violated_assumptions(self, config):
        return depth_point_violations(self.assumption_names, config)

    def explain(self, dropped, config):
        text = explain_minimum_claim(dropped, config, ratio=False, measured_spectrum=lambda: self.measure(config))
        return text if text is not None else super().explain(dropped, config)

    def exact_predict(self, config):
        return 0  # eigenvalue multiplicities off from B1's groups

    def exact_measure(self, config):
        return exact_b1(config, float_bound=self.tolerance.rtol)

    def exact_compare(self, predicted, measured, config):
        return route_comparison_of(predicted, measured)

    def compare(self, predicted, measured, config):
        pred = predicted["all"]
        scale = max(float(np.max(np.abs(pred))), 1e-300)
        err = float(np.max(np.abs(measured - pred))) / scale
        c = predicted["counts"]
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.rtol,
            _describe_spectrum(pred, c["dominant"], c["bulk"]),
            _describe_spectrum(measured, c["dominant"], c["bulk"]),
            details={
                "max_abs_error": err * scale,
                "num_params": len(pred),
                "counts": c,
                **_spectrum_details(pred, measured),
            },
        )


#: largest spectrum (number of eigenvalues) kept in a result's details for the report's plot
SPECTRUM_DETAILS_MAX = 2000


def _spectrum_details(predicted, measured) -> dict:
    """Both spectra, descending, for ``dlnkit report``'s spectrum-against-prediction plot (only up
    to :data:`SPECTRUM_DETAILS_MAX` eigenvalues, so that records stay small)."""
    if len(predicted) > SPECTRUM_DETAILS_MAX:
        return {}
    return {
        "spectrum": {
            "predicted": [float(x) for x in np.sort(np.asarray(predicted, dtype=float))[::-1]],
            "measured": [float(x) for x in np.sort(np.asarray(measured, dtype=float))[::-1]],
        }
    }


class DepthRatioClaim(Claim):
    """B1-ratio: with equal target singular values t_i = m^L, mean(dominant) / mean(bulk) = L exactly."""

    id = "B1-ratio"
    optional_config_keys = ("batch",)  # read with a default; never drawn
    title = "mean(dominant)/mean(bulk) = L at balanced aligned minima, equal t_i"
    source = f"{ARXIV_B} B1"
    assumptions = BalancedMinimumSpectrumClaim.assumptions + (ASSUME_EQUAL, ASSUME_RANK)
    tolerance = Tolerance(
        rtol=1e-9,
        reason="ratio of two cluster means, each an eigenvalue average within eigvalsh's backward error (~P eps ||H||)",
    )

    def statement_latex(self) -> str:
        return r"\frac{\overline{\lambda}_{\mathrm{dom}}}{\overline{\lambda}_{\mathrm{bulk}}} = " + sp.latex(
            equal_targets_mean_ratio()
        )

    def config_strategy(self, drop=()):
        return _depth_configs(self.check_drop(drop), equal_targets=True, max_depth=5)

    def default_configs(self):
        out = []
        for depth in range(1, 9):
            m = 1.1
            out.append({"dims": [6] + [7] * (depth - 1) + [4], "t": [m**depth] * 2, "seed": depth})
        return out

    def predict(self, config):
        depth = len(config["dims"]) - 1
        return float(equal_targets_mean_ratio().subs(L_sym, depth))

    def measure(self, config, device="cpu"):
        d, r = config["dims"], len(config["t"])
        ev = measured_spectrum(aligned_minimum_point(config, device))
        return split_by_counts(ev, r * r, r * (d[0] + d[-1] - 2 * r)).ratio

    def violated_assumptions(self, config):
        return depth_point_violations(self.assumption_names, config)

    def explain(self, dropped, config):
        text = explain_minimum_claim(dropped, config, ratio=True)
        return text if text is not None else super().explain(dropped, config)

    def exact_predict(self, config):
        return sp.Integer(len(config["dims"]) - 1)  # L

    def exact_measure(self, config):
        return exact_b1(config, float_bound=self.tolerance.rtol, ratio=True)

    def exact_compare(self, predicted, measured, config):
        return route_comparison_of(predicted, measured)

    def compare(self, predicted, measured, config):
        err = abs(measured - predicted) if math.isfinite(measured) else float("inf")
        return Comparison(
            predicted, measured, err, self.tolerance.bound(predicted), f"L = {predicted:g}", f"{measured:.10g}"
        )


def paper_dims(depth: int) -> list[int]:
    """The arXiv:2602.00545 experiment's widths (docs/claims.md#paper-setup-2602): d_in = 16, hidden 32, d_out = 10."""
    return [16] + [32] * (depth - 1) + [10]


class TrainingRatioClaim(Claim):
    """B2-limit: B1 reached along a trajectory. Full-batch heavy-ball GD from a small balanced
    initialisation aligned with a rank-5 unit-singular-value teacher (no modes beyond the
    target's; 64 whitened Gaussian inputs), run until the loss is below ``loss_tol``, ends at B1's
    point, where mean(dom)/mean(bulk) = L. This is the limit of training, not the paper's finite
    run (that is B2-paper in :mod:`dlnkit.claims.paper_2602`): no reported numbers stand beside it.

    Tolerance derived, not picked: GD from this initialisation stays balanced and aligned (all
    layers see the same diagonal update), so the Gauss-Newton spectrum is the B1 formula at the
    current end-to-end singular values s, and Weyl's inequality bounds the residual part's effect by
    ||H_res||_2. With D, b the formula means and Delta = ||H_res||_2 + max|lambda(JJ^T) - formula|,
    the measured ratio lies in [(D - Delta)/(b + Delta), (D + Delta)/(b - Delta)]; the bound is the
    larger distance of that interval from L. A run that does not reach the loss tolerance fails.
    """

    id = "B2-limit"
    slow = True  # trains a network per configuration
    title = "ratio -> L at the end of GD from a balanced aligned rank-r init (B1 along a trajectory)"
    source = f"{ARXIV_B} B2 (the limit of training)"
    assumptions = (
        ASSUME_WHITENED,
        ASSUME_LINEAR,
        ASSUMPTIONS["balanced_aligned_init"],
    )
    tolerance = Tolerance(
        reason="per run: Weyl bound from the measured ||H_res||_2 and the measured deviation "
        "of the Gauss-Newton spectrum from the B1 formula at the current singular values"
    )

    def config_strategy(self, drop=()):
        self.check_drop(drop)
        return st.fixed_dictionaries(
            {
                "depth": st.integers(2, 4),
                "seed": dst.seeds,
                "init_scale": st.sampled_from([0.1, 0.3]),
                "lr": st.just(0.01),
                "momentum": st.just(0.9),
                "max_steps": st.just(20000),
                "loss_tol": st.just(1e-20),
            }
        )

    def default_configs(self):
        """Quick: depth 2 (seconds); depths 2..7 are :meth:`full_configs` (``dlnkit verify --full``)."""
        return self.full_configs()[:1]

    def full_configs(self):
        return [
            {
                "depth": L,
                "seed": 0,
                "init_scale": 0.1,
                "lr": 0.01,
                "momentum": 0.9,
                "max_steps": 250000,
                "loss_tol": 1e-20,
            }
            for L in range(2, 8)
        ]

    def predict(self, config):
        return float(equal_targets_mean_ratio().subs(L_sym, int(config["depth"])))

    def measure(self, config, device="cpu"):
        depth, seed = int(config["depth"]), int(config.get("seed", 0))
        dims = paper_dims(depth)
        r = 5
        M, U, V = teacher_map(dims[-1], dims[0], [1.0] * r, seed=seed, device=device)
        net = DeepLinearNetwork.spectral_init(
            dims, r, U, V, scale=float(config.get("init_scale", 0.1)), seed=seed + 1, device=device
        )
        X = whitened_inputs(64, dims[0], seed=seed + 2, device=device)
        Y = X @ M.T
        steps = int(config.get("max_steps", 20000))
        marks = sorted({int(x) for x in np.geomspace(1, max(steps, 2), 12)} | {0})

        def record(Ws, step):
            H = dln_hessian_assembled(Ws, X=X, Y=Y)
            ev = torch.linalg.eigvalsh(H).flip(0).cpu().numpy()
            return {"step": step, "ratio": split_by_counts(ev, r * r, r * (dims[0] + dims[-1] - 2 * r)).ratio}

        Ws, rec = train_dln_gradient_descent(
            net.weights,
            lr=float(config.get("lr", 0.01)),
            momentum=float(config.get("momentum", 0.9)),
            max_steps=steps,
            loss_tol=float(config.get("loss_tol", 1e-20)),
            X=X,
            Y=Y,
            record_steps=marks,
            record_fn=record,
        )
        H = dln_hessian_assembled(Ws, X=X, Y=Y)
        ev = torch.linalg.eigvalsh(H).flip(0).cpu().numpy()
        split = split_by_counts(ev, r * r, r * (dims[0] + dims[-1] - 2 * r))
        H_res = dln_residual_hessian_closed_form(Ws, X=X, Y=Y)
        res_norm = float(torch.linalg.matrix_norm(H_res, 2))
        s = torch.linalg.svdvals(product(Ws, dims[0])).cpu().numpy()[:r]
        formula = balanced_minimum_spectrum_numeric(dims, s)
        gn = dln_gauss_newton_nonzero_spectrum(Ws, X=X, rtol=0.0).cpu().numpy()
        k = len(formula["dominant"]) + len(formula["bulk"])
        gn_dev = float(
            np.max(
                np.abs(np.sort(gn)[::-1][:k] - np.sort(np.concatenate([formula["dominant"], formula["bulk"]]))[::-1])
            )
        )
        imbalance = max(
            [float(torch.linalg.norm(Ws[l + 1].T @ Ws[l + 1] - Ws[l] @ Ws[l].T)) for l in range(depth - 1)] or [0.0]
        )
        return {
            "ratio": split.ratio,
            "final_loss": rec.final_loss,
            "steps": rec.final_step,
            "converged": rec.converged,
            "res_norm": res_norm,
            "gn_formula_deviation": gn_dev,
            "imbalance": imbalance,
            "formula_dominant_mean": float(np.mean(formula["dominant"])),
            "formula_bulk_mean": float(np.mean(formula["bulk"])),
            "trajectory": [(rr["step"], rr["ratio"]) for rr in rec.records],
            "losses": list(zip(rec.steps, rec.losses)),
        }

    def compare(self, predicted, measured, config):
        D, b = measured["formula_dominant_mean"], measured["formula_bulk_mean"]
        delta = measured["res_norm"] + measured["gn_formula_deviation"]
        if b > delta:
            lo, hi = (D - delta) / (b + delta), (D + delta) / (b - delta)
            bound = max(abs(lo - predicted), abs(hi - predicted)) * (1 + 1e-9) + 1e-12
        else:
            bound = float("inf")
        err = abs(measured["ratio"] - predicted)
        if not measured["converged"]:
            err = float("nan")  # an unfinished run says nothing about the limit
        disp = f"{measured['ratio']:.6g}" + (
            "" if measured["converged"] else f" (not converged, loss {measured['final_loss']:.1e})"
        )
        return Comparison(predicted, measured, err, bound, f"L = {predicted:g}", disp, details=measured)


CLAIMS = [HessianClosedFormClaim(), BalancedMinimumSpectrumClaim(), DepthRatioClaim(), TrainingRatioClaim()]
