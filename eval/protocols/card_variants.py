"""Two card-level ideas measured and not adopted (twelfth session): hub correction and reading a
structured note's presenting sections. Paired against the cards as `diagnose` scores them.

Why each was tried:

- ``hubness``: a few cards reached the top 5 of many unrelated cases (High Blood Pressure 44 of 154
  physician notes, Gastritis 69 of 304 symptom lists). Cross-domain similarity local scaling (CSLS)
  subtracts from each card's score the mean of its k best scores against a reference set, so a card
  that is close to everything loses its head start. References tried: the other cards, and 3,000
  guideline passages that are not the card's own.
- ``sections``: a pasted clinical note carries medication lists, allergies, social and family
  history; a guideline page describes a presentation. Variants drop those sections (headings in
  capitals followed by a colon), also past history or the review of systems, or average the whole
  note's vector with its presenting sections' (chief complaint, history of present illness).
  Only the physician notes have such headings; the other query sets read the same.

Usage::

    python -m eval.protocols.card_variants hubness --version-dir runs/gl-only/dev-outside/versions/v0003
    python -m eval.protocols.card_variants sections --version-dir runs/gl-only/dev-outside/versions/v0003
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

HEADING = re.compile(r"(?:^|(?<=[.,:;]))\s*([A-Z][A-Z/&' ]{2,40}[A-Z])\s*:")
LISTS = r"MEDICATION|ALLERG|SOCIAL|FAMILY|SURGICAL|IMMUNIZ|HABITS|OCCUPATION"
DROPS = {"drop lists": re.compile(LISTS),
         "drop lists + past history": re.compile(LISTS + r"|PAST MEDICAL|PMH|PAST HISTORY"),
         "drop lists + review of systems": re.compile(LISTS + r"|REVIEW OF SYSTEMS|ROS")}
PRESENTING = re.compile(r"CHIEF COMPLAINT|PRESENT ILLNESS|HPI|SUBJECTIVE|REASON|^HISTORY$")


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs in order; the text before the first heading has heading ""."""
    marks = list(HEADING.finditer(text))
    if not marks:
        return [("", text)]
    out = [("", text[:marks[0].start()])] if marks[0].start() > 0 else []
    for m, n in zip(marks, marks[1:] + [None]):
        out.append((m.group(1).strip(), text[m.end(): n.start() if n else len(text)]))
    return out


def without(text: str, drop: re.Pattern[str]) -> str:
    return " ".join(f"{h}: {b}" if h else b for h, b in sections(text) if not (h and drop.search(h)))


def presenting(text: str) -> str:
    parts = [b for h, b in sections(text) if not h or PRESENTING.search(h)]
    return " ".join(parts) if sum(len(p) for p in parts) > 100 else text


def main() -> None:
    from eval.protocols.card_pooling import read_queries, report, stored_cards, text_scores
    from rag_dx.abbreviations import expand
    from rag_dx.candidates import concept_key
    from rag_dx.embed import load_encoder
    from rag_dx.practice.negation import query_text
    from rag_dx.settings import Settings
    from rag_dx.topic_cards import TEXT_WEIGHT, with_finding_words
    from rag_dx.vocab import Vocabulary

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("idea", choices=("hubness", "sections"))
    ap.add_argument("--version-dir", type=Path, required=True)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    a = ap.parse_args()
    vd = a.version_dir
    cards = stored_cards(vd)
    vocab, encoder = Vocabulary.load(), load_encoder(Settings())
    where = {k: i for i, k in enumerate(cards.keys)}
    prior = cards.priors()

    def tfidf(texts: list[str]) -> np.ndarray:
        return text_scores(cards, texts)

    def ranks(score: np.ndarray, gold: list[int | None]) -> np.ndarray:
        s = np.where(cards.candidate, score + prior, -np.inf)
        return np.array([int((s[i] > s[i, g]).sum()) + 1 for i, g in enumerate(gold) if g is not None])

    sets = {"physician notes": read_queries(a.runs / "protocols/notes/queries.csv")}
    if a.idea == "hubness":
        sets |= {"symptom lists": read_queries(a.runs / "protocols/guidelines_only/dsp_queries.csv"),
                 "lay narratives": read_queries(a.runs / "protocols/guidelines_only/s2d_queries.csv", 300)}
        hub = _hub_scores(cards, vd, tfidf, TEXT_WEIGHT)
    for set_name, queries in sets.items():
        gold = [where.get(concept_key(q["diagnosis"], vocab)) for q in queries]
        texts = [query_text(expand(q["text"])) for q in queries]
        base = cards.dense_scores(encoder.encode(texts)) + TEXT_WEIGHT * tfidf([with_finding_words(t) for t in texts])
        out = {"as diagnose scores it": ranks(base, gold)}
        if a.idea == "hubness":
            for name, r in hub.items():
                for beta in (0.5, 1.0):
                    out[f"{name}, beta {beta}"] = ranks(base - beta * r, gold)
        else:
            views = {name: [query_text(expand(without(q["text"], d))) for q in queries] for name, d in DROPS.items()}
            pres = encoder.encode([query_text(expand(presenting(q["text"]))) for q in queries])
            full = encoder.encode(texts)
            for name, vt in views.items():
                tv = TEXT_WEIGHT * tfidf([with_finding_words(t) for t in vt])
                out[name] = ranks(cards.dense_scores(encoder.encode(vt)) + tv, gold)
                if name == "drop lists":
                    out["mean(whole, presenting) vectors + drop lists"] = ranks(
                        cards.dense_scores((full + pres) / 2) + tv, gold)
        print(f"\n{set_name}: {len(queries)} cases, {sum(g is not None for g in gold)} with a card for the gold")
        report(out, "as diagnose scores it")


def _hub_scores(cards, vd: Path, tfidf, text_weight: float) -> dict[str, np.ndarray]:  # noqa: ANN001
    """Per card, the mean of its k best reference scores (CSLS's r_T), k 10 and 50, two references."""
    from eval.protocols.card_pooling import version_chunks
    from rag_dx.topic_cards import joining_chunks
    from rag_dx.vocab import Vocabulary

    chunks, vectors = version_chunks(vd)
    cc = cards.vectors @ cards.vectors.T + text_weight * (cards.matrix @ cards.matrix.T).toarray()
    np.fill_diagonal(cc, -np.inf)
    guideline = [i for i, c in enumerate(chunks) if c.kind == "guideline"]
    sample = sorted(np.random.default_rng(0).choice(guideline, size=min(3000, len(guideline)), replace=False))
    pc = vectors[sample] @ cards.vectors.T + text_weight * tfidf([chunks[i].text for i in sample])
    where, pos = {k: j for j, k in enumerate(cards.keys)}, {r: n for n, r in enumerate(sample)}
    for key, _, _, row in joining_chunks(chunks, Vocabulary.load()):
        if row in pos and key in where:
            pc[pos[row], where[key]] = -np.inf  # a card's own passages are not its neighbours

    def top_mean(m: np.ndarray, k: int) -> np.ndarray:
        return -np.mean(np.sort(-m, axis=0)[:k], axis=0)

    return {f"{ref} k={k}": top_mean(m, k) for k in (10, 50) for ref, m in (("cards", cc.T), ("passages", pc))}


if __name__ == "__main__":
    main()
