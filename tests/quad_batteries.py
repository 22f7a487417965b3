"""Test batteries for `jaxgrad.integrate.quad`, each integral with a closed form.

- `BAILEY`: the 15 test integrals of Bailey, Jeyabalan & Li, "A comparison of three
  high-precision quadrature schemes", Experimental Mathematics 14 (2005): well-behaved
  (1-4), infinite derivative at an end (5-6), integrable blow-up at an end (7-10),
  infinite range (11-13) and oscillatory infinite range (14-15).
- `QUADPACK`: members of the test families of Piessens, de Doncker-Kapenga, Überhuber &
  Kahaner, "QUADPACK" (Springer 1983), Table 4.1, problems 1-3 and 7 (Q1-Q3, Q7), with α
  on the book's grids: x^α log(1/x) (endpoint singularity), 4^-α / ((x - π/4)² + 16^-α)
  (peak of growing sharpness), cos(2^α sin x) (oscillation) and |x - 1/3|^α (interior
  singularity, given as a breakpoint, as QAGP would be). Not included: problems 8-17
  (among them QAWO/QAWS/QAWC-type weights and Cauchy principal values).

Each entry: (name, f(x) written with jax.numpy, a, b, breakpoint or None, closed form as
an mpmath expression, expect) where `expect` is "ok" (must meet 1e-8 relative at
epsrel = 1e-10) or a short reason it cannot. The lists were checked against Bailey's own
test programs (which cite the 2005 paper) and GSL's copy of Table 4.1, and every closed
form against mpmath to 20 digits (by substitution where `mpmath.quad` needs it);
`test_quad.py` re-checks a selection against `mpmath.quad`.
"""

from __future__ import annotations

import jax.numpy as jnp
import mpmath as mp
import numpy as np

INF = np.inf

BAILEY = [
    ("B1 t log(1+t)", lambda t: t * jnp.log1p(t), 0.0, 1.0, None, lambda: mp.mpf(1) / 4, "ok"),
    ("B2 t² atan t", lambda t: t**2 * jnp.arctan(t), 0.0, 1.0, None,
     lambda: (mp.pi - 2 + 2 * mp.log(2)) / 12, "ok"),
    ("B3 eᵗ cos t", lambda t: jnp.exp(t) * jnp.cos(t), 0.0, np.pi / 2, None,
     lambda: (mp.exp(mp.pi / 2) - 1) / 2, "ok"),
    ("B4 atan√(2+t²)/…", lambda t: jnp.arctan(jnp.sqrt(2 + t**2)) / ((1 + t**2) * jnp.sqrt(2 + t**2)),
     0.0, 1.0, None, lambda: 5 * mp.pi**2 / 96, "ok"),
    ("B5 √t log t", lambda t: jnp.sqrt(t) * jnp.log(t), 0.0, 1.0, None, lambda: mp.mpf(-4) / 9, "ok"),
    ("B6 √(1-t²)", lambda t: jnp.sqrt(1 - t**2), 0.0, 1.0, None, lambda: mp.pi / 4, "ok"),
    ("B7 √t/√(1-t²)", lambda t: jnp.sqrt(t) / jnp.sqrt(1 - t**2), 0.0, 1.0, None,
     lambda: 2 * mp.sqrt(mp.pi) * mp.gamma(mp.mpf(3) / 4) / mp.gamma(mp.mpf(1) / 4), "ok"),
    ("B8 log² t", lambda t: jnp.log(t) ** 2, 0.0, 1.0, None, lambda: mp.mpf(2), "ok"),
    ("B9 log cos t", lambda t: jnp.log(jnp.cos(t)), 0.0, np.pi / 2, None,
     lambda: -mp.pi * mp.log(2) / 2, "ok"),
    ("B10 √tan t", lambda t: jnp.sqrt(jnp.tan(t)), 0.0, np.pi / 2, None,
     lambda: mp.pi * mp.sqrt(2) / 2,
     "blow-up 6e-17 beyond b = float(π/2), not at b: the end model's check fails (status roundoff)"),
    ("B11 1/(1+t²)", lambda t: 1 / (1 + t**2), 0.0, INF, None, lambda: mp.pi / 2, "ok"),
    ("B12 e⁻ᵗ/√t", lambda t: jnp.exp(-t) / jnp.sqrt(t), 0.0, INF, None, lambda: mp.sqrt(mp.pi), "ok"),
    ("B13 e^(-t²/2)", lambda t: jnp.exp(-(t**2) / 2), 0.0, INF, None, lambda: mp.sqrt(mp.pi / 2), "ok"),
    ("B14 e⁻ᵗ cos t", lambda t: jnp.exp(-t) * jnp.cos(t), 0.0, INF, None, lambda: mp.mpf(1) / 2, "ok"),
    ("B15 sin t / t", lambda t: jnp.sinc(t / np.pi), 0.0, INF, None, lambda: mp.pi / 2,
     "not absolutely integrable: quad reports divergent; quadosc gives π/2 (test_quadosc.py)"),
]


def _peak(alpha):
    return lambda x: 4.0**-alpha / ((x - np.pi / 4) ** 2 + 16.0**-alpha)


def _peak_exact(alpha):
    return lambda: mp.atan((4 - mp.pi) * mp.mpf(4) ** (alpha - 1)) + mp.atan(mp.pi * mp.mpf(4) ** (alpha - 1))


QUADPACK = (
    [(f"Q1 x^{al} log(1/x)", (lambda al: lambda x: x**al * jnp.log(1 / x))(al), 0.0, 1.0, None,
      (lambda al: lambda: 1 / (1 + mp.mpf(al)) ** 2)(al), "ok") for al in (-0.9, -0.5, 0.0, 0.6, 2.0)]
    + [(f"Q2 peak α={al}", _peak(al), 0.0, 1.0, None, _peak_exact(al), "ok") for al in (0, 2, 4, 8)]
    + [(f"Q3 cos(2^{al} sin x)", (lambda al: lambda x: jnp.cos(2.0**al * jnp.sin(x)))(al), 0.0, np.pi, None,
        (lambda al: lambda: mp.pi * mp.besselj(0, mp.mpf(2) ** al))(al), "ok") for al in (0, 2, 4, 6)]
    + [(f"Q7 |x-1/3|^{al}", (lambda al: lambda x: jnp.abs(x - 1 / 3) ** al)(al), 0.0, 1.0, 1 / 3,
        (lambda al: lambda: ((mp.mpf(2) / 3) ** (al + 1) + (mp.mpf(1) / 3) ** (al + 1)) / (al + 1))(al), "ok")
       for al in (-0.8, -0.5, 0.5, 1.5)]
    # The same integrals with the singular point moved to 0 (u = x - 1/3), where floats
    # are dense and no end model is needed.
    + [(f"Q7' |u|^{al}, u = x-1/3", (lambda al: lambda u: jnp.abs(u) ** al)(al), -1 / 3, 2 / 3, 0.0,
        (lambda al: lambda: ((mp.mpf(2) / 3) ** (al + 1) + (mp.mpf(1) / 3) ** (al + 1)) / (al + 1))(al), "ok")
       for al in (-0.8, -0.5)]
)

ALL = BAILEY + QUADPACK
