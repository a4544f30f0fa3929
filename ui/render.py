"""Turn a `Differential` into what the clinician sees: HTML for the panel, Markdown for the chat.

Pure functions, no Gradio: easy to test and to reuse (an e-mail report, a static page). Every
string that comes from the index or the case is escaped, in HTML (`_e`) and in Markdown
(`md_escape`, which also neutralizes inline HTML, since Gradio's Markdown renders it): report
text, titles, labels, ids, versions and abstention reasons are data, never markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from rag_dx.next_question import question_groups
from rag_dx.schemas import DISCLAIMER, Diagnosis, Differential, Evidence  # DISCLAIMER: the one disclaimer

__all__ = [
    "DISCLAIMER",
    "PANEL_CSS",
    "abstain_html",
    "chat_summary",
    "differential_html",
    "empty_panel_html",
    "message_html",
    "next_questions_html",
    "rationale_sentences",
    "red_flags_html",
    "versions_markdown",
]

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def md_escape(text: str) -> str:
    """Escape Markdown and inline HTML so the text renders literally in the chat."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.01 else "<1%"


def _source(source: str) -> str:
    """A file path becomes its name: the browser need not learn the server's directory layout."""
    if source.startswith(("/", "./", "../", "~")) or re.match(r"^[A-Za-z]:[\\/]", source):
        return source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return source


def _evidence_meta(ev: Evidence) -> str:
    parts = [ev.kind]
    if ev.source:
        parts.append(_source(ev.source))
    if ev.date:
        parts.append(ev.date)
    return " · ".join(parts)


def _passage_html(ev: Evidence) -> str:
    link = ""
    if ev.url and ev.url.startswith(("https://", "http://")):
        link = f' <a href="{_e(ev.url)}" target="_blank" rel="noopener noreferrer nofollow">source</a>'
    label = f'<span class="rdx-label">{_e(ev.label)}</span>' if ev.label else ""
    return (
        f'<details class="rdx-passage" data-evidence-id="{_e(ev.id)}">'
        f'<summary><code class="rdx-cite">{_e(ev.id)}</code> <span class="rdx-kind rdx-kind-{_e(ev.kind)}">'
        f'{_e(ev.kind)}</span> <b>{_e(ev.title)}</b> {label}'
        f'<span class="rdx-meta">{_e(_evidence_meta(ev))} · score {ev.score:.3f}</span></summary>'
        f'<div class="rdx-text">{_e(ev.text)}{link}</div></details>'
    )


def abstain_html(result: Differential) -> str:
    if not result.abstained:
        return ""
    return (
        '<div class="rdx-abstain" role="alert" id="rdx-abstain"><b>rag-dx abstains: insufficient evidence.</b> '
        f'{_e(result.abstain_reason or "")}. The candidates below are shown for transparency only; '
        "do not read them as a suggestion.</div>"
    )


def differential_html(result: Differential) -> str:
    """The ranked differential as a table with probability bars, then the evidence per diagnosis."""
    by_id = {ev.id: ev for ev in result.evidence}
    rows = []
    for rank, dx in enumerate(result.differential, start=1):
        cites = " ".join(f'<code class="rdx-cite">{_e(i)}</code>' for i in dx.evidence[:4])
        if len(dx.evidence) > 4:
            cites += f' <span class="rdx-meta">+{len(dx.evidence) - 4}</span>'
        width = max(0.0, min(100.0, 100 * dx.probability))
        rows.append(
            f'<tr class="rdx-row"><td class="rdx-rank">{rank}</td>'
            f'<td class="rdx-dx-name">{_e(dx.diagnosis)}{findings_html(dx)}</td><td class="rdx-icd">{_e(dx.icd10 or "")}</td>'
            f'<td class="rdx-prob"><div class="rdx-bar" aria-hidden="true"><span style="width:{width:.1f}%"></span></div>'
            f'<span class="rdx-pct">{_pct(dx.probability)}</span></td><td class="rdx-cites">{cites}</td></tr>'
        )
    if not rows:
        table = '<p class="rdx-meta">No retrieved evidence names a diagnosis.</p>'
    else:
        table = (
            '<table class="rdx-table" id="rdx-differential-table"><thead><tr><th>#</th><th>Diagnosis</th>'
            "<th>ICD-10</th><th>Probability</th><th>Cited evidence</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>"
        )
    groups = []
    for rank, dx in enumerate(result.differential, start=1):
        passages = [by_id[i] for i in dx.evidence if i in by_id]
        if not passages:
            continue
        n_rep = sum(ev.kind == "report" for ev in passages)
        n_gl = len(passages) - n_rep
        what = ", ".join(x for x in (f"{n_rep} similar report{'s' * (n_rep != 1)}" if n_rep else "",
                                     f"{n_gl} guideline passage{'s' * (n_gl != 1)}" if n_gl else "") if x)
        groups.append(
            f'<details class="rdx-group"{" open" if rank == 1 else ""}><summary><b>{rank}. {_e(dx.diagnosis)}</b> '
            f'<span class="rdx-meta">{_pct(dx.probability)} · {what}</span></summary>'
            + "".join(_passage_html(ev) for ev in passages) + "</details>"
        )
    evidence = ('<h4 class="rdx-h">Evidence behind each diagnosis <span class="rdx-meta">(click to expand the cited '
                "passages)</span></h4>" + "".join(groups)) if groups else ""
    return (f'<div class="rdx-answer" id="rdx-answer">{red_flags_html(result)}{abstain_html(result)}{table}'
            f'{prediction_set_html(result)}{next_questions_html(result)}{evidence}</div>')


