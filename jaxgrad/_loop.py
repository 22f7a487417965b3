"""`while_loop`: `lax.while_loop` with its continuation test carried in the state.

For loops whose condition reads one scalar of the state that the whole body computes
(a status code: `quad`'s and `cubature`'s adaptive loops, `minimize`'s solver loop).
Results are those of `lax.while_loop`; only the compile time changes.

Why. XLA's while-loop passes (loop-invariant code motion and the loop simplifier, each
run several times per program) ask of every loop whether it has a trip count. When the
condition reads one scalar element of the state, the XLA in jaxlib 0.10 copies the
body's whole computation of that element into a module of its own
(`ComputeWhileLoopTripCount` -> `ExtractModule`) to see whether it is a counter. A status
depends on everything a pass does, so each copy is most of the body. Measured with
`perf` on `quad`'s loop (test flags): 11% of its compile time, spent looking for a trip
count that cannot exist. Here the test is carried as an int32 array of shape (1,) and
the condition compares it with zero: a condition on a non-scalar element, which the
analysis gives up on at once. `quad`'s value, gradient and vmap programs, `cubature`'s
and `minimize`'s then compile with ~17% less CPU time under the test suite's flags
(bench/RESULTS.md, "suite"). At run time the test costs what it did: it is computed
at the end of each pass instead of before the next.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax


def while_loop(cond_fun, body_fun, init_val):
    """`lax.while_loop(cond_fun, body_fun, init_val)`, computed the same way.

    Example:
        >>> from jaxgrad._loop import while_loop
        >>> int(while_loop(lambda i: i * i < 50, lambda i: i + 1, 0))
        8
    """

    def test(state):
        return jnp.reshape(jnp.asarray(cond_fun(state), jnp.int32), (1,))

    def body(carry):
        state = body_fun(carry[0])
        return state, test(state)

    # `> 0`, not the element itself: XLA would match a condition that only reads an
    # element (reshaped) as a counter candidate and copy the body's computation of it.
    state, _ = lax.while_loop(lambda carry: carry[1][0] > 0, body, (init_val, test(init_val)))
    return state
