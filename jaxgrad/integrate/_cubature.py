"""Adaptive cubature over a box whose derivatives are integrals with their own error control."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Float

from .._buckets import in_buckets
from .._errors import readable_errors
from .._jit import batched_eagerly, differentiated_eagerly, jit_core
from .._nan import mul_zero_safe, nan_if, replace_invalid
from .._options import as_flag
from .._throw import raise_if
from .._where import where
from ..linalg._checks import host_array
from .._traced import trace
from . import _eager_loop
from ._adaptive import Tolerances, options_with_exact
from ._beside import float_beside
from ._cubature_batch import pooled_cubature
from ._quad import (
    _check_limit, _check_tolerance, _eager_tolerances, as_dtype, check_nonempty, fvec_out_size, widened,
    integral_and_parameter_tangent, ordered, quad, real_dtype,
)
from ._status import CONVERGED, NAN_LIMITS, QuadInfo, status_from_code

_DEFAULT_LIMIT = 10_000


def _boxes_per_pass(limit):
    """How many boxes a pass may halve: a pass costs a few scans of the whole pool
    (ranking, sums), so a large pool is refined in proportionally larger steps
    (never more than the tolerance needs: see `_cubature_adaptive`)."""
    return min(max(16, limit // 500), 256)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 4))
def _cubature(fvec, a, b, args, options):
    """∫ over the box with corners a, b (shape (d,), finite), oriented: a coordinate with
    b < a contributes a factor −1, as ∫_a^b does in one dimension."""
    flip, lo, hi = ordered(a, b)
    sign = jnp.prod(where(flip, -1.0, 1.0)).astype(a.dtype)
    out_size = fvec_out_size(fvec, lo, args)
    solve = pooled_cubature(fvec, dict(options, out_size=out_size))
    value, err, neval, code = solve(lo, hi, args)
    return sign * value, err, neval, code


def trace_at_a_point(fn, f, d, dtype, args):
    """`trace(f, x0, *args)` (`jaxgrad._traced`) with x0 one point of `d` coordinates of
    `dtype`, for `cubature` and `qmc_quad` (named `fn` in the error). A failure names the
    call and x's shape: x is one point, not a batch of points as scipy.integrate.cubature
    passes, and an integrand written for that, `x[:, 0]`, failed with JAX's bare
    IndexError (outside probe). Re-raised as a plain TypeError or IndexError: JAX's own
    subclasses of them take other arguments (a review)."""
    x0 = jax.ShapeDtypeStruct((d,), dtype)
    try:
        return trace(f, x0, *args)
    except (TypeError, IndexError) as e:
        kind = IndexError if isinstance(e, IndexError) else TypeError
        raise kind(f"{fn}: calling f(x, *args) with x of shape {x0.shape} (one point, not a batch of points) "
                   f"failed: {e}") from e


def _inside(x, toward):
    """The float next to x in the direction of `toward`, differentiable as x itself: f on
    a face is taken just inside the box, as `quad` takes f at a limit (so a jump on the
    face counts from the inside); beside 0 the smallest normal float (`float_beside`).
    Unlike `quad`, no extrapolation to the face: where f blows up there (x₀^(-1/2) on
    x₀ = 0) the derivative is f at that float, large but finite (−6.7e153), not −inf."""
    return float_beside(x, toward)


@functools.lru_cache(maxsize=256)
def _face_integrand(fvec, d, sides):
    """u, (args, a, b) -> the integrands of the faces xᵢ = bᵢ (and xᵢ = aᵢ) over the unit
    cube of the other d − 1 coordinates, mapped affinely onto the face and multiplied by
    the (signed) volume of the face, stacked: [face b₀, face a₀, face b₁, ...].

    Non-finite values are passed as two indicator blocks after the finite part (the sign
    of an inf, a flag for NaN) and zero in the finite part: one face on which f is
    infinite (x₀^(-1/2) on x₀ = 0) then gives that face ±inf or NaN (see `_faces`)
    without stopping the loop that integrates all the other faces."""

    def g(u, all_args):
        args, a, b = all_args
        out = []
        for i in range(d):
            others = np.array([j for j in range(d) if j != i])
            lo, hi = a[others], b[others]
            x_other = lo + (hi - lo) * u
            jac = jnp.prod(hi - lo)
            for side in sides:
                at, other = (b[i], a[i]) if side == "b" else (a[i], b[i])
                x = jnp.insert(x_other, i, _inside(at, other))
                out.append(jac * fvec(x, args))
        y = jnp.concatenate(out)
        finite = jnp.isfinite(y)
        return jnp.concatenate([
            where(finite, y, 0.0), where(jnp.isinf(y), jnp.sign(y), 0.0), where(jnp.isnan(y), 1.0, 0.0)
        ])

    return g


def _faces(fvec, a, b, args, options, sides):
    """The face integrals `(faces (d, len(sides), k), neval, code)` of `_cubature_jvp`."""
    d = a.shape[0]
    options = tuple((name, v) for name, v in options if name != "exact")  # not the user's components
    if d == 1:
        faces = jnp.concatenate([
            fvec(_inside(b, a), args) if s == "b" else fvec(_inside(a, b), args) for s in sides
        ])
        return faces.reshape(1, len(sides), -1), 0, 0
    unit = jnp.zeros(d - 1, a.dtype)
    out, _, neval, code = _cubature(_face_integrand(fvec, d, sides), unit, unit + 1, (args, a, b), options)
    clean, infinite, undefined = jnp.split(out, 3)
    faces = where(undefined != 0, jnp.nan, where(infinite != 0, jnp.sign(infinite) * jnp.inf, clean))
    return faces.reshape(d, len(sides), -1), neval, code


# Derivative of I(θ, a, b) = ∫_{a₁}^{b₁} … ∫_{a_d}^{b_d} f(x, θ) dx (differentiation under
# the integral sign, and the Leibniz rule in each coordinate):
#   dI = ⟨G, dθ⟩ + Σᵢ (Fᵢ(bᵢ) dbᵢ − Fᵢ(aᵢ) daᵢ),   G = ∫ ∂f/∂θ dx,
#   Fᵢ(c) = ∫ over the other d − 1 coordinates of f with xᵢ = c (the face xᵢ = c).
# G comes from the same adaptive cubature applied to the vector integrand [f, ∂f/∂θ]
# (as in `quad`), so its error is controlled componentwise and the subdivision never
# depends on the tangent. All 2d faces are one (d − 1)-dimensional cubature over the unit
# cube of a stacked integrand (each face mapped affinely onto it), with a and b passed as
# parameters: its derivatives in a and b (second derivatives of I) are then taken under
# the integral sign through that affine map, which is exact when f is continuous along
# the directions of the faces (a jump of f that crosses a face gives exact first but not
# exact second derivatives in the limits). In one dimension the faces are the points
# f(a) and f(b).
@functools.partial(_cubature.defjvp, symbolic_zeros=True)
def _cubature_jvp(fvec, options, primals, tangents):
    a, b, args = primals
    ta, tb, dargs = tangents
    k = fvec_out_size(fvec, a, args)
    value, err, neval, code, dvalue = integral_and_parameter_tangent(
        lambda g: _cubature(g, a, b, args, options_with_exact(options, k)), fvec, args, dargs, k
    )
    sides = [s for s, t in (("b", tb), ("a", ta)) if not isinstance(t, SymbolicZero)]
    if sides:
        faces, fneval, fcode = _faces(fvec, a, b, args, options, tuple(sides))
        neval = neval + fneval
        # The derivative's status: the value's, unless the faces' loop did not converge.
        code = where(code == CONVERGED, fcode, code)
        for j, s in enumerate(sides):
            sign, t = (1.0, tb) if s == "b" else (-1.0, ta)
            # 0·∞ = 0: a zero tangent (the other arguments' columns of `jacfwd`) adds
            # nothing where a face's integral is infinite (e^(−p x₁)(x₀²)^(−¼) at a = 0,
            # x₀² underflowing beside the face: d/dp and d/da₁ were NaN, `converged`; a
            # review).
            dvalue = dvalue + sign * jnp.sum(mul_zero_safe(faces[:, j], t.astype(faces.dtype)[:, None]), axis=0)
    zero_int = lambda x: np.zeros(np.shape(x), jax.dtypes.float0)  # noqa: E731
    return (value, err, neval, code), (dvalue, jnp.zeros_like(err), zero_int(neval), zero_int(code))


# Infinite limits: every coordinate with an infinite limit is integrated in t ∈ (−1, 1)
# with x = o + t/(1 − t²) (dx/dt = (1 + t²)/(1 − t²)²), which maps (−1, 1) onto the real
# line and a finite limit c onto t = τ(c − o), τ(y) = 2y/(1 + √(1 + 4y²)). The anchor o
# is the point of the range nearest 0 (0 if the range holds it, else its finite limit:
# [c, ∞) with c > 0 becomes t ∈ [0, 1)) and carries no derivative. The finite limits of
# the t-box are then limits like any other, and the Leibniz terms in t are the Leibniz
# terms in x: F(t_c)·dt_c = f(c)·(dx/dt)·dt_c = f(c)·dc. (Anchored at 0 always,
# [1000, ∞) became t ∈ [0.9995, 1), whose first node lies at x ≈ 1026: a density
# e^(−100(x − 1000)) gave 0, `converged`, and the face of the limit, at x(t(c)), was
# 2c²·ulp off it: d/dc 4.8 % wrong at c = 1e7. Anchored at the finite limit always,
# (−∞, 1e200] lost a Gaussian at the origin.)
def to_t(x):
    """t = 2x/(1 + √(1 + 4x²)) (±1 at ±inf): the inverse of x = t/(1 − t²), without overflow."""
    safe = where(jnp.isinf(x), 0.0, x)
    # √(1 + 4x²) written out, not `jnp.hypot(1, 2x)`: JAX's hypot orders its arguments
    # with max/min, and its second derivative is 0 at the tie |2x| = 1, which made the
    # second derivative in the finite limit of [c, ∞) wrong at c = −0.5 (−0.456 for
    # −0.779; outside probe). Above |2x| = 1 it is factored so that 4x² cannot overflow.
    y = 2 * safe
    big = jnp.abs(y) > 1
    inv = 1 / where(big, y, 1.0)
    root = where(big, jnp.abs(y) * jnp.sqrt(1 + inv * inv), jnp.sqrt(1 + where(big, 0.0, y) ** 2))
    return where(jnp.isinf(x), jnp.sign(x), y / (1 + root))


def _from_t(t):
    s = 1 - t * t
    return t / s, (1 + t * t) / (s * s)


def box_in_t(a, b):
    """`(undefined, mapped, anchor, ta, tb)` for box limits a, b: whether a limit is NaN
    (the box is then replaced by the unit box, and the caller returns NaN), which
    coordinates have an infinite limit, their anchors o (the point of the range nearest 0;
    no derivative; 0 for the other coordinates), and
    the finite limits of the box in t (`to_t` of the limit minus o on those)."""
    dtype = jnp.result_type(float, a, b)
    a, b = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
    undefined = jnp.any(jnp.isnan(a) | jnp.isnan(b))
    a, b = replace_invalid(a, undefined, 0.0), replace_invalid(b, undefined, 1.0)
    mapped = jnp.isinf(a) | jnp.isinf(b)
    # (Taken on the ordered range: a > b is the same range, oriented the other way.)
    lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
    nearest_zero = where(jnp.isfinite(lo), jnp.maximum(lo, 0.0), where(jnp.isfinite(hi), jnp.minimum(hi, 0.0), 0.0))
    anchor = where(mapped, nearest_zero, 0.0)
    finite_a, finite_b = jnp.isfinite(a), jnp.isfinite(b)
    anchor = jax.lax.stop_gradient(anchor)
    ta = where(mapped, to_t(where(finite_a, a - anchor, a)), a)
    tb = where(mapped, to_t(where(finite_b, b - anchor, b)), b)
    return undefined, mapped, anchor, ta, tb


def from_t(t, mapped, anchor):
    """x and the Jacobian dx/dt per coordinate of the map of `box_in_t` (t inside (−1, 1)
    where mapped; identity elsewhere)."""
    xt, jac = _from_t(where(mapped & (jnp.abs(t) < 1), t, 0.0))
    return where(mapped, anchor + xt, t), where(mapped, jac, 1.0)


@functools.lru_cache(maxsize=256)
def _mapped_integrand(integrand, val_dtype):
    """f in the variables t of `box_in_t`, times the map's Jacobian, as a real vector;
    its args are `(args, consts, mapped, anchor, tolerances)`. One function per
    integrand, so that an eager call's compiled evaluation is found again (`_eager_loop`)."""

    def fvec(t, all_args):
        fargs, fconsts, mapped, anchor, _ = all_args  # (the last: the tolerances)
        # t = ±1 is a point at infinity: only a face there (a Leibniz term of an infinite
        # limit, whose tangent is zero) evaluates it, and it contributes 0, not inf·0.
        at_inf = jnp.any(mapped & (jnp.abs(t) >= 1))
        x, jac = from_t(t, mapped, anchor)
        y = jnp.ravel(integrand(fconsts, x, *fargs)).astype(val_dtype)
        y = y * jnp.prod(jac).astype(val_dtype)
        return where(at_inf, 0.0, y)

    return fvec


