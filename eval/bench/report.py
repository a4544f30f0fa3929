"""bench.json -> a readable markdown report (bench.md)."""

from __future__ import annotations

from typing import Any


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.1f}"
    if isinstance(x, (list, tuple)):
        return ", ".join(_fmt(v) for v in x)
    return str(x)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return out + [""]


def targets(data: dict) -> list[dict]:
    """The issue's targets, each with the measured value and whether it is met."""
    s = data.get("sections", {})
    out = []
    b = s.get("build", {}).get("headline", {})
    if "rag-dx [torch] / bare encoder [torch]" in b:
        v = b["rag-dx [torch] / bare encoder [torch]"]
        out.append({"target": "build throughput >= 0.9x the bare encoder", "measured": f"{v:.2f}x (torch)",
                    "met": v >= 0.9})
    lc = {k: v for k, v in b.items() if k.endswith("/ langchain [torch]")}
    if lc:
        best_k = max(lc, key=lc.get)
        out.append({"target": "build throughput >= 2x the LangChain pipeline",
                    "measured": "; ".join(f"{k.split(' / ')[0]}: {v:.2f}x" for k, v in lc.items()),
                    "met": lc[best_k] >= 2.0})
    if "labeled build: finding layer on / off (throughput)" in b:
        v = b["labeled build: finding layer on / off (throughput)"]
        out.append({"target": "finding layer costs <= 30% of index-build throughput",
                    "measured": f"{v:.2f}x the throughput without it ({100 * (1 - v):.0f}% cost)", "met": v >= 0.7})
    r = s.get("retrieval", {}).get("results", {}).get("sizes", {})
    if "1000000" in r:
        row = r["1000000"]
        real = s["retrieval"]["results"].get("real_embeddings", {}).get("recall_at_10_vs_exact")
        out.append({"target": "retrieval p50 <= 5 ms at 1M vectors, recall@10 >= 0.99",
                    "measured": f"{row['chosen']['p50_ms']:.2f} ms ({row['factory']}, nprobe {row['nprobe']}), "
                                f"recall@10 {row['recall_at_10_vs_exact']:.3f} synthetic"
                                + (f", {real:.3f} real embeddings" if real is not None else ""),
                    "met": row["chosen"]["p50_ms"] <= 5 and row["recall_at_10_vs_exact"] >= 0.99
                    and (real is None or real >= 0.99)})
    pr = s.get("practice", {}).get("headline", {})
    if pr.get("reports", 0) >= 10000:
        v = pr["practice_training_s"]
        out.append({"target": "practice model trains in under a minute for 10,000 reports (2 cores)",
                    "measured": f"{v:.0f} s ({pr['ratio_to_baseline_fit']:.1f}x one baseline fit)", "met": v < 60})
    d = s.get("diagnose", {}).get("headline", {})
    if "diagnose p50 ms (full)" in d:
        v = d["diagnose p50 ms (full)"]
        out.append({"target": "diagnose p50 <= 1 s with the bundled generator", "measured": f"{v:.0f} ms",
                    "met": v <= 1000})
    if "explain p50 ms (full)" in d:
        v = d["explain p50 ms (full)"]
        ratio = d.get("explain cost: total full / explain off (paired)")
        out.append({"target": "finding layer (explain step) costs <= 100 ms of diagnose latency",
                    "measured": f"{v:.0f} ms p50" + (f" ({ratio:.2f}x the total without it)" if ratio else ""),
                    "met": v <= 100})
    if data.get("quick"):
        for row in out:  # a smoke run's inputs are too small to judge a target by
            row["met"] = None
    return out


