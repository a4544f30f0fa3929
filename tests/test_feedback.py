"""Feedback store: what is kept, which pairs export, and that the export is a valid reports file."""

from __future__ import annotations

import csv
import json
import threading

import pytest

from rag_dx.audit import sha256_hex
from rag_dx.feedback import (
    EXPORT_COLUMNS,
    FeedbackError,
    FeedbackStore,
    canonical_json,
    export_training_pairs,
)
from rag_dx.ingest.loaders import load_reports

OUTPUT = {
    "differential": [
        {"diagnosis": "Migraine", "icd10": "G43.909", "probability": 0.7, "evidence": ["R:fx-000#0"]},
        {"diagnosis": "Cluster headache", "icd10": None, "probability": 0.3, "evidence": ["G:gl-cluster#0"]},
    ],
    "evidence": [],
    "abstained": False,
    "versions": {"package": "0.1.0", "index": "fx/v0001", "encoder": "fake@1", "generator": "gen@2",
                 "adapter": "lora@3"},
}


@pytest.fixture()
def store(tmp_path):
    return FeedbackStore.open(tmp_path / "fb" / "feedback.sqlite")


def test_record_keeps_case_output_and_versions(store):
    rid = store.record(query_id="q1", kind="correct", diagnosis="migraine ", case_text="Throbbing headache",
                       output=OUTPUT, user="dr_a")
    (rec,) = store.records()
    assert rec.id == rid and rec.query_id == "q1" and rec.user == "dr_a" and rec.kind == "correct"
    assert rec.diagnosis == "migraine" and rec.in_differential is True and rec.icd10 == "G43.909"
    assert rec.case_text == "Throbbing headache" and rec.output == OUTPUT
    assert (rec.index_version, rec.encoder_version, rec.generator_version, rec.adapter_version) == (
        "fx/v0001", "fake@1", "gen@2", "lora@3")
    assert (store.path.stat().st_mode & 0o777) == 0o600


def test_output_is_stored_in_the_form_the_audit_log_hashes(store):
    import sqlite3

    store.record(query_id="q1", kind="wrong", case_text="x", output=OUTPUT)
    with sqlite3.connect(store.path) as conn:
        (stored,) = conn.execute("SELECT output_json FROM feedback").fetchone()
    assert sha256_hex(stored) == sha256_hex(canonical_json(OUTPUT))


def test_typed_diagnosis_outside_the_differential(store):
    store.record(query_id="q1", kind="correct", diagnosis="Sinusitis", case_text="x", output=OUTPUT)
    (rec,) = store.records()
    assert rec.in_differential is False and rec.icd10 is None


@pytest.mark.parametrize("kwargs, msg", [
    ({"kind": "maybe"}, "kind"),
    ({"kind": "correct"}, "needs the correct diagnosis"),
    ({"kind": "correct", "diagnosis": "x" * 201}, "longer"),
    ({"kind": "wrong", "case_text": "  "}, "case text"),
])
def test_invalid_feedback_is_refused(store, kwargs, msg):
    args = {"query_id": "q", "case_text": "case", "output": OUTPUT, **kwargs}
    with pytest.raises(FeedbackError, match=msg):
        store.record(**args)
    assert store.records() == []


def test_latest_feedback_per_answer_decides_the_pairs(store):
    store.record(query_id="q1", kind="correct", diagnosis="Migraine", case_text="case one", output=OUTPUT)
    store.record(query_id="q2", kind="correct", diagnosis="Migraine", case_text="case two", output=OUTPUT)
    store.record(query_id="q2", kind="wrong", case_text="case two", output=OUTPUT)  # withdraws q2
    store.record(query_id="q3", kind="evidence_wrong", case_text="case three", output=OUTPUT)
    store.record(query_id="q4", kind="correct", diagnosis="Cluster headache", case_text="case four", output=OUTPUT)
    store.record(query_id="q4", kind="correct", diagnosis="Sinusitis", case_text="case four", output=OUTPUT)
    pairs = {p.report_id: (p.text, p.diagnosis) for p in store.training_pairs()}
    assert pairs == {"fb-q1": ("case one", "Migraine"), "fb-q4": ("case four", "Sinusitis")}


def test_csv_export_is_a_valid_reports_file(store, tmp_path):
    store.record(query_id="q1", kind="correct", diagnosis="Migraine", output=OUTPUT,
                 case_text='Headache, "throbbing",\nwith nausea')
    store.record(query_id="q2", kind="correct", diagnosis="Sinusitis", case_text="Facial pain", output=OUTPUT)
    store.record(query_id="q3", kind="wrong", case_text="Unrelated", output=OUTPUT)
    out = tmp_path / "exports" / "pairs.csv"
    assert export_training_pairs(store, out) == 2
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    loaded = load_reports(out)  # what `rag-dx index build --reports` reads
    got = {(r.report_id, r.diagnosis, r.icd10) for r in loaded.reports}
    assert got == {("fb-q1", "Migraine", "G43.909"), ("fb-q2", "Sinusitis", None)}
    assert any(r.text == 'Headache, "throbbing",\nwith nausea' for r in loaded.reports)


def test_jsonl_export(store, tmp_path):
    store.record(query_id="q1", kind="correct", diagnosis="Migraine", case_text="case", output=OUTPUT)
    out = tmp_path / "pairs.jsonl"
    assert export_training_pairs(store, out, "jsonl") == 1
    row = json.loads(out.read_text())
    assert row["text"] == "case" and row["diagnosis"] == "Migraine"
    assert [r.diagnosis for r in load_reports(out).reports] == ["Migraine"]


def test_export_refuses_unknown_format_and_missing_store(store, tmp_path):
    with pytest.raises(FeedbackError):
        export_training_pairs(store, tmp_path / "x.parquet", "parquet")
    with pytest.raises(FeedbackError, match="no feedback store"):
        export_training_pairs(FeedbackStore(tmp_path / "missing.sqlite"), tmp_path / "x.csv")


def test_concurrent_writers(store):
    def write(k):
        for i in range(10):
            store.record(query_id=f"q{k}-{i}", kind="wrong", case_text="c", output=OUTPUT)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.records()) == 50
