"""Named matrix functions of Hermitian matrices, built on the divided-difference rules of
``_funm``: ``expm``, ``logm``, ``sqrtm``, ``powm``, ``inv_sqrtm``, ``trace_function`` and
``projector``.

Domains. ``logm`` and ``inv_sqrtm`` need positive definite input, ``sqrtm`` and ``powm``
positive semidefinite input. Eigenvalues in ``[-τ, 0)`` with ``τ = 10·n·eps·max|λ|``
are taken as rounding errors of 0 (for the semidefinite functions); an eigenvalue
outside the domain makes the whole output NaN. Derivatives at singular semidefinite
input are not finite (``√`` has an infinite slope at 0) and come out inf or NaN.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._errors import readable_errors
from .._power_of_two import floor_log2, power_of_two_scale, scale_outside_middle, two_to
from .._where import where
from ._checks import host_array, matrix_dtype, nan_where, real_scalar
from ._funm import (
    _d1,
    _funm,
    _is_zero,
    _param_partials,
    _spectrum,
    check_hermitian_rtol,
    elementwise,
    elementwise_function,
    hermitian_input,
)
from ._ties import default_tie_rtol, tie_tolerance


def _eps(dtype) -> float:
    return float(np.finfo(jnp.finfo(dtype).dtype).eps)


def _semidefinite(w):
    """Eigenvalues in ``[-τ, 0)`` become 0 (derivative passed through), below ``-τ`` NaN."""
    tau = 10 * w.shape[-1] * _eps(w.dtype) * jnp.max(jnp.abs(w), axis=-1, keepdims=True, initial=0.0)
    tau = lax.stop_gradient(tau)
    clipped = w + lax.stop_gradient(jnp.maximum(w, 0) - w)
    return where(w < -tau, jnp.nan, clipped)


def _exp(x):
    return jnp.exp(x)


def _log(x):
    pos = x > 0
    return where(pos, jnp.log(where(pos, x, 1)), jnp.nan)


def _inv_sqrt(x):
    pos = x > 0
    return where(pos, lax.rsqrt(where(pos, x, 1)), jnp.nan)


def _sqrt(x):
    return jnp.sqrt(x)


_sqrt.prepare_eigenvalues = _semidefinite
# Degrees of homogeneity, f(sA) = s^degree f(A) (see `_unit_scale`); the logarithm's
# f(sA) = f(A) + ln(s)·I takes A at a scale where its divided differences (~1/λ, 1/λ²)
# are in range, as the powers with degree 0.
_sqrt.degree, _inv_sqrt.degree = 0.5, -0.5
_log.shifts_by_log_of_scale = True


# Closed-form first divided differences f[x, y] of the named functions: the Fréchet
# derivative (first derivatives of expm, logm, sqrtm, inv_sqrtm, powm, polar) reads them in
# place of funm's general rule (a quotient/Gauss–Lobatto switch on f and f′ at eight
# points per pair). Each is rewritten so that nothing cancels, accurate to a few ulps
# at every gap from an exact tie (where it is f′) to the widest, with the same domain
# as f: NaN wherever f is NaN at either point. They save about a quarter of the compile
# time of `jit(grad)` of a loss of `expm` (bench/RESULTS.md, "closed-forms"). Second divided
# differences (Hessians) keep the general rule, except for √ and 1/√ (below).
def _pairs(w):
    """(hi, lo, h): the larger and smaller eigenvalue of every pair (i, j), and their gap."""
    x, y = w[..., :, None], w[..., None, :]
    hi, lo = jnp.maximum(x, y), jnp.minimum(x, y)
    return hi, lo, hi - lo


def _ratio(num, den):
    """num / den, 0 where den is 0 (the caller handles those entries)."""
    return num / where(den == 0, jnp.ones_like(den), den)


def _exp_first(w):
    # f[x, y] = e^hi (1 − e^(−h))/h = e^hi · (−expm1(−h))/h, h = hi − lo ≥ 0: no
    # cancellation, and e^hi itself at h = 0. Near exp's overflow (hi within 1 of it)
    # e^hi is formed as e^(hi − 64)·e^64, so that f[x, y] overflows only where its
    # value does (hi − 64 is exact there: both lie in [512, 1024)).
    hi, lo, h = _pairs(w)
    frac = where(h == 0, 1.0, _ratio(-jnp.expm1(-h), h))
    big = hi > np.log(np.finfo(np.dtype(w.dtype)).max) - 1
    return where(big, jnp.exp(hi - 64.0) * (frac * np.exp(64.0)), jnp.exp(hi) * frac)


def _log_first(w):
    # f[x, y] = ln(hi/lo)/h, with ln(hi/lo) = log1p(h/lo) while hi < 2·lo (the ratio near
    # 1), ln of the ratio itself above, and ln hi − ln lo where the ratio overflows
    # (there the logarithms differ by more than 709: no cancellation); 1/hi at h = 0.
    hi, lo, h = _pairs(w)
    r = _ratio(hi, lo)
    log_ratio = where(
        hi < 2 * lo, jnp.log1p(_ratio(h, lo)), where(jnp.isfinite(r), jnp.log(r), jnp.log(hi) - jnp.log(lo)))
    out = where(h == 0, _ratio(jnp.ones_like(hi), hi), _ratio(log_ratio, h))
    return where(lo > 0, out, jnp.nan)


def _sqrt_first(w):
    # f[x, y] = (√x − √y)/(x − y) = 1/(√x + √y); 1/(2√x) at a tie, inf at 0 (as f′).
    x, y = w[..., :, None], w[..., None, :]
    return 1 / (jnp.sqrt(x) + jnp.sqrt(y))


def _inv_sqrt_first(w):
    # f[x, y] = (x^(−1/2) − y^(−1/2))/(x − y) = −x^(−1/2) y^(−1/2) / (√x + √y), products
    # ordered so that no intermediate overflows where the result does not.
    hi, lo, _ = _pairs(w)
    pos = lo > 0
    hi_s, lo_s = where(pos, hi, 1.0), where(pos, lo, 1.0)
    out = -(lax.rsqrt(hi_s) / (jnp.sqrt(hi_s) + jnp.sqrt(lo_s))) * lax.rsqrt(lo_s)
    return where(pos, out, jnp.nan)


def _pow_first(w, p):
    # f[x, y] = (hi^p − lo^p)/h = hi^(p−1) · (1 − (lo/hi)^p)/s with s = h/hi ∈ [0, 1]
    # and (lo/hi)^p = e^(p·t), t = ln(lo/hi): hi^(p−1) · (−expm1(p·t))/s, with
    # t = log1p(−s) while s < 1/2 (lo/hi near 1) and ln(lo/hi) beyond; p·hi^(p−1) at a
    # tie. For p < 0, where |p·t| >= 1 and s >= 1/2, the two powers differ by a factor
    # of at least e and their difference is taken as it is (so that (lo/hi)^p cannot
    # overflow alone); 0 for p = 0 (f = 1). For p > 0 the factor (1 − (lo/hi)^p)/s lies
    # in [0.6, 2] there, so hi^(p−1) under- or overflows only with the result, while
    # the two powers underflow first: (2e-250)^1.5 is 0 where f[x, y] is 1.8e-125, and
    # the derivative of powm at 1e-250 was 2e17 times too small (outside probe).
    hi, lo, h = _pairs(w)
    s = _ratio(h, hi)
    r = _ratio(lo, hi)
    # (ln lo − ln hi where lo/hi underflows: |t| > 700 there, no cancellation; the
    # ratio's 0 made p·t infinite and sent p = 1e-8 to the cancelling difference.)
    t = where(s < 0.5, jnp.log1p(-s), where(r >= np.finfo(np.dtype(w.dtype)).tiny, jnp.log(r), jnp.log(lo) - jnp.log(hi)))
    pt = where(p == 0, 0.0, p * t)
    near = jnp.power(hi, p - 1) * _ratio(-jnp.expm1(pt), s)
    far = _ratio(jnp.power(hi, p) - jnp.power(lo, p), h)
    out = where(h == 0, p * jnp.power(hi, p - 1), where((s < 0.5) | (jnp.abs(pt) < 1) | (p > 0), near, far))
    return where(p == 0, 0.0, out)


# The power of `powm` at unit scale: with A = s·B, s = 2^k (`_unit_scale`), A^p = s^p·B^p.
# Differentiated in p by the product rule, its two terms s^p·ln s·B^p and s^p·∂B^p/∂p
# cancel where an eigenvalue λ = s·x is near 1 and s is not (d²/dp² of the wrong sign at
# diag(1e7, 1.0001), p = −3, in float32; review), so that a traced exponent was not
# rescaled and its divided differences left the float range (float32 `powm(A, p)`'s
# derivative in A exactly 0 at ‖A‖ ~ 1e20 for a traced p = −1; outside probe). Instead
# s^p is held constant in p and x^p's own exponent derivative is x^p·ln(x·2^k), the
# logarithm of the unscaled eigenvalue (exact, x·2^k is λ): s^p·x^p·ln λ = λ^p ln λ, with
# nothing to cancel. Every derivative goes through `_power` again, so that mixed and
# higher ones read the same logarithm (∂/∂p of x^p ln λ is x^p ln² λ). The divided
# differences stay those of x^p at unit scale; s^p multiplies the result, as for √.
@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _power(x, p, k, m):
    """x^(p−m): x^p's m-th derivative without its constant p(p−1)…(p−m+1)."""
    return jnp.power(x, p - m)


