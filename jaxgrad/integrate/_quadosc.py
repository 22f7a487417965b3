"""Conditionally convergent oscillatory integrals over a half line: `quadosc`.

`∫₀^∞ sin t / t dt` converges, but not absolutely: no subdivision of the half line ever
makes the tail negligible, and `quad` reports it as divergent. The classical remedy
(Longman 1956; mpmath's `quadosc`; QUADPACK's QAWF does the same with Fourier
weights) integrates cycle by cycle and extrapolates the partial sums:

    I = Σₖ Iₖ,   Iₖ = ∫ over [a + k·h, a + (k + 1)·h],   h = period / 2,

is an asymptotically alternating series whose partial sums Sₙ converge like 1/n.
Wynn's ε-algorithm (Wynn 1956; the sequence transformation of QUADPACK's QELG)

    ε₋₁⁽ⁿ⁾ = 0,  ε₀⁽ⁿ⁾ = Sₙ,  εₖ₊₁⁽ⁿ⁾ = εₖ₋₁⁽ⁿ⁺¹⁾ + 1 / (εₖ⁽ⁿ⁺¹⁾ − εₖ⁽ⁿ⁾)

turns them into estimates ε₂ⱼ that converge geometrically. The cycles are integrated
one after the other by `quad` (one compiled loop), each with its own error control;
the extrapolation error is estimated from the agreement of the last entries
of the even columns. Derivatives (in `args`, closed-over values, the finite limit and
the period) flow through `quad`'s rules and through the ε-algorithm, which is a
rational function of the partial sums: they are the extrapolated derivatives of the
partial integrals.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from .._buckets import in_buckets
from .._errors import readable_errors
from .._jit import batched_eagerly, jit_core
from .._nan import nan_if, replace_invalid
from .._options import as_flag
from .._reduce import long_all, long_max, long_sum
from .._throw import raise_if
from .._where import where
from . import _status
from . import _eager_loop
from ._quad import (
    _check_limit, _check_tolerance, _eager_ends, _eager_tolerances, _vector_integrand, as_dtype,
    limits_dtype, loop_options, quad, trace_integrand, widened,
)
from ._status import QuadInfo, status_from_code
from ._wynn import wynn_epsilon


@readable_errors
def quadosc(
    f: Callable[..., ArrayLike],
    a: ArrayLike,
    b: ArrayLike,
    args: tuple[Any, ...] = (),
    *,
    period: ArrayLike,
    epsabs: float = 1.49e-8,
    epsrel: float = 1.49e-8,
    cycles: int = 40,
    limit: int = 50,
    throw: bool = False,
) -> tuple[Float[Array, "*shape"], QuadInfo]:
    r"""Oscillatory integral over a half line, $\int_a^\infty$ or $\int_{-\infty}^b$, by extrapolation.

    For Fourier-type integrands $g(t)\sin(\omega t)$ or $g(t)\cos(\omega t)$ with a
    slowly decaying $g$ (e.g. $\sin t / t$), whose integral converges only
    conditionally (`quad` reports those as divergent). The range is cut into `cycles` pieces of half a `period`,
    starting at the finite limit; the pieces are integrated by `quad` (each with its
    own error control) and the partial sums are extrapolated with
    Wynn's ε-algorithm. Derivatives with respect to `args`, closed-over values, the
    finite limit and `period` are those of the extrapolated partial integrals.

    Arguments:
        f: the integrand, `f(x, *args)`, returning a real scalar or array.
        a: lower limit: a finite real scalar, or `-inf` (then `b` must be finite).
        b: upper limit: `inf`, or a finite real scalar when `a = -inf`.
        args: extra arguments of `f`.
        period: the period of the oscillation (e.g. `2π/ω` for `sin(ωx)`); pieces are
            half a period long, so that for `sin`/`cos` their integrals alternate in sign.
            Need not be exact for a chirp-free oscillation, but must be positive and
            not twice the true period or more (pieces of whole oscillations do not
            alternate: flagged, with an estimate that may not cover the error).
            Derivatives need the true period: the derivative of sin(ωt)/(t + p) in ω,
            t·cos(ωt)/(t + p), does not fade, and its half-period sums with a period
            1.3 times the true one extrapolate 3.5e-8 off, `converged`, at epsrel 1e-10
            and 1e-12 alike (dI/da 8e-10, dI/dperiod −1.2e-9 for 0; outside probe).
        epsabs: absolute tolerance for the result (each piece gets `epsabs / cycles`).
        epsrel: relative tolerance for the result (each piece gets a tenth of it).
            Both are inputs of the compiled program: a new value reuses it.
        cycles: number of half-period pieces (static). The ε-algorithm needs the
            partial sums to be in their asymptotic regime: increase it when the envelope
            of the oscillation decays slowly to its asymptotic form.
        limit: `quad`'s subinterval limit per piece.
        throw: raise at run time (`equinox.error_if`) unless converged.

    Returns:
        `(value, info)` as for [`quad`][jaxgrad.integrate.quad]: `info.err` is the
        extrapolation error plus the pieces' errors, `info.neval` the total number of
        evaluations (with `8·cycles` samples of `|f|`), and `info.status` converged;
        the worst status of a piece if one did not converge; or `divergent` if the
        extrapolation did not meet the tolerance (divergent or too slowly convergent,
        or not oscillatory), or if the envelope of `|f|` does not die out over the
        pieces (`info.err` is then inf): ε would sum such a series too (to Abel's
        value, `∫₀^∞ sin t` "= 1"), but the integral does not exist. An envelope
        that levels off slowly towards a nonzero constant (`1 + t^-1/2`) is not told
        from a slowly decaying one.

    Raises:
        TypeError: `f` is not callable, a tolerance is not a number, or `throw` is
            not a bool.
        ValueError: not exactly one infinite limit, `cycles` not from 4 to 10,000,
            `limit` not from 1 to 10,000,000, a negative tolerance, or a concrete
            `period` that is not positive and finite.
            (A NaN limit or period, or a traced bad one, gives NaN and
            `STATUS.nan_limits`.)

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)  # the default tolerances are float64's
        >>> from jaxgrad.integrate import quadosc
        >>> value, info = quadosc(lambda t: jnp.sinc(t / jnp.pi), 0.0, jnp.inf, period=2 * jnp.pi)
        >>> print(f"{value:.10f}", bool(info.converged))  # π/2
        1.5707963268 True
    """
    fn = "jaxgrad.integrate.quadosc"
    throw = as_flag(fn, "throw", throw)
    if not callable(f):
        raise TypeError(f"{fn}: `f` must be callable as f(x, *args); got {type(f).__name__}.")
    if not isinstance(args, tuple):
        args = (args,)
    epsabs = _check_tolerance("epsabs", epsabs, fn, traced_ok=True)
    epsrel = _check_tolerance("epsrel", epsrel, fn, traced_ok=True)
    limit = _check_limit(limit, fn)
    if isinstance(cycles, bool) or not isinstance(cycles, numbers.Integral) or not 4 <= cycles <= _MAX_CYCLES:
        raise ValueError(f"{fn}: `cycles` must be an integer from 4 to {_MAX_CYCLES:,}; got {cycles!r}.")
    a_inf = _infinite_sign(a)
    b_inf = _infinite_sign(b)
    if not ((a_inf == 0 and b_inf == 1) or (a_inf == -1 and b_inf == 0)):
        raise ValueError(
            f"{fn}: exactly one limit must be infinite, as [a, inf) or (-inf, b], with the "
            f"other a finite scalar; got a={a!r}, b={b!r}. Use `quad` for finite ranges."
        )
    try:
        concrete_period = float(period)
    except (TypeError, jax.errors.ConcretizationTypeError):
        concrete_period = None
    # (A NaN period, like a NaN limit, gives NaN and `nan_limits` rather than raising.)
    if concrete_period is not None and not math.isnan(concrete_period) and not 0 < concrete_period < math.inf:
        raise ValueError(f"{fn}: `period` must be positive and finite; got {period!r}.")

    start = a if b_inf == 1 else b
    dtype = limits_dtype(fn, **{"a" if b_inf == 1 else "b": start}, period=period)
    start, period = as_dtype(start, dtype), as_dtype(period, dtype)
    integrand, consts, val_dtype = trace_integrand(fn, f, dtype, args)
    if val_dtype != dtype:  # (x in f's wider dtype: `trace_integrand`)
        dtype = val_dtype
        start, period = widened(start, dtype), widened(period, dtype)
    sign = 1.0 if b_inf == 1 else -1.0
    options = dict(sign=sign, cycles=int(cycles), limit=limit)
    if _eager_loop.usable(start, period, args, consts, epsabs, epsrel):
        return _quadosc_eager(integrand, val_dtype, sign, int(cycles), limit, throw, start, period, args, consts,
                              epsabs, epsrel)
    statics = (integrand, tuple(options.items()), throw)
    dynamic = (start, period, args, consts, epsabs, epsrel)
    if batched_eagerly():
        # `jax.vmap` from eager code: a few batch sizes compiled (`jaxgrad._buckets`),
        # the padded lanes repeating the last one.
        return in_buckets(_quadosc, statics, dynamic, 0)
    return _quadosc(*statics, *dynamic)


# Every piece is integrated and ε's table grows as the square of their number:
# `cycles=10**5` took 100 s on sin t/(1 + t), 10**6 did not end (outside probe).
_MAX_CYCLES = 10_000


# One compiled computation, cached per integrand and options (see `jaxgrad._traced`); the
# tolerances are inputs of it (so are those of the `quad` pieces), not part of the key.
@jit_core(static_argnums=(0, 1, 2))
def _quadosc(integrand, options, throw, start, period, args, consts, epsabs, epsrel):
    sign, cycles, limit = (dict(options)[k] for k in ("sign", "cycles", "limit"))
    bad, lo, hi = _pieces(sign, cycles, start, period)

    def f(x, *fargs):
        return integrand(consts, x, *fargs)

    def piece(lo, hi):
        value, info = quad(f, lo, hi, args, epsabs=epsabs / cycles, epsrel=epsrel / 10, limit=limit)
        return value, info.err, info.neval, info.status._value

    # Under `vmap` (quad's batching rule: the pieces that need refinement are resumed one
    # by one). `lax.map` compiled ~30 % faster, but inside a scan JAX differentiates a
    # custom rule's primal at second order in reverse mode: `jax.hessian` of `quadosc`
    # raised (no derivative rule for the loop's `nextafter`) instead of giving 0.68343.
    values, errs, nevals, codes = jax.vmap(piece)(lo, hi)
    fx = jax.vmap(jax.vmap(lambda x: jnp.asarray(f(x, *args))))(_samples(lo, hi))
    return _concluded(values, errs, nevals, codes, fx, bad, epsabs, epsrel, throw)


def _pieces(sign, cycles, start, period):
    """`(bad, lo, hi)`: the half periods' ends, and whether the finite limit or the period
    was unusable. Traced inputs the wrapper could not check: an infinite or NaN finite
    limit, a period that is not a positive number. The result is then NaN with status
    `nan_limits` (a traced -inf beside b = inf gave 0, `converged`; a negative period
    NaN, `converged`); the pieces run on harmless stand-ins meanwhile."""
    dtype = jnp.result_type(float, start, period)
    start = jnp.asarray(start, dtype)
    half = jnp.asarray(period, dtype) / 2
    bad = ~jnp.isfinite(start) | ~(half > 0) | ~jnp.isfinite(half)
    start = replace_invalid(start, bad, 0.0)
    half = replace_invalid(half, bad, 1.0)
    k = jnp.arange(cycles, dtype=dtype)
    edges0 = start + sign * k * half
    edges1 = start + sign * (k + 1) * half
    lo, hi = (edges0, edges1) if sign > 0 else (edges1, edges0)
    return bad, lo, hi


def _concluded(values, errs, nevals, codes, fx, bad, epsabs, epsrel, throw):
    """`quadosc`'s result from the pieces' (a leading axis of half periods) and from f at
    `_samples` of each (`fx`): the partial sums extrapolated."""
    partial = jnp.cumsum(values, axis=0)
    size = jnp.abs(where(jnp.isfinite(fx), fx, 0.0))
    fading = envelope_fades(jnp.mean(size, axis=1), None)
    value, err, code = extrapolated_sum(partial, None, jnp.sum(errs, axis=0), codes, fading, epsabs, epsrel)
    value, err = nan_if(value, bad), where(bad, jnp.nan, err)
    code = where(bad, _status.NAN_LIMITS, code)
    status = status_from_code(code)
    if throw:
        value = raise_if(value, status, code != _status.CONVERGED, "jaxgrad.integrate.quadosc")
    return value, QuadInfo(err=err, neval=jnp.sum(nevals) + fx.shape[0] * fx.shape[1], status=status)


def _quadosc_eager(integrand, val_dtype, sign, cycles, limit, throw, start, period, args, consts, epsabs, epsrel):
    """`_quadosc` from eager code: the half periods integrated pass by pass as `vmap` of
    `quad` integrates them in `_quadosc` (`_eager_loop.run_lanes`: the first pass of all
    at once, the unfinished ones again, their first pass counted twice in `info.neval`),
    so that a new integrand compiles only its own evaluations. Each half period is
    `quad`'s: its checks, loop and report."""
    bad, lo, hi, x = _eager_pieces(sign, cycles, start, period)
    fvec = _vector_integrand(integrand, False, val_dtype)
    all_args = (args, consts, _eager_tolerances(epsabs / cycles, epsrel / 10, val_dtype))
    shape = integrand.out_shape.shape
    options = dict(loop_options(limit))
    values, info = _eager_loop.run_lanes(
        fvec, (lo, hi, jnp.zeros((cycles, 0), lo.dtype)), all_args, nseg=1, dtype=lo.dtype,
        ends=_eager_ends(shape, False, False), out_size=math.prod(shape), **options,
    )
    fx = _eager_loop.evaluator(fvec)(all_args, x)
    return _eager_concluded(shape, integrand.out_shape.dtype, throw, values, info.err, info.neval,
                            info.status._value, fx, bad, epsabs, epsrel)


