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
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finetune.pairs import CaseEvidence, augment_case, class_weights
from finetune.recipe_keys import check_recipe_keys
from rag_dx.labels import candidate_key, unique_labels
from rag_dx.scoring import no_case_prompt
from rag_dx.staging import staged_directory

log = logging.getLogger(__name__)

BALANCE_MODES = ("sampling", "loss", "none")
SCHEDULERS = ("linear", "cosine", "constant")
SEARCH_METRICS = ("val_generator_top1", "val_full_top1", "val_gold_logprob")
LOSS_LOG = "loss_log.jsonl"


@dataclass
class GeneratorRecipe:
    """Hyperparameters of the LoRA fine-tune (the ``[generator]`` table of a recipe TOML).

    Args:
        seed: sample order, evidence dropout, augmentation, LoRA init and dropout derive from it.
        val_fraction: group-safe validation share (final check, calibration, search).
        lora_r, lora_alpha, lora_dropout, target_modules: peft LoraConfig.
        lora_top_layers: LoRA only on the top N decoder layers (0 = all). Gradients then stop at
            the lowest adapted layer, which roughly halves a CPU step for a 30-layer model.
        learning_rate, weight_decay, max_grad_norm, warmup_ratio, scheduler: AdamW + schedule.
        max_steps / epochs: optimizer steps (``max_steps > 0`` wins; else epochs over the cases).
        micro_batch_size, grad_accum: examples per forward pass / passes per optimizer step.
        no_evidence_fraction: share of prompts built without evidence (generator-only prompt).
        rank_loss_weight: weight of the candidate-ranking loss: cross-entropy of the gold among
            candidates scored exactly as at serving time (mean target log-prob, minus the
            no-case prior when ``generator_pmi``, over the softmax temperature). The plain
            language-model loss raises the gold's mean log-prob but never lowers a wrong
            multi-token name whose later tokens are predictable; this term does. 0 = LM loss only.
        lm_loss_weight: weight of the target-token language-model loss (mean NLL of the gold).
        rank_candidates: candidates per example, gold included: the case's retrieved candidates
            first, then other training labels drawn by the seed (0 = all training labels).
        generator_pmi: the scoring this adapter is trained, validated and calibrated for, and
            that serving should use with it (stored in ``rag_dx_calibration.json``): subtract the
            no-case prior (true) or not (false). None follows ``settings.diagnosis.generator_pmi``.
            PMI corrects the *base* model's preference for common or short names; a model
            fine-tuned on balanced labels has no such bias, and PMI then inflates every label it
            considers unlikely without a case (measured on Symptom2Disease: generator-only top-1
            0.27 with PMI vs 0.67 without, on training cases).
        balance: "sampling" draws cases with probability ~ 1 / class count; "loss" weights each
            example's loss by its class weight; "none" plain epochs.
        augment, augment_prob: synonym / abbreviation replacement in the case text.
        bf16: bfloat16 autocast (CUDA only; LoRA weights stay float32).
        log_every, save_every: loss-log and checkpoint intervals in optimizer steps (0 = never).
        eval_val_limit: validation cases scored at the end (0 = all).

    Example:
        >>> GeneratorRecipe(balance="oversample")
        Traceback (most recent call last):
        ...
        ValueError: generator recipe: balance must be one of ('sampling', 'loss', 'none'), got 'oversample'
    """

    seed: int = 0
    val_fraction: float = 0.1
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    lora_top_layers: int = 0
    learning_rate: float = 3e-4
    max_steps: int = 0
    epochs: float = 1.0
    micro_batch_size: int = 1
    grad_accum: int = 8
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    scheduler: str = "linear"
    no_evidence_fraction: float = 0.3
    rank_loss_weight: float = 1.0
    lm_loss_weight: float = 1.0
    rank_candidates: int = 0
    generator_pmi: bool | None = None
    balance: str = "sampling"
    augment: bool = False
    augment_prob: float = 0.5
    bf16: bool = False
    log_every: int = 5
    save_every: int = 0
    eval_val_limit: int = 0

    def __post_init__(self) -> None:
        p = "generator recipe"
        if self.lora_r < 1 or self.lora_alpha <= 0:
            raise ValueError(f"{p}: lora_r must be >= 1 and lora_alpha > 0")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"{p}: lora_dropout must be in [0, 1)")
        if not self.target_modules:
            raise ValueError(f"{p}: target_modules must name at least one module")
        if self.lora_top_layers < 0:
            raise ValueError(f"{p}: lora_top_layers must be >= 0 (0 = all layers)")
        if self.learning_rate <= 0:
            raise ValueError(f"{p}: learning_rate must be > 0")
        if self.max_steps <= 0 and self.epochs <= 0:
            raise ValueError(f"{p}: give max_steps > 0 or epochs > 0")
        if self.micro_batch_size < 1 or self.grad_accum < 1:
            raise ValueError(f"{p}: micro_batch_size and grad_accum must be >= 1")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"{p}: warmup_ratio must be in [0, 1)")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"{p}: scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if not 0 <= self.no_evidence_fraction <= 1:
            raise ValueError(f"{p}: no_evidence_fraction must be in [0, 1]")
        if self.rank_loss_weight < 0 or self.lm_loss_weight < 0 or self.rank_loss_weight + self.lm_loss_weight <= 0:
            raise ValueError(f"{p}: rank_loss_weight and lm_loss_weight must be >= 0, not both 0")
        if self.rank_candidates < 0 or self.rank_candidates == 1:
            raise ValueError(f"{p}: rank_candidates must be 0 (all labels) or >= 2")
        if self.balance not in BALANCE_MODES:
            raise ValueError(f"{p}: balance must be one of {BALANCE_MODES}, got {self.balance!r}")
        if not 0 <= self.augment_prob <= 1:
            raise ValueError(f"{p}: augment_prob must be in [0, 1]")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"{p}: val_fraction must be in [0, 1)")
        if self.max_grad_norm < 0 or self.log_every < 0 or self.save_every < 0 or self.eval_val_limit < 0:
            raise ValueError(f"{p}: max_grad_norm, log_every, save_every and eval_val_limit must be >= 0")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GeneratorRecipe":
        check_recipe_keys(cls, values, "generator")
        return cls(**values)

    def total_steps(self, n_cases: int) -> int:
        if self.max_steps > 0:
            return self.max_steps
        per_step = self.micro_batch_size * self.grad_accum
        return max(1, math.ceil(self.epochs * n_cases / per_step))


