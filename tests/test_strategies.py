"""Each public strategy's outputs have the property it promises."""

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from dlnkit import build_point, strategies as ds
from dlnkit.exact import exact_point, float_point

#: float64 identities on O(1) matrices of size <= 6: rounding is ~1e-15; 1e-10 leaves room
TOL = 1e-10


def imbalance(Ws):
    return max([float((b.T @ b - a @ a.T).abs().max()) for a, b in zip(Ws, Ws[1:])] or [0.0])


def end_to_end(Ws):
    out = Ws[0]
    for W in Ws[1:]:
        out = W @ out
    return out


@given(
    st.integers(1, 6)
    .flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n)))
    .flatmap(lambda nk: ds.orthogonal_matrices(*nk))
)
def test_orthogonal_matrices_have_orthonormal_columns(Q):
    assert np.allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=TOL)


@given(st.integers(1, 5).flatmap(lambda d: ds.whitened_data(d)))
def test_whitened_data_has_identity_covariance(X):
    B, d = X.shape
    assert B >= d
    assert np.allclose(X.T @ X / B, np.eye(d), atol=TOL)


@given(st.integers(2, 5).flatmap(lambda d: ds.anisotropic_data(d)))
def test_anisotropic_data_has_the_promised_condition_number(Xk):
    X, k = Xk
    ev = np.linalg.eigvalsh(X.T @ X / X.shape[0])
    assert abs(ev.max() / ev.min() - k) <= 1e-8 * k
    assert abs(np.prod(ev) - 1.0) <= 1e-8


@settings(max_examples=10)
@given(ds.balanced_aligned_points(max_depth=4, max_width=5))
def test_balanced_aligned_points_are_balanced_global_minima(cfg):
    p = build_point(cfg)
    assert imbalance(p.weights) <= TOL
    assert float((end_to_end(p.weights) - p.target).abs().max()) <= TOL
    assert torch.allclose(p.sigma, torch.eye(p.sigma.shape[0], dtype=torch.float64))
    # aligned: every layer has the singular values t^(1/L) (and zeros)
    L = len(cfg["dims"]) - 1
    want = sorted([x ** (1 / L) for x in cfg["t"]], reverse=True)
    for W in p.weights:
        s = torch.linalg.svdvals(W).numpy()
        assert np.allclose(s[: len(want)], want, atol=TOL) and np.all(s[len(want) :] <= TOL)


@settings(max_examples=10)
@given(ds.global_minima(balanced=False, whitened=False, max_depth=3, max_width=4))
def test_unbalanced_anisotropic_minima_are_still_minima(cfg):
    p = build_point(cfg)
    assert imbalance(p.weights) > 1e-3
    assert not torch.allclose(p.sigma, torch.eye(p.sigma.shape[0], dtype=torch.float64))
    grad = end_to_end(p.weights) @ p.sigma - p.cross  # gradient w.r.t. the end-to-end map
    assert float(grad.abs().max()) <= TOL


@settings(max_examples=10)
@given(ds.global_minima(aligned=False, max_depth=3, max_width=4))
def test_misaligned_minima_are_minima(cfg):
    p = build_point(cfg)
    assert cfg["misalignment"] > 0
    assert float((end_to_end(p.weights) - p.target).abs().max()) <= 1e-9


@settings(max_examples=10)
@given(ds.near_minimum_points(max_offset=0.2, max_depth=3, max_width=4))
def test_near_minimum_points_have_a_small_nonzero_residual(cfg):
    p = build_point(cfg)
    res = float(torch.linalg.norm(end_to_end(p.weights) - p.target))
    m = float(torch.linalg.norm(p.target))
    assert 0 < res <= 0.2 * m * (1 + 1e-9)


@settings(max_examples=10)
@given(ds.generic_points(max_depth=3, max_width=4))
def test_generic_points_are_whitened_and_off_minimum(cfg):
    p = build_point(cfg)
    assert torch.allclose(p.sigma, torch.eye(p.sigma.shape[0], dtype=torch.float64))
    assert [tuple(W.shape) for W in p.weights] == [(b, a) for a, b in zip(cfg["dims"], cfg["dims"][1:])]


@settings(max_examples=10)
@given(ds.rational_points(max_depth=3, max_width=3))
def test_rational_points_are_the_same_point_exactly_and_in_float64(cfg):
    pt = exact_point(cfg)
    assert all(x.is_Rational for W in pt["weights"] for x in W)
    fp, bp = float_point(pt), build_point(cfg)
    assert all(torch.equal(a, b) for a, b in zip(fp.weights, bp.weights))


@settings(max_examples=10)
@given(ds.small_enough(ds.depth_point_configs(max_depth=4, max_width=6), 30))
def test_legacy_depth_point_configs_and_small_enough(cfg):
    d = cfg["dims"]
    assert sum(a * b for a, b in zip(d, d[1:])) <= 30
    r = len(cfg["t"])
    assert r <= min(d[0], d[-1]) and all(r <= h for h in d[1:-1]) and r < max(d[0], d[-1])
    assert all(x > 0 for x in cfg["t"])


@given(ds.target_spectra(3, equal=False))
def test_unequal_target_spectra(t):
    assert len(set(t)) >= 2 and t == sorted(t, reverse=True)
