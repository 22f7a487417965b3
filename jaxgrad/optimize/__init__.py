"""Optax-driven solvers whose solutions are differentiated implicitly, and matrix problems solved with them.

The problems: a symmetric matrix with prescribed eigenvalues (the inverse symmetric
eigenvalue problem), the matrix inverse (by minimisation and by the Newton–Schulz
iteration) and the singular value decomposition by optimisation over rotations.
"""

from ._minimize import minimize as minimize
from ._linesearch import ScaleByWolfeLinesearchState as ScaleByWolfeLinesearchState
from ._linesearch import WolfeLinesearchInfo as WolfeLinesearchInfo
from ._linesearch import scale_by_wolfe_linesearch as scale_by_wolfe_linesearch
from ._solution import Solution as Solution
from ._status import Status as Status
from ._tikhonov import tikhonov as tikhonov
from ._inverse_eigenvalue_problem import eigenvalue_misfit as eigenvalue_misfit
from ._inverse_eigenvalue_problem import symmetric_from_triu as symmetric_from_triu
from ._inverse_eigenvalue_problem import symmetric_with_eigenvalues as symmetric_with_eigenvalues
from ._inverse_eigenvalue_problem import triu_of as triu_of
from ._inverse_by_minimize import inverse_by_minimize as inverse_by_minimize
from ._inverse_by_minimize import inverse_loss as inverse_loss
from ._newton_schulz import NewtonSchulzResult as NewtonSchulzResult
from ._newton_schulz import NewtonSchulzStatus as NewtonSchulzStatus
from ._newton_schulz import newton_schulz_inverse as newton_schulz_inverse
from ._svd_by_minimize import SVDByMinimizeResult as SVDByMinimizeResult
from ._svd_by_minimize import svd_by_minimize as svd_by_minimize
from ._svd_by_minimize import svd_trace_loss as svd_trace_loss
