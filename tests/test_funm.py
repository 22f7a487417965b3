"""Matrix functions of Hermitian matrices: derivatives at exact, near and rounding-split ties.

References are independent of jaxgrad and of JAX's own derivatives: mpmath's matrix
functions (expm, logm, sqrtm, powm, sinm) at 40 digits differentiated by central
differences (tests/reference.py), mpmath divided differences, and closed forms.
"""

from __future__ import annotations

import functools
import logging

import equinox as eqx
import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from jaxgrad.linalg._funm import (
    first_divided_differences,
    funm,
    second_divided_differences,
)
from jaxgrad.linalg._matfuncs import (
    expm,
    inv_sqrtm,
    logm,
    powm,
    projector,
    sqrtm,
    trace_function,
)
from jaxgrad.linalg._polar import polar
from jaxgrad.linalg._svd_funm import svd_funm
from jaxgrad.linalg._svd_spectral import svt
from reference import directional_derivative, planted, rotation, to_mp

# ----------------------------------------------------------------------------------
# Functions under test and their independent mpmath references.

P = 0.7


def _mp_projector(k):
    def proj(m):
        # Spectral projector by the resolvent-free route: mpmath eigenvectors at 40 digits.
        w, v = mp.eigsy(m) if all(mp.im(x) == 0 for x in m) else mp.eighe(m)
        order = sorted(range(len(w)), key=lambda i: w[i])[:k]
        out = mp.matrix(m.rows, m.cols)
        for c in order:
            for i in range(m.rows):
                for j in range(m.cols):
                    out[i, j] += v[i, c] * mp.conj(v[j, c])
        return out

    return proj


FUNCS = {
    "expm": (expm, mp.expm),
    "logm": (logm, mp.logm),
    "sqrtm": (sqrtm, mp.sqrtm),
    "powm": (lambda a: powm(a, P), lambda m: mp.powm(m, mp.mpf(P))),
    "inv_sqrtm": (inv_sqrtm, lambda m: mp.inverse(mp.sqrtm(m))),
    "funm_sin": (lambda a: funm(a, jnp.sin), mp.sinm),
    "projector2": (lambda a: projector(a, 2), _mp_projector(2)),
    "funm_tanh": (lambda a: funm(a, jnp.tanh), lambda m: _mp_funm(m, mp.tanh)),
}


def _mp_funm(m, f):
    w, v = mp.eigsy(m)
    return v * mp.diag([f(x) for x in w]) * v.T

# One jitted function per transformation, shared by every test (compile once per
# function name, shape and dtype).
_apply = jax.jit(lambda name, a: FUNCS[name][0](a), static_argnums=0)
_jvp = jax.jit(lambda name, a, e: jax.jvp(FUNCS[name][0], (a,), (e,))[1], static_argnums=0)


@jax.jit
def _pairing(c, x):
    return jnp.real(jnp.sum(jnp.conj(c) * x))


_grad = jax.jit(
    lambda name, a, c: jax.grad(lambda a: _pairing(c, FUNCS[name][0](a)))(a), static_argnums=0
)


def _second_fwd_rev(name, a, c, e1, e2):
    """d/ds ⟨∇_A ⟨C, F(A + s E₁)⟩, E₂⟩: forward over reverse."""

    def g(s):
        grad = jax.grad(lambda a: _pairing(c, FUNCS[name][0](a)))(a + s * e1)
        return jnp.sum(grad * e2)

    return jax.jvp(g, (0.0,), (1.0,))[1]


def _second_rev_rev(name, a, c, e1, e2):
    def h(s, t):
        return _pairing(c, FUNCS[name][0](a + s * e1 + t * e2))

    return jax.grad(jax.grad(h, argnums=1), argnums=0)(0.0, 0.0)


_second = {
    "fwd_rev": jax.jit(_second_fwd_rev, static_argnums=0),
    "rev_rev": jax.jit(_second_rev_rev, static_argnums=0),
}


def _mp_mixed_second(loss, a, e1, e2, h=mp.mpf("1e-12"), dps=50):
    """∂²/∂s∂t loss(a + s e₁ + t e₂) at 0 by central differences in ``dps`` digits."""
    with mp.workdps(dps):
        a, e1, e2 = to_mp(a), to_mp(e1), to_mp(e2)

        def val(s, t):
            return loss(a + s * e1 + t * e2)

        return (val(h, h) - val(h, -h) - val(-h, h) + val(-h, -h)) / (4 * h * h)


def _sym(seed, n, complex_=False):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(n, n))
    if complex_:
        e = e + 1j * rng.normal(size=(n, n))
    return (e + e.conj().T) / 2


def _assert_close(actual, expected, rtol, atol_scale=None):
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = np.max(np.abs(expected)) if atol_scale is None else atol_scale
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-300))


# Matrices with eigenvalues in (0, 3]: exact ties, near ties (gap 1e-6, 1e-10), a tie split
# only by rounding, and a generic SPD matrix.
R3 = rotation(3, 7)
MATRICES = {
    "identity": np.eye(3),
    "diag112": np.diag([1.0, 1.0, 2.0]),
    "near1e-6": (R3 * [1.0, 1.0 + 1e-6, 2.0]) @ R3.T,
    "near1e-10": (R3 * [1.0, 1.0 + 1e-10, 2.0]) @ R3.T,
    "planted112": planted([1.0, 1.0, 2.0], 3),
    "spd4": planted([0.4, 1.1, 1.9, 2.7], 5),
}


# ----------------------------------------------------------------------------------
# Closed forms.


def test_square_sum_gradient_at_identity_is_two_ones():
    # Σᵢⱼ (A²)ᵢⱼ = 1ᵀA²1 has gradient A11ᵀ + 11ᵀA = 2·ones at A = I; a rule that masks the
    # tied coupling (Γᵢⱼ = 0 at ties) would give only the diagonal, 2·I.
    loss = lambda a: jnp.sum(funm(a, lambda x: x**2))  # noqa: E731
    for a in (np.eye(3), planted([1.0, 1.0, 1.0], 0)):
        g = jax.jit(jax.grad(loss))(a)
        _assert_close(g, a @ np.ones((3, 3)) + np.ones((3, 3)) @ a, 1e-13)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(np.eye(3)), 2 * np.ones((3, 3)), rtol=1e-14)


@pytest.mark.parametrize("mode", ["fwd_fwd", "fwd_rev", "rev_rev"])
def test_trace_exp_second_derivative_is_9e(mode):
    # d²/dx² tr exp(I + xJ) = tr(e·J²) = 9e for J = ones(3, 3); Hessians of funm, expm and
    # trace_function are exact at the triple tie.
    j = jnp.ones((3, 3))
    for tr in (
        lambda x: jnp.trace(expm(jnp.eye(3) + x * j)),
        lambda x: jnp.trace(funm(jnp.eye(3) + x * j, jnp.exp)),
        lambda x: trace_function(jnp.eye(3) + x * j, jnp.exp),
    ):
        d2 = jax.jit(
            {
                "fwd_fwd": jax.jacfwd(jax.jacfwd(tr)),
                "fwd_rev": jax.hessian(tr),
                "rev_rev": jax.grad(jax.grad(tr)),
            }[mode]
        )(0.0)
        np.testing.assert_allclose(d2, 9 * np.e, rtol=1e-14)


@pytest.mark.parametrize("name", ["identity", "diag112", "near1e-10", "planted112"])
def test_trace_function_gradient_is_f_prime(name):
    # ∇ tr exp(A) = exp(A); ∇ tr A^3 = 3A² (the gradient of a symmetrized input).
    a = MATRICES[name]
    g = jax.jit(jax.grad(lambda a: trace_function(a, jnp.exp)))(a)
    with mp.workdps(40):
        ref = np.array(mp.expm(to_mp(a)).tolist(), dtype=float)
    _assert_close(g, ref, 1e-14)
    g3 = jax.jit(jax.grad(lambda a: trace_function(a, lambda x: x**3)))(a)
    _assert_close(g3, 3 * a @ a, 1e-14)


def test_trace_function_hessian_vs_mpmath():
    a, e1, e2 = MATRICES["planted112"], _sym(1, 3), _sym(2, 3)
    loss = lambda m: mp.fsum(mp.expm(m)[i, i] for i in range(3))  # noqa: E731
    ref = _mp_mixed_second(loss, a, e1, e2)

    def h(s, t):
        return trace_function(a + s * e1 + t * e2, jnp.exp)

    got = jax.jit(jax.grad(jax.grad(h, argnums=1), argnums=0))(0.0, 0.0)
    np.testing.assert_allclose(got, float(ref), rtol=1e-12)


# ----------------------------------------------------------------------------------
# Divided differences against mpmath.


