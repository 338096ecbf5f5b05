"""The template mesh: ICT face area (narrow face by default), optional midpoint subdivision, semantics.

``load_template(region='narrow', subdivision_level=0)`` returns a ``Template``: neutral geometry (cm),
topology, texture coordinates, and the semantic annotations of ``model.semantics`` carried through the
compact vertex remap and every subdivision level (original vertices first, so landmark and node indices
stay valid; per-triangle labels repeat for the 4 children; contours gain their edge midpoints).

Sizes: narrow face 6,706 vertices / 13,120 triangles; level 1: 26,534 / 52,480; level 2: 105,550 /
209,920 (the paper's mesh has ~60k vertices).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import numpy as np
import scipy.sparse as sp

from model import assets
from model import semantics as semantics_lib
from model import subdivision

REGIONS = ('narrow', 'full')


@dataclasses.dataclass(frozen=True)
class Template:
  """A template mesh with its annotations.

  Attributes:
    vertices: float32 [N, 3] neutral geometry Vbar, cm (+y up, +z out of the face).
    triangles: int32 [T, 3] counter-clockwise seen from outside (outward normals).
    uv: float32 [U, 2] texture coordinates (OBJ convention: v up).
    triangle_uv: int32 [T, 3] uv index of each triangle corner.
    semantics: landmarks, jaw candidates, lip regions and contours (``model.semantics.Semantics``).
    ict_to_template: float32 sparse [N, 9409]; maps per-vertex quantities of the ICT face area (e.g. the
      ICT identity / expression deltas) onto this template.
    base_to_template: float32 sparse [N, N0]; maps per-vertex quantities of the unsubdivided template
      (N0 vertices, level 0) onto this one (identity at level 0).
    region: 'narrow' or 'full'.
    subdivision_level: 0, 1, 2, ...
  """
  vertices: np.ndarray
  triangles: np.ndarray
  uv: np.ndarray
  triangle_uv: np.ndarray
  semantics: semantics_lib.Semantics
  ict_to_template: sp.csr_matrix
  base_to_template: sp.csr_matrix
  region: str
  subdivision_level: int

  @property
  def num_vertices(self) -> int:
    return len(self.vertices)

  @property
  def num_triangles(self) -> int:
    return len(self.triangles)

  @property
  def landmarks(self) -> np.ndarray:
    return self.semantics.landmarks

  def map_ict(self, per_vertex: np.ndarray) -> np.ndarray:
    """Maps ICT face-area per-vertex arrays [..., 9409, C] to this template [..., N, C]."""
    per_vertex = np.asarray(per_vertex, np.float32)
    lead = per_vertex.shape[:-2]
    flat = per_vertex.reshape((-1,) + per_vertex.shape[-2:])
    out = np.stack([self.ict_to_template @ x for x in flat]) if len(flat) else np.zeros(
        (0, self.num_vertices, per_vertex.shape[-1]), np.float32)
    return out.reshape(lead + (self.num_vertices, per_vertex.shape[-1])).astype(np.float32)

  def fingerprint(self) -> str:
    """Hash of geometry and topology (used in cache names)."""
    h = hashlib.sha1()
    for a in (self.vertices, self.triangles):
      h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _remap(ids: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
  """Returns (used ids sorted, old->new map with -1 for unused)."""
  used = np.unique(ids)
  new = np.full(size, -1, np.int64)
  new[used] = np.arange(len(used))
  return used, new


def _compact_base(region: str) -> Template:
  face = assets.load_face_area()
  tris = face.narrow_triangles if region == 'narrow' else face.triangles
  tri_uv = face.triangle_uv[:len(tris)]
  used, new = _remap(tris, len(face.vertices))
  used_uv, new_uv = _remap(tri_uv, len(face.uv))
  triangles = new[tris].astype(np.int32)
  landmarks = new[face.landmarks68]
  if np.any(landmarks < 0):
    raise ValueError(f'some landmark vertices are not part of the {region} face region')
  vertices = face.vertices[used]
  sem = semantics_lib.compute_semantics(vertices, triangles, landmarks.astype(np.int32))
  n = len(used)
  select = sp.csr_matrix((np.ones(n, np.float32), (np.arange(n), used)),
                         shape=(n, len(face.vertices)))
  return Template(vertices=vertices, triangles=triangles, uv=face.uv[used_uv],
                  triangle_uv=new_uv[tri_uv].astype(np.int32), semantics=sem,
                  ict_to_template=select, base_to_template=sp.identity(n, np.float32, 'csr'),
                  region=region, subdivision_level=0)


def subdivide_template(template: Template) -> Template:
  """One midpoint subdivision level, carrying UVs, labels, contours and landmark indices."""
  step = subdivision.subdivide(template.triangles, template.num_vertices)
  uv_step = subdivision.subdivide(template.triangle_uv, len(template.uv))
  sem = template.semantics
  new_sem = semantics_lib.Semantics(
      landmarks=sem.landmarks, jaw_candidates=sem.jaw_candidates,
      triangle_regions=np.repeat(sem.triangle_regions, 4),
      upper_lip_contour=step.refine_polyline(sem.upper_lip_contour),
      lower_lip_contour=step.refine_polyline(sem.lower_lip_contour))
  op = step.operator
  return Template(
      vertices=(op @ template.vertices).astype(np.float32), triangles=step.triangles,
      uv=(uv_step.operator @ template.uv).astype(np.float32), triangle_uv=uv_step.triangles,
      semantics=new_sem, ict_to_template=(op @ template.ict_to_template).tocsr(),
      base_to_template=(op @ template.base_to_template).tocsr(), region=template.region,
      subdivision_level=template.subdivision_level + 1)


@functools.lru_cache(maxsize=8)
def load_template(region: str = 'narrow', subdivision_level: int = 0) -> Template:
  """Loads the template (memoized; treat the arrays as read-only).

  Args:
    region: 'narrow' (6,706 vertices, no ears / neck; the default) or 'full' (9,409 vertices).
    subdivision_level: number of midpoint subdivisions (each multiplies the triangle count by 4).

  Returns:
    The ``Template``.
  """
  if region not in REGIONS:
    raise ValueError(f'region must be one of {REGIONS}, got {region!r}')
  if not 0 <= subdivision_level <= 3:
    raise ValueError(f'subdivision_level must be in [0, 3], got {subdivision_level}')
  if subdivision_level == 0:
    return _compact_base(region)
  return subdivide_template(load_template(region, subdivision_level - 1))
