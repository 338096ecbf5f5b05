"""Semantic annotations on the template: landmarks, jaw-contour candidates, lip regions and contours.

Everything is derived from the ICT landmark vertices (iBUG / Multi-PIE 68-point order) and the mesh
itself, deterministically, on the base (unsubdivided) template:

* Landmarks: the 68 ICT landmark vertices. The paper fits 66 points (the Saragih et al. [47] 66-point
  convention), which lacks the two inner-mouth corners 60 and 64: on an open mouth they nearly coincide
  with the outer corners 48 and 54 and detectors place them unreliably. ``LANDMARKS66`` lists the kept
  68-point indices.
* Jaw contour (landmarks 0-16): the silhouette moves over the face as the head turns, so each jaw landmark
  has a horizontal line of candidate vertices, from the annotated vertex towards the face midline at the
  landmark's height; the renderer picks the candidate that is extreme in image x on the landmark's side
  (``model.landmarks``). Seen frontally that is the annotated vertex; on the side turning away it is the
  occluding contour.
* Lips: the outer lip contour is the closed vertex loop through the outer-lip landmarks 48-59, joined by
  shortest edge paths. The lip region is the band of triangles between that loop and the mouth opening
  (the mesh boundary loop there); shortest paths from the mouth corners 48 and 54 to the opening split it
  into upper and lower lip.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

NUM_LANDMARKS = 68
JAW_LANDMARKS = tuple(range(17))
DROPPED_FOR_66 = (60, 64)  # inner-mouth corners, absent from the 66-point convention
LANDMARKS66 = tuple(i for i in range(NUM_LANDMARKS) if i not in DROPPED_FOR_66)
OUTER_LIP = tuple(range(48, 60))
MOUTH_CORNERS = (48, 54)

REGION_SKIN, REGION_UPPER_LIP, REGION_LOWER_LIP = 0, 1, 2
REGION_NAMES = ('skin', 'upper_lip', 'lower_lip')


@dataclasses.dataclass(frozen=True)
class Semantics:
  """Semantic annotations of one mesh.

  Attributes:
    landmarks: int32 [68] landmark vertices, iBUG order (jaw ones are the frontal-pose defaults).
    jaw_candidates: int32 [17, K] candidate vertices per jaw landmark, padded by repeating the annotated
      vertex (repeats never change which candidate is extreme).
    triangle_regions: int32 [T] REGION_SKIN / REGION_UPPER_LIP / REGION_LOWER_LIP per triangle.
    upper_lip_contour: int32 [L1] outer contour of the upper lip, vertex polyline from corner 48 to 54.
    lower_lip_contour: int32 [L2] outer contour of the lower lip, vertex polyline from corner 54 to 48.
  """
  landmarks: np.ndarray
  jaw_candidates: np.ndarray
  triangle_regions: np.ndarray
  upper_lip_contour: np.ndarray
  lower_lip_contour: np.ndarray

  @property
  def upper_lip_triangles(self) -> np.ndarray:
    return np.flatnonzero(self.triangle_regions == REGION_UPPER_LIP).astype(np.int32)

  @property
  def lower_lip_triangles(self) -> np.ndarray:
    return np.flatnonzero(self.triangle_regions == REGION_LOWER_LIP).astype(np.int32)

  @property
  def outer_lip_loop(self) -> np.ndarray:
    """Closed outer lip loop (upper contour then lower contour, shared corners once)."""
    return np.concatenate([self.upper_lip_contour, self.lower_lip_contour[1:-1]])


def edge_graph(vertices: np.ndarray, triangles: np.ndarray) -> sp.csr_matrix:
  """Symmetric sparse [N, N] matrix of mesh edge lengths (cm)."""
  e = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
  e = np.unique(np.sort(e, 1), axis=0)
  w = np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1).astype(np.float64)
  n = len(vertices)
  g = sp.coo_matrix((np.concatenate([w, w]), (np.concatenate([e[:, 0], e[:, 1]]),
                                              np.concatenate([e[:, 1], e[:, 0]]))), shape=(n, n))
  return g.tocsr()


def shortest_path(graph: sp.csr_matrix, source: int, target: int) -> np.ndarray:
  """Vertex path (inclusive) along mesh edges from source to target (Dijkstra)."""
  _, pred = csgraph.dijkstra(graph, indices=source, return_predecessors=True)
  path = [target]
  while path[-1] != source:
    p = pred[path[-1]]
    if p < 0:
      raise ValueError(f'vertices {source} and {target} are not connected')
    path.append(p)
  return np.asarray(path[::-1], np.int32)


def boundary_loops(triangles: np.ndarray) -> list[np.ndarray]:
  """Boundary vertex loops of a manifold triangle mesh (each loop in boundary-edge order)."""
  directed = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
  keys = set(map(tuple, directed.tolist()))
  nxt = {a: b for a, b in directed.tolist() if (b, a) not in keys}
  loops, seen = [], set()
  for start in sorted(nxt):
    if start in seen:
      continue
    loop, v = [], start
    while v not in seen:
      seen.add(v)
      loop.append(v)
      v = nxt[v]
    loops.append(np.asarray(loop, np.int32))
  return loops


def _flood_fill(triangles: np.ndarray, allowed: np.ndarray, seeds: np.ndarray,
                blocked_edges: set[tuple[int, int]]) -> np.ndarray:
  """Triangles reachable from seeds through shared edges that are not blocked, within ``allowed``."""
  edge_tris = collections.defaultdict(list)
  for t, tri in enumerate(triangles.tolist()):
    for k in range(3):
      a, b = tri[k], tri[(k + 1) % 3]
      edge_tris[(min(a, b), max(a, b))].append(t)
  reached = np.zeros(len(triangles), bool)
  stack = [int(s) for s in seeds if allowed[s]]
  reached[stack] = True
  while stack:
    t = stack.pop()
    tri = triangles[t]
    for k in range(3):
      a, b = int(tri[k]), int(tri[(k + 1) % 3])
      key = (min(a, b), max(a, b))
      if key in blocked_edges:
        continue
      for u in edge_tris[key]:
        if allowed[u] and not reached[u]:
          reached[u] = True
          stack.append(u)
  return reached


def _path_edges(path: np.ndarray, closed: bool = False) -> set[tuple[int, int]]:
  nxt = np.roll(path, -1) if closed else path[1:]
  cur = path if closed else path[:-1]
  return {(min(a, b), max(a, b)) for a, b in zip(cur.tolist(), nxt.tolist())}


def _lip_regions(vertices, triangles, landmarks, graph):
  n_tri = len(triangles)
  lm = landmarks
  loop = [lm[i] for i in OUTER_LIP]
  segments = [shortest_path(graph, loop[i], loop[(i + 1) % len(loop)]) for i in range(len(loop))]
  upper = np.concatenate([segments[0]] + [s[1:] for s in segments[1:6]])  # 48 -> 54
  lower = np.concatenate([segments[6]] + [s[1:] for s in segments[7:12]])  # 54 -> 48
  outer_edges = _path_edges(upper) | _path_edges(lower)

  # The mouth opening: the boundary loop nearest the lip landmarks.
  lip_centre = vertices[list(loop)].mean(0)
  loops = boundary_loops(triangles)
  mouth = min(loops, key=lambda l: np.linalg.norm(vertices[l].mean(0) - lip_centre))
  seeds = np.flatnonzero(np.isin(triangles, mouth).any(1))
  lips = _flood_fill(triangles, np.ones(n_tri, bool), seeds, outer_edges)
  if lips.sum() > 0.2 * n_tri:
    raise ValueError('lip flood fill leaked out of the outer lip contour')

  # Split at the corners: the mouth opening splits into an upper and a lower arc at the loop vertices
  # nearest the corners 48 and 54; each lip triangle goes to the lip whose contours (outer contour +
  # arc of the opening) are geodesically nearer inside the lip band.
  lip_vertices = np.unique(triangles[lips])
  keep = np.zeros(len(vertices), bool)
  keep[lip_vertices] = True
  mask = sp.diags(keep.astype(np.float64))
  sub = (mask @ graph @ mask).tocsr()
  sub.eliminate_zeros()
  ends = []
  for c in MOUTH_CORNERS:
    d = csgraph.dijkstra(sub, indices=lm[c])
    ends.append(int(np.argmin(d[mouth])))
  i, j = sorted(ends)
  arc_a, arc_b = mouth[i:j + 1], np.concatenate([mouth[j:], mouth[:i + 1]])
  if vertices[arc_a, 1].mean() < vertices[arc_b, 1].mean():
    arc_a, arc_b = arc_b, arc_a
  d_up = csgraph.dijkstra(sub, indices=np.concatenate([upper, arc_a]), min_only=True)
  d_lo = csgraph.dijkstra(sub, indices=np.concatenate([lower, arc_b]), min_only=True)
  with np.errstate(invalid='ignore'):  # inf - inf outside the lips, masked below
    diff = np.where(np.isfinite(d_up) & np.isfinite(d_lo), d_up - d_lo, 0.0)
  score = diff[triangles].sum(1)
  up = lips & (score < 0)
  lo = lips & ~up
  regions = np.full(n_tri, REGION_SKIN, np.int32)
  regions[up] = REGION_UPPER_LIP
  regions[lo] = REGION_LOWER_LIP
  return regions, upper, lower


def _jaw_candidates(vertices, triangles, landmarks, band: float = 0.3, bin_width: float = 0.25):
  """Per jaw landmark: vertices near its height from the landmark to the midline, one per x bin."""
  used = np.zeros(len(vertices), bool)
  used[triangles.reshape(-1)] = True
  idx = np.flatnonzero(used)
  cands = []
  for j in JAW_LANDMARKS:
    v0 = int(landmarks[j])
    x0, y0, _ = vertices[v0]
    side = np.sign(x0) if abs(x0) > 1e-3 else 0.0
    sel = idx[np.abs(vertices[idx, 1] - y0) < band]
    if side != 0:
      sx = side * vertices[sel, 0]
      sel = sel[(sx >= 0) & (sx < side * x0)]  # strictly inside the annotated vertex
    else:
      sel = sel[:0]
    keep = [v0]
    if len(sel):
      bins = np.floor(np.abs(vertices[sel, 0] - x0) / bin_width).astype(int)
      for b in np.unique(bins):
        in_bin = sel[bins == b]
        keep.append(int(in_bin[np.argmin(np.abs(vertices[in_bin, 1] - y0))]))
    cands.append(keep)
  k = max(len(c) for c in cands)
  return np.asarray([c + [c[0]] * (k - len(c)) for c in cands], np.int32)


def compute_semantics(vertices: np.ndarray, triangles: np.ndarray,
                      landmarks: np.ndarray) -> Semantics:
  """Derives jaw candidates, lip regions and lip contours on a mesh from its 68 landmark vertices.

  Args:
    vertices: float [N, 3] neutral geometry, cm.
    triangles: int [T, 3].
    landmarks: int [68] landmark vertex indices (iBUG order).

  Returns:
    The ``Semantics`` of the mesh.
  """
  vertices = np.asarray(vertices, np.float64)
  triangles = np.asarray(triangles, np.int32)
  landmarks = np.asarray(landmarks, np.int32)
  graph = edge_graph(vertices, triangles)
  regions, upper, lower = _lip_regions(vertices, triangles, landmarks, graph)
  jaw = _jaw_candidates(vertices, triangles, landmarks)
  return Semantics(landmarks=landmarks, jaw_candidates=jaw, triangle_regions=regions,
                   upper_lip_contour=upper, lower_lip_contour=lower)
