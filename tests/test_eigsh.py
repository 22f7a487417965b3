"""`jaxgrad.linalg.eigsh` against independent references (issue #13).

The operator is A(θ) = L + diag(θ), L the 5-point Laplacian of an 8 × 8 grid (n = 64),
k = 4. At θ = 0 its spectrum has the square grid's repeated eigenvalues: λ₂ = λ₃ (modes
(1, 2) and (2, 1)) lies inside the block, and λ₄ (mode (2, 2)) is simple. A potential
α·q on the four antinodes of mode (2, 2) raises λ₄ until, at α = α*, it meets an
eigenvalue of another symmetry class that q leaves in place: λ₄ = λ₅, a tie split by the
block's edge. References are NumPy's dense `eigh` with the closed-form derivative of the
loss (for a block separated from the rest, the projector's derivative only couples
block and complement, so the formula holds at ties inside the block), central
differences with Richardson extrapolation, and jaxgrad's dense `eigh`. Every eigsh
result of the battery comes from one jitted program (compiled once), the iterative ones
from one eigsh call under `vmap`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

from jaxgrad.linalg import EigshStatus, eigh, eigsh
from jaxgrad.linalg._eigsh import CONVERGED, NONFINITE, NOT_HERMITIAN, TIE_AT_EDGE

try:  # lineax is optional: eigsh accepts its operators when it is installed
    import lineax as LINEAX
except ImportError:
    LINEAX = None

NX = 8
N = NX * NX
K = 4


def laplacian() -> np.ndarray:
    d = 2 * np.eye(NX) - np.eye(NX, k=1) - np.eye(NX, k=-1)
    return np.kron(np.eye(NX), d) + np.kron(d, np.eye(NX))


L = laplacian()


def matvec(v, theta):
    u = v.reshape(NX, NX)
    p = jnp.pad(u, 1)
    out = 4 * u - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
    return out.reshape(-1) + theta * v


def crossing_potential() -> np.ndarray:
    """α*·q with λ₄ = λ₅ (see the module docstring), α* found by bisection."""
    q = np.zeros((NX, NX))
    q[np.ix_([1, 6], [1, 6])] = 1.0
    q = q.reshape(-1)
    fixed = 2 - 2 * np.cos(np.pi / 9) + 2 - 2 * np.cos(3 * np.pi / 9)  # the eigenvalue q keeps

    def h(alpha):  # = λ_(2,2)(α) − fixed, continuous and increasing through the crossing
        lam = np.linalg.eigvalsh(L + alpha * np.diag(q))
        return lam[3] + lam[4] - 2 * fixed

    lo, hi = 0.0, 4.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if h(mid) < 0 else (lo, mid)
    return lo * q


rng = np.random.default_rng(13)
THETA = rng.uniform(0.0, 0.5, N)
C = rng.normal(size=N)
W = rng.normal(size=N)
D = rng.normal(size=N)  # a direction in θ
ZERO = np.zeros(N)
CROSS = crossing_potential()
# Just short of the crossing: λ₅ − λ₄ = 1.3e-5, 1.6e-6·‖A‖, well above `tie_rtol`·‖A‖.
NEAR = CROSS * (1 + 1e-4)


def loss_parts(w, v):
    """Σλ + ⟨c, V Vᵀ w⟩: a symmetric function of the eigenvalues plus a projector term."""
    return jnp.sum(w) + C @ (v @ (v.T @ W))


def _loss(theta):
    r = eigsh(matvec, K, (theta,), n=N)
    return loss_parts(r.eigenvalues, r.eigenvectors), r


def _derivatives(theta):
    # One linearization gives both modes: the forward tangent along D, and the gradient
    # as its transpose (the primal eigsh is traced and compiled once).
    value, lin, r = jax.linearize(_loss, theta, has_aux=True)
    (grad,) = jax.linear_transpose(lin, theta)(jnp.ones_like(value))
    return dict(w=r.eigenvalues, v=r.eigenvectors, value=value, grad=grad, jvp=lin(jnp.asarray(D)), code=_code(r))


def _code(r):
    s = r.info.status
    codes = [
        (EigshStatus.converged, CONVERGED),
        (EigshStatus.tie_at_edge, TIE_AT_EDGE),
        (EigshStatus.nonfinite, NONFINITE),
        (EigshStatus.not_hermitian, NOT_HERMITIAN),
    ]
    out = jnp.asarray(-1)
    for item, code in codes:
        out = jnp.where(s == item, code, out)
    return out


SMALL = np.array([
    [4.0, 1.0, 0.0, 0.5, 0.0, 0.0],
    [1.0, 3.0, 0.2, 0.0, 0.0, 0.1],
    [0.0, 0.2, 1.0, 0.3, 0.0, 0.0],
    [0.5, 0.0, 0.3, 2.0, 0.4, 0.0],
    [0.0, 0.0, 0.0, 0.4, 5.0, 0.2],
    [0.0, 0.1, 0.0, 0.0, 0.2, 6.0],
])


@jax.jit
def battery(thetas, a_small):
    # The iterative path, under vmap over four parameter vectors: random θ (no ties),
    # θ = 0 (λ₂ = λ₃ inside the block), the crossing potential (λ₄ = λ₅ on the edge)
    # and a θ holding a NaN.
    out = {"lanes": jax.vmap(_derivatives)(thetas)}

    # The dense path (n = 6 < 3·ncv), smallest and largest: the matrix is the parameter;
    # the reference is jaxgrad's dense eigh.
    def dense_loss(a, which):
        r = eigsh(a, 2, which=which)
        return jnp.sum(r.eigenvalues**2) + jnp.sum(a_small[0] @ r.eigenvectors) ** 2

    def eigh_loss(a, which):
        w, v = eigh(a)
        cols = slice(0, 2) if which == "smallest" else slice(4, 6)
        return jnp.sum(w[cols] ** 2) + jnp.sum(a_small[0] @ v[:, cols]) ** 2

    for which in ("smallest", "largest"):
        out[which] = dict(
            w=eigsh(a_small, 2, which=which).eigenvalues,
            grad=jax.grad(dense_loss)(a_small, which),
            ref=jax.grad(eigh_loss)(a_small, which),
        )

    # Complex Hermitian (dense path): a projector loss against dense eigh.
    h = a_small + 1j * (jnp.triu(a_small, 1) - jnp.triu(a_small, 1).T)
    c = jnp.arange(36.0).reshape(6, 6)

    def complex_loss(a, solver):
        w, v = solver(a)
        return jnp.sum(w) + jnp.real(jnp.sum(c * (v @ jnp.conj(v.T))))

    def by_eigh(a):
        w, v = eigh(a)
        return w[:2], v[:, :2]

    out["complex"] = dict(
        w=eigsh(h, 2).eigenvalues,
        grad=jax.grad(complex_loss)(h, lambda a: eigsh(a, 2)[:2]),
        ref=jax.grad(complex_loss)(h, by_eigh),
    )

    # A matvec that closes over the matrix: differentiated like `args` (outside probe:
    # the docstring said it was not).
    def closure_loss(a):
        return jnp.sum(eigsh(lambda v: a @ v, 2, n=6).eigenvalues ** 2)

    out["closure"] = dict(grad=jax.grad(closure_loss)(a_small),
                          ref=jax.grad(lambda a: jnp.sum(eigh(a)[0][:2] ** 2))(a_small))

    # Other operator kinds (values; the derivative rule is the one checked above).
    out["bcoo"] = eigsh(jsparse.BCOO.fromdense(a_small, nse=36), 2).eigenvalues
    if LINEAX is not None:
        out["lineax"] = eigsh(LINEAX.MatrixLinearOperator(a_small, LINEAX.symmetric_tag), 2).eigenvalues
    return out


def reference(theta, k):
    """Eigenvalues, loss and the closed-form gradient of `loss_parts` in θ (dense NumPy)."""
    lam, vec = np.linalg.eigh(L + np.diag(theta))
    v, u = vec[:, :k], vec[:, k:]
    # dλᵢ/dθⱼ = vᵢⱼ²; d(VVᵀ) = Σ_{i∈block, l∉block} (vₗᵀ dA vᵢ)/(λᵢ − λₗ) (vₗvᵢᵀ + vᵢvₗᵀ)
    # (the pairs inside the block cancel, so this holds at ties inside the block).
    grad = np.sum(v**2, axis=1)
    for i in range(k):
        coef = (u.T @ C) * (v[:, i] @ W) + (v[:, i] @ C) * (u.T @ W)  # over l
        coef = coef / (lam[i] - lam[k:])
        grad = grad + v[:, i] * (u @ coef)
    value = lam[:k].sum() + C @ (v @ (v.T @ W))
    return lam[:k], value, grad


def loss_np(theta, k):
    lam, vec = np.linalg.eigh(L + np.diag(theta))
    v = vec[:, :k]
    return lam[:k].sum() + C @ (v @ (v.T @ W))


def richardson(f, x, d, h=1e-3):
    def cd(h):
        return (f(x + h * d) - f(x - h * d)) / (2 * h)

    return (4 * cd(h / 2) - cd(h)) / 3


@pytest.fixture(scope="module")
def out():
    thetas = np.stack([THETA, ZERO, CROSS, THETA, NEAR])
    thetas[3, 5] = np.nan
    res = battery(jnp.asarray(thetas), jnp.asarray(SMALL))
    return jax.tree_util.tree_map(np.asarray, res)


def _lane(out, i):
    return {key: value[i] for key, value in out["lanes"].items()}


def test_eigenpairs_and_derivatives_without_ties(out):
    got = _lane(out, 0)
    lam, value, grad = reference(THETA, K)
    assert got["code"] == CONVERGED
    np.testing.assert_allclose(got["w"], lam, rtol=1e-12)
    v = got["v"]
    np.testing.assert_allclose(v.T @ v, np.eye(K), atol=1e-12)
    np.testing.assert_allclose((L + np.diag(THETA)) @ v, v * got["w"], atol=1e-9)
    np.testing.assert_allclose(got["value"], value, rtol=1e-10)
    np.testing.assert_allclose(got["grad"], grad, rtol=0, atol=1e-9 * np.abs(grad).max())
    np.testing.assert_allclose(got["jvp"], grad @ D, rtol=1e-9)
    np.testing.assert_allclose(got["jvp"], richardson(lambda t: loss_np(t, K), THETA, D), rtol=1e-7)


def test_tie_inside_the_block_is_exact(out):
    lam = np.linalg.eigvalsh(L)
    assert abs(lam[1] - lam[2]) < 1e-12 and lam[4] - lam[3] > 0.1  # the planted tie
    got = _lane(out, 1)
    _, value, grad = reference(ZERO, K)
    assert got["code"] == CONVERGED
    np.testing.assert_allclose(got["w"], lam[:K], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got["value"], value, rtol=1e-10)
    np.testing.assert_allclose(got["grad"], grad, rtol=0, atol=1e-9 * np.abs(grad).max())
    np.testing.assert_allclose(got["jvp"], richardson(lambda t: loss_np(t, K), ZERO, D), rtol=1e-7)


def test_tie_at_the_block_edge_is_flagged(out):
    lam = np.linalg.eigvalsh(L + np.diag(CROSS))
    assert abs(lam[4] - lam[3]) < 1e-12 and lam[5] - lam[4] > 0.05  # the planted tie
    got = _lane(out, 2)
    assert got["code"] == TIE_AT_EDGE
    np.testing.assert_allclose(got["w"], lam[:K], rtol=1e-12)  # the values are fine
    assert np.all(np.isnan(got["grad"])) and np.isnan(got["jvp"])


def test_near_tie_at_the_block_edge_is_differentiable(out):
    # The complement solves are ill-conditioned here (‖x‖ ≫ ‖b‖) and cannot meet the
    # default tangent_tol (eps^(3/4) relative) at their rounding floor: every derivative
    # was NaN under `converged` (from a relative gap of about 1e-5 down to the tie
    # tolerance), and CG run past that floor diverged. Solved to the floor, they are as
    # accurate as the gap allows (κ·eps).
    lam = np.linalg.eigvalsh(L + np.diag(NEAR))
    assert 1e-5 < lam[4] - lam[3] < 2e-5
    got = _lane(out, 4)
    _, value, grad = reference(NEAR, K)
    assert got["code"] == CONVERGED
    np.testing.assert_allclose(got["grad"], grad, rtol=0, atol=1e-7 * np.abs(grad).max())
    np.testing.assert_allclose(got["jvp"], grad @ D, rtol=1e-7)


def test_nonfinite_parameter(out):
    got = _lane(out, 3)
    assert got["code"] == NONFINITE
    assert np.all(np.isnan(got["w"])) and np.all(np.isnan(got["grad"])) and np.isnan(got["jvp"])


def test_vmap_lanes_are_independent(out):
    # The NaN lane stopped at once; the others converged on their own.
    assert list(out["lanes"]["code"]) == [CONVERGED, CONVERGED, TIE_AT_EDGE, NONFINITE, CONVERGED]


@pytest.mark.parametrize("which", ["smallest", "largest"])
def test_dense_matrix_gradient_matches_dense_eigh(out, which):
    lam = np.linalg.eigvalsh(SMALL)
    np.testing.assert_allclose(out[which]["w"], lam[:2] if which == "smallest" else lam[4:], rtol=1e-12)
    ref = out[which]["ref"]
    np.testing.assert_allclose(out[which]["grad"], ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_complex_hermitian(out):
    h = SMALL + 1j * (np.triu(SMALL, 1) - np.triu(SMALL, 1).T)
    np.testing.assert_allclose(out["complex"]["w"], np.linalg.eigvalsh(h)[:2], rtol=1e-12)
    ref = out["complex"]["ref"]
    np.testing.assert_allclose(out["complex"]["grad"], ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_sparse_and_lineax_operators(out):
    lam = np.linalg.eigvalsh(SMALL)[:2]
    np.testing.assert_allclose(out["bcoo"], lam, rtol=1e-12)
    if LINEAX is None:
        pytest.skip("lineax is not installed (it is optional)")
    np.testing.assert_allclose(out["lineax"], lam, rtol=1e-12)


def _path_matrix():
    n = 40
    return 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1) + np.diag(np.random.default_rng(1).uniform(0, 1, n))


def _tied_matrices():
    # λ = 1, 2, 2, 4, 5, 6 in a random basis: with k = 3 the tie λ₂ = λ₃ is inside the
    # block and the block is separated from the rest by 2 (the dense path, n < 3·ncv);
    # and the same with the tie split, λ₃ = 2.1.
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(6, 6)))
    return np.stack([(q * np.array([1.0, 2.0, third, 4.0, 5.0, 6.0])) @ q.T for third in (2.0, 2.1)])


def _rotated_50():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(50, 50)))
    e = rng.normal(size=(50, 50))
    return (q * np.linspace(1.0, 10.0, 50)) @ q.T, (e + e.T) / 2


# (scale of A, scale of its tangent) for the lanes of "tiny_tangent" below.
_TANGENT_SCALES = np.array([[1.0, 1.0], [1e-300, 1e-300], [1.0, 1e-160], [1.0, 1e-300], [1e150, 1.0]])


@jax.jit
def _edge_cases(a, a_tied, d_tied, b, skew):
    out = {}
    # A callable operator is taken as Hermitian, not symmetrized; a small one is
    # decomposed densely, and its residuals are those of the operator as given: a
    # non-Hermitian matvec reported `converged` with residuals 1e-15 where ‖A v − λ v‖
    # was 0.8. Its symmetric part, the same way, converges.
    for name, m in (("skew", skew), ("sym", (skew + skew.T) / 2)):
        r = eigsh(lambda x, m: m @ x, 2, args=(m,), n=8)
        out[name] = (r.eigenvalues, r.eigenvectors, r.info.residuals, _code(r), r.info.status == EigshStatus.not_hermitian)
    out["skew_grad"] = jax.grad(lambda m: eigsh(lambda x, m: m @ x, 2, args=(m,), n=8).eigenvalues.sum())(skew)
    # k = n: the block is the whole space (no complement to solve on; that solve was 0/0).
    out["kn_grad"] = jax.grad(lambda m: jnp.sum(eigsh(m, 3).eigenvectors[:, 0] ** 2 * jnp.arange(3.0)))(b)
    # Scale invariance: s·A with s = 1e-20 (no absolute floor in the iteration's tests),
    # and at 1e∓160, where squares of A·V under- and overflow unless A is scaled first.
    # (diag(1, ..., 40): at 1e-160 it gave 13.4, 16.9 as converged, at 1e160 NaN.)
    r = jax.vmap(lambda s: eigsh(s * jnp.diag(jnp.arange(1.0, 41.0)), 2))(jnp.array([1e-20, 1e-160, 1e160]))
    out["tiny"], out["tiny_code"] = r.eigenvalues, jax.vmap(_code)(r)
    # A shift A + tI moves no eigenvector: the exact dV is 0 (found by an outside probe:
    # the complement solve got a right-hand side that was rounding residue along V, and
    # dV was NaN with status `converged`); and d²/dt² Σλ(A + t³I) = 2·6t = 12 at t = 1.
    diag40 = jnp.diag(jnp.arange(1.0, 41.0))
    out["shift"] = jax.jvp(lambda m: eigsh(m, 2)[:2], (diag40,), (jnp.eye(40),))[1]
    # dV at ‖A‖ ~ 1e-300 (products of small components there fall below the normal
    # floats, which the CPU flushes to zero: dV was NaN, `converged`), and with the
    # tangent alone tiny, or A alone huge (the complement solves' right-hand sides then
    # ~1e-150 and below: dV 20 % off, or NaN, `converged`; outside probe).
    a50, e50 = _rotated_50()
    out["tiny_tangent"] = jax.vmap(lambda t, u: jax.jvp(lambda m: eigsh(m, 3)[:2], (t * a50,), (u * e50,)))(
        *_TANGENT_SCALES.T)
    out["shift2"] = jax.jvp(jax.grad(lambda t: eigsh(diag40 + t**3 * jnp.eye(40), 2).eigenvalues.sum()), (1.0,), (1.0,))[1]
    # A start block spanning the top eigenvectors when the smallest are wanted: it is
    # an invariant subspace with tiny residuals, but not the answer.
    top = jnp.linalg.eigh(a)[1][:, -6:]
    r = eigsh(a, 2, v0=top)
    out["v0top"], out["v0top_code"], out["v0top_it"] = r.eigenvalues, _code(r), r.info.iterations
    # maxiter exhausted: the status says so and every derivative is NaN.
    r = eigsh(a, 2, maxiter=1)
    out["maxiter_status"] = r.info.status == EigshStatus.max_iterations
    out["maxiter_grad"] = jax.grad(lambda m: eigsh(m, 2, maxiter=1).eigenvalues.sum())(a)

    # Σλᵢ² over the block, at a tie inside it (λ₂ = λ₃) and with the tie split by 0.1:
    # the gradient is exact in both; the Hessian is exact when split and NaN at the tie
    # (the first-order rule would give Σ Cᵢᵢ² for ‖C_c‖² there, a wrong number).
    def loss(m):
        return jnp.sum(eigsh(m, 3).eigenvalues ** 2)

    out["grad_sq"], out["hvp_sq"] = jax.vmap(
        lambda m: jax.jvp(jax.grad(loss), (m,), (d_tied,)), out_axes=(0, 0)
    )(a_tied)
    return out


def test_edge_cases():
    a, a_tied = _path_matrix(), _tied_matrices()
    d = np.random.default_rng(3).normal(size=(6, 6))
    d = (d + d.T) / 2
    b = np.array([[2.0, 1, 0], [1, 3, 1], [0, 1, 5]])
    skew = np.triu(np.ones((8, 8))) + np.diag(np.arange(8.0))
    got = jax.tree_util.tree_map(
        np.asarray, _edge_cases(jnp.asarray(a), jnp.asarray(a_tied), jnp.asarray(d), jnp.asarray(b), jnp.asarray(skew))
    )
    for name, m, code in (("skew", skew, NOT_HERMITIAN), ("sym", (skew + skew.T) / 2, CONVERGED)):
        w, v, resid, got_code, flagged = got[name]
        true_resid = np.linalg.norm(m @ v - v * w, axis=0)  # numpy, for the operator as given
        np.testing.assert_allclose(resid, true_resid, rtol=1e-10, atol=1e-13)
        assert got_code == code and bool(flagged) == (code == NOT_HERMITIAN), name
    np.testing.assert_allclose(got["sym"][0], np.linalg.eigvalsh((skew + skew.T) / 2)[:2], rtol=1e-12)
    assert np.min(np.linalg.norm(skew @ got["skew"][1] - got["skew"][1] * got["skew"][0], axis=0)) > 0.1
    assert np.all(np.isnan(got["skew_grad"]))
    # k = n against central differences (Richardson) of numpy's eigh, direction by direction.
    def kn_loss(m):
        return np.sum(np.linalg.eigh(m)[1][:, 0] ** 2 * np.arange(3.0))

    e01 = np.zeros((3, 3))
    e01[0, 1] = e01[1, 0] = 1.0
    for e in (e01, np.diag([1.0, 0, 0]), np.diag([0, 0, 1.0]) + np.ones((3, 3))):
        cd = [(kn_loss(b + h * e) - kn_loss(b - h * e)) / (2 * h) for h in (1e-3, 5e-4)]
        ref = (4 * cd[1] - cd[0]) / 3
        assert abs(np.sum(got["kn_grad"] * e) - ref) < 1e-9, (np.sum(got["kn_grad"] * e), ref)
    lam = np.linalg.eigvalsh(a)[:2]
    assert np.all(got["tiny_code"] == CONVERGED)
    np.testing.assert_allclose(got["shift"][0], [1.0, 1.0], rtol=1e-13)
    assert np.max(np.abs(got["shift"][1])) < 1e-12
    np.testing.assert_allclose(got["shift2"], 12.0, rtol=1e-12)
    # First-order perturbation theory with numpy's eigh: dvᵢ = Σⱼ vⱼ (vⱼᵀ E vᵢ)/(λᵢ − λⱼ).
    a50, e50 = _rotated_50()
    lam50, v50 = np.linalg.eigh(0.5 * (a50 + a50.T))
    c50 = v50.T @ e50 @ v50
    for j, (t, u) in enumerate(_TANGENT_SCALES):
        (w_t, v_t), (dw_t, dv_t) = jax.tree_util.tree_map(lambda x: x[j], got["tiny_tangent"])
        np.testing.assert_allclose(w_t / t, lam50[:3], rtol=1e-12)
        np.testing.assert_allclose(dw_t / u, np.diag(c50)[:3], rtol=1e-10)
        for i in range(3):
            gap = lam50[i] - lam50
            ref = v50 @ np.where(np.arange(50) == i, 0.0, c50[:, i] / np.where(gap == 0, 1.0, gap))
            sign = np.sign(v_t[:, i] @ v50[:, i])
            np.testing.assert_allclose(sign * dv_t[:, i] * (t / u), ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got["tiny"] / np.array([1e-20, 1e-160, 1e160])[:, None], [[1.0, 2.0]] * 3, rtol=1e-12)
    assert got["v0top_code"] == CONVERGED and got["v0top_it"] >= 1
    np.testing.assert_allclose(got["v0top"], lam, rtol=1e-12)
    assert got["maxiter_status"] and np.all(np.isnan(got["maxiter_grad"]))

    def grad_sq(m):  # d(Σλᵢ²)/dA = Σ 2λᵢ vᵢvᵢᵀ over the block
        w, v = np.linalg.eigh(m)
        return (v[:, :3] * (2 * w[:3])) @ v[:, :3].T

    h = 1e-5
    for i, m in enumerate(a_tied):
        np.testing.assert_allclose(got["grad_sq"][i], grad_sq(m), rtol=0, atol=1e-10)
    ref = (grad_sq(a_tied[1] + h * d) - grad_sq(a_tied[1] - h * d)) / (2 * h)
    np.testing.assert_allclose(got["hvp_sq"][1], ref, rtol=0, atol=1e-7)
    assert np.all(np.isnan(got["hvp_sq"][0]))


def test_float32_operator_under_x64_converges_to_its_precision():
    # A matvec that computes in float32, with no float args, under x64: the iteration is
    # float64 (from the args), and the default tolerances chased float64's precision,
    # which the operator cannot give: 1000 steps, `max_iterations`, NaN derivatives
    # (outside probe). They now follow the less precise of the two.
    n = 20
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(n, n)))
    b = jnp.asarray(q @ np.diag(np.arange(1.0, n + 1)) @ q.T, jnp.float32)
    w, _, info = eigsh(lambda v: b @ v.astype(jnp.float32), 2, n=n)
    assert info.status == EigshStatus.converged and int(info.iterations) < 50
    np.testing.assert_allclose(w, [1.0, 2.0], rtol=1e-5)


def test_unresolved_edge_gap_is_a_tie_even_with_tie_rtol_zero():
    # λ₃ = λ₄ exactly, tie_rtol=0 (the relative test switched off): the computed gap is
    # rounding (5e-15), below the Ritz pairs' residuals (~1e-12), and was reported
    # `converged` with projector gradients of 1e12 (outside probe).
    n = 30
    q, _ = np.linalg.qr(np.random.default_rng(14).normal(size=(n, n)))
    a = jnp.asarray(q @ np.diag(np.r_[1.0, 2.0, 3.0, 3.0, np.arange(5.0, n + 1)]) @ q.T)
    c = jnp.arange(n, dtype=float)

    def loss(m):
        w, v, info = eigsh(m, 3, tie_rtol=0.0)
        return jnp.sum(c * jnp.sum(v**2, axis=1)), info

    (_, info), g = jax.value_and_grad(loss, has_aux=True)(a)
    assert info.status == EigshStatus.tie_at_edge and float(info.gap) < 1e-10
    assert np.all(np.isnan(g))


def test_real_gap_under_a_loose_tol_is_not_a_tie():
    # Outside review of the test above: with tol=1e-4 the (k+1)-th residual is ~3e-5,
    # and "gap <= r_k + r_{k+1}" called a real gap of 5e-5 a tie (NaN derivatives). The
    # test is gap <= hypot(r_k, r_{k+1}) (each Ritz value within ~r²/gap of an eigenvalue).
    n = 400
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.concatenate([[0.0, 5e-5], np.linspace(0.3, 1.0, n - 2)])
    a, v0 = jnp.asarray((q * lam) @ q.T), jnp.asarray(rng.standard_normal(n))
    d = jnp.asarray(np.diag(rng.standard_normal(n)))

    def w0(s):
        w, _, info = eigsh(lambda x, m: m @ x, 1, (a + s * d,), n=n, tol=1e-4, v0=v0)
        return w[0], info

    (_, info), g = jax.value_and_grad(w0, has_aux=True)(0.0)
    assert info.status == EigshStatus.converged
    exact = float(q[:, 0] @ np.asarray(d) @ q[:, 0])  # dλ₁/ds = v₁ᵀ D v₁
    assert abs(float(g) - exact) <= 1e-3 * abs(exact), (float(g), exact)


def _scaled(v, t):
    return t * v


def test_eager_calls_reuse_the_executable_and_throw():
    from jaxgrad.linalg import _eigsh

    t = jnp.arange(1.0, 6.0)
    eigsh(_scaled, 2, (t,), n=5)
    size = _eigsh._eigsh_compiled._cache_size()
    r = eigsh(_scaled, 2, (t + 1,), n=5)
    assert _eigsh._eigsh_compiled._cache_size() == size
    np.testing.assert_allclose(r.eigenvalues, [2.0, 3.0])
    with pytest.raises(eqx.EquinoxRuntimeError, match="non-finite"):
        eigsh(_scaled, 2, (t * jnp.nan,), n=5, throw=True)


def test_bad_inputs():
    theta = jnp.asarray(THETA)
    with pytest.raises(ValueError, match="`k`"):
        eigsh(matvec, 0, (theta,), n=N)
    with pytest.raises(ValueError, match="`k`"):
        eigsh(jnp.eye(3), 4)
    with pytest.raises(ValueError, match="which"):
        eigsh(jnp.eye(3), 1, which="LM")
    with pytest.raises(ValueError, match="square"):
        eigsh(jnp.ones((3, 4)), 1)
    with pytest.raises(ValueError, match="`n`"):
        eigsh(matvec, 2, (theta,))
    with pytest.raises(ValueError, match="`n`=7 does not match the operator size 5"):
        eigsh(jnp.eye(5), 1, n=7)  # (a matrix with another n ran on n = 5)
    with pytest.raises(ValueError, match="is `n` the size of its operator"):  # was a raw dot_general error
        eigsh(lambda v: jnp.eye(5) @ v, 1, n=6)
    with pytest.raises(ValueError, match="shape"):
        eigsh(lambda v: v[:3], 1, n=8)
    with pytest.raises(TypeError, match="matvec must return floating-point values"):  # was numpy's "not inexact"
        eigsh(lambda v: jnp.eye(5, dtype=int) @ v.astype(int), 1, n=5)
    with pytest.raises(TypeError, match="lineax operator"):
        eigsh("A", 1)
    with pytest.raises(TypeError, match="args"):
        eigsh(jnp.eye(3), 1, (theta,))
    with pytest.raises(ValueError, match="ncv"):
        eigsh(matvec, 2, (theta,), n=N, ncv=2)
    with pytest.raises(ValueError, match="ncv"):  # the guard must not be the last column
        eigsh(matvec, 2, (theta,), n=N, ncv=3)
    with pytest.raises(ValueError, match="tol"):
        eigsh(matvec, 2, (theta,), n=N, tol=-1.0)
    # A relative residual of 1 or more is met by any unit vector: a sanity bound (a loose
    # tol below it still gives eigenvalues only to about tol·‖A‖).
    for name in ("tol", "tangent_tol"):
        with pytest.raises(ValueError, match=f"`{name}` is relative to ‖A‖ and must be < 1"):
            eigsh(matvec, 2, (theta,), n=N, **{name: 10.0})
        with pytest.raises(ValueError, match=f"`{name}` is relative"):
            eigsh(matvec, 2, (theta,), n=N, **{name: 1.0})
    # A concrete 0-d real array is its number (as for quad's tolerances); other arrays,
    # booleans, complex values and strings are not (float() took a string tie_rtol).
    from jaxgrad.linalg._eigsh import _check_real
    from jaxgrad.linalg._ties import check_tie_rtol

    assert _check_real("tol", jnp.array(1e-8)) == 1e-8 == check_tie_rtol(np.float64(1e-8))
    for bad in (jnp.ones(2), jnp.array(True), jnp.array(1j), "1e-8"):
        with pytest.raises(TypeError, match="tol"):
            eigsh(matvec, 2, (theta,), n=N, tol=bad)
        with pytest.raises(TypeError, match="tie_rtol"):
            eigsh(matvec, 2, (theta,), n=N, tie_rtol=bad)


def test_docs_inverse_eigenvalue_example():
    # The example of docs/partial-eigensolver.md, as printed there (x64 is on here).
    from jaxgrad.optimize import Status, minimize

    nx = 10
    n = nx * nx
    x, y = [g.reshape(-1) for g in jnp.meshgrid(*2 * [jnp.linspace(0.0, 1.0, nx)], indexing="ij")]
    basis = jnp.stack([jnp.ones(n), x, y], axis=1)

    def matvec(v, theta):
        u = v.reshape(nx, nx)
        p = jnp.pad(u, 1)
        lap = 4 * u - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
        return lap.reshape(-1) + theta * v

    def lowest(p, k=3):
        return eigsh(matvec, k, (basis @ p,), n=n).eigenvalues

    targets = lowest(jnp.array([0.1, 0.3, -0.2]))

    def misfit(p, targets):
        return jnp.sum((lowest(p) - targets) ** 2)

    sol = minimize(misfit, jnp.array([0.0, 0.1, 0.0]), (targets,))
    assert sol.status == Status.converged
    # The hidden potential reflected y -> 1 - y (the same spectrum), as the page says.
    np.testing.assert_allclose(sol.x, [-0.1, 0.3, 0.2], atol=1e-9)
    # An independent check of the eigenvalues at the solution.
    theta = np.asarray(basis @ sol.x)
    lam = np.linalg.eigvalsh(np.kron(np.eye(nx), np.diag(np.full(nx, 2.0)) - np.eye(nx, k=1) - np.eye(nx, k=-1))
                             + np.kron(np.diag(np.full(nx, 2.0)) - np.eye(nx, k=1) - np.eye(nx, k=-1), np.eye(nx))
                             + np.diag(theta))[:3]
    np.testing.assert_allclose(lam, targets, rtol=1e-10)


def test_block_cg_floor_cannot_certify_a_blown_up_iterate():
    # The derivative solves stop at their rounding floor 4·eps·‖x‖ (see
    # test_near_tie_at_the_block_edge_is_differentiable), capped by the largest ‖x‖ a
    # solution can have (2‖b‖/λ_min): on an inconsistent system CG's iterate grows
    # without bound, and an uncapped floor grew with it and accepted the garbage
    # (‖x‖/‖b‖ = 2e11, relative residual 7e-4, for tol 1.8e-12). A consistent system of
    # condition 3e9 is solved to its floor (error about κ·eps, against numpy).
    from jaxgrad.linalg._chfsi import cg_block

    rng = np.random.default_rng(0)
    n = 50
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.linspace(0.01, 3, n)
    lam[0] = 0.0
    m = q @ np.diag(lam) @ q.T
    b = rng.normal(size=n)
    b = b - (q[:, 0] @ b) * q[:, 0] + 1e-8 * np.linalg.norm(b) * q[:, 0]
    solve = jax.jit(lambda m, b, lmin: cg_block(lambda x: x @ m.T, b[None], tol=1.8e-12, maxiter=20000, lambda_min=lmin))
    assert np.all(np.isnan(solve(m, b, 0.01)))
    lam[0] = 1e-9
    m = q @ np.diag(lam) @ q.T
    x = np.asarray(solve(m, b, 1e-9))[0]
    ref = np.linalg.solve(m, b)
    assert np.linalg.norm(x - ref) <= 1e-5 * np.linalg.norm(ref)


@jax.jit
def _iterative_skew(t):
    n = 100
    a = jnp.diag(jnp.arange(1.0, n + 1.0)).at[0, n - 1].set(3.0)
    e = jnp.zeros((n, n)).at[n - 1, 0].set(1.0)
    out = {}
    for name, m in (("skew", a), ("sym", (a + a.T) / 2)):
        def lowest(t, m=m):
            return eigsh(lambda v, t: (m + t * e) @ v, 2, (t,), n=n).eigenvalues[0]

        r = eigsh(lambda v: m @ v, 2, n=n)
        out[name] = (r.eigenvalues, _code(r), jax.grad(lowest)(t))
    return out


def test_non_hermitian_operator_on_the_iterative_path_is_flagged():
    # diag(1, ..., 100) with 3 at A[0, 99] (n = 100: the iterative path): e₁ and e₂ are
    # exact, orthonormal right eigenvectors for λ = 1, 2, so the iteration converges, but
    # they are not left eigenvectors, and dλ₁/dA[99, 0] is 3/(1 − 100) (the last entry of
    # the left eigenvector y = e₁ + 3/(λ₁ − λ₁₀₀)·e₁₀₀, yᵀe₁ = 1), not the Hermitian rule's
    # v₁ᵀ E v₁ = 0.
    # It was reported `converged` with that 0 (outside probe); now `not_hermitian`, with
    # NaN derivatives. The operator's symmetric part converges, and its derivative along
    # the same E is e₁ᵀ E e₁ = 0 plus the rotation's, checked against numpy.
    got = _iterative_skew(0.0)
    w, code, grad = got["skew"]
    np.testing.assert_allclose(w, [1.0, 2.0], rtol=1e-10)
    assert int(code) == NOT_HERMITIAN and np.isnan(float(grad))
    w, code, grad = got["sym"]
    assert int(code) == CONVERGED
    a = np.diag(np.arange(1.0, 101.0))
    a[0, 99] = a[99, 0] = 1.5
    e = np.zeros((100, 100))
    e[99, 0] = 1.0
    # (At a symmetric point dλ = vᵀ E v = vᵀ ((E + Eᵀ)/2) v: the symmetrized direction.)
    lowest = lambda t: np.linalg.eigvalsh(a + t * (e + e.T) / 2)[0]  # noqa: E731
    h = 1e-5
    ref = (lowest(h) - lowest(-h)) / (2 * h)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a)[:2], rtol=1e-10)
    np.testing.assert_allclose(float(grad), ref, rtol=1e-6)


@pytest.mark.parametrize("n", [12, 60])  # decomposed densely; the iterative path
def test_an_operator_not_hermitian_only_outside_the_wanted_pairs_is_flagged(n):
    # diag(1, ..., 10) with 1e-6·(random upper triangle) in the block of all but the four
    # smallest: e₁, e₂ are exact left and right eigenvectors, so the checks of the wanted
    # pairs passed, and the status was `converged` with NaN derivatives (the derivative
    # rule's solves on the complement fail; outside probe). The operator itself is now
    # checked: `not_hermitian`. Its symmetric part converges to numpy's eigenvalues.
    rng = np.random.default_rng(19)
    skew = np.zeros((n, n))
    skew[4:, 4:] = 1e-6 * np.triu(rng.standard_normal((n - 4, n - 4)), 1)
    for m, expected in ((np.diag(np.linspace(1.0, 10.0, n)) + skew, NOT_HERMITIAN),
                        (np.diag(np.linspace(1.0, 10.0, n)) + (skew + skew.T) / 2, CONVERGED)):
        mj = jnp.asarray(m)
        r = eigsh(lambda v: mj @ v, 2, n=n)
        assert int(_code(r)) == expected, (n, expected)
    np.testing.assert_allclose(r.eigenvalues, np.linalg.eigvalsh(m)[:2], rtol=1e-12)


def test_a_matvec_closing_over_its_matrix_is_differentiated(out):
    np.testing.assert_allclose(out["closure"]["grad"], out["closure"]["ref"], atol=1e-10)
    lam, vec = np.linalg.eigh(SMALL)  # d Σ λᵢ² = Σ 2λᵢ vᵢvᵢᵀ over the two smallest
    np.testing.assert_allclose(out["closure"]["grad"], 2 * (vec[:, :2] * lam[:2]) @ vec[:, :2].T, atol=1e-10)