def findings_html(dx: Diagnosis) -> str:
    """'matches: fever, dysuria; against: no flank pain' under a diagnosis name (empty when neither)."""
    parts = []
    if dx.matches:
        parts.append(f'<span class="rdx-match">matches: {_e(", ".join(dx.matches))}</span>')
    if dx.against:
        parts.append(f'<span class="rdx-against">against: {_e(", ".join(dx.against))}</span>')
    return f'<div class="rdx-findings">{"; ".join(parts)}</div>' if parts else ""


def _link(url: str | None, text: str = "source") -> str:
    if url and url.startswith(("https://", "http://")):
        return f' <a href="{_e(url)}" target="_blank" rel="noopener noreferrer nofollow">{_e(text)}</a>'
    return ""


def red_flags_html(result: Differential) -> str:
    """Can't-miss diagnoses the case points to and the list omits: first in the panel, as an alert."""
    if not result.red_flags:
        return ""
    items = "".join(
        f'<li class="rdx-flag" data-rule="{_e(f.rule)}"><b>Consider {_e(f.diagnosis)}</b>: not in the list below, '
        f'but the case has <span class="rdx-trigger">{_e(f.trigger)}</span>. '
        f'<span class="rdx-flag-source">Source: {_e(f.source)}{_link(f.url)}</span></li>'
        for f in result.red_flags)
    n = len(result.red_flags)
    return (f'<div class="rdx-red-flags" role="alert" id="rdx-red-flags"><b>Red flag{"s" * (n != 1)}: '
            f"can't-miss diagnos{'e' if n != 1 else 'i'}s not in the differential</b><ul>{items}</ul></div>")


def next_questions_html(result: Differential) -> str:
    """ "To tell A from B, ask about: ..." for the top candidates; each finding shows whom it favours."""
    if not result.next_questions:
        return ""
    rows = []
    for a, b, qs in question_groups(result.next_questions):
        asks = ", ".join(
            f'<span class="rdx-q" data-concept="{_e(q.concept_id)}" title="in {_e(", ".join(q.evidence))}">'
            f'{_e(q.finding.lower())}</span> <span class="rdx-meta">({_e(q.favours)})</span>' for q in qs)
        rows.append(f'<li>To tell <b>{_e(a)}</b> from <b>{_e(b)}</b>, ask about: {asks}</li>')
    return ('<div class="rdx-questions" id="rdx-next-questions"><h4 class="rdx-h">Next questions</h4>'
            f'<ul>{"".join(rows)}</ul><span class="rdx-meta">Findings in one candidate\'s cited passages and not the '
            "other's, not yet mentioned in the case. Type the answer as a follow-up to update the differential."
            "</span></div>")


