"""Why the depth claims (B0, B1, B1-ratio) fail once an assumption is dropped: one paragraph per
assumption, derived in SymPy where there is a derivation. Used by the claims' ``explain`` hook
(:mod:`dlnkit.claims.depth`), and through it by the counterexample gallery."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sympy as sp

from dlnkit.theory import aligned_minimum_weights, balanced_minimum_spectrum
from dlnkit.theory.exact_hessian import partial_products_exact
from dlnkit.theory.exact_point import exact_num_params
from dlnkit.theory.symbols import t_i as ti, t_j as tj

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.


def _rational(x: float) -> sp.Rational:
    return sp.nsimplify(float(x), rational=True)


def jjt_spectrum_symbolic(weights: list[sp.Matrix]) -> dict:
    """Eigenvalues (with multiplicities) of J J^T = sum_l (P_l P_l^T) (x) (Q_l^T Q_l) for SymPy weights,
    with P_l = W_L ... W_{l+1} and Q_l = W_{l-1} ... W_1.

    All-ones weights at dims [3, 4, 5, 2] (unequal widths): with u, v the all-ones directions,
    P_1 P_1^T = 100 uu^T-type (eigenvalue 200), Q_2^T Q_2 = 4 * ones (12), P_2 P_2^T = 5 * ones (10),
    Q_3^T Q_3 = 80 * ones (240), so (u, v) gets 200 + 10 * 12 + 240 = 560, (u, v-perp) 200 (x2),
    (u-perp, v) 240 and (u-perp, v-perp) 0 (x2):

    >>> W1, W2, W3 = sp.ones(4, 3), sp.ones(5, 4), sp.ones(2, 5)
    >>> sorted(jjt_spectrum_symbolic([W1, W2, W3]).items())
    [(0, 2), (200, 2), (240, 1), (560, 1)]
    """
    d_out, d_in = weights[-1].shape[0], weights[0].shape[1]
    P, Q = partial_products_exact(weights)
    out = sp.zeros(d_out * d_in, d_out * d_in)
    for Pl, Ql in zip(P, Q):
        out += sp.kronecker_product(Pl * Pl.T, Ql.T * Ql)
    return {sp.simplify(k): v for k, v in out.eigenvals().items()}


def _fmt_spec(spec: dict) -> str:
    items = sorted(spec.items(), key=lambda kv: -float(sp.N(kv[0])) if kv[0].is_number else 0)
    return ", ".join(f"{sp.sstr(k)} (x{v})" for k, v in items)


def explain_balanced(cfg: Mapping[str, Any], *, ratio: bool) -> str:
    c = sp.Symbol("c", positive=True)
    t = [_rational(x) for x in cfg["t"]]
    Ws = aligned_minimum_weights(cfg["dims"], t)
    Ws[0], Ws[1] = Ws[0] * c, Ws[1] / c
    spec = jjt_spectrum_symbolic(Ws)
    cv = _rational(cfg["balance"])
    at_c = {sp.nsimplify(k.subs(c, cv)): v for k, v in spec.items()}
    at_1 = {sp.nsimplify(k.subs(c, 1)): v for k, v in spec.items()}
    text = (
        f"Rescaling W_1 -> c W_1, W_2 -> W_2/c keeps the end-to-end map (still a global minimum) but "
        f"not the balance. SymPy, in the singular bases at dims {cfg['dims']}, t = {cfg['t']}: the nonzero "
        f"spectrum of J J^T is {_fmt_spec(spec)}; at c = 1 it is the balanced prediction "
        f"{_fmt_spec(at_1)}, at c = {cv} it is {_fmt_spec(at_c)}. The first layer's factor P_1 P_1^T "
        f"scales by c^-2 and the second layer's Q_2^T Q_2 by c^2, so every eigenvalue fed by one "
        f"layer more than the other moves."
    )
    if ratio:
        depth = len(cfg["dims"]) - 1
        text += (
            f" The ratio of means stays L only when the input- and output-side bulks move "
            f"together: at depth 2 with d_in = d_out the c^-2 and c^2 bulks average to the same "
            f"(c^-2 + c^2)/2 factor as the dominant cluster, so the ratio is 2 for every c; here "
            f"d_in = {cfg['dims'][0]} != d_out = {cfg['dims'][-1]} (depth {depth})."
        )
    return text


def explain_equal(cfg: Mapping[str, Any]) -> str:
    dims, depth = cfg["dims"], len(cfg["dims"]) - 1
    r, n_in, n_out = len(cfg["t"]), dims[0], dims[-1]
    g = {x.name: x for x in balanced_minimum_spectrum(r, n_in, n_out, depth)}
    ts = [_rational(x) for x in cfg["t"]]
    dom = [sp.nsimplify(g["dominant"].value.subs({ti: a, tj: b})) for a in ts for b in ts]
    bulk = [sp.nsimplify(g["bulk_first_layer"].value.subs(ti, a)) for a in ts for _ in range(n_in - r)] + [
        sp.nsimplify(g["bulk_last_layer"].value.subs(ti, a)) for a in ts for _ in range(n_out - r)
    ]
    ratio_groups = sp.nsimplify(sp.Add(*dom) / len(dom) / (sp.Add(*bulk) / len(bulk)))
    interleave = float(min(dom)) < float(max(bulk))
    s = sp.symbols(f"s_1:{r + 1}", positive=True)  # s = t^(2/L)
    layer = sp.Symbol("l")
    sym_dom = (
        sum(
            sp.summation(s[a] ** (depth - layer) * s[b] ** (layer - 1), (layer, 1, depth))
            for a in range(r)
            for b in range(r)
        )
        / r**2
    )
    sym_bulk = sum(s[a] ** (depth - 1) for a in range(r)) / r
    sym_ratio = sp.factor(sp.simplify(sym_dom / sym_bulk))
    text = (
        f"With unequal target singular values the B1 formula still holds (claim B1), but the two "
        f"clusters are no longer flat. SymPy at depth L = {depth} with s_i = t_i^(2/L): mean(dominant) / "
        f"mean(bulk) of the formula's groups is {sp.sstr(sym_ratio)} (when both bulks have the same "
        f"multiplicity per i)"
        + (
            ", identically 2 at L = 2: the means alone cannot break the claim there"
            if depth == 2
            else ", which is L only when all s_i are equal"
        )
        + f". At t = {cfg['t']} the formula's dominant values are {sorted(set(dom), key=float, reverse=True)} and "
        f"the bulk values {sorted(set(bulk), key=float, reverse=True)}: the group-mean ratio is "
        f"{float(ratio_groups):.10g} against L = {depth}."
    )
    if interleave:
        text += (
            " The clusters also interleave (the smallest dominant value lies below the largest bulk "
            "value), so splitting the sorted spectrum by counts mislabels eigenvalues as well."
        )
    else:
        text += " The clusters do not interleave here: the miss is the group means themselves."
    return text


def explain_whitened(cfg: Mapping[str, Any]) -> str:
    k, d_in = _rational(cfg["anisotropy"]), cfg["dims"][0]
    ev = (
        [sp.nsimplify(k ** (sp.Rational(-1, 2) + sp.Rational(j, max(d_in - 1, 1)))) for j in range(d_in)]
        if d_in > 1
        else [sp.Integer(1)]
    )
    text = (
        f"The closed form assumes (1/B) X^T X = I. With input covariance Sigma (eigenvalues {ev}, "
        f"anisotropy k = {k}), every layer's input factor Q_l Q_l^T becomes Q_l Sigma Q_l^T, so the "
        f"Gauss-Newton blocks are weighted by Sigma."
    )
    if len(cfg["dims"]) == 2:
        text += (
            " At depth 1 the Hessian is exactly I_{d_out} (x) Sigma: its eigenvalues are Sigma's, "
            "not the all-ones spectrum B1 predicts."
        )
    return text


def explain_aligned(cfg: Mapping[str, Any]) -> str:
    return (
        "W_1 -> A W_1, W_2 -> W_2 A^-1 with A = I + e K (not orthogonal) keeps the end-to-end map, so "
        "the point is still a global minimum, but P_1 P_1^T and Q_2^T Q_2 are congruence-transformed by "
        "A^-1 and A, which changes their eigenvalues. Balanced weights are automatically aligned "
        "(W_{l+1}^T W_{l+1} = W_l W_l^T makes the right singular vectors of W_{l+1} the left ones of "
        "W_l), so a misaligned point is never balanced: no configuration violates 'aligned' alone, and "
        "the shrunk example violates both."
    )


def explain_minimum(cfg: Mapping[str, Any], measured: Any = None) -> str:
    text = (
        "W_L -> (1 + e) W_L leaves the minimum: the residual E = W - M = e M is nonzero and the Hessian "
        "gains H_res, which is bilinear in E and zero in the diagonal blocks (the loss is quadratic in "
        "each single W_l). A symmetric matrix with zero diagonal blocks has trace zero, so H_res adds "
        "eigenvalues of both signs."
    )
    if measured is not None:
        import numpy as np

        neg = int((np.asarray(measured) < -1e-12 * float(np.max(np.abs(measured)))).sum())
        text += f" Here the measured spectrum has {neg} negative eigenvalue(s), which B1 never predicts."
    text += " (Scaling W_L alone also unbalances the layers, hence 'balanced' is violated too.)"
    return text


def explain_linear_closed_form() -> str:
    """B0 without ``linear``."""
    return (
        "The closed form is the Hessian of a composition of linear maps. With tanh between layers "
        "the network's Hessian gains terms from tanh'' (and tanh' < 1 rescales the Jacobians), which "
        "the closed form for W_L ... W_1 does not have."
    )


def explain_linear_minimum() -> str:
    """B1 / B1-ratio without ``linear``."""
    return (
        "The same weights with tanh between the layers: tanh' < 1 away from 0 shrinks every Gauss-Newton "
        "factor, the network no longer fits the target (the point is not a minimum of the tanh loss) so a "
        "residual term appears, and tanh'' adds curvature the linear formula does not contain."
    )


def explain_width(cfg: Mapping[str, Any]) -> str:
    dims, r = cfg["dims"], len(cfg["t"])
    P = exact_num_params(dims)
    nonzero = r * (dims[0] + dims[-1]) - r * r
    return (
        f"A hidden width h = {min(dims[1:-1])} below the target rank r = {r} caps the network's rank at h, so "
        f"the target cannot be fitted: the best reachable point is the rank-h truncation, not a zero-residual "
        f"minimum. The formula also counts r(d_in + d_out) - r^2 = {nonzero} nonzero eigenvalues, "
        + (
            f"more than the network's {P} parameters, so the prediction cannot even be formed."
            if nonzero > P
            else f"which the {P}-parameter network does not have."
        )
    )


def explain_rank(cfg: Mapping[str, Any]) -> str:
    dims, r = cfg["dims"], len(cfg["t"])
    return (
        f"With r = {r} = d_in = {dims[0]} = d_out = {dims[-1]} the bulk has r(d_in + d_out - 2r) = "
        f"{r * (dims[0] + dims[-1] - 2 * r)} eigenvalues: its mean is undefined (0/0), so the ratio is NaN. "
        f"B1's spectrum is still right; only the ratio statement has no meaning."
    )


def explain_minimum_claim(
    dropped: Iterable[str], cfg: Mapping[str, Any], *, ratio: bool, measured_spectrum: Callable[[], Any] | None = None
) -> str | None:
    """The paragraph for B1 (``ratio=False``) or B1-ratio (``ratio=True``) with one assumption
    dropped; ``None`` when there is no derivation for this case (the caller then says so)."""
    names = sorted(dropped)
    if len(names) != 1:
        return None
    name = names[0]
    if name == "global_minimum":
        return explain_minimum(cfg, measured_spectrum() if measured_spectrum is not None else None)
    if name == "balanced":
        return explain_balanced(cfg, ratio=ratio)
    simple: dict[str, Callable[[Mapping[str, Any]], str]] = {
        "equal_target_singular_values": explain_equal,
        "whitened": explain_whitened,
        "aligned": explain_aligned,
        "hidden_width_ge_rank": explain_width,
        "rank_below_dims": explain_rank,
        "linear": lambda c: explain_linear_minimum(),
    }
    return simple[name](cfg) if name in simple else None
