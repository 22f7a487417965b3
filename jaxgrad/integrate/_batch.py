"""`vmap` of the adaptive loop at the cost of the total work, not the hardest lane × batch.

Plain `vmap` of a `while_loop` runs every lane until the slowest one stops: one lane
with an endpoint singularity among thousands of easy ones makes every lane pay for its
hundred passes. The rule below (installed with `jax.custom_batching.custom_vmap`)
instead:

1. runs the first pass (one Gauss–Kronrod rule per segment, with the loop's own
   acceptance test) for all lanes at once, without allocating any interval pool; most
   easy integrands are finished there;
2. picks the lanes that are still running, `_CHUNK` at a time, and runs the ordinary
   loop on them (one `while_loop`, vmapped over that chunk only if it is wider than
   one lane); their results are scattered back.

So the hard lanes are paid for with the chunk width instead of the batch size. The
chunk is one lane, run as the unbatched loop: a vmapped loop costs its full width per
pass whatever the number of active lanes, on the CPU a wider chunk does not make a
pass much cheaper per lane, and under `vmap` (even of width one) the body's
`lax.cond`s become selects that run both branches on every pass. (Two widths, 64
lanes while many remain and one after, made 100 all-hard lanes ~1.4x faster but
compiled two copies of the loop: 6.0 s instead of 3.6 s for `jit(vmap(quad))`; that
was measured before the single lane ran unbatched.)
A shared pool of intervals refined globally across lanes would balance work even more
finely, but it needs per-lane tolerances in one ranking and a pool as large as the
whole batch's worst case; the chunked resumption reuses the scalar loop unchanged
(the same state, the same body), so a resumed lane's value is bit-for-bit the
unbatched one compiled the same way (`neval` also counts the repeated first pass of a
resumed lane); a lane finished by the first pass, whose sums are vectorized across
lanes, agrees to rounding (the last bit may differ; outside probe).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._loop import while_loop
from .._where import where
from . import _eager_loop, _status
from ._adaptive import (
    _at_breakpoints,
    _breakpoint_peaks,
    _end_band,
    _gauss_kronrod_steps,
    _nonfinite,
    evaluate,
    exact_in,
    finish_steps,
    loop_parts,
    pending_view,
    tolerance_scale,
    tolerances_in,
    unseen,
    unused_probe,
)

_CHUNK = 1


def _broadcast(tree, batched, size):
    return jax.tree_util.tree_map(
        lambda x, b: x if b else jnp.broadcast_to(x, (size,) + jnp.shape(x)), tree, batched
    )


def batched_adaptive_quad(fvec, edges, args, *, out_size, limit, epsabs, epsrel, nsplit, blocks=1, lane=None):
    """`adaptive_quad` over a leading batch axis of `edges` and every leaf of `args`
    (see `resume_unfinished` for the blocks and `lane`)."""
    init, cond, body, finish = loop_parts(
        fvec, edges.shape[1] - 1, edges.dtype, out_size=out_size, limit=limit, epsabs=epsabs,
        epsrel=epsrel, nsplit=nsplit,
    )

    def first_pass(edges, args):
        steps = first_pass_steps(init, edges, args, epsabs, epsrel)
        x, kept = next(steps)
        return finish_steps(steps, (evaluate(fvec, args, x), kept))

    return resume_unfinished(first_pass, (init, cond, body, finish), (edges, args), blocks, lane)


def first_pass_steps(init, edges, args, epsabs, epsrel):
    """The loop's first pass without its pool, for one lane: one rule per segment and the
    same acceptance test (error, finiteness, truncated tails). A generator of steps (as
    `_adaptive._gauss_kronrod_steps`): it yields the nodes where it needs f (and what it
    wants given back with f's values there), and returns `(value, err, neval, code)`;
    `init` is the loop's."""
    pend = pending_view(init(edges, args)[3])
    nseg = edges.shape[0] - 1
    if nseg > 1:
        at_bp = _at_breakpoints(pend, nseg, True)
        probe = where(at_bp, pend["c0"], unused_probe(pend["c0"], pend["c1"]))
        steps = _gauss_kronrod_steps(pend, edges, probe, once=False)
        kron, err, floor, tail, nev, (_, _, saturated), near = finish_steps(steps, (yield next(steps)))
        # A peak flagged at a breakpoint holds error as in the loop (`_breakpoint_peaks`).
        bp_lo, bp_hi = _breakpoint_peaks(near, edges, nseg, at_bp)
        err = err + (bp_lo + bp_hi) * _end_band(pend, pend["slot"] >= 0)
        nev = nev + at_bp.astype(nev.dtype)
    else:
        steps = _gauss_kronrod_steps(pend, edges, once=False)
        kron, err, floor, tail, nev, (_, _, saturated), _ = finish_steps(steps, (yield next(steps)))
    use = (pend["slot"] >= 0)[:, None]
    total = jnp.sum(where(use, kron, 0.0), axis=0)
    errsum = jnp.sum(where(use, err, 0.0), axis=0)
    tailsum = jnp.sum(where(use, tail, 0.0), axis=0)
    floorsum = jnp.sum(where(use, floor, 0.0), axis=0)
    tols = tolerances_in(args, epsabs, epsrel)
    exact = exact_in(args) if epsabs is None else None
    scale = tolerance_scale(total, lambda: jnp.sum(where(use, jnp.abs(kron), 0.0), axis=0), exact)
    tol = jnp.maximum(tols[0], tols[1] * scale)
    # As in the loop: a node on an isolated singular point (infinite error, finite
    # total) is not `nonfinite`; the lane runs on and bisection moves it off.
    # Nothing seen (every node gave f = 0) is confirmed by the loop (`unseen`), and so
    # is a saturated error estimate (the loop's `unsure`).
    done = (jnp.all(errsum <= tol) & ~jnp.any(tailsum > tol) & ~unseen(errsum, floorsum)
            & ~jnp.any(saturated & (pend["slot"] >= 0)))
    code = where(_nonfinite(total, errsum), _status.NONFINITE, where(done, _status.CONVERGED, _status.RUNNING))
    nonempty = pend["c1"] > pend["c0"]
    neval = jnp.sum(where((pend["slot"] >= 0) & nonempty, nev, 0), dtype=jnp.int32)
    return total, errsum, neval, code.astype(jnp.int32)


def resume_unfinished(first_pass, loop, inputs, blocks, lane=None):
    """`(value, err, neval, code)` of an adaptive loop for every lane of `inputs` (a
    tuple of arrays and pytrees with a leading batch axis): `first_pass(*inputs)` for
    all lanes, then the loop `(init, cond, body, finish)` on the lanes whose code is
    still `RUNNING`, `_CHUNK` at a time.

    The batch is handled as `blocks` equal blocks of lanes, and every step (the first
    pass, picking the unfinished lanes, resuming them, writing results back) works
    within a block. With one block per device of a batch sharded along its first axis,
    no step needs another device's lanes, so the compiler keeps the work where the
    data is instead of gathering the batch; only the loops' "any lane running?"
    tests are reduced across devices.

    `lane`, if given, is the whole loop on one lane's inputs, already traced (see
    `with_batched_rule`); with one block the resumed lane is always a real one, so it is
    called as it is instead of tracing the loop's body a second time.
    """
    init, cond, body, finish = loop
    size = jax.tree_util.tree_leaves(inputs)[0].shape[0]
    lanes = size // blocks

    def per_lane(fn):
        return jax.vmap(jax.vmap(fn))

    def per_block(fn):
        return jax.vmap(fn)

    def chunk_lanes(fn, chunk):
        # A chunk of one lane runs the loop unbatched: under `vmap` (even of width one)
        # the loop body's `lax.cond`s would become selects that run both branches on
        # every pass (Wynn's ε among them).
        # (With several blocks, the vmap over blocks still batches the loop.)
        if chunk > 1:
            return per_lane(fn)
        tmap = jax.tree_util.tree_map

        def unbatched(g):  # g on the only entry of a leading axis of length one
            return lambda *xs: tmap(lambda r: r[None], g(*tmap(lambda x: x[0], xs)))

        one = unbatched(fn)
        return per_block(one) if blocks > 1 else unbatched(one)

    def blocked(x):
        return x.reshape((blocks, lanes) + x.shape[1:])

    inputs = jax.tree_util.tree_map(blocked, inputs)
    out = per_lane(first_pass)(*inputs)

    def running(out):
        return out[3] == _status.RUNNING

    def resume(chunk):
        # Restart the unfinished lanes of every block (the first pass is repeated and
        # counted in neval) and run them to the end, `chunk` lanes of each block at a time.
        def run(out):
            idx = per_block(lambda r: jnp.nonzero(r, size=chunk, fill_value=lanes)[0])(running(out))
            take = jnp.minimum(idx, lanes - 1)
            gather = per_block(lambda x, i: x[i])
            sub_inputs = jax.tree_util.tree_map(lambda x: gather(x, take), inputs)

            def solve_lane(inputs, present):
                state = init(*inputs)
                # Padding lanes (idx == lanes) are marked finished so that they do no work.
                code = where(present, state[-1], _status.CONVERGED).astype(jnp.int32)
                return finish(while_loop(cond, body, state[:-1] + (code,)))

            if lane is not None and chunk == 1 and blocks == 1:
                # The loop runs only while a lane is running, so `idx` names one.
                sub = chunk_lanes(lambda inputs, present: lane(*inputs), 1)(sub_inputs, idx < lanes)
            else:
                sub = chunk_lanes(solve_lane, chunk)(sub_inputs, idx < lanes)
            sub = (sub[0], sub[1], sub[2] + gather(out[2], take), sub[3])
            put = per_block(lambda x, i, y: x.at[i].set(y, mode="drop"))
            return tuple(put(x, idx, y) for x, y in zip(out, sub))

        return run

    step = resume(min(_CHUNK, lanes))
    out = lax.while_loop(lambda o: jnp.any(running(o)), step, out)
    return tuple(x.reshape((size,) + x.shape[2:]) for x in out)


def empty_batch(shapes):
    """The outputs of a `vmap` over no lanes: arrays of `shapes` (a pytree of shape and
    dtype structs) with a leading axis of length 0. (The rules index their first lane;
    `vmap` of quad, cubature and nquad over an empty batch raised IndexError and
    ZeroDivisionError; outside probe.)"""
    return jax.tree_util.tree_map(lambda s: jnp.zeros((0,) + tuple(s.shape), s.dtype), shapes)


def _blocks(axis_size):
    """One block of lanes per device when the batch divides evenly (see
    `batched_adaptive_quad`); one block otherwise."""
    n = jax.device_count()
    return n if n > 1 and axis_size % n == 0 else 1


def pooled_solver(fvec, options):
    """`(edges, args) -> (value, err, neval, code)` of `quad`'s loop, with the batched rule for `vmap`."""
    from ._adaptive import adaptive_quad

    def plain(edges, args):
        return adaptive_quad(fvec, edges, args, **options)

    def batched(axis_size, edges, args, lane):
        return batched_adaptive_quad(fvec, edges, args, **options, blocks=_blocks(axis_size), lane=lane)

    solve = with_batched_rule(plain, batched)

    def run(edges, args):
        # Concrete inputs (eager code, or the derivative rule's loop in eager
        # differentiation): the loop pass by pass (see _eager_loop.py).
        if _eager_loop.concrete(edges, args):
            return _eager_loop.eager_adaptive_quad(fvec, edges, args, **options)
        return solve(edges, args)

    return run


def with_batched_rule(plain, batched):
    """`plain(*inputs) -> (value, err, neval, code)`, with `batched(axis_size, *inputs,
    lane)` (inputs broadcast to the batch) as its rule under `vmap`; `lane` is `plain`
    from the trace already made here, for the rule to run on single lanes.

    The loop is traced once here and its array constants (rule tables, index patterns)
    are handed to the `custom_vmap` function as explicit arguments rather than closed
    over: under `vmap` of a `lax.cond` around a derivative of `quad`, partial evaluation
    turns closed-over constants into batched residuals, which `custom_vmap` rejects. As
    explicit arguments they may arrive batched; they are constants of the trace (the
    integrand closes over no tracers: the public functions pass everything it reads as
    arguments), so every row is the same and the rule takes the first.
    """

    def solve(*inputs):
        closed, shapes = jax.make_jaxpr(plain, return_shape=True)(*inputs)
        out_tree = jax.tree_util.tree_structure(shapes)
        consts = list(closed.consts)

        @jax.custom_batching.custom_vmap
        def run(inputs, consts):
            out = jax.core.eval_jaxpr(closed.jaxpr, consts, *jax.tree_util.tree_leaves(inputs))
            return jax.tree_util.tree_unflatten(out_tree, out)

        @run.def_vmap
        def _run_vmap(axis_size, in_batched, inputs, consts):
            if axis_size == 0:
                return empty_batch(shapes), (True, True, True, True)
            consts = [c[0] if b else c for c, b in zip(consts, in_batched[1])]

            def lane(*inputs):
                out = jax.core.eval_jaxpr(closed.jaxpr, consts, *jax.tree_util.tree_leaves(inputs))
                return jax.tree_util.tree_unflatten(out_tree, out)

            inputs = _broadcast(inputs, in_batched[0], axis_size)
            return batched(axis_size, *inputs, lane), (True, True, True, True)

        return run(inputs, consts)

    return solve
