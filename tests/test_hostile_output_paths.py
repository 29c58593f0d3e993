"""Hostile suite, output paths the output registry (dlnkit.records.outputs) must see through: one
file under two names (a symlinked folder, ``link/..``, a hard link), names too long for the file
system in a folder that does not exist yet, names with newlines, and temporaries left behind
for such names.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.records import outputs

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import assert_kept, one_line_error, record, snapshot  # noqa: E402
from test_hostile_outputs import good_record, run_cli  # noqa: E402, F401 - good_record: a fixture

SECTION = "output paths"
EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))

#: ways to name ``real/sub/x.png`` (or an existing file there) a second time
ALIASES = ("symlinked folder", "dotdot through a link", "hard link", "dot segments", "symlinked parent of parent")


def _alias(root: Path, kind: str, name: str) -> tuple[Path, Path]:
    """(first name, second name) of one file under ``root``, made the way ``kind`` says."""
    real = root / "real" / "sub"
    real.mkdir(parents=True)
    first = real / name
    if kind == "symlinked folder":
        (root / "link").symlink_to(real)
        return first, root / "link" / name
    if kind == "dotdot through a link":  # the kernel resolves link/.. to real, not to root
        (root / "link").symlink_to(real / "deeper", target_is_directory=True)
        (real / "deeper").mkdir()
        return first, root / "link" / ".." / name
    if kind == "hard link":
        first.write_bytes(b"the user's bytes")
        os.link(first, real / f"other-{name}")
        return first, real / f"other-{name}"
    if kind == "dot segments":
        return first, root / "real" / "." / "sub" / "." / name
    (root / "up").symlink_to(root / "real")
    return first, root / "up" / "sub" / name


@settings(max_examples=min(EXAMPLES, 15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(ALIASES), name=st.sampled_from(["x.png", "r.json", "é ü.png", "a\nb.png"]))
def test_one_file_under_two_names_is_one_output(kind, name):
    """``--json d1/x --plot d2/x`` with ``d2 -> d1`` wrote both options to one file: the second
    silently replaced the first (exit 0, one output lost)."""
    with tempfile.TemporaryDirectory(prefix="dlnkit-alias-") as tmp:
        root = Path(tmp).resolve()
        first, second = _alias(root, kind, name)
        before = snapshot(root)
        outputs.begin_run()
        try:
            outputs.claim_output(first, what="--json", overwrite=True)
            with pytest.raises(DlnkitInputError, match="same file") as info:
                outputs.claim_output(second, what="--plot", overwrite=True)
            assert "\n" not in str(info.value)
        finally:
            outputs.end_run()
        assert_kept(SECTION, before, root)
        assert not [p for p in root.rglob("*") if "dlnkit-lock" in p.name], "a lock outlived the run"
    record(SECTION, inputs_tried=1, clear_errors=1)


def _long_paths(root: Path) -> dict[str, Path]:
    return {
        "long folder in a missing folder": root / "missing" / ("x" * 300) / "r.json",
        "path over PATH_MAX": root.joinpath(*["y" * 200] * 25, "r.json"),
        "long file name": root / ("z" * 250 + ".json"),
    }


VERIFY = ["verify", "B0", "--examples", "0", "-q", "--json", "{p}"]
SPECTRUM = ["spectrum", "--dims", "3,3", "--rank", "1", "--plot", "{p}.png"]
GALLERY = ["counterexample", "B0", "--drop", "linear", "--max-examples", "5", "-q", "--out", "{p}"]


@pytest.mark.parametrize(
    "case,argv",
    [
        pytest.param(case, argv, id=f"{argv[0]}-{case}")
        for argv in (VERIFY, SPECTRUM, GALLERY)
        for case in ("long folder in a missing folder", "path over PATH_MAX", "long file name")
        if not (argv is GALLERY and case == "long file name")  # a 250-byte folder name is fine
    ],
)
def test_names_too_long_are_bad_input_before_the_work_and_make_no_folder(tmp_path, case, argv):
    """A folder name over NAME_MAX inside a folder that did not exist yet failed only when writing,
    after the work: exit 3 ("the machine refused"), the rows lost and the missing folders above it
    left behind; a whole path over PATH_MAX did the same. The file system's limits are known
    before the work: one line, exit 2, nothing made."""
    target = _long_paths(tmp_path)[case]
    (tmp_path / "mine.txt").write_text("keep")
    before_files, before_entries = snapshot(tmp_path), sorted(os.listdir(tmp_path))
    rc, out, err = run_cli([a.replace("{p}", str(target)) for a in argv])
    assert rc == 2 and one_line_error(err) and "too long" in err, (rc, err)
    assert sorted(os.listdir(tmp_path)) == before_entries, "a folder was made for an output that was refused"
    assert_kept(SECTION, before_files, tmp_path)
    record(SECTION, inputs_tried=1, clear_errors=1)


@pytest.mark.parametrize("name", ["a\nb.json", "tab\there.json", "trailing-newline.json\n"])
def test_names_with_newlines_are_written_and_their_stale_temporaries_cleaned(tmp_path, name):
    """A temporary left by a killed run writing a name with a newline was never recognised as
    dlnkit's (the pattern stopped at the newline) and stayed in the folder for good; a user's
    file of a similar name is still never touched."""
    stale = tmp_path / f".{name}.dlnkit-tmp-999999999-0123abcd"  # a pid that cannot be alive
    stale.write_text("half a record")
    users = [tmp_path / f".{name}.dlnkit-tmp-mine", tmp_path / f"{name}.dlnkit-tmp-999999999-0123abcd"]
    for u in users:
        u.write_text("the user's")
    target = tmp_path / name
    rc, out, err = run_cli(["verify", "B0", "--examples", "0", "-q", "--json", str(target)])
    assert rc == 0, err
    assert '"results"' in target.read_text()
    assert not stale.exists(), "a killed run's temporary outlived the next run on the same name"
    assert all(u.read_text() == "the user's" for u in users)
    assert not [p for p in tmp_path.iterdir() if "dlnkit-lock" in p.name]
    record(SECTION, inputs_tried=1, worked=1, faults_injected=1, faults_survived=1)


CLAIM_FILE = """
import dlnkit as dk
dk.define_claim(id="hostile-io-{n}", title="x is x", predict=lambda c: c["x"], measure=lambda c, d: c["x"],
                default_configs=[{"x": 1}], tolerance=dk.Tolerance(atol=0.0, reason="integers: exact"))
