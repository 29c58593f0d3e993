"""What a claim is: a prediction (theory), a measurement (numerics), a tolerance with its reason,
and the assumptions under which the prediction must hold.

A claim draws its configurations from a Hypothesis strategy built from its assumptions, so the
same object serves ``dlnkit verify`` (draw configurations that satisfy every assumption) and the
counterexample search (draw ones that violate chosen assumptions, then shrink).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from hypothesis import strategies as st

Config = dict  # JSON-able dict: plain ints, floats, strings, lists


@dataclass(frozen=True)
class Assumption:
    """A named hypothesis of a claim.

    ``statement`` says it in words. The claim's :meth:`Claim.config_strategy` produces
    configurations where it holds, or (when the name is in ``drop``) where it may fail.
    """

    name: str
    statement: str


@dataclass(frozen=True)
class Tolerance:
    """|measured - predicted| <= atol + rtol * |predicted|, with the reason for the numbers."""

    rtol: float = 0.0
    atol: float = 0.0
    reason: str = ""

    def bound(self, predicted_scale: float) -> float:
        return self.atol + self.rtol * abs(predicted_scale)


@dataclass
class Comparison:
    """How one prediction met one measurement. ``error`` and ``bound`` are in the same units."""

    predicted: Any
    measured: Any
    error: float
    bound: float
    predicted_display: str = ""
    measured_display: str = ""
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.error <= self.bound) and not math.isnan(self.error)


@dataclass
class ClaimResult:
    """One row of ``dlnkit verify``: everything needed to reproduce and judge it."""

    claim_id: str
    config: Config
    predicted: str
    measured: str
    error: float
    bound: float
    passed: bool
    status: str  # PASS / FAIL / ERROR
    kind: str  # exact / approximate
    seed: int | None
    device: str
    seconds: float
    reported: str = ""  # a paper's number, shown beside ours and labelled as reported
    details: dict = field(default_factory=dict)
    message: str = ""

    def to_json(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=_json_default))


def _json_default(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


class Claim:
    """Base class. Subclasses set the class attributes and implement ``predict``, ``measure``,
    ``compare`` and ``config_strategy``.

    Attributes
    ----------
    id : short unique name used on the command line (``B1-ratio``)
    title : one line
    source : where it comes from (``arXiv:2602.00545 B1``) or ``dlnkit``
    kind : ``"exact"`` (holds to rounding under its assumptions) or ``"approximate"``
    assumptions : the named assumptions
    tolerance : how far measurement may sit from prediction, and why
    reported : optional mapping config-key -> number the paper reports (display only)
    """

    id: str = ""
    title: str = ""
    source: str = "dlnkit"
    kind: str = "exact"
    assumptions: tuple[Assumption, ...] = ()
    tolerance: Tolerance = Tolerance()

    # ----- to implement ---------------------------------------------------------------
    def statement_latex(self) -> str:
        """The claim as LaTeX, printed from the SymPy expression where there is one."""
        return self.title

    def predict(self, config: Config) -> Any:
        raise NotImplementedError

    def measure(self, config: Config, device: str = "cpu") -> Any:
        raise NotImplementedError

    def compare(self, predicted: Any, measured: Any, config: Config) -> Comparison:
        """Default: scalar prediction, error = |measured - predicted|, bound from the tolerance."""
        err = abs(float(measured) - float(predicted))
        return Comparison(predicted, measured, err, self.tolerance.bound(float(predicted)),
                          f"{float(predicted):.6g}", f"{float(measured):.6g}")

    def config_strategy(self, drop: Iterable[str] = ()) -> st.SearchStrategy:
        """Configurations satisfying every assumption except those named in ``drop``."""
        raise NotImplementedError

    def default_configs(self) -> list[Config]:
        """Configurations always checked by ``dlnkit verify`` (e.g. the paper's grid)."""
        return []

    def reported_value(self, config: Config) -> str:
        """A paper's reported number for this configuration, if any (display only)."""
        return ""

    # ----- provided ---------------------------------------------------------------------
    @property
    def assumption_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.assumptions)

    def check_drop(self, drop: Iterable[str]) -> frozenset:
        from dlnkit.numerics.validation import DlnkitInputError

        drop = frozenset(drop)
        unknown = drop - set(self.assumption_names)
        if unknown:
            raise DlnkitInputError(
                f"claim {self.id} has no assumption {', '.join(sorted(unknown))}; "
                f"its assumptions are: {', '.join(self.assumption_names) or '(none)'}")
        return drop

    def check(self, config: Config, device: str = "cpu", seed: int | None = None) -> ClaimResult:
        """Predict, measure and compare for one configuration."""
        from dlnkit.numerics.device import resolve_device

        dev = str(resolve_device(device))
        t0 = time.perf_counter()
        predicted = self.predict(config)
        measured = self.measure(config, dev)
        cmp = self.compare(predicted, measured, config)
        seconds = time.perf_counter() - t0
        return ClaimResult(
            claim_id=self.id, config=dict(config), predicted=cmp.predicted_display or str(cmp.predicted),
            measured=cmp.measured_display or str(cmp.measured), error=float(cmp.error), bound=float(cmp.bound),
            passed=cmp.passed, status="PASS" if cmp.passed else "FAIL", kind=self.kind,
            seed=config.get("seed", seed), device=dev, seconds=seconds, reported=self.reported_value(config),
            details=cmp.details)

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"<Claim {self.id}: {self.title}>"


def draw_configs(strategy: st.SearchStrategy, n: int, seed: int = 0) -> list[Config]:
    """``n`` configurations drawn from a Hypothesis strategy, reproducibly for a given seed."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    if n <= 0:
        return []
    out: list[Config] = []

    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @hseed(int(seed))
    @given(strategy)
    def _collect(cfg):
        out.append(cfg)

    _collect()
    return out[:n]
