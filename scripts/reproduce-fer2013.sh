#!/usr/bin/env bash
# The FER2013 reproduction of the README ("Results on FER2013"): mini-xception trained by the
# coordinator with two local CPU workers in two stages, then its best checkpoint evaluated on the
# test split as it is, with --tta flip and with --tta flip-zoom. Usage:
#   npm run repro:fer2013 -- DATASET [RUNS_DIR]
# DATASET is FER2013 in any layout emotrain reads (fer2013.csv, or image folders train/ and test/).
# It takes hours on a CPU machine (about 3 h for stage 1 and 2.7 h for stage 2 on 2 cores); a run
# that is interrupted continues with the same command (each stage resumes its run directory, and a
# finished stage is not trained again).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 1)); then
  echo "usage: npm run repro:fer2013 -- DATASET [RUNS_DIR]" >&2
  exit 1
fi
DATASET=$1
RUNS=${2:-runs}
STAGE1=fer2013-mini-xception
STAGE2=fer2013-mini-xception-stage2

# train RUN_ID EPOCHS FLAGS...: start the run, or resume it where an earlier invocation left it
# (to the same number of epochs, whatever an older version of this script gave it).
train() {
  local id=$1 epochs=$2
  shift 2
  if [ -f "$RUNS/$id/config.json" ]; then
    node dist/coordinator/main.js --resume "$RUNS/$id" --epochs "$epochs"
  else
    node dist/coordinator/main.js "$@" --epochs "$epochs" --runs "$RUNS" --run-id "$id"
  fi
}

# Both stages: oarriaga's face_classification augmentation (rotation 10° = 0.03 of a turn, zoom
# 0.1, shifts of 0.1, flips), Adam, LR x0.1 when val_loss stalls, early stopping.
COMMON=(--gpus 2 --dataset "$DATASET" --model mini-xception --image-size 48 --head paper
  --flip 0.5 --rotation 0.03 --zoom 0.1 --translate 0.1)
# Stage 1: from scratch, Adam 1e-3, global batch 64 (two shards of 32). The measured run was
# stopped after epoch 52, before early stopping, so this stage ends there too.
train "$STAGE1" 52 "${COMMON[@]}" --batch 64 --lr 1e-3 --patience 6 --early-stopping-patience 15
# Stage 2: a warm restart from stage 1's best epoch with the paper's batch 32 and LR 5e-4.
train "$STAGE2" 40 "${COMMON[@]}" --weights "$RUNS/$STAGE1/checkpoints/best" --batch 32 --lr 5e-4 \
  --patience 5 --early-stopping-patience 12

for tta in none flip flip-zoom; do
  node dist/cli/emotrain.js evaluate "$RUNS/$STAGE2" --split test --tta "$tta" --out "$RUNS/$STAGE2/report-tta-$tta"
done