def _unscaled_log(x, k):
    """ln(x·2^k), 0 at x = 0 (as in the exponent derivative of `jnp.power`), NaN below."""
    lam = x * two_to(k, x.dtype)  # (exact where it is a normal float)
    normal = lam >= jnp.finfo(x.dtype).tiny
    # (Below the normal range the two logarithms have the same sign: nothing cancels.)
    split = jnp.log(where(x > 0, x, 1.0)) + k.astype(x.dtype) * float(np.log(2.0))
    return where(normal, jnp.log(where(normal, lam, 1.0)), where(x > 0, split, where(x == 0, 0.0, jnp.nan)))


@functools.partial(_power.defjvp, symbolic_zeros=True)
def _power_jvp(m, primals, tangents):
    x, p, k = primals
    dx, dp, _ = tangents
    y = _power(x, p, k, m)
    dy = jnp.zeros_like(y)
    if not _is_zero(dx):  # (0 where p − m is 0, as in `jnp.power`'s rule: no 0·inf)
        dy = dy + where(p == m, 0.0, (p - m) * _power(x, p, k, m + 1)) * dx
    if not _is_zero(dp):
        dy = dy + y * _unscaled_log(x, k) * dp
    return y, dy


def _pow(x, p, k):
    """The scalar function of `powm`: x^p at unit scale, `k` the scale's exponent."""
    return _power(x, p, k, 0)


