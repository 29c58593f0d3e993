# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Classic theorems of deep linear networks: derived, measured and broken
#
# Five results every paper on deep linear networks leans on, each treated the same way: a SymPy
# derivation, a measurement with exact gradients and Hessians, and a counterexample search that
# drops one assumption at a time.
#
# | | result | source |
# |---|---|---|
# | C1 | gradient flow conserves $D_l = W_{l+1}^\top W_{l+1} - W_lW_l^\top$; a GD step changes it by exactly $\eta^2(g_{l+1}^\top g_{l+1} - g_lg_l^\top)$ | Arora, Cohen, Hazan arXiv:1802.06509; Du, Hu, Lee arXiv:1806.00900 |
# | C2 | at balanced points $\dot W = -\sum_j (WW^\top)^{\frac{j-1}{L}}\nabla(W^\top W)^{\frac{L-j}{L}}$ | arXiv:1802.06509 |
# | C3 | modes follow $\dot u = L u^{2-2/L}(s-u)$: the logistic at $L=2$ | Saxe, McClelland, Ganguli arXiv:1312.6120 |
# | C4 | the origin: $\pm\sigma_i(C)$ ($L=2$) or $0$ ($L\ge3$); saddles at partial solutions | Kawaguchi arXiv:1605.07110 |
# | C5 | balanced minima are the flattest, $\lambda_{max} = L t_1^{2(L-1)/L}$; GD only settles where $\lambda_{max}\le 2/\eta$ | Mulayoff & Michaeli (ICML 2020); linear stability |
#
# Notation: $W = W_L\cdots W_1$, $\nabla = \partial\ell/\partial W$, $P_l = W_L\cdots W_{l+1}$,
# $Q_l = W_{l-1}\cdots W_1$, $g_l = P_l^\top\nabla Q_l^\top$; whitened data unless said otherwise.

# %%
# %matplotlib inline
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch

from dlnkit.claims import get_claim
from dlnkit.claims.classic_learning_curves import flow_solution
from dlnkit.engines.counterexample import find_counterexample
from dlnkit.numerics import (
    DeepLinearNetwork,
    classic_curvature as cc,
    classic_dynamics as cd,
    teacher_map,
    whitened_inputs,
)
from dlnkit.theory import (
    classic_balancedness as t1,
    classic_end_to_end as t2,
    classic_learning_curves as t3,
    classic_origin as t4,
    classic_sharpness as t5,
)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)


def random_point(dims, seed, scale=1.0):
    Ws = [W.detach() for W in DeepLinearNetwork.random(dims, scale=scale, seed=seed, device="cpu").weights]
    X = whitened_inputs(max(2 * dims[0], 8), dims[0], seed=seed + 1)
    Y = torch.randn(X.shape[0], dims[-1], generator=torch.Generator().manual_seed(seed + 2))
    return Ws, X, Y


# %% [markdown]
# ## C1. Balancedness
#
# **Derived.** With $A = P_{l+1}$, $B = Q_l$: $P_l = AW_{l+1}$ and $Q_{l+1} = W_lB$, so
# $W_{l+1}^\top g_{l+1} = g_lW_l^\top$, and both the flow derivative and the cross terms of one
# step cancel. SymPy checks it on *matrix symbols* — any sizes, and $\nabla$ a free symbol, so any
# loss:

# %%
flow = t1.flow_derivative_matrix_form()
change, claimed = t1.step_change_matrix_form()
print("dD_l/dt =", sp.simplify(flow.doit().expand()))
print("D_l^+ - D_l - eta^2 (g_{l+1}^T g_{l+1} - g_l g_l^T) =", sp.simplify((change - claimed).doit().expand()))
assert sp.simplify((change - claimed).doit().expand()) in (0, sp.ZeroMatrix(*change.shape))

# %% [markdown]
# **Measured.** One gradient step at a random point, for three losses; the identity holds to
# rounding (the change itself is $O(\eta^2)$, not zero):

