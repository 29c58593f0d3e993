"""B1 in SymPy against itself (concrete derivation vs symbolic-depth formula) and against exact
Hessians (torch.func) on drawn balanced aligned minima."""

import dataclasses

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st

from dlnkit import strategies as dst
from dlnkit.claims.depth import measured_spectrum
from dlnkit.numerics import split_by_gaps
from dlnkit.numerics.point import aligned_minimum_point
from dlnkit.theory import (
    balanced_minimum_spectrum,
    balanced_minimum_spectrum_numeric,
    derive_jjt_aligned,
    dominant_eigenvalue,
    dominant_eigenvalue_closed_form,
    equal_targets_mean_ratio,
    read_off_spectrum,
)
from dlnkit.theory.symbols import L, t_i, t_j, target_symbols


def test_equal_target_ratio_simplifies_to_exactly_L():
    assert equal_targets_mean_ratio() == L  # structural equality, not a float comparison


@pytest.mark.parametrize(
    "dims, rank", [([3, 4, 2], 2), ([2, 5, 3, 4], 2), ([3, 3], 2), ([4, 3, 5, 6, 3], 3), ([2, 1, 3], 1)]
)
def test_concrete_derivation_matches_the_symbolic_depth_formula(dims, rank):
    t = target_symbols(rank)
    derived = read_off_spectrum(derive_jjt_aligned(dims, t), num_params=sum(a * b for a, b in zip(dims, dims[1:])))
    depth, n_in, n_out = len(dims) - 1, dims[0], dims[-1]
    groups = {g.name: g for g in balanced_minimum_spectrum(rank, n_in, n_out, depth)}
    expected = {}

    def add(v, k):
        v = sp.simplify(v)
        expected[v] = expected.get(v, 0) + int(k)

    for a in t:
        for b in t:
            add(groups["dominant"].value.subs({t_i: a, t_j: b}), 1)
        add(groups["bulk_first_layer"].value.subs(t_i, a), n_in - rank)
        add(groups["bulk_last_layer"].value.subs(t_i, a), n_out - rank)
    add(groups["complement"].value, (n_in - rank) * (n_out - rank))
    # the derivation reads J J^T (d_out d_in entries) plus structural zeros; compare nonzero parts and totals
    nonzero_expected = {k: v for k, v in expected.items() if k != 0 and v}
    nonzero_derived = {k: v for k, v in derived.items() if k != 0}
    assert {sp.simplify(k): v for k, v in nonzero_derived.items()} == nonzero_expected
    assert sum(derived.values()) - derived.get(0, 0) == sum(nonzero_expected.values())


@given(st.integers(1, 7), st.floats(0.2, 5.0), st.floats(0.2, 5.0))
def test_geometric_closed_form_equals_the_layer_sum(depth, a, b):
    layer_sum = float(dominant_eigenvalue(sp.Float(a), sp.Float(b), depth).doit())
    closed = float(dominant_eigenvalue_closed_form(sp.Float(a), sp.Float(b), depth))
    assert abs(layer_sum - closed) <= 1e-9 * max(1.0, abs(layer_sum))


@settings(max_examples=12)
@given(dst.depth_point_configs(max_depth=4, max_width=5))
def test_symbolic_spectrum_equals_exact_hessian_spectrum(cfg):
    pred = balanced_minimum_spectrum_numeric(cfg["dims"], cfg["t"])["all"]
    meas = measured_spectrum(aligned_minimum_point(cfg))
    # eigvalsh backward error ~ P eps ||H||; 1e-9 relative to the top eigenvalue
    assert np.max(np.abs(meas - pred)) <= 1e-9 * max(1.0, np.max(pred))


@settings(max_examples=8)
@given(dst.depth_point_configs(min_depth=2, max_depth=4, max_width=5), dst.seeds)
def test_spectrum_is_invariant_under_orthogonal_changes_of_hidden_bases(cfg, seed):
    point = aligned_minimum_point(cfg)
    Ws = point.weights
    g = torch.Generator().manual_seed(seed)
    rotated = list(Ws)
    for l in range(len(Ws) - 1):
        O, _ = torch.linalg.qr(torch.randn(Ws[l].shape[0], Ws[l].shape[0], generator=g, dtype=torch.float64))
        rotated[l] = O @ rotated[l]
        rotated[l + 1] = rotated[l + 1] @ O.T
    base = measured_spectrum(point)
    turned = measured_spectrum(dataclasses.replace(point, weights=rotated))
    assert not all(torch.allclose(a, b) for a, b in zip(Ws, rotated)) or len(Ws[0]) == 1
    assert np.max(np.abs(base - turned)) <= 1e-9 * max(1.0, np.max(np.abs(base)))


@settings(max_examples=10)
@given(dst.depth_point_configs(min_depth=2, max_depth=4, max_width=6, equal_targets=True))
def test_cluster_counts_from_gaps_match_the_theory(cfg):
    d, r = cfg["dims"], len(cfg["t"])
    ev = measured_spectrum(aligned_minimum_point(cfg))
    gaps = split_by_gaps(ev)
    assert gaps.counts["dominant"] == r * r
    assert gaps.counts["bulk"] == r * (d[0] + d[-1] - 2 * r)
    assert gaps.counts["negative"] == 0
    assert abs(gaps.ratio - (len(d) - 1)) <= 1e-9 * (len(d) - 1)
