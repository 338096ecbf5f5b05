#!/usr/bin/env bash
# Builds the CPU kernels with AddressSanitizer + UndefinedBehaviorSanitizer into the two framework-free
# fuzz harnesses (fuzz_kernels.cc: the rasterizer; fuzz_fused_kernels.cc: vertex shading, basis product,
# masked squared error, node upsampling) and runs both: tf_ops/sanitizer/run.sh [cases=10000] [seed=1].
# Any sanitizer report aborts with a non-zero exit status; so does any failed check of the harness.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cases="${1:-10000}"
seed="${2:-1}"
out="${C3DMM_SANITIZER_BUILD:-$(mktemp -d)}"
mkdir -p "$out"
"${CXX:-g++}" -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=address,undefined,float-cast-overflow \
  -fno-sanitize-recover=all -DC3DMM_GRAD_BLOCK_PIXELS=37 -I "$root" \
  "$here/fuzz_kernels.cc" "$root/tf_ops/cc/rasterize_cpu.cc" "$root/tf_ops/cc/rasterize_cpu_avx2.cc" \
  -o "$out/fuzz_kernels"
cc="$root/tf_ops/cc"
"${CXX:-g++}" -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -I "$root" \
  "$here/fuzz_fused_kernels.cc" "$cc/shade_vertices_cpu.cc" "$cc/basis_product_cpu.cc" \
  "$cc/masked_squared_error_cpu.cc" "$cc/upsample_nodes_cpu.cc" -o "$out/fuzz_fused_kernels"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$out/fuzz_kernels" "$cases" "$seed"
"$out/fuzz_fused_kernels" "$cases" "$seed"
