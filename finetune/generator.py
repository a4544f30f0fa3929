"""LoRA fine-tuning of the candidate scorer on exactly the prompt the diagnosis step scores.

Training example: ``HFGenerator.build_prompt(case, evidence)`` -> target ``" " + diagnosis +
eos`` (the token ids of :meth:`HFGenerator.candidate_ids`), loss only on the target tokens,
averaged per example. That is the negative of the score ``HFGenerator.score`` gives the gold
candidate. Raising it alone does not rank the gold first: serving compares *mean* token
log-probs, and a wrong multi-token name whose later tokens are predictable keeps a high mean.
So the default loss adds a ranking term: the gold and a few other candidates (the case's
retrieved ones first) are scored exactly as ``diagnose`` scores them (:func:`ranking_scores`,
minus the no-case prior when ``generator_pmi``, over the softmax temperature) and the gold's
cross-entropy among them is minimized. The evidence comes from :func:`finetune.pairs.retrieve_cases` (the case's own report, its
duplicates and any held-out ids excluded); a share of prompts has no evidence at all, which is the
prompt of the generator-only mode.

The loop is a small explicit one (no transformers Trainer) so that nothing is pickled: the
adapter is peft's ``adapter_config.json`` + ``adapter_model.safetensors``; checkpoints hold the
adapter, the AdamW state as safetensors and a JSON state (step, RNG, recipe, data fingerprint).
Every random choice (sample order, evidence dropout, augmentation, LoRA init, dropout) derives
from the recipe seed, so the same seed and data give the same adapter, also across a resume.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finetune.pairs import CaseEvidence, augment_case, class_weights
from finetune.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from finetune.generator_recipe import GeneratorRecipe
from rag_dx.labels import candidate_key, unique_labels
from rag_dx.scoring import no_case_prompt

log = logging.getLogger(__name__)

LOSS_LOG = "loss_log.jsonl"


# ============================================================================ model pieces
def lora_config(recipe: GeneratorRecipe, n_layers: int):
    from peft import LoraConfig

    layers = None
    if recipe.lora_top_layers and recipe.lora_top_layers < n_layers:
        layers = list(range(n_layers - recipe.lora_top_layers, n_layers))
    return LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.target_modules),
        layers_to_transform=layers,
        bias="none",
        task_type="CAUSAL_LM",
    )


def load_base_model(model_dir: Path, device: str):
    """A fresh float32 copy of the base model (peft wraps modules in place: never reuse one)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, local_files_only=True)
    return model.to(device)


def wrap_lora(model, recipe: GeneratorRecipe):
    """Attach a freshly initialized LoRA adapter, seeded by the recipe."""
    import torch
    from peft import get_peft_model

    torch.manual_seed(recipe.seed)
    n_layers = int(getattr(model.config, "num_hidden_layers", 0) or 0)
    peft_model = get_peft_model(model, lora_config(recipe, n_layers))
    return peft_model


# ============================================================================ examples and loss
@dataclass
class Draw:
    """One example as seen at one point of training."""

    case: int
    with_evidence: bool
    augment_seed: int | None
    weight: float = 1.0
    index: int = 0


def plan_draws(cases: Sequence[CaseEvidence], recipe: GeneratorRecipe, total_steps: int) -> list[Draw]:
    """The whole training sequence of examples, fixed by the seed before the first step.

    Fixing it up front is what makes a resumed run identical to an uninterrupted one.
    """
    n_draws = total_steps * recipe.grad_accum * recipe.micro_batch_size
    rng = np.random.default_rng([recipe.seed, 1])
    labels = [c.label for c in cases]
    weights = class_weights(labels)
    if recipe.balance == "sampling":
        p = np.array([weights[candidate_key(x)] for x in labels], dtype=np.float64)
        order = rng.choice(len(cases), size=n_draws, replace=True, p=p / p.sum())
    else:
        reps = math.ceil(n_draws / max(len(cases), 1))
        order = np.concatenate([rng.permutation(len(cases)) for _ in range(reps)])[:n_draws]
    no_ev = np.random.default_rng([recipe.seed, 2]).random(n_draws) < recipe.no_evidence_fraction
    return [
        Draw(
            case=int(i),
            with_evidence=bool(not no_ev[k]) and bool(cases[int(i)].hits),
            augment_seed=(recipe.seed * 1_000_003 + k) if recipe.augment else None,
            weight=weights[candidate_key(labels[int(i)])] if recipe.balance == "loss" else 1.0,
            index=k,
        )
        for k, i in enumerate(order)
    ]


