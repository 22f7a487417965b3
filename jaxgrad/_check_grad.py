"""Check JAX derivatives against central differences with Richardson extrapolation.

The reference derivative along a direction v is the central difference
    D(h) = (g(x + h v) − g(x − h v)) / (2h) = g'(x)v + c₂h² + c₄h⁴ + …,
improved by one Richardson step R(h) = (4 D(h/2) − D(h)) / 3 = g'(x)v + O(h⁴)
(Richardson 1911; see Dahlquist & Björck 2008, "Numerical methods in scientific
computing", sec. 3.4). Rounding adds about eps·|g|/h, so the best step balances h⁴
against eps/h: h ~ eps^(1/5). The step is chosen automatically on a ladder
h₀, h₀/2, …, h₀/32 per direction v, h₀ = 4·eps^(1/5)·s, for two sizes s: the size of
the coordinate it moves, ‖v ⊙ x‖ (|xᵢ| along eᵢ; about rms(x) along a random unit v;
min(rms(x), 1) where that is 0), and 1, the second ladder only where it is more than 8
times longer or shorter; a shorter one (a coordinate far above 1) is a fallback, used only
where the first has no pair confirmed as below. Along a coordinate every step is a
multiple of 32 ulps of it (at least 32), so that x ± h is exact. Consecutive
extrapolants R(h) and R(h/2) are compared, and the pair that agrees best is used, among
the pairs that agree to one digit and whose difference quotients are not all exactly 0
(unless no pair qualifies: steps across a kink give quotients ~x/h, steps beyond where f
varies exact zeros, both in small absolute disagreement), preferring pairs confirmed by a
neighbour on their ladder that agrees too (three consecutive extrapolants: steps that f
aliases, sin x at 1e8 with steps of 1e4, can give two that agree by chance); their
difference, or the rounding error of the quotients (eps·|f|/h) if larger, is reported as
the reference's own error estimate. One step for all coordinates, from rms(x), was wrong for arguments of mixed
sizes (at x = (1e8, 1) the derivative in the second coordinate of Σ sin x came out 4e-7
instead of cos 1, and at (1e6, 1e-6) a log was NaN); a step from |xᵢ| alone is wrong for
a small coordinate of a function that varies on a unit scale (e^x at x = 1e-10: 8e-3
off), and one from |xᵢ| alone is wrong for a large coordinate of such a function (sin x
at x = 1e8, 1e12: steps of 3e5 and more). The two ladders cover these.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import warnings
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import ArrayLike, PyTree

from ._errors import readable_errors
from ._options import as_real
from ._traced import trace

_LADDER = 6  # steps h₀·2⁻ᵏ, k = 0..5
_BASIS_MAX = 32  # up to this many inputs (outputs), use every coordinate direction


def default_rtol(dtype) -> float:
    """Relative tolerance of `check_grad` when `rtol=None`: 1e-6 (float64), 3e-3
    (float32), and for the 16-bit types four times their eps (float16 3.9e-3, bfloat16
    3.1e-2): 3e-3 is below bfloat16's eps (7.8e-3), where a correct rule failed."""
    info = jnp.finfo(dtype)
    return 1e-6 if info.bits >= 64 else max(3e-3, 4 * float(info.eps))


def _least_precise(*trees):
    """The real dtype of the least precise floating leaf of `trees` (arrays or
    `ShapeDtypeStruct`s; a complex leaf by its parts)."""
    dtypes = [jnp.finfo(getattr(t, "dtype", None) or jnp.result_type(t)).dtype for t in jax.tree_util.tree_leaves(trees)
              if jnp.issubdtype(getattr(t, "dtype", None) or jnp.result_type(t), jnp.inexact)]
    return max(dtypes, key=lambda d: float(jnp.finfo(d).eps), default=np.dtype(np.float64))


def _float_dtype(x):
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"expected real floating-point values; got dtype {dtype}.")
    return dtype


def _directions(n: int, count: int | None, dtype, rng) -> np.ndarray:
    """Unit directions, rows: the coordinate basis for small `n`, else random Gaussian."""
    if count is None and n <= _BASIS_MAX:
        return np.eye(n, dtype=dtype)
    k = 8 if count is None else count
    v = rng.normal(size=(k, n))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(dtype)


