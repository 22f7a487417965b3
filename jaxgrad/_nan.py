"""Invalid inputs give NaN in the value *and in every derivative*, never a silent zero."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from ._where import where


# `where(bad, fill, x)` gives the filled entries a zero derivative (the constant
# branch has no tangent), so a gradient at an invalid input would be a silent 0. Here
# the tangent is dx·m with m = NaN where `bad` and 1 elsewhere: linear in dx, so
# reverse mode (its transpose, ct·m) is NaN there too, while the other entries (the
# other lanes of a batch) are untouched.
@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def replace_invalid(x, bad, fill):
    """`x` with `fill` where `bad` (broadcast against `x`); derivatives are NaN there."""
    return where(bad, jnp.asarray(fill, x.dtype), x)


@replace_invalid.defjvp
def _replace_invalid_jvp(fill, primals, tangents):
    x, bad = primals
    dx, _ = tangents
    m = where(bad, jnp.asarray(jnp.nan, x.dtype), jnp.ones((), x.dtype))
    return replace_invalid(x, bad, fill), dx * m


def nan_if(x, bad):
    """`x` with NaN where `bad`, in value and derivatives."""
    return replace_invalid(x, bad, float("nan"))


def is_inexact(x) -> bool:
    """Whether `x` is a floating-point or complex array (a leaf with a real tangent)."""
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def scale_tangents(tree, dtree, m):
    """The tangents `dtree` of `tree`, each floating leaf times the scalar `m` (linear in
    the tangents, so reverse mode multiplies the cotangents the same way); the tangents
    of integer leaves (float0) as they are. A zero (co)tangent stays 0 where m is NaN
    (`mul_zero_safe`): a failed lane masked out of a loss by `jnp.where` must not make
    the whole gradient NaN (a review found exactly that with `t * m`)."""
    def scale(x, t):
        return mul_zero_safe(t, m.astype(t.dtype)) if is_inexact(x) else t

    return jax.tree_util.tree_map(scale, tree, dtree)


@jax.custom_jvp
def nan_derivatives_if(tree, bad):
    """`tree` unchanged, with NaN derivatives where the scalar `bad` holds: a result
    kept for what it is (an optimizer's last finite iterate) whose derivative would be
    that of a point that solves nothing."""
    return tree


@nan_derivatives_if.defjvp
def _nan_derivatives_if_jvp(primals, tangents):
    tree, bad = primals
    m = where(bad, jnp.float32(jnp.nan), jnp.float32(1))
    return tree, scale_tangents(tree, tangents[0], m)


# --------------------------------------------------------------------------------------
# 0·inf = 0 for a tangent that is exactly zero.
#
# A Leibniz term f(b)·db of an integral is inf·db where f is infinite at a limit (x^p at
# 0, p < 0). In forward mode a derivative in a *parameter* pushes db = 0 through the same
# product (`jax.jacfwd` over (b, p) batches the tangents [1, 0]) and inf·0 = NaN spoilt the
# parameter's column, which reverse mode got right. `mul_zero_safe(x, y)` is x·y with 0
# wherever either factor is exactly 0 (the measure-theoretic convention). It is bilinear
# like `mul`, so it can take a tangent in either argument and be transposed (reverse mode
# multiplies the cotangent the same way); a plain `where(y == 0, 0, x*y)` on a tangent
# could not be transposed.
def _mul_zero_safe_impl(x, y):
    return where((x == 0) | (y == 0), jnp.zeros((), x.dtype), x * y)


mul_zero_safe_p = Primitive("jaxgrad_mul_zero_safe")
mul_zero_safe_p.def_impl(_mul_zero_safe_impl)
mul_zero_safe_p.def_abstract_eval(lambda x, y: x.update(weak_type=False))
mlir.register_lowering(mul_zero_safe_p, mlir.lower_fun(_mul_zero_safe_impl, multiple_results=False))
ad.defbilinear(
    mul_zero_safe_p,
    lambda ct, x, y: mul_zero_safe(ct, y),
    lambda ct, x, y: mul_zero_safe(x, ct),
)


def _mul_zero_safe_batch(args, dims):
    size = next(x.shape[d] for x, d in zip(args, dims) if d is not None)
    x, y = (jnp.broadcast_to(v, (size, *v.shape)) if d is None else jnp.moveaxis(v, d, 0) for v, d in zip(args, dims))
    return mul_zero_safe_p.bind(x, y), 0


batching.primitive_batchers[mul_zero_safe_p] = _mul_zero_safe_batch


def mul_zero_safe(x, y):
    """`x * y` (same shape and dtype after broadcasting) with 0 where `x` or `y` is 0,
    also where the other is inf or NaN; differentiable and transposable in both."""
    x, y = jnp.broadcast_arrays(x, y)
    dtype = jnp.result_type(x, y)
    return mul_zero_safe_p.bind(x.astype(dtype), y.astype(dtype))
