"""Write rag_dx/data/clinical_abbreviations.tsv: clinical abbreviations with one dominant sense.

    python -m eval.abbreviation_table --shared ../shared/data --out rag_dx/data/clinical_abbreviations.tsv

Why: clinicians write "SOB, DOE, bilateral LE edema, JVD" where the guidelines say "shortness of
breath", "dyspnea on exertion", "lower extremity", "jugular venous distention". The encoder, the
cards' TF-IDF and the finding extractor read none of the short forms, so a physician-style case
loses most of its findings (rag_dx.abbreviations adds the long form beside each one).

Source: the three Vanderbilt sense inventories of the clinical abbreviation meta-inventory
(Grossman Liu et al. 2021, github.com/lisavirginia/clinical-abbreviations, CC BY 4.0): clinic
notes, discharge summaries and the 448-abbreviation sense distribution, each with the share of
each sense in real notes. An abbreviation is kept only when every inventory that lists it gives
the same sense at least MIN_SHARE of its uses ("SOB", "HTN", "JVD"), so "CP" (chest pain in clinic
notes, cerebral palsy in discharge summaries), "PND" (0.57 in clinic notes), "CVA" (stroke or
costovertebral angle) and "HR" (hour or heart rate) are left as written. Note structure, titles, imaging
tests, times of day and dispensing words ("HPI", "ROS", "Dr", "MRI", "AM", "tab") say nothing about
the patient and are left out (`NOT_CLINICAL`), as are forms with digits (doses, counts, codes).
Deterministic: byte-identical on re-run.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
from pathlib import Path

#: A sense must hold this share of the abbreviation's uses in every inventory that lists it.
MIN_SHARE = 0.9
SOURCES = ("vanderbilt_clinic_notes.txt", "vanderbilt_discharge_sums.txt", "sense_distribution_448.txt")
#: An abbreviation written in lower case this often in MedQuAD's answers is an English word ("bad", "gas",
#: "map", "mom"): a lay writer's capitals ("a BAD cough") must not turn it into a drug list.
WORD_USES = 20
#: Senses that name a part of a note, a title or an imaging test rather than anything about the patient
#: ("HPI", "ROS", "Dr", "MRI"): written out they only add words every note shares.
NOT_CLINICAL = re.compile(r"\b(?:history of present illness|past (?:medical|surgical) history|review of systems|"
                          r"social history|family history|chief complaint|physical exam(?:ination)?|assessment|plan|"
                          r"doctors?|mister|misses|patient|appointment|follow up|imaging|tomography|x-ray|ultrasound|"
                          r"sonogram|scan|morning|evening|afternoon|night|daily|dispense|tablet|capsule)\b")
#: 2-6 letters (and "/" for n/v, c/o, s/p); digits and one-letter forms are mostly doses, counts and codes.
_SHAPE = re.compile(r"[a-z]{2,6}|[a-z]{1,3}(?:/[a-z]{1,3}){1,2}")
HEADER = ("# abbreviation\tlong form\tlowest share of its uses over the inventories listing it "
          "(Vanderbilt clinic notes, discharge summaries, 448-sense distribution; clinical abbreviation "
          "meta-inventory, Grossman Liu et al. 2021, CC BY 4.0; eval/abbreviation_table.py)\n")


def senses(path: Path) -> dict[str, dict[str, float]]:
    """abbreviation -> sense -> share, from one inventory (its header row skipped; the share is the last
    column). A malformed row stops the script with its file, line and field: a skipped one would
    quietly change which abbreviations count as unambiguous."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"{path}: cannot be read ({exc})") from None
    out: dict[str, dict[str, float]] = {}
    for n, line in enumerate(lines, start=1):
        cols = line.split("\t")
        if not line.strip() or (n == 1 and cols[0] == "abbreviation"):
            continue
        if len(cols) < 3:
            raise SystemExit(f"{path}:{n}: expected 'abbreviation<TAB>sense<TAB>...<TAB>share', got {len(cols)} field(s)")
        try:
            share = float(cols[-1])
        except ValueError:
            raise SystemExit(f"{path}:{n}: field 'share' is not a number") from None
        out.setdefault(cols[0].strip().lower(), {})[cols[1].strip().lower()] = share
    return out


def lower_case_words(shared: Path) -> collections.Counter[str]:
    """How often each word is written in lower case in MedQuAD's answers (patient-facing prose)."""
    words: collections.Counter[str] = collections.Counter()
    with gzip.open(shared / "medquad" / "medquad_answered.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            words.update(re.findall(r"(?<![\w/])[a-z]+(?:/[a-z]+)*(?![\w/])", json.loads(line)["answer"]))
    return words


def table(shared: Path) -> list[tuple[str, str, float]]:
    inventories = [senses(shared / "abbreviations" / name) for name in SOURCES]
    words = lower_case_words(shared)
    rows = []
    for abbr in sorted(set().union(*inventories)):
        if not _SHAPE.fullmatch(abbr) or words[abbr] >= WORD_USES:
            continue
        best = []
        for inv in inventories:
            if abbr in inv:
                sense, share = max(inv[abbr].items(), key=lambda kv: (kv[1], kv[0]))
                best.append((sense, share))
        names = {s for s, _ in best}
        low = min(share for _, share in best)
        if len(names) == 1 and low >= MIN_SHARE:
            sense = names.pop()
            if (sense != abbr and not sense.startswith(abbr + " ") and "not an abbreviation" not in sense
                    and not NOT_CLINICAL.search(sense)):
                rows.append((abbr, sense, low))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("rag_dx/data/clinical_abbreviations.tsv"))
    a = ap.parse_args()
    rows = table(a.shared)
    partial = a.out.with_name(a.out.name + ".partial")  # written whole, then moved: never half a table
    partial.write_text(HEADER + "".join(f"{x}\t{s}\t{share:.3f}\n" for x, s, share in rows), encoding="utf-8")
    partial.replace(a.out)
    print(f"{len(rows)} abbreviations -> {a.out}")


if __name__ == "__main__":
    main()
