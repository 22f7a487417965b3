"""Repeat calls reuse the compiled program; values a callable reads are never stale.

A second eager call with the same callable and options must neither trace the core
again nor compile anything: counted with `jax.monitoring` events (one per jaxpr trace
and per backend compile), not timed. The user's callable itself is traced once per
call (`user_callable`, to read the values it closes over); that trace is not counted.
"""

from __future__ import annotations

import contextlib
import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special
from jax import monitoring

from jaxgrad.integrate import quad, quadosc

_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_COMPILE = "/jax/core/compile/backend_compile_duration"
_events: list[str] = []
_listening = [False]


def _listener(name, *_, fun_name="", **__):
    if _listening[0] and fun_name != "user_callable":
        _events.append(name)


monitoring.register_event_duration_secs_listener(_listener)


@contextlib.contextmanager
def count_compiles():
    """Counts backend compiles and traces of jitted programs inside the block."""
    _events.clear()
    _listening[0] = True
    counts = {}
    try:
        yield counts
    finally:
        _listening[0] = False
        counts["compile"] = _events.count(_COMPILE)
        counts["trace"] = _events.count(_TRACE)


def _second_call_compiles(call):
    jax.block_until_ready(call())  # first call: compiles
    with count_compiles() as n:
        jax.block_until_ready(call())
    return n


def integrand(x, p):
    return jnp.exp(-p * x) / jnp.sqrt(x)


def test_counter_sees_a_compile():
    # The counter itself works: a fresh jitted function compiles once.
    with count_compiles() as n:
        jax.jit(lambda x: x * 3.0 + 1.0)(2.0).block_until_ready()
    assert n["compile"] >= 1 and n["trace"] >= 1


def test_quad_second_call_is_cached():
    n = _second_call_compiles(lambda: quad(integrand, 0.0, 1.0, (2.0,), epsrel=1e-10)[0])
    assert n == {"compile": 0, "trace": 0}
    # New parameter values and limits of the same types: same executable.
    with count_compiles() as n:
        v = quad(integrand, 0.0, 0.5, (3.0,), epsrel=1e-10)[0]
    assert n == {"compile": 0, "trace": 0}
    assert v == pytest.approx(float(_erf_ref(3.0, 0.5)), rel=1e-9)
    # The same limits written as ints, NumPy or weakly typed JAX scalars: the same
    # executable (each spelling compiled its own, 5.5–6.3 s; outside probe).
    limits = ((0, 0.5), (np.float64(0), np.float32(0.5)), (jnp.asarray(0.0), 0.5))
    with count_compiles() as n:
        spelled = [quad(integrand, a, b, (3.0,), epsrel=1e-10)[0] for a, b in limits]
    assert n == {"compile": 0, "trace": 0}
    assert all(float(s) == float(v) for s in spelled)


def test_quad_new_tolerances_reuse_the_program_and_are_used():
    # epsabs and epsrel are inputs of the compiled program (they were static options: a
    # notebook that tightened epsrel waited for a new compile each time). The same
    # executable must still honour each tolerance: a tighter one costs evaluations and
    # meets it, against the closed form.
    quad(integrand, 0.0, 1.0, (2.0,), epsrel=1e-10)  # compiled (shared with the test above)
    exact = float(_erf_ref(2.0, 1.0))
    with count_compiles() as n:
        runs = [quad(integrand, 0.0, 1.0, (2.0,), epsrel=epsrel, epsabs=0.0) for epsrel in (1e-4, 1e-8, 1e-13)]
        absolute = quad(integrand, 0.0, 1.0, (2.0,), epsabs=1e-3, epsrel=0.0)
    assert n == {"compile": 0, "trace": 0}
    for epsrel, (v, info) in zip((1e-4, 1e-8, 1e-13), runs):
        assert bool(info.converged) and abs(float(v) - exact) <= max(epsrel * exact, 4e-16 * exact)
    assert bool(absolute[1].converged) and float(absolute[1].err) <= 1e-3
    nevals = [int(info.neval) for _, info in runs]
    assert nevals[0] < nevals[1] < nevals[2], nevals


def _erf_ref(p, b):
    # ∫₀^b e^(-px)/√x dx = √(π/p) erf(√(p b))
    from math import erf, pi, sqrt

    return sqrt(pi / p) * erf(sqrt(p * b))


def test_quad_lambda_recreated_each_call_is_cached():
    # A notebook cell re-run, or a loop, creates a new lambda object each time.
    def call():
        return quad(lambda x: jnp.cos(x) ** 2, 0.0, 1.0)[0]

    assert _second_call_compiles(call) == {"compile": 0, "trace": 0}


def test_quad_grad_second_call_is_cached():
    g = jax.grad(lambda p: quad(integrand, 0.0, 1.0, (p,), epsrel=1e-10)[0])
    n = _second_call_compiles(lambda: g(2.0))
    assert n["compile"] == 0


