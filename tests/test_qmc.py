"""jaxgrad.integrate.qmc_quad: lattice construction, values and derivatives at d = 10 and 50.

References: closed forms (the Gaussian product ∏ᵢ ∫ exp(−cᵢ(xᵢ − pᵢ)²) dxᵢ, whose value and
derivatives in p, a and b are products of erf's and exponentials, written out by hand
below), the plain O(n²) component-by-component search for the fast one, and central
differences with Richardson extrapolation of the estimator itself (its derivative is exact,
so it must agree to rounding). The value checks are statistical but deterministic (fixed
keys): the error must be within a few reported standard errors.

Cheap by design: every compiled program is shared at module level and computes many numbers.
"""

from __future__ import annotations

import doctest
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import monitoring
from scipy.special import erf

from jaxgrad.integrate import QMC_STATUS, QMCInfo, qmc_quad
from jaxgrad.integrate import _lattice, _qmc


# ----------------------------------------------------------------- closed forms
def gauss(x, c, p):
    return jnp.exp(-jnp.sum(c * (x - p) ** 2))


def factors(c, p, a, b):
    """Per-coordinate F = ∫_a^b e^{−c(x−p)²}, and F' in p, a, b, F'' in p."""
    sc = np.sqrt(c)
    ea, eb = np.exp(-c * (a - p) ** 2), np.exp(-c * (b - p) ** 2)
    f = np.sqrt(np.pi) / (2 * sc) * (erf(sc * (b - p)) - erf(sc * (a - p)))
    return f, ea - eb, -ea, eb, 2 * c * ((a - p) * ea - (b - p) * eb)


def closed_form(c, p, a, b):
    """I, ∇_p I, ∇_a I, ∇_b I and the Hessian in p of I = ∏ F."""
    f, fp, fa, fb, fpp = factors(c, p, a, b)
    value = np.prod(f)
    hess = value * np.outer(fp / f, fp / f)
    np.fill_diagonal(hess, value * fpp / f)
    return value, value * fp / f, value * fa / f, value * fb / f, hess


RNG = np.random.default_rng(12)
D10 = dict(c=RNG.uniform(0.5, 1.5, 10), p=RNG.uniform(0.1, 0.6, 10), a=RNG.uniform(-0.5, 0.0, 10),
           b=RNG.uniform(0.5, 1.0, 10))
D50 = dict(c=RNG.uniform(0.1, 0.3, 50), p=RNG.uniform(0.2, 0.8, 50), a=np.zeros(50), b=np.ones(50))
V10 = RNG.standard_normal(10)  # a direction for the forward-mode and second derivatives


def _q(c, p, a, b, n, key=0):
    return qmc_quad(gauss, a, b, (c, p), n_points=n, key=key)


@jax.jit
def _battery(c10, p10, a10, b10, c50, p50, a50, b50):
    """Values and derivatives at d = 10 (2¹² points) and d = 50 (2¹⁰): one compiled program."""
    out = {}
    q10 = lambda p, a, b: _q(c10, p, a, b, 4096)  # noqa: E731
    (v, info), grads = jax.value_and_grad(q10, argnums=(0, 1, 2), has_aux=True)(p10, a10, b10)
    out.update(v10=v, err10=info.err, neval10=info.neval, n10=info.n_points, ok10=info.converged)
    out["grad10"] = grads
    # Along the line p + s·V10: forward mode, reverse mode and its forward derivative (the
    # second derivative), and the estimator at four points for central differences.
    line = lambda s: q10(p10 + s * V10, a10, b10)[0]  # noqa: E731
    steps = jnp.array([-2 * H, -H, 0.0, H, 2 * H])
    out["line10"], tangents = jax.jvp(jax.vmap(line), (steps,), (jnp.ones(5),))
    out["jvp10"] = tangents[2]
    out["rev10"], out["d2_10"] = jax.jvp(jax.grad(line), (0.0,), (1.0,))
    q50 = lambda p: _q(c50, p, a50, b50, 1024)  # noqa: E731
    (v, info), out["grad50"] = jax.value_and_grad(q50, has_aux=True)(p50)
    out.update(v50=v, err50=info.err)
    return out


H = 2e-3  # step of the central differences


@pytest.fixture(scope="module")
def battery():
    return jax.tree.map(np.asarray, _battery(*(D10[k] for k in "cpab"), *(D50[k] for k in "cpab")))


