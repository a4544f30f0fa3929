"""diagnose with a card's best passage in its score against the mean-vector score alone, side by side.

Two assistants load the same index version in one process; the second's cards have their passage
vectors dropped after loading (what a version built before them gets), so only the dense part of the
card score differs. They answer the same cases, order alternated, and the ratio is the number to
read on a shared machine (docs/performance.md, "A card's best passage in its score").

Usage::

    OMP_NUM_THREADS=1 python -m eval.bench.card_pooling_bench --index-dir runs/full-indexes \\
        --queries runs/protocols/notes/short_queries.csv --n 40
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial
from pathlib import Path


def main() -> None:
    from eval.bench.common import alternating, case_texts
    from rag_dx.diagnose import build_assistant
    from rag_dx.settings import Settings
    from rag_dx.topic_cards import DIRNAME, TopicCards

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--index", default="dev-outside")
    ap.add_argument("--queries", type=Path, required=True, help="a CSV with a 'text' column")
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    texts = case_texts(a.queries, a.n)

    pair = {name: build_assistant(Settings(index_dir=a.index_dir), a.index, load_generator=False)
            for name in ("best passage", "mean only")}
    for x in pair.values():
        x.diagnose(texts[0])  # warm: models, index, cards, finding extractor
    cards = pair["mean only"].retriever.index.artefact(
        DIRNAME, partial(TopicCards.load, commonness=pair["mean only"].commonness))
    if cards is None or cards.passage_vectors is None:
        raise SystemExit(f"{a.index_dir}: index '{a.index}' has no card passage vectors; rebuild it")
    print(f"{len(cards)} cards, {len(cards.passage_vectors)} describing passages")
    cards.passage_vectors = None  # this assistant's own loaded copy: the mean alone
    ms = alternating({name: x.diagnose for name, x in pair.items()}, texts)
    p50 = {k: statistics.median(v) for k, v in ms.items()}
    p95 = {k: sorted(v)[int(0.95 * len(v))] for k, v in ms.items()}
    print(f"{len(ms['mean only'])} answers each; mean only p50 {p50['mean only']:.1f} ms, p95 {p95['mean only']:.1f}; "
          f"best passage p50 {p50['best passage']:.1f} ms, p95 {p95['best passage']:.1f}; "
          f"p50 ratio {p50['best passage'] / p50['mean only']:.3f}")


if __name__ == "__main__":
    main()
