"""Packaging facts that a release depends on: one version number, PEP 561 markers."""

from importlib import metadata, resources

import pytest

import dlnkit


def test_the_installed_version_is_the_one_in_the_package():
    # pyproject reads the version from dlnkit.__version__ (dynamic); a second copy would drift
    assert metadata.version("dlnkit") == dlnkit.__version__


@pytest.mark.parametrize("package", ["dlnkit", "dlnkit.theory", "dlnkit.numerics"])
def test_typed_packages_ship_py_typed(package):
    assert resources.files(package).joinpath("py.typed").is_file()
