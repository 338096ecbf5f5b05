#!/usr/bin/env bash
# The pretrained model shipped with the package (issue 22, item 4), reproducibly on a 2-core CPU:
#   1. the reference run (scripts/reference_run.sh: the demo's code and configuration, seed 0, on the longer
#      schedule; train + eval.report on the held-out synthetic split), ~1-1.5 h;
#   2. package its newest checkpoint as float16 package data (python -m model.pretrained -> model/pretrained/);
#   3. eval.landmarks of the packaged model on the hand-annotated 300-W photos;
#   4. MODEL_CARD.md from the manifest, the configuration and the measured tables (scripts/model_card.py).
# Resumable: rerun after an interruption (training resumes from its newest checkpoint; a trained and
# evaluated run is only packaged).
#
#   bash scripts/train_release.sh [OUT=runs/reference]
set -euo pipefail
OUT=${1:-runs/reference}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
SHARED=${C3DMM_SHARED:-../shared}
PKG=model/pretrained
if [ -f "$OUT/report/report.md" ] && [ -f "$OUT/demo/results.json" ]; then
  echo "== $OUT is trained and evaluated (remove $OUT/report to redo the evaluation)"
else
  PYTHON="$PY" bash scripts/reference_run.sh "$OUT"
fi
echo "== package $(date -u +%H:%M:%S)"
"$PY" -m model.pretrained --run_dir="$OUT" --output="$PKG"
echo "== landmarks300w $(date -u +%H:%M:%S)"
"$PY" -m eval.landmarks --model="$PKG" --data="$SHARED/media/landmarks300w" --output="$OUT/landmarks300w" \
  --noprogress || echo "(eval.landmarks exit $?: some images not evaluated, see $OUT/landmarks300w)"
echo "== model card $(date -u +%H:%M:%S)"
"$PY" scripts/model_card.py --run_dir="$OUT" --package="$PKG"
"$PY" -m model.pretrained --check --output="$PKG"
echo "== done $(date -u +%H:%M:%S)"
