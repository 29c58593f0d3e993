"""SLQ against the exact spectrum of DLN Hessians (closed form with multiplicities, SymPy's B1 spectrum),
through the network itself (ModelCurvature on a whitened data loader), and Hutch++ / Hutchinson.

Tolerances are the measured accuracies of the stated budget with a margin (see the README table,
produced by ``python -m benchmarks.real_networks``): W1 below 2% of lambda_max at 40 steps x 8
probes (measured 0.1-0.7%); the top node converges to lambda_max to 1e-8 (extreme Ritz values
converge first); the zeroth to third moments of the quadrature are exact for every probe up to
Monte-Carlo error in the probe, whose standard error we bound by 5 sigma.
"""

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from dlnkit.numerics.alignment import linear_chain
from dlnkit.numerics.curvature import ModelCurvature
from dlnkit.numerics.dln import DeepLinearNetwork, whitened_inputs
from dlnkit.numerics.dln_hessian import dln_hessian_closed_form
from dlnkit.numerics.slq import slq
from dlnkit.numerics.trace_estimators import exact_trace, hutchinson, hutchpp
from dlnkit.theory import balanced_minimum_spectrum_numeric

DT = torch.float64


def dln_case(dims=(6, 8, 8, 5), t=(2.0, 1.0, 0.5)):
    net, M = DeepLinearNetwork.balanced_minimum(list(dims), list(t), dtype=DT, device="cpu")
    Ws = [W.detach() for W in net.weight_list()]
    X = whitened_inputs(64, dims[0], seed=1)
    Y = X @ M.T
    return Ws, X, Y, M


def test_slq_on_the_dln_network_matches_the_exact_b1_spectrum():
    Ws, X, Y, M = dln_case()
    exact = balanced_minimum_spectrum_numeric([6, 8, 8, 5], [2.0, 1.0, 0.5])["all"]
    loader = [(X[i : i + 10], Y[i : i + 10]) for i in range(0, 64, 10)]  # ragged last batch (4)
    curv = ModelCurvature(linear_chain(Ws), "mse", loader)
    res = curv.density(num_probes=8, num_steps=40, seed=0)
    lam_max = float(np.max(exact))
    assert res.wasserstein_to(exact) < 0.02 * lam_max
    assert abs(res.top() - lam_max) < 1e-8 * lam_max
    assert_close(torch.tensor(res.weights.sum()), torch.tensor(1.0, dtype=DT), atol=1e-12, rtol=0)


def test_slq_moments_are_unbiased_and_the_ggn_density_equals_the_hessian_at_a_minimum():
    Ws, X, Y, M = dln_case()
    H = dln_hessian_closed_form(Ws, target=M)
    ev = torch.linalg.eigvalsh(H).numpy()
    mv = lambda V: H @ V
    res = slq(mv, H.shape[0], num_probes=30, num_steps=20, seed=3)
    for k in (1, 2):  # (1/P) tr H^k from per-probe quadratures v^T H^k v (exact per probe for k <= 2m - 1)
        per_probe = (res.weights * res.nodes**k).sum(1) * res.nodes.shape[0]
        se = per_probe.std(ddof=1) / np.sqrt(len(per_probe))
        assert abs(per_probe.mean() - np.mean(ev**k)) < 5 * se + 1e-12
    curv = ModelCurvature(linear_chain(Ws), "mse", (X, Y))  # at the minimum the residual vanishes: H = GGN
    h, g = curv.density("hessian", num_probes=2, num_steps=15), curv.density("ggn", num_probes=2, num_steps=15)
    # the runs hit an invariant subspace (few distinct eigenvalues) at slightly different steps, so compare
    # the measures, not node lists: W1 between them at rounding level (spurious nodes carry ~0 weight)
    from scipy.stats import wasserstein_distance

    (xh, wh), (xg, wg) = h.atoms(), g.atoms()
    assert wasserstein_distance(xh, xg, u_weights=wh, v_weights=wg) < 1e-8


def test_hutchpp_and_hutchinson_are_unbiased_and_hutchpp_wins_on_a_decaying_spectrum():
    Ws, X, Y, M = dln_case()
    H = dln_hessian_closed_form(Ws, target=M)
    mv = lambda V: H @ V
    tr = float(torch.trace(H))
    assert exact_trace(mv, H.shape[0]).trace == pytest.approx(tr, rel=1e-12)
    hp = np.array([hutchpp(mv, H.shape[0], 30, seed=s).trace for s in range(40)])
    hu = np.array([hutchinson(mv, H.shape[0], 30, seed=s).trace for s in range(40)])
    for x in (hp, hu):
        assert abs(x.mean() - tr) < 5 * x.std(ddof=1) / np.sqrt(len(x)) + 1e-9
    # the DLN Hessian has rank 24 (9 dominant + 15 bulk): with 75 products the sketch (25 columns) spans
    # its range and Hutch++ is exact, while Hutchinson's spread stays of order sqrt(2/m) ||H||_F
    hp75 = np.array([hutchpp(mv, H.shape[0], 75, seed=s).trace for s in range(5)])
    hu75 = np.array([hutchinson(mv, H.shape[0], 75, seed=s).trace for s in range(5)])
    assert np.abs(hp75 - tr).max() < 1e-9 * tr
    assert hu75.std() > 0.1


def test_block_lanczos_equals_one_probe_at_a_time():
    """The side-by-side recurrences (one block product per step) are the single-probe recurrences."""
    from dlnkit.numerics.slq import block_lanczos_tridiagonals, lanczos_tridiagonal

    Ws, X, Y, M = dln_case()
    H = dln_hessian_closed_form(Ws, target=M)
    V0 = torch.randn(H.shape[0], 3, generator=torch.Generator().manual_seed(2), dtype=DT)
    block = block_lanczos_tridiagonals(lambda V: H @ V, V0, 12)
    for c, (a, b) in enumerate(block):
        a1, b1 = lanczos_tridiagonal(lambda V: H @ V, V0[:, c], 12)
        np.testing.assert_allclose(a, a1, atol=1e-10)  # same recurrence, rounding-level differences
        np.testing.assert_allclose(b, b1, atol=1e-10)