"""


def _input_as_output(root: Path, command: str, alias: str, record_text: str) -> tuple[list[str], Path]:
    """(argv, the input file) of a run whose output is its own input, named the way ``alias`` says."""
    real = root / "in"
    real.mkdir()
    name = {"verify": "mine.py", "replay": "rec.json", "sweep": "summary.json"}[command]
    src = real / name
    n = sum(map(ord, f"{command}{alias}"))  # its own claim id per case: one file per id in a process
    claim_id = f"hostile-io-{n}"
    texts = {
        "verify": CLAIM_FILE.replace("{n}", str(n)),
        "replay": record_text,
        "sweep": json.dumps({"claims": ["B0"], "configs": [{}]}),
    }
    src.write_text(texts[command])
    if alias == "same name":
        out = src
    elif alias == "hard link":
        out = real / f"again-{name}"
        os.link(src, out)
    else:  # the input named through a symlinked folder
        (root / "via").symlink_to(real)
        out = root / "via" / name
    argv = {
        "verify": ["verify", claim_id, "--from", str(src), "--examples", "0", "-q", "--json", str(out)],
        "replay": ["replay", str(src), "--emit-test", str(out)],
        "sweep": ["sweep", str(src), "--out", str(out.parent), "--executor", "serial", "-q"],
    }[command]
    if command == "sweep" and alias == "hard link":  # the summary's own name in the output folder
        os.unlink(out)
        out = real / "summary.json"
        argv = ["sweep", str(real / "cfg.json"), "--out", str(real), "--executor", "serial", "-q"]
        os.link(src, real / "cfg.json")
    return [*argv, "--force"], src


@pytest.mark.parametrize("alias", ["same name", "hard link", "symlinked folder"])
@pytest.mark.parametrize("command", ["verify", "replay", "sweep"])
def test_an_input_of_the_run_is_never_its_output_even_with_force(tmp_path, good_record, command, alias):  # noqa: F811
    """`verify --from mine.py --json mine.py --force` replaced the user's claim file with JSON (exit 0,
    the claims gone). An output that is a file the run reads, under any name, is refused before
    the work, --force or not."""
    argv, src = _input_as_output(tmp_path, command, alias, good_record.read_text())
    before = snapshot(tmp_path)
    rc, out, err = run_cli(argv)
    assert rc == 2 and one_line_error(err) and "an input of this run" in err, (rc, err)
    assert_kept(SECTION, before, tmp_path)
    record(SECTION, inputs_tried=1, clear_errors=1)


@settings(max_examples=min(EXAMPLES, 25), deadline=None)
@given(length=st.integers(150, 260), multibyte=st.booleans())
def test_every_name_the_registry_accepts_can_be_written_with_its_lock_and_temporaries(length, multibyte):
    """The limit on a name leaves room for dlnkit's own files beside it (the lock, the lock's
    temporary, a temporary with an image suffix): a name just under it was accepted and then
    failed when its lock's temporary was made."""
    name = ("é" * (length // 2) if multibyte else "n" * length) + ".json"
    with tempfile.TemporaryDirectory(prefix="dlnkit-len-") as tmp:
        outputs.begin_run()
        try:
            try:
                p = outputs.claim_output(Path(tmp) / name, what="--json")
            except DlnkitInputError as exc:
                assert "too long" in str(exc)
                record(SECTION, inputs_tried=1, clear_errors=1)
                return
            with outputs.atomic_output(p, suffix=".jpeg") as t:
                t.write_bytes(b"ok")
            assert p.read_bytes() == b"ok"
        finally:
            outputs.end_run()
        assert sorted(os.listdir(tmp)) == [name]
    record(SECTION, inputs_tried=1, worked=1)


@pytest.mark.parametrize("given_path", ["results/", "results//", "results/.", "missing/..", "."])
def test_an_output_file_named_as_a_folder_is_refused_before_the_work(tmp_path, monkeypatch, given_path):
    """`verify --json results/` wrote a *file* named `results` (exit 0): the user meant a folder,
    and the next `--json results/verify.json` then failed. A file output whose name ends with a
    folder separator (or `.`/`..`) is one line and exit 2; nothing is made."""
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_cli(["verify", "B0", "--examples", "0", "-q", "--json", given_path])
    assert rc == 2 and one_line_error(err) and "folder" in err, (rc, err)
    assert os.listdir(tmp_path) == []
    record(SECTION, inputs_tried=1, clear_errors=1)


def test_benchmark_records_never_replace_or_reuse_a_users_file(tmp_path, monkeypatch):
    """`dlnkit bench real_networks --out res.json` replaced an existing res.json after the work and
    wrote through a fixed `res.tmp` (a user's file of that name overwritten, then renamed away).
    The benchmark's record now goes through the output registry: claimed before the work, a
    fresh temporary."""
    import torch

    rn = pytest.importorskip("benchmarks.real_networks")  # a source checkout
    monkeypatch.setattr(rn, "slq_dln", lambda quick: {"P": 1, "rows": []})  # the work itself is not the point
    monkeypatch.setenv("BENCH_THREADS", str(torch.get_num_threads()))
    mine = tmp_path / "res.json"
    mine.write_text("the user's results")
    for name in ("res.tmp", "new.tmp", ".new.json.tmp"):
        (tmp_path / name).write_text("the user's")
    before = snapshot(tmp_path)
    outputs.begin_run()
    try:
        with pytest.raises(DlnkitInputError, match="already exists"):
            rn.main(["--out", str(mine), "--part", "slq", "--quick"])
        assert rn.main(["--out", str(tmp_path / "new.json"), "--part", "slq", "--quick"]) == 0
    finally:
        outputs.end_run()
    assert json.loads((tmp_path / "new.json").read_text())["part"] == "slq"
    assert_kept(SECTION, before, tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted([*before, "new.json"])
    record(SECTION, inputs_tried=2, clear_errors=1, worked=1)


def test_file_names_that_are_not_utf8_are_written_and_reported(tmp_path):
    """A file name in another encoding (bytes 0xff 0xfe: Python sees lone surrogates) as verify's
    --json and then as report's record and --out: report died after its work with exit 70
    (UnicodeEncodeError writing the page that names the record). Such characters are written as
    their backslash escapes."""
    rec = Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe.json"))
    page = Path(os.fsdecode(bytes(tmp_path) + b"/r\xff.html"))
    rc, out, err = run_cli(["verify", "B0", "--examples", "0", "-q", "--json", str(rec)])
    assert rc == 0, err
    rc, out, err = run_cli(["report", str(rec), "--out", str(page)])
    assert rc == 0, err
    text = page.read_text(encoding="utf-8")  # valid UTF-8 throughout
    assert "\\udcff\\udcfe.json" in text
    assert sorted(os.listdir(bytes(tmp_path))) == sorted([b"\xff\xfe.json", b"r\xff.html"])
    record(SECTION, inputs_tried=2, worked=2)


@pytest.mark.parametrize("argv", [VERIFY, GALLERY], ids=["verify --json", "counterexample --out"])
def test_a_symlink_loop_in_the_output_folder_is_bad_input_before_the_work(tmp_path, argv):
    """`a -> b -> a` and `--json a/x.json`: the claim saw no folder and let it through; making
    the folder failed after the work, exit 70 ("a bug in dlnkit") with FileExistsError / ELOOP."""
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "a").symlink_to("b")
    target = tmp_path / "a" / "deeper" / "x"
    rc, out, err = run_cli([a.replace("{p}", str(target)) for a in argv])
    assert rc == 2 and one_line_error(err) and "symbolic link" in err, (rc, err)
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]
    record(SECTION, inputs_tried=1, clear_errors=1)
