"""`python -m jaxgrad demo` section for `jaxgrad.optimize`: its matrix problems end to end.

Each problem (a symmetric matrix with given eigenvalues, the matrix inverse, the SVD by
optimisation) is solved twice: with a first-order baseline (Adam or momentum SGD, a
fixed learning rate, a step cap so that the demo stays fast) and with
`jaxgrad.optimize` (L-BFGS with a line search, or Newton–Schulz), and the derivatives
involved are checked with `jaxgrad.check_grad` against finite differences.
"""

from __future__ import annotations

import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._check_grad import check_grad
from ._first_order_baseline import steps_to_loss
from ._inverse_by_minimize import inverse_by_minimize, inverse_loss
from ._inverse_eigenvalue_problem import eigenvalue_misfit, symmetric_with_eigenvalues, triu_of
from ._minimize import default_optimizer, minimize
from ._newton_schulz import NewtonSchulzStatus, newton_schulz_inverse
from ._svd_by_minimize import svd_by_minimize, svd_trace_loss, svd_trace_loss_minimum

CAP = 5000  # step cap of the first-order baselines


def _baseline(loss, x0, args, opt, target, has_aux=False, optimum=0.0):
    """Steps of a first-order baseline to `loss <= optimum + target` (capped at CAP)."""
    _, k, f, hist = steps_to_loss(loss, x0, args, opt, optimum + target, CAP, has_aux=has_aux)
    k, gap = int(k), float(f) - optimum
    name = "loss" if optimum == 0 else "gap"
    text = f"{k} steps" if gap <= target else f"not reached in {CAP} steps ({name} {gap:.1e})"
    return text, np.asarray(hist)


def _lbfgs_history(loss, x0, args, steps, has_aux=False):
    """Loss after each step of the optimizer `minimize` uses (for the plot only)."""
    value_fn = (lambda x: loss(x, *args)[0]) if has_aux else (lambda x: loss(x, *args))
    opt = default_optimizer()
    vg = optax.value_and_grad_from_state(value_fn)

    def step(carry, _):
        x, s = carry
        v, g = vg(x, state=s)
        u, s = opt.update(g, s, x, value=v, grad=g, value_fn=value_fn)
        return (optax.apply_updates(x, u), s), v

    (x, _), hist = jax.lax.scan(step, (x0, opt.init(x0)), length=steps)
    return np.append(np.asarray(hist), float(value_fn(x)))


def _ridge_quadratic(x, p, lam):
    return jnp.sum((x - p) ** 2) + lam * jnp.sum(x**2)


def _grad_ok(report) -> str:
    return f"{'pass' if report.passed else 'FAIL'} (rel err {report.max_rel_err:.0e})"


@functools.cache
def _optimizer(name: str, lr: float) -> optax.GradientTransformation:
    """One object per baseline optimizer, so that rows of equal shapes share its compiled loop."""
    return optax.adam(lr) if name == "adam" else optax.sgd(lr, momentum=0.9)


def _matrices():
    """The random matrices of the rows, drawn in a fixed order from one seed (any task
    can regenerate its own)."""
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, n)) for n in (3, 3, 10, 30, 4, 4)]


def _inverse_eigenvalue_rows(which, plot):
    """Rows 1-4: the symmetric matrix with given eigenvalues (`which` picks the cases)."""
    cases = [(3, [1.0, 2.0, 3.0], 20), (3, [1.0, 1.0, 1.0], 20), (10, None, 100), (30, None, 100)]
    draws = _matrices()
    rows, curves, ok = [], {}, True
    for i in which:
        start = time.perf_counter()
        n, targets, goal = cases[i]
        t = jnp.asarray(targets if targets is not None else np.arange(1.0, n + 1))
        a0 = (draws[i] + draws[i].T) / 2
        sol = symmetric_with_eigenvalues(t, a0, max_steps=200, throw=False)
        met = float(sol.value) < 1e-16 and int(sol.num_steps) <= goal
        ok &= met
        spec = f"({', '.join(f'{x:g}' for x in targets)})" if targets else f"1..{n}"
        label = f"inverse eigenvalue problem n={n}, t={spec}"
        p0 = triu_of(jnp.asarray(a0))
        baseline, hist = _baseline(eigenvalue_misfit, p0, (t,), _optimizer("adam", 1e-3), 1e-8, has_aux=True)
        baseline_m, _ = _baseline(eigenvalue_misfit, p0, (t,), _optimizer("sgd", 1e-3), 1e-8, has_aux=True)
        grad = ""
        if n == 3:
            rep = check_grad(lambda p, t=t: eigenvalue_misfit(p, t)[0], p0, modes="rev")
            ok &= rep.passed
            grad = _grad_ok(rep)
            if plot:
                lb = _lbfgs_history(eigenvalue_misfit, p0, (t,), int(sol.num_steps), True)
                curves[label] = ("Adam 1e-3", hist, lb)
        mine = f"{int(sol.num_steps)} steps, loss {float(sol.value):.1e} (goal <1e-16 in <={goal})"
        rows.append((label, f"to 1e-8, lr 1e-3: Adam {baseline}; momentum SGD {baseline_m}",
                     mine + ("" if met else " MISSED"), grad, f"{time.perf_counter() - start:.1f}"))
    return rows, curves, ok


