"""The monitoring report: PNG plots, a summary table and one self-contained HTML page.

Plots use matplotlib's object API on the Agg canvas (no pyplot, no display, no global figure
state), so the UI's worker threads can draw them too. The HTML inlines its CSS and its PNGs
(base64), so it opens anywhere with nothing to fetch. Everything shown comes from a
`rag_dx.monitor.MonitorSummary`: counts, rates, scores and dates, never case text.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rag_dx.monitor import MonitorSummary

__all__ = ["HTML_FILE", "JSON_FILE", "render_html", "render_pngs", "report_body", "summary_rows", "write_report"]

HTML_FILE = "monitor.html"
JSON_FILE = "monitor.json"
WARN_COLOR = "#b3261e"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def summary_rows(summary: MonitorSummary) -> list[tuple[str, str]]:
    """(figure, value) pairs: the terminal table and the top of the HTML page."""
    s, a, r = summary, summary.agreement, summary.recent_agreement
    answered = s.queries - s.failed
    drift = s.recent_drift
    level = f"{100 * s.set_level:.0f}%"
    return [
        ("period", f"{s.first_day or '-'} .. {s.last_day or '-'}"),
        ("queries (failed)", f"{s.queries} ({s.failed})"),
        ("queries per active day", _num(s.queries / len(s.daily), 1) if s.daily else "-"),
        ("abstention rate", _pct(s.abstained / answered if answered else None)),
        ("answers with feedback", f"{a.answers} (evidence wrong: {a.evidence_wrong})"),
        ("top-1 agreement, all", f"{_pct(a.top1_rate)} of {a.judged_top1} (mean top-1 probability "
                                 f"{_num(a.mean_top1_probability, 2)})"),
        (f"in the {level} set, all", f"{_pct(a.set_rate)} of {a.judged_set}"),
        (f"top-1 agreement, last {s.window_days} days", f"{_pct(r.top1_rate)} of {r.judged_top1}"),
        (f"in the {level} set, last {s.window_days} days", f"{_pct(r.set_rate)} of {r.judged_set}"),
        (f"drift PSI, last {s.window_days} days", "-" if drift is None else
         f"{_num(drift.psi)} over {drift.n} queries (median best similarity {_num(drift.median_similarity)}, "
         f"{_pct(drift.low_share)} in the practice's lowest decile)"),
    ] + [(f"top-1 agreement, route {route}", f"{_pct(g.top1_rate)} of {g.judged_top1} (mean top-1 probability "
                                             f"{_num(g.mean_top1_probability, 2)})")
         for route, g in s.agreement_by_route.items()]


def _figure(width: float = 7.0, height: float = 3.2) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def _png(fig: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _dates(ax: Any, labels: Sequence[str]) -> None:
    step = max(1, len(labels) // 12)
    ax.set_xticks(range(len(labels))[::step], labels[::step], rotation=45, ha="right", fontsize=8)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666")
    ax.set_xticks([])
    ax.set_yticks([])


def render_pngs(summary: MonitorSummary, *, drift_psi_warn: float | None = None) -> dict[str, bytes]:
    """One PNG per figure: queries_per_day, abstention_rate, confidence, agreement, drift."""
    days = [d.day.isoformat() for d in summary.daily]
    x = list(range(len(days)))
    out: dict[str, bytes] = {}

    fig, ax = _figure()
    if days:
        answered = [d.queries - d.failed - d.abstained for d in summary.daily]
        ax.bar(x, answered, label="answered", color="#1a73e8")
        ax.bar(x, [d.abstained for d in summary.daily], bottom=answered, label="abstained", color="#f9ab00")
        ax.bar(x, [d.failed for d in summary.daily], bottom=[a + d.abstained for a, d in zip(answered, summary.daily)],
               label="failed", color=WARN_COLOR)
        _dates(ax, days)
        ax.set_ylabel("queries")
        ax.legend(fontsize=8, loc="upper left", framealpha=0.8)
    else:
        _empty(ax, "no queries")
    ax.set_title("Queries per day")
    out["queries_per_day"] = _png(fig)

    fig, ax = _figure()
    rates = [d.abstention_rate for d in summary.daily]
    if any(r is not None for r in rates):
        ax.plot(x, [float("nan") if r is None else r for r in rates], marker="o", color="#f9ab00")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of answers")
        _dates(ax, days)
    else:
        _empty(ax, "no answers")
    ax.set_title("Abstention rate per day")
    out["abstention_rate"] = _png(fig)

    fig, ax = _figure()
    if sum(summary.confidence_bins) + sum(summary.confidence_bins_abstained):
        centers = [(i + 0.5) / len(summary.confidence_bins) for i in range(len(summary.confidence_bins))]
        ax.bar(centers, summary.confidence_bins, width=0.09, label="answered", color="#1a73e8")
        ax.bar(centers, summary.confidence_bins_abstained, width=0.09, bottom=summary.confidence_bins,
               label="abstained", color="#f9ab00")
        ax.set_xlim(0, 1)
        ax.set_xlabel("top-1 probability")
        ax.set_ylabel("queries")
        ax.legend(fontsize=8, loc="upper left", framealpha=0.8)
    else:
        _empty(ax, "no query recorded a top-1 probability")
    ax.set_title("Confidence distribution")
    out["confidence"] = _png(fig)

    fig, ax = _figure()
    bars = [("top-1, all", summary.agreement.top1_rate, summary.agreement.judged_top1),
            (f"top-1, {summary.window_days} d", summary.recent_agreement.top1_rate, summary.recent_agreement.judged_top1),
            ("in set, all", summary.agreement.set_rate, summary.agreement.judged_set),
            (f"in set, {summary.window_days} d", summary.recent_agreement.set_rate, summary.recent_agreement.judged_set)]
    if any(rate is not None for _, rate, _ in bars):
        for i, (_, rate, n) in enumerate(bars):
            ax.bar(i, rate or 0.0, color="#1a73e8" if i < 2 else "#188038")
            ax.text(i, (rate or 0.0) + 0.02, f"n={n}", ha="center", fontsize=8)
        ax.axhline(summary.set_level, color="#188038", ls="--", lw=1, label=f"set level {summary.set_level:g}")
        ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_ylabel("share of judged feedback")
        ax.legend(fontsize=8, loc="upper left", framealpha=0.8)
    else:
        _empty(ax, "no judged feedback")
    ax.set_title("Clinician feedback: agreement with the top-1 and the conformal set")
    out["agreement"] = _png(fig)

    fig, ax = _figure()
    rows = [r for r in summary.drift if r.psi is not None]
    if rows:
        ax.plot(range(len(rows)), [r.psi for r in rows], marker="o", color="#1a73e8", label="PSI")
        for i, r in enumerate(rows):
            ax.annotate(f"n={r.n}", (i, r.psi), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
        if drift_psi_warn is not None:
            ax.axhline(drift_psi_warn, color=WARN_COLOR, ls="--", lw=1, label=f"warn at {drift_psi_warn:g}")
        _dates(ax, [r.start.isoformat() for r in rows])
        ax.set_ylabel("PSI vs the practice's profile")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper left", framealpha=0.8)
    else:
        _empty(ax, "no query recorded a best similarity with an index profile")
    ax.set_title("Input drift per period")
    out["drift"] = _png(fig)
    return out


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#202124}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #dadce0;padding:.3rem .6rem;text-align:left}
.note{color:#5f6368;font-size:.92rem}img{max-width:100%;margin:.5rem 0}"""
_WARN_STYLE = f"background:#fce8e6;color:{WARN_COLOR};border-left:4px solid {WARN_COLOR};padding:.5rem .8rem;margin:.4rem 0"


