"""Tie detection and masked reciprocals shared by the spectral rules.

Two eigenvalues (or singular values) closer than ``tie_rtol * max|λ|`` are treated as
tied. The default ``tie_rtol = sqrt(eps)`` balances two errors: below that gap the
computed eigenvectors of the pair are themselves only accurate to ``eps / gap >
sqrt(eps)`` (Davis–Kahan), so derivatives of individual vectors inside the pair carry
no reliable digits, while above it the rounding noise that ``1/gap`` amplifies in
cluster-invariant losses stays below ``sqrt(eps)`` relative.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._options import as_real
from .._where import where


def default_tie_rtol(dtype) -> float:
    """``sqrt(eps)`` of the real dtype underlying ``dtype``."""
    real = jnp.finfo(dtype).dtype
    return float(np.sqrt(np.finfo(real).eps))


def check_tie_rtol(tie_rtol) -> float | None:
    """``None`` or a finite float >= 0 (the static option of the compiled cores)."""
    if tie_rtol is None:
        return None
    number = as_real(tie_rtol)  # a Python number or a concrete 0-d real array
    if number is None:  # (float() took a string, and gave JAX's error for a traced value)
        raise TypeError(f"tie_rtol must be a real number (or a 0-d real array; a static option), got {tie_rtol!r}.")
    tie_rtol = number
    if not np.isfinite(tie_rtol) or tie_rtol < 0:
        raise ValueError(f"tie_rtol must be a finite number >= 0, got {tie_rtol!r}.")
    return tie_rtol


def resolve_tie_rtol(tie_rtol, dtype) -> float:
    tie_rtol = check_tie_rtol(tie_rtol)
    return default_tie_rtol(dtype) if tie_rtol is None else tie_rtol


def tie_tolerance(values, tie_rtol: float):
    """Absolute tie tolerance per matrix: ``tie_rtol * max|values|``, shape ``(*batch, 1, 1)``."""
    scale = jnp.max(jnp.abs(values), axis=-1, keepdims=True, initial=0.0)
    return (tie_rtol * scale)[..., None]


def rank_tolerance(s, shape):
    """``max(m, n)·eps·s₁`` for singular values ``s`` (descending) of ``(…, m, n)``
    matrices, shape ``(*batch, 1)``: numpy's ``matrix_rank`` threshold, below which a
    singular value is numerically zero."""
    eps = float(np.finfo(jnp.finfo(s.dtype).dtype).eps)
    return max(shape[-2:]) * eps * s[..., :1]


def masked_reciprocal(denominator, keep):
    """``1/denominator`` where ``keep``, else ``0`` -- with no NaN/inf in any derivative.

    The inner ``where`` keeps the discarded branch finite so that reverse mode does not
    produce ``0 * inf`` (the classic double-``where`` trick).
    """
    safe = where(keep, denominator, jnp.ones_like(denominator))
    return where(keep, 1 / safe, jnp.zeros_like(safe))


def gap_reciprocals(values, tie_rtol: float):
    """``F[..., i, j] = 1 / (values[j] - values[i])`` off ties, ``0`` on ties and the diagonal.

    Also returns the boolean tie mask (``True`` where ``|values[j] - values[i]| <= tol``,
    the diagonal included).
    """
    diff = values[..., None, :] - values[..., :, None]
    tied = jnp.abs(diff) <= tie_tolerance(values, tie_rtol)
    return masked_reciprocal(diff, ~tied), tied


def gauge_rtol(dtype, n: int) -> float:
    """Relative size above which a cotangent's gauge component is not rounding noise.

    ``skew(Vᴴ V̄)`` of a gauge-invariant loss is rounding noise of order ``n * eps``
    times the cotangent; ``1e3 * n * eps`` leaves room for cancellation in the loss,
    capped at ``sqrt(eps)``.
    """
    eps = float(np.finfo(jnp.finfo(dtype).dtype).eps)
    return min(1e3 * n * eps, float(np.sqrt(eps)))
