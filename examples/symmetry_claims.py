"""Three claims about deep linear networks, written with dlnkit's public API only, the way a user
would write their own. Run them with

    dlnkit verify --from examples/symmetry_claims.py            # float64, drawn + default configs
    dlnkit verify --from examples/symmetry_claims.py --exact    # rational arithmetic, zero tolerance
    dlnkit counterexample sym-orbit-null --drop global_minimum  # (when that command is installed)

1. ``sym-orbit-null``: the rescaling symmetry W_{l+1} -> W_{l+1} A^-1, W_l -> A W_l. At a global
   minimum every orbit direction is a Hessian null direction; at a balanced aligned minimum of
   rank r the orbit has dimension sum_l r (2 d_l - r) (derived in dlnkit.theory.symmetry). We
   measure the dimension of (tangent space of the orbit) intersected with (null space of H) and
   compare it with that count; the details compare it with B1's exact zero count.
2. ``gn-at-minimum``: at any global minimum (balanced or not, aligned or not, whitened or not)
   the Hessian equals its Gauss-Newton part.
3. ``gn-trace-whitened``: with whitened data, at any point, tr(H_GN) = sum_l ||P_l||_F^2 ||Q_l||_F^2.

And a companion to 1: ``sym-nullity-gap``, the zeros of B1 that the symmetry does *not* explain,
nullity(H) - dim(orbit) = sum_{l=1}^{L} (d_l - r)(d_{l-1} - r) (dlnkit.theory.symmetry).
"""

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

import dlnkit as dk
from dlnkit import strategies as ds
from dlnkit.theory.exact_hessian import exact_dln_hessian_by_differentiation, exact_rank, partial_products_exact
from dlnkit.theory.symmetry import (
    balanced_minimum_zero_count,
    rescaling_orbit_dimension,
    rescaling_tangent_vectors_exact,
    symmetry_nullity_gap,
)

#: a minimum moved off by W_L -> (1 + e) W_L: the violating side of "global_minimum"
OFF_MINIMUM = st.sampled_from([0.05, 0.2, -0.1]).map(lambda e: {"offset": e})


# ---------------------------------------------------------------------------------------------
# 1. the rescaling symmetry's orbit lies in the Hessian's null space


def tangent_vectors(weights):
    """Columns (A W_l, -W_{l+1} A) for the basis matrices A = E_ab of every hidden layer."""
    sizes = [W.numel() for W in weights]
    off = np.concatenate([[0], np.cumsum(sizes)])
    cols = []
    for l in range(1, len(weights)):
        W_in, W_out = weights[l - 1], weights[l]  # hidden layer l sits between them
        d = W_in.shape[0]
        for a in range(d):
            for b in range(d):
                v = torch.zeros(int(off[-1]), dtype=torch.float64)
                E = torch.zeros(d, d, dtype=torch.float64)
                E[a, b] = 1.0
                v[off[l - 1] : off[l]] = (E @ W_in.cpu()).reshape(-1)
                v[off[l] : off[l + 1]] = (-W_out.cpu() @ E).reshape(-1)
                cols.append(v)
    return torch.stack(cols, 1) if cols else torch.zeros(int(off[-1]), 0, dtype=torch.float64)


def numerical_rank(M, rtol):
    if M.numel() == 0:
        return 0
    s = torch.linalg.svdvals(M)
    return int((s > rtol * max(float(s[0]), 1e-300)).sum())


def measure_orbit_null(cfg, device):
    point = dk.build_point(cfg, device)
    P = sum(W.numel() for W in point.weights)
    H = (dk.autograd_hessian(point) if P <= 2500 else dk.hessian(point)).cpu()
    T = tangent_vectors([W.cpu() for W in point.weights])
    rank_T = numerical_rank(T, 1e-9)
    if rank_T == 0:
        return {"value": 0, "tangent_rank": 0}
    U = torch.linalg.svd(T, full_matrices=False).U[:, :rank_T]  # orthonormal basis of the tangent space
    h_norm = float(torch.linalg.matrix_norm(H, 2))
    s = torch.linalg.svdvals(H @ U)
    moved = int((s > 1e-9 * max(h_norm, 1e-300)).sum())  # tangent directions H does not kill
    ev = torch.linalg.eigvalsh(H)
    zeros = int((ev.abs() <= 1e-9 * max(h_norm, 1e-300)).sum())
    r = len(cfg["t"])
    b1_zeros = int(balanced_minimum_zero_count(cfg["dims"], r))
    return {
        "value": rank_T - moved,
        "tangent_rank": rank_T,
        "hessian_zero_count": zeros,
        "b1_zero_count": b1_zeros,
        "zeros_not_from_symmetry": b1_zeros - (rank_T - moved),
    }


