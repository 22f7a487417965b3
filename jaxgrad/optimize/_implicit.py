"""Implicit differentiation of a minimiser through its optimality condition.

At a minimiser x*(θ) of f(·, θ) the gradient vanishes, F(x, θ) = ∇ₓf(x, θ) = 0. If the
Hessian H = ∂ₓF is invertible, the implicit function theorem gives
    dx* = −H⁻¹ (∂θF) dθ,
so the derivative needs one linear solve with H, and nothing from the iterations that
found x* (Krantz & Parks 2002, "The implicit function theorem", thm 1.3.1; used for
optimisation layers by Blondel et al. 2022, "Efficient and modular implicit
differentiation"). `jax.lax.custom_root` supplies the JVP above and its transpose; the
solve below is matrix free (Hessian-vector products by forward-over-reverse, conjugate
gradients) and wrapped in `lax.custom_linear_solve` so that reverse mode can transpose
it (H is symmetric, so the transpose solve is the same solve).

Singular or ill-conditioned H (the minimiser is not isolated, e.g. a family of matrices
with the same spectrum) has no unique derivative. With `ridge = r > 0` the solve is the
Tikhonov-regularised least-squares problem
    w = argmin ‖H w − b‖² + r ‖w‖² = (H² + r I)⁻¹ H b,
which tends to the minimum-norm solution H⁺ b as r → 0 (Engl, Hanke & Neubauer 1996,
"Regularization of inverse problems", ch. 5) and is bounded by ‖b‖ / (2√r) for any r:
the component of b along the null space of H, which the exact derivative would have to
divide by zero, is dropped instead of amplified. (H² + r I)⁻¹ H is symmetric, so the
transposition stays valid. With `ridge = 0` a solve that does not reach its residual
tolerance returns NaN: never a silent arbitrary number.
"""

from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
from jax import lax

import optax

from .._power_of_two import power_of_two_scale
from .._where import where


def _dtype_of(tree):
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.result_type(*leaves) if leaves else jnp.float64


def _size_of(tree) -> int:
    return sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(tree))


def cg_tolerance(dtype) -> float:
    """Relative residual tolerance of the adjoint solve: eps^(3/4) (1.8e-12 f64, 6.4e-6 f32)."""
    return float(jnp.finfo(dtype).eps) ** 0.75


def _make_tangent_solve(ridge: float):
    def tangent_solve(hvp, b):
        if len(jax.tree_util.tree_leaves(b)) > 1:
            # One flat vector: `custom_linear_solve`'s transpose requires every leaf
            # of the right-hand side to depend on the cotangent, and the leaf of an x0
            # pytree whose gradient does not involve θ is a plain zero (reverse mode
            # stopped with a bare AssertionError).
            flat, unravel = jax.flatten_util.ravel_pytree(b)
            hvp_flat = lambda v: jax.flatten_util.ravel_pytree(hvp(unravel(v)))[0]  # noqa: E731
            return unravel(tangent_solve(hvp_flat, flat))
        dtype = _dtype_of(b)
        tol = cg_tolerance(dtype)
        eps = float(jnp.finfo(dtype).eps)
        n = _size_of(b)
        # CG in floating point needs far more than n steps on a spread spectrum: on
        # quadratics with n = 100 log-spaced curvatures (condition 1e6, rotated) it
        # reached the tolerance after ~2,200, and at the earlier cap of 10·n + 20 the
        # derivative was NaN (outside probe). The cap costs time only where CG is slow.
        maxiter = 50 * n + 1000

        def solve(matvec, rhs):
            # CG's inner products pᵀHp are quadratic in the right-hand side: with
            # ‖b‖ and ‖H‖ both 1e120 (or both 1e-120) they overflow (underflow) to NaN
            # although the solution is of order one. The solve runs on b/β, β a power
            # of two near max|b| (exact), and scales back.
            return _on_unit_scale(lambda r: _solve_unit(matvec, r), rhs)

        def _on_unit_scale(solve_linear, rhs):
            # `solve_linear(rhs)` of a linear solve, run on rhs/β and scaled back.
            leaves = jax.tree_util.tree_leaves(rhs)
            beta = power_of_two_scale(jnp.stack([jnp.max(jnp.abs(t)) for t in leaves]))
            w = solve_linear(jax.tree_util.tree_map(lambda t: t / beta.astype(t.dtype), rhs))
            return jax.tree_util.tree_map(lambda t: t * beta.astype(t.dtype), w)

        def _solve_unit(matvec, rhs):
            if ridge > 0:
                # (The normal equations' right-hand side H b is scaled too: with ‖H‖
                # 1e80 their pᵀH²p overflowed and the derivative came out 0.)
                normal = lambda w: optax.tree.add_scale(matvec(matvec(w)), ridge, w)  # noqa: E731
                cg = lambda hb: jax.scipy.sparse.linalg.cg(normal, hb, tol=tol, maxiter=maxiter)[0]  # noqa: E731
                return _on_unit_scale(cg, matvec(rhs))
            w, _ = jax.scipy.sparse.linalg.cg(matvec, rhs, tol=tol, maxiter=maxiter)
            # CG reports nothing about success: check the residual ourselves. A singular
            # H with b outside its range, or a Hessian too ill-conditioned for CG, lands
            # here and gives NaN instead of a wrong derivative.
            res = optax.tree.norm(optax.tree.sub(matvec(w), rhs))
            # Kept where the residual is below eps^(3/4)·‖b‖, or below what a backward-stable
            # solve leaves, 100·n·eps·‖H‖‖w‖, for a w whose size ‖H‖‖w‖/‖b‖ (the condition
            # it implies) is below eps^(-2/3) (2.7e10 in float64). A quadratic with
            # eigenvalues 1 and 1e7 rotated off the axes reached a relative residual of
            # 2e-10 with its solution right to 6e-11, and the derivative was NaN (outside
            # probe). With b outside the range of a singular H, CG divides by curvatures
            # at rounding level and leaves a residual at that level too, but with a w of
            # no meaning and a size far beyond (2e12 on the inverse eigenvalue problem's
            # orbit): NaN. (‖H‖ from one product with a fixed vector z, ‖Hz‖/‖z‖·√n.)
            z = jax.tree_util.tree_map(lambda t: jnp.cos(jnp.arange(t.size, dtype=t.dtype) * 1.618 + 0.5).reshape(t.shape), rhs)
            sized_w = optax.tree.norm(matvec(z)) / optax.tree.norm(z) * np.sqrt(n) * optax.tree.norm(w)
            b_norm = optax.tree.norm(rhs)
            stable = (res <= 100 * n * eps * sized_w) & (sized_w <= eps ** (-2 / 3) * b_norm)
            ok = (res <= 100 * tol * b_norm) | stable
            return jax.tree_util.tree_map(lambda t: where(ok, t, jnp.nan), w)

        return lax.custom_linear_solve(hvp, b, solve, symmetric=True)

    return tangent_solve


def implicit_argmin(grad_fn, x0, run_solver, ridge: float):
    """Run `run_solver(x0) -> (x*, aux)` and make x* differentiable through ∇ₓf(x*) = 0.

    `grad_fn(x)` is ∇ₓf(x, θ); it may close over θ (arrays), and derivatives with
    respect to those closed-over arrays are what `jax.lax.custom_root` propagates.
    Derivatives never flow through `run_solver` (the loop is not unrolled), and `aux`
    gets zero tangents.
    """
    return lax.custom_root(
        grad_fn,
        x0,
        lambda _f, x: run_solver(x),
        _make_tangent_solve(ridge),
        has_aux=True,
    )
