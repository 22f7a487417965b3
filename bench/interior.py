"""Interior singularities that nobody is told about: jaxgrad.integrate.quad vs quadax vs scipy.

Usage:
    python bench/interior.py [--markdown FILE]

Measures how well three adaptive Gauss–Kronrod integrators *find* an integrable
singularity at an interior point ``c`` of [0, 1] when ``c`` is NOT passed as a
breakpoint (no ``points=`` for jaxgrad / scipy, interval ``[0, 1]`` for quadax):

    jaxgrad   jaxgrad.integrate.quad(f, 0, 1, (c, i), epsrel=1e-12, epsabs=0)
    quadax    quadax.quadgk(f, [0, 1], (c, i), epsabs=0, epsrel=1e-12, max_ninter=200)
    scipy     scipy.integrate.quad(f, 0, 1, (c,), epsabs=0, epsrel=1e-12, limit=200)
              (QUADPACK QAGS, full_output=1, IntegrationWarning silenced)

Integrands (each at every c below, 10 x 8 = 80 integrals, float64): the six families
of issue #10,

    |x - c|^-0.5, |x - c|^-0.8, |x - c|^0.5, log|x - c|,
    cos(x) |x - c|^-0.5, exp(x) log|x - c|,

and four more: a jump exp(x) (1 + 2 [x > c]), a kink cos(x) |x - c|, a singular
end with a singular point inside, x^-0.5 + |x - c|^-0.3, and a power close to the
limit of integrability, |x - c|^-0.95 (each level of bisection closes only 3 % of the
plain sum's gap to the integral). Totals are given over the six families (48
integrals) and over all 80.

    c in {0.3, 0.25, 0.375, 0.5, 0.11, 0.7316, 1/3, (sqrt(5) - 1)/2}

0.25, 0.375 and 0.5 are points of the bisection grid (0.5 is also the centre node of
the 21-point Kronrod rule on [0, 1], so the integrand is sampled exactly at c); the
others are not.

A second table runs the same ten integrands at 18 points that agree with 1/3 for k
binary places (k = 10 to 30) and then continue with other digits: there a library that
extrapolates the totals of successive bisection levels as if the digits repeated for
ever (they do at 1/3) reports a wrong value as converged. It gives, per integrand and
library, the evaluations, the results flagged non-converged and the false successes. Every integrand is guarded the same way in all three libraries: at
x == c exactly it returns 0 instead of inf / -inf (plain Python ``0.0 ** -0.5`` raises),
so all three integrate the same function.

Exact values are computed for the float64 value of c: closed forms for the pure
powers, ∫₀¹|x−c|^α dx = ((1−c)^(α+1) + c^(α+1))/(α+1), and for the logarithm,
∫₀¹ log|x−c| dx = c log c + (1−c) log(1−c) − 1; the products with cos / exp by
``mpmath.quad`` over [0, c, 1] (the singular point as a breakpoint), accurate to 30
digits (it runs at 60 working digits and its error estimate is checked).

For each integral the table gives the relative error and the number of integrand
evaluations of each library, plus its termination code:
    jaxgrad  ``info.status._value``: 0 converged, 1 max_subdivisions, 2 roundoff,
             3 divergent, 4 nonfinite
    quadax   ``info.status`` (``quadax.STATUS``): 0 normal, 1 max_ninter, 4 no_converge,
             6 bad_integrand, 7 roundoff, 8 divergent (``print(quadax.STATUS[k])``
             explains code k)
    scipy    QUADPACK ``ier`` (recovered from the warning message): 0 ok, 1 limit,
             2 roundoff, 3 bad integrand, 4 extrapolation roundoff, 5 divergent
and the totals: evaluations summed over all integrals, number of integrals with
relative error <= 1e-10, number reporting success, number reporting success while
the error is > 1e-10 ("false success"), number reporting success while the error is
> epsrel = 1e-12 (tolerance missed, but not badly), and the worst relative error.

jaxgrad and quadax each go through ONE jitted function of (c, i), with the
integrand picked by ``lax.switch(i, ...)``, so each compiles once (the compile time
is printed, nothing else is timed). With ``--markdown FILE`` the results are also
written as the section ``interior`` of FILE (e.g. bench/RESULTS.md), replacing an
earlier version of that section. Takes well under a minute after compilation.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import mpmath  # noqa: E402
import quadax  # noqa: E402
import scipy  # noqa: E402
import scipy.integrate as si  # noqa: E402
from _timing import (  # noqa: E402
    machine_info,
    machine_info_markdown,
    markdown_table,
    text_table,
    write_markdown_section,
)
from jax import lax  # noqa: E402

from jaxgrad.integrate import quad  # noqa: E402

SECTION = "interior"
EPSREL = 1e-12
LIMIT = 200  # jaxgrad's default `limit`, scipy's `limit`, quadax's `max_ninter`
GOOD = 1e-10  # "within" threshold for the relative error
MP_DPS = 30

C_VALUES = [
    ("0.3", 0.3),
    ("0.25", 0.25),
    ("0.375", 0.375),
    ("0.5", 0.5),
    ("0.11", 0.11),
    ("0.7316", 0.7316),
    ("1/3", 1.0 / 3.0),
    ("(√5−1)/2", (math.sqrt(5.0) - 1.0) / 2.0),
]


# ---------------------------------------------------------------- integrands
# Each integrand exists three times: for JAX (jaxgrad and quadax), for scipy (a
# Python float function) and for mpmath (the reference). The JAX and Python versions
# return 0 where x == c exactly.


def _jax_pow(alpha):
    def f(x, c):
        d = jnp.abs(x - c)
        return jnp.where(d == 0, 0.0, jnp.where(d == 0, 1.0, d) ** alpha)

    return f


def _jax_log(x, c):
    d = jnp.abs(x - c)
    return jnp.where(d == 0, 0.0, jnp.log(jnp.where(d == 0, 1.0, d)))


def _py_pow(alpha):
    def f(x, c):
        d = abs(x - c)
        return 0.0 if d == 0.0 else d**alpha

    return f


def _py_log(x, c):
    d = abs(x - c)
    return 0.0 if d == 0.0 else math.log(d)


def _exact_pow(alpha):
    def exact(c):
        a1 = mpmath.mpf(alpha) + 1
        return ((1 - c) ** a1 + c**a1) / a1

    return exact


def _exact_log(c):
    return c * mpmath.log(c) + (1 - c) * mpmath.log(1 - c) - 1


def _mp_quad(g):
    """∫₀¹ g(x, c) dx by mpmath.quad (tanh-sinh) with c as a breakpoint, to MP_DPS digits.

    At MP_DPS working digits tanh-sinh stops at its maximal degree about 1e-17 short
    for the |x - c|^-0.5 factor, so the quadrature runs at 2 * MP_DPS digits; its error
    estimate is checked against 10^-MP_DPS.
    """

    def exact(c):
        with mpmath.workdps(2 * MP_DPS):
            v, err = mpmath.quad(lambda x: g(x, c), [0, c, 1], error=True)
        if not err <= mpmath.mpf(10) ** -MP_DPS * abs(v):
            raise RuntimeError(f"mpmath reference not accurate to {MP_DPS} digits at c={c}: error {err}")
        return +v  # rounded to the current precision

    return exact


# name, JAX integrand f(x, c), Python integrand f(x, c), exact(c: mpf) -> mpf
INTEGRANDS = [
    ("|x−c|^−0.5", _jax_pow(-0.5), _py_pow(-0.5), _exact_pow(-0.5)),
    ("|x−c|^−0.8", _jax_pow(-0.8), _py_pow(-0.8), _exact_pow(-0.8)),
    ("|x−c|^0.5", _jax_pow(0.5), _py_pow(0.5), _exact_pow(0.5)),
    ("log|x−c|", _jax_log, _py_log, _exact_log),
    (
        "cos x·|x−c|^−0.5",
        lambda x, c: jnp.cos(x) * _jax_pow(-0.5)(x, c),
        lambda x, c: math.cos(x) * _py_pow(-0.5)(x, c),
        _mp_quad(lambda x, c: mpmath.cos(x) / mpmath.sqrt(abs(x - c))),
    ),
    (
        "eˣ·log|x−c|",
        lambda x, c: jnp.exp(x) * _jax_log(x, c),
        lambda x, c: math.exp(x) * _py_log(x, c),
        _mp_quad(lambda x, c: mpmath.exp(x) * mpmath.log(abs(x - c))),
    ),
]
# Beyond the six families above (the list): a jump and a kink at c (plain
# bisection must not take them for end singularities), a singular end together with
# a singular point inside the piece next to it, and a power close to −1.
CORE = len(INTEGRANDS)
INTEGRANDS += [
    (
        "eˣ·(1 + 2·[x > c]) (jump)",
        lambda x, c: jnp.exp(x) * jnp.where(x > c, 3.0, 1.0),
        lambda x, c: math.exp(x) * (3.0 if x > c else 1.0),
        lambda c: mpmath.expm1(c) + 3 * (mpmath.e - mpmath.exp(c)),
    ),
    (
        "cos x·|x−c| (kink)",
        lambda x, c: jnp.cos(x) * jnp.abs(x - c),
        lambda x, c: math.cos(x) * abs(x - c),
        _mp_quad(lambda x, c: mpmath.cos(x) * abs(x - c)),
    ),
    (
        "x^−0.5 + |x−c|^−0.3",
        lambda x, c: x**-0.5 + _jax_pow(-0.3)(x, c),
        lambda x, c: x**-0.5 + _py_pow(-0.3)(x, c),
        lambda c: 2 + _exact_pow(-0.3)(c),
    ),
    ("|x−c|^−0.95", _jax_pow(-0.95), _py_pow(-0.95), _exact_pow(-0.95)),
]
FS = [e[1] for e in INTEGRANDS]


def _integrand(x, c, i):
    return lax.switch(i, FS, x, c)


# ---------------------------------------------------------------- the three libraries


@jax.jit
def jaxgrad_quad(c, i):
    v, info = quad(_integrand, 0.0, 1.0, (c, i), epsrel=EPSREL, epsabs=0.0, limit=LIMIT)
    return v, info.err, info.neval, info.status._value


@jax.jit
def quadax_quad(c, i):
    v, info = quadax.quadgk(
        _integrand,
        jnp.array([0.0, 1.0]),
        (c, i),
        epsabs=0.0,
        epsrel=EPSREL,
        max_ninter=LIMIT,
    )
    return v, info.err, info.neval, info.status


_SCIPY_IER = [  # start of scipy's message for each QUADPACK ier
    (1, "The maximum number of subdivisions"),
    (2, "The occurrence of roundoff error"),
    (3, "Extremely bad integrand behavior"),
    (4, "The algorithm does not converge"),
    (5, "The integral is probably divergent"),
    (6, "The input is invalid"),
]


def scipy_quad(f, c):
    """(value, error estimate, neval, ier) of scipy.integrate.quad (QAGS) without a breakpoint."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = si.quad(f, 0.0, 1.0, args=(c,), epsabs=0.0, epsrel=EPSREL, limit=LIMIT, full_output=1)
    ier = 0
    if len(out) > 3:
        msg = str(out[3]).strip()
        ier = next((k for k, prefix in _SCIPY_IER if msg.startswith(prefix)), -1)
    return out[0], out[1], int(out[2]["neval"]), ier