def test_quad_closed_over_array_is_read_at_each_call():
    # Arrays the integrand reads are arguments of the compiled program, not constants
    # baked into it: changing one reuses the executable and gives the new value.
    c = {"v": jnp.asarray(3.0)}

    def f(x):
        return jnp.exp(-c["v"] * x)

    v3 = quad(f, 0.0, 1.0)[0]
    c["v"] = jnp.asarray(4.0)
    with count_compiles() as n:
        v4 = quad(f, 0.0, 1.0)[0]
    assert n["compile"] == 0
    assert float(v3) == pytest.approx((1 - np.exp(-3.0)) / 3, rel=1e-13)
    assert float(v4) == pytest.approx((1 - np.exp(-4.0)) / 4, rel=1e-13)


_RATE = 5.0


def _decay_at_global_rate(x):
    return jnp.exp(-_RATE * x)


_BOX = [5.0]


def _decay_at_boxed_rate(x):
    return jnp.exp(-_BOX[0] * x)


def test_quad_python_number_read_by_the_integrand_is_an_input():
    # A Python float the integrand reads (a global a notebook changes, an entry of a
    # global list) is a literal of the traced program, lifted into its inputs: a new
    # value reuses the executable and is used (it once re-compiled: seconds per new
    # value). (A number in a container held in a closure cell is part of the key by
    # value instead, as one in the cell itself: a rule may read it unseen.)
    global _RATE
    v5 = quad(_decay_at_boxed_rate, 0.0, 1.0)[0]
    _BOX[0] = 6.0
    with count_compiles() as n:
        v6 = quad(_decay_at_boxed_rate, 0.0, 1.0)[0]
    assert n["compile"] == 0
    assert float(v5) == pytest.approx((1 - np.exp(-5.0)) / 5, rel=1e-13)
    assert float(v6) == pytest.approx((1 - np.exp(-6.0)) / 6, rel=1e-13)
    # The same for a module global.
    quad(_decay_at_global_rate, 0.0, 1.0)
    _RATE = 7.0
    with count_compiles() as n:
        v7 = quad(_decay_at_global_rate, 0.0, 1.0)[0]
    assert n["compile"] == 0
    assert float(v7) == pytest.approx((1 - np.exp(-7.0)) / 7, rel=1e-13)


_PERIOD = 2.0


@jax.custom_jvp
def _sin_scaled(u, t):
    return jnp.sin(u * t) / t


@_sin_scaled.defjvp
def _sin_scaled_jvp(primals, tangents):
    # A rule of the user's that reads the global rather than its argument `t`: traced
    # when the program is differentiated, it bakes in the value of that moment.
    u, t = primals
    return _sin_scaled(u, t), jnp.cos(u * _PERIOD) * tangents[0]


@jax.custom_gradient
def _sin_scaled_by_gradient(u, t):
    # The same through `jax.custom_gradient`, whose wrapper code is JAX's own.
    return jnp.sin(u * t) / t, lambda g: (g * jnp.cos(u * _PERIOD), jnp.zeros_like(t))


@pytest.mark.parametrize("rule", [_sin_scaled, _sin_scaled_by_gradient], ids=["custom_jvp", "custom_gradient"])
def test_quad_literal_read_by_a_user_rule_is_never_stale(rule):
    # The global appears in the program only as a literal operand of the rule's call;
    # lifted, a changed value reused the derivative program traced with the old one.
    # With a rule of the user's in the program, nothing is lifted: a new value compiles.
    global _PERIOD

    def derivative(q):
        return jax.grad(lambda q: quad(lambda x: rule(q * x, _PERIOD), 0.0, 1.0)[0])(q)

    def exact(q, period):  # d/dq of the integral of sin(q x T)/T over [0, 1]
        a = q * period
        return np.sin(a) / a + (np.cos(a) - 1) / a**2

    try:
        for period in (2.0, 3.0):
            _PERIOD = period
            assert float(derivative(0.7)) == pytest.approx(exact(0.7, period), rel=1e-12)
    finally:
        _PERIOD = 2.0


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _sin_with_scaled_rule(u, p):
    return jnp.sin(u)


@_sin_with_scaled_rule.defjvp
def _sin_with_scaled_rule_jvp(p, primals, tangents):
    # Deliberately p times the true derivative: `p` (an array) reaches the rule only,
    # never the traced program.
    return jnp.sin(primals[0]), p * jnp.cos(primals[0]) * tangents[0]


def _rule_reads_from_filter_custom_jvp():
    @eqx.filter_custom_jvp
    def g(u, p):
        return jnp.sin(u)

    @g.def_jvp
    def g_jvp(primals, tangents):
        return jnp.sin(primals[0]), _PERIOD * jnp.cos(primals[0]) * tangents[0]

    return g


_FILTER_RULE = _rule_reads_from_filter_custom_jvp()