def _inverse_rows(plot):
    """Rows 5-6: the matrix inverse by minimize and by Newton–Schulz."""
    start = time.perf_counter()
    m = jnp.asarray(_matrices()[4])
    sol = inverse_by_minimize(m, throw=False)
    met = float(sol.value) < 1e-10 and int(sol.num_steps) <= 100
    ok = met
    baseline, hist = _baseline(inverse_loss, jnp.zeros_like(m), (m,), _optimizer("adam", 1e-2), 1e-10)
    baseline_m, _ = _baseline(inverse_loss, jnp.zeros_like(m), (m,), _optimizer("sgd", 1e-2), 1e-10)
    rep = check_grad(lambda m: inverse_by_minimize(m, tol=1e-13).x, m, modes="rev", num_directions=4)
    ok &= rep.passed
    mine = f"{int(sol.num_steps)} steps, loss {float(sol.value):.1e} (goal <1e-10 in <=100)"
    curves = {}
    if plot:
        lb = _lbfgs_history(inverse_loss, jnp.zeros_like(m), (m,), int(sol.num_steps))
        curves["inverse 4x4"] = ("Adam 1e-2", hist, lb)
    rows = [("inverse of 4x4 by min ||XM - I||^2",
             f"to 1e-10, lr 1e-2: Adam {baseline}; momentum SGD {baseline_m}",
             mine + ("" if met else " MISSED"), "implicit dX/dM " + _grad_ok(rep),
             f"{time.perf_counter() - start:.1f}")]
    start = time.perf_counter()
    kappa = float(np.linalg.cond(np.asarray(m)))
    ns = newton_schulz_inverse(m)
    bound = 2 * math.log2(kappa) + 7
    rep = check_grad(lambda m: newton_schulz_inverse(m).inverse, m, modes="fwd")
    ok &= rep.passed and bool(ns.status == NewtonSchulzStatus.converged)
    rows.append((f"inverse of 4x4 by Newton-Schulz (kappa {kappa:.1f})", "",
                 f"{int(ns.num_steps)} steps, ||I - MX|| {float(ns.residual):.1e} (2 log2 kappa + 7 = {bound:.1f})",
                 "dX = -X dM X " + _grad_ok(rep), f"{time.perf_counter() - start:.1f}"))
    return rows, curves, ok


def _svd_rows(plot):
    """Row 7: the SVD by optimisation (Brockett's cost) against jaxgrad.linalg.svd."""
    from ..linalg import svd

    start = time.perf_counter()
    m = jnp.asarray(_matrices()[5])
    s_ref = svd(m, compute_uv=False)
    res = svd_by_minimize(m, throw=False)
    err = float(jnp.max(jnp.abs(res.S - s_ref)))
    met = err < 1e-10
    ok = met
    u0, _ = jnp.linalg.qr(m)
    v0, _ = jnp.linalg.qr(m.T)
    z = jnp.zeros_like(m)
    best = float(svd_trace_loss_minimum(m, u0, v0))
    baseline, hist = _baseline(svd_trace_loss, (z, z), (m, u0, v0), _optimizer("sgd", 1e-2), 1e-10,
                               has_aux=True, optimum=best)
    baseline_a, _ = _baseline(svd_trace_loss, (z, z), (m, u0, v0), _optimizer("adam", 1e-2), 1e-10,
                              has_aux=True, optimum=best)
    rep = check_grad(lambda p: svd_trace_loss((p, z), m, u0, v0)[0], z + 0.1, modes="rev")
    ok &= rep.passed
    rows = [("SVD of 4x4 by max tr(U'MVN)",
             f"to optimum + 1e-10, lr 1e-2: Adam {baseline_a}; momentum SGD {baseline}",
             f"{int(res.solution.num_steps)} steps, max|S - svd S| {err:.1e}" + ("" if met else " MISSED"),
             _grad_ok(rep), f"{time.perf_counter() - start:.1f}")]
    curves = {}
    if plot:
        lb = _lbfgs_history(svd_trace_loss, (z, z), (m, u0, v0), int(res.solution.num_steps), True)
        curves["SVD 4x4 (|loss - optimum|)"] = ("momentum SGD 1e-2", np.abs(hist - best), np.abs(lb - best))
    return rows, curves, ok


