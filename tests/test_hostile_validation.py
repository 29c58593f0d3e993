"""Hostile suite, the validation layer: every file and argument the command line reads, and the
public API's arguments, are checked where they come in. Bad input is one line and exit 2
(``DlnkitInputError`` in the API, never a raw IndexError/TypeError); the machine's state (disk
full, a file-size limit) is one line and exit 3; exit 70 never for these.
"""

from __future__ import annotations

import errno
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
