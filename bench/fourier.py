"""Fourier integrals over a half line and a finite range: jaxgrad.integrate.quad vs scipy (QUADPACK's QAWF, QAWO).

Usage:
    python bench/fourier.py [--markdown FILE]

`quad(f, 0, b, weight="cos" | "sin", wvar=ω)` with b = inf (QAWF) or b = 1 (QAWO) in
both libraries, at their default tolerances (epsabs = epsrel = 1.49e-8; QAWF uses epsabs
only) and at epsabs = epsrel = 1e-12, against closed forms (mpmath for the tent, Fresnel's
C for x^-1/2 on [0, 1]). Per integral: relative error,
evaluations, status (jaxgrad) or warning (scipy, ier 0 = none), and for jaxgrad the
first call (trace, lower, compile, run) and the steady-state median of a jitted call
beside scipy's median time. The ω-derivative of the first family, which scipy does not
give, against its closed form is in tests/test_quad_weights.py.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

warnings.filterwarnings("ignore", category=RuntimeWarning)  # numpy's 1/0 in scipy's integrands

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import scipy
import scipy.integrate
from _timing import machine_info_markdown, markdown_table, text_table, write_markdown_section

jax.config.update("jax_enable_x64", True)

from jaxgrad.integrate import STATUS, quad  # noqa: E402


def _lor(np_):
    return lambda x: 1 / (1 + x * x)


def _xlor(np_):
    return lambda x: x / (1 + x * x)


def _rsqrt(np_):
    return lambda x: 1 / np_.sqrt(x)


def _exp(np_):
    return lambda x: np_.exp(-x)


def _inv(np_):
    return lambda x: 1 / x


def _tent(np_):
    return lambda x: np_.maximum(0.0, 1 - np_.abs(x - 5))


def _exp07(np_):
    return lambda x: np_.exp(0.7 * x)


def _exp07_ref(w, part=mp.re):  # ∫₀¹ e^{0.7x} e^{iωx} dx
    z = mp.mpc(0.7, w)
    return part((mp.exp(z) - 1) / z)


def _sin_lor_ref(w):
    return (mp.exp(-w) * mp.ei(w) - mp.exp(w) * mp.ei(-w)) / 2


CASES = [  # name, f, weight, ω, exact value
    ("1/(1+x²)", _lor, "cos", 0.3, lambda w: mp.pi / 2 * mp.exp(-w)),
    ("1/(1+x²)", _lor, "cos", 1.0, lambda w: mp.pi / 2 * mp.exp(-w)),
    ("1/(1+x²)", _lor, "cos", 3.0, lambda w: mp.pi / 2 * mp.exp(-w)),
    ("1/(1+x²)", _lor, "cos", 10.0, lambda w: mp.pi / 2 * mp.exp(-w)),
    ("1/(1+x²)", _lor, "sin", 1.0, _sin_lor_ref),
    ("1/(1+x²)", _lor, "sin", 10.0, _sin_lor_ref),
    ("x/(1+x²)", _xlor, "sin", 1.0, lambda w: mp.pi / 2 * mp.exp(-w)),
    ("x^-1/2", _rsqrt, "cos", 1.0, lambda w: mp.sqrt(mp.pi / (2 * w))),
    ("x^-1/2", _rsqrt, "sin", 10.0, lambda w: mp.sqrt(mp.pi / (2 * w))),
    ("1/x", _inv, "sin", 1.0, lambda w: mp.pi / 2),
    ("e^-x", _exp, "cos", 2.0, lambda w: 1 / (1 + w * w)),
    ("tent on [4, 6]", _tent, "cos", 40.0,
     lambda w: mp.quad(lambda x: (1 - abs(x - 5)) * mp.cos(w * x), [4, 5, 6])),
]
# A finite range, [0, 1] (QAWO): name, f, weight, ω, exact value.
FINITE = [("e^0.7x", _exp07, "cos", w, _exp07_ref) for w in (3.0, 100.0, 1e3, 1e5)] + [
    ("e^0.7x", _exp07, "sin", 1e3, lambda w: _exp07_ref(w, mp.im)),
    ("x^-1/2", _rsqrt, "cos", 1e4, lambda w: mp.sqrt(2 * mp.pi / w) * mp.fresnelc(mp.sqrt(2 * w / mp.pi))),
]

HEADER = ["f", "range", "weight", "ω", "tol", "jaxgrad rel. error", "jaxgrad neval", "jaxgrad status", "first call s",
          "steady ms", "scipy rel. error", "scipy neval", "scipy ier", "scipy ms"]


def _median_ms(fn, repeats=5):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def run():
    rows, totals = [], {}
    for tol in (1.49e-8, 1e-12):
        for (name, make, weight, w, exact), b in [(c, np.inf) for c in CASES] + [(c, 1.0) for c in FINITE]:
            ref = exact(mp.mpf(w))
            f = make(jnp)
            call = jax.jit(lambda w: quad(f, 0.0, b, weight=weight, wvar=w, epsabs=tol, epsrel=tol))
            t0 = time.perf_counter()
            value, info = jax.block_until_ready(call(w))
            first = time.perf_counter() - t0
            steady = _median_ms(lambda: jax.block_until_ready(call(w)))
            err = float(abs(mp.mpf(float(value)) - ref) / abs(ref))
            status = [n for n in ("converged", "max_subdivisions", "roundoff", "divergent", "nonfinite", "nan_limits")
                      if bool(info.status == getattr(STATUS, n))][0]
            g0 = make(np)
            g = lambda x: g0(np.float64(x))  # (QAWF evaluates f at the finite end: 1/x at 0 is inf there)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sv, _, sinfo = scipy.integrate.quad(g, 0.0, b, weight=weight, wvar=w, epsabs=tol, epsrel=tol,
                                                    full_output=1)[:3]
            sms = _median_ms(lambda: scipy.integrate.quad(g, 0.0, b, weight=weight, wvar=w, epsabs=tol, epsrel=tol,
                                                          full_output=1))
            serr = float(abs(mp.mpf(sv) - ref) / abs(ref))
            ier = int(any(issubclass(c.category, scipy.integrate.IntegrationWarning) for c in caught))
            rows.append([name, "[0, inf)" if b == np.inf else "[0, 1]", weight, f"{w:g}", f"{tol:g}", f"{err:.1e}", int(info.neval), status, f"{first:.1f}",
                         f"{steady:.2f}", f"{serr:.1e}", sinfo["neval"], ier, f"{sms:.2f}"])
            t = totals.setdefault(("half line" if b == np.inf else "[0, 1]", tol), [0, 0])
            t[0] += int(info.neval)
            t[1] += sinfo["neval"]
    return rows, totals


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", metavar="FILE", help="write the section 'fourier' into FILE")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows, totals = run()
    print(text_table(HEADER, rows))
    summary = "; ".join(f"{where}, tol {tol:g}: jaxgrad {a:,} evaluations, scipy {b:,} ({a / b:.1f}x)"
                        for (where, tol), (a, b) in totals.items())
    print("\n" + summary)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.markdown:
        body = (
            "## Fourier integrals over a half line and a finite range (`python bench/fourier.py`)\n\n"
            + __doc__.split("\n\n", 2)[2].strip() + f" scipy {scipy.__version__}.\n\n"
            + machine_info_markdown() + "\n\n" + markdown_table(HEADER, rows)
            + f"\n\nTotals: {summary}.\n"
        )
        print(args.markdown + ":", write_markdown_section(args.markdown, "fourier", body))


if __name__ == "__main__":
    main()
