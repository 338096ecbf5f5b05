r"""Supervised probe: how much of the synthetic world's truth can the encoder read from its inputs?

  python -m training.probe --target=all --encoder=small --minutes=10 --output=docs/probe/small.json
  python -m training.probe --target=all --encoder=small_image_only --minutes=10    # the paper's design

Trains a fresh encoder (``model.encoder.MultiFrameEncoder`` in one of its named configurations,
``ENCODERS``) by plain regression on the ground truth of the synthetic stream, then reports the coefficient
of determination R^2 of each target dimension on held-out samples (another world seed):

* ``identity``: the first ``--modes`` ICT identity weights of each sample (least-squares projection of the
  true neutral mesh on the ICT identity deltas), read from the encoder's ``alpha``;
* ``expression``: the 53 ICT blendshape weights of each frame, from ``delta``;
* ``pose``: pitch, yaw, roll (radians) of each frame, from ``angles``;
* ``all``: the three at once (each term's squared error divided by its target's variance).

Encoder inputs are what a user has: the frames and their 68 landmarks (here the synthetic world's projected
landmarks; ``--landmark_noise`` adds Gaussian pixel noise, a detector's error). Beside the encoder the probe
reports the *landmark ridge bound*: a ridge regression from the same landmarks (similarity-normalised as the
encoder's landmark branch sees them, ``model.encoder.landmark_features``; identity from the N_f frames'
features side by side) fitted on the training samples the encoder saw, scored on the same held-out set.

This bounds what self-supervised training can learn in the same number of samples: an encoder that cannot
regress the identity with the answer given cannot learn it through the losses either. Results in
``docs/probe/``.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)

import json
import pathlib
import time

from absl import flags
import numpy as np

FLAGS = flags.FLAGS
TARGETS = ('identity', 'expression', 'pose')
ENCODERS = ('small', 'small_image_only', 'paper', 'paper_image_only')
HELDOUT_SEED = 1000
RIDGE_LAMBDA = 1.0  # on standardised features
MAX_RIDGE_SAMPLES = 6000


def define_flags() -> None:
  """The CLI's flags (defined only when run as a program, so that importing this module defines none)."""
  flags.DEFINE_enum('target', 'all', ['all', *TARGETS], 'What to regress.')
  flags.DEFINE_enum('encoder', 'small', ENCODERS, 'Named encoder configuration (EncoderConfig.<name>()).')
  flags.DEFINE_integer('steps', 100_000, 'Training steps (at most; --minutes also ends training).')
  flags.DEFINE_float('minutes', 10.0, 'Training time budget, minutes (the time of the steps only).')
  flags.DEFINE_integer('batch_size', 8, 'Samples per step (N_f frames each).')
  flags.DEFINE_integer('input_size', 0, "Encoder input side, pixels (0: the configuration's).")
  flags.DEFINE_integer('modes', 10, 'Identity modes regressed.')
  flags.DEFINE_integer('heldout', 64, 'Held-out samples for R^2.')
  flags.DEFINE_float('learning_rate', 1e-3, 'Adam step size.')
  flags.DEFINE_float('landmark_noise', 0.0, 'Std of Gaussian noise added to the input landmarks, pixels.')
  flags.DEFINE_integer('seed', 0, 'Initialisation seed.')
  flags.DEFINE_string('output', None, 'Optional JSON path.')


