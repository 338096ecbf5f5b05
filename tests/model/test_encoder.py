"""model.encoder and model.autoencoder: frame permutation, mean-face initialisation, shapes, bad input."""

import numpy as np
import pytest
import tensorflow as tf

from model import camera
from model import config as config_lib
from model import encoder as encoder_lib
from model import lighting

TINY = config_lib.ModelConfig(num_identity=6, num_expression=5, num_albedo=7, num_frames=3)


def _perturbed_encoder():
  enc = encoder_lib.MultiFrameEncoder(encoder_lib.EncoderConfig('small', 32, 0.5, 16), TINY)
  x = tf.random.uniform([2, 3, 48, 48, 3], seed=0)
  enc(x)
  rng = np.random.default_rng(0)
  for v in enc.trainable_variables:  # zero-initialised heads would make every output constant
    v.assign(v.numpy() + rng.normal(0, 0.1, v.shape).astype(np.float32))
  return enc, x


def test_permuting_frames_permutes_per_frame_outputs_and_keeps_identity():
  enc, x = _perturbed_encoder()
  perm = [2, 0, 1]
  a = enc(x)
  b = enc(tf.gather(x, perm, axis=1))
  for k in ('delta', 'sh', 'angles', 'translation'):
    np.testing.assert_allclose(tf.gather(a[k], perm, axis=1).numpy(), b[k].numpy(), rtol=1e-5, atol=1e-5)
  for k in ('alpha', 'beta'):
    np.testing.assert_allclose(a[k].numpy(), b[k].numpy(), rtol=1e-5, atol=1e-5)
  assert np.abs(a['alpha'].numpy()).max() > 1e-3  # not trivially constant


def test_identity_depends_on_every_frame():
  enc, x = _perturbed_encoder()
  y = x.numpy().copy()
  y[:, 2] = 1.0 - y[:, 2]
  a, b = enc(x), enc(y)
  assert np.abs(a['alpha'].numpy() - b['alpha'].numpy()).max() > 1e-4
  np.testing.assert_allclose(a['delta'][:, :2].numpy(), b['delta'][:, :2].numpy(), atol=1e-6)


def test_initial_outputs_are_mean_face_in_default_pose_under_ambient_light():
  enc = encoder_lib.MultiFrameEncoder(encoder_lib.EncoderConfig('small', 32, 0.5, 16), TINY)
  out = enc(tf.random.uniform([2, 3, 40, 40, 3], seed=1))
  assert out['alpha'].shape == (2, 6) and out['beta'].shape == (2, 7) and out['delta'].shape == (2, 3, 5)
  for k in ('alpha', 'beta', 'delta', 'angles'):
    np.testing.assert_array_equal(out[k].numpy(), 0.0)
  angles, translation = camera.default_pose(1)
  np.testing.assert_allclose(out['translation'].numpy(), np.broadcast_to(translation.numpy(), (2, 3, 3)),
                             rtol=1e-6)
  np.testing.assert_allclose(out['sh'].numpy(), np.broadcast_to(lighting.ambient_sh(1.0), (2, 3, 9, 3)),
                             rtol=1e-6)


def test_encoder_rejects_bad_input_shapes():
  enc = encoder_lib.MultiFrameEncoder(encoder_lib.EncoderConfig('small', 32, 0.5, 16), TINY)
  with pytest.raises(ValueError, match=r'\[B, F, S, S, 3\]'):
    enc(tf.zeros([2, 32, 32, 3]))
  with pytest.raises(ValueError, match='tower'):
    encoder_lib.EncoderConfig('vgg')


def test_tower_flops_small_is_far_cheaper_than_paper_tower():
  small = encoder_lib.tower_flops(encoder_lib.EncoderConfig.small())
  paper = encoder_lib.tower_flops(encoder_lib.EncoderConfig.paper())
  # 64 px small tower: first layer alone 32 * 32 * 16 * 3 * 9 MACs.
  assert small > 32 * 32 * 16 * 27 and paper > 100 * small


def test_resnet_tower_runs_on_small_input():
  enc = encoder_lib.MultiFrameEncoder(encoder_lib.EncoderConfig('resnet', 32, 0.125, 8), TINY)
  out = enc(tf.random.uniform([1, 2, 32, 32, 3], seed=2))
  assert out['features'].shape == (1, 2, 64)
