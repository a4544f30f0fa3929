"""Load and validate historical reports and guideline passages from the files a practice has.

Why validate everything up front: an index build that dies on row 40,000 (or, worse, silently
indexes an empty report) wastes an hour and hides the problem. Every row is checked before anything
is returned, and every problem is reported as an `InputError` that names the file, the physical
line where the record starts and the field at fault, so the user can open the file and fix it.

Error messages never quote a field's value: reports hold patient data, and messages end up in
terminals, logs and CI output.

Supported inputs:

* reports: CSV (strict quoting) or JSONL, each optionally gzip-compressed (`x.csv.gz`).
* guidelines: JSONL (generic, MedQuAD, AHRQ NGC summaries; the flavour is detected per line from
  its keys), Markdown, plain text and PDF, each optionally gzip-compressed, or a directory of them.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import os
import re
import stat
import sys
import unicodedata
import zlib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rag_dx.errors import InputError
from rag_dx.schemas import Guideline, Report

__all__ = [
    "MAX_TEXT_CHARS",
    "LoadedReports",
    "derive_report_id",
    "load_guidelines",
    "load_reports",
    "named_by_text",
    "twin_id",
    "unique_doc_ids",
]

MAX_TEXT_CHARS = 1_000_000
"""Longest report text accepted. Longer "reports" are almost always a broken export (a whole
table in one cell) and would also exceed spaCy's default `max_length` in de-identification."""

_DEFAULT_TEXT_COL = "text"
_DEFAULT_LABEL_COL = "diagnosis"
_DEFAULT_ID_COL = "report_id"
# Optional report columns that keep their own names (text/label/id are renamed by options).
_PLAIN_OPTIONAL = ("icd10", "date", "patient_id", "age", "sex", "specialty")

_REPORT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "fhir"}
_GUIDELINE_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".pdf": "pdf",
}

# Characters that `surrogateescape` decoding produces for undecodable bytes.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_WS = re.compile(r"\s+")


@dataclass
class LoadedReports:
    """What `load_reports` returns.

    Attributes:
        reports: validated reports with their raw (not yet de-identified) text.
        patient_ids: parallel to `reports`; used transiently (e.g. to split train/test by patient)
            and deliberately not part of `Report`, so it can never be written to an index.
        rejects: the errors of skipped rows; only filled when `skip_invalid=True`.
    """

    reports: list[Report]
    patient_ids: list[str | None]
    rejects: list[InputError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reports)


# --------------------------------------------------------------------------------------------
# Shared file helpers
# --------------------------------------------------------------------------------------------


def _split_suffix(path: Path, formats: dict[str, str]) -> tuple[str | None, bool]:
    """Return (format, gzipped) from the file name: `x.csv.gz` -> ("csv", True)."""
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    if gz:
        suffixes = suffixes[:-1]
    fmt = formats.get(suffixes[-1]) if suffixes else None
    return fmt, gz


def _read_bytes(path: Path, gz: bool) -> bytes:
    """Read a file, decompressing gzip transparently; I/O problems become `InputError`s."""
    try:
        # O_NONBLOCK: opening a FIFO named like a report must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, None, None, "is a directory, expected a file") from None
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(path, None, None, "is a directory, expected a file")
        if not stat.S_ISREG(mode):
            raise InputError(path, None, None, "not a regular file (a FIFO, socket or device); expected a file")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read()
    except OSError as exc:
        raise InputError(path, None, None, f"cannot read file ({exc.strerror or type(exc).__name__})") from None
    finally:
        if fd != -1:
            os.close(fd)
    if gz:
        try:
            data = gzip.decompress(data)
        except (gzip.BadGzipFile, EOFError, zlib.error):
            raise InputError(path, None, None, "not a valid gzip file (or truncated)") from None
    return data


def _refuse_nul(path: Path, text: str) -> None:
    """A NUL byte is never part of a report or a guideline: refuse the file at its line."""
    if "\x00" not in text:
        return
    for number, line in enumerate(_physical_lines(text), start=1):
        if "\x00" in line:
            raise InputError(path, number, None, "contains a NUL byte (\\x00): a binary or damaged file")
    raise InputError(path, None, None, "contains a NUL byte (\\x00)")  # pragma: no cover


