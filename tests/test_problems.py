"""The matrix problems of jaxgrad.optimize (and a fit through quad), checked against numpy and closed forms."""

from __future__ import annotations

import doctest
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgrad._check_grad
from jaxgrad._check_grad import check_grad
from jaxgrad.linalg import svd
from jaxgrad.optimize import (
    NewtonSchulzStatus,
    Status,
    _first_order_baseline,
    _inverse_by_minimize,
    _linesearch,
    _inverse_eigenvalue_problem,
    _minimize,
    _newton_schulz,
    _svd_by_minimize,
    _tikhonov,
    eigenvalue_misfit,
    inverse_by_minimize,
    inverse_loss,
    minimize,
    newton_schulz_inverse,
    svd_by_minimize,
    symmetric_from_triu,
    symmetric_with_eigenvalues,
    triu_of,
)
from jaxgrad.optimize._first_order_baseline import steps_to_loss


def _orthogonal(n, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def _with_condition(n, kappa, seed):
    return (_orthogonal(n, seed) * np.geomspace(1.0, 1.0 / kappa, n)) @ _orthogonal(n, seed + 1).T


@pytest.mark.parametrize("targets", [(1.0, 1.0, 1.0), (1.0, 2.0, 3.0), (3.0, 1.0, 1.0)], ids=str)
def test_symmetric_with_eigenvalues_n3(targets):
    sol = symmetric_with_eigenvalues(jnp.array(targets))
    assert bool(sol.status == Status.converged)
    assert float(sol.value) < 1e-16 and int(sol.num_steps) <= 20
    a = np.asarray(sol.aux)
    np.testing.assert_allclose(a, a.T)
    np.testing.assert_allclose(np.linalg.eigvalsh(a), np.sort(targets), atol=1e-8)
    if targets == (1.0, 1.0, 1.0):  # the only symmetric matrix with spectrum {1,1,1}
        np.testing.assert_allclose(a, np.eye(3), atol=1e-8)


def test_symmetric_with_eigenvalues_at_any_scale():
    # The loss is in the targets' units squared and `tol` absolute: at 1e-8·[3, 1, 2] the
    # eigenvalues came out 2.7e-4 off, `converged`, and at 1e8 the line search failed
    # (outside probe). The problem is solved at unit scale (the same compiled program as
    # above) and scaled back.
    for scale in (1e-8, 1e8):
        sol = symmetric_with_eigenvalues(scale * jnp.array([3.0, 1.0, 2.0]))
        np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(sol.aux)) / scale, [1.0, 2.0, 3.0], rtol=1e-10)
        assert float(sol.value) < 1e-16 * scale**2


@pytest.mark.parametrize("n", [10, 30])
def test_symmetric_with_eigenvalues_larger(n):
    targets = jnp.linspace(-1.0, 2.0, n).at[1].set(-1.0)  # with a tie
    sol = symmetric_with_eigenvalues(targets, seed=n)
    assert float(sol.value) < 1e-16 and int(sol.num_steps) <= 100
    np.testing.assert_allclose(np.linalg.eigvalsh(np.asarray(sol.aux)), np.sort(targets), atol=1e-8)


def test_symmetric_with_eigenvalues_implicit_derivative():
    # ‖A‖_F² = Σ tᵢ² on the solution set, so its gradient is 2t even though A itself
    # is not unique (singular Hessian) and even at the triple tie.
    grad = jax.jit(jax.grad(lambda t: jnp.sum(symmetric_with_eigenvalues(t, ridge=1e-12).aux ** 2)))
    for t in (jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 1.0, 1.0])):
        np.testing.assert_allclose(grad(t), 2 * t, rtol=1e-7)
    # A loss that depends on where A sits on the orbit Q A Qᵀ: exact adjoint is NaN.
    t = jnp.array([1.0, 2.0, 3.0])
    assert np.all(np.isnan(jax.jit(jax.grad(lambda t: symmetric_with_eigenvalues(t).aux[0, 1]))(t)))


