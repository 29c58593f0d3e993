"""Hostile suite, outputs: the counterexample gallery never removes or changes a file it did not
regenerate (also under Ctrl-C and SIGKILL), replay says ERROR / invalid / no longer reproduces
with the right exit status, and verify turns a raising claim into an ERROR row while the other
rows and the JSON still come out.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import strategies as st

import dlnkit as dk
from dlnkit.cli import main
from dlnkit.numerics.validation import DlnkitInputError

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import assert_kept, one_line_error, record, snapshot  # noqa: E402

SECTION = "outputs"
TOL = dk.Tolerance(atol=0.0, reason="integers: exact")
CALLS = {"n": 0, "interrupt_at": None}


def _measure(cfg, device):
    CALLS["n"] += 1
    if CALLS["interrupt_at"] is not None and CALLS["n"] >= CALLS["interrupt_at"]:
        raise KeyboardInterrupt  # what Ctrl-C does in the middle of a check
    return cfg["x"] + cfg.get("shift", 0)


# x is measured as x + shift; the assumption "no_shift" keeps shift = 0, dropping it breaks the claim
GALLERY_CLAIM = dk.define_claim(
    id="hostile-gallery",
    title="x is x",
    predict=lambda cfg: cfg["x"],
    measure=_measure,
    strategy=st.fixed_dictionaries({"x": st.integers(0, 3)}),
    assumptions={"no_shift": ("shift is 0", {"shift": 0}, st.fixed_dictionaries({"shift": st.integers(1, 2)}))},
    tolerance=TOL,
    default_configs=[{"x": 1}],
)


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def _gallery_folder(tmp_path: Path) -> Path:
    d = tmp_path / "gallery"
    d.mkdir()
    (d / "notes.json").write_text('{"mine": true}')
    (d / "other--drop-x.json").write_text("not a record")
    (d / "README.md.bak").write_text("keep me")
    return d


def test_gallery_keeps_every_file_it_does_not_regenerate(tmp_path):
    from dlnkit.engines.gallery import generate_gallery

    d = _gallery_folder(tmp_path)
    before = snapshot(d)
    CALLS["interrupt_at"] = None
    res = generate_gallery(d, max_examples=10, claim_ids=["hostile-gallery"])
    assert any(r.found for r in res)
    rec = json.loads((d / "hostile-gallery--drop-no_shift.json").read_text())
    assert rec["claim"] == "hostile-gallery" and rec["config"]["shift"] >= 1
    assert_kept(SECTION, before, d)
    assert "notes.json" in (d / "README.md").read_text()  # listed, not removed
    again = snapshot(d)
    generate_gallery(d, max_examples=10, claim_ids=["hostile-gallery"])  # a rerun replaces only its own files
    regenerated = {"gallery-index.json", "README.md", "hostile-gallery--drop-no_shift.json"}
    assert_kept(SECTION, {k: v for k, v in again.items() if k not in regenerated}, d)
    record(SECTION, inputs_tried=2, worked=2)


def test_gallery_refuses_unknown_claims_before_any_work(tmp_path):
    d = _gallery_folder(tmp_path)
    before = snapshot(d)
    rc, out, err = run_cli(["counterexample", "B77", "--gallery", "--out", str(d)])
    assert rc == 2 and one_line_error(err)
    assert snapshot(d) == before
    rc, out, err = run_cli(["counterexample", "B0", "--gallery", "--out", str(d / "notes.json")])
    assert rc == 2 and one_line_error(err)
    assert snapshot(d) == before
    record(SECTION, inputs_tried=2, clear_errors=2, files_lost=0)


def test_ctrl_c_in_the_gallery_stops_and_never_reports_no_counterexample(tmp_path):
    from dlnkit.engines.gallery import INDEX, generate_gallery

    d = _gallery_folder(tmp_path)
    before = snapshot(d)
    CALLS["n"], CALLS["interrupt_at"] = 0, 3
    try:
        with pytest.raises(KeyboardInterrupt):
            generate_gallery(d, max_examples=50, claim_ids=["hostile-gallery"])
    finally:
        CALLS["interrupt_at"] = None
    assert CALLS["n"] == 3  # stopped at once: no further search started
    index = json.loads((d / INDEX).read_text())["searches"]
    assert all(e["interrupted"] for e in index.values() if not e["found"])
    readme = (d / "README.md").read_text()
    assert "interrupted" in readme and "none in" not in readme
    assert_kept(SECTION, before, d)
    record(SECTION, faults_injected=1, faults_survived=1)


GALLERY_DRIVER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import test_hostile_outputs as t
    from dlnkit.engines.gallery import generate_gallery
    def slow(cfg, device):
        with open(sys.argv[2], "a") as fh:
            fh.write("call\\n")
        time.sleep(0.2)
        return cfg["x"] + cfg.get("shift", 0)
    t.GALLERY_CLAIM._measure = slow
    generate_gallery(sys.argv[1], max_examples=200, claim_ids=["hostile-gallery"])
""")


