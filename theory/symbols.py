"""The symbols of the notation in docs/claims.md, with the assumptions SymPy needs to simplify."""

import sympy as sp

from dlnkit.arguments import checked

#: depth, layer index, target rank, input and output dimensions
L = sp.Symbol("L", integer=True, positive=True)
l = sp.Symbol("l", integer=True, positive=True)
r = sp.Symbol("r", integer=True, positive=True)
d_in = sp.Symbol("d_in", integer=True, positive=True)
d_out = sp.Symbol("d_out", integer=True, positive=True)
#: per-layer singular value when all target singular values equal m**L
m = sp.Symbol("m", positive=True)
t_i, t_j = sp.symbols("t_i t_j", positive=True)


@checked
def target_symbols(rank: int) -> tuple[sp.Symbol, ...]:
    """Positive symbols t_1..t_r for the target's singular values.

    Parameters
    ----------
    rank
        How many singular values, r >= 1.

    Returns
    -------
    tuple of sympy.Symbol
        ``t_1, ..., t_r``, declared positive.

    Examples
    --------
    >>> target_symbols(3)
    (t_1, t_2, t_3)
    """
    return sp.symbols(f"t_1:{int(rank) + 1}", positive=True)
