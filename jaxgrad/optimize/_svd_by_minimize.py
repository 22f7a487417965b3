"""The singular value decomposition of a square matrix by optimisation over rotations."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float

from .._where import where
from ..linalg import funm
from .._options import as_flag
from .._power_of_two import power_of_two_scale
from ._checks import as_real_square
from ._minimize import minimize
from ._solution import Solution


def _skew_expm(p):
    """exp(K) of the skew-symmetric K = P − Pᵀ, through the Hermitian H = iK = V Λ Vᴴ.

    exp(K) = exp(−iH) = V (cos Λ − i sin Λ) Vᴴ = cos(H) − i sin(H); H is imaginary, so
    cos(H) is real and sin(H) imaginary, and exp(K) = Re cos(H) + Im sin(H). Each is a
    `funm` of a real function, whose Daleckii–Krein derivative is exact where
    eigenvalues of K coincide (all of them at the start P = 0). Same values and
    derivatives as `jax.scipy.linalg.expm` (to rounding), and a third of its compile
    time with the gradient (compiled into `minimize` and every baseline loop).
    """
    h = 1j * (p - p.T)
    return jnp.real(funm(h, jnp.cos)) + jnp.imag(funm(h, jnp.sin))


def svd_trace_loss(params, m, u0, v0):
    """`−tr(Uᵀ M V N)`, `U = U₀ exp(P − Pᵀ)`, `V = V₀ exp(Q − Qᵀ)`, `N = diag(n, …, 1)`.

    The objective that [`svd_by_minimize`][jaxgrad.optimize.svd_by_minimize] minimises
    over `params = (P, Q)` (Brockett's cost, negated). Over rotations its minimum is
    reached when `Uᵀ M V` is diagonal with descending entries (see
    `svd_trace_loss_minimum` for its value). Returns `(loss, (U, V))`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import svd_trace_loss
        >>> m, z, eye = jnp.diag(jnp.array([3.0, 1.0])), jnp.zeros((2, 2)), jnp.eye(2)
        >>> loss, (u, v) = svd_trace_loss((z, z), m, eye, eye)  # U = V = I: −(2·3 + 1·1)
        >>> print(float(loss))
        -7.0
    """
    p, q = params
    n = m.shape[0]
    u = u0 @ _skew_expm(p)
    v = v0 @ _skew_expm(q)
    weights = jnp.arange(n, 0, -1, dtype=m.dtype)
    return -jnp.sum(jnp.diagonal(u.T @ m @ v) * weights), (u, v)


def svd_trace_loss_minimum(m, u0, v0):
    """Minimum of `svd_trace_loss` over rotations of `U₀`, `V₀` (not public API).

    `det(Uᵀ M V)` keeps its sign along the rotation groups, so when
    `det(U₀) det(M) det(V₀) < 0` the smallest singular value enters with a minus sign:
    the minimum is `−Σ (n+1−i) σᵢ + 2 σₙ` instead of `−Σ (n+1−i) σᵢ`.
    """
    s = jnp.linalg.svd(m, compute_uv=False)
    n = m.shape[0]
    best = -jnp.sum(s * jnp.arange(n, 0, -1, dtype=m.dtype))
    sign = jnp.sign(jnp.linalg.det(u0) * jnp.linalg.det(m) * jnp.linalg.det(v0))
    return best + where(sign < 0, 2 * s[-1], 0.0)


class SVDByMinimizeResult(NamedTuple):
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
) -> SVDByMinimizeResult:
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
            of a tied pair are only determined up to a rotation). Near a tie the
            minimiser converges slowly (gaps of 1e-12 to 1e-8 relative ended
            `max_steps` at `tol=1e-13`), and at a tie its derivatives are not reliable
            even for results that do not see the rotation: `jax.jvp` is NaN, and the
            gradient of a loss of `U Vᵀ` came out 0.4 % off (the Hessian's eigenvalue
            along the rotation is rounding-sized, not 0, and amplifies rounding in the
            adjoint solve; outside probe). Use [`jaxgrad.linalg.svd`][] there.
        optimizer: passed to `minimize`.
        tol: passed to `minimize`.
        max_steps: passed to `minimize`.
        throw: passed to `minimize`.

    Returns:
        `SVDByMinimizeResult(U, S, V, solution)` with `S = diag(Uᵀ M V) ≥ 0`, sorted
        descending (a negative diagonal entry, possible because `U`, `V` stay in the
        rotation group of their starting points, has its sign moved into `V`).
        `solution` is `minimize`'s for `M/σ`, σ the power of two nearest below
        `max|M|`: the cost is linear in `M`, and at unit scale the default gradient
        tolerance of `minimize` fits any `M` (at 1e8·M the search ended in
        `linesearch_failed`, at 1e-8·M after two steps with S 25 % off).

    Raises:
        ValueError: `m` is not a square matrix.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.optimize import svd_by_minimize
        >>> m = jnp.array([[3.0, 1.0], [0.0, 2.0]])
        >>> print(jnp.allclose(svd_by_minimize(m).S, jnp.linalg.svd(m)[1]))
        True
    """
    m = as_real_square(m, "m", "jaxgrad.optimize.svd_by_minimize")
    throw = as_flag("jaxgrad.optimize.svd_by_minimize", "throw", throw)
    unit = m / power_of_two_scale(m).astype(m.dtype)  # exact; σ has no derivative
    u0, _ = jnp.linalg.qr(unit)
    v0, _ = jnp.linalg.qr(unit.T)
    zero = jnp.zeros_like(m)
    sol = minimize(svd_trace_loss, (zero, zero), (unit, u0, v0), optimizer=optimizer, tol=tol,
                   max_steps=max_steps, has_aux=True, throw=throw)
    u, v = sol.aux
    # U, V stay in the rotation group of U₀, V₀, so one diagonal entry may come out
    # negative (when det(Uᵀ M V) < 0): move its sign into V.
    d = jnp.diagonal(u.T @ m @ v)
    v = v * where(d < 0, -1.0, 1.0).astype(v.dtype)
    order = jnp.argsort(-jnp.abs(d))
    return SVDByMinimizeResult(u[:, order], jnp.abs(d)[order], v[:, order], sol)