def _mp_divided_difference(f, derivs, xs):
    """f[x₀, …, x_k] by recursion on sorted points, confluent limits from ``derivs``."""
    xs = sorted(mp.mpf(float(x)) for x in xs)
    if len(xs) == 1:
        return f(xs[0])
    if xs[0] == xs[-1]:
        return derivs[len(xs) - 1](xs[0]) / mp.factorial(len(xs) - 1)
    return (
        _mp_divided_difference(f, derivs, xs[1:]) - _mp_divided_difference(f, derivs, xs[:-1])
    ) / (xs[-1] - xs[0])


DD_CASES = {
    "exp": (jnp.exp, mp.exp, [mp.exp, mp.exp, mp.exp]),
    "log": (jnp.log, mp.log, [mp.log, lambda x: 1 / x, lambda x: -1 / x**2]),
    "sqrt": (
        jnp.sqrt,
        mp.sqrt,
        [mp.sqrt, lambda x: 1 / (2 * mp.sqrt(x)), lambda x: -1 / (4 * x**1.5)],
    ),
}


@pytest.mark.parametrize("fname", list(DD_CASES))
def test_divided_differences_near_ties(fname):
    # Exact tie, gaps 1e-10, 1e-6, 3e-5, 1e-3 (both sides of the quotient/Simpson switch).
    w = np.array([1.0, 1.0, 1 + 1e-10, 1 + 1e-6, 1 + 3e-5, 1 + 1e-3, 1.5, 2.5])
    jf, f, derivs = DD_CASES[fname]
    g1, _ = first_divided_differences(jf, jnp.asarray(w))
    g2 = second_divided_differences(jf, jnp.asarray(w))
    n = len(w)
    def ref(*points):
        return float(_mp_divided_difference(f, derivs, points))

    with mp.workdps(60):
        r1 = np.array([[ref(w[i], w[j]) for j in range(n)] for i in range(n)])
        r2 = np.array(
            [[[ref(w[i], w[k], w[j]) for k in range(n)] for j in range(n)] for i in range(n)]
        )
    np.testing.assert_allclose(g1, r1, rtol=1e-14)
    # Worst case of the second differences is at the switch (gaps ~1e-4), O(eps^(3/4)).
    np.testing.assert_allclose(g2, r2, rtol=1e-10)


# ----------------------------------------------------------------------------------
# First derivatives against mpmath, forward and reverse.

DOMAIN_OK = [(f, m) for f in FUNCS if f not in ("projector2", "funm_tanh") for m in MATRICES]


@pytest.mark.parametrize("fname,mname", DOMAIN_OK)
def test_jvp_vs_mpmath(fname, mname):
    a = MATRICES[mname]
    e = _sym(11, a.shape[0])
    got = _jvp(fname, a, e)
    ref = directional_derivative(FUNCS[fname][1], a, e).real.reshape(a.shape)
    _assert_close(got, ref, 1e-12 if mname != "near1e-6" else 1e-10)


@pytest.mark.parametrize("fname", ["expm", "logm", "sqrtm", "powm", "funm_sin"])
@pytest.mark.parametrize("mname", ["identity", "near1e-6", "planted112", "spd4"])
def test_grad_vs_mpmath(fname, mname):
    # ⟨∇⟨C, F(A)⟩, E⟩ = ⟨C, dF[E]⟩ for symmetric E; the gradient is symmetric.
    a = MATRICES[mname]
    n = a.shape[0]
    c = np.random.default_rng(3).normal(size=(n, n))
    e = _sym(12, n)
    g = np.asarray(_grad(fname, a, c))
    np.testing.assert_allclose(g, g.T, rtol=0, atol=1e-15 * np.max(np.abs(g)))
    ref = directional_derivative(FUNCS[fname][1], a, e).real.reshape(n, n)
    np.testing.assert_allclose(np.sum(g * e), np.sum(c * ref), rtol=1e-11)


# ----------------------------------------------------------------------------------
# Second derivatives through the matrix function itself (second divided differences).

SECOND_CASES = [
    ("expm", "identity"),
    ("expm", "diag112"),
    ("expm", "planted112"),
    ("sqrtm", "near1e-6"),
    ("logm", "planted112"),
    ("funm_sin", "near1e-10"),
    ("powm", "spd4"),
]


@pytest.mark.parametrize("mode", ["fwd_rev", "rev_rev"])
@pytest.mark.parametrize("fname,mname", SECOND_CASES)
def test_second_derivative_vs_mpmath(fname, mname, mode):
    a = MATRICES[mname]
    n = a.shape[0]
    c = np.random.default_rng(4).normal(size=(n, n))
    e1, e2 = _sym(5, n), _sym(6, n)
    mp_f = FUNCS[fname][1]

    def loss(m):
        fm = mp_f(m)
        return mp.fsum(c[i, j] * fm[i, j] for i in range(n) for j in range(n))

    ref = float(_mp_mixed_second(loss, a, e1, e2))
    got = _second[mode](fname, a, c, e1, e2)
    np.testing.assert_allclose(got, ref, rtol=1e-10)


@pytest.mark.parametrize("mode", ["fwd_rev", "rev_rev"])
def test_second_derivative_where_f_prime_has_absolute_rounding_error(mode):
    # A tie split by rounding, with f′ = tanh′ computed as 1 − tanh²: its absolute error
    # (~eps) is 14x eps·|tanh′(2)|, and the second divided differences must not divide
    # that noise by the rounding-size gap (they did, and were off by 4 in this Hessian).
    a = planted([2.0, 2.0, 1.0, -1.0], 3)
    c = np.random.default_rng(4).normal(size=(4, 4))
    e1, e2 = _sym(5, 4), _sym(6, 4)

    def loss(m):
        fm = _mp_funm(m, mp.tanh)
        return mp.fsum(c[i, j] * fm[i, j] for i in range(4) for j in range(4))

    ref = float(_mp_mixed_second(loss, a, e1, e2))
    np.testing.assert_allclose(_second[mode]("funm_tanh", a, c, e1, e2), ref, rtol=1e-10)


@functools.partial(jax.jit, static_argnums=1)
def _first_and_second(a, f):
    """d/dt F(a + tE)₀₁ and d²/dt² F(a + tE)₀₀ at t = 0 for F = funm(·, f) and for
    svd_funm (the same function for a positive definite a and f(0) = 0), E = [[0, 1], [1, 0]]."""
    e = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    out = []
    for fun in (funm, svd_funm):
        first = jax.jvp(lambda t: fun(a + t * e, f)[0, 1], (0.0,), (1.0,))[1]
        second = jax.grad(jax.grad(lambda t: fun(a + t * e, f)[0, 0]))(0.0)
        out.append((first, second))
    return out


def _sin50(x):
    return jnp.sin(50 * x)


def _mp_divided_differences(f, x, y):
    """f[x, y] and 2 f[x, x, y] (= d/dt F₀₁ and d²/dt² F₀₀ above) at 50 digits."""
    with mp.workdps(50):
        xm, ym = mp.mpf(x), mp.mpf(y)
        d1 = (f(ym) - f(xm)) / (ym - xm)
        return float(d1), float(2 * (d1 - mp.diff(f, xm)) / (ym - xm))


def _check_divided_differences(f, f_mp, x, y, first_rtol, second_rtol):
    """funm's and svd_funm's d/dt F₀₁ and d²/dt² F₀₀ at diag(x, y) against mpmath."""
    d1, d2 = _mp_divided_differences(f_mp, x, y)
    for first, second in _first_and_second(jnp.diag(jnp.array([x, y])), f):
        assert abs(float(first) - d1) <= first_rtol * abs(d1), (x, y, float(first), d1)
        assert abs(float(second) - d2) <= second_rtol * abs(d2), (x, y, float(second), d2)


@pytest.mark.parametrize("gap", [1e-15, 1e-12, 1e-8])
def test_tie_split_by_rounding_where_f_rounds_inside(gap):
    # sin(50x) rounds 50x: its computed value is off by eps·|x f′(x)|, 185·eps·|f| at
    # x = 1, which the quotient's error bound left out; at a tie split by rounding the
    # quotient was taken: f[1, 1 + 1e-15] came out 49.4 (48.25), the second derivative
    # 2e15 (656), in funm and svd_funm alike (outside probe). Reference: the divided
    # differences of sin(50x) in mpmath at 50 digits, at the eigenvalues as stored.
    _check_divided_differences(_sin50, lambda t: mp.sin(50 * t), 1.0, float(np.float64(1.0) + gap), 1e-12, 1e-9)


def _x_minus_sin(x):
    return x - jnp.sin(x)


