"""`minimize`: an Optax optimizer run to convergence in one compiled loop, differentiated implicitly."""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import ArrayLike, PyTree

from .._loop import while_loop
from .._nan import nan_derivatives_if
from .._options import as_flag
from .._power_of_two import power_of_two_scale
from .._errors import readable_errors
from .._throw import raise_if
from .._traced import trace
from .._where import where
from . import _status as st
from ._implicit import implicit_argmin
from ._linesearch import ScaleByWolfeLinesearchState, all_leaves, scale_by_wolfe_linesearch
from ._solution import Solution


@functools.cache
def default_optimizer() -> optax.GradientTransformationExtraArgs:
    """`optax.lbfgs` (memory 10) with `scale_by_wolfe_linesearch` (strong Wolfe conditions).

    The line search is optax's default one rewritten to evaluate the objective once per
    trial step, which shrinks the compiled loop (see `_linesearch.py`). Built once, so
    that repeated `minimize` calls hit the compilation cache.
    """
    return optax.lbfgs(linesearch=scale_by_wolfe_linesearch())


def tree_norm(tree):
    """‖tree‖₂ over all leaves, formed as β·‖tree/β‖₂ with β a power of two near
    max |entry| (`power_of_two_scale`): the squares of a gradient of 1e-200 (a loss in
    tiny units) underflowed to a norm of 0, `converged` at x0 even with `tol=0`, and
    those of 1e155 overflowed to inf, `nonfinite` at a finite gradient (outside
    probes). NaN or inf entries give NaN or inf.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize._minimize import tree_norm
        >>> x = {"a": jnp.array([3e30]), "b": jnp.array([4e30])}  # float32: 3e30² overflows
        >>> print(f"{float(tree_norm(x)):.3g}", f"{float(jnp.sqrt(sum(jnp.sum(v * v) for v in x.values()))):.3g}")
        5e+30 inf
    """
    leaves = [jnp.abs(t) for t in jax.tree_util.tree_leaves(tree)]
    if not leaves:
        return jnp.zeros(())
    # (1 where the maximum is 0 or not finite: the norm is then 0, inf or NaN as it is.)
    beta = power_of_two_scale(jnp.stack([jnp.max(t, initial=0) for t in leaves]))
    return beta * jnp.sqrt(sum(jnp.sum(jnp.square(t / beta.astype(t.dtype))) for t in leaves))


def _float_dtype(tree):
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError("jaxgrad.optimize.minimize: x0 has no array leaves.")
    if sum(np.size(leaf) for leaf in leaves) == 0:
        raise ValueError("jaxgrad.optimize.minimize: x0 has no entries (every leaf is empty).")
    dtype = jnp.result_type(*leaves)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            "jaxgrad.optimize.minimize: x0 must have real floating-point leaves "
            f"(promote integers first); got dtype {dtype}."
        )
    return dtype


def _python_scalars_as_arrays(tree):
    """Python floats (and complex numbers) in `tree` as weakly typed arrays.

    Non-array leaves of `args` are static (fixed in the traced objective), so a Python
    float in `args` would be baked into the compiled loop and every new value (a weight swept in a loop,
    say) would compile it again. As weakly typed arrays they are traced inputs and
    promote exactly as Python numbers do under `jax.jit`. Ints and bools stay static:
    they may be sizes or flags.
    """
    convert = lambda t: jnp.asarray(t) if type(t) in (float, complex) else t  # noqa: E731
    return jax.tree_util.tree_map(convert, tree)


def _numbers_as_vector(x0):
    """A list or tuple of Python numbers as a floating-point vector, as scipy's and
    `jax.scipy.optimize`'s `minimize` take `x0`: kept as a pytree, `minimize(rosen,
    [-1.2, 1.0])` handed `fun` a list, and a scipy objective failed inside the user's
    code (`x[1:] - x[:-1]**2` on a list; outside probe). Indexing and unpacking work on
    the vector as on the list. NumPy's scalars count as numbers (np.float32 entries, say);
    bools do not. A list holding arrays stays a pytree."""
    def number(t):
        return isinstance(t, (numbers.Real, np.number)) and not isinstance(t, (bool, np.bool_)) and np.ndim(t) == 0

    if isinstance(x0, (list, tuple)) and x0 and all(number(t) for t in x0):
        return jnp.asarray(np.asarray(x0, dtype=np.float64), dtype=jnp.result_type(float))
    return x0


