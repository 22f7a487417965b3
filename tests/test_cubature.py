"""`cubature`: values and derivatives against closed forms, statuses, batching.

The reference integral is I(p, a, b) = ∫_{[a, b]} exp(−‖x − p‖²) dx =
Π_i (√π/2)(erf(b_i − p_i) − erf(a_i − p_i)), whose derivatives in p, a and b are taken
from that product (an independent closed form; jaxgrad is not involved). Each dimension
is one compiled program that returns the value, gradient and Hessian together, so the
file compiles a handful of loops only.
"""

from __future__ import annotations

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.special import erf

from jaxgrad.integrate import STATUS, cubature
from jaxgrad.integrate._cubature_rules import rule_for

from test_cache import count_compiles


def gauss(x, p):
    return jnp.exp(-jnp.sum((x - p) ** 2))


def closed_form(p, a, b):
    return jnp.prod(jnp.sqrt(jnp.pi) / 2 * (erf(b - p) - erf(a - p)))


def _value_grad_hessian(fun):
    def vg(p, a, b):
        v, g = jax.value_and_grad(fun, argnums=(0, 1, 2))(p, a, b)
        return g, (v, g)

    def all_three(p, a, b):
        h, (v, g) = jax.jacfwd(vg, argnums=(0, 1, 2), has_aux=True)(p, a, b)
        return v, g, h

    return all_three


def _numeric(p, a, b):
    return cubature(gauss, a, b, (p,), epsabs=0.0, epsrel=1e-9)[0]


_numeric_all = jax.jit(_value_grad_hessian(_numeric))
_closed_all = jax.jit(_value_grad_hessian(closed_form))


@pytest.mark.parametrize("d", [2, 4])
def test_genz_malik_degrees(d):
    # Exact for every monomial of degree <= 7 (the rule) and <= 5 (the embedded rule):
    # the mean of x^k over [-1, 1] is 1/(k + 1) for even k and 0 for odd k.
    rule = rule_for(d)
    assert rule.size == 2**d + 2 * d * d + 2 * d + 1
    for powers in itertools.product(range(8), repeat=d):
        degree = sum(powers)
        if degree > 7:
            continue
        exact = np.prod([0.0 if k % 2 else 1.0 / (k + 1) for k in powers])
        values = np.prod(rule.nodes ** np.array(powers), axis=1)
        assert abs(rule.high @ values - exact) < 1e-15
        if degree <= 5:
            assert abs(rule.low @ values - exact) < 1e-14
        if degree <= 3:
            assert abs(rule.low3 @ values - exact) < 1e-14
    # ... and not beyond: x_0^4 (mean 1/5) is where each embedded rule stops.
    quartic, sextic = rule.nodes[:, 0] ** 4, rule.nodes[:, 0] ** 6
    assert abs(rule.low3 @ quartic - 0.2) > 1e-3 and abs(rule.low @ sextic - 1 / 7) > 1e-3


@pytest.mark.parametrize("d", [1, 2, 3])
def test_face_lines_of_the_jump_check(d):
    # The nodes the jump check compares at a face: on the axis line at distances face_t
    # from the centre toward that face, and on pair lines (parallel to the axis, the
    # same other coordinates) at +-pair_t, the node nearest the face first.
    rule = rule_for(d)
    assert np.all(np.diff(rule.face_t) < 0) and rule.face_t[-1] >= 0
    for i in range(d):
        for side, sign in ((0, -1.0), (1, 1.0)):
            on_axis = rule.nodes[rule.face_nodes[i, side]]
            want = np.zeros((3, d))
            want[:, i] = sign * rule.face_t
            np.testing.assert_allclose(on_axis, want, atol=1e-15)
            for near, far in rule.pair_nodes[i, side]:
                a, b = rule.nodes[near], rule.nodes[far]
                assert a[i] == sign * rule.pair_t and b[i] == -sign * rule.pair_t
                assert np.array_equal(np.delete(a, i), np.delete(b, i)) and np.count_nonzero(np.delete(a, i)) == 1
        assert rule.pair_nodes.shape[2] == 2 * (d - 1)


@pytest.mark.parametrize("d", [2, 3])
def test_value_gradient_hessian_in_parameter_and_limits(d):
    a = -0.3 - 0.05 * jnp.arange(d)
    b = 0.35 + 0.05 * jnp.arange(d)
    p = 0.1 * jnp.arange(d) - 0.1
    got = _numeric_all(p, a, b)
    want = _closed_all(p, a, b)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        scale = np.max(np.abs(w))
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-10 * scale)


_KINK_C = jnp.array([[2.8243015021124127, 1.1756984978875873], [1.80587771838218, 2.1941222816178203],
                     [1e-3, 10.618], [0.5, 30.0]])
_KINK_W = jnp.array([[0.6409099142656993, 0.6230804271016963], [0.5997700194168692, 0.6488412392908158],
                     [0.0, 0.503], [0.0, 0.5003]])
_BAND_C, _BAND_W = jnp.array([0.5, 2.8]), jnp.array([0.0, 0.502])


def _c0_exact(c, w):
    """∫ over [0, 1]^d of exp(−c·|x − w|), a product of one-dimensional closed forms."""
    c, w = np.asarray(c), np.asarray(w)
    return np.prod((2 - np.exp(-c * w) - np.exp(-c * (1 - w))) / c, axis=-1)


