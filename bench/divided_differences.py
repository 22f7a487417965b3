"""Accuracy of funm's first and second derivatives across gaps, against mpmath.

Run: `python bench/divided_differences.py` (float64, about 15 s).

For A(t) = diag(x, x + g) + t·E with E = [[0, 1], [1, 0]], the derivatives of
F = funm(A, f) at t = 0 are divided differences of f at the eigenvalues as stored:
d/dt F₀₁ = f[x, x + g] and d²/dt² F₀₀ = 2 f[x, x, x + g]. The reference computes them
from f in mpmath at 50 digits (independent of jaxgrad and of JAX's derivatives). The
gap g runs over 60 values from 1e-15 to 3; the table gives the worst relative error
of each derivative over the gaps and the gap where it occurs. The functions cover the
two noise regimes of the quotient (see docs/matrix-functions.md): f that rounds
inside (sin(50x), x²⁰⁰) and accurate f far from 0 (exp at 500, cos at 3·10⁴, sin at 10⁶).

A second table: third derivatives d³/dt³ ⟨C, F(diag(1, 1 + g, 2) + tE)⟩ for a fixed random
symmetric E and random C, against mpmath's eigendecomposition at 50 digits differentiated
by mpmath (mp.diff), at g = 0.3, 0.1, 1e-2, 1e-3.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np

jax.config.update("jax_enable_x64", True)

from jaxgrad.linalg import funm  # noqa: E402

E = jnp.array([[0.0, 1.0], [1.0, 0.0]])
GAPS = np.geomspace(1e-15, 3.0, 60)
CASES = {
    "exp at 1": (jnp.exp, mp.exp, 1.0),
    "sqrt at 1": (jnp.sqrt, mp.sqrt, 1.0),
    "log at 1": (jnp.log, mp.log, 1.0),
    "sin(50x) at 1": (lambda x: jnp.sin(50 * x), lambda x: mp.sin(50 * x), 1.0),
    "x**200 at 1": (lambda x: x**200, lambda x: x**200, 1.0),
    "exp at 500": (jnp.exp, mp.exp, 500.0),
    "cos at 3e4": (jnp.cos, mp.cos, 3e4),
    "sin at 1e6": (jnp.sin, mp.sin, 1e6),
}


def derivatives(f):
    @jax.jit
    def run(x, y):
        a = jnp.diag(jnp.stack([x, y]))
        first = jax.jvp(lambda t: funm(a + t * E, f)[0, 1], (0.0,), (1.0,))[1]
        second = jax.grad(jax.grad(lambda t: funm(a + t * E, f)[0, 0]))(0.0)
        return first, second

    return run


def third_derivatives():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(3, 3))
    e = (e + e.T) / 2
    c = rng.normal(size=(3, 3))
    gaps = [0.3, 0.1, 1e-2, 1e-3]
    print("\n| f | " + " | ".join(f"g = {g:g}" for g in gaps) + " |\n|---|" + "---|" * len(gaps))
    for name, f, f_mp in (("exp", jnp.exp, mp.exp), ("sin", jnp.sin, mp.sin), ("log", jnp.log, mp.log)):

        @jax.jit
        def third(lam, f=f):
            loss = lambda t: jnp.sum(jnp.asarray(c) * funm(jnp.diag(lam) + t * jnp.asarray(e), f))  # noqa: E731
            return jax.grad(jax.grad(jax.grad(loss)))(0.0)

        def loss_mp(lam, t, f_mp=f_mp):
            w, v = mp.eigsy(mp.diag(lam) + t * mp.matrix(e.tolist()))
            fm = v * mp.diag([f_mp(x) for x in w]) * v.T
            return mp.fsum(c[i, j] * fm[i, j] for i in range(3) for j in range(3))

        cells = []
        for g in gaps:
            lam = [1.0, 1.0 + g, 2.0]
            ref = float(mp.diff(lambda t: loss_mp([mp.mpf(x) for x in lam], t), 0, 3))
            cells.append(f"{abs(float(third(jnp.array(lam))) - ref) / abs(ref):.1e}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main():
    mp.mp.dps = 50
    print("| f | worst first derivative (gap) | worst second derivative (gap) |\n|---|---|---|")
    for name, (f, f_mp, x) in CASES.items():
        run = derivatives(f)
        worst1, worst2 = (0.0, 0.0), (0.0, 0.0)
        for g in GAPS:
            y = float(x + g)
            if y == x:
                continue
            xm, ym = mp.mpf(x), mp.mpf(y)
            d1 = (f_mp(ym) - f_mp(xm)) / (ym - xm)
            d2 = 2 * (d1 - mp.diff(f_mp, xm)) / (ym - xm)
            first, second = run(jnp.float64(x), jnp.float64(y))
            e1 = abs(float(first) - float(d1)) / abs(float(d1))
            e2 = abs(float(second) - float(d2)) / abs(float(d2))
            worst1, worst2 = max(worst1, (e1, g)), max(worst2, (e2, g))
        print(f"| {name} | {worst1[0]:.1e} ({worst1[1]:.1e}) | {worst2[0]:.1e} ({worst2[1]:.1e}) |", flush=True)
    third_derivatives()


if __name__ == "__main__":
    main()
