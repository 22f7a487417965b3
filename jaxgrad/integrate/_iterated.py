"""Integrals over non-rectangular regions by iterated integration: `dblquad`, `tplquad`, `nquad`.

The region is described as scipy.integrate does: the outermost variable runs between
two numbers, and each inner variable between two limits that may depend on the outer
variables (and on `args`),

    I = ∫_{a}^{b} ∫_{g(x)}^{h(x)} f(y, x) dy dx.

Each level is the adaptive loop of `quad` (`_adaptive.adaptive_quad`) applied to the
integral of the level inside it, so every integral, inner or outer, value or
derivative, is error-controlled.

Compile cost. The outer loop evaluates its integrand at all nodes of a pass at once
(`vmap`), so the inner loop is batched. `quad`'s batching rule (`_batch.py`) runs a
vectorised first pass and then resumes the unfinished lanes in a vmapped loop: two
copies of the inner loop per level, and a further doubling under each enclosing
`vmap`, which made a plain `quad`-in-`quad` take 11–13 s to compile (value or
gradient) and 22–37 s under `vmap`, and would grow as 2^d with the depth. Here an
inner integral under `vmap` instead runs the *unbatched* loop once per distinct lane,
one lane after the other (`_sequential_solver`): one copy of the loop per level, about
half the compile time for a double integral, and linear rather than exponential in the
depth. Lanes whose inputs are identical (the padding rows and unused end-model nodes of
the outer pass) are integrated once. A batch costs the total work of its lanes, not the
hardest lane times the batch, as `quad` promises under `vmap`.

Derivatives. Each level is a `custom_jvp` with the rule of `quad` for fixed limits
(differentiation under the integral sign, by the same adaptive loop on the joint
integrand [f, ∂f/∂θ]); the moving limits of every level are mapped onto fixed ones
(`_fixed_range`, `_point`), so a derivative in a parameter of `f`, of an inner limit (a
disc's radius) or of an outer limit is itself an iterated, error-controlled integral,
to any order (see `_level_quad_jvp` for why this and not the Leibniz terms).

Error estimate and status. The outer loop's estimate does not see the errors of the
inner integrals it was given. Each inner integral at an outer node x reports its
estimate e(x) ≤ max(epsabs, epsrel·|F(x)|) when it converged; the outer level
integrates u(x) = max(e(x), epsrel·|F(x)|) (plus the bound u already carries from the
levels below) alongside F, and the reported error is

    err = err_outer + ∫ u(x) dx,

a bound on the total error as far as the estimates themselves hold (the Kronrod
weights are positive, so the outer sum of inner errors is at most this integral). u is
smooth where the relative tolerance governs; where the absolute one does it is rough
but below epsabs, and it is scaled down so that the outer loop never refines for it.
The status is the worst over all levels (the order of `STATUS`: `nan_limits` worst):
an inner integral that did not converge at any node the outer loop used is reported
even if the outer loop converged, through indicator components that are identically
zero (and cost nothing) while every inner integral converges.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Float

from .._buckets import in_buckets
from .._errors import readable_errors
from .._jit import batched_eagerly, jit_core
from .._nan import nan_if, replace_invalid
from .._options import as_flag
from .._throw import raise_if
from .._traced import trace
from .._where import where
from . import _eager_loop
from ._adaptive import adaptive_quad, options_with_exact
from ._batch import _broadcast, empty_batch
from ._beside import float_beside
from ._quad import (
    _NSPLIT,
    _check_limit,
    _check_tolerance,
    _derivative_integrand,
    check_nonempty,
    integral_and_parameter_tangent,
    one_float_apart,
    ordered,
    real_dtype,
    unresolved_status,
)
from ._status import NAN_LIMITS, QuadInfo, status_from_code

_DEFAULT_LIMIT = 200
_NCODES = 5  # the status codes other than `converged`: 1 (max_subdivisions) … 5 (nan_limits)


def _sequential_solver(fvec, options):
    """`(edges, args) -> (value, err, neval, code)`, whose `vmap` runs the unbatched loop
    once per distinct lane, one after the other (see the module docstring).

    As in `_batch.pooled_solver`, the loop's array constants are explicit arguments of
    the `custom_vmap` function, not closed over (a closed-over constant can become a
    batched residual under `vmap` of a derivative, which `custom_vmap` rejects)."""

    def plain(edges, args):
        return adaptive_quad(fvec, edges, args, **options)

    def solve(edges, args):
        if _eager_loop.concrete(edges, args):  # (eager code: the loop pass by pass)
            return _eager_loop.eager_adaptive_quad(fvec, edges, args, **options)
        closed, shapes = jax.make_jaxpr(plain, return_shape=True)(edges, args)
        out_tree = jax.tree_util.tree_structure(shapes)

        @jax.custom_batching.custom_vmap
        def run(edges, args, consts):
            flat = jax.tree_util.tree_leaves((edges, args))
            out = jax.core.eval_jaxpr(closed.jaxpr, consts, *flat)
            return jax.tree_util.tree_unflatten(out_tree, out)

        @run.def_vmap
        def _run_vmap(axis_size, in_batched, edges, args, consts):
            # The loop already traced above is reused (tracing it again here would
            # trace every level below it again, twice per level); its constants are
            # the same in every row when they arrive batched.
            if axis_size == 0:
                return empty_batch(shapes), (True,) * len(shapes)
            consts = [c[0] if b else c for c, b in zip(consts, in_batched[2])]
            edges = _broadcast(edges, in_batched[0], axis_size)
            args = _broadcast(args, in_batched[1], axis_size)

            def lane(edges, args):
                flat = jax.tree_util.tree_leaves((edges, args))
                return jax.tree_util.tree_unflatten(out_tree, jax.core.eval_jaxpr(closed.jaxpr, consts, *flat))

            return _lane_by_lane(lane, axis_size, edges, args, shapes), (True,) * len(shapes)

        return run(edges, args, list(closed.consts))

    return solve


def _lane_by_lane(plain, size, edges, args, shapes):
    """`vmap(plain)(edges, args)` computed as a loop over the distinct lanes."""
    # Lanes are the same when their inputs are bit for bit: compared in their own
    # dtypes, not cast to the limits' (int64 n and n + 1 near 2^53 are one float64, so
    # are int32 values near 2^24 in float32), and with 0.0 and -0.0 told apart (a
    # function may see the sign: arctan2(±0, -1) = ±π). Bits make NaN equal to itself.
    same = jnp.ones((size, size), dtype=bool)
    for x in jax.tree_util.tree_leaves((edges, args)):
        bits = _bit_rows(x, size)
        same = same & jnp.all(bits[:, None, :] == bits[None, :, :], axis=2)
    first = jnp.argmax(same, axis=1)  # the first lane equal to each lane (itself if none)
    distinct = first == jnp.arange(size)
    order = jnp.nonzero(distinct, size=size, fill_value=0)[0]
    count = jnp.sum(distinct)
    out = jax.tree_util.tree_map(lambda s: jnp.zeros((size,) + s.shape, s.dtype), shapes)

    def step(carry):
        j, out = carry
        i = order[j]
        lane = plain(edges[i], jax.tree_util.tree_map(lambda x: x[i], args))
        return j + 1, jax.tree_util.tree_map(lambda o, y: o.at[i].set(y), out, lane)

    _, out = lax.while_loop(lambda c: c[0] < count, step, (jnp.zeros((), jnp.int32), out))
    return jax.tree_util.tree_map(lambda o: o[first], out)


def _bit_rows(x, size):
    """`x` (leading axis `size`) as rows of unsigned integers holding its bits."""
    x = jnp.reshape(jnp.asarray(x), (size, -1))
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        x = jnp.concatenate([jnp.real(x), jnp.imag(x)], axis=1)
    if jnp.issubdtype(x.dtype, jnp.floating):
        unsigned = {16: jnp.uint16, 32: jnp.uint32, 64: jnp.uint64}[jnp.finfo(x.dtype).bits]
        return lax.bitcast_convert_type(x, unsigned)
    return x.astype(jnp.int32) if x.dtype == jnp.bool_ else x


def _sized(fvec, size):
    """`fvec` with its output size recorded, so that it is never traced just to learn it
    (each trace of a level traces every level inside it again)."""
    fvec.out_size = size
    return fvec


def _joint_integrand(fvec, args, diff):
    """`_quad._derivative_integrand` for an `fvec` of known size, itself of known size:
    x, args -> [f, ∂f/∂θ.ravel()]. Returns (joint, n)."""
    joint, _, n, _ = _derivative_integrand(fvec, args, diff)
    return _sized(joint, fvec.out_size * (1 + n)), n


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 4))
def _level_quad(fvec, a, b, args, options):
    """∫_a^b fvec(x, args) dx, oriented, by the adaptive loop of `quad`; `(value, err,
    neval, code)`. The limits are ordered inside the rule, as in `_quad._quad`."""
    flip, lo, hi = ordered(a, b)
    solve = _sequential_solver(fvec, dict(options, out_size=fvec.out_size))
    value, err, neval, code = solve(jnp.stack([lo, hi]), args)
    return where(flip, -value, value), err, neval, code


# The rule of `quad` (see `_quad._quad_jvp`, whose derivation it follows), for fixed
# limits: for I(θ) = ∫_a^b f(x, θ) dx,
#   dI = ⟨G, dθ⟩,   G = ∫_a^b ∂f/∂θ dx
# (differentiation under the integral sign), with G computed by the same adaptive loop
# on the joint integrand [f, ∂f/∂θ], so that it meets the tolerance itself and higher
# derivatives follow the same rule. The limits of every level are fixed numbers here
# (`_fixed_range` maps a moving range [lo(θ), hi(θ)] onto them, and θ enters through
# the map x = c(θ) + L(θ)·s), so there are no Leibniz terms: their tangents are always
# symbolic zeros. (Differentiating the mapped integrand instead of adding f(hi)·dhi −
# f(lo)·dlo is what makes second derivatives in a moving boundary finite: for a disc of
# radius r, d²/dr² of the Leibniz form has a non-integrable (r² − x²)^(-3/2) at x = ±r,
# while in x = r·(2s − 1) the inner half-width r·√(1 − (2s − 1)²) is linear in r.)
@functools.partial(_level_quad.defjvp, symbolic_zeros=True)
def _level_quad_jvp(fvec, options, primals, tangents):
    a, b, args = primals
    if not (isinstance(tangents[0], SymbolicZero) and isinstance(tangents[1], SymbolicZero)):
        raise AssertionError("jaxgrad.integrate: the limits of an iterated level must be fixed")
    # (The derivative columns are judged on a thousandth of their mass where they cancel,
    # as in `quad`'s rule: `options_with_exact` marks the level's own components. d/dp of
    # ∫₋₁¹∫₋₁¹ (e^(−x²−y²) + p·x) dy dx, 0 by symmetry, ended `roundoff` at epsabs = 0,
    # and `throw=True` made `jax.grad` raise.)
    k = fvec.out_size
    value, err, neval, code, dvalue = integral_and_parameter_tangent(
        lambda g: _level_quad(g, a, b, args, options if g is fvec else options_with_exact(options, k)),
        fvec, args, tangents[2], k, _joint_integrand,
    )
    zero_int = lambda x: np.zeros(np.shape(x), jax.dtypes.float0)  # noqa: E731
    return (value, err, neval, code), (dvalue, jnp.zeros_like(err), zero_int(neval), zero_int(code))


class _Problem:
    """The static description of an iterated integral (hashable: a static argument).

    `func` is the traced integrand f(x₀, x₁, …, x_{n−1}, *args); `ranges[i]` the limits
    of xᵢ (x₀ innermost), each a traced callable of (x_{i+1}, …, x_{n−1}, *args) or
    `None` for a number given in the dynamic data; `options[i]` the loop options of
    level i; `k` the size of f's output."""

    __slots__ = ("func", "ranges", "options", "k", "shape", "val_dtype", "_key")

    def __init__(self, func, ranges, options, val_dtype):
        self.func, self.ranges, self.options, self.val_dtype = func, ranges, options, val_dtype
        self.shape = tuple(func.out_shape.shape)
        self.k = int(np.prod(self.shape, dtype=int))
        self._key = (func, ranges, options, str(val_dtype))

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, _Problem) and self._key == other._key


