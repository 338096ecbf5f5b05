"""The fused CPU ops (``tf_ops.fused_ops``): values, gradients, thread independence and bad input.

Their agreement with the plain TensorFlow formulations of the model is checked on the real template in
``tests/model/test_formulations.py``; here each op is checked on its own against numpy and finite
differences.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_ops
from tf_ops import fused_ops
from tests.jacobians import assert_gradients_match_finite_differences

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

# A closed octahedron (every vertex in 4 triangles, counter-clockwise seen from outside), plus vertex 6
# in no triangle.
_TRIANGLES = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                       [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]], np.int32)
# H_k of model/lighting.py, written out independently: A_l times the real SH constants.
_H0 = np.pi * 0.5 * np.sqrt(1 / np.pi)
_H1 = 2 * np.pi / 3 * np.sqrt(3 / (4 * np.pi))
_H2 = np.pi / 4 * 0.5 * np.sqrt(15 / np.pi)
_H20 = np.pi / 4 * 0.25 * np.sqrt(5 / np.pi)
_H22 = np.pi / 4 * 0.25 * np.sqrt(15 / np.pi)


@pytest.fixture()
def rng():
  return np.random.default_rng(0)


def _scene(rng, batch=2):
  base = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1], [0, 0, 0]], float)
  vertices = base + rng.uniform(-0.2, 0.2, size=(batch, 7, 3))
  albedo = rng.uniform(0.2, 0.9, size=(batch, 7, 3))
  rotation = np.linalg.qr(rng.normal(size=(batch, 3, 3)))[0] + rng.normal(scale=0.1, size=(batch, 3, 3))
  translation = rng.normal(size=(batch, 3)) + [0.0, 0.0, -6.0]
  sh = rng.normal(scale=0.4, size=(batch, 9, 3))
  clip_transform = rng.normal(size=(4, 4))
  return [np.asarray(x, np.float32) for x in (vertices, albedo, rotation, translation, sh, clip_transform)]


def _numpy_shade(vertices, albedo, rotation, translation, sh, triangles, clip_transform, eps=1e-12):
  """The op's equations in float64 numpy, written directly (loops over triangles)."""
  cam = np.einsum('bjm,bnm->bnj', rotation, vertices) + translation[:, None]
  summed = np.zeros_like(cam)
  for a, b, c in triangles:
    face = np.cross(cam[:, b] - cam[:, a], cam[:, c] - cam[:, a])
    for v in (a, b, c):
      summed[:, v] += face
  normals = summed / np.sqrt(np.maximum((summed ** 2).sum(-1, keepdims=True), eps))
  x, y, z = np.moveaxis(normals, -1, 0)
  basis = np.stack([np.full_like(x, _H0), _H1 * y, _H1 * z, _H1 * x, _H2 * x * y, _H2 * y * z,
                    _H20 * (3 * z * z - 1), _H2 * x * z, _H22 * (x * x - y * y)], -1)
  irradiance = np.einsum('bnk,bkc->bnc', basis, sh)
  clip = cam @ clip_transform[:3] + clip_transform[3]
  return cam, normals, irradiance, albedo * irradiance, clip


def test_shade_vertices_equals_its_equations_in_float64(rng):
  inputs = _scene(rng)
  out = tf_ops.shade_vertices(*inputs[:5], _TRIANGLES, inputs[5])
  expected = _numpy_shade(*[x.astype(np.float64) for x in inputs[:5]], _TRIANGLES,
                          inputs[5].astype(np.float64))
  for name, got, want in zip(out._fields, out, expected):
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max(), err_msg=name)
  # Vertex 6 is in no triangle: zero normal, so only H_0 and the constant part of H_6 light it.
  np.testing.assert_array_equal(out.normals.numpy()[:, 6], 0.0)
  np.testing.assert_allclose(out.irradiance.numpy()[:, 6], _H0 * inputs[4][:, 0] - _H20 * inputs[4][:, 6],
                             rtol=1e-5)