# %%
for loss in ("squared", "logistic", "cross_entropy"):
    Ws, X, Y = random_point([3, 4, 4, 3], 0)
    if loss == "logistic":
        Y = torch.sign(Y)
    if loss == "cross_entropy":
        Y = torch.nn.functional.one_hot(Y.argmax(1), 3).double()
    out = cd.gd_imbalance_change(Ws, X, Y, 0.1, loss=loss)
    size = max(float(torch.linalg.norm(a)) for a in out["measured"])
    miss = max(float(torch.linalg.norm(a - b)) for a, b in zip(out["measured"], out["identity"]))
    print(f"{loss:>14}: |change of D| = {size:.3e}, |change - identity| = {miss:.1e}")
    assert miss < 1e-12 * max(1.0, size) + 1e-13

# %% [markdown]
# Over a fixed time $T$ the steps add up: $D_l(T) - D_l(0) = \eta^2\sum_k(\dots) \approx
# \eta\int_0^T(g_{l+1}^\top g_{l+1} - g_lg_l^\top)\,dt$, **first order in $\eta$**. Measured
# (squared loss, $T = 1$):

# %%
Ws, X, Y = random_point([3, 4, 2], 0)
sigma, cross = X.T @ X / X.shape[0], Y.T @ X / X.shape[0]
etas = np.array([0.0025, 0.005, 0.01, 0.02, 0.04, 0.08])
drift = np.array([cd.accumulated_imbalance(Ws, sigma, cross, float(e), 1.0)["drift"] for e in etas])
slope = np.polyfit(np.log(etas[:4]), np.log(drift[:4]), 1)[0]
print("drift / eta:", np.round(drift / etas, 4), " log-log slope (small eta):", round(slope, 4))
assert abs(slope - 1) < 0.05
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.loglog(etas, drift, "o-", label="measured $\\max_l\\|D_l(T) - D_l(0)\\|$")
ax.loglog(etas, drift[0] / etas[0] * etas, "k--", label="slope 1")
ax.set_xlabel("step size $\\eta$"), ax.set_ylabel("accumulated imbalance"), ax.legend(fontsize=8)
ax.set_title("C1: imbalance drift vs $\\eta$ (T = 1)")
plt.show()

# %% [markdown]
# **Broken.** Activations: a positively homogeneous one (ReLU) keeps the *diagonal* of $D_l$
# (per-neuron balance): $\frac{d}{dt}(\|w_{in}\|^2 - \|w_{out}\|^2) = 2\sum r v\,(\sigma(z) - z\sigma'(z))$,
# zero iff $\sigma(z) = z\sigma'(z)$. Tanh breaks even that:

# %%
print("ReLU rate:", t1.neuron_balance_rate("relu"))
Ws, X, Y = random_point([3, 5, 2], 1)
for act in ("linear", "relu", "tanh"):
    R = cd.imbalance_flow_rate(Ws, cd.layer_gradients(Ws, X, Y, activation=act))[0]
    print(
        f"{act:>6}: |dD/dt| = {float(torch.linalg.norm(R)):.3e}, |diag dD/dt| = {float(torch.linalg.norm(torch.diagonal(R))):.3e}"
    )
assert (
    float(
        torch.linalg.norm(
            torch.diagonal(cd.imbalance_flow_rate(Ws, cd.layer_gradients(Ws, X, Y, activation="relu"))[0])
        )
    )
    < 1e-13
)

# %% [markdown]
# ## C2. End-to-end dynamics
#
# At a balanced point $P_jP_j^\top = (WW^\top)^{(L-j)/L}$ and $Q_j^\top Q_j = (W^\top W)^{(j-1)/L}$.
# SymPy checks the formula on diagonal (= aligned, after orthogonal changes of basis) layers with a
# free gradient, and derives the error off balance: with $W_1\to cW_1$, $W_2\to W_2/c$, exactly
# $(c^{-2}-1)T_1 + (c^2-1)T_2$, which on one aligned mode is a relative error $(c - 1/c)^2/L$.

