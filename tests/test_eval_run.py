"""End-to-end `run_eval`: a fake index/assistant for the fast tests, the real pipeline when slow."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from eval.run import compare_variants, format_summary, run_eval
from rag_dx.errors import ConfigError
from rag_dx.schemas import Diagnosis, Differential, Evidence, Versions
from rag_dx.settings import Settings
from rag_dx.vocab import Vocabulary

REQUIRED_KEYS = {
    "n", "top1", "top3", "top5", "top1_lenient", "top5_lenient", "macro_f1", "ece", "brier",
    "retrieval_recall_at_10", "mrr", "abstain_rate", "per_class", "ablations",
}

# (label, words): each case is a few label-specific words plus shared noise, so a word-overlap
# retriever is good but not perfect. Labels are spelled inconsistently on purpose.
TOPICS = {
    "Heart attack": "crushing chest pain radiating left arm sweating",
    "Psoriasis": "silvery scaly plaques elbows knees itchy",
    "urinary tract infection": "burning urination frequency urgency cloudy urine",
    "Migraine": "throbbing headache nausea light sensitivity aura",
}
NOISE = "tired slept poorly since monday worried about work stress appetite".split()


def _write_fixture(path: Path) -> list[dict[str, str]]:
    rows = []
    i = 0
    for label, words in TOPICS.items():
        w = words.split()
        for j in range(8):
            text = " ".join(w[: 3 + j % 4] + NOISE[j % 5 : j % 5 + 3] + [f"day{j}"]) + f" note {i}"
            spelled = {"Heart attack": "MI" if j % 2 else "Heart attack"}.get(label, label)
            rows.append({
                "report_id": f"case-{i:03d}", "diagnosis": spelled, "text": text,
                "sex": "F" if i % 2 else "M", "age": str(20 + (i * 7) % 60), "date": f"2024-02-{1 + i % 28:02d}",
            })
            i += 1
    rows.append({**rows[0], "report_id": "case-dup"})  # verbatim duplicate of case-000
    with path.open("w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    return rows


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


class FakeAssistant:
    """Word-overlap retrieval over the reports its (fake) index holds; the same output shape as
    `rag_dx.diagnose.Assistant`."""

    def __init__(self, reports: list[dict[str, str]]) -> None:
        self.reports = reports
        self.calls: list[str] = []

    def diagnose(self, text, *, mode="full", candidates=None, exclude_doc_ids=None):
        self.calls.append(mode)
        q = _words(text)
        scored = sorted(
            ((len(q & _words(r["text"])) / len(q | _words(r["text"])), r) for r in self.reports
             if not exclude_doc_ids or r["id"] not in exclude_doc_ids),
            key=lambda x: -x[0],
        )[:10]
        votes: dict[str, float] = {}
        ev: dict[str, list[str]] = {}
        if mode == "generator":
            for c in candidates:
                votes[c] = 1.0 + len(_words(c) & q)
        else:
            for s, r in scored:
                votes[r["label"]] = votes.get(r["label"], 0.0) + s
                ev.setdefault(r["label"], []).append(r["id"] + "#0")
        total = sum(votes.values()) or 1.0
        diffs = sorted(votes.items(), key=lambda kv: -kv[1])
        differential = [Diagnosis(diagnosis=k, probability=v / total, evidence=ev.get(k, [])) for k, v in diffs]
        evidence = [] if mode == "generator" else [
            Evidence(id=r["id"] + "#0", kind="report", title=r["id"], text=r["text"], score=s, label=r["label"])
            for s, r in scored
        ]
        top = differential[0].probability if differential else 0.0
        return Differential(differential=differential, evidence=evidence, abstained=top < 0.4,
                            abstain_reason=f"top probability {top:.2f} is low" if top < 0.4 else None,
                            versions=Versions(package="test", index="fake"))

    def diagnose_many(self, texts, *, mode="full", candidates=None):
        return [self.diagnose(t, mode=mode, candidates=candidates) for t in texts]


class TunedFakeAssistant(FakeAssistant):
    """What a fine-tuned encoder / adapter does to the fake: ignore the shared noise words when
    retrieving (encoder), and know each topic's words when scoring names (adapter)."""

    def __init__(self, reports, *, encoder: bool, adapter: bool) -> None:
        if encoder:
            reports = [{**r, "text": " ".join(w for w in r["text"].split() if w not in NOISE)} for r in reports]
        super().__init__(reports)
        self.encoder, self.adapter = encoder, adapter

    def diagnose(self, text, *, mode="full", candidates=None, exclude_doc_ids=None):
        if self.encoder and mode != "generator":
            text = " ".join(w for w in text.split() if w not in NOISE)
        if self.adapter and mode == "generator":
            q = _words(text)
            best = max(candidates, key=lambda c: len(q & _words(TOPICS.get(c, TOPICS["Heart attack"]
                                                                       if c in ("MI", "Heart attack") else ""))))
            candidates = [best] * 3 + [c for c in candidates if c != best]
        return super().diagnose(text, mode=mode, candidates=candidates, exclude_doc_ids=exclude_doc_ids)


