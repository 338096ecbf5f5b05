"""The training loop and curriculum (paper Sec. 4.1), used by ``python -m training.main``.

``Trainer(config, run_dir, data='synthetic', ...)`` holds the autoencoder (built under the distribution
strategy's scope) and runs stages: ``trainer.run_stage('pose')``. A stage:

* starts from its own newest checkpoint (resume: step, optimiser state, input position), else from the
  previous stage's final checkpoint in the same run folder, else from the random initialisation;
* draws its input from the synthetic stream (``data.synthetic_stream``; the stream position is
  ``step * batch_size``, so a resumed run continues with exactly the samples it had not seen) or from
  prepared TFRecords (``data.pipeline``; resumed by skipping the consumed elements);
* runs a ``tf.function`` step: per-replica losses (``compute_losses``), gradients summed over replicas,
  a step whose loss or gradients are not finite is skipped (counted and logged; ``max_bad_steps`` in a
  row stop the run with ``TrainingDiverged``, leaving the last good checkpoint in place), global-norm
  clipping, Adam (``Adam``: applied in cross-replica context, so the same code runs under the default
  strategy and ``MirroredStrategy``);
* checkpoints every ``checkpoint_every`` steps, at the end, and on SIGINT / SIGTERM;
* writes TensorBoard scalars (each loss term, total, learning rate, step time, gradient norm, skipped
  steps) and image grids (input, render, overlay with landmarks and lip contours, shaded geometry, albedo,
  expression-only geometry) to ``<run_dir>/events/<stage>``;
* at its end exports the learned model (``<run_dir>/export/<stage>.npz``, ``model.export``) and the
  Figure-1 grids of the learned bases (``<run_dir>/figures/<stage>_<basis>.png``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import shutil
import signal
import socket
import time
import typing

import numpy as np
import tensorflow as tf
import tqdm
from google.protobuf import message

from data import pipeline
from data import schema
from data import synthetic_stream
from model import autoencoder as autoencoder_lib
from model import export
from model import lighting
from model import visualize
from training import config as config_lib
from training import losses

log = logging.getLogger('training')


class TrainingDiverged(RuntimeError):
  """Too many non-finite steps in a row."""


class InputError(ValueError):
  """Unusable input data or run folder (message says what to do)."""


class OutputError(RuntimeError):
  """The run folder cannot be written (disk full, read-only): the message says what was kept."""


# ----------------------------------------------------------------------------------------- optimiser


class Adam(tf.Module):
  """Adam (Kingma & Ba) with per-variable learning-rate scales and a cosine decay to 10%.

  ``apply(grads)`` must run in cross-replica context (or without a strategy): it assigns the mirrored
  variables directly, so every replica holds the same values. Plain variables are updated by TensorFlow's
  fused ``ResourceApplyAdam`` kernel (one multi-threaded pass over var, m and v), with its epsilon scaled
  so that the update is exactly ``lr s m_hat / (sqrt(v_hat) + eps)``; distributed (mirrored) variables
  through the equivalent assignments.
  """

  def __init__(self, variables: typing.Sequence[tf.Variable], learning_rate: float, total_steps: int,
               scales: typing.Sequence[float], beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    super().__init__(name='adam')
    self.variables_ = list(variables)
    self.learning_rate, self.total_steps = float(learning_rate), max(int(total_steps), 1)
    self.scales = [float(s) for s in scales]
    self.beta1, self.beta2, self.eps = beta1, beta2, eps
    self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name='iterations')
    self.m = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f'm{i}')
              for i, v in enumerate(self.variables_)]
    self.v = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f'v{i}')
              for i, v in enumerate(self.variables_)]

  def current_learning_rate(self, step=None) -> tf.Tensor:
    t = tf.cast(self.iterations if step is None else step, tf.float32)
    progress = tf.minimum(t / self.total_steps, 1.0)
    return self.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + tf.cos(math.pi * progress)))

  def apply(self, grads: typing.Sequence[tf.Tensor]) -> tf.Tensor:
    lr = self.current_learning_rate()
    self.iterations.assign_add(1)
    t = tf.cast(self.iterations, tf.float32)
    c1, c2 = 1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t
    b1_power, b2_power = self.beta1 ** t, self.beta2 ** t
    eps_hat = self.eps * tf.sqrt(c2)  # ResourceApplyAdam: lr sqrt(c2) / c1 * m / (sqrt(v) + eps_hat)
    for var, g, m, v, s in zip(self.variables_, grads, self.m, self.v, self.scales):
      if isinstance(var, tf.distribute.DistributedValues):
        m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
        v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
        var.assign_sub(lr * s * (m / c1) / (tf.sqrt(v / c2) + self.eps))
        continue
      tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=b1_power,
                                   beta2_power=b2_power, lr=lr * s, beta1=self.beta1, beta2=self.beta2,
                                   epsilon=eps_hat, grad=tf.convert_to_tensor(g, var.dtype))
    return lr


# -------------------------------------------------------------------------------------------- losses


# Loss terms that read the rendered image; a stage without them (pose) skips image formation.
IMAGE_TERMS = frozenset({'lip', 'photometric', 'perceptual'})
# Frames whose landmarks set the encoder's landmark standardisation at the start of a fresh run.
ADAPT_LANDMARK_FRAMES = 512


def active_terms(stage: config_lib.StageConfig, weights: config_lib.LossWeights) -> set[str]:
  """The stage's loss terms with a non-zero weight."""
  return {t for t in stage.losses if getattr(weights, t) > 0}