_pow.prepare_eigenvalues = _semidefinite
_pow.first_divided_differences = lambda w, p, k: _pow_first(w, p)


# Second divided differences f[x, y, z] of the square root and its inverse, with
# a, b, c = √x, √y, √z: from f[x, y] above, (f[x, y] − f[y, z])/(x − z) reduces to
#   √:   −1/((a + b)(b + c)(a + c)),
#   1/√: (a + b + c)/(a b c (a + b)(b + c)(a + c)),
# sums and products of positive numbers only (f″/2 where the three meet).
def _triples(w):
    r = jnp.sqrt(w)
    return r[..., :, None, None], r[..., None, :, None], r[..., None, None, :]


# (Divided one factor at a time: the products of six roots overflowed float32 from
# eigenvalues of 1e13 on, where the result is 1e-33 (outside review).)
def _sqrt_second(w):
    a, b, c = _triples(w)
    return -((1 / (a + b)) / (b + c)) / (a + c)


def _inv_sqrt_second(w):
    a, b, c = _triples(w)
    pos = (a > 0) & (b > 0) & (c > 0)  # (1/√ is NaN at 0 and below, and at a NaN root)
    out = (((a + b + c) / (a + b)) / (a * (b + c))) / (b * (a + c)) / c
    return where(pos, out, jnp.nan)


_exp.first_divided_differences = _exp_first
_log.first_divided_differences = _log_first
_sqrt.first_divided_differences = _sqrt_first
_inv_sqrt.first_divided_differences = _inv_sqrt_first
_sqrt.second_divided_differences = _sqrt_second
_inv_sqrt.second_divided_differences = _inv_sqrt_second


