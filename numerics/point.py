r"""One point: a deep linear network's weights with its data, built from a configuration.

A *configuration* is a JSON-able dict; every builder here turns one into a :class:`Point`
(float64 tensors). The option names mean the same thing in every builder:

* ``dims`` [d_0 = d_in, d_1, ..., d_L = d_out], ``seed``;
* ``t`` target singular values (a balanced aligned global minimum, :func:`aligned_minimum_point`),
  or ``s`` per-layer singular values with a target ``t`` sharing the bases (:func:`aligned_layer_point`);
* ``balance`` c (1.0): W_1 -> c W_1, W_2 -> W_2 / c (same end-to-end map, no longer balanced);
* ``misalignment`` e (0.0): W_1 -> A W_1, W_2 -> W_2 A^{-1}, A = I + e K / ||K||_2 (same map, not aligned);
* ``offset`` e (0.0): W_L -> (1 + e) W_L (leaves the minimum);
* ``anisotropy`` k (1.0): input covariance :math:`\Sigma = R\,\mathrm{diag}(k^{-1/2} \dots k^{1/2})R^\top`
  (eigenvalues spread geometrically over [1/sqrt k, sqrt k], determinant 1; :func:`input_covariance`),
  realised exactly by the batch: :math:`X^\top X / B = \Sigma`;
* ``teacher_rotation`` (0.0): the target's singular bases are rotated away from the network's;
* ``scale`` (1.0): Gaussian weights N(0, scale^2 / d_{l-1}) of a generic point;
* ``activation`` ("linear" | "tanh"): tanh between layers at the same weights.

The rational counterpart (exact arithmetic) is :func:`dlnkit.theory.exact_point.exact_point`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.chains import ChainLoss, MomentLoss, chain_loss, moment_loss, resolve_activation
from dlnkit.numerics.device import resolve_device
from dlnkit.numerics.dims import dims_of, layer_offsets, num_params
from dlnkit.numerics.dln import DeepLinearNetwork, product, random_orthonormal, teacher_map, whitened_inputs
from dlnkit.numerics.dln_hessian import partial_products
from dlnkit.numerics.validation import DlnkitInputError, check_dims

Config = Mapping[str, Any]
#: the activations a point's network may carry (entries of :data:`dlnkit.numerics.chains.ACTIVATIONS`)
POINT_ACTIVATIONS = ("linear", "tanh")


# ----- shared helpers: widths (counts and offsets: dlnkit.numerics.dims, re-exported here) ---------
# ----- the point --------------------------------------------------------------------------------
@dataclass
class Point:
    """A DLN point with its data: ``weights`` [W_1, ..., W_L] (float64 tensors), input covariance
    ``sigma`` = (1/B) X^T X, cross moment ``cross`` = (1/B) Y^T X, ``target`` map (when there is
    one) and, for points built from a batch, ``X`` and ``Y``. The linear network's loss is
    1/2 tr(W sigma W^T) - tr(W cross^T) + const with W = W_L ... W_1; ``activation`` says whether
    the network puts tanh between its layers (then only ``X``, ``Y`` define the loss).

    Attributes
    ----------
    weights : list of torch.Tensor
        W_1, ..., W_L.
    sigma, cross : torch.Tensor
        The input covariance (d_in x d_in) and the cross moment (d_out x d_in).
    target : torch.Tensor or None
        The target map M, when there is one.
    X, Y : torch.Tensor or None
        The batch, for points built from one.
    dims : list of int
        ``[d_in, d_1, ..., d_out]``.
    activation : str
        ``"linear"`` or ``"tanh"``.
    """

    weights: list[torch.Tensor]
    sigma: torch.Tensor
    cross: torch.Tensor
    target: torch.Tensor | None = None
    X: torch.Tensor | None = None
    Y: torch.Tensor | None = None
    dims: list[int] = field(default_factory=list)
    activation: str = "linear"
    #: the target singular values the point was built for, when it was built from them
    t: list[float] | None = None

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def num_params(self) -> int:
        return sum(int(W.numel()) for W in self.weights)

    @property
    def end_to_end(self) -> torch.Tensor:
        """W = W_L ... W_1."""
        return product(self.weights, int(self.weights[0].shape[1]))

    def loss(self, weights: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """The linear network's loss (up to its constant) at these weights or at ``weights``
        (:func:`dlnkit.numerics.chains.moment_loss`)."""
        return moment_loss(list(self.weights if weights is None else weights), self.sigma, self.cross)

    def loss_function(self) -> ChainLoss | MomentLoss:
        """The network's loss as a function of the weights alone, for the Hessian dispatcher: the
        moment form (:class:`~dlnkit.numerics.chains.MomentLoss`) of a linear network, the batch
        loss (:class:`~dlnkit.numerics.chains.ChainLoss`) of a tanh one (which needs the batch)."""
        if self.activation == "linear":
            return MomentLoss(self.sigma, self.cross)
        if self.X is None or self.Y is None:
            raise DlnkitInputError(
                f"a {self.activation} network's loss needs the point's batch X, Y; this point has none"
            )
        return ChainLoss(self.X, self.Y, self.activation)

    def partial_products(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(P, Q): P[l] = W_L...W_{l+1}, Q[l] = W_{l-1}...W_1 (0-indexed)."""
        return partial_products(self.weights)


