"""Embedded deformation graph: nodes, the fixed upsampling matrix U, node adjacency.

Construction (deterministic, on the unsubdivided template; ``base_to_template`` carries U to finer
levels, so a subdivided template shares the graph of its base):

* Nodes: farthest-point sampling with geodesic distances (Dijkstra along mesh edges), seeded at the
  vertex nearest the centroid. Geodesic, not Euclidean, distances keep the upper and lower lip (and
  eyelids) apart: they are close in space but far along the open-mouth surface, and must deform
  independently.
* U: each vertex blends its k geodesically nearest nodes with the embedded-deformation weights of Sumner
  et al. 2007, ``w_j = (1 - d_j / d_max)^2`` with ``d_max`` the distance to the (k+1)-th nearest node,
  normalized so every row sums to 1 (a constant node displacement moves every vertex by it).
* Adjacency: nodes i, j are neighbours when some vertex is influenced by both (the standard embedded
  deformation graph connectivity); used by the smoothness loss (paper Eq. 10).

Graphs are cached as .npz under ``cache_dir('deformation_graph')``; the file name holds a hash of the
template geometry/topology, the parameters and the algorithm version, so any change rebuilds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph

from model import semantics as semantics_lib
from model import template as template_lib
from common import paths
from model import config

_VERSION = 1
DEFAULT_NUM_NODES = config.PAPER.num_nodes
DEFAULT_NUM_NEIGHBOURS = config.PAPER.num_neighbours


@dataclasses.dataclass(frozen=True)
class DeformationGraph:
  """Deformation graph of a template.

  Attributes:
    node_vertices: int32 [G] base-template vertex of each node (also valid on subdivided templates).
    node_positions: float32 [G, 3] rest positions, cm.
    upsampling: float32 sparse [N, G] U; vertex displacement = U @ node displacement. Rows sum to 1.
    edges: int32 [E, 2] undirected node adjacency (i < j), sorted.
  """
  node_vertices: np.ndarray
  node_positions: np.ndarray
  upsampling: sp.csr_matrix
  edges: np.ndarray

  @property
  def num_nodes(self) -> int:
    return len(self.node_vertices)


def farthest_point_sampling(graph: sp.csr_matrix, num_samples: int, seed_vertex: int,
                            candidates: np.ndarray) -> np.ndarray:
  """Geodesic farthest-point sampling over ``candidates`` (vertices used by the mesh)."""
  if num_samples > len(candidates):
    raise ValueError(f'cannot sample {num_samples} nodes from {len(candidates)} vertices')
  dist = np.full(graph.shape[0], np.inf)
  valid = np.zeros(graph.shape[0], bool)
  valid[candidates] = True
  picked = [seed_vertex]
  for _ in range(num_samples - 1):
    d = csgraph.dijkstra(graph, indices=picked[-1])
    np.minimum(dist, d, out=dist)
    score = np.where(valid, dist, -1.0)
    score[~np.isfinite(score)] = -1.0  # unreachable vertices (other components) never get picked
    picked.append(int(np.argmax(score)))
  return np.asarray(picked, np.int32)


def build_deformation_graph(vertices: np.ndarray, triangles: np.ndarray,
                            num_nodes: int = DEFAULT_NUM_NODES,
                            num_neighbours: int = DEFAULT_NUM_NEIGHBOURS) -> DeformationGraph:
  """Builds the graph of a mesh (no caching; see ``load_deformation_graph``).

  Args:
    vertices: float [N, 3] cm.
    triangles: int [T, 3].
    num_nodes: G.
    num_neighbours: k, nodes blended per vertex.

  Returns:
    The ``DeformationGraph``.
  """
  vertices = np.asarray(vertices, np.float64)
  graph = semantics_lib.edge_graph(vertices, triangles)
  used = np.unique(triangles)
  seed = int(used[np.argmin(np.linalg.norm(vertices[used] - vertices[used].mean(0), axis=1))])
  nodes = farthest_point_sampling(graph, num_nodes, seed, used)
  dist = csgraph.dijkstra(graph, indices=nodes).T  # [N, G]
  k = min(num_neighbours, num_nodes - 1) if num_nodes > 1 else 1
  order = np.argsort(dist, axis=1, kind='stable')[:, :k + 1]
  d = np.take_along_axis(dist, order, axis=1)
  n = len(vertices)
  if num_nodes == 1:
    rows, cols, w = np.arange(n), np.zeros(n, int), np.ones(n)
  else:
    d_max = d[:, k:k + 1]
    d_max = np.where(np.isfinite(d_max) & (d_max > 0), d_max, 1.0)
    w = np.where(np.isfinite(d[:, :k]), (1.0 - d[:, :k] / d_max) ** 2, 0.0)
    # Ties (d_j == d_max) would give all-zero rows; fall back to the nearest node.
    w[:, 0] = np.where(w.sum(1) > 1e-12, w[:, 0], 1.0)
    w /= w.sum(1, keepdims=True)
    rows = np.repeat(np.arange(n), k)
    cols = order[:, :k].reshape(-1)
    w = w.reshape(-1)
  keep = w > 0
  # Unused vertices (not in any triangle) still get rows so that U has one row per vertex.
  up = sp.csr_matrix((w[keep].astype(np.float32), (rows[keep], cols[keep])), shape=(n, num_nodes))
  infl = (up > 0).astype(np.float32)
  co = (infl.T @ infl).tocoo()
  e = np.stack([co.row, co.col], 1)
  e = np.unique(e[e[:, 0] < e[:, 1]], axis=0).astype(np.int32)
  return DeformationGraph(node_vertices=nodes, node_positions=vertices[nodes].astype(np.float32),
                          upsampling=up, edges=e)


def _cache_key(vertices, triangles, num_nodes, num_neighbours) -> str:
  h = hashlib.sha1()
  h.update(f'v{_VERSION}-g{num_nodes}-k{num_neighbours}'.encode())
  for a in (np.asarray(vertices, np.float32), np.asarray(triangles, np.int32)):
    h.update(np.ascontiguousarray(a).tobytes())
  return h.hexdigest()[:20]


def _save(path, g: DeformationGraph) -> None:
  coo = g.upsampling.tocoo()
  tmp = path.with_name(path.name + '.tmp.npz')
  np.savez(tmp, node_vertices=g.node_vertices, node_positions=g.node_positions,
           u_row=coo.row.astype(np.int32), u_col=coo.col.astype(np.int32), u_val=coo.data,
           u_shape=np.asarray(coo.shape), edges=g.edges)
  tmp.replace(path)  # atomic: concurrent readers never see a partial file


def _load(path) -> DeformationGraph:
  with np.load(path) as d:
    up = sp.csr_matrix((d['u_val'], (d['u_row'], d['u_col'])), shape=tuple(d['u_shape']))
    return DeformationGraph(node_vertices=d['node_vertices'], node_positions=d['node_positions'],
                            upsampling=up, edges=d['edges'])


def load_deformation_graph(template: template_lib.Template,
                           num_nodes: int = DEFAULT_NUM_NODES,
                           num_neighbours: int = DEFAULT_NUM_NEIGHBOURS) -> DeformationGraph:
  """Returns the template's deformation graph, built on its base level and cached on disk.

  Args:
    template: any subdivision level; the graph is built on level 0 of the same region and U is carried
      to this level by ``template.base_to_template`` (rows still sum to 1).
    num_nodes: G (paper: 521).
    num_neighbours: k.

  Returns:
    The ``DeformationGraph`` with ``upsampling`` of shape [template.num_vertices, G].
  """
  base = template_lib.load_template(template.region, 0)
  key = _cache_key(base.vertices, base.triangles, num_nodes, num_neighbours)
  path = paths.cache_dir('deformation_graph') / f'graph_{base.region}_{key}.npz'
  graph = None
  if path.exists():
    try:
      graph = _load(path)
    except (OSError, ValueError, KeyError) as e:  # a corrupt cache file is rebuilt, not fatal
      logging.warning('rebuilding unreadable deformation graph cache %s: %s', path, e)
  if graph is None:
    graph = build_deformation_graph(base.vertices, base.triangles, num_nodes, num_neighbours)
    _save(path, graph)
  if template.subdivision_level == 0:
    return graph
  up = (template.base_to_template @ graph.upsampling).tocsr()
  return dataclasses.replace(graph, upsampling=up.astype(np.float32))