def prediction_set_html(result: Differential, level: float = 0.9) -> str:
    """The conformal set at `level` ("90% set: A, B"), how the candidates were ranked, and the answer's notes."""
    parts = []
    for ps in result.prediction_sets:
        if abs(ps.level - level) > 1e-9:
            continue
        names = ", ".join(_e(d) for d in ps.diagnoses) or "none (no candidate is probable enough on its own)"
        note = ("" if ps.guaranteed else
                ' <span class="rdx-meta">(no coverage guarantee: this case is unlike the reports it was '
                "calibrated on)</span>")
        # The coverage sentence is the guarantee; a case outside the calibration has none, and saying
        # "about 90% of past cases" beside an empty or one-name set would read as one.
        meaning = (f'The right diagnosis is in this set for about {int(round(100 * ps.level))}% of the practice\'s '
                   "past cases like this one." if ps.guaranteed else
                   "Read it as a reading aid: how often such a set holds the right diagnosis is not known for a "
                   "case like this.")
        parts.append(f'<p class="rdx-set" id="rdx-set"><b>{int(round(100 * ps.level))}% set:</b> {names}{note}'
                     f'<br><span class="rdx-meta">{meaning}</span></p>')
    if result.ranking:
        parts.append(f'<p class="rdx-meta" id="rdx-ranking">Ranked by: {_e(result.ranking)}</p>')
    parts += [f'<p class="rdx-meta rdx-warning">Note: {_e(w)}</p>' for w in result.warnings]
    return "".join(parts)


def empty_panel_html() -> str:
    return ('<div class="rdx-answer rdx-empty" id="rdx-empty">Describe a case in the chat. Each message adds to the '
            "current case; <b>New case</b> starts over. The ranked differential, with the evidence behind each "
            "diagnosis, appears here.</div>")


def message_html(text: str, *, kind: str = "info") -> str:
    role = ' role="alert"' if kind == "error" else ""
    return f'<div class="rdx-answer rdx-msg rdx-msg-{_e(kind)}"{role}>{_e(text)}</div>'


def chat_summary(result: Differential, *, top: int = 3) -> str:
    """The assistant's chat message: a few lines, the full answer is in the panel."""
    lines = []
    for f in result.red_flags:
        lines.append(f"**Red flag: consider {md_escape(f.diagnosis)}** (not in the list): the case has "
                     f"{md_escape(f.trigger)}; source: {md_escape(f.source)}")
    if result.red_flags:
        lines.append("")
    if result.abstained:
        lines.append(f"**rag-dx abstains: insufficient evidence.** {md_escape(result.abstain_reason or '')}")
        lines.append("")
        lines.append("Candidates (for transparency only):")
    else:
        lines.append("**Differential** (details and evidence in the panel):")
    for rank, dx in enumerate(result.differential[:top], start=1):
        code = f" ({md_escape(dx.icd10)})" if dx.icd10 else ""
        lines.append(f"{rank}\\. {md_escape(dx.diagnosis)}{code}: {md_escape(_pct(dx.probability))}")
    if len(result.differential) > top:
        lines.append(f"… and {len(result.differential) - top} more.")
    for ps in result.prediction_sets:
        if abs(ps.level - 0.9) < 1e-9:
            names = ", ".join(md_escape(d) for d in ps.diagnoses) or "none"
            lines.append(f"90% set: {names}" + ("" if ps.guaranteed else " (no coverage guarantee for this case)"))
    for a, b, qs in question_groups(result.next_questions):
        asks = ", ".join(md_escape(q.finding.lower()) for q in qs)
        lines.append(f"To tell {md_escape(a)} from {md_escape(b)}, ask about: {asks}")
    return "\n".join(lines)


