r"""C3: exact learning curves of deep linear networks (Saxe, McClelland, Ganguli, arXiv:1312.6120).

Setup: whitened data, target M = U diag(t) V^T, a balanced initialisation aligned with the
target's bases: every layer carries the same value :math:`a_i` on mode i, so the end-to-end
mode strength is :math:`u_i = a_i^L`. Gradient flow of :math:`\ell = \tfrac12\|W - M\|_F^2`
(the whitened loss up to a constant; time constant :math:`\tau = 1`, i.e. time = learning rate
x steps) keeps the point balanced and aligned, and the modes decouple:

.. math:: \dot a = a^{L-1}(s - a^L)\quad\Longrightarrow\quad \dot u = L\,u^{2-2/L}(s - u).

L = 2 is the logistic :math:`u(t) = s e^{2st}/(e^{2st} - 1 + s/u_0)`. For any L the substitution
:math:`v = u^{1/L}` turns the time into the integral of a rational function,

.. math:: t(u) = \int_{u_0^{1/L}}^{u^{1/L}} \frac{dv}{v^{L-1}(s - v^L)},

whose antiderivative is :math:`\frac{v^{2-L}}{(2-L)s}\,{}_2F_1\!\big(1, \tfrac{2-L}{L}; \tfrac2L; \tfrac{v^L}{s}\big)`
(L != 2). From a small start the time to learn a mode is dominated by the lower limit:
:math:`t \approx \ln(s/u_0)/(2s)` for L = 2 and :math:`t \approx u_0^{-(L-2)/L}/((L-2)s)` for
L >= 3 -- logarithmic in 1/u_0 at depth 2, polynomial beyond.

Gradient descent with step :math:`\eta` is forward Euler on :math:`\dot a = f(a)`. Its global
error is :math:`\eta E(t) + O(\eta^2)` with :math:`\dot E = f'(a)E - \tfrac12 f'(a)f(a)`,
:math:`E(0) = 0` (the local error is :math:`-\tfrac{\eta^2}2\ddot a = -\tfrac{\eta^2}{2}f'f`), so
:math:`u_{GD}(k\eta) - u(k\eta) = \eta\,L a^{L-1}E + O(\eta^2)`: the O(eta) constant is predicted.
"""

from __future__ import annotations

import sympy as sp

from dlnkit.arguments import checked
from dlnkit.theory.cost_limits import IMPLICIT_TIME_MAX_DEPTH, check_symbolic_size
from dlnkit.theory.symbols import L as L_sym

__all__ = [
    "u",
    "s",
    "u0",
    "t",
    "a",
    "v",
    "mode_ode_rhs",
    "stated_mode_ode",
    "logistic_solution",
    "implicit_time",
    "implicit_time_antiderivative",
    "learning_time_small_init",
    "half_time",
    "euler_error_forcing",
    "layer_rate",
]

u, s, u0, a, v = sp.symbols("u s u_0 a v", positive=True)
t = sp.Symbol("t", nonnegative=True)


