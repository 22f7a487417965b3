"""Functions of singular values: `svd_funm`, `svd_trace_function`, `nuclear_norm`, `svt`.

References are independent of jaxgrad and of JAX's derivatives: the same function built
from mpmath's SVD at 40 digits and differentiated by central differences with a
Richardson step (tests/reference.py), NumPy's SVD for values, and closed forms.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

from jaxgrad.linalg import nuclear_norm, svd_funm, svd_trace_function, svt
from reference import (
    assert_close,
    directional_derivative,
    mp_svd,
    rand,
    rotation,
    second_directional_derivative,
)


def _planted(shape, s, seed):
    """``Q₁ diag(s) Q₂ᵀ`` of the given shape: singular values ``s`` (ties split only by rounding)."""
    m, n = shape
    core = np.zeros(shape)
    core[np.arange(len(s)), np.arange(len(s))] = s
    return rotation(m, seed) @ core @ rotation(n, seed + 1).T


def _mp_svd_funm(m, f):
    u, s, vh = mp_svd(m)
    return u * mp.diag([f(x) for x in s]) * vh


def _pairing(c, x):
    """``Re ⟨C, X⟩ = Re Σ conj(C) X``, in JAX or in mpmath."""
    if isinstance(x, mp.matrix):
        return mp.re(mp.fsum(mp.conj(c[i, j]) * x[i, j] for i in range(x.rows) for j in range(x.cols)))
    return jnp.real(jnp.sum(jnp.conj(c) * x))


# The losses under test, by name: `_derivatives` is compiled once per loss and shape.
LOSSES = {
    "svd_funm_tanh": lambda x, c: _pairing(c, svd_funm(x, jnp.tanh)),
    "svt_0.6": lambda x, c: _pairing(c, svt(x, 0.6)),
    "log1p_s2": lambda x, c: svd_trace_function(x, lambda s: jnp.log1p(s**2)),
    "nuclear_norm": lambda x, c: nuclear_norm(x),
}


@functools.partial(jax.jit, static_argnums=0)
def _derivatives(name, a, c, e1, e2):
    """Along ``e1``: the first derivative in forward and in reverse mode; along ``e1, e2``:
    the second derivative forward-over-forward and forward-over-reverse (one compilation
    for all four)."""

    def loss(x):
        return LOSSES[name](x, c)

    fwd = jax.jvp(loss, (a,), (e1,))[1]
    rev = jnp.real(jnp.sum(jax.grad(loss)(a) * e1))
    fwd2 = jax.jvp(lambda x: jax.jvp(loss, (x,), (e1,))[1], (a,), (e2,))[1]
    rev2 = jnp.real(jnp.sum(jax.jvp(jax.grad(loss), (a,), (e2,))[1] * e1))
    return fwd, rev, fwd2, rev2


def _check_all_modes(name, loss_mp, a, c, e1, e2, rtol=1e-9):
    """`_derivatives` against mpmath central differences of ``loss_mp``. (For complex
    inputs `jax.grad` returns the conjugate Wirtinger form, paired with ``e1`` without
    conjugation.)"""
    ref1 = directional_derivative(loss_mp, a, e1)[0].real
    ref2 = second_directional_derivative(loss_mp, a, e1, e2)
    fwd, rev, fwd2, rev2 = _derivatives(name, a, c, e1, e2)
    assert_close([fwd, rev], [ref1, ref1], rtol)
    assert_close([fwd2, rev2], [ref2, ref2], rtol)


# Matrices with repeated, nearly repeated and zero singular values.
TIES = {
    "identity": np.eye(3),
    "diag_1_1_2_3": np.diag([1.0, 1.0, 2.0, 3.0]),
    "tall_s_1_1_half": _planted((5, 3), [1.0, 1.0, 0.5], 0),
    "wide_s_2_2_1": _planted((3, 4), [2.0, 2.0, 1.0], 2),
    "zero_singular_value": _planted((4, 3), [1.0, 1.0, 0.0], 4),
    "near_tie_1e-9": np.diag([1.0, 1.0 + 1e-9, 0.5]),
    "complex_identity": np.eye(3, dtype=complex),
    "complex_tall_random": rand((4, 3), 6, complex_=True),
}


@pytest.mark.parametrize("name", sorted(TIES))
def test_svd_funm_derivatives_at_ties_vs_mpmath(name):
    a = TIES[name]
    cplx = np.iscomplexobj(a)
    c, e1, e2 = (rand(a.shape, seed, complex_=cplx) for seed in (10, 11, 12))
    c_mp = mp.matrix(c.tolist())

    def loss_mp(m):
        return _pairing(c_mp, _mp_svd_funm(m, mp.tanh))

    _check_all_modes("svd_funm_tanh", loss_mp, a, c, e1, e2)


@pytest.mark.parametrize(
    "shape, cplx", [((3, 3), False), ((5, 3), False), ((3, 5), True), ((2, 4, 3), True)]
)
def test_svd_funm_values_match_numpy(shape, cplx):
    a = rand(shape, 1, complex_=cplx)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    ref = (u * np.sin(s)[..., None, :]) @ vh
    assert_close(svd_funm(a, jnp.sin), ref, 1e-13)


def test_svd_funm_closed_over_parameter_first_and_second_derivative():
    a = TIES["tall_s_1_1_half"]
    c = rand(a.shape, 3)
    c_mp = mp.matrix(c.tolist())

    def loss(p):
        return _pairing(c, svd_funm(a, lambda s: jnp.tanh(p * s)))

    def loss_mp(p):
        return _pairing(c_mp, _mp_svd_funm(mp.matrix(a.tolist()), lambda s: mp.tanh(p * s)))

    p0 = 0.7
    with mp.workdps(40):
        h = mp.mpf("1e-10")
        d1 = (loss_mp(p0 + h) - loss_mp(p0 - h)) / (2 * h)
        d2 = (loss_mp(p0 + h) - 2 * loss_mp(mp.mpf(p0)) + loss_mp(p0 - h)) / h**2
    assert_close(jax.grad(loss)(p0), float(d1), 1e-9)
    assert_close(jax.jacfwd(jax.grad(loss))(p0), float(d2), 1e-8)


def test_svd_funm_zero_singular_value_with_f0_nonzero_is_nan():
    a = jnp.stack([TIES["zero_singular_value"], _planted((4, 3), [3.0, 2.0, 1.0], 7)])

    def loss(x):
        return jnp.sum(svd_funm(x, jnp.cos), axis=(-2, -1))  # cos 0 = 1: basis-dependent

    value, tangent = jax.jvp(loss, (a,), (jnp.ones_like(a),))
    grad = jax.grad(lambda x: jnp.sum(loss(x)))(a)
    assert np.isnan(value[0]) and np.isnan(tangent[0]) and np.all(np.isnan(grad[0]))
    assert np.isfinite(value[1]) and np.isfinite(tangent[1]) and np.all(np.isfinite(grad[1]))
    # ... and second derivatives: the second-order rule had no NaN for this case and gave
    # finite numbers, 0.1 to 1e30 (outside probe).
    hvp = jax.jvp(jax.grad(lambda x: jnp.sum(loss(x))), (a,), (jnp.ones_like(a),))[1]
    second = jax.jvp(lambda x: jax.jvp(loss, (x,), (jnp.ones_like(a),))[1], (a,), (jnp.ones_like(a),))[1]
    assert np.all(np.isnan(hvp[0])) and np.isnan(second[0])
    assert np.all(np.isfinite(hvp[1])) and np.isfinite(second[1])


# f infinite or not differentiable at 0, at full-rank matrices (singular values 2, 1.5,
# 0.7): the second-order rule works on the Hermitian dilation, whose odd extension of f
# is read at 0 (its zero eigenvalues, |m − n| of them, computed as ±1e-16·‖A‖) and across
# 0 (the midpoint of ±sᵢ). `1/s` (the pseudo-inverse's U S⁻¹ Vᴴ) gave 9.19 for −7.28 on a
# 4×3 matrix and up to 4e19 with s⁻²; s log s and exp(−1/s) gave NaN (outside probe).
_SINGULAR_AT_ZERO = {
    "1/s": (lambda s: 1 / s, lambda s: 1 / s),
    "s log s": (lambda s: jax.scipy.special.xlogy(s, s), lambda s: s * mp.log(s)),
    "exp(-1/s)": (lambda s: jnp.exp(-1 / s), lambda s: mp.exp(-1 / s)),
}


@pytest.mark.parametrize("name", list(_SINGULAR_AT_ZERO))
def test_second_derivative_where_f_is_singular_at_zero_at_full_rank(name):
    f, f_mp = _SINGULAR_AT_ZERO[name]
    for shape, seed in (((4, 3), 31), ((3, 3), 33)):
        a = _planted(shape, [2.0, 1.5, 0.7], seed)
        rng = np.random.default_rng(seed)
        c, e = rng.standard_normal(shape), rng.standard_normal(shape)
        loss = lambda x: jnp.sum(c * svd_funm(x, f))  # noqa: E731
        got = jax.jvp(lambda x: jax.jvp(loss, (x,), (e,))[1], (a,), (e,))[1]
        ref = second_directional_derivative(lambda m: mp.fsum(c.ravel() * np.array(_mp_svd_funm(m, f_mp).tolist()).ravel()), a, e, e)
        assert abs(float(got) - ref) <= 1e-9 * max(1.0, abs(ref)), (name, shape, float(got), ref)


@pytest.mark.parametrize("shape", [(4, 3), (3, 5)])
def test_second_derivative_of_a_large_full_rank_rectangular_matrix(shape):
    # The dilation's |m − n| structural zero eigenvalues meet the others in second divided
    # differences g[0, λ, 0] = (f(λ)/λ − f′(0))/λ ≈ −1/λ, far above the rest (~f″(λ)), and
    # the rounding of their computed eigenvectors carried them into the block: at norm
    # 1e30, 1e12 times too large for s/(1 + s) (of the wrong sign in a Hessian) and 36 %
    # off for tanh, up to 1e119 at 1e150 (outside probe); square matrices were exact.
    for f, f_mp, seed in ((lambda s: s / (1 + s), lambda s: s / (1 + s), 41), (jnp.tanh, mp.tanh, 43)):
        a = _planted(shape, [2e30, 1.5e30, 1e30], seed)
        rng = np.random.default_rng(seed)
        c, e = rng.standard_normal(shape), 1e30 * rng.standard_normal(shape)
        loss = lambda x: jnp.sum(c * svd_funm(x, f))  # noqa: E731
        got = jax.jvp(lambda x: jax.jvp(loss, (x,), (e,))[1], (a,), (e,))[1]
        ref = second_directional_derivative(lambda m: mp.fsum(c.ravel() * np.array(_mp_svd_funm(m, f_mp).tolist()).ravel()), a, e, e)
        assert abs(float(got) - ref) <= 1e-9 * max(1.0, abs(ref)), (shape, float(got), ref)
    # Not where the smallest singular value is tiny (full rank still): the structural
    # eigenvectors mix with its pair's, and leaving their terms out was 7 % off (a review).
    a = _planted((5, 3), [2.0, 1.5, 2e-15], 20)
    rng = np.random.default_rng(20)
    c, e = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    loss = lambda x: jnp.sum(c * svd_funm(x, jnp.tanh))  # noqa: E731
    got = jax.jvp(lambda x: jax.jvp(loss, (x,), (e,))[1], (a,), (e,))[1]
    ref = second_directional_derivative(lambda m: mp.fsum(c.ravel() * np.array(_mp_svd_funm(m, mp.tanh).tolist()).ravel()), a, e, e)
    assert abs(float(got) - ref) <= 1e-9 * max(1.0, abs(ref)), (float(got), ref)


def test_svd_funm_polar_factor_of_full_rank_rectangular():
    # f = 1 (f(0) ≠ 0) is fine without zero singular values: U Vᴴ = A (AᵀA)^(-1/2).
    a = _planted((5, 3), [2.0, 2.0, 0.5], 9)
    w, v = np.linalg.eigh(a.T @ a)
    ref = a @ (v / np.sqrt(w)) @ v.T
    assert_close(svd_funm(a, jnp.ones_like), ref, 1e-13)


# --------------------------------------------------------------------------------------
# svd_trace_function and nuclear_norm.


@pytest.mark.parametrize("name", ["identity", "tall_s_1_1_half", "complex_identity"])
def test_frobenius_squared_closed_form(name):
    # Σ s² = ‖A‖_F²: gradient 2A (conjugated by jax.grad for complex A), Hessian 2·id.
    a = TIES[name]
    f = lambda x: svd_trace_function(x, jnp.square)  # noqa: E731
    e = rand(a.shape, 5, complex_=np.iscomplexobj(a))
    assert_close(f(a), np.sum(np.abs(a) ** 2), 1e-13)
    assert_close(jax.grad(f)(a), 2 * np.conj(a), 1e-13)
    assert_close(jax.jvp(jax.grad(f), (a,), (e,))[1], 2 * np.conj(e), 1e-12)


@pytest.mark.parametrize("name", ["diag_1_1_2_3", "wide_s_2_2_1", "complex_tall_random"])
def test_svd_trace_function_vs_mpmath(name):
    a = TIES[name]
    cplx = np.iscomplexobj(a)
    e1, e2 = rand(a.shape, 1, complex_=cplx), rand(a.shape, 2, complex_=cplx)

    def loss_mp(m):
        return mp.fsum(mp.log(1 + s**2) for s in mp_svd(m)[1])

    _check_all_modes("log1p_s2", loss_mp, a, np.zeros_like(a), e1, e2)


def test_nuclear_norm_full_rank_gradient_and_hessian():
    a = _planted((4, 3), [2.0, 2.0, 1.0], 11)
    r1, r2 = rotation(4, 11), rotation(3, 12)
    assert_close(nuclear_norm(a), 5.0, 1e-13)
    assert_close(jax.grad(nuclear_norm)(a), r1[:, :3] @ r2.T, 1e-13)  # U Vᴴ
    e1, e2 = rand(a.shape, 3), rand(a.shape, 4)
    _check_all_modes("nuclear_norm", lambda m: mp.fsum(mp_svd(m)[1]), a, np.zeros_like(a), e1, e2)


def test_nuclear_norm_rank_deficient_minimum_norm_subgradient():
    a = _planted((4, 3), [2.0, 1.0, 0.0], 13)
    r1, r2 = rotation(4, 13), rotation(3, 14)
    assert_close(jax.grad(nuclear_norm)(a), r1[:, :2] @ r2[:, :2].T, 1e-12)  # U_r V_rᴴ
    assert np.all(np.isnan(jax.hessian(nuclear_norm)(a)))  # not twice differentiable


# --------------------------------------------------------------------------------------
# Singular value thresholding.


def _mp_soft(tau):
    return lambda s: mp.mpf(0) if s <= tau else s - tau


def test_svt_values_and_derivatives_in_a_and_tau():
    a = TIES["tall_s_1_1_half"] * 2  # s = (2, 2, 1)
    tau = 0.6
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    assert_close(svt(a, tau), (u * np.maximum(s - tau, 0)) @ vh, 1e-13)
    c = rand(a.shape, 21)
    c_mp = mp.matrix(c.tolist())
    e1, e2 = rand(a.shape, 22), rand(a.shape, 23)
    loss_mp = lambda m: _pairing(c_mp, _mp_svd_funm(m, _mp_soft(mp.mpf(tau))))  # noqa: E731
    _check_all_modes("svt_0.6", loss_mp, a, c, e1, e2)
    a_mp = mp.matrix(a.tolist())
    ref = directional_derivative(lambda m: _pairing(c_mp, _mp_svd_funm(a_mp, _mp_soft(m[0, 0]))),
                                 np.array([[tau]]), np.ones((1, 1)))[0].real
    assert_close(jax.grad(lambda t: _pairing(c, svt(a, t)))(tau), ref, 1e-10)


def test_svt_kink_derivative_is_the_central_difference():
    # At sᵢ = τ the soft threshold has one-sided derivatives 0 and 1; the documented
    # choice ½ is what a central difference in τ (or along A) converges to.
    a = np.diag([2.0, 1.0, 0.25])
    c = rand(a.shape, 31)
    loss = lambda t: _pairing(c, svt(a, t))  # noqa: E731
    h = 1e-6
    fd = (loss(1.0 + h) - loss(1.0 - h)) / (2 * h)
    assert_close(jax.grad(loss)(1.0), fd, 1e-8)


@jax.jit
def _svt_tau_derivatives(scale):
    # d/dτ Σ cᵢⱼ svt(scale·A, τ)ᵢⱼ at τ = 0, and d/dτ Σ svt(scale·D, τ) at the kink τ = scale.
    a = jnp.array([[2.0, 1.0, 0.0], [0.5, 3.0, 1.0], [0.0, 1.0, 1.5]])
    c = jnp.arange(9.0).reshape(3, 3)
    at_zero = jax.grad(lambda t: jnp.sum(c * svt(a * scale, t)))(0.0)
    at_kink = jax.grad(lambda t: jnp.sum(svt(jnp.diag(jnp.array([3.0, 1.0, 0.5])) * scale, t)))(scale)
    return at_zero, at_kink


def test_svt_tau_derivatives_do_not_depend_on_the_scale():
    # The kink's rounding band is eps·‖A‖_F, whose squares overflowed above ~1e154: at
    # scale 1e160 d/dτ at τ = 0 came out 0 and the kink's ½ rule −1.0 (outside probe).
    # At τ = 0 all singular values are above τ: d/dτ svt = −U Vᴴ, so −Σ c ∘ (U Vᴴ) (numpy's
    # SVD). At τ = scale, D's values 3, 1, 0.5 (× scale) are above, on (slope ½) and below
    # the kink: −(1 + ½ + 0) = −1.5.
    a = np.array([[2.0, 1.0, 0.0], [0.5, 3.0, 1.0], [0.0, 1.0, 1.5]])
    u, _, vh = np.linalg.svd(a)
    expected = -np.sum(np.arange(9.0).reshape(3, 3) * (u @ vh))
    for scale in (1.0, 1e160, 1e-170):
        at_zero, at_kink = _svt_tau_derivatives(scale)
        assert abs(float(at_zero) - expected) <= 1e-13 * abs(expected), (scale, float(at_zero))
        assert float(at_kink) == -1.5, (scale, float(at_kink))


def test_svt_at_zero_threshold_is_one_sided_at_a_zero_singular_value():
    # svt(·, 0) is the identity map (every singular value is >= 0), rank-deficient or not,
    # so its derivative along E is E. In τ at τ = 0 only the one-sided difference exists:
    # for A = diag(2, 1, 0), svt(A, τ) = diag(2 − τ, 1 − τ, 0) for 0 <= τ <= 1.
    a = np.diag([2.0, 1.0, 0.0])
    e = rand(a.shape, 41)
    for x in (a, np.zeros((3, 3))):
        assert_close(jax.jvp(lambda m: svt(m, 0.0), (x,), (e,))[1], e, 1e-14)
    d_tau = jax.jacfwd(lambda t: svt(a, t))(0.0)
    assert_close(d_tau, -np.diag([1.0, 1.0, 0.0]), 1e-14)
    c = rand(a.shape, 42)
    assert_close(jax.grad(lambda t: _pairing(c, svt(a, t)))(0.0), -(c[0, 0] + c[1, 1]), 1e-14)
    # A rank-2 3×3 whose zero singular value is computed as 5e-17: for 0 < τ below that
    # the zero took the slope above the kink and d/dτ held −u₃v₃ᵀ for an arbitrary null
    # pair (0.71 off; outside probe). d/dτ svt = −U_r V_rᵀ for every 0 <= τ < 1.
    q1, q2 = rotation(3, 43), rotation(3, 44)
    b = (q1[:, :2] * np.array([2.0, 1.0])) @ q2[:, :2].T
    d_tau = jax.jit(jax.jacfwd(lambda t: svt(b, t)))
    for tau in (0.0, 1e-300, 1e-20, 1e-3):
        assert_close(d_tau(tau), -(q1[:, :2] @ q2[:, :2].T), 1e-13)


def test_svt_kink_at_a_tie_split_by_rounding():
    # An orthogonal Q has s = (1, 1, 1) only to rounding: at τ = 1 the whole cluster sits
    # on the kink. Then svt(Q + hE, 1) = Q·(h/2)·sym(QᵀE) + O(h²) (slope ½, U = Q, V = I,
    # and D⁺ = (f(1) + f(1))/2 = 0), and d/dτ svt(Q, τ) = −Q/2 at τ = 1. Slopes 1, ½ and 0
    # inside the rounding-split cluster gave 46–108 % errors along E and 0.5 in τ.
    q = np.linalg.qr(rand((3, 3), 51))[0]
    e = rand((3, 3), 52)
    p = q.T @ e
    assert_close(jax.jvp(lambda m: svt(m, 1.0), (q,), (e,))[1], q @ (p + p.T) / 4, 1e-13)
    assert_close(jax.jvp(lambda t: svt(q, t), (1.0,), (1.0,))[1], -q / 2, 1e-13)
    # At τ = 0 a numerically zero singular value (rank 2, s₃ ~ 5e-16) has one side:
    # d/dτ svt(Z, τ) = −U_r V_rᵀ (the null pair left out), as for an exact zero.
    z = np.outer([1.0, 2, 3], [1, 1, 1.0]) + np.outer([0, 1.0, 0], [1, 0, -1.0])
    u, s, vh = np.linalg.svd(z)
    assert s[2] < 1e-14 < s[1]
    assert_close(jax.jacfwd(lambda t: svt(z, t))(0.0), -u[:, :2] @ vh[:2], 1e-13)
    # A τ just above 0 leaves a zero singular value outside the kink's band: the function
    # there stays 0 (the band's line made it nonzero, and svd_funm's output NaN).
    b = np.array([[1.0, 1, 0], [1, 1, 0], [0, 0, 0]])  # s = (2, 0, 0)
    assert_close(svt(b, 1e-15), b, 1e-14)
    assert_close(jax.jacfwd(lambda t: svt(b, t))(1e-15), -b / 2, 1e-14)
    # A singular value 1e-13 above τ (450 ulps; the band is 8·eps·‖A‖_F = 2.6e-14 here)
    # is off the kink: its exact slope and value (at max(m, n)·eps·‖A‖_F it was in the
    # band: slope ½, value 3.7e-13).
    d = np.diag(np.linspace(0.5, 1.5, 200))
    tau = d[100, 100] - 1e-13
    assert float(jax.jacfwd(lambda t: svt(d, t)[100, 100])(tau)) == -1.0
    assert abs(float(svt(d, tau)[100, 100]) - 1e-13) < 1e-15


def test_svt_negative_tau_is_nan():
    out = svt(np.eye(2), -0.1)
    grad = jax.grad(lambda t: jnp.sum(svt(np.eye(2), t)))(-0.1)
    assert np.all(np.isnan(out)) and np.isnan(grad)


def test_batched_vmapped_and_jitted_agree():
    a = np.stack([TIES["identity"], np.diag([3.0, 1.0, 1.0]), rand((3, 3), 40)])
    batched = svd_funm(a, jnp.tanh)
    mapped = jax.vmap(lambda x: svd_funm(x, jnp.tanh))(a)
    assert_close(batched, mapped, 1e-14)
    taus = jnp.array([0.5, 1.0, 2.0])
    per_tau = jax.jit(jax.vmap(lambda t: svt(a[2], t)))(taus)
    assert_close(per_tau[1], svt(a[2], 1.0), 1e-14)
    g_batched = jax.grad(lambda x: jnp.sum(nuclear_norm(x)))(a)
    g_mapped = jax.vmap(jax.grad(nuclear_norm))(a)
    assert_close(g_batched, g_mapped, 1e-13)


def test_docs_matrix_completion_example_converges_and_its_tau_derivative_is_right():
    # Runs the example of docs/singular-value-functions.md as written.
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "singular-value-functions.md").read_text()
    block = page.split("<!-- example: matrix-completion -->", 1)[1]
    code = block.split("```python", 1)[1].split("```", 1)[0]
    printed: list[str] = []
    namespace: dict = {"print": lambda *args: printed.append(" ".join(map(str, args)))}
    exec(compile(code, "singular-value-functions.md", "exec"), namespace)
    held_out_error, complete = namespace["held_out_error"], namespace["complete"]
    assert float(complete(1.0)[1]) < 1e-10  # the proximal iteration has converged
    gradient = float(printed[-1].split("=")[1])  # what the page prints, 6 decimals
    h = 1e-5
    fd = (held_out_error(1.0 + h) - held_out_error(1.0 - h)) / (2 * h)
    assert abs(gradient - fd) <= 1e-6 * abs(fd)


def test_per_lane_parameters_under_vmap_match_single_calls():
    # f reading a per-lane value under vmap: the batching rule maps f over the lanes with
    # the matrices (it ran the lanes one after the other with lax.map, which gathered a
    # sharded batch; tests/test_sharding.py checks that part). Each lane must equal its
    # own unbatched call, including f(0) ≠ 0 at a zero singular value (NaN in that lane
    # only) and second derivatives.
    rng = np.random.default_rng(5)
    r = jnp.asarray(rng.normal(size=(4, 5, 3))).at[2].set(jnp.zeros((5, 3)).at[0, 0].set(1.0))
    t = jnp.linspace(0.3, 1.5, 4)
    c = jnp.asarray(rng.normal(size=(5, 3)))

    def loss(m, t):
        return jnp.sum(c * svd_funm(m, lambda s: jnp.cos(t * s))) + jnp.sum(c * svd_funm(m, lambda s: jnp.tanh(t * s)))

    def hvp(m, t):
        return jax.jvp(jax.grad(lambda m: jnp.sum(c * svd_funm(m, lambda s: jnp.tanh(t * s)))), (m,), (c,))[1]

    batched = jax.jit(jax.vmap(lambda m, t: (jax.grad(loss, argnums=(0, 1))(m, t), hvp(m, t))))(r, t)
    for i in range(4):
        single = (jax.grad(loss, argnums=(0, 1))(r[i], t[i]), hvp(r[i], t[i]))
        for got, ref in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(single)):
            np.testing.assert_allclose(got[i], ref, rtol=1e-13, atol=1e-13, equal_nan=True)
    grads = np.asarray(batched[0][0])
    assert np.all(np.isnan(grads[2])) and not np.any(np.isnan(grads[[0, 1, 3]]))


def test_derivatives_on_a_stack_with_two_batch_dimensions_and_under_two_vmaps():
    # svt maps its threshold over every matrix of a stack, so on (2, 3, m, n) f was
    # lane-mapped twice, and its f(0) check reshaped the inner lanes away: every
    # derivative of svt on such a stack raised a TypeError, and so did svd_funm under
    # two vmaps over a parameter of f (outside probe); and with that mended, a batch of
    # tangents (jacfwd, jacrev, hessian) put its axis where the inner f keeps its lanes
    # and raised too (a review). Reference: jnp.linalg.svd, exact where the singular
    # values are distinct and none equals the threshold.
    rng = np.random.default_rng(11)
    m, c, e = (jnp.asarray(rng.normal(size=(2, 3, 4, 3))) for _ in range(3))
    t = jnp.asarray(rng.uniform(0.5, 2.0, size=(2, 3)))

    def plain(x, g):
        u, s, vh = jnp.linalg.svd(x, full_matrices=False)
        return (u * g(s)[..., None, :]) @ vh

    def hvp(fn):
        return jax.jvp(jax.grad(lambda x: jnp.sum(c * fn(x))), (m,), (e,))[1]

    got = hvp(lambda x: svt(x, 0.5))
    want = hvp(lambda x: plain(x, lambda s: jnp.maximum(s - 0.5, 0.0)))
    assert_close(got, want, 1e-12)
    assert_close(jax.jacfwd(lambda x: svt(x, 0.5))(m[:, :2]),
                 jax.jacfwd(lambda x: plain(x, lambda s: jnp.maximum(s - 0.5, 0.0)))(m[:, :2]), 1e-13)
    assert_close(jax.grad(lambda x: jnp.sum(c * svt(x, 0.5)))(m),
                 jax.grad(lambda x: jnp.sum(c * plain(x, lambda s: jnp.maximum(s - 0.5, 0.0))))(m), 1e-13)

    def per_lane(fn):
        return jax.vmap(jax.vmap(jax.grad(lambda x, t, c: jnp.sum(c * fn(x, t)), argnums=(0, 1))))(m, t, c)

    got = per_lane(lambda x, t: svd_funm(x, lambda s: jnp.tanh(t * s)))
    want = per_lane(lambda x, t: plain(x, lambda s: jnp.tanh(t * s)))
    for g, w in zip(got, want):
        assert_close(g, w, 1e-13)
    lanes = jax.vmap(jax.vmap(lambda x, t: svd_funm(x, lambda s: jnp.tanh(t * s))))
    lanes_ref = jax.vmap(jax.vmap(lambda x, t: plain(x, lambda s: jnp.tanh(t * s))))
    assert_close(jax.jacrev(lanes, argnums=1)(m, t), jax.jacrev(lanes_ref, argnums=1)(m, t), 1e-13)


def test_float32_matrix_with_a_float64_parameter():
    # A strongly typed float64 parameter of f beside a float32 matrix: the parameter's
    # term of the derivative came out float64 and JAX raised its internal "Custom JVP
    # rule must produce ... dtypes" error (outside probe). d/dp of p·Σ g(sᵢ)-type
    # quantities is the same quantity at p = 1, from NumPy's SVD in float64.
    from jaxgrad.linalg import funm

    a = np.array([[2.0, 0.3, 0.1], [0.0, 1.0, 0.2], [0.4, 0.0, 0.5]])
    a32, p = jnp.asarray(a, jnp.float32), jnp.float64(0.5)
    u, s, vh = np.linalg.svd(a)
    got = jax.grad(lambda q: jnp.sum(svd_funm(a32, lambda x: q * jnp.tanh(x))))(p)
    np.testing.assert_allclose(got, np.sum((u * np.tanh(s)) @ vh), rtol=1e-5)
    got = jax.grad(lambda q: svd_trace_function(a32, lambda x: q * x**2))(p)
    np.testing.assert_allclose(got, np.sum(s**2), rtol=1e-5)
    h = (a + a.T) / 2
    w, v = np.linalg.eigh(h)
    got = jax.grad(lambda q: jnp.sum(funm(jnp.asarray(h, jnp.float32), lambda x: q * jnp.sin(x))))(p)
    np.testing.assert_allclose(got, np.sum((v * np.sin(w)) @ v.T), rtol=1e-5)


def test_second_derivative_of_a_pseudo_inverse_under_vmap_over_a_parameter_of_f():
    # vmap over the matrices and a parameter t of f(s) = t/s: f is then mapped lane by
    # lane inside the rules, and the wrapper dropped the odd extension's snapping of the
    # dilation's zero eigenvalues (3896 for 26.1; outside review). Reference: mpmath's
    # SVD at 40 digits, Richardson second differences, lane by lane.
    rng = np.random.default_rng(0)
    a, v, c = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 4, 3)), rng.standard_normal((4, 3))
    ts = np.array([1.0, 2.0])

    def d2(x, e, t):
        loss = lambda y: jnp.sum(c * svd_funm(y, lambda s: t / s))  # noqa: E731
        return jax.jvp(lambda y: jax.jvp(loss, (y,), (e,))[1], (x,), (e,))[1]

    got = jax.jit(jax.vmap(d2))(a, v, ts)
    for i in range(2):
        ref = second_directional_derivative(
            lambda m, t=ts[i]: mp.fsum(c.ravel() * np.array(_mp_svd_funm(m, lambda s: t / s).tolist()).ravel()), a[i], v[i], v[i])
        assert abs(float(got[i]) - ref) <= 1e-9 * max(1.0, abs(ref)), (i, float(got[i]), ref)


def test_hessian_around_a_vmap_over_parameters_of_f():
    # jax.hessian (forward over reverse) of a loss that vmaps funm / svd_funm over a
    # parameter of f: the outer batch of directions was put in front of the inner lanes,
    # where the lane-mapped f looks for them, and JAX raised "vmap got inconsistent
    # sizes" (outside review; in the old code too). f = t·x² (funm: t·A², svd_funm:
    # U t S² Vᴴ = t·A Aᵀ A), so the losses are polynomials whose Hessians JAX's own
    # differentiation of the matrix products gives exactly.
    from jaxgrad.linalg import funm

    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3, 3))
    a = (a + np.swapaxes(a, 1, 2)) / 2
    ts = np.array([0.7, 1.3])
    h = jax.hessian(lambda x: jnp.sum(jax.vmap(lambda m, t: funm(m, lambda w: t * w**2))(x, ts) ** 2))(jnp.asarray(a))
    sym = lambda x: (x + jnp.swapaxes(x, -1, -2)) / 2  # noqa: E731
    ref = jax.hessian(lambda x: jnp.sum((ts[:, None, None] * sym(x) @ sym(x)) ** 2))(jnp.asarray(a))
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-10)
    b = rng.standard_normal((2, 3, 2))
    h = jax.hessian(lambda x: jnp.sum(jax.vmap(lambda m, t: svd_funm(m, lambda s: t * s**3))(x, ts) ** 2))(jnp.asarray(b))
    ref = jax.hessian(lambda x: jnp.sum((ts[:, None, None] * x @ jnp.swapaxes(x, 1, 2) @ x) ** 2))(jnp.asarray(b))
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-10)


def test_a_singular_value_at_the_rank_tolerance_is_zero_in_the_value_and_first_derivative():
    # 2^100 times an integer 4×3 matrix of rank 2: s₃ is exactly 0, LAPACK returns the
    # rounding's 2.2e14 (below the rank tolerance, 7.9e15), and the value and first
    # derivative applied tanh to it: an O(1) term u₃v₃ᵀ too many, and a first derivative
    # without its null-space term (outside probe; the second-order rule already took it
    # as 0). Exact, since tanh(s) = 1 to far below eps at s ~ 1e30 and f′(0) = 1:
    # F = U₂V₂ᵀ and dF[E] = (I − U₂U₂ᵀ) E v₃v₃ᵀ up to terms ~1/s ~ 1e-30 (mpmath's SVD).
    a0 = np.array([[1.0, 2, -1], [0, 1, 3], [1, 3, 2], [2, 5, 1]])  # rows 3, 4: sums of rows 1, 2
    with mp.workdps(50):
        u, _, vh = mp.svd_r(mp.matrix(a0.tolist()))
        u2 = np.array(u[:, 0:2].tolist(), dtype=float)
        v2t = np.array(vh[0:2, :].tolist(), dtype=float)
        v3 = np.array(vh[2, :].tolist(), dtype=float).ravel()
    e = np.random.default_rng(0).normal(size=a0.shape)
    value, tangent = jax.jvp(lambda x: svd_funm(x, jnp.tanh), (jnp.asarray(2.0**100 * a0),), (jnp.asarray(e),))
    np.testing.assert_allclose(np.asarray(value), u2 @ v2t, atol=1e-14)
    want = (e - u2 @ (u2.T @ e)) @ np.outer(v3, v3)
    np.testing.assert_allclose(np.asarray(tangent), want, atol=1e-14 * np.abs(want).max())