def test_tie_split_by_rounding_where_f_cancels():
    # x − sin x rounds x itself (eps·|x|), far above eps·(|f| + |x f′|) near 0: capping
    # the quotient's noise at that let the tie split by rounding take a quotient of
    # noise, f[0.3, 0.3 + 1e-15] = 0 (0.0447) and the second derivative −8.9e13 (0.296)
    # (outside review).
    _check_divided_differences(_x_minus_sin, lambda t: t - mp.sin(t), 0.3, float(np.float64(0.3) + 1e-15), 1e-12, 1e-9)


@pytest.mark.parametrize(
    "f, f_mp, x, gap", [(jnp.sin, mp.sin, 1e6, 0.05), (jnp.sin, mp.sin, 1e6, 0.1), (jnp.exp, mp.exp, 500.0, 1e-2)]
)
def test_divided_differences_where_the_eigenvalue_is_far_above_the_gap(f, f_mp, x, gap):
    # An accurate f at large |λ|: f's spread over λ ± 2 ulps (the quotient's noise term)
    # holds its slope eps·|λ f′|, so the pair goes to the integral rule; Simpson's
    # (gap⁴ error) then lost 1e-6 in the second derivative of sin at λ = 1e6, gap 0.05,
    # and 3e-9 for exp at 500 (outside review), and a rule node rounded eps·|λ| off its
    # place cost 1.6e-11 in the first derivative at gap 0.1.
    _check_divided_differences(f, f_mp, x, x + gap, 1e-13, 1e-11)


@pytest.mark.parametrize(
    "f, f_mp, x, gap",
    [
        (jnp.exp, mp.exp, 1.0, 1.17e-3),
        (jnp.sqrt, mp.sqrt, 1.0, 6.4e-4),
        (_sin50, lambda t: mp.sin(50 * t), 1.0, 3.1e-5),
        (jnp.cos, mp.cos, 3e4, 7.14e-3),
    ],
)
def test_second_divided_differences_near_the_switch(f, f_mp, x, gap):
    # Where the edge-midpoint rule's gap³ error meets the quotient's, the rule was taken
    # whenever it agreed with the quotient within the quotient's bound: 4.4e-12, 9.6e-12,
    # 3.8e-11 and 1.4e-9 relative at these gaps (the worst of a sweep over gaps,
    # bench/divided_differences.py). The quotient is now also taken where its bound is
    # below the rule's estimated error.
    _check_divided_differences(f, f_mp, x, x + gap, 1e-13, 2e-12)


def _step(x):
    return jnp.where(x > 1, 1.0, 0.0)


@pytest.mark.parametrize("far", [2.0, 3.0])
def test_divided_difference_of_a_step_at_its_step(far):
    # f = [x > 1] at λ = (1, far): f[1, far] = (f(far) − f(1))/(far − 1) = 1/(far − 1),
    # the quotient; the rule's f′ is 0 everywhere. f's jump right beside λ = 1 counted as
    # rounding noise of the quotient and handed the pair to the rule: 0 (outside review).
    for first, _ in _first_and_second(jnp.diag(jnp.array([1.0, far])), _step):
        assert float(first) == 1 / (far - 1)


def test_hessian_of_funm_at_identity_closed_form():
    # F(I + xJ) = exp(I + xJ) = e·(I + (e^{3x} − 1)/3 · J): d²F/dx² at 0 = 3e·J.
    j = jnp.ones((3, 3))
    d2 = jax.jit(jax.hessian(lambda x: expm(jnp.eye(3) + x * j)))(0.0)
    np.testing.assert_allclose(d2, 3 * np.e * np.ones((3, 3)), rtol=1e-14)


@jax.jit
def _exp_shifted(s, b):
    a = jnp.diag(jnp.array([0.0, 1.0, 5.0])) + s * jnp.eye(3)
    e = jnp.ones((3, 3)) - jnp.eye(3)
    d2 = jax.grad(jax.grad(lambda t: jnp.sum(expm(a + t * e))))(0.0)
    return d2 / jnp.exp(s), jax.grad(lambda m: jnp.sum(expm(m)))(b)


def test_derivatives_where_f_prime_is_near_overflow():
    # exp(A + sI) = eˢ exp(A). At s = 400 (f′ ~ 1e176) the squared Simpson error term
    # overflowed and the second derivative came out 8 % off; at λ = 708 the Simpson sum
    # f′(x) + 4f′(m) + f′(y) overflowed and the gradient was NaN.
    with mp.workdps(40):
        a_mp, e_mp = mp.diag([0, 1, 5]), mp.ones(3) - mp.eye(3)
        ref = mp.diff(lambda t: mp.fsum(mp.expm(a_mp + t * e_mp)), 0, 2)
    # At λ ≈ 709–709.2 (f′(x) + f′(y) > 1.8e308) the Lobatto sum added f′(x) + f′(y) before scaling: the
    # diagonal divided difference was inf and the whole gradient NaN (outside review).
    for b, s in ((np.array([[708.0, 0.3], [0.3, 708.5]]), 0.0), (np.array([[709.0, 1e-3], [1e-3, 709.2]]), 400.0)):
        with mp.workdps(40):  # the gradient of Σ exp(B) is the Fréchet derivative in the all-ones direction
            g_ref = mp.matrix(2, 2)
            for i in range(2):
                for j in range(2):
                    d = mp.zeros(2)
                    d[i, j] = 1
                    g_ref[i, j] = mp.diff(lambda t: mp.fsum(mp.expm(mp.matrix(b.tolist()) + t * d)), 0)
        d2, g = _exp_shifted(s, jnp.asarray(b))
        np.testing.assert_allclose(float(d2), float(ref), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(g), np.array(g_ref.tolist(), dtype=float), rtol=1e-10)


# The named functions' closed-form divided differences (jaxgrad/linalg/_matfuncs.py),
# through the public function: at A = diag(λ) the eigenvectors are exact and the
# derivative along the all-ones direction is the matrix Γ itself, Γᵢⱼ = f[λᵢ, λⱼ].
# Points at each scale c: c itself and c(1 + g) (c + g for exp) for gaps g from about
# one ulp to 2. The general rule's worst here was 6.3e-10 (logm at 1e300) and 2.1e-9
# (inv_sqrtm at 1e200), both at gap 0.3·c; the closed forms' is 3.7e-16.
_NAMED_FIRST = {  # the function, f and f′ in mpmath, the scales
    "expm": (expm, mp.exp, mp.exp, (-30.0, 0.0, 1.0, 500.0, 707.0)),
    "logm": (logm, mp.log, lambda x: 1 / x, (1e-300, 1e-5, 1.0, 1e300)),
    "sqrtm": (sqrtm, mp.sqrt, lambda x: 1 / (2 * mp.sqrt(x)), (1e-300, 1.0, 1e300)),
    "inv_sqrtm": (inv_sqrtm, lambda x: 1 / mp.sqrt(x), lambda x: -x ** mp.mpf(-1.5) / 2, (1e-200, 1e-5, 1.0, 1e200)),
    **{
        f"powm({q})": (functools.partial(powm, p=q), lambda x, q=q: x ** mp.mpf(q),
                       lambda x, q=q: mp.mpf(q) * x ** (mp.mpf(q) - 1),
                       (1e-100, 1e-5, 1.0, 1e100) + ((1e-130,) if q == 2.5 else ()))
        # (2.5 at 1e-130: λ^2.5 underflows where f[x, y] ~ λ^1.5 does not; the difference
        # of the powers gave 0 for 4.7e-195, outside probe)
        for q in (0.3, -0.5, 2.5, 1e-3)
    },
}


@pytest.mark.parametrize("name", list(_NAMED_FIRST))
def test_named_functions_first_divided_differences_are_exact(name):
    fn, f_mp, df_mp, scales = _NAMED_FIRST[name]
    q = float(name[5:-1]) if name.startswith("powm(") else None
    gaps = (0.0, 2.3e-16, 3e-14, 1e-11, 1e-8, 1e-5, 1e-3, 0.3, 2.0)
    jvp = jax.jit(lambda a: jax.jvp(fn, (a,), (jnp.ones_like(a),))[1])
    for c in scales:  # (one matrix per scale: logm of diag(1e-300, 1e300) is NaN)
        lam = np.array([c + (g if name == "expm" else g * c) for g in gaps])
        got = np.asarray(jvp(jnp.diag(lam)))
        with mp.workdps(50):
            for i, x in enumerate(lam):
                for j, y in enumerate(lam):
                    if 0 < abs(x - y) < 2.3e-308:
                        continue  # a subnormal gap: XLA's CPU code flushes it to 0, a tie
                    xm, ym = mp.mpf(x), mp.mpf(y)
                    ref = df_mp(xm) if xm == ym else (f_mp(xm) - f_mp(ym)) / (xm - ym)
                    # (XLA's x^q, as exp(q·ln x), is itself off by up to eps·|q ln x|.)
                    tol = 2e-15 * (1 + (abs(q) * max(abs(np.log(x)), abs(np.log(y))) if q else 0))
                    assert abs(got[i, j] - ref) <= tol * abs(ref), (name, x, y, got[i, j], float(ref))


