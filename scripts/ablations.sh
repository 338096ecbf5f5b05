#!/usr/bin/env bash
# The paper's two ablations at equal budget (Tables 2 and 3): the demo configuration trained longer with
# all losses, with L_seg off (lip=0) and with L_dis off (disentanglement=0), then one eval.report with the
# three side by side. Resumable: rerun the same command after an interruption.
#
#   bash scripts/ablations.sh [OUT=runs/ablations] [STAGE_STEPS=pose=600,identity=3000,expression=3000,combined=3000]
set -euo pipefail
OUT=${1:-runs/ablations}
STAGE_STEPS=${2:-pose=600,identity=3000,expression=3000,combined=3000}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
mkdir -p "$OUT"
declare -A WEIGHTS=([all]='' [no_lseg]='lip=0' [no_ldis]='disentanglement=0')
for name in all no_lseg no_ldis; do
  echo "== $name (${WEIGHTS[$name]:-all losses}) $(date -u +%H:%M:%S)"
  "$PY" -m training.main --config=demo --stage=all --run_dir="$OUT/$name" --stage_steps="$STAGE_STEPS" \
      --loss_weights="${WEIGHTS[$name]}" --progress=false
done
echo "== report $(date -u +%H:%M:%S)"
"$PY" -m eval.report --model="$OUT/all,$OUT/no_lseg,$OUT/no_ldis" --output="$OUT/report"
echo "== done $(date -u +%H:%M:%S)"