@jax.jit
def _special_cases():
    two = jnp.zeros(2)
    # The plane: ∫ exp(−‖x − p‖²) = π for every p, so the gradient in p vanishes.
    plane = lambda p: cubature(gauss, two - jnp.inf, two + jnp.inf, (p,), epsabs=0.0, epsrel=1e-10)[0]  # noqa: E731
    plane_v, plane_g = jax.value_and_grad(plane)(jnp.array([0.3, -0.2]))
    # A gradient component that is zero by symmetry (p₁ = 0 on [−1, 1]²): its tolerance,
    # epsrel·|0|, could not be met, and the joint run ended `roundoff` after 64,311
    # evaluations (outside probe). Each is now judged on a thousandth of its mass.
    sym = lambda p: (lambda r: (r[0], r[1].status == STATUS.converged))(  # noqa: E731
        cubature(gauss, two - 1, two + 1, (p,), epsabs=0.0, epsrel=1e-8))
    (_, sym_ok), sym_g = jax.value_and_grad(sym, has_aux=True)(jnp.array([0.1, 0.0]))
    # Half plane x₀ ≥ c: (√π/2)·erfc(c − p₀)·√π; the derivative in c is −√π·exp(−(c − p₀)²).
    # Second lane: the same far out, at c = 1e5 + 0.4. Its map to t was anchored at 0,
    # which squeezed [c, ∞) into t ∈ [1 − 5e-6, 1), the first node 2.6 % of c beyond it:
    # the value was 0, `converged`, and the face 2c²·ulp off c. Third lane: the same
    # range written from ∞ to c (minus the integral). Fourth: the guard of the anchor
    # at 0, a Gaussian at the origin over the range from 1e200 to −∞, which must not be
    # anchored at 1e200 (the reversed order once was).
    half = lambda a0, b0, p0: cubature(  # noqa: E731
        gauss, jnp.stack([a0, -jnp.inf]), jnp.stack([b0, jnp.inf]), (jnp.stack([p0, 0.0]),), epsabs=0.0, epsrel=1e-10
    )[0]
    half_v, half_d = jax.vmap(jax.value_and_grad(half, argnums=(0, 1)))(
        jnp.array([0.4, 1e5 + 0.4, jnp.inf, 1e200]),
        jnp.array([jnp.inf, jnp.inf, 1e5 + 0.4, -jnp.inf]),
        jnp.array([0.1, 1e5 + 0.1, 1e5 + 0.1, 0.0]),
    )
    # Reversed orientation in one coordinate gives minus the integral.
    box = cubature(gauss, jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0]), (two,))[0]
    # A vector-valued integrand: [1, x₀, x₀x₁] over [0, 1] x [0, 2].
    vec, vec_info = cubature(lambda x: jnp.stack([1.0, x[0], x[0] * x[1]]), two, jnp.array([1.0, 2.0]))
    # A jump: f = exp(x₀ + x₁) for x₀ < 0.3, else 0, over [0, b₀] x [0, b₁]. The Leibniz
    # terms are exact: ∂/∂b₀ = 0 for b₀ > 0.3 (the face lies where f = 0) and
    # ∂/∂b₁ = ∫₀^0.3 exp(x₀ + b₁) dx₀ = (e^0.3 − 1)·e^b₁.
    jump = lambda x: jnp.where(x[0] < 0.3, jnp.exp(x[0] + x[1]), 0.0)  # noqa: E731
    jump_g = jax.grad(lambda b: cubature(jump, two, b, epsrel=1e-9)[0])(jnp.array([0.7, 0.5]))
    # NaN limit; an integrand that is NaN; too small a limit.
    nan_v, nan_info = cubature(gauss, jnp.array([jnp.nan, 0.0]), two + 1, (two,))
    bad_v, bad_info = cubature(lambda x: jnp.log(x[0] - 0.5), two, two + 1)
    short_v, short_info = cubature(jump, two, jnp.array([0.7, 0.5]), epsrel=1e-12, limit=20)
    # Review regressions: a narrow peak that the first rule's 17 nodes all miss (accepted
    # with a nonzero default epsabs); a huge finite limit beside an infinite one (its
    # map to t overflowed to 0); a face on which f is infinite (it stopped the loop that
    # integrates all the faces, so the other limit derivatives were wrong).
    peak_v = cubature(lambda x: jnp.exp(-400 * jnp.sum((x - 0.3) ** 2)), two - 1, two + 1, epsrel=1e-6)[0]
    huge_v = cubature(gauss, two - jnp.inf, jnp.array([1e200, jnp.inf]), (two + 1,), epsrel=1e-6)[0]
    face_g = jax.grad(lambda a: cubature(lambda x: 1 / jnp.sqrt(x[0]), a, two + 1, epsrel=1e-6)[0])(two)
    # f = 0/0 on the face x₀ = 0 (sin x₀ / x₀): f one float inside, 5e-324, was that
    # face itself to XLA (subnormals flush to zero), and the derivative NaN.
    sinc_g = jax.grad(
        lambda a: cubature(lambda x: jnp.sin(x[0]) / x[0] * jnp.exp(-x[1]), a, two + 1, epsrel=1e-10)[0]
    )(two)
    # Genz's discontinuous family, f = exp(c·x) for x₀ < w₀ and x₁ < w₁, else 0, with
    # both jumps just past a bisection point (w₀ = 0.5017 > 1/2, w₁ = 0.3138 > 5/16):
    # each lies in the node-free outer 5 % of the boxes beyond it, and it was reported
    # converged 6.5e-3 off.
    genz = lambda x, c, w: jnp.where((x[0] < w[0]) & (x[1] < w[1]), jnp.exp(jnp.dot(c, x)), 0.0)  # noqa: E731
    genz_v, genz_info = cubature(genz, two, two + 1, (jnp.array([0.935, 3.065]), jnp.array([0.5017, 0.3138])), epsrel=1e-6)
    # Genz's C0 family, f = exp(-c·|x - w|). First, a kink at x₁ = w₁ = 0.6231 lies 1.5 %
    # below the cut at 5/8 in the boxes above: it was reported converged 5.7e-6 off at
    # epsrel 1e-6. Second, kinks inside long thin boxes (cut many times across the kink
    # at x₀ = w₀, rarely along it): their rule estimates were discounted as for a smooth
    # f, and the result was reported converged 9.9e-6 off. Third, sharp kinks just past
    # the first cut (x₁ = 0.503 with c₁ = 10.6, 0.5003 with 30): each side bends as much
    # as the slope jumps, and they were reported converged 5e-4 and 4e-5 off (outside
    # probe).
    c0 = lambda x, c, w: jnp.exp(-jnp.dot(c, jnp.abs(x - w)))  # noqa: E731
    kink_v, kink_info = jax.vmap(lambda c, w: cubature(c0, two, two + 1, (c, w), epsrel=1e-6))(_KINK_C, _KINK_W)
    # A mild kink 0.2 % of the half-width past the first cut (at x₁ = 1/2): the halves'
    # slopes at the cut differ by less than their curvatures would flag, the kink stays
    # in the node-free band of every box above it, and it was reported converged 2e-5
    # off at epsrel 1e-8.
    band_v, band_info = cubature(c0, two, two + 1, (_BAND_C, _BAND_W), epsrel=1e-8)
    # The indicator of a disc of radius 0.12 inside the unit square, between the first 51
    # nodes: 0 with an error of 0, `converged` (outside probe); f ≡ 0 beside it.
    disc = lambda x: jnp.where(jnp.sum((x - jnp.array(_DISC_C)) ** 2) < _DISC_R**2, 1.0, 0.0)  # noqa: E731
    disc_v, disc_info = cubature(disc, two, two + 1, epsrel=1e-6, limit=1000)  # (its rim ends it short)
    zero_v, zero_info = cubature(lambda x: 0.0 * x[0], two, two + 1, epsrel=1e-6)
    # Nodes on a singular line of f: e^(p x₁)/√|x₀| on the centre line x₀ = 0 (its
    # derivative in p alike), and log|x₁ − c| with c = ½ + ½√(9/70) on one node of the
    # first box, (0, λ₂) from its centre. They were ±inf or NaN, `nonfinite` (outside
    # probe). A point singularity at the centre node stays `nonfinite`: left out, it
    # lands at the centre of the halves' shared face, and r^-1.9 ended `converged` 15 %
    # off (a probe of the first version of the rule).
    point = cubature(lambda x: jnp.sum(x * x) ** -0.95, two - 1, two + 1, epsrel=1e-6)
    line_g = jax.grad(lambda p: cubature(lambda x: jnp.exp(p * x[1]) / jnp.sqrt(jnp.abs(x[0])), two - 1, two + 1,
                                         epsrel=1e-8)[0])(1.0)
    node = cubature(lambda x: jnp.log(jnp.abs(x[1] - _NODE_C)) * (1 + x[0]), two, two + 1, epsrel=1e-6)
    return dict(
        point_nonfinite=point[1].status == STATUS.nonfinite, line_g=line_g,
        node_v=node[0], node_ok=node[1].status == STATUS.converged, node_neval=node[1].neval,
        disc_v=disc_v, disc_flag=disc_info.status == STATUS.converged, disc_err=disc_info.err,
        zero_v=zero_v, zero_ok=zero_info.status == STATUS.converged, zero_neval=zero_info.neval,
        band_v=band_v, band_ok=band_info.status == STATUS.converged,
        kink_v=kink_v, kink_ok=kink_info.status == STATUS.converged,
        genz_v=genz_v, genz_ok=genz_info.status == STATUS.converged,
        peak_v=peak_v, huge_v=huge_v, face_g=face_g, sinc_g=sinc_g,
        plane_v=plane_v, plane_g=plane_g, sym_ok=sym_ok, sym_g=sym_g, half_v=half_v, half_d=half_d, box=box, vec=vec,
        vec_status=vec_info.status == STATUS.converged, jump_g=jump_g,
        nan_v=nan_v, nan_status=nan_info.status == STATUS.nan_limits,
        bad_status=bad_info.status == STATUS.nonfinite,
        short_status=short_info.status == STATUS.max_subdivisions, short_neval=short_info.neval,
    )


