"""Real-network curvature (dlnkit.numerics.curvature): loaders vs full batch, every loss module vs
torch.func on the same closure, GGN vs the DLN closed form, EF vs per-sample gradients, and the
in-place / shared-module / frozen / train-mode cases.

Tolerances: every comparison is between two exact routes in float64 on matrices of norm O(1-10);
they differ only by summation order, so 1e-10 absolute leaves 4-5 orders of margin over the
observed ~1e-14.
"""

import pytest
import torch
from hypothesis import given, strategies as st
from torch import nn
from torch.testing import assert_close

from dlnkit.numerics.curvature import ModelCurvature, dense_layer_blocks
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.numerics.losses import resolve_loss
from dlnkit.numerics.validation import DlnkitInputError

DT = torch.float64
TOL = dict(atol=1e-10, rtol=1e-10)


def small_mlp(inplace=False, seed=0, out=3):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, 5, dtype=DT),
        nn.Tanh(),
        nn.Linear(5, 4, dtype=DT),
        nn.ReLU(inplace=inplace),
        nn.Linear(4, out, dtype=DT),
    )


def data_for(loss, n=11, out=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=g, dtype=DT)
    if isinstance(loss, nn.CrossEntropyLoss):
        y = torch.randint(0, out, (n,), generator=g)
    elif isinstance(loss, nn.BCEWithLogitsLoss):
        y = torch.randint(0, 2, (n, out), generator=g).to(DT)
    else:
        y = torch.randn(n, out, generator=g, dtype=DT)
    return X, y


def closure_hessian(model, loss, X, y):
    """The reference: torch.func's dense Hessian of the loss module itself on the whole batch
    (reverse-over-reverse, since forward-over-reverse fails for MSELoss/HuberLoss modules)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = [dict(model.named_parameters())[n].detach() for n in names]

    def f(*ps):
        out = torch.func.functional_call(model, dict(zip(names, ps)), (X,))
        return loss(out, y)

    blocks = torch.func.jacrev(
        torch.func.jacrev(f, argnums=tuple(range(len(ps := params)))), argnums=tuple(range(len(ps)))
    )(*params)
    rows = [
        torch.cat([blocks[i][j].reshape(pi.numel(), pj.numel()) for j, pj in enumerate(params)], 1)
        for i, pi in enumerate(params)
    ]
    return torch.cat(rows, 0)


LOSSES = [
    nn.CrossEntropyLoss(),
    nn.CrossEntropyLoss(reduction="sum"),
    nn.MSELoss(),
    nn.MSELoss(reduction="sum"),
    nn.BCEWithLogitsLoss(),
    nn.BCEWithLogitsLoss(reduction="sum"),
    nn.HuberLoss(delta=0.5),
    nn.HuberLoss(reduction="sum"),
    nn.CrossEntropyLoss(label_smoothing=0.1),
]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda l: f"{type(l).__name__}-{l.reduction}")
def test_every_loss_module_matches_torch_func_on_the_same_closure(loss):
    model = small_mlp()
    X, y = data_for(loss)
    spec = resolve_loss(loss)
    out = model(X)
    assert_close(spec.batch_value(out, y), loss(out, y), **TOL)  # the elementwise form is the module
    H = ModelCurvature(model, loss, (X, y)).dense()
    assert_close(H, closure_hessian(model, loss, X, y), **TOL)


@given(st.lists(st.integers(1, 7), min_size=1, max_size=5), st.sampled_from(range(len(LOSSES))))
def test_loader_equals_full_batch_for_drawn_batch_sizes(sizes, which):
    loss = LOSSES[which]
    n = sum(sizes)
    model = small_mlp()
    X, y = data_for(loss, n=n)
    cuts = torch.tensor([0] + sizes).cumsum(0).tolist()
    batches = [(X[a:b], y[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    full = ModelCurvature(model, loss, (X, y))
    split = ModelCurvature(model, loss, batches)
    for kind in ("hessian", "ggn", "ef"):
        assert_close(split.dense(kind), full.dense(kind), **TOL)


def test_dataloader_with_ragged_last_batch_and_generator():
    loss = nn.CrossEntropyLoss()
    model = small_mlp()
    X, y = data_for(loss, n=23)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=5)  # 5,5,5,5,3
    ref = ModelCurvature(model, loss, (X, y)).dense()
    assert_close(ModelCurvature(model, loss, loader).dense(), ref, **TOL)
    gen = ((X[i : i + 4], y[i : i + 4]) for i in range(0, 23, 4))  # one-shot: materialised once
    assert_close(ModelCurvature(model, loss, gen).dense(), ref, **TOL)


def test_dln_ggn_equals_closed_form_gauss_newton_and_hessian_equals_closed_form():
    from dlnkit.numerics.alignment import linear_chain
    from dlnkit.numerics.dln import DeepLinearNetwork
    from dlnkit.numerics.dln_hessian import dln_gauss_newton_closed_form, dln_hessian_closed_form

    Ws = [W.detach() for W in DeepLinearNetwork.random([3, 4, 5, 2], seed=3, dtype=DT, device="cpu").weight_list()]
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(17, 3, generator=g, dtype=DT), torch.randn(17, 2, generator=g, dtype=DT)
    net = linear_chain(Ws)
    batches = [(X[:6], Y[:6]), (X[6:], Y[6:])]
    curv = ModelCurvature(net, "mse", batches)  # 0.5 * ||f - y||^2 per sample, mean: the DLN loss
    assert_close(curv.dense("ggn"), dln_gauss_newton_closed_form(Ws, X=X), **TOL)
    assert_close(curv.dense("hessian"), dln_hessian_closed_form(Ws, X=X, Y=Y), **TOL)
    # nn.MSELoss(sum) is 2B times the DLN loss: the same GN up to that factor
    assert_close(
        ModelCurvature(net, nn.MSELoss(reduction="sum"), batches).dense("ggn"),
        2 * 17 * dln_gauss_newton_closed_form(Ws, X=X),
        **TOL,
    )


@pytest.mark.parametrize(
    "loss", [nn.CrossEntropyLoss(), nn.MSELoss(), nn.MSELoss(reduction="sum")], ids=["ce", "mse-mean", "mse-sum"]
)
def test_empirical_fisher_is_the_sum_of_per_sample_gradient_outer_products(loss):
    model = small_mlp()
    X, y = data_for(loss, n=9)
    curv = ModelCurvature(model, loss, [(X[:4], y[:4]), (X[4:], y[4:])])
    grads = []
    for i in range(9):
        model.zero_grad()
        spec = resolve_loss(loss)
        spec.per_sample(model(X[i : i + 1]), y[i : i + 1]).sum().backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    Gm = torch.stack(grads)
    E = 1 if isinstance(loss, nn.CrossEntropyLoss) else 3
    c = 1.0 / (9 * E) if loss.reduction == "mean" else 1.0
    assert_close(curv.dense("ef"), c * Gm.T @ Gm, **TOL)


def test_inplace_activation_gives_the_same_curvature_as_out_of_place():
    loss = nn.CrossEntropyLoss()
    X, y = data_for(loss)
    H_in = ModelCurvature(small_mlp(inplace=True), loss, (X, y)).dense()
    H_out = ModelCurvature(small_mlp(inplace=False), loss, (X, y)).dense()
    assert_close(H_in, H_out, **TOL)
    assert_close(H_in, closure_hessian(small_mlp(inplace=False), loss, X, y), **TOL)
    for kind in ("ggn", "ef"):  # the forward-mode (jvp) routes too
        assert_close(
            ModelCurvature(small_mlp(inplace=True), loss, (X, y)).dense(kind),
            ModelCurvature(small_mlp(inplace=False), loss, (X, y)).dense(kind),
            **TOL,
        )


class Shared(nn.Module):
    """One Linear called twice in a forward pass (tied weights)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Linear(4, 4, dtype=DT)
        self.head = nn.Linear(4, 3, dtype=DT)

    def forward(self, x):
        return self.head(torch.tanh(self.a(torch.tanh(self.a(x)))))


