"""Narrow peaks where no node goes: jaxgrad.integrate.quad vs scipy (QUADPACK QAGS).

Usage:
    python bench/peaks.py [--markdown FILE]

Each integrand has a feature narrower than the node-free band at the ends of the
pieces that adaptive bisection makes (0.2 % of a piece): a peak at a bisection point
(0.5 on [0, 1], 0 on [-1, 1]), seen only by the first rule's centre node, or at a
breakpoint the caller passes in ``points``; on flat backgrounds and on backgrounds that
curve strongly at the node spacing (sin 50x, cos 30x); and, for contrast, power points
|x - c|^alpha and peaks sitting on one. Both libraries get the same ``points``,
epsrel and epsabs = 0 (scipy: ``limit=200``, ``full_output=1``). Exact values are
closed forms (erf, atan, the power integrals). "silent" marks a result reported as
converged with an error above max(10 epsrel |I|, the reported error).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy
import scipy.integrate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import machine_info_markdown, markdown_table, text_table, write_markdown_section  # noqa: E402

jax.config.update("jax_enable_x64", True)

from jaxgrad.integrate import quad  # noqa: E402

SP = math.sqrt(math.pi)


# (name, f(x, np-like module), a, b, points, epsrel, exact)
CASES = [
    ("e^(-((x-½)/1e-5)²) + sin 50x", lambda x, m: m.exp(-((x - 0.5) / 1e-5) ** 2) + m.sin(50 * x), 0.0, 1.0, None,
     1e-10, 1e-5 * SP + (1 - math.cos(50)) / 50),
    ("e^(-((x-½)/1e-7)²) + sin 50x", lambda x, m: m.exp(-((x - 0.5) / 1e-7) ** 2) + m.sin(50 * x), 0.0, 1.0, None,
     1e-10, 1e-7 * SP + (1 - math.cos(50)) / 50),
    ("e^(-(x/1e-6)²) + cos 30x", lambda x, m: m.exp(-(x / 1e-6) ** 2) + m.cos(30 * x), -1.0, 1.0, None, 1e-10,
     1e-6 * SP + 2 * math.sin(30) / 30),
    ("e^(-((x-0.3)/1e-6)²) + sin 50x, points=[0.3]", lambda x, m: m.exp(-((x - 0.3) / 1e-6) ** 2) + m.sin(50 * x),
     0.0, 1.0, [0.3], 1e-8, 1e-6 * SP + (1 - math.cos(50)) / 50),
    ("e^(-(x/1e-6)²)", lambda x, m: m.exp(-(x / 1e-6) ** 2), -1.0, 1.0, None, 1e-10, 1e-6 * SP),
    ("1/(1 + (x/1e-7)²)", lambda x, m: 1 / (1 + (x / 1e-7) ** 2), -1.0, 1.0, None, 1e-10,
     2e-7 * math.atan(1e7)),
    ("1 + 0.1 sin x + e^(-|x-0.3|/1e-4), points=[0.3]", lambda x, m: 1 + 0.1 * m.sin(x) + m.exp(-abs(x - 0.3) / 1e-4),
     0.0, 1.0, [0.3], 1e-8, 1 + 0.1 * (1 - math.cos(1)) + 2e-4 - 1e-4 * (math.exp(-3e3) + math.exp(-7e3))),
    ("100|x|^0.01 + e^(-(x/1e-5)²)", lambda x, m: 100 * abs(x) ** 0.01 + m.exp(-(x / 1e-5) ** 2), -1.0, 1.0, None,
     1e-10, 200 / 1.01 + 1e-5 * SP),
    ("|x|^0.01", lambda x, m: abs(x) ** 0.01, -1.0, 1.0, None, 1e-12, 2 / 1.01),
    ("|x|^0.05", lambda x, m: abs(x) ** 0.05, -1.0, 1.0, None, 1e-12, 2 / 1.05),
    ("|x-½|^0.1 + sin 50x", lambda x, m: abs(x - 0.5) ** 0.1 + m.sin(50 * x), 0.0, 1.0, None, 1e-10,
     2 * 0.5**1.1 / 1.1 + (1 - math.cos(50)) / 50),
]

HEADER = ["integrand", "range", "epsrel", "jaxgrad rel.err", "neval", "status", "scipy rel.err", "neval", "ier"]
_NAMES = ("converged", "max_subdivisions", "roundoff", "divergent", "nonfinite", "nan_limits")  # by status code


def run():
    rows = []
    for name, f, a, b, pts, eps, exact in CASES:
        jf = lambda x, f=f: f(x, jnp)  # noqa: E731
        v, info = quad(jf, a, b, epsrel=eps, epsabs=0.0, points=pts)
        err = abs(float(v) - exact) / abs(exact)
        status = _NAMES[int(info.status._value)]  # as bench/interior.py reads it
        if status == "converged" and abs(float(v) - exact) > max(10 * eps * abs(exact), float(info.err)):
            status += " (silent)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = scipy.integrate.quad(lambda x, f=f: f(x, np), a, b, epsabs=0.0, epsrel=eps, limit=200,
                                       points=pts, full_output=1)
        sv, sinfo, ier = out[0], out[2], 0 if len(out) == 3 else 1  # a 4th item: the warning's message
        serr = abs(sv - exact) / abs(exact)
        silent = " (silent)" if ier == 0 and abs(sv - exact) > 10 * eps * abs(exact) else ""
        rows.append([name, f"[{a:g}, {b:g}]", f"{eps:g}", f"{err:.1e}", int(info.neval), status,
                     f"{serr:.1e}", sinfo["neval"], f"{ier}{silent}"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", metavar="FILE", help="write the section 'peaks' into FILE")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rows = run()
    print(text_table(HEADER, rows))
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.markdown:
        body = (
            "## Narrow peaks where no node goes (`python bench/peaks.py`)\n\n"
            + __doc__.split("\n\n", 2)[2].strip() + f" scipy {scipy.__version__}.\n\n"
            + machine_info_markdown() + "\n\n" + markdown_table(HEADER, rows)
            + "\n\nier: scipy's warning (0 none, 1 any IntegrationWarning).\n"
        )
        print(args.markdown + ":", write_markdown_section(args.markdown, "peaks", body))


if __name__ == "__main__":
    main()