_NODE_C = 0.5 + 0.5 * math.sqrt(9 / 70)  # a node of the degree-7 rule on [0, 1]²


@pytest.fixture(scope="module")
def special():
    return jax.device_get(_special_cases())


def test_infinite_limits_and_the_derivative_in_a_finite_one(special):
    np.testing.assert_allclose(special["plane_v"], np.pi, rtol=1e-10)
    np.testing.assert_allclose(special["plane_g"], 0.0, atol=1e-10)
    # d/dp₀ = ∫ (e^−(1+p)² − e^−(1−p)²) · √π erf(1), d/dp₁ = 0.
    from scipy.special import erf as serf

    d0 = (np.exp(-1.1**2) - np.exp(-0.9**2)) * np.sqrt(np.pi) * serf(1.0)
    assert special["sym_ok"]
    np.testing.assert_allclose(special["sym_g"], [d0, 0.0], rtol=1e-8, atol=1e-12)
    from scipy.special import erfc

    v, d = np.pi / 2 * erfc(0.3), np.sqrt(np.pi) * np.exp(-0.09)
    np.testing.assert_allclose(special["half_v"][0], v, rtol=1e-10)
    np.testing.assert_allclose(special["half_d"][0][0], -d, rtol=1e-10)
    # (1e5 + 0.4) − (1e5 + 0.1) is 0.3 to 1e-11 relative.
    np.testing.assert_allclose(special["half_v"][1:3], [v, -v], rtol=1e-9)
    np.testing.assert_allclose(special["half_d"][0][1], -d, rtol=1e-9)
    np.testing.assert_allclose(special["half_d"][1][2], d, rtol=1e-9)
    np.testing.assert_allclose(special["half_v"][3], -np.pi, rtol=1e-10)
    # The derivative in an infinite limit is 0; f vanishes on the face at 1e200.
    assert special["half_d"][1][0] == 0 and special["half_d"][0][2] == 0 and np.all(special["half_d"][0][3:] == 0)


