"""Eager `quad` runs its loop pass by pass: a new integrand compiles only itself, and the
result is the compiled loop's.

Compiles are counted with `jax.monitoring` events, not timed. The reference for every
result is the same integral under `jax.jit`, where the loop is one `while_loop`
compiled with the integrand inlined; both compile with this suite's XLA flags, so the
values are compared bit for bit (the closed forms are checked too, to catch a loop
wrong in both).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from test_cache import count_compiles

from jaxgrad.integrate import quad
from jaxgrad.integrate import _quad as quad_module


def _erf_ref(p, b):  # ∫₀^b e^(-px)/√x dx
    return math.sqrt(math.pi / p) * math.erf(math.sqrt(p * b))


def test_a_new_integrand_compiles_only_its_own_evaluation():
    quad(lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x), 0.0, 1.0, (2.0,))  # the loop's programs, once
    compiled = quad_module._quad_compiled._cache_size()
    with count_compiles() as n:
        v, info = quad(lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x) + 0 * jnp.cos(x), 0.0, 1.0, (3.0,))
    assert n["compile"] == 1  # f at the nodes
    assert quad_module._quad_compiled._cache_size() == compiled  # no whole-loop program
    assert bool(info.converged) and float(v) == pytest.approx(_erf_ref(3.0, 1.0), rel=1e-12)
    with count_compiles() as n:  # and the next call compiles nothing
        quad(lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x) + 0 * jnp.cos(x), 0.0, 0.5, (4.0,))
    assert n == {"compile": 0, "trace": 0}


def _vector(x, p):
    return jnp.stack([jnp.sqrt(x) * p, 1 / jnp.sqrt(x), jnp.exp(-x * x)])


# (integrand, a, b, points, args, options, closed form)
_CASES = [
    # an end singularity, extrapolated
    (lambda x, p: x**p * jnp.log(1 / x), 0.0, 1.0, None, (-0.5,), dict(epsrel=1e-11), 4.0),
    # an interior singularity without a breakpoint (Wynn's ε)
    (lambda x: jnp.abs(x - 0.3) ** -0.5, 0.0, 1.0, None, (), dict(epsrel=1e-12), 2 * (0.3**0.5 + 0.7**0.5)),
    # the whole line, and a reversed range with a breakpoint
    (lambda x: jnp.exp(-x * x), -jnp.inf, jnp.inf, None, (), {}, math.sqrt(math.pi)),
    (lambda x: jnp.exp(x), 1.0, -2.0, [0.5], (), {}, math.exp(-2.0) - math.e),
    # a vector-valued integrand
    (_vector, 0.0, 2.0, None, (1.5,), {},
     np.array([1.5 * 2 / 3 * 2**1.5, 2 * math.sqrt(2.0), math.sqrt(math.pi) / 2 * math.erf(2.0)])),
    # complex values
    (lambda x: jnp.exp(1j * x), 0.0, math.pi, None, (), dict(complex_func=True), 2j),
    # too small a limit: the status says so
    (lambda x: jnp.abs(x - 1 / 3) ** -0.8, 0.0, 1.0, None, (), dict(limit=4), None),
]


@pytest.mark.parametrize("case", range(len(_CASES)))
def test_eager_result_is_the_compiled_loops(case):
    f, a, b, points, args, options, exact = _CASES[case]

    def run():
        return quad(f, a, b, args, points=points, **options)

    v, info = run()
    vj, infoj = jax.jit(run)()
    assert np.array_equal(np.asarray(v), np.asarray(vj))
    assert np.array_equal(np.asarray(info.err), np.asarray(infoj.err))
    assert int(info.neval) == int(infoj.neval) and info.status == infoj.status
    if exact is None:
        assert not bool(info.converged)
    else:
        assert bool(info.converged)
        np.testing.assert_allclose(np.asarray(v), exact, rtol=1e-10)


def test_bad_limits_and_throw_from_eager_code():
    v, info = quad(lambda x: x, 0.0, jnp.nan)
    assert np.isnan(float(v)) and not bool(info.converged) and "NaN" in str(info.status)
    v, info = quad(lambda x: x, 2.0, 2.0)
    assert float(v) == 0.0 and bool(info.converged)
    # An eager call's failed check is equinox's error with the reason alone (it was JAX's
    # runtime error: the callback's whole traceback and equinox's advice to wrap "your
    # program" in filter_jit, the traceback logged once more), as `minimize`'s was;
    # prefixed with the function's name, which in a program of several calls says which
    # one failed.
    with pytest.raises(eqx.EquinoxRuntimeError,
                       match="^jaxgrad.integrate.quad: the subdivision limit .* loosen `epsabs`/`epsrel`.$"):
        quad(lambda x: jnp.abs(x - 1 / 3) ** -0.8, 0.0, 1.0, limit=4, throw=True)
    with pytest.raises(eqx.EquinoxRuntimeError, match="subdivision limit"):
        jax.grad(lambda p: quad(lambda x, p: jnp.abs(x - p) ** -0.8, 0.0, 1.0, (p,), limit=4, throw=True)[0])(1 / 3)


def test_eager_derivatives_of_a_new_integrand_compile_only_its_joint_evaluation():
    # jax.grad and jax.jvp from eager code: the derivative rule's loop on [f, ∂f/∂p] runs
    # pass by pass too. d/dp ∫₀¹ e^(−px)/√x dx = −∫₀¹ √x e^(−px) dx.
    def grad_of(f):
        return jax.grad(lambda p: quad(f, 0.0, 1.0, (p,), epsrel=1e-11)[0])

    grad_of(lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x))(2.0)  # the loop's programs, once
    compiled = quad_module._quad_compiled._cache_size()
    f = lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x) + 0 * jnp.sin(x)  # noqa: E731
    with count_compiles() as n:
        g = grad_of(f)(3.0)
    assert n["compile"] <= 3  # the joint integrand at the nodes, and small eager operations
    assert quad_module._quad_compiled._cache_size() == compiled
    exact = -float(mp.quad(lambda x: mp.sqrt(x) * mp.exp(-3 * x), [0, 1]))
    assert float(g) == pytest.approx(exact, rel=1e-10)
    assert float(g) == float(jax.jit(grad_of(f))(3.0))
    with count_compiles() as n:
        _, t = jax.jvp(lambda p: quad(f, 0.0, 1.0, (p,), epsrel=1e-11)[0], (3.0,), (1.0,))
    assert n["compile"] <= 3 and quad_module._quad_compiled._cache_size() == compiled
    assert float(t) == float(g)


def test_inside_a_trace_the_loop_is_compiled_whole():
    # Under jit, grad and vmap the loop is part of the program being built; the
    # derivative is the usual rule's (d/dp of the first case's integral: -2 ∫ x^p ln²x).
    g = jax.grad(lambda p: quad(lambda x, p: x**p * jnp.log(1 / x), 0.0, 1.0, (p,), epsrel=1e-11)[0])(-0.5)
    assert float(g) == pytest.approx(-16.0, rel=1e-9)


# (weight options, integrand, closed form of ∫₀¹ f(x) w(x) dx). Cauchy: ⨍₀¹ eˣ/(x − ½) dx =
# e^½ (Ei(½) − Ei(−½)); algebraic: ∫₀¹ x^(−½) dx·1 = 2 with f = 1 + 0·x, and the
# logarithmic weight ∫₀¹ x^(−½) ln x dx = −4; cosine with a breakpoint: ∫₀¹ x cos 3x dx.
_WEIGHTED = [
    (dict(weight="cauchy", wvar=0.5), lambda x: jnp.exp(x),
     float(mp.e**0.5 * (mp.ei(0.5) - mp.ei(-0.5)))),
    (dict(weight="alg", wvar=(-0.5, 0.0)), lambda x: 1.0 + 0.0 * x, 2.0),
    (dict(weight="alg-loga", wvar=(-0.5, 0.0)), lambda x: 1.0 + 0.0 * x, -4.0),
    (dict(weight="cos", wvar=3.0, points=[0.5]), lambda x: x, (3 * math.sin(3) + math.cos(3) - 1) / 9),
]


@pytest.mark.parametrize("case", range(len(_WEIGHTED)))
def test_weighted_eager_call_compiles_no_loop_and_is_the_compiled_result(case):
    options, f, exact = _WEIGHTED[case]
    quad(f, 0.0, 1.0, **options)  # the loop's programs and the checks, once
    compiled = quad_module._quad_compiled._cache_size()
    g = lambda x: f(x) + 0 * jnp.sin(x)  # noqa: E731  (a new integrand)
    with count_compiles() as n:
        v, info = quad(g, 0.0, 1.0, epsrel=1e-11, **options)
    assert n["compile"] <= 2  # g at the nodes, and the weight's own work on g
    assert quad_module._quad_compiled._cache_size() == compiled
    assert bool(info.converged) and float(v) == pytest.approx(exact, rel=1e-10)
    vj, infoj = jax.jit(lambda: quad(g, 0.0, 1.0, epsrel=1e-11, **options))()
    assert float(v) == float(vj) and float(info.err) == float(infoj.err)
    assert int(info.neval) == int(infoj.neval) and info.status == infoj.status
    with count_compiles() as n:  # and the next call compiles nothing
        quad(g, 0.0, 1.0, epsrel=1e-11, **options)
    assert n == {"compile": 0, "trace": 0}


# cubature from eager code: (integrand, a, b, args, options, closed form or None).
_BOXES = [
    # ∫ over [−1, 1]³ of e^(−‖x − p‖²) = (√π/2)³ Π (erf(1 − p) + erf(1 + p))
    (lambda x, p: jnp.exp(-jnp.sum((x - p) ** 2)), -np.ones(3), np.ones(3), (0.2,), dict(epsrel=1e-9),
     (math.sqrt(math.pi) / 2 * (math.erf(0.8) + math.erf(1.2))) ** 3),
    # an infinite box: ∫ over ℝ × [0, ∞) of e^(−‖x‖²) = π/2
    (lambda x: jnp.exp(-jnp.sum(x**2)), np.array([-np.inf, 0.0]), np.array([np.inf, np.inf]), (), {}, math.pi / 2),
    # reversed in one coordinate, vector-valued: −∫₀¹ cos x dx ∫₀² y dy, −∫∫ sin x
    (lambda x: jnp.stack([jnp.cos(x[0]) * x[1], jnp.sin(x[0])]), np.array([1.0, 0.0]), np.array([0.0, 2.0]), (), {},
     np.array([-2 * math.sin(1.0), -2 * (1 - math.cos(1.0))])),
    # too small a limit: the status says so
    (lambda x: jnp.sum(jnp.abs(x - 0.3)) ** -0.5, np.zeros(2), np.ones(2), (), dict(limit=30), None),
]


@pytest.mark.parametrize("case", range(len(_BOXES)))
def test_eager_cubature_is_the_compiled_loops(case):
    from jaxgrad.integrate import cubature
    from jaxgrad.integrate import _cubature as cubature_module

    f, a, b, args, options, exact = _BOXES[case]
    cubature(lambda x, *args: f(x, *args) * 2, a, b, args, **options)  # the loop's programs, once
    compiled = cubature_module._cubature_compiled._cache_size()
    with count_compiles() as n:
        v, info = cubature(f, a, b, args, **options)
    assert n["compile"] == 2  # f at the whole box's nodes, and at a pass's boxes' (another shape)
    assert cubature_module._cubature_compiled._cache_size() == compiled  # no whole-loop program
    # The same boxes as under `jax.jit`: the same evaluations and status, the same value
    # to rounding. (The error estimate, a difference of two rules summed over the
    # boxes, can differ in its later digits: the two programs may accumulate the rules'
    # sums in another order; 9.941969e-11 against 9.941981e-11 in the third case.)
    vj, infoj = jax.jit(lambda: cubature(f, a, b, args, **options))()
    np.testing.assert_allclose(np.asarray(v), np.asarray(vj), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(info.err), np.asarray(infoj.err), rtol=1e-4)
    assert int(info.neval) == int(infoj.neval) and info.status == infoj.status
    if exact is None:
        assert not bool(info.converged)
    else:
        assert bool(info.converged)
        np.testing.assert_allclose(np.asarray(v), exact, rtol=1e-8)


def test_eager_cubature_gradient_runs_its_loops_pass_by_pass():
    # ∂/∂(p, a, b) of ∫ over [a, b] ⊂ ℝ² of e^(−‖x − p‖²) = Π (√π/2)(erf(bᵢ − p) − erf(aᵢ − p)),
    # from eager code: the parameter's joint integrand and the faces' integrand run
    # through loops driven pass by pass, no whole-loop program per integrand.
    from jaxgrad.integrate import cubature
    from jaxgrad.integrate import _cubature as cubature_module

    def closed(p, a, b):
        return jnp.prod(jnp.sqrt(jnp.pi) / 2 * (jax.scipy.special.erf(b - p) - jax.scipy.special.erf(a - p)))

    def grad_of(f):
        return jax.grad(lambda p, a, b: cubature(f, a, b, (p,), epsrel=1e-10)[0], argnums=(0, 1, 2))

    a, b = jnp.array([-1.0, -0.5]), jnp.array([1.0, 0.8])
    grad_of(lambda x, p: jnp.exp(-jnp.sum((x - p) ** 2)) * 2)(0.3, a, b)  # the loops' programs, once
    compiled = cubature_module._cubature_compiled._cache_size()
    f = lambda x, p: jnp.exp(-jnp.sum((x - p) ** 2))  # noqa: E731
    with count_compiles() as n:
        g = grad_of(f)(0.3, a, b)
    assert cubature_module._cubature_compiled._cache_size() == compiled
    assert n["compile"] <= 4  # the joint and the faces' integrands at the nodes (3 measured)
    exact = jax.grad(closed, argnums=(0, 1, 2))(0.3, a, b)
    gj = jax.jit(grad_of(f))(0.3, a, b)
    for got, ref, jitted in zip(g, exact, gj):
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-9)
        np.testing.assert_allclose(np.asarray(got), np.asarray(jitted), rtol=1e-13)


# quadosc from eager code: (integrand, a, b, args, options, closed form, its tolerance,
# how the half periods that the first pass leaves unfinished are resumed).
_OSCILLATORY = [
    # ∫₀^∞ cos(pt)/(1 + t²) dt = (π/2) e^(−p): every half period done in the first pass
    (lambda t, p: jnp.cos(p * t) / (1 + t * t), 0.0, math.inf, (1.5,), dict(period=2 * math.pi / 1.5),
     math.pi / 2 * math.exp(-1.5), 1e-10, None),
    # ∫₀^∞ cos t / √t dt = √(π/2): the first half period, singular at 0, resumed alone
    (lambda t: jnp.cos(t) / jnp.sqrt(t), 0.0, math.inf, (), dict(period=2 * math.pi), math.sqrt(math.pi / 2), 1e-8,
     "alone"),
    # the same at epsrel 1e-12: every half period resumed, side by side
    (lambda t: jnp.cos(t) / jnp.sqrt(t), 0.0, math.inf, (), dict(period=2 * math.pi, epsrel=1e-12, epsabs=0.0),
     math.sqrt(math.pi / 2), 1e-12, "lockstep"),
    # ∫_{−∞}^{−1} sin t / t dt = π/2 − Si(1), vector-valued (twice, once negated)
    (lambda t: jnp.stack([jnp.sin(t) / t, -jnp.sin(t) / t]), -math.inf, -1.0, (), dict(period=2 * math.pi, cycles=30),
     float(mp.pi / 2 - mp.si(1)) * np.array([1.0, -1.0]), 1e-10, None),
]


@pytest.mark.parametrize("case", range(len(_OSCILLATORY)))
def test_eager_quadosc_integrates_its_half_periods_side_by_side(case, monkeypatch):
    from jaxgrad.integrate import _eager_loop
    from jaxgrad.integrate import _quadosc as quadosc_module
    from jaxgrad.integrate import quadosc

    f, a, b, args, options, exact, rtol, resumed = _OSCILLATORY[case]
    quadosc(f, a, b, args, **options)  # the programs of this configuration, once
    compiled = quadosc_module._quadosc._cache_size()
    routes = []
    for name in ("run", "_in_lockstep"):
        monkeypatch.setattr(_eager_loop, name, lambda *x, _f=getattr(_eager_loop, name), _n=name, **k: (
            routes.append(_n), _f(*x, **k))[1])
    g = lambda t, *p: f(t, *p) + 0 * jnp.sin(t)  # noqa: E731  (a new integrand)
    with count_compiles() as n:
        v, info = quadosc(g, a, b, args, **options)
    # g at the first pass's nodes, at those of the resumed passes, at the envelope's samples
    assert n["compile"] <= (2 if resumed is None else 3)
    assert quadosc_module._quadosc._cache_size() == compiled  # no whole program
    assert {None: [], "alone": ["run"], "lockstep": ["_in_lockstep"]}[resumed] == sorted(set(routes))
    assert bool(info.converged)
    np.testing.assert_allclose(np.asarray(v), exact, rtol=rtol)
    # The same as the whole program under `jax.jit`, where the half periods are
    # integrated by `quad` under `vmap` (the first pass of all, then the unfinished ones
    # again, alone), up to rounding: the same evaluations, value and status.
    finite = a if math.isfinite(a) else b
    vj, infoj = jax.jit(lambda s: quadosc(g, s if math.isfinite(a) else a, b if math.isfinite(a) else s, args,
                                          **options))(finite)
    np.testing.assert_allclose(np.asarray(v), np.asarray(vj), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(info.err), np.asarray(infoj.err), rtol=1e-3)
    assert info.status == infoj.status and int(info.neval) == int(infoj.neval)
    with count_compiles() as n:  # and the next call compiles nothing
        quadosc(g, a, b, args, **options)
    assert n == {"compile": 0, "trace": 0}
