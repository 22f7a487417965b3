"""Weight functions of `quad`, as `scipy.integrate.quad` (QUADPACK's QAWC, QAWS, QAWO) offers them.

``weight="cauchy"``, ``wvar=c`` — the Cauchy principal value ⨍ₐᵇ f(x)/(x − c) dx. The
pole is subtracted (Piessens et al. 1983, §2.2.2; Davis & Rabinowitz, §3.6):

    ⨍ₐᵇ f(x)/(x − c) dx = ∫ₐᵇ (f(x) − f(c))/(x − c) dx + f(c) ln|(b − c)/(a − c)|,

and the first integrand is smooth (its value at c is f′(c), used where a node lands on
c exactly); the adaptive loop integrates it like any smooth function. Its rounding error
near c, eps·|f(c)|/|x − c|, is integrable and stays at the level of eps·|f(c)|. Differentiating
the subtracted integrand in c would square that amplification (1/(x − c)²), so the
derivative in c is taken from the identity (x = c + t)

    d/dc ⨍ₐᵇ f(x)/(x − c) dx = ⨍ₐᵇ f′(x)/(x − c) dx − f(b)/(b − c) + f(a)/(a − c),

again a principal value, computed the same way (and so on for higher derivatives).
Far from the range (`_far`) its three terms cancel, and d/dc = ∫ f/(x − c)² dx, a
regular integral, is used instead (`_c_derivative_integrand`). The limits give
f(b)/(b − c) db − f(a)/(a − c) da, and the parameters of f the principal value of
∂f/∂θ. The value, ∂f/∂θ and the c-integrand are one vector integrand, integrated by
one adaptive loop (as `quad` integrates [f, ∂f/∂θ]).

``weight="alg"``, ``"alg-loga"``, ``"alg-logb"``, ``"alg-log"``, ``wvar=(α, β)`` — the
algebraic–logarithmic end weights of QAWS, w(x) = (x − a)^α (b − x)^β times ln(x − a),
ln(b − x) or both (α, β > −1). With h = b − a and x = a + h t the two halves of the
range become integrals over t ∈ [0, ½] with both singular ends at t = 0, where floats
are dense and the double-exponential map of the loop resolves them:

    ∫ₐᵇ w f = h^(α+β+1) ∫₀^½ [t^α (1 − t)^β Lₐ(t) L_b(1 − t) f(a + h t)
                                + t^β (1 − t)^α Lₐ(1 − t) L_b(t) f(b − h t)] dt,

with Lₐ(t) = ln h + ln t for the log weights at a (1 otherwise), likewise L_b. Each
half's singular factor tᵖ Lₐ(t) times the rest of its integrand at t = 0 (f(a), f(b)
and the other end's log there) is integrated in closed form, the loop gets only the
difference (`end_weighted`: for α near −1 most of ∫₀ tᵅ lies below any float). The limits
enter only through h and f's argument, and α, β as parameters of a smooth-in-(α, β)
integrand, so the derivatives in a, b, α and β are those of `quad` (the α-derivative of
t^α is t^α ln t: the "alg-loga" weight, integrable).

``weight="cos"`` / ``"sin"``, ``wvar=ω`` with `points` — f(x) cos(ωx), f(x) sin(ωx),
integrated as a product by the adaptive loop (ω a differentiable parameter). Without
`points`, on a finite range by Chebyshev moments (QUADPACK's QAWO), with an infinite
limit the Fourier integral by cycles and extrapolation (QAWF): `_fourier.py`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from .._jit import jit_core
from .._nan import mul_zero_safe
from .._where import where
from . import _eager_loop
from ._adaptive import tolerances_in, with_exact
from ._quad import (
    _derivative_integrand,
    _instantiate,
    _limit_at,
    _quad,
    _split_args,
    fvec_out_size,
    parameter_tangent,
)
from ._status import CONVERGED, ROUNDOFF

WEIGHTS = ("cauchy", "alg", "alg-loga", "alg-logb", "alg-log", "cos", "sin")


# --------------------------------------------------------------------------------------
# Cauchy principal value (QAWC).


@functools.lru_cache(maxsize=256)
def _subtracted(fvec):
    """(f(x) − k)/(x − c), and f′(c) at a node that lands on c exactly (c in the range,
    k = f(c) then), plus the constant `level` (the closed-form part over the range's
    width, see `cauchy`)."""

    def g(x, cargs):
        c, near, k, level, args = cargs  # near: c clipped to the range (c itself when inside)
        at_c = x == c
        gap = where(at_c, 1.0, x - c)
        slope = jax.jvp(lambda y: fvec(y, args), (near,), (jnp.ones_like(near),))[1]
        return where(at_c, slope, (fvec(x, args) - k) / gap) + level

    return g


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 5))
def cauchy(fvec, a, b, c, args, options):
    """⨍ₐᵇ fvec(x, args)/(x − c) dx: (value, err, neval, code) like `_quad`.

    No breakpoint at c: the subtracted integrand is smooth there, and the end model of
    a breakpoint would sample it within 1e-8 of c, where its rounding noise is largest.

    Any constant k gives ∫ (f − k)/(x − c) + k ln|(b − c)/(a − c)|; k = f(c) removes the
    pole when c lies inside, and keeps the integrand smooth for a c just outside (a
    near pole otherwise: 60 times the evaluations at 1e-9 past an end). Farther out,
    beyond 1.1 half-widths from the middle (QUADPACK's QAWC switches to a plain rule
    there), k is f at the nearest end (0 where that is not finite), as it is where f(c)
    is not finite: f(c) far off the range was, where f grows, far larger than the
    integral, which the two terms then lost to cancellation (e^(20x)/(x − 3) on [0, 1]:
    360 times off, "converged"), and NaN where f is undefined (√x at c = −0.5).
    """
    no_points = jnp.zeros((0,), a.dtype)
    constants = _pole_program(fvec) if _eager_loop.concrete(a, b, c, args) else functools.partial(_pole_constants, fvec)
    near, k, level = constants(a, b, c, args)
    return _quad(_subtracted(fvec), a, b, no_points, (c, near, k, level, args), options)


def _pole_constants(fvec, a, b, c, args):
    """`(near, k, level)` of `cauchy`: c clipped to the range, the constant subtracted
    from f, and the closed-form part over the range's width."""
    lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
    inside = (c > lo) & (c < hi)
    close = ~_far(a, b, c)
    near = jnp.clip(c, lo, hi)  # c itself when inside
    f_c, f_near = fvec(where(close, c, near), args), fvec(near, args)
    zero = jnp.zeros_like(f_c)
    # f(c) not finite with c inside: a removable singularity of f at the pole (sin x / x
    # at c = 0 was NaN, `nonfinite`; outside probe), so its limit from above stands for
    # it (any finite k is exact; an f truly infinite at c stays non-finite).
    f_c = where(inside & ~jnp.isfinite(f_c), _limit_at(fvec, c, args, jnp.inf, inside), f_c)
    k = where(inside | (close & jnp.isfinite(f_c)), f_c, where(jnp.isfinite(f_near), f_near, zero))
    # The closed-form part joins the loop's integrand as a constant (its value over the
    # range's width), so that the loop's relative tolerance is that of the result: near
    # a zero of the principal value the two parts cancel, and added afterwards the
    # result met a tolerance relative to the parts only (e^(20x)/(x − c) on [0, 1], 1e-12
    # from that zero: 3.5e-5 off, "converged"; found by an outside probe).
    # ln|(b − c)/(a − c)|; for a far c as log1p((b − a)/(a − c)): the quotient of two
    # nearly equal distances rounded towards 1 there, and the closed-form part was off
    # by eps·|c|/(b − a) of itself (c = 1e10 on [0, 1]: 1.3e-7 relative, "converged";
    # c = 1e300: the wrong sign; outside probe). Near the range the quotient is the
    # accurate form (c = 1 + 1e-9: log1p's argument would be −1 + 1e-9, rounded).
    far_gap = where(close, 1.0, a - c)
    log_ratio = where(close, jnp.log(jnp.abs(b - c) / jnp.abs(a - c)), jnp.log1p((b - a) / far_gap))
    closed = k * log_ratio
    level = closed / where(b != a, b - a, 1.0)
    return near, k, level


