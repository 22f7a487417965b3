"""Input checks and the non-finite guard shared by the public wrappers.

Every public function is a thin Python wrapper around one `jax.jit`-compiled core (as in
`jax.numpy.linalg`), so that a repeated eager call runs one cached executable. The
wrappers only do what is cheap in Python (`host_array`, option checks); the checks on
shapes and dtypes run in the core while it is traced, and still raise there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._nan import replace_invalid
from .._where import where


def host_array(x):
    """Lists and tuples as NumPy arrays (`jax.jit` takes arrays, not lists); other values
    unchanged. A list holding tracers goes through `jnp.asarray` instead."""
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x)
        except TypeError:  # jax.errors.TracerArrayConversionError
            return jnp.asarray(x)
    return x


def _check_shape(shape, fn: str, square: bool, name: str):
    if len(shape) < 2:
        raise ValueError(
            f"{fn}: argument `{name}` must have at least 2 dimensions (*batch, m, n); "
            f"got shape {shape}."
        )
    if square and shape[-1] != shape[-2]:
        raise ValueError(
            f"{fn}: argument `{name}` must be square in its last two dimensions; "
            f"got shape {shape}."
        )


def _inexact(dtype):
    if jnp.issubdtype(dtype, jnp.inexact):
        return dtype
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def as_inexact_matrix(a, fn: str, *, square: bool = True, name: str = "a"):
    """Convert to an inexact array, promoting integers like ``jax.numpy`` does.

    Raises ``ValueError`` (at trace time) for rank < 2 or, when ``square``, a
    non-square trailing pair of dimensions.
    """
    a = jnp.asarray(a)
    _check_shape(a.shape, fn, square, name)
    check_precision(a.dtype, fn, name)
    if not jnp.issubdtype(a.dtype, jnp.inexact):
        a = a.astype(_inexact(a.dtype))
    return a


def check_precision(dtype, fn: str, name: str):
    """Half precision has no LAPACK routines: say so here, rather than let the
    decomposition fail deep inside JAX (`NotImplementedError: Unsupported dtype`)."""
    if jnp.dtype(dtype) in (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16)):
        raise TypeError(
            f"{fn}: `{name}` has dtype {jnp.dtype(dtype).name}, which the decompositions do not support "
            "(LAPACK has single and double precision only); cast it to float32."
        )


def real_scalar(x, dtype, fn: str, name: str):
    """``x`` as a scalar of the real dtype ``dtype``. Raises ``ValueError`` (at trace
    time) for an array and ``TypeError`` for a complex value, which a cast would
    silently cut to its real part."""
    if jnp.ndim(x) != 0:
        raise ValueError(f"{fn}: `{name}` must be a scalar; got shape {jnp.shape(x)} (use jax.vmap).")
    if jnp.iscomplexobj(x):
        raise TypeError(f"{fn}: `{name}` must be real; got {jnp.result_type(x)}.")
    return jnp.asarray(x, dtype)


def matrix_dtype(a, fn: str, *, square: bool = True, name: str = "a"):
    """The dtype `as_inexact_matrix` gives ``a``, with its errors, without an array op.

    For wrappers that need the dtype in Python (to trace a user's scalar function at it)
    before calling their compiled core.
    """
    _check_shape(np.shape(a), fn, square, name)
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        dtype = np.result_type(a)
    check_precision(dtype, fn, name)
    return _inexact(jax.dtypes.canonicalize_dtype(dtype))


def split_nonfinite(a):
    """Replace matrices holding NaN/inf by zeros; return them and the bad-matrix mask.

    LAPACK's behaviour on non-finite input is unspecified (garbage, an error code, or an
    endless QR sweep), so the decomposition only ever sees finite matrices and the
    callers put NaN into every output of a bad matrix afterwards (`nan_where`). The
    zeroed matrices carry NaN tangents (`jaxgrad._nan.replace_invalid`), so derivatives
    at a non-finite input are NaN in forward and reverse mode, never a silent zero.
    """
    bad = ~jnp.all(jnp.isfinite(a), axis=(-2, -1))
    return replace_invalid(a, bad[..., None, None], 0.0), bad


def nan_where(bad, x, extra_dims: int):
    """``x`` with NaN in the batch entries flagged by ``bad`` (``extra_dims`` core dims),
    in the value and in every derivative (`jaxgrad._nan.replace_invalid`)."""
    return replace_invalid(x, bad.reshape(bad.shape + (1,) * extra_dims), float("nan"))


# Performance note (XLA:CPU, jax 0.10): the batched LAPACK kernels spread the batch over
# the intra-op thread pool, and any extra fusion scheduled *before* the LAPACK custom call
# (such as a per-matrix isfinite reduction) makes that split markedly less parallel: at
# 512x16x16 float32 on 2 cores `split_nonfinite` cost ~25-30 % of an eigh, while the same
# reduction scheduled *after* the custom call costs much less. The helpers below keep the
# decomposition's input to a single elementwise fusion (symmetrize + zero the non-finite
# entries) and compute the per-matrix flag after the decomposition.


def zero_nonfinite(a):
    """``a`` with its NaN/inf entries replaced by 0 (elementwise, so it fuses with the
    producer of ``a``, e.g. the symmetrization). Finite entries keep their derivatives;
    the replaced ones get NaN derivatives (`jaxgrad._nan.replace_invalid`)."""
    return replace_invalid(a, ~jnp.isfinite(a), 0.0)


def after(x, out, extra_dims: int):
    """``x`` (``(*batch, m, n)``) with an exact-zero data dependency on ``out``
    (``(*batch, *core)`` with ``extra_dims`` core dims), so that reductions of the result
    are scheduled after ``out`` is computed. Values and gradients of ``x`` are unchanged."""
    if out.size == 0 or x.size == 0:  # empty matrices: nothing to schedule
        return x
    z = lax.stop_gradient(out)
    z = z[(Ellipsis,) + (slice(0, 1),) * extra_dims]
    z = z.reshape(z.shape[: z.ndim - extra_dims] + (1, 1))
    z = jnp.real(z) * 0
    z = where(jnp.isnan(z), jnp.zeros_like(z), z)  # 0 even where `out` is NaN/inf
    return x + z.astype(jnp.finfo(x.dtype).dtype)


def nonfinite_after(a, out, extra_dims: int):
    """Mask of the matrices of ``a`` holding NaN/inf, computed after ``out`` (see `after`)."""
    return ~jnp.all(jnp.isfinite(after(a, out, extra_dims)), axis=(-2, -1))


def hermitian_part(a):
    """(a + aᴴ)/2, and a/2 + aᴴ/2 where the sum overflows: finite for a finite `a` with
    entries above half the largest float (diag(1e308, 4): the sum overflowed and sqrtm,
    logm, eigh_generalized, ... returned NaN; outside probe). Only there: halving first
    would flush entries below twice the smallest normal float to zero on the CPU
    (diag(3e-308, 1): logm NaN; outside review)."""
    ah = jnp.conj(jnp.swapaxes(a, -1, -2))
    total = a + ah
    return where(jnp.isfinite(total) | ~jnp.isfinite(a) | ~jnp.isfinite(ah), total / 2, a / 2 + ah / 2)
