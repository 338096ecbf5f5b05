#!/usr/bin/env bash
# Offline Bazel build of the rasterizer op (CPU only; the CUDA kernels are built by tf_ops/build.py):
# configure @local_tensorflow from $PYTHON (default ./.venv/bin/python), build //tf_ops:rasterizer into
# bazel-bin/tf_ops/_rasterizer_ops.so, then stop the Bazel server so nothing lingers (CI, make).
# Extra arguments go to `bazel build`. Env: PYTHON, BAZEL, BAZEL_OUTPUT_USER_ROOT, BAZEL_DISK_CACHE.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
# Resolve a relative $PYTHON against the caller's directory before moving to the repo root.
PYTHON="${PYTHON:-$repo/.venv/bin/python}"
if [[ "$PYTHON" == */* && "$PYTHON" != /* ]]; then PYTHON="$PWD/$PYTHON"; fi
export PYTHON
cd "$repo"

BAZEL="${BAZEL:-bazel}"
# Output root and disk cache under the user's cache dir (works as root in CI; $HOME may be unset there).
cache_dir="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}"
startup=(--output_user_root="${BAZEL_OUTPUT_USER_ROOT:-$cache_dir/bazel-c3dmm}" --max_idle_secs=300)

scripts/configure_bazel.sh
trap '"$BAZEL" "${startup[@]}" shutdown >/dev/null 2>&1 || true' EXIT
"$BAZEL" "${startup[@]}" build --disk_cache="${BAZEL_DISK_CACHE:-$cache_dir/bazel-c3dmm-disk}" \
  //tf_ops:rasterizer "$@"
ls -l bazel-bin/tf_ops/_rasterizer_ops.so