def test_module_called_twice_matches_explicit_closure():
    net = Shared()
    loss = nn.CrossEntropyLoss()
    X, y = data_for(loss)
    params = [p.detach() for p in net.parameters()]

    def f(W, b, Wh, bh):  # the same function written out, with the weight entering twice
        h = torch.tanh(torch.tanh(X @ W.T + b) @ W.T + b)
        return loss(h @ Wh.T + bh, y)

    assert_close(ModelCurvature(net, loss, (X, y)).dense(), dense_hessian(f, params), **TOL)


def test_frozen_parameters_are_constants_and_can_be_named():
    model = small_mlp()
    loss = nn.MSELoss()
    X, y = data_for(loss)
    full = ModelCurvature(model, loss, (X, y)).dense()
    model[0].weight.requires_grad_(False)
    curv = ModelCurvature(model, loss, (X, y))
    assert curv.num_params == full.shape[0] - 20
    assert_close(curv.dense(), full[20:, 20:], **TOL)  # the block of the free parameters
    named = ModelCurvature(model, loss, (X, y), params=["0.weight"]).dense()
    assert_close(named, full[:20, :20], **TOL)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(DlnkitInputError, match="frozen"):
        ModelCurvature(model, loss, (X, y))


def test_train_mode_batchnorm_and_dropout_are_refused_and_buffers_kept():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5, dtype=DT), nn.BatchNorm1d(5, dtype=DT), nn.Linear(5, 3, dtype=DT))
    loss = nn.CrossEntropyLoss()
    X, y = data_for(loss)
    before = net[1].running_mean.clone()
    with pytest.raises(DlnkitInputError, match="eval"):
        ModelCurvature(net, loss, (X, y))
    assert torch.equal(net[1].running_mean, before)
    ModelCurvature(net.eval(), loss, (X, y)).dense()
    assert torch.equal(net[1].running_mean, before)
    drop = nn.Sequential(nn.Linear(4, 5, dtype=DT), nn.Dropout(0.5), nn.Linear(5, 3, dtype=DT))
    with pytest.raises(DlnkitInputError, match="dropout"):
        ModelCurvature(drop, loss, (X, y))


