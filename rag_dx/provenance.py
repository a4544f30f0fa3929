"""Where an artefact came from: package versions, the git commit, the time. One helper for every
manifest (index versions, eval runs, fine-tuned models, benchmark results)."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_REPO = Path(__file__).resolve().parent


def utc_now() -> str:
    """The current UTC time, to the second, ISO 8601 with a Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_commit(*, short: bool = False) -> str | None:
    """The commit of the checkout rag_dx runs from; None outside a git checkout or without git."""
    try:
        out = subprocess.run(["git", "rev-parse", *(["--short"] if short else []), "HEAD"], cwd=_REPO,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_version(name: str) -> str | None:
    """The installed distribution's version, or None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


def provenance(packages: Iterable[str] = (), *, created_key: str = "created") -> dict[str, Any]:
    """`{created, rag_dx, git_commit, python, packages}` for a manifest."""
    from rag_dx import __version__

    return {
        created_key: utc_now(),
        "rag_dx": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": package_versions(packages),
    }


#: What decides how an index version reads diagnosis names and findings when it is built: its disease
#: cards (which names are diagnoses, which pages join one concept, the finding words they read) and its
#: practice model (the negation-aware text it is trained on) keep that reading until it is rebuilt.
READING_SOURCES = (
    "vocab.py", "vocab_tables.py", "labels.py", "candidates.py", "commonness.py", "abbreviations.py",
    "findings.py", "finding_terms.py", "everyday_findings.py", "site_predicates.py", "vital_signs.py",
    "patient_age.py", "topic_cards.py", "cards.py", "data/curated_synonyms.tsv", "data/commonness.tsv",
    "data/clinical_abbreviations.tsv",
)


@functools.lru_cache(maxsize=1)
def reading_digest() -> str:
    """A digest of :data:`READING_SOURCES` as this installation has them, stored in every index version.

    Why: an index built before a vocabulary or finding-table change keeps the old reading with no
    sign of it; the dev protocols' indexes once lagged two such commits for two sessions, their effect
    on the cards unmeasured. A version whose digest differs from the running code's is served with a
    warning (:func:`rag_dx.index.reader.open_version`). Any edit to these files changes it, comments
    included: it says the reading *may* differ, not that it does."""
    digest = hashlib.sha256()
    for rel in READING_SOURCES:
        digest.update(rel.encode() + b"\x00" + (_REPO / rel).read_bytes() + b"\x00")
    return digest.hexdigest()[:16]


def built_with_other_reading(manifest: Mapping[str, Any]) -> bool:
    """Whether an index version's manifest records a :func:`reading_digest` other than the running one's
    (False for a version built before the digest was stored)."""
    built_with = manifest.get("reading_digest")
    return bool(built_with) and built_with != reading_digest()
