"""The sweep engine: expansion, resumability, atomic per-case results, the three executors, the CLI.

The claims here are tiny stand-ins defined in this file (the real ones are tested elsewhere);
they are module-level so process and Dask workers can unpickle them.
"""

import json
import math

import pytest
from hypothesis import strategies as st

from dlnkit.claims.base import Assumption, Claim, Tolerance
from dlnkit.cli import main
from dlnkit.engines.sweep import SweepCase, case_path, expand_cases, load_sweep_config, run_case, run_sweep
from dlnkit.numerics.validation import DlnkitInputError


class SquareClaim(Claim):
    """x * x computed two ways: predicted x**2, measured by repeated addition; negative x raise."""

    id = "test-square"
    title = "x^2 by addition"
    assumptions = (Assumption("small", "0 <= x <= 50"),)
    tolerance = Tolerance(atol=0.0, reason="integers: exact")
    #: read with a default (bias) or carried as a label (tag): a sweep refuses keys not declared
    optional_config_keys = ("bias", "tag")
    calls = 0

    def predict(self, config):
        return config["x"] ** 2

    def measure(self, config, device="cpu"):
        type(self).calls += 1
        if config["x"] < 0:
            raise ValueError("negative x")
        return sum(config["x"] for _ in range(config["x"])) + config.get("bias", 0)

    def config_strategy(self, drop=()):
        return st.fixed_dictionaries({"x": st.integers(0, 50)})


SQUARE = SquareClaim()


def test_expand_grid_fixed_configs_and_draw_deterministic():
    cfg = {
        "claims": ["test-square"],
        "grid": {"x": [1, 2, 3], "bias": [0, 1]},
        "fixed": {"tag": "a"},
        "configs": [{"x": 9}, {"x": 1, "bias": 0}],
        "draw": {"examples": 4, "seed": 3},
    }
    cases = expand_cases(cfg, {"test-square": SQUARE})
    grid = [c.config for c in cases[:6]]
    assert grid[0] == {"tag": "a", "x": 1, "bias": 0} and len({json.dumps(g, sort_keys=True) for g in grid}) == 6
    # {"x": 1, "bias": 0} repeats a grid point: not a second case
    assert sum(c.config == {"tag": "a", "x": 1, "bias": 0} for c in cases) == 1
    drawn = [c.config for c in cases[7:]]
    assert 1 <= len(drawn) <= 4 and all(0 <= d["x"] <= 50 and d["tag"] == "a" for d in drawn)
    again = expand_cases(cfg, {"test-square": SQUARE})
    assert [c.key for c in again] == [c.key for c in cases]
    assert len({c.key for c in cases}) == len(cases)


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"claims": []},
        {"claims": ["a"]},
        {"claims": ["a"], "grid": {"x": []}},
        {"claims": ["a"], "grid": {"x": [1]}, "colour": 1},
        {"claims": ["a"], "draw": {"examples": -1}},
    ],
)
def test_bad_sweep_configs_are_input_errors(bad):
    with pytest.raises(DlnkitInputError):
        expand_cases(bad)


def test_load_json_and_toml(tmp_path):
    j = tmp_path / "s.json"
    j.write_text(json.dumps({"claims": ["test-square"], "grid": {"x": [1, 2]}}))
    assert load_sweep_config(j)["grid"] == {"x": [1, 2]}
    t = tmp_path / "s.toml"
    t.write_text('claims = ["test-square"]\n[grid]\nx = [1, 2]\n')
    pytest.importorskip("tomllib")
    assert load_sweep_config(t)["grid"] == {"x": [1, 2]}
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(DlnkitInputError):
        load_sweep_config(tmp_path / "broken.json")
    with pytest.raises(DlnkitInputError):
        load_sweep_config(tmp_path / "missing.json")


def test_errors_are_recorded_not_raised():
    rec = run_case(SQUARE, {"x": -1})
    assert rec["status"] == "ERROR" and "negative x" in rec["message"] and not rec["passed"]
    assert run_case(SQUARE, {"x": 4})["status"] == "PASS"
    assert run_case(SQUARE, {"x": 4, "bias": 1})["status"] == "FAIL"


def test_serial_sweep_is_resumable_and_atomic(tmp_path):
    cases = [SweepCase("test-square", {"x": x}) for x in (0, 3, 5, -2)] + [
        SweepCase("test-square", {"x": 2, "bias": 1})
    ]
    claims = {"test-square": SQUARE}
    SquareClaim.calls = 0
    first = run_sweep(cases[:3], tmp_path, executor="serial", claims=claims, progress=False)
    assert (first.ran, first.skipped, first.passed) == (3, 0, 3) and SquareClaim.calls == 3
    # a leftover temporary file and a torn result must not count as finished
    case_path(tmp_path, cases[3]).write_text('{"key": "torn"')
    second = run_sweep(cases, tmp_path, executor="serial", claims=claims, progress=False)
    assert (second.skipped, second.ran) == (3, 2) and SquareClaim.calls == 5
    assert (second.passed, second.failed, second.errors) == (3, 1, 1)
    for c in cases:
        rec = json.loads(case_path(tmp_path, c).read_text())
        assert rec["key"] == c.key and rec["config"] == c.config
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["total"] == 5 and [x["key"] for x in summary["cases"]] == [c.key for c in cases]
    third = run_sweep(cases, tmp_path, executor="serial", claims=claims, progress=False, rerun=True)
    assert third.ran == 5 and SquareClaim.calls == 10


def test_process_pool_sweep(tmp_path):
    cases = [SweepCase("test-square", {"x": x}) for x in (2, 7)]
    s = run_sweep(cases, tmp_path, executor="process", workers=1, claims={"test-square": SQUARE}, progress=False)
    assert (s.ran, s.passed) == (2, 2)
    again = run_sweep(cases, tmp_path, executor="process", workers=1, claims={"test-square": SQUARE}, progress=False)
    assert (again.ran, again.skipped) == (0, 2)


def test_dask_local_cluster_sweep(tmp_path):
    pytest.importorskip("distributed")
    cases = [SweepCase("test-square", {"x": x}) for x in (1, 4, -3)]
    s = run_sweep(
        cases,
        tmp_path,
        executor="dask",
        workers=1,
        dask_processes=False,
        claims={"test-square": SQUARE},
        progress=False,
    )
    assert (s.ran, s.passed, s.errors) == (3, 2, 1)
    results = {tuple(r["config"].items()): r["result"] for r in s.results}
    assert results[(("x", 4),)]["measured"] == "16"
    assert math.isnan(results[(("x", -3),)]["error"])


def test_cli_sweep(tmp_path, capsys, monkeypatch):
    import dlnkit.claims

    dlnkit.claims.all_claims()  # load the built-ins first, then add the stand-in only for this test
    monkeypatch.setitem(dlnkit.claims._REGISTRY, "test-square", SQUARE)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({"claims": ["test-square"], "grid": {"x": [2, 3]}}))
    out = tmp_path / "out"
    assert main(["sweep", str(cfg), "--out", str(out), "--executor", "serial", "-q"]) == 0
    assert "2 run" in capsys.readouterr().out
    assert main(["sweep", str(cfg), "--out", str(out), "--executor", "serial"]) == 0
    text = capsys.readouterr().out
    assert "2 already done, 0 run" in text and "test-square" in text
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"claims": ["no-such-claim"], "grid": {"x": [1]}}))
    assert main(["sweep", str(bad), "--out", str(out)]) == 2
    assert "unknown claim" in capsys.readouterr().err