@functools.lru_cache(maxsize=256)
def _pole_program(fvec):
    """`_pole_constants` compiled per integrand, for eager calls (whose loop runs pass by
    pass: `_eager_loop`): its ~30 operations dispatched one by one cost ~5 ms a call."""
    return jit_core(functools.partial(_pole_constants, fvec), concrete_alone=True)


def _far(a, b, c):
    """c beyond 1.1 half-widths from the middle of the range (where QUADPACK's QAWC
    switches to a plain rule)."""
    lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
    return jnp.abs(c - (lo + hi) / 2) > 1.1 * (hi - lo) / 2


def _c_derivative_integrand(fvec):
    """The integrand whose principal value gives d/dc (see `_cauchy_jvp`): f′ near the
    range, f/(x − c) far from it; its args are `(far, c, args)`."""

    def h(x, hargs):
        far, c, args = hargs
        slope = jax.jvp(lambda y: fvec(y, args), (x,), (jnp.ones_like(x),))[1]
        return where(far, fvec(x, args) / where(far, x - c, 1.0), slope)

    return h


def _end_limits(fvec, a, b, args):
    """f's one-sided limits at a and at b from inside the range, as `quad`'s own limit
    terms take them (`_limit_at`): f(a) itself is 0/0 for sin x / x at 0, and the
    derivatives in c and a were NaN, reported `converged` (outside probe)."""
    out = []
    for x, other in ((a, b), (b, a)):
        xs, os_ = lax.stop_gradient(x), lax.stop_gradient(other)
        inward = where(xs < os_, jnp.inf, -jnp.inf).astype(xs.dtype)
        room = jnp.abs(os_ - xs) > 64 * jnp.abs(jnp.nextafter(xs, inward) - xs)
        out.append(_limit_at(fvec, x, args, inward, room))
    return out