def test_values_read_only_by_a_user_rule_are_never_stale():
    # An array bound by a partial or held in a closure cell that only a custom rule
    # reads, and a global read by a rule written with equinox's wrapper (the same
    # wrapper code as equinox's own error checks): each gave the old derivative after
    # the value changed. The exact answer is p · d/dθ ∫₀¹ sin(θx) dx.
    global _PERIOD

    def exact(p, th=0.7):
        return p * (np.sin(th) / th - (1 - np.cos(th)) / th**2)

    def by_partial(p):
        f = lambda x, th, p: _sin_with_scaled_rule(th * x, p)  # noqa: E731
        return jax.grad(lambda th: quad(functools.partial(f, p=jnp.asarray(p)), 0.0, 1.0, args=(th,))[0])(0.7)

    def by_closure(p):
        def make(p):
            return lambda x, th: _sin_with_scaled_rule(th * x, p)

        return jax.grad(lambda th: quad(make(jnp.asarray(p)), 0.0, 1.0, args=(th,))[0])(0.7)

    def by_equinox(p):
        global _PERIOD
        _PERIOD = p
        return jax.grad(lambda th: quad(lambda x, th: _FILTER_RULE(th * x, 1.0) + _PERIOD * x, 0.0, 1.0, args=(th,))[0])(0.7)

    try:
        for derivative in (by_partial, by_closure, by_equinox):
            for p in (2.0, 3.0):
                assert float(derivative(p)) == pytest.approx(exact(p), rel=1e-12), (derivative.__name__, p)
    finally:
        _PERIOD = 2.0


_COEFFICIENTS = [1.0 / (k + 1) for k in range(40)]


def test_many_literals_are_one_input():
    # A polynomial written with its coefficients as Python numbers: they are lifted into
    # one vector per dtype, not one input each (every input is carried through the
    # adaptive loops; a thousand of them made XLA's compile five times slower).
    from jaxgrad._traced import trace

    coefficients = _COEFFICIENTS  # a global list: its entries are lifted, not keyed

    def poly(x):
        y = _COEFFICIENTS[0] * x + _COEFFICIENTS[1]
        for c in _COEFFICIENTS[2:]:
            y = y * x + c
        return y

    traced, consts = trace(poly, jnp.asarray(0.5))
    assert [np.shape(c) for c in consts] == [(40,)]
    x = 0.5
    assert float(traced(consts, jnp.asarray(x))) == pytest.approx(np.polyval(coefficients, x), rel=1e-14)
    quad(poly, 0.0, 1.0)
    coefficients[3] = 5.0
    with count_compiles() as n:
        value = quad(poly, 0.0, 1.0)[0]
    assert n["compile"] == 0
    exact = sum(c / (40 - k) for k, c in enumerate(coefficients))  # c_k multiplies x**(39 - k)
    assert float(value) == pytest.approx(exact, rel=1e-13)


def test_quad_number_in_a_closure_cell_or_an_exponent_is_never_stale():
    # Numbers held in a closure cell are part of the key by value (a custom rule may
    # read them where the program does not show it), and a literal exponent stays a
    # literal (XLA specialises x ** 0.5 to sqrt): a new value re-compiles, correctly.
    def make(rate, power):
        return lambda x: jnp.exp(-rate * x) * x**power

    for rate, power, exact in ((2.0, 1.0, (1 - 3 * np.exp(-2.0)) / 4), (3.0, 1.0, (1 - 4 * np.exp(-3.0)) / 9),
                               (2.0, 0.0, (1 - np.exp(-2.0)) / 2)):
        assert float(quad(make(rate, power), 0.0, 1.0)[0]) == pytest.approx(exact, rel=1e-13)


def test_quad_partial_recreated_each_call_is_cached():
    # A notebook's `quad(partial(f, p=2.0), ...)` makes a new partial object each call:
    # keyed by its function and bound values, not its identity (it compiled every call).
    import functools

    def f(x, p, scale=1.0):
        return scale * jnp.exp(-p * x)

    def call(p, **kw):
        return quad(functools.partial(f, p=p, **kw), 0.0, 1.0)[0]

    call(2.0)
    with count_compiles() as n:
        v2 = call(2.0)
    assert n["compile"] == 0
    assert float(v2) == pytest.approx((1 - np.exp(-2.0)) / 2, rel=1e-13)
    # New bound values are used, whether they are lifted or compiled again.
    assert float(call(3.0)) == pytest.approx((1 - np.exp(-3.0)) / 3, rel=1e-13)
    assert float(call(3.0, scale=jnp.asarray(2.0))) == pytest.approx(2 * (1 - np.exp(-3.0)) / 3, rel=1e-13)
    assert float(call(3.0, scale=jnp.asarray(4.0))) == pytest.approx(4 * (1 - np.exp(-3.0)) / 3, rel=1e-13)


def test_quad_different_closures_are_different_programs():
    def make(g):
        return lambda x: g(x) + 1.0

    v_sin = quad(make(jnp.sin), 0.0, 1.0)[0]
    v_cos = quad(make(jnp.cos), 0.0, 1.0)[0]
    assert float(v_sin) == pytest.approx(1 + (1 - np.cos(1.0)), rel=1e-13)
    assert float(v_cos) == pytest.approx(1 + np.sin(1.0), rel=1e-13)


def _sin_over_t(t):
    return jnp.sinc(t / jnp.pi)


