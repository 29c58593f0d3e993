"""arXiv:2606.02596's abstract, sentence by sentence, as approximate claims on the curvature census.

Each claim reads the census record (``docs/reproduce-2606.02596/record.json``, written by
``dlnkit reproduce 2606.02596 --full``; without it the check is an ERROR row saying so) and checks
the sentence's statistic against the band fixed in :data:`dlnkit.claims.census_verdicts.SENTENCES`
before any run. Different setup: the paper's architectures, widths, data and training are not
published, so a miss says our census does not show it, not that the paper is wrong. Only in
``dlnkit verify --full`` (no default configurations: the census takes minutes).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.claims.census_verdicts import DIFFERENT_SETUP, SENTENCES, Sentence, evaluate, layer_values

# Deferred imports: the census engine (and json/tempfile) load only when no census record is
# committed and the claims have to run the census themselves.

RECORD = Path(__file__).resolve().parents[2] / "docs" / "reproduce-2606.02596" / "record.json"


@functools.lru_cache(maxsize=2)
def census_record(path: str = str(RECORD)) -> dict[str, Any]:
    """The census record at ``path`` (default: the committed full census of a source checkout)."""
    import json

    from dlnkit.numerics.validation import DlnkitInputError

    p = Path(path)
    if not p.is_file():
        raise DlnkitInputError(
            f"no census record at {p}: run `dlnkit reproduce 2606.02596 --full --out {p.parent}` first"
        )
    data: dict[str, Any] = json.loads(p.read_text())
    return data


class CensusSentence(Claim):
    """One sentence of the abstract against its band (see the module docstring)."""

    sentence: Sentence
    kind = "approximate"
    slow = True
    source = "arXiv:2606.02596 abstract"

    def config_strategy(self, drop=()):
        self.check_drop(drop)
        return st.just({"record": "census"})

    def default_configs(self):
        return []

    def full_configs(self):
        return [{"record": "census"}]

    def predict(self, config):
        return self.sentence.band.text()

    def measure(self, config, device="cpu"):
        rec = census_record()
        row = next(v for v in evaluate(rec["rows"]) if v["id"] == self.sentence.id)
        row["values"] = layer_values(self.sentence, rec["rows"])
        row["set"] = rec.get("set", "")
        return row

    def compare(self, predicted, measured, config):
        band, v = self.sentence.band, float(measured["value"])
        err = math.nan if not math.isfinite(v) else max(band.lo - v, v - band.hi, 0.0)
        return Comparison(
            predicted,
            v,
            err,
            0.0,
            f"band {predicted}",
            f"{v:.4g} over {measured['layers']} layers ({measured['set']} census)",
            details={
                "status": measured["status"],
                "ci95": measured["ci95"],
                "values": measured["values"],
                "band_reason": band.reason,
                "label": DIFFERENT_SETUP,
                "robustness": measured.get("robustness", {}),
            },
        )

    def reported_value(self, config):
        return f"{self.sentence.reported} (reported; {DIFFERENT_SETUP})"

    def plot(self, rows):
        """Each layer's value with the band shaded (the first row's values)."""
        vals = next((r.get("details", {}).get("values") for r in rows if r.get("details", {}).get("values")), None)
        if not vals:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 2.6))
        ys = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        ax.plot(ys, [0] * len(ys), "o", alpha=0.6)
        b = self.sentence.band
        lo = b.lo if math.isfinite(b.lo) else min(ys + [b.hi]) - 0.5
        hi = b.hi if math.isfinite(b.hi) else max(ys + [b.lo]) + 0.5
        ax.axvspan(lo, hi, color="C2", alpha=0.15, label=f"band {b.text()} (fixed before the run)")
        ax.set_yticks([])
        ax.set_xlabel(self.sentence.statistic.replace("median ", "per-layer "), fontsize=8)
        ax.set_title(f"{self.sentence.sentence}; different setup", fontsize=8)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return [(f"{self.id}: per-layer values and the band", fig)]


def _claim(s: Sentence) -> CensusSentence:
    cls = type(
        f"Census_{s.id.replace('-', '_')}",
        (CensusSentence,),
        {
            "id": f"census-{s.id}",
            "title": f"{s.sentence} (our census; different setup)",
            "sentence": s,
            "tolerance": Tolerance(0.0, 0.0, f"band {s.band.text()}: {s.band.reason}"),
        },
    )
    return cls()


CLAIMS = [_claim(s) for s in SENTENCES]
