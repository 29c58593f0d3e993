"""arXiv:2602.00545 as its code runs it: setup construction, the adaptive split, the finite-training
spectrum and decay law (SymPy) against closed-form Hessians and short trainings, the claims and
`dlnkit reproduce`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings, strategies as st
from torch.testing import assert_close

from dlnkit.claims.paper_2602_runs import decay_prediction, formula_spectrum, scalar_recursion
from dlnkit.numerics.adaptive_split import split_adaptive_threshold
from dlnkit.numerics.dln_hessian import (
    dln_gauss_newton_nonzero_spectrum,
    dln_hessian_closed_form,
    dln_residual_hessian_closed_form,
)
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.numerics.paper_setup import (
    init_matrix,
    layer_mode_sizes,
    paper_hessian,
    paper_loss_torch,
    paper_setup,
    train_paper,
)
from dlnkit.theory import finite_training as ft

seeds = st.one_of(st.just(12138), st.integers(0, 2**31 - 1))
depths = st.integers(1, 7)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


# ----- the paper's setup ---------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(depth=depths, seed=seeds)
def test_paper_init_is_balanced_rank_ten_with_end_to_end_map_a(depth, seed):
    s = paper_setup(depth, seed)
    Ws = [_t(W) for W in s.weights]
    end = Ws[0]
    for W in Ws[1:]:
        end = W @ end
    assert_close(end, _t(s.A), rtol=0, atol=1e-14)
    assert torch.linalg.matrix_rank(end).item() == 10
    for l in range(depth - 1):  # balanced: W_{l+1}^T W_{l+1} = W_l W_l^T
        assert_close(Ws[l + 1].T @ Ws[l + 1], Ws[l] @ Ws[l].T, rtol=0, atol=1e-14)
    assert [tuple(W.shape) for W in Ws] == [(s.dims[k + 1], s.dims[k]) for k in range(depth)]


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_paper_target_is_rank_five_unit_and_aligned_with_the_init(seed):
    s = paper_setup(3, seed)
    T, U, Vt = _t(s.target), _t(s.U), _t(s.Vt)
    assert_close(torch.linalg.svdvals(T)[:6], torch.tensor([1.0] * 5 + [0.0], dtype=torch.float64), rtol=0, atol=1e-13)
    # in the init's singular bases the target is diag(1, 1, 1, 1, 1, 0, ..., 0)
    diag = torch.diag(torch.tensor([1.0] * 5 + [0.0] * 5, dtype=torch.float64))
    assert_close(U.T @ T @ Vt.T, diag, rtol=0, atol=1e-13)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_init_matrix_follows_numpys_legacy_global_seed(seed):
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        legacy = np.random.randn(10, 16) * np.sqrt(0.01)
    finally:
        np.random.set_state(state)
    assert_close(_t(init_matrix(seed)), _t(legacy), rtol=0, atol=0)


def test_paper_seed_gives_the_papers_a_first_entries_and_ten_distinct_modes():
    s = paper_setup(2)
    assert s.seed == 12138 and s.modes == 10 and s.extra_modes == 5
    assert np.all(np.diff(s.S) < 0)  # distinct singular values: the modes are well defined


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_training_is_torch_sgd_with_momentum_on_the_papers_loss(activation):
    s = paper_setup(3, 7)
    ours = train_paper(s, activation=activation, updates=25)
    params = [torch.nn.Parameter(_t(W).clone()) for W in s.weights]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    T = _t(s.target)
    for _ in range(25):
        opt.zero_grad()
        paper_loss_torch(params, T, activation).backward()
        opt.step()
    for W, p in zip(ours.weights, params):
        assert_close(W, p.detach(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_paper_hessian_matches_torch_func_at_a_trained_point(activation):
    s = paper_setup(2, 3)
    run = train_paper(s, activation=activation, updates=200)
    H = paper_hessian(run.weights, s.target, activation)
    T = _t(s.target)
    H_ref = dense_hessian(lambda *w: paper_loss_torch(w, T, activation), [W.clone() for W in run.weights])
    assert_close(H, H_ref, rtol=1e-11, atol=1e-12)


# ----- the adaptive-threshold split ----------------------------------------------------------


@st.composite
def clustered_spectra(draw):
    """Dominant cluster near D, bulk near b, a closing cluster near c (kept: above 1 % of the top)
    and a tail below 1 % of the top; gaps between clusters larger than any gap inside one. The
    rule needs the closing cluster: without a kept value after it, the bulk's end is its own
    largest internal gap."""
    k_dom, k_bulk = draw(st.integers(1, 30)), draw(st.integers(2, 90))
    k_close, k_tail = draw(st.integers(1, 30)), draw(st.integers(0, 50))
    b = draw(st.floats(0.5, 2.0))
    D = draw(st.floats(3.0, 10.0)) * b
    c = draw(st.floats(0.15, 0.4)) * b  # above 1 % of D <= 10 b: kept
    spread = draw(st.floats(0.0, 0.02)) * b / max(k_bulk, k_dom, k_close)  # cluster widths < 0.02 b
    dom = D - spread * np.arange(k_dom)
    bulk = b - spread * np.arange(k_bulk)
    close = c - spread * np.arange(k_close)
    tail = np.linspace(0.0, 0.009 * D, k_tail)
    ev = np.concatenate([dom, bulk, close, tail])
    return draw(st.permutations(list(ev))), k_dom, k_bulk, k_close


@settings(max_examples=60, deadline=None)
@given(clustered_spectra())
def test_adaptive_split_recovers_clusters_separated_by_the_largest_gaps(case):
    ev, k_dom, k_bulk, k_close = case
    s = split_adaptive_threshold(ev)
    assert s.split.counts["dominant"] == k_dom
    assert s.split.counts["bulk"] == k_bulk
    assert s.kept == k_dom + k_bulk + k_close  # the tail is below 1 % of the largest eigenvalue


def test_adaptive_split_without_a_closing_gap_cuts_inside_the_bulk():
    # the paper's rule: with nothing kept after the bulk, its end is its largest internal gap
    s = split_adaptive_threshold([3.0, 1.0, 1.0, 1e-5])
    assert s.split.counts["dominant"] == 1 and s.split.counts["bulk"] == 1


def test_adaptive_split_cuts_the_bulk_at_its_largest_internal_gap():
    # bulk {1.3 x 4, 1.0 x 6}: the gap 0.3 inside it beats the 0.1 gap to the next kept value
    ev = [7.0] * 3 + [1.3] * 4 + [1.0] * 6 + [0.9] + [1e-4] * 5
    s = split_adaptive_threshold(ev)
    assert s.split.counts["dominant"] == 3 and s.split.counts["bulk"] == 4
    assert s.ratio == pytest.approx(7.0 / 1.3, rel=1e-15)


def test_adaptive_split_whose_largest_gap_is_last_keeps_one_bulk_value():
    s = split_adaptive_threshold([5.0, 4.9, 4.8, 0.5, 1e-6])
    assert s.split.counts["dominant"] == 3 and s.split.counts["bulk"] == 1


# ----- finite training: the Gauss-Newton spectrum with extra modes ---------------------------


def test_sympy_gauss_newton_diagonal_is_the_pair_formula():
    sizes = sp.symbols("s1:5", positive=True)
    dims = [5, 4, 4, 3]
    J = ft.derive_gauss_newton_aligned(dims, list(sizes[:3]))
    full = list(sizes[:3]) + [0] * 2  # input modes beyond the point's rank have size 0
    out = list(sizes[:3])
    k = 0
    for i in range(dims[-1]):
        for j in range(dims[0]):
            assert sp.simplify(J[k, k] - ft.pair_eigenvalue(3, out[i], full[j])) == 0
            k += 1


def _balanced_aligned(dims, sizes, seed):
    g = torch.Generator().manual_seed(seed)
    q = lambda n: torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
    bases = [q(d) for d in dims]
    k = len(sizes)
    Ws = []
    for l in range(len(dims) - 1):
        D = torch.zeros(dims[l + 1], dims[l], dtype=torch.float64)
        D[range(k), range(k)] = torch.as_tensor(sizes, dtype=torch.float64)
        Ws.append(bases[l + 1] @ D @ bases[l].T)
    return Ws, bases


@settings(max_examples=20, deadline=None)
@given(
    depth=st.integers(2, 4), rank=st.integers(1, 3), extra=st.integers(1, 3), seed=st.integers(0, 10**6), data=st.data()
)
def test_finite_training_spectrum_matches_the_closed_form_hessian(depth, rank, extra, seed, data):
    k = rank + extra
    d_in, d_out = k + data.draw(st.integers(0, 2)), k + data.draw(st.integers(0, 2))
    dims = [d_in] + [k + data.draw(st.integers(0, 2)) for _ in range(depth - 1)] + [d_out]
    target_sizes = [data.draw(st.floats(0.8, 1.2)) for _ in range(rank)]
    extra_sizes = [data.draw(st.floats(0.01, 0.6)) for _ in range(extra)]
    sizes = target_sizes + extra_sizes
    Ws, bases = _balanced_aligned(dims, sizes, seed)
    U, V = bases[-1][:, :rank], bases[0][:, :rank]
    T = U @ V.T  # rank r, unit singular values, aligned with the point's first r modes
    P = sum(W.numel() for W in Ws)
    s = np.array(sizes)
    formula = formula_spectrum(
        depth, np.concatenate([s, np.zeros(d_out - k)]), np.concatenate([s, np.zeros(d_in - k)]), P
    )
    eye = torch.eye(d_in, dtype=torch.float64)
    gn = torch.sort(dln_gauss_newton_nonzero_spectrum(Ws, sigma=eye, rtol=0.0), descending=True).values
    assert_close(gn, torch.from_numpy(formula[: len(gn)].copy()), rtol=1e-10, atol=1e-12)
    # the full Hessian (not a minimum): every sorted eigenvalue within ||H_res||_2 of the formula (Weyl)
    H = dln_hessian_closed_form(Ws, sigma=eye, target=T)
    ev = torch.linalg.eigvalsh(H).flip(0)
    res = torch.linalg.matrix_norm(dln_residual_hessian_closed_form(Ws, sigma=eye, target=T), 2)
    assert float(torch.max(torch.abs(ev - torch.from_numpy(formula.copy())))) <= float(res) + 1e-10


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_decay_law_solves_the_gradient_flow(depth):
    law = ft.decay_law(depth)
    rhs = ft.decay_ode(depth).rhs.subs(sp.Function("a")(ft.t), law)
    assert sp.simplify(sp.diff(law, ft.t) - rhs) == 0
    assert sp.simplify(law.subs(ft.t, 0) - ft.a0) == 0


def test_count_ratio_formula_matches_the_numeric_spectrum():
    for depth, a in [(2, 0.1), (3, 0.3), (7, 0.45)]:
        f_count, f_adapt, _ = ft.numeric_ratios(depth)
        mode = np.array([1.0] * 5 + [a] * 5)
        spec = formula_spectrum(depth, mode, np.concatenate([mode, np.zeros(6)]), 200)
        assert f_count(a) == pytest.approx(np.mean(spec[:25]) / np.mean(spec[25:105]), rel=1e-12)
        assert f_adapt(a) == pytest.approx(depth / np.mean(spec[25:75]), rel=1e-12)


@pytest.mark.parametrize("depth,updates", [(2, 1500), (3, 3000), (4, 2000)])
def test_extra_modes_follow_the_scalar_recursion_and_the_decay_law(depth, updates):
    s = paper_setup(depth)
    run = train_paper(s, updates=updates)
    sizes, off = layer_mode_sizes(run.weights, s)
    assert off < 1e-12  # the update keeps the init's diagonal structure
    assert np.ptp(sizes, axis=0).max() < 1e-12  # and the balance: every layer the same size
    measured = sizes.mean(axis=0)[5:]
    rec = scalar_recursion(depth, s.initial_layer_sizes()[5:], updates)
    assert_close(_t(measured), _t(rec), rtol=1e-10, atol=0)
    pred = decay_prediction(depth, updates - 1)
    flow = np.asarray(pred["flow"])
    # first-order law: within twice its own discretisation error (the recursion's distance from it)
    assert np.max(np.abs(measured / flow - 1)) <= 2 * pred["flow_vs_recursion"] + 1e-12
    assert pred["flow_vs_recursion"] < 0.05


# ----- claims and the command ---------------------------------------------------------------


def test_b2_paper_short_run_passes_with_reported_values_only_on_the_paper_run():
    from dlnkit.claims import get_claim

    claim = get_claim("B2-paper")
    res = claim.check({"depth": 2, "steps": 300, "dtype": "float64", "seed": 12138})
    assert res.status == "PASS", (res.message, res.error, res.bound)
    assert res.reported == ""  # 300 steps is not the paper's run
    assert claim.reported_value({"depth": 2, "steps": 10000, "dtype": "float64", "seed": 12138}).endswith("(reported)")
    assert "count" in res.measured and "adaptive" in res.measured


def _dlnkit(*args):
    return subprocess.run([sys.executable, "-m", "dlnkit", *args], capture_output=True, text=True, timeout=600)


def _dlnkit_here(*args) -> tuple[int, str]:
    """``dlnkit.cli.main(args)`` in this process (no interpreter and torch start-up): (exit status, stderr)."""
    import contextlib
    import io

    from dlnkit.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
    return code, err.getvalue()


def test_reproduce_writes_record_and_figure_resumes_and_refuses_foreign_files(tmp_path):
    out = tmp_path / "rep"
    res = _dlnkit("reproduce", "2602.00545", "--depths", "2,3", "--steps", "40", "--out", str(out), "-q")
    assert res.returncode == 0, res.stderr
    rec = json.loads((out / "record.json").read_text())
    assert [r["depth"] for r in rec["rows"]] == [2, 3]
    for r in rec["rows"]:
        assert np.isfinite(r["linear_count"]) and np.isfinite(r["tanh_count"])
        assert r["reported_linear"] is not None  # shown beside ours
    assert (out / "ratio_vs_depth.png").stat().st_size > 1000
    run_file = out / "runs" / "L2_seed12138_float64_steps40.json"
    before = run_file.stat().st_mtime_ns
    # the rest in process: the real entry point ran above, each further start-up costs seconds
    again, _ = _dlnkit_here("reproduce", "2602.00545", "--depths", "2,3", "--steps", "40", "--out", str(out), "-q")
    assert again == 0 and run_file.stat().st_mtime_ns == before  # resumed, not recomputed
    foreign = out / "runs" / "L4_seed12138_float64_steps40.json"
    foreign.write_text("{}")
    refused, err = _dlnkit_here("reproduce", "2602.00545", "--depths", "4", "--steps", "40", "--out", str(out), "-q")
    assert refused == 2 and "did not write" in err and foreign.read_text() == "{}"
    assert "Traceback" not in err
    bad, err = _dlnkit_here("reproduce", "2602.00545", "--depths", "9", "--out", str(out), "-q")
    assert bad == 2 and "Traceback" not in err


@pytest.mark.parametrize("depth", [2, 3, 7])
def test_steps_for_size_inverts_the_decay_law_at_the_heavy_ball_time(depth):
    # the closed form uses the large-K heavy-ball time (drops beta^K): decay far enough that beta^K ~ 0
    a_start, a_end = 0.8, 0.05
    K = float(ft.numeric_steps_for_size(depth)(a_end, a_start, 0.01, 0.9))
    t_K = float(ft.numeric_heavy_ball_time()(0.01, 0.9, K))
    assert float(ft.numeric_decay_law(depth)(a_start, t_K)) == pytest.approx(a_end, rel=1e-9)