@checked
def layer_rate(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""da/dt for one layer's mode value under gradient flow of 1/2 (a_1...a_L - s)^2 at a_l = a:
    :math:`a^{L-1}(s - a^L)`, derived by differentiating with respect to one factor.

    >>> layer_rate(3)
    -a**2*(a**3 - s)
    """
    depth = sp.sympify(depth)
    if depth.is_Integer:
        xs = sp.symbols(f"x_1:{int(depth) + 1}", positive=True)
        loss = (sp.Mul(*xs) - s) ** 2 / 2
        return -sp.diff(loss, xs[0]).subs({x: a for x in xs})
    return a ** (depth - 1) * (s - a**depth)


@checked
def mode_ode_rhs(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""du/dt with u = a^L, by the chain rule from :func:`layer_rate`, written in u.

    >>> sp.simplify(mode_ode_rhs(2) - 2 * u * (s - u))
    0
    """
    depth = sp.sympify(depth)
    rate = depth * a ** (depth - 1) * layer_rate(depth)
    return sp.simplify(sp.powsimp(sp.expand_power_base(rate.subs(a, u ** (1 / depth)), force=True), force=True))


@checked
def stated_mode_ode(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""The stated right-hand side :math:`L u^{2-2/L}(s - u)`.

    >>> sp.simplify(mode_ode_rhs(4) - stated_mode_ode(4))
    0
    """
    depth = sp.sympify(depth)
    return depth * u ** (2 - 2 / depth) * (s - u)


@checked
def logistic_solution() -> sp.Expr:
    r"""The L = 2 trajectory :math:`u(t) = s e^{2st}/(e^{2st} - 1 + s/u_0)`.

    >>> sol = logistic_solution()
    >>> sp.simplify(sp.diff(sol, t) - stated_mode_ode(2).subs(u, sol)), sp.simplify(sol.subs(t, 0))
    (0, u_0)
    """
    e = sp.exp(2 * s * t)
    return s * e / (e - 1 + s / u0)


@checked
def implicit_time_antiderivative(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""An antiderivative in v = u^{1/L} of :math:`1/(v^{L-1}(s - v^L))`: the hypergeometric form
    for L != 2, :math:`\ln(v^2/(s - v^2))/(2s)` for L = 2.

    >>> F = implicit_time_antiderivative(2)
    >>> sp.simplify(sp.diff(F, v) - 1 / (v * (s - v**2)))
    0
    """
    depth = sp.sympify(depth)
    if depth == 2:
        return sp.log(v**2 / (s - v**2)) / (2 * s)
    return v ** (2 - depth) / ((2 - depth) * s) * sp.hyper([1, (2 - depth) / depth], [2 / depth], v**depth / s)


@checked
def implicit_time(depth: int) -> sp.Expr:
    r"""t(u): the time the flow takes from u_0 to u (0 < u_0 < u < s), by integrating the rational
    function exactly (concrete depth). With v = s^{1/L} w the integral is
    :math:`s^{-2(L-1)/L}\int_{w_0}^{w} dw/(w^{L-1}(1 - w^L))`, integrated by partial fractions with
    numeric coefficients and logarithms of absolute values (real for 0 < w < 1).

    (SymPy 1.x integrates the symbolic-s form wrongly at L = 3: it drops the complex-root terms,
    and the derivative check fails; the scaled form avoids it.)

    >>> T = implicit_time(2)
    >>> sp.simplify(T - sp.log(u * (s - u0) / (u0 * (s - u))) / (2 * s))
    0
    """
    depth = int(depth)
    if depth == 2:
        return sp.log(u * (s - u0) / (u0 * (s - u))) / (2 * s)
    check_symbolic_size(
        "depth L",
        depth,
        IMPLICIT_TIME_MAX_DEPTH,
        "implicit_time",
        "integrate mode_ode_rhs numerically, or use learning_time_small_init for the leading behaviour",
    )
    w = sp.Symbol("w", positive=True)
    F = sp.integrate(sp.apart(1 / (w ** (depth - 1) * (1 - w**depth)), w), w)
    F = F.replace(sp.log, lambda x: sp.log(sp.Abs(x)))
    scale = s ** sp.Rational(-2 * (depth - 1), depth)
    return scale * (F.subs(w, (u / s) ** sp.Rational(1, depth)) - F.subs(w, (u0 / s) ** sp.Rational(1, depth)))


@checked
def half_time(depth: int) -> sp.Expr:
    """Time to learn half of a mode (u = s/2) from u_0, exactly.

    >>> sp.simplify(half_time(2) - sp.log((s - u0) / u0) / (2 * s))
    0
    """
    return sp.simplify(implicit_time(depth).subs(u, s / 2))


@checked
def learning_time_small_init(depth: sp.Expr = L_sym) -> sp.Expr:
    r"""Leading behaviour of the learning time as u_0 -> 0: :math:`\ln(s/u_0)/(2s)` at L = 2,
    :math:`u_0^{-(L-2)/L}/((L-2)s)` at L >= 3 (the lower limit of the integral dominates).

    >>> learning_time_small_init(3)
    1/(s*u_0**(1/3))
    """
    depth = sp.sympify(depth)
    if depth == 2:
        return sp.log(s / u0) / (2 * s)
    return u0 ** ((2 - depth) / depth) / ((depth - 2) * s)


@checked
def euler_error_forcing(depth: sp.Expr = L_sym) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    r"""(f(a), f'(a), -f'(a) f(a) / 2) for the first-order error of gradient descent (Euler):
    :math:`\dot E = f'(a)E - \tfrac12 f'(a)f(a)`.

    >>> f, df, forcing = euler_error_forcing(2)
    >>> sp.expand(df - sp.diff(a * (s - a**2), a))
    0
    """
    f = layer_rate(depth)
    df = sp.diff(f, a)
    return f, sp.simplify(df), sp.simplify(-df * f / 2)
