"""Data for the disease-card follow-up (docs/results/protocols.md): physician notes, a MedQuAD subset, seeded subsets.

    python -m eval.protocols.extra notes --shared ../shared/data --out runs/protocols/notes/queries.csv
    python -m eval.protocols.extra medquad-common --shared ../shared/data --out runs/proto/medquad_common.jsonl.gz
    python -m eval.protocols.extra subset --queries runs/protocols/guidelines_only/dsp_queries.csv --n 100 \
        --out runs/proto/gl_dsp_100.csv
    python -m eval.protocols.extra short-notes --queries runs/protocols/notes/queries.csv \
        --out runs/protocols/notes/short_queries.csv
    python -m eval.protocols.extra medquad-rare --shared ../shared/data --out runs/proto/medquad_rare.jsonl.gz

`notes`: MTSamples consult / SOAP / general-medicine / emergency / discharge notes whose sample name
is a diagnosis (``diagnosis_name`` with the ICD-10-CM vocabulary, and a concept found), the text
cut before the first assessment / impression / diagnosis / plan / exam / labs / course heading and
the diagnosis name masked as "[...]": physician prose without its answer, the nearest thing to a
clinical vignette in ../shared. Rough by design: some sample names are symptoms ("Foot Pain").
`medquad-common`: MedQuAD answers from its common-disease sources (not GARD / GHR / CancerGov) for
the questions that describe a disease, small enough to embed on 2 cores in ~15 minutes.
`short-notes`: the same notes cut to their presenting story: the text before the first history list
(past history, medications, allergies, social / family history, review of systems), section headings
removed, at most 90 words (cut at a sentence end when there is one past 60). Physician prose as short
as the held-out vignettes (median 81 words against the notes' 258), which have no headings to cut by.
`medquad-rare`: the describing answers of MedQuAD's other sources (GARD, GHR, CancerGov), to add to
an index built with `medquad-common`: all of MedQuAD's describing answers, as the held-out
vignettes' index holds them, without re-embedding the common ones.
`subset`: a seeded sample of a queries file (seed 13, as eval.protocols.build uses).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import re
import sys
import tempfile
from pathlib import Path

COMMON_SOURCES = ("MPlusHealthTopics", "NIHSeniorHealth", "NIDDK", "NHLBI", "CDC", "NINDS")
OTHER_SOURCES = ("GARD", "GHR", "CancerGov")
DESCRIBING_QTYPES = ("symptoms", "information", "causes", "exams and tests")
_NOTE_KINDS = re.compile(r"Consult|SOAP|General Medicine|Emergency|Discharge")
_NAME_NOISE = re.compile(
    r"\s*[-\u2013]\s*(soap( note)?|followup|follow-up|recheck|progress note|chart note|consult\w*|er visit|h&p|\d+)\s*$"
    r"|^(soap|progress note|consult\w*)\s*[-\u2013]\s*", re.I)
_ANSWER_HEADINGS = re.compile(
    r"\b(ASSESSMENT|IMPRESSION|DIAGNOS[IE]S|FINAL DIAGNOSIS|PLAN|A/P|ASSESSMENT AND PLAN|DISCHARGE DIAGNOSIS|"
    r"ADMITTING DIAGNOSIS|PHYSICAL EXAM\w*|LABORATORY|HOSPITAL COURSE)\s*:", re.I)
_HISTORY_LISTS = re.compile(
    r"\b(PAST MEDICAL HISTORY|PAST SURGICAL HISTORY|PAST HISTORY|SURGICAL HISTORY|PMH|(?:CURRENT )?MEDICATIONS?|"
    r"ALLERG\w*|SOCIAL HISTORY|FAMILY HISTORY|REVIEW OF SYSTEMS|ROS|IMMUNIZATIONS|HABITS)\s*:", re.I)
_HEADING = re.compile(r"\b[A-Z][A-Z /&]{2,40}:\s*,?\s*")
MIN_CHARS, MAX_CHARS = 200, 2000
SHORT_WORDS, SHORT_MIN_WORDS, SHORT_MIN_CHARS = 90, 60, 80
QUERY_COLUMNS = ("text", "diagnosis", "report_id")


class InputError(ValueError):
    """Bad input to a dev-data script: the message names the file, the line and the field."""


def notes(shared: Path, out: Path) -> int:
    import pandas as pd

    from rag_dx.candidates import diagnosis_name
    from rag_dx.vocab import Vocabulary

    vocab = Vocabulary.load()
    source = shared / "mtsamples" / "mtsamples.csv.gz"
    if not source.is_file():
        raise InputError(f"{source}: not found (needs ../shared/data's mtsamples/)")
    df = pd.read_csv(source)
    missing = [c for c in ("medical_specialty", "sample_name", "transcription", "note_id") if c not in df.columns]
    if missing:
        raise InputError(f"{source}: line 1: missing column(s) {', '.join(missing)}")
    df = df[df["medical_specialty"].str.contains(_NOTE_KINDS, na=False)]
    rows, seen = [], set()
    for _, r in df.iterrows():
        name = str(r["sample_name"])
        for _ in range(2):
            name = _NAME_NOISE.sub("", name).strip()
        dx = diagnosis_name(name, vocab)
        if not dx or vocab.normalize(dx) is None:
            continue
        text = str(r["transcription"])
        cut = _ANSWER_HEADINGS.search(text)
        query = text[:cut.start()] if cut else ""
        if len(query) < MIN_CHARS:
            continue
        for alias in {dx, name}:
            query = re.sub(re.escape(alias), "[...]", query, flags=re.I)
        query = re.sub(r"\s+", " ", query).strip()[:MAX_CHARS]
        key = (dx.lower(), query[:100])
        if key not in seen:
            seen.add(key)
            rows.append({"text": query, "diagnosis": dx, "report_id": f"mts-{r['note_id']}"})
    _write(out, rows)
    return len(rows)


def presenting_story(text: str) -> str:
    """A note's presenting story in at most SHORT_WORDS words, headings removed (see `short-notes`)."""
    cut = _HISTORY_LISTS.search(text)
    if cut and cut.start() > SHORT_MIN_CHARS:  # a list right at the start is the note's whole subject
        text = text[:cut.start()]
    text = _HEADING.sub("", text).replace(" ,", ",").strip(" ,")
    words = text.split()
    if len(words) <= SHORT_WORDS:
        return " ".join(words)
    head = " ".join(words[:SHORT_WORDS])
    floor = len(" ".join(words[:SHORT_MIN_WORDS]))
    end = head.rfind(". ", floor)
    return head[:end + 1] if end > 0 else head


