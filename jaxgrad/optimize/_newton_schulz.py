"""The inverse of a nonsingular matrix by the Newton–Schulz iteration `X ← X (2I − M X)`."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

from .._nan import nan_derivatives_if
from .._options import as_real
from .._power_of_two import power_of_two_scale
from .._where import where
from ._checks import as_real_square


class NewtonSchulzStatus(eqx.Enumeration):
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
    status: NewtonSchulzStatus


@jax.custom_jvp
def _with_inverse_tangent(m, x):
    return x


# d(M⁻¹) = −M⁻¹ dM M⁻¹ (differentiate M X = I). The iterations are not differentiated:
# the tangent uses the computed inverse X only, so it is as accurate as X. The X in the
# tangent is this function's own output, not the (stop_gradient) input, so that the
# rule is itself differentiable: d²(M⁻¹) = X dM₂ X dM₁ X + X dM₁ X dM₂ X, and so on.
@_with_inverse_tangent.defjvp
def _with_inverse_tangent_jvp(primals, tangents):
    m, x = primals
    dm, _ = tangents
    x = _with_inverse_tangent(m, x)
    return x, -x @ dm @ x


@jax.jit
def _newton_schulz(m, max_steps, tol):
    n = m.shape[0]
    eye = jnp.eye(n, dtype=m.dtype)
    # X₀ = Mᵀ / (‖M‖₁ ‖M‖∞) makes I − M X₀ symmetric with eigenvalues in [0, 1) for
    # nonsingular M (since ‖M‖₂² ≤ ‖M‖₁‖M‖∞), and E_k = I − M X_k = E₀^(2^k): the
    # residual decreases monotonically in exact arithmetic (Pan & Schreiber 1991,
    # "An improved Newton iteration for the generalized inverse of a matrix").
    # The iteration runs on M / 2^e with max|M / 2^e| near 1 (exact: no digit changes;
    # the residual I − M X is the same): ‖M‖₁‖M‖∞ over- or underflowed beyond
    # max|mᵢⱼ| ≈ 1e±154 and an orthogonal matrix times 1e160 came out `stagnated`,
    # times 1e-160 `nonfinite` (found by an outside probe). A zero matrix starts at
    # X₀ = 0 and stagnates (singular), instead of dividing 0 by 0.
    unit = power_of_two_scale(m)
    m = m / unit
    scale = jnp.max(jnp.sum(jnp.abs(m), 0)) * jnp.max(jnp.sum(jnp.abs(m), 1))
    x0 = m.T / where(scale > 0, scale, 1)
    r0 = jnp.linalg.norm(eye - m @ x0)

    def cond(c):
        return ~c[-1]

    def body(c):
        k, x, _, x_best, r_best, _, _ = c
        x_new = x @ (2 * eye - m @ x)
        r_new = jnp.linalg.norm(eye - m @ x_new)
        k = k + 1
        better = r_new < r_best
        x_best = where(better, x_new, x_best)
        r_best = where(better, r_new, r_best)
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
    code = where(
        ~jnp.isfinite(r), 3,
        where(r <= tol, 0, where(stalled, where(floor_ok, 0, 2), 1)),
    )
    return x / unit, k, r, code


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
    result is that of the inverse, `−X dM X`, not of the iterations; it is NaN unless
    the status is `converged`.

    Arguments:
        m: a square matrix.
        max_steps: maximum number of iterations.
        tol: residual tolerance; the default 0 iterates to rounding level.

    Returns:
        `NewtonSchulzResult(inverse, num_steps, residual, status)`, `status` a
        [`NewtonSchulzStatus`][jaxgrad.optimize.NewtonSchulzStatus]: `converged`,
        `max_steps`, `stagnated` (the residual stopped decreasing above `n·sqrt(eps)`:
        numerically singular) or `nonfinite`. In float64 the linear phase's decrease
        can fall below rounding for κ(M) above about 1e8: diag(1, 1e-8.5) ends
        `stagnated` after one step although an LU solve is still good to ~1e-7 there.
        A matrix whose singular vectors are not the axes fares better (an outside
        probe's random rotations: κ = 1e9 converged in 67 steps, 6e-9 off; κ = 1e12
        stagnated after 85, 7e-6 off). Use `jnp.linalg.inv` for such matrices.

    Raises:
        ValueError: `m` is not a square matrix, `max_steps` is not an integer >= 0, or
            `tol` is negative or NaN.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import NewtonSchulzStatus, newton_schulz_inverse
        >>> r = newton_schulz_inverse(jnp.array([[4.0, 1.0], [2.0, 3.0]]))
        >>> print((r.inverse * 10).round(5), r.status == NewtonSchulzStatus.converged)
        [[ 3. -1.]
         [-2.  4.]] True
    """
    fn = "jaxgrad.optimize.newton_schulz_inverse"
    m = as_real_square(m, "m", fn)
    if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 0:
        raise ValueError(f"{fn}: max_steps must be a Python integer >= 0; got {max_steps!r}.")
    if not isinstance(tol, jax.core.Tracer) and not (as_real(tol) is not None and as_real(tol) >= 0):
        raise ValueError(f"{fn}: tol must be a number >= 0; got {tol!r}.")  # (a traced tol is the caller's)
    x, k, r, code = _newton_schulz(m, max_steps, jnp.asarray(tol, m.dtype))
    # Derivatives only where X is the inverse: −X dM X of a matrix that is no inverse
    # (singular M `stagnated`, `max_steps`) was a finite, silent number under `jax.grad`,
    # where the status cannot be seen (outside probe).
    x = nan_derivatives_if(_with_inverse_tangent(m, lax.stop_gradient(x)), code != 0)
    status = NewtonSchulzStatus.max_steps
    status = NewtonSchulzStatus.where(code == 0, NewtonSchulzStatus.converged, status)
    status = NewtonSchulzStatus.where(code == 2, NewtonSchulzStatus.stagnated, status)
    status = NewtonSchulzStatus.where(code == 3, NewtonSchulzStatus.nonfinite, status)
    return NewtonSchulzResult(x, k, r, status)
