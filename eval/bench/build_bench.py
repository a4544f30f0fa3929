"""(a) Index build throughput on MTSamples notes: rag-dx vs plain LangChain vs the bare encoder.

All three embed with the same model directory. The bare encoder encodes exactly the chunk texts
rag-dx's chunker produced (so it is the limit for rag-dx: no chunking, no BM25, no SQLite, no
fsync). LangChain is the usual recipe: ``RecursiveCharacterTextSplitter.from_huggingface_tokenizer``
with the same token budget, ``HuggingFaceEmbeddings`` (sentence-transformers, torch), and
``FAISS.from_documents``. rag-dx's headline row runs without de-identification (a pass-through, as
LangChain has none); the "+ de-id" row adds presidio + spaCy as a real build does.

A second pair measures issue 13's cost rule for the finding layer (at most 30% of build
throughput): a build of labeled Symptom2Disease reports, where the version's practice model is
trained, with the finding layer (`diagnosis.negation_aware`: every report's findings extracted
with their assertion, denied ones kept out of the classifier and BM25 text) against the same
build without it. MTSamples notes carry no diagnosis, so the headline pair trains no practice
model and cannot show this cost.
"""

from __future__ import annotations

import logging
import statistics
from pathlib import Path

from eval.bench.common import Section, interleave, load_mtsamples, load_symptom2disease, paired_ratio

log = logging.getLogger(__name__)


class _PassThroughDeid:
    """Stands in for presidio where the comparison is about embedding and indexing speed."""

    def redact(self, text: str) -> str:
        return text

    def redact_many(self, texts: list[str]) -> list[str]:
        return list(texts)

    def describe(self) -> dict:
        return {"engine": "pass-through (benchmark)"}


def _langchain_pipeline(model_dir: Path, tokenizer, chunk_tokens: int, overlap_tokens: int, batch_size: int):
    """A plain LangChain build, or None (with the reason) when the `bench` extra is missing."""
    try:
        from langchain_community.vectorstores import FAISS
        from langchain_core.documents import Document
        from langchain_huggingface import HuggingFaceEmbeddings
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as exc:
        return None, f"LangChain baseline skipped: {exc.name} is not installed (pip install 'rag-dx[bench]')"
    embeddings = HuggingFaceEmbeddings(model_name=str(model_dir),
                                       model_kwargs={"device": "cpu", "local_files_only": True},
                                       encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size})
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        tokenizer, chunk_size=chunk_tokens, chunk_overlap=overlap_tokens)

    def build(notes):
        docs = splitter.split_documents([Document(page_content=t, metadata={"id": i}) for i, t in notes])
        store = FAISS.from_documents(docs, embeddings)
        return len(docs), store

    return build, None


