#!/usr/bin/env bash
# Kernel-only benchmark (no TensorFlow, one thread): the benchmark scene of tf_ops/benchmark.py, both
# CPU kernel paths side by side. Usage: tf_ops/kernel_bench/run.sh [runs=30] [sizes="240 512"] > out.jsonl
# Needs a Python with numpy ($PYTHON, default python3) and the shared assets (see tf_ops/resources.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runs="${1:-30}"
sizes="${2:-240 512}"
out="$(mktemp -d)"
"${CXX:-g++}" -std=c++17 -O3 -I "$root" "$here/kernel_bench.cc" "$root/tf_ops/cc/rasterize_cpu.cc" \
  "$root/tf_ops/cc/rasterize_cpu_avx2.cc" -o "$out/kernel_bench"
PYTHONPATH="$root" "${PYTHON:-python3}" - "$out" <<'PY'
import pathlib, sys
import numpy as np
from tf_ops import resources
from tf_ops.bench_scene import scene_clip_vertices, subdivide
data = np.load(resources.shared_path('assets', 'ict_face', 'ict_face_area_template.npz'))
base = (data['neutral_vertices'].astype(np.float32), data['triangles'].astype(np.int32))
for name, (vertices, triangles) in {'ict_face': base, 'ict_face_subdiv1': subdivide(*base)}.items():
  clip = scene_clip_vertices(vertices, 4)
  with open(pathlib.Path(sys.argv[1]) / f'{name}.bin', 'wb') as f:
    np.array([4, clip.shape[1], len(triangles)], np.int32).tofile(f)
    clip.astype(np.float32).tofile(f)
    triangles.astype(np.int32).tofile(f)
PY
for mesh in ict_face ict_face_subdiv1; do
  for size in $sizes; do
    "$out/kernel_bench" "$out/$mesh.bin" "$size" "$runs"
  done
done
