"""Static numeric options (tolerances, rank thresholds) given as Python numbers or 0-d arrays."""

from __future__ import annotations

import numbers

import jax
import numpy as np


def as_real(value):
    """`value` as a Python float if it is a real number: a Python `int`/`float` (not a
    `bool`) or a concrete 0-d real array (`jnp.array(1e-8)`, `np.float64(1e-8)`).
    Anything else (a traced value, a larger array, a boolean or complex value, a
    string) gives `None`, for the caller to reject with its own message.

    (An outside probe found `epsrel=jnp.array(1e-8)` rejected outside `jax.jit` while
    the same array, traced inside it, was accepted.)"""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "fiu":  # float, int, unsigned
            return None
        return float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def as_flag(fn, name, value):
    """`value` as a Python bool: a bool, a NumPy bool, a concrete 0-d boolean array
    (`jnp.array(True)`), or the integers 0 and 1 (scipy's `full_output=1` habit); a
    `TypeError` naming `fn` and `name` otherwise, a traced value included (the flag
    decides what is compiled). (`throw="no"` was taken as true and turned raising on;
    outside probe.)"""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (jax.Array, np.ndarray)) and not isinstance(value, jax.core.Tracer):
        if np.ndim(value) == 0 and np.asarray(value).dtype == bool:
            return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{fn}: `{name}` must be True or False; got {value!r}.")