@jit_core(static_argnums=(0, 1), light=True)
def _eager_pieces(sign, cycles, start, period):
    bad, lo, hi = _pieces(sign, cycles, start, period)
    return bad, lo, hi, _samples(lo, hi)


@jit_core(static_argnums=(0, 1, 2), light=True)
def _eager_concluded(shape, dtype, throw, values, errs, nevals, codes, fx, bad, epsabs, epsrel):
    fx = fx.reshape(fx.shape[:2] + shape).astype(dtype)  # (as f returned it: `fvec` casts)
    return _concluded(values, errs, nevals, codes, fx, bad, epsabs, epsrel, throw)


def extrapolated_sum(partial, count, errsum, codes, fading, epsabs, epsrel):
    """The limit of the partial sums `partial` (the last `count` entries of its leading
    axis; all with None) by Wynn's ε, its error (the extrapolation's plus `errsum`, the
    pieces' errors) and status code, from the pieces' codes `codes` (leading axis, any
    length; codes past the pieces run may be CONVERGED) and whether the envelope of the
    integrand fades (`fading`, per component). Used by `quadosc` and by the Fourier
    integrals of `quad`."""
    value, ext_err = wynn_epsilon(partial, count)
    err = ext_err + errsum
    # ε sums a series whose terms do not decay too (Abel's sum: ∫₀^∞ sin t "= 1"), with a
    # small error: the integral exists only if the oscillation's envelope dies out.
    err = where(fading, err, jnp.inf)
    tol = jnp.maximum(epsabs, epsrel * jnp.abs(value))
    worst = long_max(codes)
    met = jnp.all(err <= tol) & jnp.all(jnp.isfinite(value))
    # A piece stopped at its rounding floor (`roundoff`) has that floor in its error: if
    # the total still meets the tolerance, so does the result. (Each piece gets a share
    # of the tolerance; at epsabs = epsrel = 1e-12 a cycle of x sin x/(1 + x²) with an
    # error estimate of 2.2e-14 at its floor, 1e-17 in truth, missed its share of 2e-14,
    # and a result right to 4e-16 was reported `roundoff`.)
    at_floor = long_all((codes == _status.CONVERGED) | (codes == _status.ROUNDOFF))
    code = where(at_floor & met, _status.CONVERGED, where(worst != _status.CONVERGED, worst, _status.DIVERGENT))
    # A non-fading envelope says more than the pieces' statuses (cos t's half periods
    # integrate to 0, which their relative tolerance calls roundoff), NaN at a node more.
    code = where(jnp.all(fading) | (code == _status.NONFINITE), code, _status.DIVERGENT)
    # Short of the tolerance, ε's spread is no bound: with half periods that hold whole
    # oscillations (sin 10t/(t + 1) with period 2π) the partial sums never alternate, and
    # the error was 2.1e-6 for a true 1.5e-4 (outside probe). The error is then at least
    # the extrapolation's distance to the last partial sum (8e-4 there), as in `quad`.
    # (Where the extrapolation met the tolerance and only the pieces did not, their
    # errors are the estimate: x^-½ cos x at epsrel 1e-12, pieces at their rounding floor
    # summing to 1.5e-12, got 4.9e-5 here for a value right to 2e-15.)
    # (Nor where ε's spread is at the rounding level of the partial sums: at epsabs =
    # epsrel = 1e-16 a result right to 1e-16 got 2e-3.)
    floor = 50 * jnp.finfo(partial.dtype).eps * long_max(jnp.abs(partial))
    doubtful = (code != _status.CONVERGED) & ~jnp.all(ext_err <= jnp.maximum(tol, floor))
    err = where(doubtful, jnp.maximum(err, jnp.abs(value - partial[-1])), err)
    return value, err, code


