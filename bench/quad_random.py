"""A random battery for `jaxgrad.integrate.quad`: does it ever report a wrong result as converged?

Usage:
    python bench/quad_random.py [--seed S ...] [--n N] [--near-grid | --periodic]

Draws N integrals ∫₀¹ s(x) g(x) dx with a feature s at a point c that is *not* passed
as a breakpoint, and a smooth or oscillating factor g:

    s: |x − c|^α (α uniform in (−0.9, 2)), log|x − c|, a jump (−1 left of c, 2 right),
       a kink |x − c|;      (0 at x == c exactly)
    g: 1, cos(k x), exp(k x / 4), k uniform in (0.5, 20);
    c: uniform in (0.02, 0.98), a dyadic k/16, or 1/3 (with --near-grid: k/16 ± 10^u,
       u uniform in (−7, −3.5), inside the band next to a bisection point that no
       Gauss–Kronrod node of the pieces ending there sees; with --periodic: a jump or
       a kink only, at a point whose first k binary digits (k from 8 to 33) are those of
       a fraction with periodic digits, 1/3, 1/5, 1/7, 2/3, 1/10, 3/10, 7/10, 3/7, 6/7,
       5/9, 9/20 or 9/11, followed by random ones: over k levels the totals of
       bisection look like those of a geometric sequence, and then stop doing so, which
       makes an extrapolation of them look converged where it is not);
    epsrel: 1e-6, 1e-9 or 1e-12 (epsabs = 0),

computes each with `quad` (one compiled program per epsrel) and against mpmath.quad
at 30 digits with c as a breakpoint (for |x − c|^α after the substitution |x − c| =
t^(1/(1+α)), which leaves tanh-sinh a bounded integrand: at α < −0.6 mpmath's plain
tanh-sinh is off by up to 3e-4 at its default degree, which earlier versions of this
battery counted as jaxgrad's error), checked against mpmath's own error estimate, and prints, per seed: evaluations, *false*
results (reported converged, relative error > 100·epsrel and absolute error > 1e-14),
*misses* (converged, error between epsrel and 100·epsrel), results flagged
non-converged, and flagged results whose reported error does not cover the true one.
False results, misses and flagged results whose error does not cover are listed one per line. This is the battery that found the jumps that
plain bisection hides next to a bisection point (docs/quadrature.md).
"""

from __future__ import annotations

import argparse
import functools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402

from jaxgrad.integrate import quad  # noqa: E402

mpmath.mp.dps = 30


def _factor(x, k, m):
    return jax.lax.switch(m, [lambda: 1.0 + 0 * x, lambda: jnp.cos(k * x), lambda: jnp.exp(k * x / 4)])


def _factor_mp(x, k, m):
    return [mpmath.mpf(1), mpmath.cos(k * x), mpmath.exp(k * x / 4)][m]


def _feature(x, c, al, fam):
    d = jnp.abs(x - c)
    safe = jnp.where(d == 0, 1.0, d)
    return jax.lax.switch(
        fam,
        [
            lambda: jnp.where(d == 0, 0.0, safe**al),
            lambda: jnp.where(d == 0, 0.0, jnp.log(safe)),
            lambda: jnp.where(x > c, 2.0, -1.0),
            lambda: d,
        ],
    )


def _feature_mp(x, c, al, fam):
    d = abs(x - c)
    if d == 0:
        return mpmath.mpf(0)
    return [d**al, mpmath.log(d), (2 if x > c else -1), d][fam]


def _reference(c, al, fam, k, m):
    """∫₀¹ s(x) g(x) dx to 25 digits or better, or RuntimeError."""
    cm, alm = mpmath.mpf(c), mpmath.mpf(al)
    if fam == 0:
        # ∫₀^D d^α g(c ± d) dd = p ∫₀^{D^(1/p)} g(c ± t^p) dt with p = 1/(1 + α).
        p = 1 / (1 + alm)
        parts = [
            mpmath.quad(lambda t, s=s: _factor_mp(cm + s * t**p, k, m), [0, dist ** (1 + alm)], error=True)
            for dist, s in ((cm, -1), (1 - cm, 1))
        ]
        value, err = p * (parts[0][0] + parts[1][0]), p * (parts[0][1] + parts[1][1])
    else:
        value, err = mpmath.quad(lambda x: _feature_mp(x, cm, alm, fam) * _factor_mp(x, k, m), [0, cm, 1], error=True)
    if not err <= mpmath.mpf(10) ** -25 * max(abs(value), 1):
        raise RuntimeError(f"mpmath reference not accurate at c={c!r}, alpha={al}, feature={fam}: error {err}")
    return value


