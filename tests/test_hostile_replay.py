"""Hostile suite, replay and generated code: an invalid stored configuration is bad input (exit 2),
never "claim still fails"; a record edited to drop nothing is refused; ``--emit-test`` builds its
module as an AST from the record's values, so no text in a record runs when the test is imported,
odd claim ids still give a module that compiles, and records of unknown claims are refused.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import dlnkit as dk

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import one_line_error, record  # noqa: E402
from test_hostile_outputs import run_cli  # noqa: E402

SECTION = "replay and generated code"


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("rec")
    rc, out, err = run_cli(["counterexample", "B0", "--drop", "linear", "--max-examples", "20", "--out", str(d), "-q"])
    assert rc == 1, err
    return json.loads(next(d.glob("B0--drop-linear.json")).read_text())


def _write(tmp_path: Path, rec) -> Path:
    p = tmp_path / "edited.json"
    p.write_text(rec if isinstance(rec, str) else json.dumps(rec))
    return p


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: {**r, "config": {**r["config"], "dims": [True, 2]}},
        lambda r: {**r, "config": {**r["config"], "seed": "0"}},
        lambda r: {**r, "dropped": []},  # the tanh configuration, now claimed inside the assumptions
    ],
    ids=["bool-dims", "string-seed", "drop-nothing"],
)
def test_an_invalid_stored_configuration_is_bad_input_not_still_fails(good, tmp_path, edit):
    rc, out, err = run_cli(["replay", str(_write(tmp_path, edit(good)))])
    clear = rc == 2 and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), wrong_results=int(rc in (0, 1)))
    assert clear, (rc, out, err)


def test_an_infinite_dimension_is_bad_input(good, tmp_path):
    text = json.dumps({**good, "config": {**good["config"], "dims": [2, 1e999]}})  # json writes Infinity
    rc, out, err = run_cli(["replay", str(_write(tmp_path, text))])
    clear = rc == 2 and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), wrong_results=int(rc in (0, 1)))
    assert clear, (rc, out, err)


def test_emit_test_refuses_records_of_claims_that_do_not_exist(good, tmp_path):
    out = tmp_path / "test_x.py"
    rc, so, err = run_cli(["replay", str(_write(tmp_path, {**good, "claim": "Z99"})), "--emit-test", str(out)])
    clear = rc == 2 and one_line_error(err) and not out.exists()
    record(SECTION, inputs_tried=1, clear_errors=int(clear), wrong_results=int(out.exists()))
    assert clear, (rc, err)


def _import(path: Path):
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TRAP = '""" + __import__("pathlib").Path({marker!r}).write_text("ran") + """'


@settings(max_examples=max(5, 10), deadline=None, suppress_health_check=list(HealthCheck))
@given(claim_id=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12))
def test_emitted_tests_compile_and_never_run_record_text(tmp_path_factory, claim_id):
    """A user claim with any id (``B²``, quotes, backslashes, ...) whose record carries a
    ``dropped`` name and a config string with triple quotes: the emitted module compiles and
    importing it runs nothing from the record."""
    from dlnkit.engines.counterexample_records import regression_test_source

    d = tmp_path_factory.mktemp("emit")
    marker = d / "ran"
    trap = TRAP.format(marker=str(marker))
    cid = f"hostile-emit-{claim_id}"
    if cid not in dk.all_claims():
        dk.define_claim(
            id=cid,
            title="x is x",
            predict=lambda cfg: 1,
            measure=lambda cfg, device: 1 + cfg.get("shift", 0),
            strategy=st.fixed_dictionaries({"note": st.just("n")}),
            assumptions={"calm": ("shift is 0", {"shift": 0}, st.fixed_dictionaries({"shift": st.just(1)}))},
            tolerance=dk.Tolerance(atol=0.0, reason="integers: exact"),
        )
    rec = {
        "format": "dlnkit-counterexample/1",
        "claim": cid,
        "dropped": ["calm"],
        "config": {"note": trap, "shift": 1},
        "outcome": "fail",
    }
    source = regression_test_source(rec)
    path = d / "test_generated.py"
    path.write_text(source)
    compile(source, str(path), "exec")
    _import(path)
    ran = marker.exists()
    record(SECTION, inputs_tried=1, worked=int(not ran), wrong_results=int(ran))
    assert not ran, "importing the generated test ran code from the record"


def test_a_dropped_entry_with_triple_quotes_does_not_run_on_import(good, tmp_path):
    marker = tmp_path / "ran"
    name = TRAP.format(marker=str(marker))
    rec = {**good, "dropped": [name]}
    out = tmp_path / "test_gen.py"
    rc, so, err = run_cli(["replay", str(_write(tmp_path, rec)), "--emit-test", str(out)])
    # an assumption B0 does not have: refused; and if anything was written, importing it runs nothing
    if out.exists():
        _import(out)
    record(SECTION, inputs_tried=1, clear_errors=int(rc == 2), wrong_results=int(marker.exists()))
    assert not marker.exists()
    assert rc == 2 and one_line_error(err), (rc, err)
