"""Property test: planted eigenvalue ties R·diag(λ with repeats)·Rᵀ.

For every generated spectrum the gradient of (a) the projector onto one tied cluster
(contracted with a fixed matrix) and (b) the sum of that cluster's eigenvalues must match
mpmath central differences. One jitted function per matrix size serves every example.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference as ref
from jaxgrad.linalg import eigh

SETTINGS = settings(
    deadline=None,
    max_examples=25,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _losses(a, c, mask):
    """(Re<C, V diag(mask) Vᵀ>, Σ mask·λ) -- the cluster's projector and eigenvalue sum."""
    w, v = eigh(a)
    proj = (v * mask) @ v.T
    return jnp.sum(c * proj), jnp.sum(mask * w)


# Jacobian of both losses: shape (2, n, n). Compiled once per n.
_jacobian = jax.jit(jax.jacrev(lambda a, c, mask: jnp.stack(_losses(a, c, mask))))


def _mp_losses(c, cols):
    def loss(m):
        w, v = ref.mp_eigh(m)
        n = m.rows
        proj = sum(c[i, j] * v[i, k] * v[j, k] for k in cols for i in range(n) for j in range(n))
        return [proj, sum(w[k] for k in cols)]

    return loss


def _compositions(n):
    """Ordered multiplicity patterns of n eigenvalues with at least one repeat."""
    if n == 0:
        return [[]]
    out = [[k, *rest] for k in range(1, n + 1) for rest in _compositions(n - k)]
    return out


def _tied_patterns(n):
    return [c for c in _compositions(n) if max(c) > 1]


@st.composite
def planted_ties(draw, n):
    """(matrix, the chosen cluster's columns) for a spectrum with repeated eigenvalues."""
    sizes = draw(st.sampled_from(_tied_patterns(n)))
    # distinct cluster values on a grid of step 0.25 in [-3, 3] (well separated)
    values = sorted(
        draw(st.lists(st.integers(-12, 12), min_size=len(sizes), max_size=len(sizes), unique=True))
    )
    spectrum = np.repeat(np.asarray(values, dtype=float) * 0.25, sizes)
    seed = draw(st.integers(0, 2**20))
    which = draw(st.integers(0, len(sizes) - 1))
    start = int(sum(sizes[:which]))
    cols = tuple(range(start, start + sizes[which]))
    return ref.planted(spectrum, seed=seed), cols


def _check(a, cols):
    n = a.shape[0]
    c = np.random.default_rng(n).normal(size=(n, n))
    mask = np.zeros(n)
    mask[list(cols)] = 1.0
    jac = np.asarray(_jacobian(a, c, mask))
    assert np.all(np.isfinite(jac)), (a, cols)
    mp_loss = _mp_losses(c, cols)
    for seed in (0, 1):
        e = np.random.default_rng(100 + seed).normal(size=(n, n))
        e = (e + e.T) / 2
        expected = ref.directional_derivative(mp_loss, a, e).real
        actual = np.tensordot(jac, e, axes=([1, 2], [0, 1]))
        scale = max(float(np.max(np.abs(expected))), 1.0)
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-10 * scale, err_msg=f"{cols}")


@SETTINGS
@given(planted_ties(4))
def test_planted_ties_n4(case):
    _check(*case)


@SETTINGS
@given(planted_ties(3))
def test_planted_ties_n3(case):
    _check(*case)


def test_tied_patterns():
    assert sorted(map(tuple, _tied_patterns(3))) == [(1, 2), (2, 1), (3,)]
    assert len(_tied_patterns(4)) == 7  # 8 compositions of 4 minus (1, 1, 1, 1)
