"""The one block-Lanczos kernel (numerics.lanczos) and its top-k driver (numerics.top_eigenvalues):
repeated eigenvalues with their multiplicity, convergence from residual norms, exhausted Krylov spaces,
the memory guard, and the CLI's per-layer top-3 on a model whose every eigenvalue is three-fold.

Independent routes: dense ``eigvalsh`` of the same matrix, the closed form H = (2/(N C)) I_C (x) X^T X of a
bias-free linear layer under mean MSE, and SymPy's B1 spectrum of a balanced DLN minimum with multiplicities.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dlnkit.numerics.curvature import ModelCurvature
from dlnkit.numerics.dln import DeepLinearNetwork
from dlnkit.numerics.dln_hessian import dln_hessian_closed_form
from dlnkit.numerics.hessian import HessianOperator
from dlnkit.numerics.lanczos import block_lanczos, random_start, ritz_pairs
from dlnkit.numerics.memory import AllocationTooLargeError
from dlnkit.numerics.operators import CurvatureOperator, DenseOperator, MatmatOperator, as_operator
from dlnkit.numerics.top_eigenvalues import top_eigenvalues
from dlnkit.theory import balanced_minimum_spectrum_numeric

DT = torch.float64


def linear_mse_problem(N=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, 6, generator=g, dtype=DT)
    y = torch.randn(N, 3, generator=g, dtype=DT)
    net = torch.nn.Linear(6, 3, bias=False, dtype=DT)
    with torch.no_grad():
        net.weight.copy_(torch.randn(3, 6, generator=g, dtype=DT))
    # mean MSE over N x 3 entries: H = (2 / (3N)) I_3 (x) X^T X in row-major vec(W): every eigenvalue three-fold
    closed = torch.linalg.eigvalsh(X.T @ X).flip(0) * 2.0 / (3 * N)
    return net, X, y, closed


def test_every_operator_satisfies_the_protocol():
    net, X, y, _ = linear_mse_problem()
    curv = ModelCurvature(net, torch.nn.MSELoss(), (X, y))
    hop = HessianOperator(lambda w: torch.nn.functional.mse_loss(X @ w.T, y), [net.weight.detach()])
    ops = [curv, curv.operator("ggn"), hop, DenseOperator(curv.dense()), as_operator(lambda V: V, 18)]
    V = torch.randn(18, 4, dtype=DT, generator=torch.Generator().manual_seed(1))
    ref = curv.dense() @ V
    for op in ops:
        assert isinstance(op, CurvatureOperator) and op.size == 18 and op.dtype == DT and op.symmetric
    for op in ops[:4]:  # at a non-minimum the GGN of a linear model is still its Hessian (the loss is quadratic)
        torch.testing.assert_close(op.matmat(V), ref, rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(op.matvec(V[:, 0]), ref[:, 0], rtol=1e-12, atol=1e-13)


def test_every_algorithm_takes_every_operator():
    from dlnkit.numerics.slq import slq
    from dlnkit.numerics.trace_estimators import exact_trace, hutchinson, hutchpp

    net, X, y, closed = linear_mse_problem()
    curv = ModelCurvature(net, torch.nn.MSELoss(), (X, y))
    H = curv.dense()
    hop = HessianOperator(lambda w: torch.nn.functional.mse_loss(X @ w.T, y), [net.weight.detach()])
    tr = float(torch.trace(H))
    for op in (curv, curv.operator("ggn"), hop, DenseOperator(H), H):
        assert exact_trace(op).trace == pytest.approx(tr, rel=1e-12)
        assert hutchpp(op, num_matvecs=54).trace == pytest.approx(tr, rel=1e-10)  # sketch of 18 spans R^18
        est = hutchinson(op, num_matvecs=30, seed=1)
        assert abs(est.trace - tr) < 5 * est.stderr + 1e-12
        dens = slq(op, num_probes=3, num_steps=18, seed=2)  # 6 distinct eigenvalues: every probe exhausts
        assert float(dens.weights.sum()) == pytest.approx(1.0, abs=1e-12)
        assert abs(dens.top() - float(closed[0])) < 1e-10 * float(closed[0])
        assert top_eigenvalues(op, 3).multiplicities == (3, 3, 3)


def test_linear_layer_mse_top5_has_the_threefold_multiplicity():
    """The regression: single-vector Lanczos returned five distinct values (relative error 0.67)."""
    net, X, y, closed = linear_mse_problem()
    curv = ModelCurvature(net, torch.nn.MSELoss(), (X, y))
    dense = torch.linalg.eigvalsh(curv.dense()).flip(0)
    expected = closed.repeat_interleave(3)[:5]
    torch.testing.assert_close(dense[:5], expected, rtol=1e-12, atol=0)  # the closed form is right
    for op in (curv, HessianOperator(lambda w: torch.nn.functional.mse_loss(X @ w.T, y), [net.weight.detach()])):
        res = top_eigenvalues(op, 5)
        assert res.converged
        # converged at relative residual 1e-10: each Ritz value is within the residual of an eigenvalue
        torch.testing.assert_close(res.eigenvalues, dense[:5], rtol=0, atol=1e-9 * float(dense[0]))
        assert res.multiplicities == (3, 3, 3, 3, 3)
        assert [c.multiplicity for c in res.clusters] == [3, 3]
        assert not any(c.may_be_larger for c in res.clusters)  # 3 copies found with 5 start vectors: exact
        assert bool((res.residuals <= res.tol * res.norm_estimate).all())
    # one start vector can only ever hold one copy: the result says the multiplicity may be larger
    single = top_eigenvalues(curv, 5, block_size=1)
    assert single.block_size == 1 and all(c.may_be_larger for c in single.clusters)
    assert single.multiplicities == (1, 1, 1, 1, 1)


def test_growing_block_finds_a_sevenfold_top_eigenvalue():
    g = torch.Generator().manual_seed(3)
    X, y = torch.randn(40, 6, generator=g, dtype=DT), torch.randn(40, 7, generator=g, dtype=DT)
    curv = ModelCurvature(torch.nn.Linear(6, 7, bias=False, dtype=DT), torch.nn.MSELoss(), (X, y))
    lam = float(torch.linalg.eigvalsh(X.T @ X)[-1]) * 2.0 / (7 * 40)  # I_7 (x) X^T X: seven copies
    res = top_eigenvalues(curv, 1, max_block_size=16)
    assert res.block_size == 8 and res.multiplicities == (7,) and not res.clusters[0].may_be_larger
    assert res.converged and abs(float(res.eigenvalues[0]) - lam) < 1e-9 * lam
    first = top_eigenvalues(curv, 1)  # one start vector: one copy, honestly flagged
    assert res.num_products > first.num_products and first.clusters[0].may_be_larger


def test_dln_b1_clusters_come_with_their_multiplicities():
    dims, t = [6, 8, 8, 5], [2.0, 1.0, 0.5]
    net, M = DeepLinearNetwork.balanced_minimum(dims, t, dtype=DT, device="cpu")
    H = dln_hessian_closed_form([W.detach() for W in net.weight_list()], target=M)
    exact = np.sort(balanced_minimum_spectrum_numeric(dims, t)["all"])[::-1]
    k = 11  # 7.56, 5.11 x2, 3.92 x2, 3.0, then the five-fold bulk value 2^(4/3)
    res = top_eigenvalues(H, k)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues.numpy(), exact[:k], rtol=0, atol=1e-9 * exact[0])
    values, counts = np.unique(np.round(exact[exact > 0], 8), return_counts=True)
    truth = dict(zip(values.tolist(), counts.tolist()))
    assert res.multiplicities == tuple(truth[round(float(v), 8)] for v in exact[:k])
    assert res.multiplicities[-5:] == (5,) * 5 and not any(c.may_be_larger for c in res.clusters)


@st.composite
def clustered_spectra(draw):
    mults = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    values = 10.0 - 2.0 * np.arange(len(mults))  # separated clusters 10, 8, 6, ...
    bulk = draw(st.integers(20, 40))
    seed = draw(st.integers(0, 2**16))
    return mults, values, bulk, seed


@settings(max_examples=15, deadline=None)
@given(clustered_spectra())
def test_diagonal_with_chosen_multiplicities_rotated(spec):
    mults, values, bulk, seed = spec
    top = np.repeat(values, mults)
    rest = np.linspace(0.0, 1.0, bulk)
    ev = np.concatenate([top, rest])
    n = len(ev)
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=DT, generator=torch.Generator().manual_seed(seed)))
    A = Q @ torch.diag(torch.tensor(ev, dtype=DT)) @ Q.T
    A = 0.5 * (A + A.T)
    k = len(top)
    res = top_eigenvalues(A, k, block_size=max(mults) + 1, seed=seed)
    assert res.converged
    np.testing.assert_allclose(res.eigenvalues.numpy(), top, rtol=0, atol=1e-8 * 10)
    assert res.multiplicities == tuple(np.repeat(mults, mults).tolist())
    # block size b <= the multiplicity: b copies, flagged as possibly more
    b = min(mults[0], 2)
    small = top_eigenvalues(A, 1, block_size=b, seed=seed)
    assert small.multiplicities[0] == min(mults[0], b)
    assert small.clusters[0].may_be_larger == (mults[0] >= b)


def test_tiny_budget_is_reported_not_converged():
    A = torch.diag(torch.linspace(0.0, 1.0, 400, dtype=DT))
    res = top_eigenvalues(A, 3, max_iters=6)  # two block steps of three vectors: far from the top
    assert not res.converged and not res.exhausted
    assert res.num_steps == 2 and res.num_products == 6 + 3  # the recurrence plus the explicit residuals
    assert bool((res.residuals > res.tol * res.norm_estimate).any())
    # the same budget on a larger space converges once it is allowed enough steps
    assert top_eigenvalues(A, 3, max_iters=400).converged


def test_exhausted_krylov_space_is_exact_convergence():
    # 100 x 100 with three distinct eigenvalues: one start vector spans an invariant 3-dimensional space
    d = torch.tensor([3.0] * 10 + [2.0] * 40 + [-1.0] * 50, dtype=DT)
    run = block_lanczos(d.diag(), random_start(100, seed=4), max_steps=50)
    assert run.exhausted.tolist() == [True] and run.num_steps == 3 and run.num_products == 3
    theta, _S, res = ritz_pairs(run)
    np.testing.assert_allclose(theta.numpy(), [-1.0, 2.0, 3.0], atol=1e-12)
    assert float(res.abs().max()) == 0.0  # an invariant subspace: no residual block at all
    top = top_eigenvalues(d.diag(), 1, block_size=1, max_iters=50)
    assert top.exhausted and top.converged and top.clusters[0].may_be_larger  # b = 1 cannot see 10 copies
    assert float(top.residuals[0]) < 1e-13


def test_independent_groups_equal_separate_runs():
    A = torch.diag(torch.linspace(-1.0, 2.0, 60, dtype=DT))
    start = random_start(60, block_size=2, groups=3, seed=5)
    together = block_lanczos(A, start, max_steps=8)
    for grp in range(3):
        alone = block_lanczos(A, start[grp], max_steps=8)
        torch.testing.assert_close(ritz_pairs(together, grp)[0], ritz_pairs(alone, 0)[0], rtol=0, atol=1e-12)


def test_basis_is_refused_before_allocation():
    big = MatmatOperator(lambda V: V, 4_000_000)  # a 4M-parameter model: 305 float64 basis vectors = 9.8 GB
    with pytest.raises(AllocationTooLargeError, match="Lanczos basis.*lower the number of Lanczos steps"):
        top_eigenvalues(big, 5, budget_bytes=2**30)


MODEL_SRC = textwrap.dedent("""
    import torch
    from torch import nn


    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 3, bias=False, dtype=torch.float64))
