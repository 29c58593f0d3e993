r"""The one Lanczos kernel: block Lanczos with full re-orthogonalisation, in float64.

Every Krylov method in dlnkit runs through :func:`block_lanczos`: the top-k eigenvalues with their
multiplicities (:mod:`dlnkit.numerics.top_eigenvalues`), stochastic Lanczos quadrature
(:mod:`dlnkit.numerics.slq`) and the per-layer block eigenvalues of the alignment measurements.

**Recurrence.** For a symmetric :math:`A\in\mathbb R^{n\times n}` and an orthonormal start block
:math:`Q_1\in\mathbb R^{n\times b}`, step j applies A once to the whole block (one batched product,
one pass over the data for b columns) and orthogonalises the result against *every* earlier block
(full re-orthogonalisation; a second pass only where a column lost more than :math:`1-1/\sqrt2` of
its norm in the first, Kahan's criterion behind Parlett's "twice is enough", :data:`REORTH_DROP`):

.. math:: W_j = A Q_j - \sum_{i\le j} Q_i C_{ij},\qquad C_{ij} = Q_i^\top A Q_j,
   \qquad W_j = Q_{j+1} B_{j+1}.

In exact arithmetic only :math:`C_{j-1,j} = B_j^\top` and :math:`C_{jj}` survive and the projected
matrix :math:`T_m = V_m^\top A V_m` (:math:`V_m = [Q_1,\dots,Q_m]`) is block tridiagonal; we keep
every computed :math:`C_{ij}`, so :math:`T_m` is the Rayleigh-Ritz matrix of the basis actually
built, rounding included. :math:`Q_{j+1}` comes from a rank-revealing factorisation (SVD) of
:math:`W_j`: directions with singular value at most :math:`\delta\,\|A\|` are dropped (deflation),
so the block may shrink; when it is empty the basis spans an invariant subspace (up to
:math:`\delta\|A\|`) and the Krylov space is *exhausted*. The default :math:`\delta` is 1% of the
default residual tolerance (:func:`default_tolerance`; :math:`10^{-12}` in float64): products of
closed-form matrices built through long chains carry errors of several hundred
:math:`\varepsilon\|A\|` (measured 700 eps on a three-layer DLN Hessian), so a smaller cut-off would
keep pure rounding noise as "new" directions, and a residual of :math:`\delta\|A\|` moves no Ritz
value by more than 1% of the tolerance.

**Ritz pairs and residuals.** With :math:`T_m = S\Theta S^\top`, the Ritz pairs are
:math:`(\theta_i, y_i = V_m s_i)` and, since :math:`AV_m = V_mT_m + W_mE_m^\top`,

.. math:: \|A y_i - \theta_i y_i\| = \|W_m\, s_i^{(m)}\|

(:math:`s_i^{(m)}` the last block's rows of :math:`s_i`), zero for an exhausted space. For a
symmetric A some eigenvalue lies within that residual of :math:`\theta_i` (and within its square
over the spectral gap), which is why convergence is *declared from residuals* and never from
running out of iterations.

**Why the block size bounds the multiplicity.** Every vector of the block Krylov space
:math:`\operatorname{span}\{Q_1, AQ_1, A^2Q_1,\dots\}` has, inside the eigenspace :math:`E_\lambda`
of an eigenvalue λ, a component in :math:`P_\lambda \operatorname{span}(Q_1)` (powers of A act on
:math:`E_\lambda` as scalars), a space of dimension at most b. So in exact arithmetic at most b
copies of λ appear among the Ritz values (rounding may seed a further copy late, which cannot be
relied on): a cluster of b Ritz values may be a larger eigenvalue cluster (with b random start
vectors it is generically exactly :math:`\min(\mu_\lambda, b)`). Single-vector Lanczos (b = 1)
finds one copy of every eigenvalue: a three-fold top eigenvalue appears once, and the next distinct
eigenvalues take the places of its copies.

Several *independent* groups (``start`` of shape (g, n, b)) run side by side, every step one product
with all live columns of all groups; SLQ uses g probes with b = 1.

>>> A = torch.diag(torch.tensor([5.0, 5.0, 3.0, 1.0, 1.0, 1.0], dtype=torch.float64))
>>> run = block_lanczos(A, random_start(6, block_size=3, seed=0), max_steps=5)
>>> run.exhausted.tolist(), [round(x, 12) for x in ritz_values(run, 0).tolist()]
([True], [1.0, 1.0, 1.0, 3.0, 5.0, 5.0])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.memory import check_allocation
from dlnkit.numerics.operators import CurvatureOperator, as_operator
from dlnkit.numerics.validation import DlnkitInputError

F64 = torch.float64


@dataclass(frozen=True)
class KrylovRun:
    r"""What :func:`block_lanczos` built, per group ``g``.

    ``basis`` (g, M, n) float64 (one row per basis vector, so every prefix is contiguous) with
    ``M = (steps + 1) * b`` slots, of which ``processed`` (g, M)
    were multiplied by A (only they enter T); ``projection`` (g, M, M) the symmetric
    :math:`T = V^\top A V` on processed slots (zero elsewhere); ``residual`` (g, n, b) the last
    block's :math:`W_m` (zero for exhausted groups); ``last_slots`` the slot range of the last
    processed block; ``norm_estimate`` a lower bound on ||A|| (largest column norm of a product);
    ``exhausted`` (g,) True where the Krylov space is invariant; ``num_products`` the columns
    multiplied; ``num_steps`` the block steps taken."""

    basis: torch.Tensor
    projection: torch.Tensor
    processed: torch.Tensor
    residual: torch.Tensor
    last_slots: tuple[int, int]
    norm_estimate: float
    exhausted: torch.Tensor
    num_products: int
    num_steps: int
    block_size: int


#: a second re-orthogonalisation pass runs when a column kept less than this fraction of its norm in the
#: first (Kahan's criterion, Parlett's "twice is enough"): a column that keeps at least 1/sqrt(2) of its
#: norm is orthogonal to the basis to working precision after one pass; one that lost more carries the
#: first pass's rounding relative to a smaller norm, and the second pass removes it.
REORTH_DROP = 0.5**0.5


@checked
def lanczos_basis_bytes(n: int, groups: int, block_size: int, max_steps: int) -> int:
    """Peak bytes of :func:`block_lanczos` (float64): the basis, the projected matrix, and sixteen (n, b)
    work blocks per group (the block, its product, the residual, the SVD's factors and workspace;
    measured 8.5-10 blocks with ``ru_maxrss`` at n = 3e5, b = 1, 4, 8 on a quiet machine, and once
    12.7 under load, in tests/test_lanczos_kernel.py; sixteen keeps the guard above every peak seen)."""
    M = (max_steps + 1) * block_size
    return 8 * groups * (n * M + M * M + 16 * n * block_size)


@checked
def random_start(
    n: int, *, block_size: int = 1, groups: int = 1, seed: int = 0, kind: str = "gaussian"
) -> torch.Tensor:
    """A (groups, n, block_size) float64 CPU start block: Gaussian or Rademacher (``kind="rademacher"``)."""
    if min(n, block_size, groups) < 1:
        raise DlnkitInputError(
            f"random_start(): n, block_size and groups must be >= 1, got {n}, {block_size}, {groups}"
        )
    check_allocation(8.0 * n * block_size * groups, "the Lanczos start block")  # float64 numbers
    g = torch.Generator().manual_seed(int(seed))
    if kind == "rademacher":
        return (torch.randint(0, 2, (groups, n, block_size), generator=g) * 2 - 1).to(F64)
    if kind == "gaussian":
        return torch.randn(groups, n, block_size, generator=g, dtype=F64)
    raise DlnkitInputError(f"start kind must be 'gaussian' or 'rademacher', got {kind!r}")


def _orthonormal_block(W: torch.Tensor, drop: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank-revealing orthonormal basis of each group's columns: (Q (g, n, b), live (g, b)). Columns
    with singular value <= ``drop`` are zeroed (deflated). Signs make diag(Q^T W) >= 0."""
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    live = S > drop
    diag = torch.diagonal(S.unsqueeze(-1) * Vh, dim1=-2, dim2=-1)
    sign = torch.where(diag < 0, -1.0, 1.0).to(W.dtype)
    return U.mul_((sign * live.to(W.dtype)).unsqueeze(1)), live


