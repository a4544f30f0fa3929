"""Red flags: can't-miss diagnoses the case's findings point to but the differential leaves out.

Why: the ranker learns from the practice's past reports, and a practice rarely records the
dangerous diagnoses it sends elsewhere (aortic dissection, ectopic pregnancy...). A differential
of "GERD, peptic ulcer" for crushing chest pain with sweating is what such a ranker produces, and
what a clinician must not be left with. Rules (``rag_dx/data/red_flags.tsv``, read by
:mod:`rag_dx.red_flag_rules`) name the findings that should bring a diagnosis to mind and the
guideline that says so; :func:`red_flags` reports each rule diagnosis whose trigger the case
meets and the differential omits.

Negation: concept terms use :mod:`rag_dx.findings` (a finding counts when asserted present or
possible, so "no neck stiffness" and "history of chest pain" do not). Phrase terms ("sudden*")
are matched in the text and then asserted with negspacy's NegEx over the same cue lists the
extractor uses for absence, so "no sudden onset" and "pain without radiation to the arm" do not
count either.

Nothing is logged and a flag quotes no case text: its trigger is built from the rule's own terms
(HPO names and the table's phrases).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag_dx.findings import Finding, FindingExtractor, extract_findings
from rag_dx.hpo_tree import HpoTree, load_hpo_tree
from rag_dx.red_flag_rules import RedFlagRule, Term, load_red_flag_rules
from rag_dx.schemas import Differential, RedFlag

__all__ = ["PhraseNegation", "RedFlagChecker", "red_flags"]

_SPAN_KEY = "rag_dx_red_flag_phrases"
_EXTENSION = "rag_dx_red_flag_negated"


class PhraseNegation:
    """Says which character spans of a text are negated, with negspacy's NegEx.

    Uses negspacy's clinical termset adjusted exactly as :class:`rag_dx.findings.FindingExtractor`
    adjusts it for absence (patient-written "can't stop coughing" is not a negation). Built on
    first use; one instance can be shared by threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] | None = None

    def _ensure(self) -> dict[str, Any]:
        with self._lock:
            if self._state is None:
                self._state = self._build()
            return self._state

    @staticmethod
    def _build() -> dict[str, Any]:
        import spacy
        from negspacy.negation import Negex
        from negspacy.termsets import termset

        from rag_dx.finding_terms import (
            _EXTRA_FOLLOWING_NEGATIONS,
            _EXTRA_NEGATIONS,
            _NOT_NEGATIONS,
            EXTRA_TERMINATIONS,
        )

        nlp = spacy.blank("en")
        sentencizer = nlp.add_pipe("sentencizer")
        base = termset("en_clinical").get_patterns()
        neg = {
            "pseudo_negations": base["pseudo_negations"],
            "preceding_negations": sorted((set(base["preceding_negations"]) - _NOT_NEGATIONS) | set(_EXTRA_NEGATIONS)),
            "following_negations": sorted(set(base["following_negations"]) | set(_EXTRA_FOLLOWING_NEGATIONS)),
            "termination": sorted(set(base["termination"]) | set(EXTRA_TERMINATIONS)),
        }
        negex = Negex(nlp, _EXTENSION, neg_termset=neg, extension_name=_EXTENSION, span_keys=[_SPAN_KEY])
        return {"nlp": nlp, "sentencizer": sentencizer, "negex": negex, "lock": threading.Lock()}

    def negated(self, text: str, spans: Sequence[tuple[int, int]]) -> list[bool]:
        """For each (start, end) character span of `text`, whether a negation cue scopes over it."""
        if not spans:
            return []
        state = self._ensure()
        with state["lock"]:  # spaCy's tokenizer adds unseen words to the shared vocabulary
            doc = state["nlp"].make_doc(text)
            doc_spans = [doc.char_span(s, e, alignment_mode="expand") for s, e in spans]
            doc.spans[_SPAN_KEY] = [sp for sp in doc_spans if sp is not None]
            doc = state["negex"](state["sentencizer"](doc))
            flags = {(sp.start_char, sp.end_char): bool(getattr(sp._, _EXTENSION)) for sp in doc.spans[_SPAN_KEY]}
        return [sp is not None and flags.get((sp.start_char, sp.end_char), False) for sp in doc_spans]


