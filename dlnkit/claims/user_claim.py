"""A claim stated by a user: :func:`define_claim` and the :class:`UserClaim` it builds.

The public entry point is :mod:`dlnkit.api` (``dlnkit.define_claim``); this module holds the
claim class and the checks of its parts.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from dlnkit import claims as registry
from dlnkit.claims import (
    Assumption,
    Claim,
    Comparison,
    Tolerance,
)
from dlnkit.configs.prediction_values import evaluate_prediction
from dlnkit.numerics.validation import DlnkitInputError

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.

# ----- the claim --------------------------------------------------------------------------


def _partial_strategy(part, cfg):
    """A strategy of dicts from an assumption's satisfying / violating part."""
    if part is None:
        return st.just({})
    if isinstance(part, st.SearchStrategy):
        return part
    if isinstance(part, Mapping):
        return st.just(dict(part))
    if callable(part):
        return _partial_strategy(part(dict(cfg)), cfg)
    raise TypeError(f"an assumption part must be None, a dict, a strategy or a function, got {part!r}")


def _check_parts(
    cid: str,
    *,
    title,
    predict,
    strategy,
    assumptions,
    compare,
    default_configs,
    exact_predict,
    exact_measure,
    source,
    statement,
    reported,
    violated,
) -> None:
    """Refuse, when the claim is defined, every part that would otherwise fail only when checked."""
    import sympy as sp

    def bad(what: str) -> DlnkitInputError:
        return DlnkitInputError(f"claim {cid}: {what}")

    if not isinstance(title, str) or not title.strip():
        raise bad(f"title must be a non-empty string, got {title!r}")
    symbolic = (sp.Basic, sp.MatrixBase, int, float)
    if isinstance(predict, bool) or not (callable(predict) or isinstance(predict, symbolic)):
        raise bad(f"predict must be a function config -> value or a SymPy expression, got {type(predict).__name__}")
    if exact_predict is not None and not (callable(exact_predict) or isinstance(exact_predict, symbolic)):
        raise bad(f"exact_predict must be a function or a SymPy expression, got {type(exact_predict).__name__}")
    for name, fn in (
        ("compare", compare),
        ("exact_measure", exact_measure),
        ("reported", reported),
        ("violated", violated),
    ):
        if fn is not None and not callable(fn):
            raise bad(f"{name} must be a function or None, got {type(fn).__name__}")
    if strategy is not None and not isinstance(strategy, SearchStrategy):
        raise bad(f"strategy must be a Hypothesis strategy of configuration dicts, got {type(strategy).__name__}")
    if isinstance(default_configs, (str, bytes, Mapping)) or not isinstance(default_configs, (list, tuple)):
        raise bad(f"default_configs must be a list of configuration dicts, got {type(default_configs).__name__}")
    for i, c in enumerate(default_configs):
        if not isinstance(c, Mapping):
            raise bad(f"default_configs[{i}] must be a dict, got {type(c).__name__}")
    for name, text in (("source", source), ("statement", statement)):
        if text is not None and not isinstance(text, str):
            raise bad(f"{name} must be a string, got {type(text).__name__}")
    if assumptions is not None and not isinstance(assumptions, Mapping):
        raise bad(f"assumptions must map names to statements, got {type(assumptions).__name__}")
    for name, spec in (assumptions or {}).items():
        if not isinstance(name, str) or not name or any(ch.isspace() for ch in name):
            raise bad(f"assumption names must be non-empty words, got {name!r}")
        parts = (spec,) if isinstance(spec, str) else spec
        if not isinstance(parts, (tuple, list)) or not 1 <= len(parts) <= 3 or not isinstance(parts[0], str):
            raise bad(f"assumption {name!r} must be a statement or (statement, satisfying, violating), got {spec!r}")
        for extra in parts[1:]:
            if extra is not None and not isinstance(extra, (SearchStrategy, Mapping)) and not callable(extra):
                raise bad(
                    f"assumption {name!r}: satisfying/violating must be None, a dict, a strategy or a "
                    f"function, got {extra!r}"
                )


