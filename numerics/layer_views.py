r"""The matrix layers of a user's model: every weight a researcher would call a layer, as a matrix.

A :class:`LayerView` names one parameter (its qualified name in ``named_parameters()``, which lists a
tied parameter once), an optional block of its rows, and the m x n matrix the alignment analysis
works on:

* ``nn.Linear`` (and any Linear subclass, e.g. the ``out_proj`` of ``nn.MultiheadAttention``):
  W (out, in) as stored.
* ``nn.Conv1d/2d/3d``: W (C_out, C_in/groups, k...) viewed as (C_out, C_in/groups * prod k), its
  row-major reshape. For ``groups > 1`` this matrix stacks the per-group matrices row-wise; the
  gradient, its singular directions and the curvature are measured on this whole stacked matrix
  (stated in the view's ``note``), and the Kronecker factors are not formed.
* ``nn.MultiheadAttention`` with a packed ``in_proj_weight`` (3E, E): three views ``<name>.q``,
  ``<name>.k``, ``<name>.v``, the row blocks [0, E), [E, 2E), [2E, 3E); separate
  ``q/k/v_proj_weight`` (kdim != embed_dim): three views on those parameters.
* A ``nn.Linear`` whose name says it is a packed attention projection (``qkv``, ``c_attn``,
  ``in_proj``) with ``out == 3 * in``: three row-block views ``.q``, ``.k``, ``.v``.
* ``nn.Embedding``: E (V, d) as stored (the gradient is a sum of one-hot outer products).

Layer types (the summaries of arXiv:2606.02596 are per type) are inferred: ``attention_q/k/v/o``,
``attention_qkv``, ``mlp_up``, ``mlp_down``, ``conv``, ``head`` (the last matrix layer, or a Linear
tied to an embedding), ``embedding``, ``linear`` (none of these); :func:`apply_layer_types`
overrides them by name.

>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> [(v.name, v.layer_type, v.shape) for v in model_layers(net)]
[('0', 'mlp_up', (8, 4)), ('2', 'head', (3, 8))]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from torch import nn

from dlnkit.arguments import checked
from dlnkit.numerics.validation import DlnkitInputError

LAYER_TYPES = (
    "attention_q",
    "attention_k",
    "attention_v",
    "attention_o",
    "attention_qkv",
    "mlp_up",
    "mlp_down",
    "conv",
    "head",
    "embedding",
    "linear",
)
_PACKED_NAMES = ("qkv", "c_attn", "in_proj", "qkv_proj", "wqkv")
_Q, _K, _V = ("q_proj", "query", "wq", "to_q"), ("k_proj", "key", "wk", "to_k"), ("v_proj", "value", "wv", "to_v")
_O = ("o_proj", "out_proj", "wo", "to_out", "attn.proj", "attn.o", "attention.o", "attn.c_proj")
_UP = ("up", "fc1", "c_fc", "w1", "w3", "gate", "lin1", "expand")
_DOWN = ("down", "fc2", "w2", "lin2", "mlp.c_proj", "contract")


@dataclass(frozen=True)
class LayerView:
    """One analysed matrix: ``param[rows]`` (all rows when ``rows`` is None) viewed as ``shape`` = (m, n)."""

    name: str  # the layer's name in tables (module name, plus .q/.k/.v for packed blocks)
    module: str  # the module that owns the parameter ("" for the root)
    param: str  # qualified parameter name (the first one for a tied parameter)
    kind: str  # linear, conv1d, conv2d, conv3d, embedding, attention_in
    shape: tuple[int, int]  # (m, n): the matrix view
    rows: tuple[int, int] | None = None  # a block of the parameter's leading dimension
    layer_type: str = "linear"
    tied_with: tuple[str, ...] = ()  # other modules that use the same parameter
    note: str = ""  # what is measured when it is not the plain weight matrix

    @property
    def factors_possible(self) -> bool:
        """Whether Kronecker factors C_delta (x) C_A can be captured from the module's own calls."""
        return (
            self.kind in ("linear", "conv1d", "conv2d", "conv3d") and not self.tied_with and "groups" not in self.note
        )


def _has(name: str, keys: tuple[str, ...]) -> bool:
    low = name.lower()
    parts = low.split(".")
    return any(k in parts or (("." in k or len(k) > 3) and k in low) for k in keys)


def _linear_type(name: str, mod: nn.Linear) -> str:
    if _has(name, _Q):
        return "attention_q"
    if _has(name, _K):
        return "attention_k"
    if _has(name, _V):
        return "attention_v"
    if _has(name, _O):
        return "attention_o"
    if _has(name, _DOWN):
        return "mlp_down"
    if _has(name, _UP):
        return "mlp_up"
    if mod.out_features > mod.in_features:
        return "mlp_up"
    if mod.out_features < mod.in_features:
        return "mlp_down"
    return "linear"


