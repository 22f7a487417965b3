"""Adaptive quadrature whose derivatives are integrals with their own error control."""

from __future__ import annotations

import collections
import functools
import math
import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Float

from .._errors import readable_errors
from .._buckets import in_buckets
from .._jit import batched_eagerly, differentiated_eagerly, jit_core
from .._nan import mul_zero_safe, nan_if, replace_invalid
from .._options import as_flag, as_real
from .._throw import raise_if
from .._traced import trace
from .._where import where
from . import _eager_loop
from ._adaptive import Tolerances, with_exact
from ._batch import pooled_solver
from ._beside import float_beside
from ._status import CONVERGED, NAN_LIMITS, ROUNDOFF, QuadInfo, status_from_code

_DEFAULT_LIMIT = 200
_NSPLIT = 2


def _split_args(args, dargs):
    """Leaves of `args`, and which of them carry a derivative: inexact leaves whose
    tangent is not a symbolic zero (values `f` closes over and nobody differentiates,
    such as a table of constants, are not integrated as derivative components)."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    dleaves = treedef.flatten_up_to(dargs)
    diff = [
        jnp.issubdtype(jnp.result_type(x), jnp.inexact) and not isinstance(t, SymbolicZero)
        for x, t in zip(leaves, dleaves)
    ]
    return leaves, treedef, diff, dleaves


def _derivative_integrand(fvec, args, diff):
    """x, args -> [f(x, args), ∂f/∂θ(x, args).ravel()] with θ the leaves of args marked by `diff`.

    The Jacobian is taken in reverse mode when f has fewer components than θ (the usual
    scalar integrand with several parameters) and in forward mode otherwise.
    """
    leaves, treedef = jax.tree_util.tree_flatten(args)
    theta = [x for x, d in zip(leaves, diff) if d]
    theta_flat, unravel = _ravel_real(theta)
    n = theta_flat.shape[0]

    def rebuild(leaves_now, flat):
        it = iter(unravel(flat))
        merged = [next(it) if d else x for x, d in zip(leaves_now, diff)]
        return jax.tree_util.tree_unflatten(treedef, merged)

    def joint(x, args_now):
        leaves_now = jax.tree_util.tree_leaves(args_now)
        flat_now = _ravel_real([x for x, d in zip(leaves_now, diff) if d])[0]
        fa = lambda fl: fvec(x, rebuild(leaves_now, fl))  # noqa: E731
        k = jax.eval_shape(fa, flat_now).shape[0]
        if k > n:
            y, lin = jax.linearize(fa, flat_now)
            jac = jax.vmap(lin, out_axes=1)(jnp.eye(n, dtype=flat_now.dtype))
        else:
            y, pull = jax.vjp(fa, flat_now)
            jac = jax.vmap(lambda c: pull(c)[0])(jnp.eye(k, dtype=y.dtype))
        return jnp.concatenate([y, jac.reshape(-1)])

    return joint, theta_flat, n, unravel


_JOINTS: collections.OrderedDict = collections.OrderedDict()


def _joint_integrand(fvec, args, diff):
    """`(joint, n)` of `_derivative_integrand`. With concrete `args` (eager
    differentiation, whose loop runs pass by pass: `_eager_loop`) the same function is
    returned for the same integrand and structure of `args`, so that its compiled
    evaluation is found again at the next call (the joint integrand depends on `args`'
    structure, shapes and dtypes only)."""
    if not _eager_loop.concrete(args):
        joint, _, n, _ = _derivative_integrand(fvec, args, diff)
        return joint, n
    leaves, treedef = jax.tree_util.tree_flatten(args)
    key = (fvec, treedef, tuple(diff), tuple((np.shape(x), jnp.result_type(x)) for x in leaves))
    if key not in _JOINTS:
        _JOINTS[key] = _derivative_integrand(fvec, args, diff)[::2]
        if len(_JOINTS) > 256:
            _JOINTS.popitem(last=False)
    _JOINTS.move_to_end(key)
    return _JOINTS[key]


def integral_and_parameter_tangent(integrate, fvec, args, dargs, k, joint_of=None):
    """`(value, err, neval, code, dvalue)`: ∫f by `integrate(g)` (the caller's integrator
    applied to an integrand g) and the tangent ⟨∫ ∂f/∂θ, dθ⟩ in the differentiated leaves
    θ of `args`, both from one run on the joint integrand [f, ∂f/∂θ] (see `_quad_jvp`).
    `joint_of(fvec, args, diff) -> (joint, n)` builds that integrand (by default
    `_derivative_integrand`); `k` is the number of components of f."""
    _, _, diff, dleaves = _split_args(args, dargs)
    if joint_of is None:
        joint, n = _joint_integrand(fvec, args, diff)
    else:
        joint, n = joint_of(fvec, args, diff)
    if not n:
        value, err, neval, code = integrate(fvec)
        return value, err, neval, code, jnp.zeros_like(value)
    value, err, neval, code = integrate(joint)
    g = value[k:].reshape(k, n)
    return value[:k], err[:k], neval, code, parameter_tangent(g, dleaves, diff)


def _ravel_real(tree):
    """`(flat, unravel)` as `ravel_pytree`, but real: a complex θ enters as its real
    parts followed by its imaginary parts, so the Jacobian of the (real) joint integrand
    has a column for each direction. (Raveled as complex, the Jacobian saw the real
    direction only, and a tangent along 1j came out as zero: the holomorphic gradient
    of ∫₀¹ e^{kx} dx was 0.526 + 0j for 0.526 + 0.438j.)"""
    flat, unravel = ravel_pytree(tree)
    if not jnp.issubdtype(flat.dtype, jnp.complexfloating):
        return flat, unravel
    m = flat.shape[0]
    return jnp.concatenate([jnp.real(flat), jnp.imag(flat)]), lambda v: unravel(v[:m] + 1j * v[m:])


def parameter_tangent(g, dleaves, diff):
    """`g @ dθ`: the Jacobian of the integral in the differentiated leaves (columns as
    `_ravel_real` orders them) applied to their tangents."""
    dtheta = _ravel_real([x for x, d in zip(dleaves, diff) if d])[0]
    return g @ dtheta.astype(g.dtype)


def _instantiate(t, x):
    return jnp.zeros_like(x) if isinstance(t, SymbolicZero) else t


_OUT_SIZES: collections.OrderedDict = collections.OrderedDict()


def fvec_out_size(fvec, x, args):
    """The length of `fvec(x, args)` (see `fvec_out`)."""
    return fvec_out(fvec, x, args).shape[0]


def fvec_out(fvec, x, args):
    """The shape and dtype of `fvec(x, args)`, traced once per integrand and types of the
    inputs (an eager call with a weight traced its integrand for it at every call). Only
    on concrete inputs: an integrand made inside a trace may close over its tracers,
    which the cache would keep alive."""
    if not _eager_loop.concrete(x, args):
        return jax.eval_shape(fvec, x, args)
    leaves, treedef = jax.tree_util.tree_flatten((x, args))
    key = (fvec, treedef, tuple(jax.typeof(leaf) for leaf in leaves))
    if key not in _OUT_SIZES:
        _OUT_SIZES[key] = jax.eval_shape(fvec, x, args)
        if len(_OUT_SIZES) > 256:
            _OUT_SIZES.popitem(last=False)
    _OUT_SIZES.move_to_end(key)
    return _OUT_SIZES[key]


def _one_sided_limit(g, x, direction, room):
    """The one-sided limit of g (a function of one point) at x from inside."""
    # f's one-sided limit at a finite limit x, from inside (`direction`), from f at
    # the 1st, 4th and 16th float beside x. f next to x can be far from its limit: for
    # (1 − x)^0.1 at b = 1, f one float below 1 is 0.025, not 0 (the derivative in b
    # was 0.025 instead of 0; of ∫ₐ² (x − a)^0.05 eˣ in a, 14 % off). Where the three
    # values change by more than rounding (|f₄ − f₁| > 1e-6 |f₁|), in one direction,
    # with ratio r = (f₁₆ − f₄)/(f₄ − f₁):
    # - r > 1 + 1e-3 (a power law d^β, β > 7e-4, towards the end): the limit is
    #   Aitken's f₁ − (f₄ − f₁)/(r − 1) (its correction loses at most 1e3 × the
    #   samples' relative rounding);
    # - r <= 1 + 1e-3 (|f| growing like d^β, β <= 0; a logarithm, also times a smooth
    #   factor, whose r is 1 up to rounding on either side; or d^β with β < 7e-4,
    #   indistinguishable from a logarithm at these distances): the limit is infinite,
    #   so that the derivative in that limit is ±inf (or NaN where a non-integrable
    #   ∂f/∂θ meets it), not a finite number set by the float spacing (∫₀^q (q − x)^-½
    #   dx gave 9.5e7 for the derivative 1 in q; with the blow-up test at r <= 1 and
    #   Aitken above 4^0.05, the derivative in b of ∫₁^b log(3 − x) cos x at b = 3 was
    #   f₁ = 35.0 instead of +inf, reported converged).
    # Otherwise (f smooth at these distances) the limit is f's straight line through
    # f₁ and f₄ taken back to x: f₁ alone is off by f′ times the float spacing, a
    # relative 8.7e-11 for cos at b = 1e6 (outside review). A jump of f exactly at x
    # is not seen from inside: the limit stays one-sided.
    # `room`: the range is wider than 16 floats.
    beside = jnp.stack([float_beside(x, direction, m) for m in (1, 4, 16)])
    g1, g4, g16 = jax.vmap(g)(beside)
    d1, d2 = g4 - g1, g16 - g4
    moving = room & (jnp.abs(d1) > 1e-6 * jnp.abs(g1)) & (d1 * d2 > 0)
    r = d2 / where(moving, d1, 1.0)
    zero_like = moving & (r > 1 + 1e-3)
    blow_up = moving & ~zero_like
    limit = g1 - d1 / where(zero_like, r - 1, 1.0)
    # The line only where the three values lie on one (f₁₆ − f₄ ≈ 4 (f₄ − f₁)): a jump
    # between the 1st and 4th float inside (a limit that rounding puts just past a step
    # of f) drew a line to a value f never takes (d/db ∫₀ᵇ ⌊x⌋ at b = 3 + 1 ulp: 3.33;
    # outside review).
    offsets = jax.lax.stop_gradient(beside) - jax.lax.stop_gradient(x)  # exact: the floats are close
    back = d1 * (offsets[0] / (offsets[1] - offsets[0]))
    eps = jnp.finfo(jnp.result_type(g1)).eps
    linear = jnp.abs(d2 - 4 * d1) <= 0.5 * jnp.abs(d1) + 64 * eps * jnp.abs(g1)
    g0 = where(room & linear & jnp.isfinite(back), g1 - back, g1)
    return where(zero_like, limit, where(blow_up, jnp.sign(g1) * jnp.inf, g0))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _limit_at(fvec, x, args, direction, room):
    """f's one-sided limit at x from inside (`_one_sided_limit` of f(·, args)), whose
    derivative in x is the same limit of f′ = ∂f/∂x."""
    if _eager_loop.concrete(x, args, direction, room):
        # Concrete inputs (eager differentiation): one compiled program per integrand
        # instead of its ~40 operations dispatched one by one, for one x or a vector of
        # them (the breakpoints).
        return _limit_program(fvec)(x, args, direction, room)
    return _one_sided_limit(lambda y: fvec(y, args), x, direction, room)


@functools.lru_cache(maxsize=256)
def _limit_program(fvec):
    def limit(x, args, direction, room):
        one = lambda xi, ri: _one_sided_limit(lambda y: fvec(y, args), xi, direction, ri)  # noqa: E731
        return jax.vmap(one)(x, room) if jnp.ndim(x) else one(x, room)

    return jit_core(limit, concrete_alone=True)


# The derivative in x (the second derivative of the integral in that limit) is the
# one-sided limit of f′, not the derivative of the extrapolation formula: where f′ is
# unbounded at x ((1 − x) ln(1 − x) or √(1 − x) at b = 1, d²/db² = +∞ and −∞) that
# formula gave finite numbers set by the float spacing (36.7 and −1.1e8; outside
# probe). Likewise the derivative in θ (the leaves of `args`) is the one-sided limit of
# each column of ∂f/∂θ, contracted with dθ afterwards so that it stays linear in dθ:
# d²/db dp of ∫₀^b (1 − x)^p dx at b = 1, p = 0 is ln(1 − b) → −∞, which the formula's
# derivative gave as −36.7 (a review). The rule recurses for higher derivatives; 0·∞ = 0
# for a zero dx (`mul_zero_safe`).
@functools.partial(_limit_at.defjvp, symbolic_zeros=True)
def _limit_at_jvp(fvec, primals, tangents):
    x, args, direction, room = primals
    dx, dargs = tangents[0], tangents[1]
    k = fvec_out_size(fvec, x, args)
    _, _, diff, dleaves = _split_args(args, dargs)
    n = 0
    if any(diff):
        joint, _, n, _ = _derivative_integrand(fvec, args, diff)
    if n:
        both = _limit_at(joint, x, args, direction, room)  # [lim f, lim ∂f/∂θ]
        value, g = both[:k], both[k:].reshape(k, n)
        # g·dθ with 0·∞ = 0: an infinite column (∂f/∂θ unbounded at x) must not turn a
        # zero tangent of its θ (the other column of `jax.hessian`'s batch) into NaN.
        dtheta = _ravel_real([t for t, d in zip(dleaves, diff) if d])[0].astype(g.dtype)
        dvalue = jnp.sum(mul_zero_safe(g, jnp.broadcast_to(dtheta, g.shape)), axis=1)
    else:
        value = _limit_at(fvec, x, args, direction, room)
        dvalue = jnp.zeros_like(value)
    if not isinstance(dx, SymbolicZero):

        def slope(y, a):
            return jax.jvp(lambda z: fvec(z, a), (y,), (jnp.ones_like(y),))[1]

        d_limit = _limit_at(slope, x, args, direction, room)
        dvalue = dvalue + mul_zero_safe(jnp.broadcast_to(dx, d_limit.shape).astype(d_limit.dtype), d_limit)
    return value, dvalue


def ordered(a, b):
    """`(flip, lo, hi)`: whether b < a (elementwise), and the limits in increasing order."""
    flip = b < a
    return flip, where(flip, b, a), where(flip, a, b)


def _ordered_edges(a, b, points):
    """`(flip, edges)`: whether b < a, and the segments' edges from the lower limit up."""
    flip, lo, hi = ordered(a, b)
    return flip, jnp.concatenate([lo[None], points, hi[None]])


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 5))
def _quad(fvec, a, b, points, args, options):
    """∫_a^b f, oriented (negative for b < a); ``points`` sorted inside [min, max](a, b).

    The limits are ordered here, inside the rule, and not by the caller: the derivative
    in a limit that is not being differentiated must stay a symbolic zero (see the Leibniz
    terms below), and ordering outside would give each limit the other's tangent.
    """
    return _oriented(fvec, a, b, points, args, options, fvec_out_size(fvec, a, args))


