"""First-call cost and steady-state time of every public function, beside its anchor.

Run: `python bench/compile.py [--only NAME ...] [--markdown bench/RESULTS.md]` (float64).
With `--markdown` the numbers also go to bench/results/compile.json (the data of the
figure docs/figures/compile_time.png, drawn by `python bench/figures.py`).

For each public function and each transformation a user applies to it (the value,
`grad`, and for `quad` also `jacfwd(jacrev)` and `vmap` over 100 parameters), in one
process and with `jax.clear_caches()` before every measurement (so nothing is served
from an earlier one):

- trace, lower and compile seconds of `jax.jit` of it, measured separately through
  `jax.jit(fn).trace(...)`, `.lower()`, `.compile()`;
- the steady-state median of the compiled call;
- the eager call as a user makes it without `jit`: first call (everything above plus
  dispatch) and the median of later calls (cached executables: dispatch only);

and the same for its anchor: `jax.numpy.linalg` / `jax.scipy.linalg` for the
decompositions and matrix functions (`jnp.linalg.svd` composites for the functions of
singular values, a dense `jnp.linalg.eigvalsh` for `eigsh`), quadax 0.3 `quadgk` for `quad`
and its `cubegm` for `cubature`, optimistix BFGS for `minimize`; `quadosc`, `dblquad` and
`qmc_quad` have no JAX anchor here (their own rows only). Ratios are jaxgrad / anchor
(lower is better for jaxgrad). `check_grad` (a testing tool) and `tikhonov` (a wrapper of
the objective for `minimize`) have no rows.
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    steady_median,
    text_table,
    write_markdown_section,
    write_results_json,
)

import jaxgrad.integrate as ji  # noqa: E402
import jaxgrad.linalg as jl  # noqa: E402
import jaxgrad.optimize as jo  # noqa: E402


def measure(fn, args, repeats):
    """dict(trace, lower, compile (s), run (ms), eager_first (s), eager (ms))."""
    jax.clear_caches()
    jitted = jax.jit(fn)
    t0 = time.perf_counter()
    traced = jitted.trace(*args)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()
    out = dict(trace=t1 - t0, lower=t2 - t1, compile=t3 - t2)
    out["run"] = 1e3 * steady_median(compiled, *args, repeats=repeats)
    jax.clear_caches()
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    out["eager_first"] = time.perf_counter() - t0
    out["eager"] = 1e3 * steady_median(fn, *args, repeats=repeats)
    return out


# ------------------------------------------------------------------ cases
def _sym(n, seed=0):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return jnp.asarray(a + a.T)


def _spd(n, seed=0):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return jnp.asarray(a @ a.T + n * np.eye(n))


def _gen(n, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, n)))


N = 8
C = jnp.asarray(np.random.default_rng(7).standard_normal((N, N)))


def _loss(f):
    """A scalar loss of a matrix- or tuple-valued function (projector-like, gauge-invariant)."""

    def loss(a):
        out = f(a)
        leaves = jax.tree_util.tree_leaves(out)
        total = 0.0
        for x in leaves:
            x = jnp.real(x) if jnp.iscomplexobj(x) else x
            if x.ndim == 2 and x.shape == (N, N):
                total = total + jnp.sum(C * x)
            else:
                total = total + jnp.sum(x**2)
        return total

    return loss


def _vecs_loss(eigh_fn):
    # ⟨C, V₀V₀ᵀ⟩ + Σλ²: sees the lowest eigenvector only through its projector.
    def loss(a):
        w, v = eigh_fn(a)
        return jnp.sum(w**2) + jnp.sum(C * jnp.outer(v[:, 0], v[:, 0]))

    return loss


def _svd_loss(svd_fn):
    def loss(a):
        u, s, vh = svd_fn(a)
        return jnp.sum(s**2) + jnp.sum(C * jnp.outer(u[:, 0], vh[0]))

    return loss


def _eig_loss(eig_fn):
    def loss(a):
        w, v = eig_fn(a)
        return jnp.sum(jnp.real(w) ** 2)

    return loss


def _jsp_eigh_generalized(a, b):
    # Anchor: the Cholesky reduction with jax's own eigh.
    lower = jnp.linalg.cholesky(b)
    li = jax.scipy.linalg.solve_triangular(lower, jnp.eye(b.shape[0], dtype=b.dtype), lower=True)
    w, y = jnp.linalg.eigh(li @ a @ li.T)
    return w, li.T @ y


def _svd_polar(a):
    u, s, vh = jnp.linalg.svd(a)
    return u @ vh, (vh.T * s) @ vh


def _eigh_composite(f):
    def g(a):
        w, v = jnp.linalg.eigh(a)
        return (v * f(w)) @ v.T

    return g


def _svd_composite(f):
    def g(a):
        u, s, vh = jnp.linalg.svd(a)
        return (u * f(s)) @ vh

    return g


def _soft(tau):
    return lambda s: jnp.maximum(s - tau, 0.0)


def linalg_cases():
    a, spd, g = _sym(N), _spd(N), _gen(N)
    m = lambda f: _loss(f)  # noqa: E731
    return [
        ("eigh", _vecs_loss(jl.eigh), _vecs_loss(jnp.linalg.eigh), (a,)),
        ("eigvalsh", m(jl.eigvalsh), m(jnp.linalg.eigvalsh), (a,)),
        ("svd", _svd_loss(jl.svd), _svd_loss(jnp.linalg.svd), (g,)),
        ("svdvals", m(jl.svdvals), m(lambda x: jnp.linalg.svd(x, compute_uv=False)), (g,)),
        # Both compute eigenvectors; the gradient row's anchor is eigvals (`GRAD_ANCHOR`).
        ("eig", _eig_loss(jl.eig), _eig_loss(jnp.linalg.eig), (g,)),
        ("eigvals", m(lambda x: jnp.real(jl.eigvals(x))), m(lambda x: jnp.real(jnp.linalg.eigvals(x))), (g,)),
        ("eigh_generalized", _vecs_loss(lambda x: jl.eigh_generalized(x, spd)),
         _vecs_loss(lambda x: _jsp_eigh_generalized(x, spd)), (a,)),
        ("funm (tanh)", m(lambda x: jl.funm(x, jnp.tanh)), m(_eigh_composite(jnp.tanh)), (a,)),
        ("expm", m(jl.expm), m(jax.scipy.linalg.expm), (a / 4,)),
        ("logm", m(jl.logm), m(_eigh_composite(jnp.log)), (spd,)),
        ("sqrtm", m(jl.sqrtm), m(_eigh_composite(jnp.sqrt)), (spd,)),
        ("inv_sqrtm", m(jl.inv_sqrtm), m(_eigh_composite(lambda w: 1 / jnp.sqrt(w))), (spd,)),
        ("powm (p=0.3)", m(lambda x: jl.powm(x, 0.3)), m(_eigh_composite(lambda w: w**0.3)), (spd,)),
        ("trace_function (exp)", lambda x: jl.trace_function(x, jnp.exp),
         lambda x: jnp.sum(jnp.exp(jnp.linalg.eigvalsh(x))), (a / 4,)),
        ("projector (k=2)", m(lambda x: jl.projector(x, 2)),
         m(lambda x: (lambda v: v @ v.T)(jnp.linalg.eigh(x)[1][:, :2])), (a,)),
        # jax.scipy.linalg.polar iterates (QDWH) and has no reverse-mode derivative:
        # the anchor is the same SVD formula through jnp.linalg.svd.
        ("polar", m(jl.polar), m(_svd_polar), (g,)),
        ("svd_funm (tanh)", m(lambda x: jl.svd_funm(x, jnp.tanh)), m(_svd_composite(jnp.tanh)), (g,)),
        ("svd_trace_function (log1p)", lambda x: jl.svd_trace_function(x, jnp.log1p),
         lambda x: jnp.sum(jnp.log1p(jnp.linalg.svd(x, compute_uv=False))), (g,)),
        ("nuclear_norm", jl.nuclear_norm, lambda x: jnp.sum(jnp.linalg.svd(x, compute_uv=False)), (g,)),
        ("svt (tau=0.5)", m(lambda x: jl.svt(x, 0.5)), m(_svd_composite(_soft(0.5))), (g,)),
    ]


EIGSH_N, EIGSH_K = 200, 3


def eigsh_cases():
    # The three largest eigenvalues of a 200×200 symmetric matrix (the iterative path:
    # n ≥ 3·ncv), summed; the anchor decomposes the whole matrix with jnp.linalg.eigh.
    a = _sym(EIGSH_N, seed=3)

    def jg(x):
        return jnp.sum(jl.eigsh(x, EIGSH_K, which="largest").eigenvalues)

    def dense(x):
        return jnp.sum(jnp.linalg.eigvalsh(x)[-EIGSH_K:])

    return [("eigsh (3 of 200)", jg, dense, (a,)), ("eigsh (3 of 200) grad", jax.grad(jg), jax.grad(dense), (a,))]


def _integrand(x, p):
    return jnp.exp(-p * x) / jnp.sqrt(x)


EPSREL = 1e-10


def quad_cases():
    import quadax

    def jg(p):
        return ji.quad(_integrand, 0.0, 1.0, (p,), epsrel=EPSREL, epsabs=0.0)[0]

    def qx(p):
        return quadax.quadgk(_integrand, jnp.array([0.0, 1.0]), (p,), epsrel=EPSREL, epsabs=0.0)[0]

    p, ps = jnp.asarray(2.0), jnp.linspace(1.0, 3.0, 100)
    return [
        ("quad", jg, qx, (p,)),
        ("quad grad", jax.grad(jg), jax.grad(qx), (p,)),
        ("quad jacfwd(jacrev)", jax.jacfwd(jax.jacrev(jg)), jax.jacfwd(jax.jacrev(qx)), (p,)),
        ("quad vmap(100)", jax.vmap(jg), jax.vmap(qx), (ps,)),
    ]


def _gauss3(x, p):
    return jnp.exp(-jnp.sum((x - p) ** 2))


def integrate_cases():
    # quadosc: ∫₀^∞ sin t/(t + p) dt (no JAX anchor); cubature: a Gaussian over [0, 1]³
    # at epsrel 1e-8 (quadax's degree-9 `cubegm` beside it); dblquad over the triangle
    # 0 ≤ y ≤ x ≤ 1; qmc_quad over [0, 1]⁵ with 8 × 1,024 points (a fixed key).
    import quadax

    p, p3 = jnp.asarray(2.0), jnp.asarray([0.3, 0.4, 0.5])
    box, interval = (jnp.zeros(3), jnp.ones(3)), jnp.stack([jnp.zeros(3), jnp.ones(3)], axis=1)
    key = jax.random.key(0)

    def osc(p):
        return ji.quadosc(lambda t, p: jnp.sin(t) / (t + p), 0.0, jnp.inf, (p,), period=2 * np.pi)[0]

    def cub(p):
        return ji.cubature(_gauss3, *box, (p,), epsabs=0.0, epsrel=1e-8)[0]

    def cub_qx(p):
        return quadax.cubegm(_gauss3, interval, (p,), epsabs=0.0, epsrel=1e-8)[0]

    def dbl(p):
        return ji.dblquad(lambda y, x, p: jnp.exp(-p * (x * x + y * y)), 0.0, 1.0, 0.0, lambda x: x, (p,))[0]

    def qmc(p):
        return ji.qmc_quad(lambda x, p: jnp.exp(-p * jnp.sum(x * x)), jnp.zeros(5), jnp.ones(5), (p,), key=key)[0]

    return [
        ("quadosc", osc, None, (p,)), ("quadosc grad", jax.grad(osc), None, (p,)),
        ("cubature (d=3)", cub, cub_qx, (p3,)), ("cubature (d=3) grad", jax.grad(cub), jax.grad(cub_qx), (p3,)),
        ("dblquad", dbl, None, (p,)), ("dblquad grad", jax.grad(dbl), None, (p,)),
        ("qmc_quad (d=5)", qmc, None, (p,)), ("qmc_quad (d=5) grad", jax.grad(qmc), None, (p,)),
    ]


def _rosenbrock(x, s):
    return jnp.sum(s * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def minimize_cases():
    try:
        import optimistix as optx
    except ImportError:
        optx = None
    x0 = jnp.zeros(4)

    def jg(s):
        return jo.minimize(_rosenbrock, x0, (s,), tol=1e-10).x

    def ox(s):
        solver = optx.BFGS(rtol=1e-12, atol=1e-12)
        return optx.minimise(lambda x, s: _rosenbrock(x, s), solver, x0, args=s, max_steps=1000).value

    s = jnp.asarray(10.0)
    jgl = lambda s: jnp.sum(jg(s) ** 2)  # noqa: E731
    oxl = lambda s: jnp.sum(ox(s) ** 2)  # noqa: E731
    return [
        ("minimize", jg, ox if optx else None, (s,)),
        ("minimize grad (implicit)", jax.grad(jgl), jax.grad(oxl) if optx else None, (s,)),
    ]


def anchor_name(case: str) -> str:
    """What a case is compared with (for tables and figures)."""
    base = case.split(" ")[0]
    if case == "eig grad":
        return "jnp.linalg.eigvals"
    return {
        "eigh": "jnp.linalg.eigh", "eigvalsh": "jnp.linalg.eigvalsh", "svd": "jnp.linalg.svd",
        "svdvals": "jnp.linalg.svd", "eig": "jnp.linalg.eig", "eigvals": "jnp.linalg.eigvals",
        "eigh_generalized": "Cholesky + jnp.linalg.eigh", "expm": "jax.scipy.linalg.expm",
        "trace_function": "jnp.linalg.eigvalsh", "projector": "jnp.linalg.eigh", "polar": "jnp.linalg.svd",
        "quad": "quadax quadgk", "minimize": "optimistix BFGS", "eigsh": "jnp.linalg.eigvalsh (dense)",
        "svd_funm": "jnp.linalg.svd composite", "svd_trace_function": "jnp.linalg.svd",
        "nuclear_norm": "jnp.linalg.svd", "svt": "jnp.linalg.svd composite", "cubature": "quadax cubegm",
        "quadosc": "none", "dblquad": "none", "qmc_quad": "none",
    }.get(base, "jnp.linalg.eigh composite")


# jnp.linalg.eig has no eigenvector derivative (its JVP refuses even when the loss uses
# only the eigenvalues): the gradient is compared with that of eigvals.
GRAD_ANCHOR = {"eig": _eig_loss(lambda x: (jnp.linalg.eigvals(x), None))}


def _grad_case(name, f, g, args):
    g = GRAD_ANCHOR.get(name, g)
    return (name + " grad", jax.grad(f), jax.grad(g) if g is not None else None, args)


def all_cases():
    out = []
    for name, f, g, args in linalg_cases():
        out.append((name, f, g, args))
        out.append(_grad_case(name, f, g, args))
    return out + eigsh_cases() + quad_cases() + integrate_cases() + minimize_cases()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="case names starting with one of these")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--markdown", metavar="FILE", help="write the table into FILE (section 'compile')")
    args = p.parse_args(argv)
    rows, records = [], []
    info = machine_info()
    for name, f, anchor, fargs in all_cases():
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        j = measure(f, fargs, args.repeats)
        a = measure(anchor, fargs, args.repeats) if anchor is not None else None
        jt = j["trace"] + j["lower"] + j["compile"]
        at = a["trace"] + a["lower"] + a["compile"] if a else float("nan")

        def r(x, y):
            return f"{x / y:.2f}" if a else "—"

        row = [
            name,
            f"{j['trace']:.2f} / {j['lower']:.2f} / {j['compile']:.2f}",
            f"{a['trace']:.2f} / {a['lower']:.2f} / {a['compile']:.2f}" if a else "—",
            r(jt, at),
            f"{j['run']:.3f}", f"{a['run']:.3f}" if a else "—", r(j["run"], a["run"] if a else 1),
            f"{j['eager']:.3f}", f"{a['eager']:.3f}" if a else "—", r(j["eager"], a["eager"] if a else 1),
            f"{j['eager_first']:.2f}",
        ]
        rows.append(row)
        records.append({"function": name, "anchor_name": anchor_name(name), "jaxgrad": j, "anchor": a})
        print(text_table(HEADER, [row]).splitlines()[-1], flush=True)
    table = markdown_table(HEADER, rows)
    print()
    print(text_table(HEADER, rows))
    if args.markdown:
        body = (
            "## First-call and steady-state cost of every public function (`python bench/compile.py`)\n\n"
            f"{machine_info_markdown(info)}\n\n"
            "float64; matrices 8×8 (`eigsh`: the 3 largest of 200×200); `quad` on exp(−px)/√x over "
            "[0, 1] at epsrel 1e-10 (quadax 0.3 `quadgk` beside it); `quadosc` on sin t/(t + p) over "
            "[0, ∞); `cubature` on a Gaussian over [0, 1]³ at epsrel 1e-8 (quadax `cubegm` beside it); "
            "`dblquad` on e^(−p(x² + y²)) over a triangle; `qmc_quad` on e^(−p‖x‖²) over [0, 1]⁵; "
            "`minimize` on a 4-variable Rosenbrock function (optimistix BFGS "
            "beside it). Each measurement starts from `jax.clear_caches()`. Loss-based rows "
            "(`grad`) differentiate a projector-like scalar loss of the output. Times: trace / "
            "lower / XLA compile in seconds; steady state and eager calls in milliseconds "
            "(median); eager first call in seconds. Ratio = jaxgrad / anchor.\n\n" + table
        )
        write_markdown_section(args.markdown, "compile", body)
        write_results_json("compile", {
            "units": {"trace": "s", "lower": "s", "compile": "s", "run": "ms", "eager": "ms", "eager_first": "s"},
            "rows": records,
        }, info)
    return 0


HEADER = [
    "function", "jaxgrad trace/lower/compile s", "anchor trace/lower/compile s", "first-call ratio",
    "jaxgrad run ms", "anchor run ms", "run ratio", "jaxgrad eager ms", "anchor eager ms",
    "eager ratio", "jaxgrad eager first s",
]

if __name__ == "__main__":
    sys.exit(main())
