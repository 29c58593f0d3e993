"""Model zoo: data, models, deterministic training, cache by hash, and the alignment CLI on each model."""

import dataclasses
import json

import pytest
import torch

from dlnkit.cli import main
from dlnkit.numerics import zoo
from dlnkit.numerics.alignment import matrix_layers


@pytest.fixture
def fast_zoo(monkeypatch, tmp_path):
    """Every zoo model trained for one epoch, cached under a temporary directory."""
    monkeypatch.setenv("DLNKIT_CACHE", str(tmp_path))
    fast = {k: dataclasses.replace(v, epochs=1, batch_size=100) for k, v in zoo.SPECS.items()}
    monkeypatch.setattr(zoo, "SPECS", fast)
    real_load = zoo.load_data

    def small(name):
        d = real_load(name)
        return dataclasses.replace(
            d, X_train=d.X_train[:300], y_train=d.y_train[:300], X_test=d.X_test[:100], y_test=d.y_test[:100]
        )

    monkeypatch.setattr(zoo, "load_data", small)
    return tmp_path


def test_token_task_labels_and_digits_split():
    d = zoo.make_token_data(n_train=50, n_test=10)
    assert torch.equal(d.y_train, d.X_train[torch.arange(50), d.X_train[:, 0]])
    assert int(d.X_train[:, 0].min()) >= 1
    dig = zoo.load_data("digits")
    assert dig.X_train.shape[1:] == (1, 8, 8) and dig.X_train.shape[0] + dig.X_test.shape[0] == 1797
    assert float(dig.X_train.max()) <= 1.0


@pytest.mark.parametrize("name", zoo.MODELS)
def test_models_forward(name):
    data = zoo.load_data(zoo.SPECS[name].data)
    out = zoo.build_model(name)(data.X_train[:5])
    assert out.shape == (5, data.num_classes)


def test_training_is_deterministic_and_cached(fast_zoo):
    a = zoo.get_trained("mlp")
    b = zoo.get_trained("mlp")
    assert not a.from_cache and b.from_cache and a.path == b.path and a.path.parent.parent == fast_zoo
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = zoo.get_trained("mlp", retrain=True)
    for va, vc in zip(a.model.state_dict().values(), c.model.state_dict().values()):
        assert torch.equal(va, vc)
    assert zoo.get_trained("mlp", seed=1).path != a.path


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DLNKIT_CACHE", str(tmp_path / "x"))
    assert zoo.cache_dir() == tmp_path / "x"


@pytest.mark.parametrize("name", zoo.MODELS)
def test_alignment_cli_on_every_zoo_model(fast_zoo, name, capsys):
    layers = list(matrix_layers(zoo.build_model(name)))
    out_json = fast_zoo / f"{name}.json"
    rc = main(
        [
            "alignment",
            "--model",
            name,
            "--layers",
            f"{layers[0]},{layers[-1]}",
            "--k",
            "4",
            "--samples",
            "32",
            "--no-eigen",
            "-q",
            "--json",
            str(out_json),
            "--plot",
            str(fast_zoo / "plots"),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "alpha" in text and layers[-1] in text and "(reported)" in text
    rows = json.loads(out_json.read_text())["rows"]
    assert [r["layer"] for r in rows] == [layers[0], layers[-1]]
    assert all(
        abs(r["alpha_common"] - (r["slope_Lambda"] + r["slope_Phi"] + r["slope_chi"])) < 1e-9
        for r in rows
        if "slope_chi" in r
    )
    assert len(list((fast_zoo / "plots").glob(f"{name}-*.png"))) == 2


def test_alignment_cli_bad_input(fast_zoo, capsys):
    assert main(["alignment", "--model", "resnet"]) == 2
    assert main(["alignment", "--model", "cnn", "--data", "tokens"]) == 2
    assert main(["alignment", "--model", "mlp", "--layers", "nope", "--no-eigen"]) == 2
    assert "error" in capsys.readouterr().err


def test_spectral_newton_experiment_small(fast_zoo):
    from dlnkit.engines.spectral_newton_experiment import run_spectral_newton_experiment

    rep = run_spectral_newton_experiment(seeds=(0, 1), epochs=1, model="mlp")
    assert set(rep["summary"]) == {"spectral_newton", "adamw", "sgd"}
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in rep["runs"]) and len(rep["runs"]) == 6
    assert "superiority" in rep["verdict"] or "clears" in rep["verdict"]
