"""`jaxgrad.linalg.eigh_generalized` against scipy, closed forms and mpmath.

The pair (A, B) is handed to the mpmath reference as one stacked (2n, n) matrix so
that `reference.directional_derivative` perturbs both at once.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.linalg

import reference as ref
from jaxgrad.linalg import eigh_generalized

N = 3


def _spd(seed):
    x = np.random.default_rng(seed).normal(size=(N, N))
    return x @ x.T + N * np.eye(N)


def _sym(seed):
    x = np.random.default_rng(seed).normal(size=(N, N))
    return (x + x.T) / 2


B = _spd(1)
A_DISTINCT = _sym(2)
# A tied pair: A = B^(1/2) Q diag(1, 1, 2) Qᵀ B^(1/2) has generalized eigenvalues (1, 1, 2).
_B_HALF = np.real(scipy.linalg.sqrtm(B))
A_TIED = _B_HALF @ ref.planted([1.0, 1.0, 2.0], 3) @ _B_HALF
W_PROJ = np.random.default_rng(4).normal(size=(N, N))


def _loss(ab, cols):
    """Σ eigenvalues of `cols` + <W, V_c V_cᵀ B> (the B-orthogonal spectral projector)."""
    a, b = ab[:N], ab[N:]
    w, v = eigh_generalized(a, b)
    vc = v[:, cols]
    return jnp.sum(w[jnp.array(cols)]) + jnp.sum(W_PROJ * (vc @ vc.T @ b))


def _mp_loss(cols):
    def loss(ab):
        a = ab[:N, :]
        b = ab[N:, :]
        chol = mp.cholesky(b)
        linv = mp.inverse(chol)
        w, wv = ref.mp_eigh(linv * a * linv.T)
        v = linv.T * wv
        vc = mp.matrix(N, len(cols))
        for j, c in enumerate(cols):
            for i in range(N):
                vc[i, j] = v[i, c]
        proj = vc * vc.T * b
        return sum(w[c] for c in cols) + mp.fsum(
            W_PROJ[i, j] * proj[i, j] for i in range(N) for j in range(N)
        )

    return loss


_jvp = jax.jit(lambda ab, e, cols: jax.jvp(lambda x: _loss(x, cols), (ab,), (e,))[1], static_argnums=2)
_grad = jax.jit(jax.grad(_loss), static_argnums=1)


def _symmetric_direction(seed):
    e = np.random.default_rng(seed).normal(size=(2 * N, N))
    return np.concatenate([(e[:N] + e[:N].T) / 2, (e[N:] + e[N:].T) / 2])


def test_values_match_scipy():
    w, v = eigh_generalized(A_DISTINCT, B)
    w_ref = scipy.linalg.eigh(A_DISTINCT, B, eigvals_only=True)
    np.testing.assert_allclose(w, w_ref, rtol=1e-13)
    np.testing.assert_allclose(v.T @ B @ v, np.eye(N), atol=1e-13)
    np.testing.assert_allclose(A_DISTINCT @ v, B @ v * w, atol=1e-12)


def test_simple_eigenvalue_closed_form_in_a_and_b():
    # dλᵢ = vᵢᵀ (dA − λᵢ dB) vᵢ with scipy's B-orthonormal eigenvectors (independent).
    w_ref, v_ref = scipy.linalg.eigh(A_DISTINCT, B)
    da, db = _sym(5), _sym(6)
    _, dw = jax.jvp(lambda a, b: eigh_generalized(a, b).eigenvalues, (A_DISTINCT, B), (da, db))
    closed = np.einsum("ji,jk,ki->i", v_ref, da, v_ref) - w_ref * np.einsum("ji,jk,ki->i", v_ref, db, v_ref)
    np.testing.assert_allclose(dw, closed, rtol=1e-12, atol=1e-13)
    ga, gb = jax.grad(lambda a, b: eigh_generalized(a, b).eigenvalues[1], argnums=(0, 1))(A_DISTINCT, B)
    v1 = v_ref[:, 1]
    np.testing.assert_allclose(ga, np.outer(v1, v1), atol=1e-13)
    np.testing.assert_allclose(gb, -w_ref[1] * np.outer(v1, v1), atol=1e-13)


@pytest.mark.parametrize("a, cols", [(A_DISTINCT, (0,)), (A_TIED, (0, 1))], ids=["distinct", "tied"])
def test_projector_and_eigenvalue_sum_vs_mpmath(a, cols):
    ab = np.concatenate([a, B])
    e = _symmetric_direction(7)
    expected = ref.directional_derivative(_mp_loss(cols), ab, e)[0].real
    got = _jvp(ab, e, cols)
    assert abs(got - expected) <= 1e-10 * max(1.0, abs(expected))
    g = _grad(ab, cols)
    # <grad, e> is the reverse-mode directional derivative.
    assert abs(np.sum(g * e) - expected) <= 1e-10 * max(1.0, abs(expected))


def test_tie_is_finite_where_jnp_style_composite_is_not():
    ab = np.concatenate([A_TIED, B])
    assert np.all(np.isfinite(_grad(ab, (0, 1))))


def test_phase_dependent_loss_is_nan():
    h = np.array([[2.0, 1j], [-1j, 3.0]])
    b = np.array([[2.0, 0.5], [0.5, 1.0]], dtype=complex)
    # Re(v₀₀ + v₁₀): depends on v₀'s phase whatever the solver's phase convention (the
    # real part of a component the convention makes real is stationary under the phase).
    g = jax.grad(lambda h: jnp.real(jnp.sum(eigh_generalized(h, b).eigenvectors[:, 0])))(h)
    assert np.all(np.isnan(g))
    g_ok = jax.grad(lambda h: jnp.abs(eigh_generalized(h, b).eigenvectors[1, 0]) ** 2)(h)
    assert np.all(np.isfinite(g_ok))


def test_batch_broadcast_and_bad_pairs():
    a = np.stack([A_DISTINCT, A_TIED, A_DISTINCT, A_DISTINCT])
    a[2, 0, 0] = np.nan
    b = np.stack([B, B, B, -B])  # the last B is not positive definite
    w, v = eigh_generalized(a, b)
    for i in (0, 1):
        np.testing.assert_allclose(w[i], scipy.linalg.eigh(a[i], B, eigvals_only=True), rtol=1e-12)
    assert np.all(np.isnan(w[2:])) and np.all(np.isnan(v[2:]))
    w_b, _ = eigh_generalized(a[:2], B)  # unbatched b broadcasts
    np.testing.assert_allclose(w_b, w[:2], rtol=1e-14)


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="`b`.*\\(3,\\)"):
        eigh_generalized(np.eye(3), np.ones(3))
    with pytest.raises(ValueError, match="`a` and `b`"):
        eigh_generalized(np.eye(3), np.eye(2))
    # Batch dimensions that do not broadcast: JAX's own message named neither the
    # function nor the arguments (outside probe).
    with pytest.raises(ValueError, match="eigh_generalized: the batch dimensions of `a` \\(2,\\) and `b` \\(3,\\)"):
        eigh_generalized(np.stack([np.eye(3)] * 2), np.stack([np.eye(3)] * 3))


@pytest.mark.parametrize("d", [1e-12, 1e-20])
def test_derivatives_with_an_ill_conditioned_b(d):
    # Found by an outside probe: A = [[2, 1], [1, 3]], B = diag(1, d). λ₀ and v₀ came out
    # exact, but the chain rule through the Cholesky factor lost digits as ε·cond(B):
    # dλ₀/dB₂₂ was 1.5e-4 off at d = 1e-12 and of the wrong sign at 1e-20. Reference:
    # λ₀(D) = ((3 + 2D) − √((3 + 2D)² − 20D)) / (2D), the smaller root of
    # (2 − λ)(3 − λD) − 1 = 0, differentiated by mpmath at 50 digits (first and second
    # derivative in B₂₂).
    a, b = np.array([[2.0, 1.0], [1.0, 3.0]]), np.diag([1.0, d])

    def lam(t):
        big = mp.mpf(d) + t
        return ((3 + 2 * big) - mp.sqrt((3 + 2 * big) ** 2 - 20 * big)) / (2 * big)

    with mp.workdps(50):
        first, second = float(mp.diff(lam, 0)), float(mp.diff(lam, 0, 2))
    grad = jax.jit(jax.grad(lambda b: eigh_generalized(a, b).eigenvalues[0]))
    e22 = jnp.zeros((2, 2)).at[1, 1].set(1.0)
    g, dg = jax.jit(lambda b: jax.jvp(grad, (b,), (e22,)))(jnp.asarray(b))
    np.testing.assert_allclose(g[1, 1], first, rtol=1e-13)
    np.testing.assert_allclose(dg[1, 1], second, rtol=1e-10)


@jax.jit
def _values_vectors_and_grad(a, b):
    res = eigh_generalized(a, b)
    return res.eigenvalues, res.eigenvectors, jax.grad(lambda b: eigh_generalized(a, b).eigenvalues[0])(b)


def _graded_pairs():
    a3 = np.array([[2.0, 1.0, 0.5], [1.0, 3.0, 1.0], [0.5, 1.0, 4.0]])
    scales = np.diag([1.0, 1e-4, 1e-8])  # B = D S D with D spanning 1e-8, small pivots first
    s = np.array([[2.0, 0.5, 0.3], [0.5, 2.0, 0.4], [0.3, 0.4, 2.0]])
    return [
        ("small pivot in the middle", a3, np.diag([1.0, 1e-16, 1.0])),
        ("small pivot last", a3, np.diag([1.0, 1.0, 1e-16])),
        ("graded D S D, small first", a3, scales[::-1, ::-1] @ s @ scales[::-1, ::-1]),
    ]


@pytest.mark.parametrize("name, a, b", _graded_pairs(), ids=[c[0] for c in _graded_pairs()])
def test_graded_b(name, a, b):
    # A graded B (a small pivot in the middle, or diagonal scales spanning many orders)
    # made a reduced matrix L⁻¹ A L⁻ᵀ graded the wrong way for the eigensolver: the two
    # finite eigenvalues of the first pair came out 8.004 where 3.680 is right (outside
    # probe; scipy 2.5e-15). Reference: the Cholesky reduction in mpmath at 60 digits;
    # dλ₀/dB₀₀ = −λ₀ v₀[0]² (v₀ B-normalized) from its eigenvector.
    with mp.workdps(60):
        chol = mp.cholesky(mp.matrix(b.tolist()))
        inv = chol**-1
        c = inv * mp.matrix(a.tolist()) * inv.T
        w_mp, u_mp = mp.eigsy((c + c.T) / 2)
        order = sorted(range(3), key=lambda i: w_mp[i])
        lam = [w_mp[i] for i in order]
        v0 = inv.T * u_mp[:, order[0]]
        d_lam0 = -lam[0] * v0[0] ** 2
    w, v, g = _values_vectors_and_grad(jnp.asarray(a), jnp.asarray(b))
    finite = [i for i in range(3) if abs(lam[i]) < 1e6]  # the huge one is set by 1/d alone
    for i in finite:
        assert abs(float(w[i]) - float(lam[i])) <= 1e-13 * abs(float(lam[i])), (name, i, float(w[i]), float(lam[i]))
    np.testing.assert_allclose(float(g[0, 0]), float(d_lam0), rtol=1e-12)
    residual = a @ np.asarray(v) - b @ np.asarray(v) * np.asarray(w)
    assert np.max(np.abs(residual[:, finite])) <= 1e-13 * np.max(np.abs(a)), name
