"""The counterexample gallery (``dlnkit counterexample --gallery``): search every (claim, assumption)
pair, write one shrunk JSON record per pair that breaks, and a README explaining each (the
explanation is the claim's own ``explain``)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from dlnkit.claims import all_claims, get_claim
from dlnkit.engines.counterexample import find_counterexample
from dlnkit.engines.counterexample_records import FORMAT, is_record_of, save_counterexample
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.


def gallery_pairs(claim_ids=None) -> list:
    """(claim, assumption) pairs of the gallery: every assumption of every searchable claim."""
    pairs = []
    for cid, claim in all_claims().items():
        if claim.slow or (claim_ids and cid not in claim_ids):
            continue
        pairs += [(claim, name) for name in claim.assumption_names]
    return pairs


def slug(claim_id: str, dropped: list) -> str:
    return f"{claim_id}--drop-{'+'.join(dropped)}".replace("/", "_")


INDEX = "gallery-index.json"
INDEX_FORMAT = "dlnkit-gallery-index/1"


def _search_entry(res, fname) -> dict:
    return {
        "claim": res.claim_id,
        "dropped": list(res.dropped),
        "found": res.found,
        "file": fname,
        "evaluations": res.calls,
        "worst_miss_factor": res.worst_miss_factor
        if math.isfinite(res.worst_miss_factor)
        else repr(res.worst_miss_factor),
        "interrupted": res.interrupted,
        "seconds": round(res.seconds, 3),
        "max_examples": res.max_examples,
        "seed": res.seed,
        "summary": res.summary(),
    }


def _read_index(out: Path) -> dict:
    """The gallery's own index of searches (written by earlier runs); empty when missing or unreadable."""
    from dlnkit.records.input_files import peek_json_file

    idx = peek_json_file(out / INDEX)
    if idx is None:
        return {}
    if not isinstance(idx, dict) or idx.get("format") != INDEX_FORMAT or not isinstance(idx.get("searches"), dict):
        return _index_from_records(out)
    return idx["searches"]


def _index_from_records(out: Path) -> dict:
    """A folder without an index (written before there was one): its records stand for their searches."""
    from dlnkit.records.input_files import peek_json_file

    searches = {}
    for p in sorted(out.glob("*.json")):
        rec = peek_json_file(p)
        if (
            not isinstance(rec, dict)
            or rec.get("format") != FORMAT
            or p.stem != slug(rec.get("claim", ""), rec.get("dropped") or [])
        ):
            continue
        search = rec.get("search") if isinstance(rec.get("search"), dict) else {}
        searches[p.stem] = {
            "claim": rec["claim"],
            "dropped": list(rec["dropped"]),
            "found": True,
            "file": p.name,
            "evaluations": search.get("evaluations", 0),
            "worst_miss_factor": rec.get("miss_factor"),
            "interrupted": False,
            "seconds": search.get("seconds", 0.0),
            "max_examples": search.get("max_examples"),
            "seed": search.get("seed"),
            "summary": f"{rec['claim']} dropping {', '.join(rec['dropped'])}: an earlier run's record",
        }
    return searches


