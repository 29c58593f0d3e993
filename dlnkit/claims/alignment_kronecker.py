"""Claims of arXiv:2606.02596 A2 on Kronecker blocks: the row-major quadratic-form identity and the
exact additivity of the fitted alpha over its three factors."""

from __future__ import annotations

import math

import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims.alignment_dln import ARXIV_A, REL_FLOOR
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.numerics.alignment import analyse_capture, capture_layer, linear_chain
from dlnkit.numerics.fits import fit_alpha, loglog_fit
from dlnkit.numerics.point import random_batch_point
from dlnkit.numerics.validation import DlnkitInputError, check_dims
from dlnkit.theory.kronecker import kron_quadratic_form_expr


# ----- A2: the Kronecker identity ----------------------------------------------------------------
class KroneckerIdentity(Claim):
    r"""vec_r(uv^T)^T (C_delta (x) C_A) vec_r(uv^T) = (u^T C_delta u)(v^T C_A v) for PSD factors.

    Predicted: the right side (lambdified from :func:`dlnkit.theory.kronecker.kron_quadratic_form_expr`);
    measured: the explicit quadratic form with ``torch.kron`` on the row-major vec. Proven
    symbolically in :func:`dlnkit.theory.kronecker.kronecker_quadratic_form_gap`. The order of the
    factors is the assumption: in the row-major layout the output factor comes first.
    """

    id = "A2-kron-identity"
    title = "h_kron = (u^T C_delta u)(v^T C_A v): row-major Kronecker quadratic form"
    source = f"{ARXIV_A} A2"
    kind = "exact"
    assumptions = (ASSUMPTIONS["row_major_order"],)
    tolerance = Tolerance(
        rtol=1e-12, atol=0.0, reason="one float64 quadratic form of size mn, rounding ~1e-15 relative"
    )

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        order = (
            st.sampled_from(["output_first", "input_first"]) if "row_major_order" in drop else st.just("output_first")
        )
        return st.fixed_dictionaries(
            {"m": st.integers(1, 6), "n": st.integers(1, 6), "seed": st.integers(0, 2**10), "order": order}
        )

    def default_configs(self):
        return [
            {"m": 3, "n": 5, "seed": 0, "order": "output_first"},
            {"m": 6, "n": 2, "seed": 1, "order": "output_first"},
        ]

    def _draw(self, config):
        g = torch.Generator().manual_seed(int(config["seed"]))
        m, n = int(config["m"]), int(config["n"])
        if m < 1 or n < 1:
            raise DlnkitInputError("m and n must be >= 1")
        Cr = torch.randn(m, m, generator=g, dtype=torch.float64)
        Dr = torch.randn(n, n, generator=g, dtype=torch.float64)
        u = torch.randn(m, generator=g, dtype=torch.float64)
        v = torch.randn(n, generator=g, dtype=torch.float64)
        return Cr @ Cr.T, Dr @ Dr.T, u / u.norm(), v / v.norm()

    def predict(self, config):
        C, D, u, v = self._draw(config)
        syms, expr = kron_quadratic_form_expr()
        return float(sp.lambdify(syms, expr)(float(u @ C @ u), float(v @ D @ v)))

    def measure(self, config, device="cpu"):
        C, D, u, v = self._draw(config)
        x = torch.outer(u, v).reshape(-1)
        K = torch.kron(C, D) if config.get("order", "output_first") == "output_first" else torch.kron(D, C)
        if K.shape[0] != x.numel():
            return float("nan")
        return float(x @ K @ x)

    def compare(self, predicted, measured, config):
        if not math.isfinite(measured):
            return Comparison(predicted, measured, float("inf"), 0.0, f"{predicted:.6g}", "size mismatch")
        err = abs(measured - predicted) / max(abs(predicted), REL_FLOOR)
        return Comparison(predicted, measured, err, self.tolerance.rtol, f"{predicted:.6g}", f"{measured:.6g}")


# ----- A2: the decomposition of the fitted alpha -----------------------------------------------
class AlphaDecomposition(Claim):
    r"""Fitted alpha = slope(log Lambda) + slope(log Phi) + slope(log chi), all on log sigma.

    Exact for ordinary least squares over one index set, because the LS slope is linear in the
    response and log h = log chi + log Phi + log Lambda (proof: :func:`dlnkit.theory.kronecker.slope_additivity_gap`).
    Measured on a *generic* DLN point (random weights, whitened data, random teacher) with exact
    HVPs, for both factor conventions and both pairings. Fitting the parts on different index
    sets (drop ``same_index_set``: the chi slope leaves out the top direction) breaks it.
    """

    id = "A2-decomposition"
    title = "alpha = dlogLambda/dlogsigma + dlogPhi/dlogsigma + dlogchi/dlogsigma (LS, same indices)"
    source = f"{ARXIV_A} A2"
    kind = "exact"
    assumptions = (ASSUMPTIONS["same_index_set"],)
    tolerance = Tolerance(rtol=1e-9, atol=1e-9, reason="sums of float64 LS slopes of logs; rounding ~1e-13")

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        return st.fixed_dictionaries(
            {
                "dims": st.lists(st.integers(3, 6), min_size=3, max_size=4),
                "seed": st.integers(0, 2**10),
                "layer": st.integers(1, 2),
                "factors": st.sampled_from(["empirical", "gn"]),
                "pairing": st.sampled_from(["index", "overlap"]),
                "chi_offset": st.sampled_from([0, 1]) if "same_index_set" in drop else st.just(0),
            }
        )

    def default_configs(self):
        return [
            {"dims": [5, 6, 4], "seed": 0, "layer": 1, "factors": "empirical", "pairing": "index", "chi_offset": 0},
            {"dims": [4, 5, 5, 3], "seed": 1, "layer": 2, "factors": "gn", "pairing": "overlap", "chi_offset": 0},
        ]

    def predict(self, config):
        return "sum of the three slopes"

    def measure(self, config, device="cpu"):
        dims = check_dims(config["dims"])
        # a generic point: Gaussian weights, whitened inputs, outputs unrelated to them
        pt = random_batch_point({"dims": dims, "seed": int(config["seed"]), "batch": 4 * dims[0] + 4}, device)
        layer = min(int(config["layer"]), len(dims) - 1)
        cap = capture_layer(linear_chain(pt.weights), str(layer - 1), pt.X, pt.Y, loss="mse", gauss_newton=True)
        rep = analyse_capture(cap, k=20, factors=config["factors"], pairing=config["pairing"], eigen=False)
        keep = (rep.h > 0) & (rep.Phi > 0) & (rep.chi > 0) & (rep.Lambda > 0)
        sig = rep.sigma[keep]
        off = int(config.get("chi_offset", 0))

        parts = {
            "Lambda": loglog_fit(sig, rep.Lambda[keep]).slope,
            "Phi": loglog_fit(sig, rep.Phi[keep]).slope,
            "chi": loglog_fit(sig[off:], rep.chi[keep][off:]).slope,
        }
        return {"alpha": fit_alpha(sig, rep.h[keep]).exponent, "parts": parts, "n": int(keep.sum())}

    def compare(self, predicted, measured, config):
        pred = sum(measured["parts"].values())
        a = measured["alpha"]
        err = abs(a - pred)
        p = measured["parts"]
        return Comparison(
            pred,
            a,
            err,
            self.tolerance.bound(pred),
            f"{pred:.6g} = {p['Lambda']:.3g}+{p['Phi']:.3g}+{p['chi']:.3g}",
            f"alpha={a:.6g}",
            details={**p, "n": measured["n"]},
        )


CLAIMS = [KroneckerIdentity(), AlphaDecomposition()]
