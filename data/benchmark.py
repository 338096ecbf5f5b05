r"""Data benchmarks: preprocessing throughput (frames/s on one core) and tf.data throughput (samples/s).

  python -m data.benchmark --output=/tmp/data_benchmark.json

Preprocessing runs ``data.preprocess`` in this one process (the Beam pipeline runs one such process per
core, so multiply by the cores for a machine's throughput) on the shared photos and the shared video, and
times the stages on the video frames, among them the cost of the lips from each source (``make_frame`` with
MediaPipe lips, the default, and with dlib lips, side by side; the difference is MediaPipe's extra cost per
kept frame: two face-mesh inferences). tf.data throughput is measured on the synthetic dataset (or
``--records``) with ``N_f = 4`` frames, batch 1, after a warm-up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import time
from typing import Sequence

from common import cli  # noqa: F401  (first: quiet TensorFlow start-up)  # pylint: disable=g-bad-import-order
from absl import flags

FLAGS = flags.FLAGS


def _timed(fn, *args, repeat: int = 1):
  t0, c0 = time.perf_counter(), time.process_time()
  for _ in range(repeat):
    out = fn(*args)
  return out, (time.perf_counter() - t0) / repeat, (time.process_time() - c0) / repeat


def bench_preprocess(min_face_size: int) -> dict:
  """Per-stage and end-to-end preprocessing speed in this process."""
  import tensorflow  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import  # import cost excluded
  from common import paths  # pylint: disable=g-import-not-at-top
  from data import face as face_lib  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  from data import preprocess  # pylint: disable=g-import-not-at-top
  from data import schema  # pylint: disable=g-import-not-at-top
  cfg = preprocess.Config(min_face_size=min_face_size)
  analyzer = cfg.analyzer()
  face_lib._models()  # pylint: disable=protected-access  # load the models outside the timings
  video = paths.shared_path('media', 'video', 'short_hamilton_clip.mp4')
  src = media.FrameSource(video)
  idx = list(range(0, src.num_frames, 10))
  frames, t_decode, _ = _timed(src.read, idx)
  res = {}
  res['video_decode_fps'] = (idx[-1] + 1) / t_decode  # sequential: every frame up to the last is decoded
  imgs = list(frames.values())
  _, t_det, _ = _timed(lambda: [analyzer.detect(im) for im in imgs])
  res['detect_landmarks_fps_640x360'] = len(imgs) / t_det
  faces = [(im, f[0]) for im in imgs for f in [analyzer.detect(im)] if f]
  _, t_desc, _ = _timed(lambda: [analyzer.describe(im, dataclasses.replace(f, descriptor=None))
                                  for im, f in faces])
  res['descriptor_fps'] = len(faces) / max(t_desc, 1e-9)
  _, t_crop, _ = _timed(lambda: [schema.serialize_sample(schema.Sample(
      [preprocess.make_frame(im, f)], 'folder', 'x', 'x')) for im, f in faces])
  res['crop_mask_serialize_fps'] = len(faces) / max(t_crop, 1e-9)
  # The lips' share: one frame's crop + lip contours + mask from each source, side by side (MediaPipe's
  # interpreter is loaded by a warm-up call outside the timing).
  for source in preprocess.LIP_SOURCES:
    c = dataclasses.replace(cfg, lip_source=source)
    preprocess.make_frame(*faces[0], 0, c)
    _, _, t = _timed(lambda: [preprocess.make_frame(im, f, 0, c) for im, f in faces], repeat=3)
    res[f'make_frame_ms_{source}'] = 1e3 * t / len(faces)  # CPU time: steadier on a shared machine
  from data import face_mesh  # pylint: disable=g-import-not-at-top
  _, _, t = _timed(lambda: [face_mesh.fit(im, f.landmarks) for im, f in faces], repeat=3)
  res['face_mesh_fit_ms'] = 1e3 * t / len(faces)
  res['mediapipe_lips_extra_ms_per_frame'] = res['make_frame_ms_mediapipe'] - res['make_frame_ms_dlib']
  res['mediapipe_lips_make_frame_ratio'] = res['make_frame_ms_mediapipe'] / res['make_frame_ms_dlib']
  item = preprocess.WorkItem(video.name, 'video', 'folder', 'clip')
  for source in ('dlib', 'mediapipe'):  # the default (MediaPipe lips) last: its numbers are the headline
    r, t_clip, _ = _timed(preprocess.process_item, item, video.parent,
                          dataclasses.replace(cfg, lip_source=source), analyzer)
    res[f'clip_seconds_{source}_lips'] = t_clip
  res['clip_seconds'] = t_clip
  res['clip_frames_examined'] = r.frames_examined
  res['clip_frames_per_s'] = r.frames_examined / t_clip
  photos = sorted(p for p in paths.shared_path('media', 'photos').iterdir() if media.is_image(p))
  t0, c0 = time.perf_counter(), time.process_time()
  for p in photos:
    preprocess.process_item(preprocess.WorkItem(p.name, 'image', 'folder', p.stem), p.parent, cfg, analyzer)
  res['photos'] = len(photos)
  res['photos_per_s'] = len(photos) / (time.perf_counter() - t0)
  res['photos_cpu_s_per_image'] = (time.process_time() - c0) / len(photos)
  return res


def bench_pipeline(records: str | None, num_samples: int) -> dict:
  from data import pipeline, synthetic  # pylint: disable=g-import-not-at-top
  if records is None:
    records = synthetic.ensure_synthetic_dataset().train_video
  res = {'records': str(records)}
  for name, kwargs in (('samples_per_s', {}), ('samples_per_s_no_distance_transforms',
                                               {'distance_transforms': False}),
                       ('samples_per_s_deterministic', {'deterministic': True})):
    ds = pipeline.make_dataset(records, batch_size=1, **kwargs)
    it = iter(ds)
    for _ in range(5):
      next(it)
    t0 = time.perf_counter()
    for _ in range(num_samples):
      next(it)
    res[name] = num_samples / (time.perf_counter() - t0)
  return res


def main(argv: Sequence[str]) -> None:
  del argv
  results = {'cpu_count': os.cpu_count()}
  results['preprocess'] = bench_preprocess(FLAGS.min_face_size)
  results['tf_data'] = bench_pipeline(FLAGS.records, FLAGS.num_samples)
  pre, tfd = results['preprocess'], results['tf_data']
  rows = [('preprocess: video decode (640x360, sequential)', pre['video_decode_fps'], 'frames/s'),
          ('preprocess: detect + 68 landmarks (640x360)', pre['detect_landmarks_fps_640x360'], 'frames/s'),
          ('preprocess: identity descriptor', pre['descriptor_fps'], 'faces/s'),
          ('preprocess: crop + lip mask + serialize', pre['crop_mask_serialize_fps'], 'frames/s'),
          ('preprocess: crop + lips, dlib lips (CPU time)', pre['make_frame_ms_dlib'], 'ms/frame'),
          ('preprocess: crop + lips, MediaPipe lips (CPU time)', pre['make_frame_ms_mediapipe'], 'ms/frame'),
          ('preprocess: MediaPipe lips, extra CPU time', pre['mediapipe_lips_extra_ms_per_frame'],
           'ms/frame'),
          ('preprocess: face mesh fit, 2 inferences (CPU time)', pre['face_mesh_fit_ms'], 'ms/face'),
          ('preprocess: whole clip, dlib lips', pre['clip_seconds_dlib_lips'], 's'),
          ('preprocess: whole clip, MediaPipe lips', pre['clip_seconds_mediapipe_lips'], 's'),
          (f"preprocess: whole clip ({pre['clip_frames_examined']} examined frames)",
           pre['clip_frames_per_s'], 'frames/s'),
          ('preprocess: shared photos end to end', pre['photos_per_s'], 'images/s'),
          ('tf.data: N_f=4 samples, distance transforms', tfd['samples_per_s'], 'samples/s'),
          ('tf.data: without distance transforms', tfd['samples_per_s_no_distance_transforms'], 'samples/s'),
          ('tf.data: deterministic mode', tfd['samples_per_s_deterministic'], 'samples/s')]
  print(f'data benchmark (one process for preprocessing, {os.cpu_count()} cores visible)')
  print(f'{"measurement":<54} {"value":>10}  unit')
  for name, value, unit in rows:
    print(f'{name:<54} {value:>10.2f}  {unit}')
  if FLAGS.output:
    pathlib.Path(FLAGS.output).write_text(json.dumps(results, indent=1))
    print(f'wrote {FLAGS.output}')


def _define_flags() -> None:
  """The command line's flags (defined only when run as a program: importing the module defines none)."""
  flags.DEFINE_string('output', None, 'Write the results as JSON here.')
  flags.DEFINE_string('records', None, 'TFRecords for the tf.data benchmark (default: the synthetic set).')
  flags.DEFINE_integer('num_samples', 40, 'tf.data samples timed (after a warm-up of 5).')
  flags.DEFINE_integer('min_face_size', 100, 'Minimum face size for the preprocessing benchmark (the shared '
                       'video has ~150 px crops).')


if __name__ == '__main__':
  _define_flags()
  cli.run(main)
