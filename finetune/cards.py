"""Model cards (README.md) and training manifests (rag_dx_training.json) for fine-tuned models.

The manifest is the machine-readable record (base model and its fingerprint, data counts and
fingerprint, recipe, steps, seed, scores before and after); the card is the same for people.
Evaluation results measured later (``rag-dx eval``) are added to the card only
(:func:`add_eval_results`): README.md is outside the model fingerprint
(:func:`rag_dx.models.dir_fingerprint`), so documenting a model never invalidates the indexes
built with it, whereas editing the JSON manifest would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rag_dx.staging import staged_file

MANIFEST_FILE = "rag_dx_training.json"
CARD_FILE = "README.md"
EVAL_BEGIN = "<!-- rag-dx eval results: begin -->"
EVAL_END = "<!-- rag-dx eval results: end -->"


#: Packages whose versions a model's training manifest records.
MANIFEST_PACKAGES = ("rag-dx", "torch", "transformers", "sentence-transformers", "peft", "datasets", "numpy")


def base_manifest(kind: str, seed: int) -> dict[str, Any]:
    from rag_dx.provenance import provenance

    out = provenance(MANIFEST_PACKAGES)
    return {"kind": kind, "created": out["created"], "rag_dx": out["rag_dx"], "git_commit": out["git_commit"],
            "seed": seed, "python": out["python"], "packages": out["packages"]}


def write_manifest(model_dir: Path, manifest: Mapping[str, Any]) -> Path:
    path = Path(model_dir) / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return path


def read_manifest(model_dir: Path) -> dict[str, Any]:
    return json.loads((Path(model_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4f}"
    return "-" if x is None else str(x)


def _table(rows: list[tuple[str, Any, Any]], head: tuple[str, str, str]) -> str:
    lines = [f"| {head[0]} | {head[1]} | {head[2]} |", "|---|---:|---:|"]
    lines += [f"| {name} | {_fmt(a)} | {_fmt(b)} |" for name, a, b in rows]
    return "\n".join(lines)


def encoder_card(m: Mapping[str, Any]) -> str:
    t = m["training"]
    before, after = t.get("evaluator_before", {}), t.get("evaluator_after", {})
    keys = [k for k in ("accuracy@1", "accuracy@10", "mrr@10", "ndcg@10", "map@100", "recall@10") if k in after]
    data = m["data"]
    return f"""---
library_name: sentence-transformers
tags: [sentence-transformers, rag-dx, clinical, contrastive]
base_model: {m['base_model']['name']}
---

# {m['name']}: rag-dx clinical encoder

A sentence-transformers encoder fine-tuned by `rag-dx finetune encoder` for retrieving similar
clinical cases and guideline passages. Decision support only: it ranks text by similarity, it
does not diagnose.

- **Base model:** {m['base_model']['name']} (fingerprint `{m['base_model']['fingerprint'][:12]}`)
- **Objective:** MultipleNegativesRankingLoss (scale {t['recipe']['loss_scale']}), batch sampler
  `{t['recipe']['batch_sampler']}` (no duplicate texts; with `_by_group` no two rows of one
  diagnosis/topic in a batch), batch size {t['batch_size']}, learning rate {t['recipe']['learning_rate']}.
- **Steps:** {t['steps']} ({t['epochs_seen']} epochs), seed {m['seed']}, {t['seconds']} s on `{m['device']}`.
- **Training data:** {data['n_train_reports']} labeled reports from {', '.join(data['sources']) or '-'}
  ({data['n_labels']} diagnoses; {data['n_validation_reports']} held out for validation;
  {data['n_excluded_holdout']} excluded as the evaluation holdout), guidelines: {', '.join(data['guideline_sources']) or 'none'}.
  Pairs: {', '.join(f'{k} {v}' for k, v in t['pairs'].items())}.
- **Data fingerprint:** `{data['fingerprint'][:16]}`

