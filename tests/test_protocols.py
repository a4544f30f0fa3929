"""Issue-13 dev protocols: the datasets build from ../shared/data, deterministic and leakage-safe."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest




def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.shared
def test_protocol_datasets(shared_data: Path, tmp_path: Path) -> None:
    from eval.protocols.build import main

    assert main(["--shared", str(shared_data), "--out", str(tmp_path / "a")]) == 0
    assert main(["--shared", str(shared_data), "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "manifest.json").read_text())
    b = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert a["sha256"] == b["sha256"]  # byte-identical on re-run
    assert a["cross_style"]["shared_diagnoses"] == 24

    out = tmp_path / "a"
    for f in out.rglob("*.csv"):
        rows = _rows(f)
        assert {"text", "diagnosis", "report_id"} <= set(rows[0])
        assert len({r["report_id"] for r in rows}) == len(rows), f  # ids unique per file
    # negation: no query text (original form) sits in the index; pairs are complete
    index_texts = {r["text"] for r in _rows(out / "negation" / "index.csv")}
    queries = _rows(out / "negation" / "queries.csv")
    assert not index_texts & {q["text"] for q in queries}
    variants = {}
    for q in queries:
        variants.setdefault(q["pair_id"], set()).add(q["variant"])
    assert all(v == {"original", "negated"} for v in variants.values())
    # outside: no held-out diagnosis in the index
    held = set(a["outside"]["held_out_diagnoses"])
    assert not held & {r["diagnosis"] for r in _rows(out / "outside" / "index.csv")}
    assert held <= {r["diagnosis"] for r in _rows(out / "outside" / "queries_out.csv")}


def test_negation_and_abstention_scores(tmp_path: Path) -> None:
    from eval.protocols.score import abstention, negation

    preds = [
        {"id": "a-ori", "abstained": False, "correct_top1": True, "predictions": [{"diagnosis": "Flu"}]},
        {"id": "a-neg", "abstained": False, "correct_top1": True, "predictions": [{"diagnosis": "Flu"}]},
        {"id": "b-ori", "abstained": False, "correct_top1": True, "predictions": [{"diagnosis": "Acne"}]},
        {"id": "b-neg", "abstained": True, "correct_top1": False, "predictions": [{"diagnosis": "Psoriasis"}]},
    ]
    p = tmp_path / "predictions.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in preds) + "\n")
    q = tmp_path / "queries.csv"
    q.write_text("text,diagnosis,report_id,pair_id,variant,denied_from\n"
                 "t,Flu,a-ori,a,original,\nt,Flu,a-neg,a,negated,X\nt,Acne,b-ori,b,original,\nt,Acne,b-neg,b,negated,Y\n")
    assert negation(p, q) == {"pairs": 2, "top1_unchanged": 0.5, "top1_acc_original": 1.0, "top1_acc_negated": 0.5}
    assert abstention(p) == {"cases": 4, "abstained": 0.25}


def test_extra_medquad_common_keeps_describing_answers_of_common_sources(tmp_path) -> None:
    import gzip
    import json

    from eval.protocols.extra import main, medquad_common, subset

    (tmp_path / "medquad").mkdir()
    recs = [{"source": "GARD", "qtype": "symptoms"}, {"source": "NIDDK", "qtype": "symptoms"},
            {"source": "NIDDK", "qtype": "treatment"}, {"source": "MPlusHealthTopics", "qtype": "information"}]
    with gzip.open(tmp_path / "medquad" / "medquad_answered.jsonl.gz", "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in recs)
    assert medquad_common(tmp_path, tmp_path / "out.jsonl.gz") == 2
    with gzip.open(tmp_path / "out.jsonl.gz", "rt") as fh:
        assert [json.loads(line)["source"] for line in fh] == ["NIDDK", "MPlusHealthTopics"]
    assert main(["medquad-rare", "--shared", str(tmp_path), "--out", str(tmp_path / "rare.jsonl.gz")]) == 0
    with gzip.open(tmp_path / "rare.jsonl.gz", "rt") as fh:  # the common and the rare files together: all of it
        assert [json.loads(line)["source"] for line in fh] == ["GARD"]
    q = tmp_path / "q.csv"
    q.write_text("text,diagnosis,report_id\n" + "".join(f"t{i},d,r{i}\n" for i in range(20)))
    assert subset(q, 5, tmp_path / "a.csv") == 5
    subset(q, 5, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_short_notes_keep_the_presenting_story_without_headings_or_history_lists(tmp_path) -> None:
    from eval.protocols.extra import SHORT_WORDS, presenting_story, short_notes

    note = ("SUBJECTIVE:, This 59 year old female presents with three days of dysuria and frequency. "
            "She denies fever.,PAST MEDICAL HISTORY:, Hypertension.,MEDICATIONS:, Lisinopril.")
    assert presenting_story(note) == ("This 59 year old female presents with three days of dysuria and frequency. "
                                      "She denies fever.")
    # a history list at the very start is the note's subject, not a list to cut at
    assert presenting_story("PAST MEDICAL HISTORY:, " + "word " * 30).startswith("word")
    long = " ".join(f"Sentence number {i} is here." for i in range(40))
    story = presenting_story(long)
    assert story.endswith(".") and 60 <= len(story.split()) <= SHORT_WORDS
    q = tmp_path / "q.csv"
    q.write_text(f'text,diagnosis,report_id\n"{note}",Cystitis,mts-1\n"HPI:, tiny.",Flu,mts-2\n')
    assert short_notes(q, tmp_path / "short.csv") == 1  # a story under 80 characters is dropped
    assert _rows(tmp_path / "short.csv")[0]["text"].startswith("This 59 year old female")


def test_extra_bad_input_names_file_line_and_field_and_leaves_nothing(tmp_path, capsys) -> None:
    import gzip

    from eval.protocols.extra import main

    q = tmp_path / "q.csv"
    q.write_text("text,diagnosis\nt,d\n")
    assert main(["subset", "--queries", str(q), "--out", str(tmp_path / "a.csv")]) == 2
    assert f"{q}: line 1: missing column(s) report_id" in capsys.readouterr().err
    q.write_text("text,diagnosis,report_id\nt,d,r1\n ,d,r2\n")
    assert main(["subset", "--queries", str(q), "--out", str(tmp_path / "a.csv")]) == 2
    assert f"{q}: line 3: field 'text' is empty" in capsys.readouterr().err
    assert not (tmp_path / "a.csv").exists()

    (tmp_path / "medquad").mkdir()
    with gzip.open(tmp_path / "medquad" / "medquad_answered.jsonl.gz", "wt") as fh:
        fh.write('{"source": "NIDDK", "qtype": "symptoms"}\n{not json\n')
    out = tmp_path / "out" / "common.jsonl.gz"
    assert main(["medquad-common", "--shared", str(tmp_path), "--out", str(out)]) == 2
    assert "medquad_answered.jsonl.gz: line 2: not JSON" in capsys.readouterr().err
    assert list(out.parent.iterdir()) == []  # no half-written output, no temporary file


def test_card_prior_ranks_common_before_rare_as_the_prior_grows(tmp_path, monkeypatch) -> None:
    """eval.protocols.card_prior on a two-card MedQuAD: a rare-source page that matches the case's
    words a little better loses to the common disease once the prior is strong enough."""
    import gzip

    import numpy as np

    import eval.encoder_cards as encoder_cards
    from eval.protocols.card_prior import compare_priors, to_markdown

    rows = [
        {"focus": "Gout", "qtype": "symptoms", "source": "MPlusHealthTopics",
         "answer": "Gout is a form of arthritis from uric acid crystals. Attacks bring severe pain in the big "
                   "toe, often at night; the joint is red and swollen. Diet, alcohol and medicines raise uric acid."},
        {"focus": "Familial juvenile hyperuricemic nephropathy", "qtype": "symptoms", "source": "GARD",
         "answer": "Sudden severe pain in the big toe, red and swollen toe."},
    ]
    medquad = tmp_path / "medquad.jsonl.gz"
    with gzip.open(medquad, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    queries = tmp_path / "q.csv"
    with open(queries, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "diagnosis", "report_id"])
        w.writerow(["sudden severe pain in my big toe, red and swollen toe", "Gout", "q1"])

    def fake_encode(model_dir, texts, cache):  # no model: every text the same vector, so TF-IDF decides
        return np.ones((len(texts), 4), dtype=np.float32) / 2.0

    monkeypatch.setattr(encoder_cards, "encode_cached", fake_encode)
    result = compare_priors([0.0, -1.0], -1.0, medquad, tmp_path / "cache", {"q": queries})
    by_prior = result["sets"]["q"]["by_prior"]
    assert result["n_cards"] == 2 and result["n_rare_cards"] == 1
    assert by_prior["0.0"]["top1"] == 0.0 and by_prior["-1.0"]["top1"] == 1.0
    assert by_prior["0.0"]["vs_baseline_top1"]["delta"] == -1.0
    assert "| q | 1 | -1.0 | 1.000 |" in to_markdown(result, -1.0)