def test_values_at_d10_and_d50_within_the_standard_error(battery):
    for d, case, tol in ((10, D10, 1e-4), (50, D50, 1e-3)):
        exact = closed_form(**case)[0]
        value, err = battery[f"v{d}"], battery[f"err{d}"]
        assert abs(value - exact) <= 4 * err, (d, value, exact, err)
        assert err <= tol * exact, (d, err)  # the lattice rule is far better than Monte Carlo
    assert battery["n10"] == 4096 and battery["neval10"] == 8 * 4096 and battery["ok10"]


def test_gradients_match_closed_forms(battery):
    _, gp, ga, gb, hess = closed_form(**D10)
    for got, want in zip(battery["grad10"], (gp, ga, gb)):
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.max(np.abs(want)))
    scale = np.linalg.norm(V10)  # the directional derivatives, relative to the derivatives' size
    np.testing.assert_allclose(battery["jvp10"], gp @ V10, atol=2e-4 * np.linalg.norm(gp) * scale)
    np.testing.assert_allclose(battery["d2_10"], V10 @ hess @ V10, atol=2e-3 * np.linalg.norm(hess) * scale**2)
    gp = closed_form(**D50)[1]
    np.testing.assert_allclose(battery["grad50"], gp, rtol=0, atol=5e-3 * np.max(np.abs(gp)))


def test_derivative_is_the_exact_derivative_of_the_estimator(battery):
    # Same points and shifts at every p: the estimator is a smooth function of p, and its
    # derivative agrees with the forward-mode and reverse-mode tangents to rounding.
    fm2, fm1, _, f1, f2 = battery["line10"]
    d1 = (f1 - fm1) / (2 * H)
    d2 = (f2 - fm2) / (4 * H)
    richardson = (4 * d1 - d2) / 3  # error O(H⁴)
    np.testing.assert_allclose(richardson, battery["jvp10"], rtol=1e-8)
    np.testing.assert_allclose(battery["rev10"], battery["jvp10"], rtol=1e-12)
    np.testing.assert_allclose(battery["grad10"][0] @ V10, battery["jvp10"], rtol=1e-12)


# ----------------------------------------------------------------- limits, statuses, batching
INF = np.inf
# (a, b) in d = 3, batched: [0, ∞)³, ℝ³, a box with one reversed coordinate, two boxes, NaN.
BOXES_A = np.array([[0.0, 0, 0], [-INF, -INF, -INF], [1.0, 1, 0], [0.0, 0, 0], [0.0, np.nan, 0]])
BOXES_B = np.array([[INF, INF, INF], [INF, INF, INF], [0.0, 2, 1], [0.5, 1, 2], [1.0, 1, 1]])


@jax.jit
def _cases(p):
    """Infinite, reversed and NaN limits under vmap with their gradients; a tolerance met and
    one not met; non-finite values; a vector-valued integrand."""
    d3 = lambda a, b, n=1024, **kw: qmc_quad(gauss, a, b, (1.0, p), n_points=n, **kw)  # noqa: E731
    z = jnp.zeros(3)

    def boxes(a, b):
        value, info = jax.vmap(lambda a, b: d3(a, b, 4096))(a, b)
        return jnp.sum(value), (value, info)

    out = {}
    (_, (out["boxes"], info)), out["boxes_grad"] = jax.value_and_grad(boxes, (0, 1), has_aux=True)(BOXES_A, BOXES_B)
    out["boxes_err"], out["nan_status"] = info.err, info.status == QMC_STATUS.nan_limits
    v, info = d3(z, jnp.ones(3), 64, epsrel=1e-7, max_points=1 << 14)
    out.update(tol=v, tol_err=info.err, tol_n=info.n_points, tol_neval=info.neval, tol_ok=info.converged)
    v, info = d3(z, jnp.ones(3), 64, epsrel=1e-12, max_points=256)
    out.update(fail_err=info.err, fail_n=info.n_points, fail=info.status == QMC_STATUS.max_points)
    # A tangent whose other derivative columns are zero by symmetry (p₁ = p₂ = 1/2): with
    # a tolerance of epsrel·|0| they ended `roundoff` (outside probe); now each is judged on
    # a thousandth of the mean of |∂f/∂p|.
    sym = lambda q: qmc_quad(gauss, z, jnp.ones(3), (1.0, q), n_points=64, epsrel=1e-5, max_points=1 << 16)  # noqa: E731
    (_, info), (out["sym_dv"], _) = jax.jvp(sym, (jnp.array([0.3, 0.5, 0.5]),), (jnp.array([1.0, 0.0, 0.0]),))
    out["sym_ok"], out["sym_err"] = info.converged, info.err
    # The derivative's standard error: qmc_quad of ∂f/∂p with the same key and n is the same
    # estimate as jax.grad of the estimator (same points and shifts), and comes with its SE.
    pvec = jnp.array([0.2, 0.4, 0.6])
    out["grad_p"] = jax.grad(lambda p: qmc_quad(gauss, z, jnp.ones(3), (1.0, p), n_points=256)[0])(pvec)
    dp, info = qmc_quad(jax.jacrev(gauss, 2), z, jnp.ones(3), (1.0, pvec), n_points=256)
    out["dp"], out["dp_err"] = dp, info.err
    # A vector-valued integrand with a component that is NaN on half the box, and one near
    # 1e170, whose squared estimates overflowed: its standard error was inf (outside probe).
    vec = qmc_quad(lambda x: jnp.stack([x[0], x[1] * x[2], jnp.log(x[0] - 0.5), 1e170 * x[0]]), z, jnp.ones(3),
                   n_points=64)
    out["vector"], out["vector_err"] = vec[0], vec[1].err
    out["nonfinite"] = vec[1].status == QMC_STATUS.nonfinite
    return out