def render(data: dict) -> str:
    m = data.get("machine", {})
    lines = [f"# rag-dx benchmark ({'quick' if data.get('quick') else 'full'} run)", "",
             f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GiB, GPU: {m.get('gpu') or 'none'}; "
             f"load average {m.get('loadavg_1m_at_start')} at start, {data.get('loadavg_1m_at_end')} at end "
             f"(shared machine: absolute times are noisy, ratios are measured side by side). "
             f"Commit {m.get('git_commit')}, {data.get('created_at')}, {data.get('seconds', 0):.0f} s.", ""]
    t = targets(data)
    if t:
        lines += ["## Targets", ""] + _table(["target", "measured", "met"],
                                             [[x["target"], x["measured"],
                                               "n/a (--quick)" if x["met"] is None else "yes" if x["met"] else "**no**"]
                                              for x in t])
    for name, sec in data.get("sections", {}).items():
        lines += [f"## {name}", ""]
        if sec.get("skipped"):
            lines += [f"Skipped: {sec['skipped']}", ""]
            continue
        res = sec.get("results", {})
        if sec.get("headline"):
            lines += _table(["headline", "value"], [[k, v] for k, v in sec["headline"].items()])
        if name == "build":
            lines += [f"{res.get('notes')} MTSamples notes -> {res.get('rag_dx_chunks')} chunks "
                      f"({res.get('chunk_tokens')} tokens, overlap {res.get('overlap_tokens')}), "
                      f"{res.get('rounds')} interleaved rounds.", ""]
            lines += _table(["pipeline", "notes/s", "chunks", "chunks/s", "median s"],
                            [[k, v["notes_per_s"], v["chunks"], v["chunks_per_s"], v["seconds_median"]]
                             for k, v in res.get("variants", {}).items()])
        elif name == "encoder":
            rows = []
            for b, v in res.get("backends", {}).items():
                dh = v.get("dev_holdout", {})
                rows.append([b, v["texts_per_s"], v["query_ms"], v["cosine_to_torch"]["min"], v["cosine_to_torch"]["mean"],
                             dh.get("recall_at_10"), dh.get("precision_at_10"), dh.get("nn1_accuracy")])
            lines += [f"Speed on {res.get('texts')}; quality on the {res.get('holdout_data')} dev holdout.", ""]
            lines += _table(["backend", "texts/s", "query ms", "cos min", "cos mean", "recall@10", "precision@10",
                             "1-NN acc"], rows)
        elif name == "retrieval":
            real = res.get("real_embeddings")
            if real:
                lines += [f"Real embeddings: {real['corpus']}, {real['factory']} nprobe {real['nprobe']}: "
                          f"recall@10 {real['recall_at_10_vs_exact']}, recall@30 {real['recall_at_30_vs_exact']} "
                          f"vs exact for {res.get('queries')}.", ""]
                curve = real.get("recall_at_10_by_nprobe")
                if curve:
                    lines += ["recall@10 of those real queries by nprobe: "
                              + ", ".join(f"{k}: {v:.3f}" for k, v in curve.items()) + ".", ""]
            lines += [f"Synthetic vectors seeded from {res.get('synthetic_seeds')}; one FAISS thread; "
                      "single queries; batch = 64 queries.", ""]
            lines += _table(["vectors", "rag-dx config", "nprobe", "p50 / p95 ms", "IndexFlatIP p50 / p95 ms",
                             "speedup", "recall@10", "recall@30", "batch ms/query (default -> lowered BLAS threshold)"],
                            [[f"{int(n):,}", v["factory"], v["nprobe"], f"{v['chosen']['p50_ms']:.2f} / {v['chosen']['p95_ms']:.2f}",
                              f"{v['flat']['p50_ms']:.2f} / {v['flat']['p95_ms']:.2f}", v["speedup_p50"],
                              v["recall_at_10_vs_exact"], v["recall_at_30_vs_exact"],
                              f"{v['batch64_ms_per_query']['blas_threshold_default']:.2f} -> "
                              f"{v['batch64_ms_per_query']['blas_threshold_lowered']:.2f}"]
                             for n, v in res.get("sizes", {}).items()])
            for n, v in res.get("sizes", {}).items():
                if v.get("recall_at_10_by_nprobe"):
                    lines += [f"{int(n):,} vectors, recall@10 / p50 ms of the real queries by nprobe: "
                              + ", ".join(f"{p}: {c['recall_at_10']:.3f} / {c['p50_ms']:.2f}"
                                          for p, c in v["recall_at_10_by_nprobe"].items()) + ".", ""]
        elif name == "diagnose":
            lines += [f"Index: {res.get('index')}; {res.get('cases')} cases x {res.get('rounds')} rounds; "
                      f"prompt tokens (median): {res.get('prompt_tokens_median')}.", ""]
            lines += _table(["variant", "encode p50 (p95)", "retrieve p50 (p95)", "score p50 (p95)", "explain p50 (p95)",
                             "total p50 (p95)"],
                            [[k] + [f"{v[p]['p50_ms']:.0f} ({v[p]['p95_ms']:.0f})" if p in v else "-" for p in
                                    ("encode_ms", "retrieve_ms", "score_ms", "explain_ms", "total_ms")]
                             for k, v in res.get("variants", {}).items()])
            ui = res.get("ui", {})
            lines += ([f"UI time to first visible result: p50 {ui['p50_ms']:.0f} ms, p95 {ui['p95_ms']:.0f} ms "
                       f"({ui.get('what')}).", ""] if "p50_ms" in ui else [f"UI: skipped ({ui.get('skipped')}).", ""])
        elif name == "eval":
            lines += [f"Data: {res.get('data')}.", ""]
            lines += _table(["job", "items", "per minute", "phase s", "wall s", "peak RSS MiB", "note"],
                            [[k, v.get("items"), v.get("per_min"), v.get("phase_s"), v.get("wall_s"),
                              v.get("peak_rss_mb"), v.get("note") or v.get("error", "")]
                             for k, v in res.get("jobs", {}).items()])
        for note in sec.get("notes", []):
            lines.append(f"- {note}")
        if sec.get("notes"):
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
