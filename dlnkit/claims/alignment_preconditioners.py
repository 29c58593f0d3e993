"""Claim of arXiv:2606.02596 A6: the preconditioner family T(sigma; alpha) = sigma / (sigma^alpha + d)
reproduces damped Newton, the polar factor and the damped Kronecker Newton step."""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from dlnkit.claims.alignment_dln import ARXIV_A, REL_FLOOR
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.numerics.dln import random_orthonormal
from dlnkit.theory.preconditioners import alpha, d, sigma, transfer


# ----- A6: the preconditioner family ---------------------------------------------------------------
@cache
def _T_fn():
    return sp.lambdify((sigma, alpha, d), transfer(), "numpy")


class PreconditionerIdentities(Claim):
    r"""T(sigma; alpha) = sigma/(sigma^alpha + d) reproduces three matrix maps.

    * ``newton2``: U T(Sigma; 2) V^T = G (G^T G + d I)^{-1} (measured by a linear solve);
    * ``polar``: U T(Sigma; 1, d -> 0) V^T = G (G^T G)^{-1/2} (measured via eigh of G^T G);
    * ``kron_newton``: the damped Newton step (C_delta (x) C_A + d I)^{-1} vec_r(G) on a Kronecker block
      whose factor eigenbases are G's singular bases and a_k b_k = c sigma_k^alpha equals
      U diag(T(sigma_k; alpha, d/c)/c) V^T (measured by a dense solve).

    Predicted from the SymPy T (lambdified) applied to the singular values; derivations in
    :mod:`dlnkit.theory.preconditioners`.
    """

    id = "A6-preconditioner"
    title = "T(sigma;alpha): alpha=2 -> G(G^TG+dI)^-1, alpha=1,d->0 -> UV^T, damped Kronecker Newton"
    source = f"{ARXIV_A} A6"
    kind = "exact"
    assumptions = (
        ASSUMPTIONS["vanishing_damping"],
        ASSUMPTIONS["factor_bases_aligned"],
    )
    tolerance = Tolerance(
        rtol=1e-9,
        atol=0.0,
        reason="float64 solves of well-conditioned systems (d >= 1e-3 sigma_1^2 or sigma_min >= 0.1 sigma_max)",
    )

    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)
        return st.fixed_dictionaries(
            {
                "identity": st.sampled_from(["newton2", "polar", "kron_newton"]),
                "m": st.integers(2, 6),
                "n": st.integers(2, 6),
                "seed": st.integers(0, 2**10),
                "d": st.sampled_from([1e-3, 0.1, 1.0]),
                "alpha": st.sampled_from([0.5, 1.0, 2.0, 3.0]),
                "c": st.sampled_from([0.5, 1.0, 2.0]),
                "polar_d": st.sampled_from([0.0, 0.5]) if "vanishing_damping" in drop else st.just(0.0),
                "factor_rotation": st.sampled_from([0.0, 0.5]) if "factor_bases_aligned" in drop else st.just(0.0),
            }
        )

    def default_configs(self):
        base = {"m": 5, "n": 3, "seed": 0, "d": 0.1, "alpha": 1.5, "c": 2.0, "polar_d": 0.0, "factor_rotation": 0.0}
        return [{**base, "identity": "newton2"}, {**base, "identity": "polar"}, {**base, "identity": "kron_newton"}]

    def _G(self, config):
        m, n = int(config["m"]), int(config["n"])
        g = torch.Generator().manual_seed(int(config["seed"]))
        r = min(m, n)
        U = random_orthonormal(m, r, generator=g)
        V = random_orthonormal(n, r, generator=g)
        sig = torch.sort(torch.rand(r, generator=g, dtype=torch.float64) * 0.9 + 0.1, descending=True).values
        return U, sig, V

    def predict(self, config):
        U, sig, V = self._G(config)
        T = _T_fn()
        ident = config["identity"]
        if ident == "newton2":
            vals = T(sig.numpy(), 2.0, float(config["d"]))
        elif ident == "polar":
            vals = T(sig.numpy(), 1.0, 0.0)
        else:
            c = float(config["c"])
            vals = T(sig.numpy(), float(config["alpha"]), float(config["d"]) / c) / c
        return ((U * torch.as_tensor(vals)) @ V.T).numpy()

    def measure(self, config, device="cpu"):
        U, sig, V = self._G(config)
        G = (U * sig) @ V.T
        n = G.shape[1]
        ident = config["identity"]
        if ident == "newton2":
            return torch.linalg.solve(G.T @ G + float(config["d"]) * torch.eye(n, dtype=G.dtype), G.T).T.numpy()
        if ident == "polar":
            pd = float(config.get("polar_d", 0.0))
            ev, Q = torch.linalg.eigh(G.T @ G + pd * torch.eye(n, dtype=G.dtype))
            inv_sqrt = torch.where(ev > 1e-12 * ev.max(), ev.clamp_min(1e-300).rsqrt(), torch.zeros_like(ev))
            return (G @ (Q * inv_sqrt) @ Q.T).numpy()
        m = G.shape[0]
        alpha, c, d = float(config["alpha"]), float(config["c"]), float(config["d"])
        g = torch.Generator().manual_seed(int(config["seed"]) + 11)
        Uf = torch.linalg.qr(torch.cat([U, torch.randn(m, m, generator=g, dtype=G.dtype)], 1))[0][:, :m]
        Vf = torch.linalg.qr(torch.cat([V, torch.randn(n, n, generator=g, dtype=G.dtype)], 1))[0][:, :n]
        Uf[:, : U.shape[1]] = U
        Vf[:, : V.shape[1]] = V
        rot = float(config.get("factor_rotation", 0.0))
        if rot:
            Uf = torch.linalg.qr(Uf + rot * torch.randn(m, m, generator=g, dtype=G.dtype))[0]
        r = sig.numel()
        a = torch.ones(m, dtype=G.dtype)
        b = torch.ones(n, dtype=G.dtype) * 0.5
        a[:r] = torch.sqrt(c * sig**alpha)
        b[:r] = torch.sqrt(c * sig**alpha)
        Cd = (Uf * a) @ Uf.T
        CA = (Vf * b) @ Vf.T
        H = torch.kron(Cd, CA) + d * torch.eye(m * n, dtype=G.dtype)
        return torch.linalg.solve(H, G.reshape(-1)).reshape(m, n).numpy()

    def compare(self, predicted, measured, config):
        err = float(np.max(np.abs(measured - predicted)) / max(np.max(np.abs(predicted)), REL_FLOOR))
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.rtol,
            f"{config['identity']}: |T-step|={np.linalg.norm(predicted):.6g}",
            f"|step|={np.linalg.norm(measured):.6g}",
        )


CLAIMS = [PreconditionerIdentities()]
