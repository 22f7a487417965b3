"""jaxgrad: numerical building blocks whose derivatives are right where autodiff usually breaks."""

from . import integrate as integrate
from ._check_grad import GradCheckEntry as GradCheckEntry
from ._check_grad import GradCheckReport as GradCheckReport
from ._check_grad import check_grad as check_grad
from ._check_grad import finite_difference_grad as finite_difference_grad
from . import linalg as linalg
from . import optimize as optimize

__version__ = "0.1.0"
