"""`minimize`'s line search against optax's zoom line search on standard test functions.

Run: `python bench/linesearch.py [--starts N] [--markdown bench/RESULTS.md]` (float64).

For each function (Moré, Garbow & Hillstrom 1981, "Testing unconstrained optimization
software", and a few common others) and N random starts (seeded, uniform in a box),
`jaxgrad.optimize.minimize` runs under one `jax.vmap` with `throw=False` and
`max_steps=2000`, once with its default optimizer (`optax.lbfgs` +
`scale_by_wolfe_linesearch`) and once with `optax.lbfgs()` (zoom line search). The
table gives the status counts and the median steps and final value. The point is
robustness: the new line search should converge wherever the zoom does.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import optax  # noqa: E402
from _timing import machine_info, machine_info_markdown, markdown_table, text_table, write_markdown_section  # noqa: E402

from jaxgrad.optimize import Status, minimize  # noqa: E402
from jaxgrad.optimize._minimize import default_optimizer  # noqa: E402

_D = jnp.asarray(np.logspace(0, 6, 8))


def rosenbrock(x):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def beale(x):
    return ((1.5 - x[0] + x[0] * x[1]) ** 2 + (2.25 - x[0] + x[0] * x[1] ** 2) ** 2
            + (2.625 - x[0] + x[0] * x[1] ** 3) ** 2)


def powell_singular(x):
    return (x[0] + 10 * x[1]) ** 2 + 5 * (x[2] - x[3]) ** 2 + (x[1] - 2 * x[2]) ** 4 + 10 * (x[0] - x[3]) ** 4


def wood(x):
    return (100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2 + 90 * (x[3] - x[2] ** 2) ** 2 + (1 - x[2]) ** 2
            + 10.1 * ((x[1] - 1) ** 2 + (x[3] - 1) ** 2) + 19.8 * (x[1] - 1) * (x[3] - 1))


def trid(x):
    return jnp.sum((x - 1) ** 2) - jnp.sum(x[1:] * x[:-1])


def styblinski_tang(x):
    return 0.5 * jnp.sum(x**4 - 16 * x**2 + 5 * x)


def dixon_price(x):
    return (x[0] - 1) ** 2 + jnp.sum(jnp.arange(2, x.size + 1) * (2 * x[1:] ** 2 - x[:-1]) ** 2)


def quartic(x):
    return jnp.sum(jnp.arange(1, x.size + 1) * x**4)


def ill_conditioned_quadratic(x):  # condition number 1e6
    return 0.5 * jnp.sum(_D * x**2)


def exponential_sum(x):
    return jnp.sum(jnp.exp(x) - x) + 0.5 * (x[0] - x[1]) ** 2


def logsumexp_quadratic(x):
    return jax.nn.logsumexp(jnp.array([x[0] + 2 * x[1], -x[0] + x[1] ** 2, 0.3 * x[0]])) + 0.01 * jnp.sum(x**2)


PROBLEMS = [  # (name, f, n, half-width of the box of starts)
    ("Rosenbrock n=4", rosenbrock, 4, 2.0),
    ("Rosenbrock n=10", rosenbrock, 10, 2.0),
    ("Beale", beale, 2, 1.0),
    ("Powell singular", powell_singular, 4, 2.0),
    ("Wood", wood, 4, 2.0),
    ("Trid n=6", trid, 6, 3.0),
    ("Styblinski-Tang n=5", styblinski_tang, 5, 4.0),
    ("Dixon-Price n=6", dixon_price, 6, 2.0),
    ("quartic n=5 (singular Hessian at 0)", quartic, 5, 2.0),
    ("quadratic, condition 1e6, n=8", ill_conditioned_quadratic, 8, 3.0),
    ("exponential sum n=5", exponential_sum, 5, 2.0),
    ("log-sum-exp + ridge n=3", logsumexp_quadratic, 3, 3.0),
]

STATUSES = [("converged", Status.converged), ("max_steps", Status.max_steps),
            ("nonfinite", Status.nonfinite), ("linesearch_failed", Status.linesearch_failed)]


def run(f, x0s, optimizer):
    solve = jax.jit(jax.vmap(lambda x0: minimize(f, x0, optimizer=optimizer, throw=False, max_steps=2000)))
    sols = solve(x0s)
    codes = np.asarray(sols.status._value)
    counts = "/".join(str(int(np.sum(codes == s._value))) for _, s in STATUSES)
    return counts, int(np.median(np.asarray(sols.num_steps))), float(np.median(np.asarray(sols.value)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=50)
    p.add_argument("--markdown", metavar="FILE", help="write the table into FILE (section 'linesearch')")
    args = p.parse_args(argv)
    info = machine_info()
    rng = np.random.default_rng(0)
    rows = []
    for name, f, n, half in PROBLEMS:
        x0s = jnp.asarray(rng.uniform(-half, half, size=(args.starts, n)))
        ours = run(f, x0s, default_optimizer())
        zoom = run(f, x0s, optax.lbfgs())
        rows.append([name, ours[0], ours[1], f"{ours[2]:.3g}", zoom[0], zoom[1], f"{zoom[2]:.3g}"])
        print(text_table(HEADER, [rows[-1]]).splitlines()[-1], flush=True)
    print()
    print(text_table(HEADER, rows))
    if args.markdown:
        body = (
            "## `minimize`'s line search against optax's zoom on test functions (`python bench/linesearch.py`)\n\n"
            f"{args.starts} random starts per function (seeded, uniform in ±half-width), one `vmap`, "
            "`throw=False`, `max_steps=2000`, float64, default tolerance (‖∇f‖ ≤ 3.7e-11). "
            "Status counts are converged / max_steps / nonfinite / linesearch_failed; steps and "
            "final value are medians over the starts.\n\n"
            + markdown_table(HEADER, rows) + "\n\n" + machine_info_markdown(info)
        )
        write_markdown_section(args.markdown, "linesearch", body)
    return 0


HEADER = ["function", "jaxgrad (Wolfe, one evaluation) status", "steps", "final f",
          "optax zoom status", "steps", "final f"]

if __name__ == "__main__":
    sys.exit(main())
