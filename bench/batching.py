"""Cost per integrand evaluation of `quad`, scalar and under `vmap`, beside quadax.

Run: `python bench/batching.py [--markdown bench/RESULTS.md]` (float64). With
`--markdown` the numbers also go to bench/results/batching.json (drawn by
`python bench/figures.py` into docs/figures/batch_scaling.png).

Four workloads on f(x) = e^(-p x)/√x-like integrands over [0, 1] (epsrel 1e-10):

- scalar loop: one integrand, `jax.jit` of `quad`;
- all hard: `vmap` over 100 values of p of e^(-p x)/√x (every lane needs refinement
  at the singular end);
- all easy: `vmap` over 4,000 smooth |x − c|^2 lanes (c outside [0, 1]);
- one hard lane: the same 4,000 lanes with one of them |x − 0.5|^(−1/2).

Each row: steady-state median time of the whole call, the number of integrand
evaluations it made (summed over lanes), time per evaluation, and quadax 0.3
`quadgk` on the same batch; plus the largest relative error against the closed form.
"""

from __future__ import annotations

import argparse
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import quadax  # noqa: E402
from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    steady_median,
    text_table,
    write_markdown_section,
    write_results_json,
)

from jaxgrad.integrate import quad  # noqa: E402

EPSREL = 1e-10


def singular(x, p):
    return jnp.exp(-p * x) / jnp.sqrt(x)


def power(x, c, al):
    return jnp.abs(x - c) ** al


def exact_singular(p):
    return np.array([math.sqrt(math.pi / q) * math.erf(math.sqrt(q)) for q in np.atleast_1d(p)])


def exact_power(c, al):
    c, al = np.asarray(c), np.asarray(al)
    # ∫₀¹ |x - c|^α dx for c outside [0, 1] or c in (0, 1): (|1-c|^(α+1) ± |c|^(α+1))/(α+1)
    inside = (c > 0) & (c < 1)
    up, lo = np.abs(1 - c) ** (al + 1), np.abs(c) ** (al + 1)
    return np.where(inside, up + lo, np.abs(up - lo)) / (al + 1)


def jg(f):
    return lambda *a: quad(f, 0.0, 1.0, a, epsrel=EPSREL, epsabs=0.0)


def qx(f):
    def g(*a):
        v, info = quadax.quadgk(f, jnp.array([0.0, 1.0]), a, epsrel=EPSREL, epsabs=0.0, full_output=True)
        return v, info

    return g


def workloads():
    n = 4000
    cs = jnp.linspace(1.5, 2.5, n)
    als = jnp.full(n, 2.0)
    cs1, als1 = cs.at[7].set(0.5), als.at[7].set(-0.5)
    p100 = jnp.linspace(1.0, 3.0, 100)
    return [
        ("scalar loop (1 hard integrand)", singular, (jnp.asarray(2.0),), False, exact_singular(2.0)),
        ("vmap, 100 all hard", singular, (p100,), True, exact_singular(p100)),
        ("vmap, 4000 all easy", power, (cs, als), True, exact_power(cs, als)),
        ("vmap, 4000 with one hard lane", power, (cs1, als1), True, exact_power(cs1, als1)),
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", metavar="FILE")
    args = p.parse_args(argv)
    rows, records = [], []
    info = machine_info()
    for name, f, fargs, batched, exact in workloads():
        cells = [name]
        record = {"workload": name}
        for label, lib in (("jaxgrad", jg), ("quadax", qx)):
            g = lib(f)
            fn = jax.jit(jax.vmap(g) if batched else g)
            value, qinfo = fn(*fargs)
            t = steady_median(fn, *fargs, repeats=20)
            neval = int(np.sum(np.asarray(qinfo.neval if hasattr(qinfo, "neval") else qinfo["neval"])))
            err = float(np.max(np.abs(np.asarray(value) - exact) / np.abs(exact)))
            cells += [f"{1e3 * t:.2f}", f"{neval:,}", f"{1e9 * t / neval:.0f}", f"{err:.0e}"]
            record[label] = {"ms": 1e3 * t, "evals": neval, "ns_per_eval": 1e9 * t / neval, "rel_err": err}
        cells.append(f"{float(cells[1]) / float(cells[5]):.2f}")
        rows.append(cells)
        records.append(record)
        print(text_table(HEADER, [cells]).splitlines()[-1], flush=True)
    print()
    print(text_table(HEADER, rows))
    if args.markdown:
        body = (
            "## quad under vmap: cost per integrand evaluation (`python bench/batching.py`)\n\n"
            f"{machine_info_markdown(info)}\n\n"
            f"float64, epsrel {EPSREL:g}, epsabs 0; quadax {quadax.__version__} `quadgk` on the same "
            "batches. Times are steady-state medians of the whole jitted call; ns/eval = time / "
            "evaluations summed over lanes; rel. err is the worst lane against the closed form.\n\n"
            + markdown_table(HEADER, rows)
        )
        write_markdown_section(args.markdown, "batching", body)
        write_results_json("batching", {"epsrel": EPSREL, "rows": records}, info)
    return 0


HEADER = [
    "workload", "jaxgrad ms", "jaxgrad evals", "jaxgrad ns/eval", "jaxgrad rel. err",
    "quadax ms", "quadax evals", "quadax ns/eval", "quadax rel. err", "time ratio",
]

if __name__ == "__main__":
    sys.exit(main())
