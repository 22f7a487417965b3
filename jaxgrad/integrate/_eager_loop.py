"""`quad`'s adaptive loop run pass by pass from Python, for eager calls: a new
integrand compiles only itself.

Called from eager code, `quad` used to compile one program per integrand: the whole
loop with the integrand inlined (3–6 s on the 2-core machine), so a notebook that tried
a new integrand, or edited one, waited that long each time. Yet only the integrand's
evaluation depends on it: the loop's passes are two compiled halves with the integrand
between them (`_adaptive.loop_parts`), functions of the loop's configuration alone.
Here they run as programs of their own, driven from Python:

- `start(edges)`: the loop's initial state and the nodes of its first pass;
- `f` at the nodes: the only program compiled per integrand (0.03–0.04 s);
- `step(edges, state, tolerances, f(nodes), kept)`: the rest of the pass, then the
  nodes of the next one, and the status that says whether there is a next one;
- `end(edges, state)`: the value, error, evaluations and status.

`quad`'s own work before and after the loop (the checks of its limits, their order,
the report) runs inside `start` and `end` (`PLAIN`, `run`'s `ends`): a program call
costs ~0.1 ms, and the second eager call on e^(−px)/√x fell from 3.3 to 3.0 ms.

`start`, `step` and `end` compile once per configuration (segments, dtype, size of
`f`'s value, `limit`) and process; tolerances are inputs. They compile light (LLVM at
optimisation level 0, one module: `_LIGHT`), which made the first eager `quad` of a
process 2.4 s instead of 4.1 s. The loop ends as the compiled one does, when a pass
leaves the status other than running: the same passes and the same arithmetic, up to
rounding. Compiled at the same level with the same code generator (as the test suite
compiles both), the results were bit for bit those of the loop compiled whole on the
test battery (52 of 53 integrals; a divergent sin t/t on a half line, whose value means
nothing, differed), with the same evaluations, error estimates and statuses. Against a
user's `jax.jit` (XLA's default emitters and level) they differ in the last bits on 21
of 53, as the loop compiled whole with the classic emitters already did on 20: LLVM's
optimisation fuses multiply-adds that level 0 rounds twice, and an adaptive loop can
then take another path (at |x − ¼|^(−0.8), epsrel 1e-12: 945 evaluations against
1,113, both converged, 7e-15 apart). The state crosses each call packed into one array
per dtype, so that a call hands XLA a handful of buffers instead of the state's ~40
arrays (dispatching them one by one cost ~0.7 ms a pass).

The price: a pass run as its own program costs ~0.2–0.3 ms where the compiled loop runs
one in ~0.03–0.06 ms (measured: the same pass repeated inside one program costs ~33 µs
from its second repetition on, ~250 µs the first time: its code and data start cold at
every call; most of a pass's ~600 small kernels is the runtime's dispatch of each), plus
a wait for the status. A repeated eager call of an integrand that needs four passes
takes ~3 ms instead of ~1.5–2 ms (`bench/eager_loop.py`). Eager calls with a weight
(values) take this route too (`_quad._weighted_eager`), and so does `cubature`'s loop
(`eager_adaptive_cubature`, below) and the outermost loop of `nquad` / `dblquad`;
inside a trace (`jax.jit`, `grad`, `vmap`) a loop stays one `while_loop` in the
program being built.

Many loops of one configuration at once (`quadosc`'s half periods: `run_lanes`) run as
`vmap` of the loop runs them inside a compiled program (`_batch.py`): the first pass of
every lane at once, then each lane it left unfinished again, alone by `run`, or, when
more than `_ALONE` are left, side by side (`_in_lockstep`: those lanes only, the pass
under `vmap`, a finished lane left as it was). A new integrand of `quadosc` took 0.05–0.09 s instead of
4.3–4.9 s, its later calls about three times as long as the whole program's
(`bench/eager_quadosc.py`).

Differentiated from eager code (`jax.grad`, `jax.jvp`: linearization or a JVP over
eager code, `_jit.differentiated_eagerly`), `quad` runs unjitted and its derivative
rule's loop on [f, ∂f/∂θ] gets concrete inputs, so it also runs here (`_batch.
pooled_solver` sends every loop with concrete inputs here); the joint integrand is made
once per integrand and argument structure (`_quad._joint_integrand`). A new integrand's
first eager gradient took 0.07–0.08 s instead of 5.1–5.4 s; later ones 9–13 ms instead
of 2.7 ms, most of it JAX linearizing the unjitted wrapper at each call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._jit import _at_top_level, _runs_alone, jit_core
from . import _status
from ._adaptive import _loop_core, evaluate, finish_steps, tolerance_leaves


# `quad`'s loop programs compile light (`_jit.jit_core`: LLVM at level 0, one module):
# the first eager `quad` of a process took 2.4 s instead of 4.1 s, later calls 3.2–3.3 ms
# instead of 2.5–2.9 ms (their passes run ~15 % slower). Not `cubature`'s, whose passes
# rank and update pools of thousands of boxes: light, its later calls took 1.5–2 times as
# long (cos(2 Σx) on [0, 1]⁵: 166–189 ms against 86–96 ms) for 0.7 s less on its first.
# f's evaluations compile as usual.
_LIGHT = True


def concrete(*trees) -> bool:
    """Whether every array in `trees` is concrete (none a tracer) and no program is being
    staged (`jax.jit`): the loop can then run from Python, its programs on their own."""
    return _runs_alone(trees)


def usable(*trees) -> bool:
    """Whether a call with these inputs runs the loop from Python: eager code (no trace
    under way) and concrete inputs."""
    return _at_top_level() and concrete(*trees)


class _Packing:
    """A pytree of arrays packed into one 1-D array per dtype (`pack`), and back
    (`unpack`), for a fixed structure and fixed shapes."""

    def __init__(self, shapes):
        leaves, self.treedef = jax.tree_util.tree_flatten(shapes)
        # (Unpacked leaves are strongly typed: the loop's state has no weakly typed array.)
        assert not any(getattr(x, "weak_type", False) for x in leaves), "a weakly typed leaf in the state"
        self.dtypes = sorted({jnp.dtype(x.dtype) for x in leaves}, key=str)
        size = dict.fromkeys(self.dtypes, 0)
        self.slots = []  # per leaf: (dtype group, offset, shape)
        for x in leaves:
            dtype = jnp.dtype(x.dtype)
            self.slots.append((self.dtypes.index(dtype), size[dtype], tuple(x.shape)))
            size[dtype] += int(np.prod(x.shape, dtype=np.int64))

    def pack(self, tree):
        groups = [[] for _ in self.dtypes]
        for x, (g, _, _) in zip(jax.tree_util.tree_leaves(tree), self.slots):
            groups[g].append(jnp.ravel(x))
        return tuple(jnp.concatenate(g) if g else jnp.zeros((0,), d) for g, d in zip(groups, self.dtypes))

    def unpack(self, packed):
        leaves = []
        for g, offset, shape in self.slots:
            leaves.append(packed[g][offset:offset + int(np.prod(shape, dtype=np.int64))].reshape(shape))
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def _plain_before(edges):
    return edges, ()


def _plain_after(carry, result):
    return result


# `(before, after)` for a loop on given edges: `before(*inputs) -> (edges, carry)` runs in
# the program that starts the loop, `after(carry, result)` in the one that ends it, so
# that a caller's work on either side of the loop (`quad`'s checks of its limits and its
# report) costs no program call of its own (each costs ~0.1 ms).
PLAIN = (_plain_before, _plain_after)


@functools.lru_cache(maxsize=64)
def _loop(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """`(init, pass_nodes, finish, state, kept, step)` for one configuration of the loop:
    its parts (`_adaptive._loop_core`), the packings of its state and of what a pass keeps
    for the next, and `step` compiled. None reads the integrand's arguments: the state
    holds them only for the resumed lanes of `vmap` (`_batch.py`), and here they stay
    with the caller."""
    init, _, pass_nodes, pass_update, finish = _loop_core(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, exact)
    edges0 = jax.ShapeDtypeStruct((nseg + 1,), dtype)
    rest_shapes = jax.eval_shape(lambda e: init(e, ())[2:], edges0)
    state = _Packing(rest_shapes)
    kept = _Packing(jax.eval_shape(lambda e, r: pass_nodes(e, r)[1], edges0, rest_shapes))

    @functools.partial(jit_core, concrete_alone=True, light=_LIGHT)
    def step(edges, packed, tols, fx, kept_packed):
        rest = tuple(pass_update(edges, state.unpack(packed), tols, fx, kept.unpack(kept_packed)))
        # The next pass's nodes (unused after the last pass) and the status.
        return (state.pack(rest),) + _nodes(pass_nodes, kept, edges, rest) + (rest[-1],)

    return init, pass_nodes, finish, state, kept, step


def _nodes(pass_nodes, kept, edges, rest):
    x, k = pass_nodes(edges, rest)
    return x, kept.pack(k)


@functools.lru_cache(maxsize=64)
def _programs(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, ends=PLAIN, exact=None):
    """(start, step, end) compiled for one configuration of the loop and one pair of
    `ends` (see `PLAIN`); `step` is shared by every pair."""
    init, pass_nodes, finish, state, kept, step = _loop(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, exact)
    before, after = ends

    @functools.partial(jit_core, concrete_alone=True, light=_LIGHT)
    def start(*inputs):
        edges, carry = before(*inputs)
        rest = init(edges, ())[2:]
        return (edges, carry, state.pack(rest)) + _nodes(pass_nodes, kept, edges, rest)

    @functools.partial(jit_core, concrete_alone=True, light=_LIGHT)
    def end(edges, carry, packed):
        return after(carry, finish((edges, ()) + tuple(state.unpack(packed))))

    return start, step, end


@functools.lru_cache(maxsize=256)
def evaluator(fvec):
    """`f` at an array of nodes, compiled per integrand (`fvec` is made once per
    integrand by the caller, so that this cache holds)."""
    return jit_core(functools.partial(evaluate, fvec), concrete_alone=True)


def eager_adaptive_quad(fvec, edges, args, **config):
    """`_adaptive.adaptive_quad` (same arguments and results) on concrete inputs, pass by
    pass (see the module docstring)."""
    edges = jnp.asarray(edges)
    return run(fvec, (edges,), args, nseg=edges.shape[0] - 1, dtype=jnp.dtype(edges.dtype), **config)


def run(fvec, inputs, args, *, nseg, dtype, ends=PLAIN, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """The loop on the edges that `ends[0]` makes of `inputs` (concrete), its result
    through `ends[1]` (see `PLAIN`); `nseg` segments of limits of `dtype`."""
    start, step, end = _programs(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, ends, exact)
    f_at = evaluator(fvec)
    tols = tolerance_leaves(args) if epsabs is None else ()
    edges, carry, packed, x, kept = start(*inputs)
    while True:
        packed, x_next, kept_next, code = step(edges, packed, tols, f_at(args, x), kept)
        if _running(code):
            x, kept = x_next, kept_next
        else:
            return end(edges, carry, packed)


@functools.lru_cache(maxsize=64)
def _lane_programs(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, ends=PLAIN):
    """`run_lanes`' programs for one configuration: the first pass's nodes and its rest,
    for every lane at once (`_batch.first_pass_steps` under `vmap`, `ends[0]` before it),
    and the report of every lane (`ends[1]`)."""
    from ._batch import first_pass_steps  # (a cycle: `_batch` sends concrete loops here)

    init = _loop(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit)[0]
    before, after = ends

    def steps(edges, tols):
        return first_pass_steps(lambda e, a: init(e, ()), edges, tols, epsabs, epsrel)

    @functools.partial(jit_core, concrete_alone=True, light=_LIGHT)
    def first_nodes(*inputs):
        def lane(*inputs):
            edges, carry = before(*inputs)
            return (edges, carry) + next(steps(edges, ()))

        return jax.vmap(lane)(*inputs)

    @functools.partial(jit_core, concrete_alone=True, light=_LIGHT)
    def first_rest(edges, tols, fx, kept):
        def lane(edges, fx, kept):
            rest = steps(edges, tols)
            next(rest)
            return finish_steps(rest, (fx, kept))

        return jax.vmap(lane)(edges, fx, kept)

    @functools.partial(jit_core, concrete_alone=True, light=_LIGHT)
    def report(carry, result):
        return jax.vmap(after)(carry, result)

    return first_nodes, first_rest, report


@functools.partial(jit_core, concrete_alone=True, light=_LIGHT)
def _resumed(result, i, lane):
    """`result` (value, err, neval, code per lane) with lane `i` the loop's `lane`, its
    first pass counted as well."""
    value, err, neval, code = result
    v, e, n, c = lane
    return value.at[i].set(v), err.at[i].set(e), neval.at[i].set(n + neval[i]), code.at[i].set(c)


def run_lanes(fvec, inputs, args, *, nseg, dtype, ends=PLAIN, out_size, limit, epsabs, epsrel, nsplit):
    """`run` on each lane of `inputs` (a leading batch axis on every leaf; `args` are
    shared), as `vmap` of the loop does it (`_batch.batched_adaptive_quad`): the first
    pass of every lane at once, f evaluated at all their nodes in one call; then each lane
    that it did not finish, run again alone by `run` (its first pass counted twice in
    `neval`, as under `vmap`)."""
    first_nodes, first_rest, report = _lane_programs(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit, ends)
    f_at = evaluator(fvec)
    tols = tolerance_leaves(args) if epsabs is None else ()
    edges, carry, x, kept = first_nodes(*inputs)
    result = first_rest(edges, tols, f_at(args, x), kept)
    unfinished = np.flatnonzero(_on_host(result[3]) == _status.RUNNING)
    config = dict(nseg=nseg, dtype=dtype, out_size=out_size, limit=limit, epsabs=epsabs, epsrel=epsrel, nsplit=nsplit)
    if len(unfinished) > _ALONE:
        return report(carry, _in_lockstep(fvec, edges, args, tols, result, unfinished, config))
    for i in unfinished:
        i = np.int32(i)
        result = _resumed(result, i, run(fvec, (edges[i],), args, **config))
    return report(carry, result)


# Unfinished lanes resumed one by one, `run` each, up to this many; more run side by side
# (`_in_lockstep`). A lane alone costs ~0.6 ms and ~0.3 ms a pass after its first; a pass
# of all 40 lanes of `quadosc` side by side ~1.5 ms (measured: ∫ cos(1.5t)/√t over 40
# half periods at epsrel 1e-12, every lane resumed for one or two passes: 30 ms one by one).
_ALONE = 8


@functools.lru_cache(maxsize=64)
def _lockstep_programs(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit):
    """`_programs` (with `PLAIN` ends) over a leading axis of lanes, run in lockstep: the
    lanes `idx` of a batch (an index past the batch pads), a lane marked finished left as
    it was, `step` also saying whether any lane runs on; `merge` puts their results in
    place of the first pass's. Compiled per configuration and number of lanes `idx`
    holds. Not compiled light (`_LIGHT`): under `vmap` every lane's pool is updated at
    every pass, and at LLVM's level 0 a pass of 40 lanes took about three times as long."""
    start, step, end = (p.__wrapped__ for p in _programs(nseg, dtype, out_size, limit, epsabs, epsrel, nsplit))

    @functools.partial(jit_core, concrete_alone=True)
    def start_lanes(edges, idx):
        edges = jnp.take(edges, idx, axis=0, mode="clip")
        return (edges,) + jax.vmap(start)(edges)[2:]

    @functools.partial(jit_core, concrete_alone=True)
    def step_lanes(edges, packed, tols, fx, kept, code):
        new, x, kept, new_code = jax.vmap(step, in_axes=(0, 0, None, 0, 0))(edges, packed, tols, fx, kept)
        on = code == _status.RUNNING
        packed = tuple(jnp.where(on[:, None], n, o) for n, o in zip(new, packed))
        code = jnp.where(on, new_code, code)
        return packed, x, kept, code, jnp.any(code == _status.RUNNING)

    @functools.partial(jit_core, concrete_alone=True)
    def merge(edges, packed, result, idx):
        value, err, neval, code = jax.vmap(lambda e, p: end(e, (), p))(edges, packed)
        neval = neval + jnp.take(result[2], idx, mode="clip")
        return tuple(r.at[idx].set(n, mode="drop") for r, n in zip(result, (value, err, neval, code)))

    return start_lanes, step_lanes, merge


