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
# # 3. Curvature along the gradient's singular directions
#
# Take one weight matrix $W$ ($m\times n$) of a network and its gradient $G = \sum_k\sigma_ku_kv_k^\top$. How curved
# is the loss along each singular direction? arXiv:2606.02596 measures the Rayleigh quotients
#
# $$h_k = \operatorname{vec}(u_kv_k^\top)^\top H_{ll}\operatorname{vec}(u_kv_k^\top)$$
#
# with the exact layer block $H_{ll}$, fits $h_k \approx c\,\sigma_k^{\alpha}$ over the top directions, and explains the
# **curvature exponent** $\alpha$ through a Kronecker model $H_{ll}\approx C_\delta\otimes C_A$ of the block, with
# $C_\delta = \frac1B\delta^\top\delta$ (output gradients) and $C_A = \frac1B A^\top A$ (layer inputs):
#
# $$h_k^{Kron} = \underbrace{\rho^\delta_k\rho^A_k}_{\Phi_k}\;\underbrace{\lambda_k(C_\delta)\lambda_k(C_A)}_{\Lambda_k},\qquad
#   \chi_k = h_k/h_k^{Kron},\qquad \hat\alpha = \hat b_\Lambda + \hat b_\Phi + \hat b_\chi,$$
#
# where $\rho^\delta_k = u_k^\top C_\delta u_k/\lambda_k(C_\delta)$ (likewise $\rho^A_k$) measure how well the gradient's singular
# vectors align with the factors' eigenvectors, and $\hat b_X$ is the least-squares slope of $\log X_k$ on $\log\sigma_k$.
#
# This lecture derives the two identities behind that decomposition, computes everything in closed form for
# deep linear networks (where the paper's "$\alpha\approx2$" turns out to depend on the *residual*, not on the
# architecture), and then measures the same quantities on a small CNN on the digits data and on a
# transformer block.

# %%
# %matplotlib inline
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch

from dlnkit.numerics import random_orthonormal, resolve_device, whitened_inputs
from dlnkit.numerics.alignment import analyse_layer, linear_chain
from dlnkit.numerics.zoo import Dataset, build_model, load_data, train_model
from dlnkit.theory.alignment import (
    aligned_mode_closed_forms,
    alpha_proportional_progress,
    derive_dln_layer_block,
    local_alpha,
    s_sym,
    t_sym,
)
from dlnkit.theory.kronecker import kronecker_quadratic_form_gap, slope_additivity_gap
from dlnkit.theory.symbols import L as L_sym, l as l_sym

device = resolve_device("auto")
print("device:", device)

# %% [markdown]
# ## 3.1 Two identities
#
# **The Kronecker quadratic form.** With torch's row-major flattening, $\operatorname{vec}(uv^\top) = u\otimes v$, so
# $\operatorname{vec}(uv^\top)^\top(C\otimes D)\operatorname{vec}(uv^\top) = (u^\top Cu)(v^\top Dv)$ — *with the output factor first*. SymPy
# proves it for fully symbolic $u$, $v$, $C$, $D$, and shows that the column-major habit $D\otimes C$ gives something else:

# %%
assert kronecker_quadratic_form_gap(2, 3) == 0
assert kronecker_quadratic_form_gap(2, 2, order="input_first") != 0
print("vec_r(uv^T)^T (C (x) D) vec_r(uv^T) = (u^T C u)(v^T D v): exact; (D (x) C) is not")

# %% [markdown]
# **Slopes add.** The least-squares slope is linear in the response, so $\log h = \log\chi + \log\Phi + \log\Lambda$ on
# a common index set gives $\hat\alpha = \hat b_\chi + \hat b_\Phi + \hat b_\Lambda$ *exactly*, whatever the data:

# %%
assert slope_additivity_gap(5) == 0
print("slope(x, y1 + y2 + y3) = slope(x, y1) + slope(x, y2) + slope(x, y3) for 5 symbolic points")

# %% [markdown]
# ## 3.2 Deep linear networks in closed form
#
# For a DLN with whitened data the loss is quadratic in each single $W_l$, so the layer block is exactly
# $H_{ll} = (P_l^\top P_l)\otimes(Q_lQ_l^\top)$ at *any* point (SymPy, from the loss with symbolic matrices):

# %%
H_blk, K_blk = derive_dln_layer_block(2, 2, 2, 1)
assert (H_blk - K_blk).is_zero_matrix
forms = aligned_mode_closed_forms()
for key in ["sigma", "h", "Lambda_emp", "Phi_mode", "chi_emp"]:
    print(f"{key:>11} = {forms[key]}")

# %% [markdown]
# At a balanced aligned point with per-mode singular value $s$ per layer and a target $t$ sharing the bases, mode by
# mode: $\sigma = s^{L-1}|s^L - t|$ and $h = s^{2(L-1)}$. So $\log h = 2\log\sigma - 2\log|e|$ with the residual $e = s^L - t$:
# **$\alpha = 2$ exactly when the residual is the same in every direction**, and otherwise $\alpha$ is set by how the residual
# varies. Along a family of points, with $g = d\log|e|/d\log s$:

# %%
print("local alpha =", local_alpha())
a_prop = alpha_proportional_progress()
print("alpha when every mode made the same relative progress (s^L = c t):", a_prop)
assert sp.simplify(a_prop - 2 * (L_sym - 1) / (2 * L_sym - 1)) == 0

# %% [markdown]
# Gradient descent from a small aligned initialisation learns large target directions first, but a point where every
# mode has made the same relative progress, $s_k^L = c\,t_k$, is a natural test: SymPy predicts
# $\alpha = 2(L-1)/(2L-1)$ — $2/3$ at $L = 2$, tending to 1 with depth, never 2. We build such points (target spectrum
# $t_k = 2/k$, $c = 1/2$, random orthonormal bases) and measure $\sigma_k$, $h_k$ (exact Hessian-vector products) and the
# factors with `analyse_layer`:

# %%
d, c_prog = 10, 0.5
t_k = 2.0 / np.arange(1, d + 1)
alphas, reports = {}, {}
for depth in [1, 2, 3, 4, 6]:
    s_k = (c_prog * t_k) ** (1.0 / depth)
    bases = [random_orthonormal(d, d, seed=10 * depth + i) for i in range(depth + 1)]  # V, R_1.., U
    S = torch.diag(torch.tensor(s_k))
    Ws = [bases[l + 1] @ S @ bases[l].T for l in range(depth)]
    M = bases[-1] @ torch.diag(torch.tensor(t_k)) @ bases[0].T
    X = whitened_inputs(40, d, seed=depth)
    model = linear_chain([W.to(device) for W in Ws])
    rep = analyse_layer(model, "0", X.to(device), (X @ M.T).to(device), loss="mse", k=d, eigen=False)
    f = {
        k: sp.lambdify((s_sym, t_sym), v.subs({L_sym: depth, l_sym: 1}), "numpy")
        for k, v in forms.items()
        if k in ("sigma", "h", "Lambda_emp", "chi_emp")
    }
    # HVPs and factor eigenvalues are float64 computations on O(1) numbers: 1e-9 relative is rounding with margin
    assert np.allclose(rep.sigma, f["sigma"](s_k, t_k), rtol=1e-9)
    assert np.allclose(rep.h, f["h"](s_k, t_k) * np.ones(d), rtol=1e-9)
    assert np.allclose(rep.Lambda, f["Lambda_emp"](s_k, t_k), rtol=1e-9)  # Lambda_k = sigma_k^2 (empirical factors)
    assert np.allclose(rep.Phi, 1.0, rtol=1e-9)  # perfectly aligned: Phi_k = 1
    want = float(a_prop.subs(L_sym, depth))  # 0 at L = 1: linear regression has h_k = 1 in every direction
    assert abs(rep.fits["alpha"].exponent - want) < 1e-9, (depth, rep.fits["alpha"].exponent, want)
    alphas[depth], reports[depth] = rep.fits["alpha"].exponent, rep
    print(f"L = {depth}: measured alpha = {alphas[depth]:.10f}, SymPy 2(L-1)/(2L-1) = {want:.10f}")

# %% [markdown]
# The decomposition, read off: $\Lambda_k = \sigma_k^2$ carries a slope of exactly 2, the alignment term $\Phi$ nothing, and
# $\chi_k = 1/e_k^2$ pulls $\alpha$ down. The paper's canonical form $\Lambda_k = \sigma_k^2/\chi_k$ would need $e_k^2 = 1$.

# %%
rep = reports[2]
fits = rep.fits
parts = fits["slope_Lambda"] + fits["slope_Phi"] + fits["slope_chi"]
print(
    f"L = 2: alpha = {fits['alpha_common']:.6f} = b_Lambda {fits['slope_Lambda']:.6f} + b_Phi {fits['slope_Phi']:.1e} "
    f"+ b_chi {fits['slope_chi']:.6f}"
)
assert abs(parts - fits["alpha_common"]) < 1e-9  # slope additivity (3.1), up to rounding
assert abs(fits["slope_Lambda"] - 2) < 1e-9  # Lambda = sigma^2

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for depth, col in zip(reports, plt.cm.viridis(np.linspace(0, 0.9, len(reports)))):
    r_ = reports[depth]
    ax1.loglog(r_.sigma, r_.h, "o-", ms=4, color=col, label=rf"L = {depth}: $\alpha$ = {alphas[depth]:.3f}")
