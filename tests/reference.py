"""Independent references: decompositions in mpmath and high-precision central differences.

Nothing here calls jaxgrad or JAX. A loss is written once as a function of an mpmath
matrix (using the mpmath decompositions below), differentiated by central differences
at ``DPS`` digits with one Richardson step, and compared with jaxgrad's derivative.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

DPS = 40
STEP = mp.mpf("1e-12")


def to_mp(a) -> mp.matrix:
    a = np.asarray(a)
    out = mp.matrix(a.shape[0], a.shape[1])
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            z = complex(a[i, j])
            out[i, j] = mp.mpc(z.real, z.imag) if np.iscomplexobj(a) else mp.mpf(z.real)
    return out


def to_np(m, dtype=np.complex128) -> np.ndarray:
    if not isinstance(m, mp.matrix):
        return np.asarray(complex(m), dtype=dtype)
    return np.array([[complex(m[i, j]) for j in range(m.cols)] for i in range(m.rows)], dtype=dtype)


def _fix_sign(v: mp.matrix) -> mp.matrix:
    """Columns scaled so that their largest-magnitude entry is real and positive."""
    v = v.copy()
    for j in range(v.cols):
        p = max(range(v.rows), key=lambda i: abs(v[i, j]))
        phase = v[p, j] / abs(v[p, j])
        for i in range(v.rows):
            v[i, j] = v[i, j] / phase
    return v


def mp_eigh(a: mp.matrix):
    """Ascending eigenvalues and eigenvectors of a Hermitian mpmath matrix."""
    w, v = mp.eighe(a) if any(mp.im(x) != 0 for x in a) else mp.eigsy(a)
    order = sorted(range(len(w)), key=lambda i: w[i])
    ws = [w[i] for i in order]
    vs = mp.matrix(a.rows, a.cols)
    for new, old in enumerate(order):
        for i in range(a.rows):
            vs[i, new] = v[i, old]
    return ws, _fix_sign(vs)


def mp_svd(a: mp.matrix):
    """Thin SVD ``a = U diag(s) Vh`` with descending singular values."""
    if any(mp.im(x) != 0 for x in a):
        u, s, vh = mp.svd_c(a, full_matrices=False)
    else:
        u, s, vh = mp.svd_r(a, full_matrices=False)
    order = sorted(range(len(s)), key=lambda i: -s[i])
    k = len(s)
    us, vhs = mp.matrix(a.rows, k), mp.matrix(k, a.cols)
    for new, old in enumerate(order):
        for i in range(a.rows):
            us[i, new] = u[i, old]
        for j in range(a.cols):
            vhs[new, j] = vh[old, j]
    return us, [s[i] for i in order], vhs


def mp_eig(a: mp.matrix):
    """Eigenvalues and unit right eigenvectors, largest entry real positive (jaxgrad's convention)."""
    w, v = mp.eig(a)
    v = v.copy()
    for j in range(v.cols):
        nrm = mp.sqrt(sum(abs(v[i, j]) ** 2 for i in range(v.rows)))
        for i in range(v.rows):
            v[i, j] /= nrm
    return list(w), _fix_sign(v)


def _flatten(y) -> list:
    if isinstance(y, mp.matrix):
        return [y[i, j] for i in range(y.rows) for j in range(y.cols)]
    if isinstance(y, (list, tuple)):
        out = []
        for item in y:
            out.extend(_flatten(item))
        return out
    return [y]


def directional_derivative(loss, a, e, *, dps: int = DPS, step=STEP) -> np.ndarray:
    """d/dt loss(a + t e) at t = 0, by central differences in ``dps``-digit arithmetic.

    One Richardson step combines steps ``h`` and ``h/2``: the O(h²) error term
    cancels, leaving O(h⁴) ≈ 1e-48 against a rounding error of ~10^(-dps)/h.
    ``loss`` maps an mpmath matrix to an mpmath number, matrix, or list of them;
    the result is a flat complex array.
    """
    with mp.workdps(dps):
        a_mp, e_mp = to_mp(a), to_mp(e)

        def central(h):
            plus = _flatten(loss(a_mp + h * e_mp))
            minus = _flatten(loss(a_mp - h * e_mp))
            return [(p - m) / (2 * h) for p, m in zip(plus, minus)]

        d1, d2 = central(step), central(step / 2)
        return np.array([complex((4 * y2 - y1) / 3) for y1, y2 in zip(d1, d2)])


def gradient(loss, a, *, hermitian: bool = False, dps: int = DPS) -> np.ndarray:
    """Gradient of a real scalar loss w.r.t. a real matrix ``a`` (entrywise directions).

    With ``hermitian=True`` the directions are symmetric (e_ij + e_ji)/2, giving the
    gradient of ``loss((a + aᵀ)/2)`` -- what a symmetrizing eigh differentiates.
    """
    a = np.asarray(a)
    n, m = a.shape
    g = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            e = np.zeros((n, m))
            if hermitian:
                e[i, j] += 0.5
                e[j, i] += 0.5
            else:
                e[i, j] = 1.0
            g[i, j] = directional_derivative(loss, a, e, dps=dps)[0].real
    return g


def rotation(n: int, seed: int) -> np.ndarray:
    """A fixed random orthogonal matrix."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def planted(eigenvalues, seed: int) -> np.ndarray:
    """``R diag(eigenvalues) Rᵀ`` in float64: ties become splits of rounding size."""
    r = rotation(len(eigenvalues), seed)
    return (r * np.asarray(eigenvalues, dtype=float)) @ r.T


def to_object(m) -> np.ndarray:
    """An mpmath matrix as a numpy object array of mpf/mpc (numpy ops keep full precision)."""
    return np.array(m.tolist(), dtype=object)


def complex_gradient(loss, a, *, dps: int = DPS) -> np.ndarray:
    """``∂L/∂Re a + i ∂L/∂Im a`` of a real scalar loss of a complex matrix ``a``.

    ``jax.grad`` of a real loss of a complex input returns the complex conjugate of this.
    """
    a = np.asarray(a, dtype=complex)
    n, m = a.shape
    g = np.zeros((n, m), dtype=complex)
    for i in range(n):
        for j in range(m):
            e = np.zeros((n, m), dtype=complex)
            e[i, j] = 1.0
            re = directional_derivative(loss, a, e, dps=dps)[0].real
            e[i, j] = 1j
            im = directional_derivative(loss, a, e, dps=dps)[0].real
            g[i, j] = re + 1j * im
    return g


def mp_eig_like(a: mp.matrix, targets):
    """``mp_eig`` with eigenvalues (and eigenvector columns) ordered like ``targets``.

    ``mp.eig`` has no fixed order; each target takes the nearest unused eigenvalue, so
    under a small perturbation the i-th output keeps following the i-th eigenvalue.
    """
    w, v = mp_eig(a)
    free = list(range(len(w)))
    order = []
    for t in targets:
        best = min(free, key=lambda i: abs(w[i] - mp.mpc(complex(t).real, complex(t).imag)))
        free.remove(best)
        order.append(best)
    vs = mp.matrix(v.rows, v.cols)
    for new, old in enumerate(order):
        for i in range(v.rows):
            vs[i, new] = v[i, old]
    return [w[i] for i in order], vs


def second_directional_derivative(loss, a, e1, e2, *, dps: int = DPS, step=mp.mpf("1e-8")) -> float:
    """∂²/∂s∂t loss(a + s e1 + t e2) at 0 for a real scalar ``loss``, by mixed central
    differences in ``dps``-digit arithmetic with one Richardson step (error O(h⁴))."""
    with mp.workdps(dps):
        a_mp, e1_mp, e2_mp = to_mp(a), to_mp(e1), to_mp(e2)

        def mixed(h):
            f = lambda s, t: mp.re(loss(a_mp + (s * h) * e1_mp + (t * h) * e2_mp))  # noqa: E731
            return (f(1, 1) - f(1, -1) - f(-1, 1) + f(-1, -1)) / (4 * h * h)

        return float((4 * mixed(step / 2) - mixed(step)) / 3)


def assert_close(got, ref, rtol=1e-9):
    """Finite, same shape, and max |got − ref| <= rtol · max(1, max|ref|)."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert np.all(np.isfinite(got)), got
    scale = max(1.0, float(np.max(np.abs(ref))))
    err = float(np.max(np.abs(got - ref)))
    assert err <= rtol * scale, f"max error {err:.3e} > {rtol:.1e} * {scale:.3e}"


def rand(shape, seed, complex_=False):
    """A seeded standard normal array (complex with independent parts if asked)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    if complex_:
        x = x + 1j * rng.normal(size=shape)
    return x
