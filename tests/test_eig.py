"""jaxgrad.linalg.eig / eigvals: derivatives against mpmath references and closed forms.

Eigenvectors follow jaxgrad's normalisation (unit norm, largest-|.| entry real positive),
which `reference.mp_eig` reproduces in mpmath. `mp.eig` returns eigenvalues in no fixed
order, so the reference follows each eigenvalue by proximity (`mp_eig_like`). Losses are
written once over a tiny namespace (`JX` jax.numpy / `MX` numpy object arrays of mpmath
numbers). Derivatives are jitted once per loss and shape.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
import scipy.linalg

from jaxgrad.linalg import eig, eigvals
from reference import (
    assert_close,
    complex_gradient,
    directional_derivative,
    gradient,
    mp_eig_like,
    rand,
    to_object,
)

JX = SimpleNamespace(re=jnp.real, im=jnp.imag, cat=jnp.concatenate, inv=jnp.linalg.inv)
MX = SimpleNamespace(
    re=np.vectorize(mp.re, otypes=[object]),
    im=np.vectorize(mp.im, otypes=[object]),
    cat=np.concatenate,
    inv=lambda m: to_object(mp.inverse(mp.matrix(m.tolist()))),
)


def loss_eig(w, v, xp, cols=None):
    """Real and imaginary parts of the eigenvalues and of the eigenvectors in ``cols``."""
    cols = np.arange(w.shape[0]) if cols is None else np.array(cols, dtype=int)
    vc = v[:, cols]
    return xp.cat([xp.re(w), xp.im(w), xp.re(vc).ravel(), xp.im(vc).ravel()])


def loss_cluster(w, v, xp, cols):
    """Spectral projector of the eigenvalues in ``cols`` and the sum of those eigenvalues."""
    cols = np.array(cols, dtype=int)
    p = v[:, cols] @ xp.inv(v)[cols, :]
    lam = w[cols[:1]] + w[cols[1:2]]  # shape (1,)
    return xp.cat([xp.re(p).ravel(), xp.im(p).ravel(), xp.re(lam), xp.im(lam)])


def mp_loss(loss, targets, cols=None):
    targets = [complex(t) for t in np.asarray(targets)]

    def f(a):
        w, v = mp_eig_like(a, targets)
        return list(loss(np.array(w, dtype=object), to_object(v), MX, cols).ravel())

    return f


def mp_scalar(loss, targets, weights, cols=None):
    weights = [float(x) for x in weights]
    f = mp_loss(loss, targets, cols)
    return lambda a: [mp.fsum(wi * yi for wi, yi in zip(weights, f(a)))]


@functools.cache
def _loss_jvp_fn(loss, cols):
    return jax.jit(lambda a, e: jax.jvp(lambda x: loss(*eig(x), JX, cols), (a,), (e,))[1])


@functools.cache
def _loss_grad_fn(loss, cols):
    return jax.jit(jax.grad(lambda a, w: jnp.sum(w * loss(*eig(a), JX, cols))))


@jax.jit
def eig_jvp(a, e):
    return jax.jvp(lambda x: tuple(eig(x)), (a,), (e,))


@jax.jit
def eigvals_jvp(a, e):
    return jax.jvp(eigvals, (a,), (e,))


def jgrad(f):
    return jax.jit(jax.grad(f))


def similar(d, seed):
    """S d S⁻¹ for a fixed well-conditioned, non-orthogonal S."""
    s = np.eye(len(d)) + 0.5 * rand((len(d), len(d)), seed)
    return s @ np.asarray(d, dtype=float) @ np.linalg.inv(s), s


A_UPPER = np.array([[2.0, 1.0], [0.0, 3.0]])
A_REAL, _ = similar(np.diag([1.0, 2.0, 4.0]), 1)
A_PAIR, _ = similar(np.array([[0.0, -2.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 3.0]]), 2)
A_CPLX = rand((3, 3), 3, True)
A_SEMI, S_SEMI = similar(np.diag([2.0, 2.0, 5.0]), 4)
JORDAN = np.array([[1.0, 1.0], [0.0, 1.0]])
A_JORDAN3, _ = similar(np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 5.0]]), 5)

# A_UPPER's second eigenvector is (1, 1)/√2: its two entries tie in magnitude, so the
# normalisation (largest entry real positive) switches there -- only v₀ is tested.
CASES = {
    "upper2x2": (A_UPPER, (0,)),
    "real_spectrum": (A_REAL, None),
    "conjugate_pair": (A_PAIR, None),
    "complex": (A_CPLX, None),
}


def _pivots_unambiguous(a, cols):
    _, v = np.linalg.eig(a)
    for j in range(v.shape[1]) if cols is None else cols:
        m = np.sort(np.abs(v[:, j]))
        assert m[-2] < 0.95 * m[-1], "eigenvector pivot is ambiguous; pick another seed"


def _direction(a, seed):
    return rand(a.shape, seed, np.iscomplexobj(a))


# ---------------------------------------------------------------------------------------
# 9 + 11. Simple eigenvalues: values, jvp, grad.


@pytest.mark.parametrize("name", list(CASES))
def test_values_match_mpmath(name):
    a, cols = CASES[name]
    _pivots_unambiguous(a, cols)
    w, v = eig(a)
    with mp.workdps(40):
        wr, vr = mp_eig_like(mp.matrix(a.tolist()), np.asarray(w))
    assert_close(w, np.array([complex(x) for x in wr]), 1e-13)
    vr = np.array(vr.tolist(), dtype=complex)
    cols = list(range(a.shape[0])) if cols is None else list(cols)
    assert_close(np.asarray(v)[:, cols], vr[:, cols], 1e-12)
    assert_close(np.linalg.norm(np.asarray(v), axis=0), np.ones(a.shape[0]), 1e-14)


@pytest.mark.parametrize("name", list(CASES))
def test_eig_jvp(name):
    a, cols = CASES[name]
    w = np.asarray(eig(a).eigenvalues)
    for seed in (10, 11):
        e = _direction(a, seed)
        ref = directional_derivative(mp_loss(loss_eig, w, cols), a, e)
        assert_close(_loss_jvp_fn(loss_eig, cols)(a, e), ref)
        _, dw = eigvals_jvp(a, e)
        n = a.shape[0]
        assert_close(np.asarray(dw), ref[:n] + 1j * ref[n : 2 * n])


@pytest.mark.parametrize("name", list(CASES))
def test_eig_grad(name):
    # Real losses (Re/Im parts) of complex outputs. For complex input jax.grad returns
    # conj(∂L/∂Re a + i ∂L/∂Im a).
    a, cols = CASES[name]
    w = np.asarray(eig(a).eigenvalues)
    n = a.shape[0]
    weights = rand(2 * n + 2 * n * (n if cols is None else len(cols)), 12)
    f = mp_scalar(loss_eig, w, weights, cols)
    got = _loss_grad_fn(loss_eig, cols)(a, weights)
    if np.iscomplexobj(a):
        assert_close(got, np.conj(complex_gradient(f, a)))
    else:
        assert got.dtype == jnp.float64
        assert_close(got, gradient(f, a))


def test_eig_grad_direct_single_entry():
    # A plain jax.grad of one entry, no helper in between.
    a = A_PAIR
    w = np.asarray(eig(a).eigenvalues)
    i = int(np.argmax(np.asarray(w).imag))  # the eigenvalue with Im > 0
    g = jgrad(lambda x: jnp.imag(eig(x).eigenvectors[2, i]))(a)
    weights = np.zeros(2 * 3 + 2 * 9)
    weights[2 * 3 + 9 + 2 * 3 + i] = 1.0  # Im V[2, i]
    assert_close(g, gradient(mp_scalar(loss_eig, w, weights), a))
    g = jgrad(lambda x: jnp.imag(eigvals(x)[i]))(a)
    weights = np.zeros(6)
    weights[3 + i] = 1.0
    assert_close(g, gradient(mp_scalar(loss_eig, w, weights, ()), a))


# ---------------------------------------------------------------------------------------
# 10. Trace, defective and semisimple ties.


@jax.jit
def _trace_grads(a):
    return (
        jax.grad(lambda x: jnp.sum(jnp.real(eigvals(x))))(a),
        jax.grad(lambda x: jnp.sum(jnp.real(eig(x).eigenvalues)))(a),
        jax.grad(lambda x: jnp.sum(jnp.imag(eigvals(x))))(a),
    )


@pytest.mark.parametrize(
    "a", [A_REAL, A_PAIR, A_SEMI, A_CPLX, np.eye(3)], ids=["real", "pair", "semisimple", "complex", "I"]
)
def test_trace_gradient(a):
    n = a.shape[0]
    g_re, g_re2, g_im = _trace_grads(a)
    assert_close(g_re, np.eye(n), 1e-12)
    assert_close(g_re2, np.eye(n), 1e-12)
    # Im tr A: zero for real input; for complex input ∂/∂Im a_jj = 1, returned conjugated
    assert_close(g_im, -1j * np.eye(n) if np.iscomplexobj(a) else np.zeros((n, n)), 1e-12)


def test_defective_jordan_block_is_nan():
    e = rand((2, 2), 20)
    assert np.all(np.isnan(np.asarray(jgrad(lambda x: jnp.real(eigvals(x)[0]))(JORDAN))))
    assert np.all(np.isnan(np.asarray(jgrad(lambda x: jnp.real(eig(x).eigenvalues[1]))(JORDAN))))
    assert np.all(np.isnan(np.asarray(jgrad(lambda x: jnp.real(eig(x).eigenvectors[1, 0]))(JORDAN))))
    _, dw = eigvals_jvp(JORDAN, e)
    assert np.all(np.isnan(np.asarray(dw)))
    _, (dw, dv) = eig_jvp(JORDAN, e)
    assert np.all(np.isnan(np.asarray(dw)))
    assert np.all(np.isnan(np.asarray(dv)))


def _split_block(a, centre, size, radius, seed, rtol):
    """A defective block around `centre` split by rounding: its `size` eigenvalues (within
    `radius`) have NaN derivatives; the one simple eigenvalue's dλ matches mpmath."""
    n = a.shape[0]
    w = np.asarray(eig(a).eigenvalues)
    cluster = np.abs(w - centre) < radius
    assert cluster.sum() == size
    e = rand((n, n), seed)
    _, (dw, dv) = eig_jvp(a, e)
    dw, dv = np.asarray(dw), np.asarray(dv)
    assert np.all(np.isnan(dw[cluster])) and np.all(np.isnan(dv[:, cluster]))
    (k,) = np.flatnonzero(~cluster)
    ref = directional_derivative(mp_loss(loss_eig, w, (k,)), a, e)
    assert_close(dw[k], ref[k] + 1j * ref[n + k], rtol)
    return w[cluster], dv[:, k], ref[2 * n : 3 * n] + 1j * ref[3 * n :]


