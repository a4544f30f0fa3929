"""Candidate scoring: the one implementation that serving, training, calibration and eval share.

A candidate's score is the mean per-token log-probability of ``" " + name + <end of turn>`` after
the prompt :meth:`HFGenerator.build_prompt` makes from the case and its evidence, minus (when
``generator_pmi``) the same score after the no-case prompt (:func:`no_case_prompt`), which removes
the model's prior for a name. The prompt runs once; its KV cache is repeated for the candidates,
which run as one batch (cost ~ prompt + candidates, not prompt x candidates).

* serving: :meth:`HFGenerator.score` calls :func:`candidate_logprobs` under ``inference_mode``,
  and the assistant calls :func:`generator_scores`;
* training (``finetune.generator``): the ranking loss calls :func:`candidate_logprobs` on the
  model being trained (gradients flow through the cache) and subtracts the :func:`no_case_prompt`
  prior, so the adapter is trained on exactly what ``diagnose`` scores;
* calibration and eval score through the assistant, hence through the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rag_dx.generate import CandidateScorer
    from rag_dx.schemas import Hit

#: The case text of the no-case prompt whose scores are each name's prior (PMI).
NO_CASE_TEXT = "(no case details given)"

Prefill = Callable[[Any], tuple[Any, Any]]


def no_case_prompt(generator: "CandidateScorer", *, evidence_chars: int) -> str:
    """The prompt whose candidate scores are subtracted as the names' prior (``generator_pmi``)."""
    return generator.build_prompt(NO_CASE_TEXT, [], evidence_chars=evidence_chars)


def prompt_pass(model: Any, prefix: Any) -> tuple[Any, Any]:
    """Run the prompt (1 x P token ids): (log-probabilities of the next token, the prompt's KV cache)."""
    import torch

    out = model(input_ids=prefix, use_cache=True, logits_to_keep=1)
    return torch.log_softmax(out.logits[0, -1].float(), dim=-1), out.past_key_values


def candidate_logprobs(model: Any, prefix: Any, cand_ids: Sequence[Sequence[int]], *, pad_id: int = 0,
                       prefill: Prefill | None = None, bf16: bool = False) -> Any:
    """Mean per-token log-probability of each candidate after the prompt; a tensor of len(cand_ids).

    Args:
        model: a causal LM (a peft model in training); called under the caller's grad mode.
        prefix: the prompt's token ids, a (1, P) long tensor on the model's device.
        cand_ids: each candidate's token ids (:meth:`HFGenerator.candidate_ids`).
        pad_id: fills rows shorter than the longest candidate (masked; never changes a score).
        prefill: computes (next-token log-probs, KV cache) of the prompt; default
            :func:`prompt_pass`. Serving passes one that reuses the cached shared prompt prefix.
        bf16: bfloat16 autocast, on CUDA only.
    """
    import torch

    dev = prefix.device
    n, width = len(cand_ids), max(len(c) for c in cand_ids)
    ids = torch.full((n, width), pad_id, dtype=torch.long, device=dev)
    mask = torch.zeros((n, width), dtype=torch.long, device=dev)
    for row, toks in enumerate(cand_ids):
        ids[row, : len(toks)] = torch.tensor(list(toks), device=dev)
        mask[row, : len(toks)] = 1
    use_bf16 = bf16 and dev.type == "cuda"
    with torch.autocast(device_type="cuda" if use_bf16 else "cpu", dtype=torch.bfloat16, enabled=use_bf16):
        first, cache = (prefill or (lambda p: prompt_pass(model, p)))(prefix)  # `first` predicts 1st tokens
        cache.batch_repeat_interleave(n)
        full_mask = torch.cat([torch.ones((n, prefix.shape[1]), dtype=torch.long, device=dev), mask], dim=1)
        logits = model(input_ids=ids, attention_mask=full_mask, past_key_values=cache, use_cache=False).logits
    total = first[ids[:, 0]]
    if width > 1:
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        nxt = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
        total = total + (nxt * mask[:, 1:]).sum(dim=1)
    return total / mask.sum(dim=1).clamp(min=1)


def generator_scores(generator: "CandidateScorer", case: str, evidence: Sequence["Hit"], candidates: Sequence[str],
                     *, evidence_chars: int, prior: Callable[[list[str]], np.ndarray] | None = None) -> np.ndarray:
    """The generator's score of each candidate for a case: prompt, candidate log-probs, minus the prior.

    Args:
        evidence: the hits shown in the prompt ([] for the generator-only mode).
        prior: the no-case score of each name (``generator_pmi``), e.g. :class:`NoCasePrior`; None
            scores without it.
    """
    prompt = generator.build_prompt(case, evidence, evidence_chars=evidence_chars)
    scores = generator.score(prompt, list(candidates))
    return scores - prior(list(candidates)) if prior is not None else scores


class NoCasePrior:
    """Each name's score after the no-case prompt, cached: it depends only on the name."""

    def __init__(self, generator: "CandidateScorer", *, evidence_chars: int) -> None:
        self.generator = generator
        self.evidence_chars = evidence_chars
        self._cache: dict[str, float] = {}

    def __call__(self, names: list[str]) -> np.ndarray:
        missing = [n for n in dict.fromkeys(names) if n not in self._cache]
        if missing:
            prompt = no_case_prompt(self.generator, evidence_chars=self.evidence_chars)
            self._cache.update(zip(missing, (float(v) for v in self.generator.score(prompt, missing))))
        return np.array([self._cache[n] for n in names], dtype=np.float64)
