"""Differentiable adaptive quadrature."""

from ._cubature import cubature as cubature
from ._quad import quad as quad
from ._quadosc import quadosc as quadosc
from ._status import STATUS as STATUS, QuadInfo as QuadInfo
