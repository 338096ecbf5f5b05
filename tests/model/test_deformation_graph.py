import numpy as np
import scipy.sparse.csgraph as csgraph

from model import deformation_graph
from model import semantics
from model import template as template_lib
from common import paths


def test_upsampling_rows_sum_to_one_and_translate_rigidly(template, graph):
  u = graph.upsampling
  assert u.shape == (template.num_vertices, 521)
  np.testing.assert_allclose(np.asarray(u.sum(1)).ravel(), 1.0, atol=1e-5)
  assert (u.data >= 0).all()
  shift = np.array([0.3, -1.2, 2.5], np.float32)
  moved = u @ np.tile(shift, (521, 1))
  np.testing.assert_allclose(moved, np.tile(shift, (template.num_vertices, 1)), atol=1e-5)


def test_nodes_are_geodesic_farthest_point_samples(template, graph):
  assert len(np.unique(graph.node_vertices)) == 521
  # FPS property: nodes are pairwise at least as far apart (along the surface) as the farthest vertex
  # is from its nearest node, i.e. the sampling has no clumps and no holes.
  edges = semantics.edge_graph(template.vertices.astype(np.float64), template.triangles)
  d = csgraph.dijkstra(edges, indices=graph.node_vertices)  # [G, N]
  covering_radius = d.min(0).max()
  between = d[:, graph.node_vertices] + np.eye(521) * 1e9
  assert between.min() >= covering_radius - 1e-6
  assert covering_radius < 2.0  # cm


def test_node_adjacency_is_connected_and_local(graph):
  e = graph.edges
  assert (e[:, 0] < e[:, 1]).all()
  adj = np.zeros((521, 521))
  adj[e[:, 0], e[:, 1]] = 1
  assert csgraph.connected_components(adj, directed=False)[0] == 1
  lengths = np.linalg.norm(graph.node_positions[e[:, 0]] - graph.node_positions[e[:, 1]], axis=1)
  assert lengths.max() < 5.0  # cm: neighbours are nearby nodes


def test_upper_and_lower_lip_centres_use_disjoint_nodes(template, graph):
  # Geodesic weights: the open mouth separates the lips although they touch in space.
  v, t, sem = template.vertices, template.triangles, template.semantics
  def central(tris):
    ids = np.unique(t[tris])
    return ids[np.abs(v[ids, 0]) < 1.0]
  u = graph.upsampling.tocsr()
  nodes = lambda ids: set(u[ids].nonzero()[1].tolist())
  assert not nodes(central(sem.upper_lip_triangles)) & nodes(central(sem.lower_lip_triangles))


def test_graph_is_cached_and_cache_name_depends_on_inputs(template, graph, tmp_path, monkeypatch):
  monkeypatch.setenv('C3DMM_CACHE', str(tmp_path))
  small = deformation_graph.load_deformation_graph(template, num_nodes=40)
  files = list((tmp_path / 'deformation_graph').glob('*.npz'))
  assert len(files) == 1
  again = deformation_graph.load_deformation_graph(template, num_nodes=40)
  np.testing.assert_array_equal(small.node_vertices, again.node_vertices)
  assert (again.upsampling != small.upsampling).nnz == 0
  deformation_graph.load_deformation_graph(template, num_nodes=41)
  assert len(list((tmp_path / 'deformation_graph').glob('*.npz'))) == 2
  assert paths.cache_dir() == tmp_path


def test_subdivided_template_shares_the_base_graph(template, graph):
  fine = template_lib.load_template('narrow', 1)
  g1 = deformation_graph.load_deformation_graph(fine)
  assert g1.upsampling.shape == (fine.num_vertices, 521)
  np.testing.assert_array_equal(g1.node_vertices, graph.node_vertices)
  np.testing.assert_allclose(np.asarray(g1.upsampling.sum(1)).ravel(), 1.0, atol=1e-5)
  assert (g1.upsampling[:template.num_vertices] != graph.upsampling).nnz == 0
