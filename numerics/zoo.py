r"""A small model zoo trained deterministically on CPU, with checkpoints cached by hash.

Data (nothing is downloaded):

* ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images shipped with the package),
  pixels scaled to [0, 1], split 1,497 train / 300 test with a fixed permutation.
* ``tokens``: a synthetic pointer task. Sequences of length 8 over a vocabulary of 10; the first
  token p (1..7) names a position and the label is the token at position p (10 classes). It
  needs attention from the first position to position p. 3,000 train / 600 test sequences.

Models (float64, a few thousand weights per layer at most):

* ``mlp``: 64 -> 32 -> 32 -> 10, ReLU, softmax head (``digits``);
* ``cnn``: conv 1->8 (3x3, pad 1), ReLU, conv 8->8 (3x3, pad 1), ReLU, 2x2 max-pool, linear
  128 -> 32, ReLU, linear 32 -> 10 (``digits``);
* ``tanh``: 64 -> 24 -> 24 -> 24 -> 24 -> 10 with tanh (``digits``);
* ``transformer``: token + position embeddings (d = 16), pre-LayerNorm single-head softmax
  attention (``attn.q/k/v/o``) with a residual, pre-LayerNorm MLP (``mlp.up`` 16 -> 32, GELU,
  ``mlp.down`` 32 -> 16) with a residual, final LayerNorm and a softmax ``head`` read at the first
  position (``tokens``).

Training: AdamW, fixed mini-batch order from a seeded generator, a fixed number of epochs. A
checkpoint is keyed by the SHA-256 of (model, data, seed, hyper-parameters, ZOO_VERSION) and
stored under ``$DLNKIT_CACHE`` (default ``~/.cache/dlnkit``) in ``zoo/``; a second call loads it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dlnkit.numerics.validation import DlnkitInputError, TrainingDivergedError

ZOO_VERSION = 1
DTYPE = torch.float64


def cache_dir() -> Path:
    """``$DLNKIT_CACHE`` or ``~/.cache/dlnkit``."""
    return Path(os.environ.get("DLNKIT_CACHE") or Path.home() / ".cache" / "dlnkit")


# ----- data ---------------------------------------------------------------------------------
@dataclass
class Dataset:
    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int


def load_digits_data() -> Dataset:
    """scikit-learn digits, (N, 1, 8, 8) in [0, 1], fixed split 1497 / 300."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.as_tensor(d.images, dtype=DTYPE).unsqueeze(1) / 16.0
    y = torch.as_tensor(d.target, dtype=torch.long)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(X.shape[0], generator=g)
    te, tr = perm[:300], perm[300:]
    return Dataset("digits", X[tr], y[tr], X[te], y[te], 10)


