r"""Benchmark: one forward + backward of face model + image formation + render.

    python -m model.benchmark [--levels=0,1] [--threads=1,2] [--batch_size=4] [--image_size=240]
        [--profile] [--variants] [--output=bench.json]

For each template subdivision level: the face model (paper sizes 80 / 64 / 80, G = 521), pose, SH
shading, rasterization and interpolation for a batch at 240 x 240, a photometric + landmark +
smoothness loss, and gradients with respect to all bases and all per-sample parameters. Reports the
median and minimum wall time of ``--repeats`` timed steps after ``--warmup`` steps (eager mode and, with
``--tf_function``, a traced step), prints a table and writes JSON. Each ``--threads`` entry (TensorFlow
intra-op threads; inter-op 1) runs in its own process. A second section times dlib's face ResNet
(``model.face_features_benchmark``: forward and forward + backward of ``--batch_size`` chips at
``--face_features_threads``; JSON key ``face_features``).

``--profile``: op-level timings of the traced step at the first level (``model.profiling``: TensorFlow
profiler trace, each op's fastest (``--profile_statistic=min``) or median time over the timed steps): the
top ops, their share, and the split into the rasterizer op (rasterize + interpolate and their
gradients), the face model, the rest of image formation and the loss.
``--variants``: the plain-TF formulations that the model replaced, timed side by side with the ones it
uses (forward + backward, traced, interleaved): vertex normals through ``unsorted_segment_sum`` against
the incidence gathers, the identity projection through a QR of the expression basis against the Gram
matrix on the coefficients, and the whole step with the plain TensorFlow formulations against the fused
CPU ops (``tf_ops.fused_ops``: vertex shading, basis products, masked squared error).
"""

from __future__ import annotations

from common import cli  # pylint: disable=g-bad-import-order  (first: quiets TensorFlow's C++ logs)
from common import machine as common_machine

import dataclasses
import gc
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

from absl import flags
import numpy as np
import tensorflow as tf
import tqdm

import tf_ops
from tf_ops import fused_ops
from model import camera as camera_lib
from model import config
from model import deformation_graph
from model import face_model as face_model_lib
from model import image_formation
from model import lighting
from model import profiling
from model import semantics
from model import template as template_lib

FLAGS = flags.FLAGS
flags.DEFINE_list('levels', ['0', '1'], 'Template subdivision levels to time (2: ~105k vertices).')
flags.DEFINE_list('threads', ['1', '2'], 'TensorFlow intra-op thread counts (one process each).')
flags.DEFINE_integer('batch_size', 4, 'Batch size.')
flags.DEFINE_integer('image_size', config.IMAGE_SIZE, 'Image side, pixels.')
flags.DEFINE_integer('warmup', 3, 'Untimed steps.')
flags.DEFINE_integer('repeats', 10, 'Timed steps.')
flags.DEFINE_boolean('tf_function', True, 'Also time the step compiled with tf.function.')
flags.DEFINE_boolean('eager', True, 'Time the eager step.')
flags.DEFINE_boolean('profile', False, 'Op-level profile of the traced step at the first level.')
flags.DEFINE_integer('profile_top', 15, 'Ops listed by --profile.')
flags.DEFINE_enum('profile_statistic', 'min', ['min', 'median'],
                  'Per-op statistic of --profile over the timed steps (min: robust on a busy machine).')
flags.DEFINE_boolean('variants', False, 'Time replaced plain-TF formulations side by side (level 0).')
flags.DEFINE_string('output', None, 'JSON output path (default: print only).')
flags.DEFINE_list('face_features_threads', ['1', '2'],
                  'Also time dlib\'s face ResNet (model.face_features_benchmark) at these thread counts; '
                  'empty: skip.')
flags.DEFINE_integer('worker_threads', 0, 'Internal: measure in this process with N threads.')


