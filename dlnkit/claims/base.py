"""What a claim is: a prediction (theory), a measurement (numerics), a tolerance with its reason,
and the assumptions under which the prediction must hold.

A claim draws its configurations from a Hypothesis strategy built from its assumptions, so the
same object serves ``dlnkit verify`` (draw configurations that satisfy every assumption) and the
counterexample search (draw ones that violate chosen assumptions, then shrink).

Everything about one claim lives on the claim (the engines never name a claim id):

* ``slow`` -- one check trains a network or takes seconds: no counterexample search and no drawn
  examples in the default ``dlnkit verify``;
* ``default_configs()`` (the quick ``dlnkit verify``) and ``full_configs()`` (``--full``);
* ``configs`` -- data: a :class:`ConfigSet` (strategy, quick defaults, paper-scale configurations)
  that claims of one setup share; or the hooks ``config_strategy``, ``default_configs()`` (the
  quick ``dlnkit verify``) and ``full_configs()`` (``--full``);
* ``violations`` -- data: assumption name -> predicate on a configuration (True when violated),
  from which ``violated_assumptions(config)`` says which assumptions a configuration violates
  (``None``: cannot tell);
* ``explanations`` -- data: assumption name -> why dropping it breaks the claim, used by
  ``explain(dropped, config)`` (override it for a derivation);
* ``cpu_only`` -- data: checks run on the CPU whatever device is asked (small matrices, loops);
* the exact route, ONE protocol mirroring the float one: ``exact_predict(config)`` and
  ``exact_measure(config)`` in exact arithmetic, compared by ``exact_compare`` (zero tolerance
  by default); ``has_exact_route`` is True when the claim implements ``exact_measure``;
* ``group`` -- the paper (or ``"classic"`` / ``"user"``) the claim belongs to, for ``dlnkit list``;
* :meth:`Claim.check` -- THE runner: predict, measure, compare (or the exact route) for one
  configuration, returning a :class:`ClaimResult`; an exception becomes an ERROR row.

Claims subclass :class:`Claim` directly: a family of claims shares data (a :class:`ConfigSet`,
assumptions from :mod:`dlnkit.claims.assumptions`, ``violations``), never an intermediate base.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, given, seed as hseed, settings, strategies as st

from dlnkit.arguments import checked
from dlnkit.claims.boundary import UserCodeExit, user_code
from dlnkit.configs.knobs import canonical_config
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.

Config = dict  # JSON-able dict: plain ints, floats, strings, lists


@dataclass(frozen=True)
class Assumption:
    """A named hypothesis of a claim.

    ``statement`` says it in words. The claim's :meth:`Claim.config_strategy` produces
    configurations where it holds, or (when the name is in ``drop``) where it may fail.

    Attributes
    ----------
    name : str
        The name used on the command line (``--drop NAME``) and in counterexample records.
    statement : str
        The assumption in words.
    """

    name: str
    statement: str


@dataclass(frozen=True)
class ConfigSet:
    """The configurations that claims on one setup share (data on :class:`Claim`, in place of a
    family base class).

    Attributes
    ----------
    strategy : callable
        ``strategy(drop)`` -> a Hypothesis strategy of configurations that satisfy every assumption
        except those named in ``drop`` (a frozenset, already checked against the claim's names).
    default : tuple of dict
        The quick configurations of the default ``dlnkit verify``.
    full : tuple of dict or None
        The paper-scale configurations of ``dlnkit verify --full`` (None: the defaults).
    """

    strategy: Callable[[frozenset], st.SearchStrategy]
    default: tuple[dict, ...] = ()
    full: tuple[dict, ...] | None = None


@dataclass(frozen=True)
class Tolerance:
    """|measured - predicted| <= atol + rtol * |predicted|, with the reason for the numbers.

    Attributes
    ----------
    rtol, atol : float
        Relative and absolute parts of the bound.
    reason : str
        Why these numbers (rounding analysis, backward error, band of an approximate claim).
    """

    rtol: float = 0.0
    atol: float = 0.0
    reason: str = ""

    def __post_init__(self) -> None:
        import math

        from dlnkit.numerics.validation import DlnkitInputError

        for name in ("rtol", "atol"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise DlnkitInputError(f"Tolerance.{name} must be a finite number >= 0, got {v!r}")

    def bound(self, predicted_scale: float) -> float:
        """``atol + rtol * |predicted_scale|``: the largest error that passes.

        Parameters
        ----------
        predicted_scale
            The size of the prediction (a scalar, or the largest entry of an array prediction).

        Returns
        -------
        float
        """
        return self.atol + self.rtol * abs(predicted_scale)


@dataclass
class Comparison:
    """How one prediction met one measurement. ``error`` and ``bound`` are in the same units.

    Attributes
    ----------
    predicted, measured : Any
        The raw values (numbers, arrays, SymPy expressions).
    error, bound : float
        The error and the largest error that passes; :attr:`passed` is ``error <= bound``.
    predicted_display, measured_display : str
        How the verify table shows them.
    details : dict
        Anything else worth keeping in the JSON row (JSON-able values).
    """

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
    """One row of ``dlnkit verify``: everything needed to reproduce and judge it.

    Attributes
    ----------
    claim_id : str
        The claim.
    config : dict
        The configuration checked (with its seed).
    predicted, measured, reported : str
        Displays of the prediction, the measurement and a paper's number (labelled reported).
    error, bound : float
        In the claim's own units.
    passed : bool
    status : str
        ``PASS``, ``FAIL`` or ``ERROR`` (the check raised: ``message`` says what).
    kind : str
        ``exact`` or ``approximate``.
    seed : int or None
    device : str
    seconds : float
        Wall time of the check.
    details : dict
        The claim's extra data (e.g. spectra, trajectories: what ``dlnkit report`` plots).
    message : str
        For an ERROR row, the exception.
    """

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
    message: str = ""  # for an ERROR row: the exception (type and text)
    #: SHA-256 of the exact (bitwise) content of the raw prediction and measurement ("" for ERROR rows)
    predicted_sha256: str = ""
    measured_sha256: str = ""
    #: the raw (predicted, measured) values of this run, for callers that show more than the row
    #: (``dlnkit spectrum``); not part of the JSON, None for ERROR and exact rows
    values: tuple | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        """The row as plain JSON values (whatever a user's claim put in its configuration or
        details: a cycle, a tuple key, an object are written as text, never lose the record)."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "values"}
        try:
            return json.loads(json.dumps(row, default=_json_default))
        except (ValueError, TypeError, RecursionError):  # a cycle, a key JSON cannot hold, too deep
            return json.loads(json.dumps(_plain(row), default=_json_default))

    @classmethod
    def error_row(
        cls,
        claim_id: str,
        config: Config,
        message: str,
        *,
        kind: str = "",
        device: str = "",
        seed: int | None = None,
        seconds: float = 0.0,
        exact: bool = False,
        traceback_text: str = "",
    ) -> ClaimResult:
        """The ERROR row of a check that raised (the one shape every engine writes)."""
        return cls(
            claim_id=claim_id,
            config=dict(config),
            predicted="-",
            measured="-",
            error=math.nan,
            bound=0.0 if exact else math.nan,
            passed=False,
            status="ERROR",
            kind=kind,
            seed=seed,
            device=device,
            seconds=seconds,
            details={"traceback": traceback_text} if traceback_text else {},
            message=message,
        )

    @property
    def miss_factor(self) -> float:
        """error / bound (inf for an ERROR row, an infinite or NaN error, or a zero bound with an error)."""
        if self.status == "ERROR" or not math.isfinite(self.error):
            return float("inf")
        return self.error / self.bound if self.bound > 0 else (float("inf") if self.error > 0 else 0.0)


def _canonical(obj: Any) -> Any:
    """A JSON-able, exact form of a prediction or measurement: floats as ``float.hex``, arrays as
    their shape and the SHA-256 of their float64 bytes."""
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().double().numpy()
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj, dtype=np.float64)
        return {"shape": list(a.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return float.hex(obj)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    return repr(obj)


def digest(obj: Any) -> str:
    """SHA-256 of the exact (bitwise) content of a prediction or measurement.

    >>> digest(0.5) == digest(0.5), digest(0.5) == digest(0.5000000000000001)
    (True, False)
    """
    return hashlib.sha256(json.dumps(_canonical(obj), sort_keys=True).encode()).hexdigest()


#: the papers whose claims form a group of their own in ``dlnkit list``
PAPER_GROUPS = ("arXiv:2602.00545", "arXiv:2606.02596")


def _private_copy(config: Config) -> Config:
    """A deep copy of ``config`` (a shallow one when a value refuses deep copying)."""
    try:
        return copy.deepcopy(config)
    except Exception:  # noqa: BLE001 - e.g. a non-leaf tensor: its own object, the dict still a copy
        return dict(config)


def _plain(o, seen: frozenset = frozenset(), depth: int = 0):
    """``o`` with every cycle, over-deep level and non-text key replaced by text (for :meth:`ClaimResult.to_json`)."""
    if isinstance(o, (str, int, float, bool)) or o is None:
        return o
    if id(o) in seen:
        return "<cycle>"
    if depth > 50:
        return "<too deep>"
    inner = seen | {id(o)}
    if isinstance(o, Mapping):
        return {k if isinstance(k, str) else repr(k): _plain(v, inner, depth + 1) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v, inner, depth + 1) for v in o]
    return _json_default(o)


def _json_default(o):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    try:
        return str(o)
    except Exception:  # noqa: BLE001 - a user's object whose __str__ raises is still written
        return f"<{type(o).__name__} object>"


class Claim:
    """Base class. Subclasses set the class attributes and implement ``predict``, ``measure``,
    ``compare`` and ``config_strategy``.

    Hooks with defaults (override them on the claim, never special-case a claim in an engine):
    :meth:`full_configs`, :meth:`violated_assumptions`, :meth:`explain`, the exact route
    (:meth:`exact_predict`, :meth:`exact_measure`, :meth:`exact_compare`; :attr:`has_exact_route`),
    :attr:`group`, :meth:`plot`. Data with defaults: :attr:`configs`, :attr:`violations`,
    :attr:`explanations`, :attr:`cpu_only`.

    Attributes
    ----------
    id : str
        Short unique name used on the command line (``B1-ratio``).
    title : str
        One line.
    source : str
        Where it comes from (``arXiv:2602.00545 B1``) or ``dlnkit``.
    kind : str
        ``"exact"`` (holds to rounding under its assumptions) or ``"approximate"``.
    assumptions : tuple of Assumption
        The named assumptions.
    tolerance : Tolerance
        How far measurement may sit from prediction, and why.
    slow : bool
        One check trains a network or takes seconds or more (no counterexample search, no drawn
        examples in the default ``dlnkit verify``).
    configs : ConfigSet or None
        Shared configurations (strategy, defaults, full); None: the claim overrides the hooks.
    violations : mapping or None
        Assumption name -> predicate(config), True when the configuration violates it; ``{}``
        says no configuration can violate an assumption; None: cannot tell.
    explanations : mapping
        Assumption name -> one sentence on why dropping it breaks (or does not break) the claim.
    cpu_only : bool
        Checks run on the CPU whatever device is asked (the row says "cpu"): matrices of size
        <= ~6 and NumPy loops, where a GPU would only add transfers.
    optional_config_keys : tuple of str
        Configuration keys the claim reads that its fixed and drawn configurations may leave out
        (an optional knob with a default). With the keys of those configurations and ``seed``
        they are every key a configuration may hold: a sweep refuses any other (``dimz``).
    """

    id: str = ""
    title: str = ""
    source: str = "dlnkit"
    kind: str = "exact"
    assumptions: tuple[Assumption, ...] = ()
    tolerance: Tolerance = Tolerance()
    slow: bool = False
    configs: ConfigSet | None = None
    violations: Mapping[str, Callable[[Config], bool]] | None = None
    explanations: Mapping[str, str] = {}
    cpu_only: bool = False
    optional_config_keys: tuple[str, ...] = ()
    #: where a user claim was loaded from (a file or an entry point); None for built-ins
    origin: str | None = None

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
        return Comparison(
            predicted,
            measured,
            err,
            self.tolerance.bound(float(predicted)),
            f"{float(predicted):.6g}",
            f"{float(measured):.6g}",
        )

    def config_strategy(self, drop: Iterable[str] = ()) -> st.SearchStrategy:
        """Configurations satisfying every assumption except those named in ``drop`` (default:
        :attr:`configs`' strategy)."""
        if self.configs is None:
            raise NotImplementedError(f"claim {self.id} has no configuration strategy")
        return self.configs.strategy(self.check_drop(drop))

    def default_configs(self) -> list[Config]:
        """The quick configurations always checked by the default ``dlnkit verify`` (the whole
        default verify takes about a minute; default: :attr:`configs`' defaults)."""
        return [dict(c) for c in self.configs.default] if self.configs is not None else []

    def full_configs(self) -> list[Config]:
        """The paper-scale configurations of ``dlnkit verify --full`` (default: :attr:`configs`'
        full set, else :meth:`default_configs`)."""
        if self.configs is not None and self.configs.full is not None:
            return [dict(c) for c in self.configs.full]
        return self.default_configs()

    def reported_value(self, config: Config) -> str:
        """A paper's reported number for this configuration, if any (display only)."""
        return ""

    def violated_assumptions(self, config: Config) -> frozenset[str] | None:
        """The names of this claim's assumptions that ``config`` violates (default: from
        :attr:`violations`), or ``None`` when the claim cannot tell (the counterexample search then
        accepts every failure)."""
        if self.violations is None:
            return None
        config = canonical_config(config)
        names = set(self.assumption_names)
        return frozenset(n for n, violated in self.violations.items() if n in names and violated(config))

    def explain(self, dropped: Iterable[str], config: Config) -> str:
        """One paragraph on why ``config`` breaks the claim once ``dropped`` are dropped (derived
        in SymPy where there is a derivation). Default: the :attr:`explanations` of the dropped
        assumptions, else a generic sentence."""
        dropped = sorted(dropped)
        parts = [self.explanations[n] for n in dropped if n in self.explanations]
        if parts:
            return " ".join(parts)
        names = ", ".join(dropped) or "nothing"
        return (
            f"Dropping {names} lets the search reach this configuration; the claim's prediction "
            f"does not account for it. (No symbolic explanation is available for this pair.)"
        )

    # ----- the exact route (``dlnkit verify --exact``) -------------------------------------
    def exact_predict(self, config: Config) -> Any:
        """The prediction in exact arithmetic (SymPy rationals, matrices)."""
        raise NotImplementedError(f"claim {self.id} has no exact route")

    def exact_measure(self, config: Config) -> Any:
        """The measurement in exact arithmetic, at the rational point of ``config``
        (:func:`dlnkit.configs.exact_points.exact_point`): a value, or a dict with ``"value"`` and
        details. Implementing it gives the claim an exact route; raise ``NotImplementedError`` for a
        configuration it does not cover."""
        raise NotImplementedError(f"claim {self.id} has no exact route")

    def exact_compare(self, predicted: Any, measured: Any, config: Config) -> Comparison:
        """Exact prediction vs exact measurement with zero tolerance (a dict measurement's other
        keys are details). Override it where the route checks more (the float64 route too)."""
        # SymPy is loaded only by exact routes, never by a plain ``dlnkit verify``
        from dlnkit.configs.exact_points import exact_equal, exact_error

        details: dict = {}
        if isinstance(measured, Mapping):
            details = {k: v for k, v in measured.items() if k != "value"}
            measured = measured["value"]
        ok = exact_equal(predicted, measured)
        return Comparison(
            predicted,
            measured,
            0.0 if ok else exact_error(predicted, measured),
            0.0,
            self.exact_display(predicted),
            self.exact_display(measured),
            details=details,
        )

    def exact_display(self, value: Any) -> str:
        """How an exact prediction or measurement is shown in the table (at most 40 characters)."""
        text = str(value)
        return text if len(text) <= 40 else text[:39] + "…"

    def exact_check(self, config: Config) -> Comparison:
        """The exact route for one configuration: :meth:`exact_predict`, :meth:`exact_measure`,
        :meth:`exact_compare` (not a hook: override those three)."""
        if not self.has_exact_route:
            raise NotImplementedError(f"claim {self.id} has no exact route")
        cfg = dict(config)
        return self.exact_compare(self.exact_predict(cfg), self.exact_measure(cfg), cfg)

    def plot(self, rows: list[dict]) -> Any:
        """Figures of this claim for ``dlnkit report``, from its rows in a record (the dicts that
        ``dlnkit verify --json`` writes: ``config``, ``predicted``, ``measured``, ``details``, ...).

        Return ``None`` (the default: the report draws only the plots it derives from the rows, see
        :mod:`dlnkit.records.report_plots`), a matplotlib ``Figure``, or a list of Figures or
        ``(title, Figure)`` pairs. Draw only what the rows hold; build figures with
        ``matplotlib.figure.Figure`` (no pyplot state)."""
        return None

    @property
    def has_exact_route(self) -> bool:
        """True when the claim implements :meth:`exact_measure`."""
        return type(self).exact_measure is not Claim.exact_measure

    @property
    def group(self) -> str:
        """``dlnkit list``'s grouping: the paper id for the two papers' claims, ``"user"`` for
        claims loaded from a file or entry point (or with source ``"user"``), else ``"classic"``."""
        for paper in PAPER_GROUPS:
            if paper in (self.source or ""):
                return paper
        if self.origin is not None or self.source == "user":
            return "user"
        return "classic"

    # ----- provided ---------------------------------------------------------------------
    @property
    def assumption_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.assumptions)

    def check_drop(self, drop: Iterable[str]) -> frozenset:
        drop = frozenset(drop)
        unknown = drop - set(self.assumption_names)
        if unknown:
            raise DlnkitInputError(
                f"claim {self.id} has no assumption {', '.join(sorted(unknown))}; "
                f"its assumptions are: {', '.join(self.assumption_names) or '(none)'}"
            )
        return drop

    def check(
        self, config: Config, device: str = "cpu", seed: int | None = None, *, exact: bool = False
    ) -> ClaimResult:
        """THE runner: predict, measure and compare one configuration (with ``exact``: the exact
        route :meth:`exact_check`, zero tolerance, on the CPU in SymPy).

        Never raises for the claim's own failure: an exception in predict / measure / compare
        (or a missing exact route) becomes a result with status ``"ERROR"`` and the exception as
        its ``message``; the other rows of a run still come out. Ctrl-C still stops.
        """
        # old knob names (stored records) read as the current ones; each user call gets its own
        # copy, so a claim that edits its configuration (cfg["dims"].append(...)) changes neither
        # the row's record of what was checked nor the caller's configurations (a claim's defaults)
        cfg = _private_copy(canonical_config(config))
        row_config = {**cfg, "exact": True} if exact else cfg
        row_seed = cfg.get("seed", seed)
        t0 = time.perf_counter()
        if exact:
            dev = "cpu (sympy)"
        elif self.cpu_only:
            dev = "cpu"
        else:  # a device that does not exist is the caller's bad input, not the claim's failure
            from dlnkit.numerics.device import resolve_device

            dev = str(resolve_device(device))
        try:
            # the boundary: the claim may exit, fork or change process state; dlnkit's next row may not notice
            with user_code(f"claim {self.id}", source=self.origin):
                if exact:
                    predicted = measured = None
                    cmp = self.exact_check(_private_copy(cfg))
                else:
                    predicted = self.predict(_private_copy(cfg))
                    measured = self.measure(_private_copy(cfg), dev)
                    cmp = self.compare(predicted, measured, _private_copy(cfg))
                reported = "" if exact else self.reported_value(_private_copy(cfg))
            passed = cmp.passed
            result = ClaimResult(
                claim_id=self.id,
                config=row_config,
                predicted=cmp.predicted_display or str(cmp.predicted),
                measured=cmp.measured_display or str(cmp.measured),
                error=float(cmp.error),
                bound=float(cmp.bound),
                passed=passed,
                status="PASS" if passed else "FAIL",
                kind="exact" if exact else self.kind,
                seed=row_seed,
                device=dev,
                seconds=0.0,
                reported=reported,
                details={"route": "exact-rational", **cmp.details} if exact else cmp.details,
                predicted_sha256="" if exact else digest(predicted),
                measured_sha256="" if exact else digest(measured),
                values=None if exact else (predicted, measured),
            )
        except KeyboardInterrupt:  # Ctrl-C stops the run (the engines keep the finished rows)
            raise
        except BaseException as exc:  # noqa: BLE001 - the claim's failure (also sys.exit, a BaseException) is a row
            message = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, SystemExit):
                how = exc if isinstance(exc, UserCodeExit) else f"sys.exit({exc.code!r})"
                message = f"the claim called {how}"
            if exact and isinstance(exc, NotImplementedError):
                message = f"no exact route: {exc}"
            result = ClaimResult.error_row(
                self.id,
                row_config,
                message,
                kind="exact" if exact else self.kind,
                device=dev,
                seed=row_seed,
                exact=exact,
                traceback_text=traceback.format_exc(limit=8),
            )
        result.seconds = time.perf_counter() - t0
        return result

    def __repr__(self) -> str:  # pragma: no cover - cosmetic
        return f"<Claim {self.id}: {self.title}>"


