"""Benchmark jaxgrad.linalg.{eigh, svd} against jax.numpy.linalg in one process.

Usage:
    python bench/spectral.py [--x64] [--repeats N] [--sizes small|all] [--markdown FILE]

For each batch shape (512x16x16, 8x128x128, 2x384x384; ``--sizes small`` keeps the
first two) and each of

    eigh fwd   jit(eigh(a))                                      -> (w, V)
    eigh vjp   jit(value_and_grad(sum(c1*w) + sum(c2*V**2)))
    svd  fwd   jit(svd(a, full_matrices=False))                  -> (U, S, Vh)
    svd  vjp   jit(value_and_grad(sum(d1*S) + sum(d2*U**2) + sum(d3*Vh**2)))

it reports, for jaxgrad.linalg and jax.numpy.linalg: the median wall time of
``repeats`` calls after one warm-up call (each call ends with ``block_until_ready``;
the two libraries are called alternately so that load bursts hit both alike),
the compile time (``jit(f).lower(a).compile()``, i.e. trace + lower + XLA compile,
measured separately), and the ratio jaxgrad/jnp. Once per case it checks that both
libraries give finite results and prints the largest forward difference (eigenvectors
and singular vectors sign-aligned per column first) and, for the vjp rows, the largest
gradient difference relative to max|grad|.

Inputs (seeded): random orthogonal bases (QR of a Gaussian matrix) with a well
separated spectrum -- a = Q diag(lam) Q^T with lam evenly spaced in [-1, 1] plus a
jitter of +-20 % of the spacing, and for svd a = U diag(s) V^T with s evenly spaced in
[0.1, 1] plus the same jitter. The separation keeps every gap well above jaxgrad's
float32 tie tolerance (sqrt(eps) * max|lam| = 3.5e-4 * max|lam|): i.i.d. Gaussian
matrices of size 384 have eigenvalue pairs closer than that in float32, where the two
libraries legitimately differ (jaxgrad treats the pair as tied; the losses above,
which look at individual eigenvectors, are then gauge dependent and jaxgrad's
reverse mode returns NaN by design, while jnp returns a 1/gap-amplified number), and
the comparison would no longer be like for like. The losses are smooth and invariant
under the per-column sign of the eigen/singular vectors, and use the same fixed
random weights for both libraries.

The whole default run (``--sizes all``, float32) is meant to fit in ~5 minutes on
2 cores even with other jobs running (it takes well under a minute on an idle machine,
~2-3x that with --x64); ``--repeats`` (default 30) trades precision for time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from _inputs import random_orthogonal  # noqa: E402
from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    median_times_interleaved,
    spectral_bench_cli,
    text_table,
    write_markdown_section,
)

SIZES = {
    "small": [(512, 16), (8, 128)],
    "all": [(512, 16), (8, 128), (2, 384)],
}
SEED = 20240611
SECTION = "spectral"


# ----------------------------------------------------------------------------- inputs
def _separated_spectrum(rng, batch, n, lo, hi):
    base = np.linspace(lo, hi, n)
    spacing = (hi - lo) / (n - 1)
    return base + rng.uniform(-0.2, 0.2, (batch, n)) * spacing


def make_inputs(batch, n, dtype, seed=SEED):
    """Symmetric and general test matrices plus the fixed loss weights (host arrays)."""
    rng = np.random.default_rng([seed, batch, n])
    q = random_orthogonal(rng, batch, n)
    lam = _separated_spectrum(rng, batch, n, -1.0, 1.0)
    sym = (q * lam[:, None, :]) @ np.swapaxes(q, -1, -2)
    sym = (sym + np.swapaxes(sym, -1, -2)) / 2
    u = random_orthogonal(rng, batch, n)
    v = random_orthogonal(rng, batch, n)
    s = _separated_spectrum(rng, batch, n, 0.1, 1.0)
    gen = (u * s[:, None, :]) @ np.swapaxes(v, -1, -2)
    weights = {
        "c1": rng.standard_normal((n,)),
        "c2": rng.standard_normal((n, n)),
        "d1": rng.standard_normal((n,)),
        "d2": rng.standard_normal((n, n)),
        "d3": rng.standard_normal((n, n)),
    }
    cast = lambda x: jax.device_put(np.asarray(x, dtype=dtype))  # noqa: E731
    return cast(sym), cast(gen), {k: cast(w) for k, w in weights.items()}


# ------------------------------------------------------------------- functions timed
def build_functions(lib, weights):
    """Fresh (never called) jitted functions for one library: {(op, mode): fn}."""
    import jax.numpy as jnp

    c1, c2, d1, d2, d3 = (weights[k] for k in ("c1", "c2", "d1", "d2", "d3"))

    def eigh_fwd(a):
        w, v = lib.eigh(a)
        return w, v

    def eigh_loss(a):
        w, v = lib.eigh(a)
        return jnp.sum(c1 * w) + jnp.sum(c2 * v**2)

    def svd_fwd(a):
        u, s, vh = lib.svd(a, full_matrices=False)
        return u, s, vh

    def svd_loss(a):
        u, s, vh = lib.svd(a, full_matrices=False)
        return jnp.sum(d1 * s) + jnp.sum(d2 * u**2) + jnp.sum(d3 * vh**2)

    return {
        ("eigh", "fwd"): jax.jit(eigh_fwd),
        ("eigh", "vjp"): jax.jit(jax.value_and_grad(eigh_loss)),
        ("svd", "fwd"): jax.jit(svd_fwd),
        ("svd", "vjp"): jax.jit(jax.value_and_grad(svd_loss)),
    }


# ------------------------------------------------------------------------- checks
def _np(x):
    return np.asarray(x, dtype=np.float64)


def _align_columns(x, ref):
    """Sign per column (last axis) that best matches ``ref``; +1 where undetermined."""
    sign = np.sign(np.sum(x * ref, axis=-2))
    return np.where(sign == 0, 1.0, sign)


def compare(op, mode, out_jg, out_jnp):
    """(finite_both, max forward |diff|, grad max|diff| / max|grad| or None)."""
    leaves = jax.tree_util.tree_leaves((out_jg, out_jnp))
    finite = all(bool(np.all(np.isfinite(_np(x)))) for x in leaves)
    if mode == "vjp":
        (l1, g1), (l2, g2) = out_jg, out_jnp
        g1, g2 = _np(g1), _np(g2)
        grad_rel = float(np.max(np.abs(g1 - g2)) / max(np.max(np.abs(g2)), 1e-300))
        return finite, float(abs(_np(l1) - _np(l2))), grad_rel
    if op == "eigh":
        (w1, v1), (w2, v2) = [tuple(_np(x) for x in o) for o in (out_jg, out_jnp)]
        v1 = v1 * _align_columns(v1, v2)[..., None, :]
        diff = max(np.max(np.abs(w1 - w2)), np.max(np.abs(v1 - v2)))
    else:
        (u1, s1, vh1), (u2, s2, vh2) = [tuple(_np(x) for x in o) for o in (out_jg, out_jnp)]
        sign = _align_columns(u1, u2)
        u1, vh1 = u1 * sign[..., None, :], vh1 * sign[..., :, None]
        diff = max(np.max(np.abs(s1 - s2)), np.max(np.abs(u1 - u2)), np.max(np.abs(vh1 - vh2)))
    return finite, float(diff), None


# --------------------------------------------------------------------------- main
HEADER = [
    "shape",
    "op",
    "mode",
    "jaxgrad ms",
    "jnp ms",
    "ratio",
    "compile jaxgrad s",
    "compile jnp s",
    "fwd max Δ",
    "grad rel Δ",
    "finite",
]


def run(sizes, repeats, dtype, log=print):
    import jax.numpy as jnp

    import jaxgrad.linalg as jgl

    rows = []
    for batch, n in sizes:
        sym, gen, weights = make_inputs(batch, n, dtype)
        fns = {"jaxgrad": build_functions(jgl, weights), "jnp": build_functions(jnp.linalg, weights)}
        for op, a in (("eigh", sym), ("svd", gen)):
            for mode in ("fwd", "vjp"):
                t0 = time.perf_counter()
                case = {name: fns[name][(op, mode)] for name in fns}
                res = median_times_interleaved(case, a, repeats=repeats, warmup=1)
                outs = {name: jax.device_get(fns[name][(op, mode)](a)) for name in fns}
                finite, fwd_diff, grad_rel = compare(op, mode, outs["jaxgrad"], outs["jnp"])
                (t_jg, c_jg), (t_jnp, c_jnp) = res["jaxgrad"], res["jnp"]
                row = [
                    f"{batch}x{n}x{n}",
                    op,
                    mode,
                    f"{t_jg * 1e3:.3g}",
                    f"{t_jnp * 1e3:.3g}",
                    f"{t_jg / t_jnp:.2f}",
                    f"{c_jg:.2f}",
                    f"{c_jnp:.2f}",
                    f"{fwd_diff:.1e}",
                    "" if grad_rel is None else f"{grad_rel:.1e}",
                    "yes" if finite else "NO",
                ]
                rows.append(row)
                log(f"  [{time.perf_counter() - t0:5.1f}s] " + " ".join(row))
    return rows


def main(argv=None):
    args, dtype, section = spectral_bench_cli(__doc__.split("\n\n")[0], SECTION, SIZES, argv)

    info = machine_info()
    sizes = SIZES[args.sizes]
    print(f"jaxgrad.linalg vs jax.numpy.linalg, {np.dtype(dtype).name}, repeats={args.repeats}")
    print(machine_info_markdown(info))
    t0 = time.perf_counter()
    rows = run(sizes, args.repeats, dtype)
    total = time.perf_counter() - t0
    print()
    print(text_table(HEADER, rows))
    print(f"\ntotal {total:.0f} s")

    if args.markdown:
        cmd = "python bench/spectral.py" + (" " + " ".join(sys.argv[1:]) if argv is None else "")
        body = "\n\n".join(
            [
                f"## Spectral decompositions: jaxgrad.linalg vs jax.numpy.linalg ({np.dtype(dtype).name})",
                f"`{cmd.strip()}` (run time {total:.0f} s)",
                machine_info_markdown(info),
                "Median wall time of "
                f"{args.repeats} jitted calls after one warm-up (`block_until_ready`; "
                "jaxgrad and jnp called alternately); "
                "compile = `jit(f).lower(a).compile()` (trace + lower + XLA compile); "
                "ratio = jaxgrad / jnp (< 1: jaxgrad faster). "
                "fwd = `eigh(a)` / `svd(a, full_matrices=False)`; "
                "vjp = `value_and_grad` of `sum(c1*w) + sum(c2*V**2)` (eigh) or "
                "`sum(d1*S) + sum(d2*U**2) + sum(d3*Vh**2)` (svd). "
                "Inputs: random orthogonal bases with a well-separated spectrum (no ties). "
                "fwd max Δ: largest forward difference between the libraries "
                "(vectors sign-aligned; for vjp rows, of the loss value); "
                "grad rel Δ: max|Δgrad| / max|grad|.",
                markdown_table(HEADER, rows),
            ]
        )
        how = write_markdown_section(args.markdown, section, body)
        print(f"{how} section '{section}' in {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
