r"""Finite training of a deep linear network as a prediction (the setup of arXiv:2602.00545's code).

**The point.** Whitened data (Sigma = I), loss :math:`\tfrac12\|W - T\|_F^2`. The init and the
target share singular bases (U, V); every layer is diagonal in those bases with per-layer mode
sizes :math:`s_k` (balanced: the same in every layer). Gradient descent keeps this structure (each
layer's update is diagonal in the same bases and, all layers being equal, the same for every
layer), so after any number of steps the point is "balanced aligned, not a minimum": the
target's r modes sit near size 1 and the init's extra modes (target 0) at some sizes :math:`a_k`.

**Gauss-Newton part.** Its nonzero spectrum is that of
:math:`JJ^\top = \sum_l (P_lP_l^\top)\otimes(Q_l^\top Q_l)`, diagonal in the pair basis
(output mode i, input mode j), with eigenvalue

.. math:: \lambda_{ij} = \sum_{l=1}^{L} s_i^{2(L-l)} s_j^{2(l-1)}, \qquad 0^0 = 1,

derived by :func:`derive_gauss_newton_aligned` from symbolic diagonal weights and summed over l
in :func:`pair_eigenvalue`. With r target modes at size 1, n extra modes at size a, and null input
/ output directions (size 0), the groups are: r^2 at L (target x target), 2 r n at
:math:`g_L(a) = \sum_{m=0}^{L-1} a^{2m}` (target x extra, both orders), r (d_in - R) + r (d_out - R)
at 1 (target x null, R = r + n), n^2 at :math:`L a^{2(L-1)}`, n (d_in - R) + n (d_out - R) at
:math:`a^{2(L-1)}` and zeros. So the count split (top r^2 dominant, next r (d_in + d_out - 2r)
bulk) has the bulk mean :func:`count_bulk_mean` > 1 while a > 0, and the ratio below L.

**Residual part.** The point is not a minimum: E = W - T has singular values
:math:`|s_k^L - t_k|` (the extra modes give :math:`a_k^L`), and the Hessian is
H_GN + H_res with H_res linear in E (zero in the diagonal blocks). It is not diagonal in the pair
basis and has eigenvalues of both signs; its effect on every sorted eigenvalue, hence on every
cluster mean, is at most :math:`\|H_{res}\|_2` (Weyl). The claims measure :math:`\|H_{res}\|_2`
at the trained point and carry it into the tolerance.

**Decay of a mode with zero target.** One mode, all L layers at size a: loss
:math:`\tfrac12 u^2`, :math:`u = a^L`, so gradient flow is :math:`\dot a = -a^{2L-1}`
(:func:`decay_ode`), solved by :func:`decay_law`:
:math:`a(t)^{-(2L-2)} = a_0^{-(2L-2)} + (2L-2)\,t` for L >= 2 (polynomial decay), :math:`a_0 e^{-t}`
for L = 1.

**Heavy ball.** SGD with learning rate eta and momentum beta, on a gradient g that changes slowly,
moves by :math:`\eta g \sum_{n=1}^{K}(1-\beta^n)/(1-\beta)` in K steps
(:func:`heavy_ball_time`): the flow time :math:`t_K = \frac{\eta}{1-\beta}\big(K - \beta\frac{1-\beta^K}{1-\beta}\big)`,
i.e. the effective rate :math:`\eta/(1-\beta)` after a lag of :math:`\beta/(1-\beta)` steps. This
is the first-order (slowly varying gradient) approximation: the discrete recursion differs from the
flow by terms of relative order :math:`\eta a^{2L-2}/(1-\beta)` per step, largest at the start and
shrinking as the mode decays; the claims compute that difference from the exact scalar recursion.

**Steps needed.** The count-split ratio is within eps of L once :math:`g_L(a) \le G^*` with
:math:`G^*` from :func:`bulk_threshold`, i.e. once :math:`a \le a^*`, which the decay law turns into a
step count (:func:`steps_for_size`).
"""

from __future__ import annotations

import functools

import sympy as sp

from dlnkit.theory.dln_spectrum import derive_jjt_aligned

L = sp.Symbol("L", integer=True, positive=True)
l = sp.Symbol("l", integer=True, positive=True)
s_i, s_j = sp.symbols("s_i s_j", nonnegative=True)
a, a0 = sp.symbols("a a_0", positive=True)
t = sp.Symbol("t", nonnegative=True)
eta, beta = sp.symbols("eta beta", positive=True)
K = sp.Symbol("K", integer=True, positive=True)
n = sp.Symbol("n", integer=True, positive=True)
eps = sp.Symbol("epsilon", positive=True)


