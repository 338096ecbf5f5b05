import numpy as np
import tensorflow as tf

from model import camera
from model import face_model
from model import image_formation
from model import lighting


def test_identity_basis_is_orthogonal_to_expression_after_random_init(small_model):
  perp = small_model.identity_basis().numpy()
  exp = small_model.m_gexp.numpy()
  scale = np.linalg.norm(perp, axis=0).max() * np.linalg.norm(exp, axis=0).max()
  assert np.abs(perp.T @ exp).max() < 1e-4 * scale
  raw = small_model.m_gid.numpy()
  assert np.abs(raw.T @ exp).max() > 1e-2 * scale  # the projection did something


def test_identity_basis_stays_orthogonal_after_optimizer_steps(small_model, rng):
  opt = tf.keras.optimizers.Adam(1e-2)
  target = tf.constant(rng.normal(size=(2, small_model.num_vertices, 3)), tf.float32)
  alpha = tf.constant(rng.normal(size=(2, 80)), tf.float32)
  delta = tf.constant(rng.normal(size=(2, 64)), tf.float32)
  for _ in range(3):
    with tf.GradientTape() as tape:
      out = small_model(alpha, delta)
      loss = tf.reduce_mean(tf.square(out['vertices'] - small_model.mean_vertices - target))
    geometry = [small_model.m_gid, small_model.m_gexp]
    opt.apply_gradients(zip(tape.gradient(loss, geometry), geometry))
  perp = small_model.identity_basis().numpy()
  exp = small_model.m_gexp.numpy()
  scale = np.linalg.norm(perp, axis=0).max() * np.linalg.norm(exp, axis=0).max()
  assert scale > 0.01  # the steps changed the bases substantially (init scale is 1e-3 * sqrt(3G))
  assert np.abs(perp.T @ exp).max() < 1e-4 * scale


def test_zero_coefficients_give_the_mean_face(small_model, template):
  out = small_model(tf.zeros([2, 80]), tf.zeros([2, 64]), tf.zeros([2, 80]))
  np.testing.assert_allclose(out['vertices'].numpy(), np.broadcast_to(template.vertices, (2,) +
                                                                       template.vertices.shape))
  np.testing.assert_allclose(out['albedo'].numpy()[0, 0], face_model.DEFAULT_ALBEDO, rtol=1e-6)


def test_outputs_follow_the_linear_model(small_model, rng):
  alpha = tf.constant(rng.normal(size=(2, 80)), tf.float32)
  delta = tf.constant(rng.normal(size=(2, 64)), tf.float32)
  beta = tf.constant(rng.normal(size=(2, 80)), tf.float32)
  out = small_model(alpha, delta, beta)
  u = small_model.upsampling_matrix.toarray()
  g_exp = (small_model.m_gexp.numpy() @ delta.numpy().T).T.reshape(2, -1, 3)
  g_id = (small_model.identity_basis().numpy() @ alpha.numpy().T).T.reshape(2, -1, 3)
  np.testing.assert_allclose(out['graph_expression'], g_exp, atol=1e-5)
  np.testing.assert_allclose(out['expression_deformation'], u @ g_exp, atol=1e-5)
  np.testing.assert_allclose(out['vertices'] - small_model.mean_vertices, u @ (g_id + g_exp),
                             atol=1e-5)
  r = (small_model.m_r.numpy() @ beta.numpy().T).T.reshape(2, -1, 3)
  np.testing.assert_allclose(out['albedo'] - small_model.mean_albedo, r, atol=1e-5)


def test_gradients_reach_every_variable_and_parameter(small_model, mesh, rng):
  b = 2
  params = {
      'alpha': tf.Variable(rng.normal(size=(b, 80)).astype(np.float32)),
      'delta': tf.Variable(rng.normal(size=(b, 64)).astype(np.float32)),
      'beta': tf.Variable(rng.normal(size=(b, 80)).astype(np.float32)),
      'gamma': tf.Variable(lighting.directional_sh([0.3, 0.2, 1.0], 0.5, 0.5, b)),
      'angles': tf.Variable(np.radians([[5, -10, 3], [-4, 20, 0]]).astype(np.float32)),
      'translation': tf.Variable(camera.default_pose(b)[1]),
  }
  target = tf.constant(rng.uniform(size=(b, 240, 240, 3)), tf.float32)
  lm_target = tf.constant(rng.uniform(60, 180, size=(b, 68, 2)), tf.float32)
  with tf.GradientTape() as tape:
    out = small_model(params['alpha'], params['delta'], params['beta'])
    r = image_formation.render(out['vertices'], out['albedo'], (params['angles'], params['translation']),
                               params['gamma'], None, mesh)
    loss = (tf.reduce_mean(r['mask'] * tf.square(r['image'] - target))
            + 1e-4 * tf.reduce_mean(tf.square(r['landmarks2d'] - lm_target))
            + face_model.graph_smoothness(out['graph_deformation'], small_model.graph_edges)[0])
  variables = list(small_model.trainable_variables) + list(params.values())
  grads = tape.gradient(loss, variables)
  names = [v.name for v in small_model.trainable_variables] + list(params)
  for name, g in zip(names, grads):
    assert g is not None, name
    g = tf.convert_to_tensor(g).numpy()
    assert np.isfinite(g).all(), name
    assert np.abs(g).max() > 0, name


def test_photometric_gradient_reaches_the_image_through_the_rasterizer(small_model, mesh):
  # Without landmark or smoothness terms, pose must still get a gradient via barycentrics.
  angles = tf.Variable([[0.0, 0.1, 0.0]])
  with tf.GradientTape() as tape:
    out = small_model(tf.zeros([1, 80]))
    r = image_formation.render(out['vertices'], out['albedo'], (angles, camera.default_pose(1)[1]),
                               lighting.directional_sh([1, 0, 1], 0.7, 0.3), None, mesh)
    loss = tf.reduce_sum(r['image'] * tf.constant([0.3, 0.6, 0.1]))
  g = tape.gradient(loss, angles).numpy()
  assert np.abs(g).max() > 0


def test_smoothness_is_zero_for_constant_and_positive_for_random_node_displacements(small_model,
                                                                                  rng):
  edges = small_model.graph_edges
  const = tf.constant(np.tile([[[1.0, -2.0, 0.5]]], (1, small_model.num_nodes, 1)), tf.float32)
  assert float(face_model.graph_smoothness(const, edges)[0]) < 1e-8
  noise = tf.constant(rng.normal(size=(1, small_model.num_nodes, 3)), tf.float32)
  assert float(face_model.graph_smoothness(noise, edges)[0]) > 1.0


def test_each_basis_starts_at_its_own_scale(template, graph):
  fm = face_model.build_face_model(template, graph, num_identity=8, num_expression=8, num_albedo=8,
                                   init_stddev=(0.02, 0.002, 0.005), seed=1)
  stds = [float(np.std(v.numpy())) for v in (fm.m_gid, fm.m_gexp, fm.m_r)]
  np.testing.assert_allclose(stds, [0.02, 0.002, 0.005], rtol=0.1)
  one = face_model.build_face_model(template, graph, num_identity=8, num_expression=8, num_albedo=8,
                                    init_stddev=0.01, seed=1)
  np.testing.assert_allclose([float(np.std(v.numpy())) for v in (one.m_gid, one.m_gexp, one.m_r)], 0.01,
                             rtol=0.1)
