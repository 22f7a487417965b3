"""Multi-dimensional integrals: jaxgrad.integrate.cubature vs scipy and quadax, one process.

Usage:
    python bench/cubature.py [--markdown FILE] [--quick]

1. Genz's six test families on [0, 1]^d (oscillatory, product peak, corner peak,
   Gaussian, C0, discontinuous) with fixed random parameters (seed 0), at d = 2 and 3
   (epsrel 1e-8) and d = 5 (epsrel 1e-6), epsabs = 0 everywhere:
       jaxgrad  cubature(f, a, b, epsrel=tol, epsabs=0, limit=100_000)
       scipy    integrate.cubature(f, a, b, rule="gk21" | "genz-malik", rtol=tol,
                atol=0, max_subdivisions=10000), 20 s budget per integral
       nquad    integrate.nquad(f, ranges, opts={"epsrel": tol, "epsabs": 0, "limit": 50}),
                d <= 3, 30 s budget per integral
       quadax   cubegm(f, interval, epsrel=tol, epsabs=0, max_nregion=10000) (degree 9)
   Exact values are closed forms (products of one-dimensional integrals; the corner
   peak by inclusion–exclusion over the 2^d vertices). Each cell: evaluations, the
   relative error, and whether the library claimed success; the error estimate's ratio
   to the true error is given for jaxgrad.
2. The closed-form check of the issue: I(p, a, b) = ∫_[a,b] exp(−‖x − p‖²) dx for
   d = 2..6, epsrel 1e-10: largest relative error of the gradient and Hessian in (p, a, b),
   and the time to trace + compile that one program and to run it (separately: an
   earlier version timed the call without waiting for its result, which left out the
   run, minutes at d = 6).
3. First-call compile time (trace + lower + compile) of jit(cubature) and
   jit(grad(cubature)) at d = 3 against quadax's cubegm for the same Gaussian.
4. vmap over 64 Gaussians of which 4 are sharply peaked: batched time against the sum
   of the single calls.
"""

from __future__ import annotations

import argparse
import math
import platform
import signal
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import write_markdown_section, write_results_json  # noqa: E402

from jaxgrad.integrate import cubature  # noqa: E402

FAMILIES = ["oscillatory", "product peak", "corner peak", "gaussian", "C0", "discontinuous"]
# Sum of the c_i per family (Genz's "difficulty"), scaled with the dimension.
DIFFICULTY = {"oscillatory": 1.5, "product peak": 5.0, "corner peak": 1.0, "gaussian": 3.0, "C0": 2.0, "discontinuous": 2.0}


def parameters(family, d, seed=0):
    rng = np.random.default_rng([seed, FAMILIES.index(family), d])
    c = rng.uniform(0.2, 1.0, d)
    c = c / c.sum() * DIFFICULTY[family] * d
    w = rng.uniform(0.2, 0.8, d)
    return c, w


def genz(family, xp):
    """f(x, c, w) of the family, written with the array module `xp` (numpy or jax.numpy);
    x has shape (..., d)."""
    if family == "oscillatory":
        return lambda x, c, w: xp.cos(2 * math.pi * w[0] + xp.sum(c * x, axis=-1))
    if family == "product peak":
        return lambda x, c, w: xp.prod(1.0 / (c**-2.0 + (x - w) ** 2), axis=-1)
    if family == "corner peak":
        return lambda x, c, w: (1.0 + xp.sum(c * x, axis=-1)) ** (-(x.shape[-1] + 1))
    if family == "gaussian":
        return lambda x, c, w: xp.exp(-xp.sum(c**2 * (x - w) ** 2, axis=-1))
    if family == "C0":
        return lambda x, c, w: xp.exp(-xp.sum(c * xp.abs(x - w), axis=-1))
    return lambda x, c, w: xp.where(
        (x[..., 0] > w[0]) | (x[..., 1] > w[1]), 0.0, xp.exp(xp.sum(c * x, axis=-1))
    )