class ExampleEncoder:
    """Turns a draw into (prompt ids, target ids) with the serving prompt and candidate ids."""

    def __init__(self, generator: Any, cases: Sequence[CaseEvidence], *, evidence_chars: int,
                 augment_prob: float = 0.5) -> None:
        self.generator = generator
        self.cases = cases
        self.evidence_chars = evidence_chars
        self.augment_prob = augment_prob
        self._cache: dict[tuple[int, bool], tuple[list[int], list[int]]] = {}

    def prompt(self, draw: Draw) -> str:
        case = self.cases[draw.case]
        text = case.text
        if draw.augment_seed is not None:
            text = augment_case(text, np.random.default_rng(draw.augment_seed), self.augment_prob)
        hits = case.hits if draw.with_evidence else []
        return self.generator.build_prompt(text, hits, evidence_chars=self.evidence_chars)

    def __call__(self, draw: Draw) -> tuple[list[int], list[int]]:
        key = (draw.case, draw.with_evidence)
        if draw.augment_seed is None and key in self._cache:
            return self._cache[key]
        tok = self.generator.tokenizer
        prompt_ids = tok(self.prompt(draw), add_special_tokens=False)["input_ids"]
        target_ids = self.generator.candidate_ids([self.cases[draw.case].label])[0]
        out = (list(prompt_ids), list(target_ids))
        if draw.augment_seed is None:
            self._cache[key] = out
        return out


def target_nll(model, batch: Sequence[tuple[list[int], list[int]]], device, *, pad_id: int, bf16: bool = False):
    """Mean negative log-likelihood of each example's target tokens after its prompt.

    Left padding with explicit position ids, so every row is computed exactly as an unpadded
    sequence; only the last ``max(target length)`` positions go through the LM head. Returns a
    tensor of shape (len(batch),): per example, minus the mean per-token log-probability, the
    same quantity that ``HFGenerator.score`` returns (with the sign flipped) at serving time.
    """
    import torch

    seqs = [p + t[:-1] for p, t in batch]
    width = max(len(s) for s in seqs)
    t_max = max(len(t) for _, t in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), t_max), -100, dtype=torch.long)
    for row, (seq, (_, target)) in enumerate(zip(seqs, batch)):
        ids[row, width - len(seq):] = torch.tensor(seq)
        mask[row, width - len(seq):] = 1
        labels[row, t_max - len(target):] = torch.tensor(target)
    ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    use_bf16 = bf16 and str(device).startswith("cuda")
    with torch.autocast(device_type="cuda" if use_bf16 else "cpu", dtype=torch.bfloat16, enabled=use_bf16):
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=t_max,
                       use_cache=False).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    valid = labels != -100
    tok = logp.gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1) * valid
    return -(tok.sum(-1) / valid.sum(-1).clamp(min=1))


def ranking_scores(model, prompt_ids: Sequence[int], cand_ids: Sequence[Sequence[int]], prior, *,
                   temperature: float = 1.0, bf16: bool = False):
    """(scores, logits) of the ranking loss: each candidate's score exactly as ``diagnose`` computes it
    (:func:`rag_dx.scoring.candidate_logprobs` on the serving prompt, differentiable here), and
    ``(score - no-case prior) / temperature``, the logits diagnose's softmax ranks with."""
    import torch

    from rag_dx import scoring

    device = next(model.parameters()).device
    prefix = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
    scores = scoring.candidate_logprobs(model, prefix, cand_ids, bf16=bf16)
    return scores, (scores - torch.as_tensor(prior, dtype=scores.dtype, device=scores.device)) / temperature


