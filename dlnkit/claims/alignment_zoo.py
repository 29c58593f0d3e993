"""Claim of arXiv:2606.02596 A1/A2 on a trained network: the alpha decomposition on the zoo MLP."""

from __future__ import annotations

from hypothesis import strategies as st

from dlnkit.claims.alignment_dln import ARXIV_A
from dlnkit.claims.assumptions import ASSUMPTIONS
from dlnkit.claims.base import Claim, Comparison, Tolerance
from dlnkit.numerics.alignment import analyse_layer

# Deferred imports: SymPy's exact-arithmetic routes (dlnkit.configs.exact_points,
# dlnkit.theory.exact_*) and heavy array libraries load only when an exact route or a routine
# that needs them runs, so `dlnkit list` and the float checks stay light.


# ----- the zoo: decomposition on a trained network ---------------------------------------------------
class ZooDecomposition(Claim):
    r"""On a trained network (zoo MLP on digits, cached), the fitted alpha of a layer equals the
    sum of the LS slopes of log Lambda, log Phi, log chi (same directions), with the measured alpha
    shown beside the paper's reported value for MLP layers. That value comes from the paper's own
    architectures and data sets, so the comparison is a different setup, not a test. The full
    per-layer table of every zoo model is the ``dlnkit alignment`` job (too slow for ``verify``).
    """

    id = "A-zoo-decomposition"
    title = "trained MLP on digits: alpha = sum of the three slopes (alpha beside the paper's, different setup)"
    source = f"{ARXIV_A} A1/A2"
    kind = "exact"
    assumptions = (ASSUMPTIONS["same_index_set"],)
    tolerance = Tolerance(rtol=1e-9, atol=1e-9, reason="sums of float64 LS slopes")

    def config_strategy(self, drop=()):
        self.check_drop(drop)
        return st.fixed_dictionaries(
            {
                "model": st.just("mlp"),
                "layer": st.sampled_from(["fcs.0", "fcs.1", "fcs.2"]),
                "k": st.integers(5, 20),
                "factors": st.sampled_from(["empirical", "gn"]),
                "pairing": st.sampled_from(["index", "overlap"]),
            }
        )

    def default_configs(self):
        return [{"model": "mlp", "layer": "fcs.1", "k": 20, "factors": "empirical", "pairing": "index"}]

    def predict(self, config):
        return "sum of the three slopes"

    def measure(self, config, device="cpu"):
        from dlnkit.numerics.zoo import analysis_batch, get_trained

        tm = get_trained(config["model"])
        X, y = analysis_batch(tm, 256)
        rep = analyse_layer(
            tm.model,
            config["layer"],
            X,
            y,
            k=int(config["k"]),
            factors=config["factors"],
            pairing=config["pairing"],
            eigen=False,
        )
        f = rep.fits
        return {
            "alpha_common": f["alpha_common"],
            "parts": {"Lambda": f["slope_Lambda"], "Phi": f["slope_Phi"], "chi": f["slope_chi"]},
            "alpha": f["alpha"].exponent,
            "alpha_r2": f["alpha"].r2,
            "gamma": f["gamma"].exponent,
            "s_dir": f["s_dir"].exponent,
            # the points and the fitted line log h = alpha log sigma + log_c (natural logs), for
            # dlnkit report's h_k-against-sigma_k plot
            "sigma": [float(x) for x in rep.sigma],
            "h": [float(x) for x in rep.h],
            "log_c": f["alpha"].intercept,
        }

    def compare(self, predicted, measured, config):
        pred = sum(measured["parts"].values())
        a = measured["alpha_common"]
        p = measured["parts"]
        return Comparison(
            pred,
            a,
            abs(a - pred),
            self.tolerance.bound(pred),
            f"{pred:.4g}={p['Lambda']:.3g}+{p['Phi']:.3g}+{p['chi']:.3g}",
            f"alpha={a:.4g} (R2 {measured['alpha_r2']:.2f})",
            details=measured,
        )

    def reported_value(self, config):
        return "alpha~2 (reported for the paper's MLPs; different setup)"


CLAIMS = [ZooDecomposition()]
