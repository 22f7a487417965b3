"""Tikhonov (ridge) regularisation of an objective, for pytrees."""

from __future__ import annotations

from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import ArrayLike, PyTree


class _Tikhonov(eqx.Module):
    """`fun(x, *args) + lam·‖x − center‖²`, as a pytree.

    A module (a callable pytree) so that `lam` and `center` are leaves: `minimize`
    keys its compiled loop on the module's structure and `fun`'s code
    (`jaxgrad._traced`), and the arrays `lam` and `center` are inputs of the loop,
    not constants baked into it.
    """

    fun: Callable[..., Any]
    lam: Any
    center: Any

    def _penalty(self, x):
        if self.center is not None:
            shapes = lambda t: jax.tree_util.tree_map(jnp.shape, t)  # noqa: E731
            if jax.tree_util.tree_structure(x) != jax.tree_util.tree_structure(self.center) or shapes(
                x
            ) != shapes(self.center):
                raise ValueError(
                    "jaxgrad.optimize.tikhonov: `center` must be a pytree like x (same structure "
                    f"and shapes); got x {shapes(x)} and center {shapes(self.center)}."
                )
        d = x if self.center is None else optax.tree.sub(x, self.center)
        return sum(jnp.sum(jnp.abs(t) ** 2) for t in jax.tree_util.tree_leaves(d))

    def __call__(self, x, *args):
        out = self.fun(x, *args)
        if isinstance(out, (tuple, list)):  # (value, aux), as `minimize` accepts it
            return (out[0] + self.lam * self._penalty(x),) + tuple(out[1:])
        return out + self.lam * self._penalty(x)


def tikhonov(
    fun: Callable[..., Any],
    lam: float | ArrayLike,
    center: PyTree[ArrayLike] | None = None,
) -> Callable[..., Any]:
    """`fun` plus the Tikhonov term `lam·‖x − center‖²` (sum of squares over all leaves).

    Regularising an ill-posed fit makes its minimiser unique and its Hessian
    positive definite (at least `2·lam·I` added), so
    [`minimize`][jaxgrad.optimize.minimize] can differentiate it implicitly.

    `lam` and `center` are leaves of the returned function (an `equinox.Module`), so
    `minimize` traces them as inputs: new values reuse its compiled loop, and the
    minimiser is differentiable with respect to them as well as to `args`.

    Arguments:
        fun: objective `fun(x, *args)`, returning a scalar (or `(scalar, aux)`: the
            penalty is added to the first element).
        lam: penalty weight, `>= 0`, a number or a scalar array.
        center: a pytree like `x`, same structure and shapes (default: zeros).

    Returns:
        `g(x, *args) = fun(x, *args) + lam·‖x − center‖²`. Calling `tikhonov` again
        with the same `fun` (and `lam`, `center` of the same shapes and dtypes) gives
        a function that `minimize` runs without compiling again.

    Raises:
        TypeError: `lam` is not a real scalar (a number or a 0-d real array).
        ValueError: `lam` is a negative (or NaN) number or concrete scalar array; when
            called, `center` is not shaped like `x`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import minimize, tikhonov
        >>> f = tikhonov(lambda x, p: jnp.sum((x - p) ** 2), 1.0)  # argmin p / 2
        >>> print(minimize(f, jnp.zeros(2), (jnp.array([2.0, 4.0]),)).x.round(6))
        [1. 2.]
    """
    # A concrete scalar array is checked like a number (np.float32(-1.0) passed, and the
    # run ended `linesearch_failed` without saying why; outside probe). A traced one
    # cannot be.
    # Anything but a real scalar is refused here: an array `lam` (even with a negative
    # entry), a complex one, None, a string or a bool was accepted, and `minimize` then
    # blamed `fun` ("must return a real scalar; got shape (2,)") or failed inside (outside
    # probe).
    dtype = getattr(lam, "dtype", None)
    if dtype is None and isinstance(lam, (int, float)) and not isinstance(lam, bool):
        dtype = np.dtype(type(lam))
    if dtype is None or np.shape(lam) != () or not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"jaxgrad.optimize.tikhonov: lam must be a real scalar (a number or a 0-d array); got {lam!r}.")
    if not isinstance(lam, jax.core.Tracer):
        if not np.asarray(lam) >= 0:
            raise ValueError(f"jaxgrad.optimize.tikhonov: lam must be >= 0; got {lam}.")
    if isinstance(lam, (int, float)) and not isinstance(lam, bool):
        # A weakly typed array, like a Python number under `jax.jit`: the dtype of the
        # objective decides, and a new value is a new input, not a new program.
        lam = jnp.asarray(float(lam))
    return _Tikhonov(fun, lam, center)
