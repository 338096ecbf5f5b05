"""Loading the ICT face-area assets (template mesh, identity and expression deltas).

The one place that resolves the assets folder: ``ict_face_dir()``. The arrays ship with the package
(``model/ict_face``: ICT Face Model Light, MIT, USC Institute for Creative Technologies; ``LICENSE`` and
``SOURCE.txt`` beside them); the ``C3DMM_ICT_FACE`` environment variable points elsewhere.
Everything is in centimetres, +y up, +z out of the face (see ``SOURCE.txt`` in the assets folder).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib

import numpy as np

from common import paths

TEMPLATE_FILE = 'ict_face_area_template.npz'
EXPRESSION_FILE = 'ict_face_area_expression_deltas_f16.npz'
IDENTITY_FILES = ('ict_face_area_identity_deltas_f16_000-049.npz',
                  'ict_face_area_identity_deltas_f16_050-099.npz')
# Number of vertices of the ICT face area (vertex indices [0, 9409) of the full ICT head).
ICT_FACE_AREA_NUM_VERTICES = 9409
# Number of ICT expression blendshapes (the expression archive's first axis).
NUM_ICT_EXPRESSIONS = 53
# Number of ICT identity PCA modes shipped (two archives of 50).
NUM_ICT_IDENTITY_MODES = 100


def ict_face_dir() -> pathlib.Path:
  """Returns the ICT face assets folder, raising FileNotFoundError with a hint when it is missing."""
  override = os.environ.get('C3DMM_ICT_FACE')
  if override:
    path = pathlib.Path(override).expanduser()
    if not path.is_dir():
      raise FileNotFoundError(f'C3DMM_ICT_FACE points at {path}, which is not a folder.')
  else:
    path = paths.package_data('model', 'ict_face')
  if not (path / TEMPLATE_FILE).is_file():
    raise FileNotFoundError(f'{path / TEMPLATE_FILE} is missing: not an ICT face assets folder.')
  return path


@dataclasses.dataclass(frozen=True)
class IctFaceArea:
  """The ICT face area as stored in the assets (9,409 vertices, full face incl. ears and neck).

  Attributes:
    vertices: float32 [9409, 3] neutral geometry, cm.
    triangles: int32 [18460, 3] full face-area triangles (counter-clockwise seen from outside).
    uv: float32 [U, 2] texture coordinates in [0, 1] (v up, OBJ convention).
    triangle_uv: int32 [18460, 3] uv index of each triangle corner (uv index != vertex index).
    narrow_triangles: int32 [13120, 3] the narrow face region (the first 13,120 triangles).
    landmarks68: int32 [68] vertex of each iBUG/Multi-PIE landmark.
  """
  vertices: np.ndarray
  triangles: np.ndarray
  uv: np.ndarray
  triangle_uv: np.ndarray
  narrow_triangles: np.ndarray
  landmarks68: np.ndarray


@functools.lru_cache(maxsize=2)
def _load_face_area(path: str) -> IctFaceArea:
  with np.load(path) as d:
    narrow = d['narrow_face_triangles'].astype(np.int32)
    triangles = d['triangles'].astype(np.int32)
    if not np.array_equal(triangles[:len(narrow)], narrow):
      raise ValueError(f'{path}: narrow_face_triangles is expected to be a prefix of triangles.')
    return IctFaceArea(
        vertices=d['neutral_vertices'].astype(np.float32), triangles=triangles,
        uv=d['uv'].astype(np.float32), triangle_uv=d['triangle_uv'].astype(np.int32),
        narrow_triangles=narrow, landmarks68=d['landmarks68_vertex'].astype(np.int32))


def load_face_area() -> IctFaceArea:
  """Loads (and memoizes) the ICT face-area template."""
  return _load_face_area(str(ict_face_dir() / TEMPLATE_FILE))


def load_expression_deltas() -> tuple[np.ndarray, list[str]]:
  """Returns the ICT expression blendshape deltas float32 [53, 9409, 3] (cm) and their names."""
  with np.load(ict_face_dir() / EXPRESSION_FILE) as d:
    deltas = d['expression_deltas'].astype(np.float32)
    names = [str(n) for n in d['expression_names']]
  if deltas.shape != (NUM_ICT_EXPRESSIONS, ICT_FACE_AREA_NUM_VERTICES, 3):
    raise ValueError(f'{EXPRESSION_FILE}: expected deltas of shape '
                     f'{(NUM_ICT_EXPRESSIONS, ICT_FACE_AREA_NUM_VERTICES, 3)}, got {deltas.shape}')
  return deltas, names


def load_identity_deltas(num_modes: int = 100) -> np.ndarray:
  """Returns the leading ICT identity PCA modes float32 [num_modes, 9409, 3] (cm).

  Modes are pre-scaled by their standard deviation: identity weights are ~ N(0, 1).
  """
  if not 0 <= num_modes <= NUM_ICT_IDENTITY_MODES:
    raise ValueError(f'num_modes must be in [0, {NUM_ICT_IDENTITY_MODES}], got {num_modes}')
  parts = []
  for name in IDENTITY_FILES:
    if sum(len(p) for p in parts) >= num_modes:
      break
    with np.load(ict_face_dir() / name) as d:
      parts.append(d['identity_deltas'].astype(np.float32))
  if not parts:
    return np.zeros((0, ICT_FACE_AREA_NUM_VERTICES, 3), np.float32)
  return np.concatenate(parts)[:num_modes]
