r"""Spectral density by stochastic Lanczos quadrature (SLQ), from matrix-vector products only.

For a symmetric :math:`A\in\mathbb R^{n\times n}` with eigenpairs :math:`(\lambda_j, q_j)` the
spectral measure :math:`\mu = \frac1n\sum_j\delta_{\lambda_j}` satisfies
:math:`\int f\,d\mu = \frac1n\operatorname{tr} f(A) = \mathbb E_v[v^\top f(A) v]` for probes with
:math:`\mathbb E[vv^\top] = I/n` (here Rademacher over :math:`\sqrt n`). For one unit probe, m
Lanczos steps started at v give :math:`T_m = S\,\operatorname{diag}(\theta)\,S^\top` and the
Gauss quadrature :math:`v^\top f(A) v \approx \sum_i \tau_i f(\theta_i)` with nodes
:math:`\theta_i` and weights :math:`\tau_i = S_{1i}^2` (exact for polynomials of degree
:math:`\le 2m-1`). Averaging over ``num_probes`` probes gives a discrete measure with
``num_probes * m`` atoms of total mass 1; :meth:`SLQResult.density` smooths it with a Gaussian
kernel of width ``sigma`` (PyHessian's convention: the density integrates to 1; multiply by n for
"eigenvalues per unit").

Accuracy on deep linear networks against the exact spectrum with multiplicities (measured in
``tests/test_slq.py`` and tabulated in the README) is stated as the Wasserstein-1 distance
between the SLQ measure and the exact one, relative to the spectral range.

>>> A = torch.diag(torch.linspace(0.0, 1.0, 200, dtype=torch.float64))
>>> res = slq(lambda V: A @ V, 200, num_probes=4, num_steps=30, seed=0)
>>> round(float(res.weights.sum()), 12), res.nodes.shape
(1.0, (4, 30))
>>> w1 = res.wasserstein_to(torch.linspace(0.0, 1.0, 200, dtype=torch.float64).numpy())
>>> w1 < 0.02
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dlnkit.numerics.validation import DlnkitInputError

Matvec = Callable[[torch.Tensor], torch.Tensor]


def lanczos_tridiagonal(matvec: Matvec, v0: torch.Tensor, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The (alphas, betas) of m Lanczos steps from ``v0`` with full re-orthogonalisation (twice).
    Stops early at an invariant subspace (then fewer than m alphas)."""
    n = v0.numel()
    m = min(int(num_steps), n)
    Q = torch.empty(m, n, dtype=torch.float64)
    Q[0] = v0 / torch.linalg.norm(v0)
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(m):
        w = matvec(Q[j].reshape(n, 1)).to(torch.float64).cpu().reshape(n)
        a = float(torch.dot(w, Q[j]))
        alphas.append(a)
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(torch.linalg.norm(w))
        scale = max(1.0, max(abs(x) for x in alphas))
        if j + 1 == m or b <= 1e-12 * scale:
            break
        betas.append(b)
        Q[j + 1] = w / b
    return np.asarray(alphas), np.asarray(betas)