def test_orientation_and_vector_valued_integrands(special):
    from scipy.special import erf as serf

    np.testing.assert_allclose(special["box"], -np.pi / 4 * serf(1.0) ** 2, rtol=1e-8)
    np.testing.assert_allclose(special["vec"], [2.0, 1.0, 1.0], rtol=1e-12)
    assert special["vec_status"]


def test_limit_derivatives_of_a_discontinuous_integrand_are_exact(special):
    np.testing.assert_allclose(special["jump_g"][0], 0.0, atol=1e-9)
    # (Without the Leibniz face terms this would be off by O(1); the face integral of a
    # jump meets its tolerance to within a factor of ~10.)
    np.testing.assert_allclose(special["jump_g"][1], (np.exp(0.3) - 1) * np.exp(0.5), rtol=5e-8)


def test_narrow_peak_huge_limit_and_a_singular_face(special):
    np.testing.assert_allclose(special["peak_v"], np.pi / 400, rtol=1e-6)
    np.testing.assert_allclose(special["huge_v"], np.pi, rtol=1e-6)
    # f blows up on the face x₀ = 0: its derivative is f at the smallest normal float
    # inside, large but finite (documented; quad extrapolates to inf). Before, the float
    # beside 0 was 5e-324, which XLA flushes to the face itself, where f is inf.
    assert special["face_g"][0] <= -1e150
    np.testing.assert_allclose(special["face_g"][1], -2.0, rtol=1e-6)
    # −∫₀¹ e^−y dy (f's limit 1 on the face x₀ = 0) and −∫₀¹ sin x / x dx = −Si(1).
    from scipy.special import sici

    np.testing.assert_allclose(special["sinc_g"], [-(1 - np.exp(-1.0)), -sici(1.0)[0]], rtol=1e-9)


def test_jump_beside_a_bisection_point_is_not_missed(special):
    c, w = np.array([0.935, 3.065]), np.array([0.5017, 0.3138])
    exact = np.prod(np.expm1(c * w) / c)
    # Converged, and within the tolerance (a small margin for the estimate).
    assert special["genz_ok"]
    np.testing.assert_allclose(special["genz_v"], exact, rtol=2e-6)


def test_kinks_beside_a_bisection_point_and_inside_boxes_are_not_missed(special):
    assert np.all(special["kink_ok"])
    np.testing.assert_allclose(special["kink_v"], _c0_exact(_KINK_C, _KINK_W), rtol=1e-6)
    assert special["band_ok"]
    np.testing.assert_allclose(special["band_v"], _c0_exact(_BAND_C, _BAND_W), rtol=1e-8)


_DISC_C, _DISC_R = (0.63566054, 0.26957926), 0.12


def test_an_integrand_zero_at_every_node_is_refined_before_it_is_accepted(special):
    # The disc is found: its value to the tolerance if `converged`, else within the
    # reported error (its rim is a jump along a curve: the loop may also stop short).
    exact = np.pi * _DISC_R**2
    assert abs(special["disc_v"] - exact) <= max(1e-6 * exact, special["disc_err"]) or not special["disc_flag"]
    assert abs(special["disc_v"] - exact) < 1e-3 * exact
    # f ≡ 0 is 0, `converged`, after the confirming boxes (64 at d = 2, a few more where
    # the last pass halves several at once: 2,431 evaluations).
    assert special["zero_v"] == 0 and special["zero_ok"] and special["zero_neval"] <= 2500