def test_quadosc_second_call_is_cached():
    def call():
        return quadosc(_sin_over_t, 0.0, jnp.inf, period=2 * jnp.pi)[0]

    assert _second_call_compiles(call) == {"compile": 0, "trace": 0}
    # New tolerances reuse it too (they were part of the key: 11 s per new epsrel;
    # outside review), and are the ones used: ∫₀^∞ sin t / t = π/2.
    with count_compiles() as n:
        tight = quadosc(_sin_over_t, 0.0, jnp.inf, period=2 * jnp.pi, epsabs=0.0, epsrel=1e-12)
    assert n == {"compile": 0, "trace": 0}
    assert bool(tight[1].converged) and abs(float(tight[0]) - np.pi / 2) <= 1e-12 * np.pi / 2
    with count_compiles() as n:  # an int start, a NumPy period: the same program
        value = quadosc(_sin_over_t, 0, jnp.inf, period=np.float64(2 * np.pi))[0]
    assert n == {"compile": 0, "trace": 0} and float(value) == pytest.approx(np.pi / 2, rel=1e-8)


def _lorentzian(x):
    return 1 / (1 + x * x)


def test_fourier_integral_second_call_is_cached():
    # quad's Fourier path hands quadosc integrands built around the traced f: made
    # afresh at each call they were new programs, and every eager call compiled again
    # (3.4 s); a new ω is an input, not a new program.
    assert _second_call_compiles(lambda: quad(_lorentzian, 0.0, jnp.inf, weight="cos", wvar=1.0)[0]) == {
        "compile": 0, "trace": 0}
    with count_compiles() as n:
        value = quad(_lorentzian, 0.0, jnp.inf, weight="cos", wvar=2.0)[0]
    assert n == {"compile": 0, "trace": 0}
    assert abs(float(value) - np.pi / 2 * np.exp(-2.0)) <= 1.49e-8  # the default tolerance


def test_finite_range_fourier_weight_second_call_is_cached():
    # weight="cos" on a finite range is the Chebyshev-moment rule, a program of its own
    # keyed on quad's trace of f; a second call and a new ω reuse it.
    assert _second_call_compiles(lambda: quad(_lorentzian, 0.0, 2.0, weight="cos", wvar=50.0)[0]) == {
        "compile": 0, "trace": 0}
    with count_compiles() as n:
        value = quad(_lorentzian, 0.0, 2.0, weight="cos", wvar=60.0)[0]
    assert n == {"compile": 0, "trace": 0}
    assert abs(float(value) - float(scipy.integrate.quad(_lorentzian, 0.0, 2.0, weight="cos", wvar=60.0,
                                                         epsabs=1e-14)[0])) <= 1.49e-8


def test_quad_tolerances_may_be_traced():
    # With the tolerances inputs of the program, they may also come from a trace (a jit
    # over the tolerance, a solver that tightens it): the same evaluations as given eagerly.
    neval = jax.jit(lambda e: quad(integrand, 0.0, 1.0, (2.0,), epsrel=e, epsabs=0.0)[1].neval)
    for e in (1e-4, 1e-12):
        assert int(neval(e)) == int(quad(integrand, 0.0, 1.0, (2.0,), epsrel=e, epsabs=0.0)[1].neval)
    with pytest.raises(TypeError, match="real scalar"):
        jax.jit(lambda e: quad(integrand, 0.0, 1.0, (2.0,), epsrel=e))(jnp.ones(2))


_INNER = jax.jit(lambda y: 2.0 * y)


def _calls_inner(x):
    return _INNER(x) + 1.0


def test_key_sees_the_body_of_a_jitted_call():
    # A callable's key holds the bodies of the jitted functions it calls as hashes of
    # their text (printed once per body, not at every call): a different body is a
    # different program, an equal one (a jitted function re-created) the same.
    from jaxgrad._traced import trace

    global _INNER
    x = jnp.asarray(1.5)
    first, _ = trace(_calls_inner, x)
    _INNER = jax.jit(lambda y: 3.0 * y)
    other, other_consts = trace(_calls_inner, x)
    _INNER = jax.jit(lambda y: 2.0 * y)
    again, again_consts = trace(_calls_inner, x)
    assert first != other and first == again
    assert float(other(other_consts, x)) == 5.5 and float(again(again_consts, x)) == 4.0


def test_key_sees_arrays_a_jitted_call_captured_and_default_arguments():
    # A jitted helper keeps the arrays it closes over as constants of its own body,
    # which the program's text does not show; a default argument is a captured value
    # too. Both shared one compiled program before (quad gave c·∫1 = 1 for c = 2).
    from jaxgrad._traced import trace

    x = jnp.asarray(0.5)
    keys, values = [], []
    for c in (1.0, 2.0):
        helper = jax.jit(lambda y, w=jnp.array([c, c]): jnp.sum(y * w))
        t, consts = trace(lambda x: helper(jnp.stack([x, x])), x)
        keys.append(t)
        values.append(float(t(consts, x)))
    assert keys[0] != keys[1] and values == [1.0, 2.0]
    def rule_of_its_own():  # the same text whatever the rule does
        @jax.custom_jvp
        def g(x):
            return x

        g.defjvp(lambda p, t: (p[0], t[0]))
        return g

    keyed = [trace(lambda x, g=rule_of_its_own(): g(x) + 1.0, x)[0] for _ in range(2)]
    assert keyed[0] != keyed[1]


