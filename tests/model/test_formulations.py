"""The fast formulations the model uses give the values and gradients of the direct ones they replace."""

import numpy as np
import tensorflow as tf

from model import face_model
from model import image_formation


def test_incidence_normals_equal_segment_sum_normals_on_the_template(template, mesh, rng):
  vertices = tf.constant(template.vertices[None] + rng.normal(scale=0.05, size=(2, template.num_vertices,
                                                                                 3)), tf.float32)
  weights = tf.constant(rng.normal(size=(2, template.num_vertices, 3)), tf.float32)
  outputs, grads = [], []
  for normals in (lambda v: image_formation.vertex_normals(v, mesh.triangles, incidence=mesh.incidence),
                  lambda v: image_formation.vertex_normals_reference(v, mesh.triangles)):
    with tf.GradientTape() as tape:
      tape.watch(vertices)
      n = normals(vertices)
      loss = tf.reduce_sum(n * weights)
    outputs.append(n.numpy())
    grads.append(tape.gradient(loss, vertices).numpy())
  np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)
  scale = np.abs(grads[1]).max()
  assert scale > 1.0
  np.testing.assert_allclose(grads[0], grads[1], atol=1e-5 * scale)


def test_incidence_lists_every_corner_once(template, mesh):
  corners = mesh.incidence.vertex_corners.numpy()
  num_triangles = len(template.triangles)
  listed = corners[corners < 3 * num_triangles]
  np.testing.assert_array_equal(np.sort(listed), np.arange(3 * num_triangles))
  owner = mesh.incidence.corner_vertices.numpy()
  rows = np.nonzero(corners < 3 * num_triangles)[0]
  np.testing.assert_array_equal(owner[corners[corners < 3 * num_triangles]], rows)


def test_vertex_normals_without_incidence_build_it_from_static_triangles(rng):
  triangles = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
  vertices = tf.constant(rng.normal(size=(1, 5, 3)), tf.float32)
  np.testing.assert_allclose(image_formation.vertex_normals(vertices, triangles).numpy(),
                             image_formation.vertex_normals_reference(vertices, triangles).numpy(),
                             atol=1e-6)
  n = image_formation.vertex_normals(vertices, triangles).numpy()
  np.testing.assert_array_equal(n[0, 4], 0.0)  # vertex 4 is in no triangle


def test_gram_projection_of_coefficients_equals_the_qr_projected_basis(small_model, rng):
  alpha = tf.constant(rng.normal(size=(3, small_model.num_identity)), tf.float32)
  via_qr = tf.matmul(alpha, small_model.identity_basis(), transpose_b=True).numpy()
  via_gram = face_model.project_out_of_span(tf.matmul(alpha, small_model.m_gid, transpose_b=True),
                                            small_model.m_gexp).numpy()
  np.testing.assert_allclose(via_gram, via_qr, atol=1e-5 * np.abs(via_qr).max())
  residual = via_gram @ small_model.m_gexp.numpy()  # orthogonal to every expression column
  assert np.abs(residual).max() < 1e-4 * np.abs(via_gram).max() * np.abs(small_model.m_gexp.numpy()).max()


def test_gram_projection_stays_finite_when_the_span_loses_rank(rng):
  against = rng.normal(size=(20, 3))
  against = np.concatenate([against, against[:, :1]], 1)  # a repeated column: rank 3 of 4
  vectors = rng.normal(size=(2, 20))
  out = face_model.project_out_of_span(tf.constant(vectors, tf.float32),
                                       tf.constant(against, tf.float32)).numpy()
  assert np.isfinite(out).all()
  q, _ = np.linalg.qr(against[:, :3])
  expected = vectors - (vectors @ q) @ q.T
  np.testing.assert_allclose(out, expected, atol=1e-4 * np.abs(expected).max())
