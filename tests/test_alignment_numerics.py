"""Numerics of the alignment decomposition: captures, vmap HVPs, factors, fits, preconditioner."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from dlnkit.claims.alignment_dln import aligned_dln_configs
from dlnkit.claims.alignment_modes import DlnClosedForms
from dlnkit.numerics import alignment as na
from dlnkit.numerics.fits import (
    fit_alpha,
    fit_decay,
    fit_gamma,
    loglog_fit,
    participation_ratio,
    power_law_window_pr,
    zeta_bound,
)
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.numerics.preconditioners import SpectralNewton, polar_factor, spectral_precondition
from dlnkit.numerics.validation import DlnkitInputError

D = torch.float64


def _psd(g, n):
    A = torch.randn(n, n, generator=g, dtype=D)
    return A @ A.T


@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 10_000))
def test_kronecker_identity_random_psd(m, n, seed):
    g = torch.Generator().manual_seed(seed)
    C, Dm = _psd(g, m), _psd(g, n)
    u, v = torch.randn(m, generator=g, dtype=D), torch.randn(n, generator=g, dtype=D)
    x = torch.outer(u, v).reshape(-1)
    lhs = x @ torch.kron(C, Dm) @ x
    rhs = (u @ C @ u) * (v @ Dm @ v)
    assert torch.isclose(lhs, rhs, rtol=1e-12, atol=1e-12 * float(abs(rhs)))


@given(st.integers(3, 25), st.integers(0, 10_000))
def test_decomposition_of_ls_slopes(K, seed):
    rng = np.random.default_rng(seed)
    sigma = np.sort(rng.uniform(0.01, 10, K))[::-1]
    Lam, Phi, chi = rng.uniform(0.1, 5, K), rng.uniform(0.1, 2, K), rng.uniform(0.2, 3, K)
    h = Lam * Phi * chi
    parts = sum(loglog_fit(sigma, y).slope for y in (Lam, Phi, chi))
    assert fit_alpha(sigma, h).exponent == pytest.approx(parts, abs=1e-9)


@settings(max_examples=4)
@given(aligned_dln_configs())
def test_dln_closed_forms_against_exact_hvps(config):
    claim = DlnClosedForms()
    res = claim.check(config, device="cpu")
    assert res.passed, (config, res.details)


def _tiny_tanh_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 4, dtype=D), nn.Tanh(), nn.Linear(4, 3, dtype=D))


@pytest.mark.parametrize("layer", ["0", "2"])
def test_hk_from_batched_hvps_equals_dense_block_quadratic_form(layer):
    net = _tiny_tanh_net()
    g = torch.Generator().manual_seed(1)
    X = torch.randn(30, 5, generator=g, dtype=D)
    y = torch.randint(0, 3, (30,), generator=g)
    cap = na.capture_layer(net, layer, X, y)
    assert torch.allclose(cap.G, cap.autograd_grad, atol=1e-14)
    U, S, Vh = torch.linalg.svd(cap.G, full_matrices=False)
    h = na.directional_curvatures(cap, U, Vh.T)
    H = dense_hessian(cap.loss_of_weight, [cap.W.reshape(cap.weight_shape)])
    dirs = na.weight_directions(U, Vh.T, cap.weight_shape)
    ref = torch.einsum("pk,pq,qk->k", dirs, H, dirs)
    assert torch.allclose(h, ref, rtol=1e-10, atol=1e-13)
    ev, method = na.layer_block_eigenvalues(cap, 5, dense_max=10_000)
    ev2, method2 = na.layer_block_eigenvalues(cap, 5, dense_max=0)
    assert (method, method2) == ("dense", "lanczos")
    assert np.allclose(ev, torch.linalg.eigvalsh(H).flip(0)[:5].numpy(), atol=1e-10)
    assert np.allclose(ev, ev2, atol=1e-8)


def test_conv_im2col_gradient_and_row_major_directions():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, stride=1, dtype=D), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 16, 4, dtype=D)
    )
    X = torch.randn(6, 2, 4, 4, dtype=D)
    y = torch.randint(0, 4, (6,))
    cap = na.capture_layer(net, "0", X, y)
    assert cap.kind == "conv2d" and cap.positions == 16
    assert torch.allclose(cap.G, cap.autograd_grad, atol=1e-13)
    rep = na.analyse_capture(cap, k=5, eigen=True)
    H = dense_hessian(cap.loss_of_weight, [cap.W.reshape(cap.weight_shape)])
    U, S, Vh = torch.linalg.svd(cap.G, full_matrices=False)
    dirs = na.weight_directions(U[:, :5], Vh[:5].T, cap.weight_shape)
    assert np.allclose(rep.h, torch.einsum("pk,pq,qk->k", dirs, H, dirs).numpy(), rtol=1e-9, atol=1e-12)
    assert np.allclose(rep.h_kron, rep.Phi * rep.Lambda, rtol=1e-10)


def test_gauss_newton_kronecker_is_exact_for_one_sample_softmax_regression():
    # one sample through a single linear layer: H_ll = H_out (x) x x^T exactly (row-major, output first)
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 3, dtype=D))
    X = torch.randn(1, 4, dtype=D)
    y = torch.tensor([1])
    cap = na.capture_layer(net, "0", X, y, gauss_newton=True)
    H = dense_hessian(cap.loss_of_weight, [cap.W.reshape(cap.weight_shape)])
    CA = cap.A.T @ cap.A / cap.batch
    assert torch.allclose(H, torch.kron(cap.gn_output_factor, CA), atol=1e-13)
    p = torch.softmax(net(X), -1)[0].detach()
    assert torch.allclose(cap.gn_output_factor, torch.diag(p) - torch.outer(p, p), atol=1e-14)


def test_fits_and_bad_input():
    k = np.arange(1, 21, dtype=float)
    sigma = 3 * k**-0.7
    f = fit_alpha(sigma, 2 * sigma**1.8)
    assert f.exponent == pytest.approx(1.8, abs=1e-12) and f.r2 == pytest.approx(1.0)
    assert fit_gamma(sigma).exponent == pytest.approx(0.7, abs=1e-12)
    assert fit_decay((2 * sigma**1.8)[::-1]).exponent == pytest.approx(1.26, abs=1e-12)
    with pytest.raises(DlnkitInputError):
        fit_alpha([1.0, -1.0], [1.0, 2.0])
    with pytest.raises(DlnkitInputError):
        participation_ratio([0.0, 0.0])


@given(st.floats(1.05, 6.0), st.integers(1, 300))
def test_zeta_bound_on_anchored_power_law_windows(s, K):
    assert power_law_window_pr(s, K) <= zeta_bound(s) * (1 + 1e-12)


def test_zeta_bound_value_and_shifted_window_violation():
    assert zeta_bound(2.0) == pytest.approx(2.5, abs=1e-12)
    assert zeta_bound(0.9) == float("inf")
    assert power_law_window_pr(2.0, 100, start=30) > zeta_bound(2.0)


@given(st.integers(2, 6), st.integers(2, 6), st.integers(0, 10_000), st.sampled_from([1e-3, 0.1, 1.0]))
def test_transfer_identities_on_random_matrices(m, n, seed, d):
    g = torch.Generator().manual_seed(seed)
    G = torch.randn(m, n, generator=g, dtype=D)
    newton = torch.linalg.solve(G.T @ G + d * torch.eye(n, dtype=D), G.T).T
    assert torch.allclose(spectral_precondition(G, 2.0, d), newton, rtol=1e-8, atol=1e-10)
    # alpha = 1, d = 0: the polar factor G (G^T G)^{-1/2} on the row space
    ev, Q = torch.linalg.eigh(G.T @ G)
    keep = ev > 1e-10 * ev.max()
    polar = G @ (Q[:, keep] * ev[keep].rsqrt()) @ Q[:, keep].T
    assert torch.allclose(spectral_precondition(G, 1.0, 0.0), polar, atol=1e-8)
    assert torch.allclose(polar_factor(G), polar, atol=1e-8)


def test_spectral_newton_alpha1_is_orthogonalised_step():
    torch.manual_seed(0)
    W = nn.Parameter(torch.randn(4, 3, dtype=D))
    b = nn.Parameter(torch.zeros(4, dtype=D))
    opt = SpectralNewton([W, b], lr=0.1, alpha=1.0, damping=0.0, momentum=0.0)
    W0 = W.detach().clone()
    loss = ((W @ torch.ones(3, dtype=D) + b - 1) ** 2).sum() + (W**3).sum()
    loss.backward()
    G = W.grad.detach().clone()
    opt.step()
    assert torch.allclose(W0 - W.detach(), 0.1 * polar_factor(G), atol=1e-12)
    with pytest.raises(DlnkitInputError):
        SpectralNewton([W], lr=-1.0)


def test_measured_alphas_feed_spectral_newton_groups():
    net = _tiny_tanh_net(1)
    g = torch.Generator().manual_seed(2)
    X = torch.randn(40, 5, generator=g, dtype=D)
    y = torch.randint(0, 3, (40,), generator=g)
    alphas = na.measure_layer_alphas(net, X, y, k=3)
    assert set(alphas) == {"0", "2"} and all(np.isfinite(a) for a in alphas.values())
    groups = [{"params": [net[int(n)].weight], "alpha": max(a, 0.5)} for n, a in alphas.items()]
    opt = SpectralNewton(groups, lr=0.01)
    loss = torch.nn.functional.cross_entropy(net(X), y)
    loss.backward()
    opt.step()
    assert torch.nn.functional.cross_entropy(net(X), y) < loss
