"""Fixtures for the data tests: small records made on the fly and paths of the shared media."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from common import paths
from data import lips
from data import schema
from model import config as model_config


def fake_landmarks(rng: np.random.Generator, size: int = model_config.IMAGE_SIZE,
                   opening: float | None = None) -> np.ndarray:
  """A plausible 68-point layout (jaw arc, brows, eyes, nose, mouth ellipses) with jitter."""
  c = np.array([size / 2, size / 2]) + rng.normal(0, 3, 2)
  r = size * 0.3
  t = np.linspace(np.pi * 1.05, -0.05 * np.pi, 17)
  jaw = np.stack([c[0] - r * np.cos(t), c[1] - 0.2 * r + r * np.sin(t) * 1.1], -1)
  brows = np.stack([np.linspace(c[0] - 0.8 * r, c[0] + 0.8 * r, 10), np.full(10, c[1] - 0.6 * r)], -1)
  nose = np.stack([np.full(9, c[0]) + np.r_[0, 0, 0, 0, -10, -5, 0, 5, 10], c[1] - 0.3 * r +
                   np.r_[0, 8, 16, 24, 30, 32, 33, 32, 30]], -1)
  eyes = np.concatenate([np.stack([c[0] + s * 0.45 * r + 12 * np.cos(a), c[1] - 0.35 * r + 5 * np.sin(a)], -1)
                         for s in (-1, 1) for a in [np.linspace(np.pi, -np.pi * 2 / 3, 6)]])
  mc = c + np.array([0, 0.45 * r])
  a_out = np.linspace(np.pi, -np.pi, 13)[:12]
  outer = np.stack([mc[0] - 0.4 * r * np.cos(a_out), mc[1] - 0.15 * r * np.sin(a_out)], -1)
  a_in = np.array([np.pi, 3 * np.pi / 4, np.pi / 2, np.pi / 4, 0, -np.pi / 4, -np.pi / 2, -3 * np.pi / 4])
  opening = (rng.uniform(0.0, 0.08) if opening is None else opening) * r
  inner = np.stack([mc[0] - 0.3 * r * np.cos(a_in), mc[1] - opening * np.sin(a_in)], -1)
  lm = np.concatenate([jaw, brows, nose, eyes, outer, inner]).astype(np.float32)
  assert lm.shape == (68, 2)
  return lm + rng.normal(0, 0.2, lm.shape).astype(np.float32)


def fake_sample(rng, dataset: str, clip_id: str, num_frames: int, is_neutral: int = -1) -> schema.Sample:
  frames = []
  for i in range(num_frames):
    lm = fake_landmarks(rng)
    img = (rng.uniform(0, 255, (8, 8, 3))).astype(np.uint8).repeat(30, 0).repeat(30, 1)
    frames.append(schema.Frame(image=img, landmarks=lm, lip_mask=lips.lip_label_map(lm),
                               lip_contours=lips.lip_contours(lm), frame_index=10 * i,
                               crop_box=(1.0, 2.0, 300.0)))
  return schema.Sample(frames=frames, dataset=dataset, source=f'{clip_id}.mp4', clip_id=clip_id,
                       identity_id=clip_id.split('_')[0], is_neutral=is_neutral,
                       is_video=num_frames > 1, source_size=(640, 480))


def write_records(path: pathlib.Path, samples) -> pathlib.Path:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  path.parent.mkdir(parents=True, exist_ok=True)
  with tf.io.TFRecordWriter(str(path)) as w:
    for s in samples:
      w.write(schema.serialize_sample(s))
  return path


@pytest.fixture(scope='session')
def fake_records(tmp_path_factory):
  """Two small record sets: 'video' (4-frame VoxCeleb clips) and 'image' (neutral EmotioNet images)."""
  root = tmp_path_factory.mktemp('fake_records')
  rng = np.random.default_rng(0)
  for shard in range(2):
    write_records(root / 'vox' / f'voxceleb-{shard:05d}-of-00002.tfrecord',
                  [fake_sample(rng, 'voxceleb', f'id1000{shard}_clip{k}', 4) for k in range(3)])
    write_records(root / 'emo' / f'emotionet-{shard:05d}-of-00002.tfrecord',
                  [fake_sample(rng, 'emotionet', f'img{shard}_{k}', 1, is_neutral=1) for k in range(3)])
  return {'video': root / 'vox', 'image': root / 'emo'}


@pytest.fixture(scope='session')
def shared():
  """The shared folder, via common.paths."""
  return paths.shared_dir()
