"""Red flags on crafted cases: a trigger raises a flag when the differential omits the diagnosis, not
when it lists it, not when the trigger is denied; a malformed table fails with file:line:field."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_dx.errors import InputError
from rag_dx.hpo_tree import load_hpo_tree
from rag_dx.red_flag_rules import COLUMNS, DEFAULT_RULES, load_red_flag_rules, phrase_pattern
from rag_dx.red_flags import RedFlagChecker
from rag_dx.schemas import Diagnosis, Differential, Versions

# (case, the can't-miss diagnosis it must bring up, a word the shown trigger must hold)
TRIGGERED = [
    ("Crushing chest pain radiating to the left arm with sweating.", "Acute coronary syndrome", "chest pain"),
    ("Chest pain that comes on when climbing stairs.", "Acute coronary syndrome", "climbing stairs"),
    ("Short of breath since yesterday and coughing up blood.", "Pulmonary embolism", "hemoptysis"),
    ("Sudden shortness of breath, heart racing and pleuritic chest pain.", "Pulmonary embolism", "sudden"),
    ("Tearing chest pain going through to the back.", "Aortic dissection", "tearing"),
    ("High fever, vomiting and a stiff neck since this morning.", "Bacterial meningitis", "stiff neck"),
    ("Fever and a purple rash that does not fade under a glass.", "Meningococcal disease", "fever"),
    ("Thunderclap headache an hour ago.", "Subarachnoid haemorrhage", "thunderclap headache"),
    ("The worst headache of my life, it came on while lifting.", "Subarachnoid haemorrhage", "worst"),
    ("I missed my period and now have lower abdominal pain and some spotting.", "Ectopic pregnancy", "period"),
    ("Fever, confused and low blood pressure.", "Sepsis", "confusion"),
    ("Facial droop and slurred speech since an hour.", "Stroke or transient ischaemic attack", "facial palsy"),
    ("Sudden severe testicular pain with vomiting.", "Testicular torsion", "testicular pain"),
    ("Low back pain with urinary retention and numbness in the groin.", "Cauda equina syndrome", "urinary retention"),
    ("Very thirsty, peeing a lot, now vomiting and abdominal pain.", "Diabetic ketoacidosis", "polydipsia"),
    ("New headache and jaw claudication when chewing.", "Giant cell arteritis", "jaw claudication"),
    ("Hives after eating peanuts, now wheezing and the throat feels tight.", "Anaphylaxis", "urticaria"),
    ("Abdominal pain and back pain, then collapsed in the kitchen.", "Ruptured abdominal aortic aneurysm", "collaps"),
]

# (case, diagnosis that must NOT be flagged: its trigger is denied or only half there)
NOT_TRIGGERED = [
    ("Fever, no neck stiffness.", "Bacterial meningitis"),
    ("High temperature. Denies a stiff neck.", "Bacterial meningitis"),
    ("Chest pain without radiation to the arm, no sweating, no nausea, no breathlessness.", "Acute coronary syndrome"),
    ("Chest pain. It does not radiate to my arm.", "Acute coronary syndrome"),
    ("Headache since Monday. Denies sudden onset, not the worst headache of my life.", "Subarachnoid haemorrhage"),
    ("Not pregnant. Abdominal pain after meals.", "Ectopic pregnancy"),
    ("No history of chest pain; sweating at night.", "Acute coronary syndrome"),
    ("Fever with a cough, no confusion.", "Sepsis"),
    ("Itchy rash on my arms.", "Anaphylaxis"),
]


def differential(*entries: tuple[str, str | None], abstained: bool = False) -> Differential:
    return Differential(
        differential=[Diagnosis(diagnosis=name, icd10=code, probability=0.5, evidence=[]) for name, code in entries],
        evidence=[], abstained=abstained, versions=Versions(package="test"))


UNRELATED = differential(("Gastroesophageal reflux disease", "K21.9"), ("Common cold", "J00"))


@pytest.fixture(scope="module")
def checker() -> RedFlagChecker:
    return RedFlagChecker()


@pytest.mark.parametrize(("text", "diagnosis", "shown"), TRIGGERED)
def test_a_trigger_raises_a_flag_when_the_differential_omits_the_diagnosis(checker, text, diagnosis, shown):
    flags = checker.check(text, UNRELATED)
    flag = next((f for f in flags if f.diagnosis == diagnosis), None)
    assert flag is not None, [f.diagnosis for f in flags]
    assert shown in flag.trigger
    assert flag.source and flag.url and flag.url.startswith("https://")
    assert flag.rule in {r.rule_id for r in checker.rules if r.diagnosis == diagnosis}


@pytest.mark.parametrize(("text", "diagnosis"), NOT_TRIGGERED)
def test_a_denied_or_partial_trigger_raises_no_flag(checker, text, diagnosis):
    assert diagnosis not in [f.diagnosis for f in checker.check(text, UNRELATED)]


def test_every_diagnosis_in_the_table_has_a_crafted_case(checker):
    assert {r.diagnosis for r in checker.rules} == {d for _, d, _ in TRIGGERED}


@pytest.mark.parametrize("listed", [
    ("Acute myocardial infarction", None),      # by name (alias "myocardial infarction")
    ("Heart attack", None),                     # by a lay alias
    ("Chest syndrome X", "I21.4"),              # by ICD-10 prefix alone
])
def test_no_flag_when_the_differential_lists_the_diagnosis(checker, listed):
    text = "Crushing chest pain radiating to the left arm with sweating."
    assert "Acute coronary syndrome" in [f.diagnosis for f in checker.check(text, UNRELATED)]
    flags = checker.check(text, differential(("Gastroesophageal reflux disease", "K21.9"), listed))
    assert "Acute coronary syndrome" not in [f.diagnosis for f in flags]


def test_an_alias_matches_whole_words_only(checker):
    text = "Crushing chest pain radiating to the left arm with sweating."
    flags = checker.check(text, differential(("Anginal-like oesophageal spasm", None)))  # "angina" is not a word here
    assert "Acute coronary syndrome" in [f.diagnosis for f in flags]


def test_one_flag_per_diagnosis_and_no_case_text_in_it(checker):
    text = "Mr Zebedee Quill: sudden shortness of breath and pleuritic chest pain after a long flight, coughing blood."
    flags = checker.check(text, UNRELATED)
    names = [f.diagnosis for f in flags]
    assert names.count("Pulmonary embolism") == 1
    dumped = " ".join(f.model_dump_json() for f in flags)
    assert "Zebedee" not in dumped and "Quill" not in dumped


def test_phrase_patterns_take_prefixes_and_short_gaps():
    p = phrase_pattern("radiat* ... arm*")
    assert p.search("pain radiating down the left arm")
    assert p.search("RADIATES to arms")
    assert not p.search("radiating to the back and then after a while to the arm")  # gap over three words
    assert not phrase_pattern("sting*").search("interesting rash")  # whole words only


def _write(tmp_path: Path, *rows: str, header: str = "\t".join(COLUMNS)) -> Path:
    path = tmp_path / "flags.tsv"
    path.write_text("# a comment\n\n" + header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


GOOD = "x-1\tMeningitis\tG00\tmeningitis\tFever & Stiff neck\tNICE NG240\thttps://www.nice.org.uk/guidance/ng240"


def test_a_small_valid_table_loads_and_fires(tmp_path):
    path = _write(tmp_path, GOOD)
    (rule,) = load_red_flag_rules(path)
    assert rule.line == 4 and [[t.label for t in c] for c in rule.clauses] == [["fever"], ["stiff neck"]]
    checker = RedFlagChecker(path)
    assert [f.rule for f in checker.check("fever and neck stiffness", UNRELATED)] == ["x-1"]


@pytest.mark.parametrize(("row", "field", "message"), [
    (GOOD.replace("Fever & Stiff neck", "Fever & Stif neck"), "trigger", "not an HPO preferred name"),
    (GOOD.replace("Fever & Stiff neck", 'Fever & "sudden'), "trigger", "unterminated quote"),
    (GOOD.replace("Fever & Stiff neck", "Fever &"), "trigger", "cannot end with"),
    (GOOD.replace("Fever & Stiff neck", "Fever & | Stiff neck"), "trigger", "without a term before it"),
    (GOOD.replace("Fever & Stiff neck", 'Fever "sudden"'), "trigger", "two terms"),
    (GOOD.replace("Fever & Stiff neck", '"... sudden"'), "trigger", "between two words"),
    (GOOD.replace("\tG00\t", "\tmeningitis!\t"), "icd10", "not an ICD-10 code prefix"),
    (GOOD.replace("https://", "http://"), "url", "https://"),
    (GOOD.replace("NICE NG240", ""), "source", "is empty"),
    (GOOD.replace("x-1", "X 1"), "id", "lower-case"),
    (GOOD.replace("\tG00\tmeningitis\t", "\t\t\t"), "aliases", "at least one alias"),
])
def test_a_malformed_row_names_file_line_and_field(tmp_path, row, field, message):
    path = _write(tmp_path, GOOD.replace("x-1", "x-0"), row)
    with pytest.raises(InputError) as err:
        load_red_flag_rules(path)
    assert err.value.line == 5 and err.value.field == field
    assert str(err.value).startswith(f"{path}:5 field '{field}'") and message in str(err.value)


def test_duplicate_ids_wrong_field_counts_and_headers_are_refused(tmp_path):
    with pytest.raises(InputError, match=r":5 field 'id': duplicate of the rule on line 4"):
        load_red_flag_rules(_write(tmp_path, GOOD, GOOD))
    with pytest.raises(InputError, match=r":4: 6 tab-separated fields; expected 7"):
        load_red_flag_rules(_write(tmp_path, GOOD.rsplit("\t", 1)[0]))
    with pytest.raises(InputError, match=r":3: the header must be"):
        load_red_flag_rules(_write(tmp_path, GOOD, header="id\tdiagnosis"))
    with pytest.raises(InputError, match="cannot read"):
        load_red_flag_rules(tmp_path / "missing.tsv")


def test_the_bundled_table_names_a_source_for_every_rule():
    rules = load_red_flag_rules(DEFAULT_RULES, tree=load_hpo_tree())
    assert 10 <= len({r.diagnosis for r in rules}) <= 15
    assert all(r.source and r.url for r in rules)
