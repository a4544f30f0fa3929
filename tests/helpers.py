"""Small fixture builders shared by tests (importable as `tests.helpers`)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from rag_dx.schemas import Guideline, Report

FIXTURE_CASES: list[tuple[str, str, str]] = [
    ("Migraine", "G43.909", "Throbbing one-sided headache with nausea and sensitivity to light, worse with noise."),
    ("Migraine", "G43.909", "Recurrent pulsating headache behind the left eye, photophobia and vomiting."),
    ("Migraine", "G43.909", "Severe headache preceded by visual aura with zigzag lines, needs a dark room."),
    ("Psoriasis", "L40.0", "Red itchy plaques with silvery scales on elbows, knees and scalp."),
    ("Psoriasis", "L40.0", "Thick scaly skin patches on the knees, nail pitting, itchy rash on scalp."),
    ("Psoriasis", "L40.0", "Silvery scaly plaques on extensor surfaces of elbows, worse in winter."),
    ("Pneumonia", "J18.9", "Fever, productive cough with green sputum, crackles in the right lower lobe."),
    ("Pneumonia", "J18.9", "High fever, chills, cough with rusty sputum and pleuritic chest pain, consolidation on x-ray."),
    ("Pneumonia", "J18.9", "Shortness of breath, fever and cough, lobar consolidation on chest radiograph."),
    ("Urinary tract infection", "N39.0", "Burning on urination, urinary frequency and urgency, cloudy urine."),
    ("Urinary tract infection", "N39.0", "Dysuria and suprapubic pain, urine dipstick positive for nitrites."),
    ("Urinary tract infection", "N39.0", "Painful frequent urination with foul-smelling urine and low back discomfort."),
]


def fixture_reports() -> list[Report]:
    return [
        Report(report_id=f"fx-{i:03d}", text=text, diagnosis=dx, icd10=code, source="fixture", line=i + 2)
        for i, (dx, code, text) in enumerate(FIXTURE_CASES)
    ]


def fixture_guidelines() -> list[Guideline]:
    return [
        Guideline(doc_id="gl-migraine", title="Migraine overview", topic="Migraine",
                  text="Migraine causes recurrent throbbing headache, often with nausea, photophobia and aura.",
                  source="fixture"),
        Guideline(doc_id="gl-cluster", title="Cluster headache", topic="Cluster headache",
                  text="Cluster headache: severe unilateral orbital headache with tearing, in bouts.",
                  source="fixture"),
        Guideline(doc_id="gl-tension", title="Tension-type headache", topic="Tension-type headache",
                  text="Tension-type headache: bilateral pressing headache, no nausea, mild photophobia.",
                  source="fixture"),
    ]


def write_reports_csv(path: Path, rows: list[dict], fieldnames: list[str] | None = None) -> Path:
    fieldnames = fieldnames or ["report_id", "diagnosis", "icd10", "text"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


def fixture_rows() -> list[dict]:
    return [
        {"report_id": f"fx-{i:03d}", "diagnosis": dx, "icd10": code, "text": text}
        for i, (dx, code, text) in enumerate(FIXTURE_CASES)
    ]


def leaked(deid, text: str, secret: str) -> list[str]:
    """Letters and digits of `secret` (as it stands in `text`) that no finding of `deid.find` covers:
    the measure `tests/phi_measure.py` uses (an identifier is removed only when all of it is)."""
    start = text.index(secret)
    spans = [(s, e) for _, s, e in deid.find(text)]
    return [text[k] for k in range(start, start + len(secret))
            if text[k].isalnum() and not any(s <= k < e for s, e in spans)]


class PassThroughDeid:
    """Stands in for presidio in tests that are about indexing, not de-identification."""

    def redact(self, text: str) -> str:
        return text

    def redact_many(self, texts: list[str]) -> list[str]:
        return list(texts)

    def find(self, text: str) -> list[tuple[str, int, int]]:
        return []

    def describe(self) -> dict:
        return {"engine": "pass-through (tests only)"}


class KeywordScorer:
    """A generator stand-in that prefers candidates whose words appear in the prompt's case line."""

    name = "keyword-scorer"
    fingerprint = "k" * 64
    adapter = None

    def build_prompt(self, case, evidence, *, evidence_chars=300):
        return "Case: " + case + "\n" + "\n".join(f"[{h.id}] {h.chunk.label}" for h in evidence)

    def score(self, prompt, candidates):
        case = prompt.splitlines()[0].lower()
        return np.array([sum(w in case for w in c.lower().split()) - 1.0 for c in candidates])


def build_fixture_assistant(index_dir: Path, encoder):
    """Index the fixture reports and guidelines (no de-id) and load an assistant scoring with KeywordScorer."""
    from rag_dx.diagnose import build_assistant
    from rag_dx.build import build_index
    from rag_dx.settings import Settings

    settings = Settings(index_dir=index_dir)
    build_index(settings, "fx", fixture_reports(), fixture_guidelines(), encoder=encoder,
                deidentifier=PassThroughDeid())
    return build_assistant(settings, "fx", encoder=encoder, generator=KeywordScorer(), load_vocabulary=False)
