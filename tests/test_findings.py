"""Finding layer: HPO findings with assertions, negated-span removal, case/evidence comparison."""

from __future__ import annotations

import pytest

from rag_dx.findings import (
    LAY_FINDINGS,
    Finding,
    FindingExtractor,
    finding_match,
)

pytestmark = pytest.mark.slow  # loads spaCy and the HPO ontology (a few seconds, once per module)


@pytest.fixture(scope="module")
def fx() -> FindingExtractor:
    """The process-wide default extractor (a `FindingExtractor()` like any other): building one
    loads spaCy and the HPO ontology (~13 s here), and the rest of the suite uses this one, so the
    module shares it instead of building a second. Laziness is tested on a fresh one below."""
    from rag_dx.findings import default_extractor

    return default_extractor()


def _by_name(findings: list[Finding]) -> dict[str, str]:
    return {f.name: f.assertion for f in findings}


def test_negation_and_presence(fx: FindingExtractor) -> None:
    assert _by_name(fx.extract("No fever, denies chest pain")) == {"Fever": "absent", "Chest pain": "absent"}
    assert _by_name(fx.extract("fever and cough")) == {"Fever": "present", "Cough": "present"}
    got = fx.extract("Cough for 3 days. No fever, denies chest pain. Has a runny nose.")
    assert _by_name(got) == {"Cough": "present", "Fever": "absent", "Chest pain": "absent", "Rhinorrhea": "present"}
    assert all(f.concept_id.startswith("HP:") for f in got)


def test_spans_point_at_the_mention(fx: FindingExtractor) -> None:
    text = "Burning on urination, lower abdominal pain; no fever, no flank pain."
    for f in fx.extract(text):
        assert text[f.span[0] : f.span[1]] == f.text
    assert _by_name(fx.extract(text)) == {
        "Dysuria": "present", "Abdominal pain": "present", "Fever": "absent", "Flank pain": "absent",
    }


def test_family_history_possible(fx: FindingExtractor) -> None:
    assert _by_name(fx.extract("Family history of diabetes.")) == {"Diabetes mellitus": "family"}
    assert _by_name(fx.extract("Mother had breast cancer. Patient has cough.")) == {
        "Breast carcinoma": "family", "Cough": "present",
    }
    assert _by_name(fx.extract("History of asthma as a child. Now wheezing.")) == {
        "Asthma": "historical", "Wheezing": "present",
    }
    # an adverb of the past is history too; a recent span ("in the past 3 days") is not
    assert _by_name(fx.extract("He was historically oliguric.")) == {"Oliguria": "historical"}
    assert _by_name(fx.extract("Formerly had seizures. Now cough.")) == {"Seizure": "historical", "Cough": "present"}
    assert _by_name(fx.extract("He has had a fever in the past 3 days.")) == {"Fever": "present"}
    assert _by_name(fx.extract("Possible pneumonia.")) == {"Pneumonia": "possible"}
    # both sides of a "versus" are what the writer is weighing
    assert _by_name(fx.extract("Pneumonia versus bronchitis.")) == {"Pneumonia": "possible", "Bronchitis": "possible"}
    assert _by_name(fx.extract("Hypertensive disease vs renal artery stenosis.")) == {
        "Hypertension": "possible", "Renal artery stenosis": "possible"}
    assert _by_name(fx.extract("No family history of asthma.")) == {"Asthma": "family"}  # not the case's own


def test_patient_wording_is_not_negation(fx: FindingExtractor) -> None:
    assert _by_name(fx.extract("I can't stop sneezing and I have a runny nose.")) == {
        "Sneeze": "present", "Rhinorrhea": "present",
    }
    assert _by_name(fx.extract("I don't have any energy and my throat has been really itchy.")) == {"Pruritus": "present"}
    assert _by_name(fx.extract("I have had a fever for the past three days.")) == {"Fever": "present"}