""")


BIG_SRC = textwrap.dedent("""
    import torch
    from torch import nn


    def make():
        return nn.Sequential(nn.Linear(2000, 2000, bias=False, dtype=torch.float64))  # 4M parameters
""")


def test_cli_refuses_a_4m_parameter_spectrum_before_allocating(tmp_path):
    """Default flags: top-5 with up to 300 products needs a 4M x 305 float64 basis (9.1 GiB, 10.9 with the work
    blocks): under a 5 GiB
    address-space limit the command stops with one line and exit 2, before the basis exists."""
    import resource

    (tmp_path / "bigmodel.py").write_text(BIG_SRC)
    torch.save({"inputs": torch.randn(4, 2000, dtype=DT), "targets": torch.randn(4, 2000, dtype=DT)}, tmp_path / "d.pt")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (5 * 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))

    out = subprocess.run(
        [sys.executable, "-m", "dlnkit", "spectrum", "--model", "bigmodel:make", "--data", "d.pt", "-q"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        timeout=300,
        preexec_fn=limit,
    )
    assert out.returncode == 2, out.stderr
    err = out.stderr.strip().splitlines()
    # one line, before any basis exists: the command's own estimate (probes, trace products and the top-k
    # basis of a P = 4e6 model) is refused against what the 5 GiB limit leaves
    assert len(err) == 1 and "P = 4000000" in err[0] and "GiB" in err[0] and "needs" in err[0], err


def test_cli_per_layer_top3_of_a_threefold_layer(tmp_path):
    (tmp_path / "linmodel.py").write_text(MODEL_SRC)
    g = torch.Generator().manual_seed(2)
    X = torch.randn(30, 6, generator=g, dtype=DT)
    y = torch.randn(30, 3, generator=g, dtype=DT)
    torch.save({"inputs": X, "targets": y}, tmp_path / "d.pt")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["spectrum", "--model", "linmodel:make", "--data", "d.pt", "--loss", "mse", "--per-layer"]
    args += ["--top", "5", "--probes", "2", "--steps", "6", "--json", "s.json", "-q"]
    out = subprocess.run(
        [sys.executable, "-m", "dlnkit", *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lam = float(torch.linalg.eigvalsh(X.T @ X)[-1]) * 2.0 / (3 * 30)  # the closed form's top, three-fold
    rec = json.loads((tmp_path / "s.json").read_text())
    np.testing.assert_allclose(rec["layers"]["0"]["top"], [lam] * 3, rtol=1e-9)
    assert rec["layers"]["0"]["multiplicities"] == [3, 3, 3] and rec["top_multiplicities"][:3] == [3, 3, 3]
    np.testing.assert_allclose(rec["top"][:3], [lam] * 3, rtol=1e-9)
    assert rec["top_converged"]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("0 "))
    assert line.split()[-3:] == [f"{lam:.5g},", f"{lam:.5g},", f"{lam:.5g}"]


@pytest.mark.gpu
def test_cuda_operator_keeps_the_basis_on_the_device_and_matches_cpu():
    net, X, y, closed = linear_mse_problem()
    cpu = ModelCurvature(net, torch.nn.MSELoss(), (X, y))
    gpu = ModelCurvature(linear_mse_problem()[0].cuda(), torch.nn.MSELoss(), (X, y))
    a, b = top_eigenvalues(cpu, 5), top_eigenvalues(gpu.operator("hessian"), 5, return_vectors=True)
    assert b.converged and b.eigenvectors is not None and b.eigenvectors.is_cuda
    torch.testing.assert_close(b.eigenvalues, a.eigenvalues, rtol=0, atol=1e-9 * float(closed[0]))
    assert b.multiplicities == (3, 3, 3, 3, 3)


def test_largest_magnitude_and_smallest_keep_both_signs_apart():
    d = torch.tensor([3.0, 3.0, -3.0, -3.0, 1.0, 0.5, 0.2, 0.1] * 3, dtype=DT)  # +-3 six-fold each
    lm = top_eigenvalues(d.diag(), 12, which="LM")
    np.testing.assert_allclose(np.sort(lm.eigenvalues.numpy()), [-3.0] * 6 + [3.0] * 6, atol=1e-10)
    assert sorted(round(c.value, 8) for c in lm.clusters) == [-3.0, 3.0]
    assert lm.multiplicities == (6,) * 12 and not any(c.may_be_larger for c in lm.clusters)  # 6 < b = 12
    sa = top_eigenvalues(d.diag(), 7, which="SA")
    np.testing.assert_allclose(sa.eigenvalues.numpy(), [-3.0] * 6 + [0.1], atol=1e-10)
    assert sa.multiplicities == (6,) * 6 + (3,)


def _lanczos_peak_child(n, b, steps, conn):
    import resource

    torch.set_num_threads(1)
    d = torch.linspace(0.0, 1.0, n, dtype=DT)
    op = MatmatOperator(lambda V: d[:, None] * V, n)
    start = random_start(n, block_size=b, seed=0)
    torch.linalg.svd(torch.randn(8, 3, dtype=DT))  # load LAPACK before the baseline
    with open("/proc/self/statm") as fh:
        rss = int(fh.read().split()[1]) * 4096
    base = max(rss, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    block_lanczos(op, start, max_steps=steps)
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base)


def test_basis_guard_estimate_is_not_below_the_measured_peak():
    import multiprocessing as mp

    from dlnkit.numerics.lanczos import lanczos_basis_bytes

    n, b, steps = 300_000, 4, 20
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_lanczos_peak_child, args=(n, b, steps, child))
    proc.start()
    measured = parent.recv()
    proc.join(timeout=120)
    estimate = lanczos_basis_bytes(n, 1, b, steps)
    assert 0.5 * estimate < measured <= estimate, (measured / 2**20, estimate / 2**20)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(8, 40),
    st.integers(1, 4),
    st.integers(1, 6),
    st.integers(1, 3),
    st.integers(0, 2**16),
)
def test_recurrence_residuals_equal_explicit_residuals(n, b, steps, groups, seed):
    """||W_m s^(m)|| (the kernel's residual) is ||A y - theta y|| computed with A, for every Ritz pair of every
    group, and the basis is orthonormal: the two facts the convergence test rests on."""
    from dlnkit.numerics.lanczos import ritz_vectors

    b = min(b, n)
    g = torch.Generator().manual_seed(seed)
    G = torch.randn(n, n, generator=g, dtype=DT)
    A = G + G.T
    run = block_lanczos(A, random_start(n, block_size=b, groups=groups, seed=seed), max_steps=steps)
    scale = float(torch.linalg.matrix_norm(A, 2))
    for grp in range(groups):
        theta, S, res = ritz_pairs(run, grp)
        Y = ritz_vectors(run, S, grp)
        explicit = torch.linalg.norm(A @ Y - Y * theta, dim=0)
        torch.testing.assert_close(res, explicit, rtol=0, atol=1e-10 * scale)
        torch.testing.assert_close(Y.T @ Y, torch.eye(len(theta), dtype=DT), rtol=0, atol=1e-12)
        assert float(theta.max()) <= scale * (1 + 1e-12)  # Ritz values lie inside the spectrum


def _known_spectrum(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A = Q diag(ev) Q^T with a twofold top eigenvalue, a decaying head and a bulk: (A, ev descending, Q)."""
    ev = torch.cat([torch.tensor([9.0, 9.0, 7.0, 6.5, 5.0]), torch.linspace(0.0, 2.0, n - 5)]).to(DT)
    ev = ev.sort(descending=True).values
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=DT, generator=torch.Generator().manual_seed(seed)))
    A = Q @ torch.diag(ev) @ Q.T
    return 0.5 * (A + A.T), ev, Q


