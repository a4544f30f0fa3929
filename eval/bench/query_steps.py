"""diagnose with and without the query-side steps (abbreviations written out, finding words for the cards).

Both assistants load the same index in one process and answer the same cases, order alternated, so
the ratio is measured side by side on a shared machine (docs/performance.md, "Abbreviations written
out and finding words for the cards").

Usage::

    OMP_NUM_THREADS=1 python -m eval.bench.query_steps --index-dir runs/dev-indexes --index dev-outside \\
        --queries runs/protocols/notes/queries.csv --n 40
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path


def main() -> None:
    from eval.bench.common import alternating, case_texts
    from rag_dx.diagnose import build_assistant
    from rag_dx.settings import Settings

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--index", default="dev-outside")
    ap.add_argument("--queries", type=Path, required=True, help="a CSV with a 'text' column")
    ap.add_argument("--n", type=int, default=40)
    a = ap.parse_args()
    texts = case_texts(a.queries, a.n)

    def assistant(on: bool):
        settings = Settings(index_dir=a.index_dir, diagnosis={"expand_abbreviations": on, "card_finding_words": on})
        return build_assistant(settings, a.index, load_generator=False)

    pair = {True: assistant(True), False: assistant(False)}
    for x in pair.values():
        x.diagnose(texts[0])  # warm: models, index, finding extractor
    ms = alternating({on: pair[on].diagnose for on in (True, False)}, texts)
    p50 = {k: statistics.median(v) for k, v in ms.items()}
    p95 = {k: sorted(v)[int(0.95 * len(v))] for k, v in ms.items()}
    print(f"{len(ms[True])} answers per setting; off p50 {p50[False]:.1f} ms, p95 {p95[False]:.1f}; "
          f"on p50 {p50[True]:.1f} ms, p95 {p95[True]:.1f}; p50 ratio {p50[True] / p50[False]:.3f}")


if __name__ == "__main__":
    main()
