"""Benchmark jaxgrad.linalg.svd_funm against the same loss through jnp.linalg.svd, in one process.

Usage:
    python bench/svd_funm.py [--x64] [--repeats N] [--sizes small|all] [--markdown FILE]

For each batch shape (512x16x16, 8x128x128, 2x384x256; ``--sizes small`` keeps the
first two) it times two jitted ``value_and_grad`` functions of a batch ``a``:

    svd_funm   value_and_grad(sum(c * jaxgrad.linalg.svd_funm(a, tanh)))
    jnp svd    value_and_grad(sum(c * (u * tanh(s)) @ vh)),  u, s, vh = jnp.linalg.svd(a, False)

and reports the median wall time of ``repeats`` calls after one warm-up call (called
alternately so that load bursts hit both alike), the compile time (``jit(f).lower(a)
.compile()``, measured separately), the ratio svd_funm / jnp (goal <= 1.3, issue #11),
and the largest gradient difference relative to max|grad|.

Inputs (seeded): ``a = U diag(s) Vᵀ`` with random orthogonal ``U``, ``V`` and ``s``
evenly spaced in [0.1, 1] plus a jitter of +-20 % of the spacing, so no two singular
values are within rounding of each other: there jnp's gradient is finite and the two
gradients are the same number (at ties jnp's is NaN and the comparison would be moot).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
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

from jaxgrad.linalg import svd_funm  # noqa: E402

SIZES = {
    "small": [(512, 16, 16), (8, 128, 128)],
    "all": [(512, 16, 16), (8, 128, 128), (2, 384, 256)],
}
SEED = 20261130
SECTION = "svd_funm"
GOAL = 1.3  # svd_funm value_and_grad / jnp.linalg.svd value_and_grad, at most


def make_inputs(batch, m, n, dtype, seed=SEED):
    rng = np.random.default_rng(seed)
    k = min(m, n)
    base = np.linspace(1.0, 0.1, k)
    spacing = 0.9 / max(k - 1, 1)
    s = base + rng.uniform(-0.2, 0.2, (batch, k)) * spacing
    u, v = random_orthogonal(rng, batch, m)[..., :k], random_orthogonal(rng, batch, n)[..., :k]
    a = (u * s[:, None, :]) @ np.swapaxes(v, -1, -2)
    c = rng.standard_normal((batch, m, n))
    return jnp.asarray(a, dtype), jnp.asarray(c, dtype)


def build_functions(c):
    def through_svd_funm(a):
        return jnp.sum(c * svd_funm(a, jnp.tanh))

    def through_jnp(a):
        u, s, vh = jnp.linalg.svd(a, full_matrices=False)
        return jnp.sum(c * ((u * jnp.tanh(s)[..., None, :]) @ vh))

    return {
        "svd_funm": jax.jit(jax.value_and_grad(through_svd_funm)),
        "jnp svd": jax.jit(jax.value_and_grad(through_jnp)),
    }


HEADER = [
    "shape",
    "svd_funm ms",
    "jnp svd ms",
    f"ratio (≤{GOAL:g})",
    "compile svd_funm s",
    "compile jnp s",
    "grad rel Δ",
    "finite",
]


def run(sizes, repeats, dtype, log=print):
    rows = []
    for batch, m, n in sizes:
        shape = f"{batch}x{m}x{n}"
        a, c = make_inputs(batch, m, n, dtype)
        fns = build_functions(c)
        t0 = time.perf_counter()
        res = median_times_interleaved(fns, a, repeats=repeats, warmup=1)
        outs = {name: jax.device_get(fn(a)) for name, fn in fns.items()}
        (t_f, c_f), (t_j, c_j) = res["svd_funm"], res["jnp svd"]
        g_f, g_j = np.asarray(outs["svd_funm"][1]), np.asarray(outs["jnp svd"][1])
        rel = float(np.max(np.abs(g_f - g_j)) / np.max(np.abs(g_j)))
        finite = all(np.all(np.isfinite(np.asarray(x))) for o in outs.values() for x in o)
        ratio = t_f / t_j
        row = [
            shape,
            f"{t_f * 1e3:.3g}",
            f"{t_j * 1e3:.3g}",
            f"{ratio:.2f}" + ("" if ratio <= GOAL else " ✗"),
            f"{c_f:.2f}",
            f"{c_j:.2f}",
            f"{rel:.1e}",
            "yes" if finite else "NO",
        ]
        rows.append(row)
        log(f"  [{time.perf_counter() - t0:5.1f}s] " + " ".join(row))
    return rows


def main(argv=None):
    args, dtype, section = spectral_bench_cli(__doc__.split("\n\n")[0], SECTION, SIZES, argv)
    info = machine_info()
    print(
        f"value_and_grad of <C, U tanh(S) Vᴴ>: jaxgrad.linalg.svd_funm vs jnp.linalg.svd, "
        f"{np.dtype(dtype).name}, repeats={args.repeats}"
    )
    print(machine_info_markdown(info))
    t0 = time.perf_counter()
    rows = run(SIZES[args.sizes], args.repeats, dtype)
    total = time.perf_counter() - t0
    print(text_table(HEADER, rows))
    print(f"\n✗ = ratio goal missed.  total {total:.0f} s")
    if args.markdown:
        cmd = "python bench/svd_funm.py" + (" " + " ".join(sys.argv[1:]) if argv is None else "")
        body = "\n\n".join(
            [
                f"## Functions of singular values: value_and_grad of svd_funm ({np.dtype(dtype).name})",
                f"`{cmd.strip()}` (run time {total:.0f} s)",
                machine_info_markdown(info),
                "`value_and_grad(sum(c * svd_funm(a, tanh)))` against the same loss through "
                "`jnp.linalg.svd(a, full_matrices=False)`, both jitted, median of the timed "
                "calls after a warm-up; compile = trace + lower + XLA compile. Singular values "
                "well separated, so both gradients are finite and agree.",
                markdown_table(HEADER, rows),
            ]
        )
        write_markdown_section(args.markdown, section, body)


if __name__ == "__main__":
    main()