def compute_losses(out: dict, batch: dict, stage: config_lib.StageConfig, weights: config_lib.LossWeights,
                   graph_edges: tf.Tensor, features_fn=None) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
  """Weighted per-sample total [B] and the unweighted per-sample terms {name: [B]} of a stage (terms whose
  weight is 0, an ablation, are neither computed nor reported)."""
  terms = {}
  used = active_terms(stage, weights)
  if 'landmark' in used:
    terms['landmark'] = losses.landmark_loss(out['landmarks2d'], batch['landmarks'])
  if 'landmark_mean' in used:
    terms['landmark_mean'] = losses.landmark_loss(out['mean_landmarks2d'], batch['landmarks'])
  if 'lip' in used and weights.lip > 0:
    terms['lip'] = losses.lip_segmentation_loss(
        out['outer_lip_contours'], out['inner_lip_pixels'], out['pixel_positions'], batch['lip_distance'],
        batch['lip_contours'], batch['lip_contour_lengths'], threshold=weights.lip_threshold)
  if 'photometric' in used:
    terms['photometric'] = losses.photometric_loss(batch['image'], out['image'], out['mask'])
  if 'perceptual' in used and weights.perceptual > 0 and features_fn is not None:
    f = tf.shape(batch['image'])[1]
    flat = lambda x: tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
    mask = flat(out['mask'])
    rendered = flat(out['image']) * mask + flat(batch['image']) * (1.0 - mask)
    # Both images are cut with the input's landmarks, so their features are compared pixel-aligned.
    landmarks = flat(batch['landmarks'])
    terms['perceptual'] = losses.perceptual_loss(
        features_fn(rendered, landmarks), features_fn(flat(batch['image']), landmarks), f)
  if 'smoothness' in used:
    terms['smoothness'] = losses.smoothness_loss(out['graph_deformation'], graph_edges)
  if 'disentanglement' in used:
    terms['disentanglement'] = losses.disentanglement_loss(out['delta'], batch['is_neutral'])
  if 'coefficients' in used:
    terms['coefficients'] = losses.coefficient_loss(out['alpha'], out['beta'], out['delta'])
  total = tf.add_n([getattr(weights, k) * v for k, v in terms.items()])
  return total, terms


def perceptual_features_fn(spec: str = 'dlib'):
  """The feature function of the perceptual loss (Eq. 9): ``fn(images, landmarks) -> five feature maps``.

  Args:
    spec: ``'dlib'`` (default): dlib's face ResNet in Keras (``model.face_features``, frozen), on 150 px chips
      aligned with dlib's ``get_face_chip_details`` from the landmarks (differentiable bilinear resampling);
      ``'vgg16:PATH'``: a user's Keras VGG16 ImageNet weights (the paper's choice) on the whole image.

  Returns:
    A function of images [N, S, S, 3] in [0, 1] and landmarks [N, 68, 2] (pixels) returning the maps
    l = 0..4.
  """
  from model import face_features  # pylint: disable=g-import-not-at-top  (loads weights: only when used)
  net = face_features.load_perceptual_net(spec)
  if spec == 'dlib':
    return lambda images, landmarks: net.feature_maps(face_features.align_faces(images, landmarks))
  return lambda images, landmarks: net.feature_maps(images)


# --------------------------------------------------------------------------------------------- input


