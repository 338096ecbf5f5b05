"""The synthetic test split in the BU-3DFE layout (``data.bu3dfe``): meshes in mm, 83 landmarks, F2D photos.

Per subject and expression code (``NE00``, ``HA04``, ...): ``<subject>/<stem>_F3D.wrl``, ``_F3D.bnd`` and a
frontal ``_F2D.bmp``; ``groundtruth.npz`` beside the ``bu3dfe`` folder holds the parameters.
"""

from __future__ import annotations

import pathlib

import numpy as np

from data import bu3dfe
from data.synthetic import config as config_lib
from data.synthetic import face_space as face_space_lib
from data.synthetic import render
from data.synthetic import sampling
from model import assets

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
# The BU-3DFE race tag written for each band of sampling.SKIN_TONES (light to dark).
RACE_TAGS = ('WH', 'AE', 'LA', 'IN', 'AM', 'BL')


def bu3dfe_landmark_vertices(space: face_space_lib.FaceSpace) -> np.ndarray:
  """int64 [83] template vertices of the BU-3DFE landmarks (groups as in ``bu3dfe.BU3DFE_LANDMARK_GROUPS``),
  approximated from the iBUG-68 vertices: each BU group is the matching iBUG curve resampled to the BU count
  and snapped to the nearest template vertex."""
  p = space.mean[space.template.landmarks].astype(np.float64)

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
  d = np.linalg.norm(space.mean[None].astype(np.float64) - pts[:, None], axis=-1)
  return np.argmin(d, axis=1).astype(np.int64)


def expression_weights(space: face_space_lib.FaceSpace, code: str) -> np.ndarray:
  """float32 [53] blendshape weights of a BU-3DFE expression code (``NE00``, ``HA04``, ...).

  Raises:
    ValueError: an unknown code.
  """
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


def generate_test(rng: np.random.Generator, cfg: config_lib.SyntheticConfig, space: face_space_lib.FaceSpace,
                  out_dir: pathlib.Path) -> None:
  """Writes ``out_dir/bu3dfe/...`` and ``out_dir/groundtruth.npz`` for ``cfg.num_test_subjects`` subjects
  times ``cfg.test_expressions``."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  size = cfg.test_image_size
  root = out_dir / 'bu3dfe'
  bnd_vertices = bu3dfe_landmark_vertices(space)
  rows = {k: [] for k in ('name', 'alpha', 'expression', 'angles', 'translation', 'sh', 'albedo',
                          'vertices', 'neutral_vertices', 'landmarks2d')}
  for s in range(cfg.num_test_subjects):
    alpha, neutral, albedo, tone = sampling.sample_identity(rng, cfg, space)
    subject = f'{"FM"[s % 2]}{s // 2 + 1:04d}'
    race = RACE_TAGS[min(int(round(tone)), len(RACE_TAGS) - 1)]
    (root / subject).mkdir(parents=True, exist_ok=True)
    for code in cfg.test_expressions:
      w = expression_weights(space, code)
      verts = (neutral + np.tensordot(w, space.expression, 1)).astype(np.float32)
      angles, trans = sampling.sample_pose(rng, cfg, frontal=True)
      sh = sampling.sample_sh(rng).astype(np.float32)
      img, lms, _, _, _ = render.render_batch(space, verts[None], albedo[None], angles[None], trans[None],
                                           sh[None], sampling.sample_background(rng, size)[None], size)
      stem = f'{subject}_{code}{race}'
      mm = verts * 10.0  # the template is in cm, BU-3DFE in mm
      bu3dfe.write_wrl(root / subject / f'{stem}_F3D.wrl', mm, space.triangles)
      bu3dfe.write_bnd(root / subject / f'{stem}_F3D.bnd', bnd_vertices, mm[bnd_vertices])
      Image.fromarray(img[0]).save(root / subject / f'{stem}_F2D.bmp')
      for k, v in (('name', stem), ('alpha', alpha), ('expression', w), ('angles', angles),
                   ('translation', trans), ('sh', sh), ('albedo', albedo), ('vertices', verts),
                   ('neutral_vertices', neutral), ('landmarks2d', lms[0])):
        rows[k].append(v)
  np.savez_compressed(out_dir / 'groundtruth.npz', triangles=space.triangles,
                      bnd_vertices=bnd_vertices, landmark_vertices=np.asarray(space.template.landmarks),
                      image_size=np.int32(size), **{k: np.stack(v) for k, v in rows.items()})