def _step_ladders(x, dirs, step, eps) -> np.ndarray:
    """The steps h₀·2⁻ᵏ, k = 0..5, per direction (rows of `dirs`) and ladder: (D, L, 6)
    in the dtype of `x`, L = 1 or 2; h₀ = `step`, or 4·eps^(1/5) times the two sizes of
    the module docstring."""
    x = np.asarray(x, np.float64)
    if step is None:
        big = float(np.max(np.abs(x), initial=0.0))
        big = big if 0 < big < np.inf else 1.0  # (norms of x/big: no overflow at 1e200)
        rms = big * float(np.sqrt(np.mean((x / big) ** 2))) if x.size else 0.0
        unit = rms if 0 < rms < 1 else 1.0
        # ‖v ⊙ x‖, each direction scaled by its own largest |vᵢxᵢ|: scaled by max|x| alone,
        # (1e-300/1e-12)² underflowed, the size along the coordinate at 1e-300 came out 0
        # and was replaced by rms(x), and sqrt at (1e-12, 1e-300) was checked with steps of
        # 2e-15 across 0: NaN, FAIL (outside probe).
        vx = np.abs(np.asarray(dirs, np.float64) * x[None, :])
        top = np.max(vx, axis=1, initial=0.0)
        safe = np.where(top > 0, top, 1.0)
        size = np.where(top > 0, safe * np.sqrt(np.sum((vx / safe[:, None]) ** 2, axis=1)), 0.0)
        size = np.where(size > 0, size, unit)
        # The second ladder, on a unit scale, where the first is more than 8 times
        # shorter or longer: sin x at x = 1e8 varies on a scale of 1, and steps of
        # 3e5..1e4 from |x| alone failed a right derivative (outside probe).
        sizes = [size, np.ones_like(size)]
        if not np.any((sizes[1] > 8 * sizes[0]) | (sizes[0] > 8 * sizes[1])):
            sizes = sizes[:1]
        h0 = 4 * eps ** 0.2 * np.stack(sizes, axis=1)
    else:
        h0 = np.full((len(dirs), 1), float(step))
    # Along a coordinate, a step that is a multiple of 32 ulps of that coordinate, and
    # at least that (the whole ladder then is a multiple of one): x ± h is then exact,
    # and the quotient is taken over the step actually made (a unit step at x = 1e8
    # rounds by 1.5e-8, one at 1e12 is below an ulp at its end of the ladder).
    dirs64 = np.asarray(dirs, np.float64)
    axis = np.argmax(np.abs(dirs64), axis=1)
    coordinate = np.sum(dirs64 != 0, axis=1) == 1
    ulp = np.spacing(np.abs(np.asarray(x)[axis]).astype(dirs.dtype)).astype(np.float64)
    q = (32 * ulp)[:, None]
    # (Where 32 ulps are below h·eps the step rounds like any number: left alone.)
    snap = coordinate[:, None] & np.isfinite(q) & np.isfinite(h0) & (q * 2.0**52 >= h0)
    q = np.where(snap, q, 1.0)
    h0 = np.where(snap, np.maximum(np.round(h0 / q), 1.0) * q, h0)
    return np.asarray(h0[:, :, None] * 0.5 ** np.arange(_LADDER), dirs.dtype)


def _checked_parts(t):
    """The entries of an output leaf that are compared, flattened: a real floating leaf
    itself, a complex one as its real and imaginary parts (an `eigh` of a complex
    Hermitian matrix returns real eigenvalues and complex eigenvectors: the eigenvectors
    were skipped without a word, and a 5x wrong complex JVP passed), nothing of an
    integer or boolean one."""
    dtype = jnp.result_type(t)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return [jnp.ravel(jnp.real(t)), jnp.ravel(jnp.imag(t))]
    return [jnp.ravel(t)] if jnp.issubdtype(dtype, jnp.floating) else []


def _checked_size(t):
    """How many entries `_checked_parts` compares for a leaf of this shape and dtype."""
    dtype = jnp.result_type(t)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return 2 * t.size
    return t.size if jnp.issubdtype(dtype, jnp.floating) else 0


