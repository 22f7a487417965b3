"""Derivatives of `jaxgrad.linalg.eigh` / `eigvalsh` against independent references.

Every derivative is compared with mpmath central differences of the same loss written
on an mpmath eigendecomposition (tests/reference.py), or with a closed form. One
generic loss covers projector, symmetric-eigenvalue and single-eigenvector terms; it is
jitted once at module level and only recompiled per (shape, dtype).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest

import reference as ref
from jaxgrad.linalg import eigh, eigvalsh


# --------------------------------------------------------------------------------------
# One generic loss: jax version and mpmath version built from the same parameters.
# --------------------------------------------------------------------------------------


def _mH(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def generic_loss(a, p, tie_rtol=None):
    """Re<C, V diag(mask) Vᴴ> + Σ (wl λ + wq λ² + wc λ³) + Σₖ sel_k |v_kᴴ c|².

    * the projector term sees the selected columns only through their projector;
    * the eigenvalue term is a symmetric function of a tied cluster when the weights
      are constant on it;
    * the vector term is invariant to the sign / phase of each selected eigenvector.
    """
    w, v = eigh(a, tie_rtol=tie_rtol)
    proj = (v * p["mask"]) @ _mH(v)
    total = jnp.real(jnp.sum(jnp.conj(p["C"]) * proj))
    total = total + jnp.sum(p["wl"] * w + p["wq"] * w**2 + p["wc"] * w**3)
    u = _mH(v) @ p["c"]
    return total + jnp.sum(p["sel"] * jnp.real(u * jnp.conj(u)))


loss_value = jax.jit(generic_loss)
loss_grad = jax.jit(jax.grad(generic_loss))
loss_jvp = jax.jit(lambda a, e, p: jax.jvp(lambda x: generic_loss(x, p), (a,), (e,))[1])


def make_params(n, *, dtype=np.float64, C=None, cols=(), wl=None, wq=None, wc=None, c=None, sel=()):
    """Parameters of `generic_loss` (all terms zero unless given)."""
    real = np.float32 if dtype in (np.float32, np.complex64) else np.float64
    z = np.zeros(n, dtype=real)

    def vec(x):
        return z.copy() if x is None else np.asarray(x, dtype=real)

    mask = z.copy()
    mask[list(cols)] = 1
    s = z.copy()
    s[list(sel)] = 1
    return {
        "C": np.zeros((n, n), dtype) if C is None else np.asarray(C, dtype),
        "mask": mask,
        "wl": vec(wl),
        "wq": vec(wq),
        "wc": vec(wc),
        "c": np.zeros(n, dtype) if c is None else np.asarray(c, dtype),
        "sel": s,
    }


def mp_generic_loss(p):
    """The mpmath twin of `generic_loss` for parameters `p` (numpy arrays)."""
    C = np.asarray(p["C"], dtype=complex)
    mask, wl, wq, wc, sel = (np.asarray(p[k], dtype=float) for k in ("mask", "wl", "wq", "wc", "sel"))
    c = np.asarray(p["c"], dtype=complex)
    n = len(mask)
    mpc = lambda z: mp.mpc(z.real, z.imag)  # noqa: E731

    def loss(m):
        w, v = ref.mp_eigh(m)
        total = mp.mpf(0)
        for k in range(n):
            if mask[k]:
                for i in range(n):
                    for j in range(n):
                        if C[i, j] != 0:
                            total += mp.re(mp.conj(mpc(C[i, j])) * v[i, k] * mp.conj(v[j, k]))
            total += wl[k] * w[k] + wq[k] * w[k] ** 2 + wc[k] * w[k] ** 3
            if sel[k]:
                u = sum(mp.conj(v[i, k]) * mpc(c[i]) for i in range(n))
                total += mp.re(u * mp.conj(u))
        return total

    return loss


def ref_dd(p, a, e):
    """mpmath directional derivative of the generic loss at `a` along `e`."""
    return ref.directional_derivative(mp_generic_loss(p), a, e)[0].real


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def sym(n, seed, scale=1.0):
    x = np.random.default_rng(seed).normal(size=(n, n)) * scale
    return (x + x.T) / 2


def herm(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    return (x + x.conj().T) / 2


def unitary(n, seed):
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def directions(n, seeds, complex_=False):
    return [herm(n, s) if complex_ else sym(n, s) for s in seeds]


def pair_products(g, e):
    """Directional derivative from a JAX gradient: Re Σ g ∘ E (JAX's convention for C→R)."""
    return float(np.real(np.sum(np.asarray(g, dtype=complex) * e)))


def assert_close(actual, expected, rtol, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert np.all(np.isfinite(actual)), f"{what}: non-finite {actual}"
    scale = max(float(np.max(np.abs(expected))), 1.0)
    err = float(np.max(np.abs(actual - expected)))
    assert err <= rtol * scale, f"{what}: err {err:.3e} > {rtol:.1e} * {scale:.3e}\n{actual}\n{expected}"


def check_first_order(a, p, seeds=(101, 102), rtol=1e-10, complex_=False):
    """jvp and grad of the generic loss against mpmath along a few directions."""
    n = a.shape[-1]
    g = np.asarray(loss_grad(a, p))
    assert np.all(np.isfinite(g)), g
    for e in directions(n, seeds, complex_):
        expected = ref_dd(p, a, e)
        e_j = e.astype(a.dtype)
        assert_close(float(loss_jvp(a, e_j, p)), expected, rtol, "jvp")
        assert_close(pair_products(g, e), expected, rtol, "grad")
    return g


C3 = np.arange(9.0).reshape(3, 3) - 3.0
C5 = np.random.default_rng(5).normal(size=(5, 5))
PERM5 = np.eye(5)[[3, 0, 4, 1, 2]]


# --------------------------------------------------------------------------------------
# 1./2. The issue cases: projectors of tied clusters and the untied vector next to a tie
# --------------------------------------------------------------------------------------

ISSUE_A = {
    "rotated": ref.planted([1.0, 1.0, 2.0], seed=0),  # tie split by rounding only
    "exact": np.diag([1.0, 1.0, 2.0]),
}
ISSUE_B = {
    "permuted": PERM5.T @ np.diag([0.1, 0.5, 0.5, 1.2, 1.2]) @ PERM5,  # exact ties
    "rotated": ref.planted([0.1, 0.5, 0.5, 1.2, 1.2], seed=3),
}
ISSUE_C = {
    "rotated": ref.planted([1.0, 1.0, 4.0], seed=4),  # ascending: v_top is column 2
    "exact": np.diag([1.0, 4.0, 1.0]),
}
C_TOP = np.array([0.3, -1.1, 0.7])


@pytest.mark.parametrize("case", sorted(ISSUE_A))
def test_issue_a_projector_of_lowest_pair(case):
    a = ISSUE_A[case]
    p = make_params(3, C=C3, cols=(0, 1), wl=[1.0, 1.0, 0.0], wq=[0.5, 0.5, 0.0])
    g = check_first_order(a, p)
    # the full gradient, entry by entry, in the symmetrized convention
    expected = ref.gradient(mp_generic_loss(p), a, hermitian=True)
    assert_close(g, expected, 1e-10, "full gradient")


@pytest.mark.parametrize("case", sorted(ISSUE_B))
def test_issue_b_projector_of_middle_tied_pair(case):
    a = ISSUE_B[case]
    p = make_params(5, C=C5, cols=(1, 2), wq=[0, 1.0, 1.0, 0, 0])
    check_first_order(a, p)
    # the other tied pair and the simple eigenvalue together, symmetric in each pair
    p2 = make_params(5, C=C5, cols=(0, 3, 4), wl=[2.0, 0, 0, 1.0, 1.0])
    check_first_order(a, p2, seeds=(103,))


@pytest.mark.parametrize("case", sorted(ISSUE_C))
def test_issue_c_untied_top_vector_next_to_tie(case):
    # JAX issue #4646: a loss of the top eigenvector only, the other two tied.
    a = ISSUE_C[case]
    p = make_params(3, c=C_TOP, sel=(2,))
    check_first_order(a, p)
    p2 = make_params(3, C=C3, cols=(2,))  # Re<C, v_top v_topᵀ>
    check_first_order(a, p2, seeds=(104,))


def _jnp_projector_loss(a):
    v = jnp.linalg.eigh(a).eigenvectors[:, :2]
    return jnp.sum(jnp.asarray(C3) * (v @ v.T))


def _jnp_top_loss(a):
    v = jnp.linalg.eigh(a).eigenvectors[:, 2]
    return jnp.dot(jnp.asarray(C_TOP), v) ** 2


def test_jax_numpy_fails_on_issue_cases():
    """Why jaxgrad exists: jax.numpy.linalg.eigh is NaN or wrong here (not a reference)."""
    g_exact = jax.grad(_jnp_projector_loss)(ISSUE_A["exact"])
    assert np.all(np.isnan(g_exact))
    p = make_params(3, C=C3, cols=(0, 1))
    a = ISSUE_A["rotated"]
    expected = ref.gradient(mp_generic_loss(p), a, hermitian=True)
    g_rot = np.asarray(jax.grad(_jnp_projector_loss)(a))
    assert not np.allclose(g_rot, expected, rtol=1e-3, atol=1e-3)
    # issue #4646: the untied top vector's gradient is NaN at an exact tie below it
    assert np.all(np.isnan(jax.grad(_jnp_top_loss)(ISSUE_C["exact"])))


def _projector_and_eigs(a):
    """Matrix-valued: the tied pair's projector, the pair's eigenvalue sum, the top eigenvalue."""
    w, v = eigh(a)
    vc = v[:, :2]
    return vc @ vc.T, w[0] + w[1], eigvalsh(a)[2]


def _mp_projector_and_eigs(m):
    w, v = ref.mp_eigh(m)
    proj = mp.matrix(3, 3)
    for i in range(3):
        for j in range(3):
            proj[i, j] = v[i, 0] * v[j, 0] + v[i, 1] * v[j, 1]
    return [proj, w[0] + w[1], w[2]]


@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_jacobians_at_rounding_tie(mode):
    a = ISSUE_A["rotated"]
    jac = jax.jit(getattr(jax, mode)(_projector_and_eigs))(a)
    for k in range(3):
        for l in range(k, 3):
            e = np.zeros((3, 3))
            e[k, l] = e[l, k] = 1.0
            expected = ref.directional_derivative(_mp_projector_and_eigs, a, e).real
            actual = np.concatenate(
                [np.tensordot(np.asarray(j), e, axes=([-2, -1], [0, 1])).ravel() for j in jac]
            )
            assert_close(actual, expected, 1e-10, f"{mode} direction ({k},{l})")


# --------------------------------------------------------------------------------------
# 3. Nearly tied spectra
# --------------------------------------------------------------------------------------

GAPS = [1e-3, 1e-6, 1e-9, 1e-12]


@pytest.mark.parametrize("gap", GAPS)
def test_nearly_tied_pair(gap):
    a = ref.planted([-0.7, 1.0, 1.0 + gap, 2.5], seed=11)
    C = sym(4, 12)
    # The pair is tied for jaxgrad (default tie_rtol 1.5e-8) at gaps 1e-9 and 1e-12: its
    # projector is then exact to rounding. At the untied gaps the projector's in-pair
    # terms of size 1/gap cancel in floating point, leaving an error ≈ eps/gap (2.2e-10
    # measured at gap 1e-6); the symmetric eigenvalue functions are exact to rounding.
    tied = gap < 1.5e-8 * 2.5
    proj_rtol = 1e-12 if tied else max(1e-12, 5 * np.finfo(float).eps / gap)
    check_first_order(a, make_params(4, C=C, cols=(1, 2)), seeds=(105, 106), rtol=proj_rtol)
    check_first_order(a, make_params(4, wl=[0, 1.0, 1.0, 0]), seeds=(107,), rtol=1e-12)
    check_first_order(a, make_params(4, wq=[0, 1.0, 1.0, 0]), seeds=(108,), rtol=1e-12)
    # all three together (one gradient), with the two other eigenvalues
    p = make_params(4, C=C, cols=(1, 2), wl=[0.3, 1.0, 1.0, 0], wq=[0, 0.5, 0.5, -0.2])
    check_first_order(a, p, seeds=(109,), rtol=proj_rtol)
    if gap >= 1e-3:
        # distinct: a single eigenvector of the pair has a derivative (of size 1/gap)
        p_vec = make_params(4, c=[0.2, -0.5, 0.9, 0.4], sel=(1,))
        check_first_order(a, p_vec, seeds=(110, 111), rtol=1e-10)


loss_grad_rtol = jax.jit(jax.grad(generic_loss), static_argnames="tie_rtol")


def test_tie_rtol_widens_the_cluster():
    # gap 1e-6 with tie_rtol=1e-4: the pair is now a cluster. Its projector becomes exact
    # to rounding (no 1/gap terms), and a single vector of the pair is a gauge choice:
    # reverse mode must refuse it (NaN), while the default tie_rtol differentiates it.
    a = ref.planted([-0.7, 1.0, 1.0 + 1e-6, 2.5], seed=11)
    p = make_params(4, C=sym(4, 12), cols=(1, 2), wq=[0, 1.0, 1.0, 0])
    e = sym(4, 112)
    expected = ref_dd(p, a, e)
    g = np.asarray(loss_grad_rtol(a, p, tie_rtol=1e-4))
    assert_close(pair_products(g, e), expected, 1e-13, "projector with wide tie_rtol")
    p_vec = make_params(4, c=[0.2, -0.5, 0.9, 0.4], sel=(1,))
    assert np.all(np.isnan(loss_grad_rtol(a, p_vec, tie_rtol=1e-4)))
    assert np.all(np.isfinite(loss_grad_rtol(a, p_vec, tie_rtol=1e-8)))


# --------------------------------------------------------------------------------------
# 4. Distinct spectra, second order
# --------------------------------------------------------------------------------------

A_DISTINCT = sym(4, 21, scale=2.0)
C_VEC = np.array([0.5, -0.3, 0.8, 0.1])


@pytest.mark.parametrize("k", range(4))
def test_distinct_single_eigenvector_and_eigenvalue(k):
    a = A_DISTINCT
    wl = np.zeros(4)
    wl[k] = 1.0
    check_first_order(a, make_params(4, c=C_VEC, sel=(k,)), seeds=(109, 110))
    check_first_order(a, make_params(4, wl=wl), seeds=(111,))


def test_eigvalsh_jacobians_distinct():
    a = A_DISTINCT

    def mp_w(m):
        return list(ref.mp_eigh(m)[0])

    jf = np.asarray(jax.jit(jax.jacfwd(eigvalsh))(a))
    jr = np.asarray(jax.jit(jax.jacrev(eigvalsh))(a))
    for e in directions(4, (112, 113)):
        expected = ref.directional_derivative(mp_w, a, e).real
        assert_close(np.tensordot(jf, e, axes=([1, 2], [0, 1])), expected, 1e-10, "jacfwd")
        assert_close(np.tensordot(jr, e, axes=([1, 2], [0, 1])), expected, 1e-10, "jacrev")


def _cubic_closed_form_hessian(a):
    """∂²/∂a_ij ∂a_kl of tr(S³), S = (a + aᵀ)/2: the gradient is 3 S², so H[..., k, l] = 3(E S + S E)."""
    n = a.shape[0]
    s = (a + a.T) / 2
    h = np.zeros((n, n, n, n))
    for k in range(n):
        for l in range(n):
            e = np.zeros((n, n))
            e[k, l] += 0.5
            e[l, k] += 0.5
            h[:, :, k, l] = 3 * (e @ s + s @ e)
    return h


def test_hessian_sum_of_cubed_eigenvalues():
    a = A_DISTINCT + np.triu(sym(4, 22), 1)  # not symmetric: exercises the symmetrization
    f = lambda x: jnp.sum(eigvalsh(x) ** 3)  # noqa: E731
    s = (a + a.T) / 2
    assert_close(jax.grad(f)(a), 3 * s @ s, 1e-12, "gradient")
    assert_close(jax.jit(jax.hessian(f))(a), _cubic_closed_form_hessian(a), 1e-11, "hessian")


loss_hessian = jax.jit(jax.hessian(generic_loss))


def test_hessian_eigenvector_loss_distinct():
    a = A_DISTINCT
    p = make_params(4, c=C_VEC, sel=(1,), wc=[0.3, 0, 0, 0.2])
    h = np.asarray(loss_hessian(a, p))
    es = directions(4, (114, 115))
    mp_loss = mp_generic_loss(p)
    for i, e1 in enumerate(es):
        for e2 in es[i:]:
            expected = ref.second_directional_derivative(mp_loss, a, e1, e2)
            actual = np.einsum("ij,ijkl,kl->", e1, h, e2)
            assert_close(actual, expected, 1e-9, "hessian")


def test_second_derivative_of_cubic_along_direction():
    # forward-over-reverse and forward-over-forward against the closed form 6 tr(S E1 E2)-ish
    a = A_DISTINCT
    e1, e2 = directions(4, (116, 117))
    f = lambda x: jnp.sum(eigvalsh(x) ** 3)  # noqa: E731
    fwd_rev = jax.jit(lambda x, t: jax.jvp(jax.grad(f), (x,), (t,))[1])(a, e2)
    fwd_fwd = jax.jit(lambda x: jax.jvp(lambda y: jax.jvp(f, (y,), (e1,))[1], (x,), (e2,))[1])(a)
    # d²/ds dt tr((A + s E1 + t E2)³) = 3 tr(E1 E2 A + E2 E1 A) = 6 tr(A E1 E2) (all symmetric)
    expected = 6 * np.trace(a @ e1 @ e2)
    assert_close(np.sum(np.asarray(fwd_rev) * e1), expected, 1e-11, "fwd-over-rev")
    assert_close(fwd_fwd, expected, 1e-11, "fwd-over-fwd")


def test_second_derivative_at_a_pair_closer_than_tie_rtol():
    # diag(1, 1 + 1e-10, 2): distinct eigenvalues, but closer than the default tie_rtol,
    # so treated as tied, and second derivatives at ties are not promised (the docs). The
    # two ways the docs give: tie_rtol=0, and trace_function (Daleckii–Krein). Closed
    # form: Σλ² = ‖A‖²_F, whose second derivative along E is 2⟨E, E⟩ = 4 (an outside
    # probe found 0 through the default eigvalsh).
    from jaxgrad.linalg import trace_function

    # Rotated (a diagonal matrix makes the 1/gap terms of tie_rtol=0 cancel exactly):
    # tie_rtol=0 is good to about eps·max|λ|/gap.
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    a = jnp.asarray(q @ np.diag([1.0, 1.0 + 1e-10, 2.0]) @ q.T)
    e = jnp.asarray(q @ np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]) @ q.T)
    losses = ((lambda x: jnp.sum(eigvalsh(x, tie_rtol=0.0) ** 2), 1e-5),
              (lambda x: trace_function(x, lambda t: t**2), 1e-12))
    for f, rtol in losses:
        second = jnp.vdot(jax.jvp(jax.grad(f), (a,), (e,))[1], e)
        np.testing.assert_allclose(float(second), 4.0, rtol=rtol)