@checked
def network_loss(
    weights: Sequence[torch.Tensor], X: torch.Tensor, Y: torch.Tensor, activation: str = "linear"
) -> torch.Tensor:
    """(1/2B) ||f(X) - Y||^2 for the chain of weights, with tanh between layers if asked
    (:func:`dlnkit.numerics.chains.chain_loss` restricted to a point's activations)."""
    return chain_loss(weights, X, Y, resolve_activation(activation, POINT_ACTIVATIONS).name)


# ----- data -------------------------------------------------------------------------------------
def _generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


@checked
def input_covariance(d_in: int, anisotropy: float, seed: int) -> torch.Tensor:
    """Sigma = R diag(k^(-1/2) ... k^(1/2)) R^T (determinant 1); the identity when k = 1.

    >>> S = input_covariance(3, 4.0, seed=0)
    >>> [round(float(x), 12) for x in torch.linalg.eigvalsh(S)]
    [0.5, 1.0, 2.0]
    """
    if not anisotropy > 0 or not math.isfinite(anisotropy):
        raise DlnkitInputError(f"anisotropy must be a positive finite number, got {anisotropy}")
    if anisotropy == 1.0:
        return torch.eye(d_in, dtype=torch.float64)
    R = random_orthonormal(d_in, d_in, seed=seed + 7)
    ev = torch.logspace(-0.5 * math.log10(anisotropy), 0.5 * math.log10(anisotropy), d_in, dtype=torch.float64)
    return R @ torch.diag(ev) @ R.T


@checked
def inputs_with_covariance(batch: int, sigma: torch.Tensor, seed: int) -> torch.Tensor:
    """A Gaussian batch X (B x d_in) with (1/B) X^T X = sigma exactly (whitened, then coloured)."""
    Z = whitened_inputs(batch, int(sigma.shape[0]), seed=seed)
    ev, evec = torch.linalg.eigh(sigma)
    X: torch.Tensor = Z @ (evec * ev.sqrt()) @ evec.T
    return X


def _tensor(a: Any, device: torch.device) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.to(dtype=torch.float64, device=device)

    def conv(x: Any) -> float:
        return float(Fraction(x)) if isinstance(x, str) else float(x)

    return torch.tensor([[conv(x) for x in row] for row in a], dtype=torch.float64, device=device)


def _knob(config: Config, key: str, default: float) -> float:
    value = float(config.get(key, default))
    if not math.isfinite(value):
        raise DlnkitInputError(f"{key} must be finite, got {value}")
    return value