def _out_flat(traced, argnum, order, consts, args, v):
    """What is differentiated, as a function of the flattened argument `argnum`, `v`:
    the floating outputs of `f` (`_checked_parts`), flattened (`order=1`), or the gradient of the scalar
    `f` (`order=2`). `traced(consts, *args)` computes `f(*args)` (see `jaxgrad._traced`).
    """
    _, unravel = ravel_pytree(args[argnum])  # a closure: rebuilt from the argument itself

    def call(w):
        new = list(args)
        new[argnum] = unravel(w)
        return traced(consts, *new)

    if order == 1:
        leaves = [part for t in jax.tree_util.tree_leaves(call(v)) for part in _checked_parts(t)]
        return jnp.concatenate(leaves) if leaves else jnp.zeros((0,), v.dtype)
    return jax.grad(lambda w: jnp.asarray(call(w)))(v)


# The compiled cores are module-level functions of the traced `f` (static, hashable by
# what it computes; `jaxgrad._traced`) and of arrays (the values `f` closes over, the
# arguments, the directions): a second call with the same `f` and argument types traces
# and compiles nothing, and new array values are read, never baked in.
@functools.partial(jax.jit, static_argnames=("traced", "argnum", "order"))
def _fd_compiled(traced, argnum, order, consts, args, dirs, hs):
    """`f` at the points x ± h_k·v_d of the difference stencil: (D, K, 2, m)."""
    x, _ = ravel_pytree(args[argnum])
    # points[d, k, s] = x + s·h_k·v_d, s = ±1, evaluated by one `lax.map`.
    # Not `vmap`: the reference must not depend on `f` supporting batching (a
    # `minimize` through `quad` does not, see docs/optimize.md).
    offs = hs[:, :, None, None] * jnp.array([1.0, -1.0], x.dtype)[None, None, :, None] * dirs[:, None, None, :]
    pts = x + offs
    g = functools.partial(_out_flat, traced, argnum, order, consts, args)
    return jax.lax.map(g, pts.reshape(-1, x.size)).reshape(*pts.shape[:3], -1)


@functools.partial(jax.jit, static_argnames=("traced", "argnum", "order", "mode"))
def _ad_compiled(traced, argnum, order, mode, consts, args, vecs):
    """JAX's derivatives, batched over the rows of `vecs`: `jvp` along each direction
    (`mode="fwd"`, (D, m)) or `vjp` of each cotangent (`mode="rev"`, (C, n))."""
    x, _ = ravel_pytree(args[argnum])
    g = functools.partial(_out_flat, traced, argnum, order, consts, args)
    if mode == "fwd":
        return jax.vmap(lambda v: jax.jvp(g, (x,), (v,))[1])(vecs)
    y, pullback = jax.vjp(g, x)
    # The cotangents in the dtype of f's output (float32 from a float64 argument).
    return jax.vmap(lambda u: pullback(u.astype(y.dtype))[0])(vecs)


