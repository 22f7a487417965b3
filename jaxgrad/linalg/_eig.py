"""General (non-Hermitian) eigendecomposition with normalised, differentiable eigenvectors."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Complex

from .._power_of_two import power_of_two_scale, scale_outside_middle
from .._where import where
from ._checks import as_inexact_matrix, host_array, nan_where, split_nonfinite
from ._ties import check_tie_rtol, gap_reciprocals, resolve_tie_rtol


class EigResult(NamedTuple):
    eigenvalues: Complex[Array, "*batch n"]
    eigenvectors: Complex[Array, "*batch n n"]


def _normalise(v):
    """Unit columns whose largest-magnitude entry is real and positive.

    LAPACK's geev already makes that entry real; fixing its sign too makes every
    eigenvector of a simple eigenvalue a well-defined function of the matrix, so its
    derivative means something.
    """
    if v.shape[-1] == 0:  # 0×0 matrices: no columns
        return v
    v = v / jnp.linalg.norm(v, axis=-2, keepdims=True)
    pivot = jnp.take_along_axis(v, jnp.argmax(jnp.abs(v), axis=-2)[..., None, :], axis=-2)
    return v * (jnp.conj(pivot) / jnp.abs(pivot))


def _geev(a, vectors):
    """LAPACK's geev on `a` divided by a power of two near max|a| (exact), its eigenvalues
    scaled back: geev itself returned wrong eigenvalues, with no error, for entries
    near 1e±150 in float64 and 1e12 or 1e-15 in float32 (B·10^150 with B = [[1, 2],
    [3, 4]] gave 10^150·(−1.4e-13, 2.0e-12) for (−0.372, 5.372))."""
    if a.shape[-1] == 0:  # 0×0 matrices: nothing to scale
        return lax.linalg.eig(a, compute_left_eigenvectors=False, compute_right_eigenvectors=vectors)
    scale = power_of_two_scale(a, axis=(-2, -1), keepdims=True)
    out = lax.linalg.eig(
        a / scale.astype(a.dtype), compute_left_eigenvectors=False, compute_right_eigenvectors=vectors
    )
    return (out[0] * scale[..., 0].astype(out[0].dtype),) + tuple(out[1:])


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _eig(a, tie_rtol):
    w, v = _geev(a, True)
    return w, _normalise(v)


# A simple eigenvalue whose rounding-level perturbation (`_rounding_error`) comes within
# this factor of its gap to the others is treated as a Jordan block split by rounding.
_SPLIT_BY_ROUNDING = 1e3


def _defective_scale(a, w, v, vinv, tied, dtype):
    """1 for eigenvalues whose derivative exists, NaN for a defective cluster.

    A tied cluster is semisimple when its eigenvectors are independent; for a Jordan
    block they are (numerically) parallel and the eigenvalue condition numbers
    ``κᵢ = ‖vᵢ‖·‖row i of V⁻¹‖`` explode (≈ ε^(-1/2) or more once rounding splits the
    block). There the eigenvalues move like ``sqrt(t)`` and have no derivative. The
    threshold ``ε^(-1/4)`` sits between well-conditioned semisimple ties (κ = O(1)) and
    that.

    Rounding splits a Jordan block of size m by about ε^(1/m)‖A‖ (6e-6 for m = 3), far
    beyond the tie tolerance, into "simple" eigenvalues with κ ≈ ε^(1/m - 1): their
    derivatives are those of the rounding's nearby matrix, ~1/gap and meaningless (the
    gradient of Σλ = tr A came out ±5.6e3 instead of I). Such an eigenvalue shows itself
    by its own rounding error (`_rounding_error`, ≈ κᵢ ε ‖A‖) being of the order of its distance to the
    nearest other eigenvalue; it is NaN when within `_SPLIT_BY_ROUNDING` of it. (A
    genuinely simple ill-conditioned eigenvalue, κ = 1e6 at gap 1e-3‖A‖, is 2e-7 of its
    gap away in float64.)
    """
    eps = float(np.finfo(jnp.finfo(dtype).dtype).eps)
    kappa = jnp.linalg.norm(vinv, axis=-1)  # columns of v have unit norm
    eye = jnp.eye(w.shape[-1], dtype=bool)
    in_cluster = jnp.any(tied & ~eye, axis=-1)
    ill = in_cluster & (kappa > eps ** -0.25)
    defective = jnp.any(tied & ill[..., None, :], axis=-1)
    dist = where(eye, jnp.inf, jnp.abs(w[..., None, :] - w[..., :, None]))
    nearest = jnp.min(dist, axis=-1)
    split = ~in_cluster & (_SPLIT_BY_ROUNDING * _rounding_error(a, v, vinv, eps) >= nearest)
    return where(defective | split, jnp.nan, 1.0).astype(w.real.dtype)


def _rounding_error(a, v, vinv, eps):
    """The first-order error of each eigenvalue under relative perturbations of A's
    entries of size ε: ε·|yᵢ|ᵀ|A||xᵢ| with xᵢ, yᵢᴴ the right eigenvector and the row of
    V⁻¹ (yᵢᴴxᵢ = 1).

    It is the error LAPACK's geev attains: geev balances A by a diagonal similarity
    first, and this bound does not change under one, where the normwise κᵢ·ε·‖A‖ does.
    (That estimate, with ‖A‖ as n·max|aᵢⱼ|, put genuine simple eigenvalues within the
    split threshold: the roots 5–8 of the polynomial with roots 1..8 through its
    companion matrix, computed to 1e-11 at gaps of 1, and two eigenvalues with κ = 17 at
    gap 0.16 of a 50×50 Gaussian matrix in float32; found by an outside probe.) For a
    Jordan block split by rounding both are of the order of the split itself. Scaled by
    max|aᵢⱼ| (no overflow at extreme scales)."""
    top = jnp.max(jnp.abs(a), axis=(-2, -1), keepdims=True, initial=0.0)
    unit = jnp.abs(a) / where(top > 0, top, 1.0)
    spread = jnp.einsum("...ij,...jk,...ki->...i", jnp.abs(vinv), unit, jnp.abs(v).astype(unit.dtype))
    return eps * top[..., 0] * spread


# Matrices up to this size use the bordered solves below for simple eigenvalues; beyond
# it their O(n⁴) cost outweighs the accuracy gain and the V⁻¹ form is used throughout.
BORDERED_MAX_N = 64


def _bordered_tangents(a, da, w, v, simple):
    """(dλₖ, dvₖ) of simple eigenvalues without V⁻¹ (Nelson 1976, bordered form).

    Differentiating A vₖ = λₖ vₖ with the gauge vₖᴴ dvₖ = 0 gives, per eigenvalue,

        [A − λₖ I   −vₖ] [dvₖ]   [−dA vₖ]
        [  vₖᴴ       0 ] [dλₖ] = [   0   ],

    nonsingular exactly when λₖ is simple. Unlike C = V⁻¹ dA V it stays accurate when V is
    ill-conditioned because of *other* eigenvalues (a Jordan block elsewhere in the
    matrix). Non-simple columns get an identity system (their result is discarded).
    """
    n = a.shape[-1]
    dtype = v.dtype
    vk = jnp.swapaxes(v, -1, -2)  # row k is vₖ
    shifted = a.astype(dtype)[..., None, :, :] - w[..., :, None, None] * jnp.eye(n, dtype=dtype)
    top = jnp.concatenate([shifted, -vk[..., :, :, None]], axis=-1)
    corner = jnp.zeros(vk.shape[:-1] + (1, 1), dtype)
    bottom = jnp.concatenate([jnp.conj(vk)[..., :, None, :], corner], axis=-1)
    system = jnp.concatenate([top, bottom], axis=-2)
    system = where(simple[..., None, None], system, jnp.eye(n + 1, dtype=dtype))
    rhs = -jnp.swapaxes(da.astype(dtype) @ v, -1, -2)
    rhs = jnp.concatenate([rhs, jnp.zeros(rhs.shape[:-1] + (1,), dtype)], axis=-1)
    sol = jnp.linalg.solve(system, rhs[..., None])[..., 0]
    return sol[..., n], jnp.swapaxes(sol[..., :n], -1, -2)


# Non-Hermitian perturbation theory (Magnus 1985; Giles 2008, sec. 3.1): for
# A = V Λ V⁻¹ with simple eigenvalues, C = V⁻¹ dA V, dλᵢ = Cᵢᵢ and dV = V(F ∘ C) + V D,
# Fᵢⱼ = 1/(λⱼ − λᵢ), where the diagonal D is fixed by the normalisation of `_normalise`:
#   ‖vᵢ‖ = 1            ⇒  Re Dᵢᵢ = −Re(vᵢᴴ wᵢ),
#   vᵢ[pᵢ] real > 0     ⇒  Im Dᵢᵢ = −Im(wᵢ[pᵢ]) / vᵢ[pᵢ],
# with wᵢ the i-th column of the unnormalised derivative and pᵢ the pivot row (any
# solution of the perturbation equations works: they differ by multiples of vᵢ, which D
# absorbs). For n <= BORDERED_MAX_N simple eigenpairs come from `_bordered_tangents`
# instead of V⁻¹. Tied pairs get Fᵢⱼ = 0 as in eigh (exact for semisimple clusters
# through their spectral projector and symmetric functions of the eigenvalues);
# defective clusters get NaN (see `_defective_scale`).
@_eig.defjvp
def _eig_jvp(tie_rtol, primals, tangents):
    # Far from unit scale the rule works on A/s (s a power of two, exact; see
    # `scale_outside_middle`): its 1/gap terms, squared in second derivatives, left the
    # float range beyond ~1e±154 (NaN, 0 or 5 % off; outside probe). The eigenvalues
    # and their tangents are scaled back; the vectors do not scale.
    (a,), (da,) = primals, tangents
    scale = scale_outside_middle(a)
    a, da = a / scale.astype(a.dtype), da / scale.astype(da.dtype)
    w, v = _eig(a, tie_rtol)
    if a.shape[-1] == 0:  # 0×0 matrices
        return (w, v), (jnp.zeros_like(w), jnp.zeros_like(v))
    vinv = jnp.linalg.inv(v)
    c = vinv @ da.astype(v.dtype) @ v
    f, tied = gap_reciprocals(w, tie_rtol)
    dv = v @ (f * c)
    dw = jnp.diagonal(c, axis1=-2, axis2=-1)
    if a.shape[-1] <= BORDERED_MAX_N:
        simple = jnp.sum(tied, axis=-1) == 1
        dw_simple, dv_simple = _bordered_tangents(a, da, w, v, simple)
        dw = where(simple, dw_simple, dw)
        dv = where(simple[..., None, :], dv_simple, dv)
    pivot_row = jnp.argmax(jnp.abs(v), axis=-2)[..., None, :]
    pivot = jnp.real(jnp.take_along_axis(v, pivot_row, axis=-2))
    dv_pivot = jnp.take_along_axis(dv, pivot_row, axis=-2)
    norm_fix = -jnp.real(jnp.sum(jnp.conj(v) * dv, axis=-2, keepdims=True))
    phase_fix = -jnp.imag(dv_pivot) / pivot
    dv = dv + v * (norm_fix + 1j * phase_fix)
    defective = _defective_scale(a, w, v, vinv, tied, w.dtype)
    back = scale[..., 0]
    return (w * back, v), (dw * defective * back, dv * defective[..., None, :])


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _eigvals(a, tie_rtol):
    return _geev(a, False)[0]


@_eigvals.defjvp
def _eigvals_jvp(tie_rtol, primals, tangents):
    (w, _), (dw, _) = jax.jvp(lambda x: _eig(x, tie_rtol), primals, tangents)
    return w, dw


def _prepare(a, fn):
    a = as_inexact_matrix(a, fn)
    a, bad = split_nonfinite(a)
    return a, bad


# The compiled cores of `eig` and `eigvals` (see `_eigh._eigh_compiled`).
@functools.partial(jax.jit, static_argnames=("tie_rtol",))
def _eig_compiled(a, tie_rtol):
    a, bad = _prepare(a, "jaxgrad.linalg.eig")
    w, v = _eig(a, resolve_tie_rtol(tie_rtol, a.dtype))
    return EigResult(nan_where(bad, w, 1), nan_where(bad, v, 2))


@functools.partial(jax.jit, static_argnames=("tie_rtol",))
def _eigvals_compiled(a, tie_rtol):
    a, bad = _prepare(a, "jaxgrad.linalg.eigvals")
    w = _eigvals(a, resolve_tie_rtol(tie_rtol, a.dtype))
    return nan_where(bad, w, 1)


def eig(a: ArrayLike, *, tie_rtol: float | None = None) -> EigResult:
    """Eigenvalues and right eigenvectors of a general square matrix; a drop-in for [`jax.numpy.linalg.eig`][].

    Eigenvectors are normalised to unit 2-norm with their largest-magnitude entry real
    and positive (LAPACK makes it real; the sign is fixed here), so an eigenvector of a
    simple eigenvalue is a function of `a` and has a derivative consistent with that
    normalisation. The normalisation switches where two entries of an eigenvector tie
    in magnitude; derivatives hold between such switches.

    Derivatives are exact for simple eigenvalues (to about eps times the eigenvalue's
    condition number, relative; near a Jordan block they are of size 1/gap, and a
    symmetric function of the cluster summed from them loses the digits that cancel:
    see docs/derivatives-at-ties.md). Semisimple tied clusters get finite first
    derivatives that are exact for symmetric functions of their eigenvalues and for
    their spectral projector, unless the cluster is strongly coupled to the rest of the
    spectrum (eigenvalue condition numbers above eps^(-1/4), ~1e4 in float64): such a
    tie cannot be told from a Jordan block and gets NaN. At a defective eigenvalue (a
    Jordan block, e.g. `[[1, 1], [0, 1]]`) eigenvalues move like `sqrt(t)`: the
    derivative does not exist and is returned as NaN. Forward mode puts the NaN only in
    the defective cluster's tangents; reverse mode cannot tell which outputs a loss uses, so a defective cluster
    anywhere in a matrix makes that matrix's whole gradient NaN. Second derivatives at
    a tie are not promised and can be silently wrong: `sum(real(eigvals(a)**2))`
    is tr A², whose second derivative along E is 2 tr E², but `jax.hessian` of it at
    `eye(3)` misses the in-cluster terms: its entries ∂²/∂aᵢⱼ∂aⱼᵢ (i ≠ j) come out 0
    for 2, and along a random E it gave 1.6 for 6.25 (outside probe and review). A
    symmetric function of all the eigenvalues is often a trace of a matrix polynomial
    (Σλᵢ² = tr A²), whose derivatives need no decomposition; for a Hermitian matrix,
    `trace_function` and `funm` are exact to second order at ties.

    For `n <= 64`, simple eigenpairs are differentiated with bordered solves that do not
    go through `V⁻¹`, so they stay accurate when other eigenvalues make `V`
    ill-conditioned (cost O(n⁴) per matrix); larger matrices use `V⁻¹ dA V`, whose
    error grows like `eps · cond(V)`.

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
    return _eig_compiled(host_array(a), check_tie_rtol(tie_rtol))


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
        >>> g = jax.grad(lambda a: eigvals(a).real.sum())(jnp.array([[0.0, 1.0], [-1.0, 0.0]]))
        >>> print(g.round(4))  # d tr(A) = I
        [[1. 0.]
         [0. 1.]]
    """
    return _eigvals_compiled(host_array(a), check_tie_rtol(tie_rtol))
