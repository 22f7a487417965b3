"""Gradient error at and near a repeated eigenvalue: jaxgrad.linalg against jax.numpy.

Run: `python bench/ties.py` (float64, about 15 s). Writes bench/results/ties.json, which
`python bench/figures.py` draws into docs/figures/tie_gradient_error.png.

The matrix is A = R diag(1, 1 + g, 2, 3) Rᵀ with a fixed random rotation R, and the gap
g runs from 1e-1 down to 1e-15 and then to an exact tie, g = 0. Two losses, both with
a gradient that exists at every g (so the truth is finite everywhere):

- projector: ⟨C, P⟩ with P the projector onto the eigenvectors of the two smallest
  eigenvalues (the pair 1, 1 + g stays 1 away from the rest). Exact gradient from the
  construction: Σ_{i ∈ pair, j ∉ pair} 2 (vⱼᵀ C vᵢ) vⱼ vᵢᵀ / (λᵢ − λⱼ), symmetrised.
  Through `jaxgrad.linalg.eigh`, `jaxgrad.linalg.projector` and `jnp.linalg.eigh`.
- matrix exponential: ⟨C, exp(A)⟩. Exact gradient: R (Γ ∘ (Rᵀ C R)) Rᵀ with Γ the
  divided differences of exp (Daleckii–Krein), evaluated without cancellation. Through
  `jaxgrad.linalg.funm(a, jnp.exp)`, `jax.scipy.linalg.expm`, and V exp(Λ) Vᵀ written
  with the eigenvectors of `jnp.linalg.eigh` and of `jaxgrad.linalg.eigh`.

The error is max |G − G_exact| / max |G_exact| over the entries of the (symmetrised)
gradient; NaN gradients are recorded as null. The references are closed forms built
from R and the eigenvalues, independent of both libraries.
"""

from __future__ import annotations

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from _timing import write_results_json  # noqa: E402

import jaxgrad.linalg as jl  # noqa: E402

N = 4
GAPS = [float(g) for g in 10.0 ** -np.arange(1, 15.5, 0.5)] + [0.0]


def rotation(n, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    return q * np.sign(np.diag(r))


R = rotation(N, 0)
_c = np.random.default_rng(1).normal(size=(N, N))
C = (_c + _c.T) / 2


def spectrum(gap):
    return np.array([1.0, 1.0 + gap, 2.0, 3.0])


def projector_reference(vals):
    g = np.zeros((N, N))
    for i in (0, 1):
        for j in (2, 3):
            vi, vj = R[:, i], R[:, j]
            g += 2 * (vj @ C @ vi) * np.outer(vj, vi) / (vals[i] - vals[j])
    return (g + g.T) / 2


def exp_divided_differences(vals):
    gam = np.empty((N, N))
    for i in range(N):
        for j in range(N):
            d = vals[i] - vals[j]
            # (e^λᵢ − e^λⱼ)/(λᵢ − λⱼ) = e^λⱼ expm1(d)/d, e^λᵢ at d = 0: no cancellation.
            gam[i, j] = math.exp(vals[i]) if d == 0 else math.exp(vals[j]) * math.expm1(d) / d
    return gam


def expm_reference(vals):
    return R @ (exp_divided_differences(vals) * (R.T @ C @ R)) @ R.T


def _pair_projector(eigh):
    def loss(a):
        v = eigh(a).eigenvectors[:, :2]
        return jnp.sum(C * (v @ v.T))

    return loss


def _eigh_exp(eigh):
    def loss(a):
        w, v = eigh(a)
        return jnp.sum(C * ((v * jnp.exp(w)) @ v.T))

    return loss


PROJECTOR = {
    "jaxgrad.linalg.eigh": _pair_projector(jl.eigh),
    "jaxgrad.linalg.projector": lambda a: jnp.sum(C * jl.projector(a, 2)),
    "jnp.linalg.eigh": _pair_projector(jnp.linalg.eigh),
}
EXPM = {
    "jaxgrad.linalg.funm": lambda a: jnp.sum(C * jl.funm(a, jnp.exp)),
    "jax.scipy.linalg.expm": lambda a: jnp.sum(C * jax.scipy.linalg.expm(a)),
    "V exp(Λ) Vᵀ, jaxgrad.linalg.eigh": _eigh_exp(jl.eigh),
    "V exp(Λ) Vᵀ, jnp.linalg.eigh": _eigh_exp(jnp.linalg.eigh),
}


def relative_error(g, ref):
    g = np.asarray(g)
    g = (g + g.T) / 2
    if not np.all(np.isfinite(g)):
        return None
    return float(np.max(np.abs(g - ref)) / np.max(np.abs(ref)))


def measure(losses, reference):
    grads = {name: jax.jit(jax.grad(f)) for name, f in losses.items()}
    out = {name: [] for name in losses}
    for gap in GAPS:
        vals = spectrum(gap)
        a = jnp.asarray((R * vals) @ R.T)
        ref = reference(vals)
        for name, g in grads.items():
            out[name].append(relative_error(g(a), ref))
    return out


def main() -> int:
    projector = measure(PROJECTOR, projector_reference)
    expm = measure(EXPM, expm_reference)
    fmt = lambda e: "   NaN " if e is None else f"{e:7.0e}"  # noqa: E731
    for title, table in (("projector loss", projector), ("exp loss", expm)):
        print(f"\n{title}: relative gradient error")
        print("gap      " + "  ".join(f"{n[:24]:>24}" for n in table))
        for k, gap in enumerate(GAPS):
            print(f"{gap:7.0e}  " + "  ".join(f"{fmt(table[n][k]):>24}" for n in table))
    write_results_json("ties", {
        "matrix": "R diag(1, 1 + gap, 2, 3) Rᵀ, R a seeded random rotation; float64",
        "tie_rtol": float(jnp.sqrt(jnp.finfo(jnp.float64).eps)),
        "gaps": GAPS,
        "projector": projector,
        "expm": expm,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