@pytest.fixture(scope="module")
def cases():
    return jax.tree.map(np.asarray, _cases(np.zeros(3)))


def _f1(a, b):  # ∫_a^b e^{−x²}
    return np.sqrt(np.pi) / 2 * (erf(b) - erf(a))


def test_infinite_reversed_and_batched_limits(cases):
    value, err = cases["boxes"], cases["boxes_err"]
    half, whole = (np.sqrt(np.pi) / 2) ** 3, np.sqrt(np.pi) ** 3
    # [1, 0] × [1, 2] × [0, 1]: one coordinate reversed, so minus the integral over the box.
    want = [half, whole, -_f1(0, 1) * _f1(1, 2) * _f1(0, 1), _f1(0, 0.5) * _f1(0, 1) * _f1(0, 2)]
    for i, (w, rel) in enumerate(zip(want, (1e-4, 1e-3, 1e-4, 1e-4))):
        assert abs(value[i] - w) <= 4 * err[i] and err[i] <= rel * abs(w), (i, value[i], w, err[i])
    ga, gb = cases["boxes_grad"]
    # ∂/∂aᵢ of ∫ over [a, ∞)³ at a = 0 is −f(0)·(√π/2)², through the map s(a) and x = s/(1 − s²);
    # the derivative in an infinite limit is 0.
    np.testing.assert_allclose(ga[0], -(np.sqrt(np.pi) / 2) ** 2 * np.ones(3), rtol=1e-3)
    assert np.all(gb[:2] == 0) and np.all(ga[1] == 0)
    # A finite box: ∂/∂bᵢ = e^{−bᵢ²} ∏_{j≠i} ∫, the closed form.
    f, _, fa, fb, _ = factors(np.ones(3), np.zeros(3), BOXES_A[3], BOXES_B[3])
    np.testing.assert_allclose(gb[3], np.prod(f) * fb / f, rtol=1e-3)
    np.testing.assert_allclose(ga[3], np.prod(f) * fa / f, rtol=1e-3)


def test_nan_limits_nonfinite_values_and_statuses(cases):
    assert np.isnan(cases["boxes"][4]) and list(cases["nan_status"]) == [False] * 4 + [True]
    assert np.all(np.isnan(cases["boxes_grad"][0][4])) and np.all(np.isnan(cases["boxes_grad"][1][4]))
    assert np.all(np.isfinite(cases["boxes_grad"][0][:4]))
    assert cases["nonfinite"]
    exact = _f1(0, 1) ** 3
    assert cases["tol_ok"] and cases["tol_err"] <= 1e-7 * cases["tol"] and 64 < cases["tol_n"] <= 1 << 14
    assert cases["tol_neval"] == 8 * cases["tol_n"]
    assert abs(cases["tol"] - exact) <= 4 * cases["tol_err"]
    assert cases["fail"] and cases["fail_n"] == 256 and cases["fail_err"] > 1e-12 * exact
    assert cases["sym_ok"]
    f, fp, _, _, _ = factors(np.ones(3), np.array([0.3, 0.5, 0.5]), np.zeros(3), np.ones(3))
    np.testing.assert_allclose(cases["sym_dv"], np.prod(f) * fp[0] / f[0], rtol=1e-4)