@pytest.mark.parametrize("name", ["sqrtm", "inv_sqrtm"])
def test_square_root_second_divided_differences_are_exact(name):
    # √ and 1/√ also have closed-form second divided differences (_matfuncs.py). Along
    # the all-ones direction at diag(λ), d²/dt² F = 2 Σₖ f[λᵢ, λₖ, λⱼ] (a sum of terms
    # of one sign), against mpmath's divided differences at 60 digits.
    fn, f_mp, df_mp, _ = _NAMED_FIRST[name]
    d2f_mp = (lambda x: -x ** mp.mpf(-1.5) / 4) if name == "sqrtm" else (lambda x: 3 * x ** mp.mpf(-2.5) / 4)
    gaps = (0.0, 2.3e-16, 3e-14, 1e-11, 1e-8, 1e-5, 1e-3, 0.3, 2.0)
    ones = jnp.ones((len(gaps), len(gaps)))
    second = jax.jit(lambda a: jax.jvp(lambda b: jax.jvp(fn, (b,), (ones,))[1], (a,), (ones,))[1])
    for c in (1e-100, 1e-5, 1.0, 1e100, 1e110):  # (1e110: a product of six roots overflowed)
        lam = np.array([c * (1 + g) for g in gaps])
        got = np.asarray(second(jnp.diag(lam)))
        with mp.workdps(60):
            dd = [[[_mp_divided_difference(f_mp, [f_mp, df_mp, d2f_mp], (x, z, y)) for z in lam] for y in lam] for x in lam]
            ref = np.array([[float(2 * mp.fsum(row)) for row in plane] for plane in dd])
        np.testing.assert_allclose(got, ref, rtol=4e-15, err_msg=f"{name} at {c}")


def test_first_derivative_where_f_prime_is_not_finite_between_the_eigenvalues():
    # Eigenvalues ±1: the Gauss–Lobatto rule's midpoint node is 0, where JAX's f′ is NaN
    # for √|x|·sin x and (∛x)⁴ (both C¹ on the spectrum); the NaN estimate won the
    # switch and the whole derivative was NaN (outside probe). The closed form
    # Q (Γ ∘ (Qᵀ E Q)) Qᵀ with Γ₀₁ = (f(1) − f(−1))/2, f′(±1) on the diagonal.
    # (At diag(1, −1) the eigenvalues are exactly ±1, so the node is exactly 0.)
    q = np.eye(2)
    h, e = np.diag([1.0, -1.0]), np.array([[0.3, 1.0], [1.0, -0.2]])
    for f, df in ((lambda x: jnp.sqrt(jnp.abs(x)) * jnp.sin(x), lambda x: np.sign(x) * np.sin(x) / (2 * np.sqrt(abs(x))) + np.sqrt(abs(x)) * np.cos(x)),
                  (lambda x: jnp.cbrt(x) ** 4, lambda x: 4 / 3 * np.cbrt(x))):
        fv = np.asarray(f(jnp.array([1.0, -1.0])))
        gamma = np.array([[df(1.0), (fv[0] - fv[1]) / 2], [(fv[0] - fv[1]) / 2, df(-1.0)]])
        got = jax.jvp(lambda x: funm(x, f), (jnp.asarray(h),), (jnp.asarray(e),))[1]
        np.testing.assert_allclose(got, q @ (gamma * (q.T @ e @ q)) @ q.T, rtol=1e-13, atol=1e-14)


def test_third_derivative_nan_at_ties_exact_when_distinct():
    j = jnp.ones((3, 3))

    @jax.jit
    def d3(a0):  # forward and reverse mode (reverse mode once returned 0 at a tie)
        tr = lambda x: jnp.trace(expm(a0 + x * j))  # noqa: E731
        return jnp.stack([jax.jacfwd(jax.jacfwd(jax.jacfwd(tr)))(0.0), jax.grad(jax.grad(jax.grad(tr)))(0.0)])

    assert np.all(np.isnan(d3(jnp.eye(3))))
    assert np.all(np.isnan(d3(jnp.diag(jnp.array([1.0, 1.0 + 1e-12, 3.0])))))  # a near tie
    a0 = np.diag([0.5, 1.5, 2.5])
    with mp.workdps(50):
        h = mp.mpf("1e-8")
        a_mp, j_mp = to_mp(a0), to_mp(np.ones((3, 3)))
        t = lambda x: mp.fsum(mp.expm(a_mp + x * j_mp)[i, i] for i in range(3))  # noqa: E731
        ref = (t(2 * h) - 2 * t(h) + 2 * t(-h) - t(-2 * h)) / (2 * h**3)
    np.testing.assert_allclose(d3(jnp.asarray(a0)), float(ref), rtol=1e-9)


# ----------------------------------------------------------------------------------
# Parameters: closed-over values and powm's exponent.


def test_closed_over_parameter_gradients():
    a = MATRICES["spd4"]
    c = np.random.default_rng(8).normal(size=(4, 4))

    @jax.jit
    def loss(p, a):
        return _pairing(c, funm(a, lambda x: x**p))

    def mp_loss(p):
        fm = mp.powm(to_mp(a), p)
        return mp.fsum(c[i, j] * fm[i, j] for i in range(4) for j in range(4))

    with mp.workdps(40):
        ref_p = mp.diff(mp_loss, mp.mpf(P))
        ref_pp = mp.diff(mp_loss, mp.mpf(P), 2)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(P, a), float(ref_p), rtol=1e-12)
    grad_powm = jax.jit(jax.grad(lambda p: _pairing(c, powm(a, p))))
    np.testing.assert_allclose(grad_powm(P), float(ref_p), rtol=1e-12)
    np.testing.assert_allclose(jax.jit(jax.hessian(loss))(P, a), float(ref_pp), rtol=1e-10)

    # Mixed ∂²/∂p∂A along E, forward over reverse, vs mpmath.
    e = _sym(9, 4)
    mixed = jax.jit(lambda a, e: jax.jvp(lambda a: jax.grad(loss)(P, a), (a,), (e,))[1])(a, e)
    with mp.workdps(40):
        h = mp.mpf("1e-12")

        def d_dp_at(t):
            m = to_mp(a) + t * to_mp(e)

            def loss_p(p):
                fm = mp.powm(m, p)
                return mp.fsum(c[i, j] * fm[i, j] for i in range(4) for j in range(4))

            return mp.diff(loss_p, mp.mpf(P))

        ref_mixed = (d_dp_at(h) - d_dp_at(-h)) / (2 * h)
    np.testing.assert_allclose(mixed, float(ref_mixed), rtol=1e-9)


# ----------------------------------------------------------------------------------
# Projector.


def test_projector_derivatives():
    # Tie inside the projected subspace (λ = 1, 1 | 3): P and its derivatives are defined.
    a = planted([1.0, 1.0, 3.0], 2)
    e, c = _sym(13, 3), np.random.default_rng(14).normal(size=(3, 3))
    ref = directional_derivative(_mp_projector(2), a, e).real.reshape(3, 3)
    _assert_close(_jvp("projector2", a, e), ref, 1e-12)
    g = _grad("projector2", a, c)
    np.testing.assert_allclose(np.sum(g * e), np.sum(c * ref), rtol=1e-12)

    e1, e2 = _sym(15, 3), _sym(16, 3)
    proj = _mp_projector(2)

    def loss(m):
        pm = proj(m)
        return mp.fsum(c[i, j] * pm[i, j] for i in range(3) for j in range(3))

    ref2 = float(_mp_mixed_second(loss, a, e1, e2))
    np.testing.assert_allclose(_second["fwd_rev"]("projector2", a, c, e1, e2), ref2, rtol=1e-10)
    np.testing.assert_allclose(_second["rev_rev"]("projector2", a, c, e1, e2), ref2, rtol=1e-10)


def test_projector_split_tie_is_nan():
    a = planted([1.0, 2.0, 2.0], 2)  # λ₂ = λ₃: the 2-dimensional projector is undefined
    g = jax.jit(jax.grad(lambda a: jnp.sum(projector(a, 2) * np.arange(9.0).reshape(3, 3))))(a)
    assert np.all(np.isnan(g))
    np.testing.assert_allclose(projector(a, 0), np.zeros((3, 3)), atol=0)
    np.testing.assert_allclose(projector(a, 3), np.eye(3), atol=1e-15)
    assert np.all(jax.jit(jax.grad(lambda a: jnp.sum(projector(a, 3))))(a) == 0)


