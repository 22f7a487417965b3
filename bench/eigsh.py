"""Benchmark jaxgrad.linalg.eigsh (issue #13) against scipy and jax's LOBPCG in one process.

Usage:
    python bench/eigsh.py [--repeats N] [--sizes small|all] [--markdown FILE] [--all-cores]

Problem (float64): A(θ) = L + diag(θ), L the 5-point Laplacian of an nx × nx grid
(matrix-free stencil for the JAX solvers, CSR for scipy), θ a smooth potential
h²·100·((x − 0.3)² + (y − 0.6)²) (h = 1/(nx + 1)) that breaks the square's symmetry
without closing the gaps; k = 4 smallest eigenpairs; loss
    ℓ(θ) = Σᵢ λᵢ + ⟨c, V Vᵀ w⟩    (c, w seeded Gaussian vectors)
and its gradient in θ.

- n = 400: gradient relative error (2-norm) against `jnp.linalg.eigh` on the dense
  matrix (autodiff of a full decomposition; the spectrum has no ties).
- n = 10,000: forward and gradient times against scipy `eigsh(which="SA")` (ARPACK,
  default tol = machine precision) and a hand-written adjoint around it: the gradient
  ∂ℓ/∂θ = Σᵢ vᵢ² − Σᵢ vᵢ ∘ yᵢ with (I − VVᵀ)(A − λᵢ)(I − VVᵀ) yᵢ = (I − VVᵀ) gᵢ,
  gᵢ = (vᵢᵀw) c + (cᵀvᵢ) w, solved by scipy CG to rtol 1e-13 (the accuracy reference);
  and `jax.experimental.sparse.linalg.lobpcg_standard` on 8.5·I − A (it finds the
  largest eigenpairs only, so the smallest need the shift by hand; it has no gradient).
- n = 250,000 (500 × 500, `--sizes all`): eigsh forward and gradient, matrix-free.

Times are medians of `--repeats` calls after a warm-up (the JAX functions jitted; the
compile time, trace + lower + XLA compile, reported separately); the JAX and scipy
calls alternate so that load bursts hit all alike. The machine is shared: see the load
average below the table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# One core (`--all-cores` to skip), set before JAX starts its thread pool: on the shared
# machine XLA's intra-op threads wait for each other whenever one is descheduled, and a
# loop of small kernels (the filter's steps) then spends most of its wall time waiting
# (n = 10,000 forward: 0.1 s CPU, 0.75-8.7 s wall on two cores under load 13; 0.4 s wall
# pinned). scipy's ARPACK is single-threaded anyway. CPU times are reported as well.
PINNED = "--all-cores" not in sys.argv
if PINNED and hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    median_times_interleaved,
    text_table,
    write_markdown_section,
    write_results_json,
)

from jaxgrad.linalg import EigshStatus, eigsh  # noqa: E402

K = 4


def problem(nx: int):
    n = nx * nx
    h = 1.0 / (nx + 1)
    x, y = np.meshgrid(np.arange(1, nx + 1) * h, np.arange(1, nx + 1) * h, indexing="ij")
    theta = (h**2 * 100 * ((x - 0.3) ** 2 + (y - 0.6) ** 2)).reshape(-1)
    rng = np.random.default_rng(13)
    c, w = rng.normal(size=n), rng.normal(size=n)

    def matvec(v, theta):
        u = v.reshape(nx, nx)
        p = jnp.pad(u, 1)
        out = 4 * u - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:]
        return out.reshape(-1) + theta * v

    return n, theta, c, w, matvec


def csr(nx, theta):
    d = sp.diags([2 * np.ones(nx), -np.ones(nx - 1), -np.ones(nx - 1)], [0, 1, -1])
    eye = sp.identity(nx)
    return (sp.kron(eye, d) + sp.kron(d, eye) + sp.diags(theta)).tocsr()


def jax_functions(n, c, w, matvec):
    c, w = jnp.asarray(c), jnp.asarray(w)

    def loss(theta):
        r = eigsh(matvec, K, (theta,), n=n)
        v = r.eigenvectors
        return jnp.sum(r.eigenvalues) + c @ (v @ (v.T @ w)), r.info

    forward = jax.jit(lambda t: eigsh(matvec, K, (t,), n=n))
    gradient = jax.jit(jax.value_and_grad(loss, has_aux=True))
    return forward, gradient


def scipy_adjoint(a, c, w, lam, v):
    """∂ℓ/∂θ by the projected-CG adjoint around scipy's eigenpairs; matvec count."""
    n = a.shape[0]
    count = [0]

    def proj(x):
        return x - v @ (v.T @ x)

    grad = np.sum(v**2, axis=1)
    for i in range(v.shape[1]):
        g = (v[:, i] @ w) * c + (c @ v[:, i]) * w

        def mv(x, i=i):
            count[0] += 1
            x = proj(x)
            return proj(a @ x - lam[i] * x)

        op = sla.LinearOperator((n, n), matvec=mv, dtype=float)
        y, info = sla.cg(op, proj(g), rtol=1e-13, atol=0.0, maxiter=100 * n)
        assert info == 0, info
        grad = grad - v[:, i] * y
    return grad, count[0]


