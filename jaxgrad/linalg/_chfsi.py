"""The block iteration behind `eigsh`: Chebyshev-filtered subspace iteration.

Everything here computes the ``m`` *smallest* eigenpairs of a Hermitian operator given
as a block map ``apply(Y) = A Y`` on ``(n, m)`` blocks (`eigsh` passes ``−A`` for the
largest). Fixed shapes, `lax.while_loop`s, so it runs under `jax.jit` and `jax.vmap`.
It is never differentiated: `eigsh` puts a `custom_jvp` rule around it.

Method (Zhou & Saad 2007, "A Chebyshev–Davidson algorithm for large symmetric
eigenproblems"; Zhou, Saad, Tiago & Chelikowsky 2006 for the block form): each step
applies to the block ``X`` the degree-``d`` Chebyshev polynomial of ``A`` that is small
(|·| <= 1) on ``[a, b]`` and grows fast below ``a``, with ``a`` the largest Ritz value
of the block and ``b`` an upper bound of the spectrum; then a Householder QR and a
Rayleigh–Ritz on the filtered block. Eigenvector ``i`` gains on ``m + 1`` by about
``exp(2 d sqrt((a − λᵢ)/(b − a)))`` per step: the square-root rate of Krylov methods,
the best a polynomial can do.

Why not LOBPCG (which the issue allows and which we tried first): on the 100 × 100 grid
Laplacian each LOBPCG step is a Rayleigh–Ritz on a ``3m``-column basis whose dense
``n × 3m`` products cost ~5 ms, and the unpreconditioned iteration needs over a
thousand steps (56 s for 10,000 steps without reaching 1e-10), while the matvec of a
stencil costs a fraction of that. Here the dense work (QR and Rayleigh–Ritz) happens
once per ``d`` block matvecs, and the basis is re-orthonormalised by a Householder QR
and ``A Q`` recomputed every step, so nothing drifts: the residuals reach ``eps·‖A‖``
where our LOBPCG, with its implicitly updated ``A X``, stalled near ``sqrt(eps)·‖A‖``.

The filter is the scaled three-term recurrence of Zhou & Saad (2007),
normalised to 1 at ``a0 ≈ λ₁``, so nothing overflows. The degree is chosen per step so
that ``λ₁`` gains at most ``eps^(-1/3)`` over ``a``: the filtered block then has a
condition number the QR resolves, and the components of the guard vectors are not lost
to rounding.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

from .._where import where


def mH(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


class SubspaceOut(NamedTuple):
    theta: jnp.ndarray  # (m,) ascending Ritz values
    x: jnp.ndarray  # (n, m) orthonormal Ritz vectors
    resid: jnp.ndarray  # (m,) residual norms ‖A xᵢ − θᵢ xᵢ‖
    anorm: jnp.ndarray  # () estimate of ‖A‖
    iterations: jnp.ndarray  # () int, filter-and-Rayleigh–Ritz steps
    matvecs: jnp.ndarray  # () int, operator applications to single vectors
    code: jnp.ndarray  # () int: 0 converged, 1 max iterations, 2 non-finite


def lanczos_bounds(apply, v, steps: int):
    """Lower and upper estimates of the spectrum from ``steps`` Lanczos steps started at
    ``v`` (``(n, 1)``): ``(θ_min, θ_max + |β|)`` (plus a margin). The upper one is the bound
    of Zhou & Li (2011, "Bound the spectrum of large Hermitian matrices"): the Chebyshev
    filter must not amplify the top of the spectrum, so ``b`` must be above it."""
    rdtype = jnp.finfo(v.dtype).dtype
    v = v / jnp.linalg.norm(v)

    def body(j, st):
        v, v_prev, beta_prev, alphas, betas = st
        w = apply(v) - beta_prev.astype(v.dtype) * v_prev
        alpha = jnp.real(jnp.sum(jnp.conj(v) * w))
        w = w - alpha.astype(v.dtype) * v
        beta = jnp.linalg.norm(w)
        ok = beta > 0
        v_next = where(ok, w / where(ok, beta, 1), 0)
        return v_next, v, beta, alphas.at[j].set(alpha), betas.at[j].set(beta)

    zeros = jnp.zeros(steps, rdtype)
    init = (v, jnp.zeros_like(v), jnp.zeros((), rdtype), zeros, zeros)
    _, _, beta, alphas, betas = lax.fori_loop(0, steps, body, init)
    # (Not `jnp.diag(betas[:-1], 1)`: its lowering costs a second of compile time.)
    upper = jnp.eye(steps, k=1, dtype=rdtype) * betas[:, None]
    t = jnp.diag(alphas) + upper + upper.T
    ev = jnp.linalg.eigvalsh(t)
    # 1 % of the spread on top: a safety margin for the bound (an underestimate would be
    # amplified by the filter), at a cost of about 0.5 % in the convergence rate.
    upper = ev[-1] + jnp.abs(beta)
    return ev[0], upper + 0.01 * (upper - ev[0])


def chebyshev_filter(apply, x, degree, a, b, a0):
    """``p(A) X`` with ``p`` the degree-``degree`` Chebyshev polynomial of ``[a, b]``
    scaled to ``p(a0) ≈ 1`` (the scaled recurrence of Zhou & Saad 2007); ``degree >= 1``
    traced."""
    dtype = x.dtype
    e = (b - a) / 2
    c = (b + a) / 2
    sigma = e / (a0 - c)
    tau = 2 / sigma
    y = (apply(x) - c.astype(dtype) * x) * (sigma / e).astype(dtype)

    def cond(st):
        return st[0] < degree

    def body(st):
        i, x, y, sigma = st
        sigma_new = 1 / (tau - sigma)
        y_new = (apply(y) - c.astype(dtype) * y) * (2 * sigma_new / e).astype(dtype)
        y_new = y_new - (sigma * sigma_new).astype(dtype) * x
        return i + 1, y, y_new, sigma_new

    _, _, y, _ = lax.while_loop(cond, body, (jnp.ones((), jnp.int32), x, y, sigma))
    return y


def rayleigh_ritz(apply, x):
    """Orthonormalise ``x`` (Householder QR) and return the Ritz values (ascending),
    Ritz vectors and their images ``A X``."""
    q, _ = jnp.linalg.qr(x)
    aq = apply(q)
    h = mH(q) @ aq
    theta, y = jnp.linalg.eigh((h + mH(h)) / 2)
    return theta, q @ y, aq @ y


def subspace_iteration(
    apply, x0, *, nconv: int, tol, maxiter: int, guard_tol=None, apply_rows=None, max_degree: int = 64
):
    """The ``m = x0.shape[1]`` smallest eigenpairs of ``apply``; stop when the residuals
    of the first ``nconv`` are ``<= tol * ‖A‖`` and, with ``guard_tol``, the residual of
    the next one is ``<= guard_tol * ‖A‖`` (or after ``maxiter`` filter steps).

    ``apply_rows(Y) = (A Yᵀ)ᵀ`` on ``(m, n)`` blocks, if given, is what the filter uses:
    a matvec mapped over the rows reads each vector contiguously (1.5× faster for a
    stencil at n = 250,000 than over the columns), and the filter's ``d`` steps pay for
    the two transposes."""
    n, m = x0.shape
    dtype = x0.dtype
    rdtype = jnp.finfo(dtype).dtype
    eps = float(np.finfo(rdtype).eps)
    gain = eps ** (-1 / 3)  # the largest amplification of λ₁ over a per step (see above)
    acosh_gain = float(np.arccosh(gain))

    lanczos_steps = min(n, 20)
    low, upper = lanczos_bounds(apply, x0[:, :1], lanczos_steps)
    theta, x, ax = rayleigh_ritz(apply, x0)
    nmv0 = lanczos_steps + m

    def resid(x, ax, theta):
        return jnp.linalg.norm(ax - x * theta[None, :].astype(dtype), axis=0)

    # ‖A‖ for the tolerance: the largest magnitude among the spectrum's bounds.
    anorm = jnp.maximum(jnp.abs(upper), jnp.abs(low)).astype(rdtype)

    def finite(theta, rho):
        return jnp.all(jnp.isfinite(theta)) & jnp.all(jnp.isfinite(rho))

    def done(rho):
        ok = jnp.all(rho[:nconv] <= tol * anorm)
        if guard_tol is not None and nconv < m:
            ok = ok & (rho[nconv] <= guard_tol * anorm)
        return ok

    # At least one filter step before convergence is declared: the start block alone
    # (a user's `v0` spanning an invariant subspace, e.g. the wrong end of the spectrum)
    # has small residuals without being the wanted pairs; the filter amplifies what lies
    # below its Ritz values (the caller mixes random components into such a block).
    def cond(st):
        _, theta, rho, it, _ = st
        return (it < maxiter) & ((it == 0) | ~done(rho)) & finite(theta, rho)

    def body(st):
        x, theta, rho, it, nmv = st
        a = theta[-1]
        a0 = jnp.minimum(theta[0], low)
        width = upper - a
        # A block that already spans the whole spectrum's top (or a multiple of I): no
        # filter to apply; the Rayleigh–Ritz alone is exact. Relative to ‖A‖ (no absolute
        # floor), so that s·A behaves as A for any scale s.
        flat = width <= eps * anorm
        e = where(flat, 1, width / 2)
        ell = jnp.maximum((a + upper) / 2 - a0, e) / e  # |ℓ(a0)| >= 1
        per_degree = jnp.arccosh(jnp.maximum(ell, 1 + eps))
        degree = jnp.clip(jnp.floor(acosh_gain / per_degree), 1, max_degree).astype(jnp.int32)
        degree = where(flat, 1, degree)  # the filtered block is discarded then
        safe_a = where(flat, upper - 1, a)
        safe_a0 = where(a0 < safe_a, a0, safe_a - 1)
        if apply_rows is None:
            y = chebyshev_filter(apply, x, degree, safe_a, upper, safe_a0)
        else:
            y = chebyshev_filter(apply_rows, x.T, degree, safe_a, upper, safe_a0).T
        y = where(flat, x, y)
        theta, x, ax = rayleigh_ritz(apply, y)
        return x, theta.astype(rdtype), resid(x, ax, theta), it + 1, nmv + m * (degree + 1)

    rho = resid(x, ax, theta).astype(rdtype)
    st = (x, theta.astype(rdtype), rho, jnp.zeros((), jnp.int32), jnp.asarray(nmv0, jnp.int32))
    x, theta, rho, it, nmv = lax.while_loop(cond, body, st)
    ok = finite(theta, rho) & jnp.isfinite(anorm)
    conv = done(rho) & (it >= 1)
    code = where(ok, where(conv, 0, 1), 2).astype(jnp.int32)
    return SubspaceOut(theta, x, rho, anorm, it, nmv, code)


def cg_block(op, b, *, tol, maxiter: int, lambda_min, deflation=None):
    """Conjugate gradients for ``op(X) = B`` row by row: ``b`` is ``(k, n)``, one system
    per row (the layout the matvec is mapped over fastest, see `subspace_iteration`);
    ``op`` acts on such blocks and is Hermitian positive definite on the space the rows
    of ``b`` live in.

    ``deflation = (w, coarse)``: deflated CG (Saad, Yeung, Erhel & Guyomarc'h 2000) with
    the columns of ``w`` (``(n, g)``) as the deflation space; ``coarse(r, initial)``
    returns, per row, ``Eᵢ⁻¹ Wᴴ rᵢ`` (initial) or ``Eᵢ⁻¹ (Mᵢ W)ᴴ rᵢ``, shape ``(k, g)``,
    with ``Eᵢ = Wᴴ Mᵢ W`` and ``Mᵢ`` the operator of row ``i``. The search directions stay
    M-orthogonal to ``w``, so CG runs on the rest of the spectrum: if ``w`` spans the
    eigenvectors that make ``op`` ill conditioned, the condition number drops
    accordingly. The solution is exact whatever ``w`` is; only the speed depends on it.

    A row stops at a residual of ``tol · ‖bᵢ‖`` or at the rounding floor
    ``4 · eps · min(‖xᵢ‖, 2‖bᵢ‖ / lambda_min)``, whichever is larger, and is NaN unless
    its true residual is then at most 10 times that: the tangent it feeds is not known
    to the requested accuracy. The floor is what ``bᵢ − op(xᵢ)`` can be formed to for an
    ``op`` of norm at most about 4 (the callers scale it so); ``lambda_min`` is a lower
    bound of ``op``'s eigenvalues on the rows' space, so the cap is twice the largest
    ‖xᵢ‖ a solution can have: an iterate that blows up (an inconsistent or indefinite
    system) cannot certify itself by its own size. An ill-conditioned system (a
    complement operator next to a near tie at the block's edge: ‖xᵢ‖ ≫ ‖bᵢ‖) has its
    floor above ``tol · ‖bᵢ‖``; a row solved to the floor is solved as well as the
    precision allows (its error, about κ · eps relative, is the conditioning of the
    tangent itself). Without the floor, such a row never met ``tol`` (default
    eps^(3/4)) and was NaN from a relative gap of about 1e-6 on, whatever ``maxiter``;
    and the recursion run past its attainable accuracy is unstable (the residual grew
    by 1e8 on that example, deflated or not), so it must stop there rather than go on.
    """
    rdtype = jnp.finfo(b.dtype).dtype
    eps = jnp.finfo(rdtype).eps
    bnorm = jnp.linalg.norm(b, axis=1).astype(rdtype)
    tol_b = tol * bnorm
    xmax = 2 * bnorm / jnp.asarray(lambda_min, rdtype)

    def target(x):
        return jnp.maximum(tol_b, 4 * eps * jnp.minimum(jnp.linalg.norm(x, axis=1), xmax))

    def dot(u, v):
        return jnp.real(jnp.sum(jnp.conj(u) * v, axis=1))

    if deflation is None:
        x0, r0 = jnp.zeros_like(b), b

        def direction(r):
            return r

    else:
        w, coarse = deflation
        x0 = coarse(b, True) @ w.T  # x₀ = W Eᵢ⁻¹ Wᴴ bᵢ: then r₀ ⊥ W
        r0 = b - op(x0)

        def direction(r):
            return r - coarse(r, False) @ w.T

    def cond(st):
        x, _, _, rr, it = st
        return (it < maxiter) & jnp.any(jnp.sqrt(rr) > target(x)) & jnp.all(jnp.isfinite(rr))

    def body(st):
        x, r, p, rr, it = st
        live = jnp.sqrt(rr) > target(x)
        ap = op(p)
        pap = dot(p, ap)
        alpha = where(live & (pap > 0), rr / where(pap > 0, pap, 1), 0).astype(b.dtype)
        x = x + alpha[:, None] * p
        r = r - alpha[:, None] * ap
        rr_new = where(live, dot(r, r), rr)
        beta = where(live, rr_new / where(rr > 0, rr, 1), 0).astype(b.dtype)
        p = where(live[:, None], direction(r) + beta[:, None] * p, p)
        return x, r, p, rr_new, it + 1

    init = (x0, r0, direction(r0), dot(r0, r0), jnp.zeros((), jnp.int32))
    x, _, _, _, _ = lax.while_loop(cond, body, init)
    # The recursive residual drifts from the true one; judge by the true residual.
    ok = jnp.linalg.norm(b - op(x), axis=1) <= 10 * target(x)
    return where(ok[:, None], x, jnp.nan)
