"""Hostile suite, the validation layer: every file and argument the command line reads, and the
public API's arguments, are checked where they come in. Bad input is one line and exit 2
(``DlnkitInputError`` in the API, never a raw IndexError/TypeError); the machine's state (disk
full, a file-size limit) is one line and exit 3; exit 70 never for these.
"""

from __future__ import annotations

import errno
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import dlnkit as dk
from dlnkit.numerics.validation import DlnkitInputError

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import one_line_error, record  # noqa: E402
from test_hostile_outputs import run_cli  # noqa: E402

SECTION = "validation"
EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))


def clear_exit(rc: int, err: str, codes=(2,)) -> bool:
    clear = rc in codes and one_line_error(err)
    record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(not clear))
    return clear


MODELS = textwrap.dedent("""
    import torch
    class Pair(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 4)
        def forward(self, x):
            return self.lin(x), x
    class Dict(Pair):
        def forward(self, x):
            return {"logits": self.lin(x)}
    def linear():
        return torch.nn.Linear(3, 4)
    def pair():
        return Pair()
    def as_dict():
        return Dict()
""")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("validation")
    (d / "hostile_models.py").write_text(MODELS)
    y = torch.zeros(40, dtype=torch.long)
    y[-1] = 9  # only the last label is out of range for 4 outputs
    torch.save({"inputs": torch.randn(40, 3), "targets": y}, d / "late_label.pt")
    torch.save({"inputs": torch.randn(8, 3), "targets": torch.zeros(8, dtype=torch.long)}, d / "ok.pt")
    np.savez(d / "strings.npz", inputs=np.array([["a", "b", "c"]] * 4), targets=np.array([0, 1, 2, 3]))
    return d


@pytest.mark.parametrize(
    "model,data",
    [("linear", "late_label.pt"), ("pair", "ok.pt"), ("as_dict", "ok.pt"), ("linear", "strings.npz")],
    ids=["label-out-of-range-late", "returns-tuple", "returns-dict", "npz-strings"],
)
def test_user_model_inputs_are_checked_at_the_door(folder, model, data):
    rc, out, err = run_cli(
        ["spectrum", "--model", f"{folder / 'hostile_models.py'}:{model}", "--data", str(folder / data), "--top", "1"]
    )
    assert clear_exit(rc, err), (rc, err)


@pytest.mark.parametrize(
    "name,content",
    [
        ("when.toml", 'claims = ["B0"]\n[grid]\nseed = [1979-05-27T07:32:00Z]\n'),
        ("latin.json", '{"claims": ["B0"], "grid": {"note": ["caf\xe9"]}}'),
        ("typo.json", '{"claims": ["B0"], "grid": {"dimz": [[2, 2]]}}'),
        ("nan.json", '{"claims": ["B0"], "grid": {"seed": [NaN]}}'),
    ],
    ids=["toml-datetime", "latin-1", "misspelled-key", "nan"],
)
def test_sweep_files_are_validated_before_any_case(tmp_path, name, content):
    f = tmp_path / name
    f.write_bytes(content.encode("latin-1"))
    rc, out, err = run_cli(["sweep", str(f), "--out", str(tmp_path / "out"), "--executor", "serial", "-q"])
    assert clear_exit(rc, err), (rc, err)
    assert not (tmp_path / "out" / "cases").exists()


