"""First and later eager calls of the adaptive-loop functions, with and without the
classic CPU emitters that `jaxgrad._jit.jit_core` gives eager calls.

Run: `python bench/eager.py [--repeats 3] [--markdown bench/RESULTS.md]` (float64).

Each case is called from eager code, as in a notebook: the first call (trace, lower,
XLA compile, run) after `jax.clear_caches()`, then the median of 20 later calls (the
cached executable, plus tracing the callable to read the values it closes over).
"with" is the library as shipped (classic emitters for eager calls on a CPU); "without"
switches that off (`_jit._usable[0] = False`), which is plain `jax.jit` with XLA's
default emitters. The two settings alternate `--repeats` times in one process; medians.
`qmc_quad` and `eigsh` are included although they do not use the option (controls:
their ratios should be ~1).
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from _timing import machine_info, machine_info_markdown, markdown_table, text_table, write_markdown_section  # noqa: E402

from jaxgrad import _jit  # noqa: E402
from jaxgrad.integrate import cubature, dblquad, qmc_quad, quad, quadosc  # noqa: E402
from jaxgrad.linalg import eigsh  # noqa: E402

_DIAG = jnp.diag(jnp.arange(1.0, 401.0))


def cases():
    return [
        ("quad, e^(-px)/√x on [0, 1], epsrel 1e-10",
         lambda: quad(lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x), 0.0, 1.0, (2.0,), epsrel=1e-10)[0]),
        ("quadosc, sin t/(1 + t²) on [0, ∞)",
         lambda: quadosc(lambda t: jnp.sin(t) / (1 + t * t), 0.0, jnp.inf, period=2 * jnp.pi)[0]),
        ("dblquad, e^-(x²+y²) on the triangle 0 ≤ y ≤ x ≤ 1",
         lambda: dblquad(lambda y, x: jnp.exp(-(x * x + y * y)), 0.0, 1.0, 0.0, lambda x: x)[0]),
        ("cubature, sharp Gaussian on [0, 1]^4, epsrel 1e-7",
         lambda: cubature(lambda x, p: jnp.exp(-jnp.sum((x - p) ** 2) / 0.01), jnp.zeros(4), jnp.ones(4),
                          (jnp.full(4, 0.3),), epsrel=1e-7)[0]),
        ("eigsh, 4 smallest of a 400×400 operator (control)", lambda: eigsh(lambda v: _DIAG @ v, 4, n=400).eigenvalues),
        ("qmc_quad, Π cos xᵢ on [0, 1]^10 (control)",
         lambda: qmc_quad(lambda x: jnp.prod(jnp.cos(x)), jnp.zeros(10), jnp.ones(10))[0]),
    ]


def measure(fn, repeats=20):
    jax.clear_caches()
    t = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t
    later = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        later.append(time.perf_counter() - t)
    return first, float(np.median(later))


HEADER = ["call", "first s with", "first s without", "first ratio", "later ms with", "later ms without", "later ratio"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--markdown", metavar="FILE")
    args = p.parse_args(argv)
    info = machine_info()
    rows = []
    for name, fn in cases():
        got = {True: [], False: []}
        for _ in range(args.repeats):
            for on in (True, False):
                _jit._usable[0] = on
                got[on].append(measure(fn))
        _jit._usable[0] = True
        (f1, l1), (f0, l0) = (np.median(np.array(got[on]), axis=0) for on in (True, False))
        rows.append([name, f"{f1:.2f}", f"{f0:.2f}", f"{f1 / f0:.2f}", f"{1e3 * l1:.2f}", f"{1e3 * l0:.2f}", f"{l1 / l0:.2f}"])
        print(text_table(HEADER, [rows[-1]]).splitlines()[-1], flush=True)
    print()
    print(text_table(HEADER, rows))
    if args.markdown:
        body = (
            "## Eager first calls: classic CPU emitters for the library's own eager programs (`python bench/eager.py`)\n\n"
            f"{machine_info_markdown(info)}\n\n"
            "Each call made from eager code, as in a notebook: the first call after `jax.clear_caches()` "
            "(trace, lower, XLA compile, run) and the median of 20 later calls. \"with\": as shipped "
            "(`jaxgrad._jit.jit_core` compiles eager calls with `xla_cpu_use_fusion_emitters=False`); "
            "\"without\": plain `jax.jit`, XLA's default emitters. The settings alternate "
            f"{args.repeats} times in one process; medians. `qmc_quad` and `eigsh` do not use the option (controls).\n\n"
            + markdown_table(HEADER, rows)
        )
        write_markdown_section(args.markdown, "eager", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
