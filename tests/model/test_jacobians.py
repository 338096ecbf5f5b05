"""Analytic gradients of the model layer's differentiable functions against finite differences."""

import numpy as np

from model import camera
from model import face_model
from model import image_formation
from model import lighting
from tests.jacobians import assert_gradients_match_finite_differences

# A closed octahedron (every vertex in 4 triangles, counter-clockwise seen from outside) with its
# vertices moved off the symmetric positions, batch of 2.
_OCTAHEDRON_TRIANGLES = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                                  [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]], np.int32)


def _octahedron(rng, batch=2):
  base = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float64)
  return base + rng.uniform(-0.2, 0.2, size=(batch, 6, 3))


def test_to_clip_jacobian_matches_finite_differences(rng):
  cam = camera.Camera(image_size=(40, 60), focal=(80.0, 90.0), principal_point=(25.0, 21.0))
  points = rng.uniform([-3, -3, -30], [3, 3, -20], size=(2, 5, 3))
  # Clip coordinates are O(1) per cm here; z_c has the smallest slope (~1): all entries are checked.
  assert_gradients_match_finite_differences(lambda p: camera.to_clip(p, cam), [points])


def test_project_jacobian_matches_finite_differences(rng):
  cam = camera.Camera(image_size=(40, 60), focal=(80.0, 90.0))
  points = rng.uniform([-3, -3, -30], [3, 3, -20], size=(2, 5, 3))
  assert_gradients_match_finite_differences(lambda p: camera.project(p, cam), [points])


def test_euler_to_rotation_jacobian_matches_finite_differences(rng):
  angles = rng.uniform(-1.2, 1.2, size=(3, 3))
  assert_gradients_match_finite_differences(camera.euler_to_rotation, [angles])


def test_vertex_normals_jacobian_matches_finite_differences_with_and_without_incidence(rng):
  vertices = _octahedron(rng)
  incidence = image_formation.TriangleIncidence.from_triangles(_OCTAHEDRON_TRIANGLES, 6)
  assert_gradients_match_finite_differences(
      lambda v: image_formation.vertex_normals(v, _OCTAHEDRON_TRIANGLES, incidence=incidence), [vertices])
  assert_gradients_match_finite_differences(
      lambda v: image_formation.vertex_normals_reference(v, _OCTAHEDRON_TRIANGLES), [vertices])


def test_shading_jacobian_matches_finite_differences_in_normals_and_sh(rng):
  normals = rng.normal(size=(2, 5, 3))
  normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
  sh = rng.normal(scale=0.5, size=(2, 9, 3))
  assert_gradients_match_finite_differences(lighting.shading, [normals, sh])


def test_orthogonal_complement_projection_jacobian_matches_finite_differences(rng):
  basis = rng.normal(size=(12, 3))
  against = rng.normal(size=(12, 4))
  assert_gradients_match_finite_differences(face_model.orthogonal_complement_projection,
                                            [basis, against])


def test_project_out_of_span_jacobian_matches_finite_differences(rng):
  vectors = rng.normal(size=(2, 12))
  against = rng.normal(size=(12, 4))
  assert_gradients_match_finite_differences(face_model.project_out_of_span, [vectors, against])
