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
# # 8. The Hessian spectrum of a real network, over a whole data set
#
# The earlier lectures used deep linear networks, whose Hessian is known in closed form. Here the network is the
# zoo's small CNN (two 3×3 convolutions, max-pooling, two linear layers; P = 5,122 weights) and the loss is the
# cross-entropy **averaged over all 1,497 training images** of the digits data, fed through a `DataLoader` whose
# last batch is smaller than the others. Three questions:
#
# 1. What does the whole spectrum look like? A P×P eigendecomposition would need P = 5,122 Hessian-vector products
#    over the data set; **stochastic Lanczos quadrature** (SLQ) estimates the spectral density from a few dozen.
# 2. How accurate is SLQ? We check it where the exact spectrum *is* known: a deep linear network at a balanced
#    minimum (lecture 2, with multiplicities), and the CNN's last layer, whose 330×330 block we can afford densely.
# 3. Where does the curvature live? The per-layer diagonal blocks.
#
# **Conventions.** With batches $b$ of sizes $B_b$ and $N=\sum_b B_b$, the data-set loss is
# $\mathcal L(\theta)=\sum_b \frac{B_b}{N}\,L_b(\theta)$ with $L_b$ the loss module's own (mean) value on batch $b$, so
# the Hessian is the Hessian of the mean over all N samples whatever the batching (curvlinops' convention).
#
# **SLQ in one line.** For a unit probe $v$, $m$ Lanczos steps give $T_m=S\,\mathrm{diag}(\theta)S^\top$ and
# $v^\top f(H)v\approx\sum_i S_{1i}^2 f(\theta_i)$, exact for polynomials of degree $\le 2m-1$. Averaged over Rademacher
# probes this estimates $\frac1P\mathrm{tr}\,f(H)=\int f\,d\mu$, the spectral measure. The nodes $\theta_i$ with weights
# $S_{1i}^2$ are a discrete measure; a Gaussian kernel smooths it into a density.

# %%
# %matplotlib inline
import time
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")
import matplotlib.pyplot as plt
import numpy as np
import torch

from dlnkit.numerics.alignment import linear_chain
from dlnkit.numerics.curvature import ModelCurvature
from dlnkit.numerics.dln import DeepLinearNetwork, whitened_inputs
from dlnkit.numerics.slq import slq
from dlnkit.numerics.zoo import get_trained
from dlnkit.records.spectral_plots import plot_density
from dlnkit.theory import balanced_minimum_spectrum_numeric

torch.set_num_threads(1)  # small matrices: a second thread only adds contention on a shared machine
t_start = time.perf_counter()

# %% [markdown]
# ## SLQ where the answer is known: a deep linear network
#
# dims 8, 12, 12, 6 with target singular values 3, 2, 1 (P = 312). The exact spectrum, with multiplicities, comes from
# SymPy (`balanced_minimum_spectrum_numeric`). The Hessian comes from `ModelCurvature`, i.e. from the network and a
# data loader of whitened inputs, exactly as for the CNN below; we first check that its dense form has exactly the
# predicted eigenvalues, then run SLQ on it with growing numbers of steps and probes.

# %%
dims, t = [8, 12, 12, 6], [3.0, 2.0, 1.0]
net, M = DeepLinearNetwork.balanced_minimum(dims, t, dtype=torch.float64, device="cpu")
X = whitened_inputs(60, dims[0], seed=1)
Y = X @ M.T
loader = [(X[i : i + 16], Y[i : i + 16]) for i in range(0, 60, 16)]  # 16, 16, 16, 12
dln = ModelCurvature(linear_chain([W.detach() for W in net.weight_list()]), "mse", loader)
exact = balanced_minimum_spectrum_numeric(dims, t)["all"]
lam_max = float(np.max(exact))
H_dln = dln.dense()
assert np.abs(np.sort(torch.linalg.eigvalsh(H_dln).numpy()) - np.sort(exact)).max() < 1e-10 * lam_max
rows = []
for steps, probes in [(5, 1), (20, 4), (20, 16), (20, 64)]:
    res = slq(lambda V: H_dln @ V, H_dln.shape[0], num_probes=probes, num_steps=steps, seed=0)
    rows.append((steps, probes, res.wasserstein_to(exact) / lam_max, abs(res.top() - lam_max) / lam_max))
print("steps probes  W1/lambda_max  |top node - lambda_max|/lambda_max")
for r in rows:
    print(f"{r[0]:>5} {r[1]:>6}  {r[2]:>13.2e}  {r[3]:.1e}")