@dataclass
class SLQResult:
    """Nodes and weights (num_probes x m; each row sums to 1/num_probes), dimension n, products spent."""

    nodes: np.ndarray
    weights: np.ndarray
    n: int
    num_matvecs: int

    def atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """Flattened (nodes, weights) of the averaged measure (total mass 1)."""
        return self.nodes.reshape(-1), self.weights.reshape(-1)

    def density(self, grid: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """Gaussian-smoothed density on ``grid`` (integrates to 1); sigma defaults to 1% of the node range."""
        x, w = self.atoms()
        if sigma is None:
            sigma = 0.01 * max(float(x.max() - x.min()), 1e-12)
        g = np.asarray(grid, dtype=np.float64)[:, None]
        dens: np.ndarray = (w[None, :] * np.exp(-0.5 * ((g - x[None, :]) / sigma) ** 2)).sum(1) / (
            sigma * np.sqrt(2 * np.pi)
        )
        return dens

    def moment(self, k: int) -> float:
        """Estimate of (1/n) tr A^k."""
        x, w = self.atoms()
        return float((w * x**k).sum())

    def top(self) -> float:
        """The largest node: a lower bound on lambda_max that converges fast (extreme Ritz value)."""
        return float(self.nodes.max())

    def wasserstein_to(self, eigenvalues: np.ndarray) -> float:
        """W1 distance between this measure and the uniform measure on ``eigenvalues`` (with multiplicity)."""
        from scipy.stats import wasserstein_distance

        x, w = self.atoms()
        keep = w > 0
        return float(wasserstein_distance(x[keep], np.asarray(eigenvalues, dtype=np.float64), u_weights=w[keep]))


def block_lanczos_tridiagonals(matvec: Matvec, V0: torch.Tensor, num_steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Independent Lanczos recurrences (full re-orthogonalisation, twice) for every column of ``V0``,
    run side by side so that each step is *one* product with an (n, p) block: one pass over the data
    for all probes. A column that reaches an invariant subspace stops (its later columns are zero).
    Returns (alphas, betas) per column, as :func:`lanczos_tridiagonal`."""
    n, p = V0.shape
    m = min(int(num_steps), n)
    Q = torch.zeros(m, n, p, dtype=torch.float64)
    Q[0] = V0 / torch.linalg.norm(V0, dim=0, keepdim=True)
    alphas = torch.zeros(m, p, dtype=torch.float64)
    betas = torch.zeros(m, p, dtype=torch.float64)
    steps = torch.zeros(p, dtype=torch.int64)
    active = torch.ones(p, dtype=torch.bool)
    for j in range(m):
        W = matvec(Q[j]).to(torch.float64).cpu().reshape(n, p)
        alphas[j] = (W * Q[j]).sum(0)
        for _ in range(2):
            coeff = torch.einsum("inp,np->ip", Q[: j + 1], W)
            W = W - torch.einsum("inp,ip->np", Q[: j + 1], coeff)
        b = torch.linalg.norm(W, dim=0)
        steps[active] = j + 1
        scale = torch.clamp(alphas[: j + 1].abs().max(0).values, min=1.0)
        active = active & (b > 1e-12 * scale)
        if j + 1 == m or not bool(active.any()):
            break
        betas[j] = torch.where(active, b, torch.zeros_like(b))
        Q[j + 1] = torch.where(active, W / torch.where(active, b, torch.ones_like(b)), torch.zeros_like(W))
    out = []
    for c in range(p):
        k = int(steps[c])
        out.append((alphas[:k, c].numpy().copy(), betas[: max(k - 1, 0), c].numpy().copy()))
    return out


def slq(matvec: Matvec, n: int, *, num_probes: int = 8, num_steps: int = 60, seed: int = 0) -> SLQResult:
    """SLQ with Rademacher probes; ``matvec`` maps an (n, k) float64 CPU block to A times it. All probes
    run side by side (:func:`block_lanczos_tridiagonals`): ``num_steps`` block products in all."""
    if num_probes < 1 or num_steps < 1:
        raise DlnkitInputError(f"num_probes and num_steps must be >= 1, got {num_probes}, {num_steps}")
    n = int(n)
    m = min(int(num_steps), n)
    g = torch.Generator().manual_seed(int(seed))
    V0 = torch.stack(
        [(torch.randint(0, 2, (n,), generator=g) * 2 - 1).to(torch.float64) for _ in range(num_probes)], dim=1
    )
    nodes = np.zeros((num_probes, m))
    weights = np.zeros((num_probes, m))
    spent = 0
    for p, (a, b) in enumerate(block_lanczos_tridiagonals(matvec, V0, m)):
        spent += len(a)
        T = np.diag(a) + np.diag(b[: len(a) - 1], 1) + np.diag(b[: len(a) - 1], -1)
        theta, S = np.linalg.eigh(T)
        k = len(a)
        nodes[p, :k] = theta
        weights[p, :k] = S[0, :] ** 2 / num_probes
        if k < m:  # invariant subspace: pad with zero-weight copies of the last node
            nodes[p, k:] = theta[-1]
    return SLQResult(nodes, weights, n, spent)


__all__ = ["lanczos_tridiagonal", "block_lanczos_tridiagonals", "SLQResult", "slq"]
