r"""Counterexample engine: drop assumptions of a claim, search with Hypothesis, shrink.

A claim draws its configurations from ``claim.config_strategy(drop)``: every assumption holds
except the dropped ones, whose strategies draw violating values. :func:`find_counterexample`
runs the claim on those configurations (through :meth:`~dlnkit.claims.base.Claim.check`, the one
runner) inside a Hypothesis test; the first configuration whose error exceeds the claim's bound
(or whose check is an ERROR) makes the test fail, and Hypothesis shrinks it to a minimal failing
configuration. With nothing dropped, an empty search ("no counterexample in N examples") is the
property-based verification of the claim. Which assumptions a failure violates comes from the
claim's own ``violated_assumptions`` hook; slow claims (``claim.slow``) are refused unless asked.

Split by concern: records and replay live in :mod:`dlnkit.engines.counterexample_records`, the gallery
writer in :mod:`dlnkit.engines.gallery`, the explanations on each claim (``claim.explain``). Their public
names are also reachable from here (``dlnkit.engines.counterexample.replay`` ...).
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, seed as hseed, settings, target
from hypothesis.control import current_build_context
from hypothesis.errors import Flaky

from dlnkit.claims.base import Claim, ClaimResult, digest
from dlnkit.numerics.device import resolve_device
from dlnkit.numerics.point import num_params
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.

_OUTCOMES = {"PASS": "pass", "FAIL": "miss", "ERROR": "exception"}


@dataclass
class Evaluation:
    """One configuration run through a claim (a :class:`ClaimResult` from ``claim.check``), seen as
    a counterexample candidate: ``outcome`` is ``"pass"``, ``"miss"`` (error beyond the bound) or
    ``"exception"`` (an ERROR row: predict or measure raised -- a finding about the claim's
    domain, kept apart from a numerical miss)."""

    result: ClaimResult

    @property
    def config(self) -> dict:
        return self.result.config

    @property
    def outcome(self) -> str:
        return _OUTCOMES[self.result.status]

    @property
    def predicted(self) -> str:
        return self.result.predicted if self.outcome != "exception" else ""

    @property
    def measured(self) -> str:
        return self.result.measured if self.outcome != "exception" else ""

    @property
    def error(self) -> float:
        return self.result.error

    @property
    def bound(self) -> float:
        return self.result.bound

    @property
    def exception(self) -> str:
        return self.result.message if self.outcome == "exception" else ""

    @property
    def predicted_sha256(self) -> str:
        return self.result.predicted_sha256

    @property
    def measured_sha256(self) -> str:
        return self.result.measured_sha256

    @property
    def seconds(self) -> float:
        return self.result.seconds

    @property
    def failed(self) -> bool:
        return self.outcome != "pass"

    @property
    def miss_factor(self) -> float:
        """error / bound (inf for an exception, an infinite or NaN error, or a zero bound)."""
        return self.result.miss_factor


def evaluate(claim: Claim, config: dict, device: str = "cpu") -> Evaluation:
    """``claim.check(config, device)`` as a counterexample candidate (digests of the raw numbers
    included; an exception in the claim is outcome ``"exception"``)."""
    return Evaluation(claim.check(dict(config), device=device))


def violated_assumptions(claim: Claim, config: dict) -> list[str] | None:
    """Names of the claim's assumptions that ``config`` violates (its ``violated_assumptions``
    hook), or ``None`` when the claim cannot tell."""
    own = claim.violated_assumptions(config)
    return None if own is None else sorted(own)


def config_size(config: dict) -> int:
    """Number of weights of the network a configuration describes (sum of d_l d_{l-1}), 0 if none."""
    dims = config.get("dims")
    return num_params(dims) if dims else 0


# ----------------------------------------------------------------------------------------
# the search
@dataclass
class SearchResult:
    """What :func:`find_counterexample` found. ``counterexample`` is the shrunk failing
    configuration's evaluation (``None`` when the search came back empty)."""

    claim_id: str
    dropped: list
    max_examples: int
    seed: int
    device: str
    calls: int = 0  # configurations evaluated, generation and shrinking together
    counterexample: Evaluation | None = None
    first_failure: Evaluation | None = None
    violated: list | None = None
    interrupted: bool = False
    seconds: float = 0.0
    worst_miss_factor: float = 0.0
    note: str = ""
    #: a failure that violates none of the dropped assumptions (a bug in the claim, not a finding
    #: about the assumption); kept aside when ``require_violation`` is on
    unexplained: Evaluation | None = None

    @property
    def found(self) -> bool:
        return self.counterexample is not None

    def summary(self) -> str:
        head = f"{self.claim_id} dropping {', '.join(self.dropped) or 'nothing'}"
        if not self.found:
            tail = " (interrupted)" if self.interrupted else ""
            return "\n".join(
                [
                    f"{head}: no counterexample in {self.calls} examples{tail} "
                    f"(largest error/bound {self.worst_miss_factor:.3g}, {self.seconds:.1f} s)"
                ]
                + self._unexplained_lines()
            )
        ce = self.counterexample
        lines = [
            f"{head}: counterexample after {self.calls} evaluations ({self.seconds:.1f} s)"
            + (" (interrupted: best so far, maybe not fully shrunk)" if self.interrupted else ""),
            f"  config:    {json.dumps(ce.config)}",
            f"  size:      {config_size(ce.config)} weights",
        ]
        if ce.outcome == "exception":
            lines.append(f"  raised:    {ce.exception}")
        else:
            lines += [
                f"  predicted: {ce.predicted}",
                f"  measured:  {ce.measured}",
                f"  error:     {ce.error:.6g} > bound {ce.bound:.3g} (misses by x{ce.miss_factor:.3g})",
            ]
        if self.violated is not None:
            lines.append(f"  violates:  {', '.join(self.violated) or 'none of its assumptions (a bug in the claim!)'}")
        return "\n".join(lines + self._unexplained_lines())

    def _unexplained_lines(self) -> list:
        u = self.unexplained
        if u is None:
            return []
        what = u.exception if u.outcome == "exception" else f"error {u.error:.3g} > bound {u.bound:.3g}"
        return [
            f"  WARNING: the claim also fails where no dropped assumption is violated: {json.dumps(u.config)} ({what})"
        ]