# The envelope test of `_quadosc`: |f| at _SAMPLES points of each half period, averaged
# over three windows of half periods, each twice as long as the one before
# ([c/8, c/4), [c/4, c/2), [c/2, c) of c = `cycles`); r₁, r₂ are the ratios of
# consecutive windows. The envelope fades if it decreases (r₂ < 1 − _FLAT) and does not
# level off towards a constant: a power law t^-p keeps r₂ = r₁, an envelope c + d/t has
# (1 − r₂) = ½(1 − r₁) (measured ratio of the two 0.99–1.02 for t^-p, p = 0.01–1, 0.70 for
# 10/t + t^-0.05, 0.53 for 1 + 1/t). |f| is sampled rather than the half periods' integrals
# used because those can vanish for a non-decaying integrand: cos t over [kπ, (k+1)π].
# What this cannot see: an envelope that levels off slowly (1 + t^-½: ratio 0.76) looks
# like a slow power law over `cycles` half periods, and ε's sum is then reported.
_SAMPLES = 8
_FLAT = 1e-3
_LEVELLING = 0.6


def _samples(lo, hi):
    """Where the envelope test samples |f|: `_SAMPLES` points of each half period."""
    t = (jnp.arange(_SAMPLES, dtype=lo.dtype) + 0.5) / _SAMPLES
    return lo[:, None] + (hi - lo)[:, None] * t


