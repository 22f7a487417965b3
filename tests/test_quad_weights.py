"""`quad` with scipy's weight functions and complex integrands (issue #10, item 2).

References are closed forms evaluated with mpmath (exponential integrals, Beta and
confluent hypergeometric functions) and mpmath's own derivatives of them; scipy's
QUADPACK is only used to show that the spelling and the values carry over.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.integrate

from jaxgrad.integrate import STATUS, quad

mp.mp.dps = 30
TIGHT = dict(epsrel=1e-12, epsabs=0.0)


def _close(got, ref, rtol):
    got, ref = float(got), float(ref)
    assert abs(got - ref) <= rtol * max(1.0, abs(ref)), (got, ref)


# --------------------------------------------------------------------------- Cauchy


def _pv_closed(p, a, b, c):
    # ⨍ₐᵇ e^{px}/(x − c) dx = e^{pc} (Ei(p(b − c)) − Ei(p(a − c))), principal value.
    return mp.exp(p * c) * (mp.ei(p * (b - c)) - mp.ei(p * (a - c)))


def _pv(p, a, b, c):
    return quad(lambda x, p: jnp.exp(p * x), a, b, (p,), weight="cauchy", wvar=c, **TIGHT)[0]


# (p, c): c = 0.5 is a Gauss–Kronrod node and 0.25 a bisection point; -0.5 lies outside
# [0, 1], 1 + 1e-9 just outside; at c = 3 with p = 20, f(c) = e^60 is 1e17 times the
# integral (subtracting it lost everything: 360 times off, "converged").
POLES = [(0.7, 0.3), (0.7, 0.5), (0.7, 0.25), (0.7, 1 / 3), (0.7, 0.999), (0.7, -0.5), (3.0, 1 + 1e-9), (20.0, 3.0)]


@jax.jit
def _pv_derivatives(p, c):
    z = jnp.stack([p, jnp.asarray(0.0), jnp.asarray(1.0), c])  # (p, a, b, c)
    f = lambda z: _pv(*z)  # noqa: E731
    # forward mode: along the pole, and the second derivative forward over reverse
    d1c = jax.jvp(lambda c: _pv(p, 0.0, 1.0, c), (c,), (jnp.ones_like(c),))[1]
    d2c = jax.jacfwd(jax.grad(lambda c: _pv(p, 0.0, 1.0, c)))(c)
    # The value from the derivatives' loop (one loop; `f(z)` beside `grad(f)(z)` would
    # compile the value's own loop as well: plain values are checked below under vmap
    # and in the tests that follow).
    return (*jax.value_and_grad(f)(z), d1c, d2c)


def test_cauchy_principal_value_and_its_derivatives():
    for p, c in POLES:
        value, g_rev, d1c, d2c = _pv_derivatives(p, c)
        zm = [mp.mpf(p), mp.mpf(0), mp.mpf(1), mp.mpf(c)]
        _close(value, _pv_closed(*zm), 1e-12)
        for i in range(4):
            order = [0] * 4
            order[i] = 1
            _close(g_rev[i], mp.diff(_pv_closed, zm, order), 1e-10)
        _close(d1c, mp.diff(_pv_closed, zm, (0, 0, 0, 1)), 1e-10)
        _close(d2c, mp.diff(_pv_closed, zm, (0, 0, 0, 2)), 1e-8)
    # and under vmap over the pole (quad's batching rule), values only
    values = jax.vmap(lambda c: _pv(0.7, 0.0, 1.0, c))(jnp.asarray([c for _, c in POLES[:3]]))
    for v, (_, c) in zip(values, POLES[:3]):
        _close(v, _pv_closed(mp.mpf(0.7), 0, 1, mp.mpf(c)), 1e-12)


def test_cauchy_pole_far_outside_keeps_relative_accuracy():
    # Found by an outside probe: for c far outside [0, 1] the closed-form part's
    # ln|(b − c)/(a − c)| lost eps·|c| of itself (c = 1e10: 1.3e-7 relative, "converged"),
    # and the c-derivative's three terms cancelled (1300× off, the wrong sign). Here the
    # integrals are regular: ⨍ e^{px}/(x − c), d/dc = ∫ e^{px}/(x − c)², d²/dc² = 2∫ e^{px}/(x − c)³,
    # judged relative to their own (small) size.
    for c in (1e6, 1e10, -1e8):
        value, g_rev, d1c, d2c = _pv_derivatives(0.7, c)
        ref = [k * mp.quad(lambda x: mp.exp(0.7 * x) / (x - c) ** j, [0, 1]) for j, k in ((1, 1), (2, 1), (3, 2))]
        for got, want, rtol in ((value, ref[0], 1e-12), (d1c, ref[1], 1e-10), (g_rev[3], ref[1], 1e-10), (d2c, ref[2], 1e-8)):
            assert abs(float(got) - float(want)) <= rtol * abs(float(want)), (c, float(got), float(want))


@jax.jit
def _pv_symmetric_derivative(p):
    # ⨍₋₁¹ (eˣ + p x²)/x dx: the p-derivative is ∫₋₁¹ x dx = 0 by symmetry.
    f = lambda x, p: jnp.exp(x) + p * x * x  # noqa: E731
    return jax.value_and_grad(
        lambda p: quad(f, -1.0, 1.0, (p,), weight="cauchy", wvar=0.0, epsabs=0.0, epsrel=1e-8, throw=True)[0]
    )(p)


def test_cauchy_derivative_that_is_zero_by_symmetry_meets_a_relative_tolerance():
    # With epsabs = 0 the derivative column's relative tolerance could not be met by a
    # sum that is 0 up to rounding: the joint loop ended `roundoff` and `throw=True`
    # made `jax.grad` raise, where the value converges. The column is now judged on a
    # thousandth of its mass, as in `quad`'s own rule. The value is 2·Shi(1).
    value, grad = _pv_symmetric_derivative(0.5)
    _close(value, 2 * mp.shi(1), 1e-8)
    assert abs(float(grad)) <= 1e-10


def test_cauchy_pole_outside_where_f_is_undefined():
    # ∫₀¹ √x/(x + 1/2) dx = 2 (1 − √½ atan √2): f(c) = √(−½) was evaluated (NaN).
    value, info = quad(jnp.sqrt, 0.0, 1.0, weight="cauchy", wvar=-0.5, **TIGHT)
    assert bool(info.converged)
    _close(value, 2 * (1 - mp.sqrt(0.5) * mp.atan(mp.sqrt(2))), 1e-12)


@jax.jit
def _sinc_pv_and_end_derivatives(a, b, c):
    """⨍ₐᵇ (sin x / x)/(x − c) dx and its derivatives in a and c: sin x / x is 0/0 at 0."""
    def pv(a, c):
        return quad(lambda x: jnp.sin(x) / x, a, b, weight="cauchy", wvar=c, **TIGHT)

    (value, info), (d_a, _) = jax.jvp(lambda a: pv(a, c), (a,), (jnp.ones_like(a),))
    d_c = jax.jvp(lambda c: pv(a, c)[0], (c,), (jnp.ones_like(c),))[1]
    return value, info.converged, d_a, d_c


def test_cauchy_where_f_is_zero_over_zero_at_an_end_or_at_the_pole():
    # sin x / x is 0/0 at x = 0. At an end (a = 0) the limit terms of the derivatives
    # read f(a) itself: d/da and d/dc were NaN, reported `converged` (outside probe); at
    # the pole (c = 0) the subtracted constant f(c) was NaN, and so was the value. Now
    # f's one-sided limits stand for it there, as in `quad`'s own limit terms.
    # References: the subtracted form in mpmath (30 digits); d/da = −f(0)/(0 − c).
    sinc = lambda x: mp.sin(x) / x if x != 0 else mp.mpf(1)  # noqa: E731

    def pv(a, b, c):
        return mp.quad(lambda x: (sinc(x) - sinc(c)) / (x - c), [a, c, b]) + sinc(c) * mp.log(abs((b - c) / (a - c)))

    with mp.workdps(30):
        value, converged, d_a, d_c = _sinc_pv_and_end_derivatives(0.0, 1.0, 0.3)
        assert bool(converged)
        _close(value, pv(0, 1, mp.mpf(0.3)), 1e-12)
        _close(d_a, 1 / mp.mpf(0.3), 1e-12)
        _close(d_c, mp.diff(lambda c: pv(0, 1, c), mp.mpf(0.3)), 1e-10)
        value, converged, _, _ = _sinc_pv_and_end_derivatives(-1.0, 2.0, 0.0)
        assert bool(converged)
        _close(value, mp.quad(lambda x: (sinc(x) - 1) / x, [-1, 0, 2]) + mp.log(2), 1e-12)


@jax.jit
def _end_derivatives_far_from_zero(a, b, c):
    """d/da and d/db of ∫ₐᵇ cos x dx and of ⨍ₐᵇ cos x/(x − c) dx."""
    plain = jax.grad(lambda a, b: quad(jnp.cos, a, b, **TIGHT)[0], argnums=(0, 1))(a, b)
    pv = jax.grad(lambda a, b: quad(jnp.cos, a, b, weight="cauchy", wvar=c, **TIGHT)[0], argnums=(0, 1))(a, b)
    return plain, pv


def test_end_derivatives_where_the_limit_is_far_above_the_range():
    # The limit terms took f one float inside the range, off by f′ times the float
    # spacing: at b = 1e6 + 1 the derivatives in a and b were 8.7e-11 off, in `quad`
    # and in the Cauchy weight alike (outside review). Closed forms: d/db = f(b)(/(b − c)),
    # d/da = −f(a)(/(a − c)).
    a, b, c = 1e6, 1e6 + 1, 1e6 + 0.5
    (pa, pb), (ca, cb) = _end_derivatives_far_from_zero(a, b, c)
    with mp.workdps(30):
        am, bm, cm = mp.mpf(a), mp.mpf(b), mp.mpf(c)
        want = (-mp.cos(am), mp.cos(bm), -mp.cos(am) / (am - cm), mp.cos(bm) / (bm - cm))
    for got, ref in zip((pa, pb, ca, cb), want):
        assert abs(float(got) - float(ref)) <= 1e-14 * abs(float(ref)), (float(got), float(ref))


@jax.jit
def _floor_end_derivatives(a, b):
    return jax.grad(lambda a, b: quad(jnp.floor, a, b, **TIGHT)[0], argnums=(0, 1))(a, b)


def test_end_derivatives_where_a_jump_lies_a_few_floats_inside():
    # d/db ∫ₐᵇ ⌊x⌋ dx = ⌊b⌋ and d/da = −⌊a⌋ (f is constant between the limit and the
    # jump). With the limit 1–2 floats past a jump of f, the straight line through f one
    # and four floats inside ran back to a value f never takes: 3.33 and −0.67 (outside
    # review).
    b = float(np.nextafter(3.0, 4.0))
    a = float(np.nextafter(np.nextafter(2.0, 0.0), 0.0))
    d_a, d_b = _floor_end_derivatives(a, b)
    assert (float(d_a), float(d_b)) == (-1.0, 3.0)


def test_cauchy_matches_scipy_spelling_and_value():
    ref = scipy.integrate.quad(lambda x: np.exp(0.7 * x), 0.0, 1.0, weight="cauchy", wvar=0.3)[0]
    value, info = quad(lambda x: jnp.exp(0.7 * x), 0.0, 1.0, weight="cauchy", wvar=0.3)
    assert bool(info.converged)
    _close(value, ref, 1e-12)


# ------------------------------------------------------------- algebraic-logarithmic


def _alg_closed(p, a, b, al, be):
    # ∫ₐᵇ (x − a)^α (b − x)^β e^{px} dx = h^(α+β+1) e^{pa} B(α+1, β+1) ₁F₁(α+1; α+β+2; p h).
    h = b - a
    return h ** (al + be + 1) * mp.exp(p * a) * mp.beta(al + 1, be + 1) * mp.hyp1f1(al + 1, al + be + 2, p * h)


def _alg_log_closed(kind, z):
    # The log weights are derivatives of the algebraic one in α (ln(x − a)) and β (ln(b − x)).
    order = {"alg": (0, 0), "alg-loga": (1, 0), "alg-logb": (0, 1), "alg-log": (1, 1)}[kind]
    return mp.diff(_alg_closed, z, (0, 0, 0) + order)


def _alg_full(kind, z):
    p, a, b, al, be = z
    return quad(lambda x, p: jnp.exp(p * x), a, b, (p,), weight=kind, wvar=(al, be), **TIGHT)


def _alg(kind, z):
    return _alg_full(kind, z)[0]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _alg_derivatives(kind, second, z):
    f = functools.partial(_alg, kind)
    # Second order in α (whose derivative brings in ln(x − a), squared here).
    d2 = jax.grad(jax.grad(lambda al: f(z.at[3].set(al))))(z[3]) if second else None
    value, info = _alg_full(kind, z)
    return (value, info.status == STATUS.converged), jax.grad(f)(z), jax.jacfwd(f)(z), d2


Z_ALG = np.array([0.8, 0.2, 1.7, -0.5, 0.3])  # p, a, b, α, β


def _diff(kind, z, order):
    """mpmath central difference of the closed form (the log weights are themselves
    mp.diff of it, so a nested mp.diff would be slow)."""
    with mp.workdps(40):
        h = mp.mpf("1e-9")
        out = mp.mpf(0)
        # Σ over the corners of the ±h box of the directions in `order` (first or second).
        dirs = [i for i, k in enumerate(order) for _ in range(k)]
        for signs in np.ndindex(*(2,) * len(dirs)):
            zz = list(z)
            sign = 1
            for d, s_ in zip(dirs, signs):
                zz[d] += h if s_ == 0 else -h
                sign *= 1 if s_ == 0 else -1
            out += sign * _alg_log_closed(kind, zz)
        return out / (2 * h) ** len(dirs)


@pytest.mark.parametrize("kind", ["alg", "alg-log"])
def test_algebraic_logarithmic_weights_and_derivatives(kind):
    (value, converged), g_rev, g_fwd, d2_alpha = _alg_derivatives(kind, kind == "alg", Z_ALG)
    assert bool(converged)
    zm = [mp.mpf(x) for x in Z_ALG]
    _close(value, _alg_log_closed(kind, zm), 1e-11)
    for i in range(5):
        order = [0] * 5
        order[i] = 1
        ref = _diff(kind, zm, order)
        _close(g_rev[i], ref, 1e-9)
        _close(g_fwd[i], ref, 1e-9)
    if d2_alpha is not None:
        _close(d2_alpha, _diff("alg-loga", zm, [0, 0, 0, 1, 0]), 1e-7)


@pytest.mark.parametrize("kind", ["alg", "alg-log"])
def test_reversed_limits_give_minus_the_integral_as_in_scipy(kind):
    # b < a: −∫ over [b, a] with the weight (x − b)^α (a − x)^β, as scipy.integrate.quad
    # returns it (this gave NaN and `nan_limits`; outside probe). Value and derivatives
    # (a and b swap roles) against the closed form at the swapped limits; the programs
    # of the test above.
    z = Z_ALG[[0, 2, 1, 3, 4]]  # p, a = 1.7, b = 0.2, α, β
    (value, converged), g_rev, g_fwd, d2_alpha = _alg_derivatives(kind, kind == "alg", z)
    assert bool(converged)
    zm = [mp.mpf(x) for x in Z_ALG]  # the closed form's own order: lower limit first
    _close(value, -_alg_log_closed(kind, zm), 1e-11)
    for i, j in enumerate([0, 2, 1, 3, 4]):  # d/da here is d/d(upper limit) there
        ref = -_diff(kind, zm, [int(k == j) for k in range(5)])
        _close(g_rev[i], ref, 1e-9)
        _close(g_fwd[i], ref, 1e-9)
    if d2_alpha is not None:
        _close(d2_alpha, -_diff("alg-loga", zm, [0, 0, 0, 1, 0]), 1e-7)


def test_exponent_near_minus_one():
    # Almost all of ∫₀ t^α dt lies below any float for α near −1 (half of it below 1e-308
    # at α = −0.999): the plain integrand gave 504 for 1000, "divergent". The weight's
    # singular factor is integrated in closed form (scipy's QAWS, with its moments, is exact).
    for al in (-0.99, -0.999):
        z = Z_ALG.copy()
        z[3] = al
        zm = [mp.mpf(x) for x in z]
        (value, converged), grad, _, _ = _alg_derivatives("alg", True, z)  # the program of the test above
        assert bool(converged)
        _close(value, _alg_closed(*zm), 1e-12)
        _close(grad[3], _alg_log_closed("alg-loga", zm), 1e-9)  # d/dα: the ln(x − a) weight
        _close(_alg("alg-loga", z), _alg_log_closed("alg-loga", zm), 1e-11)
    # Nearer −1 at a nonzero end: f held one ulp inside b left a term ~eps·t^β below
    # 1e-16 whose integral (~1e4·eps) the loop called divergent, the value right to 1e-16.
    for al, be in ((0.3, -0.9999), (-0.9999, 0.3)):
        z = np.array([0.8, 1.0, 2.0, al, be])
        (value, converged), _, _, _ = _alg_derivatives("alg", True, z)
        assert bool(converged), (al, be)
        _close(value, _alg_closed(*[mp.mpf(x) for x in z]), 1e-12)


def test_large_exponents_where_the_weight_alone_is_below_the_floats():
    # (x + 1)^520 (1 − x)^520 on [−1, 1]: the folded weight t^α (1 − t)^β is at most
    # 4^−520 ≈ 1e-313, below the normal floats, though the integral (times h^(α+β+1)) is
    # 0.078: it came out 0, `converged`, with an error of 0 and a NaN derivative in α
    # (at α = β = 510, 9 % off and the derivative of the wrong sign; outside probe). On
    # [460, 462] with e^−x the result, 7.7e-202, is a normal float too (it was 0). With
    # the closed part scaled apart from the half it joins, ∫₀² x^−0.01 (2 − x)^1000 came
    # out 2e-11 off, `converged`; and with h^(α+β+1) beyond the floats (p = q = 1100) the
    # unreachable tail's size was 0·∞: an infinite error, `roundoff` (a review).
    for z in (np.array([1.0, -1.0, 1.0, 520.0, 520.0]), np.array([-1.0, 460.0, 462.0, 200.0, 200.0]),
              np.array([0.0, 0.0, 2.0, -0.01, 1000.0]), np.array([0.0, -1.0, 1.0, 1100.0, 1100.0])):
        zm = [mp.mpf(x) for x in z]
        (value, converged), grad, fwd, _ = _alg_derivatives("alg", True, z)  # the program of the tests above
        assert bool(converged)
        # (Relative: `_close` is absolute below 1.)
        for got, ref, rtol in ((value, _alg_closed(*zm), 1e-12),
                               (grad[3], _alg_log_closed("alg-loga", zm), 1e-9),  # d/dα: the ln(x − a) weight
                               (fwd[3], _alg_log_closed("alg-loga", zm), 1e-9)):
            assert abs(float(got) - float(ref)) <= rtol * abs(float(ref)), (float(got), float(ref), z)


def test_one_sided_log_weight():
    # ("alg-logb" differs from "alg-loga" only in which factor takes the log.)
    zm = [mp.mpf(x) for x in Z_ALG]
    loga = _alg("alg-loga", Z_ALG)
    _close(loga, _alg_log_closed("alg-loga", zm), 1e-11)
    ref = scipy.integrate.quad(lambda x: np.exp(0.8 * x), 0.2, 1.7, weight="alg-loga", wvar=(-0.5, 0.3))[0]
    _close(loga, ref, 1e-9)


@jax.jit
def _singular_at_a_nonzero_end(k, w, a=0.0, b=1.0):
    # k = 0: ∫₀¹ (1 − x)^w₁ ln(1 − x) dx; k = 1: ∫₀¹ x^w₀ (1 − x)^(−0.3) dx. f is
    # singular at b = 1, where 1 − h·t rounds onto b for t < 1e-16: f there was inf and
    # the result −inf / inf ("nonfinite"). k = 2: sin 20x, smooth. k = 3: sin x / x, NaN
    # (0/0) at a = 0.
    def f(x, k):
        smooth = jnp.where(k == 2, jnp.sin(20 * x), jnp.sin(x) / x)
        return jnp.where(k == 0, jnp.log1p(-x), jnp.where(k == 1, (1 - x) ** -0.3, smooth))

    return quad(f, a, b, (k,), weight="alg", wvar=w)


def test_f_singular_at_a_nonzero_end():
    # ∫₀¹ u^(−½) ln u du = −4: only the part of f below 1e-16 from b is out of reach
    # (~√eps): reported as roundoff, with an error estimate that covers it.
    value, info = _singular_at_a_nonzero_end(0, jnp.array([0.0, -0.5]))
    assert int(info.status._value) == STATUS.roundoff._value
    assert abs(float(value) + 4) <= float(info.err) <= 1e-5
    # A milder singularity loses nothing that matters: converged, B(1.2, 0.7).
    value, info = _singular_at_a_nonzero_end(1, jnp.array([0.2, 0.0]))
    assert bool(info.converged)
    _close(value, mp.beta(1.2, 0.7), 1e-10)
    # A smooth f far from 0 loses nothing and stays converged (a first version of the
    # tail check called this roundoff: it blamed the loop's own error on the tail).
    value, info = _singular_at_a_nonzero_end(2, jnp.array([0.5, 0.5]), 100.0, 110.0)
    assert bool(info.converged)
    ref = mp.quad(lambda x: mp.sin(20 * x) * mp.sqrt((x - 100) * (110 - x)), mp.linspace(100, 110, 41))
    _close(value, ref, 1e-8)
    # f NaN at an end by 0/0: its value just inside stands for its limit. With nothing
    # subtracted there, ∫₀¹ x^−0.999 sin x / x came out 504 for 999.92 ("divergent").
    for alpha in (-0.99, -0.999):
        value, info = _singular_at_a_nonzero_end(3, jnp.array([alpha, 0.0]))
        assert bool(info.converged)
        ref = mp.nsum(lambda k: (-1) ** k / (mp.factorial(2 * k + 1) * (alpha + 2 * k + 1)), [0, mp.inf])
        _close(value, ref, 1e-10)


# ----------------------------------------------------------------- cos, sin, complex


def _complex_integral(q):
    return quad(lambda x, q: jnp.exp((q[0] + 1j * q[1]) * x), 0.0, 1.0, (q,), complex_func=True, **TIGHT)[0]


@jax.jit
def _trig_and_complex(q):
    p, w = q
    cos_v = quad(lambda x: jnp.exp(p * x), 0.0, 1.0, weight="cos", wvar=w, **TIGHT)[0]
    sin_v = quad(lambda x: jnp.exp(p * x), 0.0, 1.0, weight="sin", wvar=w, **TIGHT)[0]
    def sq(q):  # |I|², with I
        value = _complex_integral(q)
        return jnp.abs(value) ** 2, value

    g, value = jax.grad(sq, has_aux=True)(q)  # the value and reverse mode in one
    return cos_v, sin_v, value, g


def test_trigonometric_weights_and_complex_integrands():
    p, w = 0.4, 3.0
    closed = (mp.exp(mp.mpc(p, w)) - 1) / mp.mpc(p, w)  # ∫₀¹ e^{(p+iω)x} dx
    cos_v, sin_v, value, g_rev = _trig_and_complex(jnp.array([p, w]))
    _close(cos_v, mp.re(closed), 1e-12)
    _close(sin_v, mp.im(closed), 1e-12)
    _close(value.real, mp.re(closed), 1e-12)
    _close(value.imag, mp.im(closed), 1e-12)
    # d|I|²/dq against mpmath (forward mode goes through the same real vector integrand).
    ref = [mp.diff(lambda s: abs((mp.exp(mp.mpc(s, w)) - 1) / mp.mpc(s, w)) ** 2, p),
           mp.diff(lambda s: abs((mp.exp(mp.mpc(p, s)) - 1) / mp.mpc(p, s)) ** 2, w)]
    _close(g_rev[0], ref[0], 1e-10)
    _close(g_rev[1], ref[1], 1e-10)


@jax.jit
@jax.vmap
def _finite_fourier(q, tol, tol_abs):
    def integral(q):
        p, w, a, b = q
        return quad(lambda x, p: jnp.exp(p * x), a, b, (p,), weight="cos", wvar=w, epsabs=tol_abs, epsrel=tol)

    def grad(q):  # the gradient (reverse mode), with the value and the information beside it
        (value, info), g = jax.value_and_grad(integral, has_aux=True)(q)
        return g, (value, info, g)

    # One program: the Hessian by forward over reverse, the gradient and value its by-products.
    hess, (value, info, jac) = jax.jacfwd(grad, has_aux=True)(q)
    return value, info.err, info.status, info.neval, jac, hess


def test_trigonometric_weights_on_a_finite_range_by_chebyshev_moments():
    # ∫ₐᵇ e^{px} cos(ωx) dx = Re[(e^{(p+iω)b} − e^{(p+iω)a})/(p + iω)]: value, gradient
    # (reverse mode) and Hessian (forward over reverse) in (p, ω, a, b), at ω = 30 and
    # at ω = 1e5, where the product integrated by the adaptive loop ran out of
    # subdivisions (`max_subdivisions`, an error of the size of the result). QAWO's rule
    # takes the 15,915 periods in 25 evaluations.
    def closed(*q):
        p, w, a, b = q
        z = mp.mpc(p, w)
        return mp.re((mp.exp(z * b) - mp.exp(z * a)) / z)

    # Third, at the default tolerance: e^(−10x) on [0, 1000] at ω = 1e4, which neither
    # the 25- nor the 13-point interpolant resolves on the first panel while their
    # integrals agree (both are mostly the end values): 3.8e-9 for 1.0e-7, `converged`,
    # with an error estimate of 2.9e-9, after 25 evaluations, until the interpolant's
    # last coefficients entered the error estimate (outside probe).
    # Fourth, at the default tolerance: e^(−1000x) on [0, 10] at ω = 1, whose mass lies
    # before the first node of `quad`'s rule on the panel handed to it (all of [0, 10]):
    # 2e-11 for 1e-3, `converged`, until `quad` stopped accepting such a first rule and
    # counted the mass before a steep end's first node as error (docs, "Mass in a sliver").
    # Fifth: d/db = e^(pb) cos(ωb) at ωb = 1e8. Taken as the limit of the product, its
    # samples a few floats inside b differ in phase by ω·ulp(b), rounding broke the line
    # through them, and f·cos one float inside came out 1.3e-8 off at epsrel 1e-10,
    # `converged` (outside probe); now the limit of f times cos(ωb).
    # Sixth, at epsabs = 0: d/dp at p = 0 on [−1, 1] is ∫ x cos(3x) dx = 0 by symmetry.
    # Its column could not meet a relative tolerance: the joint run ended `roundoff`
    # (`throw=True` made `jax.grad` raise) where the value converges; the derivative
    # columns are now judged on a thousandth of their mass, as in `quad`'s own rule.
    qs = [(0.7, 30.0, 0.2, 1.3), (0.7, 1e5, 0.0, 1.0), (-10.0, 1e4, 0.0, 1000.0), (-1000.0, 1.0, 0.0, 10.0),
          (-0.001, 1e5, 0.0, 1000.0), (0.0, 3.0, -1.0, 1.0)]
    tol = jnp.array([1e-13, 1e-13, 1.49e-8, 1.49e-8, 1e-10, 1e-10])
    value, err, status, neval, jac, hess = _finite_fourier(jnp.array(qs), tol, tol.at[5].set(0.0))
    with mp.workdps(30):
        _close(jac[4][3], mp.exp(mp.mpf(-0.001) * 1000) * mp.cos(mp.mpf(1e5) * 1000), 1e-13)
    assert np.all(np.asarray(status == STATUS.converged))
    assert int(neval[1]) <= 100
    off = abs(float(value[2]) - float(closed(*qs[2])))
    assert off <= 1.49e-8 and off <= float(err[2]), (value[2], err[2])
    _close(float(value[3]) / float(closed(*qs[3])), 1.0, 1e-9)
    assert abs(float(jac[5][0])) <= 1e-12, jac[5]
    for j in range(4):
        unit = tuple(int(j == k) for k in range(4))
        assert abs(float(jac[5][j]) - float(mp.diff(closed, qs[5], unit))) <= 1e-10, (j, jac[5])
        assert abs(float(hess[5][0][j]) - float(mp.diff(closed, qs[5], (1,) + unit[1:] if j else (2, 0, 0, 0)))) <= 1e-9
    for i, q in enumerate(qs[:2]):
        _close(value[i], closed(*q), 1e-13)
        unit = [tuple(int(j == k) for k in range(4)) for j in range(4)]
        g = [mp.diff(closed, q, u) for u in unit]
        h = [[mp.diff(closed, q, tuple(x + y for x, y in zip(u, v))) for v in unit] for u in unit]
        scale = max(1.0, max(abs(float(x)) for row in h for x in row))
        for j in range(4):
            _close(jac[i][j], g[j], 1e-10)
            for k in range(4):
                assert abs(float(hess[i][j][k]) - float(h[j][k])) <= 1e-9 * scale, (q, j, k, hess[i], h)
    # Reversed limits give minus the integral; an end singularity goes to the adaptive
    # loop once the panel holding it is short: ∫₀¹ x^-½ cos(10⁴x) dx = √(2π/ω)·C(√(2ω/π)),
    # and with u = 1 − x, ∫₀¹ (1 − x)^-½ cos(ωx) dx = √(2π/ω)·(cos ω C(·) + sin ω S(·)).
    # The half of a panel next to the singular end is not evaluated (it would only be
    # bisected again): 756 and 720 evaluations before. At the upper end the gap between
    # 1 and the float below it holds 2√ulp ≈ 2e-8 of the integral, out of reach in
    # float64: `roundoff`, 9e-10 off, within its error estimate (scipy: NaN).
    w = 1e4
    z = mp.sqrt(2 * w / mp.pi)
    refs = (mp.fresnelc(z), mp.cos(w) * mp.fresnelc(z) + mp.sin(w) * mp.fresnels(z))
    for upper, ref in zip((0.0, 1.0), refs):
        value, info = quad(_end_singular, 1.0, 0.0, (upper,), weight="cos", wvar=w, epsabs=1e-12, epsrel=1e-12)
        ref = -mp.sqrt(2 * mp.pi / w) * ref
        if upper:
            assert bool(info.status == STATUS.roundoff) and abs(float(value) - float(ref)) <= float(info.err) <= 1e-7
        else:
            _close(value, ref, 1e-11)
            assert bool(info.status == STATUS.converged)
        assert int(info.neval) <= 550, (upper, info)


def _end_singular(x, upper):  # |x − 1|^-½ where upper, else x^-½
    return jnp.where(upper > 0, jnp.abs(1 - x), x) ** -0.5


def _lorentzian(x):
    return 1 / (1 + x * x)


def _x_lorentzian(x):
    return x / (1 + x * x)


def _tent(x):  # a kink at 4, 5 and 6, zero elsewhere
    return jnp.maximum(0.0, 1 - jnp.abs(x - 5))


def _fourier_case(x, case):  # 1/(1 + x²), the tent, (1 + x)^-0.1: one program for the three
    return jnp.where(case == 0, _lorentzian(x), jnp.where(case == 1, _tent(x), (1 + x) ** -0.1))


@jax.jit
@jax.vmap
def _fourier(case, w):
    """∫₀^∞ f(x) cos(ωx) dx (f chosen by `case`), its status, and its gradient and
    Hessian in the finite limit a and in ω at a = 0 (forward over reverse, as
    `jax.hessian`): the gradient and the value are the Hessian's inner function's."""
    def value(a, w):
        v, info = quad(_fourier_case, a, jnp.inf, (case,), weight="cos", wvar=w, epsabs=1e-12, epsrel=1e-12)
        return v, info.status

    def gradient(a, w):
        (v, status), g = jax.value_and_grad(value, argnums=(0, 1), has_aux=True)(a, w)
        return g, (v, status, g)

    hess, (v, status, g) = jax.jacfwd(gradient, argnums=(0, 1), has_aux=True)(jnp.zeros_like(w), w)
    return v, status, g, hess


@jax.jit
@jax.vmap
def _fourier_pair(case, w):
    def f(x, case):  # the integrand of lane `case` (0 to 4), in order
        cases = [jnp.cos(0.3 * x) ** 2, x ** -0.5, jnp.exp(-x), jnp.sin(x) ** 2]
        return jnp.select([case < k + 0.5 for k in range(len(cases))], cases, jnp.sin(x) ** 2 / (1 + x))

    return quad(f, 0.0, jnp.inf, (case,), weight="sin", wvar=w)


def test_fourier_integrals_on_a_half_line_as_scipy_computes_them():
    # scipy's quad takes weight="cos"/"sin" with an infinite limit as a Fourier integral
    # (QUADPACK's QAWF); the product integrated on the mapped half line was 0.57716 for
    # 0.57786 at ω = 1, `max_subdivisions`, and of the wrong sign at ω = 10 (outside
    # probe). Closed forms: ∫₀^∞ cos(ωx)/(1 + x²) dx = (π/2)e^(−ω), and for sin
    # (e^(−ω) Ei(ω) − e^(ω) Ei(−ω))/2. The tent at ω = 40 lies 4 to 6 past the finite
    # limit: with cycles of half a period (π/40) quadosc's default 40 of them reach
    # only π, and it came out 0, `converged` (a review); QAWF's cycles hold ⌊ω⌋ + ½
    # periods. A traced ω of 0 (the second lane) has no cycle: NaN, `nan_limits`. The
    # derivatives in ω are not the integrals of ∂/∂ω [f cos(ωx)] = −x f sin(ωx), which
    # grow where x f does, but Fourier integrals of f and (x − a′) f′ (_fourier.py).
    # (Lanes: 1/(1 + x²) at ω = 1 and at a traced 0, the tent at 40, (1 + x)^-0.1 at 1.)
    w = 1.0
    values, status, (da, dc), hess = _fourier(jnp.array([0, 0, 1, 2]), jnp.array([w, 0.0, 40 * w, w]))
    c, t = values[:2], values[2]
    dp = dc[3:]
    c_ok, c_nan = np.asarray(status == STATUS.converged), np.asarray(status == STATUS.nan_limits)
    assert c_ok[0] and c_ok[2]
    _close(c[0], mp.pi / 2 * mp.exp(-w), 1e-12)
    _close(dc[0], -mp.pi / 2 * mp.exp(-w), 1e-10)
    # d/da = −f(a) cos(ωa) = −1; d²/dω² = (π/2)e^(−ω); d²/da² = −f′(0) = 0 and
    # d²/da dω = f(a) a sin(ωa) = 0 at a = 0, in both orders (with the end of the first
    # cycle moving with a, d²/da dω was off by f(a + c) cos(ωa)/ω, `converged`; a review).
    _close(da[0], -1.0, 1e-12)
    _close(hess[1][1][0], mp.pi / 2 * mp.exp(-w), 1e-10)
    assert max(abs(float(hess[i][j][0])) for i, j in ((0, 0), (0, 1), (1, 0))) <= 1e-12, hess
    # d/dω ∫₀^∞ (1 + x)^-ν cos(ωx) dx, ν = 0.1: the integral is Re[e^(−iω) (−iω)^(ν−1) Γ(1 − ν, −iω)].
    # Differentiating the extrapolation of the value's partial sums gave −0.0885131 for
    # −0.0883953, `converged` (and with 200 cycles +0.047; outside probe).
    def power(w, nu=mp.mpf("0.1")):
        return mp.re(mp.exp(-1j * w) * (-1j * w) ** (nu - 1) * mp.gammainc(1 - nu, -1j * w))

    _close(dp[0], mp.diff(power, w), 1e-10)
    _close(t, mp.quad(lambda x: (1 - abs(x - 5)) * mp.cos(40 * x), [4, 5, 6]), 1e-8)
    assert np.isnan(float(c[1])) and c_nan[1]
    # Each cycle is integrated against its weight by Chebyshev moments (QAWO's rule), so
    # 2,001 half periods per cycle cost what one does, and the end singularity goes to
    # the adaptive loop once the panel holding it is short: 839 evaluations (the
    # product integrated cycle by cycle ran out of subdivisions: 3 % off, 430,112
    # evaluations, `max_subdivisions`). ∫₀^∞ x^-½ sin(1000x) dx = √(π/2000). And
    # cos²(0.3x) does not fade: ∫₀^∞ cos²(0.3x) sin(2x) dx does not exist, `divergent`,
    # not summed after a few cycles (an early stop of the cycles saw no difference).
    # (One program for both: the integrand is chosen by an argument.)
    # Third: e^(−x) sin(10⁻⁶x), whose first cycle, [0, π·10⁶], holds all the mass within
    # ~35 of 0: at 10⁻⁴, handed to the adaptive loop whole, it came out 3e-30, `converged`
    # (QAWF: 2e-56), and with `quad` counting the mass before a steep end's first node
    # as error, at 10⁻⁶ 3e-186 for 1e-6, `converged` (outside probe): the first cycle's
    # panel at 0 is now cut down to unit scale first (`_fourier_moments.cycle_integral`).
    # ∫₀^∞ e^(−x) sin(ωx) dx = ω/(1 + ω²).
    # Last: sin²x does not fade either, at ω = 10 and 3.3 (each cycle holds 2.1 periods
    # of sin² at ω = 10: the mean |f| over a cycle swings between 0.36 and 0.64, and
    # windows of those means fell by chance; it was `converged`, with ∫ sin(kx) taken as
    # its Abel value 1/k, −1/480); sin²x/(1 + x) does, with the same swing:
    # ∫₀^∞ sin(kx)/(1 + x) dx = S(k) = Ci(k) sin k − (Si(k) − π/2) cos k, and
    # sin²x sin(10x) = [sin 10x − (sin 8x + sin 12x)/2]/2 (default tolerances).
    r, info = _fourier_pair(jnp.array([1.0, 0.0, 2.0, 3.0, 3.0, 4.0]), jnp.array([1000.0, 2.0, 1e-6, 10.0, 3.3, 10.0]))
    ok, divergent = np.asarray(info.status == STATUS.converged), np.asarray(info.status == STATUS.divergent)
    _close(r[0], mp.sqrt(mp.pi / 2000), 1e-9)
    assert ok[0] and int(info.neval[0]) <= 2000
    assert divergent[1] and divergent[3] and divergent[4]
    assert ok[2]
    _close(float(r[2]) / (1e-6 / (1 + 1e-12)), 1.0, 1e-9)

    def s(k):
        return mp.ci(k) * mp.sin(k) - (mp.si(k) - mp.pi / 2) * mp.cos(k)

    assert ok[5]
    _close(r[5], (s(10) - (s(8) + s(12)) / 2) / 2, 1.5e-8)
    # Reversed limits, at epsabs = epsrel = 1e-12: `converged` with an error estimate
    # within the tolerance (with cycles at their rounding floor it was `roundoff` with an
    # error of 2e-3, the distance to the last partial sum). Past what rounding allows
    # (1e-16) the status says so, with the rounding-level error (1e-15), not 2e-3 (which
    # the extrapolation's spread at the rounding level of the sums gave; 333,455
    # evaluations, where cycles at their rounding floor now stop at 1,650).
    # ∫₀^∞ x sin(ωx)/(1 + x²) dx = (π/2)e^(−ω).
    ref = mp.pi / 2 * mp.exp(-w)
    value, info = quad(_x_lorentzian, jnp.inf, 0.0, weight="sin", wvar=w, epsabs=1e-12, epsrel=1e-12)
    _close(value, -ref, 1e-12)
    assert bool(info.status == STATUS.converged) and float(info.err) <= 1e-12
    value, info = quad(_x_lorentzian, jnp.inf, 0.0, weight="sin", wvar=w, epsabs=1e-16, epsrel=1e-16)
    _close(value, -ref, 1e-14)
    assert bool(info.status == STATUS.roundoff) and 1e-16 <= float(info.err) <= 1e-12
    assert int(info.neval) <= 5000
    # The whole line as the two half lines from 0 (an even integrand: a sign lost on
    # either half would cancel them).
    value, info = quad(_x_lorentzian, -jnp.inf, jnp.inf, weight="sin", wvar=w, epsabs=1e-12, epsrel=1e-12)
    _close(value, 2 * ref, 1e-12)
    assert bool(info.status == STATUS.converged)
    with pytest.raises(ValueError, match="points"):
        quad(_lorentzian, 0.0, jnp.inf, weight="cos", wvar=w, points=[1.0])
    with pytest.raises(ValueError, match="limlst"):
        quad(_lorentzian, 0.0, jnp.inf, weight="cos", wvar=w, limlst=3)


def test_chebyshev_moments_of_the_fourier_weights():
    # μₖ(λ) = ∫₋₁¹ Tₖ(t) e^(iλt) dt, k = 0..24: Gauss–Legendre up to |λ| = 24, forward
    # recurrence above; against mpmath (t = cos θ) on both sides of the switch, for
    # negative λ and for λ far past the recurrence's k.
    from jaxgrad.integrate._fourier_moments import moments

    lams = [0.0, -7.0, 23.99, 24.01, -60.0, 1e3]
    got = np.asarray(moments(jnp.asarray(lams)))
    for lam, row in zip(lams, got):
        for k in (0, 1, 2, 13, 24):
            ref = mp.quad(lambda th: mp.cos(k * th) * mp.expj(lam * mp.cos(th)) * mp.sin(th), mp.linspace(0, mp.pi, 9))
            assert abs(complex(row[k]) - complex(ref)) <= 1e-14, (lam, k, row[k], ref)


# ----------------------------------------------------------------------- bad input


UNDEFINED = [
    ("cauchy", 0.0, 0.0, 1.0), ("cauchy", 0.5, 0.0, np.inf), ("cauchy", np.nan, 0.0, 1.0),
    ("alg", (-1.0, 0.5), 0.0, 1.0), ("alg", (0.5, 0.5), 1.0, 1.0), ("alg", (0.5, 0.5), 0.0, np.inf),
    # an infinite pole gave 0, `converged`; an infinite exponent `nonfinite` (outside probe)
    ("cauchy", np.inf, 0.0, 1.0), ("cauchy", -np.inf, 0.0, 1.0), ("alg", (0.0, np.inf), 0.0, 1.0),
]


@functools.partial(jax.jit, static_argnums=0)
def _undefined(weight, wvar, a, b):
    value, info = quad(lambda x: x + 1.0, a, b, weight=weight, wvar=wvar)
    return value, info.status == STATUS.nan_limits


def test_trigonometric_weight_of_an_f_that_returns_a_python_number():
    # `lambda x: 1.0` crashed the Fourier rule ("'TypedFloat' object is not
    # subscriptable"), on a finite range and on a half line (outside probe). ∫₀¹ cos 2x dx
    # = sin(2)/2, and ∫₀^∞ 0 = 0.
    v, info = quad(lambda x: 1.0, 0.0, 1.0, weight="cos", wvar=2.0)
    assert info.status == STATUS.converged
    _close(v, mp.sin(2) / 2, 1e-14)
    v, info = quad(lambda x: 0.0, 0.0, jnp.inf, weight="sin", wvar=2.0)
    assert float(v) == 0.0 and info.status == STATUS.converged


def test_weight_undefined_gives_nan_and_status():
    # c at a limit, NaN or infinite, an infinite limit or exponent, α <= -1, an "alg" weight
    # on a range of zero width: NaN and `nan_limits`
    # (one compiled program per weight: the inputs are traced).
    for weight, wvar, a, b in UNDEFINED:
        value, flagged = _undefined(weight, jnp.asarray(wvar, float), a, b)
        assert np.isnan(value) and bool(flagged), (weight, wvar, a, b)


def test_weight_bad_arguments_raise():
    f = lambda x: x  # noqa: E731
    with pytest.raises(ValueError, match="unknown `weight`"):
        quad(f, 0.0, 1.0, weight="qawf", wvar=1.0)
    with pytest.raises(ValueError, match="needs `wvar`"):
        quad(f, 0.0, 1.0, weight="cauchy")
    with pytest.raises(ValueError, match=r"\(alpha, beta\)"):
        quad(f, 0.0, 1.0, weight="alg", wvar=0.5)
    with pytest.raises(ValueError, match="`points` cannot"):
        quad(f, 0.0, 1.0, weight="cauchy", wvar=0.5, points=jnp.array([0.2]))
    with pytest.raises(ValueError, match="`weight` is None"):
        quad(f, 0.0, 1.0, wvar=0.5)
    with pytest.raises(TypeError, match="complex_func=True"):
        quad(lambda x: jnp.exp(1j * x), 0.0, 1.0)


def test_derivative_in_a_complex_parameter():
    # I(k) = ∫₀¹ e^{kx} dx = (e^k − 1)/k. A complex k is differentiated along both its
    # real and imaginary directions (the imaginary one came out as zero: holomorphic
    # grad 0.526 + 0j for 0.526 + 0.438j), in both modes; a real parameter entering k,
    # and k's parts passed as two real parameters, agree.
    def integral(k):
        return quad(lambda x, k: jnp.exp(k * x), 0.0, 1.0, (k,), complex_func=True)[0]

    def f(x, kr, ki):
        return jnp.exp((kr + 1j * ki) * x)

    k0 = 0.5 + 1.0j
    derivative = (np.exp(k0) * (k0 - 1) + 1) / k0**2  # dI/dk
    along_real = jax.jvp(integral, (jnp.asarray(k0),), (jnp.asarray(1.0 + 0j),))[1]
    assert complex(along_real) == pytest.approx(derivative, rel=1e-12)
    assert complex(jax.grad(integral, holomorphic=True)(jnp.asarray(k0))) == pytest.approx(derivative, rel=1e-12)
    along_imag = jax.jvp(integral, (jnp.asarray(k0),), (jnp.asarray(1.0j),))[1]
    assert complex(along_imag) == pytest.approx(1j * derivative, rel=1e-12)
    # |I|² is real: JAX's gradient of it is conj(2 ∂|I|²/∂k̄) = 2 conj(I)·dI/dk.
    modulus = jax.grad(lambda k: jnp.abs(integral(k)) ** 2)(jnp.asarray(k0))
    value = (np.exp(k0) - 1) / k0
    assert complex(modulus) == pytest.approx(2 * np.conj(value) * derivative, rel=1e-12)
    # A real parameter entering a complex one: its tangent is real.
    t_real = jax.grad(lambda t: jnp.real(integral(t + 1.0j)))(0.5)
    assert float(t_real) == pytest.approx(derivative.real, rel=1e-12)
    along_ki = jax.jvp(lambda ki: quad(f, 0.0, 1.0, (0.5, ki), complex_func=True)[0], (1.0,), (1.0,))[1]
    assert complex(along_ki) == pytest.approx(1j * derivative, rel=1e-12)


def _exp20(x):
    return jnp.exp(20.0 * x)


def _exp_shifted(x, s):
    return jnp.exp(s - x)


def test_closed_form_parts_that_cancel_are_judged_on_the_result():
    # Found by an outside probe: the closed-form part (f at the end against ∫ t^α, or
    # f(c)·ln|(b − c)/(a − c)| for the principal value) was added after the loop, which
    # had met its tolerance on a difference far larger than the result: ∫₀¹⁰⁰ x¹⁰ e⁻ˣ dx
    # came out 8.7e-5 off, ∫₀¹⁰⁰ x²⁰ e⁻ˣ dx with the wrong sign, ∫₀^1e5 x^−½ e⁻ˣ dx 1.6e-7
    # off, all "converged"; h^(α+β+1) overflowed for ∫₀²⁰⁰ x⁷⁰(200 − x)⁷⁰ dx ≈ 2.1e281.
    for z in ([-1.0, 0.0, 100.0, 10.0, 0.0], [-1.0, 0.0, 100.0, 20.0, 0.0], [0.0, 0.0, 200.0, 70.0, 70.0]):
        z = np.array(z)
        zm = [mp.mpf(x) for x in z]
        (value, converged), grad, _, _ = _alg_derivatives("alg", True, z)  # the program of the tests above
        assert bool(converged), z
        _close(float(value) / float(_alg_closed(*zm)), 1.0, 1e-11)
        if z[2] == 100.0:  # d/dα: the ln(x − a) weight
            _close(float(grad[3]) / float(_alg_log_closed("alg-loga", zm)), 1.0, 1e-9)
    # At the default tolerances (found by an outside check of the docs): the loop ran on
    # the integral before the factor h^(α+β+1) = 316, so `epsabs` was 316 times too loose,
    # and this came out 1.6e-7 off, "converged", error estimate 2.2e-6.
    value, info = quad(_exp_shifted, 0.0, 1e5, (0.0,), weight="alg", wvar=(-0.5, 0.0))
    error = abs(float(value) - float(mp.sqrt(mp.pi) * mp.erf(mp.sqrt(1e5))))
    assert info.status == STATUS.converged and error <= 1.49e-8 * 1.8 and error <= float(info.err)
    # A principal value next to its zero: e^(20x)/(x − c) on [0, 1] (the terms are ~1e8).
    root = mp.findroot(lambda c: _pv_closed(20, 0, 1, c), (mp.mpf("0.97"), mp.mpf("0.99")), solver="illinois")
    for offset in (1e-10, 1e-8):
        c = float(root) + offset
        value, info = quad(_exp20, 0.0, 1.0, weight="cauchy", wvar=c, epsabs=0.0, epsrel=1e-8)  # compiled once
        error = abs(float(value) - float(_pv_closed(20, 0, 1, mp.mpf(c))))
        if info.status == STATUS.converged:
            assert error <= 1e-8 * abs(float(value)), (c, error)
        else:
            assert error <= float(info.err), (c, error, float(info.err))


def test_end_derivative_near_minus_one():
    # Found by an outside probe: d/da at a nonzero end was −inf for α ≤ −0.97 (in reverse
    # mode t^α·(1/(|a|·eps)) overflowed before the factor t), and at a = 0 right but
    # flagged `divergent`. References: central differences of the closed form.
    for z in ([1.0, 1.0, 3.0, -0.99, -0.5], [1.0, 1.0, 3.0, -0.5, -0.999], [1.0, 0.0, 2.0, -0.99, 0.0]):
        z = np.array(z)
        zm = [mp.mpf(x) for x in z]
        (_, converged), grad, jac, _ = _alg_derivatives("alg", True, z)  # (compiled above)
        assert bool(converged), z
        for i in (1, 2):
            ref = _diff("alg", zm, [int(j == i) for j in range(5)])
            _close(float(grad[i]) / float(ref), 1.0, 1e-8)
            _close(float(jac[i]) / float(ref), 1.0, 1e-8)


@jax.jit
def _cbrt_end_derivatives(al):
    f = lambda a, b, al: quad(jnp.cbrt, a, b, weight="alg", wvar=(al, 0.3), epsrel=1e-10, epsabs=0.0)[0]  # noqa: E731
    return jax.grad(f, (0, 1))(0.0, 1.0, al)


def test_exponents_at_zero_and_an_infinite_slope_at_the_end():
    # Found by a review: (1) where nothing is subtracted (α, β ≥ 0) f held one ulp inside
    # a far nonzero end was still scaled down there, and the unreachable part was
    # counted as error: ∫ over [1e10, 1e10 + 1] with α = β = 0.1 came out 6.4e-7 off,
    # `roundoff`. (2) f = ∛x has an infinite slope at a = 0: formed at every node, it
    # spoiled the other components (d/db 2.5e-5 off). Closed forms: B(α + 1, β + 1); for
    # F(a, b) = ∫ₐᵇ (x − a)^α (b − x)^0.3 ∛x dx at (0, 1): dF/db = 0.3·B(α + 4/3, 0.3) and
    # dF/da = −α·B(α + 1/3, 1.3) (0 at α = 0).
    a = 1e10  # e^(a − x) over [a, a + 1] (the program of the test above)
    value, info = quad(_exp_shifted, a, a + 1, (a,), weight="alg", wvar=(0.1, 0.1))
    assert info.status == STATUS.converged
    _close(value, _alg_closed(-1, 0, 1, mp.mpf("0.1"), mp.mpf("0.1")), 2e-8)  # default epsrel 1.49e-8
    for al in (0.0, 0.5, -0.2):
        da, db = _cbrt_end_derivatives(al)
        alm = mp.mpf(al)
        _close(db, 0.3 * mp.beta(alm + mp.mpf(4) / 3, mp.mpf("0.3")), 1e-8)
        _close(da, -alm * mp.beta(alm + mp.mpf(1) / 3, mp.mpf("1.3")), 1e-8)


def test_a_small_frequency_with_too_small_a_limit_is_not_converged():
    # The first cycle of ∫₀^∞ cos(ωx)/(1 + x²) dx at ω = 1e-6 is π·10⁶ long; its start is
    # cut to length 16 first. With `limit=20` the cuts left no room to meet the tolerance,
    # and the whole cycle went back to `quad`, which missed the mass near 0 again:
    # −1.6e-6 for π/2, `converged` (review). Now the panels stand: `max_subdivisions`, the
    # error unknown.
    v, info = quad(_lorentzian, 0.0, jnp.inf, weight="cos", wvar=1e-6, limit=20)
    assert info.status == STATUS.max_subdivisions and np.isinf(float(info.err)), (float(v), info)


@jax.jit
def _sin_over_x_rev_rev(a, w):
    def integral(a, w):
        return quad(lambda x: 1 / x, a, 1.0, weight="sin", wvar=w, epsrel=1e-10)[0]

    return jax.jacrev(jax.jacrev(integral, (0, 1)), (0, 1))(a, w)[0][1], jax.grad(integral)(a, w)


def test_leibniz_term_where_f_has_no_limit_in_reverse_over_reverse():
    # ∫ₐ¹ sin(ωx)/x dx at a = 0: f = 1/x has no limit there, the product sin(ωx)/x does
    # (ω), so d/da = −ω and d²/(da dω) = −1. The term is f's limit times sin(ωa) where f
    # has one, else the product's; the unused branch's ∞ once reached the transpose of
    # the product, 0·∞: NaN by reverse over reverse (a review).
    d2, d1 = _sin_over_x_rev_rev(0.0, 3.0)
    _close(d1, -3.0, 1e-12)
    _close(d2, -1.0, 1e-10)


@jax.jit
def _jacfwd_beside_an_infinite_end(p):
    """jacfwd in (p, a) at a = 0 of weighted integrals of f = e^(−px)/√x, infinite at a:
    cos(3x) on [0, 1], cos x on [0, ∞), and the principal value 1/(x − ½) on [0, 1]."""
    f = lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x)  # noqa: E731

    def each(weight, b, wvar):
        def g(p, a):
            value, info = quad(f, a, b, (p,), weight=weight, wvar=wvar, epsabs=0.0, epsrel=1e-10)
            return value, info.status
        return jax.jacfwd(g, argnums=(0, 1), has_aux=True)(p, 0.0)

    return each("cos", 1.0, 3.0), each("cos", jnp.inf, 1.0), each("cauchy", 1.0, 0.5)


def test_forward_mode_in_a_parameter_beside_an_end_where_f_is_infinite():
    # jacfwd batches the tangents of p and a: the Leibniz term f(a)·ta, with f(0) = ∞, met
    # the p column's ta = 0 and made d/dp NaN, `converged` (outside probe; reverse mode
    # and plain `quad` were right). d/dp against mpmath; d/da is −f(0)·w(0): −∞ for cos,
    # +∞ for 1/(x − ½).
    (cos_d, cos_s), (half_d, half_s), (pv_d, pv_s) = _jacfwd_beside_an_infinite_end(1.0)
    ref_cos = mp.quad(lambda x: -mp.sqrt(x) * mp.exp(-x) * mp.cos(3 * x), [0, 1])
    # ∫₀^∞ x^-½ e^(−px) cos x dx = √π Re (p − i)^-½.
    ref_half = mp.diff(lambda q: mp.sqrt(mp.pi) * mp.re((q - 1j) ** -0.5), 1)
    # d/dp ⨍₀¹ x^-½ e^(−px)/(x − ½) dx = −⨍₀¹ √x e^(−px)/(x − ½) dx, the principal value
    # by subtracting g(½): ∫₀¹ (g(x) − g(½))/(x − ½) dx + g(½)·ln((1 − ½)/½) = the first term.
    g = lambda x: mp.sqrt(x) * mp.exp(-x)  # noqa: E731
    ref_pv = -mp.quad(lambda x: (g(x) - g(mp.mpf(0.5))) / (x - mp.mpf(0.5)), [0, 0.5, 1])
    cases = ((cos_d, cos_s, ref_cos, -np.inf), (half_d, half_s, ref_half, -np.inf), (pv_d, pv_s, ref_pv, np.inf))
    for (dp, da), status, ref, end in cases:
        assert bool(status == STATUS.converged)
        _close(dp, ref, 1e-9)
        assert float(da) == end


def test_mixed_second_derivative_of_a_principal_value_beside_an_infinite_end():
    # d²/da dp of ⨍ₐ¹ x^-½ e^(−px)/(x − ½) dx at a = 0 is d/dp[−f(a)/(a − ½)] = √a e^(−pa)/(a − ½)
    # → 0: `jax.hessian` (and jacfwd over jacfwd) gave NaN, `converged`, where the
    # derivative of f(a)/(a − c) met f(0) = ∞ times the zero tangent of a − c (a review).
    f = lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x)  # noqa: E731

    def value(p, a):
        return quad(f, a, 1.0, (p,), weight="cauchy", wvar=0.5, epsabs=0.0, epsrel=1e-10)[0]

    h = jax.jit(jax.hessian(value, argnums=(0, 1)))(1.0, 0.0)
    # d²/dp² = ⨍₀¹ x^(3/2) e^(−x)/(x − ½) dx, by subtracting g(½), g = x^(3/2) e^(−x).
    g = lambda x: x**1.5 * mp.exp(-x)  # noqa: E731
    ref_pp = mp.quad(lambda x: (g(x) - g(mp.mpf(0.5))) / (x - mp.mpf(0.5)), [0, 0.5, 1])
    _close(h[0][0], ref_pp, 1e-8)
    assert float(h[0][1]) == 0.0 and float(h[1][0]) == 0.0
