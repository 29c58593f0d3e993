"""Every assumption a built-in claim makes, each stated once.

A claim lists the names it assumes (``assumptions = assumed("balanced", "aligned")``); the name is
what ``dlnkit counterexample --drop NAME`` takes and what counterexample records store, and the
statement below is the one every claim, table and page shows. Which configuration knob breaks an
assumption is the claim's business (its ``violations``); what the assumption *says* is here.
"""

from __future__ import annotations

from dlnkit.claims.base import Assumption

_STATEMENTS = {
    # ----- the deep linear network and its data
    "linear": "no activation: f(x) = W_L ... W_1 x",
    "homogeneous_activation": "the activation is positively homogeneous: sigma(z) = z sigma'(z) (linear, ReLU)",
    "tanh_every_layer": "tanh after every layer, the output layer included (as in the paper's code)",
    "whitened": "inputs are whitened: (1/B) X^T X = I",
    "squared_loss": "the loss is the squared loss",
    # ----- the point
    "balanced": "W_{l+1}^T W_{l+1} = W_l W_l^T for every l (every layer has the same nonzero singular values)",
    "aligned": "consecutive layers share singular bases (no GL twist of a hidden layer) and the end-to-end map "
    "shares the target's M = U diag(t) V^T",
    "rescaling_orbit": "the point is W_1 -> c W_1, W_2 -> W_2 / c of a balanced one (a rescaling, no GL twist)",
    "global_minimum": "the point is a global minimum of the loss (zero residual)",
    "at_origin": "every layer is exactly zero",
    "balanced_aligned_init": "initialised balanced and aligned with the teacher's bases",
    # ----- the target
    "hidden_width_ge_rank": "every hidden width is at least the target rank r",
    "equal_target_singular_values": "all target singular values are equal (t_i = m^L)",
    "rank_below_dims": "r < max(d_in, d_out), so the bulk is not empty",
    "distinct_targets": "the target's nonzero singular values are distinct",
    # ----- the training
    "plain_gd": "plain gradient descent (no momentum)",
    "paper_setup": "the configuration is the paper's code setup (X = I_16, rank-10 balanced init from A, aligned "
    "rank-5 target, SGD lr 0.01 momentum 0.9, no stopping rule)",
    # ----- the alignment measurements (arXiv:2606.02596)
    "row_major_order": "the Kronecker factors are ordered output-first (C_delta (x) C_A) to match torch's "
    "row-major vec(W)",
    "same_index_set": "all least-squares slopes are fitted over the same directions (h, Phi, chi, Lambda > 0)",
    "flat_residual": "|s_k^L - t_k| is the same for every direction in the fit window",
    "vanishing_damping": "d -> 0 for the polar-factor identity (d = 0 used)",
    "factor_bases_aligned": "for kron_newton: the factor eigenbases equal G's singular bases",
    "pure_power_law": "the curvatures follow their power laws exactly (sigma_k = b k^-gamma, h_k = c sigma_k^alpha "
    "= c' k^-s)",
    "s_from_directional": "s is fitted on the directional curvatures h_k, not eigenvalues",
    "top_anchored_window": "the window starts at the largest curvature, k = 1",
    "exponent_above_one": "s > 1",
}

#: name -> the one :class:`Assumption` with that name
ASSUMPTIONS: dict[str, Assumption] = {name: Assumption(name, text) for name, text in _STATEMENTS.items()}


def assumed(*names: str) -> tuple[Assumption, ...]:
    """The table's assumptions with these names, in this order (a claim's ``assumptions``)."""
    unknown = [n for n in names if n not in ASSUMPTIONS]
    if unknown:
        raise KeyError(f"no assumption {unknown} in dlnkit.claims.assumptions")
    return tuple(ASSUMPTIONS[n] for n in names)
