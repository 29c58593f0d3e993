r"""Forward passes and losses of the weight chains every claim uses: one activation table, one
chain forward, one output loss.

A *chain* is a list of weight matrices :math:`W_l` (:math:`d_l \times d_{l-1}`, no biases: no
claim's network has one) applied to a batch whose rows are samples,

.. math:: h_0 = X, \qquad z_l = h_{l-1} W_l^\top, \qquad
          h_l = \begin{cases} s(z_l) & l < L \text{ (or } l = L \text{ with ``activate_output``)} \\
                              z_l & \text{otherwise,} \end{cases}

with an elementwise activation :math:`s` from :data:`ACTIVATIONS`. ``X = None`` stands for the
identity input :math:`X = I_{d_0}` (arXiv:2602.00545's code feeds the unit vectors): then
:math:`z_1 = W_1^\top` exactly, with no product formed, and the output is the transpose of the
column convention's :math:`f(I) = s(W_L \cdots s(W_1))`.

Losses of the outputs :math:`f` (B x d_out) against targets Y (:func:`output_loss`):

* ``"squared"``: :math:`\tfrac12\sum_{i}\|f_i - Y_i\|^2`, divided by B for ``reduction="mean"``
  (the deep-linear claims' :math:`\tfrac1{2B}\|XW^\top - Y\|_F^2`) and not for ``"sum"`` (the
  paper code's ``0.5 * MSELoss(reduction="sum")``);
* ``"logistic"``: mean of :math:`\operatorname{softplus}(-\operatorname{sign}(Y) f)`;
* ``"cross_entropy"``: softmax cross-entropy with labels argmax(Y), batch mean.

:class:`ChainLoss` binds the data to a loss of the weights alone. Because its forward pass is
known to be matrix products and elementwise activations, the Hessian dispatcher
(:mod:`dlnkit.numerics.hessian`) may use its closed form (linear, squared) or torch.func
(checked on these chains by the tests) for it; any other callable gets double backward.

>>> W1 = torch.tensor([[1.0, 2.0]], dtype=torch.float64)  # 1 x 2
>>> X, Y = torch.eye(2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)
>>> chain_forward([W1], X).ravel().tolist()
[1.0, 2.0]
>>> float(chain_loss([W1], X, Y))  # (1^2 + 2^2) / (2 * 2)
1.25
>>> float(ChainLoss(None, Y, reduction="sum")(W1))  # X = I, no 1/B: (1 + 4) / 2
2.5
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dlnkit.arguments import checked
from dlnkit.numerics.dln import product
from dlnkit.numerics.validation import DlnkitInputError

Weights = Sequence[torch.Tensor]
LOSSES = ("squared", "logistic", "cross_entropy")
REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class Activation:
    """An elementwise activation s in torch and NumPy, with its derivative written through the
    output a = s(z) (what hand-written backpropagation keeps): tanh' = 1 - a^2, relu' = [a > 0]."""

    name: str
    torch_fn: Callable[[torch.Tensor], torch.Tensor]
    numpy_fn: Callable[[np.ndarray], np.ndarray]
    numpy_derivative: Callable[[np.ndarray], np.ndarray]


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


def _np_identity(z: np.ndarray) -> np.ndarray:
    return z


def _np_ones(a: np.ndarray) -> np.ndarray:
    return np.ones_like(a)


def _np_tanh_derivative(a: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 - a * a
    return out


def _np_relu(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.maximum(z, 0.0)
    return out


def _np_relu_derivative(a: np.ndarray) -> np.ndarray:
    return (a > 0).astype(a.dtype)


#: the one activation table: name -> :class:`Activation`
ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation("linear", _identity, _np_identity, _np_ones),
    "tanh": Activation("tanh", torch.tanh, np.tanh, _np_tanh_derivative),
    "relu": Activation("relu", torch.relu, _np_relu, _np_relu_derivative),
}


@checked
def resolve_activation(name: str, allowed: Sequence[str] | None = None) -> Activation:
    """The activation called ``name``; a :class:`DlnkitInputError` naming the choices if it is not
    in ``allowed`` (default: every entry of :data:`ACTIVATIONS`).

    >>> resolve_activation("tanh").name
    'tanh'
    >>> resolve_activation("relu", allowed=("linear", "tanh"))
    Traceback (most recent call last):
    ...
    dlnkit.arguments.DlnkitInputError: activation must be one of ('linear', 'tanh'), got 'relu'
    """
    names = tuple(ACTIVATIONS) if allowed is None else tuple(allowed)
    if name not in names or name not in ACTIVATIONS:
        raise DlnkitInputError(f"activation must be one of {names}, got {name!r}")
    return ACTIVATIONS[name]


def check_chain(owner: str, weights: Weights, **data: torch.Tensor | None) -> None:
    """The one check of a chain's tensors: ``weights`` a non-empty list of real floating matrices
    W_l (d_l x d_{l-1}) that compose, and each data tensor (``X``: B x d_0, ``sigma``: d_0 x d_0,
    ``cross``: d_L x d_0; ``None``: absent) of the weights' dtype and device -- instead of a
    matmul error from inside torch (or, for a complex or float32 mix, a silently promoted result)."""
    if len(weights) == 0:
        raise DlnkitInputError(f"{owner}(): weights is empty; give at least one matrix")
    ref = weights[0]
    for k, W in enumerate(weights):
        if W.ndim != 2 or not W.is_floating_point():
            raise DlnkitInputError(
                f"{owner}(): weight {k} must be a real floating matrix, got {W.dtype} {tuple(W.shape)}"
            )
        if W.dtype != ref.dtype or W.device != ref.device:
            raise DlnkitInputError(
                f"{owner}(): weight {k} is {W.dtype} on {W.device}, weight 0 {ref.dtype} on {ref.device}"
            )
        if k and W.shape[1] != weights[k - 1].shape[0]:
            raise DlnkitInputError(
                f"{owner}(): weight {k} has shape {tuple(W.shape)} but weight {k - 1} outputs {weights[k - 1].shape[0]}"
            )
    d_in, d_out = ref.shape[1], weights[-1].shape[0]
    want = {"X": (None, d_in), "sigma": (d_in, d_in), "cross": (d_out, d_in)}
    for name, T in data.items():
        if T is None:
            continue
        if T.dtype != ref.dtype or T.device != ref.device:
            raise DlnkitInputError(
                f"{owner}(): {name} is {T.dtype} on {T.device}, the weights {ref.dtype} on {ref.device}"
            )
        rows, cols = want[name]
        if T.ndim != 2 or T.shape[1] != cols or (rows is not None and T.shape[0] != rows):
            shape = f"({'B' if rows is None else rows}, {cols})"
            raise DlnkitInputError(f"{owner}(): {name} must have shape {shape}, got {tuple(T.shape)}")


@checked
def chain_forward(
    weights: Weights, X: torch.Tensor | None, activation: str = "linear", *, activate_output: bool = False
) -> torch.Tensor:
    """f(X) = W_L s(... s(W_1 x)) row-wise (B x d_out); s between layers, and after the last one
    too with ``activate_output``. ``X = None`` is the identity input (B = d_0, first layer exact).
    """
    act = resolve_activation(activation).torch_fn
    check_chain("chain_forward", weights, X=X)
    L = len(weights)
    h = weights[0].T if X is None else X @ weights[0].T
    for k in range(L):
        if k > 0:
            h = h @ weights[k].T
        if k < L - 1 or activate_output:
            h = act(h)
    return h


@checked
def output_loss(out: torch.Tensor, Y: torch.Tensor, loss: str = "squared", *, reduction: str = "mean") -> torch.Tensor:
    """The loss of outputs ``out`` (B x ...) against ``Y`` (see the module doc); ``reduction``
    applies to the squared loss ("mean": divide by B; "sum": do not)."""
    if reduction not in REDUCTIONS:
        raise DlnkitInputError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if loss == "squared":
        if out.shape != Y.shape:  # broadcasting would silently compare every output with every target
            raise DlnkitInputError(f"outputs of shape {tuple(out.shape)} against targets of shape {tuple(Y.shape)}")
        total = 0.5 * ((out - Y) ** 2).sum()
        return total / out.shape[0] if reduction == "mean" else total
    if loss == "logistic":
        return torch.nn.functional.softplus(-torch.sign(Y) * out).mean()
    if loss == "cross_entropy":
        if out.shape[1] < 2:
            raise DlnkitInputError("cross_entropy needs d_out >= 2")
        return torch.nn.functional.cross_entropy(out, Y.argmax(dim=1))
    raise DlnkitInputError(f"loss must be one of {LOSSES}, got {loss!r}")


@checked
def chain_loss(
    weights: Weights,
    X: torch.Tensor | None,
    Y: torch.Tensor,
    activation: str = "linear",
    *,
    loss: str = "squared",
    reduction: str = "mean",
    activate_output: bool = False,
) -> torch.Tensor:
    """``output_loss(chain_forward(weights, X, activation), Y, loss)``: a scalar,
    differentiable in the weights. The default is the deep-linear claims' (1/2B)||X W^T - Y||^2."""
    out = chain_forward(weights, X, activation, activate_output=activate_output)
    return output_loss(out, Y, loss, reduction=reduction)


