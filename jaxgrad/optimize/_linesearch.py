"""A strong-Wolfe line search that evaluates the objective once per trial step.

The conditions and the bracketing/zoom logic are those of Nocedal & Wright 2006,
"Numerical Optimization" (2nd ed.), Algorithms 3.5 and 3.6, with the cubic step of
their eq. (3.59) and the approximate sufficient-decrease test of Hager & Zhang 2006,
"Algorithm 851: CG_DESCENT", eq. (23) (with |f| tolerance as in their eqs. (26)–(27)),
which lets the search accept steps near a minimum where rounding hides the decrease.

Why not `optax.scale_by_zoom_linesearch`, which implements the same conditions: it calls
the objective and its gradient in both branches of a `lax.cond` (bracketing and zoom)
and its interpolation keeps several fallbacks: a larger loop to compile. Here the two
phases are one: with the upper end of the bracket at +∞ until a bracket is found,
Algorithm 3.5's rules are Algorithm 3.6's, so each iteration evaluates the trial step
once, updates the bracket with the same three rules, and chooses the next trial
(doubling while unbracketed, else the cubic clipped 10% inside the bracket). `minimize`
with it compiles about 30% faster (bench/RESULTS.md, "minimize's line search").

Invariant (N&W lemma 3.5's setting): `lo` is the step with the lowest value among those
that satisfied sufficient decrease (step 0 at the start), and the slope at `lo` points
towards `hi`. So when the search stops without meeting the curvature condition, `lo` is
still a descent step and is returned; if it is step 0 the search failed, the update is
zero and `info.decrease_error > 0` reports it.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import Array, Float, Int

from .._options import as_real
from .._where import where


class WolfeLinesearchInfo(NamedTuple):
    """Diagnostics of the last search: trials evaluated, and how far the returned step is
    from the decrease and curvature conditions (0 when met; a decrease error of `inf`
    when no step with sufficient decrease was found and the update is zero)."""

    num_linesearch_steps: Int[Array, ""]
    decrease_error: Float[Array, ""]
    curvature_error: Float[Array, ""]


class ScaleByWolfeLinesearchState(NamedTuple):
    """State of `scale_by_wolfe_linesearch`: the accepted step, and the value and gradient
    at the new parameters (which `optax.value_and_grad_from_state` and `minimize` reuse)."""

    learning_rate: Float[Array, ""]
    value: Float[Array, ""]
    grad: Any
    info: WolfeLinesearchInfo


def _cubic_step(t_lo, f_lo, s_lo, t_hi, f_hi, s_hi):
    """Minimiser of the cubic through (t, f, f') at both ends (N&W eq. 3.59); NaN if none."""
    d1 = s_lo + s_hi - 3 * (f_lo - f_hi) / (t_lo - t_hi)
    d2 = jnp.sign(t_hi - t_lo) * jnp.sqrt(d1 * d1 - s_lo * s_hi)  # NaN when the radicand < 0
    return t_hi - (t_hi - t_lo) * (s_hi + d2 - d1) / (s_hi - s_lo + 2 * d2)


def _moved(params, t, updates):
    """params + t·updates, and params itself at t = 0 (where 0·d is NaN for a non-finite
    direction d: the first pass, which only evaluates f at params, reported `nonfinite`
    after Adam with eps = 0 divided 0 by 0 in one coordinate; outside probe)."""
    return jax.tree_util.tree_map(lambda x, d: where(t == 0, x, x + t.astype(d.dtype) * d), params, updates)


# Past trials that left x where it was, a step must not lower f by more than this many
# times what the slope predicts (the rest is rounding in evaluating f; x moves by up to
# an ulp more than the step asked for).
_NOISE = 8


def all_leaves(test, *trees):
    """Whether `test` holds at every entry of every leaf (of the trees' leaves taken
    side by side: `all_leaves(jnp.equal, x, y)` compares two pytrees)."""
    leaves = zip(*(jax.tree_util.tree_leaves(t) for t in trees))
    return functools.reduce(jnp.logical_and, [jnp.all(test(*ls)) for ls in leaves], jnp.asarray(True))


def scale_by_wolfe_linesearch(
    max_linesearch_steps: int = 20,
    *,
    c1: float = 1e-4,
    c2: float = 0.9,
    approx_decrease_rtol: float = 1e-6,
    growth: float = 2.0,
    min_interval: float = 1e-5,
) -> optax.GradientTransformationExtraArgs:
    """Scale an update by a step satisfying the strong Wolfe conditions, one evaluation per trial.

    A drop-in for `optax.scale_by_zoom_linesearch` (same conditions, same defaults as
    `optax.lbfgs` uses) whose compiled loop holds the objective once instead of twice.
    For a direction `d` (the incoming update) at `x`, with `φ(t) = f(x + t d)`, it
    looks for `t` with

    - sufficient decrease: `φ(t) ≤ φ(0) + c1·t·φ'(0)`, or, near a minimum where rounding
      hides the decrease, `φ'(t) ≤ (2c1 − 1)·φ'(0)` and `φ(t) ≤ φ(0) + approx_decrease_rtol·|φ(0)|`;
    - curvature: `|φ'(t)| ≤ c2·|φ'(0)|`.

    Trials start at `t = 1` and double until a bracket is found, then shrink it by
    cubic interpolation, clipped to stay 10% inside the bracket (bisection when the
    cubic has no minimum). A trial that rounds onto the point of the best step so far
    tells nothing and is grown past; after such trials at `x` itself a step must lower
    `f` by what its slope predicts, at least `c1` and at most 8 times `t·φ'(0)` (not the
    approximate test: at a minimum whose gradient is at rounding level the search then
    ends on the step that did not move, where rounding in `f` made runs cycle).
    A non-finite value or slope counts as too long a step. When the search runs out of
    trials (or the bracket is narrower than `min_interval`) it returns the best step with
    sufficient decrease; if there is none, a zero update with `info.decrease_error > 0`.
    When `value` is NaN or infinite ("not known yet"), `update` only evaluates `f` and
    its gradient at `params` (stored in the state) and returns a zero update:
    `minimize` starts its loop this way, so that `f` is compiled into it once.

    Arguments:
        max_linesearch_steps: trials per search (objective evaluations).
        c1: sufficient-decrease constant.
        c2: curvature constant (`c1 < c2 < 1`).
        approx_decrease_rtol: relative tolerance on `φ(t) ≤ φ(0)` of the approximate test
            (0 turns the approximate test off).
        growth: factor by which an unbracketed trial step grows.
        min_interval: stop once a bracket is this narrow and a step with sufficient
            decrease is known.

    Returns:
        An `optax.GradientTransformationExtraArgs` whose `update` takes `value`, `grad`
        (at `params`) and `value_fn`, and passes its other keyword arguments on to
        `value_fn` (`update(..., value_fn=f, target=t)` searches on `f(x, target=t)`),
        as Optax line searches do; one that `value_fn` does not take is a `TypeError`.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from jaxgrad.optimize import minimize, scale_by_wolfe_linesearch
        >>> opt = optax.lbfgs(memory_size=5, linesearch=scale_by_wolfe_linesearch())
        >>> f = lambda x: jnp.sum((x - jnp.arange(3.0)) ** 2)
        >>> print(minimize(f, jnp.zeros(3), optimizer=opt).x)
        [0. 1. 2.]
    """
    if not 0 < c1 < c2 < 1:
        raise ValueError(f"scale_by_wolfe_linesearch: need 0 < c1 < c2 < 1; got c1={c1!r}, c2={c2!r}.")
    # (None, inf and True were JAX's or Python's errors or accepted; outside probe.)
    steps_ok = isinstance(max_linesearch_steps, numbers.Real) and not isinstance(max_linesearch_steps, bool)
    if not (steps_ok and np.isfinite(max_linesearch_steps) and int(max_linesearch_steps) == max_linesearch_steps
            and max_linesearch_steps >= 1):
        raise ValueError(
            f"scale_by_wolfe_linesearch: max_linesearch_steps must be a positive integer; got {max_linesearch_steps!r}."
        )
    if not (as_real(growth) is not None and 1 < as_real(growth) < np.inf):
        raise ValueError(f"scale_by_wolfe_linesearch: growth must be a finite number > 1; got {growth!r}.")
    if not (approx_decrease_rtol >= 0 and min_interval >= 0):
        raise ValueError("scale_by_wolfe_linesearch: approx_decrease_rtol and min_interval must be >= 0.")
    max_linesearch_steps = int(max_linesearch_steps)

    def init_fn(params) -> ScaleByWolfeLinesearchState:
        dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
        real = jnp.finfo(dtype).dtype
        zero = jnp.zeros((), real)
        return ScaleByWolfeLinesearchState(
            learning_rate=jnp.ones((), real),
            value=jnp.full((), jnp.inf, real),
            grad=optax.tree.zeros_like(params),
            info=WolfeLinesearchInfo(jnp.zeros((), jnp.int32), zero, zero),
        )

    def update_fn(updates, state, params, *, value, grad, value_fn: Callable[..., Any], **extra_args):
        fn_kwargs = _value_fn_kwargs(value_fn, extra_args)
        real = state.value.dtype
        f0 = jnp.asarray(value, real)
        # `value` NaN or infinite means "not known yet": evaluate f and ∇f at `params`
        # once and return a zero update, so that a solver loop can get them at its
        # starting point through the one evaluation compiled here.
        start = ~jnp.isfinite(f0)
        s0 = optax.tree.real(optax.tree.vdot(updates, grad)).astype(real)
        value_and_grad = jax.value_and_grad(functools.partial(value_fn, **fn_kwargs) if fn_kwargs else value_fn)

        def errors(t, f, s, approximate=True):
            """(decrease error, curvature error), each ≤ 0 when its condition holds.
            `approximate=False`: sufficient decrease, but no more than `_NOISE` times
            what the slope predicts (t·φ'(0)), instead of the approximate test."""
            armijo = f - f0 - c1 * t * s0
            approx = jnp.maximum(s - (2 * c1 - 1) * s0, f - f0 - approx_decrease_rtol * jnp.abs(f0))
            dec = jnp.minimum(armijo, approx) if approx_decrease_rtol > 0 else armijo
            strict = jnp.maximum(armijo, _NOISE * t * s0 - (f - f0))
            dec = where(approximate, dec, strict)
            dec = where(jnp.isfinite(f) & jnp.isfinite(s), dec, jnp.inf)
            return dec, jnp.abs(s) - c2 * jnp.abs(s0)

        # carry: trials so far, next trial t, lo = (t, f, f', ∇f), hi = (t, f, f'), done.
        zero = jnp.zeros((), real)
        inf = jnp.full((), jnp.inf, real)
        lo0 = (zero, f0, s0, grad)
        carry0 = (jnp.zeros((), jnp.int32), where(start, 0.0, 1.0).astype(real), lo0, (inf, inf, inf),
                  jnp.asarray(False))

        def cond(carry):
            k, _, lo, hi, done = carry
            narrow = jnp.isfinite(hi[0]) & (jnp.abs(hi[0] - lo[0]) <= min_interval) & (lo[0] > 0)
            # s0 < 0: only a descent direction can be searched (NaN s0 fails this too).
            return (k < max_linesearch_steps) & ~done & ~narrow & ((s0 < 0) | start)

        def body(carry):
            k, t, lo, hi, _ = carry
            t_lo, f_lo, s_lo, _ = lo
            point, lo_point = _moved(params, t, updates), _moved(params, t_lo, updates)
            f, g = value_and_grad(point)
            f = jnp.asarray(f, real)
            s = optax.tree.real(optax.tree.vdot(g, updates)).astype(real)
            # A trial that rounds onto lo's point tells nothing: it is not "too far"
            # (f ≥ f_lo below) but as good as lo, and the search grows past it. Taken as
            # too far, it bracketed the search at a point that never moves: L-BFGS's
            # curvature pair from a step over which the gradient fell by e^-20 scaled the
            # direction below half an ulp of x = 1e8, every trial rounded onto x, and
            # `minimize` saw the standstill of a minimum 0.14 from it, with ‖∇f‖ = 19
            # (outside probe). Past such trials (lo a step > 0 that left x where it was)
            # a step must lower f as the slope says it would, neither less (Armijo's
            # test, not the approximate one) nor far more: review, twice, at minima
            # whose gradient is at rounding level (x near 3.6e6 and 6.4e5), where the
            # first trial to move raised f within the approximate test's 1e-6·|f|, and
            # another, grown past unmoved trials, lowered it by 1 to 31 ulps, 1,500
            # times what the slope predicts (rounding in evaluating f, not descent):
            # the runs went back and forth between two floats until `max_steps`. (In
            # the case above the first trial to move lowers f by what the slope says.)
            # There the search ends on the step that did not move, as before. An unmoved
            # trial whose larger step no longer passes the test (Armijo's alone,
            # `approx_decrease_rtol=0`) leaves lo as it is; the search still grows past it.
            unmoved = all_leaves(jnp.equal, point, lo_point)
            t_hi = hi[0]
            # (lo at x after trials: a step > 0 that did not move it, or, where unmoved
            # trials failed the test and left lo at 0, any trial before a bracket.)
            past_unmoved = all_leaves(jnp.equal, lo_point, params) & ((t_lo > 0) | ((k > 0) & ~jnp.isfinite(t_hi)))
            dec, curv = errors(t, f, s, ~past_unmoved)
            # N&W Algorithm 3.6 (and 3.5, with t_hi = +∞ while unbracketed):
            # (At the first trial f ≥ f_lo is allowed: the approximate test may accept a
            # step whose value rounding puts at or just above φ(0).)
            done = start | ((dec <= 0) & (curv <= 0))  # strong Wolfe: accept t
            too_far = ~done & ~unmoved & ((dec > 0) | ((f >= f_lo) & (k > 0)))  # → t is the new hi
            keep_lo = too_far | (~done & unmoved & (dec > 0))  # (the start pass always takes its point)
            flip = ~too_far & (s * (t_hi - t_lo) >= 0)  # slope at t points back past lo: hi = lo
            new_hi = jax.tree_util.tree_map(
                lambda a, b, c: where(too_far, a, where(flip, b, c)), (t, f, s), (t_lo, f_lo, s_lo), hi
            )
            new_lo = jax.tree_util.tree_map(lambda a, b: where(keep_lo, b, a), (t, f, s, g), lo)
            # Next trial: grow while unbracketed; else the cubic's minimiser, clipped to
            # stay 10% inside the bracket (so a minimum far below the bracket's scale
            # is approached by factors of 10, not 2), or the midpoint when the cubic
            # has no minimum (non-finite values at hi included).
            a, b = new_lo[0], new_hi[0]
            width = jnp.abs(b - a)
            lower, upper = jnp.minimum(a, b) + 0.1 * width, jnp.maximum(a, b) - 0.1 * width
            cubic = _cubic_step(a, new_lo[1], new_lo[2], b, new_hi[1], new_hi[2])
            t_next = where(
                jnp.isfinite(b),
                where(jnp.isfinite(cubic), jnp.clip(cubic, lower, upper), (a + b) / 2),
                growth * jnp.maximum(a, t),
            )
            return k + 1, t_next, new_lo, new_hi, done

        k, _, lo, _, _ = lax.while_loop(cond, body, carry0)
        t, f, s, g = lo
        dec, curv = errors(t, f, s)
        # Step 0 means no step with sufficient decrease was found (or d was no descent
        # direction): report it as an infinite decrease error.
        dec = where(start, 0.0, where(t > 0, jnp.maximum(dec, 0.0), jnp.inf))
        info = WolfeLinesearchInfo(k, dec, where(start, 0.0, jnp.maximum(curv, 0.0)))
        new_state = ScaleByWolfeLinesearchState(learning_rate=t, value=f, grad=g, info=info)
        step = jax.tree_util.tree_map(lambda d: where(t == 0, jnp.zeros_like(d), t.astype(d.dtype) * d), updates)
        return step, optax.tree.cast_like(new_state, other_tree=state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _value_fn_kwargs(value_fn, extra_args):
    """The keyword arguments of `update` that `value_fn` takes, by name (all of them if
    it takes `**kwargs`), as Optax's line searches pass them; any other raises, as
    there. They were dropped, and a search on `f(x, target=...)` ran on f's default
    target: L-BFGS stopped where ∇f = (−1.9, 1.4), silently (outside probe)."""
    if not extra_args:
        return {}
    try:
        parameters = inspect.signature(value_fn).parameters
    except (TypeError, ValueError):  # (a callable without a signature: pass them all)
        return dict(extra_args)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(extra_args)
    unused = sorted(k for k in extra_args if k not in parameters)
    if unused:
        raise TypeError(
            f"scale_by_wolfe_linesearch: keyword arguments of `update` that `value_fn` does not take: {unused}."
        )
    return dict(extra_args)