assert rows[-1][2] < 0.01 and rows[-1][3] < 1e-8

# %% [markdown]
# The extreme node converges first (after ~20 steps it is λ_max to rounding), while the bulk of the measure is only
# as good as the probe average: most of the W1 error is the Monte-Carlo error of the mass at zero (89% of this
# spectrum), which falls like $1/\sqrt{\text{probes}\cdot P}$, not with more steps once Lanczos has resolved the few
# distinct eigenvalues. This is the general shape of SLQ's accuracy (the README tabulates it).

# %% [markdown]
# ## The CNN on all of digits

# %%
tm = get_trained("cnn")
model = tm.model.eval()
Xd, yd = tm.data.X_train, tm.data.y_train
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xd, yd), batch_size=512)  # 512, 512, 473
cnn = ModelCurvature(model, torch.nn.CrossEntropyLoss(), data)
loss_value, gradient = cnn.loss_and_gradient()
print(
    f"P = {cnn.num_params}, N = {cnn.num_samples}, loss {loss_value:.4f}, |grad| {float(gradient.norm()):.3f}, "
    f"test accuracy {tm.info['test_accuracy']:.3f}"
)

t0 = time.perf_counter()
top = cnn.top_eigenvalues(5, tol=1e-6, max_iters=60, seed=0)
print(
    f"top-5 Hessian eigenvalues (Lanczos, {top.num_hvps} data-set HVPs, {time.perf_counter() - t0:.1f} s):",
    np.round(top.eigenvalues.numpy(), 4),
)
t0 = time.perf_counter()
density = cnn.density(num_probes=1, num_steps=20, seed=0)
print(f"SLQ: {density.num_matvecs} data-set HVPs, {time.perf_counter() - t0:.1f} s")
assert top.converged
# the largest SLQ node is a Ritz value of the same operator: it cannot exceed lambda_max (and is close to it)
assert density.top() <= float(top.eigenvalues[0]) * (1 + 1e-6)

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
plot_density(density, ax=ax, top=top.eigenvalues.tolist(), title="zoo CNN on all 1,497 digits: Hessian density (SLQ)")
plt.show()

# %% [markdown]
# Almost all of the mass sits at zero (the Hessian of an over-parameterised network is nearly singular), a thin
# continuum runs out to a few units, and a handful of outliers (the Lanczos eigenvalues, dotted) stand apart,
# roughly one per class: the picture PyHessian popularised, here over the whole training set.
#
# ## Per-layer blocks, and SLQ against an exact block
#
# The block of layer $l$ is the Hessian with only that layer's parameters free (`ModelCurvature.restricted`). The
# last layer's block (330 parameters) is cheap enough to build densely, which gives its exact spectrum.

# %%
blocks = {}
for name in ["conv1", "conv2", "fc1", "fc2"]:
    sub = cnn.restricted([name])
    ev = sub.top_eigenvalues(2, tol=1e-5, max_iters=20, seed=0).eigenvalues
    blocks[name] = (sub.num_params, ev.numpy())
    print(f"{name:<6} {sub.num_params:>5} params  top block eigenvalues {np.round(ev.numpy(), 4)}")

head = cnn.restricted(["fc2"])
H_head = head.dense()
exact_head = torch.linalg.eigvalsh(0.5 * (H_head + H_head.T)).numpy()
slq_head = head.density(num_probes=4, num_steps=25, seed=0)
w1 = slq_head.wasserstein_to(exact_head) / exact_head.max()
print(f"fc2 block: exact lambda_max {exact_head.max():.5f}, SLQ top node {slq_head.top():.5f}, W1/lambda_max {w1:.2e}")
assert abs(blocks["fc2"][1][0] - exact_head.max()) < 1e-4 * exact_head.max()
assert w1 < 0.05

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
plot_density(slq_head, ax=ax, exact=exact_head, title="fc2 block: SLQ (4 probes x 25 steps) vs exact eigenvalues")
plt.show()

# %% [markdown]
# Two things to take away. The blocks' top eigenvalues are *smaller* than the full Hessian's: the outliers of the
# full spectrum come from the coupling between layers (off-diagonal blocks), which a block-diagonal (per-layer or
# KFAC) view drops. And the SLQ density of the head matches its exact histogram where the mass is, with the
# extreme node at λ_max: what SLQ promises, and all it promises.

# %%
print(f"notebook ran in {time.perf_counter() - t_start:.0f} s wall, {time.process_time():.0f} s CPU")