@dataclass(frozen=True, eq=False)
class ChainLoss:
    """The loss of a chain as a function of its weights alone: ``ChainLoss(X, Y)(*weights)``.

    Attributes
    ----------
    X, Y
        Inputs (B x d_0, or ``None`` for the identity) and targets (B x d_L).
    activation
        A name in :data:`ACTIVATIONS`.
    loss, reduction, activate_output
        As in :func:`chain_loss`.
    """

    X: torch.Tensor | None
    Y: torch.Tensor
    activation: str = "linear"
    loss: str = "squared"
    reduction: str = "mean"
    activate_output: bool = False

    def __post_init__(self) -> None:
        resolve_activation(self.activation)
        if self.loss not in LOSSES:
            raise DlnkitInputError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.reduction not in REDUCTIONS:
            raise DlnkitInputError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")

    def __call__(self, *weights: torch.Tensor) -> torch.Tensor:
        return chain_loss(
            weights,
            self.X,
            self.Y,
            self.activation,
            loss=self.loss,
            reduction=self.reduction,
            activate_output=self.activate_output,
        )

    @property
    def is_linear_squared(self) -> bool:
        """True when the loss is the squared loss of a linear chain (where the closed form holds)."""
        return self.activation == "linear" and self.loss == "squared"

    @property
    def batch(self) -> int:
        """B, the number of samples (d_0 for the identity input)."""
        return int(self.Y.shape[0])

    def closed_form_data(self) -> dict[str, torch.Tensor] | None:
        """The data for the closed-form Hessian
        (:func:`dlnkit.numerics.dln_hessian_fast.dln_hessian_assembled`) when it applies (a linear
        chain, squared loss): ``X, Y`` (mean) or ``sigma = X^T X``, ``cross = Y^T X`` (sum; the
        identity input gives ``sigma = I``, ``target = Y^T``); ``None`` otherwise."""
        if not self.is_linear_squared:
            return None
        if self.X is None:
            eye = torch.eye(int(self.Y.shape[0]), dtype=self.Y.dtype, device=self.Y.device)
            if self.reduction == "sum":
                return {"sigma": eye, "target": self.Y.T}
            return {"sigma": eye / self.batch, "cross": self.Y.T / self.batch}
        if self.reduction == "mean":
            return {"X": self.X, "Y": self.Y}
        return {"sigma": self.X.T @ self.X, "cross": self.Y.T @ self.X}