class _ClaimBroken(Exception):
    """Raised inside the Hypothesis test so that it records a failure and shrinks it."""


def find_counterexample(
    claim: Claim,
    drop: Iterable[str] = (),
    *,
    max_examples: int = 100,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    max_shrink_calls: int = 300,
    allow_slow: bool = False,
    require_violation: bool = True,
) -> SearchResult:
    """Search ``claim.config_strategy(drop)`` for a configuration the claim gets wrong, and shrink it.

    Hypothesis draws up to ``max_examples`` configurations (reproducibly for ``seed``), stops at
    the first failure (error above the bound, or an exception in predict/measure) and shrinks it;
    after ``max_shrink_calls`` evaluations past the first failure the shrinking is cut short (the
    smallest failure so far is kept). Ctrl-C returns the smallest failure found so far with
    ``interrupted=True``.

    With ``require_violation`` (the default) and assumptions dropped, a failing configuration
    counts only if it violates at least one dropped assumption (when the claim can tell, see
    :func:`violated_assumptions`): a failure that violates none is a bug in the claim, kept in
    ``unexplained`` and reported, but not shrunk to, so that the shrunk example is about the
    dropped assumption. With nothing dropped every failure counts.
    """
    if claim.slow and not allow_slow:
        raise DlnkitInputError(
            f"claim {claim.id} is slow (it trains a network or takes seconds per example): too "
            f"slow for a counterexample search (pass allow_slow=True to insist)"
        )
    if int(max_examples) < 1:
        raise DlnkitInputError(f"max_examples must be at least 1, got {max_examples}")
    drop = claim.check_drop(drop)
    strategy = claim.config_strategy(drop)
    dev = str(resolve_device(device))
    res = SearchResult(claim.id, sorted(drop), int(max_examples), int(seed), dev)
    state = {"best": None, "final": None}
    bar = None
    if progress:
        from tqdm import tqdm  # plain tqdm: tqdm.auto warns in a Jupyter kernel without ipywidgets

        bar = tqdm(desc=f"counterexample {claim.id}", unit="ex", file=sys.stderr, leave=False)

    def probe(config):
        if (
            res.first_failure is not None
            and state["best"] is not None
            and config != state["best"].config
            and res.calls - first_call[0] > max_shrink_calls
        ):
            return  # shrink budget spent: only the best failure so far still counts as failing
        ev = evaluate(claim, config, dev)
        res.calls += 1
        mf = ev.miss_factor
        if math.isfinite(mf):
            target(math.log10(max(mf, 1e-300)), label="log10(error/bound)")
        res.worst_miss_factor = max(res.worst_miss_factor, mf)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(
                f"worst error/bound {res.worst_miss_factor:.3g}" + (" | shrinking" if res.first_failure else "")
            )
        if ev.failed and drop and require_violation:
            viol = violated_assumptions(claim, config)
            if viol is not None and not (set(viol) & drop):
                if res.unexplained is None or config_size(config) < config_size(res.unexplained.config):
                    res.unexplained = ev
                return
        if ev.failed:
            if res.first_failure is None:
                res.first_failure = ev
                first_call[0] = res.calls
            state["best"] = ev
            if current_build_context().is_final:
                state["final"] = ev
            raise _ClaimBroken(ev.outcome)

    first_call = [0]
    test = given(strategy)(probe)
    test = settings(
        database=None,
        max_examples=int(max_examples),
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    )(test)
    test = hseed(int(seed))(test)
    t0 = time.perf_counter()
    try:
        test()
    except _ClaimBroken:
        pass
    except KeyboardInterrupt:
        res.interrupted = True
    except Flaky as exc:  # pragma: no cover - our measurements are deterministic
        res.note = f"Hypothesis reported flakiness: {exc}"
    finally:
        if bar is not None:
            bar.close()
    res.seconds = time.perf_counter() - t0
    res.counterexample = state["final"] or state["best"]
    if res.counterexample is not None:
        res.violated = violated_assumptions(claim, res.counterexample.config)
    return res


_MOVED = {
    "dlnkit.engines.counterexample_records": (
        "FORMAT",
        "counterexample_record",
        "save_counterexample",
        "load_counterexample",
        "ReplayResult",
        "replay_record",
        "replay",
        "regression_test_source",
    ),
    "dlnkit.engines.gallery": ("gallery_pairs", "generate_gallery", "slug"),
}


def __getattr__(name: str) -> Any:
    """The records/replay and gallery names, importable from here as before the split."""
    for module, names in _MOVED.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Evaluation",
    "evaluate",
    "violated_assumptions",
    "config_size",
    "SearchResult",
    "find_counterexample",
    "digest",
    *[n for names in _MOVED.values() for n in names],
]
