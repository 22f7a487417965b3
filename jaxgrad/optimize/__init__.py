"""Optax-driven solvers whose solutions are differentiated implicitly, and seed problems."""

from ._minimize import minimize as minimize
from ._solution import Solution as Solution
from ._status import Status as Status
from ._seeds import IterationStatus as IterationStatus
from ._seeds import NewtonSchulzResult as NewtonSchulzResult
from ._seeds import SVDByMinimize as SVDByMinimize
from ._seeds import brockett_loss as brockett_loss
from ._seeds import inverse_by_minimize as inverse_by_minimize
from ._seeds import inverse_eigenvalue_loss as inverse_eigenvalue_loss
from ._seeds import inverse_eigenvalues as inverse_eigenvalues
from ._seeds import inverse_loss as inverse_loss
from ._seeds import newton_schulz_inverse as newton_schulz_inverse
from ._seeds import steps_to_loss as steps_to_loss
from ._seeds import svd_by_minimize as svd_by_minimize
from ._seeds import symmetric_from_triu as symmetric_from_triu
from ._seeds import triu_of as triu_of
from ._tikhonov import tikhonov as tikhonov
