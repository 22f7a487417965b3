"""Invalid inputs give NaN in the value *and in every derivative*, never a silent zero."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


# `jnp.where(bad, fill, x)` gives the filled entries a zero derivative (the constant
# branch has no tangent), so a gradient at an invalid input would be a silent 0. Here
# the tangent is dx·m with m = NaN where `bad` and 1 elsewhere: linear in dx, so
# reverse mode (its transpose, ct·m) is NaN there too, while the other entries (the
# other lanes of a batch) are untouched.
@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def replace_invalid(x, bad, fill):
    """`x` with `fill` where `bad` (broadcast against `x`); derivatives are NaN there."""
    return jnp.where(bad, jnp.asarray(fill, x.dtype), x)


@replace_invalid.defjvp
def _replace_invalid_jvp(fill, primals, tangents):
    x, bad = primals
    dx, _ = tangents
    m = jnp.where(bad, jnp.asarray(jnp.nan, x.dtype), jnp.ones((), x.dtype))
    return replace_invalid(x, bad, fill), dx * m


def nan_if(x, bad):
    """`x` with NaN where `bad`, in value and derivatives."""
    return replace_invalid(x, bad, float("nan"))
