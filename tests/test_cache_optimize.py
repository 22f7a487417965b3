"""Repeat calls of `jaxgrad.optimize` reuse the compiled solver loop, and repeat calls
of `jaxgrad.check_grad` / `finite_difference_grad` their compiled programs.

Counted with the `jax.monitoring` counter of `test_cache.py` (one event per jaxpr trace
and per backend compile), not timed. Problems are tiny (two variables): what is
measured is whether anything is traced or compiled again, not the solve.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from test_cache import _second_call_compiles, count_compiles

from jaxgrad import check_grad, finite_difference_grad
from jaxgrad.optimize import minimize, tikhonov

P = jnp.array([1.0, -2.0])
X0 = jnp.zeros(2)


def ridge_quadratic(x, p, lam):  # argmin p / (1 + lam)
    return jnp.sum((x - p) ** 2) + lam * jnp.sum(x**2)


def misfit(x, p):
    return jnp.sum((x - p) ** 2)


def test_minimize_second_call_is_cached():
    n = _second_call_compiles(lambda: minimize(ridge_quadratic, X0, (P, jnp.asarray(3.0))).x)
    assert n == {"compile": 0, "trace": 0}


def test_minimize_python_float_arg_is_traced():
    # A Python float in `args` is a traced input (as under jax.jit), not a static
    # value baked into the loop: a new value reuses the executable and is used.
    n = _second_call_compiles(lambda: minimize(ridge_quadratic, X0, (P, 3.0)).x)
    assert n == {"compile": 0, "trace": 0}
    with count_compiles() as n:
        x = minimize(ridge_quadratic, X0, (P, 1.0)).x.block_until_ready()
    assert n == {"compile": 0, "trace": 0}
    np.testing.assert_allclose(x, P / 2, rtol=1e-12)


def test_minimize_new_array_values_are_cached():
    jax.block_until_ready(minimize(ridge_quadratic, X0, (P, jnp.asarray(3.0))).x)
    p_new, lam_new = jnp.array([4.0, 2.0]), jnp.asarray(1.0)  # made outside the count
    with count_compiles() as n:
        x = minimize(ridge_quadratic, X0, (p_new, lam_new)).x.block_until_ready()
    assert n == {"compile": 0, "trace": 0}
    np.testing.assert_allclose(x, np.array([2.0, 1.0]), rtol=1e-12)


def test_minimize_grad_second_call_is_cached():
    g = jax.grad(lambda lam: minimize(ridge_quadratic, X0, (P, lam)).value)
    assert _second_call_compiles(lambda: g(3.0))["compile"] == 0
    jac = jax.jacrev(lambda p: minimize(ridge_quadratic, X0, (p, 3.0)).x)
    assert _second_call_compiles(lambda: jac(P))["compile"] == 0


_DATA = jnp.array([1.0, 2.0])


def _misfit_to_global(x):
    return jnp.sum((x - _DATA) ** 2)


def test_minimize_reads_new_values_of_what_fun_closes_over():
    # A notebook re-loads its data between two solves (the global rebound), or changes
    # a NumPy array in place: the new values are used, with nothing compiled again.
    # (The objective was a static argument: the second solve returned the first's x.)
    global _DATA
    np.testing.assert_allclose(minimize(_misfit_to_global, X0).x, [1.0, 2.0], rtol=1e-12)
    _DATA = jnp.array([5.0, 6.0])
    with count_compiles() as n:
        x = minimize(_misfit_to_global, X0).x.block_until_ready()
    assert n == {"compile": 0, "trace": 0}
    np.testing.assert_allclose(x, [5.0, 6.0], rtol=1e-12)
    data = np.array([1.0, 2.0])
    f = lambda x: jnp.sum((x - data) ** 2)  # noqa: E731
    np.testing.assert_allclose(minimize(f, X0).x, data, rtol=1e-12)
    data[:] = [-3.0, 7.0]
    np.testing.assert_allclose(minimize(f, X0).x, [-3.0, 7.0], rtol=1e-12)


def test_minimize_differentiates_what_fun_closes_over():
    # argmin ‖x − w‖² + 3‖x‖² = w / 4: the Jacobian in a w that fun closes over is I / 4.
    jac = jax.jacobian(lambda w: minimize(lambda x: ridge_quadratic(x, w, 3.0), X0).x)(P)
    np.testing.assert_allclose(jac, np.eye(2) / 4, rtol=1e-12, atol=1e-15)


def test_tikhonov_recreated_each_call_is_cached():
    # A notebook cell re-run, or a loop, builds the regularised objective again.
    center = jnp.array([0.5, 0.5])
    n = _second_call_compiles(lambda: minimize(tikhonov(misfit, 3.0, center), X0, (P,)).x)
    assert n == {"compile": 0, "trace": 0}


def test_tikhonov_new_weight_and_center_are_read():
    # lam and center are inputs of the compiled loop: new values reuse it and are used
    # (argmin ‖x − p‖² + λ‖x − c‖² = (p + λc) / (1 + λ)).
    jax.block_until_ready(minimize(tikhonov(misfit, 3.0, jnp.array([0.5, 0.5])), X0, (P,)).x)
    center = jnp.array([1.0, 4.0])
    with count_compiles() as n:
        x = minimize(tikhonov(misfit, 1.0, center), X0, (P,)).x.block_until_ready()
    assert n == {"compile": 0, "trace": 0}
    np.testing.assert_allclose(x, (P + center) / 2, rtol=1e-12)


def test_tikhonov_derivatives_in_weight_and_center():
    c = jnp.array([0.5, 0.5])
    d_lam = jax.grad(lambda lam: minimize(tikhonov(misfit, lam, c), X0, (P,)).x[0])(3.0)
    np.testing.assert_allclose(d_lam, (c[0] - P[0]) / 16, rtol=1e-10)
    d_c = jax.jacrev(lambda c: minimize(tikhonov(misfit, 3.0, c), X0, (P,)).x)(c)
    np.testing.assert_allclose(d_c, 0.75 * np.eye(2), rtol=1e-10, atol=1e-14)


def test_check_grad_second_call_is_cached():
    n = _second_call_compiles(lambda: check_grad(misfit, P, jnp.array([0.0, 1.0])).max_rel_err)
    assert n["compile"] == 0


def test_finite_difference_grad_second_call_is_cached():
    n = _second_call_compiles(lambda: finite_difference_grad(misfit, jnp.array([0.0, 1.0]), P))
    assert n == {"compile": 0, "trace": 0}


def test_check_grad_closed_over_array_is_read_at_each_call():
    # An array `f` closes over is an input of the compiled programs, not a constant
    # baked into them: a new value reuses them, and the reference follows it.
    box = {"w": jnp.array([1.0, 2.0])}

    def f(x):  # Jacobian diag(w cos x)
        return box["w"] * jnp.sin(x)

    def total(x):  # gradient w cos x
        return jnp.sum(f(x))

    x = jnp.array([0.3, -0.4])
    jax.block_until_ready((check_grad(f, x, modes="fwd").max_rel_err, finite_difference_grad(total, x)))
    box["w"] = w = jnp.array([3.0, -5.0])
    with count_compiles() as n:
        report = check_grad(f, x, modes="fwd")
        grad = finite_difference_grad(total, x).block_until_ready()
    assert n == {"compile": 0, "trace": 0}
    expected = np.asarray(w) * np.cos(np.asarray(x))
    np.testing.assert_allclose(grad, expected, rtol=1e-10)
    # `scale` is the largest |reference| entry: here the largest |w cos x|.
    assert report.passed
    np.testing.assert_allclose(report.entries[0].scale, np.max(np.abs(expected)), rtol=1e-10)


def _penalty_with_zero_gradient_at(off):
    # Value Σx², gradient rule 2(x − off): a rule that the program's text names only as
    # `_jvp`, whatever `off` is.
    @jax.custom_jvp
    def penalty(x):
        return jnp.sum(x**2)

    @penalty.defjvp
    def _jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return penalty(x), jnp.sum(2 * (x - off) * dx)

    return penalty


def _through(x, penalty):
    return penalty(x - 1.0)


class _Holder:  # a plain class: its bound method's code does not show what it holds
    def __init__(self, penalty):
        self.penalty = penalty

    def loss(self, x):
        return self.penalty(x - 1.0)


def test_minimize_tells_apart_rules_hidden_from_the_program_text():
    # Two objectives that differ only in a custom rule passed in `args`, or held by the
    # object of a bound method, shared one compiled loop: the second got the first's
    # minimiser [1, 1] (with L-BFGS even a false `converged`) instead of [1.5, 1.5].
    sgd = optax.sgd(0.25)
    for off in (0.0, 0.5):
        pen = _penalty_with_zero_gradient_at(off)
        x = minimize(_through, X0, (pen,), optimizer=sgd, max_steps=200).x
        np.testing.assert_allclose(x, [1 + off, 1 + off], rtol=1e-10)
        x = minimize(_Holder(pen).loss, X0, optimizer=sgd, max_steps=200).x
        np.testing.assert_allclose(x, [1 + off, 1 + off], rtol=1e-10)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _penalty_with_static_offset(x, off):
    return jnp.sum(x**2)


@_penalty_with_static_offset.defjvp
def _penalty_with_static_offset_jvp(off, primals, tangents):
    (x,), (dx,) = primals, tangents
    return _penalty_with_static_offset(x, off), jnp.sum(2 * (x - off) * dx)


def _through_offset(x, off):
    return _penalty_with_static_offset(x - 1.0, off)


def test_minimize_tells_apart_static_ints_only_a_rule_reads():
    # A Python int in `args` is static; here only the custom rule reads it, so it does
    # not show in the program's text: it is part of the key by value.
    sgd = optax.sgd(0.25)
    for off in (0, 1):
        x = minimize(_through_offset, X0, (off,), optimizer=sgd, max_steps=200).x
        np.testing.assert_allclose(x, [1 + off, 1 + off], rtol=1e-10)