def _unit_scale(a, p):
    """`(a / s, k)` for the powers, `A^p = s^p (A/s)^p`, with `s = 2^k` an even power of two
    (so that `a / s` is exact, and `s^(±½)` too): the divided differences, ~λ^(p−1) and
    λ^(p−2) on their own, left the float range although the derivatives, their products
    with `Vᴴ E V`, did not. In float32 `powm(A, -1)`'s derivative at ‖A‖ ~ 1e20 was
    exactly 0 (at 1e-20 NaN), `inv_sqrtm`'s 84 % off at 1e25 and its second derivative
    100 % at 1e20 (outside probe; likewise beyond ~1e±100 in float64). `s` moves ‖A‖
    only as far as needed to bring ‖A‖^(p−1) and ‖A‖^(p−2) within the middle half of
    the exponent range and their products with s^p within [tiny/eps, max·eps] (below;
    1 where they are: the same program, exactly), and not at all where s^p would not
    be a normal float: scaling all the way to 1 lost x^2.5's derivative at 1e-130 (s^p
    underflows, the derivative does not) and eigenvalues below s·tiny (diag(1e-160,
    1e150) with p = 1e-8). An eigenvalue below s·tiny is still lost where the scale must
    come down that far: only at a spread of eigenvalues beyond 1/(eps·tiny) of the
    largest in a graded matrix (float32 `powm(diag(1e15, 1e-35), -1)` is NaN/inf; it was
    right, with derivatives that overflow; review), far below what `eigh` resolves in
    any other."""
    r = power_of_two_scale(jnp.sqrt(jnp.abs(a)), axis=(-2, -1), keepdims=True)
    info = jnp.finfo(r.dtype)
    low, high = float(np.log2(info.tiny / info.eps)), float(np.log2(info.max * info.eps))
    log_a = 2 * floor_log2(r).astype(r.dtype)  # ‖A‖ ≈ 2^log_a, an even integer (exact; jnp.log2 is not)
    # Where the log of the scaled norm, m, may lie: the divided differences, ~2^(q·m) for
    # q = p − 1, p − 2, within the range's middle half, and their products with the
    # output's scale s^p = 2^(p·k), k = log_a − m (reverse mode's second derivatives
    # multiply the cotangent, which carries s^p, by the second divided differences), and
    # s^p itself, within the range: with the divided differences alone in the range,
    # inv_sqrtm at ‖A‖ = 1e150 was scaled to 1e117 only, 1e-292 met 1e-16.5 below the
    # normal floats, and `grad(grad)` was exactly half the second derivative (NaN at
    # 1e-150; `jacfwd(jacfwd)` right; outside probe). Where no m satisfies all of these
    # (the derivatives themselves near the ends of the range), the divided differences'
    # windows over the whole range alone, as before.
    # Each condition is lo ≤ c + slope·m ≤ hi, c = 0 or p·log_a (`product`); the rows:
    # the two divided differences in the middle half, the three products and s^p, then
    # the two over the whole range (the fallback).
    static = isinstance(p, (int, float))  # (the named functions' degrees: the bounds in Python)
    p = p if static else jnp.asarray(p, r.dtype)
    product = (False, False, True, True, True, False, False)
    slopes = (p - 1, p - 2, -2.0, -1.0, -p, p - 1, p - 2)
    lows, highs = [low / 2] * 2 + [low] * 5, [high / 2] * 2 + [high] * 5
    if static:
        ends = []
        for prod, slope, lo, hi in zip(product, slopes, lows, highs):
            c = p * log_a if prod else 0.0
            if slope == 0:  # (q = 0, or s^p at p = 0: c = 0, always inside)
                ends.append((-np.inf, np.inf))
            else:
                e = ((lo - c) / slope, (hi - c) / slope)
                ends.append(e if slope > 0 else e[::-1])

        def meet(rows):
            def fold(op, py, xs):  # (numbers in Python; arrays only where log_a enters)
                numbers = [x for x in xs if isinstance(x, float)]
                arrays = [x for x in xs if not isinstance(x, float)]
                return functools.reduce(op, arrays, py(numbers)) if numbers else functools.reduce(op, arrays)

            return fold(jnp.maximum, max, [ends[i][0] for i in rows]), fold(jnp.minimum, min, [ends[i][1] for i in rows])

        (m_lo, m_hi), (old_lo, old_hi) = meet(range(5)), meet((5, 6))
    else:  # a traced exponent: the seven rows as one vector
        pl = p * log_a
        zero = jnp.zeros_like(pl)
        c = jnp.stack([pl if prod else zero for prod in product], axis=-1)
        slope = jnp.stack([zero + x for x in slopes], axis=-1)
        lo, hi = np.array(lows), np.array(highs)
        safe = where(slope == 0, 1.0, slope)
        inside = (c >= lo) & (c <= hi)
        flat = where(inside, -jnp.inf, jnp.inf)
        below = where(slope > 0, (lo - c) / safe, where(slope < 0, (hi - c) / safe, flat))
        above = where(slope > 0, (hi - c) / safe, where(slope < 0, (lo - c) / safe, -flat))
        m_lo, m_hi = jnp.max(below[..., :5], axis=-1), jnp.min(above[..., :5], axis=-1)
        old_lo, old_hi = jnp.max(below[..., 5:], axis=-1), jnp.min(above[..., 5:], axis=-1)
    feasible = m_lo <= m_hi
    m_lo, m_hi = where(feasible, m_lo, old_lo), where(feasible, m_hi, old_hi)
    m = jnp.clip(log_a, m_lo, m_hi)
    m = where(m < log_a, 2 * jnp.floor(m / 2), 2 * jnp.ceil(m / 2))  # (even, inside)
    k = log_a - m
    k = where((p * k > np.log2(info.tiny)) & (p * k < np.log2(info.max)), k, 0.0).astype(jnp.int32)
    return a / two_to(k, r.dtype).astype(a.dtype), k  # (k an even integer: exact)


