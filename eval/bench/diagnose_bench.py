"""(c) Diagnose latency on the demo index, split into encode / retrieve / score / total, and the UI.

Variants run interleaved per case on one loaded encoder and generator:

* ``full``: the default pipeline: the index version's learned practice ranker when it has one
  (no generator pass), else the similarity vote + generator;
* ``full, ranker off (vote + generator)``: the generator path (``diagnosis.ranker = false``; what an
  index with too few labels serves), with the shared-prefix KV cache and last-position logits;
* ``full, generator fast path off``: the generator path with both generator savings switched off,
  for the fast path's measured speedup;
* ``full, short prompt``: the generator path with ``prompt_evidence=2, evidence_chars=150`` (fewer
  prompt tokens); not the default, because it changes what the generator reads and the LoRA
  adapter is trained on the default prompt;
* ``retrieval only``: no generator;
* ``full, explain off``: the default pipeline without the explanation step (``diagnosis.explain =
  false``: per-diagnosis matches/against findings, red flags, next questions), the baseline for
  what that step costs (issue 13's rule: at most 100 ms of diagnose latency).

``encode_ms`` is timed around the encoder; ``retrieve_ms`` below excludes it (FAISS + BM25 +
fusion + docstore); ``explain_ms`` is the explanation step, part of ``total_ms`` (0 when off). The
UI's time to the first visible result is Send -> differential table visible in headless chromium
(ui/browser_bench), when chromium and playwright are installed.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.bench.common import Section, paired_ratio, percentile

log = logging.getLogger(__name__)


class TimedEncoder:
    """Wraps an encoder and adds up the seconds spent in `encode` (reset by the caller)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def tokenizer(self):
        return self.inner.tokenizer

    def encode(self, texts, **kwargs):
        t0 = time.perf_counter()
        try:
            return self.inner.encode(texts, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def demo_index(ctx, encoder) -> tuple[Any, str, str]:
    """(settings, index name, description) of a demo index that matches `encoder`: the configured
    one when it exists, else one built in the scratch directory."""
    from rag_dx.errors import RagDxError
    from rag_dx.index.reader import open_index

    settings = ctx.settings
    try:
        loaded = open_index(settings.index_dir, settings.index_name, encoder_name=encoder.name,
                            encoder_fingerprint=encoder.fingerprint)
        return settings, settings.index_name, f"existing index '{loaded.version_id}' ({loaded.manifest['counts']['chunks']} chunks)"
    except RagDxError:
        pass
    from rag_dx.demo import build_demo_guidelines, demo_reports_path
    from rag_dx.build import build_index
    from rag_dx.ingest.loaders import load_guidelines, load_reports

    from eval.bench.build_bench import _PassThroughDeid

    s = settings.model_copy(update={"index_dir": ctx.work / "demo-index"})
    reports = load_reports(demo_reports_path()).reports
    guidelines = [] if ctx.quick else load_guidelines(build_demo_guidelines(ctx.work / "demo-guidelines.jsonl"))
    # The demo reports are synthetic (no patient data): de-identification would change nothing here.
    build_index(s, "demo", reports, guidelines, encoder=encoder, deidentifier=_PassThroughDeid())
    what = "demo reports" + ("" if ctx.quick else " + demo guidelines")
    return s, "demo", f"built in a scratch dir from the {what} ({len(reports)} reports)"


def _ui(ctx, assistant) -> dict:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return {"skipped": "chromium is not installed (make browser)"}
    try:
        import playwright  # noqa: F401
    except ImportError:
        return {"skipped": "playwright is not installed (dev extra)"}
    from rag_dx.audit import AuditLog
    from rag_dx.feedback import FeedbackStore
    from rag_dx.ingest.deid import Deidentifier

    from ui.app import build_app
    from eval.bench.cases import CASES
    from ui.browser_bench import measure
    from ui.testing import serving

    state = Path(tempfile.mkdtemp(prefix="ui-", dir=ctx.work))
    audit = AuditLog(state / "audit.jsonl")
    app = build_app(assistant, feedback_store=FeedbackStore.open(state / "feedback.sqlite"), audit_log=audit,
                    deidentifier=Deidentifier.load())
    with serving(app) as url:
        result = measure(url, list(CASES), chromium=chromium, audit_path=audit.path)
    ms = [r["browser_ms"] for r in result["cases"]]
    return {"cases": result["cases"], "p50_ms": round(percentile(ms, 50), 1), "p95_ms": round(percentile(ms, 95), 1),
            "median_server_diagnose_ms": result.get("median_server_diagnose_ms"),
            "what": "Send pressed -> differential table visible, headless chromium, real de-identifier"}


def _finding_memo(assistant, cases: list[str], rounds: int) -> dict:
    """Full diagnose with the findings memo off, cold (cleared before each case: only the reuse
    inside one answer) and filled by the cases before it in the round (as a running server's)."""
    from rag_dx.findings import default_extractor

    ex = default_extractor()
    size = ex.memo_size
    times: dict[str, list[float]] = {"off": [], "cold": [], "filled": []}
    try:
        for _ in range(rounds):
            for variant in ("off", "cold", "filled"):
                ex.memo_size = 0 if variant == "off" else size
                ex.clear_memo()
                for case in cases:
                    if variant == "cold":
                        ex.clear_memo()
                    times[variant].append(assistant.diagnose(case).timings_ms["total_ms"])
    finally:
        ex.memo_size = size
    return {"cases": len(cases), "rounds": rounds, "memo_size": size,
            "p50_ms": {k: round(percentile(v, 50), 1) for k, v in times.items()},
            "speedup_cold": paired_ratio(times["off"], times["cold"]),
            "speedup_filled": paired_ratio(times["off"], times["filled"])}


def run(ctx) -> Section:
    from rag_dx.diagnose import build_assistant, configure_threads

    from eval.bench.cases import CASES

    sec = Section("diagnose")
    settings = ctx.settings
    configure_threads(settings)
    encoder = TimedEncoder(ctx.encoder(settings.encoder_backend))
    idx_settings, name, what = demo_index(ctx, encoder.inner)
    sec.results["index"] = what
    generator = ctx.generator()
    main = build_assistant(idx_settings, name, encoder=encoder, generator=generator, load_vocabulary=False)
    # "short prompt" and "fast path off" change the generator pass: measured on the generator path.
    short_settings = idx_settings.model_copy(update={"diagnosis": idx_settings.diagnosis.model_copy(
        update={"prompt_evidence": 2, "evidence_chars": 150, "ranker": False})})
    short = build_assistant(short_settings, name, encoder=encoder, generator=generator, load_vocabulary=False)
    fast_flags = (generator.cache_shared_prefix, generator.last_logits_only)

    def run_one(assistant, case, *, mode="full", fast=True):
        generator.cache_shared_prefix, generator.last_logits_only = fast_flags if fast else (False, False)
        encoder.seconds = 0.0
        d = assistant.diagnose(case, mode=mode)
        t = dict(d.timings_ms)
        t["encode_ms"] = round(encoder.seconds * 1000, 2)
        t.setdefault("explain_ms", 0.0)
        t["retrieve_ms"] = round(t["retrieve_ms"] - t["encode_ms"], 2)
        return t

    # The learned ranker does not run the generator; "ranker off" is the similarity vote blended
    # with the generator (what an index with too few labels gets), the generator path's latency.
    no_explain = build_assistant(idx_settings.model_copy(update={"diagnosis": idx_settings.diagnosis.model_copy(
        update={"explain": False})}), name, encoder=encoder, generator=generator, load_vocabulary=False)
    no_ranker = build_assistant(idx_settings.model_copy(update={"diagnosis": idx_settings.diagnosis.model_copy(
        update={"ranker": False})}), name, encoder=encoder, generator=generator, load_vocabulary=False)
    variants = {"full": dict(assistant=main), "retrieval only": dict(assistant=main, mode="retrieval"),
                "full, explain off": dict(assistant=no_explain),
                "full, ranker off (vote + generator)": dict(assistant=no_ranker)}
    if not ctx.quick:
        variants["full, generator fast path off"] = dict(assistant=no_ranker, fast=False)
        variants["full, short prompt"] = dict(assistant=short)
    cases = list(CASES[:1] if ctx.quick else CASES)
    rounds = 1 if ctx.quick else 2
    if not ctx.quick:
        for v in variants.values():  # warm-up: priors cache, shared prefix, allocator
            run_one(case=cases[0], **v)
    samples: dict[str, list[dict]] = {k: [] for k in variants}
    for _ in range(rounds):
        for case in cases:
            for k, v in variants.items():
                samples[k].append(run_one(case=case, **v))
    generator.cache_shared_prefix, generator.last_logits_only = fast_flags
    rows = {}
    for k, ts in samples.items():
        rows[k] = {part: {"p50_ms": round(percentile([t[part] for t in ts], 50), 1),
                          "p95_ms": round(percentile([t[part] for t in ts], 95), 1)}
                   for part in ("encode_ms", "retrieve_ms", "score_ms", "explain_ms", "total_ms")}
        rows[k]["n"] = len(ts)
    tok = generator.tokenizer
    prompt_tokens = {}
    for label, a in (("default", main), ("short prompt", short)):
        ds = a.settings.diagnosis
        counts = []
        for case in cases:
            hits = a.retrieve(case, k=ds.max_candidates * 3)[: a.settings.retrieval.k_evidence]
            prompt = generator.build_prompt(case, hits[: ds.prompt_evidence], evidence_chars=ds.evidence_chars)
            counts.append(len(tok(prompt, add_special_tokens=False)["input_ids"]))
        prompt_tokens[label] = round(statistics.median(counts))
    sec.results = {"index": what, "cases": len(cases), "rounds": rounds, "variants": rows,
                   "prompt_tokens_median": prompt_tokens, "generator": f"{generator.name}",
                   "encoder_backend": settings.encoder_backend, "torch_threads": settings.resolved_threads()}
    full = rows["full"]
    sec.headline["diagnose p50 ms (full)"] = full["total_ms"]["p50_ms"]
    sec.headline["diagnose p95 ms (full)"] = full["total_ms"]["p95_ms"]
    sec.headline["diagnose p50 ms (ranker off: vote + generator)"] = rows["full, ranker off (vote + generator)"]["total_ms"]["p50_ms"]
    sec.headline["explain p50 ms (full)"] = full["explain_ms"]["p50_ms"]
    sec.headline["explain p95 ms (full)"] = full["explain_ms"]["p95_ms"]
    sec.headline["diagnose p50 ms (full, explain off)"] = rows["full, explain off"]["total_ms"]["p50_ms"]
    sec.headline["explain cost: total full / explain off (paired)"] = paired_ratio(
        [t["total_ms"] for t in samples["full"]], [t["total_ms"] for t in samples["full, explain off"]])
    sec.headline["ranking by (full)"] = main.diagnose(cases[0]).ranking
    sec.results["finding_memo"] = memo = _finding_memo(main, cases, rounds)
    sec.headline["findings memo speedup, cold (total, paired)"] = memo["speedup_cold"]
    sec.headline["findings memo speedup, filled by earlier cases (total, paired)"] = memo["speedup_filled"]
    sec.headline["scoring share of total (p50)"] = round(full["score_ms"]["p50_ms"] / max(full["total_ms"]["p50_ms"], 1e-9), 3)
    if "full, generator fast path off" in samples:
        sec.headline["generator fast path speedup (total, paired)"] = paired_ratio(
            [t["total_ms"] for t in samples["full, generator fast path off"]],
            [t["total_ms"] for t in samples["full, ranker off (vote + generator)"]])
        sec.headline["diagnose p50 ms (short prompt)"] = rows["full, short prompt"]["total_ms"]["p50_ms"]
    if ctx.quick or ctx.skip_ui:
        sec.results["ui"] = {"skipped": "--quick" if ctx.quick else "--skip-ui"}
    else:
        try:
            sec.results["ui"] = _ui(ctx, main)
        except Exception as exc:  # noqa: BLE001 - the UI row is optional; report why it is missing
            sec.results["ui"] = {"skipped": f"{type(exc).__name__}: {str(exc)[:200]}"}
        if "p50_ms" in sec.results["ui"]:
            sec.headline["UI time to first visible result p50 ms"] = sec.results["ui"]["p50_ms"]
    return sec
