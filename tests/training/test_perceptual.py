"""The perceptual loss (Eq. 9) through dlib's face ResNet, as the trainer computes it."""

import dataclasses

import numpy as np
import tensorflow as tf

from data import synthetic_stream
from tests.training import tiny
from training import config as config_lib
from training import trainer as trainer_lib

_STAGE = config_lib.StageConfig(name='combined', steps=1, learning_rate=1e-3, trainable=('tower',),
                                losses=('perceptual',), data='video')


def _batch():
  stream = synthetic_stream.make_stream('video', batch_size=1, num_frames=2, count=1, prefetch=False)
  item = next(iter(stream))
  return {k: tf.convert_to_tensor(v) for k, v in item.items()}


def test_perceptual_term_is_zero_for_the_input_itself_and_positive_otherwise_with_gradients():
  batch = _batch()
  features_fn = trainer_lib.perceptual_features_fn('dlib')
  weights = config_lib.LossWeights(perceptual=1.0)
  edges = tf.zeros([0, 2], tf.int32)
  mask = tf.ones(batch['image'].shape[:-1] + (1,), tf.float32)
  _, same = trainer_lib.compute_losses({'image': batch['image'], 'mask': mask}, batch, _STAGE, weights,
                                       edges, features_fn)
  np.testing.assert_allclose(same['perceptual'].numpy(), 0.0, atol=1e-5)
  render = tf.Variable(tf.clip_by_value(batch['image'] * 0.6 + 0.2, 0.0, 1.0))
  with tf.GradientTape() as tape:
    total, terms = trainer_lib.compute_losses({'image': render, 'mask': mask}, batch, _STAGE, weights, edges,
                                              features_fn)
  assert float(terms['perceptual'][0]) > 1e-3
  grad = tape.gradient(total, render).numpy()
  assert np.isfinite(grad).all() and np.abs(grad).max() > 0
  # Only the face chip (around the landmarks) reaches the network: the image corners get no gradient.
  assert np.abs(grad[0, 0, :8, :8]).max() == 0


def test_trainer_turns_the_perceptual_loss_on_when_its_weight_is_positive(tmp_path):
  cfg = dataclasses.replace(tiny.TINY, losses=dataclasses.replace(tiny.TINY.losses, perceptual=0.1))
  if not any('perceptual' in s.losses for s in cfg.stages):
    cfg = dataclasses.replace(cfg, stages=tuple(
        dataclasses.replace(s, losses=s.losses + ('perceptual',)) if s.name == 'combined' else s
        for s in cfg.stages))
  assert trainer_lib.Trainer(cfg, tmp_path / 'on', progress=False).features_fn is not None
  off = dataclasses.replace(cfg, losses=dataclasses.replace(cfg.losses, perceptual=0.0))
  assert trainer_lib.Trainer(off, tmp_path / 'off', progress=False).features_fn is None
