"""Rasterizer benchmark: ``python -m tf_ops.benchmark [--threads=1,2] [--paths=baseline,auto]``.

Scene (fixed so that figures compare across rasterizers on one machine class): the ICT face area
(18,460 triangles) and the same mesh midpoint-subdivided once (73,840 triangles); a perspective camera
with a 30 degree vertical field of view, 46.75 cm from the mesh's bounding-box centre; a batch of 4
copies rotated by random +-3 degrees per axis; 240x240 and 512x512. Timed inside ``tf.function``:
forward (rasterize) and forward+backward (gradient of sum(barycentrics * fixed random weights) with
respect to the clip-space vertices), plus interpolation of RGB vertex colours (custom op vs. plain TF
gather ops). Median and minimum wall time, and median CPU time, of ``--runs`` runs after warm-up. Each
(thread count, CPU kernel path) runs in its own process because TF's intra-op pool size and the kernel
path (``C3DMM_CPU_PATH``: ``baseline`` is the portable scalar path, ``auto`` the AVX2 one where the CPU
has it) are fixed at start-up, one after the other in one invocation, so that the paths are compared
side by side. Prints a table (with the baseline / auto time ratio per thread count) and writes JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from common import machine as common_machine
from absl import app, flags
import numpy as np

from tf_ops.bench_scene import scene_clip_vertices, subdivide

FLAGS = flags.FLAGS
flags.DEFINE_list('threads', ['1', '2'], 'Intra-op thread counts to measure (one process each).')
flags.DEFINE_list('sizes', ['240', '512'], 'Square image sizes.')
flags.DEFINE_integer('batch', 4, 'Images per call.')
flags.DEFINE_integer('runs', 30, 'Timed runs per case (median reported).')
flags.DEFINE_integer('warmup', 5, 'Untimed runs before timing.')
flags.DEFINE_string('output', 'tf_ops_benchmark.json', 'Where to write the JSON results.')
flags.DEFINE_enum('statistic', 'median', ['median', 'min', 'cpu'],
                  'Statistic shown in the table (the JSON has all): median or minimum wall time, or median '
                  'CPU time of all threads (the stable figure on a machine shared with other jobs).')
flags.DEFINE_list('cases', ['forward', 'forward+backward', 'interpolate'],
                  'Cases to time: forward, forward+backward, interpolate (the op and the TF gather version).')
flags.DEFINE_list('paths', ['baseline', 'auto'], 'CPU kernel paths to measure (C3DMM_CPU_PATH values).')
flags.DEFINE_integer('worker_threads', 0, 'Internal: run the cases in this process with N threads.')
flags.DEFINE_string('worker_path', 'auto', 'Internal: the CPU kernel path of this worker process.')


def _time_ms(fn, warmup: int, runs: int) -> tuple[float, float, float]:
  """Median and minimum wall time and median CPU time (all threads of the process) of `runs` calls.

  The CPU time is what the call costs whatever else the machine runs; on a shared machine it is the
  more stable figure (with one thread it approximates the wall time of an idle machine).
  """
  for _ in range(warmup):
    fn()
  times, cpu = [], []
  for _ in range(runs):
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return float(np.median(times) * 1e3), float(np.min(times) * 1e3), float(np.median(cpu) * 1e3)


def run_cases(threads: int) -> list[dict]:
  """Times every case in this process (TF configured for `threads` intra-op threads)."""
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  import tf_ops
  from common import paths

  data = np.load(paths.package_data('model', 'ict_face', 'ict_face_area_template.npz'))
  base = (data['neutral_vertices'].astype(np.float32), data['triangles'].astype(np.int32))
  meshes = {'ict_face': base, 'ict_face_subdiv1': subdivide(*base)}
  rng = np.random.default_rng(1)
  results = []
  for name, (vertices, triangles) in meshes.items():
    # Variables, not constants: grappler would otherwise fold whole functions at trace time.
    clip = tf.Variable(scene_clip_vertices(vertices, FLAGS.batch))
    tris = tf.constant(triangles)
    colours = tf.Variable(rng.uniform(size=(FLAGS.batch, len(vertices), 3)).astype(np.float32))
    for size in (int(s) for s in FLAGS.sizes):
      weights = tf.constant(rng.normal(size=(FLAGS.batch, size, size, 3)).astype(np.float32))

      @tf.function
      def forward(clip=clip, tris=tris, size=size):
        return tf_ops.rasterize(clip, tris, (size, size)).barycentrics

      @tf.function
      def forward_backward(clip=clip, tris=tris, size=size, weights=weights):
        with tf.GradientTape() as tape:
          loss = tf.reduce_sum(tf_ops.rasterize(clip, tris, (size, size)).barycentrics * weights)
        return tape.gradient(loss, clip)

      raster = tf_ops.rasterize(clip, tris, (size, size))
      raster = tf_ops.RasterOutput(*(tf.Variable(x) for x in raster))

      @tf.function
      def interp_op(raster=raster, colours=colours, tris=tris):
        with tf.GradientTape() as tape:
          image = tf_ops.interpolate(colours, raster.triangle_ids, raster.barycentrics, tris)
          loss = tf.reduce_sum(image * image)
        return tape.gradient(loss, [colours, raster.barycentrics])

      @tf.function
      def interp_gather(raster=raster, colours=colours, tris=tris):
        with tf.GradientTape() as tape:
          ids = raster.triangle_ids
          corner = tf.gather(tris, tf.maximum(ids, 0))  # [B, H, W, 3]
          values = tf.gather(colours, corner, batch_dims=1)  # [B, H, W, 3, C]
          image = tf.reduce_sum(values * raster.barycentrics[..., None], -2)
          image *= tf.cast(ids >= 0, tf.float32)[..., None]
          loss = tf.reduce_sum(image * image)
        return tape.gradient(loss, [colours, raster.barycentrics])

      coverage = float(np.mean(raster.triangle_ids.numpy() >= 0))
      for case, fn in (('forward', forward), ('forward+backward', forward_backward),
                       ('interpolate fwd+bwd (op)', interp_op),
                       ('interpolate fwd+bwd (tf gather)', interp_gather)):
        if case.split(' ')[0] not in FLAGS.cases:
          continue
        median, fastest, cpu = _time_ms(fn, FLAGS.warmup, FLAGS.runs)
        results.append(dict(mesh=name, triangles=int(len(triangles)), size=size, case=case,
                            threads=threads, path=FLAGS.worker_path, batch=FLAGS.batch,
                            coverage=round(coverage, 3), median_ms=round(median, 3),
                            min_ms=round(fastest, 3), cpu_ms=round(cpu, 3)))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
  return results


def main(argv):
  del argv
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if FLAGS.worker_threads:
    print(json.dumps(run_cases(FLAGS.worker_threads)))
    return
  results = []
  columns = [(int(t), path) for t in FLAGS.threads for path in FLAGS.paths]
  for threads, path in columns:
    cmd = [sys.executable, '-m', 'tf_ops.benchmark', f'--worker_threads={threads}',
           f'--worker_path={path}', f'--sizes={",".join(FLAGS.sizes)}', f'--batch={FLAGS.batch}',
           f'--runs={FLAGS.runs}', f'--warmup={FLAGS.warmup}', f'--cases={",".join(FLAGS.cases)}']
    print(f'measuring with {threads} thread(s), {path} kernels...', flush=True)
    env = dict(os.environ, C3DMM_CPU_PATH=path)
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    results.extend(json.loads(done.stdout.strip().splitlines()[-1]))
  ratio = len(FLAGS.paths) == 2
  label = {'median': 'median wall time', 'min': 'minimum wall time', 'cpu': 'median CPU time'}
  print(f'{label[FLAGS.statistic]} of {FLAGS.runs} runs, milliseconds')
  header = f'{"mesh":<18}{"tris":>7}{"size":>6}  {"case":<33}' + ''.join(
      f'{f"{t}thr {p} ms":>17}' for t, p in columns) + ''.join(
          f'{f"{t}thr ratio":>11}' for t in FLAGS.threads if ratio)
  print(header)
  print('-' * len(header))
  keys = sorted({(r['mesh'], r['triangles'], r['size'], r['case']) for r in results},
                key=lambda k: (k[1], k[2]))
  for key in keys:
    row = {(r['threads'], r['path']): r[f'{FLAGS.statistic}_ms'] for r in results
           if (r['mesh'], r['triangles'], r['size'], r['case']) == key}
    cells = [row.get(c, float('nan')) for c in columns]
    nan = float('nan')
    ratios = [row.get((int(t), FLAGS.paths[0]), nan) / row.get((int(t), FLAGS.paths[1]), nan)
              for t in FLAGS.threads] if ratio else []
    print(f'{key[0]:<18}{key[1]:>7}{key[2]:>6}  {key[3]:<33}' + ''.join(f'{c:>17.2f}' for c in cells) +
          ''.join(f'{r:>10.2f}x' for r in ratios))
  report = dict(machine=common_machine.describe(),
                batch=FLAGS.batch, runs=FLAGS.runs, results=results)
  with open(FLAGS.output, 'w') as f:
    json.dump(report, f, indent=1)
  print(f'wrote {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