@jit_core(static_argnums=(0, 1, 2, 3))
def _cubature_compiled(integrand, options, val_dtype, throw, a, b, args, consts, epsabs, epsrel):
    undefined, mapped, anchor, ta, tb = box_in_t(a, b)
    tols = Tolerances.of(epsabs, epsrel, val_dtype)
    fvec = _mapped_integrand(integrand, val_dtype)
    value, err, neval, code = _cubature(fvec, ta, tb, (args, consts, mapped, anchor, tols), options)
    return _report(integrand.out_shape.shape, throw, value, err, neval, code, undefined)


def _report(shape, throw, value, err, neval, code, undefined):
    """`cubature`'s result from its loop's: NaN where a limit was, the status (raised with
    `throw`)."""
    value, err = nan_if(value, undefined), where(undefined, jnp.nan, err)
    code = where(undefined, NAN_LIMITS, code)
    status = status_from_code(code)
    if throw:
        value = raise_if(value, status, code != 0, "jaxgrad.integrate.cubature")
    return value.reshape(shape), QuadInfo(err=err.reshape(shape), neval=neval, status=status)


# From eager code, the value: the loop run pass by pass (`_eager_loop`), so that a new
# integrand compiles only its evaluation at the boxes' nodes; the box's map and the
# report are programs of their own, compiled once.
@jit_core
def _eager_box(a, b):
    undefined, mapped, anchor, ta, tb = box_in_t(a, b)
    flip = tb < ta  # (oriented as `_cubature` orients it)
    lo, hi = where(flip, tb, ta), where(flip, ta, tb)
    sign = jnp.prod(where(flip, -1.0, 1.0)).astype(ta.dtype)
    return undefined, mapped, anchor, lo, hi, sign


