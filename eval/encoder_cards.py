"""Does an encoder help the guidelines-only dev protocol? Card-level dense ranking, two encoders, paired.

Why this and not a full ``rag-dx eval``: deciding which encoder is the default needs the part of
the pipeline the encoder changes, measured the same way for both encoders on the same cases,
cheaply enough to run on 2 cores. The unit is the disease card of the guidelines-only protocol:
every MedQuAD topic that names a diagnosis (normalized with :func:`rag_dx.candidates.diagnosis_name`
and merged by :func:`rag_dx.candidates.concept_key`) becomes one card, its name followed by its
symptom answers (else its information answers), 1,500 characters. Queries are the protocol's
Symptom2Disease (S2D) and disease-symptom (DSP) cases with denied findings removed
(:func:`rag_dx.practice.negation.query_text`), gold matched strictly through ``concept_key``.
Each case is ranked against every card by cosine similarity (optionally with the rare-source prior
of the card scorer), and top-1 / top-5 of encoder B minus encoder A is reported with a paired
bootstrap CI and McNemar's p (:func:`rag_dx.metrics.paired_difference`).

Card vectors are cached under ``--cache`` by encoder fingerprint and card-text hash, so comparing
a new model with the bundled one encodes the cards once per model.

Usage::

    python -m eval.encoder_cards --b models/clinical-minilm --out runs/clinical_encoder/eval
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

RARE_SOURCES = frozenset({"GHR", "GARD"})
QUERY_SETS = ("dsp_queries.csv", "s2d_queries.csv")


def _names_cache_path(medquad: Path, cache: Path | None) -> Path | None:
    """Where the topic -> (diagnosis name, concept key) map is kept: keyed by the MedQuAD file and
    the normalization code, because naming 10k topics takes minutes and changes only with them."""
    if cache is None:
        return None
    import rag_dx.candidates
    import rag_dx.vocab
    import rag_dx.vocab_tables

    digest = hashlib.sha256(Path(medquad).read_bytes())
    for module in (rag_dx.candidates, rag_dx.vocab, rag_dx.vocab_tables):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update((Path(str(rag_dx.vocab.__file__)).parent / "data" / "curated_synonyms.tsv").read_bytes())
    return cache / f"names-{digest.hexdigest()[:16]}.json"


def build_cards(medquad: Path, vocabulary: Any, cache: Path | None = None) -> tuple[list[str], list[str], np.ndarray]:
    """(concept keys, card texts, rare-source flags), one card per diagnosis concept, in first-seen order."""
    from rag_dx.candidates import concept_key, diagnosis_name

    names_path = _names_cache_path(medquad, cache)
    names: dict[str, tuple[str | None, str | None]] = {}
    if names_path is not None and names_path.is_file():
        names = {k: (v[0], v[1]) for k, v in json.loads(names_path.read_text(encoding="utf-8")).items()}
    cards: dict[str, dict[str, Any]] = collections.defaultdict(
        lambda: {"sym": [], "info": [], "names": set(), "sources": collections.Counter()})
    with gzip.open(medquad, "rt", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            row = json.loads(line)
            focus = row.get("focus") or ""
            if focus not in names:
                name = diagnosis_name(focus, vocabulary)
                names[focus] = (name, concept_key(name, vocabulary) if name else None)
            name, key = names[focus]
            if name is None or key is None:
                continue
            if "answer" not in row or "qtype" not in row:
                raise ValueError(f"{medquad}: line {line_no}: a row needs 'answer' and 'qtype'")
            card = cards[key]
            card["names"].add(name)
            card["sources"][row.get("source", "")] += 1
            if row["qtype"] in ("symptoms", "information"):
                card["sym" if row["qtype"] == "symptoms" else "info"].append(row["answer"])
    if names_path is not None and not names_path.is_file():
        names_path.parent.mkdir(parents=True, exist_ok=True)
        names_path.write_text(json.dumps(names), encoding="utf-8")
    keys = [k for k, c in cards.items() if c["sym"] or c["info"]]
    texts = [sorted(cards[k]["names"])[0] + ": " + " ".join(cards[k]["sym"] or cards[k]["info"])[:1500] for k in keys]
    rare = np.array([all(s in RARE_SOURCES for s in cards[k]["sources"]) for k in keys])
    return keys, texts, rare


def encode_cached(model_dir: Path | None, texts: Sequence[str], cache: Path) -> np.ndarray:
    """Unit vectors of ``texts`` with the encoder at ``model_dir`` (None: bundled), cached on disk."""
    from rag_dx.embed import SentenceEncoder
    from rag_dx.models import bundled_encoder_dir, dir_fingerprint

    fingerprint = dir_fingerprint(model_dir or bundled_encoder_dir())
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
    path = cache / f"{fingerprint[:16]}-{digest[:16]}.npy"
    if path.is_file():
        return np.load(path)
    encoder = SentenceEncoder.load(model_dir)
    vectors = encoder.encode(list(texts), batch_size=32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def rank_hits(queries: np.ndarray, cards: np.ndarray, keys: Sequence[str], gold: Sequence[str], rare: np.ndarray,
              prior: float) -> dict[str, np.ndarray]:
    """Per-case 0/1 hits at 1 and 5 (strict: same concept key)."""
    return hits_at(queries @ cards.T + prior * rare[None, :], keys, gold)


def hits_at(scores: np.ndarray, keys: Sequence[str], gold: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-case 0/1 hits at 1 and 5 of a (cases, cards) score matrix (strict: same concept key)."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    top1 = np.array([keys[t[0]] == g for t, g in zip(top, gold)], dtype=float)
    top5 = np.array([g in {keys[i] for i in t} for t, g in zip(top, gold)], dtype=float)
    return {"top1": top1, "top5": top5}


def compare(a: Path | None, b: Path, protocol_dir: Path, medquad: Path, cache: Path,
            priors: Sequence[float] = (0.0, -0.05)) -> dict[str, Any]:
    """Encoder A (None = bundled) against encoder B on both query sets; see the module docstring."""
    from rag_dx.candidates import concept_key
    from rag_dx.metrics import paired_difference
    from rag_dx.practice.negation import query_text
    from rag_dx.vocab import Vocabulary

    t0 = time.time()
    vocabulary = Vocabulary.load()
    keys, texts, rare = build_cards(medquad, vocabulary, cache)
    vectors = {"a": encode_cached(a, texts, cache), "b": encode_cached(b, texts, cache)}
    result: dict[str, Any] = {"encoder_a": str(a or "bundled"), "encoder_b": str(b), "n_cards": len(keys),
                              "n_rare_cards": int(rare.sum()), "sets": {}}
    for name in QUERY_SETS:
        with open(protocol_dir / name, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        gold = [concept_key(r["diagnosis"], vocabulary) for r in rows]
        qtexts = [query_text(r["text"]) for r in rows]
        q = {side: encode_cached(a if side == "a" else b, qtexts, cache) for side in ("a", "b")}
        per_prior = {}
        for prior in priors:
            ha = rank_hits(q["a"], vectors["a"], keys, gold, rare, prior)
            hb = rank_hits(q["b"], vectors["b"], keys, gold, rare, prior)
            per_prior[str(prior)] = {
                m: {"a": float(ha[m].mean()), "b": float(hb[m].mean()), "diff": paired_difference(ha[m], hb[m])}
                for m in ("top1", "top5")}
        result["sets"][name.removesuffix("_queries.csv")] = {"n": len(rows), "by_prior": per_prior}
    result["seconds"] = round(time.time() - t0, 1)
    return result


def to_markdown(result: dict[str, Any]) -> str:
    lines = [f"Card-level guidelines-only protocol: {result['n_cards']} MedQuAD disease cards "
             f"({result['n_rare_cards']} rare-source only); A = {result['encoder_a']}, B = {result['encoder_b']}.",
             "", "| queries | prior | metric | A | B | B - A [95% CI] | McNemar p |", "|---|---:|---|---:|---:|---|---:|"]
    for name, s in result["sets"].items():
        for prior, metrics in s["by_prior"].items():
            for m, v in metrics.items():
                d = v["diff"]
                lines.append(f"| {name} (n={s['n']}) | {prior} | {m} | {v['a']:.3f} | {v['b']:.3f} | "
                             f"{d['delta']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] | {d['mcnemar_p']:.3g} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", type=Path, default=None, help="encoder A (default: the bundled MiniLM)")
    parser.add_argument("--b", type=Path, required=True, help="encoder B (a model directory)")
    parser.add_argument("--protocol-dir", type=Path, default=Path("runs/protocols/guidelines_only"))
    parser.add_argument("--medquad", type=Path, default=Path("../shared/data/medquad/medquad_answered.jsonl.gz"))
    parser.add_argument("--cache", type=Path, default=Path("runs/encoder_cards_cache"))
    parser.add_argument("--out", type=Path, required=True, help="directory for result.json and result.md")
    parser.add_argument("--card", action="store_true", help="also write the table into B's model card")
    args = parser.parse_args(argv)
    result = compare(args.a, args.b, args.protocol_dir, args.medquad, args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    markdown = to_markdown(result)
    (args.out / "result.md").write_text(markdown + "\n", encoding="utf-8")
    if args.card:
        from finetune.clinical_encoder import set_card_results

        set_card_results(args.b, markdown + f"\n\nReproduce: `python -m eval.encoder_cards --b {args.b} --out {args.out}`")
    print(markdown)


if __name__ == "__main__":
    main()
