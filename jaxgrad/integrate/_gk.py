"""The 21-point Gauss–Kronrod pair (10-point Gauss rule embedded) on [-1, 1].

The values were generated for this project with mpmath at 60 digits: the Gauss nodes
are the zeros of the Legendre polynomial P₁₀; the 11 Kronrod nodes are the zeros of the
Stieltjes polynomial E₁₁ (the monic odd polynomial of degree 11 with
∫ E₁₁(x) P₁₀(x) xᵏ dx = 0 for k < 11, Kronrod 1965); the Kronrod weights make the
21-point rule exact for all polynomials of degree ≤ 31 (solved as moment equations in the
Legendre basis). `tests/test_quad.py` re-checks both degrees of exactness.
"""

from __future__ import annotations

import numpy as np

# Kronrod nodes in increasing order; the Gauss nodes are the odd-indexed ones.
_XK_POS = [
    0.148874338981631210884826,
    0.2943928627014601981311266,
    0.4333953941292471907992659,
    0.5627571346686046833390001,
    0.6794095682990244062343274,
    0.7808177265864168970637176,
    0.8650633666889845107320967,
    0.9301574913557082260012072,
    0.973906528517171720077964,
    0.9956571630258080807355273,
]
_WK_POS = [
    0.1477391049013384913748415,
    0.1427759385770600807970943,
    0.134709217311473325928054,
    0.1234919762620658510779581,
    0.1093871588022976418992106,
    0.09312545458369760553506547,
    0.07503967481091995276704314,
    0.0547558965743519960313813,
    0.03255816230796472747881897,
    0.0116946388673718742780644,
]
_WK_MID = 0.1494455540029169056649365
_WG_POS = [  # Gauss weights at _XK_POS[0], [2], [4], [6], [8]
    0.295524224714752870173893,
    0.2692667193099963550912269,
    0.2190863625159820439955349,
    0.1494513491505805931457763,
    0.06667134430868813759356881,
]

NODES = np.array([-x for x in reversed(_XK_POS)] + [0.0] + _XK_POS)
"""The 21 Kronrod nodes on [-1, 1], increasing."""

KRONROD_WEIGHTS = np.array(list(reversed(_WK_POS)) + [_WK_MID] + _WK_POS)
"""Weights of the 21-point Kronrod rule (exact to degree 31)."""

_wg = np.zeros(21)
for _i, _w in enumerate(_WG_POS):
    _wg[11 + 2 * _i] = _w
    _wg[9 - 2 * _i] = _w
GAUSS_WEIGHTS = _wg
"""Weights of the embedded 10-point Gauss rule on the same 21 nodes (zeros elsewhere)."""

del _i, _w, _wg