class FakePipeline:
    def __init__(self) -> None:
        self.built: list[list[str]] = []  # report ids per built index
        self.assistants: list[FakeAssistant] = []
        self.loaded: list[tuple[str, str | None, str | None]] = []  # (index, encoder, adapter) per assistant

    def build(self, settings, name, reports, guidelines) -> Path:
        d = Path(settings.index_dir) / name
        d.mkdir(parents=True)
        data = [{"id": r.report_id, "text": r.text, "label": r.diagnosis} for r in reports]
        (d / "reports.json").write_text(json.dumps(data))
        self.built.append([r.report_id for r in reports])
        return d

    def assistant(self, settings, name) -> FakeAssistant:
        data = json.loads((Path(settings.index_dir) / name / "reports.json").read_text())
        self.loaded.append((name, settings.encoder, settings.adapter))
        a = (TunedFakeAssistant(data, encoder=settings.encoder is not None, adapter=settings.adapter is not None)
             if settings.encoder or settings.adapter else FakeAssistant(data))
        self.assistants.append(a)
        return a


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return Vocabulary.load()


@pytest.fixture()
def fixture_csv(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    p = tmp_path / "labeled.csv"
    return p, _write_fixture(p)


def _settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "indexes", cache_dir=tmp_path / "cache")


def test_holdout_with_ablations_writes_every_file(tmp_path, fixture_csv, vocab) -> None:
    labeled, rows = fixture_csv
    fake = FakePipeline()
    out = tmp_path / "run"
    m = run_eval(_settings(tmp_path), labeled=labeled, out=out, holdout=0.25, ablations=True, seed=3,
                 progress=False, assistant_factory=fake.assistant, index_builder=fake.build, vocabulary=vocab)
    for name in ("metrics.json", "predictions.jsonl", "report.md", "report.html", "manifest.json",
                 "predictions_tfidf_logreg.jsonl", "predictions_retrieval.jsonl", "predictions_generator.jsonl"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "metrics.json").read_text())
    assert REQUIRED_KEYS <= set(saved)
    assert saved["n"] == m["n"]
    assert set(saved["ablations"]) == {"retrieval", "generator", "full", "tfidf_logreg"}
    for row in saved["ablations"].values():
        assert {"top1", "top3", "top5", "macro_f1"} <= set(row)
    assert 0 <= saved["top1"] <= saved["top3"] <= saved["top5"] <= 1
    assert saved["top1"] <= saved["top1_lenient"]
    lo, hi = saved["ci"]["top1"]
    assert lo <= saved["top1"] <= hi
    assert saved["unmatched_gold_labels"] == []
    assert saved["gold_label_concepts"]["MI"]["code"] == saved["gold_label_concepts"]["Heart attack"]["code"] == "I21"
    # "MI" and "Heart attack" are one class, not two
    assert len(saved["per_class"]) == 4
    assert any("MI" in k and "Heart attack" in k for k in saved["per_class"])
    assert {"sex", "age_band"} <= set(saved["subgroups"])
    assert saved["retrieved_twins"] == 0

    # honest split: the index never holds a test case or its duplicate
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == saved["n"]
    test_ids = {p["id"] for p in preds}
    assert len(fake.built) == 1 and not test_ids & set(fake.built[0])
    assert not ({"case-000", "case-dup"} & test_ids and {"case-000", "case-dup"} & set(fake.built[0]))
    first = preds[0]
    assert {"id", "gold", "predictions", "abstained", "abstain_reason", "ranking", "route", "retrieved"} <= set(first)
    # the reason travels with the flag, so a case can be read by hand without re-running it
    assert all(bool(p["abstain_reason"]) == bool(p["abstained"]) for p in preds)
    assert {"diagnosis", "probability", "evidence", "icd10"} <= set(first["predictions"][0])
    # each row says where its gold diagnosis was listed, exactly as top-k counts it
    for k in (1, 5):
        rows_k = [p["gold_rank"] is not None and p["gold_rank"] <= k for p in preds]
        assert sum(rows_k) / len(preds) == pytest.approx(saved[f"top{k}"])
        lenient_k = [p["gold_rank_lenient"] is not None and p["gold_rank_lenient"] <= k for p in preds]
        assert sum(lenient_k) / len(preds) == pytest.approx(saved[f"top{k}_lenient"])
    assert all((p["gold_rank"] == 1) == p["correct_top1"] for p in preds)
    assert any(p["gold_rank"] not in (None, 1) for p in preds) or saved["top5"] == saved["top1"]

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3
    assert manifest["split_sizes"]["n_test"] == saved["n"]
    assert manifest["split_sizes"]["n_train"][0] + saved["n"] == len(rows)
    assert {"settings", "packages", "git_commit", "pipeline_versions"} <= set(manifest)

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3
    assert "src='plots/" not in page and "http" not in page
    assert "Ablations" in (out / "report.md").read_text()
    # no report text reaches the outputs (ids and labels only)
    blob = "".join(p.read_text(errors="ignore") for p in out.glob("*.json*"))
    assert not any(r["text"] in blob for r in rows)
    assert "top1=" in format_summary(saved)


