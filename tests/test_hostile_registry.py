"""Hostile suite, the output registry (dlnkit.records.outputs): every writer of a run goes through it.

A file dlnkit did not write in this run is never replaced without --force (a project's README
under ``counterexample --gallery --out .``, a ``summary.json`` beside a sweep, an edited
notebook); two outputs of one run at the same path are refused before the work; a ``--from``
file that changes directory does not move the outputs; two concurrent runs writing the same
``--json`` never silently lose one run; temporaries have unique dlnkit names, a user's file named
like one is never touched, and a killed run's temporaries are cleaned by the next claim.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import assert_kept, one_line_error, record, snapshot  # noqa: E402
from test_hostile_outputs import run_cli  # noqa: E402

SECTION = "output registry"
EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))

QUICK_CLAIM = textwrap.dedent("""
    import os, time
    import dlnkit as dk
    def measure(cfg, device):
        if os.environ.get("HOSTILE_STARTED"):
            open(os.environ["HOSTILE_STARTED"], "a").close()
        go = os.environ.get("HOSTILE_GO")
        deadline = time.monotonic() + 300
        while go and not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.05)
        return cfg["x"]
    dk.define_claim(id="hostile-quick", title="x is x", predict=lambda cfg: cfg["x"], measure=measure,
                    default_configs=[{"x": 1}, {"x": 2}], tolerance=dk.Tolerance(atol=0.0, reason="exact"))