def _limits(problem, level, xs, data):
    """The two limits of variable `level` at the outer point `xs`."""
    args, _, range_data = data
    out = []
    for spec, value in zip(problem.ranges[level], range_data[level]):
        out.append(value if spec is None else spec(value, *xs, *args))
    dtype = problem.val_dtype
    return jnp.asarray(out[0], dtype), jnp.asarray(out[1], dtype)


def _fixed_range(lo, hi):
    """Fixed limits in s of the map `_point` onto (lo, hi): [1, 2] for a finite range;
    ±1 to ±inf with one infinite limit; (lo, hi) when both are infinite. They carry no
    derivative: lo and hi enter the integrand through the map (see `_level_quad_jvp`).

    The ends are kept away from s = 0 so that `quad`'s end model (which takes over at a
    finite, nonzero end, 2^20 ulps of s from it) handles them: near s = 0 the loop would
    go on sampling s down to 1e-282, where x = lo + L·s has long rounded to lo, and a
    component with an integrable singularity there (the derivative in one limit of a
    disc, ∝ 1/√s) could not converge."""
    lo, hi = lax.stop_gradient(lo), lax.stop_gradient(hi)
    fin_lo, fin_hi = jnp.isfinite(lo), jnp.isfinite(hi)
    s_lo = where(fin_lo, where(fin_hi, 1.0, jnp.sign(hi)), lo)
    s_hi = where(fin_hi, where(fin_lo, 2.0, jnp.sign(lo)), hi)
    return s_lo.astype(lo.dtype), s_hi.astype(lo.dtype)


