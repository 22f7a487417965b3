"""Globally adaptive cubature over a box: the loop, without derivatives.

A pool of at most `limit` boxes (centre, half-widths, value, error per component) starts
as the whole box. Each pass ranks the boxes by their error relative to the tolerance,
halves up to `nsplit` of the worst along the axis their rule's fourth differences
marked (the axis along which the integrand varies most), and evaluates the embedded
rule of `_cubature_rules` on the halves, all in one vectorised call of the integrand.
Of the `nsplit` worst boxes only as many are halved as could be needed: a box is halved
only if the boxes ranked above it do not already hold the whole excess of the error
over the tolerance (if their error vanished, the tolerance would be met without it), so
the pass splits in parallel without splitting much more than a one-box-at-a-time loop
would (Genz and Malik's algorithm halves one box per pass).

At every cut the two halves are also compared at their shared face, for a jump or a
kink of f in the outer 5% of a box where no node of either half sees it (`body`); the
band of a half that may hold one counts as error until cuts across that axis shrink it.

The loop stops when every component's summed error estimate is below
max(epsabs, epsrel·|value|) (converged), when the pool is full (max_subdivisions), when
a box to be halved is as narrow as the floating-point grid allows (roundoff), or when
the integrand returns NaN or inf at a node (nonfinite).
"""

from __future__ import annotations

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._loop import while_loop
from .._power_of_two import times_product
from .._where import where
from . import _status
from ._adaptive import finish_steps, tolerance_leaves, tolerance_scale, tolerances_in
from ._cubature_rules import rule_for

# Derivative components are judged on a thousandth of their mass where they cancel:
# `_adaptive.CANCELLATION_FLOOR`, shared with `quad`.

_RULE_SHARE = 0.03
# ... but only where the rule's estimate is in its asymptotic regime: |degree 7 −
# degree 5| below this fraction of |degree 5 − degree 3|, and along no axis a fourth
# difference above this fraction of the second (see `rule_parts` and `body`).
_ASYMPTOTIC = 0.25
_KINKED = 0.05
# There, a smaller share where the embedded differences fall off fast: this many times
# their ratio |R7 − R5| / |R5 − R3| (see `rule_parts`).
_RATIO_SAFETY = 2.0
# The parent's measured error ("gap", see `body`) given to each half: this many times
# the fraction the halves keep, clipped to these shares of the gap.
_GAP_SAFETY = 2.0
_GAP_SHARE = (0.25, 1.0)
# A jump across a shared face: the two sides' extrapolations to it along a line differ
# by more than this many times the largest step of f between that line's nodes.
_JUMP = 2.0
# ... and by more than this many ulps of the largest |f| at the two halves' nodes.
_NOISE = 1e4
# A kink: the slopes at the face from either side differ by more than _JUMP times this
# many times (8 in all) the larger of the two sides' curvatures ...
_KINK = 4.0
# ... or this many (3 in all) where the parent box looked kinked along the cut axis.
_KINK_SEEN = 1.5


def _top(score, m):
    """The `m` largest entries of `score` along its last axis and their indices, in the
    order of a stable sort of `-score`: the lower index first among equal values (−0 and
    +0 equal), NaN last.

    A full sort of the pool each pass cost O(limit log limit) comparisons, most of a
    pass at the default `limit` (1.9 ms of sorting for 10,000 boxes; the Gaussian over
    [0, 1]³ at epsrel 1e-8 took 9.1 ms at `limit=10_000` against 0.36 ms at 200).
    Instead `lax.top_k` of the scores rounded to float32 (~40 µs for 10,000 on XLA's
    CPU) picks 4m candidates and a sort of those alone orders them by the exact scores.
    That is the full sort's answer whenever every entry whose float32 key equals the
    m-th largest key is among the candidates (the last candidate's key is smaller):
    the true top m all have keys at least that large; and where fewer than m entries
    are above −inf (the pool's unused slots), as the first passes have. Otherwise (a
    tie in float32 as long as the candidates, mirror-image boxes of a symmetric
    integrand, say) the whole pool is sorted, as before. (A first version took 2m
    candidates whatever the ties: it chose other boxes than the sort on symmetric
    integrands, 6 % more evaluations on x₀e^(−‖x‖²) over [−1, 1]²; a review.) On several
    devices the sort always stays: the SPMD partitioner gathers `top_k`'s operand from
    every device (the pools of all blocks, once per pass; found by an outside probe), a
    sort along the pool it keeps on each."""
    n = score.shape[-1]
    iota = lax.broadcasted_iota(jnp.int32, score.shape, score.ndim - 1)

    def best(score, iota):  # (NaN sorts last: lax.sort's total order makes every NaN positive)
        neg, idx = lax.sort((-score, iota), dimension=score.ndim - 1, is_stable=True, num_keys=2)
        return -neg[..., :m], idx[..., :m]

    c = 4 * m
    if jax.device_count() > 1 or c >= n:
        return best(score, iota)
    big = float(jnp.finfo(jnp.float32).max)
    gone = jnp.isnan(score) | (score == -jnp.inf)  # (−inf: the pool's unused slots)
    key = where(gone, -jnp.inf, jnp.clip(score, -big, big)).astype(jnp.float32)
    key = where(key == 0, jnp.zeros_like(key), key)  # (top_k ranks −0 below +0)
    _, cand = lax.top_k(key, c)
    # Every entry keyed like the m-th is a candidate; or fewer than m entries are above
    # −inf and no NaN shares that key: top_k then took the −inf entries by lowest index,
    # as the sort does (top_k puts the lower index first among equal keys). (The keys
    # are read back through `cand` whole: slicing top_k's outputs at an offset made XLA
    # keep it as a full sort instead of its fast CPU routine, 0.8 ms against 0.07.)
    top = jnp.take_along_axis(key, cand, axis=-1)
    kth = top[..., m - 1]
    enough = jnp.all((top[..., c - 1] < kth) | ((kth == -jnp.inf) & ~jnp.any(jnp.isnan(score), axis=-1)))

    def candidates(_):
        return best(jnp.take_along_axis(score, cand, axis=-1), cand.astype(jnp.int32))

    return lax.cond(enough, candidates, lambda _: best(score, iota), None)


def each_node(fvec):
    """`fvec` over boxes and their nodes: points (m, n, d) -> values (m, n, k)."""
    return jax.vmap(jax.vmap(fvec, (0, None)), (0, None))


