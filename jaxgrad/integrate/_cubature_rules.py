"""Embedded cubature rules on the cube [-1, 1]^d, as tables of nodes and weights.

A rule here is four arrays:

- `nodes` (n, d): points in [-1, 1]^d;
- `high`, `low` (n,): weights of the rule and of a lower-degree rule on the same points,
  normalised to the cube's mean (they sum to 1), so that for a box of volume V the
  estimates are V·Σ w f and the error estimate is V·|Σ (high − low) f|;
- `split` (d, n): one linear functional per axis whose magnitude says how much the
  integrand varies along that axis (the axis with the largest is halved).

d = 1 uses the 21-point Gauss–Kronrod pair of `quad` (its fourth difference is not
needed: an interval has one axis). d ≥ 2 uses the Genz–Malik rule, degree 7 with an
embedded degree 5 rule on 2^d + 2d² + 2d + 1 points (A. C. Genz and A. A. Malik, "An
adaptive algorithm for numerical integration over an n-dimensional rectangular region",
J. Comput. Appl. Math. 6 (1980) 295–302), and its fourth-difference axis selection:
along axis i, with λ₂² = 9/70 and λ₃² = 9/10,

    Dᵢ = f(c + λ₂eᵢ) + f(c − λ₂eᵢ) − 2f(c) − (λ₂²/λ₃²)·(f(c + λ₃eᵢ) + f(c − λ₃eᵢ) − 2f(c)),

which cancels the second-order term of the Taylor expansion and leaves the fourth.
`tests/test_cubature.py` checks the degrees of exactness against monomials.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from . import _gk


class Rule:
    """Nodes, weights and axis functionals of an embedded rule (numpy, float64), and
    for each axis the nodes next to each face that the jump check between two halves of
    a box uses (`_cubature_adaptive.py`): `face_nodes` (d, 2, 3), on the axis line, the
    three nodes nearest the lower face, then the upper one, outermost first, at the
    distances `face_t` (3,) from the centre; `pair_nodes` (d, 2, P, 2), on P lines
    parallel to the axis through other nodes, the node nearest each face and the one
    farthest from it, at ±`pair_t`."""

    def __init__(self, nodes, high, low, split, degree, face_nodes, face_t, pair_nodes=None, pair_t=0.0, low3=None,
                 first=None, second=None):
        self.nodes, self.high, self.low, self.split = nodes, high, low, split
        # A third rule, of degree 3 (None for d = 1): |low - low3| against |high - low|
        # says whether the rule's error estimate is in its asymptotic regime.
        self.low3 = low3
        # (d, n) each, with `split` (None for d = 1): the first and second differences
        # along each axis at ±λ₃; a kink along the axis between the nodes makes the
        # fourth difference a sizeable fraction of the second, a smooth f a small one.
        self.first, self.second = first, second
        self.degree = degree
        self.face_nodes, self.face_t = np.asarray(face_nodes), np.asarray(face_t)
        d = nodes.shape[1]
        self.pair_nodes = np.zeros((d, 2, 0, 2), int) if pair_nodes is None else np.asarray(pair_nodes)
        self.pair_t = pair_t

    @property
    def size(self):
        return self.nodes.shape[0]


def _gauss_kronrod_1d():
    nodes = _gk.NODES[:, None]
    high = _gk.KRONROD_WEIGHTS / 2.0
    low = _gk.GAUSS_WEIGHTS / 2.0
    n = nodes.shape[0]
    face = [[[0, 1, 2], [n - 1, n - 2, n - 3]]]
    return Rule(nodes, high, low, np.zeros((1, n)), degree=31, face_nodes=face, face_t=-_gk.NODES[:3])


def _genz_malik(d):
    lam2, lam3, lam4, lam5 = np.sqrt(9 / 70), np.sqrt(9 / 10), np.sqrt(9 / 10), np.sqrt(9 / 19)
    eye = np.eye(d)
    pts, high, low = [np.zeros(d)], [(12824 - 9120 * d + 400 * d * d) / 19683], [(729 - 950 * d + 50 * d * d) / 729]
    idx2, idx3 = [], []
    for lam, w7, w5, store in (
        (lam2, 980 / 6561, 245 / 486, idx2),
        (lam3, (1820 - 400 * d) / 19683, (265 - 100 * d) / 1458, idx3),
    ):
        for i in range(d):
            for s in (1.0, -1.0):
                store.append(len(pts))
                pts.append(s * lam * eye[i])
                high.append(w7)
                low.append(w5)
    idx4 = {}
    for i, j in itertools.combinations(range(d), 2):
        for si, sj in itertools.product((1.0, -1.0), repeat=2):
            idx4[(i, si, j, sj)] = idx4[(j, sj, i, si)] = len(pts)
            pts.append(si * lam4 * eye[i] + sj * lam4 * eye[j])
            high.append(200 / 19683)
            low.append(25 / 729)
    for signs in itertools.product((1.0, -1.0), repeat=d):
        pts.append(lam5 * np.array(signs))
        high.append(6859 / 19683 / 2**d)
        low.append(0.0)
    nodes = np.array(pts)
    # Genz and Malik's weights give the cube's integral as 2^d·Σ w f: they are
    # already weights of the mean.
    high, low = np.array(high), np.array(low)
    # Degree 3 on the centre and ±λ₃eᵢ: w₀ + 2d·w₃ = 1 and 2w₃λ₃² = 1/3 (the mean of xᵢ²);
    # odd moments and xᵢxⱼ vanish by symmetry.
    low3 = np.zeros(nodes.shape[0])
    w3 = 1 / (6 * lam3**2)
    low3[idx3] = w3
    low3[0] = 1 - 2 * d * w3
    split = np.zeros((d, nodes.shape[0]))
    # The first and second differences along each axis at ±λ₃: f(c + λ₃eᵢ) − f(c − λ₃eᵢ)
    # and f(c + λ₃eᵢ) + f(c − λ₃eᵢ) − 2f(c).
    first, second = np.zeros((d, nodes.shape[0])), np.zeros((d, nodes.shape[0]))
    for i in range(d):
        first[i, idx3[2 * i]], first[i, idx3[2 * i + 1]] = 1.0, -1.0
        second[i, idx3[2 * i]] = second[i, idx3[2 * i + 1]] = 1.0
        second[i, 0] = -2.0
    ratio = lam2**2 / lam3**2
    for i in range(d):
        split[i, idx2[2 * i]] += 1.0
        split[i, idx2[2 * i + 1]] += 1.0
        split[i, idx3[2 * i]] -= ratio
        split[i, idx3[2 * i + 1]] -= ratio
        split[i, 0] += -2.0 + 2.0 * ratio
    # (idx2/idx3 hold +λ then -λ for each axis.)
    face = [[[idx3[2 * i + 1], idx2[2 * i + 1], 0], [idx3[2 * i], idx2[2 * i], 0]] for i in range(d)]
    # The pair nodes ±λ₄eᵢ ± λ₄eⱼ: along axis i, lines through x_j = ±λ₄.
    pair = [
        [[[idx4[(i, face_sign, j, sj)], idx4[(i, -face_sign, j, sj)]] for j in range(d) if j != i for sj in (1.0, -1.0)]
         for face_sign in (-1.0, 1.0)]
        for i in range(d)
    ]
    return Rule(nodes, high, low, split, degree=7, face_nodes=face, face_t=[lam3, lam2, 0.0],
                pair_nodes=pair, pair_t=lam4, low3=low3, first=first, second=second)


@functools.lru_cache(maxsize=None)
def rule_for(d: int) -> Rule:
    """The embedded rule used for boxes of dimension `d`."""
    if d < 1:
        raise ValueError(f"no cubature rule for dimension {d}")
    return _gauss_kronrod_1d() if d == 1 else _genz_malik(d)