def _ids(ids: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(f"\\[{md_escape(i)}\\]" for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def rationale_sentences(result: Differential, *, top: int = 3) -> list[str]:
    """A short, template-built rationale that cites only evidence ids shown in the panel.

    The bundled 135M generator is not trusted to free-write; this says what the ranking rests on.
    """
    if not result.differential:
        return ["No retrieved passage names a diagnosis, so there is nothing to rank."]
    by_id = {ev.id: ev for ev in result.evidence}
    out = []
    if result.abstained:
        out.append(f"rag-dx abstains: {md_escape(result.abstain_reason or '')}.")
    for rank, dx in enumerate(result.differential[:top], start=1):
        reports = [i for i in dx.evidence if i in by_id and by_id[i].kind == "report"]
        guides = [i for i in dx.evidence if i in by_id and by_id[i].kind == "guideline"]
        support = []
        if reports:
            support.append(f"{len(reports)} similar past report{'s' * (len(reports) != 1)} {_ids(reports)}")
        if guides:
            support.append(f"{len(guides)} guideline passage{'s' * (len(guides) != 1)} {_ids(guides)}")
        lead = "Ranked first" if rank == 1 else f"Ranked {rank}"
        out.append(f"{lead}: {md_escape(dx.diagnosis)} ({md_escape(_pct(dx.probability))}), supported by "
                   f"{' and '.join(support) if support else 'no cited passage'}.")
    out.append("Check the cited passages against the patient before acting on any of these.")
    return out


def versions_markdown(result: Differential) -> str:
    v = result.versions
    ms = result.timings_ms.get("total_ms")
    parts = [f"index {md_escape(v.index or 'none')}", f"encoder {md_escape(v.encoder or 'none')}", f"generator {md_escape(v.generator or 'none')}",
             f"adapter {md_escape(v.adapter or 'none')}", f"rag-dx {md_escape(v.package)}"]
    if ms is not None:
        parts.append(f"{ms:.0f} ms")
    return "<small>" + " · ".join(parts) + "</small>"


PANEL_CSS = """
.rdx-answer { font-size: 0.95rem; line-height: 1.4; }
.rdx-empty, .rdx-msg { padding: 0.75rem 1rem; border-radius: 8px; background: var(--background-fill-secondary); }
.rdx-msg-error { border-left: 4px solid #c62828; }
.rdx-abstain { padding: 0.6rem 0.9rem; margin-bottom: 0.6rem; border-radius: 8px;
  background: #fff4e5; color: #663c00; border-left: 4px solid #ed6c02; }
.rdx-red-flags { padding: 0.6rem 0.9rem; margin-bottom: 0.6rem; border-radius: 8px;
  background: #fdecea; color: #611a15; border-left: 5px solid #c62828; }
.rdx-red-flags ul, .rdx-questions ul { margin: 0.3rem 0 0 1.1rem; padding: 0; }
.rdx-flag-source { font-size: 0.82rem; }
.rdx-trigger, .rdx-q { font-weight: 600; }
.rdx-questions { margin: 0.4rem 0; }
.rdx-table { width: 100%; border-collapse: collapse; margin-bottom: 0.5rem; border: none; }
.rdx-table tr { border: none !important; }
.rdx-table th, .rdx-table td { border-left: none !important; border-right: none !important; border-top: none; }
.rdx-table th { text-align: left; font-weight: 600; padding: 4px 6px; border-bottom: 2px solid var(--border-color-primary); }
.rdx-table td { padding: 5px 6px; border-bottom: 1px solid var(--border-color-primary); vertical-align: middle; }
.rdx-rank { width: 1.5rem; color: var(--body-text-color-subdued); }
.rdx-dx-name { font-weight: 600; }
.rdx-icd { font-family: var(--font-mono); font-size: 0.85rem; white-space: nowrap; }
.rdx-prob { width: 34%; white-space: nowrap; }
.rdx-bar { display: inline-block; width: calc(100% - 3.2rem); height: 0.8rem; border-radius: 4px;
  background: var(--background-fill-secondary); vertical-align: middle; overflow: hidden; }
.rdx-bar span { display: block; height: 100%; background: var(--color-accent, #2563eb); }
.rdx-pct { display: inline-block; width: 2.9rem; text-align: right; font-variant-numeric: tabular-nums; }
.rdx-cite { font-size: 0.8rem; padding: 0 3px; border-radius: 3px; background: var(--background-fill-secondary); }
.rdx-meta { color: var(--body-text-color-subdued); font-size: 0.82rem; margin-left: 0.3rem; }
.rdx-findings { font-size: 0.8rem; font-weight: normal; color: var(--body-text-color-subdued); }
.rdx-against { color: var(--error-text-color, #b42318); }
.rdx-h { margin: 0.8rem 0 0.3rem 0; font-weight: 600; }
.rdx-group { margin: 0.25rem 0; padding: 0.3rem 0.6rem; border: 1px solid var(--border-color-primary); border-radius: 8px; }
.rdx-group > summary { cursor: pointer; }
.rdx-passage { margin: 0.3rem 0 0.3rem 0.8rem; }
.rdx-passage > summary { cursor: pointer; }
.rdx-kind { font-size: 0.75rem; text-transform: uppercase; padding: 0 4px; border-radius: 3px; }
.rdx-kind-report { background: #e3f2fd; color: #0d47a1; }
.rdx-kind-guideline { background: #e8f5e9; color: #1b5e20; }
.rdx-label { font-style: italic; margin-left: 0.3rem; }
.rdx-text { margin: 0.3rem 0 0.5rem 1rem; padding: 0.4rem 0.6rem; border-left: 3px solid var(--border-color-primary);
  white-space: pre-wrap; font-size: 0.88rem; }
"""
"""Styles for the panel; `ui.app` passes them to the HTML components (scoped by Gradio)."""
