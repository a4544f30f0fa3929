"""How common a diagnosis is in clinical practice, for the disease cards' prior.

The table (`rag_dx/data/commonness.tsv`, written by `python -m eval.commonness_table`) holds, per
diagnosis concept, how many of about 1,600 distinct MTSamples transcription notes name it in a
diagnosis, impression, assessment, problem-list or past-history section. The cards add
``prior x log(1 + count)`` to a card's score, so for a common presentation a common disease comes
before a rare syndrome whose page shares its words (issue 13, item 4): without it a
hypothyroidism vignette was led by Cystic Fibrosis and a cellulitis vignette by Kawasaki Disease.
It is a switchable factor of its own (`diagnosis.commonness_prior`, 0 = off), separate from the
rare-source prior; docs/results/protocols.md has what it changes.

Read per loaded index version (a few hundred rows), not at import and not process-wide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from rag_dx.errors import ConfigError

TABLE = "commonness.tsv"


def read_commonness(path: str | Path | None = None) -> dict[str, int]:
    """Concept key -> number of notes naming it; the bundled table when `path` is None.

    A malformed row is an error naming the file, line and field: a silently skipped row would
    quietly demote that diagnosis.
    """
    if path is None:
        text = resources.files("rag_dx").joinpath("data", TABLE).read_text(encoding="utf-8")
        where = f"rag_dx/data/{TABLE}"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: the commonness table cannot be read ({exc})") from None
    out: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip():
            raise ConfigError(f"{where}:{n} field 'key': expected 'key<TAB>count<TAB>names'")
        try:
            count = int(cols[1])
        except ValueError:
            raise ConfigError(f"{where}:{n} field 'count': not a whole number") from None
        if count < 0:
            raise ConfigError(f"{where}:{n} field 'count': must be >= 0")
        out[cols[0].strip()] = count
    return out


def log_counts(keys: Sequence[str], names: Sequence[str], table: Mapping[str, int]) -> np.ndarray:
    """log(1 + count) per card, looked up by its concept key, else by its name's text key (0 when unseen)."""
    from rag_dx.candidates import candidate_key

    counts = [table.get(k, table.get(candidate_key(n), 0)) for k, n in zip(keys, names)]
    return np.log1p(np.asarray(counts, dtype=np.float32))