# --------------------------------------------------------------------------------------
# 5. Complex Hermitian
# --------------------------------------------------------------------------------------

H2 = np.array([[2.0, 1j], [-1j, 3.0]])


def _v10_abs2(h):
    v = eigh(h).eigenvectors
    return jnp.real(v[1, 0] * jnp.conj(v[1, 0]))


def _v10_re(h):
    # Re(v₀₀ + v₁₀): depends on v₀'s phase whatever the solver's phase convention (the
    # real part of a component the convention makes real is stationary under the phase).
    v = eigh(h).eigenvectors
    return jnp.real(v[0, 0] + v[1, 0])


def test_complex_phase_invariant_loss_2x2():
    g = np.asarray(jax.jit(jax.grad(_v10_abs2))(H2))
    assert np.all(np.isfinite(g))
    jvp = jax.jit(lambda e: jax.jvp(_v10_abs2, (H2,), (e,))[1])

    def mp_loss(m):
        v = ref.mp_eigh(m)[1]
        return abs(v[1, 0]) ** 2

    for e in directions(2, (118, 119, 120), complex_=True):
        expected = ref.directional_derivative(mp_loss, H2, e)[0].real
        assert_close(pair_products(g, e), expected, 1e-10, "grad")
        assert_close(jvp(e), expected, 1e-10, "jvp")