def _oriented(fvec, a, b, points, args, options, out_size):
    """`_quad`'s value (no derivative rule): the loop on the ordered range, its value
    negated for b < a."""
    flip, edges = _ordered_edges(a, b, points)
    # Under vmap, `pooled_solver` resumes only the unfinished lanes (see _batch.py); on
    # concrete inputs (eager code) it runs the loop pass by pass (_eager_loop.py).
    solve = pooled_solver(fvec, dict(options, out_size=out_size))
    value, err, neval, code = solve(edges, args)
    return where(flip, -value, value), err, neval, code


# Derivative of I(θ, a, b, c) = ∫_a^b f(x, θ) dx with interior breakpoints c₁ < … < c_m
# (differentiation under the integral sign plus the Leibniz rule on every segment):
#   dI = ⟨G, dθ⟩ + f(b) db − f(a) da ± Σⱼ (f(cⱼ⁻) − f(cⱼ⁺)) dcⱼ,   G = ∫_a^b ∂f/∂θ dx,
# the sign of the jump terms being that of b − a. An infinite limit contributes nothing
# (its tangent is not a real direction). f at a limit is its one-sided limit from inside
# the range, extrapolated from f at the 1st, 4th and 16th float inside it (`at_limit`),
# and at a breakpoint f on either side is its one-sided limit from that side, formed the
# same way, so a jump of f at cⱼ gives the jump term and a continuous f gives zero; a breakpoint at
# a limit (an empty segment) has no jump term.
# G is computed by the same adaptive `_quad`, applied to the vector integrand [f, ∂f/∂θ],
# so its own error estimate must meet the tolerance (componentwise) before the loop stops,
# the subdivision never depends on the tangents, and the tangent is linear in
# (dθ, da, db, dc) by construction. Because G goes through `_quad` again, second and
# higher derivatives follow the same rule.
@functools.partial(_quad.defjvp, symbolic_zeros=True)
def _quad_jvp(fvec, options, primals, tangents):
    a, b, points, args = primals
    da, db, dpoints = (_instantiate(t, x) for t, x in zip(tangents[:3], primals[:3]))
    k = fvec_out_size(fvec, a, args)
    value, err, neval, code, dvalue = integral_and_parameter_tangent(
        # (The mark only where derivative components are appended: on f alone it would
        # change args' structure and compile the loop again.)
        lambda g: _quad(g, a, b, points, args if g is fvec else with_exact(args, k), options),
        fvec, args, tangents[3], k
    )

    inf = jnp.asarray(jnp.inf, a.dtype)

    # A limit or breakpoint whose tangent is a symbolic zero (a constant, or not the
    # variable of this derivative) contributes no Leibniz term, and f is not evaluated
    # there: at a singular end f beside it can be inf (x^p ln(1/x) at the smallest
    # float), and inf·0 would turn the derivative in a parameter into NaN.
    for limit, dlimit, sign, other, tangent in ((b, db, 1, a, tangents[1]), (a, da, -1, b, tangents[0])):
        if isinstance(tangent, SymbolicZero):
            continue
        ok = jnp.isfinite(limit)
        # Where the limit is infinite f is evaluated at an interior point instead (one
        # unit beyond the other limit, or 0), where it is finite: a NaN or inf there would
        # leak into reverse-mode higher derivatives through the discarded branch.
        inside = where(limit < other, inf, -inf)
        step = where(limit > other, 1.0, -1.0) * (1 + jnp.abs(other))
        interior = where(jnp.isfinite(other), other + step, 0.0)
        base = where(ok, limit, interior)
        xs, os_ = jax.lax.stop_gradient(base), jax.lax.stop_gradient(other)
        inside = jax.lax.stop_gradient(inside)
        room = ok & (jnp.abs(os_ - xs) > 64 * jnp.abs(jnp.nextafter(xs, inside) - xs))
        f_limit = _limit_at(fvec, base, args, inside, room)
        # 0·inf = 0: a zero tangent of this limit (the parameter's column of `jacfwd`)
        # adds nothing where f is infinite at it (see `mul_zero_safe`).
        dvalue = dvalue + sign * mul_zero_safe(where(ok, f_limit, 0.0), where(ok, dlimit, 0.0))
    if points.shape[0] and not isinstance(tangents[2], SymbolicZero):
        # A breakpoint at a limit (`quad` also moves points outside the range there) ends
        # an empty segment and has no jump term; f is not evaluated outside the range,
        # where it may be undefined (√x beside a breakpoint at 0): NaN times a zero
        # tangent turned the derivative in the other limit into NaN. Both sides are taken
        # at the middle of the range instead, and the term is dropped.
        # Each side is f's one-sided limit there (`_limit_at`, as at a limit): f at the
        # neighbouring float is far from it where f starts like (x − c)^β, β small:
        # (x − c)₊^0.1 one float above c = 0.5 is 0.024, and d/dc was 2.7 % off,
        # `converged` (outside probe).
        lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
        at_lo, at_hi = points <= lo, points >= hi
        inside = (at_lo | at_hi)[:, None]
        xs = jnp.clip(jax.lax.stop_gradient(points), jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi))
        edges = jnp.concatenate([lo[None], xs, hi[None]])
        gap = 64 * jnp.abs(jnp.nextafter(xs, inf) - xs)
        sides = []
        for direction, neighbour in ((-inf, edges[:-2]), (inf, edges[2:])):
            room = jnp.abs(xs - neighbour) > gap
            at = where(at_lo | at_hi, jax.lax.stop_gradient((lo + hi) / 2), points)
            if _eager_loop.concrete(at, args, room):  # (eager: one program for all points)
                sides.append(_limit_at(fvec, at, args, direction, room))
            else:
                sides.append(jax.vmap(lambda c, r, d=direction: _limit_at(fvec, c, args, d, r))(at, room))
        jump = where(inside, 0.0, sides[0] - sides[1])
        orientation = where(b < a, -1.0, 1.0).astype(jump.dtype)
        dvalue = dvalue + orientation * jnp.sum(mul_zero_safe(jump, dpoints[:, None].astype(jump.dtype)), axis=0)
    zero_int = lambda x: np.zeros(np.shape(x), jax.dtypes.float0)  # noqa: E731
    primal_out = (value, err, neval, code)
    return primal_out, (dvalue, jnp.zeros_like(err), zero_int(neval), zero_int(code))