@pytest.mark.parametrize("seed", [0, 1])
def test_a_given_start_block_and_its_products_give_the_eigenvalues_of_random_starts(seed):
    """A start block (with its products passed, so they are not repeated) plus random columns finds the
    same top-5 eigenvalues, with multiplicity, as random starts, and both equal the known spectrum."""
    n = 80
    A, ev, _ = _known_spectrum(n, seed)
    X = torch.randn(n, 4, dtype=DT, generator=torch.Generator().manual_seed(100 + seed))
    ref = top_eigenvalues(A, 5, seed=seed, tol=1e-10)
    given = top_eigenvalues(A, 5, start=X, start_product=A @ X, block_size=3, seed=seed, tol=1e-10)
    assert ref.converged and given.converged
    for res in (ref, given):
        np.testing.assert_allclose(res.eigenvalues.numpy(), ev[:5].numpy(), rtol=0, atol=1e-9 * 9)
        assert res.multiplicities[:2] == (2, 2)
    assert given.block_size == 7
    # the passed products are used, not recomputed: the same run without them spends 4 more products
    again = top_eigenvalues(A, 5, start=X, block_size=3, seed=seed, tol=1e-10)
    assert again.num_products == given.num_products + 4
    np.testing.assert_allclose(again.eigenvalues.numpy(), given.eigenvalues.numpy(), rtol=0, atol=1e-9 * 9)