@checked
def moment_loss(weights: Weights, sigma: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    r""":math:`\tfrac12\operatorname{tr}(W\Sigma W^\top) - \operatorname{tr}(WC^\top)` with
    :math:`W = W_L\cdots W_1`: the linear chain's squared loss
    :math:`\tfrac1{2B}\|XW^\top - Y\|^2` up to its constant, from the moments
    :math:`\Sigma = X^\top X/B` and :math:`C = Y^\top X/B` alone."""
    check_chain("moment_loss", weights, sigma=sigma, cross=cross)
    W = product(weights, int(weights[0].shape[1]))
    return 0.5 * (W @ sigma * W).sum() - (W * cross).sum()


@dataclass(frozen=True, eq=False)
class MomentLoss:
    """:func:`moment_loss` as a function of the weights alone: ``MomentLoss(sigma, cross)(*weights)``."""

    sigma: torch.Tensor
    cross: torch.Tensor

    def __call__(self, *weights: torch.Tensor) -> torch.Tensor:
        return moment_loss(weights, self.sigma, self.cross)

    def closed_form_data(self) -> dict[str, torch.Tensor]:
        """The closed form always applies: ``sigma`` and ``cross``."""
        return {"sigma": self.sigma, "cross": self.cross}


@checked
def chain_loss_and_gradients_numpy(
    weights: Sequence[np.ndarray],
    X: np.ndarray | None,
    Y: np.ndarray,
    activation: str = "linear",
    *,
    reduction: str = "mean",
    activate_output: bool = False,
) -> tuple[float, list[np.ndarray]]:
    r"""The squared loss of :func:`chain_loss` and its gradients by hand-written backpropagation in
    NumPy, in the arrays' dtype (for long training loops, where torch's per-op dispatch dominates).

    Here the *columns* are the samples: ``X`` is d_0 x B (``None``: the identity, never formed,
    so :math:`z_1 = W_1` exactly) and ``Y`` is d_L x B, i.e. the transposes of :func:`chain_loss`'s.
    With :math:`h_l = s(z_l)`, :math:`z_l = W_l h_{l-1}`, residual :math:`r = h_L - Y` and
    :math:`\delta_L = r \odot s'(z_L)` (output activated) or :math:`r` (divided by B for "mean"),

    .. math:: \frac{\partial\ell}{\partial W_l} = \delta_l h_{l-1}^\top, \qquad
              \delta_{l-1} = (W_l^\top\delta_l) \odot s'(z_{l-1}),

    with :math:`s'` written through the output (:class:`Activation`). The loss is summed in float64.

    >>> W = [np.array([[1.0, 2.0]])]
    >>> chain_loss_and_gradients_numpy(W, None, np.zeros((1, 2)), reduction="sum")
    (2.5, [array([[1., 2.]])])
    """
    entry = resolve_activation(activation)
    act, dact = entry.numpy_fn, entry.numpy_derivative
    L = len(weights)
    # hs[l] is the output of layer l; with the identity input h_0 is never formed
    hs: list[np.ndarray] = [np.empty(0) if X is None else X]
    for k, W in enumerate(weights):
        z = W if (k == 0 and X is None) else W @ hs[-1]
        hs.append(act(z) if (k < L - 1 or activate_output) else z)
    r = hs[-1] - Y
    loss = 0.5 * float(np.sum(r * r, dtype=np.float64))
    delta = r / r.shape[1] if reduction == "mean" else r
    if reduction == "mean":
        loss /= r.shape[1]
    if activate_output:
        delta = delta * dact(hs[-1])
    grads: list[np.ndarray] = [np.empty(0)] * L
    for k in range(L - 1, -1, -1):
        grads[k] = delta if (k == 0 and X is None) else delta @ hs[k].T
        if k > 0:
            delta = (weights[k].T @ delta) * dact(hs[k])
    return loss, grads


@checked
def is_checked_chain(loss_fn: object) -> bool:
    """True for the chain losses of this module (:class:`ChainLoss`, :class:`MomentLoss`), whose
    forward pass is matrix products and tanh/relu: forward-mode autodiff and torch.func are checked
    on them (against double backward and the closed form, ``tests/test_hessian_routes.py``)."""
    return isinstance(loss_fn, (ChainLoss, MomentLoss))


__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ChainLoss",
    "MomentLoss",
    "LOSSES",
    "REDUCTIONS",
    "resolve_activation",
    "chain_forward",
    "chain_loss",
    "chain_loss_and_gradients_numpy",
    "is_checked_chain",
    "moment_loss",
    "output_loss",
]