def test_derivative_standard_error_from_the_same_randomizations(cases):
    np.testing.assert_allclose(cases["grad_p"], cases["dp"], rtol=1e-13)
    f, fp, _, _, _ = factors(np.ones(3), np.array([0.2, 0.4, 0.6]), np.zeros(3), np.ones(3))
    want = np.prod(f) * fp / f
    assert np.all(np.abs(cases["dp"] - want) <= 4 * cases["dp_err"]), (cases["dp"], want, cases["dp_err"])


def test_vector_valued(cases):
    np.testing.assert_allclose(cases["vector"][:2], [0.5, 0.25], atol=4 * cases["vector_err"][:2].max() + 1e-12)
    assert cases["vector_err"].shape == (4,) and np.isnan(cases["vector"][2])
    # The estimates scaled by 1e170: the same relative standard error (to rounding: both are
    # at the sums' rounding floor here), finite.
    np.testing.assert_allclose(cases["vector_err"][3] / 1e170, cases["vector_err"][0], rtol=0.1)
    assert abs(cases["vector"][3] / 1e170 - 0.5) <= 4 * cases["vector_err"][0]


def test_volumes_beyond_the_range_of_floats():
    # The box's volume was one product: 1e-309 for sides of 1e-103 (flushed to 0: f near
    # 1e300 over it integrated to 0, `converged`) and 1e309 for sides of 1e103 (f near
    # 1e-300 gave inf, `nonfinite`); outside probe. ∫ c(1 + x₀/s) over [0, s]³ = 1.5·c·s³.
    f = lambda x, c, s: c * (1 + x[0] / s)  # noqa: E731
    for c, s in ((1e300, 1e-103), (1e-300, 1e103)):
        value, info = qmc_quad(f, jnp.zeros(3), jnp.full(3, s), (c, s), n_points=64)
        assert info.status == QMC_STATUS.converged
        np.testing.assert_allclose(value, 1.5 * c * s * s * s, rtol=1e-3)


# ----------------------------------------------------------------- the lattice
def test_fast_cbc_equals_the_plain_search():
    # For every candidate z = 5ᵇ mod 2ᴹ and every size 2ᵐ: the FFT-based criterion equals the
    # plain O(n d) sum e²ₙ(z₁, …, zⱼ₋₁, z), at each step of the construction.
    big_m, d = 7, 5
    state = _lattice._Embedded(2, big_m)
    for j in range(1, d + 1):
        if j > 1:
            errs = state._criteria(_lattice.weight(j))
            for b in range(1 << (big_m - 2)):
                z = state.z + [int(state.pow5[b])]
                for m in range(big_m + 1):
                    plain = _lattice.shift_averaged_error(z, 1 << m)
                    fast = errs[m][b % errs[m].size]
                    assert abs(fast - plain) <= 1e-10 * max(1.0, abs(plain)), (j, b, m)
        state.extend(j)