def default_tol(dtype) -> float:
    """Gradient-norm tolerance used when `tol=None`: eps^(2/3) (3.7e-11 f64, 2.4e-5 f32)."""
    return float(jnp.finfo(dtype).eps) ** (2 / 3)


def _find_field(tree, name):
    """The unique leaf-bearing field `name` inside an optax state, or None."""
    found = optax.tree.get_all_with_path(tree, name)
    return found[0][1] if len(found) == 1 else None


def _last_in_its_chain(tree, path) -> bool:
    """Whether the field at `path` belongs to the last transformation at every level of
    `optax.chain` (whose state is a tuple of its members' states)."""
    node = tree
    for key in path:
        if isinstance(key, jax.tree_util.SequenceKey):
            if key.idx != len(node) - 1:
                return False
            node = node[key.idx]
        elif isinstance(key, jax.tree_util.DictKey):  # (`optax.named_chain`: in order)
            if key.key != list(node.keys())[-1]:
                return False
            node = node[key.key]
        else:
            node = getattr(node, key.name)
    return True


def _reusable_line_search_state(state) -> bool:
    """Whether f and ∇f kept by a line search in the optimizer's state are those at the
    point the update moves to: a single line search, whose step is the update (nothing
    chained after it: `optax.keep_params_nonnegative()` or `add_decayed_weights` after
    `optax.lbfgs()` move x away from the trial point, whose gradient was taken as the
    new one: `converged` with ‖∇f‖ 0 where it was 4, outside probe), and only one that
    keeps them at all (optax's backtracking line search holds `grad=None` unless told
    `store_grad=True`: `minimize` crashed on it with a pytree error, outside probe)."""
    fields = [optax.tree.get_all_with_path(state, name) for name in ("value", "grad")]
    return all(len(found) == 1 and found[0][1] is not None and _last_in_its_chain(state, found[0][0])
               for found in fields)


def _decrease_error(opt_state, dtype):
    """Max sufficient-decrease error reported by optax line searches in the state (0 if none)."""
    found = optax.tree.get_all_with_path(opt_state, "decrease_error")
    if not found:
        return jnp.zeros((), dtype)
    return jnp.max(jnp.stack([jnp.asarray(v, dtype) for _, v in found]))


class _Progress:
    """Host side of the progress bar; fed by `jax.debug.callback` from inside the loop."""

    def __init__(self, total: int):
        self.total = total
        self.bar = None

    def __call__(self, step, value, gnorm, done):
        from tqdm.auto import tqdm

        step, value, gnorm, done = (np.asarray(a) for a in (step, value, gnorm, done))
        if self.bar is None:
            self.bar = tqdm(total=self.total, desc="minimize", leave=True)
        self.bar.n = int(np.max(step))
        self.bar.set_postfix(loss=f"{float(np.max(value)):.3e}", grad=f"{float(np.max(gnorm)):.2e}", refresh=False)
        self.bar.refresh()
        if bool(np.all(done)):
            self.bar.close()
            self.bar = None


def _starts_in_loop(state) -> bool:
    """Whether the optimizer's line search can evaluate the starting point itself
    (`scale_by_wolfe_linesearch` does when told the value is not known yet)."""
    is_ls = lambda t: isinstance(t, ScaleByWolfeLinesearchState)  # noqa: E731
    return any(is_ls(t) for t in jax.tree_util.tree_leaves(state, is_leaf=is_ls))


