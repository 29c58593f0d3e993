"""The alignment capture on networks as users write them: in-place activations, shared modules,
frozen weights, train-mode BatchNorm, torch loss modules and loaders. Each is checked against an
independent route (the out-of-place twin network's autograd gradient; the layer block of
ModelCurvature, reverse-over-reverse) or must raise a DlnkitInputError.

Tolerance 1e-10: exact float64 routes on O(1) numbers that differ only in summation order.
"""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from dlnkit.numerics.alignment import analyse_capture, capture_layer
from dlnkit.numerics.curvature import ModelCurvature
from dlnkit.numerics.validation import DlnkitInputError

DT = torch.float64
TOL = dict(atol=1e-10, rtol=1e-10)


def net(inplace, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(6, 8, dtype=DT),
        nn.ReLU(inplace=inplace),
        nn.Linear(8, 5, dtype=DT),
        nn.ReLU(inplace=inplace),
        nn.Linear(5, 4, dtype=DT),
    )


def batch(n=32, seed=1, classes=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=DT), torch.randint(0, classes, (n,), generator=g)


def test_inplace_relu_after_the_layer_gives_the_out_of_place_numbers():
    X, y = batch()
    a = capture_layer(net(True), "0", X, y, loss=nn.CrossEntropyLoss())
    b = capture_layer(net(False), "0", X, y, loss=nn.CrossEntropyLoss())
    assert_close(a.G, b.G, **TOL)
    assert_close(a.delta, b.delta, **TOL)
    assert_close(a.G, a.autograd_grad, **TOL)  # G = delta^T A / B is the weight gradient
    ra, rb = analyse_capture(a, k=4, eigen=False), analyse_capture(b, k=4, eigen=False)
    for key in ("sigma", "h", "Lambda", "Phi", "chi"):
        assert_close(torch.as_tensor(getattr(ra, key)), torch.as_tensor(getattr(rb, key)), **TOL)


@pytest.mark.parametrize(
    "loss",
    [nn.MSELoss(), nn.MSELoss(reduction="sum"), nn.HuberLoss(delta=0.3), nn.HuberLoss(reduction="sum")],
    ids=["mse", "mse-sum", "huber", "huber-sum"],
)
def test_mse_and_huber_modules_work_and_match_the_independent_block(loss):
    X, _ = batch()
    Y = torch.randn(32, 4, generator=torch.Generator().manual_seed(5), dtype=DT)
    model = net(False)
    cap = capture_layer(model, "2", X, Y, loss=loss)
    assert_close(cap.G, cap.autograd_grad, **TOL)
    rep = analyse_capture(cap, k=4, eigen=True, factors="gn")
    # independent route: the layer's diagonal block from ModelCurvature (reverse-over-reverse HVPs)
    H = ModelCurvature(model, loss, (X, Y), params=["2.weight"]).dense()
    U, S, Vh = torch.linalg.svd(cap.G, full_matrices=False)
    D = torch.einsum("ik,kj->kij", U[:, : len(rep.h)], Vh[: len(rep.h)]).reshape(len(rep.h), -1)
    assert_close(torch.as_tensor(rep.h), (D @ H * D).sum(1), **TOL)
    top = torch.linalg.eigvalsh(H).flip(0)[: len(rep.eigenvalues)]
    assert_close(torch.as_tensor(rep.eigenvalues.copy()), top, **TOL)


def test_gn_factor_of_a_loss_module_equals_the_named_loss_convention():
    X, y = batch()
    model = net(False)
    named = capture_layer(model, "2", X, y, loss="cross_entropy").gn_output_factor
    module = capture_layer(model, "2", X, y, loss=nn.CrossEntropyLoss()).gn_output_factor
    assert_close(module, named, **TOL)


