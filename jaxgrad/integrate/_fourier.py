"""Fourier integrals: `quad(f, a, b, weight="cos" | "sin", wvar=ω)` over a half line
(QUADPACK's QAWF) and over a finite range (QAWO; the last section of this module).

∫ₐ^∞ f(x) cos(ωx) dx with a slowly decaying f (1/(1 + x²), x^-½) converges through
the cancellation between half periods, not because the tail is small: the product
integrated on the mapped half line was 0.57716 for 0.57786 at ω = 1 (flagged
`max_subdivisions`) and of the wrong sign at ω = 10. `scipy.integrate.quad` computes
these with QUADPACK's QAWF (Piessens et al. 1983, "QUADPACK", §2.2.2 and the QAWF
routine), and so does this module, in its own terms: the range is cut into cycles

    [a + k·c, a + (k + 1)·c],   c = (2⌊|ω|⌋ + 1)·π/|ω|,   k = 0, ..., limlst − 1,

an odd number of half periods each, so that cos(ω(x + c)) = −cos(ωx): for an f that
varies slowly over a cycle, consecutive cycles' integrals alternate in sign and their
partial sums converge like an alternating series, which Wynn's ε-algorithm
extrapolates. For |ω| ≥ 1 a cycle is between 2π and 3π long whatever ω, so the default
50 cycles reach 100π–150π past the finite limit (QAWF's reach: f's features must lie
within it, its tail beyond it must be in the asymptotic regime); for |ω| < 1 a cycle
is one half period π/|ω|.

Each cycle is integrated against its weight as QAWF does it, with QAWO's Chebyshev
moments (`_fourier_moments.py`): f is interpolated at 25 points of a panel and the
interpolant integrated against cos/sin exactly, so a cycle costs 25 evaluations
whatever ⌊|ω|⌋ (where the product integrated by `quad` took 200–600 at ω = 10, and ran
out of subdivisions at ω = 1000), panels are bisected where f needs it, and a short
panel that still does not converge (an end singularity, a kink, NaN at a node) goes
to `quad`. After each cycle the partial sums S₀, …, Sₖ are extrapolated, and the sum
stops, as QAWF's does, once at least 8 cycles are in, the extrapolation's error plus
the cycles' errors meets the tolerance (cycle k gets a share (1 − p)pᵏ/2, p = 0.9, of
it), the envelope of |f| fades (`quadosc`'s test on the largest |f| of each cycle,
`_ENVELOPE_FALL` below: a non-decaying f gives `divergent` and an infinite error) and
|f| at the nodes shrank from each cycle to the next (over 8 cycles a periodic f such
as cos²(0.3x) can pass the envelope test; such an f runs all `limlst` cycles). The
statuses and the final error are `quadosc`'s (`extrapolated_sum`). Features of f
beyond the cycles where the sum stopped are not seen (as in QAWF).

The derivative in ω is not the integral of ∂/∂ω [f(x) cos(ωx)] = −x f(x) sin(ωx): that
grows where x f does ((1 + x)^-0.1: like x^0.9), its series has no limit, and
differentiating the extrapolation of the value's partial sums gave d/dω 0.1 % off at
ω = 1 and 20 % at ω = 10, and with 200 cycles the wrong sign, all `converged`; second
derivatives up to 10^5 times off (outside probe). With trig' the derivative of trig and
d/dx trig(ωx) = ω trig'(ωx), ∂/∂ω trig(ωx) = x trig'(ωx). On the first cycle, [a, a′)
with a′ = a + c, that is integrated as it stands; beyond it, x trig'(ωx) =
((x − a′)/ω) d/dx trig(ωx) + a′ trig'(ωx), and the first part is integrated by parts
(its boundary terms vanish: at a′ by the factor x − a′, at ∞ in the sense in which the
Fourier integral itself converges, as the limit of e^(−εx)-damped integrals):

    dI/dω = ∫ₐ^∞ min(x, a′) f(x) trig'(ωx) dx − (1/ω) ∫_{a′}^∞ (f(x) + (x − a′) f′(x)) trig(ωx) dx,

Fourier integrals of f and of (x − a′) f′, which decays like f (a power x^-p gives
−p x^-p). f′ is never taken on the first cycle, where f may be singular at a ((x − a) f′
for x^-½ at nodes 1e-300 from 0 overflowed); the jump at a′ falls on the end of a
cycle. These are computed with the value, as components of one vector integrand, and
their derivatives by the same rule (higher orders recurse). The derivatives in `args`
and closed-over values are the Fourier integrals of ∂f/∂θ, and the derivative in the
finite limit is −f(a) trig(ωa) (Leibniz; f's limit from inside, as `quad` takes it).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from .._jit import jit_core
from .._nan import mul_zero_safe, nan_if, replace_invalid
from .._reduce import long_all
from .._throw import raise_if
from .._where import where
from ._adaptive import fewer
from ._fourier_moments import cycle_integral
from ._quad import _derivative_integrand, _limit_at, _ravel_real, _split_args, quad
from ._quadosc import _infinite_sign, envelope_fades, extrapolated_sum
from ._status import CONVERGED, NAN_LIMITS, QuadInfo, status_from_code

_TRIG = {"cos": jnp.cos, "sin": jnp.sin}
# trig' = d/dt trig(t), as (weight, sign): cos' = −sin, sin' = cos.
_PRIME = {"cos": ("sin", -1.0), "sin": ("cos", 1.0)}


def is_fourier_half_line(weight, wvar, a, b):
    """Whether `quad` with this weight and these limits is a Fourier integral over a half
    line or the whole line: a trigonometric weight, a limit that is a concrete infinity
    (not both the same one: that range is empty), and an ω that is not a concrete 0
    (cos(0·x) = 1 and sin(0·x) = 0 are no weights)."""
    return _trigonometric(weight, wvar) and _infinite_sign(a) != _infinite_sign(b)


def _trigonometric(weight, wvar):
    """A cos or sin weight with an ω that is not a concrete 0."""
    if weight not in ("cos", "sin"):
        return False
    try:
        return float(wvar) != 0
    except TypeError:  # traced ω (jax's ConcretizationTypeError is a TypeError)
        return True


def fourier_half_line(fn, integrand, consts, a, b, args, *, weight, omega, points, epsabs, epsrel, limit, limlst,
                      complex_func, throw):
    """∫ₐᵇ f(x)·trig(ωx) dx with at least one infinite limit, by cycles and extrapolation
    (see the module's docstring), for f traced by `quad` (`integrand(consts, x, *args)`);
    `(value, QuadInfo)` as `quad` returns them."""
    if np.shape(points) != (0,):
        raise ValueError(f"{fn}: `points` cannot be combined with weight={weight!r} on an infinite range "
                         "(split the range at the points and integrate the half line from the last one).")
    sa, sb = _infinite_sign(a), _infinite_sign(b)
    options = dict(weight=weight, omega=omega, points=points, epsabs=epsabs, epsrel=epsrel, limit=limit,
                   limlst=limlst, complex_func=complex_func, throw=throw)
    if sa > 0 or sb < 0:  # reversed: minus the integral from b to a
        value, info = fourier_half_line(fn, integrand, consts, b, a, args, **options)
        return -value, info
    if sa and sb:  # (-inf, inf): the half lines on either side of 0
        (v0, i0), (v1, i1) = (fourier_half_line(fn, integrand, consts, lo, hi, args, **options)
                              for lo, hi in ((a, 0.0), (0.0, b)))
        code = jnp.maximum(i0.status._value, i1.status._value)  # the worse of the two (codes are ordered)
        return v0 + v1, QuadInfo(err=i0.err + i1.err, neval=i0.neval + i1.neval, status=status_from_code(code))
    # (-inf, b] as [-b, inf) in y = -x: cos(−ωy) = cos(ωy), sin(−ωy) = −sin(ωy).
    flip = sa < 0
    start = -jnp.asarray(b) if flip else a
    sign = -1.0 if (flip and weight == "sin") else 1.0
    values, err, neval, code = _fourier(_components(integrand, complex_func, flip), ((weight, 1.0),),
                                        (int(limit), int(limlst)), start, omega, args, consts, epsabs, epsrel)
    return _finish(sign * values[0], err[0], neval, code, complex_func, throw)


def _weighted(kinds, omega, x, y):
    """y (components along its leading axis) times each component's sign·weight(ωx)."""
    weights = jnp.stack([s * _TRIG[k](omega * x) for k, s in kinds]).astype(y.dtype)
    return weights.reshape((-1,) + (1,) * (y.ndim - 1)) * y


# The product integrand (for the panels the moments hand to `quad`, and the Leibniz term)
# is made once per key and kept: `quad` keys its compiled program on the function's code
# and the identity of what the function closes over, and closures made afresh at each
# call re-compiled every eager call (3.4 s each, when the cycles were `quadosc`'s pieces).
@functools.lru_cache(maxsize=64)
def _weighted_integrand(integrand, kinds):
    def g(x, omega, consts, *args):
        return _weighted(kinds, omega, x, integrand(consts, x, *args))

    return g


def _cycle(omega):
    """(2⌊|ω|⌋ + 1)π/|ω|, where the sum is cut: not part of the integral, so no derivative
    flows through it (⌊|ω|⌋ is piecewise constant anyway). Where ω is 0 (traced: a
    concrete 0 is no Fourier integral) or not finite there is none; NaN makes `_cycles`
    report NaN with `nan_limits` (an infinite one, concrete under `jax.grad`, made the
    former `quadosc` path raise)."""
    w = jnp.abs(jnp.asarray(omega))
    cycle = lax.stop_gradient((2 * jnp.floor(w) + 1) * math.pi / w)
    return where(jnp.isfinite(cycle) & (cycle > 0), cycle, jnp.nan)


def _range_integrator(integrand, kinds, omega, args, consts, dtype, limit, exact=None):
    """`cycle_integral` for the weighted components of `integrand` (`kinds`), as
    `integrate(lo, hi, tol_abs, tol_rel, direct=False)`: f at the rule's nodes, and the
    product handed to `quad` where the moments cannot resolve a panel. Used on each cycle
    of a half line and on a finite range (`exact`: see `cycle_integral`)."""
    is_sin = jnp.asarray([k == "sin" for k, _ in kinds])
    sign = jnp.asarray([s for _, s in kinds], dtype)
    weighted = _weighted_integrand(integrand, kinds)

    def fvec(x):  # f at the nodes x (P, 25): (P, 25, m, ...)
        return jax.vmap(jax.vmap(lambda x: integrand(consts, x, *args)))(x).astype(dtype)

    def by_quad(lo, hi, epsabs, epsrel):  # the product, adaptively
        v, info = quad(weighted, lo, hi, (omega, consts, *args), epsabs=jnp.min(epsabs), epsrel=epsrel, limit=limit)
        return (v.astype(dtype), info.err.astype(dtype), info.neval.astype(jnp.int32),
                info.status._value.astype(jnp.int32))

    def integrate(lo, hi, tol_abs, tol_rel, direct=False, start=np.inf):
        return cycle_integral(fvec, by_quad, lo, hi, omega, is_sin, sign, tol_abs, tol_rel, limit, direct=direct,
                              start=start, exact=exact)

    return integrate


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _fourier(integrand, kinds, options, a, omega, args, consts, epsabs, epsrel):
    """For each component f_c of `integrand(consts, x, *args)` (a leading axis, one per
    entry `(weight, sign)` of `kinds`), the Fourier integral ∫ₐ^∞ sign·weight(ωx)·f_c(x) dx:
    `(values, err, neval, code)`, one status for all."""
    return _cycles(integrand, kinds, options, a, omega, args, consts, epsabs, epsrel)


# Tolerance of cycle k: a share (1 − p)pᵏ/2 of the whole, as QAWF shares it (p = 0.9),
# leaving half of it to the extrapolation.
_SHARE = 0.9
# Cycles integrated before the extrapolation may stop the sum: enough for the envelope
# test's three windows ([1, 2), [2, 4), [4, 8)) and for ε's first columns.
_MIN_CYCLES = 8
# The envelope test reads the largest |f| at the 25 nodes of each cycle's first panel,
# and calls the envelope falling only where the windows' means fall by more than 1 %
# (the mean |f| at those nodes, with `quadosc`'s 0.1 % fall, reported sin²x with
# cos(10x), which has no integral, `converged` with the value 3e-14: a cycle of 2.1
# periods of sin² gives means that swing between 0.36 and 0.64 with period ten cycles,
# and the three windows' means came out 0.44, 0.52, 0.50. The largest |f| swings by
# less than 2 % there, and the windows' means fell by 0.17 % at ω = 3.3). A genuinely
# falling envelope is then missed only where it falls slower than x^-0.015 (a fall of
# 1 % per doubling of the range), and is reported `divergent`.
_ENVELOPE_FALL = 0.01
# The first cycle's panel at a is cut to at most this long (`cycle_integral`'s `start`):
# 16 leaves the cycles of |ω| above ~0.2 (at most 16 long) as they were.
_START = 16.0


# One compiled computation per integrand, weights and options (see `jaxgrad._traced`).
@jit_core(static_argnums=(0, 1, 2))
def _cycles(integrand, kinds, options, a, omega, args, consts, epsabs, epsrel):
    limit, limlst = options
    dtype = jnp.result_type(float, a, omega)
    a, omega = jnp.asarray(a, dtype), jnp.asarray(omega, dtype)
    cycle = _cycle(omega)
    # A NaN or infinite limit, a traced ω of 0 or NaN: NaN and `nan_limits`, the loop
    # running on harmless stand-ins meanwhile.
    bad = ~jnp.isfinite(a) | ~jnp.isfinite(cycle)
    a, omega, cycle = replace_invalid(a, bad, 0.0), replace_invalid(omega, bad, 1.0), replace_invalid(cycle, bad, 1.0)
    shape = jax.eval_shape(lambda x: integrand(consts, x, *args), jax.ShapeDtypeStruct((), dtype)).shape
    integrate = _range_integrator(integrand, kinds, omega, args, consts, dtype, limit)

    def one_cycle(k, before):
        lo, hi = a + k * cycle, a + (k + 1) * cycle
        share = (1 - _SHARE) * _SHARE ** k / 2
        # (The first cycle's start cut down to unit scale: `cycle_integral`'s `start`.)
        value, err, neval, code, env = integrate(lo, hi, share * jnp.maximum(epsabs, epsrel * jnp.abs(before)),
                                                 share * epsrel, start=where(k == 0, _START, jnp.inf))
        return value, err, neval.astype(jnp.int32), code.astype(jnp.int32), env

    def cond(state):
        return (state[0] < limlst) & ~state[-1]

    # After each cycle the sum so far is extrapolated; the last result is the answer.
    def body(state):
        k, partial, errsum, codes, envs, neval, _, _, _, _ = state
        before = where(k > 0, partial[-1], 0.0)
        value, err, n, code, env = one_cycle(k.astype(dtype), before)
        # The partial sums are kept right-aligned (ε reads the last `count` entries).
        partial = jnp.concatenate([partial[1:], (before + value)[None]])
        partial = where(k == 0, jnp.broadcast_to(value, partial.shape), partial)
        codes, envs = codes.at[k].set(code), envs.at[k].set(env)
        count = k + 1
        fading = envelope_fades(envs, count, flat=_ENVELOPE_FALL)
        result, total_err, final = extrapolated_sum(partial, count, errsum + err, codes, fading, epsabs, epsrel)
        # Stopping early also needs |f| to shrink from each cycle to the next: over a few
        # cycles the envelope test cannot tell a fading f from a periodic one (cos²(0.3x)
        # with sin(2x), no integral, was `converged` after 8 cycles); such an f runs all
        # `limlst` cycles, where the test sees it.
        shrinking = long_all(((jnp.arange(limlst) < 1) | (jnp.arange(limlst) >= count))[:, None]
                             | (envs <= jnp.roll(envs, 1, axis=0)).reshape(limlst, -1)).all()
        done = (count >= min(_MIN_CYCLES, limlst)) & (final == CONVERGED) & shrinking
        return count, partial, errsum + err, codes, envs, neval + n, result, total_err, final, done

    zeros = jnp.zeros(shape, dtype)
    state = (jnp.asarray(0), jnp.zeros((limlst,) + shape, dtype), zeros, jnp.full((limlst,), CONVERGED, jnp.int32),
             jnp.zeros((limlst,) + shape, dtype), jnp.zeros((), jnp.int32), zeros, zeros, jnp.asarray(CONVERGED),
             jnp.asarray(False))
    _, _, _, _, _, neval, value, err, code, _ = lax.while_loop(cond, body, state)
    value, err = nan_if(value, bad), where(bad, jnp.nan, err)
    code = where(bad, NAN_LIMITS, code)
    return value, err, neval, code


# The integrand of the rule below, for `integrand` with weights `kinds` and arguments
# (args, consts) of structure `tree` and leaf types `avals` (a key, see
# `_weighted_integrand`): f; with the leaves marked by `diff`, ∂f/∂θ as n real columns
# per component of f (`quad`'s `_derivative_integrand`: complex θ along its real and
# imaginary directions); with `d_omega` "plain" (a finite range), x f(x) against trig′;
# with "by_parts" (a half line), the two parts of the ω-derivative (the module's
# docstring), integration by parts from the end a′ = a + c of the first cycle on: in the
# first cycle x f(x) is integrated as it stands, so that f′ is never taken near a,
# where f may be singular ((x − a) f′(x) for x^-½ at nodes 1e-300 from 0 overflowed):
#   ∫ min(x, a′) f(x) trig′(ωx) dx  +  ∫_{a′}^∞ −(f(x) + (x − a′) f′(x))/ω trig(ωx) dx.
# a′ is where the first cycle ends, so the jump at a′ is at the end of a cycle. 1/ω and
# a′ ride in the integrand's arguments (the rule knows ω only in the weights; on a finite
# range they are unused). Returns (joint, its kinds, n).
@functools.lru_cache(maxsize=64)
def _joint_integrand(integrand, kinds, tree, avals, diff, d_omega, x_dtype):
    m = len(kinds)
    d_theta = any(diff)
    args, consts = jax.tree_util.tree_unflatten(tree, [jnp.zeros(shape, dtype) for shape, dtype in avals])
    shape = jax.eval_shape(lambda x: integrand(consts, x, *args), jnp.zeros((), x_dtype)).shape  # (m, *f's)
    n = 0
    if d_theta:
        theta_joint, _, n, _ = _derivative_integrand(
            lambda x, ac: integrand(ac[1], x, *ac[0]).reshape(-1), (args, consts), list(diff))

    def joint(jconsts, x, a_next, inv_omega, args, consts):
        if d_theta:
            both = theta_joint(x, (args, consts))
            k = both.shape[0] // (n + 1)
            y = both[:k].reshape(shape)
            jac = both[k:].reshape(shape + (n,))
            parts = [y, jnp.moveaxis(jac, -1, 1).reshape((m * n,) + shape[1:])]
        else:
            y = integrand(consts, x, *args)
            parts = [y]
        if d_omega == "plain":  # a finite range: ∂/∂ω trig(ωx) = x trig′(ωx), integrated as it stands
            parts += [x * y]
        elif d_omega:
            tail = x >= a_next
            z = where(tail, x, a_next)  # (f′ only where it is used)
            y_z, slope = jax.jvp(lambda z: integrand(consts, z, *args), (z,), (jnp.ones_like(z),))
            parts += [jnp.minimum(x, a_next) * y, where(tail, -(y_z + (z - a_next) * slope) * inv_omega, 0.0)]
        return jnp.concatenate(parts)

    primes = tuple((_PRIME[k][0], s * _PRIME[k][1]) for k, s in kinds)
    jkinds = kinds + tuple(kd for kd in kinds for _ in range(n)) + (
        primes if d_omega == "plain" else (primes + kinds) if d_omega else ())
    return joint, jkinds, n


# The rule of the module's docstring: one vector integrand holds f, ∂f/∂θ and the two
# parts of the ω-derivative (`_joint_integrand`), each component its own Fourier
# integral; the rule recurses for higher derivatives. Symbolic zeros leave out what is
# not differentiated (and keep the Leibniz term's f(a), infinite for f singular at a,
# out of a derivative that does not move a).
@functools.partial(_fourier.defjvp, symbolic_zeros=True)
def _fourier_jvp(integrand, kinds, options, primals, tangents):
    a, omega, args, consts, epsabs, epsrel = primals
    ta, tomega, targs, tconsts = tangents[:4]
    # a′ is held fixed: the rule's dI/dω is the same whatever a′, so it has no derivative
    # in a′ (letting it move with a missed the jump at a′ and gave d²I/da dω 20 % off,
    # `converged`, while d²I/dω da was right; a review). The Leibniz term of the
    # min(x, a′) f trig′ component gives the whole derivative in a.
    a_next = lax.stop_gradient(a + _cycle(omega))

    def integrate(joint, jkinds):
        return _fourier(joint, jkinds, options, a, omega, (a_next, 1 / jnp.asarray(omega), args, consts), (), epsabs,
                        epsrel)

    ends = ((a, ta, -1.0, jnp.inf),)  # d/da ∫ₐ^∞ h = −h(a), h's limit from inside
    return _joint_tangents(integrand, kinds, integrate, args, consts, targs, tconsts, omega, tomega, "by_parts", ends)


def _joint_tangents(integrand, kinds, integrate, args, consts, targs, tconsts, omega, tomega, mode, ends):
    """The rules' common part: the joint integral of f, ∂f/∂θ and the ω-derivative's parts
    (`_joint_integrand` with `mode`) by `integrate(joint, kinds)`, contracted with the
    tangents, plus the Leibniz terms sign·t·h(e) of `ends` = ((e, t, sign, other end), ...)
    (h the weighted f, its one-sided limit at e from inside). The primal and tangent
    outputs of the rules."""
    m = len(kinds)
    leaves, tree, diff, dleaves = _split_args((args, consts), (targs, tconsts))
    d_omega = mode if not isinstance(tomega, SymbolicZero) else False
    avals = tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)
    x_dtype = jnp.result_type(*(e for e, _, _, _ in ends))
    joint, jkinds, n = _joint_integrand(integrand, kinds, tree, avals, tuple(diff), d_omega, x_dtype)
    out, err, neval, code = integrate(joint, jkinds)
    value = out[:m]
    tvalue = jnp.zeros_like(value)
    j = m
    if n:  # Σ ∫∂f/∂θₖ · dθₖ, with 0·∞ = 0 for a column nobody moves
        cols = out[j:j + n * m].reshape((m, n) + value.shape[1:])
        dtheta = _ravel_real([t for t, d in zip(dleaves, diff) if d])[0].astype(cols.dtype)
        dt = dtheta.reshape((1, n) + (1,) * (value.ndim - 1))
        tvalue = tvalue + jnp.sum(mul_zero_safe(jnp.broadcast_to(dt, cols.shape), cols), axis=1)
        j += n * m
    if d_omega == "plain":
        tvalue = tvalue + tomega * out[j:j + m]
    elif d_omega:
        tvalue = tvalue + tomega * (out[j:j + m] + out[j + m:j + 2 * m])

    def f_and_h(x, hargs):  # f and h in one vector: one limit, f evaluated once per sample
        omega, args, consts = hargs
        y = integrand(consts, x, *args)
        return jnp.concatenate([y.reshape(-1), _weighted(kinds, omega, x, y).reshape(-1)])

    # The limit of h = f·trig(ωx) is trig(ωe) times f's own limit: taken of the product,
    # the samples 1, 4 and 16 floats inside e differ in phase by ω·ulp(e), and the
    # rounding of ω·x (of that size again) broke the straight line through them, so that
    # f·trig one float inside was taken: d/db of ∫₀ᵇ e^(−x/1000) cos(10⁵x) dx at b = 3000
    # came out 2.9e-8 off at epsrel 1e-10, `converged` (outside probe). Where f has no
    # finite limit (1/x at 0, whose sin(ωx)/x tends to ω), the product's limit as before.
    for e, t, sign, other in ends:
        if not isinstance(t, SymbolicZero):
            hargs = (omega, args, consts)
            lim_f, lim_h = jnp.split(_limit_at(f_and_h, e, hargs, other, True), 2)
            # (f's limit zeroed where it is not used, before the product: the unused
            # branch's ∞·0 was NaN in second derivatives by reverse over reverse; a review.)
            finite_f = jnp.isfinite(lim_f)
            lim_f = where(finite_f, lim_f, jnp.zeros_like(lim_f))
            lim = where(finite_f, _weighted(kinds, omega, e, lim_f.reshape((m, -1))).reshape(-1), lim_h)
            # 0·∞ = 0: a zero tangent of this end (the parameters' columns of `jacfwd`)
            # adds nothing where f is infinite there (x^-½ at a = 0 made them NaN,
            # `converged`; outside probe).
            tvalue = tvalue + sign * mul_zero_safe(lim.reshape(value.shape), t)
    # The derivative integrals' statuses join the value's (as in `quad`).
    return (value, err[:m], neval, code), (tvalue, jnp.zeros_like(err[:m]), np.zeros((), jax.dtypes.float0),
                                           np.zeros((), jax.dtypes.float0))


