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
# # 1. The Hessian of a deep linear network
#
# A deep linear network (DLN) computes $f(x) = W_L\cdots W_1 x$. It is linear in its input but
# *not* in its parameters, and that is what makes its loss landscape interesting: the squared
# loss is a polynomial of degree $2L$ in the weights. This lecture derives the exact Hessian
# of that loss, splits it into a **Gauss–Newton** part and a **residual** part, shows that
# every Gauss–Newton block is a **Kronecker product**, and that all the nonzero curvature lives
# in one small matrix $JJ^\top$ whose size does not depend on the widths.
#
# Every formula is derived with SymPy on a small symbolic network and then checked, number for
# number, against the Hessian that `torch.func` computes by automatic differentiation.
#
# **Notation** (as in `docs/claims.md`). Data $X$ ($B\times d_{in}$), targets $Y$ ($B\times d_{out}$),
# loss $\ell = \frac{1}{2B}\|XW^\top - Y\|_F^2$ with $W = W_L\cdots W_1$. For layer $l$:
# $P_l = W_L\cdots W_{l+1}$ (what comes after it) and $Q_l = W_{l-1}\cdots W_1$ (what comes
# before it), identities when empty.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np
import sympy as sp
import torch

from dlnkit.numerics import (
    DeepLinearNetwork,
    dense_hessian,
    dln_gauss_newton_closed_form,
    dln_hessian_closed_form,
    dln_jjt,
    dln_loss,
    dln_residual_hessian_closed_form,
    partial_products,
    resolve_device,
)

device = resolve_device("auto")  # CUDA when there is one, else CPU; everything below is float64
print("device:", device)


def eigvalsh(H):
    """Ascending eigenvalues as NumPy. On the CPU NumPy's LAPACK call is used (some torch CPU builds
    are several times slower for symmetric eigenproblems); on a GPU torch's."""
    return torch.linalg.eigvalsh(H).cpu().numpy() if H.is_cuda else np.linalg.eigvalsh(H.cpu().numpy())


# %% [markdown]
# ## 1.1 The loss only sees two moments of the data
#
# Expanding the square,
#
# $$\ell = \tfrac12\operatorname{tr}(W\Sigma W^\top) - \operatorname{tr}(WC^\top) + \text{const},\qquad
# \Sigma = \tfrac1B X^\top X,\quad C = \tfrac1B Y^\top X .$$
#
# So the Hessian depends on the data only through $\Sigma$ (and on the targets only through the
# end-to-end gradient $G = W\Sigma - C$). We set up a two-layer network with symbolic entries,
# $d_{in}=2$, hidden width $3$, $d_{out}=2$ — twelve parameters — and a symbolic $\Sigma$ and $C$.

# %%
d_in, d_hid, d_out = 2, 3, 2
W1 = sp.Matrix(d_hid, d_in, lambda i, j: sp.Symbol(f"a_{i + 1}{j + 1}"))
W2 = sp.Matrix(d_out, d_hid, lambda i, j: sp.Symbol(f"b_{i + 1}{j + 1}"))
s11, s12, s22 = sp.symbols("s_11 s_12 s_22")
Sigma = sp.Matrix([[s11, s12], [s12, s22]])
C = sp.Matrix(d_out, d_in, lambda i, j: sp.Symbol(f"c_{i + 1}{j + 1}"))

W = W2 * W1
loss = sp.Rational(1, 2) * (W * Sigma * W.T).trace() - (W * C.T).trace()
# the parameter vector: each weight flattened row by row (torch's layout), W_1 first
theta = list(W1) + list(W2)  # list(sympy.Matrix) is row-major
H = sp.hessian(loss, theta)
print("parameters:", len(theta), " Hessian:", H.shape)
H[:3, :3]

