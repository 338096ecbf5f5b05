"""training.heldout (the demo's learning checks) and training.probe: errors against the truth and the mean."""

import numpy as np
import tensorflow as tf

from data import synthetic_stream
from model import autoencoder as autoencoder_lib
from training import heldout
from tests.training import tiny


def _batches():
  ds = synthetic_stream.make_stream('video', batch_size=2, seed=7, num_frames=2, groundtruth=True, count=4)
  keys = ('image', 'landmarks', 'gt_vertices')
  return [{k: b[k].numpy() for k in keys} for b in ds]


def test_untrained_model_is_the_mean_template_and_a_better_face_is_measured_as_better():
  batches = _batches()
  ae = autoencoder_lib.Autoencoder(tiny.TINY.model, tiny.TINY.encoder, seed=0)
  before = heldout.evaluate(ae, batches)
  assert before['geometry_mm'] == before['mean_template_geometry_mm'] > 1.0
  assert before['geometry_minus_mean_template_mm'] == 0.0 and before['landmark_px'] > 5.0
  # The true face, offered as "the reconstruction", is measured as exact and better than the template.
  class Oracle:
    face_model = ae.face_model

    def __call__(self, images, landmarks=None):
      del landmarks
      b = next(x for x in batches if np.array_equal(x['image'], images.numpy()))
      return {'landmarks2d': tf.constant(b['landmarks']), 'vertices': tf.constant(b['gt_vertices'])}

  after = heldout.evaluate(Oracle(), batches)
  assert after['geometry_mm'] < 1e-3 and after['landmark_px'] < 1e-3
  assert after['geometry_minus_mean_template_mm'] < -1.0 and after['samples_better_than_mean_template'] == 1.0
  assert after['geometry_minus_mean_template_ci95_mm'] > 0


def test_similarity_alignment_removes_scale_rotation_and_translation():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(50, 3))
  angle = 0.4
  rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
  y = 1.7 * x @ rot.T + [1.0, -2.0, 3.0]
  np.testing.assert_allclose(heldout.similarity_align(x, y), y, atol=1e-9)
  assert heldout.rmse_mm(x, y) < 1e-6


def test_probe_r_squared_is_one_for_the_truth_zero_for_the_mean_and_negative_when_worse():
  from training import probe  # pylint: disable=g-import-not-at-top
  t = np.random.default_rng(0).normal(size=(100, 3))
  np.testing.assert_allclose(probe.r_squared(t, t), 1.0)
  np.testing.assert_allclose(probe.r_squared(np.broadcast_to(t.mean(0), t.shape), t), 0.0, atol=1e-12)
  assert (probe.r_squared(-t, t) < -1).all()


def test_probe_learns_the_yaw_from_the_pixels_in_a_few_steps():
  from training import probe  # pylint: disable=g-import-not-at-top
  r = probe.run('pose', steps=60, batch_size=4, encoder='small_image_only', input_size=32, modes=1,
                heldout=8, learning_rate=3e-3, progress=False, seed=0)['targets']['pose']
  assert len(r['r2']) == 3 and r['r2'][1] > 0.2, r  # yaw (radians, +-30 deg) is plainly visible