def report_body(summary: MonitorSummary, pngs: Mapping[str, bytes]) -> str:
    """The report without a page around it (the UI's panel shows this): warnings first, then the
    summary, the per-day and drift tables, the plots."""
    e = html.escape
    parts = [f"<div class='rdx-monitor-warning' role='alert' style='{_WARN_STYLE}'><b>Warning.</b> {e(w)}</div>"
             for w in summary.warnings] or ["<p class='rdx-monitor-ok'>No threshold crossed.</p>"]
    parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in summary_rows(summary))
                 + "</table>")
    parts += [f"<p class='note'>{e(n)}</p>" for n in summary.notes]
    parts.append("<h3>Per day</h3><table><tr><th>day</th><th>queries</th><th>failed</th><th>abstained</th>"
                 "<th>abstention rate</th><th>mean top-1 probability</th></tr>")
    parts += [f"<tr><td>{d.day}</td><td>{d.queries}</td><td>{d.failed}</td><td>{d.abstained}</td>"
              f"<td>{_pct(d.abstention_rate)}</td><td>{_num(d.mean_top1, 2)}</td></tr>" for d in summary.daily]
    parts.append("</table><h3>Drift per period</h3><table><tr><th>from</th><th>queries</th><th>PSI</th>"
                 "<th>median best similarity</th><th>in the lowest decile</th></tr>")
    parts += [f"<tr><td>{r.start}</td><td>{r.n}</td><td>{_num(r.psi)}</td><td>{_num(r.median_similarity)}</td>"
              f"<td>{_pct(r.low_share)}</td></tr>" for r in summary.drift]
    parts.append("</table>")
    for name, png in pngs.items():
        b64 = base64.b64encode(png).decode("ascii")
        parts.append(f"<h3>{e(name.replace('_', ' '))}</h3><img alt='{e(name)}' src='data:image/png;base64,{b64}'>")
    parts.append("<p class='note'>Read from the audit log (ids, versions, scores) and the feedback store "
                 "(feedback kinds; diagnoses compared, not shown). See docs/monitoring.md.</p>")
    return "".join(parts)


def render_html(summary: MonitorSummary, pngs: Mapping[str, bytes], *, title: str = "rag-dx monitoring") -> str:
    """One self-contained HTML page: inline CSS, base64 PNGs, nothing to fetch."""
    e = html.escape
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style>"
            f"</head><body><h1>{e(title)}</h1>{report_body(summary, pngs)}</body></html>")


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_report(summary: MonitorSummary, out_dir: Path, *, drift_psi_warn: float | None = None) -> dict[str, Path]:
    """Write monitor.html, monitor.json and one PNG per figure into `out_dir`; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = render_pngs(summary, drift_psi_warn=drift_psi_warn)
    written: dict[str, Path] = {}
    for name, png in pngs.items():
        written[name] = out_dir / f"{name}.png"
        _write(written[name], png)
    written["html"] = out_dir / HTML_FILE
    _write(written["html"], render_html(summary, pngs).encode("utf-8"))
    written["json"] = out_dir / JSON_FILE
    _write(written["json"], (json.dumps(summary.to_json(), indent=1) + "\n").encode("utf-8"))
    return written