@jit_core(static_argnums=(0, 1))
def _eager_report(shape, throw, sign, value, err, neval, code, undefined):
    return _report(shape, throw, sign * value, err, neval, code, undefined)


_eager_map = jit_core(box_in_t)


def _cubature_eager(integrand, options, val_dtype, throw, a, b, args, consts, epsabs, epsrel):
    shape = integrand.out_shape.shape
    fvec = _mapped_integrand(integrand, val_dtype)
    if not _eager_loop.usable(a, b, args, consts, epsabs, epsrel):
        # Differentiated from eager code: the derivative rule's loops get concrete inputs
        # and run pass by pass (`_cubature_batch.pooled_cubature`), their integrands made
        # once per integrand (`_quad._joint_integrand`, `_face_integrand`).
        undefined, mapped, anchor, ta, tb = _eager_map(a, b)
        tols = Tolerances.of(epsabs, epsrel, val_dtype)
        value, err, neval, code = _cubature(fvec, ta, tb, (args, consts, mapped, anchor, tols), options)
        return _eager_report(shape, throw, 1.0, value, err, neval, code, undefined)  # (oriented by `_cubature`)
    undefined, mapped, anchor, lo, hi, sign = _eager_box(a, b)
    all_args = (args, consts, mapped, anchor, _eager_tolerances(epsabs, epsrel, val_dtype))
    value, err, neval, code = _eager_loop.eager_adaptive_cubature(
        fvec, lo, hi, all_args, val_dtype=val_dtype, out_size=math.prod(shape),
        **dict(options))
    return _eager_report(shape, throw, sign, value, err, neval, code, undefined)


