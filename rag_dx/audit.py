"""An append-only, hash-chained JSONL audit log: one line per event, each holding the sha256 of the line before.

Every record is one JSON object on one line, with keys sorted and no spaces, so its bytes are
reproducible. Besides what the caller passes, each record gets

* ``seq``: 1, 2, 3, ... in file order;
* ``time``: UTC, ISO 8601, millisecond precision;
* ``prev_sha256``: the sha256 (hex) of the previous line's bytes (without its newline), or 64
  zeros for the first record.

Editing, deleting or reordering any record breaks the chain at the next one, and `verify` says
where. (Cutting records off the *end* leaves a valid shorter chain: keep `head()` somewhere
else, e.g. in a daily report, if that matters.)

Appends take an exclusive `flock` on the file, re-read the last line under the lock and fsync
before returning, so several threads or processes can share one log. A log whose last line is
torn (no trailing newline, e.g. after a crash mid-write) refuses further appends: the caller
fails closed rather than chaining onto a damaged record.

Records must never hold patient text: the UI writes ids, versions and hashes only.

Example:
    >>> import tempfile, pathlib
    >>> log = AuditLog(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl")
    >>> rec = log.append({"event": "query", "user": "dr_a", "output_sha256": "ab" * 32})
    >>> rec["seq"], verify(log.path).ok
    (1, True)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag_dx.errors import RagDxError

__all__ = ["GENESIS", "RESERVED_KEYS", "AuditError", "AuditLog", "VerifyResult", "sha256_hex", "verify"]

GENESIS = "0" * 64
"""`prev_sha256` of the first record."""

RESERVED_KEYS = frozenset({"seq", "time", "prev_sha256"})
"""Keys the log sets itself; a caller's record may not contain them."""

_TAIL_BLOCK = 4096


class AuditError(RagDxError):
    """The audit record could not be written (or the log is damaged). Callers must refuse the action."""


def sha256_hex(data: bytes | str) -> str:
    """Hex sha256 of bytes, or of a str encoded as UTF-8."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _last_line(fd: int) -> bytes | None:
    """The last line of the file (without its newline); None for an empty file.

    Raises AuditError if the file does not end with a newline (a torn write).
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise AuditError("the audit log's last record is incomplete (no trailing newline); "
                         "run `verify` and repair the log before appending")
    end = size - 1  # position of the final newline
    buf = b""
    pos = end
    while pos > 0:
        start = max(0, pos - _TAIL_BLOCK)
        buf = os.pread(fd, pos - start, start) + buf
        pos = start
        cut = buf.rfind(b"\n")
        if cut != -1:
            return buf[cut + 1 :]
    return buf


class AuditLog:
    """Append records to a hash-chained JSONL file. Safe to share between threads and processes.

    Args:
        path: the log file; it and its parent directory are created on the first append (mode 0600).

    Constructing an `AuditLog` touches nothing on disk; `append` does the work, and
    `check_writable` lets a server refuse to start when the log cannot be written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The log opened for appending and exclusively locked (closing the descriptor unlocks it)."""
        try:
            fd = self._open()
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc.strerror}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise AuditError(f"cannot lock the audit log {self.path}: {exc.strerror}") from exc
            yield fd
        finally:
            os.close(fd)

    def check_writable(self) -> None:
        """Raise AuditError unless a record could be appended now (directory, permissions, intact tail)."""
        with self._locked() as fd:
            _last_line(fd)

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Write one record and return it as written (with seq, time and prev_sha256).

        Raises:
            AuditError: the record could not be written durably, or the log's tail is damaged.
            ValueError: the record uses a reserved key or is not JSON-serializable.
        """
        clash = RESERVED_KEYS & set(record)
        if clash:
            raise ValueError(f"audit records may not set {sorted(clash)}")
        with self._lock, self._locked() as fd:
            try:
                last = _last_line(fd)
                if last is None:
                    seq, prev = 1, GENESIS
                else:
                    try:
                        seq = int(json.loads(last)["seq"]) + 1
                    except (ValueError, KeyError, TypeError) as exc:
                        raise AuditError("the audit log's last record is not a valid record; run `verify`") from exc
                    prev = sha256_hex(last)
                entry = {**record, "seq": seq, "time": _now(), "prev_sha256": prev}
                line = _canonical(entry) + b"\n"
                written = os.write(fd, line)
                if written != len(line):
                    raise AuditError(f"short write to the audit log {self.path}")
                os.fsync(fd)
            except OSError as exc:
                raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror}") from exc
        return entry

    def head(self) -> str:
        """sha256 of the last record (GENESIS for an empty or missing log): anchor it elsewhere."""
        if not self.path.exists():
            return GENESIS
        fd = os.open(self.path, os.O_RDONLY)
        try:
            last = _last_line(fd)
        finally:
            os.close(fd)
        return GENESIS if last is None else sha256_hex(last)


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found. `line` is 1-based and set when `ok` is False."""

    ok: bool
    records: int
    head: str
    error: str | None = None
    line: int | None = None

    def __bool__(self) -> bool:
        return self.ok


def verify(path: str | Path) -> VerifyResult:
    """Check a whole log: every line a JSON object, `seq` consecutive from 1, every `prev_sha256`
    equal to the hash of the line before, and a trailing newline.

    A missing or empty file is a valid, empty log. The result names the first bad line.
    """
    path = Path(path)
    if not path.exists():
        return VerifyResult(ok=True, records=0, head=GENESIS)
    data = path.read_bytes()
    if not data:
        return VerifyResult(ok=True, records=0, head=GENESIS)
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    if not torn:
        lines = lines[:-1]
    prev = GENESIS
    for i, raw in enumerate(lines, start=1):
        def bad(msg: str, i: int = i) -> VerifyResult:
            return VerifyResult(ok=False, records=i - 1, head=prev, error=msg, line=i)

        try:
            rec = json.loads(raw)
        except ValueError:
            return bad("not valid JSON" + (" (incomplete last line)" if torn and i == len(lines) else ""))
        if not isinstance(rec, dict):
            return bad("not a JSON object")
        if rec.get("seq") != i:
            return bad(f"seq is {rec.get('seq')!r}, expected {i} (a record was removed, inserted or moved)")
        if rec.get("prev_sha256") != prev:
            return bad("prev_sha256 does not match the previous record (a record before it was changed)")
        if _canonical(rec) != raw:
            return bad("the record is not in canonical form (it was edited by hand)")
        prev = sha256_hex(raw)
    if torn:
        return VerifyResult(ok=False, records=len(lines), head=prev, error="no trailing newline", line=len(lines))
    return VerifyResult(ok=True, records=len(lines), head=prev)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - thin wrapper
    """`python -m rag_dx.audit FILE`: verify a log; exit 0 if intact, 1 if not."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m rag_dx.audit AUDIT_LOG", file=sys.stderr)
        return 2
    res = verify(args[0])
    if res.ok:
        print(f"ok: {res.records} records, head {res.head}")
        return 0
    print(f"BROKEN at line {res.line}: {res.error} ({res.records} records verified before it)")
    return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
