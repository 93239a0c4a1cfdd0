#!/usr/bin/env bash
# The FER2013 reproduction of the README ("Results on FER2013"): mini-xception trained by the
# coordinator with two local CPU workers on the paper's recipe, then evaluated on the test split
# as it is and with --tta flip. Usage:
#   npm run repro:fer2013 -- DATASET [RUNS_DIR]
# DATASET is FER2013 in any layout emotrain reads (fer2013.csv, or image folders train/ and test/).
# It takes hours on a CPU machine (about 3 h for 52 epochs on 2 cores); a run that is interrupted
# continues with the same command (the coordinator resumes runs/fer2013-mini-xception).
set -euo pipefail
cd "$(dirname "$0")/.."
if (($# < 1)); then
  echo "usage: npm run repro:fer2013 -- DATASET [RUNS_DIR]" >&2
  exit 1
fi
DATASET=$1
RUNS=${2:-runs}
RUN_ID=fer2013-mini-xception
RUN_DIR=$RUNS/$RUN_ID

# Oarriaga's face_classification recipe: rotation 10° (0.03 of a turn), zoom 0.1, shifts of 0.1,
# flips; Adam 1e-3; LR x0.1 when val_loss stalls, early stop after 15 stalled epochs. Batch 64
# (two shards of 32) where the paper used 32.
TRAIN=(--gpus 2 --dataset "$DATASET" --model mini-xception --image-size 48 --head paper
  --flip 0.5 --rotation 0.03 --zoom 0.1 --translate 0.1 --batch 64 --lr 1e-3
  --epochs 80 --patience 6 --early-stopping-patience 15 --runs "$RUNS" --run-id "$RUN_ID")
if [ -f "$RUN_DIR/config.json" ]; then
  node dist/coordinator/main.js --resume "$RUN_DIR"
else
  node dist/coordinator/main.js "${TRAIN[@]}"
fi
node dist/cli/emotrain.js evaluate "$RUN_DIR" --split test --out "$RUN_DIR/report"
node dist/cli/emotrain.js evaluate "$RUN_DIR" --split test --tta flip --out "$RUN_DIR/report-tta"
