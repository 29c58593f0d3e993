"""Deep linear networks f(x) = W_L ... W_1 x, their special points, and whitened data.

Conventions (docs/claims.md#notation): dims = [d_0 = d_in, d_1, ..., d_L = d_out]; W_l has shape
(d_l, d_{l-1}); the parameter vector is the concatenation of the row-major flattened W_l
(torch's own layout), so P = sum_l d_l d_{l-1}.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from dlnkit.arguments import checked
from dlnkit.numerics.device import DEFAULT_DTYPE, DeviceLike, resolve_device
from dlnkit.numerics.dims import num_params
from dlnkit.numerics.memory import F64, check_allocation
from dlnkit.numerics.validation import DlnkitInputError, check_dims, check_finite, check_rank


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator(device="cpu")
    g.manual_seed(0 if seed is None else int(seed))
    return g


@checked
def random_orthonormal(
    n: int,
    k: int,
    *,
    seed: int | None = 0,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: DeviceLike = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """An n x k matrix with orthonormal columns (k <= n), Haar-distributed via QR with sign fix.

    Drawn on the CPU from a seeded generator so the same seed gives the same matrix on any device.

    Parameters
    ----------
    n, k
        Shape of the matrix, k <= n.
    seed
        Seed of the CPU generator (ignored when ``generator`` is given).
    dtype, device
        Of the returned matrix.
    generator
        A ``torch.Generator`` to draw from instead of a fresh seeded one.

    Returns
    -------
    torch.Tensor
        n x k with Q^T Q = I.

    Raises
    ------
    DlnkitInputError
        k > n, n < 1 or k < 0, or too large to allocate.

    Examples
    --------
    >>> Q = random_orthonormal(5, 3, seed=1)
    >>> bool(torch.allclose(Q.T @ Q, torch.eye(3, dtype=Q.dtype)))
    True
    """
    if k > n:
        raise DlnkitInputError(f"cannot draw {k} orthonormal columns in dimension {n}")
    if n < 1 or k < 0:
        raise DlnkitInputError(f"need n >= 1 and k >= 0, got n={n}, k={k}")
    check_allocation(F64 * 4 * n * max(k, 1), f"a {n} x {k} orthonormal matrix", resolve_device(device))
    g = generator if generator is not None else _generator(seed)
    a = torch.randn(n, max(k, 1), generator=g, dtype=torch.float64)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))
    out: torch.Tensor = q[:, :k].to(dtype=dtype, device=resolve_device(device))
    return out


@checked
def whiten(X: torch.Tensor) -> torch.Tensor:
    """Return X (B x d) transformed so that (1/B) X^T X = I exactly (up to rounding).

    Uses the symmetric inverse square root of the empirical second-moment matrix; needs B >= d
    and a full-rank X.

    Parameters
    ----------
    X
        A B x d batch, B >= d, full column rank.

    Returns
    -------
    torch.Tensor
        The whitened batch, same shape, dtype and device.

    Raises
    ------
    DlnkitInputError
        ``X`` is not 2-D, has B < d, is rank deficient or holds non-finite values.
    """
    if X.ndim != 2:
        raise DlnkitInputError(f"X must be a B x d matrix, got shape {tuple(X.shape)}")
    B, d = X.shape
    check_finite([X], "X")
    if B < d:
        raise DlnkitInputError(f"whitening needs at least as many samples as features, got B={B} < d={d}")
    S = X.T @ X / B
    evals, evecs = torch.linalg.eigh(S)
    if evals.min() <= 1e-12 * evals.max():
        raise DlnkitInputError("cannot whiten: the data covariance is singular")
    white: torch.Tensor = X @ (evecs * evals.rsqrt()) @ evecs.T
    return white


@checked
def whitened_inputs(
    batch: int, d_in: int, *, seed: int | None = 0, dtype: torch.dtype = DEFAULT_DTYPE, device: DeviceLike = "cpu"
) -> torch.Tensor:
    """A Gaussian batch (B x d_in) whitened exactly: (1/B) X^T X = I.

    Parameters
    ----------
    batch
        Number of samples B >= d_in.
    d_in
        Input width.
    seed
        Seed of the Gaussian draw.
    dtype, device
        Of the returned batch.

    Returns
    -------
    torch.Tensor
        B x d_in with (1/B) X^T X = I up to rounding.

    Raises
    ------
    DlnkitInputError
        ``batch < d_in``, a size below 1, or too large to allocate.
    """
    batch, d_in = int(batch), int(d_in)
    if batch < 1 or d_in < 1:
        raise DlnkitInputError(f"batch and d_in must be >= 1, got {batch}, {d_in}")
    check_allocation(
        F64 * (4 * batch * d_in + 4 * d_in * d_in), f"a {batch} x {d_in} whitened batch", resolve_device(device)
    )
    X = torch.randn(batch, d_in, generator=_generator(seed), dtype=torch.float64)
    return whiten(X).to(dtype=dtype, device=resolve_device(device))


@checked
def teacher_map(
    d_out: int,
    d_in: int,
    singular_values: Sequence[float],
    *,
    seed: int | None = 0,
    dtype: torch.dtype = DEFAULT_DTYPE,
    device: DeviceLike = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A target map M = U diag(t) V^T of rank r = len(t), with random orthonormal U, V.

    Returns (M, U, V) with U (d_out x r) and V (d_in x r). Targets are Y = X M^T.

    Parameters
    ----------
    d_out, d_in
        Output and input widths.
    singular_values
        t_1, ..., t_r: positive, finite, r <= min(d_in, d_out).
    seed
        Seed for U and V.
    dtype, device
        Of the returned tensors.

    Returns
    -------
    tuple of torch.Tensor
        ``(M, U, V)``.

    Raises
    ------
    DlnkitInputError
        Bad widths, rank out of range, non-positive or non-finite values, or too large to allocate.
    """
    d_out, d_in = check_dims([d_out, d_in])
    try:
        t = torch.as_tensor([float(x) for x in singular_values], dtype=torch.float64)
    except (TypeError, ValueError):
        raise DlnkitInputError(f"target singular values must be numbers, got {singular_values!r}") from None
    r = t.numel()
    # U, V, diag(t), U diag(t) and M: refuse before drawing anything
    check_allocation(
        F64 * (2 * d_out * d_in + 3 * (d_in + d_out) * max(r, 1)),
        f"a {d_out} x {d_in} target map",
        resolve_device(device),
    )
    if r < 1 or r > min(d_in, d_out):
        raise DlnkitInputError(f"rank must be between 1 and min(d_in, d_out) = {min(d_in, d_out)}, got {r}")
    if not torch.isfinite(t).all() or (t <= 0).any():
        raise DlnkitInputError("target singular values must be finite and positive")
    g = _generator(seed)
    U = random_orthonormal(d_out, r, generator=g)
    V = random_orthonormal(d_in, r, generator=g)
    M = U @ torch.diag(t) @ V.T
    dev = resolve_device(device)
    return M.to(dtype=dtype, device=dev), U.to(dtype=dtype, device=dev), V.to(dtype=dtype, device=dev)


