"""Forward mode agrees with reverse mode and with closed forms (issue #10, item 4).

A battery of parametric integrals I(p, b) = ∫_a^b f(x, p) dx with closed forms for the
value and its derivatives, among them integrands whose derivative in p is singular at
an end (xᵖ ln(1/x), p > −1). Every case is differentiated in both modes, in the
parameter and in the finite upper limit: `jax.grad` (reverse), `jax.jvp` and
`jax.jacfwd` (forward), and the second derivative in p by `jax.hessian` (forward over
reverse) and by `jacrev(jacrev)`. One compiled program serves the whole battery (the
integrand is picked by `lax.switch` on a traced case index). References: closed forms,
each re-checked against mpmath's own derivative of the closed form.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from jax import lax

from jaxgrad.integrate import quad

TIGHT = dict(epsrel=1e-11, epsabs=0.0)

# (name, f(x, p), a, p, b, closed form I(p, b) in mpmath)
CASES = [
    ("x^p ln(1/x), p=-0.5", lambda x, p: x**p * jnp.log(1 / x), 0.0, -0.5, 0.7,
     lambda p, b: b ** (p + 1) * (1 / (p + 1) ** 2 - mp.log(b) / (p + 1))),
    ("x^p ln(1/x), p=0.5", lambda x, p: x**p * jnp.log(1 / x), 0.0, 0.5, 0.7,
     lambda p, b: b ** (p + 1) * (1 / (p + 1) ** 2 - mp.log(b) / (p + 1))),
    ("x^p, p=-0.9", lambda x, p: x**p, 0.0, -0.9, 1.3, lambda p, b: b ** (p + 1) / (p + 1)),
    ("exp(-p x^2)", lambda x, p: jnp.exp(-p * x * x), -0.4, 0.8, 1.1,
     lambda p, b: mp.sqrt(mp.pi / p) / 2 * (mp.erf(mp.sqrt(p) * b) + mp.erf(mp.sqrt(p) * 0.4))),
    ("sqrt(x + p)", lambda x, p: jnp.sqrt(x + p), 0.0, 0.3, 1.0,
     lambda p, b: 2 * ((b + p) ** 1.5 - p**1.5) / 3),
    ("exp(-p x)/sqrt(x), b=inf", lambda x, p: jnp.exp(-p * x) / jnp.sqrt(x), 0.0, 1.7, np.inf,
     lambda p, b: mp.sqrt(mp.pi / p)),
    ("1/(1 + p x^2), b=inf", lambda x, p: 1 / (1 + p * x * x), 0.0, 2.5, np.inf,
     lambda p, b: mp.pi / (2 * mp.sqrt(p))),
    ("log(x) cos(p x)", lambda x, p: jnp.log(x) * jnp.cos(p * x), 0.0, 3.0, 1.0,
     lambda p, b: -mp.si(p * b) / p + mp.log(b) * mp.sin(p * b) / p),
]
_FS = [case[1] for case in CASES]


def _integral(p, b, a, i):
    return quad(lambda x, p, i: lax.switch(i, _FS, x, p), a, b, (p, i), **TIGHT)[0]


@jax.jit
def _derivatives(i, p, b, a):
    """First derivatives in p and in b in both modes, second in p and the mixed one, for
    case ``i`` (traced: one compilation for the battery). An infinite b has derivative 0."""
    f = functools.partial(_integral, a=a, i=i)
    value, rev_p = jax.value_and_grad(f, 0)(p, b)  # (a plain `f(p, b)` would add the value's own loop)
    out = dict(
        value=value,
        rev_p=rev_p,
        fwd_p=jax.jvp(lambda q: f(q, b), (p,), (1.0,))[1],
        jacfwd_p=jax.jacfwd(f, 0)(p, b),
        hess_fwd_rev=jax.hessian(f, 0)(p, b),
        hess_rev_rev=jax.jacrev(jax.jacrev(f, 0), 0)(p, b),
        rev_b=jax.grad(f, 1)(p, b),
        fwd_b=jax.jvp(lambda c: f(p, c), (b,), (1.0,))[1],
        mixed_fwd_rev=jax.jacfwd(jax.grad(f, 0), 1)(p, b),
        mixed_rev_rev=jax.jacrev(jax.grad(f, 1), 0)(p, b),
    )
    return out


def _closed_form_derivatives(closed, p, b):
    finite = bool(np.isfinite(b))
    with mp.workdps(30):
        p, b = mp.mpf(p), (mp.mpf(b) if finite else mp.inf)
        ref = dict(value=closed(p, b), p=mp.diff(lambda q: closed(q, b), p),
                   pp=mp.diff(lambda q: closed(q, b), p, 2))
        ref.update(b=0, pb=0)  # an infinite limit is not a direction
        if finite:
            ref.update(b=mp.diff(lambda c: closed(p, c), b),
                       pb=mp.diff(lambda q, c: closed(q, c), (p, b), (1, 1)))
        return {k: float(v) for k, v in ref.items()}


@pytest.mark.parametrize("i", range(len(CASES)), ids=[case[0] for case in CASES])
def test_forward_and_reverse_modes_agree_with_closed_forms(i):
    name, _, a, p, b, closed = CASES[i]
    got = {k: float(v) for k, v in _derivatives(i, p, b, a).items()}
    ref = _closed_form_derivatives(closed, p, b)

    def close(x, y, rtol):
        assert abs(x - y) <= rtol * max(1.0, abs(y)), (name, x, y)

    close(got["value"], ref["value"], 1e-10)
    for key in ("rev_p", "fwd_p", "jacfwd_p"):
        close(got[key], ref["p"], 1e-9)
    for key in ("hess_fwd_rev", "hess_rev_rev"):
        close(got[key], ref["pp"], 1e-8)
    for key in ("rev_b", "fwd_b"):
        close(got[key], ref["b"], 1e-10)
    for key in ("mixed_fwd_rev", "mixed_rev_rev"):
        close(got[key], ref["pb"], 1e-8)


@jax.jit
def _jacfwd_lower_limit_and_parameter(a, p):
    return jax.jacfwd(lambda a, p: quad(lambda x, p: x**p, a, 1.0, (p,), **TIGHT)[0], argnums=(0, 1))(a, p)


def test_forward_mode_beside_a_limit_where_the_integrand_is_infinite():
    # I(a, p) = ∫ₐ¹ xᵖ dx at a = 0, p = −½: ∂I/∂a = −aᵖ = −inf, ∂I/∂p = −1/(p + 1)² = −4.
    # jacfwd pushes the tangents (1, 0) and (0, 1): the Leibniz term f(a)·da was then
    # inf·0 = NaN in the p column, which reverse mode got right.
    d_a, d_p = _jacfwd_lower_limit_and_parameter(0.0, -0.5)
    assert float(d_a) == -np.inf
    assert abs(float(d_p) + 4.0) < 1e-9
