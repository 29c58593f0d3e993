"""The CLI on a user's own model (defined in a file in tmp_path), weights and data (.pt and .npz):
`dlnkit spectrum --model ...` and `dlnkit alignment --model ...`, checked against the Python API,
and bad inputs as one line on stderr with exit 2."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

MODEL_SRC = textwrap.dedent("""
    import torch
    from torch import nn


    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 7, dtype=torch.float64), nn.ReLU(inplace=True),
                             nn.Linear(7, 6, dtype=torch.float64), nn.BatchNorm1d(6, dtype=torch.float64),
                             nn.Tanh(), nn.Linear(6, 3, dtype=torch.float64))


    def not_a_model():
        return 3
""")


def run_cli(args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "dlnkit", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.fixture()
def user_files(tmp_path):
    (tmp_path / "usermodels.py").write_text(MODEL_SRC)
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        import usermodels

        importlib.reload(usermodels)
        model = usermodels.make()
    finally:
        sys.path.remove(str(tmp_path))
    with torch.no_grad():  # weights that differ from the factory's: proves --weights is loaded
        for p in model.parameters():
            p.mul_(1.3)
        model[3].running_mean.fill_(0.1)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    g = torch.Generator().manual_seed(1)
    X = torch.randn(37, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (37,), generator=g)
    torch.save({"inputs": X, "targets": y}, tmp_path / "d.pt")
    np.savez(tmp_path / "d.npz", X=X.numpy(), y=y.numpy())
    return tmp_path, model.eval(), X, y


def test_spectrum_on_a_user_model_matches_the_api(user_files):
    from dlnkit.numerics.curvature import ModelCurvature

    d, model, X, y = user_files
    out = run_cli(
        [
            "spectrum",
            "--model",
            "usermodels:make",
            "--weights",
            "w.pt",
            "--data",
            "d.npz",
            "--batch-size",
            "10",
            "--probes",
            "2",
            "--steps",
            "10",
            "--top",
            "3",
            "--per-layer",
            "--json",
            "s.json",
            "--plot",
            "s.png",
            "-q",
        ],
        d,
    )
    assert out.returncode == 0, out.stderr
    rec = json.loads((d / "s.json").read_text())
    assert rec["num_samples"] == 37 and (d / "s.png").stat().st_size > 0
    H = ModelCurvature(model, torch.nn.CrossEntropyLoss(), (X, y)).dense()
    ev = torch.linalg.eigvalsh(H).flip(0)[:3]
    # Lanczos stops at residual 1e-8 * |lambda_max|; the eigenvalue error is below the residual
    np.testing.assert_allclose(rec["top"], ev.numpy(), atol=1e-7 * float(ev[0]))
    assert rec["trace"] == pytest.approx(float(torch.trace(H)), rel=0.5)  # Hutch++, 60 products: estimate
    assert set(rec["layers"]) == {"0", "2", "3", "5"}


def test_alignment_on_a_user_model_and_file_path_factory(user_files):
    from dlnkit.numerics.alignment import analyse_layer

    d, model, X, y = user_files
    out = run_cli(
        [
            "alignment",
            "--model",
            "usermodels.py:make",
            "--weights",
            "w.pt",
            "--data",
            "d.pt",
            "--k",
            "3",
            "--json",
            "a.json",
            "-q",
            "--samples",
            "37",
        ],
        d,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads((d / "a.json").read_text())["rows"]
    assert [r["layer"] for r in rows] == ["0", "2", "5"]
    ref = analyse_layer(model, "2", X, y, loss=torch.nn.CrossEntropyLoss(), k=3).summary()
    assert rows[1]["alpha"] == pytest.approx(ref["alpha"], abs=1e-9)


@pytest.mark.parametrize(
    "args",
    [
        ["spectrum", "--model", "usermodels:nosuch", "--data", "d.pt"],
        ["spectrum", "--model", "usermodels:not_a_model", "--data", "d.pt"],
        ["spectrum", "--model", "nosuchmodule:make", "--data", "d.pt"],
        ["spectrum", "--model", "usermodels:make", "--data", "missing.pt"],
        ["spectrum", "--model", "usermodels:make", "--data", "w.pt"],
        ["spectrum", "--model", "usermodels:make", "--weights", "d.pt", "--data", "d.pt"],
        ["spectrum", "--model", "usermodels:make", "--data", "d.pt", "--loss", "mse"],
        ["spectrum", "--model", "usermodels:make", "--data", "d.pt", "--plot", "w.pt"],
        ["spectrum", "--model", "usermodels:make", "--data", "d.pt", "--top", "0"],
        ["spectrum", "--model", "usermodels:make", "--dims", "3,3", "--data", "d.pt"],
        ["alignment", "--model", "usermodels:make", "--data", "d.pt", "--layers", "7"],
        ["alignment", "--model", "usermodels:make"],
    ],
    ids=lambda a: " ".join(a[2:]),
)
def test_bad_user_inputs_are_one_line_and_exit_2(user_files, args, monkeypatch, capsys):
    """In-process through dlnkit.cli.main (the same boundary as the console script, without a
    subprocess start-up per case); nothing in the folder is changed."""
    from dlnkit.cli import main

    d = user_files[0]
    monkeypatch.chdir(d)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert {p.name: p.stat().st_mtime_ns for p in d.iterdir() if p.name in before} == before