# ---------------------------------------------------------------- run


def solve_all(c, i, pyf):
    """{library: (value, error estimate, neval, status)} for integrand i (pyf: its Python version) at c."""
    return {"jaxgrad": jaxgrad_quad(c, i), "quadax": quadax_quad(c, i), "scipy": scipy_quad(pyf, c)}


def reference_values():
    """{(integrand index, c index): exact value (an mpf of MP_DPS digits)}."""
    refs = {}
    with mpmath.workdps(MP_DPS):
        for ci, (_, c) in enumerate(C_VALUES):
            cm = mpmath.mpf(c)  # the float64 c, exactly
            for i, entry in enumerate(INTEGRANDS):
                refs[i, ci] = entry[3](cm)
    return refs


def _rel(v, ref):
    """|v - ref| / |ref| evaluated in MP_DPS digits (so exact for a float64 v)."""
    with mpmath.workdps(MP_DPS):
        return abs(mpmath.mpf(float(v)) - ref) / abs(ref)


def _fmt_err(r):
    r = float(r)
    return "0" if r == 0 else f"{r:.1e}"


LIBS = ("jaxgrad", "quadax", "scipy")
HEADER = [
    "integrand",
    "c",
    "exact",
    "jaxgrad rel.err",
    "neval",
    "status",
    "quadax rel.err",
    "neval",
    "status",
    "scipy rel.err",
    "neval",
    "ier",
]
TOTALS_HEADER = [
    "integrals",
    "library",
    "total neval",
    "more neval than QAGS",
    f"rel.err ≤ {GOOD:.0e}",
    "reports success",
    "false success",
    f"success, rel.err > {EPSREL:.0e}",
    "worst rel.err",
    "flagged: estimate ≥ error",
    "flagged: estimate > 1000 × error",
]
SCOPES = (("the six families", CORE), ("all", None))
FLAGGED_TEXT = (
    "flagged = not reported as a success; of those, how many report an error estimate at "
    "least the actual error, and how many one more than 1000 times the actual error"
)


