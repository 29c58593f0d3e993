"""B2-limit: training to the minimum on small depths (L = 2..7 run in `dlnkit verify --full`). The paper's
finite runs (B2-paper, B3-paper) are tested in tests/test_paper_2602.py."""

import math

import pytest
import torch

from dlnkit.claims import get_claim


def test_b2_limit_ratio_tends_to_depth_within_the_residual_derived_bound():
    claim = get_claim("B2-limit")
    cfg = {"depth": 3, "seed": 0, "init_scale": 0.1, "lr": 0.01, "momentum": 0.9, "max_steps": 20000, "loss_tol": 1e-20}
    res = claim.check(cfg, device="cpu")
    d = res.details
    assert d["converged"]
    assert math.isfinite(res.bound) and res.passed, (res.error, res.bound)
    # balanced and aligned all along: the imbalance stays at rounding level
    assert d["imbalance"] <= 1e-10
    # the ratio approaches L: the last recorded error is far below the error at initialisation
    errs = [abs(r - 3) for _, r in d["trajectory"]]
    assert errs[-1] < 1e-3 * errs[0]


def test_b2_limit_reports_an_unconverged_run_as_a_failure_not_a_pass():
    # 50 steps never reach a 1e-20 loss at any depth; depth 2 (832 parameters) keeps the Hessian
    # eigendecompositions of each recorded step cheap (depth 4's 2880 took two minutes under load)
    claim = get_claim("B2-limit")
    cfg = {"depth": 2, "seed": 0, "init_scale": 0.1, "lr": 0.01, "momentum": 0.9, "max_steps": 50, "loss_tol": 1e-20}
    res = claim.check(cfg, device="cpu")
    assert not res.passed and "not converged" in res.measured


def test_b2_limit_sets_no_reported_numbers_beside_it():
    claim = get_claim("B2-limit")
    assert all(claim.reported_value(cfg) == "" for cfg in claim.full_configs())


@pytest.mark.gpu
def test_closed_form_hessian_on_cuda_matches_cpu():
    from dlnkit.numerics import DeepLinearNetwork, dln_hessian_closed_form, whitened_inputs

    net = DeepLinearNetwork.random([6, 8, 8, 4], seed=0, device="cpu")
    X = whitened_inputs(16, 6)
    Y = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    H_cpu = dln_hessian_closed_form([W.detach() for W in net.weights], X=X, Y=Y)
    H_gpu = dln_hessian_closed_form([W.detach().cuda() for W in net.weights], X=X.cuda(), Y=Y.cuda())
    assert torch.allclose(H_gpu.cpu(), H_cpu, rtol=1e-12, atol=1e-12)
    res = get_claim("B1").check({"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0}, device="cuda")
    assert res.passed and res.device.startswith("cuda")
