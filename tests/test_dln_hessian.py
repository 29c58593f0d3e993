"""Closed-form DLN Hessians (docs/claims.md#b0) against independent routes: torch.func, the Jacobian of the
end-to-end map, and the definition of the Gauss-Newton / residual split."""

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from torch.func import grad, jacrev

from dlnkit import strategies as dst
from dlnkit.numerics import (
    DeepLinearNetwork,
    dense_hessian,
    dln_gauss_newton_closed_form,
    dln_gauss_newton_nonzero_spectrum,
    dln_gradient_closed_form,
    dln_hessian_closed_form,
    dln_jjt,
    dln_loss,
    dln_residual_hessian_closed_form,
    train_dln_gradient_descent,
    whitened_inputs,
)
from dlnkit.numerics.hessian import HessianOperator, HessianTooLargeError, check_dense_fits, hvp
from dlnkit.numerics.point import input_covariance, network_loss
from dlnkit.numerics.training import train_chain_gradient_descent
from dlnkit.numerics.validation import DlnkitInputError

# float64: both routes are exact formulas evaluated with O(L) products of O(1) matrices, so they agree
# to ~1e-15 relative; 1e-10 is the bound and leaves room for conditioning.
RTOL = 1e-10


@st.composite
def random_points(draw, max_depth=4, max_width=5):
    d = draw(dst.dims(min_depth=1, max_depth=max_depth, max_width=max_width))
    seed = draw(dst.seeds)
    scale = draw(st.sampled_from([0.3, 1.0, 2.0]))
    aniso = draw(st.sampled_from([1.0, 5.0]))
    net = DeepLinearNetwork.random(d, scale=scale, seed=seed, device="cpu")
    B = max(2 * d[0], 6)
    sigma = input_covariance(d[0], aniso, seed)
    ev, evec = torch.linalg.eigh(sigma)
    X = whitened_inputs(B, d[0], seed=seed + 1) @ (evec * ev.sqrt()) @ evec.T
    g = torch.Generator().manual_seed(seed + 2)
    Y = torch.randn(B, d[-1], generator=g, dtype=torch.float64)
    return [W.detach() for W in net.weights], X, Y


def rel(a, b):
    return float(torch.linalg.norm(a - b) / max(float(torch.linalg.norm(b)), 1e-300))


@given(random_points())
def test_closed_form_hessian_equals_torch_func_at_any_point(point):
    Ws, X, Y = point
    H_cf = dln_hessian_closed_form(Ws, X=X, Y=Y)
    H_ad = dense_hessian(lambda *w: dln_loss(w, X, Y), Ws)
    assert rel(H_cf, H_ad) <= RTOL


@given(random_points())
def test_gauss_newton_part_is_jacobian_gram_and_residual_has_zero_diagonal_blocks(point):
    Ws, X, Y = point

    # independent route: J = d vec_r(W_end) / d theta by autograd, GN = J^T (I (x) Sigma) J
    def end_to_end(*ws):
        out = ws[0]
        for W in ws[1:]:
            out = W @ out
        return out.reshape(-1)

    J = torch.cat([j.reshape(j.shape[0], -1) for j in jacrev(end_to_end, argnums=tuple(range(len(Ws))))(*Ws)], dim=1)
    sigma = X.T @ X / X.shape[0]
    GN_ref = J.T @ torch.kron(torch.eye(Ws[-1].shape[0], dtype=torch.float64), sigma) @ J
    assert rel(dln_gauss_newton_closed_form(Ws, X=X), GN_ref) <= RTOL
    H_res = dln_residual_hessian_closed_form(Ws, X=X, Y=Y)
    off = np.cumsum([0] + [W.numel() for W in Ws])
    for l in range(len(Ws)):
        assert torch.count_nonzero(H_res[off[l] : off[l + 1], off[l] : off[l + 1]]) == 0
    # the residual part is bilinear in E: at a global minimum (Y = X W^T) it vanishes
    W_end = end_to_end(*Ws).reshape(Ws[-1].shape[0], Ws[0].shape[1])
    assert float(dln_residual_hessian_closed_form(Ws, X=X, Y=X @ W_end.T).abs().max()) <= 1e-12 * (
        1 + float(W_end.abs().max()) ** 2
    )


