"""The census's trained models: stated recipes and seeds, trained here, cached by hash.

A :class:`CensusModelSpec` fixes family, data set, width, depth, epochs, learning rate, batch size,
weight decay and seed. Training: float32, AdamW (betas 0.9/0.999), constant learning rate, mini-batches
in a seeded order, train mode (BatchNorm updates its running statistics), gradient-norm clipping at 1.
Besides the final weights, the weights after ``early_epochs`` (a quarter of the run, at least one
epoch) are kept, for the training-length robustness check.

A checkpoint is stored under ``$DLNKIT_CACHE/census/<spec name>-<sha256 of the spec>.pt``, written
atomically with a SHA-256 digest of its tensors (:mod:`dlnkit.numerics.zoo`'s format); a damaged
file is retrained and replaced, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlnkit.numerics.census_data import CensusData, load_census_data
from dlnkit.numerics.census_models import InputShape, build_census_model
from dlnkit.numerics.zoo import (
    CorruptCheckpointError,
    _check_cache_writable,
    _save_checkpoint,
    cache_dir,
    load_checkpoint,
)

# Deferred imports: torch, matplotlib, optional packages (Dask, nbclient, tqdm) and the record
# writers are imported by the routine that needs them, so importing the engine stays light.

CENSUS_ZOO_VERSION = 1


@dataclass(frozen=True)
class CensusModelSpec:
    family: str
    data: str
    width: int
    depth: int
    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 0.01
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.family}{self.width}x{self.depth}-{self.data}-e{self.epochs}-s{self.seed}"

    @property
    def early_epochs(self) -> int:
        return max(1, self.epochs // 4)

    def digest(self) -> str:
        key = json.dumps({"spec": asdict(self), "version": CENSUS_ZOO_VERSION}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def input_shape(data: CensusData) -> InputShape:
    return InputShape(data.kind, tuple(data.X_train.shape[1:]), data.num_classes, data.vocab)


def build(spec: CensusModelSpec, data: CensusData | None = None) -> nn.Module:
    data = data or load_census_data(spec.data)
    return build_census_model(spec.family, input_shape(data), spec.width, spec.depth, spec.seed)


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    was = model.training
    model.eval()
    with torch.no_grad():
        right = sum(
            int((model(X[i : i + batch]).argmax(-1) == y[i : i + batch]).sum()) for i in range(0, len(y), batch)
        )
    model.train(was)
    return right / max(1, len(y))


def train(
    model: nn.Module,
    data: CensusData,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    optimizer: torch.optim.Optimizer | None = None,
    weight_decay: float = 0.01,
    snapshot_epoch: int | None = None,
) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Train in place; returns (info, the state after ``snapshot_epoch`` epochs or None)."""
    from dlnkit.numerics.validation import TrainingDivergedError

    g = torch.Generator().manual_seed(seed)
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(data.y_train)
    snap = None
    t0 = time.perf_counter()
    model.train()
    last = float("nan")
    for ep in range(1, epochs + 1):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(data.X_train[idx]), data.y_train[idx])
            if not torch.isfinite(loss):
                raise TrainingDivergedError("census training diverged (non-finite loss)")
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            last = float(loss.detach())
        if ep == snapshot_epoch:
            snap = {k: v.detach().clone() for k, v in model.state_dict().items()}
    info = {
        "final_batch_loss": last,
        "train_accuracy": accuracy(model, data.X_train, data.y_train),
        "val_accuracy": accuracy(model, data.X_val, data.y_val),
        "test_accuracy": accuracy(model, data.X_test, data.y_test),
        "train_seconds": time.perf_counter() - t0,
    }
    return info, snap


@dataclass
class CensusTrained:
    spec: CensusModelSpec
    model: nn.Module  # final weights, float32
    early: nn.Module  # weights after spec.early_epochs
    data: CensusData
    info: dict[str, Any]
    path: Path
    from_cache: bool


def checkpoint_path(spec: CensusModelSpec, cache: str | os.PathLike[str] | None = None) -> Path:
    root = Path(cache) if cache is not None else cache_dir()
    return root / "census" / f"{spec.name}-{spec.digest()}.pt"


def get_census_model(spec: CensusModelSpec, *, cache: str | os.PathLike[str] | None = None) -> CensusTrained:
    """Load ``spec``'s checkpoint if its digest checks out, else train and save it atomically."""
    data = load_census_data(spec.data)
    path = checkpoint_path(spec, cache)
    model, early = build(spec, data), build(spec, data)
    if path.exists():
        try:
            state, info = load_checkpoint(path)
            model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("final/")})
            early.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("early/")})
            return CensusTrained(spec, model.eval(), early.eval(), data, info, path, True)
        except (CorruptCheckpointError, RuntimeError) as exc:
            print(f"dlnkit: {exc}; retraining {spec.name} and replacing it", file=sys.stderr)
            model, early = build(spec, data), build(spec, data)
    _check_cache_writable(path.parent)
    info, snap = train(
        model,
        data,
        epochs=spec.epochs,
        lr=spec.lr,
        batch_size=spec.batch_size,
        seed=spec.seed,
        weight_decay=spec.weight_decay,
        snapshot_epoch=spec.early_epochs,
    )
    assert snap is not None  # early_epochs <= epochs
    early.load_state_dict(snap)
    info["early_epochs"] = spec.early_epochs
    info["early_test_accuracy"] = accuracy(early, data.X_test, data.y_test)
    info["spec"] = asdict(spec)
    state = {f"final/{k}": v for k, v in model.state_dict().items()}
    state.update({f"early/{k}": v for k, v in snap.items()})
    _save_checkpoint(path, state, info)
    return CensusTrained(spec, model.eval(), early.eval(), data, info, path, False)
