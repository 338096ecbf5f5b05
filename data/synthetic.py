r"""Synthetic ground-truth dataset: the built-in default data of the project.

  python -m data.synthetic                       # generate (or find) the default set in the cache
  python -m data.synthetic --output=/tmp/syn --num_identities=40 --yaw_deg=45

Faces are rendered with the project's own image formation (``model.image_formation.render``: rigid pose,
perspective camera, Lambertian 9-coefficient SH shading, the ``tf_ops`` rasterizer) from:

* identity: the ICT identity modes, weights ~ N(0, 1) on the leading ``identity_modes`` modes;
* expression: sparse random activations of the 53 ICT blendshapes (1..``max_active_blendshapes`` active,
  weights U(0.2, 1)), a fraction of exactly neutral frames, and exactly neutral samples;
* albedo: a skin tone from a light-to-dark palette, smooth low-frequency variation, redder lips;
* lighting: random SH (ambient + one directional light, slight colour tint);
* pose: yaw / pitch / roll uniform in +-the flag ranges, small translation jitter;
* background: random smooth colour fields with noise.

Output (``root``):

* ``train/video-*.tfrecord``: one record per identity, ``num_frames`` frames with different expression,
  pose and light (``meta/dataset`` 'synthetic', ``is_neutral`` 0);
* ``train/neutral-*.tfrecord``: single neutral images of other identities (``is_neutral`` 1), the
  synthetic stand-in for EmotioNet's neutral subset (mix them 3:1 with ``data.pipeline``);
* ``train/*_groundtruth.npz``: per record the parameters (identity weights, blendshape weights, pose,
  SH, albedo) and the meshes (per-frame vertices in cm, the neutral identity mesh), plus topology;
* ``test/bu3dfe/<subject>/<subject>_<EXPR><II><RACE>_F3D.{wrl,bnd}`` and ``_F2D.bmp``: a test split in the
  BU-3DFE layout (``shared/formats/BU3DFE.md``): meshes in mm, 83 landmarks, a frontal 2D image;
  ``test/groundtruth.npz`` holds the parameters.

Records use ``data.schema`` exactly like real data. Landmarks are the projected template landmarks (the
jaw follows the silhouette, as in the model), lip masks are the rendered lip regions, the outer lip contours
are the projected mesh lip contours and the inner ones the projected arcs of the mouth opening (each
resampled to 16 points), so the training pipeline cannot tell the two apart. Contours are projected
without an occlusion test.

Generation is deterministic for a configuration (seed included) and cached: ``ensure_synthetic_dataset``
returns the paths, generating on first use into ``cache_dir('synthetic', <hash of the configuration>)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import shutil
import time
from typing import Sequence

import numpy as np

from common import paths
from data import lips
from data import readers
from data import schema
from model import assets
from model import config as model_config

GENERATOR_VERSION = 2
# Points per stored lip contour (the mesh loops have 30-40 vertices; see lips.resample_polyline).
CONTOUR_POINTS = 16
# BU-3DFE expressions as ICT blendshape combinations (weights at intensity 4; intensity k scales by k/4).
BU3DFE_EXPRESSION_BLENDSHAPES = {
    'HA': {'mouthSmile_L': 1.0, 'mouthSmile_R': 1.0, 'cheekSquint_L': 0.6, 'cheekSquint_R': 0.6,
           'eyeSquint_L': 0.3, 'eyeSquint_R': 0.3},
    'SU': {'jawOpen': 0.7, 'browInnerUp_L': 1.0, 'browInnerUp_R': 1.0, 'browOuterUp_L': 0.8,
           'browOuterUp_R': 0.8, 'eyeWide_L': 0.8, 'eyeWide_R': 0.8},
    'AN': {'browDown_L': 1.0, 'browDown_R': 1.0, 'mouthPress_L': 0.6, 'mouthPress_R': 0.6,
           'noseSneer_L': 0.4, 'noseSneer_R': 0.4},
    'DI': {'noseSneer_L': 1.0, 'noseSneer_R': 1.0, 'mouthUpperUp_L': 0.7, 'mouthUpperUp_R': 0.7,
           'browDown_L': 0.5, 'browDown_R': 0.5},
    'FE': {'browInnerUp_L': 1.0, 'browInnerUp_R': 1.0, 'mouthStretch_L': 0.8, 'mouthStretch_R': 0.8,
           'eyeWide_L': 0.7, 'eyeWide_R': 0.7, 'jawOpen': 0.2},
    'SA': {'browInnerUp_L': 0.8, 'browInnerUp_R': 0.8, 'mouthFrown_L': 1.0, 'mouthFrown_R': 1.0,
           'mouthShrugLower': 0.4},
}
# Skin tones (linear-ish RGB albedo), light to dark, and the BU-3DFE race tag written for each band.
SKIN_TONES = np.array([[0.88, 0.71, 0.61], [0.78, 0.58, 0.46], [0.68, 0.50, 0.37], [0.55, 0.38, 0.27],
                       [0.40, 0.27, 0.19], [0.30, 0.20, 0.14]], np.float32)
_RACE_TAGS = ('WH', 'AE', 'LA', 'IN', 'AM', 'BL')


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """What to generate (every field is part of the cache key)."""
  num_identities: int = 16  # training clips, one identity each
  num_frames: int = model_config.NUM_FRAMES  # N_f frames per training clip
  num_neutral: int = 8  # neutral single images (other identities)
  num_test_subjects: int = 4  # BU-3DFE-layout test subjects
  test_expressions: tuple[str, ...] = ('NE00', 'HA04', 'SU04')
  identity_modes: int = 40  # K leading ICT identity modes
  max_active_blendshapes: int = 4
  neutral_frame_probability: float = 0.15  # frames of training clips that are exactly neutral
  yaw_deg: float = 30.0
  pitch_deg: float = 15.0
  roll_deg: float = 10.0
  test_image_size: int = 512  # BU-3DFE F2D photos are 512 x 512
  seed: int = 0
  region: str = 'narrow'

  def key(self) -> str:
    blob = json.dumps({**dataclasses.asdict(self), 'version': GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class SyntheticDataset:
  """Paths of a generated dataset."""
  root: pathlib.Path
  train_video: str  # glob of the multi-frame records
  train_neutral: str  # glob of the neutral single-image records
  train_groundtruth: dict[str, pathlib.Path]  # 'video' / 'neutral' -> npz
  test_bu3dfe: pathlib.Path  # BU-3DFE layout root
  test_groundtruth: pathlib.Path
  config: SyntheticConfig


def _paths(root: pathlib.Path, cfg: SyntheticConfig) -> SyntheticDataset:
  return SyntheticDataset(root=root, train_video=str(root / 'train' / 'video-*.tfrecord'),
                          train_neutral=str(root / 'train' / 'neutral-*.tfrecord'),
                          train_groundtruth={'video': root / 'train' / 'video_groundtruth.npz',
                                             'neutral': root / 'train' / 'neutral_groundtruth.npz'},
                          test_bu3dfe=root / 'test' / 'bu3dfe',
                          test_groundtruth=root / 'test' / 'groundtruth.npz',
                          config=cfg)


# --------------------------------------------------------------------------------------------- the model


class _FaceSpace:
  """Template, identity / expression bases on the template, semantics for the contours and landmarks."""

  def __init__(self, cfg: SyntheticConfig):
    from model import assets  # pylint: disable=g-import-not-at-top
    from model import image_formation  # pylint: disable=g-import-not-at-top
    from model import semantics  # pylint: disable=g-import-not-at-top
    from model import template as template_lib  # pylint: disable=g-import-not-at-top
    self.template = template_lib.load_template(cfg.region)
    t = self.template
    self.mean = np.asarray(t.vertices, np.float32)
    self.triangles = np.asarray(t.triangles, np.int32)
    self.identity = t.map_ict(assets.load_identity_deltas(cfg.identity_modes))  # [K, N, 3]
    expr, self.expression_names = assets.load_expression_deltas()
    self.expression = t.map_ict(expr)  # [53, N, 3]
    self.mesh = image_formation.RenderMesh.from_template(t)
    sem = t.semantics
    self.upper_outer = np.asarray(sem.upper_lip_contour, np.int32)  # 48 -> 54
    self.lower_outer = np.asarray(sem.lower_lip_contour, np.int32)  # 54 -> 48
    self.upper_inner, self.lower_inner = self._inner_contours(semantics.boundary_loops(self.triangles))
    lip_tris = self.triangles[np.asarray(sem.triangle_regions) > 0]
    self.lip_vertices = np.zeros(len(self.mean), bool)
    self.lip_vertices[lip_tris.ravel()] = True
    self.bnd_vertices = self._bu3dfe_landmarks()

  def _inner_contours(self, loops):
    """Arcs of the mouth-opening boundary loop: upper 60 -> 64 and lower 64 -> 60 (iBUG inner corners)."""
    lm = self.mean[self.template.landmarks]
    centre = (lm[62] + lm[66]) / 2
    loop = min(loops, key=lambda l: np.linalg.norm(self.mean[l].mean(0) - centre))
    pos = self.mean[loop]
    i60 = int(np.argmin(np.linalg.norm(pos - lm[60], axis=1)))
    i64 = int(np.argmin(np.linalg.norm(pos - lm[64], axis=1)))
    n = len(loop)
    arc_a = [loop[(i60 + k) % n] for k in range((i64 - i60) % n + 1)]  # 60 -> 64 one way
    arc_b = [loop[(i64 + k) % n] for k in range((i60 - i64) % n + 1)]  # 64 -> 60 the other way
    if self.mean[arc_a, 1].mean() >= self.mean[arc_b, 1].mean():
      return np.asarray(arc_a, np.int32), np.asarray(arc_b, np.int32)
    return np.asarray(arc_b[::-1], np.int32), np.asarray(arc_a[::-1], np.int32)

  def _bu3dfe_landmarks(self) -> np.ndarray:
    """83 BU-3DFE landmark vertices (groups as in ``readers.BU3DFE_LANDMARK_GROUPS``), approximated from the
    iBUG-68 vertices: each BU group is the matching iBUG curve resampled to the BU count and snapped to the
    nearest template vertex."""
    p = self.mean[self.template.landmarks].astype(np.float64)

    def resample(idx, count, closed=False):
      pts = p[list(idx) + ([idx[0]] if closed else [])]
      seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
      s = np.concatenate([[0], np.cumsum(seg)])
      t = np.linspace(0, s[-1], count + (1 if closed else 0))[:count]
      return np.stack([np.interp(t, s, pts[:, k]) for k in range(3)], -1)

    groups = [resample(range(36, 42), 8, True), resample(range(42, 48), 8, True),  # eyes (image left first)
              resample(range(17, 22), 10), resample(range(22, 27), 10),  # brows
              resample([31, 32, 33], 3), resample([33, 34, 35], 3), resample(range(27, 36), 6),  # nose
              p[48:60], p[60:68], resample(range(0, 17), 15)]  # mouth outer, inner, jaw
    pts = np.concatenate(groups)
    d = np.linalg.norm(self.mean[None].astype(np.float64) - pts[:, None], axis=-1)
    return np.argmin(d, axis=1).astype(np.int64)


# ----------------------------------------------------------------------------------------- sampling


def _sample_albedo(rng, space: _FaceSpace) -> tuple[np.ndarray, float]:
  """Per-vertex albedo [N, 3] and the skin-tone position in SKIN_TONES (0 light .. 5 dark)."""
  t = rng.uniform(0, len(SKIN_TONES) - 1)
  lo = int(math.floor(t))
  base = SKIN_TONES[lo] * (1 - (t - lo)) + SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)] * (t - lo)
  v = space.mean
  variation = np.zeros_like(v)
  for _ in range(4):  # smooth variation: a few random low-frequency waves over the surface
    k = rng.normal(0, 1, 3)
    k *= 2 * np.pi / rng.uniform(6.0, 18.0) / np.linalg.norm(k)
    variation += rng.uniform(0.01, 0.04) * np.sin(v @ k + rng.uniform(0, 2 * np.pi))[:, None] * (
        1 + rng.normal(0, 0.3, 3))
  albedo = base[None] * (1 + variation)
  albedo[space.lip_vertices] *= np.array([1.0, 0.72, 0.75]) * rng.uniform(0.85, 1.0)
  return np.clip(albedo, 0.02, 1.0).astype(np.float32), float(t)


def _sample_expression(rng, cfg: SyntheticConfig, neutral: bool) -> np.ndarray:
  w = np.zeros(assets.NUM_ICT_EXPRESSIONS, np.float32)
  if neutral:
    return w
  k = rng.integers(1, cfg.max_active_blendshapes + 1)
  w[rng.choice(assets.NUM_ICT_EXPRESSIONS, size=k, replace=False)] = rng.uniform(0.2, 1.0, k)
  return w


def _sample_sh(rng) -> np.ndarray:
  from model import lighting  # pylint: disable=g-import-not-at-top
  d = np.array([rng.uniform(-1, 1), rng.uniform(-0.5, 1), rng.uniform(0.3, 1)])
  tint = 1 + rng.normal(0, 0.04, 3)
  return lighting.directional_sh(d, intensity=rng.uniform(0.1, 0.5) * tint,
                                 ambient=rng.uniform(0.55, 0.9) * tint)[0]


def _sample_pose(rng, cfg: SyntheticConfig, frontal: bool = False) -> tuple[np.ndarray, np.ndarray]:
  from model import camera  # pylint: disable=g-import-not-at-top
  if frontal:
    angles = np.radians([rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-2, 2)])
    jitter = np.zeros(3)
  else:
    angles = np.radians([rng.uniform(-cfg.pitch_deg, cfg.pitch_deg), rng.uniform(-cfg.yaw_deg, cfg.yaw_deg),
                         rng.uniform(-cfg.roll_deg, cfg.roll_deg)])
    jitter = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-8, 8)])
  return angles.astype(np.float32), (np.asarray(camera.DEFAULT_TRANSLATION) + jitter).astype(np.float32)


def _background(rng, size: int) -> np.ndarray:
  import cv2  # pylint: disable=g-import-not-at-top
  grid = rng.uniform(0, 1, (rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.float32)
  bg = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
  bg += rng.normal(0, 0.03, (size, size, 3)).astype(np.float32)
  return np.clip(bg, 0, 1)


# ----------------------------------------------------------------------------------------- rendering


def _render(space: _FaceSpace, vertices, albedo, angles, translation, sh, backgrounds, size: int):
  """Renders a batch; returns numpy images (uint8), landmarks, label maps, projected vertices."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from model import camera as camera_lib  # pylint: disable=g-import-not-at-top
  from model import image_formation  # pylint: disable=g-import-not-at-top
  cam = camera_lib.Camera.for_image_size(size, size)
  out = image_formation.render(tf.constant(vertices), tf.constant(albedo),
                               (tf.constant(angles), tf.constant(translation)), tf.constant(sh), cam,
                               space.mesh, background=tf.constant(backgrounds))
  image = np.clip(np.round(out['image'].numpy() * 255.0), 0, 255).astype(np.uint8)
  regions = out['regions'].numpy()
  labels = np.where(regions == 1, 1, np.where(regions == 2, 2, 0)).astype(np.uint8)
  return image, out['landmarks2d'].numpy(), labels, out['projected'].numpy()


