"""Named functions of singular values: ``Σ f(sᵢ)``, the nuclear norm, singular value thresholding.

``svd_trace_function(a, f) = Σᵢ f(sᵢ)`` is an orthogonally invariant function of ``A``
(von Neumann; Lewis, "The convex analysis of unitarily invariant matrix functions",
1995). Where it is differentiable its gradient is ``U f′(S) Vᴴ`` (the derivative of a
singular value along the cluster it belongs to is symmetric in the cluster, so ties
need no care at first order), and its second derivative is the derivative of that
gradient, a function of the singular values differentiated exactly by `svd_funm`.

At a zero singular value ``Σ f(sᵢ)`` is differentiable only if ``f′(0) = 0``: it is the
even extension ``f(|s|)`` there. Otherwise (the nuclear norm, ``f(s) = s``) we return the
gradient with the terms of numerically zero singular values left out: for convex ``f``
it is the element of minimum norm of the subdifferential (Lewis 1995, Cor. 2.5; for
the nuclear norm ``U_r V_rᴴ``), the choice proximal and subgradient methods expect.
The second derivative does not exist there and is NaN.

Singular value thresholding ``svt(A, τ) = U max(S − τ, 0) Vᴴ`` is the proximal operator
of ``τ‖·‖_*`` (Cai, Candès & Shen, 2010). It is `svd_funm` of the soft threshold, which
has a kink at ``s = τ``: there the scalar derivative is taken as ½, the average of the
one-sided derivatives 0 and 1 (what a central difference gives), in ``A`` and in ``τ``;
except at ``s = τ = 0``, which has only one side (``s ≥ 0``, ``τ ≥ 0``): there the
one-sided derivatives, 1 in ``s`` (``svt(A, 0) = A``) and 0 in ``τ``. "At the kink"
is to the rounding of the SVD (``|s − τ| <= 8·eps·‖A‖_F``, see `_soft_threshold_jvp`).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._nan import nan_if
from .._where import where
from ._checks import as_inexact_matrix, host_array, matrix_dtype, real_scalar
from ._funm import _d1, _is_zero, _param_partials, elementwise, elementwise_function
from ._svd_funm import _svd_funm, nonfinite_guarded


def _singular_values(a):
    return lax.linalg.svd(a, full_matrices=False, compute_uv=False)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _svd_trace_function(f, a, params):
    return jnp.sum(f(_singular_values(a), *params), axis=-1)


# d Σ f(sᵢ) = Re Σ conj(G) ∘ dA with G = U f′(S) Vᴴ (dsᵢ = Re uᵢᴴ dA vᵢ, summed
# symmetrically over every cluster). G is itself a function of the singular values,
# so its own derivative, the Hessian, is `svd_funm`'s exact rule.
@functools.partial(_svd_trace_function.defjvp, symbolic_zeros=True)
def _svd_trace_function_jvp(f, primals, tangents):
    a, params = primals
    da, dparams = tangents
    out = _svd_trace_function(f, a, params)
    dout = jnp.zeros_like(out)
    if not _is_zero(da):
        grad = _svd_funm(_d1(f), a, params, True)
        dout = dout + jnp.real(jnp.sum(jnp.conj(grad) * da, axis=(-2, -1)))
    for h, k, m in _param_partials(f, params, dparams):
        dout = dout + (_svd_trace_function(h, a, params) * jnp.ravel(dparams[k])[m]).astype(dout.dtype)
    return out, dout


# The compiled core of `svd_trace_function` (see `_funm._funm_compiled`).
@functools.partial(jax.jit, static_argnames=("traced", "fn"))
def _svd_trace_function_compiled(a, consts, traced, fn):
    a = as_inexact_matrix(a, fn, square=False)
    g = elementwise_function(traced, a.dtype)
    return nonfinite_guarded(lambda x: _svd_trace_function(g, x, consts), a, 0)


def svd_trace_function(a: ArrayLike, f: Callable[[Array], Array]) -> Float[Array, "*batch"]:
    """``Σᵢ f(sᵢ)`` over the singular values, with exact first and second derivatives at ties.

    The function of singular values that `trace_function` is for eigenvalues: any
    orthogonally invariant function of a matrix (Schatten norms, log-determinants of
    `AᴴA`, spectral penalties). Its gradient is `U f′(S) Vᴴ` and its Hessian is the
    exact derivative of [`jaxgrad.linalg.svd_funm`][] of `f′`, both exact at repeated
    singular values.

    At a zero singular value the function is differentiable only if `f′(0) = 0`;
    otherwise the gradient leaves that singular value's term out (the minimum-norm
    subgradient when `f` is convex, e.g. `U_r V_rᴴ` for the nuclear norm) and the
    second derivative there is NaN. "Zero" means `sᵢ <= max(m, n)·eps·s₁`.

    Arguments:
        a: real or complex matrices, shape `(*batch, m, n)`.
        f: a real scalar function of a real scalar `s >= 0` (differentiable; twice for
            Hessians). It may close over traced values, whose derivatives are exact too.

    Returns:
        `Σ f(sᵢ)`, shape `(*batch,)`, real. NaN (value and derivatives) for matrices with
        NaN or inf entries.

    Raises:
        ValueError: `a` has fewer than 2 dimensions, or `f` is not scalar-to-scalar.
        TypeError: `f` returns complex values.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import svd_trace_function
        >>> frob2 = lambda a: svd_trace_function(a, lambda s: s**2)  # ‖A‖_F²
        >>> print(jax.grad(frob2)(jnp.eye(2)))  # 2A, though s = (1, 1) is tied
        [[2. 0.]
         [0. 2.]]
    """
    fn = "jaxgrad.linalg.svd_trace_function"
    a = host_array(a)
    dtype = matrix_dtype(a, fn, square=False)
    traced, consts = elementwise(f, dtype, fn, "singular values")
    return _svd_trace_function_compiled(a, consts, traced, fn)


def _identity(s):
    return s


def nuclear_norm(a: ArrayLike) -> Float[Array, "*batch"]:
    """Nuclear norm ``‖A‖_* = Σᵢ sᵢ``, with its gradient ``U Vᴴ`` and exact Hessian.

    Differentiable where `A` has full rank (`min(m, n)` nonzero singular values), with
    gradient `U Vᴴ` (the polar factor) and a Hessian exact at repeated singular
    values. Where a singular value is zero (`sᵢ <= max(m, n)·eps·s₁`) the norm is not
    differentiable: the gradient is the minimum-norm subgradient `U_r V_rᴴ` over the
    nonzero singular values, and the Hessian is NaN. `svd_trace_function(a, lambda s: s)`.

    Arguments:
        a: real or complex matrices, shape `(*batch, m, n)`.

    Returns:
        `‖a‖_*`, shape `(*batch,)`, real. NaN for matrices with NaN or inf entries.

    Raises:
        ValueError: `a` has fewer than 2 dimensions.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import nuclear_norm
        >>> a = jnp.array([[3.0, 0.0], [0.0, 0.0]])  # rank 1
        >>> nuclear_norm(a)
        Array(3., dtype=float32)
        >>> print(jax.grad(nuclear_norm)(a))  # U_r V_rᴴ, the minimum-norm subgradient
        [[1. 0.]
         [0. 0.]]
    """
    return svd_trace_function(a, _identity)


def _in_band(s, tau, band):
    """Singular values at the kink to the rounding of the SVD (see below). Only for
    τ > band: s = 0 stays outside, where the function must be 0 (a function nonzero at
    a zero singular value makes `svd_funm` NaN: svt(A, 1e-15) of a rank-deficient A
    was all NaN)."""
    return (jnp.abs(s - tau) <= band) & (tau > band)


@jax.custom_jvp
def _soft_threshold(s, tau, band, zero):
    # In the band, the line of slope ½ through the kink, which meets max(s − τ, 0) at
    # the band's edges (it differs from it by at most band/2).
    return where(_in_band(s, tau, band), (s - tau + band) / 2, jnp.maximum(s - tau, 0))


# The slope of max(s − τ, 0) in s is 1 above the kink, 0 below it and ½ at it (and minus
# that in τ): at s = τ > 0 both sides exist and ½ is what a central difference gives.
# At s = τ = 0 only one side exists (singular values are >= 0, and so is τ): there
# `svt(a, 0)` is the identity map, slope 1 in s, and raising τ from 0 leaves
# max(0 − τ, 0) = 0, slope 0 in τ. (`jnp.maximum`'s own rule, ½ and −½, halved the
# derivative of the identity along a zero singular value and, through the NaN rule of
# `svd_funm` for a function nonzero at 0, made the τ-derivative NaN.)
# "At the kink" is to the rounding of the SVD: |s − τ| <= `band` = 8·eps·‖A‖_F (‖A‖_F
# >= s₁; a few times the SVD's error, eps·s₁, and not more: at max(m, n)·eps·‖A‖_F a
# 200×200 float32 diagonal with τ 840 ulps below a singular value got slope ½ and a
# value 125 % off), and s is zero at τ = 0 where s <= `zero` = max(m, n)·eps·‖A‖_F
# (`svd_funm`'s rule for a numerically zero singular value). No derivative flows
# through either. A repeated singular value equal to τ comes out of the SVD split by a
# few ulps; slopes 1, ½ and 0 (and divided differences 1 or 0 between its copies)
# inside one cluster made the derivative depend on the arbitrary singular vectors of
# the cluster: 28–108 % off the closed form for an orthogonal A at τ = 1. In the band
# the function is the line of slope ½ through the kink, so that its divided
# differences there are ½ too. A numerically zero singular value at τ = 0 (5e-16 for a
# rank-2 3×3) took the slope of s > τ, and the τ-derivative held an arbitrary null
# pair (+0.32 where −0.063 is right).
@_soft_threshold.defjvp
def _soft_threshold_jvp(primals, tangents):
    s, tau, band, zero = primals
    ds, dtau, _, _ = tangents
    slope = where(_in_band(s, tau, band), 0.5, where(s > tau, 1.0, 0.0)).astype(s.dtype)
    # A numerically zero singular value is 0, below any τ > 0 (slope 0): with 0 < τ below
    # its rounding (5e-17) it took the slope above the kink, and the τ-derivative held an
    # arbitrary null pair again (0.71 off; outside probe).
    slope = where((s <= zero) & (tau > 0), jnp.zeros_like(slope), slope)
    corner = (tau == 0) & (s <= zero)
    slope_s = where(corner, jnp.ones_like(slope), slope)
    slope_tau = where(corner, jnp.zeros_like(slope), slope)
    return _soft_threshold(s, tau, band, zero), slope_s * ds - slope_tau * dtau


# The compiled core of `svt`: the threshold is a traced argument (a new τ does not
# recompile), the scalar function a module-level one.
@jax.jit
def _svt_compiled(a, tau):
    fn = "jaxgrad.linalg.svt"
    a = as_inexact_matrix(a, fn, square=False)
    tau = real_scalar(tau, jnp.finfo(a.dtype).dtype, fn, "tau")
    tau = nan_if(tau, ~(tau >= 0))
    m, n = a.shape[-2:]

    def one(x):  # one matrix: the kink's rounding band is its own (see above)
        # ‖x‖_F of x scaled by its largest entry: the squares overflowed above ~1e154
        # (float64), which made the band infinite and the derivatives wrong (outside probe).
        big = jnp.max(jnp.abs(x), initial=0.0)
        big = where((big > 0) & jnp.isfinite(big), big, 1).astype(x.dtype)
        norm = big * jnp.linalg.norm(x / big)
        unit = lax.stop_gradient(jnp.finfo(tau.dtype).eps * norm).astype(tau.dtype)
        return _svd_funm(_soft_threshold, x, (tau, 8 * unit, max(m, n) * unit), False)

    for _ in range(a.ndim - 2):
        one = jax.vmap(one)
    return nonfinite_guarded(one, a, 2)


def svt(a: ArrayLike, tau: ArrayLike) -> Inexact[Array, "*batch m n"]:
    """Singular value thresholding ``U max(S − τ, 0) Vᴴ``, the proximal operator of ``τ‖·‖_*``.

    The step of proximal-gradient methods for nuclear-norm problems (matrix completion,
    robust PCA): `svt(a, tau) = argmin_X ½‖X − A‖_F² + τ‖X‖_*`. It is
    [`jaxgrad.linalg.svd_funm`][] of the soft threshold, so its derivatives in `a` and in
    `tau` are exact at repeated singular values (first and second order). At the kink
    `sᵢ = τ` the map is not differentiable; there the scalar derivative is taken as ½,
    the average of the one-sided derivatives 0 and 1, which is what a central
    difference gives. A zero singular value at `tau = 0` has only one side (singular
    values and `tau` are `>= 0`): there the one-sided derivatives are used, so that
    `svt(a, 0)`, which is `a`, has derivative 1 along `a` and its `tau`-derivative is
    that of the one-sided difference (0 for that singular value). Both hold to the
    rounding of the SVD: a singular value within `8·eps·‖A‖_F` of `tau > 8·eps·‖A‖_F`
    (within `max(m, n)·eps·‖A‖_F` of 0 at `tau = 0`) counts as on the kink, so a
    repeated singular value equal to `tau` that the SVD splits by a few ulps is
    treated as the tie it is (there the value moves by at most `4·eps·‖A‖_F`).

    Arguments:
        a: real or complex matrices, shape `(*batch, m, n)`.
        tau: the threshold, a real scalar `>= 0` (differentiable; traced values are fine).

    Returns:
        The thresholded matrices, shape `(*batch, m, n)`, dtype of `a`. NaN (value and
        derivatives) for `tau < 0` or NaN, and for matrices with NaN or inf entries.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or `tau` is not a scalar.
        TypeError: `tau` is complex.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.linalg import svt
        >>> svt(jnp.diag(jnp.array([3.0, 1.0, 0.5])), 0.75)
        Array([[2.25, 0.  , 0.  ],
               [0.  , 0.25, 0.  ],
               [0.  , 0.  , 0.  ]], dtype=float32)
    """
    a = host_array(a)
    matrix_dtype(a, "jaxgrad.linalg.svt", square=False)
    return _svt_compiled(a, host_array(tau))
