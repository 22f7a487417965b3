"""`jaxgrad._reduce`: reductions over a long axis, the same as `jnp`'s, as one kernel each."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad._reduce import long_all, long_any, long_max, long_min, long_sum

_SIZES = (1, 31, 32, 33, 202, 1024, 1025, 5000)


@jax.jit
def _all_reductions(xs, ints, flags):
    out = []
    for x, i, b in zip(xs, ints, flags):
        out.append((long_sum(x), long_max(x), long_min(x), long_max(i), long_min(i), long_sum(i),
                    long_any(b), long_all(b), long_sum(x.T, axis=1)))
    return out


def test_the_reductions_are_jnp_s():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n, 3)) for n in _SIZES]
    xs[4][17, 1] = np.nan  # NaN propagates through max and min, as in jnp
    ints = [rng.integers(-1000, 1000, n).astype(np.int32) for n in _SIZES]
    flags = [rng.random(n) < 0.5 / n for n in _SIZES]
    for x, i, b, got in zip(xs, ints, flags, _all_reductions(xs, ints, flags)):
        s, mx, mn, imx, imn, isum, anyb, allb, s_t = (np.asarray(g) for g in got)
        np.testing.assert_allclose(s, x.sum(axis=0), rtol=1e-13)
        np.testing.assert_allclose(s_t, x.sum(axis=0), rtol=1e-13)
        np.testing.assert_array_equal(mx, x.max(axis=0))
        np.testing.assert_array_equal(mn, x.min(axis=0))
        assert imx == i.max() and imn == i.min() and isum == i.sum()
        assert bool(anyb) == b.any() and bool(allb) == b.all()


def test_a_long_reduction_is_not_rewritten_into_a_window():
    # The point of the module: XLA's CPU pipeline turns jnp.sum over 202 entries into a
    # reduce-window and a reduce; long_sum stays one reduction, fused with its operand.
    x = jnp.linspace(0.0, 1.0, 202)
    plain = jax.jit(lambda x: jnp.sum(jnp.where(x > 0.3, x * x, 0.0))).lower(x).compile().as_text()
    ours = jax.jit(lambda x: long_sum(jnp.where(x > 0.3, x * x, 0.0))).lower(x).compile().as_text()
    assert "reduce-window(" in plain  # (if a later XLA stops rewriting, this test says so)
    assert "reduce-window(" not in ours
    entry = ours.split("ENTRY")[1]
    assert len(re.findall(r" fusion\(", entry)) == 1