def test_defective_block_split_by_rounding_is_nan_simple_eigenvalue_exact():
    # The eigenvalue 5 is simple and well conditioned (an accurate rule, e.g. scipy's
    # left eigenvectors yᴴ E x / yᴴ x, gets 1e-15 here), so its derivatives must not
    # inherit the ill-conditioning (cond(V) ≈ 6e7) of the near-defective pair.
    _, dv_k, ref_v = _split_block(A_JORDAN3, 2.0, 2, 1e-4, 21, 1e-10)
    assert_close(dv_k, ref_v, 1e-10)


def test_jordan_block_of_size_three_split_by_rounding_far_beyond_the_tie_tolerance():
    # J₃(2) ⊕ 5 in a random basis: rounding splits the block by ~ε^(1/3) (1e-5 here), far
    # beyond tie_rtol, into three "simple" eigenvalues whose derivatives were ~1/gap
    # (the gradient of Σλ = tr A came out ±5.6e3, not I): they are NaN now, and the
    # eigenvalue 5 stays exact.
    j3 = np.array([[2.0, 1, 0, 0], [0, 2, 1, 0], [0, 0, 2, 0], [0, 0, 0, 5]])
    w, _, _ = _split_block(similar(j3, 6)[0], 2.0, 3, 1e-3, 23, 1e-9)
    assert np.min(np.abs(w[:, None] - w[None])[~np.eye(3, dtype=bool)]) > 1e-7


