"""`rag-dx monitor`: figures computed by hand on small audit logs and feedback stores written through
the project's own APIs, warnings raised exactly when a threshold is crossed, and a report (PNG +
HTML) that holds no case text, end to end from a UI session (the UI's service, a real index)."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import rag_dx.audit as audit_module
from rag_dx.audit import AuditLog, answer_scores
from rag_dx.errors import InputError
from rag_dx.feedback import FeedbackStore
from rag_dx.monitor import agreement, daily_rows, feedback_facts, profile_ranker, psi, query_facts, summarize
from rag_dx.monitor_report import render_html, render_pngs, write_report
from rag_dx.monitor_sources import monitor_summary, read_audit
from rag_dx.practice.ood import SimilarityProfile
from rag_dx.schemas import Diagnosis, Differential, PredictionSet, Versions
from rag_dx.settings import MonitorSettings

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday
CASE_TEXT = "Zebulon-case-text: 61yo with crushing retrosternal pain radiating to the jaw"
EVIDENCE_TEXT = "Quillfeather-evidence-text: past report of exertional angina"
#: Profile whose percentiles are 0.5 .. 0.9 in steps of 0.004: rank(s) = (s - 0.5) / 0.4.
PROFILE = SimilarityProfile.from_similarities(np.linspace(0.5, 0.9, 101))
DECILE_CENTRES = [0.5 + 0.4 * (i + 0.5) / 10 for i in range(10)]  # ranks 0.05, 0.15, ..., 0.95


def answer(top: str = "Migraine", probs=(0.6, 0.3), names=("Migraine", "Tension headache"), in_set=None) -> Differential:
    diffs = [Diagnosis(diagnosis=n, probability=p, evidence=["r1"]) for n, p in zip(names, probs)]
    diffs.sort(key=lambda d: d.diagnosis != top)
    sets = [PredictionSet(level=0.9, diagnoses=list(in_set if in_set is not None else names))]
    from rag_dx.schemas import Evidence

    ev = [Evidence(id="r1", kind="report", title="r1", text=EVIDENCE_TEXT, score=0.03)]
    return Differential(differential=diffs, evidence=ev, abstained=False,
                        versions=Versions(package="0", index="demo/v0001"), prediction_sets=sets)


@pytest.fixture()
def clock(monkeypatch):
    """The audit log's clock, set by the test (the log stamps each record itself)."""
    now = [T0]
    monkeypatch.setattr(audit_module, "_now", lambda: now[0].isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    return now


def query(log: AuditLog, qid: str, *, abstained=False, top1=0.6, sim=None, failed=False, index="demo/v0001"):
    if failed:
        return log.append({"event": "query_failed", "query_id": qid, "user": "dr_a", "error": "X"})
    scores = answer_scores(answer(probs=(top1, 0.1)))
    scores["best_similarity"] = sim  # what the diagnose path records (see docs/monitoring.md)
    return log.append({"event": "query", "query_id": qid, "user": "dr_a", "versions": {"index": index},
                       "abstained": abstained, **scores})


def facts(log: AuditLog):
    return query_facts([json.loads(line) for line in log.path.read_text().splitlines()], source=str(log.path))


def settings(**kw) -> MonitorSettings:
    return MonitorSettings(**{"min_queries": 1, "min_feedback": 1, **kw})


# -- numbers by hand ------------------------------------------------------------------------------------------


def test_psi_is_zero_for_the_profile_itself_and_matches_the_formula_otherwise():
    assert psi([(i + 0.5) / 10 for i in range(10)]) == pytest.approx(0.0, abs=1e-12)
    # half the cases in the lowest decile, half in the highest, 8 bins empty (floored at 1e-4)
    expected = 2 * (0.5 - 0.1) * math.log(0.5 / 0.1) + 8 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert psi([0.05] * 5 + [0.95] * 5) == pytest.approx(expected) == pytest.approx(6.80823, abs=1e-4)
    with pytest.raises(ValueError):
        psi([1.5])


def test_answer_scores_are_numbers_only():
    scores = answer_scores(answer(probs=(0.61234, 0.2), in_set=["Migraine"]))
    assert scores == {"top1_probability": 0.6123, "best_similarity": None, "set_level": 0.9, "set_size": 1}


def test_queries_per_day_abstention_and_confidence(tmp_path, clock):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i, (abst, top1) in enumerate([(False, 0.9), (True, 0.15), (False, 0.6)]):
        clock[0] = T0 + timedelta(minutes=i)
        query(log, f"a{i}", abstained=abst, top1=top1)
    query(log, "a-failed", failed=True)
    clock[0] = T0 + timedelta(days=1)
    query(log, "b0", top1=0.35)
    log.append({"event": "feedback", "query_id": "b0", "user": "dr_a", "kind": "wrong"})  # not a query
    rows = daily_rows(facts(log))
    assert [(r.day.isoformat(), r.queries, r.failed, r.abstained) for r in rows] == [
        ("2025-03-03", 4, 1, 1), ("2025-03-04", 1, 0, 0)]
    assert rows[0].abstention_rate == pytest.approx(1 / 3) and rows[1].abstention_rate == 0.0
    assert rows[0].mean_top1 == pytest.approx((0.9 + 0.15 + 0.6) / 3)
    s = summarize(facts(log), [], rank_of=lambda q: None, settings=settings(), now=T0 + timedelta(days=2))
    assert s.confidence_bins == [0, 0, 0, 1, 0, 0, 1, 0, 0, 1] and s.confidence_bins_abstained[1] == 1
    assert (s.queries, s.failed, s.abstained) == (5, 1, 1)


def feedback_store(tmp_path) -> FeedbackStore:
    """Five answers judged: top-1 confirmed (in set), second confirmed (in set), a diagnosis outside
    the set, 'wrong', 'evidence wrong'; one answer re-judged (only the latest counts)."""
    store = FeedbackStore.open(tmp_path / "feedback.sqlite")
    out = answer(in_set=["Migraine", "Tension headache"]).model_dump(mode="json")
    store.record(query_id="q1", kind="correct", diagnosis="migraine", case_text=CASE_TEXT, output=out)
    store.record(query_id="q2", kind="correct", diagnosis="Tension headache", case_text=CASE_TEXT, output=out)
    store.record(query_id="q3", kind="correct", diagnosis="Cluster headache", case_text=CASE_TEXT, output=out)
    store.record(query_id="q4", kind="correct", diagnosis="Migraine", case_text=CASE_TEXT, output=out)
    store.record(query_id="q4", kind="wrong", case_text=CASE_TEXT, output=out)  # withdrawn: 'wrong' counts
    store.record(query_id="q5", kind="evidence_wrong", case_text=CASE_TEXT, output=out)
    return store


def test_agreement_with_top1_and_set(tmp_path):
    fb = feedback_facts(feedback_store(tmp_path).records(), set_level=0.9)
    a = agreement(fb)
    # judged top-1: q1 yes, q2 no, q3 no, q4 (wrong) no -> 1/4; set: q1, q2 in, q3 out -> 2/3
    assert (a.answers, a.judged_top1, a.agree_top1, a.judged_set, a.in_set, a.evidence_wrong) == (5, 4, 1, 3, 2, 1)
    assert a.top1_rate == 0.25 and a.disagreement == 0.75 and a.set_rate == pytest.approx(2 / 3)
    assert a.mean_top1_probability == pytest.approx(0.6)
    assert agreement(feedback_facts(feedback_store(tmp_path / "b").records(), set_level=0.8)).judged_set == 0


def test_disagreement_warns_only_past_its_threshold_and_with_enough_feedback(tmp_path):
    fb = feedback_facts(feedback_store(tmp_path).records())
    now = max(f.time for f in fb) + timedelta(minutes=1)

    def warnings(**kw):
        return summarize([], fb, rank_of=lambda q: None, settings=settings(**kw), now=now).warnings

    assert any("CLINICIAN DISAGREEMENT: 75%" in w for w in warnings(disagreement_warn=0.75))
    assert not any("DISAGREEMENT" in w for w in warnings(disagreement_warn=0.76))
    assert not any("DISAGREEMENT" in w for w in warnings(disagreement_warn=0.3, min_feedback=5))  # 4 judged
    # the set held 2 of 3 confirmed diagnoses: within 2 standard errors of a 90% promise, not of a 99% one
    assert not any("SET MISSES" in w for w in warnings(disagreement_warn=0.9))
    assert any("SET MISSES" in w for w in warnings(disagreement_warn=0.9, set_level=0.99))


def test_drift_psi_per_week_and_its_warning(tmp_path, clock):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i, sim in enumerate(DECILE_CENTRES):  # week 1: like the practice's own reports
        clock[0] = T0 + timedelta(hours=i)
        query(log, f"w1-{i}", sim=sim)
    for i in range(10):  # week 2: half below the profile, half at its top
        clock[0] = T0 + timedelta(days=7, hours=i)
        query(log, f"w2-{i}", sim=0.45 if i < 5 else 0.89)
    rank_of = profile_ranker({"demo/v0001": PROFILE})
    now = T0 + timedelta(days=8)
    s = summarize(facts(log), [], rank_of=rank_of, settings=settings(drift_psi_warn=6.8), now=now)
    assert [(r.start.isoformat(), r.n) for r in s.drift] == [("2025-03-03", 10), ("2025-03-10", 10)]
    assert s.drift[0].psi == pytest.approx(0.0, abs=1e-9) and s.drift[0].low_share == pytest.approx(0.1)
    assert s.drift[1].psi == pytest.approx(6.80823, abs=1e-4) and s.drift[1].low_share == 0.5
    assert s.drift[1].median_similarity == pytest.approx((0.45 + 0.89) / 2)
    assert s.recent_drift is not None and s.recent_drift.n == 10
    assert any(w.startswith("INPUT DRIFT: PSI 6.808") for w in s.warnings)
    quiet = summarize(facts(log), [], rank_of=rank_of, settings=settings(drift_psi_warn=6.9), now=now)
    assert not any("DRIFT" in w for w in quiet.warnings)
    few = summarize(facts(log), [], rank_of=rank_of, settings=settings(drift_psi_warn=0.2, min_queries=11), now=now)
    assert not any("DRIFT" in w for w in few.warnings) and any("fewer than the 11" in n for n in few.notes)
    # the first week alone: no drift, no warning; per day the same cases split into one row per day
    early = summarize(facts(log), [], rank_of=rank_of, settings=settings(), now=T0 + timedelta(days=1))
    assert early.recent_drift.psi == pytest.approx(0.0, abs=1e-9) and not early.warnings
    assert len(summarize(facts(log), [], rank_of=rank_of, settings=settings(), now=now, period="day").drift) == 2
    # another index version with no profile: not ranked, unless its index has a fallback
    other = query_facts([{"event": "query", "seq": 1, "time": "2025-03-10T00:00:00Z", "query_id": "x",
                          "versions": {"index": "demo/v0009"}, "best_similarity": 0.7}])
    assert rank_of(other[0]) is None
    assert profile_ranker({}, {"demo": PROFILE})(other[0]) == pytest.approx(0.5)


def test_since_drops_older_records(tmp_path, clock):
    log = AuditLog(tmp_path / "audit.jsonl")
    query(log, "old")
    clock[0] = T0 + timedelta(days=3)
    query(log, "new")
    s = summarize(facts(log), [], rank_of=lambda q: None, settings=settings(), now=clock[0],
                  since=(T0 + timedelta(days=1)).date())
    assert s.queries == 1 and s.first_day == (T0 + timedelta(days=3)).date()


# -- reading: bad input, broken chains ------------------------------------------------------------------------


def test_a_bad_field_is_named_by_file_line_and_field(tmp_path, clock):
    log = AuditLog(tmp_path / "audit.jsonl")
    query(log, "ok")
    log.append({"event": "query", "query_id": "bad", "abstained": False, "top1_probability": "high"})
    with pytest.raises(InputError) as err:
        read_audit(log.path)
    assert err.value.line == 2 and err.value.field == "top1_probability" and str(log.path) in str(err.value)


def test_a_broken_chain_is_a_warning_and_only_its_verified_part_counts(tmp_path, clock):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(3):
        query(log, f"q{i}")
    lines = log.path.read_text().splitlines()
    lines[1] = lines[1].replace('"top1_probability":0.6', '"top1_probability":0.7')
    log.path.write_text("\n".join(lines) + "\n")
    queries, warnings, _ = read_audit(log.path)
    # the edit shows at line 3 (its prev_sha256 no longer matches): line 2 is not trusted either
    assert [q.query_id for q in queries] == ["q0"]
    assert warnings and "AUDIT LOG DOES NOT VERIFY" in warnings[0] and "line 3" in warnings[0]


# -- the report -------------------------------------------------------------------------------------------------


def test_the_report_files_exist_and_hold_no_case_text(tmp_path, clock):
    log = AuditLog(tmp_path / "audit.jsonl")
    for i in range(5):
        clock[0] = T0 + timedelta(days=i)
        query(log, f"q{i}", sim=0.45, abstained=i == 0)
    store = feedback_store(tmp_path)
    # feedback is stamped with the real time: judge the window ending now
    s = monitor_summary(log.path, store.path, tmp_path / "no-indexes", settings(),
                        now=datetime.now(UTC) + timedelta(minutes=1))
    written = write_report(s, tmp_path / "out", drift_psi_warn=0.2)
    for name in ("queries_per_day", "abstention_rate", "confidence", "agreement", "drift"):
        assert written[name].read_bytes().startswith(b"\x89PNG"), name
    page = written["html"].read_text()
    assert page.count("data:image/png;base64,") == 5 and "<link" not in page and "<script" not in page
    for secret in ("Zebulon", "retrosternal", "Quillfeather", "angina", "Migraine", "Cluster"):
        assert secret not in page and secret not in written["json"].read_text()
    assert "CLINICIAN DISAGREEMENT" in page and "role='alert'" in page
    assert "demo/v0001 is not under" in page  # no index there: drift says why it is missing
    assert json.loads(written["json"].read_text())["agreement"]["top1_rate"] == 0.25
    assert "No threshold crossed." in render_html(summarize([], [], rank_of=lambda q: None, settings=settings(),
                                                            now=T0), render_pngs(s))


# -- end to end: a UI session, then `rag-dx monitor` -------------------------------------------------------------


class Recording:
    """The fixture assistant, with a chosen best report similarity (the fixture's fake encoder gives
    similarities unlike a real case's, and drift needs known values)."""

    def __init__(self, inner, sims):
        self.inner, self.sims = inner, iter(sims)

    def diagnose(self, text):
        return self.inner.diagnose(text).model_copy(update={"best_similarity": next(self.sims)})


WORDS = {
    "Influenza": "fever cough aches chills sore throat tired",
    "Eczema": "itchy dry rash skin patches cracked flaky",
    "Migraine": "throbbing headache nausea light sensitivity aura vomiting",
    "Gout": "swollen red toe joint pain hot night attack",
}


@pytest.fixture(scope="module")
def ui_index(tmp_path_factory, fake_encoder):
    """An index with a practice model (ranker, similarity profile, conformal sets): 8 reports a diagnosis."""
    from rag_dx.build import build_index
    from rag_dx.diagnose import build_assistant
    from rag_dx.schemas import Report
    from rag_dx.settings import Settings
    from tests.helpers import PassThroughDeid

    rng = np.random.default_rng(5)
    reports = [Report(report_id=f"{dx}{i}", text="patient has " + " ".join(rng.choice(words.split(), 4, replace=False)),
                      diagnosis=dx, source="t", line=i + 2)
               for dx, words in WORDS.items() for i in range(8)]
    root = tmp_path_factory.mktemp("mon-idx")
    settings = Settings(index_dir=root)
    build_index(settings, "fx", reports, [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    return root, build_assistant(settings, "fx", encoder=fake_encoder, load_generator=False, load_vocabulary=False)


def test_rag_dx_monitor_reports_a_ui_session(tmp_path, ui_index, monkeypatch):
    from rag_dx.cli import app
    from tests.helpers import PassThroughDeid
    from ui.commands import AUDIT_FILE, FEEDBACK_FILE
    from ui.service import ClinicianService

    index_dir, assistant = ui_index
    state = tmp_path / "state"
    cases = ["patient has throbbing headache nausea aura", "patient has itchy dry rash cracked",
             "patient has swollen red toe joint", CASE_TEXT]
    service = ClinicianService(Recording(assistant, [0.1] * len(cases)), feedback_store=FeedbackStore.open(
        state / FEEDBACK_FILE), audit_log=AuditLog(state / AUDIT_FILE), deidentifier=PassThroughDeid())
    answers = [service.ask(None, c, user="dr_a") for c in cases]
    service.give_feedback(answers[0].state, "correct", answers[0].state.choices[0], user="dr_a")
    service.give_feedback(answers[1].state, "wrong", user="dr_a")
    for key, value in {"RAG_DX_MONITOR__MIN_QUERIES": "2", "RAG_DX_MONITOR__MIN_FEEDBACK": "2",
                       "RAG_DX_MONITOR__DISAGREEMENT_WARN": "0.5"}.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["monitor", "--out", str(out), "--state-dir", str(state), "--index-dir",
                                   str(index_dir), "--index", "fx", "--strict"])
    assert res.exit_code == 1, res.output  # --strict: warnings raised
    assert "queries (failed)" in res.output and "4 (0)" in res.output
    assert "WARNING: CLINICIAN DISAGREEMENT: 50%" in res.output
    assert "WARNING: INPUT DRIFT" in res.output, res.output  # cosine 0.1 is far below the fixture practice's profile
    page = (out / "monitor.html").read_text()
    for text in cases:
        assert text not in page and text not in res.output
    assert "Zebulon" not in page and "Zebulon" not in (out / "monitor.json").read_text()
    report = json.loads((out / "monitor.json").read_text())
    assert report["recent_drift"]["low_share"] == 1.0 and report["recent_drift"]["n"] == 4
    assert not answers[0].result.abstained and answers[3].result.abstained  # the last case is unlike the practice
    assert re.search(r"^abstention rate +25\.0%$", res.output, re.M), res.output
    # the feedback is also split by how each answer was ranked (both cases are like the practice's reports)
    assert {a.result.route for a in answers[:2]} == {"practice"}
    assert re.search(r"^top-1 agreement, route practice +50\.0% of 2 ", res.output, re.M), res.output
    assert report["agreement"]["judged_set"] == 1 and report["agreement"]["in_set"] == 1  # top-1 is in its set
    audited = [json.loads(line) for line in (state / AUDIT_FILE).read_text().splitlines()]
    assert [r["top1_probability"] for r in audited if r["event"] == "query"] == [
        round(a.result.differential[0].probability, 4) for a in answers]
    assert all(isinstance(r["set_size"], int) for r in audited if r["event"] == "query")
    assert len(list(out.glob("*.png"))) == 5


def test_the_ui_panel_is_for_administrators_only(tmp_path):
    from ui.monitor_tab import NOT_ADMIN, MonitorPanel

    panel = MonitorPanel(settings=MonitorSettings(admin_users=["dr_admin"]), audit_path=tmp_path / "a.jsonl",
                         feedback_path=tmp_path / "f.sqlite", index_dir=tmp_path)
    assert panel.report_html("dr_a") == NOT_ADMIN and panel.report_html(None) == NOT_ADMIN
    assert "No threshold crossed." in panel.report_html("dr_admin")
    assert MonitorPanel(settings=MonitorSettings(admin_users=["local"]), audit_path=tmp_path / "a.jsonl",
                        feedback_path=tmp_path / "f.sqlite", index_dir=tmp_path).is_admin(None)


def test_the_ui_builds_with_the_panel_hidden(tmp_path):
    pytest.importorskip("gradio")
    from tests.helpers import PassThroughDeid
    from ui.app import build_app
    from ui.monitor_tab import MonitorPanel

    class NoAssistant:
        def diagnose(self, text):  # pragma: no cover - never called here
            raise AssertionError

    panel = MonitorPanel(settings=MonitorSettings(), audit_path=tmp_path / "a.jsonl",
                         feedback_path=tmp_path / "f.sqlite", index_dir=tmp_path)
    demo = build_app(NoAssistant(), feedback_store=FeedbackStore.open(tmp_path / "f.sqlite"),
                     audit_log=AuditLog(tmp_path / "a.jsonl"), deidentifier=PassThroughDeid(), monitor_panel=panel)
    boxes = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "rdx-monitor"]
    assert len(boxes) == 1 and boxes[0].visible is False
    assert not [b for b in build_app(NoAssistant(), feedback_store=FeedbackStore.open(tmp_path / "f.sqlite"),
                                     audit_log=AuditLog(tmp_path / "a.jsonl"),
                                     deidentifier=PassThroughDeid()).blocks.values()
                if getattr(b, "elem_id", None) == "rdx-monitor"]


def test_agreement_is_also_given_per_route_and_only_for_known_route_codes(tmp_path):
    """A flagged case led by the guidelines and one kept with the practice's ranker are not equally
    trustworthy; the practice sees clinician agreement for each route, and a stored answer whose
    route is not one of the codes (edited, or text) shows nothing of it."""
    store = FeedbackStore.open(tmp_path / "feedback.sqlite")
    base = answer(in_set=["Migraine", "Tension headache"])
    routed = {r: base.model_copy(update={"route": r}).model_dump(mode="json") for r in ("practice", "outside_floor")}
    forged = {**routed["practice"], "route": "Zebulon-case-text"}
    store.record(query_id="q1", kind="correct", diagnosis="Migraine", case_text=CASE_TEXT, output=routed["practice"])
    store.record(query_id="q2", kind="correct", diagnosis="Migraine", case_text=CASE_TEXT, output=routed["practice"])
    store.record(query_id="q3", kind="wrong", case_text=CASE_TEXT, output=routed["outside_floor"])
    store.record(query_id="q4", kind="correct", diagnosis="Tension headache", case_text=CASE_TEXT, output=forged)
    store.record(query_id="q5", kind="correct", diagnosis="Migraine", case_text=CASE_TEXT,
                 output=base.model_dump(mode="json"))  # an answer from before routes: counted overall only
    fb = feedback_facts(store.records())
    assert [f.route for f in fb] == ["practice", "practice", "outside_floor", None, None]
    s = summarize([], fb, rank_of=lambda q: None, settings=settings(), now=datetime.now(UTC) + timedelta(minutes=1))
    assert s.agreement.judged_top1 == 5 and s.agreement.agree_top1 == 3
    by = s.agreement_by_route
    assert set(by) == {"practice", "outside_floor"}
    assert (by["practice"].judged_top1, by["practice"].top1_rate) == (2, 1.0)
    assert (by["outside_floor"].judged_top1, by["outside_floor"].top1_rate) == (1, 0.0)
    assert s.to_json()["agreement_by_route"]["practice"]["top1_rate"] == 1.0
    written = write_report(s, tmp_path / "out")
    page = written["html"].read_text()
    assert "route outside_floor" in page and "Zebulon" not in page and "Zebulon" not in written["json"].read_text()
