"""Steady-state call times of small programs with the process on every core and on one.

Run: `python bench/one_core.py [--rounds N] [--markdown bench/RESULTS.md]` (float64).

On the CPU, XLA runs a compiled program as a graph of kernels ("thunks"), handing
kernels that do not depend on each other to a pool of threads. For programs made of
many small kernels, as `quad`'s adaptive loop is (a few hundred kernels per pass over a
handful of intervals), that hand-over costs more than the arithmetic. A process limited
to one core (`taskset -c 0 python ...`, or `os.sched_setaffinity(0, {0})` before JAX
first runs anything) has a pool of one thread, and the same programs run without it.

Each workload is timed in two fresh processes, one with every core of this process's
affinity and one pinned to the first of them, alternating `--rounds` times; the table
gives the medians over rounds of each process's steady-state median, and their ratio
(one core / every core). The compiled programs are the same (XLA's defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

from _timing import machine_info, machine_info_markdown, markdown_table, text_table, write_markdown_section

CHILD = textwrap.dedent(
    r"""
    import json, os, sys
    if sys.argv[1] == "one":
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, sys.argv[2])
    from _timing import steady_median
    import quadax
    from jaxgrad.integrate import quad
    from jaxgrad.linalg import eigh
    from jaxgrad.optimize import minimize

    def f(x, p):
        return jnp.exp(-p * x) / jnp.sqrt(x)

    def jg(p):
        return quad(f, 0.0, 1.0, (p,), epsrel=1e-10, epsabs=0.0)[0]

    def qx(p):
        return quadax.quadgk(f, jnp.array([0.0, 1.0]), (p,), epsrel=1e-10, epsabs=0.0)[0]

    def rosen(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    p, p100 = jnp.asarray(2.0), jnp.linspace(1.0, 3.0, 100)
    a = jnp.asarray(np.random.default_rng(0).standard_normal((8, 8)))
    a = a + a.T
    cases = {
        "quad, jit": (jax.jit(jg), p),
        "quad, eager call": (lambda p: quad(f, 0.0, 1.0, (p,), epsrel=1e-10, epsabs=0.0)[0], p),
        "quad, grad": (jax.jit(jax.grad(jg)), p),
        "quad, vmap over 100 (all need refinement)": (jax.jit(jax.vmap(jg)), p100),
        "quadax quadgk, jit": (jax.jit(qx), p),
        "quadax quadgk, vmap over 100": (jax.jit(jax.vmap(qx)), p100),
        "eigh 8x8, jit": (jax.jit(lambda m: eigh(m).eigenvalues), a),
        "minimize (4-variable Rosenbrock), jit": (jax.jit(lambda x: minimize(rosen, x).x), jnp.zeros(4)),
    }
    out = {}
    for name, (fn, x) in cases.items():
        jax.block_until_ready(fn(x))
        out[name] = steady_median(fn, x, repeats=200) * 1e3
    print("RESULT" + json.dumps(out))
    """
)


def _run(mode):
    here = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, here], capture_output=True, text=True, check=True)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", metavar="FILE", help="write the section 'one-core' into FILE")
    args = parser.parse_args(argv)
    info = machine_info()
    runs = {"all": [], "one": []}
    for r in range(args.rounds):
        for mode in ("all", "one"):
            runs[mode].append(_run(mode))
        print(f"round {r + 1} of {args.rounds} done", flush=True)
    header = ["call", "every core ms", "one core ms", "one / every"]
    rows = []
    for name in runs["all"][0]:
        every = statistics.median(run[name] for run in runs["all"])
        one = statistics.median(run[name] for run in runs["one"])
        rows.append([name, f"{every:.3f}", f"{one:.3f}", f"{one / every:.2f}"])
    print(machine_info_markdown(info))
    print(text_table(header, rows))
    if args.markdown:
        body = (
            "## Small programs on one core (`python bench/one_core.py`)\n\n"
            f"{machine_info_markdown(info)}\n\n"
            f"Steady-state median time of each call in a process on every core and in one pinned to one "
            f"core (XLA's default flags; `quad` on e^(−px)/√x over [0, 1] at epsrel 1e-10; medians over "
            f"{args.rounds} alternating pairs of fresh processes).\n\n" + markdown_table(header, rows)
        )
        status = write_markdown_section(args.markdown, "one-core", body)
        print(f"{args.markdown}: section 'one-core' {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