class _folder_lock:
    """An exclusive advisory lock on the folder itself (no lock file left behind); a no-op where
    ``fcntl`` is missing."""

    def __init__(self, folder: Path):
        self.folder, self.fd = folder, None

    def __enter__(self):
        try:
            import fcntl

            self.fd = os.open(self.folder, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except (ImportError, OSError):
            self.fd = None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock


def generate_gallery(
    out_dir="counterexamples",
    *,
    max_examples: int = 100,
    seed: int = 0,
    claim_ids=None,
    progress: bool = False,
    log=None,
    force: bool = False,
) -> list:
    """Search every (claim, assumption) pair (of ``claim_ids``, default all searchable claims) and
    write one shrunk JSON record per pair that breaks; then rewrite the gallery's index and README.

    Nothing is lost: unknown claim ids and an unusable folder are refused before any search; the
    only files written are the records of the pairs searched in this run (each replaced
    atomically), ``gallery-index.json`` and ``README.md`` (both atomically); no other file is
    touched or removed. The README describes every search in the index, so a run on one claim
    keeps the others' rows. Ctrl-C stops at once: the searches finished so far are kept, the
    interrupted one is marked "interrupted" (never "no counterexample") and the
    ``KeyboardInterrupt`` is re-raised. Returns the list of :class:`SearchResult`.
    """
    from dlnkit.records.outputs import atomic_write_json, atomic_write_text, check_output_dir
    from dlnkit.records.stop_signals import finishing

    if claim_ids:
        for cid in claim_ids:  # unknown ids fail here, listing the known ones, before any search
            get_claim(cid)
    out = check_output_dir(out_dir, what="gallery folder")
    pairs = gallery_pairs(claim_ids)
    if not pairs:
        what = (
            f"claim(s) {', '.join(claim_ids)} are slow or state no assumptions" if claim_ids else "no searchable claims"
        )
        raise DlnkitInputError(f"nothing to search: {what}")
    _claim_gallery_files(out, pairs, force)
    out.mkdir(parents=True, exist_ok=True)
    searches: dict = {}  # this run's searches, merged into the index at the end
    results: list = []
    claims_seen: list = []
    for claim, _name in pairs:
        if claim.id not in claims_seen:
            claims_seen.append(claim.id)
    plan = [(get_claim(cid), None) for cid in claims_seen] + list(pairs)
    interrupted = False
    try:
        for claim, name in plan:
            dropped = [name] if name else []
            res = find_counterexample(claim, dropped, max_examples=max_examples, seed=seed, progress=progress)
            results.append(res)
            if log:
                log(res.summary())
            fname = None
            if res.found and name and not res.interrupted:
                path = out / f"{slug(claim.id, res.dropped)}.json"
                save_counterexample(res, path)  # kept even if the explanation below fails
                save_counterexample(res, path, claim.explain(res.dropped, res.counterexample.config))
                fname = path.name
            key = slug(claim.id, res.dropped) if name else f"{claim.id}--nothing-dropped"
            searches[key] = _search_entry(res, fname)
            if res.interrupted:
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # galleries of other claims may finish at the same time: merge, don't clobber; a Ctrl-C now is held
        with finishing("the gallery's index"), _folder_lock(out):
            merged = {**_read_index(out), **searches}
            atomic_write_json(out / INDEX, {"format": INDEX_FORMAT, "searches": merged})
            atomic_write_text(out / "README.md", _gallery_readme(out, merged, max_examples, seed, interrupted))
    if interrupted:
        raise KeyboardInterrupt
    return results


def _is_gallery_readme(path: Path) -> bool:
    from dlnkit.records.input_files import peek_file_head

    head = peek_file_head(path, 400)
    return head is not None and head.decode("utf-8", errors="replace").startswith(README_HEAD)


def _is_gallery_index(path: Path) -> bool:
    from dlnkit.records.input_files import peek_json_file

    idx = peek_json_file(path)
    return isinstance(idx, dict) and idx.get("format") == INDEX_FORMAT


def _claim_gallery_files(out: Path, pairs, force: bool) -> None:
    """Claim, before any search, every file this gallery run may write: its README and index
    (replaced only when they are a gallery's own) and each pair's record (only a record of the
    same claim); anything else at those names needs ``force``. No lock files: concurrent
    galleries of other claims in one folder merge under the folder lock instead."""
    from dlnkit.records.outputs import claim_output

    claim_output(out / "README.md", overwrite=force, what="gallery README", ours=_is_gallery_readme, lock=False)
    claim_output(out / INDEX, overwrite=force, what="gallery index", ours=_is_gallery_index, lock=False)
    for claim, name in pairs:
        claim_output(
            out / f"{slug(claim.id, [name])}.json",
            overwrite=force,
            what=f"record of {claim.id}",
            ours=lambda p, cid=claim.id: is_record_of(p, cid),
            lock=False,
        )


README_HEAD = "# Counterexample gallery\n\nGenerated by `dlnkit counterexample --gallery`"


def _gallery_readme(out: Path, searches: dict, max_examples: int, seed: int, interrupted: bool) -> str:
    """The README, from the index of searches and the records on disk (each record carries its own
    numbers and explanation)."""
    lines = [
        "# Counterexample gallery",
        "",
        "Generated by `dlnkit counterexample --gallery` (do not edit by hand). For each claim and each of its "
        f"assumptions, Hypothesis searched up to {max_examples} configurations (seed {seed}) satisfying every "
        "other assumption, stopped at the first that the claim gets wrong and shrank it. "
        "`dlnkit replay FILE` recomputes any file below; on CPU with the same torch build the numbers "
        "are bit-for-bit the stored ones.",
        "",
    ]
    if interrupted:
        lines += [
            "**The last run was interrupted (Ctrl-C):** rows marked *interrupted* were not searched to the "
            "end; they say nothing about whether the pair breaks.",
            "",
        ]
    lines += [
        "| claim | dropped | breaks? | file | weights | error / bound | violates |",
        "|---|---|---|---|---|---|---|",
    ]
    records: dict = {}
    explained = []
    for key, e in searches.items():
        if key.endswith("--nothing-dropped"):
            continue
        drop = ", ".join(e["dropped"])
        if e.get("interrupted"):
            lines.append(f"| {e['claim']} | {drop} | *interrupted* after {e['evaluations']} examples | - | - | - | - |")
            continue
        rec = None
        if e.get("file"):
            try:
                rec = json.loads((out / e["file"]).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                rec = None
        if e["found"] and rec is not None:
            records[e["file"]] = rec
            miss = (
                "exception"
                if rec.get("outcome") == "exception"
                else f"{_num(rec.get('error')):.3g} / {_num(rec.get('bound')):.0e}"
            )
            lines.append(
                f"| {e['claim']} | {drop} | yes | [{e['file']}]({e['file']}) | {rec.get('size', '?')} | "
                f"{miss} | {', '.join(rec.get('violated') or []) or '?'} |"
            )
            explained.append((e, rec))
        else:
            stale = out / f"{key}.json"
            note = f" (an older record {stale.name} is still there: replay it)" if stale.exists() else ""
            lines.append(
                f"| {e['claim']} | {drop} | **no** (none in {e['evaluations']} examples){note} | - | - | "
                f"max {_num(e.get('worst_miss_factor')):.2g} | - |"
            )
    listed = {e.get("file") for e in searches.values()}
    others = sorted(p.name for p in out.glob("*.json") if p.name not in listed and p.name != INDEX)
    if others:
        lines += [
            "",
            "Other records in this folder (not from a gallery search in the index): "
            + ", ".join(f"[{n}]({n})" for n in others)
            + ".",
        ]
    lines += ["", "## With nothing dropped (property-based verification)", ""]
    for key, e in searches.items():
        if key.endswith("--nothing-dropped"):
            if e.get("interrupted"):
                lines.append(
                    f"- {e['claim']} dropping nothing: *interrupted* after {e['evaluations']} examples "
                    "(not searched to the end)"
                )
                continue
            lines.append(f"- {e['summary'].splitlines()[0]}")
            if e["found"] and not e.get("interrupted"):
                lines.append("  - **a bug, not a finding about an assumption**: see the configuration above.")
    lines += ["", "## Why each one breaks", ""]
    for e, rec in explained:
        cfg = json.dumps(rec.get("config"))
        what = (
            f"raises `{rec.get('exception')}`."
            if rec.get("outcome") == "exception"
            else f"predicted {rec.get('predicted')}, measured {rec.get('measured')}; "
            f"error {_num(rec.get('error')):.6g} against bound {_num(rec.get('bound')):.1g}."
        )
        lines += [
            f"### {e['claim']} without `{', '.join(e['dropped'])}` ([{e['file']}]({e['file']}))",
            "",
            f"Shrunk configuration `{cfg}` ({rec.get('size', '?')} weights): {what}",
            "",
            rec.get("explanation", ""),
            "",
        ]
        warn = [ln.strip() for ln in e["summary"].splitlines() if "WARNING" in ln]
        lines += [w + "\n" for w in warn]
    no = [
        e
        for k, e in searches.items()
        if not k.endswith("--nothing-dropped") and not e["found"] and not e.get("interrupted")
    ]
    if no:
        lines += ["## Pairs that did not break", ""]
        for e in no:
            lines.append(
                f"- {e['claim']} without `{', '.join(e['dropped'])}`: no counterexample in {e['evaluations']} "
                f"examples (largest error/bound {_num(e.get('worst_miss_factor')):.2g})."
            )
        lines.append("")
    return "\n".join(lines)


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")