def run(log=print):
    t0 = time.perf_counter()
    refs = reference_values()
    log(f"[{time.perf_counter() - t0:5.1f}s] reference values ({MP_DPS} digits)")

    # compile each jitted function once (c and i are traced, so this is the only compile)
    compile_s = {}
    for name, fn in (("jaxgrad", jaxgrad_quad), ("quadax", quadax_quad)):
        t1 = time.perf_counter()
        jax.block_until_ready(fn(0.3, 0))
        compile_s[name] = time.perf_counter() - t1
        log(f"[{time.perf_counter() - t0:5.1f}s] {name}: first call (compile) {compile_s[name]:.1f} s")

    rows = []
    tot = {
        (scope, lib): dict(n=0, neval=0, more=0, good=0, ok=0, false_ok=0, missed=0, worst=mpmath.mpf(0),
                           covered=0, loose=0)
        for scope, _ in SCOPES
        for lib in LIBS
    }
    n_cases = 0
    for i, (fname, _, pyf, _) in enumerate(INTEGRANDS):
        for ci, (clabel, c) in enumerate(C_VALUES):
            ref = refs[i, ci]
            res = {
                lib: (_rel(v, ref), float(e) / abs(float(ref)), int(n), int(st))
                for lib, (v, e, n, st) in solve_all(c, i, pyf).items()
            }
            sn = res["scipy"][2]
            row = [fname, clabel, mpmath.nstr(ref, 12)]
            for lib in LIBS:
                err, est, n, st = res[lib]
                for scope, upto in SCOPES:
                    if upto is not None and i >= upto:
                        continue
                    t = tot[scope, lib]
                    t["n"] += 1
                    t["neval"] += n
                    t["more"] += n > sn
                    t["good"] += bool(err <= GOOD)
                    t["ok"] += st == 0
                    t["false_ok"] += st == 0 and not err <= GOOD
                    t["missed"] += st == 0 and not err <= EPSREL
                    t["worst"] = max(t["worst"], err) if not mpmath.isnan(err) else mpmath.inf
                    # A flagged result's error estimate: does it cover the actual error,
                    # and is it of its size (not a thousand times larger)?
                    t["covered"] += st != 0 and est >= err
                    t["loose"] += st != 0 and est > 1000 * err
                row += [_fmt_err(err), n, st]
            rows.append(row)
            n_cases += 1
    log(f"[{time.perf_counter() - t0:5.1f}s] {n_cases} integrals done")

    totals = []
    for scope, _ in SCOPES:
        for lib in LIBS:
            t = tot[scope, lib]
            totals.append([
                f"{scope} ({t['n']})",
                lib,
                t["neval"],
                "—" if lib == "scipy" else t["more"],
                f"{t['good']}/{t['n']}",
                f"{t['ok']}/{t['n']}",
                t["false_ok"],
                t["missed"],
                _fmt_err(t["worst"]),
                f"{t['covered']}/{t['n'] - t['ok']}",
                t["loose"],
            ])
    return rows, totals, compile_s


