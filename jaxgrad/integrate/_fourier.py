"""Fourier integrals over a half line: `quad(f, a, inf, weight="cos" | "sin", wvar=ω)`.

∫ₐ^∞ f(x) cos(ωx) dx with a slowly decaying f (1/(1 + x²), x^-½) converges through
the cancellation between half periods, not because the tail is small: the product
integrated on the mapped half line was 0.57716 for 0.57786 at ω = 1 (flagged
`max_subdivisions`) and of the wrong sign at ω = 10. `scipy.integrate.quad` computes
these with QUADPACK's QAWF (Piessens et al. 1983, "QUADPACK", §2.2.2 and the QAWF
routine), and so does this module, in its own terms: the range is cut into cycles

    [a + k·c, a + (k + 1)·c],   c = (2⌊|ω|⌋ + 1)·π/|ω|,   k = 0, ..., limlst − 1,

an odd number of half periods each, so that cos(ω(x + c)) = −cos(ωx): for an f that
varies slowly over a cycle, consecutive cycles' integrals alternate in sign and their
partial sums converge like an alternating series, which Wynn's ε-algorithm
extrapolates. For |ω| ≥ 1 a cycle is between 2π and 3π long whatever ω, so the default
50 cycles reach 100π–150π past the finite limit (QAWF's reach: f's features must lie
within it, its tail beyond it must be in the asymptotic regime); for |ω| < 1 a cycle
is one half period π/|ω|. That is `quadosc` with a half period of c: each cycle is
integrated by `quad` with its own error control and the partial sums extrapolated
(`_quadosc.py` has the details, the derivatives and the statuses). QAWF integrates a
cycle with QAWO's Chebyshev moments; here the product is integrated by the adaptive
loop, whose cost grows with the ⌊|ω|⌋ oscillations a cycle holds.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from ._quadosc import _infinite_sign, quadosc
from ._status import QuadInfo, status_from_code


def is_fourier_half_line(weight, wvar, a, b):
    """Whether `quad` with this weight and these limits is a Fourier integral over a half
    line or the whole line: a trigonometric weight, a limit that is a concrete infinity
    (not both the same one: that range is empty), and an ω that is not a concrete 0
    (cos(0·x) = 1 and sin(0·x) = 0 are no weights)."""
    sa, sb = _infinite_sign(a), _infinite_sign(b)
    if weight not in ("cos", "sin") or sa == sb:
        return False
    try:
        return float(wvar) != 0
    except TypeError:  # traced ω (jax's ConcretizationTypeError is a TypeError)
        return True


def fourier_half_line(fn, f, a, b, args, *, weight, omega, points, epsabs, epsrel, limit, limlst, complex_func,
                      throw):
    """∫ₐᵇ f(x)·trig(ωx) dx with at least one infinite limit, by cycles and extrapolation
    (see the module's docstring); `(value, QuadInfo)` as `quad` returns them."""
    if np.shape(points) != (0,):
        raise ValueError(f"{fn}: `points` cannot be combined with weight={weight!r} on an infinite range "
                         "(split the range at the points and integrate the half line from the last one).")
    sa, sb = _infinite_sign(a), _infinite_sign(b)
    options = dict(weight=weight, omega=omega, points=points, epsabs=epsabs, epsrel=epsrel, limit=limit,
                   limlst=limlst, complex_func=complex_func, throw=throw)
    if sa > 0 or sb < 0:  # reversed: minus the integral from b to a
        value, info = fourier_half_line(fn, f, b, a, args, **options)
        return -value, info
    if sa and sb:  # (-inf, inf): the half lines on either side of 0
        (v0, i0), (v1, i1) = (fourier_half_line(fn, f, lo, hi, args, **options) for lo, hi in ((a, 0.0), (0.0, b)))
        code = jnp.maximum(i0.status._value, i1.status._value)  # the worse of the two (codes are ordered)
        return v0 + v1, QuadInfo(err=i0.err + i1.err, neval=i0.neval + i1.neval, status=status_from_code(code))
    trig = jnp.cos if weight == "cos" else jnp.sin
    w = jnp.abs(jnp.asarray(omega))
    # The cycle is where the sum is cut, not part of the integral: no derivative flows
    # through it (⌊|ω|⌋ is piecewise constant anyway). A traced ω = 0 makes it infinite,
    # which `quadosc` reports as NaN with `nan_limits`.
    cycle = lax.stop_gradient((2 * jnp.floor(w) + 1) * math.pi / w)

    def g(x, omega, *args):
        y = trig(omega * x) * jnp.asarray(f(x, *args))
        return jnp.stack([jnp.real(y), jnp.imag(y)]) if complex_func else y

    value, info = quadosc(g, a, b, (omega, *args), period=2 * cycle, epsabs=epsabs, epsrel=epsrel, cycles=limlst,
                          limit=limit, throw=throw)
    err = jnp.hypot(info.err[0], info.err[1]) if complex_func else info.err
    if complex_func:
        value = value[0] + 1j * value[1]
    # (`neval` as `quad`'s own loop counts it; quadosc's sum of the cycles' is wider.)
    return value, QuadInfo(err=err, neval=info.neval.astype(jnp.int32), status=info.status)
