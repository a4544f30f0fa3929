"""Clinical encoder: its pairs are deterministic, non-trivial and clean; a tiny training run is
byte-identical when repeated; the card's results section can be replaced without touching the
fingerprinted files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from finetune.clinical_pairs import (
    KINDS,
    PairCaps,
    build_clinical_pairs,
    count_kinds,
    load_sources,
    read_disease_annotations,
    read_hpo_obo,
    split_pairs,
)

SMALL_CAPS = PairCaps(hpo_lay=40, hpo_synonym=10, hpo_definition=10, disease_case=30, icd_inclusion=15, curated=20)


@pytest.fixture(scope="module")
def sources():
    return load_sources()


def test_pairs_are_the_same_for_a_seed_and_differ_for_another(sources):
    a = build_clinical_pairs(sources, PairCaps(), seed=0)
    b = build_clinical_pairs(sources, PairCaps(), seed=0)
    c = build_clinical_pairs(sources, PairCaps(), seed=1)
    assert a == b
    assert a != c


def test_pairs_are_non_trivial_unique_and_capped(sources):
    caps = PairCaps()
    pairs = build_clinical_pairs(sources, caps, seed=0)
    counts = count_kinds(pairs)
    assert set(counts) == set(KINDS)
    for kind in KINDS:
        assert 0 < counts[kind] <= getattr(caps, kind.replace("-", "_")), kind
    keys = [(p.anchor.casefold(), p.positive.casefold()) for p in pairs]
    assert len(keys) == len(set(keys)), "duplicate pairs"
    assert all(a != b and a.strip() and b.strip() for a, b in keys)
    # the HPO layperson synonym of Hypotelorism, read from the packaged hp.obo
    hypotelorism = next(t for t in sources.hpo.values() if t.name == "Hypotelorism")
    assert "Closely spaced eyes" in hypotelorism.lay
    everything = build_clinical_pairs(sources, PairCaps(hpo_lay=10**6), seed=0)
    assert any(p.anchor == "Hypotelorism" and p.positive == "Closely spaced eyes" and p.kind == "hpo-lay"
               for p in everything)
    # a curated lay name lands on its ICD-10-CM title
    assert sources.curated["heart attack"].lower().startswith("acute myocardial infarction")
    # a rendered case holds several phenotypes and its positive starts with the disease name
    case = next(p for p in pairs if p.kind == "disease-case")
    assert case.anchor.count(",") + case.anchor.count(" and ") >= 2
    assert case.positive.casefold().startswith(case.group.removeprefix("disease:"))


def test_caps_bound_each_kind(sources):
    counts = count_kinds(build_clinical_pairs(sources, SMALL_CAPS, seed=0))
    assert counts["hpo-lay"] <= 40 and counts["disease-case"] == 30 and counts["curated"] <= 20
    assert sum(counts.values()) <= 125


def test_split_holds_out_whole_concepts(sources):
    pairs = build_clinical_pairs(sources, PairCaps(), seed=0)
    train, held = split_pairs(pairs, 0.1, seed=0)
    assert len(train) + len(held) == len(pairs)
    assert 0.03 < len(held) / len(pairs) < 0.2
    assert not {p.group for p in train} & {p.group for p in held}
    with pytest.raises(ValueError, match="fraction"):
        split_pairs(pairs, 1.0)


def test_obo_and_annotation_readers_on_small_files(tmp_path):
    obo = tmp_path / "hp.obo"
    obo.write_text(
        "format-version: 1.2\n\n[Term]\nid: HP:0000118\nname: Phenotypic abnormality\n\n"
        "[Term]\nid: HP:1\nname: Pyrexia\ndef: \"Elevated body temperature.\" []\n"
        "synonym: \"Fever\" EXACT layperson []\nsynonym: \"Hyperthermia\" EXACT []\n"
        "synonym: \"Hot\" RELATED []\nis_a: HP:0000118 ! Phenotypic abnormality\n\n"
        "[Term]\nid: HP:2\nname: Old term\nis_obsolete: true\n\n[Typedef]\nid: part_of\n", encoding="utf-8")
    terms = read_hpo_obo(obo)
    assert set(terms) == {"HP:0000118", "HP:1"}
    assert terms["HP:1"].lay == ("Fever",) and terms["HP:1"].exact == ("Hyperthermia",)
    assert terms["HP:1"].definition == "Elevated body temperature." and terms["HP:1"].parents == ("HP:0000118",)

    header = "database_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency\tsex\tmodifier\taspect\tbiocuration\n"
    hpoa = tmp_path / "phenotype.hpoa"
    hpoa.write_text("#description: x\n" + header
                    + "OMIM:1\tFlu\t\tHP:1\tPMID:1\tPCS\t\t1/2\t\t\tP\tx\n"
                    + "ORPHA:9\tflu\t\tHP:1\tPMID:1\tPCS\t\tHP:0040281\t\t\tP\tx\n"
                    + "OMIM:2\tOther\tNOT\tHP:1\tPMID:1\tPCS\t\t\t\t\tP\tx\n", encoding="utf-8")
    diseases = read_disease_annotations(hpoa, terms)
    assert diseases == {"Flu": [("HP:1", 0.5)]}  # ORPHA duplicate name dropped, NOT row skipped
    bad = tmp_path / "bad.hpoa"
    bad.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.hpoa: line 1"):
        read_disease_annotations(bad, terms)


def _digests(model_dir: Path) -> dict[str, str]:
    return {p.relative_to(model_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(model_dir.rglob("*")) if p.is_file() and p.name != "README.md"}


@pytest.mark.slow
def test_tiny_training_run_is_byte_identical_on_rerun(tmp_path, sources, monkeypatch):
    """Reading the sources (HPO, ICD-10-CM, annotations) is ~40% of a tiny run here. Run a takes
    the module's `sources` (its own earlier load_sources()), run b reads them all again, so the
    rerun still compares two independent reads as well as two trainings; the other-seed run
    reuses the module's."""
    import finetune.clinical_encoder as clinical_encoder
    from finetune.clinical_encoder import ClinicalEncoderRecipe, set_card_results, train_clinical_encoder
    from rag_dx.models import dir_fingerprint

    recipe = ClinicalEncoderRecipe(caps=SMALL_CAPS, max_steps=2, batch_size=8, max_seq_length=24,
                                   heldout_fraction=0.3, learning_rate=1e-4)
    monkeypatch.setattr(clinical_encoder, "load_sources", lambda: sources)
    a = train_clinical_encoder(tmp_path / "a", recipe)
    monkeypatch.setattr(clinical_encoder, "load_sources", load_sources)
    b = train_clinical_encoder(tmp_path / "b", recipe)
    monkeypatch.setattr(clinical_encoder, "load_sources", lambda: sources)
    assert _digests(a) == _digests(b)
    assert dir_fingerprint(a) == dir_fingerprint(b)
    manifest = json.loads((a / "rag_dx_training.json").read_text())
    assert manifest["training"]["steps"] == 2
    assert manifest["pairs"]["train"]["disease-case"] > 0 and manifest["heldout_after"]["all"]
    assert not [p for p in a.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    card = (a / "README.md").read_text()
    assert "MultipleNegativesRankingLoss" in card and "hp.obo" in card
    set_card_results(a, "| x | 1 |")
    assert "| x | 1 |" in (a / "README.md").read_text() and dir_fingerprint(a) == dir_fingerprint(b)

    other = train_clinical_encoder(tmp_path / "c", ClinicalEncoderRecipe(
        caps=SMALL_CAPS, max_steps=2, batch_size=8, max_seq_length=24, heldout_fraction=0.3, learning_rate=1e-4,
        seed=1))
    assert _digests(other)["model.safetensors"] != _digests(a)["model.safetensors"]
