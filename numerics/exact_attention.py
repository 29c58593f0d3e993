"""Run attention through its composite ("math") form, so every exact curvature route exists.

``F.scaled_dot_product_attention`` dispatches to fused kernels (flash, memory-efficient; on CPU a
flash kernel) that have no double-backward and no forward-mode formula, and ``nn.MultiheadAttention``
has a "fast path" (a fused native kernel) in eval mode. Inside :func:`exact_attention`

* SDPA uses only the math backend (``torch.nn.attention.sdpa_kernel(SDPBackend.MATH)``, torch >= 2.3;
  ``torch.backends.cuda.sdp_kernel`` on older torch), written with matmul and softmax, which have
  every derivative;
* the MHA fast path is off (``torch.backends.mha.set_fastpath_enabled(False)`` where it exists).

The math backend computes the same function (the fused kernels are faster implementations of it), so
values agree to rounding and derivatives become available. Both settings are restored on exit.

>>> import torch
>>> q = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
>>> with exact_attention():
...     out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
...     (g,) = torch.autograd.grad(out.sum(), q, create_graph=True)
...     (h,) = torch.autograd.grad(g.sum(), q)
>>> tuple(h.shape)
(1, 2, 3, 4)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from dlnkit.arguments import checked


@checked
@contextlib.contextmanager
def exact_attention() -> Iterator[None]:
    """Math-backend SDPA and no MHA fast path inside the block (see the module docstring)."""
    with contextlib.ExitStack() as stack:
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            stack.enter_context(sdpa_kernel(SDPBackend.MATH))
        except ImportError:  # torch < 2.3
            stack.enter_context(
                torch.backends.cuda.sdp_kernel(enable_flash=False, enable_math=True, enable_mem_efficient=False)
            )
        mha = getattr(torch.backends, "mha", None)
        if mha is not None and hasattr(mha, "set_fastpath_enabled"):
            before = bool(mha.get_fastpath_enabled())
            mha.set_fastpath_enabled(False)
            stack.callback(mha.set_fastpath_enabled, before)
        yield


__all__ = ["exact_attention"]
