"""`python -m jaxgrad bench --devices N`: a batched study on 1, 2, 4, ... N devices.

Each device count runs in a process of its own (on the CPU, XLA's host device count
must be set before jax is imported; on accelerators the first d devices are used). The
batch is sharded along its first axis with a `NamedSharding` under `jax.jit`, and each
row reports the steady-state median time of one batch, its speed-up over one device,
whether the output stayed sharded, and how many all-gathers the compiled program has
(0: no device ever collects the batch).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

_BATCH = 256


def _powers_of_two(n):
    d = 1
    while d < n:
        yield d
        d *= 2
    yield n


def run_scaling(devices: int) -> int:
    if devices < 1:
        print("--devices must be >= 1", file=sys.stderr)
        return 2
    rows = {}
    # At least 8 host devices, of which each row uses the first d: with exactly 2 host
    # devices on a 2-core machine the sharded `funm` program stopped in XLA's CPU
    # all-reduce on its second call (a rendezvous that one device thread never joined;
    # outside probe: `bench --devices 2` hung); 4 or 8 devices, or 2 of 8, ran.
    count = max(devices, 8)
    for d in _powers_of_two(devices):
        env = dict(os.environ)
        flag = f"--xla_force_host_platform_device_count={count}"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
        proc = subprocess.run(
            [sys.executable, "-m", "jaxgrad._scaling", str(d)], env=env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
        rows[d] = json.loads(line[len("RESULT"):])
    names = list(rows[1])
    print(f"Batch of {_BATCH} sharded along its first axis; steady-state ms per batch (speed-up vs 1 device).")
    print(f"{'devices':>7}  " + "  ".join(f"{n:>26}" for n in names))
    for d, r in rows.items():
        cells = []
        for n in names:
            ms, sharded, gathers = r[n]["ms"], r[n]["sharded"], r[n]["all_gather"]
            note = "" if sharded and gathers == 0 else f" [{'replicated' if not sharded else ''}{gathers} gather]"
            cells.append(f"{ms:9.2f} ({rows[1][n]['ms'] / ms:4.2f}x){note}")
        print(f"{d:>7}  " + "  ".join(f"{c:>26}" for c in cells))
    cores = os.cpu_count()
    print(f"\nThis machine has {cores} CPU cores; host 'devices' share them, so CPU speed-ups stop at the core count.")
    return 0


def _child(d: int) -> None:
    import re

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

    jax.config.update("jax_enable_x64", True)
    from jaxgrad import linalg
    from jaxgrad.integrate import quad

    mesh = jax.make_mesh((d,), ("batch",), axis_types=(AxisType.Auto,), devices=jax.devices()[:d])
    shard = NamedSharding(mesh, P("batch"))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((_BATCH, 16, 16))
    a = jax.device_put(jnp.asarray(a + np.swapaxes(a, -1, -2)), shard)
    p = jax.device_put(jnp.linspace(1.0, 3.0, _BATCH), shard)

    def integrand(x, p):
        return jnp.exp(-p * x) / jnp.sqrt(x)

    cases = {
        "eigh value_and_grad 16x16": (
            jax.vmap(jax.value_and_grad(lambda m: jnp.sum(linalg.eigvalsh(m) ** 2))), a),
        "funm(tanh) 16x16": (lambda m: linalg.funm(m, jnp.tanh), a),
        "quad value_and_grad": (
            jax.vmap(jax.value_and_grad(lambda q: quad(integrand, 0.0, 1.0, (q,), epsrel=1e-10)[0])), p),
    }
    out = {}
    for name, (fn, x) in cases.items():
        f = jax.jit(fn)
        gathers = len(re.findall(r"all-gather", f.lower(x).compile().as_text()))
        y = jax.block_until_ready(f(x))
        ts = []
        for _ in range(15):
            t = time.perf_counter()
            jax.block_until_ready(f(x))
            ts.append(time.perf_counter() - t)
        leaf = jax.tree_util.tree_leaves(y)[0]
        sharded = d == 1 or (len(leaf.sharding.spec) > 0 and leaf.sharding.spec[0] == "batch")
        out[name] = dict(ms=1e3 * statistics.median(ts), sharded=sharded, all_gather=gathers)
    print("RESULT" + json.dumps(out))


if __name__ == "__main__":
    _child(int(sys.argv[1]))