def _in_lockstep(fvec, edges, args, tols, result, unfinished, config):
    """The loop, run again on the lanes `unfinished` (host indices) that their first pass
    left running (`result`), side by side; their results in place of the first pass's.
    Only those lanes run, padded to a power of two or to the whole batch, whichever is
    fewer (each width compiles once): with 9
    hard lanes among 1,000, running every lane made a call 2.5 s against 0.1 s under
    `jax.jit` (outside review)."""
    start, step, merge = _lockstep_programs(**config)
    f_at = evaluator(fvec)
    size = edges.shape[0]
    width = min(1 << (len(unfinished) - 1).bit_length(), size)
    idx = np.full(width, size, np.int32)  # (padding: past the batch)
    idx[: len(unfinished)] = unfinished
    code = np.where(idx < size, _status.RUNNING, _status.CONVERGED).astype(np.int32)
    sub, packed, x, kept = start(edges, idx)
    while True:
        packed, x, kept, code, more = step(sub, packed, tols, f_at(args, x), kept, code)
        if not _on_host(more):
            return merge(sub, packed, result, idx)


def _running(code) -> bool:
    """Whether the status `code` (a scalar on the device) says the loop goes on."""
    return int(_on_host(code)) == _status.RUNNING


def _on_host(x):
    """A device array read on the host: an explicit transfer, allowed by
    `jax.transfer_guard` (`jax.device_get` cost ~40 µs more a pass)."""
    with jax.transfer_guard_device_to_host("allow"):
        return np.asarray(x)


