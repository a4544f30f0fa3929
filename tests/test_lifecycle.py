"""Index lifecycle: update, rebuild, rollback, gc, fallback, hot switch and crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rag_dx.diagnose import build_assistant
from rag_dx.errors import RagDxError
from rag_dx.build import build_index, rebuild_index, update_index
from rag_dx.index.reader import LiveIndex, open_index
from rag_dx.index.store import IndexStore
from rag_dx.schemas import Report
from rag_dx.settings import Settings
from tests.helpers import PassThroughDeid, fixture_guidelines, fixture_reports

REPO = Path(__file__).resolve().parents[1]


class CountingEncoder:
    """Wraps the fake encoder and counts how many texts it was asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0
        self.name, self.dim, self.fingerprint = inner.name, inner.dim, inner.fingerprint

    @property
    def tokenizer(self):
        return self.inner.tokenizer

    def encode(self, texts, **kw):
        self.calls += len(texts)
        return self.inner.encode(texts, **kw)


@pytest.fixture()
def settings(tmp_path):
    return Settings(index_dir=tmp_path / "idx")


@pytest.fixture()
def base(settings, fake_encoder):
    build_index(settings, "fx", fixture_reports(), fixture_guidelines(), encoder=fake_encoder,
                deidentifier=PassThroughDeid())
    return settings


def _open(settings, enc):
    return open_index(settings.index_dir, "fx", encoder_name=enc.name, encoder_fingerprint=enc.fingerprint)


def test_update_adds_replaces_deletes_and_embeds_only_new_text(base, fake_encoder):
    enc = CountingEncoder(fake_encoder)
    new = [
        Report(report_id="fx-100", text="Wheezing and chest tightness at night, relieved by inhaler.", diagnosis="Asthma"),
        Report(report_id="fx-003", text="Erythematous plaques with silver scale on both knees.", diagnosis="Psoriasis"),
    ]
    path = update_index(base, "fx", new, delete_ids=["fx-011", "gl-cluster"], encoder=enc,
                        deidentifier=PassThroughDeid())
    m = json.loads((path / "manifest.json").read_text())
    assert m["operation"] == "update" and m["parent_version"] == "v0001" and path.name == "v0002"
    assert m["changes"] == {"added": 1, "replaced": 1, "deleted": 2}
    assert enc.calls == 2 == m["embedded_chunks"]  # the 13 unchanged chunks reused their vectors
    assert m["counts"]["chunks"] == 15 - 2 + 1
    loaded = _open(base, fake_encoder)
    docs = {c.doc_id: c for c in loaded.docstore.get(loaded.docstore.all_row_ids()).values()}
    assert "fx-011" not in docs and "gl-cluster" not in docs and docs["fx-100"].label == "Asthma"
    assert "silver scale" in docs["fx-003"].text
    # FAISS, BM25 and the docstore agree after the update.
    assert loaded.dense.ntotal == len(loaded.sparse.row_ids) == loaded.docstore.count() == 14


def test_a_guideline_reusing_a_held_id_replaces_only_its_own_revision(base, fake_encoder):
    """MedQuAD numbers answers per sub-collection: an added page that reuses the id of a different
    page must be added beside it, not delete it; the same page revised (same title) replaces it."""
    from rag_dx.schemas import Guideline

    other = Guideline(doc_id="gl-migraine", title="What is GERD?", topic="GERD", source="fixture",
                      text="GERD: acid reflux with heartburn after meals and a sour taste.")
    revised = Guideline(doc_id="gl-cluster", title="Cluster headache", topic="Cluster headache", source="fixture",
                        text="Cluster headache: severe unilateral orbital pain with tearing and a blocked nostril.")
    path = update_index(base, "fx", [], guidelines=[other, revised], encoder=fake_encoder)
    m = json.loads((path / "manifest.json").read_text())
    assert m["changes"] == {"added": 1, "replaced": 1, "deleted": 0}
    loaded = _open(base, fake_encoder)
    docs = {c.doc_id: c for c in loaded.docstore.get(loaded.docstore.all_row_ids()).values()}
    assert docs["gl-migraine"].label == "Migraine" and docs["gl-migraine~2"].label == "GERD"
    assert "blocked nostril" in docs["gl-cluster"].text and "gl-cluster~2" not in docs
    # the same file added again changes nothing: each page finds its own id (GERD its ~2)
    assert update_index(base, "fx", [], guidelines=[other, revised], encoder=fake_encoder) == path


