"""dlnkit reproduce 2606.02596 (the curvature census): the quick set end to end through the CLI,
resumability per model, the checkpoint cache's digest, the verdicts' bands and labels."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dlnkit.claims.census_verdicts import DIFFERENT_SETUP, SENTENCES, bootstrap_median, evaluate

FIGS = ("alpha_by_role.png", "s_vs_alpha_gamma.png", "pr_vs_bound.png", "robustness.png")


def _cli(out: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DLNKIT_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "dlnkit", "reproduce", "2606.02596", "--out", str(out), "-q", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("census")
    out, cache = root / "out", root / "cache"
    return out, cache, _cli(out, cache)


def test_quick_set_writes_record_figures_and_labelled_verdicts(quick) -> None:
    out, _cache, res = quick
    assert res.returncode == 0, res.stderr[-2000:]
    rec = json.loads((out / "record.json").read_text())
    assert rec["kind"] == "census-2606.02596" and rec["label"] == DIFFERENT_SETUP
    for f in FIGS:
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ids = [v["id"] for v in rec["verdicts"]]
    assert ids == [s.id for s in SENTENCES] + ["spectral-newton"]
    for v in rec["verdicts"]:
        assert v["label"] == DIFFERENT_SETUP and v["band"] and v["band_reason"]
        assert v["status"] in ("holds", "does not hold", "not measured")
        assert "reported" in v
    # every output says different setup: the printout, the record, each run file
    assert DIFFERENT_SETUP in res.stdout
    for p in (out / "runs").glob("*.json"):
        assert json.loads(p.read_text())["label"] == DIFFERENT_SETUP
    assert json.loads((out / "optimiser_runs.json").read_text())["label"] == DIFFERENT_SETUP
    # each verdict's statistic is recomputed from the record's own rows by the same code
    again = evaluate(rec["rows"])
    assert [r["value"] for r in again] == pytest.approx([r["value"] for r in rec["verdicts"][:-1]], nan_ok=True)


def test_quick_rows_are_consistent(quick) -> None:
    out, _cache, _res = quick
    rec = json.loads((out / "record.json").read_text())
    rows = [r for r in rec["rows"] if "skipped" not in r]
    assert {r["family"] for r in rows} >= {"mlp", "cnn", "gpt"}
    assert {r["role"] for r in rows} >= {"conv", "attention", "mlp_up", "head"}
    assert not [r for r in rec["rows"] if "skipped" in r]  # every layer type of the quick set is analysed
    # the decoder's head is tied to its token embedding: one parameter, one row, under the embedding's name
    assert [r["layer"] for r in rows if r["family"] == "gpt" and r["role"] == "head"] == ["tok"]
    for r in rows:
        a, g = r["alpha"], r["gamma"]
        assert a["lo"] <= a["hi"] and a["n"] >= 5 and r["eig_converged"]
        # alpha is the LS slope of log h on log sigma: refit independently from the stored points
        sig, h = np.array(r["sigma"]), np.array(r["h"])
        keep = (sig > 0) & (h > 0)
        assert np.polyfit(np.log(sig[keep]), np.log(h[keep]), 1)[0] == pytest.approx(a["value"], rel=1e-9)
        assert r["alpha_gamma"]["value"] == pytest.approx(a["value"] * g["value"], rel=1e-12)
        assert np.all(np.diff(r["eigenvalues"]) <= 1e-12 * abs(r["eigenvalues"][0]))  # descending
        # the top eigenvalue of the block bounds every Rayleigh quotient h_k / ||u_k v_k^T||^2 = h_k
        assert max(r["h"]) <= r["eigenvalues"][0] * (1 + 1e-6)
        if math.isfinite(r["zeta_bound"]):
            assert r["zeta_bound"] >= 1.0
        assert 1.0 - 1e-9 <= r["PR_eig"] <= len(r["eigenvalues"]) + 1e-9


def test_rerun_resumes_per_model(quick, tmp_path: Path) -> None:
    out, cache, first = quick
    assert first.returncode == 0
    runs = sorted((out / "runs").glob("*.json"))
    assert len(runs) == 3
    before = {p.name: p.read_bytes() for p in runs}
    runs[0].unlink()  # as if the run had been interrupted before this model finished
    res = _cli(out, cache)
    assert res.returncode == 0, res.stderr[-2000:]
    after = {p.name: p.read_bytes() for p in sorted((out / "runs").glob("*.json"))}
    assert set(after) == set(before)
    for name in list(before)[1:]:
        assert after[name] == before[name]  # reused, not recomputed
    redone = json.loads(after[runs[0].name])
    assert redone["checkpoint_from_cache"] is True  # the trained model came from the cache


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "record.json").write_text("{}")
    res = _cli(out, tmp_path / "cache")
    assert res.returncode == 2 and "does not replace" in res.stderr
    assert (out / "record.json").read_text() == "{}"


def test_checkpoint_cache_is_digest_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlnkit.engines.census_zoo import CensusModelSpec, checkpoint_path, get_census_model

    spec = CensusModelSpec("mlp", "digits", 8, 1, 2, 2e-3)
    a = get_census_model(spec, cache=tmp_path)
    b = get_census_model(spec, cache=tmp_path)
    assert not a.from_cache and b.from_cache
    for (k, v), (k2, v2) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert not all(
        torch.equal(v, w) for v, w in zip(b.model.state_dict().values(), b.early.state_dict().values())
    )  # the early checkpoint is a different point (after 1 of 2 epochs)
    path = checkpoint_path(spec, tmp_path)
    blob = torch.load(path, weights_only=True)
    blob["state_dict"]["final/head.weight"][0, 0] += 1.0  # changed weights under the old digest
    torch.save(blob, path)
    c = get_census_model(spec, cache=tmp_path)
    assert not c.from_cache and "retraining" in capsys.readouterr().err
    d = get_census_model(spec, cache=tmp_path)
    assert d.from_cache  # the replaced file checks out again
    path.write_bytes(path.read_bytes()[:100])  # truncated: unreadable, retrained
    assert not get_census_model(spec, cache=tmp_path).from_cache


def test_bands_and_bootstrap() -> None:
    for s in SENTENCES:
        assert s.band.reason and s.band.lo <= s.band.hi
    med, lo, hi = bootstrap_median([1.0, 2.0, 3.0, 4.0, 100.0])
    assert med == 3.0 and lo <= med <= hi
    assert all(math.isnan(x) for x in bootstrap_median([]))
    # a census without any attention layer: that verdict is "not measured", never "holds"
    row = {
        "role": "conv",
        "alpha": {"value": 2.0, "n": 10},
        "alpha_window": {"value": 2.0},
        "err_dir": 0.01,
        "err_eig": 0.5,
        "PR_eig": 1.5,
        "zeta_bound": 2.0,
    }
    few = dict(row, alpha={"value": 9.0, "n": 4})  # a fit through 4 points: not counted
    v = {r["id"]: r for r in evaluate([row, dict(row, alpha={"value": 1.9, "n": 10}), few])}
    assert v["alpha-conv"]["layers"] == 2
    assert v["alpha-attention"]["status"] == "not measured"
    assert v["alpha-conv"]["status"] == "holds" and v["s-alpha-gamma-eig"]["status"] == "does not hold"


def test_recall_task_labels_follow_their_key() -> None:
    from dlnkit.numerics.census_data import make_recall_data

    d = make_recall_data(200, 0, 0, keys=6, values=5, n_pairs=3, seed=3)
    X, y = d.X_train, d.y_train
    for x, lab in zip(X, y):
        keys, vals = x[0:-1:2], x[1:-1:2]
        assert len(set(keys.tolist())) == 3 and bool((keys < 6).all()) and bool((vals >= 6).all())
        assert int(vals[(keys == x[-1]).nonzero()[0, 0]]) == int(lab)


def test_report_renders_the_census_record(quick, tmp_path: Path) -> None:
    out, _cache, res = quick
    assert res.returncode == 0
    html = tmp_path / "r.html"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "dlnkit", "report", str(out / "record.json"), "--out", str(html)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    import html as html_lib

    text = html_lib.unescape(html.read_text())
    for s in SENTENCES:
        assert f"census-{s.id}" in text
    assert DIFFERENT_SETUP in text and "(reported)" in text


def test_census_claims_read_the_record(quick) -> None:
    from dlnkit.claims.census_2606 import CLAIMS, census_record

    out, _cache, res = quick
    assert res.returncode == 0
    census_record.cache_clear()
    rec = census_record(str(out / "record.json"))
    assert rec["set"] == "quick"
    census_record.cache_clear()
    for c in CLAIMS:
        assert c.kind == "approximate" and c.default_configs() == []
        v = next(x for x in rec["verdicts"] if f"census-{x['id']}" == c.id)
        cmp = c.compare(c.predict({}), dict(v, values=[], set="quick"), {})
        assert cmp.passed == (v["status"] == "holds")
        assert DIFFERENT_SETUP in c.reported_value({})
