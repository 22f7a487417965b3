"""Status codes of `jaxgrad.optimize.minimize`, shared by the solver and its result."""

from __future__ import annotations

import equinox as eqx


class Status(eqx.Enumeration):
    """Why `minimize` stopped. Compare with `==`, e.g. `sol.status == Status.converged`."""

    converged = "converged: the gradient norm or the relative change fell below tolerance"
    max_steps = "the maximum number of steps was reached before convergence"
    nonfinite = "the objective or its gradient became NaN or infinite"
    linesearch_failed = "the line search found no step giving sufficient decrease"
    stalled = (
        "an update left x and the value exactly unchanged while the gradient norm was above tol "
        "(and, after a line search's step, above sqrt(eps) times the largest one met): a learning "
        "rate that reached zero, or steps below the rounding of x far from a minimum"
    )


# Integer codes used inside the compiled loop; they follow the declaration order above,
# which is how `eqx.Enumeration` numbers its items.
RUNNING = -1
CONVERGED = 0
MAX_STEPS = 1
NONFINITE = 2
LINESEARCH_FAILED = 3
STALLED = 4


def status_from_code(code) -> Status:
    """The `Status` item for an integer code (works on traced and batched codes)."""
    out = Status.max_steps
    out = Status.where(code == CONVERGED, Status.converged, out)
    out = Status.where(code == NONFINITE, Status.nonfinite, out)
    out = Status.where(code == LINESEARCH_FAILED, Status.linesearch_failed, out)
    out = Status.where(code == STALLED, Status.stalled, out)
    return out