# %% [markdown]
# ## 1.2 Gauss–Newton part: Kronecker blocks
#
# Differentiate $W = W_L\cdots W_1$ once: $dW = \sum_l P_l\, dW_l\, Q_l$. With **row-major**
# flattening, $\operatorname{vec}_r(AXB) = (A\otimes B^\top)\operatorname{vec}_r(X)$, so the
# Jacobian of $\operatorname{vec}_r W$ with respect to layer $l$ is
#
# $$J_l = P_l \otimes Q_l^\top .$$
#
# The loss is $\tfrac12\operatorname{vec}_r(W)^\top (I\otimes\Sigma)\operatorname{vec}_r(W) - \dots$, so the part of the
# Hessian that comes from differentiating $W$ once on each side is
#
# $$H^{GN} = J^\top (I\otimes\Sigma) J,\qquad H^{GN}_{lm} = (P_l^\top P_m)\otimes(Q_l\,\Sigma\,Q_m^\top).$$
#
# *A word on conventions.* A column-major text writes the blocks as $(Q_lQ_m^\top)\otimes(P_l^\top P_m)$:
# that is the same matrix in **column-major** (Fortran, textbook) flattening, where
# $\operatorname{vec}_c(AXB) = (B^\top\otimes A)\operatorname{vec}_c(X)$ puts the input factor
# first. We use torch's row-major layout, which puts the output factor first; §1.6 checks that the
# two are the same matrix up to a permutation of rows and columns.
#
# First the Jacobian, by SymPy, against $J_l = P_l\otimes Q_l^\top$:

# %%
P = [W2, sp.eye(d_out)]  # P_1 = W_2, P_2 = I
Q = [sp.eye(d_in), W1]  # Q_1 = I,   Q_2 = W_1
J = sp.Matrix(list(W)).jacobian(theta)
J_formula = sp.Matrix.hstack(*[sp.kronecker_product(P[l], Q[l].T) for l in range(2)])
assert sp.expand(J - J_formula) == sp.zeros(*J.shape)  # exact symbolic identity, no tolerance

H_GN = J.T * sp.kronecker_product(sp.eye(d_out), Sigma) * J
blocks = [[sp.kronecker_product(P[l].T * P[m], Q[l] * Sigma * Q[m].T) for m in range(2)] for l in range(2)]
H_GN_formula = sp.Matrix.vstack(*[sp.Matrix.hstack(*row) for row in blocks])
assert sp.expand(H_GN - H_GN_formula) == sp.zeros(*H_GN.shape)
print("J = [P_l (x) Q_l^T] and H_GN = [(P_l^T P_m) (x) (Q_l Sigma Q_m^T)]: exact")

# %% [markdown]
# ## 1.3 Residual part: what is left is linear in the residual
#
# The rest of the Hessian comes from differentiating $W$ *twice*:
# $H^{res} = \sum_{ij} G_{ij}\,\partial^2 W_{ij}/\partial\theta^2$ with $G = W\Sigma - C$. Two
# facts follow without computing anything:
#
# * $W$ is linear in each single $W_l$, so the **diagonal blocks of $H^{res}$ vanish**;
# * $H^{res}$ is **linear in $G$**: it vanishes at a global minimum ($G = 0$), which is why
#   the Gauss–Newton part *is* the Hessian there.
#
# For two layers, $\partial\ell/\partial (W_2)_{ab} = \sum_k G_{ak}(W_1)_{bk}$, and differentiating the
# explicit $W_1$ gives $H^{res}[(W_2)_{ab}, (W_1)_{cd}] = G_{ad}\,\delta_{bc}$. SymPy agrees:

# %%
H_res = sp.expand(H - H_GN)
G = W * Sigma - C
n1 = d_hid * d_in
res_formula = sp.zeros(len(theta), len(theta))
for a in range(d_out):
    for b in range(d_hid):
        for c in range(d_hid):
            for d in range(d_in):
                i, j = n1 + a * d_hid + b, c * d_in + d
                res_formula[i, j] = res_formula[j, i] = G[a, d] * (1 if b == c else 0)
assert sp.expand(H_res - res_formula) == sp.zeros(*H.shape)
assert H_res[:n1, :n1] == sp.zeros(n1, n1) and H_res[n1:, n1:] == sp.zeros(len(theta) - n1, len(theta) - n1)
# at a global minimum, C = W Sigma, the residual part is identically zero
assert sp.expand(H_res.subs(dict(zip(C, W * Sigma)), simultaneous=True)) == sp.zeros(*H.shape)
print("H = H_GN + H_res with H_res[W2_ab, W1_cd] = G_ad delta_bc; zero diagonal blocks; zero at the minimum")

