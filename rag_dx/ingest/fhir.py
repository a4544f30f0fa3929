"""Read reports from FHIR R4: a Bundle (`.json`) or NDJSON with one resource per line.

Why: practices export their records as FHIR far more often than as a tidy CSV. This module turns
DiagnosticReports (with the Condition and Encounter they are linked to, and the Patient's sex and
age) into the same `Report` records the CSV loader returns, so everything downstream (the
de-identifier, chunking, the index) treats them like any other report.

Every resource we read is validated with the maintained `fhir.resources` models (R4B: R4 with
technical corrections; fhir.resources 8 ships R5, R4B and STU3, not a separate R4 package, and the
elements read here are the same in R4 and R4B). Problems are `InputError`s that name the file, the
entry (1-based, in file order) or NDJSON line, the resource type and the element, e.g.
`bundle.json: entry 3 (DiagnosticReport): presentedForm[0].data: invalid base64`. Messages never
quote a value: names, identifiers and report text stay out of terminals and logs.

What is read (docs/fhir.md has the full list): report text = DiagnosticReport.conclusion plus its
text/plain presentedForm attachments; diagnosis and ICD-10 code = the Condition linked to the
report (Condition.evidence.detail, else the Encounter's primary diagnosis, else the first
Condition of the same Encounter), else DiagnosticReport.conclusionCode. Patient names,
identifiers, addresses and `subject.display` are never read.
"""

from __future__ import annotations

import base64
import codecs
import importlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rag_dx.errors import InputError
from rag_dx.ingest.loaders import (
    _UNDECODABLE,
    MAX_TEXT_CHARS,
    LoadedReports,
    _first_undecodable_line,
    _physical_lines,
    derive_report_id,
    named_by_text,
    twin_id,
)
from rag_dx.schemas import Report

__all__ = ["FhirInputError", "is_fhir_ndjson", "load_fhir_reports"]

log = logging.getLogger(__name__)

#: The fhir.resources package whose models validate the resources (see the module docstring).
FHIR_MODELS = "fhir.resources.R4B"
#: The resource types read; each is validated with its model. Others are counted and ignored.
_MODULES = {"DiagnosticReport": "diagnosticreport", "Condition": "condition", "Encounter": "encounter",
            "Patient": "patient"}
#: Code systems whose codes are ICD-10 (CM or WHO), by URI and by OID.
ICD10_SYSTEMS = frozenset({
    "http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.90",
    "urn:oid:2.16.840.1.113883.6.3",
})
#: Reports in these states are not indexed (an erroneous record must not become evidence).
_SKIPPED_REPORT_STATUS = frozenset({"entered-in-error", "cancelled"})
#: Conditions in these verification states are not used as a report's diagnosis.
_UNUSABLE_CONDITION = frozenset({"refuted", "entered-in-error"})
_SEX = {"male": "M", "female": "F"}
_HISTORY = re.compile(r"/_history/[^/]*$")


class FhirInputError(InputError):
    """An `InputError` located by FHIR entry (Bundle) or line (NDJSON) and element.

    Args:
        path: the file.
        entry: 1-based Bundle entry number (None in NDJSON or for a file-level problem).
        line: 1-based NDJSON line (None in a Bundle).
        resource_type: the entry's resourceType, when known.
        field: the element at fault, as a FHIR path (`presentedForm[0].data`).
        reason: what is wrong, never the value.
    """

    def __init__(self, path: str | Path, entry: int | None, line: int | None, resource_type: str | None,
                 field: str | None, reason: str) -> None:
        super().__init__(path, line, field, reason)
        self.entry = entry
        self.resource_type = resource_type
        head = f"{self.path}:{line}" if line is not None else self.path
        segments = []
        if entry is not None:
            segments.append(f"entry {entry}" + (f" ({resource_type})" if resource_type else ""))
        elif resource_type:
            head += f" ({resource_type})"
        if field:
            segments.append(field)
        self.args = (": ".join([head, *segments, reason]),)