@settings(max_examples=max(5, EXAMPLES // 4), deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.integers(200, 200_000), opener=st.sampled_from(["[", '{"a":']))
def test_deeply_nested_report_input_is_one_line(tmp_path_factory, depth, opener):
    d = tmp_path_factory.mktemp("deep")
    f = d / "deep.json"
    f.write_text(opener * depth)
    rc, out, err = run_cli(["report", str(f), "--out", str(d / "r.html")])
    assert clear_exit(rc, err), (rc, err)


def test_duplicate_claim_ids_in_one_file_are_refused(tmp_path):
    f = tmp_path / "dup.py"
    f.write_text(
        textwrap.dedent("""
        import dlnkit as dk
        for value in (1, 2):
            dk.define_claim(id="hostile-dup", title="twice", predict=lambda cfg: 1,
                            measure=lambda cfg, device, v=value: v, default_configs=[{"x": 1}],
                            tolerance=dk.Tolerance(atol=0.0, reason="exact"))
        """)
    )
    rc, out, err = run_cli(["verify", "--from", str(f), "--examples", "0", "-q"])
    assert clear_exit(rc, err), (rc, out, err)
    assert "twice" in err


@settings(max_examples=max(10, EXAMPLES), deadline=None, suppress_health_check=list(HealthCheck))
@given(rtol=st.floats(allow_nan=True, allow_infinity=True), atol=st.floats(allow_nan=True, allow_infinity=True))
def test_tolerance_refuses_negative_and_non_finite_numbers(rtol, atol):
    ok = all(math.isfinite(v) and v >= 0 for v in (rtol, atol))
    try:
        dk.Tolerance(rtol=rtol, atol=atol, reason="drawn")
    except DlnkitInputError:
        record(SECTION, inputs_tried=1, clear_errors=1, wrong_results=int(ok))
        assert not ok
        return
    record(SECTION, inputs_tried=1, worked=1, wrong_results=int(not ok))
    assert ok, f"Tolerance(rtol={rtol}, atol={atol}) was accepted"


def _curvature(model, loss, X, y, **kw):
    from dlnkit.numerics.curvature import ModelCurvature

    return ModelCurvature(model, loss, [(X, y)], **kw)


def test_api_refuses_mse_broadcasting_as_the_cli_does():
    model = torch.nn.Linear(3, 1).double()
    X, y = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    with pytest.raises(DlnkitInputError, match="shape"):
        _curvature(model, torch.nn.MSELoss(), X, y).loss_and_gradient()
    record(SECTION, inputs_tried=1, clear_errors=1)


def test_api_empty_params_is_a_clear_error():
    model = torch.nn.Linear(3, 2).double()
    X, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
    with pytest.raises(DlnkitInputError):
        _curvature(model, torch.nn.CrossEntropyLoss(), X, y, params=[]).loss_and_gradient()
    record(SECTION, inputs_tried=1, clear_errors=1)


def test_per_layer_blocks_exclude_frozen_parameters():
    from dlnkit.numerics.curvature import dense_layer_blocks

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    model[0].bias.requires_grad_(False)
    X, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
    curv = _curvature(model, torch.nn.CrossEntropyLoss(), X, y)
    blocks = dense_layer_blocks(curv)
    sizes = {k: v.shape[0] for k, v in blocks.items()}
    wrong = sizes.get("0") != 12
    record(SECTION, inputs_tried=1, worked=int(not wrong), wrong_results=int(wrong))
    assert sizes == {"0": 12, "2": 10}, sizes  # layer 0: its weight only (the bias is frozen)


ENOSPC_DRIVER = textwrap.dedent("""
    import errno, os, sys
    import dlnkit.cli
    real = os.fsync
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.fsync = full
    sys.exit(dlnkit.cli.main(sys.argv[1:]))
""")


@pytest.mark.parametrize("fault", ["ENOSPC", "EFBIG"])
def test_the_machines_state_is_exit_3_not_a_bug(tmp_path, fault):
    out = tmp_path / "r.json"
    argv = ["verify", "B0", "--no-defaults", "--examples", "1", "-q", "--json", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if fault == "ENOSPC":
        cmd = [sys.executable, "-c", ENOSPC_DRIVER, *argv]
        pre = None
    else:
        cmd = [sys.executable, "-m", "dlnkit", *argv]

        def pre():  # a 1-byte file-size limit (ulimit -f)
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))

    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, preexec_fn=pre)
    assert clear_exit(proc.returncode, proc.stderr, codes=(3,)), (proc.returncode, proc.stderr)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "dlnkit-tmp" in p.name]


def test_a_file_name_too_long_is_one_line(tmp_path):
    rc, out, err = run_cli(
        ["verify", "B0", "--no-defaults", "--examples", "1", "-q", "--json", str(tmp_path / ("x" * 300))]
    )
    assert clear_exit(rc, err, codes=(2, 3)), (rc, err)
    assert errno.ENAMETOOLONG  # the errno the kernel would give: refused before the work instead


# ----- hostile files at every path the command line reads ------------------------------------

HOSTILE_FILES = (
    "fifo",
    "folder",
    "link-to-dev-zero",
    "dangling-link",
    "link-loop",
    "empty",
    "nul-bytes",
    "latin-1",
    "bom-utf8",
    "utf-16",
    "sparse-huge",
)
#: the valid ones: the same content with a byte-order mark (an editor's choice), read as UTF-8
READABLE = ("bom-utf8", "utf-16")


