"""Eager `quad` with its loop run pass by pass (as shipped) against the whole loop
compiled with each integrand (as before): the first call of a new integrand, later
calls, the same for `jax.grad`, and the first call in a cold process; with and without
a weight. Then the same for `cubature` (values and `jax.grad` in p), and for `dblquad`'s values.

Run: `python bench/eager_loop.py [--repeats 2] [--markdown bench/RESULTS.md]` (float64).

Every call is made from eager code, as in a notebook. "pass by pass": the library as
shipped (`jaxgrad/integrate/_eager_loop.py`: the loop's programs compile once per
configuration, each integrand compiles only its own evaluation); "whole loop": the same
call with that route switched off (`_eager_loop.usable` and `_quad.differentiated_eagerly`
returning False), one program per integrand, compiled with XLA's classic CPU emitters as
eager calls have been since `jaxgrad/_jit.py`. For each integrand, in a process whose
loop programs are compiled (another integrand with the same options integrated and
differentiated first): its first call, then the median of 20 later calls, `jax.jit` of the same call (steady state)
beside them, then `jax.grad` in p from eager code, first and median of 10 later calls.
The cold row is the first call after `jax.clear_caches()`. The settings alternate
`--repeats` times; medians."""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from _timing import (  # noqa: E402
    alternating_runs,
    machine_info,
    machine_info_markdown,
    markdown_table,
    text_table,
    write_markdown_section,
)

from jaxgrad.integrate import _cubature, _eager_loop, _quad, cubature, dblquad, quad  # noqa: E402

_SHIPPED = _eager_loop.usable, _quad.differentiated_eagerly
_CUBATURE_SHIPPED = _cubature.differentiated_eagerly


def integrands():
    # (Each `measure` starts with `jax.clear_caches()`, so a repeat compiles them again.)
    return [
        ("e^(-px)/√x on [0, 1]", lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x), 0.0, 1.0, {}),
        ("cos(px) on [0, 1]", lambda x, p: jnp.cos(p * x), 0.0, 1.0, {}),
        ("p·log x on [0, 1]", lambda x, p: p * jnp.log(x), 0.0, 1.0, {}),
        ("p·abs(x − 0.3)^(−1/2) on [0, 1] (no breakpoint)", lambda x, p: p * jnp.abs(x - 0.3) ** -0.5, 0.0, 1.0, {}),
        ("e^(−x²/p) on (−∞, ∞)", lambda x, p: jnp.exp(-x * x / p), -jnp.inf, jnp.inf, {}),
        # With a weight (values only take the pass-by-pass route; gradients compile whole).
        ("e^(px), weight cauchy, c = 0.3", lambda x, p: jnp.exp(p * x), 0.0, 1.0, dict(weight="cauchy", wvar=0.3)),
        ("cos(px), weight alg-log, (−½, 0.3)", lambda x, p: jnp.cos(p * x), 0.0, 1.0,
         dict(weight="alg-log", wvar=(-0.5, 0.3))),
        ("e^(−px), weight cos 5x, breakpoint ½", lambda x, p: jnp.exp(-p * x), 0.0, 1.0,
         dict(weight="cos", wvar=5.0, points=[0.5])),
    ]


def _call(f, a, b, p, kw=None):
    return quad(f, a, b, (p,), epsrel=1e-10, **(kw or {}))


def _timed(fn):
    t = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - t, out


def _grad(f, a, b, kw):
    return jax.grad(lambda p: _call(f, a, b, p, kw)[0])


