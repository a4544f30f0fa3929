"""The chat in a real browser (Debian's chromium driven by Playwright), against a tiny fake-model app.

Setup (what `make test` needs on a fresh machine):
    apt-get install -y chromium chromium-driver
    .venv/bin/pip install playwright
Playwright's own browser download is not used: the tests launch /usr/bin/chromium.

Set RAG_DX_SCREENSHOT_DIR=docs to also write the answered-case screenshot there
(docs/screenshot-fixture.png); by default it goes to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from rag_dx.audit import AuditLog, verify
from rag_dx.feedback import FeedbackStore
from tests.helpers import build_fixture_assistant
from ui.app import build_app
from ui.auth import hash_password
from ui.testing import serving

CHROMIUM = Path(os.environ.get("RAG_DX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL = "apt-get install -y chromium chromium-driver && .venv/bin/pip install playwright"

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"), pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (install: {INSTALL})")
    sync_api = pytest.importorskip("playwright.sync_api", reason=f"browser tests need playwright (install: {INSTALL})")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class SimpleDeid:
    """Redacts 'Dr./Mr./Ms. Firstname Lastname' and phone numbers: enough to see the redaction in the UI."""

    def redact(self, text):
        import re

        text = re.sub(r"\b(Dr|Mr|Mrs|Ms)\.? [A-Z][a-z]+(?: [A-Z][a-z]+)?", r"\1. <PERSON>", text)
        return re.sub(r"\(?\d{3}\)?[ -]?\d{3}-\d{4}", "<PHONE>", text)


@pytest.fixture(scope="module")
def fixture_assistant(tmp_path_factory, fake_encoder):
    return build_fixture_assistant(tmp_path_factory.mktemp("ui-browser-idx"), fake_encoder)


#: Two more reports per fixture diagnosis: 20 labeled reports, 5 per diagnosis, the least for which a
#: build trains a practice model (ranker + conformal thresholds); the 12-report fixture has none.
MORE_CASES: list[tuple[str, str, str]] = [
    ("Migraine", "G43.909", "Pounding headache on one side with nausea, light and sound sensitivity, eased by sleep."),
    ("Migraine", "G43.909", "Episodic unilateral headache with vomiting and photophobia, flashing lights beforehand."),
    ("Psoriasis", "L40.0", "Scaly red plaques on the scalp and elbows, pitted nails, family history of psoriasis."),
    ("Psoriasis", "L40.0", "Well demarcated silvery plaques on the knees and lower back, mildly itchy."),
    ("Pneumonia", "J18.9", "Fever and cough with yellow sputum, bronchial breathing and crackles at the left base."),
    ("Pneumonia", "J18.9", "Cough, fever, rigors and pleuritic chest pain, patchy consolidation on chest x-ray."),
    ("Urinary tract infection", "N39.0", "Dysuria, frequency and suprapubic tenderness, no fever, nitrites on dipstick."),
    ("Urinary tract infection", "N39.0", "Burning urination and urgency with cloudy smelly urine, leukocytes on dipstick."),
]


@pytest.fixture(scope="module")
def practice_assistant(tmp_path_factory, fake_encoder):
    """The fixture index plus MORE_CASES: its version carries a practice model, so answers have conformal sets."""
    from rag_dx.build import build_index
    from rag_dx.diagnose import build_assistant
    from rag_dx.schemas import Report
    from rag_dx.settings import Settings
    from tests.helpers import FIXTURE_CASES, KeywordScorer, PassThroughDeid, fixture_guidelines

    reports = [Report(report_id=f"fx-{i:03d}", text=text, diagnosis=dx, icd10=code, source="fixture", line=i + 2)
               for i, (dx, code, text) in enumerate(FIXTURE_CASES + MORE_CASES)]
    settings = Settings(index_dir=tmp_path_factory.mktemp("ui-browser-practice-idx"))
    version = build_index(settings, "fxp", reports, fixture_guidelines(), encoder=fake_encoder,
                          deidentifier=PassThroughDeid())
    assert json.loads((version / "manifest.json").read_text())["practice"]["status"] == "ranker"
    return build_assistant(settings, "fxp", encoder=fake_encoder, generator=KeywordScorer(), load_vocabulary=False)


def _app(assistant, tmp_path):
    store, audit = FeedbackStore.open(tmp_path / "fb.sqlite"), AuditLog(tmp_path / "audit.jsonl")
    return build_app(assistant, feedback_store=store, audit_log=audit, deidentifier=SimpleDeid()), store, audit


def test_a_clinician_gets_a_cited_differential_and_gives_feedback(browser, fixture_assistant, tmp_path):
    demo, store, audit = _app(fixture_assistant, tmp_path)
    with serving(demo) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        assert "not a replacement" in page.locator("#rdx-disclaimer").inner_text()
        page.locator("#rdx-input textarea").fill(
            "Seen by Dr. Jane Doe, (555) 123-4567. 34-year-old woman with a throbbing one-sided headache, "
            "nausea and sensitivity to light for six hours.")
        page.locator("#rdx-send").click()
        table = page.locator("#rdx-differential-table")
        table.wait_for(timeout=20_000)
        first = table.locator("tr.rdx-row").first
        assert first.locator(".rdx-dx-name").inner_text().split("\n")[0] == "Migraine"  # findings line below it
        assert "%" in first.locator(".rdx-pct").inner_text()
        assert first.locator(".rdx-cites").get_by_text("R:fx-000#0").is_visible()  # a citation id
        # 12 reports train no practice model: no conformal set is claimed, and the panel says why
        assert page.locator("#rdx-set").count() == 0
        assert "fewer than 3 per diagnosis or 20 in all" in page.locator("#rdx-ranking").inner_text()
        # the evidence behind the top diagnosis expands to the cited passage
        passage = page.locator('details.rdx-passage[data-evidence-id="R:fx-000#0"]')
        passage.locator("summary").click()
        assert "Throbbing one-sided headache" in passage.locator(".rdx-text").inner_text()
        page.locator("#rdx-rationale").get_by_text("Check the cited passages").wait_for(timeout=10_000)
        chat = page.locator("#rdx-chat").inner_text()
        assert "<PERSON>" in chat and "Jane" not in chat and "555" not in chat

        # a follow-up refines the same case
        page.locator("#rdx-input textarea").fill("Preceded by a visual aura with zigzag lines.")
        page.locator("#rdx-send").click()
        page.locator("#rdx-chat").get_by_text("zigzag").wait_for(timeout=20_000)
        page.wait_for_function("document.querySelector('#rdx-chat').innerText.split('Differential').length >= 3",
                               timeout=20_000)  # two answers in the chat

        # feedback: pick the correct diagnosis from the list
        page.locator("#rdx-fb-dx input").click()
        # .first: this fixture assistant loads no vocabulary, so the report label "Migraine" and the guideline
        # card keyed icd:G43 are not merged and the list shows Migraine twice (rag_dx.practice.serve.with_card_topics)
        page.get_by_role("option", name="Migraine", exact=True).first.click()
        page.locator("#rdx-fb-correct").click()
        page.locator("#rdx-fb-msg").get_by_text("recorded").wait_for(timeout=10_000)
        page.locator("#rdx-fb-evidence").click()
        page.locator("#rdx-fb-msg").get_by_text("evidence shown is wrong").wait_for(timeout=10_000)

        shot = tmp_path / "screenshot.png"
        page.locator("#rdx-fb-msg").scroll_into_view_if_needed()
        page.screenshot(path=str(shot), full_page=True)

        # "New case" starts over; an unrelated case then gets an explicit abstention
        page.locator("#rdx-new").click()
        page.locator("#rdx-empty").wait_for(timeout=10_000)
        assert "zigzag" not in page.locator("#rdx-chat").inner_text()
        page.locator("#rdx-input textarea").fill("zzzz qqqq xxxx")
        page.locator("#rdx-send").click()
        page.locator("#rdx-abstain").wait_for(timeout=20_000)
        assert "insufficient evidence" in page.locator("#rdx-abstain").inner_text()
        page.close()

    assert shot.stat().st_size > 20_000
    target = os.environ.get("RAG_DX_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / "screenshot-fixture.png")

    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT kind, diagnosis, case_text, index_version, output_json FROM feedback ORDER BY id"
                            ).fetchall()
    assert [(k, d) for k, d, *_ in rows] == [("correct", "Migraine"), ("evidence_wrong", None)]
    case_text = rows[0][2]
    assert "zigzag" in case_text and "throbbing one-sided headache" in case_text  # both turns, one case
    assert "Jane" not in case_text and "<PERSON>" in case_text and rows[0][3] == "fx/v0001"
    assert json.loads(rows[0][4])["differential"][0]["diagnosis"] == "Migraine"
    records = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["query", "query", "feedback", "feedback", "query"]
    assert records[-1]["abstained"] is True and records[-1]["turn"] == 1
    assert all(r["user"] == "local" for r in records) and verify(audit.path).ok


def test_a_red_flag_notice_and_next_questions_and_the_answer_updates_them(browser, fixture_assistant, tmp_path):
    demo, _, audit = _app(fixture_assistant, tmp_path)
    with serving(demo) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        page.locator("#rdx-input textarea").fill("Fever, cough and a stiff neck since yesterday.")
        page.locator("#rdx-send").click()
        page.locator("#rdx-differential-table").wait_for(timeout=20_000)
        # meningitis is not among the fixture index's diagnoses: the notice names it, the trigger and the source
        flag = page.locator("#rdx-red-flags")
        assert flag.get_attribute("role") == "alert"
        text = flag.inner_text()
        assert "Consider Bacterial meningitis" in text and "fever + stiff neck" in text and "NICE NG240" in text
        assert flag.locator("a").get_attribute("href") == "https://www.nice.org.uk/guidance/ng240"
        assert "Bacterial meningitis" not in page.locator("#rdx-differential-table").inner_text()
        questions = page.locator("#rdx-next-questions")
        assert "To tell" in questions.inner_text() and "ask about" in questions.inner_text()
        before = [q.inner_text() for q in questions.locator(".rdx-q").all()]
        assert "headache" in before and "fever" not in before  # asked: not in the case yet; fever is
        assert "Red flag: consider Bacterial meningitis" in page.locator("#rdx-chat").inner_text()

        # the clinician asks and types the answer: the follow-up re-ranks, and what was answered is not asked again
        page.locator("#rdx-input textarea").fill("Yes, a bad headache and nausea.")
        page.locator("#rdx-send").click()
        page.wait_for_function("document.querySelector('#rdx-chat').innerText.split('Differential').length >= 3",
                               timeout=20_000)
        page.wait_for_function(
            "!Array.from(document.querySelectorAll('#rdx-next-questions .rdx-q')).some(e => e.innerText === 'headache')",
            timeout=20_000)
        after = [q.inner_text() for q in page.locator("#rdx-next-questions .rdx-q").all()]
        assert "headache" not in after and "nausea" not in after
        page.locator("#rdx-red-flags").wait_for(timeout=10_000)  # still triggered, still not in the list
        page.close()
    records = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["query", "query"] and records[-1]["turn"] == 2


def test_the_conformal_set_and_the_findings_behind_each_diagnosis(browser, practice_assistant, tmp_path):
    demo, _, audit = _app(practice_assistant, tmp_path)
    with serving(demo) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        page.locator("#rdx-input textarea").fill(
            "Throbbing one-sided headache with nausea and sensitivity to light, no vomiting.")
        page.locator("#rdx-send").click()
        table = page.locator("#rdx-differential-table")
        table.wait_for(timeout=20_000)
        names = [n.inner_text().split("\n")[0] for n in table.locator("tr.rdx-row .rdx-dx-name").all()]
        assert names[0] == "Migraine" and len(names) >= 2

        # "90% set: A, B": the leading diagnoses of the ranked list, with what the level means
        shown = page.locator("#rdx-set")
        text = shown.inner_text()
        assert text.startswith("90% set:") and "about 90% of the practice's past cases" in text
        in_set = text.split("\n")[0].removeprefix("90% set:").strip().split(", ")
        assert in_set and in_set == names[: len(in_set)]
        assert "no coverage guarantee" not in text  # a case like the practice's reports
        assert page.locator("#rdx-ranking").inner_text() == "Ranked by: learned ranker"
        assert "90% set: Migraine" in page.locator("#rdx-chat").inner_text()

        # under the top diagnosis: the case findings its cited passages assert, and the denied one they describe
        findings = table.locator("tr.rdx-row").first.locator(".rdx-findings")
        matches = findings.locator(".rdx-match").inner_text()
        assert matches.startswith("matches: ") and {"headache", "nausea"} <= set(matches[9:].split(", "))
        assert findings.locator(".rdx-against").inner_text() == "against: no vomiting"
        page.close()
    (record,) = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert record["set_size"] == len(in_set)  # the audit records the set the UI showed


@pytest.mark.parametrize("admin", [True, False], ids=["administrator", "clinician"])
def test_the_monitoring_tab_is_for_administrators_and_the_chat_works_beside_it(browser, fixture_assistant, tmp_path,
                                                                               admin):
    from rag_dx.settings import MonitorSettings
    from ui.monitor_tab import MonitorPanel

    store, audit = FeedbackStore.open(tmp_path / "fb.sqlite"), AuditLog(tmp_path / "audit.jsonl")
    panel = MonitorPanel(settings=MonitorSettings(admin_users=["local"] if admin else ["dr_admin"]),
                         audit_path=audit.path, feedback_path=store.path,
                         index_dir=fixture_assistant.settings.index_dir)
    demo = build_app(fixture_assistant, feedback_store=store, audit_log=audit, deidentifier=SimpleDeid(),
                     monitor_panel=panel)
    with serving(demo) as url:  # no login: everyone is "local"
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        page.locator("#rdx-input textarea").fill("Burning on urination and urinary frequency.")
        page.locator("#rdx-send").click()
        page.locator("#rdx-differential-table").wait_for(timeout=20_000)  # the chat works inside its tab
        tabs = page.locator("#rdx-tabs").get_by_role("tab")
        if not admin:
            assert [t.inner_text() for t in tabs.all()] == ["Case"]
            page.close()
            return
        page.get_by_role("tab", name="Monitoring").wait_for(timeout=10_000)  # shown once the page has loaded
        assert [t.inner_text() for t in tabs.all()] == ["Case", "Monitoring"]
        page.get_by_role("tab", name="Monitoring").click()
        assert not page.locator("#rdx-input textarea").is_visible()
        page.locator("#rdx-monitor-refresh").click()
        report = page.locator("#rdx-monitor-report")
        report.get_by_role("heading", name="Per day", exact=True).wait_for(timeout=30_000)
        per_day = report.locator("table").nth(1).locator("tr").all()[1:]
        assert [r.locator("td").nth(1).inner_text() for r in per_day] == ["1"]  # the one query just asked
        page.get_by_role("tab", name="Case").click()
        assert page.locator("#rdx-differential-table").is_visible()  # the answer is still there
        page.close()


def test_with_auth_a_wrong_password_is_refused(browser, fixture_assistant, tmp_path):
    demo, _, audit = _app(fixture_assistant, tmp_path)
    with serving(demo, users={"dr_a": hash_password("correct-horse-battery")}) as url:
        page = browser.new_page()
        page.goto(url)
        page.get_by_label("username").fill("dr_a")
        page.get_by_label("password").fill("wrong-horse-battery")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect Credentials", exact=False).wait_for(timeout=10_000)
        assert page.locator("#rdx-input").count() == 0

        page.get_by_label("username").fill("dr_a")
        page.get_by_label("password").fill("correct-horse-battery")
        page.get_by_role("button", name="Login").click()
        page.locator("#rdx-input textarea").wait_for(timeout=15_000)
        page.locator("#rdx-input textarea").fill("Burning on urination and urinary frequency.")
        page.locator("#rdx-send").click()
        page.locator("#rdx-differential-table").wait_for(timeout=20_000)
        page.close()
    (record,) = [json.loads(line) for line in audit.path.read_text().splitlines()]
    assert record["user"] == "dr_a"  # the logged-in user is audited