def exact(family, c, w):
    from scipy.special import erf

    d = len(c)
    if family == "oscillatory":
        z = np.exp(2j * math.pi * w[0]) * np.prod((np.exp(1j * c) - 1) / (1j * c))
        return z.real
    if family == "product peak":
        return np.prod(c * (np.arctan(c * (1 - w)) + np.arctan(c * w)))
    if family == "corner peak":
        total = 0.0
        for v in np.ndindex(*(2,) * d):
            total += (-1) ** sum(v) / (1 + np.dot(c, v))
        return total / (math.factorial(d) * np.prod(c))
    if family == "gaussian":
        return np.prod(np.sqrt(np.pi) / (2 * c) * (erf(c * (1 - w)) + erf(c * w)))
    if family == "C0":
        return np.prod((2 - np.exp(-c * w) - np.exp(-c * (1 - w))) / c)
    upper = np.ones(d)
    upper[:2] = w[:2]
    return np.prod((np.exp(c * upper) - 1) / c)


class Timeout(Exception):
    pass


def _alarm(_sig, _frame):
    raise Timeout


def with_budget(seconds, fn):
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        return fn()
    except Timeout:
        return None
    finally:
        signal.alarm(0)


def run_jaxgrad(family, d, tol):
    f = genz(family, jnp)
    c, w = parameters(family, d)
    fn = jax.jit(lambda c, w: cubature(f, jnp.zeros(d), jnp.ones(d), (c, w), epsabs=0.0, epsrel=tol, limit=100_000))
    value, info = jax.block_until_ready(fn(c, w))
    t0 = time.perf_counter()
    jax.block_until_ready(fn(c, w))
    return dict(value=float(value), neval=int(info.neval), ok=bool(info.converged), est=float(info.err),
                time=time.perf_counter() - t0)


def run_scipy(family, d, tol, rule):
    from scipy import integrate

    f = genz(family, np)
    c, w = parameters(family, d)
    count = [0]

    def g(x):
        count[0] += x.shape[0]
        return f(x, c, w)

    def go():
        r = integrate.cubature(g, np.zeros(d), np.ones(d), rule=rule, rtol=tol, atol=0, max_subdivisions=10000)
        return dict(value=float(r.estimate), neval=count[0], ok=r.status == "converged")

    return with_budget(20, go)


def run_nquad(family, d, tol):
    from scipy import integrate

    f = genz(family, np)
    c, w = parameters(family, d)
    count = [0]

    def g(*x):
        count[0] += 1
        return f(np.array(x), c, w)

    def go():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value, _ = integrate.nquad(g, [[0, 1]] * d, opts={"epsrel": tol, "epsabs": 0, "limit": 50})
        return dict(value=float(value), neval=count[0], ok=True)

    return with_budget(30, go)


def run_quadax(family, d, tol):
    import quadax

    f = genz(family, jnp)
    c, w = parameters(family, d)
    interval = jnp.array([[0.0, 1.0]] * d)
    fn = jax.jit(lambda c, w: quadax.cubegm(f, interval, (c, w), full_output=True, epsabs=0.0, epsrel=tol, max_nregion=10000))
    value, info = jax.block_until_ready(fn(c, w))
    return dict(value=float(value), neval=int(info.neval), ok=int(info.status) == 0)


def genz_table(dims, quick):
    rows = []
    for d, tol in dims:
        for family in FAMILIES:
            c, w = parameters(family, d)
            ref = exact(family, c, w)
            row = dict(d=d, tol=tol, family=family)
            libs = [("jaxgrad", lambda: run_jaxgrad(family, d, tol))]
            if not quick:
                libs += [
                    ("scipy gk21", lambda: run_scipy(family, d, tol, "gk21")),
                    ("scipy genz-malik", lambda: run_scipy(family, d, tol, "genz-malik")),
                    ("quadax cubegm", lambda: run_quadax(family, d, tol)),
                ]
                if d <= 3:
                    libs.append(("nquad", lambda: run_nquad(family, d, tol)))
            for name, go in libs:
                out = go()
                if out is not None:
                    out["relerr"] = abs(out["value"] - ref) / abs(ref)
                row[name] = out
                print(d, family, name, out, flush=True)
            rows.append(row)
    return rows


