"""Reverse-mode detection of losses that depend on an arbitrary eigenvector gauge.

A Hermitian eigendecomposition fixes each eigenvector only up to a phase, and a tied
cluster only up to a unitary rotation ``V_c -> V_c Q``. A loss ``L(V)`` that is well
defined must be invariant under those rotations; differentiating that invariance at
``Q = I`` gives the condition (Mathias 1996; the same test PyTorch's ``linalg_eigh_backward``
applies to the phase)::

    skew(Vᴴ V̄)[i, j] = 0   for every gauge pair (i, j),

where ``V̄`` is the cotangent of ``V`` and ``skew(X) = (X - Xᴴ)/2``. Only reverse mode
sees ``V̄``, so the check lives in the *transpose* of an identity map that the spectral
JVP rules insert on their coefficient matrix ``Ω`` (``dV = V Ω``, so ``Ω̄ = Vᴴ V̄``).
Forward mode is unchanged. When the condition fails beyond rounding, the whole
cotangent of that matrix becomes NaN: the derivative is not defined, and a number would
be a silent lie.

The identity is a primitive (not a ``custom_linear_solve``) because its transpose is
not linear: under forward-over-reverse differentiation the mask must come from the
primal cotangent, which ``_scale_by_gauge_check``'s own JVP rule guarantees.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .._where import where

gauge_guard_p = Primitive("jaxgrad_gauge_guard")
gauge_guard_p.multiple_results = True


def gauge_guard(omegas, gauge_pairs, *, rtol: float):
    """Identity on ``omegas`` (a tuple of ``(*batch, k, k)`` arrays); see module docstring.

    ``gauge_pairs`` is a boolean ``(*batch, k, k)`` mask of the pairs whose rotation is a
    gauge freedom. For several ``omegas`` the gauge acts on all of them together (the
    SVD's ``U`` and ``V`` share one rotation), so their cotangents are summed first.
    """
    return tuple(gauge_guard_p.bind(*omegas, gauge_pairs, rtol=float(rtol)))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _scale_by_gauge_check(cts, gauge_pairs, rtol):
    scale = _violation_scale(cts, gauge_pairs, rtol)
    return tuple(ct * scale for ct in cts)


def _violation_scale(cts, gauge_pairs, rtol):
    total = functools.reduce(jnp.add, cts)
    skew = (total - jnp.conj(jnp.swapaxes(total, -1, -2))) / 2
    size = jnp.max(jnp.abs(total), axis=(-2, -1), keepdims=True, initial=0.0)
    violated = jnp.any(gauge_pairs & (jnp.abs(skew) > rtol * size), axis=(-2, -1), keepdims=True)
    return where(violated, jnp.nan, 1).astype(total.real.dtype)


@_scale_by_gauge_check.defjvp
def _scale_by_gauge_check_jvp(rtol, primals, tangents):
    cts, gauge_pairs = primals
    dcts, _ = tangents
    # The mask is piecewise constant: its derivative is zero, and it is taken from the
    # primal cotangent, never from the tangent.
    scale = _violation_scale(cts, gauge_pairs, rtol)
    return tuple(ct * scale for ct in cts), tuple(d * scale for d in dcts)


def _impl(*args, rtol):
    del rtol
    return list(args[:-1])


def _abstract_eval(*avals, rtol):
    del rtol
    return list(avals[:-1])


def _jvp(primals, tangents, *, rtol):
    omegas, gauge_pairs = primals[:-1], primals[-1]
    dots = [ad.instantiate_zeros(t) for t in tangents[:-1]]
    out = gauge_guard_p.bind(*omegas, gauge_pairs, rtol=rtol)
    dout = gauge_guard_p.bind(*dots, gauge_pairs, rtol=rtol)
    return out, dout


def _transpose(cts, *args, rtol):
    gauge_pairs = args[-1]
    cts = [ad.instantiate_zeros(ct) for ct in cts]
    checked = _scale_by_gauge_check(tuple(cts), gauge_pairs, rtol)
    return [*checked, None]


def _batch(batched_args, batch_dims, *, rtol):
    size = next(
        x.shape[d] for x, d in zip(batched_args, batch_dims) if d is not None
    )
    moved = [
        jnp.broadcast_to(x, (size, *x.shape))
        if d is None
        else jnp.moveaxis(x, d, 0)
        for x, d in zip(batched_args, batch_dims)
    ]
    out = gauge_guard_p.bind(*moved, rtol=rtol)
    return out, [0] * len(out)


gauge_guard_p.def_impl(_impl)
gauge_guard_p.def_abstract_eval(_abstract_eval)
ad.primitive_jvps[gauge_guard_p] = _jvp
ad.primitive_transposes[gauge_guard_p] = _transpose
batching.primitive_batchers[gauge_guard_p] = _batch
mlir.register_lowering(gauge_guard_p, mlir.lower_fun(_impl, multiple_results=True))