def test_eigenvalue_misfit_gradient_check():
    p = triu_of(jnp.asarray(_with_condition(3, 3.0, 5)))
    p = triu_of(symmetric_from_triu(p, 3))
    assert check_grad(lambda p: eigenvalue_misfit(p, jnp.array([1.0, 1.0, 2.0]))[0], p).passed
    np.testing.assert_array_equal(triu_of(symmetric_from_triu(jnp.arange(6.0), 3)), np.arange(6.0))


def test_adam_baseline_is_slow():
    p0 = triu_of(jnp.asarray(np.random.default_rng(0).normal(size=(3, 3))))
    _, k, f, hist = steps_to_loss(eigenvalue_misfit, p0, (jnp.array([1.0, 2.0, 3.0]),),
                                  optax.adam(1e-3), 1e-8, 10000, has_aux=True)
    assert int(k) > 1000 and float(f) <= 1e-8
    assert float(hist[0]) == float(eigenvalue_misfit(p0, jnp.array([1.0, 2.0, 3.0]))[0])


def test_inverse_by_minimize_4x4():
    m = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)))
    sol = inverse_by_minimize(m)
    assert float(sol.value) < 1e-10 and int(sol.num_steps) <= 100
    np.testing.assert_allclose(sol.x, np.linalg.inv(np.asarray(m)), atol=1e-9)
    dm = jnp.asarray(np.random.default_rng(1).normal(size=(4, 4)))
    _, dx = jax.jit(lambda m, dm: jax.jvp(lambda m: inverse_by_minimize(m).x, (m,), (dm,)))(m, dm)
    inv = np.linalg.inv(np.asarray(m))
    np.testing.assert_allclose(dx, -inv @ np.asarray(dm) @ inv, atol=1e-8)


# One compilation for every κ below.
_newton_schulz_jvp = jax.jit(lambda m, dm: jax.jvp(lambda m: newton_schulz_inverse(m).inverse, (m,), (dm,)))


@pytest.mark.parametrize("kappa", [10.0, 1e3, 1e6])
def test_newton_schulz(kappa):
    m = jnp.asarray(_with_condition(5, kappa, 3))
    r = newton_schulz_inverse(m)
    assert bool(r.status == NewtonSchulzStatus.converged)
    assert int(r.num_steps) <= 2 * math.log2(kappa) + 10
    inv = np.linalg.inv(np.asarray(m))
    np.testing.assert_allclose(r.inverse, inv, rtol=0, atol=50 * kappa * 2.2e-16 * np.abs(inv).max())
    dm = jnp.asarray(np.random.default_rng(2).normal(size=(5, 5)))
    _, dx = _newton_schulz_jvp(m, dm)
    np.testing.assert_allclose(dx, -inv @ np.asarray(dm) @ inv, rtol=1e-6 * kappa, atol=1e-9 * kappa**2)


