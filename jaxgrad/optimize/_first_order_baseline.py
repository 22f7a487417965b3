"""A first-order baseline: an Optax optimizer run until the loss reaches a target.

Not public API. `python -m jaxgrad demo` and `bench/optimize.py` use it to count the
steps plain Adam or momentum SGD needs on the problems that `jaxgrad.optimize` solves
with L-BFGS (`minimize`) or Newton–Schulz.
"""

from __future__ import annotations

from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int, PyTree

from .._where import where


def steps_to_loss(
    loss: Callable[..., Any],
    x0: PyTree[ArrayLike],
    args: tuple,
    optimizer: optax.GradientTransformation,
    target: float,
    max_steps: int,
    *,
    has_aux: bool = False,
) -> tuple[PyTree[Array], Int[Array, ""], Float[Array, ""], Float[Array, " k"]]:
    """Run `optimizer` on `loss(x, *args)` until `loss ≤ target` or `max_steps` updates.

    A baseline to compare `minimize` with: the plain first-order training loop (Adam,
    momentum SGD) with a fixed learning rate, compiled into one `lax.while_loop`.

    Arguments:
        loss: objective `loss(x, *args)` (or `(value, aux)` with `has_aux`).
        x0: starting point (pytree).
        args: extra arguments.
        optimizer: an Optax transformation without extra arguments (e.g. `optax.adam(1e-3)`).
        target: stop once the loss is at most this.
        max_steps: step cap.
        has_aux: `loss` returns `(value, aux)`.

    Returns:
        A tuple `(x, steps, final_loss, history)`. `steps` is the number of updates taken (equal to `max_steps` if the target was not reached: check `final_loss`); `history` holds the loss before each update, padded with NaN beyond `steps` (length `max_steps + 1`).

    Raises:
        ValueError: `max_steps` is negative.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from jaxgrad.optimize._first_order_baseline import steps_to_loss
        >>> x, k, f, _ = steps_to_loss(lambda x: jnp.sum(x**2), jnp.ones(2), (), optax.sgd(0.25), 1e-6, 100)
        >>> print(int(k), float(f) <= 1e-6)
        11 True
    """
    if max_steps < 0:
        raise ValueError(f"steps_to_loss: max_steps must be >= 0; got {max_steps}.")

    return _steps_to_loss(loss, bool(has_aux), x0, args, optimizer, target, int(max_steps))


# `loss` and `optimizer` are static (hashed by identity), `args` are traced: the same loss
# with new data, or the same optimizer object on a new problem of the same shapes,
# reuses the compiled loop.
@eqx.filter_jit
def _steps_to_loss(loss, has_aux, x0, args, optimizer, target, max_steps):
    def value_fn(x):
        out = loss(x, *args)
        return out[0] if has_aux else out

    vg = jax.value_and_grad(value_fn)
    dtype = jax.eval_shape(value_fn, x0).dtype

    # One evaluation per pass, at the current point, then either stop there or update:
    # the loss and its gradient appear once in the compiled loop.
    def body(c):
        k, x, s, _, hist, _ = c
        v, g = vg(x)
        hist = hist.at[k].set(v)
        stop = (k >= max_steps) | (v <= target) | ~jnp.isfinite(v)
        upd, s_new = optimizer.update(g, s, x)
        x_new = optax.apply_updates(x, upd)
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: where(stop, b, a), new, old)  # noqa: E731
        return where(stop, k, k + 1), keep(x_new, x), keep(s_new, s), v, hist, stop

    hist0 = jnp.full((max_steps + 1,), jnp.nan, dtype)
    carry0 = (jnp.zeros((), jnp.int32), x0, optimizer.init(x0), jnp.zeros((), dtype), hist0, jnp.asarray(False))
    k, x, _, v, hist, _ = lax.while_loop(lambda c: ~c[-1], body, carry0)
    return x, k, v, hist
