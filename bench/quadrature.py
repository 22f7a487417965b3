"""Benchmark of `jaxgrad.integrate.quad` against quadax 0.3.1 and scipy.integrate.quad.

Run: `python bench/quadrature.py` (float64). Writes the "quadrature" section of
bench/RESULTS.md and, in bench/results/, the measured data of two figures
(quadrature_error_vs_evals.json, quadrature_heterogeneity.json) that
`python bench/figures.py` draws into docs/figures/. `python bench/quadrature.py --only
sweep` measures the error-versus-evaluations sweep alone (about 20 s) and leaves
RESULTS.md as it is (`--only heterogeneity` likewise for the batch of 4,000 lanes).

1. Batteries (tests/quad_batteries.py: Bailey–Jeyabalan–Li 2005, QUADPACK Table 4.1
   families) at epsrel = 1e-10, epsabs = 0: relative error against the closed form,
   evaluations, steady-state time per integral. jaxgrad and quadax each route the whole
   battery through one jitted function (lax.switch over the integrands, traced limits).
2. Compile time for one fresh integrand: primal, gradient, vmapped primal.
3. Gradient / primal cost (steady state).
4. Batched heterogeneity: vmap over 4000 integrals of |x - c|^α on [0, 1], all α = 2
   ("easy") versus one lane with α = -0.5 ("hard").
5. Error versus evaluations, sweeping epsrel (the figure).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from jax import lax  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import quadax  # noqa: E402
import scipy  # noqa: E402
import scipy.integrate as si  # noqa: E402
from _timing import (  # noqa: E402
    machine_info_markdown,
    markdown_table,
    median_time,
    median_times_interleaved,
    text_table,
    write_markdown_section,
    write_results_json,
)
from quad_batteries import ALL  # noqa: E402

from jaxgrad.integrate import quad, quadosc  # noqa: E402
from jaxgrad.integrate._adaptive import adaptive_quad  # noqa: E402

EPSREL = 1e-10
FS = [e[1] for e in ALL]


def _median_seconds(fn, repeats=5):
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


# ------------------------------------------------------------------ 1. batteries
@jax.jit
def jg_battery(i, a, b, p):
    v, info = quad(lambda x, i: lax.switch(i, FS, x), a, b, (i,), points=jnp.array([p]), epsrel=EPSREL, epsabs=0.0)
    return v, info.neval, info.status._value


@jax.jit
def qx_battery(i, a, b, p):
    interval = jnp.array([a, p, b])
    v, info = quadax.quadgk(lambda x, i: lax.switch(i, FS, x), interval, (i,), full_output=True,
                            epsabs=0.0, epsrel=EPSREL, max_ninter=200)
    return v, info.neval, info.status


def battery_section():
    t0 = time.perf_counter()
    jax.block_until_ready(jg_battery(0, 0.0, 1.0, 0.0))
    jg_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(qx_battery(0, 0.0, 1.0, 0.0))
    qx_compile = time.perf_counter() - t0
    rows, tot = [], dict(jg=0, qx=0, sp=0, jg_ok=0, qx_ok=0, sp_ok=0, jg_t=0.0, qx_t=0.0, sp_t=0.0)
    for i, (name, f, a, b, p, exact, expect) in enumerate(ALL):
        ref = float(exact())
        pp = a if p is None else p
        v, n, st = jg_battery(i, a, b, pp)
        tj = _median_seconds(lambda: jax.block_until_ready(jg_battery(i, a, b, pp)))
        qv, qn, qst = qx_battery(i, a, b, pp)
        tq = _median_seconds(lambda: jax.block_until_ready(qx_battery(i, a, b, pp)))
        fnp = lambda x: float(f(np.float64(x)))  # noqa: E731
        kw = dict(epsrel=EPSREL, epsabs=0.0, limit=200, full_output=1)
        if p is not None:
            kw["points"] = [p]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sv = si.quad(fnp, a, b, **kw)
            ts = _median_seconds(lambda: si.quad(fnp, a, b, **kw), repeats=3)
        rel = lambda x: abs(float(x) - ref) / abs(ref)  # noqa: E731
        ok = lambda r: r < 1e-8  # noqa: E731
        tot["jg"] += int(n); tot["qx"] += int(qn); tot["sp"] += sv[2]["neval"]
        tot["jg_ok"] += ok(rel(v)); tot["qx_ok"] += ok(rel(qv)); tot["sp_ok"] += ok(rel(sv[0]))
        tot["jg_t"] += tj; tot["qx_t"] += tq; tot["sp_t"] += ts
        rows.append([name, f"{rel(v):.1e}", int(n), int(st), f"{tj * 1e3:.2f}",
                     f"{rel(qv):.1e}", int(qn), int(qst), f"{tq * 1e3:.2f}",
                     f"{rel(sv[0]):.1e}", sv[2]["neval"], f"{ts * 1e3:.2f}"])
    k = len(ALL)
    rows.append(["**total / mean**", f"{tot['jg_ok']}/{k} < 1e-8", tot["jg"], "", f"{tot['jg_t'] / k * 1e3:.2f}",
                 f"{tot['qx_ok']}/{k} < 1e-8", tot["qx"], "", f"{tot['qx_t'] / k * 1e3:.2f}",
                 f"{tot['sp_ok']}/{k} < 1e-8", tot["sp"], f"{tot['sp_t'] / k * 1e3:.2f}"])
    header = ["integral", "jaxgrad rel.err", "jaxgrad neval", "status", "jaxgrad ms",
              "quadax rel.err", "quadax neval", "status", "quadax ms",
              "scipy rel.err", "scipy neval", "scipy ms"]
    print(text_table(header, rows))
    body = (
        f"### Batteries at epsrel = {EPSREL:g}, epsabs = 0\n\n"
        "Status codes: jaxgrad 0 converged, 1 subdivision limit, 2 roundoff, 3 divergent, "
        "4 non-finite, 5 NaN limit. Times are steady-state medians per integral (the battery goes through one "
        "jitted function with `lax.switch`; scipy calls a Python function per node).\n\n"
        + markdown_table(header, rows)
        + f"\n\nOne-time compile of the whole-battery function: jaxgrad {jg_compile:.1f} s, quadax {qx_compile:.1f} s.\n"
    )
    return body, tot


# ------------------------------------------------------------------ 2./3. compile and gradient cost
def cost_section():
    cases = {
        "smooth: ∫₀¹ exp(-p x) cos x": (lambda x, p: jnp.exp(-p * x) * jnp.cos(x), 0.0, 1.0),
        "singular: ∫₀¹ x^(p-1) log x": (lambda x, p: x ** (p - 1) * jnp.log(x), 0.0, 1.0),
        "infinite: ∫₀^∞ exp(-p x) / (1 + x²)": (lambda x, p: jnp.exp(-p * x) / (1 + x * x), 0.0, jnp.inf),
    }
    rows = []
    for name, (f, a, b) in cases.items():
        prim = lambda p, f=f, a=a, b=b: quad(f, a, b, (p,), epsrel=EPSREL, epsabs=0.0)[0]  # noqa: E731
        res = median_times_interleaved(
            {"primal": jax.jit(prim), "grad": jax.jit(jax.grad(prim))},
            0.7, repeats=15,
        )
        ps = jnp.linspace(0.5, 1.5, 8)
        vm, vm_c = median_time(jax.jit(jax.vmap(prim)), ps, repeats=15)
        qprim = lambda p, f=f, a=a, b=b: quadax.quadgk(f, jnp.array([a, b]), (p,), epsabs=0.0, epsrel=EPSREL, max_ninter=200)[0]  # noqa: E731
        qres = median_times_interleaved({"primal": jax.jit(qprim), "grad": jax.jit(jax.grad(qprim))}, 0.7, repeats=15)
        neval_p = int(quad(f, a, b, (0.7,), epsrel=EPSREL, epsabs=0.0)[1].neval)
        rows.append([
            name,
            f"{res['primal'][1]:.2f}", f"{res['grad'][1]:.2f}", f"{vm_c:.2f}",
            f"{qres['primal'][1]:.2f}", f"{qres['grad'][1]:.2f}",
            f"{res['primal'][0] * 1e6:.0f}", f"{res['grad'][0] / res['primal'][0]:.2f}",
            f"{qres['primal'][0] * 1e6:.0f}", f"{qres['grad'][0] / qres['primal'][0]:.2f}", neval_p,
        ])
    header = ["integrand (p = 0.7)", "jaxgrad compile primal s", "grad s", "vmap s",
              "quadax compile primal s", "grad s", "jaxgrad primal µs", "jaxgrad grad/primal",
              "quadax primal µs", "quadax grad/primal", "jaxgrad primal neval"]
    print(text_table(header, rows))
    return "### Compile time and gradient / primal cost (epsrel = 1e-10)\n\n" + markdown_table(header, rows) + "\n"


# ------------------------------------------------------------------ 3b. quadosc
def quadosc_section():
    """∫₀^∞ sin t / t (Bailey's problem 15) and d/dp ∫₀^∞ sin t / (t + p), against
    closed forms; scipy's quad on the same sin t / t for comparison."""
    import mpmath as mp

    def sinc_int():
        v, info = quadosc(lambda t: jnp.sinc(t / jnp.pi), 0.0, jnp.inf, period=2 * jnp.pi, epsrel=EPSREL, epsabs=0.0)
        return v, info.neval, info.status._value

    def shifted(p):
        return quadosc(lambda t, p: jnp.sin(t) / (t + p), 0.0, jnp.inf, (p,), period=2 * jnp.pi,
                       epsrel=EPSREL, epsabs=0.0)[0]

    f1 = jax.jit(sinc_int)
    t0 = time.perf_counter(); v, n, st = jax.block_until_ready(f1()); c1 = time.perf_counter() - t0
    t1 = _median_seconds(lambda: jax.block_until_ready(f1()))
    g = jax.jit(jax.grad(shifted))
    t0 = time.perf_counter(); dg = float(g(0.7)); c2 = time.perf_counter() - t0
    t2 = _median_seconds(lambda: jax.block_until_ready(g(0.7)))
    si_form = lambda p: mp.ci(p) * mp.sin(p) + (mp.pi / 2 - mp.si(p)) * mp.cos(p)  # noqa: E731
    with mp.workdps(30):
        dref = float(mp.diff(si_form, mp.mpf("0.7")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sv = si.quad(lambda t: float(np.sinc(t / np.pi)), 0.0, np.inf, epsrel=EPSREL, epsabs=0.0, limit=200, full_output=1)
    rows = [
        ["∫₀^∞ sin t / t = π/2", f"{abs(float(v) - np.pi / 2) / (np.pi / 2):.1e}", int(n), int(st),
         f"{t1 * 1e3:.2f}", f"{c1:.1f}", f"{abs(sv[0] - np.pi / 2) / (np.pi / 2):.1e}", sv[2]["neval"]],
        ["d/dp ∫₀^∞ sin t / (t + p), p = 0.7", f"{abs(dg - dref) / abs(dref):.1e}", "", "",
         f"{t2 * 1e3:.2f}", f"{c2:.1f}", "", ""],
    ]
    header = ["integral", "jaxgrad quadosc rel.err", "neval", "status", "ms", "compile s",
              "scipy quad rel.err", "scipy neval"]
    print(text_table(header, rows))
    return ("### Conditionally convergent: `quadosc` (40 half periods + Wynn's ε)\n\n"
            + markdown_table(header, rows) + "\n")


# ------------------------------------------------------------------ 4. heterogeneity
def heterogeneity_section(n=4000):
    cs = jnp.linspace(0.05, 0.95, n)
    easy = jnp.full(n, 2.0)
    hard = easy.at[n // 2].set(-0.5)
    f = lambda x, c, al: jnp.abs(x - c) ** al  # noqa: E731

    jg = jax.jit(jax.vmap(lambda c, al: quad(f, 0.0, 1.0, (c, al))[0]))

    def plain_one(c, al):  # the same loop without the batching rule (plain vmap of while_loop)
        fvec = lambda x, args: jnp.reshape(f(x, *args), (1,))  # noqa: E731
        v = adaptive_quad(fvec, jnp.array([0.0, 1.0]), (c, al), out_size=1, limit=200,
                          epsabs=1.49e-8, epsrel=1.49e-8, nsplit=2)[0]
        return v[0]

    plain = jax.jit(jax.vmap(plain_one))
    qx = jax.jit(jax.vmap(lambda c, al: quadax.quadgk(f, jnp.array([0.0, 1.0]), (c, al))[0]))
    out = {}
    for name, fn in [("jaxgrad (batched rule)", jg), ("jaxgrad loop, plain vmap", plain), ("quadax 0.3.1", qx)]:
        te, ce = median_time(fn, cs, easy, repeats=7)
        th, _ = median_time(fn, cs, hard, repeats=7)
        out[name] = (te, th, ce)
    rows = [[k, f"{te * 1e3:.1f}", f"{th * 1e3:.1f}", f"{th / te:.2f}", f"{c:.1f}"] for k, (te, th, c) in out.items()]
    write_results_json("quadrature_heterogeneity", {"lanes": n, "rows": [
        {"method": k, "all_easy_ms": 1e3 * te, "one_hard_ms": 1e3 * th, "compile_s": c} for k, (te, th, c) in out.items()
    ]})
    header = ["method", "all easy (ms)", "one singular lane (ms)", "ratio", "compile (s)"]
    print(text_table(header, rows))
    body = (
        f"### Batched heterogeneity: vmap over {n} integrals of |x - c|^α on [0, 1]\n\n"
        "Default tolerances. Easy: every α = 2. Hard: the same batch with one lane α = -0.5 "
        "(an interior singularity not given as a breakpoint).\n\n" + markdown_table(header, rows) + "\n"
    )
    return body


# ------------------------------------------------------------------ 5. error vs evaluations
@jax.jit
def jg_sweep(i, a, b, epsrel):
    # The tolerance is an input of `quad`'s program: one compile for the whole sweep.
    v, info = quad(lambda x, i: lax.switch(i, FS, x), a, b, (i,), epsabs=0.0, epsrel=epsrel, limit=400)
    return v, info.neval


@jax.jit
def qx_sweep(i, a, b, epsrel):
    v, info = quadax.quadgk(lambda x, i: lax.switch(i, FS, x), jnp.array([a, b]), (i,), full_output=True,
                            epsabs=0.0, epsrel=epsrel, max_ninter=400)
    return v, info.neval


SWEEP = ["B5 √t log t", "B12 e⁻ᵗ/√t", "B14 e⁻ᵗ cos t", "Q3 cos(2^4 sin x)"]


def sweep_section():
    """Relative error and evaluations for epsrel = 1e-3 ... 1e-12 on four integrals."""
    names = {e[0]: i for i, e in enumerate(ALL)}
    tols = 10.0 ** -np.arange(3, 13)
    integrals = []
    for name in SWEEP:
        i = names[name]
        _, f, a, b, _, exact, _ = ALL[i]
        ref = float(exact())
        pts = {"jaxgrad": [], "quadax": [], "scipy": []}
        for tol in tols:
            v, n = jg_sweep(i, a, b, tol)
            pts["jaxgrad"].append({"epsrel": float(tol), "neval": int(n), "rel_err": abs(float(v) - ref) / abs(ref)})
            v, n = qx_sweep(i, a, b, tol)
            pts["quadax"].append({"epsrel": float(tol), "neval": int(n), "rel_err": abs(float(v) - ref) / abs(ref)})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = si.quad(lambda x: float(f(np.float64(x))), a, b, epsrel=tol, epsabs=0.0, limit=400, full_output=1)
            pts["scipy"].append({"epsrel": float(tol), "neval": int(r[2]["neval"]), "rel_err": abs(r[0] - ref) / abs(ref)})
        integrals.append({"integral": name, "a": float(a), "b": float(b), "points": pts})
    write_results_json("quadrature_error_vs_evals", {
        "versions": {"quadax": quadax.__version__, "scipy": scipy.__version__},
        "integrals": integrals,
    })
    return ("### Error vs evaluations\n\nData: `bench/results/quadrature_error_vs_evals.json`; figure "
            "`docs/figures/quadrature_error_vs_evals.png` (`python bench/figures.py`).\n")


def main():
    only = {"sweep": sweep_section, "heterogeneity": heterogeneity_section}
    if len(sys.argv) == 3 and sys.argv[1] == "--only" and sys.argv[2] in only:
        only[sys.argv[2]]()  # the figure data alone; RESULTS.md is left as it is
        return
    t0 = time.perf_counter()
    bat, _ = battery_section()
    cost = cost_section()
    osc = quadosc_section()
    het = heterogeneity_section()
    plot = sweep_section()
    body = (
        "## Quadrature (`jaxgrad.integrate.quad`, `quadosc`)\n\n"
        f"`python bench/quadrature.py`; quadax {quadax.__version__}, scipy {scipy.__version__}; float64.\n\n"
        + machine_info_markdown() + "\n\n" + bat + "\n" + cost + "\n" + osc + "\n" + het + "\n" + plot
        + f"\nWhole script: {time.perf_counter() - t0:.0f} s.\n"
    )
    status = write_markdown_section(ROOT / "bench" / "RESULTS.md", "quadrature", body)
    print("bench/RESULTS.md:", status)


if __name__ == "__main__":
    main()