def test_update_refuses_unknown_delete_ids_and_writes_nothing(base, fake_encoder):
    with pytest.raises(RagDxError, match="does not hold") as info:
        update_index(base, "fx", [], delete_ids=["fx-011", "mrn-4471"], encoder=fake_encoder,
                     deidentifier=PassThroughDeid())
    assert "id number 2 of the list" in str(info.value) and "4471" not in str(info.value)  # never the id
    assert [p.name for p in IndexStore(base.index_dir, "fx").versions()] == ["v0001"]


def test_update_with_another_encoder_is_refused_but_rebuild_reembeds(base, fake_encoder):
    class OtherEncoder(CountingEncoder):
        pass

    other = OtherEncoder(fake_encoder)
    other.fingerprint, other.name = "f" * 64, "other"
    with pytest.raises(RagDxError, match="rag-dx index rebuild --name fx"):
        update_index(base, "fx", [], delete_ids=["fx-000"], encoder=other, deidentifier=PassThroughDeid())
    path = rebuild_index(base, "fx", encoder=other)
    m = json.loads((path / "manifest.json").read_text())
    assert m["operation"] == "rebuild" and other.calls == m["counts"]["chunks"] == 15
    assert m["encoder"]["fingerprint"] == "f" * 64


def test_rollback_gc_and_live_switch(base, fake_encoder):
    store = IndexStore(base.index_dir, "fx")
    live = LiveIndex(base.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    assert live.snapshot().version == "v0001"
    update_index(base, "fx", [], delete_ids=["fx-000"], encoder=fake_encoder, deidentifier=PassThroughDeid())
    update_index(base, "fx", [], delete_ids=["fx-001"], encoder=fake_encoder, deidentifier=PassThroughDeid())
    assert live.snapshot().version == "v0003"  # picked up without a restart
    store.switch("v0001")
    assert live.snapshot().version == "v0001"
    (store.versions_dir / ".partial-1-2").mkdir()
    removed = store.gc(keep=1)
    assert sorted(removed) == [".partial-1-2", "v0002"]  # v0003 newest, v0001 serving: both kept
    assert [p.name for p in store.versions()] == ["v0001", "v0003"]


def test_corrupt_current_falls_back_to_last_good_with_warning(base, fake_encoder):
    update_index(base, "fx", [], delete_ids=["fx-000"], encoder=fake_encoder, deidentifier=PassThroughDeid())
    store = IndexStore(base.index_dir, "fx")
    target = store.versions_dir / "v0002" / "docstore.sqlite"
    target.write_bytes(target.read_bytes()[:-100])  # truncated, as after a torn write
    loaded = _open(base, fake_encoder)
    assert loaded.version == "v0001" and "failed verification" in loaded.warnings[0]
    assistant = build_assistant(base, "fx", encoder=fake_encoder, generator=None, load_generator=False,
                                load_vocabulary=False)
    result = assistant.diagnose("silvery scaly plaques", mode="retrieval")
    assert result.warnings and result.versions.index == "fx/v0001"


def test_queries_during_a_switch_each_see_exactly_one_version(base, fake_encoder):
    assistant = build_assistant(base, "fx", encoder=fake_encoder, generator=None, load_generator=False,
                                load_vocabulary=False)
    marker = Report(report_id="fx-new", text="Silvery scaly plaques, biopsy proven.", diagnosis="Plaque psoriasis")

    def ask(_):
        r = assistant.diagnose("silvery scaly plaques on elbows", mode="retrieval")
        labels = {e.label for e in r.evidence}
        return r.versions.index, "Plaque psoriasis" in labels

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(ask, i) for i in range(200)]
        time.sleep(0.05)
        update_index(base, "fx", [marker], encoder=fake_encoder, deidentifier=PassThroughDeid())
        results = [f.result() for f in futures]  # none raises
    for version, has_marker in results:
        assert version in {"fx/v0001", "fx/v0002"}
        assert has_marker == (version == "fx/v0002")
    assert assistant.diagnose("silvery scaly plaques", mode="retrieval").versions.index == "fx/v0002"


