"""The runnable examples in the experiments' docstrings stay true."""
import doctest
import importlib

import pytest

MODULES = ["refimpl.experiments.config", "refimpl.experiments.progress"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
