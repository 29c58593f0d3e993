"""The batch-coupling check does not refuse a per-sample model at an exact minimum, where the
gradient is rounding noise (two re-batchings of noise differ at order one relative to each other);
notebook 8 builds ModelCurvature of a deep linear network at its balanced minimum."""

import torch

from dlnkit.numerics import DeepLinearNetwork, whitened_inputs
from dlnkit.numerics.alignment import linear_chain
from dlnkit.numerics.losses import resolve_loss
from dlnkit.numerics.model_checks import BatchCoupledModelError, check_sample_independence


def test_an_exact_minimum_is_not_batch_coupled_and_batch_statistics_are():
    dims, t = [8, 12, 12, 6], [3.0, 2.0, 1.0]
    net, M = DeepLinearNetwork.balanced_minimum(dims, t, dtype=torch.float64, device="cpu")
    X = whitened_inputs(60, dims[0], seed=1)
    model = linear_chain([W.detach() for W in net.weight_list()])
    diffs = check_sample_independence(model, resolve_loss("mse"), X[:16], X[:16] @ M.T)
    assert diffs["gradient"] < 1e-8 and diffs["hvp"] < 1e-8
    coupled = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 6)).double()
    coupled.train()
    try:
        check_sample_independence(coupled, resolve_loss("mse"), X[:16], torch.randn(16, 6, dtype=torch.float64))
    except BatchCoupledModelError:
        return
    raise AssertionError("BatchNorm on batch statistics was not refused")