_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    import rag_dx.build as build
    import rag_dx.index.store as store
    import rag_dx.index.writer as writer
    from rag_dx.schemas import Report
    from rag_dx.settings import Settings
    from tests.conftest import FakeEncoder
    from tests.helpers import PassThroughDeid

    def die_after(owner, attr):
        original = getattr(owner, attr)
        def wrapper(*a, **k):
            out = original(*a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
            return out
        setattr(owner, attr, wrapper)

    def die_before(owner, attr):
        def wrapper(*a, **k):
            os.kill(os.getpid(), signal.SIGKILL)
        setattr(owner, attr, wrapper)

    stage = sys.argv[1]
    if stage == "after-docstore":
        die_after(writer, "write_docstore")
    elif stage == "after-faiss":
        die_after(writer.DenseIndex, "save")
    elif stage == "before-fsync":
        die_before(store, "fsync_tree")
    elif stage == "before-switch":
        die_before(store.IndexStore, "switch")
    elif stage == "after-switch":
        die_after(store.IndexStore, "switch")
    # The negation-aware practice classifier would build a spaCy + HPO extractor (~15 s per process
    # before the kill) that these synthetic reports do not need; every file of a version is still
    # written, in order. (A reports-only build no longer reads the ICD-10-CM vocabulary at all.)
    if stage == "timed":
        # the timed kills are measured from the moment the first build starts writing, so they land
        # among the writes and not while the builder is still importing and embedding
        first_write = writer.write_docstore
        def announce(*a, **k):
            if not getattr(announce, "done", False):
                announce.done = True
                print("writing", flush=True)
            return first_write(*a, **k)
        writer.write_docstore = announce
    n = 300 if stage != "timed" else 4000
    reports = [Report(report_id=f"k{{i}}", text=f"case {{i}} with fever cough and rash number {{i}}",
                      diagnosis=f"D{{i % 7}}") for i in range(n)]
    s = Settings(index_dir={index_dir!r}, diagnosis={{"negation_aware": False}})
    print("start", flush=True)
    while True:
        build.build_index(s, "fx", reports, [], encoder=FakeEncoder(), deidentifier=PassThroughDeid())
    """
)

STAGES = ["after-docstore", "after-faiss", "before-fsync", "before-switch", "after-switch"]


@pytest.mark.slow
def test_kill_9_mid_build_never_breaks_the_serving_version(base, fake_encoder, tmp_path):
    """SIGKILL at each step of a build (deterministically), then at random moments."""
    script = tmp_path / "builder.py"
    script.write_text(_KILL_SCRIPT.format(repo=str(REPO), index_dir=str(base.index_dir)))
    store = IndexStore(base.index_dir, "fx")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # timed kills: seconds after the first build began writing (a build of 4,000 reports writes for
    # about a second here, and the builder loops, so later kills land in later builds' writes)
    runs = [(stage, None) for stage in STAGES] + [("timed", d) for d in (0.05, 0.4, 1.5)]
    for stage, delay in runs:
        before = store.current_version()
        proc = subprocess.Popen([sys.executable, str(script), stage], cwd=REPO, env=env, stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"start"
        if delay is not None:
            assert proc.stdout.readline().strip() == b"writing"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=120) == -signal.SIGKILL
        # Whatever moment it died at, CURRENT names a complete version that verifies and loads.
        loaded = _open(base, fake_encoder)
        assert not loaded.warnings and loaded.dense.ntotal == loaded.docstore.count() > 0
        if stage in STAGES[:-1]:
            assert store.current_version() == before, stage  # died before the switch: old version serves
        if stage in ("after-docstore", "after-faiss", "before-fsync"):
            assert list(store.versions_dir.glob(".partial-*")), stage  # the torn build is visible...
        if stage == "after-switch":
            assert store.current_version() != before and loaded.dense.ntotal == 300
    # ...and cleaned by the next writer.
    build_index(base, "fx", fixture_reports(), [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    assert not list(store.versions_dir.glob(".partial-*"))


def test_index_changes_are_audited_in_a_hash_chain(base, fake_encoder):
    from rag_dx.audit import verify

    store = IndexStore(base.index_dir, "fx")
    update_index(base, "fx", [], delete_ids=["fx-000"], encoder=fake_encoder, deidentifier=PassThroughDeid())
    store.switch("v0001")
    log = store.root / "audit.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["version_created", "switched", "version_created", "switched", "switched"]
    assert records[2]["operation"] == "update" and records[2]["changes"]["deleted"] == 1
    assert records[-1]["version"] == "v0001" and records[-1]["previous"] == "v0002" and records[-1]["user"]
    assert verify(log).ok and verify(log).records == 5
    data = bytearray(log.read_bytes())
    data[data.index(b'"v0002"') + 2] ^= 0x01  # one byte edited in the middle of the chain
    log.write_bytes(bytes(data))
    assert not verify(log).ok


def test_a_change_that_cannot_be_audited_is_refused(base, fake_encoder):
    from rag_dx.audit import AuditError

    store = IndexStore(base.index_dir, "fx")
    log = store.root / "audit.jsonl"
    log.write_bytes(log.read_bytes() + b'{"torn": ')  # a crash mid-write left a torn last record
    with pytest.raises(AuditError):
        update_index(base, "fx", [], delete_ids=["fx-000"], encoder=fake_encoder, deidentifier=PassThroughDeid())
    assert store.current_version() == "v0001" and len(store.versions()) == 1


# ------------------------------------------------------------------------------------------
# index boundaries (issue 14): CURRENT names a version of this index, nothing else
# ------------------------------------------------------------------------------------------


@pytest.fixture()
def two_indexes(base, fake_encoder):
    """fx (v0001, v0002) and another index 'other' whose data must never be served as fx."""
    update_index(base, "fx", [], delete_ids=["fx-000"], encoder=fake_encoder, deidentifier=PassThroughDeid())
    other = [Report(report_id="secret-1", text="Other practice report about gout in the big toe.", diagnosis="Gout")]
    build_index(base, "other", other, [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    return base


@pytest.mark.parametrize("pointer", ["../../other/versions/v0001", "ABSOLUTE", "v0001/../../../other/versions/v0001",
                                     ".partial-1-2", "v1", "versions/v0001", "v0002\nv0001"])
def test_current_outside_the_index_is_corrupt_and_falls_back(two_indexes, fake_encoder, pointer):
    from rag_dx.errors import IndexCorruptError

    base = two_indexes
    store = IndexStore(base.index_dir, "fx")
    if pointer == "ABSOLUTE":
        pointer = str(IndexStore(base.index_dir, "other").versions_dir / "v0001")
    (store.root / "CURRENT").write_text(pointer + "\n")
    with pytest.raises(IndexCorruptError):
        store.current_dir()
    assert store.current_version() is None
    loaded = _open(base, fake_encoder)
    assert loaded.path.parent == store.versions_dir and loaded.version == "v0002"
    assert loaded.warnings and "failed verification" in loaded.warnings[0]
    assert all(pointer not in w for w in loaded.warnings)  # the pointer's content is never echoed


def test_a_version_symlinked_to_another_index_is_not_a_version(two_indexes, fake_encoder):
    base = two_indexes
    store = IndexStore(base.index_dir, "fx")
    (store.versions_dir / "v0009").symlink_to(IndexStore(base.index_dir, "other").versions_dir / "v0001")
    assert [p.name for p in store.versions()] == ["v0001", "v0002"]
    (store.root / "CURRENT").write_text("v0009\n")
    loaded = _open(base, fake_encoder)
    assert loaded.version == "v0002" and loaded.warnings
    with pytest.raises(RagDxError):
        store.switch("v0009")


def test_undecodable_manifest_falls_back_like_any_corruption(two_indexes, fake_encoder):
    base = two_indexes
    store = IndexStore(base.index_dir, "fx")
    (store.versions_dir / "v0002" / "manifest.json").write_bytes(b'{"version": "v0002\xff\xfe"}')
    loaded = _open(base, fake_encoder)
    assert loaded.version == "v0001" and loaded.warnings
    from typer.testing import CliRunner

    from rag_dx.cli import app

    res = CliRunner().invoke(app, ["index", "verify", "--name", "fx", "--index-dir", str(base.index_dir)])
    assert res.exit_code != 0 and "Traceback" not in res.output and "UnicodeDecodeError" not in str(res.exception or "")


@pytest.mark.parametrize("damage", ["delete", "empty"])
def test_missing_or_empty_current_serves_the_newest_good_version_with_a_warning(two_indexes, fake_encoder, damage):
    base = two_indexes
    store = IndexStore(base.index_dir, "fx")
    if damage == "delete":
        (store.root / "CURRENT").unlink()
    else:
        (store.root / "CURRENT").write_text("")
    loaded = _open(base, fake_encoder)
    assert loaded.version == "v0002" and loaded.warnings
    live = LiveIndex(base.index_dir, "fx", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)
    assert live.snapshot().version == "v0002"


def test_an_index_that_was_never_built_is_still_not_found(base, fake_encoder):
    from rag_dx.errors import IndexNotFoundError

    with pytest.raises(IndexNotFoundError, match="no index named"):
        open_index(base.index_dir, "nothing", encoder_name="fake", encoder_fingerprint=fake_encoder.fingerprint)


def test_index_files_are_owner_only(base, fake_encoder):
    update_index(base, "fx", [], delete_ids=["fx-000"], encoder=fake_encoder, deidentifier=PassThroughDeid())
    root = IndexStore(base.index_dir, "fx").root
    paths = [root, *root.rglob("*")]
    wrong = [p.relative_to(root) for p in paths
             if (p.stat().st_mode & 0o777) != (0o700 if p.is_dir() else 0o600)]
    assert wrong == []


def test_an_update_that_changes_nothing_makes_no_version(base, fake_encoder):
    store = IndexStore(base.index_dir, "fx")
    same = update_index(base, "fx", fixture_reports(), encoder=fake_encoder, deidentifier=PassThroughDeid())
    assert same.name == "v0001" and [p.name for p in store.versions()] == ["v0001"]
    empty = update_index(base, "fx", [], encoder=fake_encoder, deidentifier=PassThroughDeid())  # header-only file
    assert empty.name == "v0001" and store.current_version() == "v0001" and len(store.versions()) == 1
    changed = [r.model_copy(update={"text": r.text + " Also mild fever."}) for r in fixture_reports()[:1]]
    assert update_index(base, "fx", changed, encoder=fake_encoder, deidentifier=PassThroughDeid()).name == "v0002"


def test_cli_update_with_an_unchanged_file_says_nothing_changed(base, tmp_path, fake_encoder, monkeypatch):
    from typer.testing import CliRunner

    import rag_dx.build
    from rag_dx.cli import app
    from tests.helpers import fixture_rows, write_reports_csv

    monkeypatch.setattr(rag_dx.build, "_encoder", lambda settings, encoder: fake_encoder)
    monkeypatch.setattr("rag_dx.ingest.deid.Deidentifier.load", classmethod(lambda cls, *a, **k: PassThroughDeid()))

    same = write_reports_csv(tmp_path / "same.csv", fixture_rows())
    header_only = write_reports_csv(tmp_path / "empty.csv", [])
    where = ["--index-dir", str(base.index_dir)]
    res = CliRunner().invoke(app, ["index", "build", "--name", "cli", "--reports", str(same), *where])
    assert res.exit_code == 0, res.output
    for path in (same, header_only):
        res = CliRunner().invoke(app, ["index", "update", "--name", "cli", "--reports", str(path), *where])
        assert res.exit_code == 0 and "nothing changed" in res.output, path.name
    assert [p.name for p in IndexStore(base.index_dir, "cli").versions()] == ["v0001"]


def test_delete_on_a_directory_says_so(base, tmp_path):
    from typer.testing import CliRunner

    from rag_dx.cli import app

    folder = tmp_path / "ids"
    folder.mkdir()
    res = CliRunner().invoke(app, ["index", "update", "--name", "fx", "--delete", str(folder),
                                   "--index-dir", str(base.index_dir)])
    assert res.exit_code != 0 and "is a directory" in res.output and "not found" not in res.output