def test_a_numpy_literal_is_the_programs_own():
    # JAX keeps a 0-d NumPy array the callable reads (the exponent of x ** p, a number in
    # a cond branch, a flag) as a literal that is a view of it. The key holds the value
    # at trace time; a cached program compiled again later (for grad) read the view,
    # edited in place since: the derivative of x³ under the key of x².
    from jaxgrad._traced import trace

    x = jnp.asarray(1.5)
    p, c, flag = np.array(2.0), np.array(2.0), np.array(True)

    def f(x):
        branch = jax.lax.cond(x >= 0, lambda y: c * y, lambda y: -y, x)
        return x**p + branch + jnp.where(flag, 1.0, -1.0)

    t, consts = trace(f, x)
    p += 1.0
    c[...] = 5.0
    flag[...] = False
    assert float(t(consts, x)) == 1.5**2 + 2.0 * 1.5 + 1.0
    assert float(jax.grad(lambda y: t(consts, y))(x)) == 2 * 1.5 + 2.0
    # Through the public path: funm's value, then its gradient compiled afresh.
    from jaxgrad.linalg import funm

    a = jnp.diag(jnp.array([0.5, 1.0, 2.0]))
    q = np.array(2.0)
    g = lambda s: s**q  # noqa: E731
    funm(a, g)
    q += 1.0  # the object the first trace saw now holds 3
    q = np.array(2.0)
    grad = jax.grad(lambda m: jnp.trace(funm(m, g)))(a)
    np.testing.assert_allclose(np.diag(grad), [1.0, 2.0, 4.0], rtol=1e-14)  # 2λ


def _helper_over(m):
    return jax.jit(lambda y: jnp.sum(m) * y)


_HELPER = _helper_over(jnp.array([1.0, 1.0]))


def _branch_calls_helper(x):
    return jax.lax.cond(x >= 0, _HELPER, lambda y: -y, x)


def test_key_sees_arrays_captured_by_a_jitted_call_inside_a_branch():
    # A jitted helper called inside a cond branch (or a loop body) printed as its text
    # alone: a new helper over a new array shared the first one's program (quad gave 1
    # for 2).
    from jaxgrad._traced import trace

    global _HELPER
    x = jnp.asarray(0.5)
    keys, values = [], []
    for m in (jnp.array([1.0, 1.0]), jnp.array([2.0, 2.0])):
        _HELPER = _helper_over(m)
        t, consts = trace(_branch_calls_helper, x)
        keys.append(t)
        values.append(float(t(consts, x)))
    assert keys[0] != keys[1] and values == [1.0, 2.0]


_RULE_CELL = """
@jax.custom_jvp
def w(x):
    return jnp.sin(x)

@w.defjvp
def w_jvp(p, t):
    return w(p[0]), K * jnp.cos(p[0]) * t[0]

f = lambda x, p: w(p * x)
"""


def test_a_rule_defined_again_is_a_new_program():
    # A notebook cell defining a rule, run again after a fix (here: the global K it
    # reads), makes new functions of the same code, name and program text: the first
    # rule's derivative came back. The user's rules key by identity.
    p = jnp.asarray(1.3)
    grads = []
    for k in (2.0, 1.0):
        ns = dict(jax=jax, jnp=jnp, K=k)
        exec(_RULE_CELL, ns)
        grads.append(float(jax.grad(lambda p: quad(ns["f"], 0.0, 1.0, (p,))[0])(p)))
    exact = np.sin(1.3) / 1.3 - (1 - np.cos(1.3)) / 1.3**2  # ∫₀¹ x cos(px) dx
    np.testing.assert_allclose(grads, [2 * exact, exact], rtol=1e-10)


_MANY_HELPERS = [jax.jit(lambda y, k=float(k): y * k) for k in range(80)]


def _calls_many_helpers(x):
    return sum(h(x) for h in _MANY_HELPERS[:40]) + jax.lax.cond(
        x >= 0, lambda y: sum(h(y) for h in _MANY_HELPERS[40:]), lambda y: -y, x
    )


def test_a_program_with_many_jitted_bodies_keeps_its_key():
    # Bodies of jitted calls are named by their digest. Named from a counter in a memo
    # of 64, a program with more bodies (JAX's own `where`, `clip` are jitted) got new
    # names at every call, a new key, and compiled again at every call.
    from jaxgrad._traced import trace

    x = jnp.asarray(0.5)
    first, consts = trace(_calls_many_helpers, x)
    again, _ = trace(_calls_many_helpers, x)
    assert first == again and float(first(consts, x)) == 0.5 * sum(range(80))


def test_eager_compile_options_fall_back_when_rejected(monkeypatch):
    # `jit_core` compiles eager calls with extra XLA options on a CPU; an XLA that
    # rejects them (a version without the option) gets the plain `jax.jit`, once and
    # for all, with the same result. (XLA_FLAGS of this suite already choose the
    # emitters, which alone skips the eager options: cleared here for `_jit`'s check.)
    from jaxgrad import _jit

    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setattr(_jit, "_OPTIONS", {"xla_no_such_option_for_this_test": True})
    monkeypatch.setattr(_jit, "_usable", [True])
    calls = []

    @_jit.jit_core(static_argnums=(0,))
    def scaled(k, x):
        calls.append(k)
        return k * jnp.sin(x)

    assert float(scaled(3, 0.5)) == pytest.approx(3 * np.sin(0.5), rel=1e-15)
    assert _jit._usable == [False]
    assert scaled.nested._cache_size() == 1
    # Inside a trace the plain jit is used whatever the options (the other would raise:
    # `compiler_options` on a nested jit).
    assert float(jax.jit(lambda x: scaled(2, x))(0.5)) == pytest.approx(2 * np.sin(0.5), rel=1e-15)


