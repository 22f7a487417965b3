"""A few extreme eigenpairs of a large Hermitian operator, with derivatives that never
differentiate the iteration."""

from __future__ import annotations

import functools
import numbers
import sys
from typing import Any, Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Inexact, Int

from .._errors import readable_errors
from .._options import as_flag, as_real
from .._power_of_two import power_of_two_scale
from .._throw import raise_if
from .._traced import trace
from .._where import where
from ._gauge import gauge_guard
from ._graded import ordered_eigh
from ._checks import check_precision
from ._chfsi import cg_block, mH, subspace_iteration
from ._ties import check_tie_rtol, gauge_rtol, masked_reciprocal, resolve_tie_rtol

_FN = "jaxgrad.linalg.eigsh"


class EigshStatus(eqx.Enumeration):
    """Why `eigsh` stopped. Compare with `==`, e.g. `info.status == EigshStatus.converged`."""

    converged = (
        "eigsh: the k eigenpairs met the residual tolerance, and the (k+1)-th eigenvalue, "
        "which decides the gap, is known to a tenth of the tie tolerance."
    )
    tie_at_edge = (
        "eigsh: converged, but the k-th and (k+1)-th eigenvalues are tied (within "
        "tie_rtol): the span of the k eigenvectors is not a differentiable function of "
        "the operator, so every derivative is NaN. Ask for a k that keeps the whole "
        "cluster inside (or outside) the block."
    )
    max_iterations = (
        "eigsh: `maxiter` iterations did not bring the residuals below `tol`: the pairs "
        "returned are not eigenpairs to `tol`, so every derivative is NaN. Increase "
        "`maxiter` or `ncv`, or loosen `tol`."
    )
    nonfinite = (
        "eigsh: NaN or inf in the operator's output (a non-finite matrix entry or parameter) "
        "or in `v0`."
    )
    not_hermitian = (
        "eigsh: the operator is not Hermitian, so every derivative is NaN: ‖(A − Aᴴ) u‖ "
        "for a typical unit u (the root mean square over unit u, ‖A − Aᴴ‖_F/√n) exceeds "
        "`tol` relative to ‖A‖ and the wanted pairs' residuals; or a small one, decomposed "
        "densely, has eigenpairs (those of its Hermitian part (A + Aᴴ)/2, returned) that "
        "leave residuals above `tol` for A itself; or on the iterative path the wanted "
        "pairs, right eigenpairs of A, are not left eigenpairs (Aᴴ v = λ v) to `tol`. On "
        "the iterative path both are estimated with a few random vectors."
    )


CONVERGED, TIE_AT_EDGE, MAX_ITERATIONS, NONFINITE, NOT_HERMITIAN = range(5)

# Random vectors that estimate the wanted pairs' residuals as left eigenpairs on the
# iterative path (see `_eigsh`).
_LEFT_PROBES = 4


def _status_from_code(code) -> EigshStatus:
    out = EigshStatus.nonfinite
    out = EigshStatus.where(code == NOT_HERMITIAN, EigshStatus.not_hermitian, out)
    out = EigshStatus.where(code == MAX_ITERATIONS, EigshStatus.max_iterations, out)
    out = EigshStatus.where(code == TIE_AT_EDGE, EigshStatus.tie_at_edge, out)
    return EigshStatus.where(code == CONVERGED, EigshStatus.converged, out)


class EigshInfo(eqx.Module):
    """Diagnostics returned by `jaxgrad.linalg.eigsh` next to the eigenpairs.

    Attributes:
        status: an `EigshStatus` item.
        iterations: filter-and-Rayleigh–Ritz steps taken (0 for the dense path of a
            small operator).
        matvecs: operator applications to single vectors in the forward solve.
        residuals: `‖A vᵢ − λᵢ vᵢ‖` of the returned pairs, shape `(k,)`.
        gap: `|λ_{k+1} − λ_k|`, the distance from the block to the rest of the spectrum
            (`inf` when `k = n`). A tie at the edge is `gap <= tie_rtol * norm`, or a
            gap below hypot of the k-th and (k+1)-th Ritz pairs' residuals (not
            resolved).
        norm: the estimate of `‖A‖` that scales `tol` and `tie_rtol`. For a small
            operator solved densely, the largest eigenvalue magnitude; otherwise the larger
            magnitude of the spectrum's bounds from 20 Lanczos steps with a 1 % margin,
            which can exceed `‖A‖` (75.6 for diag(1, …, 60)), so `tol` and `tie_rtol`
            act up to that much looser than relative to `‖A‖`.
    """

    status: EigshStatus
    iterations: Int[Array, ""]
    matvecs: Int[Array, ""]
    residuals: Float[Array, " k"]
    gap: Float[Array, ""]
    norm: Float[Array, ""]

    @property
    def converged(self):
        """`True` where the eigenpairs met the tolerance (`converged` or `tie_at_edge`)."""
        return jnp.asarray((self.status == EigshStatus.converged) | (self.status == EigshStatus.tie_at_edge))


class EigshResult(NamedTuple):
    eigenvalues: Float[Array, " k"]
    eigenvectors: Inexact[Array, "n k"]
    info: EigshInfo


class _Options(NamedTuple):
    k: int
    ncv: int
    sign: int  # +1: smallest, -1: largest (the iteration always finds the smallest of sign·A)
    tol: float
    maxiter: int
    tie_rtol: float
    tangent_tol: float
    tangent_maxiter: int
    dense: bool  # small operator: one dense eigh instead of the iteration


