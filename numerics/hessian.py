r"""The one Hessian-route dispatcher: which route builds a dense Hessian, with one memory estimate
per route, checked before anything is allocated; and the Hessian as a curvature operator.

Routes (P parameters, s bytes per number, w the loss's intermediates per evaluation in numbers:
:math:`B\sum_l d_l` for a chain, else what one forward pass saves for backward, counted):

==================  ==============================================  ====================================
route               what it does                                    peak memory estimate
==================  ==============================================  ====================================
``closed_form``     DLN Gauss-Newton + residual blocks, in place    :math:`1.5\,sP^2` (measured 1.3)
                    (linear chain, squared loss only)
``double_backward`` the gradient's graph, one backward per row      :math:`s(P^2 + 4P + 4w)`
``torch_func``      ``torch.func.hessian``, all P tangents at once  :math:`s(6P^2 + 4Pw)` (measured 10-16
                                                                    :math:`P^2` at the claims' sizes)
``hvp_columns``     c exact HVPs per block of columns               :math:`s(P^2 + c(4P + 4w))`
==================  ==============================================  ====================================

The choice (:func:`plan_hessian`), made here and nowhere else:

* ``route="auto"``: the closed form where it applies (a linear :class:`~dlnkit.numerics.chains.ChainLoss`
  with the squared loss, or a :class:`~dlnkit.numerics.chains.MomentLoss`), else ``"autograd"``;
* ``route="autograd"`` (independent of every closed form): ``torch_func`` for the checked chains of
  :mod:`dlnkit.numerics.chains`, **double backward for any other loss** -- torch.func's second
  derivatives are wrong upstream of a LayerNorm in torch 2.13 (:mod:`dlnkit.numerics.autodiff`);
* a route by name: that route (``torch_func`` on a loss that is not a checked chain is the caller's
  own risk, and said so here).

When the chosen route's estimate exceeds the budget, ``auto`` and ``autograd`` fall back to
``hvp_columns`` with the largest block that fits; a route asked for by name is refused instead
(:class:`HessianTooLargeError`, before allocating).

>>> from dlnkit.numerics.chains import ChainLoss
>>> X = torch.eye(3, dtype=torch.float64); Y = torch.ones(3, 2, dtype=torch.float64)
>>> Ws = [torch.full((4, 3), 0.1, dtype=torch.float64), torch.full((2, 4), 0.1, dtype=torch.float64)]
>>> [plan_hessian(ChainLoss(X, Y, act), Ws).route for act in ("linear", "tanh")]
['closed_form', 'torch_func']
>>> plan_hessian(lambda *w: ChainLoss(X, Y)(*w), Ws).route  # an opaque callable
'double_backward'
>>> H1 = dense_hessian(ChainLoss(X, Y), Ws); H2 = dense_hessian(ChainLoss(X, Y), Ws, route="double_backward")
>>> bool(torch.allclose(H1, H2, rtol=1e-12, atol=1e-14))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from dlnkit.arguments import checked
from dlnkit.numerics.autodiff import (
    HVP_MODES,
    HessianTooLargeError,
    LossFn,
    available_memory_bytes,
    check_dense_fits,
    checked_params,
    dense_hessian_bytes,
    double_backward_hessian,
    flatten_params,
    hvp,
    hvp_batched,
    hvp_mode,
    saved_numbers,
    scalar_loss,
    torch_func_hessian,
    unflatten_like,
)
from dlnkit.numerics.chains import ChainLoss, MomentLoss, is_checked_chain
from dlnkit.numerics.dln_hessian_fast import dln_hessian_assembled
from dlnkit.numerics.hessian_chunked import (
    HVP_VECTOR_COPIES,
    choose_chunk_size,
    chunked_hessian_bytes,
    dense_hessian_chunked,
)
from dlnkit.numerics.memory import COPIES_ASSEMBLED, autograd_hessian_bytes
from dlnkit.numerics.validation import DlnkitInputError

ROUTES = ("closed_form", "double_backward", "torch_func", "hvp_columns")
REQUESTS = ("auto", "autograd", *ROUTES)
#: share of the device's free memory a dense Hessian may use when no budget is given
BUDGET_FRACTION = 0.8


@dataclass(frozen=True)
class HessianPlan:
    """The route :func:`dense_hessian` takes, with its own memory estimate and why it was chosen.

    Attributes
    ----------
    route
        One of :data:`ROUTES`.
    num_params
        P.
    estimate_bytes, budget_bytes
        The route's peak estimate and the budget it was checked against.
    chunk_size
        Columns per block (``hvp_columns`` only, else 0).
    work_numbers
        w, the loss's intermediates per evaluation (numbers) the estimate used.
    reason
        One line: why this route.
    """

    route: str
    num_params: int
    estimate_bytes: int
    budget_bytes: int
    chunk_size: int
    work_numbers: int
    reason: str


@checked
def route_bytes(
    route: str, num_params: int, dtype: torch.dtype = torch.float64, *, work_numbers: int = 0, chunk_size: int = 1
) -> int:
    """The one peak-memory estimate of each route (see the module doc's table).

    ``work_numbers`` is w, the loss's intermediates per evaluation (numbers); ``chunk_size`` the
    block width of ``hvp_columns``.

    >>> [route_bytes(r, 100) // 8 for r in ROUTES]  # P = 100, w = 0
    [15000, 10400, 60000, 10400]
    """
    P, w = int(num_params), int(work_numbers)
    item = torch.empty((), dtype=dtype).element_size()
    if route == "closed_form":
        return dense_hessian_bytes(P, dtype, COPIES_ASSEMBLED)
    if route == "double_backward":
        return item * (P * P + HVP_VECTOR_COPIES * P + 4 * w)
    if route == "torch_func":
        return int(autograd_hessian_bytes(P, 1, w) * item / 8)
    if route == "hvp_columns":
        return chunked_hessian_bytes(P, int(chunk_size), dtype, per_column_numbers=4 * w)
    raise DlnkitInputError(f"route must be one of {ROUTES}, got {route!r}")


@checked
def check_route_fits(
    route: str,
    num_params: int,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    *,
    work_numbers: int = 0,
    chunk_size: int = 1,
    budget_bytes: int | None = None,
) -> int:
    """Refuse (:class:`HessianTooLargeError`) when ``route``'s estimate (:func:`route_bytes`) exceeds
    the budget (default 80% of the device's free memory); else return the estimate. For routes run
    outside :func:`dense_hessian` (``ModelCurvature.dense`` builds HVP columns over a data set).

    >>> check_route_fits("hvp_columns", 100, chunk_size=10, budget_bytes=10**6)
    112000
    """
    need = route_bytes(route, num_params, dtype, work_numbers=work_numbers, chunk_size=chunk_size)
    budget = int(BUDGET_FRACTION * available_memory_bytes(device)) if budget_bytes is None else int(budget_bytes)
    if need > budget:
        P = int(num_params)
        raise HessianTooLargeError(
            f"the {route} route to a dense {P} x {P} Hessian ({dtype}) needs about {_gib(need)}, more than the "
            f"{_gib(budget)} budget on {torch.device(device)}; use HVPs (Lanczos) or a structured form instead"
        )
    return need


def _work_numbers(loss_fn: LossFn, params: Sequence[torch.Tensor], per_column_numbers: int | None) -> int:
    """w: the loss's intermediates per evaluation, in numbers. For a chain, B (d_in for moments)
    times the summed widths; else the caller's number, or, without one, what one forward pass
    saves for backward (counted by a saved-tensor hook: one evaluation of the loss, no P x P)."""
    if per_column_numbers is not None:
        return int(per_column_numbers)
    if isinstance(loss_fn, (ChainLoss, MomentLoss)):
        widths = int(params[0].shape[-1]) + sum(int(p.shape[0]) for p in params)
        batch = loss_fn.batch if isinstance(loss_fn, ChainLoss) else int(params[0].shape[-1])
        return batch * widths
    return saved_numbers(scalar_loss(loss_fn), *params)  # one evaluation: a loss that is no scalar shows here


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


@checked
def plan_hessian(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    *,
    route: str = "auto",
    budget_bytes: int | None = None,
    per_column_numbers: int | None = None,
    chunk_size: int | None = None,
) -> HessianPlan:
    """Choose the route for the dense Hessian of ``loss_fn(*params)`` and check its memory estimate
    against the budget (see the module doc). Nothing is allocated.

    Raises
    ------
    HessianTooLargeError
        Not even the fallback fits, or a route asked for by name does not.
    DlnkitInputError
        An unknown route, ``closed_form`` where it does not apply, or bad parameters.
    """
    if route not in REQUESTS:
        raise DlnkitInputError(f"route must be one of {REQUESTS}, got {route!r}")
    ps = checked_params(params)
    P, dtype, device = sum(p.numel() for p in ps), ps[0].dtype, ps[0].device
    budget = int(BUDGET_FRACTION * available_memory_bytes(device)) if budget_bytes is None else int(budget_bytes)
    chain = is_checked_chain(loss_fn)
    closed = chain and _closed_form_data(loss_fn) is not None
    w = _work_numbers(loss_fn, ps, per_column_numbers)
    if route == "auto" and closed:
        chosen, why = "closed_form", "auto: a linear chain with the squared loss has the closed form"
    elif route in ("auto", "autograd"):
        if chain:
            chosen, why = "torch_func", f"{route}: torch.func on a checked chain (numerics.chains)"
        else:
            chosen, why = "double_backward", f"{route}: double backward for a loss dlnkit cannot inspect"
    else:
        chosen, why = route, "asked for by name"
    if chosen == "closed_form" and not closed:
        raise DlnkitInputError(
            "the closed-form Hessian applies only to a linear chain with the squared loss "
            "(numerics.chains.ChainLoss / MomentLoss); use route='autograd'"
        )
    c = 0
    if chosen == "hvp_columns":
        c = int(chunk_size) if chunk_size else choose_chunk_size(P, budget, dtype, per_column_numbers=4 * w)
    need = route_bytes(chosen, P, dtype, work_numbers=w, chunk_size=max(c, 1))
    if need <= budget:
        return HessianPlan(chosen, P, need, budget, c, w, why)
    if route in ("auto", "autograd") and chosen != "hvp_columns":
        c = choose_chunk_size(P, budget, dtype, per_column_numbers=4 * w)  # refuses when one column does not fit
        need_c = route_bytes("hvp_columns", P, dtype, work_numbers=w, chunk_size=c)
        why = f"{chosen} would need about {_gib(need)}, more than the {_gib(budget)} budget: HVP columns"
        return HessianPlan("hvp_columns", P, need_c, budget, c, w, why)
    raise HessianTooLargeError(
        f"the {chosen} route to a dense {P} x {P} Hessian ({dtype}) needs about {_gib(need)}, more than the "
        f"{_gib(budget)} budget on {device}; use route='auto' (falls back to HVP columns), HessianOperator "
        "(HVPs, Lanczos) or a structured form"
    )


def _closed_form_data(loss_fn: LossFn) -> dict[str, torch.Tensor] | None:
    if isinstance(loss_fn, (ChainLoss, MomentLoss)):
        return loss_fn.closed_form_data()
    return None


@checked
def dense_hessian(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    *,
    route: str = "auto",
    budget_bytes: int | None = None,
    per_column_numbers: int | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """The exact P x P Hessian of ``loss_fn(*params)`` by the route :func:`plan_hessian` chooses.

    Rows and columns follow the concatenated row-major parameter layout.

    Parameters
    ----------
    loss_fn
        ``loss_fn(*params)`` returns a scalar tensor; a pure function of ``params``. Pass a
        :class:`~dlnkit.numerics.chains.ChainLoss` / ``MomentLoss`` for the chains (closed form,
        torch.func); any other callable is differentiated by double backward.
    params
        The tensors to differentiate with respect to.
    route
        ``"auto"``, ``"autograd"`` or one of :data:`ROUTES` (module doc).
    budget_bytes
        The memory budget; default 80% of the free memory of the parameters' device.
    per_column_numbers
        w, the loss's intermediates per evaluation in numbers, when the caller knows them; default:
        from the chain's sizes, or counted on one forward pass of the callable.
    chunk_size
        Columns per block on the ``hvp_columns`` route (default: the largest that fits).

    Returns
    -------
    torch.Tensor
        P x P, symmetric up to rounding, on the parameters' device and dtype.

    Raises
    ------
    HessianTooLargeError
        The Hessian does not fit (a :class:`DlnkitInputError`), refused before allocating.
    DlnkitInputError
        An empty parameter list, non-float, mixed dtype/device or non-finite parameters; an
        unknown route or a closed form that does not apply.

    Examples
    --------
    >>> f = lambda a, b: (a ** 2).sum() * b.sum()
    >>> H = dense_hessian(f, [torch.ones(2, dtype=torch.float64), torch.ones(1, dtype=torch.float64)])
    >>> H.tolist()
    [[2.0, 0.0, 2.0], [0.0, 2.0, 2.0], [2.0, 2.0, 0.0]]
    """
    plan = plan_hessian(
        loss_fn,
        params,
        route=route,
        budget_bytes=budget_bytes,
        per_column_numbers=per_column_numbers,
        chunk_size=chunk_size,
    )
    ps = checked_params(params)
    if plan.route == "closed_form":
        data = _closed_form_data(loss_fn)
        assert data is not None  # plan_hessian refuses the closed form where it does not apply
        return dln_hessian_assembled(
            ps,
            X=data.get("X"),
            Y=data.get("Y"),
            sigma=data.get("sigma"),
            cross=data.get("cross"),
            target=data.get("target"),
        )
    if plan.route == "torch_func":
        return torch_func_hessian(loss_fn, ps)
    if plan.route == "double_backward":
        return double_backward_hessian(loss_fn, ps)
    return dense_hessian_chunked(
        loss_fn,
        ps,
        memory_budget_bytes=plan.budget_bytes,
        chunk_size=plan.chunk_size,
        per_column_numbers=4 * plan.work_numbers,
    )


class HessianOperator:
    """The Hessian of a loss as a curvature operator (:mod:`dlnkit.numerics.operators`): ``matvec`` is
    one exact HVP, ``matmat`` a ``vmap`` of them; products run on the parameters' device and dtype.

    :meth:`to_scipy` gives a ``scipy.sparse.linalg.LinearOperator`` (numpy float64 at the boundary)
    for ``eigsh``, ``cg`` and the like.

    Parameters
    ----------
    loss_fn
        ``loss_fn(*params)`` returns a scalar tensor.
    params
        The point.
    chunk_size
        How many HVPs ``matmat`` batches at once (``None``: all columns at once).

    Examples
    --------
    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> op = HessianOperator(lambda w: 0.5 * w @ A @ w, [torch.zeros(2, dtype=torch.float64)])
    >>> op.size, bool(torch.allclose(op.matmat(torch.eye(2, dtype=torch.float64)), A))
    (2, True)
    >>> np.allclose(op.to_scipy() @ np.eye(2), A.numpy()), op.num_hvps
    (True, 4)
    """

    symmetric = True  # Hessians are symmetric

    @checked
    def __init__(self, loss_fn: LossFn, params: Sequence[torch.Tensor], *, chunk_size: int | None = 64):
        self.loss_fn = loss_fn
        self.params = checked_params(params)
        self.num_params = sum(p.numel() for p in self.params)
        self.chunk_size = chunk_size
        self.num_hvps = 0
        ref = self.params[0]
        self._dtype, self._device = ref.dtype, ref.device

    @property
    def size(self) -> int:
        """The number of parameters (the operator is size x size)."""
        return self.num_params

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_params, self.num_params)

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' torch dtype (every HVP runs in it)."""
        return self._dtype

    @property
    def device(self) -> torch.device:
        """The parameters' device (where every HVP runs)."""
        return self._device

    param_dtype = dtype
    param_device = device

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H v for a flat vector (one HVP)."""
        self.num_hvps += 1
        return hvp(self.loss_fn, self.params, v.reshape(-1).to(dtype=self._dtype, device=self._device)).detach()

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """H V for a (P, k) block (k HVPs, ``chunk_size`` at a time)."""
        V = V.reshape(self.num_params, -1).to(dtype=self._dtype, device=self._device)
        self.num_hvps += V.shape[1]
        return hvp_batched(self.loss_fn, self.params, V, chunk_size=self.chunk_size).detach()

    def to_scipy(self) -> LinearOperator:
        """This Hessian as a ``scipy.sparse.linalg.LinearOperator`` (float64 numpy in and out)."""
        n = self.num_params

        def mm(X: np.ndarray) -> np.ndarray:
            V = torch.as_tensor(np.ascontiguousarray(X), dtype=self._dtype, device=self._device)
            out = self.matmat(V.reshape(n, -1)).cpu().numpy().astype(np.float64)
            return out.reshape(X.shape)

        return LinearOperator((n, n), matvec=mm, matmat=mm, rmatvec=mm, rmatmat=mm, dtype=np.float64)


__all__ = [
    "BUDGET_FRACTION",
    "HVP_MODES",
    "HessianOperator",
    "HessianPlan",
    "HessianTooLargeError",
    "REQUESTS",
    "ROUTES",
    "available_memory_bytes",
    "check_dense_fits",
    "check_route_fits",
    "checked_params",
    "dense_hessian",
    "dense_hessian_bytes",
    "flatten_params",
    "hvp",
    "hvp_batched",
    "hvp_mode",
    "plan_hessian",
    "route_bytes",
    "saved_numbers",
    "unflatten_like",
]
