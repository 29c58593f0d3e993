"""PyHessian (0.1) as a named baseline: its Hessian object with every data-set HVP counted, and the
one substitution its density needs on torch >= 1.9 (``torch.eig`` was removed; PyHessian calls it on
the symmetric Lanczos tridiagonal, so ``torch.linalg.eigh`` gives the same answer). Nothing else of
PyHessian is changed. Used by :mod:`benchmarks.real_networks` and
:mod:`benchmarks.real_network_sections`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def counted_pyhessian(model: Any, loss: Any, loader: Any) -> tuple[Any, dict[str, int]]:
    """PyHessian's ``hessian`` object over ``loader`` on the CPU and a counter ``{"n": HVPs so far}``
    that every data-set HVP it makes increments."""
    from pyhessian import hessian as PyHessian

    counter = {"n": 0}
    comp = PyHessian(model, loss, dataloader=loader, cuda=False)
    original = comp.dataloader_hv_product

    def counted(v: Any) -> Any:
        counter["n"] += 1
        return original(v)

    comp.dataloader_hv_product = counted
    return comp, counter


@contextmanager
def torch_eig_for_pyhessian() -> Iterator[None]:
    """``torch.eig`` as PyHessian 0.1's density expects it (eigenvalues as (n, 2) real/imaginary
    columns), from ``torch.linalg.eigh`` (the matrix is symmetric); the previous state is restored."""
    had = hasattr(torch, "eig")
    saved = getattr(torch, "eig", None)

    def eig_shim(T: torch.Tensor, eigenvectors: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        w, V = torch.linalg.eigh(T)
        return torch.stack([w, torch.zeros_like(w)], 1), V

    torch.eig = eig_shim  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if had:
            torch.eig = saved  # type: ignore[attr-defined]
        else:
            del torch.eig  # type: ignore[attr-defined]
