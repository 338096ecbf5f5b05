r"""The main job (``make demo``): learn a face model on the synthetic world, measure that it learned.

  python -m training.demo --run_dir=runs/demo

1. Trains the ``demo`` configuration (``training.config.DEMO``) through its four stages (pose, identity,
   expression, combined) on the synthetic world (``data.synthetic_stream``; generated on the fly, so the
   dataset is part of the timing).
2. Evaluates on held-out synthetic samples (a different world seed: identities, expressions, poses and
   lights never seen in training), for the untrained network (the same initialisation: mean face in the
   default pose) and the trained one:
   * landmark error: mean Euclidean distance (pixels at 240 px) of the 66 landmarks to the ground truth;
   * geometry error: per-vertex RMSE (mm) between the reconstructed and the ground-truth mesh of every
     frame after a similarity alignment (scale, rotation, translation; as the paper's Table 1), next to the
     same error of the mean template (the model with all coefficients zero).
   Pass criteria (issue 10): landmark error >= 50% below the untrained network's; geometry error below the
   mean template's.
3. Reconstructs the shared photos (dlib detection and the project's crop, ``data.face``).
4. Writes ``<run_dir>/demo/``: ``loss_curves.png``, ``heldout_reconstructions.png``,
   ``photo_reconstructions.png``, the Figure-1 basis grids (``<run_dir>/figures/``), ``results.md`` and
   ``results.json``; prints the table and where the pictures are.
"""

from common import cli  # noqa: F401  (must precede TensorFlow)

import json
import pathlib
import sys
import time

from absl import flags
import numpy as np

from training import heldout

FLAGS = flags.FLAGS
flags.DEFINE_string('run_dir', 'runs/demo', 'Run folder.')
flags.DEFINE_float('step_scale', 1.0, "Multiply every stage's number of steps (quick checks: 0.1).")
flags.DEFINE_integer('heldout', 24, 'Held-out synthetic samples (x N_f frames) for the evaluation.')
flags.DEFINE_string('photos', None, 'Folder of photos to reconstruct (default: the shared photos).')
flags.DEFINE_bool('train', True, 'Train (False: evaluate an existing run folder).')
flags.DEFINE_enum('config', 'demo', ['demo', 'demo_image_only'],
                  "Training configuration (demo_image_only: the paper's pixels-only encoder).")
flags.DEFINE_integer('seed', None, "Training seed (initialisation, synthetic stream; default: the config's).")
flags.DEFINE_list('loss_weights', [], 'Loss weight overrides NAME=VALUE (training.config.LossWeights), e.g. '
                  'lip=0 (an ablation).')
flags.DEFINE_list('stage_steps', [], 'Stage lengths NAME=STEPS (before --step_scale), e.g. combined=4000.')
flags.DEFINE_bool('strict', False, 'Exit with status 1 when a learning check fails (default: report it).')


