"""Midpoint (1-to-4) triangle subdivision that keeps the original vertices first.

Each edge gets a new vertex at its midpoint, appended after the existing vertices, so every index into
the coarse mesh (landmarks, candidates, graph nodes) stays valid on the fine mesh. Geometry is not
smoothed (no Loop weights): the subdivided template has exactly the coarse shape, and any per-vertex
quantity maps linearly through ``SubdivisionStep.operator``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp


@dataclasses.dataclass(frozen=True)
class SubdivisionStep:
  """One level of midpoint subdivision.

  Attributes:
    triangles: int32 [4T, 3] fine triangles; coarse triangle t becomes fine triangles 4t .. 4t+3
      (same winding), so per-triangle labels repeat 4 times.
    edges: int32 [E, 2] coarse edges (sorted pairs); edge e's midpoint is fine vertex ``N + e``.
    operator: float32 sparse [N + E, N]; fine attributes = operator @ coarse attributes (rows sum to 1).
  """
  triangles: np.ndarray
  edges: np.ndarray
  operator: sp.csr_matrix

  @property
  def num_coarse(self) -> int:
    return self.operator.shape[1]

  def midpoint(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fine vertex index of the midpoint of coarse edges (a, b); raises KeyError for non-edges."""
    a, b = np.minimum(a, b), np.maximum(a, b)
    key = a.astype(np.int64) * self.num_coarse + b
    edge_keys = self.edges[:, 0].astype(np.int64) * self.num_coarse + self.edges[:, 1]
    pos = np.searchsorted(edge_keys, key)
    pos = np.minimum(pos, len(edge_keys) - 1)
    if np.any(edge_keys[pos] != key):
      raise KeyError('midpoint() asked for a pair of vertices that is not an edge')
    return (self.num_coarse + pos).astype(np.int32)

  def refine_polyline(self, polyline: np.ndarray, closed: bool = False) -> np.ndarray:
    """Inserts the edge midpoints into a vertex polyline whose consecutive vertices share an edge."""
    polyline = np.asarray(polyline, np.int32)
    nxt = np.roll(polyline, -1) if closed else polyline[1:]
    cur = polyline if closed else polyline[:-1]
    mids = self.midpoint(cur, nxt)
    out = np.empty(len(cur) * 2 + (0 if closed else 1), np.int32)
    out[0:2 * len(cur):2] = cur
    out[1:2 * len(cur):2] = mids
    if not closed:
      out[-1] = polyline[-1]
    return out


def subdivide(triangles: np.ndarray, num_vertices: int) -> SubdivisionStep:
  """Builds one midpoint-subdivision step of a triangle mesh.

  Args:
    triangles: int [T, 3] vertex indices in [0, num_vertices).
    num_vertices: N, the coarse vertex count (unused vertices are allowed).

  Returns:
    The ``SubdivisionStep`` (fine topology, coarse edges, linear vertex operator).
  """
  triangles = np.asarray(triangles, np.int64)
  corners = [triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]
  half = np.sort(np.concatenate(corners), axis=1)
  keys = half[:, 0] * num_vertices + half[:, 1]
  unique_keys, inverse = np.unique(keys, return_inverse=True)
  edges = np.stack([unique_keys // num_vertices, unique_keys % num_vertices], 1)
  t = len(triangles)
  mid = num_vertices + inverse.reshape(3, t)  # midpoints of edges (0,1), (1,2), (2,0)
  m01, m12, m20 = mid
  a, b, c = triangles.T
  fine = np.stack([
      np.stack([a, m01, m20], 1), np.stack([m01, b, m12], 1),
      np.stack([m20, m12, c], 1), np.stack([m01, m12, m20], 1)], 1).reshape(-1, 3)
  e = len(edges)
  rows = np.concatenate([np.arange(num_vertices), np.repeat(np.arange(e) + num_vertices, 2)])
  cols = np.concatenate([np.arange(num_vertices), edges.reshape(-1)])
  vals = np.concatenate([np.ones(num_vertices), np.full(2 * e, 0.5)]).astype(np.float32)
  op = sp.csr_matrix((vals, (rows, cols)), shape=(num_vertices + e, num_vertices))
  return SubdivisionStep(triangles=fine.astype(np.int32), edges=edges.astype(np.int32), operator=op)
