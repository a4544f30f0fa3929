"""The benchmark suite: `python -m eval.bench --quick` writes bench.json/bench.md of the right shape.

Structure only: speed is never asserted (these machines are shared and noisy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.bench.common import interleave, paired_ratio, percentile, summary_ms
from eval.bench.report import render, targets

REPO = Path(__file__).resolve().parents[1]


def test_percentile_and_summary():
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    s = summary_ms([0.001, 0.002, 0.003])
    assert s["p50_ms"] == pytest.approx(2.0) and s["n"] == 3


def test_interleave_alternates_variants():
    order: list[str] = []
    times = interleave({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 3)
    assert order == ["a", "b"] * 3 and all(len(v) == 3 for v in times.values())
    assert paired_ratio([2.0, 4.0, 6.0], [1.0, 1.0, 1.0]) == 4.0


def test_synthetic_vectors_are_unit_and_clustered():
    from eval.bench.faiss_bench import synthetic

    rng = np.random.default_rng(0)
    seeds = rng.standard_normal((20, 16)).astype(np.float32)
    seeds /= np.linalg.norm(seeds, axis=1, keepdims=True)
    v = synthetic(seeds, 1000, block=300)
    assert v.shape == (1000, 16) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert (v @ seeds.T).max(axis=1).mean() > 0.6  # near a real seed, unlike uniform random vectors


def test_report_renders_targets():
    data = {"quick": False, "machine": {"cpu": "x", "cores": 2}, "sections": {
        "build": {"results": {}, "headline": {"rag-dx [torch] / bare encoder [torch]": 0.95,
                                              "rag-dx [torch] / langchain [torch]": 1.1,
                                              "labeled build: finding layer on / off (throughput)": 0.65},
                  "notes": [], "skipped": None},
        "diagnose": {"results": {}, "headline": {"diagnose p50 ms (full)": 2500.0, "explain p50 ms (full)": 120.0,
                                                 "explain cost: total full / explain off (paired)": 1.2},
                     "notes": [], "skipped": None},
        "eval": {"results": {}, "headline": {}, "notes": [], "skipped": "needs ../shared"}}}
    t = {x["target"]: x["met"] for x in targets(data)}
    assert t["build throughput >= 0.9x the bare encoder"] is True
    assert t["build throughput >= 2x the LangChain pipeline"] is False
    assert t["finding layer costs <= 30% of index-build throughput"] is False  # 35% cost
    assert t["diagnose p50 <= 1 s with the bundled generator"] is False
    assert t["finding layer (explain step) costs <= 100 ms of diagnose latency"] is False
    md = render(data)
    assert "## Targets" in md and "Skipped: needs ../shared" in md


@pytest.mark.slow
def test_quick_run_writes_bench_json(tmp_path):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               RAG_DX_INDEX_DIR=str(tmp_path / "no-indexes"))  # force the scratch demo index: hermetic
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, "-m", "eval.bench", "--quick", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((out / "bench.json").read_text())
    assert (out / "bench.md").read_text().startswith("# rag-dx benchmark (quick run)")
    assert data["quick"] is True and data["schema_version"] == 1
    assert data["machine"]["cores"] >= 1 and "versions" in data["machine"]
    assert set(data["sections"]) == {"encoder", "build", "retrieval", "diagnose", "eval", "practice"}
    for name, sec in data["sections"].items():
        assert set(sec) == {"results", "headline", "notes", "skipped", "seconds"}, name
        # build and practice need ../shared (MTSamples)
        assert sec["skipped"] is None or name in ("build", "practice"), (name, sec["skipped"])
    s = data["sections"]
    assert s["encoder"]["results"]["backends"]["torch"]["texts_per_s"] > 0
    r10k = s["retrieval"]["results"]["sizes"]["10000"]
    assert r10k["factory"] == "IDMap2,Flat" and r10k["recall_at_10_vs_exact"] == 1.0
    assert r10k["chosen"]["p50_ms"] > 0 and r10k["flat"]["p95_ms"] >= r10k["flat"]["p50_ms"]
    full = s["diagnose"]["results"]["variants"]["full"]
    assert set(full) >= {"encode_ms", "retrieve_ms", "score_ms", "explain_ms", "total_ms"}
    assert full["explain_ms"]["p50_ms"] > 0  # the explanation step is timed, and skipped in its baseline
    assert s["diagnose"]["results"]["variants"]["full, explain off"]["explain_ms"]["p50_ms"] == 0
    assert full["total_ms"]["p50_ms"] >= full["score_ms"]["p50_ms"] > 0
    assert "built in a scratch dir" in s["diagnose"]["results"]["index"]
    jobs = s["eval"]["results"]["jobs"]
    assert jobs and all(j.get("per_min", 0) > 0 and j["peak_rss_mb"] > 0 for j in jobs.values()), jobs
    if s["build"]["skipped"] is None:
        variants = s["build"]["results"]["variants"]
        assert {"bare encoder [torch]", "rag-dx [torch]"} <= set(variants)
        assert s["build"]["headline"]["rag-dx [torch] / bare encoder [torch]"] > 0
        # the finding layer's build cost: labeled builds with it and without it, side by side
        fl = s["build"]["results"]["finding_layer"]
        assert set(fl["variants"]) == {"labeled build, finding layer on", "labeled build, finding layer off"}
        assert fl["diagnoses"] > 1 and all(v["reports_per_s"] > 0 for v in fl["variants"].values())
        assert s["build"]["headline"]["labeled build: finding layer on / off (throughput)"] > 0
    else:
        assert "mtsamples" in s["build"]["skipped"]
    if s["practice"]["skipped"] is None:
        row = s["practice"]["results"]["n300"]
        assert row["status"] == "ranker" and row["practice_s"] > 0 and row["ratio_to_baseline"] > 0
    assert isinstance(data["targets"], list)


@pytest.mark.slow
def test_generator_fast_path_equals_slow_path(generator):
    """The generator savings the bench measures (shared-prefix KV cache, last-position logits) are exact."""
    from rag_dx.schemas import Chunk, Hit

    hits = [Hit(chunk=Chunk(chunk_id=f"R:{i}#0", kind="report", doc_id=str(i), title=f"Report {i}",
                            text="fever, cough and crackles at the right base", label="Pneumonia"), score=0.1)
            for i in range(3)]
    prompt = generator.build_prompt("Two days of fever and productive cough.", hits)
    cands = ["Pneumonia", "Acute bronchitis", "Influenza", "Migraine"]
    flags = (generator.cache_shared_prefix, generator.last_logits_only)
    try:
        generator.cache_shared_prefix, generator.last_logits_only = True, True
        fast = generator.score(prompt, cands)
        assert generator._shared_prefix()[0] is not None  # the bundled chat template has a shared prefix
        generator.cache_shared_prefix, generator.last_logits_only = False, False
        slow = generator.score(prompt, cands)
    finally:
        generator.cache_shared_prefix, generator.last_logits_only = flags
    np.testing.assert_allclose(fast, slow, atol=1e-4)


def test_generator_built_by_hand_does_not_cache_the_prefix():
    """finetune builds HFGenerator around a model in training: a cached prefix would go stale."""
    from rag_dx.generate import HFGenerator

    g = HFGenerator(model=None, tokenizer=None, name="x", fingerprint="0")
    assert g.cache_shared_prefix is False
