"""`python -m jaxgrad demo`: gradients at ties through jax.numpy.linalg and jaxgrad.linalg.

Every reference value is a closed form built from the matrix's known construction, so
the table compares both libraries with the truth, not with each other.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def _rotation(n, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


def _sym(g):
    return (g + g.T) / 2


def _cluster_projector_grad(vecs, vals, cluster, c):
    """Exact gradient of <C, P_cluster>: dP = Σ_{i∈c, j∉c} (vⱼvⱼᵀ dA vᵢvᵢᵀ + h.c.)/(λᵢ − λⱼ)."""
    cs = _sym(c)
    g = np.zeros_like(cs)
    for i in cluster:
        for j in range(len(vals)):
            if j in cluster:
                continue
            vi, vj = vecs[:, i], vecs[:, j]
            g += 2 * (vj @ cs @ vi) * np.outer(vj, vi) / (vals[i] - vals[j])
    return _sym(g)


def _cases():
    """(name, loss(lib, a), matrix, reference gradient) for the tie stories."""
    c3 = np.random.default_rng(1).normal(size=(3, 3))
    c5 = np.random.default_rng(2).normal(size=(5, 5))
    cases = []

    r = _rotation(3, 0)
    vals = np.array([1.0, 1.0, 2.0])
    a = (r * vals) @ r.T

    def low_pair(lib, a):
        v = lib.eigh(a)[1][:, :2]
        return jnp.sum(c3 * (v @ v.T))

    cases.append(
        ("projector, 2 lowest of R·diag(1,1,2)·Rᵀ", low_pair, a,
         _cluster_projector_grad(r, vals, [0, 1], c3))
    )

    p = _rotation(5, 3)
    vals5 = np.array([0.1, 0.5, 0.5, 1.2, 1.2])
    a5 = (p * vals5) @ p.T

    def middle_pair(lib, a):
        v = lib.eigh(a)[1][:, 1:3]
        return jnp.sum(c5 * (v @ v.T))

    cases.append(
        ("projector, middle pair of Pᵀ·diag(.1,.5,.5,1.2,1.2)·P", middle_pair, a5,
         _cluster_projector_grad(p, vals5, [1, 2], c5))
    )

    a4 = np.diag([4.0, 1.0, 1.0])
    b = np.array([0.3, -1.0, 0.7])

    def top_vector(lib, a):
        return (lib.eigh(a)[1][:, -1] @ b) ** 2

    # dv = (I − vvᵀ) dA v / (4 − 1) for the simple top eigenvalue, v = e₀.
    v = np.eye(3)[0]
    top_ref = _sym(2 * (b @ v) / 3 * np.outer((np.eye(3) - np.outer(v, v)) @ b, v))
    cases.append(("(bᵀv_top)² at diag(4,1,1)  [jax#4646]", top_vector, a4, top_ref))

    # U·diag(s)·Vh is A itself, so <K, U S Vh> has gradient K; K skew + diagonal is the
    # part a finite SVD rule can carry at a tie (docs: derivatives-at-ties).
    k = np.array([[0.5, 1.0, -2.0], [-1.0, 0.2, 0.3], [2.0, -0.3, -0.4]])

    def reconstruct(lib, a):
        u, s, vh = lib.svd(a)
        return jnp.sum(k * ((u * s) @ vh))

    cases.append(("<K, U·diag(s)·Vh> at I, K skew+diag  [jax#8732]", reconstruct, np.eye(3), k))

    def norm_s(lib, a):
        return jnp.linalg.norm(lib.svd(a)[1])

    d = np.diag([1.0, 1.0, 2.0, 3.0])
    cases.append(("‖s‖ of svd at diag(1,1,2,3)  [jax#8732]", norm_s, d, d / np.linalg.norm(d)))
    cases.append(("‖s‖ of svd at I", norm_s, np.eye(3), np.eye(3) / math.sqrt(3)))
    return cases


def _error(grad, ref):
    grad = np.asarray(grad)
    if not np.all(np.isfinite(grad)):
        return "NaN"
    return f"{np.max(np.abs(grad - ref)):.1e}"


def _ill_posed():
    """Losses whose derivative does not exist: a number here is a silent lie."""
    from . import linalg

    h = jnp.array([[2.0, 1j], [-1j, 3.0]])
    jordan = jnp.array([[1.0, 1.0], [0.0, 1.0]])
    rows = []
    for name, fn, x in [
        # Re of the first eigenvector's entry sum: depends on its phase at first order in
        # any phase convention (the real part of the one entry a convention makes real
        # does not, and its gradient exists).
        ("Re ΣV[:,0] of eigh([[2,i],[-i,3]]) (phase)", lambda lib, a: jnp.real(jnp.sum(lib.eigh(a)[1][:, 0])), h),
        ("Re λ₀ of eig([[1,1],[0,1]]) (defective)", lambda lib, a: jnp.real(lib.eig(a)[0][0]), jordan),
    ]:
        out = []
        for lib in (jnp.linalg, linalg):
            try:
                g = np.asarray(jax.jit(jax.grad(lambda a: fn(lib, a)))(x))
                out.append("NaN" if not np.all(np.isfinite(g)) else f"finite, |g|max={np.max(np.abs(g)):.2g}")
            except Exception as exc:  # jnp refuses some of these outright
                out.append(f"error: {type(exc).__name__}")
        rows.append((name, *out))
    return rows


def _spectral_section() -> bool:
    from . import linalg

    print("Gradients at repeated eigenvalues / singular values (float64).")
    print("Each entry is max |gradient − exact closed form|; NaN means the library gave NaN.\n")
    header = f"{'case':<52} {'jax.numpy.linalg':>17} {'jaxgrad.linalg':>15}"
    print(header)
    print("-" * len(header))
    ok = True
    for name, loss, a, ref in _cases():
        errs = []
        for lib in (jnp.linalg, linalg):
            # One compiled program per loss (eager grad would compile each piece).
            errs.append(_error(jax.jit(jax.grad(lambda x, lib=lib: loss(lib, x)))(a), ref))
        ok &= errs[1] != "NaN" and float(errs[1]) < 1e-10
        print(f"{name:<52} {errs[0]:>17} {errs[1]:>15}")

    print("\nIll-posed losses (the derivative does not exist; the right answer is NaN or an error):\n")
    header = f"{'loss':<52} {'jax.numpy.linalg':>24} {'jaxgrad.linalg':>15}"
    print(header)
    print("-" * len(header))
    for name, ours_jnp, ours in _ill_posed():
        ok &= ours == "NaN"
        print(f"{name:<52} {ours_jnp:>24} {ours:>15}")
    return ok


def _matrix_function_section() -> bool:
    """The worked examples of docs/matrix-functions.md."""
    from . import linalg

    print("\nMatrix functions at a tie: raw eigenvectors vs Daleckii–Krein (float64).\n")
    eye = jnp.eye(3)

    def square_via(decomp):
        def loss(a):
            w, v = decomp(a)
            return jnp.sum((v * w**2) @ v.T)  # Σᵢⱼ (A²)ᵢⱼ through V f(Λ) Vᵀ

        return loss

    rows = [
        ("∇ Σ(A²)ᵢⱼ at A = I, exact 2·ones", "jnp.linalg.eigh composite",
         jax.jit(jax.grad(square_via(jnp.linalg.eigh)))(eye), 2 * jnp.ones((3, 3))),
        ("", "jaxgrad.linalg.eigh composite", jax.jit(jax.grad(square_via(linalg.eigh)))(eye),
         2 * jnp.ones((3, 3))),
        ("", "jaxgrad.linalg.funm(a, x²)",
         jax.jit(jax.grad(lambda a: jnp.sum(linalg.funm(a, jnp.square))))(eye), 2 * jnp.ones((3, 3))),
    ]
    j = jnp.ones((3, 3))

    def second(fn):
        return jax.jit(jax.grad(jax.grad(lambda x: fn(eye + x * j))))(0.0)

    def composite(a):
        w, v = jnp.linalg.eigh(a)
        return jnp.trace((v * jnp.exp(w)) @ v.T)

    nine_e = 9 * math.e
    rows += [
        ("d²/dx² tr exp(I + xJ) at 0, exact 9e", "jnp.linalg.eigh composite", second(composite), nine_e),
        ("", "jax.scipy.linalg.expm", second(lambda a: jnp.trace(jax.scipy.linalg.expm(a))), nine_e),
        ("", "jaxgrad.linalg.expm", second(lambda a: jnp.trace(linalg.expm(a))), nine_e),
        ("", "jaxgrad.linalg.trace_function",
         second(lambda a: linalg.trace_function(a, jnp.exp)), nine_e),
    ]
    header = f"{'quantity':<38} {'computed with':<32} {'max error':>10}"
    print(header)
    print("-" * len(header))
    ok = True
    for quantity, method, got, exact in rows:
        err = _error(got, np.asarray(exact))
        if method.startswith("jaxgrad.linalg.") and "composite" not in method:
            ok &= err != "NaN" and float(err) < 1e-10
        print(f"{quantity:<38} {method:<32} {err:>10}")
    print("(the jaxgrad.linalg.eigh composite is finite but wrong: V f(Λ) Vᵀ couples tied")
    print(" eigenvalues with their eigenvectors, which no (V, λ) rule can see; use funm)")
    return ok


def _quadrature_section() -> bool:
    from .integrate._demo import demo_section

    return demo_section()


_SECTIONS = {  # the sections before the optimisation table, in print order, with their cost
    "spectral": (6.0, _spectral_section),
    "matrix functions": (8.0, _matrix_function_section),
    "quadrature": (10.0, _quadrature_section),
}


def _run_task(kind: str, name: str, plot):
    """Run one piece of the demo in this process: `("section", name)` returns what it
    printed and whether it was as expected; `("optimize", name)` returns its table rows."""
    import contextlib
    import io

    jax.config.update("jax_enable_x64", True)
    if kind == "optimize":
        from .optimize._demo import TASKS

        return TASKS[name][1](plot)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ok = _SECTIONS[name][1]()
    return out.getvalue(), bool(ok)


def _print_in_order(result, plot) -> bool:
    """Print every section as soon as it and those before it are done, then the table."""
    from .optimize._demo import TASKS, print_section

    ok = True
    for name in _SECTIONS:
        text, section_ok = result("section", name)
        print(text, end="", flush=True)
        ok &= section_ok
    return ok & print_section([result("optimize", name) for name in TASKS], plot)


_FAST_CPU_COMPILE = ("xla_cpu_use_fusion_emitters", "false")


def _compile_quickly() -> None:
    """Compile the demo's programs with XLA's classic CPU emitters, unless XLA_FLAGS
    already says which to use.

    The demo's time is mostly XLA compiling small programs once each. XLA's default
    MLIR-based fusion emitters spend much of that on per-kernel pass pipelines; the
    classic emitters compile the same programs with ~40% less CPU time and run them
    about as fast (docs/performance.md, "First-call cost"). Set before any backend
    exists: the worker processes inherit it, and so does this process when `jobs` is 1.
    No effect on a GPU.
    """
    import os

    flag, value = _FAST_CPU_COMPILE
    flags = os.environ.get("XLA_FLAGS", "")
    if flag not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --{flag}={value}".strip()
    setting = os.environ["XLA_FLAGS"]
    print(f'(compiled with XLA_FLAGS="{setting}": see docs/performance.md, "First-call cost")')


def run_demo(plot: str | None = None, jobs: int = 2) -> int:
    """Run every section and print them in order; 0 when every jaxgrad row is as expected.

    The demo compiles about a hundred small programs, and XLA compiles one program
    mostly on one core, so the sections and the rows of the optimisation table are
    independent tasks that `jobs` worker processes take longest first.
    """
    from .optimize._demo import TASKS

    _compile_quickly()
    tasks = [("section", name, cost) for name, (cost, _) in _SECTIONS.items()]
    tasks += [("optimize", name, cost) for name, (cost, _) in TASKS.items()]
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")  # no fork after jax is imported
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = {
                (kind, name): pool.submit(_run_task, kind, name, plot)
                for kind, name, _ in sorted(tasks, key=lambda t: -t[2])
            }
            ok = _print_in_order(lambda kind, name: futures[kind, name].result(), plot)
    else:
        ok = _print_in_order(lambda kind, name: _run_task(kind, name, plot), plot)
    print("\nall jaxgrad rows as expected" if ok else "\nUNEXPECTED jaxgrad result above")
    return 0 if ok else 1
