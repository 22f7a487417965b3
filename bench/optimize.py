"""Benchmark jaxgrad.optimize on its matrix problems against first-order baselines.

Usage:
    python bench/optimize.py [--repeats N] [--markdown FILE]

For each problem (float64: a symmetric matrix with given eigenvalues, the matrix
inverse, the SVD by optimisation) it reports iterations and median wall time to
tolerance for

    jaxgrad   jaxgrad.optimize.minimize (optax.lbfgs + scale_by_wolfe_linesearch), or
              Newton–Schulz for the matrix inverse
    Adam      optax.adam(lr), a plain first-order loop until the loss target (cap 20,000)
    momentum  optax.sgd(lr, momentum=0.9), likewise
    BFGS      optimistix.BFGS, if optimistix is installed (skipped otherwise)

and the ratio of times (baseline / jaxgrad). The first-order loops are run by
``jaxgrad.optimize._first_order_baseline.steps_to_loss`` (not public API). Times are
medians of ``--repeats`` calls of a jitted function after a warm-up (compile time
reported separately). Then it solves 1,000 random n = 3 inverse eigenvalue problems in
one ``jax.vmap`` call with ``throw=False`` and reports how many converged and the time.

Loss targets: inverse eigenvalue problems 1e-16 for jaxgrad, 1e-8 for the baselines;
inverse 1e-10 (jaxgrad and baselines); SVD: gap to the minimum of ``svd_trace_loss``
(Brockett's cost) 1e-10.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    median_time,
    text_table,
    write_markdown_section,
)

from jaxgrad.optimize import (  # noqa: E402
    Status,
    eigenvalue_misfit,
    inverse_loss,
    minimize,
    newton_schulz_inverse,
    svd_trace_loss,
    triu_of,
)
from jaxgrad.optimize._first_order_baseline import steps_to_loss  # noqa: E402
from jaxgrad.optimize._svd_by_minimize import svd_trace_loss_minimum  # noqa: E402

CAP = 20_000


def problems():
    rng = np.random.default_rng(0)
    out = []
    for n, targets in [(3, [1.0, 2.0, 3.0]), (3, [1.0, 1.0, 1.0]), (10, None), (30, None)]:
        g = rng.normal(size=(n, n))
        t = jnp.asarray(targets if targets else np.arange(1.0, n + 1))
        name = f"inverse eigenvalue problem n={n} t=" + (",".join(f"{x:g}" for x in targets) if targets else f"1..{n}")
        out.append(dict(name=name, loss=eigenvalue_misfit, x0=triu_of(jnp.asarray((g + g.T) / 2)),
                        args=(t,), has_aux=True, target=1e-16, baseline_target=1e-8, optimum=0.0,
                        adam=1e-3, sgd=1e-3))
    m = jnp.asarray(rng.normal(size=(4, 4)))
    out.append(dict(name="inverse 4x4 by min ‖XM − I‖²", loss=inverse_loss, x0=jnp.zeros((4, 4)), args=(m,),
                    has_aux=False, target=1e-10, baseline_target=1e-10, optimum=0.0, adam=1e-2, sgd=1e-2, ns=m))
    m = jnp.asarray(rng.normal(size=(4, 4)))
    u0, _ = jnp.linalg.qr(m)
    v0, _ = jnp.linalg.qr(m.T)
    best = float(svd_trace_loss_minimum(m, u0, v0))
    z = jnp.zeros((4, 4))
    out.append(dict(name="SVD 4x4 by max tr(UᵀMVN)", loss=svd_trace_loss, x0=(z, z), args=(m, u0, v0),
                    has_aux=True, target=1e-10, baseline_target=1e-10, optimum=best, adam=1e-2, sgd=1e-2))
    return out


def run_jaxgrad(p):
    loss, has_aux, args = p["loss"], p["has_aux"], p["args"]

    def solve(x0, args):
        return minimize(loss, x0, args, has_aux=has_aux, max_steps=500, throw=False)

    fn = jax.jit(solve)
    timing = median_time(fn, p["x0"], args, repeats=p["repeats"])  # fresh jit: compile time is real
    sol = fn(p["x0"], args)
    gap = float(sol.value) - p["optimum"]
    return timing, int(sol.num_steps), gap, bool(sol.status == Status.converged)


def run_baseline(p, opt):
    loss, has_aux, args = p["loss"], p["has_aux"], p["args"]
    target = p["optimum"] + p["baseline_target"]

    def solve(x0, args):
        return steps_to_loss(loss, x0, args, opt, target, CAP, has_aux=has_aux)[1:3]

    fn = jax.jit(solve)
    k, f = fn(p["x0"], args)
    return fn, int(k), float(f) - p["optimum"]


def optimistix_bfgs(p):
    try:
        import optimistix as optx
    except ImportError:
        return None
    loss, has_aux, args = p["loss"], p["has_aux"], p["args"]
    solver = optx.BFGS(rtol=1e-12, atol=1e-12)

    def solve(x0, args):
        f = (lambda x, a: loss(x, *a)[0]) if has_aux else (lambda x, a: loss(x, *a))
        sol = optx.minimise(f, solver, x0, args, max_steps=500, throw=False)
        return sol.stats["num_steps"], f(sol.value, args)

    fn = jax.jit(solve)
    k, f = fn(p["x0"], args)
    return fn, int(k), float(f) - p["optimum"]


def fmt_steps(k, gap, target, cap):
    return f"{k}" if gap <= target else f">{cap} (stuck at {gap:.1e})"


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    opts = parser.parse_args(argv)
    info = machine_info()
    have_optx = True
    try:
        import optimistix  # noqa: F401
    except ImportError:
        have_optx = False

    header = ["problem", "jaxgrad steps", "jaxgrad final loss", "jaxgrad ms", "jaxgrad compile s",
              "Adam steps", "Adam ms", "momentum steps", "momentum ms", "Adam/jaxgrad time", "momentum/jaxgrad time"]
    if have_optx:
        header += ["optimistix BFGS steps", "BFGS ms"]
    rows = []
    for p in problems():
        p["repeats"] = opts.repeats
        (t, c), k, gap, conv = run_jaxgrad(p)
        jg = (fmt_steps(k, gap, p["target"], 500) + ("" if conv else " (not converged)"), f"{gap:.1e}",
              f"{t * 1e3:.2f}", f"{c:.2f}")
        if "ns" in p:
            r = newton_schulz_inverse(p["ns"])
            ns_fn = jax.jit(lambda m: newton_schulz_inverse(m).inverse)
            t_ns, _ = median_time(ns_fn, p["ns"], repeats=opts.repeats)
        fa, ka, ga = run_baseline(p, optax.adam(p["adam"]))
        ta, _ = median_time(fa, p["x0"], p["args"], repeats=max(1, opts.repeats // 2))
        fs, ks, gs = run_baseline(p, optax.sgd(p["sgd"], momentum=0.9))
        ts, _ = median_time(fs, p["x0"], p["args"], repeats=max(1, opts.repeats // 2))
        row = [p["name"], *jg, fmt_steps(ka, ga, p["baseline_target"], CAP), f"{ta * 1e3:.1f}",
               fmt_steps(ks, gs, p["baseline_target"], CAP), f"{ts * 1e3:.1f}", f"{ta / t:.0f}x", f"{ts / t:.0f}x"]
        if have_optx:
            b = optimistix_bfgs(p)
            tb, _ = median_time(b[0], p["x0"], p["args"], repeats=opts.repeats)
            row += [fmt_steps(b[1], b[2], p["target"], 500), f"{tb * 1e3:.2f}"]
        rows.append(row)
        if "ns" in p:
            rows.append(["inverse 4x4 by Newton-Schulz", str(int(r.num_steps)), f"residual {float(r.residual):.1e}",
                         f"{t_ns * 1e3:.3f}", "", "", "", "", "", "", ""] + (["", ""] if have_optx else []))
        print(rows[-1] if "ns" not in p else rows[-2], flush=True)

    # 1,000 inverse eigenvalue problems (n = 3) in one vmapped call, throw=False.
    rng = np.random.default_rng(1)
    batch = 1000
    targets = jnp.sort(jnp.asarray(rng.uniform(-2, 2, size=(batch, 3))), axis=1)
    g = rng.normal(size=(batch, 3, 3))
    p0 = jax.vmap(triu_of)(jnp.asarray((g + np.swapaxes(g, 1, 2)) / 2))

    @jax.jit
    def solve_all(p0, targets):
        sol = jax.vmap(lambda p, t: minimize(eigenvalue_misfit, p, (t,), has_aux=True, throw=False,
                                             max_steps=100))(p0, targets)
        return sol.status == Status.converged, sol.num_steps, sol.value

    tv, cv = median_time(solve_all, p0, targets, repeats=max(1, opts.repeats // 2))
    conv, steps, values = (np.asarray(a) for a in solve_all(p0, targets))
    vmap_line = (f"vmap over {batch} inverse eigenvalue problems (n=3, random targets in [-2, 2], throw=False): "
                 f"{int(conv.sum())}/{batch} converged, loss < 1e-16 for {int((values < 1e-16).sum())}, "
                 f"steps median {int(np.median(steps))} / max {int(steps.max())}; "
                 f"{tv * 1e3:.0f} ms per batch ({tv / batch * 1e6:.0f} us per problem), compile {cv:.1f} s")

    print()
    print(text_table(header, rows))
    print(vmap_line)
    if not have_optx:
        print("optimistix is not installed: the BFGS column is skipped.")
    body = "\n\n".join([
        "## jaxgrad.optimize: matrix problems by optimisation (`python bench/optimize.py`)",
        "Iterations and median time to tolerance (float64). jaxgrad target: loss < 1e-16 for the "
        "inverse eigenvalue problems, 1e-10 otherwise; the first-order baselines' target: 1e-8 and 1e-10; "
        f"baselines capped at {CAP} steps. SVD losses are gaps to the minimum of `svd_trace_loss` (Brockett's cost).",
        markdown_table(header, rows),
        vmap_line,
        "optimistix: " + ("BFGS column included." if have_optx else "not installed, BFGS comparison skipped."),
        machine_info_markdown(info),
    ])
    status = write_markdown_section(opts.markdown, "optimize", body)
    print(f"{status} section 'optimize' in {opts.markdown}")


if __name__ == "__main__":
    main()