# %%
assert t2.balanced_velocity_difference(3, 2) == sp.zeros(2, 2)
assert t2.rescaled_velocity_difference(3, 2) == sp.zeros(2, 2)
print("relative error on an aligned mode:", t2.rescaled_velocity_relative_error())
claim = get_claim("C2-off-balance")
cs = [0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0]
rows = []
for c in cs:
    cfg = {"dims": [3, 4, 4, 3], "s": [1.25, 1.0, 0.5], "seed": 1, "loss": "squared", "anisotropy": 1.0, "balance": c}
    r = claim.check(cfg)
    assert r.passed, r
    rows.append(r.details["balanced_formula_relative_error"])
print("formula's relative error vs c:", {c: round(float(x), 4) for c, x in zip(cs, rows)})
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(cs, rows, "o-", label="measured, generic gradient")
cc_ = np.linspace(0.5, 2, 100)
ax.plot(cc_, (cc_ - 1 / cc_) ** 2 / 3, "k--", label="$(c-1/c)^2/L$ (one aligned mode)")
ax.set_xlabel("rescaling $c$"), ax.set_ylabel("relative velocity error"), ax.legend(fontsize=8)
ax.set_title("C2: the balanced formula off balance (L = 3)")
plt.show()

# %% [markdown]
# The dashed curve is second order in $\log c$ because on one aligned mode $T_1 = T_2$ and the
# first-order parts of $(c^{-2}-1)T_1 + (c^2-1)T_2$ cancel. With a generic gradient they do not: the
# measured error is **first order** in $\log c$, hence in the imbalance $\|D\|$.

# %% [markdown]
# ## C3. Exact learning curves
#
# With $u = a^L$ and $\dot a = a^{L-1}(s - a^L)$ the mode ODE is derived, not assumed; at $L = 2$
# its solution is the logistic. For any $L$, $v = u^{1/L}$ turns $t(u)$ into the integral of a
# rational function, integrated exactly (a SymPy subtlety: integrating with a symbolic $s$ drops the
# complex-root terms at $L = 3$; the scaled form $s^{-2(L-1)/L}\int dw/(w^{L-1}(1-w^L))$ is right).

# %%
print("du/dt =", t3.mode_ode_rhs())
sol = t3.logistic_solution()
assert sp.simplify(sp.diff(sol, t3.t) - t3.stated_mode_ode(2).subs(t3.u, sol)) == 0
print("t(u), L = 3:", t3.implicit_time(3))
print("small-u0 learning time:", [t3.learning_time_small_init(d) for d in (2, 3, 4)])

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, depth in zip(axes, (2, 3, 4)):
    s, a0 = 1.5, 0.3
    dims = [2] + [3] * (depth - 1) + [2]
    M, U, V = teacher_map(2, 2, [s], seed=0)
    Ws = [W.detach() for W in DeepLinearNetwork.balanced_aligned(dims, U, V, [a0], seed=1, device="cpu").weights]
    for eta in (0.2, 0.05):
        K = int(round(12 / eta))
        u = cd.gd_mode_curve(Ws, torch.eye(2), M, U, V, eta, K)[:, 0].numpy()
        ax.plot(np.arange(K + 1) * eta, u, ".", ms=2, label=f"GD, $\\eta$ = {eta}")
    tt = np.linspace(0, 12, 400)
    ax.plot(tt, flow_solution(depth, s, a0**depth, tt), "k-", lw=1, label="flow (SymPy solution)")
    ax.set_title(f"C3: L = {depth}"), ax.set_xlabel("time $t = k\\eta$")
axes[0].set_ylabel("mode strength $u$"), axes[0].legend(fontsize=7)
plt.show()

# %% [markdown]
# Gradient descent is forward Euler on $\dot a = f(a)$; its error is $\eta\,L a^{L-1}E(t) + O(\eta^2)$
# with $\dot E = f'(a)E - \tfrac12 f'(a)f(a)$ (derived). The measured constant
# $\max_t|u_{GD} - u_{flow}|/\eta$ converges to the predicted one as $\eta \to 0$:

