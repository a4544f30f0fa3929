"""One benchmark job per process, so each job's peak RSS is its own: ``python -m eval.bench.jobs '<json>'``.

Jobs (``"job"`` key):

* ``build``: index the labeled file's reports (``deid``: "real" = presidio + spaCy, as
  ``rag-dx index build`` does, or "pass-through") into ``index_dir``/``name``.
* ``retrieval``: diagnose every case of ``cases`` with ``mode="retrieval"`` against that index
  (the retrieval-only eval system; no generator in memory).
* ``eval``: ``eval.run.run_eval`` with ``holdout`` on ``labeled`` (temporary index, real
  de-identifier, full pipeline with the generator, metrics and report files), as ``rag-dx eval`` runs.

Prints one JSON line: items, wall and phase seconds, items per minute, peak RSS (MiB).
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _settings(args):
    from rag_dx.settings import load_settings

    over = {k: args[k] for k in ("index_dir", "encoder_backend") if args.get(k)}
    return load_settings(**over)


def job_build(args) -> dict:
    from rag_dx.embed import load_encoder
    from rag_dx.build import build_index
    from rag_dx.ingest.loaders import load_reports

    t0 = time.perf_counter()
    settings = _settings(args)
    encoder = load_encoder(settings)
    reports = load_reports(args["labeled"]).reports
    if args.get("deid") == "real":
        from rag_dx.ingest.deid import Deidentifier

        deid = Deidentifier.load()
    else:
        from eval.bench.build_bench import _PassThroughDeid

        deid = _PassThroughDeid()
    t1 = time.perf_counter()
    build_index(settings, args["name"], reports, [], encoder=encoder, deidentifier=deid)
    t2 = time.perf_counter()
    return {"items": len(reports), "unit": "reports", "wall_s": t2 - t0, "phase_s": t2 - t1,
            "note": "de-identification: " + ("presidio + spaCy" if args.get("deid") == "real" else "pass-through")}


def job_retrieval(args) -> dict:
    from rag_dx.diagnose import build_assistant
    from rag_dx.ingest.loaders import load_reports

    t0 = time.perf_counter()
    settings = _settings(args)
    cases = load_reports(args["cases"]).reports
    assistant = build_assistant(settings, args["name"], load_generator=False, load_vocabulary=False)
    assistant.diagnose(cases[0].text, mode="retrieval")  # warm-up
    t1 = time.perf_counter()
    for case in cases:
        assistant.diagnose(case.text, mode="retrieval")
    t2 = time.perf_counter()
    return {"items": len(cases), "unit": "cases", "wall_s": t2 - t0, "phase_s": t2 - t1}


def job_eval(args) -> dict:
    from pathlib import Path

    from eval.run import run_eval

    t0 = time.perf_counter()
    settings = _settings(args)
    metrics = run_eval(settings, labeled=Path(args["labeled"]), out=Path(args["out"]), holdout=args["holdout"],
                       seed=0, progress=False)
    t1 = time.perf_counter()
    n = int(metrics.get("n") or 0)
    return {"items": n, "unit": "test cases", "wall_s": t1 - t0, "phase_s": t1 - t0,
            "top1": metrics.get("top1"), "note": "end to end: load, split, temporary index (real de-id), "
            "full pipeline per test case, metrics, report files"}


JOBS = {"build": job_build, "retrieval": job_retrieval, "eval": job_eval}


def run_job(args: dict) -> dict:
    """Run one job in this process; the result has items/min and this process's peak RSS."""
    from eval.bench.common import peak_rss_mb

    out = JOBS[args["job"]](args)
    out.update({"job": args["job"], "peak_rss_mb": peak_rss_mb(),
                "per_min": round(60.0 * out["items"] / out["phase_s"], 1) if out["phase_s"] > 0 else None,
                "wall_s": round(out["wall_s"], 2), "phase_s": round(out["phase_s"], 2)})
    return out


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(run_job(json.loads((argv or sys.argv[1:])[0]))))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
