r"""Trace estimators from matrix-vector products: exact, Hutchinson and Hutch++.

* Hutchinson: :math:`\widehat{\operatorname{tr}} = \frac1m\sum_{i=1}^m g_i^\top A g_i`, Rademacher
  :math:`g_i`; unbiased, variance :math:`\frac2m(\|A\|_F^2-\sum_i A_{ii}^2)`, i.e. error
  :math:`O(1/\sqrt m)`.
* Hutch++ (Meyer, Musco, Musco, Woodruff, arXiv:2010.09649): with :math:`m` products split in
  thirds, :math:`S, G\in\{\pm1\}^{n\times m/3}`, :math:`Q=\operatorname{orth}(AS)`,

  .. math:: \widehat{\operatorname{tr}} = \operatorname{tr}(Q^\top A Q)
            + \tfrac{3}{m}\operatorname{tr}\bigl(G^\top (I-QQ^\top) A (I-QQ^\top) G\bigr),

  unbiased, error :math:`O(1/m)` for PSD :math:`A`: the top of the spectrum is taken exactly and
  only the deflated rest is sampled. It wins when a few eigenvalues carry the trace (Hessians of
  trained networks); on a flat spectrum it spends a third of its products on a useless sketch.

Each routine takes a curvature operator (:mod:`dlnkit.numerics.operators`: ``HessianOperator``,
``ModelCurvature``, ``DenseOperator``, a square tensor) or a torch function of an (n, k) block
together with ``n``, works in float64 and counts the products it spends.

>>> A = torch.diag(torch.arange(1.0, 51.0, dtype=torch.float64))
>>> exact_trace(lambda V: A @ V, 50).trace
1275.0
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlnkit.arguments import checked
from dlnkit.numerics.operators import CurvatureOperator, as_operator
from dlnkit.numerics.validation import DlnkitInputError


@dataclass(frozen=True)
class TraceResult:
    trace: float
    num_matvecs: int
    method: str
    stderr: float = float("nan")  # Hutchinson's sample standard error (nan for the others)


def _rademacher(n: int, k: int, g: torch.Generator) -> torch.Tensor:
    return (torch.randint(0, 2, (n, k), generator=g, dtype=torch.int64) * 2 - 1).to(torch.float64)


def _apply(op: CurvatureOperator, V: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat(
        [
            op.matmat(V[:, i : i + batch].to(op.dtype)).to(torch.float64).cpu().reshape(V.shape[0], -1)
            for i in range(0, V.shape[1], batch)
        ],
        dim=1,
    )


@checked
def exact_trace(op: object, n: int | None = None, *, batch: int = 64) -> TraceResult:
    """tr A from the n products with unit vectors (the reference)."""
    A = as_operator(op, n)
    n = A.size
    tot = 0.0
    for j in range(0, n, batch):
        c = min(batch, n - j)
        E = torch.zeros(n, c, dtype=torch.float64)
        E[torch.arange(j, j + c), torch.arange(c)] = 1.0
        tot += float(torch.diagonal(_apply(A, E, c)[j : j + c]).sum())
    return TraceResult(tot, n, "exact")


@checked
def hutchinson(
    op: object, n: int | None = None, num_matvecs: int = 30, *, seed: int = 0, batch: int = 32
) -> TraceResult:
    """Hutchinson's estimate with ``num_matvecs`` Rademacher probes and its standard error.

    >>> A = torch.diag(torch.tensor([1.0, -2.0, 5.0], dtype=torch.float64))
    >>> hutchinson(lambda V: A @ V, 3, 4).trace  # diagonal: every probe is exact
    4.0
    """
    if num_matvecs < 1:
        raise DlnkitInputError(f"num_matvecs must be >= 1, got {num_matvecs}")
    A = as_operator(op, n)
    g = torch.Generator().manual_seed(int(seed))
    V = _rademacher(A.size, int(num_matvecs), g)
    x = (V * _apply(A, V, batch)).sum(0)
    se = float(x.std(unbiased=True)) / num_matvecs**0.5 if num_matvecs > 1 else float("nan")
    return TraceResult(float(x.mean()), int(num_matvecs), "hutchinson", se)


@checked
def hutchpp(op: object, n: int | None = None, num_matvecs: int = 30, *, seed: int = 0, batch: int = 32) -> TraceResult:
    """Hutch++ with ``num_matvecs`` products (rounded down to a multiple of 3, at least 3).

    >>> Q = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0]
    >>> A = Q @ torch.diag(torch.cat([torch.tensor([100.0, 50.0]), torch.zeros(38, dtype=torch.float64)])) @ Q.T
    >>> abs(hutchpp(lambda V: A @ V, 40, 9).trace - 150.0) < 1e-9   # rank 2 <= sketch: exact
    True
    """
    third = int(num_matvecs) // 3
    if third < 1:
        raise DlnkitInputError(f"Hutch++ needs at least 3 products, got {num_matvecs}")
    A = as_operator(op, n)
    n = A.size
    third = min(third, n)
    g = torch.Generator().manual_seed(int(seed))
    S = _rademacher(n, third, g)
    G = _rademacher(n, third, g)
    Q, _ = torch.linalg.qr(_apply(A, S, batch))
    top = float(torch.trace(Q.T @ _apply(A, Q, batch)))
    Gp = G - Q @ (Q.T @ G)
    rest = float((Gp * _apply(A, Gp, batch)).sum()) / third
    return TraceResult(top + rest, 3 * third, "hutchpp")


__all__ = ["TraceResult", "exact_trace", "hutchinson", "hutchpp"]
