"""The alignment claims: defaults and drawn configurations pass, and dropping an assumption can break
them (their metadata and hooks: the registry-driven suite, tests/test_claim_registry.py)."""

import pytest

from dlnkit.claims import all_claims, draw_configs

CHEAP = [
    "A2-kron-identity",
    "A2-decomposition",
    "A2-canonical-form",
    "A4-sdir",
    "A4-seig",
    "A5-zeta",
    "A6-preconditioner",
]


@pytest.mark.parametrize("cid", CHEAP)
def test_defaults_and_drawn_configs_pass(cid):
    c = all_claims()[cid]
    for cfg in c.default_configs()[:2] + draw_configs(c.config_strategy(), 2, seed=1):
        r = c.check(cfg)
        assert r.passed, (cid, cfg, r.measured, r.predicted, r.details)


def _finds_failure(cid, drop, n=12):
    c = all_claims()[cid]
    return any(not c.check(cfg).passed for cfg in draw_configs(c.config_strategy(drop=drop), n, seed=3))


@pytest.mark.parametrize(
    "cid,drop",
    [
        ("A2-kron-identity", ["row_major_order"]),
        ("A2-decomposition", ["same_index_set"]),
        ("A2-canonical-form", ["flat_residual"]),
        ("A4-sdir", ["pure_power_law"]),
        ("A5-zeta", ["top_anchored_window"]),
        ("A6-preconditioner", ["factor_bases_aligned", "vanishing_damping"]),
    ],
)
def test_dropping_an_assumption_can_break_the_claim(cid, drop):
    assert _finds_failure(cid, drop)


def test_dln_closed_form_fails_off_its_assumptions():
    c = all_claims()["A2-dln-closed-form"]
    base = c.default_configs()[1]
    assert c.check(base).passed
    assert not c.check({**base, "teacher_rotation": 1.0}).passed
    assert not c.check({**base, "anisotropy": 10.0}).passed
    assert not c.check({**base, "balance": 2.0, "layer": 1}).passed


def test_seig_differs_from_alpha_gamma_on_defaults():
    c = all_claims()["A4-seig"]
    r = c.check(c.default_configs()[0])
    assert r.passed and abs(r.details["alpha_gamma"] - c.predict(c.default_configs()[0])) > 0.1
