# The README's retrain loop on Symptom2Disease, run as documented, timed step by step. Run from anywhere: bash docs/results/s2d-finetune/retrain_loop.sh
set -x
cd "$(dirname "$0")/../../.."
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAG_DX_DEVICE=cpu RAG_DX_INDEX_DIR=runs/ft/indexes
S2D=../shared/data/symptom2disease/Symptom2Disease.csv
M=runs/ft/models
RD=.venv/bin/rag-dx
time $RD finetune encoder --reports $S2D --label-col label --holdout 0.2 --out $M/encoder-v2
time env RAG_DX_ENCODER=$M/encoder-v2 $RD index build --name s2d-v2 --reports $S2D --label-col label
time env RAG_DX_ENCODER=$M/encoder-v2 $RD finetune generator --reports $S2D --label-col label --index s2d-v2 --holdout 0.2 --out $M/lora-v2
time $RD eval --labeled $S2D --label-col label --holdout 0.2 --ablations \
  --compare-encoder $M/encoder-v2 --compare-adapter $M/lora-v2 --write-cards --out runs/ft/runs/compare
