"""Hostile suite, the whole public API surface, mechanically.

Every public callable -- the names of ``dlnkit``, ``dlnkit.api``, ``dlnkit.exact`` and
``dlnkit.strategies``, and the functions of ``dlnkit.numerics`` / ``dlnkit.theory`` that the API
reference (docs/_ext/dlnkit_docs.py) lists -- is found by introspection and called once with
plausible arguments and then with one argument at a time replaced by a hostile value: wrong
types, bools for ints, NaN/inf, negative, huge, empty, wrong shapes and dtypes, a tensor on the
'meta' device, frozen parameters, ``params=[]``, non-Module objects, a model returning a tuple.
A call either works or raises :class:`DlnkitInputError` / :class:`DlnkitComputationError` with a
one-line message; an IndexError, KeyError, TypeError, a bare ValueError, a hang (60 s) or a
multi-line message escaping is a failure. Returned strategies are drawn from once (a strategy
that fails when drawn fails late, where the user cannot see which argument was wrong).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from dlnkit.numerics.validation import DlnkitComputationError, DlnkitInputError

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECTION = "public API surface"
ALLOWED = (DlnkitInputError, DlnkitComputationError)

#: modules whose exported names are the API (all of their public names)
API_MODULES = ("dlnkit", "dlnkit.api", "dlnkit.exact", "dlnkit.strategies")

#: result containers and protocols: built by dlnkit, not called by users with their own values
NOT_CALLED = {
    "ClaimResult",
    "Comparison",
    "CurvatureOperator",
    "EigenResult",
    "EigenCluster",
    "KrylovRun",
    "SLQResult",
    "TraceResult",
    "TrainingRecord",
    "ClusterSplit",
    "AlignmentReport",
    "LayerCapture",
    "StreamedLayer",
    "ModelAlignment",
    "SpectrumGroup",
    "HessianPlan",
    "Activation",
    "LossSpec",
    "LayerView",
    "ConfigSet",
    "Record",
    "Evaluation",
    "SearchResult",
    "ReplayResult",
    "Point",  # a dataclass of tensors; build_point makes them
    "Claim",  # abstract base
    "DlnkitInputError",
    "DlnkitComputationError",
    "AllocationTooLargeError",
    "HessianTooLargeError",
    "BatchCoupledModelError",
    "NonDeterministicDataError",
    "LossFn",
    "Matmat",
    # process-wide state: registering, loading plugins, run registries
    "register",
    "register_from_origin",
    "loading_origin",
    "load_entry_point_claims",
    "all_claims",
    "define_claim",  # registers a claim; covered by tests/test_hostile_registry.py
    "UserClaim",
    "vm_size",
    "available_memory_bytes",
    "memory_budget_bytes",
}


def _api_reference_entries() -> list[tuple[str, Any]]:
    spec = importlib.util.spec_from_file_location("dlnkit_docs_surface", ROOT / "docs" / "_ext" / "dlnkit_docs.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [(path, obj) for _, path, obj in mod.api_entries()]


@functools.cache
def surface() -> list[tuple[str, Callable[..., Any], inspect.Signature]]:
    """(dotted name, callable, signature) of every public callable, each object once."""
    found: dict[int, tuple[str, Any]] = {}
    for modname in API_MODULES:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", None) or dir(mod):
            if not name.startswith("_"):
                obj = getattr(mod, name, None)
                if callable(obj):
                    found.setdefault(id(obj), (f"{modname}.{name}", obj))
    for path, obj in _api_reference_entries():
        if path.startswith(("dlnkit.numerics.", "dlnkit.theory.")) and callable(obj):
            found.setdefault(id(obj), (path, obj))
    out = []
    for path, obj in found.values():
        if path.rsplit(".", 1)[-1] in NOT_CALLED or isinstance(obj, torch.dtype):
            continue
        try:
            sig = inspect.signature(obj)
        except (TypeError, ValueError):
            continue
        out.append((path, obj, sig))
    return sorted(out, key=lambda e: e[0])


# ----- plausible arguments, by parameter name ------------------------------------------------


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _weights() -> list[torch.Tensor]:
    return [
        torch.randn(3, 2, generator=_g(1), dtype=torch.float64),
        torch.randn(2, 3, generator=_g(2), dtype=torch.float64),
    ]


def _spd(n: int = 6) -> torch.Tensor:
    A = torch.randn(n, n, generator=_g(3), dtype=torch.float64)
    return A @ A.T + torch.eye(n, dtype=torch.float64)


class _Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return _Mlp().double()


def _model_data() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(8, 3, generator=_g(4), dtype=torch.float64), torch.arange(8) % 3


def _capture():
    from dlnkit.numerics.alignment import capture_layer

    X, y = _model_data()
    return capture_layer(_model(), "fc2", X, y)


def _curvature():
    from dlnkit.numerics.curvature import ModelCurvature

    X, y = _model_data()
    return ModelCurvature(_model(), "cross_entropy", [(X, y)])


def _krylov():
    from dlnkit.numerics.lanczos import block_lanczos, random_start
    from dlnkit.numerics.operators import DenseOperator

    return block_lanczos(DenseOperator(_spd()), random_start(6, block_size=2), max_steps=2)


def _quadratic(*ps: torch.Tensor) -> torch.Tensor:
    return sum((p**2).sum() + p.sum() ** 3 for p in ps)  # type: ignore[return-value]


def _params() -> list[torch.Tensor]:
    return [
        torch.randn(2, 2, generator=_g(5), dtype=torch.float64),
        torch.randn(3, generator=_g(6), dtype=torch.float64),
    ]


def _config() -> dict:
    return {"dims": [2, 3, 2], "t": [2.0, 1.0], "seed": 0}


def _point():
    from dlnkit.numerics.point import build_point

    return build_point(_config())


def _exact_point():
    from dlnkit.configs.exact_points import exact_point

    return exact_point({"dims": [2, 2], "seed": 0})


def _paper_setup():
    from dlnkit.numerics.paper_setup import paper_setup

    return paper_setup(depth=2, seed=0)


def _strategy():
    from dlnkit.configs.strategies import global_minima

    return global_minima(max_depth=2, max_width=3)


def _sympy_matrix():
    import sympy as sp

    return sp.Matrix([[2, 1], [1, 2]])


def _sympy_weights():
    import sympy as sp

    return [sp.Matrix([[1, 2], [0, 1]]), sp.Matrix([[1, 0], [1, 1]])]


def _claim():
    from dlnkit.claims import get_claim

    return get_claim("B0")


def _batches():
    from dlnkit.numerics.batches import as_batches

    return as_batches([_model_data()])


def _loss_spec():
    from dlnkit.numerics.losses import resolve_loss

    return resolve_loss("cross_entropy")


def _view():
    from dlnkit.numerics.layer_views import model_layers

    return model_layers(_model())[-1]


#: plausible values by parameter name; a function of the callable's dotted name where one name
#: means different things in different places
GOOD: dict[str, Callable[[str], Any]] = {
    "dims": lambda p: [2, 3, 2],
    "layer_dims": lambda p: [2, 3, 2],
    "weights": lambda p: (
        _sympy_weights()
        if ".theory." in p or p.endswith("end_to_end_exact")
        else [w.numpy() for w in _weights()]
        if "numpy" in p
        else _weights()
    ),
    "Ws": lambda p: [w.numpy() for w in _weights()] if "heavy_ball_loop" in p else _weights(),
    "X": lambda p: _model_data()[0] if "check_sample" in p else torch.randn(5, 2, generator=_g(7), dtype=torch.float64),
    "Y": lambda p: torch.randn(5, 2, generator=_g(8), dtype=torch.float64),
    "out": lambda p: torch.randn(5, 2, generator=_g(9), dtype=torch.float64),
    "sigma": lambda p: torch.eye(2, dtype=torch.float64) if "fit_report" not in p else [3.0, 2.0, 1.0],
    "cross": lambda p: torch.randn(2, 2, generator=_g(10), dtype=torch.float64),
    "target": lambda p: torch.randn(2, 2, generator=_g(11), dtype=torch.float64),
    "h": lambda p: [2.0, 1.0, 0.5],
    "config": lambda p: (
        {**_config(), "s": [1.5, 1.0]}
        if "aligned_layer_point" in p
        else {"weights": [w.tolist() for w in _weights()], "seed": 0}
        if "point_from_weights" in p
        else _config()
    ),
    "point": lambda p: _exact_point() if ("exact" in p or "float_point" in p) else _point(),
    "loss_fn": lambda p: _quadratic,
    "params": lambda p: ["fc2"] if "ModelCurvature" in p else _params(),
    "vec": lambda p: torch.randn(7, generator=_g(12), dtype=torch.float64),
    "vecs": lambda p: torch.randn(7, 2, generator=_g(13), dtype=torch.float64),
    "op": lambda p: __import__("dlnkit.numerics.operators", fromlist=["x"]).DenseOperator(_spd()),
    "obj": lambda p: _spd(),
    "matrix": lambda p: _spd(),
    "start": lambda p: torch.randn(6, 2, generator=_g(14), dtype=torch.float64),
    "v0": lambda p: torch.randn(6, generator=_g(15), dtype=torch.float64),
    "V0": lambda p: torch.randn(6, 2, generator=_g(16), dtype=torch.float64),
    "run": lambda p: _krylov(),
    "S": lambda p: __import__("dlnkit.numerics.lanczos", fromlist=["x"]).ritz_pairs(_krylov())[1],
    "fn": lambda p: (lambda V: V) if "Matmat" in p else (lambda *x: torch.ones(2, requires_grad=True).sum()),
    "size": lambda p: 6,
    "n": lambda p: 6 if "numerics" in p else 2,
    "k": lambda p: 2,
    "max_steps": lambda p: 3,
    "num_steps": lambda p: 3,
    "max_products": lambda p: 10,
    "block_size": lambda p: 2,
    "groups": lambda p: 1,
    "num_params": lambda p: 12,
    "chunk_size": lambda p: 4,
    "memory_budget_bytes": lambda p: 2**20,
    "nbytes": lambda p: 1024.0,
    "what": lambda p: "a test array",
    "batch": lambda p: 4,
    "widths_sum": lambda p: 7,
    "rank": lambda p: 2,
    "d_in": lambda p: 2,
    "d_out": lambda p: 2,
    "singular_values": lambda p: [2.0, 1.0],
    "t": lambda p: [3, 2, 1] if "classic_origin" in p else [2.0, 1.0],
    "t_values": lambda p: [2.0, 1.0],
    "kept": lambda p: [1],
    "singular_values_C": lambda p: [2, 1],
    "hidden_width": lambda p: 2,
    "depth": lambda p: 3,
    "eigs": lambda p: [5.0, 4.0, 1.0, 0.0, -0.5],
    "n_dominant": lambda p: 2,
    "n_bulk": lambda p: 1,
    "eigenvalues": lambda p: torch.tensor([3.0, 1.0, 0.0, -1.0], dtype=torch.float64),
    "lr": lambda p: 0.01,
    "momentum": lambda p: 0.5,
    "gradient": lambda p: lambda Ws, want_loss: (0.0, [0.0 * W for W in Ws]),
    "model": lambda p: _model(),
    "inputs": lambda p: _model_data()[0],
    "targets": lambda p: _model_data()[1],
    "layer": lambda p: "fc2",
    "loss": lambda p: _loss_spec() if ("layer_capture" in p or "check_sample" in p) else "cross_entropy",
    "data": lambda p: [_model_data()],
    "first_inputs": lambda p: _model_data()[0],
    "forward": lambda p: _model(),
    "cap": lambda p: _capture(),
    "U": lambda p: torch.randn(3, 2, generator=_g(17), dtype=torch.float64),
    "V": lambda p: torch.randn(4, 2, generator=_g(18), dtype=torch.float64),
    "curv": lambda p: _curvature(),
    "views": lambda p: [_view()],
    "view": lambda p: _view(),
    "batches": lambda p: _batches(),
    "mod": lambda p: nn.Conv2d(2, 3, 2),
    "x": lambda p: (
        0.5 if "rational" in p else torch.randn(1, 2, 4, 4) if "unfold" in p else [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    ),
    "y": lambda p: [2.0, 4.1, 5.9, 8.2, 9.7, 12.5] if "bootstrap" in p else _model_data()[1],
    "c": lambda p: 2.0,
    "strength": lambda p: 0.3,
    "p": lambda p: 2,
    "text": lambda p: "fc1=mlp_up",
    "types": lambda p: {"fc1": "mlp_up"},
    "name": lambda p: "tanh",
    "source": lambda p: [1, 2],
    "setup": lambda p: _paper_setup(),
    "strategy": lambda p: _strategy(),
    "claim": lambda p: _claim(),
    "claim_id": lambda p: "B0",
    "claims": lambda p: [_claim()],
    "examples": lambda p: 1,
    "jjt": lambda p: __import__("sympy").diag(2, 1, 1),
    "H": lambda p: _sympy_matrix(),
    "a": lambda p: 0.5,
    "b": lambda p: 0.5,
    "value": lambda p: 2,
    "predicted": lambda p: "2" if "route_comparison" in p else 2,
    "measured": lambda p: "2" if "route_comparison" in p else 2,
    "tensors": lambda p: [torch.ones(2)],
    "device": lambda p: "cpu",
    "dtype": lambda p: torch.float64,
    "anisotropy": lambda p: 2.0,
    "seed": lambda p: 0,
    "m": lambda p: 2,
    "q": lambda p: 2,
    "statement": lambda p: "a statement",
    "path": lambda p: str(ROOT / "examples" / "does-not-exist.py"),
    "float_errors": lambda p: {"assembled": 0.0},
    "float_bound": lambda p: 1e-12,
    "exact_predicted": lambda p: 2,
    "exact_measured": lambda p: 2,
    "scale": lambda p: 1.0,
    "reason": lambda p: "a reason",
    "id": lambda p: "x",
    "directions": lambda p: 2,
    "limit": lambda p: 5,
    "route": lambda p: "auto" if "hessian" in p else "a route",
    "factors": lambda p: True,
    "layers": lambda p: [(3, 4, True)],
    "title": lambda p: "x",
}


# ----- hostile values ---------------------------------------------------------------------


class _TupleModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3).double()

    def forward(self, x: torch.Tensor):
        return self.fc(x), x


def _frozen_model() -> nn.Module:
    m = _model()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


HOSTILE: dict[str, Callable[[], Any]] = {
    "None": lambda: None,
    "True": lambda: True,
    "-1": lambda: -1,
    "0": lambda: 0,
    "2**62": lambda: 2**62,
    "nan": lambda: math.nan,
    "-inf": lambda: -math.inf,
    "0.5": lambda: 0.5,
    "''": lambda: "",
    "'x'": lambda: "x",
    "[]": lambda: [],
    "[[]]": lambda: [[]],
    "{}": lambda: {},
    "object()": lambda: object(),
    "[None]": lambda: [None],
    "['a', 'b']": lambda: ["a", "b"],
    "[2, nan]": lambda: [2, math.nan],
    "[True, 2]": lambda: [True, 2],
    "[-1, 2]": lambda: [-1, 2],
    "empty tensor": lambda: torch.empty(0, dtype=torch.float64),
    "scalar tensor": lambda: torch.tensor(1.0, dtype=torch.float64),
    "nan matrix": lambda: torch.full((2, 2), math.nan, dtype=torch.float64),
    "int matrix": lambda: torch.ones(2, 2, dtype=torch.long),
    "complex matrix": lambda: torch.ones(2, 2, dtype=torch.complex128),
    "float32 matrix": lambda: torch.ones(2, 2),
    "3-d tensor": lambda: torch.ones(2, 2, 2, dtype=torch.float64),
    "meta matrix": lambda: torch.empty(2, 2, device="meta", dtype=torch.float64),
    "[meta matrix]": lambda: [torch.empty(2, 2, device="meta", dtype=torch.float64)],
    "[frozen leaf]": lambda: [torch.ones(2, 2, dtype=torch.float64, requires_grad=False)],
    "[int tensor]": lambda: [torch.ones(2, 2, dtype=torch.long)],
    "[mixed dtypes]": lambda: [torch.ones(2, 2, dtype=torch.float64), torch.ones(2, 2)],
    "[1-d, 3-d]": lambda: [torch.ones(3, dtype=torch.float64), torch.ones(2, 2, 2, dtype=torch.float64)],
    "[mismatched chain]": lambda: [torch.ones(3, 2, dtype=torch.float64), torch.ones(2, 5, dtype=torch.float64)],
    "nn.Linear": lambda: nn.Linear(3, 3),
    "tuple model": lambda: _TupleModel(),
    "frozen model": lambda: _frozen_model(),
    "lambda": lambda: lambda *a, **k: None,
    "raising lambda": lambda: lambda *a, **k: [][1],
    "bytes": lambda: b"\xff\x00",
    "np.array str": lambda: __import__("numpy").array(["a", "b"]),
}

#: a fixed rotation keeps the default run cheap: each parameter meets this many hostile values,
#: chosen by the parameter's position so that every value is used across the surface
PER_PARAMETER = int(os.environ.get("DLNKIT_HOSTILE_SURFACE_VALUES", "2"))


def _good_value(path: str, name: str) -> Any:
    maker = GOOD.get(name)
    return maker(path) if maker is not None else None


def calls(
    path: str, fn: Callable[..., Any], sig: inspect.Signature, *, exhaustive: bool = False
) -> Iterator[tuple[str, str, list[Any], dict[str, Any]]]:
    """(parameter, hostile value's name, args, kwargs): the plausible call first ('-', 'plausible'),
    then each parameter replaced in turn."""
    params = [
        p
        for p in sig.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not (p.name == "self" or p.name == "cls")
    ]
    plain = [p for p in params if p.default is p.empty]

    def build(replace: str | None, value: Any) -> tuple[list[Any], dict[str, Any]]:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for p in plain:
            v = value if p.name == replace else _good_value(path, p.name)
            if p.kind == p.KEYWORD_ONLY:
                kwargs[p.name] = v
            else:
                args.append(v)
        return args, kwargs

    yield ("-", "plausible", *build(None, None))
    names = list(HOSTILE)
    for i, p in enumerate(params):
        if exhaustive:
            chosen = names
        else:
            start = (sum(map(ord, path)) + 7 * i) % len(names)  # stable (str hashes are salted)
            chosen = [names[(start + j) % len(names)] for j in range(PER_PARAMETER)]
        for h in chosen:
            args, kwargs = build(p.name, HOSTILE[h]())
            if p.name not in {q.name for q in plain}:  # an optional parameter: pass it by keyword
                kwargs[p.name] = HOSTILE[h]()
            yield (p.name, h, args, kwargs)


class _Hang(BaseException):
    pass


def _alarm(*_: object) -> None:
    raise _Hang()


def _raised_in_user_code(exc: BaseException) -> bool:
    """The exception came out of a callable the test passed (a lambda here, a module's forward):
    the user's own error, which the API passes on unchanged (as ``sorted(key=f)`` does)."""
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    here = str(Path(__file__).resolve())
    return any(
        (c.co_filename == here and c.co_name in ("<lambda>", "forward")) or c.co_name == "_call_impl"
        for c in frames[1:]
    )


def outcome(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], seconds: int = 60) -> str:
    """'worked', 'clear' (an allowed one-line error), 'user' (the user's own callable raised) or a
    description of the failure."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        out = fn(*args, **kwargs)
        from hypothesis.strategies import SearchStrategy

        if isinstance(out, SearchStrategy):  # a strategy is drawn from: bad bounds must show now
            from dlnkit.claims.base import draw_configs

            draw_configs(out, 1, seed=0)
        return "worked"
    except _Hang:
        return f"hang (more than {seconds} s)"
    except ALLOWED as exc:
        msg = str(exc)
        return "clear" if msg.strip() and "\n" not in msg else f"multi-line message {msg[:200]!r}"
    except BaseException as exc:  # noqa: BLE001 - the point of the suite
        if isinstance(exc, Exception) and _raised_in_user_code(exc):
            return "user"
        return f"raw {type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_the_surface_is_found():
    names = {path.rsplit(".", 1)[-1] for path, _, _ in surface()}
    assert len(names) > 150, len(names)
    for must in ("build_point", "exact_hessian", "global_minima", "dense_hessian", "top_eigenvalues", "hutchpp"):
        assert must in names, must


@pytest.mark.parametrize("path", [p for p, _, _ in surface()])
def test_every_public_callable_refuses_hostile_arguments_clearly(path):
    _, fn, sig = next(e for e in surface() if e[0] == path)
    failures = []
    for pname, hname, args, kwargs in calls(path, fn, sig):
        out = outcome(fn, args, kwargs)
        ok = out in ("worked", "clear", "user")
        record(
            SECTION,
            inputs_tried=1,
            clear_errors=int(out in ("clear", "user")),
            worked=int(out == "worked"),
            tracebacks=int(not ok),
        )
        if not ok:
            failures.append(f"{path}({pname}={hname}): {out}")
    assert not failures, "\n".join(failures)


EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.data())
def test_hostile_arguments_drawn_from_the_whole_surface(data):
    """Beyond the fixed rotation: any callable, any parameter, any of the hostile values."""
    path, fn, sig = data.draw(st.sampled_from(surface()), label="callable")
    n_params = sum(1 for p in sig.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    index = data.draw(st.integers(0, n_params * len(HOSTILE)), label="call")
    pname, hname, args, kwargs = next(c for i, c in enumerate(calls(path, fn, sig, exhaustive=True)) if i == index)
    out = outcome(fn, args, kwargs)
    ok = out in ("worked", "clear", "user")
    record(
        SECTION,
        inputs_tried=1,
        clear_errors=int(out in ("clear", "user")),
        worked=int(out == "worked"),
        tracebacks=int(not ok),
    )
    assert ok, f"{path}({pname}={hname}): {out}"
