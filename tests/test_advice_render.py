"""Red flags and next questions as the clinician sees them: panel HTML, chat Markdown, terminal text,
and the UI service filling them on every turn (a follow-up answer changes the questions)."""

from __future__ import annotations

from rag_dx.audit import AuditLog
from rag_dx.commands.render import format_differential
from rag_dx.feedback import FeedbackStore
from rag_dx.schemas import Diagnosis, Differential, Evidence, NextQuestion, RedFlag, Versions
from ui.render import chat_summary, differential_html
from ui.service import ClinicianService

EVIL = '<img src=x onerror="alert(1)">'


def answer(**kw) -> Differential:
    base = dict(differential=[Diagnosis(diagnosis="Pneumonia", probability=0.6, evidence=["R:1"]),
                              Diagnosis(diagnosis="Common cold", probability=0.3, evidence=["R:2"])],
                evidence=[Evidence(id="R:1", kind="report", title="r1", text="Fever, chills and productive cough.",
                                   score=1.0, label="Pneumonia"),
                          Evidence(id="R:2", kind="report", title="r2", text="Runny nose and sneezing.", score=1.0,
                                   label="Common cold")],
                abstained=False, versions=Versions(package="test"))
    base.update(kw)
    return Differential(**base)


FLAG = RedFlag(diagnosis="Bacterial meningitis", trigger="fever + stiff neck", source="NICE NG240",
               url="https://www.nice.org.uk/guidance/ng240", rule="men-1")
QUESTIONS = [NextQuestion(finding="Chills", concept_id="HP:0025143", favours="Pneumonia", versus="Common cold",
                          evidence=["R:1"], score=0.5),
             NextQuestion(finding="Sneeze", concept_id="HP:0025095", favours="Common cold", versus="Pneumonia",
                          evidence=["R:2"], score=0.3)]


def test_the_panel_leads_with_the_red_flag_and_shows_the_questions():
    html = differential_html(answer(red_flags=[FLAG], next_questions=QUESTIONS))
    flag_at, table_at = html.index('id="rdx-red-flags"'), html.index('id="rdx-differential-table"')
    assert flag_at < table_at and 'role="alert"' in html[flag_at - 60:flag_at + 60]
    assert "Consider Bacterial meningitis" in html and "fever + stiff neck" in html and "NICE NG240" in html
    assert 'href="https://www.nice.org.uk/guidance/ng240"' in html
    assert "To tell <b>Pneumonia</b> from <b>Common cold</b>, ask about:" in html
    assert html.count('class="rdx-q"') == 2 and 'title="in R:1"' in html


def test_nothing_extra_without_flags_or_questions():
    html = differential_html(answer())
    assert "rdx-red-flags" not in html and "rdx-next-questions" not in html


def test_index_and_table_strings_are_escaped():
    flag = FLAG.model_copy(update={"diagnosis": EVIL, "source": EVIL, "url": "javascript:alert(1)"})
    q = QUESTIONS[0].model_copy(update={"finding": EVIL, "favours": EVIL})
    html = differential_html(answer(red_flags=[flag], next_questions=[q]))
    assert "<img" not in html and "javascript:" not in html
    md = chat_summary(answer(red_flags=[flag], next_questions=[q]))
    assert "<img" not in md


def test_the_chat_message_and_the_terminal_say_both():
    result = answer(red_flags=[FLAG], next_questions=QUESTIONS)
    md = chat_summary(result)
    assert md.splitlines()[0].startswith("**Red flag: consider Bacterial meningitis**")
    assert "To tell Pneumonia from Common cold, ask about: chills, sneeze" in md
    text = format_differential(result)
    assert "RED FLAG: consider Bacterial meningitis (not in the differential): the case has fever + stiff neck" in text
    assert "source: NICE NG240 <https://www.nice.org.uk/guidance/ng240>" in text
    assert "to tell Pneumonia from Common cold, ask about: chills, sneeze" in text
    assert "RED FLAG" not in format_differential(answer())


class FixedAssistant:
    """Always the same ranking, annotated the way `Assistant.diagnose` annotates every answer, so what
    changes between turns is the case text the service accumulates."""

    def diagnose(self, text: str) -> Differential:
        from rag_dx.advice import annotate

        return annotate(answer(), text)


class NoDeid:
    def redact(self, text: str) -> str:
        return text


def test_every_turn_is_annotated_and_a_follow_up_answer_updates_the_questions(tmp_path):
    service = ClinicianService(FixedAssistant(), feedback_store=FeedbackStore.open(tmp_path / "fb.sqlite"),
                               audit_log=AuditLog(tmp_path / "audit.jsonl"), deidentifier=NoDeid())
    first = service.ask(None, "Fever and a stiff neck since this morning.")
    assert [f.diagnosis for f in first.result.red_flags] == ["Bacterial meningitis"]
    asked = {q.finding for q in first.result.next_questions}
    assert "Chills" in asked and "Fever" not in asked  # fever is in the case already
    assert "Red flag" in first.state.messages[-1][1]
    second = service.ask(first.state, "Yes, he has had chills.")
    assert "Chills" not in {q.finding for q in second.result.next_questions}  # answered in the follow-up
    assert second.state.case_text.endswith("Yes, he has had chills.")