def test_eager_call_uses_the_eager_program_and_a_trace_the_nested_one(monkeypatch):
    from jaxgrad import _jit

    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setattr(_jit, "_usable", [True])

    @_jit.jit_core(static_argnums=(0,))
    def scaled(k, x):
        return k * jnp.cos(x)

    want = 4 * np.cos(0.25)
    assert float(scaled(4, 0.25)) == pytest.approx(want, rel=1e-15)
    assert (scaled.eager._cache_size(), scaled.nested._cache_size()) == (1, 0)
    # In a trace, the nested jit (the eager one would raise: `compiler_options` on a
    # nested jit).
    assert float(jax.jit(lambda x: scaled(4, x))(0.25)) == pytest.approx(want, rel=1e-15)
    assert float(jax.grad(lambda x: scaled(4, x))(0.25)) == pytest.approx(-4 * np.sin(0.25), rel=1e-15)
    # XLA_FLAGS that choose the emitters themselves are left to decide.
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    assert float(scaled(5, 0.25)) == pytest.approx(5 * np.cos(0.25), rel=1e-15)
    assert scaled.eager._cache_size() == 1


@pytest.fixture
def traced_loops(monkeypatch):
    """The adaptive loops traced while the test runs, as the number of components of
    each loop's integrand."""
    from jaxgrad.integrate import _adaptive

    loops = []
    plain = _adaptive.adaptive_quad

    def counted(fvec, edges, args, **options):
        loops.append(options["out_size"])
        return plain(fvec, edges, args, **options)

    monkeypatch.setattr(_adaptive, "adaptive_quad", counted)
    return loops


def test_a_derivative_in_a_program_traces_only_the_derivative_loop(traced_loops):
    # Inside `jax.jit`, `jax.grad` of `quad` needs only the loop of [f, ∂f/∂p] (its rule's);
    # through the core's own nested `jax.jit` the value's loop was traced first as well
    # (about 1 s of a 1.5 s trace) and then dropped.
    loops = traced_loops

    def f(x, p):  # (a new integrand: no trace of it is cached)
        return jnp.exp(-p * x) / jnp.sqrt(x)

    def value(p):
        return quad(f, 0.0, 1.0, (p,))[0]

    jax.jit(jax.grad(value)).trace(2.0)
    assert loops == [2]  # one loop, of [f, ∂f/∂p]
    loops.clear()
    g = jax.jit(jax.grad(value))(2.0)  # and it is the right derivative: −∫₀¹ √x e^(−2x) dx
    assert abs(float(g) + 0.5 * math.sqrt(math.pi) * 2.0**-1.5 * math.erf(math.sqrt(2.0))
               - math.exp(-2.0) / 2.0) < 1e-10


def test_a_principal_values_derivatives_trace_one_loop(traced_loops):
    # `value_and_grad` of ⨍ f/(x − c) in the parameters of f and the pole c: one loop of
    # [f, ∂f/∂p, h] (h the integrand of d/dc); the value, [f, ∂f/∂p] and h had a loop
    # each (three adaptive loops compiled into the program). Traced only: the values
    # are checked in test_quad_weights.py.
    def pv(z):  # (a new integrand: no trace of it is cached)
        return quad(lambda x, p: jnp.exp(p * x) + 0.5, 0.0, 1.0, (z[0],), weight="cauchy", wvar=z[1])[0]

    jax.jit(jax.value_and_grad(pv)).trace(jnp.array([0.7, 0.3]))
    assert traced_loops == [3]


def test_vmap_in_a_program_traces_the_loop_body_once(monkeypatch):
    # `vmap` of `quad` runs its batching rule, which resumes unfinished lanes with the
    # scalar loop. That loop was traced twice: once to find its constants (the plain
    # path) and again inside the rule. The rule now reuses the first trace.
    from jaxgrad.integrate import _adaptive, _batch

    bodies = []
    plain = _adaptive.loop_parts

    def counted(*a, **k):
        init, cond, body, finish = plain(*a, **k)

        def counted_body(state):
            bodies.append(1)
            return body(state)

        return init, cond, counted_body, finish

    monkeypatch.setattr(_adaptive, "loop_parts", counted)
    monkeypatch.setattr(_batch, "loop_parts", counted)

    def f(x, p):  # (a new integrand: no trace of it is cached)
        return jnp.exp(-p * x) / jnp.sqrt(x)

    ps = jnp.asarray([1.0, 2.0, 3.0])
    values = jax.jit(jax.vmap(lambda p: quad(f, 0.0, 1.0, (p,))[0]))(ps)
    assert len(bodies) == 1
    for p, v in zip([1.0, 2.0, 3.0], values):  # ∫₀¹ e^(−px)/√x dx = √(π/p) erf(√p)
        assert abs(float(v) - math.sqrt(math.pi / p) * math.erf(math.sqrt(p))) < 1e-10


