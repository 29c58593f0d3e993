r"""The experiment of arXiv:2602.00545 as its public code runs it (repository ISIT2026-Depth, code/).

What the code does, step by step (our own implementation of it, checked against its text):

* dims ``16 -> 32 -> ... -> 32 -> 10`` (every hidden layer 32 wide), no biases, depth L;
* data: the forward pass ignores its input and feeds the 16 standard unit vectors (X = I_16,
  columns are samples), so the linear network's output is the end-to-end map W = W_L...W_1;
* loss ``0.5 * MSELoss(reduction="sum")``: 0.5 * sum (f(X) - T)^2, no 1/B;
* init ("balanced_init"): ``np.random.seed(12138)`` at import, then
  A = sqrt(0.01) * np.random.randn(10, 16) (NumPy's legacy global RandomState, i.e.
  ``RandomState(12138).randn``), SVD A = U S V^T, all min(16, 10, 32) = 10 modes kept, every
  layer gets S^{1/L}: W_1[:10, :] = S^{1/L} V^T, middle layers diag(S^{1/L}) in their top-left
  10 x 10 corner, W_L[:, :10] = U S^{1/L}. The end-to-end map is exactly A, balanced, rank 10;
* target ("aligned_matrix"): T = U[:, :5] V[:, :5]^T from the same SVD (rank 5, unit singular
  values, aligned with A's top five modes);
* activation (tanh runs): tanh after EVERY layer, the output layer included;
* ``torch.optim.SGD(lr=0.01, momentum=0.9)``, full batch; the loop ``for step in range(steps + 1)``
  evaluates the loss, steps the optimiser and then (at the recorded steps) takes the Hessian, so
  the Hessian recorded at step 10,000 is taken after 10,001 updates (:func:`paper_updates`);
* weights and Hessian in float32; the Hessian by double backward, then ``torch.linalg.eigh``;
* the split into dominant and bulk: "adaptive_threshold" (:mod:`dlnkit.numerics.adaptive_split`).

What the public code does not contain: the routine that turns eigenvalues into the figure's
ratio (``run_complete_hessian_analysis`` is an empty stub there), ``plotting.py`` (imported by
``train.py``), and a configuration for the tanh runs or the depth sweep (``num_layer = 2`` and
``use_activation = False`` are hard-coded; the figure's runs must have edited them).

The SVD's sign convention does not matter: flipping (u_k, v_k) together flips hidden unit k in
every layer, a symmetry of linear and of tanh networks (tanh is odd), so every spectrum is the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from dlnkit.arguments import checked
from dlnkit.numerics.chains import ChainLoss, chain_loss, chain_loss_and_gradients_numpy, resolve_activation
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.numerics.training import heavy_ball_loop
from dlnkit.numerics.validation import DlnkitInputError

PAPER_SEED = 12138
PAPER_INPUT_DIM, PAPER_HIDDEN_DIM, PAPER_OUTPUT_DIM = 16, 32, 10
PAPER_RANK = 5
PAPER_VARIANCE = 0.01
PAPER_LR, PAPER_MOMENTUM = 0.01, 0.9
PAPER_STEPS = 10_000
#: the activations of the paper's runs (entries of :data:`dlnkit.numerics.chains.ACTIVATIONS`)
ACTIVATIONS = ("linear", "tanh")
DTYPES = {"float64": np.float64, "float32": np.float32}
TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}

FloatArray = np.ndarray


def paper_dims(depth: int) -> list[int]:
    """``[16, 32, ..., 32, 10]`` with ``depth`` weight matrices."""
    if int(depth) < 1:
        raise DlnkitInputError(f"depth must be >= 1, got {depth}")
    return [PAPER_INPUT_DIM] + [PAPER_HIDDEN_DIM] * (int(depth) - 1) + [PAPER_OUTPUT_DIM]


def paper_updates(steps: int) -> int:
    """Optimizer updates before the Hessian the paper's code records at step index ``steps``:
    its loop ``for step in range(steps + 1)`` updates first, then records, so ``steps + 1``."""
    if int(steps) < 0:
        raise DlnkitInputError(f"steps must be >= 0, got {steps}")
    return int(steps) + 1


def init_matrix(
    seed: int = PAPER_SEED,
    variance: float = PAPER_VARIANCE,
    shape: tuple[int, int] = (PAPER_OUTPUT_DIM, PAPER_INPUT_DIM),
) -> FloatArray:
    """A = sqrt(variance) * randn(d_out, d_in) from NumPy's legacy generator seeded with ``seed``
    (what ``np.random.seed(seed); np.random.randn(...)`` gives), float64."""
    rs = np.random.RandomState(int(seed))
    out: FloatArray = np.asarray(rs.randn(*shape) * np.sqrt(variance), dtype=np.float64)
    return out


@dataclass
class PaperSetup:
    """One network of the paper's experiment: weights (float64 NumPy), target, and the SVD of A."""

    depth: int
    seed: int
    dims: list[int]
    A: FloatArray
    U: FloatArray
    S: FloatArray
    Vt: FloatArray
    target: FloatArray
    weights: list[FloatArray] = field(default_factory=list)

    @property
    def modes(self) -> int:
        return len(self.S)

    @property
    def extra_modes(self) -> int:
        """Modes of the init that the rank-5 target does not have (their target is zero)."""
        return self.modes - PAPER_RANK

    def initial_layer_sizes(self) -> FloatArray:
        """Per-layer mode sizes at the init: S^{1/L} (all layers equal: balanced)."""
        out: FloatArray = np.power(self.S, 1.0 / self.depth)
        return out


