"""Benchmark jaxgrad.linalg.{expm, funm} gradients against jax.scipy and jnp.linalg.eigh in one process.

Usage:
    python bench/matfuncs.py [--x64] [--repeats N] [--sizes small|all] [--markdown FILE]

For each batch shape (512x16x16, 8x128x128, 2x384x384; ``--sizes small`` keeps the
first two) it times two groups of jitted ``value_and_grad`` functions of a symmetric
batch ``a``:

    expm  jaxgrad     value_and_grad(sum(c * jaxgrad.linalg.expm(a)))
          jax.scipy   value_and_grad(sum(c * jax.scipy.linalg.expm(a)))
          composite   value_and_grad(sum(c * (v * exp(w)) @ v.mT)),  w, v = jnp.linalg.eigh(a)
    funm  jaxgrad     value_and_grad(sum(c * jaxgrad.linalg.funm(a, jnp.tanh)))
          jnp eigh    value_and_grad(sum(c1*w) + sum(c2*v**2)),      w, v = jnp.linalg.eigh(a)

and reports, per group, the median wall time of ``repeats`` calls after one warm-up
call (each call ends with ``block_until_ready``; the functions of a group are called
alternately so that load bursts hit all of them alike), the compile time
(``jit(f).lower(a).compile()``, i.e. trace + lower + XLA compile, measured
separately) and the ratios the library aims at:

    jax.scipy / jaxgrad    expm gradient, goal >= 3 (jaxgrad faster than Pade autodiff)
    jaxgrad / composite    expm gradient, goal <= 1.2 (tie-safety costs little over the
                           NaN-at-ties eigh composite, which is only a speed anchor)
    funm / eigh            funm value_and_grad vs one eigh value_and_grad, goal <= 1.3

Once per shape it checks that every result is finite and that the three expm gradients
agree (max|Δgrad| / max|grad| of jaxgrad against jax.scipy and against the
composite). The expm weights ``c`` are symmetric: jaxgrad and jnp.linalg.eigh
differentiate through ``(a + aᵀ)/2`` and return a symmetric gradient, while
jax.scipy.linalg.expm differentiates ``a`` as a general matrix, whose gradient
``L(a, c)`` is symmetric only when ``c`` is. With symmetric ``c`` the three gradients
are the same matrix.

Inputs (seeded): random orthogonal bases (QR of a Gaussian matrix) and a well
separated spectrum, a = Q diag(lam) Q^T with lam evenly spaced in [-1, 1] plus a
jitter of +-20 % of the spacing (so expm is tame, and no pair of eigenvalues is within
jaxgrad's float32 tie tolerance, where the eigh composite's gradient would be
1/gap-amplified noise or NaN). The funm loss weights c1, c2 of the eigh anchor are
those of bench/spectral.py's eigh vjp row.

The whole default run (``--sizes all``, float32, 30 repeats) is meant to fit in
~5 minutes on 2 cores even with other jobs running; ``--repeats`` trades precision for
time.
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
SEED = 20240612
SECTION = "matfuncs"
GOAL_JSP_OVER_JG = 3.0  # jax.scipy expm grad / jaxgrad expm grad, at least
GOAL_JG_OVER_COMPOSITE = 1.2  # jaxgrad expm grad / eigh composite grad, at most
GOAL_FUNM_OVER_EIGH = 1.3  # funm value_and_grad / eigh value_and_grad, at most


# ----------------------------------------------------------------------------- inputs
def make_inputs(batch, n, dtype, seed=SEED):
    """Symmetric test matrices (eigenvalues ~ [-1, 1], well separated) and loss weights."""
    rng = np.random.default_rng([seed, batch, n])
    q = random_orthogonal(rng, batch, n)
    spacing = 2.0 / (n - 1)
    lam = np.linspace(-1.0, 1.0, n) + rng.uniform(-0.2, 0.2, (batch, n)) * spacing
    sym = (q * lam[:, None, :]) @ np.swapaxes(q, -1, -2)
    sym = (sym + np.swapaxes(sym, -1, -2)) / 2
    c = rng.standard_normal((n, n))
    weights = {
        "c": (c + c.T) / 2,  # symmetric: see the module docstring
        "c1": rng.standard_normal((n,)),
        "c2": rng.standard_normal((n, n)),
    }
    cast = lambda x: jax.device_put(np.asarray(x, dtype=dtype))  # noqa: E731
    return cast(sym), {k: cast(w) for k, w in weights.items()}


# ------------------------------------------------------------------- functions timed
def build_functions(weights):
    """Fresh (never called) jitted functions: {group: {name: fn}}."""
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    import jaxgrad.linalg as jgl

    c, c1, c2 = weights["c"], weights["c1"], weights["c2"]

    def expm_composite(a):
        w, v = jnp.linalg.eigh(a)
        return (v * jnp.exp(w)[..., None, :]) @ jnp.swapaxes(v, -1, -2)

    def expm_loss(expm):
        return lambda a: jnp.sum(c * expm(a))

    def funm_loss(a):
        return jnp.sum(c * jgl.funm(a, jnp.tanh))

    def eigh_loss(a):
        w, v = jnp.linalg.eigh(a)
        return jnp.sum(c1 * w) + jnp.sum(c2 * v**2)

    vg = lambda f: jax.jit(jax.value_and_grad(f))  # noqa: E731
    return {
        "expm": {
            "jaxgrad": vg(expm_loss(jgl.expm)),
            "jax.scipy": vg(expm_loss(jsl.expm)),
            "composite": vg(expm_loss(expm_composite)),
        },
        "funm": {
            "funm": vg(funm_loss),
            "eigh": vg(eigh_loss),
        },
    }


# ------------------------------------------------------------------------- checks
def _np(x):
    return np.asarray(x, dtype=np.float64)


def _finite(*trees):
    return all(bool(np.all(np.isfinite(_np(x)))) for x in jax.tree_util.tree_leaves(trees))


def _grad_rel(g, ref):
    g, ref = _np(g), _np(ref)
    return float(np.max(np.abs(g - ref)) / max(np.max(np.abs(ref)), 1e-300))


# --------------------------------------------------------------------------- main
EXPM_HEADER = [
    "shape",
    "jaxgrad ms",
    "jax.scipy ms",
    "composite ms",
    f"jax.scipy/jaxgrad (≥{GOAL_JSP_OVER_JG:g})",
    f"jaxgrad/composite (≤{GOAL_JG_OVER_COMPOSITE:g})",
    "compile jaxgrad s",
    "compile jax.scipy s",
    "compile composite s",
    "grad rel Δ vs jax.scipy",
    "grad rel Δ vs composite",
    "finite",
]
FUNM_HEADER = [
    "shape",
    "funm ms",
    "eigh ms",
    f"funm/eigh (≤{GOAL_FUNM_OVER_EIGH:g})",
    "compile funm s",
    "compile eigh s",
    "finite",
]


def _ratio(x, goal_ok):
    return f"{x:.2f}" + ("" if goal_ok else " ✗")


def run(sizes, repeats, dtype, log=print):
    expm_rows, funm_rows = [], []
    for batch, n in sizes:
        shape = f"{batch}x{n}x{n}"
        a, weights = make_inputs(batch, n, dtype)
        fns = build_functions(weights)

        t0 = time.perf_counter()
        res = median_times_interleaved(fns["expm"], a, repeats=repeats, warmup=1)
        outs = {name: jax.device_get(fn(a)) for name, fn in fns["expm"].items()}
        (t_jg, c_jg), (t_sp, c_sp), (t_co, c_co) = (
            res[k] for k in ("jaxgrad", "jax.scipy", "composite")
        )
        g_jg = outs["jaxgrad"][1]
        row = [
            shape,
            f"{t_jg * 1e3:.3g}",
            f"{t_sp * 1e3:.3g}",
            f"{t_co * 1e3:.3g}",
            _ratio(t_sp / t_jg, t_sp / t_jg >= GOAL_JSP_OVER_JG),
            _ratio(t_jg / t_co, t_jg / t_co <= GOAL_JG_OVER_COMPOSITE),
            f"{c_jg:.2f}",
            f"{c_sp:.2f}",
            f"{c_co:.2f}",
            f"{_grad_rel(g_jg, outs['jax.scipy'][1]):.1e}",
            f"{_grad_rel(g_jg, outs['composite'][1]):.1e}",
            "yes" if _finite(outs) else "NO",
        ]
        expm_rows.append(row)
        log(f"  [{time.perf_counter() - t0:5.1f}s] expm " + " ".join(row))

        t0 = time.perf_counter()
        res = median_times_interleaved(fns["funm"], a, repeats=repeats, warmup=1)
        outs = {name: jax.device_get(fn(a)) for name, fn in fns["funm"].items()}
        (t_f, c_f), (t_e, c_e) = res["funm"], res["eigh"]
        row = [
            shape,
            f"{t_f * 1e3:.3g}",
            f"{t_e * 1e3:.3g}",
            _ratio(t_f / t_e, t_f / t_e <= GOAL_FUNM_OVER_EIGH),
            f"{c_f:.2f}",
            f"{c_e:.2f}",
            "yes" if _finite(outs) else "NO",
        ]
        funm_rows.append(row)
        log(f"  [{time.perf_counter() - t0:5.1f}s] funm " + " ".join(row))
    return expm_rows, funm_rows


def main(argv=None):
    args, dtype, section = spectral_bench_cli(__doc__.split("\n\n")[0], SECTION, SIZES, argv)

    info = machine_info()
    sizes = SIZES[args.sizes]
    print(
        f"jaxgrad.linalg.expm/funm gradients vs jax.scipy.linalg.expm and jnp.linalg.eigh, "
        f"{np.dtype(dtype).name}, repeats={args.repeats}"
    )
    print(machine_info_markdown(info))
    t0 = time.perf_counter()
    expm_rows, funm_rows = run(sizes, args.repeats, dtype)
    total = time.perf_counter() - t0
    print("\nexpm: value_and_grad(sum(c * expm(a)))")
    print(text_table(EXPM_HEADER, expm_rows))
    print("\nfunm: value_and_grad(sum(c * funm(a, tanh))) vs value_and_grad(sum(c1*w) + sum(c2*v**2)) of eigh")
    print(text_table(FUNM_HEADER, funm_rows))
    print(f"\n✗ = ratio goal missed.  total {total:.0f} s")

    if args.markdown:
        cmd = "python bench/matfuncs.py" + (" " + " ".join(sys.argv[1:]) if argv is None else "")
        body = "\n\n".join(
            [
                f"## Matrix functions: gradients of jaxgrad.linalg.expm / funm ({np.dtype(dtype).name})",
                f"`{cmd.strip()}` (run time {total:.0f} s)",
                machine_info_markdown(info),
                f"Median wall time of {args.repeats} jitted `value_and_grad` calls after one "
                "warm-up (`block_until_ready`; the functions of a table row called "
                "alternately); compile = `jit(f).lower(a).compile()` (trace + lower + XLA "
                "compile). Inputs: symmetric, random orthogonal basis, eigenvalues well "
                "separated in about [-1, 1] (no ties). ✗ marks a missed ratio goal.",
                "**expm gradient.** Loss `sum(c * expm(a))` with a fixed symmetric `c`, "
                "through `jaxgrad.linalg.expm`, `jax.scipy.linalg.expm` (Padé + scaling and "
                "squaring, autodiff) and the composite `(v * exp(w)) @ v.mT` of "
                "`jnp.linalg.eigh` (NaN at ties; a speed anchor only). "
                "grad rel Δ: max|Δgrad| / max|grad| of jaxgrad against the other two.",
                markdown_table(EXPM_HEADER, expm_rows),
                "**funm gradient vs one eigh gradient.** `value_and_grad` of "
                "`sum(c * funm(a, jnp.tanh))` against `value_and_grad` of "
                "`sum(c1*w) + sum(c2*v**2)` through `jnp.linalg.eigh` (the cost of "
                "differentiating one eigendecomposition).",
                markdown_table(FUNM_HEADER, funm_rows),
            ]
        )
        how = write_markdown_section(args.markdown, section, body)
        print(f"{how} section '{section}' in {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
