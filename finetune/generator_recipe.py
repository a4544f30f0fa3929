"""The generator fine-tune's recipe: the ``[generator]`` and ``[search]`` tables of a recipe TOML,
and the search over learning rate x rank that picks one."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from finetune.recipe_keys import check_recipe_keys

BALANCE_MODES = ("sampling", "loss", "none")
SCHEDULERS = ("linear", "cosine", "constant")
SEARCH_METRICS = ("val_generator_top1", "val_full_top1", "val_gold_logprob")


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