class UserClaim(Claim):
    """A claim built by :func:`define_claim`.

    Parameters
    ----------
    id, title, predict, measure, strategy, assumptions, tolerance, compare, default_configs
        As for :func:`define_claim`.
    exact_predict, exact_measure, source, kind, statement, reported, violated
        As for :func:`define_claim`.
    origin
        Where the claim was stated (a file or an entry point), recorded by the loaders.

    Raises
    ------
    DlnkitInputError
        A part that cannot work (see :func:`define_claim`).
    """

    def __init__(
        self,
        *,
        id: str,
        title: str,
        predict,
        measure: Callable,
        strategy,
        assumptions: Mapping | None = None,
        tolerance: Tolerance,
        compare: Callable | None = None,
        default_configs: Sequence[Mapping] = (),
        exact_predict=None,
        exact_measure: Callable | None = None,
        source: str = "user",
        kind: str = "exact",
        statement: str | None = None,
        reported: Callable | None = None,
        violated: Callable | None = None,
        origin: str | None = None,
        optional_config_keys: Sequence[str] = (),
    ):
        if not id or not isinstance(id, str) or any(c.isspace() for c in id):
            raise DlnkitInputError(f"a claim id must be a non-empty word, got {id!r}")
        if not isinstance(tolerance, Tolerance):
            raise DlnkitInputError(f"claim {id}: tolerance must be a dlnkit Tolerance, got {tolerance!r}")
        if not tolerance.reason.strip():
            raise DlnkitInputError(f"claim {id}: every tolerance needs its reason (Tolerance(..., reason=...))")
        if kind not in ("exact", "approximate"):
            raise DlnkitInputError(f"claim {id}: kind must be 'exact' or 'approximate', got {kind!r}")
        if not callable(measure):
            raise DlnkitInputError(f"claim {id}: measure must be a function (config, device) -> value")
        _check_parts(
            id,
            title=title,
            predict=predict,
            strategy=strategy,
            assumptions=assumptions,
            compare=compare,
            default_configs=default_configs,
            exact_predict=exact_predict,
            exact_measure=exact_measure,
            source=source,
            statement=statement,
            reported=reported,
            violated=violated,
        )
        self.id, self.title, self.source, self.kind, self.tolerance = id, title, source, kind, tolerance
        self._predict, self._measure, self._compare = predict, measure, compare
        self._exact_predict, self._exact_measure = exact_predict, exact_measure
        self._statement, self._reported = statement, reported
        self._defaults = [dict(c) for c in default_configs]
        self._base = strategy
        parts = {}
        for name, spec in (assumptions or {}).items():
            if isinstance(spec, str):
                spec = (spec, None, None)
            spec = tuple(spec) + (None,) * (3 - len(tuple(spec)))
            statement_, satisfying, violating = spec[:3]
            parts[name] = (Assumption(name, statement_), satisfying, violating)
        self._parts = parts
        self.assumptions = tuple(p[0] for p in parts.values())
        self.origin = origin
        self._violated = violated
        if isinstance(optional_config_keys, str) or not all(isinstance(k, str) for k in optional_config_keys):
            raise DlnkitInputError(f"claim {id}: optional_config_keys must be a list of key names (strings)")
        self.optional_config_keys = tuple(optional_config_keys)

    # -- prediction ------------------------------------------------------------------------
    def _raw_prediction(self, config):
        import sympy as sp

        p = self._predict
        if isinstance(p, (sp.Basic, sp.MatrixBase)) or not callable(p):
            return p
        return p(dict(config))

    def predict(self, config):
        return evaluate_prediction(self._raw_prediction(config), config)

    def statement_latex(self) -> str:
        import sympy as sp

        if self._statement:
            return self._statement
        if isinstance(self._predict, (sp.Basic, sp.MatrixBase)):
            return sp.latex(self._predict)
        return self.title

    # -- measurement -----------------------------------------------------------------------
    def measure(self, config, device="cpu"):
        return self._measure(dict(config), device)

    def compare(self, predicted, measured, config):
        if self._compare is not None:
            out = self._compare(predicted, measured, dict(config))
            if isinstance(out, Comparison):
                return out
            err = float(out)
            return Comparison(
                predicted, measured, err, self.tolerance.bound(_scale(predicted)), _show(predicted), _show(measured)
            )

        details = {}
        value = measured
        if isinstance(measured, Mapping):
            details = {k: v for k, v in measured.items() if k != "value"}
            value = measured["value"]
        p = np.asarray(_to_numpy(predicted), dtype=np.float64)
        m = np.asarray(_to_numpy(value), dtype=np.float64)
        if p.shape != m.shape:
            err = math.inf
            details["shape_mismatch"] = f"predicted {p.shape}, measured {m.shape}"
        else:
            err = float(np.max(np.abs(m - p))) if p.size else 0.0
            if not np.all(np.isfinite(m)):
                err = math.nan
        return Comparison(
            predicted, measured, err, self.tolerance.bound(_scale(p)), _show(predicted), _show(value), details=details
        )

    # -- configurations --------------------------------------------------------------------
    def config_strategy(self, drop=()):
        drop = self.check_drop(drop)

        for name in drop:
            if self._parts[name][2] is None:
                raise DlnkitInputError(
                    f"claim {self.id}: assumption {name!r} has no violating strategy, so it cannot be dropped"
                )
        base = (
            self._base(drop) if callable(self._base) and not isinstance(self._base, st.SearchStrategy) else self._base
        )
        if base is None:
            base = st.just({})
        parts = [(name, sat, vio) for name, (_, sat, vio) in self._parts.items()]

        @st.composite
        def configs(draw):
            cfg = dict(draw(base))
            for name, sat, vio in parts:
                part = vio if name in drop else sat
                cfg.update(draw(_partial_strategy(part, cfg)))
            return cfg

        return configs()

    def default_configs(self):
        return [dict(c) for c in self._defaults]

    def reported_value(self, config):
        return self._reported(dict(config)) if self._reported else ""

    def violated_assumptions(self, config):
        """From ``violated=`` (lets the counterexample search say what a failure breaks); None without it."""
        return None if self._violated is None else frozenset(self._violated(dict(config)))

    # -- exact mode ------------------------------------------------------------------------
    @property
    def has_exact_route(self) -> bool:
        """True when defined with ``exact_measure`` (the method exists on every UserClaim)."""
        return self._exact_measure is not None

    def exact_predict(self, config):
        """The prediction in exact arithmetic (SymPy), for ``dlnkit verify --exact``."""
        if self._exact_predict is not None:
            p = self._exact_predict
            raw = p(dict(config)) if callable(p) else p
        else:
            raw = self._raw_prediction(config)
        return evaluate_prediction(raw, config, exact=True)

    def exact_measure(self, config):
        """The measurement in exact arithmetic (rational points, SymPy matrices); compared with
        :meth:`exact_predict` at zero tolerance by the base :meth:`~dlnkit.claims.base.Claim.exact_compare`."""
        if self._exact_measure is None:
            raise NotImplementedError(f"claim {self.id} was defined without exact_measure")
        return self._exact_measure(dict(config))