def test_complex_phase_dependent_loss_is_nan():
    g = np.asarray(jax.grad(_v10_re)(H2))
    assert g.shape == (2, 2)
    assert np.all(np.isnan(g))


H3 = herm(3, 31) * 2.0


def test_complex_random_hermitian_projector_and_vector():
    c_mat = herm(3, 32) + 0.5 * np.triu(herm(3, 33))  # not Hermitian: Re<C, P> sees both parts
    p = make_params(3, dtype=np.complex128, C=c_mat, cols=(1,), c=[0.3 + 0.2j, -1.0, 0.5j], sel=(0, 2))
    check_first_order(H3, p, seeds=(121, 122), complex_=True)


def test_complex_tied_pair_projector():
    u = unitary(3, 34)
    a = (u * np.array([-1.0, 2.0, 2.0])) @ u.conj().T  # planted tie, split by rounding
    c_mat = herm(3, 35) + 1j * sym(3, 36)
    p = make_params(3, dtype=np.complex128, C=c_mat, cols=(1, 2), wq=[0, 1.0, 1.0])
    check_first_order(a, p, seeds=(123, 124), complex_=True)
    p_low = make_params(3, dtype=np.complex128, C=c_mat, cols=(0,), c=[1.0, 1j, 0.5], sel=(0,))
    check_first_order(a, p_low, seeds=(125,), complex_=True)


