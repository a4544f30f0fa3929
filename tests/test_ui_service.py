"""The chat's logic without a browser: turns build one case, de-identification comes first, every
answer is audited (or withheld), feedback is stored; plus users and passwords."""

from __future__ import annotations

import json
import re
import logging
import sqlite3

import pytest

from rag_dx.audit import AuditError, AuditLog, sha256_hex, verify
from rag_dx.diagnose import build_assistant
from rag_dx.errors import ConfigError, RagDxError
from rag_dx.feedback import FeedbackStore, canonical_json
from rag_dx.build import build_index
from rag_dx.settings import Settings
from tests.helpers import PassThroughDeid, build_fixture_assistant, fixture_guidelines, fixture_reports
from ui.auth import Authenticator, add_user, hash_password, is_loopback, load_users, verify_password
from ui.service import CaseState, ClinicianService, UserFacingError

MIGRAINE = "Throbbing one-sided headache with nausea and sensitivity to light."


@pytest.fixture(scope="module")
def fixture_assistant(tmp_path_factory, fake_encoder):
    return build_fixture_assistant(tmp_path_factory.mktemp("ui-idx"), fake_encoder)


class Recording:
    """Wraps an assistant and remembers every text it was asked about."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def diagnose(self, text):
        self.seen.append(text)
        return self.inner.diagnose(text)


@pytest.fixture()
def parts(tmp_path, fixture_assistant):
    return Recording(fixture_assistant), FeedbackStore.open(tmp_path / "fb.sqlite"), AuditLog(tmp_path / "audit.jsonl")


def make(parts, deid=None):
    assistant, store, audit = parts
    return ClinicianService(assistant, feedback_store=store, audit_log=audit, deidentifier=deid or PassThroughDeid())


def test_an_answer_is_audited_with_the_hash_of_its_output(parts):
    service = make(parts)
    answer = service.ask(None, MIGRAINE, user="dr_a")
    assert answer.result.differential[0].diagnosis == "Migraine" and not answer.result.abstained
    (line,) = parts[2].path.read_text().splitlines()
    rec = json.loads(line)
    assert rec["event"] == "query" and rec["user"] == "dr_a" and rec["query_id"] == answer.query_id
    assert rec["output_sha256"] == sha256_hex(canonical_json(answer.result)) == sha256_hex(answer.state.output_json)
    assert rec["evidence_ids"] == [ev.id for ev in answer.result.evidence]
    assert rec["versions"]["index"] == "fx/v0001" and rec["versions"]["generator"].startswith("keyword-scorer@")
    assert verify(parts[2].path).ok


def test_follow_ups_refine_the_same_case_and_new_case_starts_over(parts):
    service = make(parts)
    first = service.ask(None, "Red itchy rash.")
    second = service.ask(first.state, "Silvery scales on elbows and knees, nail pitting.")
    assert parts[0].seen == ["Red itchy rash.", "Red itchy rash.\nSilvery scales on elbows and knees, nail pitting."]
    assert second.state.turns == ("Red itchy rash.", "Silvery scales on elbows and knees, nail pitting.")
    assert second.result.differential[0].diagnosis == "Psoriasis"
    assert [role for role, _ in second.state.messages] == ["user", "assistant", "user", "assistant"]
    assert second.query_id != first.query_id
    fresh = service.ask(None, "Burning urination")  # "New case" = no state
    assert fresh.state.turns == ("Burning urination",)


def test_case_text_is_deidentified_before_anything_sees_it(parts, deidentifier, caplog):
    caplog.set_level(logging.DEBUG)
    service = make(parts, deid=deidentifier)
    answer = service.ask(None, "Seen by Dr. John Smith on 03/14/2023, phone (555) 123-4567. " + MIGRAINE, user="dr_a")
    service.give_feedback(answer.state, "correct", "Migraine", user="dr_a")
    service.give_feedback(answer.state, "correct", "Mr. Jones said migraine", user="dr_a")  # typed: redacted too
    stored = [r.case_text for r in parts[1].records()]
    texts = {
        "assistant input": "\n".join(parts[0].seen),
        "chat": json.dumps(answer.state.chat()),
        "state": answer.state.case_text,
        "feedback db": parts[1].path.read_bytes().decode("latin-1"),
        "audit log": parts[2].path.read_text(),
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    for where, text in texts.items():
        for secret in ("John", "Smith", "03/14/2023", "123-4567", "Jones"):
            assert secret not in text, f"{secret!r} reached the {where}"
        # the area code on its own, not inside a hex digest or id of the audit log (where '555' turns
        # up by chance in a few runs of a hundred)
        assert not re.search(r"(?<![0-9a-f])555(?![0-9a-f])", text), f"'555' reached the {where}"
    assert "<PERSON>" in answer.state.case_text and stored[0] == answer.state.case_text
    assert "redacted" in answer.state.messages[0][1]


@pytest.mark.slow
def test_titled_names_surnames_and_old_ages_are_redacted_before_echo_and_feedback(parts, deidentifier, caplog):
    """Issue 14: a typed "Ms. Eberhardt" was shown back unredacted and stored with feedback."""
    caplog.set_level(logging.DEBUG)
    service = make(parts, deid=deidentifier)
    shown, turn = service.begin_turn(None, "Ms. Eberhardt, 94-year-old, MRN 55-66-7788. " + MIGRAINE)
    answer = service.answer(None, turn, user="dr_a")
    answer2 = service.ask(answer.state, "Eberhardt also reports neck stiffness.", user="dr_a")
    service.give_feedback(answer2.state, "correct", "Eberhardt has migraine", user="dr_a")
    texts = {
        "echo": json.dumps(shown.chat()),
        "chat": json.dumps(answer2.state.chat()),
        "assistant input": "\n".join(parts[0].seen),
        "feedback db": parts[1].path.read_bytes().decode("latin-1"),
        "audit log": parts[2].path.read_text(),
        "logs": "\n".join(r.getMessage() for r in caplog.records),
    }
    for where, text in texts.items():
        # "66-7788", not "7788": four digits turn up by chance in the audit log's hex digests
        leaked = sum(secret in text for secret in ("Eberhardt", "94-year", "66-7788", "55-66"))
        assert leaked == 0, f"{leaked} identifiers reached the {where}"


def test_deidentification_failure_refuses_the_message(parts):
    class Broken:
        def redact(self, text):
            raise RuntimeError("model gone: " + text)

    service = make(parts, deid=Broken())
    with pytest.raises(UserFacingError, match="De-identification is unavailable") as err:
        service.ask(None, MIGRAINE)
    assert "headache" not in str(err.value)
    assert parts[0].seen == [] and not parts[2].path.exists()


def test_a_query_is_refused_when_its_audit_record_cannot_be_written(parts, tmp_path):
    assistant, store, _ = parts
    blocker = tmp_path / "file"
    blocker.write_text("")
    service = ClinicianService(assistant, feedback_store=store, audit_log=AuditLog(blocker / "audit.jsonl"),
                               deidentifier=PassThroughDeid())
    state = CaseState()
    with pytest.raises(UserFacingError, match="audit log could not be written"):
        service.ask(state, MIGRAINE)
    with pytest.raises(AuditError):
        service.audit_log.append({"event": "x"})


def test_pipeline_errors_are_reported_without_details_or_text(parts, caplog):
    class Exploding:
        def diagnose(self, text):
            raise ValueError("internal detail " + text)

    class Expected:
        def diagnose(self, text):
            raise RagDxError("this assistant has no index; build one with `rag-dx index build`")

    _, store, audit = parts
    caplog.set_level(logging.DEBUG)
    service = ClinicianService(Exploding(), feedback_store=store, audit_log=audit, deidentifier=PassThroughDeid())
    with pytest.raises(UserFacingError) as err:
        service.ask(None, "secret-case-words")
    assert "internal detail" not in str(err.value) and "secret-case-words" not in str(err.value)
    assert "secret-case-words" not in caplog.text and "ValueError" in caplog.text
    service = ClinicianService(Expected(), feedback_store=store, audit_log=audit, deidentifier=PassThroughDeid())
    with pytest.raises(UserFacingError, match="no index"):
        service.ask(None, "x")
    events = [json.loads(line)["event"] for line in audit.path.read_text().splitlines()]
    assert events == ["query_failed", "query_failed"]


def test_input_limits(parts):
    service = ClinicianService(parts[0], feedback_store=parts[1], audit_log=parts[2], deidentifier=PassThroughDeid(),
                               max_turn_chars=50, max_case_chars=80)
    with pytest.raises(UserFacingError, match="Type a case"):
        service.ask(None, "   ")
    with pytest.raises(UserFacingError, match="longer than 50"):
        service.ask(None, "x" * 51)
    state = service.ask(None, "headache " * 5).state
    with pytest.raises(UserFacingError, match="new case"):
        service.ask(state, "nausea " * 6)


def test_feedback_kinds_are_stored_against_the_latest_answer(parts):
    service = make(parts)
    with pytest.raises(UserFacingError, match="no answer"):
        service.give_feedback(None, "wrong")
    answer = service.ask(None, MIGRAINE, user="dr_a")
    with pytest.raises(UserFacingError, match="Pick the correct diagnosis"):
        service.give_feedback(answer.state, "correct", "  ")
    service.give_feedback(answer.state, "correct", "Migraine", user="dr_a")
    service.give_feedback(answer.state, "correct", "Medication-overuse headache", user="dr_a")
    service.give_feedback(answer.state, "wrong", "ignored", user="dr_a")
    service.give_feedback(answer.state, "evidence_wrong", user="dr_a")
    with sqlite3.connect(parts[1].path) as conn:
        rows = conn.execute("SELECT query_id, kind, diagnosis, in_differential, user, index_version FROM feedback "
                            "ORDER BY id").fetchall()
    q = answer.query_id
    assert rows == [(q, "correct", "Migraine", 1, "dr_a", "fx/v0001"),
                    (q, "correct", "Medication-overuse headache", 0, "dr_a", "fx/v0001"),
                    (q, "wrong", None, None, "dr_a", "fx/v0001"),
                    (q, "evidence_wrong", None, None, "dr_a", "fx/v0001")]
    events = [json.loads(line)["event"] for line in parts[2].path.read_text().splitlines()]
    assert events == ["query"] + ["feedback"] * 4


def test_abstention_is_explicit(parts):
    from ui.render import chat_summary, differential_html

    answer = make(parts).ask(None, "zzzz qqqq xxxx")
    assert answer.result.abstained
    assert "abstains" in chat_summary(answer.result) and 'id="rdx-abstain"' in differential_html(answer.result)


def test_rendering_escapes_index_text():
    from rag_dx.schemas import Diagnosis, Differential, Evidence, Versions
    from ui.render import chat_summary, differential_html

    evil = "<img src=x onerror=alert(1)>"
    result = Differential(
        differential=[Diagnosis(diagnosis=evil, probability=1.0, evidence=["R:1#0"])],
        evidence=[Evidence(id="R:1#0", kind="report", title=evil, text=evil, score=0.1, url="javascript:alert(1)")],
        abstained=False, versions=Versions(package="0"),
    )
    html = differential_html(result)
    assert "<img" not in html and "javascript:" not in html and "&lt;img" in html
    assert "<img" not in chat_summary(result)


@pytest.mark.parametrize("evil", ["<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "[x](javascript:alert(1))",
                                  "<a href='https://evil.example'>click</a>", "`code` **bold** <u>u</u>"])
def test_every_index_derived_string_is_escaped_in_every_rendering(evil):
    """Labels, titles, texts, ids, versions and abstention reasons come from imported files: data, never markup."""
    from rag_dx.schemas import Diagnosis, Differential, Evidence, Versions
    from ui.render import chat_summary, differential_html, message_html, rationale_sentences, versions_markdown

    from rag_dx.schemas import PredictionSet

    result = Differential(
        differential=[Diagnosis(diagnosis=evil, icd10=evil, probability=0.6, evidence=[f"R:{evil}#0", "G:1#0"])],
        prediction_sets=[PredictionSet(level=0.9, diagnoses=[evil], guaranteed=False)], ranking=evil,
        evidence=[Evidence(id=f"R:{evil}#0", kind="report", title=evil, text=evil, label=evil, source=evil,
                           date=evil, score=0.1, url="javascript:alert(1)"),
                  Evidence(id="G:1#0", kind="guideline", title=evil, text=evil, score=0.1, url=f"https://x.org/{evil}")],
        abstained=True, abstain_reason=evil,
        versions=Versions(package=evil, index=evil, encoder=evil, generator=evil, adapter=evil),
    )
    outputs = {
        "panel": differential_html(result),
        "chat": chat_summary(result),
        "rationale": " ".join(rationale_sentences(result)),
        "versions": versions_markdown(result),
        "message": message_html(evil),
    }
    for where, out in outputs.items():
        for raw in ("<img", "<script", "<a href='https://evil", "<u>", 'href="javascript:'):
            assert raw not in out, f"{raw!r} unescaped in the {where}"
        assert out.count("<a ") <= 1 and "noopener" in out if "<a " in out else True  # only our source link
        if where in ("chat", "rationale", "versions"):  # Markdown: no live link, code or emphasis syntax
            assert "](" not in out and "**bold**" not in out and "`code`" not in out, where


# -- users and passwords -------------------------------------------------------------------------


def test_password_hashes_are_salted_scrypt():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", a) and not verify_password("wrong horse", a)
    assert not verify_password("x", "plaintext") and not verify_password("x", "scrypt$2$1$1$AA==$AA==")


def test_users_from_file_and_env(tmp_path):
    path = tmp_path / "users.txt"
    add_user(path, "dr_a", "password-a")
    add_user(path, "dr_b", "password-b")
    add_user(path, "dr_a", "password-a2")  # replaces
    env = {"RAG_DX_UI_USERS": f"nurse_c:{hash_password('password-c')}"}
    users = load_users(path, env=env)
    assert set(users) == {"dr_a", "dr_b", "nurse_c"} and (path.stat().st_mode & 0o777) == 0o600
    auth = Authenticator(users)
    assert auth("dr_a", "password-a2") and not auth("dr_a", "password-a") and auth("nurse_c", "password-c")
    assert not auth("nobody", "password-a2") and not auth("dr_b", "")
    assert "scrypt" not in repr(auth)


def test_bad_users_are_refused_without_echoing_secrets(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text("dr_a:hunter2-plaintext\n")
    with pytest.raises(ConfigError) as err:
        load_users(path, env={})
    assert "hunter2" not in str(err.value) and "users.txt:1" in str(err.value)
    with pytest.raises(ConfigError, match="not found"):
        load_users(tmp_path / "missing.txt", env={})
    with pytest.raises(ConfigError, match="at least 8"):
        add_user(path, "dr_b", "short")
    with pytest.raises(ConfigError):
        Authenticator({})


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                        ("localhost", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                        ("example.org", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_public_bind_without_users_is_refused_before_anything_starts(parts, monkeypatch):
    from ui.app import build_app, launch_app

    demo = build_app(parts[0], feedback_store=parts[1], audit_log=parts[2], deidentifier=PassThroughDeid())
    with pytest.raises(ConfigError, match="0.0.0.0"):
        launch_app(demo, host="0.0.0.0", port=1)
    monkeypatch.setenv("GRADIO_ALLOWED_PATHS", "/")
    with pytest.raises(ConfigError, match="GRADIO_ALLOWED_PATHS"):
        launch_app(demo, host="127.0.0.1", port=1)
    assert not getattr(demo, "is_running", False)


def test_importing_the_ui_starts_nothing():
    import subprocess
    import sys

    code = ("import sys, threading; import ui, ui.app, ui.auth, ui.commands, ui.render, ui.service; "
            "assert 'gradio' not in sys.modules, 'gradio imported at import time'; "
            "assert threading.active_count() == 1")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- the CLI's functions -----------------------------------------------------------------------------


def test_launch_ui_refuses_a_public_host_without_users_before_loading_anything(monkeypatch, tmp_path):
    from ui.commands import launch_ui

    monkeypatch.delenv("RAG_DX_UI_USERS", raising=False)
    monkeypatch.setenv("RAG_DX_UI_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(ConfigError, match="needs authentication"):
        launch_ui(Settings(index_dir=tmp_path), None, "0.0.0.0", 7860, None)
    assert not (tmp_path / "state").exists()


def test_export_feedback_writes_the_confirmed_pairs(parts, monkeypatch, tmp_path):
    from ui.commands import FEEDBACK_FILE, export_feedback, state_dir

    monkeypatch.setenv("RAG_DX_UI_STATE_DIR", str(tmp_path / "state"))
    assert state_dir() == tmp_path / "state"
    store = FeedbackStore.open(state_dir() / FEEDBACK_FILE)
    service = ClinicianService(parts[0], feedback_store=store, audit_log=parts[2], deidentifier=PassThroughDeid())
    answer = service.ask(None, MIGRAINE)
    service.give_feedback(answer.state, "correct", "Migraine")
    out = tmp_path / "pairs.csv"
    assert export_feedback(Settings(index_dir=tmp_path), out, "csv") == 1
    assert "Migraine" in out.read_text()


# -- one smoke test with the real bundled models -----------------------------------------------------


@pytest.mark.slow
def test_real_models_answer_through_the_app(tmp_path, encoder, generator, deidentifier):
    settings = Settings(index_dir=tmp_path / "idx")
    build_index(settings, "fx", fixture_reports(), fixture_guidelines(), encoder=encoder,
                deidentifier=PassThroughDeid())
    assistant = build_assistant(settings, "fx", encoder=encoder, generator=generator, load_vocabulary=False)
    from ui.app import build_app

    demo = build_app(assistant, feedback_store=FeedbackStore.open(tmp_path / "fb.sqlite"),
                     audit_log=AuditLog(tmp_path / "audit.jsonl"), deidentifier=deidentifier)
    service = demo.rdx_service
    answer = service.ask(None, "Mr. John Smith has red itchy plaques with silvery scales on his elbows and knees.")
    assert answer.result.differential[0].diagnosis == "Psoriasis"
    assert "Smith" not in answer.state.case_text and "<PERSON>" in answer.state.case_text
    assert json.loads(answer.state.output_json)["versions"]["generator"].startswith("bundled:SmolLM2")
    assert verify(tmp_path / "audit.jsonl").records == 1


def test_the_panel_and_chat_show_the_90_percent_set_and_the_ranking():
    from rag_dx.schemas import Diagnosis, Differential, PredictionSet, Versions
    from ui.render import chat_summary, differential_html

    def answer(sets, guaranteed=True):
        return Differential(
            differential=[Diagnosis(diagnosis="Gout", probability=0.7, evidence=["R:1#0"]),
                          Diagnosis(diagnosis="Cellulitis", probability=0.2, evidence=["R:2#0"])],
            evidence=[], abstained=False, versions=Versions(package="0"), ranking="learned ranker",
            prediction_sets=[PredictionSet(level=0.8, diagnoses=["Gout"]),
                             PredictionSet(level=0.9, diagnoses=sets, guaranteed=guaranteed)])

    html = differential_html(answer(["Gout", "Cellulitis"]))
    assert "90% set:</b> Gout, Cellulitis" in html and "Ranked by: learned ranker" in html
    assert "no coverage guarantee" not in html
    assert "90% set: Gout, Cellulitis" in chat_summary(answer(["Gout", "Cellulitis"]))
    outside = answer(["Gout"], guaranteed=False)
    assert "no coverage guarantee" in differential_html(outside) and "no coverage guarantee" in chat_summary(outside)
    assert "90% of the practice's past cases" in differential_html(answer(["Gout"]))
    assert "90% of the practice's past cases" not in differential_html(outside)  # no guarantee, so no coverage claim
    assert "none (no candidate is probable enough" in differential_html(answer([]))