# %%
claim = get_claim("C3-gd-vs-flow")
for eta in (0.04, 0.02, 0.01, 0.005):
    r = claim.check({"dims": [2, 3, 2], "t": [2.0], "a": [0.25], "seed": 0, "lr": eta})
    print(
        f"eta = {eta:<6} measured {r.details['max_measured_constant']:.5f}  predicted "
        f"{r.details['max_first_order_constant']:.5f}  rel. diff {r.error:.4f}"
    )
assert r.error < 0.01

# %% [markdown]
# **Broken.** The per-mode ODE needs whitening, balance and alignment; dropping any one, the
# counterexample engine finds a one-mode network whose rate is off:

# %%
for name in ("whitened", "balanced", "aligned"):
    res = find_counterexample(get_claim("C3-mode-ODE"), [name], max_examples=20)
    assert res.found
    print(res.summary().splitlines()[1:5], "\n")

# %% [markdown]
# ## C4. The origin and the saddles of partial solutions
#
# At $W = 0$ the Gauss–Newton part vanishes and $\Sigma$ never enters: the $L = 2$ Hessian is
# the bilinear form $-\mathrm{tr}(\delta W_2\,\delta W_1 C^\top)$ with $C = Y^\top X/B$; for $L\ge3$
# it is zero.

# %%
H = t4.origin_hessian([2, 1, 2])
print(H)
assert not any(str(x).startswith("S_") for x in H.free_symbols)
for cfg in get_claim("C4-origin").default_configs():
    r = get_claim("C4-origin").check(cfg)
    print(cfg["dims"], "predicted", r.predicted, "| measured", r.measured)
    assert r.passed

# %% [markdown]
# Is whitening needed? No: the engine's search comes back **empty** when it is dropped (and the
# same for tanh instead of a linear network, since tanh(0) = 0, tanh'(0) = 1, tanh''(0) = 0).
# Leaving the origin breaks it at once.

# %%
for name in ("whitened", "linear", "at_origin"):
    res = find_counterexample(get_claim("C4-origin"), [name], max_examples=15)
    print(name, "->", "counterexample" if res.found else "empty search", "|", res.summary().splitlines()[0])
    assert res.found == (name == "at_origin")

# %% [markdown]
# Partial solutions keep a subset $S$ of the target's modes ($k = |S|$, $r$ = rank). SymPy on the
# smallest case gives the pair eigenvalues $t_i^{(L-2)/L}(t_i \pm t_j)$ (kept $i$, dropped $j$):
# negative exactly for the *inversions* $t_j > t_i$. At $L = 2$ the $d_1 - k$ unused hidden units add
# origin-like $\pm t_j$ pairs. Index and nullity in closed form, checked by exact Hessians
# (Descartes' rule on the exact characteristic polynomial):

# %%
print(t4.partial_solution_pair_eigenvalues(3))
claim = get_claim("C4-saddles")
print(f"{'dims':<14}{'kept':<8}{'index: formula / exact':<25}{'nullity: formula / exact'}")
for dims, kept in (([3, 3, 3], [1]), ([3, 4, 3], []), ([3, 4, 3], [0, 2]), ([3, 3, 3, 3], [2]), ([3, 4, 4, 3], [1, 2])):
    cfg = {"dims": dims, "t": [3.0, 2.0, 1.0], "kept": kept, "seed": 0}
    p, m = claim.exact_predict(cfg), claim.exact_measure(cfg)["value"]
    assert p == m, (cfg, p, m)
    print(f"{str(dims):<14}{str(kept):<8}{f'{p[0]} / {m[0]}':<25}{p[1]} / {m[1]}")

# %% [markdown]
# ## C5. Sharpness and the step size
#
# The top eigenvalue at a balanced aligned minimum is the $i = j = 1$ dominant eigenvalue of B1;
# along the rescaling orbit it grows as $t_1^{2(L-1)/L}(L-2+c^2+c^{-2})$, smallest at $c = 1$.

