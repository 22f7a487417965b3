"""`python -m jaxgrad bench`: a quick benchmark table (the full ones live in bench/).

Each row times jaxgrad and its anchor in one process, interleaved, after a warm-up,
and prints the median times and their ratio. Compile time is excluded.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np


def _median_pair(f, g, x, repeats=15):
    jax.block_until_ready(f(x))
    jax.block_until_ready(g(x))
    tf, tg = [], []
    for _ in range(repeats):
        for fn, out in ((f, tf), (g, tg)):
            t = time.perf_counter()
            jax.block_until_ready(fn(x))
            out.append(time.perf_counter() - t)
    return statistics.median(tf), statistics.median(tg)


def _symmetric_batch(b, n, seed=0):
    x = np.random.default_rng(seed).normal(size=(b, n, n)).astype(np.float32)
    return jnp.asarray((x + np.swapaxes(x, -1, -2)) / (2 * np.sqrt(n)))


def run_bench() -> int:
    from . import linalg

    rows = []
    x = _symmetric_batch(8, 128)
    c = jnp.asarray(np.random.default_rng(1).normal(size=(128, 128)).astype(np.float32))
    c = (c + c.T) / 2

    def eigh_loss(lib):
        def loss(a):
            w, v = lib.eigh(a)
            return jnp.sum(w) + jnp.sum(c * v**2)

        return jax.jit(jax.value_and_grad(loss))

    rows.append(("eigh value_and_grad 8x128x128", "jnp.linalg.eigh",
                 *_median_pair(eigh_loss(linalg), eigh_loss(jnp.linalg), x)))

    def svd_loss(lib):
        def loss(a):
            u, s, vh = lib.svd(a, full_matrices=False)
            return jnp.sum(s) + jnp.sum(c * u**2) + jnp.sum(c * vh**2)

        return jax.jit(jax.value_and_grad(loss))

    rows.append(("svd value_and_grad 8x128x128", "jnp.linalg.svd",
                 *_median_pair(svd_loss(linalg), svd_loss(jnp.linalg), x)))

    def expm_loss(fn):
        return jax.jit(jax.value_and_grad(lambda a: jnp.sum(c * fn(a))))

    rows.append(("expm value_and_grad 8x128x128", "jax.scipy.linalg.expm",
                 *_median_pair(expm_loss(linalg.expm), expm_loss(jax.scipy.linalg.expm), x)))

    header = f"{'operation (float32)':<32} {'anchor':<24} {'jaxgrad ms':>11} {'anchor ms':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for name, anchor, ours, theirs in rows:
        print(f"{name:<32} {anchor:<24} {1e3 * ours:>11.2f} {1e3 * theirs:>10.2f} {ours / theirs:>6.2f}")
    print("\nratio = jaxgrad / anchor (lower is better); full tables: bench/*.py, bench/RESULTS.md")
    return 0
