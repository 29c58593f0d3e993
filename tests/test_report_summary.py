"""The report opens with the answer: claims FAIL and ERROR first, approximate misses marked as not
changing the exit status, ours beside the paper's number with the difference, and the ratio-vs-depth
plot for the paper-setup claims drawn from their structured details."""

from dlnkit.records.report_html import Record, render_report
from dlnkit.records.report_plots import plot_ratio_vs_depth
from dlnkit.records.report_summary import claim_verdicts, ours_and_reported


def row(cid, status="PASS", kind="exact", **kw):
    base = {"claim_id": cid, "status": status, "kind": kind, "config": {}, "error": 0.0, "bound": 1.0}
    base.update(kw)
    return base


def paper_row(depth, ours, reported, status="PASS", kind="exact"):
    """A row shaped as B2-paper / B3-paper record it: the ratio only in details["splits"]["count"]."""
    return row(
        "P-paper",
        status,
        kind,
        config={"depth": depth, "dtype": "float64"},
        predicted=f"L = {depth}",
        measured=f"count {ours:.4f} | adaptive 9.9 (25/25) [splits disagree]",
        reported=f"{reported:.2f} (reported)",
        details={"splits": {"count": {"ratio": ours}, "adaptive": {"ratio": 9.9}}},
    )


def test_claims_needing_attention_come_first_and_a_miss_is_not_a_failure():
    rows = [
        row("ok"),
        row("approx", "FAIL", "approximate", error=2.0),
        row("approx"),
        row("broken", "FAIL", error=5.0),
        row("raised", "ERROR", error=float("nan")),
    ]
    verdicts = claim_verdicts(rows)
    assert [(v.claim_id, v.verdict) for v in verdicts] == [
        ("raised", "ERROR"),
        ("broken", "FAIL"),
        ("approx", "MISS"),
        ("ok", "PASS"),
    ]
    assert verdicts[2].failed_rows == 1 and verdicts[2].rows == 2
    page = render_report(Record(rows, {}))
    head = page[page.index("Does it hold?") : page.index("Verdicts</h2>")]
    table = head[head.index("id='claim-summary'") :]
    assert table.index(">raised<") < table.index(">broken<") < table.index(">approx<") < table.index(">ok<")
    assert "exit status unless <code>--strict</code>" in head and "approx (1 of 2 rows)" in head


def test_ours_vs_reported_reads_the_structured_ratio_and_only_numbers():
    r = paper_row(5, 4.0123, 4.58)
    ours, rep, diff = ours_and_reported(r)
    assert (ours, rep) == (4.0123, 4.58) and abs(diff - (4.0123 - 4.58)) < 1e-12
    # a reported statement is text, not a number of the same quantity: no difference is computed
    assert ours_and_reported(row("A5", reported="5/2 at s=2 (paper)", measured="PR=2.49")) is None
    assert ours_and_reported(row("A2", reported="alpha~2 (reported: conv/MLP)", measured="alpha=1.5")) is None
    page = render_report(Record([paper_row(2, 1.9235, 1.89), paper_row(3, 2.7512, 2.85)], {}))
    assert "<th>ours vs reported</th>" in page
    assert "1.923 vs 1.89 reported: <b>+0.0335</b> (+1.8%)" in page


def test_ratio_against_depth_is_drawn_for_the_paper_setup_rows_with_reported_points():
    rows = [paper_row(L, L - 0.1 * L, L - 0.05, "PASS" if L < 5 else "FAIL", "approximate") for L in range(2, 8)]
    plot = plot_ratio_vs_depth("P-paper", rows)
    assert plot is not None and plot.title == "P-paper: ratio against depth"
    assert "6 row(s) with a depth and a measured ratio; 6 with the paper's reported value" in plot.caption
