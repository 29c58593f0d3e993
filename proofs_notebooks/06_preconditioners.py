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
# # 6. From curvature to preconditioners: $T(\sigma;\alpha)$, Muon and Newton as special cases
#
# Notebooks 3 and 4 measured how the curvature along a layer's gradient directions scales with the
# gradient's singular values: $h_k \approx c\,\sigma_k^{\alpha}$. If we trust that model, the ideal step along
# direction $u_kv_k^\top$ is a damped Newton step, $\sigma_k/(h_k + d)$. arXiv:2606.02596 turns this into a
# family of spectral preconditioners: with $G = U\operatorname{diag}(\sigma)V^\top$,
#
# $$\Delta W = U\operatorname{diag}\big(T(\sigma_k;\alpha)\big)V^\top,\qquad T(\sigma;\alpha) = \frac{\sigma}{\sigma^\alpha + d}.$$
#
# This lecture derives the special cases in SymPy — $\alpha = 2$ is $G(G^\top G + dI)^{-1}$, $\alpha = 1$ with
# $d\to0$ is the polar factor $UV^\top$ that Muon computes — checks them numerically, and shows exactly
# when the family *is* Newton's method on a layer: when the layer's Hessian block is a Kronecker product
# whose eigenbases are the gradient's singular bases.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch

from dlnkit.numerics import DeepLinearNetwork, random_orthonormal, resolve_device, whitened_inputs
from dlnkit.numerics.dln_hessian import dln_gradient_closed_form, dln_hessian_closed_form, dln_loss
from dlnkit.numerics.fits import fit_alpha
from dlnkit.numerics.preconditioners import SpectralNewton, polar_factor, spectral_precondition, spectral_transfer
from dlnkit.theory.preconditioners import (
    alpha as alpha_sym,
    d as d_sym,
    kronecker_newton_gap,
    newton_alpha2_gap,
    polar_limit,
    sigma as sigma_sym,
    transfer,
)

device = resolve_device("auto")
print("device:", device)
gen = torch.Generator().manual_seed(0)

# %% [markdown]
# ## 6.1 The transfer function
#
# $T(\sigma;\alpha)$ rescales each singular value of the gradient. $\alpha = 0$ is plain gradient descent,
# $T = \sigma/(1+d)$. For $\alpha > 0$ and small $\sigma$ (below the damping scale) every member is $\approx\sigma/d$,
# gradient descent again; for large $\sigma$ it is $\approx\sigma^{1-\alpha}$: $\alpha = 1$ flattens all directions to the same length, $\alpha = 2$ *inverts* them
# (large gradients, large curvature, small steps).

# %%
T = transfer()
print("T(sigma; alpha, d) =", T)
assert sp.simplify(transfer(sigma_sym, 0, d_sym) - sigma_sym / (1 + d_sym)) == 0  # alpha = 0: a rescaled gradient
for a_val, large in [(1, sp.Integer(1)), (2, 1 / sigma_sym)]:
    lim = sp.limit(transfer(sigma_sym, a_val, d_sym) / large, sigma_sym, sp.oo)
    assert lim == 1, (a_val, lim)  # T ~ sigma^(1 - alpha) for sigma >> d^(1/alpha)
assert sp.limit(transfer(sigma_sym, alpha_sym, d_sym) / (sigma_sym / d_sym), sigma_sym, 0) == 1  # T ~ sigma/d near 0

sg = np.geomspace(1e-3, 1e2, 300)
fig, ax = plt.subplots(figsize=(6, 4))
for a_val in [0, 1, 1.5, 2, 3]:
    f = sp.lambdify(sigma_sym, transfer(sigma_sym, a_val, sp.Rational(1, 100)), "numpy")
    ax.loglog(sg, f(sg), label=rf"$\alpha$ = {a_val}")
    # the numeric family (torch) is the same function
    assert np.allclose(spectral_transfer(torch.tensor(sg), a_val, 0.01).numpy(), f(sg), rtol=1e-12)