@given(random_points())
def test_jjt_spectrum_is_the_nonzero_gauss_newton_spectrum(point):
    Ws, X, _ = point
    GN = dln_gauss_newton_closed_form(Ws, X=X)
    dense = torch.linalg.eigvalsh(GN).flip(0)
    small = torch.linalg.eigvalsh(dln_jjt(Ws, X=X)).flip(0)
    k = min(len(dense), len(small))
    scale = float(dense.abs().max()) + 1e-300
    # eigvalsh backward error ~ P eps ||H||; 1e-10 relative to the top eigenvalue is generous
    assert float((dense[:k] - small[:k]).abs().max()) <= 1e-10 * scale
    assert len(dense) == k or float(dense[k:].abs().max()) <= 1e-10 * scale  # the rest of the P are zeros
    nz = dln_gauss_newton_nonzero_spectrum(Ws, X=X)
    assert torch.all(nz > 0)


@given(random_points(max_depth=3))
def test_hvp_and_operator_match_the_dense_hessian(point):
    Ws, X, Y = point
    f = lambda *w: dln_loss(w, X, Y)
    H = dln_hessian_closed_form(Ws, X=X, Y=Y)
    v = torch.randn(H.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert rel(hvp(f, Ws, v), H @ v) <= RTOL
    op = HessianOperator(f, Ws)
    Vn = np.random.default_rng(0).standard_normal((H.shape[0], 3))
    assert np.allclose(op.to_scipy() @ Vn, H.numpy() @ Vn, rtol=1e-10, atol=1e-10 * float(H.abs().max()))


@given(random_points())
def test_closed_form_gradient_equals_autograd(point):
    Ws, X, Y = point
    g_ad = grad(lambda *w: dln_loss(w, X, Y), argnums=tuple(range(len(Ws))))(*Ws)
    for a, b in zip(dln_gradient_closed_form(Ws, X=X, Y=Y), g_ad):
        assert rel(a, b) <= RTOL


def _torch_sgd(weights, loss_fn, *, lr, momentum, steps):
    """The reference the NumPy loop is checked against: torch.optim.SGD with heavy-ball momentum."""
    Ws = [W.detach().clone().requires_grad_(True) for W in weights]
    opt = torch.optim.SGD(Ws, lr=lr, momentum=momentum)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(Ws).backward()
        opt.step()
    return [W.detach() for W in Ws]


def test_hand_written_gradient_descent_follows_torch_sgd():
    dims = [5, 6, 6, 3]
    net = DeepLinearNetwork.random(dims, scale=0.5, seed=4, device="cpu")
    X = whitened_inputs(12, 5, seed=1)
    Y = torch.randn(12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for act in ("linear", "tanh"):
        ref = _torch_sgd(net.weights, lambda Ws, act=act: network_loss(Ws, X, Y, act), lr=0.05, momentum=0.9, steps=150)
        if act == "linear":
            Ws, _ = train_dln_gradient_descent(
                net.weights, lr=0.05, momentum=0.9, max_steps=150, loss_tol=-1.0, X=X, Y=Y
            )
        else:
            Ws, _ = train_chain_gradient_descent(
                net.weights, X, Y, activation="tanh", lr=0.05, momentum=0.9, max_steps=150
            )
        for a, b in zip(Ws, ref):
            # same arithmetic in a different order: rounding differences only
            assert float((a - b).abs().max()) <= 1e-11


def test_memory_guard_refuses_before_allocating():
    with pytest.raises(HessianTooLargeError, match="HessianOperator"):
        check_dense_fits(10**6, torch.float64, "cpu")  # 8 TB: never fits
    Ws = [torch.zeros(300, 200, dtype=torch.float64), torch.zeros(10, 300, dtype=torch.float64)]
    with pytest.raises(HessianTooLargeError, match="GiB"):
        dense_hessian(lambda *w: sum((x**2).sum() for x in w), Ws, budget_bytes=10**6)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([torch.zeros(3, 2), torch.zeros(2, 4)], "outputs 3 features"),
        ([torch.tensor([[float("nan")]])], "non-finite"),
        ([], "depth >= 1"),
    ],
)
def test_bad_weights_raise_clear_errors(bad, match):
    with pytest.raises(DlnkitInputError, match=match):
        dln_hessian_closed_form([b.double() for b in bad], target=torch.zeros(1, 1, dtype=torch.float64))


def test_network_constructor_checks_shapes_and_values():
    with pytest.raises(DlnkitInputError, match="shape"):
        DeepLinearNetwork([3, 4, 2], [torch.zeros(4, 3), torch.zeros(3, 4)])
    with pytest.raises(DlnkitInputError, match="non-finite"):
        DeepLinearNetwork([1, 1], [torch.tensor([[float("inf")]])])
    with pytest.raises(DlnkitInputError, match="d_in"):
        DeepLinearNetwork.random([3, 2], device="cpu")(torch.zeros(5, 4, dtype=torch.float64))
