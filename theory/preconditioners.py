r"""The transfer function T(sigma; alpha) = sigma / (sigma^alpha + d) and what it is (docs/claims.md#a6).

Write :math:`G = U\Sigma V^\top` (thin SVD, :math:`V^\top V = I`).

* :math:`\alpha = 2`: :math:`G(G^\top G + dI)^{-1}`. On the range of V,
  :math:`(G^\top G + dI)^{-1}V = V(\Sigma^2+dI)^{-1}`, hence
  :math:`G(G^\top G+dI)^{-1} = U\Sigma(\Sigma^2+dI)^{-1}V^\top = U\,T(\Sigma;2)\,V^\top` (for d > 0 the
  component orthogonal to V is annihilated by G anyway).
* :math:`\alpha = 1`, :math:`d\to0`: :math:`T\to 1` on every nonzero :math:`\sigma`, i.e. the polar factor
  :math:`UV^\top`.
* Damped Newton on an aligned Kronecker block. Let :math:`H = C_\delta\otimes C_A` (row-major) with
  :math:`C_\delta = U\operatorname{diag}(a)U^\top`, :math:`C_A = V\operatorname{diag}(b)V^\top` (factor eigenbases
  equal the singular bases of G). Then :math:`u_kv_l^\top` are eigenvectors with eigenvalues
  :math:`a_kb_l`, and
  :math:`(H + dI)^{-1}\operatorname{vec}_r(G)
  = \operatorname{vec}_r\big(U\operatorname{diag}(\sigma_k/(a_kb_k+d))V^\top\big)`.
  If the directional curvatures follow :math:`a_kb_k = c\,\sigma_k^{\alpha}` this is
  :math:`T(\sigma_k;\alpha,d/c)/c`: the family T is the damped Newton step on such a block, with
  the exponent measured as alpha. When the bases are not aligned the Newton step mixes
  directions and is not of this form.
"""

from __future__ import annotations

import sympy as sp

sigma, alpha, d, c = sp.symbols("sigma alpha d c", positive=True)


def transfer(sig: sp.Expr = sigma, a: sp.Expr | float = alpha, damping: sp.Expr | float = d) -> sp.Expr:
    """T(sigma; alpha, d).

    >>> transfer(sigma, 2, d)
    sigma/(d + sigma**2)
    """
    return sig / (sig**a + damping)


def newton_alpha2_gap(m: int, n: int) -> sp.Matrix:
    r"""G (G^T G + d I)^{-1} - U T(Sigma; 2) V^T for G = U Sigma V^T with U, V taken as identity
    blocks (orthogonal invariance) and symbolic sigma_k: zero matrix.

    >>> newton_alpha2_gap(3, 2).is_zero_matrix
    True
    """
    r = min(m, n)
    sig = sp.symbols(f"sigma_1:{r + 1}", positive=True)
    G = sp.zeros(m, n)
    for i in range(r):
        G[i, i] = sig[i]
    lhs = G * (G.T * G + d * sp.eye(n)).inv()
    rhs = sp.zeros(m, n)
    for i in range(r):
        rhs[i, i] = transfer(sig[i], 2, d)
    return sp.simplify(lhs - rhs)


def polar_limit() -> sp.Expr:
    """lim_{d -> 0} T(sigma; 1, d) = 1.

    >>> polar_limit()
    1
    """
    return sp.limit(transfer(sigma, 1, d), d, 0)


def kronecker_newton_gap(rank: int) -> sp.Matrix:
    r"""(C_delta (x) C_A + d I)^{-1} vec_r(G) - vec_r(U diag(T(sigma_k; alpha, d/c)/c) V^T) on an aligned
    block with a_k b_k = c sigma_k^alpha (bases = identity by orthogonal invariance): zero.

    >>> kronecker_newton_gap(2).is_zero_matrix
    True
    """
    from dlnkit.theory.kronecker import kron, vec_row_major

    sig = sp.symbols(f"sigma_1:{rank + 1}", positive=True)
    a = sp.symbols(f"a_1:{rank + 1}", positive=True)
    # b_k chosen so that a_k b_k = c sigma_k^alpha
    b = [c * sig[i] ** alpha / a[i] for i in range(rank)]
    H = kron(sp.diag(*a), sp.diag(*b))
    G = sp.diag(*sig)
    step = (H + d * sp.eye(rank * rank)).inv() * vec_row_major(G)
    want = vec_row_major(sp.diag(*[transfer(sig[i], alpha, d / c) / c for i in range(rank)]))
    return sp.simplify(step - want)