# --------------------------------------------------------------------------------------
# 6./7. The gauge check must not fire on projector losses: many ties, batched, jitted
# --------------------------------------------------------------------------------------

batched_grad = jax.jit(jax.vmap(loss_grad, in_axes=(0, None)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gauge_check_silent_on_projector_losses_vmapped(dtype):
    mats = np.stack([ref.planted([1.0, 1.0, 2.0], seed=s) for s in range(200, 216)])
    mats = mats.astype(dtype)
    p = make_params(3, dtype=dtype, C=C3, cols=(0, 1), wl=[1.0, 1.0, 0], wq=[1.0, 1.0, 0])
    g = np.asarray(batched_grad(mats, p))
    assert np.all(np.isfinite(g))
    rtol = 1e-10 if dtype == np.float64 else 2e-4
    e = sym(3, 126)
    mp_loss = mp_generic_loss(p)
    for a, gi in zip(mats[:4], g[:4]):
        a64 = a.astype(np.float64)  # the exact matrix that was decomposed
        expected = ref.directional_derivative(mp_loss, a64, e)[0].real
        assert_close(pair_products(gi, e), expected, rtol, "batched grad")


def _batched_projector_loss(a, c):
    v = eigh(a).eigenvectors[..., :2]
    return jnp.sum(c * (v @ jnp.swapaxes(v, -1, -2)))


def test_leading_batch_dims_match_slices_and_reference():
    n = 4
    vals = [[0.5, 0.5, 1.5, 3.0], [0.5, 0.7, 1.5, 3.0], [-1.0, -1.0, 2.0, 2.0]]
    mats = np.stack(
        [np.stack([ref.planted(vals[j], seed=300 + 10 * i + j) for j in range(3)]) for i in range(2)]
    )
    assert mats.shape == (2, 3, n, n)
    c = sym(n, 127)
    w_b, v_b = eigh(mats)
    g_b = np.asarray(jax.jit(jax.grad(_batched_projector_loss))(mats, c))
    assert g_b.shape == mats.shape
    p = make_params(n, C=c, cols=(0, 1))
    mp_loss = mp_generic_loss(p)
    e = sym(n, 128)
    for i in range(2):
        for j in range(3):
            w, v = eigh(mats[i, j])
            np.testing.assert_allclose(w_b[i, j], w, rtol=1e-14, atol=1e-14)
            # columns agree up to sign (same LAPACK call per slice)
            np.testing.assert_allclose(np.abs(v_b[i, j]), np.abs(v), atol=1e-12)
            expected = ref.directional_derivative(mp_loss, mats[i, j], e)[0].real
            assert_close(pair_products(g_b[i, j], e), expected, 1e-10, f"slice {i},{j}")
            assert_close(g_b[i, j], loss_grad(mats[i, j], p), 1e-12, "slice alone")


def test_vmap_matches_per_matrix():
    mats = np.stack([ref.planted([0.5, 0.5, 1.5, 3.0], 400), sym(4, 401), ref.planted([1.0, 1.0, 2.0, 2.0], 402)])
    p = make_params(4, C=sym(4, 403), cols=(0, 1), wq=[1.0, 1.0, 1.0, 1.0])
    g = np.asarray(batched_grad(mats, p))
    e = sym(4, 129)
    for a, gi in zip(mats, g):
        expected = ref_dd(p, a, e)
        assert_close(pair_products(gi, e), expected, 1e-10, "vmap grad")
        assert_close(gi, loss_grad(a, p), 1e-12, "vmap vs single")
    # jvp under vmap over tangents and primals
    jv = jax.vmap(loss_jvp, in_axes=(0, None, None))(mats, e, p)
    for a, j in zip(mats, np.asarray(jv)):
        assert_close(j, ref_dd(p, a, e), 1e-10, "vmap jvp")


# --------------------------------------------------------------------------------------
# 8. float32
# --------------------------------------------------------------------------------------


def test_float32_tie_and_distinct():
    tie = ref.planted([0.5, 0.5, 1.5, 3.0], seed=500).astype(np.float32)
    distinct = sym(4, 501).astype(np.float32)
    e = sym(4, 130)
    p_tie = make_params(4, dtype=np.float32, C=sym(4, 502), cols=(0, 1), wq=[1.0, 1.0, 0, 0])
    p_dis = make_params(4, dtype=np.float32, c=C_VEC, sel=(1,), wl=[0, 0, 1.0, 0])
    for a, p in ((tie, p_tie), (distinct, p_dis)):
        w, v = eigh(a)
        assert w.dtype == jnp.float32 and v.dtype == jnp.float32
        g = np.asarray(loss_grad(a, p))
        assert g.dtype == np.float32
        expected = ref_dd(p, a.astype(np.float64), e)
        assert_close(pair_products(g.astype(np.float64), e), expected, 1e-4, "f32 grad")
        assert_close(float(loss_jvp(a, e.astype(np.float32), p)), expected, 1e-4, "f32 jvp")


# --------------------------------------------------------------------------------------
# 9. jit vs eager; one-triangle input
# --------------------------------------------------------------------------------------


def test_jit_matches_eager():
    a = ISSUE_A["rotated"]
    p = make_params(3, C=C3, cols=(0, 1), c=C_TOP, sel=(2,), wq=[1.0, 1.0, 1.0])
    g_eager = np.asarray(jax.grad(generic_loss)(a, p))
    assert_close(g_eager, loss_grad(a, p), 1e-13, "grad jit vs eager")
    assert_close(generic_loss(a, p), loss_value(a, p), 1e-13, "value jit vs eager")
    w1, v1 = eigh(a)
    w2, v2 = jax.jit(eigh)(a)
    np.testing.assert_allclose(w1, w2, rtol=1e-14)
    np.testing.assert_allclose(np.abs(v1.T @ v2), np.eye(3), atol=1e-7)  # same spaces


def _hermitize(m, lower):
    n = m.rows
    out = mp.matrix(n, n)
    for i in range(n):
        for j in range(n):
            if i == j:
                out[i, j] = mp.re(m[i, i])
            elif (i > j) == lower:
                out[i, j] = m[i, j]
            else:
                out[i, j] = mp.conj(m[j, i])
    return out


@pytest.mark.parametrize("kind", ["real", "complex"])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_one_triangle_derivative(uplo, kind):
    n = 3
    lower = uplo == "L"
    rng = np.random.default_rng(601)
    if kind == "real":
        base, junk = ref.planted([1.0, 1.0, 2.5], seed=600), rng.normal(size=(n, n)) * 5
        c_mat, cv = sym(n, 602), np.array([0.4, 0.1, -0.9])
        dtype = np.float64
    else:
        u = unitary(n, 600)
        base = (u * np.array([1.0, 1.0, 2.5])) @ u.conj().T + 0.7j * np.eye(n)  # Im diag is not read
        junk = (rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))) * 5
        c_mat, cv = herm(n, 602), np.array([0.4, 0.1j, -0.9])
        dtype = np.complex128
    keep = np.tril(np.ones((n, n)), 0) if lower else np.triu(np.ones((n, n)), 0)
    a = base * keep + junk * (1 - keep)  # the unread triangle is garbage

    def loss(x):
        w, v = eigh(x, UPLO=uplo, symmetrize_input=False)
        vc = v[:, :2]
        u = jnp.conj(v[:, 2]) @ cv
        proj = jnp.real(jnp.sum(jnp.conj(c_mat) * (vc @ _mH(vc))))
        return proj + w[0] + w[1] + 0.3 * w[2] ** 2 + jnp.real(u * jnp.conj(u))

    p = make_params(n, dtype=dtype, C=c_mat, cols=(0, 1), wl=[1.0, 1.0, 0], wq=[0, 0, 0.3], c=cv, sel=(2,))
    inner = mp_generic_loss(p)
    mp_loss = lambda m: inner(_hermitize(m, lower))  # noqa: E731
    g = np.asarray(jax.jit(jax.grad(loss))(a))
    assert np.all(g * (1 - keep) == 0)  # the unread triangle has zero gradient
    if kind == "real":
        assert_close(g, ref.gradient(mp_loss, a), 1e-10, "one-triangle gradient")  # entrywise
    jvp = jax.jit(lambda x, t: jax.jvp(loss, (x,), (t,))[1])
    for seed in (603, 604):
        r = np.random.default_rng(seed)
        e = r.normal(size=(n, n)) + (1j * r.normal(size=(n, n)) if kind == "complex" else 0)
        expected = ref.directional_derivative(mp_loss, a, e)[0].real
        assert_close(pair_products(g, e), expected, 1e-10, "one-triangle grad")
        assert_close(jvp(a, e), expected, 1e-10, "one-triangle jvp")
    # the values are those of the hermitized triangle
    strict = np.tril(a, -1) if lower else np.triu(a, 1)
    herm_a = strict + strict.conj().T + np.diag(np.diag(a).real)
    np.testing.assert_allclose(
        eigvalsh(a, UPLO=uplo, symmetrize_input=False), np.linalg.eigvalsh(herm_a), rtol=1e-13
    )


