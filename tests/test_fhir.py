"""FHIR R4 report import (rag_dx/ingest/fhir.py): Bundles, NDJSON, links, errors, and an index build."""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from rag_dx.errors import InputError
from rag_dx.ingest.fhir import FhirInputError
from rag_dx.ingest.loaders import load_reports
from tests.fhir_synth import (
    PATIENT_MRN,
    PATIENT_NAME,
    b64,
    entry_number,
    make_bundle,
    resource,
    write_bundle,
    write_ndjson,
)
from tests.helpers import FIXTURE_CASES

#: Strings from the Patient resource and subject.display that must never reach a report or an error.
PATIENT_STRINGS = (*PATIENT_NAME, PATIENT_MRN, "Orchard Lane", "Springfield", "1971-04-02")


def _load_error(tmp_path: Path, bundle: dict, name: str = "bundle.json") -> InputError:
    with pytest.raises(InputError) as info:
        load_reports(write_bundle(tmp_path / name, bundle))
    return info.value


def _assert_no_private_text(message: str) -> None:
    for needle in (*PATIENT_STRINGS, *(text[:30] for _, _, text in FIXTURE_CASES)):
        assert needle not in message, f"{needle!r} in error message"


# ------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------


def test_bundle_gives_one_labeled_report_per_diagnostic_report(tmp_path: Path) -> None:
    bundle = make_bundle(name_in_text=False)
    loaded = load_reports(write_bundle(tmp_path / "bundle.json", bundle))
    assert [r.report_id for r in loaded.reports] == [f"dr-note-{i}" for i in range(len(FIXTURE_CASES))]
    for report, (dx, code, text) in zip(loaded.reports, FIXTURE_CASES, strict=True):
        assert (report.diagnosis, report.icd10) == (dx, code)  # evidence link beats the Encounter's decoy
        assert report.text.count(text) == 1  # a presentedForm that repeats the conclusion is read once
        assert "%PDF" not in report.text and report.source == "bundle.json" and report.line is None
        for needle in PATIENT_STRINGS:
            assert needle not in report.text
    first = loaded.reports[0]
    assert first.date == resource(bundle, "DiagnosticReport", "note-0")["effectiveDateTime"][:10]
    # born 1971-04-02, seen 2023-01-15: 51 full years; gender male -> M
    assert (first.sex, first.age) == ("M", 51.0)
    assert loaded.patient_ids == ["Patient/pt-1"] * len(FIXTURE_CASES)


def test_ndjson_reads_the_same_reports_with_their_lines(tmp_path: Path) -> None:
    bundle = make_bundle(name_in_text=False, urn_refs=False)
    from_bundle = load_reports(write_bundle(tmp_path / "b.json", bundle)).reports
    path = write_ndjson(tmp_path / "export.ndjson", bundle)
    from_ndjson = load_reports(path).reports
    strip = [r.model_copy(update={"line": None, "source": ""}) for r in from_ndjson]
    assert strip == [r.model_copy(update={"source": ""}) for r in from_bundle]
    lines = path.read_text(encoding="utf-8").splitlines()
    for r in from_ndjson:
        assert json.loads(lines[r.line - 1])["id"] == r.report_id.removeprefix("dr-")


def test_gzipped_bundle_and_plain_jsonl_still_work(tmp_path: Path) -> None:
    gz = tmp_path / "bundle.json.gz"
    gz.write_bytes(gzip.compress(json.dumps(make_bundle()).encode()))
    assert len(load_reports(gz)) == len(FIXTURE_CASES)
    plain = tmp_path / "r.jsonl"
    plain.write_text(json.dumps({"report_id": "a", "text": "cough and fever"}) + "\n", encoding="utf-8")
    assert [r.report_id for r in load_reports(plain).reports] == ["a"]