def _check_tolerance(name, value, fn="jaxgrad.integrate.quad", traced_ok=False):
    """`value` as a float, checked; with `traced_ok` (the functions whose tolerances are
    inputs of their compiled program) a traced real scalar passes as it is (a negative
    or NaN one is never met: the status says so)."""
    if traced_ok and isinstance(value, jax.core.Tracer):
        if jnp.shape(value) != () or not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"{fn}: `{name}` must be a real scalar; got {value!r}.")
        return value
    if isinstance(value, jax.core.Tracer):
        # (qmc_quad's tolerances decide the program: under `jit` a traced one was refused
        # as "must be a real number", which it is; outside probe.)
        raise TypeError(f"{fn}: `{name}` must be a concrete number, not a traced value: it is fixed when the "
                        f"program is compiled (under `jax.jit`, close over it or mark it static); got {value!r}.")
    number = as_real(value)  # a Python number or a concrete 0-d real array
    if number is None:
        raise TypeError(f"{fn}: `{name}` must be a real number (or a 0-d real array); got {value!r}.")
    if not number >= 0:
        raise ValueError(f"{fn}: `{name}` must be >= 0; got {value!r}.")
    return number


# The adaptive loops allocate their pool of subintervals (boxes) up front: about half a
# kilobyte each (`quad`: 0.8 GB at a million, 4.5 GB at ten million; `cubature` at d = 5
# about 1 GB at a million). A larger `limit` asked for tens of gigabytes and hung
# (`limit=10**9` on e^(-x) over [0, 1]; outside probe).
MAX_LIMIT = 10**7