def check_records(patterns) -> list[str]:
  """The files of a data glob, with their schema version checked; raises ``InputError``."""
  try:
    files = pipeline.list_files(patterns)
  except FileNotFoundError as e:
    raise InputError(f'{e} Pass --data=synthetic or a glob of TFRecords written by `python -m data.prepare`.')
  nonempty = [f for f in files if os.path.getsize(f) > 0]
  if not nonempty:
    raise InputError(f'The TFRecord files matching {patterns!r} are all empty; re-run data.prepare.')
  unreadable = []
  for path in nonempty:  # the first file whose first record reads (bad records later are skipped, counted)
    try:
      first = next(iter(tf.data.TFRecordDataset([path]).take(1)), None)
      ex = tf.train.Example.FromString(first.numpy()) if first is not None else None
    except (tf.errors.OpError, message.DecodeError):
      ex = None
    if ex is None:
      unreadable.append(path)
      continue
    feature = ex.features.feature.get('meta/schema_version')
    version = feature.int64_list.value[0] if feature is not None and feature.int64_list.value else None
    if version != schema.SCHEMA_VERSION:
      raise InputError(f'{path}: records of schema version {version}, this code reads version '
                       f'{schema.SCHEMA_VERSION}; re-run `python -m data.prepare` on the sources.')
    if unreadable:
      log.warning('%d file(s) of %r start with an unreadable record: %s', len(unreadable), patterns,
                  ', '.join(unreadable[:5]))
    return nonempty
  raise InputError(f'None of the {len(nonempty)} TFRecord file(s) matching {patterns!r} starts with a '
                   f'readable record ({nonempty[0]}, ...): they are truncated, corrupt or no TFRecords; '
                   're-run `python -m data.prepare`.')


def make_input(stage: config_lib.StageConfig, cfg: config_lib.TrainConfig, data: str,
               neutral_data: typing.Optional[str], position: int, deterministic: bool = False,
               max_bad_records: int = pipeline.DEFAULT_MAX_BAD_RECORDS):
  """The stage's dataset (batched to the global batch), starting at stream ``position`` (samples).

  TFRecord input skips and counts bad records (``pipeline.make_dataset(skip_bad_records=...)``): its
  elements carry ``record_ok``, ``bad_records`` and ``bad_source``, which ``Trainer.run_stage`` reads.
  """
  nf, bs = cfg.model.num_frames, cfg.stage_batch_size(stage.name)
  if data == 'synthetic':
    if stage.sample_pool:
      return synthetic_stream.make_pooled_stream(stage.data, stage.sample_pool, batch_size=bs, start=position,
                                                 seed=cfg.seed, num_frames=nf, parallel=2)
    return synthetic_stream.make_stream(stage.data, batch_size=bs, start=position, seed=cfg.seed,
                                        num_frames=nf, parallel=2)
  video = check_records(data)
  neutral = check_records(neutral_data) if neutral_data else None
  common = dict(num_frames=nf, batch_size=None, deterministic=deterministic, seed=cfg.seed,
                skip_bad_records=max_bad_records)
  if stage.data == 'neutral':
    ds = pipeline.make_dataset(neutral or video, **common)
  elif stage.data == 'combined' and neutral:
    ds = pipeline.make_mixed_dataset(video, neutral, **common)
  else:
    ds = pipeline.make_dataset(video, **common)
  return ds.skip(position).batch(bs, drop_remainder=True).prefetch(2)


# ------------------------------------------------------------------------------------------ summaries


def _metadata(plugin: str) -> bytes:
  from tensorflow.core.framework import summary_pb2  # pylint: disable=g-import-not-at-top
  m = summary_pb2.SummaryMetadata()
  m.plugin_data.plugin_name = plugin
  return m.SerializeToString()


_SCALAR_META, _IMAGE_META = _metadata('scalars'), _metadata('images')


def write_scalar(tag: str, value, step: int) -> None:
  """A TensorBoard scalar (the scalars plugin's format, written with the core ``tf.summary.write`` so the
  ``tensorboard`` package is not needed to write events)."""
  tf.summary.write(tag, tf.constant(float(value), tf.float32), step=step, metadata=_SCALAR_META)


def write_image(tag: str, image: np.ndarray, step: int) -> None:
  """A TensorBoard image ([H, W, 3] float in [0, 1]; the images plugin's [width, height, png] format)."""
  png = tf.io.encode_png(visualize.to_uint8(image))
  data = tf.stack([tf.as_string(image.shape[1]), tf.as_string(image.shape[0]), png])
  tf.summary.write(tag, data, step=step, metadata=_IMAGE_META)


# --------------------------------------------------------------------------------------------- images


def _grey_render(ae, vertices, angles, translation):
  b = tf.shape(vertices)[0]
  albedo = tf.fill(tf.shape(vertices), 0.7)
  sh = lighting.directional_sh([-0.4, 0.4, 1.0], 0.6, 0.45, 1)
  from model import image_formation  # pylint: disable=g-import-not-at-top
  return image_formation.render(vertices, albedo, (angles, translation), tf.tile(sh, [b, 1, 1]), ae.camera,
                                ae.mesh)['image']


