"""Human-readable evaluation report: ``report.md`` plus a self-contained ``report.html``.

Why both: markdown diffs well in a review; the HTML (PNG plots base64-embedded, no external
files or scripts) can be mailed to a clinician or attached to a ticket as one file. The plots are
the ones a reader needs to judge a diagnostic model: confusion matrix, reliability diagram,
coverage/risk curve and per-class F1.

Matplotlib is used with the Agg backend (no display; safe in threads and CI).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PLOTS = ("confusion_matrix", "reliability", "coverage_risk", "per_class_f1")


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def _fig_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def render_plots(
    *,
    confusion: np.ndarray | None,
    confusion_labels: Sequence[str],
    reliability: Sequence[Mapping[str, float]],
    coverage_risk: Mapping[str, Sequence[float]],
    per_class: Mapping[str, Mapping[str, float]],
) -> dict[str, bytes]:
    """PNG bytes of the four report plots (pure: no files written)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    n = len(confusion_labels)
    if confusion is not None and n:
        size = max(5.0, min(0.38 * n + 2, 22.0))
        fig, ax = plt.subplots(figsize=(size, size))
        ax.imshow(confusion, cmap="Blues")
        ax.set_xticks(range(n), [str(lab)[:28] for lab in confusion_labels], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [str(lab)[:28] for lab in confusion_labels], fontsize=7)
        ax.set_xlabel("predicted (top-1)")
        ax.set_ylabel("gold")
        ax.set_title("Confusion matrix")
        if n <= 30:
            for i in range(n):
                for j in range(n):
                    if confusion[i, j]:
                        ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=6,
                                color="white" if confusion[i, j] > confusion.max() / 2 else "black")
        out["confusion_matrix"] = _fig_png(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    xs = [b["confidence"] for b in reliability if b["count"]]
    ys = [b["accuracy"] for b in reliability if b["count"]]
    centers = [(b["lo"] + b["hi"]) / 2 for b in reliability]
    widths = [b["hi"] - b["lo"] for b in reliability]
    accs = [b["accuracy"] if b["count"] else 0.0 for b in reliability]
    ax.bar(centers, accs, width=widths, alpha=0.35, edgecolor="k", label="accuracy per bin")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.plot(xs, ys, "o-", label="mean confidence vs accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-1 confidence")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title("Reliability diagram")
    ax.legend(fontsize=7, loc="lower right")
    out["reliability"] = _fig_png(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(list(coverage_risk.get("coverage", [])), list(coverage_risk.get("risk", [])))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("coverage (fraction of cases answered, most confident first)")
    ax.set_ylabel("risk (top-1 error rate among answered)")
    ax.set_title("Coverage / risk")
    out["coverage_risk"] = _fig_png(fig)

    if per_class:
        names = list(per_class)
        f1 = [per_class[k].get("f1", 0.0) for k in names]
        fig, ax = plt.subplots(figsize=(6, max(3.0, 0.25 * len(names) + 1)))
        ax.barh(range(len(names)), f1)
        ax.set_yticks(range(len(names)), [str(k)[:40] for k in names], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("F1 (top-1)")
        ax.set_title("Per-class F1")
        out["per_class_f1"] = _fig_png(fig)
    return out


def _summary_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    ci = metrics.get("ci", {})
    for key, label in [
        ("n", "test cases"),
        ("top1", "top-1 accuracy (strict)"),
        ("top3", "top-3 accuracy (strict)"),
        ("top5", "top-5 accuracy (strict)"),
        ("top1_lenient", "top-1 accuracy (lenient: same 3-char category or CCSR)"),
        ("top5_lenient", "top-5 accuracy (lenient)"),
        ("mrr_differential", "MRR of the gold diagnosis in the differential"),
        ("macro_f1", "macro F1 (top-1)"),
        ("weighted_f1", "weighted F1 (top-1)"),
        ("macro_auroc", "macro one-vs-rest AUROC"),
        ("macro_auprc", "macro one-vs-rest AUPRC"),
        ("ece", "expected calibration error (10 bins)"),
        ("brier", "Brier score (multi-class)"),
        ("retrieval_recall_at_10", "retrieval recall@10 (a retrieved report shares the gold diagnosis)"),
        ("mrr", "retrieval MRR"),
        ("abstain_rate", "abstention rate"),
        ("accuracy_answered", "top-1 accuracy on answered cases"),
        ("aurc", "area under the coverage/risk curve"),
    ]:
        if key in metrics:
            value = _fmt(metrics[key])
            if key in ci:
                value += f" (95% CI {_fmt(ci[key][0])}-{_fmt(ci[key][1])})"
            rows.append((label, value))
    return rows


COMPARISON_HEADER = ("system", "vs", "n", "top1", "top1 delta (95% CI)", "McNemar p", "ECE",
                     "recall@10", "precision@10", "MRR")


def comparison_rows(metrics: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row per compared system: baseline -> compared for each metric, with the paired top-1 test."""
    def pair(row: Mapping[str, Any], key: str) -> str:
        cell = row.get(key)
        if not cell or cell.get("baseline") is None:
            return "-"
        return f"{_fmt(cell['baseline'])} -> {_fmt(cell['compared'])}"

    rows = []
    for row in metrics.get("comparison") or []:
        pd = row.get("top1_paired") or {}
        delta = (f"{pd['delta']:+.3f} ({pd['ci_low']:+.3f} to {pd['ci_high']:+.3f})"
                 if pd.get("delta") is not None else "-")
        rows.append((row["system"], row["baseline"], str(row["n"]), pair(row, "top1"), delta,
                     _fmt(pd.get("mcnemar_p")), pair(row, "ece"), pair(row, "retrieval_recall_at_10"),
                     pair(row, "retrieval_precision_at_10"), pair(row, "mrr")))
    return rows


def comparison_markdown(metrics: Mapping[str, Any]) -> list[str]:
    rows = comparison_rows(metrics)
    if not rows:
        return []
    lines = ["## Configured vs compared models (same split, paired)", "",
             "Each compared system runs on the same test cases as the configured system of the same mode. "
             "The top-1 delta's interval is a paired bootstrap; McNemar is the exact test on the cases "
             "only one of the two got right.", "",
             "| " + " | ".join(COMPARISON_HEADER) + " |", "|" + "---|" * len(COMPARISON_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def practice_markdown(metrics: Mapping[str, Any]) -> list[str]:
    """Each system against the TF-IDF + LR baseline, the conformal coverage, the ranker's weights."""
    lines: list[str] = []
    vs = dict(metrics.get("vs_baseline") or {})
    vs.update({f"{k} vs retrieval vote": v for k, v in (metrics.get("vs_vote") or {}).items()})
    if vs:
        lines += ["## Against the TF-IDF + LR baseline and the retrieval vote (same cases, paired)", "",
                  "| system | top-1 delta | 95% CI | McNemar p | only reference right | only system right |",
                  "|---|---|---|---|---|---|"]
        for name, d in vs.items():
            lines.append(f"| {name} | {_fmt(d.get('delta'))} | [{_fmt(d.get('ci_low'))}, {_fmt(d.get('ci_high'))}] | "
                         f"{_fmt(d.get('mcnemar_p'))} | {d.get('only_a', '-')} | {d.get('only_b', '-')} |")
        lines.append("")
    conf = metrics.get("conformal") or {}
    if conf:
        lines += ["## Conformal prediction sets (full system)", "",
                  "| level | coverage | mean size | n | coverage (inside the practice) | n inside |",
                  "|---|---|---|---|---|---|"]
        for level, c in conf.items():
            lines.append(f"| {level} | {_fmt(c['coverage'])} | {_fmt(c['mean_size'], 2)} | {c['n']} | "
                         f"{_fmt(c.get('coverage_guaranteed'))} | {c.get('n_guaranteed')} |")
        lines.append("")
    for fold, entry in (metrics.get("ranker") or {}).items():
        m = entry.get("metrics", {})
        if not m:
            lines += [f"## Practice model (fold {fold}): {entry.get('status')}", "", str(entry.get("reason", "")), ""]
            continue
        lines += [f"## Practice model (fold {fold}): learned ranker weights (per standard deviation)", "",
                  "| signal | weight |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in m.get("importances", {}).items()]
        lines += ["", f"Temperature {_fmt(m.get('temperature'))}; trained on {m.get('labeled_reports')} labeled "
                  f"reports ({m.get('diagnoses')} diagnoses) in {m.get('train_seconds')} s; out-of-fold classifier "
                  f"top-1 {_fmt(m.get('oof_classifier_top1'))}; candidate recall {_fmt(m.get('candidate_recall'))}.", ""]
        break  # one fold's weights are enough to read; all folds are in metrics.json
    return lines


def render_markdown(metrics: Mapping[str, Any], images: Mapping[str, str] | None = None) -> str:
    """The report as markdown; ``images`` maps plot name -> relative path (or data URI)."""
    lines = ["# rag-dx evaluation report", ""]
    setup = metrics.get("setup", {})
    if setup:
        lines += ["## Setup", ""] + [f"- {k}: {v}" for k, v in setup.items()] + [""]
    lines += ["## Summary (test cases only)", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in _summary_rows(metrics)]
    lines.append("")
    abl = metrics.get("ablations") or {}
    if abl:
        cols = ["top1", "top3", "top5", "top1_lenient", "macro_f1", "ece", "n"]
        lines += ["## Ablations (same split)", "", "| system | " + " | ".join(cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for name, row in abl.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(row.get(c)) for c in cols) + " |")
        lines.append("")
    lines += comparison_markdown(metrics)
    lines += practice_markdown(metrics)
    unmatched = metrics.get("unmatched_gold_labels") or []
    lines += ["## Gold labels without an ICD-10-CM match", ""]
    lines += [f"- {u}" for u in unmatched] if unmatched else ["(none: every gold label normalized)"]
    lines.append("")
    per = metrics.get("per_class") or {}
    if per:
        lines += ["## Per class (top-1, strict)", "",
                  "| class | precision | recall | F1 | specificity | support |", "|---|---|---|---|---|---|"]
        for name, row in per.items():
            lines.append(
                f"| {name} | {_fmt(row['precision'])} | {_fmt(row['recall'])} | {_fmt(row['f1'])} | "
                f"{_fmt(row['specificity'])} | {row['support']} |"
            )
        lines.append("")
    routes = metrics.get("routes") or {}
    if routes:
        lines += ["## By route (how each answer was ranked: rag_dx.practice.floor)", "",
                  "A route whose mean confidence is far from its top-1 accuracy is miscalibrated there, whatever "
                  "the overall ECE says.", "", "| route | n | top1 | top5 | mean top-1 confidence |", "|---|---|---|---|---|"]
        for name, row in routes.items():
            lines.append(f"| {name} | {row['n']} | {_fmt(row.get('top1'))} | {_fmt(row.get('top5'))} | "
                         f"{_fmt(row.get('confidence'))} |")
        lines.append("")
    subs = metrics.get("subgroups") or {}
    for attr, groups in subs.items():
        lines += [f"## Subgroups by {attr}", "", "| group | n | top1 | top5 |", "|---|---|---|---|"]
        for g, row in groups.items():
            lines.append(f"| {g} | {row['n']} | {_fmt(row.get('top1'))} | {_fmt(row.get('top5'))} |")
        lines.append("")
    if images:
        lines += ["## Plots", ""]
        for name, src in images.items():
            lines += [f"![{name}]({src})", ""]
    return "\n".join(lines)


def render_html(metrics: Mapping[str, Any], pngs: Mapping[str, bytes]) -> str:
    """A single HTML page with inline CSS and base64 PNGs: nothing external to load."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>rag-dx evaluation report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;font-size:13px}img{max-width:100%;margin:1em 0}</style></head><body>",
        "<h1>rag-dx evaluation report</h1>",
    ]
    setup = metrics.get("setup", {})
    if setup:
        parts.append("<h2>Setup</h2><ul>" + "".join(f"<li>{esc(str(k))}: {esc(str(v))}</li>" for k, v in setup.items()) + "</ul>")
    parts.append("<h2>Summary (test cases only)</h2><table><tr><th>metric</th><th>value</th></tr>")
    parts += [f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in _summary_rows(metrics)]
    parts.append("</table>")
    abl = metrics.get("ablations") or {}
    if abl:
        cols = ["top1", "top3", "top5", "top1_lenient", "macro_f1", "ece", "n"]
        parts.append("<h2>Ablations (same split)</h2><table><tr><th>system</th>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>")
        for name, row in abl.items():
            parts.append(f"<tr><td>{esc(name)}</td>" + "".join(f"<td>{esc(_fmt(row.get(c)))}</td>" for c in cols) + "</tr>")
        parts.append("</table>")
    comp = comparison_rows(metrics)
    if comp:
        parts.append("<h2>Configured vs compared models (same split, paired)</h2><table><tr>"
                     + "".join(f"<th>{esc(c)}</th>" for c in COMPARISON_HEADER) + "</tr>")
        for r in comp:
            parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
        parts.append("</table>")
    unmatched = metrics.get("unmatched_gold_labels") or []
    parts.append("<h2>Gold labels without an ICD-10-CM match</h2>")
    parts.append("<ul>" + "".join(f"<li>{esc(u)}</li>" for u in unmatched) + "</ul>" if unmatched else "<p>(none)</p>")
    for name in PLOTS:
        if name in pngs:
            b64 = base64.b64encode(pngs[name]).decode("ascii")
            parts.append(f"<h2>{esc(name.replace('_', ' '))}</h2><img alt='{esc(name)}' src='data:image/png;base64,{b64}'>")
    per = metrics.get("per_class") or {}
    if per:
        parts.append("<h2>Per class (top-1, strict)</h2><table><tr><th>class</th><th>precision</th><th>recall</th>"
                     "<th>F1</th><th>specificity</th><th>support</th></tr>")
        for name, row in per.items():
            parts.append(
                f"<tr><td>{esc(name)}</td><td>{_fmt(row['precision'])}</td><td>{_fmt(row['recall'])}</td>"
                f"<td>{_fmt(row['f1'])}</td><td>{_fmt(row['specificity'])}</td><td>{row['support']}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    out_dir: Path,
    metrics: Mapping[str, Any],
    *,
    confusion: np.ndarray | None,
    confusion_labels: Sequence[str],
    reliability: Sequence[Mapping[str, float]],
    coverage_risk: Mapping[str, Sequence[float]],
) -> dict[str, Path]:
    """Write report.md (plots as PNG files beside it under ``plots/``) and report.html."""
    out_dir = Path(out_dir)
    pngs = render_plots(
        confusion=confusion,
        confusion_labels=confusion_labels,
        reliability=reliability,
        coverage_risk=coverage_risk,
        per_class=metrics.get("per_class") or {},
    )
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    rel: dict[str, str] = {}
    for name, data in pngs.items():
        (plot_dir / f"{name}.png").write_bytes(data)
        rel[name] = f"plots/{name}.png"
    md = out_dir / "report.md"
    md.write_text(render_markdown(metrics, rel), encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(render_html(metrics, pngs), encoding="utf-8")
    return {"report.md": md, "report.html": page}
