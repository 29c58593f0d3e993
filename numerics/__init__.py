"""dlnkit.numerics: exact Hessians, Hessian-vector products and spectra in PyTorch.

By operation: forward passes and losses of the chains (:mod:`~dlnkit.numerics.chains`), autodiff
second derivatives (:mod:`~dlnkit.numerics.autodiff`), the one Hessian-route dispatcher
(:mod:`~dlnkit.numerics.hessian`), closed forms (:mod:`~dlnkit.numerics.dln_hessian`).

This package never imports SymPy; formulas that the theory side derives reach it as
plain numbers (see :mod:`dlnkit.claims`, the only place where the two meet).
"""

from dlnkit.numerics.chains import ChainLoss, MomentLoss, chain_forward, chain_loss, output_loss
from dlnkit.numerics.device import DEFAULT_DTYPE, resolve_device
from dlnkit.numerics.dln import (
    DeepLinearNetwork,
    random_orthonormal,
    teacher_map,
    whiten,
    whitened_inputs,
)
from dlnkit.numerics.dln_hessian import (
    dln_end_to_end_gradient,
    dln_gauss_newton_closed_form,
    dln_gauss_newton_nonzero_spectrum,
    dln_gradient_closed_form,
    dln_hessian_closed_form,
    dln_jjt,
    dln_loss,
    dln_residual_hessian_closed_form,
    partial_products,
    train_dln_gradient_descent,
)
from dlnkit.numerics.hessian import (
    HessianOperator,
    check_dense_fits,
    dense_hessian,
    dense_hessian_bytes,
    flatten_params,
    hvp,
    plan_hessian,
    unflatten_like,
)
from dlnkit.numerics.operators import CurvatureOperator, DenseOperator, MatmatOperator, as_operator
from dlnkit.numerics.point import Point, build_point, layer_offsets, num_params
from dlnkit.numerics.spectra import ClusterSplit, split_by_counts, split_by_gaps
from dlnkit.numerics.top_eigenvalues import EigenCluster, EigenResult
from dlnkit.numerics.training import TrainingRecord, heavy_ball_descent, heavy_ball_loop
from dlnkit.numerics.validation import DlnkitInputError, check_dims, check_finite

__all__ = [
    "DlnkitInputError",
    "check_dims",
    "check_finite",
    "resolve_device",
    "DEFAULT_DTYPE",
    "DeepLinearNetwork",
    "random_orthonormal",
    "teacher_map",
    "whitened_inputs",
    "whiten",
    "dense_hessian",
    "plan_hessian",
    "ChainLoss",
    "MomentLoss",
    "chain_forward",
    "chain_loss",
    "output_loss",
    "hvp",
    "HessianOperator",
    "CurvatureOperator",
    "DenseOperator",
    "MatmatOperator",
    "as_operator",
    "EigenResult",
    "EigenCluster",
    "dense_hessian_bytes",
    "check_dense_fits",
    "flatten_params",
    "unflatten_like",
    "dln_hessian_closed_form",
    "dln_gauss_newton_closed_form",
    "dln_residual_hessian_closed_form",
    "dln_jjt",
    "dln_gauss_newton_nonzero_spectrum",
    "dln_loss",
    "dln_end_to_end_gradient",
    "dln_gradient_closed_form",
    "train_dln_gradient_descent",
    "partial_products",
    "ClusterSplit",
    "split_by_counts",
    "split_by_gaps",
    "TrainingRecord",
    "heavy_ball_descent",
    "heavy_ball_loop",
    "Point",
    "build_point",
    "num_params",
    "layer_offsets",
]
