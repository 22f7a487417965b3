"""`jax.vmap` from eager code at a few batch sizes: a new batch size that falls in a
bucket already compiled costs no compile.

`jax.vmap` of `quad` (`cubature`, `quadosc`, `nquad`) called from eager code (no
`jax.jit` or differentiation around it) compiles the batched program for each batch
size: every new length of the batch paid the whole first-call cost again (3.9 s idle
for 100 integrands; 8–14 s under load). Here the batch is padded to the next of four
sizes per octave (…, 64, 80, 96, 112, 128, 160, …: at most 25 % more lanes), the
padded program is compiled once per
size as a top-level program (`jit_core`: XLA's classic CPU emitters, as every eager
first call), and the padding is cut off the outputs. Where it can, a padded lane is
made empty (`empty`: for `quad` on a finite range without `points`, both limits at the
last lane's midpoint, which gives 0, `converged`; the first, vectorized pass evaluates
the integrand there, as the real lane's first rule does; for `cubature` on a finite box,
the box of zero width at its centre); otherwise it repeats the last lane (and costs
what that lane costs). Results agree with `jax.jit(jax.vmap(...))` to
rounding, not bit for bit: the program is compiled with the eager options.

Only on a CPU, with every array on the default device and unsharded (the padding and
the cut are done on the host; elsewhere it would move the work and the outputs), and
for a single `vmap` from eager code, where JAX hands the rule concrete arrays; any
other call keeps the usual batching rule, unchanged.
"""

from __future__ import annotations

import jax
import numpy as np

from ._jit import jit_core


def bucket(n: int) -> int:
    """The padded batch size for `n` lanes: n itself up to 8, else the next multiple of
    2^(bit length of n − 3) (four sizes per octave)."""
    if n <= 8:
        return n
    step = 1 << (n.bit_length() - 3)
    return -(-n // step) * step


def _vmapped(fn, statics, tree, batched, *flat):
    axes = [0 if b else None for b in batched]
    return jax.vmap(lambda *xs: fn(*statics, *jax.tree_util.tree_unflatten(tree, xs)), in_axes=axes)(*flat)


# One program per (function, statics, input structure, padded size): `fn` and `statics`
# are the hashable static arguments its own compiled core is cached by.
_padded = jit_core(static_argnums=(0, 1, 2, 3))(_vmapped)


def _pad(flat, batched, axis_size, size, lead, empty):
    """The leaves padded to `size` lanes as host arrays, and which are batched: the first
    `lead` always (so that a bucket holds one program whatever the lanes hold), taking
    on the padded lanes the values `empty` gives for the last lane's (an empty lane), or
    the last lane's own where it gives None; the other batched leaves repeat their last
    lane. None where the usual rule is kept: a leaf NumPy cannot hold (a typed PRNG key),
    or an array on another device than the default one or sharded (the host round trip
    would move the work and the outputs there)."""
    home = jax.devices()[0]
    for x in flat:
        if isinstance(x, jax.Array) and x.sharding.device_set != {home}:
            return None
    try:
        hosted = [np.asarray(x) if b or i < lead else x for i, (x, b) in enumerate(zip(flat, batched))]
    except TypeError:
        return None
    last = [x[-1] if b else x for x, b in zip(hosted[:lead], batched)]
    fills = None if empty is None else empty(*last)
    padded = []
    for i, (x, b) in enumerate(zip(hosted, batched)):
        if i < lead:
            rows = x if b else np.broadcast_to(x, (axis_size,) + x.shape)
            value = rows[-1] if fills is None else np.asarray(fills[i], rows.dtype)
            fill = np.broadcast_to(value, (size - axis_size,) + rows.shape[1:])
        elif b:
            rows, fill = x, np.broadcast_to(x[-1:], (size - axis_size,) + x.shape[1:])
        else:
            padded.append(x)
            continue
        padded.append(np.concatenate([rows, fill]))
    return padded, tuple(b or i < lead for i, b in enumerate(batched))


def in_buckets(fn, statics, dynamic, lead, empty=None):
    """`fn(*statics, *dynamic)` for a call under a single eager `jax.vmap` (see the module
    docstring). `empty(*last)`: given the last lane's first `lead` leaves of `dynamic`,
    their values on a padded lane that makes it empty (no evaluation of the user's
    function beyond what a real lane does), or None to repeat the last lane; `empty`
    None: every padded lane repeats the last one."""
    flat, tree = jax.tree_util.tree_flatten(dynamic)

    @jax.custom_batching.custom_vmap
    def call(*flat):
        return fn(*statics, *jax.tree_util.tree_unflatten(tree, flat))

    @call.def_vmap
    def rule(axis_size, in_batched, *flat):
        batched = tuple(bool(b) for b in in_batched)
        size, padded = bucket(axis_size), None
        if axis_size > 0 and jax.default_backend() == "cpu" and not any(isinstance(x, jax.core.Tracer) for x in flat):
            padded = _pad(flat, batched, axis_size, size, lead, empty)
        if padded is None:
            out = _vmapped(fn, statics, tree, batched, *flat)
        else:
            out = _padded(fn, statics, tree, padded[1], *padded[0])
            if size != axis_size:  # (cut on the host: slicing a jax array, or jnp.asarray of the
                # cut, compiles a small program per shape)
                out = jax.tree_util.tree_map(lambda y: jax.device_put(np.asarray(y)[:axis_size]), out)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return call(*flat)