def test_strip_negated_removes_denied_findings_only(fx: FindingExtractor) -> None:
    assert fx.strip_negated("Cough for 3 days. No fever, denies chest pain.") == "Cough for 3 days."
    out = fx.strip_negated("Burning on urination, frequency, lower abdominal pain; no fever, no flank pain.")
    assert "fever" not in out.lower() and "flank" not in out.lower()
    assert "Burning on urination" in out and "abdominal pain" in out
    assert fx.strip_negated("fever and cough") == "fever and cough"
    assert fx.strip_negated("") == ""


def test_finding_match(fx: FindingExtractor) -> None:
    case = fx.extract("Burning on urination, fever. No flank pain.")
    evidence = fx.extract("Pyelonephritis presents with fever, dysuria and flank pain.")
    m = finding_match(case, evidence)
    assert set(m.matched) == {"dysuria", "fever"}
    assert m.against == ("no flank pain",)
    assert m.display.startswith("matches: ") and "against: no flank pain" in m.display
    assert finding_match([], evidence).matched == ()


def test_lay_table_targets_exist_in_hpo(fx: FindingExtractor) -> None:
    fx.extract("warm-up")
    assert fx.unresolved_lay == []
    assert len(LAY_FINDINGS) > 150


@pytest.mark.parametrize(("text", "name"), [
    ("enlarged spleen", "Splenomegaly"), ("his spleen is enlarged", "Splenomegaly"),
    ("swollen lymph glands", "Lymphadenopathy"), ("enlarged lymph nodes", "Lymphadenopathy"),
    ("swelling of the lymph nodes", "Lymphadenopathy"), ("swollen glands in her neck", "Cervical lymphadenopathy"),
    ("an enlarged thyroid", "Goiter"), ("swollen tonsils", "Enlarged tonsils"),
    ("a swollen knee", "Joint swelling"), ("swelling of the joints", "Joint swelling"),
    ("swollen salivary glands", "Enlargement of parotid gland"),
])
def test_swollen_or_enlarged_body_parts_are_their_finding_not_edema(fx: FindingExtractor, text: str, name: str) -> None:
    """Leaflets and patients write "swollen lymph glands", "enlarged spleen": these found nothing,
    or Edema through the bare word "swelling", so a mononucleosis page lacked both of its signs."""
    assert _by_name(fx.extract(text)) == {name: "present"}
    assert _by_name(fx.extract(f"No {text}.")) == {name: "absent"}


@pytest.mark.parametrize(("text", "name"), [
    ("sensitivity to light", "Photophobia"), ("sensitive to noise", "Phonophobia"),
    ("flashing lights in her vision", "Photopsia"), ("sticky discharge", "Purulent eye discharge"),
    ("her left ankle is swollen", "Ankle swelling"), ("swollen ankles", "Edema"),
    ("blood in the urine", "Hematuria"), ("pain in the right flank", "Flank pain"),
    ("black tarry stools", "Melena"), ("a pounding heart", "Palpitations"),
    ("blood-streaked sputum", "Hemoptysis"), ("a thick white vaginal discharge", "Abnormal vaginal discharge"),
    ("raised red welts", "Urticaria"), ("a drooping face", "Facial palsy"), ("one-sided weakness", "Hemiparesis"),
    ("weakness of the right arm and leg", "Hemiparesis"), ("a drooping right face", "Facial palsy"),
    ("drooping of the left side of her face", "Facial palsy"),
])
def test_everyday_phrasings_of_common_findings(fx: FindingExtractor, text: str, name: str) -> None:
    """How clinicians and patients write a migraine, a conjunctivitis or a sprain: none of these found
    a finding before. One swollen ankle is an injury; swollen ankles (both) are oedema."""
    assert _by_name(fx.extract(text)) == {name: "present"}