def pair_eigenvalue(depth: sp.Expr = L, out_size: sp.Expr = s_i, in_size: sp.Expr = s_j) -> sp.Expr:
    r""":math:`\sum_{l=1}^{L} s_i^{2(L-l)} s_j^{2(l-1)}` summed by SymPy (a geometric sum).

    >>> pair_eigenvalue(3)
    s_i**4 + s_i**2*s_j**2 + s_j**4
    >>> sp.simplify(pair_eigenvalue(4, 1, a) - bulk_extra_value(4))
    0
    """
    return sp.expand(sp.summation(out_size ** (2 * (depth - l)) * in_size ** (2 * (l - 1)), (l, 1, depth)))


def bulk_extra_value(depth: sp.Expr = L, size: sp.Expr = a) -> sp.Expr:
    r"""g_L(a) = sum_{m=0}^{L-1} a^{2m}: a target mode paired with an extra mode of size a.

    >>> bulk_extra_value(3)
    a**4 + a**2 + 1
    """
    m = sp.Symbol("m", integer=True, nonnegative=True)
    return sp.expand(sp.summation(size ** (2 * m), (m, 0, depth - 1)))


def derive_gauss_newton_aligned(dims: list[int], sizes: list[sp.Expr]) -> sp.Matrix:
    """J J^T at the balanced aligned point with per-layer mode sizes ``sizes`` (one per mode, the
    same in every layer) on concrete ``dims``: symbolic diagonal weights, multiplied out.

    >>> J = derive_gauss_newton_aligned([2, 3, 2], [1, a])
    >>> [J[k, k] for k in range(4)]
    [2, a**2 + 1, a**2 + 1, 2*a**2]
    """
    depth = len(dims) - 1
    # derive_jjt_aligned takes end-to-end values t_k and puts t_k^(1/L) in every layer
    return derive_jjt_aligned(dims, [sp.sympify(s) ** depth for s in sizes]).applyfunc(sp.expand)


def count_bulk_mean(
    depth: sp.Expr = L, rank: int = 5, modes: int = 10, d_in: int = 16, d_out: int = 10, size: sp.Expr = a
) -> sp.Expr:
    r"""Mean of the count split's bulk (the r (d_in + d_out - 2r) eigenvalues after the r^2
    dominant ones) when the r target modes are at size 1 and the extra modes all at size a (small
    enough that g_L(a) lies between 1 and L): 2 r n g_L(a) + r (d_in - R + d_out - R) ones.

    >>> count_bulk_mean(2).subs(a, 0)
    1
    """
    n_extra = modes - rank
    n_bulk = rank * (d_in + d_out - 2 * rank)
    ones = rank * (d_in - modes) + rank * (d_out - modes)
    return (2 * rank * n_extra * bulk_extra_value(depth, size) + ones) / sp.Integer(n_bulk)


def count_ratio(depth: sp.Expr = L, **kw: object) -> sp.Expr:
    """L / count_bulk_mean: the count-split ratio at extra-mode size a (target modes at 1).

    >>> sp.simplify(count_ratio(3).subs(a, 0))
    3
    """
    return depth / count_bulk_mean(depth, **kw)  # type: ignore[arg-type]


def adaptive_ratio(depth: sp.Expr = L, size: sp.Expr = a) -> sp.Expr:
    """L / g_L(a): the ratio when the adaptive rule's bulk is the 2 r n target x extra eigenvalues
    alone (its closing gap falls between g_L(a) and 1, as it does in the paper's runs for L >= 3).

    >>> adaptive_ratio(2).subs(a, 0)
    2
    """
    return depth / bulk_extra_value(depth, size)


def decay_ode(depth: sp.Expr = L) -> sp.Eq:
    r"""Gradient flow of one zero-target mode, all layers at size a(t): da/dt = -d/da_l (u^2/2)
    at a_l = a, u = prod a_l; returns :math:`\dot a = -a^{2L-1}` as an equation.

    >>> decay_ode(2)
    Eq(Derivative(a(t), t), -a(t)**3)
    """
    af = sp.Function("a")(t)
    layers = sp.symbols(f"a_1:{int(depth) + 1}", positive=True) if isinstance(depth, int) else None
    if layers is not None:
        u = sp.prod(layers)
        rhs = -sp.diff(u**2 / 2, layers[0]).subs({x: af for x in layers})
    else:
        rhs = -(af ** (2 * depth - 1))
    return sp.Eq(sp.Derivative(af, t), sp.simplify(rhs))


