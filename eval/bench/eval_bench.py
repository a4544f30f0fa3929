"""(d) Eval and build jobs: throughput (items per minute) and peak RSS, one fresh process per job.

Labeled data: Symptom2Disease (../shared) split with ``rag_dx.splits.holdout_split`` (seed 0, test
0.2), or the synthetic demo reports without ../shared. Each job runs in its own process
(:mod:`eval.bench.jobs`), so its peak RSS is its own and nothing is shared between jobs.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from eval.bench.common import Section, load_symptom2disease, run_json_job

log = logging.getLogger(__name__)


def labeled_rows(ctx) -> tuple[list[tuple[str, str, str]], str]:
    rows = load_symptom2disease()
    if rows:
        return rows, "Symptom2Disease"
    from rag_dx.demo import demo_reports_path

    with demo_reports_path().open(encoding="utf-8", newline="") as fh:
        demo = [(r["report_id"], r["diagnosis"], r["text"]) for r in csv.DictReader(fh)]
    return demo, "demo reports (synthetic; ../shared absent)"


def holdout(rows) -> tuple[list, list]:
    from rag_dx.splits import duplicate_groups, holdout_split

    split = holdout_split([r[1] for r in rows], duplicate_groups([r[2] for r in rows]), test_size=0.2, seed=0)
    return [rows[i] for i in split.train], [rows[i] for i in split.test]


def write_csv(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["report_id", "diagnosis", "text"])
        w.writerows(rows)
    return path


def _stratified(rows, n: int, seed: int = 0):
    """About n rows with every label represented (round-robin over labels, seeded order)."""
    rng = np.random.default_rng(seed)
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r[1], []).append(r)
    for v in by.values():
        rng.shuffle(v)
    out, i = [], 0
    while len(out) < min(n, len(rows)):
        for v in by.values():
            if i < len(v) and len(out) < n:
                out.append(v[i])
        i += 1
    return out


def run(ctx) -> Section:
    sec = Section("eval")
    rows, source = labeled_rows(ctx)
    train, test = holdout(rows)
    quick = ctx.quick
    n_build = 30 if quick else 480
    n_cases = 20 if quick else len(test)
    work = ctx.work / "eval-bench"
    base = {"index_dir": str(work / "indexes"), "encoder_backend": ctx.settings.encoder_backend}
    train_csv = write_csv(work / "train.csv", _stratified(train, n_build))
    test_csv = write_csv(work / "test.csv", test[:n_cases])
    jobs = {}
    jobs["index build"] = dict(base, job="build", labeled=str(train_csv), name="s2d",
                               deid="pass-through" if quick else "real")
    jobs["eval, retrieval only"] = dict(base, job="retrieval", cases=str(test_csv), name="s2d")
    if not quick:
        subset = _stratified(rows, 100, seed=1)
        jobs["eval, full pipeline (rag-dx eval --holdout 0.2)"] = dict(
            base, job="eval", labeled=str(write_csv(work / "eval-subset.csv", subset)), holdout=0.2,
            out=str(work / "eval-out"))
    else:
        sec.notes.append("the full-pipeline eval job (generator) is skipped in --quick")
    results = {}
    if quick:
        sec.notes.append("--quick runs the jobs in the benchmark's own process: peak RSS is the process's, "
                         "not the job's")
    for name, args in jobs.items():
        try:
            if quick:
                from eval.bench.jobs import run_job

                results[name] = run_job(args)
            else:
                results[name] = run_json_job("eval.bench.jobs", args, timeout=900)
        except Exception as exc:  # noqa: BLE001 - one failed job must not hide the others' numbers
            results[name] = {"error": str(exc)[-400:]}
    sec.results = {"data": source, "train_reports_indexed": min(n_build, len(train)), "jobs": results}
    for name, r in results.items():
        if "per_min" in r:
            sec.headline[f"{name}: {r['unit']}/min"] = r["per_min"]
            sec.headline[f"{name}: peak RSS MiB"] = r["peak_rss_mb"]
    return sec