def make_step(model, mesh, camera, batch_size: int, seed: int = 0):
  rng = np.random.default_rng(seed)
  params = [
      tf.Variable(rng.normal(size=(batch_size, model.num_identity)).astype(np.float32)),
      tf.Variable(rng.normal(size=(batch_size, model.num_expression)).astype(np.float32)),
      tf.Variable(rng.normal(size=(batch_size, model.num_albedo)).astype(np.float32)),
      tf.Variable(np.tile(lighting.directional_sh([0.3, 0.3, 1.0], 0.6, 0.4), (batch_size, 1, 1))),
      tf.Variable(rng.normal(scale=0.2, size=(batch_size, 3)).astype(np.float32)),
      tf.Variable(camera_lib.default_pose(batch_size)[1]),
  ]
  h, w = camera.image_size
  target = tf.constant(rng.uniform(size=(batch_size, h, w, 3)), tf.float32)
  lm_target = tf.constant(rng.uniform(0.3 * w, 0.7 * w, size=(batch_size, semantics.NUM_LANDMARKS, 2)),
                          tf.float32)
  variables = list(model.trainable_variables) + params

  def step():
    with tf.GradientTape() as tape:
      alpha, delta, beta, sh, angles, translation = params
      out = model(alpha, delta, beta)
      r = image_formation.render(out['vertices'], out['albedo'], (angles, translation), sh, camera,
                                 mesh)
      with tf.name_scope('loss'):
        # Photometric term as in training.losses.photometric_loss (Eq. 8): channel sum, then the mask.
        photometric = tf_ops.masked_squared_error(r['image'], target, r['mask'])
        loss = (tf.reduce_sum(photometric) / (batch_size * h * w)
                + 1e-4 * tf.reduce_mean(tf.square(r['landmarks2d'] - lm_target))
                + tf.reduce_mean(face_model_lib.graph_smoothness(out['graph_deformation'],
                                                                 model.graph_edges)))
    grads = tape.gradient(loss, variables)
    return loss, grads

  return step


def time_step(step, warmup: int, repeats: int) -> list[float]:
  """Wall times of ``repeats`` calls of ``step`` (seconds), after ``warmup`` untimed ones.

  Eager calls and ``tf.function`` calls are synchronous on the CPU (checked): when ``step`` returns, every
  gradient has been computed, so only the scalar loss is fetched. (Converting the gradients to numpy as
  well copies the 6.4 MB albedo-basis gradient and cost ~1 ms of harness time per step.) Python's garbage
  collector is off while timing, as in ``timeit``.
  """
  if not tf.config.experimental.get_synchronous_execution():
    raise RuntimeError('model.benchmark needs synchronous execution (the default)')
  for _ in range(warmup):
    step()[0].numpy()
  times = []
  collecting = gc.isenabled()
  gc.disable()
  try:
    for _ in range(repeats):
      t = time.perf_counter()
      step()[0].numpy()
      times.append(time.perf_counter() - t)
  finally:
    if collecting:
      gc.enable()
  return times


def _fwd_bwd(fn, variables):
  weights = [tf.constant(np.random.default_rng(1).normal(size=fn().shape).astype(np.float32))]

  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(fn() * weights[0])
    return loss, tape.gradient(loss, variables)

  return tf.function(step)


def _traced(step, fused: bool):
  """``tf.function(step)``, traced now with the fused CPU ops on or off (``tf_ops.fused_ops_enabled``
  is read while tracing)."""
  saved = os.environ.get(fused_ops.FUSED_OPS_ENV)
  os.environ[fused_ops.FUSED_OPS_ENV] = '1' if fused else '0'
  try:
    traced = tf.function(step)
    traced.get_concrete_function()
  finally:
    if saved is None:
      del os.environ[fused_ops.FUSED_OPS_ENV]
    else:
      os.environ[fused_ops.FUSED_OPS_ENV] = saved
  return traced


