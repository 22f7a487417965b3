"""Hermitian eigendecomposition with derivatives that stay finite and exact at ties."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._power_of_two import scale_outside_middle
from ._checks import as_inexact_matrix, hermitian_part, host_array, nan_where, nonfinite_after, zero_nonfinite
from ._gauge import gauge_guard
from ._graded import ordered_eigh
from ._ties import check_tie_rtol, gap_reciprocals, gauge_rtol, resolve_tie_rtol


class EighResult(NamedTuple):
    eigenvalues: Float[Array, "*batch n"]
    eigenvectors: Inexact[Array, "*batch n n"]


def _mH(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _eigh(a, tie_rtol):
    # `a` is Hermitian and finite here (the public wrapper makes it so).
    return ordered_eigh(a)


# First-order perturbation theory (Magnus 1985; Giles 2008, sec. 3.1): for A = V Λ Vᴴ,
#   C = Vᴴ dA V,   dλᵢ = Re Cᵢᵢ,   dV = V Ω,   Ωᵢⱼ = Cᵢⱼ / (λⱼ − λᵢ) (i ≠ j),   Ωᵢᵢ = 0.
# At a tie (|λⱼ − λᵢ| <= tie_rtol·max|λ|) we set Ωᵢⱼ = 0: the rotation inside a tied
# cluster is a gauge freedom, and fixing it by V_cᴴ dV_c = 0 (parallel transport) gives
# the exact derivative of every loss that sees the cluster only through its projector
# V_c V_cᴴ and its eigenvalues only symmetrically (their sum is Σ Cᵢᵢ over the
# cluster, the trace of the cluster block). Ωᵢᵢ = 0 is the same choice for the complex
# phase. Losses that do depend on the gauge are caught in reverse mode by `gauge_guard`.
# The rule calls `_eigh` itself, so it can be differentiated again.
@_eigh.defjvp
def _eigh_jvp(tie_rtol, primals, tangents):
    # Far from unit scale the rule divides the eigenvalues and dA by s (a power of two,
    # exact; see `scale_outside_middle`): its 1/gap terms, squared in second
    # derivatives, left the float range beyond ~1e±154 (NaN, 0 or 5 % off; outside
    # probe). Their tangents are scaled back; the vectors' do not scale.
    (a,), (da,) = primals, tangents
    w, v = _eigh(a, tie_rtol)
    scale = scale_outside_middle(w, axis=-1)
    c = _mH(v) @ da @ v
    f, tied = gap_reciprocals(w / scale, tie_rtol)
    scaled = c / scale[..., None].astype(c.dtype)
    (omega,) = gauge_guard((f * scaled,), tied, rtol=gauge_rtol(a.dtype, a.shape[-1]))
    dw = jnp.real(jnp.diagonal(c, axis1=-2, axis2=-1))
    return (w, v), (dw, v @ omega)


def _hermitian_from_triangle(a, lower: bool):
    """The Hermitian matrix LAPACK sees when it reads only one triangle of ``a``."""
    strict = jnp.tril(a, -1) if lower else jnp.triu(a, 1)
    diag = jnp.real(jnp.diagonal(a, axis1=-2, axis2=-1)).astype(a.dtype)
    return strict + _mH(strict) + diag[..., None] * jnp.eye(a.shape[-1], dtype=a.dtype)


def _hermitian_input(a, fn, UPLO, symmetrize_input, name="a"):
    a = as_inexact_matrix(a, fn, name=name)
    _check_uplo(UPLO, fn)
    if symmetrize_input:
        return hermitian_part(a)
    return _hermitian_from_triangle(a, lower=UPLO != "U")


def _check_uplo(UPLO, fn):
    if UPLO not in (None, "L", "U"):
        raise ValueError(f"{fn}: UPLO must be None, 'L' or 'U'; got {UPLO!r}.")


def eigh_impl(a, UPLO, symmetrize_input, tie_rtol, fn="jaxgrad.linalg.eigh"):
    """The array work of `eigh`, for the compiled cores (here and in other modules)."""
    a = _hermitian_input(a, fn, UPLO, symmetrize_input)
    # LAPACK only ever sees finite input; the per-matrix NaN/inf flag is computed after
    # the decomposition (see `_checks.after` for why this ordering matters for speed).
    w, v = _eigh(zero_nonfinite(a), resolve_tie_rtol(tie_rtol, a.dtype))
    bad = nonfinite_after(a, w, 1)
    return EighResult(nan_where(bad, w, 1), nan_where(bad, v, 2))


# The compiled cores of `eigh` and `eigvalsh`, one executable per shape, dtype and
# options (the way `jax.numpy.linalg` is written): a repeated eager call runs it again
# instead of dispatching the checks, symmetrization and NaN masks op by op.
@functools.partial(jax.jit, static_argnames=("UPLO", "symmetrize_input", "tie_rtol"))
def _eigh_compiled(a, UPLO, symmetrize_input, tie_rtol):
    return eigh_impl(a, UPLO, symmetrize_input, tie_rtol)


@functools.partial(jax.jit, static_argnames=("UPLO", "symmetrize_input", "tie_rtol"))
def _eigvalsh_compiled(a, UPLO, symmetrize_input, tie_rtol):
    return eigh_impl(a, UPLO, symmetrize_input, tie_rtol, fn="jaxgrad.linalg.eigvalsh").eigenvalues


def eigh(
    a: ArrayLike,
    UPLO: str | None = None,
    symmetrize_input: bool = True,
    *,
    tie_rtol: float | None = None,
) -> EighResult:
    """Eigenvalues and eigenvectors of a Hermitian matrix, with tie-safe derivatives.

    A drop-in for [`jax.numpy.linalg.eigh`][]: same arguments, ascending eigenvalues,
    eigenvectors in the columns, leading batch dimensions. The matrix is handed to the
    eigensolver with its diagonal's magnitudes descending (a similarity, undone on the
    eigenvectors), so a graded matrix (`D S D` with `D` spanning many orders) keeps its
    eigenvalues to relative accuracy where `jax.numpy.linalg.eigh` loses them; the
    eigenvectors' phases may differ from `jax.numpy`'s (both are arbitrary).

    Derivatives (forward, reverse and higher order) are exact wherever eigenvalues are
    farther apart than `tie_rtol * max|λ|`; closer ones are treated as tied. At ties,
    exact, split only by rounding or closer than `tie_rtol`, first derivatives are
    finite and exact for every loss that depends on a tied cluster only through its
    projector and on the tied eigenvalues only symmetrically. Reverse mode returns NaN
    for a loss that depends on the arbitrary phase of an eigenvector or on the basis
    chosen inside a tied cluster, where the derivative is mathematically undefined (or,
    for a pair merely closer than `tie_rtol`, of size 1/gap). Second derivatives at
    ties are not promised, even of such losses: `jax.hessian` of
    `sum(eigvalsh(a)**2)` at `diag(1, 1 + 1e-10, 2)` misses the in-cluster term (0
    where 4 along a coupling of the pair). For eigenvalues that are distinct but closer
    than `tie_rtol`, and split well above rounding, `tie_rtol=0` differentiates them
    as distinct, to about eps·max|λ|/gap relative (4.000001 for 4 on a rotated copy
    of that example); for spectral functions (`trace_function`, `funm`) second
    derivatives are exact at ties.

    Arguments:
        a: Hermitian (or real symmetric) matrices, shape `(*batch, n, n)`. Integers are
            promoted like `jax.numpy` does.
        UPLO: with `symmetrize_input=False`, which triangle is read (`"L"`, the default,
            or `"U"`); the derivative is then taken with respect to that triangle.
        symmetrize_input: if `True` the decomposition is of `(a + aᴴ)/2`.
        tie_rtol: eigenvalues closer than `tie_rtol * max|λ|` are treated as tied.
            Default `sqrt(eps)` of the dtype (1.5e-8 for float64, 3.5e-4 for float32).

    Returns:
        `EighResult(eigenvalues, eigenvectors)`; matrices with NaN or inf entries give
        NaN in both.

    Raises:
        ValueError: `a` has fewer than 2 dimensions, is not square, or `UPLO` is invalid.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import eigh
        >>> def projector_trace(a):  # <C, projector onto the two lowest eigenvectors>
        ...     v = eigh(a).eigenvectors[:, :2]
        ...     return jnp.sum(jnp.arange(9.0).reshape(3, 3) * (v @ v.T))
        >>> g = jax.grad(projector_trace)(jnp.diag(jnp.array([1.0, 1.0, 2.0])))
        >>> bool(jnp.all(jnp.isfinite(g)))
        True
    """
    _check_uplo(UPLO, "jaxgrad.linalg.eigh")
    return _eigh_compiled(host_array(a), UPLO, bool(symmetrize_input), check_tie_rtol(tie_rtol))


def eigvalsh(
    a: ArrayLike,
    UPLO: str | None = "L",
    *,
    symmetrize_input: bool = True,
    tie_rtol: float | None = None,
) -> Float[Array, "*batch n"]:
    """Eigenvalues of a Hermitian matrix, ascending; a drop-in for [`jax.numpy.linalg.eigvalsh`][].

    The derivative of each eigenvalue is exact where it is simple. At a tie, a single
    eigenvalue is not differentiable (it is a Lipschitz but kinked function of `a`):
    the value returned is its derivative along the computed eigenvector, and any
    symmetric function of the tied eigenvalues (their sum, a norm, a spectral
    function) gets its exact derivative.

    Arguments:
        a: Hermitian matrices, shape `(*batch, n, n)`.
        UPLO: triangle read when `symmetrize_input=False`.
        symmetrize_input: if `True` the eigenvalues are those of `(a + aᴴ)/2`.
        tie_rtol: see [`jaxgrad.linalg.eigh`][].

    Returns:
        Eigenvalues, shape `(*batch, n)`; NaN for matrices with non-finite entries.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import eigvalsh
        >>> print(jax.grad(lambda a: jnp.sum(eigvalsh(a) ** 2))(jnp.eye(2)))  # = 2a
        [[2. 0.]
         [0. 2.]]
    """
    _check_uplo(UPLO, "jaxgrad.linalg.eigvalsh")
    return _eigvalsh_compiled(
        host_array(a), UPLO, bool(symmetrize_input), check_tie_rtol(tie_rtol)
    )
