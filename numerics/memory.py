r"""Memory guards: refuse a computation *before* it allocates, from an estimate of its plan.

The budget is the smallest of what the machine, the process and its control group allow:

* ``MemAvailable`` from ``/proc/meminfo`` (CUDA: ``torch.cuda.mem_get_info``);
* the address-space limit ``RLIMIT_AS`` (``ulimit -v``) minus the process's current virtual size;
* the control group's limit (``memory.max`` for cgroup v2, ``memory.limit_in_bytes`` for v1)
  minus its current usage.

Estimates count every buffer a route holds at its peak. The factors below were measured with
``ru_maxrss`` on float64 deep linear networks (``docs``/tests re-measure them):

* in-place closed-form assembly: 1.3 P x P, 2.3-2.5 with ``eigvalsh``;
* block-by-block closed form (Gauss-Newton + residual + sum): 3.3-3.4 P x P;
* ``torch.func`` dense Hessian: P x P plus one copy of the forward/backward intermediates per
  tangent (10-16 P x P at the sizes the claims use), see :func:`autograd_hessian_bytes`.

>>> check_allocation(10**6, "a small buffer") > 0
True
"""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dlnkit.arguments import checked
from dlnkit.numerics.dims import num_params
from dlnkit.numerics.validation import DlnkitInputError

if TYPE_CHECKING:  # torch is imported lazily here; the annotation only names it
    import torch

#: bytes per float64 number
F64 = 8
#: peak P x P copies of the routes (measured, rounded up; see the module doc)
COPIES_ASSEMBLED = 1.5
COPIES_EIGVALSH = 1.5
COPIES_BLOCKWISE = 4.0


class AllocationTooLargeError(DlnkitInputError, MemoryError):
    """A computation would need more memory than the machine, ``ulimit -v`` or the cgroup allows."""


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def vm_size() -> int:
    """The process's current virtual size (bytes), which RLIMIT_AS bounds."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text in ("", "max"):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _cgroup_headroom() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2 or v1); None when unlimited/unknown."""
    root = Path("/sys/fs/cgroup")
    candidates: list[tuple[Path, Path]] = []
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, rel = parts
            rel = rel.lstrip("/")
            if controllers == "":
                candidates.append((root / rel / "memory.max", root / rel / "memory.current"))
            elif "memory" in controllers.split(","):
                candidates.append(
                    (root / "memory" / rel / "memory.limit_in_bytes", root / "memory" / rel / "memory.usage_in_bytes")
                )
    except OSError:
        pass
    # inside a container the cgroup is usually mounted at the root
    candidates += [
        (root / "memory.max", root / "memory.current"),
        (root / "memory" / "memory.limit_in_bytes", root / "memory" / "memory.usage_in_bytes"),
    ]
    best: int | None = None
    for lim_path, use_path in candidates:
        lim = _read_int(lim_path)
        if lim is None or lim >= 2**60:  # "max" or the v1 "unlimited" sentinel
            continue
        used = _read_int(use_path) or 0
        room = max(0, lim - used)
        best = room if best is None else min(best, room)
    return best


def _rlimit_headroom() -> int | None:
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ValueError, OSError):  # pragma: no cover - exotic platforms
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    return max(0, int(soft) - vm_size())