def _apply(a, f, params, fn, hermitian_rtol):
    a, bad = hermitian_input(a, fn, hermitian_rtol)
    if getattr(f, "shifts_by_log_of_scale", False):
        # log(sA) = log(A) + ln(s)·I: logm's second divided differences (~1/λ²) underflowed
        # to 0 beyond ‖A‖ ~ 1e154 (overflowed below 1e-154), and its second derivatives
        # came out 0 (NaN) where they are O(1) (outside probe). s = 2^k is exact and
        # constant, 1 where the norm is in the middle half of the range (where 1/λ² is in
        # range; `_unit_scale(a, 0)` would choose nearly the same window, at twice the
        # compiled program's size).
        s = scale_outside_middle(a)
        k = floor_log2(s).astype(s.dtype)
        shift = (k * float(np.log(2.0))) * jnp.eye(a.shape[-1], dtype=s.dtype)
        return nan_where(bad, _funm(f, a / s.astype(a.dtype), params) + shift.astype(a.dtype), 2)
    degree = getattr(f, "degree", None)
    if degree is not None:
        a, k = _unit_scale(a, degree)
        s = two_to(k, a.real.dtype)
        factor = jnp.sqrt(s) if degree > 0 else 1 / jnp.sqrt(s)  # (exact: ±½ only)
        return nan_where(bad, _funm(f, a, params) * factor.astype(a.dtype), 2)
    if getattr(f, "scale_invariant", False):
        # f(cA) = f(A) for c > 0 (the projector's step function): A is taken at unit
        # scale, exactly (a power of two). The derivatives then stay in range: the second
        # divided differences are ~1/gap², which underflowed to 0 (overflowed) beyond
        # entries of about 1e±154, and the second derivative came out 0 (NaN) where it
        # is O(1) (found by an outside probe; 1e±19 in float32).
        a = a / power_of_two_scale(a, axis=(-2, -1), keepdims=True).astype(a.dtype)
    return nan_where(bad, _funm(f, a, params), 2)


# The compiled core of the named matrix functions (expm, logm, sqrtm, inv_sqrtm and
# projector): the scalar function `f` (a module-level function, or the hashable step
# function of `projector`) and the function's name are static, so each public function
# has its own cached executables, as `funm` does for a user's `f`.
@functools.partial(jax.jit, static_argnames=("f", "fn", "hermitian_rtol"))
def _named_compiled(a, f, fn, hermitian_rtol):
    return _apply(a, f, (), fn, hermitian_rtol)


def _named(a, f, fn, hermitian_rtol):
    return _named_compiled(host_array(a), f, fn, check_hermitian_rtol(hermitian_rtol, fn))


@readable_errors
def expm(a: ArrayLike, *, hermitian_rtol: float | None = None) -> Inexact[Array, "*batch n n"]:
    """Matrix exponential of a Hermitian matrix, with exact derivatives at repeated eigenvalues.

    `V exp(Λ) Vᴴ`; the derivative is the Daleckii–Krein formula with divided differences
    of `exp` (see [`jaxgrad.linalg.funm`][]), exact to second order at ties.

    Arguments:
        a: Hermitian matrices, shape `(*batch, n, n)`; `(a + aᴴ)/2` is used.
        hermitian_rtol: see [`jaxgrad.linalg.funm`][].

    Returns:
        `exp(a)`, shape `(*batch, n, n)`.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square.
        equinox.EquinoxRuntimeError: `a` is not Hermitian, at run time (see `funm`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import expm
        >>> j = jnp.ones((3, 3))
        >>> tr = lambda x: jnp.trace(expm(jnp.eye(3) + x * j))
        >>> float(jax.grad(jax.grad(tr))(0.0) / jnp.e)  # d²/dx² tr exp(I + xJ) = 9e
        9.0
    """
    return _named(a, _exp, "jaxgrad.linalg.expm", hermitian_rtol)


@readable_errors
def logm(a: ArrayLike, *, hermitian_rtol: float | None = None) -> Inexact[Array, "*batch n n"]:
    """Principal logarithm of a Hermitian positive definite matrix, tie-exact derivatives.

    Arguments:
        a: Hermitian positive definite matrices, shape `(*batch, n, n)`.
        hermitian_rtol: see [`jaxgrad.linalg.funm`][].

    Returns:
        `log(a)`, shape `(*batch, n, n)`; NaN for a matrix with an eigenvalue <= 0.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square.
        equinox.EquinoxRuntimeError: `a` is not Hermitian, at run time (see `funm`).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.linalg import logm
        >>> logm(jnp.diag(jnp.array([1.0, jnp.e])))
        Array([[0., 0.],
               [0., 1.]], dtype=float32)
    """
    return _named(a, _log, "jaxgrad.linalg.logm", hermitian_rtol)