def _calls(monkeypatch, module, name):
    """A list that grows by one at each call of `module.name` while the test runs."""
    calls = []
    plain = getattr(module, name)

    def counted(*a, **k):
        calls.append(1)
        return plain(*a, **k)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_the_loop_pass_is_traced_once_per_configuration(monkeypatch):
    # A pass of `quad`'s loop is two `jax.jit` functions of the loop's configuration with
    # the integrand between them (`_adaptive.loop_parts`): a second integrand with the
    # same configuration traces only itself, not the pass again (~0.3 s of every program
    # that holds the loop). Counted by the rule's steps, which each trace of a half runs
    # once; `limit=37` is a configuration no other test uses, so its first trace is here.
    from jaxgrad.integrate import _adaptive

    traced = _calls(monkeypatch, _adaptive, "_gauss_kronrod_steps")

    def value(f):
        return jax.jit(lambda p: quad(f, 0.0, 1.0, (p,), limit=37)[0])

    first = value(lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x))(2.0)
    assert len(traced) == 2  # the pass's two halves, once each
    second = value(lambda x, p: jnp.exp(-p * x) * jnp.sqrt(x))(2.0)
    assert len(traced) == 2
    # ∫₀¹ e^(−2x)/√x dx = √(π/2) erf(√2); ∫₀¹ √x e^(−2x) dx = (√π erf(√2))/(2·2^1.5) − e^(−2)/2
    erf = math.erf(math.sqrt(2.0))
    assert float(first) == pytest.approx(math.sqrt(math.pi / 2.0) * erf, rel=1e-12)
    assert float(second) == pytest.approx(0.5 * math.sqrt(math.pi) * 2.0**-1.5 * erf - math.exp(-2.0) / 2.0, rel=1e-12)


def test_the_cubature_pass_is_traced_once_per_configuration(monkeypatch):
    # The same for `cubature`'s loop (`_cubature_adaptive.loop_parts`), counted by the
    # traces of the pass's second half. Two eager calls in turn: the cached pass must
    # hold no array of the trace that made it (a JAX array made while tracing belongs to
    # that trace; the second call raised UnexpectedTracerError, found by an outside
    # probe). `limit=333` is a configuration no other test uses.
    from jaxgrad.integrate import _cubature_adaptive, cubature

    traced = _calls(monkeypatch, _cubature_adaptive, "finish_steps")
    lo, hi = jnp.zeros(2), jnp.ones(2)
    first = cubature(lambda x: jnp.exp(x[0] + x[1]), lo, hi, limit=333, epsrel=1e-10)[0]
    assert len(traced) == 1
    second = cubature(lambda x: jnp.sin(x[0] + x[1]), lo, hi, limit=333, epsrel=1e-10)[0]
    assert len(traced) == 1
    assert float(first) == pytest.approx((math.e - 1) ** 2, rel=1e-10)
    assert float(second) == pytest.approx(2 * math.sin(1.0) - math.sin(2.0), rel=1e-10)


def _exp_over_sqrt(x, p):
    # (Undefined at 0 and below, as a user may write it: an evaluation there raises.)
    x = eqx.error_if(x, x <= 0.0, "evaluated at x <= 0")
    return jnp.exp(-p * x) / jnp.sqrt(x)