def _implicit_rows(plot):
    """Row 8: the implicit derivative against a closed form: argmin ||x - p||² + λ||x||² = p / (1 + λ)."""
    start = time.perf_counter()
    p = jnp.array([1.0, -2.0, 0.5])
    jac = jax.jit(jax.jacrev(lambda lam: minimize(_ridge_quadratic, jnp.zeros(3), (p, lam)).x))(3.0)
    err = float(jnp.max(jnp.abs(jac + p / 16)))
    ok = err < 1e-10
    rows = [("d argmin(||x-p||^2 + lam||x||^2)/d lam", "", f"implicit: error vs -p/(1+lam)^2 {err:.0e}",
             "closed form " + ("pass" if ok else "FAIL"), f"{time.perf_counter() - start:.1f}")]
    return rows, {}, ok


# Independent pieces of the section, in table order, each with a rough cost in seconds on
# the 2-core machine (mostly compilation): `python -m jaxgrad demo` hands them to its
# worker processes longest first. Rows that share compiled programs stay in one task.
TASKS = {
    "inverse eigenvalue n=3": (4.5, lambda plot: _inverse_eigenvalue_rows([0, 1], plot)),
    "inverse eigenvalue n=10": (4.5, lambda plot: _inverse_eigenvalue_rows([2], plot)),
    "inverse eigenvalue n=30": (5.0, lambda plot: _inverse_eigenvalue_rows([3], plot)),
    "inverse": (7.0, _inverse_rows),
    "svd": (9.5, _svd_rows),
    "implicit": (2.0, _implicit_rows),
}


def demo_section(plot: str | None = None) -> bool:
    """Run the matrix problems, print the comparison table; `True` if every goal is met.

    Arguments:
        plot: if given, a PNG file name for convergence plots (needs matplotlib).

    Returns:
        `True` when every jaxgrad goal (loss and step count) is met and every gradient
        check passes.
    """
    return print_section([task(plot) for _, task in TASKS.values()], plot)


def print_section(results, plot: str | None) -> bool:
    """Print the table (and write the plot) from the `(rows, curves, ok)` of the tasks, in
    `TASKS` order; `True` if every goal is met."""
    rows, curves, ok = [], {}, True
    for r, c, k in results:
        rows += r
        curves.update(c)
        ok &= bool(k)
    header = ("problem", "first-order baseline", "jaxgrad.optimize", "gradient check", "time s")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
    print("jaxgrad.optimize: matrix problems by optimisation (first-order baseline vs jaxgrad; "
          "check_grad vs finite differences)")
    for r in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    # (The rows' own times summed: with the demo's worker processes running rows side
    # by side, more than the wall time it took; outside probe.)
    print(f"all goals met: {ok}   (rows' times summed: {sum(float(r[-1]) for r in rows):.1f} s)")

    if plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print(f"--plot {plot}: matplotlib is not installed (pip install matplotlib); no plot written.")
        else:
            fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.6))
            for ax, (name, (baseline_name, base, lbfgs)) in zip(np.atleast_1d(axes), curves.items()):
                ax.semilogy(np.maximum(base[np.isfinite(base)], 1e-32),
                            label=f"first-order baseline ({baseline_name})")
                ax.semilogy(np.maximum(lbfgs, 1e-32), "o-", ms=3, label="jaxgrad (L-BFGS)")
                ax.set_title(name, fontsize=9)
                ax.set_xscale("symlog", linthresh=10)
                ax.set_xlabel("step")
                ax.legend(fontsize=8)
            axes[0].set_ylabel("loss")
            fig.tight_layout()
            fig.savefig(plot, dpi=110)
            print(f"convergence plots written to {plot}")
    return bool(ok)