def _point(s, lo, hi):
    """x(s) and dx/ds of the map from `_fixed_range`'s limits onto (lo, hi).

    Finite range: x = lo + (hi − lo)·(s − 1), formed from the nearer end so that the
    distance to it keeps its precision (s − 1 and 2 − s are exact). One infinite limit:
    x = e + (s ∓ 1) from the finite limit e. Both infinite: x = s. A node that rounds
    onto a finite limit is moved to the neighbouring float inside (as `quad` does with
    its own nodes): a limit function such as √(r² − x²) has an infinite derivative
    there, and its product with a zero tangent of r² − x² would be NaN."""
    fin_lo, fin_hi = jnp.isfinite(lax.stop_gradient(lo)), jnp.isfinite(lax.stop_gradient(hi))
    lo_f, hi_f = where(fin_lo, lo, 0.0), where(fin_hi, hi, 0.0)
    both = fin_lo & fin_hi
    width = where(both, hi_f - lo_f, 1.0)
    x_both = where(s < 1.5, lo_f + width * (s - 1), hi_f - width * (2 - s))
    x_lo = lo_f + (s - jnp.sign(lax.stop_gradient(hi)))  # from lo towards an infinite hi
    x_hi = hi_f + (s - jnp.sign(lax.stop_gradient(lo)))  # from hi towards an infinite lo
    x = where(both, x_both, where(fin_lo, x_lo, where(fin_hi, x_hi, s)))

    # The move changes the node's value only, not its derivative: taken from the limit's
    # neighbour, every node of a range of zero width (all of them round onto both limits)
    # had hi's tangent instead of lo + (hi − lo)(s − 1)'s, and the second derivative of
    # ∫_{0.7}^b eˣ at b = 0.7 came out 2e^0.7 (outside probe).
    beside = where(fin_lo & (x == lo_f), float_beside(lo_f, where(fin_hi, hi_f, hi)), x)
    beside = where(fin_hi & (x == hi_f), float_beside(hi_f, where(fin_lo, lo_f, lo)), beside)
    return x + lax.stop_gradient(beside - x), width


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _zero_if_empty_and_infinite(func, dtype, empty, x, consts, xs, args):
    """f(x) at a node of the innermost level, as a vector, or 0 where the range has zero
    width (`empty`) and f is not finite there.

    Limits that coincide on part of the outer range (∫₀¹∫₀^max(x − ½, 0) y^−½) put every
    node of those inner ranges on the limit, where f may be infinite: 0·inf made the
    result NaN, `nonfinite` (outside probe). Where f is finite it is kept: a range of
    zero width that opens with a parameter (∫₀^{px} at p = 0) has the derivative
    f(limit)·dwidth, and its second derivative needs f's own derivative there. (Where f
    is infinite there the true derivative is infinite too; it comes out 0.)"""
    value = _vector(func, dtype, x, consts, xs, args)
    return where(empty & ~jnp.isfinite(value), jnp.zeros((), dtype), value)