def _cauchy_joint(fvec, args, diff, with_c):
    """`(joint, n)`: the integrand [f, ∂f/∂θ (n columns per component), h] of `_cauchy_jvp`,
    h the d/dc integrand (`_c_derivative_integrand`, only `with_c`); its args are
    `(far, c, args)`."""
    n = 0
    if any(diff):
        theta_joint, _, n, _ = _derivative_integrand(fvec, args, diff)
    h = _c_derivative_integrand(fvec) if with_c else None

    def joint(x, jargs):
        args_now = jargs[2]
        parts = [theta_joint(x, args_now) if n else fvec(x, args_now)]
        if h is not None:
            parts.append(h(x, jargs))
        return jnp.concatenate(parts)

    return joint, n


def _over(f, d):
    """f/d as f·(1/d) with 0·∞ = 0 (`mul_zero_safe`): its derivative then takes d's
    tangent through 1/d, and where f is infinite (f at an end where it blows up) a zero
    tangent of d (the other columns of an outer `jacfwd`) adds 0. The quotient's own rule
    formed f·dd/d², ∞·0: d²/da dp of the principal value of x^-½e^(−px) at a = 0 was NaN,
    `converged`, in `jax.hessian` and `jacfwd(jacfwd)` (a review)."""
    return mul_zero_safe(f, 1 / d)


