"""The CPU op's two kernel paths (portable baseline, AVX2 chosen at run time) agree bit for bit.

The path is fixed per process (``C3DMM_CPU_PATH=baseline`` forces the baseline), so each path renders
the same scenes, forward and gradient, in its own subprocess; the outputs must be identical.
"""

from __future__ import annotations

import os
import pathlib
import platform
import re
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

_RENDER = '''
import sys
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2)  # 1 image on 2 threads: row bands
import tf_ops

out = {}
rng = np.random.default_rng(7)
for case, (batch, size, verts, tris) in enumerate([(1, (37, 53), 60, 90), (3, (16, 9), 30, 40),
                                                   (2, (64, 64), 400, 700)]):
  # Random vertices (some off screen, beyond near / far), triangles of all shapes, shared edges.
  w = rng.uniform(0.5, 2.0, (batch, verts, 1))
  clip = np.concatenate([rng.uniform(-1.2, 1.2, (batch, verts, 2)) * w,
                         rng.uniform(-1.1, 1.1, (batch, verts, 1)) * w, w], -1).astype(np.float32)
  triangles = np.stack([rng.choice(verts, 3, replace=False) for _ in range(tris)]).astype(np.int32)
  clip[0, :3, 3] = [1e36, 1e-36, 2e36]  # usable, barely usable, unusable w
  weights = tf.constant(rng.normal(size=(batch, *size, 3)).astype(np.float32))
  vertices = tf.constant(clip)
  with tf.GradientTape() as tape:
    tape.watch(vertices)
    raster = tf_ops.rasterize(vertices, triangles, size)
    loss = tf.reduce_sum(raster.barycentrics * weights)
  grad = tape.gradient(loss, vertices)
  for name, value in zip(('ids', 'bary', 'depth', 'grad'), (*raster, grad)):
    out[f'{case}_{name}'] = value.numpy()
np.savez(sys.argv[1], **out)
'''


def _cpu_has_avx2() -> bool:
  try:
    return ' avx2 ' in ' ' + pathlib.Path('/proc/cpuinfo').read_text().replace('\n', ' ') + ' '
  except OSError:
    return False


def _render(tmp_path: pathlib.Path, path: str | None) -> dict[str, np.ndarray]:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=str(REPO_ROOT))
  env.pop('C3DMM_CPU_PATH', None)
  if path is not None:
    env['C3DMM_CPU_PATH'] = path
  out = tmp_path / f'{path or "auto"}.npz'
  done = subprocess.run([sys.executable, '-c', _RENDER, str(out)], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  with np.load(out) as data:
    return dict(data)


@pytest.mark.slow
def test_forced_baseline_path_matches_the_dispatched_path_bit_for_bit(tmp_path):
  if not _cpu_has_avx2():
    pytest.skip('this CPU has no AVX2: both runs would take the baseline path')
  baseline = _render(tmp_path, 'baseline')
  fast = _render(tmp_path, None)
  assert baseline.keys() == fast.keys()
  assert np.any(baseline['2_ids'] >= 0) and np.any(baseline['2_grad'] != 0)
  for key in baseline:
    np.testing.assert_array_equal(fast[key].view(np.uint32) if fast[key].dtype == np.float32
                                  else fast[key],
                                  baseline[key].view(np.uint32) if baseline[key].dtype == np.float32
                                  else baseline[key], err_msg=key)


def test_avx_instructions_appear_only_in_the_dispatched_avx2_kernels():
  # The library must run on baseline x86-64: VEX-encoded (AVX) instructions may only appear in the
  # functions of rasterize_cpu_avx2.cc (all marked C3DMM_AVX2), which run only after the run-time
  # dispatch has found AVX2.
  if platform.machine() not in ('x86_64', 'AMD64'):
    pytest.skip(f'no AVX on {platform.machine()}')
  source = (REPO_ROOT / 'tf_ops' / 'cc' / 'rasterize_cpu_avx2.cc').read_text()
  allowed = set(re.findall(r'^C3DMM_AVX2 (?:inline )?[\w:<>*&]+ (\w+)\(', source, re.MULTILINE))
  assert {'RasterizeBandAvx2', 'RasterizeGradBandAvx2'} <= allowed
  library = REPO_ROOT / 'tf_ops' / '_rasterizer_ops.so'
  listing = subprocess.run(['objdump', '-d', '--no-show-raw-insn', '-C', str(library)],
                           capture_output=True, text=True, check=True).stdout
  with_avx, function = set(), None
  for line in listing.splitlines():
    header = re.match(r'^[0-9a-f]+ <(.*)>:$', line)
    if header:
      # 'c3dmm::(anonymous namespace)::Name(args) [clone ...]' -> 'Name'
      function = header.group(1).replace('(anonymous namespace)::', '').split('(')[0].split('::')[-1]
      continue
    fields = line.split('\t')
    if len(fields) >= 2 and re.match(r'v[a-z]', fields[1]) and not fields[1].startswith(('verr', 'verw')):
      with_avx.add(function)
  assert {'RasterizeBandAvx2', 'RasterizeGradBandAvx2'} <= with_avx
  assert with_avx <= allowed, f'AVX instructions outside the AVX2 kernels: {with_avx - allowed}'
