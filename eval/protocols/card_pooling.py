"""How should a disease card's passage vectors be pooled? Card level, one pooling against another, paired.

Why: a card's vector was the plain mean of its describing passages, so the section with most
passages led it, usually "exams and tests" (Heart Failure: 16 of 31 passages, 3 of symptoms),
while a case describes what the patient has. This re-pools the cards of an index version from its
own docstore rows and FAISS vectors (no second embedding pass) and scores the guidelines-only dev
queries exactly as :meth:`rag_dx.topic_cards.TopicCards.scores` does (the case written out and its
denied findings removed, as `diagnose` reads it), gold matched strictly through ``concept_key``,
among the cases whose gold has a card. Prints top-1 / top-5 / MRR per pooling and what each wins and
loses against the plain mean.

Usage::

    python -m eval.protocols.card_pooling --version-dir runs/gl-only/dev-outside/versions/v0003 --runs runs
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag_dx.schemas import Chunk
    from rag_dx.topic_cards import TopicCards

#: pooling name -> (per-section weights, balanced: each section's mean counts once)
POOLINGS: dict[str, tuple[dict[str, float], bool]] = {
    "plain mean": ({}, False),
    "section-balanced": ({}, True),
    "section-balanced, symptoms x2": ({"symptoms": 2.0}, True),
    "symptoms x3 per passage": ({"symptoms": 3.0}, False),
    "tests x0.5 per passage": ({"exams and tests": 0.5}, False),
    "no tests": ({"exams and tests": 0.0}, False),
}


def read_queries(path: Path, n: int | None = None) -> list[dict[str, str]]:
    """A protocol's query rows (text, diagnosis), or a seeded sample of `n` of them (seed 13, as elsewhere)."""
    if not path.is_file():
        raise SystemExit(f"{path}: not found; eval/protocols/rebuild.sh writes the protocols' queries")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = {"text", "diagnosis"} - set(rows[0] if rows else ())
    if missing:
        raise SystemExit(f"{path}:1: missing column(s) {', '.join(sorted(missing))}")
    return random.Random(13).sample(rows, n) if n and n < len(rows) else rows


def card_args(doc: str | None) -> argparse.Namespace:
    """The card harnesses' command line: --version-dir, --runs, --s2d-sample."""
    ap = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    ap.add_argument("--version-dir", type=Path, required=True, help="an index version with guideline cards")
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="where eval/protocols/rebuild.sh wrote protocols/")
    ap.add_argument("--s2d-sample", type=int, default=300, help="lay narratives sampled (seed 13)")
    return ap.parse_args()


def stored_cards(version_dir: Path) -> "TopicCards":
    """The disease cards stored in an index version; exits naming the version when it has none."""
    from rag_dx.topic_cards import TopicCards

    manifest = version_dir / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest}: not found; --version-dir must be an index version (indexes/NAME/versions/vNNNN)")
    cards = TopicCards.load(version_dir, json.loads(manifest.read_text(encoding="utf-8")).get("cards"))
    if cards is None:
        raise SystemExit(f"{version_dir}: no disease cards")
    return cards


def version_chunks(version_dir: Path) -> tuple[list["Chunk"], np.ndarray]:
    """An index version's chunks in docstore row order and their FAISS vectors (no embedding pass).

    Opened read-only: a wrong --version-dir must not leave an empty docstore behind."""
    import faiss

    from rag_dx.schemas import Chunk

    docstore, dense = version_dir / "docstore.sqlite", version_dir / "dense.faiss"
    for f in (docstore, dense):
        if not f.is_file():
            raise SystemExit(f"{f}: not found; --version-dir must be an index version (indexes/NAME/versions/vNNNN)")
    con = sqlite3.connect(f"{docstore.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = con.execute("select chunk_id, kind, doc_id, title, text, label, icd10, source"
                           " from chunks order by row_id")
        chunks = [Chunk(chunk_id=r[0], kind=r[1], doc_id=r[2], title=r[3], text=r[4], label=r[5], icd10=r[6],
                        source=r[7] or "") for r in rows]
    finally:
        con.close()
    index = faiss.read_index(str(dense))
    return chunks, index.reconstruct_n(0, index.ntotal)


