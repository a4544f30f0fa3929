"""The one label key: which diagnosis spellings are the same candidate, everywhere.

Serving merges candidates with it (:mod:`rag_dx.candidates`), fine-tuning builds its classes and
targets with it, and evaluation builds the generator-only candidate set with it, so all three
compete over the same candidate set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def candidate_key(name: str) -> str:
    """Merge spellings that differ only in case, punctuation or spacing ("COVID-19" / "covid 19").

    Example:
        >>> candidate_key("COVID-19") == candidate_key(" covid 19 ")
        True
    """
    return _NON_ALNUM.sub(" ", name.casefold()).strip()


def unique_labels(labels: Iterable[str], key: Callable[[str], str] = candidate_key) -> list[str]:
    """One spelling per key (the most frequent; ties go to the alphabetically last), sorted.

    Example:
        >>> unique_labels(["Flu", "flu", "Flu", "Migraine"])
        ['Flu', 'Migraine']
    """
    by_key: dict[str, dict[str, int]] = {}
    for label in labels:
        spellings = by_key.setdefault(key(label), {})
        spellings[label] = spellings.get(label, 0) + 1
    return sorted(max(c.items(), key=lambda kv: (kv[1], kv[0]))[0] for c in by_key.values())
