"""The cheaper re-trace of a user's callable (`jaxgrad/_fast_trace.py`): the direct trace
gives `jax.make_jaxpr`'s program, and a program is only taken as "the same" as the last
one of its origin when it is, so a changed callable still gets a key of its own.
Nothing here compiles except one small `trace_function` program at the end."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax.numpy import exp as _exp

from jaxgrad import _fast_trace, _traced
from jaxgrad.linalg import trace_function

_W = np.arange(3.0)
_G = jnp.arange(3.0)


@jax.jit
def _helper(x):
    return jnp.sin(x) * 2


@jax.custom_jvp
def _soft(x):
    return jnp.tanh(x)


_soft.defjvp(lambda p, t: (_soft(p[0]), t[0] * (1 - jnp.tanh(p[0]) ** 2)))

_S = jax.ShapeDtypeStruct((), jnp.float64)
_CASES = {
    "python float argument": (lambda x, p: x * p, (_S, 2.0)),
    "python int exponent": (lambda x, n: x**n, (_S, 2)),
    "numpy array argument": (lambda x, w: jnp.sum(w * x), (_S, _W)),
    "closure over numpy": (lambda x: jnp.sum(_W * x), (_S,)),
    "closure over a jax array": (lambda x: jnp.sum(_G * x), (_S,)),
    "constant output": (lambda x: 1.0, (_S,)),
    "dict argument": (lambda x, d: d["a"] * x + d["b"], (_S, {"a": 1.0, "b": jnp.ones(2)})),
    "tuple and list output": (lambda x: (x, [x * 2]), (jax.ShapeDtypeStruct((), jnp.float32),)),
    "jitted helper": (lambda x: _helper(x) + 1, (jax.ShapeDtypeStruct((3,), jnp.float64),)),
    "cond": (lambda x: jax.lax.cond(x > 0, jnp.sin, jnp.cos, x), (_S,)),
    "custom_jvp": (lambda x: _soft(x), (_S,)),
    "complex values": (lambda x: jnp.exp(1j * x), (_S,)),
}


def _both(f, args):
    return jax.make_jaxpr(lambda *a: f(*a), return_shape=True)(*args), _fast_trace.make_jaxpr(lambda *a: f(*a), *args)


@pytest.mark.parametrize("name", list(_CASES))
def test_direct_trace_is_make_jaxprs_program(name):
    assert _fast_trace._DIRECT  # (otherwise this compares `jax.make_jaxpr` with itself)
    f, args = _CASES[name]
    (a, a_out), (b, b_out) = _both(f, args)
    assert str(a) == str(b)
    assert a_out == b_out
    assert len(a.consts) == len(b.consts) and all(x is y for x, y in zip(a.consts, b.consts))


def test_direct_trace_under_transformations_keeps_tracers_as_constants():
    seen = []

    def outer(p):
        def g(x):
            return x * p  # closes over a tracer of the enclosing transformation

        (a, a_out), (b, b_out) = _both(g, (_S,))
        (c, _), (d, _) = _both(lambda x, q: g(x) * q, (_S, p))
        seen.append(
            str(a) == str(b) and a_out == b_out and a.consts[0] is b.consts[0] and str(c) == str(d)
            and isinstance(b.consts[0], jax.core.Tracer)
        )
        return p * 1.0

    jax.jit(outer)(1.0)
    jax.grad(outer)(1.0)
    jax.vmap(outer)(jnp.ones(2))
    assert seen == [True, True, True]


def _program(f, *args):
    return _fast_trace.make_jaxpr(lambda *a: f(*a), *args)[0].jaxpr


def test_a_program_traced_again_is_the_same_program():
    f = lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x)  # noqa: E731
    assert _fast_trace.same_program(_program(f, _S, 1.0), _program(f, _S, 1.0))
    # A jitted helper's body is the same object (JAX's cache): the same program, as long
    # as the caller says its printing still holds.
    g = lambda x: _helper(x) + 1  # noqa: E731
    s3 = jax.ShapeDtypeStruct((3,), jnp.float64)
    assert _fast_trace.same_program(_program(g, s3), _program(g, s3))
    assert not _fast_trace.same_program(_program(g, s3), _program(g, s3), body_alive=lambda body: False)


@pytest.mark.parametrize(
    "f, g, args",
    [
        (lambda x: x**2, lambda x: x**3, (_S,)),  # an integer parameter
        (lambda x, y: x - y, lambda x, y: y - x, (_S, _S)),  # the wiring
        (lambda x: jnp.sum(x, axis=0), lambda x: jnp.sum(x, axis=1), (jax.ShapeDtypeStruct((2, 2), jnp.float64),)),
        (lambda x: x * 0.0, lambda x: x * -0.0, (_S,)),  # literals equal as numbers, printed apart
        (lambda x: x.astype(jnp.float32), lambda x: x.astype(jnp.float16), (_S,)),  # a dtype parameter
        (lambda x: jnp.sin(x), lambda x: jnp.cos(x), (_S,)),  # the primitive
        (lambda x: x + 1, lambda x: x + 1, (jax.ShapeDtypeStruct((), jnp.float32),)),  # vs float64, below
        # Branches made afresh at each trace: new nested programs, not compared.
        (lambda x: jax.lax.cond(x > 0, lambda y: y, lambda y: -y, x),) * 2 + ((_S,),),
        (lambda x: x + 1, lambda x: x + 1 + 0 * x, (_S,)),  # the number of equations
    ],
)
def test_different_programs_are_not_the_same(f, g, args):
    other = args if args[0].dtype != jnp.float32 else (_S,)
    assert not _fast_trace.same_program(_program(f, *args), _program(g, *other))


def test_a_repeated_trace_skips_printing_and_a_changed_callable_does_not(monkeypatch):
    printed = []
    text = _traced._program_text
    monkeypatch.setattr(_traced, "_program_text", lambda *a: printed.append(1) or text(*a))
    n = [2]

    def f(x):
        return x ** n[0]  # an exponent stays in the program (it is not lifted)

    first, _ = _traced.trace(f, _S)
    again, _ = _traced.trace(f, _S)
    assert first == again and len(printed) == 1
    n[0] = 3
    third, _ = _traced.trace(f, _S)
    assert third != first and len(printed) == 2
    # And through a public function: tr A³ after tr A² for A = diag(1, 2).
    a = jnp.diag(jnp.array([1.0, 2.0]))

    def cube_or_square(x):
        return x ** n[0]

    n[0] = 2
    assert float(trace_function(a, cube_or_square)) == pytest.approx(5.0, rel=1e-14)
    n[0] = 3
    assert float(trace_function(a, cube_or_square)) == pytest.approx(9.0, rel=1e-14)


def _plain(x):  # reads only installed modules: traced until two traces agree, then cached
    return jnp.exp(x) + np.pi


def _noisy(x):  # not pure: a new number at every trace
    return x * np.random.default_rng().random()


def _seeded(x):  # not pure either: the same number for the same seed
    return x * np.random.rand()


_P = 3.0


def _indirect(x):  # reads a global of the user's without naming it
    return x * globals()["_P"]


def test_a_plain_function_is_traced_until_two_traces_agree(monkeypatch):
    traces = []
    inner = _traced._trace
    monkeypatch.setattr(_traced, "_trace", lambda *a: traces.append(1) or inner(*a))
    assert _traced._plain_key(_plain, (_S,)) is not None
    keys = [_traced.trace(_plain, _S)[0] for _ in range(4)]
    assert len(traces) == 2 and all(k == keys[0] for k in keys)
    # Other argument types, another configuration: traced again.
    _traced.trace(_plain, jax.ShapeDtypeStruct((), jnp.float32))
    assert len(traces) == 3
    # Not plain: a global (or a closure's cell) holding a NumPy array or a function of
    # the user's, which can change without being rebound.
    assert _traced._plain_key(lambda x: x * _W[0], (_S,)) is None
    assert _traced._plain_key(lambda x: _helper(x), (_S,)) is None
    w = np.ones(2)
    assert _traced._plain_key(lambda x: x * w[0], (_S,)) is None
    # Plain: numbers and tuples of them read from a closure, a default value or a
    # global, and the functions of a library imported by name. Not arrays, JAX's too (an
    # array `jax.device_put` made from a NumPy array shares its memory).
    p = 2.0
    for f in (lambda x: x * p, lambda x, q=(2.0, 3): x * q[0], lambda x: x * _P, lambda x: _exp(x)):
        assert _traced._plain_key(f, (_S,)) is not None
    assert _traced._plain_key(lambda x: x * _G[0], (_S,)) is None


def _by(p):
    return lambda x: jnp.copysign(1.0, p) * x


def test_values_a_plain_function_reads_are_part_of_its_key(monkeypatch):
    # A closure's number, a global number and a captured JAX array key the trace by value
    # (the array by identity): the same values share one trace, and a value changed by
    # rebinding is a new key, never the old trace. -0.0 and 0.0 compare equal in Python
    # but give programs of opposite sign here.
    global _P
    traces = []
    inner = _traced._trace
    monkeypatch.setattr(_traced, "_trace", lambda *a: traces.append(1) or inner(*a))
    a = jnp.diag(jnp.array([1.0, 2.0]))
    assert [float(trace_function(a, _by(p))) for p in (1.0, 1.0, 1.0, -0.0, 0.0, -0.0)] == [3, 3, 3, -3, 3, -3]
    assert len(traces) == 2 + 2 + 1  # confirmed by a second trace, then served
    q = 2.0

    def scaled(x):
        return q * x

    for value in (2.0, 2.0, 2.0, 5.0, 7.0):
        q = value
        assert float(trace_function(a, scaled)) == 3 * value
    for value in (3.0, 3.0, 4.0):
        _P = value
        assert float(trace_function(a, lambda x: _P * x)) == 3 * value
    for g in (jnp.array(2.0), jnp.array(2.0), jnp.array(6.0)):
        assert float(trace_function(a, lambda x: g * x)) == 3 * float(g)
    # A library's function passed itself (`funm(a, jnp.tanh)`): plain, by identity.
    # (Traced afresh here: another test may have traced `jnp.exp` already.)
    monkeypatch.setattr(_traced, "_PLAIN", _traced._Recent(8))
    del traces[:]
    assert [float(trace_function(a, f)) for f in (jnp.exp, jnp.exp, jnp.exp, jnp.sin)] == pytest.approx(
        [np.e + np.e**2] * 3 + [np.sin(1.0) + np.sin(2.0)], rel=1e-15)
    assert len(traces) == 3
    assert _traced._plain_key(_helper, (_S,)) is None  # a jitted function of the user's
    # A NumPy array in a closure changed in place: not plain, traced at every call.
    w = np.array([2.0])
    assert float(trace_function(a, lambda x: w[0] * x)) == 6.0
    w[0] = 4.0
    assert float(trace_function(a, lambda x: w[0] * x)) == 12.0


def test_an_impure_plain_function_is_traced_at_every_call():
    global _P
    a = jnp.diag(jnp.array([1.0, 2.0]))
    values = {float(trace_function(a, _noisy)) for _ in range(4)}  # tr = 3r, a new r each time
    assert len(values) == 4
    # Seeded again between calls, and a global reached through `globals()` (both gave the
    # old value from the cache; an outside review): never taken for plain functions.
    got = []
    for seed in (0, 0, 0, 1):
        np.random.seed(seed)
        got.append(float(trace_function(a, _seeded)))
    np.random.seed(1)
    assert got[:3] == [got[0]] * 3 and got[3] == pytest.approx(3 * np.random.rand(), rel=1e-15)
    assert _traced._plain_key(_seeded, (_S,)) is None
    for p in (3.0, 3.0, 3.0, 5.0):
        _P = p
        assert float(trace_function(a, _indirect)) == 3 * p


def test_a_plain_functions_module_replaced_is_a_new_key():
    # jnp.round rounds half to even, lax.round half away from zero: tr round(diag(2.5, 0.5))
    # is 2 + 0 with the first and 3 + 1 with the second.
    namespace = {"k": jnp}
    exec("def f(x):\n    return k.round(x)", namespace)
    a = jnp.diag(jnp.array([2.5, 0.5]))
    assert [float(trace_function(a, namespace["f"])) for _ in range(3)] == [2.0] * 3
    namespace["k"] = jax.lax
    assert float(trace_function(a, namespace["f"])) == 4.0


def test_a_jit_body_whose_token_was_made_again_is_printed_again():
    # A jitted helper closing over a NumPy array changed in place: while its token is
    # memoised the program is keyed as before (as JAX's own cache of the helper is); once
    # the token has been evicted and is made again from the new values, the program is
    # printed again instead of taking the old text (an outside review).
    w = np.array([2.0, 3.0])
    helper = jax.jit(lambda y: jnp.sum(y * w))

    def f(x):
        return helper(x)

    s2 = jax.ShapeDtypeStruct((2,), jnp.float64)
    first, _ = _traced.trace(f, s2)
    w[0] = 5.0
    _traced._BODY_TOKENS.entries.clear()
    again, _ = _traced.trace(f, s2)
    assert again != first


def test_debugging_checks_trace_through_jax_make_jaxpr():
    key = jax.random.key(0)

    def reuses(x):
        return x * (jax.random.uniform(key) + jax.random.uniform(key))

    previous = jax.config.jax_debug_key_reuse
    jax.config.update("jax_debug_key_reuse", True)
    try:
        with pytest.raises(Exception, match="consumed"):
            _traced.trace(reuses, _S)
    finally:
        jax.config.update("jax_debug_key_reuse", previous)


def test_a_module_of_the_users_is_not_a_library():
    import types as _types

    settings = _types.ModuleType("settings")  # a module of the user's, holding a setting
    settings.scale = 2.0
    namespace = {"settings": settings, "jnp": jnp}
    exec("def f(x):\n    return settings.scale * x", namespace)
    assert _traced._plain_key(namespace["f"], (_S,)) is None
    namespace["jnp"] = jnp
    exec("def g(x):\n    return jnp.sin(x)", namespace)
    assert _traced._plain_key(namespace["g"], (_S,)) is not None


_SCALE = 3.0


def _model(w, x):
    return w * x * _SCALE


def test_what_a_plain_key_cannot_see_is_not_plain():
    # Found by an outside review of the plain cache, each once a stale value or an error.
    import builtins
    import functools

    import numpy.random as npr

    a = jnp.diag(jnp.array([1.0, 2.0]))
    # A wrapper JAX makes copies the `__module__` of what it wraps ("functools" for a
    # partial): it reads what the wrapped function reads (here the global `_SCALE`).
    assert _traced._plain_key(jax.vmap(functools.partial(_model, 1.0)), (_S,)) is None
    assert _traced._plain_key(jax.grad(functools.partial(_model, 1.0), argnums=0), (_S,)) is None
    # Random generators reached under another name; a typed PRNG key read from a global.
    assert _traced._plain_key(lambda x: x * npr.standard_normal(), (_S,)) is None
    from jax.random import uniform

    k = jax.random.key(0)
    draws = [float(trace_function(a, lambda x: x * uniform(k))) for _ in range(3)]
    assert draws == [draws[0]] * 3

    # Assigning a global or an enclosing function's variable: a side effect.
    def flips(x):
        global _SCALE
        _SCALE = -_SCALE
        return x

    count = 0

    def counts(x):
        nonlocal count
        count += 1
        return x

    assert _traced._plain_key(flips, (_S,)) is None and _traced._plain_key(counts, (_S,)) is None
    # A NaN's sign: keyed by the float's bits.
    signs = [float(trace_function(a, lambda x: jnp.copysign(1.0, p) * x)) for p in (np.nan, np.nan, -np.nan)]
    assert signs == [3.0, 3.0, -3.0]
    # A builtin added by the user is a global as far as the key goes.
    builtins._jaxgrad_test_scale = 2.0
    try:
        g = eval("lambda x: x * _jaxgrad_test_scale", {"jnp": jnp})
        got = []
        for value in (2.0, 2.0, 2.0, 5.0):
            builtins._jaxgrad_test_scale = value
            got.append(float(trace_function(a, g)))
        assert got == [6.0, 6.0, 6.0, 15.0]
    finally:
        del builtins._jaxgrad_test_scale
    # The process's state reached through a library module's attributes, the clock, a
    # file; an import inside the function; NumPy scalars of one value in two units.
    assert _traced._plain_key(lambda x: x * float(jax.version.os.environ.get("S", "1")), (_S,)) is None
    assert _traced._plain_key(lambda x: x * np.datetime64("now").astype(float), (_S,)) is None
    assert _traced._plain_key(lambda x: x * np.loadtxt("p.txt"), (_S,)) is None
    assert _traced._plain_key(lambda x: x * jax.config.jax_debug_nans, (_S,)) is None

    def imports(x):
        from math import pi

        return x * pi

    assert _traced._plain_key(imports, (_S,)) is None
    keys = [_traced._plain_key(lambda x, t=t: x * t.astype(float), (_S,)) for t in
            (np.timedelta64(2, "s"), np.timedelta64(2, "ms"))]
    assert keys[0] != keys[1]
    assert _traced._plain_key(lambda x, s=np.float32(2.0): x * s, (_S,)) != _traced._plain_key(
        lambda x, s=np.int32(np.float32(2.0).view(np.int32)): x * s, (_S,))
