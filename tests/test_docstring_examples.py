"""The runnable examples in the package's docstrings stay true: every module of refimpl with
a ``>>>`` example is run by doctest (found by walking the package, so none is forgotten)."""
import doctest
import importlib
import pkgutil

import pytest

import refimpl


def modules_with_examples():
    names = [m.name for m in pkgutil.walk_packages(refimpl.__path__, "refimpl.")]
    found = []
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and spec.origin.endswith(".py"):
            with open(spec.origin, encoding="utf-8") as f:
                if ">>> " in f.read():
                    found.append(name)
    return found


MODULES = modules_with_examples()


def test_examples_are_found():
    assert {"refimpl.modules.linear", "refimpl.metric.operators"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
