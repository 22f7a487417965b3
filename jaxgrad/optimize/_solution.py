"""The result object of `jaxgrad.optimize.minimize`."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Float, Int, PyTree

from ._status import Status


class Solution(eqx.Module):
    """What `minimize` found, and how.

    Attributes:
        x: the minimiser, a pytree like `x0`. Differentiable with respect to `args`
            through the optimality condition (implicit function theorem), not through
            the iterations.
        value: `fun(x, *args)`. Its derivative with respect to `args` is the partial
            derivative at fixed `x` (envelope theorem), as it should be at a minimum.
        grad_norm: 2-norm of the gradient at `x` (all leaves flattened together).
        num_steps: number of optimizer updates taken.
        status: a [`Status`][jaxgrad.optimize.Status] item: `converged`, `max_steps`,
            `nonfinite`, `linesearch_failed` or `stalled`.
        aux: the auxiliary output of `fun` at `x` when `has_aux=True`, else `None`.
        ridge: the Tikhonov parameter used by the adjoint (the linear solve of the
            implicit derivative). `0.0` means the exact implicit derivative,
            `x* = −H⁻¹ ∂θ∇ₓf`; a positive value means the derivative was regularised
            (see [`minimize`][jaxgrad.optimize.minimize]). Static, so it is reported even
            under `jit` and `vmap`.
    """

    x: PyTree[Array]
    value: Float[Array, ""]
    grad_norm: Float[Array, ""]
    num_steps: Int[Array, ""]
    status: Status
    aux: Any = None
    ridge: float = eqx.field(static=True, default=0.0)

    @property
    def adjoint_regularised(self) -> bool:
        """`True` when derivatives of `x` use a Tikhonov-regularised adjoint (`ridge > 0`)."""
        return self.ridge > 0
