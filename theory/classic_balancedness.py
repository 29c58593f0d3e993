r"""C1: balancedness is conserved by gradient flow; gradient descent changes it by an exact
second-order term (Arora, Cohen, Hazan, arXiv:1802.06509; Du, Hu, Lee, arXiv:1806.00900).

Notation. :math:`W = W_L\cdots W_1`, :math:`\nabla = \partial\ell/\partial W` for *any*
differentiable loss of the end-to-end map, :math:`P_l = W_L\cdots W_{l+1}`,
:math:`Q_l = W_{l-1}\cdots W_1`, per-layer gradient :math:`g_l = P_l^\top\nabla Q_l^\top`, and
:math:`D_l = W_{l+1}^\top W_{l+1} - W_lW_l^\top` (:math:`1 \le l \le L-1`).

Derivation. With :math:`A = P_{l+1}` and :math:`B = Q_l` we have :math:`P_l = AW_{l+1}`,
:math:`Q_{l+1} = W_lB`, hence

.. math:: W_{l+1}^\top g_{l+1} = W_{l+1}^\top A^\top\nabla B^\top W_l^\top = g_l W_l^\top .

Under the flow :math:`\dot W_l = -g_l`:
:math:`\dot D_l = -(g_{l+1}^\top W_{l+1} + W_{l+1}^\top g_{l+1}) + (g_lW_l^\top + W_lg_l^\top) = 0`.
One gradient step :math:`W_l \to W_l - \eta g_l` changes the two Gram matrices by their cross
terms (which cancel, by the same identity) and by :math:`\eta^2 g^\top g`, :math:`\eta^2 gg^\top`:

.. math:: D_l^{+} - D_l = \eta^2\,(g_{l+1}^\top g_{l+1} - g_l g_l^\top) \quad\text{exactly.}

Both are proved here on SymPy *matrix symbols* (any sizes, any loss: :math:`\nabla` is a free
symbol), and on explicit small matrices. Nothing uses the squared loss, whitening or a target.

Positively homogeneous activations (ReLU, leaky ReLU) keep a per-neuron version: for
:math:`f = W_2\,\sigma(W_1x)` with :math:`\sigma(z) = z\sigma'(z)`,
:math:`\tfrac{d}{dt}\big(\|W_1[k,:]\|^2 - \|W_2[:,k]\|^2\big) = 0` for every hidden unit k, i.e.
the *diagonal* of :math:`D_1` (not the whole matrix) is conserved; :func:`neuron_balance_rate`
gives the rate for any activation, which vanishes iff :math:`z\sigma'(z) = \sigma(z)` (false for tanh).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from dlnkit.arguments import checked
from dlnkit.theory.exact_hessian import partial_products_exact

__all__ = [
    "flow_derivative_matrix_form",
    "step_change_matrix_form",
    "flow_derivative_explicit",
    "step_change_explicit",
    "neuron_balance_rate",
    "step_size",
]

#: the step size of gradient descent
step_size = sp.Symbol("eta", positive=True)


def _symbols_matrix_form() -> tuple[sp.MatrixExpr, sp.MatrixExpr, sp.MatrixExpr, sp.MatrixExpr]:
    n_out, n_lp1, n_l, n_lm1, n_in = sp.symbols("n_out n_lp1 n_l n_lm1 n_in", integer=True, positive=True)
    A = sp.MatrixSymbol("P_lp1", n_out, n_lp1)  # W_L ... W_{l+2}
    Wn = sp.MatrixSymbol("W_lp1", n_lp1, n_l)  # W_{l+1}
    Wl = sp.MatrixSymbol("W_l", n_l, n_lm1)  # W_l
    B = sp.MatrixSymbol("Q_l", n_lm1, n_in)  # W_{l-1} ... W_1
    N = sp.MatrixSymbol("nabla", n_out, n_in)  # dl/dW, any loss
    g_l = (A * Wn).T * N * B.T
    g_next = A.T * N * (Wl * B).T
    return Wn, Wl, g_l, g_next


@checked
def flow_derivative_matrix_form() -> sp.MatrixExpr:
    r""":math:`\dot D_l` under gradient flow, for matrix symbols of any size; simplifies to zero.

    >>> sp.simplify(flow_derivative_matrix_form().doit().expand())
    0
    """
    Wn, Wl, g_l, g_next = _symbols_matrix_form()
    return -(g_next.T * Wn + Wn.T * g_next) + (g_l * Wl.T + Wl * g_l.T)


@checked
def step_change_matrix_form(eta: sp.Expr = step_size) -> tuple[sp.MatrixExpr, sp.MatrixExpr]:
    r"""(change of :math:`D_l` after one step, :math:`\eta^2(g_{l+1}^\top g_{l+1} - g_lg_l^\top)`),
    for matrix symbols of any size. Their difference expands to zero.

    >>> change, claimed = step_change_matrix_form()
    >>> sp.simplify((change - claimed).doit().expand())
    0
    """
    Wn, Wl, g_l, g_next = _symbols_matrix_form()
    Wn_new, Wl_new = Wn - eta * g_next, Wl - eta * g_l
    change = (Wn_new.T * Wn_new - Wl_new * Wl_new.T) - (Wn.T * Wn - Wl * Wl.T)
    return change, eta**2 * (g_next.T * g_next - g_l * g_l.T)


def _explicit_chain(dims: Sequence[int]) -> tuple[list[sp.Matrix], list[sp.Matrix]]:
    dims = [int(d) for d in dims]
    Ws = [
        sp.Matrix(dims[k + 1], dims[k], lambda a, b, k=k: sp.Symbol(f"w{k + 1}_{a}{b}")) for k in range(len(dims) - 1)
    ]
    N = sp.Matrix(dims[-1], dims[0], lambda a, b: sp.Symbol(f"G_{a}{b}"))
    P, Q = partial_products_exact(Ws)
    g = [Pk.T * N * Qk.T for Pk, Qk in zip(P, Q)]
    return Ws, g


@checked
def flow_derivative_explicit(dims: Sequence[int]) -> list[sp.Matrix]:
    r""":math:`\dot D_l` for every l on explicit symbolic matrices (entries w, free gradient G).

    >>> all(M.expand() == sp.zeros(*M.shape) for M in flow_derivative_explicit([2, 3, 1, 2]))
    True
    """
    Ws, g = _explicit_chain(dims)
    return [
        (-(g[k + 1].T * Ws[k + 1] + Ws[k + 1].T * g[k + 1]) + (g[k] * Ws[k].T + Ws[k] * g[k].T)).expand()
        for k in range(len(Ws) - 1)
    ]


@checked
def step_change_explicit(dims: Sequence[int], eta: sp.Expr = step_size) -> list[sp.Matrix]:
    r"""(change of :math:`D_l` after one step) minus :math:`\eta^2(g_{l+1}^\top g_{l+1} - g_lg_l^\top)`,
    for every l, on explicit symbolic matrices: all zero matrices.

    >>> all(M == sp.zeros(*M.shape) for M in step_change_explicit([1, 2, 2]))
    True
    """
    Ws, g = _explicit_chain(dims)
    new = [W - eta * gk for W, gk in zip(Ws, g)]

    def D(V: list[sp.Matrix], k: int) -> sp.Matrix:
        return V[k + 1].T * V[k + 1] - V[k] * V[k].T

    return [
        (D(new, k) - D(Ws, k) - eta**2 * (g[k + 1].T * g[k + 1] - g[k] * g[k].T)).expand() for k in range(len(Ws) - 1)
    ]


@checked
def neuron_balance_rate(activation: str | sp.Lambda = "relu") -> sp.Expr:
    r"""d/dt (|W_1[k,:]|^2 - |W_2[:,k]|^2) for one hidden unit of f = W_2 sigma(W_1 x), one input
    x (symbols), any loss (r = dl/df free), weights w (in), v (out), under gradient flow.

    Equal to :math:`2\,\sum_o r_o v_o\,(\sigma(z) - z\sigma'(z))` with z = w.x: zero for every
    positively homogeneous sigma (:math:`\sigma(z) = z\sigma'(z)`), nonzero for tanh.

    >>> neuron_balance_rate("relu")
    0
    >>> rate = neuron_balance_rate("tanh")
    >>> round(float(rate.subs({x: 1 for x in rate.free_symbols})), 6)   # z = 2: 2 * 2 (tanh(2) - 2 tanh'(2))
    3.290904
    """
    z = sp.Symbol("z", real=True)
    if activation == "relu":  # z sigma'(z) = sigma(z) away from 0 on either side: check both branches
        branches = [sp.Lambda(z, z), sp.Lambda(z, sp.Integer(0) * z), sp.Lambda(z, z / 10)]
    elif activation == "tanh":
        branches = [sp.Lambda(z, sp.tanh(z))]
    elif activation == "linear":
        branches = [sp.Lambda(z, z)]
    else:
        branches = [activation]
    x1, x2, w1, w2, v1, v2, r1, r2 = sp.symbols("x1 x2 w1 w2 v1 v2 r1 r2", real=True)
    out = []
    for sig in branches:
        pre = w1 * x1 + w2 * x2
        h = sig(pre)
        dsig = sp.diff(sig(z), z).subs(z, pre)
        # loss gradient wrt outputs r = (r1, r2); f_o = v_o h
        g_w = [(r1 * v1 + r2 * v2) * dsig * x for x in (x1, x2)]  # dl/dw_i
        g_v = [r1 * h, r2 * h]  # dl/dv_o
        rate = -2 * (w1 * g_w[0] + w2 * g_w[1]) + 2 * (v1 * g_v[0] + v2 * g_v[1])
        out.append(sp.expand(rate))
    return out[0] if all(sp.expand(o - out[0]) == 0 for o in out) else sp.Tuple(*out)
