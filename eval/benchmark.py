r"""Reconstruction throughput (images/s): ``python -m eval.benchmark``.

  python -m eval.benchmark --output=runs/benchmark              # the demo architecture, untrained
  python -m eval.benchmark --model=runs/demo --threads=2

Rows, measured side by side in one process on the same images (a shared photo's face crop, replicated):

* ``encoder``: the multi-frame encoder on a batch of single images (parameters only);
* ``encoder+geometry``: + the face model (vertices V and albedo R: what meshes need);
* ``encoder+geometry+render``: + the differentiable rendering at 240 px (what overlays need);
* ``detect+crop+encoder+geometry``: dlib detection and 68 landmarks on the full photo, the project's crop,
  then encoder + face model, one image at a time (the cost of a reconstruction from a raw photo).

Each row: warm-up, then ``--repeats`` timed runs of ``--batch`` images (the detection row: ``--repeats``
images); the median run gives images/s. The machine is named in the output; on a shared machine (other
jobs running) the numbers are noisy, so the ratios between rows, measured in the same run, are the more
robust result. Writes ``reconstruct_benchmark.json`` and ``reconstruct_benchmark.md`` to ``--output``.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)
from common import machine as common_machine

import json
import pathlib
import statistics
import time

import numpy as np
from absl import flags

FLAGS = flags.FLAGS
GOAL_IMAGES_PER_S = 100.0


def define_flags() -> None:
  """The command-line flags (defined only when run as a program)."""
  flags.DEFINE_string('model', None, 'Run folder; default: an untrained model of the demo architecture.')
  flags.DEFINE_string('output', 'runs/benchmark', 'Folder for the JSON and Markdown tables.')
  flags.DEFINE_string('image', None, 'Photo with one face (default: the shared obama.jpg).')
  flags.DEFINE_integer('batch', 32, 'Images per timed run.')
  flags.DEFINE_integer('repeats', 5, 'Timed runs per row.')
  flags.DEFINE_integer('threads', 2, 'TensorFlow intra-op threads (0: TensorFlow default).')
  flags.DEFINE_integer('min_face_size', 100, 'Smallest face crop side for the detection row.')


def machine() -> str:
  return f'{common_machine.summary()}, shared with other jobs'


def _median_rate(fn, images_per_call: int, repeats: int) -> tuple[float, list[float]]:
  fn()  # warm-up (tracing)
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return images_per_call / statistics.median(times), times


def run(ae, image_path, batch: int, repeats: int, min_face_size: int) -> dict:
  """Times the rows of the module docstring; returns the report dict."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  analyzer = face_lib.FaceAnalyzer(min_face_size=min_face_size)
  frame = face_frames.image_faces(pathlib.Path(image_path), analyzer, min_face_size)[0].frame
  images = tf.constant(np.repeat(frame.image[None, None].astype(np.float32) / 255.0, batch, axis=0))
  landmarks = tf.constant(np.repeat(np.asarray(frame.landmarks, np.float32)[None, None], batch, axis=0))

  @tf.function
  def encode(x, lm=landmarks):
    return ae.encoder(x, lm)['delta']

  @tf.function
  def geometry(x, lm=landmarks):
    p = ae.encoder(x, lm)
    fm = ae.face_model(alpha=p['alpha'], delta=p['delta'][:, 0], beta=p['beta'])
    return fm['vertices'], fm['albedo']

  @tf.function
  def full(x, lm=landmarks):
    return ae.decode(ae.encoder(x, lm))['image']

  rows = []
  for name, fn in (('encoder', encode), ('encoder+geometry', geometry), ('encoder+geometry+render', full)):
    rate, times = _median_rate(lambda f=fn: [t.numpy() for t in tf.nest.flatten(f(images))], batch, repeats)
    rows.append({'row': name, 'images_per_s': rate, 'batch': batch, 'seconds': times})

  from data import media  # pylint: disable=g-import-not-at-top
  photo, _, _ = media.load_image(image_path)

  def detect_and_reconstruct():
    fc = face_frames.usable_faces(photo, analyzer, min_face_size, largest_only=True)[0]
    from data import preprocess  # pylint: disable=g-import-not-at-top
    fr = preprocess.make_frame(photo, fc)
    x = fr.image[None, None].astype(np.float32) / 255.0
    lm = tf.constant(np.asarray(fr.landmarks, np.float32)[None, None])
    [t.numpy() for t in geometry(tf.constant(x), lm)]

  def detection_rows():
    for _ in range(repeats):
      detect_and_reconstruct()

  geometry(tf.constant(images[:1]), landmarks[:1])  # trace the batch-1 signature outside the timing
  rate, times = _median_rate(detection_rows, repeats, 3)
  rows.append({'row': 'detect+crop+encoder+geometry', 'images_per_s': rate, 'batch': 1, 'seconds': times,
               'photo_size': list(photo.shape[:2])})
  base = rows[1]['images_per_s']
  for r in rows:
    r['ratio_to_encoder+geometry'] = r['images_per_s'] / base
  return {'machine': machine(), 'threads': tf.config.threading.get_intra_op_parallelism_threads(),
          'encoder': ae.encoder_config.to_dict(), 'vertices': ae.template.num_vertices,
          'goal_images_per_s': GOAL_IMAGES_PER_S, 'rows': rows}


def markdown(report: dict) -> str:
  lines = [f'Reconstruction throughput on {report["machine"]} ({report["threads"]} TF threads; '
           f'{report["encoder"]["tower"]} tower at {report["encoder"]["input_size"]} px, '
           f'{report["vertices"]} vertices). Noisy: other jobs share the machine.', '',
           '| pipeline | images/s | x encoder+geometry |', '|---|---|---|']
  for r in report['rows']:
    lines.append(f'| {r["row"]} | {r["images_per_s"]:.1f} | {r["ratio_to_encoder+geometry"]:.3f} |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from common import paths  # pylint: disable=g-import-not-at-top
  from model import autoencoder  # pylint: disable=g-import-not-at-top
  from model import config as config_lib  # pylint: disable=g-import-not-at-top
  from model import encoder as encoder_lib  # pylint: disable=g-import-not-at-top
  from model import reconstruction  # pylint: disable=g-import-not-at-top
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
  if FLAGS.model:
    ae = reconstruction.load_autoencoder(FLAGS.model)
  else:
    ae = autoencoder.Autoencoder(config_lib.PAPER, encoder_lib.EncoderConfig.small())
    ae.build_all()
  image = FLAGS.image or paths.shared_path('media', 'photos', 'obama.jpg')
  report = run(ae, image, FLAGS.batch, FLAGS.repeats, FLAGS.min_face_size)
  out = pathlib.Path(FLAGS.output)
  out.mkdir(parents=True, exist_ok=True)
  (out / 'reconstruct_benchmark.json').write_text(json.dumps(report, indent=1))
  (out / 'reconstruct_benchmark.md').write_text(markdown(report))
  print(markdown(report))


if __name__ == '__main__':
  define_flags()
  cli.run(main)