def test_shade_vertices_jacobians_match_finite_differences(rng):
  inputs = _scene(rng)
  weights = [tf.constant(rng.normal(size=s), tf.float32) for s in [(2, 7, 3)] * 4 + [(2, 7, 4)]]

  def weighted_outputs(vertices, albedo, rotation, translation, sh):
    out = tf_ops.shade_vertices(vertices, albedo, rotation, translation, sh, _TRIANGLES, inputs[5])
    return tf.stack([tf.reduce_sum(o * w, [1, 2]) for o, w in zip(out, weights)], 1)  # [B, 5]

  assert_gradients_match_finite_differences(weighted_outputs, inputs[:5])
  # Each output on its own, against the inputs it depends on (vertices 0, albedo 1, rotation 2,
  # translation 3, sh 4): an error in one output's gradient cannot hide behind another's.
  depends = {0: (0, 2, 3), 1: (0, 2), 2: (0, 2, 4), 3: (0, 1, 2, 4), 4: (0, 2, 3)}
  for output, used in depends.items():
    def one_output(*varied, k=output, used=used):
      args = list(inputs[:5])
      for index, value in zip(used, varied):
        args[index] = value
      return tf.reduce_sum(tf_ops.shade_vertices(*args, _TRIANGLES, inputs[5])[k] * weights[k], [1, 2])
    assert_gradients_match_finite_differences(one_output, [inputs[i] for i in used])


