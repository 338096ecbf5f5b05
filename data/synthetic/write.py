"""Generating a synthetic dataset: training records with ground truth, the BU-3DFE test split, caching."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import time

import numpy as np

from common import paths
from data import schema
from data.synthetic import bu3dfe_export
from data.synthetic import config as config_lib
from data.synthetic import face_space as face_space_lib
from data.synthetic import render
from data.synthetic import sampling
from model import config as model_config

_GROUNDTRUTH_KEYS = ('alpha', 'expression', 'angles', 'translation', 'sh', 'albedo', 'neutral_vertices',
                     'vertices', 'landmarks2d', 'skin_tone')


def clip_sample(frames: list[schema.Frame], prefix: str, n: int, seed: int, neutral: bool) -> schema.Sample:
  """The record of clip ``n`` of split ``prefix`` (``video`` / ``neutral``), ``meta/dataset`` 'synthetic'."""
  size = model_config.IMAGE_SIZE
  return schema.Sample(frames=frames, dataset='synthetic', source=f'{prefix}/{n:05d}',
                       clip_id=f'synthetic-{seed}-{prefix}-{n:05d}', identity_id=f'{prefix}-id{n:05d}',
                       is_neutral=1 if neutral else 0, is_video=len(frames) > 1, source_size=(size, size))


def generate_split(rng: np.random.Generator, cfg: config_lib.SyntheticConfig, space: face_space_lib.FaceSpace,
                   count: int, frames_per: int, neutral_only: bool, prefix: str,
                   out_dir: pathlib.Path) -> None:
  """Writes ``out_dir/<prefix>-00000-of-00001.tfrecord`` (``count`` clips of ``frames_per`` frames) and
  ``out_dir/<prefix>_groundtruth.npz`` (per clip the ``sampling.ClipParameters`` and landmarks, plus
  topology)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  gt = {k: [] for k in _GROUNDTRUTH_KEYS}
  ids = []
  with tf.io.TFRecordWriter(str(out_dir / f'{prefix}-00000-of-00001.tfrecord')) as writer:
    for n in range(count):
      p = sampling.sample_clip(rng, cfg, space, frames_per, neutral_only)
      frames, lms = render.render_clip(space, p)
      sample = clip_sample(frames, prefix, n, cfg.seed, neutral_only)
      writer.write(schema.serialize_sample(sample))
      ids.append(sample.clip_id)
      for k, v in (('alpha', p.alpha), ('expression', p.expression), ('angles', p.angles),
                   ('translation', p.translation), ('sh', p.sh), ('albedo', p.albedo),
                   ('neutral_vertices', p.neutral_vertices), ('vertices', p.vertices),
                   ('landmarks2d', lms.astype(np.float32)), ('skin_tone', np.float32(p.skin_tone))):
        gt[k].append(v)
  np.savez_compressed(out_dir / f'{prefix}_groundtruth.npz', clip_id=np.array(ids),
                      triangles=space.triangles, landmark_vertices=np.asarray(space.template.landmarks),
                      expression_names=np.array(space.expression_names),
                      **{k: np.stack(v) for k, v in gt.items()})


def generate(root: str | os.PathLike,
             cfg: config_lib.SyntheticConfig = config_lib.SyntheticConfig()) -> config_lib.SyntheticDataset:
  """Generates the dataset into ``root`` (which must not exist or be empty); returns its paths."""
  root = pathlib.Path(root)
  (root / 'train').mkdir(parents=True, exist_ok=True)
  (root / 'test').mkdir(parents=True, exist_ok=True)
  space = face_space_lib.FaceSpace(cfg)
  # Independent streams: changing one split's size does not change the others.
  seeds = np.random.SeedSequence([cfg.seed, config_lib.GENERATOR_VERSION]).spawn(3)
  generate_split(np.random.default_rng(seeds[0]), cfg, space, cfg.num_identities, cfg.num_frames, False,
                 'video', root / 'train')
  generate_split(np.random.default_rng(seeds[1]), cfg, space, cfg.num_neutral, 1, True, 'neutral',
                 root / 'train')
  bu3dfe_export.generate_test(np.random.default_rng(seeds[2]), cfg, space, root / 'test')
  (root / 'config.json').write_text(json.dumps({**dataclasses.asdict(cfg),
                                                'version': config_lib.GENERATOR_VERSION}, indent=1))
  return config_lib.dataset_paths(root, cfg)


def ensure_synthetic_dataset(config: config_lib.SyntheticConfig | None = None,
                             root: str | os.PathLike | None = None) -> config_lib.SyntheticDataset:
  """Returns the synthetic dataset's paths, generating it first if needed.

  Args:
    config: what to generate (default: ``SyntheticConfig()``, a few tens of samples, seconds on a CPU).
    root: where; default ``cache_dir('synthetic', config.key())``. A finished dataset has a ``DONE`` file;
      generation goes to a temporary sibling folder that is renamed into place, so concurrent callers
      never see a partial dataset.
  """
  cfg = config or config_lib.SyntheticConfig()
  root = pathlib.Path(root) if root else paths.cache_dir('synthetic') / cfg.key()
  if (root / 'DONE').exists():
    return config_lib.dataset_paths(root, cfg)
  tmp = root.with_name(f'{root.name}.tmp{os.getpid()}')
  shutil.rmtree(tmp, ignore_errors=True)
  t0 = time.time()
  generate(tmp, cfg)
  (tmp / 'DONE').write_text(f'generated in {time.time() - t0:.1f} s\n')
  if root.exists() and not (root / 'DONE').exists():
    shutil.rmtree(root, ignore_errors=True)  # a stale partial folder
  try:
    os.replace(tmp, root)
  except OSError:  # another process finished first
    shutil.rmtree(tmp, ignore_errors=True)
  return config_lib.dataset_paths(root, cfg)