@pytest.mark.parametrize(("text", "name"), [
    ("burning when she passes urine", "Dysuria"), ("pain on passing urine", "Dysuria"),
    ("needs to go very often", "Pollakisuria"), ("getting up at night to urinate", "Nocturia"),
    ("passing a lot of urine", "Polyuria"), ("his urine is dark", "Dark urine"), ("foamy urine", "Foamy urine"),
    ("his speech is slurred", "Slurred speech"), ("the right side of his face is drooping", "Facial palsy"),
    ("he could not lift his right arm", "Upper limb muscle weakness"),
    ("has to sleep on three pillows", "Orthopnea"), ("wakes at night gasping for air", "Paroxysmal nocturnal dyspnea"),
    ("a burning feeling behind the breastbone", "Gastroesophageal reflux"), ("stomach cramps", "Abdominal cramps"),
    ("bright red blood on the toilet paper", "Hematochezia"), ("her eyes and skin are yellow", "Jaundice"),
    ("yellowing of his skin and eyes", "Jaundice"), ("cold all the time", "Cold intolerance"),
    ("she has gained weight", "Increased body weight"), ("dry skin", "Dry skin"),
    ("her hair is thinning", "Alopecia"), ("her nails are brittle", "Fragile nails"),
    ("his fingernails are pitted", "Nail pits"), ("her eyes look prominent", "Proptosis"),
    ("very heavy periods", "Menorrhagia"), ("morning stiffness", "Joint stiffness"),
    ("a grating feeling in the knee", "Joint crepitus"), ("pulls at his right ear", "Ear pain"),
    ("painful sores in the mouth", "Oral ulcer"), ("difficulty feeding", "Feeding difficulties"),
    ("fast breathing", "Tachypnea"), ("sweaty", "Hyperhidrosis"), ("shaking chills", "Chills"),
    ("has lost interest in things", "Anhedonia"), ("increasingly forgetful", "Memory impairment"),
    ("silvery scales", "Scaling skin"), ("a bull's-eye rash", "Erythema migrans"),
    ("pain around his belly button", "Abdominal pain"), ("pain around his right eye", "Ocular pain"),
    ("sharp pain in the bottom of his heel", "Foot pain"), ("a runny right nostril", "Rhinorrhea"),
    ("vaginal itching", "Vaginal pruritus"), ("twisted veins on her legs", "Varicose veins"),
    # how patients write them (Symptom2Disease narratives)
    ("my neck has been really stiff", "Stiff neck"), ("my joints have swollen", "Joint swelling"),
    ("my knees have been hurting", "Knee pain"), ("my stool has been really bloody", "Hematochezia"),
    ("my throat and mouth are dry", "Xerostomia"), ("a very bad urine odour", "Abnormal urinary odor"),
    ("my anus is painful", "Anal pain"), ("I am always hungry", "Polyphagia"),
    ("gets up three times a night to urinate", "Nocturia"), ("burning pain on the left side of her chest", "Chest pain"),
])
def test_phrasings_of_textbook_cases(fx: FindingExtractor, text: str, name: str) -> None:
    """Found missing when textbook cases of common conditions were read finding by finding
    (rag_dx.everyday_findings): a cystitis, a stroke, heart failure, hypothyroidism."""
    assert _by_name(fx.extract(text)) == {name: "present"}


def test_everyday_phrasings_can_be_denied_and_could_not_is_no_denial(fx: FindingExtractor) -> None:
    assert _by_name(fx.extract("No burning when passing urine, no fever.")) == {"Dysuria": "absent", "Fever": "absent"}
    assert _by_name(fx.extract("Her urine is not dark.")) == {}
    assert _by_name(fx.extract("He could not lift his right arm and his speech is slurred.")) == {
        "Upper limb muscle weakness": "present", "Slurred speech": "present"}
    assert _by_name(fx.extract("She worries excessively every day for the last year.")) == {"Anxiety": "present"}
    assert _by_name(fx.extract("He had pneumonia last year.")) == {"Pneumonia": "historical"}
    # "a 3-day history of" is the presenting illness, "history of" alone is history; "presented with" ends it
    assert _by_name(fx.extract("He presents with a 3-day history of cough and back pain.")) == {
        "Cough": "present", "Back pain": "present"}
    assert _by_name(fx.extract("She has a history of asthma.")) == {"Asthma": "historical"}
    assert _by_name(fx.extract("A man with a history of diabetes mellitus, on dialysis, who presented with nausea.")) == {
        "Diabetes mellitus": "historical", "Nausea": "present"}
    # MTSamples writes a section heading after ".,": the heading starts a sentence of its own, and "HISTORY OF
    # PRESENT ILLNESS" is no history (a note over 200 characters is read sentence by sentence)
    note = ("CHIEF COMPLAINT: Abdominal pain, possible spontaneous bacterial peritonitis.,HISTORY OF PRESENT ILLNESS: , "
            "This is a 53-year-old man with diabetes and cirrhosis who presents with abdominal pain getting worse."
            ",PAST MEDICAL HISTORY:, Hypertension.,FAMILY HISTORY:, Asthma.")
    got = {(f.name, f.assertion) for f in fx.extract(note)}
    assert {("Diabetes mellitus", "present"), ("Cirrhosis", "present"), ("Hypertension", "historical"),
            ("Asthma", "family")} <= got, got
    # "was not" after a finding denies it ("pneumonia was not seen"), "was not able to" does not
    assert _by_name(fx.extract("He was confused, was not able to answer questions.")) == {"Confusion": "present"}
    assert _by_name(fx.extract("Pneumonia was not seen.")) == {"Pneumonia": "absent"}


