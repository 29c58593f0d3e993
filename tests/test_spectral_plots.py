"""plot_density leaves the caller's matplotlib alone (a notebook's figures survive a saved plot)."""

import matplotlib
import numpy as np

from dlnkit.records.spectral_plots import plot_density


class TwoAtoms:
    """The part of an SLQ result plot_density uses: nodes with weights and a smoothed density."""

    def atoms(self):
        return np.array([1.0, 3.0]), np.array([0.5, 0.5])

    def density(self, grid, sigma=None):
        s = sigma or 0.1
        return sum(0.5 * np.exp(-((grid - a) ** 2) / (2 * s * s)) / (s * np.sqrt(2 * np.pi)) for a in (1.0, 3.0))


def test_saving_a_density_keeps_the_backend_and_the_open_figures(tmp_path):
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    fig, ax = plt.subplots()
    plot_density(TwoAtoms(), ax=ax, title="first")
    plot_density(TwoAtoms(), tmp_path / "d.png", exact=[1.0, 3.0])
    assert (tmp_path / "d.png").stat().st_size > 1000
    assert matplotlib.get_backend() == backend and plt.fignum_exists(fig.number)
    assert ax.get_title() == "first" and ax.lines
    plt.close(fig)