# One principal value of the vector [f, ∂f/∂θ, h] gives the value, the parameters'
# tangent and the pole's, as `quad`'s rule integrates [f, ∂f/∂θ] and the Fourier rules
# f with all their derivative parts: one loop, refined until every component meets its
# tolerance, whose nodes serve all of them. (Separate loops for the value, for
# [f, ∂f/∂θ] and for h compiled three adaptive loops into `value_and_grad`.) The
# components not differentiated (symbolic zeros) are left out; without any, the value
# alone.
@functools.partial(cauchy.defjvp, symbolic_zeros=True)
def _cauchy_jvp(fvec, options, primals, tangents):
    a, b, c, args = primals
    da, db, dc = (_instantiate(t, x) for t, x in zip(tangents[:3], primals[:3]))
    k = fvec_out_size(fvec, a, args)
    _, _, diff, dleaves = _split_args(args, tangents[3])
    with_c = not isinstance(tangents[2], SymbolicZero)
    joint, n = _cauchy_joint(fvec, args, diff, with_c)
    far = _far(a, b, c)
    if n or with_c:
        # (The parameters' and the pole's columns are derivatives: `with_exact` marks the
        # user's k components, so a column that cancels is judged as in `quad`'s rule.)
        jvalue, jerr, neval, code = cauchy(joint, a, b, c, (far, c, with_exact(args, k)), options)
        value, err = jvalue[:k], jerr[:k]
    else:
        value, err, neval, code = cauchy(fvec, a, b, c, args, options)
    dvalue = jnp.zeros_like(value)
    if n:
        dvalue = dvalue + parameter_tangent(jvalue[k : k + k * n].reshape(k, n), dleaves, diff)
    f_a, f_b = _end_limits(fvec, a, b, args)
    if with_c:
        # Near the range, the identity of the module docstring. Far from it its three
        # terms are each ~f/c and cancel to the ~f/c² result (c = 1e10 on [0, 1]: 1300×
        # off, the wrong sign; outside probe); there d/dc = ∫ f/(x − c)² dx, a regular
        # integral, is taken instead, as the principal value of f/(x − c) (h switches
        # per lane).
        pv_h = jvalue[k + k * n :]
        ends = where(far, 0.0, _over(f_a, where(far, 1.0, a - c)) - _over(f_b, where(far, 1.0, b - c)))
        dvalue = dvalue + mul_zero_safe(pv_h + ends, dc)
    # (0·∞ = 0 in these products: a zero tangent, the other arguments' columns of
    # `jacfwd`, adds nothing where f is infinite at an end; x^-½ at a = 0 made them NaN,
    # `converged` (outside probe).)
    if not isinstance(tangents[1], SymbolicZero):
        dvalue = dvalue + mul_zero_safe(_over(f_b, b - c), db)
    if not isinstance(tangents[0], SymbolicZero):
        dvalue = dvalue - mul_zero_safe(_over(f_a, a - c), da)
    zero_int = lambda x: np.zeros(np.shape(x), jax.dtypes.float0)  # noqa: E731
    return (value, err, neval, code), (dvalue, jnp.zeros_like(err), zero_int(neval), zero_int(code))


# --------------------------------------------------------------------------------------
# Algebraic-logarithmic end weights (QAWS).


def _end_logs(kind):
    return kind in ("alg-loga", "alg-log"), kind in ("alg-logb", "alg-log")


def _end_values(fvec, kind, a, b, log_h, args):
    """The smooth factors of the two halves' integrands at t = 0 (see `_end_weights`):
    f(a) and f(b) times the other end's log weight there (ln h), where finite; 0 where
    not (f itself singular at an end: nothing is subtracted there).

    Any finite constant may be subtracted (it is added back in closed form); f's value at
    the end makes the rest vanish there. Where f is NaN at an end (0/0: sin x / x at 0)
    its value one or two floats inside stands for its limit: with 0 subtracted instead,
    ∫₀ x^α sin x / x for α near −1 was flagged `divergent` and half its value (504 for
    1000 at α = −0.999)."""
    log_a, log_b = _end_logs(kind)
    tiny = jnp.finfo(a.dtype).tiny
    g_a, g_b = fvec(a, args), fvec(b, args)
    g_a = where(jnp.isnan(g_a), fvec(_off_end(a, tiny, 1), args), g_a)
    g_b = where(jnp.isnan(g_b), fvec(_off_end(b, tiny, -1), args), g_b)
    if log_b:
        g_a = g_a * log_h
    if log_a:
        g_b = g_b * log_h
    return tuple(where(jnp.isfinite(g), g, jnp.zeros_like(g)) for g in (g_a, g_b))


def _off_end(e, d, sign):
    """e + sign·d, but at least |e|·eps (one to two ulps) away from a nonzero end e: a
    smaller step rounds onto e itself."""
    return e + sign * jnp.maximum(d, jnp.abs(e) * jnp.finfo(e.dtype).eps)