def test_negative_right_before_a_finding_denies_it_and_only_that_one(fx: FindingExtractor) -> None:
    """A review of systems: the list's last item read as present (negspacy's bare "negative" only
    follows a finding, so each earlier item was negated by the next one's cue)."""
    assert _by_name(fx.extract("negative cough, negative headache, negative rash.")) == {
        "Cough": "absent", "Headache": "absent", "Skin rash": "absent"}
    assert _by_name(fx.extract("Negative bleeding, negative bruisability.")) == {"Bruising susceptibility": "absent"}
    assert _by_name(fx.extract("CT negative, headache persists.")) == {"Headache": "present"}
    assert _by_name(fx.extract("Gram negative rods; fever.")) == {"Fever": "present"}


def test_swelling_phrases_resolve_and_agree_with_hpo(fx: FindingExtractor) -> None:
    from rag_dx.finding_terms import swelling_phrases
    from rag_dx.findings import parse_hpo_obo
    from rag_dx.package_data import shipped_hpo_obo

    names, synonyms, _ = parse_hpo_obo(shipped_hpo_obo())
    hpo = {t.lower(): names[h] for h in sorted(names) for t in [names[h], *synonyms[h]]}
    phrases = swelling_phrases()
    fx.extract("warm-up")
    assert fx.unresolved_lay == [] and len(phrases) > 500
    # Where HPO already names a phrasing ("enlarged heart", "swollen lymph nodes"), the table agrees.
    assert {p: (hpo[p], t) for p, t in phrases.items() if p in hpo and hpo[p] != t} == {}
    assert "enlarged eyelids" not in phrases and "swollen heart" not in phrases
    # "the sores on my face are swollen": the sores are, not the face
    assert "Facial edema" not in _by_name(fx.extract("The sores on my face are swollen and tender."))
    assert _by_name(fx.extract("Along with the swelling in my lymph nodes")) == {"Lymphadenopathy": "present"}


def test_pain_at_a_site_is_found_however_the_case_words_it(fx: FindingExtractor) -> None:
    """HPO says "Flank pain"; a textbook renal-colic case says "colicky pain in his left flank", and found
    nothing, neither for the cards' finding words nor for a denial of it."""
    from rag_dx.finding_terms import pain_phrases
    from rag_dx.findings import parse_hpo_obo
    from rag_dx.package_data import shipped_hpo_obo

    names, _, _ = parse_hpo_obo(shipped_hpo_obo())
    assert set(pain_phrases().values()) <= set(names.values())  # every target is an HPO preferred name
    assert fx.unresolved_lay == []
    case = "Sudden severe colicky pain in his left flank that comes in waves and spreads to the groin."
    assert _by_name(fx.extract(case)) == {"Flank pain": "present"}
    assert _by_name(fx.extract("No pain in the chest; denies pain in her lower back.")) == {
        "Chest pain": "absent", "Low back pain": "absent"}
    assert _by_name(fx.extract("Pain in the upper right abdomen after fatty meals")) == {"Abdominal pain": "present"}
    assert _by_name(fx.extract("His knees hurt and her left calf is painful.")) == {
        "Knee pain": "present", "Lower limb pain": "present"}
    assert _by_name(fx.extract("pain in the heel on the first steps")) == {"Foot pain": "present"}
    # "X pain" for sites HPO has no such term for
    assert _by_name(fx.extract("heel pain and left calf pain")) == {"Foot pain": "present", "Lower limb pain": "present"}
    # the other words a textbook case used for its findings
    assert _by_name(fx.extract("She coughed up a little blood; his urine is pink; sick to her stomach.")) == {
        "Hemoptysis": "present", "Pink urine": "present", "Nausea": "present"}
    # the verb agrees with the site: no "knees hurts" or "calf are painful" in the table
    assert "his knees hurts" not in pain_phrases() and "her calf are painful" not in pain_phrases()
    # the curated lay table still wins where both name a phrase
    assert fx.extract("pain in my stomach")[0].name == "Abdominal pain"


