"""General (non-Hermitian) eigendecomposition with normalised, differentiable eigenvectors."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Complex

from ._checks import as_inexact_matrix, nan_where, split_nonfinite
from ._ties import gap_reciprocals, resolve_tie_rtol


class EigResult(NamedTuple):
    eigenvalues: Complex[Array, "*batch n"]
    eigenvectors: Complex[Array, "*batch n n"]


def _normalise(v):
    """Unit columns whose largest-magnitude entry is real and positive.

    LAPACK's geev already makes that entry real; fixing its sign too makes every
    eigenvector of a simple eigenvalue a well-defined function of the matrix, so its
    derivative means something.
    """
    v = v / jnp.linalg.norm(v, axis=-2, keepdims=True)
    pivot = jnp.take_along_axis(v, jnp.argmax(jnp.abs(v), axis=-2)[..., None, :], axis=-2)
    return v * (jnp.conj(pivot) / jnp.abs(pivot))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _eig(a, tie_rtol):
    w, v = lax.linalg.eig(a, compute_left_eigenvectors=False)
    return w, _normalise(v)


def _defective_scale(w, v, vinv, tied, dtype):
    """1 for eigenvalues whose derivative exists, NaN for a defective tied cluster.

    A tied cluster is semisimple when its eigenvectors are independent; for a Jordan
    block they are (numerically) parallel and the eigenvalue condition numbers
    ``κᵢ = ‖vᵢ‖·‖row i of V⁻¹‖`` explode (≈ ε^(-1/2) or more once rounding splits the
    block). There the eigenvalues move like ``sqrt(t)`` and have no derivative. The
    threshold ``ε^(-1/4)`` sits between well-conditioned semisimple ties (κ = O(1)) and
    that.
    """
    eps = float(np.finfo(jnp.finfo(dtype).dtype).eps)
    kappa = jnp.linalg.norm(vinv, axis=-1)  # columns of v have unit norm
    eye = jnp.eye(w.shape[-1], dtype=bool)
    in_cluster = jnp.any(tied & ~eye, axis=-1)
    ill = in_cluster & (kappa > eps ** -0.25)
    defective = jnp.any(tied & ill[..., None, :], axis=-1)
    return jnp.where(defective, jnp.nan, 1.0).astype(w.real.dtype)


# Non-Hermitian perturbation theory (Magnus 1985; Giles 2008, sec. 3.1): for
# A = V Λ V⁻¹ with simple eigenvalues, C = V⁻¹ dA V, dλᵢ = Cᵢᵢ and dV = V(F ∘ C) + V D,
# Fᵢⱼ = 1/(λⱼ − λᵢ), where the diagonal D is fixed by the normalisation of `_normalise`:
#   ‖vᵢ‖ = 1            ⇒  Re Dᵢᵢ = −Re(vᵢᴴ wᵢ),
#   vᵢ[pᵢ] real > 0     ⇒  Im Dᵢᵢ = −Im(wᵢ[pᵢ]) / vᵢ[pᵢ],
# with wᵢ the i-th column of V(F ∘ C) and pᵢ the pivot row. Tied pairs get Fᵢⱼ = 0 as in
# eigh (exact for semisimple clusters through their spectral projector and symmetric
# functions of the eigenvalues); defective clusters get NaN (see `_defective_scale`).
@_eig.defjvp
def _eig_jvp(tie_rtol, primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = _eig(a, tie_rtol)
    vinv = jnp.linalg.inv(v)
    c = vinv @ da.astype(v.dtype) @ v
    f, tied = gap_reciprocals(w, tie_rtol)
    dv = v @ (f * c)
    pivot_row = jnp.argmax(jnp.abs(v), axis=-2)[..., None, :]
    pivot = jnp.real(jnp.take_along_axis(v, pivot_row, axis=-2))
    dv_pivot = jnp.take_along_axis(dv, pivot_row, axis=-2)
    norm_fix = -jnp.real(jnp.sum(jnp.conj(v) * dv, axis=-2, keepdims=True))
    phase_fix = -jnp.imag(dv_pivot) / pivot
    dv = dv + v * (norm_fix + 1j * phase_fix)
    scale = _defective_scale(w, v, vinv, tied, w.dtype)
    dw = jnp.diagonal(c, axis1=-2, axis2=-1) * scale
    return (w, v), (dw, dv * scale[..., None, :])


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _eigvals(a, tie_rtol):
    return lax.linalg.eig(a, compute_left_eigenvectors=False, compute_right_eigenvectors=False)[0]


@_eigvals.defjvp
def _eigvals_jvp(tie_rtol, primals, tangents):
    (w, _), (dw, _) = jax.jvp(lambda x: _eig(x, tie_rtol), primals, tangents)
    return w, dw


def _prepare(a, fn):
    a = as_inexact_matrix(a, fn)
    a, bad = split_nonfinite(a)
    return a, bad


def eig(a: ArrayLike, *, tie_rtol: float | None = None) -> EigResult:
    """Eigenvalues and right eigenvectors of a general square matrix; a drop-in for [`jax.numpy.linalg.eig`][].

    Eigenvectors are normalised to unit 2-norm with their largest-magnitude entry real
    and positive (LAPACK makes it real; the sign is fixed here), so an eigenvector of a
    simple eigenvalue is a function of `a` and has a derivative consistent with that
    normalisation. The normalisation switches where two entries of an eigenvector tie
    in magnitude; derivatives hold between such switches.

    Derivatives are exact for simple eigenvalues. Semisimple tied clusters get finite
    derivatives that are exact for symmetric functions of their eigenvalues and for
    their spectral projector. At a defective eigenvalue (a Jordan block, e.g.
    `[[1, 1], [0, 1]]`) eigenvalues move like `sqrt(t)`: the derivative does not exist
    and is returned as NaN, in forward and reverse mode.

    Arguments:
        a: square matrices, shape `(*batch, n, n)`, real or complex.
        tie_rtol: eigenvalues closer than `tie_rtol * max|λ|` count as tied (default
            `sqrt(eps)`).

    Returns:
        `EigResult(eigenvalues, eigenvectors)`, complex, in LAPACK's order (unsorted).
        NaN for matrices with non-finite entries.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import eig
        >>> a = jnp.array([[2.0, 1.0], [0.0, 3.0]])
        >>> print(jax.jacfwd(lambda a: eig(a).eigenvalues.real)(a)[0])  # dλ₀/da = y xᵀ / (yᵀx)
        [[ 1.  0.]
         [-1.  0.]]
    """
    a, bad = _prepare(a, "jaxgrad.linalg.eig")
    w, v = _eig(a, resolve_tie_rtol(tie_rtol, a.dtype))
    return EigResult(nan_where(bad, w, 1), nan_where(bad, v, 2))


def eigvals(a: ArrayLike, *, tie_rtol: float | None = None) -> Complex[Array, "*batch n"]:
    """Eigenvalues of a general square matrix; a drop-in for [`jax.numpy.linalg.eigvals`][].

    Only the eigenvalues are computed on the primal pass; derivatives follow
    [`jaxgrad.linalg.eig`][] (NaN at defective eigenvalues).

    Arguments:
        a: square matrices, shape `(*batch, n, n)`.
        tie_rtol: see [`jaxgrad.linalg.eig`][].

    Returns:
        Complex eigenvalues, shape `(*batch, n)`.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import eigvals
        >>> print(jax.grad(lambda a: eigvals(a).real.sum())(jnp.array([[0.0, 1.0], [-1.0, 0.0]])))
        [[1. 0.]
         [0. 1.]]
    """
    a, bad = _prepare(a, "jaxgrad.linalg.eigvals")
    w = _eigvals(a, resolve_tie_rtol(tie_rtol, a.dtype))
    return nan_where(bad, w, 1)
