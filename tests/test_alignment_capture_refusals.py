"""capture_layer refuses, with a clear error, layers it cannot analyse (regressions found by mypy)."""

import pytest
import torch
from torch import nn

from dlnkit.numerics.alignment import capture_layer
from dlnkit.numerics.validation import DlnkitInputError


class DetachedBody(nn.Module):
    """The body's output is detached: the loss does not depend on the body's weight."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(3, 4, bias=False, dtype=torch.float64)
        self.head = nn.Linear(4, 2, bias=False, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).detach())


def test_a_layer_the_loss_does_not_reach_is_refused_not_a_traceback():
    torch.manual_seed(0)
    X, Y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    model = DetachedBody()
    # before: AttributeError ('NoneType' object has no attribute 'detach') from the missing .grad
    with pytest.raises(DlnkitInputError, match="does not depend on layer 'body'"):
        capture_layer(model, "body", X, Y, loss="mse", gauss_newton=False)
    # the layer the loss does reach is still captured, and its gradient is autograd's
    cap = capture_layer(model, "head", X, Y, loss="mse", gauss_newton=False)
    torch.testing.assert_close(cap.G, cap.autograd_grad, rtol=1e-12, atol=1e-12)  # same sum, float64 rounding


def test_inputs_that_are_not_a_tensor_with_targets_are_refused():
    model = DetachedBody()
    batches = [(torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 2, dtype=torch.float64))]
    with pytest.raises(DlnkitInputError, match="inputs must be one tensor"):
        capture_layer(model, "head", batches, torch.randn(2, 2, dtype=torch.float64), loss="mse")