def choose_candidates(case: CaseEvidence, labels: Sequence[str], k: int, seed: int) -> list[str]:
    """The gold first, then the case's retrieved candidates, then seeded other labels, k in all."""
    gold = candidate_key(case.label)
    others = [x for x in labels if candidate_key(x) != gold]
    if k <= 0 or k >= len(others) + 1:
        return [case.label] + others
    chosen: list[str] = []
    seen = {gold}
    for name in case.candidates:
        key = candidate_key(name)
        if key not in seen and any(candidate_key(x) == key for x in others):
            chosen.append(next(x for x in others if candidate_key(x) == key))
            seen.add(key)
        if len(chosen) == k - 1:
            return [case.label] + chosen
    rest = [x for x in others if candidate_key(x) not in seen]
    pick = np.random.default_rng(seed).permutation(len(rest))[: k - 1 - len(chosen)]
    return [case.label] + chosen + [rest[int(i)] for i in sorted(pick)]


def lr_at(step: int, total: int, recipe: GeneratorRecipe, base_lr: float) -> float:
    warm = int(round(recipe.warmup_ratio * total))
    if warm and step < warm:
        return base_lr * (step + 1) / warm
    if recipe.scheduler == "constant":
        return base_lr
    frac = (step - warm) / max(1, total - warm)
    if recipe.scheduler == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * frac))
    return base_lr * max(0.0, 1 - frac)


# ============================================================================ training
@dataclass
class TrainResult:
    model: Any
    steps: int
    examples_seen: int
    first_loss: float | None
    last_loss: float | None
    seconds: float
    resumed_from: int | None
    log_path: Path


def train_adapter(
    generator: Any,
    model: Any,
    cases: Sequence[CaseEvidence],
    recipe: GeneratorRecipe,
    *,
    evidence_chars: int,
    log_path: Path,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    fingerprints: dict[str, str] | None = None,
    progress: bool = True,
    max_steps: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
    labels: Sequence[str] | None = None,
    pmi: bool = True,
    temperature: float = 1.0,
) -> TrainResult:
    """Train the LoRA adapter attached to ``model`` (a peft model) on ``cases``.

    Args:
        generator: the base :class:`rag_dx.generate.HFGenerator` (its prompt and candidate ids).
        model: ``wrap_lora(load_base_model(...), recipe)``.
        evidence_chars: ``settings.diagnosis.evidence_chars`` (as diagnose uses it).
        log_path: JSON lines, one per ``log_every`` steps: step, loss, lr, examples, seconds.
        checkpoint_dir: where ``step-NNNNNN/`` checkpoints go every ``save_every`` steps.
        resume: continue from the latest checkpoint there (refused if recipe or data differ).
        fingerprints: data / base-model fingerprints recorded in (and checked against) checkpoints.
        max_steps: overrides the recipe's training length (used by the search).
        on_step: called with (step, loss) after every optimizer step and its checkpoint.
        labels: the candidate label set of the ranking loss (default: the cases' labels).
        pmi, temperature: ``settings.diagnosis.generator_pmi`` / ``.temperature``, so the ranking
            loss scores candidates exactly as ``diagnose`` does.
    """
    import torch

    if not cases:
        raise ValueError("no training cases")
    t0 = time.time()
    total = max_steps or recipe.total_steps(len(cases))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    expect = {"recipe": asdict(recipe), **(fingerprints or {})}
    expect["recipe"]["max_steps_effective"] = total
    start = resumed_from = None
    if resume and checkpoint_dir is not None and (last := latest_checkpoint(checkpoint_dir)) is not None:
        start = resumed_from = load_checkpoint(last, model, optimizer, expect)
    start = start or 0
    log_path = _open_loss_log(Path(log_path), start)
    model.train()
    loop = _Loop(generator, model, cases, recipe, plan_draws(cases, recipe, total), evidence_chars=evidence_chars,
                 labels=labels, pmi=pmi, temperature=temperature)
    first_loss = last_loss = None
    window: list[float] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=start, desc="LoRA", unit="step")
    try:
        for step in range(start, total):
            lr = lr_at(step, total, recipe, recipe.learning_rate)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            step_loss = loop.step(step)
            if recipe.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
            optimizer.step()
            window.append(step_loss)
            first_loss = step_loss if first_loss is None else first_loss
            last_loss = step_loss
            done = step + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{step_loss:.3f}")
            if recipe.log_every and (done % recipe.log_every == 0 or done == total):
                _log_row(log_path, loop, done, total, window, lr, t0)
                window = []
            if checkpoint_dir is not None and recipe.save_every and done % recipe.save_every == 0 and done < total:
                save_checkpoint(Path(checkpoint_dir), done, model, optimizer, expect)
            if on_step is not None:
                on_step(done, step_loss)
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return TrainResult(model, total, total * loop.per_step, first_loss, last_loss, round(time.time() - t0, 1),
                       resumed_from, log_path)


