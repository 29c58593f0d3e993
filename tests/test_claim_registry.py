"""One protocol suite for every claim, driven by the registry: the built-in claims and user claims
loaded through the same loader ``dlnkit verify --from`` uses. A new claim is covered the moment it
is registered; no test keeps a hand-written list of ids.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from hypothesis import strategies as st

import dlnkit.claims as registry
from dlnkit.claims import all_claims, load_claims_from_file
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import PAPER_GROUPS, Assumption, Claim, Tolerance, draw_configs
from dlnkit.numerics.validation import DlnkitInputError

ROOT = Path(__file__).resolve().parent.parent
USER_CLAIM_FILES = [ROOT / "examples" / "symmetry_claims.py", ROOT / "tests" / "fixtures" / "false_claim.py"]


def _registered_claims() -> dict[str, Claim]:
    """Every built-in claim and the user claims of USER_CLAIM_FILES, loaded through the registry;
    the registry is left as it was (other tests see only the built-ins)."""
    before = dict(all_claims())
    users: dict[str, Claim] = {}
    for path in USER_CLAIM_FILES:
        users.update({c.id: c for c in load_claims_from_file(path)})
    loaded = dict(all_claims())
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)
    assert set(users) <= set(loaded) and not set(users) & set(before)
    return loaded


CLAIMS = _registered_claims()
IDS = sorted(CLAIMS)
BUILTIN_IDS = sorted(cid for cid, c in CLAIMS.items() if c.origin is None)


def test_the_registry_holds_built_in_and_user_claims():
    assert len(BUILTIN_IDS) >= 30  # the two papers and the classic results
    assert {CLAIMS[c].group for c in IDS} >= {*PAPER_GROUPS, "classic", "user"}


@pytest.mark.parametrize("cid", IDS)
def test_metadata(cid):
    c = CLAIMS[cid]
    assert isinstance(c, Claim) and c.id == cid and not any(ch.isspace() for ch in cid)
    assert c.title and c.source and c.kind in ("exact", "approximate")
    assert isinstance(c.tolerance, Tolerance) and c.tolerance.reason.strip(), "every tolerance states its reason"
    assert all(isinstance(a, Assumption) and a.statement for a in c.assumptions)
    assert len(set(c.assumption_names)) == len(c.assumption_names)


@pytest.mark.parametrize("cid", BUILTIN_IDS)
def test_built_in_assumptions_come_from_the_table(cid):
    """Each assumption is stated once (dlnkit.claims.assumptions); a built-in claim uses that statement."""
    for a in CLAIMS[cid].assumptions:
        assert ASSUMPTIONS.get(a.name) == a, f"{cid}: assumption {a.name!r} is not the table's"


@pytest.mark.parametrize("cid", IDS)
def test_data_hooks_name_only_the_claims_assumptions(cid):
    c = CLAIMS[cid]
    names = set(c.assumption_names)
    assert set(c.violations or {}) <= names | set(ASSUMPTIONS), "a violation predicate for an unknown assumption"
    assert set(c.explanations) <= names | set(ASSUMPTIONS)
    with pytest.raises(DlnkitInputError):
        c.check_drop(["no-such-assumption"])


@pytest.mark.parametrize("cid", IDS)
def test_configurations_are_json_and_the_strategy_draws(cid):
    c = CLAIMS[cid]
    for cfg in c.default_configs() + c.full_configs():
        assert json.loads(json.dumps(cfg)) == cfg
    strategy = c.config_strategy(())
    assert isinstance(strategy, st.SearchStrategy)
    if not c.slow:
        (cfg,) = draw_configs(strategy, 1, seed=0)
        assert json.loads(json.dumps(cfg)) == cfg
        violated = c.violated_assumptions(cfg)
        assert violated is None or violated == frozenset(), (
            f"{cid}: a config drawn with every assumption violates {violated}"
        )


@pytest.mark.parametrize("cid", [cid for cid in BUILTIN_IDS if not CLAIMS[cid].slow])
def test_default_configurations_pass(cid):
    """The rows of the default ``dlnkit verify`` (slow claims: the paper runs, in test_paper_2602)."""
    claim = CLAIMS[cid]
    assert claim.default_configs(), f"{cid} has no default configuration"
    for cfg in claim.default_configs():
        r = claim.check(cfg)
        assert r.status == "PASS", (cfg, r.predicted, r.measured, r.error, r.bound, r.message)


@pytest.mark.parametrize("cid", IDS)
def test_one_exact_protocol(cid):
    """The exact route is exact_predict / exact_measure / exact_compare; exact_check is not a hook."""
    c = CLAIMS[cid]
    assert type(c).exact_check is Claim.exact_check, "override exact_predict/exact_measure/exact_compare instead"
    assert "has_exact_route" not in vars(type(c)) or isinstance(vars(type(c))["has_exact_route"], property)
    if type(c).exact_measure is not Claim.exact_measure and c.origin is None:
        assert c.has_exact_route


def test_user_claim_exact_route_follows_its_definition():
    with_route = [c for c in CLAIMS.values() if c.origin is not None and c.has_exact_route]
    without = [c for c in CLAIMS.values() if c.origin is not None and not c.has_exact_route]
    assert with_route and without
    row = without[0].check(without[0].default_configs()[0] if without[0].default_configs() else {}, exact=True)
    assert row.status == "ERROR" and row.message.startswith("no exact route")


def _engine_files() -> list[Path]:
    """Everything in dlnkit/ outside the claims: configs, records, engines, commands and the facades."""
    return sorted(p for p in (ROOT / "dlnkit").rglob("*.py") if "claims" not in p.relative_to(ROOT).parts)


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            out.add(id(body[0].value))
    return out


def test_no_engine_names_a_claim():
    """No engine, record writer or command holds a claim id (any id in the registry), except as
    the argument of ``get_claim`` (a command that is one claim's front end, like ``dlnkit spectrum``)."""
    ids = set(CLAIMS)
    offenders = []
    for path in _engine_files():
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "get_claim":
                skip.update(id(a) for a in node.args)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                if node.value in ids:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
        for name in ("SLOW_CLAIMS", "BUILTIN_EXACT_ROUTES"):
            if name in path.read_text():
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders, "\n".join(offenders)


def test_the_guard_scans_the_engines():
    names = {p.relative_to(ROOT / "dlnkit").as_posix() for p in _engine_files()}
    assert {"engines/counterexample.py", "engines/sweep.py", "commands/verify.py", "records/report.py"} <= names
