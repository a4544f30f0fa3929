"""rag-dx performance benchmark: ``python -m eval.bench [--quick] [--out DIR]``.

Writes ``bench.json`` (every number, the machine, notes and skips) and ``bench.md`` (tables and
the issue's targets, met or not) to ``--out`` (default ``runs/bench``). Sections, each a module:

* ``encoder`` (:mod:`eval.bench.encoder_bench`): torch vs ONNX fp32 vs ONNX int8, speed and
  retrieval quality on the Symptom2Disease dev holdout;
* ``build`` (:mod:`eval.bench.build_bench`): index build on MTSamples notes, rag-dx vs LangChain
  (HuggingFaceEmbeddings + FAISS.from_documents) vs the bare encoder;
* ``retrieval`` (:mod:`eval.bench.faiss_bench`): rag-dx's FAISS choice vs IndexFlatIP at 10k, 100k
  and 1M vectors, recall@10 judged on real embeddings;
* ``diagnose`` (:mod:`eval.bench.diagnose_bench`): encode/retrieve/score/total p50/p95 on the demo
  index, generator fast path on/off, and the UI's time to the first visible result;
* ``eval`` (:mod:`eval.bench.eval_bench`): build / retrieval-only / full eval jobs, items per minute
  and peak RSS, each in its own process;
* ``practice`` (:mod:`eval.bench.practice_bench`): training the practice model (classifier + ranker)
  at index time on 2k/5k/10k labeled notes, beside fitting the TF-IDF + LR baseline alone.

Compared variants always run interleaved in one process and ratios are medians of per-round
ratios, so a busy neighbour slows both sides alike. ``--quick`` is a CI-sized smoke run (well
under a minute): same JSON structure, smaller inputs, some rows skipped with a note. Nothing is
asserted about speed anywhere; the numbers are for people.

Example:
    >>> from eval.bench import run_bench                                   # doctest: +SKIP
    >>> data = run_bench(out=Path("runs/bench"), quick=True)                # doctest: +SKIP
    >>> sorted(data["sections"])                                            # doctest: +SKIP
    ['build', 'diagnose', 'encoder', 'eval', 'retrieval']
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["SECTIONS", "run_bench", "main"]

SECTIONS: tuple[str, ...] = ("encoder", "build", "retrieval", "diagnose", "eval", "practice")
SCHEMA_VERSION = 1
log = logging.getLogger("eval.bench")


def _env() -> None:
    # Before torch/onnxruntime start their thread pools: spinning waiters make a shared
    # 2-core machine 10-20x slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def run_bench(*, out: Path, quick: bool = False, sections: Sequence[str] = SECTIONS, settings: Any = None,
              real_index: str | None = None, real_notes: int = 400, skip_ui: bool = False) -> dict[str, Any]:
    """Run the chosen sections, write ``bench.json`` and ``bench.md`` into `out`, return the data."""
    _env()
    import faiss
    import torch

    from eval.bench import build_bench, diagnose_bench, encoder_bench, eval_bench, faiss_bench, practice_bench
    from eval.bench.common import Section, machine
    from eval.bench.context import BenchContext
    from eval.bench.report import render, targets
    from rag_dx.settings import load_settings

    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    settings = settings or load_settings()
    torch.set_num_threads(settings.resolved_threads())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(settings=settings, quick=quick, out=out, skip_ui=skip_ui,
                       faiss_blas_default=int(faiss.cvar.distance_compute_blas_threshold))
    if real_index is None and not quick:
        real_index = "mts"  # MTSamples, when someone has built it (`rag-dx index build --name mts ...`)
    runners = {"encoder": encoder_bench.run, "build": build_bench.run,
               "retrieval": lambda c: faiss_bench.run(c, real_index=real_index, real_notes=real_notes),
               "diagnose": diagnose_bench.run, "eval": eval_bench.run, "practice": practice_bench.run}
    t_start = time.perf_counter()
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "quick": quick,
                            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "machine": machine(), "settings": {"encoder_backend": settings.encoder_backend,
                                                               "faiss": settings.faiss.model_dump(),
                                                               "threads": settings.resolved_threads()},
                            "sections": {}}
    try:
        for name in SECTIONS:
            if name not in sections:
                continue
            log.warning("bench: %s ...", name)
            t0 = time.perf_counter()
            try:
                sec = runners[name](ctx)
            except Exception as exc:  # noqa: BLE001 - a failed section is recorded, the others still run
                log.exception("bench section %s failed", name)
                sec = Section(name, skipped=f"failed: {type(exc).__name__}: {str(exc)[:300]}")
            sec.seconds = time.perf_counter() - t0
            data["sections"][name] = sec.to_json()
            _write(out, data, render, targets)  # partial results survive an interrupted run
    finally:
        import shutil

        shutil.rmtree(ctx.work, ignore_errors=True)
    data["seconds"] = round(time.perf_counter() - t_start, 1)
    data["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    _write(out, data, render, targets)
    return data


def _write(out: Path, data: dict, render, targets) -> None:
    data["targets"] = targets(data)
    tmp = out / "bench.json.tmp"
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, out / "bench.json")
    (out / "bench.md").write_text(render(data))


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized smoke run (same JSON structure)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"), help="where bench.json and bench.md go")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run only these sections")
    parser.add_argument("--real-index", default=None,
                        help="index whose vectors judge IVF recall on real embeddings (default: 'mts' if built)")
    parser.add_argument("--real-notes", type=int, default=400,
                        help="MTSamples notes embedded (once, then cached) to judge IVF recall when no --real-index")
    parser.add_argument("--skip-ui", action="store_true", help="skip the browser measurement")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    data = run_bench(out=args.out, quick=args.quick, sections=args.only, real_index=args.real_index,
                     real_notes=args.real_notes, skip_ui=args.skip_ui)
    from eval.bench.report import render

    print(render(data))
    print(f"wrote {args.out / 'bench.json'} and {args.out / 'bench.md'}")
    return 0