def memory_budget_bytes(device: str | torch.device | int = "cpu") -> int:
    """Bytes this process may still allocate on ``device``: the minimum of free memory,
    ``RLIMIT_AS`` headroom and cgroup headroom (CPU), or the free CUDA memory."""
    import torch

    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free)
    limits = [x for x in (_meminfo_available(), _rlimit_headroom(), _cgroup_headroom()) if x is not None]
    if not limits:
        try:
            limits.append(int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
        except (ValueError, OSError, AttributeError):  # pragma: no cover
            limits.append(8 * 2**30)
    return min(limits)


@checked
def check_allocation(
    nbytes: float,
    what: str,
    device: str | torch.device | int = "cpu",
    *,
    fraction: float = 0.8,
    budget_bytes: int | None = None,
    hint: str = "",
) -> int:
    """Raise :class:`AllocationTooLargeError` when ``nbytes`` exceed ``fraction`` of the budget.

    Returns the estimate (bytes). ``fraction`` leaves room for what the estimate does not see
    (allocator fragmentation, the interpreter itself).
    """
    if math.isnan(nbytes) or nbytes < 0:  # an estimate is a count of bytes
        raise DlnkitInputError(f"the memory estimate of {what} must be a number of bytes >= 0, got {nbytes!r}")
    if not 0 < fraction <= 1:
        raise DlnkitInputError(f"fraction must be in (0, 1], got {fraction!r}")
    need = int(min(nbytes, 2.0**80))  # inf: larger than any budget
    budget = int(fraction * memory_budget_bytes(device)) if budget_bytes is None else int(budget_bytes)
    if need > budget:
        raise AllocationTooLargeError(
            f"{what} needs about {_gib(need)} of memory, more than the {_gib(budget)} available "
            f"(free memory, ulimit -v and cgroup limits)" + (f"; {hint}" if hint else "")
        )
    return need


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB" if n < 2**50 else f"{n / 2**40:.3g} TiB"


@checked
def dln_point_bytes(dims: Sequence[int], batch: int, rank: int) -> int:
    """Peak bytes of building a DLN point: teacher map (U, V, M and its diagonal product), weights
    (built in float64, then cloned/moved), covariance and its eigendecomposition, data batch."""
    d_in, d_out = int(dims[0]), int(dims[-1])
    weights = num_params(dims)
    teacher = 3 * d_out * d_in + 2 * (d_in + d_out) * rank
    covariance = 3 * d_in * d_in
    data = 3 * batch * d_in + 2 * batch * d_out
    hidden_bases = sum(int(d) * rank for d in dims)
    return F64 * (teacher + 3 * weights + covariance + data + hidden_bases)


@checked
def dense_spectrum_bytes(num_params: int, *, route: str = "assembled") -> int:
    """Peak bytes of a dense P x P Hessian built by ``route`` and then passed to ``eigvalsh``."""
    copies = {"assembled": COPIES_ASSEMBLED, "blockwise": COPIES_BLOCKWISE}[route] + COPIES_EIGVALSH
    return int(copies * F64 * float(num_params) ** 2)


@checked
def autograd_hessian_bytes(num_params: int, batch: int, widths_sum: int) -> int:
    """Peak bytes of a ``torch.func`` dense Hessian of a chain of matrix products: P x P for the
    result and its blocks, plus the forward/backward intermediates (about 4 B sum(d) numbers) for
    each of the P tangents it vectorises over."""
    P = float(num_params)
    return int(F64 * (6.0 * P * P + 4.0 * P * batch * widths_sum))


#: (m x n) x k numbers the directional curvatures hold per layer at their peak: the directions
#: vec(u_k v_k^T) (the einsum and its view), the products H D (the accumulator and the loop's
#: output) and D * H D; see tests/test_hostile_memory.py for the measured peaks
ALIGNMENT_DIRECTION_COPIES = 6.0
#: m x n numbers per layer besides the directions: its gradient (kept for the whole run), the
#: gradient's SVD (U, V^T and LAPACK's copy) and the factors' cross term delta^T A
ALIGNMENT_GRADIENT_COPIES = 5.0
#: (m^2 + n^2) numbers per layer with Kronecker factors: the factors kept for the whole run, and at
#: a layer's peak the sums of the pass, their symmetrised copies, eigenvectors and ``eigh``'s
#: workspace (LAPACK's syevd asks 2 n^2 + 6 n + 1 numbers)
ALIGNMENT_FACTOR_KEPT = 2.0
ALIGNMENT_FACTOR_PEAK = 5.0
#: what an analysis holds whatever the sizes (autograd's engine and hooks, LAPACK's SVD and eigh
#: workspaces, the refusal checks' passes): measured 46 MiB on a 5-6-3 MLP
ALIGNMENT_FIXED_BYTES = 64 * 2**20


@checked
def alignment_layer_bytes(m: int, n: int, directions: int, factors: bool, *, itemsize: int = F64) -> int:
    r"""Peak bytes of analysing one m x n layer with ``directions`` gradient directions (at most
    min(m, n) are used), beyond what the run keeps (:func:`alignment_plan_bytes`):
    :math:`6kmn + 5mn + 5(m^2 + n^2)` numbers (the last term only with Kronecker factors).

    >>> alignment_layer_bytes(1000, 1000, 20, True) // 2**20  # 1000 x 1000 layer, k = 20
    1029
    """
    m, n = int(m), int(n)
    P = float(m) * n
    sq = (float(m) ** 2 + float(n) ** 2) if factors else 0.0
    k = min(int(directions), m, n)
    return int(
        itemsize * (ALIGNMENT_DIRECTION_COPIES * k * P + ALIGNMENT_GRADIENT_COPIES * P + ALIGNMENT_FACTOR_PEAK * sq)
    )


@checked
def alignment_plan_bytes(
    layers: Sequence[tuple[int, int, bool]], directions: int = 2, *, itemsize: int = F64, gauss_newton: bool = False
) -> int:
    r"""Peak bytes of the per-layer alignment analysis of a model (one pass for every layer's
    gradient and Kronecker factors, then the layers one at a time), beyond the model's copy and
    one batch's forward/backward: :data:`ALIGNMENT_FIXED_BYTES`, what every layer keeps,
    :math:`\sum_l [2 m_l n_l + 2(m_l^2 + n_l^2)]` numbers (Gauss-Newton factors add
    :math:`3 m_l^2`), plus the largest :func:`alignment_layer_bytes`.

    ``layers``: (m, n, has_factors) per analysed layer. ``directions``: what is known before the
    pass; the default 2 (a fit needs two) is the least any layer uses: the number actually kept is
    bounded by the gradient's rank, known only after the pass, when each layer checks its own
    :func:`alignment_layer_bytes`.

    >>> alignment_plan_bytes([(1000, 1000, True)], 20) // 2**20
    1139
    """
    kept, peak = 0.0, 0
    for m, n, factors in layers:
        P, sq = float(m) * int(n), (float(m) ** 2 + float(n) ** 2) if factors else 0.0
        gn = 3.0 * float(m) ** 2 if gauss_newton and factors else 0.0
        kept += 2.0 * P + ALIGNMENT_FACTOR_KEPT * sq + gn
        peak = max(peak, alignment_layer_bytes(m, n, directions, bool(factors), itemsize=itemsize))
    return ALIGNMENT_FIXED_BYTES + int(itemsize * kept) + peak


__all__ = [
    "AllocationTooLargeError",
    "alignment_layer_bytes",
    "alignment_plan_bytes",
    "memory_budget_bytes",
    "check_allocation",
    "dln_point_bytes",
    "dense_spectrum_bytes",
    "autograd_hessian_bytes",
    "vm_size",
]
