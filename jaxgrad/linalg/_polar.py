"""Polar decomposition ``A = U P`` from the SVD, with derivatives exact at ties.

Primal (Higham 2008, Thm 8.1): with the thin SVD ``A = W S Vᴴ``, ``U = W Vᴴ`` and
``P = V S Vᴴ``. Both are unique for full column rank and do not depend on how the SVD
picks its vectors inside a tie.

First derivative. Write ``C = Wᴴ dA V``, ``Ω = Wᴴ dU V`` and ``D = Vᴴ dP V``. Then
``C = Ω S + D`` with ``Ω`` skew-Hermitian (``UᴴU = I``) and ``D`` Hermitian, so

    Ωᵢⱼ = (C − Cᴴ)ᵢⱼ / (sᵢ + sⱼ),        Dᵢⱼ = ((C + Cᴴ)ᵢⱼ − Ωᵢⱼ (sⱼ − sᵢ)) / 2,

    dU = W Ω Vᴴ + (I − W Wᴴ) dA V S⁻¹ Vᴴ,        dP = V D Vᴴ.

The only denominators are ``sᵢ + sⱼ`` (and ``sᵢ`` for the tall part): nothing is divided
by a gap ``sᵢ − sⱼ``, so the rule is exact at repeated singular values and
gauge-covariant (any valid SVD gives the same tangent). At ``A = I`` it gives
``dU = (E − Eᴴ)/2`` and ``dP = (E + Eᴴ)/2``. Accuracy is that of the SVD, about
``eps·κ(A)`` in ``U``. In the skew/symmetric split ``1/(sᵢ + sⱼ)`` is the divided
difference of ``√`` over the eigenvalues ``sᵢ²`` of ``AᴴA`` (the SVD analogue of
Daleckii–Krein; Higham 2008, §8.1 and Problem 8.6).

Second derivatives. The first-order rule above is differentiated once more through
the same quantities written as matrix functions of ``AᴴA`` (``P = (AᴴA)^½``,
``U = A (AᴴA)^-½``), whose second derivatives are the tie-exact second divided
differences of `_funm`. Second derivatives are therefore exact at ties but carry the
``eps·κ(A)²`` accuracy of forming ``AᴴA``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jaxtyping import Array, ArrayLike, Inexact

from .._power_of_two import power_of_two_scale
from ._checks import as_inexact_matrix, hermitian_part, host_array, nan_where, split_nonfinite
from ._funm import _funm, _mH
from ._matfuncs import _inv_sqrt, _sqrt
from ._svd import svd_parts
from ._svd_funm import _nan_factor, numerically_zero


class PolarResult(NamedTuple):
    U: Inexact[Array, "*batch m n"]
    P: Inexact[Array, "*batch n n"]


def _singular(s, shape):
    # U is not unique when a singular value is zero, and not determined by the data when
    # one is zero to rounding (below the rank tolerance of `numpy.linalg.matrix_rank`, as
    # `svd_funm` decides it): say so with NaN.
    return jnp.any(numerically_zero(s, shape), axis=-1)


def _primal(w, s, v):
    u = nan_where(_singular(s, (w.shape[-2], v.shape[-2])), w @ _mH(v), 2)
    p = (v * s[..., None, :].astype(v.dtype)) @ _mH(v)
    return u, hermitian_part(p)


def _tangent_impl(a, w, s, v, da):
    """(dU, dP) at `a = W S Vᴴ` along `da` (the rule in the module docstring)."""
    c = _mH(w) @ da @ v
    si, sj = s[..., :, None], s[..., None, :]
    omega = (c - _mH(c)) / (si + sj).astype(c.dtype)
    d = ((c + _mH(c)) - omega * (sj - si).astype(c.dtype)) / 2
    du = w @ omega @ _mH(v)
    if a.shape[-2] > a.shape[-1]:  # the part of dA outside range(W) (tall A)
        du = du + ((da @ v - w @ c) / s[..., None, :].astype(c.dtype)) @ _mH(v)
    dp = v @ d @ _mH(v)
    # NaN multiplied in, not selected (as in `svd_funm`): this map is linear in `da` and
    # transposed by `jax.linear_transpose`, which would drop a selected constant (reverse
    # mode then gave a zero gradient at a singular `a`).
    # P = (AᴴA)^½ is continuous there but not differentiable (|σ| at the zero singular
    # value); its tangent from the formula was finite and set by rounding (one or the
    # other one-sided derivative at a numerically zero σ; an outside probe found it).
    singular = _nan_factor(_singular(s, a.shape), du.dtype)
    du, dp = du * singular, dp * singular
    return du, (dp + _mH(dp)) / 2


def _cotangent_impl(a, w, s, v, gu, gp):
    """The transpose of `_tangent_impl` in `da` (JAX's bilinear pairing)."""
    (ga,) = jax.linear_transpose(lambda da: _tangent_impl(a, w, s, v, da), a)((gu, gp))
    return ga


def _gram_polar(a):
    """The same factors as matrix functions of AᴴA (differentiated for second order).

    Formed from B = A/σ, σ a power of two near max|A| per matrix and held constant:
    U(A) = U(B) and P(A) = σ·P(B) exactly, and the divided differences of the inverse
    square root over the eigenvalues of BᴴB neither over- nor underflow (over those of
    AᴴA they did beyond about 1e±60 · unit scale: NaN or wrong second derivatives)."""
    sigma = power_of_two_scale(a, axis=(-2, -1), keepdims=True).astype(a.dtype)
    b = a / sigma
    gram = _mH(b) @ b
    gram = (gram + _mH(gram)) / 2
    return b @ _funm(_inv_sqrt, gram, ()), sigma * _funm(_sqrt, gram, ())


def _gram_tangent(a, da):
    return jax.jvp(_gram_polar, (a,), (da,))[1]


def _gram_cotangent(a, gu, gp):
    return jax.vjp(_gram_polar, a)[1]((gu, gp))[0]


# The first-order maps are primitives, linear in their last arguments and each the
# other's transpose, so that every second-order mode (forward or reverse over forward
# or reverse) reaches their derivative in `a`, which is the one of the AᴴA formulation.
# `w, s, v` are the SVD of `a` under stop_gradient: they carry no tangent of their own.
tangent_p = Primitive("jaxgrad_polar_tangent")
tangent_p.multiple_results = True
cotangent_p = Primitive("jaxgrad_polar_cotangent")


def _tangent_jvp(primals, tangents):
    a, w, s, v, da = primals
    ta, tda = tangents[0], tangents[-1]
    out = tangent_p.bind(a, w, s, v, da)
    dout = [jnp.zeros_like(x) for x in out]
    if not isinstance(tda, ad.Zero):
        dout = [x + y for x, y in zip(dout, tangent_p.bind(a, w, s, v, tda))]
    if not isinstance(ta, ad.Zero):
        du2, dp2 = jax.jvp(lambda a: _gram_tangent(a, da), (a,), (ta,))[1]
        # The second derivatives are NaN where the first are (a numerically zero singular
        # value); the AᴴA formulation alone gave finite numbers there.
        singular = _nan_factor(_singular(s, a.shape), du2.dtype)
        du2, dp2 = du2 * singular, dp2 * singular
        dout = [dout[0] + du2, dout[1] + dp2]
    return out, dout


def _tangent_transpose(cts, a, w, s, v, da):
    assert ad.is_undefined_primal(da) and not ad.is_undefined_primal(a)
    gu, gp = (ad.instantiate_zeros(ct) for ct in cts)
    return [None, None, None, None, cotangent_p.bind(a, w, s, v, gu, gp)]


def _cotangent_jvp(primals, tangents):
    a, w, s, v, gu, gp = primals
    ta, tgu, tgp = tangents[0], tangents[4], tangents[5]
    out = cotangent_p.bind(a, w, s, v, gu, gp)
    dout = jnp.zeros_like(out)
    if not (isinstance(tgu, ad.Zero) and isinstance(tgp, ad.Zero)):
        tgu, tgp = ad.instantiate_zeros(tgu), ad.instantiate_zeros(tgp)
        dout = dout + cotangent_p.bind(a, w, s, v, tgu, tgp)
    if not isinstance(ta, ad.Zero):
        singular = _nan_factor(_singular(s, a.shape), gu.dtype)  # as in `_tangent_jvp`
        gu, gp = gu * singular, gp * singular
        dout = dout + jax.jvp(lambda a: _gram_cotangent(a, gu, gp), (a,), (ta,))[1]
    return out, dout


def _cotangent_transpose(ct, a, w, s, v, gu, gp):
    assert not ad.is_undefined_primal(a)
    du, dp = tangent_p.bind(a, w, s, v, ad.instantiate_zeros(ct))
    return [None, None, None, None, du if ad.is_undefined_primal(gu) else None,
            dp if ad.is_undefined_primal(gp) else None]


def _batcher(prim):
    def batcher(args, dims):
        size = next(x.shape[d] for x, d in zip(args, dims) if d is not None)
        moved = [
            jnp.broadcast_to(x, (size, *x.shape)) if d is None else jnp.moveaxis(x, d, 0)
            for x, d in zip(args, dims)
        ]  # the rules broadcast over leading batch dimensions
        out = prim.bind(*moved)
        return out, ([0] * len(out) if prim.multiple_results else 0)

    return batcher


# The abstract evaluations `update` the input avals so that they keep their sharding
# (explicit sharding type-checks it under jit).
tangent_p.def_impl(_tangent_impl)
tangent_p.def_abstract_eval(
    lambda a, w, s, v, da: [
        a.update(dtype=da.dtype, weak_type=False),
        v.update(dtype=da.dtype, weak_type=False),
    ]
)
cotangent_p.def_impl(_cotangent_impl)
cotangent_p.def_abstract_eval(lambda a, w, s, v, gu, gp: a.update(weak_type=False))
for _prim, _impl, _jvp, _transpose in (
    (tangent_p, _tangent_impl, _tangent_jvp, _tangent_transpose),
    (cotangent_p, _cotangent_impl, _cotangent_jvp, _cotangent_transpose),
):
    ad.primitive_jvps[_prim] = _jvp
    ad.primitive_transposes[_prim] = _transpose
    batching.primitive_batchers[_prim] = _batcher(_prim)
    mlir.register_lowering(_prim, mlir.lower_fun(_impl, multiple_results=_prim.multiple_results))


@jax.custom_jvp
def _polar(a):
    return _primal(*svd_parts(a))


@_polar.defjvp
def _polar_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, s, v = lax.stop_gradient(svd_parts(a))
    # The primal output is `_polar(a)` itself, not `_primal(w, s, v)`: under a second
    # derivative the outer transformation differentiates this rule, and the stopped
    # `w, s, v` would give the output a zero derivative (a Hessian of a loss nonlinear
    # in U or P would miss its Gauss–Newton term). XLA merges the two identical SVDs.
    return _polar(a), tuple(tangent_p.bind(a, w, s, v, da))


def polar(a: ArrayLike) -> PolarResult:
    """Polar decomposition `A = U P` of a full-column-rank matrix, tie-exact derivatives.

    `U` has orthonormal columns and `P` is Hermitian positive definite. Both come from
    the SVD `A = W S Vᴴ` (`U = W Vᴴ`, `P = V S Vᴴ`), and the first derivative is
    the SVD rule with denominators `sᵢ + sⱼ` only, so it is exact where singular values
    are repeated, e.g. at orthogonal `A`, where the derivative of `U` along `E` is the
    skew part of `UᵀE` mapped back (at `A = I`: `(E − Eᵀ)/2`). Accuracy is that of
    the SVD. Second derivatives are exact at ties too but are computed through `AᴴA`
    (accuracy about `eps·κ(A)²`: wrong beyond κ(A) ≈ 1e5; `svd_funm(a, jnp.ones_like)`
    gives `U` with second derivatives at the SVD's accuracy, for entries between about
    1e-154 and 1e154: scale `a` to order one first).

    Arguments:
        a: matrices of shape `(*batch, m, n)` with `m >= n` and full column rank.

    Returns:
        `PolarResult(U, P)` with shapes `(*batch, m, n)` and `(*batch, n, n)`. A matrix
        with a numerically zero singular value (`sᵢ <= max(m, n)·eps·s₁`, the rank
        tolerance of `numpy.linalg.matrix_rank`) gives NaN in `U` (it is not unique, or
        not determined by the data, there) and in the derivatives; matrices with NaN or
        inf entries give NaN in both.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or more columns than rows.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.linalg import polar
        >>> u, p = polar(jnp.array([[0.0, 2.0], [3.0, 0.0]]))
        >>> u
        Array([[0., 1.],
               [1., 0.]], dtype=float32)
        >>> p
        Array([[3., 0.],
               [0., 2.]], dtype=float32)
    """
    return _polar_compiled(host_array(a))


# The compiled core of `polar` (see `_eigh._eigh_compiled`).
@jax.jit
def _polar_compiled(a):
    fn = "jaxgrad.linalg.polar"
    a = as_inexact_matrix(a, fn, square=False)
    if a.shape[-2] < a.shape[-1]:
        raise ValueError(
            f"{fn}: argument `a` must have at least as many rows as columns (*batch, m, n), "
            f"m >= n; got shape {a.shape}."
        )
    a, bad = split_nonfinite(a)
    u, p = _polar(a)
    return PolarResult(nan_where(bad, u, 2), nan_where(bad, p, 2))