def test_exam_findings_written_as_adjectives_and_words_that_deny_a_finding(fx: FindingExtractor) -> None:
    """Physicians write "tachycardic and diaphoretic", "hypoxic on room air", "afebrile", "anicteric":
    HPO names the nouns only, so none was a finding, and "my temperature is normal" was a fever."""
    from rag_dx.finding_terms import ABSENT_PHRASES, CLINICAL_ADJECTIVES
    from rag_dx.findings import parse_hpo_obo
    from rag_dx.package_data import shipped_hpo_obo

    names, _, _ = parse_hpo_obo(shipped_hpo_obo())
    assert set(CLINICAL_ADJECTIVES.values()) | set(ABSENT_PHRASES.values()) <= set(names.values())
    assert _by_name(fx.extract("He is tachycardic, hypotensive and diaphoretic, hypoxic on room air.")) == {
        "Tachycardia": "present", "Hypotension": "present", "Hyperhidrosis": "present", "Hypoxemia": "present"}
    assert _by_name(fx.extract("Afebrile. Anicteric sclerae.")) == {"Fever": "absent", "Jaundice": "absent"}
    assert _by_name(fx.extract("My temperature is normal.")) == {"Fever": "absent"}
    assert _by_name(fx.extract("She has a temperature.")) == {"Fever": "present"}  # the lay reading stays
    assert _by_name(fx.extract("Not tachycardic.")) == {"Tachycardia": "absent"}  # negation still applies
    assert fx.strip_negated("Afebrile, cough for 3 days.") == "cough for 3 days."
    assert _by_name(fx.extract("pale stools")) == {"Acholic stools": "present"}  # "pale" alone is no finding


def test_extractor_is_lazy_and_shareable() -> None:
    fresh = FindingExtractor()
    assert fresh._state is None  # nothing built until first use
    assert fresh.extract("") == []
    assert fresh._state is None


def test_finding_serialization_and_overlap() -> None:
    from rag_dx.findings import finding_overlap

    f = Finding("HP:0001945", "Fever", "absent", (3, 8), "fever")
    assert Finding.from_dict(f.to_dict()) == f
    with pytest.raises(ValueError):
        Finding.from_dict({**f.to_dict(), "assertion": "maybe"})
    case = [Finding("A", "a", "present", (0, 1)), Finding("B", "b", "present", (0, 1)),
            Finding("C", "c", "absent", (0, 1))]
    ev = [Finding("A", "a", "present", (0, 1)), Finding("C", "c", "present", (0, 1))]
    assert finding_overlap(case, ev) == pytest.approx((1 - 1) / 3)
    assert finding_overlap(case, ev[:1]) == pytest.approx(1 / 3)
    assert finding_overlap([], ev) == 0.0
    assert finding_overlap(case, ev[:1], idf=lambda c: 2.0 if c == "A" else 1.0) == pytest.approx(2 / 4)


