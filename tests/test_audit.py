"""The hash-chained audit log: records chain, tampering is found, concurrent writers keep the chain."""

from __future__ import annotations

import json
import multiprocessing
import threading

import pytest

from rag_dx.audit import GENESIS, AuditError, AuditLog, sha256_hex, verify


def _lines(path):
    return path.read_bytes().splitlines()


def test_records_chain_to_the_previous_line(tmp_path):
    log = AuditLog(tmp_path / "sub" / "audit.jsonl")
    assert not log.path.exists() and log.head() == GENESIS  # constructing touches nothing
    first = log.append({"event": "query", "user": "dr_a", "evidence_ids": ["R:1#0"]})
    second = log.append({"event": "feedback", "user": "dr_a"})
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["prev_sha256"] == GENESIS
    lines = _lines(log.path)
    assert second["prev_sha256"] == sha256_hex(lines[0])
    assert json.loads(lines[1]) == second
    res = verify(log.path)
    assert res.ok and res.records == 2 and res.head == sha256_hex(lines[1]) == log.head()
    assert (log.path.stat().st_mode & 0o777) == 0o600


def test_empty_or_missing_log_verifies(tmp_path):
    assert verify(tmp_path / "none.jsonl").ok
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert verify(tmp_path / "empty.jsonl").records == 0


@pytest.fixture()
def three(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(3):
        log.append({"event": "query", "n": i})
    return log


def test_an_edited_record_breaks_the_chain_at_the_next(three):
    lines = _lines(three.path)
    rec = json.loads(lines[1])
    rec["n"] = 99  # rewritten in canonical form: only the chain gives it away
    lines[1] = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
    three.path.write_bytes(b"\n".join(lines) + b"\n")
    res = verify(three.path)
    assert not res.ok and res.line == 3 and "prev_sha256" in res.error and res.records == 2


def test_a_hand_edit_is_found_on_its_own_line(three):
    text = three.path.read_text().replace('"n":1', '"n": 1')
    three.path.write_text(text)
    res = verify(three.path)
    assert not res.ok and res.line == 2


def test_a_removed_record_is_found(three):
    lines = _lines(three.path)
    three.path.write_bytes(lines[0] + b"\n" + lines[2] + b"\n")
    res = verify(three.path)
    assert not res.ok and res.line == 2 and "seq" in res.error


def test_a_torn_tail_fails_verify_and_refuses_appends(three):
    with three.path.open("ab") as fh:
        fh.write(b'{"event":"query","seq":4')
    assert not verify(three.path).ok
    with pytest.raises(AuditError, match="incomplete"):
        three.append({"event": "query"})
    with pytest.raises(AuditError):
        three.check_writable()


def test_reserved_keys_are_refused(tmp_path):
    with pytest.raises(ValueError):
        AuditLog(tmp_path / "a.jsonl").append({"seq": 7})


def test_unwritable_location_raises_audit_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    log = AuditLog(blocker / "audit.jsonl")
    with pytest.raises(AuditError):
        log.append({"event": "query"})
    with pytest.raises(AuditError):
        log.check_writable()


def test_threads_share_one_log(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    threads = [threading.Thread(target=lambda k=k: [log.append({"t": k, "i": i}) for i in range(20)]) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res = verify(log.path)
    assert res.ok and res.records == 120


def _append_many(path: str, n: int) -> None:
    log = AuditLog(path)
    for i in range(n):
        log.append({"pid_record": i})


def test_processes_share_one_log(tmp_path):
    path = str(tmp_path / "audit.jsonl")
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold torch's threads
    procs = [ctx.Process(target=_append_many, args=(path, 15)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    res = verify(path)
    assert res.ok and res.records == 45


# ------------------------------------------------------------------------------------------
# the anchor (issue 14): tail truncation and a last-record edit are found; broken chains refuse appends
# ------------------------------------------------------------------------------------------


def test_cutting_records_off_the_end_is_found(three):
    from rag_dx.audit import anchor_path

    assert anchor_path(three.path).exists() and verify(three.path).ok
    lines = _lines(three.path)
    three.path.write_bytes(b"\n".join(lines[:2]) + b"\n")  # a valid, shorter chain
    res = verify(three.path)
    assert not res.ok and "cut off the end" in res.error
    three.path.write_bytes(b"")
    assert not verify(three.path).ok


def test_editing_the_last_record_is_found(three):
    lines = _lines(three.path)
    rec = json.loads(lines[-1])
    rec["n"] = 7  # canonical form, chain intact: only the anchor gives it away
    lines[-1] = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
    three.path.write_bytes(b"\n".join(lines) + b"\n")
    res = verify(three.path)
    assert not res.ok and res.line == 3 and "anchor" in res.error


def test_deleting_the_anchor_is_found(three):
    from rag_dx.audit import anchor_path

    anchor_path(three.path).unlink()
    res = verify(three.path)
    assert not res.ok and "anchor file is missing" in res.error


def test_appends_refuse_when_the_chain_does_not_verify(three):
    data = bytearray(three.path.read_bytes())
    data[data.index(b'"n":1') + 4] = ord("5")  # same length, mid-file: the chain breaks at line 3
    three.path.write_bytes(bytes(data))
    with pytest.raises(AuditError, match="does not verify"):
        three.append({"event": "query"})
    with pytest.raises(AuditError):
        AuditLog(three.path).append({"event": "query"})  # a fresh process too
    with pytest.raises(AuditError):
        three.check_writable()
    assert len(_lines(three.path)) == 3  # nothing was chained onto the broken log


def test_appends_refuse_after_a_truncation(three):
    lines = _lines(three.path)
    three.path.write_bytes(b"\n".join(lines[:2]) + b"\n")
    with pytest.raises(AuditError):
        AuditLog(three.path).append({"event": "query"})


def test_a_log_written_before_anchoring_is_anchored_on_its_next_append(tmp_path):
    from rag_dx.audit import _canonical, anchor_path

    path = tmp_path / "old.jsonl"
    prev, lines = GENESIS, []
    for i in range(1, 3):
        raw = _canonical({"event": "query", "seq": i, "time": "2025-01-01T00:00:00.000Z", "prev_sha256": prev})
        lines.append(raw)
        prev = sha256_hex(raw)
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert verify(path).ok and not anchor_path(path).exists()
    AuditLog(path).append({"event": "query"})
    assert anchor_path(path).exists() and verify(path).records == 3
    path.write_bytes(b"\n".join(_lines(path)[:2]) + b"\n")
    assert not verify(path).ok
