"""The adaptive loop behind `quad`: global subdivision with a Gauss–Kronrod pair.

Every segment of the integration range (between `a`, the breakpoints and `b`) is first
tried with one 21-point Gauss–Kronrod rule in `x` (a smooth integrand usually converges
right there, as in QUADPACK's QAG; an infinite segment is first tried through QAGI's
rational map x = a + (1 - s)/s). Pieces that do not converge are bisected plainly, as
QUADPACK does, with QAGS's extrapolation (Wynn's ε) of the totals around a singular
point. A piece at an end of its segment that looks like an end singularity is handed
to a double-exponential change of variables (Takahasi & Mori 1974) of its own range:
on a finite piece one-sided (the half of a tanh-sinh map that clusters nodes at the
singular end only), exp-sinh on a half-line, sinh-sinh on the whole line; the loop
then bisects in the new variable `t`. The map sends integrable power and log
singularities at the end to double-exponentially decaying tails, and covers ~600
decades of `x` on infinite ranges, so a tail at scale 10⁶ or 10⁻⁶ is found by the
same bisection that resolves a peak; the Gauss–Kronrod rule on each piece in `t`
supplies the error estimate that the plain trapezoidal tanh-sinh rule lacks.

The loop is one `lax.while_loop`. Each pass evaluates the integrand on all nodes of
the pending intervals at once (one batched call of `f`), writes them into a
fixed-size pool, and picks the intervals with the largest scaled error to bisect next.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._computed_once import computed_once
from .._loop import while_loop
from .._power_of_two import floor_power_of_two
from .._reduce import long_all, long_any, long_max, long_min, long_sum
from .._where import where
from . import _status
from ._gk import GAUSS_WEIGHTS, KRONROD_WEIGHTS, NODES
from ._wynn import wynn_epsilon

NNODES = NODES.shape[0]

# Truncation of the t-range of each double-exponential map.
# tanh-sinh: x = a + (b - a) σ(π sinh t); σ(z) = 1/(1 + e^(-z)); the weight at |t| = T
# is ~e^(-700), below anything a power singularity x^α (α > -1) can lift above 1e-30.
_T_FINITE = math.asinh(700.0 / math.pi)
# exp-sinh: x = a + exp((π/2) sinh t), x from e^-650 (≈ 1e-282) to e^45 (≈ 3.5e19).
_T_HALF_LO = math.asinh(-650.0 / (math.pi / 2))
_T_HALF_HI = math.asinh(45.0 / (math.pi / 2))
# sinh-sinh: x = sinh((π/2) sinh t), |x| up to sinh(45) ≈ 1.7e19.
_T_WHOLE = math.asinh(45.0 / (math.pi / 2))


def _t_far(dtype):
    """(T_HALF_HI, T_WHOLE) for `dtype`: in float32 (and narrower) the maps stop at
    e^40 ≈ 2.4e17 (sinh 40 ≈ 1.2e17), where x² is still a float: at 3.5e19 it is not
    (float32's largest is 3.4e38), and log(1 + x²)/(1 + x²) on a half line, a slow tail
    that the loop follows that far, came out NaN, `nonfinite` (outside probe). The tail
    beyond is below float32's rounding for any tail the loop can converge on (x^−1.5:
    4e-9)."""
    if jnp.finfo(dtype).bits >= 64:
        return _T_HALF_HI, _T_WHOLE
    far = math.asinh(40.0 / (math.pi / 2))
    return far, far


# Of the `nsplit` worst intervals, those whose scaled error is below this fraction of
# the worst one are left alone in that pass (splitting them would waste evaluations).
_SPLIT_FRACTION = 0.25

# A half whose error exceeds its sibling's by this factor after a bisection, at an end
# of its segment, is taken to hold an end singularity (for x^α the two halves' errors
# differ by orders of magnitude; for an unresolved smooth integrand they are alike).
_SINGULAR_RATIO = 64.0
# ... and which kept at least this fraction of its parent's error: near x^α (α > -1)
# bisection only divides the error by 2^(1+α) <= 4, while a smooth integrand that is
# being resolved drops its error by orders of magnitude per bisection.
_SINGULAR_KEEP = 0.2

# Bisections of a piece at a truncated end after which a non-negligible integrand there
# means divergent (or too slowly decaying to be integrated).
_TAIL_DEPTH = 8
# An integral whose every node so far gave f = 0 is accepted as 0 only once each
# segment has been cut into 2^_ZERO_DEPTH equal pieces (see `unseen`).
_ZERO_DEPTH = 4
# f falling by more than this factor from the node next to an end of a plain piece to the
# next node: a bound on the mass before that node is counted as error (`_hidden_mass`).
_STEEP = 1e3

# Extrapolation (QAGS): the last `_NSEQ` totals recorded as bisection reaches new levels
# around a singular point (with the reducible error outside the two deepest levels within
# half the tolerance) are extrapolated by Wynn's ε-algorithm, from `_MIN_SEQ` records on,
# with the total after the first rules as their first term (as QAGS keeps it); two
# values are taken from the table (see `_record`).
# 50 as in QUADPACK's QELG (limexp): the binary digits of a point such as 0.11 repeat
# with period 20, and ε needs about two periods of totals to cancel the pattern.
_NSEQ = 50
_MIN_SEQ = 3
# Successive differences of the recorded totals whose ratios agree to this factor are
# taken as a geometric sequence (see `extrapolate`).
_GEOMETRIC = 1.02
# Geometric mean of those ratios above which the totals approach a singular point's
# limit (see `extrapolate`).
_SLOW = 0.55
# Previous extrapolated values an extrapolation is compared with (QUADPACK's QELG: 3).
_NHIST = 3
# A jump (kink) of f next to the point two halves share: the one-sided extrapolations
# of f (of f') to it differ by more than this many times what each side's curvature
# explains (see `_shared_point`).
_JUMP = 4.0
_KINK = 4.0
# A kink on a background: the exponent ratio that separates e^(-c|x - w|) (1.66) from a
# power of |x - w| (0.66; see `_shared_point`).
_KINK_EXP = 1.3
# A narrow peak at that point: f there (the parent's centre node) differs from both
# extrapolations by more than this many times the larger side's curvature term.
_PEAK = 16.0
# At a breakpoint, a side whose nodes span less than 1/_SHORT of the other side's is too
# short for its smoothness to rule out a peak's flank there (see `_shared_point`).
_SHORT = 100.0
# ... unless one side rises towards that point like |x - c|^-p, both in the size of f at
# its two nearest nodes (p between these; integrable power singularities have p < 1, a log
# factor raises p between two nodes: |x - c|^-0.9 log|x - c|, about 1.1; a hidden
# Lorentzian's flank has p >= 1.6)
_SINGULAR_P = (0.05, 1.5)
# and in its differences (see `_shared_point`): the ratio of the differences of f across
# the two gaps between the three nodes of a plain piece next to an end (nearest gap first)
# lies between twice a straight line's (0.99; log|x - c|: 1.82, |x - c|^-0.05: 1.95) and
# that of |x - c|^-1.5 (17.8; a Lorentzian's flank |x - c|^-2: 40).
_SINGULAR_DIFF = (
    2 * (float(NODES[-1]) - float(NODES[-2])) / (float(NODES[-2]) - float(NODES[-3])),
    ((1 - float(NODES[-1])) ** -1.5 - (1 - float(NODES[-2])) ** -1.5)
    / ((1 - float(NODES[-2])) ** -1.5 - (1 - float(NODES[-3])) ** -1.5),
)
# A piece whose error is mostly a peak's flag is cut this many bands from the flagged
# end (a jump's, 2). A peak's shoulders reach beyond 2 bands, into the node-free band
# that the outer piece of the cut has at its new end, where neither piece's nodes see
# them: e^(-(x/s)²) at s = 1e-3 on [-1, 1] (flagged at 0) lost 8e-10 of its value
# there and reported 1e-14. A peak is flagged only when it is narrower than about half
# a band (the _PEAK margin), so 16 bands is more than 30 of its widths away.
_PEAK_CUT = 16.0
# A piece has a step (a jump between two neighbouring nodes) where f changes across one
# gap by more than this many times across either gap beside it (see `_gauss_kronrod`).
_STEP = 16.0
# A geometric mean ratio of successive differences of the totals above this marks a
# point where f or f' is singular (|x - c|^α, α < 0.74: ratio 2^-(1+α); log|x - c|:
# 1/2), not a kink (1/4); see `extrapolate`.
_ROUGH = 0.3
# Records in a row whose extrapolation lay behind the monotone totals (an antilimit, see
# `_record`) that mark the integral as divergent when the loop then stops short.
_GROWN = 5
# Records without a better extrapolation after which the loop gives up (see `_record`).
_STALE = 5
# ... and a stop there reports this many times the spread of the extrapolations made
# since the best one around it, where the best one's totals were geometric (see
# `steps`). Near α = −1 those estimates share most of
# ε's table and err on one side together: on 60 such stops (|x − c|^α and eˣ|x − c|^α,
# α from −0.99 to −0.7, c on and off the grid, epsrel 1e-8 to 1e-12) the spread itself
# was as small as 1/3 of the actual error (α = −0.99 at c = 0.3, 0.2).
_SCATTER = 4.0
# The node-free band at each end of a plain piece, as a fraction of its width.
_BAND = (1.0 + float(NODES[0])) / 2
# The nodes' spacings in a plain piece's own coordinate σ ∈ [0, 1]: between neighbours,
# between the two neighbours of each inner node, and from node g - 1 to g + 2 for the
# gaps g = 2 ... m - 4 (see the kink test in `_gauss_kronrod_steps`).
_SIGMA = (1.0 + np.asarray(NODES, float)) / 2
_DSIGMA = np.diff(_SIGMA)
_DSIGMA2 = _SIGMA[2:] - _SIGMA[:-2]
_SPAN = _SIGMA[4:-1] - _SIGMA[1:-4]


def _map_nodes(s, c0, c1, root):
    """x(σ) and dx/dσ for nodes σ ∈ [0, 1] of a segment [c0, c1] (c0 <= c1, maybe ±inf).

    `root` selects the first-try map (affine on a finite segment, rational on an
    infinite one); otherwise the double-exponential map of the segment's kind.
    """
    dtype = s.dtype
    eps_, tiny_ = jnp.finfo(dtype).eps, jnp.finfo(dtype).tiny
    fin0, fin1 = jnp.isfinite(c0), jnp.isfinite(c1)
    a = where(fin0, c0, 0.0).astype(dtype)
    b = where(fin1, c1, 0.0).astype(dtype)
    h = b - a
    pi = jnp.asarray(math.pi, dtype)

    # One t per node for the double-exponential map of the segment's kind, and one sinh
    # and one cosh of it for all three kinds.
    fin, half_line = fin0 & fin1, fin0 ^ fin1
    t_half_hi, t_whole = _t_far(dtype)
    t = where(
        fin,
        _T_FINITE * (2 * s - 1),
        where(half_line, _T_HALF_LO + (t_half_hi - _T_HALF_LO) * s, t_whole * (2 * s - 1)),
    )
    dt = where(fin, 2 * _T_FINITE, where(half_line, t_half_hi - _T_HALF_LO, 2 * t_whole))
    sh, ch = _sinh_cosh(t)

    # Finite segment, tanh-sinh. Near each end x is formed from that end so that the
    # distance to it keeps full relative precision.
    z = pi * sh
    u, v = jax.nn.sigmoid(z), jax.nn.sigmoid(-z)
    x_ff = where(z < 0, a + h * u, b - h * v)
    w_ff = h * pi * ch * u * v * dt

    # Half line, exp-sinh: x = a + e (or b - e for (-inf, b]), e = exp(q).
    q = pi / 2 * sh
    e = jnp.exp(q)
    w_h = e * (pi / 2) * ch * dt

    # Whole line, sinh-sinh: x = sinh(q), |q| <= 45 here (40 in float32).
    x_w, ch_q = _sinh_cosh(q)
    w_w = ch_q * (pi / 2) * ch * dt

    # First try on an infinite segment: QUADPACK's QAGI-style rational maps,
    # x = a + (1 - s)/s, x = b - (1 - s)/s, x = u/(1 - u²) with u = 2s - 1.
    r = (1 - s) / s
    w_r = 1 / (s * s)
    u2 = 2 * s - 1
    x_rw = u2 / (1 - u2 * u2)
    w_rw = 2 * (1 + u2 * u2) / (1 - u2 * u2) ** 2

    x_pf = where(s < 0.5, a + h * s, b - h * (1 - s))
    x = where(
        fin0 & fin1,
        where(root, x_pf, x_ff),
        where(
            root,
            where(fin0, a + r, where(fin1, b - r, x_rw)),
            where(fin0, a + e, where(fin1, b - e, x_w)),
        ),
    )
    w = where(
        fin0 & fin1,
        where(root, h, w_ff),
        where(
            root,
            where(fin0 | fin1, w_r, w_rw),
            where(fin0 | fin1, w_h, w_w),
        ),
    )
    # Never evaluate at a finite end itself: a node that rounds onto it is moved one or
    # two ulps inside (its weight is then far below the tolerance anyway).
    lo_in = where(fin0, a + jnp.maximum(jnp.abs(a) * eps_, tiny_), -jnp.inf)
    hi_in = where(fin1, b - jnp.maximum(jnp.abs(b) * eps_, tiny_), jnp.inf)
    nonempty = c1 > c0
    clipped = jnp.clip(x, lo_in, hi_in)
    moved = nonempty & (clipped != x)
    x = where(nonempty, clipped, a)
    w = where(nonempty, w, 0.0)
    return x, w, moved


def _tanh_sinh_x(s, c0, c1):
    """x(σ) of the tanh-sinh map of a finite [c0, c1], formed as `_map_nodes` forms it."""
    pi = jnp.asarray(math.pi, s.dtype)
    z = pi * _sinh_cosh(_T_FINITE * (2 * s - 1))[0]
    return where(z < 0, c0 + (c1 - c0) * jax.nn.sigmoid(z), c1 - (c1 - c0) * jax.nn.sigmoid(-z))


def _sinh_cosh(t):
    """sinh(t) and cosh(t) from expm1(±t) (accurate near 0): two primitive operations,
    where `jnp.sinh` and `jnp.cosh` lower to much larger expressions. |t| < 709."""
    ep, em = jnp.expm1(t), jnp.expm1(-t)
    return (ep - em) / 2, 1 + (ep + em) / 2


def _asinh(y):
    """asinh(y) = sign(y) log1p(|y| + y²/(1 + √(1 + y²))), accurate for |y| < 1e150: a
    few primitive operations, where `jnp.arcsinh` lowers to a much larger expression."""
    ay = jnp.abs(y)
    return jnp.sign(y) * jnp.log1p(ay + ay * ay / (1 + jnp.sqrt(1 + ay * ay)))


def _end_distances(sb, c0, c1):
    """Distance of x(σ) to c0 at σ = sb[:, 0] and to c1 at σ = sb[:, 1] on the
    double-exponential map of [c0, c1], formed as `_map_nodes` forms x near those ends
    (no cancellation), so that the end model joins the mapped range without a gap or an
    overlap. On a half line both are the distance to its finite end (exp-sinh has it
    at σ = 0)."""
    dtype = sb.dtype
    pi = jnp.asarray(math.pi, dtype)
    fin = jnp.isfinite(c0) & jnp.isfinite(c1)
    h = where(fin, c1 - c0, 1.0)
    # One sinh for the three arguments: tanh-sinh at both ends, exp-sinh.
    th = _T_HALF_LO + (_t_far(dtype)[0] - _T_HALF_LO) * sb[:, 0]
    sh = _sinh_cosh(jnp.concatenate([_T_FINITE * (2 * sb - 1), th[:, None]], axis=1))[0]
    # σ(z) at the lower end, σ(-z) at the upper one: one sigmoid; then one exp.
    sig = jax.nn.sigmoid(pi * sh[:, :2] * jnp.array([1.0, -1.0], dtype))
    e = jnp.exp(pi / 2 * sh[:, 2])
    return where(fin, h * sig[:, 0], e), where(fin, h * sig[:, 1], e)


def _gap_sigma(c0, c1, g0, g1):
    """σ where the double-exponential map of [c0, c1] is at distance g0 from c0 (lower)
    and g1 from c1 (upper): the inverse of `_map_nodes` near a finite end (tanh-sinh on
    a finite range; on a half line exp-sinh has its finite end at σ = 0).
    Returns (σ_lo, σ_hi); 0 and 1 where the gap is 0.
    """
    dtype = c0.dtype
    pi = jnp.asarray(math.pi, dtype)
    fin0, fin1 = jnp.isfinite(c0), jnp.isfinite(c1)
    finite = fin0 & fin1
    h = where(finite, c1 - c0, 1.0)
    h = where(h > 0, h, 1.0)
    gh = where(fin0, g0, g1)  # a half line's finite end
    g = jnp.stack([where(finite, g0, gh), where(finite, g1, gh)], axis=1)
    g = where(g > 0, g, 1.0)
    fin2 = finite[:, None]
    # tanh-sinh: x = c0 + h·σ(z) near c0, c1 - h·σ(-z) near c1, z = π sinh(T(2σ - 1));
    # exp-sinh: x - a = exp((π/2) sinh θ).
    u = jnp.clip(g / h[:, None], jnp.finfo(dtype).tiny, 0.25)
    lg = jnp.log(where(fin2, u, g))
    z = (lg - jnp.log1p(-where(fin2, u, 0.0))) * jnp.array([1.0, -1.0], dtype)
    t = _asinh(where(fin2, z / pi, lg / (pi / 2)))
    ts = (t / _T_FINITE + 1) / 2
    es = (t[:, 0] - _T_HALF_LO) / (_t_far(dtype)[0] - _T_HALF_LO)
    lo = where(where(finite, g0 > 0, gh > 0), where(finite, ts[:, 0], es), 0.0)
    hi = where(finite & (g1 > 0), ts[:, 1], 1.0)
    return lo, hi


def _rational_range(c0, c1, slo, shi):
    """The x-range of the σ-range [slo, shi] of the rational map of an infinite segment."""
    fin0, fin1 = jnp.isfinite(c0), jnp.isfinite(c1)
    a = where(fin0, c0, 0.0)
    b = where(fin1, c1, 0.0)
    inf = jnp.asarray(jnp.inf, c0.dtype)

    def r(s):
        return where(s > 0, (1 - s) / where(s > 0, s, 1.0), inf)

    def whole(s):
        u = 2 * s - 1
        d = 1 - u * u
        return where(d > 0, u / where(d > 0, d, 1.0), jnp.sign(u) * inf)

    lo = where(fin0, a + r(shi), where(fin1, b - r(slo), whole(slo)))
    hi = where(fin0, a + r(slo), where(fin1, b - r(shi), whole(shi)))
    return lo, hi


def _end_gap(e, other):
    """Width of the end model at a segment end `e` (the other end is `other`).

    2^(p/2) ulps of `e` (p = mantissa bits: 2^26 ulps, ~1.5e-8·|e|, in float64), so
    that f is still evaluated accurately there even if it cancels (1 - t² near t = 1)
    while terms beyond the model's are negligible. Zero at an infinite end and on short
    segments. At an end at 0 floats are dense, but the double-exponential map stops
    where its weights fall to e^-700 (float64; its nodes underflow to 0 itself in
    float32), and for α near -1 the sliver left out holds a visible part of ∫ x^α:
    9.1e-4 of ∫₀¹ x^-0.99 dx (reported divergent), so the model takes the last
    2^-(emax - 24) of the range there (2^-1000 in float64, just beyond e^-700; 2^-104 in
    float32). (The ulp is formed from e's exponent bits, not with `nextafter`, which
    compiles into a much longer expression.)
    """
    dtype = e.dtype
    # 2^floor(log2|e|) by masking off the mantissa bits, times eps: exactly one ulp of e
    # (so the end model's samples e ± D/4^j are exact floats).
    uint = jnp.uint64 if dtype == jnp.float64 else jnp.uint32
    expo_mask = jnp.asarray(~((1 << jnp.finfo(dtype).nmant) - 1) & (jnp.iinfo(uint).max >> 1), uint)
    binade = lax.bitcast_convert_type(lax.bitcast_convert_type(jnp.abs(e), uint) & expo_mask, dtype)
    ulp = binade * jnp.finfo(dtype).eps
    gap = ulp * 2.0 ** (jnp.finfo(dtype).nmant // 2)
    ok = jnp.isfinite(e) & jnp.isfinite(other) & (e != 0) & (8 * gap < jnp.abs(other - e))
    ok = ok | (jnp.isfinite(e) & ~jnp.isfinite(other) & (e != 0))
    gap = where(ok, gap, 0.0)
    # At an end at 0: 2^-(emax - 24) of the range (2^-1000 in float64, 2^-104 in float32;
    # on a half line, of 1), and at least 4,096 times the smallest normal float, so that
    # the model's samples down to 1/1,024 of it are normal; none where that is not far
    # below the range (2^-emax/2 of it).
    finfo = jnp.finfo(dtype)
    scale = where(jnp.isfinite(other), jnp.abs(other), 1.0)
    at0 = jnp.maximum(scale * 2.0 ** -(finfo.maxexp - 24), 4096 * finfo.tiny)
    return where((e == 0) & (at0 <= scale * 2.0 ** -(finfo.maxexp // 2)), at0, gap)


def _end_gaps(lo, hi):
    """`_end_gap` at both ends of the segments [lo, hi], in one call (one copy of it in
    the compiled program): (gap at lo, gap at hi)."""
    return jnp.split(_end_gap(jnp.concatenate([lo, hi]), jnp.concatenate([hi, lo])), 2)


# Distances (in units of the model width) at which f is sampled for the end model.
_END_DIST = 4.0 ** -np.arange(6)
# Below this |α| the power-log model's terms cancel (its coefficients carry 1/(1 - 4^-α)²);
# there the power model's α → 0 limit (log d) is used alone.
_LOG_MIN_ALPHA = 0.05


def _end_model(fd, d, length):
    """Integral of f over the `length` closest to a segment end, from f at distances `d`.

    Two models of f near the end, at distances d_j = D/ρ^j (ρ = 4, j = 0..5), compared
    on the sample neither fits (d₅), the better one used:

    - power: f = s + C·dist^α (α > -1), an integrable power singularity (or a smooth f,
      α ≈ 0). The differences Δ_j = f_j - f_{j+1} are geometric, Δ_{j+1} = R Δ_j with
      R = ρ^-α, so f₀, f₁, f₂ fix it in closed form: R = Δ₁/Δ₀, K = C·D^α = Δ₀/(1 - R),
      s = f₀ - K. Its integral over [0, L] is

          L·(f₀ - Δ₀·q),  q = ((L/D)^α/(α + 1) - 1)/(R - 1),

      evaluated with expm1/log1p so that it stays accurate as α → 0 (q → (1 - ln(L/D))/ln ρ:
      the limit is log d). Its residual at f₃ is its error.
    - power-log: f = s + dist^α·(A' + B'·ln dist), what differentiating a power
      singularity in its exponent gives (d/dα of (1 - x)^α at the end 1). With
      j = ln(D/d)/ln ρ, f_j = s + R^j (A + B j), so Δ_j = R^j (P + Q j) with
      P = A(1 - R) - BR, Q = B(1 - R): R is a double root of the differences' recurrence,
      Δ_{j+2} = 2R Δ_{j+1} - R² Δ_j, which Δ₀..Δ₃ solve for
      R = (Δ₁Δ₂ - Δ₀Δ₃) / (2(Δ₁² - Δ₀Δ₂)). With u = d/D, λ = L/D, and the integrals
      ∫₀^λ u^α du = λ^(α+1)/(α+1), ∫₀^λ u^α ln u du = λ^(α+1) (ln λ/(α+1) - 1/(α+1)²):

          ∫₀^L f = L·(s + λ^α (A/(α+1) - (B/ln ρ)(ln λ/(α+1) - 1/(α+1)²))).

      Its largest residual at f₃, f₄, f₅ is its error (f₅ is the one it did not use).
      Not used for |α| < `_LOG_MIN_ALPHA`, where its coefficients cancel.

    The residual times L is the error estimate (0 for an exact model; not reducible by
    bisection). This plays the role of QUADPACK's extrapolation (QAGS): the part of the
    range so close to the end that f cannot be sampled there (|x - 1/3|^-0.8 at the
    float 1/3 holds 3e-3 of its integral within one ulp) is integrated analytically.
    """
    # (The samples' differences and what is built from them are computed as one array
    # each and read by column: a list of columns became one kernel per column.)
    f = [fd[:, j] for j in range(_END_DIST.shape[0])]
    dl_all = fd[:, :-1] - fd[:, 1:]  # Δ_j = f_j − f_{j+1}, (m, 5, K)
    dl = [dl_all[:, j] for j in range(dl_all.shape[1])]
    d0 = d[:, :1]
    # The samples are at exactly D, D/4, ... (Sterbenz), unless e + D crosses a power of
    # two (then off by one ulp of e: a 2^-26 relative change, negligible).
    lr = math.log(_END_DIST[0] / _END_DIST[1])
    ll = jnp.log(length[:, None] / d0)  # ln λ
    width = length[:, None]  # L
    eps = jnp.finfo(fd.dtype).eps

    # Power model from f₀, f₁, f₂.
    num, den = dl[0], dl[1]
    # A constant f, or one whose differences are rounding noise (no model can be read
    # off them, and a noisy ratio must not pass for a blow-up): α = 0.
    flat = jnp.max(jnp.abs(dl_all), axis=1) <= 64 * eps * jnp.max(jnp.abs(fd), axis=1)
    same = (num == den) | flat
    r = where(den != 0, num / where(den != 0, den, 1.0), 0.0)  # 1/R = ρ^α
    alpha = where(same, 0.0, jnp.log(where(r > 0, r, 1.0)) / lr)
    valid = same | ((r > 0) & (alpha > -1 + 1e-3))
    small = jnp.abs(alpha) < 1e-8
    al = where(small, 1.0, alpha)
    denom = jnp.expm1(-al * lr)  # R - 1

    def predicted(j):  # the power model at f_j: f₀ - Δ₀ (R^j - 1)/(R - 1)
        return f[0] - num * where(small, float(j), jnp.expm1(-al * j * lr) / denom)

    def power_tail(al):
        q = where(small, (1 - ll) / lr, jnp.expm1(al * ll - jnp.log1p(al)) / jnp.expm1(-al * lr))
        return width * (f[0] - num * q)

    resid = jnp.abs(f[3] - predicted(3))
    resid5 = jnp.abs(f[5] - predicted(5))
    # The exponent is read off f's samples, and near α = -1 the tail, (L/D)^(α+1)/(α+1)
    # of the scale, turns a small error in it into a large one: next to an end at 0 in
    # float32 (a gap of 2^-104 holds half of ∫₀¹ x^-0.99) exp(a·log x) at a = -0.995,
    # whose samples are rounded to ~35 ulps (the exponent is 72), came out 1.1e-4 off,
    # converged at epsrel 1e-5 with an estimate of 1.8e-6. The model is integrated again
    # with α moved toward -1 by what errors of the samples' size move it, the larger of an
    # ulp and the residual at f₃ (the noise the fit leaves), twice: a residual is one draw
    # of the noise (once, a = -0.995 above had an estimate of 8.4e-5 for an error of
    # 1.1e-4; with f₅'s residual too, float32 x^-0.99 had 5.6e-3 for 2.9e-6), and the change in the
    # tail counts as error (a model pushed to α <= -1 by it: an infinite error). Only for
    # α < -0.9: further from -1 the amplification is small, and the residuals, which also
    # hold how far f is from a power law, would move α by far more than noise does (an
    # inner integral of dblquad with a weakly singular kernel ended divergent).
    noise_p = jnp.maximum(eps * jnp.max(jnp.abs(fd[:, :3]), axis=1), resid)
    moved_p = 2 * noise_p * (1 / jnp.abs(where(num != 0, num, 1.0)) + 1 / jnp.abs(where(den != 0, den, 1.0))) / lr
    al_moved = al - moved_p
    # (Both exponents in one evaluation: one copy of the formula in the compiled program.)
    tail, tail_moved = power_tail(jnp.stack([al, where(al_moved > -1, al_moved, al)]))
    sensitivity_p = where(small | same | (al >= -0.9), 0.0, where(al_moved > -1, jnp.abs(tail_moved - tail), jnp.inf))

    # Power-log model from f₀ .. f₄.
    # (R is a ratio of products of differences: taken of the differences scaled to the
    # largest, as the products overflowed where f is large (x^-0.99·log x is 1e298 at the
    # samples next to an end at 0: NaN, and the power model's 2 % error was taken
    # instead) and underflow where it is tiny.)
    big_dl = jnp.max(jnp.abs(dl_all[:, :4]), axis=1)
    unit = where(big_dl > 0, big_dl, 1.0)
    sl_all = dl_all[:, :4] / unit[:, None]
    sl = [sl_all[:, j] for j in range(4)]
    dd = sl[1] * sl[1] - sl[0] * sl[2]
    num_r = sl[1] * sl[2] - sl[0] * sl[3]
    safe_n, safe_d = where(num_r != 0, num_r, 1.0), where(dd != 0, dd, 1.0)
    big_r = num_r / (2 * safe_d)
    ok_r = ~flat & (dd != 0) & (big_r > 0) & jnp.isfinite(big_r)
    rr = where(ok_r, big_r, 0.5)

    def log_model(rr):
        a_l = -jnp.log(rr) / lr
        ok_l = ok_r & (a_l > -1 + 1e-3) & (jnp.abs(a_l) > _LOG_MIN_ALPHA)
        one_r = where(ok_l, 1 - rr, 1.0)
        cb = (dl[1] / rr - dl[0]) / one_r  # B
        ca = (dl[0] + cb * rr) / one_r  # A
        s_l = f[0] - ca
        resid_l = jnp.stack([jnp.abs(f[j] - (s_l + rr**j * (ca + cb * j))) for j in (3, 4, 5)])
        ap1 = where(ok_l, a_l + 1, 1.0)
        lam_a = jnp.exp(a_l * ll)  # λ^α
        tail_l = width * (s_l + lam_a * (ca / ap1 - (cb / lr) * (ll / ap1 - 1 / (ap1 * ap1))))
        return a_l, ok_l, resid_l, tail_l

    # R is fixed by differences of products that cancel to (Q/P)² of their size (a few
    # 1e-5 where the log's share of f changes slowly, as ln d next to a tiny end), so f's
    # rounding moves it by that much more, and the tail, through 1/(α + 1)², by far more
    # again near α = -1: x^-0.99·log x over [0, 1e-100] came out 7.7e-11 off with a
    # residual of 2.9e-12. R's relative change to first order in each f_j (through the
    # scaled differences: ∂ ln R/∂sl_i = (∂N/∂sl_i)/N - (∂dd/∂sl_i)/dd), summed over f
    # rounded by an ulp (against random 1-ulp perturbations of f: 1.6 times their rms
    # effect, 1.6 times below the largest of 300), moves R; the model is evaluated again
    # there, and the tail's change is part of its error.
    # ∂N/∂sl = (−sl₃, sl₂, sl₁, −sl₀), ∂dd/∂sl = (−sl₂, 2sl₁, −sl₀, 0); g_j, j = 0..4, is
    # the derivative in sl_j (g₄ = 0), and f_j's ulp moves sl_j by +1 and sl_{j−1} by −1.
    zero = jnp.zeros_like(sl_all[:, :1])
    sign_n = np.array([-1.0, 1.0, 1.0, -1.0], sl_all.dtype)[:, None]
    grad_n = sl_all[:, ::-1] * sign_n
    grad_d = jnp.concatenate([sl_all[:, 2::-1] * np.array([-1.0, 2.0, -1.0], sl_all.dtype)[:, None], zero], axis=1)
    g = jnp.concatenate([grad_n / safe_n[:, None] - grad_d / safe_d[:, None], zero], axis=1)
    f_scaled = jnp.abs(fd[:, :5]) / unit[:, None]  # (f/big_dl: no overflow)
    steps = jnp.abs(g - jnp.concatenate([zero, g[:, :4]], axis=1)) * f_scaled
    moved = eps * sum(steps[:, j] for j in range(5))
    # (Both in one evaluation: one copy of the model in the compiled program.)
    a_l, ok_l, resid_l, tail_l = log_model(jnp.stack([rr, rr * (1 + moved)]))
    a_l, ok_l, resid_l, tail_l, shifted = a_l[0], ok_l[0], resid_l[:, 0], tail_l[0], tail_l[1]
    # The power model's prediction of f₅ is defined for any R > 0 (also where α <= -1).
    better_l = ok_r & (resid_l[2] < where(r > 0, resid5, jnp.inf))
    sensitivity = jnp.abs(shifted - tail_l)
    use_l = better_l & ok_l & jnp.isfinite(tail_l) & jnp.isfinite(sensitivity)
    tail = where(use_l, tail_l, tail)
    resid = where(use_l, jnp.max(resid_l, axis=0), resid)
    err = 4 * width * resid + where(use_l, sensitivity, sensitivity_p)
    valid = valid | use_l
    # No model (differences at rounding level, or a non-integrable blow-up): f is taken
    # as constant, with the spread of the first four samples as the error.
    bad_val = width * f[0]
    bad_err = 4 * width * (jnp.max(jnp.abs(fd[:, :4] - f[0][:, None]), axis=1) + eps * jnp.abs(f[0]))
    tail = where(valid, tail, bad_val)
    err = where(valid, err, bad_err)
    # A clean power (or power-log) law with α <= -1 is a non-integrable blow-up.
    divergent = (~same & (r > 0) & ~valid) | (better_l & (a_l <= -1 + 1e-3))
    return tail, err, divergent


def _hidden_mass(x0, x1, f0, f1):
    """A bound on the mass before the outermost node x0 of a plain piece, where |f| falls
    by more than _STEEP from x0 to the next node x1 (f0, f1: (n, K); x0, x1: (n,); 0
    elsewhere): no node sees it. e^(−|x − x0|/s) through the two values, continued to the
    end, puts s·f0·(R^q − 1) there, R = f0/f1, s = |x1 − x0|/ln R and q = 0.1996 the
    ratio of the end's gap to the nodes' (the 21-point rule on an affine piece); this
    is at most |x1 − x0|·f0·R^(1/4)/ln _STEEP, taken with square roots rather than a
    logarithm and a power (cheaper to compile): R^(1/4) as f0^(1/4)/f1^(1/4), which
    cannot overflow, and the bound capped below the largest float."""
    steep = (f0 > _STEEP * f1) & (f1 > 0) & jnp.isfinite(f0)
    d01 = jnp.abs(x1 - x0)[:, None]
    quarter = jnp.sqrt(jnp.sqrt(where(steep, f0, 1.0))) / jnp.sqrt(jnp.sqrt(where(steep, f1, 1.0)))
    bound = jnp.minimum(d01 * where(steep, f0, 0.0) * quarter / math.log(_STEEP), jnp.finfo(f0.dtype).max * 1e-3)
    return where(steep & (d01 > 0), bound, 0.0)


def _wsum(weights, v):
    """Σ_j weights[j] v[:, j, :], as a fused multiply-sum: a dot would transpose the
    node values (and whatever produces them) into its own layout first."""
    return jnp.sum(jnp.moveaxis(v, 1, -1) * weights, axis=-1)


def evaluate(fvec, args, x):
    """f at every point of the array `x`, one batched call: shape x.shape + (K,)."""
    return jax.vmap(lambda xi: fvec(xi, args))(x.reshape(-1)).reshape(x.shape + (-1,))


def unused_probe(c0, c1):
    """A point of each piece [c0, c1] where f is evaluated when the piece needs no probe
    (its value is dropped): the midpoint, or on an infinite piece a point one unit (or
    |end|) in from its finite end, 0 on the whole line. Never outside the piece: f may be
    undefined there. (The midpoint of a half line used to become 0, so that ∫ over
    [0.25, ∞) evaluated f at 0, 12 of 300 evaluations; an integrand that raises outside
    its range raised. Found by an outside probe.)"""
    fin0, fin1 = jnp.isfinite(c0), jnp.isfinite(c1)
    big = jnp.finfo(c0.dtype).max
    step = jnp.maximum(1.0, jnp.abs(where(fin0, c0, where(fin1, c1, 0.0))))
    lo = jnp.minimum(where(fin0, c0, 0.0) + step, big)
    hi = jnp.maximum(where(fin1, c1, 0.0) - step, -big)
    mid = where(fin0 & fin1, c0 / 2 + c1 / 2, 0.0)
    return where(fin0 & fin1, mid, where(fin0, lo, where(fin1, hi, 0.0)))


def _gauss_kronrod(fvec, args, iv, edges, probe=None, once=True):
    """`_gauss_kronrod_steps` with f evaluated by `fvec(x, *args)` (see there)."""
    steps = _gauss_kronrod_steps(iv, edges, probe, once)
    x, kept = next(steps)
    return finish_steps(steps, (evaluate(fvec, args, x), kept))


def finish_steps(steps, sent):
    """Send `sent` (the integrand's values, and what the steps asked to be given back) to
    a generator of steps that yielded where it needs them, and return what it returns."""
    try:
        steps.send(sent)
    except StopIteration as done:
        return done.value
    raise AssertionError("the steps asked for the integrand twice")  # pragma: no cover - a bug here


def _gauss_kronrod_steps(iv, edges, probe=None, once=True):
    """Apply the 21-point pair to a batch of intervals `iv` (a dict of arrays, see below).

    A generator: it yields the points x at which it needs the integrand, an array
    (n_intervals, columns), with a dict of arrays, and takes f there, (n_intervals,
    columns, K), with that dict in return (`_gauss_kronrod` evaluates f; the loop's body
    evaluates it between the two compiled halves of a pass, see `loop_parts`). Then it
    returns Kronrod values, error estimates, roundoff floors and tail sizes, each of
    shape (n_intervals, K), the number of evaluations of `f` per interval, whether f
    shows a feature inside the piece (|f| or its second divided difference largest at an
    inner node: a peak, a jump or a kink, not an end singularity) and whether it shows a
    step between two neighbouring nodes (a jump), and x and f at the
    three nodes next to each end, f at the points `probe` (one per interval, or None)
    and f at the centre node of a plain piece (NaN elsewhere), and x and f at the fourth
    node from each end (for the jump, kink and peak tests between halves, `_shared_point`).

    A piece that reaches a finite end `e` of its segment leaves out the last
    `_end_gap(e)` of the range from its map and adds the end model's integral over it
    (`_end_model`, 6 more evaluations of f, at points fixed by `e`: one call of f
    covers the pieces' nodes and those 6 points at each end of each segment).

    `once`: the arrays that many operations read are computed once (`computed_once`):
    a smaller program, and a faster pass where the arrays are small. Not in the first
    pass of a large batch (`_batch.py`), where the arrays are (lanes × pieces × nodes)
    and recomputing them inside each kernel costs less than writing and reading them:
    4,000 easy lanes took 18–21 ms with them computed once, 8 ms without.
    """
    once_ = computed_once if once else (lambda *arrays: arrays)
    slo, shi, plain = iv["slo"], iv["shi"], iv["plain"]
    c0, c1 = iv["c0"], iv["c1"]
    dtype = slo.dtype
    n = slo.shape[0]

    def per_piece(v):  # the row of each piece's segment (one segment: no gather needed)
        return jnp.broadcast_to(v, (n,) + v.shape[1:]) if v.shape[0] == 1 else v[iv["seg"]]

    # The end model's gap at each end of each segment, and at the ends of each piece's.
    ends0, ends1 = edges[:-1], edges[1:]
    gap0, gap1 = _end_gaps(ends0, ends1)
    e0, e1 = edges[iv["seg"]], edges[iv["seg"] + 1]
    g0 = where((c0 == e0) & ~plain, per_piece(gap0), 0.0)
    g1 = where((c1 == e1) & ~plain, per_piece(gap1), 0.0)
    # The map keeps its geometry (so bisection points do not move); the nodes of a piece
    # stop where the map comes within the gap of a modelled end.
    sg0, sg1 = _gap_sigma(c0, c1, g0, g1)
    fin = jnp.isfinite(c0) & jnp.isfinite(c1)
    half_end = where(plain, shi == 1, slo == 0)
    touch0 = (g0 > 0) & where(fin, slo == 0, half_end & jnp.isfinite(c0))
    touch1 = (g1 > 0) & where(fin, shi == 1, half_end & jnp.isfinite(c1))
    lo_e = jnp.maximum(slo, sg0)
    hi_e = jnp.maximum(jnp.minimum(shi, sg1), lo_e)
    xk = jnp.asarray(NODES, dtype)
    wk = jnp.asarray(KRONROD_WEIGHTS, dtype)
    wg = jnp.asarray(GAUSS_WEIGHTS, dtype)
    half = (hi_e - lo_e) / 2
    s = (lo_e + half)[:, None] + half[:, None] * xk
    sb = jnp.stack([sg0, sg1], axis=1)  # where the map hands over to the end models
    s, sb = once_(s, sb)  # (read by each expm1 of the map and by the end distances)
    x, w, moved = _map_nodes(s, c0[:, None], c1[:, None], plain[:, None])
    # (Computed once and read by every consumer: otherwise XLA copies the map into each
    # operation of f that reads x and each test that reads the nodes; `computed_once`.)
    x, w = once_(x, w)
    # Length left to the end model: the map's distance to the end at the hand-over.
    len0, len1 = _end_distances(sb, c0, c1)
    m = x.shape[1]
    # The end model's samples depend only on the segment end (and its gap), not on the
    # piece: f is sampled once per end of each segment, for whichever piece touches it.
    dist = jnp.asarray(_END_DIST, dtype)
    centre = x[0, m // 2]  # where an end has no model: a node evaluated anyway
    xe0 = where((gap0 > 0)[:, None], ends0[:, None] + gap0[:, None] * dist, centre)
    xe1 = where((gap1 > 0)[:, None], ends1[:, None] - gap1[:, None] * dist, centre)
    # The end samples ride along as q more columns of the pieces' (n, m) node array (the
    # last few repeat the placeholder): one call of f on a layout like the nodes'.
    nend = 2 * _END_DIST.shape[0] * ends0.shape[0]
    q = -(-nend // n)
    xe = jnp.concatenate([xe0.reshape(-1), xe1.reshape(-1), jnp.broadcast_to(centre, (n * q - nend,))])
    extra = [] if probe is None else [probe[:, None]]
    xall = jnp.concatenate([x, xe.reshape(n, q)] + extra, axis=1)
    # f at every node, (n, m + q + len(extra), K). With the points go the arrays computed
    # so far that the rest reads, and those are read back with f: where the two parts
    # run as separate compiled halves (`loop_parts`), the second reads the first's
    # arrays, not a second computation of them.
    fall, kept = yield xall, dict(x=x, w=w, moved=moved, len0=len0, len1=len1, xe0=xe0, xe1=xe1, touch0=touch0,
                                  touch1=touch1, half=half, sg0=sg0, sg1=sg1, fin=fin)
    x, w, moved, len0, len1, xe0, xe1, touch0, touch1, half, sg0, sg1, fin = (kept[name] for name in (
        "x", "w", "moved", "len0", "len1", "xe0", "xe1", "touch0", "touch1", "half", "sg0", "sg1", "fin"))
    (fall,) = once_(fall)  # (f's cheap operations are not copied into each test that reads f)
    fx = fall[:, :m]
    fend = fall[:, m : m + q].reshape(n * q, -1)[:nend].reshape(2, -1, _END_DIST.shape[0], fall.shape[-1])
    # One node of a piece that lands on an isolated singular or undefined point of f
    # (|x − c|^α or log|x − c| exactly at c, sin x / x at 0) says nothing about the
    # integral: its value is left out and the piece's error is made infinite, so that it
    # is bisected first and the point ends up between pieces (or at an end of one, where
    # no node goes). Non-finite values at two or more points are reported as `nonfinite`.
    # (A node whose weight underflowed is ignored below whatever f is there.)
    bad_node = ~jnp.all(jnp.isfinite(fx), axis=2) & (w > 0)
    # (Nodes of a piece a few ulps wide can round to the same float: still one point.
    # So are nodes within 16 ulps of each other: a singular point written as a rounded
    # difference, 1/√|x² + y² − ½| on the inner range of a `dblquad`, is infinite at
    # the two or three floats where x² + y² − ½ rounds to 0, and one inner integral's
    # `nonfinite` made the double integral inf where it is 2.47 (outside probe).)
    xb_lo = jnp.min(where(bad_node, x, jnp.inf), axis=1)
    xb_hi = jnp.max(where(bad_node, x, -jnp.inf), axis=1)
    near = xb_hi - xb_lo <= 16 * jnp.finfo(x.dtype).eps * jnp.maximum(jnp.abs(xb_lo), jnp.abs(xb_hi))
    isolated = jnp.any(bad_node, axis=1) & ((xb_lo == xb_hi) | near)
    fx = where((isolated[:, None] & bad_node)[..., None], 0.0, fx)
    # Both ends' models in one call (distances as represented: exact, by Sterbenz).
    both = _end_model(
        jnp.concatenate([per_piece(fend[0]), per_piece(fend[1])], axis=0),
        jnp.concatenate([per_piece(jnp.abs(xe0 - ends0[:, None])), per_piece(jnp.abs(ends1[:, None] - xe1))], axis=0),
        jnp.concatenate([len0, len1], axis=0),
    )
    (t0, t1), (t0err, t1err), (div0, div1) = (jnp.split(x_, 2, axis=0) for x_ in both)
    use0, use1 = touch0[:, None], touch1[:, None]
    # An end model whose samples hit an isolated singular point of f (|x − c|^α with c
    # on one of them: 1 − 2^-26 in [0, 1]) says nothing: its part is left out and the
    # piece's error is infinite, so the loop ends flagged (`roundoff` or the limit,
    # as for a node on such a point) with a finite value instead of NaN (`nonfinite`).
    # (Found by an outside probe: dblquad of |x − y|^(−½) over the unit square.)
    hit0, hit1 = (per_piece(~jnp.all(jnp.isfinite(fe), axis=(1, 2)))[:, None] for fe in (fend[0], fend[1]))
    blind0, blind1 = use0 & hit0, use1 & hit1
    use0, use1 = use0 & ~hit0, use1 & ~hit1
    blowup = (use0 & div0) | (use1 & div1)
    end_val = where(use0, t0, 0.0) + where(use1, t1, 0.0)
    end_err = where(use0, t0err, 0.0) + where(use1, t1err, 0.0)
    nev = NNODES + _END_DIST.shape[0] * (touch0.astype(jnp.int32) + touch1.astype(jnp.int32))
    # A node whose weight underflowed contributes nothing, even if f is infinite there.
    g = where((w > 0)[..., None], fx * w[..., None], 0.0)
    hk = half[:, None]
    kron = hk * _wsum(wk, g)
    gauss = hk * _wsum(wg, g)
    resabs = hk * _wsum(wk, jnp.abs(g))
    mean = kron / where(half > 0, 2 * half, 1.0)[:, None]
    resasc = hk * _wsum(wk, jnp.abs(g - mean[:, None, :]))
    # QUADPACK's error estimate (Piessens et al. 1983, QK21): |K - G| scaled by
    # min(1, (200 |K - G| / resasc)^1.5), which is pessimistic for rough integrands and
    # close to the true error of the Kronrod value for smooth ones.
    diff = jnp.abs(kron - gauss)
    ratio = where(resasc > 0, 200 * diff / where(resasc > 0, resasc, 1.0), 1.0)
    err = where((resasc > 0) & (diff > 0), resasc * jnp.minimum(1.0, ratio**1.5), diff)
    # The estimate is saturated (the error is all of resasc: the two rules agree on no
    # digit), which QAGS does not accept from its first rule (see the loop's `unsure`).
    saturated = jnp.any((resasc > 0) & (diff > 0) & (ratio >= 1), axis=1)
    eps = jnp.finfo(dtype).eps
    # Nodes closer to a finite end than its ulp were moved onto the nearest interior
    # float, where f cannot show how it behaves closer in. At an end without the end
    # model (a short segment) their whole contribution is counted as unrecoverable
    # error (roundoff); at a modelled end the nodes stop at the hand-over instead.
    lost = hk * _wsum(wk, where(moved[..., None], jnp.abs(g), 0.0))
    # The moved nodes also put a kink into the integrand (in t) where they start;
    # an error of the same order as `lost` is that kink, which bisection cannot cure.
    # f at a node is f at the float nearest to it: off by |f'| ulp(x), which next to a
    # singular point inside a plain piece (|x - c|^α with x - c ~ 1e-10) no bisection
    # reduces. |f'| is taken from the steps between neighbouring nodes.
    dx = jnp.diff(x, axis=1)[..., None]
    dfx = jnp.diff(fx, axis=1)
    gap = where(dx > 0, dx, 1.0)
    slope = where(dx > 0, dfx / gap, 0.0)
    dx2 = (x[:, 2:] - x[:, :-2])[..., None]
    curv = where(dx2 > 0, jnp.diff(slope, axis=1) / where(dx2 > 0, dx2, 1.0), 0.0)
    # |f′|·eps·|x| at each node from the gaps on either side, as |Δf|·(eps·|x|/Δx): the
    # slope itself overflows where |f′| passes the largest float (1/x on [1e-160,
    # 2e-160]: error inf, `max_subdivisions` after 8,421 evaluations; a Gaussian of width
    # 1e-155: NaN, `nonfinite`, 2.5 % off; outside probe). Then the weight: eps·|x|·w
    # overflows on a range wider than ~1e162, and a zero slope times inf made the error
    # NaN, `nonfinite` (outside probe).
    change = jnp.abs(dfx)  # (also read by the step test below)
    ex = (eps * jnp.abs(x))[..., None]
    left = where(dx > 0, change * (ex[:, 1:] / gap), 0.0)  # the gap left of nodes 1..n-1
    right = where(dx > 0, change * (ex[:, :-1] / gap), 0.0)  # the gap right of nodes 0..n-2
    node_noise = jnp.concatenate([right[:, :1], jnp.maximum(left[:, :-1], right[:, 1:]), left[:, -1:]], 1)
    noise = hk * _wsum(wk, node_noise * w[..., None])
    noise = where(plain[:, None], noise, 0.0)
    base = 50 * eps * resabs + lost + noise
    err = jnp.maximum(err, base)
    floor = where(err <= 100 * lost, err, base)
    kron = kron + end_val
    # Mass before the outermost node of a plain piece where f falls steeply away from
    # that end (`_hidden_mass`) is counted as error, so that the piece is bisected. Such
    # mass, no node near it, was lost, `converged`: ∫₀^100 e^(−1000x) dx at epsrel 1e-8
    # came out 4.3e-13 for 1e-3 (error estimate 8e-25) once the piece [4e-13, 25] went
    # from the double-exponential map back to plain bisection, its first nodes at 0.054
    # and 0.33 seeing e^(−54) and e^(−330); at the default tolerances 2e-48 (QAGS's too),
    # the piece [0, 50] seeing e^(−108) at its first node and e^(−652) at the next.
    # (From the three nodes next to each end, gathered once for the tests between halves
    # below: slices of x and f would copy their computation into this test.)
    near = np.array([0, 1, 2, m - 3, m - 2, m - 1])
    fourth = np.array([3, m - 4])
    x_near, f_near = x[:, near], fx[:, near]
    af = jnp.abs(f_near)
    fin_plain = (plain & jnp.isfinite(c0) & jnp.isfinite(c1))[:, None]
    hidden = (_hidden_mass(x_near[:, 0], x_near[:, 1], af[:, 0], af[:, 1])
              + _hidden_mass(x_near[:, 5], x_near[:, 4], af[:, 5], af[:, 4]))
    err = err + where(fin_plain, hidden, 0.0)
    err = where(isolated[:, None] | blind0 | blind1, jnp.inf, err + end_err)
    floor = floor + end_err
    # Size of the integrand at the outermost node of a piece that touches a truncated
    # end of a double-exponential map: if it is not negligible the tail is not either.
    mapped = ~plain  # the rational maps reach infinity exactly: nothing is truncated
    # (An end handed to the end model is not truncated.)
    at_lo = (mapped & (slo == 0) & (sg0 == 0))[:, None]
    at_hi = (mapped & (shi == 1) & (sg1 == 1))[:, None]
    tail = 2 * hk * jnp.maximum(
        where(at_lo, jnp.abs(g[:, 0]), 0.0), where(at_hi, jnp.abs(g[:, -1]), 0.0)
    )
    # A non-integrable blow-up at a modelled end counts as a tail that never vanishes.
    tail = where(blowup, jnp.inf, tail)
    # Largest |f| at an inner node (the nodes are sorted): a peak or an oscillation,
    # not an end singularity, whatever the errors say.
    top_node_inner = _max_inside(jnp.max(jnp.abs(fx), axis=2))
    # ... and the largest second divided difference on a finite piece: next to an end
    # for a power or log singularity there (f'' ~ dist^(α-2)), inside for a jump or a
    # kink within the piece.
    inner_curv = jnp.isfinite(c0) & jnp.isfinite(c1) & _max_inside(jnp.max(jnp.abs(curv), axis=2))
    inner_feature = top_node_inner | inner_curv
    # A step between two neighbouring nodes: f changes across one gap by far more than
    # across either gap beside it (a jump inside the piece; at a power or log singular
    # point f falls or rises on both sides, a valley or a spike, and the gaps beside the
    # largest change change by as much). See `extrapolate` for what it decides.
    beside = jnp.maximum(change[:, :-2], change[:, 2:])
    step_noise = 1e3 * eps * jnp.max(jnp.abs(fx), axis=1, keepdims=True)
    # (Per component of a vector integrand: (n, K).)
    step = jnp.any((change[:, 1:-1] > _STEP * beside) & (change[:, 1:-1] > step_noise), axis=1)
    # ... and so does a kink between two neighbouring nodes g, g + 1 of a plain piece: the
    # slope changes across that gap (from the gap before it to the gap after it) by more
    # than _STEP times what the curvature at the nodes beside (g - 1, g + 2) explains over
    # the same span. A kink's totals depend on its binary digits as a jump's do; with
    # only the step test, |x − c|·cos x at c = 1/3 + 1.2e-5 was extrapolated to 6.9e-10
    # off at epsrel 1e-12, `converged` (`bench/quad_random.py --periodic`). Measured in
    # the piece's own coordinate σ (x is affine in σ there), where the node spacings are
    # fixed numbers: in x the curvatures underflow on a range of 1e160.
    slope_s = dfx / _DSIGMA[:, None]
    curv_s = jnp.diff(slope_s, axis=1) / _DSIGMA2[:, None]  # at nodes 1 ... m - 2
    across = jnp.abs(slope_s[:, 3:-1] - slope_s[:, 1:-3])  # gaps 2 ... m - 4
    expect = (jnp.abs(curv_s[:, :-3]) + jnp.abs(curv_s[:, 3:])) * _SPAN[:, None]
    kinked = (across > _STEP * expect) & (across * _DSIGMA[2:-2, None] > step_noise)
    step = step | ((plain & fin)[:, None] & jnp.any(kinked, axis=1))
    # The three nodes next to each end (`near` above), for the jump test between sibling pieces.
    probed = None if probe is None else fall[:, -1]
    # f at the centre node of a plain piece, which is the point plain bisection splits it
    # at (to within a few ulps: the map forms it as c1 - (c1 - c0)/2), for the peak test
    # between its halves (`_shared_point`); NaN where it is not, or f is not finite there.
    xc = x[:, m // 2]
    mid = (c0 + c1) / 2
    at_mid = plain & fin & (jnp.abs(xc - mid) <= 4 * eps * jnp.maximum(jnp.abs(c0), jnp.abs(c1)))
    fc = fall[:, m // 2]
    fc = where(at_mid[:, None] & jnp.isfinite(fc), fc, jnp.nan)
    # (Each result computed once: the pool's float and integer rows and the loop's tests
    # all read them; `computed_once`.)
    kron, err, floor, tail, inner_feature, step, saturated = once_(
        kron, err, floor, tail, inner_feature, step, saturated)
    return kron, err, floor, tail, nev, (inner_feature, step, saturated), (x_near, f_near, probed, fc, x[:, fourth], fx[:, fourth])


def _one_sided(xs, fs, b):
    """Value, slope and second derivative at b of the quadratic through
    (xs[:, j], fs[:, j, :]), j = 0, 1, 2 (Newton's form; coincident nodes, in a piece
    a few ulps wide, give a constant)."""
    x0, x1, x2 = (xs[:, j][:, None] for j in range(3))
    f0, f1, f2 = (fs[:, j] for j in range(3))
    bb = b[:, None]

    def ratio(num, den):
        return where(den != 0, num / where(den != 0, den, 1.0), 0.0)

    d01, d12 = ratio(f1 - f0, x1 - x0), ratio(f2 - f1, x2 - x1)
    d012 = ratio(d12 - d01, x2 - x0)
    value = f0 + (bb - x0) * (d01 + (bb - x1) * d012)
    slope = d01 + ((bb - x0) + (bb - x1)) * d012
    return value, slope, 2 * d012


def _interpolate(xs, fs, b):
    """The polynomial through (xs[:, j], fs[:, j, :]) at b (Lagrange's form), and the sum of
    the absolute weights (the factor by which it can amplify f's rounding). Coincident
    nodes give NaN."""
    diag = np.eye(xs.shape[1], dtype=bool)  # the factor j = i is left out of each product
    num = jnp.prod(where(diag, 1.0, (b[:, None] - xs)[:, None, :]), axis=2)
    den = jnp.prod(where(diag, 1.0, xs[:, :, None] - xs[:, None, :]), axis=2)
    w = num / den
    return jnp.sum(w[:, :, None] * fs, axis=1), jnp.sum(jnp.abs(w), axis=1)


def _power_law(xs, fs, b, fb):
    """Whether f - f(b) follows |x - b|^α, 0.04 <= α <= 8, through the three nodes of one
    side (`xs` (n, 3), nearest to b first; `fs` (n, 3, k); `fb` (n, k)): the two exponents
    that neighbouring pairs of nodes give agree to a factor 1.5, or to 0.08 (a log factor,
    as in the α-derivative |x - b|^α log|x - b|, shifts them apart: 0.13 and 0.08 for
    α = 0.3 at distances near 1e-3). Per component. A peak's flanks do not: they are flat
    (α ≈ 0), or fall (a background's slope), or bend (exponents 3.6 times apart on a
    straight background, 11.5 on a parabola; 0.21 and 0.45 on sin 50x beside ½)."""
    d = jnp.abs(xs - b[:, None])[:, :, None]
    u = jnp.abs(fs - fb[:, None, :])
    pos = (u[:, :-1] > 0) & (u[:, 1:] > 0) & (d[:, :-1] < d[:, 1:])
    a = where(pos, jnp.log(where(pos, u[:, :-1] / where(pos, u[:, 1:], 1.0), 1.0))
                  / jnp.log(where(pos, d[:, :-1] / d[:, 1:], 0.5)), 0.0)
    lo, hi = jnp.min(a, axis=1), jnp.max(a, axis=1)
    return jnp.all(pos, axis=1) & (lo >= 0.04) & (hi <= 8.0) & ((hi <= 1.5 * lo) | (hi - lo <= 0.08))


def _shared_point(near, b, nsplit, fb, one_sided=False):
    """The flag of a jump, a kink or a narrow peak of f within the node-free gap around
    the point `b` that the two halves of each bisected piece share (halves of one parent
    at rows i and i + nsplit of `near`, the x and f of the three nodes next to each end of
    every pending piece; `fb`, f at b from the parent's centre node, NaN where unknown):
    per half and component, (jump, kink), the size of a jump or peak there and the slope
    jump of a kink (0 where none is seen; see `body`), and per half whether a peak was
    seen. With `one_sided` (two segments that meet at a breakpoint, of any lengths), also
    a peak that only one side's nodes miss (see below)."""
    xs, fs = near[0], near[1]
    eps = jnp.finfo(xs.dtype).eps
    lx, lf = xs[:nsplit, 3:], fs[:nsplit, 3:]  # the left half's last three nodes
    rx, rf = xs[nsplit : 2 * nsplit, :3], fs[nsplit : 2 * nsplit, :3]
    if one_sided:  # (no kink test between segments)
        vl, sl, cl = _one_sided(lx, lf, b)
        vr, sr, cr = _one_sided(rx, rf, b)
    else:
        # Each side's quadratic through f and through log|f| (for the kink test below,
        # where f keeps its sign at the six nodes), in one call: f's components first.
        kf = lf.shape[2]
        one_sign = ((jnp.all(lf > 0, axis=1) & jnp.all(rf > 0, axis=1))
                    | (jnp.all(lf < 0, axis=1) & jnp.all(rf < 0, axis=1)))  # (n, k)
        gl, gr = (jnp.log(where(one_sign[:, None], jnp.abs(fs_), 1.0)) for fs_ in (lf, rf))
        vl, sl, cl = _one_sided(lx, jnp.concatenate([lf, gl], axis=2), b)
        vr, sr, cr = _one_sided(rx, jnp.concatenate([rf, gr], axis=2), b)
        (vl, ul), (sl, tl), (cl, ql), (vr, ur), (sr, tr), (cr, qr) = (
            (z[:, :kf], z[:, kf:]) for z in (vl, sl, cl, vr, sr, cr))
    span_l, span_r = (b - lx[:, 0])[:, None], (rx[:, 2] - b)[:, None]
    # f's rounding, and that of x at the nodes (|f'|·ulp(x)), with a wide margin: the
    # one-sided extrapolations must disagree by more than that.
    both_x, both_f = jnp.concatenate([lx, rx], axis=1), jnp.concatenate([lf, rf], axis=1)
    dx = jnp.diff(both_x, axis=1)[..., None]
    steep = jnp.max(where(dx > 0, jnp.abs(jnp.diff(both_f, axis=1)) / where(dx > 0, dx, 1.0), 0.0), axis=(1, 2))
    noise = (1e3 * eps * (jnp.max(jnp.abs(both_f), axis=(1, 2)) + steep * jnp.abs(b)))[:, None]
    # A smooth f: each side's quadratic extrapolates to b with an error far below its
    # own quadratic term over its nodes (|f''|·span²/2), and its slope there with an
    # error far below |f''|·span. A jump or a kink between the last nodes and b does not.
    # A flat side (f equal at its three nodes) bends by 0 however wide: on
    # [-1e160, 1e160] span² overflows, and a background of 0 made the bend 0·inf = NaN,
    # no test below could pass, and e^(-x²), seen at the centre node only, came out 0,
    # `converged` (outside probe). Elsewhere the bend stays inf on such spans, and the
    # tests silent: with (|c|·span)·span, or with 0 wherever c is (c underflows there),
    # they fired on the pieces of 1/x over [1, 1e200], whose three nodes span decades of
    # f, and a right value took 8,865 evaluations and `max_subdivisions` instead of 465.
    flat_l = jnp.all(lf == lf[:, :1], axis=1)
    flat_r = jnp.all(rf == rf[:, :1], axis=1)
    bend_l = where(flat_l, 0.0, jnp.abs(cl) * span_l**2) / 2
    bend_r = where(flat_r, 0.0, jnp.abs(cr) * span_r**2) / 2
    bend = jnp.maximum(bend_l, bend_r)
    jump, kink = jnp.abs(vl - vr), jnp.abs(sl - sr)
    finite = jnp.isfinite(jump) & jnp.isfinite(kink)
    jump = where(finite & (jump > _JUMP * bend) & (jump > noise), jump, 0.0)
    # A peak (or a dip) at b narrower than the band: the parent's centre node saw it,
    # neither half's nodes do, so f at b is far from both sides' extrapolations (both
    # may agree: no jump). The margin is wider than a jump's: at a power singular point
    # |x - b|^α (f(b) = 0) the extrapolations miss 0 by up to ~4 bends for α = 0.05, by
    # less than one for α >= 0.3. It is then flagged like a jump of that size.
    # Not where either side rises towards b like |x - b|^-p, 0 <= p <= 1.5 (p = 0:
    # log|x - b|): an integrable singular point (|x - b|^α, α > -1; log|x - b|), whose
    # value at b (1e270 for (|x - b| + 1e-300)^-0.9, a sentinel of the user's) is one
    # point, not a peak, and which the extrapolation of the totals resolves (flagged, it
    # was cut next to and 2.5 % off, `roundoff`; outside probe). Two tests on the three
    # nodes next to b, both needed: the size of f at the two nearest grows towards b like
    # |x - b|^-p (`_SINGULAR_P`), and f's differences grow faster than a straight line's
    # (`_SINGULAR_DIFF`; a Lorentzian's flank grows faster than allowed, a smooth
    # background more slowly). The size alone took a background falling away from b
    # (sin 50x beside 0.3) for a singular rise and hid a peak at a breakpoint there; the
    # differences alone took a Laplace peak's tail at the nearest node on a slowly rising
    # background (1 + 0.1 sin x beside 0.3, width 1e-4) for one, and lost the peak at
    # epsrel 1e-8 (outside probe). (The halves are plain pieces, where the nodes'
    # distances to an end have the fixed ratios of the rule's last three nodes; elsewhere
    # the flag is dropped anyway.)
    r = (1 - float(NODES[-2])) / (1 - float(NODES[-1]))

    def singular_side(f_near, f_mid, f_far):
        d1, d2 = f_near - f_mid, f_mid - f_far
        ratio = d1 / where(d2 != 0, d2, 1.0)
        size = jnp.abs(f_near) / jnp.maximum(jnp.abs(f_mid), jnp.finfo(f_mid.dtype).tiny)
        grows = (size > r ** _SINGULAR_P[0]) & (size <= r ** _SINGULAR_P[1])
        return grows & (d2 != 0) & (ratio >= _SINGULAR_DIFF[0]) & (ratio <= _SINGULAR_DIFF[1])

    singular_l, singular_r = singular_side(lf[:, 2], lf[:, 1], lf[:, 0]), singular_side(rf[:, 0], rf[:, 1], rf[:, 2])
    singular = singular_l | singular_r
    peak = jnp.minimum(jnp.abs(fb - vl), jnp.abs(fb - vr))
    peak = where(jnp.isfinite(peak) & (peak > _PEAK * bend) & (peak > noise), peak, 0.0)
    # A background that curves strongly at the node spacing hides a peak from the test
    # above (the margin of 16 bends): e^(-((x - ½)/1e-5)²) + sin 50x on [0, 1] came out
    # 2.5 % low, `converged`, as in QAGS, and so with `points=[0.3]` at a peak at 0.3.
    # Such a background is smooth across b: the polynomial through the six nodes on both
    # sides interpolates it at b far better than the one through the four nearest, while
    # a peak there is as far from one as from the other.
    v6, w6 = _interpolate(both_x, both_f, b)
    v4, _ = _interpolate(both_x[:, 1:5], both_f[:, 1:5], b)
    peak6 = jnp.abs(fb - v6)
    hidden = jnp.isfinite(peak6) & (peak6 > _PEAK * jnp.abs(v6 - v4)) & (peak6 > noise * w6[:, None])
    peak = where(peak > 0, peak, where(hidden, peak6, 0.0))
    # Neither test flags a singular point (`singular`, above), nor a point where f - f(b)
    # follows a power |x - b|^α, α >= 0.04, on one side: the first test leaves |x - b|^α
    # alone for α >= 0.05 (its extrapolations miss f(b) = 0 by less than 16 bends), the
    # interpolation across b would not (0.04: a margin for the rounding of the fitted
    # exponent). Below, such a point looks like a dip on a flat background and is
    # flagged as before (|x|^0.01: 2,729 evaluations at epsrel 1e-12, right): excluded
    # down to α = 1e-3 it took 399, but a peak sitting on it (|x|^0.01 +
    # 0.01 e^(-(x/1e-5)²)) was then lost, `converged` (outside probe).
    n = lx.shape[0]
    power = _power_law(jnp.concatenate([lx[:, ::-1], rx]), jnp.concatenate([lf[:, ::-1], rf]),
                       jnp.concatenate([b, b]), jnp.concatenate([fb, fb]))
    ordinary = ~(singular | power[:n] | power[n:])
    peak = where(ordinary, peak, 0.0)
    zeros = jnp.zeros((xs.shape[0] - 2 * nsplit,) + jump.shape[1:], jump.dtype)
    no = jnp.zeros(xs.shape[0] - 2 * nsplit, bool)
    if one_sided:
        # Halves of one parent have the same length; two segments that meet at a
        # breakpoint need not. Next to a short one the peak's flank reaches that
        # segment's nodes, which then follow f(b), while the long one's nodes see
        # nothing of it: the test above (far from both sides) stayed silent, and the long
        # side's half of the peak was lost, `converged` (e^(-((x - 0.98)/1e-4)²) on
        # [0, 1], points=[0.98]: half the value; outside probe). A side is flagged on its
        # own where f(b) is far from its extrapolation and the other side bends too much
        # near b for the test above to see past it, or is so much shorter (`_SHORT`) that
        # its nodes, all within the flank, see no bend; a plain jump at the breakpoint,
        # the other side smooth and not much shorter, is not flagged. (A jump beside a
        # steep or a very short other side, say a spike that starts at b, is flagged
        # too, and cleared by f at the float next to b, as every new flag is; see
        # `_at_the_end`.)
        # (Only this side's own rise towards b, singular or a power, rules it out: the
        # other side's nodes, all within the flank of a peak at b, follow f(b) - c|x - b|².)
        def lone(miss, bend, span, other_bend, other_span, own_power):
            beside = (_PEAK * other_bend >= miss) | (_SHORT * other_span < span)
            alone = jnp.isfinite(miss) & (miss > _PEAK * bend) & (miss > noise) & beside
            return where(alone & ~own_power, miss, 0.0)

        peak_l = jnp.maximum(peak, lone(jnp.abs(fb - vl), bend_l, span_l, bend_r, span_r, singular_l | power[:n]))
        peak_r = jnp.maximum(peak, lone(jnp.abs(fb - vr), bend_r, span_r, bend_l, span_l, singular_r | power[n:]))
        return (jnp.concatenate([jnp.maximum(jump, peak_l), jnp.maximum(jump, peak_r), zeros]), None,
                jnp.concatenate([jnp.any(peak_l > 0, axis=1), jnp.any(peak_r > 0, axis=1), no]))
    turn = jnp.maximum(jnp.abs(cl) * span_l, jnp.abs(cr) * span_r)
    kink = where(finite & (kink > _KINK * turn) & (kink * jnp.minimum(span_l, span_r) > noise), kink, 0.0)
    # A sharp kink, e^(-c|x - w|) with c·span large, bends each side as much as its slope
    # jumps (jump / bend = 2/(c·span)) and passes the test above. Its logarithm is a
    # tent, two straight lines: on log|f| (where f keeps its sign at the six nodes) each
    # side's quadratic is exact, and the slopes' jump stands out of their bends at any c.
    # Only a tent that peaks (the slope falls across b): a valley of log|f| is also
    # what a zero of f at b looks like ((x − ½)², which has no kink). It is flagged with
    # the slope jump of f itself, |f(b)| times that of log|f|. e^(-100|x - 0.5001|) on
    # [0, 1] came out 5e-5 off at epsrel 1e-6, `converged` (found by a probe).
    turn_g = jnp.maximum(jnp.abs(ql) * span_l, jnp.abs(qr) * span_r)
    both_g = jnp.concatenate([gl, gr], axis=1)
    steep_g = jnp.max(where(dx > 0, jnp.abs(jnp.diff(both_g, axis=1)) / where(dx > 0, dx, 1.0), 0.0), axis=(1, 2))
    noise_g = (1e3 * eps * (1 + jnp.max(jnp.abs(both_g), axis=(1, 2)) + steep_g * jnp.abs(b)))[:, None]
    rise = tl - tr  # > 0 where log|f| peaks at b
    tent = (one_sign & jnp.isfinite(rise) & (rise > _KINK * turn_g)
            & (rise * jnp.minimum(span_l, span_r) > noise_g))
    # (Capped below the largest float, as `_hidden_mass`: |f| ~ 1e300 times a steep rise.)
    sharp = jnp.minimum(jnp.exp(jnp.maximum(ul, ur)) * rise, jnp.finfo(rise.dtype).max * 1e-3)
    kink = jnp.maximum(kink, where(tent, sharp, 0.0))
    # A sharp kink on a background (a + e^(-c|x - w|)): log|f| is no tent there, and
    # ½ + e^(-300|x - 0.2501|) came out 6e-6 off at epsrel 1e-8, `converged`.
    # From the four nodes next to b on each side: the jumps j₁, j₂, j₃ of the one-sided
    # slopes (divided differences) of the pair nearest b, the next pair out and the
    # farthest. A smooth f's one-sided slopes converge to one f'(b), the jumps shrinking
    # toward b in proportion to the pairs' distances m (the f''' terms cancel between the
    # mirrored halves); this kink's grow toward it, like e^(-cm) (at m = 0.0152, 0.0480,
    # 0.1024 of a half): j₁ > j₂, and ln(j₂/j₃) = 1.66 ln(j₁/j₂) (the ratio of the gaps
    # between those distances), above 1.3 for c from 5 to 10 per half width on any
    # background, on most at 2 and 50 (sharper ones are the log test's, weaker ones the
    # first test's). A singular point in the band, whose slopes grow toward it like a
    # power m^-q, gives ln(m₂/m₃)/ln(m₁/m₂) = 0.66, up to 1.2 with a log factor
    # (|x − w|^α ln|x − w|, −0.95 <= α <= 1.5, w within the band; measured): it is left to
    # the extrapolation of the totals (taken for a kink, |x - ¼|^-½ cost 3,930
    # evaluations and ended `roundoff` instead of 441, and |x - ½|^0.3 with its
    # α-derivative 1,869 instead of 651). (Where that log factor's zero falls among the
    # nodes, α near 0.15, it can pass for a kink: evaluations, not a wrong result.)
    x4, f4 = near[4], near[5]
    x8 = jnp.concatenate([x4[:nsplit, 1:], lx, rx, x4[nsplit:2 * nsplit, :1]], axis=1)  # in order
    f8 = jnp.concatenate([f4[:nsplit, 1:], lf, rf, f4[nsplit:2 * nsplit, :1]], axis=1)
    dx8 = jnp.diff(x8, axis=1)[..., None]
    s8 = jnp.diff(f8, axis=1) / where(dx8 != 0, dx8, 1.0)  # (s8[:, 3] spans b: not used)
    jumps = jnp.abs(s8[:, 2::-1] - s8[:, 4:])  # the pairs nearest b first
    j1, j2, j3 = jumps[:, 0], jumps[:, 1], jumps[:, 2]
    j2 = where(j2 > 0, j2, jnp.nan)  # (no kink is read off a zero: every test below fails on NaN)
    tiny = jnp.finfo(j2.dtype).tiny
    exponential = jnp.log(j2 / jnp.maximum(j3, tiny)) > _KINK_EXP * jnp.log(j1 / j2)
    held = (finite & jnp.isfinite(j1) & (j1 > j2) & exponential & (j1 * jnp.minimum(span_l, span_r) > noise))
    kink = jnp.maximum(kink, where(held, j1, 0.0))
    jump = jnp.maximum(jump, peak)
    peaked = jnp.any(peak > 0, axis=1)
    return (jnp.concatenate([jump, jump, zeros]), jnp.concatenate([kink, kink, zeros]),
            jnp.concatenate([peaked, peaked, no]))


def _at_breakpoints(pend, nseg, first):
    """Which pending rows are evaluated at their lower end as well: in the first pass
    (`first`), the roots of the segments after the first, whose lower end is an interior
    breakpoint (rows 1 .. nseg - 1; see `_breakpoint_peaks`)."""
    rows = jnp.arange(pend["c0"].shape[0])
    return first & (rows >= 1) & (rows < nseg) & (pend["slot"] >= 0) & (pend["c1"] > pend["c0"])


def _breakpoint_peaks(near, edges, nseg, at_bp):
    """Flags (lower end, upper end; (n, k) each) of a narrow peak at an interior
    breakpoint, from the first pass: a peak there lies at the ends of two segments,
    where no node goes (`points=[0]` at e^(-(x/s)²) on [-1, 1] gave half the value for
    s = 1e-4, 0 for s = 1e-6, `converged`). f at the breakpoint (`near[2]` of the rows
    `at_bp`, see `_at_breakpoints`) is compared with the two roots' extrapolations to it
    as at a bisection point (`_shared_point`); only a peak is flagged (a jump or a kink at
    a breakpoint is what breakpoints are for). Only for nseg >= 2."""
    xs, fs, probed = near[0], near[1], near[2]
    zero = jnp.zeros((xs.shape[0],) + probed.shape[1:], probed.dtype)
    m = nseg - 1
    pair = (jnp.concatenate([xs[:m], xs[1:nseg]]), jnp.concatenate([fs[:m], fs[1:nseg]]))
    fb = where(at_bp[1:nseg, None], probed[1:nseg], jnp.nan)
    jump, _, peaked = _shared_point(pair, edges[1:nseg], m, fb, one_sided=True)
    flag = where(peaked[:, None], jump, 0.0)
    hi = zero.at[:m].set(flag[:m])  # the segment before each breakpoint: its upper end
    lo = zero.at[1:nseg].set(flag[m:])  # the one after it: its lower end
    return lo, hi


def _at_the_end(near, probe, at_hi, flag):
    """Whether f at `probe`, the float next to a flagged end of each piece (inside it; f
    there is `near[2]`), continues the quadratic through the piece's three nodes next to
    that end (at_hi: the upper end, else the lower one), to well within the flagged jump
    `flag` (per component): then the jump or kink is at the end itself, or within one ulp
    of it (a breakpoint on the bisection grid, which the pieces on either side integrate
    exactly), and the flag is dropped. A jump inside the band puts that float on the
    other branch; a kink puts it off by slope jump × distance, which bounds what the
    rest of the band can still hide (slope jump × distance²/2)."""
    xs, fs, probed = near[:3]
    eps = jnp.finfo(xs.dtype).eps
    hx = where(at_hi[:, None], xs[:, 3:], xs[:, 2::-1])  # the end's three nodes, the nearest last
    hf = where(at_hi[:, None, None], fs[:, 3:], fs[:, 2::-1])
    value, _, curv = _one_sided(hx, hf, probe)
    span = jnp.abs(probe - hx[:, 0])[:, None]
    noise = (1e3 * eps * jnp.max(jnp.abs(hf), axis=(1, 2)))[:, None]
    off = jnp.abs(probed - value)
    return jnp.all(off <= jnp.maximum(jnp.minimum(jnp.abs(curv) * span**2 / 32, 1e-3 * flag), noise), axis=1)


def _end_band(pieces, use):
    """The node-free band at each end of the pieces of a pool or pending view (plain
    pieces of a finite range where `use`; 0 elsewhere), as a column (n, 1)."""
    plain = use & pieces["plain"] & jnp.isfinite(pieces["c0"]) & jnp.isfinite(pieces["c1"])
    return where(plain, _BAND * (pieces["c1"] - pieces["c0"]), 0.0)[:, None]


def _dyadic_split(c0, c1, e0, e1):
    """Where to bisect a plain piece [c0, c1] of a finite segment [e0, e1]: at the point
    of the coarsest dyadic grid of the segment strictly inside the piece. That is the
    midpoint for the pieces plain bisection makes; a piece handed back from a
    double-exponential map (arbitrary ends) is split back onto the grid, so that a
    singular point on it (a breakpoint nobody passed, at 1/4, 3/8, ...) becomes a piece
    end again instead of lying at an arbitrary place inside every level's piece."""
    mid = (c0 + c1) / 2
    h = where(jnp.isfinite(e1 - e0) & (e1 > e0), e1 - e0, 1.0)
    u0, u1 = (c0 - e0) / h, (c1 - e0) / h
    width = jnp.maximum(u1 - u0, jnp.finfo(c0.dtype).tiny)
    step = floor_power_of_two(width)  # 2^-j <= width, exact
    m = (jnp.floor(u0 / step) + 1) * step
    m = where(m < u1, m, (jnp.floor(u0 / (step / 2)) + 1) * (step / 2))
    x = e0 + h * m
    inside = jnp.isfinite(x) & (x > c0) & (x < c1)
    # The midpoint itself (plain bisection's pieces): keep its own rounding.
    same = jnp.abs(x - mid) <= 1e-6 * (c1 - c0)
    return where(inside & ~same, x, mid)


def _nonfinite(total, errsum):
    """Whether the sum over the pieces is beyond repair. An infinite error with a finite
    total is not: it comes from a piece with one node on an isolated singular point
    (see `_gauss_kronrod`), which bisection moves off. The loop and the batching rule's
    first pass (`_batch.py`) both decide with this."""
    return ~jnp.all(jnp.isfinite(total)) | jnp.any(jnp.isnan(errsum))


def unseen(errsum, floorsum):
    """Whether every node so far gave f = 0: every piece's error and rounding floor
    are exactly 0 (the floor is 50·eps times the piece's integral of |f| at its nodes,
    see `_gauss_kronrod`). A sum of exactly 0 with an error of exactly 0 is then no
    evidence: f may be nonzero between the nodes. The loop and the batching rule's
    first pass (`_batch.py`) both decide with this."""
    return jnp.all(floorsum == 0) & jnp.all(errsum == 0)


def _max_inside(v):
    """Whether the first largest entry of each row of `v` (n, m) is neither its first
    nor its last one, as `0 < argmax < m - 1` (with argmax's rule that the first NaN is
    the largest), from plain reductions (argmax is a slower paired reduction on the CPU)."""
    nan = jnp.isnan(v)
    inside = jnp.max(v[:, 1:-1], axis=1)
    plain = (inside > v[:, 0]) & (inside >= v[:, -1])
    nan_inside = ~nan[:, 0] & jnp.any(nan[:, 1:-1], axis=1)
    return where(jnp.any(nan, axis=1), nan_inside, plain)


def _argmax(v):
    """`jnp.argmax` of a vector (the first largest entry; the first NaN if any) from
    two plain reductions, which the CPU runs faster than argmax's paired one."""
    i = jnp.arange(v.shape[0], dtype=jnp.int32)
    return long_min(where((v == long_max(v)) | jnp.isnan(v), i, v.shape[0]))


def _top(score, k):
    """`lax.top_k(score, k)` for a small static `k`, as k `_argmax` passes (the same
    order: the lower index first among equal values). Unlike top_k (a sort), those are
    reductions, which the SPMD partitioner keeps on each device when the loop runs on a
    batch sharded across devices (it gathers top_k's operand)."""
    vals, idx = [], []
    for _ in range(k):
        i = _argmax(score)
        vals.append(score[i])
        idx.append(i)
        score = score.at[i].set(-jnp.inf)
    return jnp.stack(vals), jnp.stack(idx).astype(jnp.int32)


# The loop's records are packed into one float and one integer array each (booleans as
# 0/1), so that a pass writes the pool with two scatters and reads the chosen pieces
# with two gathers, and the sums over the pool are one reduction: on the CPU every
# separate array operation in the loop body is a separate kernel, and per-kernel
# overhead, not arithmetic, dominated a pass (and its compile time) with one array per
# field. Columns of the pool: floats c0, c1, slo, shi, then val, err, floor, tail, jlo,
# jhi, fc, step (1 where that component shows a step or a kink; see `_gauss_kronrod`)
# (K each); integers seg, depth, plain, sing, inner, active, fresh (0, or which end, 1
# lower, 2 upper, holds a flag not yet checked by a probe; see `body`), peak (a flag is
# a peak's). Pending pieces: floats c0, c1, slo, shi, perr, then jlo, jhi,
# pfc (K each); integers slot, seg, depth, plain, paired, recheck (a piece evaluated
# again only for the probe at its flagged end), peak.
_POOL_INT = ("seg", "depth", "plain", "sing", "inner", "active", "fresh", "peak")
_PEND_FLOAT = ("c0", "c1", "slo", "shi", "perr")
_PEND_INT = ("slot", "seg", "depth", "plain", "paired", "recheck", "peak")
_BOOL = ("plain", "sing", "inner", "active", "paired", "recheck", "peak")


def _columns(fl, it, float_names, int_names):
    out = {name: fl[..., j] for j, name in enumerate(float_names)}
    out.update({name: (it[..., j] != 0) if name in _BOOL else it[..., j] for j, name in enumerate(int_names)})
    return out


_POOL_K = ("val", "err", "floor", "tail", "jlo", "jhi", "fc", "step")


def _pool_view(pool, k):
    """The pool `(floats, ints)` as a dict of columns (val, err, floor, tail and the
    flags jlo, jhi of a jump at either end (see `body`): (n, k) each)."""
    fl, it = pool
    view = _columns(fl, it, ("c0", "c1", "slo", "shi"), _POOL_INT)
    for j, name in enumerate(_POOL_K):
        view[name] = fl[..., 4 + j * k : 4 + (j + 1) * k]
    return view


def _pool_rows(rec):
    """Pack a dict of pool fields (as `_pool_view` returns them) into rows."""
    fl = jnp.concatenate(
        [jnp.stack([rec[n] for n in ("c0", "c1", "slo", "shi")], axis=-1)] + [rec[n] for n in _POOL_K], axis=-1)
    return fl, jnp.stack([rec[n].astype(jnp.int32) for n in _POOL_INT], axis=-1)


def pending_view(pend):
    """The pending pieces `(floats, ints)` as a dict of columns (the flags jlo, jhi
    inherited from the parent and pfc, f at the parent's centre node where the piece is a
    half of a plain bisection at that node, else NaN: (n, k) each)."""
    fl, it = pend
    view = _columns(fl, it, _PEND_FLOAT, _PEND_INT)
    k = (fl.shape[-1] - len(_PEND_FLOAT)) // 3
    j = len(_PEND_FLOAT)
    view["jlo"], view["jhi"], view["pfc"] = fl[..., j : j + k], fl[..., j + k : j + 2 * k], fl[..., j + 2 * k :]
    return view


def _pend_rows(rec, dtype):
    n = jnp.shape(rec["jlo"])[0]
    scalars = jnp.stack([jnp.broadcast_to(jnp.asarray(rec[name], dtype), (n,)) for name in _PEND_FLOAT], axis=-1)
    blocks = [jnp.broadcast_to(jnp.asarray(rec[name], dtype), jnp.shape(rec["jlo"])) for name in ("jlo", "jhi", "pfc")]
    return (jnp.concatenate([scalars] + blocks, axis=-1),
            jnp.stack([jnp.broadcast_to(jnp.asarray(rec[name]), (n,)).astype(jnp.int32) for name in _PEND_INT], axis=-1))


# The derivative components that a derivative rule appends to the user's integrand (all
# but the first `exact`) have tolerances relative to max(|Σ values|, CANCELLATION_FLOOR ·
# Σ |values|) over the pieces (boxes): one that cancels to (nearly) zero is judged on a
# thousandth of its mass. A derivative that is zero by symmetry (∂/∂p₁ of ∫ exp(−‖x − p‖²)
# over [−1, 1]² at p₁ = 0) had a tolerance of epsrel·0: `cubature`'s joint run of the
# value and its gradient ended `roundoff` after 64,311 evaluations where 11,067 now
# converge, and `quad`'s d/dp of ∫₋₁¹ (e^(−x²) + p x) dx at epsabs = 0 ended `roundoff`
# (with `throw=True`, `jax.grad` raised) where the value converged (outside probes). The
# user's own components keep epsrel·|∫f|: a value that cancels is the user's number,
# whose relative accuracy `converged` promises (a review found a value δ = 1e-7 46 % off,
# `converged`, with the floor applied to it).
CANCELLATION_FLOOR = 1e-3


class Tolerances:
    """`[epsabs, epsrel]` as an array that rides in the loop's `args` (a pytree node of
    its own, so that `tolerances_in` finds it): tolerances that are inputs of the
    compiled program rather than constants of it, so that `quad` called again with a new
    `epsabs` or `epsrel` reuses its program. The integrand ignores it; derivative rules
    see a leaf with a zero tangent; under `vmap` it is batched like any argument."""

    def __init__(self, value, exact=None):
        self.value = value
        # The number of leading components of the integrand that are the user's own
        # (static); the components after them are derivatives appended by a derivative
        # rule (`with_exact`), judged on `CANCELLATION_FLOOR` of their mass where they
        # cancel. None: every component is the user's.
        self.exact = exact

    @classmethod
    def of(cls, epsabs, epsrel, dtype):
        """The two numbers (Python or traced) as one array of the integrand's value dtype
        (the dtype they took as constants of the program)."""
        return cls(jnp.stack([jnp.asarray(epsabs, dtype), jnp.asarray(epsrel, dtype)]))

    def tree_flatten(self):
        return (self.value,), self.exact

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, exact=aux)


jax.tree_util.register_pytree_node_class(Tolerances)


def tolerance_leaves(args):
    """The `Tolerances` in `args` (a list), for a function that needs no more of them."""
    return [t for t in jax.tree_util.tree_leaves(args, is_leaf=lambda t: isinstance(t, Tolerances))
            if isinstance(t, Tolerances)]


def with_exact(args, k):
    """`args` with its `Tolerances` marking the first `k` components of the integrand as
    the user's own and the rest as derivatives (see `CANCELLATION_FLOOR`); an earlier
    mark of fewer components is kept (a derivative rule nested in another). Unchanged
    where `args` holds no `Tolerances` (static tolerances)."""
    def mark(t):
        if not isinstance(t, Tolerances):
            return t
        return Tolerances(t.value, fewer(t.exact, k))

    return jax.tree_util.tree_map(mark, args, is_leaf=lambda t: isinstance(t, Tolerances))


def fewer(*counts):
    """The smallest of the counts of the user's components that are not None (None if
    all are): nested derivative rules keep the innermost mark."""
    given = [c for c in counts if c is not None]
    return min(given) if given else None


def options_with_exact(options, k):
    """`options` (pairs) with `exact`, the number of leading components that are the
    user's own (judged on epsrel·|∫|; see `CANCELLATION_FLOOR`), at most `k`: a
    derivative rule's joint integrand [f, ∂f/∂θ] has k of f's, and at higher orders the
    innermost count stands. For loops whose tolerances are static options (`cubature`,
    the levels of `nquad`, a Fourier integral over a finite range); `with_exact` marks
    traced ones."""
    opts = dict(options)
    opts["exact"] = fewer(k, opts.get("exact"))
    return tuple(opts.items())


def exact_in(args):
    """The `exact` of the one `Tolerances` in `args` (None if there is none, or it has no mark)."""
    found = tolerance_leaves(args)
    return found[0].exact if len(found) == 1 else None


def scale_floor(k, mass, exact):
    """The floor under the size each of `k` components' relative tolerance applies to: 0
    for the user's own components (all if `exact` is None: the number 0.0), and
    CANCELLATION_FLOOR·mass for the derivative components after the first `exact`.
    `mass()` gives Σ|·| of the components over the pieces; it is formed only where a
    derivative needs it."""
    if exact is None or exact >= k:
        return 0.0
    m = mass()
    return where(_derivative_components(k, exact, jnp.ndim(m)), CANCELLATION_FLOOR * m, 0.0)


def _derivative_components(k, exact, ndim):
    """Whether each of `k` components (along the first of `ndim` axes) is a derivative
    component, one after the first `exact`."""
    return (jnp.arange(k) >= exact).reshape((k,) + (1,) * (ndim - 1))


def massless(errsum, floorsum, mass, tol, exact):
    """The derivative components (after the first `exact`) that have no mass yet to be
    judged on: their pieces sum to 0 within their error (an odd ∂f/∂θ on a symmetric
    range: ∫₋₁¹ x dx, 2e-17 ± 1e-14), or are at their rounding floor short of the
    tolerance (∂/∂p of ∫₀^2π e^(p sin x) dx at p = 1e-5, mass = |∫|). A loop bisects its
    first pieces once where any is, which gives the mass its parts (`quad`'s loop, and
    `_fourier_moments.cycle_integral`); per component, the shape of `errsum`."""
    short = (mass <= errsum) | (errsum - floorsum <= tol)
    return _derivative_components(errsum.shape[0], exact, errsum.ndim) & short & (errsum > tol)


def tolerance_scale(total, mass, exact):
    """The size a component's relative tolerance applies to: max(|total|, `scale_floor`)."""
    return jnp.maximum(jnp.abs(total), scale_floor(total.shape[0], mass, exact))


def tolerances_in(args, epsabs, epsrel):
    """`(epsabs, epsrel)`: the static numbers given, or, where they are None, the traced
    ones of the one `Tolerances` in `args`."""
    if epsabs is not None:
        return epsabs, epsrel
    found = tolerance_leaves(args)
    if len(found) != 1:  # pragma: no cover - a bug in a caller
        raise AssertionError(f"the loop's args hold {len(found)} Tolerances; expected one")
    return found[0].value[0], found[0].value[1]


def adaptive_quad(fvec, edges, args, *, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """Integrate `fvec(x, args)` (shape (out_size,)) over the segments between `edges`.
    `epsabs` and `epsrel` are numbers, or None for the traced ones that `args` carries
    (`Tolerances`). `exact`: the number of leading components that are the user's own,
    for static tolerances (`options_with_exact`; traced ones carry their own mark).

    `edges` is sorted (-inf/inf allowed at the ends). Returns (value, err, neval, code):
    value and err of shape (out_size,), neval and the integer status code as scalars.

    An interval is a record: `seg` (its segment), `c0, c1` (the x-range its map
    covers), `plain` (affine map on [c0, c1], else double-exponential), `slo, shi` (its
    part [slo, shi] of the map's variable σ ∈ [0, 1]) and `depth` (bisections so far).
    """
    dtype = edges.dtype
    nseg = edges.shape[0] - 1
    init, cond, body, finish = loop_parts(
        fvec, nseg, dtype, out_size=out_size, limit=limit, epsabs=epsabs, epsrel=epsrel, nsplit=nsplit, exact=exact
    )
    return finish(while_loop(cond, body, init(edges, args)))


def loop_parts(fvec, nseg, dtype, *, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """(init, cond, body, finish) of the adaptive loop. The state carries its own edges
    and args, so that states of different integrals can be stacked, gathered and resumed
    (see `_batch.py`).

    A pass is two compiled halves with the integrand between them: `pass_nodes` (the
    points at which the pass needs f) and `pass_update` (everything after f: the rule,
    the pool, the extrapolation, the status). Both are `jax.jit` functions of the loop's
    configuration only (`_loop_core`, cached), so a process traces them once per
    configuration, not once per integrand: tracing the pass took ~0.3 s of every program
    that holds the loop (65 traces, 21 s of tests/test_quad.py's 151 s). Compiled, the
    halves are inlined into the loop's body, and the second reads what the first
    computed before f (see `_gauss_kronrod_steps`): the results are the same bits, and
    the program is within a kernel and 0.6 % of its fused instructions of the loop
    traced as one function (XLA orders and fuses the inlined calls slightly differently).
    """
    init, cond, pass_nodes, pass_update, finish = _loop_core(
        nseg, jnp.dtype(dtype), out_size, limit, epsabs, epsrel, nsplit, exact)

    def body(state):
        edges, args, rest = state[0], state[1], state[2:]
        # (Only the tolerances of `args` enter the pass; static ones are the core's.)
        tols = tolerance_leaves(args) if epsabs is None else ()
        x, kept = pass_nodes(edges, rest)
        return (edges, args) + tuple(pass_update(edges, rest, tols, evaluate(fvec, args, x), kept))

    return init, cond, body, finish


@functools.lru_cache(maxsize=128)
def _loop_core(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """(init, cond, pass_nodes, pass_update, finish) of the loop (see `loop_parts`;
    `exact`: see `adaptive_quad`)."""
    static_exact = exact
    size = max(limit, nseg + 1) + nsplit  # pool slots
    npend = max(2 * nsplit, nseg)
    k = out_size
    eps = jnp.finfo(dtype).eps
    tiny = jnp.finfo(dtype).tiny

    def init(edges, args):
        pool = (jnp.zeros((size, 4 + len(_POOL_K) * k), dtype), jnp.zeros((size, len(_POOL_INT)), jnp.int32))
        slot = np.full(npend, -1, np.int32)
        slot[:nseg] = np.arange(nseg)
        pseg = np.minimum(np.arange(npend), nseg - 1).astype(np.int32)
        # Roots: one plain rule per segment (a double-exponential one if it is infinite).
        pend = _pend_rows(dict(
            slot=jnp.asarray(slot),
            seg=jnp.asarray(pseg),
            c0=edges[pseg],
            c1=edges[pseg + 1],
            slo=jnp.zeros(npend, dtype),
            shi=jnp.ones(npend, dtype),
            plain=jnp.ones(npend, bool),
            depth=jnp.zeros(npend, jnp.int32),
            paired=jnp.zeros(npend, bool),
            recheck=jnp.zeros(npend, bool),
            peak=jnp.zeros(npend, bool),
            perr=jnp.zeros(npend, dtype),
            jlo=jnp.zeros((npend, k), dtype),
            jhi=jnp.zeros((npend, k), dtype),
            pfc=jnp.nan,
        ), dtype)
        zero_i = jnp.zeros((), jnp.int32)
        running = jnp.asarray(_status.RUNNING, jnp.int32)
        ext = dict(
            seq=jnp.zeros((_NSEQ, k), dtype),
            nseq=zero_i,
            seeded=jnp.zeros((), bool),
            level=zero_i,
            hist=jnp.zeros((_NHIST, k), dtype),
            nhist=zero_i,
            val=jnp.zeros(k, dtype),
            err=jnp.full(k, jnp.inf, dtype),
            use=jnp.zeros(k, bool),
            stale=zero_i,
            scatter=jnp.zeros(k, dtype),
            regular=jnp.zeros(k, bool),
            stuck=jnp.zeros((), bool),
            growth=zero_i,
            grown=jnp.zeros((), bool),
        )
        return (edges, args, pool, pend, jnp.asarray(nseg, jnp.int32), zero_i, ext, running)

    def finish(state):
        pool, neval, ext, code = _pool_view(state[2], k), state[5], state[6], state[7]
        act = pool["active"][:, None]
        value = long_sum(where(act, pool["val"], 0.0))
        err = long_sum(where(act, pool["err"], 0.0))
        value = where(ext["use"], ext["val"], value)
        err = where(ext["use"], ext["err"], err)
        # A range truncated where the integrand was not negligible (`divergent`, see
        # `tail`) misses that tail: ∫₁^∞ x^-1.5 dx stops where x ≈ 3.5e19, 3.4e-10 short,
        # and reported an error of 2e-14. The tail's size is added to the error.
        tail = long_sum(where(act, pool["tail"], 0.0))
        err = where(code == _status.DIVERGENT, err + tail, err)
        return value, err, neval, code

    def cond(state):
        return state[-1] == _status.RUNNING

    def extrapolate(ext, pool, total, errsum, tol, dmax, large, rest, reducible, record, on_grid, flagged, tols):
        """QAGS's extrapolation: record `total` while the error outside the deepest
        levels is small, and extrapolate the recorded totals (Wynn's ε). Returns the new
        record and whether the extrapolated value is accepted (converged).

        `dmax` is the deepest level of bisection, `large` marks the active pieces outside
        the two deepest levels (around the singular point, see `body`), `rest` is their
        error and `reducible` the part of it above their rounding floors; a piece of the
        two deepest levels with a step between neighbouring nodes (`_gauss_kronrod`) marks
        a jump there (see `_record` for what that rules out). Everything after
        the test for a new record runs in a `lax.cond`, only on the passes that record
        (a few per integral): an unbatched pass skips its ~40 kernels."""
        # QAGS's test: the reducible error outside the two deepest levels of bisection is
        # within half the tolerance, and a new level has been reached since the last record.
        record = record & jnp.all(reducible <= tol / 2) & (dmax > ext["level"])

        def skip(ext):
            return dict(ext, use=jnp.zeros(k, bool)), jnp.zeros((), bool)

        stepped = long_any((pool["active"] & ~large)[:, None] & (pool["step"] > 0))  # per component
        return lax.cond(
            record, functools.partial(_record, total, tol, dmax, rest + flagged, on_grid, stepped, errsum, tols), skip, ext
        )

    def _record(total, tol, dmax, rest, on_grid, stepped, errsum, tols, ext):
        """`extrapolate` on a pass that records `total`."""
        shifted = jnp.concatenate([ext["seq"][1:], total[None]], axis=0)
        first = jnp.broadcast_to(total, ext["seq"].shape)  # leading copies are invalid in ε
        seq = where((ext["nseq"] == 0) & ~ext["seeded"], first, shifted)
        nseq = ext["nseq"] + 1
        est, spread, (q_est, q_spread, q_rounding) = wynn_epsilon(
            seq, nseq + ext["seeded"].astype(nseq.dtype), diagonal=True)
        d = jnp.abs(jnp.diff(seq[-5:], axis=0))
        # Components of a vector integrand whose totals have stopped moving (the last four
        # steps below 1e-3 of their tolerance: a smooth component, converged) while
        # another's still do: they pass every test below on their plain total and error,
        # instead of failing the ratio tests on steps of rounding size. [cos x,
        # |x − 1/3|^-½] ended on roundoff after 1,995 evaluations with the singular
        # component's error 1e-7, where |x − 1/3|^-½ alone converges in 231 (found by an
        # outside probe). Where every component is still (a scalar integrand, or the
        # totals stalled at a jump), nothing changes.
        quiet = (nseq >= 5) & jnp.all(d <= 1e-3 * tol, axis=0)
        # So does a component that shows a step or a kink (no extrapolation of its own,
        # see `rough`) once its plain sum meets its tolerance: [|x − 0.3|^-0.7,
        # |x − 0.3|·cos x] waited for the kink's totals to stop moving, while rounding in
        # the deepest levels spoiled the singular component's extrapolation: `roundoff`
        # after 2,667 evaluations, now converged after 1,239 (an outside review).
        quiet = quiet | (stepped & (errsum <= tol))
        settled = quiet & ~jnp.all(quiet)
        est, spread = where(settled, total, est), where(settled, 0.0, spread)
        q_est, q_spread = where(settled, total, q_est), where(settled, 0.0, q_spread)
        valid = (nseq >= _MIN_SEQ) & jnp.all(jnp.isfinite(est)) & jnp.all(jnp.isfinite(q_est))
        # The whole table's value (`wynn_epsilon`) is as uncertain as its distance to the
        # last `_NHIST` extrapolations (QUADPACK's QELG), and at least the spread of ε's
        # column.
        def drift_of(x):  # the distance to the last `_NHIST` extrapolations
            return where(ext["nhist"] >= _NHIST, jnp.sum(jnp.abs(x - ext["hist"]), axis=0), jnp.inf)

        def floor_of(x):
            return rest + 4 * eps * jnp.abs(x)

        drift, floor = drift_of(est), floor_of(est)
        # Except where the column's last three entries agree to rounding (within 2 eps of
        # the value): ε has converged, and QELG returns that entry at once, with their
        # spread as its error and no comparison with earlier values. At |x − 0.3|^0.5 the
        # column agreed so at the level where QAGS stopped (399 evaluations), the last
        # three extrapolations only two levels later (483); eˣ·log|x − 1/3|: 483, was 525.
        # (From five records on, as the ratio tests below. Not where a piece of the two
        # deepest levels shows a jump (see `rough`): along a run of binary digits its
        # totals converge to rounding too, at 0.18735655901939785 to a value 4e-9 off,
        # which the comparison with earlier values still rejected.)
        at_rounding = (nseq >= 5) & ~stepped & (spread <= 2 * eps * jnp.abs(est))
        est_err = where(at_rounding, spread, jnp.maximum(spread, drift)) + floor
        # QELG's value from the same table (its choice along the newest diagonal, see
        # `wynn_epsilon`), with QAGS's error for it: its distance to the last `_NHIST`
        # extrapolations (not the spread along the diagonal), or, where three entries of
        # a column agree to rounding, their spread. It is taken where its error is the
        # smaller. Where a run of periodic binary digits of the singular point ends, the
        # best column's last entries mix the levels before and after it: on ∫₀¹ log|x − c|
        # dx at c = 1/3 to 18 binary places and the digits of 0.7316 beyond (the totals
        # QAGS's, level for level), its values after 9 to 14 levels were 3e-10 to 4e-9
        # off and QELG's 1e-14 to 1e-12 (`bench/interior.py`, runs of periodic digits;
        # with 0.1234 beyond: 1,876 evaluations, now 483 as QAGS). On a geometric
        # sequence (a singular point on the grid) the best column is the better one:
        # |x − ¼|^-0.8 converges after 525 evaluations with it, after 1,029 with QELG's
        # alone (`roundoff`).
        q_rounding = (nseq >= 5) & ~stepped & q_rounding
        q_err = where(q_rounding, q_spread, drift_of(q_est)) + floor_of(q_est)
        use_q = q_err < est_err
        est, est_err = where(use_q, q_est, est), where(use_q, q_err, est_err)
        floor = floor_of(est)
        usable = valid & jnp.isfinite(est_err)  # per component
        # A geometric sequence (successive differences in one ratio to 2 %: a singular
        # point on the bisection grid, where every level repeats the previous one scaled)
        # is extrapolated exactly, up to the noise the refinement of the other pieces
        # puts into the totals; its error is taken as twice the step from the previous
        # extrapolation. (That noise, amplified by 1/(1 - ratio)² in ε, keeps the QELG
        # test above the tolerance at a strong singularity such as |x - 1/3|^-0.8.)
        ratios = d[1:] / where(d[:-1] > 0, d[:-1], 1.0)
        rmax, rmin = jnp.max(ratios, axis=0), jnp.min(ratios, axis=0)
        geometric = (nseq >= 5) & jnp.all(settled | ((rmin > 0.02) & (rmax < 0.98) & (rmax <= _GEOMETRIC * rmin)))
        step = where(ext["nhist"] >= 1, jnp.abs(est - ext["hist"][-1]), jnp.inf)
        step = where(settled, 0.0, step)
        exact = valid & geometric & on_grid & jnp.all(2 * step + floor <= tol)
        # Off the grid, the totals approach their limit through the binary digits of the
        # point, and a run of periodic digits makes them look geometric for a few levels
        # (a jump at 0.8541 = 0.11011010101...₂: ε returns the integral with the jump at
        # 41/48). A singular point whose totals converge more slowly than halving per
        # level (ratio 2^-(1+α) > ½ for α < 0), where that term dominates, is
        # extrapolated there, as QAGS does, unless the deepest pieces show a jump or a kink
        # in that component (`stepped`, per component: a component that has settled does
        # not hold the others back): at jumps whose digits repeat for 17 to 33 places and
        # then stop, the ratios looked like such a point's, and ε's value was accepted
        # 1.7e-6 off at epsrel 1e-12 (`bench/quad_random.py --periodic`);
        rate = jnp.exp(jnp.mean(jnp.log(jnp.maximum(ratios, jnp.finfo(dtype).tiny)), axis=0))
        slow = (nseq >= 5) & jnp.all(settled | (~stepped & (rate > _SLOW)))
        # ... and so is a milder one, unless the deepest pieces show a jump. A jump is what
        # makes such a run misleading: the totals depend on where the jump is only through
        # which nodes lie on either side of it, i.e. through its binary digits alone, and
        # beyond the run ε has nothing to go on. At a point where f or f' is singular they
        # depend on it smoothly (f at every node near it moves with it): measured on
        # ∫|x − c|^0.5 and ∫log|x − c| with c = 1/3 to k bits and other digits beyond
        # (k = 10–30), scipy's QAGS is never wrong, while for a jump it reports 15 of 18
        # converged up to 1.6e-5 off. So a run is also extrapolated where no piece of the
        # two deepest levels shows a step or a kink between neighbouring nodes and each
        # difference of the totals keeps more than a kink's 1/4 of the one before (a kink's
        # totals also depend on its digits, and it converges fast without ε; a kink at
        # 1/3 + 1.2e-5 whose differences kept more than that was 6.9e-10 off, `converged`).
        rough = (nseq >= 5) & jnp.all(settled | (~stepped & (rate > _ROUGH)))
        trusted = slow | rough
        # A geometric run also fixes the limit by Aitken's Δ² on any three successive
        # totals, S + d·r/(1 - r) (d the last difference, r its ratio to the one before);
        # it is taken with QELG's error on the last three such values (the distances of
        # the last to the two before), which needs only the last five totals. ε's QELG
        # error above also compares with estimates from before the run began (at
        # |x - 1/3|^-0.5 the first levels recorded are not yet self-similar), which costs
        # two or three more levels for nothing.
        sd = jnp.diff(seq[-5:], axis=0)
        r_s = sd[1:] / where(sd[:-1] != 0, sd[:-1], 1.0)
        ait = seq[-3:] + sd[1:] * r_s / where(r_s != 1, 1 - r_s, 1.0)
        ait = where(settled, total, ait)
        ait_err = jnp.abs(ait[2] - ait[1]) + jnp.abs(ait[2] - ait[0]) + floor
        # The milder singular points' extrapolation is trusted to half the tolerance only:
        # with the whole of it ∫₀¹ log|x − 0.7436| dx ended 1.0e-9 off at epsrel 1e-9
        # (estimate 6.6e-10; bench/quad_random.py, seed 6).
        margin = where(slow | on_grid, 1.0, 0.5)
        aitken = valid & geometric & (on_grid | trusted) & jnp.all(ait_err <= margin * tol) & ~exact
        done = (jnp.all(usable) & (trusted | on_grid) & jnp.all(est_err <= margin * tol)) | exact | aitken
        # Whatever the extrapolation says, the limit lies within the plain sum's error
        # of the plain sum: the totals approaching a jump at a point with irregular
        # binary digits (0.18735655901939785) can look converged to a value 4e-8 away.
        # Except where the plain sum is still far from converging on slowly converging
        # totals (its error above 1e-3 of the value): at |x − c|^α with α near −1 each
        # level closes only 1 − 2^-(1+α) of the gap (7 % at α = −0.9), and the unresolved
        # piece's error does not cover it: after ten levels at c = 0.3 the plain sum was
        # 5.9 short of 18.5 with an error of 2.8, and the loop ended on roundoff after
        # 2,751 evaluations where QAGS converged in 609. (At the jump above, the plain sum's
        # error was 8e-9 of a value of 4.7.)
        value = where(aitken, ait[-1], est)
        far = slow & jnp.all(settled | (errsum > 1e-3 * jnp.abs(value)))
        done = done & (jnp.all(jnp.abs(value - total) <= errsum) | far)
        # The tolerance of an extrapolated value is relative to that value, not to the
        # plain sum: at a non-integrable point whose totals alternate in sign and grow
        # ((x − 0.3)^-3, ε's limit of them its finite part 4.5) the tolerance grew with
        # the totals and an error of 33 was accepted as converged.
        value_err = where(exact, 2 * step + floor, where(aitken, ait_err, est_err))
        value_err = where(settled, jnp.maximum(value_err, errsum), value_err)
        done = done & jnp.all(value_err <= jnp.maximum(tols[0], tols[1] * jnp.maximum(jnp.abs(value), tols[2])))
        # A limit never lies behind a monotone sequence, but an "antilimit" does: ε also
        # extrapolates totals whose steps grow (a non-integrable point, |x − ½|^-1.5:
        # every level adds 2^½ times the last step) and put the value −5.66 behind
        # totals rising past 900, converged. Where the last three steps have one sign,
        # a value further than the tolerance behind the last total, against that sign,
        # is not accepted. (Tests on the size of the steps fail off the grid: at
        # 0.3 = 0.0100110011...₂ the steps of |x − 0.3|^-1.5 shrink at every fourth level,
        # those of the convergent |x − 0.3|^-0.8 grow at some.)
        steps = sd[1:]  # the last three signed steps
        monotone = jnp.all(steps > 0, axis=0) | jnp.all(steps < 0, axis=0)
        behind = (nseq >= 5) & jnp.any(monotone & ((value - seq[-1]) * steps[-1] < 0) & (jnp.abs(value - seq[-1]) > tol))
        done = done & ~behind
        # Nor does the limit of converging totals lie beyond the total before last, against
        # the last step (beyond S_(n−1) seen from S_n): for steps shrinking geometrically it
        # lies beyond S_n (ratio r > 0) or between the two (r < 0). Totals that stalled for
        # a few levels and then moved on made extrapolations agree with one another at the
        # stalled value: |x − c|^0.059·e^(2.06x) (c = 0.27295873797423853, epsrel 1e-6)
        # was accepted 1.6e-5 off with an error of 2.7e-6, the last step 4.7e-5 away
        # from it (`bench/quad_random.py`, seed 10).
        last = seq[-1] - seq[-2]
        beyond = (nseq >= 2) & ~settled & ((value - seq[-1]) * last < 0) & (jnp.abs(value - seq[-1]) > jnp.abs(last))
        done = done & ~jnp.any(beyond)
        # Records in a row with the extrapolation behind the totals: _GROWN of them mark
        # a divergent integral (at |x − ½|^-1.2 forty levels did so before rounding at the
        # point broke the pattern).
        growth = where(behind, ext["growth"] + 1, 0).astype(ext["growth"].dtype)
        # The candidate returned at a stop short of the tolerance: the extrapolation with
        # the smallest error estimate so far.
        # Each component keeps its own best: a component whose integral diverges (the
        # derivative in c of ∫|x − c|^-0.5, integrated jointly with the value and the
        # derivative in α) has errors that only grow, and a best taken over all components
        # at once stayed at an early level where the derivative in α was 8e-4 off.
        better = usable & (est_err < ext["err"])
        # (Read by several fields of the new record: computed once; `computed_once`.)
        value, value_err, est, done, aitken, better, exact, valid = (
            x[0] for x in computed_once(value[None], value_err[None], est[None], done[None], aitken[None],
                                        better[None], exact[None], valid[None]))
        # Records since the last improvement (QAGS's ktmin): after more than _STALE, while
        # the extrapolation's error is far below the plain sum's and the plain sum is far
        # from converging (errors above 1e-3 of the value: a strong singular point, not a
        # jump, whose plain sum converges by itself), more levels only add rounding noise
        # to the totals, and the loop stops on roundoff (QAGS's ier = 5): |x - c|^-0.95 at
        # a bisection point and epsrel 1e-12 took ~3,800 evaluations for nothing (QAGS
        # ~1,400 to the same flag).
        stale = where(jnp.any(better), 0, ext["stale"] + valid.astype(jnp.int32)).astype(ext["stale"].dtype)
        new_val = where(aitken | better | done, value, ext["val"])
        # How far the extrapolations made since the best one lie from it: those records
        # did not improve on it, and their spread around it is the error a stop on
        # `stuck` reports (see `steps`).
        scatter = where(valid, jnp.maximum(jnp.abs(est - new_val), where(better, 0.0, ext["scatter"])), ext["scatter"])
        new_err = where(exact | aitken | better | done, value_err, ext["err"])
        new = dict(
            seq=seq,
            nseq=nseq,
            seeded=ext["seeded"],
            level=dmax,
            hist=where(valid, jnp.concatenate([ext["hist"][1:], est[None]], axis=0), ext["hist"]),
            nhist=ext["nhist"] + valid.astype(jnp.int32),
            val=new_val,
            err=new_err,
            use=jnp.broadcast_to(done, (k,)),
            growth=growth,
            grown=ext["grown"] | (growth >= _GROWN),
            stale=stale,
            scatter=scatter,
            regular=where(better, geometric, ext["regular"]),  # the best one's totals were geometric
            stuck=(stale > _STALE) & jnp.all((new_err < 1e-3 * errsum) & (errsum > 1e-3 * jnp.abs(new_val))),
        )
        return new, done

    def steps(edges, rest, tol_args):
        """One pass (a generator: it yields the points where it needs f, see
        `_gauss_kronrod_steps`); returns the state after `edges` and `args`."""
        pool, pend, nused, neval, ext, _ = rest
        pend = pending_view(pend)
        # A piece with a flagged end (see below) is also evaluated at the float next to
        # that end, inside it (the one with the larger flag; elsewhere the probe repeats
        # the piece's midpoint and is not counted).
        f_lo, f_hi = jnp.max(pend["jlo"], axis=1), jnp.max(pend["jhi"], axis=1)
        probe_hi = (f_hi > 0) & (f_hi >= f_lo)
        probing = (probe_hi | (f_lo > 0)) & (pend["c1"] > pend["c0"])
        # (Beside an end at 0, the smallest normal float: the CPU flushes subnormal inputs
        # to zero, so that f there was f(0); a point value of f at 0, where(x == 0, 0,
        # 1), then never cleared its flag and cost 667 evaluations instead of 63.)
        tiny_ = jnp.finfo(dtype).tiny
        probe = where(probe_hi, where(pend["c1"] == 0, -tiny_, jnp.nextafter(pend["c1"], -jnp.inf)),
                          where(pend["c0"] == 0, tiny_, jnp.nextafter(pend["c0"], jnp.inf)))
        probe = where(probing, probe, unused_probe(pend["c0"], pend["c1"]))
        # In the first pass, f at each interior breakpoint (see `_breakpoint_peaks`; with
        # none, nothing of this is compiled).
        if nseg > 1:
            at_bp = _at_breakpoints(pend, nseg, neval == 0)
            probe = where(at_bp, pend["c0"], probe)
        else:
            at_bp = False
        rule = _gauss_kronrod_steps(pend, edges, probe)
        x, kept = next(rule)
        outer = dict(probe=probe, probing=probing, probe_hi=probe_hi) | (dict(at_bp=at_bp) if nseg > 1 else {})
        fx, kept = yield x, (kept, outer)
        kept, outer = kept
        probe, probing, probe_hi = outer["probe"], outer["probing"], outer["probe_hi"]
        at_bp = outer["at_bp"] if nseg > 1 else False
        kron, err, floor, tail, nev, (inner_feature, step, saturated), near = finish_steps(rule, (fx, kept))
        nev = where(pend["recheck"], 0, nev) + (probing | at_bp).astype(nev.dtype)
        valid = pend["slot"] >= 0
        nonempty = pend["c1"] > pend["c0"]
        idx = where(valid, pend["slot"], size)  # out of range: dropped
        new = {name: pend[name] for name in ("seg", "c0", "c1", "slo", "shi", "plain", "depth")}
        new["inner"], new["step"] = inner_feature, step.astype(err.dtype)
        # Halves of the same parent sit at rows i and i + nsplit of `pend`.
        emax = jnp.max(err, axis=1)
        zpad = jnp.zeros(npend - 2 * nsplit, dtype)
        sibling = jnp.concatenate([emax[nsplit : 2 * nsplit], emax[:nsplit], zpad])
        new["sing"] = (
            pend["paired"] & (emax > _SINGULAR_RATIO * sibling) & (emax > _SINGULAR_KEEP * pend["perr"])
            & ~inner_feature
        )
        # Gauss–Kronrod nodes stay _BAND = 0.2 % of a piece's width away from its ends, so
        # a jump or a kink that bisection has just put that close to the end of a half is
        # invisible to both halves' rules, and stays invisible to every later piece that
        # ends there (QUADPACK shares this blind spot: a jump at 0.4997 on [0, 1] passes
        # unseen). The halves' nodes next to the shared point see it, though: a jump makes
        # the two one-sided extrapolations to that point disagree by far more than each
        # side's curvature explains, a kink their slopes (`_shared_point`). That end of
        # both halves is then flagged with the jump (a kink as the equivalent jump
        # slope·band/2), and the flag stays with the piece that keeps the end: each
        # carries jump × band as error, and while that dominates its error the piece is
        # cut 2 bands from the flagged end (not halved), so that the band shrinks 230-fold
        # per cut instead of 2-fold. A jump inside the band shows as soon as a piece's
        # nodes pass it; one exactly at the shared point (a breakpoint nobody passed) is
        # recognised by f at the float next to it (`_at_the_end`): a new flag is checked
        # that way before its piece is cut (see `recheck` below), an inherited one on the
        # next evaluation of the piece that keeps it.
        band = _end_band(pend, valid)
        b = pend["c1"][:nsplit]
        jump, kink, peaked = _shared_point(near, b, nsplit, pend["pfc"][:nsplit])
        jump, kink, peaked = computed_once(jump, kink, peaked)  # (read by the flags and both rows)
        seen = jnp.maximum(jump, kink * band / 2)
        seen = where((pend["paired"] & pend["plain"])[:, None], seen, 0.0)
        # An inherited flag is dropped where f next to that end shows nothing there.
        clear = probing & _at_the_end(near, probe, probe_hi, where(probe_hi[:, None], pend["jhi"], pend["jlo"]))
        inherited_lo = where((clear & ~probe_hi)[:, None], 0.0, pend["jlo"])
        inherited_hi = where((clear & probe_hi)[:, None], 0.0, pend["jhi"])
        is_left = (jnp.arange(npend) < nsplit)[:, None]
        jlo = where(is_left, inherited_lo, jnp.maximum(inherited_lo, seen))
        jhi = where(is_left, jnp.maximum(inherited_hi, seen), inherited_hi)
        if nseg > 1:
            bp_lo, bp_hi = _breakpoint_peaks(near, edges, nseg, at_bp)
            jlo, jhi = jnp.maximum(jlo, bp_lo), jnp.maximum(jhi, bp_hi)
        jlo, jhi = where(band > 0, jlo, 0.0), where(band > 0, jhi, 0.0)
        err = err + (jlo + jhi) * band
        jlo, jhi, err = computed_once(jlo, jhi, err)  # (read by both rows of the pool)
        # A piece with a flagged peak at an end (see `_shared_point`) is cut farther from
        # the flag than for a jump (`_PEAK_CUT`).
        bp_peak = jnp.any((bp_lo + bp_hi) > 0, axis=1) if nseg > 1 else False
        peak_now = (peaked & pend["paired"] & pend["plain"]) | bp_peak
        new["peak"] = (pend["peak"] | peak_now) & jnp.any((jlo + jhi) > 0, axis=1)
        # A flag just set at the shared point has not been checked by a probe yet (an
        # inherited one was, when this piece was evaluated): which end holds it.
        unchecked = jnp.any(seen > 0, axis=1) & (band[:, 0] > 0)
        unchecked_end = where(unchecked, where(is_left[:, 0], 2, 1), 0)
        if nseg > 1:
            bp_end = where(jnp.any(bp_hi > 0, axis=1), 2, where(jnp.any(bp_lo > 0, axis=1), 1, 0))
            unchecked_end = where((bp_end > 0) & (band[:, 0] > 0), bp_end, unchecked_end)
        new.update(val=kron, err=err, floor=floor, tail=tail, active=valid, jlo=jlo, jhi=jhi, fresh=unchecked_end,
                   fc=near[3])
        pool = tuple(p.at[idx].set(r, mode="drop") for p, r in zip(pool, _pool_rows(new)))
        packed, pool = pool, _pool_view(pool, k)
        neval = neval + jnp.sum(where(valid & nonempty, nev, 0), dtype=jnp.int32)

        act = pool["active"][:, None]
        sums = long_sum(where(act, packed[0][:, 4 : 4 + 4 * k], 0.0))  # val, err, floor, tail
        total, errsum, floorsum, tailsum = (sums[j * k : (j + 1) * k] for j in range(4))
        tols = tolerances_in(tol_args, epsabs, epsrel)
        exact = fewer(exact_in(tol_args) if epsabs is None else None, static_exact)
        derivs = exact is not None and exact < k
        mass = long_sum(where(act, jnp.abs(pool["val"]), 0.0)) if derivs else None
        # (The floor is kept with the tolerances for the extrapolated value's test.)
        floor_scale = scale_floor(k, lambda: mass, exact)
        tols = (tols[0], tols[1], floor_scale)
        tol = jnp.maximum(tols[0], tols[1] * jnp.maximum(jnp.abs(total), floor_scale))
        # Every node so far gave f = 0 (`unseen`): the sum, 0 with an error of 0, is
        # accepted only once every piece is 2^-_ZERO_DEPTH of its segment, nodes at most
        # 0.5 % of the segment apart (the widest gap of the 21-point rule is 7.4 % of a
        # piece), each shallowest piece bisected in turn meanwhile. A compactly supported
        # f between the first 21 nodes came out 0, `converged`: inside `dblquad` of a disc's
        # indicator over a box, every chord of the disc narrower than the nodes' gaps
        # was lost, 4e-3 of the area at epsrel 1e-6 (outside probe). f ≡ 0 costs 651
        # evaluations instead of 21. (Not an empty range, nor pieces too narrow to split.)
        real = pool["active"] & (pool["c1"] > pool["c0"])
        dmin = long_min(where(real, pool["depth"], _ZERO_DEPTH))
        confirming = unseen(errsum, floorsum) & (dmin < _ZERO_DEPTH)
        # Nor is the first rule's sum accepted where a piece's error estimate is
        # saturated (`_gauss_kronrod`), as QAGS does not accept it (Piessens et al. 1983,
        # QAGS: `abserr != resabs`): its pieces are bisected once. e^(−1000x)·cos x on
        # [0, 10], whose mass lies before the first node (0.0217) but one, came out 2e-11
        # for 1e-3 (relative error 1), `converged` after 21 evaluations, its sum and its
        # error below epsabs = 1.49e-8; QAGS bisects and gets 1e-3.
        first_rule = long_all(where(real, pool["depth"], 0) == 0)
        unsure = first_rule & jnp.any(saturated & valid) & jnp.all(errsum <= tol)
        confirming = confirming | unsure
        if derivs:
            # A derivative component with no mass yet (`massless`) would end the loop on
            # `roundoff` at once: the first pieces are bisected once, as for `unsure`.
            confirming = confirming | (first_rule & jnp.any(massless(errsum, floorsum, mass, tol, exact)))
        # An infinite error with a finite total comes from a piece with one non-finite
        # node (see `_gauss_kronrod`): it is bisected next. If it can't be (a node on the
        # singular point of a piece a few ulps wide: the float grid cannot move it off),
        # the loop stops on roundoff (or the limit), not `nonfinite`, so that the
        # extrapolation is returned: at |x - 1/3|^-0.9 with epsrel 1e-12 the plain sum
        # was 2.5 % off there, the extrapolation 2e-13 (the error stays infinite).
        isolated_point = jnp.any(errsum == jnp.inf)
        nonfinite = _nonfinite(total, errsum)
        tail_bad = jnp.any(tailsum > tol)
        # A truncated end whose integrand is still not negligible after that piece has
        # been bisected _TAIL_DEPTH times will not become so: divergent or too slowly
        # decaying (sin(x)/x on [0, ∞)). Stop there rather than use up the limit.
        stuck = pool["active"] & jnp.any(pool["tail"] > tol, axis=1) & (pool["depth"] >= _TAIL_DEPTH)
        tail_stuck = long_any(stuck)

        # Intervals are ranked by the part of their error that bisection can reduce.
        score = jnp.max((pool["err"] - pool["floor"]) / jnp.maximum(tol, tiny), axis=1)
        # The shallowest first, among pieces that can be split: an empty segment (a
        # breakpoint at a limit) is active at depth 0, and picked first it ended the
        # loop on `roundoff` (`splittable` below): the demo's d/ds ∫₀^∞ e^(−x/s) dx with
        # `points=[0]` came out 5.8e-7 for 1 once derivatives were re-checked here.
        score = where(confirming, where(real, -pool["depth"].astype(dtype), -jnp.inf), score)
        score = where(pool["active"], score, -jnp.inf)
        # As QAGS does before each extrapolation step: the pieces outside the two
        # deepest levels of bisection are refined first until their error is within
        # half the tolerance; then the next level is reached and its total recorded for
        # the extrapolation. From the first level at which such pieces exist (depth 3):
        # a level whose total is not recorded breaks the pattern ε extrapolates (at
        # |x - 1/3|^-0.8, whose totals are geometric from the first level on, starting
        # this at depth 4 skipped level 3 and cost 1,365 evaluations instead of 357;
        # QAGS 399).
        dmax = long_max(where(pool["active"], pool["depth"], 0))
        large = pool["active"] & (pool["depth"] < dmax - 1)
        rest = long_sum(where(large[:, None], pool["err"], 0.0))
        reducible = rest - long_sum(where(large[:, None], pool["floor"], 0.0))
        focus = jnp.any(reducible > tol / 2)
        score = where(focus & ~large, -jnp.inf, score)
        top, pick = _top(score, nsplit)
        par = _pool_view(tuple(p[pick] for p in packed), k)
        c0, c1, lo, hi, plain = par["c0"], par["c1"], par["slo"], par["shi"], par["plain"]
        finite = jnp.isfinite(c0) & jnp.isfinite(c1)
        # A piece narrower than this cannot be bisected meaningfully any more.
        xmid = (c0 + c1) / 2
        splittable = where(plain & finite, (xmid > c0) & (xmid < c1), hi - lo > 64 * eps)
        confirming = confirming & splittable[0]
        converged = jnp.all(errsum <= tol) & ~confirming
        at_floor = jnp.all(errsum - floorsum <= tol) & ~confirming  # every piece's error down to its rounding floor
        roundoff = at_floor | ~splittable[0]
        room = nused + nsplit <= size
        # Is the singular point a point of the bisection grid? Then the two pieces with
        # the largest errors are plain, adjacent (it is their shared end) and of like
        # error (f is singular from both sides); a point inside a piece leaves one piece
        # far ahead of all others.
        # (A pass that records is not focused: `top` ranks all pieces by reducible error.)
        if nsplit >= 2:
            a0, a1 = par["c0"], par["c1"]
            on_grid = jnp.all(par["plain"][:2]) & ((a1[0] == a0[1]) | (a1[1] == a0[0])) & (top[1] * 100 >= top[0])
        else:
            on_grid = jnp.zeros((), bool)
        # Error that flags of a jump next to a piece end hold (see above): the totals do
        # not show it (the jump is inside a band no node sees), so no extrapolation of
        # them is accepted while it is above the tolerance.
        flagged = long_sum((pool["jlo"] + pool["jhi"]) * _end_band(pool, pool["active"]))
        # QAGS's first term for ε: the total of the first rules (see `_NSEQ`).
        seed = ~ext["seeded"] & (ext["nseq"] == 0) & (dmax == 0)
        ext = dict(ext, seq=where(seed, jnp.broadcast_to(total, ext["seq"].shape), ext["seq"]),
                   seeded=ext["seeded"] | seed)
        ext, extrapolated = extrapolate(
            ext, pool, total, errsum, tol, dmax, large, rest, reducible,
            ~converged & ~confirming & ~nonfinite & ~isolated_point & ~tail_bad, on_grid, flagged, tols,
        )

        code = where(
            nonfinite,
            _status.NONFINITE,
            where(
                (converged | extrapolated) & ~tail_bad,
                _status.CONVERGED,
                where(
                    tail_bad & (converged | roundoff | ~room | tail_stuck),
                    _status.DIVERGENT,
                    where(roundoff, _status.ROUNDOFF,
                              where(room, _status.RUNNING, _status.MAX_SUBDIVISIONS)),
                ),
            ),
        ).astype(jnp.int32)
        code = where(ext["stuck"] & (code == _status.RUNNING), _status.ROUNDOFF, code).astype(jnp.int32)
        short = (code == _status.ROUNDOFF) | (code == _status.MAX_SUBDIVISIONS)
        # Stopped short after the recorded totals grew level after level (see `_record`):
        # the integral diverges at the point being bisected; the plain sum is returned.
        # Not where every piece's error is down to its rounding floor: the plain sum has
        # then converged as far as rounding lets it, and the growth was a feature being
        # found (a Lorentzian of width 1e-7 on 2 + cos 50x, integrated with its
        # s-derivative: the derivative's totals rose from 0 to π over five records while
        # the peak was cut towards, and the result, right to 1e-16, was `divergent`).
        diverged = short & ext["grown"] & ~at_floor
        code = where(diverged, _status.DIVERGENT, code).astype(jnp.int32)
        short = short & ~diverged
        # Where the loop stops short of the tolerance otherwise, the best extrapolation is
        # returned where its error estimate is the smaller one, component by component
        # (the status stays what it is), and where it lies within 10 of the plain sum's
        # error bars of the plain sum; its error is then reported as at least the plain
        # sum's and its distance to the plain sum. Under rounding noise an ε-table can look
        # converged well away from the limit, and the plain sum misses what it could not
        # resolve. (Without the bound, one kept from levels where a component was still ~0,
        # the s-derivative of a Gaussian of width 1e-6 at ½ on 2 + cos 50x whose first
        # levels' totals were 1e-150 and 1e-121, was returned for a plain sum that had since
        # found the integral: 4e-44 for 1.77. Within one error bar instead of 10, the plain
        # sum was returned 20–78 % off on stops at `limit` and on vector integrands at
        # |x − c|^α, α ≤ −0.85, where the plain sum lies 3–5 error bars short; an outside
        # review.)
        # Except at a stop on `stuck` (see `_record`: the extrapolations have stopped
        # improving while far more accurate than a plain sum that converges too slowly to
        # be of use, at |x − c|^α with α near −1): there the best extrapolation is returned
        # however far from the plain sum (|x − 0.3|^-0.99 at epsrel 1e-12 came out 82 % off,
        # the plain sum; now 7e-12), and where its totals were geometric level by level (a
        # point of the bisection grid, or of periodic binary digits such as 1/3; `regular`)
        # its error is its own and at least _SCATTER times the
        # spread of those made after it: |x − ¼|^-0.95, 2e-11 off (QAGS 9e-13 to 3e-11),
        # reported an error of 32 % of its value, the plain sum's, now 1.3e-10. (Off the
        # grid such a stall can be on a wrong value, which the spread does not cover:
        # |x − 0.618|^-0.99, 86 % off; an outside review.)
        near = jnp.abs(ext["val"] - total) <= 10 * errsum
        short_ext = short & (ext["err"] < errsum) & (ext["stuck"] | near)
        spread = jnp.maximum(errsum, jnp.abs(ext["val"] - total))
        spread = where(ext["stuck"] & ext["regular"], _SCATTER * ext["scatter"], spread)
        ext = dict(ext, use=ext["use"] | short_ext,
                   err=where(short_ext, jnp.maximum(ext["err"], spread), ext["err"]))

        # Next pending intervals: the two halves of each chosen piece; the left half
        # reuses the parent's slot, the right half takes a fresh one.
        # Outside the refinement before an extrapolation (`focus`), a piece below the
        # first is split in the same pass only if the pieces ranked above it do not hold
        # the whole excess of the error over the tolerance by themselves (were their
        # errors to vanish, the tolerance would be met without it): in the last passes a
        # second bisection is usually wasted. (Under `focus` the same test broke the
        # levels ε extrapolates: |x - 0.11|^-0.5 went from 1,617 evaluations, converged,
        # to 2,751 and roundoff.)
        # (Per component: a piece that holds one component's excess does not make the
        # next piece, which holds another's, wait a pass.)
        share = (par["err"] - par["floor"]) / jnp.maximum(tol, tiny)  # (nsplit, K)
        above = jnp.cumsum(share, axis=0) - share
        needed = focus | jnp.any(above < errsum / jnp.maximum(tol, tiny) - 1.0, axis=1)
        chosen = (top >= _SPLIT_FRACTION * top[0]) & splittable & jnp.isfinite(top) & needed
        chosen = where(confirming, splittable & jnp.isfinite(top), chosen)
        chosen = chosen.at[0].set(True)
        seg = par["seg"]
        perr = jnp.max(par["err"], axis=1)
        # A plain piece is bisected plainly (in x on a finite range, in σ of the
        # rational map on an infinite one), unless it reaches an end of its segment
        # (or infinity), its error dwarfed its sibling's and nothing marks a feature
        # inside it: a singular end, handed to a double-exponential map of the piece's
        # own x-range. A double-exponential piece is halved in σ of its map.
        xr0, xr1 = _rational_range(c0, c1, lo, hi)
        at_lo_end = finite & (c0 == edges[seg])
        at_end = where(finite, at_lo_end | (c1 == edges[seg + 1]), (lo == 0) | (hi == 1))
        to_de = plain & par["sing"] & at_end
        # A double-exponential piece of a finite segment away from its map's singular
        # end, with a jump, kink or singular point inside (a second feature in the
        # segment), goes back to plain bisection of its x-range, where the
        # extrapolation and the rounding floor of plain pieces apply.
        # Its x-range stops where the end model of the map's singular end begins (the
        # piece at that end integrates the last `_end_gap` of the segment analytically).
        xde = _tanh_sinh_x(jnp.stack([lo, hi], 1), c0[:, None], c1[:, None])
        e_lo, e_hi = edges[seg], edges[seg + 1]
        g_lo, g_hi = _end_gaps(e_lo, e_hi)
        xde0 = jnp.maximum(xde[:, 0], e_lo + where(c0 == e_lo, g_lo, 0.0))
        xde1 = jnp.minimum(xde[:, 1], e_hi - where(c1 == e_hi, g_hi, 0.0))
        to_plain = ~plain & finite & par["inner"] & (lo > 0) & (hi < 1) & (xde1 > xde0)
        keep = (plain & ~to_de) | to_plain
        c0 = where(to_plain, xde0, c0)
        c1 = where(to_plain, xde1, c1)
        xmid = _dyadic_split(c0, c1, edges[seg], edges[seg + 1])
        # A piece whose error is mostly a flagged end's (see above) is cut 2 bands from
        # that end: the band of the piece that keeps the end shrinks 230-fold. A peak's
        # flag, 16 bands (28-fold): see `_PEAK_CUT`.
        w = where(keep & finite, c1 - c0, 0.0)
        scale = jnp.maximum(tol, tiny)
        held_lo = jnp.max(par["jlo"] * (_BAND * w)[:, None] / scale, axis=1)
        held_hi = jnp.max(par["jhi"] * (_BAND * w)[:, None] / scale, axis=1)
        e_all = jnp.max(par["err"] / scale, axis=1)
        reach = where(par["peak"], _PEAK_CUT, 2.0) * _BAND * w
        cut_lo, cut_hi = c0 + reach, c1 - reach
        # (Not while confirming an integral of 0: errors and flags are then all 0.)
        near_lo = (held_lo >= held_hi) & (2 * held_lo >= e_all) & (cut_lo > c0) & (cut_lo < c1) & ~confirming
        near_hi = ~near_lo & (2 * held_hi >= e_all) & (cut_hi > c0) & (cut_hi < c1) & ~confirming
        xmid = where(near_lo, cut_lo, where(near_hi, cut_hi, xmid))
        # A flag that the halves' comparison has just set (`fresh`) is first checked by
        # itself: the piece is evaluated again with the probe at that end (counted as one
        # evaluation of f: a pass evaluates all its rows anyway, and the piece's nodes were
        # counted when it was made). That clears it where the jump or kink is at the
        # shared point itself (a breakpoint on the bisection grid: 0.5, 0.375, ...; both
        # halves then integrate exactly), where cutting next to it cost 42 evaluations.
        # A flag that survives its probe is cut next to as above.
        recheck = chosen & plain & ~to_de & (
            ((par["fresh"] == 1) & near_lo & (held_hi == 0)) | ((par["fresh"] == 2) & near_hi & (held_lo == 0)))
        split = chosen & ~recheck
        # (The decisions that both rows of the new pieces read, computed once.)
        xmid, keep, to_de, recheck, split, chosen = computed_once(xmid, keep, to_de, recheck, split, chosen)
        new_slot = nused + jnp.cumsum(split.astype(jnp.int32)) - 1
        xa = where(finite, c0, xr0)
        xb = where(finite, c1, xr1)
        ptl = where(finite, 0.0, lo)  # plain children: σ-range (x-range if finite)
        pth = where(finite, 1.0, hi)
        pmid = where(finite, 0.5, (lo + hi) / 2)
        # On a finite piece only the singular end needs the map's clustering: the piece
        # [xa, xb] is the half σ ∈ [0, ½] of the tanh-sinh map of [xa, xa + 2(xb - xa)]
        # (singular end xa), or σ ∈ [½, 1] of that of [xb - 2(xb - xa), xb]; its other
        # end, where the map is smooth, joins the neighbouring plain piece.
        lower = at_lo_end
        upper = finite & ~at_lo_end
        d_c0 = where(upper, xb - 2 * (xb - xa), xa)
        d_c1 = where(lower, xa + 2 * (xb - xa), xb)
        d_lo = where(upper, 0.5, 0.0)
        d_hi = where(lower, 0.5, 1.0)
        lc1 = where(recheck, c1, where(keep & finite, xmid, where(to_de, d_c1, c1)))
        rc0 = where(keep & finite, xmid, where(to_de, d_c0, c0))
        lc0 = where(to_de, d_c0, c0)
        rc1 = where(to_de, d_c1, c1)
        smid = where(keep, pmid, where(to_de, (d_lo + d_hi) / 2, (lo + hi) / 2))
        slo_l = where(keep, ptl, where(to_de, d_lo, lo))
        shi_r = where(keep, pth, where(to_de, d_hi, hi))
        shi_l = where(recheck, hi, where(keep & finite, 1.0, smid))
        slo_r = where(keep & finite, 0.0, smid)
        # Each half keeps the flag of the end it shares with its parent (plain halves of a
        # finite piece only); the new shared point is checked when the halves are evaluated.
        # A piece to recheck is its own "left half" (same slot, both flags, no right half).
        keep_flag = (keep & finite)[:, None]
        zero_k = jnp.zeros_like(par["jlo"])
        # Halves of a plain piece cut at its midpoint, its centre node: f there (see
        # `_shared_point`).
        at_centre = (split & plain & ~to_de & finite & (xmid == (c0 + c1) / 2))[:, None]
        pfc = where(at_centre, par["fc"], jnp.nan)
        left = dict(c0=lc0, c1=lc1, slo=slo_l, shi=shi_l, plain=keep, recheck=recheck,
                    slot=where(chosen, pick, -1), jlo=where(keep_flag, par["jlo"], 0.0),
                    jhi=where(recheck[:, None], par["jhi"], zero_k), pfc=pfc, peak=par["peak"])
        right = dict(c0=rc0, c1=rc1, slo=slo_r, shi=shi_r, plain=keep, recheck=False,
                     slot=where(split, new_slot, -1), jlo=zero_k, jhi=where(keep_flag, par["jhi"], 0.0),
                     pfc=pfc, peak=par["peak"])
        depth = par["depth"] + 1 - recheck.astype(jnp.int32)
        rows = [_pend_rows(dict(half, seg=seg, depth=depth, paired=split, perr=perr), dtype) for half in (left, right)]
        pad = npend - 2 * nsplit
        if pad:
            zeros = jnp.zeros((pad, k), dtype)
            rows.append(_pend_rows(dict(c0=0.0, c1=0.0, slo=0.0, shi=1.0, perr=0.0, slot=-1, seg=0, depth=0,
                                        plain=False, paired=False, recheck=False, peak=False, jlo=zeros, jhi=zeros,
                                        pfc=jnp.nan), dtype))
        pend = tuple(jnp.concatenate([r[j] for r in rows], axis=0) for j in range(2))
        nused = nused + jnp.sum(split, dtype=jnp.int32)
        return packed, pend, nused, neval, ext, code

    @jax.jit
    def pass_nodes(edges, rest):
        return next(steps(edges, rest, ()))

    @jax.jit
    def pass_update(edges, rest, tols, fx, kept):
        # (The pass up to f is traced again here, and left unused: it reads `kept`, what
        # `pass_nodes` computed.)
        run = steps(edges, rest, tols)
        next(run)
        return finish_steps(run, (fx, kept))

    return init, cond, pass_nodes, pass_update, finish
