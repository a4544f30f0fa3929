"""Build the issue-13 dev-protocol datasets from ../shared/data as CSV files for the rag-dx CLI.

Every output is a CSV with ``text,diagnosis,report_id`` (plus protocol columns), written under a
git-ignored folder (default ``runs/protocols``), with ``manifest.json`` (counts, seed, sources,
sha256 of every file) and ``commands.sh`` (the ``rag-dx index build`` / ``rag-dx eval`` calls that
run each protocol). Nothing from ../shared is committed; the recipe is ``protocols.toml`` beside
this file.

Protocols:

* ``cross_style``: Disease Symptom Prediction (DSP) symptom lists rendered as one sentence each,
  deduplicated, vs Symptom2Disease (S2D) narratives. Index one set, query with the other set's
  cases whose diagnosis both share (matched by ICD-10-CM concept, written in the index's spelling),
  both ways.
* ``guidelines_only``: S2D (text-deduplicated) and rendered DSP cases as queries against an index
  of MedQuAD + NGC guidelines and no reports.
* ``negation``: a leakage-safe S2D split (text-deduplicated, stratified); the query set holds each
  test case twice, as written and with denials of another disease's hallmark findings appended
  ("No joint pain or chills."). Hallmarks come from DSP symptom lists (frequency in that disease x
  rarity across diseases), never a symptom of the case's own disease. Top-1 must not move.
* ``outside``: S2D with some diagnoses removed from the index; queries are in-practice test cases
  (abstention cost) and cases of the removed diagnoses plus rendered DSP cases of diseases S2D
  never has (abstention / "outside" notice rate).

Run: ``.venv/bin/python -m eval.protocols.build --shared ../shared/data --out runs/protocols``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

RECIPE = Path(__file__).with_name("protocols.toml")


@dataclass(frozen=True)
class Case:
    text: str
    diagnosis: str
    case_id: str


# ---------------------------------------------------------------------------- sources
def load_s2d(shared: Path) -> list[Case]:
    """Symptom2Disease, text-deduplicated (47 texts occur twice; first occurrence kept)."""
    out, seen = [], set()
    with open(shared / "symptom2disease" / "Symptom2Disease.csv", newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):  # the file's "index" column repeats
            text = row["text"].strip()
            key = re.sub(r"\s+", " ", text.lower())
            if not text or key in seen:
                continue
            seen.add(key)
            out.append(Case(text, row["label"].strip(), f"s2d-{line:04d}"))
    return out


def _symptom_words(raw: str) -> str:
    return re.sub(r"\s+", " ", raw.replace("_", " ")).strip()


def load_dsp_rows(shared: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Disease Symptom Prediction rows: (disease, symptoms in file order), exact duplicates removed."""
    out, seen = [], set()
    with open(shared / "disease_symptom_prediction" / "dataset.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            disease = row[0].strip()
            symptoms = tuple(_symptom_words(s) for s in row[1:] if s.strip())
            key = (disease, tuple(sorted(symptoms)))
            if not disease or not symptoms or key in seen:
                continue
            seen.add(key)
            out.append((disease, symptoms))
    return out


def render_symptoms(symptoms: Sequence[str]) -> str:
    """"itching, skin rash and nodal skin eruptions" as one plain sentence."""
    items = list(symptoms)
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return f"Patient reports {listed}."


def dsp_cases(rows: Sequence[tuple[str, tuple[str, ...]]]) -> list[Case]:
    out, seen = [], set()
    for i, (disease, symptoms) in enumerate(rows):
        text = render_symptoms(symptoms)
        if (text, disease) in seen:
            continue
        seen.add((text, disease))
        out.append(Case(text, disease, f"dsp-{i:04d}"))
    return out


# ---------------------------------------------------------------------------- helpers
def write_csv(path: Path, cases: Iterable[Case], extra: dict[str, Sequence[str]] | None = None) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    cases = list(cases)
    cols = ["text", "diagnosis", "report_id", *(extra or {})]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i, c in enumerate(cases):
            w.writerow([c.text, c.diagnosis, c.case_id, *(v[i] for v in (extra or {}).values())])
    return len(cases)


def stratified_split(cases: Sequence[Case], test_fraction: float, seed: int) -> tuple[list[Case], list[Case]]:
    by_label: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        by_label[c.diagnosis].append(c)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        group = sorted(by_label[label], key=lambda c: c.case_id)
        rng.shuffle(group)
        n_test = max(1, round(len(group) * test_fraction))
        test += group[:n_test]
        train += group[n_test:]
    return train, test


def concept_map(names: Iterable[str], vocabulary) -> dict[str, str]:
    from rag_dx.candidates import concept_key

    return {n: concept_key(n, vocabulary) for n in set(names)}


# ---------------------------------------------------------------------------- protocols
def build_cross_style(out: Path, s2d: list[Case], dsp: list[Case], vocabulary) -> dict:
    s2d_key = concept_map((c.diagnosis for c in s2d), vocabulary)
    dsp_key = concept_map((c.diagnosis for c in dsp), vocabulary)
    dsp_name_of = {k: n for n, k in sorted(dsp_key.items())}
    s2d_name_of = {k: n for n, k in sorted(s2d_key.items())}
    shared = sorted(set(dsp_name_of) & set(s2d_name_of))
    d = out / "cross_style"
    n = {
        "dsp_index": write_csv(d / "dsp_index.csv", dsp),
        "s2d_queries": write_csv(d / "s2d_queries.csv", [
            Case(c.text, dsp_name_of[s2d_key[c.diagnosis]], c.case_id) for c in s2d if s2d_key[c.diagnosis] in shared
        ]),
        "s2d_index": write_csv(d / "s2d_index.csv", s2d),
        "dsp_queries": write_csv(d / "dsp_queries.csv", [
            Case(c.text, s2d_name_of[dsp_key[c.diagnosis]], c.case_id) for c in dsp if dsp_key[c.diagnosis] in shared
        ]),
    }
    unmatched = sorted(n for n, k in s2d_key.items() if k not in dsp_name_of)
    return {"files": n, "shared_diagnoses": len(shared), "s2d_labels_not_in_dsp": unmatched}


def build_guidelines_only(out: Path, s2d: list[Case], dsp: list[Case]) -> dict:
    d = out / "guidelines_only"
    return {"files": {"s2d_queries": write_csv(d / "s2d_queries.csv", s2d),
                      "dsp_queries": write_csv(d / "dsp_queries.csv", dsp)}}


def hallmarks(rows: Sequence[tuple[str, tuple[str, ...]]], top: int) -> dict[str, list[str]]:
    """Per DSP disease: symptoms ranked by (share of its rows) x log(n diseases / diseases with it)."""
    import math

    per: dict[str, Counter[str]] = defaultdict(Counter)
    n_rows: Counter[str] = Counter()
    for disease, symptoms in rows:
        n_rows[disease] += 1
        per[disease].update(s for s in set(symptoms) if not _NOT_A_FINDING.search(s))
    df = Counter(s for c in per.values() for s in c)
    n = len(per)
    out = {}
    for disease, counts in per.items():
        scored = sorted(counts, key=lambda s: (-(counts[s] / n_rows[disease]) * math.log(n / df[s]), s))
        out[disease] = scored[:top]
    return out


# DSP "symptoms" that are exposures or history, not findings a clinician would deny in a case
_NOT_A_FINDING = re.compile(r"history|contacts|receiving|consumption|unsterile|transfusion")
_DENIAL_TEMPLATES = ("No {a} or {b}.", "Denies {a} and {b}.", "Absent: no {a}, no {b}.", "No {a}, no {b}.")


def build_negation(out: Path, s2d: list[Case], rows, vocabulary, cfg: dict) -> dict:
    train, test = stratified_split(s2d, cfg["test_fraction"], cfg["seed"])
    marks = hallmarks(rows, cfg["hallmarks_per_disease"])
    own_symptoms: dict[str, set[str]] = defaultdict(set)
    for disease, symptoms in rows:
        own_symptoms[disease].update(symptoms)
    dsp_key = concept_map(marks, vocabulary)
    key_to_dsp = {k: n for n, k in sorted(dsp_key.items())}
    s2d_key = concept_map((c.diagnosis for c in s2d), vocabulary)
    labels = sorted({c.diagnosis for c in s2d if s2d_key[c.diagnosis] in key_to_dsp})
    rng = random.Random(cfg["seed"] + 1)
    cases, pair, variant, denied_from = [], [], [], []
    skipped = 0
    for i, c in enumerate(sorted(test, key=lambda c: c.case_id)):
        own = key_to_dsp.get(s2d_key[c.diagnosis])
        others = [lab for lab in labels if lab != c.diagnosis]
        rng.shuffle(others)
        chosen = None
        for other in others:
            cand = [s for s in marks[key_to_dsp[s2d_key[other]]]
                    if s not in own_symptoms.get(own or "", set()) and s.lower() not in c.text.lower()]
            if len(cand) >= 2:
                chosen = (other, cand[:2])
                break
        if chosen is None:
            skipped += 1
            continue
        other, (a, b) = chosen
        denial = _DENIAL_TEMPLATES[i % len(_DENIAL_TEMPLATES)].format(a=a, b=b)
        for v, text in (("original", c.text), ("negated", f"{c.text.rstrip()} {denial}")):
            cases.append(Case(text, c.diagnosis, f"{c.case_id}-{v[:3]}"))
            pair.append(c.case_id)
            variant.append(v)
            denied_from.append(other if v == "negated" else "")
    d = out / "negation"
    return {"files": {"index": write_csv(d / "index.csv", train),
                      "queries": write_csv(d / "queries.csv", cases,
                                           {"pair_id": pair, "variant": variant, "denied_from": denied_from})},
            "test_cases": len(cases) // 2, "skipped_no_hallmark": skipped}


def build_outside(out: Path, s2d: list[Case], dsp: list[Case], vocabulary, cfg: dict) -> dict:
    labels = sorted({c.diagnosis for c in s2d})
    rng = random.Random(cfg["seed"])
    held = sorted(rng.sample(labels, cfg["held_out_diagnoses"]))
    inside = [c for c in s2d if c.diagnosis not in held]
    train, test_in = stratified_split(inside, cfg["test_fraction"], cfg["seed"])
    out_same = [c for c in s2d if c.diagnosis in held]
    s2d_keys = set(concept_map(labels, vocabulary).values())
    dsp_key = concept_map((c.diagnosis for c in dsp), vocabulary)
    out_other = [c for c in dsp if dsp_key[c.diagnosis] not in s2d_keys]
    d = out / "outside"
    return {
        "files": {"index": write_csv(d / "index.csv", train),
                  "queries_in": write_csv(d / "queries_in.csv", test_in),
                  "queries_out": write_csv(d / "queries_out.csv", out_same + out_other,
                                           {"source": ["s2d-held-out"] * len(out_same) + ["dsp-only"] * len(out_other)})},
        "held_out_diagnoses": held,
        "dsp_only_diagnoses": sorted({c.diagnosis for c in out_other}),
    }


def commands(shared: Path, out: Path) -> str:
    mq = shared / "medquad" / "medquad_answered.jsonl.gz"
    ngc = shared / "guidelines" / "ngc_unrestricted_summaries.jsonl.gz"
    o = out
    return f"""#!/usr/bin/env bash
# Generated by eval/protocols/build.py: run each issue-13 dev protocol with the project's CLI.
set -euo pipefail
# cross-style, both ways (index one style, query with the other)
rag-dx index build --name proto-dsp --reports {o}/cross_style/dsp_index.csv
rag-dx eval --index proto-dsp --labeled {o}/cross_style/s2d_queries.csv --out runs/eval-cross-s2d-on-dsp
rag-dx index build --name proto-s2d --reports {o}/cross_style/s2d_index.csv
rag-dx eval --index proto-s2d --labeled {o}/cross_style/dsp_queries.csv --out runs/eval-cross-dsp-on-s2d
# guidelines only (no reports in the index)
rag-dx index build --name proto-guidelines --guidelines {mq} --guidelines {ngc}
rag-dx eval --index proto-guidelines --labeled {o}/guidelines_only/s2d_queries.csv --out runs/eval-gl-s2d
rag-dx eval --index proto-guidelines --labeled {o}/guidelines_only/dsp_queries.csv --out runs/eval-gl-dsp
# negation: compare top-1 of each pair_id's original and negated variant in predictions.jsonl
rag-dx index build --name proto-negation --reports {o}/negation/index.csv
rag-dx eval --index proto-negation --labeled {o}/negation/queries.csv --out runs/eval-negation
python -m eval.protocols.score negation --predictions runs/eval-negation/predictions.jsonl \
    --queries {o}/negation/queries.csv
# outside the practice: abstention on queries_out, abstention cost on queries_in
rag-dx index build --name proto-outside --reports {o}/outside/index.csv --guidelines {mq} --guidelines {ngc}
rag-dx eval --index proto-outside --labeled {o}/outside/queries_in.csv --out runs/eval-outside-in
rag-dx eval --index proto-outside --labeled {o}/outside/queries_out.csv --out runs/eval-outside-out
python -m eval.protocols.score abstention --predictions runs/eval-outside-in/predictions.jsonl
python -m eval.protocols.score abstention --predictions runs/eval-outside-out/predictions.jsonl
"""


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("runs/protocols"))
    ap.add_argument("--recipe", type=Path, default=RECIPE)
    args = ap.parse_args(argv)
    if not (args.shared / "symptom2disease").is_dir():
        print(f"needs ../shared/data ({args.shared} has no symptom2disease/)", file=sys.stderr)
        return 2
    cfg = tomllib.loads(args.recipe.read_text(encoding="utf-8"))
    from rag_dx.vocab import Vocabulary

    vocabulary = Vocabulary.load()
    s2d = load_s2d(args.shared)
    rows = load_dsp_rows(args.shared)
    dsp = dsp_cases(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "recipe": cfg,
        "sources": {"s2d_unique_texts": len(s2d), "dsp_unique_rows": len(rows), "dsp_rendered_cases": len(dsp)},
        "cross_style": build_cross_style(args.out, s2d, dsp, vocabulary),
        "guidelines_only": build_guidelines_only(args.out, s2d, dsp),
        "negation": build_negation(args.out, s2d, rows, vocabulary, cfg["negation"]),
        "outside": build_outside(args.out, s2d, dsp, vocabulary, cfg["outside"]),
    }
    (args.out / "commands.sh").write_text(commands(args.shared, args.out), encoding="utf-8")
    manifest["sha256"] = {
        str(p.relative_to(args.out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(args.out.rglob("*.csv"))
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    print(json.dumps({k: v for k, v in manifest.items() if k not in ("sha256", "recipe")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