@dataclass
class SearchRecipe:
    """The ``[search]`` table: a learning-rate x rank grid of short runs, best by ``metric``."""

    learning_rates: list[float] = field(default_factory=lambda: [1e-4, 3e-4])
    ranks: list[int] = field(default_factory=lambda: [8, 16])
    max_steps: int = 30
    metric: str = "val_generator_top1"

    def __post_init__(self) -> None:
        if not self.learning_rates or not self.ranks:
            raise ValueError("search recipe: learning_rates and ranks must not be empty")
        if any(lr <= 0 for lr in self.learning_rates) or any(r < 1 for r in self.ranks):
            raise ValueError("search recipe: learning rates must be > 0 and ranks >= 1")
        if self.max_steps < 1:
            raise ValueError("search recipe: max_steps must be >= 1")
        if self.metric not in SEARCH_METRICS:
            raise ValueError(f"search recipe: metric must be one of {SEARCH_METRICS}, got {self.metric!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SearchRecipe":
        check_recipe_keys(cls, values, "search")
        return cls(**values)


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


# ============================================================================ checkpoints (no pickle)
def _save_checkpoint(ckpt_root: Path, step: int, model, optimizer, state: dict[str, Any]) -> Path:
    import torch
    from safetensors.torch import save_file

    final = ckpt_root / f"step-{step:06d}"
    with staged_directory(final, prefix=f".step-{step:06d}-") as tmp:
        model.save_pretrained(tmp / "adapter")
        tensors: dict[str, Any] = {}
        opt_state = optimizer.state_dict()
        for idx, st in opt_state["state"].items():
            for key, value in st.items():
                t = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"{idx}.{key}"] = t.detach().cpu().contiguous()
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in opt_state["param_groups"]]
        (tmp / "state.json").write_text(json.dumps({**state, "step": step, "param_groups": groups}, indent=1))
    for old in sorted(ckpt_root.glob("step-*"))[:-2]:  # keep the last two
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    done = sorted(p for p in Path(ckpt_root).glob("step-*") if (p / "state.json").is_file())
    return done[-1] if done else None