def _frames(space, images, landmarks, labels, projected) -> list[schema.Frame]:
  frames = []
  for i in range(len(images)):
    pr = projected[i]
    contours = [pr[space.upper_outer], pr[space.upper_inner], pr[space.lower_outer], pr[space.lower_inner]]
    frames.append(schema.Frame(image=images[i], landmarks=landmarks[i].astype(np.float32), lip_mask=labels[i],
                               lip_contours=[lips.resample_polyline(c, CONTOUR_POINTS) for c in contours],
                               frame_index=i, crop_box=(0.0, 0.0, float(model_config.IMAGE_SIZE))))
  return frames


def _identity(rng, cfg, space):
  alpha = rng.normal(0, 1, cfg.identity_modes).astype(np.float32)
  neutral = space.mean + np.tensordot(alpha, space.identity, 1)
  albedo, tone = _sample_albedo(rng, space)
  return alpha, neutral.astype(np.float32), albedo, tone


def _generate_split(rng, cfg, space, count: int, frames_per: int, neutral_only: bool, prefix: str,
                    out_dir: pathlib.Path) -> None:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  size = model_config.IMAGE_SIZE
  gt = {k: [] for k in ('alpha', 'expression', 'angles', 'translation', 'sh', 'albedo', 'neutral_vertices',
                        'vertices', 'landmarks2d', 'skin_tone')}
  ids = []
  with tf.io.TFRecordWriter(str(out_dir / f'{prefix}-00000-of-00001.tfrecord')) as writer:
    for n in range(count):
      alpha, neutral, albedo, tone = _identity(rng, cfg, space)
      expr = np.stack([
          _sample_expression(rng, cfg, neutral_only or rng.uniform() < cfg.neutral_frame_probability)
          for _ in range(frames_per)])
      poses = [_sample_pose(rng, cfg) for _ in range(frames_per)]
      angles = np.stack([p[0] for p in poses])
      trans = np.stack([p[1] for p in poses])
      sh = np.stack([_sample_sh(rng) for _ in range(frames_per)]).astype(np.float32)
      bgs = np.stack([_background(rng, size) for _ in range(frames_per)])
      verts = (neutral[None] + np.tensordot(expr, space.expression, 1)).astype(np.float32)
      images, lms, labels, projected = _render(space, verts, np.repeat(albedo[None], frames_per, 0), angles,
                                               trans, sh, bgs, size)
      clip_id = f'synthetic-{cfg.seed}-{prefix}-{n:05d}'
      sample = schema.Sample(frames=_frames(space, images, lms, labels, projected), dataset='synthetic',
                             source=f'{prefix}/{n:05d}', clip_id=clip_id,
                             identity_id=f'{prefix}-id{n:05d}', is_neutral=1 if neutral_only else 0,
                             is_video=frames_per > 1, source_size=(size, size))
      writer.write(schema.serialize_sample(sample))
      ids.append(clip_id)
      for k, v in (('alpha', alpha), ('expression', expr), ('angles', angles), ('translation', trans),
                   ('sh', sh), ('albedo', albedo), ('neutral_vertices', neutral), ('vertices', verts),
                   ('landmarks2d', lms.astype(np.float32)), ('skin_tone', np.float32(tone))):
        gt[k].append(v)
  np.savez_compressed(out_dir / f'{prefix}_groundtruth.npz', clip_id=np.array(ids),
                      triangles=space.triangles, landmark_vertices=np.asarray(space.template.landmarks),
                      expression_names=np.array(space.expression_names),
                      **{k: np.stack(v) for k, v in gt.items()})


