"""train_model refuses settings that leave nothing trained (regression: epochs=0 raised IndexError)."""

import pytest
import torch

from dlnkit.numerics.validation import DlnkitInputError
from dlnkit.numerics.zoo import MLP, Dataset, train_model


def _tiny_data() -> Dataset:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 0, 1])
    return Dataset("tiny", X, y, X, y, num_classes=2)


@pytest.mark.parametrize("epochs, batch_size", [(0, 2), (1, 0)])
def test_no_epochs_or_empty_batches_are_refused(epochs, batch_size):
    with pytest.raises(DlnkitInputError, match="epochs >= 1 and batch_size >= 1"):
        train_model(MLP((4, 3, 2)), _tiny_data(), epochs=epochs, batch_size=batch_size)


def test_one_epoch_trains_and_reports():
    info = train_model(MLP((4, 3, 2)), _tiny_data(), epochs=1, batch_size=3)
    assert set(info) >= {"final_batch_loss", "train_accuracy", "test_accuracy", "seconds"}
    assert 0.0 <= info["test_accuracy"] <= 1.0