def _run(value_fn, x0, optimizer, tol, rtol, max_steps, progress, every):
    """The solver loop: one `lax.while_loop`; returns (x, (value, grad_norm, steps, code))."""
    dtype = _float_dtype(x0)
    opt = optax.with_extra_args_support(optimizer)
    value_and_grad = jax.value_and_grad(value_fn)
    s0 = opt.init(x0)
    # Line-search optimizers (optax.lbfgs & co.) keep f and ∇f at the accepted point in
    # their state; reusing them saves one gradient evaluation per step.
    reuse = _reusable_line_search_state(s0)
    searched = bool(optax.tree.get_all_with_path(s0, "decrease_error"))  # a line search in the chain

    def start_code(v, n):
        code = where(~(jnp.isfinite(v) & jnp.isfinite(n)), st.NONFINITE,
                         where(n <= tol, st.CONVERGED, st.RUNNING))
        if max_steps == 0:
            code = where(code == st.RUNNING, st.MAX_STEPS, code)
        return code.astype(jnp.int32)

    # f and ∇f at x0: with the default line search, by the loop's first pass (value NaN
    # = not known yet), so that the objective is compiled into the program once, not
    # twice (which matters when it is large: an integral, a decomposition); otherwise
    # before the loop.
    in_loop = reuse and _starts_in_loop(s0)
    if in_loop:
        v0, g0 = jnp.full((), jnp.nan, dtype), optax.tree.zeros_like(x0)
        n0, code0 = jnp.full((), jnp.nan, dtype), jnp.asarray(st.RUNNING, jnp.int32)
    else:
        v0, g0 = value_and_grad(x0)
        n0 = tree_norm(g0)
        code0 = start_code(v0, n0)
    first0 = jnp.asarray(in_loop)
    # `top`: the largest gradient norm met so far (see `stalled` below).
    # `idle`: consecutive updates of exactly zero (see `stalled` below).
    carry0 = (jnp.zeros((), jnp.int32), x0, s0, jnp.asarray(v0, dtype), g0, n0, first0, n0, jnp.zeros((), jnp.int32),
              code0)
    half_digits = float(np.sqrt(np.finfo(np.dtype(dtype)).eps))

    def cond(carry):
        return carry[-1] == st.RUNNING

    def body(carry):
        step, x, state, v, g, _, first, top, idle, _ = carry
        updates, new_state = opt.update(g, state, x, value=v, grad=g, value_fn=value_fn)
        x_new = optax.apply_updates(x, updates)
        if reuse:
            v_new = _find_field(new_state, "value")
            g_new = _find_field(new_state, "grad")
        else:
            v_new, g_new = value_and_grad(x_new)
        v_new = jnp.asarray(v_new, dtype)
        n_new = tree_norm(g_new)
        top = jnp.fmax(top, n_new)
        step = step + 1
        # (x_new too: an optimizer whose direction overflowed, L-BFGS's yᵀy at a gradient
        # of 8e307, proposed a NaN step while f and ∇f were still the old, finite ones;
        # the NaN iterate was returned with `linesearch_failed`; outside probe.)
        finite = jnp.isfinite(v_new) & jnp.isfinite(n_new) & all_leaves(jnp.isfinite, x_new)
        # With rtol = 0 an exact standstill while ‖∇f‖ > tol is `converged` only if the
        # gradient has fallen by half the digits from the largest one met (x0's, as a
        # rule): a minimum whose gradient's rounding is above tol (1e6·(Σ cosh x − c·x):
        # x right to 4e-16, ‖∇f‖ 2.5e-9 from 1.3e7). Otherwise the optimizer cannot move
        # (a schedule decayed to 0, an Adam step below half an ulp of float32 x near
        # 1e4: the gradient as large as at the start), which was reported `converged`
        # with x 66 % off (outside probes): `stalled`. With rtol > 0 the user asked for
        # this stop to count as convergence.
        # (With rtol = 0, a static number, the test is x and f unchanged, exactly: no
        # norms to compile.)
        if rtol > 0:
            stalled = (tree_norm(optax.tree.sub(x_new, x)) <= rtol * tree_norm(x_new)) & (
                jnp.abs(v_new - v) <= rtol * jnp.maximum(jnp.abs(v), jnp.abs(v_new))
            )
        else:
            stalled = all_leaves(lambda d: d == 0, optax.tree.sub(x_new, x)) & (v_new == v)
        # Only an update that rounding absorbed can mean "converged to rounding level": an
        # optimizer that proposes exactly no move (a schedule decayed to 0) has stopped
        # wherever it was. Measured against the largest gradient met (3.6e10 from
        # x0 = 25 in Σ cosh x − 2x) a gradient of 237 passed as converged, x 6.17 where
        # the minimum is 1.44 (outside probe).
        # And only a searched step: a line search that accepts a step rounding absorbs has
        # found no representable decrease along its direction. Without one (Adam, SGD) the
        # step is the learning rate's size, not the distance to a minimum: Adam with a
        # rate decaying towards 0 (never reaching it) from x0 = 25 stood still at x = −5.6
        # with ‖∇f‖ = 135, 4e-9 of the largest gradient met, `converged` where the
        # minimum is 0.48 (outside probe): `stalled`.
        zero = all_leaves(lambda u: u == 0, updates)
        absorbed = ~zero & searched
        # An update of exactly zero while the optimizer's state moves is an optimizer
        # gathering steps (optax.apply_every, optax.MultiSteps: their zero updates ended
        # the run `stalled` after one step; outside probe): `stalled` only after
        # _PATIENCE of them in a row. One whose state stands still (SGD at a rate of 0)
        # stops at once. Its integer leaves count too: MultiSteps(·, k ≥ 3) keeps the mean
        # of the gradients it gathers, which stands still while x does, and only its step
        # counter moves (compared on the floating leaves alone, it stopped `stalled` after
        # two steps; another probe).
        idle = where(zero & stalled, idle + 1, 0)
        frozen = all_leaves(lambda a, b: a == b, new_state, state)
        stalled = stalled & (~zero | frozen | (idle >= _PATIENCE))
        ls_failed = _decrease_error(new_state, dtype) > 0
        code = where(
            ~finite,
            st.NONFINITE,
            where(
                n_new <= tol,
                st.CONVERGED,
                where(
                    ls_failed,
                    st.LINESEARCH_FAILED,
                    where(stalled, st.CONVERGED if rtol > 0 else where(absorbed & (n_new <= half_digits * top), st.CONVERGED, st.STALLED),
                              where(step >= max_steps, st.MAX_STEPS, st.RUNNING)),
                ),
            ),
        ).astype(jnp.int32)
        if progress is not None:
            lax.cond(
                (step % every == 0) & (code == st.RUNNING) & ~first,
                lambda: jax.debug.callback(progress, step, v_new, n_new, False, ordered=False),
                lambda: None,
            )
        g_eval = g_new  # ∇f where it was evaluated (x0 on the first pass)
        # A non-finite step is not taken: the solution is the last finite iterate.
        keep = lambda new, old: where(finite, new, old)  # noqa: E731
        x_new = jax.tree_util.tree_map(keep, x_new, x)
        g_new = jax.tree_util.tree_map(keep, g_new, g)
        out = (step, x_new, new_state, keep(v_new, v), g_new, keep(n_new, carry[5]), jnp.asarray(False), top, idle, code)
        if not in_loop:
            return out
        # The first pass only evaluated x0 (zero update): start the optimizer afresh
        # from its initial state, holding f(x0) and ∇f(x0) for the first step to reuse.
        begun = (jnp.zeros((), jnp.int32), x, optax.tree.set(s0, value=v_new, grad=g_eval),
                 v_new, g_eval, n_new, jnp.asarray(False), n_new, jnp.zeros((), jnp.int32), start_code(v_new, n_new))
        return jax.tree_util.tree_map(lambda a, b: where(first, a, b), begun, out)

    step, x, _, v, _, n, _, _, _, code = while_loop(cond, body, carry0)
    if progress is not None:
        jax.debug.callback(progress, step, v, n, True, ordered=False)
    # Integer aux outputs trip jax.lax.custom_root's JVP (it gives them int tangents
    # instead of float0), so they travel as floats and are converted back.
    return x, (n, step.astype(dtype), code.astype(dtype))


