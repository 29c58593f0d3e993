"""Five networks as researchers write them, for ``dlnkit alignment --model`` and ``dlnkit spectrum --model``.

* ``resnet``: a ResNet with BasicBlocks and BatchNorm (analysed in eval mode: running statistics);
* ``vit``: a ViT with ``nn.MultiheadAttention`` (packed ``in_proj_weight``, ``out_proj``);
* ``gpt``: a GPT-style decoder on ``F.scaled_dot_product_attention`` with an LM head tied to the
  token embedding;
* ``conv1d``: a Conv1d network for MNIST-1D (40-sample signals; one grouped convolution);
* ``mlp``: a float32 MLP 40-256-256-10 (analysed in float64 by default).

Widths are small (they are examples and test fixtures); ``WIDTH`` scales them. Write the data with
``python examples/real_networks.py DIR`` (MNIST-1D from the ``mnist1d`` package, offline; random
images and tokens for the others), then e.g.::

    dlnkit alignment --model examples/real_networks.py:vit --data DIR/images.pt --samples 128
    dlnkit spectrum --model examples/real_networks.py:gpt --data DIR/tokens.pt --top 5
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WIDTH = 16
VOCAB, CONTEXT = 17, 8


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, width: int = WIDTH, classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.layer1 = BasicBlock(width, width)
        self.layer2 = BasicBlock(width, 2 * width, stride=2)
        self.fc = nn.Linear(2 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ViT(nn.Module):
    def __init__(self, dim: int = 2 * WIDTH, heads: int = 4, patch: int = 4, image: int = 16, classes: int = 10):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, patch, stride=patch)
        self.pos = nn.Parameter(0.02 * torch.randn((image // patch) ** 2, dim))
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp_up = nn.Linear(dim, 2 * dim)
        self.mlp_down = nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2) + self.pos
        h = self.ln1(t)
        t = t + self.attn(h, h, h, need_weights=False)[0]
        t = t + self.mlp_down(F.gelu(self.mlp_up(self.ln2(t))))
        return self.head(t.mean(1))


class GPT(nn.Module):
    def __init__(self, vocab: int = VOCAB, dim: int = 2 * WIDTH, heads: int = 4, context: int = CONTEXT):
        super().__init__()
        self.heads = heads
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(context, dim)
        self.ln1 = nn.LayerNorm(dim)
        self.c_attn = nn.Linear(dim, 3 * dim)  # packed q, k, v
        self.c_proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)
        self.ln_f = nn.LayerNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.tok.weight  # tied
        with torch.no_grad():
            self.tok.weight.mul_(0.1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        B, T = idx.shape
        x = self.tok(idx) + self.pos(torch.arange(T, device=idx.device))
        q, k, v = self.c_attn(self.ln1(x)).split(x.shape[-1], dim=-1)

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.heads, -1).transpose(1, 2)

        a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), is_causal=True)
        x = x + self.c_proj(a.transpose(1, 2).reshape(B, T, -1))
        x = x + self.down(F.gelu(self.up(self.ln2(x))))
        return self.lm_head(self.ln_f(x)).transpose(1, 2)  # (B, vocab, T) for cross_entropy on (B, T) targets


def resnet() -> nn.Module:
    torch.manual_seed(0)
    return ResNet()


def vit() -> nn.Module:
    torch.manual_seed(0)
    return ViT()


def gpt() -> nn.Module:
    torch.manual_seed(0)
    return GPT()


def conv1d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Unflatten(1, (1, 40)),
        nn.Conv1d(1, WIDTH, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(WIDTH, WIDTH, 3, padding=2, dilation=2, groups=2),
        nn.ReLU(),
        nn.Conv1d(WIDTH, WIDTH, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(WIDTH * 20, 10),
    )


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(40, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def write_data(folder: str | Path, *, n: int = 256) -> dict[str, Path]:
    """mnist1d.pt (MNIST-1D, offline), images.pt (random 1x16x16, 10 classes) and tokens.pt
    (random sequences, next-token targets) in ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    try:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples = max(n * 5 // 4, 100)
        d = make_dataset(args)
        X, y = torch.tensor(d["x"][:n], dtype=torch.float32), torch.tensor(d["y"][:n]).long()
    except ImportError:  # mnist1d not installed: signals of the same shape
        g = torch.Generator().manual_seed(1)
        X, y = torch.randn(n, 40, generator=g), torch.randint(0, 10, (n,), generator=g)
    torch.save({"inputs": X, "targets": y}, out / "mnist1d.pt")
    paths["mnist1d"] = out / "mnist1d.pt"
    g = torch.Generator().manual_seed(0)
    torch.save(
        {"inputs": torch.randn(n, 1, 16, 16, generator=g), "targets": torch.randint(0, 10, (n,), generator=g)},
        out / "images.pt",
    )
    paths["images"] = out / "images.pt"
    idx = torch.randint(0, VOCAB, (n, CONTEXT + 1), generator=g)
    torch.save({"inputs": idx[:, :-1].clone(), "targets": idx[:, 1:].clone()}, out / "tokens.pt")
    paths["tokens"] = out / "tokens.pt"
    return paths


#: which data file each model reads
DATA_OF = {"resnet": "images", "vit": "images", "gpt": "tokens", "conv1d": "mnist1d", "mlp": "mnist1d"}

if __name__ == "__main__":
    for path in write_data(sys.argv[1] if len(sys.argv) > 1 else "real-network-data").values():
        print(f"wrote {path}")