# ----------------------------------------------------------------------------------
# Batching, complex, float32.


def test_batched_and_vmapped():
    stack = np.stack([MATRICES["identity"], MATRICES["planted112"], MATRICES["diag112"]])
    es = np.stack([_sym(s, 3) for s in range(3)])
    out = _apply("expm", stack)
    for k in range(3):
        np.testing.assert_allclose(out[k], _apply("expm", stack[k]), rtol=1e-14)
    tangent = _jvp("expm", stack, es)
    vmapped = jax.jit(jax.vmap(lambda a, e: jax.jvp(expm, (a,), (e,))[1]))(stack, es)
    for k in range(3):
        ref = directional_derivative(mp.expm, stack[k], es[k]).real.reshape(3, 3)
        _assert_close(tangent[k], ref, 1e-12)
        _assert_close(vmapped[k], ref, 1e-12)
    # vmap over the exponent: the parameter is batched, the matrix is not.
    ps = jnp.array([0.5, 1.0, 2.0])
    grads = jax.jit(jax.vmap(jax.grad(lambda p: jnp.trace(powm(MATRICES["spd4"], p)))))(ps)
    lam = np.array([0.4, 1.1, 1.9, 2.7])
    np.testing.assert_allclose(grads, [np.sum(lam**p * np.log(lam)) for p in ps], rtol=1e-12)
    # Batched Hessian at ties (second-order rule under vmap).
    j = jnp.ones((3, 3))
    hess = jax.vmap(jax.hessian(lambda x, a: jnp.trace(expm(a + x * j))), in_axes=(None, 0))
    h = jax.jit(hess)(0.0, stack[:1])
    np.testing.assert_allclose(h, [9 * np.e], rtol=1e-14)


def test_complex_hermitian_jvp():
    rng = np.random.default_rng(21)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))
    a = (q * np.array([1.0, 1.0, 2.0])) @ q.conj().T  # tie split by rounding
    e = _sym(22, 3, complex_=True)
    got = _jvp("expm", a, e)
    ref = directional_derivative(mp.expm, a, e).reshape(3, 3)
    _assert_close(got, ref, 1e-12)
    got2 = _jvp("sqrtm", a, e)
    _assert_close(got2, directional_derivative(mp.sqrtm, a, e).reshape(3, 3), 1e-12)
    # Reverse mode: ⟨∇ Re⟨C, F⟩, E⟩ with the real pairing used by JAX for complex inputs.
    c = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    g = _grad("expm", a, c)
    # JAX returns ∂L/∂x − i ∂L/∂y for real L of complex input: dL[E] = Re Σ g∘E.
    expected = np.real(np.sum(np.conj(c) * ref))
    np.testing.assert_allclose(np.real(np.sum(g * e)), expected, rtol=1e-12)


def test_complex_hermitian_second_derivative():
    rng = np.random.default_rng(23)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)))
    a = (q * np.array([1.0, 1.0, 2.0])) @ q.conj().T
    e1, e2 = _sym(24, 3, complex_=True), _sym(25, 3, complex_=True)
    c = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))

    def loss(m):
        fm = mp.expm(m)
        return mp.re(mp.fsum(mp.conj(c[i, j]) * fm[i, j] for i in range(3) for j in range(3)))

    ref = float(_mp_mixed_second(loss, a, e1, e2))
    np.testing.assert_allclose(_second["rev_rev"]("expm", a, c, e1, e2), ref, rtol=1e-10)


def test_float32():
    a = np.diag([1.0, 1.0, 2.0]).astype(np.float32)
    e = _sym(31, 3).astype(np.float32)
    got = _jvp("expm", a, e)
    assert got.dtype == jnp.float32
    ref = directional_derivative(mp.expm, a.astype(float), e.astype(float)).real.reshape(3, 3)
    _assert_close(got, ref, 2e-6)
    j = jnp.ones((3, 3), jnp.float32)
    eye = jnp.eye(3, dtype=jnp.float32)
    d2 = jax.jit(jax.hessian(lambda x: jnp.trace(expm(eye + x * j))))(jnp.float32(0))
    np.testing.assert_allclose(d2, 9 * np.e, rtol=2e-6)
    g = jax.jit(jax.grad(lambda a: jnp.sum(funm(a, lambda x: x**2))))(jnp.eye(3, dtype=jnp.float32))
    np.testing.assert_allclose(g, 2 * np.ones((3, 3)), rtol=1e-6)


# ----------------------------------------------------------------------------------
# Domains and bad input.


def test_domains_give_nan():
    indefinite = np.diag([-1.0, 1.0, 2.0])
    for f in (logm, sqrtm, inv_sqrtm, lambda a: powm(a, 0.5)):
        assert np.all(np.isnan(f(indefinite)))
    assert np.all(np.isnan(logm(np.diag([0.0, 1.0]))))
    # Semidefinite: the square root exists, its derivative is not finite.
    singular = planted([0.0, 1.0, 4.0], 1)  # rounding-negative eigenvalue possible
    r = rotation(3, 1)
    np.testing.assert_allclose(sqrtm(singular), (r * [0.0, 1.0, 2.0]) @ r.T, atol=1e-7)
    g = _grad("sqrtm", singular, np.ones((3, 3)))
    assert not np.all(np.isfinite(g))
    assert np.all(np.isnan(expm(np.full((2, 2), np.nan))))


def test_bad_input_errors(caplog):
    with pytest.raises(ValueError, match="`a`.*shape \\(3,\\)"):
        expm(np.ones(3))
    with pytest.raises(ValueError, match="`a`.*\\(2, 3\\)"):
        funm(np.ones((2, 3)), jnp.exp)
    with pytest.raises(ValueError, match="`k`"):
        projector(np.eye(3), 4)
    with pytest.raises(ValueError, match="`p`"):
        powm(np.eye(2), jnp.ones(2))
    # A complex exponent or threshold was cast to its real part (2^(0.5+i) gave 2^0.5).
    with pytest.raises(TypeError, match="`p` must be real"):
        powm(2.0 * np.eye(2), 0.5 + 1j)
    with pytest.raises(TypeError, match="`tau` must be real"):
        svt(np.diag([3.0, 1.0]), 0.5 + 2j)
    with pytest.raises(ValueError, match="`tau` must be a scalar"):
        svt(np.diag([3.0, 1.0]), np.ones(2))
    with pytest.raises(ValueError, match="`tau` must be a scalar"):  # (a list: a tracer conversion error)
        svt(np.diag([3.0, 1.0]), [0.5])
    with pytest.raises(ValueError, match="`f`"):
        funm(np.eye(2), lambda x: jnp.stack([x, x]))
    with pytest.raises(TypeError, match="`f`"):
        funm(np.eye(2), lambda x: x * 1j)
    with pytest.raises(TypeError, match="funm: calling `f` on a real scalar failed: it returned a value of type str"):
        funm(np.eye(2), lambda x: "a")
    nonsym = np.array([[1.0, 2.0], [0.0, 1.0]])
    # Eagerly, equinox's error with the message alone and nothing logged (it was JAX's
    # runtime error, its text the callback's traceback, and the traceback logged again).
    with caplog.at_level(logging.DEBUG, logger="jax._src.callback"):
        with pytest.raises(eqx.EquinoxRuntimeError, match="^jaxgrad.linalg.expm: argument `a` is not Hermitian"):
            expm(nonsym)
        with pytest.raises(eqx.EquinoxRuntimeError, match="powm: argument `a` is not Hermitian"):
            jax.vmap(powm, (0, None))(np.stack([nonsym, np.eye(2)]), 0.5)
    assert not [r for r in caplog.records if r.name == "jax._src.callback"], caplog.records
    with pytest.raises(Exception, match="not Hermitian"):
        jax.jit(expm)(nonsym).block_until_ready()
    # ... at any scale (‖·‖_F² overflowed at 1e160 and underflowed at 1e-170: no error).
    for scale in (1e160, 1e-170):
        with pytest.raises(Exception, match="not Hermitian"):
            expm(scale * nonsym).block_until_ready()
    # Rounding-level asymmetry is accepted; the check can be switched off.
    expm(MATRICES["planted112"] + 1e-14 * np.triu(np.ones((3, 3)), 1))
    assert np.all(np.isfinite(expm(nonsym, hermitian_rtol=np.inf)))


# ----------------------------------------------------------------------------------
# Polar decomposition (AᴴA = I at orthogonal A: a full tie).


def _mp_svd(m):
    # mpmath's SVD (A = W·diag(s)·Vh); it stays accurate where sqrtm(AᴴA) needs κ² digits.
    w, s, vh = mp.svd(m, full_matrices=False, compute_uv=True)
    return w, mp.diag(s), vh


def _mp_polar(m):
    w, _, vh = _mp_svd(m)
    return w * vh