def _unbalance(Ws: list[torch.Tensor], config: Config, seed: int) -> None:
    """Apply ``balance`` and ``misalignment`` in place (both keep the end-to-end map)."""
    if len(Ws) < 2:
        return
    c = _knob(config, "balance", 1.0)
    if c <= 0:
        raise DlnkitInputError(f"balance must be a positive finite number, got {c}")
    Ws[0], Ws[1] = Ws[0] * c, Ws[1] / c
    e = _knob(config, "misalignment", 0.0)
    if e != 0.0:
        d1 = int(Ws[0].shape[0])
        K = torch.randn(d1, d1, generator=_generator(seed + 3), dtype=torch.float64)
        A = torch.eye(d1, dtype=torch.float64) + e * K / torch.linalg.matrix_norm(K, 2)
        Ws[0], Ws[1] = A @ Ws[0], Ws[1] @ torch.linalg.inv(A)


def _activation(config: Config) -> str:
    return resolve_activation(str(config.get("activation", "linear")), POINT_ACTIVATIONS).name


def _check_plan(config: Config, device: str | torch.device) -> None:
    """Refuse, before anything is built, a point whose arrays (teacher, weights, covariance, data
    batch) would not fit, and target singular values outside what float64 handles at this depth."""
    from dlnkit.numerics.memory import check_allocation, dln_point_bytes
    from dlnkit.numerics.validation import check_target_scale

    dims = check_dims(config["dims"])
    try:
        batch = int(config.get("batch", max(2 * dims[0], 8)))
        t = [float(x) for x in config.get("t", [])]
    except (TypeError, ValueError):
        raise DlnkitInputError("batch must be an integer and t a list of numbers") from None
    if batch < 1:
        raise DlnkitInputError(f"batch must be >= 1, got {batch}")
    if t:
        check_target_scale(t, len(dims) - 1)
    check_allocation(
        dln_point_bytes(dims, batch, max(1, len(t))),
        f"the point of dims {dims} (batch {batch})",
        resolve_device(device),
    )


# ----- builders ---------------------------------------------------------------------------------
@checked
def aligned_minimum_point(config: Config, device: str | torch.device = "cpu") -> Point:
    """The balanced aligned global minimum for target singular values ``t`` (hidden widths below
    the rank realise the best rank-h map), changed by ``balance``, ``misalignment``, ``offset``,
    ``anisotropy``, ``activation`` (see the module doc); batch ``batch`` (default max(2 d_in, 8)).

    >>> p = aligned_minimum_point({"dims": [3, 4, 2], "t": [2.0], "seed": 0})
    >>> bool(torch.allclose(p.end_to_end, p.target))
    True
    """
    dims = check_dims(config["dims"])
    t = [float(x) for x in config["t"]]
    seed = int(config.get("seed", 0))
    depth, d_in, d_out = len(dims) - 1, dims[0], dims[-1]
    if not t or not all(math.isfinite(x) and x > 0 for x in t):
        raise DlnkitInputError(f"target singular values must be positive and finite, got {t}")
    if len(t) > min(d_in, d_out):
        raise DlnkitInputError(f"rank {len(t)} exceeds min(d_in, d_out) = {min(d_in, d_out)}")
    M, U, V = teacher_map(d_out, d_in, t, seed=seed)
    h = min([len(t)] + dims[1:-1])  # a hidden width below r realises the best rank-h map
    net = DeepLinearNetwork.balanced_aligned(
        dims, U[:, :h], V[:, :h], [x ** (1.0 / depth) for x in t[:h]], seed=seed + 1, device="cpu"
    )
    Ws = [W.detach().clone() for W in net.weights]
    _unbalance(Ws, config, seed)
    Ws[-1] = Ws[-1] * (1.0 + _knob(config, "offset", 0.0))
    sigma = input_covariance(d_in, _knob(config, "anisotropy", 1.0), seed)
    X = inputs_with_covariance(int(config.get("batch", max(2 * d_in, 8))), sigma, seed + 11)
    Y = X @ M.T
    act = _activation(config)
    dev = resolve_device(device)
    return Point(
        [W.to(dev) for W in Ws], sigma.to(dev), (M @ sigma).to(dev), M.to(dev), X.to(dev), Y.to(dev), dims, act, t
    )


