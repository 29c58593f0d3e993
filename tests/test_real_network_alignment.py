"""Real networks through the per-layer alignment analysis (issue 20): every layer type, standard
attention, tied weights, the analysis dtype and its cut-offs, refusals of batch-coupled models and
non-deterministic loaders; numbers checked against an independent float64 route (a dense Hessian
block by ``torch.autograd.functional.hessian`` of a plain closure, and finite differences)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from dlnkit.cli import main
from dlnkit.numerics.exact_attention import exact_attention
from dlnkit.numerics.fits import fit_gamma
from dlnkit.numerics.layer_views import model_layers
from dlnkit.numerics.model_alignment import analyse_model_layers
from dlnkit.numerics.validation import DlnkitInputError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "real_networks.py"


def _examples():
    spec = importlib.util.spec_from_file_location("dlnkit_examples_real_networks", EXAMPLES)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EX = _examples()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("realnet")
    EX.write_data(folder, n=48)
    return folder


def _block_reference(model, param, rows, X, y, loss):
    """Independent float64 route: the true gradient and the dense Hessian block of the loss as a
    function of ``param[rows]`` (plain closure, autograd.functional.hessian, math attention)."""
    from torch.func import functional_call

    full = dict(model.named_parameters())[param].detach()
    a, b = rows if rows is not None else (0, full.shape[0])

    def f(block):
        W = torch.cat([full[:a], block, full[b:]])
        with exact_attention():
            return loss(functional_call(model, {param: W}, (X,)), y)

    block = full[a:b].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(block), block)
    with exact_attention():
        H = torch.autograd.functional.hessian(f, full[a:b].clone())
    n = block.numel()
    return g.reshape(b - a, -1), H.reshape(n, n), f


@pytest.mark.parametrize(
    ("name", "layer"), [("gpt", "tok"), ("gpt", "c_attn.k"), ("vit", "attn.q"), ("vit", "attn.out_proj")]
)
def test_tied_and_attention_layers_equal_an_independent_dense_block(name, layer, data_dir):
    model = getattr(EX, name)().double().eval()
    d = torch.load(data_dir / f"{EX.DATA_OF[name]}.pt")
    X, y = d["inputs"][:12], d["targets"][:12]
    if X.is_floating_point():
        X = X.double()
    loss = nn.CrossEntropyLoss()
    res = analyse_model_layers(model, (X, y), loss, layers=[layer], k=6, eigen=True)
    rep = res.reports[layer]
    view = next(v for v in model_layers(model) if v.name == layer)
    g, H, f = _block_reference(model, view.param, view.rows, X, y, loss)
    # sigma: the true gradient (for the tied weight: both uses summed)
    S = torch.linalg.svdvals(g).numpy()
    np.testing.assert_allclose(rep.sigma, S[: rep.sigma.size], rtol=1e-10, atol=1e-14 * S[0])
    U, _, Vh = torch.linalg.svd(g)
    for j in range(rep.sigma.size):
        d_ = torch.outer(U[:, j], Vh[j]).reshape(-1)
        h_ref = float(d_ @ H @ d_)
        assert abs(rep.h[j] - h_ref) <= 1e-10 * float(torch.linalg.matrix_norm(H, 2)), (j, rep.h[j], h_ref)
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T)).flip(0).numpy()
    top = rep.eigenvalues
    # a symmetric matrix has an eigenvalue within the residual of each Ritz value (reported, recomputed explicitly)
    assert rep.eig_converged
    assert np.all(np.abs(top - ev[: top.size]) <= rep.eig_residuals + 1e-12 * abs(ev).max()), (top, ev[: top.size])
    assert np.all(rep.eig_residuals <= 1e-4 * abs(ev).max() * (1 + 1e-9))  # the default tolerance, relative to ||H_ll||
    # and one curvature by central finite differences (step 1e-4: error ~ h^2 f'''' + eps/h^2 ~ 1e-8)
    d0 = torch.outer(U[:, 0], Vh[0])
    W0 = dict(model.named_parameters())[view.param].detach()
    a = view.rows[0] if view.rows else 0
    blk = W0[a : a + g.shape[0]].reshape(g.shape)
    e = 1e-4
    fd = (
        f((blk + e * d0).reshape(-1, *W0.shape[1:]))
        - 2 * f(blk.reshape(-1, *W0.shape[1:]))
        + f((blk - e * d0).reshape(-1, *W0.shape[1:]))
    ) / e**2
    assert abs(float(fd.detach()) - rep.h[0]) < 1e-5 * max(1.0, abs(rep.h[0]))


def test_float32_head_analysed_in_float64_has_rank_nine_and_the_reference_gamma(data_dir):
    model = EX.mlp()  # float32
    d = torch.load(data_dir / "mnist1d.pt")
    X, y = d["inputs"], d["targets"]
    res = analyse_model_layers(model, (X, y), nn.CrossEntropyLoss(), layers=["4"], k=20, eigen=False)
    rep = res.reports["4"]
    assert rep.dtype == "float64" and rep.rank == 9 and rep.sigma.size == 9
    # reference: the float64 twin's head gradient by plain autograd; its top 9 singular values
    ref = EX.mlp().double()
    loss = nn.functional.cross_entropy(ref(X.double()), y)
    (g,) = torch.autograd.grad(loss, ref[4].weight)
    S = torch.linalg.svdvals(g).numpy()
    assert S[9] < 1e-12 * S[0]  # the 10-class head: rank <= 9 exactly
    assert abs(rep.fits["gamma"].exponent - fit_gamma(S[:9]).exponent) < 1e-9
    assert next(model.parameters()).dtype == torch.float32  # the user's model is untouched


def test_float32_analysis_cuts_at_its_own_eps(data_dir):
    d = torch.load(data_dir / "mnist1d.pt")
    res = analyse_model_layers(
        EX.mlp(), (d["inputs"], d["targets"]), nn.CrossEntropyLoss(), layers=["4"], k=20, eigen=False, dtype="float32"
    )
    rep = res.reports["4"]
    assert rep.dtype == "float32" and rep.sigma.size <= 9
    assert rep.cutoffs["eps"] == float(torch.finfo(torch.float32).eps)


class _MeanCentred(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 6, dtype=torch.float64), nn.Linear(6, 3, dtype=torch.float64)

    def forward(self, x):
        z = self.a(x)
        return self.b(torch.tanh(z - z.mean(0, keepdim=True)))


@pytest.mark.parametrize(
    "model",
    [
        lambda: (
            nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6, track_running_stats=False), nn.Linear(6, 3))
            .double()
            .eval()
        ),
        _MeanCentred,
    ],
)
def test_batch_coupled_models_are_refused(model):
    torch.manual_seed(0)
    X, y = torch.randn(20, 5, dtype=torch.float64), torch.randint(0, 3, (20,))
    with pytest.raises(DlnkitInputError, match="batch-coupled"):
        analyse_model_layers(model(), (X, y), nn.CrossEntropyLoss(), eigen=False)


class _Augmenting(Dataset):
    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.X[i] + 0.1 * torch.randn_like(self.X[i]), self.y[i]


def test_non_deterministic_loaders_are_refused_and_plain_shuffle_is_not():
    torch.manual_seed(0)
    X, y = torch.randn(30, 5, dtype=torch.float64), torch.randint(0, 3, (30,))
    net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    for loader in (
        DataLoader(_Augmenting(X, y), batch_size=8),
        DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True, drop_last=True),
    ):
        with pytest.raises(DlnkitInputError, match="two passes over the data"):
            analyse_model_layers(net, loader, nn.CrossEntropyLoss(), eigen=False)
    shuffled = analyse_model_layers(
        net, DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True), nn.CrossEntropyLoss(), k=3
    )
    whole = analyse_model_layers(net, (X, y), nn.CrossEntropyLoss(), k=3)
    for name in ("0", "2"):
        np.testing.assert_allclose(shuffled.reports[name].h, whole.reports[name].h, rtol=1e-11)
        np.testing.assert_allclose(shuffled.reports[name].eigenvalues, whole.reports[name].eigenvalues, rtol=1e-8)


@pytest.mark.parametrize("factors", ["empirical", "gn"])
@pytest.mark.parametrize("layer", ["0", "2"])
def test_streamed_factors_equal_the_single_batch_capture(factors, layer):
    from dlnkit.numerics.alignment import analyse_capture, capture_layer

    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(inplace=True), nn.Linear(7, 4)).double()
    X, y = torch.randn(23, 5, dtype=torch.float64), torch.randint(0, 4, (23,))
    cap = capture_layer(net, layer, X, y, loss=nn.CrossEntropyLoss(), gauss_newton=True)
    ref = analyse_capture(cap, k=4, eigen=False, factors=factors)
    batches = [(X[:10], y[:10]), (X[10:], y[10:])]
    res = analyse_model_layers(net, batches, nn.CrossEntropyLoss(), layers=[layer], k=4, eigen=False, factors=factors)
    rep = res.reports[layer]
    for key in ("sigma", "h", "rho_delta", "rho_A", "Lambda", "chi"):
        np.testing.assert_allclose(getattr(rep, key), getattr(ref, key), rtol=1e-10, err_msg=key)


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv1d(3, 4, 3, stride=2, padding=1, dilation=2, padding_mode="reflect"),
        nn.Conv2d(3, 4, (3, 2), dilation=(2, 1), padding="same"),
        nn.Conv3d(3, 4, 2, stride=1, padding=1, dilation=(1, 2, 1)),
    ],
)
def test_conv_factors_account_for_the_whole_gradient(conv):
    """The im2col rows reproduce the true gradient (G = delta^T A / N to rounding), so the factors are reported."""
    torch.manual_seed(0)
    nd = int(type(conv).__name__[4])
    net = nn.Sequential(conv, nn.Tanh(), nn.Flatten(), nn.LazyLinear(3)).double()
    X = torch.randn(6, 3, *([6] * nd), dtype=torch.float64)
    net(X)
    y = torch.randint(0, 3, (6,))
    res = analyse_model_layers(net, (X, y), nn.CrossEntropyLoss(), layers=["0"], k=3, eigen=False)
    rep = res.reports["0"]
    assert rep.factor_note == "" and np.isfinite(rep.rho_A).all()


def test_layer_types_are_inferred_and_overridable():
    types = {v.name: v.layer_type for v in model_layers(EX.gpt())}
    assert types["c_attn.q"] == "attention_q" and types["c_attn.v"] == "attention_v"
    assert types["tok"] == "head" and types["pos"] == "embedding"  # tok is tied to lm_head
    assert types["up"] == "mlp_up" and types["down"] == "mlp_down"
    vt = {v.name: v.layer_type for v in model_layers(EX.vit())}
    assert vt["attn.k"] == "attention_k" and vt["attn.out_proj"] == "attention_o" and vt["patch"] == "conv"
    assert vt["head"] == "head"
    assert not any(v.name == "lm_head" for v in model_layers(EX.gpt()))  # the tied parameter once


@pytest.mark.parametrize("name", ["resnet", "vit", "gpt", "conv1d", "mlp"])
def test_five_families_through_alignment_and_spectrum_cli(name, data_dir, tmp_path, capsys):
    data = data_dir / f"{EX.DATA_OF[name]}.pt"
    out = tmp_path / "a.json"
    rc = main(
        ["alignment", "--model", f"{EXAMPLES}:{name}", "--data", str(data), "--samples", "24", "--k", "6",
         "--batch-size", "16", "--json", str(out), "-q", "--device", "cpu"]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0, text
    blob = json.loads(out.read_text())
    assert blob["dtype"] == "float64" and blob["samples"] == 24 and blob["batches"] == 2
    names = [v.name for v in model_layers(getattr(EX, name)())]
    assert [r["layer"] for r in blob["rows"]] == names  # every layer has a row
    for r in blob["rows"]:
        assert "error" in r or ("gamma" in r and r["dtype"] == "float64"), r
        if "error" not in r:
            lay = blob["layers"][r["layer"]]
            assert len(lay["sigma"]) == len(lay["h"]) == r["K"] and lay["eigenvalues"]
    assert "analysis dtype float64" in text
    rc = main(
        ["spectrum", "--model", f"{EXAMPLES}:{name}", "--data", str(data), "--top", "2", "--probes", "1",
         "--steps", "6", "--trace-products", "6", "--batch-size", "16", "-q", "--device", "cpu"]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0 and "analysis dtype float64" in text and "converged" in text


def test_cli_refuses_a_batch_coupled_model_with_exit_2(tmp_path, capsys):
    src = tmp_path / "m.py"
    src.write_text(
        "import torch\nfrom torch import nn\n\ndef make():\n    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5, track_running_stats=False), nn.Linear(5, 3))\n"
    )
    torch.save({"inputs": torch.randn(16, 4), "targets": torch.randint(0, 3, (16,))}, tmp_path / "d.pt")
    rc = main(["alignment", "--model", f"{src}:make", "--data", str(tmp_path / "d.pt"), "--no-eigen", "-q"])
    assert rc == 2 and "batch-coupled" in capsys.readouterr().err


def test_few_point_fits_show_their_count():
    from dlnkit.records.alignment_tables import format_rows

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    X, y = torch.randn(20, 5, dtype=torch.float64), torch.randint(0, 3, (20,))
    res = analyse_model_layers(net, (X, y), nn.CrossEntropyLoss(), layers=["2"], k=5, eigen=False)
    row = res.rows[0]
    assert row["K"] == 2 and row["gamma_n"] == 2 and row["gamma_few"] and "gamma_ci" not in row
    assert "(n=2)" in format_rows(res.rows)


class _Detached(nn.Module):
    """Layer ``a`` feeds the output only through a detach: no gradient reaches it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 6, dtype=torch.float64), nn.Linear(5, 3, dtype=torch.float64)

    def forward(self, x):
        return self.b(x) + 0.0 * self.a(x).detach().sum(1, keepdim=True)