class DeepLinearNetwork(nn.Module):
    """f(x) = W_L ... W_1 x with no biases, for any widths ``dims = [d_in, d_1, ..., d_out]``.

    Parameters
    ----------
    dims
        Widths ``[d_in, d_1, ..., d_out]``; the depth is ``len(dims) - 1``.
    weights
        Initial weights W_1, ..., W_L (W_l of shape d_l x d_{l-1}), copied; zeros when omitted.
    dtype
        Floating type of the weights (float64 by default).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    DlnkitInputError
        Bad ``dims``, weights of the wrong shape or count, non-finite weights, or too large to allocate.

    Examples
    --------
    >>> net = DeepLinearNetwork.random([3, 4, 2], seed=0)
    >>> net.depth, net.num_params, tuple(net.end_to_end().shape)
    (2, 20, (2, 3))
    """

    @checked
    def __init__(
        self,
        dims: Sequence[int],
        weights: Sequence[torch.Tensor] | None = None,
        *,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: DeviceLike = "auto",
    ) -> None:
        super().__init__()
        self.dims = check_dims(dims)
        dev = resolve_device(device)
        n_params = sum(self.dims[i] * self.dims[i + 1] for i in range(len(self.dims) - 1))
        item = torch.empty((), dtype=dtype).element_size()
        # the given/zero weights, their float64 copies and the parameters
        check_allocation(3 * max(item, F64) * n_params, f"a network with {n_params} weights", dev)
        if weights is None:
            weights = [torch.zeros(self.dims[l + 1], self.dims[l], dtype=dtype) for l in range(self.depth)]
        weights = list(weights)
        if len(weights) != self.depth:
            raise DlnkitInputError(
                f"dims {self.dims} describe {self.depth} layers but {len(weights)} weights were given"
            )
        for l, W in enumerate(weights):
            want = (self.dims[l + 1], self.dims[l])
            if not isinstance(W, torch.Tensor):
                raise DlnkitInputError(f"weight {l + 1} must be a torch tensor, got {type(W).__name__}")
            if tuple(W.shape) != want:
                raise DlnkitInputError(f"weight {l + 1} has shape {tuple(W.shape)}, dims {self.dims} need {want}")
        check_finite(weights, "weights")
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.as_tensor(W).detach().clone().to(dtype=dtype, device=dev)) for W in weights]
        )

    # ----- basic structure -------------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self.dims) - 1

    @property
    def num_params(self) -> int:
        return sum(self.dims[l] * self.dims[l + 1] for l in range(self.depth))

    def weight_list(self) -> list[torch.Tensor]:
        return [W for W in self.weights]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dims[0]:
            raise DlnkitInputError(f"input has {x.shape[-1]} features, the network expects d_in = {self.dims[0]}")
        for W in self.weights:
            x = x @ W.T
        return x

    def end_to_end(self) -> torch.Tensor:
        """W = W_L ... W_1 (d_out x d_in)."""
        return product(self.weight_list(), self.dims[0])

    def imbalance(self) -> float:
        """max_l ||W_{l+1}^T W_{l+1} - W_l W_l^T||_F: zero exactly at balanced points."""
        Ws = [W.detach() for W in self.weight_list()]
        vals = [torch.linalg.norm(Ws[l + 1].T @ Ws[l + 1] - Ws[l] @ Ws[l].T) for l in range(self.depth - 1)]
        return float(max(vals)) if vals else 0.0

    # ----- constructors ----------------------------------------------------------------
    @classmethod
    def random(
        cls,
        dims: Sequence[int],
        *,
        scale: float = 1.0,
        seed: int | None = 0,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: DeviceLike = "auto",
    ) -> DeepLinearNetwork:
        """Gaussian init W_l ~ N(0, scale^2 / d_{l-1})."""
        dims = check_dims(dims)
        n_params = num_params(dims)
        check_allocation(4 * F64 * n_params, f"a network with {n_params} weights", resolve_device(device))
        if not math.isfinite(float(scale)):
            raise DlnkitInputError(f"scale must be finite, got {scale}")
        g = _generator(seed)
        Ws = [
            torch.randn(dims[l + 1], dims[l], generator=g, dtype=torch.float64) * (scale / dims[l] ** 0.5)
            for l in range(len(dims) - 1)
        ]
        return cls(dims, Ws, dtype=dtype, device=device)

    @classmethod
    def balanced_aligned(
        cls,
        dims: Sequence[int],
        U: torch.Tensor,
        V: torch.Tensor,
        layer_singular_values: Sequence[float],
        *,
        seed: int | None = 0,
        hidden_bases: Sequence[torch.Tensor] | None = None,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: DeviceLike = "auto",
    ) -> DeepLinearNetwork:
        """W_1 = R_1 S V^T, W_l = R_l S R_{l-1}^T, W_L = U S R_{L-1}^T with S = diag(s).

        ``layer_singular_values`` s (length r) are the per-layer singular values; the end-to-end
        map is U diag(s^L) V^T and W_{l+1}^T W_{l+1} = W_l W_l^T (balanced). Hidden bases R_l
        (d_l x r, orthonormal) are random unless given.
        """
        dims = check_dims(dims)
        s = torch.as_tensor(list(map(float, layer_singular_values)), dtype=torch.float64)
        r = s.numel()
        check_rank(r, dims)
        U = torch.as_tensor(U, dtype=torch.float64).cpu()
        V = torch.as_tensor(V, dtype=torch.float64).cpu()
        if tuple(U.shape) != (dims[-1], r) or tuple(V.shape) != (dims[0], r):
            raise DlnkitInputError(
                f"U must be {(dims[-1], r)} and V {(dims[0], r)}, got {tuple(U.shape)}, {tuple(V.shape)}"
            )
        L = len(dims) - 1
        if hidden_bases is None:
            g = _generator(seed)
            hidden_bases = [random_orthonormal(dims[l], r, generator=g) for l in range(1, L)]
        R = [V] + [torch.as_tensor(b, dtype=torch.float64).cpu() for b in hidden_bases] + [U]
        S = torch.diag(s)
        Ws = [R[l + 1] @ S @ R[l].T for l in range(L)]
        return cls(dims, Ws, dtype=dtype, device=device)

    @classmethod
    def balanced_minimum(
        cls,
        dims: Sequence[int],
        target_singular_values: Sequence[float],
        *,
        seed: int | None = 0,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: DeviceLike = "auto",
    ) -> tuple[DeepLinearNetwork, torch.Tensor]:
        """The balanced aligned global minimum of B1 (docs/claims.md#b1) for the teacher built by
        :func:`teacher_map` with the same seed: per-layer singular values t^(1/L).

        Returns (network, M) with M the target map.
        """
        dims = check_dims(dims)
        t = [float(x) for x in target_singular_values]
        M, U, V = teacher_map(dims[-1], dims[0], t, seed=seed)
        L = len(dims) - 1
        net = cls.balanced_aligned(
            dims, U, V, [x ** (1.0 / L) for x in t], seed=None if seed is None else seed + 1, dtype=dtype, device=device
        )
        return net, M.to(dtype=dtype, device=net.weights[0].device)

    @classmethod
    def spectral_init(
        cls,
        dims: Sequence[int],
        target_rank: int,
        U: torch.Tensor,
        V: torch.Tensor,
        *,
        scale: float = 0.1,
        seed: int | None = 0,
        dtype: torch.dtype = DEFAULT_DTYPE,
        device: DeviceLike = "auto",
    ) -> DeepLinearNetwork:
        """Small balanced spectral initialisation aligned with the target's singular bases:
        every layer has the r singular values ``scale``."""
        return cls.balanced_aligned(dims, U, V, [scale] * int(target_rank), seed=seed, dtype=dtype, device=device)


def product(weights: Sequence[torch.Tensor], d_in: int) -> torch.Tensor:
    """W_k ... W_1 for a list [W_1, ..., W_k].

    An empty list is refused (``DlnkitInputError``): a network needs at least one layer, and
    ``d_in`` is kept only so that callers state the input width they expect.
    """
    if len(weights) == 0:
        raise DlnkitInputError("a network needs at least one layer")
    out = weights[0]
    for W in weights[1:]:
        out = W @ out
    return out
