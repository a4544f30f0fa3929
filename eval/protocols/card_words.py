"""Should the disease cards' TF-IDF read the synonyms of a case's findings? Card level, paired.

Why: guideline pages and cases name the same finding in different words ("orthopnea" against
"shortness of breath when lying down", "my skin itches" against "pruritus"). This scores the
guidelines-only dev queries against an index version's stored cards as
:meth:`rag_dx.topic_cards.TopicCards.scores` does, three ways: the case as `diagnose` reads it
(abbreviations written out, denied findings removed), its TF-IDF text followed by the HPO names and
synonyms of its present findings (:func:`rag_dx.topic_cards.with_finding_words`), and the same words
given to the encoder too. Gold matched by concept key among cases whose gold has a card.

Usage::

    python -m eval.protocols.card_words --version-dir runs/gl-only/dev-outside/versions/v0003 --runs runs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    from eval.protocols.card_pooling import read_queries, report, text_scores
    from rag_dx.abbreviations import expand
    from rag_dx.candidates import concept_key
    from rag_dx.embed import load_encoder
    from rag_dx.practice.negation import query_text
    from rag_dx.settings import Settings
    from rag_dx.topic_cards import TEXT_WEIGHT, TopicCards, with_finding_words
    from rag_dx.vocab import Vocabulary

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--version-dir", type=Path, required=True)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--s2d-sample", type=int, default=300)
    a = ap.parse_args()
    cards = TopicCards.load(a.version_dir, json.loads((a.version_dir / "manifest.json").read_text())["cards"])
    if cards is None:
        raise SystemExit(f"{a.version_dir}: no disease cards")
    vocab, encoder = Vocabulary.load(), load_encoder(Settings())
    where = {k: i for i, k in enumerate(cards.keys)}
    prior = cards.priors()

    def tfidf(texts: list[str]) -> np.ndarray:
        return text_scores(cards, texts)

    sets = {"physician notes": read_queries(a.runs / "protocols/notes/queries.csv"),
            "symptom lists": read_queries(a.runs / "protocols/guidelines_only/dsp_queries.csv"),
            "lay narratives": read_queries(a.runs / "protocols/guidelines_only/s2d_queries.csv", a.s2d_sample)}
    for set_name, queries in sets.items():
        plain = [query_text(expand(q["text"])) for q in queries]
        worded = [with_finding_words(t) for t in plain]
        qv, qv_worded = encoder.encode(plain), encoder.encode(worded)
        tf, tf_worded = tfidf(plain), tfidf(worded)
        gold = [where.get(concept_key(q["diagnosis"], vocab)) for q in queries]
        has = [i for i, g in enumerate(gold) if g is not None]
        ranks = {}
        for name, (v, t) in {"as diagnose reads it": (qv, tf), "+ finding words, TF-IDF only": (qv, tf_worded),
                             "+ finding words, TF-IDF and encoder": (qv_worded, tf_worded)}.items():
            s = np.where(cards.candidate, cards.dense_scores(v) + TEXT_WEIGHT * t + prior, -np.inf)
            ranks[name] = np.array([int((s[i] > s[i, gold[i]]).sum()) + 1 for i in has])
        print(f"\n{set_name}: {len(queries)} cases, {len(has)} with a card for the gold diagnosis")
        report(ranks, "as diagnose reads it")


if __name__ == "__main__":
    main()