@functools.lru_cache(maxsize=256)
def _end_weights(fvec, kind):
    """The integrand over t ∈ [0, ½] of `end_weighted`: for each half, its singular factor
    S(t) = t^p (times ln h + ln t for a log weight at that end) times the smooth rest G(t)
    less G(0) (see `end_weighted`). `.halves(t, wargs)` gives the two halves apart."""
    log_a, log_b = _end_logs(kind)

    def end_parts(wargs, raw=False):
        """G(0) of each half (0 where p ≥ 0: t^p is bounded, nothing is subtracted) and
        the closed-form part, G(0)·∫₀^½ S per half. Formed from a and b inside the
        integrand (f at the ends is not batched over the nodes: evaluated once), so that
        a derivative in an end differentiates G(t) − G(0) as one: taken apart, the part
        ∂G(0)·S was not subtracted, and its integral, mostly below the floats for p near
        −1, made the loop call d/da at a = 0 `divergent` (∫₀² (x − a)^−0.99 eˣ dx).

        Holding G(0) constant is exact as well (its derivative enters as ∂G(0)·(∫S − ∫₀^½ S)
        = 0), and that is done where f′ is not finite at an end (∛x at 0): its infinite
        derivative at every node spoiled the other components integrated with it (d/db
        2.5e-5 off; found by a review). Both guards below are needed: the inner one
        keeps reverse mode from meeting 0·∞, the outer one forward mode.

        `raw`: both ends' values, unmasked and held constant (for the size of what lies
        below the reach of f next to a nonzero end, see `end_weighted`)."""
        (a, b, alpha, beta), args = wargs
        log_h = jnp.log(b - a)
        if raw:
            return lax.stop_gradient(_end_values(fvec, kind, a, b, log_h, args)) + (None,)

        def slope(e):
            return jax.jvp(lambda y: fvec(y, args), (e,), (jnp.ones_like(e),))[1]

        ok = lax.stop_gradient(jnp.all(jnp.isfinite(slope(a))) & jnp.all(jnp.isfinite(slope(b))))

        def live(x):
            return where(ok, x, lax.stop_gradient(x)) if jnp.issubdtype(jnp.result_type(x), jnp.inexact) else x

        values = _end_values(fvec, kind, live(a), live(b), live(log_h), jax.tree_util.tree_map(live, args))
        g_a0, g_b0 = (where(ok, g, lax.stop_gradient(g)) for g in values)
        g_a0 = where(alpha < 0, g_a0, jnp.zeros_like(g_a0))
        g_b0 = where(beta < 0, g_b0, jnp.zeros_like(g_b0))
        # In the result's units, times h^(α+β+1) as the half it joins is (`halves`: the
        # two round alike where they cancel; as one exponential, 2e-11 off at epsrel 1e-12
        # for ∫₀² x^−0.01 (2 − x)^1000, `converged`; a review), and only where it is not
        # 0 (p < 0), so that an infinite root never meets that 0 in a derivative.
        half_scale = (alpha + beta + 1) * log_h / 2
        closed = 0.0
        for g0, p, with_log in ((g_a0, alpha, log_a), (g_b0, beta, log_b)):
            r = jnp.exp(where(p < 0, half_scale, 0.0))  # (masked inside: e^x's own derivative is e^x)
            closed = closed + g0 * _singular_moment(p, log_h, with_log) * r * r
        return g_a0, g_b0, closed

    def halves(t, wargs, raw=False):
        """The two halves' integrands at t, in the result's units (times h^(α+β+1))."""
        (a, b, alpha, beta), args = wargs
        g_a0, g_b0, _ = end_parts(wargs, raw)
        h = b - a
        log_h = jnp.log(h)
        lt, ls = jnp.log(t), jnp.log1p(-t)
        half_scale = (alpha + beta + 1) * log_h / 2  # ln of the root of h^(α+β+1)
        eps = jnp.finfo(t.dtype).eps
        d = h * t

        def half(e, p, q, g0, f_x, log_here, log_there):
            """S(t)·(R(t)·f − G(0))·h^(α+β+1) for the half at the end e: S(t) = t^p (times
            ln h + ln t for a log weight at e), R(t) = (1 − t)^q (times ln h + ln(1 − t)
            for one at the other end)."""
            # At least |e|·eps from a nonzero end e (one to two ulps): a + h·t rounded onto
            # a for t below ~1e-16, where an f singular at a nonzero end (log(1 − x) at
            # b = 1) is infinite (the result was −inf, "nonfinite"; f at an end at 0 is
            # reached by t itself).
            # Closer in, G(t) − G(0) (~ t for a smooth f) is scaled down linearly from
            # there: held at its value there, times t^β it left a term ~eps·t^β, whose
            # integral below 1e-300 is not negligible for β near −1 (~1e4·eps at β = −0.9999)
            # and which the loop called divergent: ∫₁² cos x (2 − x)^−0.9999 dx at epsrel
            # 1e-12 ended `divergent`, its value right to 4e-16. That scaling, d/(|e|·eps),
            # joins S's exponent: as a product, S·(1/(|e|·eps)) overflowed in reverse mode
            # (t^−0.99 ~ 1e299 at t ~ 1e-303 times 4.5e15; the derivative in a nonzero end at
            # α ≤ −0.97 was −inf, found by an outside probe).
            # Only where G(0) is subtracted (p < 0, or `raw`): with nothing subtracted, G(t)
            # itself does not vanish there, and f held at its value one ulp inside is right
            # (scaled down, ∫ over [1e10, 1e10 + 1] with α = β = 0.1 was 6.4e-7 off; found by
            # a review).
            gap = jnp.abs(e) * eps
            subtract = (p < 0) | raw
            ramp = (d < gap) & subtract
            ln_s = where(ramp, (p + 1) * lt + log_h - jnp.log(where(gap > 0, gap, 1.0)), p * lt)  # ln S(t)·(d/gap)
            s_log = log_h + lt if log_here else 1.0
            r_log = log_h + ls if log_there else 1.0
            # Where G(0) is subtracted, R·f − G(0) is formed first (it cancels near t = 0)
            # and h^(α+β+1) applied last, as two equal factors (h^(α+β+1) itself can
            # overflow where the result does not: ∫₀²⁰⁰ x⁷⁰ (200 − x)⁷⁰ dx ≈ 2.1e281 came
            # out −inf, "converged").
            # Elsewhere (p ≥ 0) the weight and the scale are one exponent, applied in two
            # equal halves: t^p (1 − t)^q alone is below the floats where the result is
            # not (4^−520 at t = ½ for p = q = 520: ∫₋₁¹ (1 + x)^520 (1 − x)^520 eˣ dx, 0.078,
            # came out 0, "converged", and its α-derivative NaN; outside probe).
            # (Each branch's inputs are neutral where it is not taken, so that neither an
            # overflow nor its gradient reaches the other.)
            # (An exact 0 before the scale stays 0 where the root overflows: the unreachable
            # tail's size at p = q = 1100 was 0·inf, an infinite error; a review.)
            ln_sub = where(subtract, ln_s, 0.0)
            unscaled = jnp.exp(ln_sub) * s_log * (jnp.exp(q * ls) * r_log * f_x - g0)
            root_sub = jnp.exp(where(subtract & (unscaled != 0), half_scale, 0.0))
            sub = unscaled * root_sub * root_sub
            e_half = where(subtract, 0.0, (ln_s + q * ls) / 2 + half_scale)
            whole = jnp.exp(e_half) * s_log * (jnp.exp(e_half) * r_log * f_x)
            return where(subtract, sub, whole)

        near_a = half(a, alpha, beta, g_a0, fvec(_off_end(a, d, 1), args), log_a, log_b)
        near_b = half(b, beta, alpha, g_b0, fvec(_off_end(b, d, -1), args), log_b, log_a)
        return near_a, near_b

    def g(t, wargs):
        near_a, near_b = halves(t, wargs)
        # + the closed-form part, spread over [0, ½]; all three in units of h^(α+β+1), so
        # that the loop works in the result's units and `epsabs` means what it says
        # (applied to the unscaled integral it was h^(α+β+1) times too loose or too tight:
        # ∫₀^1e5 x^(−½)e⁻ˣ dx at the default epsabs came out 1.6e-7 off, "converged", with
        # an error estimate of 2.2e-6; found by an outside probe).
        return near_a + near_b + 2 * end_parts(wargs)[2]

    g.halves = halves
    return g


