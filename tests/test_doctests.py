"""Run every docstring example of the dlnkit package, imported through the dlnkit.* namespace."""

import doctest
import importlib
import pkgutil

import pytest

import dlnkit


def _modules():
    names = []
    for info in pkgutil.walk_packages(dlnkit.__path__, prefix="dlnkit."):
        names.append(info.name)
    for sub in ("dlnkit.theory", "dlnkit.numerics"):
        mod = importlib.import_module(sub)
        names += [sub] + [i.name for i in pkgutil.walk_packages(mod.__path__, prefix=sub + ".")]
    # dlnkit.__main__ runs the CLI on import; it has no examples
    return sorted(set(names) - {"dlnkit.__main__"})


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {name}"
