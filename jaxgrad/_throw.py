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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._nan import is_inexact, scale_tangents


def _on_error() -> str:
    """Equinox's `EQX_ON_ERROR` mode, as equinox read it at import."""
    try:
        from equinox._config import EQX_ON_ERROR
    except ImportError:  # pragma: no cover - another equinox: the environment
        import os

        return os.environ.get("EQX_ON_ERROR", "raise")
    return EQX_ON_ERROR


def raise_if(tree, status, bad):
    """`status.error_if(tree, bad)`, with the same check on every derivative of `tree`
    (`status`: an equinox enumeration item; `bad`: a boolean array). Under
    `EQX_ON_ERROR=nan` the integer leaves (a status, a step count) are left as they are:
    equinox made them NaN, which for integers is the largest one, and `minimize`'s
    status printed as an IndexError (outside probe)."""
    if _on_error() != "nan":
        return _raise_if(tree, status, bad)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    inexact = [i for i, x in enumerate(leaves) if is_inexact(x)]
    checked = _raise_if([leaves[i] for i in inexact], status, bad)
    for i, x in zip(inexact, checked):
        leaves[i] = x
    return jax.tree_util.tree_unflatten(treedef, leaves)


@jax.custom_jvp
def _raise_if(tree, status, bad):
    return status.error_if(tree, bad)


@_raise_if.defjvp
def _raise_if_jvp(primals, tangents):
    tree, status, bad = primals
    dtree = tangents[0]
    if not any(is_inexact(x) for x in jax.tree_util.tree_leaves(tree)):
        return _raise_if(tree, status, bad), dtree
    one = status.error_if(jnp.ones((), jnp.float32), bad)  # 1 is exact in every dtype
    return _raise_if(tree, status, bad), scale_tangents(tree, dtree, one)