def test_a_layer_that_cannot_be_analysed_is_a_row_with_the_reason_and_the_rest_come_out():
    torch.manual_seed(0)
    X, y = torch.randn(20, 5, dtype=torch.float64), torch.randint(0, 3, (20,))
    res = analyse_model_layers(_Detached(), (X, y), nn.CrossEntropyLoss(), k=3, eigen=False)
    rows = {r["layer"]: r for r in res.rows}
    assert "error" in rows["a"] and "singular value" in rows["a"]["error"]
    assert "gamma" in rows["b"] and "error" not in rows["b"]


class _Fails(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 3, dtype=torch.float64)

    def forward(self, x):
        if x.shape[0] > 4:
            raise RuntimeError("this model only takes small batches")
        return self.a(x)


def test_a_model_that_raises_is_bad_input_not_an_internal_error():
    X, y = torch.randn(20, 5, dtype=torch.float64), torch.randint(0, 3, (20,))
    with pytest.raises(DlnkitInputError, match="the model raised RuntimeError"):
        analyse_model_layers(_Fails(), (X, y), nn.CrossEntropyLoss(), k=3, eigen=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (marked gpu)")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_equals_cpu(dtype, data_dir):
    d = torch.load(data_dir / "images.pt")
    X, y = d["inputs"][:16], d["targets"][:16]
    runs = [
        analyse_model_layers(EX.vit(), (X, y), nn.CrossEntropyLoss(), k=4, dtype=dtype, device=dev)
        for dev in ("cpu", "cuda")
    ]
    rtol = 1e-9 if dtype == "float64" else 1e-3  # float32 sums in another order: a few hundred eps
    for name, rep in runs[0].reports.items():
        np.testing.assert_allclose(runs[1].reports[name].h, rep.h, rtol=rtol, atol=rtol * abs(rep.h).max())