def make_token_data(
    n_train: int = 3000, n_test: int = 600, seq_len: int = 8, vocab: int = 10, seed: int = 0
) -> Dataset:
    """The pointer task: label = x[x[0]], with x[0] in 1..seq_len-1."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    X = torch.randint(0, vocab, (n, seq_len), generator=g)
    X[:, 0] = torch.randint(1, seq_len, (n,), generator=g)
    y = X[torch.arange(n), X[:, 0]]
    return Dataset("tokens", X[:n_train], y[:n_train], X[n_train:], y[n_train:], vocab)


def load_data(name: str) -> Dataset:
    if name == "digits":
        return load_digits_data()
    if name == "tokens":
        return make_token_data()
    raise DlnkitInputError(f"unknown data set {name!r}; use 'digits' or 'tokens'")


# ----- models -------------------------------------------------------------------------------
class MLP(nn.Module):
    def __init__(self, widths: Sequence[int] = (64, 32, 32, 10), act: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(a, b, dtype=DTYPE) for a, b in zip(widths[:-1], widths[1:])])
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for i, fc in enumerate(self.fcs):
            x = fc(x)
            if i < len(self.fcs) - 1:
                x = self.act(x)
        return x


class SmallCNN(nn.Module):
    def __init__(self, channels: int = 8, hidden: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1, dtype=DTYPE)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, dtype=DTYPE)
        self.fc1 = nn.Linear(channels * 16, hidden, dtype=DTYPE)
        self.fc2 = nn.Linear(hidden, classes, dtype=DTYPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = F.relu(self.fc1(x.reshape(x.shape[0], -1)))
        logits: torch.Tensor = self.fc2(x)  # nn.Module.__call__ is typed as returning Any
        return logits


class Attention(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.q = nn.Linear(d, d, dtype=DTYPE)
        self.k = nn.Linear(d, d, dtype=DTYPE)
        self.v = nn.Linear(d, d, dtype=DTYPE)
        self.o = nn.Linear(d, d, dtype=DTYPE)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2) * self.scale, dim=-1)
        out: torch.Tensor = self.o(a @ self.v(x))
        return out


class FeedForward(nn.Module):
    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.up = nn.Linear(d, hidden, dtype=DTYPE)
        self.down = nn.Linear(hidden, d, dtype=DTYPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.down(F.gelu(self.up(x)))
        return out


class TinyTransformer(nn.Module):
    def __init__(self, vocab: int = 10, seq_len: int = 8, d: int = 16, hidden: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d, dtype=DTYPE)
        self.pos = nn.Parameter(0.1 * torch.randn(seq_len, d, dtype=DTYPE))
        self.ln1 = nn.LayerNorm(d, dtype=DTYPE)
        self.attn = Attention(d)
        self.ln2 = nn.LayerNorm(d, dtype=DTYPE)
        self.mlp = FeedForward(d, hidden)
        self.ln_f = nn.LayerNorm(d, dtype=DTYPE)
        self.head = nn.Linear(d, classes, dtype=DTYPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos
        h = h + self.attn(self.ln1(h))
        h = h + self.mlp(self.ln2(h))
        logits: torch.Tensor = self.head(self.ln_f(h[:, 0]))
        return logits


@dataclass(frozen=True)
class ZooSpec:
    model: str
    data: str
    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 1e-4


SPECS = {
    "mlp": ZooSpec("mlp", "digits", epochs=12, lr=3e-3),
    "cnn": ZooSpec("cnn", "digits", epochs=12, lr=3e-3),
    "tanh": ZooSpec("tanh", "digits", epochs=15, lr=3e-3),
    "transformer": ZooSpec("transformer", "tokens", epochs=30, lr=3e-3),
}
MODELS = tuple(SPECS)


def build_model(name: str, seed: int = 0) -> nn.Module:
    """A freshly initialised zoo model (seeded)."""
    torch.manual_seed(seed)
    if name == "mlp":
        return MLP()
    if name == "cnn":
        return SmallCNN()
    if name == "tanh":
        return MLP((64, 24, 24, 24, 24, 10), act=nn.Tanh)
    if name == "transformer":
        return TinyTransformer()
    raise DlnkitInputError(f"unknown model {name!r}; zoo models: {', '.join(MODELS)}")


def check_model_data(model: str, data: str | None) -> str:
    if model not in SPECS:
        raise DlnkitInputError(f"unknown model {model!r}; zoo models: {', '.join(MODELS)}")
    want = SPECS[model].data
    if data is not None and data != want:
        raise DlnkitInputError(f"model {model!r} is trained on {want!r}, not {data!r}")
    return want


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(X).argmax(-1) == y).double().mean())


def train_model(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
) -> dict[str, Any]:
    """Mini-batch training with a seeded batch order; returns losses, accuracies and wall time."""
    if int(epochs) < 1 or int(batch_size) < 1:
        raise DlnkitInputError(f"need epochs >= 1 and batch_size >= 1, got epochs={epochs}, batch_size={batch_size}")
    g = torch.Generator().manual_seed(seed)
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = data.X_train.shape[0]
    t0 = time.perf_counter()
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(data.X_train[idx]), data.y_train[idx])
            if not torch.isfinite(loss):
                raise TrainingDivergedError("training diverged (non-finite loss); lower the learning rate")
            loss.backward()
            opt.step()
        losses.append(float(loss.detach()))
    wall = time.perf_counter() - t0
    return {
        "final_batch_loss": losses[-1],
        "train_accuracy": accuracy(model, data.X_train, data.y_train),
        "test_accuracy": accuracy(model, data.X_test, data.y_test),
        "seconds": wall,
    }


def spec_hash(spec: ZooSpec, seed: int) -> str:
    key = json.dumps({"spec": spec.__dict__, "seed": seed, "version": ZOO_VERSION, "dtype": str(DTYPE)}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class TrainedModel:
    name: str
    model: nn.Module
    data: Dataset
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    from_cache: bool = False


def state_digest(state_dict: dict[str, torch.Tensor], info: str) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, and the info string: what a
    checkpoint must reproduce exactly when it is loaded again."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    h.update(info.encode())
    return h.hexdigest()


class CorruptCheckpointError(DlnkitInputError):
    """A cached checkpoint failed to load or its digest does not match its contents."""


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state_dict, info) of a cached checkpoint, after checking its digest; raises
    :class:`CorruptCheckpointError` on unreadable bytes, a missing digest or a mismatch."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types on damaged zip archives / pickles
        raise CorruptCheckpointError(f"cached checkpoint {path} cannot be read ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or not {"state_dict", "info", "digest"} <= set(blob):
        raise CorruptCheckpointError(f"cached checkpoint {path} has no integrity digest (old or foreign file)")
    state, info = blob["state_dict"], blob["info"]
    if not isinstance(state, dict) or not isinstance(info, str) or state_digest(state, info) != blob["digest"]:
        raise CorruptCheckpointError(f"cached checkpoint {path} does not match its digest (corrupted bytes)")
    return state, json.loads(info)


def _save_checkpoint(path: Path, state_dict: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, fsync, rename."""
    text = json.dumps(info)
    # a fresh name made with O_EXCL: a file already there (a user's, another run's) is never
    # truncated or removed, which a fixed ".NAME.tmpPID" did
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"state_dict": state_dict, "info": text, "digest": state_digest(state_dict, text)}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_cache_writable(folder: Path) -> None:
    """Refuse before training when the checkpoint could not be saved afterwards."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        if not probe.is_dir():
            raise OSError(f"{probe} is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # a fresh file, never one that is already there
            pass
    except OSError as exc:
        raise DlnkitInputError(
            f"the model cache {str(folder)!r} is not writable ({exc}); set DLNKIT_CACHE to a writable folder"
        ) from None


def get_trained(
    name: str,
    *,
    seed: int = 0,
    cache: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    on_corrupt: str = "retrain",
) -> TrainedModel:
    """The zoo model ``name`` trained on its data set: loaded from the cache, or trained and saved.

    A cached checkpoint is loaded only when its SHA-256 digest matches its tensors; otherwise
    (damaged bytes, an old file without a digest) it is retrained and replaced atomically
    (``on_corrupt="retrain"``, with a note on stderr) or refused (``on_corrupt="refuse"``).
    """
    import sys

    check_model_data(name, None)
    if on_corrupt not in ("retrain", "refuse"):
        raise DlnkitInputError(f"on_corrupt must be 'retrain' or 'refuse', got {on_corrupt!r}")
    spec = SPECS[name]
    data = load_data(spec.data)
    root = Path(cache) if cache is not None else cache_dir()
    path = root / "zoo" / f"{name}-{spec_hash(spec, seed)}.pt"
    model = build_model(name, seed)
    if path.exists() and not retrain:
        try:
            state, info = load_checkpoint(path)
            model.load_state_dict(state)
            return TrainedModel(name, model, data, info, path, True)
        except (CorruptCheckpointError, RuntimeError) as exc:
            if on_corrupt == "refuse":
                raise CorruptCheckpointError(f"{exc}; delete it or retrain (on_corrupt='retrain')") from None
            print(f"dlnkit: {exc}; retraining {name} and replacing it", file=sys.stderr)
            model = build_model(name, seed)
    _check_cache_writable(path.parent)
    info = train_model(
        model,
        data,
        epochs=spec.epochs,
        batch_size=spec.batch_size,
        seed=seed,
        lr=spec.lr,
        weight_decay=spec.weight_decay,
    )
    info["spec"] = spec.__dict__
    _save_checkpoint(path, model.state_dict(), info)
    return TrainedModel(name, model, data, info, path, False)


def analysis_batch(tm: TrainedModel, n: int | None = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` training examples (fixed), on which per-layer curvature is measured."""
    X, y = tm.data.X_train, tm.data.y_train
    return (X, y) if n is None else (X[:n], y[:n])