def text_scores(cards: "TopicCards", texts: list[str]) -> np.ndarray:
    """(texts x cards) TF-IDF cosines, the text half of :meth:`rag_dx.topic_cards.TopicCards.scores`, in one pass."""
    return np.asarray((cards._vectorizer.transform(texts) @ cards.matrix.T).todense())


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def main() -> None:
    from rag_dx.abbreviations import expand
    from rag_dx.candidates import concept_key
    from rag_dx.embed import load_encoder
    from rag_dx.practice.negation import query_text
    from rag_dx.settings import Settings
    from rag_dx.topic_cards import TEXT_WEIGHT, joining_chunks
    from rag_dx.vocab import Vocabulary

    a = card_args(__doc__)

    vd = a.version_dir
    chunks, vectors = version_chunks(vd)
    vocab = Vocabulary.load()
    cards = stored_cards(vd)
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key, _, section, row in joining_chunks(chunks, vocab):  # what TopicCards.build groups
        groups[key].append((section, row))
    if sorted(groups) != cards.keys:
        raise SystemExit(f"{vd}: cards regrouped from the docstore differ from the stored ones")

    def pooled(weights: dict[str, float], balanced: bool) -> np.ndarray:
        out = []
        for k in cards.keys:
            if balanced:
                by: dict[str, list[int]] = defaultdict(list)
                for s, r in groups[k]:
                    by[s].append(r)
                v = sum(weights.get(s, 1.0) * _unit(vectors[rs].mean(axis=0)) for s, rs in by.items())
            else:
                w = np.array([weights.get(s, 1.0) for s, _ in groups[k]])
                v = (vectors[[r for _, r in groups[k]]] * w[:, None]).sum(axis=0)
            out.append(_unit(v))
        return np.stack(out).astype(np.float32)

    pools = {name: pooled(*spec) for name, spec in POOLINGS.items()}
    stored = [n for n, v in pools.items() if np.abs(v - cards.vectors).max() < 1e-5]
    print(f"{len(cards)} cards; the stored vectors are the '{stored[0] if stored else 'none'}' pooling")

    sets = {"physician notes": read_queries(a.runs / "protocols/notes/queries.csv"),
            "symptom lists": read_queries(a.runs / "protocols/guidelines_only/dsp_queries.csv"),
            "lay narratives": read_queries(a.runs / "protocols/guidelines_only/s2d_queries.csv", a.s2d_sample)}
    encoder = load_encoder(Settings())
    where = {k: i for i, k in enumerate(cards.keys)}
    prior = cards.priors()
    for set_name, queries in sets.items():
        texts = [query_text(expand(q["text"])) for q in queries]
        qv = encoder.encode(texts)
        tf = text_scores(cards, texts)
        gold = [where.get(concept_key(q["diagnosis"], vocab)) for q in queries]
        has = [i for i, g in enumerate(gold) if g is not None]
        ranks = {}
        for name, v in pools.items():
            s = np.where(cards.candidate, qv @ v.T + TEXT_WEIGHT * tf + prior, -np.inf)
            ranks[name] = np.array([int((s[i] > s[i, gold[i]]).sum()) + 1 for i in has])
        print(f"\n{set_name}: {len(queries)} cases, {len(has)} with a card for the gold diagnosis")
        report(ranks, "plain mean")


def report(ranks: dict[str, np.ndarray], baseline: str) -> None:
    """Print top-1 / top-5 / MRR of each variant's gold ranks and what it wins and loses against `baseline`."""
    base = ranks[baseline]
    for name, r in ranks.items():
        print(f"  {name:38s} top-1 {np.mean(r == 1):.3f}  top-5 {np.mean(r <= 5):.3f}  MRR {np.mean(1 / r):.3f}  "
              f"top-1 won/lost {int(((r == 1) & (base != 1)).sum())}/{int(((r != 1) & (base == 1)).sum())}  "
              f"top-5 won/lost {int(((r <= 5) & (base > 5)).sum())}/{int(((r > 5) & (base <= 5)).sum())}  "
              f"ranked higher/lower {int((r < base).sum())}/{int((r > base).sum())}")


if __name__ == "__main__":
    main()
