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
  the cache; two closures over different helper functions do not; a container in a
  closure cell by its structure and its leaves' origins, numbers by value), or a
  callable pytree (an `equinox.Module`) of the same structure
  whose non-array leaves have the same origins;
- the same jaxpr, printed (printed once while the callable traces to the same program
  call after call: `_text_of`, `_fast_trace.py`). Arrays the callable reads are `consts`, so a new array of
  the same shape and dtype reuses the executable with the new values. Floating-point
  scalars that appear as literals of the top-level program (a global `p = 2.0`, an
  entry of a list the callable reads, a constant written in its code) are lifted into
  `consts` too (`_lift_literals`, packed into one vector per dtype): a notebook that
  changes `p` between calls reuses the executable with the new value. Literals inside
  nested programs (a `lax.cond` branch, a loop body), the exponent of `x ** p`,
  integers, numbers held in a closure cell, and every literal of a program that
  contains a custom derivative or batching rule not defined in JAX or jaxgrad
  themselves (`jax.custom_gradient`, `defjvps` and equinox's wrappers count as the
  user's: the rule may read the number as a global, `_rules_are_libraries`; such a
  program also keys the arrays in its closure cells by value, `_hidden_arrays`) stay
  part of the text (and of the origin), so a change there re-compiles: never a stale
  value either way.

With such a rule in the program, the functions of the user's code behind its rules
are part of the key by identity (`_user_rules`: a rule defined again is a new program),
and their arrays by value. Array literals are copied into the program
(`_own_literals`): JAX's literal for a 0-d NumPy array is a view of it. The bodies of
jitted functions called anywhere in the program key by their text and captured arrays
(`_program_text`).

The functions behind the program's callbacks, which its text names with their
addresses masked, are part of the key by their code and the values they hold
(`_unseen`). With JAX's `jax_use_simplified_jaxpr_constants`, arrays the callable
closes over are literals of the program, not constants: those of the top-level program
become constants again (`_array_literals_as_consts`), the values of the others are part
of the key (`_unseen`).

What the key cannot see is an opaque rule inside the traced program whose behaviour
changed while its identity and the program did not (a `custom_jvp` rule reading a
mutated global that the program never mentions): the same limitation as `jax.jit`'s
cache on function identity.
"""

from __future__ import annotations

import builtins
import collections
import dis
import functools
import hashlib
import numbers
import os
import struct
import sys
import sysconfig
import threading
import types

import equinox
import jax
import numpy as np

from ._fast_trace import make_jaxpr, same_program


class _Same:
    """Identity-compared wrapper for closure values that are part of a key."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, _Same) and other.obj is self.obj


def _hash_array(h, x):
    """Feed an array's dtype, shape and values to the hash `h` (keys by value)."""
    a = np.asarray(x)
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h


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
    if isinstance(f, functools.partial):
        # `partial(f, p=2.0)` made afresh at each call: its function's origin and its
        # bound arguments as a closure's cells (arrays are read by the trace, numbers
        # are part of the key by value).
        return ("partial", _origin(f.func), _object_origin((f.args, f.keywords or {})))
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
        # A container (a params dict, a tuple, an equinox Module made afresh at each step
        # of a training loop) by its structure and its leaves' origins, numbers by value
        # as in a cell (a rule may read one unseen: `tie_rtol=cfg["tie"]` of an `eigh` in
        # the integrand, read only by its derivative rule); by identity it compiled again
        # at every step, 13–18 s for a value and its gradient (outside probe).
        cells.append(_value_key(value) if _is_value(value) else _object_origin(value))
    # Default arguments are captured values too (`lambda x, g=g: g(x)` in a loop).
    defaults = tuple(getattr(f, "__defaults__", None) or ()) + tuple(
        sorted((getattr(f, "__kwdefaults__", None) or {}).items(), key=lambda kv: kv[0])
    )
    # (A function there by its origin: `lambda *z, r=r: r(*z)` wrapping a lambda that
    # is re-created at each call must still hit the cache.)
    defaults = tuple(_leaf_origin(v) for v in jax.tree_util.tree_leaves(defaults))
    # (With its module's globals by identity: the same code in two modules, where a
    # rule or callback may read a global of its own module, is two programs.)
    return (_code_key(code), _Same(getattr(f, "__globals__", None)), tuple(cells), defaults)