# `cubature`'s loop (`_cubature_adaptive`), driven the same way. Its first pass evaluates
# f at the whole box's nodes before the state exists, so it starts with two programs
# around f (`first_nodes`, then `first`, which builds the state from f there).


@functools.lru_cache(maxsize=64)
def _cubature_programs(d, dtype, val_dtype, out_size, limit, epsabs, epsrel, nsplit, exact):
    """(first_nodes, first, step, end) compiled for one configuration of `cubature`'s
    loop (see `_programs`): boxes of limits of `dtype`, f's values and the tolerances of
    `val_dtype`."""
    from ._cubature_adaptive import _loop_core as cubature_core  # (imports _batch, which imports this module)

    core = cubature_core(d, dtype, out_size, limit, epsabs, epsrel, nsplit, exact)
    lo0 = jax.ShapeDtypeStruct((d,), dtype)
    centre0, half0, x0 = jax.eval_shape(core.first_nodes, lo0, lo0)
    fx0 = jax.ShapeDtypeStruct(x0.shape[:2] + (out_size,), val_dtype)
    tols0 = [] if epsabs is not None else [_tolerances_shape(val_dtype)]
    rest_shapes = jax.eval_shape(core.first_rest, centre0, half0, fx0, tols0)
    state = _Packing(rest_shapes)
    kept = _Packing(jax.eval_shape(lambda r, t: core.pass_nodes(r, t)[1], rest_shapes, tols0))

    def nodes(rest, tols):
        x, k = core.pass_nodes(rest, tols)
        return x, kept.pack(k)

    first_nodes = jit_core(core.first_nodes, concrete_alone=True, light=False)

    @functools.partial(jit_core, concrete_alone=True, light=False)
    def first(centre, half, fx, tols):
        rest = core.first_rest(centre, half, fx, tols)
        return (state.pack(rest),) + nodes(rest, tols) + (rest[-1],)

    @functools.partial(jit_core, concrete_alone=True, light=False)
    def step(packed, tols, fx, kept_packed):
        rest = tuple(core.pass_update(state.unpack(packed), tols, fx, kept.unpack(kept_packed)))
        return (state.pack(rest),) + nodes(rest, tols) + (rest[-1],)

    @functools.partial(jit_core, concrete_alone=True, light=False)
    def end(packed):
        return core.finish((None,) + tuple(state.unpack(packed)))

    return first_nodes, first, step, end