def rule_parts(fvec, d, dtype):
    """`evaluate(centre, half, args) -> (value, err, axis, finite, fx, share, kinks)` for
    boxes (m, d) (fx: the integrand at the nodes, (m, n, k); err: the rule estimate
    |R7 − R5|; share (m, k): the fraction of it that is the box's error where the estimate
    is in its asymptotic regime, 1 elsewhere; kinks (m, d): the axes along which f looks
    kinked between the nodes; see `body`)."""
    points, apply, npts = rule_steps(d, dtype)
    at_nodes = each_node(fvec)

    def evaluate(centre, half, args):
        return apply(half, at_nodes(points(centre, half), args))

    return evaluate, npts


@functools.lru_cache(maxsize=None)
def rule_steps(d, dtype):
    """`(points, apply, n)`: `points(centre, half)`, the rule's nodes in boxes (m, d),
    (m, n, d); `apply(half, fx)`, `evaluate`'s results (see `rule_parts`) from the
    integrand there. (Built once per dimension and dtype: `rule_parts` and `_loop_core`
    share them.)"""
    rule = rule_for(d)
    # (numpy arrays: these functions are kept across traces, and a JAX array made
    # inside a trace belongs to that trace.)
    nodes = np.asarray(rule.nodes, dtype)
    high, low = np.asarray(rule.high, dtype), np.asarray(rule.low, dtype)
    if d > 1:
        low3, first_w, second_w = (np.asarray(w, dtype) for w in (rule.low3, rule.first, rule.second))
    split = np.asarray(rule.split, dtype)
    tiny = jnp.finfo(dtype).tiny
    # The planes x_i = const through the nodes (L per axis at most): `planes` (n, d·L) is
    # 1 where node n lies on plane l of axis i, `plane_sizes` (d, L) how many do.
    levels = [np.unique(rule.nodes[:, i], return_inverse=True)[1] for i in range(d)]
    nlev = max(int(lv.max()) + 1 for lv in levels)
    planes = np.zeros((rule.size, d, nlev), dtype)
    for i, lv in enumerate(levels):
        planes[np.arange(rule.size), i, lv] = 1
    plane_sizes = planes.sum(axis=0)
    planes = planes.reshape(rule.size, d * nlev)

    def points(centre, half):
        return centre[:, None, :] + half[:, None, :] * nodes[None]

    def apply(half, fx):  # fx: (m, n, k)
        def vol(y):  # y times the box's volume (`times_product`: a volume of 1e-39 in
            return times_product(y, 2 * half)  # float32 is 0, f near 1e20 over it is not)

        # Nodes that land on a singular line or plane of f (|x₀ − c|^α or log|x₀ − c| on
        # x₀ = c) say nothing about the integral, as in `quad`
        # (`_adaptive._gauss_kronrod_steps`): where the nodes at which f is NaN or ±inf
        # are exactly the nodes of one plane x_i = const of the box (all of them, and no
        # others), their values are left out, the box's error is infinite (it is halved
        # first, alone), and it is halved across x_i, which moves that plane between
        # boxes, where no node goes. It was inf or NaN, `nonfinite` (outside probe), and
        # of either sign: the centre weight of the degree-7 rule is negative. Non-finite
        # values at only some nodes of every plane through them (a point singularity at
        # the centre, f NaN on a region) stay `nonfinite`: a point moved onto the centre
        # of the halves' shared face is resolved no better than it is now (r^-1.9
        # over [-1, 1]² ended `converged` 15 % off; r^-2, divergent, `converged`;
        # outside probe of this rule's first version, which left out points too).
        bad = ~jnp.all(jnp.isfinite(fx), axis=2)  # (m, n)
        # Bad nodes per axis and coordinate (one product with a constant 0/1 table):
        # a plane x_i = const holds them all, and they are all of its nodes.
        per_plane = (bad.astype(dtype) @ planes).reshape(bad.shape[0], d, -1)  # (m, d, L)
        nbad = jnp.sum(bad, axis=1, dtype=dtype)[:, None, None]
        only = jnp.any((per_plane == nbad) & (per_plane == plane_sizes) & (nbad > 0), axis=2)  # (m, d)
        isolated = jnp.any(only, axis=1)
        fx = where((isolated[:, None] & bad)[..., None], 0.0, fx)
        score = where(only, half, -1.0)  # (the first widest: two plain reductions, not an argmax)
        plane_axis = jnp.min(where(score == jnp.max(score, axis=1, keepdims=True), np.arange(d, dtype=np.int32), d), axis=1)
        value = vol(jnp.einsum("mnk,n->mk", fx, high))
        err = vol(jnp.abs(jnp.einsum("mnk,n->mk", fx, high - low)))
        err = where(isolated[:, None], jnp.inf, err)
        finite = jnp.all(jnp.isfinite(fx), axis=(1, 2))
        if d == 1:
            axis = jnp.zeros(half.shape[0], jnp.int32)
            share = jnp.full(err.shape, _RULE_SHARE, dtype)
            kinks = jnp.zeros(half.shape, bool)
        else:
            # Fourth differences, summed over components; where they are all negligible
            # (a box on which f is a low-degree polynomial along every axis) the widest axis.
            fourth = jnp.einsum("in,mnk->mik", split, fx)
            diff = jnp.sum(jnp.abs(fourth), axis=-1)
            scale = jnp.sum(jnp.abs(fx[:, 0, :]), axis=-1)[:, None]
            flat = jnp.max(diff, axis=1, keepdims=True) <= 1e-10 * scale
            axis = jnp.argmax(where(flat, half, diff), axis=1).astype(jnp.int32)
            # The estimate |R7 − R5| behaves as for a smooth f where it is far below
            # |R5 − R3| (successive embedded differences falling off with the degree, as
            # in Berntsen, Espelid and Genz's DCUHRE) and no axis has a fourth difference
            # comparable to its second: for a smooth f their ratio is ~0.01·(h/L)², for a
            # kink between the nodes along the axis it is 1/7 wherever the kink lies
            # between ±λ₂ and ±λ₃ (and passes through 0 only near 0.26 of the half-width,
            # where the first test usually sees it). At an inflection point of a smooth f
            # (f'' = 0) the ratio is 1/7 as well; there the second difference is small
            # next to the first (~h³), next to a kink it is not.
            err3 = vol(jnp.abs(jnp.einsum("mnk,n->mk", fx, low - low3)))
            first, second = (jnp.abs(jnp.einsum("in,mnk->mik", w, fx)) for w in (first_w, second_w))
            noise = 1e-10 * jnp.abs(fx[:, :1, :])
            fourth = jnp.abs(fourth)
            kinked = (fourth > _KINKED * second) & (second > _KINKED * first) & (fourth > noise)  # (m, d, k)
            kinks = jnp.any(kinked, axis=2)
            smooth = (err <= _ASYMPTOTIC * err3) & ~jnp.any(kinked, axis=1)
            # Where it is, the embedded differences are the errors of the lower rules,
            # e₅ ≈ |R7 − R5| and e₃ ≈ |R5 − R3|, which fall off with the degree by a
            # factor r ∝ h² (h the box's size) per two degrees; the same factor once more
            # estimates the error of R7 itself, e₇ ≈ r·|R7 − R5|, which shrinks as h⁸
            # where a fixed share of |R7 − R5| shrinks as h⁶ only. Measured on the final
            # boxes of Genz's smooth families (against each box's closed form), e₇ /
            # (r·|R7 − R5|) is 0.1 to 1.06 (1.06: a plane wave, whose errors all have one
            # sign), hence the safety factor; on a single box the ratio can be accidentally
            # small (r·|R7 − R5| 1/100 of e₇ on 1% of Gaussian boxes), which the sum over
            # many boxes absorbs.
            ratio = err / jnp.maximum(err3, tiny)
            share = where(smooth, jnp.minimum(_RULE_SHARE, _RATIO_SAFETY * ratio), 1.0)
        axis = where(isolated, plane_axis, axis)
        return value, err, axis, finite, fx, share, kinks

    return points, apply, rule.size


