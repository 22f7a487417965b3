"""Functions of Hermitian matrices, ``F(A) = V f(Λ) Vᴴ``, with exact derivatives at ties.

The derivative of a spectral function is written with divided differences of the scalar
``f``, never with the eigenvector derivative ``dV``: the eigenvectors of a tied cluster
are arbitrary, but the divided differences stay finite and continuous as eigenvalues
merge, so first and second derivatives are exact at exact ties, near ties and ties
split only by rounding.

Stable divided differences (the one numerical choice made here)
-----------------------------------------------------------------
The first divided difference is an average of ``f′`` (Hermite–Genocchi):

    f[x, y] = ∫₀¹ f′(y + t(x − y)) dt.

Two estimates are computed for every pair: the quotient ``q = (f(x) − f(y))/(x − y)``,
whose rounding error is ``e_q ≈ (2·eps·(|f(x)| + |f(y)|) + n(x) + n(y))/|x − y|``, with
``n`` the spread of the computed ``f`` over its argument moved by a few ulps, which holds
the rounding ``f`` does inside (``sin(50x)`` rounds ``50x``) (it grows as the gap
closes) unless it is a jump of ``f`` (above ``√eps·(|f| + |λ f′|)``), and the 5-point
Gauss–Lobatto rule on the integral,
``L = (f′(x) + f′(y))/20 + 49/180·(f′(l) + f′(r)) + 16/45·f′(m)`` with ``m = (x + y)/2``
and ``l, r = m ∓ √(3/7)·(y − x)/2``, whose truncation error ``O((x − y)⁸ f⁽⁹⁾)`` shrinks
as the gap closes. ``L`` is used when it agrees with ``q`` to within ``q``'s own
rounding error (then ``|L − f[x, y]| <= 2 e_q``, and near a tie ``L`` is far better),
and ``q`` otherwise (``L`` then provably has the larger error); ``q`` is also taken
where its bound is below ``L``'s estimated error. The switch needs no scale for ``λ``
or for ``f``: the worst case, where both errors are equal, is a relative error of order
``eps^(8/9)`` (1e-14 in float64) when ``n`` is ``f``'s rounding; when ``n`` is ``f``'s
slope (an accurate ``f`` far from 0) ``L`` is taken up to gaps near 1, where its own
error is larger (2.4e-12 for ``sin`` at ``λ = 1e6``, gap 0.5). Exact ties use
``f′(x)``. Where ``|λ|`` is far above the gap the interior nodes round to floats
``eps·|λ|`` off their places; each ``f′`` there is moved back along the interpolant's
slope.

The second divided difference is an average of ``f″/2`` over a triangle:

    f[x, y, z] = ∫_{t ∈ simplex} f″(t₀x + t₁y + t₂z) dt   (area ½).

The quotient form ``(f[x, y] − f[y, z])/(x − z)`` is taken across the widest of the
three gaps (any of the three forms is exact in exact arithmetic); the clustered estimate
is the edge-midpoint rule ``T = (f″(m_xy) + f″(m_yz) + f″(m_xz))/6``, exact when ``f″``
is quadratic (error O(gap³ f⁽⁵⁾)). The same agreement test picks one: ``T`` when it lies
within the quotient's propagated error of the quotient.

Cost: first order is one eigendecomposition and a few matrix products (O(n³)); second
order builds the ``(n, n, n)`` tensor of second divided differences, O(n³) memory.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jaxtyping import Array, ArrayLike, Inexact

from .._errors import readable_errors
from .._throw import check
from .._traced import Traced, trace
from .._where import where
from ._checks import as_inexact_matrix, hermitian_part, host_array, matrix_dtype, nan_where, split_nonfinite
from ._ties import default_tie_rtol, tie_tolerance


def _mH(x):
    return jnp.conj(jnp.swapaxes(x, -1, -2))


def _eigh_raw(a):
    # LAPACK-backed eigh with *no* derivative of ours: every rule below calls it on a
    # primal value only, and the rules never differentiate the eigenvectors.
    # (Not `ordered_eigh`: its sort doubles the compile time of a small eigh, and the
    # matrix functions' first-call goal is half of jax.scipy.linalg.expm's.)
    v, w = lax.linalg.eigh(a, lower=True, symmetrize_input=False, sort_eigenvalues=True)
    return w, v


def _spectrum(f, a):
    """Eigen-decomposition for the rules, with ``f``'s optional domain preparation.

    A scalar function may carry ``prepare_eigenvalues(w)`` (e.g. the semidefinite
    functions map rounding-negative eigenvalues to 0 and clearly negative ones to NaN);
    it is applied identically in the primal and in every rule.
    """
    w, v = _eigh_raw(a)
    prepare = getattr(f, "prepare_eigenvalues", None)
    return (prepare(w) if prepare else w), v


def _eps(dtype) -> float:
    return float(np.finfo(jnp.finfo(dtype).dtype).eps)


# --------------------------------------------------------------------------------------
# Scalar functions and their derivatives.
#
# `f(x, *params)` is elementwise in `x` (a real array of any shape) and may depend on
# differentiable `params`. Derivatives in `x` are taken by forward mode on `f` itself.


def _d1(f: Callable) -> Callable:
    def df(x, *params):
        return jax.jvp(lambda y: f(y, *params), (x,), (jnp.ones_like(x),))[1]

    return df


def _param_partials(f: Callable, params, dparams):
    """``[(h, k, m)]``: ``h(x, *params) = ∂f/∂pₖ[m] (x)`` for every entry m of every
    inexact parameter ``pₖ`` whose tangent ``dparams[k]`` is not a symbolic zero (every
    array a user's function reads is a parameter, most of them never differentiated).

    ``V h(Λ) Vᴴ`` is the derivative of ``V f(Λ; p) Vᴴ`` along that entry, itself a
    matrix function: multiplying it by the tangent keeps the parameter term linear in
    the tangent with a differentiable coefficient (one matrix function per parameter
    entry, so closures should hold a few scalars, not large arrays).
    """
    out = []
    for k, p in enumerate(params):
        p = jnp.asarray(p)
        if not jnp.issubdtype(p.dtype, jnp.inexact) or _is_zero(dparams[k]):
            continue
        for m in range(p.size):

            def h(x, *ps, k=k, m=m):
                pk = jnp.asarray(ps[k])
                onehot = jnp.zeros(pk.size, pk.dtype).at[m].set(1).reshape(pk.shape)

                def f_of_pk(pk):
                    return f(x, *ps[:k], pk, *ps[k + 1 :])

                return jax.jvp(f_of_pk, (pk,), (onehot,))[1]

            if hasattr(f, "prepare_eigenvalues"):
                h.prepare_eigenvalues = f.prepare_eigenvalues
            out.append((h, k, m))
    return out


def _is_zero(t) -> bool:
    return isinstance(t, (ad.Zero, SymbolicZero))


# --------------------------------------------------------------------------------------
# Divided differences.


def first_divided_differences(f: Callable, w, params=()):
    """``Γ[..., i, j] = f[wᵢ, wⱼ]`` (``f′(wᵢ)`` on ties) and an error estimate for each entry.

    See the module docstring for the quotient/Lobatto switch.
    """
    eps = _eps(w.dtype)
    df = _d1(f)
    fw, dfw, f_spread, df_spread = values_and_spreads(f, w, params)
    x, y = w[..., :, None], w[..., None, :]
    fx, fy = fw[..., :, None], fw[..., None, :]
    dfx, dfy = dfw[..., :, None], dfw[..., None, :]
    h = x - y
    tied = h == 0
    h_safe = where(tied, jnp.ones_like(h), h)
    # f′ at the rule's interior nodes, placed from x towards y. Where |λ| is far above the
    # gap a node rounds to a float eps·|λ| away from its place, an error eps·|λ|·|f″| the
    # rule cannot afford (1.6e-11 for sin at λ = 1e6, gap 0.1): each value is moved back
    # to its place along the derivative of the degree-4 interpolant of the five f′ values.
    span = y - x
    # (The nodes on a last axis: one trace of f′ for the three of them; f's parameters
    # may carry the leading batch axes of w, so no axis goes in front.)
    offsets = jnp.asarray(_LOBATTO_OFFSETS, span.dtype)
    placed = x[..., None] + offsets * span[..., None]  # (..., n, n, 3)
    residual = offsets * span[..., None] - (placed - x[..., None])
    inner = df(placed, *params)
    values = [dfx, inner[..., 0], inner[..., 1], inner[..., 2], dfy]
    # f″ ≈ (2/span)·Σⱼ Dᵢⱼ f′ⱼ, the interpolant's slope; no correction where the node is
    # in place or the slope is not finite (an infinite f′ at a node, √x's odd extension
    # at 0 in svd_funm, gave 0·∞ = NaN). The slope is zeroed before the product, not
    # after: svd_funm's second derivative differentiates this, and a where() after the
    # product passed 0·∞ back into the eigenvalues. (Plain elementwise terms: the same
    # sum over stacked 5-value arrays compiled 50 % slower.)
    moved = []
    for k, row in enumerate(_LOBATTO_DIFF[1:4]):
        slope = sum(d * v for d, v in zip(row, values))
        slope = where(jnp.isfinite(slope), slope, 0.0)
        r = residual[..., k]
        moved.append(values[k + 1] + where(tied | (r == 0), 0.0, r * (2 / -h_safe) * slope))
    dfl, dfm, dfr = moved
    # (Each term scaled before the sum, and the error terms below formed without squares:
    # f′ up to the largest float (expm at λ ≈ 709) must not overflow them.)
    simpson = dfx / 6 + dfm * (2 / 3) + dfy / 6
    lobatto = dfx / 20 + dfy / 20 + dfl * (49 / 180) + dfr * (49 / 180) + dfm * (16 / 45)
    lobatto = where(tied, dfx, lobatto)  # f′(x) itself, not its five rounded parts
    quotient = (fx - fy) / h_safe
    # The quotient's error: the rounding of f(x) and f(y) (eps·|f|) and what f rounds
    # inside, measured as f's spread over its argument moved by a few ulps: sin(50x)
    # rounds 50x, an error eps·|x f′(x)|, 185·eps·|f| at x = 1. Left out, it made a tie
    # split by rounding take the quotient: 49.4 for f[1, 1 + 1e-15] = 48.25, and second
    # derivatives off by 1e15 (outside probe); f = x − sin x rounds x itself, eps·|x|,
    # far above eps·(|f| + |x f′|) near 0. The spread also holds f's slope,
    # eps·|w f′(w)|, noise or not (x**200 near 1 rounds that much, in errors shared by
    # the neighbouring floats, so that no probe at a few ulps sees them): for an
    # accurate f at large |w| (sin at 1e6) it overstates the quotient's error and hands
    # pairs with gaps up to ~1 to the integral rule, which must then be accurate there
    # (Simpson's rule lost 1e-6 in second derivatives; outside review). A spread above
    # √eps·(|f| + |w f′|) is not rounding but a jump of f beside w (a step function at
    # its step), counted as noise it handed the step's divided difference to the rule's
    # 0 (outside review); it counts as 4·eps·(|f| + |w f′|). An f that overflows beside
    # w gives no spread.
    size = jnp.abs(fw) + jnp.abs(w * dfw)
    fnoise = where(f_spread > np.sqrt(eps) * size, 4 * eps * size, f_spread)
    fnoise = where(jnp.isfinite(fnoise), fnoise, 0.0)
    # Plus the smallest normal float, `tiny`, in every bound: XLA's CPU code flushes
    # results below it to 0, so for |f| below tiny/eps (1e-292 in float64, 2e-31 in
    # float32) eps·|f| and the spread were 0 while f(x) − f(y) lost everything below
    # tiny: the quotient was always taken, funm(x³)'s first derivative at λ ~ 1e-100 (1e-11
    # in float32) came out 25 % off and its second derivatives 1e11 times too large, of
    # either sign (outside probe; f's values there are ordinary floats).
    tiny = jnp.finfo(w.dtype).tiny
    bound_x = 2 * eps * jnp.abs(fx) + fnoise[..., :, None] + tiny
    bound_y = 2 * eps * jnp.abs(fy) + fnoise[..., None, :] + tiny
    err_q = where(tied, jnp.inf, bound_x / jnp.abs(h_safe) + bound_y / jnp.abs(h_safe))
    # Lobatto's error is estimated from Simpson's: |L − S| ~ gap⁴ f⁽⁵⁾ and Lobatto's
    # ~ gap⁸ f⁽⁹⁾ ≈ |L − S|² / |f′| for an f with a single length scale.
    abs_l = jnp.abs(lobatto)
    noise = jnp.maximum(df_spread[..., :, None], df_spread[..., None, :])
    low_err = jnp.abs(lobatto - simpson)
    err_l = 4 * eps * abs_l + noise + low_err * (low_err / jnp.maximum(abs_l, tiny))
    # The quotient where it disagrees with L beyond its own error, and also where its
    # error bound is below L's estimate (then the two agree, and q is the safer of
    # them): with q's bound holding f's slope (sin at 1e6), L alone was taken up to
    # gaps near 1, where its truncation left 3e-10. And where the rule is not finite
    # (f′ infinite or NaN at an interior node: √|x|·sin x has NaN f′ at the node 0
    # between −1 and 1, where the quotient is exact; outside probe).
    use_q = ~tied & ((jnp.abs(lobatto - quotient) > err_q) | (err_q < err_l) | ~jnp.isfinite(lobatto))
    gamma = where(use_q, quotient, lobatto)
    # (+ tiny: the second divided differences divide differences of these, which lose
    # what falls below tiny, by gaps.)
    err = where(use_q, err_q, err_l) + eps * jnp.abs(gamma) + tiny
    return gamma, err


# The 5-point Gauss–Lobatto rule on [−1, 1]: nodes ±1, ±√(3/7), 0; weights 1/10, 49/90,
# 32/45 (Abramowitz & Stegun 25.4.32); exact for polynomials of degree 7. Offsets of the
# interior nodes as fractions of the interval, and the differentiation matrix of the
# interpolant at the five nodes (d/dτ on [−1, 1]: Dᵢⱼ = ℓⱼ′(τᵢ)).
_LOBATTO_TAU = np.array([-1.0, -np.sqrt(3 / 7), 0.0, np.sqrt(3 / 7), 1.0])
_LOBATTO_OFFSETS = tuple(float(t) for t in (1 + _LOBATTO_TAU[1:4]) / 2)


def _differentiation_matrix(tau):
    n = len(tau)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                d[i, i] = sum(1 / (tau[i] - tau[k]) for k in range(n) if k != i)
            else:
                others = [k for k in range(n) if k not in (i, j)]
                d[i, j] = np.prod(tau[i] - tau[others]) / np.prod(tau[j] - tau[[*others, i]])
    return tuple(tuple(float(v) for v in row) for row in d)


_LOBATTO_DIFF = _differentiation_matrix(_LOBATTO_TAU)


def values_and_spreads(f: Callable, w, params=()):
    """``f(w)``, ``f′(w)`` and the rounding noise of each at every ``w``: its spread over
    ``w`` moved by up to 2 ulps (one forward-mode trace of ``f`` for all of it).

    For ``f′``: a derivative taken by AD can carry an absolute error far above
    ``eps·|f′|`` (``tanh′`` computed as ``1 − tanh²`` has error ~``eps`` where ``tanh′`` is 0.07), which the
    error estimate of the integral rule must include: the second divided differences divide
    differences of ``f′``-based estimates by gaps of rounding size, and an underestimated
    error there picks a quotient made of noise. The spread also holds the change of ``f′``
    over the eigenvalue's own rounding uncertainty, a legitimate error term.
    """
    step = _eps(w.dtype) * jnp.maximum(jnp.abs(w), jnp.finfo(w.dtype).tiny)
    # (The points on a last axis: f's parameters may carry the leading batch axes of w.)
    points = w[..., None] + jnp.asarray([0.0, -2.0, -1.0, 1.0, 2.0], w.dtype) * step[..., None]
    values, slopes = jax.jvp(lambda y: f(y, *params), (points,), (jnp.ones_like(points),))
    fw, dfw = values[..., 0], slopes[..., 0]
    f_spread = jnp.max(jnp.abs(values[..., 1:] - fw[..., None]), axis=-1)
    df_spread = jnp.max(jnp.abs(slopes[..., 1:] - dfw[..., None]), axis=-1)
    return fw, dfw, f_spread, df_spread


def second_divided_differences(f: Callable, w, params=()):
    """``Γ²[..., i, j, k] = f[wᵢ, wₖ, wⱼ]`` (``f″(wᵢ)/2`` at a triple tie)."""
    eps = _eps(w.dtype)
    g1, e1 = first_divided_differences(f, w, params)
    d2f = _d1(_d1(f))
    x, y = w[..., :, None], w[..., None, :]
    f2m = d2f(x + (y - x) / 2, *params)  # f″ at pairwise midpoints, (..., n, n)

    # Index the triple (i, j, k) with the pair quantities P[a, b].
    def ik(p):
        return p[..., :, None, :]

    def kj(p):
        return jnp.swapaxes(p, -1, -2)[..., None, :, :]

    def ij(p):
        return p[..., :, :, None]

    wi, wj, wk = w[..., :, None, None], w[..., None, :, None], w[..., None, None, :]
    # Three exact quotient forms, each dividing by one of the gaps:
    #   (f[i,k] − f[k,j])/(λi − λj),  (f[k,i] − f[i,j])/(λk − λj),  (f[i,j] − f[j,k])/(λi − λk).
    gaps = (wi - wj, wk - wj, wi - wk)
    nums = (ik(g1) - kj(g1), ik(g1) - ij(g1), ij(g1) - kj(g1))
    errs = (ik(e1) + kj(e1), ik(e1) + ij(e1), ij(e1) + kj(e1))
    gaps = jnp.broadcast_arrays(*gaps)
    widest = jnp.argmax(jnp.stack([jnp.abs(g) for g in gaps]), axis=0)

    def pick(options):
        return where(widest == 0, options[0], where(widest == 1, options[1], options[2]))

    gap, num, err = pick(gaps), pick(nums), pick(errs)
    tied = gap == 0
    gap_safe = where(tied, jnp.ones_like(gap), gap)
    quotient = num / gap_safe
    err_q = err / jnp.abs(gap_safe) + eps * jnp.abs(quotient)
    cluster = ik(f2m) / 6 + kj(f2m) / 6 + ij(f2m) / 6
    # T's error, from the vertex rule V = (f″(wᵢ) + f″(wⱼ) + f″(wₖ))/6: |T − V| ~ gap²
    # and T's ~ gap³, so about |T − V|^(3/2) / |f″|^(1/2) for an f with a single length
    # scale (unknown, and not used, where it is not finite). As for the first divided
    # differences, the quotient is also taken where its bound is below that: its bound
    # holds f′'s slope for an accurate f far from 0, and T alone was taken up to gaps
    # where its own error was the larger: 1.4e-9 for cos at λ = 3e4, gap 7e-3 (now
    # 4e-14), 4.4e-12 for exp at 1, gap 1.2e-3 (bench/divided_differences.py).
    f2w = jnp.diagonal(f2m, axis1=-2, axis2=-1)  # f″(wᵢ): the midpoint of (wᵢ, wᵢ) is wᵢ
    vertex = f2w[..., :, None, None] / 6 + f2w[..., None, :, None] / 6 + f2w[..., None, None, :] / 6
    low = jnp.abs(cluster - vertex)
    abs_c = jnp.abs(cluster)
    err_c = low * jnp.sqrt(low / jnp.maximum(abs_c, jnp.finfo(abs_c.dtype).tiny))
    err_c = where(jnp.isfinite(err_c), err_c, 0.0)
    use_q = ~tied & ((jnp.abs(cluster - quotient) > err_q) | (err_q < err_c) | ~jnp.isfinite(cluster))
    return where(use_q, quotient, cluster)


# --------------------------------------------------------------------------------------
# The rules.
#
# Daleckii–Krein (1965); Higham, "Functions of Matrices" (2008), Thm 3.11; Bhatia,
# "Matrix Analysis" (1997), Thm V.3.3: for Hermitian A = V Λ Vᴴ and f C¹ on the spectrum,
#   dF = L(A, dA) = V (Γ ∘ (Vᴴ dA V)) Vᴴ,   Γᵢⱼ = f[λᵢ, λⱼ],  Γᵢᵢ = f′(λᵢ).
# Γ is a continuous function of the eigenvalues and the expression is invariant under
# any unitary rotation inside a tied cluster (Γ is constant on the cluster block), so it
# is exact at ties. Parameters of f: ∂F/∂p = V diag(∂f/∂p(λ)) Vᴴ, itself a matrix
# function, which keeps that term differentiable to every order the rules support.


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _funm(f, a, params):
    w, v = _spectrum(f, a)
    return (v * f(w, *params)[..., None, :].astype(v.dtype)) @ _mH(v)


@functools.partial(_funm.defjvp, symbolic_zeros=True)
def _funm_jvp(f, primals, tangents):
    a, params = primals
    da, dparams = tangents
    out = _funm(f, a, params)
    dout = jnp.zeros_like(out)
    if not _is_zero(da):
        dout = dout + frechet(f, a, da, params)
    for h, k, m in _param_partials(f, params, dparams):
        dout = dout + (_funm(h, a, params) * jnp.ravel(dparams[k])[m]).astype(dout.dtype)
    return out, dout


# The Fréchet derivative and its derivative are primitives, not custom_jvp functions:
# reverse mode transposes L(A, ·) in E, and a custom_jvp function would be inlined
# there, so a second (forward-over-reverse) derivative would see LAPACK's eigenvector
# derivative instead of this rule. As primitives, their transposes are again L (and
# D²F), whose JVP rules below stay in charge at every order they support.

frechet_p = Primitive("jaxgrad_funm_frechet")
frechet2_p = Primitive("jaxgrad_funm_frechet2")


def frechet(f: Callable, a, e, params=()):
    """``L_f(A, E) = V (Γ ∘ (Vᴴ E V)) Vᴴ``: the Fréchet derivative of ``funm`` at ``a``."""
    return frechet_p.bind(a, e, *params, f=f)


def frechet2(f: Callable, a, e1, e2, params=()):
    """``D²F(A)[E₁, E₂]``, the second Fréchet derivative of ``funm`` at Hermitian ``a``."""
    return frechet2_p.bind(a, e1, e2, *params, f=f)


def _first(f, w, params):
    custom = getattr(f, "first_divided_differences", None)
    return custom(w, *params) if custom else first_divided_differences(f, w, params)[0]


def _second(f, w, params):
    custom = getattr(f, "second_divided_differences", None)
    return custom(w, *params) if custom else second_divided_differences(f, w, params)


def _frechet_impl(a, e, *params, f):
    w, v = _spectrum(f, a)
    gamma = _first(f, w, params).astype(v.dtype)
    c = _mH(v) @ e @ v
    bad = ~jnp.isfinite(gamma)
    inner = where(bad, jnp.zeros_like(c), gamma * c)
    return v @ _nan_where_reached(inner, bad, (c,), f, w, params) @ _mH(v)


def _nan_where_reached(inner, bad, directions, f, w, params):
    """`inner` (the Daleckii–Krein sum in the eigenbasis, with the non-finite divided
    differences `bad` left out) where the directions leave alone every eigenvalue at
    which f′ (f″) is not finite; NaN for the matrix where they do not, where a
    non-finite entry involves no such eigenvalue, and where f itself is not finite at
    an eigenvalue (outside its domain: the value is NaN too).

    An eigenvalue is left alone when its row and column of every Cₘ = Vᴴ Eₘ V are exactly
    0: A + tE keeps it and its eigenvector, and no term of the sum involves it. As a
    plain product, the non-finite entries' 0·∞ made every entry NaN also for such
    directions, where the closed form is finite (found by an outside probe:
    `powm(diag(0, 1, 2), 1.0)`, whose second derivative is 0 where JAX's
    f″(0) = 1·0·0⁻¹ is NaN; `logm` at an eigenvalue 1e-160, where f″ overflows). A
    direction that couples such an eigenvalue to another one still gives NaN (C₀₁ ≠ 0
    at diag(0, 1, 4) moves the eigenvalue 0 to −t², out of sqrtm's domain, although
    the entry Γ₀₁ is finite)."""
    k = bad.ndim - w.ndim + 1  # core axes of `bad`, each an eigenvalue index
    singular = bad
    for _ in range(k - 1):  # the entry (m, m[, m]) of each eigenvalue m
        singular = jnp.diagonal(singular, axis1=-2, axis2=-1)
    defined = jnp.isfinite(f(w, *params))
    singular = singular | ~defined
    involves = None
    for axis in range(k):
        shape = [1] * k
        shape[axis] = w.shape[-1]
        s_ax = singular.reshape(singular.shape[:-1] + tuple(shape))
        involves = s_ax if involves is None else involves | s_ax
    stray = jnp.any(bad & ~involves, axis=tuple(range(-k, 0)))
    touched = None
    for c in directions:
        t = jnp.any(c != 0, axis=-1) | jnp.any(c != 0, axis=-2)
        touched = t if touched is None else touched | t
    reached = jnp.any(singular & touched, axis=-1) | stray | ~jnp.all(defined, axis=-1)
    return where(reached[..., None, None], jnp.asarray(jnp.nan, inner.dtype), inner)


# Second Fréchet derivative (Higham 2008, §3.5; Bhatia 1997, Thm V.3.5, the second-order
# Daleckii–Krein formula): with Cₘ = Vᴴ Eₘ V,
#   D²F(A)[E₁, E₂] = V ( Σₖ f[λᵢ, λₖ, λⱼ] (C₁ᵢₖ C₂ₖⱼ + C₂ᵢₖ C₁ₖⱼ) ) Vᴴ,
# the derivative of L(A, E₁) along A ↦ A + t E₂. f[λᵢ, λₖ, λⱼ] is continuous through
# ties (f″/2 at a triple tie), so Hessians of F are exact at ties. L is linear in E, so
# its derivative in E is L itself; parameters enter as for F (∂L_f/∂p = L_{∂f/∂p}).
def _frechet_jvp(primals, tangents, *, f):
    a, e, *params = primals
    da, de, *dparams = tangents
    out = frechet(f, a, e, params)
    dout = jnp.zeros_like(out)
    if not _is_zero(de):
        dout = dout + frechet(f, a, de, params)
    if not _is_zero(da):
        dout = dout + frechet2(f, a, e, da, params)
    for h, k, m in _param_partials(f, params, dparams):
        dout = dout + (frechet(h, a, e, params) * jnp.ravel(dparams[k])[m]).astype(dout.dtype)
    return out, dout


# Transposes use the bilinear pairing Σ X∘Y of JAX's linear transposition. With Γ real,
# Σ L(E)∘Y = Σ E∘conj(L(conj Y)); for D²F, Γ² is symmetric in all three indices and
#   Σ D²F[E₁, E₂]∘Y = Σ E₁∘conj(D²F[conj Y, E₂ᴴ]).
def _frechet_transpose(ct, a, e, *params, f):
    assert not ad.is_undefined_primal(a)
    ct = ad.instantiate_zeros(ct)
    return [None, jnp.conj(frechet(f, a, jnp.conj(ct), params)), *([None] * len(params))]


def _frechet2_impl(a, e1, e2, *params, f):
    w, v = _spectrum(f, a)
    gamma2 = _second(f, w, params).astype(v.dtype)
    c1, c2 = _mH(v) @ e1 @ v, _mH(v) @ e2 @ v
    bad = ~jnp.isfinite(gamma2)  # see `_nan_where_reached`
    gamma2 = where(bad, jnp.zeros_like(gamma2), gamma2)
    inner = jnp.einsum("...ijk,...ik,...kj->...ij", gamma2, c1, c2)
    inner = inner + jnp.einsum("...ijk,...ik,...kj->...ij", gamma2, c2, c1)
    inner = _nan_where_reached(inner, bad, (c1, c2), f, w, params)
    return v @ inner @ _mH(v)


# Third order is not derived from divided differences: the JVP of the second-order term
# differentiates its own formula (LAPACK eigh's eigenvector derivative, exact only for
# simple eigenvalues). Where two eigenvalues are tied (gap <= sqrt(eps)·max|λ|) that
# derivative has no correct digits, so it is replaced by NaN rather than returned wrong:
# by a factor NaN (not `where(tied, nan, dout)`, whose constant branch reverse mode
# drops, leaving a confident 0 for a third derivative of 3.58).
def _frechet2_jvp(primals, tangents, *, f):
    tangents = [ad.instantiate_zeros(t) for t in tangents]
    out, dout = jax.jvp(functools.partial(_frechet2_impl, f=f), tuple(primals), tuple(tangents))
    w, _ = _eigh_raw(primals[0])
    diff = jnp.abs(w[..., :, None] - w[..., None, :])
    off = ~jnp.eye(w.shape[-1], dtype=bool)
    tied = jnp.any(off & (diff <= tie_tolerance(w, default_tie_rtol(w.dtype))), axis=(-2, -1))
    return out, dout * where(tied, jnp.nan, 1.0).astype(dout.real.dtype)[..., None, None]


def _frechet2_transpose(ct, a, e1, e2, *params, f):
    assert not ad.is_undefined_primal(a)
    ct = ad.instantiate_zeros(ct)
    none = [None] * len(params)
    if ad.is_undefined_primal(e1) and ad.is_undefined_primal(e2):
        raise NotImplementedError("frechet2 is bilinear; transpose in one argument only.")
    if ad.is_undefined_primal(e1):
        return [None, jnp.conj(frechet2(f, a, jnp.conj(ct), _mH(e2), params)), None, *none]
    return [None, None, jnp.conj(frechet2(f, a, _mH(e1), jnp.conj(ct), params)), *none]


def _abstract_eval(a, *args, f):
    del f
    dtype = jnp.result_type(a.dtype, *(x.dtype for x in args[:2] if hasattr(x, "dtype")))
    # `update` keeps the sharding of `a` (explicit sharding type-checks it under jit).
    return a.update(dtype=dtype, weak_type=False)


def _make_batcher(prim, n_mat: int):
    def batcher(args, dims, *, f):
        size = next(x.shape[d] for x, d in zip(args, dims) if d is not None)
        lane = getattr(f, "lane_mapped", None)
        if lane is not None and all(d is None for d in dims[n_mat:]):
            # f is already mapped over the lanes of an inner `vmap` (axis 0 of the
            # matrices, see below) and this batch (`jacfwd`'s directions around it, say)
            # shares its parameters: the new axis goes behind the lanes, so that f still
            # finds its lanes in front (in front of them, `jax.hessian` of a loss that
            # vmaps `funm` over f's parameters raised; outside review).
            # f lane-mapped twice (svt on a stack with two batch dimensions, or two vmaps
            # over f's parameters) has two lane axes in front: the new axis goes behind
            # all of them, and every level learns of it (behind the outer lanes only, the
            # inner f took it for its own lanes: `jax.jacfwd` of svt on a (2, 3, m, n)
            # stack raised; a review).
            depth, mapped = _one_more_axis(f)
            mats = [
                jnp.broadcast_to(jnp.expand_dims(x, depth), x.shape[:depth] + (size,) + x.shape[depth:])
                if d is None else jnp.moveaxis(x, d, depth)
                for x, d in zip(args[:n_mat], dims[:n_mat])
            ]
            return prim.bind(*mats, *args[n_mat:], f=mapped), depth
        moved = [
            jnp.broadcast_to(x, (size, *x.shape)) if d is None else jnp.moveaxis(x, d, 0)
            for x, d in zip(args, dims)
        ]
        if all(d is None for d in dims[n_mat:]):
            # Matrices carry leading batch dimensions natively; parameters are shared.
            mats = moved[:n_mat]
            return prim.bind(*mats, *args[n_mat:], f=f), 0
        # Parameters per lane: the matrices carry the batch as their leading dimension,
        # and f is mapped over it with them. (It was `lax.map` of the whole rule, one
        # lane after the other, which on a batch sharded across devices gathered the
        # batch onto every device; found by an outside probe.)
        return prim.bind(*moved, f=_lane_mapped(f, size, moved[0].ndim - 2)), 0

    return batcher


def _one_more_axis(f):
    """`(depth, g)` for a lane-mapped f (`_lane_mapped`, possibly of a lane-mapped f):
    the number of lane axes in front of the matrices, and f rebuilt for matrices with
    one more batch axis right behind them (each level's `lead` one larger)."""
    lane = getattr(f, "lane_mapped", None)
    if lane is None:
        return 0, f
    base, size, lead = lane
    depth, inner = _one_more_axis(base)
    return depth + 1, _lane_mapped(inner, size, lead + 1)


def _lane_mapped(f, size, lead):
    """f with its parameters carrying a leading batch axis of `size`, applied lane by
    lane to x, whose leading axis is that batch (x derived from the batched matrices'
    eigen- or singular values). A scalar x (f(0), `_svd_funm._zero_flags`) is the same in
    every lane: the result has shape (size, 1, ...) with 1 + `lead` axes in all, to
    broadcast against values of shape (size, *batch, n). Where f is itself lane-mapped
    (per-lane parameters under two `vmap`s, or `svt` on a stack with more than one batch
    dimension) its own lanes follow: (size, inner, 1, ...). (Reshaped to (size, 1, ...),
    that raised in every derivative of `svt` on a (2, 3, m, n) stack; outside probe.)"""

    def mapped(x, *params):
        x = jnp.asarray(x)
        if x.ndim == 0:
            out = jax.vmap(lambda *p: f(x, *p))(*params)
            return out.reshape(out.shape + (1,) * (1 + lead - out.ndim))
        return jax.vmap(f)(x, *params)

    # f's own rules go with it: its eigenvalue preparation (parameter-free, on the
    # batched eigenvalues as they are) and its closed-form divided differences (lane by
    # lane). Dropped, svd_funm's second derivative of 1/s under `vmap` over a parameter
    # of f lost the snapping of the dilation's zero eigenvalues: 3896 for 26.1 (outside
    # review).
    mapped.lane_mapped = (f, size, lead)
    prepare = getattr(f, "prepare_eigenvalues", None)
    if prepare is not None:
        mapped.prepare_eigenvalues = prepare
    for name in ("first_divided_differences", "second_divided_differences"):
        custom = getattr(f, name, None)
        if custom is not None:
            setattr(mapped, name, lambda w, *p, custom=custom: jax.vmap(custom)(w, *p))
    return mapped


for _prim, _impl, _jvp, _transpose, _n_mat in (
    (frechet_p, _frechet_impl, _frechet_jvp, _frechet_transpose, 2),
    (frechet2_p, _frechet2_impl, _frechet2_jvp, _frechet2_transpose, 3),
):
    _prim.def_impl(_impl)
    _prim.def_abstract_eval(_abstract_eval)
    ad.primitive_jvps[_prim] = _jvp
    ad.primitive_transposes[_prim] = _transpose
    batching.primitive_batchers[_prim] = _make_batcher(_prim, _n_mat)
    mlir.register_lowering(_prim, mlir.lower_fun(_impl, multiple_results=False))


# --------------------------------------------------------------------------------------
# Public wrapper.


def check_hermitian_rtol(hermitian_rtol, fn: str) -> float | None:
    """``None`` or a float >= 0 (``inf`` allowed): the static option of the compiled cores."""
    if hermitian_rtol is None:
        return None
    rtol = float(hermitian_rtol)
    if np.isnan(rtol) or rtol < 0:
        raise ValueError(f"{fn}: hermitian_rtol must be >= 0 or None; got {hermitian_rtol!r}.")
    return rtol


def hermitian_input(a, fn: str, hermitian_rtol: float | None):
    """Checked, symmetrized, finite input for the matrix-function cores.

    Returns ``(a, bad)``: ``(a + aᴴ)/2`` (`hermitian_part`) with non-finite matrices zeroed, and the mask
    of those matrices. A non-Hermitian input (``‖a − aᴴ‖_F > hermitian_rtol · ‖a‖_F``)
    raises at run time (`jaxgrad._throw.check`); ``hermitian_rtol=inf`` skips the check.
    """
    a = as_inexact_matrix(a, fn)
    rtol = check_hermitian_rtol(hermitian_rtol, fn)
    if rtol is None:
        rtol = default_tie_rtol(a.dtype)
    herm, bad = split_nonfinite(hermitian_part(a))
    if np.isfinite(rtol):
        # Norms of `a` scaled by its largest entry: the squares in ‖·‖_F overflowed
        # (1e160·a) or underflowed (1e-170·a) and the check passed silently.
        big = jnp.max(jnp.abs(a), axis=(-2, -1), keepdims=True, initial=0.0)
        unit = a / where((big > 0) & jnp.isfinite(big), big, 1).astype(a.dtype)
        skew = jnp.linalg.norm(unit - _mH(unit), axis=(-2, -1))
        size = jnp.linalg.norm(unit, axis=(-2, -1))
        # The check reduces to one scalar predicate, and the error is threaded through a
        # scalar `False` joined into `bad`, not through `a`: `error_if`'s host callback
        # then moves a scalar, so an input sharded along its batch stays sharded (threaded
        # through `a`, XLA pins the whole batch to one device to feed the callback's
        # branch). Values are untouched; with EQX_ON_ERROR=nan every matrix becomes NaN,
        # as when `a` itself was made NaN.
        fail = jnp.any(skew > rtol * size)
        raised = check(
            fail,
            f"{fn}: argument `a` is not Hermitian (‖a − aᴴ‖ > {rtol:.1e}·‖a‖). "
            "Matrix functions here are defined through the Hermitian eigendecomposition.",
        )
        bad = bad | raised
    return herm, bad


def elementwise(f: Callable, dtype, fn: str, spectrum: str = "eigenvalues"):
    """``f`` traced at a real scalar of ``dtype``'s precision (see `jaxgrad._traced`), checked.

    Returns ``(traced, consts)``: ``traced`` is hashable and static for a compiled core,
    ``consts`` are the arrays ``f`` reads (closed-over values, tracers of an enclosing
    transformation), which the core takes as ordinary, differentiable arguments. Inside
    the core, `elementwise_function` turns them back into a function of the eigenvalues.
    """
    if not callable(f):
        raise TypeError(f"{fn}: `f` must be callable; got {type(f).__name__}.")
    real = jnp.finfo(dtype).dtype
    try:
        traced, consts = trace(f, jax.ShapeDtypeStruct((), real))
    except TypeError as e:  # (f returning a string: the message alone, without the function's name)
        raise TypeError(f"{fn}: calling `f` on a real scalar failed: {e}") from e
    out = traced.out_shape
    if getattr(out, "shape", None) != ():
        raise ValueError(
            f"{fn}: `f` must map a scalar to a scalar (it is applied elementwise to the "
            f"{spectrum}); on a scalar it returned {out}."
        )
    if jnp.issubdtype(out.dtype, jnp.complexfloating):
        raise TypeError(f"{fn}: `f` must be real-valued on real numbers; it returned {out.dtype}.")
    return traced, consts


def elementwise_function(traced: Traced, dtype):
    """``g(x, *consts)``: the traced scalar function mapped over the entries of the real
    array ``x``, in ``dtype``'s real precision."""
    real = jnp.finfo(dtype).dtype

    def g(x, *c):
        y = jax.vmap(lambda t: traced(c, t))(jnp.ravel(x))
        return y.reshape(x.shape).astype(real)

    return g


# The compiled core of `funm`: one executable per (f, hermitian_rtol, shape, dtype), with
# `f` keyed by what it computes and the arrays it reads passed as arguments (see
# `jaxgrad._traced`), so a repeated eager call, or a new value of a closed-over array,
# runs the cached executable.
@functools.partial(jax.jit, static_argnames=("traced", "hermitian_rtol"))
def _funm_compiled(a, consts, traced, hermitian_rtol):
    a, bad = hermitian_input(a, "jaxgrad.linalg.funm", hermitian_rtol)
    g = elementwise_function(traced, a.dtype)
    return nan_where(bad, _funm(g, a, consts), 2)


@readable_errors
def funm(
    a: ArrayLike,
    f: Callable[[Array], Array],
    *,
    hermitian_rtol: float | None = None,
) -> Inexact[Array, "*batch n n"]:
    """Matrix function ``f(A) = V f(Λ) Vᴴ`` of a Hermitian matrix, with exact derivatives at ties.

    The derivative is the Daleckii–Krein formula ``dF = V (Γ ∘ (Vᴴ dA V)) Vᴴ`` with the
    divided differences ``Γᵢⱼ = f[λᵢ, λⱼ]`` of `f`, never the eigenvector derivative, so
    it is exact where eigenvalues are repeated, nearly repeated, or split only by
    rounding. Second derivatives (`jax.hessian`, `jacfwd(jacrev)`, ...) use second
    divided differences and are exact there too. Third derivatives are exact for
    well-separated eigenvalues, lose accuracy as a gap closes (about 1e-12 to 4e-9
    relative at a gap of 1e-3, docs/matrix-functions.md) and are NaN where two
    eigenvalues are tied (gap <= sqrt(eps)·max|λ|).

    Arguments:
        a: Hermitian (or real symmetric) matrices, shape `(*batch, n, n)`. The function
            is applied to `(a + aᴴ)/2`, and derivatives are taken through that
            symmetrization. Integers are promoted like `jax.numpy` does.
        f: a real scalar function of a real scalar, smooth (three times differentiable
            for Hessians) on the spectrum; it is applied elementwise to the eigenvalues.
            It may close over traced values (a parameter being optimized): the arrays
            it reads are passed to the compiled computation as arguments and get exact
            derivatives too (one extra matrix function per differentiated closed-over
            scalar in the derivative). A repeated call with the same `f`, or with a new
            value of an array it reads, reuses the compiled computation.
        hermitian_rtol: `a` counts as Hermitian when `‖a − aᴴ‖_F <= hermitian_rtol ·
            ‖a‖_F`; default `sqrt(eps)` of the dtype. Pass `jnp.inf` to skip the check.

    Returns:
        `f(a)`, shape `(*batch, n, n)`, same dtype as `a`. Where `f` is NaN at an
        eigenvalue (outside its domain) the whole matrix is NaN; matrices with NaN or
        inf entries give NaN.

    Raises:
        ValueError: `a` has fewer than 2 dimensions or is not square, or `f` is not
            scalar-to-scalar.
        TypeError: `f` returns complex values.
        equinox.EquinoxRuntimeError: `a` is not Hermitian to within `hermitian_rtol`,
            found at run time (`equinox.error_if`). Inside a `jax.jit` the program raises
            when it runs, as JAX's `jax.errors.JaxRuntimeError` whose text holds the
            message (equinox's error under `equinox.filter_jit`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxgrad.linalg import funm
        >>> loss = lambda a: jnp.sum(funm(a, lambda x: x**2))  # Σᵢⱼ (A²)ᵢⱼ
        >>> jax.grad(loss)(jnp.eye(2))  # 2·ones, though A = I has a repeated eigenvalue
        Array([[2., 2.],
               [2., 2.]], dtype=float32)
    """
    fn = "jaxgrad.linalg.funm"
    a = host_array(a)
    dtype = matrix_dtype(a, fn)
    rtol = check_hermitian_rtol(hermitian_rtol, fn)
    traced, consts = elementwise(f, dtype, fn)
    return _funm_compiled(a, consts, traced, rtol)
