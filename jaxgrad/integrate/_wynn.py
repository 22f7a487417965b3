"""Wynn's ε-algorithm, the sequence transformation of QUADPACK's QELG (Wynn 1956).

For partial sums or refined approximations Sₙ that converge like a sum of geometric
(or alternating) terms,

    ε₋₁⁽ⁿ⁾ = 0,  ε₀⁽ⁿ⁾ = Sₙ,  εₖ₊₁⁽ⁿ⁾ = εₖ₋₁⁽ⁿ⁺¹⁾ + 1 / (εₖ⁽ⁿ⁺¹⁾ − εₖ⁽ⁿ⁾),

the even columns ε₂ⱼ converge much faster than Sₙ. Used by `quadosc` (partial sums of
half periods) and by the adaptive loop of `quad` (totals as a singular point is
bisected, QAGS's extrapolation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._power_of_two import power_of_two_scale
from .._where import where


def wynn_epsilon(s, count=None):
    """Best extrapolated limit of the sequence `s` (shape (n, ...), n >= 3) and its error.

    `count` (traced; default n): how many of the last entries of `s` are its terms; the
    entries before them repeat its first term, which ε treats as invalid (their
    differences vanish), so only the first `count - 3` columns can give an estimate and
    no others are computed.

    Each even column of the ε-table gives an estimate (its last entry); its error is
    the spread of the column's last three entries. The estimate with the smallest
    error is returned. An entry whose denominator vanishes (the sequence has converged
    to rounding there) is invalid, and so is everything computed from it; invalid
    entries hold finite dummies so that derivatives stay finite, and are never chosen.

    The columns are stored right-aligned, Eₖ[i] = εₖ⁽ⁱ⁻ᵏ⁾ (the entry whose window of the
    sequence ends at sᵢ), so that the rule reads Eₖ₊₁[i] = Eₖ₋₁[i − 1] + 1/(Eₖ[i] − Eₖ[i − 1])
    and every column's last entries sit at the same, static, positions. The columns are
    computed in a `fori_loop` on arrays of fixed length n, so the compiled size does
    not grow with n.
    """
    n = s.shape[0]
    # The table is built for s/β, β a power of two near the largest |term| (per
    # component; ε is equivariant under scaling, and a power of two changes no digit):
    # at amplitudes near 1e295 the reciprocals of the differences overflowed, near
    # 1e-300 the differences fell below `tiny`, and ∫₀^∞ c·sin(x)/x came out 0.8 % off,
    # `divergent` (outside probe).
    beta = power_of_two_scale(s, axis=0)
    s = s / beta
    tiny = jnp.finfo(s.dtype).tiny / jnp.finfo(s.dtype).eps
    idx = jnp.arange(n).reshape((n,) + (1,) * (s.ndim - 1))

    def estimate(col):  # its last entry and the spread of the last three
        return col[-1], jnp.abs(col[-1] - col[-2]) + jnp.abs(col[-1] - col[-3])

    def back(x):  # x[i - 1] at i (the first entry is padding)
        return jnp.concatenate([x[:1], x[:-1]], axis=0)

    def column(k, carry):
        prev, prev_ok, cur, cur_ok, best, best_err = carry
        diff = cur - back(cur)
        ok = (idx >= k + 1) & cur_ok & back(cur_ok) & back(prev_ok) & (jnp.abs(diff) > tiny)
        nxt = where(ok, back(prev) + 1 / where(ok, diff, 1.0), 0.0)
        ok = ok & jnp.isfinite(nxt)
        nxt = where(ok, nxt, 0.0)
        est, err = estimate(nxt)
        ok3 = ok[-1] & ok[-2] & ok[-3]
        better = ((k + 1) % 2 == 0) & (n - k - 1 >= 3) & ok3 & (err < best_err)
        best = where(better, est, best)
        best_err = where(better, err, best_err)
        return cur, cur_ok, nxt, ok, best, best_err

    best, best_err = estimate(s)
    ones = jnp.ones(s.shape, bool)
    carry = (jnp.zeros_like(s), ones, s, ones, best, best_err)
    ncol = n - 3 if count is None else jnp.clip(count, 3, n) - 3
    carry = jax.lax.fori_loop(0, ncol, column, carry)
    return carry[4] * beta, carry[5] * beta
