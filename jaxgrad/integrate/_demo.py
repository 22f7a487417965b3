"""Demo section for `python -m jaxgrad demo`: derivatives of integrals.

Each row shows a derivative of an integral computed by `jaxgrad.integrate.quad`, a
central finite difference of the same integral, and the closed form.
"""

from __future__ import annotations

import functools
import math

from .._where import where


def demo_section() -> bool:
    """Print the table; return True when every jaxgrad derivative matches its closed form."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from ._quad import quad

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        tight = dict(epsrel=1e-12, epsabs=1e-14)

        # Three integrals, one compiled program (value and gradient in (p, b)) for every
        # row and its finite differences: the case index picks the integrand.
        #   0: I(p, b) = ∫₀^b e^{-px} / √x dx = γ(1/2, p b) / √p (singular at 0);
        #   1: K(p) = ∫₀¹ |x - p| dx = p² - p + 1/2 (kink at the traced breakpoint p);
        #   2: ∫₀^∞ e^{-x/s} dx = s, s = p = 10⁶ (SciPy's quad returns -1.0000005 there).
        # Cases 0 and 2 put their breakpoint at the lower limit (an empty segment).
        def integrand(x, case, p):
            return lax.switch(case, [lambda: jnp.exp(-p * x) / jnp.sqrt(x), lambda: jnp.abs(x - p),
                                     lambda: jnp.exp(-x / p)])

        @jax.jit
        @functools.partial(jax.value_and_grad, argnums=(1, 2))
        def integral(case, p, b):
            point = where(case == 1, p, 0.0)
            return quad(integrand, 0.0, b, (case, p), points=point[None], **tight)[0]

        p, b = 0.7, 2.0
        # dI/dp = -∫₀^b √x e^{-px} dx = -γ(3/2, pb) / p^{3/2}, with
        # γ(3/2, z) = γ(1/2, z)/2 - √z e^{-z} and γ(1/2, z) = √π erf(√z).
        z = p * b
        g12 = math.sqrt(math.pi) * math.erf(math.sqrt(z))
        g32 = g12 / 2 - math.sqrt(z) * math.exp(-z)
        rows = [  # (quantity, case, (p, b), index of the derivative, closed form)
            ("d/dp ∫₀^b e^(-px)/√x dx", 0, (p, b), 0, -g32 / p**1.5),
            ("d/db ∫₀^b e^(-px)/√x dx", 0, (p, b), 1, math.exp(-p * b) / math.sqrt(b)),
            ("d/dp ∫₀¹ |x - p| dx", 1, (0.3, 1.0), 0, 2 * 0.3 - 1),
            ("d/ds ∫₀^∞ e^(-x/s) dx, s=1e6", 2, (1e6, math.inf), 0, 1.0),
        ]
        print("Derivatives of integrals (jaxgrad.integrate.quad), float64")
        header = f"{'quantity':32s} {'jaxgrad':>20s} {'finite diff.':>20s} {'closed form':>20s} {'|jaxgrad-exact|':>16s}"
        print(header)
        print("-" * len(header))
        ok = True
        for name, case, args, i, exact in rows:
            g = float(integral(case, *args)[1][i])
            h = 1e-5 * max(1.0, abs(args[i]))
            up = list(args)
            dn = list(args)
            up[i] += h
            dn[i] -= h
            fd = float((integral(case, *up)[0] - integral(case, *dn)[0]) / (2 * h))
            err = abs(g - exact)
            ok &= err <= 1e-9 * max(1.0, abs(exact))
            print(f"{name:32s} {g:20.14f} {fd:20.14f} {exact:20.14f} {err:16.1e}")
        print("jaxgrad matches the closed forms:", "yes" if ok else "NO")
    finally:
        jax.config.update("jax_enable_x64", previous)
    return bool(ok)
