"""The HTTP API under load: N clients for a fixed time against `rag-dx serve`'s app on loopback,
while new index versions are switched in. Reports throughput, p50/p95 and errors, per ranking path.

    python -m eval.bench.serve_bench --out runs/bench-serve          # ~1-2 min on 2 cores
    python -m eval.bench.serve_bench --clients 8 --seconds 30 --deid real

The index is the demo index (synthetic reports + demo guidelines) built in a scratch dir with the
configured encoder; the generator is the configured one. Paths: ``ranker`` (the default: the
index version's learned practice ranker, no generator pass) and ``generator`` (``diagnosis.ranker
= false``: similarity vote + generator, what an index with too few labels serves). Auth is on
(a token verified once, then remembered), the audit log is written per query, and the
de-identifier is a pass-through by default (the demo cases are synthetic; ``--deid real`` loads
presidio + spaCy). Writes serve_bench.json; prints a markdown table. Nothing asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


class _PassThroughDeid:
    def redact(self, text: str) -> str:
        return text

    def redact_many(self, texts: list[str]) -> list[str]:
        return list(texts)


def run(out: Path, *, clients: int = 4, seconds: float = 20.0, deid: str = "none",
        paths: tuple[str, ...] = ("ranker", "generator")) -> dict[str, Any]:
    from rag_dx.audit import AuditLog
    from rag_dx.build import build_index, update_index
    from rag_dx.commands.serve import ui_guards
    from rag_dx.demo import build_demo_guidelines, demo_reports_path
    from rag_dx.diagnose import build_assistant, configure_threads
    from rag_dx.embed import load_encoder
    from rag_dx.feedback import FeedbackStore
    from rag_dx.generate import load_generator
    from rag_dx.ingest.loaders import load_guidelines, load_reports
    from rag_dx.serve.app import create_app
    from rag_dx.serve.auth import new_token
    from rag_dx.serve.load import run_load, serving
    from rag_dx.settings import load_settings

    from eval.bench.cases import CASES
    from eval.bench.common import machine
    from ui.auth import hash_password

    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    base = load_settings()
    configure_threads(base)
    encoder = load_encoder(base)
    generator = load_generator(base)
    passthrough = _PassThroughDeid()
    if deid == "real":
        from rag_dx.ingest.deid import Deidentifier

        redactor: Any = Deidentifier.load()
    else:
        redactor = passthrough
    reports = load_reports(demo_reports_path()).reports
    guidelines = load_guidelines(build_demo_guidelines(work / "guidelines.jsonl"))
    token, secret = new_token("bench")
    results: dict[str, Any] = {"machine": machine(), "clients": clients, "seconds": seconds, "deid": deid,
                               "index": f"demo ({len(reports)} synthetic reports + demo guidelines), scratch dir",
                               "generator": generator.name, "paths": {}}
    for path in paths:
        settings = base.model_copy(update={"index_dir": work / f"idx-{path}", "index_name": "demo",
                                           "diagnosis": base.diagnosis.model_copy(update={"ranker": path == "ranker"})})
        # The demo reports are synthetic (no patient data): de-identification would change nothing.
        build_index(settings, "demo", reports[:-12], guidelines, encoder=encoder, deidentifier=passthrough)
        guards = ui_guards(deidentifier=redactor, audit_log=AuditLog(work / f"audit-{path}.jsonl"),
                           feedback_store=FeedbackStore.open(work / f"fb-{path}.sqlite"),
                           users={"bench": hash_password(secret)})
        app = create_app(settings, lambda name, s=settings: build_assistant(
            s, name, encoder=encoder, generator=generator, load_vocabulary=False), guards=guards)
        switches: list[float] = []

        def switch(s=settings) -> None:
            for chunk in (reports[-12:-6], reports[-6:]):
                time.sleep(seconds / 4)
                t0 = time.perf_counter()
                update_index(s, "demo", chunk, encoder=encoder, deidentifier=passthrough)
                switches.append(round(time.perf_counter() - t0, 2))

        headers = {"Authorization": f"Bearer {token}"}
        with serving(app) as url:
            run_load(url, list(CASES), clients=1, seconds=0.1, headers=headers)  # warm-up: caches, auth
            result = run_load(url, list(CASES), clients=clients, seconds=seconds, headers=headers, during=switch)
        summary = result.summary()
        summary["index_updates_s"] = switches
        summary["ranking"] = sorted({body.get("ranking") for _, body in result.answers})
        summary["server_total_ms_p50"] = _p50([body["timings_ms"].get("total_ms", 0.0) for _, body in result.answers])
        results["paths"][path] = summary
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve_bench.json").write_text(json.dumps(results, indent=2))
    return results


def _p50(values: list[float]) -> float | None:
    return round(sorted(values)[len(values) // 2], 1) if values else None


def markdown(results: dict[str, Any]) -> str:
    lines = [f"clients {results['clients']}, {results['seconds']} s per path, de-id {results['deid']}, "
             f"index {results['index']}; two index versions switched in during each run", "",
             "| path | answers | errors | throughput (answers/s) | p50 ms | p95 ms | server diagnose p50 ms | "
             "answers by version |", "|---|---|---|---|---|---|---|---|"]
    for path, s in results["paths"].items():
        lines.append(f"| {path} | {s['answers']} | {s['errors']} | {s['throughput_rps']} | {s['p50_ms']} | "
                     f"{s['p95_ms']} | {s['server_total_ms_p50']} | {s['answers_by_version']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-serve"))
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--deid", choices=("none", "real"), default="none")
    parser.add_argument("--paths", nargs="+", choices=("ranker", "generator"), default=["ranker", "generator"])
    args = parser.parse_args(argv)
    results = run(args.out, clients=args.clients, seconds=args.seconds, deid=args.deid, paths=tuple(args.paths))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    raise SystemExit(main())