def test_per_layer_blocks_are_the_diagonal_blocks_and_callable_loss_works():
    model = small_mlp()
    X, y = data_for(nn.CrossEntropyLoss())
    fn = lambda out, t: torch.nn.functional.cross_entropy(out, t)
    curv = ModelCurvature(model, fn, (X, y))
    H = curv.dense()
    assert_close(H, ModelCurvature(model, nn.CrossEntropyLoss(), (X, y)).dense(), **TOL)
    blocks = dense_layer_blocks(curv)
    assert list(blocks) == ["0", "2", "4"]
    i = 0
    for B in blocks.values():
        n = B.shape[0]
        assert_close(B, H[i : i + n, i : i + n], **TOL)
        i += n


def test_operator_lanczos_and_trace_against_dense():
    model = small_mlp()
    loss = nn.CrossEntropyLoss()
    X, y = data_for(loss, n=20)
    curv = ModelCurvature(model, loss, [(X[:7], y[:7]), (X[7:], y[7:])])
    H = curv.dense()
    ev = torch.linalg.eigvalsh(H).flip(0)
    top = curv.top_eigenvalues(3, tol=1e-12, max_iters=H.shape[0])
    assert_close(top.eigenvalues, ev[:3], atol=1e-8, rtol=0)  # Lanczos residual tolerance 1e-12 * ||H||
    import numpy as np

    op = curv.linear_operator()
    assert_close(torch.as_tensor(op @ np.eye(H.shape[0])), H, **TOL)
    assert_close(torch.tensor(curv.trace(method="exact").trace, dtype=DT), torch.trace(H), **TOL)


def test_bad_inputs_are_clear_errors():
    model = small_mlp()
    X, y = data_for(nn.MSELoss())
    with pytest.raises(DlnkitInputError):
        ModelCurvature(model, nn.L1Loss(), (X, y))
    with pytest.raises(DlnkitInputError):
        ModelCurvature(model, nn.MSELoss(reduction="none"), (X, y))
    with pytest.raises(DlnkitInputError):
        ModelCurvature(model, nn.MSELoss(), (X, y[:3]))
    with pytest.raises(DlnkitInputError):
        ModelCurvature(model, nn.MSELoss(), [])
    with pytest.raises(DlnkitInputError):
        ModelCurvature(model, nn.MSELoss(), (X, y), params=["nosuch"])
    with pytest.raises(DlnkitInputError):
        ModelCurvature(model, nn.CrossEntropyLoss(weight=torch.ones(3, dtype=DT)), (X, y.argmax(1)))


def test_callable_loss_empirical_fisher_and_sum_reduction_match_the_module():
    model = small_mlp()
    X, y = data_for(nn.CrossEntropyLoss(), n=8)
    batches = [(X[:5], y[:5]), (X[5:], y[5:])]
    fn = lambda out, t: torch.nn.functional.cross_entropy(out, t)
    fsum = lambda out, t: torch.nn.functional.cross_entropy(out, t, reduction="sum")
    ref = ModelCurvature(model, nn.CrossEntropyLoss(), batches)
    ref_sum = ModelCurvature(model, nn.CrossEntropyLoss(reduction="sum"), batches)
    assert_close(ModelCurvature(model, fn, batches).dense("ef"), ref.dense("ef"), **TOL)
    assert_close(ModelCurvature(model, fsum, batches, reduction="sum").dense("hessian"), ref_sum.dense(), **TOL)


def test_progress_bar_goes_to_stderr_for_long_passes(capsys):
    model = small_mlp()
    X, y = data_for(nn.MSELoss(), n=25)
    batches = [(X[i : i + 1], y[i : i + 1]) for i in range(25)]  # 25 batches >= the 20-batch threshold
    curv = ModelCurvature(model, nn.MSELoss(), batches, progress=True)
    curv.matmat(torch.ones(curv.num_params, dtype=DT))
    assert "products" in capsys.readouterr().err


@pytest.mark.gpu
def test_cuda_matches_cpu():
    loss = nn.CrossEntropyLoss()
    model = small_mlp()
    X, y = data_for(loss, n=13)
    batches = [(X[:6], y[:6]), (X[6:], y[6:])]  # data on the CPU: moved batch by batch
    ref = ModelCurvature(model, loss, batches)
    gpu = ModelCurvature(small_mlp().cuda(), loss, batches)
    for kind in ("hessian", "ggn", "ef"):
        assert_close(gpu.dense(kind).cpu(), ref.dense(kind), **TOL)