# Consecutive exact-zero updates (with the optimizer's state moving) before `stalled`.
_PATIENCE = 64


def _value_and_aux(objective, has_aux, x, inputs):
    out = objective(inputs[0], x, inputs[1])
    value, aux = out if has_aux else (out, None)
    return jnp.asarray(value), aux


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _at_solution(full, x, inputs):
    """`full(x, inputs)` = (value, aux) at the solution `x`, with the envelope theorem's
    derivative of the value: ∂f/∂inputs at fixed `x`.

    At a minimum the chain rule's other term, ∇ₓf · dx, is zero, but computed it is
    rounding noise times dx, and dx is NaN where the minimum is not isolated (reverse
    mode, singular Hessian; see `minimize`) although the minimum value is smooth
    (found by an outside probe: the inverse eigenvalue problem plus s·tr(A)², d/ds NaN
    where 7.84 is right). The rule drops that term. Higher derivatives still flow
    through `x`: the tangent ∂f/∂inputs(x, inputs) depends on `x`, which gives
    d²V/dθ² = ∂²f/∂θ² + ∂²f/∂θ∂x · dx/dθ; the dropped term's own derivative,
    (H dx/dθ + ∂²f/∂x∂θ) · dx/dθ + ∇ₓf · d²x/dθ², is zero at a minimum as well.
    `aux` keeps its whole derivative, through `x` too."""
    return full(x, inputs)