def test_sum_reduction_capture_scales_like_the_loss():
    X, y = batch()
    model = net(False)
    mean = analyse_capture(capture_layer(model, "2", X, y, loss=nn.CrossEntropyLoss()), k=4, eigen=False)
    tot = analyse_capture(capture_layer(model, "2", X, y, loss=nn.CrossEntropyLoss(reduction="sum")), k=4, eigen=False)
    B = 32.0  # L_sum = B L_mean: sigma and h scale by B, Lambda by B^2 (empirical factors), chi by 1/B
    assert_close(torch.as_tensor(tot.sigma), B * torch.as_tensor(mean.sigma), **TOL)
    assert_close(torch.as_tensor(tot.h), B * torch.as_tensor(mean.h), **TOL)
    assert_close(torch.as_tensor(tot.Phi), torch.as_tensor(mean.Phi), **TOL)
    assert mean.fits["alpha"].exponent == pytest.approx(tot.fits["alpha"].exponent, abs=1e-9)


class TwiceCalled(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(6, 6, dtype=DT)
        self.head = nn.Linear(6, 4, dtype=DT)

    def forward(self, x):
        return self.head(torch.tanh(self.a(torch.tanh(self.a(x)))))


def test_layer_called_twice_is_refused_and_other_layers_still_work():
    X, y = batch()
    m = TwiceCalled()
    with pytest.raises(DlnkitInputError, match="called 2 times"):
        capture_layer(m, "a", X, y)
    cap = capture_layer(m, "head", X, y)
    assert_close(cap.G, cap.autograd_grad, **TOL)


def test_frozen_weight_is_analysed_and_stays_frozen():
    X, y = batch()
    m = net(False)
    ref = capture_layer(m, "0", X, y)
    for p in m.parameters():
        p.requires_grad_(False)
    cap = capture_layer(m, "0", X, y)
    assert_close(cap.G, ref.G, **TOL)
    assert not any(p.requires_grad for p in m.parameters())
    assert all(p.grad is None for p in m.parameters())


def test_train_mode_batchnorm_is_refused_without_moving_running_stats():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8, dtype=DT), nn.BatchNorm1d(8, dtype=DT), nn.ReLU(), nn.Linear(8, 4, dtype=DT))
    X, y = batch()
    before = m[1].running_mean.clone()
    with pytest.raises(DlnkitInputError, match="eval"):
        capture_layer(m, "0", X, y)
    assert torch.equal(m[1].running_mean, before)
    cap = capture_layer(m.eval(), "0", X, y)
    assert_close(cap.G, cap.autograd_grad, **TOL)
    assert torch.equal(m[1].running_mean, before)


def test_loader_is_concatenated_for_the_alignment_capture():
    X, y = batch(30)
    m = net(False)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=7)
    a = capture_layer(m, "2", loader, None, loss=nn.CrossEntropyLoss())
    b = capture_layer(m, "2", X, y, loss=nn.CrossEntropyLoss())
    assert_close(a.G, b.G, **TOL)


@pytest.mark.parametrize(
    "loss", [nn.MSELoss(), nn.HuberLoss(), nn.MSELoss(reduction="sum")], ids=["mse", "huber", "mse-sum"]
)
def test_hessian_hvp_routes_accept_raw_loss_modules_in_a_closure(loss):
    """numerics.hessian's jvp-over-grad falls back to reverse-over-reverse where torch has no forward-mode
    formula (MSELoss, HuberLoss); checked against ModelCurvature on the same network and data."""
    from dlnkit.numerics.hessian import dense_hessian, hvp_batched

    X, _ = batch()
    Y = torch.randn(32, 4, generator=torch.Generator().manual_seed(5), dtype=DT)
    model = net(False)
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach() for p in model.parameters()]
    f = lambda *ps: loss(torch.func.functional_call(model, dict(zip(names, ps)), (X,)), Y)
    ref = ModelCurvature(model, loss, (X, Y)).dense()
    assert_close(dense_hessian(f, params), ref, **TOL)
    eye = torch.eye(ref.shape[0], dtype=DT)[:, :7]
    assert_close(hvp_batched(f, params, eye), ref[:, :7], **TOL)
