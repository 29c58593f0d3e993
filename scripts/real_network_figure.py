"""Write docs/img/real-network-spectra.png: SLQ densities (left: a DLN minimum against its exact spectrum with
multiplicities; right: the zoo CNN over all 1,497 digits training images through a DataLoader, with its top-5
Lanczos eigenvalues). Run from the repository root: ``python3 scripts/real_network_figure.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from dlnkit.numerics.alignment import linear_chain  # noqa: E402
from dlnkit.numerics.curvature import ModelCurvature  # noqa: E402
from dlnkit.numerics.dln import DeepLinearNetwork, whitened_inputs  # noqa: E402
from dlnkit.numerics.zoo import get_trained  # noqa: E402
from dlnkit.records.outputs import atomic_output  # noqa: E402
from dlnkit.records.spectral_plots import plot_density  # noqa: E402
from dlnkit.theory import balanced_minimum_spectrum_numeric  # noqa: E402


def main(out: str = "docs/img/real-network-spectra.png") -> int:
    torch.set_num_threads(1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    dims, t = [16, 32, 32, 10], [3.0, 2.0, 1.5, 1.0, 0.5]
    net, M = DeepLinearNetwork.balanced_minimum(dims, t, dtype=torch.float64, device="cpu")
    X = whitened_inputs(100, dims[0], seed=1)
    loader = [(X[i : i + 32], (X @ M.T)[i : i + 32]) for i in range(0, 100, 32)]
    dln = ModelCurvature(linear_chain([W.detach() for W in net.weight_list()]), "mse", loader)
    exact = balanced_minimum_spectrum_numeric(dims, t)["all"]
    dens = dln.density(num_probes=16, num_steps=40, seed=0)
    plot_density(
        dens,
        ax=a,
        exact=exact,
        sigma=0.03,
        title=f"DLN minimum (P = {dln.num_params}): SLQ 16x40 vs exact, W1/lmax = "
        f"{dens.wasserstein_to(exact) / max(exact):.1e}",
    )
    tm = get_trained("cnn")
    Xd, yd = tm.data.X_train, tm.data.y_train
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xd, yd), batch_size=512)
    cnn = ModelCurvature(tm.model.eval(), torch.nn.CrossEntropyLoss(), data)
    top = cnn.top_eigenvalues(5, tol=1e-6, max_iters=60)
    dcnn = cnn.density(num_probes=2, num_steps=40, seed=0)
    plot_density(
        dcnn,
        ax=b,
        top=top.eigenvalues.tolist(),
        sigma=0.15,
        title=f"zoo CNN on all {cnn.num_samples} digits (P = {cnn.num_params}): SLQ 2x40",
    )
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