class RedFlagChecker:
    """Checks cases against the red-flag rules. Build once (loads on first use), share across threads.

    Args:
        rules_path: the table; default the bundled ``rag_dx/data/red_flags.tsv``.
        extractor: the finding extractor; default the process-wide one.
    """

    def __init__(self, rules_path: Path | None = None, *, extractor: FindingExtractor | None = None,
                 tree: HpoTree | None = None) -> None:
        self._path = rules_path
        self._extractor = extractor
        self._tree = tree
        self._rules: tuple[RedFlagRule, ...] | None = None
        self._lock = threading.Lock()
        self._negation = PhraseNegation()

    @property
    def rules(self) -> tuple[RedFlagRule, ...]:
        with self._lock:
            if self._rules is None:
                self._tree = self._tree or load_hpo_tree()
                self._rules = load_red_flag_rules(self._path, tree=self._tree)
            return self._rules

    def fired(self, text: str, findings: Sequence[Finding] | None = None) -> list[tuple[RedFlagRule, str]]:
        """Every rule whose trigger the case meets, with the trigger as shown ("chest pain + nausea")."""
        rules = self.rules
        assert self._tree is not None
        if findings is None:
            findings = extract_findings(text, self._extractor)
        present = {f.concept_id for f in findings if f.assertion in ("present", "possible")}
        phrase_hits = self._phrase_hits(text, rules)
        out = []
        for rule in rules:
            shown: list[str] = []
            for clause in rule.clauses:
                term = next((t for t in clause if self._met(t, present, phrase_hits)), None)
                if term is None:
                    break
                label = self._label(term, present)
                if label not in shown:
                    shown.append(label)
            else:
                out.append((rule, " + ".join(shown)))
        return out

    def check(self, text: str, differential: Differential) -> list[RedFlag]:
        """One flag per rule diagnosis the case triggers and `differential` does not list (file order)."""
        listed = [(d.diagnosis, d.icd10) for d in differential.differential]
        flags: dict[str, RedFlag] = {}
        for rule, trigger in self.fired(text):
            if rule.diagnosis in flags or any(rule.names(name, code) for name, code in listed):
                continue
            flags[rule.diagnosis] = RedFlag(diagnosis=rule.diagnosis, trigger=trigger, source=rule.source,
                                            url=rule.url, rule=rule.rule_id)
        return list(flags.values())

    def _met(self, term: Term, present: set[str], phrase_hits: set[int]) -> bool:
        if term.kind == "phrase":
            return id(term) in phrase_hits
        assert self._tree is not None and term.concept_id is not None
        return bool(present & self._tree.descendants(term.concept_id))

    def _label(self, term: Term, present: set[str]) -> str:
        """The concept the case has (its HPO name: "thunderclap headache" for a "Headache" term) or the phrase."""
        if term.kind == "phrase" or term.concept_id is None:
            return term.label
        assert self._tree is not None
        hit = sorted(present & self._tree.descendants(term.concept_id))
        return self._tree.names[hit[0]].lower() if term.concept_id not in hit and hit else term.label

    def _phrase_hits(self, text: str, rules: Sequence[RedFlagRule]) -> set[int]:
        """ids of the phrase terms with at least one non-negated match in `text`."""
        terms = [t for r in rules for c in r.clauses for t in c if t.kind == "phrase" and t.pattern is not None]
        matches: list[tuple[int, tuple[int, int]]] = []
        for t in terms:
            assert t.pattern is not None
            matches.extend((id(t), m.span()) for m in t.pattern.finditer(text))
        negated = self._negation.negated(text, [span for _, span in matches])
        return {tid for (tid, _), neg in zip(matches, negated) if not neg}


_default_lock = threading.Lock()
_default: list[RedFlagChecker] = []


def default_checker() -> RedFlagChecker:
    """One checker over the bundled table per process, created on first use."""
    with _default_lock:
        if not _default:
            _default.append(RedFlagChecker())
        return _default[0]


def red_flags(text: str, differential: Differential, *, checker: RedFlagChecker | None = None) -> list[RedFlag]:
    """Can't-miss diagnoses that `text` triggers and `differential` omits (see :class:`RedFlagChecker`)."""
    return (checker or default_checker()).check(text, differential)