_GRADED_EIGVALSH = jax.jit(lambda a: eigh(a).eigenvalues)


@pytest.mark.parametrize("scales", ["descending", "ascending", "large in the middle"])
def test_graded_matrix_eigenvalues_to_relative_accuracy(scales):
    # D S D with D spanning 1e-12: JAX's eigensolver (and numpy's LAPACK) keep such a
    # matrix's eigenvalues to relative accuracy only when its large diagonal entries come
    # first; ascending they were 46 % off, largest in the middle 2.7× (outside probe via
    # eigh_generalized). eigh now orders the matrix for the solver. Reference: mpmath at
    # 60 digits.
    d = {"descending": np.logspace(0, -12, 5), "ascending": np.logspace(-12, 0, 5),
         "large in the middle": np.array([1e-12, 1e-6, 1.0, 1e-6, 1e-12])}[scales]
    s = np.random.default_rng(3).standard_normal((5, 5))
    a = np.diag(d) @ (s + s.T) @ np.diag(d)
    with mp.workdps(60):
        ref = np.array(sorted(float(x) for x in mp.eigsy(mp.matrix(a.tolist()))[0]))
    w = np.asarray(_GRADED_EIGVALSH(jnp.asarray(a)))
    np.testing.assert_allclose(w, ref, rtol=1e-13, atol=0)


