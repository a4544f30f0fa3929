#!/usr/bin/env bash
# One command for a machine with a GPU: what CUDA sees, the GPU-marked tests (plus the generator
# backend tests), and the benchmark sections a GPU changes. Run from the repository root:
#
#   scripts/gpu_check.sh [OUT_DIR]          # default runs/gpu-check; about 5-10 minutes
#
# Needs the 'gpu' extra (CUDA torch + faiss-gpu) installed in $VENV (default .venv) and the bundled
# generator prepared (`rag-dx models prepare`). Nothing asserts a speed: the numbers land in
# OUT_DIR/bench (bench.json, bench.md) and OUT_DIR/serve (serve_bench.json). Exit status: the tests'.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/gpu-check}"
PY="${VENV:-.venv}/bin/python"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_WAIT_POLICY=PASSIVE
mkdir -p "$OUT"

echo "== environment" | tee "$OUT/summary.txt"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
  "$PY" - <<'PY'
import torch
print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}, "
      f"device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'}, "
      f"bf16: {torch.cuda.is_available() and torch.cuda.is_bf16_supported()}")
try:
    import faiss
    print(f"faiss {faiss.__version__}, GPUs seen by faiss: {getattr(faiss, 'get_num_gpus', lambda: 0)()}")
except ImportError:
    print("faiss: not installed")
PY
} 2>&1 | tee -a "$OUT/summary.txt"

echo "== tests (gpu-marked, faiss GPU path, generator backends, scoring on CUDA)" | tee -a "$OUT/summary.txt"
TESTS=$( { grep -l -e "mark.gpu" -e "cuda" tests/test_*.py; \
           printf '%s\n' tests/test_faiss_gpu.py tests/test_generate_openai.py tests/test_scoring.py tests/test_generate.py; } | sort -u)
"$PY" -m pytest -p no:cacheprovider -q -rs $TESTS 2>&1 | tee "$OUT/tests.txt" | tail -n 25
status=${PIPESTATUS[0]}
echo "tests exit status: $status" | tee -a "$OUT/summary.txt"

echo "== benchmark (retrieval at scale, diagnose: ranker and generator paths)" | tee -a "$OUT/summary.txt"
RAG_DX_DEVICE=cuda "$PY" -m eval.bench --only retrieval diagnose --skip-ui --out "$OUT/bench" 2>&1 | tail -n 40 \
    | tee -a "$OUT/summary.txt"
echo "== HTTP API under load" | tee -a "$OUT/summary.txt"
RAG_DX_DEVICE=cuda "$PY" -m eval.bench.serve_bench --out "$OUT/serve" --seconds 15 2>&1 | tail -n 8 \
    | tee -a "$OUT/summary.txt"
echo "wrote $OUT/summary.txt, $OUT/tests.txt, $OUT/bench/, $OUT/serve/"
exit "$status"