def _tolerances_shape(dtype):
    from ._adaptive import Tolerances

    return Tolerances(jax.ShapeDtypeStruct((2,), dtype))


@functools.lru_cache(maxsize=256)
def _box_evaluator(fvec):
    """`f` at the nodes of boxes, (m, n, d) -> (m, n, k), compiled per integrand."""
    from ._cubature_adaptive import each_node

    at_nodes = each_node(fvec)
    return jit_core(lambda args, x: at_nodes(x, args), concrete_alone=True)


def eager_adaptive_cubature(fvec, lo, hi, args, *, val_dtype, out_size, limit, epsabs, epsrel, nsplit, exact=None):
    """`_cubature_adaptive.adaptive_cubature` (same arguments and results; `val_dtype`:
    that of f's values and the tolerances) on concrete inputs, pass by pass."""
    lo, hi = jnp.asarray(lo), jnp.asarray(hi)
    first_nodes, first, step, end = _cubature_programs(
        lo.shape[0], jnp.dtype(lo.dtype), jnp.dtype(val_dtype), out_size, limit, epsabs, epsrel, nsplit, exact)
    f_at = _box_evaluator(fvec)
    tols = tolerance_leaves(args) if epsabs is None else []
    centre, half, x = first_nodes(lo, hi)
    packed, x, kept, code = first(centre, half, f_at(args, x), tols)
    while _running(code):
        packed, x, kept, code = step(packed, tols, f_at(args, x), kept)
    return end(packed)
