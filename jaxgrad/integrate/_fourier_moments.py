"""Fourier integrals over a finite range by Chebyshev moments (QUADPACK's QC25F rule, used adaptively).

On a panel [lo, hi] with centre m and half-length r, x = m + r·t,

    ∫_lo^hi f(x) e^(iωx) dx = r e^(iωm) ∫₋₁¹ f(m + r t) e^(iλt) dt,   λ = ωr.

f(m + r t) is interpolated at the 25 Clenshaw–Curtis points tⱼ = cos(jπ/24) by
p(t) = Σₖ cₖ Tₖ(t), and p is integrated against e^(iλt) exactly:

    ∫₋₁¹ p(t) e^(iλt) dt = Σₖ cₖ μₖ(λ),   μₖ(λ) = ∫₋₁¹ Tₖ(t) e^(iλt) dt,

the modified Chebyshev moments (Piessens & Branders 1975; QUADPACK's QC25F, Piessens
et al. 1983, §2.2.2). Only f has to be resolved by the panel, not the oscillation:
a panel holding ten periods of cos(10x)/(1 + x²) costs the 25 evaluations of one
holding none. The real part of the result is the integral with cos(ωx), the
imaginary part the one with sin(ωx). The error estimate is QC25F's: the difference
from the same construction on every other point (13 points, degree 12).

The moments. For |λ| ≤ 24 they are computed by a 64-point Gauss–Legendre rule in t
(Tₖ e^(iλt) with k ≤ 24 is integrated to rounding: its Taylor tail past degree 100 is
below 24¹⁰⁰/100! ≈ 1e-19). For |λ| > 24, by forward recurrence, stable while k < |λ|.
Integrating by parts, ∫₋₁¹ T′ₙ e^(iλt) dt = Bₙ − iλ μₙ with Bₙ = e^(iλ) − (−1)ⁿ e^(−iλ),
and the identities T₀ = T′₁, 2T₁ = T′₂/2, 2Tₖ = T′ₖ₊₁/(k + 1) − T′ₖ₋₁/(k − 1) (k ≥ 2) give

    μ₀ = 2 sin λ / λ,   μ₁ = (B₁ − μ₀)/(iλ),   μ₂ = (B₂ − 4μ₁)/(iλ),
    μₖ₊₁ = [Bₖ₊₁ − (k + 1)(2μₖ + (Bₖ₋₁ − iλ μₖ₋₁)/(k − 1))]/(iλ).

`cycle_integral` integrates one range adaptively with this rule (QAWO's strategy
without its extrapolation: bisect the panel with the largest error until the errors'
sum meets the tolerance); a range it cannot resolve within `limit` panels (an end
singularity, a kink, NaN or inf at a node: Clenshaw–Curtis evaluates f at the ends)
is reported as failed, and the caller integrates it another way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._computed_once import computed_once
from .._reduce import long_any, long_sum
from .._where import where
from ._adaptive import massless, tolerance_scale
from ._status import CONVERGED, MAX_SUBDIVISIONS, ROUNDOFF

NPOINTS = 25  # Clenshaw–Curtis points of the rule (degree 24); its check uses every other one
_DEGREE = NPOINTS - 1
_SMALL = 24.0  # |λ| up to which the moments are taken by Gauss–Legendre
_GL_T, _GL_W = np.polynomial.legendre.leggauss(64)


def _chebyshev_matrix(n):
    """C with p(t) = Σₖ (C f)ₖ Tₖ(t) the interpolant of f at tⱼ = cos(jπ/n), j = 0..n."""
    j = np.arange(n + 1)
    c = (2.0 / n) * np.cos(np.pi * np.outer(j, j) / n)
    c[:, 0] *= 0.5
    c[:, n] *= 0.5
    c[0, :] *= 0.5
    c[n, :] *= 0.5
    return c


_NODES = np.cos(np.pi * np.arange(NPOINTS) / _DEGREE)
_C24 = _chebyshev_matrix(_DEGREE)
_C12 = _chebyshev_matrix(_DEGREE // 2)
_T_AT_GL = np.cos(np.outer(np.arange(NPOINTS), np.arccos(_GL_T)))  # Tₖ(t) at the Gauss points


def moments(lam):
    """μₖ(λ) = ∫₋₁¹ Tₖ(t) e^(iλt) dt for k = 0..24: complex, shape `lam.shape + (25,)`."""
    lam = jnp.asarray(lam)
    cdtype = jnp.complex128 if lam.dtype == jnp.float64 else jnp.complex64
    small = jnp.abs(lam) <= _SMALL
    ls = where(small, lam, 0.0)[..., None]
    gl = (jnp.exp(1j * ls * jnp.asarray(_GL_T, lam.dtype)) * jnp.asarray(_GL_W, lam.dtype)) @ jnp.asarray(
        _T_AT_GL.T, lam.dtype)
    lb = where(small, 2 * _SMALL, lam)
    il = (1j * lb).astype(cdtype)
    e_plus, e_minus = jnp.exp(1j * lb), jnp.exp(-1j * lb)
    b = [e_plus - e_minus, e_plus + e_minus]  # Bₙ for n even, n odd
    mu = [(2 * jnp.sin(lb) / lb).astype(cdtype)]
    mu.append((b[1] - mu[0]) / il)
    mu.append((b[0] - 4 * mu[1]) / il)
    for k in range(2, _DEGREE):
        mu.append((b[(k + 1) % 2] - (k + 1) * (2 * mu[k] + (b[(k - 1) % 2] - il * mu[k - 1]) / (k - 1))) / il)
    rec = jnp.stack(mu, axis=-1)
    return where(small[..., None], gl.astype(cdtype), rec)


def panel_rule(lo, hi, fx, omega, is_sin, sign):
    """The rule on panels [lo, hi] (shape (P,)) from f at their nodes, `fx` of shape
    (P, 25, m, ...) (components along axis 2, the weight of component c being
    sign[c]·(sin if is_sin[c] else cos)(ωx)): `(value, err, floor)`, each of shape
    (P, m, ...); `floor` is the error that rounding alone can cause, 50 ε r max|f|
    (QUADPACK's bound from the integral of |f|)."""
    r = (hi - lo) / 2
    mid = (hi + lo) / 2
    mu = moments(omega * r)  # (P, 25)
    scale = (r * jnp.exp(1j * omega * mid))[:, None]
    c24 = jnp.einsum("kj,pj...->pk...", jnp.asarray(_C24, fx.dtype), fx)
    c12 = jnp.einsum("kj,pj...->pk...", jnp.asarray(_C12, fx.dtype), fx[:, ::2])
    extra = (1,) * (fx.ndim - 2)
    z24 = jnp.sum(c24 * mu.reshape(mu.shape + extra), axis=1) * scale.reshape(scale.shape + extra[1:])
    z12 = jnp.sum(c12 * mu[:, :_DEGREE // 2 + 1].reshape((mu.shape[0], _DEGREE // 2 + 1) + extra), axis=1) \
        * scale.reshape(scale.shape + extra[1:])
    pick = is_sin.reshape(is_sin.shape + extra[1:])
    s = sign.reshape(sign.shape + extra[1:]).astype(fx.dtype)
    v24 = s * where(pick, z24.imag, z24.real)
    v12 = s * where(pick, z12.imag, z12.real)
    floor = 50 * jnp.finfo(fx.dtype).eps * r.reshape(r.shape + extra) * jnp.max(jnp.abs(fx), axis=1)
    # Where λ is large both rules integrate mostly the end values of their interpolants,
    # which agree with f's, and the difference misses an f that neither resolves: e^(−10x)
    # on [0, 1000] at ω = 1e3 came out 1e-7 off with an estimate of 8e-11, `converged`,
    # after 25 evaluations (outside probe). The last three coefficients, weighted by the
    # largest moment, bound what the interpolant has not resolved.
    tail = jnp.sum(jnp.abs(c24[:, -3:]), axis=1) * jnp.max(jnp.abs(mu), axis=1).reshape((-1,) + extra) \
        * r.reshape(r.shape + extra)
    return v24, jnp.maximum(jnp.abs(v24 - v12), tail), floor


def panel_nodes(lo, hi):
    """The rule's 25 points on each panel [lo, hi]: shape (P, 25)."""
    r = (hi - lo) / 2
    mid = (hi + lo) / 2
    return mid[:, None] + r[:, None] * jnp.asarray(_NODES, lo.dtype)


# A panel with |ω|·r at most this (2.5 periods or less) that still needs work (an end
# singularity, a NaN, a kink) is handed to `quad`, whose 21-point rule with its own
# extrapolation and end maps resolves those at less cost than bisecting with 25 points
# (nine of bench/fourier.py's integrals at its two tolerances: 0.5, 2, 4, 8 took 15.7k,
# 14.7k, 14.5k, 14.2k evaluations in all);
# at most _HANDOFFS of them per range (more: the whole range goes to `quad`).
_HAND = 8.0
_HANDOFFS = 4


def cycle_integral(fvec, by_quad, lo, hi, omega, is_sin, sign, tol_abs, tol_rel, limit, direct=False, start=np.inf,
                   exact=None):
    """∫_lo^hi of each weighted component of `fvec` (x of shape (P, 25) → (P, 25, m, ...)),
    adaptively by `panel_rule`: `(value, err, neval, code, env)`.

    The panel with the largest error (relative to the tolerance) is bisected until the
    errors' sum meets the tolerance or every panel's error is at its rounding floor. A
    panel with f not finite at a node is bisected first (where only at one end, the half
    at that end is cut again unevaluated); one that needs work but is at most 2.5
    periods long (`_HAND`) is handed to `by_quad(lo, hi, epsabs, epsrel) → (value, err,
    neval, code)` (the weighted product, adaptively), and so is
    the whole range when more than `_HANDOFFS` panels are handed off or `limit` panels
    do not meet the tolerance. `code` is CONVERGED, ROUNDOFF (panels at their floor) or
    the worst of `quad`'s; `env` is the largest |f| at the first panel's nodes (per
    component; non-finite values count as 0). Where `direct` is True the whole range goes
    to `by_quad` at once (`lo`, `hi` may then be infinite or equal).

    `start`: the panel at `lo` is bisected (whatever the errors say, and not handed to
    `quad`) until it is at most this long. The first cycle of a Fourier integral is π/|ω|
    long, and at a small ω no node of its first panels comes near the stretch at the
    start where an ordinary f holds its mass: ∫₀^∞ cos(ωx)/(1 + x²) dx came out −1.6e-6
    for π/2 at ω = 1e-6, `converged` (outside probe; QUADPACK's QAWF gives the same). Cut
    down to unit scale at the start, the range is seen as `quad` sees a half line. A
    panel still longer where the loop stops (beyond `limit` panels), or a range so cut
    (and longer than 64·start) that is not resolved within `limit` panels, makes the
    status `max_subdivisions` and the error unknown (inf): the whole range is not handed
    to `quad`, which would miss the start again.

    `exact`: the number of leading components (along the axis after the panels') that
    are the user's own; the derivative components after them are judged on a thousandth
    of their mass where they cancel (`_adaptive.tolerance_scale`, as in `quad`'s loop).
    None: every component is the user's."""
    dtype = lo.dtype
    tiny = jnp.finfo(dtype).tiny
    direct = jnp.asarray(direct, bool)

    def rule(plo, phi, fx):  # values, errors, floors, handed, bad end: a NaN panel is bisected or handed off
        v, e, fl = panel_rule(plo, phi, fx, omega, is_sin, sign)
        finite = jnp.isfinite(fx).reshape(fx.shape[:2] + (-1,)).all(axis=2)  # (P, 25), nodes from hi to lo
        bad = ~jnp.all(finite, axis=1)
        inner = jnp.all(finite[:, 1:-1], axis=1)
        # 1: f is not finite at the lower end only, 2: at the upper end only, else 0.
        side = where(inner & finite[:, 0] & ~finite[:, -1], 1,
                         where(inner & ~finite[:, 0] & finite[:, -1], 2, 0))
        small = jnp.abs(omega) * (phi - plo) / 2 <= _HAND
        ext = (-1,) + (1,) * (v.ndim - 1)
        v = where(bad.reshape(ext), 0.0, v)
        e = where(bad.reshape(ext), where(small.reshape(ext), 0.0, jnp.inf), e)
        fl = where(bad.reshape(ext), 0.0, fl)
        return v, e, fl, bad & small, side

    shape = jax.eval_shape(lambda: panel_rule(lo[None], hi[None], fvec(panel_nodes(lo[None], hi[None])), omega,
                                              is_sin, sign)[0]).shape[1:]
    rows = jnp.arange(limit)

    def status(count, vals, errs, floors):
        """Whether the tolerance is met, each panel's score, and whether the one panel so
        far must be bisected for a derivative component's sake (`massless`)."""
        total, errsum = long_sum(vals), long_sum(errs)
        derivs = exact is not None and exact < total.shape[0]
        mass = long_sum(jnp.abs(vals)) if derivs else None  # (only where a derivative needs it)
        scale = tolerance_scale(total, lambda: mass, exact) if derivs else jnp.abs(total)
        tol = jnp.maximum(tol_abs, tol_rel * scale)
        met = jnp.all(errsum <= tol)
        ratio = where(errs > floors, errs / jnp.maximum(tol, tiny), 0.0)
        score = where(rows < count, jnp.max(ratio.reshape(limit, -1), axis=1), 0.0)
        # A derivative component with no mass yet (`_adaptive.massless`) would stop at its
        # rounding floor short of any tolerance: the one panel so far is bisected once
        # (not handed to `quad`), as in `quad`'s loop. (No op without a derivative.)
        split = (count == 1) & jnp.any(massless(errsum, long_sum(floors), mass, tol, exact)) if derivs else None
        return met, score, split

    def first_panel(count, los, his):  # the panel at `lo`, and whether it must be cut
        left = jnp.argmin(where(rows < count, los, jnp.inf))
        return left, (count > 0) & (his[left] - los[left] > start)

    def cond(state):
        count, los, his, vals, errs, floors, handed, _, alive, _, _ = state
        met, score, split = status(count, vals, errs, floors)
        forced = first_panel(count, los, his)[1]
        # (count + 1: a pass may add two panels.)
        many = long_sum(handed.astype(jnp.int32)) > _HANDOFFS
        more = (~met & long_any(score > 0) & ~many) | forced
        going = (count + 1 < limit) & alive & (more if split is None else more | split)
        return ~direct & ((count == 0) | going)

    # One pass evaluates two panels: the halves of the worst one, or at the first pass
    # the whole range (and an empty panel beside it, not counted), so that the rule is
    # traced once. Where f is not finite at one end of the worst panel only (an end
    # singularity, or f undefined there) and nowhere else, that end's half would only
    # be bisected again: the pass evaluates the quarter next to it and the far half, and
    # keeps the quarter at the end, not evaluated, for the next pass (or for `quad` once
    # it is short). x^(-1/2)·cos(10⁴x) on [0, 1] took 714 evaluations, now 464.
    def body(state):
        count, los, his, vals, errs, floors, handed, sides, alive, neval, env = state
        first = count == 0
        left, forced = first_panel(count, los, his)
        _, score, split = status(count, vals, errs, floors)
        worst = where(first, 0, where(forced, left, jnp.argmax(score)))  # (split: the one panel)
        a, b = where(first, lo, los[worst]), where(first, hi, his[worst])
        c = (a + b) / 2
        # too short to bisect further: to quad (not a panel cut for `start`, nor one split
        # for a derivative's mass)
        hand = ~first & ~forced & (jnp.abs(omega) * (b - a) / 2 <= _HAND)
        hand = hand if split is None else hand & ~split
        side = where(first | hand, 0, sides[worst])
        q = where(side == 1, (a + c) / 2, (c + b) / 2)  # the quarter kept: [a, q] or [q, b]
        kept_lo, kept_hi = where(side == 1, a, q), where(side == 1, q, b)
        plo = where(first, jnp.stack([lo, lo]), where(side == 1, jnp.stack([q, c]), jnp.stack([a, c])))
        phi = where(first, jnp.stack([hi, lo]), where(side == 2, jnp.stack([c, q]), jnp.stack([c, b])))
        fx = fvec(panel_nodes(plo, phi))
        v, e, fl, hd, sd = rule(plo, phi, fx)
        # (Each written into three versions of every table below: computed once, not copied
        # into each; `jaxgrad/_computed_once.py`.)
        v, e, fl, hd = computed_once(v, e, fl, hd)
        env = where(first, jnp.max(jnp.abs(where(jnp.isfinite(fx[0]), fx[0], 0.0)), axis=0), env)
        # the kept quarter: not evaluated, its error infinite until then (or handed to quad)
        kept_small = jnp.abs(omega) * (kept_hi - kept_lo) / 2 <= _HAND
        kept_err = jnp.broadcast_to(where(kept_small, 0.0, jnp.inf).astype(v.dtype), v.shape[1:])
        skip = side > 0

        def put(table, x, gone, x_kept):
            new = table.at[count].set(x[1]).at[worst].set(x[0])
            three = table.at[count].set(x[0]).at[count + 1].set(x[1]).at[worst].set(x_kept)
            return where(hand, table.at[worst].set(gone), where(skip, three, new))

        alive = alive & (hand | ((a < c) & (c < b) & (~skip | ((kept_lo < kept_hi) & (plo[0] < phi[0])))))
        return (count + where(hand, 0, where(skip, 2, 1)), put(los, plo, a, kept_lo), put(his, phi, b, kept_hi),
                put(vals, v, 0.0, jnp.zeros_like(v[0])), put(errs, e, 0.0, kept_err),
                put(floors, fl, 0.0, jnp.zeros_like(v[0])), put(handed, hd, True, kept_small),
                put(sides, sd, 0, side), alive, neval + where(hand, 0, where(first, 1, 2) * NPOINTS), env)

    zeros = jnp.zeros((limit,) + shape, dtype)
    state = (jnp.asarray(0), jnp.full((limit,), lo, dtype), jnp.full((limit,), lo, dtype), zeros, zeros, zeros,
             jnp.zeros((limit,), bool), jnp.zeros((limit,), jnp.int32), jnp.asarray(True), jnp.asarray(0),
             jnp.zeros(shape, dtype))
    count, los, his, vals, errs, floors, handed, _, alive, neval, env = lax.while_loop(cond, body, state)
    met, score, _ = status(count, vals, errs, floors)
    unfinished = first_panel(count, los, his)[1] & ~direct
    # The whole range to quad: too many handed off, or unresolved within `limit` panels;
    # but not a range far longer than `start` whose start was cut, which `quad` would
    # miss as the first panel did: there the panels stand, `max_subdivisions` with an
    # unknown error (with `limit=20` at ω = 1e-6, the cuts done, the whole first cycle
    # went back to `quad`: −1.6e-6 for π/2, `converged`; review). (Up to 64·start,
    # `quad`'s first nodes lie within ~2 of the start, and it refines from there:
    # ∫₀^(3·10⁴) dx/(1 + x²) is right.)
    many = long_sum(handed.astype(jnp.int32)) > _HANDOFFS
    fallback = ~alive | many | (~met & long_any(score > 0))
    cut = ~direct & (hi - lo > 64 * start)
    whole = direct | (fallback & ~cut)
    stuck = (fallback & cut) | unfinished
    (take,) = jnp.nonzero(handed & (rows < count), size=_HANDOFFS, fill_value=0)
    used = (jnp.arange(_HANDOFFS) < long_sum((handed & (rows < count)).astype(jnp.int32))) & ~whole
    qlo = where(whole, lo, where(used, los[take], lo))
    qhi = where(whole & (jnp.arange(_HANDOFFS) == 0), hi, where(used, his[take], qlo))

    def handed_off(_):  # (value, err, neval, code) of each lane, `by_quad`'s types
        return lax.map(lambda lh: by_quad(lh[0], lh[1], tol_abs / _HANDOFFS, tol_rel), (qlo, qhi))

    def none(_):  # no lane: `quad` is not run at all (under `vmap` both branches are)
        zeros = jnp.zeros((_HANDOFFS,) + vals.shape[1:], vals.dtype)
        return zeros, zeros, jnp.zeros((_HANDOFFS,), jnp.int32), jnp.zeros((_HANDOFFS,), jnp.int32)

    qv, qe, qn, qc = lax.cond(jnp.any(qhi > qlo), handed_off, none, None)
    lane = (qhi > qlo).reshape((-1,) + (1,) * (qv.ndim - 1))
    value = jnp.sum(where(lane, qv, 0.0), axis=0) + where(whole, 0.0, long_sum(vals))
    err = jnp.sum(where(lane, qe, 0.0), axis=0) + where(whole, 0.0, long_sum(errs))
    code = where(met, CONVERGED, ROUNDOFF)
    code = jnp.maximum(where(whole, CONVERGED, code), jnp.max(where(qhi > qlo, qc, CONVERGED)))
    worst_quad = jnp.max(where(qhi > qlo, qc, CONVERGED))  # (a divergent or non-finite piece says so)
    code = where(stuck, where(worst_quad > ROUNDOFF, worst_quad, MAX_SUBDIVISIONS), code)
    err = where(stuck, jnp.inf, err)
    return value, err, neval + jnp.sum(qn), code, env