def scipy_solve(a, c, w):
    lam, v = sla.eigsh(a, K, which="SA")
    order = np.argsort(lam)
    lam, v = lam[order], v[:, order]
    grad, _ = scipy_adjoint(a, c, w, lam, v)
    return lam, v, grad


def lobpcg_function(n, matvec, theta):
    from jax.experimental.sparse.linalg import lobpcg_standard

    shift = 8.5  # > λ_max(A) (Gershgorin: 8 + max θ)
    x0 = jax.random.normal(jax.random.key(1), (n, K), jnp.float64)

    def solve(t):
        op = jax.vmap(lambda v: shift * v - matvec(v, t), in_axes=1, out_axes=1)
        mu, x, iters = lobpcg_standard(op, x0, m=20000)
        return shift - mu, x, iters

    return jax.jit(solve)


def cpu_seconds(fn, *args, repeats: int) -> float:
    """Median process CPU time (all threads) of a call: on a shared machine the wall time
    depends on the other jobs, the CPU time much less."""
    ts = []
    for _ in range(repeats):
        c0 = time.process_time()
        jax.block_until_ready(fn(*args))
        ts.append(time.process_time() - c0)
    return sorted(ts)[len(ts) // 2]


def status_name(status) -> str:
    for name in ("converged", "tie_at_edge", "max_iterations", "nonfinite"):
        if bool(status == getattr(EigshStatus, name)):
            return name
    return "?"


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def small_case():
    nx = 20
    n, theta, c, w, matvec = problem(nx)
    _, gradient = jax_functions(n, c, w, matvec)
    (value, info), g = gradient(jnp.asarray(theta))
    a = jnp.asarray(csr(nx, theta).toarray())
    cj, wj = jnp.asarray(c), jnp.asarray(w)

    def dense_loss(t):
        lam, v = jnp.linalg.eigh(a - jnp.diag(jnp.asarray(theta)) + jnp.diag(t))
        v = v[:, :K]
        return jnp.sum(lam[:K]) + cj @ (v @ (v.T @ wj))

    g_ref = jax.grad(dense_loss)(jnp.asarray(theta))
    out = {"n": n, "grad_rel_err": rel(g, g_ref), "status": status_name(info.status)}
    # jax's own LOBPCG, differentiated: reverse mode through its while_loop.
    lob = lobpcg_function(n, matvec, theta)
    try:
        jax.grad(lambda t: jnp.sum(lob(t)[0]))(jnp.asarray(theta))
        out["lobpcg_grad"] = "ran"
    except Exception as e:  # noqa: BLE001 - we record what it raises
        out["lobpcg_grad"] = f"raises {type(e).__name__}"
    return out


def medium_or_large(nx, repeats, anchors=True):
    n, theta, c, w, matvec = problem(nx)
    forward, gradient = jax_functions(n, c, w, matvec)
    t = jnp.asarray(theta)
    fns = {"eigsh forward": forward, "eigsh value+grad": gradient}
    a = csr(nx, theta)
    if anchors:
        fns["scipy eigsh"] = lambda t: sla.eigsh(a, K, which="SA")
        fns["jax lobpcg_standard"] = lobpcg_function(n, matvec, theta)
        times = median_times_interleaved(fns, t, repeats=repeats)
        cpu = {name: cpu_seconds(fn, t, repeats=3) for name, fn in fns.items()}
    else:  # n = 250,000: compile, then one timed call each (a call takes tens of seconds)
        times, outs, cpu = {}, {}, {}
        for name, fn in fns.items():
            t0 = time.perf_counter()
            compiled = fn.lower(t).compile()
            comp = time.perf_counter() - t0
            t0 = time.perf_counter()
            c0 = time.process_time()
            outs[name] = jax.block_until_ready(compiled(t))
            times[name] = (time.perf_counter() - t0, comp)
            cpu[name] = time.process_time() - c0
    r = forward(t) if anchors else outs["eigsh forward"]
    (value, info), g = gradient(t) if anchors else outs["eigsh value+grad"]
    out = {
        "n": n,
        "times": {name: {"median_s": m, "compile_s": comp, "cpu_s": cpu[name]} for name, (m, comp) in times.items()},
        "eigsh": {
            "status": status_name(r.info.status),
            "iterations": int(r.info.iterations),
            "matvecs": int(r.info.matvecs),
            "max_residual": float(jnp.max(r.info.residuals)),
            "gap": float(r.info.gap),
            "eigenvalues": np.asarray(r.eigenvalues).tolist(),
        },
    }
    if anchors:
        t0 = time.perf_counter()
        lam_s, v_s, g_s = scipy_solve(a, c, w)
        out["scipy_fwd_plus_adjoint_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, nmv = scipy_adjoint(a, c, w, lam_s, v_s)
        out["scipy_adjoint_s"] = time.perf_counter() - t0
        out["scipy_adjoint_matvecs"] = nmv
        out["eigenvalue_rel_err"] = rel(r.eigenvalues, lam_s)
        out["grad_rel_err"] = rel(g, g_s)
        mu, _, iters = fns["jax lobpcg_standard"](t)
        out["lobpcg_eigenvalue_rel_err"] = rel(np.sort(np.asarray(mu)), lam_s)
        out["lobpcg_iterations"] = int(iters)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", choices=("small", "all"), default="all")
    parser.add_argument("--markdown", default=str(Path(__file__).resolve().parent / "RESULTS.md"))
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    args = parser.parse_args(argv)
    info = machine_info()
    results = {"small": small_case(), "medium": medium_or_large(100, args.repeats)}
    print(results["small"])
    print(results["medium"])
    if args.sizes == "all":
        results["large"] = medium_or_large(500, 1, anchors=False)
        print(results["large"])

    med = results["medium"]
    tm = med["times"]

    def wall_cpu(name):
        return f"{tm[name]['median_s']:.3f} / {tm[name]['cpu_s']:.3f}"

    fwd, vg = tm["eigsh forward"], tm["eigsh value+grad"]
    sm = results["small"]
    rows = [
        [
            "jaxgrad eigsh",
            f"{sm['grad_rel_err']:.1e}",
            wall_cpu("eigsh forward"),
            f"{fwd['compile_s']:.1f}",
            f"{wall_cpu('eigsh value+grad')} (adjoint {vg['median_s'] - fwd['median_s']:.3f} wall)",
            f"{med['grad_rel_err']:.1e}",
            f"{med['eigsh']['matvecs']} matvecs ({med['eigsh']['iterations']} filter steps), "
            f"residual {med['eigsh']['max_residual']:.0e}",
        ],
        [
            "scipy eigsh + projected-CG adjoint (reference)",
            "—",
            wall_cpu("scipy eigsh"),
            "—",
            f"{med['scipy_fwd_plus_adjoint_s']:.3f} wall (adjoint {med['scipy_adjoint_s']:.3f}, "
            f"{med['scipy_adjoint_matvecs']} matvecs)",
            "0 (reference)",
            "ARPACK, which='SA'",
        ],
        [
            "jax lobpcg_standard on 8.5·I − A",
            f"jax.grad {sm['lobpcg_grad']}",
            wall_cpu("jax lobpcg_standard"),
            f"{tm['jax lobpcg_standard']['compile_s']:.1f}",
            "no gradient",
            "—",
            f"{med['lobpcg_iterations']} iterations × {K} vectors, "
            f"eigenvalue rel. error {med['lobpcg_eigenvalue_rel_err']:.0e}",
        ],
    ]
    header = [
        "library",
        "n=400 gradient rel. error vs dense eigh",
        "n=10,000 forward s (wall / CPU)",
        "compile s",
        "n=10,000 value+grad s (wall / CPU)",
        "n=10,000 gradient rel. error vs scipy adjoint",
        "work",
    ]
    print(text_table(header, rows))
    body = [
        "## jaxgrad.linalg.eigsh: a few eigenpairs of a large operator (`python bench/eigsh.py`)",
        "",
        "A(θ) = L + diag(θ), L the 5-point Laplacian of a square grid, θ a smooth potential; "
        "k = 4 smallest eigenpairs; loss Σλᵢ + ⟨c, VVᵀw⟩, gradient in θ (float64). Wall: medians of "
        f"{args.repeats} calls after a warm-up, calls interleaved; CPU: median process CPU time "
        "(all threads) of 3 calls, less sensitive to the other jobs on the machine; compile time separate. "
        + ("Process pinned to one core (see the script)." if PINNED else "All cores."),
        "",
        markdown_table(header, rows),
        "",
        f"eigsh eigenvalue relative error at n=10,000 against scipy: {med['eigenvalue_rel_err']:.1e}; "
        f"gap λ₅ − λ₄ = {med['eigsh']['gap']:.2e}.",
    ]
    if "large" in results:
        lg = results["large"]
        tl = lg["times"]
        body += [
            "",
            "n = 250,000 (500 × 500, matrix-free), one call each after compiling: "
            f"forward {tl['eigsh forward']['median_s']:.1f} s wall / {tl['eigsh forward']['cpu_s']:.1f} s CPU "
            f"(compile {tl['eigsh forward']['compile_s']:.1f} s), value+grad "
            f"{tl['eigsh value+grad']['median_s']:.1f} s wall / {tl['eigsh value+grad']['cpu_s']:.1f} s CPU; "
            f"{lg['eigsh']['matvecs']} matvecs in {lg['eigsh']['iterations']} filter steps, "
            f"largest residual {lg['eigsh']['max_residual']:.1e}, status {lg['eigsh']['status']}.",
        ]
    body += ["", machine_info_markdown(info)]
    write_markdown_section(args.markdown, "eigsh", "\n".join(body))
    write_results_json("eigsh", results, info)


if __name__ == "__main__":
    main()