def test_strip_negated_removes_unknown_denied_words_too(fx: FindingExtractor) -> None:
    assert fx.strip_negated("I have a rash. No bladder discomfort or continuous feel of urine.") == "I have a rash."
    assert fx.strip_negated("Itchy skin. Absent: no internal itching, no passage of gases.") == "Itchy skin."
    assert fx.strip_negated("The patient denies headache but reports nausea.") == "reports nausea."
    assert fx.strip_negated("Sore throat, no cough, but runny nose.") == "Sore throat, runny nose."
    assert fx.strip_negated("I can't stop coughing.") == "I can't stop coughing."


def test_extractor_shared_by_threads(fx: FindingExtractor) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"No fever, denies chest pain, word{i} cough{i} xyz{i}. Has a cough." for i in range(200)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(fx.extract, texts))
    assert all([f.assertion for f in r] == ["absent", "absent", "present"] for r in results)


def test_and_a_starts_an_asserted_item(fx: FindingExtractor) -> None:
    # "no energy" is itself a finding (fatigue), not a denial
    assert _by_name(fx.extract("I have no energy and a fever.")) == {"Fatigue": "present", "Fever": "present"}
    assert _by_name(fx.extract("I have no cough and a fever.")) == {"Cough": "absent", "Fever": "present"}
    assert _by_name(fx.extract("No fever and cough.")) == {"Fever": "absent", "Cough": "absent"}


def test_has_starts_a_new_clause_about_the_patient_but_not_about_a_relative(fx: FindingExtractor) -> None:
    """A heart-failure case "with a previous heart attack has increasing breathlessness" had its
    breathlessness and swollen ankles read as history, and "denies chest pain, has cough" denied the cough."""
    assert _by_name(fx.extract("A man with a previous heart attack has increasing breathlessness and swollen ankles.")) \
        == {"Myocardial infarction": "historical", "Dyspnea": "present", "Edema": "present"}
    assert _by_name(fx.extract("Denies chest pain, has cough.")) == {"Chest pain": "absent", "Cough": "present"}
    assert _by_name(fx.extract("Possible pneumonia, has fever.")) == {"Pneumonia": "possible", "Fever": "present"}
    assert _by_name(fx.extract("His mother has diabetes and asthma.")) == {"Diabetes mellitus": "family",
                                                                          "Asthma": "family"}
    assert _by_name(fx.extract("He does not have a fever.")) == {"Fever": "absent"}


def test_obo_reader_keeps_synonym_types_definitions_and_obsolete_terms(tmp_path) -> None:
    from rag_dx.findings import parse_hpo_obo
    from rag_dx.hpo_obo import OboSynonym, read_obo_terms

    obo = tmp_path / "hp.obo"
    obo.write_text(
        "format-version: 1.2\n\n[Term]\nid: HP:0000118\nname: Phenotypic abnormality\n\n"
        "[Term]\nid: HP:1\nname: Pyrexia\ndef: \"Elevated \\\"core\\\" temperature.\" [HPO:x]\n"
        "synonym: \"Fever\" EXACT layperson [ORCID:1]\nsynonym: \"Hot\" RELATED [hp#layperson]\n"
        "synonym: \"Hyperthermia\" EXACT []\nsynonym: \"Warmth\" NARROW []\n"
        "is_a: HP:0000118 ! Phenotypic abnormality\n\n"
        "[Term]\nid: HP:2\nname: Old term\nis_obsolete: true\n\n[Typedef]\nid: part_of\nname: part of\n",
        encoding="utf-8")
    terms = read_obo_terms(obo)
    assert [t.id for t in terms] == ["HP:0000118", "HP:1", "HP:2"]  # the Typedef is not a term
    pyrexia, old = terms[1], terms[2]
    assert pyrexia.name == "Pyrexia" and pyrexia.definition == 'Elevated "core" temperature.'
    assert pyrexia.parents == ("HP:0000118",) and not pyrexia.obsolete and old.obsolete
    assert pyrexia.synonyms[0] == OboSynonym("Fever", "EXACT", "layperson", " layperson [ORCID:1]")
    assert [(s.text, s.scope, s.type) for s in pyrexia.synonyms[1:]] == [
        ("Hot", "RELATED", ""), ("Hyperthermia", "EXACT", ""), ("Warmth", "NARROW", "")]
    assert [s.text for s in pyrexia.synonyms if s.layperson] == ["Fever", "Hot"]  # type or xref

    names, synonyms, parents = parse_hpo_obo(obo)  # the extractor's slice: no obsolete terms
    assert names == {"HP:0000118": "Phenotypic abnormality", "HP:1": "Pyrexia"}
    assert synonyms == {"HP:0000118": [], "HP:1": ["Fever", "Hot", "Hyperthermia"]}
    assert parents == {"HP:0000118": [], "HP:1": ["HP:0000118"]}