def test_simple_eigenvalues_are_not_taken_for_a_split_jordan_block():
    # Found by an outside probe: a rounding estimate κᵢ·ε·n·max|aᵢⱼ| ignored geev's
    # balancing and made ordinary simple eigenvalues NaN. (1) The roots 1..8 of a
    # polynomial through its companion matrix, float64: computed to 1e-11 at gaps of 1,
    # rows 5–8 of the Jacobian in the coefficients were NaN; closed form
    # dλⱼ/dc_k = −λⱼᵏ / p′(λⱼ) (implicit differentiation of p(λ) = 0).
    n = 8
    roots = np.arange(1.0, n + 1)
    coeffs = np.poly(roots)

    def companion(c):  # c[k] multiplies x^k
        return jnp.concatenate([-c[::-1][None, :], jnp.eye(n - 1, n, dtype=c.dtype)], axis=0)

    jac = np.asarray(jax.jit(jax.jacfwd(lambda c: jnp.sort(eigvals(companion(c)).real)))(jnp.asarray(coeffs[1:][::-1])))
    dp = np.polyder(np.poly1d(coeffs))
    ref = np.array([[-r**k / dp(r) for k in range(n)] for r in roots])
    assert np.max(np.linalg.norm(jac - ref, axis=1) / np.linalg.norm(ref, axis=1)) <= 1e-10
    # (2) float32, a 50×50 Gaussian matrix: two eigenvalues with κ ≈ 17 at gap 0.16 made
    # the whole gradient of Σ|λ| NaN. Reference: dλ = yᴴ dA x / yᴴx from scipy's left
    # and right eigenvectors in float64.
    a = np.random.default_rng(0).standard_normal((50, 50)).astype(np.float32)
    grad = np.asarray(jax.jit(jax.grad(lambda m: jnp.sum(jnp.abs(eigvals(m)))))(jnp.asarray(a)))
    w, vl, vr = scipy.linalg.eig(a.astype(np.float64), left=True, right=True)
    ref = sum(
        np.real(np.conj(w[i]) / abs(w[i]) * np.outer(vl[:, i].conj(), vr[:, i]) / (vl[:, i].conj() @ vr[:, i]))
        for i in range(50)
    )
    assert np.abs(grad - ref).max() <= 1e-3 * np.abs(ref).max()