def _mp_polar_p(m):
    _, s, vh = _mp_svd(m)
    return vh.H * s * vh


_RNG_POLAR = np.random.default_rng(39)
POLAR_MATRICES = {
    "identity": np.eye(3),
    "orthogonal": rotation(3, 2),
    "tied_singular_values": rotation(3, 2) @ np.diag([1.0, 1.0, 2.0]) @ rotation(3, 4),
    "near_tie_1e-9": rotation(3, 2) @ np.diag([1.0, 1.0 + 1e-9, 2.0]) @ rotation(3, 4),
    "tall": _RNG_POLAR.normal(size=(4, 3)),
    "tall_tied": np.vstack([rotation(3, 5), np.zeros((1, 3))]) @ np.diag([2.0, 2.0, 1.0]) @ rotation(3, 6),
    # κ = 1e6: the AᴴA formulation would lose ~eps·κ² = 1e-4 here.
    "ill_conditioned": rotation(3, 8) @ np.diag([1.0, 1e-3, 1e-6]) @ rotation(3, 9),
    "complex": _RNG_POLAR.normal(size=(3, 3)) + 1j * _RNG_POLAR.normal(size=(3, 3)),
}


@pytest.mark.parametrize("case", list(POLAR_MATRICES))
def test_polar_first_derivatives(case):
    a = POLAR_MATRICES[case]
    rng = np.random.default_rng(41)
    e = rng.normal(size=a.shape) + (1j * rng.normal(size=a.shape) if np.iscomplexobj(a) else 0)
    (u, p), (u_dot, p_dot) = jax.jit(lambda a, e: jax.jvp(polar, (a,), (e,)))(a, e)
    with mp.workdps(40):
        _assert_close(u, np.array(_mp_polar(to_mp(a)).tolist(), dtype=complex).reshape(a.shape), 1e-13)
    # Relative accuracy of the derivative is about eps·κ (the SVD's), not eps·κ².
    rtol = 1e-12 if case != "ill_conditioned" else 1e-11
    _assert_close(u_dot, directional_derivative(_mp_polar, a, e).reshape(a.shape), rtol)
    n = a.shape[1]
    _assert_close(p_dot, directional_derivative(_mp_polar_p, a, e).reshape(n, n), rtol)
    # Reverse mode is the transpose of the same linear map: Re<c, dU> = Re Σ grad·e (JAX
    # returns the conjugate gradient for complex inputs).
    c = rng.normal(size=a.shape)
    g = jax.jit(jax.grad(lambda a: jnp.sum(c * polar(a).U).real))(a)
    np.testing.assert_allclose(np.sum(g * e).real, np.sum(c * u_dot).real, rtol=1e-10)


def test_polar_at_identity_is_skew_part():
    e = np.random.default_rng(44).normal(size=(3, 3))
    u_dot, p_dot = jax.jvp(polar, (np.eye(3),), (e,))[1]
    np.testing.assert_allclose(u_dot, (e - e.T) / 2, atol=1e-15)
    np.testing.assert_allclose(p_dot, (e + e.T) / 2, atol=1e-15)


_POLAR_SECOND = {
    "fwd_fwd": lambda h: jax.jvp(lambda s: jax.jvp(lambda t: h(s, t), (0.0,), (1.0,))[1], (0.0,), (1.0,))[1],
    "fwd_rev": lambda h: jax.jvp(lambda s: jax.grad(h, argnums=1)(s, 0.0), (0.0,), (1.0,))[1],
    "rev_rev": lambda h: jax.grad(jax.grad(h, argnums=1), argnums=0)(0.0, 0.0),
}


@pytest.mark.parametrize("mode", list(_POLAR_SECOND))
@pytest.mark.parametrize("case", ["orthogonal", "tied_singular_values", "tall"])
def test_polar_second_derivatives(case, mode):
    a = POLAR_MATRICES[case]
    rng = np.random.default_rng(42)
    e, e2, c = (rng.normal(size=a.shape) for _ in range(3))

    def h(s, t):
        return jnp.sum(c * polar(a + s * e + t * e2).U)

    def loss(m):
        um = _mp_polar(m)
        return mp.fsum(c[i, j] * um[i, j] for i in range(a.shape[0]) for j in range(a.shape[1]))

    got = jax.jit(lambda: _POLAR_SECOND[mode](h))()
    np.testing.assert_allclose(got, float(_mp_mixed_second(loss, a, e, e2)), rtol=1e-10)


def test_polar_second_derivatives_far_from_unit_scale():
    # U is homogeneous of degree 0 and P of degree 1, so at t·A the second derivative
    # along (t·E, t·E2) is t⁰ (t¹) times the one at A. The second-order rule's divided
    # differences over the eigenvalues of AᴴA over- or underflowed beyond about 1e±60:
    # NaN at 1e-65 and 1e-150, 24x off at 1e65, 0 at 1e150. One batch holds all scales
    # (each matrix has its own).
    a = POLAR_MATRICES["tall"]
    rng = np.random.default_rng(47)
    e, e2, c = (rng.normal(size=a.shape) for _ in range(3))
    c_p = c[:3]
    scales = np.array([1e-150, 1e-65, 1.0, 1e65, 1e150])
    big_a = scales[:, None, None] * a

    def h(s, t):
        u, p = polar(big_a + scales[:, None, None] * (s * e + t * e2))
        return jnp.stack([jnp.sum(c * u, axis=(-2, -1)), jnp.sum(c_p * p, axis=(-2, -1)) / scales])

    got = jax.jit(lambda: _POLAR_SECOND["fwd_fwd"](h))()

    def loss_u(m):
        um = _mp_polar(m)
        return mp.fsum(c[i, j] * um[i, j] for i in range(4) for j in range(3))

    def loss_p(m):
        pm = _mp_polar_p(m)
        return mp.fsum(c_p[i, j] * pm[i, j] for i in range(3) for j in range(3))

    ref_u, ref_p = (float(_mp_mixed_second(f, a, e, e2)) for f in (loss_u, loss_p))
    np.testing.assert_allclose(got[0], np.full(5, ref_u), rtol=1e-10)
    np.testing.assert_allclose(got[1], np.full(5, ref_p), rtol=1e-10)


def test_polar_hessian_of_a_loss_nonlinear_in_u_and_p():
    # The second derivative includes the outer derivative of the rule's primal output
    # (the Gauss–Newton term); a primal computed from a stopped SVD would drop it.
    a = POLAR_MATRICES["tall_tied"]
    rng = np.random.default_rng(46)
    e, e2 = rng.normal(size=a.shape), rng.normal(size=a.shape)

    def loss(x):
        u, p = polar(x)
        return jnp.sum(p**2) + jnp.sum(u**3)

    def loss_mp(m):
        u, p = _mp_polar(m), _mp_polar_p(m)
        return mp.fsum(x**2 for x in p) + mp.fsum(x**3 for x in u)

    got = jnp.sum(jax.jvp(jax.grad(loss), (a,), (e2,))[1] * e)
    np.testing.assert_allclose(got, float(_mp_mixed_second(loss_mp, a, e, e2)), rtol=1e-9)


def test_polar_batched_matches_single():
    a = np.stack([POLAR_MATRICES["orthogonal"], POLAR_MATRICES["tied_singular_values"], np.eye(3)])
    e = np.random.default_rng(45).normal(size=a.shape)
    batched = jax.jvp(polar, (a,), (e,))
    mapped = jax.vmap(lambda a, e: jax.jvp(polar, (a,), (e,)))(a, e)
    for x, y in zip(jax.tree.leaves(batched), jax.tree.leaves(mapped)):
        np.testing.assert_allclose(x, y, atol=1e-14)
    hess = jax.vmap(jax.hessian(lambda a: jnp.sum(polar(a).U ** 3)))(a)
    assert hess.shape == (3, 3, 3, 3, 3) and np.all(np.isfinite(hess))


