r"""The public API for stating your own claim about deep linear networks.

A claim is four things: a **prediction** (a SymPy expression, or a function of a configuration
returning one or a number), a **measurement** (a function of a configuration and a device), the
**assumptions** under which the prediction must hold, each with a Hypothesis strategy that makes
it true and one that breaks it, and a **tolerance** with its reason. :func:`define_claim` turns
these into a :class:`~dlnkit.claims.base.Claim` and registers it, so ``dlnkit verify``,
``dlnkit list`` and ``dlnkit counterexample`` treat it like a built-in one::

    import sympy as sp
    import dlnkit as dk
    from dlnkit import strategies as ds

    L = sp.Symbol("L")
    dk.define_claim(
        id="my-depth", title="the number of weight matrices is L",
        predict=L,                                   # symbols named after config values
        measure=lambda cfg, device: len(dk.build_point(cfg, device).weights),
        strategy=ds.global_minima(),
        tolerance=dk.Tolerance(atol=0, reason="an integer count"))

and ``dlnkit verify --from that_file.py``. Configurations are JSON-able dicts; the points they
describe are built by :func:`build_point` (float64, torch) and, for the exact mode, by
:func:`dlnkit.exact.exact_point` (rationals, SymPy).

Symbols in a prediction are filled from the configuration: every number-valued key by its name,
plus ``L`` (depth), ``d_in``, ``d_out``, ``d_0``..``d_L``, ``P`` (parameter count) and ``r``
(number of target singular values) when ``dims`` (and ``t``) are present.

Assumptions are ``{name: (statement, satisfying, violating)}``. ``satisfying`` / ``violating``
may be ``None`` (nothing to add), a dict merged into the configuration, a strategy of such
dicts, or a function of the configuration drawn so far returning either. Verification draws the
base strategy and merges every satisfying part; the counterexample search, asked to drop an
assumption, merges its violating part instead.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from dlnkit.claims import (
    Assumption,
    Claim,
    ClaimResult,
    Comparison,
    Tolerance,
    all_claims,
    draw_configs,
    get_claim,
    load_claims_from_file,
    load_entry_point_claims,
    register,
)
from dlnkit.numerics.point import Point, build_point, num_params

__all__ = [
    "define_claim",
    "UserClaim",
    "Point",
    "build_point",
    "hessian",
    "autograd_hessian",
    "gauss_newton_hessian",
    "residual_hessian",
    "config_values",
    "evaluate_prediction",
    "Assumption",
    "Claim",
    "ClaimResult",
    "Comparison",
    "Tolerance",
    "all_claims",
    "draw_configs",
    "get_claim",
    "register",
    "load_claims_from_file",
    "load_entry_point_claims",
]


# ----- configurations -> values for symbols -------------------------------------------------


def config_values(config: Mapping) -> dict[str, Any]:
    """Name -> value for filling a prediction's symbols (see the module doc).

    Parameters
    ----------
    config
        A configuration dict (``dims``, ``t``, ``seed``, ...).

    Returns
    -------
    dict
        Symbol name -> value: the configuration's own numeric entries, and from ``dims`` the depth
        ``L``, ``d_in``, ``d_out``, ``d_0``..``d_L`` and ``P``, from ``t`` the rank ``r``.

    Examples
    --------
    >>> v = config_values({"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0})
    >>> v["L"], v["d_in"], v["d_out"], v["d_1"], v["P"], v["r"]
    (2, 3, 2, 4, 20, 2)
    """
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = v
    dims = config.get("dims")
    if dims is not None:
        dims = [int(d) for d in dims]
        out.update(L=len(dims) - 1, d_in=dims[0], d_out=dims[-1], P=num_params(dims))
        out.update({f"d_{k}": d for k, d in enumerate(dims)})
    if config.get("t") is not None:
        out["r"] = len(config["t"])
    return out


def _substitute(expr, config: Mapping):
    import sympy as sp

    expr = sp.sympify(expr)
    values = config_values(config)
    subs = {s: values[s.name] for s in expr.free_symbols if s.name in values}
    out = expr.subs(subs)
    missing = sorted(s.name for s in out.free_symbols)
    if missing:
        from dlnkit.numerics.validation import DlnkitInputError

        raise DlnkitInputError(
            f"the prediction still has the symbols {', '.join(missing)} after filling in "
            f"the configuration {dict(config)}; name them after configuration keys"
        )
    return out


def evaluate_prediction(value, config: Mapping, *, exact: bool = False):
    """A prediction's value for a configuration: SymPy expressions are filled in (see
    :func:`config_values`) and, unless ``exact``, turned into floats (matrices into NumPy arrays);
    anything else is returned as it is.

    Parameters
    ----------
    value
        A SymPy expression or matrix, or anything else (returned unchanged).
    config
        The configuration whose values fill the symbols.
    exact
        Keep SymPy's exact value (rationals) instead of converting to floats.

    Returns
    -------
    float, numpy.ndarray, sympy.Expr or the input
        The filled-in prediction.

    Examples
    --------
    >>> import sympy as sp
    >>> evaluate_prediction(sp.Symbol("L") ** 2, {"dims": [2, 3, 3, 1]})
    9.0
    >>> evaluate_prediction(sp.Symbol("L") / 2, {"dims": [2, 3, 3, 1]}, exact=True)
    3/2
    """
    import sympy as sp

    if isinstance(value, sp.MatrixBase):
        out = value.applyfunc(lambda e: _substitute(e, config))
        if exact:
            return out
        import numpy as np

        return np.array(out.evalf(), dtype=np.float64)
    if isinstance(value, sp.Basic):
        out = _substitute(value, config)
        return out if exact else float(out)
    return value


# ----- points (built in dlnkit.numerics.point; re-exported here) ------------------------------


def hessian(point: Point):
    """The exact P x P loss Hessian from the closed form (Gauss-Newton + residual blocks), assembled
    in place in one P x P buffer (:func:`dlnkit.numerics.dln_hessian_fast.dln_hessian_assembled`;
    claim B0 checks the block-by-block reference assembly against torch.func).

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`), linear network.

    Returns
    -------
    torch.Tensor
        The P x P Hessian, float64, on the point's device.

    Raises
    ------
    DlnkitInputError
        The Hessian would not fit in memory (refused before allocating).
    """
    from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled

    return dln_hessian_assembled(point.weights, sigma=point.sigma, cross=point.cross)


def autograd_hessian(point: Point):
    """The loss Hessian by torch.func (independent of the closed form).

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`); tanh networks too.

    Returns
    -------
    torch.Tensor
        The P x P Hessian of ``point.loss``.

    Raises
    ------
    DlnkitInputError
        The Hessian would not fit in memory (refused before allocating).
    """
    from dlnkit.numerics.hessian import dense_hessian

    return dense_hessian(lambda *w: point.loss(list(w)), point.weights)


def gauss_newton_hessian(point: Point):
    """The Gauss-Newton part J^T (I (x) Sigma) J, closed form.

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`).

    Returns
    -------
    torch.Tensor
        The P x P Gauss-Newton matrix.

    Raises
    ------
    DlnkitInputError
        The matrix would not fit in memory (refused before allocating).
    """
    from dlnkit.numerics.dln_hessian import dln_gauss_newton_closed_form

    return dln_gauss_newton_closed_form(point.weights, sigma=point.sigma)


def residual_hessian(point: Point):
    """The residual part (bilinear in W Sigma - C, zero diagonal blocks), closed form.

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`).

    Returns
    -------
    torch.Tensor
        The P x P residual part (zero at a global minimum).

    Raises
    ------
    DlnkitInputError
        The matrix would not fit in memory (refused before allocating).
    """
    from dlnkit.numerics.dln_hessian import dln_residual_hessian_closed_form

    return dln_residual_hessian_closed_form(point.weights, sigma=point.sigma, cross=point.cross)


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
    from hypothesis.strategies import SearchStrategy

    from dlnkit.numerics.validation import DlnkitInputError

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
    ):
        from dlnkit.numerics.validation import DlnkitInputError

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
        import numpy as np

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
        from dlnkit.numerics.validation import DlnkitInputError

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
        """The measurement in exact arithmetic (rational points, SymPy matrices)."""
        return self._exact_measure(dict(config))

    def exact_check(self, config):
        """``exact_predict`` vs ``exact_measure`` with zero tolerance (a dict measurement's other keys
        are details)."""
        from dlnkit.exact import value_comparison

        if self._exact_measure is None:
            raise NotImplementedError(f"claim {self.id} was defined without exact_measure")
        pred = self.exact_predict(config)
        meas = self.exact_measure(config)
        details = {}
        if isinstance(meas, Mapping):
            details = {k: v for k, v in meas.items() if k != "value"}
            meas = meas["value"]
        return value_comparison(pred, meas, details)


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
    import numpy as np

    a = np.asarray(_to_numpy(p), dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def _show(x) -> str:
    import numpy as np

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
    from dlnkit import claims as registry

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
    )
    if register:
        registry.all_claims()
        registry.register_from_origin(claim, origin)
    return claim