@_at_solution.defjvp
def _at_solution_jvp(full, primals, tangents):
    x, inputs = primals
    dx, dinputs = tangents
    # x enters as a constant of this JVP (no tangent to push through f in x); as a
    # closed-over primal it is still differentiated by any enclosing transformation.
    (value, aux), (dvalue, daux) = jax.jvp(lambda i: full(x, i), (inputs,), (dinputs,))
    if aux is not None:
        daux = jax.jvp(full, (x, inputs), (dx, dinputs))[1][1]
    return (value, aux), (dvalue, daux)


def _count(fn, name, value, low):
    """`value` as a Python int >= `low`: an integer, or a float with an integral value
    (`max_steps=1e4`). A bool (True ran one step), a non-finite or traced value (they
    raised Python's or JAX's own conversion errors) gets this function's error."""
    if isinstance(value, jax.core.Tracer):
        raise ValueError(f"{fn}: `{name}` must be a concrete integer (it bounds the loop, a static option); got a traced value.")
    try:
        as_int = int(value)
    except (TypeError, ValueError, OverflowError):
        as_int = None
    if isinstance(value, (bool, np.bool_)) or as_int is None or as_int != value or as_int < low:
        what = "a non-negative" if low == 0 else "a positive"
        raise ValueError(f"{fn}: `{name}` must be {what} integer; got {value!r}.")
    if as_int > np.iinfo(np.int32).max:  # (the loop counts in int32; 2**40 failed at run time)
        raise ValueError(f"{fn}: `{name}` must be at most {np.iinfo(np.int32).max}; got {value!r}.")
    return as_int


def _nonnegative(fn, name, value):
    """`value` as a Python float >= 0. A traced one (`jax.jit` over `tol`) raised JAX's
    TracerBoolConversionError (outside probe); a bool is not a tolerance."""
    if isinstance(value, jax.core.Tracer):
        raise ValueError(f"{fn}: `{name}` must be a concrete real number (a static option of the compiled loop); "
                         "got a traced value.")
    try:
        number = isinstance(value, (numbers.Real, np.ndarray, jax.Array)) and not isinstance(value, (bool, np.bool_))
        as_float = float(value) if number else None
    except (TypeError, ValueError):
        as_float = None
    if as_float is None or not as_float >= 0:
        raise ValueError(f"{fn}: `{name}` must be a real number >= 0; got {value!r}.")
    return as_float


