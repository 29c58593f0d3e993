r"""Hessian, GGN and empirical Fisher of any ``nn.Module`` and loss over a whole data set.

:class:`ModelCurvature` holds a model, a loss (:mod:`dlnkit.numerics.losses`) and data
(:mod:`dlnkit.numerics.batches`). With the data-set loss

.. math:: \mathcal L(\theta) = \sum_b w_b\, L_b(\theta),\qquad w_b = B_b/N\ (\text{mean}),\ 1\ (\text{sum}),

(:math:`L_b` the loss module's value on batch b) it applies, batch by batch and summed,

* the Hessian :math:`H = \nabla^2\mathcal L` by **reverse-over-reverse** products (autograd's
  double backward on the functional model): this route needs only double-backward formulas, which
  every torch loss and layer has (unlike forward-over-reverse, which fails for ``nn.MSELoss`` and
  ``nn.HuberLoss``); the gradient's graph is built once per batch and differentiated per column;
* the generalised Gauss-Newton :math:`G = \sum_b w_b J_b^\top H^{out}_b J_b` (Jacobian-vector
  product, output Hessian of the loss by autodiff, vector-Jacobian product);
* the empirical Fisher :math:`F = c\sum_n \nabla\ell_n\nabla\ell_n^\top` with :math:`\ell_n` the
  per-sample loss terms and :math:`c = 1/(NE)` (mean; E elementwise terms per sample) or 1 (sum),
  as :math:`J_\ell^\top J_\ell v` on the vector of per-sample losses.

All three are curvlinops' ``HessianLinearOperator``, ``GGNLinearOperator`` and
``EFLinearOperator`` for the same loss module and data (tested in ``tests/test_oracle_curvlinops.py``
when curvlinops is installed). Parameters: the trainable ones by default (frozen parameters are
constants), or those named in ``params``; vectors are flat, in ``named_parameters`` order,
row-major within each tensor.

>>> torch.manual_seed(0) and None
>>> net = torch.nn.Linear(3, 2, dtype=torch.float64)
>>> X, y = torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 2, dtype=torch.float64)
>>> full = ModelCurvature(net, torch.nn.MSELoss(), (X, y)).dense()
>>> ragged = ModelCurvature(net, torch.nn.MSELoss(), [(X[:4], y[:4]), (X[4:], y[4:])]).dense()
>>> bool(torch.allclose(full, ragged, atol=1e-14)), tuple(full.shape)
(True, (8, 8))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn
from torch.func import functional_call, grad, jvp, vjp, vmap

from dlnkit.arguments import checked
from dlnkit.numerics.batches import Batches, as_batches
from dlnkit.numerics.exact_attention import exact_attention
from dlnkit.numerics.hessian import check_route_fits, saved_numbers
from dlnkit.numerics.losses import LossLike, LossSpec, resolve_loss
from dlnkit.numerics.model_checks import check_model_tensors, check_real_model
from dlnkit.numerics.operators import MatmatOperator
from dlnkit.numerics.validation import DlnkitInputError

KINDS = ("hessian", "ggn", "ef")


class ModelCurvature:
    """Curvature matrices of ``loss(model(X), y)`` summed over ``data`` (see the module docstring).

    ``params``: parameter names (``model.named_parameters()`` keys) or module names (all of that
    module's parameters) to differentiate; default every trainable parameter.
    """

    @checked
    def __init__(
        self,
        model: nn.Module,
        loss: LossLike,
        data: Any,
        *,
        params: Sequence[str] | None = None,
        reduction: str | None = None,
        progress: bool = False,
        check: bool = True,
    ):
        if not isinstance(model, nn.Module):
            raise DlnkitInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        check_model_tensors(model)  # meta, complex and half-precision tensors: refused before anything runs
        self.model = model
        self.loss: LossSpec = resolve_loss(loss, reduction=reduction)
        self.data: Batches = as_batches(data, progress=progress)
        named = dict(model.named_parameters())  # shared (tied) parameters appear once
        if not named:
            raise DlnkitInputError("the model has no parameters")
        if params is None:
            chosen = [n for n, p in named.items() if p.requires_grad]
            if not chosen:
                raise DlnkitInputError(
                    "every parameter is frozen (requires_grad=False); name the ones to differentiate with params=[...]"
                )
        else:
            chosen = []
            for key in params:
                if key in named:
                    chosen.append(key)
                    continue
                sub = [n for n in named if n.startswith(key + ".")]
                # a module name frees its trainable parameters (a frozen bias is not part of its block);
                # a module whose parameters are all frozen frees them all, as naming them would
                sub = [n for n in sub if named[n].requires_grad] or sub
                if not sub:
                    raise DlnkitInputError(
                        f"no parameter or module named {key!r}; parameters: "
                        f"{', '.join(list(named)[:12])}{' ...' if len(named) > 12 else ''}"
                    )
                chosen += sub
            chosen = list(dict.fromkeys(chosen))
            if not chosen:
                raise DlnkitInputError("params is empty; name at least one parameter or module (or pass None: all)")
        self.names = chosen
        self.params = tuple(named[n].detach() for n in chosen)
        dtypes = {p.dtype for p in self.params}
        devices = {p.device for p in self.params}
        if len(dtypes) > 1 or len(devices) > 1:
            raise DlnkitInputError(f"the chosen parameters mix dtypes/devices {sorted(map(str, dtypes | devices))}")
        if not self.params[0].is_floating_point():
            raise DlnkitInputError("parameters must be floating point")
        self.dtype, self.device = self.params[0].dtype, self.params[0].device
        self.fixed = {n: p.detach() for n, p in named.items() if n not in chosen}
        self.fixed.update({n: b for n, b in model.named_buffers()})
        self.shapes = [p.shape for p in self.params]
        self.sizes = [p.numel() for p in self.params]
        self.num_params = int(sum(self.sizes))
        self.num_samples = self.data.num_samples
        self.num_products = 0  # matrix-vector products applied (columns), all kinds
        if check:
            X0, y0 = next(self.data.iterate(device=self.device, dtype=self.dtype, check=False))
            check_real_model(model, lambda X: self._forward(self.params, X), self.loss, X0, y0, params=self.names)

    # ----- functional pieces --------------------------------------------------------------
    def _forward(self, ps: Sequence[torch.Tensor], X: Any) -> torch.Tensor:
        """The model at parameters ``ps``, attention on its math backend (:mod:`~dlnkit.numerics.exact_attention`:
        fused attention kernels have no second derivatives)."""
        state = {**self.fixed, **dict(zip(self.names, ps))}
        args = tuple(X) if isinstance(X, (tuple, list)) else (X,)
        with exact_attention():
            out: torch.Tensor = functional_call(self.model, state, args)
        return out

    def _batches(self, desc: str) -> Any:
        for X, y in self.data.iterate(device=self.device, dtype=self.dtype, desc=desc):
            self.loss.check_targets(y)
            yield X, y, self.loss.batch_weight(int(y.shape[0]), self.num_samples)

    def _split(self, V: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(P, k) -> per-parameter (k, *shape) tangents."""
        out, i = [], 0
        for shape, n in zip(self.shapes, self.sizes):
            out.append(V[i : i + n].T.reshape(V.shape[1], *shape))
            i += n
        return tuple(out)

    def _join(self, parts: Sequence[torch.Tensor], k: int) -> torch.Tensor:
        return torch.cat([t.reshape(k, -1) for t in parts], dim=1).T

    # ----- values -------------------------------------------------------------------------
    def loss_and_gradient(self) -> tuple[float, torch.Tensor]:
        """The data-set loss and its flat gradient."""
        total, g = 0.0, torch.zeros(self.num_params, dtype=self.dtype, device=self.device)
        for X, y, w in self._batches("gradient"):
            # plain reverse mode (not torch.func.vjp): it takes every autograd.Function, old style too
            qs = [p.clone().requires_grad_(True) for p in self.params]
            with torch.enable_grad():
                val = w * self.loss.batch_value(self._forward(qs, X), y)
                gs = torch.autograd.grad(val, qs, allow_unused=True) if val.requires_grad else [None] * len(qs)
            total += float(val.detach())
            g += torch.cat([(torch.zeros_like(q) if gi is None else gi).reshape(-1) for q, gi in zip(qs, gs)])
        return total, g

    # ----- products -----------------------------------------------------------------------
    def matmat(self, V: torch.Tensor, kind: str = "hessian", *, chunk_size: int | None = 32) -> torch.Tensor:
        """``M @ V`` for a (P, k) block (or a P vector) with M the ``kind`` matrix over the data set."""
        if kind not in KINDS:
            raise DlnkitInputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        vec = V.ndim == 1
        V = V.reshape(self.num_params, -1).to(dtype=self.dtype, device=self.device)
        k = V.shape[1]
        tangents = self._split(V)
        acc = [torch.zeros(k, *s, dtype=self.dtype, device=self.device) for s in self.shapes]
        for X, y, w in self._batches(f"{kind} products"):
            with exact_attention():
                out = self._batch_product(kind, X, y, w, tangents, chunk_size)
            for a, o in zip(acc, out):
                a += o
        self.num_products += k
        res = self._join(acc, k)
        return res[:, 0] if vec else res

    def _batch_product(
        self, kind: str, X: Any, y: torch.Tensor, w: float, tangents: tuple[torch.Tensor, ...], chunk_size: int | None
    ) -> tuple[torch.Tensor, ...]:
        """One batch's contribution to ``M @ V``."""
        if kind == "hessian":
            return self._hessian_batch(X, y, w, tangents)
        try:
            if kind == "ggn":
                return self._ggn_batch(X, y, w, tangents, chunk_size)
            return self._ef_batch(X, y, tangents, chunk_size)
        except RuntimeError as exc:
            if "functorch transforms" not in str(exc) and "setup_context" not in str(exc):
                raise
            raise DlnkitInputError(
                f"the model uses a torch.autograd.Function without setup_context (the old style), which torch.func "
                f"cannot transform; the {kind} kind needs forward-mode products (torch.func.jvp): the Hessian kind "
                "works, or give the Function setup_context and jvp (pytorch.org/docs/stable/notes/extending.func.html)"
            ) from None

    def _hessian_batch(
        self, X: Any, y: torch.Tensor, w: float, tangents: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, ...]:
        """Reverse-over-reverse with plain autograd: the gradient's graph is built once per batch and
        differentiated once per column (``retain_graph``). On CPU this is several times faster than
        ``torch.func.vjp`` of ``grad`` for convolutions (measured on the zoo CNN: 0.25 s vs 0.64 s a
        column, plus 9 s of linearisation), and needs only double-backward formulas."""
        qs = [p.clone().requires_grad_(True) for p in self.params]
        k = tangents[0].shape[0]
        out = [torch.zeros(k, *s, dtype=self.dtype, device=self.device) for s in self.shapes]
        with torch.enable_grad():
            value = w * self.loss.batch_value(self._forward(qs, X), y)
            g = torch.autograd.grad(value, qs, create_graph=True, allow_unused=True)
            live = [i for i, gi in enumerate(g) if gi is not None and gi.requires_grad]
            if not live:  # the loss is at most linear in these parameters: H = 0
                return tuple(out)
            for j in range(k):
                hv = torch.autograd.grad(
                    [g[i] for i in live],
                    qs,
                    grad_outputs=[tangents[i][j] for i in live],
                    retain_graph=j < k - 1,
                    allow_unused=True,
                )
                for o, h in zip(out, hv):
                    if h is not None:
                        o[j] = h.detach()
        return tuple(out)

    def _ggn_batch(
        self, X: Any, y: torch.Tensor, w: float, tangents: tuple[torch.Tensor, ...], chunk_size: int | None
    ) -> tuple[torch.Tensor, ...]:
        fwd = lambda *ps: self._forward(ps, X)
        out, pull_model = vjp(fwd, *self.params)[:2]
        out = out.detach()

        def loss_of_output(o: torch.Tensor) -> torch.Tensor:
            return w * self.loss.batch_value(o, y)

        _, pull_loss = vjp(grad(loss_of_output), out)[:2]

        def column(*t: torch.Tensor) -> tuple[torch.Tensor, ...]:
            _, Jv = jvp(fwd, self.params, tuple(t))[:2]
            (HJv,) = pull_loss(Jv)
            return tuple(pull_model(HJv))

        return tuple(vmap(column, chunk_size=chunk_size)(*tangents))

    def _ef_batch(
        self, X: Any, y: torch.Tensor, tangents: tuple[torch.Tensor, ...], chunk_size: int | None
    ) -> tuple[torch.Tensor, ...]:
        per = lambda *ps: self.loss.per_sample(self._forward(ps, X), y)
        ell, pull = vjp(per, *self.params)[:2]
        if self.loss.reduction == "mean":
            E = self.loss.elements_per_sample(self._forward(self.params, X).detach(), y)
            c = 1.0 / (self.num_samples * E)
        else:
            c = 1.0

        def column(*t: torch.Tensor) -> tuple[torch.Tensor, ...]:
            _, u = jvp(per, self.params, tuple(t))[:2]
            return tuple(c * g for g in pull(u))

        return tuple(vmap(column, chunk_size=chunk_size)(*tangents))

    # ----- dense and operator views -------------------------------------------------------
    def dense(self, kind: str = "hessian", *, chunk_size: int = 64, budget_bytes: int | None = None) -> torch.Tensor:
        """The P x P matrix, ``chunk_size`` identity columns per pass over the data (memory-guarded by
        the Hessian dispatcher's estimate for HVP columns, with the graph size w counted on the first
        batch: :func:`dlnkit.numerics.hessian.route_bytes`)."""
        P = self.num_params
        X0, y0 = next(self.data.iterate(device=self.device, dtype=self.dtype, check=False))
        w = saved_numbers(lambda *ps: self.loss.batch_value(self._forward(ps, X0), y0), *self.params)
        check_route_fits(
            "hvp_columns",
            P,
            self.dtype,
            self.device,
            work_numbers=w,
            chunk_size=min(chunk_size, P),
            budget_bytes=budget_bytes,
        )
        M = torch.empty(P, P, dtype=self.dtype, device=self.device)
        for j in range(0, P, chunk_size):
            c = min(chunk_size, P - j)
            E = torch.zeros(P, c, dtype=self.dtype, device=self.device)
            E[torch.arange(j, j + c), torch.arange(c)] = 1.0
            M[:, j : j + c] = self.matmat(E, kind)
        return M

    def matvec_fn(self, kind: str = "hessian") -> Callable[[torch.Tensor], torch.Tensor]:
        """A torch function v -> M v (P vectors or (P, k) blocks on any device; returns float64 on CPU)."""
        return lambda v: self.matmat(v, kind).to(dtype=torch.float64, device="cpu")

    # the curvature-operator protocol (dlnkit.numerics.operators), for the Hessian; operator(kind) for the others
    symmetric = True

    @property
    def size(self) -> int:
        return self.num_params

    def matvec(self, v: torch.Tensor, kind: str = "hessian") -> torch.Tensor:
        """``M v`` for a flat P vector."""
        return self.matmat(v.reshape(-1), kind)

    def operator(self, kind: str = "hessian") -> MatmatOperator:
        """The ``kind`` matrix as a :class:`~dlnkit.numerics.operators.CurvatureOperator`."""
        if kind not in KINDS:
            raise DlnkitInputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        return MatmatOperator(lambda V: self.matmat(V, kind), self.num_params, dtype=self.dtype, device=self.device)

    def linear_operator(self, kind: str = "hessian") -> LinearOperator:
        """The matrix as a ``scipy.sparse.linalg.LinearOperator`` (float64; symmetric)."""
        P = self.num_params

        def mm(X: np.ndarray) -> np.ndarray:
            V = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float64).reshape(P, -1)
            return self.matvec_fn(kind)(V).numpy().reshape(X.shape)

        return LinearOperator((P, P), matvec=mm, matmat=mm, rmatvec=mm, rmatmat=mm, dtype=np.float64)

    def restricted(self, params: Sequence[str]) -> ModelCurvature:
        """The same model, loss and data with only ``params`` (names or module names) free: the
        diagonal block of the full matrix for those parameters."""
        return ModelCurvature(self.model, self.loss, self.data, params=params, check=False)

    def layer_names(self) -> list[str]:
        """Modules that own chosen parameters directly (for per-layer blocks), in order."""
        seen: dict[str, None] = {}
        for n in self.names:
            seen[n.rsplit(".", 1)[0] if "." in n else ""] = None
        return list(seen)

    # ----- spectra and traces -------------------------------------------------------------
    def top_eigenvalues(self, k: int = 5, kind: str = "hessian", **kw: Any) -> Any:
        """Top-k eigenvalues with multiplicities by block Lanczos (:mod:`dlnkit.numerics.top_eigenvalues`)."""
        from dlnkit.numerics.top_eigenvalues import top_eigenvalues

        return top_eigenvalues(self.operator(kind), k, **kw)

    def trace(self, kind: str = "hessian", *, method: str = "hutchpp", num_matvecs: int = 60, seed: int = 0) -> Any:
        """tr M by ``"exact"`` (P products with unit vectors), ``"hutchinson"`` or ``"hutchpp"``."""
        from dlnkit.numerics.trace_estimators import exact_trace, hutchinson, hutchpp

        op = self.operator(kind)
        if method == "exact":
            return exact_trace(op)
        if method == "hutchinson":
            return hutchinson(op, num_matvecs=num_matvecs, seed=seed)
        if method == "hutchpp":
            return hutchpp(op, num_matvecs=num_matvecs, seed=seed)
        raise DlnkitInputError(f"trace method must be 'exact', 'hutchinson' or 'hutchpp', got {method!r}")

    def density(self, kind: str = "hessian", *, num_probes: int = 8, num_steps: int = 60, seed: int = 0) -> Any:
        """Stochastic Lanczos quadrature (:func:`dlnkit.numerics.slq.slq`): nodes, weights, density."""
        from dlnkit.numerics.slq import slq

        return slq(self.operator(kind), num_probes=num_probes, num_steps=num_steps, seed=seed)


@checked
def dense_layer_blocks(curv: ModelCurvature, kind: str = "hessian") -> dict[str, torch.Tensor]:
    """The diagonal block of each layer (module owning parameters), by :meth:`ModelCurvature.restricted`."""
    return {
        name: curv.restricted([name] if name else [n for n in curv.names if "." not in n]).dense(kind)
        for name in curv.layer_names()
    }


__all__ = ["ModelCurvature", "dense_layer_blocks", "KINDS"]