def time_variants(model, mesh, template, camera, batch_size: int, warmup: int,
                  repeats: int) -> list[dict]:
  """Replaced plain-TF formulations against the ones in use, interleaved in one process."""
  rng = np.random.default_rng(0)
  vertices = tf.Variable((template.vertices[None] + rng.normal(
      scale=0.05, size=(batch_size, template.num_vertices, 3))).astype(np.float32))
  alpha = tf.Variable(rng.normal(size=(batch_size, model.num_identity)).astype(np.float32))
  basis = [model.m_gid, model.m_gexp, alpha]
  pairs = {
      'vertex normals': (
          _fwd_bwd(lambda: image_formation.vertex_normals_reference(vertices, mesh.triangles),
                   [vertices]),
          _fwd_bwd(lambda: image_formation.vertex_normals(vertices, mesh.triangles,
                                                          incidence=mesh.incidence), [vertices])),
      'identity projection': (
          _fwd_bwd(lambda: tf.matmul(alpha, face_model_lib.orthogonal_complement_projection(
              model.m_gid, model.m_gexp), transpose_b=True), basis),
          _fwd_bwd(lambda: face_model_lib.project_out_of_span(
              tf.matmul(alpha, model.m_gid, transpose_b=True), model.m_gexp), basis)),
  }
  if tf_ops.fused_ops_enabled():  # the whole step: plain TF formulations against the fused CPU ops
    step = make_step(model, mesh, camera, batch_size)
    pairs['whole step'] = (_traced(step, fused=False), _traced(step, fused=True))
  names = {'vertex normals': ('unsorted_segment_sum', 'incidence gathers'),
           'identity projection': ('QR of M_gexp', 'Gram on coefficients'),
           'whole step': ('plain TF ops', 'fused CPU ops')}
  times = {k: ([], []) for k in pairs}
  for fns in pairs.values():
    for fn in fns:
      time_step(fn, warmup, 0)
  for _ in range(repeats):
    for key, fns in pairs.items():
      for fn, out in zip(fns, times[key]):
        out.extend(time_step(fn, 0, 1))
  rows = []
  for key, (ref, new) in times.items():
    rows.append(dict(component=key, reference=names[key][0], used=names[key][1],
                     reference_ms=1e3 * statistics.median(ref), used_ms=1e3 * statistics.median(new),
                     speedup=statistics.median(ref) / statistics.median(new),
                     reference_min_ms=1e3 * min(ref), used_min_ms=1e3 * min(new),
                     speedup_min=min(ref) / min(new)))
  return rows


def measure(threads: int) -> dict:
  """Everything the flags ask for, in this process, with ``threads`` intra-op threads."""
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  camera = camera_lib.Camera.for_image_size(FLAGS.image_size, FLAGS.image_size)
  rows, profile, variants = [], None, None
  modes = (['eager'] if FLAGS.eager else []) + (['tf.function'] if FLAGS.tf_function else [])
  for level in tqdm.tqdm([int(l) for l in FLAGS.levels], desc=f'levels ({threads} threads)'):
    cfg = dataclasses.replace(config.PAPER, subdivision_level=level, image_size=FLAGS.image_size)
    template = template_lib.load_template(cfg.region, cfg.subdivision_level)
    graph = deformation_graph.load_deformation_graph(template, cfg.num_nodes, cfg.num_neighbours)
    mesh = image_formation.RenderMesh.from_template(template)
    model = face_model_lib.build_face_model(
        template, graph, num_identity=cfg.num_identity, num_expression=cfg.num_expression,
        num_albedo=cfg.num_albedo)
    step = make_step(model, mesh, camera, FLAGS.batch_size)
    traced = tf.function(step)
    for mode in modes:
      times = time_step(traced if mode == 'tf.function' else step, FLAGS.warmup, FLAGS.repeats)
      rows.append(dict(level=level, vertices=template.num_vertices, triangles=template.num_triangles,
                       mode=mode, threads=threads, batch_size=FLAGS.batch_size,
                       image_size=FLAGS.image_size, median_ms=1e3 * statistics.median(times),
                       min_ms=1e3 * min(times)))
    if FLAGS.profile and profile is None:
      profile = dict(level=level, **profiling.op_profile(traced, FLAGS.warmup, FLAGS.repeats,
                                                        FLAGS.profile_statistic))
    if FLAGS.variants and variants is None:
      variants = time_variants(model, mesh, template, camera, FLAGS.batch_size, FLAGS.warmup,
                               FLAGS.repeats)
  return dict(rows=rows, profile=profile, variants=variants)


