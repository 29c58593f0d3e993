"""Numerics of the classic results against analytic references (closed forms written out here,
scalar recursions, known spectra), not autograd against itself where it can be avoided."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.testing import assert_close

from dlnkit import strategies as dst
from dlnkit.numerics import classic_curvature as cc, classic_dynamics as cd
from dlnkit.numerics.dln import DeepLinearNetwork, teacher_map, whitened_inputs

#: float64 products of matrices of size <= 6: rounding ~1e-15 relative; 1e-12 leaves margin
TIGHT = dict(rtol=1e-12, atol=1e-12)


def _random_point(dims, seed, scale=1.0):
    Ws = [W.detach() for W in DeepLinearNetwork.random(dims, scale=scale, seed=seed, device="cpu").weights]
    X = whitened_inputs(max(2 * dims[0], 8), dims[0], seed=seed + 1)
    Y = torch.randn(X.shape[0], dims[-1], generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64)
    return Ws, X, Y


@settings(max_examples=10)
@given(dims=dst.dims(min_depth=1, max_depth=4, max_width=4), seed=dst.seeds)
def test_autograd_layer_gradients_equal_closed_form(dims, seed):
    Ws, X, Y = _random_point(dims, seed)
    sigma, cross = X.T @ X / X.shape[0], Y.T @ X / X.shape[0]
    for a, b in zip(cd.layer_gradients(Ws, X, Y), cd.closed_form_gradients(Ws, sigma, cross)):
        assert_close(a, b, **TIGHT)


@settings(max_examples=10)
@given(dims=dst.dims(min_depth=2, max_depth=4, max_width=4), seed=dst.seeds, lr=st.sampled_from([0.01, 0.2]))
def test_flow_rate_zero_and_step_identity(dims, seed, lr):
    Ws, X, Y = _random_point(dims, seed)
    g = cd.layer_gradients(Ws, X, Y)
    for R in cd.imbalance_flow_rate(Ws, g):
        assert_close(R, torch.zeros_like(R), rtol=0, atol=1e-12)
    out = cd.gd_imbalance_change(Ws, X, Y, lr)
    for a, b in zip(out["measured"], out["identity"]):
        assert_close(a, b, rtol=0, atol=1e-12)


def test_tanh_breaks_flow_invariance_relu_keeps_diagonal():
    Ws, X, Y = _random_point([3, 4, 2], 0)
    tanh = cd.imbalance_flow_rate(Ws, cd.layer_gradients(Ws, X, Y, activation="tanh"))[0]
    relu = cd.imbalance_flow_rate(Ws, cd.layer_gradients(Ws, X, Y, activation="relu"))[0]
    assert float(torch.linalg.norm(torch.diagonal(tanh))) > 1e-3
    assert float(torch.linalg.norm(relu)) > 1e-3  # the full matrix is not conserved with ReLU
    assert_close(torch.diagonal(relu), torch.zeros(4, dtype=torch.float64), rtol=0, atol=1e-13)


def test_accumulated_drift_is_the_summed_identity_and_first_order():
    Ws, X, Y = _random_point([3, 3, 2], 4)
    sigma, cross = X.T @ X / X.shape[0], Y.T @ X / X.shape[0]
    a = cd.accumulated_imbalance(Ws, sigma, cross, 0.01, 1.0)
    b = cd.accumulated_imbalance(Ws, sigma, cross, 0.02, 1.0)
    assert a["identity_mismatch"] < 1e-12
    assert 1.8 < b["drift"] / a["drift"] < 2.2  # doubling eta doubles the drift (to O(eta))


def test_psd_power_analytic_and_rank_deficient():
    Q = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    lam = torch.tensor([4.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    S = Q @ torch.diag(lam) @ Q.T
    assert_close(cd.psd_power(S, 0.5), Q @ torch.diag(lam.sqrt()) @ Q.T, **TIGHT)
    # exact zeros stay zero even for a small power (no 1e-17 ** 0.25 noise)
    assert_close(cd.psd_power(S, 0.25), Q @ torch.diag(lam**0.25) @ Q.T, **TIGHT)
    assert_close(cd.psd_power(S, 0.0), torch.eye(4, dtype=torch.float64), **TIGHT)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_velocity_formula_aligned_gradient_closed_form(depth):
    """W = U diag(u) V^T, nabla = U diag(n) V^T: the formula is -U diag(L u^{2(L-1)/L} n) V^T."""
    M, U, V = teacher_map(4, 3, [2.0, 0.7], seed=1)
    u = torch.tensor([2.0, 0.7], dtype=torch.float64)
    n = torch.tensor([0.3, -1.1], dtype=torch.float64)
    W, nabla = U @ torch.diag(u) @ V.T, U @ torch.diag(n) @ V.T
    want = -U @ torch.diag(depth * u ** (2 * (depth - 1) / depth) * n) @ V.T
    assert_close(cd.velocity_formula(W, nabla, depth), want, **TIGHT)


def test_product_rule_velocity_equals_directional_derivative():
    Ws, X, Y = _random_point([3, 4, 4, 2], 3)
    g = cd.layer_gradients(Ws, X, Y)
    _, jvp = torch.func.jvp(lambda *w: cd.end_to_end(w), tuple(Ws), tuple(-x for x in g))
    assert_close(cd.end_to_end_velocity(Ws, g), jvp, **TIGHT)


def _aligned(dims, t, a, seed=0):
    M, U, V = teacher_map(dims[-1], dims[0], t, seed=seed)
    Ws = [W.detach() for W in DeepLinearNetwork.balanced_aligned(dims, U, V, a, seed=seed + 1, device="cpu").weights]
    return Ws, M, U, V


@pytest.mark.parametrize("dims", [[2, 3, 2], [2, 2, 3, 2]])
def test_gd_mode_curve_is_the_scalar_euler_recursion(dims):
    L, s, a0, lr = len(dims) - 1, [1.5, 0.5], [0.3, 0.6], 0.05
    Ws, M, U, V = _aligned(dims, s, a0)
    curve = cd.gd_mode_curve(Ws, torch.eye(dims[0], dtype=torch.float64), M, U, V, lr, 200)
    a = torch.tensor(a0, dtype=torch.float64)
    want = [a**L]
    for _ in range(200):
        a = a + lr * a ** (L - 1) * (torch.tensor(s, dtype=torch.float64) - a**L)
        want.append(a**L)
    assert_close(curve, torch.stack(want), rtol=1e-12, atol=1e-13)


def test_flow_mode_curve_depth2_is_the_logistic():
    s, a0, T, n = 2.0, 0.2, 3.0, 300
    Ws, M, U, V = _aligned([2, 2, 2], [s], [a0])
    curve = cd.flow_mode_curve(Ws, torch.eye(2, dtype=torch.float64), M, U[:, :1], V[:, :1], T / n, n)[:, 0]
    t = torch.linspace(0, T, n + 1, dtype=torch.float64)
    u0 = a0**2
    logistic = s * torch.exp(2 * s * t) / (torch.exp(2 * s * t) - 1 + s / u0)
    # RK4 with dt = 0.01: global error ~ C dt^4 ~ 1e-8 at most here
    assert_close(curve, logistic, rtol=0, atol=1e-7)


def test_rk4_small_exponential():
    out = cd.rk4_small(lambda y: [-y[0]], [1.0], 0.01, 100)
    assert abs(out[-1][0] - math.exp(-1.0)) < 1e-10


def test_partial_solution_is_critical_and_fits_kept_modes():
    dims, t = [3, 4, 4, 3], [3.0, 2.0, 1.0]
    Ws, M = cc.partial_solution(dims, t, [0, 2], seed=0)
    g = cd.closed_form_gradients(Ws, torch.eye(3, dtype=torch.float64), M)
    for x in g:
        assert_close(x, torch.zeros_like(x), rtol=0, atol=1e-12)
    sv = torch.linalg.svdvals(cd.end_to_end(Ws))
    assert_close(sv, torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64), rtol=0, atol=1e-12)


def test_inertia_counts_known_spectrum():
    assert cc.inertia(torch.tensor([-2.0, 1e-16, 0.0, 3.0])) == {"index": 1, "nullity": 2, "positive": 1}


def test_rescale_and_twist_keep_the_end_to_end_map():
    net, M = DeepLinearNetwork.balanced_minimum([3, 4, 4, 2], [1.5, 0.5], seed=0, device="cpu")
    Ws = [W.detach() for W in net.weights]
    for moved in (cc.rescale_first_layers(Ws, 2.0), cc.twist_first_hidden(Ws, 0.6, seed=1)):
        assert_close(cd.end_to_end(moved), M, **TIGHT)
    assert cc.max_relative_imbalance(Ws) < 1e-12 < cc.max_relative_imbalance(cc.rescale_first_layers(Ws, 2.0))


def test_rescaled_top_eigenvalue_closed_form_numbers():
    """lambda_max(c) = t^{2(L-1)/L}(L - 2 + c^2 + c^-2), written out here, vs the exact Hessian."""
    for L, c in ((2, 2.0), (3, 0.5)):
        dims = [3] + [4] * (L - 1) + [2]
        net, M = DeepLinearNetwork.balanced_minimum(dims, [1.7, 0.4], seed=2, device="cpu")
        Ws = cc.rescale_first_layers([W.detach() for W in net.weights], c)
        want = 1.7 ** (2 * (L - 1) / L) * (L - 2 + c**2 + c**-2)
        got = cc.top_eigenvalue(Ws, torch.eye(3, dtype=torch.float64), M)
        assert abs(got - want) < 1e-10 * want


def test_train_to_minimum_converges_or_reports_divergence():
    M = torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    sigma = torch.eye(2, dtype=torch.float64)
    W0 = cc.random_init([2, 2, 2], 0.5, 0)
    ok = cc.train_to_minimum(W0, sigma, M, M, lr=0.1, max_steps=20000)
    assert ok["converged"] and not ok["diverged"]
    assert_close(cd.end_to_end(ok["weights"]), M, rtol=0, atol=1e-6)
    bad = cc.train_to_minimum(W0, sigma, M, M, lr=5.0, max_steps=20000)
    assert bad["diverged"] and bad["weights"] is None
