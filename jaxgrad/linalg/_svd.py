"""Singular value decomposition with tie-safe derivatives."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._power_of_two import scale_outside_middle
from .._where import where
from ._checks import as_inexact_matrix, host_array, nan_where, split_nonfinite
from ._eigh import _mH, eigh_impl
from ._gauge import gauge_guard
from ._ties import (
    check_tie_rtol,
    gap_reciprocals,
    gauge_rtol,
    masked_reciprocal,
    rank_tolerance,
    resolve_tie_rtol,
)


class SVDResult(NamedTuple):
    U: Inexact[Array, "*batch m m"]
    S: Float[Array, "*batch k"]
    Vh: Inexact[Array, "*batch n n"]


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _svd(a, full_matrices, tie_rtol):
    u, s, vh = lax.linalg.svd(a, full_matrices=full_matrices, compute_uv=True)
    return u, s, vh


# For A = U S Vᴴ (k = min(m, n) singular triplets) let dP = U_kᴴ dA V_k, split into its
# Hermitian part H = (dP + dPᴴ)/2 and skew-Hermitian part K = (dP − dPᴴ)/2. Then
# (Townsend 2016, "Differentiating the SVD", rewritten in H and K):
#   ds = Re diag dP,
#   dU_k = U_k Ω_U + (I − U_k U_kᴴ) dA V_k S⁻¹,    Ω_U = H ∘ F⁻ + K ∘ F⁺,
#   dV_k = V_k Ω_V + (I − V_k V_kᴴ) dAᴴ U_k S⁻¹,   Ω_V = H ∘ F⁻ − K ∘ F⁺,
# with F⁻ᵢⱼ = 1/(sⱼ − sᵢ) (i ≠ j) and F⁺ᵢⱼ = 1/(sᵢ + sⱼ). The familiar single kernel
# 1/(sⱼ² − sᵢ²) hides that only the Hermitian part is singular at a tie; the
# skew part only at sᵢ + sⱼ = 0. F⁻ is zeroed at ties (the joint rotation
# U_c → U_c Q, V_c → V_c Q is a gauge freedom, guarded in reverse mode like eigh); F⁺
# and S⁻¹ are zeroed only where sᵢ + sⱼ, resp. sᵢ, vanish. The diagonal of K ∘ F⁺,
# i Im(dPᵢᵢ)/(2sᵢ) in U and its negative in V, is the complex phase term that keeps
# U S Vᴴ consistent. With full_matrices the extra columns U_⊥ (V_⊥) span the
# orthogonal complement in an arbitrary basis; we move them without rotating among
# themselves, dU_⊥ = −U_k S⁻¹ V_kᴴ dAᴴ U_⊥, the unique choice with U_⊥ᴴ dU_⊥ = 0
# that keeps U unitary.
@_svd.defjvp
def _svd_jvp(full_matrices, tie_rtol, primals, tangents):
    # Far from unit scale the rule divides the singular values and dA by s (a power of
    # two, exact; see `scale_outside_middle`): its 1/gap terms, squared in second
    # derivatives, left the float range beyond ~1e±154 (NaN, 0 or 5 % off; outside
    # probe). Their tangents are scaled back; the vectors' do not scale.
    (a,), (da,) = primals, tangents
    u, s_out, vh = _svd(a, full_matrices, tie_rtol)
    scale = scale_outside_middle(s_out, axis=-1)
    s, da = s_out / scale, da / scale[..., None].astype(da.dtype)
    m, n = a.shape[-2:]
    k = min(m, n)
    v = _mH(vh)
    uk, vk = u[..., :k], v[..., :k]
    dp = _mH(uk) @ da @ vk
    herm = (dp + _mH(dp)) / 2
    skew = (dp - _mH(dp)) / 2
    f_minus, tied = gap_reciprocals(s, tie_rtol)
    # Zero singular values are those at the rank tolerance, max(m, n)·eps·s₁ (numpy's
    # matrix_rank), not the tie tolerance: a simple singular value of 1e-8·s₁ (a tall
    # matrix of condition 1e8) lost the (I − UUᴴ) dA V S⁻¹ term and the complex phase
    # term, and the derivative of U S Vᴴ was off by O(‖dA‖) (3.5e-4·s₁ in float32;
    # outside probe).
    zero = rank_tolerance(s, a.shape)
    pair_sum = s[..., :, None] + s[..., None, :]
    f_plus = masked_reciprocal(pair_sum, pair_sum > zero[..., None])
    s_inv = masked_reciprocal(s, s > zero)[..., None, :]
    omega_u, omega_v = gauge_guard(
        (herm * f_minus + skew * f_plus, herm * f_minus - skew * f_plus),
        tied,
        rtol=gauge_rtol(a.dtype, k),
    )
    ds = jnp.real(jnp.diagonal(dp, axis1=-2, axis2=-1))
    du = uk @ omega_u
    dv = vk @ omega_v
    if m > k:
        du = du + (da @ vk - uk @ dp) * s_inv
        if full_matrices:
            u_perp = u[..., k:]
            du = jnp.concatenate([du, -uk @ (s_inv.mT * (_mH(vk) @ _mH(da) @ u_perp))], axis=-1)
    if n > k:
        dv = dv + (_mH(da) @ uk - vk @ _mH(dp)) * s_inv
        if full_matrices:
            v_perp = v[..., k:]
            dv = jnp.concatenate([dv, -vk @ (s_inv.mT * (_mH(uk) @ da @ v_perp))], axis=-1)
    return (u, s_out, vh), (du, ds * scale, _mH(dv))


def svd_parts(a):
    """Thin SVD ``(U, s, V)`` of ``a`` from LAPACK, for the rules that differentiate a
    function of the SVD as a whole (`polar`, `svd_funm`): they use it on primal values
    (or under `stop_gradient`) only, never through its derivative."""
    u, s, vh = lax.linalg.svd(a, full_matrices=False, compute_uv=True)
    return u, s, _mH(vh)


@jax.custom_jvp
def _svdvals(a):
    return lax.linalg.svd(a, full_matrices=False, compute_uv=False)


# dsᵢ = Re(uᵢᴴ dA vᵢ) (the diagonal of the rule above). Where sᵢ is tied or zero the
# singular value is not differentiable on its own and this is the derivative along
# the computed singular vectors; symmetric functions of tied values are exact.
@_svdvals.defjvp
def _svdvals_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    # (On A/s far from unit scale, as in `_svd_jvp`: JAX's own rule of the decomposition
    # below is what a second derivative differentiates.)
    scale = scale_outside_middle(a)
    u, s, vh = lax.linalg.svd(a / scale.astype(a.dtype), full_matrices=False, compute_uv=True)
    ds = jnp.real(jnp.sum(jnp.conj(u) * (da @ _mH(vh)), axis=-2))
    return s * scale[..., 0], ds


def _svd_hermitian(a, compute_uv, tie_rtol):
    # Through eigh: A = V Λ Vᴴ = (V) |Λ| (sign(Λ) V)ᴴ, sorted by |λ| descending like
    # jax.numpy. sign(0) is taken as +1 so that Vh stays unitary (jax.numpy gives a
    # zero row there).
    w, v = eigh_impl(a, None, True, tie_rtol)
    order = jnp.flip(jnp.argsort(jnp.abs(w), axis=-1, stable=True), axis=-1)
    w = jnp.take_along_axis(w, order, axis=-1)
    s = jnp.abs(w)
    if not compute_uv:
        return s
    u = jnp.take_along_axis(v, order[..., None, :], axis=-1)
    sign = where(w < 0, -1, 1).astype(u.dtype)
    return SVDResult(u, s, _mH(u * sign[..., None, :]))


def _svd_impl(a, full_matrices, compute_uv, hermitian, tie_rtol):
    a, bad = split_nonfinite(a)
    tie_rtol = resolve_tie_rtol(tie_rtol, a.dtype)
    if hermitian:
        out = _svd_hermitian(a, compute_uv, tie_rtol)
    elif compute_uv:
        out = SVDResult(*_svd(a, full_matrices, tie_rtol))
    else:
        out = _svdvals(a)
    if compute_uv:
        return SVDResult(*(nan_where(bad, x, x.ndim - bad.ndim) for x in out))
    return nan_where(bad, out, 1)


# The compiled cores of `svd` and `svdvals` (see `_eigh._eigh_compiled`).
@functools.partial(
    jax.jit, static_argnames=("full_matrices", "compute_uv", "hermitian", "tie_rtol")
)
def _svd_compiled(a, full_matrices, compute_uv, hermitian, tie_rtol):
    a = as_inexact_matrix(a, "jaxgrad.linalg.svd", square=hermitian)
    return _svd_impl(a, full_matrices, compute_uv, hermitian, tie_rtol)


@jax.jit
def _svdvals_compiled(x):
    x = as_inexact_matrix(x, "jaxgrad.linalg.svdvals", square=False, name="x")
    return _svd_impl(x, True, False, False, None)


def svd(
    a: ArrayLike,
    full_matrices: bool = True,
    compute_uv: bool = True,
    hermitian: bool = False,
    subset_by_index: None = None,
    *,
    tie_rtol: float | None = None,
) -> SVDResult | Float[Array, "*batch k"]:
    """Singular value decomposition with tie-safe derivatives; a drop-in for [`jax.numpy.linalg.svd`][].

    Returns `U, S, Vh` with `a = U @ diag(S) @ Vh`, singular values descending.

    Derivatives are exact where singular values are distinct and nonzero. At repeated
    singular values only the Hermitian part of the coupling `Uᴴ dA V` is singular;
    the skew part (`1/(sᵢ + sⱼ)`) is kept, so for example `‖s‖` has gradient `a/‖a‖`
    at `a = I`. Inside a tied cluster the Hermitian off-diagonal coupling splits the
    singular values themselves and cannot be carried by any finite `(dU, ds, dV)`;
    losses that see the cluster only through its left/right singular subspaces and its
    singular values only symmetrically are exact. Reverse mode gives NaN for losses
    that depend on the arbitrary joint phase of `(uᵢ, vᵢ)` or the basis inside a
    cluster. At zero singular values the singular vectors are not differentiable; the
    terms that would divide by zero are dropped, and what they carry is missing even
    from smooth products: the derivative of `U @ diag(S) @ Vh` of a tall or wide matrix
    with a zero singular value, or of any matrix with two, lacks part of `dA`
    (docs/derivatives-at-ties.md). For `U f(S) Vᴴ` with f(0) = 0 use `svd_funm`, whose
    first derivatives are exact there.

    Arguments:
        a: matrices, shape `(*batch, m, n)`.
        full_matrices: return square `U` (m×m) and `Vh` (n×n). The extra columns span
            the orthogonal complement in an arbitrary basis; their derivative moves them
            with the complement without rotating them among themselves, so only losses
            invariant to that basis have meaningful gradients there.
        compute_uv: if `False` return only the singular values.
        hermitian: if `True`, `a` is assumed Hermitian and the SVD is computed through
            [`jaxgrad.linalg.eigh`][]. This is not checked (as in NumPy and JAX): for a
            non-Hermitian `a` the result is the SVD of its Hermitian part (A + Aᴴ)/2.
        subset_by_index: not supported; must be `None`.
        tie_rtol: singular values closer than `tie_rtol * max(s)` are tied (default
            `sqrt(eps)`).

    Returns:
        `SVDResult(U, S, Vh)`, or `S` alone when `compute_uv=False`. NaN for matrices with
        non-finite entries.

    Raises:
        ValueError: `a` has fewer than 2 dimensions, or `hermitian=True` and `a` is not square.
        NotImplementedError: `subset_by_index` is given.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import svd
        >>> norm_s = lambda a: jnp.linalg.norm(svd(a, compute_uv=False))
        >>> print(jax.grad(norm_s)(jnp.eye(2)).round(4))  # a / ||a||_F
        [[0.7071 0.    ]
         [0.     0.7071]]
    """
    if subset_by_index is not None:
        raise NotImplementedError("jaxgrad.linalg.svd: subset_by_index is not supported.")
    return _svd_compiled(
        host_array(a), bool(full_matrices), bool(compute_uv), bool(hermitian), check_tie_rtol(tie_rtol)
    )


def svdvals(x: ArrayLike, /) -> Float[Array, "*batch k"]:
    """Singular values, descending; a drop-in for [`jax.numpy.linalg.svdvals`][].

    The derivative of a simple nonzero singular value `sᵢ` is `Re(uᵢᴴ dA vᵢ)`. At ties
    and at zero this is the derivative along the computed singular vectors (a
    singular value is not differentiable there on its own); symmetric functions of
    tied singular values, such as the nuclear or Frobenius norm, get exact gradients.

    Arguments:
        x: matrices, shape `(*batch, m, n)`.

    Returns:
        Singular values, shape `(*batch, min(m, n))`.

    Raises:
        ValueError: `x` has fewer than 2 dimensions.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import svdvals
        >>> print(jax.grad(lambda x: jnp.sum(svdvals(x)))(jnp.eye(2)))  # nuclear norm
        [[1. 0.]
         [0. 1.]]
    """
    return _svdvals_compiled(host_array(x))
