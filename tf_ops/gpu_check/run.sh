#!/usr/bin/env bash
# GPU check of the CUDA rasterizer kernels, for a machine with a CUDA GPU and no TensorFlow:
#   bash tf_ops/gpu_check/run.sh [--mesh=PATH/ict_face_area_template.npz] [--output=DIR]
# Builds the pybind11 module tf_ops._numpy_kernels with the CUDA kernels through tf_ops/build.py (the
# one owner of the compiler and nvcc flags), then runs check.py: CPU vs GPU agreement on fresh random
# meshes and the ICT face, and CUDA-event timings. Needs python3 with numpy, pybind11 and CuPy, and
# nvcc. Finishes in well under 3 minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${C3DMM_GPU_CHECK_BUILD:-$(mktemp -d)}
(cd "$root" && python3 -m tf_ops.build --target=numpy --cuda=on --output_dir="$build")
exec python3 "$here/check.py" --build="$build" "$@"
