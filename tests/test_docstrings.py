"""Every public docstring example runs and prints what it says."""

import doctest

import pytest

from jaxgrad.linalg import _eig, _eigh, _svd

MODULES = [_eigh, _svd, _eig]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