@readable_errors
def sqrtm(a: ArrayLike, *, hermitian_rtol: float | None = None) -> Inexact[Array, "*batch n n"]:
    """Principal square root of a Hermitian positive semidefinite matrix, tie-exact derivatives.

    Arguments:
        a: Hermitian positive semidefinite matrices, shape `(*batch, n, n)`.
        hermitian_rtol: see [`jaxgrad.linalg.funm`][].

    Returns:
        The positive semidefinite square root, shape `(*batch, n, n)`; NaN for a matrix
        with an eigenvalue below `-10·n·eps·max|λ|`. Derivatives are finite only for
        positive definite `a`.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square.
        equinox.EquinoxRuntimeError: `a` is not Hermitian, at run time (see `funm`).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.linalg import sqrtm
        >>> r = sqrtm(jnp.array([[5.0, 4.0], [4.0, 5.0]]))
        >>> bool(jnp.allclose(r, jnp.array([[2.0, 1.0], [1.0, 2.0]])))
        True
    """
    return _named(a, _sqrt, "jaxgrad.linalg.sqrtm", hermitian_rtol)


@readable_errors
def inv_sqrtm(a: ArrayLike, *, hermitian_rtol: float | None = None) -> Inexact[Array, "*batch n n"]:
    """Inverse square root `A^(-1/2)` of a Hermitian positive definite matrix.

    Arguments:
        a: Hermitian positive definite matrices, shape `(*batch, n, n)`.
        hermitian_rtol: see [`jaxgrad.linalg.funm`][].

    Returns:
        `a^(-1/2)`, shape `(*batch, n, n)`; NaN for a matrix with an eigenvalue <= 0.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square.
        equinox.EquinoxRuntimeError: `a` is not Hermitian, at run time (see `funm`).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.linalg import inv_sqrtm
        >>> inv_sqrtm(jnp.diag(jnp.array([4.0, 16.0])))
        Array([[0.5 , 0.  ],
               [0.  , 0.25]], dtype=float32)
    """
    return _named(a, _inv_sqrt, "jaxgrad.linalg.inv_sqrtm", hermitian_rtol)


@readable_errors
def powm(
    a: ArrayLike, p: ArrayLike, *, hermitian_rtol: float | None = None
) -> Inexact[Array, "*batch n n"]:
    """Real power `A^p = V Λ^p Vᴴ` of a Hermitian positive semidefinite matrix.

    Differentiable in `a` (exact at ties, to second order) and in the exponent `p`:
    `∂A^p/∂p = V (Λ^p log Λ) Vᴴ`, mixed derivatives included.

    Arguments:
        a: Hermitian positive semidefinite matrices, shape `(*batch, n, n)`. For integer
            powers of indefinite matrices use matrix products instead.
        p: the exponent, a real scalar (may be traced).
        hermitian_rtol: see [`jaxgrad.linalg.funm`][].

    Returns:
        `a^p`, shape `(*batch, n, n)`; NaN for a matrix with an eigenvalue below
        `-10·n·eps·max|λ|`, inf/NaN for singular `a` with `p < 0`.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square, or `p` is not a
            scalar.
        TypeError: `p` is complex.
        equinox.EquinoxRuntimeError: `a` is not Hermitian, at run time (see `funm`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import powm
        >>> a = jnp.diag(jnp.array([1.0, 4.0]))
        >>> powm(a, 0.5)
        Array([[1., 0.],
               [0., 2.]], dtype=float32)
        >>> float(jax.grad(lambda p: jnp.trace(powm(a, p)))(1.0))  # 4·log 4
        5.545177459716797
    """
    fn = "jaxgrad.linalg.powm"
    differentiable = isinstance(p, jax.core.Tracer)
    return _powm_compiled(host_array(a), host_array(p), check_hermitian_rtol(hermitian_rtol, fn), differentiable)