def _vector(func, dtype, x, consts, xs, args):
    """f at `x` (the outer variables `xs`, the user's `args`) as a vector of `dtype`."""
    return jnp.ravel(func(consts, x, *xs, *args)).astype(dtype)


@_zero_if_empty_and_infinite.defjvp
def _zero_if_empty_and_infinite_jvp(func, dtype, primals, tangents):
    # The tangents of the components zeroed are zeroed. Where every component is, so are
    # the tangents going into f's linear map (its derivative there is infinite, and 0·inf
    # = NaN would otherwise reach the limits' derivatives in reverse mode too, which
    # transposes the selects into selects). Where only some are (a vector f), the others
    # keep their tangents: forward mode is right for them, reverse mode may be NaN (a
    # review found their derivative zeroed, silently, when one decision covered all).
    empty, inputs = primals[0], primals[1:]
    value, linear = jax.linearize(functools.partial(_vector, func, dtype), *inputs)
    bad = empty & ~jnp.isfinite(value)
    all_bad = jnp.all(bad)

    def zero(t):
        return t if t.dtype == jax.dtypes.float0 else where(all_bad, jnp.zeros((), t.dtype), t)

    dvalue = linear(*jax.tree_util.tree_map(zero, tangents[1:]))
    return where(bad, jnp.zeros((), dtype), value), where(bad, jnp.zeros((), dtype), dvalue)


def _integrate(problem, level, xs, data):
    """`(value, err, bound, neval, code)` of the integral over x₀ … x_level at the outer
    point `xs` = (x_{level+1}, …). `bound` is ∫ u of the module docstring: what the
    inner integrals' errors may add to `err` (zero for the innermost level)."""
    k, dtype = problem.k, problem.val_dtype
    epsabs = dict(problem.options[level])["epsabs"]
    lo, hi = _limits(problem, level, xs, data)
    undefined = jnp.isnan(lo) | jnp.isnan(hi)
    s_lo, s_hi = _fixed_range(where(undefined, 0.0, lo), where(undefined, 1.0, hi))

    fvec = _level_integrand(problem, level)
    if level == 0:
        fargs = (xs, data)
    else:
        # Scale of the bound and indicator components: small enough that the outer
        # loop's absolute tolerance is never spent on them (see the module docstring);
        # with epsabs = 0 they are integrated like any other component.
        span = jnp.abs(hi - lo)
        span = where(jnp.isfinite(span), span, 1.0)
        scale = lax.stop_gradient(0.01 / (1.0 + span) if epsabs > 0 else jnp.ones((), dtype))
        flag = lax.stop_gradient(scale * epsabs if epsabs > 0 else jnp.ones((), dtype))
        fargs = (xs, data, scale, flag)
    raw, err, neval, code = _level_quad(fvec, s_lo, s_hi, fargs, problem.options[level])
    value, err = nan_if(raw[:k], undefined), where(undefined, jnp.nan, err[:k])
    bound = jnp.zeros((k,), dtype)
    if level > 0:
        bound = lax.stop_gradient(jnp.abs(raw[k : 2 * k]) / scale)
        seen = lax.stop_gradient(raw[2 * k :]) != 0
        worst = jnp.max(where(seen, jnp.arange(1, _NCODES + 1), 0))
        code = jnp.maximum(code, worst)
    code = where(undefined, NAN_LIMITS, code).astype(jnp.int32)
    return value, err, bound, neval, code