def test_simple_eigenpair_next_to_exact_jordan_block():
    # diag(J₂(2), 5): the pair at 2 is defective (NaN), the eigenvalue 5 is simple with
    # x = y = e₃. Closed forms: dλ = E₂₂; dv = -(A₁₁ - 5)⁻¹ E[:2, 2] on the first two
    # rows with (A₁₁ - 5)⁻¹ = [[-1/3, -1/9], [0, -1/3]], i.e. dv = (E₀₂/3 + E₁₂/9, E₁₂/3, 0)
    # (the normalisation terms vanish because v = e₃).
    a = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 5.0]])
    e = rand((3, 3), 22)
    (w, v), (dw, dv) = eig_jvp(a, e)
    w, dw, dv = np.asarray(w), np.asarray(dw), np.asarray(dv)
    (k,) = np.flatnonzero(np.abs(w - 5) < 1e-12)
    cluster = np.abs(w - 2) < 1e-12
    assert np.all(np.isnan(dw[cluster])) and np.all(np.isnan(dv[:, cluster]))
    closed = np.array([e[0, 2] / 3 + e[1, 2] / 9, e[1, 2] / 3, 0.0])
    ref = directional_derivative(mp_loss(loss_eig, w, (int(k),)), a, e)
    assert_close(ref[6:9] + 1j * ref[9:], closed, 1e-12)  # the two references agree
    assert_close(dw[k], e[2, 2], 1e-13)
    assert_close(dv[:, k], closed, 1e-10)


