"""`computed_once` returns its inputs bit for bit, and XLA keeps the one copy it asks for."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgrad._computed_once import computed_once



@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_values_shapes_and_dtypes_are_the_inputs(dtype):
    rng = np.random.default_rng(0)
    fi = np.finfo(dtype)
    specials = [0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, fi.smallest_subnormal, fi.max]
    a = rng.standard_normal((4, 3)).astype(dtype)
    a[:3, :] = np.asarray(specials, dtype).reshape(3, 3)
    b = rng.standard_normal((4, 2, 5)).astype(dtype)
    c = rng.standard_normal(4).astype(dtype)
    flags = np.array([True, False, True, True])
    block = rng.random((4, 3)) < 0.5

    def run(*xs):  # jitted with inputs that XLA cannot fold: the gather is compiled
        return computed_once(*(x * 1 if x.dtype != bool else x & True for x in xs))

    out = jax.jit(run)(a, b, c, flags, block)
    for got, want in zip(out, (a, b, c, flags, block)):
        assert got.shape == want.shape and got.dtype == want.dtype
        # Bit for bit (NaN, signed zeros, a subnormal and the largest float included).
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def test_other_dtypes_are_refused():
    with pytest.raises(TypeError, match="one real floating dtype"):
        computed_once(jnp.ones((2, 2)), jnp.ones((2, 2), jnp.complex64))
    with pytest.raises(TypeError, match="one real floating dtype"):
        computed_once(jnp.ones((2, 2), jnp.float32), jnp.arange(4).reshape(2, 2))


def test_under_vmap_and_a_single_column():
    x = jnp.arange(24.0).reshape(2, 4, 3)
    (y,) = jax.vmap(computed_once)(x)
    np.testing.assert_array_equal(y, x)
    # Width one: returned as it is.
    z = jnp.ones((5,))
    assert computed_once(z)[0] is z


def test_the_compiled_program_keeps_one_gather():
    # The point of the function: the packed arrays are computed once and read through a
    # gather, which XLA's CPU fusion does not copy into its consumers. If a later XLA
    # removed the identity gather the values would stay right and the compile-time saving
    # would be gone; this says so.
    def f(x):
        y = jnp.sin(x) * 2 + 1
        (y,) = computed_once(y)
        return y * 3, y + 4

    hlo = jax.jit(f).lower(jnp.ones((3, 4))).compile().as_text()
    assert " gather(" in hlo