ax.set_xlabel(r"$\sigma$"), ax.set_ylabel(r"$T(\sigma;\alpha)$, d = 0.01"), ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6.2 $\alpha = 2$: "spectral Newton" $G(G^\top G + dI)^{-1}$
#
# On the range of $V$, $(G^\top G + dI)^{-1}V = V(\Sigma^2 + dI)^{-1}$, so
# $G(G^\top G + dI)^{-1} = U\Sigma(\Sigma^2 + dI)^{-1}V^\top = U\,T(\Sigma;2)\,V^\top$. SymPy checks it on a
# $3\times2$ matrix with symbolic singular values (the singular bases taken as the identity, which
# orthogonal invariance allows); then the numbers, on a random $G$:

# %%
assert newton_alpha2_gap(3, 2).is_zero_matrix
G = torch.randn(12, 7, generator=gen, dtype=torch.float64).to(device)
dmp = 0.05
newton2 = G @ torch.linalg.inv(G.T @ G + dmp * torch.eye(7, dtype=G.dtype, device=G.device))
fam2 = spectral_precondition(G, 2.0, dmp)
err2 = float(torch.linalg.norm(newton2 - fam2) / torch.linalg.norm(newton2))
print(f"relative difference G(G^T G + dI)^-1 vs U T(S;2) V^T: {err2:.1e}")
assert err2 < 1e-12  # two exact routes (inverse vs SVD) on a well-conditioned 7 x 7 system: rounding only

# %% [markdown]
# ## 6.3 $\alpha = 1$, $d\to0$: the polar factor, Muon's direction
#
# $T(\sigma; 1) = \sigma/(\sigma + d) \to 1$ for every nonzero $\sigma$, so the step becomes $UV^\top$, the
# orthogonal factor of the polar decomposition $G = (UV^\top)(V\Sigma V^\top)$. Muon does not compute an SVD: it
# runs a Newton–Schulz iteration, whose simplest (cubic) form $X \leftarrow \tfrac32X - \tfrac12XX^\top X$ maps each
# singular value $x\mapsto\tfrac32x - \tfrac12x^3$, a map with the attracting fixed point $1$ on $(0, \sqrt3)$. SymPy
# for the limit and the fixed point, then the numbers:

# %%
assert polar_limit() == 1
x = sp.Symbol("x", positive=True)
ns = sp.Rational(3, 2) * x - sp.Rational(1, 2) * x**3
assert sp.solve(sp.Eq(ns, x), x) == [1] and sp.diff(ns, x).subs(x, 1) == 0  # fixed point 1, superattracting

polar = polar_factor(G)
near_polar = spectral_precondition(G, 1.0, 1e-13)
X = G / torch.linalg.norm(G)  # Frobenius scaling puts every singular value in (0, 1]
for _ in range(60):
    X = 1.5 * X - 0.5 * X @ X.T @ X
S_G = torch.linalg.svdvals(G)
# T(sigma; 1, d) = 1 - d/(sigma + d): the gap to U V^T is at most d / sigma_min
assert float((near_polar - polar).abs().max()) <= 2e-13 / float(S_G.min())
assert float((X - polar).abs().max()) < 1e-10  # Newton-Schulz converged (quadratically) to U V^T
U_, _, Vh_ = torch.linalg.svd(G, full_matrices=False)
assert torch.allclose(polar, U_ @ Vh_, atol=1e-12)
print("U V^T = lim T(S;1,d->0) = Newton-Schulz limit: checked")

# %% [markdown]
# ## 6.4 When the family *is* Newton's method
#
# Suppose the layer's Hessian block is a Kronecker product $H = C_\delta\otimes C_A$ (row-major) whose eigenbases
# are the gradient's singular bases, $C_\delta = U\operatorname{diag}(a)U^\top$, $C_A = V\operatorname{diag}(b)V^\top$. Then
# $u_kv_l^\top$ are eigenvectors with eigenvalues $a_kb_l$, and if the matched curvatures follow
# $a_kb_k = c\,\sigma_k^\alpha$, the damped Newton step is
#
# $$(H + dI)^{-1}\operatorname{vec}(G) = \operatorname{vec}\Big(U\operatorname{diag}\Big(\frac{\sigma_k}{c\sigma_k^\alpha + d}\Big)V^\top\Big)
#   = \operatorname{vec}\Big(U\,\tfrac1c\,T\big(\sigma_k;\alpha,\tfrac dc\big)V^\top\Big).$$
#
# SymPy proves it for symbolic $\sigma_k$, $a_k$, $\alpha$, $c$, $d$:

# %%
assert kronecker_newton_gap(2).is_zero_matrix
print("(C_delta (x) C_A + dI)^-1 vec(G) = vec(U T(sigma; alpha, d/c)/c V^T): exact")

# %% [markdown]
# A deep linear network provides such a block exactly (notebooks 1 and 4): at a balanced aligned point
# whose target shares the singular bases, the middle layer's block is $(P^\top P)\otimes(QQ^\top)$ with the
# gradient's singular vectors as eigenvectors. We take the point of notebook 4 ($s_k = k^{-1/2}$, flat
# residual $\epsilon$), **fit** $\alpha$ and $c$ from the measured $(\sigma_k, h_k)$, and compare the exact damped
# Newton step — a dense solve with the closed-form Hessian block — with the one-line spectral step.

# %%
d_w, depth, eps = 10, 3, 0.1
s_k = np.arange(1, d_w + 1, dtype=float) ** -0.5
t_k = s_k**depth + eps
Ub, Vb, R1, R2 = (random_orthonormal(d_w, d_w, seed=i) for i in range(11, 15))
S_ = torch.diag(torch.tensor(s_k))
Ws = [(R1 @ S_ @ Vb.T).to(device), (R2 @ S_ @ R1.T).to(device), (Ub @ S_ @ R2.T).to(device)]
M = (Ub @ torch.diag(torch.tensor(t_k)) @ Vb.T).to(device)
Xd = whitened_inputs(40, d_w, seed=3, device=device)
Yd = Xd @ M.T


def newton_vs_family(Ws, layer=1, damping=1e-3):
    """(exact damped Newton step on layer's block, spectral-family step with fitted alpha and c, alpha, c)."""
    H = dln_hessian_closed_form(Ws, X=Xd, Y=Yd)
    off = np.cumsum([0] + [W.numel() for W in Ws])
    H_ll = H[off[layer] : off[layer + 1], off[layer] : off[layer + 1]]
    G_l = dln_gradient_closed_form(Ws, X=Xd, Y=Yd)[layer]
    n = G_l.numel()
    step = torch.linalg.solve(H_ll + damping * torch.eye(n, dtype=H.dtype, device=H.device), G_l.reshape(-1))
    U, S, Vh = torch.linalg.svd(G_l)
    D = torch.einsum("ik,jk->kij", U, Vh.T).reshape(len(S), -1)  # vec_r(u_k v_k^T) as rows
    h = ((D @ H_ll) * D).sum(1)  # directional curvatures from the block
    fit = fit_alpha(S.cpu().numpy(), h.cpu().numpy())
    a_fit, c_fit = fit.exponent, float(np.exp(fit.intercept))
    fam = spectral_precondition(G_l, a_fit, damping / c_fit) / c_fit
    return step.reshape(G_l.shape), fam, a_fit, c_fit, fit.r2


step, fam, a_fit, c_fit, r2 = newton_vs_family(Ws)
rel = float(torch.linalg.norm(step - fam) / torch.linalg.norm(step))
print(f"fitted alpha = {a_fit:.10f}, c = {c_fit:.6f} (R^2 = {r2:.12f});  |Newton - T-step| / |Newton| = {rel:.1e}")
# SymPy side for this point: h_k = s^4, sigma_k = eps s^2  =>  h = sigma^2 / eps^2: alpha = 2, c = 1/eps^2
assert abs(a_fit - 2) < 1e-9 and abs(c_fit - 1 / eps**2) < 1e-6 * c_fit
assert rel < 1e-9  # exact block, exact identity: only the solve's and the SVD's rounding remain

# %% [markdown]
# Break the alignment and the identity goes with it: rescale $W_1\to AW_1$, $W_2\to W_2A^{-1}$ with a
# non-orthogonal $A$ (same end-to-end map, same loss). The block is still a Kronecker product, but its
# eigenbases no longer match the gradient's singular bases, the Newton step mixes directions, and no
# choice of $\alpha$ in the family reproduces it.