def test_polar_bad_input():
    with pytest.raises(ValueError, match="`a`.*\\(2, 3\\)"):
        polar(np.ones((2, 3)))
    # A zero singular value: U is not unique (NaN, in both derivative modes), P still is.
    # With two equal columns the computed smallest singular value is ~1e-16, not 0 (U
    # was then an arbitrary finite matrix, its reverse-mode gradient 0 even at an exact 0).
    dependent = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    for a in (np.diag([1.0, 0.0]), dependent):
        u, p = polar(a)
        assert np.all(np.isnan(u))
        np.testing.assert_allclose(p, np.linalg.svd(a)[2].T @ np.diag(np.linalg.svd(a)[1]) @ np.linalg.svd(a)[2],
                                   atol=1e-14)
        assert np.all(np.isnan(jax.grad(lambda a: jnp.sum(polar(a).U))(a)))
        assert np.all(np.isnan(jax.jvp(lambda a: polar(a).U, (a,), (np.ones_like(a),))[1]))
        # ... and second derivatives (they come from the AᴴA formulation, which gave
        # finite numbers: 1.8e9 for a rank-1 A, 0 at A = 0).
        e, c = np.ones_like(a), np.arange(a.size, dtype=float).reshape(a.shape)
        h = lambda s: jnp.sum(c * polar(a + s * e).U)  # noqa: E731
        assert np.isnan(_POLAR_SECOND["fwd_fwd"](lambda s, t: h(s + t)))
        assert np.isnan(jax.grad(jax.grad(h))(0.0))
        # P is not differentiable there either: NaN in both orders.
        assert np.all(np.isnan(jax.jvp(lambda a: polar(a).P, (a,), (e,))[1]))
        cp = np.arange(a.shape[1] ** 2, dtype=float).reshape(a.shape[1], a.shape[1])
        hp = lambda s: jnp.sum(cp * polar(a + s * e).P)  # noqa: E731
        assert np.isnan(_POLAR_SECOND["fwd_fwd"](lambda s, t: hp(s + t)))
    assert np.all(np.isnan(polar(np.array([[1.0, np.nan], [0.0, 1.0]])).P))


def test_polar_p_tangent_at_a_numerically_singular_matrix_is_nan():
    # Found by an outside probe: at a rank-2 3×3 matrix (smallest singular value ~3e-16)
    # P's forward derivative was finite, one of the two one-sided derivatives picked by
    # rounding. The one-sided differences of numpy's P (below) differ: there is no
    # derivative to give.
    a = np.arange(1.0, 10.0).reshape(3, 3)
    e = np.array([[0.3, -1.0, 0.2], [0.5, 0.1, -0.7], [1.0, 0.4, 0.6]])

    def p_np(m):
        _, s, vh = np.linalg.svd(m)
        return vh.T @ np.diag(s) @ vh

    h = 1e-6
    forward, backward = (p_np(a + h * e) - p_np(a)) / h, (p_np(a) - p_np(a - h * e)) / h
    assert np.max(np.abs(forward - backward)) > 0.1
    assert np.all(np.isnan(jax.jvp(lambda x: polar(x).P, (a,), (e,))[1]))


def test_second_derivative_along_directions_that_miss_a_singular_eigenvalue():
    # Found by an outside probe: a non-finite f″ at one eigenvalue made the whole second
    # derivative NaN, also along directions that leave that eigenvalue alone. Closed
    # forms: (A + tE)¹ is linear (second derivative 0); E₁₁ moves only the eigenvalue 1,
    # so d²/dt² log(1 + t) = −1 and d²/dt² (1 + t)^(−½) = 3/4.
    e = jnp.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.1], [0.0, 0.1, -0.4]])
    a = jnp.diag(jnp.array([0.0, 1.0, 2.0]))
    d2 = jax.jit(jax.jacfwd(jax.jacfwd(lambda t: powm(a + t * e, 1.0))))(0.0)
    np.testing.assert_array_equal(np.asarray(d2), np.zeros((3, 3)))
    e11 = jnp.zeros((2, 2)).at[0, 0].set(1.0)
    tiny = jnp.diag(jnp.array([1.0, 1e-160]))
    for fn, want in ((logm, -1.0), (inv_sqrtm, 0.75)):
        d2 = jax.jit(jax.jacfwd(jax.jacfwd(lambda t, fn=fn: fn(tiny + t * e11))))(0.0)
        np.testing.assert_allclose(np.asarray(d2), [[want, 0.0], [0.0, 0.0]], atol=1e-14)
    # A direction that does reach the singular eigenvalue keeps its NaN where f″ is
    # infinite there (x^1.5); so does one that only couples it to another eigenvalue (at
    # diag(0, 1, 4), E₀₁ + E₁₀ moves the eigenvalue 0 to −t²: sqrtm is undefined on both
    # sides, though Γ₀₁ = 1 is finite), and one at a matrix outside the domain (the value
    # is NaN). (x^1's f″(0) is 0, not JAX's 1·0·0⁻¹ (powm's own exponent rule): A¹ is
    # linear, second derivative 0 along E₀₀ too, as x²'s is 2·E₀₀².)
    e00 = jnp.zeros((3, 3)).at[0, 0].set(1.0)
    d2 = jax.jit(jax.jacfwd(jax.jacfwd(lambda t, p: powm(a + t * e00, p))))
    assert np.isnan(np.asarray(d2(0.0, 1.5))).any()
    np.testing.assert_array_equal(np.asarray(d2(0.0, 1.0)), np.zeros((3, 3)))
    np.testing.assert_allclose(np.asarray(d2(0.0, 2.0)), 2 * np.asarray(e00), atol=1e-15)
    couple = jnp.zeros((3, 3)).at[0, 1].set(1.0).at[1, 0].set(1.0)
    psd = jnp.diag(jnp.array([0.0, 1.0, 4.0]))
    assert np.isnan(np.asarray(jax.jvp(sqrtm, (psd,), (couple,))[1])).all()
    # ... while a direction that misses it gets the derivative of the other block:
    # d√(B + tF) with B = diag(1, 4) solves X S + S X = F, S = √B.
    got = np.asarray(jax.jvp(sqrtm, (psd,), (e,))[1])
    s_blk, f_blk = np.diag([1.0, 2.0]), np.asarray(e)[1:, 1:]
    want = f_blk / (s_blk.diagonal()[:, None] + s_blk.diagonal()[None, :])
    np.testing.assert_allclose(got[1:, 1:], want, atol=1e-15)
    assert np.all(got[0] == 0) and np.all(got[:, 0] == 0)
    outside = jnp.diag(jnp.array([-1.0, 1.0, 2.0]))
    e11 = jnp.zeros((3, 3)).at[1, 1].set(1.0)
    assert np.isnan(np.asarray(jax.jvp(sqrtm, (outside,), (e11,))[1])).all()


@pytest.mark.parametrize("c", [1e160, 1e-160])
def test_projector_second_derivative_far_from_unit_scale(c):
    # Found by an outside probe: the step function's second divided differences are
    # ~1/gap², which underflowed to 0 (overflowed) beyond entries of about 1e±154, and
    # d²/dt² P(c(H + tE)) came out 0 (NaN) where it is that of P(H + tE), O(1).
    # Reference: Richardson-extrapolated second central differences of numpy's
    # eigenvector projector at unit scale.
    rng = np.random.default_rng(3)
    h = rng.normal(size=(4, 4))
    h = (h + h.T) / 2
    e = rng.normal(size=(4, 4))
    e = (e + e.T) / 2

    def proj(t):
        _, v = np.linalg.eigh(h + t * e)
        return v[:, :2] @ v[:, :2].T

    d2 = [(proj(s) - 2 * proj(0.0) + proj(-s)) / s**2 for s in (1e-3, 5e-4)]
    want = (4 * d2[1] - d2[0]) / 3
    got = jax.jacfwd(jax.jacfwd(lambda t: projector(c * (jnp.asarray(h) + t * jnp.asarray(e)), 2)))(0.0)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6 * np.abs(want).max())


def test_power_divided_difference_where_the_eigenvalue_ratio_underflows():
    # powm's closed form took ln(lo/hi), −inf where lo/hi is below the smallest float,
    # and fell back to (hi^p − lo^p)/h, which cancels for small p (3.5 % off in float32
    # at p = 1e-8; outside review). At diag(1e-160, 1e150) the off-diagonal entry of the
    # derivative along the all-ones direction is f[λ₀, λ₁].
    lam = np.array([1e-160, 1e150])
    for q in (1e-8, 0.3):
        got = jax.jvp(lambda a: powm(a, q), (jnp.diag(lam),), (jnp.ones((2, 2)),))[1][0, 1]
        with mp.workdps(50):
            x, y = mp.mpf(lam[0]), mp.mpf(lam[1])
            ref = (y ** mp.mpf(q) - x ** mp.mpf(q)) / (y - x)
        # (hi^(p−1), as exp((p − 1)·ln hi), is itself off by up to eps·|ln hi| = 7.7e-14.)
        assert abs(float(got) - ref) <= 4e-15 * (1 + np.log(lam[1])) * abs(ref), (q, float(got), float(ref))


@jax.jit
def _cube_derivatives(a):
    # Along the all-ones direction at a diagonal A (exact eigenvectors): funm(x³)'s first
    # derivative and powm(·, 3)'s second (the general rules of both).
    e = jnp.ones_like(a)
    d1 = jax.jvp(lambda m: funm(m, lambda x: x**3), (a,), (e,))[1]
    d2 = jax.jvp(lambda b: jax.jvp(lambda m: powm(m, 3.0), (b,), (e,))[1], (a,), (e,))[1]
    return d1, d2