def _fd_directional(traced, argnum, order, consts, args, x, dirs, step, eps):
    """Richardson-extrapolated central differences of argument `argnum` (flattened:
    `x`) along each row of `dirs`, the step picked on the ladder (module docstring).

    `eps`: the rounding unit of the least precise of the argument's leaves and f's
    outputs, which sets the steps and the rounding floor of the error estimate.

    Returns `(reference (D, m), error estimate (D,), step used (D,))`, NumPy arrays.
    """
    dirs = np.asarray(dirs, x.dtype)
    hs = _step_ladders(x, dirs, step, eps)  # (D, L, K)
    n_dirs, n_ladders, k = hs.shape
    vals = _fd_compiled(traced, argnum, order, consts, args, dirs, hs.reshape(n_dirs, -1))
    # The extrapolation is a few operations on a small table: in NumPy, in the dtype
    # of the argument (op by op in JAX it compiled one program per operation and shape).
    vals = np.asarray(vals).reshape(n_dirs, n_ladders, k, 2, -1)
    d = (vals[:, :, :, 0] - vals[:, :, :, 1]) / (2 * hs[..., None])  # (D, L, K, m)
    r = (4 * d[:, :, 1:] - d[:, :, :-1]) / 3  # (D, L, K-1, m), R at h_{k+1}
    e = np.max(np.abs(r[:, :, 1:] - r[:, :, :-1]), axis=-1, initial=0.0)  # (D, L, K-2)
    # At least the rounding of the quotients, ~eps·|f|/h: at very short steps
    # consecutive extrapolants can agree by chance (the differences of f are a few
    # ulps, quantised), which made a step of 1e-14 look better than one of 1e-5.
    # (Over all output components: one that does not change on the ladder may be one
    # that the step cannot move, f = (x, 1e20 + x), whose reference is then 0 with no
    # error, and a wrong rule passed; review. sqrt at (1e-12, 1e-300) has an estimate of
    # 3e281 from sqrt(1e-12) over steps of 1e-301 along the other coordinate: INCONCLUSIVE.)
    fmax = np.max(np.abs(vals), axis=(2, 3, 4), initial=0.0)  # (D, L)
    e = np.maximum(e, eps * fmax[..., None] / hs[:, :, 2:])
    e = np.where(np.isfinite(e), e, np.inf)
    # Pairs that do not agree to one digit are out (unless every pair is): steps across
    # a kink give quotients ~x/h that halve with h, whose absolute disagreement is
    # small; and pairs of exact zeros (steps beyond where f varies) likewise.
    size = np.maximum(np.max(np.abs(r[:, :, 1:]), axis=-1), np.max(np.abs(r[:, :, :-1]), axis=-1))
    zero = np.all((d[:, :, :-2] == 0) & (d[:, :, 1:-1] == 0) & (d[:, :, 2:] == 0), axis=-1)  # (D, L, K-2)
    bad = zero | (np.max(np.abs(r[:, :, 1:] - r[:, :, :-1]), axis=-1) > 0.1 * size)
    e = np.where(bad & ~np.all(bad, axis=(1, 2), keepdims=True), np.inf, e)
    # A pair whose neighbour on its ladder agrees too (three consecutive extrapolants)
    # is preferred to one that stands alone: at x = 1e8 the steps of 3e5..1e4 that sin x
    # aliases gave two extrapolants agreeing to 5e-13 by chance (the next one had the
    # other sign), closer than the right ones of the unit ladder, and a right derivative
    # failed (outside probe).
    good = ~bad
    pad = np.zeros(good.shape[:2] + (1,), bool)
    confirmed = good & (np.concatenate([pad, good[:, :, :-1]], axis=2) | np.concatenate([good[:, :, 1:], pad], axis=2))
    e = np.where(~confirmed & np.any(confirmed, axis=(1, 2), keepdims=True), np.inf, e)
    # A unit ladder much shorter than the first (a coordinate far from 1) is a fallback,
    # used only where the first has no such pair: at steps far below the coordinate's
    # own scale its quotients are mostly rounding, which can agree by chance where f's
    # terms cancel (log 1e6 + log 1e-6: 1.5e-8 off).
    fallback = np.zeros((n_dirs, n_ladders), bool)
    if n_ladders > 1:
        fallback[:, 1] = hs[:, 1, 0] < hs[:, 0, 0] / 8
    primary = np.any(confirmed & ~fallback[:, :, None], axis=(1, 2))
    e = np.where(fallback[:, :, None] & primary[:, None, None], np.inf, e)
    best = np.argmin(e.reshape(n_dirs, -1), axis=1)
    lad, pos = np.divmod(best, k - 2)
    rows = np.arange(n_dirs)
    err = e[rows, lad, pos]
    # No pair qualified (a kink within every step, noise at every step): the error is
    # at least the spread of all the extrapolants, so that the verdict says unreliable.
    finite = np.where(np.isfinite(r), r, np.nan).reshape(n_dirs, -1, r.shape[-1])
    with warnings.catch_warnings():  # all-NaN slices: NaN, made inf below
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanmax(np.nanmax(finite, axis=1) - np.nanmin(finite, axis=1), axis=-1, initial=0.0)
    err = np.where(np.all(bad, axis=(1, 2)), np.maximum(err, np.nan_to_num(spread, nan=np.inf)), err)
    return r[rows, lad, pos + 1], err, hs[rows, lad, pos + 2]


def _check_option(fn, name, value, what, ok):
    """`value` None or a real number (`_options.as_real`: a Python number or a concrete
    0-d array) for which `ok` holds; else ValueError. A negative or zero `step` was
    replaced by 32 ulps of each coordinate (sin's derivative at (0.5, 1) came out
    (1, 0.5)), NaN and inf gave NaN, and a negative or NaN tolerance failed every entry
    as "reference noisy" (outside probe)."""
    number = as_real(value)
    if value is not None and (number is None or not ok(number)):
        raise ValueError(f"{fn}: {name} must be {what}; got {value!r}.")


