r"""Data for the real-network curvature tools: one batch, a list of batches, or a ``DataLoader``.

:func:`as_batches` turns what the user has into a re-iterable :class:`Batches`: every curvature
operator makes several passes (one per HVP), so a one-shot iterator (a generator) is materialised
into a list once. ``num_samples`` N is the total count of samples over one pass (the sum of the
batch sizes, a ragged last batch included); each pass checks that it sees the same N, so a loader
that drops or duplicates samples between passes (``drop_last`` with a random sampler is fine,
a sampler with replacement is not) is refused instead of silently mis-normalised.

**The same samples on every pass.** A loader with random augmentation, or ``shuffle=True`` with
``drop_last=True`` (a different subset each pass), makes every "HVP" a product with a different
matrix: the operator is not even symmetric. Each pass therefore records a fingerprint of every
sample (two fixed random projections of its inputs and of its targets, in float64) and compares the
sorted fingerprints with those of the first pass; the construction makes two passes, so such a
loader is refused before any work. The comparison is order-free: plain ``shuffle=True`` (the same
samples in another order) is accepted, since the data-set sums do not depend on the order beyond
rounding. Fingerprints agree to a relative ``1e-12`` (the same float64 arithmetic on the same
numbers; an augmentation moves them by far more).

Batches are moved to the operator's device as they are used (CPU or CUDA); floating inputs are
cast to the parameters' dtype, integer inputs (class labels, token ids) are kept. A progress bar
(tqdm, on stderr) is shown for passes over more than ``progress_min_batches`` batches when
``progress=True``.

>>> X, y = torch.zeros(10, 3), torch.zeros(10)
>>> b = as_batches([(X[:4], y[:4]), (X[4:], y[4:])])
>>> b.num_samples, len(b), [int(x.shape[0]) for x, _ in b.iterate()]
(10, 2, [4, 6])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError

Batch = tuple[Any, torch.Tensor]


def _batch_size(X: Any) -> int:
    if isinstance(X, torch.Tensor):
        if X.ndim == 0:
            raise DlnkitInputError("an input batch must have a leading batch dimension, got a 0-d tensor")
        return int(X.shape[0])
    if isinstance(X, (tuple, list)) and X and isinstance(X[0], torch.Tensor):
        return int(X[0].shape[0])
    raise DlnkitInputError(f"inputs of a batch must be a tensor (or a tuple of tensors), got {type(X).__name__}")


def _split(item: Any) -> Batch:
    if isinstance(item, dict) and "inputs" in item and "targets" in item:
        return item["inputs"], item["targets"]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise DlnkitInputError("every batch must be a pair (inputs, targets)")
    X, y = item
    if not isinstance(y, torch.Tensor):
        raise DlnkitInputError(f"targets of a batch must be a tensor, got {type(y).__name__}")
    if _batch_size(X) != int(y.shape[0]):
        raise DlnkitInputError(f"a batch has {_batch_size(X)} inputs but {int(y.shape[0])} targets")
    return X, y


def _fingerprint(X: Any, y: torch.Tensor) -> torch.Tensor:
    """(B, 4) float64: two fixed projections of each sample's inputs and of its targets."""
    rows = []
    for t in (*(X if isinstance(X, (tuple, list)) else (X,)), y):
        if not isinstance(t, torch.Tensor):
            continue
        # explicit width: reshape(B, -1) is ambiguous for a batch with no samples or no features
        f = t.detach().reshape(t.shape[0], math.prod(t.shape[1:])).to(device="cpu", dtype=torch.float64)
        g = torch.Generator().manual_seed(f.shape[1])
        r = torch.rand(f.shape[1], 2, generator=g, dtype=torch.float64) + 0.5
        rows.append(f @ r)
    return torch.cat(rows, dim=1)


def _sorted_rows(F: torch.Tensor) -> torch.Tensor:
    """Rows of F in lexicographic order (an order-free summary of a pass)."""
    for j in range(F.shape[1] - 1, -1, -1):
        F = F[torch.argsort(F[:, j], stable=True)]
    return F


class NonDeterministicDataError(DlnkitInputError):
    """Two passes over the data gave different samples (augmentation, shuffle with drop_last, ...)."""