def test_sigkill_mid_gallery_leaves_existing_files_intact(tmp_path):
    d = _gallery_folder(tmp_path)
    (d / "hostile-gallery--drop-no_shift.json").write_text(
        '{"format": "dlnkit-counterexample/1", "claim": "hostile-gallery", "old": 1}'
    )
    before = snapshot(d)
    script = tmp_path / "g.py"
    script.write_text(GALLERY_DRIVER.format(tests=str(Path(__file__).parent)))
    calls = tmp_path / "calls.txt"
    p = subprocess.Popen(
        [sys.executable, str(script), str(d), str(calls)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not calls.exists() or len(calls.read_text().split()) < 3):
        assert p.poll() is None, "the gallery ended before it could be killed"
        time.sleep(0.05)
    assert calls.exists(), "the gallery never started searching"
    p.send_signal(signal.SIGKILL)  # mid-search
    p.wait(timeout=10)
    after = snapshot(d)
    for name, digest in before.items():  # unchanged, or replaced by a complete record (atomic)
        if after.get(name) != digest:
            assert name.endswith(".json") and json.loads((d / name).read_text())["claim"] == "hostile-gallery"
    assert not [n for n in after if n.startswith(".") and n not in before], "temporary files left behind"
    record(SECTION, faults_injected=1, faults_survived=1, files_lost=0)


# ----- replay ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_record(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rec")
    rc, out, err = run_cli(["counterexample", "B0", "--drop", "linear", "--max-examples", "20", "--out", str(d), "-q"])
    assert rc == 1, err
    return next(d.glob("B0--drop-linear.json"))


def _edited(good: Path, tmp: Path, edit) -> Path:
    rec = json.loads(good.read_text())
    out = tmp / "edited.json"
    edited = edit(rec)
    out.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    return out


@pytest.mark.parametrize(
    "edit,code",
    [
        (lambda r: r, 0),
        (lambda r: {**r, "error_hex": float.hex(1.0)}, 1),  # no longer the stored numbers
        (lambda r: {**r, "config": {**r["config"], "activation": "linear"}}, 1),  # passes now
        (lambda r: {**r, "config": {**r["config"], "dims": [0, 1]}}, 2),  # invalid configuration
        (lambda r: {k: v for k, v in r.items() if k != "config"}, 2),  # missing key
        (lambda r: {**r, "claim": "B77"}, 2),
        (lambda r: {**r, "dropped": ["no-such-assumption"]}, 2),
        (lambda r: {**r, "config": {**r["config"], "dims": [1000000, 1000000]}}, 3),  # cannot be allocated
        (lambda r: "{not json", 2),
    ],
)
def test_replay_exit_status(good_record, tmp_path, edit, code):
    path = _edited(good_record, tmp_path, edit)
    rc, out, err = run_cli(["replay", str(path)])
    assert rc == code, out + err
    if code == 2:
        assert one_line_error(err)
    record(SECTION, inputs_tried=1, worked=int(code in (0, 1, 3)), clear_errors=int(code == 2))


@pytest.mark.parametrize("kind", ["folder", "binary", "missing"])
def test_replay_of_things_that_are_not_records(tmp_path, kind):
    target = tmp_path / "x.json"
    if kind == "folder":
        target.mkdir()
    elif kind == "binary":
        target.write_bytes(b"\xff\xfe\x00garbage")
    rc, out, err = run_cli(["replay", str(target)])
    assert rc == 2 and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=1)