@eqx.filter_jit
def _minimize(objective, consts, x0, args, optimizer, tol, rtol, max_steps, has_aux, throw, progress, every, ridge):
    """The compiled solve. `objective` is the user's `fun` traced at the argument types
    (`jaxgrad._traced`: static, keyed by what it computes); `consts`, the arrays it
    closes over, and `args`, the array leaves of the user's args (None elsewhere), are
    inputs of the compiled program."""
    dtype = _float_dtype(x0)
    tol = default_tol(dtype) if tol is None else tol

    full = functools.partial(_value_and_aux, objective, has_aux)
    value_fn = lambda x: full(x, (consts, args))[0]  # noqa: E731
    bar = _Progress(max_steps) if progress else None
    x, (n, step, code) = implicit_argmin(
        jax.grad(value_fn),
        x0,
        lambda x_init: _run(value_fn, x_init, optimizer, tol, rtol, max_steps, bar, every),
        ridge,
    )
    step, code = step.astype(jnp.int32), code.astype(jnp.int32)
    value, aux = _at_solution(full, x, (consts, args))
    status = st.status_from_code(code)
    sol = Solution(x=x, value=value, grad_norm=n, num_steps=step, status=status, aux=aux, ridge=ridge)
    if throw:
        # Every output, and every derivative of one, carries the check, so that under
        # `jit` it runs whichever of them is used (on `x` alone, a program that returns
        # `value` skipped it; on the outputs alone, `jit(grad(loss))` did: `_throw`).
        return raise_if(sol, status, status != st.Status.converged, "jaxgrad.optimize.minimize")
    # A run stopped by a NaN or inf (a NaN parameter) keeps its last finite iterate, but
    # the implicit derivative there (at x0, say) solves nothing: NaN (outside probe: a
    # finite 2.0 for a NaN parameter). (With `throw`, that run raises instead.)
    return nan_derivatives_if(sol, code == st.NONFINITE)


def _trace_objective(fn, fun, x0, args, has_aux):
    """`fun` traced at `(x0, *args)` (see `jaxgrad._traced`): the static key of the
    compiled solve and the arrays `fun` closes over, read afresh at every call (an
    array global rebound between calls is used; what the key cannot see, inside custom
    rules and callbacks, is in docs/performance.md); and the array leaves of
    `args`. The other leaves of `args` (ints, bools, ...) are static: they are fixed in
    the traced program, and a new value traces a new one. Likewise the non-array leaves
    of `aux` (with `has_aux`): returned as they are, outside the compiled program (the
    last item returned)."""
    dyn, static = eqx.partition(args, eqx.is_array)
    aux_static = []

    def objective(x, dyn):
        out = fun(x, *eqx.combine(dyn, static))
        if not has_aux:
            return out
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise ValueError(f"{fn}: with has_aux=True, fun must return a pair (value, aux); got {out!r}.")
        aux_dyn, aux = eqx.partition(out[1], eqx.is_array)
        aux_static.append(aux)
        return out[0], aux_dyn

    # Keyed by the origins of `fun` and of the static leaves (a custom-derivative rule
    # passed in `args` does not show in the program's text).
    traced, consts = trace(objective, x0, dyn, wraps=(fun, static))
    out = traced.out_shape
    value = out[0] if has_aux else out
    real = hasattr(value, "dtype") and jnp.issubdtype(value.dtype, jnp.floating)
    if getattr(value, "shape", None) != () or not real:
        got = f"shape {value.shape}, dtype {value.dtype}" if hasattr(value, "shape") else repr(value)
        raise ValueError(
            f"{fn}: fun must return a real scalar; got {got}"
            + (" (with has_aux=True, fun returns (value, aux))." if has_aux else ".")
        )
    return traced, consts, dyn, (aux_static[0] if has_aux else None)