def _quadratic_at(t, at):
    """Weights (3,) giving, from f at the three points t of a line, the value at `at` of
    the quadratic through them."""
    return [np.prod([(at - t[m]) / (t[j] - t[m]) for m in range(3) if m != j]) for j in range(3)]


def _face_lines(rule):
    """The lines along which the jump check compares two halves at their shared face:
    node indices (d, 2, L, 3) (per axis, per face, per line, outermost node first) and
    the weights (L, 3) that extrapolate f along each line to the face (at distance 1
    from the centre): a quadratic through the three axis-line nodes, a straight line
    through the two nodes of each pair line (its third slot repeats the second, with
    weight 0); and the node-free band's share (1 - t) of the half-width."""
    t = rule.face_t
    nodes, weights, outer = rule.face_nodes[:, :, None, :], [_quadratic_at(t, 1.0)], t[0]
    if rule.pair_nodes.shape[2]:
        tp = rule.pair_t
        pairs = rule.pair_nodes
        nodes = np.concatenate([nodes, np.concatenate([pairs, pairs[..., 1:]], axis=-1)], axis=2)
        weights += [[(1 + tp) / (2 * tp), -(1 - tp) / (2 * tp), 0.0]] * pairs.shape[2]
        outer = max(outer, tp)
    return nodes, np.array(weights), 1.0 - outer


# Where the whole box's outer faces are checked for a jump (`_outer_faces`): this share
# of the node-free band from the face (2.4e-8 of the box's width: what stays unseen);
# f there above this multiple of the largest |f| at the box's nodes is taken for a
# singularity on the face (or f steep toward it), not a jump; and the multiple of what
# f's slope changes it over the band that a jump must exceed.
_OUTER_DEPTH = 2.0**-20
_OUTER_CAP = 4.0
_OUTER_JUMP = 8.0


def _outer_faces(rule):
    """The whole box's face check (`first_rest`): points just inside its faces, one per
    line of the jump check (see `_face_lines`), in the unit box, (d, 2, L, d), each the
    line's outermost node moved along the line's axis to `_OUTER_DEPTH` of the band from
    the face; the three nodes of each line, outermost first, (d, 2, L, 3) (a pair line
    ±λ₄eᵢ ± λ₄eⱼ also holds the node ±λ₃eⱼ between its two, λ₃ = λ₄); and per line the
    weights (L, 3) of its quadratic's value at the point and of its slope at the face."""
    lines, _, band = _face_lines(rule)
    at = 1.0 - _OUTER_DEPTH * band
    d = lines.shape[0]
    nodes = rule.nodes
    quad_lines = lines.copy()
    ts = [np.asarray(rule.face_t, float)]
    for line in range(1, lines.shape[2]):
        ts.append(np.array([rule.pair_t, 0.0, -rule.pair_t]))
        for i in range(d):
            for side in range(2):
                outer, inner = lines[i, side, line, :2]
                (match,) = np.nonzero(np.all(np.abs(nodes - (nodes[outer] + nodes[inner]) / 2) < 1e-12, axis=1))
                quad_lines[i, side, line] = [outer, match[0], inner]
    value_w = np.array([_quadratic_at(t, at) for t in ts])
    slope_w = np.array([_slope_curvature(t)[0] for t in ts])
    points = nodes[lines[..., 0]].copy()  # (d, 2, L, d)
    for i in range(d):
        points[i, :, :, i] = np.sign(points[i, :, :, i]) * at
    return points, quad_lines, value_w, slope_w


def _slope_curvature(t):
    """Weights giving, from f at the three axis-line nodes t (toward a face at t = 1), the
    derivative at the face and the second derivative of their quadratic."""
    t = np.asarray(t, float)
    slope, curv = np.zeros(3), np.zeros(3)
    for j in range(3):
        a, b = (t[m] for m in range(3) if m != j)
        den = (t[j] - a) * (t[j] - b)
        slope[j] = ((1 - a) + (1 - b)) / den
        curv[j] = 2 / den
    return slope, curv


def component_tolerance(total, mass, epsabs, epsrel, exact):
    """Per-component tolerance (k,): epsrel·|total| for the first `exact` components (all
    if None), epsrel·max(|total|, CANCELLATION_FLOOR·mass) for the derivative components
    after them. `mass()` gives the components' absolute size (Σ|·| over the boxes, the
    mean of |h| over the points); it is formed only where a derivative needs it
    (`_adaptive.tolerance_scale`, which `quad` uses too)."""
    return jnp.maximum(epsabs, epsrel * tolerance_scale(total, mass, exact))


