"""jaxgrad.check_grad and finite_difference_grad: pass on right derivatives, fail on wrong ones."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgrad._check_grad import check_grad, finite_difference_grad


def smooth(x, y):
    return jnp.sin(x) * y + jnp.exp(0.3 * x) * y**2


@jax.custom_jvp
def sin_wrong_by_1e3(x):
    return jnp.sin(x)


@sin_wrong_by_1e3.defjvp
def _sin_wrong_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return jnp.sin(x), 1.001 * jnp.cos(x) * dx  # deliberately 0.1 % off


@jax.custom_jvp
def mul_wrong_in_y(x, y):
    return x * y


@mul_wrong_in_y.defjvp
def _mul_wrong_jvp(primals, tangents):
    (x, y), (dx, dy) = primals, tangents
    return x * y, y * dx + 2 * x * dy  # right in x, wrong in y


@jax.custom_jvp
def cube_wrong_second(x):
    return jnp.sum(x**3)


@cube_wrong_second.defjvp
def _cube_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    # Right first derivative, but built from a constant: the Hessian is lost (zero).
    return jnp.sum(x**3), jnp.sum(jax.lax.stop_gradient(3 * x**2) * dx)


X = jnp.array([0.3, -1.2, 2.0])


def test_finite_difference_grad_closed_form():
    g = finite_difference_grad(lambda x: jnp.sum(jnp.sin(x) * jnp.exp(x)), X)
    np.testing.assert_allclose(g, np.exp(X) * (np.sin(X) + np.cos(X)), rtol=1e-10)
    tree = {"a": jnp.array([0.5, 1.5]), "b": jnp.array(2.0)}
    g = finite_difference_grad(lambda t, c: c * jnp.sum(t["a"] ** 2) * t["b"], tree, 3.0)
    np.testing.assert_allclose(g["a"], 3 * 2 * np.array([0.5, 1.5]) * 2.0, rtol=1e-10)
    np.testing.assert_allclose(g["b"], 3 * 2.5, rtol=1e-10)
    g32 = finite_difference_grad(lambda x: jnp.sum(jnp.sin(x)), X.astype(jnp.float32))
    assert g32.dtype == jnp.float32
    np.testing.assert_allclose(g32, np.cos(np.asarray(X)), rtol=1e-3)


def test_finite_difference_grad_mixed_sizes():
    # The step follows each coordinate's size: one step from rms(x) gave 4e-7 for
    # cos 1 next to a coordinate of 1e8, and NaN for a log at 1e-6 next to 1e6.
    x = jnp.array([1e3, 1.0, 2e-3])
    g = finite_difference_grad(lambda x: jnp.sin(x[1]) + jnp.log(x[0]) + jnp.log(x[2]), x)
    np.testing.assert_allclose(g, [1e-3, np.cos(1.0), 500.0], rtol=1e-10)
    x = jnp.array([1e6, 1e-6])
    g = finite_difference_grad(lambda x: jnp.sum(jnp.log(x)), x)
    np.testing.assert_allclose(g, [1e-6, 1e6], rtol=1e-10)
    # ... and for a small coordinate of a function that varies on a unit scale a
    # second ladder of longer steps is used (steps from |xᵢ| alone were 8e-3 off).
    x = jnp.array([1.0, 1e-10, -2e-9])
    g = finite_difference_grad(lambda x: jnp.sum(jnp.exp(x)), x)
    np.testing.assert_allclose(g, np.exp(np.asarray(x)), rtol=1e-10)
    assert check_grad(lambda x: jnp.exp(x) * jnp.sum(x), x).passed
    # ... and for a large one, a shorter ladder on the unit scale: sin x at 1e8 and 1e12
    # was checked with steps of 3e5 and more, which sin aliases (two extrapolants
    # agreed by chance), and a right derivative failed (outside probe).
    x = jnp.array([1e8, 1.0, 1e12])
    g = finite_difference_grad(lambda x: jnp.sum(jnp.sin(x)), x)
    np.testing.assert_allclose(g, np.cos(np.asarray(x)), rtol=1e-9)
    assert check_grad(lambda x: jnp.sum(jnp.sin(x)), x).passed
    # Coordinates beyond 1.3e154 overflowed x² in the step's size: the steps were 1e-3,
    # every quotient exactly 0, and the gradient [0, 0] (NaN before the per-coordinate
    # steps).
    x = jnp.array([1e200, 2e200])
    np.testing.assert_allclose(finite_difference_grad(lambda x: jnp.sum(jnp.log(x)), x), [1e-200, 5e-201], rtol=1e-10)
    # And below: (1e-300/1e-12)² underflowed, the coordinate at 1e-300 got a step of
    # 2e-15 across 0, and sqrt's correct derivative failed with a NaN reference (outside
    # probe).
    # (The reference is right, 6e-14, but its error estimate, whose rounding floor takes
    # sqrt(1e-12) over steps of 1e-301 along the other coordinate, is 3e281: not a
    # failure, and not a pass either.)
    report = check_grad(jnp.sqrt, jnp.array([1e-12, 1e-300]))
    assert report.inconclusive and max(e.max_rel_err for e in report.entries) < 1e-12
    assert check_grad(jnp.sqrt, jnp.array([1.0, 1e-300])).inconclusive  # (as below)


def test_kink_within_every_step_is_reported_unreliable():
    # |x₀| at x₀ = 1e-12 beside a coordinate of 1: steps that cross the kink give
    # quotients ~x/h, in small absolute disagreement; steps that do not are rounding
    # noise. No pair is trustworthy, and the entry says so (it said reliable, with the
    # correct derivative failing at 100 %).
    report = check_grad(lambda x: jnp.abs(x[0]) + x[1], jnp.array([1e-12, 1.0]), modes="fwd")
    assert not report.entries[0].reliable
    # A rule 100 % wrong there (slope 0) agreed with that reference (~0, its error
    # estimate 1.4) and the report said PASS (outside probe): now INCONCLUSIVE.
    @jax.custom_jvp
    def flat_abs(x):
        return jnp.abs(x)

    flat_abs.defjvp(lambda p, t: (jnp.abs(p[0]), 0.0 * t[0]))
    report = check_grad(lambda x: flat_abs(x[0]) + x[1], jnp.array([1e-12, 1.0]), modes="fwd")
    assert report.inconclusive and not report.passed and "INCONCLUSIVE" in str(report)
    # A gradient of ~0 at a stationary point, checked with an atol against a good
    # reference, passes (it was made INCONCLUSIVE by the first version of this rule; review).
    assert check_grad(lambda x: jnp.sum(jnp.exp(x) - x) + x[0] ** 3, jnp.zeros(3), atol=1e-6).passed
    # f = (x, 1e20 + x): the second component does not move on the ladder; a rule that
    # says its derivative is 0 must not pass (a per-component rounding floor let it; review).
    @jax.custom_jvp
    def shifted(x):
        return jnp.stack([x[0], 1e20 + x[0]])

    shifted.defjvp(lambda p, t: (shifted(p[0]), jnp.stack([t[0][0], 0.0 * t[0][0]])))
    assert not check_grad(shifted, jnp.array([1.0])).passed


def test_passes_on_correct_derivatives_float64():
    report = check_grad(smooth, X, jnp.array(0.7))
    assert report.passed
    assert [(e.argnum, e.mode) for e in report.entries] == [(0, "fwd"), (0, "rev"), (1, "fwd"), (1, "rev")]
    assert report.max_rel_err < 1e-9
    assert all(e.reliable and e.rtol == 1e-6 for e in report.entries)
    assert "PASS" in str(report)


def test_fails_on_wrong_custom_jvp_and_names_the_argument():
    report = check_grad(lambda x: sin_wrong_by_1e3(x), X)
    assert not report.passed
    assert all(not e.passed for e in report.entries)
    np.testing.assert_allclose(report.max_rel_err, 1e-3, rtol=0.05)
    assert "FAIL" in str(report)
    per_arg = check_grad(mul_wrong_in_y, X, jnp.array(1.5))
    verdict = {(e.argnum, e.mode): e.passed for e in per_arg.entries}
    assert verdict == {(0, "fwd"): True, (0, "rev"): True, (1, "fwd"): False, (1, "rev"): False}


def test_float32_usable():
    x32 = X.astype(jnp.float32)
    report = check_grad(smooth, x32, jnp.float32(0.7))
    assert report.passed and all(e.rtol == 3e-3 for e in report.entries)
    # A 5 % error is far outside float32 noise and must be caught.
    @jax.custom_jvp
    def off(x):
        return jnp.tanh(x)

    off.defjvp(lambda p, t: (jnp.tanh(p[0]), 1.05 * (1 - jnp.tanh(p[0]) ** 2) * t[0]))
    assert not check_grad(off, x32).passed
    # Mixed precision (outside probe): a float32 output of a float64 argument, beside a
    # float64 one, or a float32 leaf beside a float64 leaf. Reverse mode built float64
    # cotangents for the float32 output (JAX's dtype error), and the checks were held to
    # float64's 1e-6 against a float32-rounded reference (false FAIL): the tolerance,
    # steps and rounding floor are now those of the least precise dtype.
    mixed = lambda x: (jnp.sin(x), jnp.cos(x).astype(jnp.float32))  # noqa: E731
    report = check_grad(mixed, X)
    assert report.passed and all(e.rtol == 3e-3 for e in report.entries) and len(report.entries) == 2
    leaves = lambda t: jnp.sum(jnp.sin(t["a"])) + jnp.sum(t["b"] ** 2)  # noqa: E731
    assert check_grad(leaves, {"a": x32, "b": X}).passed
    assert not check_grad(lambda x: off(x).astype(jnp.float32), X).passed
    # bfloat16 (outside note): the default 3e-3 was below its eps (7.8e-3), and a
    # correct rule failed at 5.6e-3; now 4·eps. A 10 % error is still caught there.
    xb = jnp.array([0.3, 1.1, -0.7], jnp.bfloat16)
    report = check_grad(lambda x: jnp.sum(jnp.sin(x) * x), xb)
    assert report.passed and all(e.rtol == 4 * float(jnp.finfo(jnp.bfloat16).eps) for e in report.entries)
    off.defjvp(lambda p, t: (jnp.tanh(p[0]), 1.1 * (1 - jnp.tanh(p[0]) ** 2) * t[0]))
    assert not check_grad(lambda x: jnp.sum(off(x)), xb).passed


def test_order_two_hessian_vector_products():
    f = lambda x: jnp.sum(jnp.exp(x) * x**2) + x[0] * x[1] ** 3  # noqa: E731
    assert check_grad(f, X, order=2).passed
    assert check_grad(cube_wrong_second, X, order=1).passed
    bad = check_grad(cube_wrong_second, X, order=2)
    assert not bad.passed and all(e.order == 2 for e in bad.entries)


def test_random_directions_for_large_inputs():
    x = jnp.linspace(-1.0, 1.0, 50)
    report = check_grad(lambda x: jnp.tanh(x) * jnp.sum(x**2), x, modes="rev", num_directions=4)
    assert report.passed and report.entries[0].num_directions == 4
    assert len(report.entries) == 1


def test_input_errors():
    with pytest.raises(ValueError, match="order"):
        check_grad(smooth, X, 1.0, order=3)
    with pytest.raises(ValueError, match="modes"):
        check_grad(smooth, X, 1.0, modes=("back",))
    with pytest.raises(TypeError, match="argument 0"):
        check_grad(lambda z: jnp.abs(z), jnp.array([1.0 + 1.0j]), argnums=0)
    with pytest.raises(ValueError, match="scalar"):
        check_grad(lambda x: x**2, X, order=2)
    # Integer outputs only: nothing to compare, so no report that "passes".
    with pytest.raises(ValueError, match=r"no floating-point \(real or complex\) outputs"):
        check_grad(lambda x: jnp.sum(x > 0), X)
    # These raised NumPy's "cannot reshape array of size 0" or "negative dimensions"
    # (outside probe).
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="num_directions"):
            check_grad(smooth, X, 1.0, num_directions=bad)
    with pytest.raises(ValueError, match="seed"):
        check_grad(smooth, X, 1.0, seed=-1)
    # A negative or NaN tolerance failed every entry as "reference noisy"; a step <= 0
    # was replaced by 32 ulps (outside probe).
    for name, bad in (("rtol", -1.0), ("rtol", float("nan")), ("atol", -1.0), ("step", 0.0), ("step", float("inf"))):
        with pytest.raises(ValueError, match=name):
            check_grad(smooth, X, 1.0, **{name: bad})
    with pytest.raises(ValueError, match="argument 0 has no entries"):
        check_grad(lambda x, y: jnp.sum(x) + jnp.sin(y), jnp.zeros(0), 0.5, argnums=0)
    # By default an empty argument is left out: y alone is checked (d/dy sin y = cos y).
    report = check_grad(lambda x, y: jnp.sum(x) + jnp.sin(y), jnp.zeros(0), 0.5)
    assert report.passed and {e.argnum for e in report.entries} == {1}


def test_finite_difference_grad_input_errors():
    with pytest.raises(TypeError, match="real scalar; got float64\\[3\\]"):
        finite_difference_grad(lambda x: jnp.sin(x), X)
    with pytest.raises(TypeError, match="real scalar"):
        finite_difference_grad(lambda x: jnp.sum(x > 0), X)
    with pytest.raises(TypeError, match="floating-point"):
        finite_difference_grad(lambda n: jnp.sum(n) * 1.0, jnp.arange(3))
    # sin's derivative at (0.5, 1) came out (1, 0.5) with a negative or zero step.
    for bad in (-1e-3, 0.0, float("nan")):
        with pytest.raises(ValueError, match="step"):
            finite_difference_grad(lambda x: jnp.sum(jnp.sin(x)), X, step=bad)
    # No coordinate: the empty gradient (it raised NumPy's reshape error).
    assert finite_difference_grad(lambda x: jnp.sum(x**2), jnp.zeros(0)).shape == (0,)


@jax.custom_jvp
def _phase_wrong_rule(x):
    return jnp.exp(1j * x)


# d/dx e^(ix) = i·e^(ix); this rule says 5·e^(ix).
_phase_wrong_rule.defjvp(lambda p, t: (jnp.exp(1j * p[0]), 5.0 * jnp.exp(1j * p[0]) * t[0]))


def test_complex_outputs_are_checked():
    # Found by an outside probe: complex output leaves were dropped without a word, so
    # a 5x wrong derivative beside a right real output passed. Now compared as their
    # real and imaginary parts (the complex-only case raised "no outputs").
    x = jnp.array([0.3, 0.7])
    rep = check_grad(lambda x: (jnp.sum(x**2), _phase_wrong_rule(x)), x)
    assert not rep.passed and all(not e.passed for e in rep.entries)
    assert not check_grad(_phase_wrong_rule, x).passed
    assert check_grad(lambda x: (jnp.sum(x**2), jnp.exp(1j * x)), x).passed
    with pytest.raises(ValueError, match="real scalar"):
        check_grad(lambda x: jnp.sum(jnp.exp(1j * x)), x, order=2)


def test_custom_vjp_without_forward_mode_gets_a_hint():
    # The default modes ran jax.jvp through a custom_vjp: JAX's raw TypeError, with no
    # word of modes=("rev",) (outside probe).
    @jax.custom_vjp
    def g(x):
        return jnp.sin(x)

    g.defvjp(lambda x: (jnp.sin(x), x), lambda x, ct: (ct * jnp.cos(x),))
    x = jnp.array([0.7, 1.2])
    with pytest.raises(ValueError, match=r"modes=\('rev',\)"):
        check_grad(lambda x: jnp.sum(g(x)), x)
    assert check_grad(lambda x: jnp.sum(g(x)), x, modes=("rev",)).passed


def test_a_failed_check_inside_f_is_raised_readably():
    # The directions move one entry at a time, so a matrix function of a symmetric point
    # sees a non-Hermitian matrix: the check's message came buried in JAX's runtime error
    # (the callback's traceback, equinox's advice to use filter_jit; outside probe). It
    # is raised alone now, as from the function itself; the symmetrized function passes
    # (d tr sin(A) = tr(cos(A) dA): along the symmetrized directions, by construction).
    import equinox as eqx

    from jaxgrad.linalg import funm

    a = jnp.array([[1.0, 0.2], [0.2, 1.0]])
    f = lambda m: jnp.trace(funm(m, jnp.sin))  # noqa: E731
    with pytest.raises(eqx.EquinoxRuntimeError, match="^jaxgrad.linalg.funm: argument `a` is not Hermitian"):
        check_grad(f, a)
    assert check_grad(lambda m: f((m + m.mT) / 2), a).passed
