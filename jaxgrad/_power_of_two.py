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


def times_product(y, factors):
    """y · Π factors over the last axis of `factors` (kept as a size-1 axis, so that it
    broadcasts against y), with the product itself never the cause of an overflow or
    underflow: where Π factors is not a normal float, y is multiplied by one factor at a
    time instead (a box of side 1e-13 in float32 has a volume of 1e-39, below the smallest
    normal float, and f near 1e20 over it integrated to 0, `converged`; outside probe).
    Elsewhere the plain product, bit for bit. (`frexp`/`ldexp` scaling compiled `cubature`
    ~20 % slower.) Derivatives flow as through the plain product."""
    direct = jnp.prod(factors, axis=-1, keepdims=True)
    normal = jnp.isfinite(direct) & (jnp.abs(direct) >= jnp.finfo(direct.dtype).tiny)
    one_by_one = y
    for i in range(factors.shape[-1]):
        one_by_one = one_by_one * factors[..., i : i + 1]
    # (1 in the branch not taken: an infinite product there made reverse-mode 0·inf.)
    return where(normal, y * where(normal, direct, 1), one_by_one)