# %%
K = torch.randn(d_w, d_w, generator=gen, dtype=torch.float64).to(device)
A = torch.eye(d_w, dtype=torch.float64, device=device) + 0.4 * K / torch.linalg.matrix_norm(K, 2)
Ws_mis = [A @ Ws[0], Ws[1] @ torch.linalg.inv(A), Ws[2]]
assert torch.allclose(Ws_mis[2] @ Ws_mis[1] @ Ws_mis[0], Ws[2] @ Ws[1] @ Ws[0], atol=1e-12)
step_m, fam_m, a_m, c_m, r2_m = newton_vs_family(Ws_mis)
rel_m = float(torch.linalg.norm(step_m - fam_m) / torch.linalg.norm(step_m))
print(f"misaligned: fitted alpha = {a_m:.4f} (R^2 {r2_m:.3f});  |Newton - T-step| / |Newton| = {rel_m:.3f}")
assert rel_m > 1e3 * rel  # far outside rounding: the family is no longer the Newton step

# %% [markdown]
# ## 6.5 The optimizer
#
# `SpectralNewton` applies $T$ to every weight matrix (momentum first, then the spectral map, then a
# normalisation so the step's spectral norm is the learning rate). With $\alpha = 1$, $d = 0$ and no
# momentum one step is exactly Muon's orthogonalised step, $W \leftarrow W - \eta\,UV^\top$:

# %%
W0 = torch.randn(6, 4, generator=gen, dtype=torch.float64).to(device)
p = torch.nn.Parameter(W0.clone())
p.grad = torch.randn(6, 4, generator=gen, dtype=torch.float64).to(device)
opt = SpectralNewton([p], lr=0.1, alpha=1.0, damping=0.0, momentum=0.0)
opt.step()
assert torch.allclose(p.detach(), W0 - 0.1 * polar_factor(p.grad), rtol=0, atol=1e-14)
print("SpectralNewton(alpha=1, d=0) step = -lr * U V^T: checked")

# %% [markdown]
# A small experiment to look at (not a benchmark): fit a depth-3 linear network to a teacher with a
# power-law spectrum, from the same small random initialisation, with heavy-ball gradient descent and with
# the family at $\alpha = 1$ (Muon-like) and $\alpha = 2$. Flattening the spectrum of the step lets the small
# singular directions of the target be learned at the same pace as the large ones.

# %%
dims_e = [12, 12, 12, 12]
Mt = (
    random_orthonormal(12, 12, seed=21)
    @ torch.diag(torch.arange(1, 13, dtype=torch.float64) ** -1.0)
    @ random_orthonormal(12, 12, seed=22).T
).to(device)
Xe = whitened_inputs(48, 12, seed=23, device=device)
Ye = Xe @ Mt.T
curves = {}
for name, make in [
    ("heavy-ball GD", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    ("T, alpha = 1 (Muon-like)", lambda ps: SpectralNewton(ps, lr=0.02, alpha=1.0, damping=1e-3)),
    ("T, alpha = 2", lambda ps: SpectralNewton(ps, lr=0.02, alpha=2.0, damping=1e-2)),
]:
    net = DeepLinearNetwork.random(dims_e, scale=0.3, seed=5, device=device)
    opt = make(list(net.parameters()))
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = dln_loss(list(net.weights), Xe, Ye)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    curves[name] = losses
    assert losses[-1] < losses[0]  # every method makes progress on this convex-in-W problem
fig, ax = plt.subplots(figsize=(6, 4))
for name, ls in curves.items():
    ax.semilogy(ls, label=name)
ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **Summary.** The family $T(\sigma;\alpha) = \sigma/(\sigma^\alpha + d)$ contains gradient descent (small $\sigma$ or
# $\alpha = 0$), Muon's polar factor ($\alpha = 1$, $d\to0$) and $G(G^\top G + dI)^{-1}$ ($\alpha = 2$). It is *exactly*
# the damped Newton step on a layer whose Hessian block is a Kronecker product aligned with the gradient's
# singular bases and whose matched curvatures follow $c\,\sigma^\alpha$ — true at balanced aligned points of a deep
# linear network, with $\alpha$ read off the curvature. Off alignment the Newton step mixes directions and the family
# is only an approximation to it.
