"""Which diseases have a card, and how the dev queries rank them: an index version's stored cards against
the cards this code builds from the same chunks. Card level, paired.

Why: which guideline topics become cards is decided by naming rules (`rag_dx.candidates.diagnosis_name`,
the section of each passage, the curated synonyms); a change to them only reaches the cards when an index
is rebuilt. This rebuilds the cards of one version in memory from its own docstore rows and FAISS vectors
(no embedding pass), lists the cards gained and lost, and scores the guidelines-only dev queries against
both card sets exactly as :meth:`rag_dx.topic_cards.TopicCards.scores` does (the case written out, its
denied findings removed, finding words in the TF-IDF half), gold matched through ``concept_key`` with this
code's vocabulary. A gold without a card counts as not found, so coverage gains show.

Usage::

    python -m eval.protocols.card_coverage --version-dir runs/gl-only/dev-outside/versions/v0003 --runs runs
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rag_dx.topic_cards import TopicCards

MISSING = 10**6


def main() -> None:
    from eval.protocols.card_pooling import card_args, read_queries, stored_cards, text_scores, version_chunks
    from rag_dx.abbreviations import expand
    from rag_dx.candidates import concept_key
    from rag_dx.embed import load_encoder
    from rag_dx.practice.negation import query_text
    from rag_dx.settings import Settings
    from rag_dx.topic_cards import TEXT_WEIGHT, TopicCards, with_finding_words
    from rag_dx.vocab import Vocabulary

    a = card_args(__doc__)
    vd = a.version_dir
    stored = stored_cards(vd)
    chunks, vectors = version_chunks(vd)
    vocab = Vocabulary.load()
    rebuilt = TopicCards.build(chunks, vectors, vocab)
    if rebuilt is None:
        raise SystemExit(f"{vd}: this code builds no cards from the version's chunks")
    print(f"{len(stored)} stored cards, {len(rebuilt)} rebuilt")
    print("  gained:", ", ".join(sorted(set(rebuilt.names) - set(stored.names))) or "-")
    print("  lost:", ", ".join(sorted(set(stored.names) - set(rebuilt.names))) or "-")

    encoder = load_encoder(Settings())
    sets = {"physician notes": read_queries(a.runs / "protocols/notes/queries.csv"),
            "symptom lists": read_queries(a.runs / "protocols/guidelines_only/dsp_queries.csv"),
            "lay narratives": read_queries(a.runs / "protocols/guidelines_only/s2d_queries.csv", a.s2d_sample)}
    for set_name, queries in sets.items():
        texts = [query_text(expand(q["text"])) for q in queries]
        qv = encoder.encode(texts)
        worded = [with_finding_words(t) for t in texts]
        gold = [concept_key(q["diagnosis"], vocab) for q in queries]
        ranks = {name: _ranks(cards, cards.dense_scores(qv) + TEXT_WEIGHT * text_scores(cards, worded) + cards.priors(),
                              gold)
                 for name, cards in (("stored", stored), ("rebuilt", rebuilt))}
        print(f"\n{set_name}: {len(queries)} cases; gold has a card: "
              + ", ".join(f"{n} {int((r < MISSING).sum())}" for n, r in ranks.items()))
        base, new = ranks["stored"], ranks["rebuilt"]
        for k in (1, 5):
            print(f"  top-{k}: {np.mean(base <= k):.3f} -> {np.mean(new <= k):.3f}  "
                  f"won/lost {int(((new <= k) & (base > k)).sum())}/{int(((base <= k) & (new > k)).sum())}")
        for i in np.flatnonzero((np.minimum(base, 6) != np.minimum(new, 6)) & ((base <= 5) | (new <= 5))):
            show = lambda r: "no card" if r >= MISSING else str(r)  # noqa: E731
            print(f"    {queries[i]['diagnosis']}: {show(base[i])} -> {show(new[i])}")


def _ranks(cards: "TopicCards", score: np.ndarray, gold: list[str]) -> np.ndarray:
    """Each case's gold rank among the candidate cards; MISSING when the gold has no candidate card."""
    where = {k: i for i, k in enumerate(cards.keys)}
    s = np.where(cards.candidate, score, -np.inf)
    out = np.full(len(gold), MISSING)
    for i, key in enumerate(gold):
        g = where.get(key)
        if g is not None and cards.candidate[g]:
            out[i] = int((s[i] > s[i, g]).sum()) + 1
    return out


if __name__ == "__main__":
    main()
