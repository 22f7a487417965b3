"""Batched work sharded across 8 host devices: same numbers, sharded outputs, no all-gather.

The device count must be set before jax is imported, so the checks run in a process
of their own (`python -c`): first the example of docs/devices.md as a user would paste
it (it sets the device count itself, and the process is fresh), then, with a batch of
16 sharded along its first axis by a `NamedSharding` under `jax.jit`, each public
function. For each the compiled program may reduce a few scalars across devices (the
loops' "any lane still running?" tests), but must not gather the batch, and its output
must stay sharded along the batch (`cubature` included). `quad`'s case is the page's own compiled `study`
(the same program; compiling it twice took 7 s of the suite).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    r"""
    # (after the page's example: `jax`, `jnp`, `NamedSharding`, `P`, `mesh`, `study`)
    import json, math, re
    import numpy as np
    import jaxgrad.linalg as jl
    from jaxgrad.integrate import cubature
    from jaxgrad.optimize import minimize

    assert jax.device_count() == 8
    shard = lambda x: jax.device_put(x, NamedSharding(mesh, P("batch")))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 3, 3))
    a = jnp.asarray(a + np.swapaxes(a, -1, -2))
    p = jnp.linspace(1.0, 3.0, 16)

    def ridge(x, q):  # argmin (q, q) / 2
        return jnp.sum((x - q) ** 2) + jnp.sum(x ** 2)

    cases = {
        "eigh grad": (jax.vmap(jax.grad(lambda m: jnp.sum(jl.eigvalsh(m) ** 2))), a),
        "svd": (lambda m: jl.svd(m).S, a),
        "funm": (lambda m: jl.funm(m, jnp.tanh), a),
        "quad value_and_grad": (study, p),  # the page's: vmap(value_and_grad) of ∫₀¹ e^(-px)/√x dx, jitted
        "minimize": (jax.vmap(lambda q: minimize(ridge, jnp.zeros(2), (q,)).x), p),
        # f reading a per-lane value (the batching rule ran the lanes one after the other
        # with lax.map, which gathered the batch onto every device)
        "svt grad, per-lane tau": (lambda mt: jax.vmap(jax.grad(lambda m, t: jnp.sum(jl.svt(m, t) ** 2)))(*mt),
                                   (a, p / 2)),
        # (its ranking was a lax.top_k, whose operand, every block's pool, the
        # partitioner gathered once per pass)
        "cubature": (jax.vmap(lambda q: cubature(lambda x, q: jnp.exp(-q * jnp.sum(x * x)), -jnp.ones(2), jnp.ones(2),
                                                 (q,), epsrel=1e-8, limit=200)[0]), p),
    }
    out = {}
    for name, (fn, x) in cases.items():
        f = fn if name == "quad value_and_grad" else jax.jit(fn)
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
    v, g = study(shard(p))
    sp = np.sqrt(np.asarray(p))
    erf = np.array([math.erf(s) for s in sp])
    exact_v = np.sqrt(np.pi) / sp * erf
    exact_g = -(np.sqrt(np.pi) * erf / (2 * sp**3) - np.exp(-np.asarray(p)) / np.asarray(p))
    out["quad closed form"] = float(max(np.max(np.abs(v - exact_v) / exact_v), np.max(np.abs(g - exact_g) / np.abs(exact_g))))
    x = jax.jit(cases["minimize"][0])(shard(p))
    out["minimize closed form"] = float(np.max(np.abs(np.asarray(x) - np.asarray(p)[:, None] / 2)))
    v = jax.jit(cases["cubature"][0])(shard(p))
    exact = np.array([(math.sqrt(math.pi / q) * math.erf(math.sqrt(q))) ** 2 for q in np.asarray(p)])
    out["cubature closed form"] = float(np.max(np.abs(np.asarray(v) - exact) / exact))
    # One failing lane of a sharded batch raises (the same compiled programs as above):
    # equinox's check raised on one device while the others waited in an all-reduce,
    # and XLA aborted the process after 40 s (outside probe).
    for name, x in (("funm", a.at[5, 0, 1].add(1.0)), ("minimize", p.at[5].set(jnp.nan))):
        try:
            jax.block_until_ready(jax.jit(cases[name][0])(shard(x)))
            out["throw " + name] = "no error"
        except Exception as e:
            out["throw " + name] = str(e)[-300:]
    # ... and from an eager call, during the call, as equinox's error with the reason alone
    # (the sharded program ran on after the call, and its failure surfaced at the first
    # use as JAX's error; review).
    try:
        r = jl.funm(shard(a.at[5, 0, 1].add(1.0)), jnp.tanh)
        out["eager throw"] = "returned"
        jax.block_until_ready(r)
    except Exception as e:
        out["eager throw"] = type(e).__name__ + ": " + str(e)[:200]
    print("RESULT" + json.dumps(out))
    """
)


def _page_example():
    """The example of docs/devices.md (its first Python block)."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "devices.md").read_text()
    return page.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def run():
    """stdout of the page's example followed by SCRIPT, in one fresh process."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    code = _page_example() + "\n" + SCRIPT
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout.splitlines()


@pytest.fixture(scope="module")
def results(run):
    line = next(l for l in run if l.startswith("RESULT"))
    return json.loads(line[len("RESULT"):])


@pytest.mark.parametrize(
    "name", ["eigh grad", "svd", "funm", "quad value_and_grad", "minimize", "cubature", "svt grad, per-lane tau"]
)
def test_sharded_batch_stays_sharded_and_matches_one_device(results, name):
    r = results[name]
    assert r["all_gather"] == 0, f"{name}: the compiled program gathers the batch"
    assert r["sharded"], f"{name}: the output lost the batch sharding"
    assert r["max_diff"] <= 1e-12, f"{name}: differs from the one-device result by {r['max_diff']}"


def test_sharded_results_against_closed_forms(results):
    assert results["quad closed form"] < 1e-9
    assert results["minimize closed form"] < 1e-8
    assert results["cubature closed form"] < 1e-8


def test_a_failing_lane_raises_instead_of_aborting(results):
    assert "not Hermitian" in results["throw funm"], results["throw funm"]
    assert "NaN or infinite" in results["throw minimize"], results["throw minimize"]
    assert results["eager throw"].startswith("EquinoxRuntimeError: jaxgrad.linalg.funm: argument `a` is not Hermitian")


def test_devices_page_example_runs(run):
    # The example of docs/devices.md, as a user would paste it, at the start of a fresh
    # process: its output comes first.
    assert run[0] == "P('batch',) P('batch',)"
    assert run[1] == "1.4936482656"
