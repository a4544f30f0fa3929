"""Text the commands print: a differential, a new index version, skipped rows."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rag_dx.next_question import question_groups
from rag_dx.schemas import DISCLAIMER


def format_differential(result) -> str:
    """A differential for the terminal: ranked diagnoses with citations, the evidence, the versions."""
    lines = [f"rag-dx differential  ({DISCLAIMER})", ""]
    if result.abstained:
        lines.append(f"ABSTAINED: insufficient evidence - {result.abstain_reason}")
        lines.append("The candidates below are shown for transparency only.")
        lines.append("")
    for flag in getattr(result, "red_flags", None) or []:
        lines.append(f"RED FLAG: consider {flag.diagnosis} (not in the differential): the case has {flag.trigger}")
        lines.append(f"     source: {flag.source}" + (f" <{flag.url}>" if flag.url else ""))
    if getattr(result, "red_flags", None):
        lines.append("")
    for rank, dx in enumerate(result.differential, start=1):
        code = f" [{dx.icd10}]" if dx.icd10 else ""
        lines.append(f"{rank:>2}. {dx.diagnosis}{code}  p={dx.probability:.2f}")
        lines.append(f"     cites: {', '.join(dx.evidence) if dx.evidence else '(no evidence)'}")
        if dx.matches or dx.against:
            lines.append("     " + "; ".join(
                part for part in (f"matches: {', '.join(dx.matches)}" if dx.matches else "",
                                  f"against: {', '.join(dx.against)}" if dx.against else "") if part))
    for ps in result.prediction_sets:
        if ps.level == 0.9:
            note = "" if ps.guaranteed else "  (no coverage guarantee for this case)"
            names = ", ".join(ps.diagnoses) or "none (no candidate is probable enough on its own for this level)"
            lines.append(f"90% set: {names}{note}")
    if result.ranking:
        lines.append(f"ranked by: {result.ranking}")
    for warning in getattr(result, "warnings", None) or []:
        lines.append(f"note: {warning}")
    for a, b, qs in question_groups(getattr(result, "next_questions", None) or []):
        lines.append(f"to tell {a} from {b}, ask about: {', '.join(q.finding.lower() for q in qs)}")
    lines.append("")
    lines.append("Evidence:")
    for ev in result.evidence:
        label = f" | {ev.label}" if ev.label else ""
        lines.append(f"  [{ev.id}] {ev.kind}: {ev.title}{label}  (score {ev.score:.4f})")
        snippet = " ".join(ev.text.split())
        lines.append(f"      {snippet[:220]}{'...' if len(snippet) > 220 else ''}")
    v = result.versions
    lines.append("")
    lines.append(f"versions: index={v.index} encoder={v.encoder} generator={v.generator} adapter={v.adapter}")
    lines.append(f"time: {result.timings_ms.get('total_ms', 0):.0f} ms")
    return "\n".join(lines)


def report_version(name: str, path: Path) -> None:
    manifest = json.loads((path / "manifest.json").read_text())
    c = manifest["counts"]
    typer.echo(f"index '{name}' version {manifest['version']}: {c['reports']} reports, "
               f"{c['guidelines']} guideline documents, {c['chunks']} chunks "
               f"({manifest.get('embedded_chunks', c['chunks'])} embedded) -> {path}")
    changes = manifest.get("changes")
    if changes:  # an update: what it did to the documents the index held (ids, reports and guidelines)
        typer.echo(f"  documents: {changes['added']} added, {changes['replaced']} replaced, {changes['deleted']} deleted")


def report_rejects(rejects: list, version_dir: Path) -> None:
    """List skipped rows on stderr and in a rejects file beside the version (reasons, never values)."""
    if not rejects:
        return
    out = version_dir.parent.parent / f"rejects-{version_dir.name}.txt"
    out.write_text("".join(f"{err}\n" for err in rejects), encoding="utf-8")
    typer.echo(f"skipped {len(rejects)} invalid rows (listed in {out}):", err=True)
    for err in rejects[:20]:
        typer.echo(f"  {err}", err=True)