def _expression_weights(space: _FaceSpace, code: str) -> np.ndarray:
  w = np.zeros(assets.NUM_ICT_EXPRESSIONS, np.float32)
  expr, intensity = code[:2], int(code[2:4])
  if expr == 'NE':
    return w
  if expr not in BU3DFE_EXPRESSION_BLENDSHAPES:
    raise ValueError(f'Unknown BU-3DFE expression {code!r}; expected NE00 or one of '
                     f'{sorted(BU3DFE_EXPRESSION_BLENDSHAPES)} with intensity 01-04.')
  for name, value in BU3DFE_EXPRESSION_BLENDSHAPES[expr].items():
    w[space.expression_names.index(name)] = value * intensity / 4.0
  return w


def _generate_test(rng, cfg, space, out_dir: pathlib.Path) -> None:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  size = cfg.test_image_size
  root = out_dir / 'bu3dfe'
  rows = {k: [] for k in ('name', 'alpha', 'expression', 'angles', 'translation', 'sh', 'albedo',
                          'vertices', 'neutral_vertices', 'landmarks2d')}
  for s in range(cfg.num_test_subjects):
    alpha, neutral, albedo, tone = _identity(rng, cfg, space)
    subject = f'{"FM"[s % 2]}{s // 2 + 1:04d}'
    race = _RACE_TAGS[min(int(round(tone)), len(_RACE_TAGS) - 1)]
    (root / subject).mkdir(parents=True, exist_ok=True)
    for code in cfg.test_expressions:
      w = _expression_weights(space, code)
      verts = (neutral + np.tensordot(w, space.expression, 1)).astype(np.float32)
      angles, trans = _sample_pose(rng, cfg, frontal=True)
      sh = _sample_sh(rng).astype(np.float32)
      img, lms, _, _ = _render(space, verts[None], albedo[None], angles[None], trans[None], sh[None],
                               _background(rng, size)[None], size)
      stem = f'{subject}_{code}{race}'
      mm = verts * 10.0  # the template is in cm, BU-3DFE in mm
      readers.write_wrl(root / subject / f'{stem}_F3D.wrl', mm, space.triangles)
      readers.write_bnd(root / subject / f'{stem}_F3D.bnd', space.bnd_vertices, mm[space.bnd_vertices])
      Image.fromarray(img[0]).save(root / subject / f'{stem}_F2D.bmp')
      for k, v in (('name', stem), ('alpha', alpha), ('expression', w), ('angles', angles),
                   ('translation', trans), ('sh', sh), ('albedo', albedo), ('vertices', verts),
                   ('neutral_vertices', neutral), ('landmarks2d', lms[0])):
        rows[k].append(v)
  np.savez_compressed(out_dir / 'groundtruth.npz', triangles=space.triangles,
                      bnd_vertices=space.bnd_vertices, landmark_vertices=np.asarray(space.template.landmarks),
                      image_size=np.int32(size), **{k: np.stack(v) for k, v in rows.items()})


