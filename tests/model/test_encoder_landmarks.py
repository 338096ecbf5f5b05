"""model.encoder's landmark inputs: similarity-normalised features, aligned crops, standardisation."""

import math

import numpy as np
import pytest
import tensorflow as tf

from model import config as config_lib
from model import encoder as encoder_lib
from model import template as template_lib

TINY = config_lib.ModelConfig(num_identity=6, num_expression=5, num_albedo=7, num_frames=3)
LANDMARK_CONFIG = encoder_lib.EncoderConfig('small', 32, 0.5, 16, landmark_input=True, align=True,
                                            landmark_hidden=16)


def _face_landmarks(rng, n=1, size=240.0):
  """Frontal-ish 68-point sets: the template's landmarks, projected orthographically, jittered."""
  t = template_lib.load_template()
  base = t.vertices[t.landmarks][:, :2] * np.array([1.0, -1.0])  # y down
  base = (base - base.mean(0)) / np.sqrt((base ** 2).sum(1).mean()) * 0.25 * size + size / 2
  return (base[None] + rng.normal(0, 1.0, (n, 68, 2))).astype(np.float32)


def _similar(points, angle, scale, shift, size=240.0):
  c = np.array([size / 2, size / 2])
  r = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
  return ((points - c) @ r.T * scale + c + shift).astype(np.float32)


def test_landmark_shape_features_ignore_position_scale_and_roll_and_the_pose_features_carry_them():
  lm = _face_landmarks(np.random.default_rng(0))
  moved = _similar(lm, 0.3, 0.7, np.array([12.0, -9.0]))
  a = encoder_lib.landmark_features(lm, 240).numpy()
  b = encoder_lib.landmark_features(moved, 240).numpy()
  n = encoder_lib.NUM_LANDMARKS * 2
  np.testing.assert_allclose(a[:, :n], b[:, :n], atol=1e-4)
  assert a.shape == (1, encoder_lib.LANDMARK_FEATURES)
  np.testing.assert_allclose(b[0, n + 2] - a[0, n + 2], math.log(0.7), atol=1e-4)  # log radius
  np.testing.assert_allclose(math.atan2(b[0, n + 4], b[0, n + 3]) - math.atan2(a[0, n + 4], a[0, n + 3]),
                             0.3, atol=1e-4)  # eye-line angle
  # A change of the face's shape (an identity) does change the shape features.
  wider = lm.copy()
  wider[:, :17, 0] = (wider[:, :17, 0] - 120) * 1.1 + 120
  c = encoder_lib.landmark_features(wider, 240).numpy()
  assert np.abs(c[:, :n] - a[:, :n]).max() > 1e-2


def test_aligned_crop_puts_the_landmark_centroid_at_the_centre_and_levels_the_eyes():
  lm = _similar(_face_landmarks(np.random.default_rng(1)), 0.4, 0.8, np.array([20.0, 15.0]))
  centre = lm[0].mean(0)
  image = np.zeros((1, 240, 240, 3), np.float32)
  yy, xx = np.mgrid[:240, :240]
  image[0, (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= 16] = 1.0  # a dot at the centroid
  out = encoder_lib.align_images(tf.constant(image), tf.constant(lm), 64).numpy()[0, ..., 0]
  iy, ix = np.unravel_index(np.argmax(out), out.shape)
  assert abs(ix - 31.5) <= 1.5 and abs(iy - 31.5) <= 1.5, (ix, iy)
  # Eye-level: the warped landmarks' eye line is horizontal (the warp applied to the points).
  _, radius, theta = encoder_lib.landmark_similarity(tf.constant(lm))
  assert abs(float(theta[0]) - 0.4) < 0.05 and radius.numpy()[0] > 0


def test_landmark_encoder_needs_landmarks_and_says_so():
  enc = encoder_lib.MultiFrameEncoder(LANDMARK_CONFIG, TINY)
  with pytest.raises(ValueError, match='needs the 68 landmarks'):
    enc(tf.zeros([1, 3, 48, 48, 3]))
  with pytest.raises(ValueError, match=r'landmarks \[B, F, 68, 2\]'):
    enc(tf.zeros([1, 3, 48, 48, 3]), tf.zeros([1, 3, 5, 2]))
  with pytest.raises(ValueError, match='align needs landmark_input'):
    encoder_lib.EncoderConfig('small', 32, align=True)


def test_landmark_encoder_identity_reads_the_landmarks_and_is_frame_order_invariant():
  rng = np.random.default_rng(2)
  enc = encoder_lib.MultiFrameEncoder(LANDMARK_CONFIG, TINY)
  lm = _face_landmarks(rng, 3, 48.0).reshape(1, 3, 68, 2)
  x = tf.random.uniform([1, 3, 48, 48, 3], seed=0)
  enc.adapt_landmarks(_face_landmarks(rng, 64, 48.0), 48)
  assert enc.landmarks_adapted()
  enc(x, lm)  # builds the layers
  for v in enc.trainable_variables:
    v.assign(v.numpy() + rng.normal(0, 0.1, v.shape).astype(np.float32))
  a = enc(x, lm)
  b = enc(tf.gather(x, [2, 0, 1], axis=1), tf.gather(lm, [2, 0, 1], axis=1))
  np.testing.assert_allclose(a['alpha'].numpy(), b['alpha'].numpy(), rtol=1e-5, atol=1e-5)
  wider = lm.copy()
  wider[..., :17, 0] = (wider[..., :17, 0] - 24) * 1.1 + 24  # a wider jaw, same pixels
  c = enc(x, wider)
  assert np.abs(c['alpha'].numpy() - a['alpha'].numpy()).max() > 1e-3


def test_adapted_landmark_features_are_standardised():
  rng = np.random.default_rng(3)
  enc = encoder_lib.MultiFrameEncoder(LANDMARK_CONFIG, TINY)
  lm = _similar(_face_landmarks(rng, 200), 0.1, 1.0, np.zeros(2))
  enc.adapt_landmarks(lm, 240)
  z = (encoder_lib.landmark_features(lm, 240) - enc.landmark_mean) / enc.landmark_std
  np.testing.assert_allclose(z.numpy().mean(0), 0.0, atol=1e-3)
  std = z.numpy().std(0)
  assert np.all((np.abs(std - 1.0) < 1e-2) | (std < 1e-2)), std  # unit, or a feature that never varies
