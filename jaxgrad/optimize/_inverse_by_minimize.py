"""The inverse of a matrix as the minimiser of `‖X M − I‖_F²`."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float

from .._options import as_flag
from .._power_of_two import power_of_two_scale
from ._checks import as_real_square
from ._minimize import minimize
from ._solution import Solution


def inverse_loss(x: Float[Array, "n n"], m: Float[Array, "n n"]):
    """`‖X M − I‖_F²`, the objective of [`inverse_by_minimize`][jaxgrad.optimize.inverse_by_minimize].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import inverse_loss
        >>> m = jnp.array([[2.0, 0.0], [0.0, 4.0]])
        >>> print(float(inverse_loss(jnp.diag(jnp.array([0.5, 0.25])), m)), float(inverse_loss(jnp.eye(2), m)))
        0.0 10.0

    Raises:
        ValueError: `x` and `m` are not square matrices of one size (a 3 x 1 `m` was
            broadcast against the identity into a number; outside probe).
    """
    x, m = jnp.asarray(x), jnp.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or x.shape != m.shape:
        raise ValueError(
            f"jaxgrad.optimize.inverse_loss: x and m must be square matrices of one size; got {x.shape} and {m.shape}."
        )
    return jnp.sum((x @ m - jnp.eye(m.shape[0], dtype=m.dtype)) ** 2)


def inverse_by_minimize(
    m: Float[ArrayLike, "n n"],
    *,
    optimizer: optax.GradientTransformation | None = None,
    tol: float | None = None,
    max_steps: int = 100,
    throw: bool = True,
) -> Solution:
    """The inverse of `m` as the minimiser of `‖X M − I‖_F²`, started at `X = 0`.

    A convex quadratic with Hessian `2 (M Mᵀ ⊗ I)`: its condition number is `κ(M)²`,
    so this is a test of the optimizer more than a way to invert matrices (use
    [`newton_schulz_inverse`][jaxgrad.optimize.newton_schulz_inverse] or a
    factorisation). `Solution.x` is differentiable in `m` (implicitly: `dX = −X dM X`).

    Arguments:
        m: a square nonsingular matrix.
        optimizer: passed to `minimize`.
        tol: passed to `minimize`.
        max_steps: passed to `minimize`.
        throw: passed to `minimize`.

    Returns:
        The `Solution`; `x` approximates `m⁻¹`. For a singular `m` there is no
        inverse and the minimiser is not unique: from `X = 0` the iteration stays in
        the row space and finds the pseudo-inverse `m⁺`, with `value = n − rank(m)`
        (not 0) and status `converged` (the minimisation did converge): check
        `value`. Derivatives are then NaN in reverse mode (see `minimize`, `ridge`).
        The minimisation runs on `M/σ` (σ the power of two nearest below `max|M|`,
        so the default gradient tolerance fits any scale of `M`); `x` is scaled back,
        `value` is the same for both, `grad_norm` is that of the scaled problem.

    Raises:
        ValueError: `m` is not a square matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import inverse_by_minimize
        >>> m = jnp.array([[2.0, 1.0], [1.0, 3.0]])
        >>> print((inverse_by_minimize(m).x @ m).round(5) + 0.0)
        [[1. 0.]
         [0. 1.]]
    """
    m = as_real_square(m, "m", "jaxgrad.optimize.inverse_by_minimize")
    throw = as_flag("jaxgrad.optimize.inverse_by_minimize", "throw", throw)
    sigma = power_of_two_scale(m).astype(m.dtype)  # exact; no derivative
    sol = minimize(inverse_loss, jnp.zeros_like(m), (m / sigma,), optimizer=optimizer, tol=tol,
                   max_steps=max_steps, throw=throw)
    # (X M/σ − I) = (X/σ) M − I: the same value for X/σ, the inverse of M.
    return eqx.tree_at(lambda s: s.x, sol, sol.x / sigma)