def _check_limit(limit, fn="jaxgrad.integrate.quad"):
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(
            f"{fn}: `limit` must be an integer from 1 to {MAX_LIMIT:,} (the loop's pool of subintervals or boxes "
            f"is allocated up front, about half a kilobyte each); got {limit!r}."
        )
    return int(limit)


# Cycles of a Fourier integral over a half line: cycle k gets the share (1 − p)pᵏ/2 of
# the tolerance (p = 0.9, `_fourier._SHARE`), below 1e-16 of it past k ≈ 330, under what
# a cycle's integral can be computed to (scipy's default is 50); and each cycle scans
# the table of all `limlst` (`limlst=10**4` on a divergent integral ran for minutes,
# `10**8` took 7.5 GB; outside probe).
MAX_LIMLST = 1000


@readable_errors
def quad(
    f: Callable[..., ArrayLike],
    a: ArrayLike,
    b: ArrayLike,
    args: tuple[Any, ...] = (),
    *,
    points: ArrayLike | None = None,
    epsabs: float = 1.49e-8,
    epsrel: float = 1.49e-8,
    limit: int = _DEFAULT_LIMIT,
    weight: str | None = None,
    wvar: Any = None,
    limlst: int = 50,
    complex_func: bool = False,
    throw: bool = False,
) -> tuple[Float[Array, "*shape"], QuadInfo]:
    r"""Adaptive integral $\int_a^b f(x, \text{args})\,dx$ with exact, error-controlled derivatives.

    Global adaptive subdivision with a 21-point Gauss–Kronrod pair. A segment that a
    single rule does not settle is refined in a double-exponential variable (tanh-sinh,
    exp-sinh or sinh-sinh), which makes integrable endpoint singularities, infinite
    ranges and tails at any scale cheap. Derivatives with respect to `args`, `a`, `b`
    and `points` (forward, reverse, any order) are the derivatives of the *integral*:
    differentiation under the integral sign, computed by the same adaptive method with
    its own error estimate, plus the Leibniz boundary terms $f(b)\,db - f(a)\,da$ and
    the jump terms $(f(c^-) - f(c^+))\,dc$ at each breakpoint $c$. Values that `f`
    closes over are differentiated too. The compiled program is cached per integrand
    and options, so a second call with the same `f` (or the same lambda re-created)
    runs without tracing or compiling again; arrays `f` reads are arguments of that
    program, so new values are picked up, and so are `epsabs` and `epsrel` (a new
    tolerance reuses the program; `limit`, `points`' length and `weight` are static).

    Arguments:
        f: the integrand, `f(x, *args)`, returning a real scalar or array (same shape at
            every `x`). It is called on one scalar `x` at a time, under `jax.vmap`.
        a: lower limit: a real scalar, finite or `-inf` / `inf`, static or traced.
        b: upper limit, likewise. `b < a` gives minus the integral from `b` to `a`.
            The limits' floating dtype is x's, or f's where f's values are wider
            (float32 limits with a float64 f integrate in float64).
        args: extra arguments of `f` (a tuple of pytrees); derivatives flow through
            their floating-point leaves (a complex leaf along its real and imaginary
            directions: `jax.grad(..., holomorphic=True)` works).
        points: interior breakpoints (kinks, jumps, singularities of `f`), a 1-D array;
            they are sorted and clipped to the range. May be traced and differentiated.
            (A narrow peak is best bracketed by two, a few widths to either side.)
        epsabs: absolute tolerance.
        epsrel: relative tolerance. The loop stops when, for every component of the
            value, the estimated error is at most `max(epsabs, epsrel * |value|)`.
            (The derivative integrals of a derivative rule are judged the same way,
            except that one which cancels is judged on a thousandth of its mass, so
            its absolute accuracy is `epsrel` times that; docs/quadrature.md.)
            Both are inputs of the compiled program (a new value reuses it) and may be
            traced scalars.
        limit: maximum number of subintervals; bounds the number of passes of the loop.
            The pool holds `max(limit, segments + 1) + 2` of them (`segments`: one more
            than the number of `points`), so a `limit` of 1 to 3 still lets the loop
            split the range a few times. At most 10,000,000: the pool is allocated up
            front (about half a kilobyte a subinterval).
        weight: a weight function multiplying `f`, spelled as in `scipy.integrate.quad`:
            `"cauchy"` (the Cauchy principal value of `f(x)/(x - wvar)`, finite limits),
            `"alg"` (`(x - a)^α (b - x)^β` with `wvar = (α, β)`, α, β > -1, finite
            `a ≠ b`; for `b < a` minus the integral over `[b, a]` with `(x - b)^α (a - x)^β`,
            as in scipy), `"alg-loga"`, `"alg-logb"`, `"alg-log"` (the same times `ln(x - a)`,
            `ln(b - x)` or both), `"cos"`, `"sin"` (`cos(ω x)`, `sin(ω x)`, `wvar = ω`;
            on a finite range by Chebyshev moments, as QUADPACK's QAWO, so the cost
            does not grow with ω (with `points`: the product, adaptively); with a limit
            that is `inf` or `-inf` (a concrete one) the Fourier integral is taken cycle
            by cycle and extrapolated, as scipy does it with QUADPACK's QAWF: see
            `limlst`).
            Derivatives in `wvar` (`c`, `α`, `β`, `ω`), `a`, `b` and `args` are exact and
            error-controlled (docs/quadrature.md, "Weight functions"). A `wvar` or limit
            the weight does not allow gives NaN and `STATUS.nan_limits`. `points`
            combine only with `"cos"` and `"sin"`; with the other weights they raise
            `ValueError`.
        wvar: the weight's parameters (scalars, static or traced); see `weight`.
        limlst: the most cycles of a Fourier integral over a half line (scipy's name;
            static, 4 to 1,000: cycle k gets the share 0.1·0.9ᵏ/2 of the tolerance,
            below 1e-16 of it past k ≈ 330): the range from the finite limit is cut
            into cycles of (2⌊|ω|⌋ + 1)π/|ω| (between 2π and 3π for |ω| ≥ 1), each integrated against
            its weight by Chebyshev moments (QUADPACK's QAWO rule, with at most `limit`
            panels), and their partial sums are extrapolated by Wynn's ε, stopping once
            the result meets the tolerance (after at least 8 cycles); the whole line is
            the two half lines from 0. Features of `f` must lie within the cycles
            summed; `points` are not allowed there, and a traced ω must not be 0 (NaN,
            `STATUS.nan_limits`).
        complex_func: if `True`, `f` may return complex values; their real and imaginary
            parts are integrated (each with its own error control) and the value is complex.
        throw: if `True`, a status other than `STATUS.converged` raises an error at run
            time (`equinox.error_if`; works under `jax.jit`). Under a derivative the
            status is that of the joint run of the value and its derivative integrals,
            so a derivative whose own integral did not converge raises too.

    Returns:
        `(value, info)`: `value` has the shape of `f`'s output; `info` is a
        [`QuadInfo`][jaxgrad.integrate.QuadInfo] with the error estimate `err` (same
        shape), the number of evaluations `neval`, and `status`, a
        [`STATUS`][jaxgrad.integrate.STATUS] item. When differentiated, `info`
        describes the joint integral of `f` and its parameter derivatives.

    Raises:
        TypeError: `f` is not callable, returns a non-real value, a tolerance is
            not a number, a limit is not a number (None, a string) or is complex or in
            half precision (float16, bfloat16), or `throw`/`complex_func` is not a bool.
        ValueError: `a`, `b` are not scalars, `points` is not 1-D, a tolerance is
            negative, `limit` is not from 1 to 10,000,000 (its pool is allocated up
            front) or `limlst` not from 4 to 1,000.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> jax.config.update("jax_enable_x64", True)  # the default tolerances are float64's
        >>> from jaxgrad.integrate import quad
        >>> def area(p):  # ∫₀¹ |x - p| dx = p² - p + 1/2
        ...     return quad(lambda x, p: jnp.abs(x - p), 0.0, 1.0, (p,), points=jnp.array([p]))[0]
        >>> print(f"{jax.grad(area)(0.3):.12f}")  # 2p - 1
        -0.400000000000
        >>> value, info = quad(lambda x: jnp.exp(-x / 1e6), 0.0, jnp.inf)
        >>> print(f"{value:.6f}", bool(info.converged))
        1000000.000000 True
    """
    fn = "jaxgrad.integrate.quad"
    throw, complex_func = as_flag(fn, "throw", throw), as_flag(fn, "complex_func", complex_func)
    if not callable(f):
        raise TypeError(f"{fn}: `f` must be callable as f(x, *args); got {type(f).__name__}.")
    if not isinstance(args, tuple):
        args = (args,)
    epsabs = _check_tolerance("epsabs", epsabs, traced_ok=True)
    epsrel = _check_tolerance("epsrel", epsrel, traced_ok=True)
    limit = _check_limit(limit)
    dtype = limits_dtype(fn, a=a, b=b)
    given = (a, b)
    a, b = as_dtype(a, dtype), as_dtype(b, dtype)
    if (not any(isinstance(x, jax.core.Tracer) for x in given) and np.ndim(a) == np.ndim(b) == 0
            and a == b and given[0] != given[1]):
        # Distinct limits that round to one float of the integration's precision (1e7 and
        # 1e7 + 0.5 as float32, x64 off): the a == b rule gave 0, `converged`, for 0.5
        # (outside probe).
        raise ValueError(
            f"{fn}: the limits {given[0]!r} and {given[1]!r} are one number in {jnp.dtype(dtype).name}, the "
            "precision of the integration; enable float64 (jax.config.update('jax_enable_x64', True)) or shift f."
        )
    if points is None:
        points = np.zeros((0,), dtype)
    else:
        if isinstance(points, (list, tuple)):
            # scipy's spelling; an entry may be traced (a breakpoint that moves with a
            # parameter: `points=[c]` under `jax.grad`), which numpy cannot hold.
            if any(np.ndim(p) != 0 for p in points):
                raise ValueError(f"{fn}: every entry of `points` must be a scalar; got shapes {[np.shape(p) for p in points]}.")
            if any(isinstance(p, jax.core.Tracer) for p in points):
                points = jnp.stack([jnp.asarray(p) for p in points])
            else:
                points = np.asarray(points)
        if np.ndim(points) != 1:
            raise ValueError(f"{fn}: `points` must be a 1-D array; got shape {np.shape(points)}.")
        if not _real_numbers(points):  # (a complex point was taken as its real part)
            raise TypeError(f"{fn}: `points` must be real numbers; got {points!r}.")
        points = as_dtype(points, dtype)  # (as the limits: [1] and [1.0], one program)
    weight, wvar = _check_weight(fn, weight, wvar, points)
    if isinstance(limlst, bool) or not isinstance(limlst, numbers.Integral) or not 4 <= limlst <= MAX_LIMLST:
        raise ValueError(f"{fn}: `limlst` must be an integer from 4 to {MAX_LIMLST}; got {limlst!r}.")
    integrand, consts, val_dtype = trace_integrand(fn, f, dtype, args, complex_func)
    if val_dtype != dtype:  # (x in f's wider dtype: `trace_integrand`)
        dtype = val_dtype
        a, b, points = widened(a, dtype), widened(b, dtype), widened(points, dtype)
    from ._fourier import fourier_half_line, fourier_range, is_fourier_half_line, is_fourier_range  # (a cycle)

    if is_fourier_half_line(weight, wvar, a, b):
        return fourier_half_line(fn, integrand, consts, a, b, args, weight=weight, omega=wvar, points=points,
                                 epsabs=epsabs, epsrel=epsrel, limit=limit, limlst=int(limlst),
                                 complex_func=complex_func, throw=throw)
    if is_fourier_range(weight, wvar, points):
        return fourier_range(integrand, consts, a, b, args, weight=weight, omega=wvar, epsabs=epsabs, epsrel=epsrel,
                             limit=int(limit), complex_func=complex_func, throw=throw)
    # The tolerances are inputs of the compiled program (None here: the loop reads them
    # from its args, see `_adaptive.Tolerances`), so a new epsabs or epsrel reuses it.
    options = loop_options(limit)
    # From eager code, a new integrand compiles only its own evaluation: the loop runs
    # pass by pass from Python (`_eager_loop`); its derivatives too, without a weight.
    value_eagerly = _eager_loop.usable(a, b, points, args, consts, wvar, epsabs, epsrel)
    if weight is None and (value_eagerly or differentiated_eagerly()):
        return _quad_eager(integrand, options, val_dtype, throw, complex_func, a, b, points, args,
                           consts, epsabs, epsrel, value_eagerly)
    # With a weight, only the value: the weights' derivative rules build their joint
    # integrands afresh at each call (taken pass by pass, 90–370 ms a call).
    if weight is not None and value_eagerly:
        return _weighted_eager(integrand, options, val_dtype, throw, weight, complex_func, a, b, points,
                               args, consts, wvar, epsabs, epsrel)
    statics = (integrand, options, val_dtype, throw, weight, complex_func)
    dynamic = (a, b, points, args, consts, wvar, epsabs, epsrel)
    if batched_eagerly():
        # `jax.vmap` from eager code: a few batch sizes compiled (`jaxgrad._buckets`).
        # With a weight the padded lanes repeat the last one (an empty range is not
        # one of every weight's: `cauchy` wants c inside it).
        return in_buckets(_quad_compiled, statics, dynamic, 3, _empty_lane if weight is None else None)
    return _quad_compiled(*statics, *dynamic)


