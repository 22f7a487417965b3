"""User callables as static arguments of compiled functions, keyed by what they compute.

The public functions that take a callable (`quad`, `quadosc`, `funm`, `trace_function`,
`minimize`, ...) are thin wrappers around one `jax.jit`-compiled core each, so a second call with
the same callable and options runs the cached executable instead of re-tracing and
re-compiling. The callable enters the core as a `Traced`: the callable traced once at
the call's argument types, used as a *static* argument, with every array it closes
over (a global, a closure cell, a tracer of an enclosing transformation) lifted out of
the trace into `consts`, which the core receives as an ordinary *dynamic* argument.

Two `Traced` are equal, so that the compiled program is reused, when they come from the
same code and trace to the same program text:

- the same function object, or the same code object with the same non-array,
  non-number closure values (a lambda re-created by a notebook cell, or in a loop, hits
  the cache; two closures over different helper functions do not), or a callable
  pytree (an `equinox.Module`) of the same structure whose non-array leaves have the
  same origins;
- the same jaxpr, printed. Arrays the callable reads are `consts`, so a new array of
  the same shape and dtype reuses the executable with the new values. Floating-point
  scalars that appear as literals of the top-level program (a global `p = 2.0`, an
  entry of a list the callable reads, a constant written in its code) are lifted into
  `consts` too (`_lift_literals`): a notebook that changes `p` between calls reuses the
  executable with the new value. Literals inside nested programs (a `lax.cond` branch,
  a loop body), the exponent of `x ** p`, integers, and numbers held in a closure cell
  stay part of the text (and of the origin), so a change there re-compiles: never a
  stale value either way.

What the key cannot see is an opaque rule inside the traced program whose behaviour
changed while its name did not (a `custom_jvp` rule reading a mutated global): the
same limitation as `jax.jit`'s cache on function identity.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import numbers
import types

import jax
import numpy as np


class _Same:
    """Identity-compared wrapper for closure values that are part of a key."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Same) and other.obj is self.obj


def _is_value(x) -> bool:
    # Values that reach the program as consts (arrays) or as printed literals (numbers).
    return isinstance(x, (numbers.Number, np.ndarray, np.generic, jax.Array)) or x is None


def _value_key(x):
    """A value's part of an origin: nothing for an array (its values are inputs of the
    program), the number itself for a Python number (printed as a literal where the
    program uses it, but a custom rule's use does not print: a static int that only a
    rule reads must still tell two programs apart)."""
    if isinstance(x, (bool, int, float, complex)):
        return (type(x).__name__, repr(x))
    return None


