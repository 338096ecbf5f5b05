r"""Personalisation to one person from a video (paper Sec. 3.6, Fig. 9-10).

  python -m training.main --stage=personalize --model=runs/demo --video=clip.mp4 --run_dir=runs/person \
      --min_face_size=100 --steps=200

1. The clip is prepared with the project's preprocessing (``data.face_frames``: the largest face of every
   ``--stride``-th frame, 240 px crops, landmarks, lip masks and contours; frames without a usable face are
   counted and skipped). The first ``--train_fraction`` of the usable frames (in time) fine-tune, the rest
   is held out.
2. Fine-tuning: the encoder is frozen; only the identity, expression and albedo models (M_gid, M_gexp,
   M_R) are updated, with the paper's loss (``training.trainer.compute_losses`` with the combined stage's
   terms and the run's loss weights; the perceptual term only when a feature network is given). Each step
   takes N_f training frames at random (one sample, as in training on video clips).
3. ``personalize.json``: the fine-tuning loss on fixed evaluation groups of the training frames before /
   after, the step history, and on the held-out frames before / after: landmark error (mean Euclidean
   distance of the 68 model landmarks to the detected ones, pixels at 240 px), photometric error (Eq. 8:
   mean squared RGB difference over the rendered face mask) and lip IoU (rendered upper + lower lip mask vs
   the landmark lip polygons). Held-out frames are encoded with ``model.reconstruction.encode_frames``
   (identity from N_f frames spread over them, pose / expression per frame).
4. ``figures/personalize_<k>.png`` (Fig. 9): input | generic reconstruction | personalised reconstruction |
   generic geometry | personalised geometry, for held-out frames.
5. The personalised model: ``<run_dir>/config.json`` + ``checkpoints/combined/`` (a run folder:
   ``Autoencoder.from_run_dir``, ``eval.reconstruct --model`` and ``eval.transfer --model`` read it) and
   ``export/personalized.npz`` (``model.export``).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import pathlib

import numpy as np
import tensorflow as tf
import tqdm

from data import face as face_lib
from data import face_frames
from data import media
from data import preprocess
from model import autoencoder as autoencoder_lib
from model import export
from model import reconstruction
from model import visualize
from training import config as config_lib
from training.personalize_flags import PersonalizeConfig
from training import trainer as trainer_lib

TRAINABLE = ('M_gid', 'M_gexp', 'M_R')
EVAL_GROUPS = 4


def prepare_clip(video, cfg: PersonalizeConfig, progress: bool = True):
  """Usable frames of the clip (``schema.Frame``, in time order) and the skip reasons (Counter).

  Raises:
    media.Drop: the video is missing, empty or corrupt.
  """
  video = pathlib.Path(video)
  total, _ = face_frames.video_info(video)
  analyzer = face_lib.FaceAnalyzer(min_face_size=cfg.min_face_size)
  frames, skipped = [], collections.Counter()
  expected = (total + cfg.stride - 1) // cfg.stride
  expected = min(expected, cfg.max_frames) if cfg.max_frames else expected
  for i, image in tqdm.tqdm(face_frames.video_frames(video, cfg.max_frames or None, cfg.stride),
                            total=expected, desc='prepare clip', disable=not progress):
    try:
      face = face_frames.usable_faces(image, analyzer, cfg.min_face_size, largest_only=True)[0]
    except media.Drop as e:
      skipped[e.reason] += 1
      continue
    frames.append(preprocess.make_frame(image, face, i))
  return frames, skipped


def _stack(batches: list[dict]) -> dict[str, tf.Tensor]:
  """Concatenates single-frame samples along the frame axis into one sample."""
  out = {k: np.concatenate([b[k] for b in batches], axis=1) for k in batches[0] if k != 'is_neutral'}
  out['is_neutral'] = batches[0]['is_neutral']
  return {k: tf.constant(v) for k, v in out.items()}


def _stage(train_cfg: config_lib.TrainConfig, use_perceptual: bool) -> config_lib.StageConfig:
  combined = train_cfg.stage('combined')
  terms = tuple(t for t in combined.losses if use_perceptual or t != 'perceptual')
  return dataclasses.replace(combined, trainable=TRAINABLE, losses=terms)


def held_out_metrics(ae, frames) -> tuple[dict[str, float], dict]:
  """Landmark error (px), photometric error (Eq. 8) and lip IoU on frames; also the decoded outputs."""
  from training import losses  # pylint: disable=g-import-not-at-top
  crops = np.stack([f.image for f in frames]).astype(np.float32) / 255.0
  params = reconstruction.encode_frames(ae, crops, np.stack([f.landmarks for f in frames]))
  dec = reconstruction.decode_frames(ae, params)
  target = np.stack([f.landmarks for f in frames])
  lm_err = float(np.linalg.norm(dec['landmarks2d'] - target, axis=-1).mean())
  pho = float(losses.photometric_loss(crops[None], dec['image'][None], dec['mask'][None]).numpy()[0])
  rendered_lips = dec['lip_masks'].max(-1) > 0.5
  label_lips = np.stack([f.lip_mask > 0 for f in frames])
  inter = np.logical_and(rendered_lips, label_lips).sum((1, 2))
  union = np.logical_or(rendered_lips, label_lips).sum((1, 2))
  iou = float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))
  return {'landmark_error_px': lm_err, 'photometric_error': pho, 'lip_iou': iou}, {**params, **dec}


def _figure(ae, crops, generic, personal) -> np.ndarray:
  cols = []
  for dec in (generic, personal):
    cols.append(reconstruction.overlay(crops, dec['image'], dec['mask']))
  for dec in (generic, personal):
    cols.append(reconstruction.geometry_images(ae, dec['vertices'], dec['angles'], dec['translation']))
  return np.concatenate([crops] + cols, axis=2)


def personalize(model_dir, video, run_dir, cfg: PersonalizeConfig = PersonalizeConfig(),
                features_fn=None, progress: bool = True) -> dict:
  """Runs the personalisation (see the module docstring); returns the ``personalize.json`` report.

  Raises:
    reconstruction.NotAModelError: ``model_dir`` is not a run folder.
    media.Drop: unreadable video.
    ValueError: fewer usable frames than 2 N_f (N_f to fine-tune, N_f held out), or ``run_dir`` is
      ``model_dir``.
  """
  if pathlib.Path(run_dir).resolve() == pathlib.Path(model_dir).resolve():
    raise ValueError(f'--run_dir {run_dir} is the generic model\'s folder; the personalised model needs a '
                     'new one')
  ae = reconstruction.load_autoencoder(model_dir)
  cfg_json = json.loads((pathlib.Path(model_dir) / autoencoder_lib.CONFIG_FILE).read_text())
  try:
    train_cfg = config_lib.TrainConfig.from_dict(cfg_json)
  except (KeyError, TypeError, ValueError):
    train_cfg = dataclasses.replace(config_lib.DEMO, model=ae.model_config, encoder=ae.encoder_config)
  nf = ae.model_config.num_frames
  frames, skipped = prepare_clip(video, cfg, progress)
  if len(frames) < 2 * nf:
    raise ValueError(f'{video}: {len(frames)} usable frames (skipped: {dict(skipped)}); personalisation '
                     f'needs at least {2 * nf} (try a smaller --min_face_size or more --max_frames)')
  split = min(max(int(round(len(frames) * cfg.train_fraction)), nf), len(frames) - nf)
  train, held = frames[:split], frames[split:]
  singles = [face_frames.frames_to_batch([f]) for f in train]
  rng = np.random.default_rng(cfg.seed)
  eval_groups = [_stack([singles[j] for j in face_frames.spread_indices(len(train), nf)])]
  eval_groups += [_stack([singles[j] for j in rng.choice(len(train), nf, replace=len(train) < nf)])
                  for _ in range(EVAL_GROUPS - 1)]
  stage = _stage(train_cfg, features_fn is not None)
  weights = train_cfg.losses
  groups = ae.variable_groups()
  variables = [v for g in TRAINABLE for v in groups[g]]
  optimizer = trainer_lib.Adam(variables, cfg.learning_rate, cfg.steps, [1.0] * len(variables))

  def loss_of(batch):
    out = ae(batch['image'], batch['landmarks'], training=False)
    total, terms = trainer_lib.compute_losses(out, batch, stage, weights, ae.graph_edges, features_fn)
    return tf.reduce_mean(total), terms

  @tf.function
  def step(batch):
    with tf.GradientTape() as tape:
      loss, _ = loss_of(batch)
    grads = tape.gradient(loss, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    grads, _ = tf.clip_by_global_norm(grads, train_cfg.gradient_clip_norm)
    optimizer.apply(grads)
    return loss

  def eval_loss():
    return float(np.mean([loss_of(b)[0].numpy() for b in eval_groups]))

  before_train = eval_loss()
  before_held, generic = held_out_metrics(ae, held)
  history = []
  for _ in tqdm.tqdm(range(cfg.steps), desc='personalize', disable=not progress):
    batch = _stack([singles[j] for j in rng.choice(len(train), nf, replace=len(train) < nf)])
    loss = float(step(batch).numpy())
    if not np.isfinite(loss):
      raise trainer_lib.TrainingDiverged(f'personalisation loss became {loss}')
    history.append(loss)
  after_train = eval_loss()
  after_held, personal = held_out_metrics(ae, held)

  run_dir = pathlib.Path(run_dir)
  run_dir.mkdir(parents=True, exist_ok=True)
  (run_dir / autoencoder_lib.CONFIG_FILE).write_text(json.dumps(cfg_json, indent=1, sort_keys=True))
  ckpt = tf.train.Checkpoint(**{autoencoder_lib.CHECKPOINT_KEY: ae.checkpoint_tree()})
  saved = ckpt.save(str(run_dir / autoencoder_lib.CHECKPOINT_DIR / 'combined' / 'personalized'))
  export.save_model(run_dir / 'export' / 'personalized.npz', ae.face_model, ae.template, ae.graph)
  crops = np.stack([f.image for f in held]).astype(np.float32) / 255.0
  pick = np.unique(face_frames.spread_indices(len(held), cfg.num_figures))
  figures = []
  for n, k in enumerate(pick):
    sel = lambda d: {key: np.asarray(d[key])[k:k + 1] for key in
                     ('image', 'mask', 'vertices', 'angles', 'translation')}
    pic = _figure(ae, crops[k:k + 1], sel(generic), sel(personal))[0]
    figures.append(str(visualize.save_png(run_dir / 'figures' / f'personalize_{n}.png', pic)))
  report = {
      'model': str(model_dir), 'video': str(video), 'settings': dataclasses.asdict(cfg),
      'loss_terms': list(stage.losses), 'trainable': list(TRAINABLE),
      'frames': {'usable': len(frames), 'fine_tune': len(train), 'held_out': len(held),
                 'skipped': dict(skipped),
                 'fine_tune_frame_indices': [f.frame_index for f in train],
                 'held_out_frame_indices': [f.frame_index for f in held]},
      'fine_tune_loss': {'before': before_train, 'after': after_train},
      'held_out': {'before': before_held, 'after': after_held},
      'history': history, 'figures': figures, 'checkpoint': saved,
      'figure_columns': ['input', 'generic render', 'personalised render', 'generic geometry',
                         'personalised geometry'],
  }
  (run_dir / 'personalize.json').write_text(json.dumps(report, indent=1))
  return report


def main(fv) -> int:
  """``training.main --stage=personalize``; returns the exit status."""
  import sys  # pylint: disable=g-import-not-at-top
  if not fv.video:
    print('error: --stage=personalize needs --video=CLIP (and --model=RUN, default: the shipped model)',
          file=sys.stderr)
    return 2
  from model import pretrained  # pylint: disable=g-import-not-at-top
  model_dir = fv.model or str(pretrained.PACKAGE_DIR)
  try:
    cfg = PersonalizeConfig(steps=PersonalizeConfig.steps if fv.steps is None else fv.steps,
                            learning_rate=fv.personalize_learning_rate, train_fraction=fv.train_fraction,
                            max_frames=fv.max_frames, stride=fv.frame_stride, min_face_size=fv.min_face_size)
    report = personalize(model_dir, fv.video, fv.run_dir, cfg, progress=fv.progress)
  except (reconstruction.NotAModelError, media.Drop, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(json.dumps({k: report[k] for k in ('fine_tune_loss', 'held_out')}, indent=1))
  print(f'personalised model: {fv.run_dir}')
  return 0


__all__ = ['PersonalizeConfig', 'personalize', 'prepare_clip', 'held_out_metrics', 'main']
