"""Score de-identification against texts whose identifier spans are known.

Input is what `tests/phi_synth.py` writes (or any annotated set in the same shape): one JSON
object per line with `text`, `phi` and optionally `clinical`, each a list of
`{"category", "start", "end"}`. An identifier counts as removed when every letter and digit of
its span lies inside something the de-identifier found (the type given to it does not matter: a
fax number redacted as `<PHONE>` is removed). A clinical span (a dose, a vital sign, an ICD-10
code) counts as erased when any of its characters does.

Only counts leave this module: no value, no span text, no offset, so its output can go to a
terminal, a log or a CI report.

    >>> s = score_texts([("Call 555-123-4567.", [("phone", 5, 17)], [])], lambda ts: [[("PHONE", 5, 17)]])
    >>> s.recall, s.by_category["phone"]
    (1.0, (1, 1))
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag_dx.errors import InputError

Span = tuple[str, int, int]
Item = tuple[str, list[Span], list[Span]]

__all__ = ["DeidScore", "load_annotated", "score_texts", "format_score"]


@dataclass
class DeidScore:
    """Counts from one scoring run (never values)."""

    by_category: dict[str, tuple[int, int]] = field(default_factory=dict)
    """identifier category -> (removed, total)"""
    clinical: dict[str, tuple[int, int]] = field(default_factory=dict)
    """clinical kind -> (erased, total)"""
    found: Counter = field(default_factory=Counter)
    """entity type -> spans found"""
    texts: int = 0

    @property
    def recall(self) -> float:
        caught = sum(c for c, _ in self.by_category.values())
        total = sum(t for _, t in self.by_category.values())
        return caught / total if total else 1.0

    def category_recall(self, category: str) -> float:
        caught, total = self.by_category[category]
        return caught / total if total else 1.0

    @property
    def clinical_fp_rate(self) -> float:
        erased = sum(e for e, _ in self.clinical.values())
        total = sum(t for _, t in self.clinical.values())
        return erased / total if total else 0.0

    def to_dict(self) -> dict:
        return {
            "texts": self.texts,
            "recall": round(self.recall, 4),
            "by_category": {k: {"removed": c, "total": t, "recall": round(c / t, 4) if t else None}
                            for k, (c, t) in sorted(self.by_category.items())},
            "clinical_fp_rate": round(self.clinical_fp_rate, 4),
            "clinical": {k: {"erased": e, "total": t} for k, (e, t) in sorted(self.clinical.items())},
            "found": dict(sorted(self.found.items())),
        }


def _covered(findings: Iterable[Span], length: int) -> bytearray:
    mask = bytearray(length)
    for _, start, end in findings:
        mask[max(0, start):min(length, end)] = b"\x01" * (min(length, end) - max(0, start))
    return mask


def score_texts(items: Sequence[Item], find_many: Callable[[list[str]], list[list[Span]]]) -> DeidScore:
    """Score `find_many` (texts -> findings per text, as (type, start, end)) on annotated items.

    Args:
        items: (text, identifier spans, clinical spans), spans as (category, start, end).
        find_many: e.g. `Deidentifier.find_many`.
    """
    findings = find_many([text for text, _, _ in items])
    score = DeidScore(texts=len(items))
    caught: Counter = Counter()
    total: Counter = Counter()
    erased: Counter = Counter()
    ctotal: Counter = Counter()
    for (text, phi, clinical), found in zip(items, findings, strict=True):
        mask = _covered(found, len(text))
        score.found.update(kind for kind, _, _ in found)
        for category, start, end in phi:
            total[category] += 1
            if all(mask[i] for i in range(start, end) if text[i].isalnum()):
                caught[category] += 1
        for kind, start, end in clinical:
            ctotal[kind] += 1
            if any(mask[start:end]):
                erased[kind] += 1
    score.by_category = {k: (caught[k], total[k]) for k in total}
    score.clinical = {k: (erased[k], ctotal[k]) for k in ctotal}
    return score


def load_annotated(path: Path) -> list[Item]:
    """Read an annotated JSONL file (see module docstring); raise `InputError` with file:line."""
    items: list[Item] = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
                spans = [[(s["category"], int(s["start"]), int(s["end"])) for s in obj.get(key) or []]
                         for key in ("phi", "clinical")]
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(path, lineno, None, f"not an annotated record ({type(exc).__name__})") from None
            if not isinstance(text, str) or any(not 0 <= s <= e <= len(text) for sp in spans for _, s, e in sp):
                raise InputError(path, lineno, None, "a span lies outside the text")
            items.append((text, spans[0], spans[1]))
    return items


def is_annotated(path: Path) -> bool:
    """True if `path` is a JSONL file whose first record carries a `phi` list."""
    if not str(path).lower().endswith((".jsonl", ".ndjson")):
        return False
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.strip():
                try:
                    obj = json.loads(line)
                except ValueError:
                    return False
                return isinstance(obj, dict) and isinstance(obj.get("phi"), list)
    return False


def format_score(score: DeidScore) -> list[str]:
    """Lines for a terminal: recall per category, clinical erasures, found types (counts only)."""
    lines = [f"texts: {score.texts}", f"identifier recall: {score.recall:.4f}"]
    for category, (c, t) in sorted(score.by_category.items()):
        lines.append(f"  {category:<14} {c:>5}/{t:<5} {c / t if t else 1:.3f}")
    if score.clinical:
        erased = sum(e for e, _ in score.clinical.values())
        total = sum(t for _, t in score.clinical.values())
        lines.append(f"clinical content erased: {erased}/{total} ({score.clinical_fp_rate:.4f})")
        for kind, (e, t) in sorted(score.clinical.items()):
            lines.append(f"  {kind:<14} {e:>5}/{t}")
    lines.append("found: " + ", ".join(f"{k} {v}" for k, v in sorted(score.found.items())))
    return lines


def check_file(path: Path, find_many: Callable[[list[str]], list[list[Span]]], *, text_col: str = "text",
               per_text: bool = False) -> tuple[list[str], DeidScore]:
    """What `rag-dx deid check FILE` prints: counts per entity type found (and, for an annotated
    JSONL set, recall per identifier category and the clinical content erased). Never a value.

    Args:
        path: an annotated JSONL set, a reports CSV/JSONL, or a `.txt`/`.md` file.
        find_many: texts -> findings, e.g. `Deidentifier.find_many`.
        text_col: the report text column of a CSV/JSONL reports file.
        per_text: also one line per text with the types and offsets found (no values).
    """
    path = Path(path)
    where: list[str]
    if is_annotated(path):
        items = load_annotated(path)
        where = [f"{path}:{i + 1}" for i in range(len(items))]
    else:
        if path.suffix.lower() in {".txt", ".md"}:
            texts, where = [path.read_text(encoding="utf-8")], [str(path)]
        else:
            from rag_dx.ingest.loaders import load_reports

            reports = load_reports(path, text_col=text_col).reports
            texts, where = [r.text for r in reports], [f"{path}:{r.line}" for r in reports]
        items = [(t, [], []) for t in texts]
    lines: list[str] = []
    found_cache: list[list[Span]] = []

    def finder(texts: list[str]) -> list[list[Span]]:
        found_cache.extend(find_many(texts))
        return found_cache

    score = score_texts(items, finder)
    if per_text:
        for label, found in zip(where, found_cache, strict=True):
            if found:
                lines.append(f"{label}: " + ", ".join(f"{kind}@{s}-{e}" for kind, s, e in found))
    if score.by_category:
        lines += format_score(score)
    else:
        lines.append(f"texts: {score.texts}")
        lines.append("found: " + (", ".join(f"{k} {v}" for k, v in sorted(score.found.items())) or "nothing"))
    lines.append(f"{sum(score.found.values())} spans would be redacted in {score.texts} texts")
    return lines, score