## Held-out retrieval (InformationRetrievalEvaluator)

Queries: the validation reports; corpus: the training reports; relevant: same diagnosis.

{_table([(k, before.get(k), after.get(k)) for k in keys], ('metric', 'base', 'fine-tuned'))}

## Use

```toml
# rag-dx.toml
encoder = "{m['name']}"   # path to this directory
```

Indexes record the encoder fingerprint: rebuild them with this encoder
(`rag-dx index rebuild --name NAME`) before serving; an index built with another encoder is refused.

{EVAL_BEGIN}
{EVAL_END}

Machine-readable record: `{MANIFEST_FILE}`; loss curve: `loss_log.jsonl`.
"""


def adapter_card(m: Mapping[str, Any]) -> str:
    t, data, r = m["training"], m["data"], m["recipe"]
    v_before, v_after = m.get("validation", {}).get("before", {}), m.get("validation", {}).get("after", {})
    keys = [k for k in ("val_generator_top1", "val_gold_logprob", "val_full_top1") if k in v_after or k in v_before]
    cal = m.get("calibration") or {}
    cal_text = "not fitted"
    if cal.get("temperature") is not None:
        cb, ca = cal["validation"]["before"], cal["validation"]["after"]
        cal_text = (f"T = {cal['temperature']} (`rag_dx_calibration.json`), fitted on {cb['n']} validation cases: "
                    f"ECE {cb['ece']} -> {ca['ece']}, NLL {cb['nll']} -> {ca['nll']}")
    search = m.get("search") or []
    search_text = ""
    if search:
        rows = "\n".join(f"| {s['learning_rate']} | {s['lora_r']} | {s['steps']} | "
                         f"{_fmt(s.get('val_generator_top1'))} | {_fmt(s.get('val_gold_logprob'))} |" for s in search)
        search_text = ("\n## Hyperparameter search\n\n| lr | rank | steps | val generator top-1 | val gold log p |\n"
                       "|---:|---:|---:|---:|---:|\n" + rows + "\n")
    return f"""---
library_name: peft
tags: [lora, rag-dx, clinical, candidate-scoring]
base_model: {m['base_model']['name']}
---

# {m['name']}: rag-dx LoRA candidate scorer

A LoRA adapter for the rag-dx generator, trained by `rag-dx finetune generator` on exactly the
prompt the diagnosis step scores (`rag_dx.generate.HFGenerator.build_prompt`: system prompt, case,
up to {m['prompt']['prompt_evidence']} retrieved evidence passages of {m['prompt']['evidence_chars']}
characters) with the target `" " + diagnosis + eos`; loss on the target tokens only. Each case's
evidence was retrieved from index `{m['index']['name']}` with the case's own report and its
duplicates excluded. Decision support only: it re-ranks diagnoses that retrieval proposes.

- **Base model:** {m['base_model']['name']} (fingerprint `{m['base_model']['fingerprint'][:12]}`)
- **LoRA:** r={r['lora_r']}, alpha={r['lora_alpha']}, dropout={r['lora_dropout']}, modules
  {', '.join(r['target_modules'])}, layers: {'top ' + str(r['lora_top_layers']) if r['lora_top_layers'] else 'all'}
- **Training:** {t['steps']} steps x {r['micro_batch_size'] * r['grad_accum']} examples, lr {r['learning_rate']}
  ({r['scheduler']}), loss = {r['lm_loss_weight']} x target-token NLL + {r['rank_loss_weight']} x ranking
  cross-entropy among {r['rank_candidates'] or 'all'} candidates scored as `diagnose` scores them,
  {int(r['no_evidence_fraction'] * 100)}% prompts without evidence, class balance
  `{r['balance']}`, augmentation {'on' if r['augment'] else 'off'}, seed {m['seed']}, {t['seconds']} s on `{m['device']}`;
  loss {_fmt(t['first_loss'])} -> {_fmt(t['last_loss'])} (`loss_log.jsonl`).