def _cluster_cols():
    w = np.asarray(eig(A_SEMI).eigenvalues)
    cols = tuple(int(i) for i in np.flatnonzero(np.abs(w - 2) < 1e-6))
    assert len(cols) == 2
    return w, cols


def test_semisimple_tie_sum_and_projector_jvp():
    a = A_SEMI
    w, cols = _cluster_cols()
    sinv = np.linalg.inv(S_SEMI)
    for seed in (30, 31):
        e = rand((3, 3), seed)
        # closed form: d(λ₁ + λ₂) = trace of the cluster block of S⁻¹ E S
        closed = np.trace((sinv @ e @ S_SEMI)[:2, :2])
        _, dw = eigvals_jvp(a, e)
        dw = np.asarray(dw)
        assert np.all(np.isfinite(dw))
        assert abs(dw[cols[0]] + dw[cols[1]] - closed) <= 1e-10
        ref = directional_derivative(mp_loss(loss_cluster, w, cols), a, e)
        assert abs(ref[-2] + 1j * ref[-1] - closed) <= 1e-10  # the two references agree
        assert_close(_loss_jvp_fn(loss_cluster, cols)(a, e), ref)
        _, (dw2, dv) = eig_jvp(a, e)
        assert np.all(np.isfinite(np.asarray(dw2))) and np.all(np.isfinite(np.asarray(dv)))
        # the simple eigenvalue 5 is exact on its own
        (k,) = set(range(3)) - set(cols)
        ref_k = directional_derivative(mp_loss(loss_eig, w, (k,)), a, e)
        assert_close(np.asarray(dw2)[k], ref_k[k] + 1j * ref_k[3 + k])


def test_semisimple_tie_grad():
    a = A_SEMI
    w, cols = _cluster_cols()
    weights = rand(2 * 9 + 2, 32)
    ref = gradient(mp_scalar(loss_cluster, w, weights, cols), a)
    assert_close(_loss_grad_fn(loss_cluster, cols)(a, weights), ref)
    sinv = np.linalg.inv(S_SEMI)
    g = jgrad(lambda x: jnp.real(eigvals(x)[cols[0]] + eigvals(x)[cols[1]]))(a)
    # d(λ₁+λ₂)/dA = (S[:, :2] S⁻¹[:2, :])ᵀ
    assert_close(g, (S_SEMI[:, :2] @ sinv[:2, :]).T, 1e-10)


# ---------------------------------------------------------------------------------------
# 12. Batching, vmap, jit, float32.


def test_batched_jit_and_vmap():
    a = np.stack([A_REAL, A_PAIR])
    e = np.stack([rand((3, 3), 40), rand((3, 3), 41)])
    (w, _), (dw, dv) = eig_jvp(a, e)
    (w2, _), (dw2, dv2) = jax.jit(jax.vmap(lambda x, y: jax.jvp(lambda z: tuple(eig(z)), (x,), (y,))))(a, e)
    for b in range(2):
        ref = directional_derivative(mp_loss(loss_eig, np.asarray(w[b])), a[b], e[b])
        assert_close(dw[b], ref[:3] + 1j * ref[3:6])
        assert_close(dv[b], (ref[6:15] + 1j * ref[15:]).reshape(3, 3))
        assert_close(dw2[b], ref[:3] + 1j * ref[3:6])
        assert_close(dv2[b], (ref[6:15] + 1j * ref[15:]).reshape(3, 3))
    # closed form for the eigenvalues: dλ = yᴴ E x / yᴴ x (left/right eigenvectors, scipy)
    for b in range(2):
        lam, yl, xr = scipy.linalg.eig(a[b], left=True)
        for i in range(3):
            j = int(np.argmin(np.abs(np.asarray(w[b]) - lam[i])))
            expect = (yl[:, i].conj() @ e[b] @ xr[:, i]) / (yl[:, i].conj() @ xr[:, i])
            assert abs(dw[b][j] - expect) <= 1e-10


