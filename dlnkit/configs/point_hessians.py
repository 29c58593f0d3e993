"""The loss Hessian of a :class:`~dlnkit.numerics.point.Point` (a configuration built by
:func:`dlnkit.build_point`): the closed form, its Gauss-Newton and residual parts, and the
independent autograd route. Re-exported by :mod:`dlnkit.api`."""

from __future__ import annotations

from dlnkit.arguments import checked
from dlnkit.numerics.dln_hessian import dln_gauss_newton_closed_form, dln_residual_hessian_closed_form
from dlnkit.numerics.hessian import dense_hessian
from dlnkit.numerics.point import Point
from dlnkit.numerics.validation import DlnkitInputError


@checked
def hessian(point: Point):
    """The exact P x P loss Hessian from the closed form (Gauss-Newton + residual blocks), assembled
    in place in one P x P buffer (:func:`dlnkit.numerics.dln_hessian_fast.dln_hessian_assembled`;
    claim B0 checks the block-by-block reference assembly against torch.func).

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`), linear network.

    Returns
    -------
    torch.Tensor
        The P x P Hessian, float64, on the point's device.

    Raises
    ------
    DlnkitInputError
        The Hessian would not fit in memory (refused before allocating), or the point's network is
        not linear (the closed form does not apply; use :func:`autograd_hessian`).
    """
    if point.activation != "linear":
        raise DlnkitInputError(
            f"dlnkit.hessian is the linear network's closed form; this point's network has {point.activation} "
            "between its layers: use dlnkit.autograd_hessian"
        )
    return dense_hessian(point.loss_function(), point.weights, route="closed_form")


@checked
def autograd_hessian(point: Point):
    """The loss Hessian by autograd (independent of the closed form): the Hessian dispatcher's
    ``route="autograd"`` (torch.func on these chains, checked against double backward).

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`); tanh networks too (their batch loss).

    Returns
    -------
    torch.Tensor
        The P x P Hessian of ``point.loss_function()``.

    Raises
    ------
    DlnkitInputError
        The Hessian would not fit in memory (refused before allocating).
    """
    return dense_hessian(point.loss_function(), point.weights, route="autograd")


@checked
def gauss_newton_hessian(point: Point):
    """The Gauss-Newton part J^T (I (x) Sigma) J, closed form.

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`).

    Returns
    -------
    torch.Tensor
        The P x P Gauss-Newton matrix.

    Raises
    ------
    DlnkitInputError
        The matrix would not fit in memory (refused before allocating).
    """
    return dln_gauss_newton_closed_form(point.weights, sigma=point.sigma)


@checked
def residual_hessian(point: Point):
    """The residual part (bilinear in W Sigma - C, zero diagonal blocks), closed form.

    Parameters
    ----------
    point
        A :class:`Point` (from :func:`build_point`).

    Returns
    -------
    torch.Tensor
        The P x P residual part (zero at a global minimum).

    Raises
    ------
    DlnkitInputError
        The matrix would not fit in memory (refused before allocating).
    """
    return dln_residual_hessian_closed_form(point.weights, sigma=point.sigma, cross=point.cross)
