"""Input checks shared by the matrix problems of `jaxgrad.optimize` (run while tracing)."""

from __future__ import annotations

import jax.numpy as jnp


def as_real_float(x, name: str, fn: str):
    """`x` as a real floating-point array (integers promoted); `TypeError` if complex."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: {name} must be real; got dtype {x.dtype}.")
    return x


def as_real_square(m, name: str, fn: str):
    """`m` as a real floating-point square matrix; `ValueError` naming `name` otherwise."""
    m = as_real_float(m, name, fn)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{fn}: {name} must be a square matrix; got shape {m.shape}.")
    if m.shape[0] == 0:
        raise ValueError(f"{fn}: {name} is an empty (0×0) matrix.")
    return m
