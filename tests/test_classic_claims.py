"""The classic-result claims (C1-C5) through the claim protocol: property tests over drawn
configurations (depths, widths, spectra, points, step sizes), the default configurations, the
exact rational routes, the assumption bookkeeping, and `dlnkit list`'s grouping."""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings

from dlnkit.claims import all_claims, get_claim
from dlnkit.claims.base import draw_configs

CLASSIC = [cid for cid in all_claims() if cid.startswith("C") and get_claim(cid).group == "classic"]
EXACT = [cid for cid in CLASSIC if get_claim(cid).has_exact_route]


def test_the_classic_families_are_registered():
    fams = {cid.split("-")[0] for cid in CLASSIC}
    assert fams == {"C1", "C2", "C3", "C4", "C5"}
    assert {"C1-step", "C2-balanced", "C3-mode-ODE", "C4-origin", "C4-saddles", "C5-top", "C5-stability"} <= set(
        CLASSIC
    )
    assert set(EXACT) >= {"C1-flow", "C1-step", "C3-mode-ODE", "C4-origin", "C4-saddles"}


@pytest.mark.parametrize("cid", CLASSIC)
def test_property_drawn_configurations_pass(cid):
    """Every configuration the claim's own strategy draws (all assumptions kept) passes."""
    claim = get_claim(cid)

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(claim.config_strategy())
    def prop(cfg):
        r = claim.check(cfg)
        assert r.status == "PASS", (cfg, r.predicted, r.measured, r.error, r.bound, r.message)
        assert not claim.violated_assumptions(cfg)

    prop()


@pytest.mark.parametrize("cid", CLASSIC)
def test_dropped_assumption_is_violated_by_the_drawn_configurations(cid):
    """The strategy and the violation bookkeeping agree: dropping A draws configurations violating A."""
    claim = get_claim(cid)
    for name in claim.assumption_names:
        for cfg in draw_configs(claim.config_strategy([name]), 3, seed=1):
            assert name in claim.violated_assumptions(cfg), (name, cfg)


@pytest.mark.parametrize("cid", EXACT)
def test_exact_route_zero_tolerance(cid):
    claim = get_claim(cid)
    for cfg in claim.default_configs()[:2]:
        r = claim.check(cfg, exact=True)
        assert r.status == "PASS" and r.error == 0.0 and r.bound == 0.0, (cfg, r.message)


def test_exact_route_catches_a_wrong_prediction(monkeypatch):
    claim = get_claim("C4-saddles")
    cfg = claim.default_configs()[0]
    monkeypatch.setattr(type(claim), "exact_predict", lambda self, c: sp.Matrix([4, 5]))
    r = claim.check(cfg, exact=True)
    assert r.status == "FAIL" and r.error == 1.0


def test_step_identity_with_momentum_is_not_the_identity():
    claim = get_claim("C1-step")
    cfg = {**claim.default_configs()[0], "momentum": 0.9}
    r = claim.check(cfg)
    assert r.status == "FAIL" and claim.violated_assumptions(cfg) == frozenset({"plain_gd"})


@pytest.mark.parametrize("lr", [0.01, 0.02])
def test_drift_constant_is_stable_across_step_sizes(lr):
    """C1's accumulated imbalance / eta is a constant K to O(eta): measured at eta and eta/2."""
    claim = get_claim("C1-drift-order")
    cfg = {"dims": [3, 4, 2], "seed": 0, "scale": 1.0, "lr": lr, "horizon": 1.0}
    m = claim.measure(cfg)
    half = claim.measure({**cfg, "lr": lr / 2})
    assert abs(m["constant"] / half["constant"] - 1) < 4 * lr  # O(eta) relative change


def test_stability_threshold_is_reached_not_exceeded():
    claim = get_claim("C5-stability")
    cfg = claim.default_configs()[0]
    m = claim.measure(cfg)
    assert m["outcome"] == "converged"
    assert m["balanced_sharpness"] <= m["sharpness"] <= 2 / m["lr"] * (1 + 1e-6)


def test_list_groups_classic_claims():
    from dlnkit.commands.list import grouped

    groups = dict(grouped(all_claims().values()))
    assert {c.id for c in groups["classic"]} >= set(CLASSIC)
    assert not any(c.id.startswith("C") for g, cs in groups.items() if g != "classic" for c in cs if c.id in CLASSIC)