""")


@pytest.fixture(scope="module")
def claim_file(tmp_path_factory) -> Path:
    """One file for the module: a claim id can be registered from one file per process."""
    f = tmp_path_factory.mktemp("claim") / "quick_claim.py"
    f.write_text(QUICK_CLAIM)
    return f


def refused(rc: int, err: str) -> bool:
    clear = rc == 2 and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(rc == 70))
    return clear


def test_gallery_into_a_project_folder_never_replaces_its_readme(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# My project\n\nmy own words\n")
    (project / "B0--drop-linear.json").write_text('{"mine": "a file with a record name"}')
    before = snapshot(project)
    rc, out, err = run_cli(["counterexample", "B0", "--gallery", "--out", str(project), "--max-examples", "2"])
    assert refused(rc, err), (rc, err)
    assert "README.md" in err and "--force" in err
    assert_kept(SECTION, before, project)


def test_sweep_into_a_folder_with_someone_elses_summary_is_refused(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "summary.json").write_text('{"my": "own summary"}')
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"claims": ["B0"], "grid": {"dims": [[2, 2]]}}))
    before = snapshot(out)
    rc, so, err = run_cli(["sweep", str(cfg), "--out", str(out), "--executor", "serial", "-q"])
    assert refused(rc, err), (rc, err)
    assert_kept(SECTION, before, out)
    assert not (out / "cases").exists()  # refused before any case ran


def test_notebooks_never_replace_an_edited_notebook_without_force(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "01_tiny.py").write_text("# %%\nx = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "01_tiny.ipynb").write_text('{"edited": "by the user"}')
    before = snapshot(out)
    rc, so, err = run_cli(["notebooks", "--src", str(src), "--out", str(out), "--no-html", "-q"])
    assert refused(rc, err), (rc, err)
    assert_kept(SECTION, before, out)


@pytest.mark.parametrize("option", ["--json", "--plot"])
def test_two_outputs_of_one_run_at_the_same_path_are_refused_before_the_work(tmp_path, option):
    same = tmp_path / "same.png"
    argv = ["spectrum", "--model", "mlp", "--json", str(same), "--plot", str(same), "--top", "1"]
    rc, so, err = run_cli(argv)
    assert refused(rc, err), (rc, err)
    assert "same" in err and not same.exists()


@settings(max_examples=max(5, EXAMPLES // 2), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    names=st.lists(st.sampled_from(["a.json", "b.json", "./a.json", "sub/../a.json", "b.png"]), min_size=2, max_size=4),
    existing=st.sets(st.sampled_from(["a.json", "b.json", "b.png"])),
    force=st.booleans(),
)
def test_claims_of_one_run_model(tmp_path_factory, names, existing, force):
    """Drawn claims against a model: refused iff the path exists (not ours, no force) or another
    option of the same run already holds it; a refused claim changes no file."""
    from dlnkit.numerics.validation import DlnkitInputError
    from dlnkit.records import outputs

    d = tmp_path_factory.mktemp("claims")
    (d / "sub").mkdir()
    for n in existing:
        (d / n).write_text("the user's")
    before = snapshot(d)
    getattr(outputs, "begin_run", lambda: None)()
    held: dict[str, str] = {}
    try:
        for i, n in enumerate(names):
            what = f"--opt{i}"
            key = os.path.normpath(str(d / n))
            expect_refusal = (os.path.basename(key) in existing and not force) or key in held
            try:
                p = outputs.check_output_file(d / n, overwrite=force, what=what)
            except DlnkitInputError:
                record(SECTION, inputs_tried=1, clear_errors=1)
                assert expect_refusal, (names, existing, force, n)
                continue
            record(SECTION, inputs_tried=1, worked=1)
            assert not expect_refusal, (names, existing, force, n)
            held[str(p)] = what
    finally:
        getattr(outputs, "end_run", lambda: None)()
    assert snapshot(d) == before


def test_a_from_file_that_changes_folder_does_not_move_the_json(tmp_path, monkeypatch):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    f = tmp_path / "chdir_claim.py"
    f.write_text(QUICK_CLAIM.replace("hostile-quick", "hostile-chdir") + f"\nos.chdir({str(elsewhere)!r})\n")
    monkeypatch.chdir(home)
    rc, so, err = run_cli(["verify", "hostile-chdir", "--from", str(f), "--examples", "0", "-q", "--json", "r.json"])
    record(SECTION, inputs_tried=1, worked=int(rc == 0), wrong_results=int(not (home / "r.json").exists()))
    assert rc == 0, err
    assert (home / "r.json").exists() and not (elsewhere / "r.json").exists()


def test_concurrent_runs_writing_the_same_json_never_lose_one_silently(tmp_path, claim_file):
    f = claim_file
    target = tmp_path / "same.json"
    started = tmp_path / "started"
    go = tmp_path / "go"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HOSTILE_GO": str(go), "HOSTILE_STARTED": str(started)}
    argv = [sys.executable, "-m", "dlnkit", "verify", "hostile-quick", "--from", str(f), "--examples", "0", "-q"]
    first = subprocess.Popen([*argv, "--json", str(target)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not started.exists() and first.poll() is None:
        time.sleep(0.05)  # the first run is checking its claims: its --json was claimed before
    assert started.exists(), "the first run did not start"
    second = subprocess.run(
        [*argv, "--json", str(target)],
        env={**env, "HOSTILE_GO": "", "HOSTILE_STARTED": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    go.write_text("")  # now the first run may finish
    so, se = first.communicate(timeout=300)
    codes = (first.returncode, second.returncode)
    # either both rows sets survive (not possible in one file) or the later one is refused, clearly
    lost = codes == (0, 0)
    record(SECTION, inputs_tried=1, files_lost=int(lost), clear_errors=int(second.returncode == 2))
    assert not lost, "two concurrent runs both claimed success for one --json: one run's rows are lost"
    assert first.returncode == 0, se
    assert second.returncode == 2 and one_line_error(second.stderr), second.stderr
    assert len(json.loads(target.read_text())["results"]) == 2
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".same.json")]  # lock released


def test_a_killed_runs_temporaries_are_cleaned_and_user_files_named_alike_are_kept(tmp_path, claim_file):
    f = claim_file
    stale = tmp_path / ".r.json.dlnkit-tmp-999999999-0123abcd"  # pid that cannot be alive
    stale.write_text("half a record")
    users = [tmp_path / ".r.json.tmp", tmp_path / "r.json.tmp", tmp_path / ".r.json.dlnkit-tmp-mine"]
    for u in users:
        u.write_text("the user's")
    before = snapshot(tmp_path)
    rc, so, err = run_cli(
        ["verify", "hostile-quick", "--from", str(f), "--examples", "0", "-q", "--json", str(tmp_path / "r.json")]
    )
    assert rc == 0, err
    assert not stale.exists(), "a temporary of a killed run was left behind"
    assert_kept(SECTION, before, tmp_path, allowed={stale.name})
    record(SECTION, inputs_tried=1, worked=1, faults_injected=1, faults_survived=1)


def test_notebook_temporaries_never_take_a_users_file(tmp_path):
    pytest.importorskip("nbclient")
    src = tmp_path / "src"
    src.mkdir()
    (src / "01_tiny.py").write_text("# %%\nx = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("01_tiny.ipynb.tmp", "01_tiny.html.tmp"):
        (out / name).write_text("the user's file, named like a temporary")
    before = snapshot(out)
    rc, so, err = run_cli(["notebooks", "--src", str(src), "--out", str(out), "-q", "--no-html"])
    assert rc == 0, err
    assert_kept(SECTION, before, out)
    assert (out / "01_tiny.ipynb").exists()
    assert not [p.name for p in out.iterdir() if "dlnkit-tmp" in p.name]
    record(SECTION, inputs_tried=1, worked=1)