def _integrand(x, c, al, fam, k, m):
    return _feature(x, c, al, fam) * _factor(x, k, m)


@functools.partial(jax.jit, static_argnums=5)
def _run(c, al, fam, k, m, epsrel):
    v, info = quad(_integrand, 0.0, 1.0, (c, al, fam, k, m), epsrel=epsrel, epsabs=0.0)
    return v, info.neval, info.status._value, info.err


_PERIODIC = (1 / 3, 1 / 5, 1 / 7, 2 / 3, 0.1, 0.3, 0.7, 3 / 7, 6 / 7, 5 / 9, 0.45, 9 / 11)


def battery(seed, n, near_grid=False, periodic=False):
    rng = np.random.default_rng(seed)
    counts = dict(evals=0, false=0, miss=0, flagged=0, uncovered=0)
    for _ in range(n):
        c = float(rng.choice([rng.uniform(0.02, 0.98), rng.integers(1, 16) / 16, 1 / 3]))
        if near_grid:
            c = float(rng.integers(1, 16) / 16 + rng.choice([-1, 1]) * 10 ** rng.uniform(-7, -3.5))
        al = float(rng.uniform(-0.9, 2.0))
        fam = int(rng.integers(0, 4))
        if periodic:
            bits = int(rng.integers(8, 34))
            c = float(np.floor(2.0**bits * rng.choice(_PERIODIC)) + rng.uniform(0, 1)) / 2.0**bits
            fam = int(rng.integers(2, 4))
        k = float(rng.uniform(0.5, 20))
        m = int(rng.integers(0, 3))
        epsrel = float(rng.choice([1e-6, 1e-9, 1e-12]))
        exact = _reference(c, al, fam, k, m)
        v, neval, status, err = _run(c, al, fam, k, m, epsrel)
        abs_err = abs(mpmath.mpf(float(v)) - exact)
        rel = float(abs_err / abs(exact)) if exact != 0 else float(abs_err)
        counts["evals"] += int(neval)
        if int(status) == 0:
            if rel > 100 * epsrel and abs_err > 1e-14:
                counts["false"] += 1
                print(f"  false: c={c!r} alpha={al:.4f} feature={fam} k={k:.4f} factor={m} "
                      f"epsrel={epsrel:g}: rel. error {rel:.1e}, {int(neval)} evaluations")
            elif rel > epsrel and abs_err > 1e-14:
                counts["miss"] += 1
                print(f"  miss: c={c!r} alpha={al:.4f} feature={fam} k={k:.4f} factor={m} "
                      f"epsrel={epsrel:g}: rel. error {rel:.1e}, estimate {float(err) / abs(float(exact)):.1e}")
        else:
            counts["flagged"] += 1
            if abs_err > float(err):
                counts["uncovered"] += 1
                print(f"  uncovered: c={c!r} alpha={al:.4f} feature={fam} k={k:.4f} factor={m} "
                      f"epsrel={epsrel:g}: status {int(status)}, rel. error {rel:.1e}, estimate {float(err) / abs(float(exact)):.1e}")
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--n", type=int, default=80)
    parser.add_argument("--near-grid", action="store_true", help="c next to a dyadic point k/16 (see above)")
    parser.add_argument("--periodic", action="store_true", help="a jump or kink at periodic digits (see above)")
    args = parser.parse_args(argv)
    for seed in args.seed:
        c = battery(seed, args.n, args.near_grid, args.periodic)
        print(f"seed {seed}: {args.n} integrals, {c['evals']} evaluations, {c['false']} false, "
              f"{c['miss']} misses, {c['flagged']} flagged ({c['uncovered']} with an error that does not cover)")


if __name__ == "__main__":
    main()