@functools.lru_cache(maxsize=256)
def _level_integrand(problem, level):
    """The integrand of level `level`'s loop, x_level -> [the integral of the levels
    inside, their error bound and status indicators] (see `_integrate`). One function per
    problem and level, so that an eager call's compiled evaluation of it is found again
    (`_eager_loop`)."""
    k, dtype = problem.k, problem.val_dtype

    def point(s, xs_now, data_now):
        # The limits are computed again from the inputs here rather than passed in: the
        # derivative is taken per input leaf (`_derivative_integrand`), and a limit
        # passed as its own leaf would be differentiated apart from the parameter it
        # moves with (see "Moving regions" in docs/quadrature.md).
        lo, hi = _limits(problem, level, xs_now, data_now)
        bad = jnp.isnan(lo) | jnp.isnan(hi)
        return _point(s, replace_invalid(lo, bad, 0.0), replace_invalid(hi, bad, 1.0))

    if level == 0:

        def fvec(s, all_args):
            xs_now, data_now = all_args
            args, consts, _ = data_now
            x, length = point(s, xs_now, data_now)
            # A range of zero width contributes 0 also where f is infinite (or NaN) at
            # its limit (`_zero_if_empty_and_infinite`).
            return length * _zero_if_empty_and_infinite(problem.func, dtype, length == 0, x, consts, xs_now, args)

        return _sized(fvec, k)
    inner = dict(problem.options[level - 1])

    def fvec(s, all_args):
        xs_now, data_now, scale, flag = all_args
        x, length = point(s, xs_now, data_now)
        value, err, bound, _, code = _integrate(problem, level - 1, (x,) + xs_now, data_now)
        # An inner loop that stopped with an infinite error but a finite value (an
        # isolated singular point of f that it cannot see past: `roundoff`) counts as
        # 100 % of its value here: as inf, u made the outer total, and the whole
        # integral, NaN (`nonfinite`; ∫∫ |x − y|^(−½) over the unit square, found by
        # an outside probe). Its status still reaches the result.
        err = where(jnp.isinf(err) & jnp.isfinite(value), jnp.abs(value), err)
        u = (jnp.maximum(err, inner["epsrel"] * jnp.abs(value)) + bound) * jnp.abs(length)
        failed = (code == jnp.arange(1, _NCODES + 1)).astype(dtype)
        extra = jnp.concatenate([scale * u, flag * failed])
        return jnp.concatenate([length * value, lax.stop_gradient(extra)])

    return _sized(fvec, 2 * k + _NCODES)


def _nquad_body(problem, throw, args, consts, range_data):
    n = len(problem.ranges)
    value, err, bound, neval, code = _integrate(problem, n - 1, (), (args, consts, range_data))
    err = err + bound
    # An outer range with no float inside: `roundoff`, error unknown (as in `quad`).
    unresolved = one_float_apart(*_limits(problem, n - 1, (), (args, consts, range_data)))
    code, err = unresolved_status(unresolved, code, err)
    status = status_from_code(code)
    value = value.reshape(problem.shape)
    if throw:  # (the public function's name)
        value = raise_if(value, status, code != 0, throw)
    return value, QuadInfo(err=err.reshape(problem.shape), neval=neval, status=status)


# The compiled core, cached per problem as `quad`'s is (see `jaxgrad._traced`). From
# eager code the same steps run unjitted, the outermost level's loop pass by pass
# (`_sequential_solver`), so that a new integrand compiles only that loop's integrand:
# the levels inside it.
_nquad_compiled = jit_core(static_argnums=(0, 1))(_nquad_body)


def _options(fn, opts, n):
    """Per-level loop options from `opts` (None, a dict, or one dict per level)."""
    if opts is None or isinstance(opts, dict):
        opts = [opts or {}] * n
    elif not isinstance(opts, (list, tuple)) or len(opts) != n:
        raise ValueError(f"{fn}: `opts` must be a dict or a sequence of {n} dicts (one per variable); got {opts!r}.")
    out = []
    for o in opts:
        if not isinstance(o, dict):
            raise TypeError(f"{fn}: each entry of `opts` must be a dict; got {type(o).__name__}.")
        unknown = set(o) - {"epsabs", "epsrel", "limit"}
        if unknown:
            raise ValueError(f"{fn}: unknown option(s) {sorted(unknown)}; supported: epsabs, epsrel, limit.")
        out.append(
            (
                ("limit", _check_limit(o.get("limit", _DEFAULT_LIMIT), fn)),
                ("epsabs", _check_tolerance("epsabs", o.get("epsabs", 1.49e-8), fn)),
                ("epsrel", _check_tolerance("epsrel", o.get("epsrel", 1.49e-8), fn)),
                ("nsplit", _NSPLIT),
            )
        )
    return tuple(out)


