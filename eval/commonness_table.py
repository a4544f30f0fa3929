"""Write rag_dx/data/commonness.tsv: how often each guideline diagnosis is a diagnosis in real clinical notes.

    python -m eval.commonness_table --shared ../shared/data --out rag_dx/data/commonness.tsv

Why: the disease cards (rag_dx.topic_cards) rank every guideline diagnosis against a case on
similarity alone, so a short physician-style case of a common disease is led by whichever rare
syndrome's page shares its words (a hypothyroidism case by Cystic Fibrosis, cellulitis by Kawasaki
Disease). The issue asks for a prior that fits the setting: common diseases before rare ones. The
counts come from MTSamples (4,999 US transcription notes, CC0 on Kaggle, educational use with
credit to mtsamples.com): for each diagnosis concept, the number of distinct notes that name it
in a diagnosis-bearing section (diagnosis, impression, assessment, problem list, past medical
history), where a mention is the clinician's diagnosis rather than a word in a story. The notes
the physician-notes dev protocol queries with (eval.protocols.extra notes) are left out, with
every note of the same sample name, so that protocol is not scored on its own answers.

Names counted: every MedQuAD focus and NGC condition that is a diagnosis
(rag_dx.candidates.diagnosis_name), grouped by concept (rag_dx.candidates.concept_key), plus
each name's simple singular and a parenthesised abbreviation ("Chronic Fatigue Syndrome (CFS)").
Only concepts seen at least once are written. Deterministic: byte-identical on re-run.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
from pathlib import Path

#: Section headings whose text is a diagnosis list rather than a narrative.
DX_SECTIONS = re.compile(r"DIAGNOS|IMPRESSION|ASSESSMENT|MEDICAL HISTORY|PROBLEM")
_HEADING = re.compile(r"([A-Z][A-Z /&\-]{3,60}):")
_NON_WORD = re.compile(r"[^a-z0-9]+")
MAX_WORDS = 8
HEADER = "# concept key\tnotes naming it in a diagnosis section\tnames counted (counts from MTSamples transcriptions, mtsamples.com, via Kaggle CC0; eval/commonness_table.py)\n"


def diagnosis_text(transcription: str) -> str:
    """The note's diagnosis-bearing sections, joined (empty when it has none)."""
    parts = _HEADING.split(transcription)
    return " ".join(parts[i + 1] for i in range(1, len(parts) - 1, 2) if DX_SECTIONS.search(parts[i]))


def surface_forms(name: str) -> set[str]:
    """Lower-case word forms a name is counted under: itself, its singular, a bracketed abbreviation."""
    bare = _NON_WORD.sub(" ", re.sub(r"\(.*?\)", " ", name.lower())).strip()
    out = {bare}
    if bare.endswith("s") and len(bare) > 4:
        out.add(bare[:-1])
    abbr = re.search(r"\(([^)]+)\)", name)
    if abbr and len(abbr.group(1)) >= 3:
        out.add(_NON_WORD.sub(" ", abbr.group(1).lower()).strip())
    return {f for f in out if len(f) >= 3}


def guideline_names(shared: Path) -> list[str]:
    names: set[str] = set()
    with gzip.open(shared / "medquad" / "medquad_answered.jsonl.gz", "rt", encoding="utf-8") as fh:
        names.update(json.loads(line)["focus"] for line in fh if line.strip())
    with gzip.open(shared / "guidelines" / "ngc_unrestricted_summaries.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                names.update(p.strip() for p in re.split(r"[;|]", json.loads(line).get("Disease/Condition(s)", "")))
    # NGC's condition field is sometimes one long run-on list; a name of more than MAX_WORDS words is not one name
    return sorted(n for n in names if n and len(n.split()) <= MAX_WORDS)


def excluded_notes(protocol_queries: Path) -> set[str]:
    if not protocol_queries.is_file():
        return set()
    with protocol_queries.open(newline="", encoding="utf-8") as fh:
        return {r["report_id"].removeprefix("mts-") for r in csv.DictReader(fh)}


def build_table(shared: Path, protocol_queries: Path) -> list[tuple[str, int, list[str]]]:
    from rag_dx.candidates import concept_key, diagnosis_name
    from rag_dx.vocab import Vocabulary

    vocabulary = Vocabulary.load()
    concepts: dict[str, set[str]] = {}
    for raw in guideline_names(shared):
        name = diagnosis_name(raw, vocabulary)
        if name:
            concepts.setdefault(concept_key(name, vocabulary), set()).add(name)
    with gzip.open(shared / "mtsamples" / "mtsamples.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        notes = list(csv.DictReader(fh))
    skip_ids = excluded_notes(protocol_queries)
    skip_names = {n["sample_name"].strip().lower() for n in notes if n["note_id"] in skip_ids}
    texts = sorted({_NON_WORD.sub(" ", diagnosis_text(n["transcription"]).lower()).strip() for n in notes
                    if n["note_id"] not in skip_ids and n["sample_name"].strip().lower() not in skip_names})
    texts = [t for t in texts if t]
    concept_of: dict[str, set[str]] = {}
    for key, names in concepts.items():
        for name in names:
            for form in surface_forms(name):
                concept_of.setdefault(form, set()).add(key)
    longest = max(len(f.split()) for f in concept_of)
    seen: dict[str, int] = {}
    for text in texts:
        words = text.split()
        found = {k for i in range(len(words)) for n in range(1, longest + 1) if i + n <= len(words)
                 for k in concept_of.get(" ".join(words[i:i + n]), ())}
        for k in found:
            seen[k] = seen.get(k, 0) + 1
    return [(key, seen[key], sorted(concepts[key])) for key in sorted(concepts) if seen.get(key)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--exclude-queries", type=Path, default=Path("runs/protocols/notes/queries.csv"),
                    help="the physician-notes protocol's queries, whose notes are left out")
    args = ap.parse_args(argv)
    if not args.exclude_queries.is_file():
        ap.error(f"{args.exclude_queries}: not found; write it first with `python -m eval.protocols.extra notes`")
    rows = build_table(args.shared, args.exclude_queries)
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(HEADER)
        for key, count, names in rows:
            fh.write(f"{key}\t{count}\t{' | '.join(names)}\n")
    tmp.replace(args.out)
    print(f"{args.out}: {len(rows)} concepts named in at least one note")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