def test_eager_vmap_compiles_once_per_bucket_of_batch_sizes():
    # `jax.vmap` of `quad` from eager code compiled the batched program again for every
    # new batch size (3.9 s idle for 100 integrands). The batch is now padded to one of
    # four sizes per octave (jaxgrad/_buckets.py): 9 lanes run in the program of 10,
    # compiling nothing. The padded lanes are empty ranges at the midpoint of the last
    # lane's (a first version put them at a = b = 0, where this integrand raises). The
    # limit a = 1/4 is shared, b batched; one lane's p is NaN (nonfinite, the others
    # unaffected). ∫ from 1/4 to b of e^(−px)/√x dx = √(π/p) (erf(√(p b)) − erf(√p / 2)).
    from jaxgrad import _buckets

    assert [_buckets.bucket(n) for n in (1, 8, 9, 10, 11, 16, 17, 100, 4000)] == [1, 8, 10, 10, 12, 16, 20, 112, 4096]
    run = jax.vmap(lambda p, b: quad(_exp_over_sqrt, 0.25, b, (p,), epsabs=0.0, epsrel=1e-11))
    p = np.array([0.5, 1.0, 2.0, np.nan, 3.0, 0.7, 1.5, 2.5, 4.0, 1.0])
    b = np.array([1.0, 0.3, 2.0, 1.0, 1.0, 7.0, 5.0, 0.26, 1.0, 1.0])
    value10, info10 = run(jax.device_put(p), jax.device_put(b))
    with count_compiles() as n:  # (jnp.asarray would compile a copy per shape)
        value9, info9 = run(jax.device_put(p[:9]), jax.device_put(b[:9]))
    assert n["compile"] == 0 and value9.shape == (9,) and info9.neval.shape == (9,)
    for value, info in ((value10, info10), (value9, info9)):
        code = np.asarray(info.status._value)
        for i in range(len(value)):
            if i == 3:
                assert np.isnan(float(value[i])) and int(code[i]) == 4  # nonfinite
                continue
            exact = math.sqrt(math.pi / p[i]) * (math.erf(math.sqrt(p[i] * b[i])) - math.erf(math.sqrt(p[i]) / 2))
            assert int(code[i]) == 0 and float(value[i]) == pytest.approx(exact, rel=1e-11, abs=0.0)
    np.testing.assert_array_equal(np.asarray(info9.neval), np.asarray(info10.neval)[:9])
    # A last lane on an infinite range is copied, not emptied, in the same program: the
    # padded lanes' limits are batched either way (they were not, and the bucket compiled
    # again when the last lane's range was infinite; review). Checked on the padding
    # itself: a half-infinite lane's own evaluations are not this test's subject.
    from jaxgrad.integrate._quad import _empty_lane

    for last_b in (1.0, np.inf):
        flat = [np.float64(0.25), np.r_[b[:8], last_b], np.zeros(0), p[:9]]
        padded, batched = _buckets._pad(flat, (False, True, False, True), 9, 10, 3, _empty_lane)
        assert batched == (True, True, True, True)
        assert padded[0].shape == padded[1].shape == (10,) and padded[3][9] == p[8]
        assert (padded[0][9], padded[1][9]) == ((0.625, 0.625) if last_b == 1.0 else (0.25, np.inf))
    # `throw=True`: the padded lanes never raise; a real lane that fails does (9 lanes
    # in the program of 10 both times).
    strict = jax.vmap(lambda p: quad(_exp_over_sqrt, 0.0, 1.0, (p,), throw=True)[0])
    good = np.delete(p, 3)
    assert float(strict(jax.device_put(good))[-1]) == pytest.approx(math.sqrt(math.pi) * math.erf(1.0), rel=1e-9)
    with pytest.raises(Exception, match="returned NaN or inf at a quadrature node"):
        jax.block_until_ready(strict(jax.device_put(p[:9])))


def _gaussian_in_box(x, p):
    # e^(−‖x − p‖²), raising wherever it is evaluated outside [0, 1]².
    return eqx.error_if(jnp.exp(-jnp.sum((x - p) ** 2)), jnp.any((x < 0) | (x > 1)), "outside the box")


def test_eager_vmap_of_cubature_compiles_once_per_bucket():
    # As `quad` above: 9 lanes run in the program of 10, their padded lanes boxes of zero
    # width at the centre of the last lane's box (never outside it). Closed form:
    # ∫ over [0, 1]² of e^(−‖x − p‖²) = Π (√π/2)(erf(1 − pᵢ) + erf(pᵢ)).
    from jaxgrad.integrate import cubature

    run = jax.vmap(lambda p: cubature(_gaussian_in_box, jnp.zeros(2), jnp.ones(2), (p,), epsrel=1e-9))
    p = np.linspace(-0.3, 1.2, 20).reshape(10, 2)
    value10, _ = run(jax.device_put(p))
    with count_compiles() as n:
        value9, info9 = run(jax.device_put(p[:9]))
    assert n["compile"] == 0 and value9.shape == (9,) and bool(np.all(info9.converged))
    exact = np.prod(np.sqrt(np.pi) / 2 * (scipy.special.erf(1 - p) + scipy.special.erf(p)), axis=1)
    np.testing.assert_allclose(value10, exact, rtol=1e-9)
    np.testing.assert_allclose(value9, exact[:9], rtol=1e-9)


def test_eager_vmap_of_the_other_integrators_takes_the_buckets(monkeypatch):
    # `quad` with a weight, `quadosc` and `nquad` (`dblquad`, `tplquad`) under an eager
    # `vmap` go through the buckets too, their padded lanes copies of the last one (the
    # padding itself is checked above). Only the route is checked here: compiling each
    # would cost a test several seconds.
    from jaxgrad.integrate import _iterated, _quad, _quadosc, dblquad

    class Routed(Exception):
        pass

    def spy(fn, statics, dynamic, lead, empty=None):
        raise Routed(fn.__name__, lead, None if empty is None else empty(*[np.float64(0.25)] * lead))

    for module in (_quad, _quadosc, _iterated):
        monkeypatch.setattr(module, "in_buckets", spy)
    calls = {
        "_quad_body": lambda p: quad(lambda x, p: jnp.exp(-p * x), 0.0, 1.0, (p,), weight="cauchy", wvar=0.3),
        "_quadosc": lambda p: quadosc(lambda t, p: jnp.sin(t) / (t + p), 0.0, jnp.inf, (p,), period=2 * jnp.pi),
        "_nquad_body": lambda p: dblquad(lambda y, x, p: p * x * y, 0.0, 1.0, 0.0, lambda x: x, args=(p,)),
    }
    for name, call in calls.items():
        with pytest.raises(Routed) as caught:
            jax.vmap(call)(jax.device_put(np.array([1.0, 2.0])))
        assert caught.value.args[0] == name and caught.value.args[2] is None  # (copies of the last lane)
