"""Trace-time input checks and the non-finite guard shared by the public wrappers."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def as_inexact_matrix(a, fn: str, *, square: bool = True, name: str = "a"):
    """Convert to an inexact array, promoting integers like ``jax.numpy`` does.

    Raises ``ValueError`` (at trace time) for rank < 2 or, when ``square``, a
    non-square trailing pair of dimensions.
    """
    a = jnp.asarray(a)
    if a.ndim < 2:
        raise ValueError(
            f"{fn}: argument `{name}` must have at least 2 dimensions (*batch, m, n); "
            f"got shape {a.shape}."
        )
    if square and a.shape[-1] != a.shape[-2]:
        raise ValueError(
            f"{fn}: argument `{name}` must be square in its last two dimensions; "
            f"got shape {a.shape}."
        )
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        a = a.astype(jax.dtypes.canonicalize_dtype(jnp.float64))
    return a


def split_nonfinite(a):
    """Replace matrices holding NaN/inf by zeros; return them and the bad-matrix mask.

    LAPACK's behaviour on non-finite input is unspecified (garbage, an error code, or an
    endless QR sweep), so the decomposition only ever sees finite matrices and the
    callers put NaN into every output of a bad matrix afterwards.
    """
    bad = ~jnp.all(jnp.isfinite(a), axis=(-2, -1))
    return jnp.where(bad[..., None, None], jnp.zeros_like(a), a), bad


def nan_where(bad, x, extra_dims: int):
    """``x`` with NaN in the batch entries flagged by ``bad`` (``extra_dims`` core dims)."""
    mask = bad.reshape(bad.shape + (1,) * extra_dims)
    return jnp.where(mask, jnp.asarray(jnp.nan, dtype=x.dtype), x)
