r"""Extreme eigenvalues of a Hessian from HVPs only (no P x P matrix).

* :func:`lanczos_top_eigenvalues`: Lanczos with full re-orthogonalisation. After m steps the
  tridiagonal :math:`T_m = V_m^\top H V_m` has Ritz values :math:`\theta_i` with residuals
  :math:`\|H V_m s_i - \theta_i V_m s_i\| = |\beta_m\, s_{m,i}|`; the top ``k`` are accepted
  when every such residual is below ``tol`` times the largest :math:`|\theta|`. For a symmetric H
  the eigenvalue error is at most the residual (and in practice its square over the gap).
It takes a ``matvec`` (a torch function v -> H v on the parameters' device) or a
:class:`~dlnkit.numerics.hessian.HessianOperator`, and counts the HVPs it spends. Traces
(Hutchinson, Hutch++, exact) are in :mod:`dlnkit.numerics.trace_estimators`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from dlnkit.numerics.validation import DlnkitInputError

if TYPE_CHECKING:
    from dlnkit.numerics.hessian import HessianOperator

Matvec = Callable[[torch.Tensor], torch.Tensor]


def _as_torch_matvec(op: object) -> tuple[Matvec, Matvec, int, torch.dtype, torch.device]:
    """(matvec, matmat, n, dtype, device) for a HessianOperator (callables are handled by the callers)."""
    from dlnkit.numerics.hessian import HessianOperator, hvp, hvp_batched

    if isinstance(op, HessianOperator):
        params, loss_fn, chunk = op.params, op.loss_fn, op.chunk_size

        def mv(v: torch.Tensor) -> torch.Tensor:
            return hvp(loss_fn, params, v)

        def mm(V: torch.Tensor) -> torch.Tensor:
            return hvp_batched(loss_fn, params, V, chunk_size=chunk)

        return mv, mm, op.num_params, op.param_dtype, op.param_device
    raise DlnkitInputError("give a HessianOperator, or a callable matvec together with n=")


@dataclass
class LanczosResult:
    eigenvalues: torch.Tensor  # the top k Ritz values, descending
    eigenvectors: torch.Tensor | None  # P x k, when asked for
    residuals: torch.Tensor  # |beta_m s_{m,i}| for the returned pairs
    num_hvps: int
    num_iters: int
    converged: bool


def lanczos_top_eigenvalues(
    op: HessianOperator | Matvec,
    k: int = 5,
    *,
    n: int | None = None,
    max_iters: int = 300,
    tol: float = 1e-10,
    seed: int = 0,
    which: str = "LA",
    return_vectors: bool = False,
    check_every: int = 5,
) -> LanczosResult:
    """The ``k`` largest (``which="LA"``) or largest-magnitude (``"LM"``) eigenvalues of a symmetric
    operator by Lanczos with full re-orthogonalisation; one HVP per iteration.

    ``op``: a :class:`~dlnkit.numerics.hessian.HessianOperator`, or a torch callable v -> H v with
    the dimension ``n`` given. The start vector is Gaussian from ``seed``.

    >>> A = torch.diag(torch.arange(1.0, 101.0, dtype=torch.float64))
    >>> res = lanczos_top_eigenvalues(lambda v: A @ v, 3, n=100, tol=1e-12)
    >>> [round(x, 8) for x in res.eigenvalues.tolist()], res.converged
    ([100.0, 99.0, 98.0], True)
    """
    if callable(op) and not hasattr(op, "shape"):
        if n is None:
            raise DlnkitInputError("a callable matvec needs the dimension n=")
        matvec, dtype, device = op, torch.float64, torch.device("cpu")
    else:
        matvec, _mm, n, dtype, device = _as_torch_matvec(op)
    n = int(n)
    k = int(k)
    if not 1 <= k <= n:
        raise DlnkitInputError(f"k must be between 1 and the dimension {n}, got {k}")
    if which not in ("LA", "LM"):
        raise DlnkitInputError(f"which must be 'LA' or 'LM', got {which!r}")
    max_iters = min(int(max_iters), n)
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    q = torch.randn(n, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
    q = q / torch.linalg.norm(q)
    Q = torch.empty(max_iters + 1, n, dtype=dtype, device=device)
    Q[0] = q
    alphas: list[float] = []
    betas: list[float] = []
    num_hvps, converged, m = 0, False, 0
    theta = S = None
    for m in range(1, max_iters + 1):
        w = matvec(Q[m - 1])
        num_hvps += 1
        a = torch.dot(w, Q[m - 1])
        w = w - a * Q[m - 1] - (betas[-1] * Q[m - 2] if betas else 0.0)
        # full re-orthogonalisation, twice ("twice is enough")
        for _ in range(2):
            w = w - Q[:m].T @ (Q[:m] @ w)
        b = torch.linalg.norm(w)
        alphas.append(float(a))
        betas.append(float(b))
        invariant = float(b) <= 1e-14 * max(1.0, max(abs(x) for x in alphas))
        if m >= k and (m % check_every == 0 or invariant or m == max_iters):
            T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
            if m > 1:
                off = torch.tensor(betas[:-1], dtype=torch.float64)
                T = T + torch.diag(off, 1) + torch.diag(off, -1)
            theta, S = torch.linalg.eigh(T)
            order = torch.argsort(theta if which == "LA" else theta.abs(), descending=True)[:k]
            theta_k, S_k = theta[order], S[:, order]
            res = (betas[-1] * S_k[-1, :]).abs()
            scale = max(theta.abs().max().item(), 1e-300)
            if invariant or bool((res <= tol * scale).all()):
                converged = True
                break
        if invariant:
            break
        Q[m] = w / b
    if theta is None:  # fewer than k iterations possible (tiny n): fall back to the last T
        T = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        theta_k, S_k = torch.linalg.eigh(T)
        res = torch.zeros_like(theta_k)
    vecs = None
    if return_vectors:
        vecs = Q[:m].T @ S_k.to(dtype=dtype, device=device)
    return LanczosResult(theta_k, vecs, res, num_hvps, m, converged)


__all__ = ["LanczosResult", "lanczos_top_eigenvalues"]
