"""Tikhonov (ridge) regularisation of an objective, for pytrees."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jaxtyping import ArrayLike, PyTree


def tikhonov(
    fun: Callable[..., Any],
    lam: float | ArrayLike,
    center: PyTree[ArrayLike] | None = None,
) -> Callable[..., Any]:
    """`fun` plus the Tikhonov term `lam·‖x − center‖²` (sum of squares over all leaves).

    Regularising an ill-posed fit makes its minimiser unique and its Hessian
    positive definite (at least `2·lam·I` added), so
    [`minimize`][jaxgrad.optimize.minimize] can differentiate it implicitly.

    Arguments:
        fun: objective `fun(x, *args)`, returning a scalar (or `(scalar, aux)`: the
            penalty is added to the first element).
        lam: penalty weight, `>= 0`. It is captured by the returned function: to
            differentiate with respect to it, write the penalty into `fun` and pass
            `lam` in `args` instead.
        center: a pytree like `x` (default: zeros).

    Returns:
        `g(x, *args) = fun(x, *args) + lam·‖x − center‖²`.

    Raises:
        ValueError: `lam` is a negative Python number.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import minimize, tikhonov
        >>> f = tikhonov(lambda x, p: jnp.sum((x - p) ** 2), 1.0)  # argmin p / 2
        >>> print(minimize(f, jnp.zeros(2), (jnp.array([2.0, 4.0]),)).x)
        [1. 2.]
    """
    if isinstance(lam, (int, float)) and lam < 0:
        raise ValueError(f"jaxgrad.optimize.tikhonov: lam must be >= 0; got {lam}.")

    def penalty(x):
        d = x if center is None else optax.tree.sub(x, center)
        return sum(jnp.sum(jnp.abs(t) ** 2) for t in jax.tree_util.tree_leaves(d))

    def regularised(x, *args):
        out = fun(x, *args)
        if isinstance(out, tuple):
            return (out[0] + lam * penalty(x),) + tuple(out[1:])
        return out + lam * penalty(x)

    return regularised