- **Data:** {data['n_train_reports']} training reports, {data['n_validation_reports']} validation, from
  {', '.join(data['sources'])} ({data['n_labels']} diagnoses), {data['n_excluded_holdout']} excluded as the
  evaluation holdout; data fingerprint `{data['fingerprint'][:16]}`.
- **Scoring:** `generator_pmi = {str(m['prompt'].get('generator_pmi')).lower()}` (trained, validated and calibrated
  this way; serve with the same setting, recorded in `rag_dx_calibration.json`).
- **Calibration:** {cal_text}.

## Validation (through `Assistant.diagnose`)

{_table([(k, v_before.get(k), v_after.get(k)) for k in keys], ('metric', 'base generator', 'with adapter'))}

`val_generator_top1`: generator-only mode (case alone, all training diagnoses as candidates);
`val_full_top1`: full pipeline (retrieval + generator blend). The base generator is scored with
the settings' `generator_pmi`, the adapter with its own.
{search_text}
## Use

```toml
# rag-dx.toml
adapter = "{m['name']}"   # path to this directory; the base generator stays as configured
```

{EVAL_BEGIN}
{EVAL_END}

Machine-readable record: `{MANIFEST_FILE}`. No pickled files: peft config + safetensors only.
"""


def write_card(model_dir: Path, text: str) -> Path:
    path = Path(model_dir) / CARD_FILE
    path.write_text(text, encoding="utf-8")
    return path


def add_eval_results(model_dir: Path, markdown: str) -> Path:
    """Put ``markdown`` (e.g. a base-vs-fine-tuned table from ``rag-dx eval``) into the card.

    Replaces the previous results between the card's markers (appends them if missing).
    """
    path = Path(model_dir) / CARD_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = f"{EVAL_BEGIN}\n## Evaluation (`rag-dx eval`)\n\n{markdown.strip()}\n{EVAL_END}"
    if EVAL_BEGIN in text and EVAL_END in text:
        head, rest = text.split(EVAL_BEGIN, 1)
        tail = rest.split(EVAL_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with staged_file(path) as tmp:  # the card of a model in use: never leave it half-written
        tmp.write_text(text, encoding="utf-8")
    return path


def add_comparison_to_cards(metrics: Mapping[str, Any], variants: Sequence[Any], *, command: str = "") -> list[Path]:
    """Write a ``rag-dx eval --compare-*`` run's paired table into each compared model's card.

    Each card gets the rows whose system used that model (the encoder's card: ``*+encoder*``;
    the adapter's: ``*adapter*``), with the split and the command, so the numbers travel with
    the model directory they describe.
    """
    from eval.report import COMPARISON_HEADER, comparison_rows

    rows = comparison_rows(metrics)
    setup = metrics.get("setup") or {}
    written: list[Path] = []
    targets: dict[str, str] = {}
    for v in variants:
        if v.encoder:
            targets.setdefault(v.encoder, "encoder")
        if v.adapter:
            targets.setdefault(v.adapter, "adapter")
    for model_dir, part in targets.items():
        mine = [r for r in rows if part in r[0].split("+", 1)[-1]]
        if not mine:
            continue
        lines = ["| " + " | ".join(COMPARISON_HEADER) + " |", "|" + "---|" * len(COMPARISON_HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in mine]
        note = (f"Test split: {setup.get('mode', '?')} of {setup.get('labeled_file', '?')} "
                f"({setup.get('test_cases', '?')} test cases, train part {setup.get('train_cases', '?')}, "
                f"seed {setup.get('seed', '?')}); `vs` is the configured model on the same cases. "
                "Top-1 delta: paired bootstrap 95% CI; McNemar: exact test on discordant cases.")
        if command:
            note += f"\n\nReproduce: `{command}`"
        written.append(add_eval_results(Path(model_dir), "\n".join(lines) + "\n\n" + note))
    return written
