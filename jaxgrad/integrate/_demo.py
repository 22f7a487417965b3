"""Demo section for `python -m jaxgrad demo`: derivatives of integrals.

Each row shows a derivative of an integral computed by `jaxgrad.integrate.quad`, a
central finite difference of the same integral, and the closed form.
"""

from __future__ import annotations

import math


def demo_section() -> bool:
    """Print the table; return True when every jaxgrad derivative matches its closed form."""
    import jax
    import jax.numpy as jnp

    from ._quad import quad

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        tight = dict(epsrel=1e-12, epsabs=1e-14)

        # I(p, b) = ∫₀^b e^{-p x} / √x dx = γ(1/2, p b) / √p (singular at 0).
        def smooth(p, b):
            return quad(lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x), 0.0, b, (p,), **tight)[0]

        # K(p) = ∫₀¹ |x - p| dx = p² - p + 1/2 (kink at the traced breakpoint p).
        def kink(p):
            return quad(lambda x, p: jnp.abs(x - p), 0.0, 1.0, (p,), points=jnp.array([p]), **tight)[0]

        # ∫₀^∞ e^{-x/s} dx = s with s = 10⁶ (SciPy's quad returns -1.0000005 for s = 10⁶).
        def scale(s):
            return quad(lambda x, s: jnp.exp(-x / s), 0.0, jnp.inf, (s,), **tight)[0]

        p, b = 0.7, 2.0
        # dI/dp = -∫₀^b √x e^{-px} dx = -γ(3/2, pb) / p^{3/2}, with
        # γ(3/2, z) = γ(1/2, z)/2 - √z e^{-z} and γ(1/2, z) = √π erf(√z).
        z = p * b
        g12 = math.sqrt(math.pi) * math.erf(math.sqrt(z))
        g32 = g12 / 2 - math.sqrt(z) * math.exp(-z)
        # One compiled function per integral (value and gradient together), reused for
        # every row and for the finite differences.
        smooth = jax.jit(jax.value_and_grad(smooth, argnums=(0, 1)))
        kink, scale = jax.jit(jax.value_and_grad(kink)), jax.jit(jax.value_and_grad(scale))
        rows = [
            ("d/dp ∫₀^b e^(-px)/√x dx", smooth, (p, b), 0, -g32 / p**1.5),
            ("d/db ∫₀^b e^(-px)/√x dx", smooth, (p, b), 1, math.exp(-p * b) / math.sqrt(b)),
            ("d/dp ∫₀¹ |x - p| dx", kink, (0.3,), 0, 2 * 0.3 - 1),
            ("d/ds ∫₀^∞ e^(-x/s) dx, s=1e6", scale, (1e6,), 0, 1.0),
        ]
        print("Derivatives of integrals (jaxgrad.integrate.quad), float64")
        header = f"{'quantity':32s} {'jaxgrad':>20s} {'finite diff.':>20s} {'closed form':>20s} {'|jaxgrad-exact|':>16s}"
        print(header)
        print("-" * len(header))
        ok = True
        for name, value_and_grad, args, i, exact in rows:
            grads = value_and_grad(*args)[1]
            g = float(grads[i] if isinstance(grads, tuple) else grads)
            h = 1e-5 * max(1.0, abs(args[i]))
            up = list(args)
            dn = list(args)
            up[i] += h
            dn[i] -= h
            fd = float((value_and_grad(*up)[0] - value_and_grad(*dn)[0]) / (2 * h))
            err = abs(g - exact)
            ok &= err <= 1e-9 * max(1.0, abs(exact))
            print(f"{name:32s} {g:20.14f} {fd:20.14f} {exact:20.14f} {err:16.1e}")
        print("jaxgrad matches the closed forms:", "yes" if ok else "NO")
    finally:
        jax.config.update("jax_enable_x64", previous)
    return bool(ok)
