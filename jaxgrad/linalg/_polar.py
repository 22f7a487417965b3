"""Polar decomposition ``A = U P`` through matrix functions of ``AᴴA``."""

from __future__ import annotations

from typing import NamedTuple

from jaxtyping import Array, ArrayLike, Inexact

from ._checks import as_inexact_matrix, nan_where, split_nonfinite
from ._funm import _funm, _mH
from ._matfuncs import _inv_sqrt, _sqrt


class PolarResult(NamedTuple):
    U: Inexact[Array, "*batch m n"]
    P: Inexact[Array, "*batch n n"]


# P = (AᴴA)^(1/2) and U = A (AᴴA)^(-1/2) (Higham 2008, Thm 8.1). Both are matrix functions
# of the Hermitian AᴴA, so their derivatives are the Daleckii–Krein rules of `_funm`,
# exact where singular values of A are repeated (AᴴA = I for orthogonal A is a full tie).
# Forming AᴴA squares the condition number: relative accuracy is about eps·κ(A)².
def polar(a: ArrayLike) -> PolarResult:
    """Polar decomposition `A = U P` of a full-column-rank matrix, tie-exact derivatives.

    `U` has orthonormal columns and `P` is Hermitian positive definite. Both are
    computed as matrix functions of `AᴴA` (`P = (AᴴA)^(1/2)`, `U = A (AᴴA)^(-1/2)`), so
    first and second derivatives are exact where singular values are repeated, e.g. at
    orthogonal `A`. Accuracy is about `eps·κ(A)²`; use it for well-conditioned `A`.

    Arguments:
        a: matrices of shape `(*batch, m, n)` with `m >= n` and full column rank.

    Returns:
        `PolarResult(U, P)` with shapes `(*batch, m, n)` and `(*batch, n, n)`. Rank
        deficient matrices (a zero singular value) give NaN in `U`; matrices with NaN or
        inf entries give NaN in both.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or more columns than rows.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad.linalg import polar
        >>> u, p = polar(jnp.array([[0.0, 2.0], [3.0, 0.0]]))
        >>> u
        Array([[0., 1.],
               [1., 0.]], dtype=float32)
        >>> p
        Array([[3., 0.],
               [0., 2.]], dtype=float32)
    """
    fn = "jaxgrad.linalg.polar"
    a = as_inexact_matrix(a, fn, square=False)
    if a.shape[-2] < a.shape[-1]:
        raise ValueError(
            f"{fn}: argument `a` must have at least as many rows as columns (*batch, m, n), "
            f"m >= n; got shape {a.shape}."
        )
    a, bad = split_nonfinite(a)
    gram = _mH(a) @ a
    gram = (gram + _mH(gram)) / 2
    u = a @ _funm(_inv_sqrt, gram, ())
    p = _funm(_sqrt, gram, ())
    return PolarResult(nan_where(bad, u, 2), nan_where(bad, p, 2))