# %%
print(
    "balanced:",
    t5.top_eigenvalue_balanced(),
    "| orbit:",
    t5.top_eigenvalue_rescaled(),
    "| excess:",
    t5.sharpness_excess(3),
    "| threshold:",
    t5.stability_threshold(),
)
claim = get_claim("C5-orbit")
for c in (0.5, 1.0, 2.0):
    r = claim.check({"dims": [3, 4, 4, 3], "t": [1.5, 0.5], "seed": 1, "balance": c})
    print(f"c = {c}: predicted {r.predicted}, Lanczos on HVPs {r.measured}")
    assert r.passed

# %% [markdown]
# Gradient descent with step $\eta$ near a minimum multiplies deviations by $I - \eta H$, so it
# can only settle where $\lambda_{max}\le 2/\eta$. We train from random initialisations over a
# range of $\eta$ (in units of $2/\lambda_{bal}$, the largest step at which the flattest minimum
# is stable) and measure the final sharpness and imbalance:


# %%
def sweep(dims, t, qs, seeds):
    L = len(dims) - 1
    lam_bal = float(t5.top_eigenvalue_balanced(L).subs(t5.t1, t[0]))
    M, U, V = teacher_map(dims[-1], dims[0], t, seed=0)
    out = []
    for q in qs:
        eta = q * 2 / lam_bal
        for seed in seeds:
            run = cc.train_to_minimum(cc.random_init(dims, 1.0, seed), torch.eye(dims[0]), M, M, lr=eta, max_steps=4000)
            if run["converged"]:
                out.append(
                    (
                        q,
                        cc.top_eigenvalue(run["weights"], torch.eye(dims[0]), M) * eta / 2,
                        cc.max_relative_imbalance(run["weights"]),
                    )
                )
            else:
                out.append((q, np.nan, np.nan))
    return lam_bal, np.array(out)


fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for dims, mk in (([3, 4, 3], "o"), ([3, 4, 4, 3], "s")):
    lam_bal, res = sweep(dims, [1.5, 1.0, 0.5], np.linspace(0.2, 1.4, 7), range(4))
    ok = ~np.isnan(res[:, 1])
    print(
        f"L = {len(dims) - 1}: largest final lambda_max * eta / 2 = {np.nanmax(res[:, 1]):.4f}; "
        f"runs converged {ok.sum()}/{len(res)}; converged beyond q = 1: {int((ok & (res[:, 0] > 1)).sum())}"
    )
    assert np.nanmax(res[:, 1]) <= 1 + 1e-6
    axes[0].plot(res[ok, 0], res[ok, 1], mk, alpha=0.7, label=f"L = {len(dims) - 1}")
    axes[1].semilogy(res[ok, 0], res[ok, 2], mk, alpha=0.7, label=f"L = {len(dims) - 1}")
axes[0].axhline(1, color="k", ls="--", lw=1)
axes[0].plot([0.2, 1.4], [0.2, 1.4], ":", color="gray", label="balanced minimum")
axes[0].set_xlabel("$\\eta\\,\\lambda_{bal}/2$"), axes[0].set_ylabel("final $\\lambda_{max}\\,\\eta/2$")
axes[0].set_title("C5: final sharpness vs 2/$\\eta$"), axes[0].legend(fontsize=8)
axes[1].set_xlabel("$\\eta\\,\\lambda_{bal}/2$"), axes[1].set_ylabel("final relative imbalance")
axes[1].set_title("how close to balance GD ends"), axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# Every converged run sits below the dashed line $\lambda_{max} = 2/\eta$, and none converges
# beyond $q = 1$ (every minimum is then unstable). Small steps end wherever the initialisation
# leads (sharper than balanced); large steps only near the flattest sharpness (the dotted line).
# That is "nearly balanced" in sharpness only: the right panel shows the relative imbalance
# $\|D\|/\|WW^\top\|$ barely moves, since C1 conserves the initialisation's imbalance up to an
# $O(\eta)$ drift. With momentum the threshold becomes $2(1+\mu)/\eta$, and the engine finds a
# run that settles above $2/\eta$:

# %%
res = find_counterexample(get_claim("C5-stability"), ["plain_gd"], max_examples=60)
print(res.summary())
assert res.found