def _decode(data: bytes) -> str:
    """Decode UTF-8 (a BOM is dropped); undecodable bytes survive as lone surrogates.

    Decoding with `surrogateescape` instead of failing at once lets the caller report the exact
    record (and, with `skip_invalid`, skip only that record) instead of rejecting the whole file.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _physical_lines(text: str) -> list[str]:
    """Split like `csv`/`open(newline="")` do (on \\r, \\n, \\r\\n only), keeping line ends.

    `str.splitlines` would also split on \\x0c, \\u2028 and friends, which would make our line
    numbers disagree with the csv module's and with what an editor shows.
    """
    return io.StringIO(text, newline="").readlines()


def _first_undecodable_line(text: str, start_line: int = 1) -> int | None:
    """1-based line (counted from `start_line`) of the first undecodable byte in `text`."""
    if not _UNDECODABLE.search(text):
        return None
    for offset, line in enumerate(_physical_lines(text)):
        if _UNDECODABLE.search(line):
            return start_line + offset
    return None  # pragma: no cover - the search above found one


def _stable_hash(*parts: str) -> str:
    """sha1 over NFKC-normalized, case-folded, whitespace-collapsed text.

    Normalizing makes re-exports of the same report (different line endings, trailing spaces,
    capitalization) get the same id, so an index rebuild does not see them as new documents.
    """
    norm = "\n".join(_WS.sub(" ", unicodedata.normalize("NFKC", p)).strip().casefold() for p in parts)
    return hashlib.sha1(norm.encode("utf-8", errors="surrogatepass")).hexdigest()


def derive_report_id(text: str) -> str:
    """The id a report without a `report_id` gets: `"r" + sha1(normalized text)[:12]`."""
    return "r" + _stable_hash(text)[:12]


def named_by_text(report_id: str, text: str) -> bool:
    """Whether `report_id` is the id derived from `text`, as given or with a twin's `-n`: a report
    without an id of its own, whose repeat is a twin rather than a duplicate id."""
    base = derive_report_id(text)
    return report_id == base or report_id.startswith(base + "-")


def twin_id(base: str, taken: Collection[str]) -> str:
    """`base`, else the first free `base-2`, `base-3`...: the id of a report named by its text
    whose twin (the same text) already holds `base`."""
    report_id, n = base, 1
    while report_id in taken:
        n += 1
        report_id = f"{base}-{n}"
    return report_id


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------


@dataclass
class _ReportColumns:
    """Which source column feeds which `Report` field (None = not present in this file)."""

    text: str
    label: str
    report_id: str
    label_explicit: bool
    id_explicit: bool


def _as_optional_str(path: Path, line: int, key: str, value: Any) -> str | None:
    """Coerce a scalar cell to a stripped string; empty means absent."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, (dict, list)):
        raise InputError(path, line, key, f"expected a string, got {type(value).__name__}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if not isinstance(value, str):
        raise InputError(path, line, key, f"expected a string, got {type(value).__name__}")
    value = value.strip()
    return value or None


def _parse_age(path: Path, line: int, key: str, value: Any) -> float | None:
    """Ages must be numbers in [0, 150]; empty means unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise InputError(path, line, key, "age is not a number")
    try:
        age = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InputError(path, line, key, "age is not a number") from None
    if not math.isfinite(age):
        raise InputError(path, line, key, "age is not a finite number")
    if not 0 <= age <= 150:
        raise InputError(path, line, key, "age is outside 0-150")
    return age


class _ReportBuilder:
    """Validates one record at a time and remembers ids, so duplicates are caught in file order."""

    def __init__(self, path: Path, cols: _ReportColumns) -> None:
        self.path = path
        self.cols = cols
        self.seen_ids: dict[str, int] = {}

    def build(self, rec: dict[str, Any], line: int) -> tuple[Report, str | None]:
        path, cols = self.path, self.cols
        text = rec.get(cols.text)
        if text is None or (isinstance(text, str) and not text.strip()):
            raise InputError(path, line, cols.text, "text is empty")
        if not isinstance(text, str):
            raise InputError(path, line, cols.text, f"expected a string, got {type(text).__name__}")
        text = text.strip()
        if len(text) > MAX_TEXT_CHARS:
            raise InputError(
                path, line, cols.text, f"text has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}"
            )

        raw_id = _as_optional_str(path, line, cols.report_id, rec.get(cols.report_id))
        if raw_id is not None:
            if raw_id in self.seen_ids:
                raise InputError(
                    path, line, cols.report_id, f"duplicate report_id (first seen on line {self.seen_ids[raw_id]})"
                )
            report_id = raw_id
        else:
            # Identical texts (symptom2disease has 47 twins) get the same hash; suffix the later
            # ones so ids stay unique while the shared stem still shows they are twins.
            report_id = twin_id(derive_report_id(text), self.seen_ids)
        self.seen_ids[report_id] = line

        diagnosis = _as_optional_str(path, line, cols.label, rec.get(cols.label))
        opt = {k: _as_optional_str(path, line, k, rec.get(k)) for k in _PLAIN_OPTIONAL if k != "age"}
        age = _parse_age(path, line, "age", rec.get("age"))
        report = Report(
            report_id=report_id,
            text=text,
            diagnosis=diagnosis,
            icd10=opt["icd10"],
            date=opt["date"],
            age=age,
            sex=opt["sex"],
            specialty=opt["specialty"],
            source=path.name,
            line=line,
        )
        return report, opt["patient_id"]


def _resolve_header(path: Path, header: list[str], line: int, cols: _ReportColumns) -> dict[str, int]:
    """Map canonical source-column names to cell positions; check required columns exist.

    Column names match exactly first, then case-insensitively (exports from spreadsheets often
    capitalize headers).
    """
    names = [h.strip() for h in header]
    exact: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            continue
        if name in exact:
            raise InputError(path, line, name, "column appears twice in the header")
        exact[name] = i
    folded: dict[str, int] = {}
    for name, i in exact.items():
        folded.setdefault(name.casefold(), i)

    def find(name: str) -> int | None:
        if name in exact:
            return exact[name]
        return folded.get(name.casefold())

    wanted = [cols.text, cols.label, cols.report_id, *_PLAIN_OPTIONAL]
    positions = {name: idx for name in wanted if (idx := find(name)) is not None}
    if cols.text not in positions:
        raise InputError(path, line, cols.text, f"missing required column (header has: {', '.join(names)})")
    if cols.label_explicit and cols.label not in positions:
        raise InputError(path, line, cols.label, f"missing label column (header has: {', '.join(names)})")
    if cols.id_explicit and cols.report_id not in positions:
        raise InputError(path, line, cols.report_id, f"missing id column (header has: {', '.join(names)})")
    return positions


def _csv_records(
    path: Path, text: str, delimiter: str, cols: _ReportColumns
) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """Yield (start line, record or error) for every CSV record, in file order.

    Record errors are yielded rather than raised so that `skip_invalid` can go on with the next
    record (the csv reader itself resumes on the next line after a quoting error). Header errors
    are raised: without a header no record can be read.
    """
    # Big cells (long transcriptions) are legal: the 1,000,000-character limit is enforced by the
    # validator with a clear message, not by csv's default 131,072-character field limit.
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    lines = _physical_lines(text)
    reader = csv.reader(iter(lines), delimiter=delimiter, strict=True)
    positions: dict[str, int] | None = None
    n_header = 0
    prev_end = 0
    while True:
        start = prev_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            prev_end = reader.line_num
            bad = _first_undecodable_line("".join(lines[start - 1 : prev_end]), start)
            if bad is not None:
                err = InputError(path, bad, None, "bytes that are not valid UTF-8")
            else:
                # csv's message describes the syntax problem ("',' expected after '\"'"), never
                # the cell content.
                err = InputError(path, start, None, f"bad CSV quoting or structure ({exc})")
            if positions is None:
                raise err  # a broken header breaks the whole file: nothing to skip to
            yield err.line or start, err
            continue
        prev_end = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        raw = "".join(lines[start - 1 : prev_end])
        if positions is None:
            bad = _first_undecodable_line(raw, start)
            if bad is not None:
                raise InputError(path, bad, None, "bytes that are not valid UTF-8 in the header")
            positions = _resolve_header(path, row, start, cols)
            n_header = len(row)
            continue
        bad = _first_undecodable_line(raw, start)
        if bad is not None:
            cell = next((name for name, i in positions.items() if i < len(row) and _UNDECODABLE.search(row[i])), None)
            yield bad, InputError(path, bad, cell, "bytes that are not valid UTF-8")
            continue
        if len(row) > n_header:
            yield start, InputError(
                path, start, None, f"record has {len(row)} fields but the header has {n_header} (unquoted delimiter?)"
            )
            continue
        # Short rows: missing trailing cells are treated as empty; text validation still applies.
        yield start, {name: (row[i] if i < len(row) else None) for name, i in positions.items()}
    if positions is None:
        raise InputError(path, 1, None, "empty file: no header row")


def _jsonl_records(path: Path, text: str, cols: _ReportColumns) -> Iterator[tuple[int, dict[str, Any] | InputError]]:
    """Yield (line, record or error) for every non-blank JSONL line."""
    for lineno, line in enumerate(_physical_lines(text), start=1):
        if not line.strip():
            continue
        if _UNDECODABLE.search(line):
            yield lineno, InputError(path, lineno, None, "bytes that are not valid UTF-8")
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, InputError(path, lineno, None, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(rec, dict):
            yield lineno, InputError(path, lineno, None, "each line must be a JSON object")
            continue
        if cols.text not in rec:
            yield lineno, InputError(path, lineno, cols.text, "missing required key")
            continue
        if cols.label_explicit and cols.label not in rec:
            yield lineno, InputError(path, lineno, cols.label, "missing label key")
            continue
        if cols.id_explicit and cols.report_id not in rec:
            yield lineno, InputError(path, lineno, cols.report_id, "missing id key")
            continue
        yield lineno, rec


def load_reports(
    path: str | Path,
    *,
    text_col: str = _DEFAULT_TEXT_COL,
    label_col: str = _DEFAULT_LABEL_COL,
    id_col: str = _DEFAULT_ID_COL,
    skip_invalid: bool = False,
) -> LoadedReports:
    """Load historical reports from CSV or JSONL (optionally `.gz`) and validate every record.

    Args:
        path: `.csv`, `.tsv`, `.jsonl` or `.ndjson`, each optionally followed by `.gz`; a FHIR
            Bundle (`.json`) or FHIR NDJSON is read by `rag_dx.ingest.fhir` (docs/fhir.md).
        text_col: column holding the report text (required).
        label_col: column holding the diagnosis. The default, "diagnosis", may be absent
            (unlabeled reports, e.g. for an index build); any other name must exist.
        id_col: column holding a unique report id. When absent (the default name may be absent;
            another name must exist) or empty, the id is `"r" + sha1(normalized text)[:12]`, with
            `-2`, `-3`... appended to later identical texts.
        skip_invalid: collect bad records in `rejects` and go on, instead of raising the first.

    Optional columns kept on the report: icd10, date, age (numeric), sex, specialty; `patient_id`
    is returned separately in `patient_ids` and never stored.

    Returns:
        LoadedReports with raw (not de-identified) text; run `deidentify_reports` before indexing.

    Raises:
        InputError: the first problem, located by file, 1-based physical line where the record
            starts (the header is line 1) and field (unless `skip_invalid`). File-level problems
            (unsupported type, missing required column) are raised even with `skip_invalid`.

    Example:
        >>> loaded = load_reports("Symptom2Disease.csv", label_col="label")  # doctest: +SKIP
        >>> loaded.reports[0].diagnosis  # doctest: +SKIP
        'Psoriasis'
    """
    path = Path(path)
    fmt, gz = _split_suffix(path, _REPORT_FORMATS)
    if fmt is None:
        raise InputError(path, None, None, "unsupported report file type; expected .csv, .tsv, .jsonl or a "
                         "FHIR .json/.ndjson (optionally .gz)")
    cols = _ReportColumns(
        text=text_col,
        label=label_col,
        report_id=id_col,
        label_explicit=label_col != _DEFAULT_LABEL_COL,
        id_explicit=id_col != _DEFAULT_ID_COL,
    )
    text = _decode(_read_bytes(path, gz))
    _refuse_nul(path, text)
    from rag_dx.ingest import fhir  # FHIR Bundle / NDJSON: its own module (rag_dx/ingest/fhir.py)

    if fmt == "fhir" or (fmt == "jsonl" and fhir.is_fhir_ndjson(text)):
        return fhir.load_fhir_reports(path, text, ndjson=fmt == "jsonl", skip_invalid=skip_invalid)
    if fmt == "jsonl":
        records = _jsonl_records(path, text, cols)
    else:
        records = _csv_records(path, text, "\t" if fmt == "tsv" else ",", cols)

    builder = _ReportBuilder(path, cols)
    out = LoadedReports(reports=[], patient_ids=[])
    for line, rec in records:
        if isinstance(rec, InputError):
            err = rec
        else:
            try:
                report, patient_id = builder.build(rec, line)
            except InputError as exc:
                err = exc
            else:
                out.reports.append(report)
                out.patient_ids.append(patient_id)
                continue
        if not skip_invalid:
            raise err
        out.rejects.append(err)
    return out


# --------------------------------------------------------------------------------------------
# Guidelines
# --------------------------------------------------------------------------------------------

# NGC summary sections worth retrieving, in reading order; bibliography, copyright and
# developer lists add tokens but no clinical content.
_NGC_SECTIONS = (
    "Disease/Condition(s)",
    "Target Population",
    "Guideline Objective(s)",
    "Major Recommendations",
)
_NGC_TITLE = "Guideline Title"
_MD_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_MD_SETEXT = re.compile(r"^(?P<title>[^\n]*\S[^\n]*)\n {0,3}(?:=+|-+)[ \t]*$", re.MULTILINE)


def _strip_name(path: Path) -> str:
    """File name without `.gz` and the format suffix: `guide.md.gz` -> `guide`."""
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem = Path(name).stem
    return stem or name


def _require_str(path: Path, line: int | None, rec: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = rec.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(path, line, key, "missing or empty")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InputError(path, line, key, f"expected a string, got {type(value).__name__}")
    return value.strip()


def _ngc_date(raw: str | None) -> str | None:
    """NGC writes dates as '2013 Dec 20'; store ISO when it parses, the raw string otherwise."""
    if raw is None:
        return None
    for fmt in ("%Y %b %d", "%Y %b", "%Y"):
        try:
            parsed = datetime.strptime(raw, fmt)
        except ValueError:
            continue
        return parsed.date().isoformat() if fmt == "%Y %b %d" else raw
    return raw


def _guideline_from_json(path: Path, line: int, rec: dict[str, Any]) -> Guideline:
    """Build a Guideline from one JSON object, choosing the flavour from its keys."""
    if "question" in rec and "answer" in rec:  # MedQuAD
        question = _require_str(path, line, rec, "question", required=True)
        answer = _require_str(path, line, rec, "answer", required=True)
        assert question is not None and answer is not None
        doc_id = _require_str(path, line, rec, "id", required=False) or "mq" + _stable_hash(question, answer)[:12]
        return Guideline(
            doc_id=doc_id,
            title=question,
            text=f"{question}\n{answer}",
            topic=_require_str(path, line, rec, "focus", required=False),
            source=_require_str(path, line, rec, "source", required=False) or "MedQuAD",
            url=_require_str(path, line, rec, "url", required=False),
        )
    if "ngc_id" in rec or _NGC_TITLE in rec:  # AHRQ National Guideline Clearinghouse summary
        title = _require_str(path, line, rec, _NGC_TITLE, required=True)
        assert title is not None
        parts = [title]
        for key in _NGC_SECTIONS:
            value = _require_str(path, line, rec, key, required=False)
            if value:
                parts.append(f"{key}\n{value}")
        if len(parts) == 1:
            raise InputError(path, line, "Major Recommendations", "NGC record has no content sections")
        doc_id = _require_str(path, line, rec, "ngc_id", required=False) or "ngc" + _stable_hash(title)[:12]
        developer = _require_str(path, line, rec, "Guideline Developer(s)", required=False)
        return Guideline(
            doc_id=doc_id,
            title=title,
            text="\n\n".join(parts),
            topic=_require_str(path, line, rec, "Disease/Condition(s)", required=False),
            source=developer or "AHRQ National Guideline Clearinghouse",
            date=_ngc_date(_require_str(path, line, rec, "Date Released", required=False)),
        )
    if "text" in rec:  # generic
        text = _require_str(path, line, rec, "text", required=True)
        assert text is not None
        title = _require_str(path, line, rec, "title", required=False)
        if title is None:
            first = text.strip().splitlines()[0].strip()
            title = first if len(first) <= 120 else first[:117].rstrip() + "..."
        doc_id = (
            _require_str(path, line, rec, "id", required=False)
            or _require_str(path, line, rec, "doc_id", required=False)
            or "g" + _stable_hash(title, text)[:12]
        )
        return Guideline(
            doc_id=doc_id,
            title=title,
            text=text,
            topic=_require_str(path, line, rec, "topic", required=False),
            source=_require_str(path, line, rec, "source", required=False) or path.name,
            url=_require_str(path, line, rec, "url", required=False),
            date=_require_str(path, line, rec, "date", required=False),
        )
    raise InputError(
        path, line, "text", "no 'text' key (nor MedQuAD 'question'/'answer', nor NGC 'Guideline Title')"
    )


def _load_guideline_jsonl(path: Path, text: str) -> list[Guideline]:
    out: list[Guideline] = []
    for lineno, line in enumerate(_physical_lines(text), start=1):
        if not line.strip():
            continue
        if _UNDECODABLE.search(line):
            raise InputError(path, lineno, None, "bytes that are not valid UTF-8")
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, lineno, None, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(rec, dict):
            raise InputError(path, lineno, None, "each line must be a JSON object")
        out.append(_guideline_from_json(path, lineno, rec))
    if not out:
        raise InputError(path, None, None, "no guideline records in file")
    return out


def _markdown_title(text: str) -> str | None:
    """First ATX (`# Title`) or setext (`Title\\n=====`) heading, whichever comes first."""
    candidates = [m for m in (_MD_ATX.search(text), _MD_SETEXT.search(text)) if m is not None]
    if not candidates:
        return None
    first = min(candidates, key=lambda m: m.start())
    title = (first.group("title") if "title" in first.re.groupindex else first.group(1)).strip()
    return title or None


def _load_guideline_pdf(path: Path, data: bytes) -> tuple[str, str | None]:
    """Extract (text, metadata title) from a PDF; anything unreadable is an InputError('pdf')."""
    from pypdf import PdfReader  # lazy: only PDF users pay for the import

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                decrypted = reader.decrypt("")
            except Exception:  # noqa: BLE001 - pypdf raises several types (e.g. missing AES backend)
                decrypted = 0
            if not decrypted:
                raise InputError(path, None, "pdf", "encrypted PDF; save an unencrypted copy first")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = None
        if reader.metadata is not None and reader.metadata.title:
            meta_title = str(reader.metadata.title).strip() or None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged PDFs raise many unrelated exception types
        raise InputError(path, None, "pdf", f"unreadable PDF ({type(exc).__name__})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise InputError(path, None, "pdf", "no extractable text (a scanned PDF needs OCR first)")
    return text, meta_title


def _load_guideline_file(path: Path, doc_id: str) -> list[Guideline]:
    fmt, gz = _split_suffix(path, _GUIDELINE_FORMATS)
    if fmt is None:
        raise InputError(
            path, None, None, "unsupported guideline file type; expected .jsonl, .md, .txt or .pdf (optionally .gz)"
        )
    data = _read_bytes(path, gz)
    if fmt == "pdf":
        text, meta_title = _load_guideline_pdf(path, data)
        return [Guideline(doc_id=doc_id, title=meta_title or _strip_name(path), text=text, source=path.name)]
    text = _decode(data)
    _refuse_nul(path, text)
    bad = _first_undecodable_line(text)
    if fmt == "jsonl":
        return _load_guideline_jsonl(path, text)
    if bad is not None:
        raise InputError(path, bad, "text", "bytes that are not valid UTF-8")
    text = text.strip()
    if not text:
        raise InputError(path, None, "text", "file has no text")
    title = (_markdown_title(text) if fmt == "md" else None) or _strip_name(path)
    return [Guideline(doc_id=doc_id, title=title, text=text, source=path.name)]


def load_guidelines(path: str | Path) -> list[Guideline]:
    """Load guideline / reference passages from a file or a directory of files.

    Args:
        path: a `.jsonl`, `.md`, `.txt` or `.pdf` file (each optionally `.gz`), or a directory,
            searched recursively for such files (in sorted order, so ids are reproducible).

    JSONL flavours, detected per line from the keys:
        * MedQuAD (`question` + `answer`): text = question + newline + answer, title = question,
          topic = focus, doc_id = id.
        * AHRQ NGC summary (`ngc_id` / `Guideline Title`): text = title, then the clinical sections
          with their headings; topic = Disease/Condition(s); date = Date Released (ISO).
        * generic (`text`, optional title/source/url/date/topic/id).

    Markdown: title = first heading, else the file name; plain text and PDF: the PDF's metadata
    title, else the file name. doc_id = the file name without suffixes (the relative path when
    a directory is loaded).

    Ids that repeat (MedQuAD reuses ids across its sub-collections) get `~2`, `~3`... in the
    order met, because chunk ids are built from them and must be unique.

    Raises:
        InputError: naming file, line (JSONL) and field; an unreadable or encrypted PDF names the
            field "pdf".
    """
    root = Path(path)
    if root.is_dir():
        files = sorted(
            f for f in root.rglob("*") if f.is_file() and _split_suffix(f, _GUIDELINE_FORMATS)[0] is not None
        )
        if not files:
            raise InputError(root, None, None, "no guideline files (.jsonl, .md, .txt, .pdf, optionally .gz) found")
        named = [(f, f.relative_to(root).with_name(_strip_name(f)).as_posix()) for f in files]
    else:
        named = [(root, _strip_name(root))]

    return unique_doc_ids([g for file, doc_id in named for g in _load_guideline_file(file, doc_id)])


def unique_doc_ids(guidelines: list[Guideline], held: Mapping[str, str | None] | None = None) -> list[Guideline]:
    """The guidelines with ids unique among themselves and against the documents an index holds.

    Why: MedQuAD numbers its answers per sub-collection, so 2,491 of its ids name two or more
    different answers. Two such files stopped a build; added to an index that held the common part,
    the rare-disease answers silently replaced 1,014 pages with the same ids, NIDDK's "What is GERD?"
    among them (and the GERD card vanished). An id met again gets `~2`, `~3`... in the order met,
    the rule a single file or directory always had.
    `held` maps the ids already in the index to their titles (None for a report): an incoming
    guideline that reuses the id of a held guideline with the same title is its revised version and
    keeps the id, so the update replaces it; any other reuse is a new document.
    """
    held = held or {}
    out: list[Guideline] = []
    seen: set[str] = set()
    for g in guidelines:
        n, doc_id = 1, g.doc_id
        while doc_id in seen or (doc_id in held and held[doc_id] != g.title):
            n += 1
            doc_id = f"{g.doc_id}~{n}"
        seen.add(doc_id)
        out.append(g if doc_id == g.doc_id else g.model_copy(update={"doc_id": doc_id}))
    return out