def generate(root: str | os.PathLike, cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticDataset:
  """Generates the dataset into ``root`` (which must not exist or be empty)."""
  root = pathlib.Path(root)
  (root / 'train').mkdir(parents=True, exist_ok=True)
  (root / 'test').mkdir(parents=True, exist_ok=True)
  space = _FaceSpace(cfg)
  # Independent streams: changing one split's size does not change the others.
  seeds = np.random.SeedSequence([cfg.seed, GENERATOR_VERSION]).spawn(3)
  _generate_split(np.random.default_rng(seeds[0]), cfg, space, cfg.num_identities, cfg.num_frames, False,
                  'video', root / 'train')
  _generate_split(np.random.default_rng(seeds[1]), cfg, space, cfg.num_neutral, 1, True, 'neutral',
                  root / 'train')
  _generate_test(np.random.default_rng(seeds[2]), cfg, space, root / 'test')
  (root / 'config.json').write_text(json.dumps({**dataclasses.asdict(cfg), 'version': GENERATOR_VERSION},
                                               indent=1))
  return _paths(root, cfg)


def ensure_synthetic_dataset(config: SyntheticConfig | None = None,
                             root: str | os.PathLike | None = None) -> SyntheticDataset:
  """Returns the synthetic dataset's paths, generating it first if needed.

  Args:
    config: what to generate (default: ``SyntheticConfig()``, a few tens of samples, seconds on a CPU).
    root: where; default ``cache_dir('synthetic', config.key())``. A finished dataset has a ``DONE`` file;
      generation goes to a temporary sibling folder that is renamed into place, so concurrent callers
      never see a partial dataset.
  """
  cfg = config or SyntheticConfig()
  root = pathlib.Path(root) if root else paths.cache_dir('synthetic') / cfg.key()
  if (root / 'DONE').exists():
    return _paths(root, cfg)
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
  return _paths(root, cfg)


def main(argv: Sequence[str]) -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  cfg = SyntheticConfig(num_identities=f.num_identities, num_frames=f.num_frames, num_neutral=f.num_neutral,
                        num_test_subjects=f.num_test_subjects, test_expressions=tuple(f.test_expressions),
                        identity_modes=f.identity_modes, max_active_blendshapes=f.max_active_blendshapes,
                        yaw_deg=f.yaw_deg, pitch_deg=f.pitch_deg, roll_deg=f.roll_deg, seed=f.seed)
  t0 = time.time()
  ds = ensure_synthetic_dataset(cfg, f.output)
  print(f'synthetic dataset ({time.time() - t0:.1f} s): {ds.root}\n  train video:   {ds.train_video}\n'
        f'  train neutral: {ds.train_neutral}\n  test BU-3DFE:  {ds.test_bu3dfe}')


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  d = SyntheticConfig()
  flags.DEFINE_string('output', None, 'Output folder (default: the cache folder for this configuration).')
  flags.DEFINE_integer('num_identities', d.num_identities, 'Training clips (one identity each).')
  flags.DEFINE_integer('num_frames', d.num_frames, 'N_f frames per training clip.')
  flags.DEFINE_integer('num_neutral', d.num_neutral, 'Neutral single-image samples (other identities).')
  flags.DEFINE_integer('num_test_subjects', d.num_test_subjects, 'Subjects of the BU-3DFE-layout test split.')
  flags.DEFINE_list('test_expressions', list(d.test_expressions), 'BU-3DFE expression codes per subject '
                    '(NE00, or AN/DI/FE/HA/SA/SU with intensity 01-04).')
  flags.DEFINE_integer('identity_modes', d.identity_modes, 'K leading ICT identity modes (<= 100).')
  flags.DEFINE_integer('max_active_blendshapes', d.max_active_blendshapes,
                       'Max active blendshapes per frame.')
  flags.DEFINE_float('yaw_deg', d.yaw_deg, 'Yaw range +- (degrees).')
  flags.DEFINE_float('pitch_deg', d.pitch_deg, 'Pitch range +- (degrees).')
  flags.DEFINE_float('roll_deg', d.roll_deg, 'Roll range +- (degrees).')
  flags.DEFINE_integer('seed', d.seed, 'Random seed (the dataset is a pure function of the flags).')


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  _define_flags()
  app.run(main)