def main(argv) -> None:
  del argv
  if FLAGS.worker_threads:
    print(json.dumps(measure(FLAGS.worker_threads)))
    return
  results = []
  for threads in (int(t) for t in FLAGS.threads):
    cmd = [sys.executable, '-m', 'model.benchmark', f'--worker_threads={threads}'] + [
        f'--{name}={",".join(v) if isinstance(v, list) else v}' for name, v in (
            ('levels', FLAGS.levels), ('batch_size', FLAGS.batch_size), ('image_size', FLAGS.image_size),
            ('warmup', FLAGS.warmup), ('repeats', FLAGS.repeats), ('tf_function', FLAGS.tf_function),
            ('eager', FLAGS.eager), ('profile', FLAGS.profile), ('variants', FLAGS.variants),
            ('profile_statistic', FLAGS.profile_statistic))]
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    results.append(dict(threads=threads, **json.loads(done.stdout.strip().splitlines()[-1])))
  gpus = tf.config.list_physical_devices('GPU')
  print(f'model.benchmark: forward+backward, batch {FLAGS.batch_size}, '
        f'{FLAGS.image_size}x{FLAGS.image_size}, device: {"GPU" if gpus else "CPU"}')
  print(f'{"level":>5} {"vertices":>9} {"triangles":>9} {"mode":>11} {"threads":>7} {"median ms":>10} '
        f'{"min ms":>9}')
  rows = [r for res in results for r in res['rows']]
  for r in sorted(rows, key=lambda r: (r['level'], r['mode'], r['threads'])):
    print(f'{r["level"]:>5} {r["vertices"]:>9} {r["triangles"]:>9} {r["mode"]:>11} {r["threads"]:>7} '
          f'{r["median_ms"]:>10.1f} {r["min_ms"]:>9.1f}')
  for res in results:
    if res['profile']:
      print(f'\n{res["threads"]} thread(s), level {res["profile"]["level"]}: ', end='')
      profiling.print_profile(res['profile'], FLAGS.profile_top)
    if res['variants']:
      print(f'\n{res["threads"]} thread(s): replaced formulations, forward+backward, median (min) ms, '
            'interleaved')
      for v in res['variants']:
        print(f'  {v["component"]:<20} {v["reference"]:<22} {v["reference_ms"]:>7.2f} '
              f'({v["reference_min_ms"]:.2f})   {v["used"]:<22} {v["used_ms"]:>7.2f} ({v["used_min_ms"]:.2f})'
              f'   x{v["speedup"]:.2f} (x{v["speedup_min"]:.2f})')
  result = dict(benchmark='model.forward_backward', rows=rows,
                profiles={r['threads']: r['profile'] for r in results if r['profile']},
                variants={r['threads']: r['variants'] for r in results if r['variants']},
                tensorflow=tf.__version__, machine=common_machine.describe(),
                device='GPU' if gpus else 'CPU')
  if FLAGS.face_features_threads:  # a separate section: the face feature network (perceptual loss, LFW)
    from model import face_features_benchmark  # pylint: disable=import-outside-toplevel
    face_rows = face_features_benchmark.run([int(t) for t in FLAGS.face_features_threads],
                                            FLAGS.batch_size, FLAGS.warmup, FLAGS.repeats)
    print(f'model.face_features: dlib face ResNet, batch {FLAGS.batch_size} chips of 150 x 150')
    print(face_features_benchmark.format_table(face_rows))
    result['face_features'] = face_rows
  if FLAGS.output:
    path = pathlib.Path(FLAGS.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f'wrote {path}')


if __name__ == '__main__':
  cli.run(main)
