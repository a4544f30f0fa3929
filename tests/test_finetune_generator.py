"""LoRA fine-tune of the candidate scorer.

The training loss is the serving score; a few steps on the fixture produce a pickle-free adapter
that ``HFGenerator.load(adapter=...)`` loads and that changes the candidate scores; the loss goes
down; the same seed gives the same adapter, also across a resume from a checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import PassThroughDeid, fixture_reports, fixture_rows, write_reports_csv

TINY_RECIPE = """
[generator]
seed = 0
val_fraction = 0.2
lora_r = 4
lora_alpha = 8
lora_dropout = 0.0
target_modules = ["q_proj", "v_proj"]
lora_top_layers = 2
learning_rate = 5e-3
max_steps = 2
micro_batch_size = 1
grad_accum = 2
warmup_ratio = 0.0
no_evidence_fraction = 0.5
balance = "sampling"
generator_pmi = false
log_every = 1
save_every = 1
eval_val_limit = 2

[calibration]
enabled = true
"""


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_RECIPE)
    return path


def _cases():
    """Hand-made training cases (no index needed): two with evidence, two without."""
    from finetune.pairs import CaseEvidence
    from rag_dx.schemas import Chunk, Hit

    def hit(i: int, label: str, text: str) -> Hit:
        return Hit(chunk=Chunk(chunk_id=f"R:h{i}#0", kind="report", doc_id=f"h{i}", title=f"Report h{i}",
                               text=text, label=label), score=0.1)

    return [
        CaseEvidence("a", "Burning when passing urine and going often.", "Urinary tract infection",
                     [hit(1, "Urinary tract infection", "dysuria, frequency")]),
        CaseEvidence("b", "Silvery scaly plaques on both elbows.", "Psoriasis",
                     [hit(2, "Psoriasis", "scaly plaques on knees")]),
        CaseEvidence("c", "One-sided throbbing headache with light sensitivity.", "Migraine", []),
        CaseEvidence("d", "Fever, productive cough and crackles on the right.", "Pneumonia", []),
    ]


def _mean_nll(generator, model, cases) -> float:
    from finetune.generator import Draw, ExampleEncoder, target_nll

    enc = ExampleEncoder(generator, cases, evidence_chars=300)
    batch = [enc(Draw(i, bool(c.hits), None)) for i, c in enumerate(cases)]
    was_training = model.training
    model.eval()  # no dropout, so measuring does not move the RNG
    try:
        with torch.inference_mode():
            return float(target_nll(model, batch, "cpu", pad_id=generator.tokenizer.pad_token_id).mean())
    finally:
        model.train(was_training)


@pytest.mark.slow
def test_training_loss_is_the_serving_score(generator):
    """-target_nll == HFGenerator.score for the gold, also left-padded in a batch; likewise the ranking scores."""
    from finetune.generator import target_nll

    prompts = [generator.build_prompt("Fever and productive cough.", []),
               generator.build_prompt("A much longer case: itchy silvery plaques on elbows and knees for months.", [])]
    cands = ["Pneumonia", "Plaque psoriasis of the elbows"]
    batch = [(generator.tokenizer(p, add_special_tokens=False)["input_ids"], generator.candidate_ids([c])[0])
             for p, c in zip(prompts, cands)]
    with torch.inference_mode():
        batched = target_nll(generator.model, batch, "cpu", pad_id=generator.tokenizer.pad_token_id).numpy()
    served = np.array([generator.score(p, [c])[0] for p, c in zip(prompts, cands)])
    np.testing.assert_allclose(-batched, served, atol=2e-4)

    # the ranking loss scores all candidates of one prompt exactly as serving does
    from finetune.generator import ranking_scores

    names = ["Pneumonia", "Migraine", "Urinary tract infection"]
    with torch.inference_mode():
        twin, _ = ranking_scores(generator.model, batch[0][0], generator.candidate_ids(names), [0.0] * 3)
        twin = twin.numpy()
    np.testing.assert_allclose(twin, generator.score(prompts[0], names), atol=2e-4)


@pytest.mark.slow
def test_loss_goes_down_same_seed_same_adapter_and_resume(tmp_path, model_cache, generator):
    from safetensors.torch import load_file

    from finetune.generator import load_base_model, save_adapter, train_adapter, wrap_lora
    from finetune.generator_recipe import GeneratorRecipe
    from rag_dx.models import prepared_generator_dir

    cases = _cases()
    recipe = GeneratorRecipe(seed=0, lora_r=4, lora_alpha=8, lora_dropout=0.1, target_modules=["q_proj", "v_proj"],
                             lora_top_layers=2, learning_rate=2e-3, max_steps=4, grad_accum=1, warmup_ratio=0.0,
                             no_evidence_fraction=0.5, log_every=1, save_every=2)
    base_dir = prepared_generator_dir(model_cache)

    class Interrupted(Exception):
        pass

    def stop_at_2(step: int, loss: float) -> None:
        if step == 2:
            raise Interrupted

    def run(name: str, *, interrupted: bool = False) -> tuple[dict, float, float]:
        model = wrap_lora(load_base_model(base_dir, "cpu"), recipe)
        before = _mean_nll(generator, model, cases)
        ckpt = tmp_path / f"{name}.ckpt"
        if interrupted:  # killed after 2 of 4 steps, then resumed with a fresh model
            with pytest.raises(Interrupted):
                train_adapter(generator, model, cases, recipe, evidence_chars=300, log_path=tmp_path / f"{name}.jsonl",
                              checkpoint_dir=ckpt, progress=False, on_step=stop_at_2)
            model = wrap_lora(load_base_model(base_dir, "cpu"), recipe)
            assert (ckpt / "step-000002" / "optimizer.safetensors").is_file()
            assert not [p for p in ckpt.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
        result = train_adapter(generator, model, cases, recipe, evidence_chars=300,
                               log_path=tmp_path / f"{name}.jsonl", checkpoint_dir=ckpt if interrupted else None,
                               resume=interrupted,
                               progress=False)
        after = _mean_nll(generator, model, cases)
        if interrupted:
            assert result.resumed_from == 2
        save_adapter(model, tmp_path / name)
        return load_file(str(tmp_path / name / "adapter_model.safetensors")), before, after

    a, before, after = run("a")
    assert after < before, f"loss did not go down: {before:.3f} -> {after:.3f}"
    b, _, _ = run("b")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    log_lines = (tmp_path / "a.jsonl").read_text().splitlines()
    assert len(log_lines) == 4 and '"loss"' in log_lines[0]

    # the same training, interrupted at step 2 and resumed from its checkpoint
    c, _, _ = run("c", interrupted=True)
    for key in a:
        torch.testing.assert_close(a[key], c[key], rtol=1e-5, atol=1e-6)
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 4


@pytest.mark.slow
def test_finetune_generator_command_produces_a_loadable_calibrated_adapter(tmp_path, fake_encoder, model_cache,
                                                                           generator):
    import json

    from rag_dx.calibration import read_adapter_calibration
    from finetune.commands import finetune_generator
    from rag_dx.generate import HFGenerator
    from rag_dx.build import build_index
    from rag_dx.settings import Settings

    settings = Settings(index_dir=tmp_path / "indexes", device="cpu", threads=2)
    build_index(settings, "fx", fixture_reports(), [], encoder=fake_encoder, deidentifier=PassThroughDeid())
    csv = write_reports_csv(tmp_path / "reports.csv", fixture_rows())
    out = finetune_generator(settings, [csv], "fx", tmp_path / "lora", recipe=_tiny(tmp_path), encoder=fake_encoder,
                             progress=False, merge=True)

    names = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "rag_dx_training.json",
            "loss_log.jsonl", "rag_dx_calibration.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))], names
    assert not (tmp_path / "lora.checkpoints").exists()  # removed after success
    m = json.loads((out / "rag_dx_training.json").read_text())
    assert m["training"]["steps"] == 2 and m["seed"] == 0
    assert m["index"]["name"] == "fx" and m["prompt"]["builder"].endswith("build_prompt")
    assert m["data"]["n_train_reports"] + m["data"]["n_validation_reports"] == 12
    assert "val_generator_top1" in m["validation"]["before"] and "val_full_top1" in m["validation"]["after"]
    cal = read_adapter_calibration(out)
    assert cal.temperature > 0 and cal.generator_pmi is False and m["prompt"]["generator_pmi"] is False
    assert "LoRA" in (out / "README.md").read_text()
    texts = [row["text"][:40] for row in fixture_rows()]
    for f in out.iterdir():
        if f.suffix != ".safetensors":  # no report text in the card, manifest, loss log, calibration
            assert not any(t in f.read_text(encoding="utf-8") for t in texts), f"report text leaked into {f.name}"

    tuned = HFGenerator.load(None, cache_dir=model_cache, adapter=str(out))
    prompt = generator.build_prompt("Burning on urination with cloudy urine.", [])
    cands = ["Urinary tract infection", "Psoriasis", "Migraine"]
    tuned_scores = tuned.score(prompt, cands)
    assert not np.allclose(tuned_scores, generator.score(prompt, cands), atol=1e-3)
    del tuned

    # --merge: base + adapter as one plain model directory, usable as `generator = DIR`
    merged = HFGenerator.load(str(tmp_path / "lora-merged"), cache_dir=model_cache)
    assert merged.adapter is None
    np.testing.assert_allclose(merged.score(prompt, cands), tuned_scores, atol=1e-3)


def test_search_picks_the_best_trial_and_prefers_cheap_ties():
    from finetune.generator_recipe import GeneratorRecipe, SearchRecipe, run_search

    seen = []

    def make(trial):
        return {"lr": trial.learning_rate, "r": trial.lora_r}

    def fit(model, trial, steps):
        seen.append((trial.learning_rate, trial.lora_r, steps))

    def metric(model):
        top1 = 0.9 if model["lr"] == 3e-4 else 0.5  # both ranks tie at lr 3e-4
        return {"val_generator_top1": top1, "val_gold_logprob": -1.0}

    best, trials = run_search(make, fit, metric, GeneratorRecipe(), SearchRecipe(learning_rates=[1e-4, 3e-4],
                                                                                   ranks=[16, 8], max_steps=3))
    assert len(trials) == 4 and all(s == 3 for *_, s in seen)
    assert (best.learning_rate, best.lora_r, best.lora_alpha) == (3e-4, 8, 16)
