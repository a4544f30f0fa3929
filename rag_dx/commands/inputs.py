"""Reading the files commands are given: report and guideline inputs, id lists."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag_dx.errors import RagDxError

if TYPE_CHECKING:
    from rag_dx.schemas import Report


def load_inputs(reports: list[Path], guidelines: list[Path], text_col: str, label_col: str, id_col: str,
                skip_invalid: bool) -> tuple[list, list, list]:
    """(reports, guidelines, rejected rows) from every given file; a bad row raises unless skip_invalid."""
    from rag_dx.ingest.loaders import load_guidelines, load_reports, unique_doc_ids

    all_reports, all_guidelines, rejects = [], [], []
    first_seen: dict[str, tuple[Path, int | None]] = {}
    for path in reports:
        loaded = load_reports(path, text_col=text_col, label_col=label_col, id_col=id_col, skip_invalid=skip_invalid)
        rejects.extend(loaded.rejects)
        for r in loaded.reports:
            r = _unique_across_files(r, path, id_col, first_seen, rejects, skip_invalid)
            if r is not None:
                first_seen[r.report_id] = (path, r.line)
                all_reports.append(r)
    for path in guidelines:
        all_guidelines.extend(load_guidelines(path))
    # ids unique across the files too, as within one file or directory (MedQuAD reuses its ids)
    return all_reports, unique_doc_ids(all_guidelines), rejects


def _unique_across_files(report: "Report", path: Path, id_col: str, first_seen: dict[str, tuple[Path, int | None]],
                         rejects: list, skip_invalid: bool) -> "Report | None":
    """The report, its id unique across the build's files as it is within one file.

    A given id met again is an error naming the file, line and column, never the id (it may
    identify a patient): the index stopped on "duplicate chunk id" with the id and no file. A
    derived id (a report without one is named by its text) gets the next "-n", as twins do
    within a file. None when the report is skipped (`skip_invalid`).
    """
    from rag_dx.errors import InputError
    from rag_dx.ingest.loaders import derive_report_id, named_by_text, twin_id

    if report.report_id not in first_seen:
        return report
    if named_by_text(report.report_id, report.text):
        return report.model_copy(update={"report_id": twin_id(derive_report_id(report.text), first_seen)})
    first_path, first_line = first_seen[report.report_id]
    err = InputError(path, report.line, id_col, f"duplicate {id_col} (first seen in {first_path} line {first_line})")
    if not skip_invalid:
        raise err
    rejects.append(err)
    return None


def read_ids(path: Path) -> list[str]:
    """One id per non-empty line."""
    if path.is_dir():
        raise RagDxError(f"{path}: is a directory; --delete takes a file of ids, one per line")
    if not path.is_file():
        raise RagDxError(f"{path}: file not found" if not path.exists() else f"{path}: not a regular file")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
