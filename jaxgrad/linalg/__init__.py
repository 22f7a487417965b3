"""Spectral decompositions whose derivatives are right at repeated eigenvalues.

Drop-in replacements for the matching functions of `jax.numpy.linalg`.
"""

from ._eig import EigResult as EigResult
from ._eig import eig as eig
from ._eig import eigvals as eigvals
from ._eigh import EighResult as EighResult
from ._eigh import eigh as eigh
from ._eigh import eigvalsh as eigvalsh
from ._svd import SVDResult as SVDResult
from ._svd import svd as svd
from ._svd import svdvals as svdvals