def _singular_moment(p, log_h, with_log):
    """∫₀^½ t^p dt = (½)^(p+1)/(p+1), or ∫₀^½ t^p (ln h + ln t) dt = that times
    (ln h + ln ½ − 1/(p+1)), p > −1. Only for p < 0 (G(0) is subtracted there, see
    `end_weighted`); 0 elsewhere."""
    neg = p < 0
    q = where(neg, p, -0.5) + 1
    m = jnp.exp(q * jnp.log(0.5)) / q
    m = m * (log_h + jnp.log(0.5) - 1 / q) if with_log else m
    return where(neg, m, jnp.zeros_like(m))


def end_weighted(fvec, kind, a, b, wvar, args, options):
    """∫ₐᵇ w(x) f(x) dx for the QAWS weights (module docstring); (value, err, neval, code).

    Each half's singular factor S(t) = t^p (p = α or β, times a log) is integrated
    against f's value at the end in closed form, and only S(t)·(G(t) − G(0)) by the loop
    (Piessens et al. 1983 integrate the weight against Chebyshev moments instead). For
    α near −1 almost all of ∫₀ t^α lies below any float: at α = −0.999 half of it is
    below 1e-308, and the plain integrand gave 504 for 1/(1 + α) = 1000 ("divergent");
    S·(G − G(0)) ~ t^(α+1) has no such tail. Only where p < 0: for p ≥ 0, t^p is
    bounded and nothing is subtracted.

    The closed-form part joins the loop's integrand as a constant over [0, ½], so that
    the loop's relative tolerance is that of the result: added afterwards, it could be
    far larger than the integral, and the tolerance met on the difference was not met
    on the result (∫₀¹⁰⁰ x¹⁰ e⁻ˣ dx came out 8.7e-5 off and ∫₀¹⁰⁰ x²⁰ e⁻ˣ dx with the
    wrong sign, both "converged"; found by an outside probe). Where that cancellation
    is beyond what the precision allows, the loop's rounding floor stops it on
    `roundoff`.
    """
    alpha, beta = wvar
    half = jnp.asarray(0.5, a.dtype)
    integrand = _end_weights(fvec, kind)
    wargs = ((a, b, alpha, beta), args)
    value, err, neval, code = _quad(integrand, jnp.zeros_like(a), half, jnp.zeros((0,), a.dtype), wargs, options)
    concrete = _eager_loop.concrete(a, b, wvar, args, value, err, code)
    tail_of = _tail_program(integrand, options) if concrete else functools.partial(_with_unreachable_tail, integrand,
                                                                                     options)
    return tail_of(a, b, wvar, args, value, err, neval, code)


