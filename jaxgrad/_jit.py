"""`jax.jit` for the compiled cores behind the public functions that run adaptive loops
(`quad`, `quadosc`, `cubature`, `nquad`/`dblquad`/`tplquad`): a cheaper first call
from eager code on a CPU.

On a CPU, XLA's classic code generators compile these programs in about a third less
time than its default MLIR-based fusion emitters, and the programs run at about the
same speed (`python bench/eager.py`, bench/RESULTS.md "eager": the first eager `quad`
4.0 → 2.7 s, `quadosc` 6.0 → 4.4 s, `dblquad` 8.5 → 6.9 s, `cubature` at d = 4
2.2 → 1.8 s; later calls unchanged). Left out: `qmc_quad` (its first call gained 0.2 s
in one measurement, its programs ran up to 25 % slower) and `eigsh` (no gain at
n = 400). `jax.jit` takes
`compiler_options` only when it is called from eager code, not nested in a trace, so
`jit_core` keeps two `jax.jit` of the same function:

- called from eager code (no trace under way) on a CPU, the one that compiles with the
  classic emitters;
- inside a trace (the user's `jax.jit`, `grad`, `vmap`, ...), the plain one: its
  program becomes part of the user's and compiles however the user's does.

Both are cached the same way, so only the first eager call of an integrand compiles.
The eager path is skipped when `XLA_FLAGS` already chooses the emitters (the user's
choice stands), and for good once XLA rejects the option (a version that no longer has
it).

Differentiated inside a program being staged (`jax.jit(jax.grad(...))`, `jax.hessian`
under `jit`), the function is called as it is, without a `jax.jit` around it. Through
a nested `jax.jit` JAX traces the function first as it stands, then differentiates that
trace: for `quad` the value's own adaptive loop was traced (about 1 s, then discarded:
the derivative rule integrates [f, ∂f/∂θ] in a loop of its own) before the derivative's.
Called directly, only the rule's loop is traced: `jit(grad(quad))` traced in 0.45–0.65 s
instead of 1.2–2.1 s. The cost: a program that differentiates several calls of the
same integrand traces the derivative loop once per call, where the nested `jax.jit`
cached it (six calls: 1.9 s against 1.3 s; break-even at two or three; outside
review). Eager differentiation (`jax.grad(...)(p)` with no `jit`) keeps the nested
`jax.jit`, whose cache makes the second call cheap (except `quad` without a weight,
which then runs unjitted and drives its loops from Python: `integrate/_eager_loop.py`);
so do values and `vmap` inside a program, where the trace is the one needed and the
cache lets another program with the same integrand reuse it.

`concrete_alone=True` (the programs of that Python-driven loop) also compiles with the
eager options when the call's arguments are concrete and no program is being staged,
inside a differentiation that evaluates it as it stands (`_runs_alone`).
"""

from __future__ import annotations

import functools
import os

import jax

_FLAG = "xla_cpu_use_fusion_emitters"
_OPTIONS = {_FLAG: False}
# `light`: also LLVM at optimisation level 0, as one module (see `jit_core`).
_LIGHT_OPTIONS = {_FLAG: False, "xla_backend_optimization_level": 0, "xla_cpu_parallel_codegen_split_count": 1}
_usable = [True]


def _at_top_level() -> bool:
    try:
        from jax._src import core
    except ImportError:  # pragma: no cover - a JAX without it: always the plain jit
        return False
    return core.trace_state_clean()


def _traces():
    """`(stack, (differentiation, staging))`: the traces under way, innermost first, down
    to (not including) eager evaluation, and the trace types that differentiate and that
    stage a program; `(None, None)` for a JAX without these modules."""
    try:
        from jax._src import core
        from jax._src.interpreters import ad
        from jax._src.interpreters import partial_eval as pe
    except ImportError:  # pragma: no cover - a JAX without them: always the plain jit
        return None, None
    stack, trace = [], core.trace_ctx.trace
    while trace is not None and not isinstance(trace, core.EvalTrace):
        stack.append(trace)
        trace = getattr(trace, "parent_trace", None)
    return stack, ((ad.JVPTrace, ad.LinearizeTrace), pe.DynamicJaxprTrace)