def measure(pass_by_pass, repeats=20):
    """Per integrand: (first call s, later calls ms, neval, first gradient s, later
    gradients ms), and the cold first call s."""
    if not pass_by_pass:
        _eager_loop.usable, _quad.differentiated_eagerly = (lambda *trees: False), (lambda: False)
    try:
        jax.clear_caches()
        cold, _ = _timed(lambda: _call(lambda x, p: jnp.sqrt(x + p), 0.0, 1.0, 2.0))
        jax.grad(lambda p: _call(lambda x, p: jnp.sqrt(x + p), 0.0, 1.0, p)[0])(2.0)  # the derivative loop's programs
        rows = []
        for _, f, a, b, kw in integrands():
            # (Its configuration's programs: the same options with another integrand.)
            other = lambda x, p, f=f: 2 * f(x, p)  # noqa: E731
            _call(other, a, b, 2.0, kw)
            _grad(other, a, b, kw)(2.0)
            first, (_, info) = _timed(lambda: _call(f, a, b, 2.0, kw))
            later = [_timed(lambda: _call(f, a, b, 2.0, kw))[0] for _ in range(repeats)]
            g = _grad(f, a, b, kw)
            gfirst, _ = _timed(lambda: g(2.0))
            glater = [_timed(lambda: g(2.0))[0] for _ in range(repeats // 2)]
            rows.append((first, 1e3 * float(np.median(later)), int(info.neval), gfirst, 1e3 * float(np.median(glater))))
        return rows, cold
    finally:
        _eager_loop.usable, _quad.differentiated_eagerly = _SHIPPED


def jitted_ms(repeats=50):
    out = []
    for _, f, a, b, kw in integrands():
        g = jax.jit(lambda p, f=f, a=a, b=b, kw=kw: _call(f, a, b, p, kw))
        jax.block_until_ready(g(2.0))
        out.append(1e3 * float(np.median([_timed(lambda: g(2.0))[0] for _ in range(repeats)])))
    return out


def boxes():
    # (name, f(x, p), a, b, epsrel)
    return [
        ("e^(−p‖x‖²) on [−1, 1]², 1e-8", lambda x, p: jnp.exp(-p * jnp.sum(x * x)), -np.ones(2), np.ones(2), 1e-8),
        ("e^(−‖x − p‖²) on [−1, 1]³, 1e-8", lambda x, p: jnp.exp(-jnp.sum((x - p) ** 2)), -np.ones(3), np.ones(3),
         1e-8),
        ("1/(1 + p‖x‖²) on ℝ², 1e-8", lambda x, p: 1 / (1 + p * jnp.sum(x * x)) ** 2, np.full(2, -np.inf),
         np.full(2, np.inf), 1e-8),
        ("cos(p Σx) on [0, 1]⁵, 1e-6", lambda x, p: jnp.cos(p * jnp.sum(x)), np.zeros(5), np.ones(5), 1e-6),
    ]


def measure_cubature(pass_by_pass, repeats=10):
    """Per box integrand: (first call s, later calls ms, neval, first gradient s, later
    gradients ms), in a process where each configuration has been used once (another
    integrand first, value and gradient)."""
    if not pass_by_pass:
        _eager_loop.usable, _cubature.differentiated_eagerly = (lambda *trees: False), (lambda: False)
    try:
        jax.clear_caches()
        rows = []
        for _, f, a, b, eps in boxes():
            def grad(f, a=a, b=b, eps=eps):
                return jax.grad(lambda p: cubature(f, a, b, (p,), epsrel=eps)[0])

            other = lambda x, p, f=f: 2 * f(x, p)  # noqa: E731
            cubature(other, a, b, (2.0,), epsrel=eps)  # the configuration's programs
            grad(other)(2.0)
            first, (_, info) = _timed(lambda: cubature(f, a, b, (2.0,), epsrel=eps))
            later = [_timed(lambda: cubature(f, a, b, (2.0,), epsrel=eps))[0] for _ in range(repeats)]
            g = grad(f)
            gfirst, _ = _timed(lambda: g(2.0))
            glater = [_timed(lambda: g(2.0))[0] for _ in range(repeats // 2)]
            rows.append((first, 1e3 * float(np.median(later)), int(info.neval), gfirst,
                         1e3 * float(np.median(glater))))
        return rows
    finally:
        _eager_loop.usable, _cubature.differentiated_eagerly = _SHIPPED[0], _CUBATURE_SHIPPED


def jitted_cubature_ms(repeats=20):
    out = []
    for _, f, a, b, eps in boxes():
        g = jax.jit(lambda p, f=f, a=a, b=b, eps=eps: cubature(f, a, b, (p,), epsrel=eps))
        jax.block_until_ready(g(2.0))
        out.append(1e3 * float(np.median([_timed(lambda: g(2.0))[0] for _ in range(repeats)])))
    return out


def regions():
    # (name, f(y, x, p), a, b, g, h): ∫_a^b ∫_g(x)^h(x) f dy dx
    return [
        ("e^(−p(x² + y²)) over the triangle 0 ≤ y ≤ x ≤ 1", lambda y, x, p: jnp.exp(-p * (x * x + y * y)), 0.0, 1.0,
         lambda x: 0.0, lambda x: x),
        ("1 + p·x·y over the unit disc", lambda y, x, p: 1.0 + p * x * y, -1.0, 1.0, lambda x: -jnp.sqrt(1 - x * x),
         lambda x: jnp.sqrt(1 - x * x)),
    ]


def measure_dblquad(pass_by_pass, repeats=6):
    """Per region: (first call s, later calls ms, neval), in a process where `dblquad`
    ran once (another integrand first)."""
    if not pass_by_pass:
        _eager_loop.usable = lambda *trees: False
    try:
        jax.clear_caches()
        dblquad(lambda y, x, p: x * y * p, 0.0, 1.0, 0.0, 1.0, (2.0,))
        rows = []
        for _, f, a, b, g, h in regions():
            first, (_, info) = _timed(lambda: dblquad(f, a, b, g, h, (2.0,)))
            later = [_timed(lambda: dblquad(f, a, b, g, h, (2.0,)))[0] for _ in range(repeats)]
            rows.append((first, 1e3 * float(np.median(later)), int(info.neval)))
        return rows
    finally:
        _eager_loop.usable = _SHIPPED[0]


DBLQUAD_HEADER = ["region", "neval", "first s, pass by pass", "first s, whole loop", "later ms, pass by pass",
                  "later ms, whole loop"]


CUBATURE_HEADER = ["integrand", "neval", "first s, pass by pass", "first s, whole loop",
                   "later ms, pass by pass", "later ms, whole loop", "jax.jit ms", "grad first s, pass by pass",
                   "grad first s, whole loop", "grad later ms, pass by pass", "grad later ms, whole loop"]


HEADER = ["integrand", "neval", "first s, pass by pass", "first s, whole loop", "later ms, pass by pass",
          "later ms, whole loop", "jax.jit ms", "grad first s, pass by pass", "grad first s, whole loop",
          "grad later ms, pass by pass", "grad later ms, whole loop"]


def _alternating_medians(measure, repeats):
    """`measure(pass_by_pass)` (rows of numbers) for both settings, alternating `repeats`
    times; per setting the elementwise median."""
    got = {True: [], False: []}
    for _ in range(repeats):
        for on in (True, False):
            got[on].append(measure(on))
    return {on: np.median(np.array(got[on]), axis=0) for on in (True, False)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--markdown", metavar="FILE")
    args = p.parse_args(argv)
    info = machine_info()
    got = alternating_runs(measure, args.repeats)
    jit_ms = jitted_ms()
    names = [name for name, *_ in integrands()]
    med = {on: np.median(np.array([r for r, _ in got[on]]), axis=0) for on in (True, False)}
    cold = {on: float(np.median([c for _, c in got[on]])) for on in (True, False)}
    rows = [[name, f"{int(med[True][i][2])}", f"{med[True][i][0]:.3f}", f"{med[False][i][0]:.2f}",
             f"{med[True][i][1]:.2f}", f"{med[False][i][1]:.2f}", f"{jit_ms[i]:.2f}", f"{med[True][i][3]:.3f}",
             f"{med[False][i][3]:.2f}", f"{med[True][i][4]:.1f}", f"{med[False][i][4]:.1f}"] for i, name in enumerate(names)]
    rows.append(["first call in a cold process (√(x + p))", "", f"{cold[True]:.2f}", f"{cold[False]:.2f}"] + [""] * 7)
    print()
    print(text_table(HEADER, rows))
    cub_jit = jitted_cubature_ms()
    cmed = _alternating_medians(measure_cubature, args.repeats)
    crows = [[name, f"{int(cmed[True][i][2])}", f"{cmed[True][i][0]:.3f}", f"{cmed[False][i][0]:.2f}",
              f"{cmed[True][i][1]:.1f}", f"{cmed[False][i][1]:.1f}", f"{cub_jit[i]:.1f}", f"{cmed[True][i][3]:.3f}",
              f"{cmed[False][i][3]:.2f}", f"{cmed[True][i][4]:.1f}", f"{cmed[False][i][4]:.1f}"]
             for i, (name, *_) in enumerate(boxes())]
    print()
    print(text_table(CUBATURE_HEADER, crows))
    dmed = _alternating_medians(measure_dblquad, args.repeats)
    drows = [[name, f"{int(dmed[True][i][2])}", f"{dmed[True][i][0]:.2f}", f"{dmed[False][i][0]:.2f}",
              f"{dmed[True][i][1]:.1f}", f"{dmed[False][i][1]:.1f}"] for i, (name, *_) in enumerate(regions())]
    print()
    print(text_table(DBLQUAD_HEADER, drows))
    if args.markdown:
        body = (
            "## Eager `quad`: the loop pass by pass against the whole loop per integrand (`python bench/eager_loop.py`)\n\n"
            f"{machine_info_markdown(info)}\n\n"
            "Every call from eager code, float64, epsrel 1e-10. \"pass by pass\": as shipped (the loop's programs "
            "compile once per configuration, a new integrand compiles only its evaluation); \"whole loop\": one "
            "program per integrand (the route before, classic CPU emitters). First call of each integrand in a "
            "process whose loop programs are compiled, median of 20 later calls, and `jax.jit` of the same call; "
            "then `jax.grad` in p of the same call from eager code, first and median of 10 later; "
            f"the settings alternate {args.repeats} times, medians.\n\n"
            + markdown_table(HEADER, rows)
            + "\n\n`cubature` from eager code, the same two routes (p = 2): first call of each integrand "
            "in a process where its configuration (dimension, limit, size of f's value) was used once (value and "
            "gradient), median of 10 later calls, and `jax.jit` of the same call; then `jax.grad` in p, first and "
            "median of 5 later.\n\n"
            + markdown_table(CUBATURE_HEADER, crows)
            + "\n\n`dblquad` from eager code (values; p = 2; default tolerances), in a process where it ran once "
            "with another integrand: first call and median of 6 later calls. Pass by pass, only the outer loop runs "
            "from Python; its integrand, the inner integrals at a pass's nodes, is compiled per integrand.\n\n"
            + markdown_table(DBLQUAD_HEADER, drows)
        )
        write_markdown_section(args.markdown, "eager-loop", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
