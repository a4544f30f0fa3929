"""The generator's batched, prefix-cached candidate scoring must equal naive scoring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow


def test_cached_batch_scoring_equals_full_forward(generator):
    prompt = generator.build_prompt("Crushing chest pain radiating to the left arm with sweating.", [])
    cands = ["Acute myocardial infarction", "Migraine", "Psoriasis", "Gastroesophageal reflux disease"]
    fast = generator.score(prompt, cands)
    prefix = generator.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    naive = []
    for ids in generator.candidate_ids(cands):
        full = torch.cat([prefix, torch.tensor([ids])], dim=1)
        with torch.inference_mode():
            logp = torch.log_softmax(generator.model(full).logits[0].float(), dim=-1)
        p = prefix.shape[1]
        naive.append(np.mean([logp[p - 1 + j, t].item() for j, t in enumerate(ids)]))
    np.testing.assert_allclose(fast, naive, atol=1e-4)


def test_prompt_holds_case_and_cited_evidence(generator):
    from rag_dx.schemas import Chunk, Hit

    hit = Hit(chunk=Chunk(chunk_id="R:x#0", kind="report", doc_id="x", title="Report x", text="fever and cough",
                          label="Pneumonia"), score=0.1)
    prompt = generator.build_prompt("a case of fever", [hit])
    assert "a case of fever" in prompt and "[R:x#0]" in prompt and "Pneumonia" in prompt
    assert prompt.endswith("Most likely diagnosis:")


def test_empty_candidates(generator):
    assert generator.score("x", []).shape == (0,)


def test_adapter_slot_loads_a_peft_lora_dir(tmp_path, model_cache, generator):
    """A LoRA adapter directory given as `adapter` is loaded (and merged) and changes the scores."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from rag_dx.generate import HFGenerator
    from rag_dx.models import prepared_generator_dir

    base = AutoModelForCausalLM.from_pretrained(prepared_generator_dir(model_cache), local_files_only=True)
    torch.manual_seed(0)
    # init_lora_weights=False: random B matrices, so the adapter is not a no-op.
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter_dir = tmp_path / "adapter"
    peft_model.save_pretrained(adapter_dir)
    assert (adapter_dir / "adapter_config.json").is_file()

    tuned = HFGenerator.load(None, cache_dir=model_cache, adapter=str(adapter_dir))
    assert tuned.adapter and tuned.adapter.startswith("adapter@")
    prompt = generator.build_prompt("fever and cough", [])
    cands = ["Pneumonia", "Migraine"]
    assert not np.allclose(tuned.score(prompt, cands), generator.score(prompt, cands), atol=1e-3)
