"""``dlnkit report``: the HTML report is one self-contained file whose structure holds every row,
every claim and every plot the record supports, with each plot embedded (no external URL)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dlnkit.cli import main


class _Collect(HTMLParser):
    """Tags with their attributes, in document order, and the text of elements by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(text: str) -> list[tuple[str, dict]]:
    p = _Collect()
    p.feed(text)
    return p.tags


def _record(tmp_path: Path) -> Path:
    """A verify-shaped record covering each kind of plot data, an ERROR row and a bare row."""
    rows = []
    for depth in (2, 3, 4):  # ratio against depth, with reported values, and trajectories
        rows.append(
            {
                "claim_id": "T-depth",
                "config": {"depth": depth, "seed": 0},
                "predicted": f"L = {depth}",
                "measured": f"{depth - 0.1}",
                "reported": f"{depth - 0.05:.2f} (reported)",
                "error": 0.1,
                "bound": 0.2,
                "passed": True,
                "status": "PASS",
                "kind": "approximate",
                "seed": 0,
                "details": {"ratio": depth - 0.1, "trajectory": [[0, 1.0], [10, depth / 2], [100, depth - 0.1]]},
            }
        )
    rows.append(
        {
            "claim_id": "T-spectrum",
            "config": {"dims": [2, 3, 2], "seed": 1},
            "predicted": "spec",
            "measured": "spec",
            "error": 1e-15,
            "bound": 1e-9,
            "passed": True,
            "status": "PASS",
            "kind": "exact",
            "seed": 1,
            "details": {"spectrum": {"predicted": [3.0, 2.0, 1.0, 0.0], "measured": [3.0, 2.0, 1.0, 1e-16]}},
        }
    )
    rows.append(
        {
            "claim_id": "T-fit",
            "config": {"seed": 2},
            "predicted": "1.5",
            "measured": "1.49",
            "error": 0.01,
            "bound": 0.001,
            "passed": False,
            "status": "FAIL",
            "kind": "exact",
            "seed": 2,
            "details": {"sigma": [1.0, 2.0, 4.0, 8.0], "h": [1.0, 2.8, 8.0, 22.6], "alpha": 1.5},
        }
    )
    rows.append(
        {
            "claim_id": "T-error",
            "config": {"seed": 3},
            "predicted": "",
            "measured": "",
            "error": float("nan"),
            "bound": 0.0,
            "passed": False,
            "status": "ERROR",
            "kind": "exact",
            "seed": 3,
            "details": {},
            "message": "ValueError: boom",
        }
    )
    path = tmp_path / "verify.json"
    path.write_text(json.dumps({"results": rows, "environment": {"torch": "x", "seed": 0}}, default=str))
    return path