@checked
def model_layers(model: nn.Module) -> list[LayerView]:
    """Every matrix layer of ``model`` as :class:`LayerView`, in module order (see the module docstring)."""
    first_name: dict[int, str] = {}
    for pname, p in model.named_parameters(remove_duplicate=False):
        first_name.setdefault(id(p), pname)
    users: dict[int, list[str]] = {}
    for mname, mod in model.named_modules(remove_duplicate=False):
        w = getattr(mod, "weight", None)
        if isinstance(w, nn.Parameter) and isinstance(mod, (nn.Linear, nn.Embedding)):
            users.setdefault(id(w), [])
            if mname not in users[id(w)]:
                users[id(w)].append(mname)
    views: list[LayerView] = []
    seen: set[int] = set()
    mha_out: set[int] = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, nn.MultiheadAttention):
            mha_out.add(id(mod.out_proj))
            E = mod.embed_dim
            ipw = getattr(mod, "in_proj_weight", None)
            if isinstance(ipw, nn.Parameter):
                pn = first_name[id(ipw)]
                seen.add(id(ipw))
                for i, part in enumerate("qkv"):
                    views.append(
                        LayerView(
                            f"{mname}.{part}" if mname else part,
                            mname,
                            pn,
                            "attention_in",
                            (E, E),
                            (i * E, (i + 1) * E),
                            f"attention_{part}",
                            note=f"rows {i * E}:{(i + 1) * E} of the packed in_proj_weight",
                        )
                    )
            else:
                for part in "qkv":
                    w = getattr(mod, f"{part}_proj_weight")
                    seen.add(id(w))
                    views.append(
                        LayerView(
                            f"{mname}.{part}" if mname else part,
                            mname,
                            first_name[id(w)],
                            "attention_in",
                            (int(w.shape[0]), int(w.shape[1])),
                            None,
                            f"attention_{part}",
                        )
                    )
            continue
        w = getattr(mod, "weight", None)
        if not isinstance(w, nn.Parameter) or id(w) in seen:
            continue
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)):
            seen.add(id(w))
            pn = first_name[id(w)]
            others = tuple(u for u in users.get(id(w), []) if u != mname)
            tied_note = (
                f"tied: one parameter used by {', '.join((mname, *others))}; G is its true gradient" if others else ""
            )
            if isinstance(mod, nn.Embedding):
                ltype = "head" if others else "embedding"
                views.append(
                    LayerView(
                        mname,
                        mname,
                        pn,
                        "embedding",
                        (int(w.shape[0]), int(w.shape[1])),
                        None,
                        ltype,
                        others,
                        tied_note,
                    )
                )
            elif isinstance(mod, nn.Linear):
                if id(mod) in mha_out:
                    ltype = "attention_o"
                elif others:
                    ltype = "head"
                else:
                    ltype = _linear_type(mname, mod)
                last = mname.split(".")[-1].lower()
                if last in _PACKED_NAMES and mod.out_features == 3 * mod.in_features and not others:
                    E = mod.in_features
                    for i, part in enumerate("qkv"):
                        views.append(
                            LayerView(
                                f"{mname}.{part}",
                                mname,
                                pn,
                                "linear",
                                (E, E),
                                (i * E, (i + 1) * E),
                                f"attention_{part}",
                                note=f"rows {i * E}:{(i + 1) * E} of the packed projection",
                            )
                        )
                    continue
                views.append(
                    LayerView(
                        mname, mname, pn, "linear", (mod.out_features, mod.in_features), None, ltype, others, tied_note
                    )
                )
            else:
                nd = (
                    {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[type(mod)]
                    if type(mod) in (nn.Conv1d, nn.Conv2d, nn.Conv3d)
                    else w.ndim - 2
                )
                m = int(w.shape[0])
                n = int(w[0].numel())
                note = tied_note
                if mod.groups != 1:
                    note = (
                        f"groups={mod.groups}: the (C_out, C_in/groups*k) matrix stacks the {mod.groups} per-group "
                        "matrices; no Kronecker factors"
                    )
                views.append(LayerView(mname, mname, pn, f"conv{nd}d", (m, n), None, "conv", others, note))
    # the last non-embedding matrix layer is the head (unless a tied one already is)
    if views and not any(v.layer_type == "head" for v in views):
        for i in range(len(views) - 1, -1, -1):
            if views[i].kind in ("linear", "conv1d", "conv2d", "conv3d"):
                if views[i].rows is None:
                    views[i] = replace(views[i], layer_type="head")
                break
    return views


@checked
def apply_layer_types(views: list[LayerView], types: Mapping[str, str]) -> list[LayerView]:
    """The views with ``types[name]`` as their layer type (names must exist; types from LAYER_TYPES)."""
    names = {v.name for v in views}
    for name, t in types.items():
        if name not in names:
            raise DlnkitInputError(
                f"layer type given for {name!r}, which is not a layer; layers: {', '.join(sorted(names))}"
            )
        if t not in LAYER_TYPES:
            raise DlnkitInputError(f"layer type {t!r} for {name!r} is not one of {', '.join(LAYER_TYPES)}")
    return [replace(v, layer_type=types[v.name]) if v.name in types else v for v in views]


@checked
def parse_layer_types(text: str) -> dict[str, str]:
    """``"name=type,name=type"`` -> dict (the ``--layer-types`` option).

    >>> parse_layer_types("blocks.0.fc=mlp_up, head=head")
    {'blocks.0.fc': 'mlp_up', 'head': 'head'}
    """
    out: dict[str, str] = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, sep, t = item.partition("=")
        if not sep or not name.strip() or not t.strip():
            raise DlnkitInputError(f"--layer-types: {item!r} is not name=type")
        out[name.strip()] = t.strip()
    return out


__all__ = ["LAYER_TYPES", "LayerView", "apply_layer_types", "model_layers", "parse_layer_types"]