# %% [markdown]
# ## 1.4 The same, measured: closed form vs automatic differentiation
#
# `dlnkit.numerics.dln_hessian_closed_form` assembles the Hessian of *any* depth from these
# blocks (for $l<m$ the residual block is $K_{ad}M_{bc}$ with $K = P_m^\top G Q_l^\top$ and
# $M = W_{m-1}\cdots W_{l+1}$, the general form of §1.3). It never differentiates. We compare
# it with `torch.func`'s Hessian of the loss at a random point of a depth-3 network, on
# **non-whitened** data and random targets (so $G\ne0$ and $\Sigma\ne I$).

# %%
dims = [4, 5, 3, 2]
net = DeepLinearNetwork.random(dims, seed=3, device=device)
Ws = [w.detach() for w in net.weights]
g = torch.Generator().manual_seed(0)
B = 12
X = (
    torch.randn(B, dims[0], generator=g, dtype=torch.float64)
    @ torch.diag(torch.tensor([2.0, 1.0, 0.5, 0.3], dtype=torch.float64))
).to(device)
Y = torch.randn(B, dims[-1], generator=g, dtype=torch.float64).to(device)

H_auto = dense_hessian(lambda *w: dln_loss(w, X, Y), Ws)
H_closed = dln_hessian_closed_form(Ws, X=X, Y=Y)
H_gn = dln_gauss_newton_closed_form(Ws, X=X)
H_rs = dln_residual_hessian_closed_form(Ws, X=X, Y=Y)
rel = float(torch.linalg.norm(H_closed - H_auto) / torch.linalg.norm(H_auto))
print(f"P = {net.num_params} parameters, relative Frobenius error closed form vs autograd: {rel:.2e}")
# two exact routes in float64: rounding over a few products of O(1) matrices is ~1e-15 relative;
# 1e-12 leaves room for the conditioning of this particular point
assert rel < 1e-12
assert torch.equal(H_gn + H_rs, H_closed)

# %% [markdown]
# The picture makes the structure visible: the Gauss–Newton part is a grid of Kronecker blocks,
# the residual part lives only **off** the diagonal blocks.

# %%
off = np.cumsum([0] + [dims[l] * dims[l + 1] for l in range(len(dims) - 1)])
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, M_, title in zip(axes, [H_auto, H_gn, H_rs], ["Hessian (autograd)", "Gauss–Newton part", "residual part"]):
    A = M_.cpu().numpy()
    v = np.abs(A).max()
    ax.imshow(A, cmap="RdBu_r", vmin=-v, vmax=v)
    for o in off[1:-1]:
        ax.axhline(o - 0.5, color="k", lw=0.6)
        ax.axvline(o - 0.5, color="k", lw=0.6)
    ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([])
plt.tight_layout()
plt.show()

L = len(dims) - 1
for l in range(L):
    blk = H_rs[off[l] : off[l + 1], off[l] : off[l + 1]]
    assert float(blk.abs().max()) == 0.0  # structurally zero: W is linear in each W_l
# linearity in G: G depends affinely on Y, so the residual part at the average of two targets
# is the average of the residual parts (up to float64 rounding of O(1) entries)
Y2 = torch.randn(B, dims[-1], generator=g, dtype=torch.float64).to(device)
mid = dln_residual_hessian_closed_form(Ws, X=X, Y=(Y + Y2) / 2)
avg = (H_rs + dln_residual_hessian_closed_form(Ws, X=X, Y=Y2)) / 2
assert float((mid - avg).abs().max()) < 1e-12 * float(avg.abs().max())

# %% [markdown]
# ## 1.5 All the nonzero curvature lives in $JJ^\top$
#
# $H^{GN} = J^\top(I\otimes\Sigma)J = \tilde J^\top\tilde J$ with $\tilde J = (I\otimes\Sigma^{1/2})J$, a
# $d_{out}d_{in}\times P$ matrix. $\tilde J^\top\tilde J$ and $\tilde J\tilde J^\top$ have the same
# nonzero eigenvalues, and
#
# $$\tilde J\tilde J^\top = \sum_l (P_lP_l^\top)\otimes(\Sigma^{1/2}Q_l^\top Q_l\Sigma^{1/2})$$
#
# is only $d_{out}d_{in}$ square, however wide the hidden layers are. So $H^{GN}$ has at least
# $P - d_{out}d_{in}$ zero eigenvalues. SymPy confirms the Kronecker form of $JJ^\top$ on the
# symbolic network (with $\Sigma = I$):