class _Operator:
    """How the compiled core applies the operator to an `(n, m)` block: `params @ Y` for
    a dense or BCOO matrix, the user's matvec (a `jaxgrad._traced.Traced`) mapped over
    the columns otherwise. Hashable, a static argument."""

    __slots__ = ("kind", "traced", "n")

    def __init__(self, kind, traced, n):
        self.kind, self.traced, self.n = kind, traced, n

    def _key(self):
        return (self.kind, self.traced, self.n)

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, _Operator) and self._key() == other._key()

    def apply(self, params, y):
        if self.kind == "matrix":
            return params @ y
        args, consts = params

        def one(v):
            return self.traced(consts, v, *args)

        return jax.vmap(one, in_axes=1, out_axes=1)(y)

    def apply_rows(self, params, y):
        """`(A yᵀ)ᵀ` for a block `y` of shape `(m, n)` (see `_chfsi.subspace_iteration`)."""
        if self.kind == "matrix":
            return (params @ y.T).T
        args, consts = params

        def one(v):
            return self.traced(consts, v, *args)

        return jax.vmap(one)(y)


def _ordered(opts, theta, x):
    """Eigenpairs of A (ascending) from the smallest `k` of sign·A."""
    w, v = opts.sign * theta[: opts.k], x[:, : opts.k]
    if opts.sign < 0:
        w, v = w[::-1], v[:, ::-1]
    return w, v


# The primal: Chebyshev-filtered subspace iteration on sign·A (a dense eigh for a small
# operator), then the status.
# `x0` (the start block, followed by `_LEFT_PROBES` columns of random probes for the
# iterative path's check) has no derivative: converged eigenpairs do not depend on it.
@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _eigsh(op, opts, params, x0):
    x0, z = x0[:, : opts.ncv], x0[:, opts.ncv :]
    n, m = x0.shape
    rdtype = jnp.finfo(x0.dtype).dtype

    # The iteration runs on A/σ, σ a power of two near ‖A‖ (so the scaling is exact):
    # its norms and inner products square entries of A·V, which underflow for
    # ‖A‖ < 1e-154 and overflow for ‖A‖ > 1e154 in float64 (eigenvalues 14x off under a
    # converged status at 1e-160·A, NaN at 1e160·A). Eigenvalues, residuals and ‖A‖
    # are scaled back; eigenvectors do not change.
    if opts.dense:
        a = opts.sign * op.apply(params, jnp.eye(n, dtype=x0.dtype))
        sigma = power_of_two_scale(a)
    else:
        y0 = opts.sign * op.apply(params, x0[:, :1])
        sigma = power_of_two_scale(y0)

    def apply(y):
        return opts.sign * op.apply(params, y) / sigma.astype(y.dtype)

    if opts.dense:
        a = a / sigma.astype(a.dtype)
        bad = ~jnp.all(jnp.isfinite(a))
        herm = where(bad, 0, (a + mH(a)) / 2)
        theta, x = ordered_eigh(herm)  # as `eigh` computes it (graded matrices, signs)
        # Residuals for the operator as given (a dense matrix was symmetrized by the
        # caller, as `eigh` does; a callable or BCOO operator is taken as Hermitian):
        # against the symmetrized one, a non-Hermitian matvec reported `converged` with
        # residuals 1e-15 where ‖A v − λ v‖ was 0.8. Not Hermitian: above `tol` and
        # well above eigh's own residuals (which can exceed `tol` in float32 at large n).
        def residuals(mat):
            return jnp.linalg.norm(mat @ x[:, :m] - x[:, :m] * theta[None, :m], axis=0)

        resid = residuals(a)
        anorm = jnp.max(jnp.abs(theta))
        it, nmv = jnp.zeros((), jnp.int32), jnp.asarray(n, jnp.int32)
        own = residuals(herm)[: opts.k]
        skewed = jnp.any((resid[: opts.k] > opts.tol * anorm) & (resid[: opts.k] > 8 * own))
        # The wanted pairs can be exact for A when A is not Hermitian only elsewhere (in
        # the complement's block), and the derivative rule then fails (NaN) under a
        # `converged` status (outside probe): A itself is checked too, by the typical
        # ‖(A − Aᴴ) u‖ of a unit u, ‖A − Aᴴ‖_F/√n, on the scale of the residuals.
        skew = jnp.linalg.norm(a - mH(a)) / np.sqrt(n)
        skewed = skewed | ((skew > opts.tol * anorm) & (skew > 8 * jnp.max(own)))
        code = where(bad, NONFINITE, where(skewed, NOT_HERMITIAN, CONVERGED))
        theta, x = theta[: m + 1], x[:, :m]
    else:
        def apply_rows(y):
            return opts.sign * op.apply_rows(params, y) / sigma.astype(y.dtype)

        # The k wanted pairs to `tol`; the (k+1)-th only decides whether the block's edge
        # is tied, and a Ritz value is within its residual of an eigenvalue (Kahan–
        # Parlett), so a residual of a tenth of the tie tolerance is enough for it.
        out = subspace_iteration(
            apply, x0, nconv=opts.k, tol=opts.tol, maxiter=opts.maxiter,
            guard_tol=max(opts.tol, 0.1 * opts.tie_rtol), apply_rows=apply_rows,
        )
        theta, x, resid, anorm, it, nmv = out.theta, out.x, out.resid, out.anorm, out.iterations, out.matvecs
        code = where(out.code == 0, CONVERGED, where(out.code == 1, MAX_ITERATIONS, NONFINITE))
        # The operator is taken as Hermitian, and the derivative rule needs each wanted
        # vᵢ to be a left eigenvector too (Aᴴ vᵢ = λᵢ vᵢ; dλᵢ = vᵢᴴ dA vᵢ holds only
        # then). A non-Hermitian operator whose wanted eigenvectors happen to be
        # orthonormal right eigenvectors converges: diag(1, ..., 100) with 3 at A[0, 99]
        # gave λ = 1, 2, `converged`, and dλ₁/dA[99, 0] = 0 where it is 3/(1 − 100)
        # (outside probe). ‖Aᴴ vᵢ − λᵢ vᵢ‖ is estimated with matvecs alone: for z
        # standard normal, zᴴ(Aᴴ v − λ v) = (A z)ᴴ v − λ zᴴ v has mean square
        # ‖Aᴴ v − λ v‖², which a Hermitian A makes the right residual. Not Hermitian:
        # above `tol`, above 8 right residuals, and above the estimate's rounding
        # (z has norm √n: 64·eps·√n, relative to ‖A‖). z: drawn with the start block.
        vk, tk = x[:, : opts.k], theta[: opts.k]
        az = apply(z)
        left = mH(az) @ vk - (mH(z) @ vk) * tk[None, :].astype(vk.dtype)
        left_resid = jnp.sqrt(jnp.mean(jnp.abs(left) ** 2, axis=0))
        floor = max(opts.tol, 64 * float(np.finfo(rdtype).eps) * float(np.sqrt(n)))
        skewed = jnp.any((left_resid > floor * anorm) & (left_resid > 8 * resid[: opts.k]))
        # Wanted pairs that are left eigenpairs too, of an A that is not Hermitian only
        # elsewhere (in the complement's block), pass that test, and the derivative rule's
        # solves on the complement then fail (NaN) under a `converged` status (outside
        # probe). The same probes check A itself: for i ≠ j, zᵢᴴ A zⱼ − (zⱼᴴ A zᵢ)* =
        # zᵢᴴ (A − Aᴴ) zⱼ has mean square ‖A − Aᴴ‖_F², and ‖A − Aᴴ‖_F/√n is the typical
        # ‖(A − Aᴴ) u‖ of a unit u, on the scale of the residuals.
        g = mH(z) @ az
        pairs = np.triu_indices(_LEFT_PROBES, 1)
        skew = jnp.sqrt(jnp.mean(jnp.abs(g - mH(g))[pairs] ** 2) / n)
        skewed = skewed | ((skew > floor * anorm) & (skew > 8 * jnp.max(resid[: opts.k])))
        code = where((code == CONVERGED) & skewed, NOT_HERMITIAN, code)
        nmv = nmv + 1 + _LEFT_PROBES  # the scale's matvec and the probes'
    theta, resid, anorm = (z * sigma.astype(z.dtype) for z in (theta, resid, anorm))
    if opts.k < theta.shape[0]:
        gap = (theta[opts.k] - theta[opts.k - 1]).astype(rdtype)
        # A gap the Ritz values do not resolve is a tie too: each is within about r²/gap
        # of an eigenvalue (Kato–Temple), so a gap below hypot(r_k, r_{k+1}) may be none.
        # With the default tol and tie_rtol this adds nothing (the (k+1)-th residual is
        # held below tie_rtol·‖A‖/10); with tie_rtol=0 an exact tie passed as
        # `converged` with a gap of 5e-15 and gradients of 1e12 (outside probe). (The
        # residuals themselves, r_k + r_{k+1}, flagged real gaps under a loose user tol:
        # outside review.)
        resolution = jnp.hypot(resid[opts.k], resid[opts.k - 1]).astype(rdtype)
    else:
        gap = jnp.asarray(jnp.inf, rdtype)
        resolution = jnp.zeros((), rdtype)
    tied_edge = (gap <= opts.tie_rtol * anorm) | (gap <= resolution)
    code = where((code == CONVERGED) & tied_edge, TIE_AT_EDGE, code)
    w, v = _ordered(opts, theta, x)
    resid = resid[: opts.k] if opts.sign > 0 else resid[: opts.k][::-1]
    nonfinite = code == NONFINITE
    w, v = where(nonfinite, jnp.nan, w), where(nonfinite, jnp.nan, v)
    guard = x[:, opts.k :]  # the other Ritz vectors: the derivative rule deflates with them
    return w, v, code.astype(jnp.int32), it, nmv, resid.astype(rdtype), gap, anorm.astype(rdtype), guard