# ---------------------------------------------------------------- runs of periodic digits
# c agrees with 1/3 = 0.010101...₂ for RUN_BITS places, then continues with the binary
# digits of RUN_REST: the totals of successive bisection levels look like those at 1/3
# for that many levels, then stop doing so.
RUN_BITS = (10, 14, 18, 22, 26, 30)
RUN_REST = (("0.7316", 0.7316), ("0.1234", 0.1234), ("9/14", 9 / 14))
RUNS_TEXT = (
    f"The same integrands at points c that agree with 1/3 = 0.010101...₂ for k = "
    f"{', '.join(map(str, RUN_BITS))} binary places and continue with the digits of "
    f"{', '.join(label for label, _ in RUN_REST)} ({len(RUN_BITS) * len(RUN_REST)} points, "
    f"same settings): for k levels the totals of successive bisection levels look like "
    f"those at 1/3, whose digits repeat forever, and then stop doing so. Per integrand and "
    f"library: evaluations summed over the points, results not reported as converged "
    f"(flagged), and false successes (reported converged, relative error > {GOOD:.0e})."
)
RUNS_HEADER = ["integrand"] + [f"{lib} {what}" for lib in LIBS for what in ("neval", "flagged", "false success")]


def run_periodic_runs(log=print):
    """Per integrand, over the len(RUN_BITS) x len(RUN_REST) points: total evaluations,
    results not reported converged, and false successes (reported converged, relative
    error > GOOD), for each library; and the totals."""
    points = [math.floor(2.0**k / 3) / 2.0**k + r * 2.0**-k for k in RUN_BITS for _, r in RUN_REST]
    rows, total = [], {lib: [0, 0, 0] for lib in LIBS}
    for i, (fname, _, pyf, exact) in enumerate(INTEGRANDS):
        count = {lib: [0, 0, 0] for lib in LIBS}
        for c in points:
            with mpmath.workdps(MP_DPS):
                ref = exact(mpmath.mpf(c))
            for lib, (v, _, n, st) in solve_all(c, i, pyf).items():
                err = _rel(v, ref)
                for acc in (count[lib], total[lib]):
                    acc[0] += int(n)
                    acc[1] += int(st) != 0
                    acc[2] += int(st) == 0 and not err <= GOOD
        rows.append([fname] + [x for lib in LIBS for x in count[lib]])
    rows.append([f"all ({len(INTEGRANDS) * len(points)})"] + [x for lib in LIBS for x in total[lib]])
    log(f"{len(INTEGRANDS) * len(points)} integrals at runs of periodic digits done")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", metavar="FILE", help="write the section 'interior' into FILE")
    args = parser.parse_args(argv)

    info = machine_info()
    print(
        f"Interior singularity at c, no breakpoint given: epsrel={EPSREL:g}, epsabs=0, "
        f"limit / max_ninter={LIMIT}; jaxgrad vs quadax {quadax.__version__} vs scipy "
        f"{scipy.__version__} (QAGS)"
    )
    print(machine_info_markdown(info))
    t0 = time.perf_counter()
    rows, totals, compile_s = run()
    runs = run_periodic_runs()
    total = time.perf_counter() - t0
    print()
    print(text_table(HEADER, rows))
    print()
    print(text_table(TOTALS_HEADER, totals))
    print()
    print(
        f"status: jaxgrad 0 converged, 1 max_subdivisions, 2 roundoff, 3 divergent, 4 nonfinite; "
        f"quadax quadax.STATUS (0 normal, 1 max_ninter, 4 no_converge, 6 bad_integrand, 7 roundoff, "
        f"8 divergent); scipy QUADPACK ier (0 ok, 1 limit, 2 roundoff, 3 bad integrand, 4 extrapolation "
        f"roundoff, 5 divergent). "
        f"false success = reports success but rel.err > {GOOD:.0e}. {FLAGGED_TEXT}"
    )
    print()
    print(RUNS_TEXT)
    print(text_table(RUNS_HEADER, runs))
    print()
    print(
        f"compile: jaxgrad {compile_s['jaxgrad']:.1f} s, quadax {compile_s['quadax']:.1f} s.  "
        f"total {total:.0f} s"
    )

    if args.markdown:
        cmd = "python bench/interior.py" + (" " + " ".join(sys.argv[1:]) if argv is None else "")
        # a literal "|" would end a Markdown table cell
        md_rows = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]
        body = "\n\n".join(
            [
                "## Interior singularities without a breakpoint",
                f"`{cmd.strip()}` (run time {total:.0f} s)",
                machine_info_markdown(info),
                f"∫₀¹ f(x) dx for integrands singular (or with a singular derivative) at an "
                f"interior point c that is *not* passed as a breakpoint, at epsrel = "
                f"{EPSREL:g}, epsabs = 0, at most {LIMIT} subintervals: "
                f"`jaxgrad.integrate.quad`, `quadax.quadgk` {quadax.__version__} (interval "
                f"`[0, 1]`) and `scipy.integrate.quad` {scipy.__version__} (QUADPACK QAGS). "
                f"c = 0.25, 0.375, 0.5 lie on the bisection grid (0.5 is also a Kronrod "
                f"node); the other values do not. At x == c exactly every integrand "
                f"returns 0. Exact values: closed forms, or `mpmath.quad` over [0, c, 1] at "
                f"{MP_DPS} digits. Status: jaxgrad `info.status` (0 converged, 1 "
                f"max_subdivisions, 2 roundoff, 3 divergent, 4 nonfinite), quadax "
                f"`quadax.STATUS` (0 normal, 1 max_ninter, 4 no_converge, 6 bad_integrand, 7 "
                f"roundoff, 8 divergent), scipy "
                f"QUADPACK `ier` (0 ok, 1 limit, 2 roundoff, 3 bad integrand, 4 "
                f"extrapolation roundoff, 5 divergent).",
                markdown_table(HEADER, md_rows),
                f"Totals over the issue's six families ({CORE * len(C_VALUES)} integrals) and "
                f"over all {len(rows)} (false success = reports success but relative error > "
                f"{GOOD:.0e}; more neval than QAGS = integrals where the library evaluated f "
                f"more often than scipy; {FLAGGED_TEXT}):",
                markdown_table(TOTALS_HEADER, totals),
                "### Runs of periodic digits",
                RUNS_TEXT,
                markdown_table(RUNS_HEADER, [[str(cell).replace("|", "\\|") for cell in row] for row in runs]),
            ]
        )
        status = write_markdown_section(args.markdown, SECTION, body)
        print(f"{args.markdown}: section '{SECTION}' {status}")


if __name__ == "__main__":
    main()
