#!/usr/bin/env bash
# Run the five practice protocols of issue 13 on the indexes eval/protocols/rebuild.sh made, with
# whatever RAG_DX_* settings the environment holds (about 8-10 minutes on 2 cores), plus the notes cut
# to their presenting story ("short"), and both notes sets on $R/full-indexes when it exists. Usage:
#   [RAG_DX_...=...] eval/protocols/run_practice.sh TAG [RUNS_DIR]
# Writes $R/eval-TAG-{lists,narr,out,in,notes,short}[, -full-{notes,short}]; pair two tags with eval.protocols.score paired.
set -euo pipefail
T=${1:?usage: eval/protocols/run_practice.sh TAG [RUNS_DIR]}; R=${2:-runs}
for need in xg-s2d xg-dsp dev-indexes gl-only protocols/cross_style protocols/outside protocols/notes; do
  [ -e "$R/$need" ] || { echo "error: $R/$need is missing; run eval/protocols/rebuild.sh $R first" >&2; exit 2; }
done
DX=${DX:-.venv/bin/rag-dx}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
$DX eval --index dev-outside --index-dir "$R/xg-s2d" --labeled "$R/protocols/cross_style/dsp_queries.csv" --out "$R/eval-$T-lists"
$DX eval --index dev-outside --index-dir "$R/xg-dsp" --labeled "$R/protocols/cross_style/s2d_queries.csv" --out "$R/eval-$T-narr"
$DX eval --index dev-outside --index-dir "$R/dev-indexes" --labeled "$R/protocols/outside/queries_out.csv" --out "$R/eval-$T-out"
$DX eval --index dev-outside --index-dir "$R/dev-indexes" --labeled "$R/protocols/outside/queries_in.csv" --out "$R/eval-$T-in"
$DX eval --index dev-outside --index-dir "$R/dev-indexes" --labeled "$R/protocols/notes/queries.csv" --out "$R/eval-$T-notes"
SHORT="$R/protocols/notes/short_queries.csv"
[ -e "$SHORT" ] || ${PY:-.venv/bin/python} -m eval.protocols.extra short-notes --queries "$R/protocols/notes/queries.csv" --out "$SHORT"
$DX eval --index dev-outside --index-dir "$R/dev-indexes" --labeled "$SHORT" --out "$R/eval-$T-short"
if [ -e "$R/full-indexes" ]; then
  $DX eval --index dev-outside --index-dir "$R/full-indexes" --labeled "$R/protocols/notes/queries.csv" --out "$R/eval-$T-full-notes"
  $DX eval --index dev-outside --index-dir "$R/full-indexes" --labeled "$SHORT" --out "$R/eval-$T-full-short"
fi
