#!/usr/bin/env bash
# Rebuild every issue-13 dev protocol's data and index from ../shared (runs/ is git-ignored, so a
# fresh checkout has none of them). About 15-25 minutes on 2 cores. Usage:
#   eval/protocols/rebuild.sh [RUNS_DIR]        (default runs)
# Produces: $R/protocols (queries), $R/proto/medquad_common.jsonl.gz, the indexes
#   $R/dev-indexes/dev-outside   outside protocol's reports + MedQuAD common sources + NGC
#   $R/xg-dsp, $R/xg-s2d         the same guidelines with the cross-style practice swapped in
#   $R/gl-only                   the same guidelines, every report deleted
#   $R/full-indexes (FULL=1)     dev-indexes plus MedQuAD's other sources (GARD, GHR, CancerGov)
# Then eval/protocols/run_practice.sh runs the five practice protocols on them.
set -euo pipefail
R=${1:-runs}
SHARED=${SHARED:-../shared/data}
PY=${PY:-.venv/bin/python}
DX=${DX:-.venv/bin/rag-dx}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$R/proto"
$PY -m eval.protocols.build --shared "$SHARED" --out "$R/protocols"
$PY -m eval.protocols.extra medquad-common --out "$R/proto/medquad_common.jsonl.gz"
$PY -m eval.protocols.extra notes --out "$R/protocols/notes/queries.csv"
$PY -m eval.protocols.extra short-notes --queries "$R/protocols/notes/queries.csv" --out "$R/protocols/notes/short_queries.csv"
for x in dsp s2d; do
  $PY -m eval.protocols.extra subset --queries "$R/protocols/guidelines_only/${x}_queries.csv" --n 100 --out "$R/proto/gl_${x}_100.csv"
done
# The indexes are built in a scratch folder and moved into place only when all four exist, so a
# failure leaves the previous set as it was and no half-built one beside it.
T=$(mktemp -d "$R/.rebuild.XXXXXX")
trap 'rm -rf "$T"' EXIT
$DX index build --name dev-outside --index-dir "$T/dev-indexes" --reports "$R/protocols/outside/index.csv" \
    --guidelines "$R/proto/medquad_common.jsonl.gz" --guidelines "$SHARED/guidelines/ngc_unrestricted_summaries.jsonl.gz"
# v0002: one NGC summary removed, as in every measurement since the cards (docs/results/protocols.md)
echo ngc-10302 > "$T/del1.txt"
$DX index update --name dev-outside --index-dir "$T/dev-indexes" --delete "$T/del1.txt"
$PY -c "import csv,sys; print(*(r['report_id'] for r in csv.DictReader(open(sys.argv[1]))), sep='\n')" \
    "$R/protocols/outside/index.csv" > "$T/del_reports.txt"
for x in dsp s2d; do
  mkdir -p "$T/xg-$x"; cp -r "$T/dev-indexes/dev-outside" "$T/xg-$x/"
  $DX index update --name dev-outside --index-dir "$T/xg-$x" --delete "$T/del_reports.txt"
  $DX index update --name dev-outside --index-dir "$T/xg-$x" --reports "$R/protocols/cross_style/${x}_index.csv"
done
mkdir -p "$T/gl-only"; cp -r "$T/dev-indexes/dev-outside" "$T/gl-only/"
$DX index update --name dev-outside --index-dir "$T/gl-only" --delete "$T/del_reports.txt"
# FULL=1: also the held-out vignettes' configuration, all of MedQuAD's describing answers (the other
# sources added to a copy of dev-indexes, about 12 more minutes)
if [ "${FULL:-0}" = 1 ]; then
  $PY -m eval.protocols.extra medquad-rare --out "$R/proto/medquad_rare.jsonl.gz"
  mkdir -p "$T/full-indexes"; cp -r "$T/dev-indexes/dev-outside" "$T/full-indexes/"
  $DX index update --name dev-outside --index-dir "$T/full-indexes" --guidelines "$R/proto/medquad_rare.jsonl.gz"
fi
for d in dev-indexes xg-dsp xg-s2d gl-only full-indexes; do
  [ -e "$T/$d" ] || continue
  rm -rf "${R:?}/$d"; mv "$T/$d" "$R/$d"
done
mv "$T/del1.txt" "$T/del_reports.txt" "$R/"
echo "rebuilt under $R"
