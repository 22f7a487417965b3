"""Random members of Genz's families for `jaxgrad.integrate.cubature`: how often is a
wrong result reported as converged?

Usage:
    python bench/cubature_random.py [--families F1,F2,...] [--seeds N] [--high-d] [--kinks-near-cuts]

For each of Genz's six families (`bench/cubature.py`: the same integrands, closed forms
and parameter draws, with seeds 1..N instead of the table's seed 0) and each setting
(d, epsrel) in (2, 1e-6), (2, 1e-9), (3, 1e-6), (3, 1e-8), (4, 1e-6), computes
`cubature(f, 0, 1, epsrel=epsrel, epsabs=0, limit=20_000)` (one compiled program per
family and setting) and prints per family: integrals, how many were reported converged,
how many of those are *false* (relative error above epsrel, against the closed form),
the total evaluations and the smallest ratio of the reported error estimate to the true
error (below 1: optimistic); false results are listed one per line. This is the battery
behind the counts on docs/cubature.md ("Jumps cost evaluations, and a kink can still be
missed").

--high-d runs the settings (5, 1e-6) and (6, 1e-5) instead, with `limit=100_000` (the
product peak family there takes about 10^7 evaluations per integral: minutes).

--kinks-near-cuts instead integrates exp(-c|x_last - w|)·exp(-x_0/2) over [0, 1]^d with
the kink just past the first cut (w = 1/2 + offset; d = 2, 3; c = 1.5, 2.8, 4; offsets
0.002 to 0.02; epsrel 1e-8 and 1e-10): 48 integrals whose kink sits in the node-free
band of the boxes beside the cut, and prints how many are reported converged outside
the tolerance, and the evaluations.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cubature as genz_table  # noqa: E402

from jaxgrad.integrate import cubature  # noqa: E402

SETTINGS = [(2, 1e-6), (2, 1e-9), (3, 1e-6), (3, 1e-8), (4, 1e-6)]
HIGH_D = [(5, 1e-6), (6, 1e-5)]


def run_family(family, seeds, settings=SETTINGS, limit=20_000):
    f = genz_table.genz(family, jnp)
    count = converged = evals = 0
    false = []
    smallest = float("inf")
    for d, tol in settings:
        fn = jax.jit(lambda c, w, d=d, tol=tol: cubature(f, jnp.zeros(d), jnp.ones(d), (c, w), epsabs=0.0,
                                                         epsrel=tol, limit=limit))
        for seed in range(1, seeds + 1):
            c, w = genz_table.parameters(family, d, seed=seed)
            exact = genz_table.exact(family, c, w)
            value, info = fn(c, w)
            err = abs(float(value) - exact) / abs(exact)
            count += 1
            evals += int(info.neval)
            if bool(info.converged):
                converged += 1
                smallest = min(smallest, float(info.err) / abs(exact) / max(err, 1e-300))
                if err > tol:
                    false.append((d, tol, seed, err))
    return count, converged, false, evals, smallest


def kinks_near_cuts():
    import numpy as np

    f = lambda x, c, w: jnp.exp(-c * jnp.abs(x[-1] - w) - 0.5 * x[0])  # noqa: E731
    false, evals, count = [], 0, 0
    for d in (2, 3):
        for tol in (1e-8, 1e-10):
            fn = jax.jit(lambda c, w, d=d, tol=tol: cubature(f, jnp.zeros(d), jnp.ones(d), (c, w), epsrel=tol,
                                                             epsabs=0.0))
            for c in (1.5, 2.8, 4.0):
                for offset in (0.002, 0.0068, 0.012, 0.02):
                    w = 0.5 + offset
                    kink = (2 - np.exp(-c * w) - np.exp(-c * (1 - w))) / c
                    exact = kink * (1 - np.exp(-0.5)) / 0.5
                    value, info = fn(c, w)
                    err = abs(float(value) - exact) / exact
                    count += 1
                    evals += int(info.neval)
                    if bool(info.converged) and err > tol:
                        false.append((d, tol, c, offset, err))
    print(f"kinks just past the first cut: {count} integrals, {len(false)} false, {evals:,d} evaluations")
    for d, tol, c, offset, err in false:
        print(f"  false: d = {d}, epsrel = {tol:g}, c = {c}, w = 1/2 + {offset}: relative error {err:.2e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--families", default=",".join(genz_table.FAMILIES))
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--high-d", action="store_true")
    parser.add_argument("--kinks-near-cuts", action="store_true")
    opts = parser.parse_args()
    if opts.kinks_near_cuts:
        return kinks_near_cuts()
    settings, limit = (HIGH_D, 100_000) if opts.high_d else (SETTINGS, 20_000)
    print(f"{'family':14s} {'integrals':>9s} {'converged':>9s} {'false':>5s} {'evaluations':>12s} {'est/true':>9s}")
    details = []
    for family in opts.families.split(","):
        count, converged, false, evals, smallest = run_family(family, opts.seeds, settings, limit)
        print(f"{family:14s} {count:9d} {converged:9d} {len(false):5d} {evals:12,d} {smallest:9.2g}", flush=True)
        details += [(family,) + item for item in false]
    for family, d, tol, seed, err in details:
        print(f"  false: {family}, d = {d}, epsrel = {tol:g}, seed {seed}: relative error {err:.2e} "
              f"({err / tol:.3g} x the tolerance)")


if __name__ == "__main__":
    main()
