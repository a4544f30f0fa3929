"""Shared helpers: side-by-side timing, percentiles, machine description, data locations.

Every comparison in the benchmark interleaves its variants (A, B, C, A, B, C, ...) in one
process, so a noisy neighbour slows all of them alike; ratios are medians of per-round ratios.
"""

from __future__ import annotations

import gzip
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_dx.provenance import git_commit, package_versions

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """../shared/data beside the checkout (or $RAG_DX_SHARED_DATA); None when absent."""
    env = os.environ.get("RAG_DX_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of a non-empty sequence."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds, and the sample count."""
    ms = [s * 1000.0 for s in seconds]
    return {"p50_ms": round(percentile(ms, 50), 3), "p95_ms": round(percentile(ms, 95), 3),
            "mean_ms": round(statistics.fmean(ms), 3) if ms else float("nan"), "n": len(ms)}


def interleave(variants: Mapping[str, Callable[[], Any]], rounds: int, *,
               after: Callable[[str, Any], None] | None = None) -> dict[str, list[float]]:
    """Run each variant once per round, in the same order, `rounds` times; seconds per call."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            if after is not None:
                after(name, out)
    return times


def case_texts(path: Path, n: int) -> list[str]:
    """The first `n` case texts of a CSV with a 'text' column; exits naming the file when it has none."""
    if not path.is_file():
        raise SystemExit(f"{path}: not found")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if "text" not in (reader.fieldnames or []):
            raise SystemExit(f"{path}:1: missing column 'text'")
        texts = [r["text"] for r in reader][:n]
    if not texts:
        raise SystemExit(f"{path}: no cases")
    return texts


def alternating(variants: Mapping[Any, Callable[[str], Any]], inputs: Sequence[str], rounds: int = 2) -> dict[Any, list[float]]:
    """Milliseconds per call of each variant on each input, the variants' order reversed every other round."""
    ms: dict[Any, list[float]] = {k: [] for k in variants}
    for rep in range(rounds):
        order = list(variants) if rep % 2 == 0 else list(reversed(list(variants)))
        for x in inputs:
            for k in order:
                t = time.perf_counter()
                variants[k](x)
                ms[k].append((time.perf_counter() - t) * 1000)
    return ms


def paired_ratio(numer: Sequence[float], denom: Sequence[float]) -> float:
    """Median over rounds of numer[i] / denom[i] (e.g. throughputs, or times for a speedup)."""
    pairs = [a / b for a, b in zip(numer, denom) if b > 0]
    return round(statistics.median(pairs), 3) if pairs else float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB.

    VmHWM (Linux) rather than getrusage's ru_maxrss: Linux carries ru_maxrss over from the forked
    parent's memory across exec, so a small job started by a big benchmark process would report
    the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine() -> dict[str, Any]:
    """What the numbers came from: CPU, cores, memory, load, versions, thread policy, GPU."""
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gb": _mem_total_gb(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2), "gpu": gpu,
        "python": platform.python_version(), "platform": platform.platform(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "versions": package_versions(("torch", "transformers", "sentence-transformers", "faiss-cpu",
                                       "onnxruntime", "langchain-huggingface", "langchain-community")),
        "git_commit": git_commit(short=True),
    }


def load_mtsamples(limit: int | None = None) -> list[tuple[str, str]]:
    """(note_id, transcription) of MTSamples notes with text, in file order; [] without ../shared."""
    root = shared_data_dir()
    path = root / "mtsamples" / "mtsamples.csv.gz" if root else None
    if path is None or not path.is_file():
        return []
    out: list[tuple[str, str]] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if limit is not None and len(out) >= limit:
                break
            text = (row.get("transcription") or "").strip()
            if text:
                out.append((row.get("note_id") or str(len(out)), text))
    return out


def load_symptom2disease() -> list[tuple[str, str, str]]:
    """(id, label, text) rows of Symptom2Disease; [] without ../shared."""
    root = shared_data_dir()
    path = root / "symptom2disease" / "Symptom2Disease.csv" if root else None
    if path is None or not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [(f"s2d-{i}", row["label"], row["text"]) for i, row in enumerate(csv.DictReader(fh))]


@dataclass
class Section:
    """One benchmark section's result: numbers, headline ratios, and notes (skips, caveats)."""

    name: str
    results: dict[str, Any] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"results": self.results, "headline": self.headline, "notes": self.notes,
                "skipped": self.skipped, "seconds": round(self.seconds, 1)}


def run_json_job(module: str, args: Mapping[str, Any], *, timeout: float = 900) -> dict[str, Any]:
    """Run `python -m module '<json args>'` (a fresh process, so its peak RSS is its own) and parse
    the JSON object it prints on its last stdout line."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    proc = subprocess.run([sys.executable, "-m", module, json.dumps(dict(args))], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip().startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-800:]
        raise RuntimeError(f"job {module} failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])