def box_tolerance(value, epsabs, epsrel, exact):
    """`component_tolerance` from the boxes' values `value` (boxes, k)."""
    return component_tolerance(
        jnp.sum(value, axis=0), lambda: jnp.sum(jnp.abs(value), axis=0), epsabs, epsrel, exact
    )


def loop_parts(fvec, d, dtype, *, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """The adaptive loop as `(init, cond, body, finish)` over a state tuple
    `(args, centre, half, value, err, axis, flags, rule, kinked, nused, neval, code)` (the
    integrand's arguments ride in the state, as in `quad`'s loop; `flags` (limit, d, 2):
    the jump flagged at each box's lower and upper face along each axis; `rule`
    (limit, k): each box's rule estimate |R7 − R5|; `kinked` (limit,): whether the box
    looks kinked along the axis it is to be halved across; see `body`); `finish` gives
    `(value, err, neval, code)`.

    As in `quad`'s loop (`_adaptive.loop_parts`), a pass is two `jax.jit` functions of
    the loop's configuration (`_loop_core`, cached) with the integrand between them: a
    process traces them once per configuration, not once per integrand."""
    core = _loop_core(d, jnp.dtype(dtype), out_size, limit, epsabs, epsrel, nsplit, exact)
    at_nodes = each_node(fvec)

    def init(lo, hi, args):
        centre, half, x = core.first_nodes(lo, hi)
        tols = tolerance_leaves(args) if epsabs is None else ()
        return (args,) + core.first_rest(centre, half, at_nodes(x, args), tols)

    def body(state):
        args, rest = state[0], state[1:]
        # (Only the tolerances of `args` enter the pass; static ones are the core's.)
        tols = tolerance_leaves(args) if epsabs is None else ()
        x, kept = core.pass_nodes(rest, tols)
        return (args,) + tuple(core.pass_update(rest, tols, at_nodes(x, args), kept))

    init.first_status = core.first_status
    return init, core.cond, body, core.finish


@functools.lru_cache(maxsize=128)
def _loop_core(d, dtype, out_size, limit, epsabs, epsrel, nsplit, exact):
    """The parts of the loop that do not depend on the integrand (see `loop_parts`)."""
    points, apply, npts = rule_steps(d, dtype)
    rule = rule_for(d)
    lines, weights, band = _face_lines(rule)  # lines: numpy, constant indices
    # (numpy arrays: this core is kept across traces; see `rule_steps`.)
    weights = np.asarray(weights, dtype)
    outer_points, outer_lines, outer_w, outer_slope = _outer_faces(rule)
    outer_w, outer_slope = np.asarray(outer_w, dtype), np.asarray(outer_slope, dtype)
    # (The gap from the outermost node to the point just inside the face, in half-widths.)
    outer_gap = float(1.0 - _OUTER_DEPTH * band - rule.face_t[0])
    n_outer = outer_points.shape[0] * outer_points.shape[1] * outer_points.shape[2]
    outer_points = np.asarray(outer_points.reshape(n_outer, d), dtype)
    slope_w, curv_w = (np.asarray(w, dtype) for w in _slope_curvature(rule.face_t))
    # (3, 3): slope, curvature and value at the face of the axis line's quadratic.
    line_w = np.stack([slope_w, curv_w, weights[0]])
    m = min(nsplit, limit)
    tiny = jnp.finfo(dtype).tiny
    eps = jnp.finfo(dtype).eps
    # An integral whose every box so far is exactly 0 with an error of exactly 0 (f = 0
    # at every node, or exactly odd about every box's centre) is accepted only once the
    # box has been cut into `confirm` boxes, the largest first across its widest axis:
    # the largest power of two of them whose nodes number at most 1,100 (d = 2: 64 boxes,
    # sides 1/8 of the range, 2,431 evaluations with the halves of each cut; d = 3: 32;
    # d = 7: 4). A cone or a
    # disc's indicator of radius 0.12 in the unit square between the first 51 nodes came
    # out 0, error 0, `converged` (outside probe: 10 of 40 random centres at radius 0.1,
    # 24 at 0.06). f ≡ 0 costs that many evaluations.
    confirm = min(2 ** max(int(np.floor(np.log2(1100 / npts))), 1), limit)

    def tolerance(value, args):  # (traced tolerances ride in args: `_adaptive.Tolerances`)
        return box_tolerance(value, *tolerances_in(args, epsabs, epsrel), exact)

    def band_error(flagged, tol, half):
        """The error that face flags summing to `flagged` (m,) (in tolerances) hold in
        boxes of half-widths `half` (m, d): the flag times the band's volume, (m, k)."""
        # (No flag holds no error: with `epsabs=inf` the tolerance is infinite, and 0·inf
        # made every error NaN, `nonfinite`, for a right value; outside probe.)
        per = where(flagged[:, None] > 0, flagged[:, None] * tol * (band / 2), 0.0)
        return times_product(per, 2 * half)  # (as the rule's volume)

    def kinked_along(kinks, ax):
        """Whether each box (kinks: (m, d), see `rule_parts`) looks kinked along the axis
        `ax` (m,) it is to be halved across."""
        return jnp.take_along_axis(kinks, ax[:, None], axis=1)[:, 0]

    def confirming(value, err, nused):
        return jnp.all(value == 0) & jnp.all(err == 0) & (nused < confirm)

    def status(value, err, nused, finite, args):
        errsum = jnp.sum(err, axis=0)
        tol = tolerance(value, args)
        unsure = confirming(value, err, nused)
        done = jnp.all(errsum <= tol) & ~unsure
        code = where(done, _status.CONVERGED, _status.RUNNING)
        # Below what the precision allows: the error estimate is within rounding of the
        # boxes' values (say epsrel = 1e-8 in float32).
        floor = 50 * eps * jnp.sum(jnp.abs(value), axis=0)
        code = where(~done & ~unsure & jnp.all(errsum <= jnp.maximum(tol, floor)), _status.ROUNDOFF, code)
        code = where(~done & (nused >= limit), _status.MAX_SUBDIVISIONS, code)
        # A sum over the nodes beyond the largest float (a box of volume 4e308, or f near
        # 1e300 over [-1e10, 1e10]²) made the total -inf with an error of inf, and inf <=
        # inf passed as `converged` after 17 evaluations (outside probe).
        # (An infinite error with a finite total is a box whose nodes hit a singular plane,
        # see `rule_steps`: it is halved next.)
        overflowed = ~jnp.all(jnp.isfinite(jnp.sum(value, axis=0))) | jnp.any(jnp.isnan(errsum))
        return where(finite & ~overflowed, code, _status.NONFINITE).astype(jnp.int32)

    def first_status(v, e, finite, half, args):
        """`(v, e, code)` of the whole box, with its half-widths `half` (1, d). It is
        never accepted on its own rule: a box's |R7 − R5| can fall below its error when
        the two rules err alike (e^(−‖x − p‖²) over [0, 1]⁵ was `converged` after the first
        93 evaluations, 1.1e-4 off for epsrel 3e-5, estimate 2.2e-5; outside probe), so
        it is halved once, and the halves' sum measures its error like any parent's (the
        rules agreeing to rounding, f affine at every node, the basket call max(x + y + z
        − K, 0) over the unit cube, was the first such case: 1.6e-3 off at any tolerance;
        a corner that misses the halves' nodes too is still accepted: K = 0.3 or 2.7,
        documented). A box of zero width along an axis is exactly 0, `converged` (as
        `quad`'s a == b; it was `roundoff` after 51 evaluations at d = 2, or `converged`
        after 2,431)."""
        empty = jnp.any(half[0] == 0)
        v, e = where(empty, 0.0, v), where(empty, 0.0, e)
        code = status(v, e, 1, finite, args)
        code = where((code == _status.CONVERGED) & (limit > 1), _status.RUNNING, code)
        return v, e, where(empty, _status.CONVERGED, code).astype(jnp.int32)

    def first_nodes(lo, hi):
        """The whole box (one box of a pool), its rule's nodes and the points that check
        its outer faces (`first_rest`)."""
        centre, half = (lo + hi)[None] / 2, (hi - lo)[None] / 2
        faces = centre[:, None, :] + half[:, None, :] * outer_points[None]
        # (Never on a face itself: in float32, or far from 0, 2.4e-8 of the width rounds
        # onto it, where f may be infinite; a review. One float inside at least.)
        inner_lo, inner_hi = jnp.nextafter(lo, hi), jnp.nextafter(hi, lo)
        faces = jnp.clip(faces, jnp.minimum(inner_lo, inner_hi), jnp.maximum(inner_lo, inner_hi))
        return centre, half, jnp.concatenate([points(centre, half), faces], axis=1)

    def first_rest(centre, half, fx, args):
        """The loop's state after `args`, from f at the whole box's nodes and at the
        points that check its outer faces.

        The faces of the whole box have a node-free band beside them like every face
        (`body`), but no neighbour across them to compare with: a jump of f there was
        invisible to every box that keeps the face (e^(x + y)·[y < 0.99] over the unit
        square: 1.6 % off, `converged`, at any tolerance down to 1e-8; Genz's
        discontinuous and C0 families with a w near a face: 46 and 32 of 96 `converged`
        outside the tolerance; outside probe). So f is also evaluated on each line of
        the jump check just inside each face (`_OUTER_DEPTH` of the band from it, not on
        the face: f may be singular there) and compared with its extrapolation from the
        box's own nodes along the line; where they disagree as a jump would (`seen`),
        the face is flagged as a cut face is, and the halves that keep it carry the
        band's error until cuts toward it shrink the band. (2d(2d − 1) evaluations: 12
        at d = 2, 90 at d = 5.) Only the first box's lines are checked, with the jump's
        size measured there: a jump on a part of a face they miss, or whose size grows
        along the face, and a kink beside a face still pass unseen (docs/cubature.md)."""
        fx, fo = fx[:, :npts], fx[:, npts:]
        v, e, ax, finite, fx, _, kinks = apply(half, fx)
        tol = jnp.maximum(tolerance(v, args), tiny)
        along = jnp.take(fx[0], np.asarray(outer_lines, np.int32), axis=0)  # (d, 2, L, 3, k)
        guess = jnp.sum(outer_w[:, :, None] * along, axis=3)  # (d, 2, L, k)
        jump = jnp.abs(guess - fo[0].reshape(guess.shape))
        # What a smooth f changes by over the node-free band, from the outermost node to
        # the point: its slope at the face (each line's quadratic's, or the axis line's if
        # larger) times the band. A jump stands out of that by far; it is counted where
        # both f's change from the outermost node and its miss of the extrapolation
        # exceed `_OUTER_JUMP` times it. (Against the step of f between the nodes, as at
        # a cut face, a jump to 0 of e^(c·x) with c ≥ 1 passed unseen: the first box's
        # nodes span 95 % of it.)
        slope = jnp.abs(jnp.sum(outer_slope[:, :, None] * along, axis=3))  # (d, 2, L, k)
        slope = jnp.maximum(slope, slope[:, :, :1])
        change = _OUTER_JUMP * slope * outer_gap
        near = jnp.abs(fo[0].reshape(guess.shape) - along[..., 0, :])
        # (f not finite at a point just inside a face, singular on it, says nothing here.)
        noise = _NOISE * eps * jnp.maximum(jnp.max(jnp.abs(fx)), jnp.max(where(jnp.isfinite(fo), jnp.abs(fo), 0.0)))
        seen = where(jnp.isfinite(jump) & (jump > change) & (near > change) & (jump > noise), jump, 0.0)
        # f far above its values at every node of the box (more than `_OUTER_CAP` times)
        # is f singular on the face, or steep toward it (a corner peak), not a jump: left
        # to the rules, as before this check. (Flagged, a singular face was cut toward
        # until nodes rounded onto it: NaN for (x₀ − 1)^(−1/2) at epsrel 1e-8; a review.)
        big = jnp.abs(fo[0]).reshape(guess.shape) > _OUTER_CAP * jnp.max(jnp.abs(fx[0]), axis=0)
        seen = where(big, 0.0, seen)
        outer = jnp.minimum(jnp.max(jnp.max(seen, axis=2) / tol, axis=-1), 1 / eps**2)  # (d, 2)
        extra = band_error(jnp.sum(outer)[None], tol, half).astype(e.dtype)  # (1, k)
        ax = where(jnp.any(extra > e), jnp.argmax(jnp.sum(outer, axis=1)).astype(ax.dtype), ax)
        v, e_all, code = first_status(v, e + extra, finite[0], half, args)
        e = jnp.minimum(e, e_all)  # the rule's own estimate (0 for an empty box)
        pad = lambda x: jnp.zeros((limit,) + x.shape[1:], x.dtype).at[0].set(x[0])  # noqa: E731
        flags = pad(outer[None].astype(e.dtype))
        kinked = pad(kinked_along(kinks, ax))
        rest = (pad(centre), pad(half), pad(v), pad(e_all), pad(ax), flags, pad(e), kinked, jnp.int32(1),
                jnp.int32(npts + n_outer))
        return rest + (code,)

    def cond(state):
        return state[-1] == _status.RUNNING

    def steps(rest, args):
        """One pass (a generator: it yields the points where it needs f, with the arrays
        it reads again afterwards, and takes f there and those arrays back); returns the
        state after `args`. `args` holds only the loop's tolerances."""
        centre, half, value, err, axis, flags, rule_err, kinked, nused, neval, _ = rest
        errsum = jnp.sum(err, axis=0)
        tol = jnp.maximum(tolerance(value, args), tiny)
        used = jnp.arange(limit) < nused
        unsure = confirming(value, err, nused)  # see `confirm`: the largest boxes first
        score = where(unsure, jnp.max(half, axis=1), jnp.max(err / tol, axis=1))
        score = where(used, score, -jnp.inf)
        top, idx = _top(score, m)
        # Halve a box only while the boxes ranked above it hold less than the excess.
        excess = jnp.max(errsum / tol) - 1.0
        above = jnp.cumsum(top) - top
        pick = ((above < excess) | ((nused == 1) & (jnp.arange(m) == 0)) | unsure) & jnp.isfinite(top)
        # Boxes with an infinite error (nodes on a singular plane, see `rule_steps`) are
        # halved first, and alone.
        infinite = top == jnp.inf
        pick = where(jnp.any(infinite), infinite, pick)
        pick = pick & (nused + jnp.cumsum(pick) <= limit)
        slot = where(pick, nused + jnp.cumsum(pick) - 1, limit)
        ax = axis[idx]
        c, h = centre[idx], half[idx]
        # A pass halves m boxes; when fewer are in the pool, the rest of the m are unused
        # slots, evaluated and dropped. They take the first box's place, inside the
        # region: at the pool's zeros the integrand was evaluated at the origin, outside
        # the user's box (2,210 of 2,737 evaluations for [0.2, 1] × [0.3, 1]), where an
        # `eqx.error_if` or a callback defined on the box raised.
        live = used[idx][:, None]
        c, h = where(live, c, centre[0]), where(live, h, half[0])
        onehot = jax.nn.one_hot(ax, d, dtype=h.dtype)
        # Where the flags at the faces across the cut axis hold most of a box's error, it
        # is cut two node-free bands from the face with the larger flag instead of at its
        # middle: the small part keeps that face and a band 20 times narrower (a jump's
        # error shrinks 20-fold, a kink's 400-fold, where halving gives 2 and 4), as
        # `quad` cuts a flagged piece. `t`: the lower part's share of the width.
        face = jnp.abs(jnp.sum(flags[idx] * onehot[:, :, None], axis=1))  # (m, 2): lower, upper
        fast = jnp.any(band_error(jnp.sum(face, axis=1), tol, h) > 0.5 * err[idx], axis=1)
        # Only while the small part's outermost nodes stay well inside its face (16 ulps of
        # the face): it is placed from the parent's edge (below), which sits within an ulp
        # or so of the true face, and a face at 1 once drew nodes onto it (NaN for
        # (x₀ − 1)^(−1/2); a review). At a face at 0 the edge is exact and this never
        # binds. Beyond it the box is halved.
        # (The small part's half-width is band·h, its nodes' gap to its face band·band·h.)
        edge = jnp.sum(onehot * where(face[:, :1] >= face[:, 1:], c - h, c + h), axis=1)
        fast = fast & (jnp.sum(onehot * h, axis=1) * band * band > 16 * eps * jnp.abs(edge))
        t = where(fast, where(face[:, 0] >= face[:, 1], band, 1 - band), 0.5)[:, None].astype(h.dtype)
        h_lo, h_hi = h + onehot * h * (t - 1), h - onehot * h * t
        c_lo, c_hi = c - onehot * (h - h_lo), c + onehot * (h - h_hi)
        # A fast cut's parts are placed from the parent's edges, which they keep exactly:
        # from its centre, each cut added a rounding error of the parent's size, and after
        # a dozen cuts toward a face at 0 (f singular there) a box 1e-18 wide sat 8.5e-20
        # beyond it, where f was evaluated (NaN, `nonfinite`).
        c_lo = where(fast[:, None] & (onehot > 0), (c - h) + h_lo, c_lo)
        c_hi = where(fast[:, None] & (onehot > 0), (c + h) - h_hi, c_hi)
        width = jnp.sum(onehot * jnp.minimum(h_lo, h_hi), axis=1)
        # (The float spacing along the cut axis itself: with the largest centre coordinate
        # over all axes, a box beside x₀ = 0 counted as too narrow at a width of
        # 4·eps·|x₁|, and x₀^(−0.9) stopped 1.8 % off, `roundoff`; outside probe.)
        narrow = jnp.any(pick & (width <= 4 * eps * jnp.maximum(jnp.sum(onehot * jnp.abs(c), axis=1), tiny)))
        cc = jnp.concatenate([c_lo, c_hi])
        hh = jnp.concatenate([h_lo, h_hi])
        kept = dict(tol=tol, idx=idx, pick=pick, slot=slot, ax=ax, onehot=onehot, t=t, cc=cc, hh=hh, narrow=narrow)
        fx, kept = yield points(cc, hh), kept
        tol, idx, pick, slot, ax, onehot, t, cc, hh, narrow = (kept[name] for name in (
            "tol", "idx", "pick", "slot", "ax", "onehot", "t", "cc", "hh", "narrow"))
        v, e_rule, a_new, finite, fx, share, kinks = apply(hh, fx)
        # The error estimate of a half. Its rule's own estimate, |degree 7 − degree 5|,
        # is the error of the *lower* rule and overstates that of the value (degree 7)
        # by 10 to 10,000 times on smooth integrands, which costs evaluations, not
        # accuracy. The parent's value against the sum of its halves measures the
        # parent's actual error e_P ("gap"), less what the halves keep of it. That part,
        # ρ, is measured by the same split of the rule estimates: ρ = (|R7 − R5| of the
        # halves) / (|R7 − R5| of the parent), near 1/64 of the cut axis's share plus the
        # other axes' whole shares (their error terms shrink only with the volume).
        # Taking R7's error to split between the axes alike, the halves keep ρ·e_P, the
        # gap is (1 − ρ)·e_P, and each half's error is ρ/(2(1 − ρ)) of the gap; each is
        # given _GAP_SAFETY times that, between 1/4 of the gap and all of it. The floor
        # is a share of the half's own rule estimate (see `rule_parts`). A gap larger
        # than the rule estimates flags something the parent's rule missed (a jump or a
        # peak between its nodes): the halves then carry it and are refined in turn.
        # (Measured on Genz's random families at d = 2-4, 360 integrals: the whole gap
        # and a fixed 3% share cost 29-47% more evaluations on the smooth families; the
        # smallest ratio of estimate to true error is now 1.6, see docs/cubature.md. A
        # 1% cap on the rule share instead of 3% reported a Gaussian 1.5 times outside
        # its tolerance.)
        # (A parent whose nodes hit a singular plane has no value to compare with.)
        hit = jnp.isinf(rule_err[idx])
        gap = where(hit, 0.0, jnp.abs(value[idx] - v[:m] - v[m:]))
        rho = where(hit, 0.0, (e_rule[:m] + e_rule[m:]) / jnp.maximum(rule_err[idx], tiny))
        kept = _GAP_SAFETY * rho / (2 * (1 - jnp.minimum(rho, 0.5)))
        gap_share = jnp.clip(kept, *_GAP_SHARE)
        # The rule estimate is discounted only where it behaves as for a smooth f (see
        # `rule_parts`). A kink between the nodes makes the embedded differences alike
        # and its error as large as the estimate, which is then kept whole: the gap of a
        # cut parallel to the kink does not see it (both halves keep half of it).
        e = jnp.maximum(share * e_rule, jnp.concatenate([gap_share * gap, gap_share * gap]))
        # Jumps next to the new shared face. Along each axis the outer (1 - λ₃) = 5 % of
        # a box holds no node (0.4 % for the one-dimensional rule), so a jump of f there
        # is invisible to the box's rule, to the gap above and to every later box cut
        # across another axis (Genz's discontinuous family: 5e-6 off, "converged"). The
        # halves' nodes next to the shared face see it: a jump there makes the
        # extrapolations from either side to the face disagree by more than f varies
        # between those nodes (as `quad` checks between sibling halves). They are
        # compared on the line through the centres (a quadratic through three nodes each
        # side) and on the lines through the pair nodes ±λ₄eᵢ ± λ₄eⱼ (a straight line
        # through two), which see a jump that only part of the face has (f is 0 along the
        # centre line of Genz's family when its jump is off to one side). The jump may be
        # in either half's band, so both carry jump × band volume as error, and the half
        # is cut across the same axis until the band holds less than the tolerance: a
        # flag stays with the faces a half shares with its parent (the band's volume
        # halves with the half's).
        # Rounding noise is not a jump: a component that is zero up to rounding (a
        # derivative of a symmetric integrand, say) has random steps. A jump must stand
        # out of f's variation along its line and above the rounding level of the
        # largest component at the box's nodes. (Computed for every axis with constant
        # node indices, then the cut axis picked: less to compile than gathering by the
        # traced axis.)
        noise = _NOISE * eps * jnp.max(jnp.abs(fx), axis=(1, 2))
        noise = jnp.maximum(noise[:m], noise[m:])[:, None, None]

        def seen(jump, step, noise):  # per line: the jump, where it stands out
            return where(jnp.isfinite(jump) & (jump > _JUMP * step) & (jump > noise), jump, 0.0)

        up, down = fx[:m][:, lines[:, 1]], fx[m:][:, lines[:, 0]]  # (m, d, L, 3, k): the shared face's sides
        jump = jnp.abs(jnp.sum(weights[:, :, None] * (up - down), axis=3))
        step = jnp.maximum(jnp.max(jnp.abs(jnp.diff(up, axis=3)), axis=3), jnp.max(jnp.abs(jnp.diff(down, axis=3)), axis=3))
        jumps = jnp.max(seen(jump, step, noise[..., None]), axis=2)
        # A kink just past the cut: f is continuous but its slope is not. Each side's
        # quadratic on the axis line gives the slope at the face (toward the face; the
        # two directions are opposite, so a smooth f has s_left = -s_right) and its own
        # curvature; a slope jump far above both curvatures is a kink, whose band holds
        # at most |slope jump|·band²·volume/4 (per half-width units), counted as a jump
        # of |slope jump|·band/2 shared between the halves. On a coarse box a mild kink
        # does not stand out of the curvatures (for e^{-c|x - w|}, slope jump /
        # curvature = 2/(ch)), but where the parent's fourth differences along the cut
        # axis looked kinked and the halves' nodes then see nothing, the kink is next to the cut (it would otherwise be
        # between the halves' nodes), and a slope jump above three times the curvatures
        # is taken as one (e^{-2.8|y - 0.502|}·e^{-x/2} on the unit square: 2e-5 off,
        # reported converged at epsrel 1e-8; with 2 in place of 3 smooth peaks are taken
        # for kinks too, Genz's product peak at d = 5 cost 1.9x). The kink lies in one of
        # the two bands, so each half carries half of the bound.
        # (Slopes and curvatures per unit length, each side by its own half-width: the
        # halves of a fast cut differ in size.)
        cu, cd = up[:, :, 0], down[:, :, 0]  # axis line: (m, d, 3, k)
        hl, hu = hh[:m][:, :, None], hh[m:][:, :, None]  # (m, d, 1)
        # A sharp kink (e^{-c|x - w|} with c·h large) bends each side as much as its slope
        # jumps and passes the test on f. On log|f|, where f keeps its sign at the six
        # nodes, each side is a straight line and the jump of the slopes stands out at any
        # c (as `quad` checks, `_adaptive._shared_point`). Only a tent that peaks at the
        # face (both sides rise towards it): a valley is what a zero of f there looks
        # like. It is flagged with f's own slope jump, |f| at the face times that of
        # log|f|. (e^{-10.6|y - 0.503|} over the unit square: 5e-4 off, `converged` at
        # epsrel 1e-6; a random C0 member at d = 3 with a kink 1.2e-3 from a cut, 80 times
        # its tolerance; outside probe.)
        one_sign = ((jnp.all(cu > 0, axis=2) & jnp.all(cd > 0, axis=2))
                    | (jnp.all(cu < 0, axis=2) & jnp.all(cd < 0, axis=2)))  # (m, d, k)
        gu, gd = (jnp.log(where(one_sign[:, :, None], jnp.abs(x_), 1.0)) for x_ in (cu, cd))
        # Slope, curvature and value at the face of each side's quadratic, f and log|f|,
        # in one weighted sum: (4 sides, m, d, 3 quantities, k).
        sides = jnp.stack([cu, cd, gu, gd])
        q = jnp.sum(line_w[:, :, None] * sides[:, :, :, None], axis=4)
        per = jnp.stack([hl, hu, hl, hu])  # slopes and curvatures per unit length
        slope, bend = q[:, :, :, 0] / per, jnp.abs(q[:, :, :, 1]) / per
        kink, tent = jnp.abs(slope[0] + slope[1]), slope[2] + slope[3]
        curv, bend_g = jnp.maximum(bend[0], bend[1]), jnp.maximum(bend[2], bend[3])
        kink_factor = where(kinked[idx], _KINK_SEEN, _KINK)[:, None, None]
        hmin = jnp.minimum(hl, hu)
        slope_jump = where(seen(kink * hmin, kink_factor * curv * hmin, noise) > 0, kink, 0.0)
        at_face = jnp.exp(jnp.maximum(q[2, :, :, 2], q[3, :, :, 2]))
        noise_g = _NOISE * eps * (1 + jnp.maximum(jnp.max(jnp.abs(gu), axis=2), jnp.max(jnp.abs(gd), axis=2)))
        sharp = one_sign & (seen(tent * hmin, kink_factor * bend_g * hmin, noise_g) > 0)
        sharp_jump = jnp.minimum(at_face * tent, jnp.finfo(tent.dtype).max * 1e-3)
        slope_jump = jnp.maximum(slope_jump, where(sharp, sharp_jump, 0.0))
        cut = onehot[:, :, None].astype(fx.dtype)
        jnew = jnp.sum(cut * jumps, axis=1)  # the cut axis: (m, k)
        klo, khi = (jnp.sum(cut * slope_jump * hs, axis=1) * (band / 4) for hs in (hl, hu))
        # A half keeps its parent's flags, except at the shared face, which gets the new
        # one. A flag is one number per face, the jump in tolerances (the largest over
        # the components), so that the pool does not grow with the number of components
        # (a Hessian's joint integrand has dozens).
        # A kink's flag is stored negative: its band's error shrinks with the square of the
        # band's width, so each cut across its axis halves it on top of the volume.
        # (A fast cut scales it by the part's share of the width.)
        jrel, krel_lo, krel_hi = (jnp.minimum(jnp.max(x / tol, axis=1), 1 / eps**2) for x in (jnew, klo, khi))  # (m,)
        # (finite when tol is `tiny`)
        jrel_lo, jrel_hi = (where(kr > jrel, -kr, jrel)[:, None, None] for kr in (krel_lo, krel_hi))
        side = jax.nn.one_hot(ax, d, dtype=jnp.bool_)[:, :, None] & jnp.array([False, True])  # (m, d, 2)
        parent = flags[idx]  # (m, d, 2)
        shrink = (cut > 0) & (parent < 0)
        tt = t[:, :, None]
        new_flags = jnp.concatenate([
            where(side, jrel_lo, where(shrink, parent * tt, parent)),
            where(side[:, :, ::-1], jrel_hi, where(shrink, parent * (1 - tt), parent)),
        ])
        per_axis = jnp.sum(jnp.abs(new_flags), axis=2)  # (2m, d)
        extra = band_error(jnp.sum(per_axis, axis=1), tol, hh)
        # While the band's error dominates a half's, the half is cut across the flagged
        # axis with the most.
        worst = jnp.argmax(per_axis, axis=1).astype(a_new.dtype)
        a_new = where(jnp.any(extra > e, axis=1), worst, a_new)
        e = e + extra
        keep_idx = where(pick, idx, limit)
        targets = jnp.concatenate([keep_idx, slot])

        def put(pool, new):
            # (In the pool's dtype: a float64 tolerance made float32 errors float64.)
            return pool.at[targets].set(new.astype(pool.dtype), mode="drop")

        centre, half = put(centre, cc), put(half, hh)
        value, err, axis = put(value, v), put(err, e), put(axis, a_new)
        flags = put(flags, new_flags)
        rule_err = put(rule_err, e_rule)
        kinked = put(kinked, kinked_along(kinks, a_new))
        n_new = jnp.sum(pick, dtype=jnp.int32)
        nused = nused + n_new
        neval = neval + 2 * n_new * npts
        ok = jnp.all(finite | ~jnp.concatenate([pick, pick]))
        code = status(value, err, nused, ok, args)
        # A box too narrow to halve, or (defensively) a pass that could halve nothing.
        stuck = narrow | (n_new == 0)
        code = where((code == _status.RUNNING) & stuck, _status.ROUNDOFF, code)
        return centre, half, value, err, axis, flags, rule_err, kinked, nused, neval, code

    def finish(state):
        value, err, neval, code = state[3], state[4], state[10], state[11]
        return jnp.sum(value, axis=0), jnp.sum(err, axis=0), neval, code

    @jax.jit
    def pass_nodes(rest, args):
        return next(steps(rest, args))

    @jax.jit
    def pass_update(rest, args, fx, kept):
        # (The pass up to f is traced again here, and left unused: it reads `kept`.)
        run = steps(rest, args)
        next(run)
        return finish_steps(run, (fx, kept))

    return types.SimpleNamespace(cond=cond, finish=finish, first_status=first_status, kinked_along=kinked_along,
                                 pass_nodes=pass_nodes, pass_update=pass_update, first_nodes=first_nodes,
                                 first_rest=first_rest)


def adaptive_cubature(fvec, lo, hi, args, *, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """`(value, err, neval, code)` of ∫ over the box [lo, hi] (lo ≤ hi componentwise)."""
    init, cond, body, finish = loop_parts(
        fvec, lo.shape[0], lo.dtype, out_size=out_size, limit=limit, epsabs=epsabs, epsrel=epsrel, nsplit=nsplit,
        exact=exact,
    )
    return finish(while_loop(cond, body, init(lo, hi, args)))