def _empty_lane(a, b, points):
    """Limits and points of a padded lane of an eager `vmap` (`jaxgrad._buckets`): the
    empty range at the midpoint of the last lane's finite range, where that lane's first
    rule evaluates the integrand too (with an edge of an infinite range, or at a
    breakpoint, an integrand may be undefined: there, None, a copy of the lane)."""
    if np.size(points) or not (np.isfinite(a) and np.isfinite(b)):
        return None
    m = a / 2 + b / 2  # (b − a overflows for ±1e308)
    return m, m, points


def _check_weight(fn, weight, wvar, points):
    """`(weight, wvar)` checked: a known weight name with a `wvar` of the right shape."""
    from ._weights import WEIGHTS

    if weight is None:
        if wvar is not None:
            raise ValueError(f"{fn}: `wvar` is given but `weight` is None.")
        return None, np.zeros((0,))
    if weight not in WEIGHTS:
        raise ValueError(f"{fn}: unknown `weight` {weight!r}; expected one of {WEIGHTS}.")
    if wvar is None:
        raise ValueError(f"{fn}: weight={weight!r} needs `wvar`.")
    if weight in ("cauchy", "alg", "alg-loga", "alg-logb", "alg-log") and np.shape(points) != (0,):
        raise ValueError(f"{fn}: `points` cannot be combined with weight={weight!r}.")
    if isinstance(wvar, (list, tuple)):
        wvar = jnp.stack([jnp.asarray(w) for w in wvar]) if wvar else np.zeros((0,))
    want = (2,) if weight.startswith("alg") else ()
    if np.shape(wvar) != want:
        what = "(alpha, beta)" if want else "a scalar"
        raise ValueError(f"{fn}: weight={weight!r} needs `wvar` = {what}; got shape {np.shape(wvar)}.")
    if not _real_numbers(wvar):
        raise TypeError(f"{fn}: `wvar` must be real; got {wvar!r}.")
    return weight, wvar