ax1.set_xlabel(r"$\sigma_k$"), ax1.set_ylabel(r"$h_k$"), ax1.set_title("DLN, first layer, equal relative progress")
ax1.legend(fontsize=8)
Ls = np.arange(1, 9)
ax2.plot(Ls, [float(a_prop.subs(L_sym, int(L))) for L in Ls], "-", color="gray", label="SymPy: 2(L-1)/(2L-1)")
ax2.plot(list(alphas), list(alphas.values()), "o", label="measured")
ax2.axhline(2, color="C3", ls=":", label=r"flat residual: $\alpha$ = 2")
ax2.set_xlabel("depth L"), ax2.set_ylabel(r"$\alpha$"), ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3.3 Real networks: a CNN on digits and a transformer block
#
# Now networks without closed forms: the zoo's small CNN on scikit-learn's 8×8 digits (two 3×3 convolutions,
# a hidden linear layer, a softmax head) and its one-block transformer (pre-LayerNorm softmax attention and MLP with
# residuals, softmax head) on the synthetic pointer task. To keep this notebook fast we train each briefly from a
# seeded initialisation (`train_model`, AdamW, fixed batch order; two epochs on 1,000 examples, so these are
# curvatures *early in training*) rather than load the fully trained zoo checkpoints, which `dlnkit` measures too. Convolution kernels are viewed as $(C_{out}, C_{in}\cdot3\cdot3)$ matrices with
# im2col inputs.


# %%
def subset(data, n_train):
    return Dataset(
        data.name, data.X_train[:n_train], data.y_train[:n_train], data.X_test, data.y_test, data.num_classes
    )


trained = {}
threads = torch.get_num_threads()
torch.set_num_threads(1)  # these models are tiny: on a busy CPU, thread hand-offs cost more than they save
for name, data_name, epochs, n_train in [("cnn", "digits", 2, 1000), ("transformer", "tokens", 2, 1000)]:
    data = subset(load_data(data_name), n_train)
    model = build_model(name, seed=0)
    info = train_model(model, data, epochs=epochs, batch_size=64, seed=0, lr=3e-3)
    model = model.to(device)
    trained[name] = (model, data)
    print(f"{name}: {epochs} epochs on {n_train} examples, test accuracy {info['test_accuracy']:.3f}")
torch.set_num_threads(threads)

# %%
rows = []
for name, layer in [
    ("cnn", "conv1"),
    ("cnn", "conv2"),
    ("cnn", "fc1"),
    ("cnn", "fc2"),
    ("transformer", "attn.q"),
    ("transformer", "attn.v"),
    ("transformer", "mlp.up"),
    ("transformer", "head"),
]:
    model, data = trained[name]
    Xb, yb = data.X_train[:128].to(device), data.y_train[:128].to(device)
    rep = analyse_layer(model, layer, Xb, yb, loss="cross_entropy", k=20, eigen=False)
    f_ = rep.fits
    if "alpha_common" in f_:
        # exact decomposition (3.1) on the common positive index set: rounding only
        parts = f_["slope_Lambda"] + f_["slope_Phi"] + f_["slope_chi"]
        assert abs(parts - f_["alpha_common"]) < 1e-8 * max(1.0, abs(parts)), (name, layer)
    # h^Kron = Phi * Lambda by definition of rho (the pairing cancels): float rounding only
    assert np.allclose(rep.h_kron, rep.Phi * rep.Lambda, rtol=1e-10)
    rows.append((name, layer, rep))
    print(
        f"{name:<12}{layer:<8} K={len(rep.sigma):>2}  alpha={f_['alpha'].exponent:6.3f} (R^2 {f_['alpha'].r2:.2f})  "
        f"b_Lambda={f_.get('slope_Lambda', np.nan):6.3f}  b_Phi={f_.get('slope_Phi', np.nan):6.3f}  "
        f"b_chi={f_.get('slope_chi', np.nan):6.3f}"
    )

# %% [markdown]
# The log-log picture per layer, with the fitted line. The spread of $\alpha$ across layer types — and the fact that
# the decomposition puts it in different terms in different layers — is the phenomenon the paper describes; the
# DLN closed forms above show one mechanism (the residual's shape) that moves $\alpha$ far from 2 even when every
# factor is perfectly aligned.

# %%
fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
for ax, (name, layer, rep) in zip(axes.ravel(), rows):
    pos = rep.h > 0
    ax.loglog(rep.sigma[pos], rep.h[pos], "o", ms=4, label=r"$h_k$")
    ax.loglog(rep.sigma[pos], rep.h_kron[pos], "x", ms=4, label=r"$h^{Kron}_k$")
    fit = rep.fits["alpha"]
    xs = np.geomspace(rep.sigma[pos].min(), rep.sigma[pos].max(), 20)
    ax.loglog(xs, np.exp(fit.intercept) * xs**fit.slope, "-", color="gray")
    ax.set_title(rf"{name} {layer}: $\alpha$ = {fit.exponent:.2f}", fontsize=10)
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel(r"$\sigma_k$")
axes[0, 0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Summary.** Two exact identities carry the decomposition: the row-major Kronecker quadratic form (output factor
# first) and the additivity of least-squares slopes. For deep linear networks everything is closed-form:
# $h_k = s_k^{2(L-1)}$, $\Lambda_k = \sigma_k^2$, $\Phi_k = 1$, and $\alpha = 2 - 2\,\hat b(\log|e|)$ — equal to 2 only for a flat residual,
# $2(L-1)/(2L-1)$ when all modes progress alike. On real layers the same machinery measures $\alpha$ and splits it
# into $\Lambda$, $\Phi$ and $\chi$; notebook 4 turns to what $\alpha$ does and does not say about the spectrum.