def _orthonormal_start(X: torch.Tensor, drop: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_orthonormal_block` of the start block, with the (g, b, b) R such that Q = X R (dead
    columns: zero), so that a given product A X becomes A Q = (A X) R without new products."""
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    live = S > drop
    diag = torch.diagonal(S.unsqueeze(-1) * Vh, dim1=-2, dim2=-1)
    sign = torch.where(diag < 0, -1.0, 1.0).to(X.dtype)
    col = sign * live.to(X.dtype)
    R = Vh.transpose(1, 2) * (col / torch.where(live, S, torch.ones_like(S))).unsqueeze(1)
    return U.mul_(col.unsqueeze(1)), live, R


def _apply(op: CurvatureOperator, X: torch.Tensor, live: torch.Tensor) -> torch.Tensor:
    """A times the live columns of X (g, n, b), as float64 on X's device (dead columns: zero)."""
    g, n, b = X.shape
    flat = X.permute(1, 0, 2).reshape(n, g * b)
    if bool(live.all()):  # the common case: no gather/scatter copies
        out = op.matmat(flat.to(dtype=op.dtype, device=op.device)).reshape(n, g * b).to(dtype=F64, device=X.device)
    else:
        idx = torch.nonzero(live.reshape(-1)).reshape(-1)
        out = torch.zeros_like(flat)
        if idx.numel():
            Y = op.matmat(flat[:, idx].to(dtype=op.dtype, device=op.device))
            out[:, idx] = Y.reshape(n, -1).to(dtype=F64, device=X.device)
    return out.reshape(n, g, b).permute(1, 0, 2).contiguous()


@checked
def block_lanczos(
    op: object,
    start: torch.Tensor,
    *,
    max_steps: int,
    n: int | None = None,
    stop: Callable[[KrylovRun], bool] | None = None,
    check_every: int = 1,
    deflation_tol: float | None = None,
    budget_bytes: int | None = None,
    start_product: torch.Tensor | None = None,
) -> KrylovRun:
    r"""Run block Lanczos (see the module docstring) from ``start`` ((n, b) or (g, n, b)) for at most
    ``max_steps`` block steps; ``stop(run)`` is asked every ``check_every`` steps whether to end early.
    Residual directions below ``deflation_tol * ||A||`` are dropped (default: 1% of
    :func:`default_tolerance`).

    ``op``: a :class:`~dlnkit.numerics.operators.CurvatureOperator`, a square tensor, or a block
    callable with ``n``. The basis is float64 on the operator's device, refused before allocation
    when it would not fit (:func:`~dlnkit.numerics.memory.check_allocation`).

    ``start_product``: A ``start`` when the caller already has it (the alignment path has the HVPs of
    its gradient directions); the first step then rotates it as the start block was orthonormalised
    (:math:`Q_1 = X_0 R \Rightarrow AQ_1 = (AX_0)R`) instead of multiplying again. Those products are
    not counted in ``num_products``; the residuals the callers check are unaffected, since every later
    block is orthogonalised against :math:`Q_1` and the explicit residual check multiplies again.
    """
    A = as_operator(op, n)
    if not A.symmetric:
        raise DlnkitInputError("Lanczos needs a symmetric operator")
    X0 = start.unsqueeze(0) if start.ndim == 2 else start
    if X0.ndim != 3 or X0.shape[1] != A.size:
        raise DlnkitInputError(f"start block must be (n, b) or (g, n, b) with n = {A.size}, got {tuple(start.shape)}")
    g, n_, b = X0.shape
    if not 1 <= b <= n_:
        raise DlnkitInputError(f"the block size must be between 1 and n = {n_}, got {b}")
    steps = max(1, min(int(max_steps), -(-n_ // b)))
    check_allocation(
        lanczos_basis_bytes(n_, g, b, steps),
        f"the Lanczos basis ({g} x {n_} x {(steps + 1) * b} float64 numbers)",
        A.device,
        budget_bytes=budget_bytes,
        hint="lower the number of Lanczos steps (max_iters / --steps) or the block size / number of probes",
    )
    dev = A.device
    delta = 0.01 * default_tolerance(A.dtype) if deflation_tol is None else float(deflation_tol)
    M = (steps + 1) * b
    V = torch.zeros(g, M, n_, dtype=F64, device=dev)  # rows: prefixes are contiguous, no copies in matmul
    T = torch.zeros(g, M, M, dtype=F64, device=dev)
    done = torch.zeros(g, M, dtype=torch.bool, device=dev)
    norm_est = 0.0
    X = X0.to(dtype=F64, device=dev)
    scale0 = float(torch.linalg.norm(X, dim=1).max())
    # start columns that are dependent up to rounding (1000 eps of the largest) carry no new direction
    Q, live, R = _orthonormal_start(X, 1e3 * float(torch.finfo(F64).eps) * max(scale0, 1e-300))
    V[:, :b] = Q.transpose(1, 2)
    AX0: torch.Tensor | None = None
    if start_product is not None:
        P0 = start_product.unsqueeze(0) if start_product.ndim == 2 else start_product
        if tuple(P0.shape) != tuple(X0.shape):
            raise DlnkitInputError(
                f"start_product must have the start block's shape {tuple(X0.shape)}, got {tuple(start_product.shape)}"
            )
        AX0 = P0.to(dtype=F64, device=dev)
    products, W = 0, torch.zeros_like(Q)
    exhausted = torch.zeros(g, dtype=torch.bool, device=dev)
    run: KrylovRun | None = None
    j = 0
    for j in range(steps):
        lo, hi = j * b, (j + 1) * b
        Qj = V[:, lo:hi].transpose(1, 2)
        if j == 0 and AX0 is not None:  # the caller's products A X0, rotated as Q_1 = X0 R was
            W = (AX0 @ R).contiguous()
        else:
            W = _apply(A, Qj, live)
            products += int(live.sum())
        Vp = V[:, :hi]
        before = torch.linalg.norm(W, dim=1)  # (g, b): ||A q|| per column
        norm_est = max(norm_est, float(before.max()))
        C = Vp @ W  # full re-orthogonalisation: one pass, a second only where a column's norm dropped
        W.baddbmm_(Vp.transpose(1, 2), C, alpha=-1.0)  # in place: no (n, b) temporaries
        # ||W after||^2 = ||W||^2 - ||C||^2 (Pythagoras, V orthonormal): the drop test without another norm;
        # its rounding (eps ||W||^2) is far below the 1/2 it is compared with
        kept_sq = before.square() - C.square().sum(1)
        if bool((kept_sq < REORTH_DROP**2 * before.square()).any()):
            Cp = Vp @ W
            W.baddbmm_(Vp.transpose(1, 2), Cp, alpha=-1.0)
            C += Cp
        T[:, :lo, lo:hi] = C[:, :lo]
        T[:, lo:hi, :lo] = C[:, :lo].transpose(1, 2)
        T[:, lo:hi, lo:hi] = 0.5 * (C[:, lo:hi] + C[:, lo:hi].transpose(1, 2))
        done[:, lo:hi] = live
        Q, live = _orthonormal_block(W, delta * max(norm_est, 1e-300))
        exhausted = ~live.any(1)
        if bool(exhausted.any()):
            W[exhausted] = 0.0
        V[:, hi : hi + b] = Q.transpose(1, 2)
        run = KrylovRun(V, T, done, W, (lo, hi), norm_est, exhausted, products, j + 1, b)
        if bool(exhausted.all()):
            break
        if stop is not None and ((j + 1) % max(1, check_every) == 0 or j + 1 == steps) and stop(run):
            break
    assert run is not None
    return run


@checked
def ritz_values(run: KrylovRun, group: int = 0) -> torch.Tensor:
    """The Ritz values of ``group`` (ascending), the eigenvalues of its projected matrix."""
    return ritz_pairs(run, group)[0]


@checked
def ritz_pairs(run: KrylovRun, group: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(theta ascending, S (slots x r) eigenvectors of T in processed-slot coordinates, residual norms
    ||A y - theta y|| = ||W_m s^(m)|| for every Ritz pair of ``group``)."""
    idx = torch.nonzero(run.processed[group]).reshape(-1)
    T = run.projection[group][idx][:, idx]
    theta, S = torch.linalg.eigh(T)
    lo, hi = run.last_slots
    last = (idx >= lo) & (idx < hi)
    W = run.residual[group][:, idx[last] - lo]
    # ||W s|| = ||R s|| for W = Q_W R (Householder QR, backward stable): O(n b^2) instead of O(n b r)
    res = (
        torch.linalg.norm(torch.linalg.qr(W, mode="r")[1] @ S[last], dim=0)
        if bool(last.any())
        else torch.zeros_like(theta)
    )
    return theta, S, res


@checked
def ritz_vectors(run: KrylovRun, S: torch.Tensor, group: int = 0) -> torch.Tensor:
    """Ritz vectors V s for the columns of S (in the coordinates :func:`ritz_pairs` returns)."""
    idx = torch.nonzero(run.processed[group]).reshape(-1)
    full = torch.zeros(run.basis.shape[1], S.shape[1], dtype=S.dtype, device=S.device)
    full[idx] = S  # scatter S to every slot (zero on unprocessed ones): no copy of the (M, n) basis
    return run.basis[group].T @ full


@checked
def default_tolerance(dtype: torch.dtype) -> float:
    """Default relative residual tolerance: 1e-10, or 1000 eps of a coarser operator dtype (products in
    that dtype carry a relative error of several eps per layer, so residuals cannot be certified
    below a few hundred eps; 1e-10 in float64 bounds every eigenvalue error by 1e-10 ||A||)."""
    return max(1e-10, 1e3 * float(torch.finfo(dtype).eps))


@checked
def steps_for(max_products: int, block_size: int, n: int) -> int:
    """Block steps that spend at most ``max_products`` products (at least one step); a budget of n or
    more may take ceil(n / b) steps, enough to exhaust the space (deflated columns cost nothing, so
    at most n products are spent)."""
    if max_products >= n:
        return -(-n // block_size)
    return max(1, max_products // block_size)


__all__ = [
    "KrylovRun",
    "block_lanczos",
    "ritz_pairs",
    "ritz_values",
    "ritz_vectors",
    "random_start",
    "lanczos_basis_bytes",
    "default_tolerance",
    "steps_for",
]