def _on_the_line(f, x, *args):
    """`f` of a one-dimensional box, called by `quad` with a scalar `x`."""
    return f(jnp.reshape(x, (1,)), *args)


def box_limits(fn, a, b):
    """Box limits `a`, `b` (1-D, same length; lists and tuples as arrays, as scipy takes
    them) and their floating dtype; raises otherwise."""
    a, b = host_array(a), host_array(b)
    for name, x in (("a", a), ("b", b)):
        if np.ndim(x) != 1:
            raise ValueError(
                f"{fn}: `{name}` must be a 1-D array of lower/upper limits, one per coordinate; "
                f"got shape {np.shape(x)}. Use jax.vmap to integrate over several boxes."
            )
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{fn}: `a` and `b` must have the same shape; got {np.shape(a)} and {np.shape(b)}.")
    if np.shape(a)[0] < 1:
        raise ValueError(f"{fn}: the box needs at least one coordinate; got `a` of shape {np.shape(a)}.")
    dtype = real_dtype(fn, "`a` and `b`", a, b)
    return as_dtype(a, dtype), as_dtype(b, dtype), dtype


@readable_errors
def cubature(
    f: Callable[..., ArrayLike],
    a: ArrayLike,
    b: ArrayLike,
    args: tuple[Any, ...] = (),
    *,
    epsabs: float = 0.0,
    epsrel: float = 1.49e-8,
    limit: int = _DEFAULT_LIMIT,
    throw: bool = False,
) -> tuple[Float[Array, "*shape"], QuadInfo]:
    r"""Adaptive integral of $f(x, \text{args})$ over a box $[a_1, b_1] \times \dots \times [a_d, b_d]$,
    with exact, error-controlled derivatives.

    Globally adaptive subdivision: the box with the largest error estimate is halved
    along the axis where $f$ varies most, until the summed error estimate meets the
    tolerance. Boxes are integrated with the Genz–Malik rule (degree 7, with an embedded
    degree-5 rule for the error estimate, $2^d + 2d^2 + 2d + 1$ points) for $d \ge 2$;
    a box of $d = 1$ is integrated by [`quad`][jaxgrad.integrate.quad]. Infinite limits are mapped to a
    finite range by $x = o + t / (1 - t^2)$ per coordinate, $o$ the point of the range
    nearest 0 (unit scale around it: put the mass near it).

    Derivatives with respect to `args`, `a` and `b` (forward, reverse, second order) are
    the derivatives of the *integral*: differentiation under the integral sign, computed
    by the same adaptive method with its own error control, plus the Leibniz terms in
    the limits, $\partial I / \partial b_i = \int f\,$ over the face $x_i = b_i$ (a
    $(d-1)$-dimensional cubature of its own). Second derivatives in the limits are exact
    when $f$ is continuous (see docs/cubature.md for a jump).

    Arguments:
        f: the integrand, `f(x, *args)` with `x` of shape `(d,)`, returning a real scalar
            or array (same shape at every `x`). It is called under `jax.vmap`.
        a: lower limits, shape `(d,)`, finite or `-inf`, static or traced.
        b: upper limits, shape `(d,)`, finite or `inf`. A coordinate with `b < a`
            contributes a factor −1, as in one dimension.
        args: extra arguments of `f` (a tuple of pytrees); derivatives flow through their
            floating-point leaves (complex ones too) and through arrays `f` closes over.
        epsabs: absolute tolerance; 0 by default, as in `scipy.integrate.cubature`
            (a nonzero default would accept a first rule whose nodes all miss a narrow
            peak, since its estimate of a near-zero value is itself near zero).
        epsrel: relative tolerance. The loop stops when, for every component of the
            value, the estimated error is at most `max(epsabs, epsrel * |value|)`. (Under
            a derivative, a derivative component that cancels to zero, one that vanishes
            by symmetry, is judged on a thousandth of its mass ∫|∂f/∂θ| instead.)
            Both tolerances are inputs of the compiled program: a new value reuses it.
        limit: maximum number of boxes the region is divided into (for $d = 1$,
            `quad`'s subintervals).
        throw: if `True`, a status other than `STATUS.converged` raises an error at run
            time (`equinox.error_if`; works under `jax.jit`).

    Returns:
        `(value, info)`: `value` has the shape of `f`'s output; `info` is a
        [`QuadInfo`][jaxgrad.integrate.QuadInfo] with the error estimate `err`, the number
        of evaluations `neval` and the `status`. A NaN limit gives NaN and
        `STATUS.nan_limits`.

    Raises:
        TypeError: `f` is not callable or returns a non-real value; complex limits;
            `throw` is not a bool.
        ValueError: `a`, `b` are not 1-D arrays of the same length, a tolerance is
            negative, or `limit` is not from 1 to 10,000,000 (the pool of boxes is
            allocated up front).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.integrate import cubature
        >>> f = lambda x, p: jnp.exp(-jnp.sum((x - p) ** 2))
        >>> a, b = jnp.array([-1.0, -1.0]), jnp.array([1.0, 1.0])
        >>> value, info = cubature(f, a, b, (0.0,), epsrel=1e-5)  # π erf(1)² = 2.230985
        >>> print(f"{value:.5f}", bool(info.converged))  # (epsrel 1e-5)
        2.23099 True
        >>> grad_b = jax.grad(lambda b: cubature(f, a, b, (0.0,), epsrel=1e-5)[0])
        >>> print(grad_b(b))  # ∫ over the face x_i = 1: e^-1 √π erf(1) = 0.549482
        [0.5494826 0.5494826]
    """
    fn = "jaxgrad.integrate.cubature"
    throw = as_flag(fn, "throw", throw)
    if not callable(f):
        raise TypeError(f"{fn}: `f` must be callable as f(x, *args); got {type(f).__name__}.")
    if not isinstance(args, tuple):
        args = (args,)
    epsabs = _check_tolerance("epsabs", epsabs, fn, traced_ok=True)
    epsrel = _check_tolerance("epsrel", epsrel, fn, traced_ok=True)
    limit = _check_limit(limit, fn)
    a, b, dtype = box_limits(fn, a, b)
    integrand, consts = trace_at_a_point(fn, f, np.shape(a)[0], dtype, args)
    out_dtype = getattr(integrand.out_shape, "dtype", None)
    # (integer values are real too: `quad`, `nquad` and `qmc_quad` took them, this
    # rejected them; outside probe)
    if out_dtype is None or not jnp.issubdtype(out_dtype, jnp.number) or jnp.issubdtype(out_dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: `f` must return a real array or scalar; got {integrand.out_shape!r}.")
    check_nonempty(fn, integrand.out_shape)
    if jnp.dtype(jnp.result_type(dtype, out_dtype)) != jnp.dtype(dtype):
        # f's values are wider than the box's limits (float32 limits, a float64 f): in f's
        # dtype, x too, as `quad` (the boxes' pool in float32 left ∫ e^(x+y) over [0, 1]²
        # 1e-7 off, `roundoff`).
        dtype = jnp.dtype(jnp.result_type(dtype, out_dtype))
        a, b = widened(a, dtype), widened(b, dtype)
        x0 = jax.ShapeDtypeStruct((np.shape(a)[0],), dtype)
        integrand, consts = trace(f, x0, *args)
    if np.shape(a)[0] == 1:
        # One dimension is `quad`'s: its loop has the end models and the extrapolation
        # that the Gauss–Kronrod pair on boxes lacks (∫₀¹ x^α, α from −0.5 to −0.95 at
        # epsrel 1e-8, ended `converged` up to 14 times outside the tolerance; outside probe).
        return quad(functools.partial(_on_the_line, f), a[0], b[0], args, epsabs=epsabs, epsrel=epsrel, limit=limit,
                    throw=throw)
    val_dtype = jnp.result_type(dtype, out_dtype)
    # The tolerances are inputs of the compiled program (see `_adaptive.Tolerances`).
    options = (("limit", limit), ("epsabs", None), ("epsrel", None), ("nsplit", _boxes_per_pass(limit)))
    if _eager_loop.usable(a, b, args, consts, epsabs, epsrel) or differentiated_eagerly():  # (`_cubature_eager`)
        return _cubature_eager(integrand, options, val_dtype, throw, a, b, args, consts, epsabs, epsrel)
    statics = (integrand, options, val_dtype, throw)
    dynamic = (a, b, args, consts, epsabs, epsrel)
    if batched_eagerly():
        # `jax.vmap` from eager code: a few batch sizes compiled (`jaxgrad._buckets`).
        return in_buckets(_cubature_compiled, statics, dynamic, 2, _empty_box)
    return _cubature_compiled(*statics, *dynamic)


def _empty_box(a, b):
    """Limits of a padded lane of an eager `vmap` (`jaxgrad._buckets`): the box of zero
    width at the centre of the last lane's finite box (0, `converged`), where that
    lane's first rule evaluates the integrand too; with an infinite limit, None (a copy
    of the lane)."""
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return None
    m = a / 2 + b / 2  # (b − a overflows for ±1e308)
    return m, m
