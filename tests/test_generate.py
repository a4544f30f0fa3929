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
