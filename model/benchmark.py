r"""Benchmark: one forward + backward of face model + image formation + render.

    python -m model.benchmark [--levels=0,1] [--batch_size=4] [--image_size=240] [--output=bench.json]

For each template subdivision level: the face model (paper sizes 80 / 64 / 80, G = 521), pose, SH
shading, rasterization and interpolation for a batch at 240 x 240, a photometric + landmark +
smoothness loss, and gradients with respect to all bases and all per-sample parameters. Reports the
median and minimum wall time of ``--repeats`` timed steps after ``--warmup`` steps (eager mode and, with
``--tf_function``, a traced step), prints a table and writes JSON. A second section times dlib's face
ResNet (``model.face_features_benchmark``: forward and forward + backward of ``--batch_size`` chips at
``--face_features_threads``; JSON key ``face_features``).
"""

from __future__ import annotations

from common import cli  # pylint: disable=g-bad-import-order  (first: quiets TensorFlow's C++ logs)

import dataclasses
import json
import pathlib
import platform
import statistics
import time

from absl import flags
import numpy as np
import tensorflow as tf
import tqdm

from model import camera as camera_lib
from model import config
from model import deformation_graph
from model import face_model as face_model_lib
from model import image_formation
from model import lighting
from model import template as template_lib

FLAGS = flags.FLAGS
flags.DEFINE_list('levels', ['0', '1'], 'Template subdivision levels to time (2: ~105k vertices).')
flags.DEFINE_integer('batch_size', 4, 'Batch size.')
flags.DEFINE_integer('image_size', config.IMAGE_SIZE, 'Image side, pixels.')
flags.DEFINE_integer('warmup', 2, 'Untimed steps.')
flags.DEFINE_integer('repeats', 5, 'Timed steps.')
flags.DEFINE_boolean('tf_function', True, 'Also time the step compiled with tf.function.')
flags.DEFINE_string('output', None, 'JSON output path (default: print only).')
flags.DEFINE_list('face_features_threads', ['1', '2'],
                  'Also time dlib\'s face ResNet (model.face_features_benchmark) at these thread counts; '
                  'empty: skip.')


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
  lm_target = tf.constant(rng.uniform(0.3 * w, 0.7 * w, size=(batch_size, 68, 2)), tf.float32)
  variables = list(model.trainable_variables) + params

  def step():
    with tf.GradientTape() as tape:
      alpha, delta, beta, sh, angles, translation = params
      out = model(alpha, delta, beta)
      r = image_formation.render(out['vertices'], out['albedo'], (angles, translation), sh, camera,
                                 mesh)
      loss = (tf.reduce_mean(r['mask'] * tf.square(r['image'] - target))
              + 1e-4 * tf.reduce_mean(tf.square(r['landmarks2d'] - lm_target))
              + tf.reduce_mean(face_model_lib.graph_smoothness(out['graph_deformation'],
                                                               model.graph_edges)))
    grads = tape.gradient(loss, variables)
    return loss, grads

  return step


def time_step(step, warmup: int, repeats: int) -> list[float]:
  for _ in range(warmup):
    _, g = step()
    g[0].numpy()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    loss, grads = step()
    loss.numpy()
    for g in grads:  # force completion of every gradient
      tf.convert_to_tensor(g).numpy()
    times.append(time.perf_counter() - t)
  return times


def main(argv) -> None:
  del argv
  camera = camera_lib.Camera.for_image_size(FLAGS.image_size, FLAGS.image_size)
  rows = []
  modes = ['eager'] + (['tf.function'] if FLAGS.tf_function else [])
  for level in tqdm.tqdm([int(l) for l in FLAGS.levels], desc='levels'):
    cfg = dataclasses.replace(config.PAPER, subdivision_level=level, image_size=FLAGS.image_size)
    template = template_lib.load_template(cfg.region, cfg.subdivision_level)
    graph = deformation_graph.load_deformation_graph(template, cfg.num_nodes, cfg.num_neighbours)
    mesh = image_formation.RenderMesh.from_template(template)
    model = face_model_lib.build_face_model(
        template, graph, num_identity=cfg.num_identity, num_expression=cfg.num_expression,
        num_albedo=cfg.num_albedo)
    step = make_step(model, mesh, camera, FLAGS.batch_size)
    for mode in modes:
      fn = tf.function(step) if mode == 'tf.function' else step
      times = time_step(fn, FLAGS.warmup, FLAGS.repeats)
      rows.append(dict(level=level, vertices=template.num_vertices, triangles=template.num_triangles,
                       mode=mode, batch_size=FLAGS.batch_size, image_size=FLAGS.image_size,
                       median_ms=1e3 * statistics.median(times), min_ms=1e3 * min(times)))
  gpus = tf.config.list_physical_devices('GPU')
  header = f'{"level":>5} {"vertices":>9} {"triangles":>9} {"mode":>11} {"median ms":>10} {"min ms":>9}'
  print(f'model.benchmark: forward+backward, batch {FLAGS.batch_size}, '
        f'{FLAGS.image_size}x{FLAGS.image_size}, device: {"GPU" if gpus else "CPU"}')
  print(header)
  for r in rows:
    print(f'{r["level"]:>5} {r["vertices"]:>9} {r["triangles"]:>9} {r["mode"]:>11} '
          f'{r["median_ms"]:>10.1f} {r["min_ms"]:>9.1f}')
  result = dict(benchmark='model.forward_backward', rows=rows, tensorflow=tf.__version__,
                platform=platform.platform(), processor=platform.processor(),
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