def _real_numbers(x):
    """Whether x holds real numbers (bool and integer included)."""
    if isinstance(x, (str, bytes)):  # (result_type would read "a" as a dtype's name)
        return False
    try:
        dtype = jnp.result_type(x)
    except TypeError:
        return False
    return (jnp.issubdtype(dtype, jnp.number) or dtype == bool) and not jnp.issubdtype(dtype, jnp.complexfloating)


def limits_dtype(fn, **limits):
    """The floating dtype of the integration variable; raises for non-scalar or complex limits."""
    for name, x in limits.items():
        if x is None or isinstance(x, (str, bytes)):  # (None became NaN, `nan_limits`; a string a dtype error)
            raise TypeError(f"{fn}: `{name}` must be a real number; got {x!r}.")
        if np.ndim(x) != 0:
            raise ValueError(
                f"{fn}: `{name}` must be a scalar; got an array of shape {np.shape(x)}. "
                "Use jax.vmap to integrate over several ranges."
            )
    return real_dtype(fn, " and ".join(f"`{n}`" for n in limits), *limits.values())


def real_dtype(fn, what, *limits):
    """The floating dtype of the integration variable given its `limits` (`what`
    names them in messages): float32 or float64. Raises for complex limits, and for
    half precision, whose nodes and error estimates the rules cannot resolve (float16
    limits crashed deep in the loop's float arithmetic; outside probe)."""
    dtype = jnp.result_type(float, *limits)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: {what} must be real; got dtype {dtype}.")
    if jnp.dtype(dtype).itemsize < 4:
        raise TypeError(
            f"{fn}: {what} have dtype {jnp.dtype(dtype).name}; integration needs float32 or float64 "
            "(half precision cannot resolve the rules' nodes and error estimates); cast them to float32."
        )
    return dtype


def as_dtype(x, dtype):
    """A concrete limit (or array of them) as a NumPy array of `dtype`; a traced one as
    it is. Then 0, 0.0, np.float64(0) and jnp.asarray(0.0) (weakly typed) run one
    compiled program: each spelling compiled its own, 5.5–6.3 s for `quad` (outside
    probe)."""
    return x if isinstance(x, jax.core.Tracer) else np.asarray(x, dtype)


def loop_options(limit):
    """The static options of `quad`'s loop; its tolerances are read from its args
    (`_adaptive.Tolerances`)."""
    return (("limit", int(limit)), ("epsabs", None), ("epsrel", None), ("nsplit", _NSPLIT))