def _load_checkpoint(path: Path, model, optimizer, expect: dict[str, Any]) -> int:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from rag_dx.errors import ConfigError

    state = json.loads((path / "state.json").read_text())
    for key in ("recipe", "data_fingerprint", "base_fingerprint"):
        if state.get(key) != expect.get(key):
            raise ConfigError(
                f"checkpoint {path} was made with a different {key.replace('_', ' ')}; resume with the same "
                "recipe and data, or start afresh without --resume (or delete the checkpoint directory)"
            )
    set_peft_model_state_dict(model, load_file(str(path / "adapter" / "adapter_model.safetensors")))
    tensors = load_file(str(path / "optimizer.safetensors"))
    opt_state: dict[str, Any] = {"state": {}, "param_groups": state["param_groups"]}
    for name, value in tensors.items():
        if name.startswith("rng."):
            continue
        idx, key = name.split(".", 1)
        opt_state["state"].setdefault(int(idx), {})[key] = value
    for group in opt_state["param_groups"]:
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
    optimizer.load_state_dict(opt_state)
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return int(state["step"])


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
    device = next(model.parameters()).device
    total = max_steps or recipe.total_steps(len(cases))
    draws = plan_draws(cases, recipe, total)
    encode = ExampleEncoder(generator, cases, evidence_chars=evidence_chars, augment_prob=recipe.augment_prob)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    pad = generator.tokenizer.pad_token_id if generator.tokenizer.pad_token_id is not None else 0
    expect = {"recipe": asdict(recipe), **(fingerprints or {})}
    expect["recipe"]["max_steps_effective"] = total

    start = 0
    resumed_from = None
    if resume and checkpoint_dir is not None and (last := latest_checkpoint(checkpoint_dir)) is not None:
        start = _load_checkpoint(last, model, optimizer, expect)
        resumed_from = start
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    kept = []
    if start and log_path.is_file():
        kept = [ln for ln in log_path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= start]
    log_path.write_text("".join(ln + "\n" for ln in kept))

    model.train()
    per_step = recipe.micro_batch_size * recipe.grad_accum
    label_set = list(labels) if labels is not None else unique_labels([c.label for c in cases])
    cand_ids: dict[str, list[int]] = {}

    def ids_of(names: Sequence[str]) -> list[list[int]]:
        for name in names:
            if name not in cand_ids:
                cand_ids[name] = generator.candidate_ids([name])[0]
        return [cand_ids[n] for n in names]

    neutral = no_case_prompt(generator, evidence_chars=evidence_chars)
    neutral_ids = generator.tokenizer(neutral, add_special_tokens=False)["input_ids"]

    def priors(names: Sequence[str]) -> dict[str, float]:
        """The no-case prior of each name under the current weights (no gradient), as diagnose's PMI."""
        if not pmi or not names:
            return {n: 0.0 for n in names}
        model.eval()
        with torch.no_grad():
            vals, _ = ranking_scores(model, neutral_ids, ids_of(names), [0.0] * len(names), bf16=recipe.bf16)
        model.train()
        return dict(zip(names, vals.tolist()))

    first_loss = last_loss = None
    window: list[float] = []
    kinds: dict[str, list[float]] = {"evidence": [], "no_evidence": [], "rank_hit": []}
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
            step_loss = 0.0
            lo_step = step * recipe.grad_accum * recipe.micro_batch_size
            step_draws = draws[lo_step: lo_step + per_step]
            if recipe.rank_loss_weight > 0:
                names_of = {d.index: choose_candidates(cases[d.case], label_set, recipe.rank_candidates,
                                                       recipe.seed * 7_919 + d.index) for d in step_draws}
                prior = priors(sorted({n for v in names_of.values() for n in v}))
            for m in range(recipe.grad_accum):
                lo = (step * recipe.grad_accum + m) * recipe.micro_batch_size
                chunk = draws[lo: lo + recipe.micro_batch_size]
                if recipe.rank_loss_weight <= 0:
                    nll = target_nll(model, [encode(d) for d in chunk], device, pad_id=pad, bf16=recipe.bf16)
                    w = torch.tensor([d.weight for d in chunk], dtype=nll.dtype, device=nll.device)
                    loss = (nll * w).sum() / per_step
                    loss.backward()
                    step_loss += float((nll.detach() * w).sum()) / per_step
                    for d, v in zip(chunk, nll.detach().tolist()):
                        kinds["evidence" if d.with_evidence else "no_evidence"].append(v)
                    continue
                for d in chunk:  # one prompt per forward: its KV cache is shared by the candidates
                    names = names_of[d.index]
                    prompt_ids, _ = encode(d)
                    scores, adjusted = ranking_scores(model, prompt_ids, ids_of(names), [prior[n] for n in names],
                                                      temperature=temperature, bf16=recipe.bf16)
                    rank = -torch.log_softmax(adjusted, dim=0)[0]
                    lm = -scores[0]
                    loss_d = (recipe.lm_loss_weight * lm + recipe.rank_loss_weight * rank) * d.weight / per_step
                    loss_d.backward()
                    step_loss += float(loss_d.detach())
                    kinds["evidence" if d.with_evidence else "no_evidence"].append(float(lm.detach()))
                    kinds["rank_hit"].append(float(int(torch.argmax(adjusted.detach())) == 0))
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
                row = {"step": done, "loss": round(sum(window) / len(window), 5), "lr": lr,
                       "examples": done * per_step, "seconds": round(time.time() - t0, 1)}
                for key, vals in kinds.items():  # gold NLL by prompt kind; share of golds ranked first
                    if vals:
                        row["nll_" + key if key != "rank_hit" else "rank_top1"] = round(float(np.mean(vals)), 4)
                kinds = {k: [] for k in kinds}
                with log_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
                log.info("LoRA step %d/%d: loss %.4f, %.0f s", done, total, row["loss"], row["seconds"])
                window = []
            if checkpoint_dir is not None and recipe.save_every and done % recipe.save_every == 0 and done < total:
                _save_checkpoint(Path(checkpoint_dir), done, model, optimizer, expect)
            if on_step is not None:
                on_step(done, step_loss)
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    return TrainResult(model, total, total * per_step, first_loss, last_loss, round(time.time() - t0, 1),
                       resumed_from, log_path)


