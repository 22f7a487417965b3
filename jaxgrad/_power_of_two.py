"""Exact rescaling by a power of two, for iterations and rules that over- or underflow
far from unit scale (dividing by 2^e changes no digit)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def power_of_two_scale(y, axis=None, keepdims=False):
    """2^e near max|y| over `axis` (all axes by default; e from the binary exponent, so
    dividing by it is exact), or 1 where that maximum is zero or not finite. No
    derivative."""
    big = lax.stop_gradient(jnp.max(jnp.abs(y), axis=axis, keepdims=keepdims))
    big = jnp.where(jnp.isfinite(big) & (big > 0), big, 1)
    _, e = jnp.frexp(big)
    return jnp.ldexp(jnp.ones_like(big), e - 1)