def closed_form_check():
    from jax.scipy.special import erf

    def f(x, p):
        return jnp.exp(-jnp.sum((x - p) ** 2))

    def closed(p, a, b):
        return jnp.prod(jnp.sqrt(jnp.pi) / 2 * (erf(b - p) - erf(a - p)))

    out = []
    for d in range(2, 7):
        a = -0.3 - 0.05 * jnp.arange(d)
        b = 0.35 + 0.05 * jnp.arange(d)
        p = 0.1 * jnp.arange(d) - 0.1
        num = lambda p, a, b: cubature(f, a, b, (p,), epsabs=0.0, epsrel=1e-10, limit=100_000)[0]  # noqa: E731
        both = jax.jit(lambda p, a, b: (jax.grad(num, (0, 1, 2))(p, a, b), jax.hessian(num, (0, 1, 2))(p, a, b)))
        t0 = time.perf_counter()
        compiled = both.lower(p, a, b).compile()
        t1 = time.perf_counter()
        g, h = jax.block_until_ready(compiled(p, a, b))
        t2 = time.perf_counter()
        g0, h0 = jax.grad(closed, (0, 1, 2))(p, a, b), jax.hessian(closed, (0, 1, 2))(p, a, b)
        rel = lambda x, y: max(float(jnp.max(jnp.abs(u - v)) / jnp.max(jnp.abs(v))) for u, v in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(y)))  # noqa: E731
        out.append(dict(d=d, grad=rel(g, g0), hessian=rel(h, h0), compile=t1 - t0, run=t2 - t1))
        print(out[-1], flush=True)
    return out


def compile_times():
    import quadax

    d = 3
    f = lambda x, p: jnp.exp(-jnp.sum((x - p) ** 2))  # noqa: E731
    a, b, p = jnp.zeros(d), jnp.ones(d), 0.3 * jnp.ones(d)
    interval = jnp.stack([a, b], axis=1)
    mine = lambda p: cubature(f, a, b, (p,), epsabs=0.0, epsrel=1e-8)[0]  # noqa: E731
    theirs = lambda p: quadax.cubegm(f, interval, (p,), epsabs=0.0, epsrel=1e-8)[0]  # noqa: E731
    out = {}
    for name, fn in [("jaxgrad", mine), ("quadax", theirs)]:
        for what, g in [("value", fn), ("grad", jax.grad(fn))]:
            t0 = time.perf_counter()
            jax.jit(g).lower(p).compile()
            out[f"{name} {what}"] = time.perf_counter() - t0
            print(name, what, out[f"{name} {what}"], flush=True)
    return out


def batch_cost():
    f = lambda x, p, s: jnp.exp(-s * jnp.sum((x - p) ** 2))  # noqa: E731
    a, b = jnp.zeros(3), jnp.ones(3)
    rng = np.random.default_rng(1)
    ps = jnp.asarray(rng.uniform(0.1, 0.9, (64, 3)))
    sharp = jnp.asarray(np.where(np.arange(64) % 16 == 0, 200.0, 1.0))
    one = jax.jit(lambda p, s: cubature(f, a, b, (p, s), epsrel=1e-8))
    many = jax.jit(jax.vmap(lambda p, s: cubature(f, a, b, (p, s), epsrel=1e-8)))
    jax.block_until_ready(one(ps[0], sharp[0]))
    jax.block_until_ready(many(ps, sharp))
    loops, vmaps = [], []
    for _ in range(3):  # alternating, medians (one pair of ~3 s runs moved by ~15 %)
        t0 = time.perf_counter()
        for i in range(64):
            jax.block_until_ready(one(ps[i], sharp[i]))
        loops.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _, info = jax.block_until_ready(many(ps, sharp))
        vmaps.append(time.perf_counter() - t0)
    out = dict(loop=float(np.median(loops)), vmap=float(np.median(vmaps)), neval=int(jnp.sum(info.neval)))
    print(out, flush=True)
    return out