@dataclass
class _Entry:
    """One resource of the file and where it is."""

    path: Path
    entry: int | None
    line: int | None
    raw: dict[str, Any]
    full_url: str | None = None
    model: Any = None

    @property
    def rtype(self) -> str:
        return str(self.raw.get("resourceType"))

    def error(self, field: str | None, reason: str) -> FhirInputError:
        return FhirInputError(self.path, self.entry, self.line, self.rtype, field, reason)


@dataclass
class _Links:
    """Who refers to whom: built once, so each report finds its Condition and Patient directly."""

    by_key: dict[str, _Entry] = field(default_factory=dict)
    conditions_by_encounter: dict[int, list[_Entry]] = field(default_factory=dict)
    conditions_by_report: dict[int, list[_Entry]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: list[_Entry]) -> _Links:
        """Index entries by fullUrl and `Type/id`, then file each valid Condition under its
        Encounter and under the reports its `evidence.detail` cites."""
        links = cls()
        for e in entries:
            if e.full_url:
                links.by_key[e.full_url] = e
            rid = e.raw.get("id")
            if isinstance(rid, str) and rid:
                links.by_key[f"{e.rtype}/{rid}"] = e
        for e in entries:
            if e.rtype != "Condition" or e.model is None:
                continue
            encounter = links.resolve(e.model.encounter)
            if encounter is not None:
                links.conditions_by_encounter.setdefault(id(encounter), []).append(e)
            for evidence in e.model.evidence or []:
                for ref in evidence.detail or []:
                    target = links.resolve(ref)
                    if target is not None and target.rtype == "DiagnosticReport":
                        links.conditions_by_report.setdefault(id(target), []).append(e)
        return links

    def resolve(self, ref: Any) -> _Entry | None:
        """The entry a Reference points to: by fullUrl, by `Type/id`, or by an absolute URL's tail."""
        target = getattr(ref, "reference", None) if ref is not None else None
        if not target:
            return None
        target = _HISTORY.sub("", target)
        if target in self.by_key:
            return self.by_key[target]
        tail = "/".join(target.rstrip("/").split("/")[-2:])
        return self.by_key.get(tail)


# --------------------------------------------------------------------------------------------
# Reading the file into entries
# --------------------------------------------------------------------------------------------


def is_fhir_ndjson(text: str) -> bool:
    """True if the first non-blank line is a JSON object with a `resourceType` (FHIR NDJSON)."""
    for line in _physical_lines(text):
        if line.strip():
            try:
                first = json.loads(line)
            except json.JSONDecodeError:
                return False
            return isinstance(first, dict) and "resourceType" in first
    return False


def _bundle_entries(path: Path, text: str) -> list[_Entry | FhirInputError]:
    bad = _first_undecodable_line(text)
    if bad is not None:
        raise InputError(path, bad, None, "bytes that are not valid UTF-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, None, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise FhirInputError(path, None, None, None, "resourceType", "expected a JSON object (a FHIR Bundle)")
    rtype = doc.get("resourceType")
    if rtype is None:
        raise FhirInputError(path, None, None, None, "resourceType", "missing; a .json report file must be a "
                             "FHIR Bundle")
    if rtype != "Bundle":
        raise FhirInputError(path, None, None, None, "resourceType",
                             f"is {str(rtype)[:40]!r}; expected 'Bundle' (or NDJSON, one resource per line)")
    entries = doc.get("entry")
    if not isinstance(entries, list) or not entries:
        raise FhirInputError(path, None, None, "Bundle", "entry", "the Bundle has no entries")
    out: list[_Entry | FhirInputError] = []
    for n, item in enumerate(entries, start=1):
        if not isinstance(item, dict):
            out.append(FhirInputError(path, n, None, None, None, "an entry must be a JSON object"))
            continue
        resource = item.get("resource")
        if resource is None:
            continue  # legal in history and response Bundles (a deletion, a request outcome): nothing to read
        if not isinstance(resource, dict):
            out.append(FhirInputError(path, n, None, None, "resource", "not a JSON object"))
        elif not isinstance(resource.get("resourceType"), str):
            out.append(FhirInputError(path, n, None, None, "resource.resourceType", "missing"))
        else:
            url = item.get("fullUrl")
            out.append(_Entry(path, n, None, resource, url if isinstance(url, str) and url else None))
    return out


def _ndjson_entries(path: Path, text: str) -> list[_Entry | FhirInputError]:
    out: list[_Entry | FhirInputError] = []
    for lineno, line in enumerate(_physical_lines(text), start=1):
        if not line.strip():
            continue
        if _UNDECODABLE.search(line):
            out.append(FhirInputError(path, None, lineno, None, None, "bytes that are not valid UTF-8"))
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append(FhirInputError(path, None, lineno, None, None, f"invalid JSON ({exc.msg} at column "
                                      f"{exc.colno})"))
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("resourceType"), str):
            out.append(FhirInputError(path, None, lineno, None, "resourceType", "missing (each line must be a "
                                      "FHIR resource)"))
        else:
            out.append(_Entry(path, None, lineno, rec))
    return out


