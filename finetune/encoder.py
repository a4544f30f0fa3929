"""Contrastive fine-tuning of the retrieval encoder with the sentence-transformers trainer.

Loss: :class:`~sentence_transformers.sentence_transformer.losses.MultipleNegativesRankingLoss`
(in-batch negatives). Batches: sentence-transformers' ``NoDuplicatesBatchSampler``, by default
extended (:class:`GroupedNoDuplicatesBatchSampler`) so that two rows with the same diagnosis (or
guideline topic) never share a batch: with 24 diagnoses and 24 rows a batch, plain in-batch
negatives would otherwise push apart cases that *should* be neighbours. Evaluation: an
:class:`~sentence_transformers.sentence_transformer.evaluation.InformationRetrievalEvaluator`
whose queries are held-out (validation) reports and whose corpus is the training reports,
relevant = same diagnosis, run before and after training.

The output directory is a plain sentence-transformers model (``model.save``) plus
``rag_dx_training.json`` (manifest), ``loss_log.jsonl`` and a model card ``README.md``. Trainer
checkpoints (which transformers pickles) live in a separate checkpoint directory and never in the
model directory, so nothing in it needs ``torch.load``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from finetune.pairs import LabeledReports, Pair
from rag_dx.labels import candidate_key
from finetune.recipe_keys import check_recipe_keys
from rag_dx.staging import staged_directory

log = logging.getLogger(__name__)

SAMPLERS = ("no_duplicates_by_group", "no_duplicates")


@dataclass
class EncoderRecipe:
    """Hyperparameters of the encoder fine-tune (the ``[encoder]`` table of a recipe TOML).

    Args:
        seed: every random choice (pairs, batches, init) derives from it.
        val_fraction: group-safe share of the reports held out for the IR evaluator.
        epochs / max_steps: training length (``max_steps > 0`` wins).
        batch_size: rows per batch; with the grouped sampler it is capped at the number of
            distinct groups (a batch cannot hold more distinct diagnoses than exist).
        learning_rate, warmup_ratio, weight_decay: AdamW and linear schedule.
        max_seq_length: truncation while training; the saved model keeps the base model's limit.
        case_pairs_per_report: case <-> same-diagnosis case pairs per report.
        description_pairs: add case <-> diagnosis description pairs.
        max_guideline_pairs: cap on public-text pairs (MedQuAD etc.) from ``--guidelines``.
        loss_scale: MultipleNegativesRankingLoss scale (1 / temperature).
        batch_sampler: "no_duplicates_by_group" or "no_duplicates".
        bf16: bfloat16 mixed precision (CUDA only).
        log_every: trainer logging interval (steps).

    Example:
        >>> EncoderRecipe(epochs=0, max_steps=0)
        Traceback (most recent call last):
        ...
        ValueError: encoder recipe: give epochs > 0 or max_steps > 0
    """

    seed: int = 0
    val_fraction: float = 0.1
    epochs: float = 1.0
    max_steps: int = 0
    batch_size: int = 24
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_seq_length: int = 128
    case_pairs_per_report: int = 2
    description_pairs: bool = True
    max_guideline_pairs: int = 1000
    loss_scale: float = 20.0
    batch_sampler: str = "no_duplicates_by_group"
    bf16: bool = False
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("encoder recipe: give epochs > 0 or max_steps > 0")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"encoder recipe: val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.batch_size < 2:
            raise ValueError("encoder recipe: batch_size must be >= 2 (in-batch negatives need company)")
        if self.learning_rate <= 0:
            raise ValueError("encoder recipe: learning_rate must be > 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError("encoder recipe: warmup_ratio must be in [0, 1)")
        if self.max_seq_length < 8:
            raise ValueError("encoder recipe: max_seq_length must be >= 8")
        if self.batch_sampler not in SAMPLERS:
            raise ValueError(f"encoder recipe: batch_sampler must be one of {SAMPLERS}, got {self.batch_sampler!r}")
        if self.loss_scale <= 0:
            raise ValueError("encoder recipe: loss_scale must be > 0")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EncoderRecipe":
        check_recipe_keys(cls, values, "encoder")
        return cls(**values)


def _grouped_sampler_class():
    """Built lazily so importing this module does not import sentence-transformers."""
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    class GroupedNoDuplicatesBatchSampler(NoDuplicatesBatchSampler):
        """``NoDuplicatesBatchSampler`` that also treats each row's group key as one of its values.

        Two rows are then never in one batch if they share a text *or* a group (diagnosis), so
        no case is trained to be far from a case with the same diagnosis. The group keys live
        only in the sampler's view of the dataset; the loss never sees them.
        """

        def __init__(self, dataset, *args, groups: Sequence[str] = (), **kwargs) -> None:
            super().__init__(dataset, *args, **kwargs)
            if len(groups) != len(self.dataset):
                raise ValueError("one group key per training row is required")
            self.dataset = self.dataset.add_column("__group", [f"\x00group:{g}" for g in groups])

    return GroupedNoDuplicatesBatchSampler


def build_ir_evaluator(queries: LabeledReports, corpus: LabeledReports, name: str = "val"):
    """Queries = held-out reports, corpus = training reports, relevant = same diagnosis."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    by_label: dict[str, set[str]] = {}
    for r in corpus.reports:
        by_label.setdefault(candidate_key(r.diagnosis or ""), set()).add(r.report_id)
    q = {r.report_id: r.text for r in queries.reports if candidate_key(r.diagnosis or "") in by_label}
    relevant = {qid: by_label[candidate_key(r.diagnosis or "")] for r in queries.reports for qid in [r.report_id] if qid in q}
    return InformationRetrievalEvaluator(
        queries=q, corpus={r.report_id: r.text for r in corpus.reports}, relevant_docs=relevant, name=name,
        accuracy_at_k=[1, 5, 10], precision_recall_at_k=[10], mrr_at_k=[10], ndcg_at_k=[10], map_at_k=[100],
        write_csv=False, show_progress_bar=False, batch_size=64,
    )


