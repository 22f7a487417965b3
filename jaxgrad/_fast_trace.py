"""The two costs of tracing a user's callable again at every eager call, made smaller:
JAX's `make_jaxpr`, and printing the program to key it (`_traced.py`).

Every public function that takes a callable traces it at each call (`_traced.trace`):
the trace is what reads the values the callable closes over, so that a changed global
or a new array is never answered from a stale program. On the integrand
e^(−px)/√x that trace cost ~1.0 ms of a 3.0 ms eager `quad`, of which

- `jax.make_jaxpr` 0.66 ms, where the callable's own operations took ~0.4 ms: the rest is
  `jax.jit`'s machinery (`make_jaxpr` is `jax.jit(f).trace(...)`: parsing jit's
  arguments, inferring shardings). `make_jaxpr` below traces with JAX's tracer directly,
  as `jax.jit` does inside (`partial_eval.trace_to_jaxpr_dynamic`): the same program
  (checked below at import, and by tests/test_cache.py against `jax.make_jaxpr` on
  callables with closures, tracers, jitted helpers, conditionals and custom rules);
- printing the program 0.17 ms (JAX's pretty printer, ~25 µs an equation). The text is
  the key's part that says what the program computes. `same_program` says whether two
  programs are the same equation for equation (the same primitives with the same
  parameters, wired alike, the same literals and types), in a few µs an equation; when
  the program of the last call with the same origin is the same, its text is the
  text of the new one (printing is a function of what `same_program` compares), and
  printing is skipped. Anything it cannot compare by value (a nested program that is
  not the very same object, a parameter whose equality is not plainly by value) makes
  it answer "not the same", and the program is printed as before: slower, never a
  different key.

If JAX's internals are not as expected (a newer JAX), `make_jaxpr` is `jax.make_jaxpr`
and `same_program` always says no.
"""

from __future__ import annotations

import inspect
import numbers

import jax
import numpy as np

try:
    from jax._src import api_util, core
    from jax._src import config as _config
    from jax._src import linear_util as lu
    from jax._src.interpreters import partial_eval as pe

    _INTERNALS = True
except ImportError:  # pragma: no cover - another JAX: the public routes
    _INTERNALS = False


def _positional(*args):
    pass


# The signature of a callable taking `*args` (`_traced.trace`'s wrapper of the user's
# callable): `inspect.signature` took ~40 µs a call.
_POSITIONAL = inspect.signature(_positional)


def _trace_directly(f, *example_args):
    flat, in_tree = jax.tree_util.tree_flatten(example_args)
    avals = [core.shaped_abstractify(x) for x in flat]
    code = getattr(f, "__code__", None)
    only_args = code is not None and (code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)) == inspect.CO_VARARGS
    only_args = only_args and code.co_argcount == 0 and code.co_kwonlyargcount == 0
    debug = api_util.debug_info("make_jaxpr", f, example_args, {}, signature=_POSITIONAL if only_args else None)

    # JAX's own check of the returned values needs the output paths that only
    # `jax.make_jaxpr` records: `f` returning a string raised "object of type 'NoneType'
    # has no len()" (outside probe).
    def checked(*args):
        out = f(*args)
        for leaf in jax.tree_util.tree_leaves(out):
            if not core.valid_jaxtype(leaf):
                raise TypeError(f"it returned a value of type {type(leaf).__name__}, not an array or a number")
        return out

    flat_f, out_tree = api_util.flatten_fun_nokwargs(lu.wrap_init(checked, debug_info=debug), in_tree)
    jaxpr, out_avals, consts = pe.trace_to_jaxpr_dynamic(flat_f, avals)
    shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in out_avals]
    return core.ClosedJaxpr(jaxpr, consts), jax.tree_util.tree_unflatten(out_tree(), shapes)


def _public(f, *example_args):
    return jax.make_jaxpr(f, return_shape=True)(*example_args)


def _direct_route_works() -> bool:
    """Whether tracing directly gives `jax.make_jaxpr`'s program on a small callable."""
    if not _INTERNALS:
        return False
    try:
        w = np.arange(2.0)

        def probe(x, p):
            return jax.numpy.sum(w * jax.numpy.exp(-p * x)), x

        args = (jax.ShapeDtypeStruct((2,), np.float32), 2.0)
        (a, a_out), (b, b_out) = _public(probe, *args), _trace_directly(probe, *args)
        return str(a) == str(b) and a_out == b_out and len(a.consts) == len(b.consts)
    except Exception:
        return False


