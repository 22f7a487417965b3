"""Functions of singular values, ``F(A) = U f(S) Vᴴ``, with exact derivatives at ties and at zero.

For ``A = U S Vᴴ`` (thin SVD, ``k = min(m, n)`` singular values) the map
``A ↦ U f(S) Vᴴ`` is a generalized matrix function (Hawkins & Ben-Israel, 1973). Like
`funm`, it is differentiated as a whole map, never through ``dU`` and ``dV``: a tied
cluster's singular vectors are arbitrary, but the derivative of ``F`` is written with
divided differences of ``f`` that stay finite and continuous as singular values merge.

The first derivative (the spectral-operator formulas of Ding, Sun & Toh, 2014, for the
singular values; the same formula follows from Daleckii–Krein applied to the Hermitian
dilation below). With ``P = Uᴴ dA V`` (k×k), its Hermitian part ``H = (P + Pᴴ)/2`` and
skew-Hermitian part ``K = (P − Pᴴ)/2``:

    dF = U (D⁻ ∘ H + D⁺ ∘ K) Vᴴ
         + (I − U Uᴴ) dA V diag(φ) Vᴴ        (tall, m > n)
         + U diag(φ) Uᴴ dA (I − V Vᴴ)        (wide, m < n),

    D⁻ᵢⱼ = (f(sᵢ) − f(sⱼ))/(sᵢ − sⱼ)  (f′(sᵢ) at a tie),
    D⁺ᵢⱼ = (f(sᵢ) + f(sⱼ))/(sᵢ + sⱼ)  (f′(0) where both vanish),   φᵢ = D⁺ᵢᵢ = f(sᵢ)/sᵢ.

``D⁻`` and ``D⁺`` are constant on a tied cluster's block, so the expression does not
change under the joint rotation ``U_c → U_c Q, V_c → V_c Q`` inside a cluster: it is
exact at repeated and nearly repeated singular values. ``D⁻`` uses the stable divided
differences of `_funm` (quotient or Gauss–Lobatto rule, whichever is provably better); ``D⁺`` is a
quotient without cancellation (``f(sᵢ)`` and ``f(sⱼ)`` have the sign of ``f′(0) s`` when
both are small).

The Hermitian dilation ``B = [[0, A], [Aᴴ, 0]]`` has eigenvalues ``±sᵢ`` (and ``|m − n|``
zeros) with eigenvectors ``[uᵢ; ±vᵢ]/√2`` (``[u⊥; 0]``, ``[0; v⊥]``), so with the odd
extension ``g(x) = sign(x) f(|x|)``, ``g(0) = 0``,

    F(A) = the upper right m×n block of g(B).

Second derivatives use this identity: they are the upper right blocks of the second
Fréchet derivative of ``g`` at ``B`` (`_funm.frechet2`, second divided differences of
``g`` over ``±sᵢ``), exact at ties. Where a singular value is zero they are exact when
``g`` is twice differentiable at 0, i.e. ``f″(0) = 0`` (``f = tanh``, ``f(s) = s``,
singular value thresholding); otherwise the second derivative does not exist there
(NaN where ``f′(0)`` or ``f″(0)`` is not finite). The dilation's zero eigenvalues are
taken as exactly 0, and at full rank the second divided differences over two of them as
0 (see `_OddExtension`).
Memory for second order is O((m + n)³) per matrix (the tensor of second divided
differences of ``g``).

Zero singular values. ``F`` depends on the basis of the null space unless ``f(0) = 0``
(``f(0)·u vᴴ`` for an arbitrary pair of null vectors), so where a singular value is
numerically zero (``sᵢ <= max(m, n)·eps·s₁``, the rank tolerance of `numpy.linalg.matrix_rank`)
and ``f(0) ≠ 0`` the output and its derivatives are NaN. For ``f(0) = 0`` the first
derivative at a zero singular value is exact (``D⁻ = D⁺ = f′(0)`` there). A numerically
zero singular value is taken as exactly 0 in the value and every derivative
(`_exact_zeros`).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jaxtyping import Array, ArrayLike, Inexact

from .._where import where
from ._checks import (
    as_inexact_matrix,
    host_array,
    matrix_dtype,
    nan_where,
    nonfinite_after,
    zero_nonfinite,
)
from ._funm import (
    _d1,
    _is_zero,
    _make_batcher,
    _mH,
    _param_partials,
    elementwise,
    elementwise_function,
    first_divided_differences,
    frechet,
    second_divided_differences,
)
from ._svd import svd_parts
from ._ties import rank_tolerance


def numerically_zero(s, shape):
    """Mask of the singular values ``<= max(m, n)·eps·s₁`` (``s`` descending)."""
    return s <= rank_tolerance(s, shape)


def _zero_flags(f, s, zero, params):
    """``(undefined, at_zero)``: per matrix, whether a numerically zero singular value
    (``zero``, from `_exact_zeros`) meets ``f(0) ≠ 0`` (then ``U f(S) Vᴴ`` depends on the
    null-space basis), and the per-singular-value mask of those zero singular values."""
    f0 = f(jnp.zeros((), s.dtype), *params)
    at_zero = zero & (f0 != 0)
    return jnp.any(at_zero, axis=-1), at_zero


def _nan_factor(flag, dtype):
    # Multiplied in, not selected: the rules below are linear in their tangent argument
    # and transposed by `jax.linear_transpose`; a factor keeps them linear.
    return where(flag, jnp.asarray(jnp.nan, dtype), jnp.ones((), dtype))[..., None, None]


def _exact_zeros(s, shape):
    """``s`` with its numerically zero singular values set to 0, as the second-order rule
    takes them (`_OddExtension`): the value and first derivative of ``2^100`` times an
    integer 4×3 matrix of rank 2 applied ``tanh`` to the rounding's ``s₃ = 2.2e14``, an
    O(1) term ``u₃v₃ᴴ`` that the exact ``F`` does not have, and its first derivative
    lacked the null-space term ``f′(0)·(I − U₂U₂ᴴ)E v₃v₃ᴴ`` (outside probe). Returns
    that ``s`` and the mask of the zeroed ones."""
    zero = numerically_zero(s, shape)
    return where(zero, jnp.zeros_like(s), s), zero


def _assemble(f, u, s, v, params, drop_at_zero: bool):
    s, zero = _exact_zeros(s, (u.shape[-2], v.shape[-2]))
    fs = f(s, *params)
    undefined, at_zero = _zero_flags(f, s, zero, params)
    if drop_at_zero:
        fs = where(at_zero, jnp.zeros_like(fs), fs)
    out = (u * fs[..., None, :].astype(u.dtype)) @ _mH(v)
    return out if drop_at_zero else out * _nan_factor(undefined, out.dtype)


def sum_divided_differences(f: Callable, s, params=()):
    """``D⁺ᵢⱼ = (f(sᵢ) + f(sⱼ))/(sᵢ + sⱼ)``, ``f′(0)`` where ``sᵢ = sⱼ = 0``."""
    fs = f(s, *params)
    total = s[..., :, None] + s[..., None, :]
    both_zero = total == 0
    quotient = (fs[..., :, None] + fs[..., None, :]) / where(both_zero, 1, total)
    df0 = _d1(f)(jnp.zeros_like(s), *params)[..., :, None]
    return where(both_zero, df0, quotient)


# --------------------------------------------------------------------------------------
# The primal and its first derivative.


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 3))
def _svd_funm(f, a, params, drop_at_zero):
    """``U f(S) Vᴴ``. With ``drop_at_zero`` the terms of numerically zero singular values
    with ``f(0) ≠ 0`` are left out (the minimum-norm subgradient of ``Σ F(sᵢ)`` for
    ``f = F′``, see `svd_trace_function`) instead of making the output NaN."""
    return _assemble(f, *svd_parts(a), params, drop_at_zero)


@functools.partial(_svd_funm.defjvp, symbolic_zeros=True)
def _svd_funm_jvp(f, drop_at_zero, primals, tangents):
    a, params = primals
    da, dparams = tangents
    # The primal output is this function itself, so that an outer derivative of the
    # rule sees its true derivative (XLA merges the two identical SVDs).
    out = _svd_funm(f, a, params, drop_at_zero)
    u, s, v = lax.stop_gradient(svd_parts(a))
    dout = jnp.zeros_like(out)
    if not _is_zero(da):
        dout = dout + tangent_p.bind(a, u, s, v, da, *params, f=f)
    # ∂F/∂p = U (∂f/∂p)(S) Vᴴ: itself a function of the singular values.
    for h, k, m in _param_partials(f, params, dparams):
        dout = dout + (_svd_funm(h, a, params, drop_at_zero) * jnp.ravel(dparams[k])[m]).astype(dout.dtype)
    return out, dout


def _tangent_impl(a, u, s, v, e, *params, f):
    """``dF`` along ``e`` at ``a = U diag(s) Vᴴ`` (the formula of the module docstring)."""
    m, n = a.shape[-2:]
    s, zero = _exact_zeros(s, (m, n))
    dtype = jnp.result_type(u.dtype, e.dtype)
    d_minus = first_divided_differences(f, s, params)[0].astype(dtype)
    d_plus = sum_divided_differences(f, s, params).astype(dtype)
    p = _mH(u) @ e @ v
    out = u @ (d_minus * (p + _mH(p)) / 2 + d_plus * (p - _mH(p)) / 2) @ _mH(v)
    phi = jnp.diagonal(d_plus, axis1=-2, axis2=-1)[..., None, :]
    if m > n:
        out = out + ((e @ v - u @ p) * phi) @ _mH(v)
    if n > m:
        out = out + u @ (phi.mT * (_mH(u) @ e - p @ _mH(v)))
    undefined, _ = _zero_flags(f, s, zero, params)
    return out * _nan_factor(undefined, dtype)


def _cotangent_impl(a, u, s, v, ct, *params, f):
    """The transpose of `_tangent_impl` in its tangent (JAX's bilinear pairing)."""

    def tangent(e):
        return _tangent_impl(a, u, s, v, e, *params, f=f)

    (out,) = jax.linear_transpose(tangent, jax.ShapeDtypeStruct(a.shape, ct.dtype))(ct)
    return out


# --------------------------------------------------------------------------------------
# Second order, through the Hermitian dilation (module docstring).


def _at_zero(f, zero, params):
    """``(f(0), smooth)``: f at the zeros ``zero``, and whether ``f(0)``, ``f′(0)`` and
    ``f″(0)`` are all finite there. (At the shape of ``zero``: under `vmap` over f's
    parameters f is mapped lane by lane, and its shape at a scalar 0 is batched.)"""
    d1 = _d1(f)
    f0 = f(zero, *params)
    return f0, jnp.isfinite(f0) & jnp.isfinite(d1(zero, *params)) & jnp.isfinite(_d1(d1)(zero, *params))


# The smallest singular value, relative to the largest, from which a full-rank rectangular
# matrix's structural zero eigenvalues are left out of its second divided differences
# (`_OddExtension.second_divided_differences`): their eigenvectors are then mixed with the
# smallest pair's by at most ~eps/1e-8 ≈ 2e-8, and the error of leaving their terms out
# is of the order of its square.
_STRUCTURAL_GAP = 1e-8


class _OddExtension:
    """``g(x) = sign(x) f(|x|)`` with ``g(0) = 0`` and ``g′(0) = f′(0)``; hashable by ``f``
    (it is a static parameter of the `_funm` primitives).

    Where ``f(0)``, ``f′(0)`` or ``f″(0)`` is not finite (``1/s``, the pseudo-inverse's
    function; ``s log s``) ``g`` is 0 at 0 with zero derivatives: a full-rank rectangular
    matrix's dilation has zero eigenvalues, whose eigenvectors have no part in the upper
    right block, so that ``g`` is read there only through the quotients ``g(s)/s``; a
    non-finite ``g`` or ``g′`` at 0 made the second derivative NaN (``s log s``,
    ``exp(−1/s)``) or garbage up to 1e19 (``1/s``; outside probe). Where a singular value
    itself is zero such an ``f`` has no second derivative, and `_make_jvp` makes it NaN."""

    def __init__(self, f, structural=0):
        self.f = f
        self.structural = structural  # |m − n|: the dilation's zero eigenvalues at full rank

    def __call__(self, x, *params):
        pos = x >= 0
        y0, smooth = _at_zero(self.f, jnp.zeros_like(x), params)  # f(0): no derivative in x
        at0 = (x == 0) & ~smooth
        y = self.f(where(at0, jnp.ones_like(x), where(pos, x, -x)), *params)
        odd = where(pos, y, -y) - where(x == 0, y0, jnp.zeros_like(y0))
        return where(at0, jnp.zeros_like(odd) * x, odd)

    @staticmethod
    def prepare_eigenvalues(w):
        """The dilation's eigenvalues within ``(m + n)/2·eps·max|λ|`` of 0 are its
        structural zeros (``|m − n|`` of them, and ±s for a numerically zero s), computed
        as ±1e-16·‖A‖: they are taken as 0 (``(m + n)/2 <= max(m, n)``: nothing above
        `numerically_zero`'s threshold is). Their eigenvectors have no part in the upper
        right block, so ``g`` may be anything smooth there, but ``g`` itself is not:
        ``1/s`` at 5e-16 put entries of 1e15–1e30 against rounding-size ones, and the
        second derivative of the pseudo-inverse's ``U S⁻¹ Vᴴ`` of a 4×3 matrix came out
        9.19 for −7.28 (outside probe)."""
        eps = float(np.finfo(jnp.finfo(w.dtype).dtype).eps)
        tol = w.shape[-1] / 2 * eps * jnp.max(jnp.abs(w), axis=-1, keepdims=True, initial=0.0)
        return where(jnp.abs(w) <= tol, jnp.zeros_like(w), w)

    def second_divided_differences(self, w, *params):
        """``g[λᵢ, λₖ, λⱼ]`` (`_funm.second_divided_differences`), with those over two or
        three of the structural zero eigenvalues set to 0 where the matrix has full rank
        (its only zero eigenvalues are the ``|m − n|`` structural ones). Their terms land
        outside the upper right block in exact arithmetic (the structural eigenvectors
        are ``[u⊥; 0]`` or ``[0; v⊥]``), but ``g[0, λ, 0] = (g(λ)/λ − f′(0))/λ`` is
        ``−f′(0)/λ`` where the others are of the size of ``f″(λ)``: the rounding of the
        computed eigenvectors (``eps`` of ``[u⊥; 0]`` in the lower half) carried it into
        the block, and second derivatives of ``s/(1 + s)`` and ``tanh`` of full-rank 5×3
        and 4×3 matrices of norm 1e30 came out 1e12 times too large, and of the wrong
        sign (outside probe; exact for square matrices, which have no structural zeros).
        With a numerically zero singular value its ``±s`` are zero eigenvalues too, whose
        terms are real: nothing is changed there. Nor where the smallest singular value
        is below 1e-8 of the largest (`_STRUCTURAL_GAP`): the computed structural
        eigenvectors are then mixed with ``±s_min``'s by ~eps·s₁/s_min, the terms reach
        the block by as much, and leaving them out cost up to 7 % (tanh on a 5×3 matrix
        with s = (2, 1.5, 2e-15); 1.6e-7 at s_min = 1e-12; a review), where keeping
        them is right to rounding at moderate norms."""
        gamma = second_divided_differences(self, w, params)
        if not self.structural:
            return gamma
        zero = w == 0
        size = jnp.abs(w)
        smallest = jnp.min(where(zero, jnp.inf, size), axis=-1)
        separated = smallest >= _STRUCTURAL_GAP * jnp.max(size, axis=-1)
        full_rank = (jnp.sum(zero, axis=-1) == self.structural) & separated  # (...,)
        zi, zj, zk = zero[..., :, None, None], zero[..., None, :, None], zero[..., None, None, :]
        two = (zi & zj) | (zi & zk) | (zj & zk)
        return where(two & full_rank[..., None, None, None], jnp.zeros_like(gamma), gamma)

    @property
    def lane_mapped(self):
        """The odd extension of a lane-mapped f (under `vmap` over f's parameters) is the
        lane-mapped odd extension of f (see `_funm._make_batcher`)."""
        lane = getattr(self.f, "lane_mapped", None)
        return None if lane is None else (_OddExtension(lane[0], self.structural), lane[1], lane[2])

    def __eq__(self, other):
        return isinstance(other, _OddExtension) and other.f == self.f and other.structural == self.structural

    def __hash__(self):
        return hash((_OddExtension, self.f, self.structural))


def _dilation(x):
    m, n = x.shape[-2:]
    batch = x.shape[:-2]
    top = jnp.concatenate([jnp.zeros(batch + (m, m), x.dtype), x], axis=-1)
    bottom = jnp.concatenate([_mH(x), jnp.zeros(batch + (n, n), x.dtype)], axis=-1)
    return jnp.concatenate([top, bottom], axis=-2)


def _dilation_tangent(a, e, params, f):
    m, n = a.shape[-2:]
    return frechet(_OddExtension(f, abs(m - n)), _dilation(a), _dilation(e), params)[..., :m, m:]


def _dilation_cotangent(a, ct, params, f):
    def tangent(e):
        return _dilation_tangent(a, e, params, f)

    (out,) = jax.linear_transpose(tangent, jax.ShapeDtypeStruct(a.shape, ct.dtype))(ct)
    return out


# `tangent_p` (E ↦ dF) and `cotangent_p` (its transpose) are primitives, each the
# other's transpose, as in `_funm` and `_polar`: every second-order mode then reaches
# their derivative in `a`, which is taken through the dilation (exact at ties), never
# through LAPACK's derivative of the SVD. `u, s, v` enter under stop_gradient.
tangent_p = Primitive("jaxgrad_svd_funm_tangent")
cotangent_p = Primitive("jaxgrad_svd_funm_cotangent")


def _no_second_derivative(f, s, params, shape):
    """Per matrix: a numerically zero singular value where ``f(0) ≠ 0`` (the map depends
    on the null space's basis: NaN in every order, as the value) or where ``f′(0)`` or
    ``f″(0)`` is not finite (no second derivative). The first-order rule had the former
    only; the second-order one had neither and gave finite numbers, 0.1 to 1e30, for
    ``svd_funm(A, ones_like)`` at a rank-1 matrix (outside probe)."""
    f0, smooth = _at_zero(f, jnp.zeros((), s.dtype), params)  # (size, 1) under vmap over params
    return jnp.any(numerically_zero(s, shape[-2:]) & ((f0 != 0) | ~smooth), axis=-1)


def _make_jvp(prim, dilation_rule):
    def jvp(primals, tangents, *, f):
        a, u, s, v, e, *params = primals
        ta, te, tparams = tangents[0], tangents[4], tangents[5:]
        out = prim.bind(*primals, f=f)
        dout = jnp.zeros_like(out)
        if not _is_zero(te):
            dout = dout + prim.bind(a, u, s, v, ad.instantiate_zeros(te), *params, f=f)
        if not _is_zero(ta):
            second = jax.jvp(lambda x: dilation_rule(x, e, params, f), (a,), (ta,))[1]
            dout = dout + (second * _nan_factor(_no_second_derivative(f, s, params, a.shape), second.dtype)).astype(dout.dtype)
        for h, k, m in _param_partials(f, params, tparams):
            dout = dout + (prim.bind(a, u, s, v, e, *params, f=h) * jnp.ravel(tparams[k])[m]).astype(dout.dtype)
        return out, dout

    return jvp


def _make_transpose(other):
    def transpose(ct, a, u, s, v, e, *params, f):
        assert ad.is_undefined_primal(e) and not ad.is_undefined_primal(a)
        ct = ad.instantiate_zeros(ct)
        return [None] * 4 + [other.bind(a, u, s, v, ct, *params, f=f)] + [None] * len(params)

    return transpose


def _abstract_eval(a, u, s, v, e, *params, f):
    del u, s, v, params, f
    return a.update(dtype=jnp.result_type(a.dtype, e.dtype), weak_type=False)


for _prim, _impl, _rule, _other in (
    (tangent_p, _tangent_impl, _dilation_tangent, cotangent_p),
    (cotangent_p, _cotangent_impl, _dilation_cotangent, tangent_p),
):
    _prim.def_impl(_impl)
    _prim.def_abstract_eval(_abstract_eval)
    ad.primitive_jvps[_prim] = _make_jvp(_prim, _rule)
    ad.primitive_transposes[_prim] = _make_transpose(_other)
    batching.primitive_batchers[_prim] = _make_batcher(_prim, 5)
    mlir.register_lowering(_prim, mlir.lower_fun(_impl, multiple_results=False))


# --------------------------------------------------------------------------------------
# Public wrapper.


def nonfinite_guarded(core, a, extra_dims: int):
    """``core(a)`` with NaN, in the value and the derivatives, for the matrices of ``a``
    holding NaN/inf (``extra_dims``: the core dimensions of the output).

    The non-finite entries are zeroed elementwise before the SVD and the per-matrix
    flag is computed after it (see `_checks.nonfinite_after`): a reduction scheduled
    before the batched LAPACK call made it up to 1.7x slower at 512x16x16 in float32.
    """
    out = core(zero_nonfinite(a))
    return nan_where(nonfinite_after(a, out, extra_dims), out, extra_dims)


# The compiled core of `svd_funm` (see `_funm._funm_compiled`).
@functools.partial(jax.jit, static_argnames=("traced",))
def _svd_funm_compiled(a, consts, traced):
    a = as_inexact_matrix(a, "jaxgrad.linalg.svd_funm", square=False)
    g = elementwise_function(traced, a.dtype)
    return nonfinite_guarded(lambda x: _svd_funm(g, x, consts, False), a, 2)


def svd_funm(a: ArrayLike, f: Callable[[Array], Array]) -> Inexact[Array, "*batch m n"]:
    """Function of the singular values ``U f(S) Vᴴ``, with exact derivatives at ties and at zero.

    The derivative is that of the whole map `A ↦ U f(S) Vᴴ`, written with the divided
    differences `(f(sᵢ) − f(sⱼ))/(sᵢ − sⱼ)` and `(f(sᵢ) + f(sⱼ))/(sᵢ + sⱼ)`, never with
    the singular-vector derivatives, so it is exact where singular values are repeated,
    nearly repeated or zero. Second derivatives are exact there too (at a zero singular
    value they need `f″(0) = 0`; otherwise they do not exist). Use it for any loss that
    couples singular values with their own singular vectors, `⟨C, U f(S) Vᴴ⟩`, which
    no rule for `(U, s, Vᴴ)` can differentiate exactly at a tie.

    Arguments:
        a: real or complex matrices, shape `(*batch, m, n)`, square or rectangular.
        f: a real scalar function of a real scalar `s >= 0`, applied to the singular
            values; differentiable (twice for Hessians). It may close over traced values
            (derivatives in them are exact too), as in [`jaxgrad.linalg.funm`][]. At a
            zero singular value the derivative uses `f′(0)` as JAX differentiates `f`
            there; for an `f` with a kink at 0 that is JAX's convention, not the
            one-sided derivative (`jnp.maximum(s, 0)` gets ½ at 0, though it is `s` on
            `s >= 0`: write such an `f` without the kink, or use
            [`jaxgrad.linalg.svt`][], whose threshold is one-sided at 0).

    Returns:
        `U f(S) Vᴴ` (thin SVD), shape `(*batch, m, n)`, the dtype of `a`. NaN, in the
        value and the derivatives, for a matrix with a numerically zero singular value
        (`sᵢ <= max(m, n)·eps·s₁`) when `f(0) ≠ 0` (the result would depend on an
        arbitrary basis of the null space), and for matrices with NaN or inf entries.

    Raises:
        ValueError: `a` has fewer than 2 dimensions, or `f` is not scalar-to-scalar.
        TypeError: `f` returns complex values.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import svd_funm
        >>> c = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        >>> loss = lambda a: jnp.sum(c * svd_funm(a, jnp.tanh))  # ⟨C, U tanh(S) Vᴴ⟩
        >>> print(jnp.array_str(jax.grad(loss)(jnp.eye(2)), precision=3))  # exact at A = I
        [[0.42  0.669]
         [1.431 1.68 ]]
    """
    fn = "jaxgrad.linalg.svd_funm"
    a = host_array(a)
    dtype = matrix_dtype(a, fn, square=False)
    traced, consts = elementwise(f, dtype, fn, "singular values")
    return _svd_funm_compiled(a, consts, traced)