def markdown(rows, closed, compiled, batch):
    libs = ["jaxgrad", "scipy gk21", "scipy genz-malik", "nquad", "quadax cubegm"]
    lines = [
        f"Machine: {platform.machine()}, {platform.python_version()}, jax {jax.__version__}; "
        "float64, epsabs = 0. Cells: evaluations / relative error (✗: the library did not "
        "claim success; —: no result within the time budget or not run).",
        "",
        "| d, epsrel | family | " + " | ".join(libs) + " | jaxgrad est./true |",
        "|---|---|" + "---|" * (len(libs) + 1),
    ]
    for row in rows:
        cells = []
        for lib in libs:
            r = row.get(lib)
            cells.append("—" if r is None else f"{r['neval']:,} / {r['relerr']:.1e}{'' if r['ok'] else ' ✗'}")
        j = row["jaxgrad"]
        true = abs(j["relerr"] * j["value"]) or 1e-300
        lines.append(f"| {row['d']}, {row['tol']:.0e} | {row['family']} | " + " | ".join(cells) + f" | {j['est'] / true:.1e} |")
    lines += ["", "Gradient and Hessian of ∫_[a,b] exp(−‖x − p‖²) in (p, a, b), epsrel 1e-10, against the closed form:", "",
              "| d | gradient rel. error | Hessian rel. error | trace + compile, s | run, s |", "|---|---|---|---|---|"]
    lines += [f"| {r['d']} | {r['grad']:.1e} | {r['hessian']:.1e} | {r['compile']:.1f} | {r['run']:.1f} |" for r in closed]
    if compiled:
        lines += ["", "First-call compile (trace + lower + compile), d = 3 Gaussian, epsrel 1e-8:", ""]
        lines += [f"- {k}: {v:.2f} s" for k, v in compiled.items()]
    if batch:
        lines += ["", f"vmap over 64 three-dimensional Gaussians, 4 of them sharp: {batch['vmap'] * 1e3:.0f} ms "
                  f"batched vs {batch['loop'] * 1e3:.0f} ms for 64 single calls ({batch['neval']:,} evaluations; medians of 3 alternating runs)."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--markdown")
    parser.add_argument("--quick", action="store_true", help="jaxgrad only, no anchors")
    parser.add_argument(
        "--parts", default="genz,closed,compile,batch",
        help="comma-separated parts to measure; the others are read from bench/results/cubature.json",
    )
    opts = parser.parse_args()
    parts = set(opts.parts.split(","))
    import json

    old = {}
    saved = Path(__file__).resolve().parent / "results" / "cubature.json"
    if parts != {"genz", "closed", "compile", "batch"} and saved.exists():
        old = json.loads(saved.read_text())
    rows = genz_table([(2, 1e-8), (3, 1e-8), (5, 1e-6)], opts.quick) if "genz" in parts else old["genz"]
    closed = closed_form_check() if "closed" in parts else old["closed"]
    compiled = ({} if opts.quick else compile_times()) if "compile" in parts else old["compile"]
    batch = batch_cost() if "batch" in parts else old["batch"]
    text = markdown(rows, closed, compiled, batch)
    print(text)
    # A --quick run has no anchors: it must not replace the saved full results, which
    # later --parts runs read back (one did, and the anchors' columns were lost).
    if not opts.quick:
        write_results_json("cubature", dict(genz=rows, closed=closed, compile=compiled, batch=batch))
    if opts.markdown:
        heading = "## Multi-dimensional integrals: cubature (`python bench/cubature.py`)\n\n"
        write_markdown_section(opts.markdown, "cubature", heading + text)


if __name__ == "__main__":
    main()
