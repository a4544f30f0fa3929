"""A small, deterministic synthetic FHIR R4 Bundle for tests (importable as `tests.fhir_synth`).

One Patient (with a fake name, an MRN and an address that must never reach an index) and, per
case of `tests.helpers.FIXTURE_CASES`, an Encounter, a Condition (ICD-10-CM code) and a
DiagnosticReport. The reports vary the way real exports do, so one bundle exercises every path:

* text: conclusion only, a base64 text/plain presentedForm only, or both (plus a PDF to skip);
* references: `Type/id` for some, the entry's `urn:uuid:` fullUrl for others;
* links: most Conditions point at the Encounter; every third one points at the report through
  `Condition.evidence.detail` instead (and its Encounter also lists a decoy secondary diagnosis).
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

from tests.helpers import FIXTURE_CASES

PATIENT_NAME = ("Jonathan", "Whitaker")
PATIENT_MRN = "48213377"
_NS = uuid.UUID("6f1c2a52-8d6e-4b53-9a4f-3f0f0c7b9d10")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _uuid(name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, name)}"


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode("ascii")


def _patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient", "id": "pt-1",
        "identifier": [{"system": "urn:oid:1.2.3.4", "value": PATIENT_MRN}],
        "name": [{"family": PATIENT_NAME[1], "given": [PATIENT_NAME[0]]}],
        "gender": "male", "birthDate": "1971-04-02",
        "address": [{"line": ["12 Orchard Lane"], "city": "Springfield"}],
    }


def make_bundle(cases: list[tuple[str, str, str]] | None = None, *, name_in_text: bool = True,
                urn_refs: bool = True) -> dict[str, Any]:
    """A `collection` Bundle; entries are Patient, then (Encounter, Condition, DiagnosticReport) per case.

    With `name_in_text`, the first report's text also names the patient (as free-text notes do), so
    a test can check that the build's de-identification removes it. Without `urn_refs` every
    reference is `Type/id` (NDJSON has no fullUrl to refer to).
    """
    cases = FIXTURE_CASES if cases is None else cases
    entries: list[dict[str, Any]] = [{"fullUrl": _uuid("patient"), "resource": _patient()}]
    patient_ref = {"reference": "Patient/pt-1", "display": " ".join(PATIENT_NAME)}
    for i, (dx, code, text) in enumerate(cases):
        enc_url, cond_url, dr_url = _uuid(f"enc-{i}"), _uuid(f"cond-{i}"), _uuid(f"dr-{i}")
        by_urn = urn_refs and i % 2 == 1  # odd cases refer by fullUrl, even ones by Type/id
        enc_ref = {"reference": enc_url if by_urn else f"Encounter/enc-{i}"}
        encounter: dict[str, Any] = {
            "resourceType": "Encounter", "id": f"enc-{i}", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": patient_ref, "period": {"start": f"2023-{1 + i % 12:02d}-15T09:00:00Z"},
        }
        condition: dict[str, Any] = {
            "resourceType": "Condition", "id": f"cond-{i}", "subject": {"reference": "Patient/pt-1"},
            "code": {"coding": [{"system": ICD10CM, "code": code, "display": dx}], "text": dx},
        }
        if i % 3 == 2:  # linked to the report itself; the Encounter's primary diagnosis is a decoy
            condition["evidence"] = [{"detail": [{"reference": f"DiagnosticReport/note-{i}"}]}]
            entries.append({"fullUrl": _uuid(f"decoy-{i}"), "resource": {
                "resourceType": "Condition", "id": f"decoy-{i}", "subject": {"reference": "Patient/pt-1"},
                "encounter": enc_ref, "code": {"text": "Essential hypertension"}}})
            encounter["diagnosis"] = [{"condition": {"reference": f"Condition/decoy-{i}"}, "rank": 1}]
        else:
            condition["encounter"] = enc_ref
        if name_in_text and i == 0:
            text = f"Patient {' '.join(PATIENT_NAME)} presents today. {text}"
        report: dict[str, Any] = {
            "resourceType": "DiagnosticReport", "id": f"note-{i}", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}], "text": "Progress note"},
            "subject": patient_ref, "encounter": enc_ref,
            "effectiveDateTime": f"2023-{1 + i % 12:02d}-15T09:30:00Z", "issued": "2023-12-31T00:00:00Z",
        }
        if i % 3 == 0:
            report["conclusion"] = text
        elif i % 3 == 1:
            report["presentedForm"] = [{"contentType": "text/plain; charset=utf-8", "data": b64(text)}]
        else:
            report["conclusion"] = text
            report["presentedForm"] = [{"contentType": "text/plain", "data": b64(text)},
                                       {"contentType": "application/pdf", "data": b64("%PDF-1.4 fake")}]
        entries += [{"fullUrl": enc_url, "resource": encounter}, {"fullUrl": cond_url, "resource": condition},
                    {"fullUrl": dr_url, "resource": report}]
    return {"resourceType": "Bundle", "id": "synthetic", "type": "collection", "entry": entries}


def write_bundle(path: Path, bundle: dict[str, Any]) -> Path:
    path.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
    return path


def write_ndjson(path: Path, bundle: dict[str, Any]) -> Path:
    """The bundle's resources, one per line (as a FHIR bulk export writes them, but in one file)."""
    path.write_text("".join(json.dumps(e["resource"]) + "\n" for e in bundle["entry"]), encoding="utf-8")
    return path


def entry_number(bundle: dict[str, Any], resource_type: str, resource_id: str) -> int:
    """1-based number of the entry holding `resource_type/resource_id` (as error messages count)."""
    for n, entry in enumerate(bundle["entry"], start=1):
        res = entry["resource"]
        if res.get("resourceType") == resource_type and res.get("id") == resource_id:
            return n
    raise KeyError(f"{resource_type}/{resource_id}")


def resource(bundle: dict[str, Any], resource_type: str, resource_id: str) -> dict[str, Any]:
    return bundle["entry"][entry_number(bundle, resource_type, resource_id) - 1]["resource"]
