"""Clinical abbreviations in a case, with their long form written beside them.

Why: a clinician types "55M c/o SOB, DOE, bilateral LE edema, JVD", the guidelines and most past
reports say "shortness of breath", "dyspnea on exertion", "jugular venous distention". Neither the
encoder, the cards' TF-IDF nor the finding extractor reads the short forms, so such a case kept
almost none of its findings. `expand` keeps the clinician's text and adds the long form after each
abbreviation it knows ("SOB (shortness of breath)"), so every later step reads both.

Only abbreviations with one dominant sense in real notes are known (`rag_dx/data/clinical_abbreviations.tsv`,
written by `eval/abbreviation_table.py` from the Vanderbilt sense inventories: "CP", "PND", "CVA",
"HR" are ambiguous there and stay as written). A token is read as an abbreviation only when it is
written in capitals ("SOB", "HTN") or with a slash ("c/o", "N/V"), and never in a text written
mostly in capitals, where "BAD" or "GAS" are words. Abbreviations of note structure and tests
("HPI", "ROS", "MRI") are not in the table: written out, they add only words every note shares.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from rag_dx.errors import ConfigError

TABLE = "clinical_abbreviations.tsv"
_TOKEN = re.compile(r"(?<![\w/])(?:[A-Za-z]{1,3}(?:/[A-Za-z]{1,3}){1,2}|[A-Z]{2,6})(?![\w/])")
#: Share of capital letters above which a text is taken as written in capitals.
CAPS_TEXT = 0.5


@functools.cache
def long_forms() -> dict[str, str]:
    """Lower-cased abbreviation -> long form, from the bundled table (read once, then only read)."""
    where = f"rag_dx/data/{TABLE}"
    out: dict[str, str] = {}
    text = resources.files("rag_dx").joinpath("data", TABLE).read_text(encoding="utf-8")
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise ConfigError(f"{where}:{n} field 'long form': expected 'abbreviation<TAB>long form<TAB>share'")
        out[cols[0].strip().lower()] = cols[1].strip()
    return out


def expand(text: str, table: dict[str, str] | None = None) -> str:
    """`text` with " (long form)" after each known abbreviation; unchanged when it has none.

    >>> expand("a man of 55 c/o SOB and DOE on stairs", {"sob": "shortness of breath",
    ...        "doe": "dyspnea on exertion", "c/o": "complains of"})
    'a man of 55 c/o (complains of) SOB (shortness of breath) and DOE (dyspnea on exertion) on stairs'
    """
    letters = [c for c in text if c.isalpha()]
    if not letters or sum(c.isupper() for c in letters) > CAPS_TEXT * len(letters):
        return text
    forms = long_forms() if table is None else table

    lowered = text.lower()

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        long = forms.get(token.lower())
        if long is None or lowered.startswith(f" ({long.lower()}", m.end()):  # unknown, or written out already
            return token
        return f"{token} ({long})"

    return _TOKEN.sub(one, text)
