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


def wynn_epsilon(s, count=None, diagonal=False):
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

    `diagonal=True` also returns QUADPACK's QELG choice (R. Piessens et al., QUADPACK,
    Springer 1983), `(value, error, converged)`: along the newest diagonal (the last
    entries of the even columns), from ε₂ up, the entry `res` with the smallest
    err₂ + |res − e₂| + err₃, where e₀, e₁, e₂ are the last three entries of the even
    column before it; the walk stops where e₀, e₁, e₂ agree to rounding (`converged`:
    e₂ is the value, err₂ + err₃ its error), where two entries are that close, or where
    the table turns irregular (QELG's |ss·e₁| ≤ 1e-4, ss from the cross rule's
    differences). QELG builds its diagonal one term at a time: where its table holds
    the whole window (no earlier cut) the entries are the same numbers up to rounding
    (QELG uses Wynn's cross rule between even columns, this the rhombus rule through the
    odd ones), and so is the choice, unless one of its tests falls at the rounding level
    (entries one ulp apart in QELG, a few here: the walk can then go one column further).
    After an irregular stop QELG cuts its table to the terms since, and for the next
    terms uses fewer columns than this walk, which always sees the whole window (an
    outside review: 11 sequences, about 950 calls).
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

    eps = jnp.finfo(s.dtype).eps

    def qelg_step(k, prev, prev_ok, nxt, ok, q):
        """QELG's walk along the newest diagonal at the even column k + 1 (see above)."""
        q_best, q_err, q_done, q_conv, w3 = q
        e2, e1, e0, e3 = prev[-1], prev[-2], prev[-3], w3
        first = jnp.isinf(e3)  # ε₂: no column two before (QELG's e₃ is its overflow value)
        err1, err2, err3 = jnp.abs(e1 - e3), jnp.abs(e2 - e1), jnp.abs(e1 - e0)
        tol1 = jnp.maximum(jnp.abs(e1), jnp.abs(e3)) * eps
        tol2 = jnp.maximum(jnp.abs(e2), jnp.abs(e1)) * eps
        tol3 = jnp.maximum(jnp.abs(e1), jnp.abs(e0)) * eps
        converged = (err2 <= tol2) & (err3 <= tol3)
        close = (~first & (err1 <= tol1)) | (err2 <= tol2) | (err3 <= tol3)
        inv = lambda d: 1 / where(close, 1.0, d)  # noqa: E731
        ss = where(first, 0.0, inv(e1 - e3)) + inv(e2 - e1) - inv(e1 - e0)
        irregular = ~(jnp.abs(ss * e1) > 1e-4)
        active = ((k + 1) % 2 == 0) & ~q_done
        usable = prev_ok[-1] & prev_ok[-2] & prev_ok[-3]
        here = active & usable & converged
        q_best, q_err, q_conv = where(here, e2, q_best), where(here, err2 + err3, q_err), q_conv | here
        step = active & usable & ~close & ~irregular & ok[-1]
        res = nxt[-1]
        error = err2 + jnp.abs(res - e2) + err3
        better = step & (error <= q_err)
        q_best, q_err = where(better, res, q_best), where(better, error, q_err)
        return q_best, q_err, q_done | (active & ~step), q_conv, where((k + 1) % 2 == 0, e0, w3)

    def column(k, carry):
        prev, prev_ok, cur, cur_ok, best, best_err, q = carry
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
        if diagonal:
            q = qelg_step(k, prev, prev_ok, nxt, ok, q)
        return cur, cur_ok, nxt, ok, best, best_err, q

    best, best_err = estimate(s)
    ones = jnp.ones(s.shape, bool)
    inf = jnp.full(s.shape[1:], jnp.inf, s.dtype)
    no = jnp.zeros(s.shape[1:], bool)
    q = (s[-1], inf, no, no, inf) if diagonal else ()
    carry = (jnp.zeros_like(s), ones, s, ones, best, best_err, q)
    # (The diagonal needs the last entry of two columns more than the estimates do.)
    extra = 2 if diagonal else 0
    ncol = n - 3 + extra if count is None else jnp.clip(count, 3, n) - 3 + extra
    carry = jax.lax.fori_loop(0, ncol, column, carry)
    if not diagonal:
        return carry[4] * beta, carry[5] * beta
    q_best, q_err, _, q_conv, _ = carry[6]
    return carry[4] * beta, carry[5] * beta, (q_best * beta, q_err * beta, q_conv)
