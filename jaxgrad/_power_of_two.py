"""Exact rescaling by a power of two, for iterations and rules that over- or underflow
far from unit scale (dividing by 2^e changes no digit)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ._where import where


def power_of_two_scale(y, axis=None, keepdims=False):
    """2^e near max|y| over `axis` (all axes by default; e from the binary exponent, so
    dividing by it is exact), or 1 where that maximum is zero or not finite. No
    derivative."""
    big = lax.stop_gradient(jnp.max(jnp.abs(y), axis=axis, keepdims=keepdims, initial=0.0))  # (0 if empty)
    big = where(jnp.isfinite(big) & (big > 0), big, 1)
    _, e = jnp.frexp(big)
    # Kept within [2^(minexp+1), 2^(maxexp-2)], so that 1/scale is a normal float too:
    # XLA's CPU code flushes subnormals, and a division by 2^1023 (max|y| ~ 1e308) made
    # diag(1e308, 4) all zero, and `projector` returned the wrong eigenvector (outside probe).
    info = jnp.finfo(big.dtype)
    return jnp.ldexp(jnp.ones_like(big), jnp.clip(e - 1, info.minexp + 1, info.maxexp - 2))