# ============================================================================ validation
@dataclass
class ValidationResult:
    metrics: dict[str, float]
    full_probs: list[list[float]] = field(default_factory=list)
    full_names: list[list[str]] = field(default_factory=list)
    golds: list[str] = field(default_factory=list)


def validate(
    assistant: Any,
    cases: Sequence[CaseEvidence],
    label_names: Sequence[str],
    exclude: dict[str, set[str]],
    *,
    modes: Sequence[str] = ("generator", "full"),
    limit: int = 0,
    progress: bool = False,
) -> ValidationResult:
    """Score validation cases through ``assistant.diagnose`` (the serving code path).

    ``generator`` mode: the case alone, every training label a candidate (like ``rag-dx eval``'s
    generator-only ablation). ``full`` mode: retrieval (own report and duplicates excluded) +
    generator blend; its probabilities are what calibration fits.
    """
    cases = list(cases)[: limit or None]
    out = ValidationResult(metrics={"val_cases": float(len(cases))})
    if not cases:
        return out
    iterator: Any = cases
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(cases, desc=f"validating ({'+'.join(modes)})", unit="case")
    g_hits, g_logp, f_hits = [], [], []
    for case in iterator:
        gold = candidate_key(case.label)
        if "generator" in modes:
            d = assistant.diagnose(case.text, mode="generator", candidates=list(label_names))
            g_hits.append(bool(d.differential) and candidate_key(d.differential[0].diagnosis) == gold)
            # log p(gold) from the unrounded scores (the displayed probabilities are rounded to 1e-4)
            scores = np.array([x.generator_score for x in d.differential], dtype=np.float64)
            z = scores / assistant.settings.diagnosis.temperature
            z = z - z.max()
            logp = z - np.log(np.exp(z).sum())
            g_logp.append(next((float(lp) for x, lp in zip(d.differential, logp) if candidate_key(x.diagnosis) == gold),
                               math.log(1e-6)))
        if "full" in modes:
            d = assistant.diagnose(case.text, mode="full", exclude_doc_ids=set(exclude.get(case.report_id, set())))
            f_hits.append(bool(d.differential) and candidate_key(d.differential[0].diagnosis) == gold)
            out.full_names.append([x.diagnosis for x in d.differential])
            out.full_probs.append([float(x.probability) for x in d.differential])
            out.golds.append(case.label)
    if g_hits:
        out.metrics["val_generator_top1"] = round(float(np.mean(g_hits)), 4)
        out.metrics["val_gold_logprob"] = round(float(np.mean(g_logp)), 4)
    if f_hits:
        out.metrics["val_full_top1"] = round(float(np.mean(f_hits)), 4)
    return out


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


def run_search(
    make_model: Callable[[GeneratorRecipe], Any],
    train_fn: Callable[[Any, GeneratorRecipe, int], Any],
    score_fn: Callable[[Any], dict[str, float]],
    recipe: GeneratorRecipe,
    search: SearchRecipe,
) -> tuple[GeneratorRecipe, list[dict[str, Any]]]:
    """Grid search over learning rate x LoRA rank with short runs; returns (best recipe, trials).

    Ties on the metric go to the smaller rank, then the smaller learning rate (cheaper, safer).
    """
    from dataclasses import replace

    trials = []
    for rank in sorted(search.ranks):
        for lr in sorted(search.learning_rates):
            trial = replace(recipe, learning_rate=float(lr), lora_r=int(rank), lora_alpha=int(2 * rank))
            model = make_model(trial)
            train_fn(model, trial, search.max_steps)
            metrics = score_fn(model)
            trials.append({"learning_rate": lr, "lora_r": rank, "steps": search.max_steps, **metrics})
            del model
    best = max(trials, key=lambda t: (t.get(search.metric, float("-inf")), -t["lora_r"], -t["learning_rate"]))
    return replace(recipe, learning_rate=float(best["learning_rate"]), lora_r=int(best["lora_r"]),
                   lora_alpha=int(2 * best["lora_r"])), trials