def test_findings_are_remembered_by_digest_and_bounded(fx: FindingExtractor, monkeypatch: pytest.MonkeyPatch) -> None:
    ex = FindingExtractor(memo_size=2)
    ex._state = fx._ensure()  # share the loaded pipeline: building a second one costs ~13 s
    calls: list[str] = []
    real = ex._extract_segment
    monkeypatch.setattr(ex, "_extract_segment", lambda text, *rest: calls.append(text) or real(text, *rest))
    a, b, c = "No fever, denies chest pain.", "Fever and cough.", "Runny nose, no rash."
    first = ex.extract(a)
    again = ex.extract(a)
    assert again == first and _by_name(first) == {"Fever": "absent", "Chest pain": "absent"}
    assert len(calls) == 1  # the second call read the memo
    again.clear()  # a caller changing its list does not change what is remembered
    assert ex.extract(a) == first and len(calls) == 1
    ex.extract(b), ex.extract(c)  # a is now the oldest of three with room for two: forgotten
    n = len(calls)
    assert ex.extract(a) == first and len(calls) == n + 1
    assert all(isinstance(k, bytes) and len(k) == 16 for k in ex._memo)  # digests: the memo holds no text
    ex.memo_size = 0  # switched off: nothing is read from or added to it
    ex.clear_memo()
    n = len(calls)
    ex.extract(b), ex.extract(b)
    assert len(calls) == n + 2 and not ex._memo


@pytest.mark.parametrize(("text", "name", "assertion"), [
    ("non-painful right knee", "Knee pain", "absent"),  # "non-" denies what follows
    ("Sclerae are non-icteric.", "Jaundice", "absent"),
    ("a gradually worsening non-productive cough", "Nonproductive cough", "present"),  # not "productive cough"
    ("one episode of nonbloody, nonbilious emesis", "Vomiting", "present"),
    ("She has non-bloody diarrhea.", "Diarrhea", "present"),
    ("He has a weak urine stream.", "Urinary hesitancy", "present"),  # HPO's "difficulty with flow"
    ("his bladder does not empty completely", "Urinary retention", "present"),
    ("a swollen right knee", "Joint swelling", "present"),
    ("a tender abdomen", "Abdominal pain", "present"),
    ("a sore left shoulder", "Shoulder pain", "present"),
    ("He was in septic shock on pressors.", "Shock", "present"),
    ("The patient was found unresponsive at home.", "Reduced consciousness", "present"),
    ("I'm running a temperature and can't catch my breath.", "Fever", "present"),
    ("My temperature is really high.", "Fever", "present"),
    ("She has problems with aspiration when fed by mouth.", "Aspiration", "present"),
    ("He was found disoriented and drowsy.", "Confusion", "present"),  # not Confusional arousal
    ("a 19-month-old with persistent tearing of the left eye", "Epiphora", "present"),
    ("Follicular non-Hodgkin's lymphoma.", "Non-Hodgkin lymphoma", "present"),  # an eponym's possessive
    ("History of lymphoma, now with fever and night sweats.", "Fever", "present"),  # "now with" ends the history
    ("ROS: (-) fever, (-) chills, (+) cough.", "Chills", "absent"),  # "(-)" denies, as "negative" does
    ("ROS: (-) fever, (-) chills, (+) cough.", "Cough", "present"),
    ("ROS: (-) fever, chills, night sweats. (+) cough.", "Chills", "absent"),  # the cue's list, not its head only
    ("ROS: (-) fever, chills, night sweats. (+) cough.", "Night sweats", "absent"),
    ("ROS: (-) fever, chills, night sweats. (+) cough.", "Cough", "present"),
    ("HIV (-), fever and cough.", "Fever", "present"),  # a cue after a test denies no list
    ("Skin: non-pruritic, erythematous rash.", "Erythema", "present"),  # "non-" denies its own word only
    ("Skin: non-pruritic, erythematous rash.", "Pruritus", "absent"),
    ("Negative cough, has a rash.", "Skin rash", "present"),  # a word that is no list word ends the list
])
def test_prefixes_sides_and_prostate_symptoms(fx: FindingExtractor, text: str, name: str, assertion: str) -> None:
    got = {(f.name, f.assertion) for f in fx.extract(text)}
    assert (name, assertion) in got, got


