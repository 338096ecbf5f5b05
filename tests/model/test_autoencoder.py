"""model.autoencoder: the landmarks-only decode (pose stage) computes what the full decode computes."""

import numpy as np
import tensorflow as tf

from model import autoencoder as autoencoder_lib
from tests.training import tiny


def test_decode_without_rendering_gives_the_full_decodes_landmarks_geometry_and_gradients():
  ae = autoencoder_lib.Autoencoder(tiny.TINY.model, tiny.TINY.encoder, seed=0)
  ae.build_all()
  rng = np.random.default_rng(1)
  for w in (ae.encoder.per_frame_head.kernel, ae.encoder.identity_head.kernel, ae.face_model.m_gid):
    w.assign(rng.normal(0.0, 0.05, w.shape).astype(np.float32))  # a posed, deformed, non-mean face
  size = tiny.TINY.model.image_size
  images = tf.constant(rng.uniform(0, 1, (2, 2, size, size, 3)).astype(np.float32))
  params = ae.encoder(images)
  grads = []
  for render in (True, False):
    with tf.GradientTape() as tape:
      tape.watch(params['angles'])
      out = ae.decode(params, render=render)
      loss = tf.reduce_sum(tf.square(out['landmarks2d'] - 100.0))
    grads.append(tape.gradient(loss, [params['angles'], ae.face_model.m_gid]))
    if render:
      full = out
  assert 'image' not in out and 'image' in full
  for key in ('landmarks2d', 'mean_landmarks2d', 'vertices', 'identity_vertices', 'graph_deformation'):
    np.testing.assert_allclose(out[key].numpy(), full[key].numpy(), rtol=1e-5, atol=1e-4, err_msg=key)
  assert np.ptp(full['landmarks2d'].numpy()[..., 0]) > 20  # the landmarks are spread over a face
  for g_full, g_fast in zip(*grads):
    np.testing.assert_allclose(tf.convert_to_tensor(g_fast).numpy(), tf.convert_to_tensor(g_full).numpy(),
                               rtol=1e-3, atol=1e-3)