def test_divided_differences_where_eps_times_f_is_below_the_smallest_normal():
    # At λ ~ 1e-100 (1e-11 in float32) the values λ³ are ordinary floats but eps·λ³ is
    # below the smallest normal one, which XLA's CPU code flushes to 0: the quotient's
    # error bound was 0, the quotient of flushed differences was always taken, and the
    # first derivative came out 25 % off, the second up to 1e14 times too large, of
    # either sign (outside probe). Closed forms: f[x, y] = x² + xy + y², f[x, y, z] =
    # x + y + z, and along the all-ones direction d²F = 2 Σₖ f[λᵢ, λₖ, λⱼ].
    for dtype, c, gaps, rtol in ((np.float64, 1e-100, (1e-15, 1e-12, 1e-8), 1e-13),
                                 (np.float32, 1e-11, (1.2e-7, 1e-5, 1e-3), 1e-5)):
        for g in gaps:
            lam = np.array([c, c * (1 + g), 2 * c], dtype)
            d1, d2 = _cube_derivatives(jnp.diag(jnp.asarray(lam)))
            x = lam.astype(np.float64)
            ref1 = x[:, None] ** 2 + x[:, None] * x[None] + x[None] ** 2
            ref2 = 2 * (3 * (x[:, None] + x[None]) + x.sum())
            np.testing.assert_allclose(np.asarray(d1, np.float64), ref1, rtol=rtol, err_msg=str((dtype, g)))
            np.testing.assert_allclose(np.asarray(d2, np.float64), ref2, rtol=rtol, err_msg=str((dtype, g)))


@jax.jit
def _inverse_power_derivatives(a, e, p):
    inv = lambda m: powm(m, p)  # noqa: E731
    d1 = jax.jvp(inv, (a,), (e,))[1]
    d2 = jax.jvp(lambda b: jax.jvp(inv, (b,), (e,))[1], (a,), (e,))[1]
    return d1, d2, jax.jvp(inv_sqrtm, (a,), (e,))[1]


def test_negative_powers_far_from_unit_scale_in_float32():
    # In float32 the divided differences of x^-1 (~λ⁻², λ⁻³) left the float range at
    # ‖A‖ ~ 1e20 where the derivatives, their products with Vᴴ E V, do not: powm(A, -1)'s
    # derivative was exactly 0 (NaN at 1e-20), inv_sqrtm's 84 % off at 1e25 (outside
    # probe); the exponent is traced here (a jit argument), which was not rescaled at
    # all: derivative 0 again (outside probe; see `_matfuncs._power`). Closed forms
    # d(A⁻¹)[E] = −A⁻¹EA⁻¹, d²(A⁻¹)[E, E] = 2A⁻¹EA⁻¹EA⁻¹, and for
    # S = A^½, d(S⁻¹) = −S⁻¹ dS S⁻¹ with S dS + dS S = E (scipy, float64).
    from scipy.linalg import solve_continuous_lyapunov, sqrtm as scipy_sqrtm

    a0, e0 = np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([[1.0, 0.3], [0.3, 0.5]])
    for c in (1e20, 1e-20, 1e25):
        a, e = (c * a0).astype(np.float32), (c * e0).astype(np.float32)
        d1, d2, d_inv_sqrt = (np.asarray(x, np.float64) for x in _inverse_power_derivatives(jnp.asarray(a), jnp.asarray(e), np.float32(-1.0)))
        x, e64 = np.linalg.inv(a.astype(np.float64)), e.astype(np.float64)
        s = scipy_sqrtm(a.astype(np.float64) / c).real * np.sqrt(c)
        ds = solve_continuous_lyapunov(s, e64)
        si = np.linalg.inv(s)
        for got, ref in ((d1, -x @ e64 @ x), (d2, 2 * x @ e64 @ x @ e64 @ x), (d_inv_sqrt, -si @ ds @ si)):
            np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-5 * np.abs(ref).max(), err_msg=str(c))


@jax.jit
def _reverse_second_derivatives(a, e, c):
    # d²/dt² ⟨C, F(A + tE)⟩ at t = 0 by `grad(grad)`, F = inv_sqrtm, powm(·, -1), logm.
    def second(f):
        return jax.grad(jax.grad(lambda t: jnp.sum(c * f(a + t * e))))(0.0)

    return second(inv_sqrtm), second(lambda m: powm(m, -1.0)), second(logm)


def test_reverse_mode_second_derivatives_far_from_unit_scale():
    # Reverse mode multiplies the cotangent (which carries the output's scale s^p) by the
    # second divided differences: scaled only until those were in range, inv_sqrtm's
    # `grad(grad)` at ‖A‖ = 1e150 was exactly half the second derivative, powm(·, -1)'s
    # too, and both NaN at 1e-150; logm was not scaled at all, its second divided
    # differences (~1/λ²) underflowed: 0 at 1e155, NaN at 1e-160 (outside probe).
    # References: A⁻¹'s closed form 2⟨C, XEXEX⟩/s, X = A₀⁻¹; for A^(−½) and log A mpmath's
    # eigendecomposition at 50 digits, a second central difference at unit scale
    # (s^(−½) times it, and log(sA) = log A + ln(s)·I).
    a0 = np.array([[2.0, 0.5, 0.0], [0.5, 1.5, 0.3], [0.0, 0.3, 1.0]])
    e0 = np.array([[1.0, -0.4, 0.7], [-0.4, 0.2, 0.5], [0.7, 0.5, -1.1]])
    c0 = np.array([[0.3, -1.2, 0.5], [2.0, 0.1, -0.7], [0.4, 0.9, -0.2]])
    x = np.linalg.inv(a0)
    inv_ref = 2 * np.sum(c0 * (x @ e0 @ x @ e0 @ x))
    with mp.workdps(50):
        def loss(t, f):
            w, v = mp.eigsy(mp.matrix(a0.tolist()) + t * mp.matrix(e0.tolist()))
            m = v * mp.diag([f(y) for y in w]) * v.T
            return mp.fsum(c0[i, j] * m[i, j] for i in range(3) for j in range(3))

        h = mp.mpf("1e-15")
        isq_ref, log_ref = (float((loss(h, f) - 2 * loss(0, f) + loss(-h, f)) / h**2)
                            for f in (lambda y: 1 / mp.sqrt(y), mp.log))
    for s in (1e150, 1e-150):
        isq, inv, log = (float(v) for v in _reverse_second_derivatives(jnp.asarray(s * a0), jnp.asarray(s * e0),
                                                                       jnp.asarray(c0)))
        for got, ref in ((isq, isq_ref * s**-0.5), (inv, inv_ref / s), (log, log_ref)):
            assert abs(got - ref) <= 1e-12 * abs(ref), (s, got, ref)


def test_exponent_derivatives_of_a_power_far_from_unit_scale_in_float32():
    # With A = s·B rescaled, ∂/∂p of s^p·B^p by the product rule cancels s^p ln s against
    # ln(λ/s): at diag(1e7, 1.0001), p = −3, d/dp was 8e-4 off and d²/dp² of the wrong
    # sign (review); the exponent derivative now reads ln λ itself (`_matfuncs._power`).
    # At a diagonal A: d^k/dp^k λ^p = λ^p (ln λ)^k.
    lam = np.array([1e7, 1.0001], np.float32)
    a = jnp.diag(jnp.asarray(lam))
    f = lambda p: jnp.diagonal(powm(a, p))  # noqa: E731
    # and the mixed derivative: along E = E₀₁ + E₁₀ the entry (0, 1) of d(A^p)[E] is the
    # divided difference (λ₀^p − λ₁^p)/(λ₀ − λ₁), its p-derivative (λ₀^p ln λ₀ − λ₁^p ln λ₁)/(λ₀ − λ₁).
    e = jnp.array([[0.0, 1.0], [1.0, 0.0]], jnp.float32)
    mixed = lambda p: jax.jvp(lambda m: powm(m, p), (a,), (e,))[1][0, 1]  # noqa: E731
    d1, d2, dm = jax.jit(lambda p: (jax.jacfwd(f)(p), jax.hessian(f)(p), jax.grad(mixed)(p)))(jnp.float32(-3.0))
    x = lam.astype(np.float64)
    np.testing.assert_allclose(np.asarray(d1, np.float64), x**-3.0 * np.log(x), rtol=2e-5)
    np.testing.assert_allclose(np.asarray(d2, np.float64), x**-3.0 * np.log(x) ** 2, rtol=2e-5)
    g = x**-3.0 * np.log(x)
    np.testing.assert_allclose(float(dm), (g[0] - g[1]) / (x[0] - x[1]), rtol=2e-5)
