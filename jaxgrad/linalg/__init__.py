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
from ._funm import funm as funm
from ._svd_funm import svd_funm as svd_funm
from ._svd_spectral import nuclear_norm as nuclear_norm
from ._svd_spectral import svd_trace_function as svd_trace_function
from ._svd_spectral import svt as svt
from ._matfuncs import expm as expm
from ._matfuncs import inv_sqrtm as inv_sqrtm
from ._matfuncs import logm as logm
from ._matfuncs import powm as powm
from ._matfuncs import projector as projector
from ._matfuncs import sqrtm as sqrtm
from ._matfuncs import trace_function as trace_function
from ._polar import PolarResult as PolarResult
from ._polar import polar as polar
from ._eigh_generalized import eigh_generalized as eigh_generalized
from ._eigsh import EigshInfo as EigshInfo
from ._eigsh import EigshResult as EigshResult
from ._eigsh import EigshStatus as EigshStatus
from ._eigsh import eigsh as eigsh
