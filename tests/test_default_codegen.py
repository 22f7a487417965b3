"""The user's code path: derivatives right under XLA's default CPU code generation.

The rest of the suite compiles with XLA's classic CPU emitters at backend optimisation
level 0 (tests/conftest.py), which is quicker to compile. A user's program compiles
with XLA's defaults: the MLIR-based fusion emitters and LLVM's optimisation. This test
runs one derivative of each kind of building block in a process of its own with the
two flags removed, against closed forms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    r"""
    import json, math, os
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jaxgrad.integrate import quad
    from jaxgrad.linalg import eigvalsh, expm
    from jaxgrad.optimize import minimize

    out = {"flags": os.environ.get("XLA_FLAGS", "")}
    # ∫₀^∞ e^(−px)/√x dx = √(π/p); its p-derivative −√π p^(−3/2)/2.
    f = lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x)
    v, g = jax.jit(jax.value_and_grad(lambda p: quad(f, 0.0, jnp.inf, (p,), epsrel=1e-11)[0]))(2.0)
    out["quad"] = [float(v), float(g), math.sqrt(math.pi / 2), -0.5 * math.sqrt(math.pi) * 2.0**-1.5]
    # An eager call runs the loop pass by pass (jaxgrad.integrate._eager_loop), its
    # programs compiled with the classic emitters (jaxgrad._jit): the option is accepted
    # by this XLA, and the value is the same integral.
    from jaxgrad.integrate import _eager_loop, _quad
    ve = quad(f, 0.0, jnp.inf, (2.0,), epsrel=1e-11)[0]
    step = _eager_loop._programs(1, jnp.dtype("float64"), 1, _quad._DEFAULT_LIMIT, None, None, _quad._NSPLIT)[1]
    out["eager"] = [float(ve), step.eager._cache_size(), step.nested._cache_size() + _quad._quad_compiled._cache_size()]

    # d/dA Σλᵢ² = 2A, at a matrix with a tied pair of eigenvalues.
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    a = (q * np.array([1.0, 1.0, 2.0])) @ q.T
    ga = jax.jit(jax.grad(lambda m: jnp.sum(eigvalsh(m) ** 2)))(jnp.asarray(a))
    out["eigvalsh"] = float(np.max(np.abs(np.asarray(ga) - 2 * a)))

    # d/dt tr exp(A + tE) at t = 0 is tr(exp(A) E), here with A = diag(0, 0, 1) (a tie).
    e = a
    d = jax.jit(jax.grad(lambda t: jnp.trace(expm(jnp.diag(jnp.array([0.0, 0.0, 1.0])) + t * e))))(0.0)
    out["expm"] = [float(d), float(np.trace(np.diag(np.exp([0.0, 0.0, 1.0])) @ e))]

    # argmin ‖x − p‖² + λ‖x‖² = p/(1 + λ): d/dλ = −p/(1 + λ)², by implicit differentiation.
    p = jnp.array([1.0, -2.0])
    obj = lambda x, lam: jnp.sum((x - p) ** 2) + lam * jnp.sum(x**2)
    dx = jax.jit(jax.jacobian(lambda lam: minimize(obj, jnp.zeros(2), (lam,), tol=1e-12).x))(0.5)
    out["minimize"] = float(np.max(np.abs(np.asarray(dx) + np.asarray(p) / 1.5**2)))
    print(json.dumps(out))
    """
)

_SUITE_ONLY = ("xla_cpu_use_fusion_emitters", "xla_backend_optimization_level", "xla_cpu_parallel_codegen_split_count")


def test_derivatives_under_xla_default_code_generation():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    kept = [f for f in env.get("XLA_FLAGS", "").split() if not any(name in f for name in _SUITE_ONLY)]
    env["XLA_FLAGS"] = " ".join(kept)
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert not any(name in out["flags"] for name in _SUITE_ONLY)
    v, g, v_ref, g_ref = out["quad"]
    assert abs(v - v_ref) <= 1e-10 * v_ref and abs(g - g_ref) <= 1e-9 * abs(g_ref)
    assert out["eigvalsh"] <= 1e-12
    d, d_ref = out["expm"]
    assert abs(d - d_ref) <= 1e-12 * max(1.0, abs(d_ref))
    assert out["minimize"] <= 1e-8
    ve, eager_programs, nested_programs = out["eager"]
    assert abs(ve - v_ref) <= 1e-10 * v_ref
    # (The jitted calls above compiled the whole loop, nested in their programs.)
    assert eager_programs == 1 and nested_programs == 0
