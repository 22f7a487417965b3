"""`vmap` of the adaptive cubature at the cost of the total work, not the hardest lane × batch.

The same scheme as `quad`'s (`_batch.py`): one rule on the whole box for every lane at
once, without allocating a pool of boxes (most easy integrands are finished there),
then the ordinary loop on the lanes that are still running, one at a time, their
results scattered back. A batched value is bit-for-bit the unbatched one.
"""

from __future__ import annotations

import jax.numpy as jnp

from . import _eager_loop, _status
from ._batch import _blocks, resume_unfinished, with_batched_rule
from ._cubature_adaptive import adaptive_cubature, loop_parts, rule_parts
from ._quad import fvec_out


def pooled_cubature(fvec, options):
    """`(lo, hi, args) -> (value, err, neval, code)`, with the batched rule for `vmap`."""

    def plain(lo, hi, args):
        return adaptive_cubature(fvec, lo, hi, args, **options)

    def batched(axis_size, lo, hi, args, lane):
        d, dtype = lo.shape[1], lo.dtype
        loop = loop_parts(fvec, d, dtype, **options)
        evaluate, npts = rule_parts(fvec, d, dtype)

        def first_pass(lo, hi, args):
            # The loop's initial box, with the loop's acceptance test, without its pool.
            half = ((hi - lo) / 2)[None]
            value, err, _, finite, _, _, _ = evaluate(((lo + hi) / 2)[None], half, args)
            value, err, code = loop[0].first_status(value, err, finite[0], half, args)
            # (Never finished here but for a box of zero width, 0: the loop's first step
            # also checks the box's outer faces for a jump, which this pass does not.)
            code = jnp.where((code == _status.CONVERGED) & jnp.all(half != 0), _status.RUNNING, code)
            return value[0], err[0], jnp.int32(npts), code

        return resume_unfinished(first_pass, loop, (lo, hi, args), _blocks(axis_size), lane)

    solve = with_batched_rule(plain, batched)

    def run(lo, hi, args):
        # Concrete inputs (the derivative rule's loops in eager differentiation): the loop
        # pass by pass (see _eager_loop.py).
        if _eager_loop.concrete(lo, hi, args):
            val_dtype = fvec_out(fvec, lo, args).dtype
            return _eager_loop.eager_adaptive_cubature(fvec, lo, hi, args, val_dtype=val_dtype, **options)
        return solve(lo, hi, args)

    return run
