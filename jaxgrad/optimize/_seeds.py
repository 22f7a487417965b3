"""The seed problems: small inverse problems whose derivatives go through jaxgrad.

- `inverse_eigenvalues`: a symmetric matrix with prescribed eigenvalues (ties allowed).
- `inverse_by_minimize` and `newton_schulz_inverse`: a matrix inverse, by optimisation
  and by the Newton–Schulz iteration.
- `svd_by_minimize`: singular values and vectors from an orthogonally constrained
  maximisation (Brockett's cost), to be compared with `jaxgrad.linalg.svd`.
- `steps_to_loss`: a first-order baseline (Adam, momentum SGD...) run until a target loss.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int, PyTree

from ..linalg import eigvalsh
from ._minimize import minimize
from ._solution import Solution


def _as_float(x, name: str, fn: str):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: {name} must be real; got dtype {x.dtype}.")
    return x


def _square(m, name: str, fn: str):
    m = _as_float(m, name, fn)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{fn}: {name} must be a square matrix; got shape {m.shape}.")
    return m


# ----------------------------------------------------------------------------------
# Inverse symmetric eigenvalue problem


def symmetric_from_triu(p: Float[Array, " m"], n: int) -> Float[Array, "n n"]:
    """The symmetric `n × n` matrix whose upper triangle (row major) is `p`, `m = n(n+1)/2`."""
    rows, cols = np.triu_indices(n)
    a = jnp.zeros((n, n), p.dtype).at[rows, cols].set(p)
    return a + jnp.triu(a, 1).T


def triu_of(a: Float[Array, "n n"]) -> Float[Array, " m"]:
    """The upper triangle of `a`, row major (inverse of `symmetric_from_triu`)."""
    return a[np.triu_indices(a.shape[-1])]


def inverse_eigenvalue_loss(p: Float[Array, " m"], targets: Float[Array, " n"]):
    """`Σᵢ (λᵢ(A) − tᵢ)²` with `A = symmetric_from_triu(p)`, `λ` ascending, `t` sorted.

    Returns `(loss, A)`. The loss is a symmetric function of any group of tied target
    eigenvalues, so its gradient through `jaxgrad.linalg.eigvalsh` is exact even at a
    tie (e.g. targets (1, 1, 1), whose solution is the identity).
    """
    n = targets.shape[-1]
    a = symmetric_from_triu(p, n)
    lam = eigvalsh(a)
    return jnp.sum((lam - jnp.sort(targets)) ** 2), a


def inverse_eigenvalues(
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
    """A symmetric matrix with prescribed eigenvalues, by `minimize` through `eigvalsh`.

    Minimises `Σᵢ (λᵢ(A) − tᵢ)²` over the upper triangle of `A` (`n(n+1)/2` unknowns)
    with [`minimize`][jaxgrad.optimize.minimize] (L-BFGS by default). Repeated targets
    are fine: the loss is symmetric in tied eigenvalues, where
    [`jaxgrad.linalg.eigvalsh`][] gives exact derivatives.

    The solution set is not isolated (every `Q A Qᵀ` works), so the Hessian at the
    solution is singular: derivatives of `A` with respect to `targets` need
    `ridge > 0` (minimum-norm derivative, see [`minimize`][jaxgrad.optimize.minimize]);
    with `ridge=0` they are NaN.

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
        `value` the loss.

    Raises:
        ValueError: `targets` is not a vector, or `a0` does not match it.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import inverse_eigenvalues
        >>> sol = inverse_eigenvalues(jnp.array([1.0, 2.0, 3.0]))
        >>> print(jnp.linalg.eigvalsh(sol.aux).round(8), bool(sol.value < 1e-16))
        [1. 2. 3.] True
    """
    fn = "jaxgrad.optimize.inverse_eigenvalues"
    targets = _as_float(targets, "targets", fn)
    if targets.ndim != 1:
        raise ValueError(f"{fn}: targets must be a vector; got shape {targets.shape}.")
    n = targets.shape[0]
    if a0 is None:
        g = np.random.default_rng(seed).normal(size=(n, n))
        a0 = (g + g.T) / 2
    a0 = _square(a0, "a0", fn)
    if a0.shape[0] != n:
        raise ValueError(f"{fn}: a0 must be {n} x {n} to match targets; got {a0.shape}.")
    p0 = triu_of((a0 + a0.T) / 2).astype(targets.dtype)
    return minimize(
        inverse_eigenvalue_loss, p0, (targets,), optimizer=optimizer, tol=tol,
        max_steps=max_steps, has_aux=True, throw=throw, ridge=ridge,
    )


# ----------------------------------------------------------------------------------
# Matrix inverse


def inverse_loss(x: Float[Array, "n n"], m: Float[Array, "n n"]):
    """`‖X M − I‖_F²`."""
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
    `newton_schulz_inverse` or a factorisation). `Solution.x` is differentiable in `m`
    (implicitly: `dX = −X dM X`).

    Arguments:
        m: a square nonsingular matrix.
        optimizer: passed to `minimize`.
        tol: passed to `minimize`.
        max_steps: passed to `minimize`.
        throw: passed to `minimize`.

    Returns:
        The `Solution`; `x` approximates `m⁻¹`.

    Raises:
        ValueError: `m` is not a square matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import inverse_by_minimize
        >>> m = jnp.array([[2.0, 1.0], [1.0, 3.0]])
        >>> print((inverse_by_minimize(m).x @ m).round(10) + 0.0)
        [[1. 0.]
         [0. 1.]]
    """
    m = _square(m, "m", "jaxgrad.optimize.inverse_by_minimize")
    return minimize(inverse_loss, jnp.zeros_like(m), (m,), optimizer=optimizer, tol=tol,
                    max_steps=max_steps, throw=throw)