# First-order perturbation theory for the block (Magnus 1985; the same rule as `eigh`,
# Giles 2008 sec. 3.1, restricted to k eigenpairs). With A V = V Λ, Vᴴ V = I:
#   C = Vᴴ dA V,   dλᵢ = Re Cᵢᵢ,
#   dV = V Ω + X,  Ωᵢⱼ = Cᵢⱼ / (λⱼ − λᵢ) (i ≠ j, not tied), 0 on ties and the diagonal,
#   (A − λᵢ) xᵢ = −(I − V Vᴴ) dA vᵢ,   xᵢ ⊥ V,
# the last from differentiating A vᵢ = λᵢ vᵢ and projecting onto the complement of the
# block (where A − λᵢ is invertible unless λᵢ is tied with λ_{k+1}). `dA V` is a `jvp` of
# the matvec in its parameters: A is never formed. The complement systems are solved by
# conjugate gradients on (I − V Vᴴ) s(A − λᵢ)(I − V Vᴴ), s = ±1, which is positive
# definite there (its eigenvalues are s(λⱼ − λᵢ) > 0 over the eigenvalues λⱼ outside the
# block); `lax.custom_linear_solve` makes the solve transposable, so reverse mode solves
# the same systems with the cotangents (the adjoint method), and the rule is itself
# differentiable (it calls `_eigsh` and linear solves only).
# Ties inside the block: Ωᵢⱼ = 0 is parallel transport, as in `eigh` (exact for losses
# that see a tied cluster through its projector and symmetric functions of its
# eigenvalues; `gauge_guard` makes gauge-dependent losses NaN in reverse mode).
# A tie at the block's edge (λ_k = λ_{k+1}): the span of V is not differentiable, so
# every tangent is multiplied by NaN (a status says why); so is every tangent of a
# non-finite operator. Multiplying (not `where`) keeps the NaN in the transpose.
@_eigsh.defjvp
def _eigsh_jvp(op, opts, primals, tangents):
    params, x0 = primals
    dparams, _ = tangents
    out = _eigsh(op, opts, params, x0)
    w, v, code, it, nmv, resid, gap, anorm, guard = out
    n = v.shape[0]
    dtype = v.dtype
    s = opts.sign
    # The complement systems are solved as (A − λᵢ)/σ xᵢ = rhsᵢ/σ (σ as in the primal:
    # CG's inner products square the residuals, which under- or overflow at extreme ‖A‖).
    # Where σ < 1 everything of the size of A (A·y, λ·y, A·V, dA·V) is formed scaled up
    # by u = 1/σ (a power of two: exact), so that the scale divided out is σ·u = 1: at
    # ‖A‖ ~ 1e-300 the products Aᵢⱼyⱼ and λyⱼ of small components fall below the smallest
    # normal float, which the CPU flushes to zero; the operator then lost eight digits,
    # every tangent solve failed its residual test and dV was NaN with status
    # `converged` (found by an outside probe).
    sigma = power_of_two_scale(anorm).astype(dtype)
    up = where(jnp.real(sigma) < 1, 1 / sigma, jnp.ones_like(sigma))
    scale = sigma * up
    w_up = (w * jnp.real(up)).astype(dtype)
    dav = jax.jvp(lambda p: op.apply(p, v * up), (params,), (dparams,))[1]  # u·dA·V
    c = mH(v) @ dav  # u·C
    dw = jnp.real(jnp.diagonal(c)) / jnp.real(up)
    diff = w[None, :] - w[:, None]
    tied = jnp.abs(diff) <= opts.tie_rtol * anorm
    f = masked_reciprocal(diff * jnp.real(up), ~tied).astype(c.dtype)
    (omega,) = gauge_guard((f * c,), tied, rtol=gauge_rtol(dtype, n))

    def proj(y):
        return y - v @ (mH(v) @ y)

    def shifted(y):
        y = proj(y)
        return proj(s * (op.apply(params, y * up) - y * w_up[None, :])) / scale

    # Deflation with the block's other Ritz vectors (approximate eigenvectors for
    # λ_{k+1}, ..., λ_ncv): the complement systems are worst conditioned along those
    # (the eigenvalues of s(A − λᵢ) there are the smallest), so CG deflated by them runs
    # towards the condition number set by λ_{ncv+1} − λᵢ instead of λ_{k+1} − λᵢ (as far
    # as they are converged: 319 instead of 482 iterations on the 100 × 100 grid). The
    # solution does not depend on how well they are converged, only the speed does.
    deflation = None
    if guard.shape[1]:
        wd = proj(guard)
        awd = op.apply(params, wd * up)  # u·A·W
        wtw, wtaw = mH(wd) @ wd, mH(wd) @ awd
        wtaw = (wtaw + mH(wtaw)) / 2
        e = s * (wtaw[None] - w_up[:, None, None] * wtw[None]) / scale  # Eᵢ = Wᴴ Mᵢ W
        e_inv = jnp.linalg.inv(e)

        def coarse(r, initial):  # rows rᵢ of r (k, n) -> Eᵢ⁻¹ (…)ᴴ rᵢ as rows (k, g)
            if initial:
                c = r @ jnp.conj(wd)
            else:  # (Mᵢ W)ᴴ rᵢ = s ((A W)ᴴ rᵢ − λᵢ Wᴴ rᵢ), for rᵢ ⊥ V
                c = s * (r @ jnp.conj(awd) - (r @ jnp.conj(wd)) * w_up[:, None]) / scale
            return jnp.einsum("kgh,kh->kg", e_inv, c)

        deflation = (wd, coarse)

    # The solve runs on the transposed block, (k, n), where the matvec maps over the rows
    # (faster than over the columns; the same operator as `shifted`).
    def proj_rows(y):
        return y - (y @ jnp.conj(v)) @ v.T

    def shifted_rows(y):
        y = proj_rows(y)
        return proj_rows(s * (op.apply_rows(params, y * up) - y * w_up[:, None])) / scale

    def solve(matvec, b):
        # The complement operator's eigenvalues are s(λⱼ − λᵢ)/σ ≥ gap/σ (j outside the block).
        # Projected twice ("twice is enough", Kahan–Parlett): a right-hand side that
        # lies along V up to rounding (a shift A + tI moves no eigenvector: dA·V = V·dΛ,
        # so the exact right-hand side is 0) keeps, after one projection, a residue of
        # size eps·‖b‖ that is not orthogonal to V to its own precision; CG cannot reach
        # that part (the operator's range is V's complement), its true residual stayed
        # above the tolerance, and the tangent was NaN (found by an outside probe). After
        # a second projection the residue is orthogonal to V to rounding, and its
        # solution is as negligible as it is.
        # Each system is solved for its right-hand side scaled to unit size (by a power
        # of two: exact) and the solution scaled back; the systems are linear. The
        # right-hand side has the tangent's size, which is the caller's: CG's inner
        # products square it, and a tangent of 1e-150 (or dA ~ 1 on an operator of norm
        # 1e150) underflowed there: dV was 20 % off at 1e-155, NaN on the iterative path,
        # with status `converged` (outside probe).
        t = power_of_two_scale(b, axis=0, keepdims=True).astype(b.dtype)
        x = cg_block(
            shifted_rows, proj(proj(b / t)).T, tol=opts.tangent_tol, maxiter=opts.tangent_maxiter,
            lambda_min=lax.stop_gradient(gap / jnp.real(sigma)), deflation=deflation,
        )
        return x.T * t

    def transpose_solve(vecmat, b):
        # The operator is Hermitian: its transpose is its complex conjugate.
        return jnp.conj(solve(shifted, jnp.conj(b)))

    rhs = -s * (dav - v @ c) / scale
    if v.shape[1] >= n:
        # k = n: the block spans the whole space, the complement is empty and dV = V Ω
        # (CG on a zero-dimensional complement divided rounding noise by itself: NaN).
        x = jnp.zeros_like(rhs)
    elif jnp.iscomplexobj(rhs):
        x = lax.custom_linear_solve(shifted, rhs, solve, transpose_solve)
    else:
        x = lax.custom_linear_solve(shifted, rhs, solve, symmetric=True)
    # x ⊥ V by construction, but only the projection makes that visible to the next
    # derivative: x(A) = (I − V Vᴴ) x also differentiates V, giving the −V (dVᴴ x) part
    # that the solve's own rule (on the complement) cannot see.
    dv = v @ omega + proj(x)
    # A tie inside the block: the first-order tangents above are exact for cluster-
    # invariant losses, but not their own derivatives. The tangents of the tied pairs
    # use λᵢ, vᵢ one by one (dλᵢ = Cᵢᵢ, xᵢ through λᵢ and vᵢ), where the exact second
    # order needs the whole cluster (Daleckii–Krein: all of the cluster's block of C);
    # e.g. the Hessian of Σλᵢ² over a tied cluster comes out with Σ Cᵢᵢ² in place of
    # ‖C_c‖_F². So the tangents of the tied columns carry a factor 1 whose derivative
    # in the operator is NaN: differentiating them once more gives NaN, never a wrong
    # number (the factor is a primal quantity, so linearization keeps it a constant of
    # the linear map, and the first derivatives are untouched). The untied columns keep
    # exact second derivatives (they see the cluster only through its projector), but a
    # zero cotangent on a tied column still gives 0 · NaN = NaN: over-flagged, not wrong.
    tied_col = jnp.any(tied & ~jnp.eye(tied.shape[0], dtype=bool), axis=1)
    zero = where(jnp.isfinite(w), w, 0) * 0  # 0, with a tangent in the operator
    second = _nan_derivative(1 + zero, tied_col)
    dw = dw * second.astype(dw.dtype)
    dv = dv * second[None, :].astype(dv.dtype)
    # Not converged (max_iterations) is as undefined as a tie at the edge: the pairs are
    # not eigenpairs to `tol`, so no derivative formula applies to them.
    undefined = (code == TIE_AT_EDGE) | (code == NONFINITE) | (code == MAX_ITERATIONS) | (code == NOT_HERMITIAN)
    nan = where(undefined, jnp.nan, 1.0)
    float0 = lambda z: np.zeros(np.shape(z), jax.dtypes.float0)  # noqa: E731
    zeros = (
        float0(code), float0(it), float0(nmv), jnp.zeros_like(resid), jnp.zeros_like(gap), jnp.zeros_like(anorm),
        jnp.zeros_like(guard),
    )
    return out, (dw * nan.astype(dw.dtype), dv * nan.astype(dv.dtype), *zeros)


