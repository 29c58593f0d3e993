"""Chunked dense Hessians, Lanczos and Hutchinson against independent routes.

References: ``dense_hessian`` (torch.func, all tangents at once) for the chunked route, and
``torch.linalg.eigvalsh`` / the diagonal of that dense matrix for Lanczos and Hutchinson.
"""

import pytest
import torch
from hypothesis import given, settings, strategies as st

from dlnkit.numerics.hessian import (
    HessianOperator,
    HessianTooLargeError,
    check_dense_fits,
    dense_hessian,
    hvp_batched,
)
from dlnkit.numerics.hessian_chunked import (
    choose_chunk_size,
    chunked_hessian_bytes,
    chunked_hessian_copies,
    dense_hessian_chunked,
)
from dlnkit.numerics.top_eigenvalues import top_eigenvalues
from dlnkit.numerics.trace_estimators import hutchinson
from dlnkit.numerics.validation import DlnkitInputError

F64 = torch.float64


@pytest.fixture(autouse=True)
def _one_thread():
    """These matrices are tiny: one thread avoids OpenMP wake-up costs on a busy 2-core machine
    (measured: Lanczos here takes 0.4 s with 1 thread and 14 s with 2 under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tanh_mlp(widths, seed, batch=12):
    g = torch.Generator().manual_seed(seed)
    params = []
    for a, b in zip(widths[:-1], widths[1:]):
        params += [torch.randn(b, a, generator=g, dtype=F64) / a**0.5, 0.1 * torch.randn(b, generator=g, dtype=F64)]
    X = torch.randn(batch, widths[0], generator=g, dtype=F64)
    y = torch.randint(0, widths[-1], (batch,), generator=g)

    def loss(*ps):
        h = X
        for i in range(0, len(ps), 2):
            h = h @ ps[i].T + ps[i + 1]
            if i + 2 < len(ps):
                h = torch.tanh(h)
        return torch.nn.functional.cross_entropy(h, y)

    return loss, params


@settings(max_examples=8)
@given(widths=st.lists(st.integers(1, 5), min_size=2, max_size=4), seed=st.integers(0, 10**6), chunk=st.integers(1, 40))
def test_chunked_hessian_equals_torch_func_hessian(widths, seed, chunk):
    if widths[-1] < 2:
        widths = widths[:-1] + [2]
    loss, params = _tanh_mlp(widths, seed)
    H_ref = dense_hessian(loss, params)
    H = dense_hessian_chunked(loss, params, memory_budget_bytes=2**26, chunk_size=chunk)
    # both are exact autodiff Hessians computed in a different order: rounding only
    # (entries O(1); 1e-12 leaves ~1e4 ulps of slack for the reordered sums)
    assert torch.allclose(H, H_ref, rtol=1e-10, atol=1e-12)


def test_budget_too_small_refuses_before_allocating():
    loss, params = _tanh_mlp([6, 5, 3], 0)
    P = sum(p.numel() for p in params)
    with pytest.raises(HessianTooLargeError):
        dense_hessian_chunked(loss, params, memory_budget_bytes=8 * P * P - 1)
    with pytest.raises(HessianTooLargeError):
        dense_hessian_chunked(loss, params, memory_budget_bytes=8 * P * P + 8, chunk_size=4)
    with pytest.raises(DlnkitInputError):
        dense_hessian_chunked(loss, params, memory_budget_bytes=0)


def test_estimate_is_the_guards_estimate_and_grows_with_chunk():
    P = 3000
    for c in (1, 16, 256):
        need = chunked_hessian_bytes(P, c)
        # the foundation guard, given the same number of P x P copies, accepts exactly this budget
        assert check_dense_fits(P, F64, "cpu", copies=chunked_hessian_copies(P, c), budget_bytes=need) == need
        with pytest.raises(HessianTooLargeError):
            check_dense_fits(P, F64, "cpu", copies=chunked_hessian_copies(P, c), budget_bytes=need - 1)
    assert chunked_hessian_bytes(P, 1) < chunked_hessian_bytes(P, 16) < chunked_hessian_bytes(P, 256)
    budget = 8 * P * P + 8 * 4 * P * 37
    c = choose_chunk_size(P, budget)
    assert c == 32 and chunked_hessian_bytes(P, c) <= budget < chunked_hessian_bytes(P, 2 * c)


def test_lanczos_top_eigenvalues_match_dense_eigvalsh():
    loss, params = _tanh_mlp([7, 9, 4], 3, batch=20)
    H = dense_hessian(loss, params)
    ev = torch.linalg.eigvalsh(H).flip(0)
    op = HessianOperator(loss, params)
    res = top_eigenvalues(op, 5, tol=1e-12, max_iters=H.shape[0])
    assert res.converged and res.num_products <= H.shape[0] + 5  # the recurrence's budget + 5 residual checks
    # residual-based stop at 1e-12 * |lambda_max|; eigvalsh is backward stable (~P eps ||H||)
    assert torch.allclose(res.eigenvalues, ev[:5], rtol=1e-8, atol=1e-10 * ev.abs().max())
    lm = top_eigenvalues(op, 3, tol=1e-12, which="LM", max_iters=H.shape[0], return_vectors=True)
    by_mag = ev[torch.argsort(ev.abs(), descending=True)][:3]
    assert torch.allclose(lm.eigenvalues, by_mag, rtol=1e-8, atol=1e-10 * ev.abs().max())
    # returned vectors are eigenvectors: ||H v - theta v|| small
    r = H @ lm.eigenvectors - lm.eigenvectors * lm.eigenvalues
    assert torch.linalg.norm(r, dim=0).max() < 1e-7 * ev.abs().max()


def test_hutchinson_trace_is_unbiased_and_exact_for_diagonal():
    d = torch.linspace(-3, 7, 50, dtype=F64)
    est = hutchinson(lambda V: d[:, None] * V, 50, 10)
    assert abs(est.trace - float(d.sum())) < 1e-12 and est.stderr == 0.0
    loss, params = _tanh_mlp([6, 8, 3], 5, batch=16)
    H = dense_hessian(loss, params)
    P = H.shape[0]
    est = hutchinson(lambda V: hvp_batched(loss, params, V), P, 400, seed=1, batch=50)  # exact HVPs
    # a 5-standard-error band: fails by chance with probability < 1e-6
    assert abs(est.trace - float(torch.trace(H))) < 5 * est.stderr + 1e-12
    assert est.num_matvecs == 400


def test_bad_arguments():
    with pytest.raises(DlnkitInputError):
        top_eigenvalues(lambda v: v, 3)  # no n
    with pytest.raises(DlnkitInputError):
        top_eigenvalues(lambda v: v, 0, n=4)
    with pytest.raises(DlnkitInputError):
        hutchinson(lambda V: V, 4, 0)


@settings(max_examples=8)
@given(dims=st.lists(st.integers(1, 5), min_size=2, max_size=5), seed=st.integers(0, 10**6))
def test_in_place_dln_assembly_equals_torch_func_hessian(dims, seed):
    from dlnkit.numerics.dln import DeepLinearNetwork
    from dlnkit.numerics.dln_hessian import dln_loss
    from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled

    g = torch.Generator().manual_seed(seed)
    Ws = DeepLinearNetwork.random(dims, seed=seed, device="cpu").weight_list()
    Ws = [W.detach() for W in Ws]
    X = torch.randn(7, dims[0], generator=g, dtype=F64)
    Y = torch.randn(7, dims[-1], generator=g, dtype=F64)
    H_ref = dense_hessian(lambda *w: dln_loss(w, X, Y), Ws)
    out = torch.full_like(H_ref, float("nan"))  # every entry must be written
    H = dln_hessian_assembled(Ws, X=X, Y=Y, out=out)
    assert H is out
    # closed form vs autodiff: rounding of O(1) products over <= 5 layers
    assert torch.allclose(H, H_ref, rtol=1e-10, atol=1e-12)
