"""Reductions over a long leading axis that XLA's CPU compiler keeps in one kernel.

XLA's CPU pipeline rewrites every reduction over a dimension longer than 32 (its tree
reduction rewriter) into a `reduce-window` over blocks of 32 followed by a reduction of
the blocks' results. The `reduce-window` is emitted as a kernel of its own that does
not fuse with what produces its operand, so the operand is computed by one more kernel
and written to memory first. In `quad`'s loop, whose interval pool has 202 slots at the
default `limit`, that was 16 reductions per pass: 16 extra kernels, each run on every
pass.

Here the axis is viewed as (blocks, 32), padded with the reduction's identity, and
both are reduced at once: no reduced dimension is longer than 32, the rewrite does not
apply, and the reduction stays one fusion with the operations that produce its operand.
(Beyond 32 blocks, 1,024 entries, the blocks are reduced first, then their results the
same way.) The result is the same reduction, its terms added in another order.

Used on the interval pools of `quad`'s loop (202 slots at the default `limit`), of the
Fourier weights' panels (200) and on `quadosc`'s cycles (50). Measured on the 2-core
machine, XLA's defaults, one core, two or three alternating pairs of processes
(bench/RESULTS.md, "suite"): `quad` on e^(-px)/√x, kernels 256 → 230 (value), 290 → 264
(gradient), 324 → 298 (vmap); XLA compile 7.2–7.5 s → 6.9–7.7 s (value), 7.9–8.6 →
7.8–8.4 (gradient), 9.2–9.7 → 8.9–9.3 (vmap over 8); steady state within 2 %. A `cos`
weight on a finite range: kernels 402 → 364, compile 11.7 → 11.1–11.6 s, steady state
0.18 → 0.17 ms; `quadosc`: 338 → 312, 10.3 → 9.4–9.9 s. Under the test suite's flags
(classic emitters, level 0) compile times did not change. Not used on `cubature`'s pool
of 10,000 boxes: there its steady state was 1–6 % slower (22 % for the gradient under
the test flags), the blocks of 32 being reduced less efficiently than XLA's windows.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

_BLOCK = 32  # the longest dimension XLA's CPU compiler reduces without rewriting


def _blocked(x, axis, identity):
    # The axis as (blocks, 32), behind a barrier: XLA's simplifier would otherwise fold
    # the reshape and the padding back into the reduction before the rewrite sees it.
    # (The barrier is gone before fusion: it costs no kernel and no copy.)
    n = x.shape[axis]
    rows = -(-n // _BLOCK)
    if rows * _BLOCK != n:
        pad = [(0, 0)] * x.ndim
        pad[axis] = (0, rows * _BLOCK - n)
        x = jnp.pad(x, pad, constant_values=identity)
    return lax.optimization_barrier(x.reshape(x.shape[:axis] + (rows, _BLOCK) + x.shape[axis + 1 :]))


def _reduce(x, reduce, identity, axis):
    axis = axis % x.ndim
    while x.shape[axis] > _BLOCK * _BLOCK:
        x = reduce(_blocked(x, axis, identity), axis=axis + 1)
    if x.shape[axis] <= _BLOCK:
        return reduce(x, axis=axis)
    return reduce(_blocked(x, axis, identity), axis=(axis, axis + 1))


def _lowest(dtype):
    return -jnp.inf if jnp.issubdtype(dtype, jnp.floating) else jnp.iinfo(dtype).min


def _highest(dtype):
    return jnp.inf if jnp.issubdtype(dtype, jnp.floating) else jnp.iinfo(dtype).max


def long_sum(x, axis=0):
    """`jnp.sum(x, axis=axis)` (one axis) as one kernel (see the module docstring).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad._reduce import long_sum
        >>> float(long_sum(jnp.arange(100.0)))
        4950.0
    """
    return _reduce(x, jnp.sum, 0, axis)


def long_max(x, axis=0):
    """`jnp.max(x, axis=axis)` (NaN where an entry is NaN) as one kernel."""
    return _reduce(x, jnp.max, _lowest(x.dtype), axis)


def long_min(x, axis=0):
    """`jnp.min(x, axis=axis)` (NaN where an entry is NaN) as one kernel."""
    return _reduce(x, jnp.min, _highest(x.dtype), axis)


def long_any(x, axis=0):
    """`jnp.any(x, axis=axis)` as one kernel."""
    return _reduce(x, jnp.any, False, axis)


def long_all(x, axis=0):
    """`jnp.all(x, axis=axis)` as one kernel."""
    return _reduce(x, jnp.all, True, axis)