#: bytes one drawn configuration holds until it is checked: the dict and its values, and what
#: Hypothesis keeps per example of the draw (measured up to 6.3 KB per configuration with
#: ``ru_maxrss`` over 2000 draws of B0, A4-sdir, C4-saddles and B1)
DRAWN_CONFIG_BYTES = 8192


def check_draw_size(n: int) -> None:
    """Refuse (:class:`~dlnkit.numerics.memory.AllocationTooLargeError`, exit 2 on the CLI) drawing
    ``n`` configurations that would not fit in memory, :data:`DRAWN_CONFIG_BYTES` each."""
    from dlnkit.numerics.memory import check_allocation

    check_allocation(
        DRAWN_CONFIG_BYTES * float(n),
        f"drawing {n:,} configurations",
        "cpu",
        hint="lower --examples (or a sweep's draw.examples)",
    )


@checked
def draw_configs(strategy: st.SearchStrategy, n: int, seed: int = 0) -> list[Config]:
    """``n`` configurations drawn from a Hypothesis strategy, reproducibly for a given seed.

    Parameters
    ----------
    strategy
        A Hypothesis strategy of configurations.
    n
        How many (0 gives an empty list).
    seed
        Seed of the draw.

    Returns
    -------
    list of dict

    Raises
    ------
    AllocationTooLargeError
        ``n`` configurations would not fit in memory (:data:`DRAWN_CONFIG_BYTES` each), refused
        before the first draw (``verify --examples 10**12`` drew for days before).
    """
    if n <= 0:
        return []
    check_draw_size(n)
    out: list[Config] = []

    @settings(
        max_examples=n, database=None, phases=[Phase.generate], deadline=None, suppress_health_check=list(HealthCheck)
    )
    @hseed(int(seed))
    @given(strategy)
    def _collect(cfg):
        out.append(cfg)

    _collect()
    return out[:n]