def paper_setup(depth: int, seed: int = PAPER_SEED, rank: int = PAPER_RANK) -> PaperSetup:
    """Build the paper's balanced rank-10 init and its aligned rank-5 target (float64).

    >>> s = paper_setup(3)
    >>> [W.shape for W in s.weights], s.modes
    ([(32, 16), (32, 32), (10, 32)], 10)
    >>> bool(np.allclose(s.weights[2] @ s.weights[1] @ s.weights[0], s.A, atol=1e-15))
    True
    """
    dims = paper_dims(depth)
    d0, dN = dims[0], dims[-1]
    k = min(d0, dN, PAPER_HIDDEN_DIM)
    if not 1 <= rank <= k:
        raise DlnkitInputError(f"target rank must be in 1..{k}, got {rank}")
    A = init_matrix(seed, shape=(dN, d0))
    U, S, Vt = np.linalg.svd(A, full_matrices=False)
    power = np.diag(np.power(S[:k], 1.0 / depth))
    Ws: list[FloatArray] = []
    for i in range(depth):
        W = np.zeros((dims[i + 1], dims[i]))
        if depth == 1:
            W = U[:, :k] @ np.diag(S[:k]) @ Vt[:k, :]
        elif i == 0:
            W[:k, :] = power @ Vt[:k, :]
        elif i == depth - 1:
            W[:, :k] = U[:, :k] @ power
        else:
            W[:k, :k] = power
        Ws.append(W)
    T = U[:, :rank] @ Vt[:rank, :]
    return PaperSetup(int(depth), int(seed), dims, A, U[:, :k], S[:k], Vt[:k, :], T, Ws)


# ----- forward, loss, gradient (X = I: columns of the identity are the samples) --------------


def paper_loss_and_grads(
    weights: list[FloatArray], target: FloatArray, activation: str = "linear"
) -> tuple[float, list[FloatArray]]:
    """0.5 * sum (f(I) - T)^2 and its gradient, f(I) = s(W_L s(... s(W_1 I))) with the activation s
    after every layer (the output included); hand-written backpropagation in the weights' dtype
    (:func:`dlnkit.numerics.chains.chain_loss_and_gradients_numpy`, columns as samples)."""
    act = resolve_activation(activation, ACTIVATIONS).name
    return chain_loss_and_gradients_numpy(weights, None, target, act, reduction="sum", activate_output=True)


@dataclass
class PaperRun:
    """A finished run: final weights (torch, in the run's dtype), the loss before each recorded
    update, and the per-layer mode sizes recorded along the way (linear runs)."""

    weights: list[torch.Tensor]
    updates: int
    dtype: str
    activation: str
    loss_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    final_loss: float = float("nan")