class IterationStatus(eqx.Enumeration):
    """Why `newton_schulz_inverse` stopped."""

    converged = "converged: the residual reached the tolerance or stopped decreasing at rounding level"
    max_steps = "the maximum number of steps was reached before convergence"
    stagnated = "the residual stopped decreasing far from zero (the matrix is singular or too ill-conditioned)"
    nonfinite = "the iteration produced NaN or infinite values"


class NewtonSchulzResult(NamedTuple):
    """Result of `newton_schulz_inverse`."""

    inverse: Float[Array, "n n"]
    num_steps: Int[Array, ""]
    residual: Float[Array, ""]
    status: IterationStatus


@jax.custom_jvp
def _with_inverse_tangent(m, x):
    return x


# d(M⁻¹) = −M⁻¹ dM M⁻¹ (differentiate M X = I). The iterations are not differentiated:
# the tangent uses the computed inverse X only, so it is as accurate as X.
@_with_inverse_tangent.defjvp
def _with_inverse_tangent_jvp(primals, tangents):
    m, x = primals
    dm, _ = tangents
    return x, -x @ dm @ x


@jax.jit
def _newton_schulz(m, max_steps, tol):
    n = m.shape[0]
    eye = jnp.eye(n, dtype=m.dtype)
    # X₀ = Mᵀ / (‖M‖₁ ‖M‖∞) makes I − M X₀ symmetric with eigenvalues in [0, 1) for
    # nonsingular M (since ‖M‖₂² ≤ ‖M‖₁‖M‖∞), and E_k = I − M X_k = E₀^(2^k): the
    # residual decreases monotonically in exact arithmetic (Pan & Schreiber 1991,
    # "An improved Newton iteration for the generalized inverse of a matrix").
    scale = jnp.max(jnp.sum(jnp.abs(m), 0)) * jnp.max(jnp.sum(jnp.abs(m), 1))
    x0 = m.T / scale
    r0 = jnp.linalg.norm(eye - m @ x0)

    def cond(c):
        return ~c[-1]

    def body(c):
        k, x, _, x_best, r_best, _, _ = c
        x_new = x @ (2 * eye - m @ x)
        r_new = jnp.linalg.norm(eye - m @ x_new)
        k = k + 1
        better = r_new < r_best
        x_best = jnp.where(better, x_new, x_best)
        r_best = jnp.where(better, r_new, r_best)
        # Monotone in exact arithmetic, so a residual that stops decreasing has hit
        # rounding level (or the matrix is numerically singular).
        stalled = ~better
        done = (r_best <= tol) | stalled | (k >= max_steps)
        return k, x_new, r_new, x_best, r_best, stalled, done

    done0 = (r0 <= tol) | ~jnp.isfinite(r0) | (max_steps <= 0)
    k, _, r_last, x, r, stalled, _ = lax.while_loop(
        cond, body, (jnp.zeros((), jnp.int32), x0, r0, x0, r0, jnp.array(False), done0)
    )
    # "Rounding level": the residual floor of a backward-stable inverse is ~ n·eps·κ;
    # accept a floor up to n·sqrt(eps) (κ up to ~1e8 in float64).
    floor_ok = r <= jnp.sqrt(jnp.finfo(m.dtype).eps) * n
    code = jnp.where(
        ~jnp.isfinite(r), 3,
        jnp.where(r <= tol, 0, jnp.where(stalled, jnp.where(floor_ok, 0, 2), 1)),
    )
    return x, k, r, code


