"""The float beside a point, as the derivative rules take f at a limit, a breakpoint or a face."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._where import where


def float_beside(x, toward, m=1):
    """The `m`-th float beside `x` in the direction of `toward` (approximately, for
    `m > 1`), differentiable as `x` itself (for higher derivatives: `nextafter` has no
    derivative rule, and `toward` may be traced from a limit).

    The step is at least the smallest normal float: XLA on CPU flushes subnormals to
    zero, so beside 0 the next float, 5e-324, was 0 itself, and an f that is 0/0 there
    (sin x / x) gave a NaN derivative in a limit at 0.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.integrate._beside import float_beside
        >>> float(float_beside(jnp.float32(0.0), jnp.float32(1.0)))
        1.1754943508222875e-38
    """
    xs, toward = jax.lax.stop_gradient(x), jax.lax.stop_gradient(toward)
    step = jnp.nextafter(xs, toward) - xs
    tiny = jnp.finfo(xs.dtype).tiny
    step = where(jnp.abs(step) < tiny, jnp.sign(toward - xs) * tiny, step)
    return x + m * step