def _validate(e: _Entry) -> None:
    """Parse `e.raw` with its fhir.resources model into `e.model`; the first problem is raised."""
    model_class = getattr(importlib.import_module(f"{FHIR_MODELS}.{_MODULES[e.rtype]}"), e.rtype)
    try:
        e.model = model_class.model_validate(e.raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        msg = str(err.get("msg", "invalid")).splitlines()[0][:160]
        value = err.get("input")
        if isinstance(value, str) and len(value) >= 3 and value in msg:
            msg = str(err.get("type", "invalid value"))  # never echo a value
        raise e.error(loc or None, msg[0].lower() + msg[1:] if msg else "invalid") from None


# --------------------------------------------------------------------------------------------
# From resources to report fields
# --------------------------------------------------------------------------------------------


def _attachment_text(e: _Entry, i: int, att: Any) -> tuple[str | None, str | None]:
    """(text, None) for a readable text/plain attachment, (None, why) for one that is skipped."""
    ctype = (att.contentType or "").strip()
    media, _, params = ctype.partition(";")
    if media.strip().lower() != "text/plain":
        return None, f"content type {ctype[:60]!r} is not read (only text/plain)" if ctype else \
            "no contentType (only text/plain is read)"
    if att.data is None:
        return None, "no inline data (a url is not fetched)"
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        codecs.lookup(charset)
    except LookupError:
        raise e.error(f"presentedForm[{i}].contentType", f"unknown charset {charset[:40]!r}") from None
    raw = att.data if isinstance(att.data, bytes) else base64.b64decode(att.data)
    try:
        text = raw.decode(charset).lstrip("\ufeff")
    except UnicodeDecodeError:
        raise e.error(f"presentedForm[{i}].data", f"not valid {charset} text") from None
    return (text.strip() or None), (None if text.strip() else "empty text")


def _report_text(e: _Entry, skips: dict[str, tuple[int, str]]) -> str:
    """conclusion, then each text/plain presentedForm (a copy of the conclusion is dropped).

    Attachments that are not read are counted in `skips` (reason -> (count, first location)) for
    one log line per reason, not one per report."""
    dr = e.model
    parts: list[str] = [dr.conclusion.strip()] if dr.conclusion and dr.conclusion.strip() else []
    skipped: list[tuple[str, str]] = []
    for i, att in enumerate(dr.presentedForm or []):
        text, why = _attachment_text(e, i, att)
        if text is None:
            skipped.append((f"presentedForm[{i}]", why or "not read"))
        elif not any(" ".join(text.split()) == " ".join(p.split()) for p in parts):
            parts.append(text)
    if not parts:
        if skipped:
            where, why = skipped[0]
            raise e.error(where, f"{why}; the report has no other text")
        raise e.error("conclusion/presentedForm", "no text")
    for where, why in skipped:
        count, first = skips.get(why, (0, str(e.error(where, why))))
        skips[why] = (count + 1, first)
    text = "\n\n".join(parts)
    if len(text) > MAX_TEXT_CHARS:
        raise e.error("conclusion/presentedForm", f"text has {len(text):,} characters; the limit is "
                                                  f"{MAX_TEXT_CHARS:,}")
    return text


def _coded(concept: Any) -> tuple[str | None, str | None]:
    """(diagnosis name, ICD-10 code) of a CodeableConcept: its text, else the ICD-10 display, else
    any display, else the ICD-10 code itself."""
    codings = list(concept.coding or []) if concept is not None else []
    icd = next((c for c in codings if (c.system or "").lower() in ICD10_SYSTEMS and c.code), None)
    name = (concept.text if concept is not None else None) or (icd.display if icd else None) \
        or next((c.display for c in codings if c.display), None) or (icd.code if icd else None)
    return (name.strip() if name and name.strip() else None), (icd.code.strip() if icd else None)


def _check_condition(e: _Entry) -> None:
    """A Condition must say what the diagnosis is: a code with text, a display or an ICD-10 code."""
    if e.model.code is None:
        raise e.error("code", "missing (a Condition without a code cannot label a report)")
    if _coded(e.model.code)[0] is None:
        raise e.error("code", "has no text, display or ICD-10 code")


def _usable(cond: _Entry) -> bool:
    status = cond.model.verificationStatus
    codes = {c.code for c in (status.coding or [])} if status is not None else set()
    return not codes & _UNUSABLE_CONDITION


def _diagnosis(e: _Entry, links: _Links) -> tuple[str | None, str | None]:
    """The report's (diagnosis, ICD-10): its Condition (by evidence, the Encounter's primary
    diagnosis, or the first Condition of the Encounter), else its conclusionCode."""
    candidates = [c for c in links.conditions_by_report.get(id(e), []) if _usable(c)]
    encounter = links.resolve(e.model.encounter)
    if not candidates and encounter is not None and encounter.model is not None:
        ranked = sorted((d.rank if d.rank is not None else 1_000_000, n, d) for n, d in
                        enumerate(encounter.model.diagnosis or []))
        for *_, diag in ranked:
            cond = links.resolve(diag.condition)
            if cond is not None and cond.rtype == "Condition" and cond.model is not None and _usable(cond):
                candidates = [cond]
                break
        if not candidates:
            candidates = [c for c in links.conditions_by_encounter.get(id(encounter), []) if _usable(c)]
    if candidates:
        return _coded(candidates[0].model.code)
    for concept in e.model.conclusionCode or []:
        name, icd = _coded(concept)
        if name:
            return name, icd
    return None, None


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return None


def _report_date(dr: Any) -> tuple[str | None, date | None]:
    """(date string as stored, parsed date): effectiveDateTime, effectivePeriod.start, issued."""
    for value in (dr.effectiveDateTime, dr.effectivePeriod.start if dr.effectivePeriod else None, dr.issued):
        if value is None:
            continue
        parsed = _as_date(value)
        return (parsed.isoformat() if parsed else str(value)), parsed
    return None, None


def _sex_and_age(patient: _Entry | None, on: date | None) -> tuple[str | None, float | None]:
    """Patient.gender as M/F and the age in whole years on the report date; nothing else is read."""
    if patient is None or patient.model is None:
        return None, None
    sex = _SEX.get(patient.model.gender or "")
    born = _as_date(patient.model.birthDate)
    if born is None or on is None:
        return sex, None
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return sex, float(years) if 0 <= years <= 150 else None


def _report_id(e: _Entry, text: str) -> str:
    """`dr-<resource id>`, else `dr-<uuid>` from a `urn:uuid:` fullUrl, else the text hash id."""
    rid = e.raw.get("id")
    if isinstance(rid, str) and rid.strip():
        return f"dr-{rid.strip()}"
    if e.full_url and e.full_url.startswith("urn:uuid:"):
        return f"dr-{e.full_url[len('urn:uuid:'):]}"
    return derive_report_id(text)


# --------------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------------


def load_fhir_reports(path: Path, text: str, *, ndjson: bool, skip_invalid: bool = False) -> LoadedReports:
    """Reports from a FHIR Bundle (`ndjson=False`) or NDJSON of resources, already decoded.

    Called by `load_reports` for `.json` files and for `.jsonl`/`.ndjson` files whose first line is
    a FHIR resource. Resources are validated first (with their fhir.resources model), then links are
    resolved, then one report is made per DiagnosticReport, in file order.

    Returns:
        LoadedReports (raw text, de-identified later by the build like any report); `patient_ids`
        hold the `Patient/<id>` a report's subject refers to (used for leakage-safe splits, never
        stored).

    Raises:
        InputError: file-level problems always; entry problems unless `skip_invalid`, in which case
            they are collected in `rejects` and the entry is left out (a bad Condition then labels
            nothing).
    """
    out = LoadedReports(reports=[], patient_ids=[])

    def reject(err: FhirInputError) -> None:
        if not skip_invalid:
            raise err
        out.rejects.append(err)

    entries: list[_Entry] = []
    ignored: dict[str, int] = {}
    for item in (_ndjson_entries if ndjson else _bundle_entries)(path, text):
        if isinstance(item, FhirInputError):
            reject(item)
        elif item.rtype not in _MODULES:
            ignored[item.rtype] = ignored.get(item.rtype, 0) + 1
        else:
            try:
                _validate(item)
                if item.rtype == "Condition":
                    _check_condition(item)
            except FhirInputError as exc:
                item.model = None
                reject(exc)
            entries.append(item)
    if ignored:
        log.info("%s: ignored %s", path.name, ", ".join(f"{n} {t}" for t, n in sorted(ignored.items())))

    links = _Links.of(entries)
    seen: dict[str, str] = {}
    skips: dict[str, tuple[int, str]] = {}
    skipped = 0
    for e in entries:
        if e.rtype != "DiagnosticReport" or e.model is None:
            continue
        if e.model.status in _SKIPPED_REPORT_STATUS:
            skipped += 1
            continue
        where = f"entry {e.entry}" if e.entry is not None else f"line {e.line}"
        try:
            text = _report_text(e, skips)
            report_id = _report_id(e, text)
            if report_id in seen and named_by_text(report_id, text):
                # no id of its own and the same text as an earlier report: a twin, suffixed as the CSV
                # loader does (an id the file gives twice is still an error)
                report_id = twin_id(report_id, seen)
            if report_id in seen:
                raise e.error("id", f"duplicate report id (first seen at {seen[report_id]})")
        except FhirInputError as exc:
            reject(exc)
            continue
        seen[report_id] = where
        diagnosis, icd10 = _diagnosis(e, links)
        date_str, on = _report_date(e.model)
        patient = links.resolve(e.model.subject)
        patient = patient if patient is not None and patient.rtype == "Patient" else None
        sex, age = _sex_and_age(patient, on)
        out.reports.append(Report(report_id=report_id, text=text, diagnosis=diagnosis, icd10=icd10, date=date_str,
                                  age=age, sex=sex, source=path.name, line=e.line))
        subject = getattr(e.model.subject, "reference", None) if e.model.subject else None
        out.patient_ids.append(f"Patient/{patient.raw['id']}" if patient is not None and patient.raw.get("id")
                               else (_HISTORY.sub("", subject) if subject else None))
    for count, first in skips.values():
        log.warning("%d attachment(s) not read, each in a report read from its other text; first: %s", count, first)
    if skipped:
        log.info("%s: %d DiagnosticReport(s) entered-in-error or cancelled, not indexed", path.name, skipped)
    if not out.reports and not out.rejects:
        raise FhirInputError(path, None, None, None, None, "no DiagnosticReport with text in the file")
    return out
