"""Generating vectors of embedded rank-1 lattice rules in base 2, by fast component-by-component search.

A rank-1 lattice rule with generating vector z ∈ ℤᵈ and n points is the point set
{k z / n mod 1 : k = 0, …, n − 1}. An *embedded* (extensible) sequence uses one z for every
n = 2ᵐ up to N = 2ᴹ: taken in radical-inverse order, k = ψ(i) (the M-bit reversal of i), the
first 2ᵐ points are exactly the lattice of size 2ᵐ with z mod 2ᵐ. So the number of points
can be doubled, reusing every point already computed (Hickernell, Hong, L'Écuyer and Lemieux,
"Extensible lattice sequences for quasi-Monte Carlo quadrature", SIAM J. Sci. Comput. 22, 2001).

Criterion. For a randomly shifted lattice rule the mean square error over the shifts, in the
weighted Korobov space of smoothness α = 1 with product weights γⱼ (equivalently the shift-averaged
worst-case error of the unanchored Sobolev space of first-order mixed derivatives, up to the
scaling of the weights), is

    e²ₙ(z) = −1 + (1/n) Σₖ Πⱼ (1 + γⱼ ω({k zⱼ / n})),     ω(x) = 2π² B₂(x) = 2π² (x² − x + 1/6),

since Σ_{h≠0} e^{2πihx}/h² = 2π² B₂({x}) (Sloan and Joe, "Lattice Methods for Multiple
Integration", 1994; Dick, Kuo and Sloan, Acta Numerica 22, 2013, §5). Component by component
(CBC): z₁ = 1 and each zⱼ is the odd number that is best with z₁ … zⱼ₋₁ fixed. For the
embedded sequence, "best" is the criterion of Cools, Kuo and Nuyens ("Constructing embedded
lattice rules for multivariate integration", SIAM J. Sci. Comput. 28, 2006): minimise
max over m ∈ [m_lo, M] of e²_{2ᵐ}(z) / min_{z'} e²_{2ᵐ}(z'), the worst loss against the best
choice for each size alone.

Fast CBC (Nuyens and Cools, "Fast component-by-component construction of rank-1 lattice rules
with a non-prime number of points", J. Complexity 22, 2006). With pₖ = Π_{i<j}(1 + γᵢ ω({k zᵢ/N}))
the search needs T(z) = Σₖ pₖ ω({k z / N}) for every odd z. Split k = 2^{M−L} u with u odd:
then k z / N = u z / 2ᴸ, so T = p₀ ω(0) + Σ_{L=1}^{M} c_L(z mod 2ᴸ) with
c_L(z) = Σ_{u odd < 2ᴸ} p_{2^{M−L} u} ω({u z / 2ᴸ}), and the lattice of size 2ᵐ uses the terms
L ≤ m only. For L ≥ 3 the odd residues mod 2ᴸ are ±5ᵃ, a < 2^{L−2} (5 generates the cyclic
part of the unit group), and ω(1 − x) = ω(x), so with z = ±5ᵇ

    c_L(b) = Σₐ W[a + b] Q[a],   W[a] = ω(5ᵃ mod 2ᴸ / 2ᴸ),   Q[a] = p_{2^{M−L}·5ᵃ} + p_{2^{M−L}·(−5ᵃ)},

a cyclic correlation of length 2^{L−2}, computed by FFT: O(N log N) per component instead
of the O(N²) of a plain search. `tests/test_qmc.py` checks it against the plain search.

The construction is numpy, run once per (m_lo, M) and extended dimension by dimension
(the first d components do not depend on how many follow), at trace time only.
"""

from __future__ import annotations

import numpy as np

# Product weights γⱼ of the criterion: the projection on the coordinates in u is worth
# Π_{j∈u} γⱼ. The integrands this is for (expectations over d inputs of comparable
# importance) are not ordered, so the weights do not decay with j; a small constant ranks
# the one-, two- and three-dimensional projections of *all* coordinates first. Measured on
# the Gaussian-product family over [0, 1]ᵈ (random shift and tent transform, 2¹⁴ points):
# γ = 0.05 gave relative RMS errors 2.3e-6 (d = 10) and 4.1e-6 (d = 50); γⱼ = 1/j gave
# 2.3e-5 and 2.0e-5, γⱼ = 1/(1 + j/10) 2.5e-5 and 6.5e-3 (no convergence at d = 50), γ = 0.3
# 5.7e-6 and 1.9e-5, γ = 0.01 4.9e-5 and 4.1e-6.
GAMMA = 0.05


def weight(j: int) -> float:
    """γⱼ for the coordinate j = 1, 2, … (1-based)."""
    return GAMMA