def _to_numpy(x):
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    import sympy as sp

    if isinstance(x, (sp.Basic, sp.MatrixBase)):
        import numpy as np

        return np.array(sp.Matrix(x).evalf() if isinstance(x, sp.MatrixBase) else float(x), dtype=np.float64)
    return x


def _scale(p) -> float:
    a = np.asarray(_to_numpy(p), dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def _show(x) -> str:
    a = np.asarray(_to_numpy(x), dtype=np.float64) if not isinstance(x, Mapping) else None
    if a is None:
        return str(x)
    if a.ndim == 0:
        return f"{float(a):.10g}"
    return f"array {a.shape}, max {np.max(np.abs(a)):.4g}" if a.size else "[]"


def define_claim(
    *,
    id: str,
    title: str,
    predict,
    measure: Callable,
    strategy=None,
    assumptions: Mapping | None = None,
    tolerance: Tolerance,
    compare: Callable | None = None,
    default_configs: Sequence[Mapping] = (),
    exact_predict=None,
    exact_measure: Callable | None = None,
    source: str = "user",
    kind: str = "exact",
    statement: str | None = None,
    reported: Callable | None = None,
    violated: Callable | None = None,
    register: bool = True,
    optional_config_keys: Sequence[str] = (),
) -> UserClaim:
    """State a claim and (by default) register it next to the built-in ones.

    Parameters
    ----------
    id, title
        A short unique name for the command line, and one line saying what it claims.
    predict
        A SymPy expression (symbols filled from the configuration, see :func:`config_values`),
        or ``f(config)`` returning a SymPy expression, a number or an array.
    measure
        ``f(config, device)`` returning a number, an array, or a dict with a ``"value"`` key
        (the other keys are shown as details).
    strategy
        A Hypothesis strategy of configurations (dicts) where every assumption can hold
        (e.g. from :mod:`dlnkit.strategies`), or ``f(drop)`` returning one.
    assumptions
        ``{name: (statement, satisfying, violating)}`` (see the module doc).
    tolerance
        A :class:`~dlnkit.claims.base.Tolerance` with its reason (required): pass when
        max |measured - predicted| <= atol + rtol * max |predicted|.
    compare
        Optional ``f(predicted, measured, config)`` returning a Comparison or an error.
    default_configs
        Configurations always checked by ``dlnkit verify``.
    exact_predict, exact_measure
        The exact route for ``dlnkit verify --exact``: ``exact_measure(config)`` computes the
        measured quantity in rational arithmetic (see :mod:`dlnkit.exact`); ``exact_predict``
        defaults to ``predict`` kept symbolic. Exact results are compared with zero tolerance.
    source, kind, statement, reported
        As for :class:`~dlnkit.claims.base.Claim`.
    violated
        Optional ``f(config)`` returning the names of the assumptions a configuration violates
        (lets the counterexample search say what a failure breaks).
    register
        Add it to the registry (an id already used by another source is an error).
    optional_config_keys
        Configuration keys ``predict``/``measure`` read with a default that neither
        ``default_configs`` nor ``strategy`` holds; a sweep refuses every key the claim does not
        read, and these are how it knows them.

    Returns
    -------
    UserClaim
        The claim (registered unless ``register=False``).

    Raises
    ------
    DlnkitInputError
        An empty id, a tolerance without its reason, an unknown ``kind``, a part that is not
        callable where a function is needed, or an id already used by another source.

    Examples
    --------
    >>> import sympy as sp
    >>> c = define_claim(id="doc-depth", title="depth is L", predict=sp.Symbol("L"),
    ...                  measure=lambda cfg, device: len(cfg["dims"]) - 1,
    ...                  strategy=st.fixed_dictionaries({"dims": st.just([2, 3, 1])}),
    ...                  tolerance=Tolerance(atol=0, reason="integer"), register=False)
    >>> c.check({"dims": [2, 3, 3, 1]}).status
    'PASS'
    """
    origin = registry.loading_origin()
    if origin is None:
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        origin = caller.f_code.co_filename if caller is not None else None
    claim = UserClaim(
        id=id,
        title=title,
        predict=predict,
        measure=measure,
        strategy=strategy,
        assumptions=assumptions,
        tolerance=tolerance,
        compare=compare,
        default_configs=default_configs,
        exact_predict=exact_predict,
        exact_measure=exact_measure,
        source=source,
        kind=kind,
        statement=statement,
        reported=reported,
        violated=violated,
        origin=origin,
        optional_config_keys=optional_config_keys,
    )
    if register:
        registry.all_claims()
        registry.register_from_origin(claim, origin)
    return claim