def test_basis_product_equals_matmul_and_its_jacobian_matches_finite_differences(rng):
  coefficients = rng.normal(size=(3, 21)).astype(np.float32)
  basis = rng.normal(size=(2500, 21)).astype(np.float32)  # more rows than one block of the kernel
  np.testing.assert_allclose(tf_ops.basis_product(coefficients, basis).numpy(), coefficients @ basis.T,
                             rtol=1e-5, atol=1e-5)
  assert_gradients_match_finite_differences(tf_ops.basis_product, [coefficients, basis[:40]])
  grad_out = rng.normal(size=(3, 2500)).astype(np.float32)
  c, m = tf.constant(coefficients), tf.constant(basis)
  with tf.GradientTape() as tape:
    tape.watch([c, m])
    loss = tf.reduce_sum(tf_ops.basis_product(c, m) * grad_out)
  grad_c, grad_m = tape.gradient(loss, [c, m])
  np.testing.assert_allclose(grad_c.numpy(), grad_out @ basis, rtol=1e-4, atol=1e-3)
  np.testing.assert_allclose(grad_m.numpy(), grad_out.T @ coefficients, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('fused', [True, False])
def test_masked_squared_error_sums_masked_pixels_and_differentiates_the_prediction_only(rng, fused):
  a = rng.uniform(size=(2, 150, 130, 3)).astype(np.float32)  # 19,500 pixels: more than one block
  b = rng.uniform(size=a.shape).astype(np.float32)
  mask = (rng.uniform(size=(2, 150, 130, 1)) > 0.4).astype(np.float32)
  expected = (mask * ((a.astype(np.float64) - b) ** 2).sum(-1, keepdims=True)).sum((1, 2, 3))
  got = tf_ops.masked_squared_error(a, b, mask, fused=fused)
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
  ta, tb, tm = tf.constant(a), tf.constant(b), tf.constant(mask)
  with tf.GradientTape() as tape:
    tape.watch([ta, tb, tm])
    loss = tf.reduce_sum(tf_ops.masked_squared_error(ta, tb, tm, fused=fused) * [0.5, -2.0])
  grad_a, grad_b, grad_mask = tape.gradient(loss, [ta, tb, tm])
  np.testing.assert_allclose(grad_a.numpy(), np.array([0.5, -2.0])[:, None, None, None] * 2 * mask * (a - b),
                             rtol=1e-5, atol=1e-6)
  assert grad_b is None and grad_mask is None  # constants of the loss


def test_masked_squared_error_jacobian_matches_finite_differences(rng):
  b = tf.constant(rng.uniform(size=(2, 5, 4, 3)), tf.float32)
  mask = tf.constant((rng.uniform(size=(2, 5, 4, 1)) > 0.3), tf.float32)
  assert_gradients_match_finite_differences(lambda a: tf_ops.masked_squared_error(a, b, mask, fused=True),
                                            [rng.uniform(size=(2, 5, 4, 3))])


def _random_upsampling(rng, rows=2100, nodes=37, most=5):
  """A scipy CSR [rows, nodes] with 0..most non-zeros per row (rows without any included)."""
  import scipy.sparse as sp  # pylint: disable=import-outside-toplevel
  counts = rng.integers(0, most + 1, size=rows)
  indices = np.concatenate([rng.choice(nodes, c, replace=False) for c in counts]).astype(np.int32)
  indptr = np.concatenate([[0], np.cumsum(counts)])
  return sp.csr_matrix((rng.uniform(0.1, 1.0, size=len(indices)).astype(np.float32), indices, indptr),
                       shape=(rows, nodes))


def test_padded_rows_hold_every_non_zero_once_and_pad_with_zero_weights(rng):
  matrix = _random_upsampling(rng)
  neighbours, weights = tf_ops.padded_rows(matrix)
  assert neighbours.shape == weights.shape == (2100, 5)
  dense = np.zeros(matrix.shape, np.float32)
  np.add.at(dense, (np.repeat(np.arange(2100), 5), neighbours.ravel()), weights.ravel())
  np.testing.assert_array_equal(dense, matrix.toarray())


def test_upsample_nodes_equals_the_sparse_product_and_its_jacobian_matches_finite_differences(rng):
  matrix = _random_upsampling(rng)
  neighbours, weights = tf_ops.padded_rows(matrix)
  values = rng.normal(size=(3, 37, 4)).astype(np.float32)
  out = tf_ops.upsample_nodes(values, neighbours, weights).numpy()
  np.testing.assert_allclose(out, np.einsum('ng,bgc->bnc', matrix.toarray(), values), rtol=1e-5, atol=1e-5)
  grad_out = tf.constant(rng.normal(size=out.shape), tf.float32)
  tensor = tf.constant(values)
  with tf.GradientTape() as tape:
    tape.watch(tensor)
    loss = tf.reduce_sum(tf_ops.upsample_nodes(tensor, neighbours, weights) * grad_out)
  expected = np.einsum('ng,bnc->bgc', matrix.toarray(), grad_out.numpy())
  np.testing.assert_allclose(tape.gradient(loss, tensor).numpy(), expected, rtol=1e-4, atol=1e-4)
  small = _random_upsampling(rng, rows=9, nodes=6, most=3)
  assert_gradients_match_finite_differences(lambda v: tf_ops.upsample_nodes(v, *tf_ops.padded_rows(small)),
                                            [rng.normal(size=(2, 6, 3))])


_THREADS = '''
import sys
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]))
import tf_ops
rng = np.random.default_rng(5)
n = 5000
grid = np.arange(n)
tri = np.stack([grid[:-2], grid[1:-1], grid[2:]], 1).astype(np.int32)  # a strip: 3 blocks of vertices
args = [tf.constant(rng.normal(size=s).astype(np.float32)) for s in
        [(3, n, 3), (3, n, 3), (3, 3, 3), (3, 3), (3, 9, 3)]]
weights = [tf.constant(rng.normal(size=(3, n, c)).astype(np.float32)) for c in (3, 3, 3, 3, 4)]
coefficients = tf.constant(rng.normal(size=(4, 30)).astype(np.float32))
basis = tf.constant(rng.normal(size=(3000, 30)).astype(np.float32))
image = tf.constant(rng.normal(size=(3, 200, 190, 3)).astype(np.float32))
target = tf.constant(rng.normal(size=(3, 200, 190, 3)).astype(np.float32))
mask = tf.constant((rng.uniform(size=(3, 200, 190, 1)) > 0.5).astype(np.float32))
with tf.GradientTape(persistent=True) as tape:
  tape.watch(args + [coefficients, basis, image])
  out = tf_ops.shade_vertices(*args, tri, np.eye(4, dtype=np.float32))
  loss = sum(tf.reduce_sum(o * w) for o, w in zip(out, weights))
  product = tf.reduce_sum(tf_ops.basis_product(coefficients, basis) ** 2)
  error = tf_ops.masked_squared_error(image, target, mask, fused=True)
results = list(out) + tape.gradient(loss, args) + [error] + tape.gradient(product, [coefficients, basis])
results += [tape.gradient(error, image)]
nodes = tf.constant(rng.normal(size=(3, 700, 3)).astype(np.float32))
neighbours = rng.integers(0, 700, size=(5000, 4)).astype(np.int32)
blend = rng.uniform(size=(5000, 4)).astype(np.float32)
with tf.GradientTape() as tape:
  tape.watch(nodes)
  upsampled = tf_ops.upsample_nodes(nodes, neighbours, blend)
  spread = tf.reduce_sum(upsampled * weights[0])
results += [upsampled, tape.gradient(spread, nodes)]
sys.stdout.write(''.join(np.asarray(r).tobytes().hex() for r in results))
'''


def test_fused_ops_give_the_same_floats_at_one_and_two_threads():
  outputs = [subprocess.run([sys.executable, '-c', _THREADS, threads], cwd=REPO_ROOT, check=True,
                            capture_output=True, text=True).stdout for threads in ('1', '2')]
  assert len(outputs[0]) > 100_000
  assert outputs[0] == outputs[1]


def test_fused_ops_reject_bad_arguments(rng):
  inputs = _scene(rng)
  vertices, albedo, rotation, translation, sh, clip_transform = inputs
  bad = [
      (vertices[..., :2], albedo, rotation, translation, sh, _TRIANGLES, clip_transform),
      (vertices, albedo[:1], rotation, translation, sh, _TRIANGLES, clip_transform),
      (vertices, albedo, rotation[..., :2], translation, sh, _TRIANGLES, clip_transform),
      (vertices, albedo, rotation, translation, sh[:, :4], _TRIANGLES, clip_transform),
      (vertices, albedo, rotation, translation, sh, _TRIANGLES, clip_transform[:3]),
      (vertices, albedo, rotation, translation, sh, _TRIANGLES + 2, clip_transform),  # index 7 of 7
      (vertices, albedo, rotation, translation, sh, -_TRIANGLES - 1, clip_transform),
      (vertices, albedo, rotation, translation, sh, _TRIANGLES[:, :2], clip_transform),
      (vertices.astype(np.float64), albedo, rotation, translation, sh, _TRIANGLES, clip_transform),
      (vertices, albedo, rotation, translation, sh, _TRIANGLES.astype(np.float32), clip_transform),
  ]
  for args in bad:
    with pytest.raises(tf.errors.InvalidArgumentError):
      tf_ops.shade_vertices(*args)
  with pytest.raises(tf.errors.InvalidArgumentError, match='normal_eps'):
    tf_ops.shade_vertices(*inputs[:5], _TRIANGLES, clip_transform, normal_eps=0.0)
  with pytest.raises(tf.errors.InvalidArgumentError):
    tf_ops.basis_product(np.ones((2, 3), np.float32), np.ones((5, 4), np.float32))
  with pytest.raises(tf.errors.InvalidArgumentError):
    tf_ops.masked_squared_error(np.ones((2, 4, 3), np.float32), np.ones((2, 4, 3), np.float32),
                                np.ones((2, 5, 1), np.float32), fused=True)
  values = np.ones((2, 6, 3), np.float32)
  for neighbours, weights in [(np.full((4, 2), 6, np.int32), np.ones((4, 2), np.float32)),  # node 6 of 6
                              (np.full((4, 2), -1, np.int32), np.ones((4, 2), np.float32)),
                              (np.zeros((4, 2), np.int32), np.ones((4, 3), np.float32)),
                              (np.zeros((4,), np.int32), np.ones((4,), np.float32))]:
    with pytest.raises(tf.errors.InvalidArgumentError):
      tf_ops.upsample_nodes(values, neighbours, weights)


def test_shade_vertices_accepts_int64_triangles_and_an_empty_mesh(rng):
  inputs = _scene(rng)
  wide = tf_ops.shade_vertices(*inputs[:5], _TRIANGLES.astype(np.int64), inputs[5])
  narrow = tf_ops.shade_vertices(*inputs[:5], _TRIANGLES, inputs[5])
  for a, b in zip(wide, narrow):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  empty = tf_ops.shade_vertices(*[x[:, :0] for x in inputs[:2]], *inputs[2:5],
                                np.zeros((0, 3), np.int32), inputs[5])
  assert empty.clip.shape == (2, 0, 4)


def test_fused_ops_enabled_follows_the_environment(monkeypatch):
  monkeypatch.setenv(fused_ops.FUSED_OPS_ENV, '0')
  assert not tf_ops.fused_ops_enabled()
  monkeypatch.setenv(fused_ops.FUSED_OPS_ENV, '1')
  assert tf_ops.fused_ops_enabled() == (not tf.config.list_logical_devices('GPU'))