@checked
def train_paper(
    setup: PaperSetup,
    *,
    activation: str = "linear",
    updates: int = PAPER_STEPS + 1,
    lr: float = PAPER_LR,
    momentum: float = PAPER_MOMENTUM,
    dtype: str = "float64",
    record_every: int = 0,
    on_record: Callable[[int, list[FloatArray]], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> PaperRun:
    """``updates`` full-batch steps of torch.optim.SGD's heavy-ball rule (dampening 0, no
    Nesterov): v <- momentum v + g (v = g at the first step), W <- W - lr v, in ``dtype``.

    ``on_record(k, weights)`` is called after every ``record_every`` updates; ``progress(n)``
    after every 1000 updates with n = 1000 (a progress bar's ``update``).
    """
    if dtype not in DTYPES:
        raise DlnkitInputError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if lr <= 0 or not 0 <= momentum < 1 or int(updates) < 0:
        raise DlnkitInputError(f"need lr > 0, 0 <= momentum < 1, updates >= 0; got {lr}, {momentum}, {updates}")
    npdt = DTYPES[dtype]
    Ws = [W.astype(npdt, copy=True) for W in setup.weights]
    T = setup.target.astype(npdt)
    n = int(updates)
    run = PaperRun([], n, dtype, activation)
    every = int(record_every) if record_every and on_record is not None else 0

    def record(W: list[FloatArray], k: int) -> None:
        if every and k > 0 and k % every == 0 and on_record is not None:
            on_record(k, W)

    # the one heavy-ball loop (numerics.training), in the run's dtype: the loss before update k for
    # k = 0, 1000, 2000, ... and the weights after every ``record_every`` updates
    losses_at = set(range(0, n, 1000))
    weights_at = set(range(every, n + 1, every)) if every else set()
    rec = heavy_ball_loop(
        Ws,
        lambda W, need: paper_loss_and_grads(W, T, activation),
        lr=lr,
        momentum=momentum,
        max_steps=n,
        loss_tol=None,
        record_steps=losses_at | weights_at,
        on_record=record,
        on_progress=progress,
        progress_every=1000,
    )
    run.loss_steps = [k for k in rec.steps if k % 1000 == 0 and k < n]
    run.losses = [v for k, v in zip(rec.steps, rec.losses) if k % 1000 == 0 and k < n]
    run.final_loss = rec.final_loss
    run.weights = [torch.from_numpy(W.copy()) for W in Ws]
    return run


def paper_loss_torch(
    weights: tuple[torch.Tensor, ...] | list[torch.Tensor], target: torch.Tensor, activation: str = "linear"
) -> torch.Tensor:
    """The same loss in torch (differentiable; used for the exact tanh Hessian and the tests): the
    shared :func:`dlnkit.numerics.chains.chain_loss` with the identity input (rows are the samples,
    so the target enters transposed), the activation after every layer and no 1/B."""
    return chain_loss(
        weights, None, target.T, resolve_activation(activation, ACTIVATIONS).name, reduction="sum", activate_output=True
    )


def paper_hessian(
    weights: list[torch.Tensor], target: torch.Tensor | FloatArray, activation: str = "linear"
) -> torch.Tensor:
    """The exact P x P Hessian of :func:`paper_loss_torch` in the weights' dtype, by the Hessian
    dispatcher (:func:`dlnkit.numerics.hessian.dense_hessian`, which checks the route's own memory
    estimate first): the closed form (Gauss-Newton + residual Kronecker blocks, with Sigma = I and
    target T: the loss 0.5 ||W - T||^2) for the linear network, torch.func on the tanh chain."""
    Ws = [W.detach() for W in weights]
    T = torch.as_tensor(target, dtype=Ws[0].dtype, device=Ws[0].device)
    act = resolve_activation(activation, ACTIVATIONS).name
    return dense_hessian(ChainLoss(None, T.T, act, reduction="sum", activate_output=True), Ws)


def paper_residual_norm(weights: list[torch.Tensor], target: torch.Tensor | FloatArray) -> float:
    """||H_res||_2 of the linear network at these weights (closed form, whitened: Sigma = I)."""
    from dlnkit.numerics.dln_hessian import dln_residual_hessian_closed_form

    Ws = [W.detach() for W in weights]
    T = torch.as_tensor(target, dtype=Ws[0].dtype, device=Ws[0].device)
    eye = torch.eye(Ws[0].shape[1], dtype=Ws[0].dtype, device=Ws[0].device)
    H = dln_residual_hessian_closed_form(Ws, sigma=eye, target=T)
    return float(torch.linalg.eigvalsh(H).abs().max())  # symmetric: the spectral norm, cheaper than an SVD


def layer_mode_sizes(weights: list[torch.Tensor] | list[FloatArray], setup: PaperSetup) -> tuple[FloatArray, float]:
    """Per-layer sizes of the init's modes, shape (L, modes), read in the init's bases (input V,
    output U, hidden the first ``modes`` coordinates), and the Frobenius norm of everything off
    that diagonal structure (zero in exact arithmetic for the linear run: the update keeps it)."""
    Ws = [
        np.asarray(W.detach().cpu().double().numpy() if isinstance(W, torch.Tensor) else W, dtype=np.float64)
        for W in weights
    ]
    k, depth = setup.modes, setup.depth
    sizes = np.zeros((depth, k))
    off = 0.0
    for i, W in enumerate(Ws):
        if depth == 1:
            M = setup.U.T @ W @ setup.Vt.T
            rest = W - setup.U @ M @ setup.Vt
        elif i == 0:
            M = W[:k, :] @ setup.Vt.T
            rest = np.concatenate([(W[:k, :] - M @ setup.Vt).ravel(), W[k:, :].ravel()])
        elif i == depth - 1:
            M = setup.U.T @ W[:, :k]
            rest = np.concatenate([(W[:, :k] - setup.U @ M).ravel(), W[:, k:].ravel()])
        else:
            M = W[:k, :k]
            rest = np.concatenate([W[k:, :].ravel(), W[:k, k:].ravel()])
        sizes[i] = np.diag(M)
        off_diag = M - np.diag(np.diag(M))
        off += float(np.sum(off_diag**2) + np.sum(np.asarray(rest) ** 2))
    return sizes, math.sqrt(off)