def test_a_start_block_spanning_an_invariant_subspace_converges_exactly():
    """A start block spanning the top-3 eigenspace (mixed, not orthonormal) exhausts the Krylov space after one
    step: the eigenvalues are exact and the only products are the explicit residual check."""
    n = 60
    A, ev, Q = _known_spectrum(n, 3)
    mix = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0], [2.0, 0.0, 1.0]], dtype=DT)
    X = Q[:, :3] @ mix
    res = top_eigenvalues(A, 3, start=X, start_product=A @ X)
    assert res.exhausted and res.converged
    np.testing.assert_allclose(res.eigenvalues.numpy(), ev[:3].numpy(), rtol=0, atol=1e-12 * 9)
    assert float(res.residuals.max()) <= 1e-12 * 9
    assert res.num_products == 3  # the explicit residual check; the start's products were given


def test_a_start_block_inside_an_invariant_subspace_cannot_see_outside_it_and_says_so():
    """Why a given start is never used alone for the top eigenvalues: from a start inside the span of the
    eigenvectors 3-5 the Krylov space never reaches the top eigenvalue 9. Without random columns every
    cluster is flagged ``may_be_larger``; with random columns the top eigenvalues are found."""
    n = 60
    A, ev, Q = _known_spectrum(n, 4)
    X = Q[:, 2:5]
    blind = top_eigenvalues(A, 3, start=X, start_product=A @ X)
    np.testing.assert_allclose(blind.eigenvalues.numpy(), ev[2:5].numpy(), rtol=0, atol=1e-12 * 9)
    assert all(c.may_be_larger for c in blind.clusters)
    seen = top_eigenvalues(A, 3, start=X, start_product=A @ X, block_size=3, tol=1e-10)
    np.testing.assert_allclose(seen.eigenvalues.numpy(), ev[:3].numpy(), rtol=0, atol=1e-9 * 9)