_DIRECT = _direct_route_works()


def make_jaxpr(f, *example_args):
    """`jax.make_jaxpr(f, return_shape=True)(*example_args)`: `(closed jaxpr, output
    shapes)`, traced directly when JAX's internals allow (see the module docstring).
    With JAX's debugging checks on (`jax_debug_key_reuse`, `jax.no_tracing`,
    `jax_enable_checks`) through `jax.make_jaxpr`, which runs them."""
    direct = _DIRECT and not (_config.debug_key_reuse.value or _config.no_tracing.value or _config.enable_checks.value)
    return (_trace_directly if direct else _public)(f, *example_args)


# Parameter values whose equality is by value and whose printed form follows from it.
_PLAIN = (bool, int, str, bytes, type(None), np.dtype, np.bool_, np.integer)


def _same_value(a, b, alive) -> bool:
    if isinstance(a, (core.Jaxpr, core.ClosedJaxpr)):
        return a is b and alive(a)
    if isinstance(a, (np.ndarray, list, dict, set, bytearray)):
        # A mutable value may have changed in place since the old program was printed
        # (when it is the same object, or the old one was changed): not compared.
        return False
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, _PLAIN):
        return a == b
    if isinstance(a, (float, complex, np.floating, np.complexfloating)):
        return repr(a) == repr(b)  # 0.0 and −0.0 print apart
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same_value(x, y, alive) for x, y in zip(a, b))
    if callable(a):
        return False  # (not the same object)
    try:  # an immutable object compared by value (a sharding, an enum, a tuple of numbers)
        return bool(a == b) and str(a) == str(b)
    except Exception:
        return False


def _same_aval(a, b) -> bool:
    return type(a) is type(b) and a == b and getattr(a, "weak_type", None) == getattr(b, "weak_type", None)


def _same_literal(a, b) -> bool:
    if not _same_aval(a.aval, b.aval) or type(a.val) is not type(b.val):
        return False
    x, y = a.val, b.val
    if isinstance(x, (numbers.Number, np.generic, np.ndarray)):
        x, y = np.asarray(x), np.asarray(y)
        return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    return False  # (a device array: not compared)


def same_program(new, old, alive=lambda jaxpr: True, body_alive=lambda body: True) -> bool:
    """Whether the jaxprs `new` and `old` are the same program, equation for equation:
    then they print alike. `False` whenever that cannot be told cheaply. A nested program
    counts as the same only as the very same object for which `alive(it)` holds, or
    `body_alive(it)` for the body of a `jit` equation (the caller prints those by a
    memoised token)."""
    if not _INTERNALS:
        return False
    try:
        if (
            len(new.eqns) != len(old.eqns)
            or len(new.invars) != len(old.invars)
            or len(new.constvars) != len(old.constvars)
            or len(new.outvars) != len(old.outvars)
            or new.effects != old.effects
        ):
            return False
        bound = {}  # new variable -> old variable

        def bind(n, o):
            if isinstance(n, core.DropVar) or isinstance(o, core.DropVar):
                return type(n) is type(o) and _same_aval(n.aval, o.aval)
            if not _same_aval(n.aval, o.aval):
                return False
            bound[n] = o
            return True

        def read(n, o):
            if isinstance(n, core.Literal) or isinstance(o, core.Literal):
                return isinstance(n, core.Literal) and isinstance(o, core.Literal) and _same_literal(n, o)
            return bound.get(n) is o

        if not all(map(bind, new.constvars, old.constvars)) or not all(map(bind, new.invars, old.invars)):
            return False
        for e, f in zip(new.eqns, old.eqns):
            if (
                e.primitive is not f.primitive
                or e.ctx is not f.ctx
                or e.effects != f.effects
                or len(e.invars) != len(f.invars)
                or len(e.outvars) != len(f.outvars)
                or e.params.keys() != f.params.keys()
            ):
                return False
            if not all(map(read, e.invars, f.invars)):
                return False
            jit = e.primitive.name in ("jit", "pjit")
            if not all(_same_value(e.params[k], f.params[k], body_alive if jit and k == "jaxpr" else alive)
                       for k in e.params):
                return False
            if not all(map(bind, e.outvars, f.outvars)):
                return False
        return all(map(read, new.outvars, old.outvars))
    except Exception:
        return False
