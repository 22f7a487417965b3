"""Generalized Hermitian-definite eigenproblem ``A v = λ B v`` with tie-safe derivatives."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import solve_triangular
from jaxtyping import ArrayLike

from .._where import where
from ._checks import hermitian_part, host_array, nan_where, split_nonfinite
from ._eigh import EighResult, _eigh, _hermitian_input, _mH
from ._gauge import gauge_guard
from ._graded import permuted, rows_put_back
from ._ties import check_tie_rtol, gap_reciprocals, gauge_rtol, resolve_tie_rtol


def eigh_generalized(
    a: ArrayLike,
    b: ArrayLike,
    *,
    tie_rtol: float | None = None,
) -> EighResult:
    """Solve `A v = λ B v` for Hermitian `A` and Hermitian positive definite `B`.

    Eigenvalues ascending; eigenvectors `B`-orthonormal (`Vᴴ B V = I`), as in
    `scipy.linalg.eigh(a, b)`. Computed by reduction to the standard problem
    `C = L⁻¹ A L⁻ᴴ` with `B = L Lᴴ` (Cholesky), `V = L⁻ᴴ W` where `C W = W Λ`, with the
    pair permuted so that `B`'s diagonal descends and `C` so that its diagonal's
    magnitudes descend: a graded `B` (diagonal scales spanning many orders, such as
    `diag(1, 1e-16, 1)`) keeps the finite eigenvalues to a few ulps. An ill-conditioned
    `B` that is not graded loses digits as `eps·cond(B)`, as in LAPACK. The
    derivative with respect to both `a` and `b` is first-order perturbation theory
    of the pair itself, from `V` and `Λ` (not the chain rule through the Cholesky
    factor, which loses digits as `B` becomes ill-conditioned): for a simple
    eigenvalue `dλᵢ = vᵢᴴ (dA − λᵢ dB) vᵢ`. It has the tie semantics of
    [`jaxgrad.linalg.eigh`][]: exact for losses that see a tied cluster only through
    its (B-orthogonal) spectral projector `V_c V_cᴴ B` and its eigenvalues only
    symmetrically, NaN in reverse mode for losses that depend on the eigenvector
    phase or the basis inside a tie. The tie tolerance is `tie_rtol·max|λ|`: an
    ill-conditioned `B` can make the largest eigenvalue huge (1e9 beside eigenvalues
    of order one), and pairs of the small ones then count as tied; pass a smaller
    `tie_rtol` if their eigenvectors' derivatives matter.

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
    try:
        batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"{fn}: the batch dimensions of `a` {a.shape[:-2]} and `b` {b.shape[:-2]} do not "
            "broadcast against each other."
        ) from None
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
    b = b + where(bad_b[..., None, None], eye, jnp.zeros_like(eye))
    # The factor is only used for the values (the rule below differentiates without
    # it). Where `b` is not positive definite it is replaced by I and the outputs are
    # NaN, value and derivatives.
    # The pair is permuted so that B's diagonal descends (an exact similarity; the
    # eigenvectors' rows are put back below): with B graded (diag(1, 1e-16, 1), or
    # D S D with D spanning 1e-12) the reduced matrix was graded the wrong way for the
    # eigensolver, and the eigenvalues came out 1.2× to 17× off, reported as exact
    # (outside probe; scipy: 2.5e-15, and 7.8e-2 for the small pivot last).
    order = jnp.argsort(-jnp.real(jnp.diagonal(lax.stop_gradient(b), axis1=-2, axis2=-1)), axis=-1)
    a, b = permuted(a, order), permuted(b, order)
    chol = jnp.linalg.cholesky(lax.stop_gradient(b))
    not_pd = ~jnp.all(jnp.isfinite(chol), axis=(-2, -1))
    chol = where(not_pd[..., None, None], eye, chol)
    w, v = _pair(a, b, chol, resolve_tie_rtol(tie_rtol, dtype))
    v = rows_put_back(v, order)
    bad = bad_a | bad_b | not_pd
    return EighResult(nan_where(bad, w, 1), nan_where(bad, v, 2))


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _pair(a, b, chol, tie_rtol):
    """Eigenvalues and B-orthonormal eigenvectors of the pair (`a`, `b`), finite, `b`
    positive definite with Cholesky factor `chol`."""
    half = solve_triangular(chol, a, lower=True)  # L⁻¹ A
    reduced = hermitian_part(_mH(solve_triangular(chol, _mH(half), lower=True)))  # L⁻¹ A L⁻ᴴ
    # (`_eigh` orders the graded reduced matrix for the eigensolver: B = diag(1, 1e-12, 1)
    # puts a 1e12 in its middle, 4.4e-5 off unordered.)
    w, vecs = _eigh(reduced, tie_rtol)
    return w, solve_triangular(_mH(chol), vecs, lower=False)  # V = L⁻ᴴ W


# First-order perturbation theory of A V = B V Λ with Vᴴ B V = I (Magnus 1985; the
# generalized form of `_eigh_jvp`): with C = Vᴴ dA V, D = Vᴴ dB V and dV = V P,
# differentiating both equations gives C + Λ P = D Λ + P Λ + dΛ and P + Pᴴ = −D, so
#   dλᵢ = Re Cᵢᵢ − λᵢ Dᵢᵢ,   Pᵢⱼ = (Cᵢⱼ − λⱼ Dᵢⱼ)/(λⱼ − λᵢ) (i ≠ j),   Pᵢᵢ = −Dᵢᵢ/2.
# The ties are `_eigh_jvp`'s: inside a tied cluster Pᵢⱼ = −Dᵢⱼ/2, which keeps V_c
# B-orthonormal without rotating it (P = Ω − D/2 with Ω = 0 there; off ties Ω is
# `_eigh_jvp`'s Ω for the Hermitian K = C − (ΛD + DΛ)/2), the phase is fixed by
# Im Pᵢᵢ = 0, and reverse mode runs the same gauge check on the cotangent of V. P is
# computed as written, not as Ω − D/2: with eigenvalues far apart (1 and 3e12 for
# B = diag(1, 1e-12)) Ω's small part drowns in D/2 and the second derivative lost
# four digits. Only V and Λ enter, both accurate: the chain rule through the Cholesky
# factor lost digits as ε·cond(B) (dλ/dB of A = [[2, 1], [1, 3]], B = diag(1, d):
# 1.5e-4 off at d = 1e-12, the wrong sign at d = 1e-20, with λ and V exact; found by
# an outside probe). The rule calls `_pair` itself, so it can be differentiated again.
@_pair.defjvp
def _pair_jvp(tie_rtol, primals, tangents):
    a, b, chol = primals
    da, db, _ = tangents
    w, v = _pair(a, b, chol, tie_rtol)
    vh = _mH(v)
    c, d = vh @ da @ v, vh @ db @ v
    f, tied = gap_reciprocals(w, tie_rtol)
    (off,) = gauge_guard((f * (c - d * w[..., None, :]),), tied, rtol=gauge_rtol(a.dtype, a.shape[-1]))
    p = off - where(tied, d, jnp.zeros_like(d)) / 2
    dw = jnp.real(jnp.diagonal(c, axis1=-2, axis2=-1)) - w * jnp.real(jnp.diagonal(d, axis1=-2, axis2=-1))
    return (w, v), (dw, v @ p)
