"""Configuration values for the symbols of a prediction, and a prediction evaluated on a configuration.

Used by user claims (:mod:`dlnkit.claims.user_claim`); re-exported from :mod:`dlnkit.api`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dlnkit.arguments import checked
from dlnkit.numerics.point import num_params

# Deferred imports: torch, SymPy and the float64 Hessian routes load only in the routine that
# needs them (an exact point needs no torch until it is converted to float64).

# ----- configurations -> values for symbols -------------------------------------------------


@checked
def config_values(config: Mapping) -> dict[str, Any]:
    """Name -> value for filling a prediction's symbols (see the module doc).

    Parameters
    ----------
    config
        A configuration dict (``dims``, ``t``, ``seed``, ...).

    Returns
    -------
    dict
        Symbol name -> value: the configuration's own numeric entries, and from ``dims`` the depth
        ``L``, ``d_in``, ``d_out``, ``d_0``..``d_L`` and ``P``, from ``t`` the rank ``r``.

    Examples
    --------
    >>> v = config_values({"dims": [3, 4, 2], "t": [2.0, 1.0], "seed": 0})
    >>> v["L"], v["d_in"], v["d_out"], v["d_1"], v["P"], v["r"]
    (2, 3, 2, 4, 20, 2)
    """
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = v
    dims = config.get("dims")
    if dims is not None:
        dims = [int(d) for d in dims]
        out.update(L=len(dims) - 1, d_in=dims[0], d_out=dims[-1], P=num_params(dims))
        out.update({f"d_{k}": d for k, d in enumerate(dims)})
    if config.get("t") is not None:
        out["r"] = len(config["t"])
    return out


def _substitute(expr, config: Mapping):
    import sympy as sp

    expr = sp.sympify(expr)
    values = config_values(config)
    subs = {s: values[s.name] for s in expr.free_symbols if s.name in values}
    out = expr.subs(subs)
    missing = sorted(s.name for s in out.free_symbols)
    if missing:
        from dlnkit.numerics.validation import DlnkitInputError

        raise DlnkitInputError(
            f"the prediction still has the symbols {', '.join(missing)} after filling in "
            f"the configuration {dict(config)}; name them after configuration keys"
        )
    return out


@checked
def evaluate_prediction(value, config: Mapping, *, exact: bool = False):
    """A prediction's value for a configuration: SymPy expressions are filled in (see
    :func:`config_values`) and, unless ``exact``, turned into floats (matrices into NumPy arrays);
    anything else is returned as it is.

    Parameters
    ----------
    value
        A SymPy expression or matrix, or anything else (returned unchanged).
    config
        The configuration whose values fill the symbols.
    exact
        Keep SymPy's exact value (rationals) instead of converting to floats.

    Returns
    -------
    float, numpy.ndarray, sympy.Expr or the input
        The filled-in prediction.

    Examples
    --------
    >>> import sympy as sp
    >>> evaluate_prediction(sp.Symbol("L") ** 2, {"dims": [2, 3, 3, 1]})
    9.0
    >>> evaluate_prediction(sp.Symbol("L") / 2, {"dims": [2, 3, 3, 1]}, exact=True)
    3/2
    """
    import sympy as sp

    if isinstance(value, sp.MatrixBase):
        out = value.applyfunc(lambda e: _substitute(e, config))
        if exact:
            return out
        import numpy as np

        return np.array(out.evalf(), dtype=np.float64)
    if isinstance(value, sp.Basic):
        out = _substitute(value, config)
        return out if exact else float(out)
    return value