def exact_orbit_null(cfg):
    point = dk.exact_point(cfg)
    H = dk.exact_hessian(point)
    T = rescaling_tangent_vectors_exact(point["weights"])
    rank_T = exact_rank(T)
    killed = rank_T - exact_rank(H * T)  # dim(tangent space ∩ ker H), exactly
    nullity = H.shape[0] - exact_rank(H)
    b1 = int(balanced_minimum_zero_count(cfg["dims"], len(cfg["t"])))
    return {
        "value": killed,
        "exact_hessian_nullity": nullity,
        "b1_zero_count": b1,
        "symmetry_explains_every_zero": killed == nullity,
    }


def hidden_below_rank(cfg):
    """Violate "hidden_width_ge_rank": a hidden layer of width 1 under a target of rank >= 2."""
    t = list(cfg["t"]) if len(cfg["t"]) >= 2 else [cfg["t"][0], cfg["t"][0] / 2]
    d = list(cfg["dims"])
    d_in, d_out = max(d[0], 2), max(d[-1], 2)
    hidden = [1] + [max(x, 2) for x in d[2:-1]] if len(d) > 2 else [1]
    return {"dims": [d_in, *hidden, d_out], "t": t}


dk.define_claim(
    id="sym-orbit-null",
    title="rescaling-orbit directions are Hessian null directions; count = sum_l r(2d_l - r)",
    predict=lambda cfg: rescaling_orbit_dimension(cfg["dims"], len(cfg["t"])),
    measure=measure_orbit_null,
    exact_measure=exact_orbit_null,
    strategy=ds.balanced_aligned_points(min_depth=1, max_depth=3, max_width=5),
    assumptions={
        "global_minimum": ("the point is a global minimum (zero residual)", None, OFF_MINIMUM),
        "hidden_width_ge_rank": ("every hidden width is at least the target rank r", None, hidden_below_rank),
    },
    tolerance=dk.Tolerance(
        atol=0,
        reason="an integer count: tangent rank from singular values above 1e-9 of "
        "the largest, 'killed by H' = ||H u|| <= 1e-9 ||H||_2 (float64 rounding is ~1e-15)",
    ),
    default_configs=[
        {"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0},
        {"dims": [3, 3, 3], "t": [1.5, 1.0, 0.5], "seed": 1},
        {"dims": [2, 4, 3, 2], "t": [1.0], "seed": 2},
    ],
    source="examples/symmetry_claims.py",
)


def measure_nullity_gap(cfg, device):
    m = measure_orbit_null(cfg, device)
    return m.get("hessian_zero_count", 0) - m["tangent_rank"]


def exact_nullity_gap(cfg):
    point = dk.exact_point(cfg)
    H = dk.exact_hessian(point)
    return (H.shape[0] - exact_rank(H)) - exact_rank(rescaling_tangent_vectors_exact(point["weights"]))


dk.define_claim(
    id="sym-nullity-gap",
    title="zeros of H not from the symmetry: nullity - dim(orbit) = sum_l (d_l - r)(d_{l-1} - r)",
    predict=lambda cfg: symmetry_nullity_gap(cfg["dims"], len(cfg["t"])),
    measure=measure_nullity_gap,
    exact_measure=exact_nullity_gap,
    strategy=ds.balanced_aligned_points(min_depth=2, max_depth=3, max_width=5),
    assumptions={"global_minimum": ("the point is a global minimum (zero residual)", None, OFF_MINIMUM)},
    tolerance=dk.Tolerance(atol=0, reason="integer counts, thresholds as for sym-orbit-null"),
    default_configs=[
        {"dims": [4, 5, 3], "t": [2.0, 1.0], "seed": 0},
        {"dims": [3, 3, 3], "t": [1.5, 1.0, 0.5], "seed": 1},
    ],
    source="examples/symmetry_claims.py",
)


# ---------------------------------------------------------------------------------------------
# 2. at a global minimum the Hessian is its Gauss-Newton part


def measure_gn_gap(cfg, device):
    point = dk.build_point(cfg, device)
    H = dk.autograd_hessian(point)
    gn = dk.gauss_newton_hessian(point)
    return float((H - gn).abs().max() / H.abs().max())


def exact_gn_gap(cfg):
    point = dk.exact_point(cfg)
    _, gn, _ = dk.exact_hessian(point, parts=True)
    P = gn.shape[0]
    # the full Hessian by an independent exact route where it is affordable
    H = (
        exact_dln_hessian_by_differentiation(point["weights"], point["sigma"], point["cross"])
        if P <= 40
        else dk.exact_hessian(point)
    )
    return max(abs(x) for x in (H - gn))


dk.define_claim(
    id="gn-at-minimum",
    title="at any global minimum the Hessian equals its Gauss-Newton part",
    predict=sp.Integer(0),
    measure=measure_gn_gap,
    exact_measure=exact_gn_gap,
    strategy=ds.global_minima(balanced=None, aligned=None, whitened=None, max_depth=3, max_width=5),
    assumptions={"global_minimum": ("the point is a global minimum (zero residual)", None, OFF_MINIMUM)},
    tolerance=dk.Tolerance(
        atol=1e-11,
        reason="max |H - H_GN| / max |H|: autograd vs closed form, both exact "
        "to rounding; the float minimum itself has a ~1e-16 residual",
    ),
    default_configs=[{"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0, "balance": 2.0, "anisotropy": 4.0}],
    source="examples/symmetry_claims.py",
)


# ---------------------------------------------------------------------------------------------
# 3. the trace of the Gauss-Newton part with whitened data


def gn_trace_formula(Ps, Qs, sq_norm):
    """sum_l ||P_l||_F^2 ||Q_l||_F^2 for any kind of matrix (float or exact)."""
    return sum(sq_norm(P) * sq_norm(Q) for P, Q in zip(Ps, Qs))


def predict_gn_trace(cfg):
    Ps, Qs = dk.build_point(cfg).partial_products()
    return gn_trace_formula(Ps, Qs, lambda M: float((M**2).sum()))


def exact_predict_gn_trace(cfg):
    Ps, Qs = partial_products_exact(dk.exact_point(cfg)["weights"])
    return gn_trace_formula(Ps, Qs, lambda M: sum(x**2 for x in M))


def measure_gn_trace(cfg, device):
    """tr(J^T J) with J the Jacobian (torch.func) of f on the inputs X = Sigma^(1/2): the
    Gauss-Newton part of the point's own data, whitened or not."""
    point = dk.build_point(cfg, device)
    ev, V = torch.linalg.eigh(point.sigma)
    root = (V * ev.clamp_min(0).sqrt()) @ V.T

    def outputs(*Ws):
        W = Ws[0]
        for M in Ws[1:]:
            W = M @ W
        return W @ root

    jac = torch.func.jacrev(outputs, argnums=tuple(range(len(point.weights))))(*point.weights)
    return float(sum((J**2).sum() for J in jac))


def exact_gn_trace(cfg):
    point = dk.exact_point(cfg)
    H, gn, _ = dk.exact_hessian(point, parts=True)
    return gn.trace()


dk.define_claim(
    id="gn-trace-whitened",
    title="whitened data, any point: tr(H_GN) = sum_l ||P_l||_F^2 ||Q_l||_F^2",
    predict=predict_gn_trace,
    exact_predict=exact_predict_gn_trace,
    measure=measure_gn_trace,
    exact_measure=exact_gn_trace,
    strategy=ds.generic_points(max_depth=4, max_width=4),
    assumptions={
        "whitened": (
            "inputs are whitened: (1/B) X^T X = I",
            {"anisotropy": 1.0},
            ds.anisotropy_factors.map(lambda k: {"anisotropy": k}),
        )
    },
    tolerance=dk.Tolerance(
        rtol=1e-12,
        reason="a sum of O(P) squares computed two ways (autograd Jacobian, "
        "closed-form norms); float64 rounding ~P eps relative",
    ),
    default_configs=[
        {"dims": [3, 4, 2], "seed": 0, "scale": 1.0, "anisotropy": 1.0},
        {"dims": [2, 3, 3, 3, 2], "seed": 1, "scale": 2.0, "anisotropy": 1.0},
    ],
    source="examples/symmetry_claims.py",
)