# The compiled core of `powm`; the exponent is an ordinary (traced, differentiable)
# argument. `differentiable` (static): whether the caller's exponent is traced, so that
# derivatives in p may be asked for. Only then does the scalar function need each
# matrix's own scale exponent k (for ln λ, `_power`), and a batch goes through `vmap`;
# with a concrete exponent k = 0 is passed and the scale multiplies as for √ (the
# derivatives in A are the same either way; `hessian` in A compiled ~20 % slower
# through the `vmap` and the exponent rule's logarithm; review).
@functools.partial(jax.jit, static_argnames=("hermitian_rtol", "differentiable"))
def _powm_compiled(a, p, hermitian_rtol, differentiable):
    fn = "jaxgrad.linalg.powm"
    a, bad = hermitian_input(a, fn, hermitian_rtol)
    p = real_scalar(p, jnp.finfo(a.dtype).dtype, fn, "p")

    def scaled(a):  # A^p = s^p (A/s)^p, s^p constant in p (see `_unit_scale`, `_power`)
        a, k = _unit_scale(a, p)
        inner_k = k.reshape(()) if differentiable else jnp.zeros((), jnp.int32)  # (one matrix, if needed)
        return _funm(_pow, a, (p, inner_k)) * jnp.power(two_to(k, p.dtype), lax.stop_gradient(p)).astype(a.dtype)

    batch = a.shape[:-2]
    if not (differentiable and batch):
        return nan_where(bad, scaled(a), 2)
    out = jax.vmap(scaled)(a.reshape((int(np.prod(batch)),) + a.shape[-2:]))
    return nan_where(bad, out.reshape(a.shape), 2)


# --------------------------------------------------------------------------------------
# Trace functions: tr f(A) = Σᵢ f(λᵢ). Its gradient is f′(A) (Daleckii–Krein with Γ's
# diagonal only: d tr f(A) = tr(f′(A) dA)), so the first-order rule costs one matrix
# function and no divided differences; second order goes through funm's rule for f′,
# exact at ties.


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _trace_function(f, a, params):
    w, _ = _spectrum(f, a)
    return jnp.sum(f(w, *params), axis=-1)


@functools.partial(_trace_function.defjvp, symbolic_zeros=True)
def _trace_function_jvp(f, primals, tangents):
    a, params = primals
    da, dparams = tangents
    out = _trace_function(f, a, params)
    dout = jnp.zeros_like(out)
    if not _is_zero(da):
        df = _d1(f)
        if hasattr(f, "prepare_eigenvalues"):
            df.prepare_eigenvalues = f.prepare_eigenvalues
        grad = _funm(df, a, params)
        dout = dout + jnp.real(jnp.sum(jnp.swapaxes(grad, -1, -2) * da, axis=(-2, -1)))
    for h, k, m in _param_partials(f, params, dparams):
        dout = dout + (_trace_function(h, a, params) * jnp.ravel(dparams[k])[m]).astype(dout.dtype)
    return out, dout


@readable_errors
def trace_function(
    a: ArrayLike,
    f: Callable[[Array], Array],
    *,
    hermitian_rtol: float | None = None,
) -> Float[Array, " *batch"]:
    """`tr f(A) = Σᵢ f(λᵢ)` for Hermitian `A`, with gradient `f′(A)`, exact at ties.

    Cheaper than `jnp.trace(funm(a, f))`: the first derivative is the single matrix
    function `f′(A)`; second derivatives are exact at ties as for `funm`.

    Arguments:
        a: Hermitian matrices, shape `(*batch, n, n)`; `(a + aᴴ)/2` is used.
        f: a real scalar function, applied elementwise to the eigenvalues; it may close
            over traced values (see [`jaxgrad.linalg.funm`][]).
        hermitian_rtol: see [`jaxgrad.linalg.funm`][].

    Returns:
        `tr f(a)`, shape `(*batch,)`, real.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square, or `f` is not
            scalar-to-scalar.
        TypeError: `f` returns complex values.
        equinox.EquinoxRuntimeError: `a` is not Hermitian, at run time (see `funm`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import trace_function
        >>> jax.grad(trace_function)(jnp.eye(2), jnp.exp)  # = exp(I)
        Array([[2.7182817, 0.       ],
               [0.       , 2.7182817]], dtype=float32)
    """
    fn = "jaxgrad.linalg.trace_function"
    a = host_array(a)
    dtype = matrix_dtype(a, fn)
    rtol = check_hermitian_rtol(hermitian_rtol, fn)
    traced, consts = elementwise(f, dtype, fn)
    return _trace_function_compiled(a, consts, traced, rtol)


# The compiled core of `trace_function` (see `_funm._funm_compiled`).
@functools.partial(jax.jit, static_argnames=("traced", "hermitian_rtol"))
def _trace_function_compiled(a, consts, traced, hermitian_rtol):
    a, bad = hermitian_input(a, "jaxgrad.linalg.trace_function", hermitian_rtol)
    g = elementwise_function(traced, a.dtype)
    return nan_where(bad, _trace_function(g, a, consts), 0)


