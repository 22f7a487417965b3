"""`jaxgrad._where.where`: `jnp.where`'s results, without a nested program per call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgrad._where import where


def _nested_programs(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args).jaxpr
    return sum(e.primitive.name in ("pjit", "jit") for e in jaxpr.eqns)


@pytest.mark.parametrize("x64", [True, False])
def test_same_values_dtypes_and_weak_types_as_jnp_where(x64):
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", x64)
    try:
        c = jnp.array([True, False, True])
        f32 = jnp.array([1.0, 2.0, 3.0], jnp.float32)
        i32 = jnp.array([4, 5, 6], jnp.int32)
        cases = [
            (c, f32, 0.0),  # a Python scalar stays weak: float32 result
            (c, 1.0, 2.0),  # both weak: a weak float
            (c, i32, 0.5),  # int array and a float scalar: promoted
            (c, i32, f32),
            (jnp.array([1, 0, 2]), f32, -f32),  # a non-boolean condition: nonzero is true
            (True, f32, 7),  # a scalar condition, broadcast operands
            (c[:, None], f32[None, :], 0),  # broadcasting to (3, 3)
        ]
        for args in cases:
            mine, theirs = where(*args), jnp.where(*args)
            assert mine.dtype == theirs.dtype
            assert mine.weak_type == theirs.weak_type
            assert mine.shape == theirs.shape
            np.testing.assert_array_equal(mine, theirs)
            traced = jax.jit(where)(*args)
            np.testing.assert_array_equal(traced, theirs)
    finally:
        jax.config.update("jax_enable_x64", previous)


def test_traced_inline():
    # The point of the helper: no nested program per call (jnp.where's is one each).
    args = (jnp.array([True, False]), jnp.ones(2), 0.0)
    assert _nested_programs(jnp.where, *args) == 1
    assert _nested_programs(where, *args) == 0