def summary_grid(ae: autoencoder_lib.Autoencoder, batch: dict, out: dict) -> np.ndarray:
  """One row per frame of sample 0: input | render | overlay (landmarks green = target, red = model;
  lip contours yellow) | shaded geometry | albedo | expression-only geometry (mean identity)."""
  f = out['image'].shape[1]
  inp = batch['image'][0].numpy()
  render = out['image'][0].numpy()
  mask = out['mask'][0].numpy()
  overlay = render * mask + inp * (1 - mask)
  geometry = _grey_render(ae, out['vertices'][0], out['angles'][0], out['translation'][0]).numpy()
  expr_only = ae.face_model.mean_vertices + out['expression_deformation'][0]
  expr_geometry = _grey_render(ae, expr_only, out['angles'][0], out['translation'][0]).numpy()
  albedo = out['albedo_image'][0].numpy()
  rows = []
  for i in range(f):
    ov = visualize.draw_landmarks(overlay[i], batch['landmarks'][0, i].numpy(), (0, 255, 0))
    ov = visualize.draw_landmarks(ov, out['landmarks2d'][0, i].numpy(), (255, 0, 0))
    for c in out['outer_lip_contours'][0, i].numpy():
      ov = visualize.draw_landmarks(ov, c, (255, 255, 0))
    rows += [visualize.to_uint8(inp[i]), visualize.to_uint8(render[i]), ov, visualize.to_uint8(geometry[i]),
             visualize.to_uint8(albedo[i]), visualize.to_uint8(expr_geometry[i])]
  return visualize.image_grid(np.stack([r.astype(np.float32) / 255.0 for r in rows]), f, 6)


# --------------------------------------------------------------------------------------------- trainer


