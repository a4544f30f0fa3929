"""Training data for both fine-tunes, built leakage-safely from the practice's labeled reports.

* Splits: :func:`load_labeled` groups exact, near-duplicate and same-patient reports with
  :func:`rag_dx.splits.duplicate_groups`; :func:`drop_eval_holdout` removes the test part of the very
  split ``rag-dx eval --holdout F --seed S`` uses, and :func:`validation_split` carves a group-safe
  validation part from what is left. No group ever straddles train and validation.
* Encoder pairs (:class:`Pair`): case <-> another case with the same diagnosis (never its own
  twin), case <-> a description of its diagnosis (label + ICD-10-CM title), and public text:
  MedQuAD question <-> answer, or guideline title <-> passage. Each pair carries a ``group`` key
  (the diagnosis, or the guideline topic) so a batch sampler can keep same-diagnosis rows out of
  each other's in-batch negatives.
* Generator cases (:class:`CaseEvidence`): each report with the evidence that
  :meth:`rag_dx.diagnose.Assistant.diagnose` would put in its prompt, retrieved with the report
  itself, its duplicates (and any excluded ids) removed from the index.
* :func:`augment_case`: optional lay-term <-> clinical-term / abbreviation replacement.

Report text never reaches a log line here; counts and ids only.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag_dx.labels import candidate_key

if TYPE_CHECKING:
    from rag_dx.schemas import Guideline, Hit, Report


# ============================================================================ labeled reports
@dataclass
class LabeledReports:
    """Labeled reports from one or more files, with their leakage groups.

    Attributes:
        reports: validated reports (raw text: training data never leaves this process unredacted
            except into model weights, like the index's embeddings).
        groups: one id per report; reports sharing an id (duplicates, near-duplicates, same
            patient) must stay on one side of every split.
        sources: file names (not paths) for manifests.
    """

    reports: list["Report"]
    groups: np.ndarray
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reports)

    @property
    def labels(self) -> list[str]:
        return [r.diagnosis or "" for r in self.reports]

    def subset(self, idx: Sequence[int] | np.ndarray) -> "LabeledReports":
        idx = [int(i) for i in idx]
        return LabeledReports([self.reports[i] for i in idx], self.groups[idx], list(self.sources))

    def fingerprint(self) -> str:
        """sha256 over ids, labels and texts: identifies the training data in a manifest."""
        digest = hashlib.sha256()
        for r in self.reports:
            for part in (r.report_id, r.diagnosis or "", r.text):
                digest.update(part.encode("utf-8", errors="surrogatepass"))
                digest.update(b"\x00")
        return digest.hexdigest()


def load_labeled(
    paths: Sequence[Path | str],
    *,
    text_col: str = "text",
    label_col: str = "diagnosis",
    id_col: str = "report_id",
    near_dup_jaccard: float | None = 0.8,
) -> LabeledReports:
    """Load labeled reports (CSV/TSV/JSONL, optionally .gz) and compute their leakage groups.

    Raises:
        ConfigError: no file, a report without a label, or a report id used twice across files.
    """
    from rag_dx.splits import duplicate_groups
    from rag_dx.errors import ConfigError
    from rag_dx.ingest.loaders import load_reports

    if not paths:
        raise ConfigError("give at least one --reports file")
    reports: list[Report] = []
    patient_ids: list[str | None] = []
    for path in paths:
        loaded = load_reports(path, text_col=text_col, label_col=label_col, id_col=id_col)
        missing = [r.line for r in loaded.reports if not (r.diagnosis or "").strip()]
        if missing:
            raise ConfigError(
                f"{path}: {len(missing)} report(s) have no '{label_col}' value (first at line {missing[0]}); "
                "fine-tuning needs a label on every report"
            )
        reports.extend(loaded.reports)
        patient_ids.extend(loaded.patient_ids)
    seen: set[str] = set()
    for r in reports:
        if r.report_id in seen:
            raise ConfigError(f"report id {r.report_id!r} occurs twice across the --reports files")
        seen.add(r.report_id)
    if not reports:
        raise ConfigError("the --reports files hold no reports")
    groups = duplicate_groups([r.text for r in reports], patient_ids=patient_ids, near_dup_jaccard=near_dup_jaccard)
    return LabeledReports(reports, groups, [Path(p).name for p in paths])


def drop_eval_holdout(data: LabeledReports, holdout: float, seed: int) -> tuple[LabeledReports, set[str]]:
    """Remove the test part of ``rag-dx eval --holdout <holdout> --seed <seed>``'s split.

    The split is :func:`rag_dx.splits.holdout_split` on the same labels and groups that
    :func:`eval.run.run_eval` computes for a single labeled file, so training on what this keeps
    and then running that eval is leakage-free. Returns (train part, ids of the test part); the
    test ids must also be excluded from retrieval when the index holds them.
    """
    from rag_dx.splits import holdout_split

    split = holdout_split(data.labels, data.groups, test_size=holdout, seed=seed)
    test_ids = {data.reports[int(i)].report_id for i in split.test}
    return data.subset(split.train), test_ids


def validation_split(data: LabeledReports, fraction: float, seed: int) -> tuple[LabeledReports, LabeledReports]:
    """A group-safe (and, where possible, label-stratified) train / validation split.

    With ``fraction == 0`` or fewer than 4 groups, everything is training data and validation is
    empty.
    """
    from rag_dx.splits import holdout_split

    if fraction <= 0 or len(set(data.groups.tolist())) < 4:
        return data, data.subset([])
    split = holdout_split(data.labels, data.groups, test_size=fraction, seed=seed)
    return data.subset(split.train), data.subset(split.test)


def exclusion_map(data: LabeledReports, extra: Iterable[str] = ()) -> dict[str, set[str]]:
    """For every report id: the doc ids its retrieval must skip (itself, its group, ``extra``)."""
    by_group: dict[int, set[str]] = defaultdict(set)
    for r, g in zip(data.reports, data.groups.tolist()):
        by_group[g].add(r.report_id)
    extra = set(extra)
    return {r.report_id: by_group[g] | extra for r, g in zip(data.reports, data.groups.tolist())}


def class_weights(labels: Sequence[str]) -> dict[str, float]:
    """Inverse-frequency weights per label key, normalized to mean 1 over the examples."""
    counts = Counter(candidate_key(x) for x in labels)
    if not counts:
        return {}
    raw = {k: 1.0 / c for k, c in counts.items()}
    mean = sum(raw[candidate_key(x)] for x in labels) / len(labels)
    return {k: v / mean for k, v in raw.items()}


# ============================================================================ encoder pairs
@dataclass(frozen=True)
class Pair:
    """One contrastive training pair; ``group`` marks rows that are not each other's negatives."""

    anchor: str
    positive: str
    group: str
    kind: str  # "case-case" | "case-description" | "guideline"


def diagnosis_description(label: str, vocabulary: Any | None = None) -> str:
    """The text a case is pulled towards: the label, plus its ICD-10-CM code and title if known."""
    concept = vocabulary.normalize(label) if vocabulary is not None else None
    if concept is None:
        return f"Diagnosis: {label}."
    if candidate_key(concept.title) == candidate_key(label):
        return f"Diagnosis: {label} (ICD-10-CM {concept.code})."
    return f"Diagnosis: {label} (ICD-10-CM {concept.code}: {concept.title})."


def report_pairs(data: LabeledReports, per_report: int, rng: np.random.Generator) -> list[Pair]:
    """case <-> another case with the same diagnosis, never one of its own duplicate group."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(data.reports):
        by_label[candidate_key(r.diagnosis or "")].append(i)
    out: list[Pair] = []
    if per_report <= 0:
        return out
    groups = data.groups.tolist()
    for i, r in enumerate(data.reports):
        key = candidate_key(r.diagnosis or "")
        mates = [j for j in by_label[key] if groups[j] != groups[i]]
        if not mates:
            continue
        chosen = rng.choice(len(mates), size=min(per_report, len(mates)), replace=False)
        for c in sorted(int(x) for x in chosen):
            out.append(Pair(r.text, data.reports[mates[c]].text, key, "case-case"))
    return out


def description_pairs(data: LabeledReports, vocabulary: Any | None = None) -> list[Pair]:
    """case <-> the description of its diagnosis (:func:`diagnosis_description`)."""
    cache: dict[str, str] = {}
    out = []
    for r in data.reports:
        label = r.diagnosis or ""
        key = candidate_key(label)
        if key not in cache:
            cache[key] = diagnosis_description(label, vocabulary)
        out.append(Pair(r.text, cache[key], key, "case-description"))
    return out


def guideline_pairs(guidelines: Sequence["Guideline"], max_pairs: int, rng: np.random.Generator) -> list[Pair]:
    """Public text pairs: MedQuAD question <-> answer, other guidelines title <-> passage.

    Questions about signs and symptoms come first (they read most like a case), then a seeded
    sample of the rest, up to ``max_pairs``. The group is the topic (MedQuAD ``focus``), so two
    questions about one disease are not used as each other's negatives.
    """
    if max_pairs <= 0 or not guidelines:
        return []
    pairs: list[tuple[bool, Pair]] = []
    for g in guidelines:
        text = g.text
        if text.startswith(g.title):  # MedQuAD: text = question + "\n" + answer
            text = text[len(g.title):].strip()
        text = " ".join(text.split()[:200])
        if not text or not g.title.strip():
            continue
        symptomatic = bool(re.search(r"\b(symptom|sign)s?\b", g.title, re.IGNORECASE))
        pairs.append((symptomatic, Pair(g.title, text, "topic:" + candidate_key(g.topic or g.title), "guideline")))
    order = rng.permutation(len(pairs))
    ranked = sorted(order.tolist(), key=lambda i: not pairs[i][0])  # stable: symptoms first, else seeded
    return [pairs[i][1] for i in ranked[:max_pairs]]


# ============================================================================ generator cases
@dataclass
class CaseEvidence:
    """A labeled case with the evidence the diagnosis prompt would show for it."""

    report_id: str
    text: str
    label: str
    hits: list["Hit"]
    candidates: list[str] = field(default_factory=list)


def evidence_from_differential(differential: Any, n: int) -> list["Hit"]:
    """The first ``n`` evidence items of a Differential as Hits (what build_prompt formats)."""
    from rag_dx.schemas import Chunk, Hit

    hits = []
    for e in differential.evidence[:n]:
        chunk = Chunk(chunk_id=e.id, kind=e.kind, doc_id=e.id, title=e.title, text=e.text, label=e.label,
                      source=e.source, url=e.url, date=e.date)
        hits.append(Hit(chunk=chunk, score=float(e.score)))
    return hits


def retrieve_cases(
    assistant: Any,
    data: LabeledReports,
    exclude: Mapping[str, set[str]],
    *,
    progress: bool = False,
    desc: str = "retrieving evidence",
) -> list[CaseEvidence]:
    """Evidence for each report exactly as ``diagnose`` selects it, with leakage ids excluded.

    Uses ``assistant.diagnose(mode="retrieval")``, whose evidence list is the hit list the full
    mode shows the generator (its first ``settings.diagnosis.prompt_evidence`` items).
    """
    n = assistant.settings.diagnosis.prompt_evidence
    out = []
    iterator: Iterable[Report] = data.reports
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(data.reports, desc=desc, unit="case")
    for r in iterator:
        d = assistant.diagnose(r.text, mode="retrieval", exclude_doc_ids=set(exclude.get(r.report_id, {r.report_id})))
        out.append(CaseEvidence(r.report_id, r.text, r.diagnosis or "", evidence_from_differential(d, n),
                                [x.diagnosis for x in d.differential]))
    return out


# ============================================================================ augmentation
# Lay term -> clinical terms / abbreviations (and back). Only replacements that keep the meaning;
# a diagnosis name is never substituted for a symptom.
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "fever": ("pyrexia", "high temperature"),
    "shortness of breath": ("SOB", "dyspnea", "breathlessness"),
    "short of breath": ("dyspneic", "breathless"),
    "headache": ("cephalalgia", "head pain"),
    "headaches": ("head pains",),
    "vomiting": ("emesis", "throwing up"),
    "nausea": ("queasiness", "feeling sick"),
    "fatigue": ("tiredness", "exhaustion"),
    "tired": ("fatigued", "exhausted"),
    "itchy": ("pruritic",),
    "itching": ("pruritus",),
    "rash": ("skin eruption",),
    "chest pain": ("CP", "thoracic pain"),
    "abdominal pain": ("abd pain", "stomach pain", "belly pain"),
    "stomach pain": ("abdominal pain", "abd pain"),
    "diarrhea": ("loose stools",),
    "joint pain": ("arthralgia", "sore joints"),
    "muscle pain": ("myalgia",),
    "muscle aches": ("myalgias",),
    "loss of appetite": ("anorexia", "poor appetite"),
    "weight loss": ("wt loss", "losing weight"),
    "dizzy": ("lightheaded",),
    "dizziness": ("lightheadedness",),
    "runny nose": ("rhinorrhea",),
    "sore throat": ("throat pain",),
    "frequent urination": ("urinary frequency", "polyuria"),
    "painful urination": ("dysuria",),
    "blood in my urine": ("hematuria",),
    "high blood pressure": ("hypertension", "HTN"),
    "blurred vision": ("blurry vision",),
    "blurry vision": ("blurred vision",),
    "swelling": ("edema",),
    "sweating": ("diaphoresis",),
    "difficulty swallowing": ("dysphagia",),
    "nosebleed": ("epistaxis",),
    "nosebleeds": ("epistaxis",),
    "coughing up blood": ("hemoptysis",),
    "heartburn": ("pyrosis", "acid reflux"),
    "chills": ("rigors",),
    "stiff neck": ("neck stiffness",),
    "numbness": ("paresthesia",),
    "weakness": ("asthenia",),
    "excessive thirst": ("polydipsia",),
    "yellow skin": ("jaundiced skin",),
    "palpitations": ("racing heartbeat",),
    "shortness of breath on exertion": ("DOE", "dyspnea on exertion"),
    "history of": ("h/o",),
    "without": ("w/o",),
    "with": ("w/",),
    "patient": ("pt",),
    "year old": ("yo",),
}


def _synonym_pattern(table: Mapping[str, Sequence[str]]) -> re.Pattern[str]:
    keys = sorted(table, key=len, reverse=True)  # longest first: "chest pain" before "pain"
    return re.compile(r"\b(" + "|".join(re.escape(k) for k in keys) + r")\b", re.IGNORECASE)


def augment_case(
    text: str, rng: np.random.Generator, prob: float = 0.5, table: Mapping[str, Sequence[str]] | None = None
) -> str:
    """Replace each known lay/clinical term with a synonym or abbreviation with probability ``prob``.

    >>> augment_case("Fever and a headache", np.random.default_rng(0), prob=1.0) != "Fever and a headache"
    True
    """
    table = table or SYNONYMS
    lower = {k.lower(): v for k, v in table.items()}
    pattern = _synonym_pattern(table)

    def swap(m: re.Match[str]) -> str:
        options = lower.get(m.group(0).lower())
        if not options or rng.random() >= prob:
            return m.group(0)
        return str(options[int(rng.integers(len(options)))])

    return pattern.sub(swap, text)


Augmenter = Callable[[str, np.random.Generator], str]