def test_non_before_an_eponym_is_a_name_not_a_denial(fx: FindingExtractor) -> None:
    # "non-" denied what followed, so a non-Hodgkin lymphoma read as Hodgkin lymphoma absent
    got = {(f.name, f.assertion) for f in fx.extract("Follicular non-Hodgkin's lymphoma, non-tender abdomen.")}
    assert ("Hodgkin lymphoma", "absent") not in got and ("Abdominal pain", "absent") in got, got


@pytest.mark.parametrize("text", [
    "He has terminal dribbling.",  # urinary, not Drooling (HPO's synonym "Dribbling")
    "the tibia was cut with a cutting jig and a cutting bur",  # not Self-cutting (HPO's synonym "Cutting")
    "esophageal dysmotility with incomplete emptying",  # not a bladder
    "one 150 joule biphasic shock restored sinus rhythm",  # a cardioversion, not Shock
    "nodules proven benign by fine needle aspiration",  # a procedure, not Aspiration
    "a course unresponsive to medical therapy",  # not HPO's "Unresponsive" (Confusional arousal)
    "my skin reacts to changes in temperature or humidity",  # not a fever
    "The patient has a temperature of 36.8 rectally.",  # the measurement decides, not "a temperature"
    "LFTs are all within normal limits.",  # not HPO's "LFT" (Filum terminale lipoma)
    "She uses multiple eye drops and creams.",  # not HPO's "Eye drop" (Ptosis)
    "partial tearing of the supraspinatus tendon",  # not HPO's "Tearing" (Epiphora)
    "the renal collecting system was visualized",  # not HPO's "Collecting" (Collectionism)
    "We are ordering labs and arranging follow-up.",  # not Atypical sorting
    "She did jumping jacks and was hopping on one foot.",  # not the stereotypy Jumping
    "He shows good self-control.",  # not Disinhibition (HPO lists "self-control" as its synonym)
    "She falls asleep easily and her sodium falls within normal limits.",  # the verb, not Falls
    "Full report was sent to the PACS. Images saved to PACS.",  # the imaging archive, not PACs
    "She has laryngitis.",  # not HPO's more specific Subglottic laryngitis
    "Endolymphatic hydrops of the inner ear.",  # not Edema
])
def test_words_that_name_another_thing_in_clinical_text_are_not_findings(fx: FindingExtractor, text: str) -> None:
    assert fx.extract(text) == []


@pytest.mark.parametrize("text, name", [
    ("History of irritable bowel syndrome.", "Bowel irritability"),  # was Irritability, a mood
    ("Irritable bowel with alternating constipation.", "Bowel irritability"),
    ("No known drug hypersensitivity.", "Immunologic hypersensitivity"),  # was Emotional hypersensitivity
    ("The toddler is irritable and crying.", "Irritability"),  # the mood is still found where it is meant
    ("He falls often and had two falls this month.", "Falls"),  # a patient who falls still does
    ("Her hair falls out in clumps.", "Alopecia"),
    ("Occasional PACs were noted on the monitor.", "Premature atrial contractions"),  # the beats still are
    ("Fetal hydrops on the scan.", "Hydrops fetalis"),
])
def test_a_clinical_word_is_read_in_its_clinical_sense(fx: FindingExtractor, text: str, name: str) -> None:
    assert name in {f.name for f in fx.extract(text)}
    assert not ({"Irritability", "Emotional hypersensitivity"} - {name}) & {f.name for f in fx.extract(text)}