# --------------------------------------------------------------------------------------
# Spectral projector onto the k lowest eigenvectors, P = V₁ V₁ᴴ: the matrix function of
# the step s = 1 on {λ₁..λₖ}, 0 on {λₖ₊₁..λₙ}. Its divided differences (Daleckii–Krein as
# above, Kato's perturbation theory of spectral projectors) are
#   Γᵢⱼ = (sᵢ − sⱼ)/(λᵢ − λⱼ)   (nonzero only across the gap),
#   Γ²[i,j,k] = s[λᵢ, λₖ, λⱼ], formed by dividing only by cross-gap differences:
#     sᵢ ≠ sⱼ: (Γᵢₖ − Γₖⱼ)/(λᵢ − λⱼ);  sᵢ = sⱼ ≠ sₖ: −Γⱼₖ/(λᵢ − λₖ);  else 0.
# Every denominator is at least λₖ₊₁ − λₖ; when that gap closes (<= sqrt(eps)·max|λ|)
# P is not differentiable and every derivative is NaN.


class _LowestK:
    """The step function of the projector, in divided-difference form (hashable, static)."""

    scale_invariant = True  # the projector of cA is that of A (see `_apply`)

    def __init__(self, k: int):
        self.k = k

    def __eq__(self, other):
        return isinstance(other, _LowestK) and other.k == self.k

    def __hash__(self):
        return hash((_LowestK, self.k))

    def _steps(self, w):
        return (jnp.arange(w.shape[-1]) < self.k).astype(w.dtype)

    def __call__(self, w):
        return jnp.broadcast_to(self._steps(w), w.shape)

    def _undefined(self, w):
        n = w.shape[-1]
        if self.k in (0, n):
            return jnp.zeros(w.shape[:-1], dtype=bool)
        gap = w[..., self.k] - w[..., self.k - 1]
        return gap <= tie_tolerance(w, default_tie_rtol(w.dtype))[..., 0, 0]

    def first_divided_differences(self, w):
        s = self._steps(w)
        cross = s[:, None] != s[None, :]
        diff = w[..., :, None] - w[..., None, :]
        safe = where(cross, diff, jnp.ones_like(diff))
        gamma = where(cross, (s[:, None] - s[None, :]) / safe, 0)
        return nan_where(self._undefined(w), gamma, 2)

    def second_divided_differences(self, w):
        s = self._steps(w)
        g1 = self.first_divided_differences(w)
        si, sj, sk = s[:, None, None], s[None, :, None], s[None, None, :]
        wi, wj, wk = w[..., :, None, None], w[..., None, :, None], w[..., None, None, :]
        g_ik, g_kj = g1[..., :, None, :], jnp.swapaxes(g1, -1, -2)[..., None, :, :]
        d_ij = where(si != sj, wi - wj, 1)
        d_ik = where(si != sk, wi - wk, 1)
        across_ij = (g_ik - g_kj) / d_ij
        across_ik = -g_kj / d_ik  # Γⱼₖ = Γₖⱼ
        return where(si != sj, across_ij, where(si != sk, across_ik, 0))


@readable_errors
def projector(
    a: ArrayLike, k: int, *, hermitian_rtol: float | None = None
) -> Inexact[Array, "*batch n n"]:
    """Orthogonal projector onto the eigenvectors of the `k` smallest eigenvalues.

    `P = V₁ V₁ᴴ` does not depend on the basis chosen inside tied clusters below or above
    the split, so its derivatives (first and second order) are exact there; they are
    NaN when the split itself is tied (`λₖ₊₁ − λₖ <= sqrt(eps)·max|λ|`, 1-based), where
    `P` is not differentiable (its value then depends on the computed eigenvectors).

    Arguments:
        a: Hermitian matrices, shape `(*batch, n, n)`; `(a + aᴴ)/2` is used.
        k: number of eigenvalues, `0 <= k <= n` (static).
        hermitian_rtol: see [`jaxgrad.linalg.funm`][].

    Returns:
        The projector, shape `(*batch, n, n)`.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square, or `k` is not an
            integer in `[0, n]`.
        equinox.EquinoxRuntimeError: `a` is not Hermitian, at run time (see `funm`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import projector
        >>> a = jnp.diag(jnp.array([1.0, 1.0, 3.0]))  # tie inside the subspace: fine
        >>> g = jax.grad(lambda a: projector(a, 2)[0, 2])(a)
        >>> g[0, 2], g[2, 0]  # ∂P₀₂/∂a₀₂ = 1/(λ₁ − λ₃) (halved: a is symmetrized)
        (Array(-0.25, dtype=float32), Array(-0.25, dtype=float32))
    """
    fn = "jaxgrad.linalg.projector"
    a = host_array(a)
    matrix_dtype(a, fn)  # the checks of `a` come first
    n = np.shape(a)[-1]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"{fn}: argument `k` must be an integer in [0, {n}]; got {k!r}.")
    return _named(a, _LowestK(int(k)), fn, hermitian_rtol)
