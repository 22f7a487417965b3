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
    """`value` as a Python bool if it is one (or a NumPy bool); a `TypeError` naming `fn`
    and `name` otherwise. (`throw="no"` was taken as true and turned raising on; outside
    probe.)"""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{fn}: `{name}` must be True or False; got {value!r}.")