@functools.lru_cache(maxsize=1024)
def _code_key(code):
    """`code` without its line numbers (nested code objects too): Python's code objects
    compare their first line, so the same lambda written on another line (a notebook
    cell with a line added above it, the same `dblquad` limit twice in a script) was a
    new program, compiled again."""
    consts = tuple(_code_key(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    try:
        return code.replace(co_firstlineno=1, co_linetable=b"", co_consts=consts)
    except (TypeError, ValueError):  # another Python's code objects: as they are
        return code


def _object_origin(obj):
    """A pytree (an `equinox.Module` such as `optimize.tikhonov`'s, a bound method of
    one, a tuple of static arguments): its structure and the origins of its non-value
    leaves; its arrays and numbers are values, read by the trace like a closure's. Any
    other object (a plain class instance, a `jax.custom_jvp` function), or one JAX
    cannot flatten (a dict whose keys do not sort): by identity."""
    try:
        leaves, treedef = jax.tree_util.tree_flatten(obj)
    except Exception:
        return _Same(obj)
    if len(leaves) == 1 and leaves[0] is obj:
        return _Same(obj)
    return (treedef, tuple(_leaf_origin(leaf) for leaf in leaves))


def _leaf_origin(leaf):
    """A pytree leaf's part of an origin: a value's key, or the origin of a callable
    (identity for anything else, by way of `_object_origin`)."""
    return _value_key(leaf) if _is_value(leaf) else _origin(leaf)


class _ByObject:
    """A bounded memo keyed by an object's identity, least recently used out. It holds
    the object, which keeps its id unique while the entry lives (JAX's caches hand back
    the same program object for the same function, so a hit is the same program)."""

    def __init__(self, size):
        self.size, self.entries = size, collections.OrderedDict()  # id -> (obj, value)

    def get(self, obj):
        hit = self.entries.get(id(obj))
        if hit is None or hit[0] is not obj:
            return None
        self.entries.move_to_end(id(obj))
        return hit[1]

    def put(self, obj, value):
        self.entries[id(obj)] = (obj, value)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return value


# Programs are compared by their printed text. A callable that calls a jitted function
# (another jaxgrad function: an objective that integrates with `quad`) holds that
# function's whole program as one `jit` equation, and printing it again at every call
# took 50–90 ms for `quad`'s (140 kB of text) where tracing took 3 ms. JAX's jit cache
# hands back the same jaxpr object for the same function and argument types, so the
# text of a `jit` equation's body is printed once per object and hashed; the program
# is printed with a name standing for each such body (JAX's printer prints "shared"
# jaxprs by name), the name being the same for every body of the same text.
_MEMO = 64  # programs held (keeping them alive); JAX caches them anyway
_BODY_TOKENS = _ByObject(16 * _MEMO)  # jit body -> token


def _body_token(closed) -> str:
    """The token of a `jit` equation's body (a ClosedJaxpr): its text and the values of
    the arrays it captured (constants of the body, which its text does not show: a
    jitted helper closing over a different array is a different program)."""
    hit = _BODY_TOKENS.get(closed)
    if hit is not None:
        return hit
    # (Its text with its own nested `jit` bodies as tokens: their captured arrays count.)
    h = hashlib.sha256(_program_text(closed.jaxpr).encode())
    h.update(_unseen(closed.jaxpr)[1].encode())
    for c in closed.consts:
        _hash_array(h, c)
    # The name is the digest itself, not a counter: a program holding more bodies than
    # the memo (JAX's own `where`, `clip`, ... are jitted) got new names for evicted
    # ones at every call, a new key, and compiled at every call (6.9 s each).
    return _BODY_TOKENS.put(closed, f"jit_body_{h.hexdigest()[:24]}")


def _program_text(jaxpr, tokens=None) -> str:
    """`str(jaxpr)`, with the bodies of `jit` equations as tokens (above), at any depth:
    a jitted helper called in a `lax.cond` branch printed as its text alone, which does
    not show the arrays it captured (a new helper over a new array gave the old result).
    `tokens`, if given, records them: `id(body) -> (body, token)`."""
    try:
        from jax._src import core

        context = core.JaxprPpContext(core._dropvars(jaxpr))

        def register(jx):  # every `jit` body, also inside a cond branch or a loop body
            for eqn in jx.eqns:
                body = eqn.params.get("jaxpr") if eqn.primitive.name in ("jit", "pjit") else None
                if isinstance(body, core.ClosedJaxpr):
                    token = _body_token(body)
                    if tokens is not None:
                        tokens[id(body)] = (body, token)
                    context.shared_jaxprs[body.jaxpr] = token
                    context.shared_jaxpr_names.add(token)
                else:
                    for sub in core.jaxprs_in_params(eqn.params):
                        register(sub)

        register(jaxpr)
        return core.pp_jaxpr(jaxpr, context, core.JaxprPpSettings()).format()
    except Exception:  # JAX's printer internals moved: the plain text, slower
        return str(jaxpr)


class _Recent:
    """A bounded memo keyed by equality, least recently used out, safe across threads
    (`_LAST`, `_PLAIN`). `get` raises TypeError for a key that does not hash."""

    def __init__(self, size):
        self.size, self.entries, self.lock = size, collections.OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None:
                self.entries.move_to_end(key)
            return hit

    def put(self, key, value):
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value


_LAST = _Recent(4 * _MEMO)  # origin -> (program, text, tokens) of its last trace


def _printed_alike(nested, tokens) -> bool:
    """Whether `_program_text` prints the nested program `nested` (met again as the very
    same object, not a `jit` body) as it did when it printed the text that recorded the
    `jit` bodies' `tokens`: every `jit` body in it still has the same token."""
    from jax._src import core

    jaxpr = nested.jaxpr if isinstance(nested, core.ClosedJaxpr) else nested
    for eqn in jaxpr.eqns:
        body = eqn.params.get("jaxpr") if eqn.primitive.name in ("jit", "pjit") else None
        if isinstance(body, core.ClosedJaxpr):
            if not _same_token(body, tokens):
                return False
        elif not all(_printed_alike(sub, tokens) for sub in core.jaxprs_in_params(eqn.params)):
            return False
    return True


def _same_token(body, tokens) -> bool:
    """Whether the `jit` body `body` has the token it had when `tokens` were recorded (a
    token evicted and made again reads the body's constants again: a NumPy array changed
    in place since gives another)."""
    recorded = tokens.get(id(body))
    return recorded is not None and recorded[0] is body and _BODY_TOKENS.get(body) == recorded[1]


def _text_of(jaxpr, origin) -> str:
    """`_program_text(jaxpr)`, or the text of the last program traced from the same
    origin if `jaxpr` is the same program (`_fast_trace.same_program`) with the same
    tokens for its `jit` bodies: a callable traced again at every eager call is printed
    once (0.17 ms a call on a five-operation integrand)."""
    try:
        last = _LAST.get(origin)
    except TypeError:  # an origin that does not hash: the key will say so
        return _program_text(jaxpr)
    if last is not None:
        old, text, tokens = last
        if same_program(jaxpr, old, lambda nested: _printed_alike(nested, tokens),
                        lambda body: _same_token(body, tokens)):
            return text
    tokens = {}
    text = _program_text(jaxpr, tokens)
    _LAST.put(origin, (jaxpr, text, tokens))
    return text


class Traced:
    """A callable traced at fixed argument types: hashable, static, callable as
    `traced(consts, *args)`. See the module docstring for when two are equal."""

    __slots__ = ("jaxpr", "in_tree", "out_tree", "out_shape", "_n_consts", "_layout", "_key", "_hash")

    def __init__(self, f, closed, in_tree, out_shape, origin=None, layout=()):
        self.jaxpr = closed.jaxpr
        self.in_tree = in_tree
        self.out_shape = out_shape
        self.out_tree = jax.tree_util.tree_structure(out_shape)
        # `layout`: where each lifted literal sits in the packed vectors (`_pack`).
        self._n_consts = len(closed.consts)
        self._layout = tuple(layout)
        const_avals = tuple((np.shape(c), str(jax.numpy.result_type(c))) for c in closed.consts)
        origin = _origin(f) if origin is None else origin
        self._key = (
            origin, _text_of(closed.jaxpr, origin), in_tree, self.out_tree, const_avals, self._layout,
        )
        self._hash = hash(self._key)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, Traced) and self._key == other._key

    def __call__(self, consts, *args):
        flat, in_tree = jax.tree_util.tree_flatten(args)
        if in_tree != self.in_tree:
            raise TypeError(f"argument structure {in_tree} differs from the traced {self.in_tree}")
        consts = list(consts)
        if self._layout:
            packed = consts[self._n_consts:]
            consts = consts[: self._n_consts] + [
                jax.lax.index_in_dim(packed[g], i, keepdims=False) for g, i in self._layout
            ]
        out = jax.core.eval_jaxpr(self.jaxpr, consts, *flat)
        return jax.tree_util.tree_unflatten(self.out_tree, out)


def _liftable(eqn, i, v, core):
    """Whether operand `i` of `eqn`, `v`, is a literal to lift into the consts: a
    floating-point scalar, not the exponent of `pow` (XLA turns a literal exponent 0.5,
    2, -1 into sqrt, a product, a division: lifted, each call would differ from the
    unlifted program in the last bits and run a general power)."""
    if not isinstance(v, core.Literal) or np.shape(v.val) != ():
        return False
    if not jax.numpy.issubdtype(v.aval.dtype, jax.numpy.inexact):  # bfloat16 too
        return False
    return not (eqn.primitive.name == "pow" and i == 1)


def _package_dir(name):
    module = sys.modules.get(name)
    return os.path.dirname(os.path.abspath(module.__file__)) + os.sep if module else None


# Packages whose own custom rules read nothing but their arguments. JAX's generic
# wrappers of a rule the user passes (`jax.custom_gradient`, `defjvps`) live in
# `custom_derivatives.py`, and a `custom_vmap` rule shows no source at all: neither is
# trusted. Nor is equinox: its `filter_custom_jvp` wraps the user's rule in the same
# code as its own `error_if` (so a jaxgrad matrix function inside an integrand, which
# checks its input with `error_if`, turns lifting off: correct, compiled per value).
_LIBRARIES = tuple(d for d in map(_package_dir, ("jax", __package__)) if d)
_GENERIC = os.path.join(_package_dir("jax"), "_src", "custom_derivatives.py")
_RULE_MEMO = _ByObject(4 * _MEMO)  # program -> verdict


def _trusted_source(info) -> bool:
    path = info.rpartition(" at ")[2].rpartition(":")[0] if isinstance(info, str) else ""
    path = os.path.abspath(path) if path else ""
    return bool(path) and path != _GENERIC and path.startswith(_LIBRARIES)


def _rules_are_libraries(jaxpr, core, memo=True) -> bool:
    """Whether every custom rule in the program (`custom_jvp`, `custom_vjp`,
    `custom_vmap`, ..., nested programs included) was defined in JAX or jaxgrad.

    A rule the user wrote may read a global (`T` below) that the program shows only as a
    literal operand, or not at all: it is traced when the program is differentiated or
    batched, reading the value of that moment, and a cached program built on it would
    keep the old value once the literal is lifted. So one user rule anywhere turns
    lifting off, and every literal stays in the key by value::

        @jax.custom_jvp
        def g(u, t): ...          # its rule reads the global T
        f = lambda x: g(q * x, T)

    Nested programs are memoised by object (JAX's caches hand back the same one); the
    top-level program, new at every call, is not (`memo=False`: it would only push the
    nested ones out)."""
    hit = _RULE_MEMO.get(jaxpr) if memo else None
    if hit is not None:
        return hit
    verdict = True
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name.startswith("custom"):
            if "vmap" in name:
                verdict = False
                break
            sources = [
                getattr(getattr(v, "debug_info", None), "func_src_info", None)
                for v in eqn.params.values()
                if not isinstance(v, (bool, int, str, type(None)))
            ]
            sources += [
                getattr(getattr(j, "debug_info", None), "func_src_info", None)
                for j in core.jaxprs_in_params(eqn.params)
            ]
            known = [s for s in sources if isinstance(s, str)]
            if not known or not all(map(_trusted_source, known)):
                verdict = False
                break
        if not all(_rules_are_libraries(sub, core) for sub in core.jaxprs_in_params(eqn.params)):
            verdict = False
            break
    return _RULE_MEMO.put(jaxpr, verdict) if memo else verdict


def _has_user_rules(closed) -> bool:
    """Whether the program holds a custom rule not known to be a library's (see
    `_rules_are_libraries`); `True` if JAX's internals are not as expected."""
    try:
        from jax._src import core

        return not _rules_are_libraries(closed.jaxpr, core, memo=False)
    except Exception:
        return True


def _user_code(fn) -> bool:
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    path = os.path.abspath(code.co_filename) if not code.co_filename.startswith("<") else code.co_filename
    return not path.startswith(_INSTALLED)


_INSTALLED = tuple(
    d for d in {
        *(sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib")),
        *filter(None, map(_package_dir, ("jax", "jaxlib", "equinox", "optax", "lineax", __package__))),
    } if d
)


_USER_RULE_MEMO = _ByObject(4 * _MEMO)  # program -> its user rules


def _diggable(obj) -> bool:
    # A function, a callable object, or JAX's `linear_util.WrappedFun` (not callable).
    return callable(obj) or hasattr(obj, "f_transformed")


def _user_rules(jaxpr):
    """The functions of the user's own code behind the custom rules of the program
    (nested programs included), as identities: found through the rules' wrappers (a
    `custom_jvp`'s rule, a `custom_vjp`'s forward and backward functions, a
    `custom_gradient`'s function, equinox's wrapped rule), each wrapper's closure
    searched a few levels deep. A rule defined again (a notebook cell run again) is a
    new object: the key changes, even where its code, its name and the program do not
    (it may read a global that is now different)."""
    try:
        from jax._src import core
    except Exception:
        return ()

    def dig(obj, depth, found, seen):
        if depth > 6 or id(obj) in seen:
            return
        seen.add(id(obj))
        if _user_code(obj):
            found.append(_Same(obj))
            return
        inner = getattr(obj, "f", None)  # a `linear_util.WrappedFun`
        if inner is not None and not isinstance(obj, types.FunctionType):
            dig(inner, depth + 1, found, seen)
        for attr in ("fun", "jvp", "fwd", "bwd", "__wrapped__", "func"):
            sub = getattr(obj, attr, None)
            if sub is not None and _diggable(sub) and not isinstance(obj, types.FunctionType):
                dig(sub, depth + 1, found, seen)
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                contents = cell.cell_contents
            except ValueError:
                continue
            if _diggable(contents):
                dig(contents, depth + 1, found, seen)

    def walk(jx, memo=True):
        # Nested programs memoised by object, as in `_rules_are_libraries` (a jaxgrad
        # function inside the callable brings thousands of equations: 2 ms a call).
        hit = _USER_RULE_MEMO.get(jx) if memo else None
        if hit is not None:
            return hit
        found, seen = [], set()
        for eqn in jx.eqns:
            if eqn.primitive.name.startswith("custom"):
                for v in eqn.params.values():
                    if _diggable(v) and not isinstance(v, (core.Jaxpr, core.ClosedJaxpr)):
                        dig(v, 0, found, seen)
            for sub in core.jaxprs_in_params(eqn.params):
                found.extend(walk(sub))
        return _USER_RULE_MEMO.put(jx, tuple(found)) if memo else tuple(found)

    try:
        return walk(jaxpr, memo=False)
    except Exception:  # an object whose attributes raise: a key of its own (compiled again)
        return (_Same(object()),)


def _plain_object(o) -> bool:
    """An instance of a class of the user's with attributes of its own (not a module, a
    class, a function or one of JAX's or NumPy's objects)."""
    if isinstance(o, (types.ModuleType, type)) or not hasattr(o, "__dict__"):
        return False
    module = type(o).__module__ or ""
    return not module.startswith(("jax", "jaxlib", "numpy", "builtins", "functools", "equinox", "optax"))


def _mutable_dataclass(o) -> bool:
    """A dataclass instance whose fields can be assigned: a callback may write into it, as
    into a list. Not a frozen one, nor an equinox Module (immutable, though its dataclass
    is not declared frozen: keyed by identity, a Module made afresh per call compiled
    again at every call)."""
    params = getattr(type(o), "__dataclass_params__", None)
    return params is not None and not isinstance(o, type) and not params.frozen and not isinstance(o, equinox.Module)


def _hidden_arrays(obj, depth=0):
    """The arrays `obj` holds where a custom rule can read them unseen by the trace
    (closure cells, defaults, a partial's bound arguments, a pytree's leaves, and
    those of the callables among them), as a digest of their values: with a user rule
    in the program they are part of the key by value (arrays are otherwise inputs)."""
    h = hashlib.sha256()
    found = []

    def visit(o, depth):
        if depth > 4:
            return
        if isinstance(o, jax.core.Tracer):
            found.append(_Same(o))
        elif isinstance(o, (np.ndarray, np.generic, jax.Array)):
            _hash_array(h, o)
        elif isinstance(o, (bool, int, float, complex, str)):  # (by value, as in a closure cell)
            h.update(repr((type(o).__name__, o)).encode())
        elif isinstance(o, functools.partial):
            visit(o.func, depth + 1)
            for leaf in jax.tree_util.tree_leaves((o.args, o.keywords or {})):
                visit(leaf, depth + 1)
        elif isinstance(o, types.MethodType):
            visit(o.__func__, depth + 1)
            visit(o.__self__, depth + 1)
        elif getattr(o, "__code__", None) is not None:
            for cell in getattr(o, "__closure__", None) or ():
                try:
                    contents = cell.cell_contents
                except ValueError:
                    continue
                for leaf in jax.tree_util.tree_leaves(contents):
                    visit(leaf, depth + 1)
            for leaf in jax.tree_util.tree_leaves(
                (getattr(o, "__defaults__", None) or (), getattr(o, "__kwdefaults__", None) or {})
            ):
                visit(leaf, depth + 1)
        else:
            # An object of the user's (a config, say) that a rule reads an array or a
            # number from is walked through its attributes: `cfg.k` rebound left the
            # gradient of the old k (outside review). What cannot be walked (a dict whose
            # keys do not sort, a `__dict__` that is not a dict or raises) keys by
            # identity, as every such object did before (it raised here; a review).
            try:
                leaves = jax.tree_util.tree_leaves(o)
                if not (len(leaves) == 1 and leaves[0] is o):
                    for leaf in leaves:
                        visit(leaf, depth + 1)
                elif _plain_object(o):
                    for value in list(vars(o).values()):
                        visit(value, depth + 1)
            except Exception:
                found.append(_Same(o))

    visit(obj, depth)
    return (h.hexdigest(), tuple(found))


def _callback_origin(obj, depth=0, user=True):
    """What a callback's function computes with, as far as Python shows it: its code
    and module, the values in its closure cells, defaults and bound arguments, through
    partials, bound methods and JAX's own wrappers (`pure_callback`'s flat callback,
    `debug.callback`'s closure). Two callbacks that agree here are the same program.
    Reached through the user's code (`user`), a mutable object (a list, dict or set, a
    NumPy array) keys by identity: the callback reads or writes it when it runs, and a
    program compiled for another such object would run on that one (a fresh `log = []`
    per call that the callback appends to stayed empty; outside review). JAX's own
    wrappers build such objects afresh at each trace (`debug.print`'s options): by
    value there. Immutable values by value (arrays of JAX by their contents); anything
    else by identity."""
    def sub(o, user=user):
        return _callback_origin(o, depth + 1, user)

    if depth > 8 or isinstance(obj, jax.core.Tracer):
        return _Same(obj)
    if isinstance(obj, (np.ndarray, list, dict, set, bytearray)) and user:
        return _Same(obj)
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        return ("array", _hash_array(hashlib.sha256(), obj).hexdigest())
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
        return (type(obj).__name__, repr(obj))
    if isinstance(obj, (jax.tree_util.PyTreeDef, np.dtype, type)):
        return ("equal", obj)
    if isinstance(obj, functools.partial):
        bound = _user_code(obj.func) or getattr(obj.func, "__code__", None) is None
        keywords = tuple(sorted((obj.keywords or {}).items()))  # (the partial's own dict: by its entries)
        return ("partial", sub(obj.func), sub((obj.args, keywords), bound))
    if isinstance(obj, types.MethodType):
        return ("method", sub(obj.__func__), sub(obj.__self__, True))
    inner = getattr(obj, "callback_func", None)  # JAX's flat wrapper of the user's function
    if inner is not None:
        return ("flat", sub(inner, True), sub(getattr(obj, "in_tree", None)))
    code = getattr(obj, "__code__", None)
    if code is not None:
        own = _user_code(obj)
        cells = []
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                cells.append(sub(cell.cell_contents, own))
            except ValueError:  # an empty cell
                cells.append(None)
        defaults = (getattr(obj, "__defaults__", None) or (),
                    tuple(sorted((getattr(obj, "__kwdefaults__", None) or {}).items())))  # (by its entries)
        return (_code_key(code), _Same(getattr(obj, "__globals__", None)), tuple(cells), sub(defaults, own))
    # A container's mutable parts stay whole, so that the test above sees them: a list
    # inside a tuple (`box = ([],)`) or among a partial's arguments was flattened into
    # its entries and keyed by value, and a callback over a fresh log ran the first
    # call's, or two boxes holding equal numbers shared one program, which then read the
    # wrong box after one was edited (outside review).
    def mutable(x):
        return x is not obj and (isinstance(x, (list, dict, set, bytearray, np.ndarray)) or _mutable_dataclass(x))

    if user and _mutable_dataclass(obj):  # (a registered pytree it writes into, made per call)
        return _Same(obj)

    try:
        leaves, treedef = jax.tree_util.tree_flatten(obj, is_leaf=mutable)
    except Exception:  # keys that do not sort, say: by identity (compiled again, never stale)
        return _Same(obj)
    if len(leaves) == 1 and leaves[0] is obj:
        return _Same(obj)
    return (treedef, tuple(sub(leaf) for leaf in leaves))


_UNSEEN_MEMO = _ByObject(4 * _MEMO)  # program -> what its text does not show


def _unseen(jaxpr, memo=True):
    """`(callbacks, digest)`: what the program's text does not show, nested programs
    included. `callbacks`: the origins (`_callback_origin`) of the functions behind its
    callbacks (`jax.pure_callback`, `io_callback`, `jax.debug.callback` and `print`),
    which the text names with their addresses masked: a function defined again (a
    notebook cell run again after a fix, a new closure over another parameter in a
    sweep) gave the first one's results. `digest`: of the values of its array literals
    ("" where it has none): with JAX's `jax_use_simplified_jaxpr_constants` an array the
    callable closes over is a literal, printed as `[...]`, in neither the text nor the
    consts, and a new array gave the old result (the top-level program's become
    consts, `_array_literals_as_consts`)."""
    hit = _UNSEEN_MEMO.get(jaxpr) if memo else None
    if hit is not None:
        return hit
    try:
        from jax._src import core

        callbacks, h = [], hashlib.sha256()
        found = False
        for eqn in jaxpr.eqns:
            callback = eqn.params.get("callback")
            if callback is not None and callable(callback):
                callbacks.append(_callback_origin(callback))
            for sub in core.jaxprs_in_params(eqn.params):
                inner, digest = _unseen(sub)
                callbacks.extend(inner)
                if digest:
                    h.update(digest.encode())
                    found = True
        for v in [v for eqn in jaxpr.eqns for v in eqn.invars] + list(jaxpr.outvars):
            if isinstance(v, core.Literal) and v.aval.shape:
                _hash_array(h, v.val)
                found = True
        result = (tuple(callbacks), h.hexdigest() if found else "")
    except Exception:  # JAX's internals moved: a key of its own (compiled again, never stale)
        result = ((), repr(object()))
    return _UNSEEN_MEMO.put(jaxpr, result) if memo else result


def _array_literals_as_consts(closed):
    """`closed` with the array literals of its top-level equations as constants, the
    way JAX passes a closed-over array without `jax_use_simplified_jaxpr_constants`:
    inputs of the compiled program, so a new array of the same shape reuses it."""
    try:
        from jax._src import core

        jaxpr = closed.jaxpr

        def array(v):
            return isinstance(v, core.Literal) and bool(v.aval.shape)

        if not any(array(v) for eqn in jaxpr.eqns for v in eqn.invars) and not any(map(array, jaxpr.outvars)):
            return closed
        new_vars, values = [], []

        def as_var(v):
            if not array(v):
                return v
            var = core.Var(v.aval)
            new_vars.append(var)
            values.append(v.val if isinstance(v.val, jax.Array) else np.array(np.asarray(v.val), copy=True))
            return var

        eqns = []
        for eqn in jaxpr.eqns:
            invars = [as_var(v) for v in eqn.invars]
            eqns.append(eqn.replace(invars=invars) if any(a is not b for a, b in zip(invars, eqn.invars)) else eqn)
        outvars = [as_var(v) for v in jaxpr.outvars]
        jaxpr = jaxpr.replace(constvars=list(jaxpr.constvars) + new_vars, eqns=eqns, outvars=outvars)
        return core.ClosedJaxpr(jaxpr, list(closed.consts) + values)
    except Exception:  # JAX's internals moved: as traced (the digest keys the values)
        return closed


def _owned_literal(v, core):
    """Literal `v` with a value of its own: JAX keeps a NumPy array the callable reads
    (a 0-d `p` in `x ** p`, a flag, a number in a `lax.cond` branch) as a literal that
    is a view of the user's array. The key records its value at trace time, but a
    cached program compiled again later (for `grad`, `vmap`) read the view, by then
    edited in place: the derivative of x³ for a key that says x²."""
    val = v.val
    if not isinstance(val, np.ndarray):
        return v
    own = np.array(np.asarray(val), copy=True)
    try:
        from jax._src.literals import TypedNdArray

        if isinstance(val, TypedNdArray):
            own = TypedNdArray(own, val.aval)
    except ImportError:
        pass
    return core.Literal(own, v.aval)


def _own_literals(jaxpr, core):
    """`jaxpr` with every array literal a copy (`_owned_literal`), in nested programs
    too except `jit` bodies (JAX's cache hands those back by function identity, and
    their text is keyed through `_body_token`). The same object where nothing changes."""
    eqns, changed = [], False
    for eqn in jaxpr.eqns:
        invars = [_owned_literal(v, core) if isinstance(v, core.Literal) else v for v in eqn.invars]
        params = eqn.params
        if eqn.primitive.name not in ("jit", "pjit"):
            # (A new dict only where a nested program changed: most equations have none,
            # and building one per equation cost ~1.2 ms a 1,000 equations.)
            for k, val in eqn.params.items():
                if isinstance(val, (core.Jaxpr, core.ClosedJaxpr, tuple, list)):
                    new = _own_in_param(val, core)
                    if new is not val:
                        params = dict(params) if params is eqn.params else params
                        params[k] = new
        if params is not eqn.params or any(a is not b for a, b in zip(invars, eqn.invars)):
            eqn = eqn.replace(invars=invars, params=params)
            changed = True
        eqns.append(eqn)
    return jaxpr.replace(eqns=eqns) if changed else jaxpr


def _own_in_param(val, core):
    if isinstance(val, core.ClosedJaxpr):
        inner = _own_literals(val.jaxpr, core)
        return val if inner is val.jaxpr else core.ClosedJaxpr(inner, val.consts)
    if isinstance(val, core.Jaxpr):
        return _own_literals(val, core)
    if isinstance(val, (tuple, list)) and any(isinstance(x, (core.Jaxpr, core.ClosedJaxpr)) for x in val):
        new = [_own_in_param(x, core) for x in val]
        return val if all(a is b for a, b in zip(new, val)) else type(val)(new)
    return val


def _with_owned_literals(closed):
    try:
        from jax._src import core

        return _own_in_param(closed, core)
    except Exception:  # JAX's internals moved: as traced
        return closed


def _lift_literals(closed):
    """`(closed, values)`: `closed` with the floating-point scalar literals of its
    top-level equations turned into trailing constant variables, and their `values` (not
    among `closed.consts`: `trace` passes them packed, `_pack`). See the module
    docstring. Falls back to `(closed, [])` if JAX's internals are not as expected (the
    key is then by value, as before)."""
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
            return closed, []
        lifted = jaxpr.replace(constvars=list(jaxpr.constvars) + new_vars, eqns=eqns)
        # The consts only count the original constants; `Traced` appends the lifted ones.
        return _Lifted(lifted, list(closed.consts)), values
    except Exception:
        return closed, []


class _Lifted:
    """A closed jaxpr whose trailing constant variables (the lifted literals) have no
    entry in `consts`: `Traced` fills them from the packed vectors."""

    __slots__ = ("jaxpr", "consts")

    def __init__(self, jaxpr, consts):
        self.jaxpr, self.consts = jaxpr, consts


def _pack(values):
    """`(vectors, layout)`: the lifted scalars as one vector per dtype, and for each scalar
    (in order) its `(vector, position)`. One operand per dtype rather than one per
    literal: every operand of the integrand becomes a loop-carried value of the
    adaptive loops that call it, and XLA's compile time grows steeply with their number
    (a polynomial with 1,000 coefficients compiled 5x slower with one per literal)."""
    groups, layout = {}, []
    for v in values:
        members = groups.setdefault(str(v.dtype), [])
        layout.append((list(groups).index(str(v.dtype)), len(members)))
        members.append(v)
    vectors = [np.stack(members) for members in groups.values()]
    return vectors, layout


def trace(f, *example_args, wraps=None):
    """`(Traced, consts)` for `f` at the types of `example_args` (arrays, tracers or
    `jax.ShapeDtypeStruct`s); `traced(consts, *args)` computes `f(*args)`.

    `wraps`: when `f` is a library wrapper around the user's callable, the user's
    callable and the other objects the wrapper captures (a pytree: their origins make
    the key's origin, as a closure's cells do).

    A plain function that reads nothing of the user's (`_plain_key`) is traced again
    only until two traces in a row agree, then served from `_PLAIN`."""
    key = _plain_key(f, example_args) if wraps is None else None
    if key is None:
        return _trace(f, example_args, wraps)[:2]
    hit = _PLAIN.get(key)
    if hit is not None and hit[2]:
        return hit[0], hit[1]
    traced, consts, cacheable = _trace(f, example_args, wraps)
    # (Only if the values read are still those of the key: another thread may have
    # rebound a global while `f` was traced.)
    if cacheable and _plain_key(f, example_args) == key:
        agreed = hit is not None and hit[0] == traced and _same_values(hit[1], consts)
        _PLAIN.put(key, (traced, consts, agreed))
    return traced, consts


# Plain functions' traces (see `_plain_key`): key -> (Traced, consts, confirmed).
_PLAIN = _Recent(4 * _MEMO)


def _plain_key(f, example_args):
    """A key for `f`'s trace at `example_args` that holds everything the trace can
    depend on, when there is one: `f` is a plain Python function whose global names (its
    own and its nested functions'), closure cells and default values are all "plain"
    (`_plain_value`): modules and functions of JAX, NumPy, jaxgrad or Python's math
    (`_PURE_PACKAGES`), numbers, strings and tuples of them; so that what it
    computes follows from its code, those values, the types of its arguments and JAX's
    configuration (`trace_context`, as `jax.jit` keys its traces). `None` otherwise (a
    callable that reads a function, an object or an array of the user's, or a module of
    its own; one that imports, or assigns a global or an enclosing function's variable;
    a bound argument), and then `f` is traced at every call. A function of those
    libraries itself (`jnp.tanh`) is plain, by identity.

    The values are read at every call: a closure's cell or a global rebound to a new
    number makes a new key.

    A function that draws random numbers or reads the clock at trace time (`np.random`,
    `time`) is not pure: its traces differ, and `trace` serves one only after two traces
    in a row gave the same program and constants."""
    try:
        from jax._src import config, core

        code = _plain_value(f)  # a library's function itself (`funm(a, jnp.tanh)`), by identity
        if code is not _NOT_A_VALUE:
            names = cells = defaults = ()
        elif (type(f) is not types.FunctionType or f.__kwdefaults__ or type(f.__globals__) is not dict
              or _writes_outside(f.__code__)):
            return None
        else:
            code = (_code_key(f.__code__), _Same(f.__globals__))
            names = _global_values(f.__code__, f.__globals__, getattr(f, "__builtins__", None))
            cells = tuple(_plain_value(c.cell_contents) for c in f.__closure__ or ())
            defaults = tuple(_plain_value(v) for v in f.__defaults__ or ())
            if names is None or _NOT_A_VALUE in cells or _NOT_A_VALUE in defaults:
                return None
        leaves, treedef = jax.tree_util.tree_flatten(example_args)
        avals = tuple(core.shaped_abstractify(x) for x in leaves)
        key = (code, names, cells, defaults, treedef, avals, config.trace_context())
        hash(key)
        return key
    except Exception:  # an argument JAX cannot type, an empty cell, a JAX without these internals
        return None


_NOT_A_VALUE = object()


def _plain_value(v):
    """A key for a value a plain function reads (a global, a closure's cell, a default)
    that cannot change without being rebound: modules and functions of JAX, NumPy,
    jaxgrad or math (`from jax.numpy import exp`; not their random generators) by
    identity (`_library_module`); numbers, strings and None by type and value (floats by
    their bits: -0.0 is not 0.0), tuples of them, NumPy's numeric scalars by dtype and
    value. `_NOT_A_VALUE` for anything else (an array, a list, an object, a function or
    module of the user's: they change in place, or read what does)."""
    t = type(v)
    if v is None or t in (bool, int, str, bytes):
        return (t, v)
    if t is float:
        return (t, struct.pack("<d", v))
    if t is complex:
        return (t, struct.pack("<dd", v.real, v.imag))
    if t is tuple:
        keys = tuple(_plain_value(x) for x in v)
        return _NOT_A_VALUE if _NOT_A_VALUE in keys else (t, keys)
    if isinstance(v, (np.number, np.bool_)) and t.__module__ == "numpy":
        return (v.dtype.str, v.tobytes())
    # (Not arrays, not even JAX's: one that `jax.device_put` or `from_dlpack` made from a
    # NumPy array shares its memory, which can change in place; the weak type, device and
    # sharding are further parts of a key; and the cache would keep old ones alive. An
    # outside review found each.)
    if isinstance(v, types.ModuleType):
        return _Same(v) if _library_module(v) and not _draws(v.__name__) else _NOT_A_VALUE
    if isinstance(v, _FUNCTION_TYPES):
        # A library's own function: an attribute of its module under its name (a wrapper
        # JAX makes, `jax.vmap(partial(model, w))`, copies the `__module__` of what it
        # wraps, "functools", and read what the wrapped function reads; an outside review).
        name = getattr(v, "__module__", None) or ""
        module = sys.modules.get(name)
        own = module is not None and getattr(module, getattr(v, "__name__", ""), None) is v
        return _Same(v) if own and _library_module(module) and not _draws(name) else _NOT_A_VALUE
    return _NOT_A_VALUE


def _draws(module_name) -> bool:
    # `numpy.random` (also as `import numpy.random as npr`), `jax.random`: random draws at
    # trace time, or a generator set by a setting `trace_context` does not hold.
    return "random" in module_name.split(".")


_FUNCTION_TYPES = (types.FunctionType, types.BuiltinFunctionType, np.ufunc, type(jax.numpy.exp), jax.custom_jvp,
                   jax.custom_vjp)


# Names a plain function may not use at all (`_global_values`): ways to reach a value of
# the user's without naming it (`globals()["p"]`, `eval("p")`, `getattr(module, name)`),
# and random numbers drawn at trace time (`np.random`, `jax.random`, whose generator is
# a setting `trace_context` does not hold): a seed set again between calls, or a draw
# with few outcomes that came out the same twice, gave a stale value (outside review).
_UNSAFE_NAMES = frozenset({
    "globals", "locals", "vars", "eval", "exec", "compile", "__import__", "getattr", "setattr", "delattr",
    "open", "input", "breakpoint", "__builtins__", "__dict__", "random", "rand", "randn", "seed", "default_rng",
    "RandomState", "Generator", "PRNGKey", "key", "__globals__",
    # ... and the process's state reached through a library module's attributes
    # (`jax.version.os.environ[...]`, `np.sys.modules`, `jax.config`), the clock
    # (`np.datetime64("now")`) and files (`np.load`): outside reviews.
    "os", "sys", "environ", "getenv", "modules", "builtins", "time", "time_ns", "perf_counter", "monotonic",
    "datetime", "datetime64", "timedelta64", "now", "today", "config", "load", "loadtxt", "genfromtxt",
    "fromfile", "memmap", "fromregex", "DataSource", "importlib", "import_module",
})


def _global_values(code, namespace, builtin_names=None):
    """`((name, key), ...)` for the global names `code` reads (as far as its names
    tell), each by `_plain_value`; None if one of them is not plain, or is one of
    `_UNSAFE_NAMES`. A name that is not a global is Python's builtin (`abs`, `range`),
    or an attribute's name; a builtin added or replaced (`builtins.scale = 5`) counts as
    a global."""
    builtin_names = builtin_names if isinstance(builtin_names, dict) else vars(builtins)
    found = []
    for name in _names(code):
        if name in _UNSAFE_NAMES:
            return None
        value = namespace.get(name, _names)
        if value is _names:
            value = builtin_names.get(name, _names)
            if value is _names or _BUILTINS.get(name, _names) is value:
                continue  # an attribute's name, or a builtin of Python's
        key = _plain_value(value)
        if key is _NOT_A_VALUE:
            return None
        found.append((name, key))
    return tuple(found)


_BUILTINS = dict(vars(builtins))  # Python's own, as they were when jaxgrad was imported


@functools.lru_cache(maxsize=1024)
def _writes_outside(code) -> bool:
    """Whether `code` (or code nested in it) assigns a global or a variable of an
    enclosing function (`global n; n += 1`, `nonlocal`), a side effect that a trace
    served from the cache would skip, or imports (`from settings import P` inside the
    function: names the key does not see). Outside reviews."""
    def writes(c, free):
        for ins in dis.get_instructions(c):
            if ins.opname in ("STORE_GLOBAL", "DELETE_GLOBAL", "IMPORT_NAME", "IMPORT_FROM"):
                return True
            if ins.opname in ("STORE_DEREF", "DELETE_DEREF") and ins.argval in free:
                return True
        return any(writes(k, free | set(k.co_freevars) - set(c.co_cellvars))
                   for k in c.co_consts if isinstance(k, types.CodeType))

    return writes(code, set(code.co_freevars))


@functools.lru_cache(maxsize=1024)
def _names(code):
    """The names `code` and its nested code objects read (globals and attributes)."""
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return frozenset(names)


# The packages whose modules a plain function may read (`_plain_key`): their attributes
# are functions and constants, not settings a user changes between calls (a package of
# the user's, even installed, may hold such: `mymodel.SCALE = 3`).
_PURE_PACKAGES = frozenset({"jax", "numpy", "math", "cmath", "operator", "functools", "jaxgrad"})


def _library_module(module) -> bool:
    if module.__name__.partition(".")[0] not in _PURE_PACKAGES:
        return False
    path = getattr(module, "__file__", None)
    if path is None:
        return module.__name__ in sys.builtin_module_names
    return os.path.abspath(path).startswith(_INSTALLED)


def _same_values(a, b) -> bool:
    """Whether two tuples of constants hold the same values (bit for bit)."""
    if len(a) != len(b):
        return False
    with jax.transfer_guard_device_to_host("allow"):
        for x, y in zip(a, b):
            if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
                return False
            try:
                x, y = np.asarray(x), np.asarray(y)
            except TypeError:  # a typed PRNG key (`jax.random.key(0)`): not compared
                return False
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                return False
    return True


def _trace(f, example_args, wraps):
    """`trace` itself: `(Traced, consts, cacheable)`, cacheable where no rule of the
    user's and no tracer among the constants ties the trace to this call."""
    # A fresh wrapper each time: `jax.make_jaxpr` (the fallback of `_fast_trace.make_jaxpr`)
    # caches traces by function identity, which would hand back the values `f` read at its
    # first call.
    def user_callable(*args):
        return f(*args)

    closed, out_shape = make_jaxpr(user_callable, *example_args)
    closed = _with_owned_literals(_array_literals_as_consts(closed))
    user_rules = _has_user_rules(closed)
    closed, lifted = (closed, []) if user_rules else _lift_literals(closed)
    vectors, layout = _pack(lifted)
    in_tree = jax.tree_util.tree_structure(example_args)
    source = f if wraps is None else wraps
    origin = _origin(source)
    if user_rules:
        # A rule of the user's may read an array it closes over that the trace never
        # sees (a partial's bound array, a closure cell): such arrays key by value. The
        # rules themselves key by identity (`_user_rules`): a notebook cell run again
        # defines new ones.
        rules = _user_rules(closed.jaxpr)
        origin = (origin, _hidden_arrays(source), rules, _hidden_arrays([r.obj for r in rules]))
    unseen = _unseen(closed.jaxpr, memo=False)  # callbacks and array literals
    if unseen != ((), ""):
        origin = (origin, unseen)
    traced = Traced(f, closed, in_tree, out_shape, origin, layout)
    consts = tuple(closed.consts) + tuple(vectors)
    return traced, consts, not user_rules and not any(isinstance(c, jax.core.Tracer) for c in consts)
