"""An append-only, hash-chained JSONL audit log: one line per event, each holding the sha256 of the line before.

Every record is one JSON object on one line, with keys sorted and no spaces, so its bytes are
reproducible. Besides what the caller passes, each record gets

* ``seq``: 1, 2, 3, ... in file order;
* ``time``: UTC, ISO 8601, millisecond precision;
* ``prev_sha256``: the sha256 (hex) of the previous line's bytes (without its newline), or 64
  zeros for the first record.

Editing, deleting or reordering any record breaks the chain at the next one, and `verify` says
where. The chain is anchored: beside `audit.jsonl` an anchor file `audit.jsonl.head` holds the
record count, the sha256 of the last record and the log's size, replaced atomically after every
append. So cutting records off the end, or editing the last record, is found too (a chain alone
would still be valid). Records written with an anchor carry ``anchor: 1``; once a log holds such a
record, a missing anchor file is itself a failure.

Appends take an exclusive `flock` on the file, re-read the last line under the lock and fsync
before returning, so several threads or processes can share one log. An append refuses (raises
`AuditError`) unless the log verifies: the whole chain is checked when the log changed since this
process last wrote it (size, mtime or inode differ), and the tail against the anchor on every
append. A log whose last line is torn (no trailing newline, e.g. after a crash mid-write) refuses
further appends too: the caller fails closed rather than chaining onto a damaged record.

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
import math
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag_dx.errors import RagDxError

__all__ = ["GENESIS", "RESERVED_KEYS", "AuditError", "AuditLog", "VerifyResult", "answer_scores", "sha256_hex",
           "verify"]

GENESIS = "0" * 64
"""`prev_sha256` of the first record."""

RESERVED_KEYS = frozenset({"seq", "time", "prev_sha256", "anchor"})
"""Keys the log sets itself; a caller's record may not contain them."""

_TAIL_BLOCK = 4096
ANCHOR_SUFFIX = ".head"


def anchor_path(path: Path) -> Path:
    """The anchor file of the log at `path`."""
    return path.with_name(path.name + ANCHOR_SUFFIX)


def _read_anchor(path: Path) -> dict[str, Any] | None:
    """The anchor beside `path` ({"records", "head", "size"}); None if missing; AuditError if unreadable."""
    try:
        raw = anchor_path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read the audit log's anchor: {exc.strerror}") from exc
    try:
        anchor = json.loads(raw)
        if not (isinstance(anchor, dict) and isinstance(anchor.get("records"), int) and isinstance(anchor.get("head"), str)):
            raise ValueError
        return anchor
    except ValueError:
        raise AuditError("the audit log's anchor file is damaged") from None


def _write_anchor(path: Path, records: int, head: str, size: int) -> None:
    """Replace the anchor atomically (temp file, fsync, rename, fsync of the directory)."""
    target = anchor_path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, _canonical({"records": records, "head": head, "size": size}) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    dfd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class AuditError(RagDxError):
    """The audit record could not be written (or the log is damaged). Callers must refuse the action."""