# %%
JJt = J * J.T
JJt_formula = sum(
    (sp.kronecker_product(P[l] * P[l].T, Q[l].T * Q[l]) for l in range(2)), sp.zeros(d_out * d_in, d_out * d_in)
)
assert sp.expand(JJt - JJt_formula) == sp.zeros(*JJt.shape)
print(
    "J J^T =",
    " + ".join(f"(P_{l + 1} P_{l + 1}^T) (x) (Q_{l + 1}^T Q_{l + 1})" for l in range(2)),
    f"({JJt.shape[0]} x {JJt.shape[0]})",
)

# %% [markdown]
# Now measured, on a network with wide hidden layers: $P = 288$ parameters but
# $d_{out}d_{in} = 12$.

# %%
dims_w = [4, 12, 16, 3]
net_w = DeepLinearNetwork.random(dims_w, seed=5, device=device)
Ws_w = [w.detach() for w in net_w.weights]
Xw = torch.randn(40, 4, generator=g, dtype=torch.float64).to(device)
ev_gn = eigvalsh(dln_gauss_newton_closed_form(Ws_w, X=Xw))[::-1]
ev_jjt = eigvalsh(dln_jjt(Ws_w, X=Xw))[::-1]
k = dims_w[0] * dims_w[-1]
print(f"P = {net_w.num_params}, d_out d_in = {k}")
print("top of H_GN:", np.round(ev_gn[:k], 6))
print("J J^T     :", np.round(ev_jjt, 6))
# both are eigenvalues of exact matrices; eigvalsh's backward error is ~ P eps ||H|| <~ 3e-13 ||H||
tol = 1e-10 * ev_gn[0]
assert np.max(np.abs(ev_gn[:k] - ev_jjt)) < tol
assert np.all(np.abs(ev_gn[k:]) < tol)  # the other P - d_out d_in eigenvalues are zero

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(np.arange(1, k + 1), ev_jjt, "o", ms=9, mfc="none", label=r"$JJ^\top$ (12 x 12)")
ax.semilogy(np.arange(1, 41), np.abs(ev_gn[:40]) + 1e-18, ".", label=r"$|\lambda(H^{GN})|$ (288 x 288), top 40")
ax.axvline(k + 0.5, color="gray", ls=":")
ax.set_xlabel("index"), ax.set_ylabel("eigenvalue"), ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 1.6 Row-major vs column-major: the same matrix
#
# Reorder every layer's parameters column by column (a permutation $\Pi$ of the parameter vector).
# In that order the blocks must read $(Q_l\Sigma Q_m^\top)\otimes(P_l^\top P_m)$ — the input factor first,
# as a column-major text writes them.

# %%
perm = []
for l in range(L):
    rows, cols = dims[l + 1], dims[l]
    perm += [off[l] + i * cols + j for j in range(cols) for i in range(rows)]  # column-major walk
perm = torch.tensor(perm, device=device)
H_colmajor = H_gn[perm][:, perm]
Pm, Qm = partial_products(Ws)
Sig = X.T @ X / B
spec_blocks = torch.cat(
    [torch.cat([torch.kron(Qm[l] @ Sig @ Qm[m].T, Pm[l].T @ Pm[m]) for m in range(L)], 1) for l in range(L)], 0
)
# same entries computed by products in a different order: float64 rounding only
assert torch.allclose(H_colmajor, spec_blocks, rtol=1e-12, atol=1e-12 * float(spec_blocks.abs().max()))
print("column-major Gauss-Newton blocks = (Q_l Sigma Q_m^T) (x) (P_l^T P_m): checked")

# %% [markdown]
# **Summary.** $\nabla^2\ell = H^{GN} + H^{res}$; $H^{GN}_{lm} = (P_l^\top P_m)\otimes(Q_l\Sigma Q_m^\top)$
# (row-major); $H^{res}$ is linear in $G = W\Sigma - C$ with zero diagonal blocks; and the nonzero
# spectrum of $H^{GN}$ is that of the $d_{out}d_{in}$-square $JJ^\top$. Notebook 2 evaluates
# $JJ^\top$ at the global minima that gradient descent finds, and the depth of the network
# appears in its spectrum.