def widened(x, dtype):
    """`as_dtype`, a traced limit cast too (to a wider dtype: f's, see `quad`)."""
    return x.astype(dtype) if isinstance(x, jax.core.Tracer) else as_dtype(x, dtype)


def check_nonempty(fn, out, name="f"):
    """Raises for an integrand whose value is an empty array (nothing to integrate)."""
    if 0 in getattr(out, "shape", ()):
        raise ValueError(f"{fn}: `{name}` returns an empty array (shape {out.shape}); there is nothing to integrate.")


def trace_integrand(fn, f, dtype, args, complex_func=None):
    """`f` traced at a scalar `x` of `dtype` (see `jaxgrad._traced`), checked, with the
    values it closes over and the (real) dtype of its values, or of their real and
    imaginary parts with `complex_func` (None: the caller has no such option).

    Where f's values are wider than `dtype` (float32 limits, a float64 f), f is traced
    again with x in that dtype, which the caller then gives the limits (`widened`): the
    adaptive loop keeps its pool in x's dtype, and the values were rounded to float32
    (3.7e-8 off for ∫₀¹ eˣ, `roundoff`), and under `vmap` the program did not trace (an
    outside review)."""
    integrand, consts, val_dtype = _traced_integrand(fn, f, dtype, args, complex_func)
    if val_dtype != jnp.dtype(dtype):
        integrand, consts, val_dtype = _traced_integrand(fn, f, val_dtype, args, complex_func)
    return integrand, consts, val_dtype


def _traced_integrand(fn, f, dtype, args, complex_func):
    x0 = jax.ShapeDtypeStruct((), dtype)
    try:
        integrand, consts = trace(f, x0, *args)
    except TypeError as e:
        raise TypeError(f"{fn}: calling f(x, *args) with a scalar x failed: {e}") from e
    out = integrand.out_shape
    out_dtype = getattr(out, "dtype", None)
    if out_dtype is None or not jnp.issubdtype(out_dtype, jnp.number):
        raise TypeError(f"{fn}: `f` must return a real array or scalar; got {out!r}.")
    check_nonempty(fn, out)
    if jnp.issubdtype(out_dtype, jnp.complexfloating):
        if complex_func is None:  # (quadosc: the message named an option it does not have)
            raise TypeError(
                f"{fn}: `f` returned complex values ({out_dtype}); integrate its real and imaginary "
                "parts separately (two real integrands)."
            )
        if not complex_func:
            raise TypeError(
                f"{fn}: `f` returned complex values ({out_dtype}); pass complex_func=True to "
                "integrate its real and imaginary parts (as scipy.integrate.quad does)."
            )
        out_dtype = jnp.finfo(out_dtype).dtype
    return integrand, consts, jnp.dtype(jnp.result_type(dtype, out_dtype))


@functools.lru_cache(maxsize=256)
def _vector_integrand(integrand, complex_func, val_dtype):
    """`fvec(x, all_args)`: f at one x as a real vector (real and imaginary parts with
    `complex_func`). One function per integrand, so that the eager loop's compiled
    evaluation of f (`_eager_loop`) is found again at the next call."""

    def fvec(x, all_args):
        fargs, fconsts, _ = all_args  # (the third: the tolerances)
        y = jnp.ravel(integrand(fconsts, x, *fargs))
        if complex_func:  # real and imaginary parts, as one real vector
            y = jnp.concatenate([jnp.real(y), jnp.imag(y)])
        return y.astype(val_dtype)

    return fvec


def _checked_limits(weight, a, b, points, wvar):
    """`(a, b, points, wvar, undefined, unresolved)`: the limits in their dtype, with a
    NaN limit or breakpoint (or a limit or `wvar` the weight does not allow) replaced by
    a harmless range, which the loop integrates instead (it never sees a NaN edge), and
    `undefined` where that happened (the result is then NaN with its own status; per
    lane under vmap); the breakpoints sorted into the range; `unresolved` where the range
    holds no float between its limits (see `_reported`)."""
    dtype = jnp.result_type(float, a, b)
    a, b = jnp.asarray(a, dtype), jnp.asarray(b, dtype)
    points = jnp.asarray(points, dtype)
    undefined = jnp.isnan(a) | jnp.isnan(b) | jnp.any(jnp.isnan(points))
    if weight is not None:
        wvar = jnp.asarray(wvar, dtype)
        # (An infinite pole, exponent or frequency too: c = ±inf gave 0, `converged`, and
        # (α, β) = (0, inf) `nonfinite`; outside probe.)
        undefined = undefined | ~jnp.all(jnp.isfinite(wvar))
    if weight == "cauchy":
        undefined = undefined | ~(jnp.isfinite(a) & jnp.isfinite(b)) | (wvar == a) | (wvar == b)
    elif weight is not None and weight.startswith("alg"):
        undefined = undefined | ~(jnp.isfinite(a) & jnp.isfinite(b) & (a != b)) | jnp.any(wvar <= -1)
    a, points = replace_invalid(a, undefined, 0.0), replace_invalid(points, undefined, 0.0)
    b = replace_invalid(b, undefined, 1.0)
    points = jnp.clip(jnp.sort(points), jnp.minimum(a, b), jnp.maximum(a, b))
    return a, b, points, wvar, undefined, one_float_apart(a, b)


def one_float_apart(a, b):
    """Whether the finite limits a ≠ b have no float between them (1e7 and 1e7 + 1 in
    float32, 2^53 and 2^53 + 2 in float64). Every node of a rule on such a range rounds
    onto a limit, the rule and its error estimate agree exactly, and the loop stopped
    `converged` with an error of 0 on f at one point (∫ (t − 1e7)² over them came out 0
    for 1/3; outside probe); see `_reported`."""
    a, b = jax.lax.stop_gradient(a), jax.lax.stop_gradient(b)  # (nextafter has no derivative)
    lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
    return (lo < hi) & jnp.isfinite(hi) & (jnp.nextafter(lo, hi) == hi)


def unresolved_status(unresolved, code, err):
    """`(code, err)` with a range of no float between its limits (`one_float_apart`)
    `roundoff` (where it was `converged`) and its error infinite."""
    return where(unresolved & (code == CONVERGED), ROUNDOFF, code), where(unresolved, jnp.inf, err)


def _reported(value, err, neval, code, undefined, unresolved, shape, complex_func, throw):
    """`quad`'s result from the loop's: NaN where the limits were undefined, complex
    values put together, the status (raised with `throw`). A range with no float between
    its limits (`unresolved`) is `roundoff` with an infinite error: f is known at one
    point of it at most, which says nothing of its integral."""
    code, err = unresolved_status(unresolved, code, err)
    value, err = nan_if(value, undefined), where(undefined, jnp.nan, err)
    if complex_func:
        n = value.shape[0] // 2
        value, err = value[:n] + 1j * value[n:], jnp.hypot(err[:n], err[n:])
    value = value.reshape(shape)
    code = where(undefined, NAN_LIMITS, code)
    status = status_from_code(code)
    if throw:
        value = raise_if(value, status, code != 0, "jaxgrad.integrate.quad")
    return value, QuadInfo(err=err.reshape(shape), neval=neval, status=status)