@jax.custom_jvp
def _nan_derivative(x, flag):
    """``x`` itself; its derivative is NaN where ``flag`` (a traced bool array of ``x``'s
    shape)."""
    return x


@_nan_derivative.defjvp
def _nan_derivative_jvp(primals, tangents):
    x, flag = primals
    dx, _ = tangents
    out = _nan_derivative(x, flag)
    return out, dx * where(flag, jnp.nan, 1.0).astype(dx.dtype)


def _default_tol(dtype) -> float:
    # Residuals <= tol·‖A‖ give eigenvector errors of about tol·‖A‖/gap and eigenvalue
    # errors of about (tol·‖A‖)²/gap. eps^(3/4) (1.8e-12 in float64) keeps the
    # eigenvector errors, and so the derivatives, near 1e-9 relative even for the small
    # gaps (1e-4·‖A‖) of a fine grid, and costs one filter step more than eps^(2/3) (the
    # filter gains ~1e5 per step). In float32 that is within a few rounding errors of
    # what a residual can show, so 64·eps (7.6e-6).
    eps = float(np.finfo(jnp.finfo(dtype).dtype).eps)
    return max(eps ** (3 / 4), 64 * eps)


def _check_real(name, value, *, positive=True, below_one=False):
    if value is None:
        return None
    number = as_real(value)  # a Python number or a concrete 0-d real array
    if number is None:
        raise TypeError(f"{_FN}: `{name}` must be a real number (or a 0-d real array); got {value!r}.")
    value = number
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{_FN}: `{name}` must be a finite number {'>' if positive else '>='} 0; got {value!r}.")
    if below_one and value >= 1:
        # A sanity bound: a residual of ‖A‖ or more is met by any unit vector (at tol=10
        # one iteration returned eigenvalues 0.24–0.36 off as `tie_at_edge`; outside
        # probe). A loose tol below 1 is the user's choice: the eigenvalues are then
        # known to about the residual, tol·‖A‖ (0.1 gives the same result there).
        raise ValueError(f"{_FN}: `{name}` is relative to ‖A‖ and must be < 1; got {value!r}.")
    return value


