"""`where(condition, x, y)`: `jnp.where` with its body traced in place.

`jnp.where(c, x, y)` is a `jax.jit` of a small function (JAX jits it so that an eager
call does not materialise broadcast scalars). Inside a program every call therefore
becomes a nested program: `quad`'s loop holds ~300 of them, each traced, lowered to an
MLIR function of its own and inlined again by XLA. The library's code is always traced
(the public functions are jitted), so the jit buys nothing there and costs compile
time. This calls the same function JAX jits (dtype promotion, weak types and
broadcasting exactly as `jnp.where`'s), unjitted: `jit(quad)`'s jaxpr 3,506 -> 3,060
equations, lowering 0.27-0.31 -> 0.23-0.24 s, and two paired runs of test_quad_weights.py
and test_cache.py (which compile dozens of `quad` programs) took 0.97-1.00x the CPU time
(bench/RESULTS.md, "suite").

The unjitted function is a private attribute of `jax.numpy`; where it is missing (a
JAX that renamed it) `jnp.where` itself is used, with the same results.
"""

from __future__ import annotations

import jax.numpy as jnp

try:  # pragma: no branch
    from jax._src.numpy.util import _where as _jitted

    _select = getattr(_jitted, "__wrapped__", jnp.where)
except ImportError:  # pragma: no cover - a JAX without it
    _select = jnp.where


def where(condition, x, y):
    """`jnp.where(condition, x, y)` (three arguments), traced inline."""
    return _select(condition, x, y)
