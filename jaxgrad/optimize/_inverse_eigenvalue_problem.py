"""The inverse symmetric eigenvalue problem: a symmetric matrix with prescribed eigenvalues.

Solved by `minimize` through `jaxgrad.linalg.eigvalsh`, whose derivatives are exact at
repeated eigenvalues (so tied targets are fine).
"""

from __future__ import annotations

import numbers

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from .._options import as_flag
from .._power_of_two import power_of_two_scale
from ..linalg import eigvalsh
from ._checks import as_real_float, as_real_square
from ._minimize import minimize
from ._solution import Solution


def symmetric_from_triu(p: Float[Array, " m"], n: int) -> Float[Array, "n n"]:
    """The symmetric `n × n` matrix whose upper triangle (row major) is `p`, `m = n(n+1)/2`.

    Raises:
        ValueError: `n` is not an integer >= 0, or `p` is not a vector of length `n(n+1)/2`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import symmetric_from_triu
        >>> print(symmetric_from_triu(jnp.array([1.0, 2.0, 3.0]), 2))
        [[1. 2.]
         [2. 3.]]
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:  # (was a broadcast TypeError)
        raise ValueError(f"jaxgrad.optimize.symmetric_from_triu: n must be an integer >= 0; got {n!r}.")
    p = jnp.asarray(p)
    if p.shape != (n * (n + 1) // 2,):
        # (`.at[].set` would broadcast a shorter p, or clip indices, without a word.)
        raise ValueError(
            f"jaxgrad.optimize.symmetric_from_triu: p must have shape ({n * (n + 1) // 2},), "
            f"the upper triangle of a {n}x{n} matrix; got shape {p.shape}."
        )
    rows, cols = np.triu_indices(n)
    a = jnp.zeros((n, n), p.dtype).at[rows, cols].set(p)
    return a + jnp.triu(a, 1).T


def triu_of(a: Float[Array, "n n"]) -> Float[Array, " m"]:
    """The upper triangle of `a`, row major (inverse of `symmetric_from_triu`).

    Raises:
        ValueError: `a` is not a square matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import triu_of
        >>> print(triu_of(jnp.array([[1.0, 2.0], [2.0, 3.0]])))
        [1. 2. 3.]
    """
    a = jnp.asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"jaxgrad.optimize.triu_of: a must be a square matrix; got shape {a.shape}.")
    return a[np.triu_indices(a.shape[-1])]


def eigenvalue_misfit(p: Float[Array, " m"], targets: Float[Array, " n"]):
    """`Σᵢ (λᵢ(A) − tᵢ)²` with `A = symmetric_from_triu(p)`, `λ` ascending, `t` sorted.

    The objective that [`symmetric_with_eigenvalues`][jaxgrad.optimize.symmetric_with_eigenvalues]
    minimises. Returns `(loss, A)`. The loss is a symmetric function of any group of tied
    target eigenvalues, so its gradient through `jaxgrad.linalg.eigvalsh` is exact even
    at a tie (e.g. targets (1, 1, 1), whose solution is the identity).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import eigenvalue_misfit
        >>> loss, a = eigenvalue_misfit(jnp.array([2.0, 0.0, 3.0]), jnp.array([3.0, 1.0]))
        >>> print(a)  # eigenvalues 2, 3 against the targets 1, 3: loss (2 - 1)² = 1
        [[2. 0.]
         [0. 3.]]
        >>> print(float(loss))
        1.0
    """
    targets = jnp.asarray(targets)
    if targets.ndim != 1:
        raise ValueError(f"jaxgrad.optimize.eigenvalue_misfit: targets must be a vector; got shape {targets.shape}.")
    n = targets.shape[0]
    a = symmetric_from_triu(p, n)
    lam = eigvalsh(a)
    return jnp.sum((lam - jnp.sort(targets)) ** 2), a


def symmetric_with_eigenvalues(
    targets: Float[ArrayLike, " n"],
    a0: Float[ArrayLike, "n n"] | None = None,
    *,
    seed: int = 0,
    optimizer: optax.GradientTransformation | None = None,
    tol: float | None = None,
    max_steps: int = 100,
    throw: bool = True,
    ridge: float = 0.0,
) -> Solution:
    """A symmetric matrix with prescribed eigenvalues (the inverse symmetric eigenvalue problem).

    Minimises `Σᵢ (λᵢ(A) − tᵢ)²` ([`eigenvalue_misfit`][jaxgrad.optimize.eigenvalue_misfit])
    over the upper triangle of `A` (`n(n+1)/2` unknowns) with
    [`minimize`][jaxgrad.optimize.minimize] (L-BFGS by default), through
    [`jaxgrad.linalg.eigvalsh`][]. Repeated targets are fine: the loss is symmetric in
    tied eigenvalues, where `eigvalsh` gives exact derivatives.

    The solution set is not isolated (every `Q A Qᵀ` works), so the Hessian at the
    solution is singular: derivatives of `A` with respect to `targets` need
    `ridge > 0` (minimum-norm derivative, see [`minimize`][jaxgrad.optimize.minimize]).
    With `ridge=0` reverse mode (`jax.grad`, `jax.jacrev`) of the matrix itself is
    NaN; forward mode (`jax.jvp`, `jax.jacfwd`) returns the minimum-norm derivative,
    because its right-hand sides lie in the Hessian's range, and so does reverse mode of
    a function of `A` that is invariant under `Q A Qᵀ` (its eigenvalues, e.g.
    `eigvalsh(sol.aux)`), whose cotangent lies there (docs/optimize.md, "ridge").

    Arguments:
        targets: the `n` target eigenvalues (any order).
        a0: starting matrix (symmetrised); default a seeded random symmetric matrix
            with standard normal entries.
        seed: seed of the default `a0`.
        optimizer: passed to `minimize` (default L-BFGS).
        tol: passed to `minimize`.
        max_steps: passed to `minimize`.
        throw: passed to `minimize`.
        ridge: passed to `minimize` (adjoint regularisation).

    Returns:
        The `Solution` of `minimize`: `x` is the upper triangle, `aux` the matrix `A`,
        `value` the loss. The minimisation runs on `t/σ` and `a0/σ` (σ the power of two
        nearest below `max|t|`, so that the default gradient tolerance fits targets of
        any scale: at 1e-8·[1, 2, 3] the eigenvalues came out 2.7e-4 off, `converged`,
        and at 1e8 the line search failed; outside probe); `x`, `aux` and `value` are
        scaled back, `grad_norm` and `tol` are those of the scaled problem.

    Raises:
        ValueError: `targets` is not a non-empty vector, `a0` does not match it, or `seed`
            (used without `a0`) is not an integer >= 0.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import symmetric_with_eigenvalues
        >>> sol = symmetric_with_eigenvalues(jnp.array([1.0, 2.0, 3.0]))
        >>> print(jnp.linalg.eigvalsh(sol.aux).round(4))
        [1. 2. 3.]
        >>> float(sol.value) < 1e-9  # the loss: ~1e-25 in float64, ~1e-11 in float32
        True
    """
    fn = "jaxgrad.optimize.symmetric_with_eigenvalues"
    targets = as_real_float(targets, "targets", fn)
    throw = as_flag(fn, "throw", throw)
    if targets.ndim != 1:
        raise ValueError(f"{fn}: targets must be a vector; got shape {targets.shape}.")
    n = targets.shape[0]
    if n == 0:  # (the message named the default a0, which the user did not give)
        raise ValueError(f"{fn}: targets is empty; there is no matrix to find.")
    a0_given = a0 is not None  # (the default is drawn at the scaled problem's unit scale)
    if a0 is None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"{fn}: seed must be an integer >= 0; got {seed!r}.")  # (numpy's message named no argument)
    if a0 is None:
        g = np.random.default_rng(seed).normal(size=(n, n))
        a0 = (g + g.T) / 2
    a0 = as_real_square(a0, "a0", fn)
    if a0.shape[0] != n:
        raise ValueError(f"{fn}: a0 must be {n} x {n} to match targets; got {a0.shape}.")
    sigma = power_of_two_scale(targets).astype(targets.dtype)  # exact; no derivative
    p0 = triu_of((a0 + a0.T) / 2).astype(targets.dtype)
    if a0_given:
        p0 = p0 / sigma
    sol = minimize(
        eigenvalue_misfit, p0, (targets / sigma,), optimizer=optimizer, tol=tol,
        max_steps=max_steps, has_aux=True, throw=throw, ridge=ridge,
    )
    # The misfit of σA against σt is σ² times that of A against t.
    return eqx.tree_at(lambda s: (s.x, s.aux, s.value), sol, (sol.x * sigma, sol.aux * sigma, sol.value * sigma * sigma))
