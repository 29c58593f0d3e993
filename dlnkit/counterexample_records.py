"""Counterexample records: save a found counterexample as JSON, replay it bit for bit, and turn it
into a regression test.

A record holds the configuration, the numbers as ``float.hex`` and SHA-256 digests of the raw
predicted and measured arrays. :func:`replay` recomputes it through the claim's own runner and
says whether the numbers are bit-for-bit the stored ones (expected on CPU with the same torch
build) and whether the claim still fails there; :func:`regression_test_source` turns a record
into a self-contained pytest file.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from dlnkit.counterexample import Evaluation, SearchResult, config_size, evaluate
from dlnkit.numerics.validation import DlnkitInputError

FORMAT = "dlnkit-counterexample/1"


def counterexample_record(result: SearchResult, explanation: str = "") -> dict:
    """The JSON record of a found counterexample (see module doc)."""
    import torch

    from dlnkit import __version__

    if result.counterexample is None:
        raise DlnkitInputError(f"no counterexample to save for {result.claim_id}")
    ce = result.counterexample
    rec = {
        "format": FORMAT, "claim": result.claim_id, "dropped": result.dropped, "violated": result.violated,
        "config": ce.config, "seed": ce.config.get("seed"), "size": config_size(ce.config),
        "outcome": ce.outcome, "predicted": ce.predicted, "measured": ce.measured,
        "error": ce.error if math.isfinite(ce.error) else repr(ce.error), "error_hex": float.hex(ce.error),
        "bound": ce.bound if math.isfinite(ce.bound) else repr(ce.bound), "bound_hex": float.hex(ce.bound),
        "miss_factor": ce.miss_factor if math.isfinite(ce.miss_factor) else repr(ce.miss_factor),
        "exception": ce.exception, "predicted_sha256": ce.predicted_sha256, "measured_sha256": ce.measured_sha256,
        "device": result.device, "torch": torch.__version__, "dlnkit": __version__,
        "search": {"max_examples": result.max_examples, "seed": result.seed, "evaluations": result.calls,
                   "seconds": round(result.seconds, 3), "interrupted": result.interrupted},
    }
    if explanation:
        rec["explanation"] = explanation
    return rec


def save_counterexample(result: SearchResult, path, explanation: str = "") -> Path:
    """Write the record of ``result`` to ``path`` (atomically)."""
    from dlnkit.report import write_json_atomic

    return write_json_atomic(path, counterexample_record(result, explanation))


def load_counterexample(path) -> dict:
    try:
        rec = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DlnkitInputError(f"no such counterexample file: {path}") from None
    except json.JSONDecodeError as exc:
        raise DlnkitInputError(f"{path} is not JSON: {exc}") from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise DlnkitInputError(f"{path} is not a dlnkit counterexample record (format {FORMAT})")
    return rec


@dataclass
class ReplayResult:
    """A record recomputed: ``exact`` when error, bound and both digests are bit-for-bit the stored
    ones; ``still_fails`` when the claim still gets the configuration wrong."""

    record: dict
    now: Evaluation
    exact: bool
    still_fails: bool
    differences: list = field(default_factory=list)

    def summary(self) -> str:
        rec, now = self.record, self.now
        lines = [f"replay {rec['claim']} (dropped {', '.join(rec['dropped']) or 'nothing'}) on {now_device(self)}",
                 f"  config:    {json.dumps(rec['config'])}"]
        if now.outcome == "exception":
            lines.append(f"  raised:    {now.exception}")
        else:
            lines += [f"  predicted: {now.predicted}", f"  measured:  {now.measured}",
                      f"  error:     {now.error!r} (stored {rec['error']!r}), bound {now.bound:.3g}"]
        lines.append(f"  {'bit-for-bit identical to the stored numbers' if self.exact else 'DIFFERS: ' + '; '.join(self.differences)}")
        lines.append(f"  claim {'still fails' if self.still_fails else 'now PASSES'} here")
        return "\n".join(lines)


def now_device(r: ReplayResult) -> str:
    return r.record.get("replay_device", "cpu")


def replay_record(rec: dict, device: str = "cpu") -> ReplayResult:
    """Recompute a counterexample record and compare bitwise with what it stores."""
    from dlnkit.claims import get_claim
    from dlnkit.numerics.device import resolve_device

    claim = get_claim(rec["claim"])
    dev = str(resolve_device(device))
    now = evaluate(claim, rec["config"], dev)
    diffs = []
    if now.outcome != rec["outcome"]:
        diffs.append(f"outcome {now.outcome} vs stored {rec['outcome']}")
    for key, val in (("error_hex", float.hex(now.error)), ("bound_hex", float.hex(now.bound)),
                     ("predicted_sha256", now.predicted_sha256), ("measured_sha256", now.measured_sha256),
                     ("exception", now.exception)):
        if rec.get(key, "") != val:
            diffs.append(f"{key} {val} vs stored {rec.get(key)}")
    rec = {**rec, "replay_device": dev}
    return ReplayResult(rec, now, exact=not diffs, still_fails=now.failed, differences=diffs)


def replay(path, device: str = "cpu") -> ReplayResult:
    """Recompute the counterexample stored in ``path`` (see :func:`replay_record`)."""
    return replay_record(load_counterexample(path), device)


def regression_test_source(path_or_record, name: str | None = None) -> str:
    """A self-contained pytest module (the record is embedded) asserting that replaying the
    counterexample on CPU gives bit-for-bit the stored numbers and that the claim still fails."""
    rec = path_or_record if isinstance(path_or_record, dict) else load_counterexample(path_or_record)
    rec = {k: v for k, v in rec.items() if k != "explanation"}
    slug = name or "_".join([rec["claim"], *rec["dropped"]] or [rec["claim"]])
    slug = "".join(ch if ch.isalnum() else "_" for ch in slug).lower()
    body = json.dumps(rec, indent=1, sort_keys=True)
    return f'''"""Regression: counterexample to claim {rec['claim']} with {', '.join(rec['dropped']) or 'nothing'} dropped.

Generated by dlnkit.counterexample_records.regression_test_source. Replaying the stored configuration on
CPU must give bit-for-bit the stored numbers (same torch build), and the claim must still fail there.
"""
import json

from dlnkit.counterexample_records import replay_record

RECORD = json.loads(r"""{body}""")


def test_counterexample_{slug}_still_fails():
    r = replay_record(RECORD, device="cpu")
    assert r.still_fails, r.summary()


def test_counterexample_{slug}_replays_bit_for_bit():
    r = replay_record(RECORD, device="cpu")
    assert r.exact, r.summary()
'''