def run(ctx) -> Section:
    from rag_dx.build import build_index
    from rag_dx.ingest.chunking import chunk_reports
    from rag_dx.models import bundled_encoder_dir
    from rag_dx.schemas import Report

    sec = Section("build")
    n_notes = 3 if ctx.quick else 24
    rounds = 1 if ctx.quick else 3
    notes = load_mtsamples(n_notes)
    if not notes:
        sec.skipped = "../shared/data/mtsamples is absent: build throughput needs the MTSamples notes"
        return sec
    settings = ctx.settings
    cs = settings.chunk
    reports = [Report(report_id=f"mts-{nid}", text=text, source="mtsamples") for nid, text in notes]
    backends = ["torch"] + (["onnx-int8"] if not ctx.quick and ctx.onnx_available() else [])
    if len(backends) == 1:
        sec.notes.append("onnx-int8 rows skipped" + (" in --quick" if ctx.quick else ": onnxruntime/onnx missing"))
    encoders = {b: ctx.encoder(b) for b in backends}
    torch_enc = encoders["torch"]
    chunk_texts = [c.text for c in chunk_reports(reports, torch_enc.tokenizer, cs.chunk_tokens, cs.overlap_tokens)]
    model_dir = Path(settings.encoder) if settings.encoder else bundled_encoder_dir()
    counter = {"i": 0}

    def ragdx(enc, deid):
        def go():
            counter["i"] += 1
            s = settings.model_copy(update={"index_dir": ctx.work / "build-bench"})
            build_index(s, f"b{counter['i']}", reports, [], encoder=enc, deidentifier=deid)
            return len(chunk_texts)
        return go

    captured: dict = {}

    def bare(enc, backend):
        def go():
            captured[backend] = enc.encode(chunk_texts, batch_size=settings.batch_size)
            return len(chunk_texts)
        return go

    variants = {}
    chunks_made: dict[str, int] = {}
    for b, enc in encoders.items():
        variants[f"bare encoder [{b}]"] = bare(enc, b)
        variants[f"rag-dx [{b}]"] = ragdx(enc, _PassThroughDeid())
    lc_build, why = _langchain_pipeline(model_dir, torch_enc.tokenizer, cs.chunk_tokens, cs.overlap_tokens,
                                        settings.batch_size)
    if lc_build is not None:
        variants["langchain [torch]"] = lambda: lc_build(notes)[0]
    else:
        sec.notes.append(why)
    if not ctx.quick:
        from rag_dx.ingest.deid import Deidentifier

        try:
            deid = Deidentifier.load()
            variants["rag-dx + de-id [torch]"] = ragdx(torch_enc, deid)
        except Exception as exc:  # noqa: BLE001 - the de-id row is optional; say why it is missing
            sec.notes.append(f"de-identified build skipped: {type(exc).__name__}")
    # warm-up (first calls allocate, fault in weights, build tokenizer caches)
    for b, enc in encoders.items():
        enc.encode(chunk_texts[:8])
    if lc_build is not None:
        lc_build(notes[:1])

    def record(name, out):
        chunks_made[name] = int(out)

    times = interleave(variants, rounds, after=record)
    rows = {}
    for name, ts in times.items():
        med = statistics.median(ts)
        rows[name] = {"seconds_median": round(med, 2), "seconds": [round(t, 2) for t in ts],
                      "notes_per_s": round(len(notes) / med, 2), "chunks": chunks_made.get(name),
                      "chunks_per_s": round(chunks_made.get(name, 0) / med, 2)}
    sec.results = {"notes": len(notes), "rounds": rounds, "rag_dx_chunks": len(chunk_texts),
                   "chunk_tokens": cs.chunk_tokens, "overlap_tokens": cs.overlap_tokens, "variants": rows,
                   "throughput_unit": "MTSamples notes per second (wall clock, build of a fresh index)"}
    speed = {name: [len(notes) / t for t in ts] for name, ts in times.items()}
    for b in backends:
        sec.headline[f"rag-dx [{b}] / bare encoder [{b}]"] = paired_ratio(speed[f"rag-dx [{b}]"],
                                                                         speed[f"bare encoder [{b}]"])
        if "langchain [torch]" in speed:
            sec.headline[f"rag-dx [{b}] / langchain [torch]"] = paired_ratio(speed[f"rag-dx [{b}]"],
                                                                           speed["langchain [torch]"])
    if "rag-dx + de-id [torch]" in speed:
        sec.headline["rag-dx + de-id [torch] / rag-dx [torch]"] = paired_ratio(speed["rag-dx + de-id [torch]"],
                                                                              speed["rag-dx [torch]"])
    sec.notes.append("headline rag-dx rows run without de-identification (pass-through), like the LangChain "
                     "pipeline; the '+ de-id' row is a real build with presidio + spaCy")
    _finding_layer_cost(ctx, sec, torch_enc, rounds)
    # Real chunk embeddings for the FAISS section (seeds for synthetic vectors past corpus size).
    ctx.real_vectors = captured["torch"]
    ctx.real_vectors_source = f"{len(chunk_texts)} MTSamples chunks ({len(notes)} notes), torch encoder"
    return sec


def _finding_layer_cost(ctx, sec: Section, encoder, rounds: int) -> None:
    """Labeled builds with and without the finding layer, interleaved; throughput ratio in the headline."""
    from rag_dx.build import build_index
    from rag_dx.schemas import Report

    rows = load_symptom2disease()
    if not rows:
        sec.notes.append("finding-layer rows skipped: ../shared/data/symptom2disease is absent")
        return
    n = 24 if ctx.quick else 480
    picked = [rows[i * len(rows) // n] for i in range(min(n, len(rows)))]  # spread: the file is sorted by label
    reports = [Report(report_id=rid, text=text, diagnosis=label, source="symptom2disease")
               for rid, label, text in picked]
    counter = {"i": 0}

    def build(negation_aware: bool):
        def go():
            counter["i"] += 1
            ds = ctx.settings.diagnosis.model_copy(update={"negation_aware": negation_aware})
            s = ctx.settings.model_copy(update={"index_dir": ctx.work / "finding-bench", "diagnosis": ds})
            build_index(s, f"f{counter['i']}", reports, [], encoder=encoder, deidentifier=_PassThroughDeid())
        return go

    variants = {"labeled build, finding layer on": build(True), "labeled build, finding layer off": build(False)}
    build(True)()  # warm-up: loads the finding extractor (spaCy, HPO terms) once, as a long-running build has
    times = interleave(variants, rounds)
    sec.results["finding_layer"] = {
        "reports": len(reports), "diagnoses": len({r.diagnosis for r in reports}), "rounds": rounds,
        "variants": {name: {"seconds_median": round(statistics.median(ts), 2), "seconds": [round(t, 2) for t in ts],
                            "reports_per_s": round(len(reports) / statistics.median(ts), 1)}
                     for name, ts in times.items()}}
    speed = {name: [len(reports) / t for t in ts] for name, ts in times.items()}
    sec.headline["labeled build: finding layer on / off (throughput)"] = paired_ratio(
        speed["labeled build, finding layer on"], speed["labeled build, finding layer off"])
