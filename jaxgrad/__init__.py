"""jaxgrad: numerical building blocks whose derivatives are right where autodiff usually breaks."""

from . import integrate as integrate
from . import linalg as linalg
from . import optimize as optimize

__version__ = "0.1.0"