def r_squared(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Per-column coefficient of determination of ``predicted`` [n, d] for ``target`` [n, d]:
  ``1 - mean((p - t)^2) / var(t)`` (1 exact, 0 no better than the mean, < 0 worse)."""
  predicted, target = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
  return 1.0 - ((predicted - target) ** 2).mean(0) / np.maximum(target.var(0), 1e-12)


def ridge_fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                      lam: float = RIDGE_LAMBDA) -> np.ndarray:
  """Ridge regression on standardised features: fit on (train_x [n, p], train_y [n, d]), predict test_x."""
  mu, sd = train_x.mean(0), train_x.std(0) + 1e-8
  a, b = (train_x - mu) / sd, (test_x - mu) / sd
  y_mu = train_y.mean(0)
  w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (train_y - y_mu))
  return b @ w + y_mu


def encoder_config(name: str, input_size: int = 0):
  from model import encoder as encoder_lib  # pylint: disable=g-import-not-at-top
  if name not in ENCODERS:
    raise ValueError(f'Unknown encoder {name!r}; expected one of {ENCODERS}')
  cfg = getattr(encoder_lib.EncoderConfig, name)()
  if input_size:
    import dataclasses  # pylint: disable=g-import-not-at-top
    cfg = dataclasses.replace(cfg, input_size=input_size)
  return cfg


def make_targets(modes: int):
  """{target: (function batch -> truth [B, d] or [B, F, d], encoder output key, width, per_sample)}."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from data import synthetic_stream  # pylint: disable=g-import-not-at-top
  world = synthetic_stream.SyntheticWorld()
  basis = world.identity.numpy()[:modes].reshape(modes, -1)  # [K, 3N]
  projector = tf.constant(np.linalg.pinv(basis.T).T, tf.float32)  # [3N, K]
  mean = tf.reshape(world.mean, [-1])

  def identity(batch):
    n = batch['gt_neutral_vertices']
    return tf.matmul(tf.reshape(n, [tf.shape(n)[0], -1]) - mean, projector)
  return {'identity': (identity, 'alpha', modes, True),
          'expression': (lambda batch: batch['gt_expression'], 'delta', 53, False),
          'pose': (lambda batch: batch['gt_angles'], 'angles', 3, False)}


def run(target: str, steps: int, batch_size: int, encoder: str = 'small', modes: int = 10,
        heldout: int = 64, learning_rate: float = 1e-3, progress: bool = True, seed: int = 0,
        minutes: float = 0.0, input_size: int = 0, landmark_noise: float = 0.0) -> dict:
  """Trains the probe and returns per target ``{'r2': [d], 'r2_mean', 'ridge_r2_mean', ...}``.

  ``target``: one of ``TARGETS`` or 'all'; training stops after ``steps`` or ``minutes`` (> 0).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tqdm  # pylint: disable=g-import-not-at-top
  from data import synthetic_stream  # pylint: disable=g-import-not-at-top
  from model import config as model_config  # pylint: disable=g-import-not-at-top
  from model import encoder as encoder_lib  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(seed)
  cfg = encoder_config(encoder, input_size)
  enc = encoder_lib.MultiFrameEncoder(cfg, model_config.PAPER)
  all_targets = make_targets(modes)
  names = list(TARGETS) if target == 'all' else [target]
  targets = {n: all_targets[n] for n in names}
  optimizer = tf.keras.optimizers.Adam(learning_rate)
  side = model_config.PAPER.image_size
  noise_rng = np.random.default_rng(seed + 7)

  def noisy(landmarks):
    lm = np.asarray(landmarks, np.float32)
    return lm + noise_rng.normal(0, landmark_noise, lm.shape).astype(np.float32) if landmark_noise else lm

  train = iter(synthetic_stream.make_stream('video', batch_size=batch_size, seed=0, groundtruth=True,
                                            parallel=2))
  test = list(synthetic_stream.make_stream('video', batch_size=batch_size, seed=HELDOUT_SEED,
                                           groundtruth=True, count=heldout, parallel=2))
  warm = [next(train) for _ in range(8)]  # target scales and landmark statistics (training samples only)
  enc.adapt_landmarks(np.concatenate([noisy(b['landmarks']) for b in warm]), side)
  scale = {n: float(np.var(np.concatenate([fn(b).numpy().reshape(-1, w) for b in warm]), 0).mean() + 1e-8)
           for n, (fn, _, w, _) in targets.items()}

  @tf.function
  def step(images, landmarks, truths):
    with tf.GradientTape() as tape:
      out = enc(images, landmarks if cfg.landmark_input else None, training=True)
      loss = tf.add_n([tf.reduce_mean(tf.square(out[targets[n][1]][..., :targets[n][2]] - truths[n]))
                       / scale[n] for n in names])
    grads = tape.gradient(loss, enc.trainable_variables)
    optimizer.apply_gradients((g, v) for g, v in zip(grads, enc.trainable_variables) if g is not None)
    return loss

  landmark_features = tf.function(lambda lm: encoder_lib.landmark_features(lm, side))

  def ridge_inputs(batch, landmarks):
    b, f = landmarks.shape[:2]
    feats = landmark_features(tf.reshape(landmarks, [-1, 68, 2])).numpy().reshape(b, f, -1)
    return feats

  seen_x, seen_y = [], {n: [] for n in names}
  start, done = time.time(), 0
  bar = tqdm.tqdm(total=steps, desc=f'probe {encoder}', disable=not progress)
  pending = warm
  while done < steps and (minutes <= 0 or time.time() - start < 60 * minutes):
    batch = pending.pop() if pending else next(train)
    landmarks = noisy(batch['landmarks'])
    truths = {n: fn(batch) for n, (fn, _, _, _) in targets.items()}
    step(batch['image'], tf.constant(landmarks), truths)
    if sum(len(x) for x in seen_x) < MAX_RIDGE_SAMPLES:
      seen_x.append(ridge_inputs(batch, landmarks))
      for n in names:
        seen_y[n].append(truths[n].numpy())
    done += 1
    bar.update(1)
  bar.close()
  seconds = time.time() - start
  preds = {n: [] for n in names}
  truth = {n: [] for n in names}
  test_x = []
  for b in test:
    landmarks = noisy(b['landmarks'])
    out = enc(b['image'], tf.constant(landmarks) if cfg.landmark_input else None)
    test_x.append(ridge_inputs(b, landmarks))
    for n, (fn, key, width, _) in targets.items():
      preds[n].append(out[key][..., :width].numpy().reshape(-1, width))
      truth[n].append(fn(b).numpy().reshape(-1, width))
  train_x, test_x = np.concatenate(seen_x), np.concatenate(test_x)
  result = {'encoder': encoder, 'encoder_config': cfg.to_dict(), 'steps': done, 'batch_size': batch_size,
            'samples': done * batch_size, 'seconds': seconds, 'landmark_noise_px': landmark_noise,
            'targets': {}}
  for n, (_, _, width, per_sample) in targets.items():
    r2 = r_squared(np.concatenate(preds[n]), np.concatenate(truth[n]))
    # Ridge bound: identity from the frames' features side by side, the rest per frame.
    flat = (lambda x: x.reshape(len(x), -1)) if per_sample else (lambda x: x.reshape(-1, x.shape[-1]))
    ridge = r_squared(ridge_fit_predict(flat(train_x), np.concatenate(seen_y[n]).reshape(-1, width),
                                        flat(test_x)), np.concatenate(truth[n]))
    result['targets'][n] = {'r2': r2.tolist(), 'r2_mean': float(r2.mean()), 'r2_min': float(r2.min()),
                            'ridge_r2': ridge.tolist(), 'ridge_r2_mean': float(ridge.mean())}
  return result


def format_table(result: dict) -> str:
  lines = [f'probe: encoder {result["encoder"]}, {result["steps"]} steps x {result["batch_size"]} samples '
           f'in {result["seconds"] / 60:.1f} min, landmark noise {result["landmark_noise_px"]} px',
           '| target | held-out R^2 mean | min | landmark ridge bound (mean) | per dimension (first 10) |',
           '|---|---|---|---|---|']
  for n, t in result['targets'].items():
    lines.append(f'| {n} | {t["r2_mean"]:.3f} | {t["r2_min"]:.3f} | {t["ridge_r2_mean"]:.3f} | '
                 f'{" ".join(f"{v:.2f}" for v in t["r2"][:10])} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  result = run(FLAGS.target, FLAGS.steps, FLAGS.batch_size, FLAGS.encoder, FLAGS.modes, FLAGS.heldout,
               FLAGS.learning_rate, seed=FLAGS.seed, minutes=FLAGS.minutes, input_size=FLAGS.input_size,
               landmark_noise=FLAGS.landmark_noise)
  print(format_table(result))
  if FLAGS.output:
    path = pathlib.Path(FLAGS.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f'written: {FLAGS.output}')


if __name__ == '__main__':
  define_flags()
  cli.run(main)
