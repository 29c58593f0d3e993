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

import torch

from dlnkit import __version__
from dlnkit.claims import get_claim
from dlnkit.engines.counterexample import Evaluation, SearchResult, config_size, evaluate
from dlnkit.numerics.device import resolve_device
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.

FORMAT = "dlnkit-counterexample/1"


def counterexample_record(result: SearchResult, explanation: str = "") -> dict:
    """The JSON record of a found counterexample (see module doc)."""
    if result.counterexample is None:
        raise DlnkitInputError(f"no counterexample to save for {result.claim_id}")
    ce = result.counterexample
    rec = {
        "format": FORMAT,
        "claim": result.claim_id,
        "dropped": result.dropped,
        "violated": result.violated,
        "config": ce.config,
        "seed": ce.config.get("seed"),
        "size": config_size(ce.config),
        "outcome": ce.outcome,
        "predicted": ce.predicted,
        "measured": ce.measured,
        "error": ce.error if math.isfinite(ce.error) else repr(ce.error),
        "error_hex": float.hex(ce.error),
        "bound": ce.bound if math.isfinite(ce.bound) else repr(ce.bound),
        "bound_hex": float.hex(ce.bound),
        "miss_factor": ce.miss_factor if math.isfinite(ce.miss_factor) else repr(ce.miss_factor),
        "exception": ce.exception,
        "predicted_sha256": ce.predicted_sha256,
        "measured_sha256": ce.measured_sha256,
        "device": result.device,
        "torch": torch.__version__,
        "dlnkit": __version__,
        "search": {
            "max_examples": result.max_examples,
            "seed": result.seed,
            "evaluations": result.calls,
            "seconds": round(result.seconds, 3),
            "interrupted": result.interrupted,
        },
    }
    if explanation:
        rec["explanation"] = explanation
    return rec


def is_record_of(path, claim_id: str) -> bool:
    """Is the file at ``path`` a counterexample record of ``claim_id`` (one dlnkit may regenerate)?"""
    from dlnkit.records.input_files import peek_json_file

    rec = peek_json_file(path, max_bytes=RECORD_MAX_BYTES)
    return isinstance(rec, dict) and rec.get("format") == FORMAT and rec.get("claim") == claim_id


def save_counterexample(result: SearchResult, path, explanation: str = "") -> Path:
    """Write the record of ``result`` to ``path`` (atomically)."""
    from dlnkit.records.report import write_json_atomic

    return write_json_atomic(path, counterexample_record(result, explanation))


#: keys a record must hold, with their types
_REQUIRED = {"claim": str, "dropped": list, "config": dict, "outcome": str}
#: exception names that say the configuration itself is invalid input / too large, not a finding
_INPUT_ERRORS = ("DlnkitInputError", "HessianTooLargeError", "AllocationTooLargeError", "CorruptCheckpointError")
_MEMORY_ERRORS = ("MemoryError", "OutOfMemoryError", "HessianTooLargeError", "AllocationTooLargeError")


#: a record holds one configuration and a few numbers: far below this
RECORD_MAX_BYTES = 16 * 2**20


def load_counterexample(path) -> dict:
    """Read and check a record; any problem (missing, a folder, not UTF-8, not JSON, another
    format, missing or mistyped keys) is one :class:`DlnkitInputError` line."""
    from dlnkit.records.input_files import load_json_file

    # a regular file of bounded size (never /dev/zero), UTF-8, JSON of bounded depth
    rec = load_json_file(path, f"counterexample record {str(path)!r}", max_bytes=RECORD_MAX_BYTES)
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise DlnkitInputError(f"{path} is not a dlnkit counterexample record (format {FORMAT})")
    bad = [k for k, t in _REQUIRED.items() if not isinstance(rec.get(k), t)]
    if bad:
        raise DlnkitInputError(f"{path}: record lacks or mistypes {', '.join(bad)} (an edited or truncated record)")
    if not all(isinstance(d, str) for d in rec["dropped"]):
        raise DlnkitInputError(f"{path}: 'dropped' must list assumption names")
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

    @property
    def verdict(self) -> str:
        """``reproduces`` (exit 0), ``differs`` / ``passes now`` (exit 1), ``invalid record`` (the
        configuration is bad input now: exit 2) or ``error`` (could not be recomputed, e.g. out of
        memory: exit 3). An error is never "still fails"."""
        exc = self.now.exception
        name = exc.split(":", 1)[0].strip() if exc else ""
        if exc and exc != self.record.get("exception", ""):
            if name in _MEMORY_ERRORS:
                return "error"
            if name in _INPUT_ERRORS:
                return "invalid record"
        if not self.still_fails:
            return "passes now"
        cpu = "cpu" in self.record.get("replay_device", "cpu")
        return "reproduces" if self.exact or (not cpu and self.now.outcome != "exception") else "differs"

    @property
    def exit_status(self) -> int:
        return {"reproduces": 0, "differs": 1, "passes now": 1, "invalid record": 2, "error": 3}[self.verdict]

    def summary(self) -> str:
        rec, now = self.record, self.now
        lines = [
            f"replay {rec['claim']} (dropped {', '.join(rec['dropped']) or 'nothing'}) on {now_device(self)}",
            f"  config:    {json.dumps(rec['config'])}",
        ]
        if now.outcome == "exception":
            lines.append(f"  raised:    {now.exception}")
        else:
            lines += [
                f"  predicted: {now.predicted}",
                f"  measured:  {now.measured}",
                f"  error:     {now.error!r} (stored {rec['error']!r}), bound {now.bound:.3g}",
            ]
        same = "bit-for-bit identical to the stored numbers"
        lines.append(f"  {same if self.exact else 'DIFFERS: ' + '; '.join(self.differences)}")
        verdict = self.verdict
        if verdict == "error":
            lines.append("  ERROR: could not be recomputed here (not counted as 'still fails')")
        elif verdict == "invalid record":
            lines.append("  INVALID: the stored configuration is refused as input now (edited or outdated record)")
        else:
            lines.append(f"  claim {'still fails' if self.still_fails else 'now PASSES'} here")
        return "\n".join(lines)


