"""Encoder fine-tune: a few steps on the fixture give a loadable, self-describing, pickle-free model;
the contrastive loss goes down; the same seed gives the same model; batches keep groups apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import fixture_rows, write_reports_csv

TINY_RECIPE = """
[encoder]
seed = 0
val_fraction = 0.25
max_steps = {steps}
batch_size = 8
learning_rate = {lr}
warmup_ratio = 0.0
max_seq_length = 48
case_pairs_per_report = 1
description_pairs = false   # the vocabulary load is tested elsewhere
max_guideline_pairs = 4
log_every = 1
"""


def _recipe(tmp_path: Path, steps: int, lr: float = 1e-4) -> Path:
    path = tmp_path / f"tiny-{steps}-{lr}.toml"
    path.write_text(TINY_RECIPE.format(steps=steps, lr=lr))
    return path


@pytest.fixture(scope="module")
def reports_csv(tmp_path_factory) -> Path:
    return write_reports_csv(tmp_path_factory.mktemp("enc") / "reports.csv", fixture_rows())


def _settings(tmp_path: Path):
    from rag_dx.settings import Settings

    return Settings(index_dir=tmp_path / "indexes", device="cpu", threads=2)


def _mnrl(model, anchors, positives) -> float:
    """In-batch contrastive loss (scale 20) on fixed pairs: what the fine-tune minimizes."""
    a = model.encode(anchors, normalize_embeddings=True)
    b = model.encode(positives, normalize_embeddings=True)
    logits = 20.0 * a @ b.T
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(-np.mean(np.diag(logp)))


@pytest.mark.slow
def test_encoder_finetune_artifacts_loss_and_determinism(tmp_path, reports_csv):
    import json

    from sentence_transformers import SentenceTransformer

    from finetune.commands import finetune_encoder
    from finetune.encoder import EncoderRecipe, build_pairs
    from finetune.pairs import load_labeled, validation_split
    from rag_dx.embed import SentenceEncoder
    from rag_dx.models import bundled_encoder_dir

    settings = _settings(tmp_path)
    out = finetune_encoder(settings, [reports_csv], [], tmp_path / "enc-a", recipe=_recipe(tmp_path, 4, 3e-4),
                           progress=False)
    names = {p.name for p in out.rglob("*") if p.is_file()}
    assert {"modules.json", "model.safetensors", "README.md", "rag_dx_training.json", "loss_log.jsonl"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle"))], names
    manifest = json.loads((out / "rag_dx_training.json").read_text())
    assert manifest["training"]["steps"] == 4 and manifest["seed"] == 0
    assert manifest["base_model"]["name"] == "bundled:all-MiniLM-L6-v2"
    assert set(manifest["training"]["evaluator_before"]) >= {"accuracy@1", "ndcg@10", "mrr@10"}
    assert manifest["training"]["evaluator_after"]
    card = (out / "README.md").read_text()
    assert "MultipleNegativesRankingLoss" in card and "fine-tuned" in card
    texts = [row["text"][:40] for row in fixture_rows()]
    for f in out.rglob("*"):
        if f.is_file() and f.suffix != ".safetensors":  # no report text in cards, manifests, logs, configs
            content = f.read_text(encoding="utf-8", errors="ignore")
            assert not any(t in content for t in texts), f"report text leaked into {f.name}"

    loaded = SentenceEncoder.load(out)  # what `encoder = DIR` does
    assert loaded.dim == 384 and loaded.max_tokens == SentenceTransformer(str(bundled_encoder_dir())).max_seq_length
    assert loaded.fingerprint != SentenceEncoder.load(None).fingerprint

    # loss goes down on the training pairs
    data = load_labeled([reports_csv])
    train, _ = validation_split(data, 0.25, 0)
    pairs = build_pairs(train, EncoderRecipe(case_pairs_per_report=1, description_pairs=False, seed=0))
    one_per_group = list({p.group: p for p in pairs}.values())  # in-batch negatives of other diagnoses
    anchors, positives = [p.anchor for p in one_per_group], [p.positive for p in one_per_group]
    before = _mnrl(SentenceTransformer(str(bundled_encoder_dir()), device="cpu"), anchors, positives)
    after = _mnrl(loaded.model, anchors, positives)
    assert after < before

    # same seed, same model
    again = finetune_encoder(settings, [reports_csv], [], tmp_path / "enc-b", recipe=_recipe(tmp_path, 4, 3e-4),
                             progress=False)
    probe = ["Burning on urination and fever", "Scaly plaques on the elbows"]
    np.testing.assert_allclose(SentenceEncoder.load(again).encode(probe), loaded.encode(probe), atol=1e-6)


def test_refuses_to_overwrite_a_model_dir(tmp_path, reports_csv):
    from finetune.commands import finetune_encoder
    from rag_dx.errors import ConfigError

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty"):
        finetune_encoder(_settings(tmp_path), [reports_csv], [], tmp_path / "taken", recipe=_recipe(tmp_path, 1))
    assert (tmp_path / "taken" / "x").read_text() == "keep me"


def test_grouped_no_duplicates_sampler_keeps_diagnoses_apart():
    from datasets import Dataset

    from finetune.encoder import _grouped_sampler_class

    rng = np.random.default_rng(0)
    groups = [f"dx{int(i)}" for i in rng.integers(0, 6, size=60)]
    anchors = [f"case {i}" for i in range(60)]
    positives = [f"description of {g}" for g in groups]
    ds = Dataset.from_dict({"anchor": anchors, "positive": positives})
    sampler = _grouped_sampler_class()(ds, batch_size=4, drop_last=False, groups=groups, seed=0)
    seen = []
    for batch in sampler:
        keys = [groups[i] for i in batch]
        assert len(keys) == len(set(keys)), "two rows of one diagnosis share a batch"
        seen.extend(batch)
    assert len(seen) >= len(set(seen)) == 60


@pytest.mark.slow
def test_finetune_encoder_cli_writes_a_model_and_refuses_to_overwrite(tmp_path, reports_csv, monkeypatch):
    """The product command end to end: `rag-dx finetune encoder` writes a loadable model directory
    with its card; a second run into the same --out is refused unless --overwrite."""
    from typer.testing import CliRunner

    from rag_dx.cli import app

    monkeypatch.setenv("RAG_DX_INDEX_DIR", str(tmp_path / "indexes"))
    monkeypatch.setenv("RAG_DX_DEVICE", "cpu")
    out = tmp_path / "encoder-v2"
    args = ["finetune", "encoder", "--reports", str(reports_csv), "--out", str(out),
            "--recipe", str(_recipe(tmp_path, 2)), "--holdout", "0.2", "--holdout-seed", "0"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "RAG_DX_ENCODER" in first.output and (out / "README.md").is_file()
    manifest = __import__("json").loads((out / "rag_dx_training.json").read_text())
    assert manifest["data"]["holdout"] == {"fraction": 0.2, "seed": 0} and manifest["data"]["n_excluded_holdout"] > 0
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert CliRunner().invoke(app, args + ["--overwrite"]).exit_code == 0