def _nquad(fn, func, ranges, args, opts, throw, limit_names=None):
    """Checks, traces and runs an iterated integral in `nquad`'s convention.
    `limit_names[i]` names the two limits of `ranges[i]` in messages, as the caller's
    user wrote them (`dblquad`'s `gfun`, ...)."""
    if not callable(func):
        raise TypeError(f"{fn}: `func` must be callable; got {type(func).__name__}.")
    throw = as_flag(fn, "throw", throw)
    if not isinstance(args, tuple):
        args = (args,)
    ranges = list(ranges)
    n = len(ranges)
    if n < 1:
        raise ValueError(f"{fn}: `ranges` must hold at least one (lower, upper) pair.")
    options = _options(fn, opts, n)
    numbers_seen = []
    # A pair may also be an array of two limits, as scipy accepts (outside probe).
    ranges = [tuple(r) if isinstance(r, (np.ndarray, jax.Array)) and np.shape(r) == (2,) else r for r in ranges]
    for i, r in enumerate(ranges):
        if not callable(r) and (not isinstance(r, (tuple, list)) or len(r) != 2):
            raise ValueError(f"{fn}: ranges[{i}] must be a (lower, upper) pair or a callable; got {r!r}.")
        if not callable(r):
            for x in r:
                if not callable(x):
                    numbers_seen.append(x)
    for x in numbers_seen:
        if np.ndim(x) != 0:
            raise ValueError(f"{fn}: every limit must be a scalar; got an array of shape {np.shape(x)}.")
    dtype = real_dtype(fn, "the limits", *numbers_seen)
    scalar = jax.ShapeDtypeStruct((), dtype)

    def traced(name, g, nouter):
        try:
            t, c = trace(g, *([scalar] * nouter), *args)
        except TypeError as e:
            raise TypeError(f"{fn}: calling {name} failed: {e}") from e
        out = t.out_shape
        real = getattr(out, "dtype", None) is not None and jnp.issubdtype(out.dtype, jnp.number)
        if getattr(out, "shape", None) != () or not real or jnp.issubdtype(out.dtype, jnp.complexfloating):
            raise ValueError(f"{fn}: {name} must return a real scalar; got {out!r}.")
        return t, c

    specs, range_data = [], []
    for i, r in enumerate(ranges):
        nouter = n - 1 - i
        if callable(r):
            # A callable range returns both limits: one traced callable for each. (One
            # returning three values had the first two used, silently; outside probe.)
            try:
                both = jax.eval_shape(r, *([scalar] * nouter), *args)
            except TypeError as e:
                raise TypeError(f"{fn}: calling ranges[{i}] failed: {e}") from e
            if not (isinstance(both, (tuple, list)) and len(both) == 2 or getattr(both, "shape", None) == (2,)):
                got = f"{len(both)} values" if isinstance(both, (tuple, list)) else repr(both)
                raise ValueError(f"{fn}: ranges[{i}] must return a (lower, upper) pair; got {got}.")
            pair = tuple(lambda *z, r=r, j=j: r(*z)[j] for j in (0, 1))
        else:
            pair = tuple(r)
        spec, data = [], []
        for j, x in enumerate(pair):
            if callable(x):
                name = limit_names[i][j] if limit_names else f"the {('lower', 'upper')[j]} limit of ranges[{i}]"
                t, c = traced(name, x, nouter)
                spec.append(t)
                data.append(c)
            else:
                spec.append(None)
                data.append(jnp.asarray(x, dtype) if isinstance(x, numbers.Number) else x)
        specs.append(tuple(spec))
        range_data.append(tuple(data))
    try:
        f_traced, consts = trace(func, *([scalar] * n), *args)
    except TypeError as e:
        raise TypeError(f"{fn}: calling func with {n} scalar variables failed: {e}") from e
    out = f_traced.out_shape
    out_dtype = getattr(out, "dtype", None)
    if out_dtype is None or not jnp.issubdtype(out_dtype, jnp.number) or jnp.issubdtype(out_dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: `func` must return a real array or scalar; got {out!r}.")
    check_nonempty(fn, out, "func")
    problem = _Problem(f_traced, tuple(specs), options, jnp.result_type(dtype, out_dtype))
    if _eager_loop.usable(args, consts, range_data):
        return _nquad_body(problem, fn if throw else False, args, consts, tuple(range_data))
    statics, dynamic = (problem, fn if throw else False), (args, consts, tuple(range_data))
    if batched_eagerly():
        # `jax.vmap` from eager code: a few batch sizes compiled (`jaxgrad._buckets`),
        # the padded lanes repeating the last one.
        return in_buckets(_nquad_compiled, statics, dynamic, 0)
    return _nquad_compiled(*statics, *dynamic)


def _limit_fn(g, reorder=False):
    """A limit of dblquad/tplquad as an nquad range entry: a number stays a number; a
    callable g(x) or g(x, y) (outer variable first, as in scipy) is called with the
    outer variables in nquad's order (innermost first) and without `args`.

    `g` is a default argument, not a closure cell: a cell holding a function is part of
    the cache key by identity (`jaxgrad._traced`), so a lambda re-created at every call,
    as in `dblquad(f, 0, 1, lambda x: 0, lambda x: x)`, would re-compile every time; the
    wrapper's traced program text identifies what `g` computes instead."""
    if not callable(g):
        return g
    if reorder:
        return lambda y, x, *args, g=g: g(x, y)
    return lambda x, *args, g=g: g(x)


@readable_errors
def nquad(
    func: Callable[..., ArrayLike],
    ranges: Sequence[Any],
    args: tuple[Any, ...] = (),
    opts: dict | Sequence[dict] | None = None,
    *,
    throw: bool = False,
) -> tuple[Float[Array, "*shape"], QuadInfo]:
    r"""Iterated integral over a region whose inner limits depend on the outer variables, with exact derivatives.

    $\int \cdots \int f(x_0, x_1, \ldots, x_{n-1}, \text{args})\,dx_0 \cdots dx_{n-1}$
    in the convention of `scipy.integrate.nquad`: `ranges[0]` gives the limits of the
    innermost variable $x_0$ and may depend on $x_1, \ldots, x_{n-1}$ and `args`;
    `ranges[-1]` gives the outermost limits. Every level is the adaptive loop of
    [`quad`][jaxgrad.integrate.quad]; derivatives with respect to `args`, to values that
    `func` or the limit callables close over, and to the limits (each level's range is
    mapped onto fixed limits, so a moving limit is differentiated under the integral
    sign: what the Leibniz rule gives at first order, and finite at second order where
    the Leibniz form is not) are themselves iterated integrals with their own error
    control, forward and reverse, to any order, under `jax.jit` and `jax.vmap`.

    The map puts `func`'s derivative along a moving range into the derivative
    integrand, so a limit derivative assumes `func` smooth inside that range: a jump
    at a fixed point inside it (a density of 1 and 2 on either side of x = 0.5) is
    lost and the derivative is wrong with status `converged` (d/db of
    ∫₀ᵇ∫₀¹ [x > ½] at b = 0.8: 0.375, not 1); a kink spoils second derivatives; an
    integrable singularity at a fixed interior point (|x − c|^(−½)) gives a
    non-integrable derivative integrand, off by 4e-9 at epsrel 1e-10 (converged) or far
    more (flagged `roundoff`, with an estimate that does not cover it). Split the range
    at such a point, so that it is a limit that does not move: `nquad(f, [..., (a, c)])
    + nquad(f, [..., (c, b)])` (then all three are exact). See docs/quadrature.md,
    "Moving regions".

    Arguments:
        func: the integrand `func(x0, x1, ..., *args)`, returning a real scalar or array
            (same shape everywhere).
        ranges: one entry per variable, innermost first: a pair `(lower, upper)` whose
            items are numbers (finite or `±inf`, static or traced) or callables
            `g(x_{i+1}, ..., x_{n-1}, *args)` returning a scalar, or a callable
            returning the pair. Derivatives flow through the limits, through `args`
            and through arrays the callables close over.
        args: extra arguments of `func` and of the limit callables (a tuple of pytrees).
        opts: loop options, `dict(epsabs=1.49e-8, epsrel=1.49e-8, limit=200)` for every
            level, or a sequence of such dicts, innermost first. Each level stops when
            its own error estimate is within `max(epsabs, epsrel * |value|)`.
        throw: if `True`, a status other than `STATUS.converged` raises at run time.

    Returns:
        `(value, info)` as [`quad`][jaxgrad.integrate.quad]. `info.err` is the outer
        loop's estimate plus the integral of the inner integrals' error bounds (see
        "Integrals over non-rectangular regions" in docs/quadrature.md); `info.status`
        is the worst status of any level; `info.neval` counts the outermost integrand's
        evaluations (each one an inner integral).

    Raises:
        TypeError: `func` is not callable or returns complex or non-numeric values, or
            a limit callable cannot be called with the outer variables and `args`.
        ValueError: a range is not a pair or callable, a limit is not a scalar, or an
            option is unknown or out of range.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.integrate import nquad
        >>> def ball(r):  # volume of the ball of radius r: 4πr³/3
        ...     w = lambda s: jnp.sqrt(jnp.maximum(s, 0.0))
        ...     ranges = [lambda y, x, r: (-w(r*r - x*x - y*y), w(r*r - x*x - y*y)),
        ...               lambda x, r: (-w(r*r - x*x), w(r*r - x*x)), (-r, r)]
        ...     return nquad(lambda z, y, x, r: 1.0, ranges, (r,), dict(epsrel=1e-5))[0]
        >>> print(f"{ball(1.0):.5f}")
        4.18879
    """
    return _nquad("jaxgrad.integrate.nquad", func, ranges, args, opts, throw)


@readable_errors
def dblquad(
    func: Callable[..., ArrayLike],
    a: ArrayLike,
    b: ArrayLike,
    gfun: Callable[[Any], ArrayLike] | ArrayLike,
    hfun: Callable[[Any], ArrayLike] | ArrayLike,
    args: tuple[Any, ...] = (),
    *,
    epsabs: float = 1.49e-8,
    epsrel: float = 1.49e-8,
    limit: int = _DEFAULT_LIMIT,
    throw: bool = False,
) -> tuple[Float[Array, "*shape"], QuadInfo]:
    r"""Double integral $\int_a^b \int_{g(x)}^{h(x)} f(y, x)\,dy\,dx$ with exact, error-controlled derivatives.

    The argument order of `scipy.integrate.dblquad`. Both levels are the adaptive loop
    of [`quad`][jaxgrad.integrate.quad] (see [`nquad`][jaxgrad.integrate.nquad] for
    the general case): derivatives with respect to `args`, to closed-over values, to
    `a`, `b` and to parameters of `gfun`, `hfun` (a region that moves) are iterated
    integrals with their own error control (a moving range is mapped onto fixed
    limits, as in `nquad`, which assumes `func` smooth inside a range whose limit
    moves: split it at a jump or a singular point, see `nquad`).

    Arguments:
        func: the integrand `func(y, x, *args)` (inner variable first), returning a
            real scalar or array.
        a: lower limit of x: a real scalar, finite or infinite, static or traced.
        b: upper limit of x, likewise.
        gfun: lower limit of y: a callable `gfun(x)` returning a scalar, or a number.
            Parameters it needs are closed over (they are differentiated).
        hfun: upper limit of y, likewise.
        args: extra arguments of `func`.
        epsabs: absolute tolerance of each level.
        epsrel: relative tolerance of each level.
        limit: maximum number of subintervals of each level.
        throw: if `True`, a status other than `STATUS.converged` raises at run time.

    Returns:
        `(value, info)` as [`nquad`][jaxgrad.integrate.nquad].

    Raises:
        TypeError, ValueError: as [`nquad`][jaxgrad.integrate.nquad].

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.integrate import dblquad
        >>> def disc(r):  # ∫∫ over x² + y² ≤ r² of e^-(x² + y²) = π (1 - e^-r²)
        ...     h = lambda x: jnp.sqrt(jnp.maximum(r * r - x * x, 0.0))
        ...     f = lambda y, x: jnp.exp(-(x * x + y * y))
        ...     return dblquad(f, -r, r, lambda x: -h(x), h, epsrel=1e-6)[0]
        >>> print(f"{disc(1.0):.5f} {jax.grad(disc)(1.0):.5f}")  # 2πr e^-r² = 2.31145
        1.98587 2.31145
    """
    fn = "jaxgrad.integrate.dblquad"
    opts = dict(epsabs=epsabs, epsrel=epsrel, limit=limit)
    ranges = [(_limit_fn(gfun), _limit_fn(hfun)), (a, b)]
    return _nquad(fn, func, ranges, args, opts, throw, [("gfun", "hfun"), ("a", "b")])


@readable_errors
def tplquad(
    func: Callable[..., ArrayLike],
    a: ArrayLike,
    b: ArrayLike,
    gfun: Callable[[Any], ArrayLike] | ArrayLike,
    hfun: Callable[[Any], ArrayLike] | ArrayLike,
    qfun: Callable[[Any, Any], ArrayLike] | ArrayLike,
    rfun: Callable[[Any, Any], ArrayLike] | ArrayLike,
    args: tuple[Any, ...] = (),
    *,
    epsabs: float = 1.49e-8,
    epsrel: float = 1.49e-8,
    limit: int = _DEFAULT_LIMIT,
    throw: bool = False,
) -> tuple[Float[Array, "*shape"], QuadInfo]:
    r"""Triple integral $\int_a^b \int_{g(x)}^{h(x)} \int_{q(x,y)}^{r(x,y)} f\,dz\,dy\,dx$ with exact derivatives.

    The argument order of `scipy.integrate.tplquad`; otherwise as
    [`dblquad`][jaxgrad.integrate.dblquad].

    Arguments:
        func: the integrand `func(z, y, x, *args)` (innermost variable first).
        a: lower limit of x (a scalar, finite or infinite, static or traced).
        b: upper limit of x.
        gfun: lower limit of y: `gfun(x)` or a number.
        hfun: upper limit of y: `hfun(x)` or a number.
        qfun: lower limit of z: `qfun(x, y)` (outer variable first, as in scipy) or a number.
        rfun: upper limit of z: `rfun(x, y)` or a number.
        args: extra arguments of `func`.
        epsabs: absolute tolerance of each level.
        epsrel: relative tolerance of each level.
        limit: maximum number of subintervals of each level.
        throw: if `True`, a status other than `STATUS.converged` raises at run time.

    Returns:
        `(value, info)` as [`nquad`][jaxgrad.integrate.nquad].

    Raises:
        TypeError, ValueError: as [`nquad`][jaxgrad.integrate.nquad].

    Example:
        >>> from jaxgrad.integrate import tplquad
        >>> # the simplex x, y, z ≥ 0, x + y + z ≤ 1: ∫ xyz = 1/720
        >>> v, info = tplquad(lambda z, y, x: x * y * z, 0.0, 1.0, 0.0, lambda x: 1 - x,
        ...                   0.0, lambda x, y: 1 - x - y, epsrel=1e-4)
        >>> print(f"{1 / v:.1f}", bool(info.converged))
        720.0 True
    """
    fn = "jaxgrad.integrate.tplquad"
    opts = dict(epsabs=epsabs, epsrel=epsrel, limit=limit)
    ranges = [(_limit_fn(qfun, True), _limit_fn(rfun, True)), (_limit_fn(gfun), _limit_fn(hfun)), (a, b)]
    return _nquad(fn, func, ranges, args, opts, throw, [("qfun", "rfun"), ("gfun", "hfun"), ("a", "b")])
