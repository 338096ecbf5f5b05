"""The fast formulations the model uses give the values and gradients of the direct ones they replace."""

import numpy as np
import tensorflow as tf

from model import camera
from model import face_model
from model import image_formation
from model import lighting
from tf_ops import fused_ops


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


def test_fused_vertex_shading_equals_the_plain_tensorflow_version_on_the_template(template, mesh, rng):
  batch = 2
  inputs = [tf.constant(x, tf.float32) for x in (
      template.vertices[None] + rng.normal(scale=0.05, size=(batch, template.num_vertices, 3)),
      rng.uniform(0.3, 0.9, size=(batch, template.num_vertices, 3)),
      rng.normal(scale=0.3, size=(batch, 3)),
      np.array([[0.0, 0.0, -50.0]] * batch) + rng.normal(size=(batch, 3)),
      lighting.directional_sh([0.3, 0.3, 1.0], 0.6, 0.4, batch) + rng.normal(scale=0.05, size=(batch, 9, 3)))]
  weights = [tf.constant(rng.normal(size=(batch, template.num_vertices, c)), tf.float32)
             for c in (3, 3, 3, 3, 4)]
  results = []
  for fused in (True, False):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      vertices, albedo, angles, translation, sh = inputs
      out = image_formation.shade_vertices(vertices, albedo, camera.euler_to_rotation(angles), translation,
                                           sh, camera.Camera(), mesh, fused=fused)
      loss = sum(tf.reduce_sum(o * w) for o, w in zip(out, weights))
    results.append(([o.numpy() for o in out], [g.numpy() for g in tape.gradient(loss, inputs)]))
  (fused_out, fused_grads), (plain_out, plain_grads) = results
  # Camera-space edges of ~0.3 cm at ~50 cm lose ~1e-5 of their length to float32 rounding, which
  # either formulation rounds differently: normals agree to ~1e-4 (not 1e-6).
  for name, a, b, atol in zip(('camera_vertices', 'normals', 'irradiance', 'colors', 'clip'), fused_out,
                              plain_out, (2e-5, 5e-4, 5e-4, 5e-4, 2e-5)):
    np.testing.assert_allclose(a, b, atol=atol * max(1.0, np.abs(b).max()), err_msg=name)
  for name, a, b in zip(('vertices', 'albedo', 'angles', 'translation', 'sh'), fused_grads, plain_grads):
    scale = np.abs(b).max()
    assert scale > 1e-3, name
    np.testing.assert_allclose(a, b, atol=2e-4 * scale, err_msg=name)


def test_face_model_gives_the_same_geometry_and_gradients_with_and_without_fused_ops(small_model, rng,
                                                                                     monkeypatch):
  coefficients = [tf.constant(rng.normal(size=(3, size)), tf.float32) for size in (
      small_model.num_identity, small_model.num_expression, small_model.num_albedo)]
  results = []
  for enabled in ('1', '0'):
    monkeypatch.setenv(fused_ops.FUSED_OPS_ENV, enabled)
    with tf.GradientTape() as tape:
      out = small_model(*coefficients)
      loss = tf.reduce_sum(out['vertices'] ** 2) + tf.reduce_sum(out['albedo'] ** 2)
    grads = tape.gradient(loss, small_model.trainable_variables)
    results.append([out['vertices'].numpy(), out['albedo'].numpy()] + [g.numpy() for g in grads])
  for a, b in zip(*results):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())


def test_graph_smoothness_laplacian_gradient_equals_the_gathers_gradient(small_model, rng):
  edges = small_model.graph_edges
  deformation = tf.constant(rng.normal(size=(3, small_model.num_nodes, 3)), tf.float32)
  weights = tf.constant([1.0, -2.0, 0.5])

  def through_gathers(x):
    a = tf.gather(x, edges[:, 0], axis=1)
    b = tf.gather(x, edges[:, 1], axis=1)
    return tf.reduce_sum(tf.square(a - b), axis=[1, 2])

  results = []
  for energy in (face_model.graph_smoothness, through_gathers):
    with tf.GradientTape() as tape:
      tape.watch(deformation)
      value = energy(deformation, edges) if energy is face_model.graph_smoothness else energy(deformation)
      loss = tf.reduce_sum(value * weights)
    results.append((value.numpy(), tape.gradient(loss, deformation).numpy()))
  np.testing.assert_array_equal(results[0][0], results[1][0])  # the same value computation
  scale = np.abs(results[1][1]).max()
  assert scale > 1.0
  np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-5 * scale)


def test_graph_laplacian_is_degree_minus_adjacency_with_rows_summing_to_zero():
  edges = np.array([[0, 1], [1, 2], [0, 2], [2, 3]])
  laplacian = face_model.graph_laplacian(edges, 5)
  np.testing.assert_array_equal(np.diag(laplacian), [2, 2, 3, 1, 0])
  assert laplacian[0, 1] == laplacian[1, 0] == -1 and laplacian[0, 3] == 0
  np.testing.assert_array_equal(laplacian.sum(1), 0)
