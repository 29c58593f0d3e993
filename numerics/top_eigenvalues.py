r"""The k extreme eigenvalues of a curvature operator, with multiplicities, by block Lanczos.

:func:`top_eigenvalues` runs the one kernel (:func:`dlnkit.numerics.lanczos.block_lanczos`) with a
block of ``block_size`` Gaussian start vectors (default ``k``) until the k wanted Ritz pairs have
residuals :math:`\|Ay - \theta y\| \le \mathrm{tol}\cdot\|A\|` (:math:`\|A\|` estimated by the largest
product norm and the largest :math:`|\theta|`, both lower bounds) and no unconverged Ritz value can
still be a further copy of a wanted one (its interval :math:`\theta_j\pm r_j` misses every wanted
value), the Krylov space is exhausted
(then the Ritz pairs are exact), or the product budget ``max_iters`` is spent (then the result says
*not converged*). The residuals it reports are recomputed explicitly, :math:`\|A y_i - \theta_i y_i\|`
with k more products, so a loss of orthogonality cannot pass for convergence.

For a symmetric A, a Ritz value with residual r lies within r of an eigenvalue, so converged Ritz
values closer than ``tol * ||A||`` (plus their residuals) cannot be told apart at this accuracy:
they form one :class:`EigenCluster`, whose ``multiplicity`` is the number of copies found. A block
of b start vectors holds at most b copies of any eigenvalue (see :mod:`dlnkit.numerics.lanczos`),
so a cluster of b copies is flagged ``may_be_larger``; with ``block_size >= k`` the k returned
values are right *with* multiplicity (each eigenvalue appears min(multiplicity, b) times).

>>> A = torch.diag(torch.cat([torch.full((10,), 4.0), torch.linspace(0.0, 2.0, 60)]).double())
>>> res = top_eigenvalues(A, 5)
>>> [round(x, 10) for x in res.eigenvalues.tolist()], res.multiplicities, res.converged
([4.0, 4.0, 4.0, 4.0, 4.0], (5, 5, 5, 5, 5), True)
>>> res.clusters[0].may_be_larger   # 5 copies found with 5 start vectors: there may be more (there are 10)
True
>>> grown = top_eigenvalues(A, 1, max_block_size=16)   # doubles the block until a cluster is not full
>>> grown.multiplicities, grown.block_size, grown.clusters[0].may_be_larger
((10,), 16, False)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.lanczos import (
    KrylovRun,
    block_lanczos,
    default_tolerance,
    random_start,
    ritz_pairs,
    ritz_vectors,
    steps_for,
)
from dlnkit.numerics.operators import CurvatureOperator, as_operator
from dlnkit.numerics.validation import DlnkitInputError

WHICH = ("LA", "LM", "SA")


@dataclass(frozen=True)
class EigenCluster:
    """Converged Ritz values that agree within the tolerance: ``value`` (their mean), ``multiplicity``
    (copies found), ``may_be_larger`` (the block size or an unconverged neighbour allows more)."""

    value: float
    multiplicity: int
    may_be_larger: bool


@dataclass(frozen=True)
class EigenResult:
    r"""The k wanted eigenvalues (``which`` order: descending for LA and LM, ascending for SA).

    ``residuals[i]`` is :math:`\|A y_i - \theta_i y_i\|` for the unit Ritz vector :math:`y_i`;
    ``pair_converged[i]`` is ``residuals[i] <= tol * norm_estimate``; ``multiplicities[i]`` the
    multiplicity of the cluster of eigenvalue i (1 when it has not converged); ``clusters`` the
    distinct values among the k; ``exhausted`` True when the Krylov space became invariant (exact);
    ``num_products`` every column product spent, the explicit residual check included."""

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor | None
    residuals: torch.Tensor
    pair_converged: torch.Tensor
    multiplicities: tuple[int, ...]
    clusters: tuple[EigenCluster, ...]
    norm_estimate: float
    tol: float
    block_size: int
    num_products: int
    num_steps: int
    exhausted: bool

    @property
    def converged(self) -> bool:
        """Every returned pair has a residual within the tolerance."""
        return bool(self.pair_converged.all())

    @property
    def num_hvps(self) -> int:
        """Operator products spent (the name the HVP-based callers use)."""
        return self.num_products


def _order(theta: torch.Tensor, which: str) -> torch.Tensor:
    if which == "LA":
        return torch.argsort(theta, descending=True)
    if which == "LM":  # by magnitude, ties (+x, -x) with the positive first
        by_value = torch.argsort(theta, descending=True)
        return by_value[torch.argsort(theta[by_value].abs(), descending=True, stable=True)]
    return torch.argsort(theta)


def _wanted(run: KrylovRun, k: int, which: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    theta, S, res = ritz_pairs(run, 0)
    order = _order(theta, which)
    return theta, res, order[:k], S


def _scale(run: KrylovRun, theta: torch.Tensor) -> float:
    return max(run.norm_estimate, float(theta.abs().max()) if theta.numel() else 0.0, 1e-300)


def _clusters(
    values: torch.Tensor,
    theta: torch.Tensor,
    res: torch.Tensor,
    ok: torch.Tensor,
    width: float,
    block_size: int,
) -> tuple[tuple[int, ...], tuple[EigenCluster, ...]]:
    """Multiplicity of each wanted value among the converged Ritz values ``theta`` (residuals ``res``),
    and the distinct clusters in the wanted order."""
    mults: list[int] = []
    found: list[EigenCluster] = []
    for v in values.tolist():
        near = (theta - v).abs() <= width + res
        count = int((near & ok).sum())
        if count == 0:
            mults.append(1)
            continue
        members = theta[near & ok]
        loose = bool((near & ~ok).any())  # an unconverged Ritz value might still join the cluster
        cl = EigenCluster(float(members.mean()), count, count >= block_size or loose)
        mults.append(count)
        if all(abs(f.value - cl.value) > width for f in found):  # LM may interleave +x and -x
            found.append(cl)
    return tuple(mults), tuple(found)


@checked
def top_eigenvalues(
    op: object,
    k: int = 5,
    *,
    n: int | None = None,
    block_size: int | None = None,
    max_block_size: int | None = None,
    max_iters: int = 300,
    tol: float | None = None,
    seed: int = 0,
    which: str = "LA",
    return_vectors: bool = False,
    check_every: int = 1,
    budget_bytes: int | None = None,
    start: torch.Tensor | None = None,
    start_product: torch.Tensor | None = None,
) -> EigenResult:
    """The ``k`` largest (``which="LA"``), largest-magnitude (``"LM"``) or smallest (``"SA"``)
    eigenvalues of a symmetric operator, with multiplicities and explicit residuals.

    ``op``: a :class:`~dlnkit.numerics.operators.CurvatureOperator` (``HessianOperator``,
    ``ModelCurvature``, ``DenseOperator``), a square tensor, or a block callable with ``n``.
    ``block_size`` (default ``k``, at most n) bounds the multiplicity that can be resolved; with
    ``max_block_size`` the run is repeated with a doubled block (fresh start vectors) while a wanted
    cluster holds as many copies as the block has vectors, up to that size: the multiplicity of a
    cluster found with fewer copies than the final block is then exact. ``max_iters`` bounds the
    products of each run's recurrence (its Krylov dimension); ``tol`` the relative residual
    (default :func:`~dlnkit.numerics.lanczos.default_tolerance` of the operator's dtype).
    ``num_products`` counts every run.

    ``start`` (n, c): given start columns (for example directions whose products are known, passed as
    ``start_product`` = A ``start`` so they are not repeated; those c products are not counted). The
    block is then ``start`` followed by ``block_size`` Gaussian columns (default 0 with a start). The
    multiplicity argument holds for the *random* columns only: a given start may be orthogonal to part
    of an eigenspace (or to a whole eigenvector: the Krylov space of a start inside an invariant
    subspace never leaves it), so a cluster is flagged ``may_be_larger`` when it holds at least as many
    copies as there are random columns (always, with none), and only the random columns guarantee that
    no eigenvalue is missed; the residuals are as honest as with a random start.
    """
    A = as_operator(op, n)
    size = A.size
    k = int(k)
    if not 1 <= k <= size:
        raise DlnkitInputError(f"k must be between 1 and the dimension {size}, got {k}")
    if which not in WHICH:
        raise DlnkitInputError(f"which must be one of {', '.join(WHICH)}, got {which!r}")
    given = 0
    if start is not None:
        if start.ndim != 2 or start.shape[0] != size or not 1 <= start.shape[1] <= size:
            raise DlnkitInputError(f"start must be (n, c) with n = {size} and 1 <= c <= n, got {tuple(start.shape)}")
        if start_product is not None and tuple(start_product.shape) != tuple(start.shape):
            raise DlnkitInputError(f"start_product must have the shape of start {tuple(start.shape)}")
        given = int(start.shape[1])
    elif start_product is not None:
        raise DlnkitInputError("start_product needs start")
    b = min(int(block_size) if block_size is not None else (0 if given else k), size - given)
    if b < (0 if given else 1):
        raise DlnkitInputError(f"block_size must be >= 1, got {block_size}")
    if int(max_iters) < b + given:
        raise DlnkitInputError(f"max_iters ({max_iters}) must allow one block step of {b + given} products")
    rtol = default_tolerance(A.dtype) if tol is None else float(tol)
    if not rtol > 0:
        raise DlnkitInputError(f"tol must be > 0, got {tol}")
    cap = min(int(max_block_size), size, int(max_iters)) if max_block_size is not None else b
    if given:
        return _one_run(
            A, k, b, int(max_iters), rtol, seed, which, return_vectors, check_every, budget_bytes, start, start_product
        )
    res = _one_run(A, k, b, int(max_iters), rtol, seed, which, return_vectors, check_every, budget_bytes)
    spent = res.num_products
    while b < cap and any(c.multiplicity >= b for c in res.clusters):
        b = min(2 * b, cap)
        res = _one_run(A, k, b, int(max_iters), rtol, seed + b, which, return_vectors, check_every, budget_bytes)
        spent += res.num_products
    return replace(res, num_products=spent)


def _one_run(
    A: CurvatureOperator,
    k: int,
    b: int,
    max_iters: int,
    rtol: float,
    seed: int,
    which: str,
    return_vectors: bool,
    check_every: int,
    budget_bytes: int | None,
    given: torch.Tensor | None = None,
    given_product: torch.Tensor | None = None,
) -> EigenResult:
    """One Lanczos run with ``b`` random start columns after the ``given`` ones; ``b`` is the number of
    copies of an eigenvalue the block is sure to hold (when an eigenvalue has that many)."""
    size = A.size

    def stop(run: KrylovRun) -> bool:
        theta, res, idx, _S = _wanted(run, k, which)
        width = rtol * _scale(run, theta)
        if len(idx) < k or not bool((res[idx] <= width).all()):
            return False
        # and no unconverged Ritz value may still be another copy of a wanted one (its eigenvalue lies
        # within its residual): otherwise a multiplicity would be counted short
        loose = res > width
        near = (theta[loose][:, None] - theta[idx][None, :]).abs() <= width + res[loose][:, None]
        return not bool(near.any())

    start = random_start(size, block_size=b, seed=seed)[0] if b else torch.zeros(size, 0, dtype=torch.float64)
    start_product: torch.Tensor | None = None
    if given is not None:
        X = given.to(dtype=torch.float64, device=start.device)
        start = torch.cat([X, start], dim=1)
        if given_product is not None:
            AR = A.matmat(start[:, X.shape[1] :].to(dtype=A.dtype, device=A.device)) if b else None
            P = given_product.to(dtype=torch.float64, device=start.device)
            start_product = P if AR is None else torch.cat([P, AR.to(dtype=torch.float64, device=P.device)], dim=1)
    run = block_lanczos(
        A,
        start,
        start_product=start_product,
        max_steps=steps_for(max_iters, int(start.shape[1]), size),
        stop=stop,
        check_every=check_every,
        deflation_tol=0.01 * rtol,  # a dropped direction moves no Ritz value by more than 1% of tol
        budget_bytes=budget_bytes,
    )
    theta, res, idx, S = _wanted(run, k, which)
    if len(idx) < k:  # the Krylov space is smaller than k (exhausted early): report what exists
        raise DlnkitInputError(
            f"the Krylov space from {b} start vectors is invariant of dimension {len(theta)} < k = {k}: "
            f"use block_size >= {k}"
        )
    scale = _scale(run, theta)
    Y = ritz_vectors(run, S[:, idx], 0)
    AY = A.matmat(Y.to(dtype=A.dtype)).to(dtype=Y.dtype, device=Y.device)
    explicit = torch.linalg.norm(AY - Y * theta[idx], dim=0)
    ok = explicit <= rtol * scale
    all_ok = res <= rtol * scale
    all_ok[idx] = ok
    res_all = res.clone()
    res_all[idx] = explicit
    mults, clusters = _clusters(theta[idx], theta, res_all, all_ok, rtol * scale, b)
    mults = tuple(m if bool(c) else 1 for m, c in zip(mults, ok.tolist()))
    return EigenResult(
        eigenvalues=theta[idx].cpu(),
        eigenvectors=Y.to(dtype=A.dtype) if return_vectors else None,
        residuals=explicit.cpu(),
        pair_converged=ok.cpu(),
        multiplicities=mults,
        clusters=clusters,
        norm_estimate=scale,
        tol=rtol,
        block_size=run.block_size,
        num_products=run.num_products + k + (b if start_product is not None else 0),
        num_steps=run.num_steps,
        exhausted=bool(run.exhausted.all()),
    )


__all__ = ["EigenCluster", "EigenResult", "top_eigenvalues", "WHICH"]