def test_encounter_primary_diagnosis_then_conclusion_code(tmp_path: Path) -> None:
    bundle = make_bundle()
    # note-2's Condition now hangs off the Encounter instead of citing the report: the Encounter's
    # rank-1 diagnosis (the decoy) labels the report.
    cond = resource(bundle, "Condition", "cond-2")
    del cond["evidence"]
    cond["encounter"] = {"reference": "Encounter/enc-2"}
    # note-0 loses its Condition; its conclusionCode labels it.
    bundle["entry"].pop(entry_number(bundle, "Condition", "cond-0") - 1)
    resource(bundle, "DiagnosticReport", "note-0")["conclusionCode"] = [
        {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G44.209", "display": "Tension headache"}]}]
    # note-3's Condition is refuted: not a label.
    resource(bundle, "Condition", "cond-3")["verificationStatus"] = {"coding": [{"code": "refuted"}]}
    by_id = {r.report_id: r for r in load_reports(write_bundle(tmp_path / "b.json", bundle)).reports}
    assert by_id["dr-note-2"].diagnosis == "Essential hypertension" and by_id["dr-note-2"].icd10 is None
    assert (by_id["dr-note-0"].diagnosis, by_id["dr-note-0"].icd10) == ("Tension headache", "G44.209")
    assert by_id["dr-note-3"].diagnosis is None
    assert by_id["dr-note-1"].diagnosis == FIXTURE_CASES[1][0]


def test_entered_in_error_reports_are_left_out_and_ids_fall_back_to_full_url(tmp_path: Path) -> None:
    bundle = make_bundle()
    resource(bundle, "DiagnosticReport", "note-4")["status"] = "entered-in-error"
    entry = bundle["entry"][entry_number(bundle, "DiagnosticReport", "note-5") - 1]
    del entry["resource"]["id"]
    ids = [r.report_id for r in load_reports(write_bundle(tmp_path / "b.json", bundle)).reports]
    assert "dr-note-4" not in ids and len(ids) == len(FIXTURE_CASES) - 1
    assert ids[4] == "dr-" + entry["fullUrl"].removeprefix("urn:uuid:")


def test_reports_named_by_their_text_that_repeat_are_twins_as_in_a_csv(tmp_path: Path) -> None:
    # NDJSON has no fullUrl, so a DiagnosticReport without an id is named by its text; the same text
    # twice was rejected as a duplicate id, where the CSV loader keeps both as `<id>`, `<id>-2`
    bundle = make_bundle([FIXTURE_CASES[0], FIXTURE_CASES[0], FIXTURE_CASES[1]], name_in_text=False, urn_refs=False)
    twins = [resource(bundle, "DiagnosticReport", f"note-{i}") for i in (0, 1)]
    for r in twins:
        del r["id"]
    reports = load_reports(write_ndjson(tmp_path / "twins.ndjson", bundle)).reports
    ids = [r.report_id for r in reports]
    assert len(ids) == 3 and ids[0].startswith("r") and ids[1] == ids[0] + "-2" and ids[2] == "dr-note-2"
    assert reports[0].text == reports[1].text
    # an id the file itself gives twice stays an error
    bundle = make_bundle([FIXTURE_CASES[0], FIXTURE_CASES[1]], name_in_text=False, urn_refs=False)
    resource(bundle, "DiagnosticReport", "note-1")["id"] = "note-0"
    with pytest.raises(InputError, match="duplicate report id"):
        load_reports(write_ndjson(tmp_path / "dup.ndjson", bundle))


def test_skipped_attachment_is_logged_once_without_text(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="rag_dx.ingest.fhir")
    load_reports(write_bundle(tmp_path / "b.json", make_bundle()))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "4 attachment(s)" in lines[0] and "application/pdf" in lines[0]
    _assert_no_private_text(lines[0])


# ------------------------------------------------------------------------------------------
# Malformed input: file, entry, resource type and element, never a value
# ------------------------------------------------------------------------------------------


def _break(kind: str, bundle: dict) -> str:
    """Damage `bundle` in one way; returns how the error message must go on after the file's path."""
    n_dr = entry_number(bundle, "DiagnosticReport", "note-1")
    dr = bundle["entry"][n_dr - 1]["resource"]
    if kind == "no resourceType":
        del bundle["resourceType"]
        return ": resourceType: missing"
    if kind == "not a bundle":
        bundle["resourceType"] = "Patient"
        return ": resourceType: is 'Patient'; expected 'Bundle'"
    if kind == "entry without resourceType":
        del dr["resourceType"]
        return f": entry {n_dr}: resource.resourceType: missing"
    if kind == "bad base64":
        dr["presentedForm"][0]["data"] = "Tm90IGJhc2U2NA=!"
        return f": entry {n_dr} (DiagnosticReport): presentedForm[0].data: base64 decoding error"
    if kind == "condition without code":
        del resource(bundle, "Condition", "cond-4")["code"]
        return f": entry {entry_number(bundle, 'Condition', 'cond-4')} (Condition): code: missing"
    if kind == "unknown content type":
        dr["presentedForm"][0]["contentType"] = "application/msword"
        return (f": entry {n_dr} (DiagnosticReport): presentedForm[0]: content type "
                "'application/msword' is not read (only text/plain); the report has no other text")
    if kind == "no text":
        del dr["presentedForm"]
        return f": entry {n_dr} (DiagnosticReport): conclusion/presentedForm: no text"
    if kind == "wrong charset":
        dr["presentedForm"][0] = {"contentType": "text/plain", "data": b64("Fièvre à 39 °C", "latin-1")}
        return f": entry {n_dr} (DiagnosticReport): presentedForm[0].data: not valid utf-8 text"
    if kind == "model violation":
        del dr["code"]
        return f": entry {n_dr} (DiagnosticReport): code: field required"
    if kind == "bad date":
        dr["effectiveDateTime"] = "yesterday at noon"
        return f": entry {n_dr} (DiagnosticReport): effectiveDateTime: value error"
    if kind == "duplicate id":
        dr["id"] = "note-0"
        return f": entry {n_dr} (DiagnosticReport): id: duplicate report id (first seen at entry "
    raise AssertionError(kind)


KINDS = ["no resourceType", "not a bundle", "entry without resourceType", "bad base64", "condition without code",
         "unknown content type", "no text", "wrong charset", "model violation", "bad date", "duplicate id"]


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_bundle_names_file_entry_and_field(tmp_path: Path, kind: str) -> None:
    bundle = make_bundle()
    expected = _break(kind, bundle)
    err = _load_error(tmp_path, bundle)
    assert str(err).startswith(f"{tmp_path / 'bundle.json'}{expected}"), str(err)
    _assert_no_private_text(str(err))


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text('{"resourceType": "Bundle",\n "entry": [\n  {"resource": }\n]}', encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_reports(path)
    assert str(info.value).startswith(f"{path}:3: invalid JSON")


def test_ndjson_error_names_the_line(tmp_path: Path) -> None:
    bundle = make_bundle(urn_refs=False)
    del resource(bundle, "Condition", "cond-4")["code"]
    path = write_ndjson(tmp_path / "export.ndjson", bundle)
    line = entry_number(bundle, "Condition", "cond-4")  # one resource per line, in entry order
    with pytest.raises(FhirInputError) as info:
        load_reports(path)
    assert str(info.value).startswith(f"{path}:{line} (Condition): code: missing")
    assert (info.value.line, info.value.entry, info.value.field) == (line, None, "code")


def test_skip_invalid_rejects_entries_and_keeps_the_rest(tmp_path: Path) -> None:
    bundle = make_bundle()
    del resource(bundle, "Condition", "cond-0")["code"]
    del resource(bundle, "DiagnosticReport", "note-1")["presentedForm"]
    with pytest.raises(FhirInputError):
        load_reports(write_bundle(tmp_path / "b.json", bundle))
    loaded = load_reports(tmp_path / "b.json", skip_invalid=True)
    assert [(e.resource_type, e.entry, e.field) for e in loaded.rejects] == [
        ("Condition", entry_number(bundle, "Condition", "cond-0"), "code"),
        ("DiagnosticReport", entry_number(bundle, "DiagnosticReport", "note-1"), "conclusion/presentedForm")]
    by_id = {r.report_id: r for r in loaded.reports}
    assert len(by_id) == len(FIXTURE_CASES) - 1 and "dr-note-1" not in by_id
    assert by_id["dr-note-0"].diagnosis is None  # its only Condition was rejected


# ------------------------------------------------------------------------------------------
# End to end through the CLI (real encoder and de-identifier)
# ------------------------------------------------------------------------------------------


@pytest.fixture()
def env(tmp_path, monkeypatch, model_cache):
    monkeypatch.setenv("RAG_DX_INDEX_DIR", str(tmp_path / "indexes"))
    monkeypatch.setenv("RAG_DX_CACHE_DIR", str(model_cache))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_cli_builds_an_index_from_a_bundle_without_the_patient(env) -> None:
    from typer.testing import CliRunner

    from rag_dx.cli import app

    path = write_bundle(env / "bundle.json", make_bundle(name_in_text=True))
    res = CliRunner().invoke(app, ["index", "build", "--name", "fhir", "--reports", str(path)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"{len(FIXTURE_CASES)} reports" in res.output
    docstores = list((env / "indexes" / "fhir").rglob("docstore.sqlite"))
    assert len(docstores) == 1
    with sqlite3.connect(docstores[0]) as conn:
        rows = conn.execute("SELECT doc_id, label, icd10, text FROM chunks WHERE kind = 'report'").fetchall()
    assert {r[0] for r in rows} == {f"dr-note-{i}" for i in range(len(FIXTURE_CASES))}
    assert {(r[1], r[2]) for r in rows} == {(dx, code) for dx, code, _ in FIXTURE_CASES}
    first = " ".join(r[3] for r in rows if r[0] == "dr-note-0")
    assert "headache" in first and "<PERSON>" in first  # the name in the note was redacted, the note kept
    for file in (env / "indexes" / "fhir").rglob("*"):
        if file.is_file():
            data = file.read_bytes().decode("utf-8", errors="ignore")
            for needle in PATIENT_STRINGS:
                assert needle not in data, f"{needle!r} in {file}"


def test_cli_prints_the_entry_of_a_malformed_bundle(env) -> None:
    from typer.testing import CliRunner

    from rag_dx.cli import app

    bundle = make_bundle()
    expected = _break("bad base64", bundle)
    path = write_bundle(env / "bundle.json", bundle)
    res = CliRunner().invoke(app, ["index", "build", "--name", "bad", "--reports", str(path)])
    assert res.exit_code == 2
    assert f"error: {path}{expected}" in res.output, res.output
