"""Checks the CUDA rasterizer kernels against the CPU kernels and times them (no TensorFlow needed).

Run through ``run.sh``, which builds the pybind11 module ``_numpy_kernels`` with the CUDA kernels
(``python -m tf_ops.build --target=numpy --cuda=on``): its numpy functions are the CPU reference, its
``cuda_*`` launchers run the CUDA kernels. Uses numpy and CuPy (device memory, streams, CUDA events).
Exits non-zero when any check fails. Random inputs are drawn fresh each run
(the seed is printed so that a failure can be replayed with ``--seed``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
def load_scene_module():
  """tf_ops/bench_scene.py without importing the tf_ops package (which needs TensorFlow)."""
  spec = importlib.util.spec_from_file_location('bench_scene', ROOT / 'tf_ops' / 'bench_scene.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_kernels(build: pathlib.Path):
  """The _numpy_kernels module that run.sh built into ``build`` (with the CUDA launchers)."""
  paths = sorted(build.glob('_numpy_kernels*.so'))
  if not paths:
    raise FileNotFoundError(f'no _numpy_kernels*.so in {build}: run through run.sh')
  spec = importlib.util.spec_from_file_location('_numpy_kernels', paths[0])
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not module.WITH_CUDA:
    raise RuntimeError(f'{paths[0]} was built without the CUDA kernels (nvcc not found?)')
  return module


def ptr(array) -> int:
  """Device address of a CuPy array, for the cuda_* launchers."""
  return array.data.ptr


class Case:
  """One scene on both devices."""

  def __init__(self, k, cp, clip: np.ndarray, tris: np.ndarray, height: int, width: int):
    self.k, self.cp = k, cp
    self.clip = np.ascontiguousarray(clip, np.float32)
    self.tris = np.ascontiguousarray(tris, np.int32)
    self.b, self.v = clip.shape[:2]
    self.t = len(tris)
    self.h, self.w = height, width
    self.clip_d = cp.asarray(self.clip)
    self.tris_d = cp.asarray(self.tris)
    self.scratch = cp.empty(int(k.cuda_rasterize_scratch_bytes(self.b, self.v, height, width)), cp.uint8)
    self.stream = cp.cuda.get_current_stream().ptr

  def cpu_forward(self):
    return self.k.rasterize(self.clip, self.tris, self.h, self.w)

  def gpu_forward(self, outputs=None):
    cp = self.cp
    if outputs is None:  # Poisoned: every element the kernel leaves unwritten shows up.
      outputs = (cp.full((self.b, self.h, self.w), -7, cp.int32),
                 cp.full((self.b, self.h, self.w, 3), np.nan, cp.float32),
                 cp.full((self.b, self.h, self.w), np.nan, cp.float32))
    ids, bary, depth = outputs
    self.k.cuda_rasterize(self.stream, ptr(self.clip_d), self.b, self.v, ptr(self.tris_d), self.t, self.h,
                          self.w, ptr(self.scratch), ptr(ids), ptr(bary), ptr(depth))
    return outputs

  def cpu_grad(self, ids, bary, grad_bary):
    return self.k.rasterize_grad(self.clip, self.tris, ids, bary, grad_bary)

  def gpu_grad(self, ids, bary, grad_bary, grad=None):
    if grad is None:
      grad = self.cp.full(self.clip.shape, np.nan, self.cp.float32)
    self.k.cuda_rasterize_grad(self.stream, ptr(self.clip_d), self.b, self.v, ptr(self.tris_d), self.t,
                               ptr(ids), ptr(bary), ptr(grad_bary), self.h, self.w, ptr(grad))
    return grad


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check_case(name: str, case: Case, rng: np.random.Generator) -> dict:
  """Compares ids, barycentrics, depth, gradients and interpolation; returns a result row."""
  cp = case.cp
  ids_c, bary_c, depth_c = case.cpu_forward()
  ids_d, bary_d, depth_d = (x.get() for x in case.gpu_forward())
  unwritten = int((ids_d == -7).sum() + np.isnan(depth_d).sum() +
                  np.isnan(bary_d).any(-1).sum())
  differ = ids_c != ids_d
  # A differing id is a documented tie only if both triangles give the pixel the same depth.
  ties = int((differ & (depth_c == depth_d)).sum())
  same = ~differ
  bary_err = float(np.abs(bary_c - bary_d)[same].max()) if same.any() else 0.0
  depth_err = float(np.abs(depth_c - depth_d)[same].max()) if same.any() else 0.0
  grad_bary = rng.normal(size=bary_c.shape).astype(np.float32)
  grad_c = case.cpu_grad(ids_c, bary_c, grad_bary)
  grad_d = case.gpu_grad(cp.asarray(ids_c), cp.asarray(bary_c), cp.asarray(grad_bary)).get()
  grad_err = rel_l2(grad_d, grad_c)
  channels = 3
  attributes = rng.uniform(size=(case.b, case.v, channels)).astype(np.float32)
  pixels = case.h * case.w
  interp_c = case.k.interpolate(attributes, ids_c, bary_c, case.tris).reshape(case.b, pixels, channels)
  interp_d = cp.full((case.b, pixels, channels), np.nan, cp.float32)
  attributes_d, ids_cd, bary_cd = cp.asarray(attributes), cp.asarray(ids_c), cp.asarray(bary_c)
  case.k.cuda_interpolate(case.stream, ptr(attributes_d), case.b, case.v, channels, ptr(case.tris_d), case.t,
                          ptr(ids_cd), ptr(bary_cd), pixels, ptr(interp_d))
  interp_err = float(np.abs(interp_d.get() - interp_c).max())
  ok = (unwritten == 0 and int(differ.sum()) == ties and bary_err <= 1e-5 and grad_err <= 1e-4
        and interp_err <= 1e-5 and np.isfinite(grad_d).all())
  return dict(case=name, batch=case.b, triangles=case.t, size=f'{case.h}x{case.w}',
              coverage=round(float((ids_c >= 0).mean()), 3), unwritten=unwritten,
              id_mismatch=int(differ.sum()), depth_ties=ties, bary_max_abs=bary_err,
              depth_max_abs=depth_err, grad_rel_l2=grad_err, interp_max_abs=interp_err, ok=bool(ok))


def random_mesh(rng: np.random.Generator, batch: int, vertices: int, triangles: int):
  """Clip-space vertices with overlaps, slivers, some w <= 0 and some non-finite entries."""
  w = rng.uniform(0.3, 2.0, (batch, vertices, 1))
  xy = rng.uniform(-1.3, 1.3, (batch, vertices, 2)) * w
  z = rng.uniform(-1.1, 1.1, (batch, vertices, 1)) * w
  clip = np.concatenate([xy, z, w], -1).astype(np.float32)
  bad = rng.random((batch, vertices)) < 0.02
  clip[bad, 3] = -rng.uniform(0, 1, bad.sum())
  clip[rng.random((batch, vertices)) < 0.005, 0] = np.nan
  tris = rng.integers(0, vertices, (triangles, 3)).astype(np.int32)
  return clip, tris


def time_ms(cp, fn, warmup: int, runs: int) -> float:
  for _ in range(warmup):
    fn()
  start, stop = cp.cuda.Event(), cp.cuda.Event()
  times = []
  for _ in range(runs):
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    times.append(cp.cuda.get_elapsed_time(start, stop))
  return float(np.median(times))


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--build', type=pathlib.Path, required=True,
                      help='folder with the _numpy_kernels module that run.sh built')
  parser.add_argument('--mesh', type=pathlib.Path, default=None,
                      help='ict_face_area_template.npz (default: $C3DMM_SHARED or ../shared)')
  parser.add_argument('--seed', type=int, default=None, help='replay a run (default: fresh)')
  parser.add_argument('--runs', type=int, default=100, help='timed runs per case (median)')
  parser.add_argument('--output', type=pathlib.Path, default=None, help='folder for results.json')
  args = parser.parse_args()
  import cupy as cp
  seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), 'little')
  rng = np.random.default_rng(seed)
  props = cp.cuda.runtime.getDeviceProperties(0)
  device = props['name'].decode() if isinstance(props['name'], bytes) else str(props['name'])
  print(f'device: {device}; seed {seed}', flush=True)
  kernels = load_kernels(args.build)
  scene = load_scene_module()
  mesh_path = args.mesh or (pathlib.Path(os.environ.get('C3DMM_SHARED', ROOT.parent / 'shared')) /
                            'assets' / 'ict_face' / 'ict_face_area_template.npz')
  data = np.load(mesh_path)
  base = (data['neutral_vertices'].astype(np.float32), data['triangles'].astype(np.int32))
  meshes = {'ict_face': base, 'ict_face_subdiv1': scene.subdivide(*base)}

  checks = []
  started = time.time()
  for i in range(4):
    clip, tris = random_mesh(rng, batch=3, vertices=int(rng.integers(3, 400)),
                             triangles=int(rng.integers(1, 1500)))
    checks.append(check_case(f'random{i}', Case(kernels, cp, clip, tris, 61, 83), rng))
  for name, (vertices, tris) in meshes.items():
    for size, batch in ((240, 4), (512, 4), (240, 32)):
      clip = scene.scene_clip_vertices(vertices, batch, seed=int(rng.integers(1 << 30)))
      checks.append(check_case(name, Case(kernels, cp, clip, tris, size, size), rng))
  print(f'\n{"case":<18}{"batch":>6}{"tris":>7}{"size":>9}{"cover":>7}{"id diff":>8}{"ties":>6}'
        f'{"bary err":>10}{"grad rel":>10}{"interp":>10}{"unwritten":>10}  ok')
  for c in checks:
    print(f'{c["case"]:<18}{c["batch"]:>6}{c["triangles"]:>7}{c["size"]:>9}{c["coverage"]:>7}'
          f'{c["id_mismatch"]:>8}{c["depth_ties"]:>6}{c["bary_max_abs"]:>10.2e}'
          f'{c["grad_rel_l2"]:>10.2e}{c["interp_max_abs"]:>10.2e}{c["unwritten"]:>10}  {c["ok"]}')

  timings = []
  bandwidth = 4.8e12 if 'H200' in device else 3.35e12  # vendor figures, bytes/s
  for name, (vertices, tris) in meshes.items():
    for size, batch in ((240, 4), (512, 4), (240, 32)):
      clip = scene.scene_clip_vertices(vertices, batch)
      case = Case(kernels, cp, clip, tris, size, size)
      outputs = case.gpu_forward()
      grad_bary = cp.asarray(rng.normal(size=(batch, size, size, 3)).astype(np.float32))
      grad = cp.empty(clip.shape, cp.float32)
      forward = time_ms(cp, lambda: case.gpu_forward(outputs), 20, args.runs)
      both = time_ms(cp, lambda: (case.gpu_forward(outputs),
                                  case.gpu_grad(outputs[0], outputs[1], grad_bary, grad)), 20,
                     args.runs)
      pixels = batch * size * size
      # Fewest bytes: z-buffer clear + read (16 B/px), outputs (20 B/px), gradient reads ids, bary,
      # grad_bary (28 B/px), vertices and triangles read, gradient written.
      bytes_moved = pixels * (16 + 20 + 28) + batch * len(vertices) * 16 * 3 + len(tris) * 12
      floor_ms = bytes_moved / bandwidth * 1e3
      timings.append(dict(case=name, triangles=int(len(tris)), size=size, batch=batch,
                          forward_ms=round(forward, 4), forward_backward_ms=round(both, 4),
                          bytes_floor_ms=round(floor_ms, 4), launches=6))
  print(f'\n{"timing (CUDA events, median)":<20}{"tris":>7}{"size":>6}{"batch":>6}{"fwd ms":>9}'
        f'{"fwd+bwd ms":>12}{"bytes floor ms":>16}')
  for t in timings:
    print(f'{t["case"]:<28}{t["triangles"]:>7}{t["size"]:>6}{t["batch"]:>6}{t["forward_ms"]:>9.4f}'
          f'{t["forward_backward_ms"]:>12.4f}{t["bytes_floor_ms"]:>16.4f}')
  ok = all(c['ok'] for c in checks)
  print(f'\n{"ALL CHECKS PASSED" if ok else "SOME CHECKS FAILED"} on {device} in '
        f'{time.time() - started:.1f} s (seed {seed})')
  if args.output:
    args.output.mkdir(parents=True, exist_ok=True)
    with open(args.output / 'gpu_check.json', 'w') as f:
      json.dump(dict(device=device, seed=seed, checks=checks, timings=timings), f, indent=1)
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
