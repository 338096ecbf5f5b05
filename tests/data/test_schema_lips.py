"""Schema round trip, lip masks and contours, distance transforms (TF against numpy)."""

import numpy as np
import pytest

from data import lips
from data import schema
from tests.data.conftest import fake_landmarks, fake_sample
from model import config as model_config
from model import semantics


def test_round_trip():
  rng = np.random.default_rng(1)
  s = fake_sample(rng, 'voxceleb', 'id10001_a', 3, is_neutral=0)
  back = schema.parse_sample(schema.serialize_sample(s))
  assert (back.dataset, back.clip_id, back.identity_id, back.is_neutral, back.is_video, back.source_size) == (
      'voxceleb', 'id10001_a', 'id10001', 0, True, (640, 480))
  assert len(back.frames) == 3
  for a, b in zip(s.frames, back.frames):
    np.testing.assert_allclose(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(a.lip_mask, b.lip_mask)  # PNG: lossless
    assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 3  # JPEG q95
    for ca, cb in zip(a.lip_contours, b.lip_contours):
      np.testing.assert_allclose(ca, cb)
    assert a.frame_index == b.frame_index and a.crop_box == b.crop_box


def test_serialize_rejects_bad_frames():
  rng = np.random.default_rng(2)
  s = fake_sample(rng, 'folder', 'x', 1)
  s.frames[0].image = s.frames[0].image[:100]
  with pytest.raises(ValueError):
    schema.serialize_sample(s)
  with pytest.raises(ValueError):
    schema.serialize_sample(fake_sample(rng, 'nope', 'x', 1))


def test_lip_masks_follow_the_polygons():
  lm = fake_landmarks(np.random.default_rng(3), opening=0.1)  # open mouth: the lips are separate
  label = lips.lip_label_map(lm)
  # A point between the outer top (51) and inner top (62) is upper lip; likewise for the lower lip.
  up = np.round((lm[51] + lm[62]) / 2).astype(int)
  lo = np.round((lm[57] + lm[66]) / 2).astype(int)
  assert label[up[1], up[0]] == semantics.REGION_UPPER_LIP
  assert label[lo[1], lo[0]] == semantics.REGION_LOWER_LIP
  assert label[5, 5] == 0
  mouth = np.round((lm[62] + lm[66]) / 2).astype(int)
  assert label[mouth[1], mouth[0]] == 0  # the open mouth is neither lip
  names = dict(zip(schema.LIP_CONTOURS, lips.lip_contours(lm)))
  np.testing.assert_allclose(names['upper_outer'][0], lm[48])
  np.testing.assert_allclose(names['lower_inner'][-1], lm[60])


def test_distance_transform_tf_matches_numpy_and_edt():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from scipy import ndimage  # pylint: disable=g-import-not-at-top
  lm = fake_landmarks(np.random.default_rng(4))
  contours = lips.lip_contours(lm) + [np.zeros((0, 2), np.float32), lm[:1]]
  ref = lips.distance_transforms_np(contours)
  got = lips.distance_transforms_tf(tf.constant(np.concatenate(contours)), [len(c) for c in contours])
  np.testing.assert_allclose(np.moveaxis(got.numpy(), 0, -1), ref, atol=1e-3)
  assert np.all(ref[..., 4] == lips.NO_CONTOUR_DISTANCE)
  # Zero on the contour points, and close to scipy's EDT of a densely drawn polyline.
  c = contours[0]
  for x, y in c.round().astype(int):
    assert ref[y, x, 0] < 0.75
  dense = np.concatenate([np.linspace(a, b, 50) for a, b in zip(c[:-1], c[1:])]).round().astype(int)
  img = np.ones((model_config.IMAGE_SIZE,) * 2, bool)
  img[dense[:, 1], dense[:, 0]] = False
  assert np.abs(ndimage.distance_transform_edt(img) - ref[..., 0]).max() < 1.0


def test_resample_polyline():
  line = np.array([[0, 0], [10, 0], [10, 10]], np.float32)
  r = lips.resample_polyline(line, 5)
  np.testing.assert_allclose(r, [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10]], atol=1e-5)
  assert lips.resample_polyline(line[:1], 3).shape == (3, 2)


def test_distance_transform_cv2_is_close_to_exact():
  rng = np.random.default_rng(5)
  for _ in range(3):
    lm = fake_landmarks(rng, opening=rng.uniform(0, 0.1))
    contours = lips.lip_contours(lm) + [lm[:1], np.zeros((0, 2), np.float32), lm[48:55] + [500, 0]]
    exact = lips.distance_transforms_np(contours)
    fast = lips.distance_transforms_cv2(contours)
    # Drawn pixels lie up to ~0.5 px off the true polyline: a small, bounded error.
    assert np.abs(exact - fast).max() < 1.0
    assert np.abs(exact - fast).mean() < 0.35