def _check_step(fn, step):
    _check_option(fn, "step", step, "None or a finite number > 0", lambda h: 0 < h < np.inf)


def finite_difference_grad(
    f: Callable[..., Any],
    x: PyTree[ArrayLike],
    *args: Any,
    step: float | None = None,
) -> PyTree:
    """Gradient of a scalar function by central differences with Richardson extrapolation.

    Every coordinate of `x` is perturbed (2 × 6 evaluations each, run by one compiled
    `jax.lax.map`), so this is for small `x`: an independent reference for checking
    derivatives, not a way to compute them. The compiled program is cached (see
    `jaxgrad._traced`): a second call with the same `f` and arguments of the same
    shapes and dtypes traces and compiles nothing, and new values of the arguments and
    of the arrays `f` closes over are used.

    Arguments:
        f: `f(x, *args)`, a real scalar; traced with every argument abstract, as
            under `jax.jit`.
        x: a pytree of real floating-point arrays.
        *args: further arguments (pytrees of arrays), held fixed.
        step: largest step of the ladder, for every coordinate; default
            `4·eps^(1/5)·|xᵢ|` for coordinate i, and a second ladder from 1 where
            that is far longer or shorter (module docstring).

    Returns:
        A pytree like `x`: the gradient. Accuracy is typically ~1e-10 relative in
        float64 and ~1e-4 in float32 for smooth `f` that varies on the scale of
        each coordinate's size or more slowly. A coordinate far larger than the scale
        on which `f` varies (sin x at x = 1e4) needs an explicit `step`: the default
        one is then too long and the result is meaningless.

    Raises:
        TypeError: `x` has non-floating leaves, or `f` does not return a real scalar.
        ValueError: `step` is not a finite number > 0.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad import finite_difference_grad
        >>> print(finite_difference_grad(lambda x: jnp.sum(jnp.sin(x)), jnp.array([0.0, 1.0])).round(5))  # cos x
        [1.     0.5403]
    """
    _check_step("finite_difference_grad", step)
    flat, unravel = ravel_pytree(x)
    _float_dtype(flat)
    traced, consts = trace(f, x, *args)
    out = traced.out_shape
    if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
        got = f"{out.dtype}{list(out.shape)}" if isinstance(out, jax.ShapeDtypeStruct) else repr(out)
        raise TypeError(f"finite_difference_grad: f must return a real scalar; got {got}.")
    if flat.size == 0:  # no coordinate to perturb: the (empty) gradient
        return unravel(flat)
    dirs = np.eye(flat.size, dtype=flat.dtype)
    eps = float(jnp.finfo(_least_precise(x, out)).eps)
    ref, _, _ = _fd_directional(traced, 0, 1, consts, (x, *args), flat, dirs, step, eps)
    return unravel(jnp.asarray(ref[:, 0], flat.dtype))


@dataclasses.dataclass(frozen=True)
class GradCheckEntry:
    """One comparison of `check_grad`: one argument, one mode, one order.

    `max_abs_err` is the largest entry of |JAX − reference| over the checked
    directions; `max_rel_err` is that divided by `scale`, the largest |reference|
    entry; the check passes when `max_abs_err <= tol = atol + rtol·scale` (NaN or
    inf in the JAX derivative fails).
    `fd_error` is the reference's own error estimate (if it is not well below `tol`
    the verdict is not trustworthy, and `reliable` is False). Where it is not even below
    `scale` the reference carries no digit, and a pass proves nothing (`informative`
    is False): so for a derivative that is 0 (a reference of differences that are all 0
    cannot tell it from a step too short to move `f`) unless `atol` is given.
    """

    argnum: int
    mode: str
    order: int
    max_abs_err: float
    max_rel_err: float
    scale: float
    tol: float
    fd_error: float
    step: float
    num_directions: int
    rtol: float
    passed: bool

    @property
    def reliable(self) -> bool:
        return self.fd_error <= 0.1 * self.tol or self.fd_error == 0

    @property
    def informative(self) -> bool:
        # (reliable too: a gradient of ~0 at a stationary point, checked with an `atol`
        # against a good reference, has fd_error above its own size but far below tol;
        # review.)
        # (Not an exact agreement alone: both 0 for a component the steps cannot move,
        # f = (x, 1e20 + x), passed a rule whose derivative there was 0; review.)
        return self.reliable or self.fd_error < self.scale