def test_report_structure_and_every_plot_embedded(tmp_path, capsys):
    record = _record(tmp_path)
    cex = tmp_path / "cex"
    cex.mkdir()
    (cex / "T-fit--drop-a.json").write_text(
        json.dumps({"claim": "T-fit", "dropped": ["a"], "config": {"n": 1}, "error": 2.0, "bound": 1.0})
    )
    out = tmp_path / "report.html"
    assert main(["report", str(record), "--out", str(out), "--counterexamples", str(cex)]) == 0
    text = out.read_text(encoding="utf-8")
    tags = _parse(text)
    rows = [a for t, a in tags if t == "tr" and "row" in (a.get("class") or "").split()]
    data = json.loads(record.read_text())["results"]
    assert [a["data-status"] for a in rows] == [r["status"] for r in data]
    sections = {a["id"] for t, a in tags if t == "section"}
    assert sections == {f"claim-{r['claim_id']}" for r in data}
    # the filters: one option per status, and the groups of the rows
    selects = {a.get("id") for t, a in tags if t == "select"}
    assert {"f-group", "f-status"} <= selects
    # every plot is an embedded PNG; nothing is fetched from anywhere
    imgs = [a for t, a in tags if t == "img"]
    for a in imgs:
        assert a["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(a["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for t, a in tags:
        for attr in ("src", "href"):
            v = a.get(attr) or ""
            assert not v.startswith(("http:", "https:", "//")), (t, a)
        assert not (t == "link" and a.get("rel") == "stylesheet")
        assert not (t == "script" and a.get("src"))
    titles = [a["alt"] for a in imgs]
    # what the rows support is drawn, and only that
    assert "T-depth: ratio against depth" in titles and "T-depth: along training" in titles
    assert "T-spectrum: spectrum against prediction" in titles
    assert "T-fit: h_k against sigma_k" in titles
    assert not any(t.startswith("T-error") for t in titles)  # an ERROR row has nothing to plot
    assert not any(t.startswith("T-fit: ratio") or t.startswith("T-spectrum: along") for t in titles)
    assert "3 with the paper&#x27;s reported value" in text  # the reported points are drawn, and labelled
    assert "dlnkit replay" in text and "T-fit--drop-a.json" in text
    assert "ValueError: boom" in text
    assert '"seed"' in text or "seed</th>" in text  # the environment table


def test_report_never_overwrites_a_file_it_did_not_write(tmp_path, capsys, monkeypatch):
    record = _record(tmp_path)
    precious = tmp_path / "notes.html"
    precious.write_text("<html>mine</html>")
    assert main(["report", str(record), "--out", str(precious), "--force"]) == 2
    assert precious.read_text() == "<html>mine</html>"
    assert "not a dlnkit report" in capsys.readouterr().err
    out = tmp_path / "r.html"
    assert main(["report", str(record), "--out", str(out)]) == 0
    # each main() is a run of its own: the file written by the previous one is not ours any more
    assert main(["report", str(record), "--out", str(out)]) == 2  # exists: needs --force
    assert main(["report", str(record), "--out", str(out), "--force"]) == 0


def test_report_bad_inputs_are_one_line_and_exit_2(tmp_path, capsys):
    record = _record(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": [{"nothing": 1}]}))
    for argv in (
        ["report", str(bad), "--out", str(tmp_path / "a.html")],
        ["report", str(tmp_path / "missing.json"), "--out", str(tmp_path / "b.html")],
        ["report", str(record), "--out", str(record / "under_a_file.html")],
        ["report", str(record), "--out", str(tmp_path)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("dlnkit: error:") and "\n" not in err
    assert not list(tmp_path.glob("*.html"))
    # the output path is checked before the record is read
    assert main(["report", str(bad), "--out", str(record / "c.html")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs the chromium package (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    record = _record(tmp_path)
    out = tmp_path / "r.html"
    assert main(["report", str(record), "--out", str(out)]) == 0
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
            out.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    n_rows = len(json.loads(record.read_text())["results"])
    assert f"{n_rows} row(s) shown" in dom  # the inline script ran over the whole table


def test_verify_json_records_machine_versions_seeds_and_claims(tmp_path, capsys):
    import torch

    from dlnkit.claims import get_claim

    rec = tmp_path / "v.json"
    assert (
        main(["verify", "B1-ratio", "--no-defaults", "--examples", "1", "--seed", "5", "--json", str(rec), "-q"]) == 0
    )
    data = json.loads(rec.read_text())
    env = data["environment"]
    assert env["seed"] == 5 and env["settings"]["examples"] == 1
    assert env["versions"]["torch"] == torch.__version__
    assert env["machine"]["cpu_count"] >= 1
    claim = get_claim("B1-ratio")
    assert data["claims"]["B1-ratio"]["group"] == claim.group
    assert data["claims"]["B1-ratio"]["tolerance"]["reason"] == claim.tolerance.reason
    out = tmp_path / "r.html"
    assert main(["report", str(rec), "--out", str(out)]) == 0
    text = out.read_text()
    assert f"<option value='{claim.group}'>" in text and torch.__version__ in text


def test_claim_plot_hook_figures_are_embedded(tmp_path, monkeypatch):
    """A claim's own ``plot(rows)`` figures come first in its section; the default hook adds none."""
    from matplotlib.figure import Figure

    from dlnkit.claims import get_claim
    from dlnkit.claims.base import Claim
    from dlnkit.records.report_plots import claim_hook_plots

    claim = get_claim("B1-ratio")
    assert Claim.plot(claim, []) is None
    rows = [{"claim_id": "B1-ratio", "status": "PASS", "config": {"dims": [2, 3, 2]}, "error": 0.0, "bound": 1.0}]
    assert claim_hook_plots("B1-ratio", rows) == ([], "")

    def own_plot(self, rows):
        fig = Figure()
        fig.add_subplot(1, 1, 1).plot([len(rows)], [1.0], "o")
        return [("B1-ratio: own figure", fig)]

    monkeypatch.setattr(type(claim), "plot", own_plot)
    plots, note = claim_hook_plots("B1-ratio", rows)
    assert note == "" and [p.title for p in plots] == ["B1-ratio: own figure"]
    assert base64.b64decode(plots[0].png_base64)[:4] == b"\x89PNG"


def test_reproduce_record_becomes_rows_with_reported_points(tmp_path):
    """A ``dlnkit reproduce`` record (no verdict rows) is read as one linear and one tanh row per
    depth; the linear rows compare the count ratio with the formula ratio against the recorded Weyl
    bound, the tanh rows are MEASURED, and the paper's numbers are drawn as reported points."""
    rows = []
    for L, (lin, formula, tanh) in {2: (1.9994, 1.9994, 1.9), 3: (2.9703, 2.9702, 2.5), 4: (3.9, 3.5, 3.0)}.items():
        rows.append(
            {
                "depth": L,
                "seed": 12138,
                "dtype": "float64",
                "steps": 10000,
                "linear_count": lin,
                "linear_adaptive": lin,
                "linear_formula_count": formula,
                "weyl_delta": 1e-3,
                "tanh_count": tanh,
                "tanh_adaptive": tanh,
                "reported_linear": L - 0.01,
                "reported_tanh": L - 0.1,
            }
        )
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"paper": "arXiv:2602.00545", "options": {"steps": 10000}, "rows": rows}))
    out = tmp_path / "r.html"
    assert main(["report", str(path), "--out", str(out)]) == 0
    tags = _parse(out.read_text())
    statuses = [a["data-status"] for t, a in tags if t == "tr" and "row" in (a.get("class") or "").split()]
    # depth 4: |3.9 - 3.5| > 1e-3 fails; depths 2, 3 within the bound; tanh rows carry no verdict
    assert statuses == ["PASS", "MEASURED", "PASS", "MEASURED", "FAIL", "MEASURED"]
    titles = [a["alt"] for t, a in tags if t == "img"]
    assert "reproduce: linear: ratio against depth" in titles and "reproduce: tanh: ratio against depth" in titles
    assert "<option>MEASURED</option>" in out.read_text()


def test_report_file_has_ordinary_permissions(tmp_path):
    """The report is meant to be shared: written atomically, yet with the umask's permissions
    (not the temporary file's private 0600)."""
    import os
    import stat

    record = _record(tmp_path)
    out = tmp_path / "shared.html"
    old = os.umask(0o022)
    try:
        assert main(["report", str(record), "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