@checked
def random_point(config: Config, device: str | torch.device = "cpu") -> Point:
    """A generic point: Gaussian weights N(0, scale^2/d_{l-1}) and a Gaussian target map, input
    covariance from ``anisotropy`` (no batch)."""
    dims = check_dims(config["dims"])
    seed = int(config.get("seed", 0))
    dev = resolve_device(device)
    net = DeepLinearNetwork.random(dims, scale=_knob(config, "scale", 1.0), seed=seed, device=dev)
    target = torch.randn(dims[-1], dims[0], generator=_generator(seed + 101), dtype=torch.float64).to(dev)
    sigma = input_covariance(dims[0], _knob(config, "anisotropy", 1.0), seed).to(dev)
    return Point(
        [W.detach() for W in net.weights], sigma, target @ sigma, target, dims=dims, activation=_activation(config)
    )


@checked
def random_batch_point(config: Config, device: str | torch.device = "cpu") -> Point:
    """A generic point with a batch: Gaussian weights (``scale``), inputs X with covariance from
    ``anisotropy`` (``batch`` B, default max(2 d_in, 8)) and Gaussian outputs Y unrelated to X
    (a large residual)."""
    dims = check_dims(config["dims"])
    seed = int(config.get("seed", 0))
    dev = resolve_device(device)
    net = DeepLinearNetwork.random(dims, scale=_knob(config, "scale", 1.0), seed=seed, device=dev)
    sigma = input_covariance(dims[0], _knob(config, "anisotropy", 1.0), seed)
    X = inputs_with_covariance(int(config.get("batch", max(2 * dims[0], 8))), sigma, seed + 5)
    Y = torch.randn(X.shape[0], dims[-1], generator=_generator(seed + 9), dtype=torch.float64)
    B = X.shape[0]
    return Point(
        [W.detach() for W in net.weights],
        (X.T @ X / B).to(dev),
        (Y.T @ X / B).to(dev),
        None,
        X.to(dev),
        Y.to(dev),
        dims,
        _activation(config),
    )


@checked
def aligned_layer_point(config: Config, device: str | torch.device = "cpu") -> Point:
    """A balanced aligned point with per-layer singular values ``s`` and a target with singular
    values ``t`` sharing the network's bases (not a minimum unless s^L = t), changed by
    ``balance``, ``teacher_rotation`` and ``anisotropy``; batch 4 d_in + 4 (see the module doc)."""
    dims = check_dims(config["dims"])
    depth = len(dims) - 1
    s = [float(x) for x in config["s"]]
    t = [float(x) for x in config["t"]]
    if len(t) != len(s):
        raise DlnkitInputError(f"s and t need the same length, got {len(s)} and {len(t)}")
    seed = int(config.get("seed", 0))
    M, U, V = teacher_map(dims[-1], dims[0], t, seed=seed)
    net = DeepLinearNetwork.balanced_aligned(dims, U, V, s, seed=seed + 1, device="cpu")
    Ws = [W.detach().clone() for W in net.weight_list()]
    rot = _knob(config, "teacher_rotation", 0.0)
    if rot:
        g = _generator(seed + 7)
        U2 = torch.linalg.qr(U + rot * torch.randn(U.shape, generator=g, dtype=U.dtype))[0]
        V2 = torch.linalg.qr(V + rot * torch.randn(V.shape, generator=g, dtype=V.dtype))[0]
        M = U2 @ torch.diag(torch.as_tensor(t, dtype=U.dtype)) @ V2.T
    if depth >= 2:
        _unbalance(Ws, {"balance": config.get("balance", 1.0)}, seed)
    d_in = dims[0]
    batch = 4 * d_in + 4
    k = _knob(config, "anisotropy", 1.0)
    if k == 1.0:
        X = whitened_inputs(batch, d_in, seed=seed + 2)
        sigma = torch.eye(d_in, dtype=torch.float64)
    else:
        sigma = input_covariance(d_in, k, seed)
        X = inputs_with_covariance(batch, sigma, seed + 2)
    Y = X @ M.T
    dev = resolve_device(device)
    return Point(
        [W.to(dev) for W in Ws], sigma.to(dev), (M @ sigma).to(dev), M.to(dev), X.to(dev), Y.to(dev), dims, "linear", t
    )