@dataclasses.dataclass(frozen=True)
class GradCheckReport:
    """Result of `check_grad`: one `GradCheckEntry` per argument and mode."""

    entries: tuple[GradCheckEntry, ...]
    atol: float

    @property
    def passed(self) -> bool:
        """True if every entry passed, against a reference with at least one digit. An
        agreement with a reference whose error estimate is as large as the derivative
        proves nothing (a derivative 100 % wrong at a kink closer than every step agreed
        with a reference of ~0, and the report said PASS; outside probe): the report is
        then INCONCLUSIVE, and `passed` False. (A pass against a noisier reference than
        the tolerance asks for is still a pass, marked "reference noisy".)"""
        return all(e.passed and e.informative for e in self.entries)

    @property
    def inconclusive(self) -> bool:
        """True if no entry failed but some passed against a reference with no digit."""
        return all(e.passed for e in self.entries) and not self.passed

    @property
    def max_rel_err(self) -> float:
        return max((e.max_rel_err for e in self.entries), default=0.0)

    def __str__(self) -> str:
        rtols = sorted({e.rtol for e in self.entries})
        verdict = "PASS" if self.passed else "INCONCLUSIVE (no digit in the reference)" if self.inconclusive else "FAIL"
        head = (f"check_grad: {verdict} "
                f"(rtol={', '.join(f'{r:.1e}' for r in rtols)}, atol={self.atol:.1e})")
        lines = [head, "  arg  mode  order  max_abs_err  max_rel_err        tol   fd_error  result"]
        for e in self.entries:
            flag = "pass" if e.passed else "FAIL"
            if not e.reliable:
                flag += " (reference noisy)"
            lines.append(
                f"  {e.argnum:>3}  {e.mode:>4}  {e.order:>5}  {e.max_abs_err:11.2e}  {e.max_rel_err:11.2e}"
                f"  {e.tol:9.2e}  {e.fd_error:9.2e}  {flag}"
            )
        return "\n".join(lines)


