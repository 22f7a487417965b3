"""Random test inputs shared by the spectral benchmarks."""

from __future__ import annotations

import numpy as np


def random_orthogonal(rng, batch, n):
    """``batch`` Haar-distributed orthogonal ``n``×``n`` matrices (QR of Gaussian matrices,
    with the sign ambiguity of QR fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((batch, n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
