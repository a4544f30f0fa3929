"""Training and serving score candidates through one function (rag_dx.scoring), with identical results.

A tiny random Llama and the encoder's tokenizer (with a minimal chat template) keep this fast; the
slow tests repeat the check on the bundled generator.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rag_dx import scoring
from rag_dx.generate import HFGenerator
from rag_dx.schemas import Chunk, Hit

CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<assistant> {% endif %}")


@pytest.fixture(scope="module")
def tiny_generator(fake_encoder):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = fake_encoder.tokenizer.__class__.from_pretrained(fake_encoder.tokenizer.name_or_path, local_files_only=True)
    tok.chat_template = CHAT_TEMPLATE
    tok.eos_token, tok.pad_token = "[SEP]", "[PAD]"
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    model = LlamaForCausalLM(config).eval()
    return HFGenerator(model=model, tokenizer=tok, name="tiny", fingerprint="t" * 64, cache_shared_prefix=True)


def _hit() -> Hit:
    return Hit(chunk=Chunk(chunk_id="R:x#0", kind="report", doc_id="x", title="Report x", text="fever and cough",
                           label="Pneumonia"), score=0.1)


def test_training_and_serving_scores_are_identical_through_one_function(tiny_generator, monkeypatch):
    from finetune.generator import ranking_scores

    calls: list[str] = []
    real = scoring.candidate_logprobs

    def spy(model, prefix, cand_ids, **kwargs):
        calls.append("serving" if kwargs.get("prefill") is not None else "training")
        return real(model, prefix, cand_ids, **kwargs)

    monkeypatch.setattr(scoring, "candidate_logprobs", spy)
    gen = tiny_generator
    names = ["Pneumonia", "Migraine", "Urinary tract infection"]
    prior = scoring.NoCasePrior(gen, evidence_chars=300)
    served = scoring.generator_scores(gen, "fever and productive cough", [_hit()], names, evidence_chars=300,
                                      prior=prior)

    prompt = gen.build_prompt("fever and productive cough", [_hit()], evidence_chars=300)
    prompt_ids = gen.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    neutral_ids = gen.tokenizer(scoring.no_case_prompt(gen, evidence_chars=300), add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        trained_prior, _ = ranking_scores(gen.model, neutral_ids, gen.candidate_ids(names), [0.0] * 3)
        scores, logits = ranking_scores(gen.model, prompt_ids, gen.candidate_ids(names), trained_prior, temperature=0.5)
    np.testing.assert_allclose(logits.numpy() * 0.5, served, atol=1e-5)
    np.testing.assert_allclose(trained_prior.numpy(), prior(names), atol=1e-5)
    assert "serving" in calls and "training" in calls


def test_training_scores_are_differentiable(tiny_generator):
    from finetune.generator import ranking_scores

    gen = tiny_generator
    ids = gen.tokenizer(gen.build_prompt("a case", [], evidence_chars=300), add_special_tokens=False)["input_ids"]
    _, logits = ranking_scores(gen.model, ids, gen.candidate_ids(["Flu", "Migraine"]), [0.0, 0.0])
    (-torch.log_softmax(logits, dim=0)[0]).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.model.parameters())
    gen.model.zero_grad(set_to_none=True)


def test_assistant_with_generator_is_a_copy(tmp_path, fake_encoder):
    from tests.helpers import KeywordScorer, build_fixture_assistant

    assistant = build_fixture_assistant(tmp_path / "idx", fake_encoder)
    other = KeywordScorer()
    settings = assistant.settings.model_copy()
    copy = assistant.with_generator(other, settings=settings)
    assert copy.generator is other and copy.settings is settings and copy.live is assistant.live
    assert assistant.generator is not other and assistant.settings is not settings
    assert copy.diagnose("silvery scaly plaques", mode="full").differential