def test_batched_grad_with_a_defective_member():
    # NaN stays in the defective batch member.
    a = np.stack([A_REAL, np.pad(JORDAN, ((0, 1), (0, 1))) + np.diag([0.0, 0.0, 4.0])])
    g = jgrad(lambda x: jnp.sum(jnp.real(eigvals(x))[..., :2]))(a)
    assert np.all(np.isnan(np.asarray(g[1])))
    w = np.asarray(eigvals(A_REAL))
    weights = np.array([1.0, 1.0, 0.0, 0, 0, 0])
    assert_close(g[0], gradient(mp_scalar(loss_eig, w, weights, ()), A_REAL))


def test_float32():
    a32 = A_REAL.astype(np.float32)
    a64 = a32.astype(np.float64)
    e = rand((3, 3), 50)
    (w, v), (dw, dv) = eig_jvp(a32, e.astype(np.float32))
    assert {x.dtype for x in (w, v, dw, dv)} == {jnp.dtype(jnp.complex64)}
    ref = directional_derivative(mp_loss(loss_eig, np.asarray(w)), a64, e)
    scale = np.max(np.abs(ref))
    got = np.concatenate([dw.real, dw.imag, dv.real.ravel(), dv.imag.ravel()])
    assert np.max(np.abs(got - ref)) <= 1e-4 * scale
    g = jgrad(lambda x: jnp.sum(jnp.real(eigvals(x)) * jnp.arange(1.0, 4.0, dtype=jnp.float32)))(a32)
    assert g.dtype == jnp.float32
    weights = np.array([1.0, 2.0, 3.0, 0, 0, 0])
    gref = gradient(mp_scalar(loss_eig, np.asarray(w), weights, ()), a64)
    assert np.max(np.abs(np.asarray(g) - gref)) <= 1e-4 * np.max(np.abs(gref))


def test_jit_matches_eager():
    def loss(x):
        w, v = eig(x)
        return jnp.sum(jnp.real(w) * jnp.arange(3.0)) + jnp.imag(v[1, 0]) + jnp.real(v[2, 2])

    vg_eager = jax.value_and_grad(loss)(A_PAIR)
    vg_jit = jax.jit(jax.value_and_grad(loss))(A_PAIR)
    for x, y in zip(vg_jit, vg_eager):
        assert_close(x, y, 1e-12)


@pytest.mark.parametrize("dtype, scale", [(jnp.float64, 1e150), (jnp.float64, 1e-150), (jnp.float32, 1e15), (jnp.float32, 1e-15)])
def test_far_from_unit_scale(dtype, scale):
    # LAPACK's geev returned wrong eigenvalues, with no error, for such entries (at
    # 1e150 in float64, 10^150·(−1.4e-13, 2.0e-12)); eigenvalues are homogeneous of
    # degree one, so the closed form (5 ± √33)/2 of [[1, 2], [3, 4]] scales.
    a = jnp.asarray(scale * np.array([[1.0, 2.0], [3.0, 4.0]]), dtype)
    exact = scale * np.array([(5 - np.sqrt(33)) / 2, (5 + np.sqrt(33)) / 2])
    rtol = 1e-13 if dtype == jnp.float64 else 1e-5
    np.testing.assert_allclose(np.sort(np.asarray(eigvals(a)).real), exact, rtol=rtol)
    w, v = eig(a)
    np.testing.assert_allclose(np.sort(np.asarray(w).real), exact, rtol=rtol)
    residual = np.asarray(a, np.float64) @ np.asarray(v) - np.asarray(v) * np.asarray(w)
    assert np.linalg.norm(residual) <= 10 * rtol * np.linalg.norm(np.asarray(a, np.float64))