def test_newton_schulz_second_derivative():
    # d²(M⁻¹)[D₁, D₂] = X D₁ X D₂ X + X D₂ X D₁ X (differentiate dX = −X D X again), in
    # numpy; forward over forward and reverse over forward. (It was exactly 0: the
    # rule's X was a stop_gradient.)
    rng = np.random.default_rng(5)
    m, d1, d2 = (jnp.asarray(rng.normal(size=(3, 3))) for _ in range(3))
    x = np.linalg.inv(np.asarray(m))
    a, b = np.asarray(d1), np.asarray(d2)
    want = x @ a @ x @ b @ x + x @ b @ x @ a @ x
    inv = lambda m: newton_schulz_inverse(m).inverse  # noqa: E731
    d1x = lambda m: jax.jvp(inv, (m,), (d1,))[1]  # noqa: E731
    fwd = jax.jvp(d1x, (m,), (d2,))[1]
    np.testing.assert_allclose(fwd, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    c = jnp.asarray(rng.normal(size=(3, 3)))
    rev = jax.grad(lambda m: jnp.sum(c * d1x(m)))(m)
    np.testing.assert_allclose(jnp.sum(rev * d2), np.sum(np.asarray(c) * want), rtol=1e-10)


def test_newton_schulz_status():
    singular = jnp.array([[1.0, 2.0], [2.0, 4.0]])
    assert bool(newton_schulz_inverse(singular).status == NewtonSchulzStatus.stagnated)
    m = jnp.asarray(_with_condition(4, 1e3, 0))
    r = newton_schulz_inverse(m, max_steps=3)
    assert bool(r.status == NewtonSchulzStatus.max_steps) and int(r.num_steps) == 3
    r = newton_schulz_inverse(m, tol=1e-3)
    assert bool(r.status == NewtonSchulzStatus.converged) and 1e-6 < float(r.residual) <= 1e-3
    assert bool(newton_schulz_inverse(jnp.zeros((2, 2))).status == NewtonSchulzStatus.stagnated)
    # Derivatives only of an inverse: −X dM X of a matrix that is none (the singular one,
    # three steps of the other) was a finite number under jax.grad, where the status is
    # not seen (outside probe: 2.2 times the true gradient's norm, other signs); the
    # converged lane keeps −M⁻ᵀ C M⁻ᵀ. One program for the three lanes (vmap).
    loss = jax.vmap(jax.grad(lambda m, k: jnp.sum(newton_schulz_inverse(m, max_steps=k).inverse)), (0, None))
    lanes = jnp.stack([jnp.pad(singular, ((0, 2), (0, 2))) + jnp.diag(jnp.array([0.0, 0.0, 1.0, 1.0])), m])
    g_fail, g_ok = loss(lanes, 3), loss(lanes[1:], 100)[0]
    assert np.all(np.isnan(g_fail)), g_fail
    inv = np.linalg.inv(np.asarray(m))
    np.testing.assert_allclose(g_ok, -inv.T @ np.ones((4, 4)) @ inv.T, rtol=1e-9)
    with pytest.raises(ValueError, match="tol"):
        newton_schulz_inverse(m, tol=float("nan"))


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_newton_schulz_far_from_unit_scale(scale):
    # An orthogonal matrix times 1e±160 (κ = 1): ‖M‖₁‖M‖∞ overflowed (underflowed) and
    # the result was `stagnated` (`nonfinite`), 100 % off (found by an outside probe).
    # Exact inverse Qᵀ/s.
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    r = newton_schulz_inverse(jnp.asarray(scale * q))
    assert bool(r.status == NewtonSchulzStatus.converged)
    np.testing.assert_allclose(np.asarray(r.inverse) * scale, q.T, atol=1e-15)


def test_svd_by_minimize():
    m = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)))
    res = svd_by_minimize(m)
    s_np = np.linalg.svd(np.asarray(m), compute_uv=False)
    np.testing.assert_allclose(res.S, s_np, rtol=1e-10)
    np.testing.assert_allclose(res.S, svd(m, compute_uv=False), rtol=1e-10)
    np.testing.assert_allclose((res.U * res.S) @ res.V.T, m, atol=1e-10)
    np.testing.assert_allclose(res.U.T @ res.U, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_matrix_problems_at_any_scale(scale):
    # Both losses are run at unit scale: at 1e8·M svd_by_minimize ended in
    # linesearch_failed (S right), at 1e-8·M after two steps with S 25 % off.
    m0 = np.random.default_rng(0).normal(size=(3, 3))
    m = jnp.asarray(scale * m0)
    res = svd_by_minimize(m)
    np.testing.assert_allclose(res.S, np.linalg.svd(scale * m0, compute_uv=False), rtol=1e-10)
    sol = inverse_by_minimize(m)
    inv = np.linalg.inv(scale * m0)
    np.testing.assert_allclose(sol.x, inv, rtol=0, atol=1e-10 * np.abs(inv).max())
    dm = jnp.asarray(scale * np.random.default_rng(1).normal(size=(3, 3)))
    _, dx = jax.jvp(lambda m: inverse_by_minimize(m).x, (m,), (dm,))
    want = -inv @ np.asarray(dm) @ inv
    np.testing.assert_allclose(dx, want, rtol=0, atol=1e-9 * np.abs(want).max())


def test_problem_input_errors():
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        symmetric_from_triu(jnp.array([7.0]), 3)  # broadcast to a matrix of 7s before
    with pytest.raises(ValueError, match="square"):
        triu_of(jnp.ones((2, 3)))  # an out-of-range index was clipped before
    with pytest.raises(ValueError, match="targets must be a vector"):
        symmetric_with_eigenvalues(jnp.eye(2))
    with pytest.raises(ValueError, match="square"):
        newton_schulz_inverse(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="a0 must be 3 x 3"):
        symmetric_with_eigenvalues(jnp.ones(3), jnp.eye(2))
    # Named, not numpy's or JAX's internal errors; a 3 x 1 m was broadcast against the
    # identity into a number (outside probe).
    with pytest.raises(ValueError, match="seed must be an integer"):
        symmetric_with_eigenvalues(jnp.ones(3), seed=-1)
    with pytest.raises(ValueError, match="n must be an integer"):
        symmetric_from_triu(jnp.ones(3), -1)
    with pytest.raises(ValueError, match="square matrices of one size"):
        inverse_loss(jnp.eye(3), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="targets must be a vector"):
        eigenvalue_misfit(jnp.ones(3), jnp.eye(2))


PROBLEM_MODULES = [_inverse_eigenvalue_problem, _inverse_by_minimize, _newton_schulz, _svd_by_minimize]


@pytest.mark.parametrize(
    "module", [_minimize, _linesearch, *PROBLEM_MODULES, _first_order_baseline, _tikhonov, jaxgrad._check_grad],
    ids=lambda m: m.__name__,
)
def test_docstring_examples(module, monkeypatch, float32_default):
    # As a user runs them: in JAX's default float32.
    # `jaxgrad.check_grad` is the public path the examples use; until jaxgrad/__init__.py
    # re-exports it, provide it for the duration of this test.
    import jaxgrad

    for name in ("check_grad", "finite_difference_grad"):
        if not hasattr(jaxgrad, name):
            monkeypatch.setattr(jaxgrad, name, getattr(jaxgrad._check_grad, name), raising=False)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# Fitting integrand parameters through jaxgrad.integrate.quad, with a Tikhonov term.
# The model is linear in θ, so the fit and its derivative have closed forms:
# bins(θ) = A θ, θ* = (AᵀA + λI)⁻¹(Aᵀd + λc), dθ*/dd = (AᵀA + λI)⁻¹Aᵀ.
QUAD_EDGES = (0.0, 0.5, 1.5)
QUAD_LAM, QUAD_CENTER = 0.1, jnp.array([1.0, 0.0])


def _linear_model(x, th):
    return th[0] + th[1] * x


def _binned_model(x, th):
    # The model in each bin at once (one vector-valued integral over all bins, split
    # at the inner bin edges, instead of one quad per bin: half the compiled program).
    edges = jnp.asarray(QUAD_EDGES)
    return _linear_model(x, th) * ((x >= edges[:-1]) & (x < edges[1:]))


def _quad_misfit(th, d):
    from jaxgrad.integrate import quad

    bins = quad(_binned_model, QUAD_EDGES[0], QUAD_EDGES[-1], (th,), points=jnp.asarray(QUAD_EDGES[1:-1]))[0]
    return jnp.sum((bins - d) ** 2)


def test_fit_through_quad_with_tikhonov():
    from jaxgrad.optimize import tikhonov

    fit = tikhonov(_quad_misfit, QUAD_LAM, QUAD_CENTER)
    solve = lambda d: minimize(fit, jnp.zeros(2), (d,), tol=1e-12).x  # noqa: E731
    d = jnp.array([0.7, 1.9])
    a = np.array([[b - a, (b * b - a * a) / 2] for a, b in zip(QUAD_EDGES[:-1], QUAD_EDGES[1:])])
    normal = a.T @ a + QUAD_LAM * np.eye(2)

    @jax.jit  # one compilation for the value and the derivative
    def value_and_jacobian(d):
        theta, pullback = jax.vjp(solve, d)
        return theta, jax.vmap(lambda u: pullback(u)[0])(jnp.eye(2))

    theta, jac = value_and_jacobian(d)
    expected = np.linalg.solve(normal, a.T @ np.asarray(d) + QUAD_LAM * np.asarray(QUAD_CENTER))
    np.testing.assert_allclose(theta, expected, rtol=1e-10)
    np.testing.assert_allclose(jac, np.linalg.solve(normal, a.T), rtol=1e-8)
