"""How much of the disease cards' probability falls on the practice's diagnoses, per dev protocol.

Why: the guideline floor (`rag_dx.practice.serve.merge_outside`) needs to tell a practice diagnosis
written another way from a disease the practice never recorded. The cards do not depend on how the
practice writes, so their softmax over every card, summed over the practice's diagnoses
(`CardTopics.practice_mass`, the test behind `diagnosis.outside_card_mass`), is a posterior that the
case is one of them. This prints its distribution on each practice protocol, whose golds are all in
the practice (narratives on a symptom-list practice, symptom lists on a narrative one) or all outside
it (unrecorded diagnoses), the physician notes (mostly outside), and the AUC of in against outside.
It reads cases exactly as serving does (`Assistant._card_topics`, through the assistant itself).

Usage (the indexes of ``eval/protocols/rebuild.sh RUNS``)::

    python -m eval.protocols.card_mass --runs runs
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: protocol -> (index folder under RUNS, queries under RUNS/protocols, golds in the practice?)
PROTOCOLS = {
    "narratives on lists": ("xg-dsp", "cross_style/s2d_queries.csv", True),
    "lists on prose": ("xg-s2d", "cross_style/dsp_queries.csv", True),
    "unrecorded diagnoses": ("dev-indexes", "outside/queries_out.csv", False),
    "physician notes": ("dev-indexes", "notes/queries.csv", None),
}
THRESHOLDS = (0.04, 0.05, 0.06, 0.07)


def practice_masses(index_dir: Path, queries: Path) -> np.ndarray:
    """`CardTopics.practice_mass` of every query, as the serving assistant computes it."""
    from eval.protocols.extra import read_queries
    from rag_dx.abbreviations import expand
    from rag_dx.diagnose import build_assistant
    from rag_dx.practice.model import practice_of
    from rag_dx.settings import Settings

    settings = Settings(index_dir=index_dir)
    if settings.diagnosis.outside_card_mass <= 0:  # the assistant only asks for the mass when the test is on
        settings = settings.model_copy(update={"diagnosis": settings.diagnosis.model_copy(
            update={"outside_card_mass": 0.05})})
    a = build_assistant(settings, "dev-outside", load_generator=False)
    retriever = a._retriever()
    practice = practice_of(retriever.index)
    if practice is None:
        raise SystemExit(f"{index_dir}: the serving version has no practice model")
    out = []
    for q in read_queries(queries):
        text = expand(q["text"]) if a.settings.diagnosis.expand_abbreviations else q["text"]
        text = a._query_text(text)
        cards = a._card_topics(retriever, text, a.encoder.encode([text])[0], practice)
        if cards is None or cards.practice_mass is None:
            raise SystemExit(f"{index_dir}: the serving version has no disease cards")
        out.append(cards.practice_mass)
    return np.array(out)


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("runs"), help="RUNS of eval/protocols/rebuild.sh")
    a = ap.parse_args(argv)
    masses: dict[str, np.ndarray] = {}
    print("| protocol | n | median | 10th / 90th percentile | " + " | ".join(f"< {t}" for t in THRESHOLDS) + " |")
    print("|---|---|---|---|" + "---|" * len(THRESHOLDS))
    for name, (index, queries, _) in PROTOCOLS.items():
        m = masses[name] = practice_masses(a.runs / index, a.runs / "protocols" / queries)
        lo, hi = np.percentile(m, [10, 90])
        below = " | ".join(f"{np.mean(m < t):.3f}" for t in THRESHOLDS)
        print(f"| {name} | {len(m)} | {np.median(m):.3f} | {lo:.3f} / {hi:.3f} | {below} |")
    outside = masses["unrecorded diagnoses"]
    for name, (_, _, inside) in PROTOCOLS.items():
        if inside:
            y = np.r_[np.ones(len(masses[name])), np.zeros(len(outside))]
            print(f"AUC {name} (in the practice) against unrecorded diagnoses: "
                  f"{roc_auc_score(y, np.r_[masses[name], outside]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
