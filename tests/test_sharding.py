"""Batched work sharded across 8 host devices: same numbers, sharded outputs, no all-gather.

The device count must be set before jax is imported, so the checks run in a process
of their own (`python -c`), with a batch of 16 sharded along its first axis by a
`NamedSharding` under `jax.jit`. For each public function the compiled program may
reduce a few scalars across devices (the loops' "any lane still running?" tests), but
must not gather the batch, and its output must stay sharded along the batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    r"""
    import json, math, re
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    import jaxgrad.linalg as jl
    from jaxgrad.integrate import quad
    from jaxgrad.optimize import minimize

    assert jax.device_count() == 8
    mesh = jax.make_mesh((8,), ("batch",), axis_types=(AxisType.Auto,))
    shard = lambda x: jax.device_put(x, NamedSharding(mesh, P("batch")))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 3, 3))
    a = jnp.asarray(a + np.swapaxes(a, -1, -2))
    p = jnp.linspace(1.0, 3.0, 16)

    def integrand(x, p):
        return jnp.exp(-p * x) / jnp.sqrt(x)

    def ridge(x, q):  # argmin (q, q) / 2
        return jnp.sum((x - q) ** 2) + jnp.sum(x ** 2)

    cases = {
        "eigh grad": (jax.vmap(jax.grad(lambda m: jnp.sum(jl.eigvalsh(m) ** 2))), a),
        "svd": (lambda m: jl.svd(m).S, a),
        "funm": (lambda m: jl.funm(m, jnp.tanh), a),
        "quad value_and_grad": (
            jax.vmap(jax.value_and_grad(lambda q: quad(integrand, 0.0, 1.0, (q,), epsrel=1e-10)[0])), p),
        "minimize": (jax.vmap(lambda q: minimize(ridge, jnp.zeros(2), (q,)).x), p),
    }
    out = {}
    for name, (fn, x) in cases.items():
        f = jax.jit(fn)
        xs = shard(x)
        hlo = f.lower(xs).compile().as_text()
        got = f(xs)
        leaves = jax.tree_util.tree_leaves(got)
        ref = jax.tree_util.tree_leaves(f(x))  # one device: x is not sharded
        out[name] = dict(
            all_gather=len(re.findall(r"all-gather", hlo)),
            sharded=all(len(l.sharding.spec) > 0 and l.sharding.spec[0] == "batch" for l in leaves),
            max_diff=max(float(jnp.max(jnp.abs(g - r))) for g, r in zip(leaves, ref)),
        )
    # Independent references for the integral and the minimiser (closed forms).
    v, g = jax.jit(cases["quad value_and_grad"][0])(shard(p))
    sp = np.sqrt(np.asarray(p))
    erf = np.array([math.erf(s) for s in sp])
    exact_v = np.sqrt(np.pi) / sp * erf
    exact_g = -(np.sqrt(np.pi) * erf / (2 * sp**3) - np.exp(-np.asarray(p)) / np.asarray(p))
    out["quad closed form"] = float(max(np.max(np.abs(v - exact_v) / exact_v), np.max(np.abs(g - exact_g) / np.abs(exact_g))))
    x = jax.jit(cases["minimize"][0])(shard(p))
    out["minimize closed form"] = float(np.max(np.abs(np.asarray(x) - np.asarray(p)[:, None] / 2)))
    print("RESULT" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def results():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


@pytest.mark.parametrize("name", ["eigh grad", "svd", "funm", "quad value_and_grad", "minimize"])
def test_sharded_batch_stays_sharded_and_matches_one_device(results, name):
    r = results[name]
    assert r["all_gather"] == 0, f"{name}: the compiled program gathers the batch"
    assert r["sharded"], f"{name}: the output lost the batch sharding"
    assert r["max_diff"] <= 1e-12, f"{name}: differs from the one-device result by {r['max_diff']}"


def test_sharded_results_against_closed_forms(results):
    assert results["quad closed form"] < 1e-9
    assert results["minimize closed form"] < 1e-8


def test_devices_page_example_runs():
    # The example of docs/devices.md, as a user would paste it (a process of its own).
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "devices.md").read_text()
    code = page.split("```python\n", 1)[1].split("```", 1)[0]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "P('batch',) P('batch',)"
    assert lines[1] == "1.4936482656"
