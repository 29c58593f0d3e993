"""The dlnkit command line through a real subprocess: list, verify, spectrum, and its error paths.

The bad-input cases run ``dlnkit.cli.main`` in process (each subprocess costs an interpreter and
a torch import); one of them also runs through ``python -m dlnkit``, so the real entry point's exit
status and stderr are checked too."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest


def dlnkit(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "dlnkit", *args], capture_output=True, text=True, timeout=timeout)


def dlnkit_in_process(*args):
    """``dlnkit.cli.main(args)`` here: (exit status, stdout, stderr)."""
    from dlnkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_list_names_the_depth_claims():
    out = dlnkit("list")
    assert out.returncode == 0
    for cid in ("B0", "B1", "B1-ratio", "B2-limit", "B2-paper", "B2-paper-decay", "B3-paper"):
        assert any(line.split()[0] == cid for line in out.stdout.splitlines() if line.strip())


def test_verify_prints_a_table_and_writes_json(tmp_path):
    path = tmp_path / "res.json"
    out = dlnkit("verify", "B0", "B1-ratio", "--examples", "1", "--json", str(path), "-q")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout and "FAIL" not in out.stdout.replace("0 failed", "")
    rows = json.loads(path.read_text())["results"]
    assert {r["claim_id"] for r in rows} == {"B0", "B1-ratio"}
    ratio_rows = [r for r in rows if r["claim_id"] == "B1-ratio"]
    assert len(ratio_rows) >= 8  # the L = 1..8 grid plus drawn ones
    for r in rows:
        assert r["passed"] and r["error"] <= r["bound"]


def test_verify_fails_with_exit_one_on_a_violated_claim(tmp_path):
    # a user claim file whose prediction is wrong: verify must report FAIL and exit 1
    f = tmp_path / "wrong.py"
    f.write_text(
        "from hypothesis import strategies as st\n"
        "from dlnkit.claims.base import Claim, Tolerance\n"
        "class Wrong(Claim):\n"
        "    id = 'wrong-one'\n"
        "    tolerance = Tolerance(atol=1e-12, reason='exact')\n"
        "    def predict(self, c): return 1.0\n"
        "    def measure(self, c, device='cpu'): return 2.0\n"
        "    def config_strategy(self, drop=()): return st.just({'x': 1})\n"
        "CLAIMS = [Wrong()]\n"
    )
    out = dlnkit("verify", "--from", str(f), "--examples", "1", "-q")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL" in out.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["verify", "NO-SUCH-CLAIM"], "unknown claim"),
        (["spectrum", "--dims", "4", "--rank", "1"], "depth >= 1"),
        (["spectrum", "--dims", "4,3", "--rank", "5"], "rank must be between"),
        (["spectrum", "--dims", "4,a,3", "--rank", "1"], "comma-separated integers"),
        (["spectrum", "--dims", "4,3,2", "--t", "1,inf"], "finite"),
        (["spectrum", "--dims", "4,1,3", "--rank", "2"], "hidden width"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_two(args, fragment):
    code, _out, err = dlnkit_in_process(*args)
    assert code == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err


def test_bad_input_through_the_real_entry_point_is_one_line_and_exit_two():
    out = dlnkit("spectrum", "--dims", "4,3", "--rank", "5")
    assert out.returncode == 2
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "rank must be between" in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_spectrum_prints_clusters_and_saves_a_plot(tmp_path):
    png = tmp_path / "spec.png"
    out = dlnkit("spectrum", "--dims", "5,6,6,4", "--rank", "2", "--plot", str(png), "--device", "cpu")
    assert out.returncode == 0, out.stderr
    dom = next(l for l in out.stdout.splitlines() if l.startswith("dominant")).split()
    bulk = next(l for l in out.stdout.splitlines() if l.startswith("bulk")).split()
    assert int(dom[1]) == 4 and int(bulk[1]) == 2 * (5 + 4 - 4)
    assert abs(float(dom[2]) / float(bulk[2]) - 3) < 1e-9  # ratio = L = 3 with equal t
    assert png.exists() and png.stat().st_size > 1000


def test_counterexample_works_on_claims_from_a_user_file():
    out = dlnkit(
        "counterexample",
        "gn-trace-whitened",
        "--from",
        str(Path(__file__).resolve().parents[1] / "examples" / "symmetry_claims.py"),
        "--drop",
        "whitened",
        "--max-examples",
        "20",
        "-q",
    )
    assert out.returncode == 1, out.stdout + out.stderr  # 1 = a counterexample was found
    assert "counterexample after" in out.stdout and "anisotropy" in out.stdout