def newton_schulz_inverse(
    m: Float[ArrayLike, "n n"],
    *,
    max_steps: int = 100,
    tol: float = 0.0,
) -> NewtonSchulzResult:
    """Inverse of a nonsingular matrix by the Newton–Schulz iteration `X ← X (2I − M X)`.

    Started at `X₀ = Mᵀ / (‖M‖₁‖M‖∞)`, the residual `‖I − M X‖_F` decreases
    monotonically and, once below 1, quadratically: about `2·log₂ κ(M)` steps to leave
    the linear phase and a handful more to reach rounding level. The iteration stops
    when the residual is at most `tol`, when it stops decreasing (rounding level; the
    best iterate is returned), or after `max_steps` steps. The derivative of the
    result is that of the inverse, `−X dM X`, not of the iterations.

    Arguments:
        m: a square matrix.
        max_steps: maximum number of iterations.
        tol: residual tolerance; the default 0 iterates to rounding level.

    Returns:
        `NewtonSchulzResult(inverse, num_steps, residual, status)`, `status` an
        `IterationStatus`: `converged`, `max_steps`, `stagnated` (the residual stopped
        decreasing above `n·sqrt(eps)`: numerically singular) or `nonfinite`.

    Raises:
        ValueError: `m` is not a square matrix, or `max_steps` is negative.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import IterationStatus, newton_schulz_inverse
        >>> r = newton_schulz_inverse(jnp.array([[4.0, 1.0], [2.0, 3.0]]))
        >>> print(r.inverse * 10, r.status == IterationStatus.converged)
        [[ 3. -1.]
         [-2.  4.]] True
    """
    fn = "jaxgrad.optimize.newton_schulz_inverse"
    m = _square(m, "m", fn)
    if max_steps < 0:
        raise ValueError(f"{fn}: max_steps must be >= 0; got {max_steps}.")
    x, k, r, code = _newton_schulz(m, max_steps, jnp.asarray(tol, m.dtype))
    x = _with_inverse_tangent(m, lax.stop_gradient(x))
    status = IterationStatus.max_steps
    status = IterationStatus.where(code == 0, IterationStatus.converged, status)
    status = IterationStatus.where(code == 2, IterationStatus.stagnated, status)
    status = IterationStatus.where(code == 3, IterationStatus.nonfinite, status)
    return NewtonSchulzResult(x, k, r, status)


# ----------------------------------------------------------------------------------
# SVD by optimisation


def _skew_expm(p):
    return jax.scipy.linalg.expm(p - p.T)


def brockett_loss(params, m, u0, v0):
    """`−tr(Uᵀ M V N)`, `U = U₀ exp(P − Pᵀ)`, `V = V₀ exp(Q − Qᵀ)`, `N = diag(n, …, 1)`."""
    p, q = params
    n = m.shape[0]
    u = u0 @ _skew_expm(p)
    v = v0 @ _skew_expm(q)
    weights = jnp.arange(n, 0, -1, dtype=m.dtype)
    return -jnp.sum(jnp.diagonal(u.T @ m @ v) * weights), (u, v)


def brockett_optimum(m, u0, v0):
    """Minimum of `brockett_loss` over rotations of `U₀`, `V₀`.

    `det(Uᵀ M V)` keeps its sign along the rotation groups, so when
    `det(U₀) det(M) det(V₀) < 0` the smallest singular value enters with a minus sign:
    the minimum is `−Σ (n+1−i) σᵢ + 2 σₙ` instead of `−Σ (n+1−i) σᵢ`.
    """
    s = jnp.linalg.svd(m, compute_uv=False)
    n = m.shape[0]
    best = -jnp.sum(s * jnp.arange(n, 0, -1, dtype=m.dtype))
    sign = jnp.sign(jnp.linalg.det(u0) * jnp.linalg.det(m) * jnp.linalg.det(v0))
    return best + jnp.where(sign < 0, 2 * s[-1], 0.0)


class SVDByMinimize(NamedTuple):
    """Result of `svd_by_minimize`: `M ≈ U diag(S) Vᵀ`, plus the `minimize` solution."""

    U: Float[Array, "n n"]
    S: Float[Array, " n"]
    V: Float[Array, "n n"]
    solution: Solution