def _summary(scores: dict[str, float]) -> dict[str, float]:
    """The evaluator's metrics with short names (cosine similarity)."""
    out = {}
    for key, value in scores.items():
        short = key.split("_cosine_", 1)[1] if "_cosine_" in key else key
        out[short] = round(float(value), 4)
    return out


def train_encoder(
    base: str | Path,
    pairs: Sequence[Pair],
    out: Path,
    recipe: EncoderRecipe,
    *,
    evaluator: Any | None = None,
    device: str = "cpu",
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune a sentence-transformers model on ``pairs`` and save it to ``out``.

    Args:
        base: a local sentence-transformers model directory.
        pairs: (anchor, positive, group) rows; see :mod:`finetune.pairs`.
        out: model directory to write (must not exist; written through a temporary sibling).
        evaluator: run before and after training; its scores go into the returned summary.
        checkpoint_dir: where trainer checkpoints go (only with ``resume``-able runs); default a
            temporary directory removed at the end.
        resume: continue from the last checkpoint in ``checkpoint_dir``.

    Returns:
        A summary dict (steps, losses, evaluator before/after, seconds) for the manifest.

    Example:
        >>> summary = train_encoder(bundled_encoder_dir(), pairs, Path("models/enc"),
        ...                         EncoderRecipe(max_steps=10))  # doctest: +SKIP
    """
    import tempfile

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    if not pairs:
        raise ValueError("no training pairs: need labeled reports with at least two per diagnosis, or guidelines")
    t0 = time.time()
    torch.manual_seed(recipe.seed)
    model = SentenceTransformer(str(base), device=device, local_files_only=True)
    serve_max_len = model.max_seq_length
    model.max_seq_length = min(serve_max_len or recipe.max_seq_length, recipe.max_seq_length)

    before = _summary(evaluator(model)) if evaluator is not None else {}
    dataset = Dataset.from_dict({"anchor": [p.anchor for p in pairs], "positive": [p.positive for p in pairs]})
    groups = [p.group for p in pairs]
    batch_size = recipe.batch_size
    if recipe.batch_sampler == "no_duplicates_by_group":
        batch_size = max(2, min(batch_size, len(set(groups))))
        sampler: Any = partial(_grouped_sampler_class(), groups=groups)
    else:
        sampler = BatchSamplers.NO_DUPLICATES
    steps_per_epoch = max(1, math.ceil(len(pairs) / batch_size))
    max_steps = recipe.max_steps if recipe.max_steps > 0 else max(1, int(round(recipe.epochs * steps_per_epoch)))

    own_tmp = checkpoint_dir is None
    ckpt = Path(checkpoint_dir) if checkpoint_dir else Path(tempfile.mkdtemp(prefix="rag-dx-enc-ckpt-"))
    args = _training_args(recipe, ckpt, max_steps=max_steps, batch_size=batch_size, sampler=sampler, device=device,
                          progress=progress, save=not own_tmp)
    loss = MultipleNegativesRankingLoss(model, scale=recipe.loss_scale)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
    try:
        last = None
        if resume and ckpt.is_dir():
            done = sorted(ckpt.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
            last = str(done[-1]) if done else None
        trainer.train(resume_from_checkpoint=last)
        history = [dict(h) for h in trainer.state.log_history]
        steps = int(trainer.state.global_step)
    finally:
        if own_tmp:
            shutil.rmtree(ckpt, ignore_errors=True)
    model.max_seq_length = serve_max_len
    after = _summary(evaluator(model)) if evaluator is not None else {}
    _save_model(model, Path(out), history)
    losses = [h["loss"] for h in history if "loss" in h]
    return {
        "steps": steps,
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "epochs_seen": round(steps / steps_per_epoch, 3),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "evaluator_before": before,
        "evaluator_after": after,
        "seconds": round(time.time() - t0, 1),
        "recipe": asdict(recipe),
        "pairs": dict(sorted(_count_kinds(pairs).items())),
    }


def _training_args(recipe: EncoderRecipe, ckpt: Path, *, max_steps: int, batch_size: int, sampler: Any, device: str,
                   progress: bool, save: bool) -> Any:
    from sentence_transformers import SentenceTransformerTrainingArguments

    return SentenceTransformerTrainingArguments(
        output_dir=str(ckpt),
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        learning_rate=recipe.learning_rate,
        warmup_steps=recipe.warmup_ratio,
        weight_decay=recipe.weight_decay,
        lr_scheduler_type="linear",
        batch_sampler=sampler,
        seed=recipe.seed,
        data_seed=recipe.seed,
        bf16=recipe.bf16 and device.startswith("cuda"),
        use_cpu=not device.startswith("cuda"),
        logging_steps=max(1, recipe.log_every),
        logging_first_step=True,
        save_strategy="steps" if save else "no",
        save_steps=max(1, max_steps // 4),
        save_total_limit=1,
        eval_strategy="no",
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=0,
        dataloader_drop_last=False,
    )


def _save_model(model: Any, out: Path, history: list[dict[str, Any]]) -> None:
    """The model in sentence-transformers layout with its loss log; no trainer pickles."""
    with staged_directory(out) as tmp:
        model.save(str(tmp))
        for stray in ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"):
            (tmp / stray).unlink(missing_ok=True)
        with (tmp / "loss_log.jsonl").open("w", encoding="utf-8") as fh:
            for row in history:
                fh.write(json.dumps({k: v for k, v in row.items() if isinstance(v, (int, float, str))}) + "\n")


def _count_kinds(pairs: Sequence[Pair]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in pairs:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return counts


def build_pairs(
    train: LabeledReports,
    recipe: EncoderRecipe,
    *,
    guidelines: Sequence[Any] = (),
    vocabulary: Any | None = None,
) -> list[Pair]:
    """All training pairs for a recipe, in a seeded order."""
    from finetune.pairs import description_pairs, guideline_pairs, report_pairs

    rng = np.random.default_rng(recipe.seed)
    pairs = report_pairs(train, recipe.case_pairs_per_report, rng)
    if recipe.description_pairs:
        pairs += description_pairs(train, vocabulary)
    pairs += guideline_pairs(list(guidelines), recipe.max_guideline_pairs, rng)
    order = rng.permutation(len(pairs))
    return [pairs[int(i)] for i in order]