# ----- verify ---------------------------------------------------------------------------------

USER_FILE = textwrap.dedent("""
    import dlnkit as dk
    dk.define_claim(id="hostile-raises", title="measure raises", predict=lambda cfg: 1.0,
                    measure=lambda cfg, device: 1 / 0, default_configs=[{"x": 1}],
                    tolerance=dk.Tolerance(atol=0.0, reason="exact"))
""")


def test_verify_turns_a_raising_claim_into_an_error_row_and_keeps_the_rest(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(USER_FILE)
    out = tmp_path / "r.json"
    rc, so, err = run_cli(
        ["verify", "B0", "hostile-raises", "--from", str(f), "--examples", "0", "-q", "--json", str(out)]
    )
    assert rc == 1
    rows = json.loads(out.read_text())["results"]
    assert {r["claim_id"]: r["status"] for r in rows}["hostile-raises"] == "ERROR"
    assert [r["status"] for r in rows if r["claim_id"] == "B0"] and all(
        r["status"] == "PASS" for r in rows if r["claim_id"] == "B0"
    )
    assert "ZeroDivisionError" in next(r["message"] for r in rows if r["claim_id"] == "hostile-raises")
    record(SECTION, inputs_tried=1, worked=1)


@pytest.mark.parametrize(
    "bad",
    [
        dict(title=""),
        dict(predict="x + 1"),
        dict(strategy=[1, 2]),
        dict(default_configs={"x": 1}),
        dict(default_configs=[1]),
        dict(assumptions={"has space": "s"}),
        dict(assumptions={"a": ("s", 5)}),
        dict(compare=3),
        dict(tolerance=1e-9),
    ],
)
def test_define_claim_refuses_broken_parts_when_defined(bad):
    kw = dict(
        id="hostile-broken", title="t", predict=lambda c: 0, measure=lambda c, d: 0, tolerance=TOL, register=False
    )
    with pytest.raises(DlnkitInputError) as info:
        dk.define_claim(**{**kw, **bad})
    assert "\n" not in str(info.value)
    record(SECTION, inputs_tried=1, clear_errors=1)


def test_output_paths_checked_before_the_work(tmp_path):
    foreign = tmp_path / "foreign.json"
    foreign.write_text("someone's data")
    before = snapshot(tmp_path)
    for argv in (
        ["verify", "B0", "--json", str(foreign)],
        ["verify", "B0", "--json", str(tmp_path)],
        ["spectrum", "--dims", "3,3", "--rank", "1", "--plot", str(foreign)],
        ["replay", str(foreign), "--emit-test", str(foreign)],
    ):
        t0 = time.perf_counter()
        rc, so, err = run_cli(argv)
        assert rc == 2 and one_line_error(err), (argv, err)
        assert time.perf_counter() - t0 < 5, "refused only after the work"
    assert_kept(SECTION, before, tmp_path)
    record(SECTION, inputs_tried=4, clear_errors=4)


EXACT_FILE = textwrap.dedent("""
    import dlnkit as dk
    dk.define_claim(id="hostile-exact-raises", title="exact route raises", predict=lambda cfg: 1.0,
                    measure=lambda cfg, device: 1.0, exact_measure=lambda cfg: 1 / 0,
                    default_configs=[{"dims": [2, 2], "seed": 0}],
                    tolerance=dk.Tolerance(atol=1e-12, reason="exact"))
""")


def test_verify_exact_with_a_raising_exact_route_is_an_error_row(tmp_path):
    f = tmp_path / "exact.py"
    f.write_text(EXACT_FILE)
    out = tmp_path / "x.json"
    rc, so, err = run_cli(
        [
            "verify",
            "hostile-exact-raises",
            "B0",
            "--from",
            str(f),
            "--exact",
            "--examples",
            "0",
            "-q",
            "--json",
            str(out),
        ]
    )
    rows = json.loads(out.read_text())["results"]
    status = {r["claim_id"]: r["status"] for r in rows}
    assert status.get("hostile-exact-raises") == "ERROR" and status.get("B0") == "PASS", status
    assert rc == 1
    record(SECTION, inputs_tried=1, worked=1)
