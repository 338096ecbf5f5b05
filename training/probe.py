r"""Supervised probe: how much of the synthetic world's truth can the encoder read from the images?

  python -m training.probe --target=identity --steps=600 --input_size=64 --output=probe.json

Trains a fresh encoder (``model.encoder.MultiFrameEncoder``, the demo's small tower unless ``--tower``) by
plain regression on the ground truth of the synthetic stream, then reports the coefficient of
determination R^2 of each target dimension on held-out samples (another world seed):

* ``identity``: the first ``--modes`` ICT identity weights of each sample (least-squares projection of the
  true neutral mesh on the ICT identity deltas), read from the encoder's ``alpha``;
* ``expression``: the 53 ICT blendshape weights of each frame, from ``delta``;
* ``pose``: pitch, yaw, roll (radians) of each frame, from ``angles``.

This bounds what self-supervised training can learn in the same number of steps: an encoder that cannot
regress the identity from the pixels with the answer given cannot learn it through the losses either.
Measured on the 2-core VM (batch 8, Adam 2e-3, ``docs/probe/``): after 200 steps the pose reaches held-out
R^2 0.64 / 0.74 / 0.34 (pitch / yaw / roll), while after 400 steps the first 10 identity weights stay at
R^2 -0.09..-0.00 (the same regression in a scratch script: alike at 128 px input and with a deeper GroupNorm
tower, and the 53 expression weights too): in the ``demo`` budget the per-sample geometry is close to
unobservable for this encoder, which is why the demo's geometry gain over the mean template is small.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)

import json
import pathlib
import time

from absl import flags
import numpy as np

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The CLI's flags (defined only when run as a program, so that importing this module defines none)."""
  flags.DEFINE_enum('target', 'identity', ['identity', 'expression', 'pose'], 'What to regress.')
  flags.DEFINE_integer('steps', 600, 'Training steps.')
  flags.DEFINE_integer('batch_size', 8, 'Samples per step (N_f frames each).')
  flags.DEFINE_integer('input_size', 64, "Encoder input side, pixels (the demo's: 64).")
  flags.DEFINE_enum('tower', 'small', ['small', 'resnet'], 'Encoder tower.')
  flags.DEFINE_integer('modes', 10, 'Identity modes regressed (target=identity).')
  flags.DEFINE_integer('heldout', 32, 'Held-out samples for R^2.')
  flags.DEFINE_float('learning_rate', 2e-3, 'Adam step size.')
  flags.DEFINE_string('output', None, 'Optional JSON path.')


HELDOUT_SEED = 1000


def r_squared(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Per-column coefficient of determination of ``predicted`` [n, d] for ``target`` [n, d]:
  ``1 - mean((p - t)^2) / var(t)`` (1 exact, 0 no better than the mean, < 0 worse)."""
  predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
  return 1.0 - ((predicted - target) ** 2).mean(0) / np.maximum(target.var(0), 1e-12)


def make_targets(target: str, modes: int):
  """(function batch -> target tensor [B, d] or [B, F, d], encoder output key, slice width)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import synthetic_stream  # pylint: disable=g-import-not-at-top
  if target == 'identity':
    world = synthetic_stream.SyntheticWorld()
    basis = world.identity.numpy()[:modes].reshape(modes, -1)  # [K, 3N]
    projector = tf.constant(np.linalg.pinv(basis.T).T, tf.float32)  # [3N, K]
    mean = tf.reshape(world.mean, [-1])

    def fn(batch):
      d = tf.reshape(batch['gt_neutral_vertices'], [tf.shape(batch['gt_neutral_vertices'])[0], -1]) - mean
      return tf.matmul(d, projector)
    return fn, 'alpha', modes
  if target == 'expression':
    return (lambda batch: batch['gt_expression']), 'delta', 53
  return (lambda batch: batch['gt_angles']), 'angles', 3


def run(target: str, steps: int, batch_size: int, input_size: int, tower: str, modes: int, heldout: int,
        learning_rate: float, progress: bool = True, seed: int = 0) -> dict:
  """Trains the probe (initialisation from ``seed``) and returns ``{'r2': [d], 'r2_mean', ...}``."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tqdm  # pylint: disable=g-import-not-at-top
  from data import synthetic_stream  # pylint: disable=g-import-not-at-top
  from model import config as model_config  # pylint: disable=g-import-not-at-top
  from model import encoder as encoder_lib  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(seed)
  base = encoder_lib.EncoderConfig.small() if tower == 'small' else encoder_lib.EncoderConfig.paper()
  cfg = encoder_lib.EncoderConfig(tower, input_size, base.width, base.hidden, base.coefficient_scale)
  encoder = encoder_lib.MultiFrameEncoder(cfg, model_config.PAPER)
  target_fn, key, width = make_targets(target, modes)
  optimizer = tf.keras.optimizers.Adam(learning_rate)

  @tf.function
  def step(images, truth):
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(encoder(images, training=True)[key][..., :width] - truth))
    grads = tape.gradient(loss, encoder.trainable_variables)
    optimizer.apply_gradients((g, v) for g, v in zip(grads, encoder.trainable_variables) if g is not None)
    return loss

  train = synthetic_stream.make_stream('video', batch_size=batch_size, seed=0, groundtruth=True, parallel=2)
  test = list(synthetic_stream.make_stream('video', batch_size=batch_size, seed=HELDOUT_SEED,
                                           groundtruth=True, count=heldout, parallel=2))
  start = time.time()
  for batch in tqdm.tqdm(train.take(steps), total=steps, desc='probe', disable=not progress):
    step(batch['image'], target_fn(batch))
  seconds = time.time() - start
  pred = np.concatenate([encoder(b['image'])[key][..., :width].numpy().reshape(-1, width) for b in test])
  truth = np.concatenate([target_fn(b).numpy().reshape(-1, width) for b in test])
  r2 = r_squared(pred, truth)
  return {'target': target, 'steps': steps, 'batch_size': batch_size, 'input_size': input_size,
          'tower': tower, 'r2': r2.tolist(), 'r2_mean': float(r2.mean()), 'r2_max': float(r2.max()),
          'seconds': seconds}


def main(argv):
  del argv
  result = run(FLAGS.target, FLAGS.steps, FLAGS.batch_size, FLAGS.input_size, FLAGS.tower, FLAGS.modes,
               FLAGS.heldout, FLAGS.learning_rate)
  print('| target | steps x batch | input | held-out R^2 mean | max | per dimension (first 10) |')
  print('|---|---|---|---|---|---|')
  print(f'| {result["target"]} | {result["steps"]} x {result["batch_size"]} | {result["input_size"]} px | '
        f'{result["r2_mean"]:.3f} | {result["r2_max"]:.3f} | '
        f'{" ".join(f"{v:.2f}" for v in result["r2"][:10])} |')
  if FLAGS.output:
    pathlib.Path(FLAGS.output).write_text(json.dumps(result, indent=1))
    print(f'written: {FLAGS.output}')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
