"""Hostile suite, public API: Hypothesis throws malformed weights, data and sizes at the numerics
and the strategies. Every call either works -- and then agrees with an independent route -- or
raises DlnkitInputError (or DlnkitComputationError) with one line; anything else is a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

from dlnkit.numerics.dln import DeepLinearNetwork, teacher_map, whitened_inputs
from dlnkit.numerics.dln_hessian import dln_hessian_closed_form, dln_jjt, dln_loss
from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.numerics.spectra import split_by_counts, split_by_gaps
from dlnkit.numerics.validation import DlnkitComputationError, DlnkitInputError

sys.path.insert(0, str(Path(__file__).parent))
from hostile_support import record  # noqa: E402

EXAMPLES = int(os.environ.get("DLNKIT_HOSTILE_EXAMPLES", "40"))
SECTION = "public API"


def attempt(fn, check=None) -> str:
    """Run ``fn``; classify and count the outcome; fail the test on a traceback or a wrong result."""
    try:
        out = fn()
    except (DlnkitInputError, DlnkitComputationError) as exc:
        msg = str(exc)
        clear = bool(msg.strip()) and "\n" not in msg
        record(SECTION, inputs_tried=1, clear_errors=int(clear), tracebacks=int(not clear))
        assert clear, f"error message is not one line: {msg!r}"
        return "error"
    except Exception as exc:  # noqa: BLE001 - the point of the suite
        record(SECTION, inputs_tried=1, tracebacks=1)
        raise AssertionError(f"traceback: {type(exc).__name__}: {exc}") from exc
    wrong = check is not None and not check(out)
    record(SECTION, inputs_tried=1, worked=1, wrong_results=int(wrong))
    assert not wrong, "a call that worked returned a wrong result"
    return "worked"


# ----- hostile tensors ----------------------------------------------------------------------

KINDS = [
    "ok",
    "ok",
    "ok",
    "ok",
    "float32",
    "int",
    "complex",
    "bool",
    "nan",
    "inf",
    "huge",
    "tiny",
    "vector",
    "3d",
    "empty",
    "list",
    "none",
    "wrong_shape",
    "transposed",
]


def hostile(rows: int, cols: int, kind: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(rows, cols, generator=g, dtype=torch.float64)
    if kind == "float32":
        return base.float()
    if kind == "int":
        return (base * 3).round().long()
    if kind == "complex":
        return base.to(torch.complex128)
    if kind == "bool":
        return base > 0
    if kind == "nan" and base.numel():
        base.view(-1)[0] = float("nan")
    elif kind == "inf" and base.numel():
        base.view(-1)[-1] = float("-inf")
    elif kind == "huge":
        base = base * 1e200
    elif kind == "tiny":
        base = base * 1e-200
    elif kind == "vector":
        return base.reshape(-1)
    elif kind == "3d":
        return base.reshape(1, rows, cols)
    elif kind == "empty":
        return torch.zeros(rows, 0, dtype=torch.float64)
    elif kind == "list":
        return base.tolist()
    elif kind == "none":
        return None
    elif kind == "wrong_shape":
        return torch.randn(rows + 1, cols, generator=g, dtype=torch.float64)
    elif kind == "transposed":
        return base.T.clone()
    return base


@st.composite
def chains(draw):
    """(weights, dims, kinds): a chain of 0-4 matrices of widths 1-4, each possibly hostile."""
    depth = draw(st.integers(0, 4))
    dims = [draw(st.integers(1, 4)) for _ in range(depth + 1)]
    kinds = [draw(st.sampled_from(KINDS)) for _ in range(depth)]
    seed = draw(st.integers(0, 1000))
    Ws = [hostile(dims[l + 1], dims[l], kinds[l], seed + l) for l in range(depth)]
    return Ws, dims, kinds


def _autograd_reference(Ws, M):
    """Hessian of 1/2 ||W_L...W_1 - M||_F^2 (whitened data: X = I) by torch.func."""
    d_in = Ws[0].shape[1]
    X = torch.eye(d_in, dtype=Ws[0].dtype) * d_in**0.5  # (1/B) X^T X = I with B = d_in
    Y = X @ M.T
    return dense_hessian(lambda *w: dln_loss(w, X, Y), Ws)


@settings(max_examples=EXAMPLES)
@given(chains(), st.sampled_from(KINDS), st.sampled_from(["closed", "assembled"]))
def test_closed_forms_on_hostile_weights_and_targets(chain, target_kind, route):
    Ws, dims, kinds = chain
    M = hostile(dims[-1], dims[0], target_kind, 7) if Ws else torch.zeros(1, 1, dtype=torch.float64)
    fn = dln_hessian_closed_form if route == "closed" else dln_hessian_assembled

    def agrees(H):
        ref = _autograd_reference([torch.as_tensor(W) for W in Ws], torch.as_tensor(M, dtype=H.dtype))
        eps = torch.finfo(H.dtype).eps
        scale = max(1.0, float(ref.abs().max()))
        return bool(torch.isfinite(H).all()) and float((H - ref).abs().max()) <= 1e3 * eps * scale * H.shape[0]

    attempt(lambda: fn(Ws, target=M), agrees)


@settings(max_examples=EXAMPLES)
@given(chains(), st.sampled_from(KINDS), st.sampled_from(KINDS), st.integers(0, 6))
def test_closed_form_with_hostile_batches(chain, x_kind, y_kind, batch):
    Ws, dims, _ = chain
    X = hostile(batch, dims[0], x_kind, 3)
    Y = hostile(batch, dims[-1], y_kind, 4)

    def agrees(H):
        ref = dense_hessian(
            lambda *w: dln_loss(w, torch.as_tensor(X, dtype=H.dtype), torch.as_tensor(Y, dtype=H.dtype)), Ws
        )
        eps = torch.finfo(H.dtype).eps
        return (
            bool(torch.isfinite(H).all())
            and float((H - ref).abs().max()) <= 1e3 * eps * max(1.0, float(ref.abs().max())) * H.shape[0]
        )

    attempt(lambda: dln_hessian_closed_form(Ws, X=X, Y=Y), agrees)


@settings(max_examples=EXAMPLES)
@given(chains(), st.sampled_from(KINDS))
def test_jjt_and_dense_hessian_on_hostile_input(chain, sigma_kind):
    Ws, dims, _ = chain
    S = hostile(dims[0], dims[0], sigma_kind, 5)
    if isinstance(S, torch.Tensor) and S.ndim == 2 and S.shape[0] == S.shape[1] and S.is_floating_point():
        S = S @ S.T  # a covariance when the shape allows one

    def symmetric_psd(J):
        tol = 100 * torch.finfo(J.dtype).eps * float(J.abs().max().clamp_min(1)) * J.shape[0]
        return (
            bool(torch.isfinite(J).all())
            and float((J - J.T).abs().max()) <= tol
            and float(torch.linalg.eigvalsh(J.double()).min()) >= -tol
        )

    attempt(lambda: dln_jjt(Ws, sigma=S), symmetric_psd)
    attempt(
        lambda: dense_hessian(lambda *w: sum((x.double() ** 2).sum() for x in w), Ws),
        lambda H: bool(torch.allclose(H, 2 * torch.eye(H.shape[0], dtype=H.dtype))),
    )


HOSTILE_INTS = st.sampled_from([-(2**63), -5, -1, 0, 1, 2, 3, 4, 7, 10**7, 2**40, 2**63 - 1])
HOSTILE_FLOATS = st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, 1e-300, 1e-30, 0.5, 1.0, 2.0, 1e30, 1e300])


@settings(max_examples=EXAMPLES)
@given(
    st.lists(HOSTILE_INTS, min_size=0, max_size=4), st.lists(HOSTILE_FLOATS, min_size=0, max_size=3), st.integers(0, 3)
)
def test_constructors_with_hostile_sizes_and_values(dims, t, seed):
    attempt(
        lambda: DeepLinearNetwork.random(dims, seed=seed, device="cpu"),
        lambda net: net.num_params == sum(a * b for a, b in zip(dims[:-1], dims[1:])),
    )
    d_out, d_in = (dims + [3, 3])[:2]
    attempt(
        lambda: teacher_map(d_out, d_in, t, seed=seed),
        lambda MUV: torch.allclose(
            torch.linalg.svdvals(MUV[0])[: len(t)],
            torch.tensor(sorted(t, reverse=True), dtype=torch.float64),
            rtol=1e-10,
        ),
    )
    attempt(
        lambda: whitened_inputs(d_out, d_in, seed=seed),
        lambda X: torch.allclose(X.T @ X / X.shape[0], torch.eye(X.shape[1], dtype=X.dtype), atol=1e-9),
    )


@settings(max_examples=EXAMPLES)
@given(st.lists(HOSTILE_FLOATS, max_size=6), st.integers(-2, 7), st.integers(-2, 7))
def test_cluster_splits_with_hostile_spectra(eigs, n_dom, n_bulk):
    def sane(split):
        return len(split.dominant) + len(split.bulk) + len(split.zero) + len(split.negative) == len(eigs)

    attempt(lambda: split_by_counts(eigs, n_dom, n_bulk), sane)
    attempt(lambda: split_by_gaps(eigs), sane)


STRATEGY_KWARGS = st.fixed_dictionaries(
    {},
    optional={
        "min_depth": HOSTILE_INTS,
        "max_depth": HOSTILE_INTS,
        "max_width": HOSTILE_INTS,
        "min_width": HOSTILE_INTS,
    },
)


@settings(max_examples=EXAMPLES)
@given(
    STRATEGY_KWARGS,
    st.sampled_from(["dims", "depth_point_configs", "global_minima", "generic_points", "rational_points"]),
    st.data(),
)
def test_strategies_refuse_bad_bounds_when_built(kwargs, name, data):
    import dlnkit.strategies as S

    if name != "dims":
        kwargs.pop("min_width", None)
    small = {k: v for k, v in kwargs.items() if abs(v) <= 8}
    if small != kwargs:  # huge bounds: building must still be instant (a refusal or a lazy strategy)
        attempt(lambda: getattr(S, name)(**kwargs))
        return

    def drawn_ok(example):
        d = (
            example
            if name == "dims"
            else (example.get("dims") or [len(example["weights"][0][0])] + [len(W) for W in example["weights"]])
        )
        return len(d) >= 2 and all(w >= 1 for w in d)

    attempt(lambda: data.draw(getattr(S, name)(**kwargs)), drawn_ok)


def test_api_suite_counts_itself():
    """The counts land in the tally (when scripts/reliability.py runs the suite)."""
    assert attempt(lambda: 1, lambda x: x == 1) == "worked"
    with pytest.raises(AssertionError, match="traceback"):
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("DLNKIT_RELIABILITY_TALLY", raising=False)  # not counted: a deliberate failure
            attempt(lambda: [][1])