@checked
def point_from_weights(config: Config, device: str | torch.device = "cpu") -> Point:
    """The point of given ``weights`` (nested lists of numbers or ``"p/q"`` strings, or tensors),
    with ``sigma`` (default identity) and ``target`` (default zero) when given."""
    dev = resolve_device(device)
    Ws = [_tensor(W, dev) for W in config["weights"]]
    dims = dims_of(Ws)
    for l in range(1, len(Ws)):
        if Ws[l].shape[1] != Ws[l - 1].shape[0]:
            raise DlnkitInputError(
                f"weight {l + 1} has shape {tuple(Ws[l].shape)} but weight {l} outputs {Ws[l - 1].shape[0]} features"
            )
    sigma = (
        _tensor(config["sigma"], dev)
        if config.get("sigma") is not None
        else torch.eye(dims[0], dtype=torch.float64, device=dev)
    )
    target = (
        _tensor(config["target"], dev)
        if config.get("target") is not None
        else torch.zeros(dims[-1], dims[0], dtype=torch.float64, device=dev)
    )
    return Point(Ws, sigma, target @ sigma, target, dims=dims)


@checked
def build_point(config: Config, device: str | torch.device = "cpu") -> Point:
    """The float64 point a configuration describes:

    * ``weights`` given: :func:`point_from_weights`;
    * ``t`` given: :func:`aligned_minimum_point` (a balanced aligned global minimum, changed by
      ``balance``, ``misalignment``, ``offset``, ``anisotropy``);
    * ``s`` and ``t`` given: :func:`aligned_layer_point`;
    * otherwise ``dims`` and ``seed``: :func:`random_point`.

    Parameters
    ----------
    config
        A configuration dict (as the strategies in :mod:`dlnkit.strategies` draw them).
    device
        Where the tensors live.

    Returns
    -------
    Point

    Raises
    ------
    DlnkitInputError
        No ``dims`` (nor ``weights``), or bad sizes, values or perturbations.

    Examples
    --------
    >>> p = build_point({"dims": [3, 4, 2], "t": [2.0], "seed": 0})
    >>> [tuple(W.shape) for W in p.weights], float(p.loss() - p.loss()) == 0.0
    ([(4, 3), (2, 4)], True)
    """
    if not isinstance(config, Mapping):
        raise DlnkitInputError(f"a configuration must be a dict, got {type(config).__name__}")
    if "weights" in config:
        return point_from_weights(config, device)
    if "dims" not in config:
        raise DlnkitInputError(f"a configuration needs 'dims' (or 'weights'), got keys {sorted(config)}")
    _check_plan(config, device)
    if "s" in config and "t" in config:
        return aligned_layer_point(config, device)
    if "t" in config:
        return aligned_minimum_point(config, device)
    return random_point(config, device)


__all__ = [
    "Point",
    "build_point",
    "aligned_minimum_point",
    "aligned_layer_point",
    "random_point",
    "random_batch_point",
    "point_from_weights",
    "input_covariance",
    "inputs_with_covariance",
    "network_loss",
    "num_params",
    "layer_offsets",
    "dims_of",
]