_B3 = np.array([[0.3, -1.2, 0.5], [-1.2, 0.1, -0.7], [0.5, -0.7, -0.2]])
_B2 = np.array([[0.4, 1.1], [-0.6, 0.9], [1.3, -0.2]])


def _jax_losses():
    from jaxgrad.linalg import eig, svd, svdvals

    def eigh_loss(m):  # Σ cᵢ λᵢ vᵢᵀBvᵢ (degree 1)
        w, v = eigh(m)
        return jnp.sum(jnp.arange(1.0, 4.0) * w * jnp.einsum("ji,jk,ki->i", v, _B3, v))

    def svd_loss(m):  # Σ uᵢᵀBvᵢ (degree 0; a sign flip of a pair cancels)
        u, _, vh = svd(m, full_matrices=False)
        return jnp.sum(u * (_B2 @ vh.T))

    def eig_loss(m):  # Re Σ λᵢ |vᵢ[0]|² (degree 1)
        w, v = eig(m)
        return jnp.real(jnp.sum(w * jnp.abs(v[0]) ** 2))

    return eigh_loss, svd_loss, (lambda m: svdvals(m) @ jnp.array([1.0, 2.0])), eig_loss


@jax.jit
def _second_derivatives_of_decompositions(mats, dirs):
    out = []
    for loss, a, e in zip(_jax_losses(), mats, dirs):
        g = lambda t, loss=loss, a=a, e=e: loss(a + t * e)  # noqa: E731
        out.append((jax.grad(jax.grad(g))(0.0), jax.jacfwd(jax.jacfwd(g))(0.0)))
    return out


