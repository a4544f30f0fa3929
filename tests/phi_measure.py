"""Measure de-identification: recall per category and clinical content erased (rag-dx vs plain
Presidio on the synthetic PHI set), and what de-identification costs in time (de-id alone and a
whole index build, against the de-identifier of an earlier commit and against none).

    HF_HUB_OFFLINE=1 .venv/bin/python -m tests.phi_measure --out /tmp/phi_measure.json \
        [--old-commit 5f6ae1f] [--n 200] [--seeds 0 1] [--build-reports 200]

Prints and writes counts and timings only (never a value). Timings are medians of `--repeats`
runs, the variants interleaved (A B C A B C) so a shared machine's load hits each alike; read
ratios, not absolute seconds. Not a test (no assertions):
the numbers go to docs/privacy.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rag_dx.ingest.deid import Deidentifier
from rag_dx.ingest.deid_eval import format_score, score_texts
from tests.phi_synth import generate

ROOT = Path(__file__).resolve().parents[1]


def presidio_default_finder():
    """Plain Presidio: AnalyzerEngine with its default recognizers and the same spaCy model."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from rag_dx.ingest.deid import SPACY_MODEL_CANDIDATES, _spacy_model_name

    model = _spacy_model_name(SPACY_MODEL_CANDIDATES)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def find_many(texts: list[str]) -> list[list[tuple[str, int, int]]]:
        return [[(r.entity_type, r.start, r.end) for r in engine.analyze(text=t, language="en")] for t in texts]

    return find_many


def old_deidentifier(commit: str):
    """The de-identifier as it was at `commit` (its deid.py is self-contained)."""
    source = subprocess.run(["git", "show", f"{commit}:rag_dx/ingest/deid.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_deid.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_deid", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Deidentifier.load()


def mtsamples(n: int) -> list[str]:
    path = ROOT.parent / "shared" / "data" / "mtsamples" / "mtsamples.csv.gz"
    if not path.exists():
        return []
    with gzip.open(path) as fh:
        rows = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
        return [r["transcription"] for r, _ in zip((r for r in rows if r.get("transcription")), range(n))]


def interleaved(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds per label, the labels run in turn `repeats` times (A B C A B C ...)."""
    times: dict[str, list[float]] = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t)
    return {label: statistics.median(ts) for label, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("phi_measure.json"))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--old-commit", default=None, help="commit whose de-identifier is the 'before' timing")
    ap.add_argument("--notes", type=int, default=300, help="MTSamples notes timed for de-id throughput")
    ap.add_argument("--build-reports", type=int, default=0, help="MTSamples reports for a timed index build (0: skip)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-synthetic", action="store_true", help="timings only")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    out: dict = {"synthetic": {}, "timing": {}}
    ours = Deidentifier.load()
    plain = None if args.skip_synthetic else presidio_default_finder()
    for seed in [] if args.skip_synthetic else args.seeds:
        items = [(r.text, r.phi, r.clinical) for r in generate(args.n, seed=seed)]
        for label, finder in (("rag-dx", ours.find_many), ("presidio-default", plain)):
            score = score_texts(items, finder)
            out["synthetic"].setdefault(label, {})[f"seed {seed}"] = score.to_dict()
            print(f"== {label}, seed {seed}, {args.n} reports")
            print("\n".join(format_score(score)))

    notes = mtsamples(args.notes)
    if notes:
        chars = sum(len(t) for t in notes)
        finders = {"rag-dx": ours}
        if args.old_commit:
            finders[f"before ({args.old_commit})"] = old_deidentifier(args.old_commit)
        for label, deid in finders.items():
            # MTSamples notes are already de-identified by their publisher (names are "XYZ", dates
            # are fake): what is found there is mostly over-redaction of clinical text
            found = [[k for k, _, _ in f] for f in
                     (deid.find_many(notes) if hasattr(deid, "find_many") else [deid.find(t) for t in notes])]
            out.setdefault("mtsamples_found", {})[label] = {
                "notes": len(notes), "by_type": dict(sorted(Counter(k for f in found for k in f).items())),
                "notes_changed": sum(bool(f) for f in found)}
            deid.redact_many(notes[:5])  # warm-up
        # interleaved (A B A B ...) so that the load of a shared machine hits every variant alike
        runs = interleaved({label: (lambda d=deid: d.redact_many(notes)) for label, deid in finders.items()},
                           args.repeats)
        for label, sec in runs.items():
            out["timing"][f"redact_many {label}"] = {"notes": len(notes), "chars": chars, "seconds": round(sec, 3),
                                                    "notes_per_s": round(len(notes) / sec, 1)}
            print(f"redact_many {label}: {len(notes)} notes in {sec:.2f} s ({len(notes) / sec:.1f} notes/s)")
    if args.build_reports and notes:
        out["timing"]["build"] = time_builds(notes[: args.build_reports], ours, finders, args.repeats)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


def time_builds(texts: list[str], ours, finders: dict, repeats: int) -> dict:
    """A whole `build_index` (chunk, embed with the bundled encoder, index) with each de-identifier."""
    from rag_dx.build import build_index
    from rag_dx.embed import SentenceEncoder
    from rag_dx.schemas import Report
    from rag_dx.settings import Settings
    from tests.helpers import PassThroughDeid

    import torch

    torch.set_num_threads(1)
    reports = [Report(report_id=f"m{i}", text=t) for i, t in enumerate(texts)]
    encoder = SentenceEncoder.load(None)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        fns = {}
        for label, deid in {"no de-id": PassThroughDeid(), **finders}.items():
            settings = Settings(index_dir=Path(tmp) / label.replace(" ", "_").replace("(", "").replace(")", ""))
            fns[label] = (lambda d=deid, s=settings:
                          build_index(s, "bench", reports, [], encoder=encoder, deidentifier=d))
        for label, sec in interleaved(fns, repeats).items():
            result[label] = {"reports": len(reports), "seconds": round(sec, 2), "reports_per_s": round(len(reports) / sec, 2)}
            print(f"build_index {label}: {len(reports)} reports in {sec:.1f} s")
    base = result["no de-id"]["seconds"]
    for label in result:
        result[label]["vs_no_deid"] = round(result[label]["seconds"] / base, 3)
    return result


if __name__ == "__main__":
    sys.exit(main())