class Trainer:
  """Owns the model, the strategy and the run folder; ``run_stage(name)`` trains one stage."""

  def __init__(self, cfg: config_lib.TrainConfig, run_dir, data: str = 'synthetic',
               neutral_data: typing.Optional[str] = None,
               strategy: typing.Optional[tf.distribute.Strategy] = None,
               checkpoint_every: typing.Optional[int] = None, deterministic: bool = False,
               features_fn=None, progress: bool = True,
               max_bad_records: int = pipeline.DEFAULT_MAX_BAD_RECORDS):
    self.cfg, self.data, self.neutral_data = cfg, data, neutral_data
    self.max_bad_records = int(max_bad_records)
    if self.max_bad_records < 1:
      raise InputError(f'max_bad_records must be at least 1, got {max_bad_records}.')
    self.run_dir = prepare_run_dir(run_dir, cfg)
    self.strategy = strategy or tf.distribute.get_strategy()
    self.checkpoint_every = checkpoint_every or cfg.checkpoint_every
    self.deterministic, self.progress = deterministic, progress
    uses_perceptual = any('perceptual' in s.losses for s in cfg.stages) and cfg.losses.perceptual > 0
    if features_fn is None and uses_perceptual:
      features_fn = perceptual_features_fn('dlib')
    self.features_fn = features_fn
    if data != 'synthetic':
      check_records(data)
      if neutral_data:
        check_records(neutral_data)
    with self.strategy.scope():
      self.ae = autoencoder_lib.Autoencoder(cfg.model, cfg.encoder, seed=cfg.seed,
                                            basis_init_stddev=cfg.basis_init_stddev)
      self.ae.build_all()
    self._stop_signal = None
    self.bad_steps_total = 0
    self.bad_records_total = 0
    self._reported_files = set()

  # ---------------------------------------------------------------------------------------- helpers

  def stage_dir(self, name: str) -> pathlib.Path:
    return self.run_dir / autoencoder_lib.CHECKPOINT_DIR / name

  def _variables(self, stage: config_lib.StageConfig):
    groups = self.ae.variable_groups()
    variables, scales = [], []
    for g in stage.trainable:
      for v in groups[g]:
        variables.append(v)
        scales.append(self.cfg.basis_learning_rate_scale if g.startswith('M_') else 1.0)
    return variables, scales

  def _on_signal(self, signum, frame):  # pylint: disable=unused-argument
    self._stop_signal = signum

  def _make_step(self, stage, variables, optimizer, global_batch):
    ae, weights, strategy = self.ae, self.cfg.losses, self.strategy
    clip = self.cfg.gradient_clip_norm

    def replica_step(batch):
      with tf.GradientTape() as tape:
        out = ae(batch['image'], batch['landmarks'], training=True, force_neutral=stage.force_neutral,
                 render=bool(IMAGE_TERMS & active_terms(stage, weights)))
        total, terms = compute_losses(out, batch, stage, weights, ae.graph_edges, self.features_fn)
        loss = tf.reduce_sum(total) / global_batch
      grads = tape.gradient(loss, variables)
      grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
      terms = {k: tf.reduce_sum(v) / global_batch for k, v in terms.items()}
      return loss, terms, grads

    @tf.function
    def step(batch):
      loss, terms, grads = strategy.run(replica_step, (batch,))
      red = lambda x: strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=None)
      loss = red(loss)
      terms = {k: red(v) for k, v in terms.items()}
      grads = [red(g) for g in grads]
      finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads] + [tf.math.is_finite(loss)])
      norm = tf.linalg.global_norm(grads)
      grads, _ = tf.clip_by_global_norm(grads, clip, use_norm=tf.where(finite, norm, 1.0))
      lr = tf.cond(finite, lambda: optimizer.apply(grads), optimizer.current_learning_rate)
      return {'total': loss, 'terms': terms, 'finite': finite, 'grad_norm': norm, 'lr': lr}

    return step

  # ------------------------------------------------------------------------------------------- stage

  def run_stage(self, name: str, steps: typing.Optional[int] = None,
                stop_at: typing.Optional[int] = None) -> dict:
    """Trains stage ``name`` up to ``steps`` (default: the stage's length); returns a summary dict.

    ``stop_at``: pause after this step (checkpoint saved, no export), as an interruption would; the
    learning-rate schedule still spans ``steps``.
    """
    stage = self.cfg.stage(name)
    total_steps = stage.steps if steps is None else int(steps)
    end = total_steps if stop_at is None else min(int(stop_at), total_steps)
    variables, scales = self._variables(stage)
    with self.strategy.scope():
      optimizer = Adam(variables, stage.learning_rate, total_steps, scales)
      step_var = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
      position = tf.Variable(0, dtype=tf.int64, trainable=False, name='input_position')
    ckpt = tf.train.Checkpoint(**{autoencoder_lib.CHECKPOINT_KEY: self.ae.checkpoint_tree()},
                               optimizer=optimizer, step=step_var, input_position=position)
    manager = tf.train.CheckpointManager(ckpt, str(self.stage_dir(name)), max_to_keep=3)
    started_from = self._restore(name, ckpt, manager)
    if started_from == 'initialisation':
      self._adapt_landmarks(stage)
    start = int(step_var.numpy())
    self._trim_history(name, start)
    if start >= end:
      log.warning('stage %s: already at step %d of %d; nothing to do', name, start, total_steps)
      return {'stage': name, 'steps': start, 'started_from': started_from, 'skipped': 0}
    perceptual_on = 'perceptual' in stage.losses and self.cfg.losses.perceptual > 0
    if 'perceptual' in stage.losses and not (perceptual_on and self.features_fn is not None):
      msg = ('perceptual loss (Eq. 9) is OFF in this configuration (lambda_per = 0; the face ResNet on the '
             'CPU would dominate the step); the other terms train as configured')
      log.warning(msg)
      print(f'[{name}] {msg}')
    global_batch = self.cfg.stage_batch_size(name)
    ds = make_input(stage, self.cfg, self.data, self.neutral_data, int(position.numpy()), self.deterministic,
                    self.max_bad_records)
    dist_ds = self.strategy.experimental_distribute_dataset(ds)
    step_fn = self._make_step(stage, variables, optimizer, global_batch)
    try:
      writer = tf.summary.create_file_writer(str(self.run_dir / 'events' / name))
    except (tf.errors.OpError, OSError) as e:
      raise OutputError(f'cannot write the TensorBoard events in {self.run_dir / "events" / name} '
                        f'({_reason(e)}); free space or fix the folder, then rerun the same '
                        'command.') from None
    old_handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    bad_in_row, skipped, history, bad_records = 0, 0, [], 0
    last_saved, last_total = start, None

    def save(number: int) -> None:  # the history first: a kill in between leaves rows that resume trims
      self._write_history(name, history)
      history.clear()
      self._save_checkpoint(manager, name, number)
    it = iter(dist_ds)
    bar = tqdm.tqdm(total=end, initial=start, desc=f'{name:>8s}', unit='step', dynamic_ncols=True,
                    disable=not self.progress, smoothing=0.1)
    try:
      for step in range(start, end):
        t0 = time.perf_counter()
        batch = next(it)
        if 'record_ok' in batch:
          bad_records += self._count_bad_records(name, batch)
        result = step_fn(batch)
        total = float(result['total'])
        dt = time.perf_counter() - t0
        step_var.assign(step + 1)
        position.assign((step + 1) * global_batch)
        if not bool(result['finite']):
          bad_in_row += 1
          skipped += 1
          self.bad_steps_total += 1
          log.warning('stage %s step %d: non-finite loss or gradients (loss %s); step skipped (%d in a row)',
                      name, step, total, bad_in_row)
          print(f'[{name}] step {step}: non-finite loss/gradients, step skipped ({bad_in_row} in a row)')
          if bad_in_row >= self.cfg.max_bad_steps:
            raise TrainingDiverged(
                f'stage {name}: {bad_in_row} non-finite steps in a row at step {step}; stopping. The last '
                f'good checkpoint is kept in {self.stage_dir(name)} (step {last_saved}). Lower the learning '
                f'rate or check the input data, then rerun the same command to resume.')
        else:
          bad_in_row = 0
        terms = {k: float(v) for k, v in result['terms'].items()}
        history.append({'step': step + 1, 'total': total, **terms})
        last_total = total
        try:
          if step % self.cfg.summary_every == 0 or step + 1 == total_steps:
            with writer.as_default():
              scalars = {'loss/total': total, **{f'loss/{k}': v for k, v in terms.items()},
                         'learning_rate': float(result['lr']), 'step_time_s': dt,
                         'grad_norm': float(result['grad_norm']), 'skipped_steps': skipped,
                         'skipped_records': bad_records}
              for k, v in scalars.items():
                write_scalar(k, v, step + 1)
          if step % self.cfg.image_every == 0 or step + 1 == total_steps:
            self._image_summary(writer, stage, batch, step + 1)
        except (tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError, OSError) as e:
          raise OutputError(f'cannot write the TensorBoard events of stage {name} ({_reason(e)}); the last '
                            f'checkpoint is step {last_saved}: free space, then rerun the same command to '
                            'resume.') from None
        bar.set_postfix(loss=f'{total:.4g}', refresh=False)
        bar.update(1)
        if (step + 1) % self.checkpoint_every == 0:
          save(step + 1)
          last_saved = step + 1
        if self._stop_signal is not None:
          save(step + 1)
          print(f'[{name}] signal {self._stop_signal}: checkpoint saved at step {step + 1} in '
                f'{self.stage_dir(name)}; rerun the same command to resume.')
          raise KeyboardInterrupt
    finally:
      del it  # stops the input pipeline's threads now, not at interpreter exit
      bar.close()
      try:
        writer.flush()
      except (tf.errors.OpError, OSError) as e:  # a full disk: the checkpoint's error, if any, says more
        log.warning('cannot write the TensorBoard events of stage %s: %s', name, e)
      for s, h in old_handlers.items():
        signal.signal(s, h)
    if last_saved != end:
      save(end)
    if end == total_steps:
      try:
        self.export_stage(name)
      except OSError as e:
        raise OutputError(f'cannot write the export of stage {name} in {self.run_dir} ({e.strerror or e}); '
                          'free space or fix the folder, then rerun the same command (the stage is '
                          'trained: only the export is redone).') from None
    result = {'stage': name, 'steps': end, 'started_from': started_from, 'skipped': skipped,
              'final_total': last_total}
    if bad_records:
      result['bad_records'] = bad_records
    return result

  def _count_bad_records(self, name: str, batch: dict) -> int:
    """Reports the bad records the pipeline skipped before ``batch``; raises ``InputError`` on its stop
    marker (``max_bad_records`` bad records in a row)."""
    def local(key):  # the global batch's values (the per-replica parts under a distribution strategy)
      parts = self.strategy.experimental_local_results(batch[key])
      return np.concatenate([np.reshape(np.asarray(x), [-1]) for x in parts])

    ok, counts, sources = local('record_ok'), local('bad_records'), local('bad_source')
    data = ' or '.join(repr(d) for d in (self.data, self.neutral_data) if d)
    describe = lambda files: ', '.join(sorted(f for f in files if f)) or f'the records of {data}'
    if not ok.all():
      where = describe({s.decode(errors='replace') for s in sources[~ok]})
      total = self.bad_records_total + int(counts[ok].sum()) + int(counts[~ok][0])
      raise InputError(
          f'{self.max_bad_records} unreadable records in a row ({where}; {total} skipped in all); stopping. '
          'The records are truncated, corrupt or not written by this version of `python -m data.prepare`: '
          're-run data.prepare on the sources (or remove the bad shards), then rerun the same command to '
          'resume.')
    new = int(counts.sum())
    if new:
      before, self.bad_records_total = self.bad_records_total, self.bad_records_total + new
      files = {s.decode(errors='replace') for s, c in zip(sources, counts) if c}
      # One line for each new file and at 1, 10, 100, ... bad records in all (not one per record).
      if files - self._reported_files or len(str(self.bad_records_total)) > len(str(before)):
        self._reported_files |= files
        where = describe(files)
        log.warning('stage %s: skipped %d unreadable record(s) (%s)', name, new, where)
        print(f'[{name}] skipped {new} unreadable record(s) ({where}; {self.bad_records_total} so far)')
    return new

  def _adapt_landmarks(self, stage: config_lib.StageConfig) -> None:
    """Sets the encoder's landmark standardisation from the first ``ADAPT_LANDMARK_FRAMES`` frames of the
    training input (a fresh run only; restored runs carry it in their checkpoint)."""
    enc = self.ae.encoder
    if not self.ae.encoder_config.landmark_input or enc.landmarks_adapted():
      return
    ds = make_input(stage, self.cfg, self.data, self.neutral_data, 0, self.deterministic,
                    self.max_bad_records)
    frames_per_batch = self.cfg.stage_batch_size(stage.name) * self.cfg.model.num_frames
    batches = max(1, -(-ADAPT_LANDMARK_FRAMES // frames_per_batch))
    landmarks = np.concatenate([np.asarray(b['landmarks']).reshape(-1, 68, 2) for b in ds.take(batches)])
    enc.adapt_landmarks(landmarks, self.cfg.model.image_size)

  def _restore(self, name, ckpt, manager) -> str:  # pylint: disable=unused-argument
    """Restores stage ``name``'s newest checkpoint, else the newest previous stage's final one; returns its
    path or 'initialisation'. Like ``Autoencoder.from_run_dir``, it never falls back silently: the newest
    stage folder (this stage's, then the previous ones') that holds files must give a loadable checkpoint,
    else ``InputError`` says which folder to remove."""
    names = [s.name for s in self.cfg.stages]
    for stage in reversed(names[:names.index(name) + 1]):
      folder = self.stage_dir(stage)
      # None also when the listed checkpoint's .index is gone.
      latest = tf.train.latest_checkpoint(str(folder))
      if not latest:
        files = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if not files:
          continue
        earlier = [s for s in reversed(names[:names.index(stage)]) if self.stage_dir(s).is_dir()]
        start = f"the {earlier[0]} stage's checkpoint" if earlier else 'initialisation'
        shown = ', '.join(files[:5]) + (', ...' if len(files) > 5 else '')
        todo = (f'start stage {name} again from {start}' if stage == name else
                f'start stage {name} from {start} instead (or rerun stage {stage} first)')
        raise InputError(
            f'{folder}: the {stage} stage holds files ({shown}) but no complete checkpoint (a missing .index '
            f'or `checkpoint` file, or an interrupted save), so stage {name} will not start from an older '
            f'state without saying so. Remove {folder} to {todo}, then rerun the same command.')
      try:
        if stage == name:
          ckpt.restore(latest).assert_existing_objects_matched()
        else:
          tree = {autoencoder_lib.CHECKPOINT_KEY: self.ae.checkpoint_tree()}
          tf.train.Checkpoint(**tree).restore(latest).expect_partial().assert_existing_objects_matched()
      except (tf.errors.OpError, IndexError, AssertionError, ValueError) as e:
        raise InputError(f'{latest}: damaged checkpoint of stage {stage} ({type(e).__name__}: {_reason(e)}); '
                         f'remove {folder} to start stage {name} without it, then rerun the same '
                         'command.') from None
      return latest
    return 'initialisation'

  def _image_summary(self, writer, stage, batch, step):
    if self.strategy.num_replicas_in_sync > 1:
      return  # image grids come from single-device runs (the per-replica batch is not local here)
    out = self.ae(batch['image'][:1], batch['landmarks'][:1], force_neutral=stage.force_neutral)
    grid = summary_grid(self.ae, {k: v[:1] for k, v in batch.items()}, out)
    with writer.as_default():
      write_image('reconstruction', grid, step)

  def _history_path(self, name: str) -> pathlib.Path:
    return self.run_dir / 'history' / f'{name}.jsonl'

  def _write_history(self, name, history):
    """Appends the rows of the steps since the last checkpoint (written just before each checkpoint)."""
    if not history:
      return
    path = self._history_path(name)
    try:
      path.parent.mkdir(parents=True, exist_ok=True)
      with open(path, 'a') as f:
        f.write(''.join(json.dumps(h) + '\n' for h in history))
    except OSError as e:
      raise OutputError(f'cannot write the loss history {path} ({e.strerror or e}); free space or fix the '
                        'folder, then rerun the same command to resume from the last checkpoint.') from None

  def _trim_history(self, name: str, start: int) -> None:
    """Keeps the history rows of steps <= ``start`` (the restored step): rows an interrupted run wrote
    after its last checkpoint, and a torn last line, would otherwise be doubled or broken by the resume."""
    path = self._history_path(name)
    if not path.exists():
      return
    lines = path.read_text(errors='replace').splitlines(keepends=True)
    keep = []
    for line in lines:
      try:
        row = json.loads(line)
      except json.JSONDecodeError:
        continue
      if isinstance(row, dict) and isinstance(row.get('step'), int) and row['step'] <= start:
        keep.append(line if line.endswith('\n') else line + '\n')
    if keep != lines:
      tmp = path.with_suffix('.jsonl.tmp')
      tmp.write_text(''.join(keep))
      os.replace(tmp, path)

  def _save_checkpoint(self, manager, name: str, number: int) -> None:
    """``manager.save``; a failed save (disk full, read-only) removes its partial files and raises
    ``OutputError``, the previous checkpoints stay usable."""
    try:
      manager.save(checkpoint_number=number)
    except (tf.errors.OpError, OSError) as e:
      reason = _reason(e)
      for partial in self.stage_dir(name).glob(f'ckpt-{number}_temp*'):
        shutil.rmtree(partial, ignore_errors=True)
      latest = manager.latest_checkpoint
      raise OutputError(f'cannot save the checkpoint of step {number} in {self.stage_dir(name)} '
                        f'({reason}); the last complete checkpoint is {latest or "none"}. Free space, then '
                        'rerun the same command to resume.') from None

  def export_stage(self, name: str) -> None:
    """The learned model as .npz and Figure-1 grids of its bases after stage ``name``."""
    export.save_model(self.run_dir / 'export' / f'{name}.npz', self.ae.face_model, self.ae.template,
                      self.ae.graph)
    figures = self.run_dir / 'figures'
    for basis in visualize.BASES:
      grid = visualize.basis_grid(self.ae.face_model, self.ae.mesh, basis, camera=self.ae.camera)
      visualize.save_png(figures / f'{name}_{basis}.png', grid)

  def save_serving_model(self) -> pathlib.Path:
    return autoencoder_lib.save_serving_model(self.ae, self.run_dir / 'saved_model')


RUN_LOCK = '.lock'
_HELD_LOCKS: dict[str, typing.IO] = {}  # run folders this process has locked (until it ends)


def lock_run_dir(run_dir: pathlib.Path) -> None:
  """An exclusive ``flock`` on ``run_dir/.lock``, held until the process ends (released by the kernel even
  when it is killed); a second process on the same run folder gets ``InputError`` at once. Re-entrant
  within one process (several ``Trainer`` objects of one program may share a folder)."""
  import fcntl  # pylint: disable=g-import-not-at-top
  key = os.path.realpath(run_dir)
  if key in _HELD_LOCKS:
    return
  f = open(run_dir / RUN_LOCK, 'a+')  # pylint: disable=consider-using-with  (kept open: it is the lock)
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    holder = f.read().strip() or 'unknown'
    f.close()
    raise InputError(f'Another training run ({holder}) is using the run folder {run_dir}; wait for it to '
                     'finish, or pass another --run_dir.') from None
  except OSError as e:  # a filesystem without flock: run unlocked, but say so
    log.warning('cannot lock %s (%s); concurrent runs on it are not detected', run_dir, e.strerror)
  f.seek(0)
  f.truncate()
  f.write(f'pid {os.getpid()} on {socket.gethostname()}\n')
  f.flush()
  _HELD_LOCKS[key] = f


def _reason(e: Exception) -> str:
  """The short reason of an OSError or TensorFlow error ('No space left on device', ...)."""
  text = getattr(e, 'strerror', None) or str(getattr(e, 'message', e)).strip()
  text = text.splitlines()[0] if text else type(e).__name__
  return text if len(text) <= 200 else text[:200] + '...'


def prepare_run_dir(run_dir, cfg: config_lib.TrainConfig) -> pathlib.Path:
  """Creates and locks (``lock_run_dir``) the run folder and writes ``config.json``; refuses a folder of
  another configuration."""
  run_dir = pathlib.Path(run_dir)
  try:
    run_dir.mkdir(parents=True, exist_ok=True)
    probe = run_dir / '.write_test'
    probe.write_text('ok')
    probe.unlink()
  except OSError as e:
    raise InputError(f'Cannot write to the run folder {run_dir} ({e.strerror}); pass a writable --run_dir.')
  lock_run_dir(run_dir)
  path = run_dir / autoencoder_lib.CONFIG_FILE
  text = cfg.to_json()
  if path.exists():
    try:
      old = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
      raise InputError(f'{path} is not the JSON that training writes ({e}); use a new --run_dir.') from None
    old = old if isinstance(old, dict) else {}
    if old.get('hash') != cfg.hash():
      raise InputError(f'{run_dir} holds a run of another configuration ({old.get("name")}, hash '
                       f'{old.get("hash")}; this one is {cfg.name}, {cfg.hash()}); use a new --run_dir.')
  else:
    path.write_text(text)
  return run_dir