# --------------------------------------------------------------------------------------
# A finite range (QAWO): the moments' adaptive rule on [a, b].


def is_fourier_range(weight, wvar, points):
    """Whether `quad` takes this weight on a finite range by Chebyshev moments: cos or
    sin, no breakpoints (those keep the product integrand), ω not a concrete 0."""
    return _trigonometric(weight, wvar) and np.shape(points) == (0,)


def fourier_range(integrand, consts, a, b, args, *, weight, omega, epsabs, epsrel, limit, complex_func, throw):
    """∫ₐᵇ f(x)·trig(ωx) dx over a finite range by `cycle_integral` (QAWO's rule, adaptively),
    for f traced by `quad` (`integrand(consts, x, *args)`); `(value, QuadInfo)` as `quad`
    returns them."""
    values, err, neval, code = _fourier_range(_components(integrand, complex_func, False), ((weight, 1.0),),
                                              (int(limit), None), a, b, omega, args, consts, epsabs, epsrel)
    return _finish(values[0], err[0], neval, code, complex_func, throw)


# f as real components along a leading axis (of −x with `flip`), made once per traced f
# (see `_weighted_integrand`) from `quad`'s trace: a second trace of f per call cost
# 0.6 ms of a 2.3 ms eager call on a finite range, 1.2 ms of 3.4 ms on a half line.
@functools.lru_cache(maxsize=64)
def _components(integrand, complex_func, flip):
    def g(consts, x, *args):
        # (jnp.asarray: an f that returns a Python number, `lambda x: 1.0`, crashed with
        # "'TypedFloat' object is not subscriptable"; outside probe.)
        y = jnp.asarray(integrand(consts, -x if flip else x, *args))
        return (jnp.stack([jnp.real(y), jnp.imag(y)]) if complex_func else y)[None]

    return g


