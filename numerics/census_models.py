r"""The five architecture families of the curvature census, written the standard way.

Every model maps a batch of one census data set (:mod:`dlnkit.numerics.census_data`) to logits
(B, classes). Images are (B, 1, 8, 8); MNIST-1D signals are (B, 1, 1, 40), so convolutions are
``Conv2d`` with (1, k) kernels there. Each matrix layer carries a *role* (:func:`layer_roles`),
the layer type the abstract of arXiv:2606.02596 speaks about:

* ``conv``: a convolution (``nn.Conv2d``; a ResNet's 1x1 shortcut is ``conv_shortcut``);
* ``attention``: a query / key / value / output projection (``nn.MultiheadAttention``'s
  ``in_proj`` q, k, v rows and ``out_proj``, or the decoder's ``q``, ``k``, ``v``, ``o`` Linears);
* ``mlp_up``: a Linear that widens (out > in) inside an MLP or a transformer block;
* ``mlp_down``, ``mlp_hidden`` (square), ``embed`` (a patch embedding);
* ``head``: the Linear whose outputs are the softmax's logits (the decoder's head is tied to its
  token embedding).

Families:

* ``mlp``: in -> w -> ... -> w -> classes, ReLU.
* ``cnn``: plain CNN: conv(c) ReLU, conv(2c) ReLU, max-pool 2, conv(2c) ReLU, global average pool, head.
* ``resnet``: stem conv(c) BN ReLU, two basic blocks (conv BN ReLU conv BN + skip; the second with
  stride 2 and a 1x1 conv + BN shortcut), global average pool, head. BatchNorm is batch-coupled in
  training mode, so the census analyses it in eval mode (running statistics).
* ``vit``: non-overlapping patches (2x2 on digits, 1x4 on MNIST-1D) -> Linear embedding, a class
  token and learned positions, ``depth`` pre-LayerNorm blocks of ``nn.MultiheadAttention``
  (4 heads, batch_first) and a GELU MLP (d -> 4d -> d), final LayerNorm, head on the class token.
* ``gpt``: token and position embeddings, ``depth`` pre-LayerNorm causal blocks with separate
  q, k, v, o Linears (no bias) and ``F.scaled_dot_product_attention(is_causal=True)`` (4 heads),
  a GELU MLP (d -> 4d -> d), final LayerNorm, and a head tied to the token embedding, read at the
  last position (the answer of the recall task).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dlnkit.numerics.validation import DlnkitInputError

FAMILIES = ("mlp", "cnn", "resnet", "vit", "gpt")


@dataclass(frozen=True)
class InputShape:
    """What a model needs to know about its data: kind ("image", "signal", "tokens"), the input
    shape without the batch, the number of classes and (tokens) the vocabulary and length."""

    kind: str
    shape: tuple[int, ...]
    classes: int
    vocab: int = 0


def _kernel(kind: str, k: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(kernel, padding) of a 'same' convolution: k x k on images, 1 x (k+2) on signals."""
    if kind == "signal":
        return (1, k + 2), (0, (k + 2) // 2)
    return (k, k), (k // 2, k // 2)


class MLP(nn.Module):
    def __init__(self, inp: InputShape, width: int, depth: int) -> None:
        super().__init__()
        n_in = math.prod(inp.shape)
        widths = [n_in] + [width] * depth
        self.fcs = nn.ModuleList([nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.head = nn.Linear(width, inp.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for fc in self.fcs:
            x = F.relu(fc(x))
        out: torch.Tensor = self.head(x)
        return out


class PlainCNN(nn.Module):
    def __init__(self, inp: InputShape, width: int) -> None:
        super().__init__()
        k, p = _kernel(inp.kind, 3)
        self.pool = (1, 2) if inp.kind == "signal" else (2, 2)
        self.conv1 = nn.Conv2d(inp.shape[0], width, k, padding=p)
        self.conv2 = nn.Conv2d(width, 2 * width, k, padding=p)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, k, padding=p)
        self.head = nn.Linear(2 * width, inp.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), self.pool)
        x = F.relu(self.conv3(x)).mean(dim=(2, 3))
        out: torch.Tensor = self.head(x)
        return out


class BasicBlock(nn.Module):
    def __init__(self, kind: str, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        k, p = _kernel(kind, 3)
        s = (1, stride) if kind == "signal" else (stride, stride)
        self.conv1 = nn.Conv2d(c_in, c_out, k, stride=s, padding=p, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, k, padding=p, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=s, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        out: torch.Tensor = F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))
        return out


class ResNet(nn.Module):
    def __init__(self, inp: InputShape, width: int) -> None:
        super().__init__()
        k, p = _kernel(inp.kind, 3)
        self.stem = nn.Conv2d(inp.shape[0], width, k, padding=p, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.block1 = BasicBlock(inp.kind, width, width, 1)
        self.block2 = BasicBlock(inp.kind, width, width, 2)
        self.head = nn.Linear(width, inp.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x)).mean(dim=(2, 3))
        out: torch.Tensor = self.head(x)
        return out


class MLPBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.down(F.gelu(self.up(x)))
        return out


class ViTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = MLPBlock(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class ViT(nn.Module):
    def __init__(self, inp: InputShape, width: int, depth: int, heads: int = 4) -> None:
        super().__init__()
        self.patch = (1, 4) if inp.kind == "signal" else (2, 2)
        c, hgt, wid = inp.shape
        n_patches = (hgt // self.patch[0]) * (wid // self.patch[1])
        self.embed = nn.Linear(c * self.patch[0] * self.patch[1], width)
        self.cls = nn.Parameter(torch.zeros(1, 1, width))
        self.pos = nn.Parameter(0.02 * torch.randn(1, n_patches + 1, width))
        self.blocks = nn.ModuleList([ViTBlock(width, heads) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, inp.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        p = F.unfold(x, self.patch, stride=self.patch).transpose(1, 2)  # (B, patches, c*ph*pw)
        h = torch.cat([self.cls.expand(B, -1, -1), self.embed(p)], dim=1) + self.pos
        for blk in self.blocks:
            h = blk(h)
        out: torch.Tensor = self.head(self.ln_f(h[:, 0]))
        return out


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(B, T, self.heads, d // self.heads).transpose(1, 2)

        a = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), is_causal=True)
        out: torch.Tensor = self.o(a.transpose(1, 2).reshape(B, T, d))
        return out


class GPTBlock(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = MLPBlock(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class GPT(nn.Module):
    def __init__(self, inp: InputShape, width: int, depth: int, heads: int = 4) -> None:
        super().__init__()
        if inp.kind != "tokens":
            raise DlnkitInputError("the gpt family reads token sequences (the recall data set)")
        self.tok = nn.Embedding(inp.vocab, width)
        self.pos = nn.Parameter(0.02 * torch.randn(1, inp.shape[0], width))
        self.blocks = nn.ModuleList([GPTBlock(width, heads) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, inp.vocab, bias=False)
        self.head.weight = self.tok.weight  # tied

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tok(x) + self.pos[:, : x.shape[1]]
        for blk in self.blocks:
            h = blk(h)
        out: torch.Tensor = self.head(self.ln_f(h[:, -1]))
        return out


def build_census_model(family: str, inp: InputShape, width: int, depth: int, seed: int) -> nn.Module:
    """A freshly initialised float32 model of ``family`` (torch's default init after ``manual_seed(seed)``)."""
    torch.manual_seed(seed)
    if family == "mlp":
        return MLP(inp, width, depth)
    if family == "cnn":
        return PlainCNN(inp, width)
    if family == "resnet":
        return ResNet(inp, width)
    if inp.kind == "tokens" and family != "gpt":
        raise DlnkitInputError(f"the {family} family reads images or signals, not tokens")
    if family == "vit":
        return ViT(inp, width, depth)
    if family == "gpt":
        return GPT(inp, width, depth)
    raise DlnkitInputError(f"unknown census family {family!r}; use one of {', '.join(FAMILIES)}")


def layer_roles(model: nn.Module) -> dict[str, str]:
    """Every matrix layer of a census model by the name the alignment analysis uses, with its role.

    ``nn.MultiheadAttention`` contributes ``<name>.q``, ``.k``, ``.v`` (the three row blocks of
    ``in_proj_weight``) and ``<name>.out_proj``; a head tied to a token embedding is one parameter,
    listed once under the embedding's name (the name the alignment analysis gives it) as ``head``.
    """
    roles: dict[str, str] = {}
    linear_weights = {id(m.weight): n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    tied_heads = set()
    for name, m in model.named_modules():
        if isinstance(m, nn.Embedding) and id(m.weight) in linear_weights:
            roles[name] = "head"
            tied_heads.add(linear_weights[id(m.weight)])
    for name, m in model.named_modules():
        if name in tied_heads:
            continue
        if isinstance(m, nn.MultiheadAttention):
            for part in ("q", "k", "v"):
                roles[f"{name}.{part}"] = "attention"
            roles[f"{name}.out_proj"] = "attention"
        elif isinstance(m, nn.Conv2d):
            roles[name] = "conv_shortcut" if m.kernel_size == (1, 1) else "conv"
        elif isinstance(m, nn.Linear) and not name.endswith("out_proj"):
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "head":
                roles[name] = "head"
            elif leaf in ("q", "k", "v", "o"):
                roles[name] = "attention"
            elif leaf == "embed":
                roles[name] = "embed"
            elif m.out_features > m.in_features:
                roles[name] = "mlp_up"
            elif m.out_features < m.in_features:
                roles[name] = "mlp_down"
            else:
                roles[name] = "mlp_hidden"
    return roles