def svd_by_minimize(
    m: Float[ArrayLike, "n n"],
    *,
    optimizer: optax.GradientTransformation | None = None,
    tol: float | None = None,
    max_steps: int = 500,
    throw: bool = True,
) -> SVDByMinimize:
    """Singular value decomposition of a square matrix by maximising `tr(Uᵀ M V N)`.

    Brockett's cost with `N = diag(n, n−1, …, 1)`: over orthogonal `U`, `V` its
    maximum is `Σ (n+1−i) σᵢ`, reached exactly when `Uᵀ M V = diag(σ)` with
    descending σ (von Neumann's trace inequality; Brockett 1991, "Dynamical systems
    that sort lists, diagonalize matrices and solve linear programming problems").
    Orthogonality is kept exactly by the parametrisation `U = exp(P − Pᵀ)`,
    `V = exp(Q − Qᵀ)` (unconstrained `P`, `Q`), started at the orthogonal factors of
    QR of `M` and of `Mᵀ`, so no penalty is needed. A teaching example, not a fast SVD:
    compare with [`jaxgrad.linalg.svd`][].

    Arguments:
        m: a square real matrix with distinct singular values (otherwise the vectors
            of a tied pair are only determined up to a rotation).
        optimizer: passed to `minimize`.
        tol: passed to `minimize`.
        max_steps: passed to `minimize`.
        throw: passed to `minimize`.

    Returns:
        `SVDByMinimize(U, S, V, solution)` with `S = diag(Uᵀ M V) ≥ 0`, sorted
        descending (a negative diagonal entry, possible because `U`, `V` stay in the
        rotation group of their starting points, has its sign moved into `V`).

    Raises:
        ValueError: `m` is not a square matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import svd_by_minimize
        >>> m = jnp.array([[3.0, 1.0], [0.0, 2.0]])
        >>> print(jnp.allclose(svd_by_minimize(m).S, jnp.linalg.svd(m)[1]))
        True
    """
    m = _square(m, "m", "jaxgrad.optimize.svd_by_minimize")
    u0, _ = jnp.linalg.qr(m)
    v0, _ = jnp.linalg.qr(m.T)
    zero = jnp.zeros_like(m)
    sol = minimize(brockett_loss, (zero, zero), (m, u0, v0), optimizer=optimizer, tol=tol,
                   max_steps=max_steps, has_aux=True, throw=throw)
    u, v = sol.aux
    # U, V stay in the rotation group of U₀, V₀, so one diagonal entry may come out
    # negative (when det(Uᵀ M V) < 0): move its sign into V.
    d = jnp.diagonal(u.T @ m @ v)
    v = v * jnp.where(d < 0, -1.0, 1.0).astype(v.dtype)
    order = jnp.argsort(-jnp.abs(d))
    return SVDByMinimize(u[:, order], jnp.abs(d)[order], v[:, order], sol)


# ----------------------------------------------------------------------------------
# First-order baselines ("the blog recipes")


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

    A baseline for the seed problems: plain first-order training loops (Adam, momentum
    SGD) as blog posts write them, compiled into one `lax.while_loop`.

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
        >>> from jaxgrad.optimize import steps_to_loss
        >>> x, k, f, _ = steps_to_loss(lambda x: jnp.sum(x**2), jnp.ones(2), (), optax.sgd(0.25), 1e-6, 100)
        >>> print(int(k), float(f) <= 1e-6)
        11 True
    """
    if max_steps < 0:
        raise ValueError(f"jaxgrad.optimize.steps_to_loss: max_steps must be >= 0; got {max_steps}.")

    def value_fn(x):
        out = loss(x, *args)
        return out[0] if has_aux else out

    return _steps_to_loss(value_fn, x0, optimizer, target, int(max_steps))


@eqx.filter_jit
def _steps_to_loss(value_fn, x0, optimizer, target, max_steps):
    vg = jax.value_and_grad(value_fn)
    v0, g0 = vg(x0)
    hist0 = jnp.full((max_steps + 1,), jnp.nan, v0.dtype).at[0].set(v0)

    def cond(c):
        k, _, _, v, _, _ = c
        return (k < max_steps) & (v > target) & jnp.isfinite(v)

    def body(c):
        k, x, s, _, g, hist = c
        upd, s = optimizer.update(g, s, x)
        x = optax.apply_updates(x, upd)
        v, g = vg(x)
        return k + 1, x, s, v, g, hist.at[k + 1].set(v)

    k, x, _, v, _, hist = lax.while_loop(
        cond, body, (jnp.zeros((), jnp.int32), x0, optimizer.init(x0), v0, g0, hist0)
    )
    return x, k, v, hist