def test_cv_tests_every_case_once(tmp_path, fixture_csv, vocab) -> None:
    labeled, rows = fixture_csv
    fake = FakePipeline()
    m = run_eval(_settings(tmp_path), labeled=labeled, out=tmp_path / "cv", cv=3, progress=False,
                 assistant_factory=fake.assistant, index_builder=fake.build, vocabulary=vocab)
    assert m["n"] == len(rows)
    assert len(fake.built) == 3 and len(m["folds"]) == 3
    preds = [json.loads(x) for x in (tmp_path / "cv" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(p["id"] for p in preds) == sorted(r["report_id"] for r in rows)
    for fold, ids in enumerate(fake.built):
        assert not {p["id"] for p in preds if p["fold"] == fold} & set(ids)
    assert m["ablations"].keys() == {"full"}


def test_date_split_and_existing_index(tmp_path, fixture_csv, vocab) -> None:
    labeled, rows = fixture_csv
    fake = FakePipeline()
    m = run_eval(_settings(tmp_path), labeled=labeled, out=tmp_path / "d", holdout=0.25, split_by="date",
                 progress=False, assistant_factory=fake.assistant, index_builder=fake.build, vocabulary=vocab)
    dates = {r["report_id"]: r["date"] for r in rows}
    preds = [json.loads(x) for x in (tmp_path / "d" / "predictions.jsonl").read_text().splitlines()]
    assert max(dates[i] for i in fake.built[0]) < min(dates[p["id"]] for p in preds)
    assert m["n"] == len(preds)

    # --index: every case scored against a prebuilt index; each case's own report is excluded
    s = _settings(tmp_path)
    from rag_dx.ingest.loaders import load_reports

    fake.build(s, "prebuilt", load_reports(labeled).reports, [])
    m2 = run_eval(s, labeled=labeled, out=tmp_path / "i", index="prebuilt", ablations=True, progress=False,
                  assistant_factory=fake.assistant, index_builder=fake.build, vocabulary=vocab)
    assert m2["n"] == len(rows)
    assert "tfidf_logreg" not in m2["ablations"]  # no train part to fit a baseline on
    preds2 = [json.loads(x) for x in (tmp_path / "i" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["id"] + "#0" not in [r["id"] for r in p["retrieved"]] for p in preds2)
    # case-000 and case-dup are twins in the index: the twin counter notices
    assert m2["retrieved_twins"] >= 2


def test_mode_errors(tmp_path, fixture_csv, vocab) -> None:
    labeled, _ = fixture_csv
    with pytest.raises(ConfigError, match="exactly one"):
        run_eval(_settings(tmp_path), labeled=labeled, out=tmp_path / "x", vocabulary=vocab)
    with pytest.raises(ConfigError, match="exactly one"):
        run_eval(_settings(tmp_path), labeled=labeled, out=tmp_path / "x", index="a", holdout=0.2, vocabulary=vocab)
    with pytest.raises(ConfigError, match="split-by"):
        run_eval(_settings(tmp_path), labeled=labeled, out=tmp_path / "x", holdout=0.2, split_by="weekly",
                 vocabulary=vocab)


def test_compare_fine_tuned_models_on_the_same_split(tmp_path, fixture_csv, vocab) -> None:
    """--compare-encoder/--compare-adapter: the tuned systems run on the configured systems' test
    cases, the tuned encoder gets its own index from the same train part, and every comparison is
    paired and consistent with the per-system metrics."""
    labeled, rows = fixture_csv
    enc, lora = tmp_path / "enc-v2", tmp_path / "lora-v2"
    enc.mkdir(), lora.mkdir()
    fake = FakePipeline()
    out = tmp_path / "cmp"
    m = run_eval(_settings(tmp_path), labeled=labeled, out=out, holdout=0.25, seed=1, progress=False,
                 assistant_factory=fake.assistant, index_builder=fake.build, vocabulary=vocab,
                 compare=compare_variants(enc, lora))
    expected = {"retrieval+encoder": "retrieval", "full+encoder": "full", "generator+adapter": "generator",
                "full+adapter": "full", "full+encoder+adapter": "full"}
    assert {r["system"]: r["baseline"] for r in m["comparison"]} == expected
    assert set(m["ablations"]) == {"full", "retrieval", "generator", *expected}  # base modes added
    # the tuned encoder's index holds exactly the same train reports, under its own name
    assert len(fake.built) == 2 and fake.built[0] == fake.built[1]
    assert {(n, e is not None, a is not None) for n, e, a in fake.loaded} == {
        ("eval", False, False), ("eval-encoder", True, False), ("eval", False, True), ("eval-encoder", True, True)}
    for row in m["comparison"]:
        base, tuned = m["ablations"][row["baseline"]], m["ablations"][row["system"]]
        assert row["n"] == base["n"] == tuned["n"] == m["n"]
        assert row["top1"]["baseline"] == base["top1"] and row["top1"]["compared"] == tuned["top1"]
        paired = row["top1_paired"]
        assert paired["delta"] == pytest.approx(tuned["top1"] - base["top1"])
        assert paired["ci_low"] <= paired["delta"] <= paired["ci_high"]
        assert paired["only_b"] - paired["only_a"] == round(paired["delta"] * row["n"])
        assert 0 <= paired["mcnemar_p"] <= 1
    by = {r["system"]: r for r in m["comparison"]}
    # the fakes' "fine-tuning" helps, and the comparison sees it
    assert by["generator+adapter"]["top1"]["delta"] > 0
    assert (by["retrieval+encoder"]["retrieval_precision_at_10"]["baseline"]
            == m["ablations"]["retrieval"]["retrieval_precision_at_10"])
    assert "retrieval_precision_at_10" not in by["generator+adapter"]  # no retrieval in generator-only
    assert "retrieval_precision_at_10" in m and 0 <= m["retrieval_precision_at_10"] <= m["retrieval_recall_at_10"]
    report = (out / "report.md").read_text()
    assert "Configured vs compared models" in report and "full+encoder+adapter" in report
    assert "full+encoder+adapter" in (out / "report.html").read_text()
    assert (out / "predictions_full+adapter.jsonl").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in manifest["args"]["compare"]] == ["encoder", "adapter", "encoder+adapter"]
    assert "full+encoder" in format_summary(m) and "McNemar" in format_summary(m)

    # --write-cards: each model's card gets the rows of the systems that used it, twice = once
    from finetune.cards import add_comparison_to_cards

    for _ in range(2):
        add_comparison_to_cards(m, compare_variants(enc, lora), command="rag-dx eval --compare-encoder enc-v2")
    enc_card, lora_card = (enc / "README.md").read_text(), (lora / "README.md").read_text()
    assert "| full+encoder |" in enc_card and "| retrieval+encoder |" in enc_card
    assert "generator+adapter" not in enc_card and "| full+encoder+adapter |" in enc_card
    assert "| generator+adapter |" in lora_card and "| full+encoder |" not in lora_card
    assert enc_card.count("## Evaluation") == 1 and "rag-dx eval --compare-encoder" in enc_card


def test_compare_errors(tmp_path, fixture_csv, vocab) -> None:
    labeled, _ = fixture_csv
    with pytest.raises(ConfigError, match="--compare-adapter: model directory does not exist"):
        compare_variants(None, tmp_path / "nope")
    (tmp_path / "enc").mkdir()
    with pytest.raises(ConfigError, match="needs --holdout or --cv"):
        run_eval(_settings(tmp_path), labeled=labeled, out=tmp_path / "x", index="any", vocabulary=vocab,
                 compare=compare_variants(tmp_path / "enc"))


@pytest.mark.slow
def test_real_pipeline_on_tiny_fixture(tmp_path, vocab, model_cache) -> None:
    """The real encoder, de-identifier, index build and generator on 12 fixture reports."""
    from rag_dx.models import prepare_generator
    from tests.helpers import fixture_rows, write_reports_csv

    prepare_generator(model_cache)
    labeled = write_reports_csv(tmp_path / "fx.csv", fixture_rows())
    settings = Settings(index_dir=tmp_path / "indexes", cache_dir=model_cache, device="cpu")
    m = run_eval(settings, labeled=labeled, out=tmp_path / "real", holdout=0.34, ablations=True, progress=False,
                 vocabulary=vocab)
    assert REQUIRED_KEYS <= set(m)
    assert m["n"] >= 3
    assert set(m["ablations"]) == {"retrieval", "generator", "full", "tfidf_logreg"}
    assert m["unmatched_gold_labels"] == []
    assert (tmp_path / "real" / "report.html").is_file()


def test_accuracy_and_confidence_are_reported_per_route(vocab) -> None:
    """One ECE over every case hides routes miscalibrated in opposite directions (on the dev protocols,
    floored answers were right more often than shown on clean vignettes and less on physician notes;
    answers kept by the practice's reports were shown at 0.44 and right 0 times on unrecorded diagnoses),
    so metrics.json, report.md and the terminal summary give each route's accuracy beside its confidence."""
    from eval.report import render_markdown
    from eval.scoring import score_predictions
    from eval.systems import CasePrediction
    from eval.writing import format_summary

    preds = [CasePrediction("a", "Migraine", [("Migraine", 0.9), ("Psoriasis", 0.1)], route="practice"),
             CasePrediction("b", "Psoriasis", [("Psoriasis", 0.7)], route="practice"),
             CasePrediction("c", "Psoriasis", [("Migraine", 0.6), ("Psoriasis", 0.4)], route="outside_kept_by_reports"),
             CasePrediction("d", "Heart attack", [("MI", 0.2), ("Migraine", 0.1)], route="outside_floor"),
             CasePrediction("e", "Migraine", [("Heart attack", 0.3)], route="outside_floor"),
             CasePrediction("f", "Migraine", [("Migraine", 0.5)])]  # no route (an older system): not counted
    m, _ = score_predictions(preds, vocab, with_retrieval=False)
    routes = m["routes"]
    assert set(routes) == {"practice", "outside_kept_by_reports", "outside_floor"}
    assert routes["practice"] == pytest.approx({"n": 2, "top1": 1.0, "top5": 1.0, "confidence": 0.8})
    assert routes["outside_kept_by_reports"] == pytest.approx({"n": 1, "top1": 0.0, "top5": 1.0, "confidence": 0.6})
    # "MI" is the gold "Heart attack" (one concept): right once of two, shown at 0.25 on average
    assert routes["outside_floor"] == pytest.approx({"n": 2, "top1": 0.5, "top5": 0.5, "confidence": 0.25})
    assert "| outside_floor | 2 | 0.500 | 0.500 | 0.250 |" in render_markdown(m)
    assert "route outside_kept_by_reports" in format_summary(m)
    # nothing routed, nothing reported
    assert "routes" not in score_predictions(preds[-1:], vocab, with_retrieval=False)[0]
