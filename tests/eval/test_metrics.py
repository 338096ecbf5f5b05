"""eval.metrics against hand-computed values."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from eval import metrics


def _grid_mesh(n=12, size=10.0, bump=True):
  """A face-like height-field patch (a head bump and a nose ridge), [n*n, 3] with 2(n-1)^2 triangles."""
  u, v = np.meshgrid(np.linspace(-size / 2, size / 2, n), np.linspace(-size / 2, size / 2, n))
  z = (3.0 * np.exp(-(u ** 2 + (0.7 * v) ** 2) / 6.0) + 1.5 * np.exp(-(u ** 2 / 0.8 + (v - 0.5) ** 2 / 3))
       - 0.04 * (u ** 2 + v ** 2)) if bump else np.zeros_like(u)
  verts = np.stack([u.ravel(), v.ravel(), z.ravel()], 1)
  tris = []
  for i in range(n - 1):
    for j in range(n - 1):
      a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
      tris += [[a, b, d], [a, d, c]]
  return verts, np.asarray(tris)


def test_umeyama_recovers_known_similarity():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(30, 3))
  r = Rotation.from_euler('xyz', [20, -35, 50], degrees=True).as_matrix()
  y = 2.5 * x @ r.T + np.array([1.0, -2.0, 3.0])
  sim = metrics.umeyama(x, y)
  assert sim.scale == pytest.approx(2.5, abs=1e-9)
  np.testing.assert_allclose(sim.rotation, r, atol=1e-9)
  np.testing.assert_allclose(sim.translation, [1.0, -2.0, 3.0], atol=1e-9)
  np.testing.assert_allclose(sim.inverse().apply(y), x, atol=1e-9)


def test_umeyama_rigid_keeps_unit_scale_and_rejects_reflection():
  x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
  y = x * np.array([1, 1, -1])  # a mirror image: the best rotation is not the reflection
  sim = metrics.umeyama(x, y, with_scale=False)
  assert sim.scale == 1.0
  assert np.linalg.det(sim.rotation) == pytest.approx(1.0)


def test_umeyama_bad_input_is_a_clear_error():
  with pytest.raises(ValueError, match='>= 3 corresponding'):
    metrics.umeyama(np.zeros((2, 3)), np.zeros((2, 3)))
  with pytest.raises(ValueError, match=r'\[N, 3\]'):
    metrics.umeyama(np.zeros((5, 2)), np.zeros((5, 2)))


def test_closest_point_regions_of_one_triangle():
  a, b, c = np.array([0., 0, 0]), np.array([2., 0, 0]), np.array([0., 2, 0])
  pts = np.array([[0.5, 0.5, 3.0],  # above the face -> its projection, distance 3
                  [-1.0, -1.0, 0.0],  # vertex region A -> a, distance sqrt 2
                  [1.0, -2.0, 0.0],  # edge AB -> (1, 0, 0), distance 2
                  [2.0, 2.0, 0.0],  # edge BC -> (1, 1, 0), distance sqrt 2
                  [3.0, -1.0, 0.0]])  # vertex region B -> b, distance sqrt 2
  n = len(pts)
  q = metrics.closest_points_on_triangles(pts, *(np.repeat(v[None], n, 0) for v in (a, b, c)))
  np.testing.assert_allclose(q, [[0.5, 0.5, 0], [0, 0, 0], [1, 0, 0], [1, 1, 0], [2, 0, 0]], atol=1e-12)


def test_point_to_surface_is_exact_against_brute_force():
  verts, tris = _grid_mesh(8)
  rng = np.random.default_rng(1)
  pts = rng.uniform(-7, 7, (200, 3))
  d, q, t = metrics.point_to_surface(pts, verts, tris, k=1)
  m, nt = len(pts), len(tris)
  allq = metrics.closest_points_on_triangles(np.repeat(pts, nt, 0), *(np.tile(verts[tris[:, j]], (m, 1))
                                                                       for j in range(3)))
  brute = np.linalg.norm(allq - np.repeat(pts, nt, 0), axis=1).reshape(m, nt).min(1)
  np.testing.assert_allclose(d, brute, atol=1e-10)
  np.testing.assert_allclose(np.linalg.norm(q - pts, axis=1), d, atol=1e-10)


def test_point_to_surface_plane_distance_is_height():
  verts, tris = _grid_mesh(5, bump=False)
  pts = np.array([[0.3, -0.7, 1.5], [1.1, 2.0, -0.25]])
  d, _, _ = metrics.point_to_surface(pts, verts, tris)
  np.testing.assert_allclose(d, [1.5, 0.25], atol=1e-12)


def test_point_to_surface_rejects_out_of_range_triangles():
  verts, tris = _grid_mesh(3)
  with pytest.raises(ValueError, match='indices'):
    metrics.point_to_surface(np.zeros((1, 3)), verts, tris + 100)


def test_icp_converges_on_scan_sampled_from_mesh():
  verts, tris = _grid_mesh(16)
  rng = np.random.default_rng(2)
  # A scan: random points on the surface (barycentric samples), moved by a small similarity.
  # The scan covers the middle of the patch (like a face crop inside the reconstruction).
  t = rng.integers(0, len(tris), 2000)
  w = rng.dirichlet([1, 1, 1], 2000)
  scan = np.einsum('pj,pjc->pc', w, verts[tris[t]])
  scan = scan[np.all(np.abs(scan[:, :2]) < 3.0, axis=1)]
  r = Rotation.from_euler('xyz', [4, -3, 5], degrees=True).as_matrix()
  moved = metrics.Similarity(1.05, r, np.array([0.3, -0.2, 0.25])).apply(scan)
  before = metrics.point_to_surface(moved, verts, tris)[0].mean()
  res = metrics.icp(moved, verts, tris, max_iterations=200, tolerance=1e-9)
  assert before > 0.1
  assert res.distances.mean() < 0.01 * before
  assert res.mean_distance_history[0] == pytest.approx(before)
  assert res.transform.scale == pytest.approx(1 / 1.05, rel=2e-3)
  np.testing.assert_allclose(res.transform.apply(moved), scan, atol=0.02)


def test_rmse_of_known_noise():
  rng = np.random.default_rng(3)
  gt = rng.normal(size=(20000, 3))
  sigma = 0.5
  pred = gt + rng.normal(0, sigma, gt.shape)
  # E||n||^2 = 3 sigma^2 for isotropic Gaussian noise.
  assert metrics.per_vertex_rmse(pred, gt) == pytest.approx(math.sqrt(3) * sigma, rel=0.02)
  offset = gt + np.array([3.0, 4.0, 0.0])
  assert metrics.per_vertex_rmse(offset, gt) == pytest.approx(5.0)
  mask = np.zeros(len(gt), bool)
  mask[:10] = True
  assert metrics.per_vertex_rmse(np.where(mask[:, None], offset, gt), gt, mask) == pytest.approx(5.0)
  with pytest.raises(ValueError, match='same topology'):
    metrics.per_vertex_rmse(gt[:10], gt)


def test_mask_iou_of_known_masks():
  a = np.zeros((4, 4), bool)
  b = np.zeros((4, 4), bool)
  a[:2, :2] = True  # 4 pixels
  b[1:3, 1:3] = True  # 4 pixels, overlap 1
  assert metrics.mask_iou(a, b) == pytest.approx(1 / 7)
  assert metrics.mask_iou(a, a) == 1.0
  assert math.isnan(metrics.mask_iou(np.zeros((2, 2)), np.zeros((2, 2))))


def test_landmark_nme_normalizes_by_outer_eye_corners():
  gt = np.zeros((68, 2))
  gt[45] = [10.0, 0.0]
  pred = gt + np.array([0.0, 2.0])
  assert metrics.landmark_nme(pred, gt) == pytest.approx(0.2)


def test_landmark_nme_of_all_68_and_the_inner_51_points_by_hand():
  # Outer eye corners 10 px apart; the 17 jaw points 5 px off (3-4-5), the 51 inner points 1 px off.
  rng = np.random.default_rng(0)
  gt = rng.uniform(0, 100, (68, 2))
  gt[36], gt[45] = [20.0, 30.0], [30.0, 30.0]
  pred = gt.copy()
  pred[:17] += [3.0, 4.0]
  pred[17:] += [0.0, -1.0]
  assert metrics.landmark_nme(pred, gt) == pytest.approx((17 * 5 + 51 * 1) / 68 / 10)  # 0.2
  assert metrics.landmark_nme(pred, gt, points=metrics.INNER_LANDMARKS) == pytest.approx(0.1)
  assert metrics.landmark_nme(pred, gt, points=range(17)) == pytest.approx(0.5)
  gt[45] = gt[36]
  with pytest.raises(ValueError, match='zero inter-ocular'):
    metrics.landmark_nme(pred, gt)


def test_mean_interval_is_the_student_t_interval():
  # [1, 2, 3]: mean 2, s = 1, t_{0.975, 2} = 4.3027 (tables): half-width 4.3027 / sqrt(3) = 2.4841.
  mean, half = metrics.mean_interval([1.0, 2.0, 3.0])
  assert mean == pytest.approx(2.0) and half == pytest.approx(2.4841, abs=1e-4)
  # 90%: t_{0.95, 2} = 2.9200.
  assert metrics.mean_interval([1.0, 2.0, 3.0], 0.90)[1] == pytest.approx(2.9200 / math.sqrt(3), abs=1e-4)
  assert metrics.mean_interval([4.0, 4.0, 4.0]) == (4.0, 0.0)
  single = metrics.mean_interval([5.0])
  assert single[0] == 5.0 and math.isnan(single[1])
  assert all(math.isnan(v) for v in metrics.mean_interval([]))
  with pytest.raises(ValueError, match='NaN'):
    metrics.mean_interval([1.0, float('nan')])


def test_expression_deformation_length():
  off = np.zeros((2, 4, 3))
  off[0, :, 0] = 3.0
  off[1, 0] = [0, 3, 4]  # one vertex of length 5 among 4
  np.testing.assert_allclose(metrics.expression_deformation_length(off), [3.0, 1.25])
  np.testing.assert_allclose(metrics.expression_deformation_length(off, np.array([1, 0, 0, 0])), [3.0, 5.0])


def test_emd_of_known_distributions():
  # Two point masses 0.3 apart: EMD = 0.3 both on the samples and binned (bin centres 0.3 apart).
  a, b = np.full(50, 0.125), np.full(70, 0.425)
  assert metrics.emd_samples(a, b) == pytest.approx(0.3)
  assert metrics.emd_binned(a, b) == pytest.approx(0.3)
  # Half the mass moved by 0.5: EMD 0.25.
  assert metrics.emd_samples([0.0, 0.0], [0.0, 0.5]) == pytest.approx(0.25)
  h = metrics.similarity_histogram([-1.0, 1.0, 0.01])
  assert h.sum() == pytest.approx(1.0) and h[0] == pytest.approx(1 / 3) and h[-1] == pytest.approx(1 / 3)


def test_cosine_similarity():
  np.testing.assert_allclose(metrics.cosine_similarity([[1, 0], [1, 1]], [[0, 2], [2, 2]]), [0.0, 1.0])


def test_verification_accuracy_best_and_fixed_threshold():
  s = np.array([0.1, 0.2, 0.35, 0.4, 0.8, 0.9])
  same = np.array([False, False, True, False, True, True])
  acc, thr = metrics.verification_accuracy(s, same)
  assert acc == pytest.approx(5 / 6)  # the 0.4 "different" pair is on the wrong side of any cut
  assert 0.2 < thr < 0.35 or 0.4 < thr < 0.8
  assert metrics.verification_accuracy(s, same, threshold=0.5) == (pytest.approx(5 / 6), 0.5)
  assert metrics.verification_accuracy(s, same, threshold=0.0)[0] == pytest.approx(0.5)
  folds = np.array([0, 0, 0, 1, 1, 1])
  assert 0.0 <= metrics.cross_validated_accuracy(s, same, folds) <= 1.0


def test_principal_angles_of_known_subspaces():
  e = np.eye(4)
  # span(e0, e1) vs span(e0, cos t e1 + sin t e2): angles 0 and t.
  t = 0.3
  b = np.stack([e[0] * 2.0, math.cos(t) * e[1] + math.sin(t) * e[2]], 1)
  np.testing.assert_allclose(metrics.principal_angle_cosines(e[:, :2], b), [1.0, math.cos(t)], atol=1e-12)
  np.testing.assert_allclose(metrics.principal_angle_cosines(e[:, :2], e[:, 2:]), [0.0, 0.0], atol=1e-12)
  idx, cos = metrics.best_matching_columns(b, e)
  np.testing.assert_array_equal(idx, [0, 1])
  np.testing.assert_allclose(cos, [1.0, math.cos(t)])
  np.testing.assert_allclose(metrics.projection_ratio(b, e[:, :2]), [1.0, math.cos(t)])


def test_landmark_nme_matches_the_copy_data_keeps():
  # data.landmarks_eval keeps its own nme (data must not import eval); the two must not drift apart.
  from data import landmarks_eval  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(4)
  gt, pred = rng.normal(size=(68, 2)) * 50, rng.normal(size=(68, 2)) * 50
  assert metrics.landmark_nme(pred, gt) == pytest.approx(landmarks_eval.nme(pred, gt))


def test_gap_closed_is_the_share_of_the_baseline_to_reference_gap_with_a_bootstrap_interval():
  rng = np.random.default_rng(0)
  base = rng.uniform(4.0, 6.0, 200)
  ref = base - rng.uniform(1.5, 2.5, 200)
  half = base - 0.5 * (base - ref) + rng.normal(0, 0.05, 200)
  g = metrics.gap_closed(half, base, ref)
  assert g['fraction'] == pytest.approx(0.5, abs=0.02) and g['n'] == 200
  assert g['ci_low'] < 0.5 < g['ci_high'] and g['ci_high'] - g['ci_low'] < 0.05
  assert metrics.gap_closed(base, base, ref)['fraction'] == 0.0
  assert metrics.gap_closed(ref, base, ref)['fraction'] == pytest.approx(1.0)
  worse = metrics.gap_closed(base + 1.0, base, ref)
  assert worse['fraction'] < 0 and worse['ci_high'] < 0
  with pytest.raises(ValueError, match='unpaired'):
    metrics.gap_closed(base[:3], base, ref)