def envelope_fades(env, count, flat=_FLAT):
    """The test above on the sizes `env` of |f| over consecutive pieces (leading axis;
    its first `count` entries, all with None); a fall of the windows' means by less than
    `flat` is no fall."""
    n = env.shape[0] if count is None else count
    idx = jnp.arange(env.shape[0]).reshape((-1,) + (1,) * (env.ndim - 1))

    def window(i0, i1):
        inside = (idx >= i0) & (idx < i1)
        return long_sum(where(inside, env, 0.0)) / jnp.maximum(i1 - i0, 1)

    w1, w2, w3 = window(n // 8, n // 4), window(n // 4, n // 2), window(n // 2, n)
    r1 = w2 / where(w1 > 0, w1, 1.0)
    r2 = w3 / where(w2 > 0, w2, 1.0)
    decreasing = r2 < 1 - flat
    levelling = (r1 < 1) & ((1 - r2) < _LEVELLING * (1 - r1))
    fading = (w3 == 0) | (decreasing & ~levelling)
    return lax.stop_gradient(fading)


def _infinite_sign(x):
    """+1 / -1 for a concrete ±inf limit, 0 for anything else (finite or traced)."""
    try:
        v = float(x)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return 0
    return 1 if v == math.inf else (-1 if v == -math.inf else 0)