def make_hostile_file(path: Path, kind: str, content: str) -> None:
    """Put a file of ``kind`` at ``path`` (``content``: the valid text it holds, where it holds any)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "link-to-dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dangling-link":
        path.symlink_to(path.parent / "nowhere" / "x.json")
    elif kind == "link-loop":
        path.symlink_to(path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "nul-bytes":
        path.write_bytes(b"\x00" * 64)
    elif kind == "latin-1":
        path.write_bytes(content.replace("}", ', "note": "caf\xe9"}', 1).encode("latin-1"))
    elif kind == "bom-utf8":
        path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    elif kind == "utf-16":
        path.write_bytes(content.encode("utf-16"))
    elif kind == "sparse-huge":
        with open(path, "wb") as fh:  # 100 GiB of holes: nothing is stored, a reader must not read it
            fh.truncate(100 * 2**30)
    else:  # pragma: no cover
        raise ValueError(kind)


class _Hung(Exception):
    pass


def run_with_alarm(argv, seconds: int = 60):
    """run_cli with SIGALRM as a hang detector: a command blocked on a FIFO fails the test (the
    alarm's exception reaches the CLI as an internal error) instead of hanging the suite."""
    import signal

    def ring(signum, frame):
        raise _Hung(f"dlnkit {' '.join(argv)} still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        return run_cli(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def verify_record(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("record") / "v.json"
    rc, _, err = run_cli(["verify", "B0", "--no-defaults", "--examples", "1", "-q", "--json", str(p)])
    assert rc == 0, err
    return p


SWEEP_TEXT = json.dumps({"claims": ["B0"], "configs": [{"dims": [2, 2], "seed": 1}]})
REPLAY_RECORD = Path(__file__).resolve().parents[1] / "counterexamples" / "B0--drop-linear.json"


def _reader_argv(reader: str, work: Path, target: Path, verify_record: Path) -> tuple[list[str], str, Path]:
    """(argv, the valid content of the file at ``target``, where the file goes) for one reader."""
    if reader == "sweep file":
        return ["sweep", str(target), "--out", str(work / "out"), "--executor", "serial", "-q"], SWEEP_TEXT, target
    if reader == "report record":
        return ["report", str(target), "--out", str(work / "r.html")], verify_record.read_text(), target
    if reader == "replay record":
        return ["replay", str(target)], REPLAY_RECORD.read_text(), target
    if reader == "--counterexamples entry":
        (work / "ce").mkdir()
        argv = ["report", str(verify_record), "--out", str(work / "r.html"), "--counterexamples", str(work / "ce")]
        return argv, REPLAY_RECORD.read_text(), work / "ce" / "x.json"
    if reader == "sweep summary.json":
        sweep = work / "s.json"
        sweep.write_text(SWEEP_TEXT)
        (work / "out").mkdir()
        argv = ["sweep", str(sweep), "--out", str(work / "out"), "--executor", "serial", "-q"]
        return argv, '{"someone": "else"}', work / "out" / "summary.json"
    if reader == "counterexample record":
        argv = ["counterexample", "B0", "--drop", "linear", "--max-examples", "2", "-q", "--out", str(work)]
        return argv, '{"someone": "else"}', work / "B0--drop-linear.json"
    raise ValueError(reader)  # pragma: no cover


@settings(max_examples=max(12, EXAMPLES // 2), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    kind=st.sampled_from(HOSTILE_FILES),
    reader=st.sampled_from(
        [
            "sweep file",
            "report record",
            "replay record",
            "--counterexamples entry",
            "sweep summary.json",
            "counterexample record",
        ]
    ),
)
def test_hostile_files_wherever_the_cli_reads(tmp_path_factory, verify_record, kind, reader):
    """A FIFO, folder, link to /dev/zero, dangling or looping link, empty, binary, Latin-1 or
    100 GiB sparse file at any path a command reads (its input, an entry of --counterexamples, a
    file already at an output path that dlnkit asks "did I write you?") is one line and exit 2,
    or is skipped; never a hang, a read of /dev/zero or exit 70. The same valid content with a
    UTF-8 BOM or as UTF-16 with its BOM is read. Seen before: a FIFO named x.json in
    ``report --counterexamples DIR`` hung the command for ever; a UTF-8 BOM sweep file was refused."""
    work = tmp_path_factory.mktemp("hostile-file")
    argv, content, target = _reader_argv(reader, work, work / "input.json", verify_record)
    make_hostile_file(target, kind, content)
    rc, out, err = run_with_alarm(argv)
    is_input = reader in ("sweep file", "report record", "replay record")
    must_work = (is_input and kind in READABLE) or reader == "--counterexamples entry"
    if rc in (0, 1):  # 1: replay says the record differs now / the counterexample search found one
        record(SECTION, inputs_tried=1, worked=1, wrong_results=int(is_input and kind not in READABLE))
        assert not (is_input and kind not in READABLE), f"{kind} {reader} accepted: {out}"
    else:
        assert clear_exit(rc, err, codes=(2,)), (kind, reader, rc, err)
        assert not must_work, f"a {kind} {reader} was refused: {err}"
    if kind == "fifo" or kind == "sparse-huge":
        assert target.is_fifo() if kind == "fifo" else target.stat().st_size == 100 * 2**30, "the file was replaced"


@pytest.mark.parametrize("kind", ["fifo", "latin-1", "folder", "nul-bytes"])
def test_hostile_notebook_sources_are_refused_before_any_runs(tmp_path, kind):
    """``notebooks --src DIR``: a FIFO named like a source hung the command (jupytext opened it);
    a Latin-1 source was exit 70 (UnicodeDecodeError). Now every source is read through the
    input layer before the first notebook executes: one line, exit 2, nothing written."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "01_fine.py").write_text("# %%\nx = 1\n")
    make_hostile_file(src / "02_bad.py", kind, '# %%\nprint("caf\u00e9")\n')
    out = tmp_path / "out"
    rc, _, err = run_with_alarm(["notebooks", "--src", str(src), "--out", str(out), "-q"], seconds=60)
    assert clear_exit(rc, err, codes=(2,)), (kind, rc, err)
    assert "02_bad.py" in err and not out.exists()
