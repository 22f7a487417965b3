"""`jaxgrad._loop.while_loop` (the status-stopped loops of quad, cubature and minimize)
computes what `lax.while_loop` computes: zero trips, lanes of different trip counts
under `vmap`, and forward-mode derivatives of the carried state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxgrad._loop import while_loop


def _newton_sqrt(loop, a):
    # Newton's iteration for √a, stopped by a status computed from the whole state.
    def cond(s):
        return s[2] == 0

    def body(s):
        x, k, _ = s
        x = 0.5 * (x + a / x)
        done = (jnp.abs(x * x - a) <= 1e-12 * a) | (k >= 50)
        return x, k + 1, done.astype(jnp.int32)

    return loop(cond, body, (jnp.maximum(a, 1.0), jnp.int32(0), (a == 1.0).astype(jnp.int32)))


@jax.jit
def _both(a):
    return _newton_sqrt(while_loop, a), _newton_sqrt(lax.while_loop, a)


def test_same_as_lax_while_loop_batched_and_zero_trip():
    a = jnp.array([1.0, 2.0, 1e-6, 1e6])  # a = 1 runs no trip; the others 1 to ~20
    mine, ref = jax.vmap(_both)(a)
    for m, r in zip(mine, ref):
        np.testing.assert_array_equal(m, r)
    np.testing.assert_allclose(mine[0], np.sqrt(a), rtol=1e-12)
    assert int(mine[1][0]) == 0 and np.all(mine[1][1:] > 0)


def test_forward_mode_matches_lax_while_loop():
    f = lambda loop: (lambda a: _newton_sqrt(loop, a)[0])  # noqa: E731
    mine = jax.jit(jax.jvp, static_argnums=0)(f(while_loop), (2.0,), (1.0,))
    ref = jax.jit(jax.jvp, static_argnums=0)(f(lax.while_loop), (2.0,), (1.0,))
    np.testing.assert_array_equal(mine, ref)
    np.testing.assert_allclose(mine[1], 0.5 / np.sqrt(2.0), rtol=1e-12)  # d√a/da