def test_second_derivatives_of_the_decompositions_far_from_unit_scale():
    # Their rules hold 1/gap (and second derivatives 1/gap² and products of them): beyond
    # ~1e±154 those left the float range, and second derivatives of eigh (Σ cᵢλᵢvᵢᵀBvᵢ),
    # of svd's vectors, of svdvals and of eig came out NaN, 0 or 4.6 % off, in one mode
    # or all (outside probe). The decompositions now run on A/s there (s a power of two).
    # References: mpmath at unit scale (mixed central differences at 40 digits), times
    # s^degree.
    rng = np.random.default_rng(7)
    sym = rng.normal(size=(3, 3))
    sym = sym + sym.T
    e_sym = rng.normal(size=(3, 3))
    e_sym = e_sym + e_sym.T
    rect, e_rect = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    gen = np.array([[2.0, 1.0, 0.0], [0.5, -1.0, 0.3], [0.2, 0.4, 3.0]])  # real eigenvalues
    e_gen = rng.normal(size=(3, 3))

    def mp_eigh_loss(m):
        w, v = ref.mp_eigh(m)
        return mp.fsum((i + 1) * w[i] * (v[:, i].T * ref.to_mp(_B3) * v[:, i])[0] for i in range(3))

    def mp_svd_loss(m):
        u, _, vh = ref.mp_svd(m)
        bv = ref.to_mp(_B2) * vh.T
        return mp.fsum(u[j, i] * bv[j, i] for i in range(2) for j in range(3))

    def mp_svdvals_loss(m):
        s = ref.mp_svd(m)[1]
        return s[0] + 2 * s[1]

    def mp_eig_loss(m):
        w, v = ref.mp_eig(m)
        return mp.re(mp.fsum(w[i] * abs(v[0, i]) ** 2 for i in range(3)))

    cases = ((mp_eigh_loss, sym, e_sym, 1), (mp_svd_loss, rect, e_rect, 0), (mp_svdvals_loss, rect, e_rect, 1),
             (mp_eig_loss, gen, e_gen, 1))
    refs = [ref.second_directional_derivative(loss, a, e, e) for loss, a, e, _ in cases]
    for s in (1e200, 1e-200):
        got = _second_derivatives_of_decompositions(tuple(jnp.asarray(s * c[1]) for c in cases),
                                                     tuple(jnp.asarray(s * c[2]) for c in cases))
        for (rev, fwd), r, (_, _, _, degree) in zip(got, refs, cases):
            want = r * s**degree
            for mode, value in (("grad(grad)", rev), ("jacfwd(jacfwd)", fwd)):
                assert abs(float(value) - want) <= 1e-9 * abs(want), (s, degree, mode, float(value), want)
