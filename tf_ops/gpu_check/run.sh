#!/usr/bin/env bash
# GPU check of the CUDA rasterizer kernels, for a machine with a CUDA GPU and no TensorFlow:
#   bash tf_ops/gpu_check/run.sh [--mesh=PATH/ict_face_area_template.npz] [--output=DIR]
# Builds the kernels with nvcc (and the CPU reference kernels with g++) into two small shared
# libraries, then runs check.py: CPU vs GPU agreement on fresh random meshes and the ICT face, and
# CUDA-event timings. Needs python3 with numpy and CuPy. Finishes in well under 3 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${C3DMM_GPU_CHECK_BUILD:-$(mktemp -d)}
arch=${CUDA_ARCH:-90}
nvcc -std=c++17 -O3 --fmad=false -Xcompiler -fPIC -shared \
  -gencode "arch=compute_${arch},code=[sm_${arch},compute_${arch}]" -lineinfo \
  -I "$root" "$root/tf_ops/cc/rasterize_cuda.cu" -o "$build/libc3dmm_cuda.so"
g++ -std=c++17 -O3 -fPIC -shared -I "$root" "$root/tf_ops/cc/rasterize_cpu.cc" \
  "$root/tf_ops/cc/rasterize_cpu_avx2.cc" "$here/cpu_harness.cc" -o "$build/libc3dmm_cpu.so"
exec python3 "$here/check.py" --build="$build" "$@"
