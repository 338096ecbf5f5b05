r"""Benchmark of dlib's face ResNet in Keras (model.face_features): forward and forward + backward.

    python -m model.face_features_benchmark [--threads=1,2] [--batch_size=4] [--output=bench.json]

For each thread count (a fresh process each: TensorFlow fixes its thread pools at start-up; intra-op pool
of N threads, inter-op pool of 1) and each mode (eager, tf.function): the forward pass of a batch of
150 x 150 chips (descriptors and the five feature maps) and forward + backward (gradient of the Eq. 9-style
cosine feature loss with respect to the chips). Reports the median and minimum of ``--repeats`` timed
calls after ``--warmup`` calls; prints a table and writes JSON. ``model.benchmark`` calls ``run`` and adds
the rows to its own table and JSON (its ``--face_features`` flag).
"""

from __future__ import annotations

from common import cli  # pylint: disable=g-bad-import-order  (first: quiets TensorFlow's C++ logs)
from common import machine as common_machine

import json
import pathlib
import statistics
import subprocess
import sys
import time
from typing import Sequence

from absl import flags

FLAGS = flags.FLAGS


def _define_flags() -> None:
  flags.DEFINE_list('threads', ['1', '2'], 'Thread counts (one process each).')
  flags.DEFINE_integer('batch_size', 4, 'Chips per batch.')
  flags.DEFINE_integer('warmup', 2, 'Untimed calls.')
  flags.DEFINE_integer('repeats', 5, 'Timed calls.')
  flags.DEFINE_boolean('child', False, 'Internal: time one thread count in this process, print JSON.')
  flags.DEFINE_string('output', None, 'JSON output path (default: print only).')


def _time(fn, warmup: int, repeats: int) -> list[float]:
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return times


def measure(threads: int, batch_size: int, warmup: int, repeats: int) -> list[dict]:
  """Times this process (TensorFlow must not have started yet): rows of the table."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  from model import face_features  # pylint: disable=import-outside-toplevel
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(1)
  net = face_features.FaceFeatureNet()
  rng = np.random.default_rng(0)
  size = face_features.CHIP_SIZE
  chips = tf.Variable(rng.uniform(size=(batch_size, size, size, 3)).astype(np.float32))
  target = [tf.constant(f) for f in net.feature_maps(tf.constant(rng.uniform(size=chips.shape), tf.float32))]

  def forward():
    out = net(chips)
    return out['descriptor'], out['features']

  def forward_backward():
    with tf.GradientTape() as tape:
      maps = net.feature_maps(chips)
      loss = tf.reduce_sum(face_features.cosine_feature_distance(maps, target))
    return loss, tape.gradient(loss, chips)

  rows = []
  for mode in ('eager', 'tf.function'):
    for name, fn in (('forward', forward), ('forward+backward', forward_backward)):
      step = tf.function(fn) if mode == 'tf.function' else fn
      run_once = lambda step=step: tf.nest.map_structure(lambda t: t.numpy(), step())  # noqa: E731
      times = _time(run_once, warmup, repeats)
      rows.append(dict(network='dlib_resnet', pass_=name, mode=mode, threads=threads, batch_size=batch_size,
                       image_size=size, median_ms=1e3 * statistics.median(times), min_ms=1e3 * min(times)))
  return rows


def run(threads: Sequence[int] = (1, 2), batch_size: int = 4, warmup: int = 2,
        repeats: int = 5) -> list[dict]:
  """Runs ``measure`` in one fresh process per thread count; returns all rows."""
  rows = []
  for n in threads:
    cmd = [sys.executable, '-m', 'model.face_features_benchmark', '--child', f'--threads={n}',
           f'--batch_size={batch_size}', f'--warmup={warmup}', f'--repeats={repeats}']
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          cwd=pathlib.Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
      raise RuntimeError(f'face feature benchmark with {n} threads failed:\n{done.stderr[-2000:]}')
    rows += json.loads(done.stdout.strip().splitlines()[-1])
  return rows


def format_table(rows: Sequence[dict]) -> str:
  """The rows as a text table with the 1-thread / N-thread speed-up."""
  base = {(r['pass_'], r['mode']): r['median_ms'] for r in rows if r['threads'] == 1}
  lines = [f'{"pass":>17} {"mode":>11} {"threads":>7} {"median ms":>10} {"min ms":>9} {"vs 1 thread":>11}']
  for r in rows:
    ref = base.get((r['pass_'], r['mode']))
    ratio = f'{ref / r["median_ms"]:.2f}x' if ref else '-'
    lines.append(f'{r["pass_"]:>17} {r["mode"]:>11} {r["threads"]:>7} {r["median_ms"]:>10.1f} '
                 f'{r["min_ms"]:>9.1f} {ratio:>11}')
  return '\n'.join(lines)


def main(argv) -> None:
  del argv
  threads = [int(t) for t in FLAGS.threads]
  if FLAGS.child:
    print(json.dumps(measure(threads[0], FLAGS.batch_size, FLAGS.warmup, FLAGS.repeats)))
    return
  import tqdm  # pylint: disable=import-outside-toplevel
  rows = []
  for n in tqdm.tqdm(threads, desc='thread counts'):
    rows += run([n], FLAGS.batch_size, FLAGS.warmup, FLAGS.repeats)
  print(f'model.face_features_benchmark: dlib face ResNet, batch {FLAGS.batch_size} chips of 150 x 150, CPU')
  print(format_table(rows))
  result = dict(benchmark='model.face_features', rows=rows, machine=common_machine.describe())
  if FLAGS.output:
    path = pathlib.Path(FLAGS.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f'wrote {path}')


if __name__ == '__main__':
  _define_flags()
  cli.run(main)
