"""Status codes of the adaptive integrators (`quad`, `quadosc`, `cubature`, `dblquad`,
`tplquad`, `nquad`) and the information object they return."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


class STATUS(eqx.Enumeration):
    """Why an adaptive integrator stopped. Compare with `==`, e.g.
    `info.status == STATUS.converged`."""

    converged = "the error estimate met the requested tolerance."
    max_subdivisions = (
        "the subdivision limit (`limit`: subintervals for quad, boxes for cubature) was "
        "reached before the error estimate met the tolerance. Increase `limit`, split the "
        "range at known kinks, jumps or singularities (`points=` for quad), or loosen "
        "`epsabs`/`epsrel`."
    )
    roundoff = (
        "roundoff error prevents the requested tolerance (it is below what the "
        "integrand's values allow in this precision). Loosen `epsabs`/`epsrel`."
    )
    divergent = (
        "the integral looks divergent or too slowly convergent: the integrand is "
        "not negligible at the ends of the (truncated) integration range, or the sums "
        "grow level after level as a singular point is bisected."
    )
    nonfinite = "the integrand returned NaN or inf at a quadrature node, or a sum of its values overflowed."
    nan_limits = (
        "a limit, breakpoint or `wvar` is NaN, or outside what the weight allows (finite "
        "limits, a ≠ b and α, β > -1 for the algebraic weights, c ≠ a, b for a principal "
        "value; for quadosc a finite start and a positive period), so the integral is "
        "undefined (the value is NaN)."
    )


# Integer codes used inside the loop (the enumeration's order), plus "still running".
RUNNING = -1
CONVERGED, MAX_SUBDIVISIONS, ROUNDOFF, DIVERGENT, NONFINITE, NAN_LIMITS = range(6)


def status_from_code(code: Int[Array, "*batch"]) -> STATUS:
    """The `STATUS` item for an integer code from the loop."""
    items = [STATUS.converged, STATUS.max_subdivisions, STATUS.roundoff, STATUS.divergent, STATUS.nonfinite]
    out = STATUS.nan_limits
    for i in reversed(range(len(items))):
        out = STATUS.where(code == i, items[i], out)
    return out


class QuadInfo(eqx.Module):
    """Diagnostics returned by `quad` (and the other adaptive integrators) next to the value.

    Attributes:
        err: estimated absolute error, same shape as the value (one estimate per
            component of an array-valued integrand).
        neval: number of integrand evaluations (nodes at which `f` was evaluated).
        status: a `STATUS` item; `info.status == STATUS.converged` is a boolean array.
    """

    err: Float[Array, "*shape"]
    neval: Int[Array, ""]
    status: STATUS

    @property
    def converged(self):
        """`True` where the status is `STATUS.converged`."""
        return jnp.asarray(self.status == STATUS.converged)
