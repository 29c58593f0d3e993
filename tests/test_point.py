"""One point: the float64 builders of numerics/point.py and the rational exact_point mean the same
thing by every option, checked against what each option promises (not against our own output)."""

import torch
from hypothesis import given, settings, strategies as st
from torch.testing import assert_close

from dlnkit import strategies as dst
from dlnkit.exact import exact_point, float_point
from dlnkit.numerics.dln_hessian import partial_products
from dlnkit.numerics.point import (
    aligned_layer_point,
    aligned_minimum_point,
    build_point,
    input_covariance,
    layer_offsets,
    num_params,
    point_from_weights,
    random_batch_point,
)
from dlnkit.theory.exact_hessian import exact_layer_offsets, exact_num_params, partial_products_exact

# float64 products of O(1) matrices over a few layers: rounding ~1e-15 relative; 1e-12 leaves room
TOL = dict(rtol=1e-12, atol=1e-12)


def _imbalance(Ws):
    return max(
        [float(torch.linalg.norm(Ws[k + 1].T @ Ws[k + 1] - Ws[k] @ Ws[k].T)) for k in range(len(Ws) - 1)] or [0.0]
    )


@settings(max_examples=10)
@given(dst.depth_point_configs(min_depth=1, max_depth=4, max_width=5))
def test_aligned_minimum_is_a_balanced_global_minimum_with_whitened_data(cfg):
    pt = aligned_minimum_point(cfg)
    if min([len(cfg["t"])] + cfg["dims"][1:-1]) == len(cfg["t"]):  # no bottleneck below the rank
        assert_close(pt.end_to_end, pt.target, **TOL)
    assert _imbalance(pt.weights) <= 1e-10
    assert_close(pt.X.T @ pt.X / pt.X.shape[0], torch.eye(cfg["dims"][0], dtype=torch.float64), **TOL)
    assert pt.num_params == num_params(cfg["dims"])


@settings(max_examples=10)
@given(
    dst.depth_point_configs(min_depth=2, max_depth=4, max_width=5),
    st.sampled_from([0.5, 2.0]),
    st.sampled_from([0.1, 0.4]),
)
def test_balance_and_misalignment_keep_the_end_to_end_map_but_not_the_balance(cfg, c, e):
    base = aligned_minimum_point(cfg)
    for knob in ({"balance": c}, {"misalignment": e}):
        pt = aligned_minimum_point({**cfg, **knob})
        assert_close(pt.end_to_end, base.end_to_end, rtol=1e-10, atol=1e-10)  # an inverse in between
        assert _imbalance(pt.weights) > 1e-8


def test_offset_scales_the_last_layer_and_anisotropy_colours_the_batch():
    cfg = {"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0}
    base = aligned_minimum_point(cfg)
    off = aligned_minimum_point({**cfg, "offset": 0.1})
    assert_close(off.weights[-1], 1.1 * base.weights[-1], **TOL)
    for build in (aligned_minimum_point, random_batch_point):
        pt = build({**cfg, "anisotropy": 9.0})
        assert_close(pt.X.T @ pt.X / pt.X.shape[0], input_covariance(3, 9.0, 0), **TOL)
    ev = torch.linalg.eigvalsh(input_covariance(3, 9.0, 0))
    assert_close(ev, torch.tensor([1 / 3, 1.0, 3.0], dtype=torch.float64), **TOL)  # [1/sqrt k, sqrt k]


def test_aligned_layer_point_is_balanced_with_the_given_layer_singular_values():
    pt = aligned_layer_point({"dims": [4, 5, 5, 3], "s": [1.2, 0.7], "t": [2.0, 0.5], "seed": 1})
    assert _imbalance(pt.weights) <= 1e-10
    for W in pt.weights:
        assert_close(torch.linalg.svdvals(W)[:2], torch.tensor([1.2, 0.7], dtype=torch.float64), **TOL)
    assert_close(torch.linalg.svdvals(pt.target)[:2], torch.tensor([2.0, 0.5], dtype=torch.float64), **TOL)


def test_weights_given_as_fractions_and_the_dispatch():
    pt = point_from_weights({"weights": [[["1/2", 1], [0, "-3/4"]]], "target": [[1, 0], [0, 1]]})
    assert_close(pt.weights[0], torch.tensor([[0.5, 1.0], [0.0, -0.75]], dtype=torch.float64))
    assert build_point({"dims": [2, 3, 1], "t": [1.0], "seed": 0}).t == [1.0]
    assert build_point({"dims": [2, 3, 1], "s": [1.0], "t": [1.0], "seed": 0}).X.shape[0] == 4 * 2 + 4
    assert build_point({"dims": [2, 3, 1], "seed": 0}).X is None


@settings(max_examples=8)
@given(
    dst.depth_point_configs(min_depth=1, max_depth=3, max_width=3),
    st.sampled_from([1.0, 2.0]),
    st.sampled_from([1.0, 4.0]),
)
def test_exact_point_means_the_same_options(cfg, c, k):
    cfg = {**cfg, "balance": c, "anisotropy": k}
    ex = exact_point(cfg)
    fl = float_point(ex)
    dims = cfg["dims"]
    assert ex["dims"] == dims and exact_num_params(dims) == num_params(dims)
    assert exact_layer_offsets(dims) == layer_offsets(dims)
    # the rational minimum has the rational target singular values t' = s^L (hidden widths >= r)
    if min([len(cfg["t"])] + dims[1:-1]) == len(cfg["t"]):
        assert_close(fl.end_to_end, fl.target, **TOL)
    # same anisotropy: Sigma's eigenvalues are rational(k^(u - 1/2)), spread over about [1/sqrt k, sqrt k]
    ev = torch.linalg.eigvalsh(fl.sigma)
    assert float(ev.max() / ev.min()) <= k * 1.2 and (k == 1.0) == bool(torch.allclose(ev, torch.ones_like(ev)))
    # partial products: the exact and the float routes agree on the same rational point
    P, Q = partial_products(fl.weights)
    Pe, Qe = partial_products_exact(ex["weights"])
    for a, b in zip(P + Q, Pe + Qe):
        assert_close(a, torch.tensor([[float(x) for x in row] for row in b.tolist()], dtype=torch.float64), **TOL)