@readable_errors
def check_grad(
    f: Callable[..., Any],
    *args: Any,
    order: int = 1,
    modes: Sequence[str] = ("fwd", "rev"),
    argnums: int | Sequence[int] | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
    step: float | None = None,
    num_directions: int | None = None,
    seed: int = 0,
) -> GradCheckReport:
    """Compare JAX derivatives of `f` with Richardson-extrapolated central differences.

    For each argument in `argnums` (flattened with `ravel_pytree`), the Jacobian of the
    flattened output is applied to a set of unit directions `V` (every coordinate if
    the argument has at most 32 entries, else `num_directions` random ones, default
    8) and compared:

    - `"fwd"`: `jax.jvp` along each direction against the difference quotient;
    - `"rev"`: `jax.vjp` with cotangents `U` (every output coordinate if at most 32,
      else random), contracted with the directions, against `U · (difference quotient)`.

    With `order=2`, `f` must return a scalar and its *gradient* takes the place of `f`:
    the Hessian-vector products of forward-over-reverse (`"fwd"`) and
    reverse-over-reverse (`"rev"`) differentiation are compared with differences of
    `jax.grad(f)` (whose own correctness `order=1` checks).

    The step is chosen automatically (see the module docstring); differences are
    evaluated in the dtype of the argument. Steps, the reference's rounding floor and
    the default tolerance follow the least precise of the argument's leaves and `f`'s
    outputs, so a function with float32 anywhere (a float32 output of a float64
    argument included) is checked at float32's accuracy.

    `f` is traced once per call, at the types of `args`, and evaluated by compiled
    programs that are cached (see `jaxgrad._traced`): a second call with the same `f`
    (or a lambda re-created with the same code) and arguments of the same shapes and
    dtypes traces and compiles nothing. The arguments and the arrays `f` closes over
    are inputs of those programs, so new values are always used. Not so a value that
    only a `custom_jvp`/`custom_vjp` rule inside `f` reads (a global constant of the
    rule, changed between two checks): the rule is not part of the cache key, as under
    `jax.jit`, and the second check reports on the first rule (outside probe: a rule
    made 2x wrong still passed). Check such a rule in a fresh process, or pass its
    constants as arguments.

    Arguments:
        f: the function; outputs may be any pytree: complex leaves are checked as
            their real and imaginary parts, integer and boolean leaves are ignored.
            An output with a gauge freedom (the phase of a complex eigenvector of
            `eigh`) has no derivative of its own and fails: check a gauge-invariant
            function of it instead (the projector v vᴴ).
            It is traced with every argument abstract, as under `jax.jit`.
        *args: point at which to check; pytrees of arrays (Python numbers are traced
            like arrays, not static).
        order: 1 (Jacobian) or 2 (Hessian-vector products).
        modes: any of `"fwd"`, `"rev"`.
        argnums: arguments to check (default: every argument with real floating leaves).
        rtol: relative tolerance; default 1e-6 (float64) or 3e-3 (float32 among the
            argument's leaves or the outputs; 4·eps for float16 and bfloat16). It is
            relative to the largest entry of the reference over all outputs and
            directions (`scale`), so an output far smaller than the largest is held
            only to `rtol·scale`: with outputs `[1e8·x₀, x₁]`, a rule wrong by 2x in
            the second passes (outside probe). Check such an output on its own (`f`
            returning it alone) to hold it to its own size.
        atol: absolute tolerance added to `rtol·scale`.
        step: largest finite-difference step, for every direction (default
            `4·eps^(1/5)` times the size of the argument along the direction, |xᵢ|
            along coordinate i, and a second ladder on a unit scale where that is
            far from 1; module docstring).
        num_directions: number of random directions for arguments with > 32 entries.
        seed: seed of the random directions and cotangents.

    Returns:
        A `GradCheckReport`; `report.passed` is the verdict (`report.inconclusive`
        where no comparison failed but some reference had no correct digit, so that
        its pass proves nothing), `print(report)` shows the
        per-argument table (max abs/rel error, tolerance used, reference error).

    Raises:
        ValueError: bad `order`, `modes`, `argnums`, `num_directions`, `seed`, `step`,
            `rtol` or `atol`; a
            checked argument with no entries (left out when `argnums` is None);
            `order=2` with a non-scalar `f`; `f` with no floating-point (real or
            complex) outputs; with `argnums` None, no argument with real
            floating-point entries (complex and integer arguments are left out).
        TypeError: an argument named in `argnums` has complex or integer leaves.
        equinox.EquinoxRuntimeError: a run-time check inside `f` failed at one of the
            points evaluated (its message): a `throw=True` call that did not converge,
            or a matrix function of a perturbed matrix that is no longer Hermitian. The
            directions move one entry at a time; for a function of a Hermitian matrix
            check `lambda a: g((a + a.mT.conj()) / 2)`, which has the same derivatives
            along Hermitian directions.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxgrad import check_grad
        >>> report = check_grad(lambda x, y: jnp.sin(x) * y, jnp.array([0.5, 1.0]), 2.0)
        >>> report.passed
        True
    """
    fn = "jaxgrad.check_grad"
    if order not in (1, 2):
        raise ValueError(f"{fn}: order must be 1 or 2; got {order!r}.")
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes or any(m not in ("fwd", "rev") for m in modes):
        raise ValueError(f"{fn}: modes must be a non-empty subset of ('fwd', 'rev'); got {modes!r}.")
    if num_directions is not None and (
        isinstance(num_directions, bool) or not isinstance(num_directions, numbers.Integral) or num_directions < 1
    ):
        raise ValueError(f"{fn}: num_directions must be None or a positive integer; got {num_directions!r}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{fn}: seed must be a non-negative integer; got {seed!r}.")
    _check_step(fn, step)
    for name, value in (("rtol", rtol), ("atol", atol)):
        _check_option(fn, name, value, "a number >= 0", lambda t: t >= 0)
    if argnums is None:
        # (an argument with no entries has nothing to check: it is left out)
        argnums = tuple(
            i for i, a in enumerate(args)
            if jax.tree_util.tree_leaves(a)
            and all(jnp.issubdtype(jnp.result_type(t), jnp.floating) for t in jax.tree_util.tree_leaves(a))
            and sum(np.size(t) for t in jax.tree_util.tree_leaves(a)) > 0
        )
        if not argnums:
            raise ValueError(f"{fn}: no argument has real floating-point entries to check.")
    elif isinstance(argnums, int):
        argnums = (argnums,)
    for i in argnums:
        if not 0 <= i < len(args):
            raise ValueError(f"{fn}: argnum {i} out of range for {len(args)} arguments.")
    flats = {i: ravel_pytree(args[i])[0] for i in argnums}
    for i in argnums:
        if flats[i].size == 0:
            raise ValueError(f"{fn}: argument {i} has no entries to check.")
        try:
            _float_dtype(flats[i])
        except TypeError as exc:
            raise TypeError(f"{fn}: argument {i}: {exc}") from None
    # `f` traced once at the types of `args`: the static key of the compiled cores, and
    # the arrays it closes over, their dynamic input (see `jaxgrad._traced`).
    traced, consts = trace(f, *args)
    out = traced.out_shape
    if order == 2 and getattr(out, "shape", None) != ():
        got = out.shape if isinstance(out, jax.ShapeDtypeStruct) else repr(out)
        raise ValueError(f"{fn}: order=2 needs a scalar f; got shape {got}.")
    if order == 2 and not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"{fn}: order=2 needs a real scalar f; got dtype {out.dtype}.")
    m_out = sum(_checked_size(t) for t in jax.tree_util.tree_leaves(out))
    if m_out == 0:
        # Nothing to compare: a report would pass without having checked anything.
        raise ValueError(f"{fn}: f has no floating-point (real or complex) outputs to check.")
    rng = np.random.default_rng(seed)
    entries = []
    for i in argnums:
        flat = flats[i]
        dtype = flat.dtype
        # Tolerance, steps and rounding floor from the least precise of the argument's
        # leaves and f's outputs: a float32 output of a float64 argument (or a float32
        # leaf beside a float64 one) was held to float64's 1e-6, against a reference
        # whose rounding was float32's, and failed (outside probe).
        low = _least_precise(args[i], out)
        eps = float(jnp.finfo(low).eps)
        eps_rtol = default_rtol(low) if rtol is None else rtol
        n = flat.size
        m = m_out if order == 1 else n
        dirs = _directions(n, num_directions, np.dtype(dtype), rng)
        ref, fd_err, steps = _fd_directional(traced, i, order, consts, args, flat, dirs, step, eps)  # (D, m)
        for mode in modes:
            if mode == "fwd":
                try:
                    jax_vals = np.asarray(_ad_compiled(traced, i, order, mode, consts, args, dirs))
                except TypeError as exc:
                    if "forward-mode" not in str(exc):
                        raise
                    raise ValueError(
                        f"{fn}: f has no forward-mode derivative (a `jax.custom_vjp` inside it); "
                        f"check reverse mode alone with modes=('rev',)."
                    ) from exc
                ref_vals, err_scale = ref, fd_err
            else:
                cots = _directions(m, None, np.dtype(dtype), rng)  # (C, m)
                rows = np.asarray(_ad_compiled(traced, i, order, mode, consts, args, cots))  # (C, n)
                jax_vals = rows @ dirs.T  # (C, D)
                ref_vals = cots @ ref.T
                err_scale = np.abs(cots).sum(axis=1).max(initial=0.0) * fd_err
            diff = np.abs(jax_vals - ref_vals)
            max_abs = float(np.max(diff, initial=0.0)) if np.all(np.isfinite(jax_vals)) else float("inf")
            scale = float(np.max(np.abs(ref_vals), initial=0.0))
            tol = atol + eps_rtol * scale
            entries.append(
                GradCheckEntry(
                    argnum=i, mode=mode, order=order, max_abs_err=max_abs,
                    max_rel_err=max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf")),
                    scale=scale, tol=tol, fd_error=float(np.max(err_scale, initial=0.0)),
                    step=float(np.max(steps, initial=0.0)), num_directions=len(dirs),
                    rtol=eps_rtol, passed=bool(max_abs <= tol),
                )
            )
    return GradCheckReport(tuple(entries), atol=atol)