def _quad_body(
    integrand, options, val_dtype, throw, weight, complex_func, a, b, points, args, consts, wvar, epsabs, epsrel
):
    """`quad` after its checks, compiled whole (`_quad_compiled`)."""
    fvec = _vector_integrand(integrand, complex_func, val_dtype)
    a, b, points, wvar, undefined, unresolved = _checked_limits(weight, a, b, points, wvar)
    all_args = (args, consts, Tolerances.of(epsabs, epsrel, val_dtype))
    value, err, neval, code = _integral(fvec, weight, a, b, points, wvar, undefined, all_args, options)
    return _reported(value, err, neval, code, undefined, unresolved, integrand.out_shape.shape, complex_func, throw)


def _integral(fvec, weight, a, b, points, wvar, undefined, all_args, options):
    """`(value, err, neval, code)` of the integral with its weight, on checked limits
    (`_checked_limits`)."""
    from . import _weights  # (imports this module)

    if weight is None:
        value, err, neval, code = _quad(fvec, a, b, points, all_args, options)
    elif weight == "cauchy":
        c = replace_invalid(wvar, undefined, 0.5)
        value, err, neval, code = _weights.cauchy(fvec, a, b, c, all_args, options)
    elif weight.startswith("alg"):
        # b < a gives minus the integral over [b, a], its weight (x − b)^α (a − x)^β, as in
        # scipy (which returned it where this gave NaN, `nan_limits`; outside probe).
        wvar = replace_invalid(wvar, undefined, 0.0)
        flip, lo, hi = ordered(a, b)
        value, err, neval, code = _weights.end_weighted(fvec, weight, lo, hi, wvar, all_args, options)
        value = where(flip, -value, value)
    else:
        g = _weights.trigonometric(fvec, weight)
        value, err, neval, code = _quad(g, a, b, points, (wvar, all_args), options)
    return value, err, neval, code


# The compiled core of `quad`: cached per (integrand, options) as described in
# `jaxgrad._traced`, so repeated eager calls run one executable.
_quad_compiled = jit_core(static_argnums=(0, 1, 2, 3, 4, 5))(_quad_body)


# From eager code without a weight, and differentiated from eager code: the same steps
# unjitted, with the loop run pass by pass (`_eager_loop`) wherever its inputs are
# concrete, so that a new integrand compiles only its own evaluation (and, for a
# derivative, that of its joint integrand). What comes before and after the loop is
# compiled once, apart from the integrand.
@jit_core(static_argnums=(0,), light=True)
def _eager_prepare(val_dtype, a, b, points, epsabs, epsrel):
    a, b, points, _, undefined, unresolved = _checked_limits(None, a, b, points, None)
    return a, b, points, undefined, unresolved, Tolerances.of(epsabs, epsrel, val_dtype)


_eager_limits = jit_core(static_argnums=(0,), light=True)(_checked_limits)


@jit_core(static_argnums=(0, 1, 2), light=True)
def _eager_report(shape, complex_func, throw, value, err, neval, code, undefined, unresolved):
    return _reported(value, err, neval, code, undefined, unresolved, shape, complex_func, throw)


def _quad_eager(integrand, options, val_dtype, throw, complex_func, a, b, points, args, consts, epsabs, epsrel,
                value_only):
    """`value_only`: no derivative is being taken (`_eager_loop.usable` held for the
    inputs); otherwise the call is differentiated from eager code."""
    fvec = _vector_integrand(integrand, complex_func, val_dtype)
    shape = integrand.out_shape.shape
    if value_only:  # no derivative rule to apply
        # The checks of the limits run in the program that starts the loop, the report in
        # the one that ends it (`_eager_ends`); the tolerances are put together here.
        tols = _eager_tolerances(epsabs, epsrel, val_dtype)
        out_size = math.prod(shape) * (2 if complex_func else 1)
        return _eager_loop.run(fvec, (a, b, points), (args, consts, tols), nseg=np.shape(points)[0] + 1,
                               dtype=np.result_type(a), ends=_eager_ends(shape, complex_func, throw),
                               out_size=out_size, **dict(options))
    a, b, points, undefined, unresolved, tols = _eager_prepare(val_dtype, a, b, points, epsabs, epsrel)
    value, err, neval, code = _quad(fvec, a, b, points, (args, consts, tols), options)
    return _eager_report(shape, complex_func, throw, value, err, neval, code, undefined, unresolved)


def _weighted_eager(integrand, options, val_dtype, throw, weight, complex_func, a, b, points, args, consts, wvar,
                    epsabs, epsrel):
    """`_quad_body` from eager code, for a weight: the checks and the report compiled once
    (`_eager_limits`, `_eager_report`), the weight's own work on f compiled per integrand
    (`_weights`), the loop run pass by pass."""
    fvec = _vector_integrand(integrand, complex_func, val_dtype)
    a, b, points, wvar, undefined, unresolved = _eager_limits(weight, a, b, points, wvar)
    all_args = (args, consts, _eager_tolerances(epsabs, epsrel, val_dtype))
    value, err, neval, code = _integral(fvec, weight, a, b, points, wvar, undefined, all_args, options)
    return _eager_report(integrand.out_shape.shape, complex_func, throw, value, err, neval, code, undefined,
                         unresolved)


def _eager_tolerances(epsabs, epsrel, val_dtype):
    """`Tolerances.of` for concrete numbers, put together on the host (one transfer), and
    kept for the next call with the same numbers (the transfer cost ~50 µs a call)."""
    host = np.stack([np.asarray(epsabs, val_dtype), np.asarray(epsrel, val_dtype)])
    return Tolerances(_on_device(host.tobytes(), host.dtype))


@functools.lru_cache(maxsize=64)
def _on_device(data, dtype):
    return jnp.asarray(np.frombuffer(data, dtype))


@functools.lru_cache(maxsize=64)
def _eager_ends(shape, complex_func, throw):
    """`quad`'s work on either side of its loop, as `_eager_loop.run` takes it: the checked
    limits ordered into the edges, and the report of the loop's result."""

    def before(a, b, points):
        a, b, points, _, undefined, unresolved = _checked_limits(None, a, b, points, None)
        flip, edges = _ordered_edges(a, b, points)
        return edges, (flip, undefined, unresolved)

    def after(carry, result):
        flip, undefined, unresolved = carry
        value, err, neval, code = result
        return _reported(where(flip, -value, value), err, neval, code, undefined, unresolved, shape, complex_func,
                         throw)

    return before, after