def _origin(f):
    """The code `f` runs, without the values it reads (those are in the jaxpr)."""
    if isinstance(f, types.MethodType):
        # A bound method shows its function's `__code__`; what its object holds (a
        # custom derivative rule, say) need not show in the program's text.
        return ("method", _origin(f.__func__), _object_origin(f.__self__))
    code = getattr(f, "__code__", None)
    if code is None:
        return _object_origin(f)
    cells = []
    for cell in getattr(f, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        cells.append(_value_key(value) if _is_value(value) else _Same(value))
    # Default arguments are captured values too (`lambda x, g=g: g(x)` in a loop).
    defaults = tuple(getattr(f, "__defaults__", None) or ()) + tuple(
        sorted((getattr(f, "__kwdefaults__", None) or {}).items(), key=lambda kv: kv[0])
    )
    # (A function there by its origin: `lambda *z, r=r: r(*z)` wrapping a lambda that
    # is re-created at each call must still hit the cache.)
    defaults = tuple(_leaf_origin(v) for v in jax.tree_util.tree_leaves(defaults))
    return (code, tuple(cells), defaults)


def _object_origin(obj):
    """A pytree (an `equinox.Module` such as `optimize.tikhonov`'s, a bound method of
    one, a tuple of static arguments): its structure and the origins of its non-value
    leaves; its arrays and numbers are values, read by the trace like a closure's. Any
    other object (a plain class instance, a `jax.custom_jvp` function): by identity."""
    leaves, treedef = jax.tree_util.tree_flatten(obj)
    if len(leaves) == 1 and leaves[0] is obj:
        return _Same(obj)
    return (treedef, tuple(_leaf_origin(leaf) for leaf in leaves))


def _leaf_origin(leaf):
    """A pytree leaf's part of an origin: a value's key, or the origin of a callable
    (identity for anything else, by way of `_object_origin`)."""
    return _value_key(leaf) if _is_value(leaf) else _origin(leaf)


# Programs are compared by their printed text. A callable that calls a jitted function
# (another jaxgrad function: an objective that integrates with `quad`) holds that
# function's whole program as one `jit` equation, and printing it again at every call
# took 50–90 ms for `quad`'s (140 kB of text) where tracing took 3 ms. JAX's jit cache
# hands back the same jaxpr object for the same function and argument types, so the
# text of a `jit` equation's body is printed once per object and hashed; the program
# is printed with a name standing for each such body (JAX's printer prints "shared"
# jaxprs by name), the name being the same for every body of the same text.
_BODY_TOKENS: collections.OrderedDict = collections.OrderedDict()  # id -> (jaxpr, token)
_TEXT_TOKENS: collections.OrderedDict = collections.OrderedDict()  # text digest -> token
_TOKENS = itertools.count()
_MEMO = 64  # bodies held (keeping them alive); JAX caches them anyway


def _body_token(closed) -> str:
    """The token of a `jit` equation's body (a ClosedJaxpr): its text and the values of
    the arrays it captured (constants of the body, which its text does not show: a
    jitted helper closing over a different array is a different program)."""
    hit = _BODY_TOKENS.get(id(closed))
    if hit is not None and hit[0] is closed:
        _BODY_TOKENS.move_to_end(id(closed))
        return hit[1]
    h = hashlib.sha256(str(closed.jaxpr).encode())
    for c in closed.consts:
        c = np.asarray(c)
        h.update(f"{c.dtype}{c.shape}".encode())
        h.update(np.ascontiguousarray(c).tobytes())
    digest = h.hexdigest()
    token = _TEXT_TOKENS.get(digest)
    if token is None:
        token = _TEXT_TOKENS[digest] = f"jit_body_{next(_TOKENS)}"
    _TEXT_TOKENS.move_to_end(digest)
    _BODY_TOKENS[id(closed)] = (closed, token)  # holding it keeps its id unique
    for memo in (_BODY_TOKENS, _TEXT_TOKENS):
        while len(memo) > _MEMO:
            memo.popitem(last=False)
    return token


def _program_text(jaxpr) -> str:
    """`str(jaxpr)`, with the bodies of top-level `jit` equations as tokens (above)."""
    try:
        from jax._src import core

        context = core.JaxprPpContext(core._dropvars(jaxpr))
        for eqn in jaxpr.eqns:
            body = eqn.params.get("jaxpr") if eqn.primitive.name in ("jit", "pjit") else None
            if isinstance(body, core.ClosedJaxpr):
                token = _body_token(body)
                context.shared_jaxprs[body.jaxpr] = token
                context.shared_jaxpr_names.add(token)
        return core.pp_jaxpr(jaxpr, context, core.JaxprPpSettings()).format()
    except Exception:  # JAX's printer internals moved: the plain text, slower
        return str(jaxpr)


class Traced:
    """A callable traced at fixed argument types: hashable, static, callable as
    `traced(consts, *args)`. See the module docstring for when two are equal."""

    __slots__ = ("jaxpr", "in_tree", "out_tree", "out_shape", "_key", "_hash")

    def __init__(self, f, closed, in_tree, out_shape, origin=None):
        self.jaxpr = closed.jaxpr
        self.in_tree = in_tree
        self.out_shape = out_shape
        self.out_tree = jax.tree_util.tree_structure(out_shape)
        const_avals = tuple((np.shape(c), str(jax.numpy.result_type(c))) for c in closed.consts)
        origin = _origin(f) if origin is None else origin
        self._key = (origin, _program_text(closed.jaxpr), in_tree, self.out_tree, const_avals)
        self._hash = hash(self._key)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, Traced) and self._key == other._key

    def __call__(self, consts, *args):
        flat, in_tree = jax.tree_util.tree_flatten(args)
        if in_tree != self.in_tree:
            raise TypeError(f"argument structure {in_tree} differs from the traced {self.in_tree}")
        out = jax.core.eval_jaxpr(self.jaxpr, list(consts), *flat)
        return jax.tree_util.tree_unflatten(self.out_tree, out)


def _liftable(eqn, i, v, core):
    """Whether operand `i` of `eqn`, `v`, is a literal to lift into the consts: a
    floating-point scalar, not the exponent of `pow` (XLA turns a literal exponent 0.5,
    2, -1 into sqrt, a product, a division: lifted, each call would differ from the
    unlifted program in the last bits and run a general power)."""
    if not isinstance(v, core.Literal) or np.shape(v.val) != ():
        return False
    if not np.issubdtype(np.dtype(v.aval.dtype), np.inexact):
        return False
    return not (eqn.primitive.name == "pow" and i == 1)


def _lift_literals(closed):
    """`closed` with the floating-point scalar literals of its top-level equations turned
    into constants (see the module docstring). Falls back to `closed` itself if JAX's
    internals are not as expected (the key is then by value, as before)."""
    try:
        from jax._src import core

        jaxpr = closed.jaxpr
        new_vars, values, eqns = [], [], []
        for eqn in jaxpr.eqns:
            invars = list(eqn.invars)
            for i, v in enumerate(invars):
                if _liftable(eqn, i, v, core):
                    var = core.Var(v.aval)
                    new_vars.append(var)
                    values.append(np.asarray(v.val, dtype=v.aval.dtype))
                    invars[i] = var
            eqns.append(eqn.replace(invars=invars) if invars != list(eqn.invars) else eqn)
        if not new_vars:
            return closed
        lifted = jaxpr.replace(constvars=list(jaxpr.constvars) + new_vars, eqns=eqns)
        return core.ClosedJaxpr(lifted, list(closed.consts) + values)
    except Exception:
        return closed


def trace(f, *example_args, wraps=None):
    """`(Traced, consts)` for `f` at the types of `example_args` (arrays, tracers or
    `jax.ShapeDtypeStruct`s); `traced(consts, *args)` computes `f(*args)`.

    `wraps`: when `f` is a library wrapper around the user's callable, the user's
    callable and the other objects the wrapper captures (a pytree: their origins make
    the key's origin, as a closure's cells do)."""
    # A fresh wrapper each time: `make_jaxpr` caches traces by function identity, which
    # would hand back the values `f` read at its first call.
    def user_callable(*args):
        return f(*args)

    closed, out_shape = jax.make_jaxpr(user_callable, return_shape=True)(*example_args)
    closed = _lift_literals(closed)
    in_tree = jax.tree_util.tree_structure(example_args)
    origin = None if wraps is None else _origin(wraps)
    return Traced(f, closed, in_tree, out_shape, origin), tuple(closed.consts)
