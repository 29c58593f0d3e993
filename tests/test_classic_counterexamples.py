"""Which assumptions of the classic results matter: dropping one that matters lets the
counterexample engine find (and shrink) a failure that violates it; dropping one that does not
matter leaves an empty search. (Searches are short here; the gallery runs 100 examples.)"""

from __future__ import annotations

import pytest

from dlnkit.claims import get_claim
from dlnkit.engines.counterexample import find_counterexample

MATTERS = [
    ("C1-flow", "linear"),
    ("C1-step", "plain_gd"),
    ("C1-relu-diagonal", "homogeneous_activation"),
    ("C2-balanced", "balanced"),
    ("C2-off-balance", "rescaling_orbit"),
    ("C3-mode-ODE", "whitened"),
    ("C3-mode-ODE", "balanced"),
    ("C3-mode-ODE", "aligned"),
    ("C3-learning-curve", "balanced"),
    ("C4-origin", "at_origin"),
    ("C4-saddles", "distinct_targets"),
    ("C5-top", "whitened"),
    ("C5-top", "balanced"),
    ("C5-flattest", "global_minimum"),
    ("C5-stability", "plain_gd"),
]
#: assumptions stated in the literature (or natural to assume) that these claims do not need
DOES_NOT_MATTER = [
    ("C1-flow", "squared_loss"),
    ("C1-flow", "whitened"),
    ("C1-step", "squared_loss"),
    ("C1-step", "whitened"),
    ("C2-balanced", "squared_loss"),
    ("C2-balanced", "whitened"),
    ("C4-origin", "whitened"),
    ("C4-origin", "linear"),
]


@pytest.mark.parametrize("cid,name", MATTERS, ids=[f"{c}-{n}" for c, n in MATTERS])
def test_dropping_an_assumption_that_matters_breaks_the_claim(cid, name):
    claim = get_claim(cid)
    res = find_counterexample(claim, [name], max_examples=40, seed=0, max_shrink_calls=40)
    assert res.found, res.summary()
    assert name in (res.violated or []), res.summary()
    assert res.counterexample.outcome == "miss", res.summary()  # a numerical miss, not a crash
    text = claim.explain([name], res.counterexample.config)
    assert text and "Not needed" not in text


@pytest.mark.parametrize("cid,name", DOES_NOT_MATTER, ids=[f"{c}-{n}" for c, n in DOES_NOT_MATTER])
def test_dropping_an_assumption_that_does_not_matter_leaves_an_empty_search(cid, name):
    claim = get_claim(cid)
    res = find_counterexample(claim, [name], max_examples=15, seed=0)
    assert not res.found, res.summary()
    assert res.unexplained is None
    assert claim.explain([name], {}).startswith("Not needed")
