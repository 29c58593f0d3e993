"""``dlnkit verify``'s first screen: one line per claim, failures in full, within 100 columns."""

import io
import subprocess
import sys

from dlnkit.claims import all_claims
from dlnkit.claims.base import ClaimResult
from dlnkit.records.report import claim_verdict, format_summary, use_colour


def row(cid, *, kind="exact", error=1e-16, bound=1e-10, status=None, config=None, **kw):
    passed = status is None and error <= bound
    return ClaimResult(
        claim_id=cid,
        config=config if config is not None else {"L": 3, "dims": [16, 32, 32, 10], "seed": 0},
        predicted=kw.pop("predicted", "3.0"),
        measured=kw.pop("measured", "3.0"),
        error=error,
        bound=bound,
        passed=passed,
        status=status or ("PASS" if passed else "FAIL"),
        kind=kind,
        seed=0,
        device="cpu",
        seconds=0.1,
        **kw,
    )


def screen_rows():
    """Three rows for every registered claim (the ids a fresh clone's ``dlnkit verify`` prints),
    plus an exact failure, an approximate miss and an ERROR row with long texts."""
    rows = [row(cid, kind=c.kind) for cid, c in all_claims().items() for _ in range(3)]
    long_cfg = {"dims": list(range(1, 60)), "t": [1.2100000000000002] * 20, "dtype": "float64", "seed": 7}
    rows.append(row("B1", error=3e-3, bound=1e-9, config=long_cfg, predicted="x" * 300, measured="y " * 150))
    rows.append(row("B3-paper", kind="approximate", error=1.99, bound=1.05, reported="1.70 (reported) " * 12))
    rows.append(row("user-claim", status="ERROR", error=float("nan"), message="measure: RuntimeError: " + "z" * 400))
    return rows


def test_default_screen_fits_100_columns_one_line_per_claim_and_summary_last():
    rows = screen_rows()
    text = format_summary(rows)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    ids = list(dict.fromkeys(r.claim_id for r in rows))
    head = lines[2 : 2 + len(ids)]
    assert [line.split()[0] for line in head] == [i[:27] + "…" if len(i) > 28 else i for i in ids]
    by_id = {line.split()[0]: line.split()[-1] for line in head}
    assert by_id["B1"] == "FAIL" and by_id["B3-paper"] == "MISS" and by_id["user-claim"] == "ERROR"
    assert by_id["B0"] == "PASS"
    # the three rows that did not pass are printed in full below (every character, wrapped)
    below = "\n".join(lines[2 + len(ids) :])
    assert "x" * 80 in below and below.replace(" ", "").count("x") >= 300
    assert below.count("z") >= 400 and "(reported)" in below
    assert lines[-1].startswith(f"{len(ids)} claims:") and f"{len(rows)} rows" in lines[-1]
    assert "\x1b[" not in text


def test_strict_turns_an_approximate_miss_into_a_failure():
    miss = [row("B3-paper", kind="approximate", error=2.0, bound=1.0)]
    assert claim_verdict(miss) == "MISS" and claim_verdict(miss, strict=True) == "FAIL"
    assert claim_verdict([row("B0"), row("B0", status="ERROR", error=float("nan"))]) == "ERROR"


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(Tty()) and not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Tty())
    coloured = format_summary([row("B0"), row("B1", error=1.0)], colour=True)
    assert "\x1b[32mPASS\x1b[0m" in coloured and "\x1b[31;1mFAIL\x1b[0m" in coloured


def test_cli_default_and_verbose_screens(tmp_path):
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

    def run(*extra):
        cmd = [sys.executable, "-m", "dlnkit", "verify", "--from", str(f), "--examples", "1", "-q", *extra]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    out = run()
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert max(map(len, lines)) <= 100 and "\x1b[" not in out.stdout  # a pipe: no colour
    assert [line.split()[-1] for line in lines if line.startswith("wrong-one ")] == ["FAIL"]
    assert lines[-1] == "1 claim: 1 FAIL; 1 row: 0 passed, 1 failed"
    verbose = run("-v").stdout.splitlines()
    assert len([line for line in verbose if line.startswith("wrong-one")]) == 1  # the row itself


def test_readme_shows_the_first_screen_as_verify_prints_it():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```text\n(claim .*?)```", readme, re.S).group(1).splitlines()
    assert max(map(len, block)) <= 100
    printed = format_summary([row("B0"), row("B1-ratio")]).splitlines()
    assert block[0].split() == printed[0].split()  # the same columns
    assert re.fullmatch(r"\d+ claims: .*; \d+ rows: \d+ passed, \d+ failed", block[-1])