def test_status_for_nan_limits_nonfinite_values_and_the_box_limit(special):
    assert np.all(np.isnan(special["nan_v"])) and special["nan_status"]
    assert special["bad_status"]
    assert special["short_status"] and special["short_neval"] <= 20 * 17 * 2


def test_sums_beyond_the_largest_float_are_nonfinite_and_volumes_below_the_smallest_are_not_zero():
    # f near 1e300 over [-1e10, 1e10]²: the first box's rule sum overflows (its volume is
    # 4e20), and the total came out -inf with an error of inf, `converged` after 17
    # evaluations, since inf <= inf (outside probe). The same over [-1, 1]² is finite.
    f = lambda x: 1e300 * jnp.exp(-jnp.sum(x**2))  # noqa: E731
    _, info = cubature(f, jnp.full(2, -1e10), jnp.full(2, 1e10))
    assert info.status == STATUS.nonfinite
    value, info = cubature(f, -jnp.ones(2), jnp.ones(2))
    assert info.status == STATUS.converged
    np.testing.assert_allclose(value / 1e300, np.pi * erf(1.0) ** 2, rtol=1e-7)
    # And a volume below the smallest normal float: [1e-160, 2e-160]² has volume 1e-320,
    # which XLA flushes to 0, and f = 1e300 over it integrated to 0, `converged` (outside
    # probe; float32 boxes of side 1e-13 in d = 3 likewise). The integral is 1e-20.
    value, info = cubature(lambda x: 1e300 * (1 + 0 * x[0]), jnp.full(2, 1e-160), jnp.full(2, 2e-160))
    assert info.status == STATUS.converged
    np.testing.assert_allclose(value, 1e-20, rtol=1e-12)


def test_vmap_is_lane_for_lane_the_single_result():
    a, b = jnp.zeros(2), jnp.ones(2)
    # Centres from easy (far outside: one box suffices) to hard (a sharp peak inside).
    ps = jnp.array([[5.0, 5.0], [0.5, 0.5], [0.2, 0.9]])
    peaked = lambda x, p: jnp.exp(-30 * jnp.sum((x - p) ** 2))  # noqa: E731
    run = jax.jit(jax.vmap(lambda p: cubature(peaked, a, b, (p,), epsrel=1e-9)))
    value, info = run(ps)
    for i, p in enumerate(ps):
        # The first eager call compiles; the others (new values, same callable) do not.
        with count_compiles() as n:
            v1, i1 = cubature(peaked, a, b, (p,), epsrel=1e-9)
        assert value[i] == v1 and info.neval[i] >= i1.neval
        assert i == 0 or n == {"compile": 0, "trace": 0}, n
    exact = [float(jnp.prod(jnp.sqrt(jnp.pi / 30) / 2 * (erf(jnp.sqrt(30.0) * (1 - p)) + erf(jnp.sqrt(30.0) * p)))) for p in ps]
    # (The estimate of the third lane is 3x optimistic: rel. error 3e-9 at epsrel 1e-9.)
    np.testing.assert_allclose(value, exact, rtol=1e-8)
    # A new tolerance reuses the program too (epsabs and epsrel are inputs of it) and is
    # the one met: fewer evaluations, the looser error.
    p1 = ps[1]
    with count_compiles() as n:
        loose = cubature(peaked, a, b, (p1,), epsrel=1e-5, epsabs=1e-12)
    assert n == {"compile": 0, "trace": 0}, n
    assert bool(loose[1].converged) and int(loose[1].neval) < int(info.neval[1])
    assert abs(float(loose[0]) - exact[1]) <= 1e-5 * exact[1]


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="1-D"):
        cubature(gauss, 0.0, 1.0, (0.0,))
    with pytest.raises(ValueError, match="same shape"):
        cubature(gauss, jnp.zeros(2), jnp.ones(3), (0.0,))
    with pytest.raises(TypeError, match="callable"):
        cubature(1.0, jnp.zeros(2), jnp.ones(2))
    with pytest.raises(ValueError, match="epsrel"):
        cubature(gauss, jnp.zeros(2), jnp.ones(2), (0.0,), epsrel=-1.0)
    with pytest.raises(TypeError, match="real"):
        cubature(lambda x: x[0] + 0j, jnp.zeros(2), jnp.ones(2))
    with pytest.raises(ValueError, match="empty array"):
        cubature(lambda x: jnp.zeros((0,)), jnp.zeros(2), jnp.ones(2))
    # An integrand written for scipy's batch of points, x of shape (npoints, d): JAX's
    # bare "Too many indices" (outside probe); now it names the call and x's shape.
    with pytest.raises(IndexError, match=r"f\(x, \*args\) with x of shape \(2,\) \(one point"):
        cubature(lambda x: x[:, 0] * x[:, 1], jnp.zeros(2), jnp.ones(2))
    # JAX's own TypeErrors (a Python `if` on x) take other constructor arguments: the
    # message above failed to build, an AttributeError (a review).
    with pytest.raises(TypeError, match=r"calling f\(x, \*args\) with x of shape \(2,\)"):
        cubature(lambda x: x[0] if x[0] > 0.5 else x[1], jnp.zeros(2), jnp.ones(2))
    # Limits as lists or tuples, as scipy takes them (traced, not compiled, here).
    value, info = jax.eval_shape(lambda p: cubature(gauss, [0.0, p], (1.0, 2.0), (jnp.zeros(2),)), 0.5)
    assert value.shape == () and info.err.shape == ()
    # An integer-valued integrand is real (it was rejected; quad, nquad and qmc_quad take
    # it; outside probe): a float result.
    value, _ = jax.eval_shape(lambda: cubature(lambda x: 1, jnp.zeros(2), jnp.ones(2)))
    assert value.shape == () and jnp.issubdtype(value.dtype, jnp.floating)


