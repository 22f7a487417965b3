"""Generalized Hermitian-definite eigenproblem ``A v = λ B v`` with tie-safe derivatives."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jaxtyping import ArrayLike

from .._nan import replace_invalid
from ._checks import host_array, nan_where, split_nonfinite
from ._eigh import EighResult, _hermitian_input, _mH, eigh_impl
from ._ties import check_tie_rtol


def eigh_generalized(
    a: ArrayLike,
    b: ArrayLike,
    *,
    tie_rtol: float | None = None,
) -> EighResult:
    """Solve `A v = λ B v` for Hermitian `A` and Hermitian positive definite `B`.

    Eigenvalues ascending; eigenvectors `B`-orthonormal (`Vᴴ B V = I`), as in
    `scipy.linalg.eigh(a, b)`. Computed by reduction to the standard problem
    `C = L⁻¹ A L⁻ᴴ` with `B = L Lᴴ` (Cholesky), `V = L⁻ᴴ W` where `C W = W Λ`; the
    derivative with respect to both `a` and `b` is the chain rule through the
    Cholesky factor, triangular solves and [`jaxgrad.linalg.eigh`][], so it has the
    same tie semantics: exact for losses that see a tied cluster only through its
    (B-orthogonal) spectral projector `V_c V_cᴴ B` and its eigenvalues only
    symmetrically, NaN in reverse mode for losses that depend on the eigenvector
    phase or the basis inside a tie. For a simple eigenvalue,
    `dλᵢ = vᵢᴴ (dA − λᵢ dB) vᵢ`.

    Arguments:
        a: Hermitian matrices, shape `(*batch, n, n)`; symmetrized as `(a + aᴴ)/2`.
        b: Hermitian positive definite matrices with the same trailing shape (batch
            dimensions broadcast); symmetrized as `(b + bᴴ)/2`.
        tie_rtol: see [`jaxgrad.linalg.eigh`][] (ties of the reduced problem's eigenvalues).

    Returns:
        `EighResult(eigenvalues, eigenvectors)`. NaN for a matrix pair with non-finite
        entries or where `b` is not positive definite (the Cholesky factorization fails).

    Raises:
        ValueError: `a` or `b` has fewer than 2 dimensions, is not square, or their
            trailing shapes differ.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import eigh_generalized
        >>> a, b = jnp.diag(jnp.array([2.0, 6.0])), jnp.diag(jnp.array([1.0, 2.0]))
        >>> print(eigh_generalized(a, b).eigenvalues.round(4))
        [2. 3.]
        >>> # dλ₁/dB = −λ₁ v₁ v₁ᴴ with v₁ = e₂ / sqrt(2)
        >>> print(jax.grad(lambda b: eigh_generalized(a, b).eigenvalues[1])(b).round(4))
        [[ 0.   0. ]
         [ 0.  -1.5]]
    """
    return _eigh_generalized_compiled(host_array(a), host_array(b), check_tie_rtol(tie_rtol))


# The compiled core of `eigh_generalized` (see `_eigh._eigh_compiled`).
@functools.partial(jax.jit, static_argnames=("tie_rtol",))
def _eigh_generalized_compiled(a, b, tie_rtol):
    fn = "jaxgrad.linalg.eigh_generalized"
    a = _hermitian_input(a, fn, None, True)
    b = _hermitian_input(b, fn, None, True, name="b")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{fn}: arguments `a` and `b` must have the same trailing shape (n, n); "
            f"got {a.shape} and {b.shape}."
        )
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    dtype = jnp.result_type(a, b)
    a = jnp.broadcast_to(a, batch + a.shape[-2:]).astype(dtype)
    b = jnp.broadcast_to(b, batch + b.shape[-2:]).astype(dtype)
    a, bad_a = split_nonfinite(a)
    b, bad_b = split_nonfinite(b)
    # A zero (non-finite) `b` would fail Cholesky anyway; use I so the rest stays finite.
    # I is *added* to the zeroed matrices so that their NaN tangents survive (see
    # `split_nonfinite`); likewise for a failed Cholesky factor, whose input gets NaN
    # derivatives through the factor's NaN tangents.
    eye = jnp.eye(b.shape[-1], dtype=dtype)
    b = b + jnp.where(bad_b[..., None, None], eye, jnp.zeros_like(eye))
    chol = jnp.linalg.cholesky(b)
    not_pd = ~jnp.all(jnp.isfinite(chol), axis=(-2, -1))
    chol = replace_invalid(chol, not_pd[..., None, None], 0.0)
    chol = chol + jnp.where(not_pd[..., None, None], eye, jnp.zeros_like(eye))
    half = solve_triangular(chol, a, lower=True)  # L⁻¹ A
    reduced = _mH(solve_triangular(chol, _mH(half), lower=True))  # L⁻¹ A L⁻ᴴ
    w, vecs = eigh_impl(reduced, None, True, tie_rtol)
    v = solve_triangular(_mH(chol), vecs, lower=False)  # L⁻ᴴ W
    bad = bad_a | bad_b | not_pd
    return EighResult(nan_where(bad, w, 1), nan_where(bad, v, 2))
