"""tf.data pipelines: element structure, frame repetition, 3:1 mixing, deterministic mode."""

import collections

import numpy as np
import pytest
import tensorflow as tf

from data import lips
from data import pipeline
from data import schema


def test_element_structure(fake_records):
  ds = pipeline.make_dataset(fake_records['video'], batch_size=2, deterministic=True)
  assert ds.element_spec == pipeline.element_spec(4, 2)
  e = next(iter(ds))
  assert e['image'].shape == (2, 4, 240, 240, 3)
  assert float(tf.reduce_min(e['image'])) >= 0.0 and float(tf.reduce_max(e['image'])) <= 1.0
  assert set(np.unique(e['lip_masks'].numpy())) <= {0.0, 1.0}
  assert bool(tf.reduce_all(e['is_video'])) and not bool(tf.reduce_any(e['is_neutral']))
  # Landmarks and distance transforms agree: the outer upper lip contour passes through point 51.
  lm = e['landmarks'].numpy()[0, 1]
  x, y = np.round(lm[51]).astype(int)
  assert e['lip_distance'].numpy()[0, 1, y, x, schema.LIP_CONTOURS.index('upper_outer')] < 0.75
  # ... and are close to the exact distances to the contours taken from the landmarks ('fast' mode).
  ref = lips.distance_transforms_np(lips.lip_contours(lm))
  np.testing.assert_allclose(e['lip_distance'].numpy()[0, 1], ref, atol=1.0)
  # The padded polylines are the landmark contours, padded with their last point.
  for k, c in enumerate(lips.lip_contours(lm)):
    n = int(e['lip_contour_lengths'][0, 1, k])
    assert n == len(c)
    np.testing.assert_allclose(e['lip_contours'].numpy()[0, 1, k, :n], c, atol=1e-5)
    np.testing.assert_allclose(e['lip_contours'].numpy()[0, 1, k, n:], np.repeat(c[-1:], 32 - n, 0),
                               atol=1e-5)


def test_exact_distance_transforms(fake_records):
  ds = pipeline.make_dataset(fake_records['image'], batch_size=None, deterministic=True,
                             distance_transforms='exact')
  e = next(iter(ds))
  ref = lips.distance_transforms_np(lips.lip_contours(e['landmarks'].numpy()[0]))
  np.testing.assert_allclose(e['lip_distance'].numpy()[2], ref, atol=0.01)
  with pytest.raises(ValueError):
    pipeline.make_dataset(fake_records['image'], distance_transforms='magic')


def test_images_are_repeated_and_neutral(fake_records):
  e = next(iter(pipeline.make_dataset(fake_records['image'], batch_size=None, num_frames=4)))
  assert e['image'].shape == (4, 240, 240, 3)
  for k in range(1, 4):
    np.testing.assert_array_equal(e['image'][0].numpy(), e['image'][k].numpy())
    np.testing.assert_array_equal(e['landmarks'][0].numpy(), e['landmarks'][k].numpy())
  assert bool(e['is_neutral']) and not bool(e['is_video'])


def test_frame_selection():
  np.testing.assert_array_equal(pipeline.frame_selection(8, 4).numpy(), [0, 2, 4, 6])
  np.testing.assert_array_equal(pipeline.frame_selection(1, 4).numpy(), [0, 0, 0, 0])
  np.testing.assert_array_equal(pipeline.frame_selection(3, 4).numpy(), [0, 1, 2, 0])


@pytest.mark.parametrize('ratio', [(3, 1), (1, 1)])
def test_mixing_ratio(fake_records, ratio):
  ds = pipeline.make_mixed_dataset(fake_records['video'], fake_records['image'], ratio=ratio,
                                   batch_size=None, distance_transforms=False, deterministic=True)
  counts = collections.Counter(e['dataset'].numpy().decode() for e in ds.take(40 * sum(ratio)))
  assert counts['voxceleb'] * ratio[1] == counts['emotionet'] * ratio[0]
  assert pipeline.parse_ratio('3:1') == (3, 1)
  with pytest.raises(ValueError):
    pipeline.make_mixed_dataset(fake_records['video'], fake_records['image'], ratio=(0, 0))


def _ids(ds, n):
  return [e['clip_id'].numpy().tolist() for e in ds.take(n)]


def test_deterministic_mode_is_reproducible(fake_records):
  def make(seed):
    return pipeline.make_mixed_dataset(fake_records['video'], fake_records['image'], batch_size=2,
                                       distance_transforms=False, deterministic=True, seed=seed)
  a, b = _ids(make(3), 12), _ids(make(3), 12)
  assert a == b
  assert _ids(make(4), 12) != a  # the seed matters (shuffling is on)


def test_missing_files_raise(tmp_path):
  with pytest.raises(FileNotFoundError):
    pipeline.make_dataset(str(tmp_path / '*.tfrecord'))
