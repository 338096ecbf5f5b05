#!/usr/bin/env bash
# The reference run (issue 21, item 4): the demo's code and configuration on a longer schedule (about
# 1.5-2 hours on a 2-core CPU), then eval.report on the fresh synthetic split. Resumable: rerun the same
# command after an interruption (each stage resumes from its newest checkpoint; a finished run is only
# evaluated).
#
#   bash scripts/reference_run.sh [OUT=runs/reference] [STAGE_STEPS=pose=1500,identity=12000,...]
set -euo pipefail
OUT=${1:-runs/reference}
STAGE_STEPS=${2:-pose=1500,identity=12000,expression=12000,combined=6000}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python )}
mkdir -p "$OUT"
echo "== train $(date -u +%H:%M:%S) ($STAGE_STEPS)"
"$PY" -m training.demo --run_dir="$OUT" --stage_steps="$STAGE_STEPS"
echo "== report $(date -u +%H:%M:%S)"
"$PY" -m eval.report --model="$OUT" --output="$OUT/report"
echo "== done $(date -u +%H:%M:%S)"