def _open_loss_log(log_path: Path, start: int) -> Path:
    """The loss log, keeping the rows up to a resumed step (so a resumed log reads like one run)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    if start and log_path.is_file():
        kept = [ln for ln in log_path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= start]
    log_path.write_text("".join(ln + "\n" for ln in kept))
    return log_path


def _log_row(log_path: Path, loop: "_Loop", done: int, total: int, window: list[float], lr: float, t0: float) -> None:
    row = {"step": done, "loss": round(sum(window) / len(window), 5), "lr": lr,
           "examples": done * loop.per_step, "seconds": round(time.time() - t0, 1)}
    for key, vals in loop.kinds.items():  # gold NLL by prompt kind; share of golds ranked first
        if vals:
            row["nll_" + key if key != "rank_hit" else "rank_top1"] = round(float(np.mean(vals)), 4)
    loop.kinds = {k: [] for k in loop.kinds}
    with log_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    log.info("LoRA step %d/%d: loss %.4f, %.0f s", done, total, row["loss"], row["seconds"])


class _Loop:
    """The loss of one optimizer step: forward and backward over the step's planned draws.

    With ``rank_loss_weight > 0`` every draw's candidates are scored as ``diagnose`` scores them
    (:func:`ranking_scores`, minus the no-case prior under the current weights when ``pmi``) and
    the loss is ``lm_loss_weight * NLL(gold) + rank_loss_weight * CE(gold among candidates)``;
    otherwise the target-token NLL alone, batched.
    """

    def __init__(self, generator: Any, model: Any, cases: Sequence[CaseEvidence], recipe: GeneratorRecipe,
                 draws: list[Draw], *, evidence_chars: int, labels: Sequence[str] | None, pmi: bool,
                 temperature: float) -> None:
        self.generator, self.model, self.cases, self.recipe, self.draws = generator, model, cases, recipe, draws
        self.device = next(model.parameters()).device
        self.encode = ExampleEncoder(generator, cases, evidence_chars=evidence_chars, augment_prob=recipe.augment_prob)
        tok = generator.tokenizer
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        self.per_step = recipe.micro_batch_size * recipe.grad_accum
        self.label_set = list(labels) if labels is not None else unique_labels([c.label for c in cases])
        self.pmi, self.temperature = pmi, temperature
        self.neutral_ids = tok(no_case_prompt(generator, evidence_chars=evidence_chars),
                               add_special_tokens=False)["input_ids"]
        self.kinds: dict[str, list[float]] = {"evidence": [], "no_evidence": [], "rank_hit": []}
        self._cand_ids: dict[str, list[int]] = {}

    def ids_of(self, names: Sequence[str]) -> list[list[int]]:
        for name in names:
            if name not in self._cand_ids:
                self._cand_ids[name] = self.generator.candidate_ids([name])[0]
        return [self._cand_ids[n] for n in names]

    def priors(self, names: Sequence[str]) -> dict[str, float]:
        """The no-case prior of each name under the current weights (no gradient), as diagnose's PMI."""
        import torch

        if not self.pmi or not names:
            return {n: 0.0 for n in names}
        self.model.eval()
        with torch.no_grad():
            vals, _ = ranking_scores(self.model, self.neutral_ids, self.ids_of(names), [0.0] * len(names),
                                     bf16=self.recipe.bf16)
        self.model.train()
        return dict(zip(names, vals.tolist()))

    def step(self, step: int) -> float:
        r = self.recipe
        lo_step = step * r.grad_accum * r.micro_batch_size
        names_of: dict[int, list[str]] = {}
        prior: dict[str, float] = {}
        if r.rank_loss_weight > 0:
            names_of = {d.index: choose_candidates(self.cases[d.case], self.label_set, r.rank_candidates,
                                                   r.seed * 7_919 + d.index) for d in self.draws[lo_step: lo_step + self.per_step]}
            prior = self.priors(sorted({n for v in names_of.values() for n in v}))
        loss = 0.0
        for m in range(r.grad_accum):
            lo = (step * r.grad_accum + m) * r.micro_batch_size
            chunk = self.draws[lo: lo + r.micro_batch_size]
            if r.rank_loss_weight <= 0:
                loss += self._lm_loss(chunk)
                continue
            for d in chunk:
                loss += self._rank_loss(d, names_of[d.index], prior)
        return loss

    def _lm_loss(self, chunk: list[Draw]) -> float:
        import torch

        nll = target_nll(self.model, [self.encode(d) for d in chunk], self.device, pad_id=self.pad,
                         bf16=self.recipe.bf16)
        w = torch.tensor([d.weight for d in chunk], dtype=nll.dtype, device=nll.device)
        ((nll * w).sum() / self.per_step).backward()
        for d, v in zip(chunk, nll.detach().tolist()):
            self.kinds["evidence" if d.with_evidence else "no_evidence"].append(v)
        return float((nll.detach() * w).sum()) / self.per_step

    def _rank_loss(self, d: Draw, names: list[str], prior: dict[str, float]) -> float:
        """One prompt per forward: its KV cache is shared by the candidates."""
        import torch

        r = self.recipe
        prompt_ids, _ = self.encode(d)
        scores, adjusted = ranking_scores(self.model, prompt_ids, self.ids_of(names), [prior[n] for n in names],
                                          temperature=self.temperature, bf16=r.bf16)
        rank = -torch.log_softmax(adjusted, dim=0)[0]
        lm = -scores[0]
        loss_d = (r.lm_loss_weight * lm + r.rank_loss_weight * rank) * d.weight / self.per_step
        loss_d.backward()
        self.kinds["evidence" if d.with_evidence else "no_evidence"].append(float(lm.detach()))
        self.kinds["rank_hit"].append(float(int(torch.argmax(adjusted.detach())) == 0))
        return float(loss_d.detach())


def training_generator(base: Any, model: Any, adapter_label: str = "training"):
    """An HFGenerator that scores with ``model`` (a peft model) and the base's tokenizer."""
    from rag_dx.generate import HFGenerator

    return HFGenerator(model=model, tokenizer=base.tokenizer, name=base.name, fingerprint=base.fingerprint,
                       adapter=adapter_label, max_case_tokens=base.max_case_tokens)


def save_adapter(model: Any, out: Path) -> None:
    """peft's adapter_config.json + adapter_model.safetensors (peft's own README is replaced later)."""
    model.save_pretrained(str(out), safe_serialization=True)
    for stray in out.glob("*.bin"):
        stray.unlink()


def merge_into_base(model: Any, tokenizer: Any, out: Path) -> Path:
    """Merge the LoRA weights into the base and save a full model directory (safetensors)."""
    merged = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out
