"""Loading and validating reports and guidelines: every error names file, physical line and field,
and never quotes the (possibly identifying) value."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest

from rag_dx.errors import InputError
from rag_dx.ingest.loaders import MAX_TEXT_CHARS, LoadedReports, derive_report_id, load_guidelines, load_reports

SECRET = "Zebulon Quackenbush"  # stands in for patient data that must never reach a message


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def _raises(path: Path, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        load_reports(path, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------------
# reports: happy paths
# ------------------------------------------------------------------------------------------


def test_csv_all_columns(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "r.csv",
        "report_id,text,diagnosis,icd10,date,patient_id,age,sex,specialty\n"
        "a1,Fever and cough for two weeks.,Pneumonia,J18.9,2023-03-14,P001,54,F,Pulmonology\n"
        'a2,"Headache,\nphotophobia.",,,,,,,\n',
    )
    loaded = load_reports(p)
    assert isinstance(loaded, LoadedReports)
    assert len(loaded) == 2 and loaded.rejects == []
    r1, r2 = loaded.reports
    assert (r1.report_id, r1.diagnosis, r1.icd10, r1.date, r1.age, r1.sex, r1.specialty) == (
        "a1", "Pneumonia", "J18.9", "2023-03-14", 54.0, "F", "Pulmonology"
    )
    assert r1.source == p.name and r1.line == 2  # file name only: no server paths in the index
    assert r2.text == "Headache,\nphotophobia." and r2.diagnosis is None and r2.age is None and r2.line == 3
    assert loaded.patient_ids == ["P001", None]
    assert not hasattr(r1, "patient_id")


def test_default_label_column_may_be_missing(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", "text\nNausea after meals.\n")
    (r,) = load_reports(p).reports
    assert r.diagnosis is None
    assert r.report_id == derive_report_id("Nausea after meals.")
    assert r.report_id.startswith("r") and len(r.report_id) == 13


def test_derived_id_is_stable_and_normalized(tmp_path: Path) -> None:
    assert derive_report_id("Chest  pain\r\nat rest ") == derive_report_id("chest pain at rest")
    p = _write(tmp_path / "r.csv", "text,diagnosis\nSame words.,A\nSame words.,B\nOther.,C\n")
    ids = [r.report_id for r in load_reports(p).reports]
    assert ids[1] == ids[0] + "-2"  # twins keep the shared stem, ids stay unique
    assert len(set(ids)) == 3
    assert ids == [r.report_id for r in load_reports(p).reports]


def test_symptom2disease_layout(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "s2d.csv",
        'index,label,text\n0,Psoriasis,"Itchy, scaly patches on my elbows."\n1,Psoriasis,Peeling skin on knees.\n'
        "0,Dengue,High fever and joint pain.\n",
    )
    loaded = load_reports(p, label_col="label")
    assert [r.diagnosis for r in loaded.reports] == ["Psoriasis", "Psoriasis", "Dengue"]
    assert all(r.report_id.startswith("r") for r in loaded.reports)
    # the index column repeats (it does in the real file too): as ids it is a duplicate
    err = _raises(p, label_col="label", id_col="index")
    assert (err.line, err.field) == (4, "index")


def test_renamed_columns_and_case_insensitive_header(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", "Note_ID,Transcription,Dx\nn1,Wheezing at night.,Asthma\n")
    (r,) = load_reports(p, text_col="transcription", label_col="dx", id_col="note_id").reports
    assert (r.report_id, r.diagnosis, r.text) == ("n1", "Asthma", "Wheezing at night.")


def test_jsonl_and_gzip(tmp_path: Path) -> None:
    rows = [
        {"report_id": 7, "text": "Rash on both arms.", "diagnosis": "Eczema", "age": 33},
        {"text": "Burning urination.", "diagnosis": None},
    ]
    payload = "\n".join(json.dumps(r) for r in rows) + "\n\n"
    for name in ("r.jsonl", "r.jsonl.gz"):
        p = tmp_path / name
        p.write_bytes(gzip.compress(payload.encode()) if name.endswith(".gz") else payload.encode())
        loaded = load_reports(p)
        assert [r.report_id for r in loaded.reports][0] == "7"
        assert loaded.reports[0].age == 33.0 and loaded.reports[1].diagnosis is None
        assert [r.line for r in loaded.reports] == [1, 2]
    csv_gz = tmp_path / "r.csv.gz"
    csv_gz.write_bytes(gzip.compress(b"report_id,text\nx,Dizzy spells.\n"))
    assert load_reports(csv_gz).reports[0].text == "Dizzy spells."


def test_bom_and_crlf(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", b"\xef\xbb\xbfreport_id,text\r\na,One.\r\nb,\r\n")
    err = _raises(p)
    assert (err.line, err.field) == (3, "text")


# ------------------------------------------------------------------------------------------
# reports: validation errors
# ------------------------------------------------------------------------------------------


def test_empty_text_on_physical_line_7(tmp_path: Path) -> None:
    # records start on lines 2, 3 (spans 3-5: an embedded multi-line text), 6 and 7
    p = _write(
        tmp_path / "r.csv",
        "report_id,text,diagnosis\n"
        "a,Cough.,Flu\n"
        f'b,"{SECRET} said:\nline two\nline three",Flu\n'
        "c,Fever.,Flu\n"
        f"d,   ,{SECRET}\n"
        "e,Chills.,Flu\n",
    )
    err = _raises(p)
    assert err.line == 7 and err.field == "text"
    assert err.path == str(p)
    assert SECRET not in str(err)


def test_skip_invalid_collects_rejects(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "r.csv",
        "report_id,text,age\n"
        "a,Cough.,40\n"
        "b,,41\n"
        "c,Fever.,forty\n"
        'd,"bad"quote,1\n'
        "a,Duplicate id.,3\n"
        "e,Fine.,\n",
    )
    loaded = load_reports(p, skip_invalid=True)
    assert [r.report_id for r in loaded.reports] == ["a", "e"]
    assert [(e.line, e.field) for e in loaded.rejects] == [(3, "text"), (4, "age"), (5, None), (6, "report_id")]
    assert len(loaded.patient_ids) == len(loaded.reports)


def test_non_utf8(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", b"report_id,text\na,Fine.\nb,\"multi\nline caf\xe9\"\n")
    err = _raises(p)
    assert err.line == 4 and err.field == "text"
    assert "UTF-8" in err.reason
    jl = _write(tmp_path / "r.jsonl", b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    assert _raises(jl).line == 2


def test_bad_quoting(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", f'report_id,text\na,Fine.\nb,"{SECRET}" trailing,x\n')
    err = _raises(p)
    assert err.line == 3
    assert "quoting" in err.reason and SECRET not in str(err)


def test_unterminated_quote_reports_record_start(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", 'report_id,text\na,Fine.\nb,"never closed\nmore\n')
    assert _raises(p).line == 3


def test_missing_required_column(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", "report_id,body\na,Cough.\n")
    err = _raises(p)
    assert (err.line, err.field) == (1, "text")
    # an explicitly requested label column must exist; the default one may be absent
    p2 = _write(tmp_path / "r2.csv", "report_id,text\na,Cough.\n")
    err = _raises(p2, label_col="label")
    assert (err.line, err.field) == (1, "label")
    assert _raises(p2, id_col="note_id").field == "note_id"
    # header problems are not skippable
    assert _raises(p, skip_invalid=True).field == "text"


def test_duplicate_report_id(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", "report_id,text\nx1,One.\nx2,Two.\nx1,Three.\n")
    err = _raises(p)
    assert (err.line, err.field) == (4, "report_id")
    assert "line 2" in err.reason


def test_text_length_limit(tmp_path: Path) -> None:
    ok_text = "é" * (MAX_TEXT_CHARS - 1)  # about 2 MB of UTF-8 in one cell: above csv's default limit
    p = _write(tmp_path / "ok.csv", f"report_id,text\na,{ok_text}\n")
    assert p.stat().st_size > 1_900_000
    assert len(load_reports(p).reports[0].text) == MAX_TEXT_CHARS - 1

    too_long = SECRET + "x" * MAX_TEXT_CHARS
    p2 = _write(tmp_path / "long.jsonl", json.dumps({"text": too_long}) + "\n")
    err = _raises(p2)
    assert (err.line, err.field) == (1, "text")
    assert SECRET not in str(err) and "1,000,000" in err.reason


def test_age_must_be_numeric(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", f"text,age\nCough.,{SECRET}\n")
    err = _raises(p)
    assert (err.line, err.field) == (2, "age") and SECRET not in str(err)
    p2 = _write(tmp_path / "r2.csv", "text,age\nCough.,200\n")
    assert _raises(p2).field == "age"


def test_extra_fields_in_row(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.csv", "report_id,text\na,Cough, fever\n")
    assert _raises(p).line == 2


def test_jsonl_errors(tmp_path: Path) -> None:
    p = _write(tmp_path / "r.jsonl", '{"text": "ok"}\n\n{"text": "' + SECRET + '"\n')
    err = _raises(p)
    assert err.line == 3 and SECRET not in str(err)
    p2 = _write(tmp_path / "r2.jsonl", '["not", "an", "object"]\n')
    assert _raises(p2).line == 1
    p3 = _write(tmp_path / "r3.jsonl", '{"body": "x"}\n')
    assert _raises(p3).field == "text"
    p4 = _write(tmp_path / "r4.jsonl", '{"text": "x", "label": "A"}\n{"text": "y"}\n')
    err = _raises(p4, label_col="label")
    assert (err.line, err.field) == (2, "label")


def test_file_level_errors(tmp_path: Path) -> None:
    assert "not found" in _raises(tmp_path / "missing.csv").reason
    assert "unsupported" in _raises(_write(tmp_path / "r.xlsx", "x")).reason
    assert "gzip" in _raises(_write(tmp_path / "r.csv.gz", b"not gzip")).reason
    assert "empty" in _raises(_write(tmp_path / "empty.csv", "")).reason


# ------------------------------------------------------------------------------------------
# guidelines
# ------------------------------------------------------------------------------------------

MEDQUAD_LINE = {
    "id": "0000001_1-1",
    "source": "CancerGov",
    "url": "https://www.cancer.gov/x",
    "focus": "Adult Acute Lymphoblastic Leukemia",
    "question": "What is (are) Adult Acute Lymphoblastic Leukemia ?",
    "answer": "Adult ALL is a type of cancer in which the bone marrow makes too many lymphocytes.",
}
NGC_LINE = {
    "ngc_id": "ngc-10302",
    "Guideline Title": "CDC guidance for evaluating health-care personnel for hepatitis B virus protection.",
    "Guideline Developer(s)": "Centers for Disease Control and Prevention",
    "Date Released": "2013 Dec 20",
    "Disease/Condition(s)": "Hepatitis B virus (HBV) infection",
    "Target Population": "Health-care personnel.",
    "Major Recommendations": "Test for anti-HBs after vaccination.",
    "Bibliographic Source(s)": "Schillie S, et al.",
    "Copyright Statement": "No copyright restrictions apply.",
}


def test_guideline_jsonl_flavours(tmp_path: Path) -> None:
    generic = {"title": "Migraine", "text": "Migraine is a recurrent headache.", "source": "NICE", "url": "u",
               "date": "2020-01-01", "topic": "Migraine"}
    lines = [json.dumps(MEDQUAD_LINE), json.dumps(NGC_LINE), json.dumps(generic), json.dumps(MEDQUAD_LINE)]
    p = _write(tmp_path / "g.jsonl", "\n".join(lines) + "\n")
    mq, ngc, gen, mq2 = load_guidelines(p)

    assert mq.doc_id == "0000001_1-1" and mq.title == MEDQUAD_LINE["question"]
    assert mq.text == MEDQUAD_LINE["question"] + "\n" + MEDQUAD_LINE["answer"]
    assert (mq.topic, mq.source, mq.url) == (MEDQUAD_LINE["focus"], "CancerGov", "https://www.cancer.gov/x")

    assert ngc.doc_id == "ngc-10302" and ngc.topic == "Hepatitis B virus (HBV) infection"
    assert ngc.text.startswith(NGC_LINE["Guideline Title"])
    assert "Major Recommendations\nTest for anti-HBs" in ngc.text and "Target Population" in ngc.text
    assert "Schillie" not in ngc.text and "copyright" not in ngc.text.lower()
    assert ngc.date == "2013-12-20"

    assert (gen.title, gen.topic, gen.source, gen.url, gen.date) == ("Migraine", "Migraine", "NICE", "u", "2020-01-01")
    assert gen.doc_id.startswith("g")
    assert mq2.doc_id == "0000001_1-1~2"  # MedQuAD reuses ids: later ones are suffixed


def test_guideline_ids_are_unique_across_the_files_of_one_build(tmp_path: Path) -> None:
    """Two MedQuAD parts as two --guidelines files: the second part's reused id is suffixed, as
    it is when the same files are loaded as a directory (it used to stop the build)."""
    from rag_dx.commands.inputs import load_inputs

    other = dict(MEDQUAD_LINE, focus="GERD", question="What is GERD?", answer="Acid reflux with heartburn.")
    a = _write(tmp_path / "a.jsonl", json.dumps(MEDQUAD_LINE) + "\n")
    b = _write(tmp_path / "b.jsonl", json.dumps(other) + "\n")
    _, guidelines, _ = load_inputs([], [a, b], "text", "diagnosis", "report_id", skip_invalid=False)
    assert [(g.doc_id, g.topic) for g in guidelines] == [
        ("0000001_1-1", "Adult Acute Lymphoblastic Leukemia"), ("0000001_1-1~2", "GERD")]
    assert [g.doc_id for g in load_guidelines(tmp_path)] == ["0000001_1-1", "0000001_1-1~2"]


def test_a_report_id_given_in_two_files_names_the_file_line_and_column_not_the_id(tmp_path: Path) -> None:
    """It used to stop the build on "duplicate chunk id R:mrn-4471#0": the id, no file, no line."""
    from rag_dx.commands.inputs import load_inputs
    from rag_dx.ingest.loaders import derive_report_id

    a = _write(tmp_path / "a.csv", "report_id,diagnosis,text\nmrn-4471,Migraine,throbbing headache with nausea\n")
    b = _write(tmp_path / "b.csv", "report_id,diagnosis,text\nx-1,Asthma,wheeze\nmrn-4471,Asthma,wheezing at night\n")
    with pytest.raises(InputError) as info:
        load_inputs([a, b], [], "text", "diagnosis", "report_id", skip_invalid=False)
    assert (info.value.path, info.value.line, info.value.field) == (str(b), 3, "report_id")
    assert f"first seen in {a} line 2" in str(info.value) and "4471" not in str(info.value)
    reports, _, rejects = load_inputs([a, b], [], "text", "diagnosis", "report_id", skip_invalid=True)
    assert [r.report_id for r in reports] == ["mrn-4471", "x-1"] and len(rejects) == 1
    # reports without an id are named by their text: the same text in two files is a twin, suffixed
    c = _write(tmp_path / "c.csv", "diagnosis,text\nMigraine,throbbing headache with nausea\n")
    d = _write(tmp_path / "d.csv", "diagnosis,text\nMigraine,throbbing headache with nausea\n")
    reports, _, _ = load_inputs([c, d], [], "text", "diagnosis", "report_id", skip_invalid=False)
    base = derive_report_id("throbbing headache with nausea")
    assert [r.report_id for r in reports] == [base, base + "-2"]


def test_guideline_jsonl_errors(tmp_path: Path) -> None:
    p = _write(tmp_path / "g.jsonl", json.dumps(MEDQUAD_LINE) + "\n" + json.dumps({"foo": 1}) + "\n")
    with pytest.raises(InputError) as info:
        load_guidelines(p)
    assert (info.value.line, info.value.field, info.value.path) == (2, "text", str(p))
    bad = dict(MEDQUAD_LINE, answer="  ")
    p2 = _write(tmp_path / "g2.jsonl", "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError) as info:
        load_guidelines(p2)
    assert (info.value.line, info.value.field) == (2, "answer")


def test_markdown_and_text(tmp_path: Path) -> None:
    md = _write(tmp_path / "asthma.md", "Intro line\n\n## Asthma in adults\n\nUse inhaled steroids.\n")
    (g,) = load_guidelines(md)
    assert (g.title, g.doc_id, g.source) == ("Asthma in adults", "asthma", md.name)
    assert "Use inhaled steroids." in g.text
    no_heading = tmp_path / "gout.md.gz"
    no_heading.write_bytes(gzip.compress(b"Gout flares respond to colchicine.\n"))
    (g2,) = load_guidelines(no_heading)
    assert (g2.title, g2.doc_id) == ("gout", "gout")
    txt = _write(tmp_path / "copd.txt", "COPD: use bronchodilators.\n")
    assert load_guidelines(txt)[0].text == "COPD: use bronchodilators."
    with pytest.raises(InputError) as info:
        load_guidelines(_write(tmp_path / "bad.txt", b"ok\n\xff\n"))
    assert (info.value.line, info.value.field) == (2, "text")


def _text_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A minimal one-page PDF with real text (no PDF-writing library needed)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if title:
        objs.append(f"<< /Title ({title}) >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{obj}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    info = f" /Info {len(objs)} 0 R" if title else ""
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def test_pdf(tmp_path: Path) -> None:
    p = _write(tmp_path / "htn.pdf", _text_pdf(["Hypertension guideline", "Check blood pressure yearly."], "HTN Guide"))
    (g,) = load_guidelines(p)
    assert g.title == "HTN Guide" and g.doc_id == "htn"
    assert "Check blood pressure yearly." in g.text
    gz = tmp_path / "plain.pdf.gz"
    gz.write_bytes(gzip.compress(_text_pdf(["Diabetes care."])))
    assert load_guidelines(gz)[0].title == "plain"


def test_unreadable_pdfs(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    def err_for(path: Path) -> InputError:
        with pytest.raises(InputError) as info:
            load_guidelines(path)
        return info.value

    garbage = _write(tmp_path / "garbage.pdf", b"this is not a pdf at all")
    e = err_for(garbage)
    assert (e.path, e.field) == (str(garbage), "pdf")

    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    buf = io.BytesIO()
    writer.write(buf)
    blank = _write(tmp_path / "blank.pdf", buf.getvalue())
    assert err_for(blank).field == "pdf"  # no extractable text

    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    enc = _write(tmp_path / "locked.pdf", buf.getvalue())
    e = err_for(enc)
    assert e.field == "pdf" and "encrypted" in e.reason


def test_guideline_directory(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    _write(tmp_path / "a" / "x.md", "# X\ntext x\n")
    _write(tmp_path / "x.txt", "text y\n")
    _write(tmp_path / "ignored.csv", "not,a,guideline\n")
    docs = load_guidelines(tmp_path)
    assert [d.doc_id for d in docs] == ["a/x", "x"]
    with pytest.raises(InputError):
        load_guidelines(tmp_path / "a" / "nothing-here")


# ------------------------------------------------------------------------------------------
# the real corpora (../shared/data)
# ------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_real_symptom2disease(shared_data: Path) -> None:
    loaded = load_reports(shared_data / "symptom2disease" / "Symptom2Disease.csv", label_col="label")
    assert len(loaded) == 1200 and not loaded.rejects
    assert len({r.diagnosis for r in loaded.reports}) == 24
    assert len({r.report_id for r in loaded.reports}) == 1200
    assert sum("-" in r.report_id for r in loaded.reports) == 47  # the documented twins


@pytest.mark.shared
def test_real_guideline_corpora(shared_data: Path) -> None:
    medquad = load_guidelines(shared_data / "medquad" / "medquad_answered.jsonl.gz")
    assert len(medquad) == 16407 and len({g.doc_id for g in medquad}) == 16407
    assert all(g.topic and g.text.startswith(g.title) for g in medquad[:100])
    ngc = load_guidelines(shared_data / "guidelines" / "ngc_unrestricted_summaries.jsonl.gz")
    assert len(ngc) == 43 and all(g.doc_id.startswith("ngc-") and g.topic for g in ngc)


# ------------------------------------------------------------------------------------------
# non-regular files and NUL bytes (issue 14)
# ------------------------------------------------------------------------------------------


def test_a_fifo_named_like_a_report_is_refused_without_hanging(tmp_path: Path) -> None:
    import os
    import threading

    fifo = tmp_path / "reports.csv"
    os.mkfifo(fifo)
    result: dict = {}

    def load() -> None:
        try:
            load_reports(fifo)
        except InputError as exc:
            result["err"] = exc

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive():  # unblock the reader before failing
        with open(fifo, "w"):
            pass
        pytest.fail("loading a FIFO blocked")
    err = result["err"]
    assert "not a regular file" in err.reason and err.path == str(fifo)
    gfifo = tmp_path / "guide.md"
    os.mkfifo(gfifo)
    with pytest.raises(InputError, match="not a regular file"):
        load_guidelines(gfifo)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_nul_bytes_are_refused_with_file_and_line(tmp_path: Path, suffix: str) -> None:
    if suffix == ".csv":
        body = f"report_id,text\n1,Cough and fever\n2,{SECRET} has\x00 a rash\n"
    else:
        body = '{"report_id": "1", "text": "Cough"}\n{"report_id": "2", "text": "' + SECRET + ' \x00 rash"}\n'
    err = _raises(_write(tmp_path / f"r{suffix}", body))
    assert err.line == (3 if suffix == ".csv" else 2) and "NUL" in err.reason
    assert SECRET not in str(err)
    with pytest.raises(InputError, match="NUL") as info:
        load_guidelines(_write(tmp_path / "g.md", "# Title\n\nfine line\nbad \x00 line\n"))
    assert info.value.line == 4


def test_a_directory_given_as_reports_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "reports.csv"
    folder.mkdir()
    err = _raises(folder)
    assert "is a directory" in err.reason