def decay_law(depth: sp.Expr = L, start: sp.Expr = a0, time: sp.Expr = t) -> sp.Expr:
    r"""a(t) solving :func:`decay_ode` from a(0) = a_0: separation of variables,
    :math:`\int a^{1-2L} da = -t`, gives :math:`a^{-(2L-2)} = a_0^{-(2L-2)} + (2L-2)t` for L >= 2.

    >>> decay_law(2)
    a_0/sqrt(2*a_0**2*t + 1)
    >>> decay_law(1)
    a_0*exp(-t)
    """
    x = sp.Symbol("x", positive=True)
    if sp.sympify(depth) == 1:
        return start * sp.exp(-time)
    # integral of x^(1-2L) from a_0 to a(t) equals -t
    lhs = sp.integrate(x ** (1 - 2 * depth), (x, start, a), conds="none")
    sol = sp.solve(sp.Eq(sp.simplify(lhs), -time), a)
    if len(sol) != 1:  # symbolic depth: state the solution in its closed form
        return (start ** (2 - 2 * depth) + (2 * depth - 2) * time) ** (-1 / (2 * depth - 2))
    return sp.simplify(sol[0].subs(a, start) if sol[0].has(a) else sol[0])


def heavy_ball_time(lr: sp.Expr = eta, momentum: sp.Expr = beta, steps: sp.Expr = K) -> sp.Expr:
    r"""Flow time after ``steps`` heavy-ball steps on a slowly varying gradient:
    :math:`\eta\sum_{n=1}^{K}(1-\beta^n)/(1-\beta)`.

    >>> sp.simplify(heavy_ball_time(momentum=0) - eta * K)
    0
    """
    return sp.simplify(lr * sp.summation((1 - momentum**n) / (1 - momentum), (n, 1, steps)))


def bulk_threshold(
    depth: sp.Expr = L, rank: int = 5, modes: int = 10, d_in: int = 16, d_out: int = 10, gap: sp.Expr = eps
) -> sp.Expr:
    r"""G* such that count_ratio >= L - eps iff g_L(a) <= G* (all extra modes at one size)."""
    n_extra = modes - rank
    n_bulk = rank * (d_in + d_out - 2 * rank)
    ones = rank * (d_in - modes) + rank * (d_out - modes)
    return sp.simplify((depth * n_bulk / (depth - gap) - ones) / (2 * rank * n_extra))


def steps_for_size(
    depth: sp.Expr = L, target_size: sp.Expr = a, start: sp.Expr = a0, lr: sp.Expr = eta, momentum: sp.Expr = beta
) -> sp.Expr:
    r"""Heavy-ball steps for a mode to decay from a_0 to a (L >= 2), from the decay law and the
    heavy-ball time in its large-K form :math:`t_K = \frac{\eta}{1-\beta}(K - \frac{\beta}{1-\beta})`:

    .. math:: K = \frac{1-\beta}{\eta}\,\frac{a^{-(2L-2)} - a_0^{-(2L-2)}}{2L-2} + \frac{\beta}{1-\beta}.
    """
    flow_time = (target_size ** (2 - 2 * depth) - start ** (2 - 2 * depth)) / (2 * depth - 2)
    return (1 - momentum) / lr * flow_time + momentum / (1 - momentum)


@functools.cache
def numeric_pair_eigenvalue(depth: int):  # type: ignore[no-untyped-def]
    """``lambdify`` of :func:`pair_eigenvalue` for a concrete depth: f(s_i, s_j) on arrays."""
    return sp.lambdify((s_i, s_j), pair_eigenvalue(int(depth)), "numpy")


@functools.cache
def numeric_decay_law(depth: int):  # type: ignore[no-untyped-def]
    """``lambdify`` of :func:`decay_law` for a concrete depth: f(a_0, t)."""
    return sp.lambdify((a0, t), decay_law(int(depth)), "numpy")


@functools.cache
def numeric_heavy_ball_time():  # type: ignore[no-untyped-def]
    """``lambdify`` of :func:`heavy_ball_time`: f(eta, beta, K)."""
    return sp.lambdify((eta, beta, K), heavy_ball_time(), "numpy")


@functools.cache
def numeric_ratios(depth: int):  # type: ignore[no-untyped-def]
    """``lambdify`` of (count_ratio, adaptive_ratio, g_L) for a concrete depth: functions of a."""
    return tuple(
        sp.lambdify((a,), e, "numpy")
        for e in (count_ratio(int(depth)), adaptive_ratio(int(depth)), bulk_extra_value(int(depth)))
    )


@functools.cache
def numeric_steps_for_size(depth: int):  # type: ignore[no-untyped-def]
    """``lambdify`` of :func:`steps_for_size`: f(a, a_0, eta, beta)."""
    return sp.lambdify((a, a0, eta, beta), steps_for_size(int(depth)), "numpy")