def test_conditional_second_reorthogonalisation_keeps_the_basis_orthonormal():
    """With one re-orthogonalisation pass and a second only where a column lost more than 1 - 1/sqrt(2) of its
    norm, the basis of a long run on a fast-converging spectrum (the case that loses orthogonality without
    re-orthogonalisation) stays orthonormal to 1e-12 and the recurrence residuals equal explicit ones."""
    from dlnkit.numerics.lanczos import ritz_vectors

    n = 300
    ev = torch.cat([2.0 ** -torch.arange(30, dtype=DT), torch.linspace(0.0, 1e-9, n - 30, dtype=DT)])
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=DT, generator=torch.Generator().manual_seed(7)))
    A = Q @ torch.diag(ev) @ Q.T
    A = 0.5 * (A + A.T)
    run = block_lanczos(A, random_start(n, block_size=3, seed=7), max_steps=60, deflation_tol=1e-14)
    idx = torch.nonzero(run.processed[0]).reshape(-1)
    V = run.basis[0][idx]
    assert len(idx) > 90
    torch.testing.assert_close(V @ V.T, torch.eye(len(idx), dtype=DT), rtol=0, atol=1e-12)
    theta, S, res = ritz_pairs(run, 0)
    Y = ritz_vectors(run, S, 0)
    torch.testing.assert_close(res, torch.linalg.norm(A @ Y - Y * theta, dim=0), rtol=0, atol=1e-12)