class Batches:
    """A re-iterable source of (inputs, targets) batches with the sample count N of one pass."""

    @checked
    def __init__(
        self,
        source: Iterable[Any],
        *,
        progress: bool = False,
        progress_min_batches: int = 20,
        description: str = "batches",
    ):
        self.source = source
        self.progress = bool(progress)
        self.progress_min_batches = int(progress_min_batches)
        self.description = description
        sizes, prints = [], []
        for item in source:
            X, y = _split(item)
            sizes.append(_batch_size(X))
            if sizes[-1] < 1:
                raise DlnkitInputError(f"batch {len(sizes) - 1} has no samples (drop empty batches from the data)")
            prints.append(_fingerprint(X, y))
        if not sizes:
            raise DlnkitInputError("the data source yielded no batch")
        self.batch_sizes = sizes
        self.num_samples = int(sum(sizes))
        self._prints = _sorted_rows(torch.cat(prints))
        if iter(source) is not source:  # a second pass, checked like every later one
            for _ in self.iterate():
                pass

    def __len__(self) -> int:
        return len(self.batch_sizes)

    def iterate(
        self,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        desc: str | None = None,
        check: bool = True,
    ) -> Iterator[Batch]:
        """Yield (inputs, targets) on ``device``; floating tensors cast to ``dtype``. At the end of the
        pass, checks N and (``check``) that the samples were those of the first pass."""
        it: Iterable[Any] = self.source
        bar = None
        if self.progress and len(self) >= self.progress_min_batches:
            from tqdm import tqdm  # plain tqdm: tqdm.auto warns in a Jupyter kernel without ipywidgets

            bar = tqdm(total=len(self), desc=desc or self.description, leave=False)
        seen = 0
        prints = []
        for item in it:
            X, y = _split(item)
            seen += _batch_size(X)
            if check:
                prints.append(_fingerprint(X, y))
            yield _to(X, device, dtype), _to(y, device, dtype)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if seen != self.num_samples:
            raise DlnkitInputError(
                f"the data source yielded {seen} samples in this pass but {self.num_samples} in "
                "the first; curvature over a data set needs the same samples on every pass"
            )
        if check:
            now = _sorted_rows(torch.cat(prints))
            scale = self._prints.abs().max().clamp_min(1e-300)
            if now.shape != self._prints.shape or float((now - self._prints).abs().max()) > 1e-12 * float(scale):
                raise NonDeterministicDataError(
                    "two passes over the data gave different samples (random augmentation, or shuffle=True with "
                    "drop_last=True, or a sampler with replacement): every Hessian-vector product would use other "
                    "data; give a loader that yields the same samples on every pass (no augmentation, drop_last=False)"
                )


def _to(t: Any, device: torch.device | str | None, dtype: torch.dtype | None) -> Any:
    if isinstance(t, (tuple, list)):
        return type(t)(_to(x, device, dtype) for x in t)
    if not isinstance(t, torch.Tensor):
        return t
    if dtype is not None and t.is_floating_point():
        t = t.to(dtype)
    return t.to(device) if device is not None else t


@checked
def as_batches(data: Any, *, progress: bool = False) -> Batches:
    """A :class:`Batches` from ``(X, y)`` tensors (one batch), a ``DataLoader``, a list of batches,
    a one-shot iterator (materialised), or a :class:`Batches` (returned as is)."""
    if isinstance(data, Batches):
        return data
    if (
        isinstance(data, tuple)
        and len(data) == 2
        and isinstance(data[1], torch.Tensor)
        and isinstance(data[0], (torch.Tensor, tuple, list))
        and not (isinstance(data[0], (tuple, list)) and data[0] and isinstance(data[0][0], (tuple, list)))
    ):
        X, y = _split(data)
        return Batches([(X, y)], progress=progress)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise DlnkitInputError(
            f"data must be (inputs, targets), a DataLoader or an iterable of batches, got {type(data).__name__}"
        )
    if iter(data) is data:  # a generator or other one-shot iterator: materialise once
        data = list(data)
    return Batches(data, progress=progress)


__all__ = ["Batches", "NonDeterministicDataError", "as_batches"]
