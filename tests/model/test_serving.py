"""The SavedModel a run leaves: it reloads without the project's code and serves what the model computes."""

import numpy as np
import tensorflow as tf

from model import autoencoder as autoencoder_lib
from tests.training import tiny


def test_saved_model_reloads_and_serves_the_same_parameters_and_vertices(tmp_path):
  ae = autoencoder_lib.Autoencoder(tiny.TINY.model, tiny.TINY.encoder, seed=0)
  ae.build_all()
  rng = np.random.default_rng(0)
  head = ae.encoder.per_frame_head.kernel
  head.assign(rng.normal(0.0, 0.05, head.shape).astype(np.float32))  # frames give different poses
  size = tiny.TINY.model.image_size
  images = tf.constant(rng.uniform(0, 1, (1, 2, size, size, 3)).astype(np.float32))
  expected = ae.decode(ae.encoder(images))
  path = autoencoder_lib.save_serving_model(ae, tmp_path / 'saved_model')
  loaded = tf.saved_model.load(str(path))
  served = loaded.signatures['serving_default'](images=images)
  for key in ('alpha', 'delta', 'angles', 'translation', 'vertices', 'landmarks2d'):
    np.testing.assert_allclose(served[key].numpy(), expected[key].numpy(), rtol=1e-4, atol=1e-4, err_msg=key)
  angles = served['angles'].numpy().reshape(2, -1)
  assert not np.allclose(angles[0], angles[1])
