"""Classifier-only check of finding tokens on the cross-style dev sets (docs/results/protocols.md).

    python -m eval.protocols.classifier_tokens --protocols runs/protocols

Fits the practice's `TextClassifier` on one cross-style index file (symptom lists or narratives),
scores the other style's queries (top-1 / top-5 over the diagnoses both share) and runs a 5-fold
cross-validation inside each index file, for each way of writing the classifier text. Why a
separate harness: the whole system hides the classifier behind the ranker and the similarity vote,
so this is the only place its style robustness is seen on its own. Prints one JSON line per variant.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag_dx.practice.negation import _token as _name  # the classifier's own token form

VARIANTS = ("today", "tokens", "tokens-twice", "hpo-ids", "tokens-and-parents", "tokens-only")


def _load(path: Path) -> tuple[list[str], list[str]]:
    """(texts, diagnoses) of a protocol CSV; a missing file or column stops with its name."""
    if not path.is_file():
        raise SystemExit(f"{path}: not found; build it with `python -m eval.protocols.build --out DIR`")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"text", "diagnosis"} - set(reader.fieldnames or ())
        if missing:
            raise SystemExit(f"{path}, line 1: missing column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    return [r["text"] for r in rows], [r["diagnosis"] for r in rows]


class _Renderer:
    """The classifier text of each variant; findings are extracted once per distinct text."""

    def __init__(self) -> None:
        from rag_dx.findings import default_extractor, parse_hpo_obo
        from rag_dx.package_data import shipped_hpo_obo

        self.ex = default_extractor()
        self.names, _, self.parents = parse_hpo_obo(shipped_hpo_obo())
        self.cache: dict[str, tuple[str, list]] = {}

    def __call__(self, texts: Sequence[str], variant: str) -> list[str]:
        out = []
        for t in texts:
            if t not in self.cache:
                self.cache[t] = (self.ex.strip_negated(t) or t, self.ex.extract(t))
            stripped, found = self.cache[t]
            absent = sorted({"absent_" + _name(f.name) for f in found if f.assertion == "absent"})
            present = [f for f in found if f.assertion == "present"]
            tokens = sorted({"finding_" + _name(f.name) for f in present})
            if variant == "today":
                tokens = []
            elif variant == "tokens-twice":
                tokens = tokens * 2
            elif variant == "hpo-ids":
                tokens = sorted({"hpo" + f.concept_id[3:] for f in present})
            elif variant == "tokens-and-parents":
                tokens = sorted(set(tokens) | {"finding_" + _name(self.names[p]) for f in present
                                               for p in self.parents.get(f.concept_id, ()) if p in self.names})
            if variant == "tokens-only":
                out.append(" ".join(tokens + absent) or "none")
            else:
                out.append(" ".join([stripped, *absent, *tokens]).strip())
        return out


def _hits(render: _Renderer, train: tuple[list[str], list[str]], test: tuple[list[str], list[str]],
          variant: str) -> tuple[list[int], list[int]]:
    from rag_dx.candidates import candidate_key
    from rag_dx.practice.textclf import TextClassifier

    clf = TextClassifier.fit(render(train[0], variant), train[1])
    keys = [candidate_key(c) for c in clf.classes]
    probs = clf.predict_proba(render(test[0], variant))
    top1, top5 = [], []
    for row, gold in zip(probs, test[1]):
        if candidate_key(gold) not in keys:
            continue
        order = [keys[j] for j in np.argsort(-row)[:5]]
        top1.append(int(order[0] == candidate_key(gold)))
        top5.append(int(candidate_key(gold) in order))
    return top1, top5


def _cv(render: _Renderer, data: tuple[list[str], list[str]], variant: str, k: int = 5) -> float:
    texts, labels = data
    perm = np.random.RandomState(0).permutation(len(texts))
    hits: list[int] = []
    for f in range(k):
        test = set(perm[f::k].tolist())
        train = [i for i in range(len(texts)) if i not in test]
        hits += _hits(render, ([texts[i] for i in train], [labels[i] for i in train]),
                      ([texts[i] for i in sorted(test)], [labels[i] for i in sorted(test)]), variant)[0]
    return float(np.mean(hits))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocols", type=Path, default=Path("runs/protocols"))
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    args = ap.parse_args(argv)
    d = args.protocols / "cross_style"
    dsp_i, s2d_i = _load(d / "dsp_index.csv"), _load(d / "s2d_index.csv")
    dsp_q, s2d_q = _load(d / "dsp_queries.csv"), _load(d / "s2d_queries.csv")
    render = _Renderer()
    for v in args.variants:
        a1, a5 = _hits(render, dsp_i, s2d_q, v)
        b1, b5 = _hits(render, s2d_i, dsp_q, v)
        print(json.dumps({"variant": v, "narratives_on_lists": [len(a1), round(np.mean(a1), 3), round(np.mean(a5), 3)],
                          "lists_on_narratives": [len(b1), round(np.mean(b1), 3), round(np.mean(b5), 3)],
                          "cv_lists": round(_cv(render, dsp_i, v), 3), "cv_narratives": round(_cv(render, s2d_i, v), 3)}),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
