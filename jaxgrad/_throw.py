"""`throw=True`: the status check runs for the value *and for every derivative of it*.

`status.error_if(value, bad)` (equinox) attaches the check to `value` only: its JVP
passes the tangent through untouched. Under `jax.jit(jax.grad(loss))` the primal value
is dead code (only the linearised program is returned) and is removed with its check,
so a solve that did not converge handed back a derivative without raising (found by an
outside probe: `minimize(..., max_steps=1)` under `jit(grad)`, 1.59 where 0.63 is right;
`quad` with too small a `limit` likewise). Here the tangent is dt·m with m = 1 passed
through the same check: m is computed from primal values only, so reverse mode keeps it
as a residual of the forward pass and multiplies the cotangent by it (ct·m, the
transpose of a linear map), and the check runs whichever outputs are used. The values
are untouched (m = 1 exactly). Under `EQX_ON_ERROR=nan`, m is NaN where equinox makes
the value NaN (under `vmap`, equinox does that for the whole batch), times a zero
tangent 0 (`mul_zero_safe`).

In a process with more than one device, in equinox's default mode (`raise`), the check
is instead a `jax.debug.callback` of the whole batch's verdict (one boolean, reduced over
`vmap`'s lanes, and the worst status), run on every device where the verdict is "failed":
equinox raises from a callback on one device whose result the others wait for, and one
failing lane in a batch sharded over 8 host devices left 7 of them in an all-reduce
until XLA aborted the process, after 40 s, with no Python exception (outside probe:
`minimize` and `quad` under `jit(vmap)`, `expm` of one non-Hermitian matrix). The debug
callback has no result, and the program ends with JAX's runtime error on every device.
A callback is an effect, which JAX never removes as dead code (it runs under
`jit(grad)` whichever outputs are used, so the tangents need no check of their own),
but a program with an effect loses JAX's fast dispatch: an eager `expm` of a 3 x 3
took 67 µs instead of 18, so one device keeps equinox's check. So do GPUs and TPUs
(`_sharded_checks`): a partitioned callback does not lower on a TPU (every matrix function
failed to compile in an 8-device process; review), and a TPU squelches errors raised in
callbacks. Under `shard_map` or `pmap` the verdict is each device's own (it is reduced
over `vmap`'s lanes only), and a failing device still leaves the others waiting
(docs/devices.md).
"""

from __future__ import annotations

import functools

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._nan import is_inexact, scale_tangents
from ._where import where


class _CheckFailed(eqx.EquinoxRuntimeError):
    """A `throw=True` check that failed, raised by the host callback (`readable_errors`
    finds its message in JAX's runtime error by this class's name)."""


def _raise(messages, failed, index):
    if np.any(failed):
        raise _CheckFailed(messages[int(np.max(index))])


def _sharded_checks() -> bool:
    """Whether checks are debug callbacks (module docstring): several devices, on a CPU."""
    return jax.device_count() > 1 and jax.default_backend() == "cpu"


def _callback_if(failed, messages, index):
    """The debug callback that raises, run only where `failed` (a replicated scalar:
    a callback costs ~0.2 ms a call). Partitioned: on a sharded batch each device runs
    it on its copy of the verdict and raises itself, with nothing to wait for."""
    def run(failed, index):
        jax.debug.callback(functools.partial(_raise, messages), failed, index, partitioned=True)

    lax.cond(failed, run, lambda *_: None, failed, index)


def check(fail, message):
    """A scalar `False` that carries the run-time check "raise `message` if `fail`" (a
    boolean array; under `vmap`, any lane): join it into a mask that the result depends
    on. With several CPU devices, in equinox's default mode, the check is a debug callback
    (see the module docstring: a sharded batch is safe); otherwise `equinox.error_if`,
    whose `EQX_ON_ERROR=nan` makes the returned scalar NaN-like (True)."""
    token = jnp.zeros((), dtype=bool)
    if _on_error() != "raise" or not _sharded_checks():
        return eqx.error_if(token, fail, message)
    _callback_if(eqxi.unvmap_any(jnp.any(fail)), (message,), jnp.zeros((), jnp.int32))
    return token


def _on_error() -> str:
    """Equinox's `EQX_ON_ERROR` mode, as equinox read it at import."""
    try:
        from equinox._config import EQX_ON_ERROR
    except ImportError:  # pragma: no cover - another equinox: the environment
        import os

        return os.environ.get("EQX_ON_ERROR", "raise")
    return EQX_ON_ERROR


def raise_if(tree, status, bad, fn=None):
    """`status.error_if(tree, bad)`, with the same check on every derivative of `tree`
    (`status`: an equinox enumeration item; `bad`: a boolean array), its message the
    status's prefixed with `fn` (the public function's name, so that a failure in a
    program of several calls says which one failed). Under `EQX_ON_ERROR=nan` the
    integer leaves (a status, a step count) are left as they are: equinox made them NaN,
    which for integers is the largest one, and `minimize`'s status printed as an
    IndexError (outside probe)."""
    messages = tuple(status._enumeration._index_to_message)
    if fn is not None:
        messages = tuple(f"{fn}: {m}" for m in messages)
    mode = _on_error()
    if mode == "raise" and _sharded_checks():
        bad = jnp.asarray(bad)
        failed = eqxi.unvmap_any(jnp.any(bad))
        _callback_if(failed, messages, _worst_failure(status, bad))
        return tree
    if mode != "nan":
        return _raise_if(tree, status, bad, messages)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    inexact = [i for i, x in enumerate(leaves) if is_inexact(x)]
    checked = _raise_if([leaves[i] for i in inexact], status, bad, messages)
    for i, x in zip(inexact, checked):
        leaves[i] = x
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _worst_failure(status, bad):
    """The largest status value among the failed lanes of the whole batch (0 if none)."""
    return _batch_max(jnp.max(where(jnp.asarray(bad), status._value, 0), initial=0))


@jax.custom_batching.custom_vmap
def _batch_max(index):
    """`index` (a scalar) as one value for the whole batch: its largest over `vmap`'s
    lanes. As `equinox.internal.unvmap_max`, whose reduction has no identity: `vmap`
    over an empty batch of `minimize` (its default `throw=True`) raised "zero-size array
    to reduction operation max" (outside probe)."""
    return index


@_batch_max.def_vmap
def _batch_max_vmap(axis_size, in_batched, index):
    del axis_size, in_batched  # (the one argument is batched, along axis 0)
    return _batch_max(jnp.max(index, axis=0, initial=0)), False


def _error_if(tree, status, bad, messages):
    """equinox's check on `tree`: raise the worst failed lane's message if any lane of `bad`."""
    return eqx.branched_error_if(tree, bad, _worst_failure(status, bad), messages)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _raise_if(tree, status, bad, messages):
    return _error_if(tree, status, bad, messages)


@_raise_if.defjvp
def _raise_if_jvp(messages, primals, tangents):
    tree, status, bad = primals
    dtree = tangents[0]
    if not any(is_inexact(x) for x in jax.tree_util.tree_leaves(tree)):
        return _raise_if(tree, status, bad, messages), dtree
    one = _error_if(jnp.ones((), jnp.float32), status, bad, messages)  # 1 is exact in every dtype
    return _raise_if(tree, status, bad, messages), scale_tangents(tree, dtree, one)
