"""One exception hierarchy, so the CLI can turn any expected failure into a clear one-line message.

Messages never contain report text or identifiers: they name the file, line and field instead.
"""

from __future__ import annotations

from pathlib import Path


class RagDxError(Exception):
    """Base of every error rag-dx raises on purpose (as opposed to a bug)."""


class InputError(RagDxError):
    """Bad input data, located precisely enough that a user can open the file and fix it.

    Args:
        path: the file that holds the bad record.
        line: 1-based physical line (CSV: the line where the record starts; JSONL: the line).
        field: the column or key at fault, if one is.
        reason: what is wrong, without quoting the (possibly identifying) value.
    """

    def __init__(self, path: str | Path, line: int | None, field: str | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = self.path
        if line is not None:
            where += f":{line}"
        if field:
            where += f" field '{field}'"
        super().__init__(f"{where}: {reason}")


class ConfigError(RagDxError):
    """Settings that cannot work (a model directory that does not exist, a k of zero...)."""


class ModelUnavailableError(RagDxError):
    """A model or its cache is missing; the message says which command prepares it."""


class DeidUnavailableError(RagDxError):
    """The de-identifier could not load. Ingest fails closed rather than storing raw text."""


class IndexNotFoundError(RagDxError):
    """No usable index version under the requested name."""


class IndexMismatchError(RagDxError):
    """The index was built with another encoder (or is otherwise inconsistent with the settings)."""


class IndexCorruptError(RagDxError):
    """An index version failed verification (checksum, count or dimension)."""


class DemoDataNotFoundError(RagDxError, FileNotFoundError):
    """The repository's ``demo/`` folder (or a file in it) is missing, e.g. in a wheel install."""
