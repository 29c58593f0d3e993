"""The one forward/loss/activation module (numerics.chains): every convention its callers rely on."""

import numpy as np
import pytest
import torch

from dlnkit.numerics.chains import (
    ACTIVATIONS,
    ChainLoss,
    chain_forward,
    chain_loss,
    chain_loss_and_gradients_numpy,
    output_loss,
    resolve_activation,
)
from dlnkit.numerics.validation import DlnkitInputError


def _chain(dims, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(dims[k + 1], dims[k], generator=g, dtype=torch.float64) for k in range(len(dims) - 1)]


def test_forward_is_the_composition_with_activation_between_layers_only():
    Ws = _chain([3, 4, 5, 2])
    X = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = torch.tanh(torch.tanh(X @ Ws[0].T) @ Ws[1].T) @ Ws[2].T
    # bit for bit: the same operations in the same order as the hand-written composition
    assert torch.equal(chain_forward(Ws, X, "tanh"), expected)
    assert torch.equal(chain_forward(Ws, X, "tanh", activate_output=True), torch.tanh(expected))


def test_mean_and_sum_conventions():
    Ws = _chain([3, 4, 2])
    g = torch.Generator().manual_seed(2)
    X, Y = torch.randn(7, 3, dtype=torch.float64, generator=g), torch.randn(7, 2, dtype=torch.float64, generator=g)
    r = X @ Ws[0].T @ Ws[1].T - Y
    assert torch.equal(chain_loss(Ws, X, Y), 0.5 * (r**2).sum() / 7)
    assert torch.equal(chain_loss(Ws, X, Y, reduction="sum"), 0.5 * (r**2).sum())


def test_identity_input_is_the_column_convention_transposed():
    """X = None (arXiv:2602.00545's unit-vector inputs): f(I) = s(W_L ... s(W_1)) with columns as
    samples; the identity is never multiplied, so W_1 enters exactly."""
    Ws = _chain([4, 5, 3])
    T = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    cols = torch.tanh(Ws[1] @ torch.tanh(Ws[0]))
    assert torch.equal(chain_forward(Ws, None, "tanh", activate_output=True), cols.T)
    loss = ChainLoss(None, T.T, "tanh", reduction="sum", activate_output=True)(*Ws)
    # 1e-12 relative: the same terms summed in a transposed order (rounding only)
    assert float(loss) == pytest.approx(float(0.5 * ((cols - T) ** 2).sum()), rel=1e-12)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_numpy_table_agrees_with_torch_and_its_derivative_with_autograd(name):
    act = ACTIVATIONS[name]
    z = torch.linspace(-2.0, 2.0, 41, dtype=torch.float64).requires_grad_(True)
    a = act.torch_fn(z)
    (dz,) = torch.autograd.grad(a.sum(), z)
    a_np = act.numpy_fn(z.detach().numpy())
    # NumPy's and torch's tanh may round differently: a few units in the last place
    np.testing.assert_allclose(a_np, a.detach().numpy(), rtol=4e-16, atol=0)
    # derivative written through the output (1 - a^2 for tanh): rounding of a and of 1 - a^2 only;
    # relu's kink at z = 0 is left out (autograd takes 0 there, any subgradient is right)
    keep = z.detach().numpy() != 0.0
    np.testing.assert_allclose(act.numpy_derivative(a_np)[keep], dz.numpy()[keep], rtol=0, atol=1e-15)


def test_refusals():
    with pytest.raises(DlnkitInputError, match="activation must be one of"):
        resolve_activation("gelu")
    with pytest.raises(DlnkitInputError, match="activation must be one of"):
        resolve_activation("relu", allowed=("linear", "tanh"))
    with pytest.raises(DlnkitInputError, match="loss must be one of"):
        ChainLoss(None, torch.zeros(2, 2), loss="hinge")
    with pytest.raises(DlnkitInputError, match="targets of shape"):
        output_loss(torch.zeros(3, 1), torch.zeros(3))  # would broadcast to 3 x 3


@pytest.mark.parametrize("activation", ["linear", "tanh", "relu"])
@pytest.mark.parametrize("identity_input", [False, True])
def test_numpy_backpropagation_matches_autograd_of_the_torch_chain(activation, identity_input):
    """The NumPy route (columns as samples) against torch autograd of chain_loss (rows as samples)."""
    Ws = _chain([4, 5, 3])
    g = torch.Generator().manual_seed(4)
    X = None if identity_input else torch.randn(6, 4, dtype=torch.float64, generator=g)
    Y = torch.randn(4 if identity_input else 6, 3, dtype=torch.float64, generator=g)
    kw = dict(reduction="sum", activate_output=True) if identity_input else dict(reduction="mean")
    ws = [W.clone().requires_grad_(True) for W in Ws]
    value = chain_loss(ws, X, Y, activation, **kw)
    grads = torch.autograd.grad(value, ws)
    loss_np, grads_np = chain_loss_and_gradients_numpy(
        [W.numpy() for W in Ws], None if X is None else X.T.numpy().copy(), Y.T.numpy().copy(), activation, **kw
    )
    # the same chain rule summed in other orders: rounding only
    assert loss_np == pytest.approx(float(value), rel=1e-13)
    for a, b in zip(grads_np, grads):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-12, atol=1e-13)