def _differentiated_in_a_program() -> bool:
    """Whether the call is being differentiated (`grad`, `jvp`, ...) inside a trace that
    stages a program (the user's `jax.jit`)."""
    stack, kinds = _traces()
    if stack is None:
        return False
    differentiation, staging = kinds
    for i, trace in enumerate(stack):
        if isinstance(trace, staging):
            return any(isinstance(t, differentiation) for t in stack[:i])
    return False


def differentiated_eagerly() -> bool:
    """Whether the call is being differentiated (`grad`, `jvp`, ...) from eager code:
    every trace under way is a differentiation, none stages a program or batches."""
    stack, kinds = _traces()
    return bool(stack) and all(isinstance(t, kinds[0]) for t in stack)


def batched_eagerly() -> bool:
    """Whether the call is under one `jax.vmap` from eager code and nothing else (see
    `jaxgrad._buckets`)."""
    stack, _ = _traces()
    if not stack or len(stack) != 1:
        return False
    from jax._src.interpreters import batching

    return isinstance(stack[0], batching.BatchTrace)


def _runs_alone(args) -> bool:
    """Whether a jitted call on `args` runs as a program of its own: no program is being
    staged (`jax.jit`) and every argument is concrete, so that a differentiation or
    batching under way evaluates it as it stands (the adaptive loop's programs, driven
    from Python in eager differentiation: `integrate/_eager_loop.py`)."""
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(args)):
        return False
    stack, kinds = _traces()
    return stack is not None and not any(isinstance(t, kinds[1]) for t in stack)


def _eager_options() -> bool:
    return _usable[0] and _FLAG not in os.environ.get("XLA_FLAGS", "") and jax.default_backend() == "cpu"


def jit_core(fun=None, *, concrete_alone=False, light=False, **jit_kwargs):
    """`jax.jit(fun, **jit_kwargs)`, compiled with XLA's classic CPU emitters when
    called from eager code (see the module docstring), and with `concrete_alone` also
    when called on concrete arguments inside a differentiation or batching that does not
    stage a program (`_runs_alone`). `light`: the eager program is also compiled at LLVM
    optimisation level 0, as one module (the pass-by-pass loop's bookkeeping, small-array
    work that XLA's own passes already shape: its per-pass program compiled in 1.1 s
    instead of 2.6 s and ran alone in 0.24 ms against 0.22 ms, a whole eager `quad` ~15 %
    slower; not where the user's integrand is evaluated). `.nested` and `.eager` are the two `jax.jit` objects;
    `._cache_size()` counts the programs both hold."""
    if fun is None:
        return functools.partial(jit_core, concrete_alone=concrete_alone, light=light, **jit_kwargs)
    nested = jax.jit(fun, **jit_kwargs)
    options = _OPTIONS
    if light:
        flags = os.environ.get("XLA_FLAGS", "")  # (the user's own choices stand)
        options = {k: v for k, v in _LIGHT_OPTIONS.items() if k not in flags}
    eager = jax.jit(fun, compiler_options=options, **jit_kwargs)

    @functools.wraps(fun)
    def call(*args, **kwargs):
        if _eager_options() and (_at_top_level() or (concrete_alone and _runs_alone((args, kwargs)))):
            try:
                return eager(*args, **kwargs)
            except jax.errors.JaxRuntimeError as err:
                if "compile option" not in str(err):
                    raise
                _usable[0] = False
        if _differentiated_in_a_program():
            return fun(*args, **kwargs)
        return nested(*args, **kwargs)

    call.nested, call.eager = nested, eager
    call._cache_size = lambda: nested._cache_size() + eager._cache_size()
    return call
