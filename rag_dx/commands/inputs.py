"""Reading the files commands are given: report and guideline inputs, id lists."""

from __future__ import annotations

from pathlib import Path

from rag_dx.errors import RagDxError


def load_inputs(reports: list[Path], guidelines: list[Path], text_col: str, label_col: str, id_col: str,
                skip_invalid: bool) -> tuple[list, list, list]:
    """(reports, guidelines, rejected rows) from every given file; a bad row raises unless skip_invalid."""
    from rag_dx.ingest.loaders import load_guidelines, load_reports, unique_doc_ids

    all_reports, all_guidelines, rejects = [], [], []
    for path in reports:
        loaded = load_reports(path, text_col=text_col, label_col=label_col, id_col=id_col, skip_invalid=skip_invalid)
        all_reports.extend(loaded.reports)
        rejects.extend(loaded.rejects)
    for path in guidelines:
        all_guidelines.extend(load_guidelines(path))
    # ids unique across the files too, as within one file or directory (MedQuAD reuses its ids)
    return all_reports, unique_doc_ids(all_guidelines), rejects


def read_ids(path: Path) -> list[str]:
    """One id per non-empty line."""
    if path.is_dir():
        raise RagDxError(f"{path}: is a directory; --delete takes a file of ids, one per line")
    if not path.is_file():
        raise RagDxError(f"{path}: file not found" if not path.exists() else f"{path}: not a regular file")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