def _check_int(name, value, low):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{_FN}: `{name}` must be an integer >= {low}; got {value!r}.")
    return int(value)


def _is_bcoo(a) -> bool:
    # Without importing jax.experimental.sparse (half a second: it imports scipy.sparse):
    # a BCOO argument means the module is loaded already.
    sparse = sys.modules.get("jax.experimental.sparse")
    return sparse is not None and isinstance(a, sparse.BCOO)


def _is_lineax(a) -> bool:
    # Duck-typed, so that lineax stays optional: an `AbstractLinearOperator` has `mv`
    # and `in_structure`.
    return callable(getattr(a, "mv", None)) and callable(getattr(a, "in_structure", None))


def _matrix_info(a, name="a"):
    shape = tuple(a.shape)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(
            f"{_FN}: argument `{name}` must be a square matrix (n, n); got shape {shape}. "
            "Use jax.vmap for a batch of operators."
        )
    dtype = jnp.result_type(a.dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    return shape[0], dtype


@readable_errors
def eigsh(
    a: ArrayLike | Callable[..., Array] | Any,
    k: int,
    args: tuple[Any, ...] = (),
    *,
    n: int | None = None,
    which: str = "smallest",
    v0: ArrayLike | None = None,
    ncv: int | None = None,
    tol: float | None = None,
    maxiter: int | None = None,
    tie_rtol: float | None = None,
    tangent_tol: float | None = None,
    tangent_maxiter: int | None = None,
    throw: bool = False,
) -> EigshResult:
    """The `k` smallest (or largest) eigenpairs of a Hermitian operator, differentiable.

    For operators too large for [`eigh`][jaxgrad.linalg.eigh]: a dense or
    `jax.experimental.sparse.BCOO` matrix, a `lineax` linear operator, or a function
    `matvec(v, *args)` returning `A v` whose parameters `args` are differentiated.
    The eigenpairs come from a block method of our own, Chebyshev-filtered subspace
    iteration (Zhou & Saad 2007) with Householder QR and Rayleigh–Ritz, in one
    `lax.while_loop`: it runs under `jax.jit` and `jax.vmap`. Operators with
    `n < 3 * ncv` are decomposed densely instead.

    **Derivatives** (forward, reverse, higher order) never go through the iteration:
    `dλᵢ = vᵢᴴ dA vᵢ` with `dA V` a `jvp` of the matvec (A is never formed), and the
    eigenvector derivatives solve `(A − λᵢ) xᵢ = −(I − V Vᴴ) dA vᵢ` on the complement
    of the block by conjugate gradients to `tangent_tol` (a tangent whose solve fails
    is NaN). Inside the block, ties get the rule of `eigh`: exact for losses that see a
    tied cluster through its projector `V_c V_cᴴ` and its eigenvalues symmetrically.
    A tie between `λ_k` and `λ_{k+1}` makes the block itself non-differentiable: the
    status is `tie_at_edge` and every derivative is NaN, never a silent number; so is
    every derivative when the iteration stops at `maxiter` (status `max_iterations`).
    Second derivatives are exact away from ties; at a tie inside the block (within
    `tie_rtol`) the tangents of the tied pairs are not differentiable again by this
    rule, so every second derivative that sees them is NaN, even that of `Σλᵢ` (the
    rule cannot tell it from `Σλᵢ²`, whose exact Hessian needs the whole cluster), and
    possibly that of a loss using only the block's simple pairs.

    Arguments:
        a: the operator: a square matrix (it is symmetrized, `(a + aᴴ)/2`, as `eigh`
            does), a `BCOO` matrix (used as given: it must be Hermitian), a `lineax`
            `AbstractLinearOperator`, or a callable `matvec(v, *args)` mapping a vector
            of shape `(n,)` to `A v`.
        k: number of eigenpairs, `1 <= k <= n`.
        args: the matvec's parameters (pytrees of arrays), differentiated. Only with a
            callable `a`. Arrays the callable closes over are inputs too, and
            differentiated alike (a traced value of an enclosing `jax.grad`, say).
        n: the operator's size; required for a callable `a` unless `v0` is given.
        which: `"smallest"` (or `"SA"`) or `"largest"` (or `"LA"`) eigenvalues.
        v0: start vectors, shape `(n,)` or `(n, j)` with `j <= ncv` (random by default,
            from a fixed seed, so results are reproducible). Each is normalised and
            perturbed by a random vector of relative size `sqrt(eps)`, and at least
            one filter step is taken, so that a `v0` spanning the wrong eigenvectors
            (an invariant subspace) cannot be returned as the answer.
        ncv: block size, `k + 2 <= ncv <= n` (or `ncv = n`): the `k` wanted vectors plus
            guard vectors that speed up convergence and estimate `λ_{k+1}` (the
            `(k+1)`-th must not be the block's last vector, whose Ritz value the filter
            does not improve). Default `min(n, 2k + 2)`.
        tol: stop when the residuals `‖A vᵢ − λᵢ vᵢ‖` of the `k` wanted pairs are
            `<= tol * ‖A‖` (and that of the next one, which decides whether the block's
            edge is tied, `<= tie_rtol * ‖A‖ / 10`); `0 < tol < 1`. Default `eps^(3/4)`
            in float64 (1.8e-12), `64 eps` in float32 (7.6e-6).
        maxiter: maximum filter steps (default 1000; each applies the operator
            up to 65 times to the block).
        tie_rtol: eigenvalues closer than `tie_rtol * ‖A‖` are tied. Default `sqrt(eps)`.
        tangent_tol: relative residual of the eigenvector-derivative solves, `< 1` (default
            `tol`), or their rounding floor where that is larger (near a tie at the
            block's edge).
        tangent_maxiter: maximum conjugate-gradient steps per derivative solve (default
            `max(1000, 10 n)`).
        throw: if `True`, a status other than `converged` or `tie_at_edge` raises at run
            time (`equinox.error_if`, works under `jax.jit`).

    Returns:
        `EigshResult(eigenvalues, eigenvectors, info)`: eigenvalues ascending, shape
        `(k,)` (for `"largest"` too), orthonormal eigenvectors in the columns, shape
        `(n, k)`, and an [`EigshInfo`][jaxgrad.linalg.EigshInfo]. A non-finite operator
        gives NaN eigenpairs and NaN derivatives; `max_iterations` gives the last
        iterates and NaN derivatives; `not_hermitian` (a callable or BCOO operator
        with ‖A − Aᴴ‖_F/√n, the typical ‖(A − Aᴴ) u‖ of a unit u, above `tol`·‖A‖ and
        the residuals, or whose wanted pairs are not eigenpairs of A from both sides)
        gives NaN derivatives, and decomposed densely the eigenpairs of its Hermitian
        part.

    Raises:
        ValueError: `a` is not square, `k`, `ncv`, `n`, `which` or a tolerance is invalid,
            or the matvec returns the wrong shape.
        TypeError: `args` given with a matrix, or `a` is none of the accepted kinds.
        equinox.EquinoxRuntimeError: with `throw=True`, when the iteration failed, found
            at run time (`equinox.error_if`). Inside a `jax.jit` the program raises when
            it runs, as JAX's `jax.errors.JaxRuntimeError` whose text holds the message
            (equinox's error under `equinox.filter_jit`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import EigshStatus, eigsh
        >>> def matvec(v, theta):  # A = path-graph Laplacian + diag(theta)
        ...     lap = 2 * v - jnp.roll(v, 1).at[0].set(0) - jnp.roll(v, -1).at[-1].set(0)
        ...     return lap + theta * v
        >>> theta = jnp.linspace(0.0, 1.0, 50)
        >>> w, v, info = eigsh(matvec, 2, (theta,), n=50)
        >>> print(info.status == EigshStatus.converged)
        True
        >>> g = jax.grad(lambda t: eigsh(matvec, 2, (t,), n=50).eigenvalues.sum())(theta)
        >>> bool(jnp.allclose(g, jnp.sum(v**2, axis=1), atol=1e-5))  # dλ/dθⱼ = vⱼ²
        True
    """
    # Options that are checked in Python (static).
    if which in ("smallest", "SA"):
        sign = 1
    elif which in ("largest", "LA"):
        sign = -1
    else:
        raise ValueError(f"{_FN}: `which` must be 'smallest' ('SA') or 'largest' ('LA'); got {which!r}.")
    throw = as_flag(_FN, "throw", throw)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{_FN}: `k` must be a positive integer; got {k!r}.")
    k = int(k)
    tol = _check_real("tol", tol, below_one=True)
    tangent_tol = _check_real("tangent_tol", tangent_tol, below_one=True)
    tie_rtol = check_tie_rtol(tie_rtol)
    maxiter = _check_int("maxiter", maxiter, 0)
    tangent_maxiter = _check_int("tangent_maxiter", tangent_maxiter, 1)
    ncv = _check_int("ncv", ncv, 1)
    if not isinstance(args, tuple):
        raise TypeError(f"{_FN}: `args` must be a tuple; got {type(args).__name__}.")
    if v0 is not None:
        v0 = jnp.asarray(v0)
        if v0.ndim not in (1, 2):
            raise ValueError(f"{_FN}: `v0` must have shape (n,) or (n, j); got {v0.shape}.")

    # The operator, its size and dtype.
    if _is_bcoo(a) or (not callable(a) and not _is_lineax(a)):
        if args:
            raise TypeError(f"{_FN}: `args` is only for a callable `a` (a matrix is itself the parameter).")
        if not _is_bcoo(a):
            try:
                a = jnp.asarray(np.asarray(a) if isinstance(a, (list, tuple)) else a)
            except TypeError as e:
                raise TypeError(
                    f"{_FN}: `a` must be a matrix, a BCOO matrix, a lineax operator or a matvec "
                    f"function; got {type(a).__name__}."
                ) from e
        size, dtype = _matrix_info(a)
        if n is not None and n != size:  # (was ignored for a matrix; outside probe)
            raise ValueError(f"{_FN}: `n`={n} does not match the operator size {size}.")
        if not _is_bcoo(a) and a.dtype != dtype:
            a = a.astype(dtype)
        op, params = _Operator("matrix", None, size), a
        precision = dtype
    else:
        if _is_lineax(a):
            struct = a.in_structure()
            shape = tuple(struct.shape)
            size = int(np.prod(shape))
            dynamic, static = eqx.partition(a, eqx.is_array)

            # (Closes over the operator's static part and its shape only, which key the
            # compiled program by structure and value: the same operator, or one with new
            # arrays, reuses it; over the structure object it compiled at every call.)
            def matvec(v, dyn):
                return eqx.combine(dyn, static).mv(v.reshape(shape)).reshape(-1)

            args, f, dtype0 = (dynamic,), matvec, struct.dtype
        else:
            f = a
            size = n if n is not None else (v0.shape[0] if v0 is not None else None)
            if size is None:
                raise ValueError(f"{_FN}: pass the operator size `n` (or `v0`) with a callable `a`.")
            leaves = [x for x in jax.tree_util.tree_leaves(args) if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
            dtype0 = jnp.result_type(float, *leaves) if leaves else jnp.result_type(float)
        size = _check_int("n", size, 1)
        if n is not None and n != size:
            raise ValueError(f"{_FN}: `n`={n} does not match the operator size {size}.")
        dtype = jnp.result_type(dtype0, v0.dtype) if v0 is not None else jnp.result_type(dtype0)
        if not jnp.issubdtype(dtype, jnp.inexact):
            dtype = jnp.result_type(float)
        try:
            traced, consts = trace(f, jax.ShapeDtypeStruct((size,), dtype), *args)
        except (TypeError, ValueError) as exc:  # n larger than the matvec's operator: a raw dot_general error
            raise ValueError(
                f"{_FN}: the matvec failed on a vector of shape ({size},); is `n` the size of "
                f"its operator? ({type(exc).__name__}: {exc})"
            ) from exc
        out = traced.out_shape
        if getattr(out, "shape", None) != (size,):
            raise ValueError(
                f"{_FN}: the matvec must return an array of shape ({size},) for v of shape "
                f"({size},); got {getattr(out, 'shape', out)!r}."
            )
        if jnp.issubdtype(out.dtype, jnp.complexfloating) and not jnp.issubdtype(dtype, jnp.complexfloating):
            raise TypeError(f"{_FN}: the matvec returns complex values; pass a complex `v0` for a Hermitian operator.")
        # An integer matvec of a floating vector rounds the vector (`L @ v.astype(int)`):
        # it failed inside the scaling with numpy's "data type not inexact" (outside probe).
        if not jnp.issubdtype(out.dtype, jnp.inexact):
            raise TypeError(
                f"{_FN}: the matvec must return floating-point values for v of dtype {jnp.dtype(dtype).name}; "
                f"it returned {out.dtype} (an integer matrix can be passed as `a` itself, or as L @ v with L cast to float)."
            )
        op, params = _Operator("callable", traced, size), (args, consts)
        # Default tolerances follow the less precise of the iteration and the operator: a
        # float32 matvec under x64 (no float args) chased float64's tolerance for 1000
        # steps and ended `max_iterations` (outside probe).
        precision = max((jnp.dtype(dtype), jnp.dtype(out.dtype)), key=lambda d: float(jnp.finfo(d).eps)
                        if jnp.issubdtype(d, jnp.inexact) else 0.0)

    if k > size:
        raise ValueError(f"{_FN}: `k`={k} exceeds the operator size n={size}.")
    if ncv is None:
        ncv = min(size, 2 * k + 2)
    elif not (k + 2 <= ncv <= size or k <= ncv == size):
        # ncv = k + 1 < n would leave the (k+1)-th Ritz vector, whose residual decides the
        # gap, as the block's last column: the filter's damped interval starts at its own
        # Ritz value, so it never converges.
        raise ValueError(
            f"{_FN}: `ncv` must satisfy k + 2 <= ncv <= n, or ncv = n (k={k}, n={size}); got {ncv}."
        )
    if v0 is not None and (v0.shape[0] != size or (v0.ndim == 2 and v0.shape[1] > ncv)):
        raise ValueError(f"{_FN}: `v0` must have shape ({size},) or ({size}, j) with j <= ncv={ncv}; got {v0.shape}.")
    check_precision(dtype, _FN, "a")
    opts = _Options(
        k=k,
        ncv=ncv,
        sign=sign,
        tol=tol if tol is not None else _default_tol(precision),
        maxiter=maxiter if maxiter is not None else 1000,
        tie_rtol=resolve_tie_rtol(tie_rtol, precision),
        tangent_tol=tangent_tol if tangent_tol is not None else (tol if tol is not None else _default_tol(precision)),
        tangent_maxiter=tangent_maxiter if tangent_maxiter is not None else max(1000, 10 * size),
        dense=size < 3 * ncv,
    )
    return _eigsh_compiled(op, opts, throw, jnp.dtype(dtype), params, v0)


# The compiled core of `eigsh`: one executable per operator (a callable is keyed as in
# `jaxgrad._traced`), options, shape and dtype, so repeated eager calls do not re-trace.
@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _eigsh_compiled(op, opts, throw, dtype, params, v0):
    n, m = op.n, opts.ncv
    if op.kind == "matrix" and not _is_bcoo(params):
        params = (params + mH(params)) / 2
    # One draw for the start block and the probes (a second random program compiled
    # ~0.2 s longer): the start block is its first n·m numbers, the same as a draw of its
    # own shape.
    draw = jax.random.normal(jax.random.key(0), (n * (m + _LEFT_PROBES),), dtype)
    x0, probes = draw[: n * m].reshape(n, m), draw[n * m :].reshape(n, _LEFT_PROBES)
    if v0 is not None:
        # The user's columns, normalised, plus a random part of relative size sqrt(eps):
        # a `v0` that spans an invariant subspace (say the top eigenvectors when the
        # smallest are wanted) would otherwise never leave it. The filter amplifies the
        # random part at once (by up to eps^(-1/3) per step), and a good `v0` loses at
        # most a step or two to it.
        v0 = jnp.asarray(v0, dtype).reshape(n, -1)
        j = v0.shape[1]
        rdtype = jnp.finfo(dtype).dtype
        delta = float(np.sqrt(np.finfo(rdtype).eps))
        rand = x0[:, :j] / jnp.linalg.norm(x0[:, :j], axis=0)
        norms = jnp.linalg.norm(v0, axis=0)
        cols = v0 / where(norms > 0, norms, 1).astype(dtype)
        x0 = x0.at[:, :j].set(cols + (delta * rand).astype(dtype))
    start = lax.stop_gradient(jnp.concatenate([x0, probes], axis=1))
    w, v, code, it, nmv, resid, gap, anorm, _ = _eigsh(op, opts, params, start)
    status = _status_from_code(code)
    if throw:
        w, v = raise_if((w, v), status, (code != CONVERGED) & (code != TIE_AT_EDGE), "jaxgrad.linalg.eigsh")
    info = EigshInfo(status=status, iterations=it, matvecs=nmv, residuals=resid, gap=gap, norm=anorm)
    return EigshResult(w, v, info)