def test_docstring_example_in_float32(float32_default):
    import doctest

    from jaxgrad.integrate import _cubature

    result = doctest.testmod(_cubature, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_second_derivative_in_the_finite_limit_where_the_map_had_a_tie():
    # [c, ∞) is mapped with τ(y) = 2y/(1 + √(1 + 4y²)), y = c for c < 0; √(1 + 4y²) was
    # `hypot(1, 2y)`, whose second derivative in JAX is 0 at |2y| = 1: d²/dc² ∫_c^∞ e^(−x²)
    # came out −0.456 at c = −0.5 for 2c e^(−c²) = −0.779 (outside probe). Also the
    # mirror image (−∞, c] at c = 0.5.
    def upper(c):
        return cubature(lambda x: jnp.exp(-x[0] ** 2), jnp.stack([c]), jnp.array([jnp.inf]), epsrel=1e-11)[0]

    def lower(c):
        return cubature(lambda x: jnp.exp(-x[0] ** 2), jnp.array([-jnp.inf]), jnp.stack([c]), epsrel=1e-11)[0]

    second = jax.jit(lambda c: (jax.grad(jax.grad(upper))(c), jax.grad(jax.grad(lower))(-c)))
    for c in (-0.5, -0.49):
        d2_upper, d2_lower = second(c)
        np.testing.assert_allclose([d2_upper, d2_lower], [2 * c * np.exp(-c * c), 2 * c * np.exp(-c * c)], rtol=1e-9)


def test_face_singularity_is_refined_beside_a_large_coordinate_and_in_float32():
    # ∫ x₀^(−0.9) over [0, 1] × [c, c + 1] = 10: a box beside x₀ = 0 counted as too narrow
    # to halve once its width reached 4·eps·|x₁| (the largest centre coordinate, not the
    # one along the cut axis), and the loop stopped 1.8 % off at c = 0, `roundoff`, at any
    # tolerance (outside probe). In float32 limits the cut fraction (a float64 constant)
    # turned the boxes float64, and JAX raised a dtype error.
    f = lambda x: x[0] ** -0.9  # noqa: E731
    for c in (0.0, 1e3):
        value, info = cubature(f, jnp.array([0.0, c]), jnp.array([1.0, c + 1]), epsrel=1e-4)
        assert bool(info.status == STATUS.converged) and abs(float(value) - 10.0) <= 2e-4 * 10, (c, float(value))
    p = jnp.float32(0.5)
    value, info = cubature(lambda x, p: jnp.exp(-p * jnp.sum(x)), jnp.zeros(2, jnp.float32), jnp.ones(2, jnp.float32), (p,), epsrel=1e-5)
    assert value.dtype == jnp.float32 and bool(info.status == STATUS.converged)
    np.testing.assert_allclose(value, ((1 - np.exp(-0.5)) / 0.5) ** 2, rtol=1e-5)


def test_first_box_whose_rules_agree_to_rounding_is_halved_once():
    # The basket call max(x + y + z − K, 0) over the unit cube: at K = 0.45 the kink
    # clips a corner that holds no node of the first rule, f is affine at every node,
    # and the rules agreed to rounding: `converged` after 33 evaluations, 1.6e-3 off at
    # any tolerance (outside probe). Exact: 3/2 − K + K⁴/24. (At K = 0.3 the corner also
    # misses the halves' nodes: still accepted, documented.)
    k = 0.45
    value, info = cubature(lambda x: jnp.maximum(jnp.sum(x) - k, 0.0), jnp.zeros(3), jnp.ones(3), epsrel=1e-6)
    exact = 1.5 - k + k**4 / 24
    assert bool(info.status == STATUS.converged) and abs(float(value) - exact) <= 1e-6 * exact, (float(value), exact)


@jax.jit
@jax.vmap
def _on_a_line(p):
    """∫₀ᵇ x^p dx over the box [0, b] of d = 1 at b = 2, with its derivatives in p and b
    (one loop: the value comes from the joint run of the derivative rule)."""
    def integral(p, b):
        value, info = cubature(lambda x, p: x[0] ** p, jnp.zeros(1), jnp.reshape(b, (1,)), (p,), epsrel=1e-8)
        return value, (info.err, info.status == STATUS.converged)

    return jax.value_and_grad(integral, argnums=(0, 1), has_aux=True)(p, 2.0)


def test_one_dimension_has_the_end_singularities_of_quad():
    # d = 1 used the Gauss–Kronrod pair on boxes without quad's end models: ∫₀¹ x^p for
    # p from −0.5 to −0.95 at epsrel 1e-8 ended `converged` up to 14 times outside the
    # tolerance (outside probe). References: I = b^(p+1)/(p + 1), d/dp = I (ln b −
    # 1/(p + 1)), d/db = b^p.
    p = np.array([-0.5, -0.8, -0.95])
    (value, (err, converged)), (d_p, d_b) = _on_a_line(jnp.asarray(p))
    exact = 2 ** (p + 1) / (p + 1)
    assert np.all(converged)
    assert np.all(np.abs(np.asarray(value) - exact) <= np.minimum(np.asarray(err), 1e-8 * exact)), (value, exact, err)
    np.testing.assert_allclose(d_p, exact * (np.log(2) - 1 / (p + 1)), rtol=1e-8)
    np.testing.assert_allclose(d_b, 2**p, rtol=1e-12)


def test_float32_box_with_a_float64_integrand_integrates_in_float64():
    # The boxes' pool was in the limits' dtype: ∫ e^(x+y) over [0, 1]² came out 1e-7 off,
    # `roundoff` (an outside review found it in `quad`). f's dtype now sets x's.
    w = jnp.ones((), jnp.float64)
    value, info = cubature(lambda x: w * jnp.exp(jnp.sum(x)), np.zeros(2, np.float32), np.ones(2, np.float32))
    assert value.dtype == jnp.float64 and bool(info.converged)
    assert abs(float(value) - (math.e - 1) ** 2) < 1e-8 * (math.e - 1) ** 2


def test_nodes_on_a_singular_line_are_left_out(special):
    assert special["point_nonfinite"]
    # ∂/∂p ∫∫ e^(p x₁)/√|x₀| = 4 · d/dp (2 sinh p / p) = 8 (p cosh p − sinh p)/p², 8/e at p = 1.
    np.testing.assert_allclose(special["line_g"], 8 / math.e, rtol=1e-8)
    # (3/2) ∫₀¹ log|y − c| dy. The box is cut across x₁ first, moving the plane x₁ = c
    # between boxes: 1,513 evaluations, where cutting the widest axis (x₀, as wide) took
    # 3,009 (each cut across x₀ left the node on the plane).
    c = _NODE_C
    assert special["node_ok"] and int(special["node_neval"]) <= 2000
    np.testing.assert_allclose(special["node_v"], 1.5 * (c * math.log(c) + (1 - c) * math.log(1 - c) - 1), rtol=1e-6)


def test_jacfwd_where_a_face_integral_is_infinite():
    # f = e^(−p x₁)·(x₀²)^(−¼) over [0, 1]² (|x₀|^(−½): integrable), jacfwd in (p, a): on the
    # face x₀ = 0, x₀² underflows to 0 one float inside and the face's integral is −∞; the
    # Leibniz term met the zero tangent of a₀ in the other columns, ∞·0: d/dp and d/da₁
    # were NaN, `converged` (a review). d/dp = −∫∫ x₁ e^(−x₁) x₀^(−½) = −2(1 − 2/e) at
    # p = 1; d/da₁ = −∫₀¹ x₀^(−½) dx₀ = −2 (the face x₁ = 0); d/da₀ = −∞.
    f = lambda x, p: jnp.exp(-p * x[1]) * (x[0] * x[0]) ** -0.25  # noqa: E731

    def value(p, a):
        v, info = cubature(f, a, jnp.ones(2), (p,), epsabs=0.0, epsrel=1e-8)
        return v, info.status

    (dp, da), status = jax.jit(jax.jacfwd(value, argnums=(0, 1), has_aux=True))(1.0, jnp.zeros(2))
    assert bool(status == STATUS.converged)
    np.testing.assert_allclose(float(dp), -2 * (1 - 2 / math.e), rtol=1e-7)
    assert float(da[0]) == -np.inf
    np.testing.assert_allclose(float(da[1]), -2.0, rtol=1e-7)


def test_the_boxes_to_halve_are_those_a_full_sort_ranks_first():
    # Each pass halves the m boxes with the largest scores, in the order of a stable
    # sort of −score (lower index first among equal scores, NaN last). The pool is no
    # longer sorted whole: float32 top_k picks candidates. Against the definition (a
    # Python sort) on ties in float32 that float64 tells apart (a first version chose
    # other boxes there, a review), exact ties, ±0, ±inf, NaN, unused slots (−inf),
    # values beyond float32's range, and under vmap.
    from jaxgrad.integrate._cubature_adaptive import _top

    def reference(s, m):
        return sorted(range(len(s)), key=lambda i: (math.isnan(s[i]), 0.0 if math.isnan(s[i]) else -s[i], i))[:m]

    rng = np.random.default_rng(0)
    n = 200
    cases = [np.r_[np.ones(150), 1 + 1e-12 * rng.integers(0, 3, 50)],
             1.0 + rng.integers(0, 3, n) * 1e-12,
             np.round(rng.standard_normal(n), 1),
             rng.choice([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300, 1e-300, 5.0], n),
             np.where(rng.random(n) < 0.9, -np.inf, rng.random(n)),
             np.r_[rng.random(7), np.full(n - 7, -np.inf)],
             np.exp(np.clip(rng.standard_normal(n) * 300, -700, 700)),
             rng.standard_normal(n)]
    top = jax.jit(_top, static_argnums=1)
    for m in (5, 16):
        for s in cases:
            assert np.asarray(top(jnp.asarray(s), m)[1]).tolist() == reference(list(s), m)
    batch = jnp.asarray(np.stack(cases[:4]))
    idx = jax.jit(jax.vmap(lambda s: _top(s, 5)[1]))(batch)
    assert [list(map(int, i)) for i in idx] == [reference(list(s), 5) for s in np.asarray(batch)]


def _gaussian_checked(x, p, lo, hi):
    # (Raises if evaluated outside the box [lo, hi], as an integrand defined only there may.)
    import equinox as eqx

    x = eqx.error_if(x, jnp.any((x < lo) | (x > hi)), "evaluated outside the box")
    return jnp.exp(-jnp.sum((x - p) ** 2))


_gaussian_cubature = jax.jit(lambda lo, hi, p: cubature(_gaussian_checked, lo, hi, (p, lo, hi), epsrel=3e-5))


def test_the_whole_box_is_never_accepted_on_its_first_rule_nor_evaluated_outside():
    # Three outside-probe findings, one program. (1) e^(−‖x − p‖²) over [0, 1]⁵ was
    # `converged` after the first 93 evaluations, 1.1e-4 off for epsrel 3e-5 (its two
    # rules erred alike: estimate 2.2e-5); the whole box is now halved once first.
    # (2) The pass's unused slots were evaluated at the origin, outside [0.2, 1.1]⁵, where
    # this integrand raises. (3) A box of zero width was `roundoff` (51 evaluations at
    # d = 2); it is exactly 0, `converged`. Closed form: Π √π/2 (erf(bᵢ − pᵢ) − erf(aᵢ − pᵢ)).
    from scipy.special import erf as erf_np

    p = np.array([0.795, 0.959, 0.52, 0.384, 0.51])
    for lo, hi in ((np.zeros(5), np.ones(5)), (np.full(5, 0.2), np.full(5, 1.1))):
        value, info = _gaussian_cubature(jnp.asarray(lo), jnp.asarray(hi), jnp.asarray(p))
        exact = np.prod(math.sqrt(math.pi) / 2 * (erf_np(hi - p) - erf_np(lo - p)))
        assert bool(info.converged) and int(info.neval) > 93
        assert abs(float(value) - exact) <= 3e-5 * exact
        assert abs(float(value) - exact) <= float(info.err)
    value, info = _gaussian_cubature(jnp.full(5, 0.5), jnp.full(5, 0.5), jnp.asarray(p))
    assert float(value) == 0.0 and float(info.err) == 0.0 and bool(info.converged)


def _jump_near_a_face(x, w, s):
    # x₀^(−s/2) e^(x₀ + x₁) for x₁ < w, 0 beyond; raising wherever it is evaluated
    # outside the unit square.
    inside = eqx.error_if(x, jnp.any((x < 0) | (x > 1)), "outside the box")
    return jnp.where(inside[1] > w, 0.0, inside[0] ** (-s / 2) * jnp.exp(inside[0] + inside[1]))


_near_face = jax.jit(lambda w, s: cubature(_jump_near_a_face, jnp.zeros(2), jnp.ones(2), (w, s), epsrel=1e-7))


def test_a_jump_beside_an_outer_face_of_the_box_is_not_missed():
    # No node of any box lies in the outer 2.6 % of its width along an axis, and the
    # jump check at every cut compares the two halves of a new face: a jump beside a face
    # of the whole box was seen by nothing. e^(x + y)·[y < 0.99] over the unit square came
    # out 1.6 % off, `converged`, at every tolerance down to 1e-8 (outside probe). The
    # whole box's faces are now checked with points just inside them. Closed form:
    # (e − 1)(e^w − 1).
    for w in (0.99, 0.999, 0.5):
        value, info = _near_face(w, 0.0)
        assert bool(info.converged), w
        np.testing.assert_allclose(value, np.expm1(1.0) * np.expm1(w), rtol=2e-7)
    # f singular on the face x₀ = 0, far above its values at the nodes: not taken for a
    # jump (a first version flagged it, and its fast cuts toward the face once placed a
    # box 1e-18 wide beyond it: NaN, `nonfinite`). Closed form: √π erfi(1) (e − 1).
    value, info = _near_face(1.0, 1.0)
    assert bool(info.converged)
    np.testing.assert_allclose(value, 2.9253034918143632 * np.expm1(1.0), rtol=2e-7)


def test_an_infinite_absolute_tolerance_is_met_at_once():
    # epsabs=inf gave the right value with an error of NaN, `nonfinite` (an unflagged
    # face's band error was 0·inf; outside probe). Closed form: (√π/2 · erf 1)².
    value, info = cubature(lambda x: jnp.exp(-jnp.sum(x**2)), jnp.zeros(2), jnp.ones(2), epsabs=float("inf"))
    assert bool(info.converged) and np.isfinite(float(info.err))
    np.testing.assert_allclose(value, (np.sqrt(np.pi) / 2 * math.erf(1.0)) ** 2, rtol=1e-5)
