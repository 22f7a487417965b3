"""Eager `quadosc` with its half periods integrated side by side, pass by pass (as
shipped) against one program per integrand (as before): the first call of a new
integrand, later calls, `jax.jit` of the same call, and the first call in a cold process.

Run: `python bench/eager_quadosc.py [--repeats 2] [--markdown bench/RESULTS.md]` (float64).

Every call is made from eager code, as in a notebook. "pass by pass": the library as
shipped (`_quadosc._quadosc_eager`: the half periods' loops run in lockstep through
`_eager_loop.run_lanes`, whose programs compile once per configuration; a new integrand
compiles only its own evaluations); "whole program": the same call with that route
switched off (`_eager_loop.usable` returning False), one program per integrand, compiled
with XLA's classic CPU emitters as eager calls have been since `jaxgrad/_jit.py`. For
each integrand, in a process where `quadosc` ran once with another integrand of the same
options: its first call, then the median of 20 later calls; the cold row is the first
call after `jax.clear_caches()`. The settings alternate `--repeats` times; medians.
"""

from __future__ import annotations

import argparse
import math
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

from jaxgrad.integrate import _eager_loop, quadosc  # noqa: E402

_SHIPPED = _eager_loop.usable


def integrands():
    # (name, f(t, p), a, b, options, closed form at p = 1.5)
    return [
        ("cos(pt)/(1 + t²), [0, ∞)", lambda t, p: jnp.cos(p * t) / (1 + t * t), 0.0, jnp.inf,
         dict(period=2 * math.pi / 1.5), math.pi / 2 * math.exp(-1.5)),
        ("sin(pt)/t, [0, ∞)", lambda t, p: jnp.sin(p * t) / t, 0.0, jnp.inf, dict(period=2 * math.pi / 1.5),
         math.pi / 2),
        ("cos(pt)/√t, [0, ∞), epsrel 1e-12", lambda t, p: jnp.cos(p * t) / jnp.sqrt(t), 0.0, jnp.inf,
         dict(period=2 * math.pi / 1.5, epsrel=1e-12, epsabs=0.0), math.sqrt(math.pi / 3)),
    ]


def _timed(fn):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - t0, out


def measure(pass_by_pass, repeats=20):
    """(rows of (first call s, later calls ms, neval, rel. error), cold first call s)."""
    _eager_loop.usable = _SHIPPED if pass_by_pass else (lambda *trees: False)
    try:
        jax.clear_caches()
        cold, _ = _timed(lambda: quadosc(lambda t, p: jnp.sin(p * t) / (1 + t), 0.0, jnp.inf, (1.5,),
                                         period=2 * math.pi / 1.5))
        rows = []
        for _, f, a, b, kw, exact in integrands():
            quadosc(lambda t, p: f(t, p) + 0 * jnp.cos(t), a, b, (1.5,), **kw)  # the configuration, once
            first, (v, info) = _timed(lambda: quadosc(f, a, b, (1.5,), **kw))
            later = [_timed(lambda: quadosc(f, a, b, (1.5,), **kw))[0] for _ in range(repeats)]
            rows.append([first, 1e3 * float(np.median(later)), int(info.neval), abs(float(v) - exact) / abs(exact)])
        return rows, cold
    finally:
        _eager_loop.usable = _SHIPPED


def jitted_ms(repeats=50):
    out = []
    for _, f, a, b, kw, _ in integrands():
        g = jax.jit(lambda p: quadosc(f, a, b, (p,), **kw)[0])
        g(1.5).block_until_ready()
        out.append(1e3 * float(np.median([_timed(lambda: g(1.5))[0] for _ in range(repeats)])))
    return out


HEADER = ["integrand", "neval (pass by pass / whole)", "rel. error (pass by pass / whole)",
          "new integrand s, pass by pass", "new integrand s, whole program", "later calls ms, pass by pass",
          "later calls ms, whole program", "`jax.jit` ms"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--markdown", metavar="FILE")
    args = p.parse_args(argv)
    info = machine_info()
    got = alternating_runs(measure, args.repeats)
    jit_ms = jitted_ms()
    med = {on: np.median(np.array([r for r, _ in got[on]]), axis=0) for on in (True, False)}
    cold = {on: float(np.median([c for _, c in got[on]])) for on in (True, False)}
    rows = [[name, f"{int(med[True][i][2])} / {int(med[False][i][2])}",
             f"{med[True][i][3]:.1e} / {med[False][i][3]:.1e}", f"{med[True][i][0]:.3f}", f"{med[False][i][0]:.2f}",
             f"{med[True][i][1]:.2f}", f"{med[False][i][1]:.2f}", f"{jit_ms[i]:.2f}"]
            for i, (name, *_) in enumerate(integrands())]
    rows.append(["first call in a cold process (sin(pt)/(1 + t))", "", "", f"{cold[True]:.2f}", f"{cold[False]:.2f}",
                 "", "", ""])
    print()
    print(text_table(HEADER, rows))
    if args.markdown:
        body = (
            "## Eager `quadosc`: half periods side by side, pass by pass, against one program per integrand "
            "(`python bench/eager_quadosc.py`)\n\n"
            f"{machine_info_markdown(info)}\n\n"
            "Every call from eager code, float64, p = 1.5, 40 half periods (the default), default tolerances "
            "unless given. \"pass by pass\": as shipped; \"whole program\": the route before (one program per "
            "integrand, classic CPU emitters). First call of each integrand in a process where `quadosc` ran once "
            "with another integrand of the same options, median of 20 later calls, and `jax.jit` of the same call; "
            f"the settings alternate {args.repeats} times, medians. Pass by pass, the half periods are integrated "
            "as `vmap` of `quad` integrates them in the whole program (the first pass of all at once, the "
            "unfinished ones again): the same evaluations.\n\n"
            + markdown_table(HEADER, rows)
        )
        write_markdown_section(args.markdown, "eager-quadosc", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