def test_lattice_sequence_is_embedded_and_better_than_random():
    big_m, d = 8, 6
    z = _lattice.generating_vector(d, 4, big_m)
    block = jax.jit(_qmc._lattice_block, static_argnums=(1, 3, 4))  # one compilation
    pts = np.asarray(block(z.astype(np.uint32), big_m, 0, 1 << big_m, jnp.float64))
    for m in (4, 6, 8):
        n = 1 << m
        want = (np.arange(n)[:, None] * z % n) / n
        assert sorted(map(tuple, pts[:n])) == sorted(map(tuple, want))
        e = _lattice.shift_averaged_error(z, n)
        random = [_lattice.shift_averaged_error(RNG.integers(0, n // 2, d) * 2 + 1, n) for _ in range(20)]
        # Better than a typical random vector at every size, better than all 20 at the largest
        # (the embedded criterion trades a little at the small sizes for all of them).
        assert e <= np.median(random) and (m < big_m or e <= min(random)), (m, e, min(random))
    # The first d components do not depend on how many follow.
    np.testing.assert_array_equal(_lattice.generating_vector(d + 3, 4, big_m)[:d], z)


# ----------------------------------------------------------------- input checks, cache, docs
def test_bad_input_raises():
    f, z = (lambda x: x[0]), jnp.zeros(2)
    with pytest.raises(TypeError, match="callable"):
        qmc_quad(1.0, z, z + 1)
    with pytest.raises(ValueError, match="`a` must be a 1-D"):
        qmc_quad(f, 0.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        qmc_quad(f, z, jnp.ones(3))
    with pytest.raises(ValueError, match="n_points"):
        qmc_quad(f, z, z + 1, n_points=1000)
    with pytest.raises(ValueError, match="must be at least `n_points`"):
        qmc_quad(f, z, z + 1, n_points=1024, max_points=512, epsrel=1e-3)
    # Without a tolerance `max_points` was used as the number of points (the docs say
    # `n_points`; outside probe): now an error.
    with pytest.raises(ValueError, match="without `epsabs` or `epsrel`"):
        qmc_quad(f, z, z + 1, n_points=256, max_points=4096)
    with pytest.raises(ValueError, match="n_estimates"):
        qmc_quad(f, z, z + 1, n_estimates=1)
    with pytest.raises(ValueError, match="epsrel"):
        qmc_quad(f, z, z + 1, epsrel=-1.0)
    with pytest.raises(TypeError, match="key"):
        qmc_quad(f, z, z + 1, key="seed")
    with pytest.raises(ValueError, match="fit in 64 bits"):  # was JAX's OverflowError (outside probe)
        qmc_quad(f, z, z + 1, key=2**70)
    # f returning a string: "object of type 'NoneType' has no len()" (outside probe).
    with pytest.raises(TypeError, match="returned a value of type str, not an array"):
        qmc_quad(lambda x: "a", z, z + 1)
    with pytest.raises(TypeError, match="real"):
        qmc_quad(lambda x: 1j * x[0], z, z + 1)
    with pytest.raises(TypeError, match="shape"):
        qmc_quad(lambda x: x @ jnp.ones(3), z, z + 1)
    with pytest.raises(IndexError, match="one point"):  # scipy's batch of points (outside probe)
        qmc_quad(lambda x: x[:, 0], z, z + 1)
    with pytest.raises(TypeError, match="one point"):  # JAX's own TypeError subclass (a review)
        qmc_quad(lambda x: x[0] if x[0] > 0.5 else x[1], z, z + 1)
    # A traced tolerance decides nothing at compile time: said so (it was refused as
    # "must be a real number"; outside probe). (Raised before anything is traced.)
    with pytest.raises(TypeError, match="not a traced value"):
        jax.jit(lambda r: qmc_quad(f, z, z + 1, epsrel=r)[0])(1e-3)


_COMPILE = "/jax/core/compile/backend_compile_duration"
_events: list[str] = []
monitoring.register_event_duration_secs_listener(lambda name, *_, **__: _events.append(name))


def test_docstring_examples_and_second_call_is_cached(float32_default):
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    namespace = {}
    for test in doctest.DocTestFinder().find(_qmc):
        test.globs = namespace  # kept after the run, to call the example's integrand again
        runner.run(test, clear_globs=False)
    assert runner.tries > 0 and runner.failures == 0
    # The example's first call again with new limits and parameter of the same types: the
    # compiled program is reused (the check of tests/test_cache.py).
    f, a, b = namespace["f"], jnp.zeros(10) - 0.5, jnp.zeros(10) + 0.5  # float32, not weakly typed
    _events.clear()
    value, info = qmc_quad(f, a, b, (0.0,), n_points=4096)
    assert _COMPILE not in _events
    assert isinstance(info, QMCInfo) and abs(float(value) - 0.446638) < 1e-4  # (√π erf(1/2))^10 again


def test_float32_tolerance_below_rounding_is_roundoff_not_converged(float32_default):
    # At d = 1 the randomizations' float32 estimates agree to the last bit (spread 0)
    # while all are a few ulps off: the error estimate must include the sums' rounding,
    # and a tolerance below it is reported, not "met".
    f = lambda x: jnp.exp(-jnp.sum((x - 0.3) ** 2))  # noqa: E731
    value, info = qmc_quad(f, jnp.zeros(1), jnp.ones(1), epsrel=1e-9)
    exact = math.sqrt(math.pi) / 2 * (math.erf(0.7) + math.erf(0.3))
    assert info.status == QMC_STATUS.roundoff
    assert float(info.err) >= abs(float(value) - exact) > 0
