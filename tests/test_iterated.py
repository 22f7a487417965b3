"""Iterated integrals over non-rectangular regions: `dblquad`, `tplquad`, `nquad` (issue #12, item 3).

Every number checked here comes from one compiled program (`_numbers`): a family of
double integrals over a triangle and a disc, vmapped over four cases, with the value,
the reverse-mode gradient and the forward-over-reverse Hessian in a parameter of the
integrand and in the radius of the disc (a boundary that moves). A nested adaptive
loop takes seconds to compile, so the file keeps to that program and one small eager
problem (caching, status propagation, NaN limits). References are closed forms,
differentiated by mpmath.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from jaxgrad.integrate import STATUS, dblquad, nquad, tplquad
from jaxgrad.integrate import _iterated


mp.mp.dps = 30
EPSREL, EPSABS = 1e-10, 1e-13


def half(x, r):
    # Half-width of the disc's chord at x, written so that r ± x keeps its precision.
    return jnp.sqrt(jnp.maximum((r - x) * (r + x), 0.0))


def family(theta, w, q):
    """w = 0: ∫₀¹∫₀ˣ e^-p(x²+y²) dy dx (a triangle); w = 1: the same integrand over the
    disc of radius r. The limits are callables of `args`, so that r is one leaf. The
    term q·(y − c(x)) integrates to zero over every inner range; with p = 0 and q = 1e5
    its rounding floor is above the inner tolerance: the inner integrals stop with
    `roundoff` while the outer one converges."""
    p, r = theta[0], theta[1]
    ranges = [
        lambda x, p, r, w, q: (-w * half(x, r), (1 - w) * x + w * half(x, r)),
        lambda p, r, w, q: (-w * r, (1 - w) + w * r),
    ]

    def f(y, x, p, r, w, q):
        return jnp.exp(-p * (x * x + y * y)) * (1 + q * (y - (1 - w) * x / 2))

    value, info = nquad(f, ranges, (p, r, w, q), dict(epsrel=EPSREL, epsabs=EPSABS))
    return value, (info.err, info.status._value)


# (p, r, w, q): the triangle at p = 1 and p = 0 (then the integrand is 1 and the
# p-derivatives are polynomial moments), the disc at (p, r) = (1/2, 3/2), the triangle
# with inner integrals that cannot meet the tolerance, a NaN radius and a NaN p.
CASES = np.array(
    [
        [1.0, 1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.5, 1.5, 1.0, 0.0],
        [0.0, 1.0, 0.0, 1e5],
        [1.0, np.nan, 1.0, 0.0],
        [np.nan, 1.0, 0.0, 0.0],
    ]
)
CHECKED = 3  # the cases checked against closed forms to the tolerance
DISC, ROUNDOFF, NAN_RADIUS, NAN_PARAMETER = 2, 3, 4, 5


@functools.cache
def _numbers():
    def per_case(theta, w, q):
        def value_and_gradient(th):
            (v, aux), g = jax.value_and_grad(family, has_aux=True)(th, w, q)
            return g, (v, g, aux)

        hessian, (v, g, aux) = jax.jacfwd(value_and_gradient, has_aux=True)(theta)
        return v, g, hessian, aux

    cases = jnp.asarray(CASES)
    out = jax.jit(jax.vmap(per_case))(cases[:, :2], cases[:, 2], cases[:, 3])
    return jax.tree_util.tree_map(np.asarray, out)


def _triangle(p, r):
    # ∫₀¹∫₀ˣ e^-p(x²+y²) = half the square [0, 1]²: π erf(√p)² / (8p).
    return mp.pi * mp.erf(mp.sqrt(p)) ** 2 / (8 * p)


def _disc(p, r):
    # ∫∫ over x² + y² ≤ r² of e^-p(x²+y²) = π (1 − e^(-p r²)) / p.
    return mp.pi * (1 - mp.exp(-p * r * r)) / p


def reference(p, r, w):
    """(value, gradient, Hessian) in (p, r), from the closed forms by mpmath."""
    if w == 0 and p == 0:
        # The integrand is 1 and d^k/dp^k gives the moments (-1)^k ∫∫ (x² + y²)^k over
        # the triangle: 1/2, 1/3, 14/45. Nothing depends on r.
        return 0.5, np.array([-1 / 3, 0.0]), np.array([[14 / 45, 0.0], [0.0, 0.0]])
    f = _triangle if w == 0 else _disc
    d = lambda i, j: float(mp.diff(f, (mp.mpf(p), mp.mpf(r)), (i, j)))  # noqa: E731
    grad = np.array([d(1, 0), d(0, 1)])
    hess = np.array([[d(2, 0), d(1, 1)], [d(1, 1), d(0, 2)]])
    return float(f(mp.mpf(p), mp.mpf(r))), grad, hess


REFERENCES = [reference(*case[:3]) for case in CASES[:CHECKED]]


def test_values_against_closed_forms_and_error_estimates():
    value, _, _, (err, status) = _numbers()
    for i, (ref, _, _) in enumerate(REFERENCES):
        assert value[i] == pytest.approx(ref, rel=1e-12, abs=0), CASES[i]
        # The estimate (outer error plus the inner integrals' bound) covers the error
        # and is of the order of the tolerance, not inflated.
        assert abs(value[i] - ref) <= err[i] <= 1e-8, (CASES[i], err[i])
    # The statuses are those of the Hessian's joint integral: converged, or roundoff on
    # the disc (its second derivative in r meets float64's limits near x = ±r; see
    # docs/quadrature.md, "Integrals over non-rectangular regions").
    codes = [STATUS.converged._value, STATUS.roundoff._value]
    assert status[0] == status[1] == codes[0]
    assert status[DISC] in codes


def test_inner_failure_is_reported_and_nan_inputs_give_nan():
    value, grad, hess, (err, status) = _numbers()
    # Inner integrals stopped short (roundoff: the q term's rounding floor is above
    # the tolerance); the outer loop converged; the result says roundoff, and its error
    # estimate still covers the error.
    i = ROUNDOFF
    assert status[i] == STATUS.roundoff._value
    assert abs(value[i] - 0.5) <= err[i] <= 1e-8
    # A NaN radius: NaN value and derivatives (never a silent 0), status nan_limits.
    i = NAN_RADIUS
    assert status[i] == STATUS.nan_limits._value
    assert np.isnan(value[i]) and np.all(np.isnan(grad[i])) and np.all(np.isnan(hess[i]))
    # A NaN parameter of the integrand: NaN and `nonfinite` in its own lane only (the
    # lane-by-lane solver shares work between identical lanes, never with a NaN one).
    i = NAN_PARAMETER
    assert status[i] == STATUS.nonfinite._value and np.isnan(value[i]) and np.all(np.isnan(grad[i]))


def test_reverse_gradient_in_a_parameter_and_in_the_radius():
    _, grad, _, _ = _numbers()
    for i, (_, ref, _) in enumerate(REFERENCES):
        np.testing.assert_allclose(grad[i], ref, rtol=1e-11, atol=1e-13, err_msg=str(CASES[i]))


@jax.jit
def _symmetric_derivative(p):
    # d/dp ∫₋₁¹ (e^(−x²) + p·x) dx = ∫₋₁¹ x dx = 0 by symmetry, at epsabs = 0.
    f = lambda x, p: jnp.exp(-x * x) + p * x  # noqa: E731
    return jax.value_and_grad(lambda p: nquad(f, [(-1.0, 1.0)], (p,), dict(epsabs=0.0, epsrel=1e-10), throw=True)[0])(p)


def test_a_derivative_that_is_zero_by_symmetry_meets_a_relative_tolerance():
    # Its column could not meet a relative tolerance (its sum is 0 up to rounding): the
    # joint loop ended `roundoff` and `throw=True` made `jax.grad` raise, where the value
    # converges. A level's derivative columns are now judged on a thousandth of their
    # mass, as in `quad`'s own rule. The value is √π·erf(1).
    value, grad = _symmetric_derivative(0.5)
    assert abs(float(value) - float(mp.sqrt(mp.pi) * mp.erf(1))) <= 1e-12
    assert abs(float(grad)) <= 1e-12


def test_second_order_forward_over_reverse():
    _, _, hess, _ = _numbers()
    for i, (_, _, ref) in enumerate(REFERENCES):
        np.testing.assert_allclose(hess[i], ref, rtol=1e-9, atol=1e-12, err_msg=str(CASES[i]))


def test_the_moving_boundary_terms_are_not_negligible():
    # Without the motion of the boundary the r-derivative of the disc would be zero;
    # its value is 2πr e^-pr², the integrand on the circle times its length.
    _, grad, _, _ = _numbers()
    p, r = CASES[DISC, :2]
    assert grad[DISC, 1] == pytest.approx(2 * np.pi * r * np.exp(-p * r * r), rel=1e-12)


# ------------------------------------------------- the cache
def _problems(calls):
    """The static arguments the core receives for each call (compiled whole, or run from
    eager code with its outer loop pass by pass: the same problem either way)."""
    seen = []
    cores = _iterated._nquad_compiled, _iterated._nquad_body
    _iterated._nquad_compiled = _iterated._nquad_body = lambda problem, throw, *dynamic: seen.append((problem, dynamic))
    try:
        for call in calls:
            call()
    finally:
        _iterated._nquad_compiled, _iterated._nquad_body = cores
    return seen


def test_repeated_calls_share_one_compiled_program():
    # The core is `jax.jit` with the problem as a static argument: equal problems and
    # dynamic arguments of the same types are a cache hit. Lambdas re-created at every
    # call (scipy style) and new parameter values must give equal problems.
    def scipy_style(c):
        return dblquad(lambda y, x, c: x * y * c, 0.0, 1.0, lambda x: 0.0, lambda x: x * x, (c,))

    def nquad_style(c):
        return nquad(lambda y, x, c: x + y, [lambda x, c: (0.0, c * x), lambda c: (0.0, c)], (c,))

    (p1, d1), (p2, d2), (p3, _), (p4, _) = _problems(
        [lambda: scipy_style(1.0), lambda: scipy_style(2.0), lambda: nquad_style(1.0), lambda: nquad_style(3.0)]
    )
    assert p1 == p2 and hash(p1) == hash(p2) and p3 == p4
    assert p1 != p3
    shapes = lambda d: jax.tree_util.tree_map(lambda x: (np.shape(x), jnp.result_type(x)), d)  # noqa: E731
    assert shapes(d1) == shapes(d2)
    # A different limit is a different problem.
    (p5, _), = _problems([lambda: dblquad(lambda y, x: x * y, 0.0, 1.0, lambda x: 0.0, lambda x: x)])
    assert p5 != p1
    # (That equal static arguments and dynamic arguments of equal types reuse the
    # executable is `jax.jit`'s cache; tests/test_cache.py counts compiles for `quad`,
    # whose core is cached the same way. A compiled check here would cost one more
    # nested program, which the suite's time budget does not allow.)


# ------------------------------------------------- argument checks (trace time only)
def test_bad_inputs_raise_clear_errors():
    f = lambda y, x: x * y  # noqa: E731
    with pytest.raises(TypeError, match="`func` must be callable"):
        dblquad(1.0, 0.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"ranges\[0\] must be a \(lower, upper\) pair"):
        nquad(f, [(0.0,), (0.0, 1.0)])
    with pytest.raises(ValueError, match="must be a scalar"):
        dblquad(f, jnp.zeros(2), 1.0, 0.0, 1.0)
    with pytest.raises(TypeError, match="must be real"):
        dblquad(f, 0.0, 1.0 + 1j, 0.0, 1.0)
    # dblquad's and tplquad's messages name the limit as their caller wrote it (they
    # named nquad's `ranges[0]`, which a dblquad user never wrote).
    with pytest.raises(ValueError, match="dblquad: hfun must return a real scalar"):
        dblquad(f, 0.0, 1.0, 0.0, lambda x: jnp.array([x, x]))
    with pytest.raises(TypeError, match="dblquad: calling hfun failed"):
        dblquad(f, 0.0, 1.0, 0.0, lambda x, y: x)
    with pytest.raises(TypeError, match="tplquad: calling qfun failed"):
        tplquad(lambda z, y, x: x, 0.0, 1.0, 0.0, 1.0, lambda x: 0.0, 1.0)
    with pytest.raises(ValueError, match=r"nquad: the upper limit of ranges\[0\] must return a real scalar"):
        nquad(f, [(0.0, lambda x: jnp.array([x, x])), (0.0, 1.0)])
    with pytest.raises(ValueError, match="unknown option"):
        nquad(f, [(0.0, 1.0), (0.0, 1.0)], opts=dict(points=[0.5]))
    with pytest.raises(ValueError, match="one per variable"):
        nquad(f, [(0.0, 1.0), (0.0, 1.0)], opts=[{}])
    with pytest.raises(ValueError, match="`epsrel` must be >= 0"):
        dblquad(f, 0.0, 1.0, 0.0, 1.0, epsrel=-1.0)
    with pytest.raises(TypeError, match="must return a real array"):
        dblquad(lambda y, x: x + 1j, 0.0, 1.0, 0.0, 1.0)
    # A range returning three values had its first two used (outside probe); an array
    # pair is a pair, as scipy takes it (traced only, here).
    with pytest.raises(ValueError, match=r"ranges\[0\] must return a \(lower, upper\) pair; got 3 values"):
        nquad(f, [lambda x: (0.0, 1.0, 5.0), (0.0, 1.0)])
    value, _ = jax.eval_shape(lambda: nquad(f, [np.array([0.0, 1.0]), jnp.array([0.0, 2.0])]))
    assert value.shape == ()


def test_scipy_argument_order_of_the_limits():
    # tplquad's qfun, rfun take (x, y) as in scipy; nquad's range callables (y, x).
    seen = []
    q = _iterated._limit_fn(lambda x, y: seen.append((x, y)) or 0.0, reorder=True)
    q("y", "x", "arg")
    g = _iterated._limit_fn(lambda x: seen.append(x) or 0.0)
    g("x", "arg")
    assert seen == [("x", "y"), "x"]
    assert _iterated._limit_fn(2.0) == 2.0


def test_lanes_are_merged_only_when_bitwise_equal():
    # The batching rule integrates each distinct lane once. Lanes were compared after a
    # cast to the limits' float dtype, so int64 n and n + 1 near 2^53 (one float64)
    # and 0.0 / -0.0 shared a result: dblquad under vmap gave [0, 0, 2, 3] for n - 2^53
    # and [π, π] for arctan2(±0, -1). Checked on the rule itself with a cheap lane.
    def lane(edges, args):
        n, p = args
        return (n - 2**53).astype(edges.dtype) + jnp.arctan2(p, -1.0) + edges[0]

    n = jnp.array([2**53, 2**53 + 1, 2**53, 2**53], dtype=jnp.int64)
    p = jnp.array([0.0, 0.0, -0.0, 0.0])
    edges = jnp.zeros((4, 2))
    shapes = jax.ShapeDtypeStruct((), edges.dtype)
    out = jax.jit(lambda e, a: _iterated._lane_by_lane(lane, 4, e, a, shapes))(edges, (n, p))
    np.testing.assert_array_equal(out, [np.pi, 1 + np.pi, -np.pi, np.pi])


def test_split_at_a_jump_gives_the_limit_derivative():
    # The workaround of docs/quadrature.md, "Moving regions": the map loses a jump at a
    # fixed point inside a range whose limit moves (d/db of ∫₀ᵇ∫₀¹ [x > ½] at b = 0.8
    # came out 0.375, not 1); split at the jump, the moving piece is smooth and the
    # derivative is the Leibniz term f(b) = 1.
    f = lambda y, x: jnp.where(x > 0.5, 1.0, 0.0)  # noqa: E731
    split = lambda b: dblquad(f, 0.0, 0.5, 0.0, 1.0)[0] + dblquad(f, 0.5, b, 0.0, 1.0)[0]  # noqa: E731
    np.testing.assert_allclose(jax.jit(jax.grad(split))(0.8), 1.0, rtol=1e-13)


def test_higher_derivatives_where_a_range_has_zero_width():
    # Found by an outside probe: every node of a zero-width range rounds onto both limits
    # and was moved to the float beside one of them, taking that limit's tangent: d²/db²
    # of ∫_{0.7}^b eˣ at b = 0.7 came out 2e^0.7, and d²/dp² of ∫₀^∞∫₀^{px} e^(−x−y) (=
    # p/(1 + p)) at p = 0 came out −4. Closed forms: e^0.7 and −2/(1 + p)³.
    q = lambda b: nquad(lambda x: jnp.exp(x), [(0.7, b)])[0]  # noqa: E731
    w = lambda p: dblquad(lambda y, x: jnp.exp(-x - y), 0.0, jnp.inf, 0.0, lambda x: p * x)[0]  # noqa: E731
    d2q, d2w = jax.jit(lambda b, p: (jax.grad(jax.grad(q))(b), jax.grad(jax.grad(w))(p)))(0.7, 0.0)
    np.testing.assert_allclose(d2q, np.exp(0.7), rtol=1e-12)
    np.testing.assert_allclose(d2w, -2.0, rtol=1e-10)


def test_weakly_singular_kernel_on_the_diagonal_is_finite_and_flagged():
    # Found by an outside probe: ∫∫ |x − y|^(−½) over the unit square (8/3) was NaN,
    # `nonfinite`: at outer nodes x = 2^(−26), 2^(−28) the inner singular point y = x lies
    # on the inner end model's samples. Those inner integrals now end flagged with an
    # infinite error, counted as 100 % of their (tiny) value in the outer bound. The
    # result is finite, flagged, and its estimate covers its error.
    # Here the outer range is [0, 2^(−25)] (2^(−27)), whose midpoint, a node of the
    # first outer rule, is such a point: the same failure (NaN, then inf) without the 26
    # bisections that reach it from [0, 1] (17 s of the suite at limit=50).
    # ∫₀ʰ ∫₀¹ |x − y|^(−½) dy dx = ∫₀ʰ 2√x + 2√(1 − x) dx = (4/3)(h^(3/2) + 1 − (1 − h)^(3/2)).
    # (Called from eager code: the outer loop runs pass by pass, no whole program.)
    compiled = _iterated._nquad_compiled._cache_size()
    for h in (2.0**-25, 2.0**-27):
        v, info = dblquad(lambda y, x: jnp.abs(x - y) ** -0.5, 0.0, h, 0.0, 1.0, limit=20, throw=False)
        exact = 4 / 3 * (h**1.5 + 1 - (1 - h) ** 1.5)
        assert np.isfinite(float(v)) and info.status != STATUS.converged
        assert abs(float(v) - exact) <= float(info.err) <= 0.2 * exact, (h, float(v) - exact, float(info.err))
    assert _iterated._nquad_compiled._cache_size() == compiled
    # throw=True from this Python-driven loop: the reason alone (equinox checked the
    # concrete status in a program of its own and raised its error with the stack of
    # whichever call had first traced that check, and advice; outside probe).
    with pytest.raises(eqx.EquinoxRuntimeError) as info:
        dblquad(lambda y, x: jnp.abs(x - y) ** -0.5, 0.0, 2.0**-27, 0.0, 1.0, limit=20, throw=True)
    assert "stack" not in str(info.value) and "EQX_ON_ERROR" not in str(info.value), str(info.value)


def test_limits_that_coincide_where_f_is_infinite_give_zero_there():
    # Found by an outside probe: ∫₀¹∫₀^max(x − p, 0) y^(−½) dy dx has inner ranges of zero
    # width for x < p, every node on y = 0 where f is infinite: 0·inf made the result
    # NaN, `nonfinite` (scipy: 0.4714045207910). Closed form (4/3)(1 − p)^(3/2), and its
    # derivative −2(1 − p)^(1/2), which flows through the moving limit.
    def value(p):
        v, info = dblquad(lambda y, x: y**-0.5, 0.0, 1.0, 0.0, lambda x: jnp.maximum(x - p, 0.0), epsrel=1e-10)
        return v, info.status == STATUS.converged

    (v, ok), g = jax.jit(jax.value_and_grad(value, has_aux=True))(0.5)
    assert bool(ok)
    np.testing.assert_allclose(v, 4 / 3 * 0.5**1.5, rtol=1e-9)
    np.testing.assert_allclose(g, -2 * 0.5**0.5, rtol=1e-8)