def short_notes(queries: Path, out: Path) -> int:
    rows = []
    for r in read_queries(queries):
        story = presenting_story(r["text"])
        if len(story) >= SHORT_MIN_CHARS:
            rows.append({**r, "text": story})
    _write(out, rows)
    return len(rows)


def medquad_common(shared: Path, out: Path, sources: tuple[str, ...] = COMMON_SOURCES) -> int:
    source = shared / "medquad" / "medquad_answered.jsonl.gz"
    if not source.is_file():
        raise InputError(f"{source}: not found (needs ../shared/data's medquad/)")
    n = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    try:  # written beside the target and renamed: a bad line leaves no half-written file
        with gzip.open(source, "rt", encoding="utf-8") as src, gzip.open(tmp, "wt", encoding="utf-8") as dst:
            for line_no, line in enumerate(src, start=1):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{source}: line {line_no}: not JSON ({exc.msg})") from None
                if not isinstance(rec, dict):
                    raise InputError(f"{source}: line {line_no}: not a JSON object")
                if rec.get("source") in sources and rec.get("qtype") in DESCRIBING_QTYPES:
                    dst.write(line)
                    n += 1
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n


def read_queries(path: Path) -> list[dict[str, str]]:
    """A protocol queries CSV (text, diagnosis, report_id), every row checked."""
    if not path.is_file():
        raise InputError(f"{path}: not found")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in QUERY_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        rows = []
        for line_no, row in enumerate(reader, start=2):
            empty = next((c for c in QUERY_COLUMNS if not (row.get(c) or "").strip()), None)
            if empty:
                raise InputError(f"{path}: line {line_no}: field '{empty}' is empty")
            rows.append(row)
    return rows


def subset(queries: Path, n: int, out: Path, seed: int = 13) -> int:
    rows = read_queries(queries)
    _write(out, random.Random(seed).sample(rows, min(n, len(rows))))
    return min(n, len(rows))


def _write(out: Path, rows: list[dict]) -> None:
    from eval.protocols.build import Case, write_csv

    write_csv(out, (Case(r["text"], r["diagnosis"], r["report_id"]) for r in rows))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["notes", "short-notes", "medquad-common", "medquad-rare", "subset"])
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("--queries", type=Path)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    if a.what in ("subset", "short-notes") and a.queries is None:
        ap.error(f"{a.what} needs --queries")
    try:
        if a.what == "notes":
            n = notes(a.shared, a.out)
        elif a.what == "short-notes":
            n = short_notes(a.queries, a.out)
        elif a.what in ("medquad-common", "medquad-rare"):
            n = medquad_common(a.shared, a.out, COMMON_SOURCES if a.what == "medquad-common" else OTHER_SOURCES)
        else:
            n = subset(a.queries, a.n, a.out)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {n} rows to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
