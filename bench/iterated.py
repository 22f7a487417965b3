"""Integrals over non-rectangular regions: jaxgrad's dblquad/tplquad vs scipy, one process.

Usage:
    python bench/iterated.py [--markdown FILE]

For each problem (closed-form references):
    triangle   ∫₀¹∫₀ˣ e^-(x²+y²) dy dx = π erf(1)² / 8
    disc       ∫∫_{x²+y²≤1} e^-(x²+y²) = π (1 − e^-1), and d/dr at r = 1: 2π e^-1
    ball       ∫∫∫_{|x|≤1} e^-|x|² = π^{3/2} erf(1) − 2π e^-1 (tplquad)
at epsrel 1e-10 (1e-8 for the ball), epsabs 1e-13:
    jaxgrad  dblquad / tplquad (jit), and jit(grad) for the disc's radius
    scipy    integrate.dblquad / tplquad with the same tolerances; the radius derivative
             by a central difference of dblquad (h = 1e-4, the best of 1e-3..1e-5)
reports the relative error, the integrand evaluations (for jaxgrad the distinct points
seen by a host callback in a separate run, so that the padding rows of a pass, which
repeat points, are not counted; for scipy a Python counter), the first call (trace +
compile + run) and the steady-state median time. It also times the first call of the
plain nesting `quad(lambda x: quad(f, g(x), h(x))[0], a, b)` that the issue started
from, to show what the lane-by-lane inner solver saves in compile time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    steady_median,
    text_table,
    write_markdown_section,
    write_results_json,
)

from jaxgrad.integrate import dblquad, quad, tplquad  # noqa: E402

EPSREL, EPSABS = 1e-10, 1e-13
BALL_EPSREL = 1e-8


def half(x, r):
    return jnp.sqrt(jnp.maximum((r - x) * (r + x), 0.0))


def gauss2(y, x):
    return jnp.exp(-(x * x + y * y))


def gauss3(z, y, x):
    return jnp.exp(-(x * x + y * y + z * z))


def jax_triangle(_):
    return dblquad(gauss2, 0.0, 1.0, 0.0, lambda x: x, epsrel=EPSREL, epsabs=EPSABS)[0]


def jax_disc(r):
    return dblquad(gauss2, -r, r, lambda x: -half(x, r), lambda x: half(x, r), epsrel=EPSREL, epsabs=EPSABS)[0]


def jax_ball(_):
    return tplquad(
        gauss3, -1.0, 1.0, lambda x: -half(x, 1.0), lambda x: half(x, 1.0),
        lambda x, y: -half(y, half(x, 1.0)), lambda x, y: half(y, half(x, 1.0)),
        epsrel=BALL_EPSREL, epsabs=EPSABS,
    )[0]


def plain_nesting(r):
    inner = lambda x, r: quad(gauss2, -half(x, r), half(x, r), (x,), epsrel=EPSREL, epsabs=EPSABS)[0]  # noqa: E731
    return quad(inner, -r, r, (r,), epsrel=EPSREL, epsabs=EPSABS)[0]


EXACT = {
    "triangle": math.pi * math.erf(1.0) ** 2 / 8,
    "disc": math.pi * (1 - math.exp(-1.0)),
    "disc d/dr": 2 * math.pi * math.exp(-1.0),
    "ball": math.pi**1.5 * math.erf(1.0) - 2 * math.pi * math.exp(-1.0),
}


def count_jax_evaluations(fn, arg):
    """Integrand evaluations of `fn(arg)`: the distinct points at which a host callback
    in the integrand saw it called (the padding rows of a pass repeat points that are
    evaluated anyway; `jax.debug.callback` is called once per point under `vmap`)."""
    points = set()

    def counted(f):
        def g(*z):
            jax.debug.callback(lambda *v: points.add(tuple(float(a) for a in v)), *z)
            return f(*z)

        return g

    global gauss2, gauss3
    saved = gauss2, gauss3
    gauss2, gauss3 = counted(saved[0]), counted(saved[1])
    try:
        jax.block_until_ready(jax.jit(lambda a: fn(a))(arg))  # a new function: traced again
    finally:
        gauss2, gauss3 = saved
    return len(points)


def first_call(fn, arg):
    t = time.perf_counter()
    out = jax.block_until_ready(fn(arg))
    return time.perf_counter() - t, out


def scipy_runs():
    from scipy import integrate

    out = {}
    count = [0]

    def g2(y, x):
        count[0] += 1
        return math.exp(-(x * x + y * y))

    def g3(z, y, x):
        count[0] += 1
        return math.exp(-(x * x + y * y + z * z))

    def hh(x, r):
        return math.sqrt(max((r - x) * (r + x), 0.0))

    def disc(r):
        return integrate.dblquad(g2, -r, r, lambda x: -hh(x, r), lambda x: hh(x, r), epsabs=EPSABS, epsrel=EPSREL)[0]

    runs = {
        "triangle": lambda: integrate.dblquad(g2, 0.0, 1.0, 0.0, lambda x: x, epsabs=EPSABS, epsrel=EPSREL)[0],
        "disc": lambda: disc(1.0),
        "ball": lambda: integrate.tplquad(
            g3, -1.0, 1.0, lambda x: -hh(x, 1.0), lambda x: hh(x, 1.0),
            lambda x, y: -hh(y, hh(x, 1.0)), lambda x, y: hh(y, hh(x, 1.0)), epsabs=EPSABS, epsrel=BALL_EPSREL,
        )[0],
    }
    for name, run in runs.items():
        count[0] = 0
        t = time.perf_counter()
        v = run()
        dt = time.perf_counter() - t
        out[name] = dict(value=v, evals=count[0], time=dt)
    best = None
    for h in (1e-3, 1e-4, 1e-5):
        count[0] = 0
        t = time.perf_counter()
        d = (disc(1.0 + h) - disc(1.0 - h)) / (2 * h)
        dt = time.perf_counter() - t
        err = abs(d / EXACT["disc d/dr"] - 1)
        if best is None or err < best[0]:
            best = (err, dict(value=d, evals=count[0], time=dt, h=h))
    out["disc d/dr"] = best[1]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--markdown", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    opts = parser.parse_args()
    info = machine_info()

    programs = {
        "triangle": (jax.jit(jax_triangle), 1.0, jax_triangle),
        "disc": (jax.jit(jax_disc), 1.0, jax_disc),
        "disc d/dr": (jax.jit(jax.grad(jax_disc)), 1.0, jax.grad(jax_disc)),
        "ball": (jax.jit(jax_ball), 1.0, jax_ball),
    }
    results = {}
    for name, (fn, arg, raw) in programs.items():
        t_first, value = first_call(fn, arg)
        t_steady = steady_median(fn, arg, repeats=5)
        evals = count_jax_evaluations(raw, arg)
        results[name] = dict(value=float(value), first_call=t_first, steady=t_steady, evals=evals)
        print(name, results[name], flush=True)
    nest = {}
    for name, fn in (("value", jax.jit(plain_nesting)), ("d/dr", jax.jit(jax.grad(plain_nesting)))):
        t_first, value = first_call(fn, 1.0)
        ref = EXACT["disc" if name == "value" else "disc d/dr"]
        nest[name] = dict(first_call=t_first, steady=steady_median(fn, 1.0, repeats=5),
                          rel_error=abs(float(value) / ref - 1))
        print("plain nesting", name, nest[name], flush=True)
    sp = scipy_runs()
    print("scipy", sp, flush=True)

    header = ["integral", "jaxgrad rel. error", "scipy rel. error", "jaxgrad evaluations", "scipy evaluations",
              "jaxgrad first call", "jaxgrad steady", "scipy time"]
    rows = []
    for name in programs:
        j, s = results[name], sp[name]
        rows.append([
            name, f"{abs(j['value'] / EXACT[name] - 1):.1e}", f"{abs(s['value'] / EXACT[name] - 1):.1e}",
            j["evals"], s["evals"], f"{j['first_call']:.1f} s", f"{j['steady'] * 1e3:.1f} ms",
            f"{s['time'] * 1e3:.1f} ms",
        ])
    print(text_table(header, rows))
    nest_rows = [
        ["disc, value", f"{results['disc']['first_call']:.1f} s", f"{nest['value']['first_call']:.1f} s",
         f"{results['disc']['steady'] * 1e3:.1f} ms", f"{nest['value']['steady'] * 1e3:.1f} ms",
         f"{abs(results['disc']['value'] / EXACT['disc'] - 1):.1e}", f"{nest['value']['rel_error']:.1e}"],
        ["disc, d/dr", f"{results['disc d/dr']['first_call']:.1f} s", f"{nest['d/dr']['first_call']:.1f} s",
         f"{results['disc d/dr']['steady'] * 1e3:.1f} ms", f"{nest['d/dr']['steady'] * 1e3:.1f} ms",
         f"{abs(results['disc d/dr']['value'] / EXACT['disc d/dr'] - 1):.1e}", f"{nest['d/dr']['rel_error']:.1e}"],
    ]
    nest_header = ["", "dblquad first call", "quad-in-quad first call", "dblquad steady", "quad-in-quad steady",
                   "dblquad rel. error", "quad-in-quad rel. error"]
    print(text_table(nest_header, nest_rows))
    body = "\n".join([
        "## Iterated integrals over non-rectangular regions (`python bench/iterated.py`)",
        "",
        f"epsrel {EPSREL:g} (ball {BALL_EPSREL:g}), epsabs {EPSABS:g}; the scipy radius derivative is a central "
        f"difference of `dblquad` (h = {sp['disc d/dr']['h']:g}, the best of 1e-3..1e-5). First call = trace + "
        "compile + run; steady = median of 5 after it.",
        "",
        markdown_table(header, rows),
        "",
        "The plain nesting of `quad` (the inner integral vmapped by quad's batching rule) against `dblquad` "
        "(the inner loop run lane by lane):",
        "",
        markdown_table(nest_header, nest_rows),
        "",
        machine_info_markdown(info),
    ])
    write_markdown_section(opts.markdown, "iterated", body)
    write_results_json("iterated", dict(jaxgrad=results, scipy=sp, plain_nesting=nest, exact=EXACT), info)


if __name__ == "__main__":
    main()
