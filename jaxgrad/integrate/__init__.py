"""Differentiable adaptive quadrature."""

from ._cubature import cubature as cubature
from ._qmc import QMC_STATUS as QMC_STATUS, QMCInfo as QMCInfo, qmc_quad as qmc_quad
from ._quad import quad as quad
from ._quadosc import quadosc as quadosc
from ._status import STATUS as STATUS, QuadInfo as QuadInfo
from ._iterated import dblquad as dblquad, nquad as nquad, tplquad as tplquad
