"""Prepared frames for the image-based tables: TFRecords written by ``data.prepare`` or ``data.synthetic``.

``read_frames(pattern)`` returns every frame (240x240 crop, 68 landmarks, lip label map) with its record's
metadata; a file that cannot be read is a counted skip, a pattern that matches nothing is an error.
"""

from __future__ import annotations

import collections
import dataclasses
import glob

import numpy as np


@dataclasses.dataclass
class EvalFrame:
  image: np.ndarray  # uint8 [S, S, 3]
  landmarks: np.ndarray  # float32 [68, 2] crop pixels
  lip_mask: np.ndarray  # uint8 [S, S]: 0 other, 1 upper lip, 2 lower lip
  clip_id: str
  identity_id: str
  dataset: str
  is_neutral: int


def read_frames(pattern: str, neutral_only: bool = False, max_frames: int = 0
                ) -> tuple[list[EvalFrame], collections.Counter]:
  """All frames of the records matching ``pattern`` (comma-separated globs allowed), with skip counts.

  Args:
    pattern: glob(s) of TFRecord files.
    neutral_only: keep records with ``meta/is_neutral`` == 1 only (others counted as 'not neutral').
    max_frames: stop after this many frames (0: all).

  Raises:
    FileNotFoundError: no file matches.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import schema  # pylint: disable=g-import-not-at-top
  files = sorted({f for p in pattern.split(',') if p for f in glob.glob(p)})
  if not files:
    raise FileNotFoundError(f'No TFRecord files match {pattern!r} (expected data.prepare / data.synthetic '
                            'shards, e.g. .../train/neutral-*.tfrecord).')
  frames, skipped = [], collections.Counter()
  for path in files:
    try:
      for raw in tf.data.TFRecordDataset(path):
        sample = schema.parse_sample(raw.numpy())
        if neutral_only and sample.is_neutral != 1:
          skipped['record not neutral'] += 1
          continue
        for fr in sample.frames:
          frames.append(EvalFrame(fr.image, np.asarray(fr.landmarks, np.float32), fr.lip_mask, sample.clip_id,
                                  sample.identity_id, sample.dataset, sample.is_neutral))
          if max_frames and len(frames) >= max_frames:
            return frames, skipped
    except (tf.errors.OpError, ValueError, KeyError, IndexError) as e:
      skipped[f'unreadable record file ({type(e).__name__})'] += 1
  return frames, skipped
