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
    # Kept within [2^(minexp+1), 2^(maxexp-2)], so that 1/scale is a normal float too:
    # XLA's CPU code flushes subnormals, and a division by 2^1023 (max|y| ~ 1e308) made
    # diag(1e308, 4) all zero, and `projector` returned the wrong eigenvector (outside probe).
    info = jnp.finfo(big.dtype)
    return two_to(jnp.clip(floor_log2(big), info.minexp + 1, info.maxexp - 2), big.dtype)


def scale_outside_middle(y, axis=(-2, -1)):
    """`power_of_two_scale(y, axis, keepdims=True)` where max|y| lies outside the middle
    half of the exponent range (|log2| beyond a quarter of it: 2^±256 in float64, 2^±32
    in float32), 1 inside (where dividing by it changes nothing). For the decompositions'
    derivative rules, whose second derivatives hold 1/gap² and products of such terms
    (beyond 1e±154 they left the float range, and `svdvals`', `eigh`'s, `svd`'s and
    `eig`'s second derivatives came out NaN, 0 or 5 % off; outside probe), and for
    `logm` (1/λ², likewise)."""
    s = power_of_two_scale(y, axis=axis, keepdims=True)
    return where(jnp.abs(floor_log2(s)) > jnp.finfo(s.dtype).maxexp // 4, s, jnp.ones_like(s))


# 2^k and ⌊log2 |x|⌋ from the bits of the float: `jnp.ldexp` and `jnp.frexp`, which also
# handle subnormal numbers, infinities and NaN, are ~40 operations each, and the adaptive
# loop's body and every rescaled matrix function hold several (`powm`'s program:
# HLO text 20,750 characters for the scale alone). On normal floats the results are the
# same, exactly.
def _int_type(dtype):
    return {16: jnp.int16, 32: jnp.int32, 64: jnp.int64}[jnp.finfo(dtype).bits]


def two_to(k, dtype):
    """2^k (k an integer array), exactly, for k in the normal range of `dtype`; k is
    clipped to it (so the result is never 0, subnormal or inf)."""
    info = jnp.finfo(dtype)
    k = jnp.clip(jnp.asarray(k), info.minexp, info.maxexp - 1).astype(_int_type(dtype))
    return lax.bitcast_convert_type((k + (info.maxexp - 1)) << info.nmant, info.dtype)


def floor_log2(x):
    """⌊log2 |x|⌋ (an integer array) for normal floats x; for 0 and subnormals the
    smallest exponent less one (minexp − 1), for inf and NaN maxexp."""
    info = jnp.finfo(x.dtype)
    bits = lax.bitcast_convert_type(jnp.abs(x), _int_type(x.dtype))
    return (bits >> info.nmant) - (info.maxexp - 1)


def floor_power_of_two(x):
    """The largest power of two <= |x| for normal floats x, exactly (its bits are those of
    x without the mantissa and the sign); 0 for 0 and subnormals, inf for inf and NaN."""
    info = jnp.finfo(x.dtype)
    bits = lax.bitcast_convert_type(jnp.abs(x), _int_type(x.dtype))
    return lax.bitcast_convert_type(bits & ~((1 << info.nmant) - 1), info.dtype)


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