def _with_unreachable_tail(integrand, options, a, b, wvar, args, value, err, neval, code):
    """`end_weighted`'s result from its loop's: the part of the range f cannot reach next
    to a nonzero end added to the error estimate (see below)."""
    alpha, beta = wvar
    h = b - a
    half = jnp.asarray(0.5, a.dtype)
    wargs = ((a, b, alpha, beta), args)
    # Below t = τ = |e|·eps/h f's argument cannot get closer to a nonzero end e: f is
    # held at its value there (see `_end_weights`). For f smooth at e that costs
    # nothing (G − G(0) vanishes there); for f singular at e the part below τ is not
    # seen. Its size, about τ·|integrand(τ)|/(1 + p), joins the error estimate, so the
    # status says when it exceeds the tolerance (√eps relative for (1 − x)^(−½) ln(1 − x)).
    eps = jnp.finfo(h.dtype).eps
    tail = jnp.zeros_like(err)
    for end, p, pick in ((a, alpha, 0), (b, beta, 1)):
        tau = jnp.minimum(jnp.abs(end) * eps / h, half)
        part = integrand.halves(jnp.maximum(tau, jnp.finfo(h.dtype).tiny), wargs, raw=True)[pick]
        # (In the result's units, as the loop's values: `halves` scales them.)
        size = lax.stop_gradient(jnp.abs(jnp.ravel(part)).astype(err.dtype) * tau / (1 + p))  # an error size
        tail = tail + where((tau > 0) & jnp.isfinite(size), 2 * size, where(tau > 0, jnp.inf, 0.0))
    err = err + tail
    opts = dict(options)
    epsabs, epsrel = tolerances_in(args, opts["epsabs"], opts["epsrel"])
    tol = jnp.maximum(epsabs, epsrel * jnp.abs(value))
    # Only the unreachable part changes the status (the loop judged the rest).
    code = where((code == CONVERGED) & jnp.any(tail > tol), ROUNDOFF, code)
    return value, err, neval + 4, code


@functools.lru_cache(maxsize=256)
def _tail_program(integrand, options):
    """`_with_unreachable_tail` compiled per integrand, for eager calls (see `_pole_program`)."""
    return jit_core(functools.partial(_with_unreachable_tail, integrand, options), concrete_alone=True)


# --------------------------------------------------------------------------------------
# Trigonometric weights with breakpoints: the product (without: `_fourier.py`).


@functools.lru_cache(maxsize=256)
def trigonometric(fvec, kind):
    trig = jnp.cos if kind == "cos" else jnp.sin

    def g(x, wargs):
        omega, args = wargs
        return trig(omega * x) * fvec(x, args)

    return g
