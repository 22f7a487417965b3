"""Box by box: how the true error of cubature's degree-7 rule relates to what its
embedded rules show, on Genz's smooth families (closed forms on every box).

Usage:
    python bench/cubature_boxes.py

Runs `cubature`'s adaptive loop (`jaxgrad.integrate._cubature_adaptive`) to the end on
the oscillatory, corner peak, Gaussian and product peak families of `bench/cubature.py`
(seed 0) at (d, epsrel) = (2, 1e-8), (3, 1e-8), (4, 1e-6), (5, 1e-6), takes the final
boxes and computes each box's integral in closed form. For each integral it prints:

- the boxes, the summed |true error| and the summed error estimate, in tolerances, and
  the size of the summed signed errors (the total's error: the boxes' errors can cancel);
- over the boxes whose estimate is discounted as smooth (see docs/cubature.md), the
  summed |true error| against the summed r·|R7 − R5| (r = |R7 − R5| / |R5 − R3|): the
  model behind the discount says about 1;
- the same boxes binned by r, with the quantiles of |true error| / |R7 − R5| (the share
  of the rule estimate that is the box's error; the rule takes min(3%, 2r)).

This is the measurement behind "The rule's estimate, discounted only where f looks
smooth" and the d = 5 paragraph of docs/cubature.md.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402
from scipy.special import erf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cubature as genz_table  # noqa: E402

from jaxgrad.integrate import _cubature_adaptive as loop  # noqa: E402
from jaxgrad.integrate._cubature import _boxes_per_pass  # noqa: E402
from jaxgrad.integrate._cubature_rules import rule_for  # noqa: E402

CASES = [(fam, d, tol) for d, tol in ((2, 1e-8), (3, 1e-8), (4, 1e-6), (5, 1e-6))
         for fam in ("oscillatory", "corner peak", "gaussian", "product peak")]
R_BINS = (0.0, 0.003, 0.015, 0.05, 0.15, 1.0)


def box_integral(family, c, w, lo, hi):
    """∫ over [lo, hi] of the family's integrand, in closed form."""
    if family == "oscillatory":
        return (np.exp(2j * math.pi * w[0]) * np.prod((np.exp(1j * c * hi) - np.exp(1j * c * lo)) / (1j * c))).real
    if family == "gaussian":
        return np.prod(np.sqrt(np.pi) / (2 * c) * (erf(c * (hi - w)) - erf(c * (lo - w))))
    if family == "product peak":
        return np.prod(c * (np.arctan(c * (hi - w)) - np.arctan(c * (lo - w))))
    # corner peak: x = lo + s·u maps it to the unit cube with c' = c·s / (1 + c·lo).
    s, scale = hi - lo, 1 + np.dot(c, lo)
    return np.prod(s) * scale ** -(len(c) + 1) * genz_table.exact(family, c * s / scale, w)


def final_boxes(family, d, tol, limit=100_000):
    f = genz_table.genz(family, jnp)
    c, w = genz_table.parameters(family, d)

    def fvec(x, args):
        return f(x, *args)[None]

    init, cond, body, _ = loop.loop_parts(fvec, d, jnp.float64, out_size=1, limit=limit, epsabs=0.0,
                                          epsrel=tol, nsplit=_boxes_per_pass(limit))
    state = jax.jit(lambda c, w: lax.while_loop(cond, body, init(jnp.zeros(d), jnp.ones(d), (c, w))))(c, w)
    n = int(state[9])
    centre, half, value, err = (np.asarray(state[i])[:n] for i in (1, 2, 3, 4))
    evaluate, _ = loop.rule_parts(fvec, d, jnp.float64)
    _, e5, _, _, fx, share, _ = jax.jit(evaluate)(jnp.asarray(centre), jnp.asarray(half), (c, w))
    rule = rule_for(d)
    vol = np.prod(2 * half, axis=1)
    e5, share = np.asarray(e5)[:, 0], np.asarray(share)[:, 0]
    e3 = vol * np.abs(np.asarray(fx)[:, :, 0] @ (rule.low - rule.low3))
    exact = np.array([box_integral(family, c, w, m - h, m + h) for m, h in zip(centre, half)])
    return dict(true=np.abs(value[:, 0] - exact), signed=np.sum(value[:, 0] - exact), est=err[:, 0], e5=e5,
                r=e5 / np.maximum(e3, 1e-300),
                smooth=share < 1, total=abs(genz_table.exact(family, c, w)))


def main():
    for family, d, tol in CASES:
        b = final_boxes(family, d, tol)
        scale = b["total"] * tol
        sm = b["smooth"]
        model = b["true"][sm].sum() / np.sum(b["r"][sm] * b["e5"][sm])
        print(f"d = {d}, {family}: {len(b['true'])} boxes, |true| {b['true'].sum() / scale:.2f} tol "
              f"(|sum of true| {abs(b['signed']) / scale:.3f} tol), estimate {b['est'].sum() / scale:.2f} tol; "
              f"smooth boxes: sum |true| / sum r|R7 - R5| = {model:.2g}")
        for lo, hi in zip(R_BINS[:-1], R_BINS[1:]):
            m = sm & (b["r"] >= lo) & (b["r"] < hi)
            if m.any():
                q = b["true"][m] / b["e5"][m]
                print(f"    r in [{lo}, {hi}): {m.sum():5d} boxes, |true| {b['true'][m].sum() / scale:.3f} tol, "
                      f"|true| / |R7 - R5| median {np.median(q):.1e}, 90% {np.quantile(q, 0.9):.1e}")


if __name__ == "__main__":
    main()
