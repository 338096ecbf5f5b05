#!/usr/bin/env bash
# The paper's two ablations (Tables 2 and 3) at the reference run's budget, branched from the reference run
# (scripts/reference_run.sh) where the ablated term first enters, so that everything upstream is shared:
#   no_lseg (lip=0):             L_seg enters in the combined stage -> the reference's pose, identity and
#                                expression checkpoints are copied, the combined stage is retrained;
#   no_ldis (disentanglement=0): L_dis enters in the expression stage -> pose and identity are copied, the
#                                expression and combined stages are retrained.
# Same schedule, seed and code as the reference; then one eval.report with the three side by side.
# Resumable: rerun the same command after an interruption.
#
#   bash scripts/ablations_from_reference.sh [REFERENCE=runs/reference] [OUT=runs/ablations_reference]
set -euo pipefail
REF=${1:-runs/reference}
OUT=${2:-runs/ablations_reference}
STAGE_STEPS=${STAGE_STEPS:-pose=1500,identity=12000,expression=12000,combined=6000}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
declare -A WEIGHTS=([no_lseg]='lip=0' [no_ldis]='disentanglement=0')
declare -A SHARED=([no_lseg]='pose identity expression' [no_ldis]='pose identity')
for name in no_lseg no_ldis; do
  mkdir -p "$OUT/$name/checkpoints"
  for stage in ${SHARED[$name]}; do
    [ -d "$OUT/$name/checkpoints/$stage" ] || cp -r "$REF/checkpoints/$stage" "$OUT/$name/checkpoints/$stage"
  done
done
for name in no_lseg no_ldis; do
  echo "== $name (${WEIGHTS[$name]}; shared with $REF: ${SHARED[$name]}) $(date -u +%H:%M:%S)"
  "$PY" -m training.main --config=demo --stage=all --run_dir="$OUT/$name" --stage_steps="$STAGE_STEPS" \
      --loss_weights="${WEIGHTS[$name]}" --progress=false
done
echo "== report $(date -u +%H:%M:%S)"
"$PY" -m eval.report --model="$REF,$OUT/no_lseg,$OUT/no_ldis" --output="$OUT/report"
echo "== done $(date -u +%H:%M:%S)"