def _omega(x):
    """ω(x) = 2π² B₂(x) on [0, 1): Σ_{h≠0} e^{2πihx} / h²."""
    return 2.0 * np.pi**2 * (x * x - x + 1.0 / 6.0)


def _powers_of_5(big_m: int) -> np.ndarray:
    """5ᵃ mod 2ᴹ for a < 2^{M−2} (int64; exact, every product is below 2⁴⁸)."""
    n, size = 1 << big_m, max(1 << (big_m - 2), 1)
    out = np.ones(1, np.int64)
    step = 5 % n
    while out.size < size:
        out = np.concatenate([out, out * step % n])
        step = step * step % n
    return out[:size]


class _Embedded:
    """Incremental fast-CBC state for one (m_lo, M): the vector so far and the products pₖ."""

    def __init__(self, m_lo: int, big_m: int):
        self.m_lo, self.big_m = m_lo, big_m
        self.n = 1 << big_m
        self.z: list[int] = []
        self.p = np.ones(self.n)
        self.k = np.arange(self.n, dtype=np.int64)
        if big_m >= 3:
            self.pow5 = _powers_of_5(big_m)

    def _update(self, z: int, gamma: float):
        self.z.append(int(z))
        self.p *= 1.0 + gamma * _omega((self.k * z % self.n) / self.n)

    def _criteria(self, gamma: float):
        """e²_{2ᵐ} for every candidate b (z = 5ᵇ mod N) and every m = 0 … M, as a list of
        arrays: entry m has length 2^{max(m−2, 0)} (it depends on b mod that only)."""
        big_m, p = self.big_m, self.p
        t = [np.full(1, p[0] * _omega(0.0))]  # T for the lattice of size 2⁰
        s = [p[0]]  # S_m = Σ_{k ∈ K_m} pₖ
        for level in range(1, big_m + 1):
            stride = 1 << (big_m - level)
            size = 1 << level
            if level <= 2:  # the odd residues are ±1 (and ±3 = ∓1 mod 4): ω takes one value
                u = np.arange(1, size, 2)
                c = np.full(1, np.sum(p[stride * u]) * _omega(1.0 / size))
            else:
                period = 1 << (level - 2)
                r = self.pow5[:period] % size
                w = _omega(r / size)
                q = p[stride * r] + p[stride * ((size - r) % size)]
                c = np.fft.irfft(np.fft.rfft(w) * np.conj(np.fft.rfft(q)), n=period)
            prev = t[-1]
            t.append(np.tile(prev, c.size // prev.size) + c if c.size >= prev.size else prev + c)
            s.append(s[-1] + np.sum(p[stride * np.arange(1, size, 2)]))
        return [-1.0 + (s[m] + gamma * t[m]) / (1 << m) for m in range(big_m + 1)]

    def extend(self, d: int):
        while len(self.z) < d:
            j = len(self.z) + 1
            gamma = weight(j)
            if j == 1 or self.big_m < 3:
                # Every odd z gives the same one-dimensional projection (a permutation of
                # k/n); below 8 points every odd z gives the same lattice up to reflection.
                self._update(1, gamma)
                continue
            errs = self._criteria(gamma)
            full = 1 << (self.big_m - 2)
            worst = np.zeros(full)
            for m in range(max(self.m_lo, 0), self.big_m + 1):
                e = errs[m]
                ratio = e / np.min(e)
                worst = np.maximum(worst, np.tile(ratio, full // ratio.size))
            b = int(np.argmin(worst))  # the first minimiser: deterministic
            self._update(int(self.pow5[b]), gamma)
        return np.asarray(self.z[:d], np.int64)


_CACHE: dict[tuple[int, int], _Embedded] = {}


def generating_vector(d: int, m_lo: int, big_m: int) -> np.ndarray:
    """z ∈ ℤᵈ (odd, < 2ᴹ) of the embedded lattice sequence for the sizes 2^{m_lo} … 2ᴹ."""
    if not 0 <= m_lo <= big_m <= 30:
        raise ValueError(f"need 0 <= m_lo <= M <= 30; got {m_lo}, {big_m}")
    state = _CACHE.get((m_lo, big_m))
    if state is None:
        state = _CACHE[(m_lo, big_m)] = _Embedded(m_lo, big_m)
    return state.extend(d)


def shift_averaged_error(z, n: int) -> float:
    """e²ₙ(z) of the lattice rule {k z / n} (plain O(n d) sum; for tests and benchmarks)."""
    z = np.asarray(z, np.int64)
    k = np.arange(n, dtype=np.int64)[:, None]
    gamma = np.array([weight(j + 1) for j in range(z.size)])
    return float(-1.0 + np.mean(np.prod(1.0 + gamma * _omega((k * z % n) / n), axis=1)))