@readable_errors
def minimize(
    fun: Callable[..., Any],
    x0: PyTree[ArrayLike],
    args: tuple = (),
    *,
    optimizer: optax.GradientTransformation | None = None,
    tol: float | None = None,
    rtol: float = 0.0,
    max_steps: int = 1000,
    has_aux: bool = False,
    throw: bool = True,
    progress: bool = False,
    progress_every: int = 10,
    ridge: float = 0.0,
) -> Solution:
    """Minimise `fun(x, *args)` with an Optax optimizer; the minimiser is differentiable in `args`.

    The whole iteration is one `jax.lax.while_loop` inside a compiled function. It stops
    when the gradient norm is at most `tol`, when an update changes neither `x` nor the
    value by more than `rtol` (relative), when the optimizer's line search fails, when a
    value or gradient is not finite, or after `max_steps` updates.

    **Derivatives.** `Solution.x` is differentiated through the optimality condition
    ∇ₓf(x*, args) = 0 (implicit function theorem): dx* = −H⁻¹ ∂ₐ∇ₓf da, with
    Hessian-vector products and conjugate gradients, never through the iterations. So
    the derivative does not depend on the optimizer, the step count or `x0`, and costs
    one linear solve. It is the derivative of the exact minimiser: it is only as good
    as the convergence (check `status`). If the Hessian is singular or too
    ill-conditioned for CG, the derivative is NaN when `ridge=0`; with `ridge > 0` the
    adjoint solves the Tikhonov problem min ‖H w − b‖² + ridge·‖w‖² (the minimum-norm
    derivative as `ridge → 0`, moving `x*` orthogonally to a non-isolated solution set)
    and `Solution.ridge` records it. `Solution.value` has the envelope-theorem
    derivative ∂f/∂args. Arrays that `fun` closes over (globals, closure cells,
    traced values of an enclosing transformation) are read at every call and
    differentiated like `args`.

    **Default optimizer.** `optax.lbfgs` (memory 10) with
    [`scale_by_wolfe_linesearch`][jaxgrad.optimize.scale_by_wolfe_linesearch]: the
    strong Wolfe conditions of Optax's zoom line search, with one evaluation of `fun`
    per trial step in the compiled loop instead of two. For smooth deterministic
    objectives it needs no learning rate, its steps after the first are invariant to
    the scaling of `fun` (its first step is −∇f(x0), in the loss's units: rescale a
    loss whose gradient at x0 is many orders of magnitude from one; docs/optimize.md;
    the stopping test is not invariant either: `tol` is absolute), it converges superlinearly
    near a minimum, and its line search does not accept an increase of the loss by
    more than 1e-6·|f| (meant for rounding near a minimum; see docs/optimize.md for
    losses with a large constant part).
    Any `optax.GradientTransformation` works (e.g. `optax.adam(1e-2)`); a
    `GradientTransformationExtraArgs` receives `value`, `grad` and `value_fn` as Optax
    line searches require.

    Arguments:
        fun: `fun(x, *args)` returns a real scalar (or `(scalar, aux)` with
            `has_aux=True`). Traced once per call; the compiled loop is reused
            for the same code and traced program (a re-created lambda too), with the
            arrays it reads as inputs (see docs/performance.md).
        x0: starting point, any pytree of real floating-point arrays; a list or tuple
            of numbers (Python's or NumPy's scalars) is a vector, as scipy takes it.
        args: tuple of extra arguments (pytrees of arrays); `x` is differentiable with
            respect to them. Arrays and Python floats are traced inputs of the
            compiled loop (new values reuse it); Python ints and bools are static
            (each new value compiles again).
        optimizer: any Optax gradient transformation; default L-BFGS as above
            (`optax.lbfgs(linesearch=scale_by_wolfe_linesearch())`).
        tol: stop when ‖∇f‖₂ ≤ `tol` (absolute, all leaves together). Default eps^(2/3)
            of the dtype: 3.7e-11 (float64), 2.4e-5 (float32), for a loss and
            variables of order one: with a gradient of 1e-12 at `x0` (a loss in tiny
            units, variables in huge ones) the default reports `converged` at `x0`
            after 0 steps. Rescale, or set `tol` to the problem's units.
        rtol: also stop (converged) when ‖Δx‖ ≤ `rtol`·‖x‖ and |Δf| ≤ `rtol`·|f| in one
            step. Default 0: an update that changes neither `x` nor `f` at all stops the
            run, `converged` if the update was nonzero (rounding absorbed it) and ‖∇f‖
            has fallen below sqrt(eps) times the largest gradient norm met (a minimum
            whose gradient's rounding exceeds `tol`), else `stalled` (the optimizer
            cannot move).
        max_steps: maximum number of optimizer updates.
        has_aux: `fun` returns `(value, aux)`; `aux` at the solution is `Solution.aux`.
        throw: raise (`equinox.error_if`, a runtime error also under `jit`, also where
            only a derivative of the solution is computed) unless the status is
            `converged`. With `throw=False` the status is returned; under
            `vmap` every problem keeps its own status and a failing member (NaN, line
            search failure) does not affect the others.
        progress: show a tqdm progress bar with the loss and gradient norm, updated
            from inside the compiled loop by `jax.debug.callback` every
            `progress_every` steps. When `False` no callback is traced at all.
        progress_every: progress bar update interval, in steps.
        ridge: Tikhonov parameter of the adjoint solve (see Derivatives); 0 = exact.

    Returns:
        A [`Solution`][jaxgrad.optimize.Solution] with `x`, `value`, `grad_norm`,
        `num_steps`, `status`, `aux` and `ridge`.

    Raises:
        TypeError: `x0` has non-floating leaves, or `optimizer` is not an Optax transformation.
        ValueError: `fun` does not return a real floating-point scalar, or an option is out of range.
        equinox.EquinoxRuntimeError: with `throw=True`, when the solve did not converge.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.optimize import Status, minimize
        >>> def f(x, p, lam):  # argmin is p / (1 + lam)
        ...     return jnp.sum((x - p) ** 2) + lam * jnp.sum(x**2)
        >>> p = jnp.array([1.0, -2.0])
        >>> sol = minimize(f, jnp.zeros(2), (p, 3.0))
        >>> print(sol.x.round(6), sol.status == Status.converged)  # (float32 ends ...97)
        [ 0.25 -0.5 ] True
        >>> print(jax.jacobian(lambda p: minimize(f, jnp.zeros(2), (p, 3.0)).x)(p) + 0.0)
        [[0.25 0.  ]
         [0.   0.25]]
    """
    fn = "jaxgrad.optimize.minimize"
    throw, has_aux = as_flag(fn, "throw", throw), as_flag(fn, "has_aux", has_aux)
    if not callable(fun):
        raise TypeError(f"{fn}: fun must be callable; got {type(fun).__name__}.")
    if not isinstance(args, tuple):
        raise TypeError(f"{fn}: args must be a tuple (use (a,) for one argument); got {type(args).__name__}.")
    if optimizer is None:
        optimizer = default_optimizer()
    elif not isinstance(optimizer, optax.GradientTransformation):
        hint = (" (pass its `.gradient_transformation()`)" if callable(getattr(optimizer, "gradient_transformation", None))
                else "")
        raise TypeError(f"{fn}: optimizer must be an optax.GradientTransformation; got {type(optimizer).__name__}{hint}.")
    max_steps = _count(fn, "max_steps", max_steps, 0)
    progress_every = _count(fn, "progress_every", progress_every, 1)
    ridge = _nonnegative(fn, "ridge", ridge)
    tol = None if tol is None else _nonnegative(fn, "tol", tol)
    rtol = _nonnegative(fn, "rtol", rtol)
    x0, args = _python_scalars_as_arrays(_numbers_as_vector(x0)), _python_scalars_as_arrays(args)
    dtype = _float_dtype(x0)
    x0 = jax.tree_util.tree_map(lambda t: jnp.asarray(t, dtype), x0)
    objective, consts, dyn, aux_static = _trace_objective(fn, fun, x0, args, has_aux)
    sol = _minimize(
        objective, consts, x0, dyn, optimizer, tol, float(rtol), int(max_steps), has_aux, throw,
        bool(progress), int(progress_every), float(ridge),
    )
    if has_aux:
        aux = eqx.combine(sol.aux, aux_static)
        sol = eqx.tree_at(lambda s: s.aux, sol, aux, is_leaf=lambda t: t is None)
    return sol