def now_device(r: ReplayResult) -> str:
    return r.record.get("replay_device", "cpu")


def check_record_config(claim, rec: dict) -> None:
    """Refuse (bad input, never "still fails") a record whose configuration is not one the claim
    takes (:func:`~dlnkit.engines.config_checks.check_config_types`: inf, a bool where the claim
    uses integers, a string seed) or that violates an assumption the record does not list as
    dropped (a record edited to drop nothing would otherwise "reproduce" a failure of the
    theorem inside its own assumptions)."""
    from dlnkit.engines.config_checks import check_config_types

    where = f"record of {rec['claim']}"
    check_config_types(claim, rec["config"], where)
    try:
        violated = claim.violated_assumptions(rec["config"])
    except Exception:  # noqa: BLE001 - the claim cannot tell on this config: the replay decides
        violated = None
    # dropping one assumption can break others with it (not aligned, hence not balanced), so the
    # record is consistent when at least one dropped assumption is among the violated ones
    violated = set(violated or ())
    if violated and not violated & set(rec["dropped"]):
        raise DlnkitInputError(
            f"{where}: the configuration violates {', '.join(sorted(violated))}, none of which the record "
            f"lists as dropped (dropped: {', '.join(rec['dropped']) or 'nothing'}); an edited or inconsistent record"
        )


def replay_record(rec: dict, device: str = "cpu") -> ReplayResult:
    """Recompute a counterexample record and compare bitwise with what it stores."""
    claim = get_claim(rec["claim"])
    claim.check_drop(rec["dropped"])  # assumption names the claim no longer has: an outdated record
    check_record_config(claim, rec)
    dev = str(resolve_device(device))
    now = evaluate(claim, rec["config"], dev)
    diffs = []
    if now.outcome != rec["outcome"]:
        diffs.append(f"outcome {now.outcome} vs stored {rec['outcome']}")
    for key, val in (
        ("error_hex", float.hex(now.error)),
        ("bound_hex", float.hex(now.bound)),
        ("predicted_sha256", now.predicted_sha256),
        ("measured_sha256", now.measured_sha256),
        ("exception", now.exception),
    ):
        if rec.get(key, "") != val:
            diffs.append(f"{key} {val} vs stored {rec.get(key)}")
    rec = {**rec, "replay_device": dev}
    return ReplayResult(rec, now, exact=not diffs, still_fails=now.failed, differences=diffs)


def replay(path, device: str = "cpu") -> ReplayResult:
    """Recompute the counterexample stored in ``path`` (see :func:`replay_record`)."""
    return replay_record(load_counterexample(path), device)


def regression_test_source(path_or_record, name: str | None = None) -> str:
    """A self-contained pytest module (the record is embedded) asserting that replaying the
    counterexample on CPU gives bit-for-bit the stored numbers and that the claim still fails.

    Built as an AST (every value from the record enters as a literal node, so no text in a
    record can become code) and compiled before it is returned. Refuses (``DlnkitInputError``)
    a record of a claim that is not registered, an assumption it does not have, or a
    configuration it does not take (:func:`check_record_config`).
    """
    import ast
    import pprint

    from dlnkit.claims import get_claim

    rec = path_or_record if isinstance(path_or_record, dict) else load_counterexample(path_or_record)
    rec = {k: v for k, v in rec.items() if k != "explanation"}
    claim = get_claim(rec["claim"])  # an unknown claim: refused here, not in the generated test
    claim.check_drop(rec["dropped"])
    check_record_config(claim, rec)
    slug = name or "_".join([rec["claim"], *rec["dropped"]])
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in slug).lower().strip("_") or "record"
    dropped = ", ".join(rec["dropped"]) or "nothing"
    doc = (
        f"Regression: counterexample to claim {rec['claim']} with {dropped} dropped.\n\n"
        "Generated by dlnkit.engines.counterexample_records.regression_test_source. Replaying the stored\n"
        "configuration on CPU must give bit-for-bit the stored numbers (same torch build), and the\n"
        "claim must still fail there.\n"
    )
    record_literal = ast.parse(pprint.pformat(json.loads(json.dumps(rec)), width=100, sort_dicts=True), mode="eval")
    module = ast.parse(
        "from dlnkit.engines.counterexample_records import replay_record\n\n"
        "RECORD = None\n\n"
        f"def test_counterexample_{slug}_still_fails():\n"
        "    r = replay_record(RECORD, device='cpu')\n"
        "    assert r.still_fails, r.summary()\n\n"
        f"def test_counterexample_{slug}_replays_bit_for_bit():\n"
        "    r = replay_record(RECORD, device='cpu')\n"
        "    assert r.exact, r.summary()\n"
    )
    assign = module.body[1]
    assert isinstance(assign, ast.Assign)
    assign.value = record_literal.body  # the record as literal nodes
    module.body.insert(0, ast.Expr(ast.Constant(doc)))
    ast.fix_missing_locations(module)
    source = ast.unparse(module) + "\n"
    compile(source, "<regression test>", "exec")  # what we hand back compiles
    return source
