r"""Lip masks from the MediaPipe face mesh and from dlib's 68 landmarks against synthetic ground truth.

  python -m data.lip_quality --output=/tmp/lip_quality.json

Every frame of the synthetic dataset (``data.synthetic``; its lip masks are the rendered lip regions) is
treated as a source photo: dlib finds the face (the detection nearest the true landmarks), and the upper and
lower lip masks are drawn from each source exactly as ``data.prepare`` draws them
(``preprocess.lip_contours_in_source`` then ``lips.label_map_from_contours``). Printed and written: the
mean and median IoU against the truth per lip and source, side by side, over the frames where dlib found
the face (the same frames for both sources), and the frames where the mesh fell back to dlib.
"""

from __future__ import annotations

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)  # pylint: disable=g-bad-import-order

import json
from typing import Any, Sequence

import numpy as np
from absl import flags

FLAGS = flags.FLAGS


SOURCES = ('mediapipe', 'dlib')


def iou(a: np.ndarray, b: np.ndarray) -> float:
  """|a & b| / |a | b| of two bool masks (1.0 when both are empty)."""
  union = np.sum(a | b)
  return float(np.sum(a & b) / union) if union else 1.0


def frame_ious(image: np.ndarray, truth_mask: np.ndarray, truth_landmarks: np.ndarray, analyzer
               ) -> dict[str, Any] | None:
  """IoU of each source's upper / lower lip with the truth for one frame; None when dlib misses the face."""
  from data import lips  # pylint: disable=g-import-not-at-top
  from data import preprocess  # pylint: disable=g-import-not-at-top
  from model import semantics  # pylint: disable=g-import-not-at-top
  faces = analyzer.detect(image)
  if not faces:
    return None
  face = min(faces, key=lambda f: np.abs(f.landmarks - truth_landmarks).mean())
  iod = np.linalg.norm(truth_landmarks[36] - truth_landmarks[45])
  if np.linalg.norm(face.landmarks - truth_landmarks, axis=1).mean() > 0.5 * iod:
    return None  # a detection elsewhere
  out = {}
  for source in SOURCES:
    contours, used, _ = preprocess.lip_contours_in_source(image, face, source)
    mask = lips.label_map_from_contours(contours, truth_mask.shape[0])
    out[source] = {'used': used,
                   'upper': iou(mask == semantics.REGION_UPPER_LIP, truth_mask == semantics.REGION_UPPER_LIP),
                   'lower': iou(mask == semantics.REGION_LOWER_LIP, truth_mask == semantics.REGION_LOWER_LIP)}
  return out


def evaluate(record_files: Sequence[str], max_frames: int = 0) -> dict[str, Any]:
  """Mean / median IoU per source and lip over the frames of ``record_files``."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import schema  # pylint: disable=g-import-not-at-top
  analyzer = face_lib.FaceAnalyzer(min_face_size=1, upsample=1)
  frames = [f for r in tf.data.TFRecordDataset(list(record_files)).as_numpy_iterator()
            for f in schema.parse_sample(r).frames]
  frames = frames[:max_frames or None]
  rows, missed = [], 0
  for f in tqdm(frames, desc='lip quality', unit='frame'):
    row = frame_ious(f.image, f.lip_mask, f.landmarks, analyzer)
    if row is None:
      missed += 1
    else:
      rows.append(row)
  result: dict[str, Any] = {'frames': len(frames), 'evaluated': len(rows), 'dlib_missed_face': missed,
                            'mediapipe_fell_back_to_dlib': sum(r['mediapipe']['used'] != 'mediapipe'
                                                               for r in rows)}
  for source in SOURCES:
    for lip in ('upper', 'lower'):
      v = np.array([r[source][lip] for r in rows])
      result[f'{source}_{lip}_iou_mean'] = float(v.mean()) if len(v) else float('nan')
      result[f'{source}_{lip}_iou_median'] = float(np.median(v)) if len(v) else float('nan')
  for lip in ('upper', 'lower'):
    result[f'mediapipe_better_{lip}_fraction'] = float(np.mean(
        [r['mediapipe'][lip] > r['dlib'][lip] for r in rows])) if rows else float('nan')
  return result


def format_table(r: dict[str, Any]) -> str:
  lines = [f"lip masks vs ground truth: {r['evaluated']} of {r['frames']} synthetic frames (dlib missed "
           f"{r['dlib_missed_face']}; mesh fell back to dlib on {r['mediapipe_fell_back_to_dlib']})",
           '| lip   | MediaPipe IoU mean (median) | dlib IoU mean (median) | MediaPipe better on |',
           '|-------|-----------------------------|------------------------|---------------------|']
  for lip in ('upper', 'lower'):
    lines.append(f"| {lip:5s} | {r[f'mediapipe_{lip}_iou_mean']:.3f} ({r[f'mediapipe_{lip}_iou_median']:.3f})"
                 f"               | {r[f'dlib_{lip}_iou_mean']:.3f} ({r[f'dlib_{lip}_iou_median']:.3f})"
                 f"          | {100 * r[f'mediapipe_better_{lip}_fraction']:.0f}% of frames        |")
  return '\n'.join(lines)


def main(argv: Sequence[str]) -> None:
  import glob  # pylint: disable=g-import-not-at-top
  from absl import app  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if FLAGS.records:
    files = sorted(glob.glob(FLAGS.records))
    if not files:
      raise app.UsageError(f'No records match --records={FLAGS.records}.')
  else:
    from data import synthetic  # pylint: disable=g-import-not-at-top
    ds = synthetic.ensure_synthetic_dataset(synthetic.SyntheticConfig(num_identities=FLAGS.num_identities))
    files = sorted(glob.glob(ds.train_video)) + sorted(glob.glob(ds.train_neutral))
  result = evaluate(files, FLAGS.max_frames)
  print(format_table(result))
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      json.dump(result, f, indent=1)


def _define_flags() -> None:
  """The command line's flags (defined only when run as a program: importing the module defines none)."""
  flags.DEFINE_string('output', None, 'Write the results as JSON here (optional).')
  flags.DEFINE_string('records', None, 'Records with ground-truth lip masks (default: the synthetic training '
                      'set, generated into the cache on first use).')
  flags.DEFINE_integer('max_frames', 0, 'Use at most this many frames (0: all).')
  flags.DEFINE_integer('num_identities', 48, 'Synthetic clips of N_f frames (one identity each) to generate '
                       'when --records is not given.')


if __name__ == '__main__':
  _define_flags()
  cli.run(main)