def _finish(value, err, neval, code, complex_func, throw):
    """`(value, QuadInfo)` from one component's results (complex parts along its axis 0)."""
    if complex_func:
        value, err = value[0] + 1j * value[1], jnp.hypot(err[0], err[1])
    status = status_from_code(code)
    if throw:
        value = raise_if(value, status, code != CONVERGED, "jaxgrad.integrate.quad")
    return value, QuadInfo(err=err, neval=neval, status=status)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _fourier_range(integrand, kinds, options, a, b, omega, args, consts, epsabs, epsrel):
    """For each component f_c of `integrand(consts, x, *args)` (one per entry of `kinds`),
    ∫ₐᵇ sign·weight(ωx)·f_c(x) dx: `(values, err, neval, code)`, one status for all."""
    return _range(integrand, kinds, options, a, b, omega, args, consts, epsabs, epsrel)


@jit_core(static_argnums=(0, 1, 2))
def _range(integrand, kinds, options, a, b, omega, args, consts, epsabs, epsrel):
    limit, exact = options
    dtype = jnp.result_type(float, a, b, omega)
    a, b, omega = (jnp.asarray(v, dtype) for v in (a, b, omega))
    # NaN in a limit or ω, or an infinite ω: NaN and `nan_limits`. A traced infinite
    # limit (a concrete one is the Fourier integral over a half line) and an empty range
    # go to `quad` as the product, as they did before this rule.
    bad = jnp.isnan(a) | jnp.isnan(b) | ~jnp.isfinite(omega)
    lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
    direct = ~jnp.isfinite(lo) | ~jnp.isfinite(hi) | (lo == hi)
    lo, hi = replace_invalid(lo, bad, 0.0), replace_invalid(hi, bad, 1.0)
    omega = replace_invalid(omega, bad, 1.0)
    integrate = _range_integrator(integrand, kinds, omega, args, consts, dtype, limit, exact)
    value, err, neval, code, _ = integrate(lo, hi, epsabs, epsrel, direct=direct)
    value = where(b < a, -value, value)
    value, err = nan_if(value, bad), where(bad, jnp.nan, err)
    return value, err, neval.astype(jnp.int32), where(bad, NAN_LIMITS, code).astype(jnp.int32)


