"""jaxgrad.linalg.svd / svdvals: derivatives against mpmath references and closed forms.

Every derivative is compared with an independent reference: central differences of an
mpmath SVD at 40 digits (tests/reference.py), or a closed form (A/‖A‖_F, the polar
factor, the tangent itself). A loss is written once, generically over a tiny namespace
(`JX` for jax.numpy, `MX` for numpy object arrays of mpmath numbers), so the jax loss
and its reference cannot drift apart.

Compile time dominates: every derivative is jitted once per loss and shape
(`_loss_jvp_fn`, `_loss_grad_fn`, `svd_jvp`, ...); eager mode is used only in the
jit-vs-eager test.
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

from jaxgrad.linalg import svd, svdvals
from reference import (
    assert_close,
    complex_gradient,
    directional_derivative,
    gradient,
    mp_svd,
    rand,
    rotation,
    to_object,
)

# ---------------------------------------------------------------------------------------
# Generic losses: written once, evaluated in jax and in mpmath.

JX = SimpleNamespace(
    re=jnp.real,
    im=jnp.imag,
    conj=jnp.conj,
    cat=jnp.concatenate,
    outer=jnp.outer,
    const=lambda x, like: jnp.asarray(x, dtype=jnp.finfo(like.dtype).dtype),
    eye=jnp.eye,
    vec=lambda x: jnp.reshape(x, (1,)),
)
MX = SimpleNamespace(
    re=np.vectorize(mp.re, otypes=[object]),
    im=np.vectorize(mp.im, otypes=[object]),
    conj=np.conj,
    cat=np.concatenate,
    outer=np.outer,
    const=lambda x, like: np.array(x, dtype=object),
    eye=lambda n: np.eye(n, dtype=object),
    vec=lambda x: np.array([x], dtype=object).reshape(1),
)

C_VEC = [1.0, -0.5, 0.25, 2.0, -1.5]


def loss_vectors(u, s, vh, xp, idx=None):
    """Sign/phase-invariant functions of the thin SVD: s, uᵢuᵢᴴ, vᵢvᵢᴴ, uᵢvᵢᴴ, |uᵢᴴc|²."""
    k = s.shape[0]
    cols = np.arange(k) if idx is None else np.array(idx)
    u, v = u[:, cols], xp.conj(vh[cols, :]).T
    c = xp.const(C_VEC[: u.shape[0]], u)
    t = xp.conj(u).T @ c
    outs = [xp.re(s[cols])]
    for left, right in ((u, u), (v, v), (u, v)):
        block = left[:, None, :] * xp.conj(right)[None, :, :]
        outs += [xp.re(block).ravel(), xp.im(block).ravel()]
    outs.append(xp.re(t * xp.conj(t)))
    return xp.cat(outs)


def loss_tied_cluster(u, s, vh, xp):
    """For s = (3, 2, 2, 1): projectors onto the tied pair's left/right subspaces, s₁ + s₂,
    the simple singular values and triplets. Invariant to any basis of the tied pair."""
    v = xp.conj(vh).T
    uc, vc = u[:, 1:3], v[:, 1:3]
    pu = uc @ xp.conj(uc).T
    pv = vc @ xp.conj(vc).T
    simple = [
        xp.outer(u[:, 0], xp.conj(u[:, 0])).ravel(),
        xp.outer(u[:, 3], xp.conj(v[:, 3])).ravel(),
        xp.outer(v[:, 0], xp.conj(v[:, 0])).ravel(),
    ]
    sums = xp.cat([xp.vec(s[1] + s[2]), xp.vec(s[0]), xp.vec(s[3])])
    return xp.re(xp.cat([pu.ravel(), pv.ravel(), sums, *simple]))


def loss_u01(u, s, vh, xp):
    """|U[0, 1]|² -- invariant to the phase of u₁."""
    z = u[0, 1]
    return xp.re(xp.vec(z * xp.conj(z)))


def mp_loss(loss, hermitian_input=False, **kw):
    """``loss`` evaluated on the mpmath SVD of an mpmath matrix, as a flat list."""

    def f(a):
        if hermitian_input:
            a = (a + a.H) / 2
        u, s, vh = mp_svd(a)
        return list(loss(to_object(u), np.array(s, dtype=object), to_object(vh), MX, **kw).ravel())

    return f


def mp_scalar(loss, weights, **kw):
    w = [float(x) for x in weights]
    f = mp_loss(loss, **kw)
    return lambda a: [mp.fsum(wi * yi for wi, yi in zip(w, f(a)))]


# ---------------------------------------------------------------------------------------
# Shared jitted derivatives of the decomposition.


def _triplet(a, full):
    """``full``: False (thin), True (full_matrices) or "hermitian"."""
    u, s, vh = svd(a, hermitian=True) if full == "hermitian" else svd(a, full_matrices=full)
    return u, s, vh


def jgrad(f):
    return jax.jit(jax.grad(f))


def n_vectors(shape):
    """Length of ``loss_vectors`` for a matrix of this shape."""
    m, n = shape
    k = min(m, n)
    return k + k * (2 * (m * m + n * n + m * n) + 1)


@functools.partial(jax.jit, static_argnums=2)
def svd_jvp(a, e, full=False):
    return jax.jvp(lambda x: _triplet(x, full), (a,), (e,))


@jax.jit
def svdvals_jvp(a, e):
    return jax.jvp(svdvals, (a,), (e,))


@jax.jit
def svdvals_vjp(a, ct):
    return jax.vjp(svdvals, a)[1](ct)[0]


@functools.cache
def _loss_jvp_fn(loss, full, idx):
    kw = {} if idx is None else {"idx": idx}
    return jax.jit(lambda a, e: jax.jvp(lambda x: loss(*_triplet(x, full), JX, **kw), (a,), (e,))[1])


@functools.cache
def _loss_grad_fn(loss, full, idx):
    kw = {} if idx is None else {"idx": idx}
    return jax.jit(jax.grad(lambda a, w: jnp.sum(w * loss(*_triplet(a, full), JX, **kw))))


def loss_jvp(loss, a, e, full=False, idx=None):
    return np.asarray(_loss_jvp_fn(loss, full, idx)(a, e))


def loss_grad(loss, a, weights, full=False, idx=None):
    """Gradient of ``sum(weights * loss(svd(a)))`` by jax.grad (jitted once per loss)."""
    return np.asarray(_loss_grad_fn(loss, full, idx)(a, jnp.asarray(weights)))


def reconstruction_jvp(a, e, full=False):
    (u, s, vh), (du, ds, dvh) = svd_jvp(a, e, full)
    k = s.shape[-1]
    u, du, vh, dvh = u[:, :k], du[:, :k], vh[:k], dvh[:k]
    return np.asarray((du * s) @ vh + (u * ds) @ vh + (u * s) @ dvh)


def tied_diag4():
    return np.diag([1.0, 1.0, 2.0, 3.0])


def rotated_tie():
    """U diag(3, 2, 2, 1) Vᵀ in float64: the tied pair is split by rounding only."""
    return (rotation(4, 11) * np.array([3.0, 2.0, 2.0, 1.0])) @ rotation(4, 12).T


# ---------------------------------------------------------------------------------------
# 1. Norms at ties: closed forms.


@jax.jit
def _frobenius_derivatives(a, e):
    g_vals = jax.grad(lambda x: jnp.linalg.norm(svdvals(x)))(a)
    g_full = jax.grad(lambda x: jnp.linalg.norm(svd(x, full_matrices=False).S))(a)
    d = jax.jvp(lambda y: jnp.linalg.norm(svd(y).S), (a,), (e,))[1]
    return g_vals, g_full, d


@pytest.mark.parametrize("a", [np.eye(3), tied_diag4()], ids=["I3", "diag1123"])
def test_frobenius_norm_gradient_at_ties(a):
    expected = a / np.linalg.norm(a)
    e = rand(a.shape, 1)
    g_vals, g_full, d = _frobenius_derivatives(a, e)
    assert_close(g_vals, expected, 1e-13)
    assert_close(g_full, expected, 1e-13)
    assert_close(d, np.sum(expected * e), 1e-13)


@pytest.mark.parametrize(
    "a",
    [rand((3, 3), 2), rand((4, 3), 3), tied_diag4(), rotated_tie()],
    ids=["rand3x3", "rand4x3", "diag1123", "rotated_tie"],
)
def test_nuclear_norm_gradient_is_polar_factor(a):
    polar, _ = scipy.linalg.polar(a)  # a = polar @ p, polar has orthonormal columns
    g = svdvals_vjp(a, jnp.ones(min(a.shape)))
    assert_close(g, polar, 1e-12)
    g2 = loss_grad(lambda u, s, vh, xp: s, a, np.ones(min(a.shape)))
    assert_close(g2, polar, 1e-12)


# ---------------------------------------------------------------------------------------
# 2. The tangent of U diag(s) Vh.


@pytest.mark.parametrize("a", [np.eye(3), tied_diag4()], ids=["I3", "diag1123"])
def test_reconstruction_jvp_exact_for_skew_plus_diagonal(a):
    x = rand(a.shape, 4)
    e = (x - x.T) / 2 + np.diag(rand(a.shape[0], 5))
    assert_close(reconstruction_jvp(a, e), e, 1e-13)
    assert_close(reconstruction_jvp(a, e, True), e, 1e-13)


@pytest.mark.parametrize("shape", [(4, 4), (4, 3), (3, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_reconstruction_jvp_generic_at_distinct(shape, full):
    a, e = rand(shape, 6), rand(shape, 7)
    assert_close(reconstruction_jvp(a, e, full), e, 1e-11)


def _lost_part(a, e):
    """U (offdiag Hermitian part of Uᴴ E V inside tied clusters) Vᴴ, in the computed basis."""
    u, s, vh = (np.asarray(x) for x in svd_jvp(a, np.zeros_like(a))[0])
    k = s.size
    u, vh = u[:, :k], vh[:k]
    p = u.conj().T @ e @ vh.conj().T
    h = (p + p.conj().T) / 2
    tied = np.abs(s[:, None] - s[None, :]) <= np.sqrt(np.finfo(float).eps) * s.max()
    mask = tied & ~np.eye(k, dtype=bool)
    return u @ (h * mask) @ vh


@pytest.mark.parametrize(
    "a, cplx",
    [(np.eye(3), False), (tied_diag4(), False), (rotated_tie(), False), (np.eye(3, dtype=complex), True)],
    ids=["I3", "diag1123", "rotated_tie", "I3_complex"],
)
def test_reconstruction_jvp_loses_exactly_intra_cluster_hermitian_part(a, cplx):
    e = rand(a.shape, 8, cplx)
    lost = _lost_part(a, e)
    assert np.linalg.norm(lost) > 0.1  # the test sees a real loss
    diff = reconstruction_jvp(a, e) - e
    assert np.max(np.abs(diff + lost)) <= 1e-12


def test_reconstruction_loss_at_diag_tie_is_the_tied_block():
    # At diag(1, 1, 2, 3) the tied block is rows/cols {0, 1} of E itself.
    a, e = tied_diag4(), rand((4, 4), 9)
    expected = e.copy()
    sym01 = (e[0, 1] + e[1, 0]) / 2
    expected[0, 1] -= sym01
    expected[1, 0] -= sym01
    assert_close(reconstruction_jvp(a, e), expected, 1e-13)


# ---------------------------------------------------------------------------------------
# 3. Distinct singular values, real: singular vectors and values vs mpmath.


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (4, 4)])
def test_real_distinct_jvp(shape):
    a = rand(shape, 10)
    for seed in (11, 12):
        e = rand(shape, seed)
        ref = directional_derivative(mp_loss(loss_vectors), a, e)
        assert_close(loss_jvp(loss_vectors, a, e), ref)
        if shape[0] != shape[1]:
            assert_close(loss_jvp(loss_vectors, a, e, full=True), ref)
        _, ds = svdvals_jvp(a, e)
        assert_close(ds, ref[: min(shape)])


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (4, 4)])
def test_real_distinct_grad(shape):
    a = rand(shape, 10)
    k = min(shape)
    w = rand(n_vectors(shape), 13)
    ref = gradient(mp_scalar(loss_vectors, w), a)
    assert_close(loss_grad(loss_vectors, a, w), ref)
    if shape[0] != shape[1]:
        assert_close(loss_grad(loss_vectors, a, w, full=True), ref)
    ref_s = gradient(mp_scalar(lambda u, s, vh, xp: s, w[:k]), a)
    assert_close(svdvals_vjp(a, w[:k]), ref_s)
    direct = jgrad(lambda x: jnp.sum(w[:k] * svdvals(x)))(a)
    assert_close(direct, ref_s)


def _complement_projectors_jax(u, s, vh, xp):
    k = s.shape[0]
    up, vp = u[:, k:], xp.conj(vh[k:, :]).T
    out = xp.cat([(up @ xp.conj(up).T).ravel(), (vp @ xp.conj(vp).T).ravel()])
    return xp.cat([xp.re(out), xp.im(out)])


def _complement_projectors_mp(u, s, vh, xp):
    v = xp.conj(vh).T
    pu = xp.eye(u.shape[0]) - u @ xp.conj(u).T
    pv = xp.eye(v.shape[0]) - v @ xp.conj(v).T
    out = xp.cat([pu.ravel(), pv.ravel()])
    return xp.cat([xp.re(out), xp.im(out)])


@pytest.mark.parametrize("shape, cplx", [((4, 3), False), ((3, 4), False), ((4, 3), True)], ids=["4x3", "3x4", "4x3c"])
def test_full_matrices_complement(shape, cplx):
    a = rand(shape, 14, cplx)
    e = rand(shape, 15, cplx)
    ref = directional_derivative(mp_loss(_complement_projectors_mp), a, e)
    assert_close(loss_jvp(_complement_projectors_jax, a, e, full=True), ref)
    w = rand(ref.shape, 16)
    if cplx:
        gref = np.conj(complex_gradient(mp_scalar(_complement_projectors_mp, w), a))
    else:
        gref = gradient(mp_scalar(_complement_projectors_mp, w), a)
    assert_close(loss_grad(_complement_projectors_jax, a, w, full=True), gref)
    # dU, dV keep U, V unitary.
    (u, _, vh), (du, _, dvh) = svd_jvp(a, e, True)
    for q, dq in ((np.asarray(u), np.asarray(du)), (np.asarray(vh).conj().T, np.asarray(dvh).conj().T)):
        x = q.conj().T @ dq
        assert np.max(np.abs(x + x.conj().T)) <= 1e-12
        assert np.max(np.abs(x)) > 0.1  # not trivially zero
    if cplx:  # the thin triplets too, thin and full
        ref_v = directional_derivative(mp_loss(loss_vectors), a, e)
        assert_close(loss_jvp(loss_vectors, a, e), ref_v)
        assert_close(loss_jvp(loss_vectors, a, e, full=True), ref_v)


def test_full_matrices_extra_columns_do_not_rotate_among_themselves():
    # Documented choice: U_⊥ᵀ dU_⊥ = 0 (two extra columns, so the block is 2x2).
    a, e = rand((5, 3), 17), rand((5, 3), 18)
    (u, _, vh), (du, _, dvh) = svd_jvp(a, e, True)
    u, du = np.asarray(u), np.asarray(du)
    assert np.max(np.abs(u[:, 3:].T @ du[:, 3:])) <= 1e-12
    x = u.T @ du
    assert np.max(np.abs(x + x.T)) <= 1e-12
    ref = directional_derivative(mp_loss(_complement_projectors_mp), a, e)
    assert_close(loss_jvp(_complement_projectors_jax, a, e, full=True), ref)


# ---------------------------------------------------------------------------------------
# 4. Ties split only by rounding.


def test_tied_pair_subspaces_jvp_and_grad():
    a = rotated_tie()
    s = np.linalg.svd(a, compute_uv=False)
    assert abs(s[1] - s[2]) < 1e-14  # a tie up to rounding
    for seed in (20, 21):
        e = rand((4, 4), seed)
        ref = directional_derivative(mp_loss(loss_tied_cluster), a, e)
        assert_close(loss_jvp(loss_tied_cluster, a, e), ref)
    w = rand(ref.shape, 22)
    gref = gradient(mp_scalar(loss_tied_cluster, w), a)
    assert_close(loss_grad(loss_tied_cluster, a, w), gref)
    # the sum of the tied pair alone, through svdvals
    gsum = gradient(mp_scalar(lambda u, s, vh, xp: s[1:3], [1.0, 1.0]), a)
    assert_close(svdvals_vjp(a, jnp.array([0.0, 1.0, 1.0, 0.0])), gsum)


def test_tied_pair_single_vector_grad_is_nan():
    # u₁u₁ᵀ depends on the basis inside the tied pair: reverse mode refuses.
    g = jgrad(lambda x: svd(x)[0][0, 1] ** 2)(rotated_tie())
    assert np.all(np.isnan(g))
    # ... while the same loss on a simple triplet is finite.
    g0 = jgrad(lambda x: svd(x)[0][0, 0] ** 2)(rotated_tie())
    assert np.all(np.isfinite(g0))


# ---------------------------------------------------------------------------------------
# 5. Complex input.


def test_complex_jvp():
    a = rand((3, 3), 30, True)
    for seed in (31, 32):
        e = rand((3, 3), seed, True)
        ref = directional_derivative(mp_loss(loss_vectors), a, e)
        assert_close(loss_jvp(loss_vectors, a, e), ref)
        _, ds = svdvals_jvp(a, e)
        assert_close(ds, ref[:3])


def test_complex_grad():
    # jax.grad of a real loss of a complex input returns conj(∂L/∂Re a + i ∂L/∂Im a).
    a = rand((3, 3), 30, True)
    w = rand(n_vectors((3, 3)), 33)
    ref = complex_gradient(mp_scalar(loss_vectors, w), a)
    assert_close(loss_grad(loss_vectors, a, w), np.conj(ref))
    ref01 = complex_gradient(mp_loss(loss_u01), a)
    g01 = jgrad(lambda x: jnp.abs(svd(x)[0][0, 1]) ** 2)(a)
    assert_close(g01, np.conj(ref01))
    gs = jgrad(lambda x: jnp.sum(jnp.arange(1.0, 4.0) * svdvals(x)))(a)
    ref_s = complex_gradient(mp_scalar(lambda u, s, vh, xp: s, [1.0, 2.0, 3.0]), a)
    assert_close(gs, np.conj(ref_s))


@pytest.mark.parametrize("which", ["U00", "Vh01"])
def test_complex_phase_dependent_grad_is_nan(which):
    a = rand((3, 3), 30, True)

    def loss(x):
        u, _, vh = svd(x)
        return jnp.real(u[0, 0]) if which == "U00" else jnp.imag(vh[0, 1])

    assert np.all(np.isnan(jgrad(loss)(a)))


# ---------------------------------------------------------------------------------------
# 6. Zero singular values.


def _rank2(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(shape[0], 2)) @ rng.normal(size=(2, shape[1]))


@pytest.mark.parametrize("shape", [(3, 3), (4, 3)])
def test_rank_deficient(shape):
    a, e = _rank2(shape, 40), rand(shape, 41)
    (u, s, vh), tangents = svd_jvp(a, e, True)
    assert float(s[-1]) < 1e-14
    for x in (u, s, vh, *tangents):
        assert np.all(np.isfinite(np.asarray(x)))
    assert np.all(np.isfinite(svdvals_vjp(a, jnp.ones(3))))
    assert np.all(np.isfinite(loss_grad(loss_vectors, a, rand(n_vectors(shape), 42))))
    # the nonzero singular values and their triplets are smooth
    ref = directional_derivative(mp_loss(loss_vectors, idx=(0, 1)), a, e)
    assert_close(loss_jvp(loss_vectors, a, e, idx=(0, 1)), ref)
    gref = gradient(mp_scalar(lambda u, s, vh, xp: s[:2], [1.0, -2.0]), a)
    assert_close(svdvals_vjp(a, jnp.array([1.0, -2.0, 0.0])), gref)
    g = jgrad(lambda x: jnp.dot(svd(x, full_matrices=False).S, jnp.array([1.0, -2.0, 0.0])))(a)
    assert_close(g, gref)


# ---------------------------------------------------------------------------------------
# 7. hermitian=True.


def _sym_dir(n, seed):
    x = rand((n, n), seed)
    return (x + x.T) / 2


@pytest.mark.parametrize("eigs", [(-3.0, 1.0, 2.0), (-2.0, 2.0, 1.0)], ids=["distinct", "abs_tie"])
def test_hermitian_values_and_nuclear_norm(eigs):
    a = (rotation(3, 50) * np.array(eigs)) @ rotation(3, 50).T
    u, s, vh = svd(a, hermitian=True)
    assert_close(s, jnp.linalg.svd(a, hermitian=True, compute_uv=False), 1e-13)
    assert_close(s, np.linalg.svd(a, compute_uv=False), 1e-13)
    assert_close((np.asarray(u) * np.asarray(s)) @ np.asarray(vh), a, 1e-13)
    nuc = mp_loss(lambda u, s, vh, xp: s, hermitian_input=True)
    ref = gradient(lambda m: [mp.fsum(nuc(m))], a, hermitian=True)
    g = jgrad(lambda x: jnp.sum(svd(x, hermitian=True, compute_uv=False)))(a)
    assert_close(g, ref)
    g2 = jgrad(lambda x: jnp.sum(svd(x, hermitian=True).S))(a)
    assert_close(g2, ref)


def test_hermitian_vectors_jvp():
    a = (rotation(3, 51) * np.array([-3.0, 1.0, 2.0])) @ rotation(3, 51).T
    e = _sym_dir(3, 52)
    ref = directional_derivative(mp_loss(loss_vectors), a, e)
    assert_close(loss_jvp(loss_vectors, a, e, full="hermitian"), ref)
    w = rand(ref.shape, 53)
    ref_g = gradient(mp_scalar(loss_vectors, w, hermitian_input=True), a, hermitian=True)
    assert_close(loss_grad(loss_vectors, a, w, full="hermitian"), ref_g)


# ---------------------------------------------------------------------------------------
# 8. Batching, vmap, float32, jit.


def test_batched_norm_gradients_closed_form():
    mats = np.stack([rand((3, 3), 60), np.diag([1.0, 1.0, 2.0]), 1e-3 * rand((3, 3), 61), np.eye(3)])
    a = mats.reshape(2, 2, 3, 3)
    g_frob = jgrad(lambda x: jnp.sum(jnp.linalg.norm(svdvals(x), axis=-1)))(a)
    g_nuc = jgrad(lambda x: jnp.sum(svd(x, full_matrices=False).S))(a)
    for idx in np.ndindex(2, 2):
        assert_close(g_frob[idx], a[idx] / np.linalg.norm(a[idx]), 1e-12)
        assert_close(g_nuc[idx], scipy.linalg.polar(a[idx])[0], 1e-10)


def test_batched_and_vmapped_reconstruction_per_matrix_ties():
    # Tie tolerance is per matrix: a big tied matrix must not make the tiny distinct
    # matrix's singular values count as tied.
    big = 1e3 * (rotation(3, 62) * np.array([3.0, 2.0, 2.0])) @ rotation(3, 63).T
    small = 1e-6 * rand((3, 3), 64)
    a = np.stack([big, small])
    e = np.stack([rand((3, 3), 65), 1e-6 * rand((3, 3), 66)])
    expected = e - np.stack([_lost_part(big, e[0]), _lost_part(small, e[1])])
    assert np.linalg.norm(_lost_part(small, e[1])) == 0

    def recon(x, dx):
        (u, s, vh), (du, ds, dvh) = jax.jvp(lambda y: tuple(svd(y)), (x,), (dx,))
        return (du * s[..., None, :]) @ vh + (u * ds[..., None, :]) @ vh + (u * s[..., None, :]) @ dvh

    batched = np.asarray(jax.jit(recon)(a, e))
    vmapped = np.asarray(jax.vmap(recon)(a, e))
    for got in (batched, vmapped):
        assert np.max(np.abs(got[0] - expected[0])) <= 1e-9
        assert np.max(np.abs(got[1] - expected[1])) <= 1e-9 * 1e-6 * 10


def test_vmap_matches_batched_values():
    a = np.stack([rand((4, 3), 67), rand((4, 3), 68)])
    batched = jax.jit(svd)(a)
    vmapped = jax.jit(jax.vmap(svd))(a)
    for x, y in zip(batched, vmapped):
        assert_close(x, y, 1e-13)
    assert_close(batched.S[1], np.linalg.svd(a[1], compute_uv=False), 1e-13)


def test_float32():
    a32 = rand((3, 3), 70).astype(np.float32)
    e = rand((3, 3), 71)
    a64 = a32.astype(np.float64)
    (u, s, vh), (du, ds, dvh) = svd_jvp(a32, e.astype(np.float32), True)
    assert {x.dtype for x in (u, s, vh, du, ds, dvh)} == {jnp.dtype(jnp.float32)}
    ref = directional_derivative(mp_loss(loss_vectors), a64, e)
    got = _loss_jvp_fn(loss_vectors, True, None)(a32, e.astype(np.float32))
    assert got.dtype == jnp.float32
    assert_close(got, ref, 1e-4)
    w = rand(ref.shape, 72)
    gref = gradient(mp_scalar(loss_vectors, w), a64)
    g = _loss_grad_fn(loss_vectors, True, None)(a32, w.astype(np.float32))
    assert g.dtype == jnp.float32
    assert_close(g, gref, 1e-4)


def test_jit_matches_eager():
    a = rand((3, 4), 80)

    def loss(x):  # few ops: eager mode compiles every op separately
        u, s, vh = svd(x)
        return jnp.sum(s * jnp.arange(1.0, 4.0)) + (u[0, 1] * vh[1, 2]) ** 2 + jnp.sum((u @ vh[:3]) ** 2)

    eager_val, eager_grad = jax.value_and_grad(loss)(a)
    jit_val, jit_grad = jax.jit(jax.value_and_grad(loss))(a)
    assert_close(jit_val, eager_val, 1e-13)
    assert_close(jit_grad, eager_grad, 1e-12)
    for x, y in zip(jax.jit(svd)(a), svd(a)):
        assert_close(x, y, 1e-13)


def test_small_simple_singular_values_keep_their_terms():
    # A simple singular value below the tie tolerance (√eps·s₁ in float64, 3.5e-4·s₁
    # in float32) but far above the rank tolerance was treated as zero: the terms
    # (I − UUᴴ) dA V S⁻¹ (tall) and the complex phase term were dropped, and the
    # derivative of U S Vᴴ, which is dA itself, was off by 0.67–1.35 (outside probe).
    def reconstruction_tangent(a, e):
        def rebuild(x):
            u, s, vh = svd(x, full_matrices=False)
            return (u * s[..., None, :].astype(u.dtype)) @ vh

        return jax.jvp(rebuild, (a,), (e,))[1]

    cases = [((4, 2), [1.0, 1e-8], False, np.float64, 1e-13), ((4, 2), [1.0, 1e-10], False, np.float64, 1e-13),
             ((3, 3), [1.0, 0.5, 1e-9], True, np.float64, 1e-13), ((4, 2), [1.0, 2e-4], False, np.float32, 1e-5)]
    for (m, n), s, cplx, dtype, tol in cases:
        u, v = rotation(m, 3), rotation(n, 4)
        if cplx:
            u, v = u * np.exp(1j * np.arange(m)), v * np.exp(0.5j * np.arange(n))
        core = np.zeros((m, n))
        core[np.arange(len(s)), np.arange(len(s))] = s
        a = u @ core @ v.conj().T
        e = rand((m, n), 5, complex_=cplx)
        a, e = a.astype(np.result_type(dtype, a.dtype)), e.astype(np.result_type(dtype, e.dtype))
        got = reconstruction_tangent(jnp.asarray(a), jnp.asarray(e))
        assert np.max(np.abs(np.asarray(got) - e)) <= tol * np.max(np.abs(e)), ((m, n), s, cplx, dtype)
