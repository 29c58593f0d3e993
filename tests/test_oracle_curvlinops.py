"""Cross-library oracle: dlnkit against curvlinops on shared cases (optional; skipped without curvlinops).

Install without replacing torch (see docs/real-networks.md):
``pip install --no-deps curvlinops-for-pytorch==3.0.1 einops einconv opt-einsum linear_operator
backpack-for-pytorch unfoldNd``.

Conventions mapped (checked here, not assumed): for a loss module with reduction "mean" both
libraries weight a batch of size B by B/N ("sum": 1), so Hessian, GGN and empirical Fisher are the
same matrices; curvlinops' KFAC (``fisher_type="type-2"``, ``separate_weight_and_bias=True``) has
input covariance = dlnkit's C_A = A^T A/(N T) and gradient covariance = dlnkit's Gauss-Newton
C_delta; with ``fisher_type="empirical"`` its gradient covariance is E times dlnkit's empirical
C_delta = delta^T delta / s (s = N for mean, 1 for sum), with E the loss entries per sample under a
mean (E = C for MSELoss on C outputs, 1 for cross-entropy and for any sum): dlnkit's delta_n is the
gradient of sample n's *mean* over its entries, curvlinops' of their sum divided once by N*E.
Tolerance 1e-10: two exact float64 routes.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.testing import assert_close

curvlinops = pytest.importorskip("curvlinops")

from dlnkit.numerics.alignment import capture_layer  # noqa: E402
from dlnkit.numerics.curvature import ModelCurvature  # noqa: E402

DT = torch.float64
TOL = dict(atol=1e-10, rtol=1e-10)


def case(loss, seed=0, n=23):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(4, 6, dtype=DT), nn.Tanh(), nn.Linear(6, 5, dtype=DT), nn.ReLU(), nn.Linear(5, 3, dtype=DT)
    )
    g = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(n, 4, generator=g, dtype=DT)
    if isinstance(loss, nn.CrossEntropyLoss):
        y = torch.randint(0, 3, (n,), generator=g)
    elif isinstance(loss, nn.BCEWithLogitsLoss):
        y = torch.randint(0, 2, (n, 3), generator=g).to(DT)
    else:
        y = torch.randn(n, 3, generator=g, dtype=DT)
    batches = [(X[i : i + 7], y[i : i + 7]) for i in range(0, n, 7)]  # 7, 7, 7, 2: ragged
    return model, X, y, batches


def theirs_dense(cls, model, loss, batches, **kw):
    params = [p for p in model.parameters() if p.requires_grad]
    op = cls(model, loss, params, batches, check_deterministic=False, **kw)
    P = sum(p.numel() for p in params)
    return op @ torch.eye(P, dtype=DT)


LOSSES = [
    nn.CrossEntropyLoss(),
    nn.CrossEntropyLoss(reduction="sum"),
    nn.MSELoss(),
    nn.MSELoss(reduction="sum"),
    nn.BCEWithLogitsLoss(),
    nn.BCEWithLogitsLoss(reduction="sum"),
]
IDS = [f"{type(l).__name__}-{l.reduction}" for l in LOSSES]


@pytest.mark.parametrize("loss", LOSSES, ids=IDS)
def test_hessian_ggn_and_empirical_fisher_equal_curvlinops(loss):
    model, X, y, batches = case(loss)
    ours = ModelCurvature(model, loss, batches)
    assert_close(ours.dense("hessian"), theirs_dense(curvlinops.HessianLinearOperator, model, loss, batches), **TOL)
    assert_close(ours.dense("ggn"), theirs_dense(curvlinops.GGNLinearOperator, model, loss, batches), **TOL)
    assert_close(ours.dense("ef"), theirs_dense(curvlinops.EFLinearOperator, model, loss, batches), **TOL)


@pytest.mark.parametrize(
    "loss",
    [nn.CrossEntropyLoss(), nn.CrossEntropyLoss(reduction="sum"), nn.MSELoss()],
    ids=["ce-mean", "ce-sum", "mse-mean"],
)
def test_kfac_factors_equal_dlnkit_kronecker_factors(loss):
    model, X, y, batches = case(loss)
    params = list(model.parameters())
    for fisher_type, ours_key in (("type-2", "gn"), ("empirical", "empirical")):
        K = curvlinops.KFACLinearOperator(
            model, loss, params, batches, fisher_type=fisher_type, check_deterministic=False
        )
        K.compute_kronecker_factors()
        for layer in ("0", "2", "4"):
            cap = capture_layer(model, layer, X, y, loss=loss)
            CA = cap.A.T @ cap.A / (cap.batch * cap.positions)
            E = 3 if (isinstance(loss, nn.MSELoss) and loss.reduction == "mean") else 1
            Cd = cap.gn_output_factor if ours_key == "gn" else E * cap.delta.T @ cap.delta / cap.delta_scale
            assert_close(K._input_covariances[layer], CA, **TOL)
            assert_close(K._gradient_covariances[layer], Cd, **TOL)


def test_top_eigenvalues_and_trace_agree_with_curvlinops():
    from scipy.sparse.linalg import eigsh

    from dlnkit.numerics.trace_estimators import hutchpp

    loss = nn.CrossEntropyLoss()
    model, X, y, batches = case(loss, n=40)
    ours = ModelCurvature(model, loss, batches)
    params = list(model.parameters())
    H = curvlinops.HessianLinearOperator(model, loss, params, batches, check_deterministic=False)
    theirs_top = np.sort(eigsh(H.to_scipy(np.float64), k=4, which="LA", tol=1e-12, return_eigenvectors=False))[::-1]
    res = ours.top_eigenvalues(4, tol=1e-12, max_iters=ours.num_params)
    assert_close(res.eigenvalues, torch.as_tensor(theirs_top.copy()), atol=1e-8, rtol=0)  # both at residual 1e-12
    P = ours.num_params
    dense_theirs = H @ torch.eye(P, dtype=DT)
    assert ours.trace(method="exact").trace == pytest.approx(float(torch.trace(dense_theirs)), rel=1e-12)
    # the same Hutch++ probes on both operators give the same estimate
    mine = hutchpp(ours.matvec_fn(), P, 30, seed=4).trace
    other = hutchpp(lambda V: H @ V.to(DT), P, 30, seed=4).trace
    assert mine == pytest.approx(other, rel=1e-10)
