"""training.losses: zero at the target, hand-computed values, finite-difference gradients, bad shapes."""

import numpy as np
import pytest
import tensorflow as tf

from model import semantics
from training import losses


def _fd_check(fn, x, eps=1e-2, rtol=2e-2, atol=1e-3):
  """Central finite differences (float64 evaluation of a float32 function is not available: use a
  moderate step and compare a few random directions)."""
  x = tf.Variable(x)
  with tf.GradientTape() as tape:
    y = tf.reduce_sum(fn(x))
  g = tape.gradient(y, x).numpy()
  rng = np.random.default_rng(0)
  for _ in range(3):
    d = rng.normal(size=x.shape).astype(np.float32)
    d /= np.linalg.norm(d)
    plus = float(tf.reduce_sum(fn(tf.constant(x.numpy() + eps * d))))
    minus = float(tf.reduce_sum(fn(tf.constant(x.numpy() - eps * d))))
    np.testing.assert_allclose((plus - minus) / (2 * eps), np.sum(g * d), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------------------------- landmarks


def test_landmark_loss_zero_at_target_and_hand_value():
  target = np.random.default_rng(0).uniform(0, 240, (2, 3, 68, 2)).astype(np.float32)
  np.testing.assert_allclose(losses.landmark_loss(target, target).numpy(), [0, 0])
  pred = target.copy()
  pred[0, 0, 30] += [3.0, 4.0]  # 25 px^2 on one kept landmark of one of 3 frames
  pred[1, :, 60] += 100.0  # landmark 60 is not among the 66: no effect
  value = losses.landmark_loss(pred, target).numpy()
  np.testing.assert_allclose(value, [25.0 / (3 * 66), 0.0], rtol=1e-5)


def test_landmark_loss_gradient_matches_finite_differences():
  target = tf.constant(np.random.default_rng(1).uniform(0, 240, (1, 2, 68, 2)), tf.float32)
  x0 = target.numpy() + np.random.default_rng(2).normal(0, 3, target.shape).astype(np.float32)
  _fd_check(lambda x: losses.landmark_loss(x, target), x0)


def test_landmark_loss_rejects_bad_shapes():
  with pytest.raises(ValueError, match='predicted'):
    losses.landmark_loss(tf.zeros([2, 68, 2]), tf.zeros([2, 68, 2]))
  with pytest.raises(ValueError, match='target'):
    losses.landmark_loss(tf.zeros([1, 2, 68, 2]), tf.zeros([1, 2, 66, 2]))
  with pytest.raises(ValueError, match='disagree'):
    losses.landmark_loss(tf.zeros([1, 2, 68, 2]), tf.zeros([1, 3, 68, 2]))


# ------------------------------------------------------------------------------------------ photometric


def test_photometric_loss_zero_at_target_and_hand_value():
  img = tf.random.uniform([1, 2, 8, 8, 3], seed=1)
  mask = np.zeros([1, 2, 8, 8, 1], np.float32)
  mask[0, 0, :2, :2] = 1  # 4 pixels in frame 0, none in frame 1
  assert float(losses.photometric_loss(img, img, mask)[0]) == 0.0
  rendered = img.numpy().copy()
  rendered[0, 0, 0, 0] += [0.1, 0.2, 0.2]  # 0.09 at one of 4 masked pixels
  rendered[0, 0, 5, 5] += 1.0  # outside the mask: ignored
  np.testing.assert_allclose(losses.photometric_loss(img, rendered, mask).numpy(), [0.09 / 4 / 2], rtol=1e-4)


def test_photometric_loss_gradient_matches_finite_differences():
  img = tf.random.uniform([1, 1, 6, 6, 3], seed=2)
  mask = tf.cast(tf.random.uniform([1, 1, 6, 6, 1], seed=3) > 0.3, tf.float32)
  x0 = tf.random.uniform([1, 1, 6, 6, 3], seed=4).numpy()
  _fd_check(lambda x: losses.photometric_loss(img, x, mask), x0)


def test_photometric_loss_rejects_bad_shapes():
  with pytest.raises(ValueError, match='mask'):
    losses.photometric_loss(tf.zeros([1, 1, 4, 4, 3]), tf.zeros([1, 1, 4, 4, 3]), tf.zeros([1, 1, 4, 4, 3]))
  with pytest.raises(ValueError, match='disagree'):
    losses.photometric_loss(tf.zeros([1, 1, 4, 4, 3]), tf.zeros([1, 1, 5, 4, 3]), tf.zeros([1, 1, 4, 4, 1]))


# ------------------------------------------------------------------------------------------------- lips


def _dt(points, size=32):
  """Exact distance transform of a point set [P, 2] on a size x size grid."""
  yy, xx = np.mgrid[:size, :size]
  grid = np.stack([xx, yy], -1).astype(np.float32)
  return np.min(np.linalg.norm(grid[:, :, None] - points[None, None], axis=-1), -1).astype(np.float32)


def test_bilinear_sample_matches_hand_interpolation():
  img = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # value = 4 y + x
  pts = np.array([[[1.5, 2.25], [0.0, 0.0], [10.0, -3.0]]], np.float32)
  out = losses.bilinear_sample(tf.constant(img), tf.constant(pts)).numpy()[0, :, 0]
  np.testing.assert_allclose(out, [4 * 2.25 + 1.5, 0.0, 3.0], rtol=1e-6)  # last: clamped to (3, 0)


def test_contour_terms_zero_when_contours_coincide_and_hand_value():
  pts = np.array([[[5.0, 5.0], [10.0, 5.0], [15.0, 5.0]]], np.float32)
  dist = _dt(pts[0])[None]
  ones = np.ones([1, 3], np.float32)
  assert float(losses.contour_terms(pts, ones, dist, pts, ones, 20.0)[0]) == pytest.approx(0.0, abs=1e-6)
  mesh = pts + np.array([0.0, 2.0], np.float32)  # 2 px below: D = 2 each, closest^2 = 4 each
  value = float(losses.contour_terms(mesh, ones, dist, pts, ones, 20.0)[0])
  assert value == pytest.approx(2.0 + 4.0, rel=1e-5)
  # An outlier mesh point (D > threshold) and the image points it would explain are ignored.
  far = mesh.copy()
  far[0, 2] = [15.0, 30.0]
  value = float(losses.contour_terms(far, ones, dist, pts, ones, 10.0)[0])
  # term 1: mean of D over the two inliers (2, 2); term 2: image point 2's closest mesh point is (10, 7):
  # 25 + 4 = 29 > 10^2? no (29 < 100): kept; mean over (4, 4, 29).
  assert value == pytest.approx(2.0 + (4 + 4 + 29) / 3.0, rel=1e-5)


def test_lip_segmentation_loss_zero_at_target_and_gradient():
  s, f = 32, 1
  rng = np.random.default_rng(0)
  # Integer points (distinct pixels): the distance transform is exact where the contours are read.
  contours = rng.choice(np.arange(6, 26), (1, f, 4, 6, 2), replace=True).astype(np.float32)
  contours[0, 0, :, :, 1] = 5 + 4 * np.arange(6)  # distinct, well separated rows per contour
  dist = np.stack([_dt(contours[0, 0, c], s) for c in range(4)], -1)[None, None]
  lengths = np.full([1, f, 4], 6, np.int32)
  inner_pixels = np.zeros([1, f, s, s, 2], np.float32)
  positions = np.zeros([1, f, s, s, 2], np.float32)
  for lip in range(2):  # put the "rendered" inner contour exactly on the image inner contour points
    for x, y in contours[0, 0, 2 * lip + 1]:
      inner_pixels[0, 0, int(y), int(x), lip] = 1
      positions[0, 0, int(y), int(x)] = [x, y]
  outer = contours[:, :, [0, 2]]
  kw = dict(inner_pixels=inner_pixels, pixel_positions=positions, distance=dist, image_contours=contours,
            image_contour_lengths=lengths, max_inner_points=8)
  at_target = float(losses.lip_segmentation_loss(outer, **kw)[0])
  assert at_target == pytest.approx(0.0, abs=1e-5)
  shifted = float(losses.lip_segmentation_loss(outer + 3.0, **kw)[0])
  assert shifted > at_target + 5.0
  # Away from the distance transform's ridges and the closest-point switches the loss is smooth.
  _fd_check(lambda x: losses.lip_segmentation_loss(x, **kw), outer + np.float32([0.4, 0.3]), eps=1e-2,
            rtol=2e-2, atol=1e-3)


def test_lip_segmentation_loss_rejects_bad_shapes():
  with pytest.raises(ValueError, match='distance'):
    losses.lip_segmentation_loss(tf.zeros([1, 1, 2, 5, 2]), tf.zeros([1, 1, 8, 8, 2]),
                                 tf.zeros([1, 1, 8, 8, 2]), tf.zeros([1, 1, 8, 8, 3]),
                                 tf.zeros([1, 1, 4, 5, 2]), tf.zeros([1, 1, 4], tf.int32))


# ---------------------------------------------------------------------------------- smoothness & others


def test_smoothness_loss_zero_for_rigid_translation_and_hand_value():
  edges = tf.constant([[0, 1], [1, 2]], tf.int32)
  d = np.zeros([1, 2, 3, 3], np.float32)
  d[:, :] = [1.0, -2.0, 0.5]  # every node moves the same: no penalty
  assert float(losses.smoothness_loss(d, edges)[0]) == 0.0
  d[0, 0, 2] += [0.0, 0.0, 1.0]  # frame 0: edge (1, 2) differs by 1 -> 2 * 1 (both directions)
  np.testing.assert_allclose(losses.smoothness_loss(d, edges).numpy(), [2.0 / 2])
  _fd_check(lambda x: losses.smoothness_loss(x, edges), d + 0.1)
  with pytest.raises(ValueError, match='graph_deformation'):
    losses.smoothness_loss(tf.zeros([1, 3, 3]), edges)


def test_disentanglement_loss_only_on_neutral_samples():
  delta = np.ones([2, 4, 3], np.float32)
  np.testing.assert_allclose(losses.disentanglement_loss(delta, [True, False]).numpy(), [3.0, 0.0])
  assert float(losses.disentanglement_loss(np.zeros([1, 4, 3], np.float32), [True])[0]) == 0.0
  _fd_check(lambda x: losses.disentanglement_loss(x, tf.constant([True, True])), delta * 0.3)
  with pytest.raises(ValueError, match='disagree'):
    losses.disentanglement_loss(delta, [True])


def test_coefficient_loss_hand_value_and_gradient():
  alpha = np.full([1, 4], 2.0, np.float32)
  beta, delta = np.zeros([1, 2], np.float32), np.ones([1, 2, 3], np.float32)
  np.testing.assert_allclose(losses.coefficient_loss(alpha, beta, delta).numpy(), [4.0 + 0.0 + 1.0])
  _fd_check(lambda a: losses.coefficient_loss(a, beta, delta), alpha)
  with pytest.raises(ValueError, match='delta'):
    losses.coefficient_loss(alpha, beta, np.ones([1, 3], np.float32))


def test_perceptual_loss_zero_for_equal_features_and_hand_value():
  a = [tf.random.uniform([2, 4, 4, 3], seed=s) for s in range(5)]
  np.testing.assert_allclose(losses.perceptual_loss(a, a, num_frames=2).numpy(), [0.0], atol=1e-5)
  b = [-x for x in a]  # cosine -1 on every layer: 5 * 2 = 10
  np.testing.assert_allclose(losses.perceptual_loss(a, b, num_frames=2).numpy(), [10.0], rtol=1e-5)
  with pytest.raises(ValueError, match='feature map 0'):
    losses.perceptual_loss([a[0]], [a[0][:1]], num_frames=1)


def test_landmarks66_excludes_inner_mouth_corners():
  assert len(semantics.LANDMARKS66) == 66 and 60 not in semantics.LANDMARKS66