def loss_curves(run_dir: pathlib.Path, stages, path: pathlib.Path) -> None:
  """One panel per stage: the weighted total and each unweighted term (log scale, smoothed)."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  colours = [(0, 0, 0), (220, 50, 47), (38, 139, 210), (133, 153, 0), (211, 54, 130), (42, 161, 152),
             (181, 137, 0), (108, 113, 196), (203, 75, 22)]
  w, h, pad = 420, 300, 40
  canvas = Image.new('RGB', (w * len(stages), h + 60), 'white')
  draw = ImageDraw.Draw(canvas)
  for s, name in enumerate(stages):
    path_h = run_dir / 'history' / f'{name}.jsonl'
    if not path_h.exists():
      continue
    rows = [json.loads(l) for l in path_h.read_text().splitlines() if l.strip()]
    keys = [k for k in rows[0] if k != 'step']
    x0 = s * w
    draw.rectangle([x0 + pad, 20, x0 + w - 10, h], outline=(128, 128, 128))
    draw.text((x0 + pad, 4), f'stage {name} (log10 loss vs step)', fill=(0, 0, 0))
    steps = np.array([r['step'] for r in rows], np.float64)
    for i, k in enumerate(keys):
      v = np.array([r.get(k, np.nan) for r in rows], np.float64)
      v = np.log10(np.maximum(v, 1e-8))
      kernel = max(1, len(v) // 40)
      v = np.convolve(v, np.ones(kernel) / kernel, mode='valid')
      st = steps[kernel - 1:]
      lo, hi = np.nanmin(v), np.nanmax(v)
      if not np.isfinite(lo) or len(v) < 2:
        continue
      px = x0 + pad + (st - st[0]) / max(st[-1] - st[0], 1) * (w - pad - 10)
      py = h - (v - lo) / max(hi - lo, 1e-6) * (h - 30)
      draw.line(list(zip(px, py)), fill=colours[i % len(colours)], width=2)
      draw.text((x0 + pad + (i % 3) * 125, h + 6 + (i // 3) * 14),
                f'{k} {10 ** v[0]:.3g}->{10 ** v[-1]:.3g}', fill=colours[i % len(colours)])
  path.parent.mkdir(parents=True, exist_ok=True)
  canvas.save(path)


def photo_crops(folder: pathlib.Path, size: int,
                limit: int = 6) -> tuple[list[str], np.ndarray, np.ndarray]:
  """(names, crops float32 [n, S, S, 3] in [0, 1], detected landmarks [n, 68, 2] crop pixels) of the
  first face of up to ``limit`` photos (eval.reconstruct's detection and crop)."""
  from data import face  # pylint: disable=g-import-not-at-top
  from data import face_frames  # pylint: disable=g-import-not-at-top
  from data import media  # pylint: disable=g-import-not-at-top
  analyzer = face.FaceAnalyzer(min_face_size=0)
  names, crops, landmarks = [], [], []
  for p in sorted(folder.glob('*')):
    if p.suffix.lower() not in ('.jpg', '.jpeg', '.png') or len(crops) >= limit:
      continue
    try:
      frame = face_frames.image_faces(p, analyzer, 0)[0].frame
    except media.Drop:
      continue
    if frame.image.shape[0] != size:
      continue
    crops.append(frame.image.astype(np.float32) / 255.0)
    landmarks.append(np.asarray(frame.landmarks, np.float32))
    names.append(p.name)
  if not crops:
    return names, np.zeros((0, size, size, 3), np.float32), np.zeros((0, 68, 2), np.float32)
  return names, np.stack(crops), np.stack(landmarks)


def reconstruction_grid(ae, images: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
  """Rows: input | overlay | shaded geometry | albedo, one per image (single-frame samples; ``landmarks``
  [n, 68, 2] pixels, the encoder's landmark input)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from model import visualize  # pylint: disable=g-import-not-at-top
  from training import trainer  # pylint: disable=g-import-not-at-top
  tiles = []
  for img, lm in zip(images, landmarks):
    x = tf.constant(img[None, None])
    out = ae(x, tf.constant(np.asarray(lm, np.float32)[None, None]))
    mask = out['mask'][0, 0].numpy()
    overlay = out['image'][0, 0].numpy() * mask + img * (1 - mask)
    overlay = visualize.draw_landmarks(overlay, out['landmarks2d'][0, 0].numpy(), (255, 0, 0))
    geometry = trainer._grey_render(ae, out['vertices'][0], out['angles'][0], out['translation'][0])  # pylint: disable=protected-access
    tiles += [img, overlay.astype(np.float32) / 255.0, geometry[0].numpy(), out['albedo_image'][0, 0].numpy()]
  return visualize.image_grid(np.stack(tiles), len(images), 4)


def main(argv):
  del argv
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.WARNING)
  from common import paths  # pylint: disable=g-import-not-at-top
  from model import autoencoder  # pylint: disable=g-import-not-at-top
  from model import visualize  # pylint: disable=g-import-not-at-top
  from training import config as config_lib  # pylint: disable=g-import-not-at-top
  from training import trainer as trainer_lib  # pylint: disable=g-import-not-at-top
  t_start = time.time()
  cfg = config_lib.get_config(FLAGS.config)
  if FLAGS.seed is not None:
    import dataclasses  # pylint: disable=g-import-not-at-top
    cfg = dataclasses.replace(cfg, seed=FLAGS.seed)
  try:
    cfg = config_lib.override(
        cfg, loss_weights=config_lib.parse_assignments(FLAGS.loss_weights, '--loss_weights'),
        stage_steps={k: int(v) for k, v in config_lib.parse_assignments(FLAGS.stage_steps,
                                                                          '--stage_steps').items()},
        step_scale=FLAGS.step_scale)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  run_dir = pathlib.Path(FLAGS.run_dir)
  out_dir = run_dir / 'demo'
  try:
    trainer = trainer_lib.Trainer(cfg, run_dir)
  except trainer_lib.InputError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  timings = {}
  if FLAGS.train:
    for stage in cfg.stages:
      t0 = time.time()
      summary = trainer.run_stage(stage.name)
      timings[stage.name] = {'seconds': time.time() - t0, 'steps': stage.steps,
                             'steps_per_s': stage.steps / max(time.time() - t0, 1e-9)}
      print(f'[{stage.name}] {summary}')
    trainer.save_serving_model()
  train_seconds = time.time() - t_start
  print('evaluating on held-out synthetic samples ...')
  batches = heldout.heldout_batches(cfg, FLAGS.heldout)
  untrained = autoencoder.Autoencoder(cfg.model, cfg.encoder, seed=cfg.seed,
                                      basis_init_stddev=cfg.basis_init_stddev)
  before = heldout.evaluate(untrained, batches)
  ae = autoencoder.Autoencoder.from_run_dir(run_dir)
  after = heldout.evaluate(ae, batches)
  lm_drop = 1.0 - after['landmark_px'] / before['landmark_px']
  checks = {'landmark_error_halved': lm_drop >= 0.5,
            'geometry_below_mean_template': after['geometry_mm'] < after['mean_template_geometry_mm']}
  out_dir.mkdir(parents=True, exist_ok=True)
  loss_curves(run_dir, [s.name for s in cfg.stages], out_dir / 'loss_curves.png')
  visualize.save_png(out_dir / 'heldout_reconstructions.png',
                     reconstruction_grid(ae, np.stack([b['image'][0, 0] for b in batches[:4]]),
                                         np.stack([b['landmarks'][0, 0] for b in batches[:4]])))
  try:
    photos = pathlib.Path(FLAGS.photos) if FLAGS.photos else paths.shared_path('media', 'photos')
  except FileNotFoundError as e:
    print(f'photos skipped: {e}')
    photos = None
  names = []
  if photos is not None and photos.exists():
    names, crops, photo_landmarks = photo_crops(photos, cfg.model.image_size)
    if len(crops):
      visualize.save_png(out_dir / 'photo_reconstructions.png',
                         reconstruction_grid(ae, crops, photo_landmarks))
  results = {'config': cfg.name, 'config_hash': cfg.hash(), 'heldout_samples': FLAGS.heldout,
             'heldout_frames': FLAGS.heldout * cfg.model.num_frames, 'untrained': before, 'trained': after,
             'landmark_error_reduction': lm_drop, 'checks': checks, 'stages': timings,
             'train_seconds': train_seconds, 'total_seconds': time.time() - t_start, 'photos': names}
  (out_dir / 'results.json').write_text(json.dumps(results, indent=1))
  table = [
      '| held-out synthetic (%d samples x %d frames) | untrained | trained | mean template |' % (
          FLAGS.heldout, cfg.model.num_frames),
      '|---|---|---|---|',
      f'| landmark error (px, 66 pts) | {before["landmark_px"]:.2f} | {after["landmark_px"]:.2f} | - |',
      f'| geometry RMSE (mm, similarity-aligned) | {before["geometry_mm"]:.3f} | '
      f'{after["geometry_mm"]:.3f} | {after["mean_template_geometry_mm"]:.3f} |',
      f'| geometry minus mean template (mm, paired per sample, 95% CI) | - | '
      f'{after["geometry_minus_mean_template_mm"]:+.4f} '
      f'+- {after["geometry_minus_mean_template_ci95_mm"]:.4f} '
      f'({after["samples_better_than_mean_template"]:.0%} of samples better) | 0 |',
  ]
  speed = ', '.join(f'{k} {v["steps"]} steps at {v["steps_per_s"]:.2f} steps/s' for k, v in timings.items())
  text = '\n'.join(table) + (f'\n\nTraining: {speed}; {train_seconds:.0f} s incl. data generation.\n'
                             f'Checks: {checks}\n')
  (out_dir / 'results.md').write_text(text)
  print(text)
  print(f'pictures: {out_dir.resolve()} (loss_curves.png, heldout_reconstructions.png, '
        f'photo_reconstructions.png) and {(run_dir / "figures").resolve()} (learned bases)')
  if not all(checks.values()):
    failed = sorted(k for k, v in checks.items() if not v)
    print(f'LEARNING NOT SHOWN by this run: {failed}')
    if FLAGS.strict:
      sys.exit(1)


if __name__ == '__main__':
  cli.run(main)
