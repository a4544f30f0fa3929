"""A bounded loopback load test: concurrent clients through uvicorn while new index versions are
switched in. Asserts correctness only (no errors; every answer from exactly one version); the
throughput and latency numbers are written by ``python -m eval.bench.serve_bench``."""

from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from rag_dx.audit import AuditLog  # noqa: E402
from rag_dx.build import build_index, update_index  # noqa: E402
from rag_dx.commands.serve import ui_guards  # noqa: E402
from rag_dx.diagnose import build_assistant  # noqa: E402
from rag_dx.feedback import FeedbackStore  # noqa: E402
from rag_dx.schemas import Report  # noqa: E402
from rag_dx.serve.app import create_app  # noqa: E402
from rag_dx.serve.load import run_load, serving  # noqa: E402
from rag_dx.settings import Settings  # noqa: E402
from tests.helpers import KeywordScorer, PassThroughDeid, fixture_guidelines, fixture_reports  # noqa: E402

QUERY = "Throbbing headache with nausea, zzmarker twitching of the eyelid and photophobia."


def marker_reports(version: int) -> list[Report]:
    """Reports only version `version` (and later ones) hold, labelled with that number."""
    return [Report(report_id=f"mk-{version}-{i}", text=f"zzmarker twitching eyelid with headache and nausea, case {i}.",
                   diagnosis=f"Marker disease {version}", source="load-test", line=i + 2) for i in range(3)]


def test_answers_under_load_each_come_from_one_version_with_no_errors(tmp_path, fake_encoder):
    settings = Settings(index_dir=tmp_path / "idx", ui_state_dir=tmp_path / "state", index_name="fx")
    build_index(settings, "fx", fixture_reports(), fixture_guidelines(), encoder=fake_encoder,
                deidentifier=PassThroughDeid())
    guards = ui_guards(deidentifier=PassThroughDeid(), audit_log=AuditLog(tmp_path / "audit.jsonl"),
                       feedback_store=FeedbackStore.open(tmp_path / "fb.sqlite"), users=None)
    app = create_app(settings, lambda name: build_assistant(settings, name, encoder=fake_encoder,
                                                            generator=KeywordScorer(), load_vocabulary=False),
                     guards=guards, max_concurrent=2)

    def switch_versions() -> None:
        for version in (2, 3):
            time.sleep(0.7)
            update_index(settings, "fx", marker_reports(version), encoder=fake_encoder, deidentifier=PassThroughDeid())

    with serving(app) as url:
        result = run_load(url, [QUERY, "Red itchy plaques with silvery scales on the elbows."], clients=4,
                          seconds=2.0, during=switch_versions, after=1.0)
    summary = result.summary()
    assert summary["errors"] == 0, summary
    assert summary["answers"] > 0
    seen = set()
    for version_id, body in result.answers:
        assert version_id in {"fx/v0001", "fx/v0002", "fx/v0003"}, version_id
        n = int(version_id.rsplit("v", 1)[1])
        seen.add(n)
        # Nothing the answer cites or ranks may come from a version newer than the one it names,
        # and what it names must exist in that version (all reports of one snapshot).
        labels = [ev.get("label") or "" for ev in body["evidence"]] + [d["diagnosis"] for d in body["differential"]]
        markers = {int(m.group(1)) for m in (re.fullmatch(r"Marker disease (\d)", x) for x in labels) if m}
        assert not markers or max(markers) == n, (version_id, markers)
        assert n > 1 or not markers
    # answers before the first switch and after the last one (the switches happen mid-run)
    assert {1, 3} <= seen, (seen, summary)
    # the audit log has one record per answer
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == summary["answers"]
