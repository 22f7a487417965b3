"""Every public docstring example runs and prints what it says.

The examples show what a user sees by default, so they run with x64 disabled
(float32), restoring the suite's setting afterwards.
"""

import doctest

import pytest

from jaxgrad.linalg import (
    _eig,
    _eigh,
    _eigh_generalized,
    _eigsh,
    _funm,
    _matfuncs,
    _polar,
    _svd,
    _svd_funm,
    _svd_spectral,
)

MODULES = [_eigh, _svd, _eig, _funm, _matfuncs, _polar, _eigh_generalized, _svd_funm, _svd_spectral, _eigsh]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module, float32_default):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