def sha256_hex(data: bytes | str) -> str:
    """Hex sha256 of bytes, or of a str encoded as UTF-8."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def answer_scores(answer: Any, *, set_level: float = 0.9) -> dict[str, float | int | None]:
    """The numbers about an answer that monitoring reads (rag_dx/monitor.py): never text.

    * ``top1_probability``: the first diagnosis's probability (None for an empty differential);
    * ``best_similarity``: cosine of the case to its most similar past report, from
      ``answer.best_similarity`` when the diagnose path records it (None until then);
    * ``set_level``, ``set_size``: the conformal set at `set_level` and how many diagnoses it holds
      (both None when the answer has no set at that level).

    `answer` is a `rag_dx.schemas.Differential` (read by attribute, so this module stays import-light).
    """
    differential = getattr(answer, "differential", None) or []
    top1 = float(differential[0].probability) if differential else None
    best = getattr(answer, "best_similarity", None)
    chosen = next((ps for ps in getattr(answer, "prediction_sets", None) or [] if abs(ps.level - set_level) < 1e-9),
                  None)
    return {
        "top1_probability": None if top1 is None or not math.isfinite(top1) else round(top1, 4),
        "best_similarity": None if best is None or not math.isfinite(float(best)) else round(float(best), 4),
        "set_level": None if chosen is None else float(chosen.level),
        "set_size": None if chosen is None else len(chosen.diagnoses),
    }


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
        self._verified: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) this process last saw intact

    def _check_intact(self, fd: int) -> None:
        """Raise AuditError unless the log verifies (whole chain if it changed since we last saw it)."""
        st = os.fstat(fd)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._verified:
            return
        result = verify(self.path)
        if not result.ok:
            raise AuditError(
                f"the audit log {self.path} does not verify (line {result.line}: {result.error}); nothing is "
                "appended to a broken chain. Inspect it with `rag-dx audit verify`, keep it as evidence and "
                "start a new log."
            )
        self._verified = stamp

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
        with self._lock, self._locked() as fd:
            _last_line(fd)
            self._check_intact(fd)

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
                self._check_intact(fd)
                if last is None:
                    seq, prev = 1, GENESIS
                else:
                    try:
                        seq = int(json.loads(last)["seq"]) + 1
                    except (ValueError, KeyError, TypeError) as exc:
                        raise AuditError("the audit log's last record is not a valid record; run `verify`") from exc
                    prev = sha256_hex(last)
                entry = {**record, "seq": seq, "time": _now(), "prev_sha256": prev, "anchor": 1}
                line = _canonical(entry) + b"\n"
                written = os.write(fd, line)
                if written != len(line):
                    raise AuditError(f"short write to the audit log {self.path}")
                os.fsync(fd)
                st = os.fstat(fd)
                _write_anchor(self.path, seq, sha256_hex(line[:-1]), st.st_size)
                self._verified = (st.st_ino, st.st_size, st.st_mtime_ns)
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
    try:
        anchor = _read_anchor(path)
    except AuditError as exc:
        return VerifyResult(ok=False, records=0, head=GENESIS, error=str(exc), line=None)
    data = path.read_bytes() if path.exists() else b""
    if not data:
        if anchor is not None and anchor["records"] > 0:
            return VerifyResult(ok=False, records=0, head=GENESIS, line=1,
                                error=f"the log is empty or missing but its anchor records {anchor['records']} records")
        return VerifyResult(ok=True, records=0, head=GENESIS)
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    if not torn:
        lines = lines[:-1]
    prev = GENESIS
    anchored = False
    hashes: list[str] = []
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
        hashes.append(prev)
        anchored = anchored or rec.get("anchor") == 1
    n = len(lines)
    if torn:
        return VerifyResult(ok=False, records=n, head=prev, error="no trailing newline", line=n)
    return _check_anchor(anchor, anchored, n, prev, hashes)


def _check_anchor(anchor: dict[str, Any] | None, anchored: bool, n: int, head: str, hashes: list[str]) -> VerifyResult:
    """The chain's end against the anchor file: records cut off the end, or an edited last record."""
    if anchor is None:
        if anchored:
            return VerifyResult(ok=False, records=n, head=head, line=n,
                                error="the anchor file is missing (it records the log's length and last hash)")
        return VerifyResult(ok=True, records=n, head=head)  # a log written before anchoring
    records = anchor["records"]
    if records > n:
        return VerifyResult(ok=False, records=n, head=head, line=n,
                            error=f"records were cut off the end: the anchor records {records}, the log holds {n}")
    if records == n and anchor["head"] != head:
        return VerifyResult(ok=False, records=n - 1, head=head, line=n,
                            error="the last record does not match the anchor (it was edited or replaced)")
    if records < n and (records == 0 or hashes[records - 1] != anchor["head"]):
        return VerifyResult(ok=False, records=n, head=head, line=max(records, 1),
                            error="the record the anchor points at was changed")
    if records < n - 1:
        # one unanchored record is a crash between the append and the anchor update; more is not
        return VerifyResult(ok=False, records=n, head=head, line=records + 1,
                            error=f"{n - records} records were appended without updating the anchor")
    return VerifyResult(ok=True, records=n, head=head)


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