# f, ∂f/∂θ and x·f (for ω) in one vector integrand, as on the half line; the limits by
# Leibniz: d/db ∫ₐᵇ h = h(b), d/da = −h(a), whichever way round a and b are.
@functools.partial(_fourier_range.defjvp, symbolic_zeros=True)
def _fourier_range_jvp(integrand, kinds, options, primals, tangents):
    a, b, omega, args, consts, epsabs, epsrel = primals
    ta, tb, tomega, targs, tconsts = tangents[:5]
    zero = jnp.zeros((), jnp.result_type(float, a, b))

    # (The joint integral's derivative columns, after the m of f's, are judged on a
    # thousandth of their mass where they cancel, as in `quad`'s rule: d/dp of
    # ∫₋₁¹ (e^(−x²) + p·x) cos(3x) dx, 0 by symmetry, ended `roundoff` at epsabs = 0 and
    # `throw=True` made `jax.grad` raise. Higher orders keep the innermost count.)
    limit, exact = options
    joint_options = (limit, fewer(exact, len(kinds)))

    def integrate(joint, jkinds):
        return _fourier_range(joint, jkinds, joint_options, a, b, omega, (zero, zero, args, consts), (), epsabs,
                              epsrel)

    ends = ((a, ta, -1.0, b), (b, tb, 1.0, a))
    return _joint_tangents(integrand, kinds, integrate, args, consts, targs, tconsts, omega, tomega, "plain", ends)
